/* Small helpers every module uses: error names, clocks, UUIDs, RFC 3339
 * times in a named zone and constant-time comparison. */
#include "bp.h"

#include <pthread.h>
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

/* localtime_r depends on the process-wide TZ, so switching zones is
 * serialised; the common case (the default zone) is cached by glibc. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

int bp_time_format(int64_t epoch_ms, const char *tz, char *out, size_t len)
{
    static char current_tz[64];
    if (tz == NULL || *tz == '\0') {
        tz = getenv("TIMEZONE");
        if (tz == NULL || *tz == '\0')
            tz = "America/Argentina/Buenos_Aires";
    }
    if (strlen(tz) >= sizeof current_tz || out == NULL || len < 26)
        return BP_EINVAL;

    time_t secs = (time_t)(epoch_ms / 1000);
    struct tm tm;
    pthread_mutex_lock(&tz_lock);
    if (strcmp(current_tz, tz) != 0) {
        setenv("TZ", tz, 1);
        tzset();
        snprintf(current_tz, sizeof current_tz, "%s", tz);
    }
    struct tm *ok = localtime_r(&secs, &tm);
    pthread_mutex_unlock(&tz_lock);
    if (ok == NULL)
        return BP_EINVAL;

    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    int n = snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 3600,
                     (off % 3600) / 60);
    return (n > 0 && (size_t)n < len) ? BP_OK : BP_EINVAL;
}

int bp_ct_compare(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= x[i] ^ y[i];
    return diff;
}
