#!/usr/bin/env bash
# `make bench`: load figures for the suite on this machine. Starts the whole
# suite as `make run` does (scripts/run.sh) in a temporary folder with demo
# data and rate limits off, creates a user, and runs wrk against
# /api/health, an authenticated GET /api/auth/me, the same while logins run
# (bcrypt at the real cost), the same and a public list through a second
# gateway with the rate limiter on, bookings and availability, a payment read and
# signed MercadoPago webhooks, and build/bin/http-ceiling, the smallest
# libmicrohttpd server, for the ceiling of this machine. Prints one table;
# stops everything it started.
set -euo pipefail

export BP_SCRIPT=bench
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
read -r -a CONNS <<<"${BENCH_CONNECTIONS:-64 1000}"
LOGIN_CONNS=${BENCH_LOGIN_CONNECTIONS:-8}
BIN=${BARBERPRO_BIN_DIR:-$REPO/build/bin}

command -v wrk >/dev/null || bp_die "wrk is not installed (scripts/deps.sh installs it)"
[[ -x $BIN/http-ceiling ]] || bp_die "$BIN/http-ceiling is missing: run make first"

# 1000 connections need 1000 descriptors in wrk and as many in the gateway
# (which inherits this limit through scripts/run.sh).
hard=$(ulimit -Hn)
want=65536
[[ $hard != unlimited ]] && ((hard < want)) && want=$hard
ulimit -n "$want" 2>/dev/null || true
if (($(ulimit -n) < 2200)); then
    bp_log "warning: only $(ulimit -n) file descriptors; 1000 connections may fail"
fi

TMP=$(mktemp -d /tmp/bp-bench.XXXXXX)
chmod 711 "$TMP" # the postgres user must reach $TMP/var/pg
suite_pid=
ceiling_pid=
bg_pids=()

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM
    set +e
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    [[ -n $ceiling_pid ]] && bp_stop_pids 5 "$ceiling_pid"
    # scripts/run.sh stops its daemons, gateway, Redis and PostgreSQL itself.
    [[ -n $suite_pid ]] && bp_stop_pids 60 "$suite_pid"
    if [[ -z ${BENCH_KEEP:-} ]]; then
        rm -rf "$TMP"
    else
        bp_log "suite log and data kept in $TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
bp_trap_stop
check_stop() {
    if ((BP_STOP)); then exit 130; fi
}

# ---- the suite ----------------------------------------------------------------
PORT=$(bp_free_port)
BASE=http://127.0.0.1:$PORT
bp_log "starting the suite on port $PORT (log: $TMP/suite.log)"
# Every consumer of the events acknowledges them now (the notification
# daemon queues and sends each booking's messages to the local stand-ins,
# as in production); a long first retry only keeps an event that a consumer
# refuses from being offered again within a row.
BP_RELAY_BACKOFF_MS=${BENCH_RELAY_BACKOFF_MS:-60000} \
BARBERPRO_VAR_DIR=$TMP/var PORT=$PORT RATE_LIMIT_ENABLED=0 BARBERPRO_DEMO_DATA=1 \
    LOG_LEVEL=${LOG_LEVEL:-warn} BARBERPRO_BIN_DIR=$BIN \
    setsid "$REPO/scripts/run.sh" </dev/null >"$TMP/suite.log" 2>&1 &
suite_pid=$!
if ! bp_wait_health "$BASE/api/health" 120 "$suite_pid"; then
    tail -n 30 "$TMP/suite.log" >&2
    bp_die "the suite did not start"
fi
check_stop

CEILING_PORT=$(bp_free_port)
"$BIN/http-ceiling" "$CEILING_PORT" </dev/null &
ceiling_pid=$!
bp_wait_health "http://127.0.0.1:$CEILING_PORT/" 10 "$ceiling_pid" || bp_die "http-ceiling did not start"

