/* Issue 7, Ley 25.326, in the payment daemon, against the real suite: a
 * client's export over the bus (ExportUser, as auth calls it), the audit
 * records of the shop's reads and changes of a client's payments (the
 * audit.recorded rows of payment.outbox for auth), and the erasure of a
 * client (user.erasure_requested delivered to payment's Deliver as auth's
 * relay would): the payments stay with their amounts and statuses, and no
 * text column of the payment schema names the client any more.
 * MercadoPago is tests/fakes/mercadopago.c. Each test makes its own shop
 * and users; waits poll with a bound, never sleep. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bp.h"
#include "events.pb-c.h"
#include "harness.h"
#include "payment.pb-c.h"

#define WAIT_MS 10000                 /* a webhook, its processing and the booking's event */
#define HOLD_S  90                    /* longer than any test; then the payment lapses */
#define DEPOSIT (BPT_COLOR_PRICE / 5) /* $ 8.000,00 */
#define URL_LEN 512

static void mp_ok(void)
{
    bpt_mp_mode("ok");
}

TestSuite(privacy_payment, .init = mp_ok, .fini = mp_ok);

/* ---- fixtures, asserted ------------------------------------------------------------ */

/* A shop whose client has a name, email and phone no other test uses, so
 * that a search of the whole schema for them finds only this test's rows. */
typedef struct {
    bpt_shop f;
    char phone[32];
} shop_fixture;

static void shop_setup(shop_fixture *s)
{
    cr_assert_eq(bpt_shop_new(&s->f), 0, "could not set up a shop (see stderr)");
    char name[64];
    snprintf(name, sizeof name, "Ramona Erasmo %ld%d", (long)getpid(), (int)bpt_now_ms() % 100000);
    cr_assert_eq(bpt_user_register(&s->f.client, "client", name), 0,
                 "could not register the client (see stderr)");
    snprintf(s->phone, sizeof s->phone, "+54 9 11 4%07d", (int)((long)bpt_now_ms() % 10000000));
}

/* A Color booking of f's client at hhmm of a working day, pending payment. */
static void deposit_booking(const bpt_shop *f, const char *hhmm, char id[64])
{
    long day = bpt_workday(2, 0);
    cr_assert(day >= 0 && bpt_book_deposit(f, day, hhmm, HOLD_S, id) == 0,
              "could not book Color at %s (see stderr)", hhmm);
}

/* A Color booking of f's client paid through MercadoPago: its payment's id. */
static void paid_booking(const bpt_shop *f, const char *hhmm, char payment[64])
{
    char booking[64], url[URL_LEN];
    deposit_booking(f, hhmm, booking);
    cr_assert_eq(bpt_checkout_open(f->client.token, booking, payment, url, sizeof url), 0,
                 "checkout failed (see stderr)");
    cr_assert(bpt_mp_pay(url, "approved", 1) > 0, "POST /_fake/pay failed (see stderr)");
    cr_assert_eq(bpt_wait_payment_status(f->client.token, payment, "approved", WAIT_MS), 0,
                 "payment %s never became approved (see stderr)", payment);
}

