/* A shop's services: create (with its first price), the public list (cached
 * in Redis), and changes, including a new price from a given day. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking.h"
#include "cache.h"
#include "log.h"
#include "prices.h"
#include "tz.h"

#define SERVICE_NAME_MAX     120
#define SERVICE_DURATION_MIN 5
#define SERVICE_DURATION_MAX 600
#define SERVICE_BUFFER_MAX   240

/* The list cache's field changes every quarter hour: every zone's midnight
 * falls on a quarter hour, so a price dated for a day is never hidden by a
 * list cached the day before (prices.c). */
#define SERVICES_CACHE_BUCKET_S 900

/* The validated, writable fields of a service; has_ false keeps a value. */
typedef struct {
    char name[SERVICE_NAME_MAX * 4 + 1];
    char duration[12], buffer[12], deposit[12], active[6];
    bool has_name, has_duration, has_buffer, has_deposit, has_active, has_price;
    int64_t price_cents;
} service_fields;

static int check_fields(bp_call *call, bool create, const char *name, bool has_duration,
                        int32_t duration, bool has_price, int64_t price, bool has_buffer,
                        int32_t buffer, bool has_deposit, int32_t deposit, bool has_active,
                        bool active, service_fields *f)
{
    const char *why;
    memset(f, 0, sizeof *f);
    if (create || name != NULL) {
        if (bp_text_normalize(name, SERVICE_NAME_MAX, f->name, sizeof f->name, &why) != 0)
            return bp_call_fail(call, 400, "invalid_request", "name",
                                "El nombre del servicio no es válido: %s", why);
        f->has_name = true;
    }
    if (create && !has_duration)
        return bp_call_fail_invalid(call, "duration_minutes", "Falta la duración del servicio.");
    if (has_duration) {
        if (duration < SERVICE_DURATION_MIN || duration > SERVICE_DURATION_MAX)
            return bp_call_fail_invalid(call, "duration_minutes",
                                        "La duración debe estar entre 5 y 600 minutos.");
        snprintf(f->duration, sizeof f->duration, "%d", duration);
        f->has_duration = true;
    }
    if (create && !has_price)
        return bp_call_fail_invalid(call, "price_cents", "Falta el precio del servicio.");
    if (has_price) {
        if (price < 0)
            return bp_call_fail_invalid(call, "price_cents", "El precio no puede ser negativo.");
        if (price > BOOKING_PRICE_MAX)
            return bp_call_fail_invalid(call, "price_cents", "El precio es demasiado alto.");
        f->price_cents = price;
        f->has_price = true;
    }
    if (has_buffer) {
        if (buffer < 0 || buffer > SERVICE_BUFFER_MAX)
            return bp_call_fail_invalid(call, "buffer_minutes",
                                        "El margen entre turnos debe estar entre 0 y 240 "
                                        "minutos.");
        snprintf(f->buffer, sizeof f->buffer, "%d", buffer);
        f->has_buffer = true;
    }
    if (has_deposit) {
        if (deposit < 0 || deposit > 100)
            return bp_call_fail_invalid(call, "deposit_percent",
                                        "La seña debe estar entre 0 y 100 %.");
        snprintf(f->deposit, sizeof f->deposit, "%d", deposit);
        f->has_deposit = true;
    }
    if (has_active) {
        snprintf(f->active, sizeof f->active, "%s", active ? "true" : "false");
        f->has_active = true;
    }
    return 0;
}

