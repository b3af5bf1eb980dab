/* One RPC with an empty input sent to every service at once (Health,
 * Metrics); the request resumes when the last call completes. */
#ifndef GW_FANOUT_H
#define GW_FANOUT_H

#include <stdbool.h>

#include "gw_request.h"

/* Suspends req and calls method on every service of gw_services with
 * timeout_ms each: once per service (any of its instances answers), or,
 * with each_instance, once per instance of a service that has several.
 * Afterwards each of req->fan.slots[0..n) holds one call's outcome (rv,
 * reply) and names its service and instance; without each_instance slot i
 * is service i. Returns false when the gateway is stopping (nothing was
 * started; answer 503). */
bool gw_fanout_start(gw_request *req, const char *method, int timeout_ms, bool each_instance);

/* The status of slot's call (0 when it failed before a reply). */
int gw_fanout_status(const gw_fan_slot *slot);

#endif