/* POST /api/payments/{id}/refund as token with amount and reason; 200. */
static void refund_ok(const char *token, const char *payment, json_int_t amount, const char *reason)
{
    char path[160];
    snprintf(path, sizeof path, "/api/payments/%s/refund", payment);
    json_t *body = json_pack("{s:I, s:s}", "amount_cents", amount, "reason", reason);
    bpt_response *r = bpt_http_json("POST", path, token, body);
    json_decref(body);
    cr_assert(r != NULL && r->status == 200, "refund: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
}

/* POST /api/payments/manual as token with a note; 201, its id copied. */
static void manual_ok(const char *token, const char *booking, const char *note, char id[64])
{
    json_t *body = json_pack("{s:s, s:I, s:s, s:s}", "booking_id", booking, "amount_cents",
                             (json_int_t)DEPOSIT, "method", "cash", "note", note);
    bpt_response *r = bpt_http_json("POST", "/api/payments/manual", token, body);
    json_decref(body);
    cr_assert(r != NULL && r->status == 201, "manual: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    snprintf(id, 64, "%s", bpt_json_str(r->json, "payment.id"));
    bpt_response_free(r);
}

/* GET path as token, expected 200; the caller frees it. */
static bpt_response *get_ok(const char *token, const char *path)
{
    bpt_response *r = bpt_http_json("GET", path, token, NULL);
    cr_assert(r != NULL && r->status == 200, "GET %s: %ld %s", path, r ? r->status : 0L,
              r ? r->body : "");
    return r;
}

/* ---- the suite's database ------------------------------------------------------------- */

static PGconn *db(void)
{
    const char *url = getenv("DATABASE_URL");
    cr_assert_not_null(url, "DATABASE_URL is not set");
    PGconn *c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "database: %s", PQerrorMessage(c));
    return c;
}

/* The text of the first row and column of sql, malloc'd ("" for NULL). */
static char *db_text(const char *sql, int n, const char *const *params)
{
    PGconn *c = db();
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
              PQresultErrorMessage(r));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

static long db_long(const char *sql, int n, const char *const *params)
{
    long v = bpt_db_long(sql, n, params);
    cr_assert(v >= 0, "%s failed (see stderr)", sql);
    return v;
}

/* Audit records in payment.outbox for auth whose details name what (a
 * payment id), of action, by actor about subject (NULL: any). */
static bool same(const char *want, const char *got)
{
    return want == NULL || (got != NULL && strcmp(want, got) == 0);
}

static long audit_records(const char *what, const char *action, const char *actor,
                          const char *subject)
{
    PGconn *c = db();
    PGresult *r = PQexecParams(c,
                               "SELECT payload FROM payment.outbox"
                               " WHERE topic = 'audit.recorded' AND consumer = 'auth'",
                               0, NULL, NULL, NULL, NULL, 1);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    long n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        Bp__Events__AuditEvent *ev = bp__events__audit_event__unpack(
            NULL, (size_t)PQgetlength(r, i, 0), (const uint8_t *)PQgetvalue(r, i, 0));
        cr_assert_not_null(ev, "an audit.recorded payload does not decode");
        for (size_t k = 0; k < ev->n_records; k++) {
            const Bp__Events__AuditRecord *a = ev->records[k];
            n += a->details != NULL && strstr(a->details, what) != NULL &&
                 same(action, a->action) && same(actor, a->actor_id) &&
                 same(subject, a->subject_id);
        }
        bp__events__audit_event__free_unpacked(ev, NULL);
    }
    PQclear(r);
    PQfinish(c);
    return n;
}

/* Rows of every text, varchar or json column of the payment schema's
 * tables that contain needle (any case); where, on stderr, when tell. */
static long schema_mentions(const char *needle, bool tell)
{
    PGconn *c = db();
    PGresult *cols =
        PQexec(c, "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                  " JOIN information_schema.tables t USING (table_schema, table_name)"
                  " WHERE c.table_schema = 'payment' AND t.table_type = 'BASE TABLE'"
                  " AND c.data_type IN ('text', 'character varying', 'character',"
                  " 'json', 'jsonb')");
    cr_assert_eq(PQresultStatus(cols), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(cols));
    cr_assert(PQntuples(cols) > 10, "the payment schema has too few text columns");
    long n = 0;
    for (int i = 0; i < PQntuples(cols); i++) {
        char *table = PQescapeIdentifier(c, PQgetvalue(cols, i, 0), strlen(PQgetvalue(cols, i, 0)));
        char *col = PQescapeIdentifier(c, PQgetvalue(cols, i, 1), strlen(PQgetvalue(cols, i, 1)));
        cr_assert(table != NULL && col != NULL);
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM payment.%s WHERE strpos(lower(%s::text), lower($1)) > 0",
                 table, col);
        const char *params[] = {needle};
        PGresult *r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
        cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
        long k = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        if (k > 0 && tell)
            fprintf(stderr, "payment.%s.%s holds \"%s\" in %ld rows\n", PQgetvalue(cols, i, 0),
                    PQgetvalue(cols, i, 1), needle, k);
        n += k;
        PQclear(r);
        PQfreemem(table);
        PQfreemem(col);
    }
    PQclear(cols);
    PQfinish(c);
    return n;
}

/* ---- the bus ------------------------------------------------------------------------- */

