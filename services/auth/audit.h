/* What the privacy handlers of the auth daemon share (privacy.c, audit.c):
 * the audit log read back as AuditEntry messages. */
#ifndef AUTH_AUDIT_H
#define AUTH_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "auth.pb-c.h"
#include "rpc.h"

/* Most audit entries one page of GET /api/admin/audit holds. */
#define AUTH_AUDIT_PAGE_MAX 500

/* Most audit entries an export carries (the newest; a person's record in
 * five years stays far below it). */
#define AUTH_AUDIT_EXPORT_MAX 10000

/* The audit entries about user_id (as subject or actor) with from_ms <= at
 * < to_ms (0: unbounded) and id > after_id, oldest first, at most limit,
 * into *items (the call's arena). *more is set when further entries
 * follow. Returns 0, BP_ENOMEM or BP_EIO. */
int auth_audit_entries(bp_call *call, const char *user_id, int64_t from_ms, int64_t to_ms,
                       int64_t after_id, int limit, Bp__Auth__AuditEntry ***items, size_t *n,
                       bool *more);

#endif
