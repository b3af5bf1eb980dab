/* fake-dolarapi: a local stand-in for dolarapi.com's official-dollar quote,
 * with control endpoints under /_fake/ so that tests can change the rate,
 * make it fail, hang or answer garbage, and count the requests.
 *
 * usage: fake-dolarapi [--port N]   (N = 0, the default, picks a free port)
 * The port also comes from FAKE_DOLARAPI_PORT. Prints "listening on <port>"
 * on stdout once it accepts connections; stops on SIGTERM or SIGINT. */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bp.h"
#include "fake_main.h"
#include "fake_mode.h"
#include "fake_server.h"
#include "log.h"

#define QUOTE_PATH "/v1/dolares/oficial"
/* Well-formed JSON with values no quote has. */
#define MODE_INVALID FAKE_MODE_OWN

static const char *const mode_names[] = {"ok", "error", "hang", "garbage", "invalid"};
static const fake_mode_spec mode_spec = {
    .names = mode_names,
    .n_names = BP_COUNTOF(mode_names),
    .usage = "{\"error\":\"mode=ok|error|hang|garbage|invalid, delay_ms=0..60000\"}"};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double compra = 1405.0, venta = 1455.0;
static atomic_uint_fast64_t quote_requests;

static enum MHD_Result quote(struct MHD_Connection *conn)
{
    atomic_fetch_add(&quote_requests, 1);
    pthread_mutex_lock(&lock);
    double c = compra, v = venta;
    pthread_mutex_unlock(&lock);

    fake_mode_now m = fake_mode_take();
    enum MHD_Result rv;
    if (fake_mode_answer(conn, &m, &rv))
        return rv;
    if (m.mode == FAKE_MODE_ERROR)
        return fake_reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "{\"message\":\"Internal Server Error\"}");
    if (m.mode == MODE_INVALID)
        return fake_reply_json(conn, MHD_HTTP_OK,
                               "{\"moneda\":\"USD\",\"casa\":\"oficial\",\"nombre\":\"Oficial\","
                               "\"compra\":null,\"venta\":-1,\"fechaActualizacion\":\"nunca\"}");
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    char body[256];
    snprintf(body, sizeof body,
             "{\"moneda\":\"USD\",\"casa\":\"oficial\",\"nombre\":\"Oficial\",\"compra\":%.10g,"
             "\"venta\":%.10g,\"fechaActualizacion\":\"%s\"}",
             c, v, when);
    return fake_reply_json(conn, MHD_HTTP_OK, body);
}

static bool parse_double(const char *s, double *out)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* POST /_fake/rate?venta=N[&compra=N] */
static enum MHD_Result set_rate(struct MHD_Connection *conn)
{
    double v, c;
    const char *vs = fake_query(conn, "venta"), *cs = fake_query(conn, "compra");
    if (!parse_double(vs, &v) || (cs != NULL && !parse_double(cs, &c)))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"venta (and compra) numbers\"}");
    pthread_mutex_lock(&lock);
    venta = v;
    compra = cs != NULL ? c : v - 50.0;
    pthread_mutex_unlock(&lock);
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

static void reset(void)
{
    pthread_mutex_lock(&lock);
    compra = 1405.0;
    venta = 1455.0;
    pthread_mutex_unlock(&lock);
}

static enum MHD_Result api(struct MHD_Connection *conn, const char *method, const char *url,
                           const fake_body *body, bool *matched)
{
    (void)body;
    *matched = strcmp(method, "GET") == 0 && strcmp(url, QUOTE_PATH) == 0;
    return *matched ? quote(conn) : MHD_NO;
}

static enum MHD_Result not_found(struct MHD_Connection *conn, const char *url)
{
    (void)url;
    return fake_reply_json(conn, MHD_HTTP_NOT_FOUND, "{\"message\":\"Not Found\"}");
}

static const fake_control controls[] = {{"POST", "/_fake/rate", set_rate}};

int main(int argc, char **argv)
{
    static const fake_spec spec = {.name = "dolarapi",
                                   .hooks = {.controls = controls,
                                             .n_controls = BP_COUNTOF(controls),
                                             .mode = &mode_spec,
                                             .reset = reset,
                                             .requests = &quote_requests,
                                             .api = api,
                                             .not_found = not_found}};
    return fake_main(&spec, argc, argv);
}
