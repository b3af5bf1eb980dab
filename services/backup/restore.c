/* `barberpro-backup restore`: a full backup back into a database, checked
 * part by part against its manifest first, and brought forward with the
 * archived WAL when the target is a moment rather than the backup itself.
 *
 *   --at <id>     the backup as it was taken: its logical dump, restored.
 *   --at latest   the newest backup, then every archived WAL file: as close
 *                 to now as the archive reaches (archive_timeout bounds it).
 *   --at <time>   the newest backup finished by then, WAL replayed up to the
 *                 last transaction committed by that time.
 *
 * A point in time needs the physical base backup: it is unpacked into a
 * private PostgreSQL server (a folder under TMPDIR, a unix socket only,
 * archiving off, run as BACKUP_PG_OS_USER when we are root) that replays the
 * WAL and is promoted; its database is then dumped and restored into the
 * target like any dump, so that the target may be any database on any
 * server. The target is created when it does not exist. */
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "bp.h"
#include "config.h"
#include "log.h"

typedef struct {
    const char *from; /* "local" or "s3" */
    const char *at;   /* "latest", an id, or a time */
    const char *url;  /* the target database */
    const char *uploads;
    bool yes;
} restore_opts;

typedef struct {
    restore_opts o;
    char work[PATH_MAX];  /* private folder of this restore */
    char parts[PATH_MAX]; /* where the backup's parts are read from */
    backup_manifest m;
    int64_t target; /* Unix seconds of --at <time>; 0 otherwise */
    bool pitr;
    char err[3 * PATH_MAX];
} restore_run;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int fail(restore_run *r, int status)
{
    fprintf(stderr, "barberpro-backup restore: %s\n", r->err);
    return status;
}

/* --at as a time: RFC 3339, or "YYYY-MM-DD HH:MM[:SS]" in TIMEZONE. */
static int parse_time(const char *s, int64_t *out)
{
    int64_t ms;
    if (bp_time_parse(s, &ms) == 0) {
        *out = ms / 1000;
        return 0;
    }
    int y, mo, d, h, mi, sec = 0, n = 0;
    if ((sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) == 6 ||
         sscanf(s, "%4d-%2d-%2d %2d:%2d%n", &y, &mo, &d, &h, &mi, &n) == 5) &&
        s[n] == '\0' && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 60)
        return bp_tz_local_to_utc_end(
            backup_config.tz,
            (int64_t)bp_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec, out);
    return BP_EINVAL;
}

/* ---- choosing the backup ---------------------------------------------------- */

typedef struct {
    restore_run *r;
    char best[32];
    int64_t best_t;
    char keys[2][16]; /* prefixes seen for best: backups/ or archive/ */
} pick_state;

/* Whether the backup (id, its finish time) suits --at, and beats the best. */
static bool better(pick_state *p, const char *id, int64_t finished)
{
    const char *at = p->r->o.at;
    if (strcmp(at, "latest") != 0 && p->r->target == 0)
        return strcmp(at, id) == 0;
    if (p->r->target != 0 && finished > p->r->target)
        return false;
    return p->best[0] == '\0' || strcmp(id, p->best) > 0;
}

static int pick_local(restore_run *r)
{
    char full[PATH_MAX], path[PATH_MAX];
    backup_path(full, sizeof full, "%s/full", backup_config.local_dir);
    DIR *d = opendir(full);
    if (d == NULL) {
        snprintf(r->err, sizeof r->err, "no backups in %s", full);
        return BP_ENOTFOUND;
    }
    pick_state p = {.r = r};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        backup_manifest m;
        char err[256];
        if (e->d_name[0] == '.' || strchr(e->d_name, '.') != NULL ||
            backup_path(path, sizeof path, "%s/%s/manifest.json", full, e->d_name) != 0 ||
            backup_manifest_read(path, &m, err, sizeof err) != 0)
            continue;
        if (better(&p, m.id, m.finished_at)) {
            snprintf(p.best, sizeof p.best, "%s", m.id);
            r->m = m;
        }
    }
    closedir(d);
    if (p.best[0] == '\0') {
        snprintf(r->err, sizeof r->err, "no local backup matches --at %s in %s", r->o.at, full);
        return BP_ENOTFOUND;
    }
    backup_path(r->parts, sizeof r->parts, "%s/%s", full, p.best);
    return 0;
}

