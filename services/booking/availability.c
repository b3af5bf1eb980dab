/* The slot engine: walks the step grid of each working-hours row in local
 * wall-clock time, turns each start into an instant in the shop's zone and
 * keeps those that fit the row and miss every busy span. */
#include "availability.h"

#include <stdlib.h>
#include <string.h>

#define DAY 86400
/* 9999-12-31 as a day number: the last date a query may ask for. */
#define LAST_DAY 2932896
/* Instants further out are refused, so sums of them with days never
 * overflow. */
#define TIME_LIMIT ((int64_t)1 << 62)
/* Busy spans up to this many are sorted on the stack. */
#define BUSY_ON_STACK 256

/* ---- validation --------------------------------------------------------- */

static int cmp_hours(const void *a, const void *b)
{
    const booking_hours *x = a, *y = b;
    if (x->weekday != y->weekday)
        return x->weekday < y->weekday ? -1 : 1;
    return (x->start_min > y->start_min) - (x->start_min < y->start_min);
}

/* Checks everything but the busy spans and the date window, and copies the
 * hours rows sorted by weekday and start into rows. Returns 0 or BP_EINVAL. */
static int prepare(const booking_avail_query *q, booking_hours rows[BOOKING_AVAIL_MAX_HOURS])
{
    if (q == NULL || q->tz == NULL || (q->hours == NULL && q->n_hours > 0) ||
        (q->busy == NULL && q->n_busy > 0) || (q->closed_days == NULL && q->n_closed > 0) ||
        q->n_hours > BOOKING_AVAIL_MAX_HOURS || q->n_busy > BOOKING_AVAIL_MAX_BUSY ||
        q->n_closed > BOOKING_AVAIL_MAX_CLOSED)
        return BP_EINVAL;
    if (q->duration_min < 1 || q->duration_min > 1440 || q->buffer_min < 0 ||
        q->buffer_min > 1440 || q->step_min < 1 || q->step_min > 1440 || q->notice_min < 0 ||
        q->notice_min > BOOKING_AVAIL_MAX_NOTICE_MIN || q->horizon_days < 0 ||
        q->horizon_days > BOOKING_AVAIL_MAX_HORIZON_DAYS || q->now > TIME_LIMIT ||
        q->now < -TIME_LIMIT)
        return BP_EINVAL;
    for (size_t i = 0; i < q->n_hours; i++) {
        const booking_hours *h = &q->hours[i];
        if (h->weekday < 1 || h->weekday > 7 || h->start_min < 0 || h->start_min >= h->end_min ||
            h->end_min > 1440)
            return BP_EINVAL;
        rows[i] = *h;
    }
    qsort(rows, q->n_hours, sizeof rows[0], cmp_hours);
    for (size_t i = 1; i < q->n_hours; i++)
        if (rows[i].weekday == rows[i - 1].weekday && rows[i].start_min < rows[i - 1].end_min)
            return BP_EINVAL;
    return BP_OK;
}

/* ---- busy spans ----------------------------------------------------------- */

