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

#endif