/* Candidates in the bucket: every <prefix><id>/manifest.json. The finish
 * time is read from the manifest only for the one chosen; the id (its
 * start) orders them, and for --at <time> a candidate must have started
 * before it. */
static int scan_s3(const char *key, const bp_s3_object_info *info, void *arg)
{
    (void)info;
    pick_state *p = arg;
    const char *slash = strchr(key, '/');
    const char *rest = slash != NULL ? slash + 1 : key, *end = strchr(rest, '/');
    if (end == NULL || strcmp(end, "/manifest.json") != 0 || end - rest >= 32)
        return 0;
    char id[32];
    snprintf(id, sizeof id, "%.*s", (int)(end - rest), rest);
    int64_t t = backup_id_time(id, backup_config.tz);
    if (t < 0 || !better(p, id, t))
        return 0;
    snprintf(p->best, sizeof p->best, "%s", id);
    snprintf(p->keys[0], sizeof p->keys[0], "%.*s", (int)(slash - key), key);
    return 0;
}

static int fetch_s3(restore_run *r)
{
    pick_state p = {.r = r};
    char err[512];
    int rv = bp_s3_list(&backup_config.s3, "backups/", scan_s3, &p, err, sizeof err);
    if (rv == 0)
        rv = bp_s3_list(&backup_config.s3, "archive/", scan_s3, &p, err, sizeof err);
    if (rv != 0) {
        snprintf(r->err, sizeof r->err, "cannot list the bucket: %s", err);
        return rv;
    }
    if (p.best[0] == '\0') {
        snprintf(r->err, sizeof r->err, "no backup in s3://%s matches --at %s",
                 backup_config.s3.bucket, r->o.at);
        return BP_ENOTFOUND;
    }
    backup_path(r->parts, sizeof r->parts, "%s/parts", r->work);
    backup_mkdirs(r->parts, 0700);
    char key[256], path[PATH_MAX];
    backup_path(key, sizeof key, "%s/%s/manifest.json", p.keys[0], p.best);
    backup_path(path, sizeof path, "%s/manifest.json", r->parts);
    if ((rv = bp_s3_get_file(&backup_config.s3, key, path, err, sizeof err)) != 0 ||
        (rv = backup_manifest_read(path, &r->m, err, sizeof err)) != 0) {
        snprintf(r->err, sizeof r->err, "%s", err);
        return rv;
    }
    printf("downloading backup %s from s3://%s/%s/%s/\n", p.best, backup_config.s3.bucket,
           p.keys[0], p.best);
    for (size_t i = 0; i < r->m.n_parts; i++) {
        backup_path(key, sizeof key, "%s/%s/%s", p.keys[0], p.best, r->m.parts[i].name);
        backup_path(path, sizeof path, "%s/%s", r->parts, r->m.parts[i].name);
        if ((rv = bp_s3_get_file(&backup_config.s3, key, path, err, sizeof err)) != 0) {
            snprintf(r->err, sizeof r->err, "backup %s: %s", p.best, err);
            return rv;
        }
    }
    return 0;
}

/* ---- the target database ------------------------------------------------------ */

/* Connects to the target's server through its maintenance database and
 * creates the target when it is missing. */
