/* The catalogue over the bus: StartBackup and ListBackups (admins only),
 * and the figures an alert watches, read from the schema so that they
 * survive restarts and agree across instances. */
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "bp.h"
#include "jobs.h"
#include "prom.h"

#define LIST_DEFAULT 20
#define LIST_MAX     100

static const char SQL_COLUMNS[] =
    "SELECT id, kind, status, coalesce((extract(epoch FROM started_at) * 1000)::int8, 0),"
    " coalesce((extract(epoch FROM finished_at) * 1000)::int8, 0), size_bytes, sha256,"
    " coalesce(s3_prefix, local_path), error, requested_by"
    " FROM backup.backups";

static char *col(bp_call *call, const PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) || *PQgetvalue(res, row, c) == '\0'
               ? NULL
               : bp_call_strdup(call, PQgetvalue(res, row, c));
}

static Bp__Backup__BackupRecord *backup_of(bp_call *call, const PGresult *res, int row)
{
    Bp__Backup__BackupRecord *b =
        (Bp__Backup__BackupRecord *)bp_call_message(call, &bp__backup__backup_record__descriptor);
    if (b == NULL)
        return NULL;
    b->id = col(call, res, row, 0);
    b->kind = col(call, res, row, 1);
    b->status = col(call, res, row, 2);
    b->started_at =
        bp_call_time(call, strtoll(PQgetvalue(res, row, 3), NULL, 10), backup_config.timezone);
    b->finished_at =
        bp_call_time(call, strtoll(PQgetvalue(res, row, 4), NULL, 10), backup_config.timezone);
    b->has_size_bytes = !PQgetisnull(res, row, 5);
    b->size_bytes = strtoll(PQgetvalue(res, row, 5), NULL, 10);
    b->sha256 = col(call, res, row, 6);
    b->location = col(call, res, row, 7);
    b->error = col(call, res, row, 8);
    b->requested_by = col(call, res, row, 9);
    return b;
}

int backup_handle_start(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    (void)reqm;
    Bp__Backup__StartBackupReply *resp = (Bp__Backup__StartBackupReply *)respm;
    if (strcmp(bp_call_role(call), "admin") != 0)
        return bp_call_fail_forbidden(call);
    bp_db *db = bp_call_worker(call)->db;
    const char *p[] = {backup_config.timezone, bp_call_user_id(call)};
    PGresult *res = bp_db_query(db,
                                "WITH n AS (INSERT INTO backup.backups (id, kind, requested_by)"
                                " VALUES (to_char(now() AT TIME ZONE $1, 'YYYYMMDD_HH24MISS'),"
                                " 'manual', $2::uuid) RETURNING *)"
                                " SELECT id, kind, status, 0, 0, size_bytes, sha256,"
                                " NULL, error, requested_by FROM n",
                                2, p);
    if (res != NULL && bp_db_sqlstate(res, "23505")) {
        PQclear(res);
        return bp_call_fail(call, 409, "backup_in_progress", NULL,
                            "Ya hay un respaldo en curso; esperá a que termine.");
    }
    if (!bp_db_ok(res, bp_call_request_id(call)) || PQntuples(res) != 1) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    resp->backup = backup_of(call, res, 0);
    PQclear(res);
    if (resp->backup == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    bp_jobs_kick(BACKUP_JOB);
    bp_call_set_status(call, 202);
    return 0;
}

int backup_handle_list(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Backup__ListBackupsRequest *req = (const Bp__Backup__ListBackupsRequest *)reqm;
    Bp__Backup__BackupList *resp = (Bp__Backup__BackupList *)respm;
    if (strcmp(bp_call_role(call), "admin") != 0)
        return bp_call_fail_forbidden(call);
    int limit = req->has_limit ? req->limit : LIST_DEFAULT;
    if (limit < 1 || limit > LIST_MAX)
        return bp_call_fail_invalid(call, "limit", "Debe estar entre 1 y 100.");
    /* Ids sort as their times: the cursor is the last id of a page. */
    const char *cursor = req->cursor != NULL && req->cursor[0] != '\0' ? req->cursor : NULL;
    if (cursor != NULL && backup_id_time(cursor, backup_config.tz) < 0)
        return bp_call_fail_invalid(call, "cursor", "No es un cursor de esta lista.");
    char lim[16], sql[sizeof SQL_COLUMNS + 128];
    snprintf(lim, sizeof lim, "%d", limit + 1);
    snprintf(sql, sizeof sql, "%s WHERE $1::text IS NULL OR id < $1 ORDER BY id DESC LIMIT $2::int",
             SQL_COLUMNS);
    PGresult *res = bp_db_select(bp_call_worker(call)->db, sql, 2, (const char *[]){cursor, lim},
                                 bp_call_request_id(call));
    if (res == NULL)
        return bp_call_fail_internal(call, BP_EIO);
    int n = PQntuples(res);
    bool more = n > limit;
    if (more)
        n = limit;
    resp->items =
        n > 0 ? bp_arena_alloc(bp_call_arena(call), sizeof *resp->items * (size_t)n) : NULL;
    for (int i = 0; i < n; i++) {
        Bp__Backup__BackupRecord *b = resp->items != NULL ? backup_of(call, res, i) : NULL;
        if (b == NULL) {
            PQclear(res);
            return bp_call_fail_internal(call, BP_ENOMEM);
        }
        resp->items[resp->n_items++] = b;
    }
    if (more)
        resp->next_cursor = bp_call_strdup(call, resp->items[n - 1]->id);
    PQclear(res);
    return 0;
}

int backup_business_metrics(bp_call *call, bp_strbuf *out)
{
    PGresult *res =
        bp_db_select(bp_call_worker(call)->db,
                     "SELECT coalesce(extract(epoch FROM max(finished_at) FILTER (WHERE status ="
                     " 'completed'))::int8, 0), count(*) FILTER (WHERE status = 'failed'),"
                     " count(*) FILTER (WHERE status = 'completed'),"
                     " coalesce((SELECT size_bytes FROM backup.backups WHERE status = 'completed'"
                     " ORDER BY finished_at DESC LIMIT 1), 0) FROM backup.backups",
                     0, NULL, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    static const bp_prom_column cols[] = {
        {"barberpro_business_backup_last_success_timestamp_seconds", "gauge",
         "When the newest completed backup finished (0: never)."},
        {"barberpro_business_backup_failures_total", "counter",
         "Backups that failed, since the catalogue began."},
        {"barberpro_business_backup_completed_total", "counter",
         "Backups that completed, since the catalogue began."},
        {"barberpro_business_backup_last_size_bytes", "gauge",
         "Size of the newest completed backup, every part together."},
    };
    bp_prom_columns(out, res, cols, BP_COUNTOF(cols));
    PQclear(res);
    return 0;
}
