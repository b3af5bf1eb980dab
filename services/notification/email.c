/* Email: SendGrid v3 (`POST {SENDGRID_API_URL}/v3/mail/send`, Bearer
 * SENDGRID_API_KEY) when its key is set, else SMTP with libcurl (SMTP_HOST,
 * SMTP_PORT, SMTP_USER, SMTP_PASS, SMTP_SECURE starttls | tls | none), from
 * FROM_EMAIL. The SMTP message is proper MIME: UTF-8 text in base64, the
 * subject as an RFC 2047 encoded-word, Date and Message-ID. A temporary
 * refusal (4xx, no answer) is tried again later; a permanent one (5xx, a
 * refused login) ends the channel. */
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bp.h"
#include "channels.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "strbuf.h"

static struct {
    char from[256];
    const char *sendgrid_key;
    char sendgrid_url[512];
    char smtp_url[512];
    const char *smtp_user, *smtp_pass;
    bool starttls;
    bool on;
} em;

void notification_email_load(void)
{
    snprintf(em.from, sizeof em.from, "%s",
             bp_config_str("FROM_EMAIL", "noreply@barberpro.com.ar"));
    em.sendgrid_key = bp_config_secret("SENDGRID_API_KEY");
    char sg[384];
    bp_config_url("SENDGRID_API_URL", "https://api.sendgrid.com", sg, sizeof sg);
    snprintf(em.sendgrid_url, sizeof em.sendgrid_url, "%s/v3/mail/send", sg);
    const char *host = bp_config_str("SMTP_HOST", "");
    const char *secure = bp_config_str("SMTP_SECURE", "starttls");
    bool tls = strcmp(secure, "tls") == 0;
    if (!tls && strcmp(secure, "starttls") != 0 && strcmp(secure, "none") != 0)
        bp_config_fail("SMTP_SECURE", "must be starttls, tls or none");
    long port = bp_config_int("SMTP_PORT", tls ? 465 : 587, 1, 65535);
    snprintf(em.smtp_url, sizeof em.smtp_url, "%s://%s:%ld", tls ? "smtps" : "smtp", host, port);
    em.starttls = strcmp(secure, "starttls") == 0;
    em.smtp_user = bp_config_secret("SMTP_USER");
    em.smtp_pass = bp_config_str("SMTP_PASS", "");
    em.on = em.sendgrid_key != NULL || *host != '\0';
    if (!em.on)
        bp_log_warn("email is not configured (SENDGRID_API_KEY or SMTP_HOST): no email");
}

static bool usable(const notification_contact *c)
{
    return em.on && c->email[0] != '\0';
}

/* ---- SendGrid ----------------------------------------------------------------------- */

static notification_outcome sendgrid(const notification_contact *c, const notification_message *m,
                                     int timeout_ms, char *id, size_t id_len, char *why,
                                     size_t why_len)
{
    json_t *body =
        json_pack("{s:[{s:[{s:s,s:s}]}],s:{s:s,s:s},s:s,s:[{s:s,s:s}]}", "personalizations", "to",
                  "email", c->email, "name", c->name, "from", "email", em.from, "name", "BarberPro",
                  "subject", m->subject, "content", "type", "text/plain", "value", m->text);
    const char *keep[] = {"X-Message-Id", NULL};
    bp_http_response resp;
    if (notification_post_json("SendGrid", em.sendgrid_url, em.sendgrid_key, body, keep, timeout_ms,
                               &resp, why, why_len) != 0)
        return NOTIFICATION_RETRY;
    long status = resp.status;
    const char *mid = bp_http_header_get(&resp, "X-Message-Id");
    notification_outcome out = NOTIFICATION_NEXT;
    if (status == 202) {
        snprintf(id, id_len, "%s", mid != NULL ? mid : "sendgrid");
        out = NOTIFICATION_SENT;
    } else {
        snprintf(why, why_len, "SendGrid %ld", status);
        if (status == 401 || status == 403) {
            bp_log_error("SendGrid refused our API key (HTTP %ld)", status);
            notification_count_auth_error("email");
        } else if (status == 429 || status >= 500) {
            out = NOTIFICATION_RETRY;
        }
    }
    bp_http_response_free(&resp);
    return out;
}