# ---- a user and a session ---------------------------------------------------------
email="bench-$$-$RANDOM@example.com"
password="Bench-Navaja-4821!"
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
status=$(curl -s -o "$TMP/register.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Bench\",\"accept_terms\":true}" \
    "$BASE/api/auth/register")
[[ $status == 201 ]] || bp_die "register answered $status: $(cat "$TMP/register.json")"
status=$(curl -s -o "$TMP/login.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" "$BASE/api/auth/login")
[[ $status == 200 ]] || bp_die "login answered $status: $(cat "$TMP/login.json")"
token=$(json_field token <"$TMP/login.json")
[[ -n $token ]] || bp_die "no token in the login answer"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$BASE/api/auth/me")
[[ $status == 200 ]] || bp_die "GET /api/auth/me answered $status"

# ---- wrk scripts: every run prints one machine-readable line ------------------------------
cat >"$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("BENCH %.0f %.2f %.2f %d %d\n", summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
EOF
{
    echo "wrk.headers[\"Authorization\"] = \"Bearer $token\""
    cat "$TMP/report.lua"
} >"$TMP/me.lua"
{
    echo 'wrk.method = "POST"'
    echo "wrk.body = '{\"email\":\"$email\",\"password\":\"$password\"}'"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    cat "$TMP/report.lua"
} >"$TMP/login.lua"

rows=()
# run_wrk <label> <connections> <threads> <lua> <url> [output file]
run_wrk() {
    local label=$1 conns=$2 threads=$3 lua=$4 url=$5 out=${6:-$TMP/wrk.out} line
    ((threads > conns)) && threads=$conns
    wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 10s -s "$lua" "$url" >"$out" 2>&1 || true
    line=$(grep '^BENCH ' "$out" | tail -n 1)
    if [[ -z $line ]]; then
        bp_log "wrk failed for $label:"
        cat "$out" >&2
        line="BENCH 0 0 0 0 0"
    fi
    rows+=("$label|$conns|${line#BENCH }")
}

for c in "${CONNS[@]}"; do
    bp_log "GET /api/health, $c connections, ${DURATION}s"
    run_wrk "GET /api/health" "$c" "$THREADS" "$TMP/report.lua" "$BASE/api/health"
    check_stop
    bp_log "GET /api/auth/me, $c connections, ${DURATION}s"
    run_wrk "GET /api/auth/me" "$c" "$THREADS" "$TMP/me.lua" "$BASE/api/auth/me"
    check_stop
    bp_log "http-ceiling, $c connections, ${DURATION}s"
    run_wrk "http-ceiling (fixed body)" "$c" "$THREADS" "$TMP/report.lua" "http://127.0.0.1:$CEILING_PORT/"
    check_stop
done

# GET /api/auth/me while logins run as fast as bcrypt allows. The login load
# starts first and lasts longer, so that it covers the whole measurement.
bp_log "GET /api/auth/me, ${CONNS[0]} connections, while POST /api/auth/login runs"
(
    trap '' INT TERM
    wrk -t1 -c"$LOGIN_CONNS" -d"$((DURATION + 3))s" --timeout 10s -s "$TMP/login.lua" \
        "$BASE/api/auth/login" >"$TMP/login.out" 2>&1 || true
) &
bg_pids+=($!)
sleep 1
run_wrk "GET /api/auth/me during logins" "${CONNS[0]}" "$THREADS" "$TMP/me.lua" "$BASE/api/auth/me" "$TMP/me-during.out"
while bp_alive "${bg_pids[0]}"; do
    check_stop
    sleep 0.5
done
line=$(grep '^BENCH ' "$TMP/login.out" | tail -n 1 || true)
rows+=("POST /api/auth/login (bcrypt)|$LOGIN_CONNS|${line#BENCH }")

