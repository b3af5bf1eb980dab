#!/usr/bin/env bash
# The systemd side of BarberPro, checked with real tools and real processes
# (systemd is not PID 1 here, so nothing is started by systemd itself):
#  (a) `systemd-analyze verify` on every unit instance of both slots, byte for
#      byte the committed files, with the slots' binaries present where
#      ExecStart= names them; `systemd-analyze security` exposure scores; the
#      example environment files parse and list every setting.
#  (b) The notify protocol, spoken by the processes to a socket of ours as
#      systemd would hear it (NOTIFY_SOCKET, WATCHDOG_USEC=1 s, WATCHDOG_PID):
#      READY=1 with a STATUS=, WATCHDOG=1 every half interval, no WATCHDOG=1
#      while the process is running but its own server cannot answer (the
#      booking daemon's workers stuck on a database that stopped answering;
#      the gateway's connection slots all held by idle clients), pings again
#      once it answers, and STOPPING=1 then exit 0 on SIGTERM.
#  (c) `barberpro-<svc> health`, with only the addresses in its environment:
#      0 while the process answers, 1 within 4 s (one line on stderr saying
#      why) when it is wedged, stopped, killed, or (the gateway) a daemon
#      behind it is down.
# The booking daemon and the gateway under test are the sanitizer builds
# (BP_OPS_TEST_BIN_DIR, when present), so a leak in the watchdog or in the
# health command fails their exit status; the other daemons are the release
# builds (BP_OPS_BIN_DIR) that the gateway's /api/health needs.
set -euo pipefail

BP_SCRIPT=systemd_test
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

BIN=${BP_OPS_BIN_DIR:?BP_OPS_BIN_DIR: the release binaries}
SAN_BIN=${BP_OPS_TEST_BIN_DIR:-$BIN}
[[ -x $SAN_BIN/barberpro-booking && -x $SAN_BIN/barberpro-gateway ]] || SAN_BIN=$BIN
WORK=${BP_OPS_TMP:?BP_OPS_TMP: a scratch folder}
UNITS_SRC=$REPO/compose/systemd
SERVICES=(gateway auth booking payment notification backup)
SLOTS=(blue green)

failures=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

