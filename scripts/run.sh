#!/usr/bin/env bash
# `make run`: the whole suite on this machine, in the foreground. Starts (when
# DATABASE_URL / REDIS_URL are not given) a private PostgreSQL cluster and
# Redis under BARBERPRO_VAR_DIR, applies migrations, loads demo data, starts
# the five daemons and the gateway, and stops everything it started on
# Ctrl-C / SIGTERM or as soon as one of them dies.
#
# usage: scripts/run.sh          run the suite
#        scripts/run.sh migrate  only apply migrations (`make migrate`)
set -euo pipefail

export BP_SCRIPT=run
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

mode=${1:-run}
case $mode in
run | migrate) ;;
*) bp_die "usage: scripts/run.sh [migrate]" ;;
esac

BIN=${BARBERPRO_BIN_DIR:-$REPO/build/bin}
for name in gateway "${BP_SERVICES[@]}"; do
    [[ -x $BIN/barberpro-$name ]] || bp_die "$BIN/barberpro-$name is missing: run make first"
done

export PORT=${PORT:-3000}
if [[ $mode == run ]] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    bp_die "port $PORT is already in use (another make run?); set PORT to use another"
fi

VAR=${BARBERPRO_VAR_DIR:-./var}
mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd)
export BARBERPRO_VAR_DIR=$VAR
export BARBERPRO_RUN_DIR=$VAR/run
# Uploads live with the rest of the suite's data unless told otherwise.
export UPLOAD_DIR=${UPLOAD_DIR:-$VAR/uploads}
mkdir -p "$BARBERPRO_RUN_DIR"
chmod 700 "$BARBERPRO_RUN_DIR"

# One run per folder at a time. The lock's descriptor is closed in every
# child (9>&-), so a process left over by a crash never holds it.
exec 9>"$VAR/.run.lock"
flock -n 9 || bp_die "another scripts/run.sh is using $VAR (set BARBERPRO_VAR_DIR to run a second copy)"

started_pg=0
started_redis=0
declare -A pid_of=()  # process name -> pid
declare -A fake_pid=() # stand-in name (tests/fakes) -> pid

