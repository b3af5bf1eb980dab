/* TRUSTED_PROXIES and the client address behind them. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "gw_forwarded.h"
#include "gw_url.h"

/* Addresses are compared as 16 bytes: IPv4 as IPv4-mapped IPv6, so that a
 * v4 CIDR also covers a v4 peer seen on a dual-stack socket. */
typedef struct {
    uint8_t net[16];
    int bits; /* prefix length over the 16 bytes */
} cidr;

static cidr trusted[GW_TRUSTED_MAX];
static size_t n_trusted;

/* Parses an IPv4 or IPv6 address of len bytes into 16 bytes. */
static bool parse_addr(const char *s, size_t len, uint8_t out[16], bool *v4)
{
    char text[GW_ADDR_MAX];
    if (len == 0 || len >= sizeof text)
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = true;
        return true;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, text, &a6) == 1) {
        memcpy(out, &a6, 16);
        *v4 = IN6_IS_ADDR_V4MAPPED(&a6);
        return true;
    }
    return false;
}

static bool in_cidr(const cidr *c, const uint8_t a[16])
{
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->net, a, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->net[full] & mask) == (a[full] & mask);
}

/* "a.b.c.d", "a.b.c.d/n", "v6", "v6/n" of len bytes. */
static bool parse_cidr(const char *s, size_t len, cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - s) : len;
    bool v4;
    if (!parse_addr(s, alen, out->net, &v4))
        return false;
    int max = v4 ? 32 : 128, bits = max;
    if (slash != NULL) {
        size_t blen = len - alen - 1;
        if (blen == 0 || blen > 3)
            return false;
        bits = 0;
        for (size_t i = 0; i < blen; i++) {
            char c = slash[1 + i];
            if (c < '0' || c > '9')
                return false;
            bits = bits * 10 + (c - '0');
        }
        if (bits > max)
            return false;
    }
    out->bits = v4 ? 96 + bits : bits;
    /* Clear the host bits so that "10.1.2.3/8" means 10.0.0.0/8. */
    for (int i = out->bits; i < 128; i++)
        out->net[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
    return true;
}

/* Trims blanks around s[0..*len) and returns the new start. */
static const char *trim(const char *s, size_t *len)
{
    while (*len > 0 && (*s == ' ' || *s == '\t'))
        s++, (*len)--;
    while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
    return s;
}

int gw_trusted_configure(const char *list)
{
    n_trusted = 0;
    const char *cursor = list, *s;
    size_t len;
    while ((s = gw_list_next(&cursor, &len)) != NULL) {
        if (len == 0)
            continue;
        if (n_trusted == GW_TRUSTED_MAX || !parse_cidr(s, len, &trusted[n_trusted])) {
            n_trusted = 0;
            return BP_EINVAL;
        }
        n_trusted++;
    }
    return 0;
}

static bool trusted_bytes(const uint8_t a[16])
{
    for (size_t i = 0; i < n_trusted; i++)
        if (in_cidr(&trusted[i], a))
            return true;
    return false;
}

bool gw_trusted(const char *addr)
{
    uint8_t a[16];
    bool v4;
    return addr != NULL && parse_addr(addr, strlen(addr), a, &v4) && trusted_bytes(a);
}

/* Writes the canonical text of a (IPv4 for a mapped address). */
static void format_addr(const uint8_t a[16], bool v4, char *out, size_t size)
{
    if (v4 || IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a))
        inet_ntop(AF_INET, a + 12, out, (socklen_t)size);
    else
        inet_ntop(AF_INET6, a, out, (socklen_t)size);
}

void gw_client_address(const char *peer, const char *xff, char *out, size_t size)
{
    snprintf(out, size, "%s", peer);
    if (xff == NULL || n_trusted == 0 || !gw_trusted(peer))
        return;
    /* From the right: each entry was appended by the hop to its right, so
     * it is believable while that hop is a trusted proxy. */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t len = end - start;
        const char *s = trim(xff + start, &len);
        end = start > 0 ? start - 1 : 0;
        if (len == 0)
            continue;
        uint8_t a[16];
        bool v4;
        if (!parse_addr(s, len, a, &v4))
            return; /* not an address: keep the last believable one */
        format_addr(a, v4, out, size);
        if (!trusted_bytes(a))
            return;
    }
}

void gw_address_subject(const char *addr, char *out, size_t size)
{
    uint8_t a[16];
    bool v4;
    char text[GW_ADDR_MAX];
    if (!parse_addr(addr, strlen(addr), a, &v4)) {
        snprintf(out, size, "ip:%s", addr);
        return;
    }
    if (!v4)
        memset(a + 8, 0, 8);
    format_addr(a, v4, text, sizeof text);
    snprintf(out, size, v4 ? "ip:%s" : "ip:%s/64", text);
}
