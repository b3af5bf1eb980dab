/* Unit tests for services/notification/templates.c: the es-AR date, every
 * template rendered with and without its variables, amounts, WhatsApp
 * parameters in order, and when reminders are due around the quiet hours. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/notification/templates.h"
#include "bp.h"
#include "tz.h"

#define HOUR 3600
#define DAY  86400
#define AR   "America/Argentina/Buenos_Aires"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return (int64_t)bp_days_from_civil(y, mo, d) * DAY + h * HOUR + mi * 60;
}

/* The instant of a local wall time in zone (never one the clocks skip). */
static int64_t local(const char *zone, int y, int mo, int d, int h, int mi)
{
    const bp_tz *tz;
    int64_t t;
    cr_assert_eq(bp_tz_load(zone, &tz), 0);
    cr_assert_eq(bp_tz_local_to_utc(tz, utc(y, mo, d, h, mi), &t), 0);
    return t;
}

/* ---- dates ------------------------------------------------------------- */

typedef struct {
    const char *zone;
    int64_t at;
    const char *want;
} when_case;

Test(notification_format_when, writes_dates_as_people_here_do)
{
    const when_case cases[] = {
        {AR, utc(2026, 12, 4, 18, 30), "viernes 4 de diciembre, 15:30"},
        {AR, utc(2026, 12, 6, 13, 5), "domingo 6 de diciembre, 10:05"},
        {AR, utc(2027, 1, 1, 3, 0), "viernes 1 de enero, 00:00"},
        {AR, utc(2027, 1, 1, 2, 59), "jueves 31 de diciembre, 23:59"},
        {AR, utc(2026, 9, 30, 12, 0), "miércoles 30 de septiembre, 09:00"},
        {AR, utc(2026, 7, 11, 23, 45), "sábado 11 de julio, 20:45"},
        /* Madrid: the spring-forward night, summer time, and the hour that
         * happens twice in October. */
        {"Europe/Madrid", utc(2026, 3, 29, 0, 30), "domingo 29 de marzo, 01:30"},
        {"Europe/Madrid", utc(2026, 3, 29, 1, 30), "domingo 29 de marzo, 03:30"},
        {"Europe/Madrid", utc(2026, 7, 15, 10, 0), "miércoles 15 de julio, 12:00"},
        {"Europe/Madrid", utc(2026, 10, 25, 0, 30), "domingo 25 de octubre, 02:30"},
        {"Europe/Madrid", utc(2026, 10, 25, 1, 30), "domingo 25 de octubre, 02:30"},
        {"Europe/Madrid", utc(2026, 2, 2, 8, 0), "lunes 2 de febrero, 09:00"},
        {"Europe/Madrid", utc(2026, 11, 3, 8, 0), "martes 3 de noviembre, 09:00"},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        char out[NOTIFICATION_WHEN_MAX];
        cr_assert_eq(notification_format_when(cases[i].at, cases[i].zone, out, sizeof out), 0,
                     "case %zu", i);
        cr_expect_str_eq(out, cases[i].want, "case %zu", i);
    }
}

Test(notification_format_when, the_longest_date_fits_the_documented_room)
{
    char out[NOTIFICATION_WHEN_MAX];
    cr_assert_eq(notification_format_when(utc(2026, 9, 30, 23, 59), "UTC", out, sizeof out), 0);
    cr_expect_str_eq(out, "miércoles 30 de septiembre, 23:59");
}

Test(notification_format_when, refuses_bad_zones_and_short_buffers)
{
    char out[NOTIFICATION_WHEN_MAX] = "x";
    cr_expect_eq(notification_format_when(0, "Mars/Olympus_Mons", out, sizeof out), BP_EINVAL);
    cr_expect_str_eq(out, "");
    cr_expect_eq(notification_format_when(0, NULL, out, sizeof out), BP_EINVAL);
    cr_expect_eq(notification_format_when(0, "../etc/passwd", out, sizeof out), BP_EINVAL);
    cr_expect_eq(notification_format_when(utc(2026, 12, 4, 18, 30), AR, out, 10), BP_EINVAL);
    cr_expect_str_eq(out, "");
    cr_expect_eq(notification_format_when(INT64_MAX, AR, out, sizeof out), BP_EINVAL);
    cr_expect_eq(notification_format_when(0, AR, NULL, 10), BP_EINVAL);
}

/* ---- rendering --------------------------------------------------------- */

