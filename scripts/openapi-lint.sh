#!/usr/bin/env bash
# `make openapi-lint`, and a step of `make test`: lints gateway/openapi.yaml
# with Redocly CLI under tools/redocly.yaml. The CLI is the version pinned by
# tools/package-lock.json, installed with `npm ci` into tools/node_modules
# (git-ignored) only when that folder is missing or came from another lock
# file; otherwise nothing touches the network (telemetry and the update
# check are turned off). Exits 0 when the document lints clean.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$REPO/tools
CLI=$TOOLS/node_modules/@redocly/cli/bin/cli.js
# A copy of the lock file the installed tree came from (npm ci empties
# node_modules first, so it never outlives a failed install).
STAMP=$TOOLS/node_modules/.barberpro-lock

die() {
    echo "openapi-lint: $*" >&2
    exit 1
}

command -v node >/dev/null 2>&1 || die "node is missing (scripts/deps.sh installs nodejs)"

installed() { [[ -f $CLI ]] && cmp -s "$TOOLS/package-lock.json" "$STAMP"; }

if ! installed; then
    command -v npm >/dev/null 2>&1 || die "npm is missing (scripts/deps.sh installs it)"
    # Several checkouts' `make test` may get here at once: one installs, the
    # others wait and then find it done. The lock is the lock file itself,
    # which npm ci only reads.
    exec 9<"$TOOLS/package-lock.json"
    flock 9
    if ! installed; then
        echo "openapi-lint: installing the pinned Redocly CLI (npm ci in tools/)" >&2
        # No install scripts: the linter needs none.
        (cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
            die "npm ci failed in tools/ (the first run needs the npm registry)"
        cp "$TOOLS/package-lock.json" "$STAMP"
    fi
    exec 9<&-
fi

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
cd "$REPO"
node "$CLI" lint --config tools/redocly.yaml --format=codeframe gateway/openapi.yaml
