/* The bus server: a REP socket served by two lanes of worker threads, each
 * worker with its own nng context, database and Redis connections. Calls
 * are dispatched by method name through the service's protobuf-c
 * descriptor. Slow methods are handed to a bounded slow lane so that they
 * never hold up cheap calls. */
#include "rpc.h"

#include <ctype.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bp.h"
#include "common.pb-c.h"
#include "config.h"
#include "db.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "storehealth.h"

/* Niceness of slow lane threads, relative to the fast lane's 0. */
#define SLOW_LANE_NICE 5

/* How often an idle worker wakes to notice a stop request. */
#define IDLE_WAKE_MS 250

typedef struct slow_item {
    struct slow_item *next;
    nng_ctx ctx;  /* the context the request arrived on; the reply uses it */
    nng_msg *msg; /* the request */
    int64_t queued_ms;
} slow_item;

typedef struct {
    const bp_handler *handler; /* NULL: built-in or not implemented */
    char labels[96];           /* method="Name" for metrics */
} method_entry;

typedef struct lane_worker {
    bp_server *srv;
    bp_worker w;
    pthread_t thread;
    bp_arena *arena;
    nng_aio *aio;      /* receives (and, on the slow lane, sends) */
    nng_aio *send_aio; /* fast lane: replies, not waited for */
} lane_worker;

struct bp_server {
    const bp_service *def;
    nng_socket sock;
    method_entry *methods; /* indexed like def->descriptor->methods */
    lane_worker *fast, *slow;
    int n_fast, n_slow;
    atomic_bool stopping;

    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    slow_item *qhead, *qtail;
    int qlen, qmax;
    bool slow_done; /* set under qlock when the slow lane must drain and exit */
};

struct bp_call {
    bp_server *srv;
    bp_worker *worker;
    bp_arena *arena;
    const Bp__Rpc__Request *env;
    const char *method;
    const char *user_id, *role, *session_id;
    int status;
    Bp__Rpc__Error *error;
};

/* ---- call accessors --------------------------------------------------- */

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

bp_worker *bp_call_worker(bp_call *call)
{
    return call->worker;
}

bp_arena *bp_call_arena(bp_call *call)
{
    return call->arena;
}

const char *bp_call_method(const bp_call *call)
{
    return or_empty(call->method);
}

const char *bp_call_request_id(const bp_call *call)
{
    return or_empty(call->env->request_id);
}

const char *bp_call_user_id(const bp_call *call)
{
    return or_empty(call->user_id);
}

const char *bp_call_role(const bp_call *call)
{
    return or_empty(call->role);
}

const char *bp_call_session_id(const bp_call *call)
{
    return or_empty(call->session_id);
}

const char *bp_call_client_ip(const bp_call *call)
{
    return or_empty(call->env->client_ip);
}

const char *bp_call_user_agent(const bp_call *call)
{
    return or_empty(call->env->user_agent);
}

const char *bp_call_idempotency_key(const bp_call *call)
{
    return or_empty(call->env->idempotency_key);
}

const char *bp_call_token(const bp_call *call)
{
    return or_empty(call->env->token);
}

int64_t bp_call_deadline_ms(const bp_call *call)
{
    return call->env->has_deadline_ms ? call->env->deadline_ms : 0;
}

void bp_call_set_principal(bp_call *call, const char *user_id, const char *role,
                           const char *session_id)
{
    call->user_id = bp_arena_strdup(call->arena, or_empty(user_id));
    call->role = bp_arena_strdup(call->arena, or_empty(role));
    call->session_id = bp_arena_strdup(call->arena, or_empty(session_id));
}

void bp_call_set_status(bp_call *call, int status)
{
    call->status = status;
}

int bp_call_fail(bp_call *call, int status, const char *code, const char *field, const char *fmt,
                 ...)
{
    Bp__Rpc__Error *e = bp_arena_alloc(call->arena, sizeof *e);
    if (e == NULL)
        return BP_ENOMEM;
    bp__rpc__error__init(e);
    e->code = bp_arena_strdup(call->arena, code);
    e->field = field != NULL ? bp_arena_strdup(call->arena, field) : NULL;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    e->message = bp_arena_strdup(call->arena, msg);
    call->status = status;
    call->error = e;
    return BP_EREPLIED;
}

