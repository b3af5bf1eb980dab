/* The bus client: a REQ socket dialed in the background to every instance
 * of the service, one nng context per call so that many calls are in
 * flight at once, a deadline on each, and no automatic resend (a call that
 * is not idempotent must not run twice because a reply was slow or its
 * instance died). */
#include "rpc.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "config.h"
#include "log.h"

struct bp_client {
    char service[32];
    nng_socket sock;
    atomic_int pipes; /* connections up right now, to every instance */
};

typedef struct {
    bp_client *client;
    nng_ctx ctx;
    nng_aio *aio;
    bool receiving;
    int64_t deadline_mono;
    bp_rpc_done_fn done;
    void *arg;
} pending;

static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    bp_client *c = arg;
    (void)p;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_fetch_add(&c->pipes, 1);
    else if (ev == NNG_PIPE_EV_REM_POST)
        atomic_fetch_sub(&c->pipes, 1);
}

int bp_rpc_default_timeout_ms(void)
{
    static atomic_int cached;
    int v = atomic_load(&cached);
    if (v == 0) {
        v = (int)bp_config_int("RPC_TIMEOUT_MS", 5000, 10, 600000);
        atomic_store(&cached, v);
    }
    return v;
}

int bp_client_open(const char *service, const char *url, bp_client **out)
{
    /* url may list several instances of the service: one dialer each, and
     * REQ sends every call to one connected pipe in turn. */
    char addr[BP_BUS_URLS_MAX][BP_BUS_URL_LEN];
    char why[BP_BUS_URL_LEN + 96];
    int n_addr = bp_config_split_urls(url, addr, BP_BUS_URLS_MAX, why, sizeof why);
    if (n_addr < 0) {
        bp_log_error("cannot dial %s at %s: %s", service, url, why);
        return BP_EINVAL;
    }
    bp_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return BP_ENOMEM;
    snprintf(c->service, sizeof c->service, "%s", service);
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        free(c);
        return BP_EIO;
    }
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, BP_RPC_MAX_MSG);
    /* No resend: a request whose instance dies fails (NNG_ECONNRESET, then
     * BP_EUNAVAIL) instead of running a second time on another instance. */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_event, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_event, c);
    for (int i = 0; i < n_addr; i++) {
        rv = nng_dial(c->sock, addr[i], NULL, NNG_FLAG_NONBLOCK);
        if (rv != 0) {
            bp_log_error("cannot dial %s at %s: %s", service, addr[i], nng_strerror(rv));
            nng_close(c->sock);
            free(c);
            return BP_EINVAL;
        }
    }
    *out = c;
    return 0;
}

int bp_client_dial(const char *service, bp_client **out)
{
    char url[BP_BUS_LIST_LEN];
    bp_config_rpc_url(service, url, sizeof url);
    int rv = bp_client_open(service, url, out);
    if (rv != 0)
        bp_log_error("cannot dial the %s daemon at %s", service, url);
    return rv;
}

void bp_client_close(bp_client *c)
{
    if (c == NULL)
        return;
    nng_close(c->sock);
    free(c);
}

const char *bp_client_service(const bp_client *c)
{
    return c->service;
}

bool bp_client_connected(const bp_client *c)
{
    return atomic_load(&((bp_client *)c)->pipes) > 0;
}

void bp_rpc_reply_free(Bp__Rpc__Reply *reply)
{
    if (reply != NULL)
        bp__rpc__reply__free_unpacked(reply, NULL);
}

static int map_nng_error(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case NNG_ETIMEDOUT:
        return BP_ETIMEDOUT;
    case NNG_ENOMEM:
        return BP_ENOMEM;
    default:
        return BP_EUNAVAIL;
    }
}

/* Runs the caller's callback and releases the call. The aio cannot be freed
 * from its own callback, so it is reaped. */
static void finish(pending *p, int rv, Bp__Rpc__Reply *reply)
{
    p->done(p->arg, rv, reply);
    nng_ctx_close(p->ctx);
    nng_aio_reap(p->aio);
    free(p);
}

static void call_cb(void *arg)
{
    pending *p = arg;
    int rv = nng_aio_result(p->aio);
    if (rv != 0) {
        if (!p->receiving)
            nng_msg_free(nng_aio_get_msg(p->aio));
        finish(p, map_nng_error(rv), NULL);
        return;
    }
    if (!p->receiving) {
        int64_t left = p->deadline_mono - bp_mono_ms();
        p->receiving = true;
        nng_aio_set_timeout(p->aio, left > 0 ? (nng_duration)left : 1);
        nng_ctx_recv(p->ctx, p->aio);
        return;
    }
    nng_msg *msg = nng_aio_get_msg(p->aio);
    Bp__Rpc__Reply *reply = bp__rpc__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    nng_msg_free(msg);
    finish(p, reply != NULL ? 0 : BP_EPROTO, reply);
}