static notification_vars full_vars(void)
{
    return (notification_vars){
        .shop_name = "Barbería Don Julio",
        .service_name = "Corte y barba",
        .provider_name = "Mateo",
        .client_name = "Lucía",
        .timezone = AR,
        .starts_s = utc(2026, 12, 4, 18, 30),
        .previous_starts_s = utc(2026, 12, 3, 21, 0),
        .amount_cents = 1500000,
        .currency = "ARS",
        .reason = "El barbero está enfermo",
    };
}

#define WHEN      "viernes 4 de diciembre, 15:30"
#define PREV_WHEN "jueves 3 de diciembre, 18:00"
#define AMOUNT    "$ 15.000,00"

/* What each message needs, as bits. */
enum {
    N_CLIENT = 1 << 0,
    N_SHOP = 1 << 1,
    N_SERVICE = 1 << 2,
    N_PROVIDER = 1 << 3,
    N_WHEN = 1 << 4,
    N_PREVIOUS = 1 << 5,
    N_AMOUNT = 1 << 6,
};

typedef struct {
    const char *id, *whatsapp;
    unsigned needs;
    const char *params[8]; /* with full_vars, in order */
} template_case;

static const template_case expected[] = {
    {"booking_confirmed",
     "turno_confirmado",
     N_CLIENT | N_SHOP | N_SERVICE | N_PROVIDER | N_WHEN,
     {"Lucía", "Corte y barba", "Mateo", "Barbería Don Julio", WHEN}},
    {"booking_rescheduled",
     "turno_reprogramado",
     N_CLIENT | N_SHOP | N_SERVICE | N_PROVIDER | N_WHEN | N_PREVIOUS,
     {"Lucía", "Corte y barba", "Mateo", "Barbería Don Julio", PREV_WHEN, WHEN}},
    {"booking_cancelled",
     "turno_cancelado",
     N_CLIENT | N_SHOP | N_SERVICE | N_PROVIDER | N_WHEN,
     {"Lucía", "Corte y barba", "Mateo", "Barbería Don Julio", WHEN, "El barbero está enfermo"}},
    {"booking_expired",
     "reserva_vencida",
     N_CLIENT | N_SHOP | N_SERVICE | N_WHEN,
     {"Lucía", "Corte y barba", "Barbería Don Julio", WHEN}},
    {"payment_received",
     "pago_recibido",
     N_CLIENT | N_SHOP | N_SERVICE | N_WHEN | N_AMOUNT,
     {"Lucía", AMOUNT, "Corte y barba", "Barbería Don Julio", WHEN}},
    {"refund_issued",
     "reembolso_emitido",
     N_CLIENT | N_SHOP | N_SERVICE | N_AMOUNT,
     {"Lucía", "Barbería Don Julio", AMOUNT, "Corte y barba"}},
    {"reminder_24h",
     "recordatorio_turno_24h",
     N_CLIENT | N_SHOP | N_SERVICE | N_PROVIDER | N_WHEN,
     {"Lucía", "Corte y barba", "Mateo", "Barbería Don Julio", WHEN}},
    {"reminder_2h",
     "recordatorio_turno_2h",
     N_CLIENT | N_SHOP | N_SERVICE | N_PROVIDER | N_WHEN,
     {"Lucía", "Corte y barba", "Mateo", "Barbería Don Julio", WHEN}},
    {"shop_new_booking",
     "nuevo_turno_local",
     N_CLIENT | N_SHOP | N_SERVICE | N_PROVIDER | N_WHEN,
     {"Barbería Don Julio", "Lucía", "Corte y barba", "Mateo", WHEN}},
    {"shop_booking_cancelled",
     "turno_cancelado_local",
     N_CLIENT | N_SHOP | N_SERVICE | N_PROVIDER | N_WHEN,
     {"Barbería Don Julio", "Lucía", "Corte y barba", "Mateo", WHEN, "El barbero está enfermo"}},
};

/* No placeholder or segment marker survives, and no line break or tab. */
static void expect_clean(const char *s, const char *id)
{
    cr_expect(s != NULL && *s != '\0', "%s: empty", id);
    cr_expect(strpbrk(s, "{}[]\r\n\t") == NULL, "%s: left %s", id, s);
    cr_expect(strstr(s, "..") == NULL, "%s: doubled full stop in %s", id, s);
}

