/* One full backup, and the job that schedules and runs them. A backup is
 * made in full/<id>.partial/ and renamed when every part is measured, so a
 * folder named by an id is always whole; it counts as completed only once
 * the bucket holds every part and has agreed on its size and checksum. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backup.h"
#include "bp.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

/* One value of a query's first row, or BP_EIO. */
static int sql_value(bp_db *db, const char *sql, int n, const char *const *p, char *out, size_t len)
{
    PGresult *res = bp_db_select(db, sql, n, p, NULL);
    int rv = res != NULL && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? 0 : BP_EIO;
    if (rv == 0)
        snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rv;
}

static int sql_exec(bp_db *db, const char *sql, int n, const char *const *p)
{
    PGresult *res = bp_db_select(db, sql, n, p, NULL);
    PQclear(res);
    return res != NULL ? 0 : BP_EIO;
}

/* The first line a program prints for --version, e.g. "pg_dump (PostgreSQL) 15.8". */
static void tool_version(const char *tool, const char *dir, char *out, size_t len)
{
    char path[PATH_MAX], file[PATH_MAX], err[256];
    backup_pg_tool(tool, path, sizeof path);
    out[0] = '\0';
    if (backup_path(file, sizeof file, "%s/.version", dir) != 0)
        return;
    const char *argv[] = {path, "--version", NULL};
    if (backup_exec(argv, file, false, err, sizeof err) == 0) {
        FILE *f = fopen(file, "r");
        if (f != NULL) {
            if (fgets(out, (int)len, f) == NULL)
                out[0] = '\0';
            out[strcspn(out, "\n")] = '\0';
            fclose(f);
        }
    }
    unlink(file);
}

/* Whether a variable's value is a secret the configuration copy leaves out. */
static bool secret_name(const char *name)
{
    static const char *const marks[] = {"SECRET", "PASSWORD", "TOKEN", "_KEY", "SID"};
    for (size_t i = 0; i < BP_COUNTOF(marks); i++)
        if (strstr(name, marks[i]) != NULL)
            return true;
    return false;
}

/* config.json: the suite's settings as this daemon sees them (every
 * variable the suite reads shares these prefixes), secrets named but not
 * copied, and URLs without their passwords. */
static int write_config(const char *path)
{
    static const char *const prefixes[] = {
        "BARBERPRO_",      "BACKUP_",       "AUTH_",          "BOOKING_",
        "PAYMENT_",        "NOTIFICATION_", "MERCADOPAGO_",   "WHATSAPP_",
        "TWILIO_",         "SENDGRID_",     "RATE_LIMIT_",    "DATABASE_",
        "REDIS_",          "JWT_",          "BCRYPT_",        "RPC_",
        "TIMEZONE",        "UPLOAD_DIR",    "MAX_FILE_SIZE",  "CORS_ORIGIN",
        "PUBLIC_BASE_URL", "TERMS_VERSION", "EXCHANGE_RATE_", "FROM_EMAIL",
        "LOG_LEVEL",       "PORT"};
    extern char **environ;
    json_t *vars = json_object();
    for (char **e = environ; *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL || (size_t)(eq - *e) >= 128)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
        bool ours = false;
        for (size_t i = 0; i < BP_COUNTOF(prefixes) && !ours; i++)
            ours = strncmp(name, prefixes[i], strlen(prefixes[i])) == 0;
        if (!ours)
            continue;
        const char *v = eq + 1;
        const char *at = strchr(v, '@'), *scheme = strstr(v, "://");
        if (secret_name(name))
            json_object_set_new(vars, name, json_string("(set, not copied)"));
        else if (scheme != NULL && at != NULL && at > scheme)
            json_object_set_new(vars, name, json_pack("s+", "(credentials removed)", at));
        else
            json_object_set_new(vars, name, json_string(v));
    }
    json_t *o = json_pack("{s:o}", "environment", vars);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    int rv = s != NULL ? backup_write_file(path, s, strlen(s)) : BP_ENOMEM;
    free(s);
    return rv;
}

/* Uploads every part, the manifest last: a prefix whose manifest is there
 * holds a whole backup. */