int bp_call_fail_internal(bp_call *call, int rv)
{
    if (rv == BP_EIO || rv == BP_EUNAVAIL || rv == BP_ETIMEDOUT) {
        bp_log(BP_LOG_ERROR, bp_call_request_id(call), "%s: storage unavailable (%s)",
               bp_call_method(call), bp_strerror(rv));
        return bp_call_fail(call, 503, "unavailable", NULL,
                            "El servicio no está disponible en este momento; probá de nuevo en "
                            "unos minutos.");
    }
    bp_log(BP_LOG_ERROR, bp_call_request_id(call), "%s failed: %s", bp_call_method(call),
           bp_strerror(rv));
    return bp_call_fail(call, 500, "internal", NULL,
                        "Error interno; probá de nuevo en unos minutos.");
}

int bp_call_fail_invalid(bp_call *call, const char *field, const char *why)
{
    return bp_call_fail(call, 400, "invalid_request", field, "%s", why);
}

int bp_call_fail_not_found(bp_call *call, const char *what)
{
    return bp_call_fail(call, 404, "not_found", NULL, "%s no existe.", what);
}

int bp_call_fail_forbidden(bp_call *call)
{
    return bp_call_fail(call, 403, "forbidden", NULL, "No tenés permiso para hacer esto.");
}

bool bp_call_check_uuid(bp_call *call, const char *field, const char *s)
{
    if (s == NULL || *s == '\0') {
        bp_call_fail(call, 400, "invalid_request", field, "Falta el campo %s.", field);
        return false;
    }
    if (!bp_uuid_valid(s)) {
        bp_call_fail(call, 400, "invalid_request", field, "El campo %s no es un id válido.", field);
        return false;
    }
    return true;
}

char *bp_call_time(bp_call *call, int64_t epoch_ms, const char *tz)
{
    char buf[64];
    if (epoch_ms <= 0 || bp_time_format(epoch_ms, tz, buf, sizeof buf) != 0)
        return NULL;
    return bp_call_strdup(call, buf);
}

char *bp_call_strdup(bp_call *call, const char *s)
{
    return bp_arena_strdup(call->arena, s);
}