static int ensure_database(restore_run *r, char *dbname, size_t len)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(r->o.url, &perr);
    if (opts == NULL) {
        snprintf(r->err, sizeof r->err, "--database-url: %s", perr ? perr : "not a libpq URL");
        PQfreemem(perr);
        return BP_EINVAL;
    }
    const char *keys[40], *vals[40];
    size_t n = 0;
    dbname[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL && n < 38; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "dbname") == 0) {
            snprintf(dbname, len, "%s", o->val);
            continue;
        }
        keys[n] = o->keyword;
        vals[n++] = o->val;
    }
    if (dbname[0] == '\0') {
        const struct passwd *pw = getpwuid(geteuid());
        snprintf(dbname, len, "%s", pw != NULL ? pw->pw_name : "postgres");
    }
    keys[n] = "dbname";
    vals[n++] = "postgres";
    keys[n] = NULL;
    vals[n] = NULL;
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    PQconninfoFree(opts);
    int rv = 0;
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(r->err, sizeof r->err, "cannot reach the target's server: %s", PQerrorMessage(c));
        rv = BP_EUNAVAIL;
    } else {
        const char *p[] = {dbname};
        PGresult *res = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, p,
                                     NULL, NULL, 0);
        bool exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
        PQclear(res);
        if (!exists) {
            char *ident = PQescapeIdentifier(c, dbname, strlen(dbname));
            char sql[300];
            snprintf(sql, sizeof sql, "CREATE DATABASE %s", ident != NULL ? ident : "\"\"");
            PQfreemem(ident);
            res = PQexec(c, sql);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(r->err, sizeof r->err, "cannot create database %s: %s", dbname,
                         PQresultErrorMessage(res));
                rv = BP_EIO;
            } else {
                printf("created database %s\n", dbname);
            }
            PQclear(res);
        }
    }
    PQfinish(c);
    return rv;
}

static int pg_restore_into(restore_run *r, const char *dump)
{
    char tool[PATH_MAX];
    backup_pg_tool("pg_restore", tool, sizeof tool);
    const char *argv[] = {tool,       "--dbname",      r->o.url,      "--no-owner",
                          "--no-acl", "--clean",       "--if-exists", "--exit-on-error",
                          "--jobs=2", "--no-password", dump,          NULL};
    return backup_exec(argv, NULL, false, r->err, sizeof r->err);
}

/* ---- point in time -------------------------------------------------------------- */

/* The archived WAL from the backup's first file on, unpacked into dir. */
typedef struct {
    restore_run *r;
    const char *dir;
    int n, rv;
} wal_fetch;

static bool wal_wanted(const char *name, const char *start)
{
    size_t n = strlen(name);
    if (n < 4 || strcmp(name + n - 3, ".gz") != 0)
        return false;
    if (strstr(name, ".history") != NULL)
        return true;
    return n >= 27 && strspn(name, "0123456789ABCDEF") >= 24 && strncmp(name, start, 24) >= 0 &&
           strstr(name, ".partial") == NULL;
}

static int fetch_one(wal_fetch *w, const char *name, const char *src_gz, bool from_s3)
{
    char gz[PATH_MAX], out[PATH_MAX];
    backup_path(out, sizeof out, "%s/%.*s", w->dir, (int)(strlen(name) - 3), name);
    const char *local = src_gz;
    if (from_s3) {
        backup_path(gz, sizeof gz, "%s.gz", out);
        if (bp_s3_get_file(&backup_config.s3, src_gz, gz, w->r->err, sizeof w->r->err) != 0)
            return BP_EIO;
        local = gz;
    }
    int rv = backup_gunzip_file(local, out, w->r->err, sizeof w->r->err);
    if (from_s3)
        unlink(gz);
    if (rv == 0)
        w->n++;
    return rv;
}

static int fetch_s3_wal(const char *key, const bp_s3_object_info *info, void *arg)
{
    (void)info;
    wal_fetch *w = arg;
    const char *name = key + strlen("wal/");
    if (!wal_wanted(name, w->r->m.wal_start))
        return 0;
    return (w->rv = fetch_one(w, name, key, true)) != 0 ? 1 : 0;
}

