/* PostgreSQL and Redis health as metrics: each daemon pings its stores
 * when the gateway collects its Metrics, so /api/metrics tells whether a
 * daemon still reaches them and how fast they answer. */
#ifndef BP_STOREHEALTH_H
#define BP_STOREHEALTH_H

#include "db.h"
#include "kv.h"

/* Pings PostgreSQL on db (SELECT 1) and Redis on kv (PING), each skipped
 * when NULL, and records the outcome in the metrics registry:
 * barberpro_database_up and barberpro_redis_up (1 or 0),
 * barberpro_database_ping_seconds and barberpro_redis_ping_seconds (the
 * time the ping took, answered or not), and, when PostgreSQL answered,
 * barberpro_database_connections and barberpro_database_max_connections
 * (the server's client connections and its limit). A lost connection is
 * reconnected first, as every query does. Blocks for the round trips, at
 * most the connections' own timeouts; the caller owns db and kv. */
void bp_storehealth_record(bp_db *db, bp_kv *kv);

#endif
