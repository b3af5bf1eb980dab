/* Bus routes. The JSON body, then the query and the path parameters fill
 * the RPC's input message (descriptor-driven, bp_pbjson); the reply's
 * status is the HTTP status, its body the output message as JSON or its
 * error the API error body. A route whose RPC takes or returns the raw
 * HTTP messages of bp.common (webhooks) skips the JSON on that side
 * (gw_raw.h); the descriptors decide, never the route.
 *
 * Who checks the bearer token: the auth daemon verifies tokens itself, so
 * for its routes the token travels in the envelope (one hop). For another
 * service's route that wants a user, auth.Authenticate runs first and the
 * target call carries the principal it returns (two hops, chained in the
 * callbacks; the HTTP thread is free throughout). Both hops share one
 * deadline, RPC_TIMEOUT_MS from the start of the first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.pb-c.h"
#include "bp.h"
#include "log.h"
#include "pbjson.h"
#include "gw_proxy.h"
#include "gw_raw.h"
#include "gw_respond.h"
#include "gw_server.h"
#include "gw_services.h"

#define TOKEN_MAX           4096
#define IDEMPOTENCY_KEY_MAX 128

const char *gw_bearer_token(const char *value)
{
    if (value == NULL || strncasecmp(value, "Bearer ", 7) != 0)
        return NULL;
    const char *t = value + 7;
    while (*t == ' ')
        t++;
    size_t n = 0;
    for (; t[n] != '\0'; n++) {
        char c = t[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
        if (!ok || n == TOKEN_MAX)
            return NULL;
    }
    return n > 0 ? t : NULL;
}

static bool idempotency_key_valid(const char *k)
{
    size_t n = 0;
    for (; k[n] != '\0'; n++)
        if (n == IDEMPOTENCY_KEY_MAX || k[n] < 0x21 || k[n] > 0x7e)
            return false;
    return n > 0;
}

/* An input problem of the client: 400 invalid_request naming the field. */
static enum MHD_Result invalid(gw_request *req, const bp_pbjson_error *err, const char *field)
{
    const char *f = err->field[0] != '\0' ? err->field : field;
    const char *m = err->message[0] != '\0' ? err->message : NULL;
    return gw_answer_error(req, 400, "invalid_request", m, f);
}

/* The input of a raw route: the request as it came, body unparsed. Returns
 * true, or false after answering (*rv holds the MHD result). */
static bool build_raw_input(gw_request *req, enum MHD_Result *rv)
{
    gw_raw_header headers[GW_MAX_HEADERS];
    size_t n_headers = 0;
    /* server.c answered 431 above GW_MAX_HEADERS already. */
    if (gw_raw_headers(req->conn, headers, BP_COUNTOF(headers), &n_headers) != 0) {
        *rv = gw_answer_error(req, 431, NULL, NULL, NULL);
        return false;
    }
    const char *query = memchr(req->target, '?', req->target_len);
    gw_raw_request in = {
        .method = req->method,
        .path = req->target,
        .path_len = query != NULL ? (size_t)(query - req->target) : req->target_len,
        .query = req->query,
        .headers = headers,
        .n_headers = n_headers,
        .params = req->match.params,
        .n_params = req->match.n_params,
        .body = (const uint8_t *)req->body,
        .body_len = req->body_len,
    };
    int r = gw_raw_request_pack(&in, &req->proxy.input, &req->proxy.input_len);
    if (r == BP_ETOOBIG) {
        *rv = gw_answer_error(req, 413, NULL, NULL, NULL);
        return false;
    }
    if (r != 0) {
        bp_log(BP_LOG_ERROR, req->request_id, "building the input of %s: %s", req->proxy.rpc->name,
               bp_strerror(r));
        *rv = gw_answer_error(req, 500, NULL, NULL, NULL);
        return false;
    }
    return true;
}

