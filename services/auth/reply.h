/* What the auth handlers share: their context, where a call came from, the
 * user as it is sent back, and the error answers for failures that are not
 * the caller's fault. */
#ifndef AUTH_REPLY_H
#define AUTH_REPLY_H

#include <stdint.h>

#include "auth.h"
#include "auth.pb-c.h"
#include "rpc.h"
#include "store.h"

/* The daemon's context (bp_service.app). */
auth_ctx *auth_ctx_of(bp_call *call);

/* The request id, client IP and user agent of the call (owned by it). */
auth_origin auth_origin_of(bp_call *call);

/* u as a User message in the call's arena; NULL when out of memory. */
Bp__Auth__User *auth_reply_user(bp_call *call, const auth_user *u);

/* The current consents c as a Consents message (with the terms version
 * accepted and the one in force) in the call's arena; NULL when out of
 * memory. */
Bp__Auth__Consents *auth_reply_consents(bp_call *call, const auth_consents *c);

/* The text at (row, col) of r in the call's arena, NULL (an unset field)
 * when it is empty or out of memory. */
char *auth_reply_text(bp_call *call, const PGresult *r, int row, int col);

/* epoch_ms as RFC 3339 in TIMEZONE, in the call's arena; NULL when out of
 * memory or not representable. */
char *auth_reply_time(bp_call *call, int64_t epoch_ms);

#endif
