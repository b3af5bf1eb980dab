/* Ley 25.326 end to end, over HTTP against the whole suite: consents with
 * the terms version, the export gathered from every service, the erasure
 * that reaches every schema (searched row by row for the person's name,
 * email, phone and notes), its deadline and per-service progress (a daemon
 * that was stopped completes it when it comes back), the append-only audit
 * log and who may read it, and retention. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "harness.h"
#include "kv.h"

/* A person whose every datum is unique to this run, so that finding it
 * anywhere is a leak. */
typedef struct {
    bpt_user u;
    char phone[32]; /* E.164 */
    char notes[96];
} person;

static void person_new(person *p, const char *label)
{
    memset(p, 0, sizeof *p);
    unsigned r = (unsigned)bpt_now_ms() ^ (unsigned)getpid() ^ (unsigned)rand();
    bpt_unique_email(p->u.email, sizeof p->u.email);
    snprintf(p->u.password, sizeof p->u.password, "Navaja-Fade-7281!");
    snprintf(p->u.name, sizeof p->u.name, "%s Privacidad%08x", label, r);
    snprintf(p->phone, sizeof p->phone, "+54911%08u", bpt_unique_subscriber());
    snprintf(p->notes, sizeof p->notes, "Alergia al producto %08x, no usar", r);
    bpt_response *res = bpt_http_pack(
        "POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:s, s:b}", "email", p->u.email,
        "password", p->u.password, "name", p->u.name, "phone", p->phone, "accept_terms", 1);
    cr_assert(res != NULL && res->status == 201, "register: %s", res ? res->body : "no answer");
    snprintf(p->u.id, sizeof p->u.id, "%s", bpt_json_str(res->json, "user.id"));
    snprintf(p->u.token, sizeof p->u.token, "%s", bpt_json_str(res->json, "token"));
    bpt_response_free(res);
}

/* Books f's Corte (no deposit: confirmed at once) for p with notes, on a
 * workday at hhmm; returns the booking id in id. */