# ---- the rate limiter's cost ----------------------------------------------------------
# A second gateway on the same daemons with the limiter on (limits far out
# of reach): every request of these rows also runs the GCRA script in Redis,
# in the user's bucket for /api/auth/me (which then also has auth verify the
# token first) and in the address's for a public list.
LIMITED_PORT=$(bp_free_port)
(
    set -a
    # shellcheck disable=SC1091
    . "$TMP/var/env"
    set +a
    export BARBERPRO_VAR_DIR=$TMP/var PORT=$LIMITED_PORT RATE_LIMIT_ENABLED=1 \
        RATE_LIMIT_MAX_REQUESTS=100000000 RATE_LIMIT_WINDOW_MS=1000 LOG_LEVEL=warn
    exec "$BIN/barberpro-gateway"
) </dev/null >"$TMP/gateway-limited.log" 2>&1 &
limited_pid=$!
bg_pids+=("$limited_pid")
bp_wait_health "http://127.0.0.1:$LIMITED_PORT/api/health" 20 "$limited_pid" ||
    bp_die "the rate-limited gateway did not start (log: $TMP/gateway-limited.log)"
for c in "${CONNS[@]}"; do
    bp_log "GET /api/auth/me with rate limits on, $c connections, ${DURATION}s"
    run_wrk "GET /api/auth/me (limits on)" "$c" "$THREADS" "$TMP/me.lua" \
        "http://127.0.0.1:$LIMITED_PORT/api/auth/me"
    check_stop
    bp_log "GET /api/shops with rate limits on, $c connections, ${DURATION}s"
    run_wrk "GET /api/shops (limits on)" "$c" "$THREADS" "$TMP/report.lua" \
        "http://127.0.0.1:$LIMITED_PORT/api/shops"
    check_stop
    bp_log "GET /api/shops with rate limits off, $c connections, ${DURATION}s"
    run_wrk "GET /api/shops" "$c" "$THREADS" "$TMP/report.lua" "$BASE/api/shops"
    check_stop
done
kill "$limited_pid" 2>/dev/null || true