static int stage_wal(restore_run *r, const char *dir, int *count)
{
    wal_fetch w = {r, dir, 0, 0};
    if (strcmp(r->o.from, "s3") == 0) {
        char err[512];
        int rv = bp_s3_list(&backup_config.s3, "wal/", fetch_s3_wal, &w, err, sizeof err);
        if (rv != 0 && w.rv == 0)
            snprintf(r->err, sizeof r->err, "cannot list the WAL archive: %s", err);
        *count = w.n;
        return rv != 0 ? BP_EIO : 0;
    }
    char src[PATH_MAX], gz[PATH_MAX];
    backup_path(src, sizeof src, "%s/wal", backup_config.local_dir);
    DIR *d = opendir(src);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL && w.rv == 0)
            if (wal_wanted(e->d_name, r->m.wal_start) &&
                backup_path(gz, sizeof gz, "%s/%s", src, e->d_name) == 0)
                w.rv = fetch_one(&w, e->d_name, gz, false);
        closedir(d);
    }
    *count = w.n;
    return w.rv;
}

static int append_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return BP_EIO;
    int rv = fputs(text, f) >= 0 ? 0 : BP_EIO;
    return fclose(f) == 0 ? rv : BP_EIO;
}

/* The private server's connection string (trust on its own socket; a
 * server that hangs is given up on like one that is not there). */
static void temp_conninfo(const restore_run *r, const char *db, char *out, size_t len)
{
    snprintf(out, len, "host=%s/sock port=5432 dbname=%s user=%s connect_timeout=10", r->work, db,
             bp_config_str("BACKUP_RESTORE_PG_USER", backup_config.pg_os_user));
}

/* The first line of the file at path that starts with prefix, the rest of
 * it in out. */
static bool file_line(const char *path, const char *prefix, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[1024];
    bool found = false;
    size_t n = strlen(prefix);
    while (!found && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, prefix, n) == 0) {
            snprintf(out, len, "%s", line + n);
            found = true;
        }
    fclose(f);
    return found;
}

/* Where the base backup became consistent: the STOP WAL LOCATION of the
 * backup history file that its backup_label's START WAL LOCATION names.
 * Recovery may not stop before it. */
static int backup_stop(restore_run *r, const char *pgdata, const char *wal, char *stop, size_t len,
                       unsigned *tli)
{
    char path[PATH_MAX], line[1024], file[32];
    unsigned hi, lo;
    backup_path(path, sizeof path, "%s/backup_label", pgdata);
    if (!file_line(path, "START WAL LOCATION: ", line, sizeof line) ||
        sscanf(line, "%X/%X (file %24[0-9A-F])", &hi, &lo, file) != 3 ||
        sscanf(file, "%8X", tli) != 1) {
        snprintf(r->err, sizeof r->err, "the base backup has no readable backup_label");
        return BP_EIO;
    }
    /* 16 MB segments, PostgreSQL's default, which our clusters keep. */
    backup_path(path, sizeof path, "%s/%s.%08X.backup", wal, file, lo & 0xFFFFFFu);
    if (!file_line(path, "STOP WAL LOCATION: ", line, sizeof line) ||
        sscanf(line, "%X/%X", &hi, &lo) != 2) {
        snprintf(r->err, sizeof r->err,
                 "the archive lacks the backup history file %s: the base backup cannot be"
                 " brought forward",
                 path);
        return BP_EIO;
    }
    snprintf(stop, len, "%X/%X", hi, lo);
    return 0;
}

/* One commit record of pg_waldump's listing: its LSN and time (Unix
 * microseconds; pg_waldump runs with TZ=UTC). */
