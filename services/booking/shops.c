/* Shops: create, list (public, by city, keyset pages), get, update, and the
 * days an owner opens on a holiday; plus the text, phone and slot-step rules
 * the catalogue shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking.h"
#include "cache.h"
#include "holidays.h"
#include "log.h"
#include "tz.h"

/* Limits of a shop's texts, in characters. */
#define SHOP_NAME_MAX    120
#define SHOP_ADDRESS_MAX 200
#define SHOP_CITY_MAX    100
#define TEXT_SIZE(n)     ((n)*4 + 1)

/* Pages of the public list. */
#define SHOPS_PAGE_DEFAULT 20
#define SHOPS_PAGE_MAX     100

/* Defaults of a new shop (the migrations' column defaults). */
#define SHOP_STEP_DEFAULT     15
#define SHOP_CANCEL_DEFAULT   24
#define SHOP_NO_SHOW_DEFAULT  50
#define SHOP_CANCEL_HOURS_MAX 720

#define SHOP_COLUMNS                                                                               \
    "id::text, owner_id::text, name, address, city, coalesce(phone, ''), timezone, "               \
    "slot_step_minutes, cancellation_hours, no_show_deposit_percent, "                             \
    "(extract(epoch from created_at) * 1000)::bigint"

/* ---- rules ----------------------------------------------------------------- */

bool booking_slot_step_valid(int minutes)
{
    if (minutes < 5 || minutes > 120)
        return false;
    return 60 % minutes == 0 || (minutes % 60 == 0 && 1440 % minutes == 0);
}

/* ---- replies ------------------------------------------------------------- */

static Bp__Booking__Shop *shop_from_row(bp_call *call, const PGresult *res, int row)
{
    Bp__Booking__Shop *m =
        (Bp__Booking__Shop *)bp_call_message(call, &bp__booking__shop__descriptor);
    if (m == NULL)
        return NULL;
    const char *tz = PQgetvalue(res, row, 6);
    m->id = bp_call_strdup(call, PQgetvalue(res, row, 0));
    m->owner_id = bp_call_strdup(call, PQgetvalue(res, row, 1));
    m->name = bp_call_strdup(call, PQgetvalue(res, row, 2));
    m->address = bp_call_strdup(call, PQgetvalue(res, row, 3));
    m->city = bp_call_strdup(call, PQgetvalue(res, row, 4));
    if (PQgetvalue(res, row, 5)[0] != '\0')
        m->phone = bp_call_strdup(call, PQgetvalue(res, row, 5));
    m->timezone = bp_call_strdup(call, tz);
    m->has_slot_step_minutes = true;
    m->slot_step_minutes = (int32_t)strtol(PQgetvalue(res, row, 7), NULL, 10);
    m->has_cancellation_hours = true;
    m->cancellation_hours = (int32_t)strtol(PQgetvalue(res, row, 8), NULL, 10);
    m->has_no_show_deposit_percent = true;
    m->no_show_deposit_percent = (int32_t)strtol(PQgetvalue(res, row, 9), NULL, 10);
    m->created_at = bp_call_time(call, strtoll(PQgetvalue(res, row, 10), NULL, 10), tz);
    if (m->id == NULL || m->owner_id == NULL || m->name == NULL || m->address == NULL ||
        m->city == NULL || m->timezone == NULL || m->created_at == NULL)
        return NULL;
    return m;
}

static ProtobufCMessage *shop_message(bp_call *call, const PGresult *res, int row)
{
    Bp__Booking__Shop *m = shop_from_row(call, res, row);
    return m != NULL ? &m->base : NULL;
}

int booking_shops_of_owner(bp_call *call, const char *user_id, int max, Bp__Booking__Shop ***items,
                           size_t *n)
{
    return booking_reply_of_user(call,
                                 "SELECT " SHOP_COLUMNS " FROM booking.shops WHERE owner_id = $1"
                                 " ORDER BY created_at, id LIMIT $2::int",
                                 user_id, max, shop_message, (ProtobufCMessage ***)items, n);
}

/* ---- validation of the writable fields ----------------------------------- */

