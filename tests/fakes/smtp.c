/* fake-smtp: a small SMTP server (RFC 5321, AUTH PLAIN and LOGIN of RFC 4954)
 * standing in for the mail relay the notification daemon reaches with
 * libcurl and SMTP_SECURE=none. It keeps what it receives in memory and
 * serves the usual control endpoints over HTTP on a second port, so that
 * tests can read the messages (envelope, parsed headers, text body), refuse
 * recipients, fail at the end of DATA, hang, and require authentication.
 * No STARTTLS and no implicit TLS: plain text only.
 *
 * usage: fake-smtp [--port N] [--smtp-port N] [--user U] [--password P]
 *                  [--require-auth] [--max-size BYTES]
 * Environment: FAKE_SMTP_PORT (HTTP control port), FAKE_SMTP_SMTP_PORT,
 * FAKE_SMTP_USER, FAKE_SMTP_PASSWORD, FAKE_SMTP_REQUIRE_AUTH=1,
 * FAKE_SMTP_MAX_SIZE (flags win). Once both accept connections it prints
 * "listening on <http port>" then "smtp listening on <smtp port>" on stdout;
 * /_fake/health names the SMTP port too. Stops on SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "fake_main.h"
#include "fake_server.h"
#include "log.h"
#include "strbuf.h"

#define HOSTNAME "fake-smtp.local"
/* RFC 5321 4.5.3.1: command lines of 512 octets, text lines of 1000, paths
 * of 256, at least 100 recipients; all with the CRLF. */
#define MAX_COMMAND_LINE 510
#define MAX_TEXT_LINE    998
#define MAX_PATH         256
#define MAX_RCPTS        100
/* Bounds of the fake itself. */
#define MAX_SESSIONS     32
#define MAX_MESSAGES     256 /* the oldest is forgotten beyond this */
#define DEFAULT_MAX_SIZE (10L * 1024 * 1024)
#define IDLE_TIMEOUT_MS  (5 * 60 * 1000) /* RFC 5321 4.5.3.2.7 */
#define HANG_MAX_MS      120000
#define MAX_MIME_DEPTH   4

#define DEFAULT_USER     "fake-smtp-user"
#define DEFAULT_PASSWORD "fake-smtp-pass"

typedef enum { MODE_OK, MODE_REJECT, MODE_TEMPFAIL, MODE_HANG } fake_mode;
static const char *const mode_names[] = {"ok", "reject", "tempfail", "hang"};

/* Configuration, fixed after main's argument parsing. */
static const char *smtp_user = DEFAULT_USER;
static const char *smtp_password = DEFAULT_PASSWORD;
static bool require_auth_default = false;
static long max_size = DEFAULT_MAX_SIZE;
static unsigned smtp_port;

/* Everything below is guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sessions_cond = PTHREAD_COND_INITIALIZER;
static json_t *messages; /* oldest first */
static fake_mode mode = MODE_OK;
static bool require_auth;
static int active_sessions;
static uint64_t message_count;
static uint64_t next_queue_id = 1;

static atomic_uint_fast64_t sessions_served;

/* ---- text helpers ---------------------------------------------------------- */

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes base64 (blanks and line breaks skipped, padding optional) into
 * b. Returns false on a character outside the alphabet. */
static bool b64_decode(const char *s, size_t n, bp_strbuf *b)
{
    unsigned bits = 0, n_bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        if (s[i] == ' ' || s[i] == '\r' || s[i] == '\n' || s[i] == '\t')
            continue;
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return false;
        bits = (bits << 6) | (unsigned)v;
        n_bits += 6;
        if (n_bits >= 8) {
            n_bits -= 8;
            char c = (char)((bits >> n_bits) & 0xFF);
            bp_strbuf_append(b, &c, 1);
        }
    }
    return true;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Quoted-printable (RFC 2045 6.7), or the Q encoding of RFC 2047 when q_word
 * ('_' is a space there). */
static void qp_decode(const char *s, size_t n, bool q_word, bp_strbuf *b)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=' && i + 1 < n) {
            if (s[i + 1] == '\n') { /* soft break */
                i += 1;
                continue;
            }
            if (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n') {
                i += 2;
                continue;
            }
            if (i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
                char d = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
                bp_strbuf_append(b, &d, 1);
                i += 2;
                continue;
            }
        }
        if (q_word && c == '_')
            c = ' ';
        bp_strbuf_append(b, &c, 1);
    }
}

/* A JSON string of n bytes of s; bytes that are not UTF-8 become '?', so a
 * strange message still shows. */