static int upload(const char *dir, const char *prefix, const backup_manifest *m, char *err,
                  size_t len)
{
    for (size_t i = 0; i <= m->n_parts; i++) {
        const char *name = i < m->n_parts ? m->parts[i].name : "manifest.json";
        char path[PATH_MAX], key[512], sha[65];
        uint64_t size;
        if (backup_path(path, sizeof path, "%s/%s", dir, name) != 0 ||
            backup_path(key, sizeof key, "%s/%s/%s", prefix, m->id, name) != 0)
            return BP_ETOOBIG;
        if (i < m->n_parts)
            snprintf(sha, sizeof sha, "%s", m->parts[i].sha256);
        else if (bp_file_sha256(path, sha, &size) != 0)
            return BP_EIO;
        int rv = bp_s3_put_file(&backup_config.s3, key, path, sha, err, len);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* Whether the backup started at t is the first good one of its month, by
 * the catalogue. */
static bool first_of_month(bp_db *db, const char *id, int64_t t)
{
    PGresult *res = bp_db_select(db,
                                 "SELECT id, extract(epoch FROM started_at)::int8 FROM"
                                 " backup.backups WHERE status = 'completed'"
                                 " AND archive_prefix IS NOT NULL"
                                 " AND started_at > now() - interval '40 days' AND id <> $1",
                                 1, (const char *[]){id}, NULL);
    if (res == NULL)
        return false;
    int n = PQntuples(res);
    bp_retained *b = calloc((size_t)n + 1, sizeof *b);
    bool first = false;
    if (b != NULL) {
        for (int i = 0; i < n; i++)
            b[i] = (bp_retained){PQgetvalue(res, i, 0), strtoll(PQgetvalue(res, i, 1), NULL, 10),
                                 true, false};
        first = bp_retention_first_of_month(b, (size_t)n, backup_config.tz, t);
    }
    free(b);
    PQclear(res);
    return first;
}

/* Makes backup id (its row is running). On 0 the row is completed; else
 * err says why. */
static int make_backup(bp_db *db, const char *id, const char *kind, char *err, size_t len)
{
    const char *url = bp_config_str("DATABASE_URL", NULL);
    char dir[PATH_MAX], partial[PATH_MAX], path[PATH_MAX], tool[PATH_MAX];
    backup_manifest m = {0};
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.kind, sizeof m.kind, "%s", kind);
    m.created_at = time(NULL);
    if (url == NULL) {
        snprintf(err, len, "DATABASE_URL is not set");
        return BP_EINVAL;
    }
    if (backup_path(dir, sizeof dir, "%s/full/%s", backup_config.local_dir, id) != 0 ||
        backup_path(partial, sizeof partial, "%s.partial", dir) != 0 ||
        backup_rmtree(partial) != 0 || backup_mkdirs(partial, 0700) != 0) {
        snprintf(err, len, "cannot create %s.partial: %s", dir, strerror(errno));
        return BP_EIO;
    }
    char server[64];
    if (sql_value(db, "SELECT current_database()", 0, NULL, m.database, sizeof m.database) != 0 ||
        sql_value(db, "SELECT pg_walfile_name(pg_current_wal_lsn())", 0, NULL, m.wal_start,
                  sizeof m.wal_start) != 0 ||
        sql_value(db, "SHOW server_version", 0, NULL, server, sizeof server) != 0) {
        snprintf(err, len, "the database did not answer");
        return BP_EIO;
    }

    /* The database: a logical dump (restores anywhere), and a base backup
     * from which the archived WAL reaches any later moment. */
    int rv = backup_path(path, sizeof path, "%s/database.dump", partial);
    backup_pg_tool("pg_dump", tool, sizeof tool);
    if (rv == 0) {
        const char *argv[] = {tool,
                              "--format=custom",
                              "--compress=6",
                              "--no-password",
                              "--file",
                              path,
                              "--dbname",
                              url,
                              NULL};
        rv = backup_exec(argv, NULL, false, err, len);
    }
    if (rv == 0 && (rv = backup_path(path, sizeof path, "%s/base.tar.gz", partial)) == 0) {
        backup_pg_tool("pg_basebackup", tool, sizeof tool);
        const char *argv[] = {tool,
                              "--pgdata=-",
                              "--format=tar",
                              "--wal-method=fetch",
                              "--gzip",
                              "--checkpoint=fast",
                              "--no-password",
                              "--dbname",
                              url,
                              NULL};
        rv = backup_exec(argv, path, false, err, len);
    }
    /* Uploads: an empty archive when the folder does not exist yet. */
    if (rv == 0 && (rv = backup_path(path, sizeof path, "%s/uploads.tar.gz", partial)) == 0) {
        struct stat st;
        bool have = stat(backup_config.upload_dir, &st) == 0 && S_ISDIR(st.st_mode);
        const char *with[] = {
            "tar", "--create", "--gzip", "--file", path, "--directory", backup_config.upload_dir,
            ".",   NULL};
        const char *empty[] = {"tar", "--create",     "--gzip",    "--file",
                               path,  "--files-from", "/dev/null", NULL};
        rv = backup_exec(have ? with : empty, NULL, false, err, len);
    }
    if (rv == 0 && (rv = backup_path(path, sizeof path, "%s/config.json", partial)) == 0 &&
        (rv = write_config(path)) != 0)
        snprintf(err, len, "cannot write config.json");

    char pg_dump[128];
    tool_version("pg_dump", partial, pg_dump, sizeof pg_dump);
    json_t *v = json_pack("{s:s, s:s, s:s}", "postgresql", server, "pg_dump", pg_dump, "schedule",
                          backup_config.schedule_text);
    char *vs = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(v);
    if (vs != NULL && strlen(vs) < sizeof m.versions)
        memcpy(m.versions, vs, strlen(vs) + 1);
    free(vs);

    if (rv == 0)
        rv = backup_manifest_measure(&m, partial, err, len);
    m.finished_at = time(NULL);
    char *mj = rv == 0 ? backup_manifest_json(&m) : NULL;
    if (rv == 0 &&
        (mj == NULL || backup_path(path, sizeof path, "%s/manifest.json", partial) != 0 ||
         backup_write_file(path, mj, strlen(mj)) != 0 || rename(partial, dir) != 0)) {
        snprintf(err, len, "cannot write the manifest in %s", dir);
        rv = BP_EIO;
    }
    if (rv != 0) {
        free(mj);
        backup_rmtree(partial);
        return rv;
    }

    uint64_t total = 0;
    for (size_t i = 0; i < m.n_parts; i++)
        total += m.parts[i].size;
    /* The manifest names every part's SHA-256: its own is the backup's. */
    char msha[65], size[24];
    uint64_t msize;
    if (backup_path(path, sizeof path, "%s/manifest.json", dir) != 0 ||
        bp_file_sha256(path, msha, &msize) != 0) {
        snprintf(err, len, "cannot read back %s", path);
        free(mj);
        return BP_EIO;
    }
    snprintf(size, sizeof size, "%" PRIu64, total + msize);
    char s3_prefix[300] = "", archive[300] = "";
    if (backup_config.s3_on) {
        rv = upload(dir, "backups", &m, err, len);
        if (rv == 0 && first_of_month(db, id, m.created_at)) {
            rv = upload(dir, "archive", &m, err, len);
            snprintf(archive, sizeof archive, "s3://%s/archive/%s/", backup_config.s3.bucket, id);
        }
        snprintf(s3_prefix, sizeof s3_prefix, "s3://%s/backups/%s/", backup_config.s3.bucket, id);
    }
    if (rv == 0) {
        const char *p[] = {
            id, size, msha, dir, s3_prefix[0] ? s3_prefix : NULL, archive[0] ? archive : NULL, mj};
        rv = sql_exec(db,
                      "UPDATE backup.backups SET status = 'completed', finished_at = now(),"
                      " size_bytes = $2::int8, sha256 = $3, local_path = $4, s3_prefix = $5,"
                      " archive_prefix = $6, manifest = $7::jsonb, error = NULL WHERE id = $1",
                      7, p);
        if (rv != 0)
            snprintf(err, len, "the catalogue could not be updated");
    } else {
        /* The local copy is whole and stays (a local restore can use it),
         * but the backup did not reach its offsite copy: it failed. */
        sql_exec(db,
                 "UPDATE backup.backups SET local_path = $2, manifest = $3::jsonb WHERE id = $1", 3,
                 (const char *[]){id, dir, mj});
    }
    free(mj);
    return rv;
}

/* Runs the backup whose row was just claimed, and records how it ended. */
static int run_claimed(bp_db *db, const char *id, const char *kind)
{
    char err[3 * PATH_MAX] = "";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bp_log_info("backup %s (%s) started", id, kind);
    int rv = make_backup(db, id, kind, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    bp_gauge_set(bp_metrics_gauge("barberpro_backup_last_duration_seconds",
                                  "How long the last backup of this instance took", NULL),
                 secs);
    if (rv == 0) {
        bp_log_info("backup %s completed in %.1f s", id, secs);
        return 0;
    }
    bp_log_error("backup %s failed after %.1f s: %s", id, secs, err);
    sql_exec(db,
             "UPDATE backup.backups SET status = 'failed', finished_at = now(), error = $2"
             " WHERE id = $1",
             2, (const char *[]){id, err});
    return rv;
}

/* Queues the scheduled backup when a cron slot has passed since the last
 * one dealt with; several missed slots (the daemon was down) make one. */
static void schedule(bp_db *db)
{
    char last[32];
    int64_t now = time(NULL), slot, next;
    if (sql_value(db, "SELECT extract(epoch FROM last_slot)::int8 FROM backup.schedule", 0, NULL,
                  last, sizeof last) != 0) {
        /* First start: the schedule begins now, not in the past. */
        sql_exec(db,
                 "INSERT INTO backup.schedule (last_slot) VALUES (now()) ON CONFLICT DO NOTHING", 0,
                 NULL);
        return;
    }
    slot = strtoll(last, NULL, 10);
    int64_t due = 0;
    while (bp_cron_next(&backup_config.schedule, backup_config.tz, slot, &next) == 0 &&
           next <= now) {
        due = slot = next;
    }
    if (due == 0)
        return;
    char due_s[24];
    snprintf(due_s, sizeof due_s, "%" PRId64, due);
    sql_exec(db, "UPDATE backup.schedule SET last_slot = to_timestamp($1::int8)", 1,
             (const char *[]){due_s});
    PGresult *res =
        bp_db_query(db,
                    "INSERT INTO backup.backups (id, kind, scheduled_for)"
                    " VALUES (to_char(now() AT TIME ZONE $2, 'YYYYMMDD_HH24MISS'), 'scheduled',"
                    " to_timestamp($1::int8)) ON CONFLICT DO NOTHING",
                    2, (const char *[]){due_s, backup_config.timezone});
    if (res != NULL && PQresultStatus(res) != PGRES_COMMAND_OK)
        bp_log_warn("the scheduled backup was not queued: %s", PQresultErrorMessage(res));
    PQclear(res);
}

int backup_job(bp_db *db, bp_kv *kv)
{
    (void)kv;
    /* The job runs in one instance at a time (its lock): a backup still
     * marked running belongs to an instance that stopped during it. */
    sql_exec(db,
             "UPDATE backup.backups SET status = 'failed', finished_at = now(),"
             " error = 'interrupted: the instance running it stopped' WHERE status = 'running'",
             0, NULL);
    schedule(db);
    PGresult *res = bp_db_select(db,
                                 "UPDATE backup.backups SET status = 'running', started_at = now()"
                                 " WHERE id = (SELECT id FROM backup.backups WHERE status ="
                                 " 'pending' ORDER BY requested_at LIMIT 1) RETURNING id, kind",
                                 0, NULL, NULL);
    int rv = 0;
    bool ran = false;
    if (res != NULL && PQntuples(res) == 1) {
        char id[32], kind[16];
        snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
        snprintf(kind, sizeof kind, "%s", PQgetvalue(res, 0, 1));
        rv = run_claimed(db, id, kind);
        ran = true;
    }
    PQclear(res);
    /* Prune after each backup, and otherwise about once an hour. */
    static int64_t last_prune;
    int64_t now = time(NULL);
    if (ran || now - last_prune >= 3600) {
        last_prune = now;
        int prv = backup_prune(db);
        if (rv == 0)
            rv = prv;
    }
    return rv;
}

int backup_command_run(bp_db *db)
{
    /* The job's lock: the job would take a running backup it cannot
     * see locked for one whose instance died. */
    char id[32];
    if (sql_exec(db, "SELECT pg_advisory_lock(hashtext('backup:" BACKUP_JOB "'))", 0, NULL) != 0) {
        fprintf(stderr, "barberpro-backup: the daemon is running a backup; try again later\n");
        return 1;
    }
    if (sql_value(db,
                  "INSERT INTO backup.backups (id, kind, status, started_at)"
                  " VALUES (to_char(now() AT TIME ZONE $1, 'YYYYMMDD_HH24MISS'), 'manual',"
                  " 'running', now()) RETURNING id",
                  1, (const char *[]){backup_config.timezone}, id, sizeof id) != 0) {
        fprintf(stderr, "barberpro-backup: a backup is already waiting or running\n");
        return 1;
    }
    int rv = run_claimed(db, id, "manual");
    if (rv == 0)
        backup_prune(db);
    printf("%s %s\n", id, rv == 0 ? "completed" : "failed");
    return rv == 0 ? 0 : 1;
}
