/* Small helpers every module uses: error names, clocks, UUIDs, RFC 3339
 * times (formatted in a named zone, parsed) and constant-time comparison. */
#include "bp.h"

#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

const char *bp_strerror(int rv)
{
    switch (rv) {
    case BP_OK:
        return "ok";
    case BP_EINVAL:
        return "invalid argument";
    case BP_ENOMEM:
        return "out of memory";
    case BP_EIO:
        return "i/o error";
    case BP_ENOTFOUND:
        return "not found";
    case BP_ETIMEDOUT:
        return "timed out";
    case BP_EUNAVAIL:
        return "unavailable";
    case BP_ECONFLICT:
        return "conflict";
    case BP_ETOOBIG:
        return "too big";
    case BP_EPROTO:
        return "protocol error";
    case BP_EREPLIED:
        return "error reply";
    default:
        return "unknown error";
    }
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bp_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t bp_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* Random bytes come from the kernel in blocks of 4 KiB per thread: a
 * request id costs no system call (libuuid makes five). */
static _Thread_local unsigned char rand_pool[4096];
static _Thread_local size_t rand_left;

void bp_uuid(char out[37])
{
    uuid_t u;
    if (rand_left < sizeof u) {
        if (getrandom(rand_pool, sizeof rand_pool, 0) != (ssize_t)sizeof rand_pool) {
            uuid_generate_random(u);
            uuid_unparse_lower(u, out);
            return;
        }
        rand_left = sizeof rand_pool;
    }
    rand_left -= sizeof u;
    memcpy(u, rand_pool + rand_left, sizeof u);
    explicit_bzero(rand_pool + rand_left, sizeof u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_unparse_lower(u, out);
}

int bp_uuid_valid(const char *s)
{
    uuid_t u;
    if (s == NULL || strlen(s) != 36)
        return 0;
    return uuid_parse(s, u) == 0;
}

int bp_time_format(int64_t epoch_ms, const char *tz, char *out, size_t len)
{
    if (tz == NULL || *tz == '\0') {
        tz = getenv("TIMEZONE");
        if (tz == NULL || *tz == '\0')
            tz = "America/Argentina/Buenos_Aires";
    }
    const bp_tz *zone;
    if (out == NULL || len < 26 || bp_tz_load(tz, &zone) != BP_OK)
        return BP_EINVAL;

    int64_t secs = epoch_ms / 1000 - (epoch_ms % 1000 < 0);
    return bp_tz_format(zone, secs, out);
}

/* n decimal digits at s, or -1. */
static int fixed_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int bp_time_parse(const char *s, int64_t *epoch_ms)
{
    if (s == NULL || epoch_ms == NULL || strnlen(s, 20) < 20)
        return BP_EINVAL;
    int y = fixed_digits(s, 4), mo = fixed_digits(s + 5, 2), d = fixed_digits(s + 8, 2);
    int h = fixed_digits(s + 11, 2), mi = fixed_digits(s + 14, 2), sec = fixed_digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return BP_EINVAL;
    /* The day must exist: it survives a round trip through day numbers. */
    int32_t days = bp_days_from_civil(y, mo, d);
    int cy, cm, cd;
    bp_civil_from_days(days, &cy, &cm, &cd);
    if (cy != y || cm != mo || cd != d)
        return BP_EINVAL;

    const char *p = s + 19;
    int64_t ms = 0;
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
        if (nd == 0 || nd > 9)
            return BP_EINVAL;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        /* Each read stops at the first non-digit, so never passes the NUL. */
        int oh = fixed_digits(p + 1, 2);
        int om = oh < 0 || p[3] != ':' ? -1 : fixed_digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return BP_EINVAL;
        off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return BP_EINVAL;
    }
    if (*p != '\0')
        return BP_EINVAL;
    int64_t secs = (int64_t)days * 86400 + h * 3600 + mi * 60 + sec - off;
    *epoch_ms = secs * 1000 + ms;
    return BP_OK;
}

int bp_ct_compare(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= x[i] ^ y[i];
    return diff;
}

int64_t bp_backoff_ms(int64_t first_ms, int64_t max_ms, int n)
{
    int64_t d = first_ms;
    for (int i = 0; i < n && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    int64_t spread = d / 5;
    if (spread > 0)
        d += (int64_t)arc4random_uniform((uint32_t)(2 * spread + 1)) - spread;
    return d > 0 ? d : 1;
}
