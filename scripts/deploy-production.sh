#!/usr/bin/env bash
# Blue-green deploys of BarberPro on a host running the systemd units of
# compose/systemd (barberpro-<svc>@.service grouped by barberpro@.target, the
# instance being the slot):
#
#   deploy-production.sh [options] production      deploy a release to production
#   deploy-production.sh [options] staging         the same flow for staging
#   deploy-production.sh [options] rollback [staging]  traffic back to the other slot
#   deploy-production.sh [options] status [staging]    which slot is live, what runs
#
# A deploy installs the release into the slot nginx does not serve, writes
# that slot's environment file, runs every daemon's `migrate` (migrations are
# backward compatible: the live slot keeps running on the same database),
# starts the slot's target, waits until all six processes answer their
# `health` command, smoke-tests real read requests through the slot's own
# port, then rewrites nginx's upstream file, checks it with `nginx -t` and
# reloads nginx gracefully (old workers finish their requests). The old slot
# keeps running, so `rollback` is one upstream switch; the next deploy
# replaces it. Nothing is switched unless the new slot is healthy: a failure
# stops the half-started slot, puts its previous release back and leaves
# nginx as it was.
#
# Every host path and command can be changed through the environment (see
# usage below); the test (tests/ops/deploy_test.sh) runs the whole flow on
# one machine with a stand-in for systemctl and its own nginx.
set -euo pipefail

BP_SCRIPT=deploy
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

usage() {
    cat <<'EOF'
usage: deploy-production.sh [options] production|staging
       deploy-production.sh [options] rollback|status [production|staging]

options:
  --dry-run               print every step and command, change nothing (also DRY_RUN=1)
  --release PATH          the release: a folder holding the six barberpro-* binaries
                          (directly, like build/bin, or in bin/), or a .tar.gz/.tgz/.tar
                          of such a folder (DEPLOY_RELEASE; default: this checkout's build/bin,
                          built beforehand with make)
  --version NAME          BARBERPRO_RELEASE of the slot (DEPLOY_VERSION; default: the
                          release's VERSION file, else `git describe` of this checkout)
  --health-timeout SECS   how long the new slot has to become healthy (DEPLOY_HEALTH_TIMEOUT, 60)
  --stop-old-after SECS   after the switch, wait until nginx's old workers have finished,
                          then SECS more, then stop the old slot (DEPLOY_STOP_OLD_AFTER;
                          default: keep it running for rollback until the next deploy)
  -h, --help

environment (defaults for production; staging differs where noted):
  DEPLOY_ROOT=/opt/barberpro          releases in $DEPLOY_ROOT/slots/<slot>/bin
  DEPLOY_ETC=/etc/barberpro           shared env ($DEPLOY_ETC/env), slot env files
                                      ($DEPLOY_ETC/slot-<slot>.env), staging's settings
                                      ($DEPLOY_ETC/staging.env)
  DEPLOY_STATE_DIR=/var/lib/barberpro/deploy   live/previous slot and history, per environment
  DEPLOY_RUN_ROOT=/run/barberpro      BARBERPRO_RUN_DIR of a slot is $DEPLOY_RUN_ROOT/<slot>
  DEPLOY_BLUE_PORT, DEPLOY_GREEN_PORT gateway ports of the slots (3000, 3001; staging 3100, 3101)
  DEPLOY_BIND_ADDRESS=127.0.0.1       BIND_ADDRESS of the slots' gateways (nginx is local)
  DEPLOY_SERVICE_MANAGER=systemctl    called as: start|stop|enable|disable|is-active --quiet|status <unit>
  DEPLOY_NGINX=nginx                  the nginx command, run with -t and -s reload
  DEPLOY_NGINX_CONF, DEPLOY_NGINX_PREFIX   given to nginx as -c and -p when set
  DEPLOY_NGINX_PID=/run/nginx.pid     nginx's pid file (to see a reload take effect)
  DEPLOY_NGINX_UPSTREAM=/etc/nginx/barberpro/upstream.conf  (staging: upstream-staging.conf)
  DEPLOY_UPSTREAM_NAME=barberpro_gateway  (staging: barberpro_gateway_staging)
  DEPLOY_UPSTREAM_KEEPALIVE=64        idle keepalive connections nginx keeps to the gateway
  DEPLOY_MIGRATE_AS                   run `migrate` and `health` as this user (runuser; when
                                      the database takes peer authentication for the units' user)
  DEPLOY_DRAIN_TIMEOUT=60             longest wait for nginx's old workers before stopping a slot
  DEPLOY_MIGRATE_TIMEOUT=600          longest run of one daemon's migrate (a lock held elsewhere)
EOF
}

# ---- options ---------------------------------------------------------------------
DRY_RUN=${DRY_RUN:-0}
[[ $DRY_RUN == 0 || $DRY_RUN == 1 ]] || bp_die "DRY_RUN must be 0 or 1"
RELEASE_SRC=${DEPLOY_RELEASE:-}
VERSION=${DEPLOY_VERSION:-}
HEALTH_TIMEOUT=${DEPLOY_HEALTH_TIMEOUT:-60}
STOP_OLD_AFTER=${DEPLOY_STOP_OLD_AFTER:-}
ACTION=
ENV_NAME=
while (($#)); do
    case $1 in
    --dry-run) DRY_RUN=1 ;;
    --release) RELEASE_SRC=${2:?--release needs a path}; shift ;;
    --release=*) RELEASE_SRC=${1#*=} ;;
    --version) VERSION=${2:?--version needs a name}; shift ;;
    --version=*) VERSION=${1#*=} ;;
    --health-timeout) HEALTH_TIMEOUT=${2:?--health-timeout needs seconds}; shift ;;
    --health-timeout=*) HEALTH_TIMEOUT=${1#*=} ;;
    --stop-old-after) STOP_OLD_AFTER=${2:?--stop-old-after needs seconds}; shift ;;
    --stop-old-after=*) STOP_OLD_AFTER=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; bp_die "unknown option $1" ;;
    *)
        if [[ -z $ACTION ]]; then
            ACTION=$1
        elif [[ -z $ENV_NAME ]]; then
            ENV_NAME=$1
        else
            usage >&2
            bp_die "too many arguments"
        fi
        ;;
    esac
    shift
