/* The outbound HTTP client (libcurl) for every call the suite makes to the
 * internet: bounded in time and size, http/https only, no redirects unless
 * asked, safe to call from any thread at the same time. */
#ifndef BP_HTTP_H
#define BP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *method;              /* "GET" when NULL; "HEAD", "POST", "PUT", ... */
    const char *url;                 /* http:// or https:// only */
    const char *const *headers;      /* "Name: value" strings, NULL-terminated; may be NULL */
    const void *body;                /* sent as is; may be NULL */
    size_t body_len;                 /* bytes of body */
    long timeout_ms;                 /* the whole exchange; required, > 0 */
    long connect_timeout_ms;         /* 0: the same as timeout_ms */
    size_t max_response_bytes;       /* body cap, required, > 0; beyond it: BP_ETOOBIG */
    bool follow_redirects;           /* false: a 3xx is returned as the answer */
    const char *const *keep_headers; /* response header names to keep (any case),
                                        NULL-terminated; may be NULL */
} bp_http_request;

typedef struct {
    char *name; /* as the peer sent it */
    char *value;
} bp_http_header;

typedef struct {
    long status;             /* the HTTP status of the answer */
    char *body;              /* NUL-terminated; "" when empty; never NULL after 0 */
    size_t len;              /* bytes in body, the NUL not counted */
    bp_http_header *headers; /* only those named in keep_headers */
    size_t n_headers;
} bp_http_response;

/* Sends req and waits for the answer. Returns 0 when an HTTP answer arrived,
 * whatever its status; BP_EINVAL for a bad request (no url or timeout, a
 * scheme other than http/https); BP_ETIMEDOUT when timeout_ms passed;
 * BP_EUNAVAIL when the host could not be resolved or connected to;
 * BP_ETOOBIG when the body (or the headers, 64 KiB) went over the cap;
 * BP_ENOMEM; BP_EIO for anything else (TLS, a broken connection). On 0 the
 * caller owns resp's contents and frees them with bp_http_response_free; on
 * an error resp is left empty (freeing it is harmless). */
int bp_http_do(const bp_http_request *req, bp_http_response *resp);

/* Initialises libcurl once for the process (bp_http_do does it itself);
 * call it before using libcurl directly from threads, e.g. for SMTP.
 * Returns 0 or BP_EIO. */
int bp_http_global_init(void);

/* Frees what resp holds and empties it. resp itself is the caller's. */
void bp_http_response_free(bp_http_response *resp);

/* The value of the kept header called name (any case), or NULL. Borrowed
 * from resp. */
const char *bp_http_header_get(const bp_http_response *resp, const char *name);

#endif
