#!/usr/bin/env bash
# `make lint`: the checks STYLE.md promises, on every C file of the project
# (tracked, or new and not ignored; never build*/): formatting against the
# committed .clang-format, cppcheck, and a ban on sprintf, strcpy, strcat,
# gets and atoi; then the compose file and the alert rules. Prints every
# finding; fails when there is one.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    while IFS= read -r f; do
        [[ -f $f ]] && files+=("$f")
    done < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' |
        grep -Ev '^build[^/]*/' | sort -u)
else
    while IFS= read -r f; do
        files+=("$f")
    done < <(find common gateway services tests -name '*.[ch]' 2>/dev/null | sort)
fi
((${#files[@]})) || {
    echo "lint: no C files found" >&2
    exit 1
}

failed=0

echo "lint: clang-format (${#files[@]} files)"
if ! clang-format --dry-run --Werror "${files[@]}"; then
    echo "lint: formatting differs from .clang-format (make format fixes it)" >&2
    failed=1
fi

# cppcheck needs the generated protobuf-c headers to see the real types.
gen_headers=()
for p in proto/*.proto; do
    gen_headers+=("build/gen/$(basename "$p" .proto).pb-c.h")
done
if ((${#gen_headers[@]})); then
    make -s --no-print-directory "${gen_headers[@]}" >/dev/null ||
        echo "lint: could not generate the protobuf headers; cppcheck will see less" >&2
fi

echo "lint: cppcheck"
c_files=()
for f in "${files[@]}"; do
    [[ $f == *.c ]] && c_files+=("$f")
done
if ! cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr -q \
    --library="$REPO/scripts/cppcheck/barberpro.cfg" --std=c11 -D_GNU_SOURCE -Icommon -Ibuild/gen -Igateway -Itests/integration \
    --suppress=missingIncludeSystem -j "$(nproc)" "${c_files[@]}"; then
    echo "lint: cppcheck found problems" >&2
    failed=1
fi

echo "lint: banned functions (sprintf, strcpy, strcat, gets, atoi)"
# A call is the name as a whole word followed by "(": snprintf, strncpy,
# fgets and atoll are fine. Comment lines are skipped.
banned=$(grep -nHE '(^|[^A-Za-z0-9_])(sprintf|strcpy|strcat|gets|atoi)[[:space:]]*\(' "${files[@]}" |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' || true)
if [[ -n $banned ]]; then
    echo "$banned"
    echo "lint: use snprintf, explicit lengths and strtol with checks instead" >&2
    failed=1
fi

# The deployment files, checked statically (there is no Docker engine here):
# the compose file with throw-away values for its required secrets, and the
# Prometheus alert rules.
if command -v docker-compose >/dev/null 2>&1; then
    echo "lint: docker-compose config"
    # The committed compose/.env.example with a throw-away value for each
    # secret the compose file requires (its ${VAR:?} guards), and nothing
    # from this shell's environment. tests/ops/compose_test.sh checks more.
    lint_env=$(mktemp)
    required=$(grep -vE '^[[:space:]]*#' compose/docker-compose.yml |
        grep -oE '\$\{[A-Z0-9_]+:\?' | sed -E 's/^\$\{//; s/:\?$//' | sort -u || true)
    sed_args=(-e '')
    for v in $required; do
        sed_args+=(-e "s/^$v=\$/$v=lint-throwaway-secret/")
    done
    sed "${sed_args[@]}" compose/.env.example >"$lint_env"
    if ! env -i PATH="$PATH" HOME="${HOME:-/tmp}" docker-compose --env-file "$lint_env" \
        -f compose/docker-compose.yml config -q; then
        echo "lint: compose/docker-compose.yml does not validate" >&2
        failed=1
    fi
    rm -f "$lint_env"
else
    echo "lint: docker-compose not installed; compose file not checked"
fi
if command -v promtool >/dev/null 2>&1; then
    echo "lint: promtool check rules"
    if ! promtool check rules compose/prometheus/alerts.yml >/dev/null; then
        promtool check rules compose/prometheus/alerts.yml >&2 || true
        failed=1
    fi
else
    echo "lint: promtool not installed; alert rules not checked"
fi

if ((failed)); then
    echo "lint: FAILED" >&2
    exit 1
fi
echo "lint: ok"