declare -A pid_of=() # name -> pid of a process this script started
cleanup() {
    local rc=$? name pids=()
    trap - EXIT
    set +e
    # A frozen proxy would keep a daemon from stopping: let it run first.
    [[ -n ${pid_of[pgproxy]:-} ]] && kill -CONT "${pid_of[pgproxy]}" 2>/dev/null
    for name in gateway holder "${BP_SERVICES[@]}"; do
        [[ -n ${pid_of[$name]:-} ]] && pids+=("${pid_of[$name]}")
    done
    ((${#pids[@]})) && bp_stop_pids 15 "${pids[@]}" >/dev/null 2>&1
    pids=()
    for name in pgproxy notify-booking notify-gateway notify-auth; do
        [[ -n ${pid_of[$name]:-} ]] && pids+=("${pid_of[$name]}")
    done
    ((${#pids[@]})) && bp_stop_pids 5 "${pids[@]}" >/dev/null 2>&1
    if ((rc != 0)); then
        bp_log "logs: $WORK/logs"
    fi
    exit "$rc"
}
trap cleanup EXIT
mkdir -p "$WORK/logs"

# ---- (a) the unit files ---------------------------------------------------------
echo "== (a) unit files"
command -v systemd-analyze >/dev/null || bp_die "systemd-analyze is missing (apt-get install systemd)"
units=$WORK/units
rm -rf "$units"
mkdir -p "$units"
for f in "$UNITS_SRC"/*@.service "$UNITS_SRC"/*@.target; do
    cp "$f" "$units/"
done
for svc in "${SERVICES[@]}"; do
    [[ -f $units/barberpro-$svc@.service ]] || fail "compose/systemd/barberpro-$svc@.service is missing"
done
[[ -f $units/barberpro@.target ]] || fail "compose/systemd/barberpro@.target is missing"
leftover=$(find "$UNITS_SRC" -maxdepth 1 \( -name '*.service' -o -name '*.target' \) ! -name '*@.*' -printf '%f ')
if [[ -z $leftover ]]; then
    pass "no unit without a slot is left ($UNITS_SRC holds templates only)"
else
    fail "non-template units left in compose/systemd: $leftover"
fi

instances=()
for slot in "${SLOTS[@]}"; do
    for svc in "${SERVICES[@]}"; do
        instances+=("$units/barberpro-$svc@$slot.service")
    done
    instances+=("$units/barberpro@$slot.target")
done

# verify refuses an ExecStart= whose binary is missing, and our units name
# /opt/barberpro/slots/<slot>/bin. In a private mount namespace (root) a
# tmpfs on /opt holds exactly those paths, pointing at this build's
# binaries, and the committed files are verified unchanged. Without one,
# copies whose ExecStart= prefix is the build's bin folder are verified
# instead, after checking that this prefix is their only difference.
# $1: "private" or "rewritten"; then the unit paths.
run_analyze() {
    local mode=$1
    shift
    if [[ $mode == private ]]; then
        # shellcheck disable=SC2016 # expanded by the inner shell
        unshare --mount --propagation private bash -c '
            set -e
            bin=$1 cmd=$2
            shift 2
            mount -t tmpfs -o mode=0755 barberpro-verify /opt
            for slot in blue green; do
                mkdir -p "/opt/barberpro/slots/$slot"
                ln -s "$bin" "/opt/barberpro/slots/$slot/bin"
            done
            mkdir -p /opt/barberpro/slots/nobin
            exec systemd-analyze "$cmd" --man=no "$@"' _ "$BIN" "$@"
    else
        local cmd=$1
        shift
        systemd-analyze "$cmd" --man=no "$@"
    fi
}
mode=private
if ! unshare --mount --propagation private true 2>/dev/null; then
    mode=rewritten
    bp_log "no private mount namespace here (not root?): verifying copies with ExecStart= in $BIN"
    for f in "$units"/*@.service; do
        sed -i "s|^ExecStart=/opt/barberpro/slots/%i/bin/|ExecStart=$BIN/|" "$f"
        changed=$(diff "$UNITS_SRC/$(basename "$f")" "$f" | grep -c '^[<>]' || true)
        ((changed == 2)) || fail "$(basename "$f"): the ExecStart= rewrite changed $changed lines, not 2"
    done
fi

out=$(run_analyze "$mode" verify "${instances[@]}" 2>&1) && rc=0 || rc=$?
if ((rc == 0)) && [[ -z $out ]]; then
    pass "systemd-analyze verify: ${#instances[@]} instances (6 services and the target, blue and green), no warning"
else
    fail "systemd-analyze verify (exit $rc):"
    printf '%s\n' "$out" | sed 's/^/      /'
fi
# The check itself must be able to fail: an instance whose slot has no
# binaries is refused.
if [[ $mode == private ]]; then
    out=$(run_analyze private verify "$units/barberpro-booking@nobin.service" 2>&1) && rc=0 || rc=$?
    if ((rc != 0)) && grep -q 'slots/nobin/bin/barberpro-booking' <<<"$out"; then
        pass "verify refuses a slot without binaries (control: $(head -n1 <<<"$out" | cut -c1-90))"
    else
        fail "verify accepted barberpro-booking@nobin.service (exit $rc): $out"
    fi
fi

# Exposure scores (0 = locked down, 10 = none), printed; above 2.5 fails.
for svc in "${SERVICES[@]}"; do
    out=$(run_analyze "$mode" security --offline=yes "$units/barberpro-$svc@blue.service" 2>&1) ||
        true
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    if [[ -z $score ]]; then
        fail "systemd-analyze security gave no score for barberpro-$svc@blue.service: $(tail -n2 <<<"$out")"
    elif awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
        pass "systemd-analyze security barberpro-$svc@blue.service: exposure $score"
    else
        fail "barberpro-$svc@blue.service exposure $score is above 2.5"
    fi
done

# What the deploy and the processes rely on, setting by setting.
# unit_value <file> <key>: the values of key, one a line.
unit_value() { sed -n "s/^$2=//p" "$UNITS_SRC/$1"; }
for svc in "${SERVICES[@]}"; do
    f=barberpro-$svc@.service
    bad=()
    [[ $(unit_value "$f" Type) == notify ]] || bad+=("Type=notify")
    [[ $(unit_value "$f" NotifyAccess) == main ]] || bad+=("NotifyAccess=main")
    [[ -n $(unit_value "$f" WatchdogSec) ]] || bad+=("WatchdogSec=")
    [[ $(unit_value "$f" Restart) == on-failure ]] || bad+=("Restart=on-failure")
    [[ $(unit_value "$f" DynamicUser) == yes ]] || bad+=("DynamicUser=yes")
    [[ $(unit_value "$f" User) == barberpro ]] || bad+=("User=barberpro (one dynamic user for all)")
    [[ $(unit_value "$f" ExecStart) == "/opt/barberpro/slots/%i/bin/barberpro-$svc" ]] ||
        bad+=("ExecStart=/opt/barberpro/slots/%i/bin/barberpro-$svc")
    [[ $(unit_value "$f" EnvironmentFile | tr '\n' ' ') == "/etc/barberpro/env /etc/barberpro/slot-%i.env " ]] ||
        bad+=("EnvironmentFile= env, then slot-%i.env")
    [[ $(unit_value "$f" RuntimeDirectory) == "barberpro/%i" ]] || bad+=("RuntimeDirectory=barberpro/%i")
    [[ $(unit_value "$f" RuntimeDirectoryPreserve) == yes ]] || bad+=("RuntimeDirectoryPreserve=yes")
    grep -qx 'Environment=BARBERPRO_RUN_DIR=/run/barberpro/%i' "$UNITS_SRC/$f" || bad+=("BARBERPRO_RUN_DIR")
    for key in NoNewPrivileges PrivateTmp ProtectHome PrivateDevices; do
        [[ $(unit_value "$f" "$key") == yes ]] || bad+=("$key=yes")
    done
    [[ $(unit_value "$f" ProtectSystem) == strict ]] || bad+=("ProtectSystem=strict")
    [[ $(unit_value "$f" PartOf) == "barberpro@%i.target" ]] || bad+=("PartOf=barberpro@%i.target")
    case $svc in
    gateway)
        [[ $(unit_value "$f" StateDirectory) == *barberpro/uploads* ]] &&
            grep -qx 'Environment=UPLOAD_DIR=/var/lib/barberpro/uploads' "$UNITS_SRC/$f" ||
            bad+=("UPLOAD_DIR in a StateDirectory")
        for d in auth booking payment notification backup; do
            [[ $(unit_value "$f" After) == *"barberpro-$d@%i.service"* ]] || bad+=("After=barberpro-$d@%i.service")
        done
        ;;
    backup)
        [[ $(unit_value "$f" StateDirectory) == *barberpro/backups* ]] &&
            grep -qx 'Environment=BACKUP_LOCAL_DIR=/var/lib/barberpro/backups' "$UNITS_SRC/$f" ||
            bad+=("BACKUP_LOCAL_DIR in a StateDirectory")
        ;;
    esac
    grep -q "barberpro-$svc@%i.service" "$UNITS_SRC/barberpro@.target" || bad+=("not wanted by barberpro@.target")
    if ((${#bad[@]} == 0)); then
        pass "$f: notify + watchdog, slot paths, both environment files, dynamic user, hardening"
    else
        fail "$f lacks: ${bad[*]}"
    fi
done

# The example environment files: valid for bash too (scripts/backup.sh
# sources /etc/barberpro/env), and together they name every setting of the
# README's table that a unit's process reads (the make run / make test ones
# excepted).
for f in env.example slot-blue.env.example; do
    # shellcheck disable=SC2016 # expanded by the inner shell
    if out=$(env -i bash -c 'set -euo pipefail; set -a; . "$1"; printf "%s" "${BACKUP_SCHEDULE:-}"' _ \
        "$UNITS_SRC/$f" 2>&1); then
        pass "compose/systemd/$f parses in bash${out:+ (BACKUP_SCHEDULE=\"$out\")}"
    else
        fail "compose/systemd/$f does not parse in bash: $out"
    fi
done
for key in PORT BARBERPRO_RUN_DIR BARBERPRO_RELEASE; do
    grep -q "^$key=" "$UNITS_SRC/slot-blue.env.example" || fail "slot-blue.env.example lacks $key="
done
readme_vars=$(awk -F'|' '/^## Configuration/ { on = 1 } on && /^## / && !/Configuration/ { on = 0 }
    on && /^\| `/ && $4 !~ /^ *(make run|make test|make run, make test|scripts\/[^|]*) *$/ {
        n = split($2, parts, "`"); for (i = 2; i <= n; i += 2) print parts[i] }' "$REPO/README.md" |
    grep -E '^[A-Z][A-Z0-9_]*$' | sort -u)
missing=()
for v in $readme_vars; do
    grep -qE "^#? ?$v=" "$UNITS_SRC/env.example" "$UNITS_SRC/slot-blue.env.example" ||
        grep -q "$v is set by the unit" "$UNITS_SRC/env.example" || missing+=("$v")
done
if ((${#missing[@]} == 0)); then
    pass "env.example and slot-blue.env.example name all $(wc -w <<<"$readme_vars") settings of the README"
else
    fail "not in compose/systemd/env.example: ${missing[*]}"
fi

# ---- (b) and (c): the processes under a notify socket of ours ------------------------
echo "== (b) readiness, watchdog and stop; (c) the health command"
run=$WORK/run
rm -rf "$run" "$WORK/uploads" "$WORK/backups"
mkdir -p "$run" "$WORK/uploads" "$WORK/backups"
chmod 700 "$run"
logs=$WORK/logs

# A datagram socket per process, as systemd's: each message, one line per
# assignment, with the wall time it arrived.
cat >"$WORK/notify.py" <<'EOF'
import os, signal, socket, sys, time
path, log = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as out:
    while True:
        data = s.recv(65536).decode("utf-8", "replace")
        now = time.time()
        for line in data.split("\n"):
            if line:
                out.write("%.3f %s\n" % (now, line))
EOF
# A TCP proxy in front of PostgreSQL's unix socket: the booking daemon's
# connections go through it, so that freezing it (SIGSTOP) leaves every
# query of the daemon waiting for ever, as a hung database would.
cat >"$WORK/pgproxy.py" <<'EOF'
import os, socket, sys, threading, urllib.parse
url, port_file = sys.argv[1], sys.argv[2]
parts = urllib.parse.urlsplit(url)
host = urllib.parse.parse_qs(parts.query)["host"][0]
target = os.path.join(host, ".s.PGSQL.5432")
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(256)
with open(port_file + ".tmp", "w") as f:
    f.write("%d %s\n" % (srv.getsockname()[1], parts.path.lstrip("/")))
os.rename(port_file + ".tmp", port_file)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = srv.accept()
    u = socket.socket(socket.AF_UNIX)
    try:
        u.connect(target)
    except OSError:
        c.close()
        continue
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
EOF
# Holds n idle connections to the gateway (no request on them) until killed.
cat >"$WORK/holder.py" <<'EOF'
import signal, socket, sys
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
with open(ready, "w") as f:
    f.write("%d\n" % len(held))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
signal.pause()
EOF

start_notify() {
    local name=$1
    rm -f "$logs/notify-$name.log"
    : >"$logs/notify-$name.log"
    python3 "$WORK/notify.py" "$run/notify-$name.sock" "$logs/notify-$name.log" </dev/null \
        2>>"$logs/notify-$name.err" &
    pid_of[notify-$name]=$!
}
start_notify booking
start_notify gateway
start_notify auth
rm -f "$WORK/pgproxy.port"
python3 "$WORK/pgproxy.py" "$BP_OPS_DATABASE_URL" "$WORK/pgproxy.port" </dev/null 2>>"$logs/pgproxy.log" &
pid_of[pgproxy]=$!

# wait_file <path> <seconds>: until the file (or socket) exists.
wait_file() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        [[ -e $1 ]] && return 0
        sleep 0.05
    done
    return 1
}
for name in booking gateway auth; do
    wait_file "$run/notify-$name.sock" 10 || bp_die "the notify socket of $name did not appear"
done
wait_file "$WORK/pgproxy.port" 10 || bp_die "the PostgreSQL proxy did not start ($logs/pgproxy.log)"
read -r proxy_port proxy_db <"$WORK/pgproxy.port"

# The suite's environment, made private: this test's database, Redis db,
# run folder, port and folders. The harness's stand-ins stay in use.
export DATABASE_URL=$BP_OPS_DATABASE_URL REDIS_URL=$BP_OPS_REDIS_URL
export BARBERPRO_RUN_DIR=$run BARBERPRO_VAR_DIR=$WORK UPLOAD_DIR=$WORK/uploads
export BACKUP_LOCAL_DIR=$WORK/backups BACKUP_SCHEDULE="0 0 1 1 *"
export BARBERPRO_RELEASE=systemd-test-1
export GATEWAY_THREADS=2 BOOKING_WORKERS=4
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID AUTH_LISTEN_URL BOOKING_LISTEN_URL
unset AUTH_RPC_URL BOOKING_RPC_URL PAYMENT_RPC_URL NOTIFICATION_RPC_URL BACKUP_RPC_URL
{ read -r PORT && read -r payment_port; } < <(bp_free_ports 2)
export PORT
# One daemon on TCP, listening on the wildcard address: its health command
# must dial loopback instead, and the gateway reaches it the same way.
export PAYMENT_RPC_URL=tcp://0.0.0.0:$payment_port

# start <name> <binary> [VAR=value...]: in the background, output to its
# log; the variables go to that process only, WATCHDOG_PID set to its own
# pid (the subshell's, which exec keeps) when WATCHDOG_USEC is given.
start() {
    local name=$1 bin=$2
    shift 2
    (
        for kv in "$@"; do export "${kv?}"; done
        [[ -n ${WATCHDOG_USEC:-} ]] && export WATCHDOG_PID=$BASHPID
        # The gateway's open-file limit bounds its connection slots (see
        # the wedge below): 600 descriptors leave it 88.
        [[ $name == gateway ]] && ulimit -n 600
        exec "$bin"
    ) </dev/null >>"$logs/$name.log" 2>&1 &
    pid_of[$name]=$!
}
# One worker: a call stuck on the frozen database (below) then holds every
# worker the daemon has, which is what a wedged daemon is.
start booking "$SAN_BIN/barberpro-booking" "NOTIFY_SOCKET=$run/notify-booking.sock" \
    WATCHDOG_USEC=1000000 BOOKING_WORKERS=1 \
    "DATABASE_URL=postgresql://127.0.0.1:$proxy_port/$proxy_db?connect_timeout=5"
# WATCHDOG_USEC without NOTIFY_SOCKET: not under systemd, so nothing at all.
start auth "$BIN/barberpro-auth" WATCHDOG_USEC=1000000
for name in payment notification backup; do
    start "$name" "$BIN/barberpro-$name"
done
start gateway "$SAN_BIN/barberpro-gateway" "NOTIFY_SOCKET=$run/notify-gateway.sock" WATCHDOG_USEC=1000000

# wait_line <name> <regex> <seconds>: until the notify log of name has a
# matching line, while the process runs.
wait_line() {
    local name=$1 re=$2 secs=$3 i
    for ((i = 0; i < secs * 20; i++)); do
        grep -qE "$re" "$logs/notify-$name.log" && return 0
        [[ $name == booking || $name == gateway ]] && ! bp_alive "${pid_of[$name]}" && return 1
        sleep 0.05
    done
    return 1
}
for name in booking gateway; do
    if wait_line "$name" ' READY=1$' 90; then
        status=$(grep -m1 ' STATUS=' "$logs/notify-$name.log" | cut -d' ' -f2-)
        pass "barberpro-$name sent READY=1 with $status"
        [[ $status == *"release systemd-test-1"* ]] || fail "barberpro-$name's STATUS= lacks the release"
    else
        fail "barberpro-$name sent no READY=1 (log: $logs/$name.log)"
        tail -n 20 "$logs/$name.log" >&2 || true
        exit 1
    fi
done
if ! bp_wait_health "http://127.0.0.1:$PORT/api/health" 60 "${pid_of[@]}"; then
    tail -n 5 "$logs"/*.log >&2 || true
    bp_die "the suite did not become healthy (last /api/health status: $BP_LAST_STATUS)"
fi

# pings <name> <from> <to>: WATCHDOG=1 messages received in [from, to).
pings() {
    awk -v a="$2" -v b="$3" '$2 == "WATCHDOG=1" && $1 >= a && $1 < b { n++ } END { print n + 0 }' \
        "$logs/notify-$1.log"
}
now() { printf '%s\n' "$EPOCHREALTIME"; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
# first_ping_after <name> <time> <seconds>: prints the time of the first
# WATCHDOG=1 at or after time, waiting up to seconds for one.
first_ping_after() {
    local name=$1 after=$2 secs=$3 i t
    for ((i = 0; i < secs * 20; i++)); do
        t=$(awk -v a="$after" '$2 == "WATCHDOG=1" && $1 >= a { print $1; exit }' "$logs/notify-$name.log")
        if [[ -n $t ]]; then
            printf '%s\n' "$t"
            return 0
        fi
        sleep 0.05
    done
    return 1
}
# health <name> [bin dir]: runs barberpro-<name> health (the release build
# unless told: a sanitizer build takes most of a second just to start) with
# nothing in its environment but the addresses (no DATABASE_URL, no
# secrets); sets health_rc, health_ms, health_err (its stderr, one line).
health() {
    local t0 t1
    t0=$(now)
    health_err=$(env -i "BARBERPRO_RUN_DIR=$run" "PORT=$PORT" "PAYMENT_RPC_URL=$PAYMENT_RPC_URL" \
        "ASAN_OPTIONS=${ASAN_OPTIONS:-}" "UBSAN_OPTIONS=${UBSAN_OPTIONS:-}" \
        "${2:-$BIN}/barberpro-$1" health 2>&1 >/dev/null) && health_rc=0 || health_rc=$?
    t1=$(now)
    health_ms=$(ms_between "$t0" "$t1")
}
# san_health <name> <expected exit>: the same under the sanitizers, which
# turn a leak into another exit status and a report.
san_health() {
    [[ $SAN_BIN != "$BIN" ]] || return 0
    health "$1" "$SAN_BIN"
    if ((health_rc == $2)) && [[ $health_err != *Sanitizer* ]]; then
        pass "barberpro-$1 health under ASan/UBSan: exit $2, no report"
    else
        fail "barberpro-$1 health under ASan/UBSan: exit $health_rc (expected $2): $health_err"
    fi
}

# -- (c) health while everything answers
for name in booking gateway; do
    health "$name"
    if ((health_rc == 0)); then
        pass "barberpro-$name health: exit 0 in $health_ms ms with the process up"
    else
        fail "barberpro-$name health: exit $health_rc with the process up: $health_err"
    fi
    san_health "$name" 0
done

health payment
if ((health_rc == 0)); then
    pass "barberpro-payment health on $PAYMENT_RPC_URL (dials 127.0.0.1): exit 0 in $health_ms ms"
else
    fail "barberpro-payment health on $PAYMENT_RPC_URL: exit $health_rc: $health_err"
fi

# -- (b) pings while everything answers: 1 s interval, so one every 0.5 s
t0=$(now)
sleep 3
t1=$(now)
for name in booking gateway; do
    n=$(pings "$name" "$t0" "$t1")
    if ((n >= 4)); then
        pass "barberpro-$name: $n WATCHDOG=1 in 3 s while it answers (6 expected)"
    else
        fail "barberpro-$name: only $n WATCHDOG=1 in 3 s while it answers"
    fi
done
if [[ ! -s $logs/notify-auth.log ]] && ! grep -q watchdog "$logs/auth.log"; then
    pass "barberpro-auth with WATCHDOG_USEC but no NOTIFY_SOCKET: no message, no check"
else
    fail "barberpro-auth without NOTIFY_SOCKET still did something: $(head -n2 "$logs/notify-auth.log")"
fi

# -- (b) the booking daemon's database stops answering. While its worker is
# free the watchdog's Ping (no store) still passes: restarting the daemon
# would not bring PostgreSQL back. Then the health command's Health call
# hangs on the database and holds the only worker: the daemon is wedged, no
# Ping gets an answer, and the pings stop while the process runs on.
kill -STOP "${pid_of[pgproxy]}"
frozen=$(now)
sleep 1.6
n=$(pings booking "$frozen" "$(now)")
if ((n >= 2)); then
    pass "barberpro-booking with its database frozen and its worker free: $n WATCHDOG=1 in 1.6 s (Ping needs no store)"
else
    fail "barberpro-booking stopped pinging ($n in 1.6 s) only because its database hung"
fi
t0=$(now)
health booking
sleep 2
t1=$(now)
# From half a second after the Health call went out: a Ping dispatched just
# before it may still have had the worker.
t0=$(awk -v t="$t0" 'BEGIN { printf "%.6f", t + 0.5 }')
n=$(pings booking "$t0" "$t1")
g=$(pings gateway "$t0" "$t1")
bp_alive "${pid_of[booking]}" || fail "barberpro-booking died while its database hung"
if ((n == 0)); then
    pass "barberpro-booking wedged (its only worker stuck on the frozen database): 0 WATCHDOG=1 in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, the process still running"
else
    fail "barberpro-booking sent $n WATCHDOG=1 while no worker could answer"
fi
if grep -q 'STATUS=not answering' "$logs/notify-booking.log"; then
    pass "barberpro-booking's STATUS= said: $(grep -m1 'STATUS=not answering' "$logs/notify-booking.log" | cut -d' ' -f2- | cut -c1-110)"
else
    fail "barberpro-booking's STATUS= never said it is not answering"
fi
if ((g >= 3)); then
    pass "barberpro-gateway kept pinging ($g) while booking was wedged: its check needs no daemon"
else
    fail "barberpro-gateway sent only $g WATCHDOG=1 while booking was wedged"
fi
if ((health_rc == 1 && health_ms < 4000)); then
    pass "barberpro-booking health: exit 1 in $health_ms ms while wedged ($health_err)"
else
    fail "barberpro-booking health while wedged: exit $health_rc in $health_ms ms ($health_err)"
fi
kill -CONT "${pid_of[pgproxy]}"
thawed=$(now)
if first=$(first_ping_after booking "$thawed" 3); then
    pass "barberpro-booking pings again $(ms_between "$thawed" "$first") ms after its database answers again (frozen for $(ms_between "$frozen" "$thawed") ms)"
else
    fail "barberpro-booking sent no WATCHDOG=1 within 3 s of its database answering again"
fi

# -- (b) the gateway wedged: every connection slot held by an idle client,
# so its HTTP server answers nobody, while the process runs on.
sleep 1 # let the booking daemon's recovery settle before the next figures
rm -f "$WORK/holder.ready"
python3 "$WORK/holder.py" "$PORT" 100 "$WORK/holder.ready" </dev/null 2>>"$logs/holder.log" &
pid_of[holder]=$!
wait_file "$WORK/holder.ready" 20 || fail "could not open 100 connections to the gateway ($logs/holder.log)"
sleep 0.6
t0=$(now)
sleep 2
t1=$(now)
n=$(pings gateway "$t0" "$t1")
if ((n == 0)); then
    pass "barberpro-gateway wedged ($(tr -d '\n' <"$WORK/holder.ready") idle connections hold its 88 slots): 0 WATCHDOG=1 in 2 s, the process still running"
else
    fail "barberpro-gateway sent $n WATCHDOG=1 while its HTTP server could answer nobody"
fi
bp_alive "${pid_of[gateway]}" || fail "barberpro-gateway died while its slots were held"
kill -TERM "${pid_of[holder]}" 2>/dev/null || true
bp_wait_exit 5 "${pid_of[holder]}" || true
unset 'pid_of[holder]'
released=$(now)
if first=$(first_ping_after gateway "$released" 3); then
    pass "barberpro-gateway pings again $(ms_between "$released" "$first") ms after the idle clients left"
else
    fail "barberpro-gateway sent no WATCHDOG=1 within 3 s of its slots being free"
fi

# -- (c) the gateway's health names a daemon that is down
kill -TERM "${pid_of[notification]}"
wait "${pid_of[notification]}" || true
unset 'pid_of[notification]'
health gateway
if ((health_rc == 1 && health_ms < 4000)) && [[ $health_err == *notification* ]]; then
    pass "barberpro-gateway health: exit 1 in $health_ms ms with a daemon down ($(cut -c1-220 <<<"$health_err"))"
else
    fail "barberpro-gateway health with notification down: exit $health_rc in $health_ms ms ($health_err)"
fi

# -- (b) SIGTERM: STOPPING=1, then exit 0 (the sanitizers check for leaks);
# (c) then health says so at once.
for name in gateway booking; do
    kill -TERM "${pid_of[$name]}"
    wait "${pid_of[$name]}" && st=0 || st=$?
    unset "pid_of[$name]"
    if ((st == 0)) && grep -q ' STOPPING=1$' "$logs/notify-$name.log"; then
        pass "barberpro-$name: STOPPING=1 ($(grep ' STATUS=stopping' "$logs/notify-$name.log" | tail -n1 | cut -d' ' -f2-)) and exit 0 on SIGTERM"
    else
        fail "barberpro-$name on SIGTERM: exit $st, STOPPING=1 $(grep -c ' STOPPING=1$' "$logs/notify-$name.log") times"
        tail -n 30 "$logs/$name.log" >&2 || true
    fi
    if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$logs/$name.log"; then
        fail "a sanitizer report in $logs/$name.log"
    fi
    health "$name"
    if ((health_rc == 1 && health_ms < 4000)); then
        pass "barberpro-$name health: exit 1 in $health_ms ms once stopped ($health_err)"
    else
        fail "barberpro-$name health once stopped: exit $health_rc in $health_ms ms ($health_err)"
    fi
    san_health "$name" 1
done

# -- (c) a daemon killed outright leaves its socket file behind: nothing
# accepts on it, and health gives up within its 3 s.
kill -KILL "${pid_of[auth]}"
wait "${pid_of[auth]}" 2>/dev/null || true
unset 'pid_of[auth]'
health auth
if ((health_rc == 1 && health_ms < 4000)); then
    pass "barberpro-auth health: exit 1 in $health_ms ms after kill -9 ($health_err)"
else
    fail "barberpro-auth health after kill -9: exit $health_rc in $health_ms ms ($health_err)"
fi

if ((failures > 0)); then
    echo "systemd_test: $failures check(s) failed"
    exit 1
fi
echo "systemd_test: all checks passed in ${SECONDS} s"
