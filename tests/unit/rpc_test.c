/* The bus, end to end in one process: dispatch by name, errors, deadlines,
 * an unreachable service, malformed input and the slow lane. */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bp.h"
#include "common.pb-c.h"
#include "prom.h"
#include "rpc.h"
#include "rpctest.pb-c.h"

static atomic_int slow_running;

static int do_echo(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const Bp__Rpctest__Msg *in = (const Bp__Rpctest__Msg *)req;
    Bp__Rpctest__Msg *out = (Bp__Rpctest__Msg *)resp;
    out->text = bp_call_printf(call, "echo:%s", in->text ? in->text : "");
    return 0;
}

static int do_slow(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const Bp__Rpctest__Msg *in = (const Bp__Rpctest__Msg *)req;
    atomic_fetch_add(&slow_running, 1);
    usleep((useconds_t)in->sleep_ms * 1000);
    atomic_fetch_sub(&slow_running, 1);
    return do_echo(call, req, resp);
}

static int do_fail(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    return bp_call_fail(call, 409, "slot_taken", "starts_at", "Ese horario ya está tomado");
}

static int do_whoami(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    Bp__Rpctest__Msg *out = (Bp__Rpctest__Msg *)resp;
    out->text = bp_call_printf(call, "%s/%s", bp_call_user_id(call), bp_call_role(call));
    return 0;
}

static int authenticate(bp_call *call, const char *token)
{
    if (strcmp(token, "good") != 0)
        return bp_call_fail(call, 401, "unauthorized", NULL, "Token inválido");
    bp_call_set_principal(call, "u-1", "client", "s-1");
    return 0;
}

/* The service's business figures: a hook that writes what the built-in
 * BusinessMetrics answers. */
static int business_hook(bp_call *call, bp_strbuf *out)
{
    bp_prom_family(out, "rpctest_business_things", "gauge", "Things counted.");
    const char *labels[] = {"method", bp_call_method(call), NULL};
    bp_prom_int(out, "rpctest_business_things", labels, 7);
    return 0;
}

static const bp_handler handlers[] = {
    {"Echo", do_echo, 0},
    {"Slow", do_slow, BP_HANDLER_SLOW},
    {"Fail", do_fail, 0},
    {"Whoami", do_whoami, BP_HANDLER_AUTH},
};

static const bp_service service = {
    .name = "rpctest",
    .descriptor = &bp__rpctest__echo__descriptor,
    .handlers = handlers,
    .n_handlers = BP_COUNTOF(handlers),
    .workers = 4,
    .slow_workers = 1,
    .slow_queue_max = 2,
    .authenticate = authenticate,
    .business_metrics = business_hook,
};

static bp_server *srv;
static bp_client *cli;
static char url[128];

static void start(void)
{
    snprintf(url, sizeof url, "ipc:///tmp/bp-rpc-test-%d.ipc", (int)getpid());
    cr_assert_eq(bp_server_start(&service, url, &srv), 0);
    cr_assert_eq(bp_client_open("rpctest", url, &cli), 0);
    for (int i = 0; i < 200 && !bp_client_connected(cli); i++)
        usleep(10000);
    cr_assert(bp_client_connected(cli), "client never connected");
}

static void stop(void)
{
    bp_client_close(cli);
    bp_server_stop(srv);
}

TestSuite(rpc, .init = start, .fini = stop, .timeout = 30);

/* Calls method with a Msg and returns the status; *text gets the reply text
 * or the error code (caller frees). */
static int call_msg(const char *method, const char *text, int sleep_ms, const char *token,
                    int timeout_ms, char **out)
{
    Bp__Rpctest__Msg req = BP__RPCTEST__MSG__INIT;
    req.text = (char *)text;
    req.has_sleep_ms = sleep_ms > 0;
    req.sleep_ms = sleep_ms;
    bp_rpc_args args = {
        .method = method, .token = token, .timeout_ms = timeout_ms, .request_id = "test-req"};
    ProtobufCMessage *resp = NULL;
    int status = 0;
    char err[64];
    int rv = bp_client_call_msg(cli, &args, &req.base, &bp__rpctest__msg__descriptor, &resp,
                                &status, err, sizeof err);
    if (rv != 0)
        return rv;
    if (resp != NULL) {
        const char *t = ((Bp__Rpctest__Msg *)resp)->text;
        *out = strdup(t ? t : "");
        protobuf_c_message_free_unpacked(resp, NULL);
    } else {
        *out = strdup(err);
    }
    return status;
}