Test(notification_render, every_row_of_the_table_renders_with_full_variables)
{
    notification_vars v = full_vars();
    cr_assert(notification_template_count() > 0);
    cr_expect_null(notification_template_id(notification_template_count()));
    for (size_t i = 0; i < notification_template_count(); i++) {
        const char *id = notification_template_id(i);
        notification_message m;
        cr_assert_eq(notification_render(id, &v, &m), 0,
                     "%s does not render (unknown placeholder?)", id);
        expect_clean(m.subject, id);
        expect_clean(m.text, id);
        cr_expect(m.whatsapp_template != NULL && *m.whatsapp_template != '\0', "%s", id);
        cr_expect_gt(m.n_params, 0, "%s", id);
        for (size_t p = 0; p < m.n_params; p++) {
            cr_expect(m.whatsapp_params[p] != NULL && *m.whatsapp_params[p] != '\0', "%s", id);
            /* The WhatsApp body says what the text says. */
            cr_expect_not_null(strstr(m.text, m.whatsapp_params[p]), "%s: param %zu not in text",
                               id, p);
        }
        notification_message_free(&m);
    }
}

Test(notification_render, each_message_carries_its_variables_and_params_in_order)
{
    notification_vars v = full_vars();
    cr_expect_eq(notification_template_count(), BP_COUNTOF(expected));
    for (size_t i = 0; i < BP_COUNTOF(expected); i++) {
        const template_case *c = &expected[i];
        notification_message m;
        cr_assert_eq(notification_render(c->id, &v, &m), 0, "%s", c->id);
        cr_expect_str_eq(m.whatsapp_template, c->whatsapp, "%s", c->id);
        size_t n = 0;
        while (n < BP_COUNTOF(c->params) && c->params[n] != NULL)
            n++;
        cr_assert_eq(m.n_params, n, "%s: %zu params", c->id, m.n_params);
        for (size_t p = 0; p < n; p++) {
            cr_expect_str_eq(m.whatsapp_params[p], c->params[p], "%s param %zu", c->id, p);
            cr_expect_not_null(strstr(m.text, c->params[p]), "%s: text lacks %s", c->id,
                               c->params[p]);
        }
        cr_expect_not_null(strstr(m.subject, "Barbería Don Julio"), "%s: subject", c->id);
        notification_message_free(&m);
    }
}

Test(notification_render, booking_confirmed_reads_as_written)
{
    notification_vars v = full_vars();
    notification_message m;
    cr_assert_eq(notification_render("booking_confirmed", &v, &m), 0);
    cr_expect_str_eq(m.text, "Hola Lucía: tu turno de Corte y barba con Mateo en Barbería Don "
                             "Julio quedó confirmado para el viernes 4 de diciembre, 15:30. ¡Te "
                             "esperamos!");
    cr_expect_str_eq(m.subject, "Tu turno en Barbería Don Julio está confirmado");
    notification_message_free(&m);

    cr_assert_eq(notification_render("booking_rescheduled", &v, &m), 0);
    cr_expect_not_null(strstr(m.text, "pasó del " PREV_WHEN " al " WHEN "."), "%s", m.text);
    notification_message_free(&m);
}

Test(notification_render, a_cancellation_says_the_reason_only_when_there_is_one)
{
    notification_vars v = full_vars();
    notification_message m;
    cr_assert_eq(notification_render("booking_cancelled", &v, &m), 0);
    cr_expect_not_null(strstr(m.text, "fue cancelado. Motivo: El barbero está enfermo. Cuando"),
                       "%s", m.text);
    notification_message_free(&m);

    const char *none[] = {NULL, "", "  \n "};
    for (size_t i = 0; i < BP_COUNTOF(none); i++) {
        v.reason = none[i];
        cr_assert_eq(notification_render("booking_cancelled", &v, &m), 0);
        cr_expect_str_eq(m.text, "Hola Lucía: tu turno de Corte y barba con Mateo en Barbería "
                                 "Don Julio del " WHEN " fue cancelado. Cuando quieras, podés "
                                 "reservar otro.");
        cr_assert_eq(m.n_params, 6);
        cr_expect_str_eq(m.whatsapp_params[5], NOTIFICATION_PARAM_ABSENT);
        notification_message_free(&m);

        cr_assert_eq(notification_render("shop_booking_cancelled", &v, &m), 0);
        cr_expect_null(strstr(m.text, "Motivo"), "%s", m.text);
        cr_expect_not_null(strstr(m.text, WHEN ". El horario quedó libre."), "%s", m.text);
        notification_message_free(&m);
    }

    /* A reason that ends its own sentence gets no second full stop. */
    v.reason = "Feriado nacional.";
    cr_assert_eq(notification_render("booking_cancelled", &v, &m), 0);
    cr_expect_not_null(strstr(m.text, "Motivo: Feriado nacional. Cuando"), "%s", m.text);
    notification_message_free(&m);
}