static json_t *json_text(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v != NULL)
        return v;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return json_null();
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int len = p[i] < 0x80         ? 1
                  : (p[i] >> 5) == 6  ? 2
                  : (p[i] >> 4) == 14 ? 3
                  : (p[i] >> 3) == 30 ? 4
                                      : 0;
        bool ok = len > 0 && i + (size_t)len <= n && p[i] != 0;
        for (int k = 1; ok && k < len; k++)
            ok = (p[i + k] & 0xC0) == 0x80;
        if (!ok) {
            copy[o++] = '?';
            i++;
            continue;
        }
        memcpy(copy + o, p + i, (size_t)len);
        o += (size_t)len;
        i += (size_t)len;
    }
    v = json_stringn(copy, o);
    free(copy);
    return v != NULL ? v : json_string("?");
}

/* Decodes the RFC 2047 encoded-words of a header value whose charset is
 * UTF-8 or US-ASCII; others are left as written. Blanks between two
 * encoded-words are dropped, as the RFC says. Caller frees. */
static char *decode_words(const char *s)
{
    bp_strbuf b = {0};
    bool last_was_word = false;
    const char *p = s;
    while (*p != '\0') {
        const char *start = strstr(p, "=?");
        if (start == NULL) {
            bp_strbuf_append(&b, p, strlen(p));
            break;
        }
        const char *q1 = strchr(start + 2, '?');
        const char *q2 = q1 != NULL ? strchr(q1 + 1, '?') : NULL;
        const char *end = q2 != NULL ? strstr(q2 + 1, "?=") : NULL;
        size_t cs_len = q1 != NULL ? (size_t)(q1 - start - 2) : 0;
        bool known = q1 != NULL && q2 == q1 + 2 && end != NULL &&
                     ((cs_len == 5 && strncasecmp(start + 2, "utf-8", 5) == 0) ||
                      (cs_len == 8 && strncasecmp(start + 2, "us-ascii", 8) == 0)) &&
                     (q1[1] == 'B' || q1[1] == 'b' || q1[1] == 'Q' || q1[1] == 'q');
        if (!known) {
            bp_strbuf_append(&b, p, (size_t)(start - p) + 2);
            p = start + 2;
            last_was_word = false;
            continue;
        }
        /* Blanks only between two words: dropped. */
        bool blank = strspn(p, " \t\r\n") == (size_t)(start - p);
        if (!(last_was_word && blank))
            bp_strbuf_append(&b, p, (size_t)(start - p));
        const char *text = q2 + 1;
        size_t tn = (size_t)(end - text);
        if (q1[1] == 'B' || q1[1] == 'b')
            b64_decode(text, tn, &b);
        else
            qp_decode(text, tn, true, &b);
        p = end + 2;
        last_was_word = true;
    }
    char *out = bp_strbuf_take(&b);
    return out != NULL ? out : strdup("");
}

/* ---- MIME parsing (for /_fake/messages) --------------------------------------- */

typedef struct {
    const char *p;
    size_t n;
} span;

/* Finds the end of the header block: *body gets where the body starts. */
static size_t header_block(const char *s, size_t n, const char **body)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n')
            continue;
        size_t j = i + 1;
        if (j < n && s[j] == '\r')
            j++;
        if (j < n && s[j] == '\n') {
            *body = s + j + 1;
            return i + 1;
        }
        if (j >= n) {
            *body = s + n;
            return n;
        }
    }
    *body = s + n;
    return n;
}

/* The unfolded value of header name in block (first occurrence), or NULL.
 * Caller frees. */
static char *header_value(const char *block, size_t n, const char *name)
{
    size_t nl = strlen(name);
    const char *p = block, *end = block + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            bp_strbuf v = {0};
            const char *q = p + nl + 1;
            for (;;) {
                size_t len = (size_t)(eol - q);
                if (len > 0 && q[len - 1] == '\r')
                    len--;
                bp_strbuf_append(&v, q, len);
                if (eol + 1 >= end || (eol[1] != ' ' && eol[1] != '\t'))
                    break;
                q = eol + 1; /* a folded line continues the value */
                eol = memchr(q, '\n', (size_t)(end - q));
                if (eol == NULL)
                    eol = end;
            }
            char *s = bp_strbuf_take(&v);
            if (s == NULL)
                return NULL;
            char *t = s;
            while (*t == ' ' || *t == '\t')
                t++;
            memmove(s, t, strlen(t) + 1);
            return s;
        }
        p = eol + 1;
    }
    return NULL;
}

/* The value of parameter name (e.g. boundary) of a Content-Type, unquoted,
 * into out. */
static bool ct_param(const char *ct, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strchr(ct, ';'); p != NULL; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        if (strncasecmp(q, name, nl) != 0 || q[nl] != '=')
            continue;
        q += nl + 1;
        size_t len;
        if (*q == '"') {
            q++;
            len = strcspn(q, "\"");
        } else {
            len = strcspn(q, "; \t");
        }
        if (len == 0 || len >= cap)
            return false;
        memcpy(out, q, len);
        out[len] = '\0';
        return true;
    }
    return false;
}

