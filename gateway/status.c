/* GET /status: the page clients are sent to during an incident. The
 * gateway renders it itself from the same Health fan-out as /api/health,
 * so it needs nothing but the gateway to be up: plain HTML in Spanish
 * (es-AR), a small inline style, no script and no outside resource, and a
 * reload every GW_STATUS_REFRESH_S seconds. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "bp.h"
#include "strbuf.h"
#include "gw_health.h"
#include "gw_respond.h"
#include "gw_services.h"
#include "gw_status.h"

#define HTML_UTF8 "text/html; charset=utf-8"

/* The services clients know, in the order they care about them. */
static const struct {
    const char *service;
    const char *label;
} names[] = {
    {"booking", "Reservas"},
    {"payment", "Pagos"},
    {"notification", "Notificaciones"},
    {"auth", "Cuentas"},
    {"backup", "Copias de seguridad"},
};

/* Kept apart from the page so that its hash can go in the policy. */
static const char style[] =
    "body{margin:0;background:#f4f4f5;color:#18181b;"
    "font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}"
    "main{max-width:36rem;margin:0 auto;padding:1.5rem 1rem}"
    "h1{font-size:1.5rem;margin:0 0 1rem}"
    ".overall{padding:1rem;border-radius:.5rem;font-weight:600;margin:0}"
    ".overall.ok{background:#dcfce7;color:#14532d}"
    ".overall.bad{background:#fee2e2;color:#7f1d1d}"
    "ul{list-style:none;padding:0;margin:1.5rem 0;background:#fff;border-radius:.5rem;"
    "border:1px solid #e4e4e7}"
    "li{display:flex;justify-content:space-between;gap:1rem;padding:.75rem 1rem;"
    "border-top:1px solid #e4e4e7}"
    "li:first-child{border-top:0}"
    "li.ok .state{color:#15803d}"
    "li.bad .state{color:#b91c1c;font-weight:600}"
    ".note{color:#52525b;font-size:.875rem}";

static pthread_once_t csp_once = PTHREAD_ONCE_INIT;
static char csp[192];

/* default-src 'none' shuts out scripts, images, fonts, frames and
 * connections; the one inline style is allowed by its hash. */
static void csp_build(void)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    if (EVP_Digest(style, sizeof style - 1, md, &md_len, EVP_sha256(), NULL) != 1) {
        /* Without the hash, no style rather than any style. */
        snprintf(csp, sizeof csp, "default-src 'none'; base-uri 'none'; form-action 'none'");
        return;
    }
    EVP_EncodeBlock(b64, md, (int)md_len);
    snprintf(csp, sizeof csp,
             "default-src 'none'; style-src 'sha256-%s'; base-uri 'none'; form-action 'none'",
             (const char *)b64);
}

const char *gw_status_csp(void)
{
    pthread_once(&csp_once, csp_build);
    return csp;
}

/* Appends s with &, <, >, " and ' escaped, fit for text and for quoted
 * attribute values. */
static void append_escaped(bp_strbuf *b, const char *s)
{
    const char *run = s;
    for (; *s != '\0'; s++) {
        const char *esc;
        switch (*s) {
        case '&':
            esc = "&amp;";
            break;
        case '<':
            esc = "&lt;";
            break;
        case '>':
            esc = "&gt;";
            break;
        case '"':
            esc = "&quot;";
            break;
        case '\'':
            esc = "&#39;";
            break;
        default:
            continue;
        }
        bp_strbuf_append(b, run, (size_t)(s - run));
        bp_strbuf_append(b, esc, strlen(esc));
        run = s + 1;
    }
    bp_strbuf_append(b, run, (size_t)(s - run));
}

static void append(bp_strbuf *b, const char *s)
{
    bp_strbuf_append(b, s, strlen(s));
}

/* What a client reads for a state of gw_health_state. */
static const char *state_label(const char *state)
{
    if (strcmp(state, "ok") == 0)
        return "Operativo";
    if (strcmp(state, "unavailable") == 0)
        return "No disponible";
    if (strcmp(state, "timeout") == 0)
        return "Responde con demoras";
    return "Con problemas";
}

static void append_row(bp_strbuf *b, const char *label, const char *state)
{
    bool ok = strcmp(state, "ok") == 0;
    append(b, ok ? "<li class=\"ok\">" : "<li class=\"bad\">");
    append(b, "<span class=\"name\">");
    append_escaped(b, label);
    append(b, "</span><span class=\"state\">");
    append_escaped(b, state_label(state));
    append(b, "</span></li>\n");
}

/* "28/11/2026 14:05:09" and its RFC 3339 form, local to tz (UTC when NULL).
 * False for a year the formats cannot hold. */
