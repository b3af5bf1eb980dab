-- wrk load for tests/ops/scaleout_test.sh, which prepends:
--   nthreads, service, providers {ids}, days {"YYYY-MM-DD"}, times {"HH:MM"},
--   tokens {bearer tokens of the clients}, outdir (a folder), read_every
--   (one request in read_every is a read).
-- Every booking request of the run is a different (barber, start), walking
-- the barbers first so that concurrent requests hit different chairs; the
-- starts are 08:00 + 45 min * k, sixteen a day, which a 30-minute service
-- with 10 minutes of buffer never overlaps. Request number idx sends
-- X-Request-Id scaleout-b-<idx>, the same text as the booking's notes and
-- as its Idempotency-Key, so that the test can match each answer with the
-- database and retry a failed one: a request that ran twice would be a 409
-- here (its own slot is taken) or two rows with one note there. The test
-- computes the same (client, barber, start) from idx: keep the two alike. Reads list the client's bookings (the booking daemon too).
-- Each thread writes one line per answer, "<epoch s> <status> <request id>",
-- to <outdir>/responses-<thread>.log; done() prints the counts of every
-- thread as one SCALEOUT line.
local capacity = #providers * #times * #days

local threads = {}
local started = 0

function setup(thread)
  thread:set("tid", started)
  started = started + 1
  table.insert(threads, thread)
end

-- Per thread (each has its own Lua state): counters read by done().
created, conflicts, failed_writes, read_ok, failed_reads = 0, 0, 0, 0, 0
local counter = 0
local log

function init(args)
  log = io.open(string.format("%s/responses-%d.log", outdir, tid), "w")
  -- Line-buffered: wrk ends without closing the threads' files.
  log:setvbuf("line")
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local idx = (counter - 1) * nthreads + tid
  if (read_every > 0 and counter % read_every == 0) or idx >= capacity then
    return wrk.format("GET", "/api/bookings?role=client",
      {["Authorization"] = "Bearer " .. token,
       ["X-Request-Id"] = string.format("scaleout-r-%d-%d", tid, counter)})
  end
  local p = idx % #providers
  local r = math.floor(idx / #providers)
  local s = r % #times
  local d = math.floor(r / #times)
  local key = string.format("scaleout-b-%d", idx)
  local body = string.format(
    '{"provider_id":"%s","service_id":"%s","starts_at":"%sT%s:00-03:00","notes":"%s"}',
    providers[p + 1], service, days[d + 1], times[s + 1], key)
  return wrk.format("POST", "/api/bookings",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
     ["X-Request-Id"] = key, ["Idempotency-Key"] = key}, body)
end

function response(status, headers, body)
  local rid = headers["X-Request-Id"] or headers["x-request-id"] or "-"
  log:write(string.format("%d %d %s\n", os.time(), status, rid))
  if rid:find("^scaleout%-b%-") then
    if status == 201 then
      created = created + 1
    elseif status == 409 then
      conflicts = conflicts + 1
    else
      failed_writes = failed_writes + 1
    end
  elseif status == 200 then
    read_ok = read_ok + 1
  else
    failed_reads = failed_reads + 1
  end
end

function done(summary, latency, requests)
  local c, x, fw, r, fr = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    x = x + t:get("conflicts")
    fw = fw + t:get("failed_writes")
    r = r + t:get("read_ok")
    fr = fr + t:get("failed_reads")
  end
  local e = summary.errors
  io.write(string.format(
    "SCALEOUT requests=%d created=%d conflicts=%d failed_writes=%d read_ok=%d failed_reads=%d " ..
    "socket_errors=%d non2xx=%d secs=%.1f p50_ms=%.1f p99_ms=%.1f\n",
    summary.requests, c, x, fw, r, fr, e.connect + e.read + e.write + e.timeout, e.status,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
