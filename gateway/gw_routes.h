/* The gateway's route table: method + path pattern -> bus service and RPC
 * method (or one of the gateway's own handlers), auth requirement and
 * rate-limit class. Adding an endpoint is one row in routes.c. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "gw_url.h"

#define GW_MAX_SEGMENTS   16 /* path segments in a pattern or a request */
#define GW_MAX_PARAMS     8  /* {param} segments in a pattern */
#define GW_PARAM_NAME_MAX 32 /* including the NUL */

typedef enum {
    GW_AUTH_PUBLIC,   /* no token needed, none forwarded */
    GW_AUTH_USER,     /* a valid bearer token or 401 */
    GW_AUTH_OPTIONAL, /* a token is verified when present */
} gw_auth;

/* Rate-limit classes of API.md. Only recorded for now: the limiter itself
 * arrives with its own issue. */
typedef enum {
    GW_RATE_NONE, /* operations endpoints (health, metrics) */
    GW_RATE_API,
    GW_RATE_AUTH,
    GW_RATE_BOOKING,
    GW_RATE_PAYMENTS,
} gw_rate_class;

typedef struct gw_op gw_op; /* a handler of the gateway's own (gw_request.h) */

typedef struct {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/shops/{shop_id}/services" */
    const char *service; /* bus service ("auth"), or NULL for op */
    const char *rpc;     /* method of the service's descriptor */
    gw_auth auth;
    gw_rate_class rate;
    const gw_op *op; /* the gateway's own handler when service is NULL */
} gw_route;

typedef struct {
    char name[GW_PARAM_NAME_MAX];
    const char *value; /* decoded, inside gw_match.text */
} gw_path_param;

typedef enum {
    GW_MATCH_OK,        /* route and params set */
    GW_MATCH_NOT_FOUND, /* 404 */
    GW_MATCH_METHOD,    /* 405: the path exists; allow lists its methods */
    GW_MATCH_BAD_PATH,  /* 400: malformed escape, NUL or non-UTF-8 */
    GW_MATCH_TOO_LONG,  /* 414 */
} gw_match_result;

typedef struct {
    const gw_route *route;
    size_t index; /* of route in the table */
    size_t n_params;
    gw_path_param params[GW_MAX_PARAMS];
    char allow[96]; /* "GET, POST, OPTIONS" for GW_MATCH_METHOD */
    char text[GW_MAX_TARGET + GW_MAX_SEGMENTS];
} gw_match;

/* Checks every row (pattern syntax, a known service, an RPC its descriptor
 * has) and resolves the RPC method descriptors. Call once at start; returns
 * 0, or BP_EINVAL after logging the faulty row. */
int gw_routes_init(void);

/* The table (static storage) and its length. */
const gw_route *gw_routes(size_t *n);

/* The RPC method of route index, or NULL for the gateway's own routes and
 * before gw_routes_init. */
const ProtobufCMethodDescriptor *gw_route_rpc(size_t index);

/* Matches a raw request path (no query; percent-escapes intact, len bytes)
 * and method. A single trailing slash is ignored; empty segments never
 * match. The first row in table order that matches wins, so a literal row
 * must precede a {param} row that would also match. Fills m. */
gw_match_result gw_route_match(const char *method, const char *path, size_t len, gw_match *m);

/* gw_route_match over another table (patterns already valid): for tests. */
gw_match_result gw_route_match_in(const gw_route *table, size_t n_routes, const char *method,
                                  const char *path, size_t len, gw_match *m);

/* True when pattern is "/" then 1 to GW_MAX_SEGMENTS non-empty segments,
 * each a literal without '{', '}' or '%', or a whole-segment {name} of
 * [a-z0-9_] (at most GW_MAX_PARAMS of them, names under
 * GW_PARAM_NAME_MAX). */
bool gw_route_pattern_valid(const char *pattern);

/* Returns "public", "user" or "optional"; and "none", "api", "auth",
 * "booking" or "payments". */
const char *gw_auth_name(gw_auth a);
const char *gw_rate_name(gw_rate_class c);

#endif