static int cmp_span(const void *a, const void *b)
{
    const booking_span *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Keeps the spans that reach into [lo, hi), sorted and merged, in *merged
 * (stack or a malloc'ed block the caller frees when it is not stack).
 * Returns 0, BP_EINVAL for a span ending before it starts, or BP_ENOMEM. */
static int merge_busy(const booking_avail_query *q, int64_t lo, int64_t hi,
                      booking_span stack[BUSY_ON_STACK], booking_span **merged, size_t *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < q->n_busy; i++) {
        if (q->busy[i].end < q->busy[i].start)
            return BP_EINVAL;
        if (q->busy[i].end > lo && q->busy[i].start < hi && q->busy[i].end > q->busy[i].start)
            kept++;
    }
    booking_span *s = stack;
    if (kept > BUSY_ON_STACK && (s = malloc(kept * sizeof *s)) == NULL)
        return BP_ENOMEM;
    kept = 0;
    for (size_t i = 0; i < q->n_busy; i++)
        if (q->busy[i].end > lo && q->busy[i].start < hi && q->busy[i].end > q->busy[i].start)
            s[kept++] = q->busy[i];
    /* Rows from SQL usually come ordered one way or the other. */
    size_t ascending = 1, descending = 1;
    for (size_t i = 1; i < kept; i++) {
        ascending += s[i].start >= s[i - 1].start;
        descending += s[i].start <= s[i - 1].start;
    }
    if (kept > 1 && descending == kept && ascending != kept) {
        for (size_t i = 0, j = kept - 1; i < j; i++, j--) {
            booking_span tmp = s[i];
            s[i] = s[j];
            s[j] = tmp;
        }
    } else if (kept > 1 && ascending != kept) {
        qsort(s, kept, sizeof *s, cmp_span);
    }
    size_t m = 0;
    for (size_t i = 0; i < kept; i++) {
        if (m > 0 && s[i].start <= s[m - 1].end) {
            if (s[i].end > s[m - 1].end)
                s[m - 1].end = s[i].end;
        } else {
            s[m++] = s[i];
        }
    }
    *merged = s;
    *n = m;
    return BP_OK;
}

/* Whether [start, end) overlaps a merged span: the first span ending after
 * start is the only one that can. */
static int busy_overlaps(const booking_span *busy, size_t n, int64_t start, int64_t end)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (busy[mid].end <= start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && busy[lo].start < end;
}

/* ---- the list ------------------------------------------------------------- */

static int cmp_day(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Inserts a slot keeping out sorted and at most cap long, counting every
 * slot in *total. Wall-clock order gives time order in every real zone, so
 * this appends; the insertion only guards against pathological zone data. */
static void emit(booking_span *out, size_t cap, size_t *n, size_t *total, int64_t start,
                 int64_t end)
{
    (*total)++;
    size_t i = *n;
    while (i > 0 && out[i - 1].start > start)
        i--;
    if (i >= cap)
        return;
    size_t last = *n < cap ? *n : cap - 1;
    memmove(&out[i + 1], &out[i], (last - i) * sizeof *out);
    out[i] = (booking_span){start, start + end};
    if (*n < cap)
        (*n)++;
}

int booking_availability(const booking_avail_query *q, booking_span *out, size_t cap, size_t *n_out)
{
    booking_hours rows[BOOKING_AVAIL_MAX_HOURS];
    int rv = prepare(q, rows);
    if (rv != BP_OK)
        return rv;
    if (n_out == NULL || (out == NULL && cap > 0) || q->n_days < 0 ||
        q->n_days > BOOKING_AVAIL_MAX_DAYS || q->first_day < 0 ||
        q->first_day + q->n_days - 1 > LAST_DAY)
        return BP_EINVAL;

    /* Where each weekday's rows start in the sorted copy. */
    size_t wd_first[9] = {0};
    for (size_t i = 0; i < q->n_hours; i++)
        wd_first[rows[i].weekday + 1] = i + 1;
    for (int wd = 1; wd <= 8; wd++)
        if (wd_first[wd] < wd_first[wd - 1])
            wd_first[wd] = wd_first[wd - 1];

    int32_t closed[BOOKING_AVAIL_MAX_CLOSED];
    size_t n_closed = 0;
    for (size_t i = 0; i < q->n_closed; i++)
        if (q->closed_days[i] >= q->first_day && q->closed_days[i] - q->n_days < q->first_day)
            closed[n_closed++] = q->closed_days[i];
    if (n_closed > 1)
        qsort(closed, n_closed, sizeof closed[0], cmp_day);

    /* A day's instants lie within 26 h of its local midnights. */
    int64_t first_midnight = (int64_t)q->first_day * DAY;
    booking_span stack[BUSY_ON_STACK], *busy = NULL;
    size_t n_busy = 0;
    rv = merge_busy(q, first_midnight - 2 * DAY, first_midnight + ((int64_t)q->n_days + 2) * DAY,
                    stack, &busy, &n_busy);
    if (rv != BP_OK)
        return rv;

    int64_t earliest = q->now + (int64_t)q->notice_min * 60;
    int64_t latest = q->now + (int64_t)q->horizon_days * DAY; /* exclusive */
    int64_t need = (int64_t)(q->duration_min + q->buffer_min) * 60;
    int64_t duration = (int64_t)q->duration_min * 60;
    size_t n = 0, total = 0, ci = 0;
    for (int32_t day = q->first_day; day < q->first_day + q->n_days; day++) {
        int64_t midnight = (int64_t)day * DAY;
        if (midnight - 2 * DAY >= latest)
            break;
        while (ci < n_closed && closed[ci] < day)
            ci++;
        if ((ci < n_closed && closed[ci] == day) || midnight + 3 * DAY <= earliest)
            continue;
        int wd = bp_iso_weekday(day);
        for (size_t r = wd_first[wd]; r < wd_first[wd + 1]; r++) {
            int64_t row_end;
            if (bp_tz_local_to_utc_end(q->tz, midnight + rows[r].end_min * 60, &row_end) != BP_OK)
                continue;
            int first = (rows[r].start_min + q->step_min - 1) / q->step_min * q->step_min;
            for (int m = first; m < rows[r].end_min; m += q->step_min) {
                int64_t t;
                if (bp_tz_local_to_utc(q->tz, midnight + m * 60, &t) != BP_OK)
                    continue; /* skipped by the clocks */
                if (t < earliest || t < q->now || t >= latest || t + need > row_end ||
                    busy_overlaps(busy, n_busy, t, t + need))
                    continue;
                emit(out, cap, &n, &total, t, duration);
            }
        }
    }
    if (busy != stack)
        free(busy);
    *n_out = n;
    return total > cap ? BP_ETOOBIG : BP_OK;
}

/* ---- one start ------------------------------------------------------------ */

int booking_slot_check(const booking_avail_query *q, int64_t start)
{
    booking_hours rows[BOOKING_AVAIL_MAX_HOURS];
    int rv = prepare(q, rows);
    if (rv != BP_OK)
        return rv;
    for (size_t i = 0; i < q->n_busy; i++)
        if (q->busy[i].end < q->busy[i].start)
            return BP_EINVAL;

    if (start < q->now)
        return BOOKING_SLOT_IN_THE_PAST;
    if (start < q->now + (int64_t)q->notice_min * 60)
        return BOOKING_SLOT_TOO_SOON;
    if (start >= q->now + (int64_t)q->horizon_days * DAY)
        return BOOKING_SLOT_TOO_FAR;

    /* start is below now + 10 years here, and above now - 2^62. */
    int64_t local = start + bp_tz_offset(q->tz, start);
    int64_t day = local / DAY - (local % DAY < 0);
    if (day < 0 || day > LAST_DAY)
        return BOOKING_SLOT_OUTSIDE_HOURS;
    for (size_t i = 0; i < q->n_closed; i++)
        if (q->closed_days[i] == day)
            return BOOKING_SLOT_HOLIDAY;

    int64_t midnight = day * DAY, sod = local - midnight;
    int wd = bp_iso_weekday((int32_t)day);
    const booking_hours *row = NULL;
    for (size_t i = 0; i < q->n_hours && row == NULL; i++)
        if (rows[i].weekday == wd && sod >= rows[i].start_min * 60 && sod < rows[i].end_min * 60)
            row = &rows[i];
    int64_t row_end, need = (int64_t)(q->duration_min + q->buffer_min) * 60;
    if (row == NULL ||
        bp_tz_local_to_utc_end(q->tz, midnight + row->end_min * 60, &row_end) != BP_OK ||
        start + need > row_end)
        return BOOKING_SLOT_OUTSIDE_HOURS;

    /* The list offers grid wall times, each as its earlier instant only. */
    int64_t canonical;
    if (sod % ((int64_t)q->step_min * 60) != 0 ||
        bp_tz_local_to_utc(q->tz, local, &canonical) != BP_OK || canonical != start)
        return BOOKING_SLOT_MISALIGNED;

    for (size_t i = 0; i < q->n_busy; i++)
        if (q->busy[i].start < start + need && start < q->busy[i].end)
            return BOOKING_SLOT_BUSY;
    return BOOKING_SLOT_FREE;
}