/* Decodes a part's body by its Content-Transfer-Encoding. Caller frees. */
static char *decode_body(const char *cte, const char *s, size_t n)
{
    bp_strbuf b = {0};
    if (cte != NULL && strcasecmp(cte, "base64") == 0)
        b64_decode(s, n, &b);
    else if (cte != NULL && strcasecmp(cte, "quoted-printable") == 0)
        qp_decode(s, n, false, &b);
    else
        bp_strbuf_append(&b, s, n);
    char *out = bp_strbuf_take(&b);
    return out != NULL ? out : strdup("");
}

/* Walks an entity: keeps the first text/plain body in *text (caller frees)
 * and notes any text/html. */
static void walk_entity(const char *s, size_t n, int depth, char **text, bool *html)
{
    const char *body;
    size_t hn = header_block(s, n, &body);
    size_t bn = n - (size_t)(body - s);
    char *ct = header_value(s, hn, "Content-Type");
    char *cte = header_value(s, hn, "Content-Transfer-Encoding");
    char *disp = header_value(s, hn, "Content-Disposition");
    bool attachment = disp != NULL && strncasecmp(disp, "attachment", 10) == 0;
    char boundary[128];
    if (ct != NULL && strncasecmp(ct, "multipart/", 10) == 0 && depth < MAX_MIME_DEPTH &&
        ct_param(ct, "boundary", boundary, sizeof boundary)) {
        char delim[140];
        int dl = snprintf(delim, sizeof delim, "--%s", boundary);
        const char *p = body, *end = body + bn, *part = NULL;
        while (p < end) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            const char *next = eol != NULL ? eol + 1 : end;
            if ((size_t)(end - p) >= (size_t)dl && strncmp(p, delim, (size_t)dl) == 0) {
                if (part != NULL) {
                    /* The CRLF before the delimiter belongs to it. */
                    size_t len = (size_t)(p - part);
                    if (len > 0 && part[len - 1] == '\n')
                        len--;
                    if (len > 0 && part[len - 1] == '\r')
                        len--;
                    walk_entity(part, len, depth + 1, text, html);
                }
                if (p + dl + 1 < end && p[dl] == '-' && p[dl + 1] == '-')
                    break;
                part = next;
            }
            p = next;
        }
    } else if (!attachment && (ct == NULL || strncasecmp(ct, "text/plain", 10) == 0)) {
        if (*text == NULL)
            *text = decode_body(cte, body, bn);
    } else if (!attachment && strncasecmp(ct, "text/html", 9) == 0) {
        *html = true;
    }
    free(ct);
    free(cte);
    free(disp);
}

/* The message as /_fake/messages shows it. */
static json_t *describe(const char *id, const char *helo, const char *from, json_t *rcpts,
                        const char *data, size_t n, bool authenticated)
{
    static const char *const names[] = {
        "From",         "To",           "Cc",
        "Subject",      "Date",         "Message-ID",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding"};
    const char *body;
    size_t hn = header_block(data, n, &body);
    json_t *headers = json_object();
    for (size_t i = 0; i < BP_COUNTOF(names); i++) {
        char *v = header_value(data, hn, names[i]);
        if (v == NULL)
            continue;
        char *d = decode_words(v);
        json_object_set_new(headers, names[i], json_text(d, strlen(d)));
        free(d);
        free(v);
    }
    char *text = NULL;
    bool html = false;
    walk_entity(data, n, 0, &text, &html);
    char when[40];
    bp_time_format(bp_now_ms(), "UTC", when, sizeof when);
    json_t *o =
        json_pack("{s:s,s:s,s:o,s:o,s:I,s:b,s:o,s:o,s:b,s:o,s:s}", "id", id, "helo", helo,
                  "mail_from", json_text(from, strlen(from)), "rcpt_to", json_deep_copy(rcpts),
                  "size", (json_int_t)n, "authenticated", authenticated, "headers", headers, "text",
                  text != NULL ? json_text(text, strlen(text)) : json_null(), "html", html, "data",
                  json_text(data, n), "received_at", when);
    free(text);
    return o;
}

/* ---- a session ------------------------------------------------------------ */

typedef struct {
    int fd;
    char buf[4096];
    size_t len;
    int64_t idle_deadline;
    /* The conversation. */
    char helo[256];
    bool greeted, authenticated;
    bool in_mail;
    char mail_from[MAX_PATH + 1];
    json_t *rcpts;
} session;

static bool send_reply(session *s, const char *text)
{
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = send(s->fd, text + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += (size_t)w;
    }
    return true;
}

/* Waits for bytes from the client; false on end of stream, the idle
 * timeout or a stop. */
static bool fill(session *s)
{
    while (!atomic_load(&fake_stopping)) {
        if (bp_mono_ms() > s->idle_deadline)
            return false;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            return false;
        if (r <= 0)
            continue;
        ssize_t got = recv(s->fd, s->buf + s->len, sizeof s->buf - s->len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        s->len += (size_t)got;
        s->idle_deadline = bp_mono_ms() + IDLE_TIMEOUT_MS;
        return true;
    }
    return false;
}

/* Reads one line (CRLF, or a bare LF, removed) of at most cap bytes into
 * line. Returns 1, 0 when the client is gone, or -1 when the line was too
 * long (it is consumed). */
static int read_line(session *s, char *line, size_t cap, size_t *out_len)
{
    size_t have = 0;
    bool too_long = false;
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->len);
        size_t take = nl != NULL ? (size_t)(nl - s->buf) : s->len;
        if (!too_long) {
            size_t room = cap - have;
            if (take > room + 1 || (take == room + 1 && s->buf[take - 1] != '\r'))
                too_long = true;
            else {
                memcpy(line + have, s->buf, take < room ? take : room);
                have += take < room ? take : room;
            }
        }
        if (nl != NULL) {
            size_t used = take + 1;
            memmove(s->buf, s->buf + used, s->len - used);
            s->len -= used;
            if (too_long)
                return -1;
            if (have > 0 && line[have - 1] == '\r')
                have--;
            line[have] = '\0';
            *out_len = have;
            return 1;
        }
        s->len = 0; /* all of it is in line (or dropped) */
        if (!fill(s))
            return 0;
    }
}