char *bp_call_printf(bp_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = bp_arena_alloc(call->arena, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

ProtobufCMessage *bp_call_message(bp_call *call, const ProtobufCMessageDescriptor *d)
{
    return bp_arena_message(call->arena, d);
}

/* ---- built-in methods ------------------------------------------------- */

static int builtin_health(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    Bp__Common__HealthReply *out = (Bp__Common__HealthReply *)resp;
    bp_worker *w = call->worker;
    if (w->db != NULL) {
        PGresult *r = bp_db_query(w->db, "SELECT 1", 0, NULL);
        bool ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok)
            return bp_call_fail(call, 503, "unavailable", NULL, "La base de datos no responde");
    }
    if (w->kv != NULL && bp_kv_ping(w->kv) != 0)
        return bp_call_fail(call, 503, "unavailable", NULL, "Redis no responde");
    out->status = "ok";
    return 0;
}

/* Ping: the receive loop and a worker answer, whatever PostgreSQL and Redis
 * do (a process whose store hangs is not wedged itself). */
static int builtin_ping(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    ((Bp__Common__HealthReply *)resp)->status = "ok";
    return 0;
}

static int builtin_metrics(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    Bp__Common__MetricsReply *out = (Bp__Common__MetricsReply *)resp;
    bp_storehealth_record(call->worker->db, call->worker->kv);
    char labels[96];
    snprintf(labels, sizeof labels, "service=\"%s\"", call->srv->def->name);
    char *text = bp_metrics_render(labels);
    if (text == NULL)
        return BP_ENOMEM;
    out->text = bp_arena_strdup(call->arena, text);
    free(text);
    return 0;
}

/* The service's business figures (bp_service.business_metrics), or empty
 * text for a service that has none. */
static int builtin_business_metrics(bp_call *call, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp)
{
    Bp__Common__MetricsReply *out = (Bp__Common__MetricsReply *)resp;
    bp_strbuf text = {0};
    if (call->srv->def->business_metrics != NULL) {
        int rv = call->srv->def->business_metrics(call, &text);
        if (rv != 0) {
            bp_strbuf_reset(&text);
            return rv == BP_EREPLIED ? rv : bp_call_fail_internal(call, rv);
        }
    }
    char *s = bp_strbuf_take(&text);
    out->text = s != NULL ? bp_arena_strdup(call->arena, s) : NULL;
    free(s);
    return out->text != NULL ? 0 : bp_call_fail_internal(call, BP_ENOMEM);
}

static const bp_handler builtin_handlers[] = {
    {"Health", builtin_health, 0},
    {"Ping", builtin_ping, 0},
    {"Metrics", builtin_metrics, 0},
    {"BusinessMetrics", builtin_business_metrics, 0},
};

/* ---- dispatch --------------------------------------------------------- */

/* Encodes the reply envelope for call into a new nng message. */
static nng_msg *encode_reply(bp_call *call, const ProtobufCMessage *resp)
{
    Bp__Rpc__Reply reply = BP__RPC__REPLY__INIT;
    reply.has_status = 1;
    reply.status = call->status;
    if (call->error != NULL) {
        reply.error = call->error;
    } else if (resp != NULL) {
        size_t n = protobuf_c_message_get_packed_size(resp);
        uint8_t *buf = bp_arena_alloc(call->arena, n ? n : 1);
        if (buf == NULL)
            return NULL;
        protobuf_c_message_pack(resp, buf);
        reply.has_body = 1;
        reply.body.data = buf;
        reply.body.len = n;
    }
    size_t len = bp__rpc__reply__get_packed_size(&reply);
    nng_msg *msg;
    if (nng_msg_alloc(&msg, len) != 0)
        return NULL;
    bp__rpc__reply__pack(&reply, nng_msg_body(msg));
    return msg;
}

static void count_call(bp_server *srv, const char *labels, int status, int64_t started)
{
    char series[160];
    snprintf(series, sizeof series, "%s,status=\"%d\"", labels, status);
    bp_counter_add(bp_metrics_counter("barberpro_rpc_requests_total",
                                      "Bus calls served, by method and status", series),
                   1);
    bp_histogram_observe(bp_metrics_histogram("barberpro_rpc_duration_seconds",
                                              "Time to serve a bus call", labels, NULL, 0),
                         (double)(bp_mono_ms() - started) / 1000.0);
    (void)srv;
}

/* Decodes the envelope of req. Returns the method index, or -1 with the
 * error already recorded in call. */
static int decode_request(bp_server *srv, bp_call *call, nng_msg *req)
{
    ProtobufCAllocator alloc;
    bp_arena_allocator(call->arena, &alloc);
    call->env = bp__rpc__request__unpack(&alloc, nng_msg_len(req), nng_msg_body(req));
    if (call->env == NULL) {
        static const Bp__Rpc__Request empty = BP__RPC__REQUEST__INIT;
        call->env = &empty;
        bp_call_fail(call, 400, "invalid_request", NULL, "Mensaje del bus ilegible");
        return -1;
    }
    call->method = call->env->method;
    if (call->env->principal != NULL)
        bp_call_set_principal(call, call->env->principal->user_id, call->env->principal->role,
                              call->env->principal->session_id);
    const ProtobufCServiceDescriptor *sd = srv->def->descriptor;
    for (unsigned i = 0; call->method != NULL && i < sd->n_methods; i++)
        if (strcmp(sd->methods[i].name, call->method) == 0)
            return (int)i;
    bp_call_fail(call, 501, "not_implemented", NULL, "Operación desconocida");
    return -1;
}

/* Runs the call whose envelope is already decoded; returns the reply. */
static nng_msg *run_method(bp_server *srv, bp_call *call, int idx)
{
    const ProtobufCMethodDescriptor *md = &srv->def->descriptor->methods[idx];
    const bp_handler *h = srv->methods[idx].handler;
    ProtobufCMessage *in = NULL, *out = NULL;

    if (call->env->has_deadline_ms && call->env->deadline_ms > 0 &&
        bp_now_ms() > call->env->deadline_ms) {
        bp_call_fail(call, 504, "timeout", NULL, "Se agotó el tiempo de espera");
        goto reply;
    }
    ProtobufCAllocator alloc;
    bp_arena_allocator(call->arena, &alloc);
    const ProtobufCBinaryData *body = &call->env->body;
    in = protobuf_c_message_unpack(md->input, &alloc, call->env->has_body ? body->len : 0,
                                   call->env->has_body ? body->data : (const uint8_t *)"");
    if (in == NULL) {
        bp_call_fail(call, 400, "invalid_request", NULL, "Solicitud ilegible");
        goto reply;
    }
    const char *token = call->env->token;
    if (token != NULL && *token != '\0' && srv->def->authenticate != NULL) {
        if (srv->def->authenticate(call, token) != 0) {
            if (call->error == NULL)
                bp_call_fail(call, 401, "unauthorized", NULL, "Sesión inválida o vencida");
            goto reply;
        }
    }
    if (h == NULL) {
        bp_call_fail(call, 501, "not_implemented", NULL, "Operación no disponible");
        goto reply;
    }
    if ((h->flags & BP_HANDLER_AUTH) && (call->user_id == NULL || *call->user_id == '\0')) {
        bp_call_fail(call, 401, "unauthorized", NULL, "Tenés que iniciar sesión");
        goto reply;
    }
    out = bp_arena_message(call->arena, md->output);
    if (out == NULL) {
        bp_call_fail(call, 500, "internal", NULL, "Error interno");
        goto reply;
    }
    int rv = h->fn(call, in, out);
    /* A handler that returned inside a transaction (its connection broke
     * mid-way, or a path forgot) must not leave the worker in it. */
    if (call->worker->db != NULL && bp_db_in_transaction(call->worker->db)) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "%s left a transaction open; rolled back",
               call->method);
        bp_db_rollback(call->worker->db);
    }
    if (rv != 0 && call->error == NULL) {
        bp_log(BP_LOG_ERROR, bp_call_request_id(call), "%s failed: %s", call->method,
               bp_strerror(rv));
        bp_call_fail(call, 500, "internal", NULL, "Error interno, probá de nuevo en unos minutos");
    }
