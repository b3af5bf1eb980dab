/* The notification channels' own parts: the WhatsApp `to` of Argentine
 * numbers, and email over SMTP against fake-smtp (proper MIME: UTF-8 text,
 * an encoded subject, Date and Message-ID; a refused login ends the
 * channel, a temporary refusal is tried again). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/notification/channels.h"
#include "bp.h"
#include "fake_launch.h"

Test(notification_channels, whatsapp_numbers_lose_the_argentine_mobile_nine)
{
    char to[24];
    notification_whatsapp_to("+5491155550101", true, to, sizeof to);
    cr_expect_str_eq(to, "541155550101");
    notification_whatsapp_to("+5491155550101", false, to, sizeof to);
    cr_expect_str_eq(to, "5491155550101");
    notification_whatsapp_to("+541145550101", true, to, sizeof to);
    cr_expect_str_eq(to, "541145550101", "a landline has no 9 to remove");
    notification_whatsapp_to("+59899123456", true, to, sizeof to);
    cr_expect_str_eq(to, "59899123456", "only Argentina's");
}

static pid_t fake_pid;
static char fake_base[64];

static void start_smtp(void)
{
    cr_assert_eq(bpt_fake_start("smtp", NULL, &fake_pid, fake_base, sizeof fake_base), 0);
    json_t *h;
    cr_assert_eq(bpt_fake_call(fake_base, "GET", "/_fake/health", NULL, NULL, &h), 200);
    char port[16];
    snprintf(port, sizeof port, "%lld",
             (long long)json_integer_value(json_object_get(h, "smtp_port")));
    json_decref(h);
    setenv("SMTP_HOST", "127.0.0.1", 1);
    setenv("SMTP_PORT", port, 1);
    setenv("SMTP_SECURE", "none", 1);
    setenv("SMTP_USER", "fake-smtp-user", 1);
    setenv("SMTP_PASS", "fake-smtp-pass", 1);
    setenv("FROM_EMAIL", "turnos@barberpro.test", 1);
    unsetenv("SENDGRID_API_KEY");
    notification_email_load();
}

static void stop_smtp(void)
{
    if (fake_pid > 0)
        cr_expect_eq(bpt_fake_stop(fake_pid), 0);
}

TestSuite(notification_email, .init = start_smtp, .fini = stop_smtp, .timeout = 30);

static const notification_contact LUCIA = {
    .user_id = "0d0e0000-0000-4000-8000-000000000004",
    .name = "Lucía Pérez",
    .email = "lucia@example.com",
};

static notification_outcome send_one(char *id, size_t id_len, char *why, size_t why_len)
{
    char subject[] = "Turno confirmado — Barbería Ñandú";
    char text[] = "Hola Lucía: tu turno quedó confirmado para el viernes 4 de diciembre, 15:30.\n"
                  ".una línea que empieza con punto\n";
    notification_message m = {.subject = subject, .text = text};
    return notification_email.send(&LUCIA, &m, 5000, id, id_len, why, why_len);
}

Test(notification_email, an_email_is_proper_mime_in_utf8)
{
    cr_assert(notification_email.usable(&LUCIA));
    char id[256], why[256];
    cr_assert_eq(send_one(id, sizeof id, why, sizeof why), NOTIFICATION_SENT, "%s", why);
    cr_expect(id[0] == '<' && strstr(id, "@barberpro.test>") != NULL, "Message-ID %s", id);

    json_t *doc;
    cr_assert_eq(bpt_fake_call(fake_base, "GET", "/_fake/last", NULL, NULL, &doc), 200);
    char *dump = json_dumps(doc, 0);
    cr_expect(strstr(dump, "Turno confirmado — Barbería Ñandú") != NULL, "subject: %s", dump);
    cr_expect(strstr(dump, "lucia@example.com") != NULL, "%s", dump);
    cr_expect(strstr(dump, "viernes 4 de diciembre, 15:30") != NULL, "text: %s", dump);
    cr_expect(strstr(dump, ".una línea que empieza con punto") != NULL, "dot line: %s", dump);
    cr_expect(strstr(dump, id) != NULL, "the Message-ID sent: %s", dump);
    cr_expect(strstr(dump, "Date") != NULL || strstr(dump, "date") != NULL, "%s", dump);
    free(dump);
    json_decref(doc);
}

Test(notification_email, a_temporary_refusal_is_retried_and_a_permanent_one_is_not)
{
    char id[256], why[256];
    cr_assert_eq(bpt_fake_call(fake_base, "POST", "/_fake/mode?mode=tempfail", NULL, NULL, NULL),
                 200);
    cr_expect_eq(send_one(id, sizeof id, why, sizeof why), NOTIFICATION_RETRY, "%s", why);
    cr_assert_eq(bpt_fake_call(fake_base, "POST", "/_fake/mode?mode=reject", NULL, NULL, NULL),
                 200);
    cr_expect_eq(send_one(id, sizeof id, why, sizeof why), NOTIFICATION_NEXT, "%s", why);
    cr_assert_eq(bpt_fake_call(fake_base, "POST", "/_fake/mode?mode=ok", NULL, NULL, NULL), 200);

    setenv("SMTP_PASS", "wrong", 1);
    cr_assert_eq(bpt_fake_call(fake_base, "POST", "/_fake/auth?required=1", NULL, NULL, NULL), 200);
    notification_email_load();
    cr_expect_eq(send_one(id, sizeof id, why, sizeof why), NOTIFICATION_NEXT, "%s", why);
}
