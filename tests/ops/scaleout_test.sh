#!/usr/bin/env bash
# Scale-out, shown (issue 9): two gateways and two booking daemons, each its
# own process, behind a real nginx (compose/nginx's http.conf and
# server.conf); one booking instance is killed with SIGKILL in the middle of
# a wrk run that creates bookings. Checks that
#  (a) requests keep succeeding after the kill, served by the surviving
#      instance (its own series on a gateway's /api/metrics, told apart by
#      bus_address, say so), and only the requests in flight at
#      that instant fail: at most one per wrk connection, all within a
#      moment of the kill, all 5xx;
#  (b) no booking is duplicated: no two live bookings of a barber overlap,
#      no request (its key, carried in the booking's notes) has two
#      bookings, and no request met its own slot taken (409);
#  (c) every 201 that wrk saw is one booking in the database, and every
#      booking in the database without a 201 belongs to a request whose
#      answer was lost: one that failed at the kill (its instance committed,
#      then died before replying) or one cut by wrk at the end of its run.
# Every other daemon (auth, payment, notification, backup) runs once. The
# release binaries come from BP_OPS_BIN_DIR, the database from
# BP_OPS_DATABASE_URL, Redis from BP_OPS_REDIS_URL; everything else lives
# in BP_OPS_TMP. Run by scripts/test.sh as one counted test (tests/ops/).
#
# Knobs: SCALEOUT_DURATION (wrk seconds, 20), SCALEOUT_CONNECTIONS (16),
# SCALEOUT_PROVIDERS (barbers, 40).
set -euo pipefail

export BP_SCRIPT=scaleout
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

: "${BP_OPS_DATABASE_URL:?set by scripts/test.sh}" "${BP_OPS_REDIS_URL:?}" "${BP_OPS_TMP:?}"
: "${BP_OPS_BIN_DIR:?}"
BIN=$BP_OPS_BIN_DIR
TMP=$BP_OPS_TMP
DURATION=${SCALEOUT_DURATION:-20}
CONNS=${SCALEOUT_CONNECTIONS:-16}
THREADS=2
PROVIDERS=${SCALEOUT_PROVIDERS:-40}
NGINX_SRC=$REPO/compose/nginx

for tool in nginx wrk psql curl; do
    command -v "$tool" >/dev/null || bp_die "$tool is not installed (scripts/deps.sh)"
done
for name in gateway auth booking payment notification backup; do
    [[ -x $BIN/barberpro-$name ]] || bp_die "$BIN/barberpro-$name is missing"
done
for f in http.conf server.conf; do
    [[ -r $NGINX_SRC/$f ]] || bp_die "$NGINX_SRC/$f is missing"
done

LOGS=$TMP/logs
OUT=$TMP/out
NGX=$TMP/nginx
mkdir -p "$LOGS" "$OUT" "$NGX/barberpro" "$NGX/logs" "$NGX/cache" "$TMP/run" "$TMP/var"
chmod 700 "$TMP/run"

