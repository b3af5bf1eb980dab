/* Time zones from TZif files and their POSIX TZ footers, evaluated without the
 * process TZ, plus the calendar arithmetic they need. */
#include "tz.h"

#include "bp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo/"
#define DAY          86400
/* Real TZif files are under 4 KiB; anything much larger is not a zone. */
#define TZIF_MAX_BYTES (256 * 1024)
#define TZIF_MAX_TIMES 4000
#define FOOTER_MAX     128
/* RFC 8536: offsets are more than -25 h and less than 26 h. */
#define MAX_UTOFF 93600
/* Wall times and instants further out than this are refused by the
 * conversions, so that adding offsets and days can never overflow. */
#define LOCAL_LIMIT ((int64_t)1 << 62)
/* The footer rule is expanded into the transition table up to this year, so
 * that ordinary lookups are one binary search; later instants evaluate the
 * rule directly. */
#define RULE_TABLE_END_YEAR 2200
/* Rule evaluation clamps instants to about +-950,000 years, far beyond any
 * meaningful date, to keep the year arithmetic within int. */
#define RULE_CLAMP ((int64_t)30000000000000)

/* One end of the daylight-saving period of a POSIX TZ string. */
typedef struct {
    char kind;    /* 'J': Jn, 1..365 never counting Feb 29; 'D': n, 0..365; 'M': Mm.w.d */
    int day;      /* J or D day, or the weekday (0 = Sunday) of M */
    int week;     /* M: 1..5, 5 meaning the last */
    int month;    /* M: 1..12 */
    int32_t secs; /* local time of the change, -167 h .. 167 h */
} tz_date_rule;

typedef struct {
    int32_t std_off, dst_off; /* seconds east of UTC */
    int has_dst;
    tz_date_rule start, end; /* start in standard time, end in daylight time */
} tz_rule;

struct bp_tz {
    struct bp_tz *next;    /* immutable once the zone is published in the cache */
    char name[FOOTER_MAX]; /* a file name, or a POSIX string of bp_tz_posix_new */
    int64_t *at;           /* transition instants, strictly ascending */
    uint16_t *type;        /* index into utoff of the type starting at at[i] */
    size_t n;
    int32_t *utoff; /* per local time type */
    size_t ntypes;
    int has_rule; /* a footer governs instants >= rule_from */
    int64_t rule_from;
    tz_rule rule;
};

