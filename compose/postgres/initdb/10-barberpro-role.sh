#!/usr/bin/env bash
# Run once by the PostgreSQL image's entrypoint, when the pgdata volume is
# empty (/docker-entrypoint-initdb.d/): the application's role and
# database. The daemons are not superusers, as in production: the role owns
# database barberpro (each daemon creates and migrates its own schema
# there), may replicate (the backup daemon's pg_basebackup) and create
# databases (a restore into a database that does not exist yet).
#
# Reads POSTGRES_USER (the image's superuser) and BARBERPRO_DB_PASSWORD.
# Changing BARBERPRO_DB_PASSWORD later does not change the role's
# password: `ALTER ROLE barberpro PASSWORD '...'` does.
#
# All in a subshell: the entrypoint sources (rather than runs) a script that
# lost its executable bit, and these shell options must not leak into it.
(
    set -euo pipefail
    : "${BARBERPRO_DB_PASSWORD:?BARBERPRO_DB_PASSWORD must be set (compose/.env)}"
    # The password goes in as a psql variable, quoted by psql (:'pw').
    psql -v ON_ERROR_STOP=1 -X -q --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        -v pw="$BARBERPRO_DB_PASSWORD" <<'SQL'
CREATE ROLE barberpro LOGIN REPLICATION CREATEDB PASSWORD :'pw';
CREATE DATABASE barberpro OWNER barberpro ENCODING 'UTF8' TEMPLATE template0;
SQL
    echo "barberpro role and database created"
)
