/* The SMTP stand-in (tests/fakes/smtp.c) against what the notification
 * daemon will rely on: a real libcurl SMTP send with AUTH (PLAIN and LOGIN)
 * of a UTF-8 MIME message, read back through /_fake/messages with its
 * Subject decoded; a wrong password; the reject, tempfail and hang modes;
 * and, over a raw socket, the command order, dot-stuffing, required auth and
 * several sessions at once. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_launch.h"
#include "bp.h"

#define USER     "fake-smtp-user"
#define PASSWORD "fake-smtp-pass"

static pid_t fake_pid;
static char fake_base[64];
static unsigned smtp_port;

static long control(const char *method, const char *path, json_t **out)
{
    long status = bpt_fake_call(fake_base, method, path, NULL, NULL, out);
    cr_assert_neq(status, -1, "the fake did not answer %s", path);
    return status;
}

static void setup(void)
{
    cr_assert_eq(bpt_fake_start("smtp", NULL, &fake_pid, fake_base, sizeof fake_base), 0,
                 "fake-smtp did not start (see stderr)");
    json_t *h;
    cr_assert_eq(control("GET", "/_fake/health", &h), 200);
    smtp_port = (unsigned)json_integer_value(json_object_get(h, "smtp_port"));
    json_decref(h);
    cr_assert_gt(smtp_port, 0, "/_fake/health names the SMTP port");
}

static void teardown(void)
{
    if (fake_pid > 0)
        cr_expect_eq(bpt_fake_stop(fake_pid), 0, "fake-smtp did not stop cleanly");
}

TestSuite(fake_smtp, .init = setup, .fini = teardown, .timeout = 30);

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    cr_assert_not_null(s, "no string %s", key);
    return s;
}

/* ---- libcurl, as the daemon will use it --------------------------------- */

/* A UTF-8 message with an RFC 2047 Subject ("Turno confirmado – mañana"), a
 * quoted-printable text part with a line that starts with a dot, and an
 * HTML part. */
static const char message[] = "Date: Fri, 04 Dec 2026 15:30:00 -0300\r\n"
                              "From: BarberPro <turnos@barberpro.example>\r\n"
                              "To: Ana <ana@example.com>\r\n"
                              "Cc: owner@barberpro.example\r\n"
                              "Message-ID: <42.booking@barberpro.example>\r\n"
                              "Subject: =?UTF-8?B?VHVybm8gY29uZmlybWFkbyDigJMgbWHDsWFuYQ==?=\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
                              "\r\n"
                              "--b1\r\n"
                              "Content-Type: text/plain; charset=UTF-8\r\n"
                              "Content-Transfer-Encoding: quoted-printable\r\n"
                              "\r\n"
                              "Hola Ana, te esperamos ma=C3=B1ana a las 15:30.\r\n"
                              ".Se=C3=B1a: $ 15.000,00\r\n"
                              "--b1\r\n"
                              "Content-Type: text/html; charset=UTF-8\r\n"
                              "\r\n"
                              "<p>Hola Ana</p>\r\n"
                              "--b1--\r\n";

typedef struct {
    const char *data;
    size_t off, len;
} payload;

static size_t read_payload(char *buf, size_t size, size_t nitems, void *userdata)
{
    payload *p = userdata;
    size_t room = size * nitems, n = p->len - p->off < room ? p->len - p->off : room;
    memcpy(buf, p->data + p->off, n);
    p->off += n;
    return n;
}

/* Sends message with libcurl; returns its result and the last SMTP reply
 * code in *code. mech NULL lets libcurl choose. */
static CURLcode curl_send(const char *user, const char *pass, const char *mech, long *code)
{
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    char url[64];
    snprintf(url, sizeof url, "smtp://127.0.0.1:%u", smtp_port);
    struct curl_slist *rcpt = NULL;
    rcpt = curl_slist_append(rcpt, "<ana@example.com>");
    rcpt = curl_slist_append(rcpt, "<owner@barberpro.example>");
    payload p = {.data = message, .len = strlen(message)};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, "<turnos@barberpro.example>");
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_USERNAME, user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
    if (mech != NULL)
        curl_easy_setopt(c, CURLOPT_LOGIN_OPTIONS, mech);
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_NONE);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_payload);
    curl_easy_setopt(c, CURLOPT_READDATA, &p);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform(c);
    *code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    return rc;
}

