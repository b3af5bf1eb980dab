/* Idempotent consumption of events: the inbox row and the topic handler's
 * writes commit together, so an event id is applied at most once however
 * many times it is delivered. */
#include "inbox.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "log.h"
#include "outbox.h"

#define MAX_SCHEMA     32
#define MAX_TOPIC      100
#define RETENTION_DAYS 30
#define PRUNE_BATCH    5000
#define PRUNE_ROUNDS   20

static char inbox_schema[MAX_SCHEMA + 1];

int bp_inbox_init(const char *schema)
{
    if (schema == NULL || *schema == '\0' || strlen(schema) > MAX_SCHEMA ||
        (*schema >= '0' && *schema <= '9'))
        return BP_EINVAL;
    for (const char *s = schema; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return BP_EINVAL;
    snprintf(inbox_schema, sizeof inbox_schema, "%s", schema);
    return 0;
}

static const bp_event_handler *find_handler(const bp_event_handler *handlers, size_t n,
                                            const char *topic)
{
    for (size_t i = 0; i < n; i++)
        if (handlers[i].topic != NULL && strcmp(handlers[i].topic, topic) == 0)
            return &handlers[i];
    return NULL;
}

/* Answers "try again later": the relay retries any status outside 2xx. */
static int unavailable(bp_call *call)
{
    return bp_call_fail(call, 503, "unavailable", NULL,
                        "La base de datos no responde, probá de nuevo en unos segundos");
}

int bp_inbox_deliver(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp,
                     const bp_event_handler *handlers, size_t n)
{
    const char *rid = bp_call_request_id(call);
    if (req == NULL || req->descriptor != &bp__events__event__descriptor) {
        bp_log(BP_LOG_ERROR, rid, "Deliver must take a bp.events.Event");
        return BP_EINVAL;
    }
    const Bp__Events__Event *ev = (const Bp__Events__Event *)req;
    if (ev->id == NULL || !bp_uuid_valid(ev->id))
        return bp_call_fail(call, 400, "invalid_request", "id", "El evento no tiene un id válido");
    if (ev->topic == NULL || *ev->topic == '\0' || strlen(ev->topic) > MAX_TOPIC)
        return bp_call_fail(call, 400, "invalid_request", "topic",
                            "El evento no tiene un tema válido");

    const bp_event_handler *h = find_handler(handlers, n, ev->topic);
    if (h == NULL || h->fn == NULL) {
        bp_log(BP_LOG_WARN, rid, "event %s of topic %s from %s has no handler; acknowledged",
               ev->id, ev->topic, ev->producer ? ev->producer : "?");
        return 0;
    }
    bp_db *db = bp_call_worker(call)->db;
    if (db == NULL || inbox_schema[0] == '\0') {
        bp_log(BP_LOG_ERROR, rid, "events need use_db and bp_inbox_init");
        return BP_EINVAL;
    }

    if (bp_db_begin(db) != 0)
        return unavailable(call);
    char sql[200];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.inbox (event_id, topic, producer) VALUES ($1, $2, $3)"
             " ON CONFLICT (event_id) DO NOTHING",
             inbox_schema);
    const char *p[] = {ev->id, ev->topic, ev->producer};
    PGresult *r = bp_db_query(db, sql, 3, p);
    if (!bp_db_ok(r, rid)) {
        PQclear(r);
        bp_db_rollback(db);
        return unavailable(call);
    }
    /* A concurrent delivery of the same id waits on the row above until
     * the first commits, then finds it: applied once either way. */
    bool duplicate = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (duplicate) {
        bp_db_rollback(db);
        bp_log(BP_LOG_DEBUG, rid, "event %s (%s) already applied", ev->id, ev->topic);
        return 0;
    }

    int rv = h->fn(call, db, ev);
    if (rv != 0) {
        bp_db_rollback(db);
        if (rv != BP_EREPLIED)
            bp_log(BP_LOG_WARN, rid, "event %s (%s) not applied: %s; the producer will retry",
                   ev->id, ev->topic, bp_strerror(rv));
        return rv;
    }
    /* COMMIT of a failed transaction "succeeds" as a rollback: acknowledging
     * it would lose the event, so a handler that ignored an error retries. */
    if (PQtransactionStatus(bp_db_conn(db)) != PQTRANS_INTRANS) {
        bp_log(BP_LOG_ERROR, rid, "event %s (%s): the handler left a failed transaction", ev->id,
               ev->topic);
        bp_db_rollback(db);
        return BP_EIO;
    }
    if (bp_db_commit(db) != 0) {
        bp_db_rollback(db);
        return unavailable(call);
    }
    /* The handler may have put events of its own. */
    bp_relay_kick();
    (void)resp;
    return 0;
}

int bp_inbox_prune(bp_db *db, bp_kv *kv)
{
    (void)kv;
    if (inbox_schema[0] == '\0')
        return BP_EINVAL;
    char sql[256];
    snprintf(sql, sizeof sql,
             "DELETE FROM %s.inbox WHERE event_id IN (SELECT event_id FROM %s.inbox"
             " WHERE received_at < now() - interval '%d days' LIMIT %d)",
             inbox_schema, inbox_schema, RETENTION_DAYS, PRUNE_BATCH);
    for (int round = 0; round < PRUNE_ROUNDS; round++) {
        PGresult *r = bp_db_select(db, sql, 0, NULL, NULL);
        if (r == NULL)
            return BP_EIO;
        long deleted = strtol(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        if (deleted < PRUNE_BATCH)
            break;
    }
    return 0;
}

ProtobufCMessage *bp_inbox_payload(bp_call *call, const Bp__Events__Event *ev,
                                   const ProtobufCMessageDescriptor *d)
{
    ProtobufCAllocator alloc;
    bp_arena_allocator(bp_call_arena(call), &alloc);
    ProtobufCMessage *m = protobuf_c_message_unpack(
        d, &alloc, ev->payload.len, ev->payload.data != NULL ? ev->payload.data : (uint8_t *)"");
    if (m == NULL)
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "event %s (%s): its payload is not a %s",
               ev->id, ev->topic, d->name);
    return m;
}
