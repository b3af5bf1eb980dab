/* What every service does for Ley 25.326 beyond its own data: telling the
 * audit log (kept by auth) that someone read another person's personal
 * data, and counting what a retention round removed. */
#ifndef BP_PRIVACY_H
#define BP_PRIVACY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "db.h"
#include "rpc.h"

/* Outbox topic of the audit records other services send to auth. */
#define BP_AUDIT_TOPIC "audit.recorded"

/* Outbox topic of an erasure request (auth to every service). */
#define BP_ERASURE_TOPIC "user.erasure_requested"

/* Records, for auth's audit log, that the caller of call accessed the
 * personal data of each user in subjects (n ids; NULL, empty, the caller's
 * own id and repeats are skipped) with action (e.g. "booking_read") and
 * details (a JSON object, borrowed; NULL for {}). One audit.recorded event,
 * written through db's outbox: inside the caller's transaction when one is
 * open, else in a transaction of its own (then the relay is kicked).
 * Nothing is written when no subject remains. Returns 0 or a BP_E* code
 * (BP_EIO: the transaction is aborted; the caller rolls back its own). */
int bp_audit_access(bp_call *call, bp_db *db, const char *const *subjects, size_t n,
                    const char *action, const json_t *details);

/* Counts n items removed by a retention round of what (e.g.
 * "notification_bodies") in barberpro_retention_removed_total{what} and
 * stamps barberpro_retention_last_run_timestamp_seconds{what} with now,
 * even when n is 0: a round that found nothing due still ran. */
void bp_retention_removed(const char *what, uint64_t n);

#endif
