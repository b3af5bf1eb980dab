#!/usr/bin/env bash
# Installs the Debian 12 packages BarberPro needs to build, test, run and
# benchmark. Quick and silent when everything is there (one dpkg-query call);
# otherwise one `apt-get update` and one `apt-get install`, as root or through
# sudo. Works without a terminal (CI, no stdin).
set -euo pipefail

packages=(
    build-essential pkg-config
    libnng-dev libprotobuf-c-dev protobuf-c-compiler
    libpq-dev postgresql postgresql-contrib
    libhiredis-dev redis-server
    libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
    libcriterion-dev libjwt-dev libsystemd-dev uuid-dev libcrypt-dev libssl-dev zlib1g-dev tar
    wrk clang-format cppcheck curl ca-certificates
    # gateway/openapi.yaml becomes the JSON served at /api/openapi.json at
    # build time (scripts/openapi-json.py).
    python3 python3-yaml
    # setfacl: lets `make run` give the postgres user search access to a
    # checkout under a private home without opening it to everyone.
    acl
    # The deployment files are checked by the real tools in `make test`
    # (tests/ops/): nginx -t, docker-compose config, systemd-analyze verify;
    # the deploy and scale-out tests put a real nginx in front of the suite.
    nginx docker-compose systemd
)

# One call: every package dpkg knows as fully installed ("ii"). Unknown
# packages make dpkg-query exit 1, which only means "missing" here.
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${packages[@]}" 2>/dev/null |
    awk '$1 == "ii" { print $2 }' || true)

missing=()
for p in "${packages[@]}"; do
    if ! grep -qxF -- "$p" <<<"$installed"; then
        missing+=("$p")
    fi
done

# node and npm run the OpenAPI linter (scripts/openapi-lint.sh). Looked for
# as commands, not packages: NodeSource's nodejs carries npm itself and
# conflicts with Debian's npm package.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# promtool checks the live /api/metrics text in the tests and the alert rules
# in make lint; it comes with Debian's prometheus package (whose server is
# not used: on a systemd host, `systemctl disable --now prometheus`).
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

if ((${#missing[@]} == 0)); then
    exit 0
fi

echo "deps: installing ${missing[*]}" >&2

if ((EUID == 0)); then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    # -n: never prompt when there is no terminal; fail with sudo's message.
    if [[ -t 0 ]]; then as_root=(sudo); else as_root=(sudo -n); fi
else
    echo "deps: missing packages (${missing[*]}) and neither root nor sudo; install them and retry" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null