reply:
    return encode_reply(call, call->error == NULL ? out : NULL);
}

static void call_init(bp_call *call, bp_server *srv, lane_worker *lw)
{
    memset(call, 0, sizeof *call);
    call->srv = srv;
    call->worker = &lw->w;
    call->arena = lw->arena;
    call->status = 200;
}

/* Sends reply on ctx using the worker's aio and waits for it. Takes
 * ownership of reply. */
static void send_reply(lane_worker *lw, nng_ctx ctx, nng_msg *reply)
{
    if (reply == NULL)
        return;
    nng_aio_set_timeout(lw->aio, NNG_DURATION_DEFAULT);
    nng_aio_set_msg(lw->aio, reply);
    nng_ctx_send(ctx, lw->aio);
    nng_aio_wait(lw->aio);
    if (nng_aio_result(lw->aio) != 0)
        nng_msg_free(nng_aio_get_msg(lw->aio));
}

/* Queues a slow call; returns false when the lane is full. */
static bool enqueue_slow(bp_server *srv, nng_ctx ctx, nng_msg *msg)
{
    slow_item *it = malloc(sizeof *it);
    if (it == NULL)
        return false;
    it->next = NULL;
    it->ctx = ctx;
    it->msg = msg;
    it->queued_ms = bp_mono_ms();
    pthread_mutex_lock(&srv->qlock);
    if (srv->qlen >= srv->qmax) {
        pthread_mutex_unlock(&srv->qlock);
        free(it);
        return false;
    }
    if (srv->qtail != NULL)
        srv->qtail->next = it;
    else
        srv->qhead = it;
    srv->qtail = it;
    srv->qlen++;
    pthread_cond_signal(&srv->qcond);
    pthread_mutex_unlock(&srv->qlock);
    return true;
}

