/* GET /status as a client and a monitor see it: an HTML page in Spanish
 * that says every service is "Operativo" with 200, and with one daemon
 * hung names it with 503, then recovers. scripts/test.sh runs this binary
 * with --jobs=1: a test stops a daemon. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* The Spanish names of the five daemons, as the page shows them. */
static const char *const labels[] = {"Reservas", "Pagos", "Notificaciones", "Cuentas",
                                     "Copias de seguridad"};

/* The state shown next to the service called label, copied into out; ""
 * when the page has no such row. */
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

static void assert_html(const bpt_response *r)
{
    const char *type = bpt_header(r, "Content-Type");
    cr_assert_not_null(type, "no Content-Type");
    cr_assert_str_eq(type, "text/html; charset=utf-8");
    const char *csp = bpt_header(r, "Content-Security-Policy");
    cr_assert(csp != NULL && strstr(csp, "default-src 'none'") != NULL, "CSP header: %s",
              csp != NULL ? csp : "(none)");
    cr_assert_not_null(strstr(r->body, "<html lang=\"es-AR\">"), "%s", r->body);
    cr_assert_not_null(strstr(r->body, "<meta http-equiv=\"refresh\" content=\"30\">"));
    cr_assert_not_null(bpt_header(r, "X-Request-Id"));
    /* The time of the check, in Buenos Aires (-03:00, no DST). */
    const char *t = strstr(r->body, "<time datetime=\"");
    cr_assert_not_null(t, "%s", r->body);
    cr_assert_eq(strncmp(t + strlen("<time datetime=\"") + 19, "-03:00\"", 7), 0, "%.60s", t);
}

/* Whatever a test did, leave the payment daemon running and the suite
 * healthy for the next one. */
static void leave_payment_running(void)
{
    bpt_daemon_cont("payment");
    bpt_wait_healthy(20000);
}

Test(status_page, all_up_is_200_and_every_service_operativo)
{
    cr_assert_eq(bpt_wait_healthy(20000), 0);
    bpt_response *r = bpt_http("GET", "/status", NULL, NULL, 0);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, 200, "status page: %ld %s", r->status, r->body);
    assert_html(r);
    cr_assert_not_null(strstr(r->body, "Todos los servicios funcionan con normalidad"), "%s",
                       r->body);
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        char state[64];
        cr_assert_str_eq(state_of(r->body, labels[i], state, sizeof state), "Operativo", "%s: %s",
                         labels[i], r->body);
    }
    bpt_response_free(r);
}

Test(status_page, a_hung_daemon_is_named_with_503, .timeout = 60, .fini = leave_payment_running)
{
    cr_assert_eq(bpt_wait_healthy(20000), 0);
    cr_assert_eq(bpt_daemon_stop("payment"), 0);
    bpt_response *r = bpt_http("GET", "/status", NULL, NULL, 0);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, 503, "status page with a hung payment daemon: %ld %s", r->status,
                 r->body);
    assert_html(r);
    cr_assert_not_null(strstr(r->body, "Algunos servicios tienen problemas"), "%s", r->body);
    cr_assert_null(strstr(r->body, "con normalidad"), "%s", r->body);
    char state[64];
    state_of(r->body, "Pagos", state, sizeof state);
    cr_assert(state[0] != '\0' && strcmp(state, "Operativo") != 0, "Pagos shows \"%s\": %s", state,
              r->body);
    cr_assert_str_eq(state_of(r->body, "Reservas", state, sizeof state), "Operativo", "%s",
                     r->body);
    cr_assert(r->elapsed_ms < 3.0 * bpt_rpc_timeout_ms() + 2000.0, "the page took %.0f ms",
              r->elapsed_ms);
    bpt_response_free(r);

    /* Back to normal when the daemon is. */
    cr_assert_eq(bpt_daemon_cont("payment"), 0);
    long status = 0;
    for (double until = bpt_now_ms() + 15000; bpt_now_ms() < until && status != 200;) {
        r = bpt_http("GET", "/status", NULL, NULL, 0);
        cr_assert_not_null(r);
        status = r->status;
        bpt_response_free(r);
        if (status != 200)
            bpt_sleep_ms(200);
    }
    cr_assert_eq(status, 200, "the page did not recover after the daemon came back");
}

Test(status_page, malformed_query_is_400)
{
    bpt_response *r = bpt_http("GET", "/status?%zz", NULL, NULL, 0);
    cr_assert_not_null(r);
    cr_assert(bpt_error_is(r, 400, "invalid_request"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
}