/* ExportUser as user (a client), expected 200; free with
 * bp__payment__user_data__free_unpacked. */
static Bp__Payment__UserData *export_of(const char *user)
{
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(bpt_rpc_call_as("payment", "ExportUser", user, "client", NULL, 0,
                                 bpt_rpc_timeout_ms(), &reply),
                 0, "ExportUser did not answer");
    cr_assert_eq(reply->status, 200, "ExportUser: %d %s", reply->status,
                 reply->error != NULL ? reply->error->message : "");
    Bp__Payment__UserData *d =
        bp__payment__user_data__unpack(NULL, reply->body.len, reply->body.data);
    bp__rpc__reply__free_unpacked(reply, NULL);
    cr_assert_not_null(d, "the ExportUser reply is not a UserData");
    return d;
}

/* Delivers user.erasure_requested for user with event id event_id to
 * payment's Deliver, as auth's relay would; returns the reply's status. */
static int deliver_erasure(const char *event_id, const char *user)
{
    char request[37];
    bp_uuid(request);
    Bp__Events__UserEvent u = BP__EVENTS__USER_EVENT__INIT;
    u.user_id = (char *)user;
    u.request_id = request;
    uint8_t payload[256];
    cr_assert(bp__events__user_event__get_packed_size(&u) <= sizeof payload);
    Bp__Events__Event ev = BP__EVENTS__EVENT__INIT;
    ev.id = (char *)event_id;
    ev.topic = "user.erasure_requested";
    ev.producer = "auth";
    ev.key = (char *)user;
    ev.has_payload = 1;
    ev.payload.data = payload;
    ev.payload.len = bp__events__user_event__pack(&u, payload);
    ev.has_attempt = 1;
    ev.attempt = 1;
    uint8_t body[512];
    cr_assert(bp__events__event__get_packed_size(&ev) <= sizeof body);
    size_t len = bp__events__event__pack(&ev, body);
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(bpt_rpc_call("payment", "Deliver", body, len, bpt_rpc_timeout_ms(), &reply), 0,
                 "Deliver did not answer");
    int status = reply->status;
    bp__rpc__reply__free_unpacked(reply, NULL);
    return status;
}

/* ---- export ------------------------------------------------------------------------ */

Test(privacy_payment, export_holds_the_clients_payments_and_nothing_of_another)
{
    shop_fixture s, other;
    shop_setup(&s);
    shop_setup(&other);
    char mine[64], theirs[64];
    paid_booking(&s.f, "10:00", mine);
    paid_booking(&other.f, "10:00", theirs);
    refund_ok(s.f.owner.token, mine, 100000, "Descuento acordado");

    char path[160];
    snprintf(path, sizeof path, "/api/payments/%s", mine);
    bpt_response *got = get_ok(s.f.client.token, path);

    Bp__Payment__UserData *d = export_of(s.f.client.id);
    cr_assert_eq(d->n_payments, 1, "the export holds %zu payments", d->n_payments);
    const Bp__Payment__Payment *p = d->payments[0];
    /* Just as GetPayment renders it. */
    cr_expect_str_eq(p->id, mine);
    cr_expect_str_eq(p->client_id, s.f.client.id);
    cr_expect_str_eq(p->booking_id, bpt_json_str(got->json, "payment.booking_id"));
    cr_expect_str_eq(p->status, bpt_json_str(got->json, "payment.status"));
    cr_expect_str_eq(p->status, "partially_refunded");
    cr_expect_eq(p->amount_cents, DEPOSIT);
    cr_expect_eq(p->refunded_cents, 100000);
    cr_expect_str_eq(p->amount_display, bpt_json_str(got->json, "payment.amount_display"));
    cr_expect_str_eq(p->created_at, bpt_json_str(got->json, "payment.created_at"));
    cr_expect_str_eq(p->checkout_url, bpt_json_str(got->json, "payment.checkout_url"));
    cr_expect_str_eq(p->mercadopago_payment_id,
                     bpt_json_str(got->json, "payment.mercadopago_payment_id"));
    cr_assert_eq(p->n_refunds, 1, "the export holds %zu refunds", p->n_refunds);
    cr_expect_eq(p->refunds[0]->amount_cents, 100000);
    cr_expect_str_eq(p->refunds[0]->reason, "Descuento acordado");
    json_t *refunds = bpt_json_at(got->json, "payment.refunds");
    cr_expect_str_eq(p->refunds[0]->id,
                     json_string_value(json_object_get(json_array_get(refunds, 0), "id")));
    bp__payment__user_data__free_unpacked(d, NULL);
    bpt_response_free(got);

    /* The other client's export is theirs alone. */
    d = export_of(other.f.client.id);
    cr_assert_eq(d->n_payments, 1, "the other export holds %zu payments", d->n_payments);
    cr_expect_str_eq(d->payments[0]->id, theirs);
    bp__payment__user_data__free_unpacked(d, NULL);

    /* No principal, no export. */
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(bpt_rpc_call("payment", "ExportUser", NULL, 0, bpt_rpc_timeout_ms(), &reply), 0);
    cr_expect_eq(reply->status, 401, "ExportUser without a principal: %d", reply->status);
    bp__rpc__reply__free_unpacked(reply, NULL);
}

