/* Request-target parsing for the gateway: percent-decoding, UTF-8 checks and
 * the query string. The gateway parses the raw target itself (libmicrohttpd
 * would decode %2F before routing), so a path parameter may hold any byte. */
#ifndef GW_URL_H
#define GW_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest request target (path and query) the gateway accepts: 414 above. */
#define GW_MAX_TARGET 2048
/* Most query parameters in one request: 400 above. */
#define GW_MAX_QUERY_PARAMS 32

/* Returns true when s[0..len) is well-formed UTF-8 (no overlong forms,
 * surrogates or code points above U+10FFFF). */
bool gw_utf8_valid(const char *s, size_t len);

/* Decodes the percent-escapes of src[0..len) into out, which has room for
 * len + 1 bytes, and NUL-terminates it; with plus_is_space a '+' becomes a
 * space (query strings). Returns 0 and *out_len, or BP_EINVAL when an escape
 * is malformed or the result holds a NUL byte or is not UTF-8. */
int gw_url_decode(const char *src, size_t len, bool plus_is_space, char *out, size_t *out_len);

typedef struct {
    const char *name;  /* decoded, NUL-terminated, inside the gw_query */
    const char *value; /* decoded; "" for "?flag" */
} gw_query_param;

typedef struct {
    size_t n;
    gw_query_param params[GW_MAX_QUERY_PARAMS];
    char text[]; /* the decoded strings */
} gw_query;

/* Parses a query string (the part after '?', len bytes, no fragment) into a
 * new gw_query; empty pairs ("a=1&&b=2") are skipped. Returns 0 and *out
 * (caller frees with free()), BP_ETOOBIG when there are more than
 * GW_MAX_QUERY_PARAMS parameters, BP_EINVAL on a bad escape, BP_ENOMEM. */
int gw_query_parse(const char *query, size_t len, gw_query **out);

/* Walks a comma-separated setting ("a, b,c"): returns the next item at
 * *cursor with the blanks around it trimmed (its length in *len, 0 for an
 * empty item, which callers skip) and moves *cursor past it; NULL at the
 * end of the string. */
const char *gw_list_next(const char **cursor, size_t *len);

#endif
