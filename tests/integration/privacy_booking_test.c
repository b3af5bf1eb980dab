/* The booking daemon's part of Ley 25.326 against the real suite: the
 * export of an account (ExportUser over the bus, as auth calls it), the
 * audit records of who read or changed another person's booking
 * (audit.recorded rows for auth in booking.outbox), and the erasure of an
 * account (user.erasure_requested delivered to Deliver, as auth's relay
 * would), after which no text of the booking schema names the person. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "booking.pb-c.h"
#include "bp.h"
#include "events.pb-c.h"
#include "harness.h"

/* ---- fixtures ------------------------------------------------------------------- */

/* A fresh shop (bpt_shop_new) and the n-th working day from two days
 * ahead, to book in it. */
static long fresh_shop(bpt_shop *f, int n)
{
    cr_assert_eq(bpt_shop_new(f), 0, "could not set up a shop (see stderr)");
    long day = bpt_workday(2, n);
    cr_assert(day >= 0, "no working day within the horizon (see stderr)");
    return day;
}

/* A text no other test or run writes, for searching the schema. */
static void unique_text(const char *prefix, char *out, size_t len)
{
    char email[128];
    bpt_unique_email(email, sizeof email);
    char *at = strchr(email, '@');
    if (at != NULL)
        *at = '\0';
    snprintf(out, len, "%s %s", prefix, email);
}