/* ---- audit ------------------------------------------------------------------------- */

Test(privacy_payment, the_shop_reading_or_changing_a_clients_payment_is_audited)
{
    shop_fixture s;
    shop_setup(&s);
    const bpt_shop *f = &s.f;
    char paid[64], booking[64], manual[64], path[200];
    paid_booking(f, "10:00", paid);

    /* The client reading their own payment writes nothing. */
    snprintf(path, sizeof path, "/api/payments/%s", paid);
    bpt_response_free(get_ok(f->client.token, path));
    cr_expect_eq(audit_records(paid, NULL, NULL, NULL), 0, "the client's own read was audited");

    /* The owner's read names the client. */
    bpt_response_free(get_ok(f->owner.token, path));
    cr_expect_eq(audit_records(paid, "payment_read", f->owner.id, f->client.id), 1,
                 "no payment_read record of the owner's read");

    /* So does the provider's list of the booking's payments. */
    bpt_response *r = get_ok(f->client.token, path);
    snprintf(path, sizeof path, "/api/payments?booking_id=%s",
             bpt_json_str(r->json, "payment.booking_id"));
    bpt_response_free(r);
    bpt_response_free(get_ok(f->barber.token, path));
    cr_expect_eq(audit_records(paid, "payments_list", f->barber.id, f->client.id), 1,
                 "no payments_list record of the provider's list");

    /* A refund and a manual payment by the shop, each with its change. */
    refund_ok(f->owner.token, paid, 100000, "Descuento acordado");
    cr_expect_eq(audit_records(paid, "payment_changed", f->owner.id, f->client.id), 1,
                 "no payment_changed record of the owner's refund");
    deposit_booking(f, "14:00", booking);
    manual_ok(f->owner.token, booking, "Pagó en efectivo", manual);
    cr_expect_eq(audit_records(manual, "payment_changed", f->owner.id, f->client.id), 1,
                 "no payment_changed record of the manual payment");
}

/* ---- erasure ------------------------------------------------------------------------- */

/* Everything the erasure may not change of the client's payments, as one
 * digest: the payments, their refunds and MercadoPago's attempts. */
static char *digest(const char *ids)
{
    const char *params[] = {ids};
    return db_text("SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM ("
                   " SELECT p::text AS x FROM payment.payments p WHERE p.id = ANY($1::uuid[])"
                   " UNION ALL SELECT r::text FROM payment.refunds r"
                   "  WHERE r.payment_id = ANY($1::uuid[])"
                   " UNION ALL SELECT a::text FROM payment.attempts a"
                   "  WHERE a.payment_id = ANY($1::uuid[])) s",
                   1, params);
}