/* Completion of a fast lane reply: nobody waits for it (that would cost a
 * thread hand-off per call), so a reply that could not be sent is freed
 * here; the caller's deadline covers it. */
static void reply_sent(void *arg)
{
    nng_aio *aio = *(nng_aio **)arg;
    if (nng_aio_result(aio) != 0)
        nng_msg_free(nng_aio_get_msg(aio));
}

/* Starts sending reply on ctx without waiting. Takes ownership of reply. */
static void send_reply_async(lane_worker *lw, nng_ctx ctx, nng_msg *reply)
{
    if (reply == NULL)
        return;
    nng_aio_wait(lw->send_aio); /* the previous reply, long gone in practice */
    nng_aio_set_timeout(lw->send_aio, NNG_DURATION_DEFAULT);
    nng_aio_set_msg(lw->send_aio, reply);
    nng_ctx_send(ctx, lw->send_aio);
}

static void *fast_main(void *arg)
{
    lane_worker *lw = arg;
    bp_server *srv = lw->srv;
    nng_ctx ctx;
    if (nng_ctx_open(&ctx, srv->sock) != 0) {
        bp_log_error("cannot open a bus context");
        return NULL;
    }
    while (!atomic_load(&srv->stopping)) {
        nng_aio_set_timeout(lw->aio, IDLE_WAKE_MS);
        nng_ctx_recv(ctx, lw->aio);
        nng_aio_wait(lw->aio);
        int rv = nng_aio_result(lw->aio);
        if (rv == NNG_ETIMEDOUT)
            continue;
        if (rv != 0)
            break;
        nng_msg *req = nng_aio_get_msg(lw->aio);
        int64_t started = bp_mono_ms();
        bp_call call;
        call_init(&call, srv, lw);
        int idx = decode_request(srv, &call, req);
        const bp_handler *h = idx >= 0 ? srv->methods[idx].handler : NULL;
        if (h != NULL && (h->flags & BP_HANDLER_SLOW) && srv->n_slow > 0) {
            /* The slow lane replies on this context; take a fresh one. The
             * context's previous reply must be out before it changes hands. */
            nng_aio_wait(lw->send_aio);
            nng_ctx next;
            if (nng_ctx_open(&next, srv->sock) == 0) {
                if (enqueue_slow(srv, ctx, req)) {
                    ctx = next;
                    bp_arena_reset(lw->arena);
                    continue;
                }
                nng_ctx_close(next);
            }
            bp_call_fail(&call, 503, "unavailable", NULL,
                         "El servicio está ocupado, probá de nuevo en unos segundos");
        }
        nng_msg *reply =
            call.error != NULL ? encode_reply(&call, NULL) : run_method(srv, &call, idx);
        count_call(srv, idx >= 0 ? srv->methods[idx].labels : "method=\"unknown\"", call.status,
                   started);
        nng_msg_free(req);
        send_reply_async(lw, ctx, reply);
        bp_arena_reset(lw->arena);
    }
    /* Closing the context would abort a reply still on its way. */
    nng_aio_wait(lw->send_aio);
    nng_ctx_close(ctx);
    return NULL;
}

