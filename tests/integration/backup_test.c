/* Backups and the restore drill, against the real suite, the real
 * PostgreSQL (archiving its WAL through barberpro-backup wal-push) and
 * s3rver, a real S3-compatible server that checks every SigV4 signature
 * (scripts/test.sh starts it). The drill: 100,000
 * bookings, a backup through the API, more writes, the loss of the
 * database (DROP DATABASE), a point-in-time restore from S3 to the moment
 * of the loss, and the suite answering from the restored data; it prints
 * the RPO and RTO it measured. scripts/test.sh runs it with --jobs=1. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define DRILL_BOOKINGS 100000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A connection to another database of the suite's server. */
static PGconn *db_named(const char *name)
{
    const char *keys[] = {"dbname", "dbname", NULL};
    const char *vals[] = {getenv("DATABASE_URL"), name, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "backup_test: %s: %s", name, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static double db_number(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    double v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)
                   ? strtod(PQgetvalue(r, 0, 0), NULL)
                   : -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "backup_test: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

/* The URL of database name on the suite's server (DATABASE_URL's host). */
static void url_of(const char *name, char *out, size_t len)
{
    const char *url = getenv("DATABASE_URL");
    const char *q = strchr(url, '?');
    snprintf(out, len, "postgresql:///%s%s", name, q != NULL ? q : "");
}

static void drop_database(const char *name)
{
    PGconn *c = db_named("postgres");
    cr_assert_not_null(c);
    char sql[200];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* Runs a shell command line; its output (stdout and stderr) in out. Returns
 * its exit status. */
static int sh_run(const char *cmd, char *out, size_t len)
{
    char line[4096];
    snprintf(line, sizeof line, "%s 2>&1", cmd);
    FILE *p = popen(line, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    fprintf(stderr, "$ %s\n%s", cmd, out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Runs barberpro-backup with args (a shell-quoted string). */
static int backup_cli(const char *args, char *out, size_t len)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/barberpro-backup' %s", getenv("BP_TEST_BIN_DIR"), args);
    return sh_run(cmd, out, len);
}

/* Runs scripts/<script> (the manual's interface) with args, on the suite's
 * sanitized binaries. */
static int script_run(const char *script, const char *args, char *out, size_t len)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "BARBERPRO_BIN_DIR='%s' scripts/%s %s </dev/null",
             getenv("BP_TEST_BIN_DIR"), script, args);
    return sh_run(cmd, out, len);
}

/* Whether the bucket holds key: s3rver keeps each object as a file named
 * <key>._S3rver_object under <its folder>/<bucket>/ (s3rver 3.7, pinned). */
static bool s3_holds(const char *key)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/s3/%s/%s._S3rver_object", getenv("BP_TEST_TMP"),
             getenv("BACKUP_S3_BUCKET"), key);
    return access(path, R_OK) == 0;
}

/* Pauses (SIGSTOP) or resumes (SIGCONT) the S3 server: paused, it accepts
 * connections and never answers, as an S3 that went away mid-upload. */
static void s3_signal(int sig)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/s3rver.pid", getenv("BP_TEST_PID_DIR"));
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    cr_assert(got == 1 && pid > 1, "no pid in %s", path);
    cr_assert_eq(kill((pid_t)pid, sig), 0);
}

static void s3_resume(void)
{
    s3_signal(SIGCONT);
}

/* Starts a backup through the API; its id in id. */
static void backup_start(const bpt_user *admin, char id[32])
{
    bpt_response *r = bpt_http_json("POST", "/api/admin/backups", admin->token, NULL);
    cr_assert_not_null(r);
    long status = r->status;
    const char *got = bpt_json_str(r->json, "backup.id");
    const char *st = bpt_json_str(r->json, "backup.status");
    bool pending = st != NULL && strcmp(st, "pending") == 0;
    snprintf(id, 32, "%s", got != NULL ? got : "");
    bpt_response_free(r);
    cr_assert_eq(status, 202);
    cr_assert(id[0] != '\0' && pending, "no pending backup in the answer");
}

