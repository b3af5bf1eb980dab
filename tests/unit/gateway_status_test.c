/* Unit tests for the page behind GET /status: what a client reads in each
 * situation, the time in Buenos Aires, escaping, and a policy that lets
 * exactly the page's own style through. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "bp.h"
#include "tz.h"
#include "../../gateway/gw_status.h"

/* 2026-03-02T13:15:07Z, 10:15:07 in Buenos Aires. */
#define CHECKED_AT INT64_C(1772457307)

static const gw_status_entry all_ok[] = {
    {"auth", "ok"}, {"booking", "ok"}, {"payment", "ok"}, {"notification", "ok"}, {"backup", "ok"},
};

static char *render(const gw_status_entry *e, size_t n, const bp_tz *tz, bool *ok)
{
    size_t len = 0;
    char *page = gw_status_render(e, n, CHECKED_AT, tz, &len, ok);
    cr_assert_not_null(page);
    cr_assert_eq(len, strlen(page));
    return page;
}

static const bp_tz *buenos_aires(void)
{
    const bp_tz *tz = NULL;
    cr_assert_eq(bp_tz_load(GW_STATUS_ZONE, &tz), 0);
    return tz;
}

/* The text of the state shown next to the service called label, copied
 * into out; "" when the page has no such row. */
static const char *state_of(const char *page, const char *label, char *out, size_t size)
{
    char name[128];
    snprintf(name, sizeof name, "<span class=\"name\">%s</span>", label);
    out[0] = '\0';
    const char *p = strstr(page, name);
    if (p == NULL)
        return out;
    static const char open[] = "<span class=\"state\">";
    p = strstr(p, open);
    if (p == NULL)
        return out;
    p += sizeof open - 1;
    const char *end = strchr(p, '<');
    size_t n = end != NULL ? (size_t)(end - p) : 0;
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

Test(gateway_status, every_service_up_reads_normal)
{
    bool ok = false;
    char *page = render(all_ok, BP_COUNTOF(all_ok), buenos_aires(), &ok);
    cr_assert(ok);
    cr_assert_not_null(strstr(page, "Todos los servicios funcionan con normalidad"));
    cr_assert_null(strstr(page, "problemas"));
    static const char *const labels[] = {"Reservas", "Pagos", "Notificaciones", "Cuentas",
                                         "Copias de seguridad"};
    const char *prev = page;
    for (size_t i = 0; i < BP_COUNTOF(labels); i++) {
        char state[64];
        cr_assert_str_eq(state_of(page, labels[i], state, sizeof state), "Operativo", "%s: %s",
                         labels[i], page);
        /* In the order clients care about, whatever the bus order. */
        const char *at = strstr(page, labels[i]);
        cr_assert(at > prev, "%s is out of order", labels[i]);
        prev = at;
    }
    free(page);
}

Test(gateway_status, one_service_down_is_named)
{
    const gw_status_entry e[] = {
        {"auth", "ok"},         {"booking", "ok"},         {"payment", "timeout"},
        {"notification", "ok"}, {"backup", "unavailable"},
    };
    bool ok = true;
    char *page = render(e, BP_COUNTOF(e), buenos_aires(), &ok);
    cr_assert_not(ok);
    cr_assert_not_null(strstr(page, "Algunos servicios tienen problemas"));
    cr_assert_null(strstr(page, "con normalidad"));
    char state[64];
    cr_assert_str_eq(state_of(page, "Pagos", state, sizeof state), "Responde con demoras");
    cr_assert_str_eq(state_of(page, "Copias de seguridad", state, sizeof state), "No disponible");
    cr_assert_str_eq(state_of(page, "Reservas", state, sizeof state), "Operativo");
    cr_assert_not_null(strstr(page, "<li class=\"bad\"><span class=\"name\">Pagos</span>"));
    cr_assert_not_null(strstr(page, "<li class=\"ok\"><span class=\"name\">Reservas</span>"));
    free(page);
}

Test(gateway_status, a_reason_of_the_service_reads_as_a_problem)
{
    const gw_status_entry e[] = {{"booking", "db_down"}, {"auth", "ok"}};
    bool ok = true;
    char *page = render(e, BP_COUNTOF(e), buenos_aires(), &ok);
    cr_assert_not(ok);
    char state[64];
    cr_assert_str_eq(state_of(page, "Reservas", state, sizeof state), "Con problemas");
    cr_assert_null(strstr(page, "db_down"), "internal reasons are not for clients");
    free(page);
}

Test(gateway_status, nothing_up_says_so)
{
    const gw_status_entry e[] = {{"auth", "unavailable"}, {"booking", "timeout"}};
    bool ok = true;
    char *page = render(e, BP_COUNTOF(e), buenos_aires(), &ok);
    cr_assert_not(ok);
    cr_assert_not_null(strstr(page, "Ningún servicio está respondiendo"));
    free(page);
}

Test(gateway_status, unknown_service_shows_its_name_escaped)
{
    const gw_status_entry e[] = {{"auth", "ok"}, {"<script>alert(\"x\")&'</script>", "ok"}};
    bool ok = false;
    char *page = render(e, BP_COUNTOF(e), buenos_aires(), &ok);
    cr_assert(ok);
    cr_assert_not_null(strstr(page, "&lt;script&gt;alert(&quot;x&quot;)&amp;&#39;&lt;/script&gt;"),
                       "%s", page);
    cr_assert_null(strstr(page, "<script"), "%s", page);
    /* After the known ones. */
    cr_assert(strstr(page, "&lt;script") > strstr(page, "Cuentas"));
    free(page);
}

Test(gateway_status, time_of_the_check_in_buenos_aires)
{
    bool ok;
    char *page = render(all_ok, BP_COUNTOF(all_ok), buenos_aires(), &ok);
    cr_assert_not_null(strstr(page, "<time datetime=\"2026-03-02T10:15:07-03:00\">"
                                    "02/03/2026 10:15:07</time> (hora de Buenos Aires)"),
                       "%s", page);
    free(page);

    page = render(all_ok, BP_COUNTOF(all_ok), NULL, &ok);
    cr_assert_not_null(
        strstr(page, "<time datetime=\"2026-03-02T13:15:07Z\">02/03/2026 13:15:07</time> (UTC)"),
        "%s", page);
    free(page);
}

Test(gateway_status, page_is_self_contained_and_refreshes)
{
    bool ok;
    char *page = render(all_ok, BP_COUNTOF(all_ok), buenos_aires(), &ok);
    cr_assert_eq(strncmp(page, "<!DOCTYPE html>\n<html lang=\"es-AR\">", 34), 0);
    cr_assert_not_null(strstr(page, "<meta charset=\"utf-8\">"));
    cr_assert_not_null(strstr(page, "<meta http-equiv=\"refresh\" content=\"30\">"));
    cr_assert_null(strstr(page, "<script"));
    cr_assert_null(strstr(page, "src="));
    cr_assert_null(strstr(page, "href="));
    cr_assert_null(strstr(page, "url("));
    cr_assert_null(strstr(page, "@import"));
    free(page);
}

Test(gateway_status, policy_allows_exactly_the_inline_style)
{
    const char *csp = gw_status_csp();
    cr_assert_not_null(strstr(csp, "default-src 'none'"), "%s", csp);

    bool ok;
    char *page = render(all_ok, BP_COUNTOF(all_ok), buenos_aires(), &ok);
    /* The policy has quotes, which the attribute carries escaped. */
    cr_assert_not_null(strstr(page, "<meta http-equiv=\"Content-Security-Policy\" content=\""
                                    "default-src &#39;none&#39;; style-src &#39;sha256-"),
                       "%s", page);

    const char *from = strstr(page, "<style>");
    const char *to = strstr(page, "</style>");
    cr_assert(from != NULL && to != NULL && to > from);
    from += strlen("<style>");
    unsigned char md[EVP_MAX_MD_SIZE], b64[128];
    unsigned int md_len = 0;
    cr_assert_eq(EVP_Digest(from, (size_t)(to - from), md, &md_len, EVP_sha256(), NULL), 1);
    EVP_EncodeBlock(b64, md, (int)md_len);
    char want[160];
    snprintf(want, sizeof want, "style-src 'sha256-%s'", (const char *)b64);
    cr_assert_not_null(strstr(csp, want), "the policy %s does not allow the page's style (%s)", csp,
                       want);
    free(page);
}