/* ---- calendar --------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* Howard Hinnant's days_from_civil, with the month normalised first. */
static int64_t days_from_civil64(int64_t y, int64_t m, int64_t d)
{
    y += floor_div(m - 1, 12);
    m = floor_mod(m - 1, 12) + 1;
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days64(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int32_t bp_days_from_civil(int y, int m, int d)
{
    return (int32_t)days_from_civil64(y, m, d);
}

void bp_civil_from_days(int32_t days, int *y, int *m, int *d)
{
    int64_t yy;
    civil_from_days64(days, &yy, m, d);
    *y = (int)yy;
}

int bp_iso_weekday(int32_t days)
{
    /* 1970-01-01 was a Thursday (4). */
    return (int)floor_mod((int64_t)days + 3, 7) + 1;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int bp_date_parse(const char *s, int32_t *days)
{
    int y, m, d;
    if (s == NULL || days == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return BP_EINVAL;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return BP_EINVAL;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return BP_EINVAL;
    *days = bp_days_from_civil(y, m, d);
    return BP_OK;
}

int bp_date_format(int32_t days, char out[11])
{
    int y, m, d;
    bp_civil_from_days(days, &y, &m, &d);
    out[0] = '\0';
    if (y < 0 || y > 9999)
        return BP_EINVAL;
    /* Field widths are exact for these ranges, so nothing is cut. */
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
    return BP_OK;
}

/* ---- the POSIX TZ footer ------------------------------------------------ */

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits,
 * '+' and '-'. Returns the position after it, or NULL. */
static const char *parse_abbr(const char *p)
{
    int n = 0;
    if (*p == '<') {
        for (p++; *p != '>'; p++, n++)
            if (!is_alpha(*p) && !is_digit(*p) && *p != '+' && *p != '-')
                return NULL;
        return n >= 3 ? p + 1 : NULL;
    }
    for (; is_alpha(*p); p++)
        n++;
    return n >= 3 ? p : NULL;
}

/* [+-]h[h][:mm[:ss]] with hours up to max_h. Returns the position after it,
 * or NULL. */
static const char *parse_hms(const char *p, int max_h, int32_t *secs)
{
    int sign = 1, h = 0, m = 0, s = 0, nd = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (; is_digit(*p) && nd < 3; p++, nd++)
        h = h * 10 + (*p - '0');
    if (nd == 0 || is_digit(*p) || h > max_h)
        return NULL;
    if (*p == ':') {
        if (!is_digit(p[1]) || !is_digit(p[2]))
            return NULL;
        m = (p[1] - '0') * 10 + (p[2] - '0');
        p += 3;
        if (*p == ':') {
            if (!is_digit(p[1]) || !is_digit(p[2]))
                return NULL;
            s = (p[1] - '0') * 10 + (p[2] - '0');
            p += 3;
        }
    }
    if (m > 59 || s > 59)
        return NULL;
    *secs = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_num(const char *p, int lo, int hi, int *out)
{
    int v = 0, nd = 0;
    for (; is_digit(*p) && nd < 4; p++, nd++)
        v = v * 10 + (*p - '0');
    if (nd == 0 || is_digit(*p) || v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

/* Jn, n or Mm.w.d, then an optional /time (default 02:00:00). */
static const char *parse_date_rule(const char *p, tz_date_rule *r)
{
    memset(r, 0, sizeof *r);
    if (*p == 'J') {
        r->kind = 'J';
        p = parse_num(p + 1, 1, 365, &r->day);
    } else if (*p == 'M') {
        r->kind = 'M';
        p = parse_num(p + 1, 1, 12, &r->month);
        if (p != NULL && *p == '.')
            p = parse_num(p + 1, 1, 5, &r->week);
        else
            p = NULL;
        if (p != NULL && *p == '.')
            p = parse_num(p + 1, 0, 6, &r->day);
        else
            p = NULL;
    } else {
        r->kind = 'D';
        p = parse_num(p, 0, 365, &r->day);
    }
    if (p == NULL)
        return NULL;
    r->secs = 7200;
    if (*p == '/')
        p = parse_hms(p + 1, 167, &r->secs);
    return p;
}

/* std offset [dst [offset] [,start[/time],end[/time]]]. Returns 0 or
 * BP_EINVAL. */
static int parse_rule(const char *s, tz_rule *r)
{
    int32_t v;
    memset(r, 0, sizeof *r);
    const char *p = parse_abbr(s);
    if (p == NULL || (p = parse_hms(p, 24, &v)) == NULL)
        return BP_EINVAL;
    r->std_off = -v; /* POSIX counts hours west */
    if (*p == '\0')
        return BP_OK;
    if ((p = parse_abbr(p)) == NULL)
        return BP_EINVAL;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if ((p = parse_hms(p, 24, &v)) == NULL)
            return BP_EINVAL;
        r->dst_off = -v;
    }
    if (*p == '\0') {
        /* No rule given: glibc and tzcode default to the US rules. */
        p = ",M3.2.0,M11.1.0";
    }
    if (*p != ',' || (p = parse_date_rule(p + 1, &r->start)) == NULL)
        return BP_EINVAL;
    if (*p != ',' || (p = parse_date_rule(p + 1, &r->end)) == NULL)
        return BP_EINVAL;
    return *p == '\0' ? BP_OK : BP_EINVAL;
}

/* Day number of a rule's date in year y. */
static int64_t rule_day(const tz_date_rule *r, int64_t y)
{
    int64_t jan1 = days_from_civil64(y, 1, 1);
    if (r->kind == 'J')
        return jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
    if (r->kind == 'D')
        return jan1 + r->day;
    int64_t first = days_from_civil64(y, r->month, 1);
    int64_t wd = floor_mod(first + 4, 7); /* 0 = Sunday */
    int64_t day = first + (r->day - wd + 7) % 7 + 7 * (r->week - 1);
    while (day - first >= days_in_month(y, r->month))
        day -= 7;
    return day;
}

/* The instants daylight time starts and ends in year y. */
static void rule_year(const tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
    *start = rule_day(&r->start, y) * DAY + r->start.secs - r->std_off;
    *end = rule_day(&r->end, y) * DAY + r->end.secs - r->dst_off;
}

static int32_t rule_offset(const tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    if (t > RULE_CLAMP)
        t = RULE_CLAMP;
    if (t < -RULE_CLAMP)
        t = -RULE_CLAMP;
    int64_t y;
    int m, d;
    civil_from_days64(floor_div(t + r->std_off, DAY), &y, &m, &d);
    /* The latest change at or before t among three years decides; when a
     * start and an end coincide (DST all year) the start wins. */
    int64_t best = INT64_MIN;
    int dst = 0;
    for (int64_t yy = y - 1; yy <= y + 1; yy++) {
        int64_t start, end;
        rule_year(r, yy, &start, &end);
        if (end <= t && end > best) {
            best = end;
            dst = 0;
        }
        if (start <= t && start >= best) {
            best = start;
            dst = 1;
        }
    }
    return dst ? r->dst_off : r->std_off;
}

/* ---- lookups ------------------------------------------------------------ */

/* Index of the first transition after t (n when none). */
static size_t upper_bound(const bp_tz *tz, int64_t t)
{
    size_t lo = 0, hi = tz->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int32_t offset_at(const bp_tz *tz, int64_t t)
{
    if (tz->has_rule && t >= tz->rule_from)
        return rule_offset(&tz->rule, t);
    size_t i = upper_bound(tz, t);
    /* Before the first transition, time type 0 applies (RFC 8536). */
    return i == 0 ? tz->utoff[0] : tz->utoff[tz->type[i - 1]];
}

int bp_tz_offset(const bp_tz *tz, int64_t utc_s)
{
    return tz == NULL ? 0 : offset_at(tz, utc_s);
}

const char *bp_tz_name(const bp_tz *tz)
{
    return tz == NULL ? NULL : tz->name;
}

static void add_offset(int32_t *set, size_t *n, size_t cap, int32_t off)
{
    for (size_t i = 0; i < *n; i++)
        if (set[i] == off)
            return;
    if (*n < cap)
        set[(*n)++] = off;
}

/* Every t with t + offset(t) == local lies within 26 h of local, so the
 * offsets in effect anywhere in local +- 2 days are all the candidates. */
static int resolve(const bp_tz *tz, int64_t local, int64_t *utc, int gap_to_transition)
{
    if (tz == NULL || utc == NULL || local > LOCAL_LIMIT || local < -LOCAL_LIMIT)
        return BP_EINVAL;
    int32_t cand[16] = {0};
    size_t nc = 0;
    int64_t lo = local - 2 * DAY, hi = local + 2 * DAY;
    int in_rule = tz->has_rule && hi >= tz->rule_from;
    if (tz->has_rule && lo >= tz->rule_from) {
        add_offset(cand, &nc, BP_COUNTOF(cand), rule_offset(&tz->rule, lo));
    } else {
        size_t i = upper_bound(tz, lo);
        add_offset(cand, &nc, BP_COUNTOF(cand), i == 0 ? tz->utoff[0] : tz->utoff[tz->type[i - 1]]);
        for (; i < tz->n && tz->at[i] <= hi; i++)
            add_offset(cand, &nc, BP_COUNTOF(cand), tz->utoff[tz->type[i]]);
    }
    if (in_rule) {
        add_offset(cand, &nc, BP_COUNTOF(cand), tz->rule.std_off);
        if (tz->rule.has_dst)
            add_offset(cand, &nc, BP_COUNTOF(cand), tz->rule.dst_off);
    } else if (nc == 1) {
        /* No change within two days: the common case, one binary search. */
        *utc = local - cand[0];
        return BP_OK;
    }

    int found = 0;
    int64_t best = 0;
    int32_t min_off = cand[0], max_off = cand[0];
    for (size_t i = 0; i < nc; i++) {
        int64_t t = local - cand[i];
        if (offset_at(tz, t) == cand[i] && (!found || t < best)) {
            best = t;
            found = 1;
        }
        min_off = cand[i] < min_off ? cand[i] : min_off;
        max_off = cand[i] > max_off ? cand[i] : max_off;
    }
    if (found) {
        *utc = best;
        return BP_OK;
    }
    if (!gap_to_transition)
        return BP_ENOTFOUND;
    /* In a gap the wall clock is below local at a and above it at b; the
     * jump between them is the transition. */
    int64_t a = local - max_off, b = local - min_off;
    while (b - a > 1) {
        int64_t mid = a + (b - a) / 2;
        if (mid + offset_at(tz, mid) > local)
            b = mid;
        else
            a = mid;
    }
    *utc = b;
    return BP_OK;
}

int bp_tz_local_to_utc(const bp_tz *tz, int64_t local_s, int64_t *utc_s)
{
    return resolve(tz, local_s, utc_s, 0);
}

int bp_tz_local_to_utc_end(const bp_tz *tz, int64_t local_s, int64_t *utc_s)
{
    return resolve(tz, local_s, utc_s, 1);
}

/* ---- TZif files --------------------------------------------------------- */

static int64_t be32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static int64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

typedef struct {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static int read_header(const unsigned char *p, size_t avail, tzif_counts *c)
{
    if (avail < 44 || memcmp(p, "TZif", 4) != 0)
        return BP_EINVAL;
    c->isut = (uint32_t)be32(p + 20);
    c->isstd = (uint32_t)be32(p + 24);
    c->leap = (uint32_t)be32(p + 28);
    c->time = (uint32_t)be32(p + 32);
    c->type = (uint32_t)be32(p + 36);
    c->chars = (uint32_t)be32(p + 40);
    /* Leap-second ("right/") zones count TAI-like seconds: refused. */
    if (c->type == 0 || c->type > 256 || c->time > TZIF_MAX_TIMES || c->leap != 0 ||
        c->chars > 4096 || (c->isut != 0 && c->isut != c->type) ||
        (c->isstd != 0 && c->isstd != c->type))
        return BP_EINVAL;
    return BP_OK;
}

static size_t block_size(const tzif_counts *c, size_t time_bytes)
{
    return c->time * time_bytes + c->time + c->type * 6 + c->chars + c->leap * (time_bytes + 4) +
           c->isstd + c->isut;
}

static int read_file(const char *name, unsigned char **buf, size_t *len)
{
    char path[sizeof ZONEINFO_DIR + BP_TZ_NAME_MAX];
    snprintf(path, sizeof path, "%s%s", ZONEINFO_DIR, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? BP_EINVAL : BP_EIO;
    int rv = BP_EINVAL;
    unsigned char *data = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rv = BP_EIO;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 44 || st.st_size > TZIF_MAX_BYTES)
        goto out;
    size_t size = (size_t)st.st_size, got = 0;
    if ((data = malloc(size)) == NULL) {
        rv = BP_ENOMEM;
        goto out;
    }
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rv = BP_EIO;
            goto out;
        }
        got += (size_t)r;
    }
    *buf = data;
    *len = size;
    data = NULL;
    rv = BP_OK;
out:
    free(data);
    close(fd);
    return rv;
}

/* Appends the footer rule's transitions after the file's last one, up to
 * RULE_TABLE_END_YEAR, so that lookups before then need no rule arithmetic.
 * A file ending before 1800 (none does) keeps evaluating the rule instead.
 * Returns 0 or BP_ENOMEM. */
static int expand_rule(bp_tz *tz)
{
    size_t file_n = tz->n;
    int64_t y0, last = tz->at[file_n - 1];
    int m, d;
    civil_from_days64(floor_div(last, DAY), &y0, &m, &d);
    if (y0 < 1800 || y0 >= RULE_TABLE_END_YEAR)
        return BP_OK;
    size_t cap = file_n + 2 * (size_t)(RULE_TABLE_END_YEAR - y0);
    int64_t *at = realloc(tz->at, cap * sizeof *at);
    if (at == NULL)
        return BP_ENOMEM;
    tz->at = at;
    uint16_t *type = realloc(tz->type, cap * sizeof *type);
    if (type == NULL)
        return BP_ENOMEM;
    tz->type = type;
    uint16_t std_type = (uint16_t)tz->ntypes, dst_type = (uint16_t)(tz->ntypes + 1);
    tz->utoff[std_type] = tz->rule.std_off;
    tz->utoff[dst_type] = tz->rule.dst_off;
    tz->ntypes += 2;
    for (int64_t y = y0; y < RULE_TABLE_END_YEAR; y++) {
        int64_t ev[2][2]; /* {instant, is the start of daylight time} */
        rule_year(&tz->rule, y, &ev[0][0], &ev[1][0]);
        ev[0][1] = 1;
        ev[1][1] = 0;
        if (ev[1][0] < ev[0][0]) {
            int64_t t0 = ev[0][0];
            ev[0][0] = ev[1][0];
            ev[0][1] = 0;
            ev[1][0] = t0;
            ev[1][1] = 1;
        }
        for (int k = 0; k < 2; k++) {
            int64_t t = ev[k][0];
            uint16_t ty = ev[k][1] ? dst_type : std_type;
            if (t <= last && tz->n == file_n)
                continue;
            if (t < tz->at[tz->n - 1])
                continue;
            if (t == tz->at[tz->n - 1] && tz->n > file_n) {
                /* A start coinciding with an end: daylight time wins. */
                if (ev[k][1])
                    tz->type[tz->n - 1] = ty;
                continue;
            }
            if (tz->utoff[tz->type[tz->n - 1]] == tz->utoff[ty])
                continue;
            tz->at[tz->n] = t;
            tz->type[tz->n] = ty;
            tz->n++;
        }
    }
    tz->rule_from = tz->at[tz->n - 1];
    return BP_OK;
}

static int parse_tzif(const unsigned char *buf, size_t len, bp_tz *tz)
{
    tzif_counts c1, c;
    if (read_header(buf, len, &c1) != BP_OK || buf[4] < '2')
        return BP_EINVAL;
    size_t off = 44 + block_size(&c1, 4);
    if (off > len || read_header(buf + off, len - off, &c) != BP_OK)
        return BP_EINVAL;
    const unsigned char *p = buf + off + 44;
    size_t need = block_size(&c, 8);
    if (need > len - off - 44)
        return BP_EINVAL;
    const unsigned char *footer = p + need;
    size_t footer_room = len - off - 44 - need;

    /* Two spare types for the footer rule's standard and daylight time. */
    tz->at = malloc((c.time + 1) * sizeof *tz->at);
    tz->type = malloc((c.time + 1) * sizeof *tz->type);
    tz->utoff = malloc((c.type + 2) * sizeof *tz->utoff);
    if (tz->at == NULL || tz->type == NULL || tz->utoff == NULL)
        return BP_ENOMEM;

    const unsigned char *types = p + c.time * 8, *infos = types + c.time;
    for (uint32_t i = 0; i < c.type; i++) {
        int64_t u = be32(infos + i * 6);
        if (u <= -MAX_UTOFF || u >= MAX_UTOFF || infos[i * 6 + 4] > 1)
            return BP_EINVAL;
        tz->utoff[i] = (int32_t)u;
    }
    tz->ntypes = c.type;
    for (uint32_t i = 0; i < c.time; i++) {
        tz->at[i] = be64(p + i * 8);
        tz->type[i] = types[i];
        if (types[i] >= c.type || (i > 0 && tz->at[i] <= tz->at[i - 1]) ||
            tz->at[i] > LOCAL_LIMIT || tz->at[i] < -LOCAL_LIMIT)
            return BP_EINVAL;
    }
    tz->n = c.time;

    /* The footer: "\n<POSIX TZ string>\n", possibly empty. */
    if (footer_room < 2 || footer[0] != '\n')
        return BP_EINVAL;
    const unsigned char *nl = memchr(footer + 1, '\n', footer_room - 1);
    if (nl == NULL || (size_t)(nl - footer - 1) >= FOOTER_MAX)
        return BP_EINVAL;
    size_t flen = (size_t)(nl - footer - 1);
    if (flen > 0) {
        char text[FOOTER_MAX];
        memcpy(text, footer + 1, flen);
        text[flen] = '\0';
        if (parse_rule(text, &tz->rule) != BP_OK)
            return BP_EINVAL;
        tz->has_rule = 1;
        tz->rule_from = tz->n > 0 ? tz->at[tz->n - 1] : INT64_MIN;
        if (tz->rule.has_dst && tz->n > 0)
            return expand_rule(tz);
    }
    return BP_OK;
}

int bp_tz_posix_new(const char *spec, bp_tz **out)
{
    if (spec == NULL || out == NULL || strlen(spec) >= FOOTER_MAX)
        return BP_EINVAL;
    bp_tz *tz = calloc(1, sizeof *tz);
    if (tz == NULL || (tz->utoff = malloc(sizeof *tz->utoff)) == NULL) {
        bp_tz_free(tz);
        return BP_ENOMEM;
    }
    if (parse_rule(spec, &tz->rule) != BP_OK) {
        bp_tz_free(tz);
        return BP_EINVAL;
    }
    /* No transitions: the rule alone governs every instant. */
    snprintf(tz->name, sizeof tz->name, "%s", spec);
    tz->utoff[0] = tz->rule.std_off;
    tz->ntypes = 1;
    tz->has_rule = 1;
    tz->rule_from = INT64_MIN;
    *out = tz;
    return BP_OK;
}

/* ---- the cache ---------------------------------------------------------- */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(bp_tz *) cache_head;

static const bp_tz *cache_find(const char *name)
{
    for (bp_tz *z = atomic_load_explicit(&cache_head, memory_order_acquire); z != NULL; z = z->next)
        if (strcmp(z->name, name) == 0)
            return z;
    return NULL;
}

void bp_tz_free(bp_tz *tz)
{
    if (tz == NULL)
        return;
    free(tz->at);
    free(tz->type);
    free(tz->utoff);
    free(tz);
}

/* Letters, digits, '/', '_', '-', '+'; no empty path component, so neither a
 * leading '/' nor "//"; and no '.', so no "..". */
static int name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > BP_TZ_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!is_alpha(ch) && !is_digit(ch) && ch != '/' && ch != '_' && ch != '-' && ch != '+')
            return 0;
        if (ch == '/' && name[i + 1] == '/')
            return 0;
    }
    return strstr(name, "..") == NULL;
}

int bp_tz_load(const char *name, const bp_tz **out)
{
    if (name == NULL || out == NULL || !name_valid(name))
        return BP_EINVAL;
    const bp_tz *found = cache_find(name);
    if (found != NULL) {
        *out = found;
        return BP_OK;
    }

    /* Loading under the lock keeps two threads from reading the same file;
     * it happens once per zone. */
    pthread_mutex_lock(&cache_lock);
    int rv = BP_OK;
    unsigned char *buf = NULL;
    size_t len = 0;
    bp_tz *tz = NULL;
    if ((found = cache_find(name)) != NULL)
        goto out;
    if ((rv = read_file(name, &buf, &len)) != BP_OK)
        goto out;
    if ((tz = calloc(1, sizeof *tz)) == NULL) {
        rv = BP_ENOMEM;
        goto out;
    }
    snprintf(tz->name, sizeof tz->name, "%s", name);
    if ((rv = parse_tzif(buf, len, tz)) != BP_OK)
        goto out;
    tz->next = atomic_load_explicit(&cache_head, memory_order_relaxed);
    atomic_store_explicit(&cache_head, tz, memory_order_release);
    found = tz;
    tz = NULL;
out:
    pthread_mutex_unlock(&cache_lock);
    bp_tz_free(tz);
    free(buf);
    if (rv == BP_OK)
        *out = found;
    return rv;
}

void bp_tz_cache_free(void)
{
    pthread_mutex_lock(&cache_lock);
    bp_tz *z = atomic_exchange(&cache_head, NULL);
    pthread_mutex_unlock(&cache_lock);
    while (z != NULL) {
        bp_tz *next = z->next;
        bp_tz_free(z);
        z = next;
    }
}

int32_t bp_tz_local_day(const bp_tz *tz, int64_t utc_s)
{
    int64_t local = utc_s + bp_tz_offset(tz, utc_s);
    return (int32_t)(local / 86400 - (local % 86400 < 0));
}

/* Two decimal digits of v (0..99) at p. */
static char *two_digits(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

int bp_tz_format(const bp_tz *tz, int64_t utc_s, char out[26])
{
    /* RFC 3339 offsets have no seconds: the local time shown is computed
     * with the offset cut to whole minutes, so the text still names the
     * instant exactly (this matters only for local mean times before 1920).
     * Written by hand rather than with snprintf: a 60-day availability
     * answer formats thousands of instants. */
    int off = bp_tz_offset(tz, utc_s);
    off -= off % 60;
    int64_t local = utc_s + off;
    int64_t days = local / 86400 - (local % 86400 < 0);
    if (days < INT32_MIN || days > INT32_MAX)
        return BP_EINVAL;
    int sod = (int)(local - days * 86400);
    int y, m, d;
    bp_civil_from_days((int32_t)days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return BP_EINVAL;
    int aoff = off < 0 ? -off : off;
    char *p = two_digits(out, y / 100);
    p = two_digits(p, y % 100);
    *p++ = '-';
    p = two_digits(p, m);
    *p++ = '-';
    p = two_digits(p, d);
    *p++ = 'T';
    p = two_digits(p, sod / 3600);
    *p++ = ':';
    p = two_digits(p, sod / 60 % 60);
    *p++ = ':';
    p = two_digits(p, sod % 60);
    *p++ = off < 0 ? '-' : '+';
    p = two_digits(p, aoff / 3600);
    *p++ = ':';
    p = two_digits(p, aoff / 60 % 60);
    *p = '\0';
    return BP_OK;
}
