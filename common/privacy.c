/* Audit records for auth's log, sent as events, and the retention
 * metrics shared by every daemon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "events.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "privacy.h"

/* Upper bound of subjects in one event: a page of a list is at most 100. */
#define MAX_SUBJECTS 200

static bool seen(const char *const *subjects, size_t upto, const char *id)
{
    for (size_t i = 0; i < upto; i++)
        if (subjects[i] != NULL && strcmp(subjects[i], id) == 0)
            return true;
    return false;
}

int bp_audit_access(bp_call *call, bp_db *db, const char *const *subjects, size_t n,
                    const char *action, const json_t *details)
{
    if (n > MAX_SUBJECTS)
        n = MAX_SUBJECTS;
    const char *actor = bp_call_user_id(call);
    char at[40];
    if (bp_time_format(bp_now_ms(), "UTC", at, sizeof at) != 0)
        return BP_EINVAL;
    char *details_text = details != NULL ? json_dumps(details, JSON_COMPACT) : NULL;
    if (details != NULL && details_text == NULL)
        return BP_ENOMEM;

    Bp__Events__AuditRecord records[MAX_SUBJECTS];
    Bp__Events__AuditRecord *ptrs[MAX_SUBJECTS];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = subjects[i];
        if (s == NULL || s[0] == '\0' || strcmp(s, actor) == 0 || seen(subjects, i, s))
            continue;
        Bp__Events__AuditRecord *r = &records[k];
        bp__events__audit_record__init(r);
        r->at = at;
        r->actor_id = (char *)actor;
        r->actor_role = (char *)bp_call_role(call);
        r->subject_id = (char *)s;
        r->action = (char *)action;
        r->request_id = (char *)bp_call_request_id(call);
        r->ip = (char *)bp_call_client_ip(call);
        r->details = details_text != NULL ? details_text : "{}";
        ptrs[k] = r;
        k++;
    }
    if (k == 0) {
        free(details_text);
        return 0;
    }
    Bp__Events__AuditEvent ev = BP__EVENTS__AUDIT_EVENT__INIT;
    ev.n_records = k;
    ev.records = ptrs;

    bool own_txn = PQtransactionStatus(bp_db_conn(db)) != PQTRANS_INTRANS;
    int rv = own_txn ? (bp_db_begin(db) == 0 ? 0 : BP_EIO) : 0;
    if (rv == 0)
        rv = bp_outbox_put(db, BP_AUDIT_TOPIC, NULL, &ev.base, NULL);
    if (own_txn && rv == 0)
        rv = bp_db_commit(db) == 0 ? 0 : BP_EIO;
    else if (own_txn)
        bp_db_rollback(db);
    if (own_txn && rv == 0)
        bp_relay_kick();
    if (rv != 0)
        bp_log_error("audit record %s (request %s) not written: %s", action,
                     bp_call_request_id(call), bp_strerror(rv));
    free(details_text);
    return rv;
}

void bp_retention_removed(const char *what, uint64_t n)
{
    char escaped[96], labels[128];
    bp_metrics_escape(what, escaped, sizeof escaped);
    snprintf(labels, sizeof labels, "what=\"%s\"", escaped);
    bp_counter_add(bp_metrics_counter("barberpro_retention_removed_total",
                                      "Items removed by retention rounds (Ley 25.326), by kind",
                                      labels),
                   n);
    bp_gauge_set(bp_metrics_gauge("barberpro_retention_last_run_timestamp_seconds",
                                  "When a retention round of this kind last ran", labels),
                 (double)bp_now_ms() / 1000.0);
}