static void check_received(json_t *m, bool authenticated)
{
    cr_assert_str_eq(str(m, "mail_from"), "turnos@barberpro.example");
    json_t *rcpt = json_object_get(m, "rcpt_to");
    cr_assert_eq(json_array_size(rcpt), 2);
    cr_assert_str_eq(json_string_value(json_array_get(rcpt, 0)), "ana@example.com");
    cr_assert_str_eq(json_string_value(json_array_get(rcpt, 1)), "owner@barberpro.example");
    cr_assert_eq(json_is_true(json_object_get(m, "authenticated")), authenticated);
    json_t *h = json_object_get(m, "headers");
    cr_assert_str_eq(str(h, "Subject"), "Turno confirmado \xe2\x80\x93 ma\xc3\xb1"
                                        "ana");
    cr_assert_str_eq(str(h, "From"), "BarberPro <turnos@barberpro.example>");
    cr_assert_str_eq(str(h, "To"), "Ana <ana@example.com>");
    cr_assert_str_eq(str(h, "Date"), "Fri, 04 Dec 2026 15:30:00 -0300");
    cr_assert_str_eq(str(h, "Message-ID"), "<42.booking@barberpro.example>");
    cr_assert(strncmp(str(h, "Content-Type"), "multipart/alternative", 21) == 0);
    /* The dot libcurl doubled is single again. */
    cr_assert_str_eq(str(m, "text"), "Hola Ana, te esperamos ma\xc3\xb1"
                                     "ana a las 15:30.\r\n.Se\xc3\xb1"
                                     "a: $ 15.000,00");
    cr_assert(json_is_true(json_object_get(m, "html")));
    cr_assert_str_eq(str(m, "data"), message, "the raw data, dot-stuffing undone");
}

Test(fake_smtp, libcurl_sends_a_utf8_message_with_auth_plain_and_login)
{
    long code;
    cr_assert_eq(curl_send(USER, PASSWORD, NULL, &code), CURLE_OK);
    cr_assert_eq(code, 250);
    cr_assert_eq(curl_send(USER, PASSWORD, "AUTH=LOGIN", &code), CURLE_OK);

    json_t *list;
    cr_assert_eq(control("GET", "/_fake/messages", &list), 200);
    json_t *ms = json_object_get(list, "messages");
    cr_assert_eq(json_array_size(ms), 2);
    check_received(json_array_get(ms, 0), true);
    check_received(json_array_get(ms, 1), true);
    json_decref(list);

    json_t *last, *req;
    cr_assert_eq(control("GET", "/_fake/last", &last), 200);
    cr_assert_eq(json_integer_value(json_object_get(last, "count")), 2);
    check_received(json_object_get(last, "last"), true);
    json_decref(last);
    cr_assert_eq(control("GET", "/_fake/requests", &req), 200);
    cr_assert_eq(json_integer_value(json_object_get(req, "requests")), 2, "two SMTP sessions");
    json_decref(req);
}

Test(fake_smtp, wrong_password_is_refused)
{
    long code;
    cr_assert_eq(curl_send(USER, "wrong", NULL, &code), CURLE_LOGIN_DENIED);
    cr_assert_eq(code, 535);
    cr_assert_eq(curl_send(USER, "wrong", "AUTH=LOGIN", &code), CURLE_LOGIN_DENIED);
    json_t *last;
    cr_assert_eq(control("GET", "/_fake/last", &last), 200);
    cr_assert_eq(json_integer_value(json_object_get(last, "count")), 0, "nothing was kept");
    json_decref(last);
}

Test(fake_smtp, reject_and_tempfail_modes)
{
    long code;
    cr_assert_eq(control("POST", "/_fake/mode?mode=reject", NULL), 200);
    cr_assert_neq(curl_send(USER, PASSWORD, NULL, &code), CURLE_OK);
    cr_assert_eq(code, 550, "refused at RCPT");
    cr_assert_eq(control("POST", "/_fake/mode?mode=tempfail", NULL), 200);
    cr_assert_neq(curl_send(USER, PASSWORD, NULL, &code), CURLE_OK);
    cr_assert_eq(code, 451, "refused at the end of DATA");
    json_t *last;
    cr_assert_eq(control("GET", "/_fake/last", &last), 200);
    cr_assert_eq(json_integer_value(json_object_get(last, "count")), 0);
    json_decref(last);
    cr_assert_eq(control("POST", "/_fake/reset", NULL), 200);
    cr_assert_eq(curl_send(USER, PASSWORD, NULL, &code), CURLE_OK);
    cr_assert_eq(control("POST", "/_fake/mode?mode=bounce", NULL), 400);
}

/* ---- a raw SMTP client ------------------------------------------------------ */

static int smtp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)smtp_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Reads one reply (every line of a multi-line one) within timeout_ms;
 * returns its code, or 0 when none came. */
static int reply(int fd, int timeout_ms)
{
    char buf[2048];
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) != 1)
            return 0;
        /* One byte at a time, so nothing after the reply is taken. */
        ssize_t n = recv(fd, buf + len, 1, 0);
        if (n <= 0)
            return 0;
        len++;
        if (buf[len - 1] != '\n')
            continue;
        buf[len] = '\0';
        char *line = buf;
        char *prev = strrchr(buf, '\n');
        *prev = '\0';
        char *start = strrchr(buf, '\n');
        line = start != NULL ? start + 1 : buf;
        *prev = '\n';
        if (strlen(line) >= 4 && line[3] == ' ')
            return (int)strtol(line, NULL, 10);
        cr_assert_lt(len, sizeof buf - 1);
    }
}