/* Books service_id at hhmm of day with notes; expects 201 and copies the id. */
static void book_with_notes(const bpt_shop *f, const char *token, const char *service_id, long day,
                            const char *hhmm, const char *notes, char id[64])
{
    char at[32];
    bpt_ba_at(day, hhmm, at);
    bpt_response *r =
        bpt_http_pack("POST", "/api/bookings", token, "{s:s, s:s, s:s, s:s}", "provider_id",
                      f->provider_id, "service_id", service_id, "starts_at", at, "notes", notes);
    cr_assert(r != NULL && r->status == 201, "booking %s: %ld %s", at, r ? r->status : 0,
              r ? r->body : "");
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

/* ---- the database ------------------------------------------------------------------ */

static PGconn *db_open(void)
{
    const char *url = getenv("DATABASE_URL");
    cr_assert_not_null(url, "DATABASE_URL is not set");
    PGconn *c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

/* The text of the first column of the first row of sql ($1 = param), or
 * "<null>"; malloc'd. */
static char *db_text(const char *sql, const char *param)
{
    PGconn *c = db_open();
    const char *params[] = {param};
    PGresult *r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    cr_assert_eq(PQntuples(r), 1, "%s: %d rows", sql, PQntuples(r));
    char *v = strdup(PQgetisnull(r, 0, 0) ? "<null>" : PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

static void expect_db_text(const char *sql, const char *param, const char *want)
{
    char *got = db_text(sql, param);
    cr_expect_str_eq(got, want, "%s ($1 = %s)", sql, param);
    free(got);
}

/* How many audit records for auth in booking.outbox name subject with
 * action (decoded from each bp.events.AuditEvent payload). */
static long audit_records(const char *subject, const char *action)
{
    PGconn *c = db_open();
    PGresult *r = PQexecParams(c,
                               "SELECT payload FROM booking.outbox WHERE topic = 'audit.recorded'"
                               " AND consumer = 'auth'",
                               0, NULL, NULL, NULL, NULL, 1);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    long n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        Bp__Events__AuditEvent *ev = bp__events__audit_event__unpack(
            NULL, (size_t)PQgetlength(r, i, 0), (const uint8_t *)PQgetvalue(r, i, 0));
        cr_assert_not_null(ev, "an audit.recorded payload does not decode");
        for (size_t k = 0; k < ev->n_records; k++)
            if (ev->records[k]->subject_id != NULL &&
                strcmp(ev->records[k]->subject_id, subject) == 0 &&
                strcmp(ev->records[k]->action, action) == 0)
                n++;
        bp__events__audit_event__free_unpacked(ev, NULL);
    }
    PQclear(r);
    PQfinish(c);
    return n;
}

/* The places (table.column) of the booking schema whose text, varchar or
 * jsonb holds needle, written into found; their count. */
static int schema_holds(const char *needle, char *found, size_t len)
{
    PGconn *c = db_open();
    PGresult *cols = PQexec(c, "SELECT table_name, column_name FROM information_schema.columns"
                               " WHERE table_schema = 'booking' AND data_type IN"
                               " ('text', 'character varying', 'character', 'jsonb')");
    cr_assert_eq(PQresultStatus(cols), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(cols));
    cr_assert(PQntuples(cols) > 5, "information_schema lists too few text columns");
    int hits = 0;
    found[0] = '\0';
    for (int i = 0; i < PQntuples(cols); i++) {
        char *t = PQescapeIdentifier(c, PQgetvalue(cols, i, 0), strlen(PQgetvalue(cols, i, 0)));
        char *col = PQescapeIdentifier(c, PQgetvalue(cols, i, 1), strlen(PQgetvalue(cols, i, 1)));
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM booking.%s WHERE strpos(lower(%s::text), lower($1)) > 0", t,
                 col);
        const char *params[] = {needle};
        PGresult *r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
        cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
        if (strcmp(PQgetvalue(r, 0, 0), "0") != 0) {
            hits++;
            size_t used = strlen(found);
            snprintf(found + used, len - used, " %s.%s", PQgetvalue(cols, i, 0),
                     PQgetvalue(cols, i, 1));
        }
        PQclear(r);
        PQfreemem(t);
        PQfreemem(col);
    }
    PQclear(cols);
    PQfinish(c);
    return hits;
}

static void expect_schema_free_of(const char *needle)
{
    char found[1024];
    cr_expect_eq(schema_holds(needle, found, sizeof found), 0, "\"%s\" is still in:%s", needle,
                 found);
}

/* ---- the bus ---------------------------------------------------------------------- */

/* ExportUser as auth calls it: the user as the principal. The caller frees
 * the answer with bp__booking__user_data__free_unpacked. */
static Bp__Booking__UserData *export_user(const char *user_id, const char *role)
{
    Bp__Rpc__Reply *reply = NULL;
    int rv = bpt_rpc_call_as("booking", "ExportUser", user_id, role, NULL, 0, bpt_rpc_timeout_ms(),
                             &reply);
    cr_assert_eq(rv, 0, "ExportUser call failed: %d", rv);
    cr_assert_eq(reply->status, 200, "ExportUser answered %d", reply->status);
    Bp__Booking__UserData *d =
        bp__booking__user_data__unpack(NULL, reply->body.len, reply->body.data);
    cr_assert_not_null(d, "ExportUser's answer is not a UserData");
    bp__rpc__reply__free_unpacked(reply, NULL);
    return d;
}

/* Delivers user.erasure_requested about user_id with event_id to booking's
 * Deliver, as auth's relay would; returns the reply's status. */
static int deliver_erasure(const char *event_id, const char *user_id)
{
    Bp__Events__UserEvent u = BP__EVENTS__USER_EVENT__INIT;
    u.user_id = (char *)user_id;
    u.request_id = "7f0e8d9c-1b2a-4c3d-8e4f-5a6b7c8d9e0f";
    uint8_t payload[256], body[512];
    cr_assert(bp__events__user_event__get_packed_size(&u) <= sizeof payload);
    Bp__Events__Event ev = BP__EVENTS__EVENT__INIT;
    ev.id = (char *)event_id;
    ev.topic = "user.erasure_requested";
    ev.producer = "auth";
    ev.key = (char *)user_id;
    ev.has_payload = 1;
    ev.payload.data = payload;
    ev.payload.len = bp__events__user_event__pack(&u, payload);
    ev.has_attempt = 1;
    ev.attempt = 1;
    cr_assert(bp__events__event__get_packed_size(&ev) <= sizeof body);
    size_t blen = bp__events__event__pack(&ev, body);
    Bp__Rpc__Reply *reply = NULL;
    int rv = bpt_rpc_call("booking", "Deliver", body, blen, bpt_rpc_timeout_ms(), &reply);
    cr_assert_eq(rv, 0, "Deliver call failed: %d", rv);
    int status = reply->status;
    bp__rpc__reply__free_unpacked(reply, NULL);
    return status;
}

static void new_uuid(char out[37])
{
    bp_uuid(out);
}

/* ---- export -------------------------------------------------------------------- */

Test(privacy_booking, export_holds_the_callers_bookings_and_nobody_elses)
{
    bpt_shop f;
    long day = fresh_shop(&f, 0);
    bpt_user other;
    cr_assert_eq(bpt_user_new(&other), 0);
    char mine[64], theirs[64];
    book_with_notes(&f, f.client.token, f.corte_id, day, "10:00", "Alergia al talco", mine);
    book_with_notes(&f, other.token, f.corte_id, day, "11:00", "Nota de otra persona", theirs);

    Bp__Booking__UserData *d = export_user(f.client.id, "client");
    cr_assert_eq(d->n_bookings, 1, "the export holds %zu bookings", d->n_bookings);
    cr_expect_str_eq(d->bookings[0]->id, mine);
    cr_expect_str_eq(d->bookings[0]->notes, "Alergia al talco");
    cr_expect_str_eq(d->bookings[0]->client_id, f.client.id);
    cr_expect_str_eq(d->bookings[0]->service_name, "Corte");
    cr_expect_eq(d->n_providers + d->n_shops + d->n_time_off, 0);
    bp__booking__user_data__free_unpacked(d, NULL);

    /* The barber's linked profile, with the email only its owner sees,
     * and its time off. */
    char path[160], off_from[32], off_to[32];
    long off_day = bpt_workday(2, 4);
    cr_assert(off_day >= 0);
    bpt_ba_at(off_day, "14:00", off_from);
    bpt_ba_at(off_day, "16:00", off_to);
    snprintf(path, sizeof path, "/api/providers/%s/time-off", f.provider_id);
    bpt_response *r = bpt_http_pack("POST", path, f.owner.token, "{s:s, s:s, s:s}", "starts_at",
                                    off_from, "ends_at", off_to, "reason", "Turno médico");
    cr_assert(r != NULL && r->status == 201, "time off: %ld", r ? r->status : 0);
    bpt_response_free(r);
    d = export_user(f.barber.id, "client");
    cr_assert_eq(d->n_providers, 1);
    cr_expect_str_eq(d->providers[0]->id, f.provider_id);
    cr_expect_str_eq(d->providers[0]->email, f.barber.email);
    cr_assert_eq(d->n_time_off, 1);
    cr_expect_str_eq(d->time_off[0]->reason, "Turno médico");
    cr_expect_eq(d->n_bookings, 0);
    bp__booking__user_data__free_unpacked(d, NULL);

    d = export_user(f.owner.id, "owner");
    cr_assert_eq(d->n_shops, 1);
    cr_expect_str_eq(d->shops[0]->id, f.shop_id);
    cr_expect_eq(d->n_bookings, 0);
    bp__booking__user_data__free_unpacked(d, NULL);
}

Test(privacy_booking, export_needs_a_principal)
{
    Bp__Rpc__Reply *reply = NULL;
    int rv = bpt_rpc_call("booking", "ExportUser", NULL, 0, bpt_rpc_timeout_ms(), &reply);
    cr_assert_eq(rv, 0, "ExportUser call failed: %d", rv);
    cr_expect_eq(reply->status, 401);
    bp__rpc__reply__free_unpacked(reply, NULL);
}

/* ---- audit ---------------------------------------------------------------------- */

Test(privacy_booking, the_shop_reading_a_booking_is_audited_the_client_is_not)
{
    bpt_shop f;
    long day = fresh_shop(&f, 1);
    char id[64];
    book_with_notes(&f, f.client.token, f.corte_id, day, "10:00", "Sin navaja", id);

    bpt_response *r = bpt_booking_get(f.client.token, id);
    cr_assert(r != NULL && r->status == 200);
    bpt_response_free(r);
    cr_expect_eq(audit_records(f.client.id, "booking_read"), 0,
                 "the client's own read wrote an audit record");

    r = bpt_booking_get(f.owner.token, id);
    cr_assert(r != NULL && r->status == 200, "owner's GET: %ld", r ? r->status : 0);
    bpt_response_free(r);
    cr_expect_eq(audit_records(f.client.id, "booking_read"), 1);
    cr_expect_eq(audit_records(f.owner.id, "booking_read"), 0);

    char auth[2100];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f.owner.token);
    const char *headers[] = {auth, NULL};
    r = bpt_http("GET", "/api/bookings?role=owner", headers, NULL, 0);
    cr_assert(r != NULL && r->status == 200, "owner's list: %ld", r ? r->status : 0);
    bpt_response_free(r);
    cr_expect_eq(audit_records(f.client.id, "bookings_list"), 1);

    /* The client's own list writes nothing. */
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f.client.token);
    r = bpt_http("GET", "/api/bookings", headers, NULL, 0);
    cr_assert(r != NULL && r->status == 200);
    bpt_response_free(r);
    cr_expect_eq(audit_records(f.client.id, "bookings_list"), 1);

    /* The shop cancelling is a change of the client's booking. */
    r = bpt_booking_act(f.owner.token, id, "cancel", NULL);
    cr_assert(r != NULL && r->status == 200, "owner's cancel: %ld", r ? r->status : 0);
    bpt_response_free(r);
    cr_expect_eq(audit_records(f.client.id, "booking_changed"), 1);
}

