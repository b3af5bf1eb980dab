/* multipart/form-data, parsed as it streams in. The body is a preamble
 * (ignored), then parts each introduced by a delimiter line "--boundary"
 * and a header block, and a closing "--boundary--"; inside a part, the
 * content runs until "\r\n--boundary". The search for that delimiter
 * carries its partial match from one piece of the body to the next, so a
 * piece may end anywhere. The delimiter's first byte (CR) occurs nowhere
 * else in it (a boundary holds no CR), so on a mismatch the search simply
 * restarts at the current byte and what had matched is content. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bp.h"
#include "gw_multipart.h"

#define DELIM_MAX  (4 + GW_MULTIPART_BOUNDARY_MAX) /* "\r\n--" boundary */
#define OUT_BUFFER 4096                            /* content handed on in runs of this much */
#define PARAM_NAME 32                              /* longest parameter name */

typedef enum {
    MP_PREAMBLE,    /* before the first delimiter */
    MP_AFTER_DELIM, /* right after "--boundary": "--", padding or CRLF */
    MP_DASH2,       /* the second '-' of the closing delimiter */
    MP_PADDING,     /* spaces and tabs before the delimiter line's CRLF */
    MP_LF,          /* the LF of the delimiter line */
    MP_HEADERS,     /* a part's header lines */
    MP_CONTENT,     /* a part's content */
    MP_EPILOGUE,    /* after the closing delimiter: ignored */
} mp_state;

struct gw_multipart {
    const gw_multipart_callbacks *cb;
    void *cls;
    char delim[DELIM_MAX + 1];
    size_t dlen;
    size_t match; /* bytes of delim matched at the end of what was read */
    mp_state state;
    int failed; /* the sticky error, or 0 */
    size_t parts;
    size_t headers;       /* header lines of the current part */
    bool has_disposition; /* the current part had its Content-Disposition */
    bool has_name;        /* and a usable name in it */
    char name[GW_MULTIPART_NAME_MAX + 1];
    char line[GW_MULTIPART_LINE_MAX];
    size_t line_len;
    char out[OUT_BUFFER];
    size_t out_len;
};

/* RFC 2046 bcharsnospace, plus the space allowed inside. */
static bool bchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           strchr("'()+_,-./:=? ", c) != NULL;
}

/* RFC 9110 tchar: the characters of a token. */
static bool tchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The next "; name=value" parameter of a header value at *pp: the name (a
 * token, at most PARAM_NAME - 1 characters) into name, the value (a quoted
 * string with backslash escapes, or a run of visible characters other than
 * ';' and '"') into value, truncated to vsize - 1 bytes with *truncated
 * set. Returns 1 with *pp after it, 0 at the end of the value (a trailing
 * ';' tolerated), or -1 when malformed. */
static int param_next(const char **pp, char name[PARAM_NAME], char *value, size_t vsize,
                      bool *truncated)
{
    const char *p = skip_ows(*pp);
    if (*p == '\0')
        return 0;
    if (*p != ';')
        return -1;
    p = skip_ows(p + 1);
    if (*p == '\0')
        return 0;
    size_t n = 0;
    for (; tchar(*p); p++) {
        if (n + 1 == PARAM_NAME)
            return -1;
        name[n++] = *p;
    }
    name[n] = '\0';
    if (n == 0 || *p != '=')
        return -1;
    p++;
    size_t v = 0;
    *truncated = false;
    if (*p == '"') {
        for (p++;; p++) {
            char c = *p;
            if (c == '\0')
                return -1; /* no closing quote */
            if (c == '"')
                break;
            if (c == '\\' && (c = *++p) == '\0')
                return -1;
            if (v + 1 < vsize)
                value[v++] = c;
            else
                *truncated = true;
        }
        p++;
    } else {
        for (; (unsigned char)*p > 0x20 && *p != 0x7f && *p != ';' && *p != '"'; p++) {
            if (v + 1 < vsize)
                value[v++] = *p;
            else
                *truncated = true;
        }
        if (v == 0)
            return -1;
    }
    value[v] = '\0';
    *pp = p;
    return 1;
}