static int cmd(int fd, const char *line)
{
    char out[1200];
    int n = snprintf(out, sizeof out, "%s\r\n", line);
    cr_assert_eq(send(fd, out, (size_t)n, MSG_NOSIGNAL), n);
    return reply(fd, 2000);
}

Test(fake_smtp, commands_out_of_order_and_bad_syntax)
{
    int fd = smtp_connect();
    cr_assert_eq(reply(fd, 2000), 220);
    cr_assert_eq(cmd(fd, "MAIL FROM:<a@example.com>"), 503, "MAIL before EHLO");
    cr_assert_eq(cmd(fd, "EHLO"), 501, "EHLO needs a domain");
    cr_assert_eq(cmd(fd, "EHLO client.example"), 250);
    cr_assert_eq(cmd(fd, "FROB"), 500);
    cr_assert_eq(cmd(fd, "RCPT TO:<b@example.com>"), 503, "RCPT before MAIL");
    cr_assert_eq(cmd(fd, "DATA"), 503, "DATA before MAIL");
    cr_assert_eq(cmd(fd, "MAIL FROM:a@example.com"), 501, "no angle brackets");
    cr_assert_eq(cmd(fd, "MAIL FROM:<a@example.com> SIZE=999999999999"), 552);
    cr_assert_eq(cmd(fd, "MAIL FROM:<a@example.com>"), 250);
    cr_assert_eq(cmd(fd, "MAIL FROM:<a@example.com>"), 503, "nested MAIL");
    cr_assert_eq(cmd(fd, "DATA"), 503, "DATA before RCPT");
    cr_assert_eq(cmd(fd, "AUTH CRAM-MD5"), 503, "AUTH inside a transaction");
    cr_assert_eq(cmd(fd, "RSET"), 250);
    cr_assert_eq(cmd(fd, "AUTH CRAM-MD5"), 504);
    cr_assert_eq(cmd(fd, "NOOP"), 250);
    char longline[700];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    cr_assert_eq(cmd(fd, longline), 500, "a command over 512 octets");
    cr_assert_eq(cmd(fd, "QUIT"), 221);
    close(fd);
}

Test(fake_smtp, raw_session_with_dot_stuffing_and_required_auth)
{
    cr_assert_eq(control("POST", "/_fake/auth?required=1", NULL), 200);
    int fd = smtp_connect();
    cr_assert_eq(reply(fd, 2000), 220);
    cr_assert_eq(cmd(fd, "HELO client.example"), 250);
    cr_assert_eq(cmd(fd, "MAIL FROM:<a@example.com>"), 530, "auth required");
    /* PLAIN: "\0fake-smtp-user\0fake-smtp-pass". */
    cr_assert_eq(cmd(fd, "AUTH PLAIN AGZha2Utc210cC11c2VyAGZha2Utc210cC1wYXNz"), 235);
    cr_assert_eq(cmd(fd, "MAIL FROM:<>"), 250, "the null reverse path");
    cr_assert_eq(cmd(fd, "RCPT TO:<b@example.com>"), 250);
    cr_assert_eq(cmd(fd, "RCPT TO:<c@example.com>"), 250);
    cr_assert_eq(cmd(fd, "DATA"), 354);
    cr_assert_eq(cmd(fd, "Subject: =?utf-8?q?se=C3=B1a_recibida?=\r\n\r\n..hidden\r\nok\r\n."),
                 250);
    cr_assert_eq(cmd(fd, "QUIT"), 221);
    close(fd);

    json_t *last;
    cr_assert_eq(control("GET", "/_fake/last", &last), 200);
    json_t *m = json_object_get(last, "last");
    cr_assert_str_eq(str(m, "mail_from"), "");
    cr_assert_eq(json_array_size(json_object_get(m, "rcpt_to")), 2);
    cr_assert_str_eq(str(json_object_get(m, "headers"), "Subject"), "se\xc3\xb1"
                                                                    "a recibida");
    cr_assert_str_eq(str(m, "text"), ".hidden\r\nok\r\n");
    json_decref(last);
}

Test(fake_smtp, hang_gives_no_greeting_and_sessions_run_at_once)
{
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = smtp_connect();
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(reply(fds[i], 2000), 220, "session %d", i);
        cr_assert_eq(cmd(fds[i], "EHLO c.example"), 250);
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cmd(fds[i], "QUIT"), 221);
        close(fds[i]);
    }
    cr_assert_eq(control("POST", "/_fake/mode?mode=hang", NULL), 200);
    int fd = smtp_connect();
    cr_assert_eq(reply(fd, 300), 0, "no greeting in hang mode");
    close(fd);
}
