#!/usr/bin/env bash
# Restores the suite from a backup, with the interface of the operations
# manual:
#   scripts/restore.sh -d latest           the database, from the latest local backup
#   scripts/restore.sh -s 20241210_020000  the database, from that backup in S3
#   scripts/restore.sh -y latest           everything (database and uploads), local
#   scripts/restore.sh -s -y latest        everything, from S3
# The target is latest, a backup id (YYYYMMDD_HHMMSS) or a moment (RFC 3339,
# e.g. 2026-12-04T09:30:00-03:00) reached by replaying the archived WAL.
# -d is the default; -y adds the uploads (into UPLOAD_DIR). It restores over
# the configured DATABASE_URL: on a terminal it asks first, -f skips that.
# Arguments after -- go to `barberpro-backup restore` (e.g.
# -- --database-url postgresql:///other to restore beside the live one).
set -euo pipefail

export BP_SCRIPT=restore
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/suite-lib.sh
. "$REPO/scripts/suite-lib.sh"

usage() { bp_die "usage: scripts/restore.sh [-d|-s] [-y] [-f] [latest|<id>|<time>] [-- restore options]"; }

from=local full=0 force=0
while getopts "dsyfh" opt; do
    case $opt in
    d) from=local ;;
    s) from=s3 ;;
    y) full=1 ;;
    f) force=1 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
at=latest
if (($#)) && [[ $1 != -- ]]; then
    at=$1
    shift
fi
if (($#)); then
    [[ $1 == -- ]] || usage
    shift
fi

bp_tool_env "$REPO"
args=(restore --from "$from" --at "$at" --yes)
((full)) && args+=(--uploads "$UPLOAD_DIR")
args+=("$@")

what="the database"
((full)) && what="the database and the uploads ($UPLOAD_DIR)"
if ((!force)) && [[ -t 0 ]]; then
    read -r -p "Restore $what from the $from backup '$at', replacing what is there now? [y/N] " answer
    [[ $answer == [yYsS]* ]] || bp_die "nothing restored"
fi
bp_log "restoring $what from the $from backup '$at'"
exec "$BP_TOOL_BIN/barberpro-backup" "${args[@]}"
