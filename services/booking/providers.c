/* Providers (barbers): create with the default week, the public list (cached
 * per shop and service), get, and changes; a provider is linked to the auth
 * account of its email, found over the bus (auth.FindUser).
 *
 * Linking: the owner's request never fails because auth is slow or down.
 * When auth does not answer within PROVIDER_LINK_TIMEOUT_MS the provider is
 * saved unlinked (user_id null) with a warning in the log; sending the same
 * email again in a PATCH retries the link (and keeps an existing link while
 * auth is still down). An email without an account is saved unlinked too;
 * an empty email in a PATCH removes the email and the link. Public reads
 * leave out a provider's email and phone (personal data under Ley 25.326);
 * the owner sees them in the answers to their own writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.pb-c.h"
#include "booking.h"
#include "cache.h"
#include "log.h"

#define PROVIDER_NAME_MAX     120
#define PROVIDER_SERVICES_MAX 100
#define PROVIDERS_LIST_MAX    500
/* FindUser is a point read in auth; a second is plenty. */
#define PROVIDER_LINK_TIMEOUT_MS 1000

/* Columns: id, shop_id, user_id or "", name, email or "", phone or "",
 * active, created_at (Unix ms), the shop's zone, the active services it
 * performs as "id,id,...". */
#define PROVIDER_SELECT                                                                            \
    "SELECT p.id::text, p.shop_id::text, coalesce(p.user_id::text, ''), p.name, "                  \
    "coalesce(p.email, ''), coalesce(p.phone, ''), p.active, "                                     \
    "(extract(epoch from p.created_at) * 1000)::bigint, sh.timezone, "                             \
    "coalesce((SELECT string_agg(ps.service_id::text, ',' ORDER BY ps.service_id) "                \
    "FROM booking.provider_services ps JOIN booking.services sv ON sv.id = ps.service_id AND "     \
    "sv.active "                                                                                   \
    "WHERE ps.provider_id = p.id), '') "                                                           \
    "FROM booking.providers p JOIN booking.shops sh ON sh.id = p.shop_id "

/* Builds a provider from row of res; private adds email and phone. */
static Bp__Booking__Provider *provider_from_row(bp_call *call, const PGresult *res, int row,
                                                bool private)
{
    Bp__Booking__Provider *m =
        (Bp__Booking__Provider *)bp_call_message(call, &bp__booking__provider__descriptor);
    if (m == NULL)
        return NULL;
    m->id = bp_call_strdup(call, PQgetvalue(res, row, 0));
    m->shop_id = bp_call_strdup(call, PQgetvalue(res, row, 1));
    if (PQgetvalue(res, row, 2)[0] != '\0')
        m->user_id = bp_call_strdup(call, PQgetvalue(res, row, 2));
    m->name = bp_call_strdup(call, PQgetvalue(res, row, 3));
    if (private && PQgetvalue(res, row, 4)[0] != '\0')
        m->email = bp_call_strdup(call, PQgetvalue(res, row, 4));
    if (private && PQgetvalue(res, row, 5)[0] != '\0')
        m->phone = bp_call_strdup(call, PQgetvalue(res, row, 5));
    m->has_active = true;
    m->active = PQgetvalue(res, row, 6)[0] == 't';
    m->created_at =
        bp_call_time(call, strtoll(PQgetvalue(res, row, 7), NULL, 10), PQgetvalue(res, row, 8));
    if (m->id == NULL || m->shop_id == NULL || m->name == NULL || m->created_at == NULL)
        return NULL;

    /* "id,id,..." of fixed-width UUIDs */
    const char *ids = PQgetvalue(res, row, 9);
    size_t len = strlen(ids), n = len == 0 ? 0 : (len + 1) / 37;
    m->service_ids = bp_arena_alloc(bp_call_arena(call), sizeof *m->service_ids * (n + 1));
    if (m->service_ids == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        m->service_ids[i] = bp_arena_strndup(bp_call_arena(call), ids + i * 37, 36);
        if (m->service_ids[i] == NULL)
            return NULL;
    }
    m->n_service_ids = n;
    return m;
}

