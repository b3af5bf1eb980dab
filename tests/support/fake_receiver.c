/* The webhook receiver of the unit tests of tests/fakes/ (see
 * fake_receiver.h). */
#include "fake_receiver.h"

#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"

struct fake_receiver {
    struct MHD_Daemon *daemon;
    unsigned port;
    pthread_mutex_t lock;
    /* Guarded by lock. */
    fake_received kept[FAKE_RECEIVER_MAX_KEPT];
    int count;
    unsigned refuse_status;
    int refuse_left;
};

/* One request on its way in. */
typedef struct {
    bp_strbuf body;
    json_t *query, *headers;
} incoming;

/* Header names are kept, and looked up, in lower case. */
static void lower_case(const char *s, char *out, size_t len)
{
    size_t n = 0;
    for (; s[n] != '\0' && n + 1 < len; n++)
        out[n] = (char)tolower((unsigned char)s[n]);
    out[n] = '\0';
}

static enum MHD_Result keep_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    char name[128];
    lower_case(key, name, sizeof name);
    json_object_set_new(cls, name, json_string(value != NULL ? value : ""));
    return MHD_YES;
}

static enum MHD_Result keep_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    json_object_set_new(cls, key, json_string(value != NULL ? value : ""));
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    fake_receiver *r = cls;
    incoming *in = *con_cls;
    if (in == NULL) {
        in = calloc(1, sizeof *in);
        if (in == NULL)
            return MHD_NO;
        in->query = json_object();
        in->headers = json_object();
        *con_cls = in;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        size_t room = FAKE_RECEIVER_MAX_BODY - in->body.len;
        bp_strbuf_append(&in->body, upload, *upload_size < room ? *upload_size : room);
        *upload_size = 0;
        return MHD_YES;
    }
    MHD_get_connection_values(conn, MHD_HEADER_KIND, keep_header, in->headers);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, keep_query, in->query);
    pthread_mutex_lock(&r->lock);
    unsigned status = MHD_HTTP_OK;
    if (r->refuse_left > 0) {
        r->refuse_left--;
        status = r->refuse_status;
    }
    if (r->count < FAKE_RECEIVER_MAX_KEPT) {
        fake_received *k = &r->kept[r->count];
        k->method = strdup(method);
        k->path = strdup(url);
        k->query = json_incref(in->query);
        k->headers = json_incref(in->headers);
        k->len = in->body.len;
        k->body = malloc(k->len + 1);
        if (k->body != NULL) {
            memcpy(k->body, in->body.p != NULL ? in->body.p : "", k->len);
            k->body[k->len] = '\0';
        }
        k->status = status;
    }
    r->count++;
    pthread_mutex_unlock(&r->lock);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result rv = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rv;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    incoming *in = *con_cls;
    if (in != NULL) {
        bp_strbuf_reset(&in->body);
        json_decref(in->query);
        json_decref(in->headers);
        free(in);
        *con_cls = NULL;
    }
}

fake_receiver *fake_receiver_start(void)
{
    fake_receiver *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    struct sockaddr_in addr = {
        .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, r,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        r->daemon != NULL ? MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (info == NULL) {
        fake_receiver_stop(r);
        return NULL;
    }
    r->port = info->port;
    return r;
}

void fake_receiver_stop(fake_receiver *r)
{
    if (r == NULL)
        return;
    if (r->daemon != NULL)
        MHD_stop_daemon(r->daemon);
    for (int i = 0; i < r->count && i < FAKE_RECEIVER_MAX_KEPT; i++)
        fake_received_free(&r->kept[i]);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

unsigned fake_receiver_port(const fake_receiver *r)
{
    return r->port;
}

void fake_receiver_refuse(fake_receiver *r, unsigned status, int count)
{
    pthread_mutex_lock(&r->lock);
    r->refuse_status = status;
    r->refuse_left = count;
    pthread_mutex_unlock(&r->lock);
}

int fake_receiver_count(fake_receiver *r)
{
    pthread_mutex_lock(&r->lock);
    int n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}

bool fake_receiver_wait(fake_receiver *r, int n, long timeout_ms)
{
    for (long waited = 0;; waited += 20) {
        if (fake_receiver_count(r) >= n)
            return true;
        if (waited >= timeout_ms)
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

bool fake_receiver_get(fake_receiver *r, int i, fake_received *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->lock);
    bool found = i >= 0 && i < r->count && i < FAKE_RECEIVER_MAX_KEPT;
    if (found) {
        const fake_received *k = &r->kept[i];
        out->method = dup_or_empty(k->method);
        out->path = dup_or_empty(k->path);
        out->query = json_deep_copy(k->query);
        out->headers = json_deep_copy(k->headers);
        out->len = k->body != NULL ? k->len : 0;
        out->body = malloc(out->len + 1);
        if (out->body != NULL) {
            memcpy(out->body, k->body != NULL ? k->body : "", out->len);
            out->body[out->len] = '\0';
        }
        out->status = k->status;
    }
    pthread_mutex_unlock(&r->lock);
    return found;
}

void fake_received_free(fake_received *req)
{
    free(req->method);
    free(req->path);
    json_decref(req->query);
    json_decref(req->headers);
    free(req->body);
    memset(req, 0, sizeof *req);
}

static const char *value_of(json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v != NULL ? v : "";
}

const char *fake_received_header(const fake_received *req, const char *name)
{
    char lower[128];
    lower_case(name, lower, sizeof lower);
    return value_of(req->headers, lower);
}

const char *fake_received_query(const fake_received *req, const char *name)
{
    return value_of(req->query, name);
}
