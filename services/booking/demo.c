/* Demo catalogue for `make run`: a barbershop in Palermo, CABA, with two
 * barbers and a few services, each service with its first price row and each
 * barber with the default week. Ids are fixed so that the demo accounts made
 * by `barberpro-auth demo-data` line up; loading it twice changes nothing
 * (one implicit transaction: all of it or none). */
#include "booking.h"

#include <stdio.h>

#include "log.h"

static const char demo_sql[] =
    "-- Demo catalogue for `make run`: a barbershop in Palermo, CABA, with two\n"
    "-- barbers and a few services. Ids are fixed so that the demo accounts the\n"
    "-- auth daemon creates (`barberpro-auth demo-data`) line up; re-running it\n"
    "-- changes nothing.\n"
    "INSERT INTO booking.shops (id, owner_id, name, address, city, phone)\n"
    "VALUES ('5e0d0000-0000-4000-8000-000000000001', '0d0e0000-0000-4000-8000-000000000001',\n"
    "        'Barbería El Palermo', 'Honduras 4800', 'Ciudad Autónoma de Buenos Aires',\n"
    "        '+5491140001234')\n"
    "ON CONFLICT (id) DO NOTHING;\n"
    "\n"
    "INSERT INTO booking.services (id, shop_id, name, duration_minutes, buffer_minutes, "
    "price_cents, deposit_percent)\n"
    "VALUES\n"
    "    ('5e0d0000-0000-4000-8000-000000000101', '5e0d0000-0000-4000-8000-000000000001', 'Corte "
    "clásico', 30, 5, 1500000, 20),\n"
    "    ('5e0d0000-0000-4000-8000-000000000102', '5e0d0000-0000-4000-8000-000000000001', 'Corte y "
    "barba', 45, 5, 2200000, 20),\n"
    "    ('5e0d0000-0000-4000-8000-000000000103', '5e0d0000-0000-4000-8000-000000000001', "
    "'Afeitado con navaja', 30, 5, 1200000, 0),\n"
    "    ('5e0d0000-0000-4000-8000-000000000104', '5e0d0000-0000-4000-8000-000000000001', 'Color', "
    "90, 10, 3500000, 30)\n"
    "ON CONFLICT (id) DO NOTHING;\n"
    "\n"
    "INSERT INTO booking.providers (id, shop_id, user_id, name, email, phone)\n"
    "VALUES\n"
    "    ('5e0d0000-0000-4000-8000-000000000201', '5e0d0000-0000-4000-8000-000000000001',\n"
    "     '0d0e0000-0000-4000-8000-000000000002', 'Martín Gómez', 'martin@demo.barberpro.com.ar', "
    "'+5491140005678'),\n"
    "    ('5e0d0000-0000-4000-8000-000000000202', '5e0d0000-0000-4000-8000-000000000001',\n"
    "     '0d0e0000-0000-4000-8000-000000000003', 'Lucas Fernández', "
    "'lucas@demo.barberpro.com.ar', '+5491140009012')\n"
    "ON CONFLICT (id) DO NOTHING;\n"
    "\n"
    "INSERT INTO booking.provider_services (provider_id, service_id)\n"
    "SELECT p.id, s.id\n"
    "FROM booking.providers p JOIN booking.services s ON s.shop_id = p.shop_id\n"
    "WHERE p.shop_id = '5e0d0000-0000-4000-8000-000000000001'\n"
    "  AND NOT (p.id = '5e0d0000-0000-4000-8000-000000000202' AND s.name = 'Color')\n"
    "ON CONFLICT DO NOTHING;\n"
    "\n"
    "-- Rows 0003's backfill could not cover: it ran before this file. A service\n"
    "-- without a price row gets its first price from the day it was created;\n"
    "-- a barber without hours gets the default week.\n"
    "INSERT INTO booking.service_prices (service_id, price_cents, effective_from)\n"
    "SELECT s.id, s.price_cents, (s.created_at AT TIME ZONE sh.timezone)::date\n"
    "FROM booking.services s JOIN booking.shops sh ON sh.id = s.shop_id\n"
    "WHERE s.shop_id = '5e0d0000-0000-4000-8000-000000000001'\n"
    "  AND NOT EXISTS (SELECT 1 FROM booking.service_prices sp WHERE sp.service_id = s.id)\n"
    "ON CONFLICT DO NOTHING;\n"
    "\n"
    "INSERT INTO booking.provider_hours (provider_id, weekday, start_min, end_min)\n"
    "SELECT p.id, d.weekday, d.start_min, d.end_min\n"
    "FROM booking.providers p\n"
    "CROSS JOIN (VALUES (1, 540, 1080), (2, 540, 1080), (3, 540, 1080), (4, 540, 1080),\n"
    "                   (5, 540, 1080), (6, 540, 780)) AS d (weekday, start_min, end_min)\n"
    "WHERE p.shop_id = '5e0d0000-0000-4000-8000-000000000001'\n"
    "  AND NOT EXISTS (SELECT 1 FROM booking.provider_hours h WHERE h.provider_id = p.id)\n"
    "ON CONFLICT DO NOTHING;\n";

int booking_demo_load(bp_db *db)
{
    PGresult *r = PQexec(bp_db_conn(db), demo_sql);
    int rv = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : BP_EIO;
    if (rv != 0)
        bp_log_error("loading the demo catalogue failed: %s", PQresultErrorMessage(r));
    else
        bp_log_info("demo catalogue loaded: Barbería El Palermo, 2 barbers with their weeks, "
                    "4 services with their prices");
    PQclear(r);
    return rv;
}