/* Waits for backup id to end; its final record (decref) in *out. */
static void backup_wait(const bpt_user *admin, const char *id, const char *want_status,
                        json_t **out)
{
    for (int i = 0; i < 1200; i++) {
        bpt_response *r = bpt_http_json("GET", "/api/admin/backups?limit=5", admin->token, NULL);
        cr_assert(r != NULL && r->status == 200);
        json_t *items = json_object_get(r->json, "items"), *it, *found = NULL;
        size_t k;
        json_array_foreach(items, k, it)
        {
            const char *st = json_string_value(json_object_get(it, "status"));
            if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0 &&
                strcmp(st, "pending") != 0 && strcmp(st, "running") != 0)
                found = json_incref(it);
        }
        bpt_response_free(r);
        if (found != NULL) {
            char *text = json_dumps(found, 0);
            bool ok = strcmp(json_string_value(json_object_get(found, "status")), want_status) == 0;
            fprintf(stderr, "backup_test: %s\n", text);
            free(text);
            if (!ok)
                json_decref(found);
            cr_assert(ok, "backup %s did not end %s", id, want_status);
            *out = found;
            return;
        }
        usleep(250 * 1000);
    }
    cr_assert_fail("backup %s did not end within 5 minutes", id);
}

/* POST /api/admin/backups and waits for the backup to end; its final
 * record (decref) in *out. */
static void backup_now(const bpt_user *admin, const char *want_status, json_t **out)
{
    char id[32];
    backup_start(admin, id);
    backup_wait(admin, id, want_status, out);
}

