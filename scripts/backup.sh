#!/usr/bin/env bash
# One full backup now (database, base backup for point-in-time recovery,
# uploads, configuration), written to BACKUP_LOCAL_DIR and uploaded to S3
# when BACKUP_S3_BUCKET is set; then the retention rules run. For cron users:
#   0 2 * * * /app/scripts/backup.sh
# The backup daemon does the same on BACKUP_SCHEDULE; both take the same
# lock, so they never run at once. Exits 0 once the backup is completed.
#
# usage: scripts/backup.sh
set -euo pipefail

export BP_SCRIPT=backup
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

(($# == 0)) || bp_die "usage: scripts/backup.sh (configuration from the environment; see README)"
bp_tool_env "$REPO"
exec "$BP_TOOL_BIN/barberpro-backup" run