static void *slow_main(void *arg)
{
    lane_worker *lw = arg;
    bp_server *srv = lw->srv;
    /* Slow calls burn whole cores (bcrypt); at a lower priority they yield
     * the CPU to the cheap calls of the fast lane whenever both want it. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), SLOW_LANE_NICE) != 0)
        bp_log_warn("cannot lower the priority of the slow lane");
    for (;;) {
        pthread_mutex_lock(&srv->qlock);
        while (srv->qhead == NULL && !srv->slow_done)
            pthread_cond_wait(&srv->qcond, &srv->qlock);
        slow_item *it = srv->qhead;
        if (it == NULL) {
            pthread_mutex_unlock(&srv->qlock);
            break;
        }
        srv->qhead = it->next;
        if (srv->qhead == NULL)
            srv->qtail = NULL;
        srv->qlen--;
        pthread_mutex_unlock(&srv->qlock);

        bp_call call;
        call_init(&call, srv, lw);
        int idx = decode_request(srv, &call, it->msg);
        nng_msg *reply =
            call.error != NULL ? encode_reply(&call, NULL) : run_method(srv, &call, idx);
        count_call(srv, idx >= 0 ? srv->methods[idx].labels : "method=\"unknown\"", call.status,
                   it->queued_ms);
        nng_msg_free(it->msg);
        send_reply(lw, it->ctx, reply);
        nng_ctx_close(it->ctx);
        free(it);
        bp_arena_reset(lw->arena);
    }
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

static int worker_open(bp_server *srv, lane_worker *lw, int index, bool slow)
{
    const bp_service *def = srv->def;
    lw->srv = srv;
    lw->w.index = index;
    lw->w.slow_lane = slow;
    lw->w.app = def->app;
    lw->arena = bp_arena_new();
    if (lw->arena == NULL || nng_aio_alloc(&lw->aio, NULL, NULL) != 0 ||
        nng_aio_alloc(&lw->send_aio, reply_sent, &lw->send_aio) != 0)
        return BP_ENOMEM;
    if (def->use_db && bp_db_open(bp_config_required("DATABASE_URL"), &lw->w.db) != 0)
        return BP_EIO;
    if (def->use_kv && bp_kv_open(bp_config_required("REDIS_URL"), &lw->w.kv) != 0)
        return BP_EIO;
    if (def->worker_init != NULL && def->worker_init(&lw->w) != 0)
        return BP_EIO;
    return 0;
}

static void worker_close(bp_server *srv, lane_worker *lw)
{
    if (lw->srv == NULL)
        return;
    if (srv->def->worker_fini != NULL)
        srv->def->worker_fini(&lw->w);
    bp_db_close(lw->w.db);
    bp_kv_close(lw->w.kv);
    if (lw->aio != NULL)
        nng_aio_free(lw->aio);
    if (lw->send_aio != NULL)
        nng_aio_free(lw->send_aio);
    bp_arena_free(lw->arena);
}

static int default_workers(int configured, int per_core, int minimum)
{
    if (configured > 0)
        return configured;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(cores > 0 ? cores : 1) * per_core;
    return n < minimum ? minimum : n;
}

static bool has_slow_methods(const bp_service *def)
{
    for (size_t i = 0; i < def->n_handlers; i++)
        if (def->handlers[i].flags & BP_HANDLER_SLOW)
            return true;
    return false;
}

int bp_server_start(const bp_service *def, const char *url, bp_server **out)
{
    bp_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return BP_ENOMEM;
    srv->def = def;
    pthread_mutex_init(&srv->qlock, NULL);
    pthread_cond_init(&srv->qcond, NULL);
    srv->qmax = def->slow_queue_max > 0 ? def->slow_queue_max : 256;

    const ProtobufCServiceDescriptor *sd = def->descriptor;
    srv->methods = calloc(sd->n_methods, sizeof *srv->methods);
    if (srv->methods == NULL) {
        free(srv);
        return BP_ENOMEM;
    }
    for (unsigned i = 0; i < sd->n_methods; i++) {
        method_entry *m = &srv->methods[i];
        snprintf(m->labels, sizeof m->labels, "method=\"%s\"", sd->methods[i].name);
        for (size_t k = 0; k < def->n_handlers && m->handler == NULL; k++)
            if (strcmp(def->handlers[k].method, sd->methods[i].name) == 0)
                m->handler = &def->handlers[k];
        for (size_t k = 0; k < BP_COUNTOF(builtin_handlers) && m->handler == NULL; k++)
            if (strcmp(builtin_handlers[k].method, sd->methods[i].name) == 0)
                m->handler = &builtin_handlers[k];
    }
    for (size_t k = 0; k < def->n_handlers; k++)
        if (protobuf_c_service_descriptor_get_method_by_name(sd, def->handlers[k].method) == NULL)
            bp_log_warn("handler %s is not a method of %s", def->handlers[k].method, sd->name);

    int rv;
    if ((rv = nng_rep0_open(&srv->sock)) != 0) {
        bp_log_error("cannot open the bus socket: %s", nng_strerror(rv));
        goto fail;
    }
    nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, BP_RPC_MAX_MSG);
    if ((rv = nng_listen(srv->sock, url, NULL, 0)) != 0) {
        bp_log_error("cannot listen on %s: %s", url, nng_strerror(rv));
        goto fail;
    }

    /* <SERVICE>_WORKERS overrides the fast lane's size: a daemon that mostly
     * waits on PostgreSQL serves more calls with more workers. */
    char var[64];
    snprintf(var, sizeof var, "%s_WORKERS", def->name);
    for (char *c = var; *c != '\0'; c++)
        *c = (char)toupper((unsigned char)*c);
    int configured = (int)bp_config_int(var, def->workers, 0, 256);
    srv->n_fast = default_workers(configured, 2, 4);
    srv->n_slow = has_slow_methods(def) ? default_workers(def->slow_workers, 1, 1) : 0;
    srv->fast = calloc((size_t)srv->n_fast, sizeof *srv->fast);
    srv->slow = calloc((size_t)(srv->n_slow ? srv->n_slow : 1), sizeof *srv->slow);
    if (srv->fast == NULL || srv->slow == NULL)
        goto fail;
    for (int i = 0; i < srv->n_fast; i++)
        if (worker_open(srv, &srv->fast[i], i, false) != 0)
            goto fail;
    for (int i = 0; i < srv->n_slow; i++)
        if (worker_open(srv, &srv->slow[i], i, true) != 0)
            goto fail;
    for (int i = 0; i < srv->n_slow; i++)
        pthread_create(&srv->slow[i].thread, NULL, slow_main, &srv->slow[i]);
    for (int i = 0; i < srv->n_fast; i++)
        pthread_create(&srv->fast[i].thread, NULL, fast_main, &srv->fast[i]);
    bp_log_info("%s serving on %s with %d workers (%d on the slow lane)", def->name, url,
                srv->n_fast, srv->n_slow);
    *out = srv;
    return 0;

fail:
    for (int i = 0; srv->fast != NULL && i < srv->n_fast; i++)
        worker_close(srv, &srv->fast[i]);
    for (int i = 0; srv->slow != NULL && i < srv->n_slow; i++)
        worker_close(srv, &srv->slow[i]);
    nng_close(srv->sock);
    free(srv->fast);
    free(srv->slow);
    free(srv->methods);
    free(srv);
    return BP_EIO;
}

void bp_server_stop(bp_server *srv)
{
    if (srv == NULL)
        return;
    /* Fast workers finish the call in hand and notice the flag within
     * IDLE_WAKE_MS; the slow lane drains its queue before it exits. */
    atomic_store(&srv->stopping, true);
    for (int i = 0; i < srv->n_fast; i++)
        pthread_join(srv->fast[i].thread, NULL);
    pthread_mutex_lock(&srv->qlock);
    srv->slow_done = true;
    pthread_cond_broadcast(&srv->qcond);
    pthread_mutex_unlock(&srv->qlock);
    for (int i = 0; i < srv->n_slow; i++)
        pthread_join(srv->slow[i].thread, NULL);
    nng_close(srv->sock);
    for (int i = 0; i < srv->n_fast; i++)
        worker_close(srv, &srv->fast[i]);
    for (int i = 0; i < srv->n_slow; i++)
        worker_close(srv, &srv->slow[i]);
    free(srv->fast);
    free(srv->slow);
    free(srv->methods);
    pthread_mutex_destroy(&srv->qlock);
    pthread_cond_destroy(&srv->qcond);
    free(srv);
}