/* ---- SMTP ------------------------------------------------------------------------------- */

static void base64_lines(bp_strbuf *b, const char *s, size_t n)
{
    /* 57 bytes of input make one 76-character line. */
    for (size_t off = 0; off < n; off += 57) {
        unsigned char line[80];
        size_t chunk = n - off < 57 ? n - off : 57;
        int len = EVP_EncodeBlock(line, (const unsigned char *)s + off, (int)chunk);
        bp_strbuf_append(b, (const char *)line, (size_t)len);
        bp_strbuf_append(b, "\r\n", 2);
    }
}

/* The whole message: headers and a base64 UTF-8 text part. */
static char *mime(const notification_contact *c, const notification_message *m, char *message_id,
                  size_t id_len)
{
    char uuid[37], date[64];
    bp_uuid(uuid);
    const char *at = strchr(em.from, '@');
    snprintf(message_id, id_len, "<%s@%s>", uuid, at != NULL ? at + 1 : "barberpro.com.ar");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    unsigned char subject[1024];
    size_t sn = strlen(m->subject);
    if (sn > 700)
        sn = 700;
    EVP_EncodeBlock(subject, (const unsigned char *)m->subject, (int)sn);
    bp_strbuf b = {0};
    bp_strbuf_printf(&b,
                     "Date: %s\r\nMessage-ID: %s\r\nFrom: BarberPro <%s>\r\nTo: <%s>\r\n"
                     "Subject: =?UTF-8?B?%s?=\r\nMIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n",
                     date, message_id, em.from, c->email, subject);
    base64_lines(&b, m->text, strlen(m->text));
    return bp_strbuf_take(&b);
}

typedef struct {
    const char *data;
    size_t len, off;
} upload;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    upload *u = arg;
    size_t n = size * nitems, left = u->len - u->off;
    if (n > left)
        n = left;
    memcpy(buf, u->data + u->off, n);
    u->off += n;
    return n;
}

static notification_outcome smtp(const notification_contact *c, const notification_message *m,
                                 int timeout_ms, char *id, size_t id_len, char *why, size_t why_len)
{
    char message_id[128];
    char *msg = mime(c, m, message_id, sizeof message_id);
    CURL *h = msg != NULL && bp_http_global_init() == 0 ? curl_easy_init() : NULL;
    if (h == NULL) {
        free(msg);
        snprintf(why, why_len, "sin memoria");
        return NOTIFICATION_RETRY;
    }
    char from[300], to[300];
    snprintf(from, sizeof from, "<%s>", em.from);
    snprintf(to, sizeof to, "<%s>", c->email);
    struct curl_slist *rcpt = curl_slist_append(NULL, to);
    upload u = {msg, strlen(msg), 0};
    curl_easy_setopt(h, CURLOPT_URL, em.smtp_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u.len);
    if (em.starttls)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (em.smtp_user != NULL) {
        curl_easy_setopt(h, CURLOPT_USERNAME, em.smtp_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, em.smtp_pass);
    }
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    free(msg);
    if (rc == CURLE_OK) {
        snprintf(id, id_len, "%s", message_id);
        return NOTIFICATION_SENT;
    }
    snprintf(why, why_len, "SMTP %ld: %s", code, curl_easy_strerror(rc));
    if (rc == CURLE_LOGIN_DENIED) {
        bp_log_error("the SMTP server refused our login");
        notification_count_auth_error("email");
        return NOTIFICATION_NEXT;
    }
    return code >= 500 ? NOTIFICATION_NEXT : NOTIFICATION_RETRY;
}

static notification_outcome email_send(const notification_contact *c, const notification_message *m,
                                       int timeout_ms, char *id, size_t id_len, char *why,
                                       size_t why_len)
{
    return em.sendgrid_key != NULL ? sendgrid(c, m, timeout_ms, id, id_len, why, why_len)
                                   : smtp(c, m, timeout_ms, id, id_len, why, why_len);
}

const notification_channel notification_email = {"email", usable, email_send};
