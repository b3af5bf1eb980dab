/* The backup daemon's shared state and internal interface. One file per
 * concern implements it:
 *   config.c     settings
 *   proc.c       running pg_dump, pg_basebackup and tar; gzip; folders
 *   manifest.c   a backup's manifest: its parts, their sizes and SHA-256
 *   run.c        one full backup, and the job that schedules and runs them
 *   prune.c      retention: local 7 days, S3 30 days, the archive a year
 *   catalogue.c  StartBackup, ListBackups, the business figures
 *   wal.c        `barberpro-backup wal-push`, PostgreSQL's archive_command
 *   restore.c    `barberpro-backup restore`
 *   s3.c         the S3 client (s3.h)
 *   schedule.c   cron and the retention rules (schedule.h)
 *
 * On disk (BACKUP_LOCAL_DIR) and in the bucket the layout is the same:
 *   full/<id>/ (local) or backups/<id>/ and archive/<id>/ (S3), holding
 *     database.dump   pg_dump, custom format, compressed
 *     base.tar.gz     pg_basebackup (tar, WAL included): the start of a
 *                     point-in-time recovery
 *     uploads.tar.gz  UPLOAD_DIR
 *     config.json     the suite's settings, secrets left out
 *     manifest.json   versions, and size and SHA-256 of each part
 *   wal/<segment>.gz  every WAL file PostgreSQL archived, gzip'd */
#ifndef BACKUP_H
#define BACKUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup.pb-c.h"
#include "db.h"
#include "kv.h"
#include "rpc.h"
#include "s3.h"
#include "schedule.h"
#include "strbuf.h"
#include "tz.h"

typedef struct {
    char local_dir[PATH_MAX];  /* BACKUP_LOCAL_DIR (<BARBERPRO_VAR_DIR>/backups) */
    char upload_dir[PATH_MAX]; /* UPLOAD_DIR (<BARBERPRO_VAR_DIR>/uploads) */
    char pg_bin[PATH_MAX];     /* PG_BIN, else the newest /usr/lib/postgresql/N/bin */
    char pg_os_user[64];       /* BACKUP_PG_OS_USER (postgres): runs the restore's server */
    char timezone[64];         /* TIMEZONE */
    const bp_tz *tz;
    char schedule_text[128]; /* BACKUP_SCHEDULE ("0 2 * * *") */
    bp_cron schedule;
    bool s3_on; /* a bucket is configured */
    bp_s3 s3;
    int local_days, s3_days, archive_days; /* BACKUP_*_RETENTION_DAYS: 7, 30, 365 */
} backup_ctx;

extern backup_ctx backup_config;

/* Reads the settings; exits 2 naming the variable on a bad value. The
 * database URL is read by whoever needs it. */
void backup_config_load(backup_ctx *c);

/* ---- proc.c -------------------------------------------------------------- */

/* Runs argv (argv[0] a path, or a name searched in PATH) and waits for it.
 * stdout_path: where its standard output goes (created, mode 0600), or NULL
 * for /dev/null. as_pg: as backup_config.pg_os_user when this process is
 * root (PostgreSQL servers refuse root). Returns 0 when it exited 0, else
 * BP_EIO with "<name> exited with status N: <its last line of stderr>" in
 * err. */
int backup_exec(const char *const *argv, const char *stdout_path, bool as_pg, char *err,
                size_t len);

/* The path of PostgreSQL's program name (pg_dump, pg_ctl...) into out. */
void backup_pg_tool(const char *name, char *out, size_t len);

/* gzip / gunzip a whole file into dst (written to dst.tmp, fsync'd, then
 * renamed). Return 0 or BP_EIO with a reason. */
int backup_gzip_file(const char *src, const char *dst, char *err, size_t len);
int backup_gunzip_file(const char *src, const char *dst, char *err, size_t len);

/* mkdir -p with mode; rm -rf. Return 0 or BP_EIO. */
int backup_mkdirs(const char *path, unsigned mode);
int backup_rmtree(const char *path);

/* Writes s to path (0600, fsync'd). Returns 0 or BP_EIO. */
int backup_write_file(const char *path, const char *s, size_t n);

/* snprintf into out, BP_ETOOBIG when it does not fit. */
int backup_path(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- manifest.c ---------------------------------------------------------- */

#define BACKUP_MAX_PARTS 4

typedef struct {
    char name[32];
    uint64_t size;
    char sha256[65];
} backup_part;

typedef struct {
    char id[32];
    char kind[16];
    int64_t created_at; /* Unix seconds: the backup's start */
    int64_t finished_at;
    char database[128]; /* the dumped database's name */
    char wal_start[64]; /* the first WAL file a recovery from base.tar.gz needs */
    char versions[512]; /* JSON object text: barberpro, postgresql, pg_dump */
    backup_part parts[BACKUP_MAX_PARTS];
    size_t n_parts;
} backup_manifest;

/* The parts of a backup, in the order they are made. */
extern const char *const backup_part_names[BACKUP_MAX_PARTS];

/* Fills each part's size and SHA-256 from the files in dir. */
int backup_manifest_measure(backup_manifest *m, const char *dir, char *err, size_t len);

/* To and from manifest.json. to_json returns a malloc'd string. */
char *backup_manifest_json(const backup_manifest *m);
int backup_manifest_read(const char *path, backup_manifest *m, char *err, size_t len);

/* Checks every part in dir against the manifest; a missing file, another
 * size or another SHA-256 is BP_EIO with the part named in err. */
int backup_manifest_verify(const backup_manifest *m, const char *dir, char *err, size_t len);

/* The Unix time of an id (YYYYMMDD_HHMMSS, local time in tz), or -1. */
int64_t backup_id_time(const char *id, const bp_tz *tz);

/* ---- run.c ---------------------------------------------------------------- */

/* The job (exclusive across instances): fails a backup whose instance died,
 * queues the scheduled one when its slot has come, runs the one waiting,
 * then prunes. */
int backup_job(bp_db *db, bp_kv *kv);
#define BACKUP_JOB "backups"

/* Runs `scripts/backup.sh`'s backup now, in this process (the command
 * `barberpro-backup run`): queues a manual one and runs it. Returns the
 * exit status. */
int backup_command_run(bp_db *db);

/* ---- prune.c -------------------------------------------------------------- */

/* Applies retention to the local copies, the bucket and the WAL archive,
 * counting what went (bp_retention_removed). Returns 0 or a BP_E* code. */
int backup_prune(bp_db *db);

/* ---- catalogue.c ---------------------------------------------------------- */

int backup_handle_start(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int backup_handle_list(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int backup_business_metrics(bp_call *call, bp_strbuf *out);

/* ---- wal.c / restore.c ---------------------------------------------------- */

int backup_command_wal_push(int argc, char **argv);
int backup_command_restore(int argc, char **argv);

#endif