# Stops, in order, the gateway, the daemons, Redis and PostgreSQL: whatever
# this run started. Runs once, at exit, whatever the reason.
stop_everything() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM # a second Ctrl-C must not cut the cleanup short
    set +e
    if [[ -n ${pid_of[gateway]:-} ]]; then
        bp_stop_pids 15 "${pid_of[gateway]}"
    fi
    local pids=() name
    for name in "${BP_SERVICES[@]}"; do
        [[ -n ${pid_of[$name]:-} ]] && pids+=("${pid_of[$name]}")
    done
    ((${#pids[@]})) && bp_stop_pids 20 "${pids[@]}"
    ((${#fake_pid[@]})) && bp_stop_pids 5 "${fake_pid[@]}"
    rm -f "$BARBERPRO_RUN_DIR"/*.pid
    ((started_redis)) && bp_redis_stop
    ((started_pg)) && bp_pg_stop
    if ((BP_STOP)); then
        bp_log "stopped"
        rc=0
    fi
    exit "$rc"
}
trap stop_everything EXIT
bp_trap_stop
check_stop() {
    if ((BP_STOP)); then exit 0; fi
}

# Daemons left running by an earlier run that was killed (kill -9, a closed
# terminal) still hold the bus sockets: stop them, but only when the pid is
# one of our binaries.
for f in "$BARBERPRO_RUN_DIR"/*.pid; do
    [[ -e $f ]] || continue
    old=$(<"$f")
    if bp_alive "$old" && tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -qE 'barberpro-|fake-'; then
        bp_log "stopping pid $old left running by an earlier run ($(basename "$f" .pid))"
        bp_stop_pids 10 "$old" || true
    fi
    rm -f "$f"
done

# ---- data stores -----------------------------------------------------------
# Backups stay in BACKUP_LOCAL_DIR, and go to S3 too when BACKUP_S3_BUCKET
# is set. The embedded cluster archives its WAL through barberpro-backup
# (every 5 minutes at least: the RPO is 15).
export BACKUP_LOCAL_DIR=${BACKUP_LOCAL_DIR:-$VAR/backups}
if [[ -z ${DATABASE_URL:-} ]]; then
    started_pg=1
    bp_pg_archive_setup "$BIN" "$BACKUP_LOCAL_DIR"
    bp_pg_start "$VAR/pg"
    bp_pg_createdb barberpro
    bp_pg_grant_backup "$(id -un)"
    DATABASE_URL=$(bp_pg_url barberpro)
fi
export DATABASE_URL
check_stop

if [[ $mode == run && -z ${REDIS_URL:-} ]]; then
    started_redis=1
    bp_redis_start "$VAR/redis"
    REDIS_URL=$(bp_redis_url)
fi
check_stop

# Tools and people reach the same data with `set -a; . var/env; set +a`.
{
    echo "# Written by scripts/run.sh; the data stores of this folder."
    echo "DATABASE_URL=$DATABASE_URL"
    if [[ -n ${REDIS_URL:-} ]]; then
        echo "REDIS_URL=$REDIS_URL"
    elif [[ -s $VAR/env ]]; then
        grep '^REDIS_URL=' "$VAR/env" || true
    fi
} >"$VAR/env.tmp"
mv "$VAR/env.tmp" "$VAR/env"
if [[ -n ${REDIS_URL:-} ]]; then export REDIS_URL; fi

# In development the JWT secret is random but kept, so that sessions survive
# a restart. Production (BARBERPRO_ENV=production) must set its own: the
# daemons refuse to start without one.
if [[ -z ${JWT_SECRET:-} && ${BARBERPRO_ENV:-} != production ]]; then
    if [[ ! -s $VAR/jwt_secret ]]; then
        (
            umask 077
            od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/jwt_secret.tmp"
        )
        mv "$VAR/jwt_secret.tmp" "$VAR/jwt_secret"
    fi
    chmod 600 "$VAR/jwt_secret"
    JWT_SECRET=$(<"$VAR/jwt_secret")
    export JWT_SECRET
fi

# ---- migrations and demo data ----------------------------------------------
for name in "${BP_SERVICES[@]}"; do
    "$BIN/barberpro-$name" migrate </dev/null 9>&- ||
        bp_die "migrations of $name failed (barberpro-$name migrate)"
    check_stop
done
if [[ $mode == migrate ]]; then
    bp_log "migrations applied"
    exit 0
fi

demo_file=$VAR/demo-logins.txt
if [[ ${BARBERPRO_DEMO_DATA:-1} != 0 ]]; then
    : >"$demo_file"
    for name in auth booking; do
        "$BIN/barberpro-$name" demo-data </dev/null 9>&- >>"$demo_file" ||
            bp_die "loading demo data failed (barberpro-$name demo-data)"
        check_stop
    done
fi

# ---- stand-ins for the services on the internet -------------------------------
# An outside API whose URL is not set is replaced by the project's own stand-in
# from tests/fakes (this machine may have no internet); the log says so.
start_fake() {
    local name=$1 port i
    [[ -x $BIN/fake-$name ]] || bp_die "$BIN/fake-$name is missing: run make first"
    port=$(bp_free_port)
    "$BIN/fake-$name" --port "$port" </dev/null >/dev/null 9>&- &
    fake_pid[$name]=$!
    echo "${fake_pid[$name]}" >"$BARBERPRO_RUN_DIR/fake-$name.pid"
    for ((i = 0; i < 50; i++)); do
        if [[ $(bp_http_status "http://127.0.0.1:$port/_fake/health") == 200 ]]; then
            BP_FAKE_PORT=$port
            return 0
        fi
        bp_alive "${fake_pid[$name]}" || break
        sleep 0.1
    done
    bp_die "the $name stand-in (fake-$name) did not start"
}
if [[ -z ${EXCHANGE_RATE_URL:-} ]]; then
    start_fake dolarapi
    export EXCHANGE_RATE_URL=http://127.0.0.1:$BP_FAKE_PORT/v1/dolares/oficial
    bp_log "EXCHANGE_RATE_URL is not set: the USD:ARS rate comes from the local stand-in" \
        "fake-dolarapi at $EXCHANGE_RATE_URL (a fixed rate, not the real one)"
fi
check_stop
if [[ -z ${MERCADOPAGO_ACCESS_TOKEN:-} ]]; then
    # The stand-in signs its webhooks with this secret and accepts this token.
    export FAKE_MERCADOPAGO_ACCESS_TOKEN=TEST-fake-access-token
    export FAKE_MERCADOPAGO_WEBHOOK_SECRET=fake-webhook-secret
    start_fake mercadopago
    export MERCADOPAGO_API_URL=http://127.0.0.1:$BP_FAKE_PORT
    export MERCADOPAGO_ACCESS_TOKEN=$FAKE_MERCADOPAGO_ACCESS_TOKEN
    export MERCADOPAGO_WEBHOOK_SECRET=$FAKE_MERCADOPAGO_WEBHOOK_SECRET
    export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}
    bp_log "MERCADOPAGO_ACCESS_TOKEN is not set: payments go to the local MercadoPago stand-in" \
        "fake-mercadopago at $MERCADOPAGO_API_URL (no real money; a checkout is paid with" \
        "POST $MERCADOPAGO_API_URL/_fake/pay?preference_id=<pref_id of the checkout_url>)"
fi
check_stop

if [[ -z ${WHATSAPP_TOKEN:-} ]]; then
    start_fake whatsapp
    export WHATSAPP_API_URL=http://127.0.0.1:$BP_FAKE_PORT/v19.0
    export WHATSAPP_TOKEN=fake-whatsapp-token WHATSAPP_PHONE_NUMBER_ID=123456789012345
    export WHATSAPP_APP_SECRET=fake-whatsapp-app-secret
    bp_log "WHATSAPP_TOKEN is not set: WhatsApp messages go to the local stand-in" \
        "fake-whatsapp at $WHATSAPP_API_URL (GET /_fake/messages lists them)"
fi
check_stop
if [[ -z ${TWILIO_AUTH_TOKEN:-} ]]; then
    start_fake twilio
    export TWILIO_API_URL=http://127.0.0.1:$BP_FAKE_PORT
    export TWILIO_ACCOUNT_SID=ACfake00000000000000000000000000000 TWILIO_AUTH_TOKEN=fake-twilio-token
    export TWILIO_FROM=${TWILIO_FROM:-+15005550006}
    bp_log "TWILIO_AUTH_TOKEN is not set: SMS go to the local stand-in fake-twilio at" \
        "$TWILIO_API_URL (GET /_fake/messages lists them)"
fi
check_stop
if [[ -z ${SENDGRID_API_KEY:-} && -z ${SMTP_HOST:-} ]]; then
    start_fake sendgrid
    export SENDGRID_API_URL=http://127.0.0.1:$BP_FAKE_PORT SENDGRID_API_KEY=SG.fake-key
    bp_log "neither SENDGRID_API_KEY nor SMTP_HOST is set: email goes to the local stand-in" \
        "fake-sendgrid at $SENDGRID_API_URL (GET /_fake/messages lists them)"
fi
check_stop

# ---- the processes -----------------------------------------------------------
start_process() {
    local name=$1
    "$BIN/barberpro-$name" </dev/null 9>&- &
    pid_of[$name]=$!
    echo "${pid_of[$name]}" >"$BARBERPRO_RUN_DIR/$name.pid"
}

for name in "${BP_SERVICES[@]}"; do
    start_process "$name"
done
start_process gateway

base_url=http://localhost:$PORT
health_url=http://127.0.0.1:$PORT/api/health
timeout=${BARBERPRO_START_TIMEOUT:-60}
bp_wait_health "$health_url" "$timeout" "${pid_of[@]}" && st=0 || st=$?
case $st in
0) ;;
1) bp_die "the gateway did not answer 200 on $health_url within ${timeout}s (last status: $BP_LAST_STATUS); stopping everything" ;;
2)
    for name in "${!pid_of[@]}"; do
        if [[ ${pid_of[$name]} == "$BP_DEAD_PID" ]]; then
            unset "pid_of[$name]"
            bp_die "barberpro-$name exited while starting (its log is above); stopping everything"
        fi
    done
    ;;
*) exit 0 ;;
esac

{
    echo
    echo "BarberPro is running at $base_url  (health: $base_url/api/health)"
    echo "  data: $VAR  (connection settings: $VAR/env)"
    if [[ -s $demo_file ]]; then
        echo "  demo logins:"
        sed 's/^/    /' "$demo_file"
    fi
    if [[ -n ${BARBERPRO_ADMIN_EMAIL:-} ]]; then
        echo "  admin: $BARBERPRO_ADMIN_EMAIL (password from BARBERPRO_ADMIN_PASSWORD)"
    fi
    echo "  Ctrl-C stops everything."
    echo
} >&2

# Until a signal, or until any process ends, which stops the rest: a
# half-running suite is worse than none. The sleeper runs in the background
# so that a signal interrupts `wait` at once.
if [[ -n ${BP_REDIS_PID:-} ]]; then pid_of[redis-server]=$BP_REDIS_PID; fi
while :; do
    sleep 0.5 &
    sleeper=$!
    wait "$sleeper" || true
    if ((BP_STOP)); then
        kill "$sleeper" 2>/dev/null || true
        exit 0
    fi
    for name in "${!pid_of[@]}"; do
        if ! bp_alive "${pid_of[$name]}"; then
            unset "pid_of[$name]"
            if [[ $name == redis-server ]]; then
                started_redis=0
            else
                name=barberpro-$name
            fi
            bp_die "$name exited (its log is above); stopping everything"
        fi
    done
done
