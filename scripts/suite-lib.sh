# shellcheck shell=bash
# Shared by scripts/run.sh, scripts/test.sh and tests/bench/bench.sh: a
# private PostgreSQL cluster and Redis on unix sockets, free ports, and
# starting, watching and stopping the BarberPro processes. Sourced, not run.
# Every function is bp_*; every global it sets is BP_*.
# shellcheck disable=SC2034 # globals read by the scripts that source this

BP_SERVICES=(auth booking payment notification backup)

bp_log() { printf '%s: %s\n' "${BP_SCRIPT:-barberpro}" "$*" >&2; }
bp_die() {
    bp_log "$*"
    exit 1
}

# Longest unix socket path the kernel takes (sun_path is 108 bytes with NUL).
BP_SUN_PATH_MAX=107

# PostgreSQL refuses to run as root: as root the cluster belongs to the
# postgres user, otherwise to whoever runs the script.
if ((EUID == 0)); then
    BP_PG_OS_USER=postgres
else
    BP_PG_OS_USER=$(id -un)
fi

bp_as_pg() {
    if ((EUID == 0)); then
        runuser -u "$BP_PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

# Newest installed server binaries, unless PG_BIN says otherwise.
bp_pg_bindir() {
    if [[ -n ${PG_BIN:-} ]]; then
        printf '%s\n' "$PG_BIN"
        return
    fi
    local d best=
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/initdb ]] && best=$d
    done
    if [[ -z $best ]] && command -v initdb >/dev/null 2>&1; then
        best=$(dirname "$(command -v initdb)")
    fi
    [[ -n $best ]] || bp_die "PostgreSQL server binaries not found (install postgresql, or set PG_BIN)"
    printf '%s\n' "$best"
}

# Percent-encodes a path for use inside a URL.
bp_urlencode() {
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
        [A-Za-z0-9/._~-]) out+=$c ;;
        *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s\n' "$out"
}

# Gives the PostgreSQL user search (x) permission on every directory from /
# down to $1 that it cannot traverse yet, so that the server can reach its
# data folder inside a checkout under a private home such as /root. Only
# search, never read: names stay hidden. An ACL entry for that one user is
# preferred; plain o+x is the fallback when setfacl is missing or the file
# system has no ACLs. Each change is reported.
bp_pg_grant_traversal() {
    local target=$1 d path=
    ((EUID == 0)) || return 0
    bp_as_pg test -x "$target" && return 0
    local IFS=/
    # shellcheck disable=SC2086
    set -- $target
    unset IFS
    for d in "$@"; do
        [[ -n $d ]] || continue
        path+=/$d
        if ! bp_as_pg test -x "$path"; then
            if command -v setfacl >/dev/null 2>&1 && setfacl -m "u:$BP_PG_OS_USER:x" "$path" 2>/dev/null; then
                bp_log "gave user $BP_PG_OS_USER search access to $path (ACL) so PostgreSQL can reach its data"
            else
                chmod o+x "$path"
                bp_log "gave others search access (o+x) to $path so PostgreSQL can reach its data"
            fi
        fi
    done
    bp_as_pg test -x "$target" || bp_die "user $BP_PG_OS_USER cannot reach $target"
}