static void reset_transaction(session *s)
{
    s->in_mail = false;
    s->mail_from[0] = '\0';
    json_array_clear(s->rcpts);
}

/* Parses "<path>" after "FROM:" or "TO:" (prefix) into out; then *params
 * points at what follows. Returns 0, 501 for bad syntax or a path too long. */
static int parse_path(const char *arg, const char *prefix, char *out, const char **params,
                      bool *too_long)
{
    size_t pl = strlen(prefix);
    *too_long = false;
    if (strncasecmp(arg, prefix, pl) != 0)
        return 501;
    const char *p = arg + pl;
    while (*p == ' ')
        p++; /* tolerated, though RFC 5321 has none */
    if (*p != '<')
        return 501;
    const char *close = strchr(p, '>');
    if (close == NULL)
        return 501;
    size_t n = (size_t)(close - p - 1);
    if (n > MAX_PATH) {
        *too_long = true;
        return 501;
    }
    memcpy(out, p + 1, n);
    out[n] = '\0';
    if (strchr(out, ' ') != NULL || strchr(out, '<') != NULL)
        return 501;
    *params = close + 1;
    return 0;
}

static fake_mode current_mode(void)
{
    pthread_mutex_lock(&lock);
    fake_mode m = mode;
    pthread_mutex_unlock(&lock);
    return m;
}

/* Reads an AUTH response line (after a 334); false when the client left
 * or the line was too long. The caller handles "*", the cancel of RFC 4954. */
static bool auth_line(session *s, char *line, size_t cap)
{
    size_t n;
    return read_line(s, line, cap, &n) == 1;
}

static bool credentials_ok(const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass);
    bool u = ul == strlen(smtp_user) && bp_ct_compare(user, smtp_user, ul) == 0;
    bool p = pl == strlen(smtp_password) && bp_ct_compare(pass, smtp_password, pl) == 0;
    return u && p;
}

/* AUTH PLAIN [initial] and AUTH LOGIN [initial], RFC 4954 and the LOGIN
 * draft. */
