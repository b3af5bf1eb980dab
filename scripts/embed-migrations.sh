#!/bin/sh
# Writes C source that embeds migrations/<service>/NNNN_name.sql into the
# daemon, so a binary always carries the schema it expects.
# usage: embed-migrations.sh <service> <out.c> [files...]
set -eu
svc=$1
out=$2
shift 2
tmp="$out.tmp"
{
    echo "/* Generated from migrations/$svc by scripts/embed-migrations.sh. */"
    echo '#include <stddef.h>'
    echo '#include "db.h"'
    echo "const bp_migration ${svc}_migrations[] = {"
    for f in "$@"; do
        base=$(basename "$f")
        ver=$(printf '%s' "$base" | sed -n 's/^\([0-9][0-9]*\)_.*\.sql$/\1/p')
        [ -n "$ver" ] || { echo "bad migration name: $f" >&2; exit 1; }
        ver=$(printf '%s' "$ver" | sed 's/^0*//')
        printf '    {%s, "%s",\n' "${ver:-0}" "$base"
        sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/     "/' -e 's/$/\\n"/' "$f"
        echo '    },'
    done
    echo '    {0, NULL, NULL}};'
    echo "const size_t ${svc}_migrations_count = sizeof ${svc}_migrations / sizeof ${svc}_migrations[0] - 1;"
} >"$tmp"
mv "$tmp" "$out"