done
case $ACTION in
production | staging)
    [[ -z $ENV_NAME ]] || bp_die "$ACTION takes no further argument"
    ENV_NAME=$ACTION
    ACTION=deploy
    ;;
rollback | status)
    ENV_NAME=${ENV_NAME:-production}
    [[ $ENV_NAME == production || $ENV_NAME == staging ]] ||
        bp_die "$ACTION: the environment is production or staging, not '$ENV_NAME'"
    ;;
'') usage >&2; exit 2 ;;
*) usage >&2; bp_die "unknown command '$ACTION'" ;;
esac
[[ $HEALTH_TIMEOUT =~ ^[1-9][0-9]*$ ]] || bp_die "the health timeout must be a number of seconds"
[[ -z $STOP_OLD_AFTER || $STOP_OLD_AFTER =~ ^[0-9]+$ ]] ||
    bp_die "--stop-old-after must be a number of seconds"

# ---- the environment's parameters: one code path, two profiles -------------------
# Staging runs the same units as production on the same kind of host, with
# its own slot names (the units' instance: staging-blue, staging-green, so
# its env files, releases and bus sockets never meet production's), its own
# ports and its own nginx upstream (which a staging server block proxies
# to). Its slot env files start with $DEPLOY_ETC/staging.env, which must
# override every variable of the shared env: systemd reads /etc/barberpro/env
# first, and a staging slot must not inherit a production secret or database.
ROOT=${DEPLOY_ROOT:-/opt/barberpro}
ETC=${DEPLOY_ETC:-/etc/barberpro}
RUN_ROOT=${DEPLOY_RUN_ROOT:-/run/barberpro}
BIND=${DEPLOY_BIND_ADDRESS:-127.0.0.1}
if [[ $ENV_NAME == production ]]; then
    SLOT_PREFIX=
    PORT_BLUE=${DEPLOY_BLUE_PORT:-3000}
    PORT_GREEN=${DEPLOY_GREEN_PORT:-3001}
    UPSTREAM_FILE=${DEPLOY_NGINX_UPSTREAM:-/etc/nginx/barberpro/upstream.conf}
    UPSTREAM_NAME=${DEPLOY_UPSTREAM_NAME:-barberpro_gateway}
    ENV_SETTINGS=
else
    SLOT_PREFIX=staging-
    PORT_BLUE=${DEPLOY_BLUE_PORT:-3100}
    PORT_GREEN=${DEPLOY_GREEN_PORT:-3101}
    UPSTREAM_FILE=${DEPLOY_NGINX_UPSTREAM:-/etc/nginx/barberpro/upstream-staging.conf}
    UPSTREAM_NAME=${DEPLOY_UPSTREAM_NAME:-barberpro_gateway_staging}
    ENV_SETTINGS=$ETC/staging.env
fi
STATE=${DEPLOY_STATE_DIR:-/var/lib/barberpro/deploy}/$ENV_NAME
KEEPALIVE=${DEPLOY_UPSTREAM_KEEPALIVE:-64}
DRAIN_TIMEOUT=${DEPLOY_DRAIN_TIMEOUT:-60}
MIGRATE_TIMEOUT=${DEPLOY_MIGRATE_TIMEOUT:-600}
NGINX_PID=${DEPLOY_NGINX_PID:-/run/nginx.pid}
read -r -a SM <<<"${DEPLOY_SERVICE_MANAGER:-systemctl}"
read -r -a NGINX <<<"${DEPLOY_NGINX:-nginx}"
[[ -n ${DEPLOY_NGINX_PREFIX:-} ]] && NGINX+=(-p "$DEPLOY_NGINX_PREFIX")
[[ -n ${DEPLOY_NGINX_CONF:-} ]] && NGINX+=(-c "$DEPLOY_NGINX_CONF")
[[ $PORT_BLUE =~ ^[0-9]+$ && $PORT_GREEN =~ ^[0-9]+$ && $PORT_BLUE != "$PORT_GREEN" ]] ||
    bp_die "the slots' ports must be two different numbers (blue $PORT_BLUE, green $PORT_GREEN)"