static bool commit_record(const char *line, char *lsn, size_t len, int64_t *us)
{
    const char *l = strstr(line, "lsn: "), *d = strstr(line, "desc: COMMIT ");
    struct tm tm = {0};
    int frac = 0;
    if (l == NULL || d == NULL ||
        sscanf(d + strlen("desc: COMMIT "), "%d-%d-%d %d:%d:%d.%d", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac) != 7)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    size_t n = strcspn(l + strlen("lsn: "), ", ");
    snprintf(lsn, len, "%.*s", (int)n, l + strlen("lsn: "));
    *us = (int64_t)timegm(&tm) * 1000000 + frac;
    return true;
}

/* The recovery target for --at <time>, as the LSN of the last transaction
 * committed by then. PostgreSQL's own recovery_target_time stops at the
 * first commit after the time, which is too late when something that is
 * not transactional on disk came between: a DROP DATABASE removes the
 * files before it commits, so a time target just before its commit
 * restores a database that is gone. Stopping right after the last commit
 * before the time leaves such work out. Writes the setting into conf;
 * "immediate" when nothing committed between the backup and the time. */
static int target_setting(restore_run *r, const char *pgdata, const char *wal, char *conf,
                          size_t len)
{
    char stop[40], tool[PATH_MAX], list[PATH_MAX], tl[16];
    unsigned tli;
    int rv = backup_stop(r, pgdata, wal, stop, sizeof stop, &tli);
    if (rv != 0)
        return rv;
    snprintf(tl, sizeof tl, "%u", tli);
    backup_pg_tool("pg_waldump", tool, sizeof tool);
    backup_path(list, sizeof list, "%s/commits.txt", r->work);
    const char *argv[] = {"env",        "TZ=UTC", tool,      "--path", wal,
                          "--timeline", tl,       "--start", stop,     "--rmgr=Transaction",
                          NULL};
    char err[512];
    /* pg_waldump ends at the end of the archive with an error about the
     * record it could not read: that end is expected. */
    if (backup_exec(argv, list, false, err, sizeof err) != 0 && strstr(err, "WAL record") == NULL &&
        strstr(err, "could not find file") == NULL) {
        snprintf(r->err, sizeof r->err, "cannot list the archived transactions: %s", err);
        return BP_EIO;
    }
    FILE *f = fopen(list, "r");
    if (f == NULL) {
        snprintf(r->err, sizeof r->err, "%s: %s", list, strerror(errno));
        return BP_EIO;
    }
    char line[2048], lsn[40], last[40] = "";
    int64_t us, last_us = 0, limit = r->target * 1000000;
    bool beyond = false;
    while (!beyond && fgets(line, sizeof line, f) != NULL) {
        if (!commit_record(line, lsn, sizeof lsn, &us))
            continue;
        beyond = us > limit;
        if (!beyond) {
            snprintf(last, sizeof last, "%s", lsn);
            last_us = us;
        }
    }
    fclose(f);
    if (!beyond)
        printf("warning: the archive ends before %s: restoring to its end instead\n", r->o.at);
    if (last[0] == '\0') {
        printf("no transaction committed between the backup and %s\n", r->o.at);
        return backup_path(conf, len, "recovery_target = 'immediate'\n");
    }
    char when[40];
    bp_time_format(last_us / 1000, backup_config.timezone, when, sizeof when);
    printf("replaying up to the last transaction committed by then: %s at %s\n", when, last);
    return backup_path(conf, len, "recovery_target_lsn = '%s'\nrecovery_target_inclusive = on\n",
                       last);
}

/* Whether the server of pgdata is running: the pid in its postmaster.pid
 * is alive (a server that gave up on its recovery removes the file). */
