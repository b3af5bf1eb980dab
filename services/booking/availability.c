/* The slot engine: walks the step grid of each working-hours row in local
 * wall-clock time, turns each start into an instant in the shop's zone and
 * keeps those that fit the row and miss every busy span. */
#include "availability.h"

#include <math.h>
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

/* Checks n working-hours rows (weekday 1..7, 0 <= start < end <= 1440, no
 * two of one weekday overlapping) and copies them sorted by weekday and
 * start into rows. Returns 0 or BP_EINVAL. */
static int prepare_hours(const booking_hours *hours, size_t n,
                         booking_hours rows[BOOKING_AVAIL_MAX_HOURS])
{
    if ((hours == NULL && n > 0) || n > BOOKING_AVAIL_MAX_HOURS)
        return BP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const booking_hours *h = &hours[i];
        if (h->weekday < 1 || h->weekday > 7 || h->start_min < 0 || h->start_min >= h->end_min ||
            h->end_min > 1440)
            return BP_EINVAL;
        rows[i] = *h;
    }
    qsort(rows, n, sizeof rows[0], cmp_hours);
    for (size_t i = 1; i < n; i++)
        if (rows[i].weekday == rows[i - 1].weekday && rows[i].start_min < rows[i - 1].end_min)
            return BP_EINVAL;
    return BP_OK;
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
    return prepare_hours(q->hours, q->n_hours, rows);
}

/* Where each weekday's rows start in rows sorted by prepare_hours: weekday
 * wd's are rows[first[wd]] .. rows[first[wd + 1] - 1]. */
static void index_weekdays(const booking_hours *rows, size_t n, size_t first[9])
{
    memset(first, 0, 9 * sizeof first[0]);
    for (size_t i = 0; i < n; i++)
        first[rows[i].weekday + 1] = i + 1;
    for (int wd = 1; wd <= 8; wd++)
        if (first[wd] < first[wd - 1])
            first[wd] = first[wd - 1];
}

/* The instants a working-hours row spans on the local date whose midnight
 * (local seconds) is midnight: both wall times read as a span's end is
 * (bp_tz_local_to_utc_end), so that one inside a DST gap is the jump and a
 * repeated one its earlier instant. Slots must fit before this end. Returns
 * 0 or BP_EINVAL. */
static int row_instants(const bp_tz *tz, int64_t midnight, const booking_hours *row, int64_t *start,
                        int64_t *end)
{
    if (bp_tz_local_to_utc_end(tz, midnight + row->start_min * 60, start) != BP_OK)
        return BP_EINVAL;
    return bp_tz_local_to_utc_end(tz, midnight + row->end_min * 60, end);
}

/* ---- busy spans ----------------------------------------------------------- */