Test(backup, only_admins_see_or_start_backups)
{
    bpt_user u, admin;
    cr_assert_eq(bpt_user_new(&u), 0);
    cr_assert_eq(bpt_admin_login(&admin), 0);
    bpt_response *r = bpt_http_json("POST", "/api/admin/backups", u.token, NULL);
    cr_assert(bpt_error_is(r, 403, "forbidden"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/admin/backups", u.token, NULL);
    cr_assert(bpt_error_is(r, 403, "forbidden"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/admin/backups", NULL, NULL);
    cr_assert_eq(r->status, 401, "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/admin/backups?limit=0", admin.token, NULL);
    cr_assert(bpt_error_is(r, 400, "invalid_request"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
}

/* The drill. */
Test(backup, drill_restores_a_lost_database_to_the_moment_of_the_loss, .timeout = 900)
{
    bpt_user admin;
    bpt_shop f;
    cr_assert_eq(bpt_admin_login(&admin), 0);
    cr_assert_eq(bpt_shop_new(&f), 0);

    /* 100,000 past bookings of one shop, as years of business leave. */
    char count[16];
    snprintf(count, sizeof count, "%d", DRILL_BOOKINGS);
    const char *p[] = {f.shop_id, f.provider_id, f.corte_id, f.client.id, count};
    long made = bpt_db_long(
        "WITH x AS (INSERT INTO booking.bookings (id, shop_id, provider_id, service_id, client_id,"
        " starts_at, ends_at, blocked, status, price_cents, completed_at, created_at)"
        " SELECT gen_random_uuid(), $1::uuid, $2::uuid, $3::uuid, $4::uuid, s, s + interval '30 "
        "min',"
        " tstzrange(s, s + interval '40 min'), 'completed', 1500000, s + interval '30 min',"
        " s - interval '1 day' FROM (SELECT now() - interval '3 years' + g * interval '10 min'"
        " AS s FROM generate_series(1, $5::int) g) t RETURNING 1) SELECT count(*) FROM x",
        5, p);
    cr_assert_eq(made, DRILL_BOOKINGS);

    json_t *b = NULL;
    backup_now(&admin, "completed", &b);
    const char *id = json_string_value(json_object_get(b, "id"));
    cr_assert_not_null(strstr(json_string_value(json_object_get(b, "location")), "s3://"));
    cr_assert_eq(strlen(json_string_value(json_object_get(b, "sha256"))), 64);
    cr_assert_gt(json_integer_value(json_object_get(b, "size_bytes")), 100000);
    char key[256];
    snprintf(key, sizeof key, "backups/%s/manifest.json", id);
    cr_assert(s3_holds(key), "%s is not in the bucket", key);

    /* Business goes on after the backup: one booking every 100 ms. */
    PGconn *c = db_named("barberpro");
    cr_assert_not_null(c);
    int written = 0;
    double until = now_s() + 6;
    while (now_s() < until) {
        const char *mp[] = {f.shop_id, f.provider_id, f.corte_id, f.client.id};
        PGresult *r = PQexecParams(
            c,
            "INSERT INTO booking.bookings (id, shop_id, provider_id, service_id, client_id,"
            " starts_at, ends_at, blocked, status, price_cents, notes, created_at)"
            " SELECT gen_random_uuid(), $1::uuid, $2::uuid, $3::uuid, $4::uuid, s,"
            " s + interval '30 min', tstzrange(s, s + interval '40 min'), 'completed', 1500000,"
            " 'drill after the backup', clock_timestamp()"
            " FROM (SELECT now() - interval '4 years' + random() * interval '300 days' AS s) t",
            4, NULL, mp, NULL, NULL, 0);
        cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
        PQclear(r);
        written++;
        usleep(100 * 1000);
    }
    PQfinish(c);

    /* The loss, at a whole second after the last write. */
    double loss = (double)(long)now_s() + 1;
    while (now_s() < loss + 0.2)
        usleep(50 * 1000);
    drop_database("barberpro");
    /* The archive takes the WAL holding the loss within archive_timeout
     * (2 s here, a few minutes in production). */
    c = db_named("postgres");
    cr_assert_not_null(c);
    PGresult *w = PQexec(c, "SELECT pg_walfile_name(pg_current_wal_insert_lsn())");
    cr_assert_eq(PQresultStatus(w), PGRES_TUPLES_OK);
    char last_wal[64];
    snprintf(last_wal, sizeof last_wal, "%s", PQgetvalue(w, 0, 0));
    PQclear(w);
    bool archived = false;
    for (int i = 0; i < 300 && !archived; i++) {
        w = PQexec(c, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
        archived = PQresultStatus(w) == PGRES_TUPLES_OK && strlen(PQgetvalue(w, 0, 0)) == 24 &&
                   strcmp(PQgetvalue(w, 0, 0), last_wal) >= 0;
        PQclear(w);
        if (!archived)
            usleep(100 * 1000);
    }
    PQfinish(c);
    cr_assert(archived, "%s was not archived within 30 s", last_wal);

    char args[512], out[16384];
    time_t lt = (time_t)loss;
    struct tm tm;
    gmtime_r(&lt, &tm);
    char at[32];
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(args, sizeof args, "restore --from s3 --at %s --yes", at);
    double t0 = now_s();
    int st = backup_cli(args, out, sizeof out);
    double rto = now_s() - t0;
    cr_assert_eq(st, 0, "restore failed: %s", out);

    c = db_named("barberpro");
    cr_assert_not_null(c, "the database is not back");
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM booking.bookings WHERE shop_id = '%s' AND notes IS NULL",
             f.shop_id);
    cr_assert_eq(db_number(c, sql), DRILL_BOOKINGS, "the bookings from before the backup");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM booking.bookings WHERE shop_id = '%s'"
             " AND notes = 'drill after the backup'",
             f.shop_id);
    double after = db_number(c, sql);
    snprintf(sql, sizeof sql,
             "SELECT extract(epoch FROM max(created_at)) FROM booking.bookings WHERE shop_id = '%s'"
             " AND notes = 'drill after the backup'",
             f.shop_id);
    double newest = db_number(c, sql);
    double rpo = loss - newest;
    /* Everything written before the loss is back: nothing older than 15
     * minutes is missing (here: nothing at all, the archive had it all). */
    cr_assert_eq(after, written, "%g of %d bookings written after the backup are back", after,
                 written);
    cr_assert_lt(rpo, 15 * 60);
    cr_assert_lt(rto, 30 * 60);
    fprintf(stderr,
            "drill: %d bookings; backup %s, %d bookings written after it; database lost at %s;"
            " restored (S3, base backup + WAL) in %.1f s: RTO %.1f s (target 1800 s),"
            " RPO %.1f s (target 900 s)\n",
            DRILL_BOOKINGS, id, written, at, rto, rto, rpo);

    /* The suite answers from the restored database. */
    cr_assert_eq(bpt_wait_healthy(60000), 0);
    char path[128];
    snprintf(path, sizeof path, "/api/shops/%s", f.shop_id);
    bpt_response *r = NULL;
    for (int i = 0; i < 100; i++) {
        bpt_response_free(r);
        r = bpt_http_json("GET", path, NULL, NULL);
        if (r != NULL && r->status == 200)
            break;
        usleep(100 * 1000);
    }
    cr_assert_eq(r->status, 200, "%s", r->body);
    bpt_response_free(r);

    /* Leave the suite's database small again for the next tests. */
    snprintf(sql, sizeof sql, "DELETE FROM booking.bookings WHERE shop_id = '%s'", f.shop_id);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    json_decref(b);
}

Test(backup, a_backup_restores_as_taken_and_a_damaged_one_is_refused, .timeout = 600)
{
    bpt_user admin;
    cr_assert_eq(bpt_admin_login(&admin), 0);
    json_t *b = NULL;
    backup_now(&admin, "completed", &b);
    const char *id = json_string_value(json_object_get(b, "id"));
    long users = bpt_db_long("SELECT count(*) FROM auth.users", 0, NULL);

    char url[1024], args[1400], out[16384];
    url_of("barberpro_restore_copy", url, sizeof url);
    snprintf(args, sizeof args, "restore --from local --at %s --database-url '%s'", id, url);
    cr_assert_eq(backup_cli(args, out, sizeof out), 0, "%s", out);
    PGconn *c = db_named("barberpro_restore_copy");
    cr_assert_not_null(c);
    cr_assert_eq(db_number(c, "SELECT count(*) FROM auth.users"), users);
    PQfinish(c);
    drop_database("barberpro_restore_copy");

    /* Without --database-url the configured database is only overwritten
     * with --yes. */
    snprintf(args, sizeof args, "restore --from local --at %s", id);
    cr_assert_eq(backup_cli(args, out, sizeof out), 2);
    cr_assert_not_null(strstr(out, "--yes"), "%s", out);

    /* One flipped byte in the dump: the restore refuses, naming it. */
    char dump[1024];
    snprintf(dump, sizeof dump, "%s/full/%s/database.dump", getenv("BACKUP_LOCAL_DIR"), id);
    FILE *fp = fopen(dump, "r+b");
    cr_assert_not_null(fp, "%s", dump);
    fseek(fp, 100, SEEK_SET);
    int ch = fgetc(fp);
    fseek(fp, 100, SEEK_SET);
    fputc(ch ^ 0x5a, fp);
    fclose(fp);
    snprintf(args, sizeof args, "restore --from local --at %s --database-url '%s'", id, url);
    cr_assert_eq(backup_cli(args, out, sizeof out), 3, "%s", out);
    cr_assert_not_null(strstr(out, "is damaged: database.dump"), "%s", out);
    c = db_named("barberpro_restore_copy");
    cr_assert_null(c, "a refused restore created the database");
    json_decref(b);
}

Test(backup, an_s3_outage_fails_the_backup_with_its_reason_and_the_next_succeeds, .timeout = 600,
     .fini = s3_resume)
{
    bpt_user admin;
    cr_assert_eq(bpt_admin_login(&admin), 0);
    char id[32];
    backup_start(&admin, id);
    s3_signal(SIGSTOP);
    json_t *b = NULL;
    backup_wait(&admin, id, "failed", &b);
    s3_resume();
    const char *err = json_string_value(json_object_get(b, "error"));
    bool names_s3 = err != NULL && strstr(err, "S3 ") != NULL;
    json_decref(b);
    cr_assert(names_s3, "the reason names S3");
    backup_now(&admin, "completed", &b);
    json_decref(b);

    /* The catalogue's figures for the alerts. */
    bpt_response *r = bpt_http("GET", "/api/business-metrics", NULL, NULL, 0);
    cr_assert_eq(r->status, 200);
    double failures = bpt_metric_sum(r->body, "barberpro_business_backup_failures_total", NULL);
    double success =
        bpt_metric_sum(r->body, "barberpro_business_backup_last_success_timestamp_seconds", NULL);
    bpt_response_free(r);
    cr_assert_geq(failures, 1);
    cr_assert_gt(success, (double)time(NULL) - 600);
}

Test(backup, the_manuals_scripts_back_up_and_restore_database_and_uploads, .timeout = 600)
{
    char out[16384], args[2048], url[512];
    cr_assert_eq(script_run("backup.sh", "", out, sizeof out), 0, "%s", out);
    long users = bpt_db_long("SELECT count(*) FROM auth.users", 0, NULL);

    /* -s -y latest: database and uploads from S3, here into a copy. */
    char uploads[512];
    snprintf(uploads, sizeof uploads, "%s/restored-uploads", getenv("BP_TEST_TMP"));
    url_of("barberpro_script_copy", url, sizeof url);
    snprintf(args, sizeof args, "-s -y latest -- --database-url '%s' --uploads '%s'", url, uploads);
    cr_assert_eq(script_run("restore.sh", args, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "uploads restored into"), "%s", out);
    cr_assert_eq(access(uploads, F_OK), 0);
    PGconn *c = db_named("barberpro_script_copy");
    cr_assert_not_null(c);
    cr_assert_geq(db_number(c, "SELECT count(*) FROM auth.users"), (double)users);
    PQfinish(c);
    drop_database("barberpro_script_copy");

    /* A usage mistake is refused before anything is touched. */
    cr_assert_neq(script_run("restore.sh", "-x latest", out, sizeof out), 0);
    cr_assert_not_null(strstr(out, "usage"), "%s", out);
}

/* Puts a small object into the bucket with curl's own SigV4 (an old
 * backup of another era, for the retention test). */
static void s3_put(const char *key, const char *body)
{
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd,
             "printf '%%s' '%s' | curl -sS -f -X PUT --data-binary @- --aws-sigv4 'aws:amz:%s:s3'"
             " --user '%s:%s' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' '%s/%s/%s'",
             body, getenv("BACKUP_S3_REGION"), getenv("BACKUP_S3_ACCESS_KEY"),
             getenv("BACKUP_S3_SECRET_KEY"), getenv("BACKUP_S3_ENDPOINT"),
             getenv("BACKUP_S3_BUCKET"), key);
    cr_assert_eq(sh_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(s3_holds(key), "%s was not stored", key);
}

static double retention_removed(const char *what)
{
    char label[64];
    snprintf(label, sizeof label, "what=\"%s\"", what);
    const char *labels[] = {label, NULL};
    bpt_response *m = bpt_http_json("GET", "/api/metrics", NULL, NULL);
    cr_assert_eq(m->status, 200);
    double v = bpt_metric_sum(m->body, "barberpro_retention_removed_total", labels);
    bpt_response_free(m);
    return v < 0 ? 0 : v;
}

/* Retention runs after each backup: what is past its days goes (a local
 * backup of 2025, a folder a dead backup left, WAL older than every kept
 * backup, an S3 backup past 30 days, an archived one past a year), what is
 * not stays, and the removal is counted. */
Test(backup, retention_removes_what_is_due_and_keeps_the_rest, .timeout = 300)
{
    bpt_user admin;
    cr_assert_eq(bpt_admin_login(&admin), 0);
    json_t *first = NULL;
    backup_now(&admin, "completed", &first);
    const char *kept = json_string_value(json_object_get(first, "id"));

    const char *dir = getenv("BACKUP_LOCAL_DIR");
    char old[600], partial[600], wal[600], cmd[3200], out[4096];
    snprintf(old, sizeof old, "%s/full/20250101_020000", dir);
    snprintf(partial, sizeof partial, "%s/full/20250102_020000.partial", dir);
    snprintf(wal, sizeof wal, "%s/wal/000000000000000000000001.gz", dir);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' '%s' && echo x > '%s/database.dump' && echo x > '%s' &&"
             " touch -d '2 days ago' '%s'",
             old, partial, old, wal, partial);
    cr_assert_eq(sh_run(cmd, out, sizeof out), 0, "%s", out);
    s3_put("backups/20250101_020000/manifest.json", "{}");
    s3_put("archive/20250101_020000/manifest.json", "{}");
    s3_put("archive/20261101_020000/manifest.json", "{}");
    double local0 = retention_removed("backups_local"), s30 = retention_removed("backups_s3");
    double arch0 = retention_removed("backups_archive"), wal0 = retention_removed("wal_local");

    json_t *second = NULL;
    backup_now(&admin, "completed", &second);
    /* The round goes on after the backup is marked completed. */
    bool pruned = false;
    for (int i = 0; i < 100 && !pruned; i++) {
        pruned = access(old, F_OK) != 0 && access(partial, F_OK) != 0 && access(wal, F_OK) != 0 &&
                 !s3_holds("backups/20250101_020000/manifest.json") &&
                 !s3_holds("archive/20250101_020000/manifest.json");
        if (!pruned)
            usleep(100 * 1000);
    }
    cr_assert(pruned, "what was due is still there");
    char key[256];
    snprintf(key, sizeof key, "backups/%s/manifest.json", kept);
    cr_assert(s3_holds(key), "the backup of a minute ago was pruned");
    cr_assert(s3_holds("archive/20261101_020000/manifest.json"), "a month-old archive was pruned");
    snprintf(old, sizeof old, "%s/full/%s/manifest.json", dir, kept);
    cr_assert_eq(access(old, R_OK), 0, "the local backup of a minute ago was pruned");

    bool counted = false;
    for (int i = 0; i < 50 && !counted; i++) {
        counted = retention_removed("backups_local") >= local0 + 1 &&
                  retention_removed("backups_s3") >= s30 + 1 &&
                  retention_removed("backups_archive") >= arch0 + 1 &&
                  retention_removed("wal_local") >= wal0 + 1;
        if (!counted)
            usleep(100 * 1000);
    }
    cr_assert(counted, "the removals are not counted");
    json_decref(first);
    json_decref(second);
}