static bool do_auth(session *s, const char *arg)
{
    if (!s->greeted)
        return send_reply(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
    if (s->authenticated)
        return send_reply(s, "503 5.5.1 Error: already authenticated\r\n");
    if (s->in_mail)
        return send_reply(s, "503 5.5.1 Error: MAIL transaction in progress\r\n");
    char mech[16] = "", initial[MAX_COMMAND_LINE + 1] = "";
    size_t ml = strcspn(arg, " ");
    if (ml == 0 || ml >= sizeof mech)
        return send_reply(s, "501 5.5.4 Syntax: AUTH mechanism\r\n");
    memcpy(mech, arg, ml);
    if (arg[ml] == ' ')
        snprintf(initial, sizeof initial, "%s", arg + ml + 1);
    bool plain = strcasecmp(mech, "PLAIN") == 0, login = strcasecmp(mech, "LOGIN") == 0;
    if (!plain && !login)
        return send_reply(s, "504 5.5.4 Unrecognized authentication type\r\n");

    char line[MAX_COMMAND_LINE + 1];
    char user[256] = "", pass[256] = "";
    bp_strbuf d = {0};
    bool decoded;
    if (plain) {
        if (initial[0] == '\0') {
            if (!send_reply(s, "334 \r\n") || !auth_line(s, line, sizeof line - 1))
                return false;
            snprintf(initial, sizeof initial, "%s", line);
        }
        if (strcmp(initial, "*") == 0)
            return send_reply(s, "501 5.7.0 Authentication cancelled\r\n");
        /* authzid NUL authcid NUL passwd */
        decoded = strcmp(initial, "=") == 0 || b64_decode(initial, strlen(initial), &d);
        const char *v = d.p != NULL ? d.p : "";
        size_t n = d.len;
        const char *nul1 = memchr(v, '\0', n);
        const char *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - v)) : NULL;
        if (!decoded || nul2 == NULL) {
            bp_strbuf_reset(&d);
            return send_reply(s, "501 5.5.2 Cannot decode response\r\n");
        }
        snprintf(user, sizeof user, "%.*s", (int)(nul2 - nul1 - 1), nul1 + 1);
        snprintf(pass, sizeof pass, "%.*s", (int)(n - (size_t)(nul2 + 1 - v)), nul2 + 1);
    } else {
        /* "Username:" and "Password:" in base64. */
        if (initial[0] == '\0') {
            if (!send_reply(s, "334 VXNlcm5hbWU6\r\n") || !auth_line(s, line, sizeof line - 1))
                return false;
            snprintf(initial, sizeof initial, "%s", line);
        }
        if (strcmp(initial, "*") == 0)
            return send_reply(s, "501 5.7.0 Authentication cancelled\r\n");
        decoded = b64_decode(initial, strlen(initial), &d);
        snprintf(user, sizeof user, "%.*s", (int)d.len, d.p != NULL ? d.p : "");
        bp_strbuf_reset(&d);
        if (!decoded)
            return send_reply(s, "501 5.5.2 Cannot decode response\r\n");
        if (!send_reply(s, "334 UGFzc3dvcmQ6\r\n") || !auth_line(s, line, sizeof line - 1))
            return false;
        if (strcmp(line, "*") == 0)
            return send_reply(s, "501 5.7.0 Authentication cancelled\r\n");
        decoded = b64_decode(line, strlen(line), &d);
        snprintf(pass, sizeof pass, "%.*s", (int)d.len, d.p != NULL ? d.p : "");
        if (!decoded) {
            bp_strbuf_reset(&d);
            return send_reply(s, "501 5.5.2 Cannot decode response\r\n");
        }
    }
    bp_strbuf_reset(&d);
    if (!credentials_ok(user, pass)) {
        bp_log_info("smtp AUTH %s refused", mech);
        return send_reply(s, "535 5.7.8 Error: authentication failed\r\n");
    }
    s->authenticated = true;
    return send_reply(s, "235 2.7.0 Authentication successful\r\n");
}

/* Stores a received message; lock taken here. */
static void store_message(session *s, const char *data, size_t n, char id[32])
{
    pthread_mutex_lock(&lock);
    snprintf(id, 32, "FAKE%08" PRIu64, next_queue_id++);
    pthread_mutex_unlock(&lock);
    json_t *o = describe(id, s->helo, s->mail_from, s->rcpts, data, n, s->authenticated);
    pthread_mutex_lock(&lock);
    if (o != NULL) {
        if (json_array_size(messages) == MAX_MESSAGES)
            json_array_remove(messages, 0);
        json_array_append_new(messages, o);
        message_count++;
    }
    pthread_mutex_unlock(&lock);
}

/* DATA: reads the text up to the lone ".", undoing the dot-stuffing of RFC
 * 5321 4.5.2, then answers. False when the client left. */
static bool do_data(session *s)
{
    if (!send_reply(s, "354 End data with <CR><LF>.<CR><LF>\r\n"))
        return false;
    bp_strbuf data = {0};
    bool too_big = false, line_too_long = false;
    char line[MAX_TEXT_LINE + 2];
    for (;;) {
        size_t n;
        int r = read_line(s, line, MAX_TEXT_LINE, &n);
        if (r == 0) {
            bp_strbuf_reset(&data);
            return false;
        }
        if (r < 0) {
            line_too_long = true;
            continue;
        }
        if (n == 1 && line[0] == '.')
            break;
        const char *l = line[0] == '.' ? line + 1 : line;
        size_t ln = line[0] == '.' ? n - 1 : n;
        if (too_big || data.len + ln + 2 > (size_t)max_size) {
            too_big = true;
            continue;
        }
        bp_strbuf_append(&data, l, ln);
        bp_strbuf_append(&data, "\r\n", 2);
    }
    bool ok;
    if (too_big)
        ok = send_reply(s, "552 5.3.4 Error: message file too big\r\n");
    else if (line_too_long)
        ok = send_reply(s, "500 5.5.2 Line too long\r\n");
    else if (data.failed)
        ok = send_reply(s, "451 4.3.0 Error: out of memory\r\n");
    else if (current_mode() == MODE_TEMPFAIL)
        ok = send_reply(s, "451 4.3.0 Error: queue file write error\r\n");
    else {
        char id[32], reply[96];
        store_message(s, data.p != NULL ? data.p : "", data.len, id);
        bp_log_info("smtp message %s from <%s> to %zu recipient(s), %zu bytes", id, s->mail_from,
                    json_array_size(s->rcpts), data.len);
        snprintf(reply, sizeof reply, "250 2.0.0 Ok: queued as %s\r\n", id);
        ok = send_reply(s, reply);
    }
    bp_strbuf_reset(&data);
    reset_transaction(s);
    return ok;
}

