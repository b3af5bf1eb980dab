/* Percent-decoding, UTF-8 validation and query strings for the gateway. */
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "gw_url.h"

bool gw_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t extra;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
    }
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int gw_url_decode(const char *src, size_t len, bool plus_is_space, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3)
                return BP_EINVAL;
            int hi = hex_value(src[i + 1]), lo = hex_value(src[i + 2]);
            if (hi < 0 || lo < 0)
                return BP_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0')
            return BP_EINVAL;
        out[o++] = c;
    }
    out[o] = '\0';
    if (!gw_utf8_valid(out, o))
        return BP_EINVAL;
    *out_len = o;
    return 0;
}

int gw_query_parse(const char *query, size_t len, gw_query **out)
{
    /* Each decoded string is no longer than its source, plus a NUL for every
     * name and value: len + 2 per pair bounds the text. */
    gw_query *q = malloc(sizeof *q + len + 2 * GW_MAX_QUERY_PARAMS + 2);
    if (q == NULL)
        return BP_ENOMEM;
    q->n = 0;
    char *text = q->text;
    size_t pos = 0;
    int rv = 0;
    while (pos < len) {
        const char *pair = query + pos;
        const char *amp = memchr(pair, '&', len - pos);
        size_t pair_len = amp != NULL ? (size_t)(amp - pair) : len - pos;
        pos += pair_len + 1;
        if (pair_len == 0)
            continue;
        if (q->n == GW_MAX_QUERY_PARAMS) {
            rv = BP_ETOOBIG;
            goto fail;
        }
        const char *eq = memchr(pair, '=', pair_len);
        size_t name_len = eq != NULL ? (size_t)(eq - pair) : pair_len;
        const char *value = eq != NULL ? eq + 1 : pair + pair_len;
        size_t value_len = pair_len - name_len - (eq != NULL ? 1 : 0);
        size_t n;
        gw_query_param *p = &q->params[q->n];
        if (gw_url_decode(pair, name_len, true, text, &n) != 0) {
            rv = BP_EINVAL;
            goto fail;
        }
        p->name = text;
        text += n + 1;
        if (gw_url_decode(value, value_len, true, text, &n) != 0) {
            rv = BP_EINVAL;
            goto fail;
        }
        p->value = text;
        text += n + 1;
        q->n++;
    }
    *out = q;
    return 0;
fail:
    free(q);
    return rv;
}

const char *gw_list_next(const char **cursor, size_t *len)
{
    const char *p = *cursor;
    if (*p == '\0')
        return NULL;
    const char *comma = strchr(p, ',');
    size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
    *cursor = comma != NULL ? comma + 1 : p + n;
    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    *len = n;
    return p;
}
