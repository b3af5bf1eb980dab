/* Error codes and small helpers shared by every part of BarberPro. */
#ifndef BP_H
#define BP_H

#include <stddef.h>
#include <stdint.h>

/* Functions return 0 on success or one of these negative codes. */
enum {
    BP_OK = 0,
    BP_EINVAL = -1,    /* bad argument or input */
    BP_ENOMEM = -2,    /* allocation failed */
    BP_EIO = -3,       /* a database, Redis or socket operation failed */
    BP_ENOTFOUND = -4, /* no such thing */
    BP_ETIMEDOUT = -5, /* a deadline passed */
    BP_EUNAVAIL = -6,  /* the peer is not reachable */
    BP_ECONFLICT = -7, /* a uniqueness or state conflict */
    BP_ETOOBIG = -8,   /* a size limit was exceeded */
    BP_EPROTO = -9,    /* a peer sent something we cannot decode */
    BP_EREPLIED = -10, /* a handler already recorded an error reply */
};

/* Returns a short English name for a BP_E* code, for logs. */
const char *bp_strerror(int rv);

/* Number of elements of a true array. */
#define BP_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* Milliseconds since the Unix epoch, from CLOCK_REALTIME. */
int64_t bp_now_ms(void);

/* Milliseconds from CLOCK_MONOTONIC, for measuring durations. */
int64_t bp_mono_ms(void);

/* Writes a new random (version 4) UUID in canonical form into out[37]. */
void bp_uuid(char out[37]);

/* Returns 1 when s is a canonical UUID string (any version), else 0. */
int bp_uuid_valid(const char *s);

/* Formats a Unix-epoch millisecond time (whole seconds; milliseconds are
 * dropped toward the past) as RFC 3339 with the offset of the given IANA time
 * zone (NULL or "": TIMEZONE, else America/Argentina/Buenos_Aires), always as
 * +-hh:mm, never "Z", e.g. "2026-12-04T15:30:00-03:00". Thread-safe; the
 * process TZ is not used. Writes at most len (>= 26) bytes into out; returns
 * 0 or BP_EINVAL (bad zone, short buffer, a year outside 0000-9999). */
int bp_time_format(int64_t epoch_ms, const char *tz, char *out, size_t len);

/* Parses a strict RFC 3339 date-time, "YYYY-MM-DDTHH:MM:SS[.frac]" followed
 * by a required "Z" or "+hh:mm"/"-hh:mm" ('t' and 'z' accepted too), into
 * Unix milliseconds (a fraction of up to 9 digits is truncated to ms). Real
 * calendar dates only; leap seconds (":60") and offsets beyond 23:59 are
 * refused. Returns 0 with *epoch_ms set, or BP_EINVAL. */
int bp_time_parse(const char *s, int64_t *epoch_ms);

/* The wait before retry number n (0 for the first retry) of something that
 * failed: first_ms doubled n times, at most max_ms, then spread +-20 % at
 * random so that what failed together does not come back together. At
 * least 1. Thread-safe. */
int64_t bp_backoff_ms(int64_t first_ms, int64_t max_ms, int n);

/* Compares two byte strings in time independent of where they differ.
 * Returns 0 when equal. */
int bp_ct_compare(const void *a, const void *b, size_t len);

#endif