/* Sets the variable of bit `need` in v to its "not known" value. */
static void drop(notification_vars *v, unsigned need)
{
    switch (need) {
    case N_CLIENT:
        v->client_name = NULL;
        break;
    case N_SHOP:
        v->shop_name = "";
        break;
    case N_SERVICE:
        v->service_name = NULL;
        break;
    case N_PROVIDER:
        v->provider_name = NULL;
        break;
    case N_WHEN:
        v->starts_s = 0;
        break;
    case N_PREVIOUS:
        v->previous_starts_s = 0;
        break;
    case N_AMOUNT:
        v->amount_cents = 0;
        break;
    }
}

Test(notification_render, a_missing_variable_fails_only_the_templates_that_need_it)
{
    for (size_t i = 0; i < BP_COUNTOF(expected); i++) {
        for (unsigned need = N_CLIENT; need <= N_AMOUNT; need <<= 1) {
            notification_vars v = full_vars();
            drop(&v, need);
            notification_message m;
            int rv = notification_render(expected[i].id, &v, &m);
            if (expected[i].needs & need) {
                cr_expect_eq(rv, BP_EINVAL, "%s without %#x gave %d", expected[i].id, need, rv);
                cr_expect_null(m.text);
                cr_expect_null(m.subject);
                cr_expect_null(m.whatsapp_params);
            } else {
                cr_expect_eq(rv, 0, "%s without %#x gave %d", expected[i].id, need, rv);
            }
            notification_message_free(&m);
        }
    }
}

Test(notification_render, a_bad_zone_fails_the_templates_with_a_date)
{
    notification_vars v = full_vars();
    notification_message m;
    v.timezone = "America/Atlantis";
    cr_expect_eq(notification_render("booking_confirmed", &v, &m), BP_EINVAL);
    v.timezone = NULL;
    cr_expect_eq(notification_render("reminder_2h", &v, &m), BP_EINVAL);
    /* A refund names no date, so it needs no zone. */
    cr_expect_eq(notification_render("refund_issued", &v, &m), 0);
    notification_message_free(&m);
}

Test(notification_render, unknown_ids_are_not_found)
{
    notification_vars v = full_vars();
    notification_message m;
    cr_expect_eq(notification_render("booking_teleported", &v, &m), BP_ENOTFOUND);
    cr_expect_eq(notification_render(NULL, &v, &m), BP_ENOTFOUND);
    cr_expect_eq(notification_render("", &v, &m), BP_ENOTFOUND);
    cr_expect_eq(notification_render("booking_confirmed", NULL, &m), BP_EINVAL);
    cr_expect_eq(notification_render("booking_confirmed", &v, NULL), BP_EINVAL);
    notification_message_free(&m);
    notification_message_free(NULL);

    cr_expect(notification_template_known("booking_confirmed"));
    cr_expect(notification_template_known("shop_booking_cancelled"));
    cr_expect_not(notification_template_known("Booking_Confirmed"));
    cr_expect_not(notification_template_known("booking_confirmed "));
    cr_expect_not(notification_template_known(NULL));
    for (size_t i = 0; i < BP_COUNTOF(expected); i++)
        cr_expect(notification_template_known(expected[i].id), "%s", expected[i].id);
}

typedef struct {
    int64_t cents;
    const char *currency;
    const char *want; /* NULL: BP_EINVAL */
} amount_case;

Test(notification_render, amounts_are_written_es_AR)
{
    const amount_case cases[] = {
        {1500000, "ARS", "$ 15.000,00"},
        {123456, "ARS", "$ 1.234,56"},
        {50, "ARS", "$ 0,50"},
        {123456789012, "ARS", "$ 1.234.567.890,12"},
        {1500000, NULL, "$ 15.000,00"},
        {123456, "USD", "US$ 1.234,56"},
        {0, "ARS", NULL},
        {-1500000, "ARS", NULL},
        {1500000, "pesos", NULL},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        notification_vars v = full_vars();
        v.amount_cents = cases[i].cents;
        v.currency = cases[i].currency;
        notification_message m;
        int rv = notification_render("payment_received", &v, &m);
        if (cases[i].want == NULL) {
            cr_expect_eq(rv, BP_EINVAL, "case %zu", i);
        } else {
            cr_assert_eq(rv, 0, "case %zu", i);
            char line[128];
            snprintf(line, sizeof line, "recibimos tu pago de %s por", cases[i].want);
            cr_expect_not_null(strstr(m.text, line), "case %zu: %s", i, m.text);
            cr_expect_str_eq(m.whatsapp_params[1], cases[i].want, "case %zu", i);
        }
        notification_message_free(&m);
    }
}