static void book_with_notes(const bpt_shop *f, const person *p, const char *hhmm, char id[64])
{
    char at[32];
    long day = bpt_workday(2, 1);
    cr_assert(day > 0);
    bpt_ba_at(day, hhmm, at);
    bpt_response *r = bpt_http_pack("POST", "/api/bookings", p->u.token, "{s:s, s:s, s:s, s:s}",
                                    "provider_id", f->provider_id, "service_id", f->corte_id,
                                    "starts_at", at, "notes", p->notes);
    cr_assert(r != NULL && r->status == 201, "book: %s", r ? r->body : "no answer");
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

/* GET path as token, expecting 200; the caller frees it. */
static bpt_response *get_ok(const char *path, const char *token)
{
    bpt_response *r = bpt_http_json("GET", path, token, NULL);
    cr_assert(r != NULL && r->status == 200, "GET %s: %ld %s", path, r ? r->status : 0L,
              r ? r->body : "no answer");
    return r;
}

static size_t array_len(const json_t *root, const char *path)
{
    const json_t *a = bpt_json_at(root, path);
    cr_assert(json_is_array(a), "%s is not an array", path);
    return json_array_size(a);
}

/* True when some item of the array at path has field == value. */
static bool any_item(const json_t *root, const char *path, const char *field, const char *value)
{
    const json_t *a = bpt_json_at(root, path);
    size_t i;
    const json_t *it;
    json_array_foreach(a, i, it)
    {
        const char *v = json_string_value(json_object_get(it, field));
        if (v != NULL && strcmp(v, value) == 0)
            return true;
    }
    return false;
}

/* The audit records about user_id, read as the admin. */
static bpt_response *audit_of(const bpt_user *admin, const char *user_id, const char *extra)
{
    char path[256];
    snprintf(path, sizeof path, "/api/admin/audit?user_id=%s%s&limit=500", user_id,
             extra != NULL ? extra : "");
    return get_ok(path, admin->token);
}

/* Polls the admin's audit view of user_id until a record of action (with
 * actor, unless NULL) appears; returns true when it did within 10 s. */
static bool wait_audit(const bpt_user *admin, const char *user_id, const char *action,
                       const char *actor)
{
    for (int i = 0; i < 100; i++) {
        bpt_response *r = audit_of(admin, user_id, NULL);
        const json_t *items = bpt_json_at(r->json, "items");
        size_t k;
        const json_t *it;
        bool found = false;
        json_array_foreach(items, k, it)
        {
            const char *a = json_string_value(json_object_get(it, "action"));
            const char *who = json_string_value(json_object_get(it, "actor_id"));
            if (a != NULL && strcmp(a, action) == 0 &&
                (actor == NULL || (who != NULL && strcmp(who, actor) == 0)))
                found = true;
        }
        bpt_response_free(r);
        if (found)
            return true;
        bpt_sleep_ms(100);
    }
    return false;
}

/* Every table of the services' schemas whose rows, as text, contain
 * needle (any case), as "schema.table" names; "" when none. The row as
 * text covers every column: text, varchar, jsonb, arrays. */
static char *tables_holding(const char *needle)
{
    const char *p[] = {needle};
    return bpt_db_text(
        "select coalesce(string_agg(t, ', '), '') from ("
        " select table_schema || '.' || table_name as t,"
        "  (xpath('/row/c/text()', query_to_xml(format("
        "    'select count(*) as c from %I.%I r where r::text ilike %L',"
        "    table_schema, table_name, '%' || $1 || '%'), false, true, '')))[1]::text::int as n"
        " from information_schema.tables"
        " where table_schema in ('auth', 'booking', 'payment', 'notification', 'backup')"
        " and table_type = 'BASE TABLE') s where n > 0",
        1, p);
}

/* Also the text columns one by one, as the issue words it: a column whose
 * type casts its content away from the row text would show here. */
static long text_columns_holding(const char *needle)
{
    const char *p[] = {needle};
    return bpt_db_long(
        "select count(*) from ("
        " select (xpath('/row/c/text()', query_to_xml(format("
        "    'select count(*) as c from %I.%I where %I::text ilike %L',"
        "    table_schema, table_name, column_name, '%' || $1 || '%'), false, true, '')))[1]"
        "    ::text::int as n"
        " from information_schema.columns c"
        " where table_schema in ('auth', 'booking', 'payment', 'notification', 'backup')"
        " and data_type in ('text', 'character varying', 'character', 'jsonb', 'json', 'ARRAY')"
        " and exists (select 1 from information_schema.tables t where t.table_schema ="
        "  c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE')"
        ") s where n > 0",
        1, p);
}

static void assert_nowhere(const char *what, const char *needle)
{
    char *tables = tables_holding(needle);
    cr_assert_not_null(tables);
    cr_expect_str_empty(tables, "the %s \"%s\" is still in %s", what, needle, tables);
    free(tables);
    cr_expect_eq(text_columns_holding(needle), 0, "the %s \"%s\" is still in a text column", what,
                 needle);
}

/* Polls the data request as the admin until its status is done. */
static bpt_response *wait_request_done(const bpt_user *admin, const char *id, int timeout_ms)
{
    char path[128];
    snprintf(path, sizeof path, "/api/admin/data-requests/%s", id);
    double until = bpt_now_ms() + timeout_ms;
    for (;;) {
        bpt_response *r = get_ok(path, admin->token);
        const char *status = bpt_json_str(r->json, "status");
        if ((status != NULL && strcmp(status, "done") == 0) || bpt_now_ms() > until)
            return r;
        bpt_response_free(r);
        bpt_sleep_ms(200);
    }
}

static const char *service_status(const json_t *req, const char *service)
{
    const json_t *a = bpt_json_at(req, "services");
    size_t i;
    const json_t *it;
    json_array_foreach(a, i, it)
    {
        const char *s = json_string_value(json_object_get(it, "service"));
        if (s != NULL && strcmp(s, service) == 0)
            return json_string_value(json_object_get(it, "status"));
    }
    return NULL;
}

/* ---- consents ----------------------------------------------------------------- */

Test(privacy, consents_keep_a_history_with_the_terms_version)
{
    person p;
    person_new(&p, "Consentida");
    bpt_response *r =
        bpt_http_pack("PUT", "/api/users/me/consents", p.u.token, "{s:b}", "whatsapp", 0);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "consents.terms_version"), "2026-01");
    cr_expect_str_eq(bpt_json_str(r->json, "consents.current_terms_version"), "2026-01");
    cr_expect(json_is_false(bpt_json_at(r->json, "consents.whatsapp")));
    bpt_response_free(r);

    r = bpt_http_pack("PUT", "/api/users/me/consents", p.u.token, "{s:b}", "accept_terms", 0);
    cr_expect(bpt_error_is(r, 422, "terms_required"), "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_pack("PUT", "/api/users/me/consents", p.u.token, "{s:b, s:b}", "accept_terms", 1,
                      "whatsapp", 1);
    cr_assert_eq(r->status, 200, "%s", r->body);
    bpt_response_free(r);

    /* Four rows: terms and marketing at sign-up, whatsapp off, then terms
     * and whatsapp on; nothing overwritten. */
    const char *params[] = {p.u.id};
    cr_expect_eq(
        bpt_db_long("select count(*) from auth.consents where user_id = $1::uuid", 1, params), 5);
    cr_expect_eq(
        bpt_db_long("select count(*) from auth.consents where user_id = $1::uuid"
                    " and kind = 'terms' and version = '2026-01' and request_id is not null",
                    1, params),
        2);
}

