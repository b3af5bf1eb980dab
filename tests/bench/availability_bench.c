/* Times the slot engine on its everyday load: sixty days of one barber with
 * ten bookings a day, in Buenos Aires and in a DST zone. Prints microseconds
 * per call. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../services/booking/availability.h"
#include "bp.h"
#include "tz.h"

#define CALLS  10000
#define DAYS   60
#define ROUNDS 5

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int bench(const char *zone_name)
{
    static const booking_hours week[] = {
        {1, 540, 1080}, {2, 540, 1080}, {3, 540, 1080},
        {4, 540, 1080}, {5, 540, 1080}, {6, 540, 780},
    };
    static booking_span busy[DAYS * 10], slots[4096];
    const bp_tz *tz;
    if (bp_tz_load(zone_name, &tz) != 0) {
        fprintf(stderr, "availability-bench: cannot load %s\n", zone_name);
        return 1;
    }
    int32_t first = bp_days_from_civil(2026, 3, 2);
    size_t nb = 0;
    /* Ten 40-minute bookings a day, listed newest first. */
    for (int d = DAYS - 1; d >= 0; d--)
        for (int b = 0; b < 10; b++) {
            int64_t t;
            int64_t local = ((int64_t)first + d) * 86400 + (9 * 60 + b * 50) * 60;
            if (bp_tz_local_to_utc(tz, local, &t) == 0)
                busy[nb++] = (booking_span){t, t + 40 * 60};
        }
    booking_avail_query q = {
        .tz = tz,
        .hours = week,
        .n_hours = sizeof week / sizeof week[0],
        .busy = busy,
        .n_busy = nb,
        .duration_min = 30,
        .buffer_min = 10,
        .step_min = 15,
        .now = (int64_t)first * 86400,
        .notice_min = 60,
        .horizon_days = 90,
        .first_day = first,
        .n_days = DAYS,
    };
    /* Five rounds: the mean shows the usual cost, the best round what the
     * code costs when the machine is not busy with something else. */
    size_t n = 0;
    double total = 0, best = 1e300;
    for (int round = 0; round < ROUNDS; round++) {
        double start = now_us();
        for (int i = 0; i < CALLS / ROUNDS; i++)
            if (booking_availability(&q, slots, sizeof slots / sizeof slots[0], &n) != 0) {
                fprintf(stderr, "availability-bench: query failed\n");
                return 1;
            }
        double spent = now_us() - start;
        total += spent;
        best = spent < best ? spent : best;
    }
    printf("%-31s %d days, %zu busy spans, %zu slots: %.1f us per call (best round %.1f)\n",
           zone_name, DAYS, nb, n, total / CALLS, best / (CALLS / ROUNDS));
    return 0;
}

int main(void)
{
    int rv = bench("America/Argentina/Buenos_Aires") | bench("America/New_York");
    bp_tz_cache_free();
    return rv;
}
