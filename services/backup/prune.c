/* Retention: local copies BACKUP_LOCAL_RETENTION_DAYS (7), the bucket's
 * backups/ BACKUP_S3_RETENTION_DAYS (30), its archive/ (each month's first
 * backup) BACKUP_ARCHIVE_RETENTION_DAYS (365). The newest good backup of
 * each place is never pruned, whatever its age, and WAL goes only once no
 * kept backup of that place needs it. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "bp.h"
#include "log.h"
#include "privacy.h"

/* The backups of one place, as retention sees them. */
typedef struct {
    bp_retained *b;
    char (*ids)[32];
    char (*wal)[64]; /* each one's wal_start, "" when unknown */
    size_t n, cap;
} backup_set;

static int set_add(backup_set *s, const char *id, int64_t started, bool good, const char *wal)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0) {
            s->b[i].good = s->b[i].good || good;
            return 0;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        bp_retained *b = realloc(s->b, cap * sizeof *b);
        if (b != NULL)
            s->b = b;
        char(*ids)[32] = realloc(s->ids, cap * sizeof *ids);
        if (ids != NULL)
            s->ids = ids;
        char(*w)[64] = realloc(s->wal, cap * sizeof *w);
        if (w != NULL)
            s->wal = w;
        if (b == NULL || ids == NULL || w == NULL)
            return BP_ENOMEM;
        s->cap = cap;
    }
    snprintf(s->ids[s->n], sizeof s->ids[s->n], "%s", id);
    snprintf(s->wal[s->n], sizeof s->wal[s->n], "%s", wal != NULL ? wal : "");
    s->b[s->n] = (bp_retained){NULL, started, good, false};
    s->n++;
    return 0;
}

/* Marks the set; ids are fixed up first (realloc moved them). */
static void set_mark(backup_set *s, int days)
{
    for (size_t i = 0; i < s->n; i++)
        s->b[i].id = s->ids[i];
    bp_retention_mark(s->b, s->n, time(NULL), (int64_t)days * 86400);
}

/* The oldest wal_start among the kept good backups: WAL before it is no
 * longer needed. "" when unknown (then no WAL goes). */
static void set_wal_floor(const backup_set *s, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        if (!s->b[i].keep || !s->b[i].good)
            continue;
        if (s->wal[i][0] == '\0') {
            out[0] = '\0';
            return;
        }
        if (out[0] == '\0' || strcmp(s->wal[i], out) < 0)
            snprintf(out, len, "%s", s->wal[i]);
    }
}

static void set_free(backup_set *s)
{
    free(s->b);
    free(s->ids);
    free(s->wal);
    memset(s, 0, sizeof *s);
}

/* A WAL segment's file name (24 hex digits, possibly followed by
 * ".<offset>.backup" or ".gz") older than floor. Timeline history files
 * are kept: they are tiny and every recovery may need them. */
static bool wal_before(const char *name, const char *floor)
{
    if (floor[0] == '\0' || strlen(name) < 24 || strspn(name, "0123456789ABCDEF") < 24)
        return false;
    return strncmp(name, floor, 24) < 0;
}

static void forget(bp_db *db, const char *column, const char *id)
{
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE backup.backups SET %s = NULL WHERE id = $1", column);
    PQclear(bp_db_query(db, sql, 1, (const char *[]){id}));
}

static int prune_local(bp_db *db)
{
    char full[PATH_MAX], path[PATH_MAX], err[256];
    if (backup_path(full, sizeof full, "%s/full", backup_config.local_dir) != 0)
        return BP_ETOOBIG;
    DIR *d = opendir(full);
    if (d == NULL)
        return 0;
    backup_set set = {0};
    int rv = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rv == 0) {
        if (e->d_name[0] == '.' || backup_path(path, sizeof path, "%s/%s", full, e->d_name) != 0)
            continue;
        size_t nl = strlen(e->d_name);
        struct stat st;
        if (nl > 8 && strcmp(e->d_name + nl - 8, ".partial") == 0) {
            /* Left by a backup that died; a live one is younger than a day. */
            if (stat(path, &st) == 0 && time(NULL) - st.st_mtime > 86400)
                backup_rmtree(path);
            continue;
        }
        backup_manifest m;
        char mpath[PATH_MAX];
        bool good = backup_path(mpath, sizeof mpath, "%s/manifest.json", path) == 0 &&
                    backup_manifest_read(mpath, &m, err, sizeof err) == 0;
        int64_t t = good ? m.created_at : backup_id_time(e->d_name, backup_config.tz);
        if (t >= 0)
            rv = set_add(&set, e->d_name, t, good, good ? m.wal_start : NULL);
    }
    closedir(d);
    set_mark(&set, backup_config.local_days);
    uint64_t gone = 0, wal_gone = 0;
    for (size_t i = 0; i < set.n && rv == 0; i++) {
        if (set.b[i].keep || backup_path(path, sizeof path, "%s/%s", full, set.ids[i]) != 0)
            continue;
        if (backup_rmtree(path) == 0) {
            gone++;
            forget(db, "local_path", set.ids[i]);
            bp_log_info("pruned the local copy of backup %s", set.ids[i]);
        }
    }
    char floor[64];
    set_wal_floor(&set, floor, sizeof floor);
    set_free(&set);
    if (backup_path(path, sizeof path, "%s/wal", backup_config.local_dir) == 0 &&
        (d = opendir(path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char f[PATH_MAX];
            if (wal_before(e->d_name, floor) &&
                backup_path(f, sizeof f, "%s/%s", path, e->d_name) == 0 && unlink(f) == 0)
                wal_gone++;
        }
        closedir(d);
    }
    bp_retention_removed("backups_local", gone);
    bp_retention_removed("wal_local", wal_gone);
    return rv;
}