/* ---- erasure -------------------------------------------------------------------- */

Test(privacy_booking, erasure_cancels_and_anonymises_and_happens_once, .timeout = 120)
{
    bpt_shop f;
    long day = fresh_shop(&f, 2), off_day = bpt_workday(2, 3);
    cr_assert(off_day >= 0);
    char notes[96], reason[96], off_reason[96], provider_name[96], phone[24], shop_phone[24],
        path[160];
    unique_text("Nota", notes, sizeof notes);
    unique_text("Motivo", reason, sizeof reason);
    unique_text("Licencia", off_reason, sizeof off_reason);
    unique_text("Tano", provider_name, sizeof provider_name);
    snprintf(phone, sizeof phone, "+54911%08u", bpt_unique_subscriber());
    snprintf(shop_phone, sizeof shop_phone, "+54911%08u", bpt_unique_subscriber());

    /* The barber's profile gets a unique name and a phone; a time off with
     * a reason; the shop a phone. */
    snprintf(path, sizeof path, "/api/providers/%s", f.provider_id);
    bpt_response *r = bpt_http_pack("PATCH", path, f.owner.token, "{s:s, s:s}", "name",
                                    provider_name, "phone", phone);
    cr_assert(r != NULL && r->status == 200, "PATCH provider: %ld %s", r ? r->status : 0,
              r ? r->body : "");
    bpt_response_free(r);
    char off_from[32], off_to[32];
    bpt_ba_at(off_day, "14:00", off_from);
    bpt_ba_at(off_day, "16:00", off_to);
    snprintf(path, sizeof path, "/api/providers/%s/time-off", f.provider_id);
    r = bpt_http_pack("POST", path, f.owner.token, "{s:s, s:s, s:s}", "starts_at", off_from,
                      "ends_at", off_to, "reason", off_reason);
    cr_assert(r != NULL && r->status == 201, "time off: %ld %s", r ? r->status : 0,
              r ? r->body : "");
    bpt_response_free(r);
    snprintf(path, sizeof path, "/api/shops/%s", f.shop_id);
    r = bpt_http_pack("PATCH", path, f.owner.token, "{s:s}", "phone", shop_phone);
    cr_assert(r != NULL && r->status == 200, "PATCH shop: %ld %s", r ? r->status : 0,
              r ? r->body : "");
    bpt_response_free(r);

    /* The client: a confirmed booking and one cancelled with their words. */
    char open_id[64], cancelled_id[64];
    book_with_notes(&f, f.client.token, f.corte_id, day, "10:00", notes, open_id);
    book_with_notes(&f, f.client.token, f.corte_id, day, "12:00", notes, cancelled_id);
    json_t *why = json_pack("{s:s}", "reason", reason);
    r = bpt_booking_act(f.client.token, cancelled_id, "cancel", why);
    json_decref(why);
    cr_assert(r != NULL && r->status == 200);
    bpt_response_free(r);

    char ev1[37], ev2[37];
    new_uuid(ev1);
    new_uuid(ev2);
    cr_assert_eq(deliver_erasure(ev1, f.client.id), 200);
    expect_db_text("SELECT status || ' ' || cancelled_by || ' ' || cancel_reason"
                   " FROM booking.bookings WHERE id = $1",
                   open_id, "cancelled system Cuenta eliminada a pedido del titular");
    cr_expect_eq(bpt_booking_events("booking.cancelled", open_id), 1);
    const char *both[] = {open_id, cancelled_id};
    for (size_t i = 0; i < 2; i++) {
        expect_db_text("SELECT coalesce(client_id::text, '<null>') || ' ' ||"
                       " coalesce(notes, '<null>') FROM booking.bookings WHERE id = $1",
                       both[i], "<null> <null>");
    }
    expect_db_text("SELECT coalesce(cancel_reason, '<null>') FROM booking.bookings WHERE id = $1",
                   cancelled_id, "<null>");
    expect_schema_free_of(notes);
    expect_schema_free_of(reason);
    expect_schema_free_of(f.client.id);
    expect_schema_free_of(f.client.email);

    /* Again, under the same id and under a new one: nothing more changes. */
    char *before = db_text("SELECT string_agg(b::text, '|' ORDER BY b.id) FROM booking.bookings b"
                           " WHERE b.shop_id = $1",
                           f.shop_id);
    cr_expect_eq(deliver_erasure(ev1, f.client.id), 200);
    cr_expect_eq(deliver_erasure(ev2, f.client.id), 200);
    char *after = db_text("SELECT string_agg(b::text, '|' ORDER BY b.id) FROM booking.bookings b"
                          " WHERE b.shop_id = $1",
                          f.shop_id);
    cr_expect_str_eq(after, before);
    free(before);
    free(after);
    cr_expect_eq(bpt_booking_events("booking.cancelled", open_id), 1);

    /* The barber: the linked profile loses the person; their time off its
     * reason. */
    char ev3[37];
    new_uuid(ev3);
    cr_assert_eq(deliver_erasure(ev3, f.barber.id), 200);
    expect_db_text("SELECT name || ' ' || coalesce(email, '<null>') || ' ' ||"
                   " coalesce(phone, '<null>') || ' ' || coalesce(user_id::text, '<null>') || ' '"
                   " || active FROM booking.providers WHERE id = $1",
                   f.provider_id, "Profesional dado de baja <null> <null> <null> false");
    expect_db_text("SELECT coalesce(string_agg(reason, ','), '<null>') FROM booking.time_off"
                   " WHERE provider_id = $1",
                   f.provider_id, "<null>");
    expect_schema_free_of(provider_name);
    expect_schema_free_of(off_reason);
    expect_schema_free_of(phone);
    expect_schema_free_of(f.barber.email);
    expect_schema_free_of(f.barber.id);
    /* The public list no longer shows the profile (its cache was dropped). */
    snprintf(path, sizeof path, "/api/shops/%s/providers", f.shop_id);
    r = bpt_http("GET", path, NULL, NULL, 0);
    cr_assert(r != NULL && r->status == 200);
    cr_expect(strstr(r->body, provider_name) == NULL, "the list still shows it: %s", r->body);
    bpt_response_free(r);

    /* The owner: the shop stays, without its phone. */
    char ev4[37];
    new_uuid(ev4);
    cr_assert_eq(deliver_erasure(ev4, f.owner.id), 200);
    expect_db_text("SELECT coalesce(phone, '<null>') || ' ' || name FROM booking.shops"
                   " WHERE id = $1",
                   f.shop_id, "<null> Barbería El Filo");
    expect_schema_free_of(shop_phone);
}

Test(privacy_booking, erasure_of_an_unknown_user_or_bad_payload_is_acknowledged)
{
    char ev[37], nobody[37];
    new_uuid(ev);
    new_uuid(nobody);
    cr_expect_eq(deliver_erasure(ev, nobody), 200);
    new_uuid(ev);
    cr_expect_eq(deliver_erasure(ev, "not-a-uuid"), 200);
}