# Picks the socket folder for a cluster whose data lives in $1/data: $1 itself
# when the socket path fits the kernel's limit, else a short private folder
# under /tmp named after $1. Sets BP_PG_SOCKDIR.
bp_pg_pick_sockdir() {
    local dir=$1
    local sock=$dir/.s.PGSQL.5432
    if ((${#sock} <= BP_SUN_PATH_MAX)); then
        BP_PG_SOCKDIR=$dir
        return
    fi
    local sum
    sum=$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
    BP_PG_SOCKDIR=/tmp/barberpro-pg-$sum
    mkdir -p "$BP_PG_SOCKDIR"
    chown "$BP_PG_OS_USER" "$BP_PG_SOCKDIR"
    chmod 700 "$BP_PG_SOCKDIR"
    bp_log "$dir is too long for a unix socket path; PostgreSQL's socket goes to $BP_PG_SOCKDIR"
}

# bp_pg_start <dir> [fast]: initialises (first time) and starts a cluster
# with its data in <dir>/data, listening on no TCP address at all, only on a
# unix socket (see bp_pg_pick_sockdir). "fast" trades durability for speed
# (tests). A server left running by an earlier, crashed run of the same
# folder is stopped first. Sets BP_PG_DIR, BP_PG_SOCKDIR, BP_PG_BIN.
bp_pg_start() {
    local dir=$1 mode=${2:-}
    BP_PG_DIR=$dir
    BP_PG_BIN=$(bp_pg_bindir)
    mkdir -p "$dir"
    if ((EUID == 0)); then
        chown "$BP_PG_OS_USER" "$dir"
    fi
    chmod 700 "$dir"
    bp_pg_grant_traversal "$dir"
    bp_pg_pick_sockdir "$dir"

    if [[ ! -s $dir/data/PG_VERSION ]]; then
        bp_log "creating a PostgreSQL cluster in $dir/data"
        bp_as_pg "$BP_PG_BIN/initdb" -D "$dir/data" -U "$BP_PG_OS_USER" --auth-local=peer \
            --auth-host=reject -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            {
                cat "$dir/initdb.log" >&2
                bp_die "initdb failed"
            }
        printf "\n# BarberPro: settings written at every start.\ninclude_if_exists = 'barberpro.conf'\n" |
            bp_as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
    fi

    # Rewritten at every start so that a moved folder keeps working.
    {
        echo "# Written by scripts/suite-lib.sh at every start; edits are lost."
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '${BP_PG_SOCKDIR//\'/\'\'}'"
        echo "unix_socket_permissions = 0770"
        echo "max_connections = 300"
        # Continuous WAL archiving for point-in-time recovery, when the
        # caller names the command (barberpro-backup wal-push %p).
        if [[ -n ${BP_PG_ARCHIVE_COMMAND:-} ]]; then
            echo "archive_mode = on"
            echo "archive_command = '${BP_PG_ARCHIVE_COMMAND//\'/\'\'}'"
            echo "archive_timeout = ${BP_PG_ARCHIVE_TIMEOUT:-300}"
        fi
        if [[ $mode == fast ]]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } | bp_as_pg tee "$dir/data/barberpro.conf" >/dev/null

    if bp_as_pg "$BP_PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        bp_log "stopping a PostgreSQL left running in $dir by an earlier run"
        bp_as_pg "$BP_PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if ! bp_as_pg "$BP_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
        >/dev/null 2>&1; then
        tail -n 20 "$dir/postgres.log" >&2 || true
        bp_die "PostgreSQL did not start (log: $dir/postgres.log)"
    fi
}

# Runs SQL as the cluster's superuser against database $1.
bp_pg_sql() {
    local db=$1
    shift
    bp_as_pg "$BP_PG_BIN/psql" -h "$BP_PG_SOCKDIR" -d "$db" -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# bp_pg_createdb <name>: creates the database (when missing) owned by a role
# named after the OS user who runs the daemons (peer authentication on the
# socket). The role is not a superuser, like in production.
bp_pg_createdb() {
    local name=$1 role
    role=$(id -un)
    if [[ $role != "$BP_PG_OS_USER" ]]; then
        bp_pg_sql postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'" | grep -q 1 ||
            bp_pg_sql postgres -c "CREATE ROLE \"$role\" LOGIN"
    fi
    bp_pg_sql postgres -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1 ||
        bp_pg_sql postgres -c "CREATE DATABASE \"$name\" OWNER \"$role\""
}

# bp_pg_archive_setup <bin dir> <backup dir>: what the cluster's
# archive_command needs, before bp_pg_start: the server's user reaches the
# barberpro-backup binary and owns <backup dir>/wal; sets
# BP_PG_ARCHIVE_COMMAND. The archiver inherits this shell's environment
# (BACKUP_LOCAL_DIR, BACKUP_S3_*), so export those first.
bp_pg_archive_setup() {
    local bin=$1 dir=$2
    mkdir -p "$dir/wal"
    if ((EUID == 0)); then
        chown "$BP_PG_OS_USER" "$dir/wal"
        chmod 711 "$dir"
        bp_pg_grant_traversal "$dir/wal"
        bp_pg_grant_traversal "$bin"
    fi
    BP_PG_ARCHIVE_COMMAND="$bin/barberpro-backup wal-push %p"
}

# bp_pg_grant_backup <role>: what the backup daemon's role needs beyond
# owning its database: REPLICATION for pg_basebackup, CREATEDB for a
# restore into a database that does not exist yet.
bp_pg_grant_backup() {
    bp_pg_sql postgres -c "ALTER ROLE \"$1\" REPLICATION CREATEDB"
}

# The libpq URL of database $1 on the cluster started by bp_pg_start.
bp_pg_url() {
    printf 'postgresql:///%s?host=%s\n' "$1" "$(bp_urlencode "$BP_PG_SOCKDIR")"
}

bp_pg_stop() {
    [[ -n ${BP_PG_DIR:-} ]] || return 0
    bp_as_pg "$BP_PG_BIN/pg_ctl" -D "$BP_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    BP_PG_DIR=
}

# bp_redis_start <dir> [ephemeral]: starts redis-server with no TCP port, a
# unix socket <dir>/redis.sock (or a short path under /tmp when that is too
# long) and its data in <dir>. "ephemeral" turns persistence off (tests).
# Sets BP_REDIS_PID and BP_REDIS_SOCK.
bp_redis_start() {
    local dir=$1 mode=${2:-}
    mkdir -p "$dir"
    chmod 700 "$dir"
    BP_REDIS_SOCK=$dir/redis.sock
    if ((${#BP_REDIS_SOCK} > BP_SUN_PATH_MAX)); then
        local sum
        sum=$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
        mkdir -p "/tmp/barberpro-redis-$sum"
        chmod 700 "/tmp/barberpro-redis-$sum"
        BP_REDIS_SOCK=/tmp/barberpro-redis-$sum/redis.sock
        bp_log "$dir is too long for a unix socket path; Redis's socket goes to $BP_REDIS_SOCK"
    fi
    # A Redis left running by an earlier, crashed run of the same folder.
    local old
    if [[ -s $dir/redis.pid ]] && old=$(<"$dir/redis.pid") && bp_alive "$old" &&
        grep -q redis "/proc/$old/cmdline" 2>/dev/null; then
        bp_log "stopping a Redis left running in $dir by an earlier run"
        bp_stop_pids 10 "$old"
    fi
    local persist=(--save "3600 1 300 100 60 10000" --appendonly no)
    if [[ $mode == ephemeral ]]; then
        persist=(--save "" --appendonly no)
    fi
    # setsid: Ctrl-C on the terminal reaches the script, which stops Redis
    # last, after the daemons that use it.
    setsid redis-server --port 0 --unixsocket "$BP_REDIS_SOCK" --unixsocketperm 700 \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        --daemonize no "${persist[@]}" </dev/null 9>&- &
    BP_REDIS_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -S $BP_REDIS_SOCK ]] && bp_redis_ping && return 0
        bp_alive "$BP_REDIS_PID" || break
        sleep 0.1
    done
    tail -n 20 "$dir/redis.log" >&2 || true
    bp_die "Redis did not start (log: $dir/redis.log)"
}

bp_redis_ping() {
    if command -v redis-cli >/dev/null 2>&1; then
        redis-cli -s "$BP_REDIS_SOCK" ping 2>/dev/null | grep -q PONG
    else
        [[ -S $BP_REDIS_SOCK ]]
    fi
}

bp_redis_url() {
    printf 'unix://%s\n' "$(bp_urlencode "$BP_REDIS_SOCK")"
}

bp_redis_stop() {
    [[ -n ${BP_REDIS_PID:-} ]] || return 0
    bp_stop_pids 20 "$BP_REDIS_PID"
    BP_REDIS_PID=
}

# bp_read_env_file <file>: reads a file in systemd's EnvironmentFile format
# (KEY=VALUE lines, # and ; comments, a value optionally in matching quotes)
# and appends KEY=VALUE to the array BP_ENV_VARS. A bad line is reported by
# number only: it may hold a secret. Callers declare `local BP_ENV_VARS=()`
# to collect into their own list (scripts/deploy-production.sh,
# tests/ops/deploy/svcmgr.sh).
bp_read_env_file() {
    local file=$1 line n=0 key val
    [[ -r $file ]] || bp_die "cannot read $file"
    while IFS= read -r line || [[ -n $line ]]; do
        n=$((n + 1))
        line=${line#"${line%%[![:space:]]*}"}
        [[ -z $line || $line == \#* || $line == \;* ]] && continue
        [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]] ||
            bp_die "$file line $n is not KEY=VALUE"
        key=${BASH_REMATCH[1]}
        val=${BASH_REMATCH[2]}
        val=${val%"${val##*[![:space:]]}"}
        if [[ $val =~ ^\"(.*)\"$ || $val =~ ^\'(.*)\'$ ]]; then
            val=${BASH_REMATCH[1]}
        fi
        BP_ENV_VARS+=("$key=$val")
    done <"$file"
}

# True when pid $1 exists and is not a zombie. Builtins only: no fork, so
# it is safe while signals arrive.
bp_alive() {
    local pid=$1 stat=
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ -n $stat && ${stat:0:1} != Z ]]
}

# Set by the scripts' INT/TERM traps. The traps only raise this flag and the
# scripts check it between steps: work done inside a trap that interrupted
# `wait` or a command substitution can hang bash (seen with 5.2.15).
BP_STOP=0
bp_trap_stop() { trap 'BP_STOP=1' INT TERM; }

# bp_wait_exit <seconds> <pid>...: waits until none of the pids runs, for
# at most <seconds>. Returns 1 when some still run.
bp_wait_exit() {
    local secs=$1 pid i alive
    shift
    for ((i = 0; i < secs * 10; i++)); do
        alive=0
        for pid in "$@"; do
            bp_alive "$pid" && alive=1
        done
        ((alive)) || return 0
        sleep 0.1
    done
    return 1
}

# bp_stop_pids <seconds> <pid>...: SIGTERM, then SIGKILL for whatever still
# runs after <seconds>. Returns 1 when something had to be killed.
bp_stop_pids() {
    local secs=$1 pid rc=0
    shift
    for pid in "$@"; do
        if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    bp_wait_exit "$secs" "$@" || true
    for pid in "$@"; do
        if bp_alive "$pid"; then
            bp_log "pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-60)) ignored SIGTERM for ${secs}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            rc=1
        fi
    done
    # No `wait` here: it can block on a pid bash has already reaped, and a
    # zombie left behind goes with the script.
    return "$rc"
}

# Prints a TCP port on 127.0.0.1 that nothing listens on now.
bp_free_port() {
    local port i lo
    # Below the kernel's range for outgoing connections' local ports, which
    # a port that nothing listens on may still be taken by (bind fails).
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
    ((lo > 11000)) || lo=32768
    for ((i = 0; i < 200; i++)); do
        port=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    bp_die "no free TCP port found"
}

# bp_free_ports <n> [taken...]: n distinct free ports, one per line, none of
# them a port given (a chosen port stays free only until its server starts,
# so ports picked one at a time could collide).
bp_free_ports() {
    local n=$1 port
    shift
    local -A seen=()
    for port in "$@"; do seen[$port]=1; done
    while ((n > 0)); do
        port=$(bp_free_port)
        [[ -n ${seen[$port]:-} ]] && continue
        seen[$port]=1
        printf '%s\n' "$port"
        n=$((n - 1))
    done
}

# bp_http_status <url>: prints the HTTP status of a GET (000 when nothing
# answers).
bp_http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
}

# bp_wait_health <url> <seconds> <pid>...: waits until GET <url> answers 200
# while every pid stays alive. Returns 0, 1 on timeout, 2 when a pid died
# (BP_DEAD_PID names it), 3 when BP_STOP was raised.
bp_wait_health() {
    local url=$1 secs=$2 deadline pid
    shift 2
    deadline=$((SECONDS + secs))
    BP_LAST_STATUS=000
    while ((SECONDS < deadline)); do
        ((BP_STOP)) && return 3
        for pid in "$@"; do
            if ! bp_alive "$pid"; then
                BP_DEAD_PID=$pid
                return 2
            fi
        done
        BP_LAST_STATUS=$(bp_http_status "$url")
        [[ $BP_LAST_STATUS == 200 ]] && return 0
        sleep 0.2
    done
    return 1
}

# bp_tool_env: the configuration scripts/backup.sh and scripts/restore.sh
# run with. BARBERPRO_ENV_FILE (systemd's EnvironmentFile, compose's .env)
# is read when set; otherwise, without a DATABASE_URL, the data stores of
# `make run`'s folder (BARBERPRO_VAR_DIR/env). BACKUP_LOCAL_DIR and
# UPLOAD_DIR default to that folder, as in scripts/run.sh. Sets BP_TOOL_BIN.
bp_tool_env() {
    local repo=$1
    if [[ -n ${BARBERPRO_ENV_FILE:-} ]]; then
        [[ -r $BARBERPRO_ENV_FILE ]] || bp_die "cannot read BARBERPRO_ENV_FILE=$BARBERPRO_ENV_FILE"
        set -a
        # shellcheck disable=SC1090 # the operator's file
        . "$BARBERPRO_ENV_FILE"
        set +a
    fi
    local var=${BARBERPRO_VAR_DIR:-$repo/var}
    if [[ -z ${DATABASE_URL:-} && -r $var/env ]]; then
        set -a
        # shellcheck disable=SC1091 # written by scripts/run.sh
        . "$var/env"
        set +a
    fi
    [[ -n ${DATABASE_URL:-} ]] ||
        bp_die "no DATABASE_URL: set it, or BARBERPRO_ENV_FILE, or start the suite once with make run"
    export BACKUP_LOCAL_DIR=${BACKUP_LOCAL_DIR:-$var/backups}
    export UPLOAD_DIR=${UPLOAD_DIR:-$var/uploads}
    BP_TOOL_BIN=${BARBERPRO_BIN_DIR:-$repo/build/bin}
    [[ -x $BP_TOOL_BIN/barberpro-backup ]] || bp_die "$BP_TOOL_BIN/barberpro-backup is missing: run make first"
}
