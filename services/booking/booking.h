/* The booking daemon's internal interface. */
#ifndef BOOKING_H
#define BOOKING_H

#include "bp.h"
#include "db.h"

/* Loads the demo shop, services and barbers (idempotent). Returns 0 or
 * BP_EIO. */
int booking_demo_load(bp_db *db);

#endif