/* ---- export ------------------------------------------------------------------- */

Test(privacy, export_gathers_every_service, .timeout = 60)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    person p;
    person_new(&p, "Exportada");
    char booking[64], deposit_booking[64], payment[64], url[512];
    book_with_notes(&f, &p, "10:00", booking);
    /* A deposit booking of the same person, checked out: a payment. */
    f.client = p.u;
    long day = bpt_workday(2, 2);
    cr_assert_eq(bpt_book_deposit(&f, day, "11:00", 600, deposit_booking), 0);
    cr_assert_eq(bpt_checkout_open(p.u.token, deposit_booking, payment, url, sizeof url), 0);
    /* Someone else's booking must not show. */
    person other;
    person_new(&other, "Ajena");
    char other_booking[64];
    book_with_notes(&f, &other, "15:00", other_booking);

    /* The confirmation message is written by the notification daemon from
     * booking's event: wait for it to show. */
    bpt_response *r = NULL;
    for (int i = 0; i < 100; i++) {
        bpt_response_free(r);
        r = get_ok("/api/users/me/export", p.u.token);
        if (array_len(r->json, "notifications") > 0)
            break;
        bpt_sleep_ms(100);
    }
    cr_assert_str_eq(bpt_json_str(r->json, "user.email"), p.u.email);
    cr_expect_str_eq(bpt_json_str(r->json, "user.phone"), p.phone);
    cr_expect_str_eq(bpt_json_str(r->json, "current_consents.terms_version"), "2026-01");
    cr_expect(any_item(r->json, "consents", "kind", "terms"));
    cr_expect(any_item(r->json, "consents", "kind", "marketing"));
    cr_expect(any_item(r->json, "bookings", "id", booking));
    cr_expect(any_item(r->json, "bookings", "id", deposit_booking));
    cr_expect(any_item(r->json, "bookings", "notes", p.notes));
    cr_expect_not(any_item(r->json, "bookings", "id", other_booking), "another client's booking");
    cr_expect(any_item(r->json, "payments", "id", payment), "%s", r->body);
    cr_expect(any_item(r->json, "notifications", "booking_id", booking), "%s", r->body);
    cr_expect(any_item(r->json, "audit", "action", "register"));
    cr_expect(any_item(r->json, "audit", "action", "export"), "the export records itself");
    cr_expect_not_null(bpt_json_str(r->json, "exported_at"));
    cr_expect(strstr(r->body, other.u.email) == NULL && strstr(r->body, other.notes) == NULL);
    bpt_response_free(r);

    /* The barber's export holds the provider profile linked to them. */
    r = get_ok("/api/users/me/export", f.barber.token);
    cr_expect(any_item(r->json, "providers", "id", f.provider_id), "%s", r->body);
    bpt_response_free(r);
    r = get_ok("/api/users/me/export", f.owner.token);
    cr_expect(any_item(r->json, "shops", "id", f.shop_id), "%s", r->body);
    bpt_response_free(r);

    /* Never partial: with the payment daemon hung, the export fails fast. */
    cr_assert_eq(bpt_daemon_stop("payment"), 0);
    double t0 = bpt_now_ms();
    r = bpt_http_json("GET", "/api/users/me/export", p.u.token, NULL);
    double took = bpt_now_ms() - t0;
    cr_assert_eq(bpt_daemon_cont("payment"), 0);
    cr_expect(r->status == 503 || r->status == 504, "%ld %s", r->status, r->body);
    cr_expect(strstr(r->body, "bookings") == NULL);
    cr_expect_lt(took, bpt_rpc_timeout_ms() + 2000.0);
    bpt_response_free(r);
}