/* The normalised values of a create or update; a NULL pointer or a false
 * has_ flag keeps the stored value. */
typedef struct {
    char name[TEXT_SIZE(SHOP_NAME_MAX)];
    char address[TEXT_SIZE(SHOP_ADDRESS_MAX)];
    char city[TEXT_SIZE(SHOP_CITY_MAX)];
    char phone[17];
    char timezone[BP_TZ_NAME_MAX + 1];
    char step[12], cancel[12], no_show[12];
    bool has_name, has_address, has_city, has_phone, has_timezone, has_step, has_cancel,
        has_no_show;
} shop_fields;

/* A field the client sent: present and, for a create, not empty. */
static bool sent(const char *s)
{
    return s != NULL;
}

static int check_text(bp_call *call, const char *field, const char *in, size_t max, char *out,
                      size_t len)
{
    const char *why;
    if (bp_text_normalize(in, max, out, len, &why) != 0)
        return bp_call_fail(call, 400, "invalid_request", field, "El campo %s no es válido: %s",
                            field, why);
    return 0;
}

/* Checks what the client sent; for a create, required names the fields
 * that must be there. Answers 400 itself. */
static int check_fields(bp_call *call, bool create, const char *name, const char *address,
                        const char *city, const char *phone, const char *timezone, bool has_step,
                        int32_t step, bool has_cancel, int32_t cancel, bool has_no_show,
                        int32_t no_show, shop_fields *f)
{
    int rv;
    const char *why;
    memset(f, 0, sizeof *f);
    if (create || sent(name)) {
        if ((rv = check_text(call, "name", name, SHOP_NAME_MAX, f->name, sizeof f->name)) != 0)
            return rv;
        f->has_name = true;
    }
    if (create || sent(address)) {
        if ((rv = check_text(call, "address", address, SHOP_ADDRESS_MAX, f->address,
                             sizeof f->address)) != 0)
            return rv;
        f->has_address = true;
    }
    if (create || sent(city)) {
        if ((rv = check_text(call, "city", city, SHOP_CITY_MAX, f->city, sizeof f->city)) != 0)
            return rv;
        f->has_city = true;
    }
    if (sent(phone)) {
        /* An empty phone on an update removes it. */
        if (phone[0] != '\0' && bp_phone_normalize(phone, f->phone, sizeof f->phone, &why) != 0)
            return bp_call_fail_invalid(call, "phone", why);
        f->has_phone = !create || phone[0] != '\0';
    }
    if (sent(timezone) || create) {
        const char *tz =
            sent(timezone) && timezone[0] != '\0' ? timezone : booking_ctx_of(call)->timezone;
        const bp_tz *zone;
        if (strlen(tz) > BP_TZ_NAME_MAX || bp_tz_load(tz, &zone) != 0)
            return bp_call_fail_invalid(call, "timezone",
                                        "La zona horaria no existe; usá un nombre IANA, por "
                                        "ejemplo America/Argentina/Buenos_Aires.");
        /* Every local date is computed by PostgreSQL too (prices.c): a zone
         * its own tz database lacks would break the shop's reads. */
        const char *params[] = {tz};
        PGresult *res =
            bp_db_query(bp_call_worker(call)->db, "SELECT now() AT TIME ZONE $1", 1, params);
        bool known = PQresultStatus(res) == PGRES_TUPLES_OK;
        bool broken = res == NULL || (!known && !bp_db_sqlstate(res, "22023"));
        PQclear(res);
        if (broken)
            return bp_call_fail_internal(call, BP_EIO);
        if (!known)
            return bp_call_fail_invalid(call, "timezone",
                                        "La zona horaria no existe; usá un nombre IANA, por "
                                        "ejemplo America/Argentina/Buenos_Aires.");
        snprintf(f->timezone, sizeof f->timezone, "%s", tz);
        f->has_timezone = true;
    }
    if (has_step) {
        if (!booking_slot_step_valid(step))
            return bp_call_fail_invalid(call, "slot_step_minutes",
                                        "El intervalo de turnos debe dividir la hora: 5, 6, 10, "
                                        "12, 15, 20, 30, 60 o 120 minutos.");
        snprintf(f->step, sizeof f->step, "%d", step);
        f->has_step = true;
    }
    if (has_cancel) {
        if (cancel < 0 || cancel > SHOP_CANCEL_HOURS_MAX)
            return bp_call_fail_invalid(call, "cancellation_hours",
                                        "La anticipación para cancelar debe estar entre 0 y 720 "
                                        "horas.");
        snprintf(f->cancel, sizeof f->cancel, "%d", cancel);
        f->has_cancel = true;
    }
    if (has_no_show) {
        if (no_show < 1 || no_show > 100)
            return bp_call_fail_invalid(call, "no_show_deposit_percent",
                                        "La seña por ausencias debe estar entre 1 y 100 %.");
        snprintf(f->no_show, sizeof f->no_show, "%d", no_show);
        f->has_no_show = true;
    }
    return 0;
}