declare -A pid=() # process name -> pid
wrk_pid=

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM
    set +e
    [[ -n $wrk_pid ]] && bp_alive "$wrk_pid" && kill -KILL "$wrk_pid"
    # nginx and the gateways first, so that no call reaches a stopping daemon.
    local front=() back=() name
    for name in nginx gateway-1 gateway-2; do
        [[ -n ${pid[$name]:-} ]] && front+=("${pid[$name]}")
    done
    ((${#front[@]})) && bp_stop_pids 10 "${front[@]}"
    for name in "${!pid[@]}"; do
        [[ $name == nginx || $name == gateway-* ]] && continue
        back+=("${pid[$name]}")
    done
    ((${#back[@]})) && bp_stop_pids 20 "${back[@]}"
    if ((rc != 0)); then
        bp_log "failed; logs in $LOGS and $NGX/logs"
        for name in booking-1 booking-2 gateway-1 gateway-2; do
            [[ -s $LOGS/$name.log ]] || continue
            bp_log "---- last lines of $name.log"
            tail -n 8 "$LOGS/$name.log" >&2
        done
    fi
    exit "$rc"
}
trap cleanup EXIT
bp_trap_stop
check_stop() {
    if ((BP_STOP)); then exit 130; fi
}

# ---- ports, addresses and the environment of every process --------------------------------
{ read -r BOOKING_PORT_1 && read -r BOOKING_PORT_2 && read -r GW_1 && read -r GW_2 &&
    read -r NGINX_PORT; } < <(bp_free_ports 5)
BOOKING_1=tcp://127.0.0.1:$BOOKING_PORT_1
BOOKING_2=tcp://127.0.0.1:$BOOKING_PORT_2
BASE=http://127.0.0.1:$NGINX_PORT

export DATABASE_URL=$BP_OPS_DATABASE_URL REDIS_URL=$BP_OPS_REDIS_URL
export BARBERPRO_VAR_DIR=$TMP/var BARBERPRO_RUN_DIR=$TMP/run
export UPLOAD_DIR=$TMP/uploads BACKUP_LOCAL_DIR=$TMP/backups
export LOG_LEVEL=info
# Every client of booking (both gateways, the other daemons, the relays)
# dials both instances; each instance listens on its own (BOOKING_LISTEN_URL).
export BOOKING_RPC_URL="$BOOKING_1, $BOOKING_2"
unset BOOKING_LISTEN_URL
# The other daemons on their default sockets in this run folder.
unset AUTH_RPC_URL PAYMENT_RPC_URL NOTIFICATION_RPC_URL BACKUP_RPC_URL
# Deadlines far from what a loaded 2-core machine takes, so that a failure
# here is the kill and nothing else; the kill itself fails a call at once.
export RPC_TIMEOUT_MS=10000
export BIND_ADDRESS=127.0.0.1 TRUSTED_PROXIES=127.0.0.1
export PUBLIC_BASE_URL=$BASE
# The gateways' limiter stays on (Redis), with limits out of reach.
export RATE_LIMIT_ENABLED=1 RATE_LIMIT_WINDOW_MS=1000 RATE_LIMIT_MAX_REQUESTS=100000000
export RATE_LIMIT_AUTH_MAX=100000000 RATE_LIMIT_BOOKING_MAX=100000000
export RATE_LIMIT_PAYMENTS_MAX=100000000
export BOOKING_HOLD_SECONDS=900 BOOKING_EXPIRE_INTERVAL_MS=60000
# Two booking instances of 16 workers are the 32 connections of one.
export BOOKING_WORKERS=16 PAYMENT_WORKERS=4

# start <name> [VAR=value...] <binary>: one process, its log in $LOGS.
start() {
    local name=$1
    shift
    env "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
    pid[$name]=$!
}

# wait_log <name> <text> <seconds>: waits until the process's log holds
# text, while the process runs.
wait_log() {
    local name=$1 text=$2 deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        check_stop
        grep -qF -- "$text" "$LOGS/$name.log" 2>/dev/null && return 0
        bp_alive "${pid[$name]}" || bp_die "$name exited (log: $LOGS/$name.log)"
        sleep 0.1
    done
    bp_die "$name did not log '$text' within $3 s (log: $LOGS/$name.log)"
}

# ---- the suite: one of each daemon, two booking instances, two gateways ---------------------
for name in auth booking payment notification backup; do
    "$BIN/barberpro-$name" migrate </dev/null >>"$LOGS/migrate.log" 2>&1 ||
        bp_die "migrations of $name failed (log: $LOGS/migrate.log)"
done
for name in auth payment notification backup; do
    start "$name" "$BIN/barberpro-$name"
done
start booking-1 BOOKING_LISTEN_URL="$BOOKING_1" "$BIN/barberpro-booking"
start booking-2 BOOKING_LISTEN_URL="$BOOKING_2" "$BIN/barberpro-booking"
wait_log booking-1 "serving on $BOOKING_1" 30
wait_log booking-2 "serving on $BOOKING_2" 30
start gateway-1 PORT="$GW_1" "$BIN/barberpro-gateway"
start gateway-2 PORT="$GW_2" "$BIN/barberpro-gateway"
for name in gateway-1 gateway-2; do
    p=$GW_1
    [[ $name == gateway-2 ]] && p=$GW_2
    bp_wait_health "http://127.0.0.1:$p/api/health" 60 "${pid[@]}" || {
        rc=$?
        ((rc == 2)) && bp_die "a process exited: pid $BP_DEAD_PID"
        bp_die "$name is not healthy (last status $BP_LAST_STATUS)"
    }
done
bp_log "suite up: booking at $BOOKING_RPC_URL, gateways on $GW_1 and $GW_2"

# ---- nginx: compose/nginx's http.conf and server.conf, adapted ----------------------------
# Copies with only what a private nginx on a free loopback port needs:
#  - the optional includes and the uploads cache under $NGX instead of
#    /etc/nginx/barberpro and /var/lib/nginx, the access log under $NGX/logs;
#  - listen 127.0.0.1:<free port> instead of 80;
#  - the override: every limit_req_zone rate becomes 1000000 r/s. All of
#    wrk's load comes from 127.0.0.1, one address, which the manual's
#    per-address limits (10 r/s, 5 r/m, 20 r/m) would turn into 429s; the
#    zones, their keys and every limit_req of server.conf stay as they are.
# Our own upstream.conf lists the two gateways with the same passive checks.
sed -e "s|/etc/nginx/barberpro/|$NGX/barberpro/|g" \
    -e "s|proxy_cache_path /var/lib/nginx/barberpro-uploads|proxy_cache_path $NGX/cache/uploads|" \
    -E -e 's/(limit_req_zone .* rate=)[0-9]+r\/[sm]/\11000000r\/s/' \
    "$NGINX_SRC/http.conf" >"$NGX/barberpro/http.conf"
sed -e "s|/etc/nginx/barberpro/|$NGX/barberpro/|g" \
    -e "s|access_log /var/log/nginx/access.log|access_log $NGX/logs/access.log|" \
    -E -e "s/^( *)listen 80( default_server)?;/\1listen 127.0.0.1:$NGINX_PORT\2;/" \
    "$NGINX_SRC/server.conf" >"$NGX/barberpro/server.conf"
cat >"$NGX/barberpro/upstream.conf" <<EOF
upstream barberpro_gateway {
    server 127.0.0.1:$GW_1 max_fails=3 fail_timeout=10s;
    server 127.0.0.1:$GW_2 max_fails=3 fail_timeout=10s;
    keepalive 64;
}
EOF
# What the copies must no longer hold: a path outside $NGX, port 80, a rate
# of the manual. Any of them means compose/nginx changed under this test.
if grep -nE '^[^#]*((/etc/nginx/barberpro|/var/)|listen +80|rate=[0-9]+r/m|rate=([0-9]|[0-9]{2}|[0-9]{3})r/s)' \
    "$NGX/barberpro/http.conf" "$NGX/barberpro/server.conf" >&2; then
    bp_die "compose/nginx holds settings this test does not adapt (above)"
fi
grep -q "listen 127.0.0.1:$NGINX_PORT" "$NGX/barberpro/server.conf" ||
    bp_die "server.conf has no 'listen 80' to move to port $NGINX_PORT"
cat >"$NGX/nginx.conf" <<EOF
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events {
    worker_connections 1024;
}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    include $NGX/barberpro/http.conf;
    include $NGX/barberpro/upstream.conf;
    include $NGX/barberpro/server.conf;
}
EOF
nginx -t -q -p "$NGX" -c "$NGX/nginx.conf" 2>"$LOGS/nginx-t.log" || {
    cat "$LOGS/nginx-t.log" >&2
    bp_die "nginx -t refused the configuration"
}
nginx -p "$NGX" -c "$NGX/nginx.conf" -g 'daemon off;' </dev/null >>"$LOGS/nginx.log" 2>&1 &
pid[nginx]=$!
bp_wait_health "$BASE/api/health" 30 "${pid[nginx]}" || bp_die "nothing answers through nginx"
bp_log "nginx on $BASE in front of both gateways"

# ---- the fixture, through the API ---------------------------------------------------------
password="Scaleout-Navaja-4821!"
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
id_of() { sed -n "s/.*\"$1\":{\"id\":\"\\([^\"]*\\)\".*/\\1/p"; }
# call <method> <path> <token> <json> <expected status> -> the answer body
call() {
    local out=$OUT/call.json st args=(-s --max-time 15 -o "$OUT/call.json" -w '%{http_code}' -X "$1")
    [[ -n $3 ]] && args+=(-H "Authorization: Bearer $3")
    [[ -n $4 ]] && args+=(-H 'Content-Type: application/json' -d "$4")
    st=$(curl "${args[@]}" "$BASE$2")
    [[ $st == "$5" ]] || bp_die "$1 $2 answered $st, not $5: $(head -c 300 "$out")"
    cat "$out"
}
register() { # <email> <role> -> token
    call POST /api/auth/register "" \
        "{\"email\":\"$1\",\"password\":\"$password\",\"name\":\"Scaleout\",\"role\":\"$2\",\"accept_terms\":true}" \
        201 | json_field token
}
owner=$(register "owner-$$@scaleout.test" owner)
[[ -n $owner ]] || bp_die "no owner token"
shop=$(call POST /api/shops "$owner" \
    '{"name":"Barbería Scaleout","address":"Av. de Mayo 1","city":"Buenos Aires"}' 201 | id_of shop)
service=$(call POST "/api/shops/$shop/services" "$owner" \
    '{"name":"Corte","duration_minutes":30,"price_cents":1500000,"buffer_minutes":10,"deposit_percent":0}' \
    201 | id_of service)
[[ -n $shop && -n $service ]] || bp_die "shop or service not created"
week='{"weekly":['
for d in 1 2 3 4 5 6 7; do
    week+="{\"weekday\":$d,\"start\":\"08:00\",\"end\":\"20:00\"}"
    ((d < 7)) && week+=','
done
week+=']}'
providers=()
for ((i = 0; i < PROVIDERS; i++)); do
    p=$(call POST "/api/shops/$shop/providers" "$owner" \
        "{\"name\":\"Barbero $i\",\"service_ids\":[\"$service\"]}" 201 | id_of provider)
    [[ -n $p ]] || bp_die "provider $i not created"
    call PUT "/api/providers/$p/schedule" "$owner" "$week" 200 >/dev/null
    providers+=("$p")
    check_stop
done
tokens=()
for ((i = 0; i < 4; i++)); do
    t=$(register "client-$i-$$@scaleout.test" client)
    [[ -n $t ]] || bp_die "no token for client $i"
    tokens+=("$t")
done
# Every day from 2 to 58 days ahead but national holidays (the shop is
# closed on them): inside the minimum notice and the 60-day horizon.
today=$(TZ=America/Argentina/Buenos_Aires date +%F)
holidays=$(for y in $(date -d "$today" +%Y) $(date -d "$today + 60 days" +%Y); do
    call GET "/api/holidays?year=$y" "" "" 200
done)
days=()
for ((i = 2; i <= 58; i++)); do
    d=$(date -d "$today + $i days" +%F)
    [[ $holidays == *"\"$d\""* ]] && continue
    days+=("$d")
done
# One slot of the fixture, booked by hand: the load's shape is sound.
first=$(call POST /api/bookings "${tokens[0]}" \
    "{\"provider_id\":\"${providers[0]}\",\"service_id\":\"$service\",\"starts_at\":\"${days[0]}T08:00:00-03:00\",\"notes\":\"scaleout-check\"}" \
    201)
[[ $first == *'"status":"confirmed"'* ]] || bp_die "a booking without deposit is not confirmed: $first"
call POST "/api/bookings/$(id_of booking <<<"$first")/cancel" "${tokens[0]}" '{}' 200 >/dev/null
bp_log "fixture: shop $shop, $PROVIDERS barbers open 08:00-20:00 every day, ${#days[@]} days, 4 clients"

# ---- the run ------------------------------------------------------------------------------
# rpc_calls <bus address>: CreateBooking calls the booking instance at that
# address has answered, whatever their status: its own
# barberpro_rpc_requests_total, which a gateway's /api/metrics labels with
# bus_address when a service has several instances.
rpc_calls() {
    curl -s --max-time 5 "http://127.0.0.1:$GW_1/api/metrics" |
        awk -v addr="bus_address=\"$1\"" '/^barberpro_rpc_requests_total\{/ && /service="booking"/ &&
                 /method="CreateBooking"/ && index($0, addr) { n += $NF } END { printf "%d\n", n }'
}
# service_up <bus address>: the gateway's barberpro_service_up for it.
service_up() {
    curl -s --max-time 5 "http://127.0.0.1:$GW_1/api/metrics" |
        awk -v addr="bus_address=\"$1\"" '/^barberpro_service_up\{/ && /service="booking"/ &&
                 index($0, addr) { v = $NF } END { print (v == "" ? "missing" : v) }'
}
# The starts of a day: 08:00 + 45 min * k, sixteen a day, which a 30-minute
# service with 10 minutes of buffer never overlaps.
times=(08:00 08:45 09:30 10:15 11:00 11:45 12:30 13:15 14:00 14:45 15:30 16:15 17:00 17:45 18:30 19:15)
lua=$OUT/bookings.lua
{
    echo "local nthreads, read_every = $THREADS, 4"
    echo "local service = \"$service\""
    echo "local outdir = \"$OUT\""
    printf 'local providers = {'
    printf '"%s",' "${providers[@]}"
    echo '}'
    printf 'local days = {'
    printf '"%s",' "${days[@]}"
    echo '}'
    printf 'local times = {'
    printf '"%s",' "${times[@]}"
    echo '}'
    printf 'local tokens = {'
    printf '"%s",' "${tokens[@]}"
    echo '}'
    cat "$REPO/tests/ops/scaleout/bookings.lua"
} >"$lua"
bp_log "wrk: $CONNS connections, $THREADS threads, ${DURATION}s through nginx; booking-1 is killed at half time"
wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$lua" "$BASE/api/bookings" \
    </dev/null >"$OUT/wrk.out" 2>&1 &
wrk_pid=$!
start_s=$SECONDS
while ((SECONDS - start_s < DURATION / 2)); do
    check_stop
    bp_alive "$wrk_pid" || bp_die "wrk ended early: $(cat "$OUT/wrk.out")"
    sleep 0.2
done
before_1=$(rpc_calls "$BOOKING_1")
before_2=$(rpc_calls "$BOOKING_2")
up_1_before=$(service_up "$BOOKING_1")
# Disowned first, so that bash does not report the job it killed.
disown "${pid[booking-1]}"
kill -KILL "${pid[booking-1]}"
kill_epoch=$(date +%s)
bp_log "SIGKILL to booking-1 (pid ${pid[booking-1]}) at $(date +%T.%3N); it had answered $before_1 CreateBooking calls, booking-2 $before_2"
# The survivor's count just after the kill: what it answers from here on
# was served after the kill.
at_kill_2=$(rpc_calls "$BOOKING_2")
probe_epoch=$(date +%s)
while bp_alive "$wrk_pid"; do
    check_stop
    sleep 0.2
done
wait "$wrk_pid" || bp_die "wrk failed: $(cat "$OUT/wrk.out")"
wrk_pid=
end_2=$(rpc_calls "$BOOKING_2")
up_1_after=$(service_up "$BOOKING_1")
up_2_after=$(service_up "$BOOKING_2")
cat "$OUT/wrk.out"
summary=$(grep '^SCALEOUT ' "$OUT/wrk.out" | tail -n 1)
[[ -n $summary ]] || bp_die "wrk printed no SCALEOUT line"
get() { sed -n "s/.* $1=\\([0-9.]*\\).*/\\1/p" <<<" ${summary#SCALEOUT }"; }
socket_errors=$(get socket_errors)
wrk_created=$(get created)
# Requests still in flight when wrk stopped: let the suite finish them.
for ((i = 0; i < 50; i++)); do
    busy=$(psql "$DATABASE_URL" -XAtq -c "SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()")
    ((busy == 0)) && break
    sleep 0.1
done

# ---- what wrk saw ---------------------------------------------------------------------------
cat "$OUT"/responses-*.log >"$OUT/answers.log"
awk -v kill="$kill_epoch" -v probe="$probe_epoch" '
    $3 ~ /^scaleout-b-/ { w = 1 } $3 !~ /^scaleout-b-/ { w = 0 }
    w && $2 == 201 { created++; if ($1 < kill) cb++; if ($1 > probe) ca++ }
    !w && $2 == 200 { reads++; if ($1 > probe) ra++ }
    $2 != 201 && $2 != 200 { failed++ }
    $2 == 409 { conflicts++ }
    $2 != 201 && $2 != 200 && ($1 < kill - 1 || $1 > kill + 2) { stray++ }
    $2 != 201 && $2 != 200 && $2 !~ /^50[234]$/ { odd++ }
    END { printf "%d %d %d %d %d %d %d %d %d\n", created, cb, ca, reads, ra, failed, conflicts,
          stray, odd }' "$OUT/answers.log" >"$OUT/counts"
read -r created created_before created_after reads reads_after failed conflicts stray odd <"$OUT/counts"
answered=$(wc -l <"$OUT/answers.log")
bp_log "answers: $answered ($created bookings created, $reads reads), $failed failed, $socket_errors socket errors"
bp_log "per second (201 / failed), kill at second $kill_epoch:"
awk '{ s[$1] += 0; if ($2 == 201) c[$1]++; else if ($2 != 200) f[$1]++ }
     END { for (t in s) printf "  %s %d %d\n", t, c[t], f[t] }' "$OUT/answers.log" | sort -n >&2
if ((failed > 0)); then
    bp_log "failed answers (epoch second, status, request):"
    grep -vE '^[0-9]+ (200|201) ' "$OUT/answers.log" | sort -n >&2
fi

# ---- the database ---------------------------------------------------------------------------
# The answers as a table, matched by request key with the bookings' notes.
psql "$DATABASE_URL" -XAtq -F ' ' -v ON_ERROR_STOP=1 >"$OUT/db" <<EOF
CREATE TEMP TABLE answers (at bigint, status int, rid text);
\copy answers FROM '$OUT/answers.log' WITH (FORMAT text, DELIMITER ' ')
CREATE TEMP TABLE run AS
    SELECT b.* FROM booking.bookings b WHERE b.notes LIKE 'scaleout-b-%';
SELECT
    (SELECT count(*) FROM run),
    (SELECT count(*) FROM run WHERE status = 'confirmed'),
    (SELECT count(*) FROM booking.bookings a JOIN booking.bookings b
        ON a.provider_id = b.provider_id AND a.id < b.id AND a.blocked && b.blocked
        WHERE a.status IN ('pending_payment', 'confirmed')
          AND b.status IN ('pending_payment', 'confirmed')),
    (SELECT count(*) FROM (SELECT notes FROM run GROUP BY notes HAVING count(*) > 1) d),
    (SELECT count(*) FROM answers a WHERE a.status = 201 AND a.rid LIKE 'scaleout-b-%'
        AND NOT EXISTS (SELECT 1 FROM run r WHERE r.notes = a.rid)),
    (SELECT count(*) FROM run r WHERE EXISTS
        (SELECT 1 FROM answers a WHERE a.rid = r.notes AND a.status NOT IN (200, 201))),
    (SELECT count(*) FROM run r WHERE NOT EXISTS (SELECT 1 FROM answers a WHERE a.rid = r.notes)),
    (SELECT count(*) FROM (SELECT rid FROM answers GROUP BY rid HAVING count(*) > 1) d),
    (SELECT count(*) FROM run r WHERE NOT EXISTS (SELECT 1 FROM answers a WHERE a.rid = r.notes)
        AND extract(epoch FROM r.created_at) < (SELECT max(at) FROM answers) - 3);
SELECT 'unanswered ' || r.notes || ' ' || r.created_at FROM run r
    WHERE NOT EXISTS (SELECT 1 FROM answers a WHERE a.rid = r.notes) ORDER BY r.created_at;
SELECT 'lost-reply ' || r.notes || ' ' || a.status || ' ' || r.created_at FROM run r
    JOIN answers a ON a.rid = r.notes WHERE a.status NOT IN (200, 201) ORDER BY r.created_at;
EOF
read -r db_run db_confirmed overlaps dup_keys missing lost_reply unanswered dup_answers \
    unanswered_early <"$OUT/db"
bp_log "database: $db_run bookings of the run ($db_confirmed confirmed); overlapping live bookings: $overlaps; keys with two bookings: $dup_keys"
grep -E '^(unanswered|lost-reply) ' "$OUT/db" >&2 || true

# ---- the failed bookings, retried with their Idempotency-Key ---------------------------------
# What a client does after a 503: send the same request again with the same
# key. One whose first attempt committed (its reply was lost) must get that
# booking back; one that never ran is made now; none may be made twice.
retry_same=0 retry_new=0 retry_bad=0
while read -r _ _ rid; do
    idx=${rid#scaleout-b-}
    # As bookings.lua: idx = (counter - 1) * nthreads + tid.
    tid=$((idx % THREADS))
    counter=$(((idx - tid) / THREADS + 1))
    token=${tokens[counter % ${#tokens[@]}]}
    r=$((idx / ${#providers[@]}))
    body="{\"provider_id\":\"${providers[idx % ${#providers[@]}]}\",\"service_id\":\"$service\",\"starts_at\":\"${days[r / ${#times[@]}]}T${times[r % ${#times[@]}]}:00-03:00\",\"notes\":\"$rid\"}"
    before=$(psql "$DATABASE_URL" -XAtq -c "SELECT id FROM booking.bookings WHERE notes = '$rid'")
    st=$(curl -s --max-time 15 -o "$OUT/retry.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -H "Idempotency-Key: $rid" -d "$body" "$BASE/api/bookings")
    got=$(id_of booking <"$OUT/retry.json")
    if [[ $st == 201 && -n $before && $got == "$before" ]]; then
        retry_same=$((retry_same + 1))
    elif [[ $st == 201 && -z $before && -n $got ]]; then
        retry_new=$((retry_new + 1))
    else
        retry_bad=$((retry_bad + 1))
        bp_log "retry of $rid (booked before: ${before:-no}) answered $st: $(head -c 300 "$OUT/retry.json")"
    fi
done < <(grep -E '^[0-9]+ 50[234] scaleout-b-[0-9]+$' "$OUT/answers.log")
dup_after=$(psql "$DATABASE_URL" -XAtq -c "SELECT count(*) FROM (SELECT notes FROM booking.bookings
    WHERE notes LIKE 'scaleout-b-%' GROUP BY notes HAVING count(*) > 1) d")
bp_log "retries of the failed bookings: $retry_same got the booking their first attempt made, $retry_new booked now, $retry_bad otherwise"

# ---- the verdict ---------------------------------------------------------------------------
bad=0
check() { # <condition> <what>
    if eval "$1"; then
        bp_log "ok: $2"
    else
        bp_log "FAILED: $2"
        bad=1
    fi
}
calls_1_before=$before_1
calls_2_after=$((end_2 - at_kill_2))
echo
echo "scale-out figures ($(nproc) cores, $CONNS connections, ${DURATION}s):"
echo "  before the kill: booking-1 answered $calls_1_before CreateBooking calls, booking-2 $before_2"
echo "  201s before the kill: $created_before; after it (seconds > $probe_epoch): $created_after; reads after: $reads_after"
echo "  booking-2 answered $calls_2_after CreateBooking calls after the kill"
echo "  failed: $failed answers + $socket_errors socket errors (bound: $CONNS connections)"
echo "  wrk's 201s: $wrk_created (answer lines: $created); bookings of the run in the database: $db_run"
echo "  of those, $lost_reply got a failed answer (committed, reply lost at the kill) and $unanswered never answered (cut by wrk's end)"
echo
check '((calls_1_before > 0 && before_2 > 0))' "both booking instances served bookings before the kill"
# shellcheck disable=SC2016 # check evaluates it
check '[[ $up_1_before == 1 && $up_1_after == 0 && $up_2_after == 1 ]]' \
    "the gateway's barberpro_service_up per instance: booking-1 $up_1_before then $up_1_after, booking-2 $up_2_after"
check '((created_after > 0 && reads_after > 0))' "bookings and reads kept succeeding after the kill"
check '((calls_2_after > 0 && calls_2_after >= created_after))' \
    "the surviving instance served every booking created after the kill ($calls_2_after >= $created_after)"
check '((failed + socket_errors <= CONNS))' "failures ($failed + $socket_errors) within the requests in flight ($CONNS)"
check '((stray == 0))' "no failure before the kill's second or more than 2 s after it ($stray)"
check '((odd == 0))' "every failure is a 502/503/504 ($odd others)"
check '((conflicts == 0))' "no request met its own slot taken (409: $conflicts)"
check '((overlaps == 0))' "no two live bookings of a barber overlap ($overlaps)"
check '((dup_keys == 0 && dup_answers == 0))' "each request has at most one booking and one answer ($dup_keys, $dup_answers)"
check '((wrk_created == created))' "wrk's count of 201s matches its answer log ($wrk_created, $created)"
check '((missing == 0))' "every 201 is a booking in the database ($missing missing)"
check '((db_run == created + lost_reply + unanswered))' \
    "database bookings = 201s + replies lost at the kill + requests cut at the end ($db_run = $created + $lost_reply + $unanswered)"
check '((lost_reply <= failed))' "replies lost at the kill within the failures ($lost_reply <= $failed)"
check '((retry_bad == 0 && retry_same == lost_reply))' \
    "each failed booking, retried with its Idempotency-Key, answered 201: $retry_same with the booking its lost reply had made, $retry_new made now"
check '((dup_after == 0))' "after the retries still one booking per request ($dup_after with two)"
check '((unanswered <= CONNS && unanswered_early == 0))' \
    "requests never answered: at most one per connection, all at wrk's end ($unanswered <= $CONNS, $unanswered_early more than 3 s before)"
((bad == 0)) || bp_die "scale-out checks failed"
bp_log "scale-out test passed"