/* ---- erasure ------------------------------------------------------------------ */

/* The expected deadline: the date after the 5th Monday-to-Friday after
 * today that is not a national holiday (no_laborable days count as work),
 * at 00:00 in Buenos Aires. */
static void expected_deadline(char out[32])
{
    long day = bpt_ba_today();
    json_t *holidays = json_array();
    for (int y = 0; y < 2; y++) {
        char path[64], date[11];
        bpt_day_date(day, date);
        snprintf(path, sizeof path, "/api/holidays?year=%ld", strtol(date, NULL, 10) + y);
        bpt_response *r = get_ok(path, NULL);
        json_array_extend(holidays, bpt_json_at(r->json, "items"));
        bpt_response_free(r);
    }
    for (int counted = 0; counted < 5;) {
        day++;
        char date[11];
        bpt_day_date(day, date);
        bool closed = false;
        size_t i;
        const json_t *h;
        json_array_foreach(holidays, i, h)
        {
            const char *d = json_string_value(json_object_get(h, "date"));
            const char *k = json_string_value(json_object_get(h, "kind"));
            if (d != NULL && strcmp(d, date) == 0 && (k == NULL || strcmp(k, "no_laborable") != 0))
                closed = true;
        }
        if (bpt_iso_weekday(day) <= 5 && !closed)
            counted++;
    }
    json_decref(holidays);
    bpt_ba_at(day + 1, "00:00", out);
}

