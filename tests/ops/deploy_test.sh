#!/usr/bin/env bash
# Zero-downtime deploys (issue 9): scripts/deploy-production.sh run for real
# on this machine, against two local copies of the suite (slots blue and
# green, each the six release binaries of $BP_OPS_BIN_DIR, both on the
# shared BP_OPS_DATABASE_URL and BP_OPS_REDIS_URL) behind a private nginx.
#
# systemd is not PID 1 here, so the deploy's service manager is
# tests/ops/deploy/svcmgr.sh, which starts a slot's processes from the real
# unit files of compose/systemd (ExecStart=, EnvironmentFile=) with the host
# paths mapped into this test's folder. nginx is the real one, its own
# master on a free port, with compose/nginx/http.conf and server.conf copied
# beside tests/ops/deploy/nginx.conf and changed only where a host path or
# port cannot work here: the listen port, the access log, the uploads cache
# folder, the /etc/nginx/barberpro/ includes, and the rate of the `api`
# zone (10 r/s per client address in production; every request of this test
# comes from 127.0.0.1, so it is raised to 100000 r/s: the override is a sed
# on the copy that must match, never an edit of compose/nginx).
#
# The checks:
#  1. a first `production` deploy starts blue and points nginx at it;
#  2. a second deploy (green) under load (wrk through nginx on GET
#     /api/shops): no socket error, no answer other than 2xx, and afterwards
#     the traffic is on green, seen in each slot's own request counter
#     (http_requests_total on its /api/metrics): green's grows, blue's stops;
#  3. `rollback` under load: traffic back on blue, which had kept running
#     (same processes), again without an error;
#  4. `--dry-run` (production, rollback, staging) prints the steps and
#     changes no file and no process; staging refuses settings that would
#     inherit production's;
#  5. a release whose gateway exits at once fails its health check: the
#     deploy fails, nginx still serves blue, green has its release back;
#  6. `rollback --stop-old-after 0` switches to green and stops blue once
#     nginx's old workers are done (`status` shows it), and a rollback onto
#     the stopped blue starts it before switching.
# The wrk figures (requests, errors, p50/p99) are printed.
set -euo pipefail

BP_SCRIPT=deploy_test
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

: "${BP_OPS_TMP:?run by scripts/test.sh (make test BP_TEST_ONLY=deploy_test)}"
: "${BP_OPS_BIN_DIR:?}" "${BP_OPS_DATABASE_URL:?}" "${BP_OPS_REDIS_URL:?}"
T=$BP_OPS_TMP
HERE=$REPO/tests/ops/deploy
DEPLOY=$REPO/scripts/deploy-production.sh
# wrk runs from before a switch until the new slot has served this many of
# its requests (then the test stops it with SIGINT, and wrk prints its
# summary), so that the load covers the whole deploy however long the
# machine makes it.
LOAD_AFTER_SWITCH=${BP_DEPLOY_TEST_LOAD_AFTER:-2000}
# Two clients at once. The main one sends "Connection: close": each request
# on a new connection, so the reload must cost nothing at all (0 socket
# errors, 0 non-2xx). The keep-alive one shows what a client that reuses
# connections sees: nginx's old workers close their idle keep-alive
# connections when they stop, and a request the client had just written on
# one fails (HTTP clients retry those; wrk counts a read error). That can
# happen at most once per connection and reload, never as a non-2xx.
WRK_CONNECTIONS=4
WRK_KEEPALIVE_CONNECTIONS=2
for tool in nginx wrk curl flock; do
    command -v "$tool" >/dev/null 2>&1 || bp_die "$tool is needed"
done

checks=0
ok() {
    checks=$((checks + 1))
    echo "ok $checks - $*"
}
fail() {
    echo "FAIL - $*" >&2
    exit 1
}

