#!/usr/bin/env bash
# `make openapi-lint`, and a step of `make test`: lints gateway/openapi.yaml
# with Redocly CLI under tools/redocly.yaml. The CLI is the version pinned by
# tools/package-lock.json (scripts/tools-install.sh installs it once);
# nothing touches the network (telemetry and the update check are off). Exits 0 when the document lints clean.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$REPO/tools
CLI=$TOOLS/node_modules/@redocly/cli/bin/cli.js
die() {
    echo "openapi-lint: $*" >&2
    exit 1
}

"$REPO/scripts/tools-install.sh"
[[ -f $CLI ]] || die "$CLI is missing after the install"

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
cd "$REPO"
node "$CLI" lint --config tools/redocly.yaml --format=codeframe gateway/openapi.yaml
