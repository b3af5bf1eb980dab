/* When backups run and which ones are kept: pure functions, no I/O. */
#ifndef BP_BACKUP_SCHEDULE_H
#define BP_BACKUP_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tz.h"

/* A cron expression of five fields: minute hour day-of-month month
 * day-of-week, each "*", a number, a range "a-b", a step "*\/n" or "a-b/n",
 * or a comma list of those; months and weekdays also by English
 * three-letter names (jan, mon), in any case; weekday 0 and 7 are Sunday,
 * so "fri-sun" and "5-7" both mean Friday to Sunday. When both
 * day-of-month and day-of-week are restricted, a day matching either
 * counts (as in Vixie cron, a field starting with '*', such as "*\/2",
 * counts as unrestricted: "0 0 *\/2 * mon" runs on odd days that are
 * Mondays). Macros @yearly, @annually, @monthly, @weekly, @daily,
 * @midnight and @hourly are accepted. */
typedef struct {
    uint64_t minute; /* bit m for minute m */
    uint32_t hour;   /* bit h */
    uint32_t mday;   /* bit d, 1..31 */
    uint16_t month;  /* bit m, 1..12 */
    uint8_t wday;    /* bit w, 0..6 (0 Sunday) */
    bool mday_star, wday_star;
} bp_cron;

/* Parses expr (at most 255 characters; fields are separated by blanks).
 * Strict: a value out of its field's range, an empty list item, a step of 0
 * or wider than the field, a step after a single value ("5/10": write
 * "5-59/10"), a backwards range, an unknown name or macro, a field count
 * other than five and any other character are refused. Returns 0 (err then
 * holds "") or BP_EINVAL with a one-line reason of under 160 characters in
 * err (len bytes, may be NULL) naming the field, e.g. "hour: 24 is out of
 * range 0-23"; *out is written only on success. */
int bp_cron_parse(const char *expr, bp_cron *out, char *err, size_t len);

/* The first instant strictly after utc_s (Unix seconds) whose wall-clock
 * time in tz matches c, at a whole minute. A wall time skipped by a DST jump
 * runs at the jump (once, however many skipped minutes match); a repeated
 * one runs once (the earlier), so "0 * * * *" leaves a two-hour pause on the
 * night the clocks go back. Looks day by day, skipping months, days and
 * hours that cannot match. Returns 0 with *next set, BP_ENOTFOUND when
 * nothing matches within the next 5 years of local days (e.g. "0 0 31 2 *",
 * or Feb 29 across 2100), or BP_EINVAL for a NULL argument or an instant
 * beyond +-2^40 s. */
int bp_cron_next(const bp_cron *c, const bp_tz *tz, int64_t utc_s, int64_t *next);

/* One backup as retention sees it. */
typedef struct {
    const char *id;
    int64_t started_at; /* Unix seconds */
    bool good;          /* completed and verified */
    bool keep;          /* out: true when retention keeps it */
} bp_retained;

/* Marks which of the n backups (any order) are kept under "the newest
 * max_age_s seconds before now": every backup, good or failed, started
 * within max_age_s of now (exactly max_age_s old, or started after now,
 * included), plus the newest good one whatever its age (so pruning never
 * leaves no good backup; of two started in the same second, the one with the
 * greater id). A failed backup is never kept for being the newest. Local
 * copies (7 days), S3 (30 days) and the archive prefix (365 days, holding
 * only each month's first backup) all use it. Writes only the keep fields;
 * b may be NULL when n is 0. Returns how many are NOT kept. */
size_t bp_retention_mark(bp_retained *b, size_t n, int64_t now, int64_t max_age_s);

/* True when the backup started at started_at is the first good one of its
 * month in tz among the n others (b's keep fields are ignored): no good
 * backup of b started earlier in the same local month. b may hold the
 * backup itself (it does not count against itself) and may be NULL when n is
 * 0; a NULL tz gives false. Used when a backup completes, to copy it to the
 * archive prefix. */
bool bp_retention_first_of_month(const bp_retained *b, size_t n, const bp_tz *tz,
                                 int64_t started_at);

#endif
