/* barberpro-backup: scheduled and requested full backups to BACKUP_LOCAL_DIR
 * and S3, their retention and catalogue, PostgreSQL's archive_command, and
 * the restore. This file only wires the daemon; backup.h lists the rest. */
#include <string.h>

#include "backup.h"
#include "bp.h"
#include "config.h"
#include "daemon.h"

extern const bp_migration backup_migrations[];

/* One row per RPC of proto/backup.proto. */
static const bp_handler handlers[] = {
    {"StartBackup", backup_handle_start, BP_HANDLER_AUTH},
    {"ListBackups", backup_handle_list, BP_HANDLER_AUTH},
};

/* One job does it all, in one instance at a time: a backup is long and
 * the next may only start when it ended. It looks at the schedule every
 * BACKUP_CHECK_INTERVAL_MS and is kicked by StartBackup. */
static bp_job jobs[] = {
    {BACKUP_JOB, 30000, true, backup_job},
};

static const bp_service service = {
    .name = "backup",
    .descriptor = &bp__backup__backup__descriptor,
    .handlers = handlers,
    .n_handlers = BP_COUNTOF(handlers),
    .use_db = true,
    .use_kv = true,
    .workers = 2,
    .business_metrics = backup_business_metrics,
};

static int on_start(bp_db *db)
{
    (void)db;
    backup_config_load(&backup_config);
    jobs[0].interval_ms = (int)bp_config_int("BACKUP_CHECK_INTERVAL_MS", 30000, 100, 3600000);
    return 0;
}

/* Commands: wal-push and restore need no database of their own; run does. */
static int command(const char *cmd, int argc, char **argv);

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "backup",
    .migrations = backup_migrations,
    .on_start = on_start,
    .command = command,
    .usage = "run | wal-push <file> | restore --from local|s3 --at latest|<id>|<time> "
             "[--database-url URL] [--uploads DIR] [--yes]",
    .jobs = jobs,
    .n_jobs = BP_COUNTOF(jobs),
};

static int command(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "wal-push") == 0)
        return backup_command_wal_push(argc, argv);
    if (strcmp(cmd, "restore") == 0)
        return backup_command_restore(argc, argv);
    if (strcmp(cmd, "run") == 0) {
        backup_config_load(&backup_config);
        bp_db *db;
        if (bp_daemon_open_db(&daemon_def, &db) != 0)
            return 1;
        int rv = backup_command_run(db);
        bp_db_close(db);
        return rv;
    }
    return -1;
}

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