Test(privacy, erasure_leaves_no_personal_datum_anywhere, .timeout = 90)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    bpt_user admin;
    cr_assert_eq(bpt_admin_login(&admin), 0);
    person p;
    person_new(&p, "Borrada");
    char booking[64], deposit_booking[64], payment[64], url[512];
    book_with_notes(&f, &p, "10:30", booking);
    f.client = p.u;
    cr_assert_eq(bpt_book_deposit(&f, bpt_workday(2, 3), "12:00", 600, deposit_booking), 0);
    cr_assert_eq(bpt_checkout_open(p.u.token, deposit_booking, payment, url, sizeof url), 0);
    /* The owner looks at it: booking's audit record about the client. */
    bpt_response *r = bpt_booking_get(f.owner.token, booking);
    cr_assert_eq(r->status, 200, "%s", r->body);
    bpt_response_free(r);
    /* Wait until the messages about both bookings exist, so that the
     * erasure has texts to remove. */
    const char *bp[] = {p.u.id};
    for (int i = 0; i < 100 && bpt_db_long("select count(*) from notification.notifications"
                                           " where user_id = $1::uuid",
                                           1, bp) < 1;
         i++)
        bpt_sleep_ms(100);

    char want_deadline[32];
    expected_deadline(want_deadline);
    r = bpt_http_json("DELETE", "/api/users/me", p.u.token, NULL);
    cr_assert_eq(r->status, 202, "%s", r->body);
    char request_id[64];
    snprintf(request_id, sizeof request_id, "%s", bpt_json_str(r->json, "request_id"));
    cr_expect_str_eq(bpt_json_str(r->json, "deadline"), want_deadline);
    cr_expect_str_eq(bpt_json_str(r->json, "kind"), "erasure");
    bpt_response_free(r);

    /* Credentials and sessions end at once. */
    r = bpt_http_json("GET", "/api/auth/me", p.u.token, NULL);
    cr_expect(bpt_error_is(r, 401, "unauthorized"), "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/auth/login", NULL, "{s:s, s:s}", "email", p.u.email, "password",
                      p.u.password);
    cr_expect(bpt_error_is(r, 401, "invalid_credentials"), "%s", r->body);
    bpt_response_free(r);

    /* Every service does its part. */
    r = wait_request_done(&admin, request_id, 30000);
    cr_assert_str_eq(bpt_json_str(r->json, "status"), "done", "%s", r->body);
    cr_expect_str_eq(service_status(r->json, "booking"), "done");
    cr_expect_str_eq(service_status(r->json, "payment"), "done");
    cr_expect_str_eq(service_status(r->json, "notification"), "done");
    bpt_response_free(r);

    assert_nowhere("name", p.u.name);
    assert_nowhere("email", p.u.email);
    assert_nowhere("phone", p.phone);
    assert_nowhere("phone", p.phone + 1); /* without the + */
    assert_nowhere("notes", p.notes);

    /* The records accounting needs stay, anonymised; the future booking is
     * cancelled. */
    const char *b[] = {booking};
    cr_expect_eq(bpt_db_long("select count(*) from booking.bookings where id = $1::uuid"
                             " and client_id is null and notes is null and status = 'cancelled'",
                             1, b),
                 1);
    const char *pay[] = {payment};
    cr_expect_eq(bpt_db_long("select count(*) from payment.payments where id = $1::uuid"
                             " and client_id is null and amount_cents > 0",
                             1, pay),
                 1);
    /* The audit log keeps the story, without the data. */
    cr_expect(wait_audit(&admin, p.u.id, "erasure_requested", p.u.id));
    cr_expect(wait_audit(&admin, p.u.id, "erasure_completed", NULL));
    cr_expect(wait_audit(&admin, p.u.id, "booking_read", f.owner.id));

    /* The same email is free again. */
    r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:b}", "email",
                      p.u.email, "password", p.u.password, "name", "Otra Persona", "accept_terms",
                      1);
    cr_expect_eq(r->status, 201, "%s", r->body);
    bpt_response_free(r);
}