/* Builds and packs the RPC's input message into req->proxy.input. Returns
 * true, or false after answering (*rv holds the MHD result). */
static bool build_input(gw_request *req, enum MHD_Result *rv)
{
    if (gw_raw_input(req->proxy.rpc))
        return build_raw_input(req, rv);

    const ProtobufCMessageDescriptor *d = req->proxy.rpc->input;
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err;
    memset(&err, 0, sizeof err);
    if (req->body_len > 0) {
        json_error_t jerr;
        json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL || !json_is_object(doc)) {
            json_decref(doc);
            *rv = gw_answer_error(req, 400, "invalid_request",
                                  "El cuerpo tiene que ser un objeto JSON válido.", NULL);
            return false;
        }
        int r = bp_pbjson_decode(d, doc, &msg, &err);
        json_decref(doc);
        if (r == BP_EINVAL) {
            *rv = invalid(req, &err, NULL);
            return false;
        }
        if (r != 0)
            goto internal;
    } else {
        msg = bp_pbjson_new(d);
        if (msg == NULL)
            goto internal;
    }

    /* Query first, path last: a path parameter is never overridden. */
    for (size_t i = 0; req->query != NULL && i < req->query->n; i++) {
        const gw_query_param *p = &req->query->params[i];
        if (bp_pbjson_set_text(msg, p->name, p->value, &err) != 0) {
            bp_pbjson_free(msg);
            *rv = invalid(req, &err, p->name);
            return false;
        }
    }
    for (size_t i = 0; i < req->match.n_params; i++) {
        const gw_path_param *p = &req->match.params[i];
        if (bp_pbjson_set_text(msg, p->name, p->value, &err) != 0) {
            bp_pbjson_free(msg);
            *rv = invalid(req, &err, p->name);
            return false;
        }
    }

    size_t n = protobuf_c_message_get_packed_size(msg);
    req->proxy.input = malloc(n > 0 ? n : 1);
    if (req->proxy.input == NULL)
        goto internal;
    req->proxy.input_len = protobuf_c_message_pack(msg, req->proxy.input);
    bp_pbjson_free(msg);
    return true;

internal:
    bp_pbjson_free(msg);
    bp_log(BP_LOG_ERROR, req->request_id, "out of memory building the input of %s",
           req->proxy.rpc->name);
    *rv = gw_answer_error(req, 500, NULL, NULL, NULL);
    return false;
}

/* The envelope fields every hop carries. Returns false when the request's
 * deadline has already passed. */
static bool hop_args(gw_request *req, bp_rpc_args *a, const char *method, const uint8_t *body,
                     size_t len)
{
    memset(a, 0, sizeof *a);
    int64_t left = req->proxy.deadline_ms - bp_mono_ms();
    if (left <= 0)
        return false;
    a->method = method;
    a->body = body;
    a->body_len = len;
    a->request_id = req->request_id;
    a->client_ip = req->client_ip;
    a->user_agent = req->user_agent[0] != '\0' ? req->user_agent : NULL;
    a->idempotency_key = req->idempotency_key;
    a->timeout_ms = (int)left;
    return true;
}

/* The target call finished: keep the outcome for proxy_finish. */
static void on_reply(void *arg, int rv, Bp__Rpc__Reply *reply)
{
    gw_request *req = arg;
    req->proxy.rv = rv;
    req->proxy.reply = reply;
    gw_request_resume(req); /* last touch of req */
}

static void copy_principal(char *out, const char *s, bool *ok)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n >= GW_PRINCIPAL_MAX) {
        *ok = false;
        n = 0;
    }
    memcpy(out, s != NULL ? s : "", n);
    out[n] = '\0';
}

/* The verdict of gw_rate_admit: kept for the headers, then the request
 * goes on (rate_next) or resumes to be answered. */
