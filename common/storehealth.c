/* Timed pings of PostgreSQL and Redis, recorded as gauges. */
#include "storehealth.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "metrics.h"

/* Seconds on the monotonic clock, with the precision a sub-millisecond
 * ping needs. */
static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_gauge(const char *name, const char *help, double v)
{
    bp_gauge_set(bp_metrics_gauge(name, help, NULL), v);
}

/* Reads the server's client connections (every database's backends) and
 * its max_connections; pg_stat_database is readable by any role. */
static void record_connections(bp_db *db)
{
    PGresult *r = bp_db_query(db,
                              "SELECT sum(numbackends)::bigint,"
                              " current_setting('max_connections')::bigint"
                              " FROM pg_stat_database",
                              0, NULL);
    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        !PQgetisnull(r, 0, 0) && !PQgetisnull(r, 0, 1)) {
        set_gauge("barberpro_database_connections",
                  "Client connections open on the daemon's PostgreSQL server, all databases, "
                  "at the last Metrics call that reached it.",
                  strtod(PQgetvalue(r, 0, 0), NULL));
        set_gauge("barberpro_database_max_connections",
                  "The max_connections setting of the daemon's PostgreSQL server.",
                  strtod(PQgetvalue(r, 0, 1), NULL));
    }
    PQclear(r);
}

void bp_storehealth_record(bp_db *db, bp_kv *kv)
{
    if (db != NULL) {
        double start = mono_seconds();
        PGresult *r = bp_db_query(db, "SELECT 1", 0, NULL);
        bool up = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        set_gauge("barberpro_database_ping_seconds",
                  "Time the daemon's PostgreSQL ping (SELECT 1) took, answered or not, when the "
                  "Metrics call ran.",
                  mono_seconds() - start);
        set_gauge("barberpro_database_up",
                  "Whether PostgreSQL answered the daemon's ping when the Metrics call ran (1) "
                  "or not (0).",
                  up);
        if (up)
            record_connections(db);
    }
    if (kv != NULL) {
        double start = mono_seconds();
        bool up = bp_kv_ping(kv) == 0;
        set_gauge("barberpro_redis_ping_seconds",
                  "Time the daemon's Redis PING took, answered or not, when the Metrics call "
                  "ran.",
                  mono_seconds() - start);
        set_gauge("barberpro_redis_up",
                  "Whether Redis answered the daemon's PING when the Metrics call ran (1) or "
                  "not (0).",
                  up);
    }
}