Test(privacy, erasure_completes_when_a_stopped_service_comes_back, .timeout = 90)
{
    bpt_user admin;
    cr_assert_eq(bpt_admin_login(&admin), 0);
    person p;
    person_new(&p, "Demorada");

    cr_assert_eq(bpt_daemon_stop("notification"), 0);
    bpt_response *r = bpt_http_json("DELETE", "/api/users/me", p.u.token, NULL);
    cr_assert_eq(r->status, 202, "%s", r->body);
    char request_id[64];
    snprintf(request_id, sizeof request_id, "%s", bpt_json_str(r->json, "request_id"));
    bpt_response_free(r);

    /* booking and payment finish; notification cannot while stopped. */
    char path[128];
    snprintf(path, sizeof path, "/api/admin/data-requests/%s", request_id);
    bool others_done = false;
    for (int i = 0; i < 100 && !others_done; i++) {
        r = get_ok(path, admin.token);
        const char *b = service_status(r->json, "booking");
        const char *pm = service_status(r->json, "payment");
        others_done = b != NULL && strcmp(b, "done") == 0 && pm != NULL && strcmp(pm, "done") == 0;
        if (others_done) {
            cr_expect_str_eq(service_status(r->json, "notification"), "pending");
            cr_expect_str_eq(bpt_json_str(r->json, "status"), "running");
        }
        bpt_response_free(r);
        if (!others_done)
            bpt_sleep_ms(100);
    }
    cr_expect(others_done, "booking and payment did not finish their part");
    /* Open erasures show in the business metrics (none overdue). */
    r = get_ok("/api/business-metrics", NULL);
    cr_expect_geq(bpt_metric_sum(r->body, "barberpro_business_erasures_open", NULL), 1.0);
    cr_expect_geq(bpt_metric_sum(r->body, "barberpro_business_erasures_overdue", NULL), 0.0);
    bpt_response_free(r);

    cr_assert_eq(bpt_daemon_cont("notification"), 0);
    r = wait_request_done(&admin, request_id, 60000);
    cr_expect_str_eq(bpt_json_str(r->json, "status"), "done", "%s", r->body);
    cr_expect_str_eq(service_status(r->json, "notification"), "done");
    cr_expect_not_null(bpt_json_str(r->json, "completed_at"));
    bpt_response_free(r);
}

Test(privacy, overdue_erasures_are_a_metric)
{
    person p;
    person_new(&p, "Vencida");
    const char *params[] = {p.u.id};
    cr_assert_eq(bpt_db_long("with x as (insert into auth.data_requests"
                             " (id, user_id, kind, status, deadline, services)"
                             " values (gen_random_uuid(), $1::uuid, 'erasure', 'running',"
                             " now() - interval '1 day', '{\"booking\": null}') returning 1)"
                             " select count(*) from x",
                             1, params),
                 1);
    bpt_response *r = get_ok("/api/business-metrics", NULL);
    cr_expect_geq(bpt_metric_sum(r->body, "barberpro_business_erasures_overdue", NULL), 1.0, "%s",
                  r->body);
    bpt_response_free(r);
    /* Leave nothing overdue behind for other tests' figures. */
    cr_expect_eq(bpt_db_long("with x as (update auth.data_requests set status = 'done',"
                             " completed_at = now() where user_id = $1::uuid returning 1)"
                             " select count(*) from x",
                             1, params),
                 1);
}

/* ---- audit -------------------------------------------------------------------- */