static bool server_alive(const char *pgdata)
{
    char path[PATH_MAX];
    if (backup_path(path, sizeof path, "%s/postmaster.pid", pgdata) != 0)
        return false;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    long pid = 0;
    bool read = fscanf(f, "%ld", &pid) == 1 && pid > 1;
    fclose(f);
    return read && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Waits until the private server of pgdata has finished recovery (promoted),
 * asking its "postgres" database, then checks that the backed-up database
 * is there to be dumped. Prints the last transaction it replayed (--at
 * latest).
 * BP_ECONFLICT when the server stopped on its own (its log says why) or the
 * database is not usable at the target. */
static int wait_promoted(restore_run *r, const char *pgdata, double limit_s)
{
    char ci[PATH_MAX + 200];
    temp_conninfo(r, "postgres", ci, sizeof ci);
    double until = now_s() + limit_s;
    bool done = false;
    /* pg_ctl start returns once the server is up: from then on, no
     * postmaster means it gave up. */
    while (!done && now_s() < until) {
        if (!server_alive(pgdata)) {
            snprintf(r->err, sizeof r->err, "the recovery server stopped (log: %s/postgres.log)",
                     r->work);
            return BP_ECONFLICT;
        }
        PGconn *c = PQconnectdb(ci);
        if (PQstatus(c) == CONNECTION_OK) {
            PGresult *res = PQexec(c, "SELECT pg_is_in_recovery(),"
                                      " coalesce(pg_last_xact_replay_timestamp()::text, '')");
            done =
                PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "f") == 0;
            /* With an LSN target the server stops before it records the
             * last commit's time: target_setting printed that one. */
            if (done && r->target == 0)
                printf("recovery finished; last transaction replayed: %s\n",
                       *PQgetvalue(res, 0, 1) ? PQgetvalue(res, 0, 1) : "(none after the backup)");
            PQclear(res);
        }
        PQfinish(c);
        if (!done)
            usleep(200 * 1000);
    }
    if (!done) {
        snprintf(r->err, sizeof r->err,
                 "the recovery did not finish within %.0f s (log: %s/postgres.log)", limit_s,
                 r->work);
        return BP_ETIMEDOUT;
    }
    temp_conninfo(r, r->m.database, ci, sizeof ci);
    PGconn *c = PQconnectdb(ci);
    int rv = 0;
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(r->err, sizeof r->err,
                 "database %s is not usable at %s in the recovered cluster (was it dropped by"
                 " then?): %s",
                 r->m.database, r->o.at, PQerrorMessage(c));
        rv = BP_ECONFLICT;
    }
    PQfinish(c);
    return rv;
}

