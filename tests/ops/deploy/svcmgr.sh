#!/usr/bin/env bash
# A stand-in for `systemctl`, for tests/ops/deploy_test.sh (systemd is not
# PID 1 on the test machine). It understands what scripts/deploy-production.sh
# asks of systemctl, for BarberPro's templated units only:
#
#   svcmgr.sh start|stop|enable|disable <unit>
#   svcmgr.sh is-active [--quiet] <unit>
#   svcmgr.sh status [--no-pager] [--lines=N] <unit or pattern>
#
# where <unit> is barberpro@<slot>.target or barberpro-<svc>@<slot>.service.
# It reads the real unit files (compose/systemd, or SVCMGR_UNIT_DIR): the
# services a target pulls in (its Wants=/Requires=, or the services whose
# [Install] WantedBy= names it, as if enabled), and each service's
# ExecStart= and EnvironmentFile= lines with %i replaced by the slot, so the
# test checks that the units and the deploy script agree on the paths. The
# host's folders are mapped into the test's: /opt/barberpro -> $DEPLOY_ROOT,
# /etc/barberpro -> $DEPLOY_ETC. A process runs with the variables of its
# EnvironmentFile=s only (like systemd, nothing inherited but PATH), its
# output appended to $SVCMGR_STATE/<slot>/<svc>.log, its pid in
# $SVCMGR_STATE/<slot>/<svc>.pid.
#
# What it does not do: Environment=, the sandboxing and user settings, and
# Type=notify's wait for READY=1 (start returns once the processes are
# spawned; the deploy waits for their health itself). Stopping follows the
# units' order (the gateway, ordered after the daemons, stops first):
# SIGTERM, SIGKILL after TimeoutStopSec (30 s). enable and disable only
# record the choice ($SVCMGR_STATE/<slot>.enabled), which is-enabled reads.
set -euo pipefail

BP_SCRIPT=svcmgr
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

UNIT_DIR=${SVCMGR_UNIT_DIR:-$REPO/compose/systemd}
STATE=${SVCMGR_STATE:?SVCMGR_STATE: the folder of the stand-in}
ROOT=${DEPLOY_ROOT:?DEPLOY_ROOT}
ETC=${DEPLOY_ETC:?DEPLOY_ETC}
STOP_TIMEOUT=30

