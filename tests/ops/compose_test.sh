#!/usr/bin/env bash
# tests/ops/compose_test.sh: the container deployment (compose/) checked by
# the real tools, since no Docker engine runs here.
#
#  nginx     compose/nginx/ as it is, with only what cannot work outside a
#            container moved (include folder, temp/cache/log/pid paths,
#            listen ports, the gateways' names -> two local stand-ins), is
#            checked by `nginx -t` and then run: security headers, the
#            metrics endpoints closed, X-Forwarded-For and X-Request-Id as the
#            gateway gets them, gzip, both gateways used and a dead one
#            passed over, the auth and booking zones' 429s, webhooks not
#            limited, /uploads/ cached, the body limit, real_ip.conf.
#  compose   `docker-compose config` with only committed files: the example
#            .env fails on each missing secret, a generated one passes; the
#            rendered file's services, health checks, depends_on, mounts and
#            targets; every ${VAR} is in .env.example and every setting the
#            C code reads is passed in or deliberately left out (listed
#            below with reasons); every variable passed in is read by
#            something.
#  images    compose/Dockerfile against scripts/deps.sh, the libraries the
#            release binaries link (dpkg), apt's package names, and the
#            build context left by Dockerfile.dockerignore (make -n, and the
#            headers the release objects were built from).
#  redis     redis-server started on compose/redis/redis.conf: password,
#            CONFIG and FLUSHALL refused, memory, policy, persistence.
#  postgres  a throw-away PostgreSQL 15 on compose/postgres/postgresql.conf
#            and pg_hba.conf: every setting valid and in effect, the
#            first-start role script, who may connect, the daemons'
#            migrations as that role, and WAL archiving through
#            barberpro-backup wal-push.
#
# Run by `make test` (scripts/test.sh) with BP_OPS_TMP, BP_OPS_BIN_DIR...;
# also runnable alone: tests/ops/compose_test.sh (uses build/bin).

# "<condition> && ok ... || bad ...": ok always succeeds, so bad runs only
# when the condition fails.
# shellcheck disable=SC2015
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
# shellcheck disable=SC2034 # bp_log's prefix
BP_SCRIPT=compose_test
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

BIN=${BP_OPS_BIN_DIR:-$REPO/build/bin}
OWN_TMP=
if [[ -n ${BP_OPS_TMP:-} ]]; then
    WORK=$BP_OPS_TMP
else
    WORK=$(mktemp -d /tmp/bp-compose-test.XXXXXX)
    OWN_TMP=$WORK
fi
mkdir -p "$WORK"
for b in gateway auth booking payment notification backup; do
    [[ -x $BIN/barberpro-$b ]] || bp_die "$BIN/barberpro-$b is missing (make BUILD=... first)"
done

# ---- bookkeeping ------------------------------------------------------------
failures=0
checks=0
ok() {
    checks=$((checks + 1))
    printf 'compose_test: ok    %s\n' "$*"
}
bad() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    printf 'compose_test: FAIL  %s\n' "$*"
}
section() { printf '\ncompose_test: ---- %s (at %ds)\n' "$*" "$SECONDS"; }