Test(rpc, echo_round_trip)
{
    char *text = NULL;
    cr_assert_eq(call_msg("Echo", "hola", 0, NULL, 2000, &text), 200);
    cr_assert_str_eq(text, "echo:hola");
    free(text);
}

Test(rpc, handler_error_carries_code_and_status)
{
    char *text = NULL;
    cr_assert_eq(call_msg("Fail", "x", 0, NULL, 2000, &text), 409);
    cr_assert_str_eq(text, "slot_taken");
    free(text);
}

Test(rpc, unknown_and_unimplemented_methods_answer_501)
{
    char *text = NULL;
    cr_assert_eq(call_msg("NoSuchMethod", "x", 0, NULL, 2000, &text), 501);
    free(text);
    cr_assert_eq(call_msg("Missing", "x", 0, NULL, 2000, &text), 501);
    free(text);
}

Test(rpc, auth_flag_requires_a_principal)
{
    char *text = NULL;
    cr_assert_eq(call_msg("Whoami", NULL, 0, NULL, 2000, &text), 401);
    free(text);
    cr_assert_eq(call_msg("Whoami", NULL, 0, "bad", 2000, &text), 401);
    free(text);
    cr_assert_eq(call_msg("Whoami", NULL, 0, "good", 2000, &text), 200);
    cr_assert_str_eq(text, "u-1/client");
    free(text);
}

Test(rpc, deadline_gives_timeout)
{
    char *text = NULL;
    cr_assert_eq(call_msg("Slow", "x", 600, NULL, 100, &text), BP_ETIMEDOUT);
    /* Let the slow call finish before the suite stops. */
    usleep(700 * 1000);
}

Test(rpc, unreachable_service_is_unavailable_at_once)
{
    bp_client *nobody;
    cr_assert_eq(bp_client_open("nobody", "ipc:///tmp/bp-rpc-test-nobody.ipc", &nobody), 0);
    Bp__Rpc__Reply *reply = NULL;
    bp_rpc_args args = {.method = "Echo", .timeout_ms = 5000};
    int64_t t0 = bp_mono_ms();
    cr_assert_eq(bp_client_call(nobody, &args, &reply), BP_EUNAVAIL);
    cr_assert_lt(bp_mono_ms() - t0, 4000, "an unreachable service must not wait for the deadline");
    bp_client_close(nobody);
}

Test(rpc, health_is_built_in)
{
    Bp__Common__Empty req = BP__COMMON__EMPTY__INIT;
    bp_rpc_args args = {.method = "Health"};
    ProtobufCMessage *resp = NULL;
    int status = 0;
    cr_assert_eq(bp_client_call_msg(cli, &args, &req.base, &bp__common__health_reply__descriptor,
                                    &resp, &status, NULL, 0),
                 0);
    cr_assert_eq(status, 200);
    cr_assert_str_eq(((Bp__Common__HealthReply *)resp)->status, "ok");
    protobuf_c_message_free_unpacked(resp, NULL);
}

/* Calls BusinessMetrics on c; returns the status and the text (caller
 * frees) in *text. */
static int call_business(bp_client *c, char **text)
{
    Bp__Common__Empty req = BP__COMMON__EMPTY__INIT;
    bp_rpc_args args = {.method = "BusinessMetrics", .timeout_ms = 2000};
    ProtobufCMessage *resp = NULL;
    int status = 0;
    cr_assert_eq(bp_client_call_msg(c, &args, &req.base, &bp__common__metrics_reply__descriptor,
                                    &resp, &status, NULL, 0),
                 0);
    const char *t = resp != NULL ? ((Bp__Common__MetricsReply *)resp)->text : NULL;
    *text = strdup(t != NULL ? t : "");
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return status;
}

Test(rpc, business_metrics_is_built_in_and_answers_the_services_hook)
{
    char *text = NULL;
    cr_assert_eq(call_business(cli, &text), 200);
    cr_expect_str_eq(text, "# HELP rpctest_business_things Things counted.\n"
                           "# TYPE rpctest_business_things gauge\n"
                           "rpctest_business_things{method=\"BusinessMetrics\"} 7\n");
    free(text);
}

