/* fake-dolarapi: a local stand-in for dolarapi.com's official-dollar quote,
 * with control endpoints under /_fake/ so that tests can change the rate,
 * make it fail, hang or answer garbage, and count the requests.
 *
 * usage: fake-dolarapi [--port N]   (N = 0, the default, picks a free port)
 * The port also comes from FAKE_DOLARAPI_PORT. Prints "listening on <port>"
 * on stdout once it accepts connections; stops on SIGTERM or SIGINT. */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "log.h"

#define QUOTE_PATH "/v1/dolares/oficial"
/* A hanging answer gives up after this, so a forgotten test cannot pin a
 * connection thread for ever. */
#define HANG_MAX_MS 120000

typedef enum { MODE_OK, MODE_ERROR, MODE_HANG, MODE_GARBAGE, MODE_INVALID } fake_mode;

static const char *const mode_names[] = {"ok", "error", "hang", "garbage", "invalid"};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double compra = 1405.0, venta = 1455.0;
static fake_mode mode = MODE_OK;
static long delay_ms = 0;
static atomic_uint_fast64_t quote_requests;
static atomic_bool stopping;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rv = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rv;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status, const char *body)
{
    return reply(conn, status, "application/json; charset=utf-8", body);
}

/* Sleeps ms in small steps so that SIGTERM is not held up by a slow answer. */
static void nap(long ms)
{
    for (long slept = 0; slept < ms && !atomic_load(&stopping); slept += 20) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static enum MHD_Result quote(struct MHD_Connection *conn)
{
    atomic_fetch_add(&quote_requests, 1);
    pthread_mutex_lock(&lock);
    fake_mode m = mode;
    double c = compra, v = venta;
    long d = delay_ms;
    pthread_mutex_unlock(&lock);

    nap(d);
    switch (m) {
    case MODE_ERROR:
        return reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "{\"message\":\"Internal Server Error\"}");
    case MODE_HANG:
        nap(HANG_MAX_MS);
        return MHD_NO; /* closes the connection without an answer */
    case MODE_GARBAGE:
        return reply(conn, MHD_HTTP_OK, "text/html", "<html><body>Bad gateway</body></html>");
    case MODE_INVALID:
        return reply_json(conn, MHD_HTTP_OK,
                          "{\"moneda\":\"USD\",\"casa\":\"oficial\",\"nombre\":\"Oficial\","
                          "\"compra\":null,\"venta\":-1,\"fechaActualizacion\":\"nunca\"}");
    case MODE_OK:
        break;
    }
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
    return reply_json(conn, MHD_HTTP_OK, body);
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

static bool parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* POST /_fake/rate?venta=N[&compra=N] */
static enum MHD_Result set_rate(struct MHD_Connection *conn)
{
    double v, c;
    const char *vs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "venta");
    const char *cs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "compra");
    if (!parse_double(vs, &v) || (cs != NULL && !parse_double(cs, &c)))
        return reply_json(conn, MHD_HTTP_BAD_REQUEST, "{\"error\":\"venta (and compra) numbers\"}");
    pthread_mutex_lock(&lock);
    venta = v;
    compra = cs != NULL ? c : v - 50.0;
    pthread_mutex_unlock(&lock);
    return reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

/* POST /_fake/mode?mode=ok|error|hang|garbage|invalid[&delay_ms=N] */
static enum MHD_Result set_mode(struct MHD_Connection *conn)
{
    const char *ms = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "mode");
    const char *ds = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "delay_ms");
    long d = 0;
    int found = -1;
    for (size_t i = 0; ms != NULL && i < BP_COUNTOF(mode_names); i++)
        if (strcmp(ms, mode_names[i]) == 0)
            found = (int)i;
    if (found < 0 || (ds != NULL && !parse_long(ds, 0, 60000, &d)))
        return reply_json(conn, MHD_HTTP_BAD_REQUEST,
                          "{\"error\":\"mode=ok|error|hang|garbage|invalid, delay_ms=0..60000\"}");
    pthread_mutex_lock(&lock);
    mode = (fake_mode)found;
    delay_ms = d;
    pthread_mutex_unlock(&lock);
    return reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

static enum MHD_Result reset(struct MHD_Connection *conn)
{
    pthread_mutex_lock(&lock);
    compra = 1405.0;
    venta = 1455.0;
    mode = MODE_OK;
    delay_ms = 0;
    pthread_mutex_unlock(&lock);
    atomic_store(&quote_requests, 0);
    return reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    /* First call: headers only. Bodies are not used, so they are dropped. */
    if (*con_cls == NULL) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (get && strcmp(url, QUOTE_PATH) == 0)
        return quote(conn);
    if (get && strcmp(url, "/_fake/health") == 0)
        return reply_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
    if (get && strcmp(url, "/_fake/requests") == 0) {
        char body[64];
        snprintf(body, sizeof body, "{\"requests\":%" PRIuFAST64 "}",
                 (uint_fast64_t)atomic_load(&quote_requests));
        return reply_json(conn, MHD_HTTP_OK, body);
    }
    if (post && strcmp(url, "/_fake/rate") == 0)
        return set_rate(conn);
    if (post && strcmp(url, "/_fake/mode") == 0)
        return set_mode(conn);
    if (post && strcmp(url, "/_fake/reset") == 0)
        return reset(conn);
    return reply_json(conn, MHD_HTTP_NOT_FOUND, "{\"message\":\"Not Found\"}");
}

static long port_from_args(int argc, char **argv)
{
    const char *s = getenv("FAKE_DOLARAPI_PORT");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            s = argv[++i];
        else {
            fprintf(stderr, "usage: fake-dolarapi [--port N]\n");
            exit(2);
        }
    }
    long port = 0;
    if (s != NULL && !parse_long(s, 0, 65535, &port)) {
        fprintf(stderr, "fake-dolarapi: bad port %s\n", s);
        exit(2);
    }
    return port;
}

int main(int argc, char **argv)
{
    bp_log_init("fake-dolarapi");
    long port = port_from_args(argc, argv);

    /* Signals are taken with sigwait in this thread only; MHD's threads
     * inherit the blocked mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* A thread per connection: a hanging answer holds only its own. */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (d == NULL) {
        bp_log_error("cannot listen on 127.0.0.1:%ld", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info != NULL ? info->port : (unsigned)port;
    printf("listening on %u\n", bound);
    fflush(stdout);
    bp_log_info("dolarapi stand-in listening on 127.0.0.1:%u (GET %s)", bound, QUOTE_PATH);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    atomic_store(&stopping, true);
    MHD_stop_daemon(d);
    bp_log_info("stopped on signal %d", sig);
    return 0;
}