/* The owner of the account reads their own email and phone. */
static ProtobufCMessage *own_provider_message(bp_call *call, const PGresult *res, int row)
{
    Bp__Booking__Provider *m = provider_from_row(call, res, row, true);
    return m != NULL ? &m->base : NULL;
}

int booking_providers_of_user(bp_call *call, const char *user_id, int max,
                              Bp__Booking__Provider ***items, size_t *n)
{
    return booking_reply_of_user(
        call, PROVIDER_SELECT "WHERE p.user_id = $1 ORDER BY p.created_at, p.id LIMIT $2::int",
        user_id, max, own_provider_message, (ProtobufCMessage ***)items, n);
}

/* Loads provider id (inside or outside a transaction) into *out. Returns
 * 0, BP_ENOTFOUND, BP_ENOMEM or BP_EIO. */
static int load_provider(bp_call *call, const char *id, bool private, Bp__Booking__Provider **out)
{
    const char *params[] = {id};
    PGresult *res =
        bp_db_query(bp_call_worker(call)->db, PROVIDER_SELECT "WHERE p.id = $1", 1, params);
    int rv = 0;
    if (!bp_db_ok(res, bp_call_request_id(call)))
        rv = BP_EIO;
    else if (PQntuples(res) == 0)
        rv = BP_ENOTFOUND;
    else if ((*out = provider_from_row(call, res, 0, private)) == NULL)
        rv = BP_ENOMEM;
    PQclear(res);
    return rv;
}

/* Asks auth for the account of email. Returns 0 with user_id filled,
 * BP_ENOTFOUND when there is none, or another code when auth did not
 * answer (logged; the caller goes on unlinked). */
static int find_account(bp_call *call, const char *email, char user_id[37])
{
    const booking_ctx *ctx = booking_ctx_of(call);
    Bp__Auth__FindUserRequest in = BP__AUTH__FIND_USER_REQUEST__INIT;
    ProtobufCMessage *got = NULL;
    char code[64];
    int status = 0;

    in.email = (char *)email;
    bp_rpc_args args = {
        .method = "FindUser",
        .request_id = bp_call_request_id(call),
        .timeout_ms = PROVIDER_LINK_TIMEOUT_MS,
    };
    if (ctx->auth == NULL)
        return BP_EUNAVAIL;
    int rv =
        bp_client_call_msg(ctx->auth, &args, (const ProtobufCMessage *)&in,
                           &bp__auth__found_user__descriptor, &got, &status, code, sizeof code);
    if (rv == 0 && status == 404) {
        rv = BP_ENOTFOUND;
    } else if (rv == 0 && status == 200) {
        const Bp__Auth__FoundUser *u = (const Bp__Auth__FoundUser *)got;
        if (u->user_id != NULL && bp_uuid_valid(u->user_id))
            memcpy(user_id, u->user_id, 37);
        else
            rv = BP_EPROTO;
    } else if (rv == 0) {
        rv = BP_EPROTO;
    }
    if (got != NULL)
        protobuf_c_message_free_unpacked(got, NULL);
    if (rv != 0 && rv != BP_ENOTFOUND)
        bp_log(BP_LOG_WARN, bp_call_request_id(call),
               "cannot link a provider account: auth answered %s (status %d %s); saved unlinked",
               bp_strerror(rv), status, code);
    return rv;
}

/* Checks service_ids (each a UUID of an active service of shop_id, at most
 * PROVIDER_SERVICES_MAX, duplicates ignored) and writes them as a PostgreSQL
 * array literal into *array (the call's arena). Answers 400 itself. */