static int recover(restore_run *r, const char *dump_out)
{
    char pgdata[PATH_MAX], wal[PATH_MAX], sock[PATH_MAX], path[PATH_MAX], tool[PATH_MAX];
    char conf[4 * PATH_MAX];
    backup_path(pgdata, sizeof pgdata, "%s/pgdata", r->work);
    backup_path(wal, sizeof wal, "%s/wal", r->work);
    backup_path(sock, sizeof sock, "%s/sock", r->work);
    if (backup_mkdirs(pgdata, 0700) != 0 || backup_mkdirs(wal, 0700) != 0 ||
        backup_mkdirs(sock, 0700) != 0) {
        snprintf(r->err, sizeof r->err, "cannot create folders in %s", r->work);
        return BP_EIO;
    }
    backup_path(path, sizeof path, "%s/base.tar.gz", r->parts);
    const char *untar[] = {"tar", "--extract",   "--gzip", "--file",
                           path,  "--directory", pgdata,   NULL};
    int rv = backup_exec(untar, NULL, false, r->err, sizeof r->err);
    int n_wal = 0;
    if (rv == 0)
        rv = stage_wal(r, wal, &n_wal);
    if (rv != 0)
        return rv;
    printf("base backup unpacked; %d archived WAL files staged\n", n_wal);

    char target[200] = "";
    if (r->target != 0 && (rv = target_setting(r, pgdata, wal, target, sizeof target)) != 0)
        return rv;
    backup_path(conf, sizeof conf,
                "\n# barberpro-backup restore: a private server replaying the archive.\n"
                "listen_addresses = ''\nport = 5432\nunix_socket_directories = '%s'\n"
                "archive_mode = off\nhot_standby = off\nfsync = off\n"
                "restore_command = 'cp \"%s/%%f\" \"%%p\"'\n"
                "recovery_target_timeline = 'latest'\nrecovery_target_action = 'promote'\n%s",
                sock, wal, target);
    backup_path(path, sizeof path, "%s/postgresql.auto.conf", pgdata);
    char hba[PATH_MAX];
    backup_path(hba, sizeof hba, "%s/pg_hba.conf", pgdata);
    char signal[PATH_MAX];
    backup_path(signal, sizeof signal, "%s/recovery.signal", pgdata);
    if (append_file(path, conf) != 0 ||
        backup_write_file(hba, "local all all trust\n", strlen("local all all trust\n")) != 0 ||
        backup_write_file(signal, "", 0) != 0) {
        snprintf(r->err, sizeof r->err, "cannot configure the recovery in %s", pgdata);
        return BP_EIO;
    }
    /* The server refuses root: its folders go to its user. */
    if (geteuid() == 0) {
        char owner[80];
        snprintf(owner, sizeof owner, "%s:", backup_config.pg_os_user);
        const char *chown_argv[] = {"chown", "-R", owner, r->work, NULL};
        if ((rv = backup_exec(chown_argv, NULL, false, r->err, sizeof r->err)) != 0)
            return rv;
        chmod(r->work, 0711);
    }
    char log[PATH_MAX];
    backup_path(log, sizeof log, "%s/postgres.log", r->work);
    backup_pg_tool("pg_ctl", tool, sizeof tool);
    const char *start[] = {tool, "--pgdata", pgdata, "--log", log, "--silent", "start", NULL};
    double limit = (double)bp_config_int("BACKUP_RESTORE_TIMEOUT_S", 1800, 10, 86400);
    if ((rv = backup_exec(start, NULL, true, r->err, sizeof r->err)) != 0)
        return rv;
    rv = wait_promoted(r, pgdata, limit);
    if (rv == 0) {
        char ci[PATH_MAX + 200];
        temp_conninfo(r, r->m.database, ci, sizeof ci);
        backup_pg_tool("pg_dump", tool, sizeof tool);
        const char *dump[] = {
            tool, "--format=custom", "--compress=1", "--file", dump_out, "--dbname", ci, NULL};
        rv = backup_exec(dump, NULL, false, r->err, sizeof r->err);
    }
    backup_pg_tool("pg_ctl", tool, sizeof tool);
    const char *stop[] = {tool, "--pgdata", pgdata, "--mode=fast", "--silent", "stop", NULL};
    char err[512];
    if (backup_exec(stop, NULL, true, err, sizeof err) != 0)
        fprintf(stderr, "barberpro-backup restore: stopping the private server: %s\n", err);
    return rv;
}

