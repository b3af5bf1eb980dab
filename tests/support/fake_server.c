/* The server life, the routing and small answers every fake of tests/fakes/
 * shares. */
#include "fake_server.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

atomic_bool fake_stopping;

static sigset_t stop_signals;

enum MHD_Result fake_reply(struct MHD_Connection *conn, unsigned status, const char *type,
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

enum MHD_Result fake_reply_json(struct MHD_Connection *conn, unsigned status, const char *body)
{
    return fake_reply(conn, status, "application/json; charset=utf-8", body);
}

enum MHD_Result fake_reply_obj(struct MHD_Connection *conn, unsigned status, json_t *v)
{
    char *s = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (s == NULL)
        return fake_reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "{\"error\":\"out of memory\"}");
    enum MHD_Result rv = fake_reply_json(conn, status, s);
    free(s);
    return rv;
}

json_t *fake_last_doc(long long count, const json_t *last)
{
    return json_pack("{s:I,s:o?}", "count", (json_int_t)count, "last",
                     last != NULL ? json_deep_copy(last) : NULL);
}

const char *fake_query(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *fake_header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

bool fake_body_collect(void **con_cls, const char *upload_data, size_t *upload_data_size,
                       size_t max, enum MHD_Result *rv)
{
    fake_body *b = *con_cls;
    /* First call: headers only. */
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        *con_cls = b;
        *rv = b != NULL ? MHD_YES : MHD_NO;
        return true;
    }
    if (*upload_data_size == 0)
        return false;
    b->received += *upload_data_size;
    if (b->received > max) {
        b->too_big = true;
        bp_strbuf_reset(&b->body);
    } else {
        bp_strbuf_append(&b->body, upload_data, *upload_data_size);
    }
    *upload_data_size = 0;
    *rv = MHD_YES;
    return true;
}

const char *fake_body_text(const fake_body *b)
{
    return b->body.p != NULL ? b->body.p : "";
}

void fake_body_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    fake_body *b = *con_cls;
    if (b != NULL) {
        bp_strbuf_reset(&b->body);
        free(b);
        *con_cls = NULL;
    }
}

void fake_nap(long ms)
{
    for (long slept = 0; slept < ms && !atomic_load(&fake_stopping); slept += 20) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

bool fake_parse_long(const char *s, long min, long max, long *out)
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

/* The controls every fake has, after its own; sets *handled. */
static enum MHD_Result shared_control(struct MHD_Connection *conn, const char *method,
                                      const char *url, const fake_server_hooks *h, bool *handled)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    *handled = true;
    if (get && strcmp(url, "/_fake/health") == 0)
        return fake_reply_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
    if (get && strcmp(url, "/_fake/requests") == 0) {
        char body[64];
        snprintf(body, sizeof body, "{\"requests\":%" PRIuFAST64 "}", atomic_load(h->requests));
        return fake_reply_json(conn, MHD_HTTP_OK, body);
    }
    if (post && h->mode != NULL && strcmp(url, "/_fake/mode") == 0)
        return fake_mode_set(conn, h->mode);
    if (post && strcmp(url, "/_fake/reset") == 0) {
        if (h->reset != NULL)
            h->reset();
        fake_mode_reset();
        atomic_store(h->requests, 0);
        return fake_reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
    }
    *handled = false;
    return MHD_NO;
}

/* The MHD access handler of every fake: reads the body, then routes as
 * fake_server_hooks says. */
static enum MHD_Result route(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls)
{
    (void)version;
    const fake_server_hooks *h = cls;
    enum MHD_Result rv;
    if (fake_body_collect(con_cls, upload_data, upload_data_size, h->max_body, &rv))
        return rv;
    const fake_body *b = *con_cls;
    if (h->refuse_body != NULL && (b->too_big || b->body.failed))
        return h->refuse_body(conn);
    for (size_t i = 0; i < h->n_controls; i++)
        if (strcmp(method, h->controls[i].method) == 0 && strcmp(url, h->controls[i].path) == 0)
            return h->controls[i].answer(conn);
    bool handled = false;
    rv = shared_control(conn, method, url, h, &handled);
    if (handled)
        return rv;
    if (h->api != NULL) {
        rv = h->api(conn, method, url, b, &handled);
        if (handled)
            return rv;
    }
    return h->not_found(conn, url);
}

void fake_signals_block(void)
{
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int fake_serve(const char *name, long port, const fake_server_hooks *hooks)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* A thread per connection: a hanging answer holds only its own. */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, route, (void *)hooks, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, fake_body_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, 256u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    int rc = 0;
    if (d == NULL) {
        bp_log_error("cannot listen on 127.0.0.1:%ld", port);
        rc = 1;
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        unsigned bound = info != NULL ? info->port : (unsigned)port;
        printf("listening on %u\n", bound);
        if (hooks->on_listening != NULL)
            hooks->on_listening(bound);
        fflush(stdout);
        bp_log_info("%s stand-in listening on 127.0.0.1:%u", name, bound);
        int sig = 0;
        while (sigwait(&stop_signals, &sig) != 0)
            ;
        bp_log_info("stopping on signal %d", sig);
    }
    atomic_store(&fake_stopping, true);
    if (d != NULL)
        MHD_stop_daemon(d);
    return rc;
}