int gw_multipart_boundary(const char *content_type, char out[GW_MULTIPART_BOUNDARY_MAX + 1])
{
    static const char type[] = "multipart/form-data";
    if (content_type == NULL)
        return BP_ENOTFOUND;
    const char *p = skip_ows(content_type);
    if (strncasecmp(p, type, sizeof type - 1) != 0)
        return BP_ENOTFOUND;
    p = skip_ows(p + sizeof type - 1);
    if (*p != '\0' && *p != ';')
        return BP_ENOTFOUND; /* another type that starts alike */

    bool found = false;
    char name[PARAM_NAME];
    char value[GW_MULTIPART_BOUNDARY_MAX + 1];
    bool truncated;
    int rv;
    while ((rv = param_next(&p, name, value, sizeof value, &truncated)) == 1) {
        if (strcasecmp(name, "boundary") != 0)
            continue;
        size_t len = strlen(value);
        if (found || truncated || len == 0 || value[len - 1] == ' ')
            return BP_EINVAL;
        for (size_t i = 0; i < len; i++)
            if (!bchar(value[i]))
                return BP_EINVAL;
        memcpy(out, value, len + 1);
        found = true;
    }
    return rv == 0 && found ? 0 : BP_EINVAL;
}

gw_multipart *gw_multipart_new(const char *boundary, const gw_multipart_callbacks *cb, void *cls)
{
    size_t blen = strlen(boundary);
    if (blen == 0 || blen > GW_MULTIPART_BOUNDARY_MAX)
        return NULL;
    gw_multipart *mp = calloc(1, sizeof *mp);
    if (mp == NULL)
        return NULL;
    mp->cb = cb;
    mp->cls = cls;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen + 1);
    mp->dlen = 4 + blen;
    /* The first delimiter may open the body: read as if a CRLF came first. */
    mp->match = 2;
    mp->state = MP_PREAMBLE;
    return mp;
}

void gw_multipart_free(gw_multipart *mp)
{
    free(mp);
}

bool gw_multipart_done(const gw_multipart *mp)
{
    return mp->failed == 0 && mp->state == MP_EPILOGUE;
}

static int out_flush(gw_multipart *mp)
{
    if (mp->out_len == 0)
        return 0;
    size_t n = mp->out_len;
    mp->out_len = 0;
    return mp->cb->part_data(mp->cls, mp->out, n);
}

/* Hands on n bytes of content, in order, through the run buffer. */
static int out_add(gw_multipart *mp, const char *p, size_t n)
{
    if (n > sizeof mp->out - mp->out_len) {
        int rv = out_flush(mp);
        if (rv != 0)
            return rv;
    }
    if (n >= sizeof mp->out)
        return mp->cb->part_data(mp->cls, p, n);
    memcpy(mp->out + mp->out_len, p, n);
    mp->out_len += n;
    return 0;
}

/* Looks for the delimiter in data[*i..n), handing what precedes it on as
 * content when emit is set. Returns 0 with *found and *i just after the
 * delimiter, or with *i == n when the piece ran out first; or a callback's
 * code. */
static int scan(gw_multipart *mp, const char *data, size_t n, size_t *i, bool emit, bool *found)
{
    size_t k = *i;
    int rv = 0;
    *found = false;
    while (k < n && rv == 0) {
        if (mp->match == 0) {
            const char *cr = memchr(data + k, '\r', n - k);
            size_t end = cr != NULL ? (size_t)(cr - data) : n;
            if (emit && end > k)
                rv = out_add(mp, data + k, end - k);
            k = end;
            if (cr != NULL) {
                mp->match = 1;
                k++;
            }
        } else if (data[k] == mp->delim[mp->match]) {
            k++;
            if (++mp->match == mp->dlen) {
                mp->match = 0;
                *found = true;
                break;
            }
        } else {
            /* What matched was content; data[k] is looked at again. */
            if (emit)
                rv = out_add(mp, mp->delim, mp->match);
            mp->match = 0;
        }
    }
    *i = k;
    return rv;
}

/* One header line of a part (NUL-terminated, no CRLF). Only
 * Content-Disposition matters: its type must be form-data and its name
 * parameter names the field. The filename parameter is skipped unread. */
