#!/usr/bin/env bash
# Installs the test tools pinned by tools/package-lock.json (Redocly CLI for
# the OpenAPI lint, s3rver as the local S3 of the backup tests) with
# `npm ci` into tools/node_modules (git-ignored), only when that folder is
# missing or came from another lock file; otherwise touches nothing. Used by
# scripts/openapi-lint.sh and scripts/test.sh.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$REPO/tools
# A copy of the lock file the installed tree came from (npm ci empties
# node_modules first, so it never outlives a failed install).
STAMP=$TOOLS/node_modules/.barberpro-lock

die() {
    echo "tools-install: $*" >&2
    exit 1
}

command -v node >/dev/null 2>&1 || die "node is missing (scripts/deps.sh installs nodejs)"

installed() { cmp -s "$TOOLS/package-lock.json" "$STAMP"; }

if ! installed; then
    command -v npm >/dev/null 2>&1 || die "npm is missing (scripts/deps.sh installs it)"
    # Several checkouts' `make test` may get here at once: one installs, the
    # others wait and then find it done. The lock is the lock file itself,
    # which npm ci only reads.
    exec 9<"$TOOLS/package-lock.json"
    flock 9
    if ! installed; then
        echo "tools-install: installing the pinned test tools (npm ci in tools/)" >&2
        # No install scripts: neither tool needs one.
        (cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
            die "npm ci failed in tools/ (the first run needs the npm registry)"
        cp "$TOOLS/package-lock.json" "$STAMP"
    fi
    exec 9<&-
fi