/* ---- the command ------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: barberpro-backup restore --from local|s3 --at latest|<id>|<time>\n"
            "                                [--database-url URL] [--uploads DIR] [--yes]\n"
            "  <id> is YYYYMMDD_HHMMSS; <time> is RFC 3339 or \"YYYY-MM-DD HH:MM[:SS]\" in "
            "TIMEZONE.\n"
            "  Without --database-url the configured DATABASE_URL is restored over, and only\n"
            "  with --yes.\n");
}

static int parse_args(int argc, char **argv, restore_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--from") == 0           ? &o->from
                            : strcmp(a, "--at") == 0           ? &o->at
                            : strcmp(a, "--database-url") == 0 ? &o->url
                            : strcmp(a, "--uploads") == 0      ? &o->uploads
                                                               : NULL;
        if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) {
            o->yes = true;
        } else if (slot != NULL && i + 1 < argc) {
            *slot = argv[++i];
        } else {
            fprintf(stderr, "barberpro-backup restore: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    if (o->from == NULL || o->at == NULL ||
        (strcmp(o->from, "local") != 0 && strcmp(o->from, "s3") != 0)) {
        usage();
        return 2;
    }
    return 0;
}

static int restore(restore_run *r)
{
    if (strcmp(r->o.from, "s3") == 0 && !backup_config.s3_on) {
        snprintf(r->err, sizeof r->err, "--from s3, but BACKUP_S3_BUCKET is not set");
        return 2;
    }
    if (strcmp(r->o.at, "latest") != 0 && backup_id_time(r->o.at, backup_config.tz) < 0) {
        if (parse_time(r->o.at, &r->target) != 0) {
            snprintf(r->err, sizeof r->err,
                     "--at %s is neither latest, a backup id (YYYYMMDD_HHMMSS) nor a time",
                     r->o.at);
            return 2;
        }
    }
    r->pitr = strcmp(r->o.at, "latest") == 0 || r->target != 0;
    const char *tmp = bp_config_str("TMPDIR", "/tmp");
    if (backup_path(r->work, sizeof r->work, "%s/barberpro-restore-XXXXXX", tmp) != 0 ||
        mkdtemp(r->work) == NULL) {
        snprintf(r->err, sizeof r->err, "cannot create a folder under %s: %s", tmp,
                 strerror(errno));
        return 1;
    }
    int rv = strcmp(r->o.from, "s3") == 0 ? fetch_s3(r) : pick_local(r);
    if (rv != 0)
        return 1;
    printf("backup %s (%s), taken %s; checking its %zu parts\n", r->m.id, r->m.kind, r->m.id,
           r->m.n_parts);
    if (backup_manifest_verify(&r->m, r->parts, r->err, sizeof r->err) != 0)
        return 3;

    char dbname[128];
    if (ensure_database(r, dbname, sizeof dbname) != 0)
        return 1;
    char dump[PATH_MAX];
    if (r->pitr) {
        backup_path(dump, sizeof dump, "%s/recovered.dump", r->work);
        if (recover(r, dump) != 0)
            return 1;
    } else {
        backup_path(dump, sizeof dump, "%s/database.dump", r->parts);
    }
    printf("restoring into database %s\n", dbname);
    if (pg_restore_into(r, dump) != 0)
        return 1;
    if (r->o.uploads != NULL) {
        char path[PATH_MAX];
        backup_path(path, sizeof path, "%s/uploads.tar.gz", r->parts);
        const char *argv[] = {"tar", "--extract",   "--gzip",     "--file",
                              path,  "--directory", r->o.uploads, NULL};
        if (backup_mkdirs(r->o.uploads, 0755) != 0 ||
            backup_exec(argv, NULL, false, r->err, sizeof r->err) != 0)
            return 1;
        printf("uploads restored into %s\n", r->o.uploads);
    }
    return 0;
}

int backup_command_restore(int argc, char **argv)
{
    restore_run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return 1;
    int rv = parse_args(argc, argv, &r->o);
    if (rv != 0) {
        free(r);
        return rv;
    }
    backup_config_load(&backup_config);
    if (r->o.url == NULL) {
        r->o.url = bp_config_str("DATABASE_URL", NULL);
        if (r->o.url == NULL || !r->o.yes) {
            snprintf(r->err, sizeof r->err,
                     r->o.url == NULL ? "no --database-url and DATABASE_URL is not set"
                                      : "restoring over the configured DATABASE_URL needs --yes");
            rv = fail(r, 2);
            free(r);
            return rv;
        }
    }
    double t0 = now_s();
    rv = restore(r);
    if (rv != 0) {
        fail(r, rv);
    } else {
        printf("restored backup %s%s into the target in %.1f s\n", r->m.id,
               r->pitr ? " and the archived WAL" : "", now_s() - t0);
    }
    if (r->work[0] != '\0' && getenv("BACKUP_RESTORE_KEEP") == NULL)
        backup_rmtree(r->work);
    free(r);
    return rv;
}