static void on_rate_verdict(void *arg, const gw_rate_result *r)
{
    gw_request *req = arg;
    req->rate = *r;
    void (*next)(gw_request * req) = req->proxy.rate_next;
    if (!r->allowed || next == NULL)
        gw_request_resume(req); /* last touch of req */
    else
        next(req);
}

void gw_rate_admit(gw_request *req, const char *user_id, void (*next)(gw_request *req))
{
    char subject[GW_ADDR_MAX + GW_PRINCIPAL_MAX];
    if (user_id != NULL)
        snprintf(subject, sizeof subject, "user:%s", user_id);
    else
        gw_address_subject(req->client_ip, subject, sizeof subject);
    req->proxy.rate_next = next;
    gw_ratelimit_check_async(req->match.route->rate, subject, on_rate_verdict, req);
}

/* The target call. It carries the principal when auth verified the token
 * first; the token itself travels only to auth (which checks tokens
 * itself) or when nobody verified it yet. */
static void call_target(gw_request *req)
{
    bp_rpc_args a;
    if (!hop_args(req, &a, req->proxy.rpc->name, req->proxy.input, req->proxy.input_len)) {
        req->proxy.rv = BP_ETIMEDOUT;
        gw_request_resume(req);
        return;
    }
    bool known = req->proxy.user_id[0] != '\0';
    if (known) {
        a.user_id = req->proxy.user_id;
        a.role = req->proxy.role[0] != '\0' ? req->proxy.role : NULL;
        a.session_id = req->proxy.session_id[0] != '\0' ? req->proxy.session_id : NULL;
    }
    if (req->match.route->auth != GW_AUTH_PUBLIC &&
        (!known || strcmp(req->match.route->service, "auth") == 0))
        a.token = req->token;
    /* On failure to start, on_reply has already run and resumed. */
    bp_client_call_async(req->proxy.client, &a, on_reply, req);
}

/* auth.Authenticate finished: on success, the principal is kept, the
 * caller's rate limit counted, and then() runs (or the request resumes);
 * otherwise its outcome is the answer (401 for a bad token, which still
 * counts against the client's address). */
static void on_authenticated(void *arg, int rv, Bp__Rpc__Reply *reply)
{
    gw_request *req = arg;
    if (rv != 0 || reply == NULL || !reply->has_status || reply->status >= 300 ||
        reply->status < 200) {
        bool refused = rv == 0 && reply != NULL && reply->has_status && reply->status == 401;
        req->proxy.rv = rv;
        req->proxy.reply = reply;
        if (refused)
            gw_rate_admit(req, NULL, NULL); /* resumes with the verdict */
        else
            gw_request_resume(req);
        return;
    }
    Bp__Auth__AuthenticateReply *who = bp__auth__authenticate_reply__unpack(
        NULL, reply->has_body ? reply->body.len : 0,
        reply->has_body ? reply->body.data : (const uint8_t *)"");
    bp_rpc_reply_free(reply);
    bool ok = who != NULL && who->user_id != NULL && who->user_id[0] != '\0';
    if (ok) {
        copy_principal(req->proxy.user_id, who->user_id, &ok);
        copy_principal(req->proxy.role, who->role, &ok);
        copy_principal(req->proxy.session_id, who->session_id, &ok);
    }
    if (who != NULL)
        bp__auth__authenticate_reply__free_unpacked(who, NULL);
    if (!ok) {
        req->proxy.rv = BP_EPROTO;
        gw_request_resume(req);
        return;
    }
    req->proxy.authenticating = false;
    gw_rate_admit(req, req->proxy.user_id, req->proxy.then);
}