/* One command; false when the session ends. */
static bool command(session *s, char *line)
{
    char verb[16];
    size_t vl = strcspn(line, " ");
    const char *arg = line[vl] == ' ' ? line + vl + 1 : "";
    if (vl >= sizeof verb)
        return send_reply(s, "500 5.5.2 Error: command not recognized\r\n");
    memcpy(verb, line, vl);
    verb[vl] = '\0';

    if (strcasecmp(verb, "EHLO") == 0 || strcasecmp(verb, "HELO") == 0) {
        bool ehlo = strcasecmp(verb, "EHLO") == 0;
        if (*arg == '\0')
            return send_reply(s, ehlo ? "501 5.5.4 Syntax: EHLO hostname\r\n"
                                      : "501 5.5.4 Syntax: HELO hostname\r\n");
        snprintf(s->helo, sizeof s->helo, "%s", arg);
        s->greeted = true;
        reset_transaction(s); /* RFC 5321 4.1.4 */
        if (!ehlo)
            return send_reply(s, "250 " HOSTNAME "\r\n");
        char reply[512];
        snprintf(reply, sizeof reply,
                 "250-" HOSTNAME " Hello %.200s\r\n250-SIZE %ld\r\n250-8BITMIME\r\n"
                 "250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n",
                 arg, max_size);
        return send_reply(s, reply);
    }
    if (strcasecmp(verb, "AUTH") == 0)
        return do_auth(s, arg);
    if (strcasecmp(verb, "MAIL") == 0) {
        if (!s->greeted)
            return send_reply(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
        pthread_mutex_lock(&lock);
        bool need_auth = require_auth;
        pthread_mutex_unlock(&lock);
        if (need_auth && !s->authenticated)
            return send_reply(s, "530 5.7.0 Authentication required\r\n");
        if (s->in_mail)
            return send_reply(s, "503 5.5.1 Error: nested MAIL command\r\n");
        const char *params;
        bool too_long;
        if (parse_path(arg, "FROM:", s->mail_from, &params, &too_long) != 0)
            return send_reply(s, too_long ? "501 5.1.7 Path too long\r\n"
                                          : "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
        /* ESMTP parameters: SIZE (RFC 1870), BODY (RFC 6152), AUTH (RFC 4954). */
        char copy[MAX_COMMAND_LINE + 1];
        snprintf(copy, sizeof copy, "%s", params);
        char *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
            if (strncasecmp(t, "SIZE=", 5) == 0) {
                long size;
                if (!fake_parse_long(t + 5, 0, 1L << 40, &size))
                    return send_reply(s, "501 5.5.4 Bad SIZE parameter\r\n");
                if (size > max_size)
                    return send_reply(
                        s, "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
            } else if (strncasecmp(t, "BODY=", 5) != 0 && strncasecmp(t, "AUTH=", 5) != 0) {
                return send_reply(s, "555 5.5.4 Unsupported option\r\n");
            }
        }
        s->in_mail = true;
        return send_reply(s, "250 2.1.0 Ok\r\n");
    }
    if (strcasecmp(verb, "RCPT") == 0) {
        if (!s->in_mail)
            return send_reply(s, "503 5.5.1 Error: need MAIL command\r\n");
        char to[MAX_PATH + 1];
        const char *params;
        bool too_long;
        if (parse_path(arg, "TO:", to, &params, &too_long) != 0 || to[0] == '\0')
            return send_reply(s, too_long ? "501 5.1.3 Path too long\r\n"
                                          : "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
        if (json_array_size(s->rcpts) >= MAX_RCPTS)
            return send_reply(s, "452 4.5.3 Error: too many recipients\r\n");
        if (current_mode() == MODE_REJECT) {
            char reply[MAX_PATH + 96];
            snprintf(reply, sizeof reply,
                     "550 5.1.1 <%s>: Recipient address rejected: User unknown\r\n", to);
            return send_reply(s, reply);
        }
        json_array_append_new(s->rcpts, json_text(to, strlen(to)));
        return send_reply(s, "250 2.1.5 Ok\r\n");
    }
    if (strcasecmp(verb, "DATA") == 0) {
        if (*arg != '\0')
            return send_reply(s, "501 5.5.4 Syntax: DATA\r\n");
        if (!s->in_mail)
            return send_reply(s, "503 5.5.1 Error: need MAIL command\r\n");
        if (json_array_size(s->rcpts) == 0)
            return send_reply(s, "503 5.5.1 Error: need RCPT command\r\n");
        return do_data(s);
    }
    if (strcasecmp(verb, "RSET") == 0) {
        if (*arg != '\0')
            return send_reply(s, "501 5.5.4 Syntax: RSET\r\n");
        reset_transaction(s);
        return send_reply(s, "250 2.0.0 Ok\r\n");
    }
    if (strcasecmp(verb, "NOOP") == 0)
        return send_reply(s, "250 2.0.0 Ok\r\n");
    if (strcasecmp(verb, "QUIT") == 0) {
        send_reply(s, "221 2.0.0 Bye\r\n");
        return false;
    }
    if (strcasecmp(verb, "VRFY") == 0)
        return send_reply(s, "252 2.0.0 Cannot VRFY user; try RCPT to attempt delivery\r\n");
    if (strcasecmp(verb, "HELP") == 0)
        return send_reply(s, "214 2.0.0 EHLO HELO AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY\r\n");
    if (strcasecmp(verb, "STARTTLS") == 0 || strcasecmp(verb, "EXPN") == 0 ||
        strcasecmp(verb, "BDAT") == 0)
        return send_reply(s, "502 5.5.1 Error: command not implemented\r\n");
    return send_reply(s, "500 5.5.2 Error: command not recognized\r\n");
}

static void *session_main(void *arg)
{
    session *s = arg;
    s->idle_deadline = bp_mono_ms() + IDLE_TIMEOUT_MS;
    atomic_fetch_add(&sessions_served, 1);
    if (current_mode() == MODE_HANG) {
        /* No greeting: the client waits until it gives up. */
        s->idle_deadline = bp_mono_ms() + HANG_MAX_MS;
        while (fill(s))
            s->len = 0;
    } else if (send_reply(s, "220 " HOSTNAME " ESMTP BarberPro fake\r\n")) {
        char line[MAX_COMMAND_LINE + 1];
        for (;;) {
            size_t n;
            int r = read_line(s, line, MAX_COMMAND_LINE, &n);
            if (r == 0)
                break;
            if (r < 0) {
                if (!send_reply(s, "500 5.5.2 Error: line too long\r\n"))
                    break;
                continue;
            }
            if (!command(s, line))
                break;
        }
    }
    close(s->fd);
    json_decref(s->rcpts);
    free(s);
    pthread_mutex_lock(&lock);
    active_sessions--;
    pthread_cond_broadcast(&sessions_cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Accepts SMTP connections until the stop, a thread for each (at most
 * MAX_SESSIONS; beyond, 421 and close). */
static void *accept_main(void *arg)
{
    int lfd = *(int *)arg;
    while (!atomic_load(&fake_stopping)) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&lock);
        bool full = active_sessions >= MAX_SESSIONS;
        if (!full)
            active_sessions++;
        pthread_mutex_unlock(&lock);
        session *s = full ? NULL : calloc(1, sizeof *s);
        json_t *rcpts = s != NULL ? json_array() : NULL;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (s != NULL && rcpts != NULL) {
            s->fd = fd;
            s->rcpts = rcpts;
            if (pthread_create(&t, &attr, session_main, s) == 0) {
                pthread_attr_destroy(&attr);
                continue;
            }
        }
        pthread_attr_destroy(&attr);
        json_decref(rcpts);
        free(s);
        if (!full) {
            pthread_mutex_lock(&lock);
            active_sessions--;
            pthread_mutex_unlock(&lock);
        }
        static const char busy[] = "421 4.7.0 " HOSTNAME " Error: too many connections\r\n";
        (void)send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
        close(fd);
    }
    return NULL;
}

static int smtp_listen(long port, unsigned *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(addr.sin_port);
    return fd;
}

/* ---- control endpoints (HTTP) -------------------------------------------- */

/* POST /_fake/mode?mode=ok|reject|tempfail|hang */
static enum MHD_Result set_mode(struct MHD_Connection *conn)
{
    const char *ms = fake_query(conn, "mode");
    int found = -1;
    for (size_t i = 0; ms != NULL && i < BP_COUNTOF(mode_names); i++)
        if (strcmp(ms, mode_names[i]) == 0)
            found = (int)i;
    if (found < 0)
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"mode=ok|reject|tempfail|hang\"}");
    pthread_mutex_lock(&lock);
    mode = (fake_mode)found;
    pthread_mutex_unlock(&lock);
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

/* POST /_fake/auth?required=1|0 */
static enum MHD_Result set_auth(struct MHD_Connection *conn)
{
    const char *r = fake_query(conn, "required");
    if (r == NULL || (strcmp(r, "1") != 0 && strcmp(r, "0") != 0))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST, "{\"error\":\"required=1|0\"}");
    pthread_mutex_lock(&lock);
    require_auth = r[0] == '1';
    pthread_mutex_unlock(&lock);
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

/* GET /_fake/health, with the SMTP port that a test cannot read from the
 * launcher's first line. */
static enum MHD_Result health(struct MHD_Connection *conn)
{
    char body[64];
    snprintf(body, sizeof body, "{\"status\":\"ok\",\"smtp_port\":%u}", smtp_port);
    return fake_reply_json(conn, MHD_HTTP_OK, body);
}

/* GET /_fake/messages */
static enum MHD_Result get_messages(struct MHD_Connection *conn)
{
    pthread_mutex_lock(&lock);
    json_t *o = json_pack("{s:o,s:I}", "messages", json_deep_copy(messages), "count",
                          (json_int_t)message_count);
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* GET /_fake/last */
static enum MHD_Result get_last(struct MHD_Connection *conn)
{
    pthread_mutex_lock(&lock);
    size_t n = json_array_size(messages);
    json_t *o = fake_last_doc(message_count, n > 0 ? json_array_get(messages, n - 1) : NULL);
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

static void reset(void)
{
    pthread_mutex_lock(&lock);
    json_array_clear(messages);
    message_count = 0;
    mode = MODE_OK;
    require_auth = require_auth_default;
    pthread_mutex_unlock(&lock);
}

static enum MHD_Result not_found(struct MHD_Connection *conn, const char *url)
{
    (void)url;
    return fake_reply_json(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
}

/* ---- start-up -------------------------------------------------------------- */

static long smtp_listen_port;
static int listen_fd = -1;
static pthread_t acceptor;

/* The SMTP port's line goes after the HTTP one: the launcher reads the HTTP
 * port from the first line. */
static void print_smtp_port(unsigned http_port)
{
    printf("smtp listening on %u\n", smtp_port);
    bp_log_info("smtp stand-in: control on 127.0.0.1:%u, SMTP on 127.0.0.1:%u", http_port,
                smtp_port);
}

static int start(void)
{
    require_auth = require_auth_default;
    messages = json_array();
    if (messages == NULL)
        return 1;
    listen_fd = smtp_listen(smtp_listen_port, &smtp_port);
    if (listen_fd < 0) {
        bp_log_error("cannot listen for SMTP on 127.0.0.1:%ld", smtp_listen_port);
        return 1;
    }
    if (pthread_create(&acceptor, NULL, accept_main, &listen_fd) != 0) {
        bp_log_error("cannot start the SMTP thread");
        close(listen_fd);
        return 1;
    }
    return 0;
}

static void stop(void)
{
    pthread_join(acceptor, NULL);
    close(listen_fd);
    /* Sessions see the stop within 100 ms. */
    pthread_mutex_lock(&lock);
    while (active_sessions > 0)
        pthread_cond_wait(&sessions_cond, &lock);
    json_decref(messages);
    messages = NULL;
    pthread_mutex_unlock(&lock);
}

static const fake_option options[] = {
    {.flag = "--smtp-port", .arg = "N", .number = &smtp_listen_port, .max = 65535},
    {.flag = "--user", .arg = "U", .flags = FAKE_OPT_NOT_EMPTY, .text = &smtp_user},
    {.flag = "--password", .arg = "P", .flags = FAKE_OPT_NOT_EMPTY, .text = &smtp_password},
    {.flag = "--require-auth", .on = &require_auth_default},
    {.flag = "--max-size", .arg = "BYTES", .number = &max_size, .min = 1024, .max = 1L << 30}};

static const fake_control controls[] = {{"GET", "/_fake/health", health},
                                        {"GET", "/_fake/messages", get_messages},
                                        {"GET", "/_fake/last", get_last},
                                        {"POST", "/_fake/mode", set_mode},
                                        {"POST", "/_fake/auth", set_auth}};

int main(int argc, char **argv)
{
    static const fake_spec spec = {.name = "smtp",
                                   .options = options,
                                   .n_options = BP_COUNTOF(options),
                                   .start = start,
                                   .stop = stop,
                                   .hooks = {.controls = controls,
                                             .n_controls = BP_COUNTOF(controls),
                                             .reset = reset,
                                             .requests = &sessions_served,
                                             .not_found = not_found,
                                             .on_listening = print_smtp_port}};
    return fake_main(&spec, argc, argv);
}