static int header_line(gw_multipart *mp)
{
    static const char disposition[] = "Content-Disposition";
    const char *colon = strchr(mp->line, ':');
    if (colon == NULL || colon == mp->line)
        return BP_EINVAL;
    if ((size_t)(colon - mp->line) != sizeof disposition - 1 ||
        strncasecmp(mp->line, disposition, sizeof disposition - 1) != 0)
        return 0;
    if (mp->has_disposition)
        return BP_EINVAL; /* two of them: which one would count? */
    mp->has_disposition = true;

    static const char form_data[] = "form-data";
    const char *p = skip_ows(colon + 1);
    if (strncasecmp(p, form_data, sizeof form_data - 1) != 0 || tchar(p[sizeof form_data - 1]))
        return BP_EINVAL;
    p += sizeof form_data - 1;

    bool seen_name = false;
    char name[PARAM_NAME];
    char value[GW_MULTIPART_NAME_MAX + 1];
    bool truncated;
    int rv;
    while ((rv = param_next(&p, name, value, sizeof value, &truncated)) == 1) {
        if (strcasecmp(name, "name") != 0)
            continue;
        if (seen_name)
            return BP_EINVAL;
        seen_name = true;
        if (!truncated) {
            memcpy(mp->name, value, strlen(value) + 1);
            mp->has_name = true;
        }
    }
    return rv == 0 ? 0 : BP_EINVAL;
}

/* The next byte of a part's header block. */
static int header_byte(gw_multipart *mp, char c)
{
    if (c != '\n') {
        if (c == '\0')
            return BP_EINVAL;
        if (mp->line_len == sizeof mp->line - 1)
            return BP_ETOOBIG;
        mp->line[mp->line_len++] = c;
        return 0;
    }
    if (mp->line_len > 0 && mp->line[mp->line_len - 1] == '\r')
        mp->line_len--;
    mp->line[mp->line_len] = '\0';
    if (mp->line_len == 0) {
        /* The blank line: the content starts. */
        mp->state = MP_CONTENT;
        mp->match = 0;
        return mp->cb->part_begin(mp->cls, mp->has_name ? mp->name : NULL);
    }
    mp->line_len = 0;
    if (++mp->headers > GW_MULTIPART_HEADERS_MAX)
        return BP_ETOOBIG;
    return header_line(mp);
}

/* The next byte after a delimiter: "--" closes the body, otherwise
 * optional padding and CRLF open a part. */
static int delimiter_byte(gw_multipart *mp, char c)
{
    switch (mp->state) {
    case MP_AFTER_DELIM:
        if (c == '-') {
            mp->state = MP_DASH2;
            return 0;
        }
        /* fall through */
    case MP_PADDING:
        if (c == ' ' || c == '\t') {
            mp->state = MP_PADDING;
            return 0;
        }
        if (c != '\r')
            return BP_EINVAL;
        mp->state = MP_LF;
        return 0;
    case MP_DASH2:
        if (c != '-')
            return BP_EINVAL;
        mp->state = MP_EPILOGUE;
        return 0;
    case MP_LF:
        if (c != '\n')
            return BP_EINVAL;
        if (++mp->parts > GW_MULTIPART_PARTS_MAX)
            return BP_ETOOBIG;
        mp->state = MP_HEADERS;
        mp->headers = 0;
        mp->line_len = 0;
        mp->has_disposition = false;
        mp->has_name = false;
        return 0;
    default:
        return BP_EINVAL;
    }
}

int gw_multipart_feed(gw_multipart *mp, const char *data, size_t n)
{
    size_t i = 0;
    int rv = mp->failed;
    while (rv == 0 && i < n) {
        switch (mp->state) {
        case MP_PREAMBLE:
        case MP_CONTENT: {
            bool content = mp->state == MP_CONTENT, found;
            rv = scan(mp, data, n, &i, content, &found);
            if (rv == 0 && found) {
                if (content && (rv = out_flush(mp)) == 0)
                    rv = mp->cb->part_end(mp->cls);
                mp->state = MP_AFTER_DELIM;
            }
            break;
        }
        case MP_HEADERS:
            rv = header_byte(mp, data[i++]);
            break;
        case MP_EPILOGUE:
            i = n;
            break;
        default:
            rv = delimiter_byte(mp, data[i++]);
            break;
        }
    }
    /* What was read of this piece is handed on now, not with the next. */
    if (rv == 0 && mp->state == MP_CONTENT)
        rv = out_flush(mp);
    mp->failed = rv;
    return rv;
}
