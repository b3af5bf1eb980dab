-- The catalogue of backups. The files themselves live in BACKUP_LOCAL_DIR
-- and S3, each with a manifest, so that a restore needs no database.
create table backup.backups (
    id text primary key,                       -- YYYYMMDD_HHMMSS (Buenos Aires)
    kind text not null check (kind in ('scheduled', 'manual')),
    status text not null default 'pending'
        check (status in ('pending', 'running', 'completed', 'failed')),
    scheduled_for timestamptz unique,          -- the cron slot of a scheduled one
    requested_by uuid,                         -- the admin of a manual one
    requested_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    size_bytes bigint,
    sha256 text,                               -- of manifest.json
    local_path text,                           -- null once pruned
    s3_prefix text,                            -- s3://bucket/backups/<id>/; null once pruned
    archive_prefix text,                       -- s3://bucket/archive/<id>/ (first of a month)
    manifest jsonb,
    error text,
    heartbeat_at timestamptz                   -- a running one's instance is alive
);

-- At most one backup waits or runs at a time.
create unique index backups_one_active on backup.backups ((true))
    where status in ('pending', 'running');
create index backups_started_idx on backup.backups (started_at desc);
create index backups_status_idx on backup.backups (status, finished_at desc);

-- The last cron slot the schedule has dealt with (one row).
create table backup.schedule (
    singleton boolean primary key default true check (singleton),
    last_slot timestamptz not null
);
