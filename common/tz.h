/* IANA time zones read from /usr/share/zoneinfo, usable from any thread
 * without touching the process TZ, and proleptic Gregorian date helpers. */
#ifndef BP_TZ_H
#define BP_TZ_H

#include <stdint.h>

typedef struct bp_tz bp_tz;

/* Longest zone name accepted by bp_tz_load. */
#define BP_TZ_NAME_MAX 64

/* Loads the zone name (e.g. "America/Argentina/Buenos_Aires") from its TZif
 * file (version 2 or later; the 64-bit data and the POSIX TZ footer that
 * governs instants after the last transition). The name must be 1 to 64
 * characters of ASCII letters, digits, '/', '_', '-' and '+', must not start
 * with '/' and must not contain "..". Zones are cached for the life of the
 * process: *out points into the cache and is never freed by the caller, and
 * loading the same name again is a lock-free lookup. Returns 0, BP_EINVAL for
 * a malformed or unknown name or a file that is not a usable TZif zone (files
 * with leap seconds, "right/..." zones, are refused), BP_ENOMEM or BP_EIO. */
int bp_tz_load(const char *name, const bp_tz **out);

/* Frees every cached zone. Only for the end of tests or of the process: no
 * other thread may hold a bp_tz pointer or call bp_tz_load meanwhile. */
void bp_tz_cache_free(void);

/* Builds a zone from a POSIX TZ string alone, e.g. "EST5EDT,M3.2.0,M11.1.0"
 * or "<-03>3" (Mm.w.d, Jn and n dates, /time from -167 to 167 hours),
 * without history: for tests against glibc and for rules no file has. Not
 * cached: the caller frees *out with bp_tz_free. Returns 0, BP_EINVAL for a
 * malformed string, or BP_ENOMEM. */
int bp_tz_posix_new(const char *spec, bp_tz **out);

/* Frees a zone from bp_tz_posix_new (NULL is ignored). Never pass a zone
 * from bp_tz_load. */
void bp_tz_free(bp_tz *tz);

/* Returns the zone's name as given to bp_tz_load, or the POSIX string of
 * bp_tz_posix_new; owned by the zone. */
const char *bp_tz_name(const bp_tz *tz);

/* Returns the offset of local time from UTC, in seconds east of Greenwich, at
 * the instant utc_s (Unix seconds). */
int bp_tz_offset(const bp_tz *tz, int64_t utc_s);

/* The local date (days since 1970-01-01) of instant utc_s in tz. */
int32_t bp_tz_local_day(const bp_tz *tz, int64_t utc_s);

/* Writes instant utc_s as RFC 3339 with tz's offset cut to whole minutes
 * ("2026-12-04T15:30:00-03:00", 25 characters and a NUL) into out. Returns
 * 0, or BP_EINVAL for a year outside 0000..9999. */
int bp_tz_format(const bp_tz *tz, int64_t utc_s, char out[26]);

/* Converts a local wall-clock time (seconds since 1970-01-01T00:00 local) to
 * the instant it denotes. A wall time the clocks skip (the spring-forward gap)
 * returns BP_ENOTFOUND; a wall time that happens twice (the fall-back
 * repetition) gives the EARLIER instant, i.e. the one before the clocks go
 * back. Returns 0 with *utc_s set, BP_ENOTFOUND, or BP_EINVAL for a NULL
 * argument or a time beyond +-2^62 s. */
int bp_tz_local_to_utc(const bp_tz *tz, int64_t local_s, int64_t *utc_s);

/* Like bp_tz_local_to_utc, but a wall time inside a gap gives the instant the
 * gap starts (the transition): the first instant whose wall time is later.
 * This is the right reading for the end of a span ("open until 00:30" on a
 * night the clocks jump from 00:00 to 01:00 ends at the jump). Returns 0 or
 * BP_EINVAL. */
int bp_tz_local_to_utc_end(const bp_tz *tz, int64_t local_s, int64_t *utc_s);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. m and d are
 * not checked (d = 0 is the last day of the previous month); y must lie
 * within +-5,000,000. */
int32_t bp_days_from_civil(int y, int m, int d);

/* The date of a day number (days since 1970-01-01), inverse of
 * bp_days_from_civil. */
void bp_civil_from_days(int32_t days, int *y, int *m, int *d);

/* ISO weekday of a day number: 1 = Monday .. 7 = Sunday. */
int bp_iso_weekday(int32_t days);

/* Parses exactly "YYYY-MM-DD" (a real calendar date, years 1970 to 9999)
 * into *days. Returns 0 or BP_EINVAL (then *days is untouched). */
int bp_date_parse(const char *s, int32_t *days);

/* Writes a day number as "YYYY-MM-DD" into out[11]. Returns 0, or BP_EINVAL
 * for a year outside 0 to 9999 (out is then ""). */
int bp_date_format(int32_t days, char out[11]);

#endif