/* Encodes the envelope for args into a new nng message. */
static nng_msg *encode_request(const bp_rpc_args *args, int timeout_ms)
{
    Bp__Rpc__Request env = BP__RPC__REQUEST__INIT;
    Bp__Rpc__Principal who = BP__RPC__PRINCIPAL__INIT;
    env.method = (char *)args->method;
    if (args->body != NULL) {
        env.has_body = 1;
        env.body.data = (uint8_t *)args->body;
        env.body.len = args->body_len;
    }
    if (args->user_id != NULL && *args->user_id != '\0') {
        who.user_id = (char *)args->user_id;
        who.role = (char *)args->role;
        who.session_id = (char *)args->session_id;
        env.principal = &who;
    }
    env.request_id = (char *)args->request_id;
    env.has_deadline_ms = 1;
    env.deadline_ms = bp_now_ms() + timeout_ms;
    env.token = (char *)args->token;
    env.client_ip = (char *)args->client_ip;
    env.user_agent = (char *)args->user_agent;
    env.idempotency_key = (char *)args->idempotency_key;

    size_t len = bp__rpc__request__get_packed_size(&env);
    if (len > BP_RPC_MAX_MSG)
        return NULL;
    nng_msg *msg;
    if (nng_msg_alloc(&msg, len) != 0)
        return NULL;
    bp__rpc__request__pack(&env, nng_msg_body(msg));
    return msg;
}

int bp_client_call_async(bp_client *c, const bp_rpc_args *args, bp_rpc_done_fn done, void *arg)
{
    if (!bp_client_connected(c)) {
        done(arg, BP_EUNAVAIL, NULL);
        return BP_EUNAVAIL;
    }
    int timeout = args->timeout_ms > 0 ? args->timeout_ms : bp_rpc_default_timeout_ms();
    pending *p = calloc(1, sizeof *p);
    nng_msg *msg = p != NULL ? encode_request(args, timeout) : NULL;
    if (msg == NULL) {
        free(p);
        done(arg, BP_ENOMEM, NULL);
        return BP_ENOMEM;
    }
    p->client = c;
    p->done = done;
    p->arg = arg;
    p->deadline_mono = bp_mono_ms() + timeout;
    if (nng_ctx_open(&p->ctx, c->sock) != 0) {
        nng_msg_free(msg);
        free(p);
        done(arg, BP_EUNAVAIL, NULL);
        return BP_EUNAVAIL;
    }
    if (nng_aio_alloc(&p->aio, call_cb, p) != 0) {
        nng_ctx_close(p->ctx);
        nng_msg_free(msg);
        free(p);
        done(arg, BP_ENOMEM, NULL);
        return BP_ENOMEM;
    }
    nng_aio_set_timeout(p->aio, timeout);
    nng_aio_set_msg(p->aio, msg);
    nng_ctx_send(p->ctx, p->aio);
    return 0;
}

/* A synchronous call waits on a condition variable for the async one. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool finished;
    int rv;
    Bp__Rpc__Reply *reply;
} waiter;

static void wake(void *arg, int rv, Bp__Rpc__Reply *reply)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->rv = rv;
    w->reply = reply;
    w->finished = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int bp_client_call(bp_client *c, const bp_rpc_args *args, Bp__Rpc__Reply **reply)
{
    waiter w = {.finished = false};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    bp_client_call_async(c, args, wake, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.finished)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    *reply = w.reply;
    return w.rv;
}

int bp_client_call_msg(bp_client *c, const bp_rpc_args *args, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                       int *status, char *errbuf, size_t errlen)
{
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return BP_ENOMEM;
    protobuf_c_message_pack(req, buf);
    bp_rpc_args a = *args;
    a.body = buf;
    a.body_len = n;
    Bp__Rpc__Reply *reply = NULL;
    int rv = bp_client_call(c, &a, &reply);
    free(buf);
    if (rv != 0)
        return rv;
    *status = reply->has_status ? reply->status : 500;
    *resp = NULL;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (*status >= 400) {
        if (errbuf != NULL && reply->error != NULL && reply->error->code != NULL)
            snprintf(errbuf, errlen, "%s", reply->error->code);
    } else {
        *resp = protobuf_c_message_unpack(resp_desc, NULL, reply->has_body ? reply->body.len : 0,
                                          reply->has_body ? reply->body.data : (const uint8_t *)"");
        if (*resp == NULL)
            rv = BP_EPROTO;
    }
    bp_rpc_reply_free(reply);
    return rv;
}