# ---- bookings: availability, a cached list, creations across many barbers ---------
# The fixture goes through the API: an owner, a shop, a 30-minute service with
# 10 minutes of buffer and no deposit, and BENCH_BARBERS providers (default
# week). Every booking request of the run is a different (barber, start):
# tests/bench/bookings.lua walks barbers first, then the 12 non-overlapping
# starts of a day (09:00 + 45 min * k), then the working days ahead.
BARBERS=${BENCH_BARBERS:-250}
bp_log "booking fixture: a shop, a service and $BARBERS barbers"
post_json() { # <path> <token> <json> -> the answer body; dies unless 201
    local out=$TMP/post.json st
    st=$(curl -s -o "$out" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $2" -d "$3" "$BASE$1")
    [[ $st == 201 ]] || bp_die "POST $1 answered $st: $(cat "$out")"
    cat "$out"
}
id_of() { sed -n "s/.*\"$1\":{\"id\":\"\\([^\"]*\\)\".*/\\1/p"; }
owner_email="bench-owner-$$-$RANDOM@example.com"
owner_token=$(curl -s -H 'Content-Type: application/json' \
    -d "{\"email\":\"$owner_email\",\"password\":\"$password\",\"name\":\"Dueño Bench\",\"role\":\"owner\",\"accept_terms\":true}" \
    "$BASE/api/auth/register" | json_field token)
[[ -n $owner_token ]] || bp_die "no owner token"
shop_id=$(post_json /api/shops "$owner_token" \
    '{"name":"Barbería Bench","address":"Av. de Mayo 1","city":"Buenos Aires"}' | id_of shop)
service_id=$(post_json "/api/shops/$shop_id/services" "$owner_token" \
    '{"name":"Corte","duration_minutes":30,"price_cents":1500000,"buffer_minutes":10}' | id_of service)
[[ -n $shop_id && -n $service_id ]] || bp_die "shop or service not created"
providers=()
for ((i = 0; i < BARBERS; i++)); do
    providers+=("$(post_json "/api/shops/$shop_id/providers" "$owner_token" \
        "{\"name\":\"Barbero $i\",\"service_ids\":[\"$service_id\"]}" | id_of provider)")
    check_stop
done
# Working days (Monday to Friday, no national holiday) from 2 to 58 days ahead.
today=$(TZ=America/Argentina/Buenos_Aires date +%F)
holidays=$(for y in $(date -d "$today" +%Y) $(date -d "$today + 60 days" +%Y); do
    curl -s "$BASE/api/holidays?year=$y"
done)
days=()
for ((i = 2; i <= 58; i++)); do
    d=$(date -d "$today + $i days" +%F)
    (($(date -d "$d" +%u) <= 5)) || continue
    [[ $holidays == *"\"$d\""* ]] && continue
    days+=("$d")
done
first_day=${days[0]}

# One script per run, each starting where the previous one's range ends, so
# that no two requests of the whole bench ask for the same (barber, start).
booking_capacity=$((BARBERS * 12 * ${#days[@]}))
booking_lua() { # <first index> <wrk threads> -> a wrk script
    local base=$1 threads=$2
    echo "local base, nthreads = $base, $threads"
    echo "local service = \"$service_id\""
    printf 'local providers = {'
    printf '"%s",' "${providers[@]}"
    echo '}'
    printf 'local days = {'
    printf '"%s",' "${days[@]}"
    echo '}'
    cat "$REPO/tests/bench/bookings.lua"
    echo "wrk.headers[\"Authorization\"] = \"Bearer $token\""
    cat "$TMP/report.lua"
}

avail_url() { echo "$BASE/api/providers/${providers[0]}/availability?service_id=$service_id&date=$first_day&days=$1"; }

# The daemon's own time for a 60-day availability on a cache miss: each
# distinct days= is a new cache field, so these are all misses; curl's time
# includes the gateway and the bus.
# In-daemon time: the booking daemon's barberpro_rpc_duration_seconds for
# Availability (sum and count, via /api/metrics) before and after.
avail_rpc() {
    curl -s "$BASE/api/metrics" | awk '/^barberpro_rpc_duration_seconds_(sum|count)\{/ &&
        /method="Availability"/ { split($0, f, " "); if ($0 ~ /_sum\{/) s += f[2]; else c += f[2] }
        END { printf "%f %d\n", s, c }'
}
# Warm up first (other barbers, so these are misses too): each of the
# booking daemon's workers (BOOKING_WORKERS, 32) prepares and plans its
# statements on its first calls, which steady state never pays.
for ((n = 60; n > 20; n--)); do
    for p in 2 3; do
        curl -s -o /dev/null "$(avail_url "$n" | sed "s/${providers[0]}/${providers[$p]}/")"
    done
done
read -r rpc_sum0 rpc_n0 <<<"$(avail_rpc)"
miss_total=0
for ((n = 60; n > 40; n--)); do
    t=$(curl -s -o /dev/null -w '%{time_total}' "$(avail_url "$n" | sed "s/${providers[0]}/${providers[1]}/")")
    miss_total=$(awk -v a="$miss_total" -v b="$t" 'BEGIN { print a + b }')
done
avail_miss_ms=$(awk -v t="$miss_total" 'BEGIN { printf "%.2f", t * 1000 / 20 }')
read -r rpc_sum1 rpc_n1 <<<"$(avail_rpc)"
avail_daemon_ms=$(awk -v a="$rpc_sum0" -v b="$rpc_sum1" -v n="$((rpc_n1 - rpc_n0))" \
    'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1000 / n; else print "?" }')

for c in "${CONNS[@]}"; do
    bp_log "GET availability (60 days, cached), $c connections, ${DURATION}s"
    run_wrk "GET availability 60 days" "$c" "$THREADS" "$TMP/report.lua" "$(avail_url 60)"
    check_stop
    bp_log "GET availability (1 day, cached), $c connections, ${DURATION}s"
    run_wrk "GET availability 1 day" "$c" "$THREADS" "$TMP/report.lua" "$(avail_url 1)"
    check_stop
    bp_log "GET /api/shops/{id}/services (cached), $c connections, ${DURATION}s"
    run_wrk "GET shop services (cached)" "$c" "$THREADS" "$TMP/report.lua" \
        "$BASE/api/shops/$shop_id/services"
    check_stop
done
run_index=0
for c in "${CONNS[@]}"; do
    booking_lua $((run_index * booking_capacity / ${#CONNS[@]})) "$THREADS" >"$TMP/bookings-$c.lua"
    bp_log "POST /api/bookings (distinct barbers and slots), $c connections, ${DURATION}s"
    run_wrk "POST /api/bookings" "$c" "$THREADS" "$TMP/bookings-$c.lua" "$BASE/api/bookings"
    run_index=$((run_index + 1))
    check_stop
done

# ---- payments -------------------------------------------------------------------------
# A deposit to pay: the bench user books the demo shop's "Corte clásico"
# (20 % deposit) and checks out against the local MercadoPago stand-in
# (scripts/run.sh starts it when MERCADOPAGO_ACCESS_TOKEN is unset).
demo_provider=5e0d0000-0000-4000-8000-000000000201
demo_service=5e0d0000-0000-4000-8000-000000000101
slot=$(curl -s "$BASE/api/providers/$demo_provider/availability?service_id=$demo_service&date=$first_day&days=7" |
    sed -n 's/.*"starts_at":"\([^"]*\)".*/\1/p' | head -n 1)
[[ -n $slot ]] || bp_die "no free slot of the demo shop"
demo_booking=$(post_json /api/bookings "$token" \
    "{\"provider_id\":\"$demo_provider\",\"service_id\":\"$demo_service\",\"starts_at\":\"$slot\"}" |
    id_of booking)
st=$(curl -s -o "$TMP/checkout.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" -H "Idempotency-Key: bench-$demo_booking" \
    -d "{\"booking_id\":\"$demo_booking\"}" "$BASE/api/payments/checkout")
[[ $st == 201 ]] || bp_die "checkout answered $st: $(cat "$TMP/checkout.json")"
payment_id=$(id_of payment <"$TMP/checkout.json")
for c in "${CONNS[@]}"; do
    bp_log "GET /api/payments/{id}, $c connections, ${DURATION}s"
    run_wrk "GET /api/payments/{id}" "$c" "$THREADS" "$TMP/me.lua" "$BASE/api/payments/$payment_id"
    check_stop
done
# Signed webhooks, as MercadoPago sends them (the stand-in's secret), for
# 2000 payment ids it does not know: each is recorded and acknowledged, then
# looked up by the notifications job (a 404 there, retried, then dropped).
"${PYTHON:-python3}" - "$TMP/webhooks.lua" <<'PY'
import hashlib, hmac, sys
rows = []
for i in range(2000):
    pid, rid, ts = str(9000000000 + i), "bench-%d" % i, "1764284400000"
    v1 = hmac.new(b"fake-webhook-secret", ("id:%s;request-id:%s;ts:%s;" % (pid, rid, ts)).encode(),
                  hashlib.sha256).hexdigest()
    rows.append('{"%s","%s","ts=%s,v1=%s"}' % (pid, rid, ts, v1))
with open(sys.argv[1], "w") as f:
    f.write("local hooks = {%s}\n" % ",".join(rows))
    f.write("""local n = 0
request = function()
  n = n + 1
  local h = hooks[(n % #hooks) + 1]
  return wrk.format("POST", "/api/webhooks/mercadopago?data.id=" .. h[1] .. "&type=payment",
    {["Content-Type"] = "application/json", ["x-request-id"] = h[2], ["x-signature"] = h[3]},
    '{"action":"payment.updated","type":"payment","data":{"id":"' .. h[1] .. '"}}')
end
""")
PY
cat "$TMP/report.lua" >>"$TMP/webhooks.lua"
for c in "${CONNS[@]}"; do
    bp_log "POST /api/webhooks/mercadopago (signed), $c connections, ${DURATION}s"
    run_wrk "POST webhook (signed)" "$c" "$THREADS" "$TMP/webhooks.lua" "$BASE/api/webhooks/mercadopago"
    check_stop
done

# The database's word: no two active bookings of one barber overlap.
set -a
# shellcheck disable=SC1091
. "$TMP/var/env"
set +a
overlaps=$(psql "$DATABASE_URL" -XAtq -c "SELECT count(*) FROM booking.bookings a
    JOIN booking.bookings b ON a.provider_id = b.provider_id AND a.id < b.id
     AND a.blocked && b.blocked
    WHERE a.status IN ('pending_payment', 'confirmed')
      AND b.status IN ('pending_payment', 'confirmed')")
booked=$(psql "$DATABASE_URL" -XAtq -c "SELECT count(*) FROM booking.bookings WHERE shop_id = '$shop_id'")
# The messages of those bookings: how many went out, and how long each
# waited between its row and the provider's acceptance (sent_at).
notified=$(psql "$DATABASE_URL" -XAtq -F '|' -c "SELECT count(*),
    coalesce(round(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY sent_at - created_at))::numeric * 1000, 0), 0) || ' ms',
    coalesce(round(extract(epoch FROM percentile_cont(0.95) WITHIN GROUP (ORDER BY sent_at - created_at))::numeric * 1000, 0), 0) || ' ms',
    (SELECT count(*) FROM notification.notifications WHERE status IN ('queued', 'sending'))
    FROM notification.notifications WHERE sent_at IS NOT NULL")

# ---- the table ----------------------------------------------------------------------
echo
echo "BarberPro bench: $(nproc) cores ($(uname -m)), wrk ${THREADS} threads, ${DURATION}s per row, rate limits off but in the (limits on) rows, BCRYPT_SALT_ROUNDS=${BCRYPT_SALT_ROUNDS:-12}"
printf '%-32s %6s %12s %10s %10s %9s %7s\n' endpoint conns "requests/s" "p50 ms" "p99 ms" "non-2xx" errors
declare -A rps=()
for row in "${rows[@]}"; do
    IFS='|' read -r label conns fields <<<"$row"
    read -r r p50 p99 non2xx errs <<<"${fields:-0 0 0 0 0}"
    printf '%-32s %6s %12s %10s %10s %9s %7s\n' "$label" "$conns" "$r" "$p50" "$p99" "$non2xx" "$errs"
    rps["$label|$conns"]=$r
done
echo
for c in "${CONNS[@]}"; do
    ceil=${rps["http-ceiling (fixed body)|$c"]:-0}
    ((ceil > 0)) || continue
    for label in "GET /api/auth/me" "GET availability 60 days" "GET availability 1 day" \
        "GET shop services (cached)" "POST /api/bookings" "GET /api/payments/{id}" \
        "POST webhook (signed)"; do
        r=${rps["$label|$c"]:-0}
        echo "$label at $c connections: $((r * 100 / ceil))% of the HTTP ceiling"
    done
done
echo
echo "availability of 60 days on a cache miss: ${avail_miss_ms} ms per request end to end, ${avail_daemon_ms} ms inside the booking daemon (means of 20 after a warm-up, sequential)"
echo "bookings created: $booked across $BARBERS barbers; overlapping active bookings: $overlaps"
IFS='|' read -r sent p50 p95 waiting <<<"$notified"
echo "notifications sent to the stand-ins: $sent (row to provider: p50 $p50, p95 $p95); still queued at the end: $waiting"
if [[ $overlaps != 0 ]]; then
    bp_die "overlapping bookings exist"
fi