[[ $UPSTREAM_NAME =~ ^[A-Za-z0-9_]+$ ]] || bp_die "bad upstream name '$UPSTREAM_NAME'"
[[ $KEEPALIVE =~ ^[0-9]+$ && $DRAIN_TIMEOUT =~ ^[0-9]+$ && $MIGRATE_TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
    bp_die "DEPLOY_UPSTREAM_KEEPALIVE, DEPLOY_DRAIN_TIMEOUT and DEPLOY_MIGRATE_TIMEOUT are numbers"

DAEMONS=(auth booking payment notification backup)
PROCESSES=("${DAEMONS[@]}" gateway)

# ---- output and the dry-run ------------------------------------------------------
say() { printf 'deploy: %s\n' "$*"; }
step() { printf '\ndeploy: == %s  [%ds]\n' "$*" "$SECONDS"; }
dry() { ((DRY_RUN)); }
quoted() {
    local out='' a
    for a in "$@"; do out+=" $(printf '%q' "$a")"; done
    printf '%s' "${out# }"
}

# run <command>...: a command that changes the host. Printed, then run
# (printed only in a dry run). The lock's descriptor is not passed on: a
# process started by it must not hold the lock after this script ends.
run() {
    say "+ $(quoted "$@")"
    dry && return 0
    "$@" 9>&-
}

# write_file <path> <mode>: writes stdin to <path> atomically (a temporary
# file in the same folder, then rename); a dry run prints the text instead,
# with the values of secrets (and passwords inside URLs) hidden.
write_file() {
    local path=$1 mode=$2 text
    text=$(cat)
    if dry; then
        say "+ write $path (mode $mode):"
        sed -E -e 's/^([A-Za-z0-9_]*(SECRET|PASSWORD|PASS|TOKEN|_KEY|_SID)[A-Za-z0-9_]*)=.+/\1=<hidden>/' \
            -e 's#(://[^/:@]*:)[^@/]*@#\1<hidden>@#' -e 's/^/deploy:     | /' <<<"$text"
        return 0
    fi
    say "+ write $path"
    replace_file "$path" "$mode" "$text"
}

# replace_file <path> <mode> <text>: <text> becomes <path> at once: it is
# written beside it under a unique name, then renamed over it, so that a
# reader never sees half a file.
replace_file() {
    local path=$1 mode=$2 text=$3 partial
    mkdir -p "$(dirname "$path")"
    partial=$(mktemp "$path.partial.XXXXXX")
    printf '%s\n' "$text" >"$partial"
    chmod "$mode" "$partial"
    mv -f "$partial" "$path"
}

# ---- slots -------------------------------------------------------------------------
slot_name() { printf '%s%s\n' "$SLOT_PREFIX" "$1"; } # blue|green -> the unit instance
slot_port() {
    case ${1#"$SLOT_PREFIX"} in
    blue) printf '%s\n' "$PORT_BLUE" ;;
    green) printf '%s\n' "$PORT_GREEN" ;;
    *) bp_die "no such slot: $1" ;;
    esac
}
other_slot() {
    case ${1#"$SLOT_PREFIX"} in
    blue) slot_name green ;;
    *) slot_name blue ;;
    esac
}
slot_dir() { printf '%s/slots/%s\n' "$ROOT" "$1"; }
slot_env() { printf '%s/slot-%s.env\n' "$ETC" "$1"; }
target_unit() { printf 'barberpro@%s.target\n' "$1"; }
slot_release() { # the release a slot holds, empty when none
    local f
    f=$(slot_dir "$1")/RELEASE
    [[ -r $f ]] && sed -n 's/^release=//p' "$f" | head -n 1
    return 0
}

# The live slot is the one nginx's upstream file points at: the file written
# by this script names its slot on a marker line and the slot's port on its
# server line; both must agree. A file without the marker (the first
# upstream file, written by hand before the first deploy) means no slot is
# live.
live_slot() {
    [[ -e $UPSTREAM_FILE ]] || return 0
    [[ -r $UPSTREAM_FILE ]] || bp_die "cannot read $UPSTREAM_FILE: which slot is live?"
    local marked port s
    marked=$(sed -n 's/^# barberpro-deploy: live-slot=\([A-Za-z0-9-]*\).*/\1/p' "$UPSTREAM_FILE" | head -n 1)
    [[ -n $marked ]] || return 0
    port=$(sed -n 's/^[[:space:]]*server[[:space:]]\{1,\}[^:[:space:]]*:\([0-9]\{1,\}\).*/\1/p' "$UPSTREAM_FILE" | head -n 1)
    for s in "$(slot_name blue)" "$(slot_name green)"; do
        if [[ $s == "$marked" && $(slot_port "$s") == "$port" ]]; then
            printf '%s\n' "$s"
            return 0
        fi
    done
    bp_die "$UPSTREAM_FILE names slot '$marked' but points at port '$port': fix it by hand (or remove its marker line)"
}