# Maps a host path of the units into the test's folders (sets MAPPED).
map_path() {
    case $1 in
    /opt/barberpro/*) MAPPED=$ROOT/${1#/opt/barberpro/} ;;
    /etc/barberpro/*) MAPPED=$ETC/${1#/etc/barberpro/} ;;
    *) bp_die "unit path $1 is outside /opt/barberpro and /etc/barberpro: the stand-in cannot map it" ;;
    esac
}

# The unit files, read once: "<file name> <Key> <value>" for every value of
# every Key= line (a list splits into one line per value). The rest of the
# script works on this array without forking, which matters on a loaded
# machine.
mapfile -t UNIT_LINES < <(
    awk '/^[[:space:]]*[A-Za-z]+[[:space:]]*=/ {
        line = $0
        sub(/^[[:space:]]*/, "", line)
        key = line; sub(/[[:space:]]*=.*/, "", key)
        val = line; sub(/^[^=]*=[[:space:]]*/, "", val)
        n = split(val, parts, /[[:space:]]+/)
        f = FILENAME; sub(/.*\//, "", f)
        for (i = 1; i <= n; i++) if (parts[i] != "") print f, key, parts[i]
    }' "$UNIT_DIR"/barberpro@.target "$UNIT_DIR"/barberpro-*@.service 2>/dev/null
)
[[ ${#UNIT_LINES[@]} -gt 0 ]] || bp_die "no unit files in $UNIT_DIR"

# unit_values <file name> <Key>: sets VALUES to the values of Key= lines.
unit_values() {
    local l
    VALUES=()
    for l in "${UNIT_LINES[@]}"; do
        [[ $l == "$1 $2 "* ]] && VALUES+=("${l#"$1 $2 "}")
    done
    return 0
}

# True when service $1 is ordered after other BarberPro services (the
# gateway): it starts last and stops first.
is_late() {
    local v VALUES
    unit_values "barberpro-$1@.service" After
    for v in "${VALUES[@]}"; do
        [[ $v == barberpro-*@%i.service ]] && return 0
    done
    return 1
}

# Sets SERVICES to what barberpro@.target pulls in (its Wants=, Requires=,
# BindsTo=, or the services whose [Install] WantedBy= names it, as if
# enabled), the late ones last.
target_services() {
    local l v found=() early=() late=() s VALUES
    for l in "${UNIT_LINES[@]}"; do
        case $l in
        "barberpro@.target "Wants\ * | "barberpro@.target "Requires\ * | "barberpro@.target "BindsTo\ *)
            v=${l##* }
            [[ $v =~ ^barberpro-([a-z]+)@%i\.service$ ]] && found+=("${BASH_REMATCH[1]}")
            ;;
        barberpro-*@.service\ WantedBy\ barberpro@%i.target | barberpro-*@.service\ RequiredBy\ barberpro@%i.target)
            v=${l%%@.service *}
            found+=("${v#barberpro-}")
            ;;
        esac
    done
    for s in "${found[@]}"; do
        [[ " ${early[*]} ${late[*]} " == *" $s "* ]] && continue
        if is_late "$s"; then late+=("$s"); else early+=("$s"); fi
    done
    SERVICES=("${early[@]}" "${late[@]}")
    ((${#SERVICES[@]})) || bp_die "barberpro@.target pulls in no barberpro-<svc>@%i.service"
}

# pid_of <slot> <svc>: sets PID (empty when the stand-in never started it).
pid_of() {
    PID=
    [[ -r $STATE/$1/$2.pid ]] && read -r PID <"$STATE/$1/$2.pid"
    return 0
}

start_service() {
    local slot=$1 svc=$2 unit exec f optional BP_ENV_VARS=() PID MAPPED VALUES
    unit=barberpro-$svc@.service
    pid_of "$slot" "$svc"
    if bp_alive "$PID"; then
        return 0 # already running, as systemctl start leaves it
    fi
    unit_values "$unit" ExecStart
    ((${#VALUES[@]})) || bp_die "$unit has no ExecStart="
    exec=${VALUES[0]}
    exec=${exec#[-@+!:]}
    map_path "${exec//%i/$slot}"
    exec=$MAPPED
    unit_values "$unit" EnvironmentFile
    for f in "${VALUES[@]}"; do
        optional=0
        if [[ $f == -* ]]; then
            optional=1
            f=${f#-}
        fi
        map_path "${f//%i/$slot}"
        f=$MAPPED
        if [[ -r $f ]]; then
            bp_read_env_file "$f"
        elif ((!optional)); then
            bp_die "barberpro-$svc@$slot.service: EnvironmentFile $f is missing"
        fi
    done
    [[ -x $exec ]] || bp_die "barberpro-$svc@$slot.service: $exec is not executable"
    mkdir -p "$STATE/$slot"
    printf '%(%FT%TZ)T starting %s\n' -1 "$exec" >>"$STATE/$slot/$svc.log"
    setsid env -i PATH=/usr/local/bin:/usr/bin:/bin "${BP_ENV_VARS[@]}" "$exec" \
        </dev/null >>"$STATE/$slot/$svc.log" 2>&1 9>&- &
    echo "$!" >"$STATE/$slot/$svc.pid"
}

stop_services() {
    local slot=$1 pids=() s PID
    shift
    for s in "$@"; do
        pid_of "$slot" "$s"
        if bp_alive "$PID"; then pids+=("$PID"); fi
    done
    ((${#pids[@]})) || return 0
    bp_stop_pids "$STOP_TIMEOUT" "${pids[@]}" || true
}

# parse_unit <unit>: sets SLOT and SERVICES (what the unit stands for).
parse_unit() {
    local u=$1
    if [[ $u =~ ^barberpro@([A-Za-z0-9-]+)\.target$ ]]; then
        SLOT=${BASH_REMATCH[1]}
        target_services
    elif [[ $u =~ ^barberpro-([a-z]+)@([A-Za-z0-9-]+)\.service$ ]]; then
        SLOT=${BASH_REMATCH[2]}
        SERVICES=("${BASH_REMATCH[1]}")
    elif [[ $u =~ ^barberpro-\*@([A-Za-z0-9-]+)\.service$ ]]; then
        SLOT=${BASH_REMATCH[1]}
        target_services
    else
        bp_die "unit $u is not one of BarberPro's templated units"
    fi
}

cmd=${1:?usage: svcmgr.sh start|stop|enable|disable|is-active|is-enabled|status <unit>}
shift
quiet=0 lines=10 unit=
for a in "$@"; do
    case $a in
    --quiet) quiet=1 ;;
    --no-pager) ;;
    --lines=*) lines=${a#--lines=} ;;
    -*) bp_die "unknown option $a" ;;
    *) unit=$a ;;
    esac
done
[[ -n $unit ]] || bp_die "$cmd: which unit?"
SLOT=''
SERVICES=()
parse_unit "$unit"

case $cmd in
start)
    for s in "${SERVICES[@]}"; do start_service "$SLOT" "$s"; done
    ;;
stop)
    # The late ones (the gateway) first, so that no call reaches a stopping daemon.
    late=() early=()
    for s in "${SERVICES[@]}"; do
        if is_late "$s"; then late+=("$s"); else early+=("$s"); fi
    done
    stop_services "$SLOT" "${late[@]}"
    stop_services "$SLOT" "${early[@]}"
    ;;
enable) : >"$STATE/$SLOT.enabled" ;;
disable) rm -f "$STATE/$SLOT.enabled" ;;
is-enabled)
    if [[ -e $STATE/$SLOT.enabled ]]; then state=enabled; else state=disabled; fi
    ((quiet)) || echo "$state"
    [[ $state == enabled ]]
    ;;
is-active)
    state=active
    for s in "${SERVICES[@]}"; do
        pid_of "$SLOT" "$s"
        bp_alive "$PID" || state=inactive
    done
    ((quiet)) || echo "$state"
    [[ $state == active ]]
    ;;
status)
    for s in "${SERVICES[@]}"; do
        pid_of "$SLOT" "$s"
        if bp_alive "$PID"; then st="active (running), pid $PID"; else st="inactive (dead)"; fi
        echo "* barberpro-$s@$SLOT.service: $st"
        tail -n "$lines" "$STATE/$SLOT/$s.log" 2>/dev/null | sed 's/^/    /' || true
    done
    ;;
*) bp_die "unknown command $cmd" ;;
esac