static bool format_time(int64_t t, const bp_tz *tz, char shown[32], char rfc3339[26])
{
    int offset = tz != NULL ? bp_tz_offset(tz, t) : 0;
    int64_t local = t + offset;
    int64_t days = local / 86400, secs = local % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    int y, m, d;
    bp_civil_from_days((int32_t)days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return false;
    snprintf(shown, 32, "%02d/%02d/%04d %02d:%02d:%02d", d, m, y, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
    if (tz != NULL)
        return bp_tz_format(tz, t, rfc3339) == 0;
    snprintf(rfc3339, 26, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
    return true;
}

char *gw_status_render(const gw_status_entry *entries, size_t n, int64_t checked_at,
                       const bp_tz *tz, size_t *len, bool *all_ok)
{
    size_t failing = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(entries[i].state, "ok") != 0)
            failing++;
    *all_ok = failing == 0;

    const char *overall, *overall_class;
    if (failing == 0) {
        overall = "Todos los servicios funcionan con normalidad.";
        overall_class = "overall ok";
    } else if (failing < n) {
        overall = "Algunos servicios tienen problemas.";
        overall_class = "overall bad";
    } else {
        overall = "Ningún servicio está respondiendo en este momento.";
        overall_class = "overall bad";
    }

    bp_strbuf b = {0};
    append(&b, "<!DOCTYPE html>\n<html lang=\"es-AR\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    bp_strbuf_printf(&b, "<meta http-equiv=\"refresh\" content=\"%d\">\n", GW_STATUS_REFRESH_S);
    append(&b, "<meta http-equiv=\"Content-Security-Policy\" content=\"");
    append_escaped(&b, gw_status_csp());
    append(&b, "\">\n<meta name=\"robots\" content=\"noindex\">\n"
               "<title>Estado de BarberPro</title>\n<style>");
    append(&b, style);
    append(&b, "</style>\n</head>\n<body>\n<main>\n<h1>Estado de BarberPro</h1>\n");
    bp_strbuf_printf(&b, "<p class=\"%s\" role=\"status\">", overall_class);
    append_escaped(&b, overall);
    append(&b, "</p>\n<ul>\n");

    /* Known services in their order, then any other under its own name. */
    for (size_t k = 0; k < BP_COUNTOF(names); k++)
        for (size_t i = 0; i < n; i++)
            if (strcmp(entries[i].service, names[k].service) == 0)
                append_row(&b, names[k].label, entries[i].state);
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t k = 0; k < BP_COUNTOF(names) && !known; k++)
            known = strcmp(entries[i].service, names[k].service) == 0;
        if (!known)
            append_row(&b, entries[i].service, entries[i].state);
    }
    append(&b, "</ul>\n");

    if (failing > 0)
        append(&b, "<p>Estamos trabajando para solucionarlo. Probá de nuevo en unos "
                   "minutos.</p>\n");
    char shown[32], rfc3339[26];
    if (format_time(checked_at, tz, shown, rfc3339)) {
        append(&b, "<p class=\"note\">Última verificación: <time datetime=\"");
        append_escaped(&b, rfc3339);
        append(&b, "\">");
        append_escaped(&b, shown);
        append(&b, tz != NULL ? "</time> (hora de Buenos Aires)." : "</time> (UTC).");
        bp_strbuf_printf(&b, " Esta página se actualiza sola cada %d segundos.</p>\n",
                         GW_STATUS_REFRESH_S);
    }
    append(&b, "</main>\n</body>\n</html>\n");

    char *page = bp_strbuf_take(&b);
    if (page != NULL)
        *len = strlen(page);
    return page;
}

static enum MHD_Result status_finish(gw_request *req)
{
    gw_status_entry entries[GW_MAX_FANOUT];
    char reasons[GW_MAX_FANOUT][64];
    for (size_t i = 0; i < req->fan.n; i++) {
        entries[i].service = gw_service_at(i)->name;
        entries[i].state = gw_health_state(&req->fan.slots[i], reasons[i], sizeof reasons[i]);
    }
    /* A zone that cannot be read (no tzdata) shows UTC rather than no page. */
    const bp_tz *tz = NULL;
    if (bp_tz_load(GW_STATUS_ZONE, &tz) != 0)
        tz = NULL;
    size_t len = 0;
    bool all_ok = false;
    char *page = gw_status_render(entries, req->fan.n, bp_now_ms() / 1000, tz, &len, &all_ok);
    if (page == NULL)
        return gw_answer_error(req, 500, NULL, NULL, NULL);
    /* As a header too: a browser applies it before reading the page. */
    gw_request_add_header(req, "Content-Security-Policy", gw_status_csp());
    return gw_answer(req, all_ok ? 200 : 503, page, len, HTML_UTF8);
}

const gw_op gw_status_op = {.start = gw_health_start, .finish = status_finish};