/* Answers resp->shop from a statement that returns one SHOP_COLUMNS row. */
static int reply_shop(bp_call *call, PGresult *res, Bp__Booking__ShopReply *resp)
{
    int rv = 0;
    if (!bp_db_ok(res, bp_call_request_id(call)))
        rv = bp_call_fail_internal(call, BP_EIO);
    else if (PQntuples(res) == 0)
        rv = bp_call_fail_not_found(call, "El local");
    else if ((resp->shop = shop_from_row(call, res, 0)) == NULL)
        rv = bp_call_fail_internal(call, BP_ENOMEM);
    PQclear(res);
    return rv;
}

/* ---- handlers ------------------------------------------------------------ */

BOOKING_HANDLER(create_shop)
{
    const Bp__Booking__CreateShopRequest *r = (const Bp__Booking__CreateShopRequest *)req;
    const char *role = bp_call_role(call);
    shop_fields f;
    char id[37];

    if (strcmp(role, "owner") != 0 && strcmp(role, "admin") != 0)
        return bp_call_fail_forbidden(call);
    int rv = check_fields(call, true, r->name, r->address, r->city, r->phone, r->timezone,
                          r->has_slot_step_minutes, r->slot_step_minutes, r->has_cancellation_hours,
                          r->cancellation_hours, r->has_no_show_deposit_percent,
                          r->no_show_deposit_percent, &f);
    if (rv != 0)
        return rv;
    if (!f.has_step)
        snprintf(f.step, sizeof f.step, "%d", SHOP_STEP_DEFAULT);
    if (!f.has_cancel)
        snprintf(f.cancel, sizeof f.cancel, "%d", SHOP_CANCEL_DEFAULT);
    if (!f.has_no_show)
        snprintf(f.no_show, sizeof f.no_show, "%d", SHOP_NO_SHOW_DEFAULT);

    bp_uuid(id);
    const char *params[] = {id,         bp_call_user_id(call),
                            f.name,     f.address,
                            f.city,     f.phone[0] != '\0' ? f.phone : NULL,
                            f.timezone, f.step,
                            f.cancel,   f.no_show};
    PGresult *res =
        bp_db_query(bp_call_worker(call)->db,
                    "INSERT INTO booking.shops (id, owner_id, name, address, city, phone, "
                    "timezone, slot_step_minutes, cancellation_hours, "
                    "no_show_deposit_percent) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                    "$8, $9, $10) RETURNING " SHOP_COLUMNS,
                    10, params);
    rv = reply_shop(call, res, (Bp__Booking__ShopReply *)resp);
    if (rv != 0)
        return rv;
    bp_log(BP_LOG_INFO, bp_call_request_id(call), "shop %s created by %s", id,
           bp_call_user_id(call));
    bp_call_set_status(call, 201);
    return 0;
}