static int check_services(bp_call *call, const char *shop_id, char *const *ids, size_t n,
                          char **array)
{
    if (n > PROVIDER_SERVICES_MAX)
        return bp_call_fail_invalid(call, "service_ids",
                                    "Un profesional puede tener a lo sumo 100 servicios.");
    char *lit = bp_arena_alloc(bp_call_arena(call), n * 37 + 3);
    if (lit == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    size_t used = 0;
    lit[used++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == NULL || !bp_uuid_valid(ids[i]))
            return bp_call_fail(call, 400, "invalid_request", "service_ids",
                                "El servicio %zu de service_ids no es un id válido.", i + 1);
        if (i > 0)
            lit[used++] = ',';
        memcpy(lit + used, ids[i], 36);
        used += 36;
    }
    lit[used++] = '}';
    lit[used] = '\0';
    *array = lit;
    if (n == 0)
        return 0;

    const char *params[] = {shop_id, lit};
    PGresult *res =
        bp_db_query(bp_call_worker(call)->db,
                    "SELECT count(DISTINCT want.id) = (SELECT count(*) FROM "
                    "booking.services s WHERE s.shop_id = $1 AND s.active AND s.id = ANY "
                    "($2::uuid[])) FROM unnest($2::uuid[]) AS want (id)",
                    2, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    bool all_ours = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!all_ours)
        return bp_call_fail_invalid(call, "service_ids",
                                    "Algún servicio no existe, no está activo o no es de este "
                                    "local.");
    return 0;
}