PIDS=()
NGX_DIR=
NGX_CONF=
PG_DATA=
PG_BIN=
PG_SOCK=
cleanup() {
    set +e
    trap - ERR
    if [[ -n $NGX_CONF && -s $NGX_DIR/nginx.pid ]]; then
        nginx -c "$NGX_CONF" -e "$NGX_DIR/log/error.log" -s stop 2>/dev/null
    fi
    if [[ -n $PG_DATA ]]; then
        bp_as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 20 stop >/dev/null 2>&1
    fi
    ((${#PIDS[@]})) && bp_stop_pids 10 "${PIDS[@]}" >/dev/null 2>&1
    [[ -n $NGX_DIR ]] && rm -rf "$NGX_DIR"
    [[ -n $PG_SOCK ]] && rm -rf "$PG_SOCK"
    [[ -n $OWN_TMP ]] && rm -rf "$OWN_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A command that fails outside a check stops the test (set -e): say which.
set -E
trap 'echo "compose_test: stopped: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR

# The services of compose/docker-compose.yml, and the daemons among them.
SERVICES=(postgres redis auth booking payment notification backup gateway-1 gateway-2 nginx
    prometheus grafana)
DAEMONS=(auth booking payment notification backup)

# =============================================================================
section "nginx: compose/nginx/ under nginx $(nginx -v 2>&1 | sed 's/.*nginx\///')"
# The worker processes (www-data when this runs as root, as in the
# container) write the cache and temporary files: a folder they can reach.
NGX_DIR=$(mktemp -d /tmp/bp-compose-nginx.XXXXXX)
chmod 755 "$NGX_DIR"
mkdir -p "$NGX_DIR/conf" "$NGX_DIR/lib" "$NGX_DIR/log" "$NGX_DIR/standin"
mapfile -t ports < <(bp_free_ports 4)
NGX_PORT=${ports[0]} NGX_STATUS_PORT=${ports[1]} UP1_PORT=${ports[2]} UP2_PORT=${ports[3]}
for f in nginx.conf http.conf upstream.conf server.conf; do
    cp "compose/nginx/$f" "$NGX_DIR/conf/$f"
done
# Only the paths, ports and names a container provides; each substitution
# must apply (a missing one means the files changed under this test).
rewrite() {
    local file=$1 from=$2 to=$3
    if ! grep -qF -- "$from" "$file"; then
        bad "nginx: '$from' not found in $(basename "$file") (the test's rewrite list is stale)"
        return
    fi
    local esc_from esc_to
    esc_from=$(printf '%s' "$from" | sed 's/[][\/.*^$]/\\&/g')
    esc_to=$(printf '%s' "$to" | sed 's/[\/&]/\\&/g')
    sed -i "s/$esc_from/$esc_to/g" "$file"
}
C=$NGX_DIR/conf
for f in nginx.conf http.conf server.conf; do
    grep -qF /etc/nginx/barberpro/ "$C/$f" && rewrite "$C/$f" /etc/nginx/barberpro/ "$C/"
done
rewrite "$C/nginx.conf" /var/lib/nginx "$NGX_DIR/lib"
rewrite "$C/http.conf" /var/lib/nginx "$NGX_DIR/lib"
rewrite "$C/nginx.conf" /var/log/nginx "$NGX_DIR/log"
rewrite "$C/server.conf" /var/log/nginx "$NGX_DIR/log"
rewrite "$C/nginx.conf" /run/nginx.pid "$NGX_DIR/nginx.pid"
rewrite "$C/nginx.conf" 127.0.0.1:8081 "127.0.0.1:$NGX_STATUS_PORT"
rewrite "$C/server.conf" "listen 80 " "listen 127.0.0.1:$NGX_PORT "
rewrite "$C/upstream.conf" gateway-1:3000 "127.0.0.1:$UP1_PORT"
rewrite "$C/upstream.conf" gateway-2:3000 "127.0.0.1:$UP2_PORT"
NGX_CONF=$C/nginx.conf

if out=$(nginx -t -c "$NGX_CONF" -e "$NGX_DIR/log/error.log" 2>&1); then
    ok "nginx -t: compose/nginx/nginx.conf with http.conf, upstream.conf, server.conf"
else
    bad "nginx -t failed: $out"
fi

# The stand-in gateways: each logs what it received (method, path, the
# X-Forwarded-For and X-Request-Id it got) and answers like the gateway
# would for the paths the checks use.
cat >"$NGX_DIR/standin/standin.py" <<'PY'
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

name, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
big = json.dumps({"shops": [{"id": i, "name": "Barbería %d" % i, "city": "CABA",
                             "services": ["corte", "barba", "color"]} for i in range(300)]})

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: without this, Nagle and delayed ACKs
    # cost 40 ms per request.
    disable_nagle_algorithm = True
    def log_message(self, *a):
        pass
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        xff = self.headers.get("X-Forwarded-For", "")
        rid = self.headers.get("X-Request-Id", "")
        with lock, open(log_path, "a") as f:
            f.write("%s %s xff=%s rid=%s\n" % (self.command, self.path, xff or "-", rid or "-"))
        ctype, extra = "application/json", {}
        if self.path.startswith("/uploads/"):
            body, ctype = b"\xff\xd8\xff\xe0" + b"JPEGDATA" * 512, "image/jpeg"
            extra["Cache-Control"] = "public, max-age=604800, immutable"
        elif self.path == "/api/shops":
            body = big.encode()
        else:
            body = json.dumps({"backend": name, "path": self.path, "xff": xff,
                               "request_id": rid}).encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Stand-In", name)
        for k, v in extra.items():
            self.send_header(k, v)
        # The gateway's own copies, which nginx must replace (sent once).
        self.send_header("X-Frame-Options", "SAMEORIGIN")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_DELETE = handle_any

ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
python3 "$NGX_DIR/standin/standin.py" gw1 "$UP1_PORT" "$NGX_DIR/standin/gw1.log" &
UP1_PID=$!
PIDS+=("$UP1_PID")
python3 "$NGX_DIR/standin/standin.py" gw2 "$UP2_PORT" "$NGX_DIR/standin/gw2.log" &
UP2_PID=$!
PIDS+=("$UP2_PID")
: >"$NGX_DIR/standin/gw1.log"
: >"$NGX_DIR/standin/gw2.log"
bp_wait_health "http://127.0.0.1:$UP1_PORT/ready" 20 "$UP1_PID" || bp_die "stand-in 1 did not start"
bp_wait_health "http://127.0.0.1:$UP2_PORT/ready" 20 "$UP2_PID" || bp_die "stand-in 2 did not start"

nginx -c "$NGX_CONF" -e "$NGX_DIR/log/error.log" -g 'daemon off;' &
NGX_PID=$!
PIDS+=("$NGX_PID")
if ! bp_wait_health "http://127.0.0.1:$NGX_STATUS_PORT/nginx-health" 20 "$NGX_PID"; then
    tail -n 20 "$NGX_DIR/log/error.log" >&2 || true
    bp_die "nginx did not start"
fi
ok "nginx runs on the configuration; the container's health URL answers 200"

BASE=http://127.0.0.1:$NGX_PORT
# curl from its own loopback source address, so that each check has its own
# rate-limit buckets (nginx keys on the client address).
req() {
    local src=$1
    shift
    curl -s --max-time 10 --interface "$src" "$@" || true
}
status_of() {
    local src=$1
    shift
    curl -s --max-time 10 --interface "$src" -o /dev/null -w '%{http_code}' "$@" || true
}
# burst <src> <count> <url> [curl options]: the statuses of <count> requests
# made by one curl process over one kept-alive connection, one per line: a
# burst fast enough for the rate limits whatever the machine's load.
burst() {
    local src=$1 n=$2 url=$3 i
    shift 3
    local urls=()
    for ((i = 1; i <= n; i++)); do urls+=(-o /dev/null "$url"); done
    curl -s --max-time 60 --interface "$src" -w '%{http_code}\n' "$@" "${urls[@]}" || true
}
# pburst: the same, all at once (curl --parallel), so that nginx sees them
# within milliseconds even when the upstream is slow; one "<method> <path>
# <status>" line per request, in the order they finished.
pburst() {
    local src=$1 n=$2 url=$3 i
    shift 3
    local urls=()
    for ((i = 1; i <= n; i++)); do urls+=(-o /dev/null "$url"); done
    curl -s --no-progress-meter -Z --parallel-max 64 --max-time 60 --interface "$src" \
        -w '%{method} %{url_effective} %{http_code}\n' "$@" "${urls[@]}" | sed "s#$BASE##" || true
}
# zone_passes <passed> <burst> <ms per request> <elapsed ms>: true when nginx
# let through the burst and the first request, plus at most what the rate
# refilled while the requests took <elapsed ms> (a loaded machine is slow).
zone_passes() { (($1 >= $2 + 1 && $1 <= $2 + 1 + $4 / $3)); }
# ms_since <$EPOCHREALTIME of the start>: milliseconds since then.
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
# The lines of $1 on one line.
oneline() { tr '\n' ' ' <<<"$1" | sed 's/ *$//'; }
count_of() { grep -c "$1\$" || true; }
# A string field of the stand-in's JSON answer.
field() { sed -nE "s/.*\"$1\": \"([^\"]*)\".*/\1/p" <<<"$2"; }
# How many lines of a stand-in's log match a pattern.
seen() { grep -c -- "$2" "$NGX_DIR/standin/$1.log" || true; }

# --- security headers, on answers and on nginx's own errors
hdr=$(req 127.0.0.2 -D - -o /dev/null "$BASE/api/health")
want_headers=(
    "X-Frame-Options: DENY"
    "X-Content-Type-Options: nosniff"
    "X-XSS-Protection: 1; mode=block"
    "Strict-Transport-Security: max-age=31536000; includeSubDomains"
    "Referrer-Policy: no-referrer"
)
missing=()
for h in "${want_headers[@]}"; do
    name=${h%%:*}
    n=$(grep -ciE "^$name:" <<<"$hdr" || true)
    grep -qiF "$h" <<<"$hdr" && ((n == 1)) || missing+=("$h (seen $n times)")
done
if ((${#missing[@]} == 0)); then
    ok "security headers, each once (the gateway's SAMEORIGIN replaced by DENY): ${#want_headers[@]} headers"
else
    bad "security headers wrong: ${missing[*]}"
fi
hdr404=$(req 127.0.0.2 -D - -o /dev/null "$BASE/nothing-here")
if grep -q "^HTTP/1.1 404" <<<"$hdr404" && grep -qi "^X-Frame-Options: DENY" <<<"$hdr404"; then
    ok "paths outside /api, /status, /uploads: 404 from nginx, with the security headers"
else
    bad "GET /nothing-here: $(head -n1 <<<"$hdr404")"
fi

# --- operations endpoints closed on the public side
m=$(status_of 127.0.0.2 "$BASE/api/metrics")
bm=$(status_of 127.0.0.2 "$BASE/api/business-metrics")
m2=$(status_of 127.0.0.2 "$BASE/api//metrics?x=1")
if [[ $m == 404 && $bm == 404 && $m2 == 404 ]] && (($(seen gw1 metrics) + $(seen gw2 metrics) == 0)); then
    ok "/api/metrics, /api/business-metrics (and /api//metrics?x=1): 404, never proxied"
else
    bad "metrics endpoints: $m $bm $m2; stand-ins saw $(($(seen gw1 metrics) + $(seen gw2 metrics))) requests"
fi

# --- X-Forwarded-For and X-Request-Id as the gateway receives them
body=$(req 127.0.0.3 -H 'X-Forwarded-For: 6.6.6.6, 7.7.7.7' -H 'X-Request-Id: ops-check-1' "$BASE/api/whoami")
xff=$(field xff "$body")
rid=$(field request_id "$body")
if [[ $xff == 127.0.0.3 && $rid == ops-check-1 ]]; then
    ok "X-Forwarded-For reaches the gateway as nginx's view of the client only ('$xff'; the client's 6.6.6.6, 7.7.7.7 dropped); X-Request-Id passed"
else
    bad "X-Forwarded-For/X-Request-Id at the gateway: '$xff' '$rid' (want 127.0.0.3, ops-check-1)"
fi
body=$(req 127.0.0.3 "$BASE/api/whoami")
rid=$(field request_id "$body")
if [[ $rid =~ ^[0-9a-f]{32}$ ]]; then
    ok "a request without X-Request-Id gets nginx's own ($rid)"
else
    bad "X-Request-Id made by nginx: '$rid'"
fi

# --- gzip for JSON
plain=$(req 127.0.0.4 -o "$NGX_DIR/plain.json" -w '%{size_download}' "$BASE/api/shops")
gz_hdr=$(req 127.0.0.4 -H 'Accept-Encoding: gzip' -D - -o "$NGX_DIR/shops.gz" "$BASE/api/shops")
gz_size=$(stat -c %s "$NGX_DIR/shops.gz")
small_hdr=$(req 127.0.0.4 -H 'Accept-Encoding: gzip' -D - -o /dev/null "$BASE/api/small")
if grep -qi '^Content-Encoding: gzip' <<<"$gz_hdr" && grep -qi '^Vary: Accept-Encoding' <<<"$gz_hdr" &&
    gunzip -c "$NGX_DIR/shops.gz" | cmp -s - "$NGX_DIR/plain.json" &&
    ! grep -qi '^Content-Encoding' <<<"$small_hdr"; then
    ok "gzip: application/json $plain -> $gz_size bytes, same content after gunzip; Vary set; a small answer left alone"
else
    bad "gzip: $(grep -i '^Content-Encoding' <<<"$gz_hdr" || echo 'no Content-Encoding') ($plain -> $gz_size bytes)"
fi

# --- both gateways used; one killed: requests pass to the other
burst 127.0.0.8 10 "$BASE/api/lb" >/dev/null
lb1=$(seen gw1 'GET /api/lb')
lb2=$(seen gw2 'GET /api/lb')
if ((lb1 > 0 && lb2 > 0 && lb1 + lb2 == 10)); then
    ok "upstream barberpro_gateway: 10 requests spread over both gateways ($lb1 + $lb2)"
else
    bad "load balancing: gateway-1 got $lb1, gateway-2 got $lb2 of 10"
fi
bp_stop_pids 5 "$UP1_PID" >/dev/null 2>&1 || true
codes=$(burst 127.0.0.9 10 "$BASE/api/after-kill"; burst 127.0.0.9 5 "$BASE/api/after-kill-post" -X POST -d '{}')
n200=$(count_of 200 <<<"$codes")
posts=$(seen gw2 'POST /api/after-kill-post')
if ((n200 == 15 && posts == 5)); then
    ok "gateway-1 killed: 15 of 15 requests (10 GET, 5 POST refused by gateway-1 before anything was sent) answered by gateway-2, each POST once"
else
    bad "after killing gateway-1: $n200 of 15 answered 200 ($(oneline "$codes")); gateway-2 saw $posts of 5 POSTs"
fi
if grep -q 'connect() failed (111' "$NGX_DIR/log/error.log"; then
    ok "nginx logged the refused connections to gateway-1 (passive health check: max_fails/fail_timeout)"
else
    bad "no 'connect() failed' in nginx's error log after gateway-1 died"
fi

# --- the auth zone: 5 r/m, burst 5 -> 6 quick logins pass, then 429
started=$EPOCHREALTIME
codes=$(burst 127.0.0.5 10 "$BASE/api/auth/login" -X POST -H 'Content-Type: application/json' -d '{}')
took=$(ms_since "$started")
n200=$(count_of 200 <<<"$codes")
n429=$(count_of 429 <<<"$codes")
logins=$(seen gw2 'POST /api/auth/login')
h429=$(req 127.0.0.5 -X POST -d '{}' -D - -o /dev/null "$BASE/api/auth/login")
if zone_passes "$n200" 5 12000 "$took" && ((n429 == 10 - n200 && logins == n200)) &&
    grep -q '^HTTP/1.1 429' <<<"$h429" && grep -qi '^Strict-Transport-Security' <<<"$h429"; then
    ok "auth zone (5 r/m, burst 5): 10 quick logins in $took ms -> $n200 passed, $n429 refused 429 by nginx (with the security headers); the gateway saw $logins"
else
    bad "auth zone: $(oneline "$codes") (want 6 x 200 then 429); the gateway saw $logins"
fi
codes=$(burst 127.0.0.5 3 "$BASE/api/small")
if [[ $(oneline "$codes") == "200 200 200" ]]; then
    ok "the same client's other API requests are not in the auth zone (3 x 200)"
else
    bad "API requests after the auth limit: $(oneline "$codes")"
fi

# --- the booking zone: POSTs only, 20 r/m, burst 10
# 14 bookings at once, then 5 GETs and a cancel.
started=$EPOCHREALTIME
posts=$(pburst 127.0.0.6 14 "$BASE/api/bookings" -X POST -d '{}')
took=$(ms_since "$started")
gets=$(burst 127.0.0.6 5 "$BASE/api/bookings")
cancel=$(burst 127.0.0.6 1 "$BASE/api/bookings/5e0d/cancel" -X POST -d '{}')
all=$(ms_since "$started")
n200=$(count_of ' 200' <<<"$posts")
# The cancel is in the zone too: refused, unless 3 s have passed since the
# burst began (one more request's worth refilled).
if zone_passes "$n200" 10 3000 "$took" && ((n200 < 14)) && [[ $(count_of 200 <<<"$gets") == 5 ]] &&
    { [[ $cancel == 429 ]] || ((all >= 3000)); }; then
    ok "booking zone (20 r/m, burst 10): 14 quick bookings in $took ms -> $n200 passed, then 429 (cancel: $cancel); GET /api/bookings not counted (5 x 200)"
else
    bad "booking zone: POSTs $(awk '{ print $3 }' <<<"$posts" | sort | uniq -c | tr '\n' ' '); GETs $(oneline "$gets"); cancel $cancel"
fi

# --- webhooks are not limited (their senders burst from few addresses)
codes=$(pburst 127.0.0.7 50 "$BASE/api/webhooks/mercadopago" -X POST -d '{}')
n200=$(count_of ' 200' <<<"$codes")
if ((n200 == 50)); then
    ok "50 quick webhook deliveries from one address: all passed (the api zone would stop the 42nd)"
else
    bad "webhooks: $n200 of 50 passed"
fi
# ... while the api zone does stop them elsewhere.
codes=$(pburst 127.0.0.10 50 "$BASE/api/small")
n429=$(count_of ' 429' <<<"$codes")
if ((n429 >= 5)); then
    ok "api zone (10 r/s, burst 40): 50 requests at once from one address -> $((50 - n429)) passed, $n429 refused 429"
else
    bad "api zone: 50 requests at once, $n429 refused (want at least 5: 41 pass, then 10 per second)"
fi

# --- /uploads/ cached 7 days
h1=$(req 127.0.0.11 -D - -o /dev/null "$BASE/uploads/0123456789abcdef0123456789abcdef.jpg")
h2=$(req 127.0.0.11 -D - -o /dev/null "$BASE/uploads/0123456789abcdef0123456789abcdef.jpg?v=2")
fetched=$(seen gw2 'GET /uploads/')
cc=$(grep -i '^Cache-Control:' <<<"$h2" | tr -d '\r' || true)
if grep -qi '^X-Cache-Status: MISS' <<<"$h1" && grep -qi '^X-Cache-Status: HIT' <<<"$h2" &&
    ((fetched == 1)) && [[ $(grep -ci '^Cache-Control:' <<<"$h2") == 1 && $cc == *max-age=604800* && $cc == *immutable* ]]; then
    ok "/uploads/: MISS then HIT (one fetch from the gateway, query string ignored), 7 days: '$cc' passed on once"
else
    bad "/uploads/ cache: $(grep -i 'X-Cache-Status' <<<"$h1$h2" | tr -d '\r' | tr '\n' ' ') fetched $fetched; $cc"
fi

# --- the body limit (uploads are at most 5 MiB)
head -c $((7 * 1024 * 1024)) /dev/zero >"$NGX_DIR/big.bin"
big=$(status_of 127.0.0.12 -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @"$NGX_DIR/big.bin" "$BASE/api/uploads")
if [[ $big == 413 ]] && (($(seen gw2 'POST /api/uploads') == 0)); then
    ok "a 7 MiB body: 413 from nginx (client_max_body_size 6m), never proxied"
else
    bad "7 MiB body: $big"
fi

# --- real_ip.conf (optional): the proxies in front are believed
{
    grep -v '^set_real_ip_from' compose/nginx/real_ip.conf.example
    echo "set_real_ip_from 127.0.0.13;"
} >"$C/real_ip.conf"
if out=$(nginx -t -c "$NGX_CONF" -e "$NGX_DIR/log/error.log" 2>&1) &&
    nginx -c "$NGX_CONF" -e "$NGX_DIR/log/error.log" -s reload; then
    xff=
    for _ in $(seq 1 50); do
        body=$(req 127.0.0.13 -H 'X-Forwarded-For: 203.0.113.7' "$BASE/api/whoami")
        xff=$(field xff "$body")
        [[ $xff == 203.0.113.7 ]] && break
        sleep 0.1
    done
    body=$(req 127.0.0.14 -H 'X-Forwarded-For: 203.0.113.7' "$BASE/api/whoami")
    other=$(field xff "$body")
    if [[ $xff == 203.0.113.7 && $other == 127.0.0.14 ]]; then
        ok "with real_ip.conf (from real_ip.conf.example): the listed proxy's X-Forwarded-For is the client (203.0.113.7); another peer's is ignored ($other)"
    else
        bad "real_ip.conf: via the proxy '$xff', via another peer '$other'"
    fi
else
    bad "nginx with real_ip.conf: $out"
fi
grep -q 'geoip2 ' compose/nginx/geoip2.conf.example &&
    grep -qF 'include /etc/nginx/barberpro/geoip2*.conf;' compose/nginx/http.conf &&
    ok "GeoIP2 is an optional include (geoip2.conf.example; not loaded here: no module nor database on this machine)" ||
    bad "the GeoIP2 include or its example is missing"

nginx -c "$NGX_CONF" -e "$NGX_DIR/log/error.log" -s quit || true
bp_wait_exit 10 "$NGX_PID" || bad "nginx did not stop on quit"
bp_stop_pids 5 "$UP2_PID" >/dev/null 2>&1 || true

# =============================================================================
section "compose: docker-compose $(docker-compose version --short 2>/dev/null || echo '?') config"
COMPOSE=compose/docker-compose.yml
ENV_EXAMPLE=compose/.env.example
# The harness exports JWT_SECRET, BACKUP_S3_* and more, which compose would
# substitute: run it with nothing but the env file.
dc() { env -i PATH="$PATH" HOME="$WORK" docker-compose "$@"; }

# The secrets: every ${VAR:?...} in the compose file.
# (comment lines left out: they may quote the syntax.)
compose_text=$(grep -vE '^[[:space:]]*#' "$COMPOSE")
mapfile -t REQUIRED < <(grep -oE '\$\{[A-Z0-9_]+:\?' <<<"$compose_text" | sed -E 's/^\$\{//; s/:\?$//' | sort -u)
mapfile -t EXAMPLE_VARS < <(sed -nE 's/^([A-Z][A-Z0-9_]*)=.*/\1/p' "$ENV_EXAMPLE" | sort)
mapfile -t COMPOSE_VARS < <(grep -oE '\$\{[A-Z][A-Z0-9_]*' <<<"$compose_text" | sed 's/^\${//' | sort -u)
echo "compose_test: the compose file reads ${#COMPOSE_VARS[@]} variables, ${#REQUIRED[@]} of them required: ${REQUIRED[*]}"

dups=$(printf '%s\n' "${EXAMPLE_VARS[@]}" | uniq -d)
[[ -z $dups ]] && ok ".env.example names each variable once (${#EXAMPLE_VARS[@]})" ||
    bad ".env.example repeats: $dups"
not_listed=$(comm -23 <(printf '%s\n' "${COMPOSE_VARS[@]}") <(printf '%s\n' "${EXAMPLE_VARS[@]}" | sort -u))
[[ -z $not_listed ]] && ok "every \${VAR} of docker-compose.yml is in .env.example" ||
    bad "read by docker-compose.yml, missing from .env.example: $(oneline "$not_listed")"
# (COMPOSE_* are docker-compose's own settings, such as the project name.)
unused=$(comm -13 <(printf '%s\n' "${COMPOSE_VARS[@]}") <(printf '%s\n' "${EXAMPLE_VARS[@]}" | grep -v '^COMPOSE_' | sort -u))
[[ -z $unused ]] && ok "every variable of .env.example is read by docker-compose.yml (or by docker-compose itself: COMPOSE_*)" ||
    bad "in .env.example but read by nothing: $(oneline "$unused")"
# Each secret is empty in the example, so the committed file alone fails.
nonempty=()
for v in "${REQUIRED[@]}"; do
    grep -qxE "$v=" "$ENV_EXAMPLE" || nonempty+=("$v")
done
((${#nonempty[@]} == 0)) && ok "every required secret is empty in .env.example" ||
    bad "required secrets with a value in .env.example: ${nonempty[*]}"

# With the committed example only: refused, naming a missing secret.
if out=$(dc --env-file "$ENV_EXAMPLE" -f "$COMPOSE" config -q 2>&1); then
    bad "docker-compose config passed with .env.example's empty secrets"
elif grep -qE "set ($(
    IFS='|'
    echo "${REQUIRED[*]}"
)) " <<<"$out"; then
    ok "docker-compose config with the committed .env.example is refused ('$(grep -oE 'set [A-Z_]+ in compose/.env' <<<"$out" | head -n1)')"
else
    bad "docker-compose config with .env.example failed for another reason: $out"
fi
# A generated env file: the example with random secrets.
gen_env() {
    local skip=${1:-} v line
    while IFS= read -r line; do
        v=${line%%=*}
        if [[ $line == *= && " ${REQUIRED[*]} " == *" $v "* && $v != "$skip" ]]; then
            printf '%s=%s\n' "$v" "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        else
            printf '%s\n' "$line"
        fi
    done <"$ENV_EXAMPLE"
}
# Each secret on its own: missing, it stops compose.
guarded=()
for v in "${REQUIRED[@]}"; do
    gen_env "$v" >"$WORK/missing-$v.env"
    if ! out=$(dc --env-file "$WORK/missing-$v.env" -f "$COMPOSE" config -q 2>&1) &&
        grep -q "set $v " <<<"$out"; then
        guarded+=("$v")
    else
        bad "docker-compose config without $v: not refused naming it ($out)"
    fi
done
((${#guarded[@]} == ${#REQUIRED[@]})) &&
    ok "each secret missing on its own stops docker-compose, naming it: ${guarded[*]}"
gen_env >"$WORK/generated.env"
if dc --env-file "$WORK/generated.env" -f "$COMPOSE" config >"$WORK/compose.rendered.yml" 2>"$WORK/compose.err"; then
    ok "docker-compose config passes with .env.example plus generated secrets (only committed files)"
else
    bad "docker-compose config with generated secrets: $(cat "$WORK/compose.err")"
fi

# The variables the C code reads: bp_config_*() and getenv() with a literal
# name, any other function given a literal VAR-like first argument
# (backup's folder()), and names built from a service name ("%s_WORKERS",
# "<SERVICE>_RPC_URL", "<SERVICE>_LISTEN_URL").
CODE_VARS_FILE=$WORK/code-vars.txt
cat common/*.c gateway/*.c services/*/*.c | perl -0777 -ne '
    my %v;
    while (/\b\w+\s*\(\s*"([A-Z][A-Z0-9_]*)"/g) { $v{$1} = 1 }
    my @suffix;
    while (/\b\w+\s*\([^;{}]*?"(?:%s)?(_[A-Z][A-Z0-9_]+)"/g) { push @suffix, $1 }
    for my $s (@suffix) { $v{uc($_) . $s} = 1 for qw(auth booking payment notification backup) }
    # HTTP methods handed to the route table are not settings.
    delete @v{qw(GET POST PUT PATCH DELETE HEAD OPTIONS)};
    print "$_\n" for sort keys %v;' >"$CODE_VARS_FILE"
mapfile -t CODE_VARS <"$CODE_VARS_FILE"
echo "compose_test: the C code reads ${#CODE_VARS[@]} configuration variables"

# Read by the code, deliberately not set by compose.
declare -A LEFT_OUT=(
    [BARBERPRO_VAR_DIR]="make run's data folder; the image sets UPLOAD_DIR, BACKUP_LOCAL_DIR and BARBERPRO_RUN_DIR itself"
    [PG_BIN]="the image has one PostgreSQL (15) and the backup daemon finds it under /usr/lib/postgresql"
    [TMPDIR]="the containers' /tmp is a tmpfs, the default"
    [BIND_ADDRESS]="the gateway's default 0.0.0.0 is what a container needs"
    [BACKUP_PG_OS_USER]="used only when the backup daemon runs as root; in compose it runs as barberpro"
    [BACKUP_RESTORE_PG_USER]="restore options: given on the restore's command line (docker compose run -e)"
    [BACKUP_RESTORE_TIMEOUT_S]="restore options: given on the restore's command line (docker compose run -e)"
    [BACKUP_RESTORE_KEEP]="restore options: given on the restore's command line (docker compose run -e)"
    [BP_RELAY_BACKOFF_MS]="lowered only by tests; the default is the production value"
    [BP_RELAY_BACKOFF_MAX_MS]="lowered only by tests; the default is the production value"
    [AUTH_ERASURE_PROGRESS_INTERVAL_MS]="a job interval that tests shorten; the default is the production value"
    [AUTH_RETENTION_INTERVAL_MS]="a job interval that tests shorten; the default is the production value"
    [BOOKING_EXPIRE_INTERVAL_MS]="a job interval that tests shorten; the default is the production value"
    [NOTIFICATION_RETENTION_INTERVAL_MS]="a job interval that tests shorten; the default is the production value"
    [BACKUP_CHECK_INTERVAL_MS]="a job interval that tests shorten; the default is the production value"
    [NOTIFY_SOCKET]="systemd's (Type=notify units); containers have no systemd"
    [BARBERPRO_RELEASE]="the release slot's name in systemd's status line; containers have no systemd"
)
# Several instances of a daemon listen apart from the list callers dial;
# compose runs one of each, listening on its <SERVICE>_RPC_URL.
for s in AUTH BOOKING PAYMENT NOTIFICATION BACKUP; do
    LEFT_OUT[${s}_LISTEN_URL]="one instance of each daemon in compose: it listens on its ${s}_RPC_URL"
done
# Set in the image (compose/Dockerfile's app stage ENV) rather than compose.
mapfile -t IMAGE_ENV < <(awk '
    /^FROM / { app = ($0 ~ / AS app$/) }
    app && /^ENV / { env = 1 }
    app && env { for (i = 1; i <= NF; i++) if ($i ~ /^[A-Z][A-Z0-9_]*=/) { split($i, a, "="); print a[1] } }
    env && !/\\$/ { env = 0 }' compose/Dockerfile | sort -u)
python3 - "$WORK/compose.rendered.yml" >"$WORK/app-env.txt" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
names = set()
for svc in ("auth", "booking", "payment", "notification", "backup", "gateway-1", "gateway-2"):
    names.update((c["services"].get(svc, {}).get("environment") or {}).keys())
print("\n".join(sorted(names)))
PY
mapfile -t APP_ENV <"$WORK/app-env.txt"
unaccounted=()
for v in "${CODE_VARS[@]}"; do
    [[ " ${APP_ENV[*]} ${IMAGE_ENV[*]} " == *" $v "* || -n ${LEFT_OUT[$v]:-} ]] || unaccounted+=("$v")
done
if ((${#unaccounted[@]} == 0)); then
    ok "each of the ${#CODE_VARS[@]} variables the C code reads is passed by compose or the image (${#APP_ENV[@]} + ${#IMAGE_ENV[@]}), or left out on purpose (${#LEFT_OUT[@]}, listed in this test)"
else
    bad "read by the C code, neither in compose nor left out on purpose: ${unaccounted[*]}"
fi
for v in "${!LEFT_OUT[@]}"; do
    if [[ " ${CODE_VARS[*]} " != *" $v "* ]]; then
        echo "compose_test: note: $v is left out on purpose but no code reads it (any more)"
    fi
done
# And the other way: everything compose hands the BarberPro processes is
# read by them (a misspelt name would be silently ignored). TZ is libc's,
# DEBIAN_FRONTEND apt's (while the image is built).
stray=()
for v in "${APP_ENV[@]}" "${IMAGE_ENV[@]}"; do
    [[ $v == TZ || $v == DEBIAN_FRONTEND || " ${CODE_VARS[*]} " == *" $v "* ]] || stray+=("$v")
done
((${#stray[@]} == 0)) && ok "every variable compose and the image give the BarberPro processes is read by the code" ||
    bad "given to the processes but read by no code: ${stray[*]}"

# The rendered file's structure.
if out=$(python3 - "$WORK/compose.rendered.yml" "${SERVICES[*]}" 2>&1 <<'PY'
import os, re, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
want = sys.argv[2].split()
svcs = c["services"]
problems, facts = [], []
if sorted(svcs) != sorted(want):
    problems.append("services %s, want %s" % (sorted(svcs), sorted(want)))
daemons = ["auth", "booking", "payment", "notification", "backup"]
for name, s in svcs.items():
    hc = s.get("healthcheck") or {}
    test = hc.get("test")
    if not test or test == ["NONE"] or hc.get("disable"):
        problems.append("%s has no health check" % name)
    for dep, d in (s.get("depends_on") or {}).items():
        cond = d.get("condition")
        if svcs.get(dep, {}).get("healthcheck") and cond != "service_healthy":
            problems.append("%s depends on %s with %s, not service_healthy" % (name, dep, cond))
    for v in s.get("volumes") or []:
        src = v.split(":")[0] if isinstance(v, str) else v.get("source")
        if src.startswith("/") and not os.path.exists(src):
            problems.append("%s mounts %s, which is not in the checkout" % (name, src))
for d in daemons:
    if svcs[d]["healthcheck"]["test"] != ["CMD", "barberpro-%s" % d, "health"]:
        problems.append("%s health check is %s" % (d, svcs[d]["healthcheck"]["test"]))
    if svcs[d].get("command") != ["barberpro-%s" % d]:
        problems.append("%s runs %s" % (d, svcs[d].get("command")))
    deps = svcs[d].get("depends_on") or {}
    if "postgres" not in deps or "redis" not in deps:
        problems.append("%s does not wait for postgres and redis" % d)
dockerfile = open("compose/Dockerfile").read()
targets = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.M))
for name, s in svcs.items():
    b = s.get("build")
    if b and b.get("target") not in targets:
        problems.append("%s builds target %s; the Dockerfile has %s" % (name, b.get("target"), sorted(targets)))
nginx_ip = svcs["nginx"]["networks"]["backend"]["ipv4_address"]
for g in ("gateway-1", "gateway-2"):
    s = svcs[g]
    if s["healthcheck"]["test"] != ["CMD", "barberpro-gateway", "health"]:
        problems.append("%s health check is %s" % (g, s["healthcheck"]["test"]))
    if s["environment"].get("TRUSTED_PROXIES") != nginx_ip:
        problems.append("%s trusts %s, nginx is %s" % (g, s["environment"].get("TRUSTED_PROXIES"), nginx_ip))
    if s["environment"].get("PORT") != "3000":
        problems.append("%s listens on %s" % (g, s["environment"].get("PORT")))
    for d in daemons:
        if (s.get("depends_on") or {}).get(d, {}).get("condition") != "service_healthy":
            problems.append("%s does not wait for a healthy %s" % (g, d))
if svcs["gateway-1"]["environment"] != svcs["gateway-2"]["environment"]:
    problems.append("the two gateways have different settings")
for g in ("gateway-1", "gateway-2"):
    if (svcs["nginx"].get("depends_on") or {}).get(g, {}).get("condition") != "service_healthy":
        problems.append("nginx does not wait for %s" % g)
mounts = {v.split(":")[1]: v.split(":")[0] for v in svcs["nginx"]["volumes"]}
if not mounts.get("/etc/nginx/nginx.conf", "").endswith("compose/nginx/nginx.conf") or \
   not mounts.get("/etc/nginx/barberpro", "").endswith("compose/nginx"):
    problems.append("nginx mounts %s" % mounts)
pg = svcs["postgres"]
pgm = {v.split(":")[1]: v.split(":")[0] for v in pg["volumes"]}
conf = re.search(r"config_file=(\S+)", " ".join(pg.get("command") or []))
hba = re.search(r"^hba_file\s*=\s*'([^']+)'", open("compose/postgres/postgresql.conf").read(), re.M)
if not conf or not pgm.get(conf.group(1), "").endswith("compose/postgres/postgresql.conf"):
    problems.append("postgres runs %s, mounts %s" % (pg.get("command"), pgm))
if not hba or not pgm.get(hba.group(1), "").endswith("compose/postgres/pg_hba.conf"):
    problems.append("postgresql.conf's hba_file is not the mounted compose/postgres/pg_hba.conf")
if not pgm.get("/docker-entrypoint-initdb.d", "").endswith("compose/postgres/initdb"):
    problems.append("postgres does not mount compose/postgres/initdb")
# wal-push in the postgres container and the backup daemon share the archive.
bdir = svcs["backup"]["environment"].get("BACKUP_LOCAL_DIR")
if pg["environment"].get("BACKUP_LOCAL_DIR") != bdir or not bdir:
    problems.append("BACKUP_LOCAL_DIR differs: postgres %s, backup %s" % (pg["environment"].get("BACKUP_LOCAL_DIR"), bdir))
bm = {v.split(":")[1]: v.split(":")[0] for v in svcs["backup"]["volumes"]}
if pgm.get(bdir) != bm.get(bdir) or not bm.get(bdir):
    problems.append("postgres and backup do not mount the same volume at %s" % bdir)
for k in [k for k in pg["environment"] if k.startswith("BACKUP_S3_")]:
    if pg["environment"].get(k) != svcs["backup"]["environment"][k]:
        problems.append("%s differs between postgres (wal-push) and backup" % k)
if svcs["backup"]["environment"].get("BACKUP_SCHEDULE") != "0 2 * * *":
    problems.append("BACKUP_SCHEDULE renders as %r" % svcs["backup"]["environment"].get("BACKUP_SCHEDULE"))
r = svcs["redis"]
if "./redis/redis.conf" not in " ".join(r.get("volumes") or []) and \
   not any(v.endswith("compose/redis/redis.conf:/usr/local/etc/redis/redis.conf:ro") for v in r["volumes"]):
    problems.append("redis does not mount compose/redis/redis.conf")
if "--requirepass" not in r.get("command", []):
    problems.append("redis runs without --requirepass")
published = {n: s.get("ports") for n, s in svcs.items() if s.get("ports")}
for n, ports in published.items():
    for p in ports:
        p = str(p)
        if n != "nginx" and not p.startswith("127.0.0.1:"):
            problems.append("%s is published on all interfaces: %s" % (n, p))
if problems:
    print("; ".join(problems))
    sys.exit(1)
print("%d services, each with a health check; published: %s" % (len(svcs),
      ", ".join("%s %s" % (n, " ".join(map(str, p))) for n, p in sorted(published.items()))))
PY
); then
    ok "rendered compose file: $out; depends_on waits for health; postgres and backup share the WAL archive; gateways trust nginx only"
else
    bad "rendered compose file: $out"
fi

# =============================================================================
section "images: compose/Dockerfile"
# The packages of each stage's apt-get install lines: "<stage> <package>".
python3 - >"$WORK/stage-packages.txt" <<'PY'
import re
stages, cur = {}, None
for line in open("compose/Dockerfile"):
    if line.startswith("FROM "):
        cur = line.split()[-1]
        stages[cur] = []
    elif cur:
        stages[cur].append(line)
for stage, lines in stages.items():
    # Continuation lines joined, then each "apt-get install ... &&" segment.
    joined = re.sub(r"\\\n", " ", "".join(lines))
    for m in re.finditer(r"apt-get install((?:(?!&&).)*)", joined):
        for w in sorted(set(m.group(1).split())):
            if not w.startswith("-"):
                print(stage, w)
PY
stage_packages() { awk -v s="$1" '$1 == s { print $2 }' "$WORK/stage-packages.txt" | sort -u; }
mapfile -t BUILD_PKGS < <(stage_packages build)
mapfile -t APP_PKGS < <(stage_packages app)
mapfile -t PG_PKGS < <(stage_packages postgres)
mapfile -t NGINX_PKGS < <(stage_packages nginx)
echo "compose_test: stages build (${#BUILD_PKGS[@]} packages), postgres (${#PG_PKGS[@]}), nginx (${#NGINX_PKGS[@]}), app (${#APP_PKGS[@]})"
# scripts/deps.sh's list, less what the release build does not use.
mapfile -t DEPS_PKGS < <(sed -n '/^packages=(/,/^)/p' scripts/deps.sh | sed 's/#.*//' |
    tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)
declare -A NOT_FOR_BUILD=(
    [postgresql]="the database server: its own image"
    [postgresql-contrib]="the database server: its own image"
    [redis-server]="Redis: its own image"
    [libcriterion-dev]="unit tests only"
    [wrk]="benchmarks only"
    [clang-format]="make lint only"
    [cppcheck]="make lint only"
    [curl]="the scripts' HTTP checks; the binaries use libcurl"
    [acl]="make run's folder permissions"
    [nginx]="tests and the nginx image"
    [docker-compose]="tests only"
    [systemd]="tests only (systemd-analyze)"
    [tar]="in every Debian image (essential)"
)
missing=()
for p in "${DEPS_PKGS[@]}"; do
    [[ -n ${NOT_FOR_BUILD[$p]:-} || " ${BUILD_PKGS[*]} " == *" $p "* ]] || missing+=("$p")
done
((${#DEPS_PKGS[@]} > 10 && ${#missing[@]} == 0)) &&
    ok "the build stage installs every build package of scripts/deps.sh (${#DEPS_PKGS[@]} there, ${#NOT_FOR_BUILD[@]} not for the build)" ||
    bad "scripts/deps.sh packages missing from the build stage: ${missing[*]}"
# The libraries each release binary links (its NEEDED entries), by package:
# "<binary> <soname> <path>" for each, then one dpkg -S for all the paths
# (as ldd found them and resolved, since dpkg knows one of the two).
for b in gateway auth booking payment notification backup; do
    ldd_out=$(ldd "$BIN/barberpro-$b")
    for lib in $(objdump -p "$BIN/barberpro-$b" | awk '/NEEDED/ { print $2 }'); do
        path=$(awk -v s="$lib" '$1 == s { print $3 }' <<<"$ldd_out")
        printf '%s %s %s %s\n' "$b" "$lib" "${path:-?}" "$(readlink -f "${path:-/nonexistent}" || echo ?)"
    done
done >"$WORK/needed.txt"
mapfile -t lib_paths < <(awk '{ print $3; print $4 }' "$WORK/needed.txt" | sort -u)
dpkg -S "${lib_paths[@]}" 2>/dev/null >"$WORK/dpkg-S.txt" || true
needs_pkgs() {
    local b=$1 lib path real owner
    while read -r _ lib path real; do
        owner=$(awk -v p="$path" -v r="$real" '$2 == p || $2 == r { sub(/:.*/, "", $1); print $1; exit }' \
            "$WORK/dpkg-S.txt")
        echo "${owner:-?$lib}"
    done < <(awk -v b="$b" '$1 == b' "$WORK/needed.txt") | sort -u
}
app_missing=()
all_needed=()
for b in gateway auth booking payment notification backup; do
    while read -r p; do
        [[ -n $p ]] || continue
        all_needed+=("$p")
        [[ $p == libc6 || " ${APP_PKGS[*]} " == *" $p "* ]] || app_missing+=("barberpro-$b: $p")
    done < <(needs_pkgs "$b")
done
mapfile -t all_needed < <(printf '%s\n' "${all_needed[@]}" | sort -u)
((${#app_missing[@]} == 0)) &&
    ok "the app stage installs the package of every library the six binaries link: ${all_needed[*]}" ||
    bad "libraries linked but not installed in the app stage: ${app_missing[*]}"
pg_missing=()
while read -r p; do
    [[ -z $p || $p == libc6 || " ${PG_PKGS[*]} " == *" $p "* ]] || pg_missing+=("$p")
done < <(needs_pkgs backup)
((${#pg_missing[@]} == 0)) &&
    ok "the postgres stage installs every library barberpro-backup (wal-push) links" ||
    bad "barberpro-backup's libraries missing from the postgres stage: ${pg_missing[*]}"
# Every package named exists in Debian 12 (apt's lists, when present).
if compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt-cache pkgnames 2>/dev/null | sort -u >"$WORK/apt-names.txt"
    unknown=()
    for p in "${BUILD_PKGS[@]}" "${APP_PKGS[@]}" "${PG_PKGS[@]}" "${NGINX_PKGS[@]}"; do
        grep -qxF -- "$p" "$WORK/apt-names.txt" || unknown+=("$p")
    done
    ((${#unknown[@]} == 0)) && ok "apt knows every package the Dockerfile installs" ||
        bad "packages apt does not know: ${unknown[*]}"
else
    echo "compose_test: note: no apt lists here; package names not checked against apt"
fi
last_from=$(grep '^FROM ' compose/Dockerfile | tail -n1)
app_stage=$(awk '/^FROM / { on = ($NF == "app") } on' compose/Dockerfile)
user=$(grep '^USER ' <<<"$app_stage" | tail -n1 | awk '{ print $2 }')
if [[ $last_from == *"debian:12-slim AS app" && -n $user && ${user%%:*} != root && ${user%%:*} != 0 ]] &&
    grep -qE '^HEALTHCHECK .*' <<<"$app_stage" &&
    grep -A1 '^HEALTHCHECK' <<<"$app_stage" | grep -qF '["barberpro-gateway", "health"]' &&
    grep -qF 'CMD ["barberpro-gateway"]' <<<"$app_stage" &&
    grep -q '^FROM debian:12 AS build' compose/Dockerfile &&
    grep -q '^FROM postgres:15-bookworm AS postgres' compose/Dockerfile; then
    ok "stages: build on debian:12, the default (last) app on debian:12-slim as $user, HEALTHCHECK barberpro-gateway health; postgres on postgres:15-bookworm"
else
    bad "Dockerfile stages: last '$last_from', user '$user', health check or CMD not as expected"
fi
grep -q "barberpro-backup /usr/local/bin/" <<<"$(awk '/^FROM / { on = ($NF == "postgres") } on' compose/Dockerfile)" &&
    grep -qF "archive_command = 'barberpro-backup wal-push %p'" compose/postgres/postgresql.conf &&
    ok "the postgres image has barberpro-backup on PATH for archive_command" ||
    bad "the postgres stage does not install barberpro-backup for archive_command"

# The build context: what Dockerfile.dockerignore leaves of the checkout.
python3 - compose/Dockerfile.dockerignore "$WORK/context" <<'PY' >"$WORK/context.txt"
import os, re, shutil, subprocess, sys
rules = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    neg = line.startswith("!")
    pat = line[1:] if neg else line
    pat = pat.strip("/")
    rx = ""
    i = 0
    while i < len(pat):
        if pat.startswith("**", i):
            rx += ".*"; i += 2
            if pat.startswith("/", i): i += 1; rx += "(?:/)?" if False else ""
        elif pat[i] == "*": rx += "[^/]*"; i += 1
        elif pat[i] == "?": rx += "[^/]"; i += 1
        else: rx += re.escape(pat[i]); i += 1
    rules.append((neg, re.compile("^" + rx + "$")))
def excluded(path):
    parts = path.split("/")
    out = False
    for neg, rx in rules:
        # A pattern excludes a path when it matches it or one of its parents.
        if any(rx.match("/".join(parts[:k])) for k in range(1, len(parts) + 1)):
            out = not neg
    return out
files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                       capture_output=True, text=True, check=True).stdout.split("\n")
dest = sys.argv[2]
for f in files:
    if f and os.path.isfile(f) and not excluded(f):
        os.makedirs(os.path.join(dest, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(f, os.path.join(dest, f))
        print(f)
PY
ctx_files=$(wc -l <"$WORK/context.txt")
if out=$(make -n -C "$WORK/context" BUILD=build build/bin/barberpro-gateway build/bin/barberpro-auth \
    build/bin/barberpro-booking build/bin/barberpro-payment build/bin/barberpro-notification \
    build/bin/barberpro-backup 2>&1); then
    ok "the build context ($ctx_files files after Dockerfile.dockerignore) has every file make needs for the six binaries (make -n)"
else
    bad "make -n in the build context: $(tail -n 3 <<<"$out")"
fi
# The headers the release objects were really built from (their .d files).
BUILD_DIR=$(dirname "$BIN")
# Only the release binaries' objects (rel/ also holds the fakes' and the
# benchmarks', which come from tests/).
if [[ -d $BUILD_DIR/rel/common && -d $BUILD_DIR/rel/gateway && -d $BUILD_DIR/rel/services ]]; then
    lost=$(find "$BUILD_DIR/rel/common" "$BUILD_DIR/rel/gateway" "$BUILD_DIR/rel/services" \
        "$BUILD_DIR/rel/gen" -name '*.d' -exec cat {} + | sed 's/\\$//' | tr ' ' '\n' | sed 's/:$//' |
        { grep -vE '^(/|$)' || true; } | { grep -v "^$(basename "$BUILD_DIR")/" || true; } | sort -u |
        while read -r f; do grep -qxF "$f" "$WORK/context.txt" || echo "$f"; done)
    [[ -z $lost ]] && ok "every source and header of the release objects ($BUILD_DIR/rel/**/*.d) is in the build context" ||
        bad "read by the release build but left out of the context: $(oneline "$lost")"
else
    echo "compose_test: note: no $BUILD_DIR/rel objects; header check skipped"
fi

# =============================================================================
section "redis: compose/redis/redis.conf under $(redis-server --version | awk '{ print $3 }')"
RDIR=$WORK/redis
mkdir -p "$RDIR/data" "$RDIR/data2"
mapfile -t ports < <(bp_free_ports 2)
RPORT=${ports[0]} RPORT2=${ports[1]}
RPASS=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
# The container's folder, port and interfaces; nothing else changes.
sed -e "s#^dir /data\$#dir $RDIR/data#" -e "s/^port 6379\$/port $RPORT/" -e 's/^bind \* -::\*$/bind 127.0.0.1/' \
    compose/redis/redis.conf >"$RDIR/redis.conf"
diff_lines=$(diff compose/redis/redis.conf "$RDIR/redis.conf" | grep -c '^>' || true)
((diff_lines == 3)) || bad "redis.conf: expected to move 3 lines (dir, port, bind), moved $diff_lines"
# As compose runs it: the password on the command line.
redis-server "$RDIR/redis.conf" --requirepass "$RPASS" --daemonize no --logfile "$RDIR/redis.log" </dev/null &
RPID=$!
PIDS+=("$RPID")
rcli() { REDISCLI_AUTH=$RPASS redis-cli -p "$RPORT" "$@" 2>&1; }
for _ in $(seq 1 100); do
    [[ $(rcli ping) == PONG ]] && break
    bp_alive "$RPID" || break
    sleep 0.1
done
if [[ $(rcli ping) == PONG ]]; then
    noauth=$(redis-cli -p "$RPORT" ping 2>&1)
    [[ $noauth == *NOAUTH* ]] && ok "requirepass: PING without the password -> '$noauth'" ||
        bad "PING without the password answered '$noauth'"
    cfg=$(rcli config get maxmemory)
    fl=$(rcli set k v >/dev/null && rcli flushall)
    still=$(rcli get k)
    [[ $cfg == *"unknown command"* && $fl == *"unknown command"* && $still == v ]] &&
        ok "CONFIG and FLUSHALL refused ('${cfg%%,*}'), the data kept" ||
        bad "CONFIG answered '$cfg', FLUSHALL '$fl'"
    mem=$(rcli info memory | tr -d '\r')
    per=$(rcli info persistence | tr -d '\r')
    mm=$(sed -n 's/^maxmemory://p' <<<"$mem")
    pol=$(sed -n 's/^maxmemory_policy://p' <<<"$mem")
    aof=$(sed -n 's/^aof_enabled://p' <<<"$per")
    [[ $mm == 1073741824 && $pol == allkeys-lru && $aof == 1 ]] &&
        ok "INFO: maxmemory $mm (1gb), policy $pol, aof_enabled $aof" ||
        bad "INFO: maxmemory '$mm', policy '$pol', aof_enabled '$aof'"
else
    bad "redis-server did not start on compose/redis/redis.conf: $(tail -n 5 "$RDIR/redis.log")"
fi
bp_stop_pids 10 "$RPID" >/dev/null 2>&1 || true
# CONFIG is gone, so the remaining settings are read from a second server on
# the same file without the two rename-command lines.
sed -e '/^rename-command /d' -e "s#^dir .*#dir $RDIR/data2#" -e "s/^port .*/port $RPORT2/" \
    "$RDIR/redis.conf" >"$RDIR/redis2.conf"
redis-server "$RDIR/redis2.conf" --requirepass "$RPASS" --daemonize no --logfile "$RDIR/redis2.log" </dev/null &
RPID2=$!
PIDS+=("$RPID2")
rcli2() { REDISCLI_AUTH=$RPASS redis-cli -p "$RPORT2" "$@" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
for _ in $(seq 1 100); do
    [[ $(rcli2 ping) == PONG ]] && break
    bp_alive "$RPID2" || break
    sleep 0.1
done
got="save=[$(rcli2 config get save)] appendfsync=[$(rcli2 config get appendfsync)] protected=[$(rcli2 config get protected-mode)] policy=[$(rcli2 config get maxmemory-policy)]"
want="save=[save 900 1 300 10 60 10000] appendfsync=[appendfsync everysec] protected=[protected-mode yes] policy=[maxmemory-policy allkeys-lru]"
[[ $got == "$want" ]] && ok "settings: $got" || bad "settings: $got; want $want"
bp_stop_pids 10 "$RPID2" >/dev/null 2>&1 || true

# =============================================================================
PG_BIN=$(bp_pg_bindir)
section "postgres: compose/postgres/ under $("$PG_BIN/postgres" --version)"
PGW=$WORK/pg
mkdir -p "$PGW/etc" "$PGW/backups"
PG_SOCK=$(mktemp -d /tmp/bp-compose-pg.XXXXXX)
if ((EUID == 0)); then
    chown "$BP_PG_OS_USER" "$PGW" "$PGW/backups" "$PG_SOCK"
fi
chmod 700 "$PGW"
bp_pg_grant_traversal "$PGW"
bp_pg_grant_traversal "$BIN"
PG_PORT=$(bp_free_port)
bp_as_pg "$PG_BIN/initdb" -D "$PGW/data" -U "$BP_PG_OS_USER" --auth-local=peer --auth-host=reject \
    -E UTF8 --locale=C.UTF-8 >"$PGW/initdb.log" 2>&1 || bp_die "initdb failed: $(tail -n 5 "$PGW/initdb.log")"
# The files as compose mounts them, with the container's path of pg_hba.conf
# and (when this does not run as root) the superuser's name moved.
sed "s#^hba_file = '/etc/postgresql/pg_hba.conf'#hba_file = '$PGW/etc/pg_hba.conf'#" \
    compose/postgres/postgresql.conf >"$PGW/etc/postgresql.conf"
sed "s/^local   all           postgres /local   all           $BP_PG_OS_USER /" \
    compose/postgres/pg_hba.conf >"$PGW/etc/pg_hba.conf"
grep -qF "$PGW/etc/pg_hba.conf" "$PGW/etc/postgresql.conf" || bad "postgresql.conf has no hba_file line to move"
chmod 644 "$PGW/etc/"*
CONF=$PGW/etc/postgresql.conf
mapfile -t PARAMS < <(sed -nE "s/^([a-z_]+)[[:space:]]*=.*/\1/p" compose/postgres/postgresql.conf)
# postgres -C reads the whole file: an unknown name or a bad value fails it.
if v=$(bp_as_pg "$PG_BIN/postgres" -D "$PGW/data" -c config_file="$CONF" -C archive_command 2>&1); then
    ok "postgres -C: the ${#PARAMS[@]} settings of postgresql.conf parse (archive_command = '$v')"
else
    bad "postgres -C on postgresql.conf: $v"
fi
# Started as compose starts it, but on a free port and a private socket; the
# archiver finds barberpro-backup on PATH as in the image, and archives
# into a local folder only (no S3 from this test).
S3_UNSET=()
for v in $(compgen -e | grep '^BACKUP_S3_' || true); do S3_UNSET+=(-u "$v"); done
if bp_as_pg env "${S3_UNSET[@]}" PATH="$BIN:$PATH" BACKUP_LOCAL_DIR="$PGW/backups" \
    TIMEZONE=America/Argentina/Buenos_Aires LOG_LEVEL=warn \
    "$PG_BIN/pg_ctl" -D "$PGW/data" -l "$PGW/postgres.log" -w -t 60 \
    -o "-c config_file=$CONF -c port=$PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_SOCK" \
    start >/dev/null 2>&1; then
    PG_DATA=$PGW/data
    ok "PostgreSQL started on compose/postgres/postgresql.conf (shared_buffers 1GB and all)"
else
    bad "PostgreSQL did not start on compose/postgres/postgresql.conf: $(tail -n 5 "$PGW/postgres.log")"
fi
psql_su() { bp_as_pg "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -d postgres -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
if [[ -n $PG_DATA ]]; then
    # (port and listen_addresses are overridden on the command line, which
    # pg_file_settings reports as "could not be applied".)
    errs=$(psql_su -c "SELECT name || ': ' || error FROM pg_file_settings
        WHERE error IS NOT NULL AND name NOT IN ('port', 'listen_addresses')")
    [[ -z $errs ]] && ok "pg_file_settings: no error in postgresql.conf" || bad "pg_file_settings: $errs"
    # Each setting of the file in effect, from the file (the command line's
    # port and listen_addresses excepted).
    wrong=()
    for p in "${PARAMS[@]}"; do
        src=$(psql_su -c "SELECT source || '|' || coalesce(sourcefile, '') FROM pg_settings
            WHERE lower(name) = lower('$p')")
        case $p in
        port | listen_addresses) [[ $src == "command line|" ]] || wrong+=("$p: $src") ;;
        # A file location is reported as an override; its value tells.
        hba_file) [[ $(psql_su -c "SHOW hba_file") == "$PGW/etc/pg_hba.conf" ]] || wrong+=("$p: $src") ;;
        *) [[ $src == "configuration file|$CONF" ]] || wrong+=("$p: ${src:-unknown}") ;;
        esac
    done
    ((${#wrong[@]} == 0)) && ok "all ${#PARAMS[@]} settings in effect, from postgresql.conf" ||
        bad "settings not from postgresql.conf: ${wrong[*]}"
    shown=$(psql_su -F ' ' -c "SELECT current_setting('shared_buffers'), current_setting('work_mem'),
        current_setting('max_connections'), current_setting('TimeZone'), current_setting('wal_level'),
        current_setting('archive_mode'), current_setting('archive_timeout')" | tr '|' ' ')
    [[ $shown == "1GB 8MB 200 America/Argentina/Buenos_Aires replica on 5min" ]] &&
        ok "SHOW: $shown" || bad "SHOW: '$shown'"

    # The first-start script, as the image's entrypoint runs it (superuser,
    # local socket).
    DBPASS=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    if out=$(bp_as_pg env PGHOST="$PG_SOCK" PGPORT="$PG_PORT" POSTGRES_USER="$BP_PG_OS_USER" \
        BARBERPRO_DB_PASSWORD="$DBPASS" bash -s <compose/postgres/initdb/10-barberpro-role.sh 2>&1); then
        role=$(psql_su -c "SELECT rolsuper::text || ' ' || rolreplication::text || ' ' || rolcreatedb::text
            FROM pg_roles WHERE rolname = 'barberpro'")
        owner=$(psql_su -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'barberpro'")
        [[ $role == "false true true" && $owner == barberpro ]] &&
            ok "initdb/10-barberpro-role.sh: role barberpro (not superuser, replication, createdb) owns database barberpro" ||
            bad "after the role script: role '$role', owner '$owner'"
    else
        bad "compose/postgres/initdb/10-barberpro-role.sh: $out"
    fi
    if out=$(env -u BARBERPRO_DB_PASSWORD bash compose/postgres/initdb/10-barberpro-role.sh 2>&1); then
        bad "the role script ran without BARBERPRO_DB_PASSWORD"
    else
        ok "the role script refuses to run without BARBERPRO_DB_PASSWORD"
    fi
    # pg_hba.conf: the application role over TCP with its password, and its
    # replication connection; the superuser never over TCP.
    APP_URL="postgresql://barberpro:$DBPASS@127.0.0.1:$PG_PORT/barberpro"
    who=$("$PG_BIN/psql" "$APP_URL" -X -A -t -c 'SELECT current_user' 2>&1 || true)
    wrongpw=$("$PG_BIN/psql" "postgresql://barberpro:nope@127.0.0.1:$PG_PORT/barberpro" -X -A -t -c 'SELECT 1' 2>&1 || true)
    su_tcp=$(PGPASSWORD=x "$PG_BIN/psql" "host=127.0.0.1 port=$PG_PORT user=$BP_PG_OS_USER dbname=postgres" -X -A -t \
        -c 'SELECT 1' 2>&1 || true)
    other_db=$("$PG_BIN/psql" "postgresql://barberpro:$DBPASS@127.0.0.1:$PG_PORT/postgres" -X -A -t -c 'SELECT 1' 2>&1 || true)
    repl=$("$PG_BIN/psql" "host=127.0.0.1 port=$PG_PORT user=barberpro password=$DBPASS dbname=barberpro replication=true" \
        -X -A -t -c 'IDENTIFY_SYSTEM' 2>&1 || true)
    if [[ $who == barberpro && $wrongpw == *"password authentication failed"* &&
        $su_tcp == *"no pg_hba.conf entry"* && $other_db == *"no pg_hba.conf entry"* &&
        $repl =~ ^[0-9]+\| ]]; then
        ok "pg_hba.conf: barberpro over TCP with its password (a wrong one refused) and for replication; the superuser and other databases refused over TCP"
    else
        bad "pg_hba.conf: app '$who'; wrong password '$wrongpw'; superuser '$su_tcp'; other db '$other_db'; replication '$repl'"
    fi
    # Every daemon's migrations as that role (not a superuser).
    failed_mig=()
    for d in "${DAEMONS[@]}"; do
        if ! out=$(DATABASE_URL=$APP_URL "$BIN/barberpro-$d" migrate 2>&1); then
            failed_mig+=("$d: $(tail -n1 <<<"$out")")
        fi
    done
    schemas=$("$PG_BIN/psql" "$APP_URL" -X -A -t -c "SELECT string_agg(nspname, ' ' ORDER BY nspname) FROM pg_namespace
        WHERE nspname IN ('auth', 'booking', 'payment', 'notification', 'backup')" 2>&1)
    ((${#failed_mig[@]} == 0)) && [[ $schemas == "auth backup booking notification payment" ]] &&
        ok "the five daemons' migrations run as barberpro: schemas $schemas" ||
        bad "migrations as barberpro: ${failed_mig[*]}; schemas '$schemas'"
    # WAL archiving: a switched segment reaches BACKUP_LOCAL_DIR/wal through
    # barberpro-backup wal-push.
    seg=$(psql_su -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql_su -c "CREATE TABLE compose_test_wal (x int); INSERT INTO compose_test_wal VALUES (1); SELECT pg_switch_wal()" >/dev/null
    archived=
    for _ in $(seq 1 300); do
        archived=$(psql_su -c "SELECT coalesce(last_archived_wal, '') || '|' || failed_count FROM pg_stat_archiver")
        [[ ${archived%%|*} > $seg || ${archived%%|*} == "$seg" ]] && [[ -n ${archived%%|*} ]] && break
        sleep 0.1
    done
    last=${archived%%|*}
    if [[ -n $last && -s $PGW/backups/wal/$last.gz ]] && gunzip -t "$PGW/backups/wal/$last.gz"; then
        ok "archive_command: segment $last archived by barberpro-backup wal-push into BACKUP_LOCAL_DIR/wal/ ($(stat -c %s "$PGW/backups/wal/$last.gz") bytes gzip'd; failures ${archived#*|})"
    else
        bad "WAL archiving: pg_stat_archiver '$archived' (segment $seg); $(grep -i 'archive\|wal-push' "$PGW/postgres.log" | tail -n 3)"
    fi
    bp_as_pg "$PG_BIN/pg_ctl" -D "$PGW/data" -m fast -w -t 30 stop >/dev/null 2>&1 || bad "PostgreSQL did not stop"
    PG_DATA=
fi
rm -rf "$PG_SOCK"
PG_SOCK=

# =============================================================================
echo
if ((failures)); then
    echo "compose_test: $failures of $checks checks FAILED"
    exit 1
fi
echo "compose_test: all $checks checks passed"