# ---- cleanup: every process this test started ------------------------------------------
WRK_PIDS=()
on_exit() {
    local rc=$?
    trap - EXIT
    set +e
    ((${#WRK_PIDS[@]})) && bp_stop_pids 5 "${WRK_PIDS[@]}" >/dev/null 2>&1
    local slot
    for slot in blue green; do
        [[ -d $T/svc/$slot ]] && "$HERE/svcmgr.sh" stop "barberpro@$slot.target" >/dev/null 2>&1
    done
    # Whatever the stand-in left (it should leave nothing).
    local pids=() f pid
    for f in "$T"/svc/*/*.pid; do
        [[ -e $f ]] || continue
        pid=$(<"$f")
        bp_alive "$pid" && pids+=("$pid")
    done
    ((${#pids[@]})) && bp_stop_pids 10 "${pids[@]}"
    pid=$(cat "$T/nginx/nginx.pid" 2>/dev/null)
    if [[ -n $pid ]] && bp_alive "$pid"; then
        kill -QUIT "$pid" 2>/dev/null
        bp_wait_exit 10 "$pid" || kill -KILL "$pid" 2>/dev/null
    fi
    if ((rc != 0)); then
        echo "---- diagnostics (the test failed)" >&2
        for f in "$T"/svc/*/*.log "$T/nginx/logs/error.log"; do
            [[ -s $f ]] || continue
            echo "---- last lines of ${f#"$T"/}" >&2
            tail -n 8 "$f" >&2
        done
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- the host, in $T ---------------------------------------------------------------
{ read -r BLUE_PORT && read -r GREEN_PORT && read -r NGINX_PORT && read -r NOWHERE_PORT; } < <(bp_free_ports 4)

mkdir -p "$T/opt" "$T/etc" "$T/state" "$T/run" "$T/svc" "$T/uploads" "$T/backups" "$T/releases" \
    "$T/nginx/conf" "$T/nginx/logs" "$T/nginx/temp" "$T/nginx/cache"

export DEPLOY_ROOT=$T/opt DEPLOY_ETC=$T/etc DEPLOY_STATE_DIR=$T/state DEPLOY_RUN_ROOT=$T/run
export DEPLOY_BLUE_PORT=$BLUE_PORT DEPLOY_GREEN_PORT=$GREEN_PORT
export DEPLOY_SERVICE_MANAGER=$HERE/svcmgr.sh SVCMGR_STATE=$T/svc
export DEPLOY_NGINX=nginx DEPLOY_NGINX_PREFIX=$T/nginx/ DEPLOY_NGINX_CONF=$T/nginx/conf/nginx.conf
export DEPLOY_NGINX_PID=$T/nginx/nginx.pid DEPLOY_NGINX_UPSTREAM=$T/nginx/conf/upstream.conf
export DEPLOY_HEALTH_TIMEOUT=60
unset DRY_RUN DEPLOY_RELEASE DEPLOY_VERSION DEPLOY_STOP_OLD_AFTER

# The shared settings (/etc/barberpro/env): the test's data stores and the
# harness's secrets and stand-ins. The slots' rate limits are the harness's
# (very high: all the load comes from one address); LOG_LEVEL=warn keeps the
# gateways' access log out of the measured work.
{
    echo "# /etc/barberpro/env of tests/ops/deploy_test.sh"
    echo "DATABASE_URL=$BP_OPS_DATABASE_URL"
    echo "REDIS_URL=$BP_OPS_REDIS_URL"
    echo "JWT_SECRET=${JWT_SECRET:-deploy-test-only-jwt-secret-0123456789ab}"
    echo "BCRYPT_SALT_ROUNDS=4"
    echo "LOG_LEVEL=warn"
    echo "TRUSTED_PROXIES=127.0.0.1"
    echo "PUBLIC_BASE_URL=http://127.0.0.1:$NGINX_PORT"
    echo "UPLOAD_DIR=$T/uploads"
    echo "BACKUP_LOCAL_DIR=$T/backups"
    echo "RATE_LIMIT_MAX_REQUESTS=${RATE_LIMIT_MAX_REQUESTS:-1000000}"
    echo "RATE_LIMIT_AUTH_MAX=${RATE_LIMIT_AUTH_MAX:-1000000}"
    echo "RATE_LIMIT_BOOKING_MAX=${RATE_LIMIT_BOOKING_MAX:-1000000}"
    echo "RATE_LIMIT_PAYMENTS_MAX=${RATE_LIMIT_PAYMENTS_MAX:-1000000}"
    for v in EXCHANGE_RATE_URL MERCADOPAGO_API_URL MERCADOPAGO_ACCESS_TOKEN \
        MERCADOPAGO_WEBHOOK_SECRET WHATSAPP_API_URL WHATSAPP_TOKEN WHATSAPP_PHONE_NUMBER_ID \
        WHATSAPP_APP_SECRET WHATSAPP_WEBHOOK_VERIFY_TOKEN TWILIO_API_URL TWILIO_ACCOUNT_SID \
        TWILIO_AUTH_TOKEN TWILIO_FROM SENDGRID_API_URL SENDGRID_API_KEY FROM_EMAIL PG_BIN; do
        [[ -n ${!v:-} ]] && echo "$v=${!v}"
    done
} >"$T/etc/env"
chmod 600 "$T/etc/env"
# Staging's own settings (checked in dry runs only): the same keys, another
# Redis database.
sed -e 's|^REDIS_URL=.*|REDIS_URL=unix:///nonexistent/staging.sock|' \
    -e 's|^# /etc/barberpro/env|# /etc/barberpro/staging.env|' "$T/etc/env" >"$T/etc/staging.env"

# Three releases: r1 as a folder, r2 as a tarball, and a broken one whose
# gateway exits at once (its `health` command is the real one).
make_release() {
    local dir=$T/releases/$1 p
    mkdir -p "$dir/bin"
    for p in gateway auth booking payment notification backup; do
        cp "$BP_OPS_BIN_DIR/barberpro-$p" "$dir/bin/"
    done
    echo "$1" >"$dir/VERSION"
}
make_release r1
make_release r2
tar -czf "$T/releases/r2.tar.gz" -C "$T/releases/r2" .
make_release r3-broken
mv "$T/releases/r3-broken/bin/barberpro-gateway" "$T/releases/r3-broken/bin/barberpro-gateway.real"
cat >"$T/releases/r3-broken/bin/barberpro-gateway" <<'EOF'
#!/bin/sh
# A broken release (tests/ops/deploy_test.sh): the gateway exits at start.
if [ "${1:-}" = health ]; then exec "$(dirname "$0")/barberpro-gateway.real" health; fi
echo "barberpro-gateway: simulated crash at start" >&2
exit 1
EOF
chmod +x "$T/releases/r3-broken/bin/barberpro-gateway"

# ---- nginx ---------------------------------------------------------------------------
# adapt <file> <sed expression> <what must match>...: copies
# compose/nginx/<file> beside the main file with the changes; each pattern
# must be found in the original, so that a change in compose/nginx that
# this adaptation no longer fits fails here instead of being tested wrong.
adapt() {
    local file=$1 expr=$2 pattern
    shift 2
    for pattern in "$@"; do
        grep -qE -- "$pattern" "$REPO/compose/nginx/$file" ||
            fail "compose/nginx/$file no longer has '$pattern': update the test's adaptation"
    done
    sed -E "$expr" "$REPO/compose/nginx/$file" >"$T/nginx/conf/$file"
}
C=$T/nginx/conf
adapt http.conf "s|/etc/nginx/barberpro/|$C/|g
s|proxy_cache_path /var/lib/nginx/barberpro-uploads|proxy_cache_path $T/nginx/cache/barberpro-uploads|
s|(limit_req_zone [$]binary_remote_addr zone=api:10m) rate=10r/s;|\\1 rate=100000r/s;|" \
    'proxy_cache_path /var/lib/nginx/barberpro-uploads' \
    'limit_req_zone [$]binary_remote_addr zone=api:10m rate=10r/s;'
adapt server.conf "s|listen 80 default_server;|listen 127.0.0.1:$NGINX_PORT default_server;|
s|access_log /var/log/nginx/access.log |access_log $T/nginx/logs/access.log |
s|/etc/nginx/barberpro/|$C/|g" \
    'listen 80 default_server;' 'access_log /var/log/nginx/access.log barberpro;'
if grep -nE '^[^#]*(/etc/nginx/barberpro|/var/(log|lib)/nginx|listen +80)' "$C/http.conf" "$C/server.conf"; then
    fail "a host path or port is left in the adapted nginx files (above)"
fi
cp "$HERE/nginx.conf" "$C/nginx.conf"
# Before the first deploy the host's nginx runs with a first upstream of its own
# (no deploy marker: no slot is live).
printf 'upstream barberpro_gateway {\n    server 127.0.0.1:%s;\n}\n' "$NOWHERE_PORT" >"$C/upstream.conf"
nginx -p "$T/nginx/" -c "$C/nginx.conf" -t -q || fail "nginx -t on the test's configuration"
nginx -p "$T/nginx/" -c "$C/nginx.conf" </dev/null
NGINX=http://127.0.0.1:$NGINX_PORT
for ((i = 0; i < 100; i++)); do
    [[ $(bp_http_status "$NGINX/") != 000 ]] && break
    sleep 0.1
done
[[ $(bp_http_status "$NGINX/api/health") == 502 ]] || fail "nginx with the hand-written first upstream should answer 502"
ok "nginx (master $(<"$T/nginx/nginx.pid")) on port $NGINX_PORT with compose/nginx/http.conf and server.conf"

# ---- helpers -------------------------------------------------------------------------
# route_count <port> <route>: the requests a gateway has counted for a route
# (http_requests_total, every method and status), from its own /api/metrics.
route_count() {
    curl -sf --max-time 5 "http://127.0.0.1:$1/api/metrics" |
        awk -v r="route=\"$2\"" '/^http_requests_total\{/ && index($0, r) { n += $NF } END { printf "%d\n", n }'
}
# wait_for <seconds> <description> <command>...: until the command succeeds.
wait_for() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + secs))
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for $what"
        sleep 0.2
    done
}
count_above() { (($(route_count "$1" "$2") > $3)); }
# note_workers: remembers nginx's worker processes before a switch;
# old_workers_gone: true once all of them have finished their requests and
# exited (a reload only asks them to).
note_workers() { mapfile -t NOTED_WORKERS < <(pgrep -P "$(<"$T/nginx/nginx.pid")"); }
old_workers_gone() {
    local pid
    for pid in "${NOTED_WORKERS[@]}"; do
        bp_alive "$pid" && return 1
    done
    return 0
}
live_in_state() { [[ $(cat "$T/state/production/live" 2>/dev/null) == "$1" ]]; }
slot_pid() { cat "$T/svc/$1/$2.pid" 2>/dev/null; }
deploy() { "$DEPLOY" "$@"; }

start_load() { # start_load <name>: both clients, until stop_load
    wrk -t 1 -c "$WRK_CONNECTIONS" -d 600s --timeout 5s -s "$HERE/count.lua" -H 'Connection: close' \
        "$NGINX/api/shops?limit=5" >"$T/wrk-$1.txt" 2>&1 &
    WRK_PIDS=($!)
    wrk -t 1 -c "$WRK_KEEPALIVE_CONNECTIONS" -d 600s --timeout 5s -s "$HERE/count.lua" \
        "$NGINX/api/shops?limit=5" >"$T/wrk-$1-keepalive.txt" 2>&1 &
    WRK_PIDS+=($!)
}
load_running() { bp_alive "${WRK_PIDS[0]}" && bp_alive "${WRK_PIDS[1]}"; }
stop_load() { # stop_load <name>
    load_running || fail "wrk stopped before the test stopped it: $(cat "$T/wrk-$1"*.txt)"
    kill -INT "${WRK_PIDS[@]}"
    local pid
    for pid in "${WRK_PIDS[@]}"; do
        wait "$pid" || fail "wrk failed: $(cat "$T/wrk-$1"*.txt)"
    done
    WRK_PIDS=()
}
# wrk_figures <file>: wrk's summary line into the array F.
wrk_figures() {
    local line kv
    line=$(grep '^WRK ' "$1") || {
        cat "$1" >&2
        fail "no summary from wrk in $1"
    }
    F=()
    for kv in ${line#WRK }; do F[${kv%%=*}]=${kv#*=}; done
    echo "    wrk $(basename "$1" .txt): ${line#WRK }"
}
# check_load <name> <what>: prints both clients' figures and checks them;
# sets LOAD_REQUESTS (both clients' requests) and LOAD_ERRORS (the
# keep-alive client's read errors).
check_load() {
    local name=$1 what=$2
    local -A F
    wrk_figures "$T/wrk-$name.txt"
    ((F[requests] > 0)) || fail "$what: wrk made no request"
    ((F[connect] + F[read] + F[write] + F[timeout] == 0)) ||
        fail "$what: wrk saw socket errors (connect ${F[connect]}, read ${F[read]}, write ${F[write]}, timeout ${F[timeout]})"
    ((F[non2xx] == 0)) || fail "$what: ${F[non2xx]} answers were not 2xx"
    ok "$what: ${F[requests]} requests through nginx, a new connection each, 0 socket errors, 0 non-2xx (p50 ${F[p50_ms]} ms, p99 ${F[p99_ms]} ms, ${F[rps]}/s)"
    LOAD_REQUESTS=${F[requests]}
    wrk_figures "$T/wrk-$name-keepalive.txt"
    ((F[requests] > 0 && F[non2xx] == 0)) || fail "$what (keep-alive): ${F[non2xx]} answers were not 2xx"
    # At a reload nginx's old workers close their idle keep-alive
    # connections; a request written at that instant is lost (HTTP clients
    # retry it, wrk counts a read error). A connection can meet this twice:
    # until the master tells the old workers to quit, they still accept, so
    # the connection wrk opens again may land on one of them and be closed
    # once more. Nothing else may fail.
    ((F[connect] + F[write] + F[timeout] == 0 && F[read] <= 2 * WRK_KEEPALIVE_CONNECTIONS)) ||
        fail "$what (keep-alive): more socket errors (${F[read]} read) than two closed idle connections per connection"
    ok "$what, keep-alive client: ${F[requests]} requests, 0 non-2xx, ${F[read]} idle connection(s) closed by the reload (at most two per connection; p99 ${F[p99_ms]} ms)"
    LOAD_REQUESTS=$((LOAD_REQUESTS + F[requests]))
    LOAD_ERRORS=${F[read]}
}
# check_counted <served>: the requests the gateways counted against wrk's:
# every completed one, plus at most one in flight per connection when wrk
# stopped and the ones lost with a closed keep-alive connection (which may
# or may not have reached a gateway). More would be a request sent twice.
check_counted() {
    local served=$1 most=$((LOAD_REQUESTS + WRK_CONNECTIONS + WRK_KEEPALIVE_CONNECTIONS + LOAD_ERRORS))
    ((served >= LOAD_REQUESTS && served <= most)) ||
        fail "the gateways counted $served requests, wrk $LOAD_REQUESTS completed (at most $most expected)"
}

# ---- 1. first deploy: blue ------------------------------------------------------------
started=$SECONDS
deploy --release "$T/releases/r1" production >"$T/deploy-1.log" 2>&1 || {
    cat "$T/deploy-1.log" >&2
    fail "first production deploy"
}
ok "first deploy: blue (release r1) in $((SECONDS - started)) s"
{ grep -q 'live-slot=blue release=r1' "$C/upstream.conf" && grep -q "server 127.0.0.1:$BLUE_PORT;" "$C/upstream.conf"; } ||
    fail "upstream.conf does not point at blue: $(cat "$C/upstream.conf")"
live_in_state blue || fail "the state does not record blue as live"
{ grep -qx "PORT=$BLUE_PORT" "$T/etc/slot-blue.env" && grep -qx "BARBERPRO_RUN_DIR=$T/run/blue" "$T/etc/slot-blue.env" &&
    grep -qx 'BARBERPRO_RELEASE=r1' "$T/etc/slot-blue.env"; } || fail "slot-blue.env: $(cat "$T/etc/slot-blue.env")"
[[ $(bp_http_status "$NGINX/api/health") == 200 ]] || fail "GET /api/health through nginx after the first deploy"
[[ -S $T/run/blue/booking.ipc ]] || fail "blue's bus sockets are not in its own run folder"
"$HERE/svcmgr.sh" is-active --quiet barberpro@green.target && fail "green runs after the first deploy"
"$HERE/svcmgr.sh" is-enabled --quiet barberpro@blue.target || fail "blue is not enabled (it would not start at boot)"
ok "nginx serves blue: upstream.conf, slot-blue.env (PORT, BARBERPRO_RUN_DIR, BARBERPRO_RELEASE), state agree; blue enabled at boot"
BLUE_GATEWAY_PID=$(slot_pid blue gateway)

# follow_switch <load> <what> <old slot> <its port> <its count before the
# load> <new slot> <its port> <its count before>: once the deploy or
# rollback has switched nginx under the load started by start_load <load>,
# waits for nginx's old workers, lets the new slot serve LOAD_AFTER_SWITCH
# more requests, stops the load and checks it (check_load), then checks
# that the old slot's GET /api/shops count stopped at the switch, the new
# one's grew, and the gateways counted what wrk completed (check_counted;
# less the one smoke test on the new slot). Sets SERVED.
follow_switch() {
    local load=$1 what=$2 old=$3 old_port=$4 o0=$5 new=$6 new_port=$7 n0=$8 o1 n1 o2 n2
    wait_for 30 "nginx's old workers to finish" old_workers_gone
    o1=$(route_count "$old_port" /api/shops)
    n1=$(route_count "$new_port" /api/shops)
    wait_for 60 "$new to serve $LOAD_AFTER_SWITCH requests of the load" \
        count_above "$new_port" /api/shops $((n1 + LOAD_AFTER_SWITCH))
    stop_load "$load"
    o2=$(route_count "$old_port" /api/shops)
    n2=$(route_count "$new_port" /api/shops)
    check_load "$load" "$what"
    echo "    GET /api/shops counted by $old: $((o1 - o0)) before the switch, $((o2 - o1)) after; by $new: $((n2 - n0))"
    ((o2 == o1)) || fail "$old still got $((o2 - o1)) requests after the switch"
    ((n2 - n1 > 0)) || fail "$new got no request after the switch"
    SERVED=$((o2 - o0 + n2 - n0 - 1))
    check_counted "$SERVED"
}

# ---- 2. second deploy under load: green ----------------------------------------------------
b0=$(route_count "$BLUE_PORT" /api/shops)
g0=0
start_load deploy
wait_for 10 "the load to reach blue" count_above "$BLUE_PORT" /api/shops "$b0"
note_workers
started=$SECONDS
deploy --release "$T/releases/r2.tar.gz" production >"$T/deploy-2.log" 2>&1 || {
    cat "$T/deploy-2.log" >&2
    fail "second production deploy (under load)"
}
took=$((SECONDS - started))
load_running || fail "wrk stopped during the deploy: $(cat "$T"/wrk-deploy*.txt)"
ok "second deploy: green (release r2, from a tarball) in $took s, while wrk ran"
grep -q 'live-slot=green release=r2' "$C/upstream.conf" || fail "upstream.conf does not point at green"
follow_switch deploy "deploy under load" blue "$BLUE_PORT" "$b0" green "$GREEN_PORT" "$g0"
ok "traffic moved to green: blue's counter stopped, green's grew; none lost or sent twice ($SERVED counted by the gateways, $LOAD_REQUESTS completed by wrk)"
bp_alive "$BLUE_GATEWAY_PID" || fail "blue stopped: it should keep running for a rollback"
[[ -S $T/run/blue/booking.ipc && -S $T/run/green/booking.ipc ]] || fail "the slots' bus sockets"
ok "blue keeps running beside green, each on its own bus folder"

# ---- 3. rollback under load: blue ------------------------------------------------------------
b0=$(route_count "$BLUE_PORT" /api/shops)
g0=$(route_count "$GREEN_PORT" /api/shops)
start_load rollback
wait_for 10 "the load to reach green" count_above "$GREEN_PORT" /api/shops "$g0"
note_workers
started=$SECONDS
deploy rollback >"$T/rollback.log" 2>&1 || {
    cat "$T/rollback.log" >&2
    fail "rollback (under load)"
}
took=$((SECONDS - started))
load_running || fail "wrk stopped during the rollback: $(cat "$T"/wrk-rollback*.txt)"
grep -q 'live-slot=blue release=r1' "$C/upstream.conf" || fail "upstream.conf does not point at blue after the rollback"
live_in_state blue || fail "the state does not record blue as live after the rollback"
{ [[ $(slot_pid blue gateway) == "$BLUE_GATEWAY_PID" ]] && bp_alive "$BLUE_GATEWAY_PID"; } ||
    fail "blue's gateway is not the process that ran before (it should have kept running)"
ok "rollback in $took s: nginx on blue again, the same processes as before the second deploy"
follow_switch rollback "rollback under load" green "$GREEN_PORT" "$g0" blue "$BLUE_PORT" "$b0"
ok "traffic back on blue; none lost or sent twice ($SERVED counted by the gateways, $LOAD_REQUESTS completed by wrk)"

# ---- 4. dry runs change nothing ------------------------------------------------------------
snapshot() {
    (cd "$T" && find opt etc state nginx/conf run -printf '%y %p %s %m %T@\n' | sort)
    (cd "$T" && find opt etc state nginx/conf -type f -print0 | sort -z | xargs -0 sha256sum)
    local f
    for f in "$T"/svc/*/*.pid; do
        printf '%s %s %s\n' "${f#"$T"/}" "$(<"$f")" "$(bp_alive "$(<"$f")" && echo alive)"
    done
    pgrep -P "$(<"$T/nginx/nginx.pid")" | sort
}
before=$(snapshot)
DRY_RUN=1 deploy --release "$T/releases/r1" production >"$T/dry-deploy.log" 2>&1 || {
    cat "$T/dry-deploy.log" >&2
    fail "dry run of a production deploy"
}
deploy --dry-run rollback >"$T/dry-rollback.log" 2>&1 || {
    cat "$T/dry-rollback.log" >&2
    fail "dry run of a rollback"
}
(
    unset DEPLOY_BLUE_PORT DEPLOY_GREEN_PORT
    DEPLOY_NGINX_UPSTREAM=$C/upstream-staging.conf deploy --dry-run --release "$T/releases/r1" staging
) >"$T/dry-staging.log" 2>&1 || {
    cat "$T/dry-staging.log" >&2
    fail "dry run of a staging deploy"
}
after=$(snapshot)
[[ $before == "$after" ]] || {
    diff <(echo "$before") <(echo "$after") >&2 || true
    fail "a dry run changed files or processes (above)"
}
ok "three dry runs (production, rollback, staging): no file and no process changed"
expect_line() { # expect_line <log> <fixed string>...
    local log=$1 s
    shift
    for s in "$@"; do
        grep -qF -- "$s" "$log" || {
            cat "$log" >&2
            fail "$(basename "$log") does not show: $s"
        }
    done
}
expect_line "$T/dry-deploy.log" "live slot blue, deploying release r1 to slot green" \
    "svcmgr.sh stop barberpro@green.target" "+ write $T/etc/slot-green.env" "PORT=$GREEN_PORT" \
    "bin/barberpro-booking migrate" "svcmgr.sh start barberpro@green.target" \
    "barberpro-<svc> health" "curl http://127.0.0.1:$GREEN_PORT/api/shops?limit=1" \
    "+ write $C/upstream.conf" "server 127.0.0.1:$GREEN_PORT;" "-t -q" "-s reload" \
    "svcmgr.sh enable barberpro@green.target"
expect_line "$T/dry-rollback.log" "rolling back from slot blue (r1) to slot green (r2)" \
    "svcmgr.sh start barberpro@green.target" "server 127.0.0.1:$GREEN_PORT;" "-s reload"
expect_line "$T/dry-staging.log" "staging: live slot none, deploying release r1 to slot staging-blue (port 3100)" \
    "barberpro@staging-blue.target" "+ write $T/etc/slot-staging-blue.env" \
    "REDIS_URL=unix:///nonexistent/staging.sock" "BARBERPRO_RUN_DIR=$T/run/staging-blue" \
    "+ write $C/upstream-staging.conf" "upstream barberpro_gateway_staging {"
secret=${JWT_SECRET:-deploy-test-only-jwt-secret-0123456789ab}
if grep -qF -- "$secret" "$T"/dry-*.log; then
    fail "a dry run printed JWT_SECRET's value"
fi
expect_line "$T/dry-staging.log" "JWT_SECRET=<hidden>"
ok "the dry runs print each step: stop, install, env file (secrets hidden), migrate, start, health, smoke tests, upstream, nginx -t, reload"
grep -v '^JWT_SECRET=' "$T/etc/staging.env" >"$T/etc/staging.env.partial"
mv "$T/etc/staging.env" "$T/etc/staging.env.full"
mv "$T/etc/staging.env.partial" "$T/etc/staging.env"
if DEPLOY_NGINX_UPSTREAM=$C/upstream-staging.conf deploy --dry-run --release "$T/releases/r1" staging \
    >"$T/dry-staging-bad.log" 2>&1; then
    fail "staging settings without JWT_SECRET were accepted (staging would inherit production's)"
fi
expect_line "$T/dry-staging-bad.log" "or staging inherits production's: JWT_SECRET"
mv -f "$T/etc/staging.env.full" "$T/etc/staging.env"
ok "staging refuses settings that leave a production variable to inherit (JWT_SECRET)"

# ---- 5. a release that fails its health check ---------------------------------------------
upstream_before=$(sha256sum <"$C/upstream.conf")
started=$SECONDS
if deploy --release "$T/releases/r3-broken" --health-timeout 6 production >"$T/deploy-bad.log" 2>&1; then
    cat "$T/deploy-bad.log" >&2
    fail "a deploy whose gateway exits at once succeeded"
fi
expect_line "$T/deploy-bad.log" "deploy of r3-broken to green failed: health check" "nginx still serves blue"
ok "the broken release failed its health check after $((SECONDS - started)) s and the deploy said so"
[[ $(sha256sum <"$C/upstream.conf") == "$upstream_before" ]] || fail "upstream.conf changed"
live_in_state blue || fail "the state changed"
b0=$(route_count "$BLUE_PORT" /api/shops)
for ((i = 0; i < 5; i++)); do
    [[ $(bp_http_status "$NGINX/api/shops") == 200 ]] || fail "GET /api/shops through nginx after the failed deploy"
done
(($(route_count "$BLUE_PORT" /api/shops) == b0 + 5)) || fail "nginx does not serve blue after the failed deploy"
ok "nginx untouched: upstream.conf the same, requests still reach blue"
grep -q 'simulated crash' "$T/svc/green/gateway.log" || fail "the broken gateway did not run"
{ grep -qx 'release=r2' "$T/opt/slots/green/RELEASE" && grep -qx 'release=r3-broken' "$T/opt/slots/green.failed/RELEASE"; } ||
    fail "green does not have r2 back (the broken release should be in green.failed)"
grep -qx 'BARBERPRO_RELEASE=r2' "$T/etc/slot-green.env" || fail "slot-green.env is not r2's again"
"$HERE/svcmgr.sh" is-active --quiet barberpro@green.target || fail "green (r2) does not run again"
[[ $(bp_http_status "http://127.0.0.1:$GREEN_PORT/api/health") == 200 ]] || fail "green (r2) is not healthy"
ok "the half-started slot was stopped, and green runs its previous release (r2) again for a rollback"

# ---- 6. the decommission option, and a rollback onto a stopped slot ------------------------
# nginx_serves <slot>: five requests through nginx all reach that slot.
nginx_serves() {
    local port=$DEPLOY_BLUE_PORT n i
    [[ $1 == green ]] && port=$DEPLOY_GREEN_PORT
    n=$(route_count "$port" /api/shops)
    for ((i = 0; i < 5; i++)); do
        [[ $(bp_http_status "$NGINX/api/shops") == 200 ]] || return 1
    done
    (($(route_count "$port" /api/shops) == n + 5))
}
deploy --stop-old-after 0 rollback >"$T/rollback-stop.log" 2>&1 || {
    cat "$T/rollback-stop.log" >&2
    fail "rollback --stop-old-after 0"
}
expect_line "$T/rollback-stop.log" "rolling back from slot blue (r1) to slot green (r2)" "slot blue stopped"
{ live_in_state green && nginx_serves green; } || fail "nginx does not serve green after the rollback"
"$HERE/svcmgr.sh" is-active --quiet barberpro@blue.target && fail "blue still runs after --stop-old-after 0"
"$HERE/svcmgr.sh" is-enabled --quiet barberpro@blue.target && fail "the stopped blue is still enabled at boot"
"$HERE/svcmgr.sh" is-enabled --quiet barberpro@green.target || fail "the live green is not enabled at boot"
deploy status >"$T/status.log" 2>&1 || fail "status: $(cat "$T/status.log")"
expect_line "$T/status.log" "production: live slot green" "slot blue: port $BLUE_PORT, release r1, stopped"     "slot green: port $GREEN_PORT, release r2, running, live"
ok "rollback --stop-old-after 0: green (r2) live and enabled, blue stopped and disabled once nginx's old workers were done; status says so"
deploy rollback >"$T/rollback-start.log" 2>&1 || {
    cat "$T/rollback-start.log" >&2
    fail "rollback onto the stopped blue"
}
{ live_in_state blue && nginx_serves blue; } || fail "nginx does not serve blue after the second rollback"
{ [[ $(slot_pid blue gateway) != "$BLUE_GATEWAY_PID" ]] && bp_alive "$(slot_pid blue gateway)"; } ||
    fail "blue's gateway was not started again"
ok "rollback onto a stopped slot starts it, checks it, then switches: blue (r1) live again"

echo "deploy_test: $checks checks passed in $SECONDS s"