bool gw_authenticate(gw_request *req, void (*then)(gw_request *req))
{
    const gw_service *auth = gw_service_find("auth");
    if (auth == NULL || auth->client == NULL || req->token == NULL)
        return false;
    if (req->proxy.deadline_ms == 0)
        req->proxy.deadline_ms = bp_mono_ms() + gw_server_config(req->srv)->rpc_timeout_ms;
    Bp__Auth__AuthenticateRequest in = BP__AUTH__AUTHENTICATE_REQUEST__INIT;
    in.token = (char *)req->token;
    size_t n = bp__auth__authenticate_request__get_packed_size(&in);
    uint8_t *packed = malloc(n > 0 ? n : 1);
    if (packed == NULL)
        return false;
    bp__auth__authenticate_request__pack(&in, packed);
    bp_rpc_args a;
    hop_args(req, &a, "Authenticate", packed, n);
    req->proxy.authenticating = true;
    req->proxy.then = then;
    if (!gw_request_suspend(req)) {
        free(packed);
        return false;
    }
    /* The call encodes its arguments before it returns; whatever happens,
     * its callback resumes the request. Nothing below may touch req. */
    bp_client_call_async(auth->client, &a, on_authenticated, req);
    free(packed);
    return true;
}

static enum MHD_Result proxy_start(gw_request *req)
{
    const gw_route *route = req->match.route;
    const gw_service *svc = gw_service_find(route->service);
    enum MHD_Result rv = MHD_YES;

    req->proxy.rpc = gw_route_rpc(req->match.index);
    req->proxy.client = svc != NULL ? svc->client : NULL;
    if (req->proxy.rpc == NULL)
        return gw_answer_error(req, 500, NULL, NULL, NULL);

    if (route->auth != GW_AUTH_PUBLIC && req->token_invalid)
        return gw_answer_error(req, 401, "unauthorized",
                               "El encabezado Authorization tiene que ser \"Bearer <token>\".",
                               NULL);
    if (route->auth == GW_AUTH_USER && req->token == NULL)
        return gw_answer_error(req, 401, NULL, NULL, NULL);
    if (req->idempotency_key != NULL && !idempotency_key_valid(req->idempotency_key))
        return gw_answer_error(req, 400, "invalid_request",
                               "Idempotency-Key tiene que tener de 1 a 128 caracteres visibles.",
                               "Idempotency-Key");

    /* The caller decides the rate-limit bucket (the user's, else the
     * address's), so while the limiter is on a token is verified first,
     * even for auth's own routes, which otherwise check it themselves. */
    const char *token = route->auth != GW_AUTH_PUBLIC ? req->token : NULL;
    bool to_auth = strcmp(route->service, "auth") == 0;
    bool verify_first = token != NULL && (!to_auth || gw_ratelimit_applies(route->rate));
    if (!build_input(req, &rv))
        return rv;
    if (req->proxy.client == NULL)
        return gw_answer_error(req, 503, NULL, NULL, NULL);

    req->proxy.deadline_ms = bp_mono_ms() + gw_server_config(req->srv)->rpc_timeout_ms;
    if (verify_first)
        return gw_authenticate(req, call_target) ? MHD_YES
                                                 : gw_answer_error(req, 503, NULL, NULL, NULL);
    if (!gw_request_suspend(req))
        return gw_answer_error(req, 503, NULL, NULL, NULL);
    /* The address's rate limit, then the call; whatever happens, a callback
     * resumes the request: hands off. */
    gw_rate_admit(req, NULL, call_target);
    return MHD_YES;
}

/* A string from a daemon, if usable in the JSON answer. */
static const char *usable(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= 1024 && gw_utf8_valid(s, strlen(s)) ? s : NULL;
}

/* A raw route's success: the HttpReply's bytes and content type as they
 * are. */
static enum MHD_Result answer_raw(gw_request *req, int status, const Bp__Rpc__Reply *reply,
                                  const char *service, const char *rpc)
{
    gw_raw_answer a;
    int r = gw_raw_reply_decode(reply->has_body ? reply->body.data : NULL,
                                reply->has_body ? reply->body.len : 0, &a);
    if (r != 0) {
        bp_log(BP_LOG_ERROR, req->request_id, "%s.%s: unusable HttpReply: %s", service, rpc,
               bp_strerror(r));
        return gw_answer_error(req, r == BP_ENOMEM ? 500 : 502, NULL, NULL, NULL);
    }
    return gw_answer(req, status, a.body, a.body_len, a.content_type);
}

