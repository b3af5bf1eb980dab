/* Every HTTP answer of the gateway: the JSON error body of API.md, the
 * headers every response carries (request id, security headers, CORS) and
 * queueing on the connection. */
#ifndef GW_RESPOND_H
#define GW_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <microhttpd.h>

#include "gw_request.h"

#define GW_JSON               "application/json; charset=utf-8"
#define GW_CORS_MAX_ORIGINS   32
#define GW_CORS_ALLOW_HEADERS "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
#define GW_CORS_ALL_METHODS   "GET, POST, PUT, PATCH, DELETE, OPTIONS"
#define GW_CORS_MAX_AGE       "600"
#define GW_CORS_EXPOSE_HEADERS                                                                     \
    "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"

/* What the common headers of one response depend on. */
typedef struct {
    const char *request_id;     /* X-Request-Id, always sent */
    const char *origin;         /* the request's Origin, or NULL */
    const char *allow;          /* Allow (405) and, for a preflight, the allowed methods */
    bool preflight;             /* add Access-Control-Allow-Methods/-Headers/-Max-Age */
    bool close;                 /* Connection: close */
    const gw_rate_result *rate; /* RateLimit-* when checked; Retry-After when refused */
    const gw_header *extra;     /* the op's own headers */
    size_t n_extra;
} gw_resp_meta;

/* Parses CORS_ORIGIN: comma-separated origins "scheme://host[:port]"
 * (http or https; one trailing slash tolerated; blanks around commas
 * ignored; "" allows none). Replaces the current list; call before the
 * server starts. Returns 0, or BP_EINVAL (the list is then empty). */
int gw_cors_configure(const char *list);

/* True when origin is exactly one of the configured origins. */
bool gw_cors_allowed(const char *origin);

/* True when s is an acceptable client request id: 1 to 128 characters of
 * [A-Za-z0-9._-]. */
bool gw_request_id_valid(const char *s);

/* The fixed error code and Spanish message the gateway uses for an HTTP
 * status it answers by itself (static strings). */
const char *gw_error_code(int status);
const char *gw_error_message(int status);

/* The error body {"error":{"code","message","request_id","field"?}} as
 * compact JSON. field may be NULL (left out). Returns a string the caller
 * frees with free(), or NULL on ENOMEM. */
char *gw_error_body(const char *code, const char *message, const char *request_id,
                    const char *field);

/* A response of body[0..len) with the common headers. Takes ownership of
 * body (malloc'd; NULL when len is 0), which libmicrohttpd frees. Returns
 * NULL on ENOMEM (body freed). The caller queues and destroys it. */
struct MHD_Response *gw_response_new(char *body, size_t len, const char *content_type,
                                     const gw_resp_meta *meta);

/* Queues a response on req's connection and marks the request answered.
 * Takes ownership of body as gw_response_new does. */
enum MHD_Result gw_answer(gw_request *req, int status, char *body, size_t len,
                          const char *content_type);

/* Answers doc as JSON (steals the reference). */
enum MHD_Result gw_answer_json(gw_request *req, int status, json_t *doc);

/* Answers an error. NULL code or message take gw_error_code/_message of
 * status; field may be NULL. */
enum MHD_Result gw_answer_error(gw_request *req, int status, const char *code, const char *message,
                                const char *field);

/* Adds a header to req's answer (see gw_header); false when GW_EXTRA_HEADERS
 * are taken. */
bool gw_request_add_header(gw_request *req, const char *name, const char *value);

/* Answers a CORS preflight: 204 with the methods of the path. */
enum MHD_Result gw_answer_preflight(gw_request *req);

#endif