Test(privacy, audit_records_each_access_and_only_admins_read_it, .timeout = 60)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    bpt_user admin;
    cr_assert_eq(bpt_admin_login(&admin), 0);
    person p;
    person_new(&p, "Auditada");
    char booking[64];
    book_with_notes(&f, &p, "16:00", booking);

    /* The client's own read is no access to someone else's data. */
    bpt_response *r = bpt_booking_get(p.u.token, booking);
    cr_assert_eq(r->status, 200);
    bpt_response_free(r);
    r = bpt_booking_get(f.owner.token, booking);
    cr_assert_eq(r->status, 200);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/bookings?role=provider", f.barber.token, NULL);
    bpt_response_free(r);
    cr_expect(wait_audit(&admin, p.u.id, "booking_read", f.owner.id));

    /* Profile and consent changes, by the person. */
    r = bpt_http_pack("PATCH", "/api/users/me", p.u.token, "{s:s}", "name", "Nombre Nuevo Unico");
    cr_assert_eq(r->status, 200, "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_pack("PUT", "/api/users/me/consents", p.u.token, "{s:b}", "marketing", 1);
    bpt_response_free(r);
    cr_expect(wait_audit(&admin, p.u.id, "profile_change", p.u.id));
    cr_expect(wait_audit(&admin, p.u.id, "consent_change", p.u.id));

    r = audit_of(&admin, p.u.id, NULL);
    const json_t *items = bpt_json_at(r->json, "items");
    size_t i;
    const json_t *it;
    int own_reads = 0;
    json_array_foreach(items, i, it)
    {
        const char *a = json_string_value(json_object_get(it, "action"));
        const char *who = json_string_value(json_object_get(it, "actor_id"));
        if (strcmp(a, "booking_read") == 0 && who != NULL && strcmp(who, p.u.id) == 0)
            own_reads++;
        if (strcmp(a, "booking_read") == 0 && who != NULL && strcmp(who, f.owner.id) == 0) {
            cr_expect_str_eq(json_string_value(json_object_get(it, "service")), "booking");
            cr_expect_str_eq(json_string_value(json_object_get(it, "actor_role")), "owner");
            cr_expect_not_null(json_string_value(json_object_get(it, "request_id")));
        }
    }
    cr_expect_eq(own_reads, 0);
    /* Details name fields, never their values. */
    cr_expect(strstr(r->body, "Nombre Nuevo Unico") == NULL);
    bpt_response_free(r);
    /* The admin's reading is itself recorded. */
    cr_expect(wait_audit(&admin, p.u.id, "audit_read", admin.id));

    /* Bounds: nothing after tomorrow. */
    char tomorrow[11], extra[64];
    bpt_day_date(bpt_ba_today() + 1, tomorrow);
    snprintf(extra, sizeof extra, "&from=%s", tomorrow);
    r = audit_of(&admin, p.u.id, extra);
    cr_expect_eq(array_len(r->json, "items"), 0, "from=%s: %s", tomorrow, r->body);
    bpt_response_free(r);
    /* Paging. */
    char nobody[37], path[160];
    bp_uuid(nobody);
    snprintf(path, sizeof path, "/api/admin/audit?limit=1&user_id=%s", nobody);
    r = get_ok(path, admin.token);
    /* Someone with no record yet: only this very reading shows. */
    cr_expect_eq(array_len(r->json, "items"), 1, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(json_array_get(bpt_json_at(r->json, "items"), 0), "action"),
                     "audit_read");
    bpt_response_free(r);
    snprintf(path, sizeof path, "/api/admin/audit?user_id=%s&limit=1", p.u.id);
    r = get_ok(path, admin.token);
    cr_expect_eq(array_len(r->json, "items"), 1);
    cr_expect_not_null(bpt_json_str(r->json, "next_cursor"));
    bpt_response_free(r);

    /* Anyone but an admin: 403; bad input: 400. */
    snprintf(path, sizeof path, "/api/admin/audit?user_id=%s", p.u.id);
    r = bpt_http_json("GET", path, p.u.token, NULL);
    cr_expect(bpt_error_is(r, 403, "forbidden"), "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", path, f.owner.token, NULL);
    cr_expect(bpt_error_is(r, 403, "forbidden"), "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/admin/audit?user_id=nope", admin.token, NULL);
    cr_expect(bpt_error_is(r, 400, "invalid_request"), "%s", r->body);
    bpt_response_free(r);
    snprintf(path, sizeof path, "/api/admin/audit?user_id=%s&from=ayer", p.u.id);
    r = bpt_http_json("GET", path, admin.token, NULL);
    cr_expect(bpt_error_is(r, 400, "invalid_request"), "%s", r->body);
    cr_expect_str_eq(bpt_error_field(r), "from");
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/admin/data-requests/00000000-0000-4000-8000-000000000000",
                      admin.token, NULL);
    cr_expect(bpt_error_is(r, 404, "not_found"), "%s", r->body);
    bpt_response_free(r);

    /* Append-only, even for SQL: no update, no delete, no truncate. */
    const char *params[] = {p.u.id};
    cr_expect_eq(bpt_db_long("with x as (update auth.audit_log set action = 'x'"
                             " where subject_id = $1::uuid returning 1) select count(*) from x",
                             1, params),
                 -1);
    cr_expect_eq(bpt_db_long("with x as (delete from auth.audit_log"
                             " where subject_id = $1::uuid returning 1) select count(*) from x",
                             1, params),
                 -1);
    cr_expect_gt(
        bpt_db_long("select count(*) from auth.audit_log where subject_id = $1::uuid", 1, params),
        3);
}

