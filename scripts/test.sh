#!/usr/bin/env bash
# `make test` after the build: every unit test binary (Criterion), then the
# integration tests against the real suite: a fresh PostgreSQL and Redis in a
# temporary folder, the five daemons and the gateway built with ASan and
# UBSan, and the binaries of build/test/integration. Fails on any failed
# test, on a daemon that does not stop cleanly on SIGTERM, and on any
# sanitizer report in a daemon's log. Ends with "N passed, N failed".
set -euo pipefail

BP_SCRIPT="test"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"
cd "$REPO"

BUILD_DIR=$REPO/${BUILD:-build}
TEST_BIN=$BUILD_DIR/test/bin
UNIT_DIR=$BUILD_DIR/test/unit
INTEG_DIR=$BUILD_DIR/test/integration
# BP_TEST_ONLY=<extended regex> runs only the test binaries whose name matches
# (for working on one part; `make test` runs them all).
ONLY=${BP_TEST_ONLY:-}
UNIT_TIMEOUT=${BP_TEST_UNIT_TIMEOUT:-300}
INTEG_TIMEOUT=${BP_TEST_INTEG_TIMEOUT:-420}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

TMP=$(mktemp -d /tmp/bp-test.XXXXXX)
chmod 711 "$TMP" # the postgres user must reach $TMP/pg
LOGS=$TMP/logs
PIDS=$TMP/pids
mkdir -p "$LOGS" "$PIDS" "$TMP/run" "$TMP/var"
chmod 700 "$TMP/run"

passed=0
failed=0
suite_ok=1
failures=()
declare -A child_pid=() # name -> pid of a process this script started
declare -A fake_pid=()  # name -> pid of a stand-in (tests/fakes) this script started

pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    failures+=("$1")
}

teardown_stores() {
    bp_redis_stop
    bp_pg_stop
}

