/* A bus route: the HTTP request becomes an RPC call (preceded by
 * auth.Authenticate when another service needs the caller), and the reply
 * becomes the HTTP answer. */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include "gw_request.h"

/* The op of every route with a service. */
extern const gw_op gw_proxy_op;

/* Parses an Authorization header value: "Bearer <token>" (scheme in any
 * case) with a token of 1 to 4096 characters of [A-Za-z0-9-._~+/=].
 * Returns a pointer to the token inside value, or NULL. */
const char *gw_bearer_token(const char *value);

/* Counts the suspended request against its route's rate-limit class, in
 * the bucket of user_id, or of the client's address when user_id is NULL,
 * without waiting: the verdict goes to req->rate, then next(req) runs when
 * the request is allowed (it must start a call that resumes req, or resume
 * it); a refusal, or next NULL, resumes req (finish answers 429 through
 * gw_call_failed). */
void gw_rate_admit(gw_request *req, const char *user_id, void (*next)(gw_request *req));

/* Verifies req->token with auth.Authenticate, the caller having answered
 * 401 when there is none: suspends req and starts the call. On success the
 * principal is in req->proxy (user_id, role, session_id), the rate limit
 * of the user's bucket is counted (gw_rate_admit), and then(req) runs on a
 * callback thread (it must start another call that resumes req, or resume it); with
 * then NULL, or on any failure, req resumes. Returns false, with nothing
 * suspended, when the call cannot start (answer 503). */
bool gw_authenticate(gw_request *req, void (*then)(gw_request *req));

/* After the resume: when the rate limit refused the request or the bus
 * call (or Authenticate) failed, answers (429, the daemon's error, 502,
 * 503 or 504) into *answer and returns true. Returns false when the reply
 * is a success (or Authenticate succeeded with nothing chained). */
bool gw_call_failed(gw_request *req, enum MHD_Result *answer);

#endif