/* Replaces the services provider_id performs with the array literal ids. */
static int set_services(bp_db *db, const char *provider_id, const char *ids)
{
    const char *params[] = {provider_id, ids};
    PGresult *res =
        bp_db_query(db, "DELETE FROM booking.provider_services WHERE provider_id = $1", 1, params);
    int rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    PQclear(res);
    if (rv != 0)
        return rv;
    res = bp_db_query(db,
                      "INSERT INTO booking.provider_services (provider_id, service_id) "
                      "SELECT DISTINCT $1::uuid, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
                      2, params);
    rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

/* The name, email and phone a create or update sent, normalised. */
typedef struct {
    char name[PROVIDER_NAME_MAX * 4 + 1];
    char email[BP_EMAIL_SIZE];
    char phone[17];
    char user_id[37];
    bool has_name, has_email, has_phone;
} provider_fields;

static int check_fields(bp_call *call, bool create, const char *name, const char *email,
                        const char *phone, provider_fields *f)
{
    const char *why;
    memset(f, 0, sizeof *f);
    if (create || name != NULL) {
        if (bp_text_normalize(name, PROVIDER_NAME_MAX, f->name, sizeof f->name, &why) != 0)
            return bp_call_fail(call, 400, "invalid_request", "name",
                                "El nombre del profesional no es válido: %s", why);
        f->has_name = true;
    }
    if (email != NULL) {
        if (email[0] != '\0' && bp_email_normalize(email, f->email, sizeof f->email, &why) != 0)
            return bp_call_fail_invalid(call, "email", why);
        f->has_email = !create || email[0] != '\0';
    }
    if (phone != NULL) {
        if (phone[0] != '\0' && bp_phone_normalize(phone, f->phone, sizeof f->phone, &why) != 0)
            return bp_call_fail_invalid(call, "phone", why);
        f->has_phone = !create || phone[0] != '\0';
    }
    return 0;
}

static int fail_linked_twice(bp_call *call)
{
    return bp_call_fail(call, 409, "provider_exists", "email",
                        "La cuenta de ese email ya es un profesional de este local.");
}

BOOKING_HANDLER(create_provider)
{
    const Bp__Booking__CreateProviderRequest *r = (const Bp__Booking__CreateProviderRequest *)req;
    Bp__Booking__ProviderReply *out = (Bp__Booking__ProviderReply *)resp;
    bp_worker *w = bp_call_worker(call);
    provider_fields f;
    char id[37], *services;

    int rv = booking_require_shop_owner(call, r->shop_id);
    if (rv != 0)
        return rv;
    if ((rv = check_fields(call, true, r->name, r->email, r->phone, &f)) != 0)
        return rv;
    if ((rv = check_services(call, r->shop_id, r->service_ids, r->n_service_ids, &services)) != 0)
        return rv;
    /* Asked before the transaction: no lock is held across the bus. */
    if (f.has_email)
        find_account(call, f.email, f.user_id);

    bp_uuid(id);
    const char *params[] = {id,
                            r->shop_id,
                            f.user_id[0] != '\0' ? f.user_id : NULL,
                            f.name,
                            f.has_email ? f.email : NULL,
                            f.has_phone ? f.phone : NULL};
    if (bp_db_begin(w->db) != 0)
        return bp_call_fail_internal(call, BP_EIO);
    PGresult *res =
        bp_db_query(w->db,
                    "INSERT INTO booking.providers (id, shop_id, user_id, name, email, phone) "
                    "VALUES ($1, $2, $3, $4, $5, $6)",
                    6, params);
    bool taken = bp_db_sqlstate(res, "23505");
    rv = taken ? BP_ECONFLICT : bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    PQclear(res);
    if (rv == 0)
        rv = set_services(w->db, id, services);
    if (rv == 0) {
        /* The default week: Monday to Friday 09:00-18:00, Saturday
         * 09:00-13:00, in the shop's zone. */
        const char *week[] = {id};
        res = bp_db_query(
            w->db,
            "INSERT INTO booking.provider_hours (provider_id, weekday, start_min, end_min) "
            "SELECT $1, d.weekday, d.start_min, d.end_min FROM (VALUES "
            "(1, 540, 1080), (2, 540, 1080), (3, 540, 1080), (4, 540, 1080), "
            "(5, 540, 1080), (6, 540, 780)) AS d (weekday, start_min, end_min)",
            1, week);
        rv = bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
        PQclear(res);
    }
    if (rv == 0)
        rv = load_provider(call, id, true, &out->provider);
    if (rv == 0 && bp_db_commit(w->db) != 0)
        rv = BP_EIO;
    if (rv != 0) {
        bp_db_rollback(w->db);
        return rv == BP_ECONFLICT ? fail_linked_twice(call) : bp_call_fail_internal(call, rv);
    }
    booking_cache_drop(w->kv, BOOKING_CACHE_PROVIDERS, r->shop_id);
    bp_log(BP_LOG_INFO, bp_call_request_id(call), "provider %s created in shop %s (%s)", id,
           r->shop_id, f.user_id[0] != '\0' ? "linked" : "unlinked");
    bp_call_set_status(call, 201);
    return 0;
}

BOOKING_HANDLER(list_providers)
{
    const Bp__Booking__ListProvidersRequest *r = (const Bp__Booking__ListProvidersRequest *)req;
    Bp__Booking__ProviderList *out = (Bp__Booking__ProviderList *)resp;
    bp_db *db = bp_call_worker(call)->db;
    booking_cache_entry entry;

    if (!bp_call_check_uuid(call, "shop_id", r->shop_id))
        return BP_EREPLIED;
    bool by_service = r->service_id != NULL && r->service_id[0] != '\0';
    if (by_service && !bp_call_check_uuid(call, "service_id", r->service_id))
        return BP_EREPLIED;
    const Bp__Booking__ProviderList *hit = (const Bp__Booking__ProviderList *)booking_cache_get(
        call, BOOKING_CACHE_PROVIDERS, r->shop_id, by_service ? r->service_id : "all",
        &bp__booking__provider_list__descriptor, &entry);
    if (hit != NULL) {
        out->n_items = hit->n_items;
        out->items = hit->items;
        return 0;
    }

    const char *shop_param[] = {r->shop_id};
    PGresult *res = bp_db_query(db, "SELECT 1 FROM booking.shops WHERE id = $1", 1, shop_param);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    bool known = PQntuples(res) == 1;
    PQclear(res);
    if (!known)
        return bp_call_fail_not_found(call, "El local");

    const char *params[] = {r->shop_id, by_service ? r->service_id : NULL};
    res = bp_db_query(db,
                      PROVIDER_SELECT
                      "WHERE p.shop_id = $1 AND p.active AND ($2::uuid IS NULL OR EXISTS "
                      "(SELECT 1 FROM booking.provider_services x JOIN booking.services xs ON "
                      "xs.id = x.service_id "
                      "AND xs.active WHERE x.provider_id = p.id AND x.service_id = $2::uuid)) "
                      "ORDER BY p.name, p.id LIMIT 500",
                      2, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    int rv = 0, n = PQntuples(res);
    out->items = bp_arena_alloc(bp_call_arena(call), sizeof *out->items * (size_t)(n + 1));
    if (out->items == NULL)
        rv = BP_ENOMEM;
    for (int i = 0; rv == 0 && i < n; i++) {
        if ((out->items[i] = provider_from_row(call, res, i, false)) == NULL)
            rv = BP_ENOMEM;
        else
            out->n_items = (size_t)i + 1;
    }
    PQclear(res);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    booking_cache_put(call, &entry, (const ProtobufCMessage *)out);
    return 0;
}

BOOKING_HANDLER(get_provider)
{
    const Bp__Booking__ProviderRequest *r = (const Bp__Booking__ProviderRequest *)req;
    Bp__Booking__ProviderReply *out = (Bp__Booking__ProviderReply *)resp;
    if (!bp_call_check_uuid(call, "provider_id", r->provider_id))
        return BP_EREPLIED;
    int rv = load_provider(call, r->provider_id, false, &out->provider);
    if (rv == BP_ENOTFOUND)
        return bp_call_fail_not_found(call, "El profesional");
    return rv == 0 ? 0 : bp_call_fail_internal(call, rv);
}

BOOKING_HANDLER(update_provider)
{
    const Bp__Booking__UpdateProviderRequest *r = (const Bp__Booking__UpdateProviderRequest *)req;
    Bp__Booking__ProviderReply *out = (Bp__Booking__ProviderReply *)resp;
    bp_worker *w = bp_call_worker(call);
    provider_fields f;
    char shop_id[37], *services = NULL;

    if (!bp_call_check_uuid(call, "provider_id", r->provider_id))
        return BP_EREPLIED;
    const char *id_param[] = {r->provider_id};
    PGresult *res = bp_db_query(w->db, "SELECT shop_id::text FROM booking.providers WHERE id = $1",
                                1, id_param);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return bp_call_fail_not_found(call, "El profesional");
    }
    snprintf(shop_id, sizeof shop_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    int rv = booking_require_shop_owner(call, shop_id);
    if (rv != 0)
        return rv;
    if ((rv = check_fields(call, false, r->name, r->email, r->phone, &f)) != 0)
        return rv;
    if (r->n_service_ids > 0 &&
        (rv = check_services(call, shop_id, r->service_ids, r->n_service_ids, &services)) != 0)
        return rv;
    /* An email re-links: to its account, or to none. When auth does not
     * answer, an unchanged email keeps its link and a new one is unlinked. */
    bool auth_down = false;
    if (f.has_email && f.email[0] != '\0') {
        rv = find_account(call, f.email, f.user_id);
        auth_down = rv != 0 && rv != BP_ENOTFOUND;
    }

    const char *params[] = {r->provider_id,
                            f.has_name ? f.name : NULL,
                            f.has_email ? f.email : NULL,
                            f.user_id[0] != '\0' ? f.user_id : NULL,
                            f.has_phone ? f.phone : NULL,
                            r->has_active ? (r->active ? "true" : "false") : NULL,
                            auth_down ? "true" : "false"};
    if (bp_db_begin(w->db) != 0)
        return bp_call_fail_internal(call, BP_EIO);
    res = bp_db_query(w->db,
                      "UPDATE booking.providers SET name = coalesce($2, name), "
                      "email = CASE WHEN $3::text IS NULL THEN email ELSE nullif($3, '') END, "
                      "user_id = CASE WHEN $3::text IS NULL THEN user_id "
                      "WHEN $7::boolean AND email IS NOT DISTINCT FROM nullif($3, '') "
                      "THEN user_id ELSE $4::uuid END, "
                      "phone = CASE WHEN $5::text IS NULL THEN phone ELSE nullif($5, '') END, "
                      "active = coalesce($6::boolean, active) WHERE id = $1",
                      7, params);
    bool taken = bp_db_sqlstate(res, "23505");
    rv = taken ? BP_ECONFLICT : bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    PQclear(res);
    if (rv == 0 && services != NULL)
        rv = set_services(w->db, r->provider_id, services);
    if (rv == 0)
        rv = load_provider(call, r->provider_id, true, &out->provider);
    if (rv == 0 && bp_db_commit(w->db) != 0)
        rv = BP_EIO;
    if (rv != 0) {
        bp_db_rollback(w->db);
        return rv == BP_ECONFLICT ? fail_linked_twice(call) : bp_call_fail_internal(call, rv);
    }
    booking_cache_drop(w->kv, BOOKING_CACHE_PROVIDERS, shop_id);
    if (r->has_active || services != NULL)
        booking_cache_drop(w->kv, BOOKING_CACHE_AVAIL, r->provider_id);
    return 0;
}