teardown_fakes() {
    if ((${#fake_pid[@]})); then
        bp_stop_pids 5 "${fake_pid[@]}" >/dev/null 2>&1 || true
    fi
    fake_pid=()
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    local pids=() name pid
    for name in gateway "${BP_SERVICES[@]}"; do
        pid=$(cat "$PIDS/$name.pid" 2>/dev/null) && pids+=("$pid")
    done
    ((${#pids[@]})) && bp_stop_pids 10 "${pids[@]}" >/dev/null 2>&1
    teardown_stores
    teardown_fakes
    if ((rc == 0)) && [[ -z ${BP_TEST_KEEP:-} ]]; then
        rm -rf "$TMP"
    else
        bp_log "logs and data kept in $TMP"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'bp_log "interrupted"; exit 130' INT TERM

# Runs one test binary with a time limit and counts it.
run_test_binary() {
    local bin=$1 timeout=$2 name rc=0
    shift 2
    name=${bin#"$REPO"/}
    echo "==> $name"
    # The output is kept in $LOGS too: Criterion passes a test whose
    # process leaks, so the sanitizer check below reads it as well.
    set +e
    timeout -k 10 "$timeout" "$bin" "$@" </dev/null 2>&1 | tee "$LOGS/test-$(basename "$bin").log"
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc == 0)); then
        pass
    else
        ((rc == 124)) && bp_log "$name timed out after ${timeout}s"
        fail "$name (exit $rc)"
    fi
}

# ---- the OpenAPI document ----------------------------------------------------
# gateway/openapi.yaml against Redocly CLI's recommended rules, one counted
# check (scripts/openapi-lint.sh; `npm ci` only on the first run).
if [[ -z $ONLY || openapi-lint =~ $ONLY ]]; then
    echo "==> openapi lint"
    if "$REPO/scripts/openapi-lint.sh"; then
        pass
    else
        fail "openapi lint (scripts/openapi-lint.sh: gateway/openapi.yaml)"
    fi
fi

# ---- stand-ins for the services on the internet (tests/fakes) ------------------
# start_fake <name> <port>: starts $BUILD_DIR/bin/fake-<name> on 127.0.0.1:<port>,
# its output in $LOGS/fake-<name>.log, and waits until /_fake/health answers.
start_fake() {
    local name=$1 port=$2 i
    "$BUILD_DIR/bin/fake-$name" --port "$port" </dev/null >>"$LOGS/fake-$name.log" 2>&1 &
    fake_pid[$name]=$!
    for ((i = 0; i < 50; i++)); do
        [[ $(bp_http_status "http://127.0.0.1:$port/_fake/health") == 200 ]] && return 0
        bp_alive "${fake_pid[$name]}" || break
        sleep 0.1
    done
    bp_log "fake-$name did not start (log: $LOGS/fake-$name.log)"
    return 1
}
# S3 (the backup daemon and PostgreSQL's archive_command) comes first: the
# cluster archives its WAL there from its first minute. The server is
# s3rver (npm, pinned in tools/), a real S3-compatible implementation that
# checks every SigV4 signature (its keys: S3RVER / S3RVER). Retention runs
# after every backup; WAL is switched after 2 s of activity, so that the
# drill sees the archive catch up within seconds.
"$REPO/scripts/tools-install.sh"
s3_port=$(bp_free_port)
mkdir -p "$TMP/s3"
node "$REPO/tools/node_modules/s3rver/bin/s3rver.js" --directory "$TMP/s3" --address 127.0.0.1 \
    --port "$s3_port" --configure-bucket barberpro-backups </dev/null >>"$LOGS/s3rver.log" 2>&1 &
fake_pid[s3rver]=$!
echo "${fake_pid[s3rver]}" >"$PIDS/s3rver.pid"
for ((i = 0; i < 100; i++)); do
    [[ $(bp_http_status "http://127.0.0.1:$s3_port/") != 000 ]] && break
    sleep 0.1
done
export BACKUP_S3_ENDPOINT=http://127.0.0.1:$s3_port
export BACKUP_S3_BUCKET=barberpro-backups BACKUP_S3_REGION=us-east-1
export BACKUP_S3_ACCESS_KEY=S3RVER BACKUP_S3_SECRET_KEY=S3RVER
export BACKUP_S3_TIMEOUT_MS=5000
export BACKUP_S3_PART_SIZE=5242880 # S3's smallest part: the base backup goes multipart
export BACKUP_LOCAL_DIR=$TMP/backups
export BACKUP_CHECK_INTERVAL_MS=500
export BP_PG_ARCHIVE_TIMEOUT=2
bp_pg_archive_setup "$TEST_BIN" "$BACKUP_LOCAL_DIR"

# ---- PostgreSQL and Redis ----------------------------------------------------
bp_pg_start "$TMP/pg" fast
bp_pg_createdb barberpro
bp_pg_createdb barberpro_unit
bp_pg_grant_backup "$(id -un)"
bp_redis_start "$TMP/redis" ephemeral

# ---- unit tests --------------------------------------------------------------
# Unit tests that need a database or Redis get their own: another database
# and another Redis db number than the suite's.
unit_bins=()
for t in "$UNIT_DIR"/*; do
    [[ -f $t && -x $t ]] || continue
    [[ -z $ONLY || $(basename "$t") =~ $ONLY ]] && unit_bins+=("$t")
done
for t in "${unit_bins[@]}"; do
    DATABASE_URL=$(bp_pg_url barberpro_unit) REDIS_URL="$(bp_redis_url)?db=1" \
        BP_TEST_DATABASE_URL=$(bp_pg_url barberpro_unit) BP_TEST_REDIS_URL="$(bp_redis_url)?db=1" \
        BP_TEST_TMP=$TMP BP_TEST_FAKES_DIR=$BUILD_DIR/bin \
        run_test_binary "$t" "$UNIT_TIMEOUT"
done

# ---- the suite under test ----------------------------------------------------
DATABASE_URL=$(bp_pg_url barberpro)
REDIS_URL=$(bp_redis_url)
PORT=$(bp_free_port)
export DATABASE_URL REDIS_URL PORT
export BARBERPRO_VAR_DIR=$TMP/var
export BARBERPRO_RUN_DIR=$TMP/run
export JWT_SECRET=test-only-jwt-secret-0123456789abcdefghi # 40 characters
export BCRYPT_SALT_ROUNDS=4
export RPC_TIMEOUT_MS=1500
export LOG_LEVEL=${LOG_LEVEL:-info}
export CORS_ORIGIN=http://localhost:5173
export UPLOAD_DIR=$TMP/uploads
export MAX_FILE_SIZE=262144 # 256 KiB: the upload limit tests stay quick
# An admin account the tests sign in with (BP_TEST_ADMIN_*), and booking
# holds short enough for the expiry test to watch one lapse.
export BARBERPRO_ADMIN_EMAIL=admin@test.barberpro.com.ar
export BARBERPRO_ADMIN_PASSWORD=TestAdmin2026-secret
export BP_TEST_ADMIN_EMAIL=$BARBERPRO_ADMIN_EMAIL BP_TEST_ADMIN_PASSWORD=$BARBERPRO_ADMIN_PASSWORD
export BOOKING_HOLD_SECONDS=4
export BOOKING_EXPIRE_INTERVAL_MS=500
# Retention rounds often enough for the privacy tests to watch one, and the
# terms version they expect.
export AUTH_RETENTION_INTERVAL_MS=2000
export NOTIFICATION_RETENTION_INTERVAL_MS=500
export TERMS_VERSION=2026-01
# The limiter stays on (its headers are part of the contract) but high
# enough that the tests, all from 127.0.0.1, never reach it.
export RATE_LIMIT_MAX_REQUESTS=1000000
export RATE_LIMIT_AUTH_MAX=1000000
export RATE_LIMIT_BOOKING_MAX=1000000
export RATE_LIMIT_PAYMENTS_MAX=1000000

# What the integration tests read (tests/integration/harness.c).
export BP_TEST_BASE_URL=http://127.0.0.1:$PORT
export BP_TEST_RUN_DIR=$BARBERPRO_RUN_DIR
export BP_TEST_BIN_DIR=$TEST_BIN
export BP_TEST_LOG_DIR=$LOGS
export BP_TEST_PID_DIR=$PIDS
export BP_TEST_TMP=$TMP
export BP_TEST_CORS_ORIGIN=$CORS_ORIGIN

# Starts build/test/bin/barberpro-$1, stderr appended to $LOGS/$1.log, and
# records its pid where the harness finds (and updates) it.
start_process() {
    local name=$1 var
    "$TEST_BIN/barberpro-$name" </dev/null >>"$LOGS/$name.log" 2>&1 &
    child_pid[$name]=$!
    echo "$!" >"$PIDS/$name.pid"
    var=BP_TEST_PID_${name^^}
    export "$var=$!"
}

current_pid() { cat "$PIDS/$1.pid" 2>/dev/null || true; }

integ_bins=()
for t in "$INTEG_DIR"/*; do
    [[ -f $t && -x $t ]] || continue
    [[ -z $ONLY || $(basename "$t") =~ $ONLY ]] && integ_bins+=("$t")
done

{ read -r fake_port && read -r mp_port && read -r wa_port && read -r tw_port && read -r sg_port; } \
    < <(bp_free_ports 5 "$PORT")
if start_fake dolarapi "$fake_port"; then
    export EXCHANGE_RATE_URL=http://127.0.0.1:$fake_port/v1/dolares/oficial
else
    suite_ok=0
fi
# MercadoPago (the payment daemon): its API, and webhooks sent back to the
# gateway under test. The retry knobs are short so that the fault tests see a
# queued call succeed within seconds; the reconciliation runs every 500 ms so
# that a lost webhook is made up for while a test waits.
if start_fake mercadopago "$mp_port"; then
    export MERCADOPAGO_API_URL=http://127.0.0.1:$mp_port
else
    suite_ok=0
fi
export MERCADOPAGO_ACCESS_TOKEN=TEST-fake-access-token
export MERCADOPAGO_WEBHOOK_SECRET=fake-webhook-secret
export PUBLIC_BASE_URL=http://127.0.0.1:$PORT
export PAYMENT_RECONCILE_INTERVAL_MS=500
export MERCADOPAGO_TIMEOUT_MS=1500
export PAYMENT_RETRY_BACKOFF_MS=200
export PAYMENT_RETRY_BACKOFF_MAX_MS=2000

# WhatsApp, Twilio and email (the notification daemon): the stand-ins with
# their default credentials; short retries, so that a test sees a message
# tried again within a second.
# Its delivery statuses go to the gateway under test, as Meta's would.
export FAKE_WHATSAPP_WEBHOOK_URL=http://127.0.0.1:$PORT/api/webhooks/whatsapp
if start_fake whatsapp "$wa_port"; then
    export WHATSAPP_API_URL=http://127.0.0.1:$wa_port/v19.0
else
    suite_ok=0
fi
export WHATSAPP_TOKEN=fake-whatsapp-token
export WHATSAPP_PHONE_NUMBER_ID=123456789012345
export WHATSAPP_APP_SECRET=fake-whatsapp-app-secret
export WHATSAPP_WEBHOOK_VERIFY_TOKEN=fake-verify-token
if start_fake twilio "$tw_port"; then
    export TWILIO_API_URL=http://127.0.0.1:$tw_port
else
    suite_ok=0
fi
export TWILIO_ACCOUNT_SID=ACfake00000000000000000000000000000
export TWILIO_AUTH_TOKEN=fake-twilio-token
export TWILIO_FROM=+15005550006
if start_fake sendgrid "$sg_port"; then
    export SENDGRID_API_URL=http://127.0.0.1:$sg_port
else
    suite_ok=0
fi
export SENDGRID_API_KEY=SG.fake-key
export FROM_EMAIL=turnos@barberpro.test
export NOTIFICATION_RETRY_BACKOFF_MS=200
export NOTIFICATION_RETRY_BACKOFF_MAX_MS=1000
export NOTIFICATION_MAX_ATTEMPTS=3
export NOTIFICATION_TIMEOUT_MS=1500

for name in "${BP_SERVICES[@]}"; do
    if ! "$TEST_BIN/barberpro-$name" migrate </dev/null >>"$LOGS/migrate-$name.log" 2>&1; then
        bp_log "migrations of $name failed:"
        tail -n 30 "$LOGS/migrate-$name.log" >&2
        suite_ok=0
    fi
done

if ((suite_ok)); then
    for name in "${BP_SERVICES[@]}"; do
        start_process "$name"
    done
    start_process gateway
    if ! bp_wait_health "$BP_TEST_BASE_URL/api/health" 90 "${child_pid[@]}"; then
        bp_log "the suite did not become healthy (last /api/health status: $BP_LAST_STATUS)"
        for name in gateway "${BP_SERVICES[@]}"; do
            bp_log "---- last lines of $name.log"
            tail -n 15 "$LOGS/$name.log" >&2 || true
        done
        suite_ok=0
    fi
fi

for t in "${integ_bins[@]}"; do
    if ((!suite_ok)); then
        fail "${t#"$REPO"/} (not run: the suite did not start)"
        continue
    fi
    # A test that killed a daemon restarts it; should one stay down, bring it
    # back so that the next binary starts from a healthy suite.
    for name in "${BP_SERVICES[@]}" gateway; do
        kill -CONT "$(current_pid "$name")" 2>/dev/null || true # a test that stopped one
        if ! bp_alive "$(current_pid "$name")"; then
            bp_log "barberpro-$name is down after the previous test; restarting it"
            start_process "$name"
        fi
    done
    bp_wait_health "$BP_TEST_BASE_URL/api/health" 30 || true
    # One test at a time: some tests stop and kill daemons.
    run_test_binary "$t" "$INTEG_TIMEOUT" --jobs=1
done

# ---- stop the suite: each daemon must stop cleanly on SIGTERM ------------------
# Gateway first, so that no new calls reach the daemons while they stop.
stop_and_check() {
    local names=("$@") name pid st
    declare -A pid_now=()
    for name in "${names[@]}"; do
        pid=$(current_pid "$name")
        [[ -n $pid ]] || continue
        pid_now[$name]=$pid
        kill -TERM "$pid" 2>/dev/null || true
    done
    bp_wait_exit 20 "${pid_now[@]}" || true
    for name in "${!pid_now[@]}"; do
        pid=${pid_now[$name]}
        if bp_alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            fail "barberpro-$name did not stop within 20 s of SIGTERM"
        elif [[ ${child_pid[$name]:-} == "$pid" ]]; then
            wait "$pid" && st=0 || st=$?
            if ((st != 0)); then
                fail "barberpro-$name exited with status $st on SIGTERM"
            fi
        fi
        rm -f "$PIDS/$name.pid"
    done
}
if ((suite_ok)); then
    stop_and_check gateway
    stop_and_check "${BP_SERVICES[@]}"
fi
# ---- operations (tests/ops/*_test.sh) ----------------------------------------
# Each script is one counted test, run after the suite has stopped so that it
# has the machine to itself: the static checks of compose/ and scripts/, and
# the tests that start their own copies of the suite (build/bin, release
# build) behind a real nginx. Each gets its own database on the harness's
# PostgreSQL and its own Redis db number, a scratch folder, and the harness's
# environment (the stand-ins, S3, JWT_SECRET, ...). Exit 0 passes.
ops_db=2
for t in "$REPO"/tests/ops/*_test.sh; do
    [[ -f $t ]] || continue
    name=$(basename "$t" .sh)
    [[ -z $ONLY || $name =~ $ONLY ]] || continue
    echo "==> tests/ops/$name.sh"
    mkdir -p "$TMP/ops/$name"
    bp_pg_createdb "ops_$name"
    set +e
    BP_OPS_DATABASE_URL=$(bp_pg_url "ops_$name") BP_OPS_REDIS_URL="$(bp_redis_url)?db=$ops_db" \
        BP_OPS_TMP=$TMP/ops/$name BP_OPS_BIN_DIR=$BUILD_DIR/bin BP_OPS_TEST_BIN_DIR=$TEST_BIN \
        timeout -k 10 "$INTEG_TIMEOUT" "$t" </dev/null 2>&1 | tee "$LOGS/ops-$name.log"
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc == 0)); then pass; else fail "tests/ops/$name.sh (exit $rc)"; fi
    ops_db=$((ops_db + 1))
done

# PostgreSQL first: its archiver sends its last WAL files to S3 (s3rver).
teardown_stores
teardown_fakes
cp "$TMP/pg/postgres.log" "$LOGS/postgres.log" 2>/dev/null || true

# ---- sanitizer reports in the daemons' and the tests' logs ----------------------
san_pattern='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'
for log in "$LOGS"/*.log; do
    [[ -e $log ]] || continue
    if grep -qE "$san_pattern" "$log"; then
        bp_log "sanitizer report in $(basename "$log"):"
        grep -nE -A 25 "$san_pattern" "$log" | head -n 80 >&2
        fail "sanitizer report in $(basename "$log")"
    fi
done

echo
if ((${#failures[@]})); then
    echo "Failures:"
    printf '  %s\n' "${failures[@]}"
fi
printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