Test(notification_render, values_cannot_break_headers_or_whatsapp_parameters)
{
    notification_vars v = full_vars();
    v.shop_name = "Barbería\r\nBcc: otro@example.com";
    v.client_name = "  Lucía \t  Pérez  ";
    notification_message m;
    cr_assert_eq(notification_render("shop_new_booking", &v, &m), 0);
    cr_expect_str_eq(m.subject, "Nuevo turno en Barbería Bcc: otro@example.com: Lucía Pérez");
    for (size_t p = 0; p < m.n_params; p++) {
        cr_expect(strpbrk(m.whatsapp_params[p], "\r\n\t") == NULL);
        cr_expect_null(strstr(m.whatsapp_params[p], "  "));
    }
    cr_expect_str_eq(m.whatsapp_params[1], "Lucía Pérez");
    notification_message_free(&m);

    v = full_vars();
    v.client_name = "Luc\xed"
                    "a"; /* Latin-1, not UTF-8 */
    cr_expect_eq(notification_render("booking_confirmed", &v, &m), BP_EINVAL);
    v.client_name = "\xc0\xaf"; /* an overlong '/' */
    cr_expect_eq(notification_render("booking_confirmed", &v, &m), BP_EINVAL);
    v.client_name = "\xed\xa0\x80"; /* a surrogate */
    cr_expect_eq(notification_render("booking_confirmed", &v, &m), BP_EINVAL);
    notification_message_free(&m);
}

Test(notification_render, a_long_reason_is_cut_at_a_character_boundary)
{
    char reason[601];
    for (size_t i = 0; i < 300; i++)
        memcpy(reason + 2 * i, "ñ", 2);
    reason[600] = '\0';
    notification_vars v = full_vars();
    v.reason = reason;
    notification_message m;
    cr_assert_eq(notification_render("booking_cancelled", &v, &m), 0);
    const char *param = m.whatsapp_params[5];
    size_t n = strlen(param);
    cr_expect_leq(n, NOTIFICATION_VAR_MAX);
    cr_assert_geq(n, 3);
    cr_expect_eq(memcmp(param + n - 3, "…", 3), 0, "%s", param);
    cr_expect_eq((n - 3) % 2, 0, "a character was split");
    cr_expect_not_null(strstr(m.text, "… Cuando quieras"), "%s", m.text);
    notification_message_free(&m);
}

