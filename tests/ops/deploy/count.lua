-- wrk script of tests/ops/deploy_test.sh: counts the answers that are not
-- 2xx (wrk's own "Non-2xx or 3xx" count lets 3xx through) in every thread,
-- and prints one line the test parses: requests, socket errors by kind,
-- latency percentiles in milliseconds.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok = 0
    bad = 0
end

function response(status, headers, body)
    if status >= 200 and status < 300 then
        ok = ok + 1
    else
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    local good, non2xx = 0, 0
    for _, t in ipairs(threads) do
        good = good + t:get("ok")
        non2xx = non2xx + t:get("bad")
    end
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%d ok=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
        "duration_s=%.1f rps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
        summary.requests, good, non2xx, e.connect, e.read, e.write, e.timeout,
        summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