/* ---- the bucket ------------------------------------------------------------ */

typedef struct {
    const char *prefix; /* "backups/" */
    size_t plen;
    backup_set *set;
    bp_db *db;
} s3_scan;

static int scan_one(const char *key, const bp_s3_object_info *info, void *arg)
{
    (void)info;
    s3_scan *sc = arg;
    const char *rest = key + sc->plen, *slash = strchr(rest, '/');
    if (slash == NULL || slash - rest >= 32)
        return 0;
    char id[32];
    snprintf(id, sizeof id, "%.*s", (int)(slash - rest), rest);
    int64_t t = backup_id_time(id, backup_config.tz);
    if (t < 0)
        return 0;
    bool good = strcmp(slash + 1, "manifest.json") == 0;
    char wal[64] = "";
    if (good) {
        PGresult *res = bp_db_query(sc->db,
                                    "SELECT manifest->>'wal_start' FROM backup.backups"
                                    " WHERE id = $1 AND manifest IS NOT NULL",
                                    1, (const char *[]){id});
        if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
            !PQgetisnull(res, 0, 0))
            snprintf(wal, sizeof wal, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    return set_add(sc->set, id, t, good, wal);
}

typedef struct {
    const char *prefix, *id; /* delete keys under prefix<id>/ */
    const char *floor;       /* or WAL before it */
    uint64_t n;
    int rv;
} s3_delete;

static int delete_one(const char *key, const bp_s3_object_info *info, void *arg)
{
    (void)info;
    s3_delete *dl = arg;
    const char *rest = key + strlen(dl->prefix);
    bool due = dl->id != NULL
                   ? strncmp(rest, dl->id, strlen(dl->id)) == 0 && rest[strlen(dl->id)] == '/'
                   : wal_before(rest, dl->floor);
    char err[256];
    if (due) {
        if (bp_s3_delete(&backup_config.s3, key, err, sizeof err) == 0)
            dl->n++;
        else {
            bp_log_warn("retention: %s", err);
            dl->rv = BP_EIO;
        }
    }
    return 0;
}

/* Prunes one prefix of the bucket; *floor receives its WAL floor. */
static int prune_prefix(bp_db *db, const char *prefix, int days, const char *what,
                        const char *column, char *floor, size_t flen)
{
    char err[256];
    backup_set set = {0};
    s3_scan sc = {prefix, strlen(prefix), &set, db};
    int rv = bp_s3_list(&backup_config.s3, prefix, scan_one, &sc, err, sizeof err);
    if (rv != 0) {
        bp_log_warn("retention: cannot list %s: %s", prefix, err);
        set_free(&set);
        return rv;
    }
    set_mark(&set, days);
    uint64_t gone = 0;
    for (size_t i = 0; i < set.n; i++) {
        if (set.b[i].keep)
            continue;
        char sub[64];
        snprintf(sub, sizeof sub, "%s%s/", prefix, set.ids[i]);
        s3_delete dl = {prefix, set.ids[i], NULL, 0, 0};
        if (bp_s3_list(&backup_config.s3, sub, delete_one, &dl, err, sizeof err) == 0 &&
            dl.rv == 0) {
            gone++;
            forget(db, column, set.ids[i]);
            bp_log_info("pruned %s%s from the bucket", prefix, set.ids[i]);
        } else if (rv == 0)
            rv = BP_EIO;
    }
    if (floor != NULL)
        set_wal_floor(&set, floor, flen);
    set_free(&set);
    bp_retention_removed(what, gone);
    return rv;
}

static int prune_s3(bp_db *db)
{
    char floor[64] = "", err[256];
    int rv = prune_prefix(db, "backups/", backup_config.s3_days, "backups_s3", "s3_prefix", floor,
                          sizeof floor);
    int arv = prune_prefix(db, "archive/", backup_config.archive_days, "backups_archive",
                           "archive_prefix", NULL, 0);
    uint64_t wal_gone = 0;
    if (rv == 0 && floor[0] != '\0') {
        s3_delete dl = {"wal/", NULL, floor, 0, 0};
        rv = bp_s3_list(&backup_config.s3, "wal/", delete_one, &dl, err, sizeof err);
        wal_gone = dl.n;
    }
    bp_retention_removed("wal_s3", wal_gone);
    return rv != 0 ? rv : arv;
}

int backup_prune(bp_db *db)
{
    int rv = prune_local(db);
    if (backup_config.s3_on) {
        int srv = prune_s3(db);
        if (rv == 0)
            rv = srv;
    }
    return rv;
}