env_keys() { # the variable names a file sets
    local BP_ENV_VARS=() kv
    bp_read_env_file "$1"
    for kv in "${BP_ENV_VARS[@]}"; do printf '%s\n' "${kv%%=*}"; done
}

# slot_exec <slot> <command>...: runs a release's command the way the unit
# runs the daemon: only the variables of the shared env file and of the
# slot's env file (in that order, the later winning), as DEPLOY_MIGRATE_AS
# when set.
slot_exec() {
    local slot=$1
    shift
    local BP_ENV_VARS=()
    bp_read_env_file "$ETC/env"
    bp_read_env_file "$(slot_env "$slot")"
    local prefix=()
    if [[ -n ${DEPLOY_MIGRATE_AS:-} ]]; then
        prefix=(runuser -u "$DEPLOY_MIGRATE_AS" --)
    fi
    "${prefix[@]}" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent "${BP_ENV_VARS[@]}" "$@" 9>&-
}

# ---- nginx -------------------------------------------------------------------------
nginx_master() {
    local pid
    pid=$(cat "$NGINX_PID" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && bp_alive "$pid" || return 1
    printf '%s\n' "$pid"
}
# The pids of the processes nginx's master runs (workers, cache manager).
nginx_children() {
    local master=$1 f stat ppid
    for f in /proc/[0-9]*/stat; do
        { read -r stat <"$f"; } 2>/dev/null || continue
        stat=${stat##*) } # after the command name: state, ppid, ...
        ppid=${stat#* }
        ppid=${ppid%% *}
        if [[ $ppid == "$master" ]]; then
            f=${f#/proc/}
            printf '%s\n' "${f%/stat}"
        fi
    done
}

# upstream_text <slot> <release>: the upstream file for a slot.
upstream_text() {
    local slot=$1 release=$2
    cat <<EOF
# barberpro-deploy: live-slot=$slot release=$release env=$ENV_NAME
# Written by scripts/deploy-production.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ); the next deploy or
# rollback rewrites it. The gateway of slot $slot, on this host.
upstream $UPSTREAM_NAME {
    server 127.0.0.1:$(slot_port "$slot");
    keepalive $KEEPALIVE;
}
EOF
}

# switch_nginx <slot> <release>: points nginx at the slot and reloads it.
# Returns 1, with the previous upstream file back in place, when nginx
# refuses the file or does not take the reload. Sets OLD_WORKERS (the
# processes that serve the previous configuration until their requests end).
OLD_WORKERS=()
switch_nginx() {
    local slot=$1 release=$2 backup=
    # The copy goes to the state folder, not beside the file: a host's
    # nginx.conf may include every file of that folder.
    if ! dry && [[ -e $UPSTREAM_FILE ]]; then
        backup=$STATE/upstream.conf.before
        cp -p "$UPSTREAM_FILE" "$backup"
    fi
    upstream_text "$slot" "$release" | write_file "$UPSTREAM_FILE" 0644
    restore_upstream() {
        if [[ -n $backup ]]; then
            mv -f "$backup" "$UPSTREAM_FILE"
        else
            rm -f "$UPSTREAM_FILE"
        fi
        bp_log "the previous $UPSTREAM_FILE is back"
    }
    if ! run "${NGINX[@]}" -t -q; then
        bp_log "nginx refused the new upstream file"
        restore_upstream
        return 1
    fi
    local master=
    if ! dry; then
        master=$(nginx_master) || {
            bp_log "nginx is not running (no live pid in $NGINX_PID)"
            restore_upstream
            return 1
        }
        mapfile -t OLD_WORKERS < <(nginx_children "$master")
    fi
    if ! run "${NGINX[@]}" -s reload; then
        restore_upstream
        return 1
    fi
    dry && return 0
    # nginx starts new workers only once it has read the new configuration;
    # when the reload fails (the master logs why) the old workers stay.
    local deadline=$((SECONDS + 15)) pid
    local -A old=()
    for pid in "${OLD_WORKERS[@]}"; do old[$pid]=1; done
    while ((SECONDS < deadline)); do
        for pid in $(nginx_children "$master"); do
            if [[ -z ${old[$pid]:-} ]]; then
                [[ -n $backup ]] && rm -f "$backup"
                say "nginx reloaded: new workers serve slot $slot; the old ones finish their requests"
                return 0
            fi
        done
        sleep 0.1
    done
    bp_log "nginx did not take the new configuration within 15 s (see its error log)"
    restore_upstream
    run "${NGINX[@]}" -s reload || true
    return 1
}

# Waits (at most DEPLOY_DRAIN_TIMEOUT) until the workers that served the
# previous configuration have finished their requests and exited.
wait_drain() {
    bp_wait_exit "$DRAIN_TIMEOUT" "${OLD_WORKERS[@]}" ||
        bp_log "nginx's old workers still run after ${DRAIN_TIMEOUT}s; going on"
}

# ---- health and smoke tests --------------------------------------------------------
# wait_healthy <slot>: every process of the slot answers its `health`
# command (the daemons over the slot's bus, the gateway with GET /api/health,
# which also asks every daemon) before the deadline.
wait_healthy() {
    local slot=$1 start=$SECONDS deadline=$((SECONDS + HEALTH_TIMEOUT)) next=$((SECONDS + 5)) p bad bin
    bin=$(slot_dir "$slot")/bin
    say "waiting up to ${HEALTH_TIMEOUT}s for the six processes of $slot: $bin/barberpro-<svc> health"
    dry && return 0
    while :; do
        # The six checks of a round at once: a round lasts one answer (or one
        # 3 s timeout), not six.
        local pids=() i
        for p in "${PROCESSES[@]}"; do
            slot_exec "$slot" "$bin/barberpro-$p" health >"$STATE/health-$p.err" 2>&1 &
            pids+=($!)
        done
        bad=
        for i in "${!PROCESSES[@]}"; do
            if ! wait "${pids[i]}" && [[ -z $bad ]]; then
                bad=${PROCESSES[i]}
            fi
        done
        if [[ -z $bad ]]; then
            say "all six processes of $slot are healthy (after $((SECONDS - start))s)"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            bp_log "slot $slot is not healthy after ${HEALTH_TIMEOUT}s: $(head -c 300 "$STATE/health-$bad.err")"
            local body
            body=$(curl -s --max-time 3 "http://127.0.0.1:$(slot_port "$slot")/api/health" 2>/dev/null || true)
            bp_log "GET /api/health on port $(slot_port "$slot"): ${body:-no answer}"
            "${SM[@]}" status --no-pager --lines=5 "barberpro-*@$slot.service" 9>&- >&2 || true
            return 1
        fi
        if ((SECONDS >= next)); then
            say "still waiting ($((SECONDS - start))s): $(head -c 200 "$STATE/health-$bad.err")"
            next=$((SECONDS + 5))
        fi
        sleep 0.5
    done
}

# smoke_test <slot>: real read requests through the slot's own port, each
# one touching a different part of the suite.
smoke_test() {
    local slot=$1 base check path want status body fails=0
    base=http://127.0.0.1:$(slot_port "$slot")
    local checks=(
        "/api/health|200|\"status\":\"ok\""             # the gateway and every daemon's Health
        "/api/openapi.json|200|\"openapi\""             # the gateway's own document
        "/api/shops?limit=1|200|\"items\""              # the booking daemon and its tables
        "/api/holidays?year=$(date +%Y)|200|\"items\""  # reference data in booking's schema
        "/status|200|"                                  # the status page: every daemon
        "/api/metrics|200|barberpro_service_up"         # metrics from all six over the bus
    )
    say "smoke tests through $base"
    for check in "${checks[@]}"; do
        IFS='|' read -r path want body <<<"$check"
        if dry; then
            say "+ curl $base$path  (expect $want${body:+ and $body})"
            continue
        fi
        # The body, then a last line with the status and the time taken.
        local out took
        out=$(curl -s -w '\n%{http_code} %{time_total}' --max-time 5 "$base$path" 2>/dev/null) || true
        read -r status took <<<"${out##*$'\n'}"
        out=${out%$'\n'*}
        if [[ ${status:-000} != "$want" ]] || [[ -n $body && $out != *"$body"* ]]; then
            bp_log "smoke test failed: GET $path answered ${status:-000} (wanted $want${body:+ with $body}): ${out:0:200}"
            fails=$((fails + 1))
        else
            say "GET $path: $status (${took}s)"
        fi
    done
    ((fails == 0))
}

# ---- state -------------------------------------------------------------------------
record_state() {
    local live=$1 previous=$2 what=$3
    if dry; then
        say "+ record live=$live previous=$previous in $STATE"
        return 0
    fi
    replace_file "$STATE/live" 0644 "$live"
    replace_file "$STATE/previous" 0644 "$previous"
    printf '%s %s %s live=%s previous=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ENV_NAME" "$what" \
        "$live" "$previous" >>"$STATE/history"
}

# ---- the release ---------------------------------------------------------------------
# Finds the folder holding the six binaries in a release folder, unpacking a
# tarball first. Sets RELEASE_BIN, RELEASE_ROOT.
WORK=
# The slot a deploy is changing, from its stop until nginx serves it; an
# interrupted deploy (Ctrl-C, SIGTERM) stops it and puts its previous
# release back, as a failed one does.
INFLIGHT=
WAS_ACTIVE=0
INSTALLED=0 # the slot's folder holds the new release, its old one in <slot>.previous
cleanup() {
    local rc=$?
    if [[ -n $INFLIGHT ]] && ! dry; then
        local slot=$INFLIGHT
        INFLIGHT=
        if [[ $(live_slot 2>/dev/null) == "$slot" ]]; then
            bp_log "interrupted after $UPSTREAM_FILE was switched to $slot: check it and run nginx -s reload"
        else
            bp_log "interrupted: stopping the half-started slot $slot"
            run "${SM[@]}" stop "$(target_unit "$slot")" || true
            restore_slot "$slot" "$WAS_ACTIVE"
        fi
    fi
    [[ -n $WORK ]] && rm -rf "$WORK"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
resolve_release() {
    local src=${RELEASE_SRC:-$REPO/build/bin}
    [[ -e $src ]] || bp_die "release $src not found (build it with make, or give --release)"
    if [[ -f $src ]]; then
        case $src in
        *.tar.gz | *.tgz | *.tar) ;;
        *) bp_die "release $src: a folder or a .tar.gz/.tgz/.tar" ;;
        esac
        WORK=$(mktemp -d)
        tar -xf "$src" -C "$WORK" || bp_die "cannot unpack $src"
        src=$WORK
    fi
    local c found=
    for c in "$src" "$src/bin" "$src"/*/bin; do
        if [[ -x $c/barberpro-gateway ]]; then
            found=$c
            break
        fi
    done
    [[ -n $found ]] || bp_die "release $RELEASE_SRC: no barberpro-gateway in it, nor in its bin/"
    local p
    for p in "${PROCESSES[@]}"; do
        [[ -f $found/barberpro-$p && -x $found/barberpro-$p ]] ||
            bp_die "release $found: barberpro-$p is missing or not executable"
    done
    RELEASE_BIN=$found
    RELEASE_ROOT=$found
    [[ $(basename "$found") == bin ]] && RELEASE_ROOT=$(dirname "$found")
    if [[ -z $VERSION && -r $RELEASE_ROOT/VERSION ]]; then
        VERSION=$(head -n 1 "$RELEASE_ROOT/VERSION")
    fi
    if [[ -z $VERSION && -z $RELEASE_SRC ]]; then
        VERSION=$(git -C "$REPO" describe --always --dirty 2>/dev/null || true)
    fi
    [[ -n $VERSION ]] || VERSION=unversioned-$(date -u +%Y%m%d%H%M%S)
    [[ $VERSION =~ ^[A-Za-z0-9._+-]{1,100}$ ]] ||
        bp_die "release name '$VERSION': letters, digits and ._+- only"
}

# install_release <slot>: the release into the slot's folder; what the slot
# held before goes to <slot>.previous (a failed deploy puts it back).
install_release() {
    local slot=$1 dir staged p
    dir=$(slot_dir "$slot")
    if dry; then
        say "+ install $RELEASE_BIN/barberpro-{$(
            IFS=,
            echo "${PROCESSES[*]}"
        )} into $dir/bin (what $dir held goes to $dir.previous)"
        return 0
    fi
    mkdir -p "$ROOT/slots"
    staged=$(mktemp -d "$ROOT/slots/.$slot.new.XXXXXX")
    mkdir "$staged/bin"
    for p in "${PROCESSES[@]}"; do
        cp -p "$RELEASE_BIN/barberpro-$p" "$staged/bin/barberpro-$p"
        chmod 0755 "$staged/bin/barberpro-$p"
    done
    # Other barberpro-* files the release ships beside the six (a wrapper's
    # helper, say) go along; the rest of a build folder (the test fakes, the
    # bench tools) does not.
    for p in "$RELEASE_BIN"/barberpro-*; do
        [[ -e $staged/bin/${p##*/} ]] || cp -pR "$p" "$staged/bin/"
    done
    {
        echo "release=$VERSION"
        echo "source=${RELEASE_SRC:-$REPO/build/bin}"
        echo "installed=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        (cd "$staged/bin" && sha256sum barberpro-*)
    } >"$staged/RELEASE"
    chmod 0755 "$staged"
    rm -rf "$dir.previous"
    if [[ -e $dir ]]; then
        mv "$dir" "$dir.previous"
    fi
    mv "$staged" "$dir"
    INSTALLED=1
    say "installed release $VERSION into $dir"
}

