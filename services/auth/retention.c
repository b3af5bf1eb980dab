/* Retention in the auth daemon (Ley 25.326 and the seed's periods): audit
 * records are kept 5 years, then deleted; sessions live at most 30 days.
 * Sessions already expire in Redis (24 h idle, a token's 7 days), so the
 * sweep here only removes session keys that lost their expiry (restored
 * from a dump, set by hand), which would otherwise live for ever. Run as an
 * exclusive job: one instance at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bp.h"
#include "keys.h"
#include "log.h"
#include "privacy.h"

/* Records deleted per statement, and statements per round: a round stays
 * short (a stop waits for it) and a backlog drains over a few rounds. */
#define AUDIT_BATCH     5000
#define AUDIT_BATCH_SQL "5000"
#define AUDIT_ROUNDS    10

/* The longest a session key may live, in seconds (the seed's 30 days). */
#define SESSION_MAX_S (30 * 24 * 3600)

/* Keys looked at per SCAN step, and steps per round. */
#define SCAN_COUNT "1000"
#define SCAN_STEPS 1000

/* The retention job's transaction declares itself to the table's trigger
 * (migrations/auth/0003), which refuses every other deletion, and then
 * deletes only what is past 5 years. */
static const char SQL_AUDIT_PRUNE[] =
    "with old as (select id from auth.audit_log where at < now() - interval '5 years'"
    " order by id limit " AUDIT_BATCH_SQL ")"
    " delete from auth.audit_log a using old where a.id = old.id";

static int prune_audit(bp_db *db, uint64_t *removed)
{
    for (int i = 0; i < AUDIT_ROUNDS; i++) {
        if (bp_db_begin(db) != 0)
            return BP_EIO;
        PGresult *r = bp_db_select(db, "set local barberpro.audit_retention = 'on'", 0, NULL, NULL);
        PQclear(r);
        PGresult *d = r != NULL ? bp_db_select(db, SQL_AUDIT_PRUNE, 0, NULL, NULL) : NULL;
        long n = d != NULL ? strtol(PQcmdTuples(d), NULL, 10) : -1;
        PQclear(d);
        if (n < 0 || bp_db_commit(db) != 0) {
            bp_db_rollback(db);
            return BP_EIO;
        }
        *removed += (uint64_t)n;
        if (n < AUDIT_BATCH)
            break;
    }
    return 0;
}

/* Deletes key when it has no expiry or one beyond SESSION_MAX_S. Returns 1
 * when it deleted it, 0 when not, -1 when Redis failed. */
static int sweep_key(bp_kv *kv, const char *key)
{
    const char *ttl[] = {"TTL", key};
    redisReply *r = bp_kv_command(kv, 2, ttl, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    long long left = r->integer; /* -2: gone, -1: no expiry */
    freeReplyObject(r);
    if (left != -1 && left <= SESSION_MAX_S)
        return 0;
    int rv = bp_kv_del(kv, key);
    return rv == 0 ? 1 : rv == BP_ENOTFOUND ? 0 : -1;
}

/* Walks the keys matching pattern with SCAN and sweeps each. */
static int sweep(bp_kv *kv, const char *pattern, uint64_t *removed)
{
    char cursor[32] = "0";
    for (int step = 0; step < SCAN_STEPS; step++) {
        const char *scan[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
        redisReply *r = bp_kv_command(kv, 6, scan, NULL);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            if (r != NULL)
                freeReplyObject(r);
            return BP_EIO;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        int rv = 0;
        for (size_t i = 0; i < keys->elements && rv == 0; i++) {
            if (keys->element[i]->type != REDIS_REPLY_STRING)
                continue;
            int s = sweep_key(kv, keys->element[i]->str);
            if (s < 0)
                rv = BP_EIO;
            else
                *removed += (uint64_t)s;
        }
        freeReplyObject(r);
        if (rv != 0)
            return rv;
        if (strcmp(cursor, "0") == 0)
            break;
    }
    return 0;
}

int auth_retention(bp_db *db, bp_kv *kv)
{
    uint64_t audit = 0, sessions = 0;
    int rv = prune_audit(db, &audit);
    bp_retention_removed("audit_records", audit);
    int kv_rv = kv != NULL ? sweep(kv, AUTH_KEY_SESSION "*", &sessions) : 0;
    if (kv_rv == 0 && kv != NULL)
        kv_rv = sweep(kv, AUTH_KEY_USER_SESSIONS "*", &sessions);
    bp_retention_removed("sessions", sessions);
    if (audit > 0 || sessions > 0)
        bp_log_info("retention: %llu audit record(s) past 5 years, %llu session key(s) without "
                    "expiry removed",
                    (unsigned long long)audit, (unsigned long long)sessions);
    return rv != 0 ? rv : kv_rv;
}