/* ---- retention ------------------------------------------------------------------ */

static redisReply *redis(bp_kv *kv, int argc, const char **argv)
{
    redisReply *r = bp_kv_command(kv, argc, argv, NULL);
    cr_assert_not_null(r);
    return r;
}

Test(privacy, retention_removes_what_is_due_and_nothing_else, .timeout = 60)
{
    char subject[37], old_sid[37], live_sid[37];
    bp_uuid(subject);
    bp_uuid(old_sid);
    bp_uuid(live_sid);
    const char *params[] = {subject};
    /* One record a day past 5 years, one a day short of it. */
    cr_assert_eq(bpt_db_long("with x as (insert into auth.audit_log (at, subject_id, action)"
                             " values (now() - interval '5 years 1 day', $1::uuid, 'test_old'),"
                             " (now() - interval '5 years' + interval '1 day', $1::uuid,"
                             " 'test_young') returning 1) select count(*) from x",
                             1, params),
                 2);
    /* A session key that lost its expiry, and a live one. */
    bp_kv *kv = NULL;
    cr_assert_eq(bp_kv_open(getenv("REDIS_URL"), &kv), 0);
    char old_key[96], live_key[96];
    snprintf(old_key, sizeof old_key, "barberpro:auth:session:%s", old_sid);
    snprintf(live_key, sizeof live_key, "barberpro:auth:session:%s", live_sid);
    const char *set_old[] = {"SET", old_key, "stale"};
    const char *set_live[] = {"SET", live_key, "live", "EX", "600"};
    freeReplyObject(redis(kv, 3, set_old));
    freeReplyObject(redis(kv, 5, set_live));

    /* AUTH_RETENTION_INTERVAL_MS is 2 s in the suite. */
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = bpt_db_long("select count(*) from auth.audit_log where subject_id = $1::uuid"
                           " and action = 'test_old'",
                           1, params) == 0;
        if (!gone)
            bpt_sleep_ms(100);
    }
    cr_expect(gone, "the record past 5 years is still there");
    cr_expect_eq(bpt_db_long("select count(*) from auth.audit_log where subject_id = $1::uuid"
                             " and action = 'test_young'",
                             1, params),
                 1, "a record inside 5 years was removed");
    bool swept = false;
    for (int i = 0; i < 50 && !swept; i++) {
        const char *exists[] = {"EXISTS", old_key};
        redisReply *r = redis(kv, 2, exists);
        swept = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
        freeReplyObject(r);
        if (!swept)
            bpt_sleep_ms(100);
    }
    cr_expect(swept, "a session key without expiry survived");
    const char *exists_live[] = {"EXISTS", live_key};
    redisReply *r = redis(kv, 2, exists_live);
    cr_expect_eq(r->integer, 1, "a live session was removed");
    freeReplyObject(r);
    const char *del[] = {"DEL", live_key};
    freeReplyObject(redis(kv, 2, del));
    bp_kv_close(kv);

    /* What the rounds removed is a metric; a round counts what it removed when it
     * ends, which may be a moment after the key is gone. */
    static const char *const audit[] = {"what=\"audit_records\"", NULL};
    static const char *const sessions[] = {"what=\"sessions\"", NULL};
    double audit_removed = 0, sessions_removed = 0;
    for (int i = 0; i < 50 && (audit_removed < 1 || sessions_removed < 1); i++) {
        if (i > 0)
            bpt_sleep_ms(100);
        bpt_response *m = get_ok("/api/metrics", NULL);
        audit_removed = bpt_metric_sum(m->body, "barberpro_retention_removed_total", audit);
        sessions_removed = bpt_metric_sum(m->body, "barberpro_retention_removed_total", sessions);
        bpt_response_free(m);
    }
    cr_expect_geq(audit_removed, 1.0);
    cr_expect_geq(sessions_removed, 1.0);
}
