/* What a daemon's webhook handler (an RPC taking bp.common.HttpRequest, see
 * proto/common.proto) needs from the request as it came, and its answer. */
#ifndef BP_WEBHOOK_H
#define BP_WEBHOOK_H

#include <stddef.h>

#include "common.pb-c.h"

/* The value of the first field called name (exact match; header names are
 * lower case), or NULL. */
const char *bp_webhook_field(Bp__Common__HttpField *const *fields, size_t n, const char *name);

/* Sets out to answer body (static or in the call's arena) as content_type
 * (NULL: application/json). */
void bp_webhook_reply(Bp__Common__HttpReply *out, const char *content_type, const char *body);

#endif