# restore_slot <slot> <was active>: after a failed deploy, the slot gets
# its previous release and env file back (and runs again if it ran before),
# so that it stays what `rollback` can go back to.
restore_slot() {
    local slot=$1 was_active=$2 dir
    dir=$(slot_dir "$slot")
    dry && return 0
    if ((INSTALLED)) && [[ -d $dir.previous ]]; then
        rm -rf "$dir.failed"
        mv "$dir" "$dir.failed"
        mv "$dir.previous" "$dir"
        bp_log "slot $slot has its previous release back ($(slot_release "$slot")); the failed one is in $dir.failed"
    elif ((INSTALLED)); then
        bp_log "slot $slot had no release before; the failed one stays in $dir (stopped)"
    fi
    INSTALLED=0
    if [[ -e $STATE/slot-$slot.env.before ]]; then
        mv -f "$STATE/slot-$slot.env.before" "$(slot_env "$slot")"
    fi
    if ((was_active)); then
        if run "${SM[@]}" start "$(target_unit "$slot")" && wait_healthy "$slot"; then
            bp_log "slot $slot runs its previous release again"
        else
            bp_log "slot $slot did not come back with its previous release: rollback to it is not possible"
            run "${SM[@]}" stop "$(target_unit "$slot")" || true
        fi
    fi
}