/* ---- reminders --------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *zone;
    int64_t starts;
    int hours;
    int64_t want;
} due_case;

Test(notification_reminder_due, follows_the_quiet_hours_rule)
{
    const due_case cases[] = {
        {"15:00, 24 h: the day before at 15:00", AR, local(AR, 2026, 12, 4, 15, 0), 24,
         local(AR, 2026, 12, 3, 15, 0)},
        {"15:00, 2 h: 13:00", AR, local(AR, 2026, 12, 4, 15, 0), 2, local(AR, 2026, 12, 4, 13, 0)},
        {"09:00, 2 h: 07:00 kept, it starts before 10:00", AR, local(AR, 2026, 12, 4, 9, 0), 2,
         local(AR, 2026, 12, 4, 7, 0)},
        {"06:00, 24 h: 06:00 the day before kept", AR, local(AR, 2026, 12, 4, 6, 0), 24,
         local(AR, 2026, 12, 3, 6, 0)},
        {"00:30, 2 h: 22:30 the evening before kept", AR, local(AR, 2026, 12, 4, 0, 30), 2,
         local(AR, 2026, 12, 3, 22, 30)},
        {"10:00, 2 h: 08:00 is not quiet", AR, local(AR, 2026, 12, 4, 10, 0), 2,
         local(AR, 2026, 12, 4, 8, 0)},
        {"23:30, 2 h: 21:30 is fine", AR, local(AR, 2026, 12, 4, 23, 30), 2,
         local(AR, 2026, 12, 4, 21, 30)},
        {"21:59, 24 h: 21:59 the day before", AR, local(AR, 2026, 12, 4, 21, 59), 24,
         local(AR, 2026, 12, 3, 21, 59)},
        {"22:00, 24 h: 22:00 is quiet, moved to 21:00", AR, local(AR, 2026, 12, 4, 22, 0), 24,
         local(AR, 2026, 12, 3, 21, 0)},
        {"23:00, 24 h: moved to 21:00 the evening before", AR, local(AR, 2026, 12, 4, 23, 0), 24,
         local(AR, 2026, 12, 3, 21, 0)},
        {"Sunday 00:30 after New Year, 24 h kept", AR, local(AR, 2027, 1, 3, 0, 30), 24,
         local(AR, 2027, 1, 2, 0, 30)},
        /* Madrid: 24 h are counted in real time, so across the October change
         * a 21:30 appointment's reminder falls at 22:30 summer time, which is
         * quiet; and across the March change at 21:30, which is not. */
        {"Madrid, after the clocks go back", "Europe/Madrid", utc(2025, 10, 26, 20, 30), 24,
         utc(2025, 10, 25, 19, 0)},
        {"Madrid, after the clocks go forward", "Europe/Madrid",
         local("Europe/Madrid", 2026, 3, 29, 22, 30), 24, utc(2026, 3, 28, 20, 30)},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        int64_t due = -1;
        cr_assert_eq(
            notification_reminder_due(cases[i].starts, cases[i].zone, cases[i].hours, 0, &due), 0,
            "%s", cases[i].name);
        cr_expect_eq(due, cases[i].want, "%s: got %lld, want %lld", cases[i].name, (long long)due,
                     (long long)cases[i].want);
    }
}

Test(notification_reminder_due, none_is_made_once_it_is_too_late)
{
    int64_t starts = local(AR, 2026, 12, 4, 15, 0);
    int64_t due_2h = local(AR, 2026, 12, 4, 13, 0);
    int64_t due = 0;
    cr_expect_eq(notification_reminder_due(starts, AR, 2, due_2h - 1, &due), 0);
    cr_expect_eq(due, due_2h);
    due = 42;
    cr_expect_eq(notification_reminder_due(starts, AR, 2, due_2h, &due), BP_ENOTFOUND);
    cr_expect_eq(notification_reminder_due(starts, AR, 2, due_2h + 60, &due), BP_ENOTFOUND);
    cr_expect_eq(notification_reminder_due(starts, AR, 24, local(AR, 2026, 12, 4, 10, 0), &due),
                 BP_ENOTFOUND);
    cr_expect_eq(due, 42, "untouched when none is due");

    /* Booked at 21:30 for 23:00 tomorrow: the 24 h reminder moved to 21:00
     * tonight has already passed; the 2 h one still comes. */
    int64_t late = local(AR, 2026, 12, 4, 23, 0);
    int64_t now = local(AR, 2026, 12, 3, 21, 30);
    cr_expect_eq(notification_reminder_due(late, AR, 24, now, &due), BP_ENOTFOUND);
    cr_expect_eq(notification_reminder_due(late, AR, 2, now, &due), 0);
    cr_expect_eq(due, local(AR, 2026, 12, 4, 21, 0));
}

Test(notification_reminder_due, refuses_bad_input)
{
    int64_t starts = local(AR, 2026, 12, 4, 15, 0), due;
    cr_expect_eq(notification_reminder_due(starts, AR, 3, 0, &due), BP_EINVAL);
    cr_expect_eq(notification_reminder_due(starts, AR, 0, 0, &due), BP_EINVAL);
    cr_expect_eq(notification_reminder_due(starts, AR, -24, 0, &due), BP_EINVAL);
    cr_expect_eq(notification_reminder_due(starts, "Nowhere/Town", 24, 0, &due), BP_EINVAL);
    cr_expect_eq(notification_reminder_due(starts, NULL, 24, 0, &due), BP_EINVAL);
    cr_expect_eq(notification_reminder_due(starts, AR, 24, 0, NULL), BP_EINVAL);
    cr_expect_eq(notification_reminder_due(INT64_MAX, AR, 24, 0, &due), BP_EINVAL);
    cr_expect_eq(notification_reminder_due(INT64_MIN, AR, 2, 0, &due), BP_EINVAL);
}