Test(privacy_payment, erasure_keeps_the_accounts_and_forgets_the_client)
{
    shop_fixture s;
    shop_setup(&s);
    const bpt_shop *f = &s.f;
    char paid[64], booking[64], manual[64], note[256], reason[128];
    paid_booking(f, "10:00", paid);
    snprintf(reason, sizeof reason, "Devolución a %s", f->client.name);
    refund_ok(f->owner.token, paid, 100000, reason);
    deposit_booking(f, "14:00", booking);
    snprintf(note, sizeof note, "Pagó %s (%s, %s) en efectivo", f->client.name, f->client.email,
             s.phone);
    manual_ok(f->owner.token, booking, note, manual);
    snprintf(reason, sizeof reason, "Llamar al %s", s.phone);
    refund_ok(f->owner.token, manual, 50000, reason);
    /* The shop's reads are audited before the erasure, as in real life. */
    char path[160];
    snprintf(path, sizeof path, "/api/payments/%s", manual);
    bpt_response_free(get_ok(f->owner.token, path));

    char ids[160];
    snprintf(ids, sizeof ids, "{%s,%s}", paid, manual);
    const char *both[] = {ids};
    cr_assert(schema_mentions(f->client.name, false) > 0 &&
                  schema_mentions(f->client.email, false) > 0 &&
                  schema_mentions(s.phone, false) > 0,
              "the test's personal texts are not where it put them");

    char event[37];
    bp_uuid(event);
    cr_assert_eq(deliver_erasure(event, f->client.id), 200);

    /* The payments stay, with their amounts and statuses, and no one's. */
    cr_expect_eq(db_long("SELECT count(*) FROM payment.payments WHERE id = ANY($1::uuid[])"
                         " AND client_id IS NULL AND note IS NULL",
                         1, both),
                 2, "a payment still names its client");
    /* The client created the checkout: it loses its creator and key too. */
    const char *one[] = {paid};
    cr_expect_eq(db_long("SELECT count(*) FROM payment.payments WHERE id = $1::uuid"
                         " AND created_by IS NULL AND idempotency_key IS NULL"
                         " AND checkout_url IS NULL AND description NOT LIKE '%Color%'",
                         1, one),
                 1, "the checkout still names its creator");
    cr_expect_eq(db_long("SELECT count(*) FROM payment.payments WHERE id = $1::uuid"
                         " AND status = 'partially_refunded' AND amount_cents = 800000"
                         " AND refunded_cents = 100000 AND mp_payment_id IS NOT NULL",
                         1, one),
                 1, "the MercadoPago payment lost its accounts");
    const char *other[] = {manual};
    cr_expect_eq(db_long("SELECT count(*) FROM payment.payments WHERE id = $1::uuid"
                         " AND status = 'partially_refunded' AND amount_cents = 800000"
                         " AND refunded_cents = 50000 AND method = 'cash'",
                         1, other),
                 1, "the manual payment lost its accounts");
    cr_expect_eq(db_long("SELECT count(*) FROM payment.refunds WHERE payment_id = ANY($1::uuid[])"
                         " AND reason IS NULL AND status = 'done' AND amount_cents > 0",
                         1, both),
                 2, "a refund lost its amount or kept its reason");
    cr_expect_eq(db_long("SELECT count(*) FROM payment.attempts WHERE payment_id = $1::uuid"
                         " AND amount_cents = 800000",
                         1, one),
                 1, "MercadoPago's attempt is gone");

    /* Nothing of the person is left in any text column. */
    cr_expect_eq(schema_mentions(f->client.name, true), 0, "the client's name is still stored");
    cr_expect_eq(schema_mentions(f->client.email, true), 0, "the client's email is still stored");
    cr_expect_eq(schema_mentions(s.phone, true), 0, "the client's phone is still stored");

    /* The client's export is now empty; the same event again, or another
     * request for the same user, changes nothing and is acknowledged. */
    Bp__Payment__UserData *d = export_of(f->client.id);
    cr_expect_eq(d->n_payments, 0, "the export still holds %zu payments", d->n_payments);
    bp__payment__user_data__free_unpacked(d, NULL);
    char *before = digest(ids);
    cr_expect_eq(deliver_erasure(event, f->client.id), 200);
    char again[37];
    bp_uuid(again);
    cr_expect_eq(deliver_erasure(again, f->client.id), 200);
    char *after = digest(ids);
    cr_expect_str_eq(after, before, "a second erasure changed the payments");
    free(before);
    free(after);

    /* An unknown user is acknowledged too. */
    char nobody[37];
    bp_uuid(nobody);
    bp_uuid(again);
    cr_expect_eq(deliver_erasure(again, nobody), 200);
}