# ---- checks before changing anything -------------------------------------------------
preflight() {
    command -v "${SM[0]}" >/dev/null 2>&1 || bp_die "service manager ${SM[0]} not found"
    command -v "${NGINX[0]}" >/dev/null 2>&1 || bp_die "nginx command ${NGINX[0]} not found"
    command -v curl >/dev/null 2>&1 || bp_die "curl is needed for the smoke tests"
    [[ -r $ETC/env ]] || bp_die "cannot read the shared settings $ETC/env"
    # Each slot has its own bus: an address set for every slot would have
    # both slots listen on it.
    local k
    for k in $(env_keys "$ETC/env"); do
        case $k in
        *_RPC_URL | *_LISTEN_URL)
            bp_die "$ETC/env sets $k: both slots would use that one bus address; leave the bus addresses to each slot's BARBERPRO_RUN_DIR"
            ;;
        esac
    done
    if [[ -n $ENV_SETTINGS ]]; then
        [[ -r $ENV_SETTINGS ]] || bp_die "cannot read $ENV_SETTINGS, the settings of $ENV_NAME"
        local missing=() have
        have=$(env_keys "$ENV_SETTINGS")
        # Its own data always: the units' Environment= points UPLOAD_DIR at
        # production's folder, and BACKUP_LOCAL_DIR defaults to the shared
        # working folder.
        for k in DATABASE_URL REDIS_URL UPLOAD_DIR BACKUP_LOCAL_DIR $(env_keys "$ETC/env"); do
            case $k in PORT | BIND_ADDRESS | BARBERPRO_RUN_DIR | BARBERPRO_RELEASE) continue ;; esac
            grep -qx "$k" <<<"$have" || [[ " ${missing[*]} " == *" $k "* ]] || missing+=("$k")
        done
        ((${#missing[@]} == 0)) ||
            bp_die "$ENV_SETTINGS must set its own DATABASE_URL, REDIS_URL, UPLOAD_DIR, BACKUP_LOCAL_DIR and every variable of $ETC/env, or $ENV_NAME inherits production's: ${missing[*]}"
        for k in $have; do
            case $k in
            *_RPC_URL | *_LISTEN_URL) bp_die "$ENV_SETTINGS sets $k: leave the bus addresses to each slot" ;;
            esac
        done
    fi
    if dry; then
        nginx_master >/dev/null || bp_log "warning: nginx is not running (no live pid in $NGINX_PID): a real run would stop here"
    else
        nginx_master >/dev/null ||
            bp_die "nginx is not running (no live pid in $NGINX_PID); start it first (with a first $UPSTREAM_FILE of your own before the first deploy)"
        mkdir -p "$STATE"
        # One deploy or rollback at a time per environment.
        exec 9>"$STATE/lock"
        flock -n 9 || bp_die "another deploy or rollback of $ENV_NAME holds $STATE/lock"
    fi
}

# ---- the actions ---------------------------------------------------------------------
stop_old_later() { # stop_old_later <slot>: the optional decommission
    local old=$1
    [[ -n $STOP_OLD_AFTER ]] || {
        say "slot $old keeps running: 'rollback' switches back to it; the next deploy replaces it"
        return 0
    }
    step "decommission $old after the drain and ${STOP_OLD_AFTER}s"
    if dry; then
        say "+ wait until nginx's old workers exit, then ${STOP_OLD_AFTER}s"
        run "${SM[@]}" stop "$(target_unit "$old")"
        run "${SM[@]}" disable "$(target_unit "$old")"
        return 0
    fi
    wait_drain
    # A rollback may come meanwhile: the lock is let go during the wait.
    flock -u 9
    sleep "$STOP_OLD_AFTER"
    # A rollback holds the lock for at most its health check and drain.
    flock -w $((HEALTH_TIMEOUT + DRAIN_TIMEOUT + 60)) 9 ||
        bp_die "the lock of $ENV_NAME stayed taken; slot $old left running"
    if [[ $(live_slot) == "$old" ]]; then
        say "slot $old is live again (a rollback): left running"
        return 0
    fi
    run "${SM[@]}" stop "$(target_unit "$old")"
    run "${SM[@]}" disable "$(target_unit "$old")" || bp_log "warning: could not disable $(target_unit "$old")"
    say "slot $old stopped; a rollback would start it again first"
}

# enable_live <slot>: the live slot starts at boot (the old one, still
# running, stays enabled until it is stopped).
enable_live() {
    run "${SM[@]}" enable "$(target_unit "$1")" ||
        bp_log "warning: could not enable $(target_unit "$1"): it would not start at boot"
}

do_deploy() {
    resolve_release
    preflight
    local live target port
    live=$(live_slot)
    if [[ -n $live ]]; then
        target=$(other_slot "$live")
    else
        target=$(slot_name blue)
    fi
    port=$(slot_port "$target")
    dry || rm -f "$STATE/slot-$target.env.before"
    say "$ENV_NAME: live slot ${live:-none}, deploying release $VERSION to slot $target (port $port)"
    dry && say "dry run: nothing is changed"

    WAS_ACTIVE=0
    if "${SM[@]}" is-active --quiet "$(target_unit "$target")" 9>&- 2>/dev/null; then
        WAS_ACTIVE=1
    fi
    local held
    held=$(slot_release "$target")
    step "1. stop slot $target (not live; it held ${held:+release }${held:-no release}${held:+, the rollback target until now})"
    dry || INFLIGHT=$target
    run "${SM[@]}" stop "$(target_unit "$target")" || bp_die "could not stop $(target_unit "$target")"

    step "2. install the release"
    install_release "$target"

    step "3. slot environment"
    if ! dry && [[ -e $(slot_env "$target") ]]; then
        cp -p "$(slot_env "$target")" "$STATE/slot-$target.env.before"
    fi
    {
        echo "# Written by scripts/deploy-production.sh: the settings of slot $target ($ENV_NAME),"
        echo "# read by the units after $ETC/env. Rewritten at each deploy to the slot."
        if [[ -n $ENV_SETTINGS ]]; then
            echo "# ---- $ENV_SETTINGS"
            cat "$ENV_SETTINGS"
            echo "# ---- the slot"
        fi
        echo "PORT=$port"
        echo "BIND_ADDRESS=$BIND"
        echo "BARBERPRO_RUN_DIR=$RUN_ROOT/$target"
        echo "BARBERPRO_RELEASE=$VERSION"
    } | write_file "$(slot_env "$target")" 0640

    fail_deploy() {
        bp_log "deploy of $VERSION to $target failed: $1"
        INFLIGHT=
        run "${SM[@]}" stop "$(target_unit "$target")" || true
        restore_slot "$target" "$WAS_ACTIVE"
        bp_log "nginx still serves ${live:-nothing} (${UPSTREAM_FILE} untouched)"
        exit 1
    }

    step "4. migrations (backward compatible: slot ${live:-none} keeps running)"
    local d
    for d in "${DAEMONS[@]}"; do
        say "+ $(slot_dir "$target")/bin/barberpro-$d migrate  (with $ETC/env and $(slot_env "$target"))"
        dry && continue
        slot_exec "$target" timeout "$MIGRATE_TIMEOUT" "$(slot_dir "$target")/bin/barberpro-$d" migrate ||
            fail_deploy "the migrations of $d failed (or took more than ${MIGRATE_TIMEOUT}s)"
    done

    step "5. start slot $target"
    run "${SM[@]}" start "$(target_unit "$target")" || fail_deploy "the service manager could not start $(target_unit "$target")"
    wait_healthy "$target" || fail_deploy "health check"

    step "6. smoke tests"
    smoke_test "$target" || fail_deploy "smoke tests"

    step "7. switch nginx to $target"
    switch_nginx "$target" "$VERSION" || fail_deploy "nginx switch"
    INFLIGHT=
    record_state "$target" "${live:-}" "deploy release=$VERSION"
    enable_live "$target"
    rm -f "$STATE/slot-$target.env.before"
    say "$ENV_NAME is live on slot $target, release $VERSION"

    if [[ -n $live ]]; then
        stop_old_later "$live"
    fi
}

do_rollback() {
    preflight
    local live target
    live=$(live_slot)
    [[ -n $live ]] || bp_die "no slot of $ENV_NAME is live ($UPSTREAM_FILE has no deploy marker): nothing to roll back from"
    target=$(other_slot "$live")
    [[ -x $(slot_dir "$target")/bin/barberpro-gateway && -r $(slot_env "$target") ]] ||
        bp_die "slot $target has no release installed: nothing to roll back to"
    local release
    release=$(slot_release "$target")
    say "$ENV_NAME: rolling back from slot $live ($(slot_release "$live")) to slot $target ($release)"
    dry && say "dry run: nothing is changed"

    step "1. slot $target runs (started again when it was stopped)"
    run "${SM[@]}" start "$(target_unit "$target")" || bp_die "could not start $(target_unit "$target")"
    wait_healthy "$target" || bp_die "slot $target is not healthy: nginx still serves $live"
    step "2. smoke tests"
    smoke_test "$target" || bp_die "slot $target failed its smoke tests: nginx still serves $live"
    step "3. switch nginx to $target"
    switch_nginx "$target" "$release" || bp_die "nginx switch failed: nginx still serves $live"
    record_state "$target" "$live" "rollback release=$release"
    enable_live "$target"
    say "$ENV_NAME is live on slot $target, release $release; slot $live keeps running"
    stop_old_later "$live"
}

do_status() {
    local live s state
    live=$(live_slot)
    say "$ENV_NAME: live slot ${live:-none} (from $UPSTREAM_FILE)"
    for s in "$(slot_name blue)" "$(slot_name green)"; do
        state=stopped
        "${SM[@]}" is-active --quiet "$(target_unit "$s")" 9>&- 2>/dev/null && state=running
        say "slot $s: port $(slot_port "$s"), release $(slot_release "$s"), $state${live:+$([[ $s == "$live" ]] && echo ', live')}"
    done
}

case $ACTION in
deploy) do_deploy ;;
rollback) do_rollback ;;
status) do_status ;;
esac
