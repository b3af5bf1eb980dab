/* Cron expressions, the next run of one in a time zone, and which backups
 * retention keeps: pure functions over their arguments. */
#include "schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bp.h"

#define DAY  86400
#define HOUR 3600

/* An expression longer than this is no schedule anyone writes. */
#define CRON_EXPR_MAX 255
/* Reasons quote at most this much of what they refuse. */
#define QUOTE_MAX 20
/* How far bp_cron_next looks: five years of local days, leap days included. */
#define SEARCH_DAYS (5 * 365 + 2)
/* Instants beyond about +-34,000 years are refused, which keeps day numbers
 * and the zone's conversions far from overflow. */
#define INSTANT_LIMIT ((int64_t)1 << 40)

/* What one of the five fields accepts. */
typedef struct {
    const char *name;         /* as reasons call it */
    int min, max;             /* values as written; day-of-week 7 is Sunday again */
    int span;                 /* the largest step that makes sense */
    const char *const *names; /* three-letter names, lower case, or NULL */
    int name_count;
    int first_named; /* the value of names[0] */
} field_spec;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

enum { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_COUNT };

static const field_spec fields[F_COUNT] = {
    [F_MINUTE] = {.name = "minute", .min = 0, .max = 59, .span = 60},
    [F_HOUR] = {.name = "hour", .min = 0, .max = 23, .span = 24},
    [F_MDAY] = {.name = "day-of-month", .min = 1, .max = 31, .span = 31},
    [F_MONTH] = {.name = "month",
                 .min = 1,
                 .max = 12,
                 .span = 12,
                 .names = month_names,
                 .name_count = (int)BP_COUNTOF(month_names),
                 .first_named = 1},
    [F_WDAY] = {.name = "day-of-week",
                .min = 0,
                .max = 7,
                .span = 7,
                .names = wday_names,
                .name_count = (int)BP_COUNTOF(wday_names)},
};

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t len, const char *fmt, ...)
{
    if (err != NULL && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return BP_EINVAL;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool is_alpha(char ch)
{
    return lower(ch) >= 'a' && lower(ch) <= 'z';
}

/* Reads the digits from p (none is fine) into *v, which stops growing past
 * any field's range so that no number overflows; returns where they end. */
static const char *read_digits(const char *p, const char *end, long *v)
{
    *v = 0;
    for (; p < end && is_digit(*p); p++)
        if (*v <= 9999)
            *v = *v * 10 + (*p - '0');
    return p;
}

/* How much of the text from s to q a reason quotes. */
static int quoted(const char *s, const char *q)
{
    return (int)(q - s > QUOTE_MAX ? QUOTE_MAX : q - s);
}

static int unexpected(const field_spec *f, char ch, char *err, size_t len)
{
    unsigned char u = (unsigned char)ch;
    if (u > ' ' && u < 0x7f)
        return fail(err, len, "%s: unexpected '%c'", f->name, ch);
    return fail(err, len, "%s: unexpected byte 0x%02x", f->name, u);
}

/* Reads one value (digits, or a name where the field has names) at *p, no
 * further than end, and checks it against the field's range. */
static int parse_value(const field_spec *f, const char **p, const char *end, int *out, char *err,
                       size_t len)
{
    const char *s = *p;
    const char *q = s;
    if (q < end && is_digit(*q)) {
        long v;
        q = read_digits(q, end, &v);
        if (v < f->min || v > f->max)
            return fail(err, len, "%s: %.*s is out of range %d-%d", f->name, quoted(s, q), s,
                        f->min, f->max);
        *out = (int)v;
        *p = q;
        return 0;
    }
    if (q < end && is_alpha(*q)) {
        while (q < end && is_alpha(*q))
            q++;
        if (f->names == NULL)
            return fail(err, len, "%s: '%.*s' is not a number", f->name, quoted(s, q), s);
        for (int i = 0; q - s == 3 && i < f->name_count; i++) {
            const char *name = f->names[i];
            if (lower(s[0]) == name[0] && lower(s[1]) == name[1] && lower(s[2]) == name[2]) {
                *out = f->first_named + i;
                *p = q;
                return 0;
            }
        }
        return fail(err, len, "%s: unknown name '%.*s'", f->name, quoted(s, q), s);
    }
    if (q == end)
        return fail(err, len, "%s: a value is missing", f->name);
    return unexpected(f, *q, err, len);
}

/* One item of a comma list: "*", "a", "a-b", "*\/n" or "a-b/n", between s
 * and end. Sets its values' bits in *bits. */
static int parse_item(const field_spec *f, const char *s, const char *end, uint64_t *bits,
                      char *err, size_t len)
{
    if (s == end)
        return fail(err, len, "%s: empty item in list", f->name);
    int lo, hi;
    bool ranged = true;
    const char *p = s;
    if (*p == '*') {
        lo = f->min;
        hi = f == &fields[F_WDAY] ? 6 : f->max;
        p++;
    } else {
        int rv = parse_value(f, &p, end, &lo, err, len);
        if (rv != 0)
            return rv;
        hi = lo;
        ranged = false;
        if (p < end && *p == '-') {
            p++;
            rv = parse_value(f, &p, end, &hi, err, len);
            if (rv != 0)
                return rv;
            ranged = true;
            /* "fri-sun": a day-of-week range may end on Sunday written as 0. */
            if (f == &fields[F_WDAY] && hi == 0 && lo > 0)
                hi = 7;
            if (lo > hi)
                return fail(err, len, "%s: range %d-%d runs backwards", f->name, lo, hi);
        }
    }
    int step = 1;
    if (p < end && *p == '/') {
        p++;
        const char *digits = p;
        long v;
        p = read_digits(p, end, &v);
        if (p == digits)
            return p == end ? fail(err, len, "%s: a step is missing after /", f->name)
                            : unexpected(f, *p, err, len);
        if (v < 1 || v > f->span)
            return fail(err, len, "%s: step %.*s is out of range 1-%d", f->name, quoted(digits, p),
                        digits, f->span);
        step = (int)v;
        if (!ranged)
            return fail(err, len, "%s: a step needs * or a range before it (%d-%d/%d, not %d/%d)",
                        f->name, lo, f->max, step, lo, step);
    }
    if (p < end)
        return unexpected(f, *p, err, len);
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << (f == &fields[F_WDAY] && v == 7 ? 0 : v);
    return 0;
}

static int parse_field(const field_spec *f, const char *s, const char *end, uint64_t *bits,
                       char *err, size_t len)
{
    *bits = 0;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma != NULL ? comma : end;
        int rv = parse_item(f, s, item_end, bits, err, len);
        if (rv != 0)
            return rv;
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

static bool same_word(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != word[i])
            return false;
    return true;
}

int bp_cron_parse(const char *expr, bp_cron *out, char *err, size_t len)
{
    if (err != NULL && len > 0)
        err[0] = '\0';
    if (expr == NULL || out == NULL)
        return fail(err, len, "no expression");
    size_t n = strnlen(expr, CRON_EXPR_MAX + 1);
    if (n > CRON_EXPR_MAX)
        return fail(err, len, "expression is longer than %d characters", CRON_EXPR_MAX);
    const char *end = expr + n;
    while (expr < end && is_space(*expr))
        expr++;
    while (end > expr && is_space(end[-1]))
        end--;

    if (expr < end && *expr == '@') {
        const char *word_end = expr;
        while (word_end < end && !is_space(*word_end))
            word_end++;
        for (size_t i = 0; i < BP_COUNTOF(macros); i++) {
            if (!same_word(expr, (size_t)(word_end - expr), macros[i].name))
                continue;
            if (word_end != end)
                return fail(err, len, "%s takes no fields after it", macros[i].name);
            return bp_cron_parse(macros[i].expr, out, err, len);
        }
        return fail(err, len,
                    "unknown macro '%.*s' (@yearly, @annually, @monthly, @weekly, @daily, "
                    "@midnight, @hourly)",
                    quoted(expr, word_end), expr);
    }

    const char *start[F_COUNT], *stop[F_COUNT];
    int count = 0;
    for (const char *p = expr; p < end;) {
        while (p < end && is_space(*p))
            p++;
        const char *word = p;
        while (p < end && !is_space(*p))
            p++;
        if (count < F_COUNT) {
            start[count] = word;
            stop[count] = p;
        }
        count++;
    }
    if (count != F_COUNT)
        return fail(err, len,
                    "expected 5 fields (minute hour day-of-month month day-of-week), got %d",
                    count);

    uint64_t bits[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        int rv = parse_field(&fields[i], start[i], stop[i], &bits[i], err, len);
        if (rv != 0)
            return rv;
    }
    /* As in Vixie cron, a day field that starts with '*' ("*" or "*\/2")
     * counts as unrestricted for the day-of-month / day-of-week rule. */
    *out = (bp_cron){
        .minute = bits[F_MINUTE],
        .hour = (uint32_t)bits[F_HOUR],
        .mday = (uint32_t)bits[F_MDAY],
        .month = (uint16_t)bits[F_MONTH],
        .wday = (uint8_t)bits[F_WDAY],
        .mday_star = *start[F_MDAY] == '*',
        .wday_star = *start[F_WDAY] == '*',
    };
    return 0;
}

/* ---- the next run ----------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static bool day_matches(const bp_cron *c, int mday, int wday)
{
    bool dom = (c->mday >> mday) & 1u;
    bool dow = (c->wday >> wday) & 1u;
    return c->mday_star || c->wday_star ? dom && dow : dom || dow;
}

/* The instant a matching wall time (local seconds) runs at: the earlier of
 * two when the clocks go back, the jump when they skip it. */
static int run_instant(const bp_tz *tz, int64_t wall, int64_t *utc_s)
{
    int rv = bp_tz_local_to_utc(tz, wall, utc_s);
    if (rv == BP_ENOTFOUND)
        rv = bp_tz_local_to_utc_end(tz, wall, utc_s);
    return rv;
}

/* Wall times map to run instants without ever going backwards, and every
 * wall time up to the wall clock at utc_s runs at or before utc_s. So the
 * answer is the first matching wall minute after the wall clock at utc_s
 * whose instant is later than utc_s; the only ones passed over are those of
 * an hour the clocks have just repeated. */
int bp_cron_next(const bp_cron *c, const bp_tz *tz, int64_t utc_s, int64_t *next)
{
    if (c == NULL || tz == NULL || next == NULL || utc_s < -INSTANT_LIMIT || utc_s > INSTANT_LIMIT)
        return BP_EINVAL;
    int64_t wall = utc_s + bp_tz_offset(tz, utc_s);
    int64_t from = floor_div(wall, 60) * 60 + 60; /* the first wall minute to try */
    int64_t day = floor_div(from, DAY);
    int64_t last_day = day + SEARCH_DAYS;
    int first_minute = (int)((from - day * DAY) / 60); /* of the day, on the first day */

    while (day <= last_day) {
        int y, m, d;
        bp_civil_from_days((int32_t)day, &y, &m, &d);
        if (!((c->month >> m) & 1u)) {
            day = m == 12 ? bp_days_from_civil(y + 1, 1, 1) : bp_days_from_civil(y, m + 1, 1);
            first_minute = 0;
            continue;
        }
        if (day_matches(c, d, bp_iso_weekday((int32_t)day) % 7)) {
            for (int h = first_minute / 60; h < 24; h++) {
                if (!((c->hour >> h) & 1u))
                    continue;
                int mi = h == first_minute / 60 ? first_minute % 60 : 0;
                for (; mi < 60; mi++) {
                    if (!((c->minute >> mi) & 1u))
                        continue;
                    int64_t at;
                    int rv = run_instant(tz, day * DAY + h * HOUR + mi * 60, &at);
                    if (rv != 0)
                        return rv;
                    if (at > utc_s) {
                        *next = at;
                        return 0;
                    }
                }
            }
        }
        day++;
        first_minute = 0;
    }
    return BP_ENOTFOUND;
}

/* ---- retention -------------------------------------------------------- */

/* Whether a is newer than b; equal start times are ordered by id so that
 * the answer does not depend on the order of the list. */
static bool newer(const bp_retained *a, const bp_retained *b)
{
    if (a->started_at != b->started_at)
        return a->started_at > b->started_at;
    return strcmp(a->id != NULL ? a->id : "", b->id != NULL ? b->id : "") > 0;
}

static bool recent(int64_t started_at, int64_t now, int64_t max_age_s)
{
    int64_t age;
    if (started_at >= now)
        return true;
    if (__builtin_sub_overflow(now, started_at, &age))
        return false;
    return age <= max_age_s;
}

size_t bp_retention_mark(bp_retained *b, size_t n, int64_t now, int64_t max_age_s)
{
    bp_retained *newest_good = NULL;
    for (size_t i = 0; i < n; i++) {
        b[i].keep = recent(b[i].started_at, now, max_age_s);
        if (b[i].good && (newest_good == NULL || newer(&b[i], newest_good)))
            newest_good = &b[i];
    }
    if (newest_good != NULL)
        newest_good->keep = true;
    size_t pruned = 0;
    for (size_t i = 0; i < n; i++)
        pruned += !b[i].keep;
    return pruned;
}

static int local_month(const bp_tz *tz, int64_t utc_s)
{
    int y, m, d;
    bp_civil_from_days(bp_tz_local_day(tz, utc_s), &y, &m, &d);
    return y * 12 + m;
}

bool bp_retention_first_of_month(const bp_retained *b, size_t n, const bp_tz *tz,
                                 int64_t started_at)
{
    if (tz == NULL)
        return false;
    int month = local_month(tz, started_at);
    for (size_t i = 0; i < n; i++)
        if (b[i].good && b[i].started_at < started_at && local_month(tz, b[i].started_at) == month)
            return false;
    return true;
}
