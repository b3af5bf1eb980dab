/* The outbound HTTP client: one libcurl easy handle per call, so calls from
 * many threads never share state; every call has a deadline and a size cap. */
#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bp.h"
#include "log.h"

/* Headers beyond this are an abuse, not an answer. */
#define HEADER_BYTES_MAX (64u * 1024u)
#define KEPT_HEADERS_MAX 32u

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe in 7.88 and must run exactly once. */
static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int bp_http_global_init(void)
{
    pthread_once(&global_once, global_init);
    return global_rc == CURLE_OK ? 0 : BP_EIO;
}

typedef struct {
    const bp_http_request *req;
    bp_http_response *resp;
    size_t cap; /* bytes allocated for resp->body */
    size_t header_bytes;
    bool too_big;
    bool no_memory;
} transfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    transfer *t = arg;
    size_t n = size * nmemb;
    bp_http_response *r = t->resp;
    if (n > t->req->max_response_bytes - r->len) {
        t->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (r->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        if (cap > t->req->max_response_bytes + 1)
            cap = t->req->max_response_bytes + 1;
        char *p = realloc(r->body, cap);
        if (p == NULL) {
            t->no_memory = true;
            return 0;
        }
        r->body = p;
        t->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static bool wanted(const char *const *names, const char *name, size_t len)
{
    for (; names != NULL && *names != NULL; names++)
        if (strlen(*names) == len && strncasecmp(*names, name, len) == 0)
            return true;
    return false;
}

static char *trimmed_dup(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

/* Called once per header line, for every response including 1xx and the
 * hops of a redirect; only the last response's headers are kept. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    transfer *t = arg;
    size_t n = size * nmemb;
    bp_http_response *r = t->resp;
    t->header_bytes += n;
    if (t->header_bytes > HEADER_BYTES_MAX) {
        t->too_big = true;
        return 0;
    }
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new status line: forget what an earlier response said. */
        for (size_t i = 0; i < r->n_headers; i++) {
            free(r->headers[i].name);
            free(r->headers[i].value);
        }
        r->n_headers = 0;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (colon == NULL || !wanted(t->req->keep_headers, data, (size_t)(colon - data)))
        return n;
    if (r->headers == NULL) {
        r->headers = calloc(KEPT_HEADERS_MAX, sizeof *r->headers);
        if (r->headers == NULL) {
            t->no_memory = true;
            return 0;
        }
    }
    if (r->n_headers == KEPT_HEADERS_MAX)
        return n; /* the caller asked for a few; repeats past this are dropped */
    bp_http_header *h = &r->headers[r->n_headers];
    h->name = strndup(data, (size_t)(colon - data));
    h->value = trimmed_dup(colon + 1, n - (size_t)(colon + 1 - data));
    if (h->name == NULL || h->value == NULL) {
        free(h->name);
        free(h->value);
        t->no_memory = true;
        return 0;
    }
    r->n_headers++;
    return n;
}

static int map_error(CURLcode rc, const transfer *t)
{
    if (t->no_memory || rc == CURLE_OUT_OF_MEMORY)
        return BP_ENOMEM;
    if (t->too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return BP_ETOOBIG;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return BP_ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return BP_EUNAVAIL;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return BP_EINVAL;
    default:
        return BP_EIO;
    }
}

/* Builds the request's header list. "Expect:" stops curl from waiting a
 * second for a 100-continue that many servers never send. */
static int build_headers(const bp_http_request *req, struct curl_slist **out)
{
    struct curl_slist *list = NULL, *next;
    bool has_expect = false;
    for (const char *const *h = req->headers; h != NULL && *h != NULL; h++) {
        if (strncasecmp(*h, "Expect:", 7) == 0)
            has_expect = true;
        if ((next = curl_slist_append(list, *h)) == NULL)
            goto nomem;
        list = next;
    }
    if (req->body != NULL && !has_expect) {
        if ((next = curl_slist_append(list, "Expect:")) == NULL)
            goto nomem;
        list = next;
    }
    *out = list;
    return 0;
nomem:
    curl_slist_free_all(list);
    return BP_ENOMEM;
}

static bool setup(CURL *c, const bp_http_request *req, struct curl_slist *headers, transfer *t)
{
    const char *method = req->method != NULL ? req->method : "GET";
    long connect_ms = req->connect_timeout_ms > 0 && req->connect_timeout_ms < req->timeout_ms
                          ? req->connect_timeout_ms
                          : req->timeout_ms;
    bool ok = curl_easy_setopt(c, CURLOPT_URL, req->url) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_USERAGENT, "BarberPro/1") == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_response_bytes) ==
                  CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_WRITEDATA, t) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_HEADERDATA, t) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
    if (ok && req->follow_redirects)
        ok = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L) == CURLE_OK;
    if (!ok)
        return false;
    if (strcmp(method, "GET") == 0)
        return true;
    if (strcmp(method, "HEAD") == 0)
        return curl_easy_setopt(c, CURLOPT_NOBODY, 1L) == CURLE_OK;
    if (strcmp(method, "POST") != 0 &&
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
        return false;
    if (req->body != NULL || strcmp(method, "POST") == 0) {
        /* POSTFIELDS does not copy: body outlives the call, which is ours. */
        return curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) ==
                   CURLE_OK &&
               curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "") ==
                   CURLE_OK;
    }
    return true;
}

int bp_http_do(const bp_http_request *req, bp_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    if (req == NULL || req->url == NULL || req->timeout_ms <= 0 || req->max_response_bytes == 0 ||
        (req->body == NULL && req->body_len != 0))
        return BP_EINVAL;
    if (bp_http_global_init() != 0)
        return BP_EIO;

    struct curl_slist *headers = NULL;
    int rv = build_headers(req, &headers);
    if (rv != 0)
        return rv;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        curl_slist_free_all(headers);
        return BP_ENOMEM;
    }
    transfer t = {.req = req, .resp = resp};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (!setup(c, req, headers, &t)) {
        rv = BP_EINVAL;
        goto out;
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        rv = map_error(rc, &t);
        bp_log_debug("http %s: %s (%s)", req->method != NULL ? req->method : "GET",
                     errbuf[0] ? errbuf : curl_easy_strerror(rc), bp_strerror(rv));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (resp->body == NULL && (resp->body = calloc(1, 1)) == NULL) {
        rv = BP_ENOMEM;
        goto out;
    }
    rv = 0;
out:
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    if (rv != 0)
        bp_http_response_free(resp);
    return rv;
}

void bp_http_response_free(bp_http_response *resp)
{
    if (resp == NULL)
        return;
    for (size_t i = 0; i < resp->n_headers; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

const char *bp_http_header_get(const bp_http_response *resp, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            found = resp->headers[i].value;
    return found;
}