BOOKING_HANDLER(list_shops)
{
    const Bp__Booking__ListShopsRequest *r = (const Bp__Booking__ListShopsRequest *)req;
    Bp__Booking__ShopList *out = (Bp__Booking__ShopList *)resp;
    char city[TEXT_SIZE(SHOP_CITY_MAX)], limit[12];
    const char *why;
    int page = SHOPS_PAGE_DEFAULT;

    bool by_city = r->city != NULL && r->city[0] != '\0';
    if (by_city && bp_text_normalize(r->city, SHOP_CITY_MAX, city, sizeof city, &why) != 0)
        return bp_call_fail_invalid(call, "city", "La ciudad no es válida.");
    if (r->has_limit) {
        if (r->limit < 1 || r->limit > SHOPS_PAGE_MAX)
            return bp_call_fail_invalid(call, "limit", "El límite debe estar entre 1 y 100.");
        page = r->limit;
    }
    bool after = r->cursor != NULL && r->cursor[0] != '\0';
    /* The cursor is the last id of the previous page; clients treat it as
     * opaque. */
    if (after && !bp_uuid_valid(r->cursor))
        return bp_call_fail_invalid(call, "cursor", "El cursor no es válido.");
    snprintf(limit, sizeof limit, "%d", page + 1);

    const char *params[] = {by_city ? city : NULL, after ? r->cursor : NULL, limit};
    PGresult *res =
        bp_db_query(bp_call_worker(call)->db,
                    "SELECT " SHOP_COLUMNS " FROM booking.shops "
                    "WHERE ($1::text IS NULL OR starts_with(lower(city), lower($1))) "
                    "AND ($2::uuid IS NULL OR (created_at, id) > "
                    "(SELECT c.created_at, c.id FROM booking.shops c WHERE c.id = $2::uuid)) "
                    "ORDER BY created_at, id LIMIT $3::integer",
                    3, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    int n = PQntuples(res);
    int shown = n > page ? page : n;
    int rv = 0;
    out->items = bp_arena_alloc(bp_call_arena(call), sizeof *out->items * (size_t)(shown + 1));
    if (out->items == NULL)
        rv = BP_ENOMEM;
    for (int i = 0; rv == 0 && i < shown; i++) {
        out->items[i] = shop_from_row(call, res, i);
        if (out->items[i] == NULL)
            rv = BP_ENOMEM;
        out->n_items = (size_t)i + 1;
    }
    if (rv == 0 && n > page &&
        (out->next_cursor = bp_call_strdup(call, out->items[shown - 1]->id)) == NULL)
        rv = BP_ENOMEM;
    PQclear(res);
    return rv == 0 ? 0 : bp_call_fail_internal(call, rv);
}

BOOKING_HANDLER(get_shop)
{
    const Bp__Booking__ShopRequest *r = (const Bp__Booking__ShopRequest *)req;
    if (!bp_call_check_uuid(call, "shop_id", r->shop_id))
        return BP_EREPLIED;
    const char *params[] = {r->shop_id};
    PGresult *res =
        bp_db_query(bp_call_worker(call)->db,
                    "SELECT " SHOP_COLUMNS " FROM booking.shops WHERE id = $1", 1, params);
    return reply_shop(call, res, (Bp__Booking__ShopReply *)resp);
}

/* Drops the caches that hold a shop's zone or slot step: every provider's
 * schedule (it names the zone) and availability. */
static void drop_shop_caches(bp_call *call, const char *shop_id, bool schedules)
{
    bp_worker *w = bp_call_worker(call);
    if (schedules) {
        const char *params[] = {shop_id};
        PGresult *res = bp_db_query(
            w->db, "SELECT id::text FROM booking.providers WHERE shop_id = $1", 1, params);
        if (bp_db_ok(res, bp_call_request_id(call)))
            for (int i = 0; i < PQntuples(res); i++)
                booking_cache_drop(w->kv, BOOKING_CACHE_SCHEDULE, PQgetvalue(res, i, 0));
        PQclear(res);
    }
    booking_cache_drop_shop(w->db, w->kv, shop_id);
}

BOOKING_HANDLER(update_shop)
{
    const Bp__Booking__UpdateShopRequest *r = (const Bp__Booking__UpdateShopRequest *)req;
    shop_fields f;
    int rv = booking_require_shop_owner(call, r->shop_id);
    if (rv != 0)
        return rv;
    rv = check_fields(call, false, r->name, r->address, r->city, r->phone, r->timezone,
                      r->has_slot_step_minutes, r->slot_step_minutes, r->has_cancellation_hours,
                      r->cancellation_hours, r->has_no_show_deposit_percent,
                      r->no_show_deposit_percent, &f);
    if (rv != 0)
        return rv;
    const char *params[] = {
        r->shop_id,
        f.has_name ? f.name : NULL,
        f.has_address ? f.address : NULL,
        f.has_city ? f.city : NULL,
        f.has_phone ? f.phone : NULL,
        f.has_timezone ? f.timezone : NULL,
        f.has_step ? f.step : NULL,
        f.has_cancel ? f.cancel : NULL,
        f.has_no_show ? f.no_show : NULL,
    };
    /* $5 = '' removes the phone; NULL keeps it. */
    PGresult *res = bp_db_query(
        bp_call_worker(call)->db,
        "UPDATE booking.shops SET name = coalesce($2, name), address = coalesce($3, address), "
        "city = coalesce($4, city), "
        "phone = CASE WHEN $5::text IS NULL THEN phone ELSE nullif($5, '') END, "
        "timezone = coalesce($6, timezone), "
        "slot_step_minutes = coalesce($7::integer, slot_step_minutes), "
        "cancellation_hours = coalesce($8::integer, cancellation_hours), "
        "no_show_deposit_percent = coalesce($9::integer, no_show_deposit_percent), "
        "updated_at = now() WHERE id = $1 RETURNING " SHOP_COLUMNS,
        9, params);
    rv = reply_shop(call, res, (Bp__Booking__ShopReply *)resp);
    if (rv == 0 && (f.has_timezone || f.has_step))
        drop_shop_caches(call, r->shop_id, f.has_timezone);
    return rv;
}

/* PUT opens the shop on date, DELETE closes it again. Any date may be
 * opened (an owner may open ahead of a holiday not yet decreed); the answer
 * names the holiday when the date is one. */
static int set_open_day(bp_call *call, const Bp__Booking__OpenDayRequest *r,
                        Bp__Booking__OpenDayReply *out, bool open)
{
    bp_worker *w = bp_call_worker(call);
    int32_t day;
    char date[11];
    int rv = booking_require_shop_owner(call, r->shop_id);
    if (rv != 0)
        return rv;
    if (r->date == NULL || bp_date_parse(r->date, &day) != 0)
        return bp_call_fail_invalid(call, "date",
                                    "La fecha no es válida; usá el formato "
                                    "AAAA-MM-DD.");
    int y, m, d;
    bp_civil_from_days(day, &y, &m, &d);
    if (y < 2000 || y > 2100)
        return bp_call_fail_invalid(call, "date", "La fecha debe estar entre 2000 y 2100.");
    bp_date_format(day, date);

    rv = booking_shop_open_day(w->db, r->shop_id, date, open);
    if (rv == BP_ENOTFOUND)
        return bp_call_fail_not_found(call, "El local");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    booking_cache_drop_shop(w->db, w->kv, r->shop_id);

    const char *params[] = {date};
    PGresult *res =
        bp_db_query(w->db, "SELECT name FROM booking.holidays WHERE day = $1::date", 1, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    if (PQntuples(res) > 0)
        out->holiday = bp_call_strdup(call, PQgetvalue(res, 0, 0));
    PQclear(res);
    out->shop_id = bp_call_strdup(call, r->shop_id);
    out->date = bp_call_strdup(call, date);
    out->has_open = true;
    out->open = open;
    if (out->shop_id == NULL || out->date == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    return 0;
}

BOOKING_HANDLER(open_day)
{
    return set_open_day(call, (const Bp__Booking__OpenDayRequest *)req,
                        (Bp__Booking__OpenDayReply *)resp, true);
}

BOOKING_HANDLER(close_day)
{
    return set_open_day(call, (const Bp__Booking__OpenDayRequest *)req,
                        (Bp__Booking__OpenDayReply *)resp, false);
}