Test(rpc, business_metrics_without_a_hook_is_empty_text)
{
    static const bp_service plain = {
        .name = "rpctest-plain",
        .descriptor = &bp__rpctest__echo__descriptor,
        .handlers = handlers,
        .n_handlers = BP_COUNTOF(handlers),
        .workers = 1,
        .slow_workers = 1,
    };
    char plain_url[128];
    snprintf(plain_url, sizeof plain_url, "ipc:///tmp/bp-rpc-test-plain-%d.ipc", (int)getpid());
    bp_server *s2;
    bp_client *c2;
    cr_assert_eq(bp_server_start(&plain, plain_url, &s2), 0);
    cr_assert_eq(bp_client_open("rpctest-plain", plain_url, &c2), 0);
    for (int i = 0; i < 200 && !bp_client_connected(c2); i++)
        usleep(10000);
    char *text = NULL;
    cr_expect_eq(call_business(c2, &text), 200);
    cr_expect_str_eq(text, "");
    free(text);
    bp_client_close(c2);
    bp_server_stop(s2);
}

/* Sends raw bytes with a plain REQ socket and decodes the reply. */
static Bp__Rpc__Reply *raw_call(const void *bytes, size_t len)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
    cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
    cr_assert_eq(nng_send(s, (void *)bytes, len, 0), 0);
    void *buf = NULL;
    size_t n = 0;
    cr_assert_eq(nng_recv(s, &buf, &n, NNG_FLAG_ALLOC), 0);
    Bp__Rpc__Reply *r = bp__rpc__reply__unpack(NULL, n, buf);
    nng_free(buf, n);
    nng_close(s);
    cr_assert_not_null(r);
    return r;
}

Test(rpc, malformed_envelope_is_answered_and_server_keeps_serving)
{
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0x0f, 0x12, 0x99, 0x01};
    Bp__Rpc__Reply *r = raw_call(junk, sizeof junk);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(r->error->code, "invalid_request");
    bp__rpc__reply__free_unpacked(r, NULL);

    /* A valid envelope whose body is not a Msg. */
    Bp__Rpc__Request env = BP__RPC__REQUEST__INIT;
    env.method = "Echo";
    env.has_body = 1;
    env.body.data = (uint8_t *)junk;
    env.body.len = sizeof junk;
    uint8_t buf[128];
    size_t n = bp__rpc__request__pack(&env, buf);
    r = raw_call(buf, n);
    cr_assert_eq(r->status, 400);
    bp__rpc__reply__free_unpacked(r, NULL);

    char *text = NULL;
    cr_assert_eq(call_msg("Echo", "still", 0, NULL, 2000, &text), 200);
    free(text);
}

typedef struct {
    atomic_int done;
    atomic_int status;
} result;

static void on_done(void *arg, int rv, Bp__Rpc__Reply *reply)
{
    result *res = arg;
    atomic_store(&res->status, rv != 0 ? rv : reply->status);
    bp_rpc_reply_free(reply);
    atomic_store(&res->done, 1);
}

Test(rpc, slow_lane_does_not_block_fast_calls_and_is_bounded)
{
    Bp__Rpctest__Msg req = BP__RPCTEST__MSG__INIT;
    req.text = "slow";
    req.has_sleep_ms = 1;
    req.sleep_ms = 800;
    uint8_t body[64];
    size_t n = bp__rpctest__msg__pack(&req, body);

    /* One running plus two queued fill the lane (1 worker, queue of 2). */
    result res[4];
    memset(res, 0, sizeof res);
    bp_rpc_args args = {.method = "Slow", .body = body, .body_len = n, .timeout_ms = 5000};
    for (int i = 0; i < 3; i++) {
        bp_client_call_async(cli, &args, on_done, &res[i]);
        usleep(50 * 1000);
    }
    /* The fourth is refused at once with 503. */
    bp_client_call_async(cli, &args, on_done, &res[3]);
    for (int i = 0; i < 200 && !atomic_load(&res[3].done); i++)
        usleep(10000);
    cr_assert(atomic_load(&res[3].done));
    cr_assert_eq(atomic_load(&res[3].status), 503);

    /* Fast calls still answer while the slow ones are in progress. */
    char *text = NULL;
    cr_assert_eq(call_msg("Echo", "fast", 0, NULL, 2000, &text), 200);
    free(text);
    cr_assert_eq(atomic_load(&res[2].done), 0, "the fast call waited for the slow lane");

    for (int i = 0; i < 500 && !atomic_load(&res[2].done); i++)
        usleep(10000);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(atomic_load(&res[i].status), 200);
}