/* The zone of shop_id into tz; answers 404 or 503 itself. */
static int shop_zone(bp_call *call, const char *shop_id, char tz[BP_TZ_NAME_MAX + 1])
{
    const char *params[] = {shop_id};
    PGresult *res = bp_db_query(bp_call_worker(call)->db,
                                "SELECT timezone FROM booking.shops WHERE id = $1", 1, params);
    int rv = 0;
    if (!bp_db_ok(res, bp_call_request_id(call)))
        rv = bp_call_fail_internal(call, BP_EIO);
    else if (PQntuples(res) == 0)
        rv = bp_call_fail_not_found(call, "El local");
    else
        snprintf(tz, BP_TZ_NAME_MAX + 1, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rv;
}

/* Reads service id back, priced today, into *out (inside or outside a
 * transaction). Returns 0, BP_ENOTFOUND, BP_ENOMEM or BP_EIO. */
static int load_service(bp_call *call, const char *id, Bp__Booking__Service **out)
{
    const char *params[] = {NULL, id};
    PGresult *res =
        bp_db_query(bp_call_worker(call)->db, BOOKING_SERVICE_SELECT "WHERE s.id = $2", 2, params);
    int rv = 0;
    if (!bp_db_ok(res, bp_call_request_id(call)))
        rv = BP_EIO;
    else if (PQntuples(res) == 0)
        rv = BP_ENOTFOUND;
    else if ((*out = booking_service_from_row(call, res, 0)) == NULL)
        rv = BP_ENOMEM;
    PQclear(res);
    return rv;
}

BOOKING_HANDLER(create_service)
{
    const Bp__Booking__CreateServiceRequest *r = (const Bp__Booking__CreateServiceRequest *)req;
    Bp__Booking__ServiceReply *out = (Bp__Booking__ServiceReply *)resp;
    const booking_ctx *ctx = booking_ctx_of(call);
    bp_worker *w = bp_call_worker(call);
    service_fields f;
    char tz[BP_TZ_NAME_MAX + 1], id[37], price[24], day[11];

    int rv = booking_require_shop_owner(call, r->shop_id);
    if (rv != 0)
        return rv;
    rv = check_fields(call, true, r->name, r->has_duration_minutes, r->duration_minutes,
                      r->has_price_cents, r->price_cents, r->has_buffer_minutes, r->buffer_minutes,
                      r->has_deposit_percent, r->deposit_percent, false, false, &f);
    if (rv != 0)
        return rv;
    if ((rv = shop_zone(call, r->shop_id, tz)) != 0)
        return rv;
    bp_date_format(booking_local_day(tz, bp_now_ms()), day);
    bp_uuid(id);
    snprintf(price, sizeof price, "%lld", (long long)f.price_cents);

    const char *params[] = {id,
                            r->shop_id,
                            f.name,
                            f.duration,
                            f.has_buffer ? f.buffer : "0",
                            price,
                            ctx->currency,
                            f.has_deposit ? f.deposit : "0"};
    if (bp_db_begin(w->db) != 0)
        return bp_call_fail_internal(call, BP_EIO);
    PGresult *res =
        bp_db_query(w->db,
                    "INSERT INTO booking.services (id, shop_id, name, duration_minutes, "
                    "buffer_minutes, price_cents, currency, deposit_percent) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    8, params);
    rv = bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    PQclear(res);
    if (rv == 0)
        rv = booking_price_set(w->db, id, f.price_cents, day, bp_call_user_id(call), true);
    if (rv == 0)
        rv = load_service(call, id, &out->service);
    if (rv == 0 && bp_db_commit(w->db) != 0)
        rv = BP_EIO;
    if (rv != 0) {
        bp_db_rollback(w->db);
        return bp_call_fail_internal(call, rv);
    }
    booking_cache_drop(w->kv, BOOKING_CACHE_SERVICES, r->shop_id);
    bp_call_set_status(call, 201);
    return 0;
}

BOOKING_HANDLER(list_services)
{
    const Bp__Booking__ListServicesRequest *r = (const Bp__Booking__ListServicesRequest *)req;
    Bp__Booking__ServiceList *out = (Bp__Booking__ServiceList *)resp;
    booking_cache_entry entry;
    char field[32];

    if (!bp_call_check_uuid(call, "shop_id", r->shop_id))
        return BP_EREPLIED;
    snprintf(field, sizeof field, "all:%lld",
             (long long)(bp_now_ms() / 1000 / SERVICES_CACHE_BUCKET_S));
    const Bp__Booking__ServiceList *hit = (const Bp__Booking__ServiceList *)booking_cache_get(
        call, BOOKING_CACHE_SERVICES, r->shop_id, field, &bp__booking__service_list__descriptor,
        &entry);
    if (hit != NULL) {
        out->n_items = hit->n_items;
        out->items = hit->items;
        return 0;
    }

    /* An unknown shop is 404, never an empty list (and never cached). */
    const char *shop_param[] = {r->shop_id};
    PGresult *res = bp_db_query(bp_call_worker(call)->db,
                                "SELECT 1 FROM booking.shops WHERE id = $1", 1, shop_param);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    bool known = PQntuples(res) == 1;
    PQclear(res);
    if (!known)
        return bp_call_fail_not_found(call, "El local");

    const char *params[] = {NULL, r->shop_id};

    res = bp_db_query(bp_call_worker(call)->db,
                      BOOKING_SERVICE_SELECT "WHERE s.shop_id = $2 AND s.active "
                                             "ORDER BY s.created_at, s.id "
                                             "LIMIT " BOOKING_STR(BOOKING_SERVICES_MAX),
                      2, params);
    int rv = bp_db_ok(res, bp_call_request_id(call)) ? booking_services_from_result(call, res, out)
                                                     : BP_EIO;
    PQclear(res);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    booking_cache_put(call, &entry, (const ProtobufCMessage *)out);
    return 0;
}

BOOKING_HANDLER(update_service)
{
    const Bp__Booking__UpdateServiceRequest *r = (const Bp__Booking__UpdateServiceRequest *)req;
    Bp__Booking__ServiceReply *out = (Bp__Booking__ServiceReply *)resp;
    bp_worker *w = bp_call_worker(call);
    service_fields f;
    char shop_id[37], tz[BP_TZ_NAME_MAX + 1], day[11] = "";
    bool is_today = false;

    if (!bp_call_check_uuid(call, "service_id", r->service_id))
        return BP_EREPLIED;
    const char *id_param[] = {r->service_id};
    PGresult *res = bp_db_query(w->db,
                                "SELECT s.shop_id::text, sh.timezone FROM booking.services s "
                                "JOIN booking.shops sh ON sh.id = s.shop_id WHERE s.id = $1",
                                1, id_param);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return bp_call_fail_not_found(call, "El servicio");
    }
    snprintf(shop_id, sizeof shop_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(tz, sizeof tz, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);

    int rv = booking_require_shop_owner(call, shop_id);
    if (rv != 0)
        return rv;
    rv = check_fields(call, false, r->name, r->has_duration_minutes, r->duration_minutes,
                      r->has_price_cents, r->price_cents, r->has_buffer_minutes, r->buffer_minutes,
                      r->has_deposit_percent, r->deposit_percent, r->has_active, r->active, &f);
    if (rv != 0)
        return rv;
    if (!f.has_price && r->effective_from != NULL && r->effective_from[0] != '\0')
        return bp_call_fail_invalid(call, "effective_from",
                                    "La fecha de vigencia va junto con un precio nuevo "
                                    "(price_cents).");
    if (f.has_price && (rv = booking_price_day(call, "effective_from", r->effective_from, tz, day,
                                               &is_today)) != 0)
        return rv;

    const char *params[] = {r->service_id,
                            f.has_name ? f.name : NULL,
                            f.has_duration ? f.duration : NULL,
                            f.has_buffer ? f.buffer : NULL,
                            f.has_deposit ? f.deposit : NULL,
                            f.has_active ? f.active : NULL};
    if (bp_db_begin(w->db) != 0)
        return bp_call_fail_internal(call, BP_EIO);
    res = bp_db_query(w->db,
                      "UPDATE booking.services SET name = coalesce($2, name), "
                      "duration_minutes = coalesce($3::integer, duration_minutes), "
                      "buffer_minutes = coalesce($4::integer, buffer_minutes), "
                      "deposit_percent = coalesce($5::integer, deposit_percent), "
                      "active = coalesce($6::boolean, active) WHERE id = $1",
                      6, params);
    rv = bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    PQclear(res);
    if (rv == 0 && f.has_price)
        rv = booking_price_set(w->db, r->service_id, f.price_cents, day, bp_call_user_id(call),
                               is_today);
    if (rv == 0)
        rv = load_service(call, r->service_id, &out->service);
    if (rv == 0 && bp_db_commit(w->db) != 0)
        rv = BP_EIO;
    if (rv != 0) {
        bp_db_rollback(w->db);
        return bp_call_fail_internal(call, rv);
    }

    booking_cache_drop(w->kv, BOOKING_CACHE_SERVICES, shop_id);
    /* A provider's services leave its list with the service, and slots
     * depend on the length of what is booked. */
    if (f.has_active)
        booking_cache_drop(w->kv, BOOKING_CACHE_PROVIDERS, shop_id);
    if (f.has_duration || f.has_buffer || f.has_active)
        booking_cache_drop_shop(w->db, w->kv, shop_id);
    return 0;
}