bool gw_call_failed(gw_request *req, enum MHD_Result *answer)
{
    const char *service = req->proxy.authenticating ? "auth" : req->match.route->service;
    const char *rpc = req->proxy.authenticating ? "Authenticate"
                      : req->proxy.rpc != NULL  ? req->proxy.rpc->name
                                                : "?";
    Bp__Rpc__Reply *reply = req->proxy.reply;

    if (req->rate.checked && !req->rate.allowed) {
        *answer = gw_answer_error(req, 429, NULL, NULL, NULL);
        return true;
    }
    switch (req->proxy.rv) {
    case 0:
        break;
    case BP_EUNAVAIL:
        bp_log(BP_LOG_WARN, req->request_id,
               "%s.%s: no instance connected, or the one called died mid-call", service, rpc);
        *answer = gw_answer_error(req, 503, NULL, NULL, NULL);
        return true;
    case BP_ETIMEDOUT:
        bp_log(BP_LOG_WARN, req->request_id, "%s.%s: deadline passed", service, rpc);
        *answer = gw_answer_error(req, 504, NULL, NULL, NULL);
        return true;
    default:
        bp_log(BP_LOG_ERROR, req->request_id, "%s.%s: %s", service, rpc,
               bp_strerror(req->proxy.rv));
        *answer = gw_answer_error(req, req->proxy.rv == BP_ENOMEM ? 500 : 502, NULL, NULL, NULL);
        return true;
    }
    /* After a good Authenticate with nothing chained, there is no reply. */
    if (reply == NULL && !req->proxy.authenticating && req->proxy.user_id[0] != '\0' &&
        req->proxy.then == NULL)
        return false;
    int status = reply != NULL && reply->has_status ? reply->status : 0;
    if (status < 200 || status > 599) {
        bp_log(BP_LOG_ERROR, req->request_id, "%s.%s: reply status %d", service, rpc, status);
        *answer = gw_answer_error(req, 502, NULL, NULL, NULL);
        return true;
    }
    if (status >= 400) {
        const Bp__Rpc__Error *e = reply->error;
        const char *code = e != NULL ? usable(e->code) : NULL;
        const char *message = e != NULL ? usable(e->message) : NULL;
        const char *field = e != NULL ? usable(e->field) : NULL;
        *answer = gw_answer_error(req, status, code, message, field);
        return true;
    }
    return false;
}

static enum MHD_Result proxy_finish(gw_request *req)
{
    enum MHD_Result answer;
    if (gw_call_failed(req, &answer))
        return answer;
    const char *service = req->match.route->service;
    const char *rpc = req->proxy.rpc->name;
    Bp__Rpc__Reply *reply = req->proxy.reply;
    int status = reply->status;
    if (status == 204)
        return gw_answer(req, 204, NULL, 0, NULL);
    if (gw_raw_output(req->proxy.rpc))
        return answer_raw(req, status, reply, service, rpc);

    ProtobufCMessage *out = protobuf_c_message_unpack(
        req->proxy.rpc->output, NULL, reply->has_body ? reply->body.len : 0,
        reply->has_body ? reply->body.data : (const uint8_t *)"");
    if (out == NULL) {
        bp_log(BP_LOG_ERROR, req->request_id, "%s.%s: undecodable %s", service, rpc,
               req->proxy.rpc->output->name);
        return gw_answer_error(req, 502, NULL, NULL, NULL);
    }
    json_t *doc = bp_pbjson_encode(out);
    protobuf_c_message_free_unpacked(out, NULL);
    return gw_answer_json(req, status, doc);
}

const gw_op gw_proxy_op = {.start = proxy_start, .finish = proxy_finish};