static int cmp_span(const void *a, const void *b)
{
    const booking_span *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Keeps the n spans of in that reach into [lo, hi), sorted and merged, in
 * *merged (stack or a malloc'ed block the caller frees when it is not
 * stack). Returns 0, BP_EINVAL for a span ending before it starts, or
 * BP_ENOMEM. */
static int merge_spans(const booking_span *in, size_t n_in, int64_t lo, int64_t hi,
                       booking_span stack[BUSY_ON_STACK], booking_span **merged, size_t *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n_in; i++) {
        if (in[i].end < in[i].start)
            return BP_EINVAL;
        if (in[i].end > lo && in[i].start < hi && in[i].end > in[i].start)
            kept++;
    }
    booking_span *s = stack;
    if (kept > BUSY_ON_STACK && (s = malloc(kept * sizeof *s)) == NULL)
        return BP_ENOMEM;
    kept = 0;
    for (size_t i = 0; i < n_in; i++)
        if (in[i].end > lo && in[i].start < hi && in[i].end > in[i].start)
            s[kept++] = in[i];
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

/* Copies the closed days within first_day .. first_day + n_days - 1 into
 * out (room for BOOKING_AVAIL_MAX_CLOSED), ascending; returns how many. */
static size_t closed_within(const int32_t *days, size_t n, int32_t first_day, int n_days,
                            int32_t out[BOOKING_AVAIL_MAX_CLOSED])
{
    size_t kept = 0;
    for (size_t i = 0; i < n && kept < BOOKING_AVAIL_MAX_CLOSED; i++)
        if (days[i] >= first_day && days[i] - n_days < first_day)
            out[kept++] = days[i];
    if (kept > 1)
        qsort(out, kept, sizeof out[0], cmp_day);
    return kept;
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

    size_t wd_first[9];
    index_weekdays(rows, q->n_hours, wd_first);
    int32_t closed[BOOKING_AVAIL_MAX_CLOSED];
    size_t n_closed = closed_within(q->closed_days, q->n_closed, q->first_day, q->n_days, closed);

    /* A day's instants lie within 26 h of its local midnights. */
    int64_t first_midnight = (int64_t)q->first_day * DAY;
    booking_span stack[BUSY_ON_STACK], *busy = NULL;
    size_t n_busy = 0;
    rv = merge_spans(q->busy, q->n_busy, first_midnight - 2 * DAY,
                     first_midnight + ((int64_t)q->n_days + 2) * DAY, stack, &busy, &n_busy);
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
            int64_t row_start, row_end;
            if (row_instants(q->tz, midnight, &rows[r], &row_start, &row_end) != BP_OK)
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

/* ---- working time ---------------------------------------------------------- */

/* Writes a minus b (both sorted and merged) into out (room for na + nb);
 * returns how many spans it holds, sorted and disjoint. */
static size_t spans_subtract(const booking_span *a, size_t na, const booking_span *b, size_t nb,
                             booking_span *out)
{
    size_t n = 0, j = 0;
    for (size_t i = 0; i < na; i++) {
        int64_t start = a[i].start;
        while (j < nb && b[j].end <= start)
            j++;
        for (size_t k = j; k < nb && b[k].start < a[i].end; k++) {
            if (b[k].start > start)
                out[n++] = (booking_span){start, b[k].start};
            if (b[k].end > start)
                start = b[k].end;
        }
        if (start < a[i].end)
            out[n++] = (booking_span){start, a[i].end};
    }
    return n;
}

/* Seconds that a and b (both sorted and merged) have in common. */
static int64_t spans_common(const booking_span *a, size_t na, const booking_span *b, size_t nb)
{
    int64_t total = 0;
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        int64_t lo = a[i].start > b[j].start ? a[i].start : b[j].start;
        int64_t hi = a[i].end < b[j].end ? a[i].end : b[j].end;
        if (hi > lo)
            total += hi - lo;
        if (a[i].end < b[j].end)
            i++;
        else
            j++;
    }
    return total;
}

int booking_usage_measure(const booking_usage_query *q, booking_usage *out)
{
    booking_hours rows[BOOKING_AVAIL_MAX_HOURS];
    if (q == NULL || out == NULL || q->tz == NULL || (q->closed_days == NULL && q->n_closed > 0) ||
        (q->time_off == NULL && q->n_time_off > 0) || (q->booked == NULL && q->n_booked > 0) ||
        q->n_closed > BOOKING_AVAIL_MAX_CLOSED || q->n_time_off > BOOKING_AVAIL_MAX_BUSY ||
        q->n_booked > BOOKING_AVAIL_MAX_BUSY || q->from < 0 || q->to < q->from ||
        q->to - q->from > (int64_t)BOOKING_AVAIL_MAX_DAYS * DAY ||
        q->to > ((int64_t)LAST_DAY - 1) * DAY)
        return BP_EINVAL;
    int rv = prepare_hours(q->hours, q->n_hours, rows);
    if (rv != BP_OK)
        return rv;

    /* A local date's rows lie within a day of its midnight in any zone:
     * the dates around the interval's ends are looked at too. */
    int32_t first_day = bp_tz_local_day(q->tz, q->from) - 1;
    int32_t last_day = bp_tz_local_day(q->tz, q->to) + 1;
    if (first_day < 0)
        first_day = 0;
    int n_days = (int)(last_day - first_day + 1);
    size_t wd_first[9];
    index_weekdays(rows, q->n_hours, wd_first);
    int32_t closed[BOOKING_AVAIL_MAX_CLOSED];
    size_t n_closed = closed_within(q->closed_days, q->n_closed, first_day, n_days, closed);

    size_t cap = 0;
    for (int32_t day = first_day; day <= last_day; day++) {
        int wd = bp_iso_weekday(day);
        cap += wd_first[wd + 1] - wd_first[wd];
    }
    booking_span stack_work[BUSY_ON_STACK], stack_off[BUSY_ON_STACK], stack_booked[BUSY_ON_STACK];
    booking_span *raw = malloc((cap + 1) * sizeof *raw);
    booking_span *work = stack_work, *off = stack_off, *booked = stack_booked, *free_spans = NULL;
    size_t n_raw = 0, n_work = 0, n_off = 0, n_booked = 0, ci = 0;
    if (raw == NULL)
        return BP_ENOMEM;
    for (int32_t day = first_day; day <= last_day; day++) {
        while (ci < n_closed && closed[ci] < day)
            ci++;
        if (ci < n_closed && closed[ci] == day)
            continue;
        int wd = bp_iso_weekday(day);
        for (size_t r = wd_first[wd]; r < wd_first[wd + 1]; r++) {
            int64_t start, end;
            if (row_instants(q->tz, (int64_t)day * DAY, &rows[r], &start, &end) != BP_OK)
                continue;
            if (start < q->from)
                start = q->from;
            if (end > q->to)
                end = q->to;
            if (start < end)
                raw[n_raw++] = (booking_span){start, end};
        }
    }
    if ((rv = merge_spans(raw, n_raw, q->from, q->to, stack_work, &work, &n_work)) != BP_OK ||
        (rv = merge_spans(q->time_off, q->n_time_off, q->from, q->to, stack_off, &off, &n_off)) !=
            BP_OK ||
        (rv = merge_spans(q->booked, q->n_booked, q->from, q->to, stack_booked, &booked,
                          &n_booked)) != BP_OK)
        goto out;
    if ((free_spans = malloc((n_work + n_off + 1) * sizeof *free_spans)) == NULL) {
        rv = BP_ENOMEM;
        goto out;
    }
    size_t n_free = spans_subtract(work, n_work, off, n_off, free_spans);
    out->working_s = 0;
    for (size_t i = 0; i < n_free; i++)
        out->working_s += free_spans[i].end - free_spans[i].start;
    out->booked_s = spans_common(free_spans, n_free, booked, n_booked);
out:
    free(free_spans);
    if (work != stack_work)
        free(work);
    if (off != stack_off)
        free(off);
    if (booked != stack_booked)
        free(booked);
    free(raw);
    return rv;
}

double booking_usage_ratio(int64_t booked_s, int64_t working_s)
{
    if (working_s <= 0)
        return NAN;
    return (double)booked_s / (double)working_s;
}
