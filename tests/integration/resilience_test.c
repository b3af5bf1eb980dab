/* What a user notices when a daemon misbehaves: a hung auth daemon gives 504
 * within the bus deadline, a dead one 503 at once and /api/health names it,
 * both come back when the daemon does; and garbage sent straight to a
 * daemon's bus socket gets an error answer while the daemon serves on.
 * scripts/test.sh runs this binary with --jobs=1: its tests stop daemons. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "harness.h"

static const char *const services[] = {"auth", "booking", "payment", "notification", "backup"};

/* Whatever a test did, leave the auth daemon running and the suite
 * healthy for the next one. */
static void leave_auth_running(void)
{
    bpt_daemon_cont("auth");
    pid_t pid = bpt_daemon_pid("auth");
    if (!bpt_pid_alive(pid))
        bpt_daemon_restart("auth", 20000);
    bpt_wait_healthy(20000);
}

static long status_of_me(const char *token, double *elapsed_ms)
{
    bpt_response *r = bpt_http_json("GET", "/api/auth/me", token, NULL);
    cr_assert_not_null(r, "no HTTP answer at all");
    long status = r->status;
    if (elapsed_ms != NULL)
        *elapsed_ms = r->elapsed_ms;
    bpt_response_free(r);
    return status;
}

/* Polls /api/auth/me until it answers 200 (the daemon is back and the
 * gateway reconnected); fails the test after timeout_ms. */
static void assert_me_recovers(const char *token, int timeout_ms)
{
    double deadline = bpt_now_ms() + timeout_ms;
    long status = 0;
    while (bpt_now_ms() < deadline) {
        status = status_of_me(token, NULL);
        if (status == 200)
            return;
        bpt_sleep_ms(100);
    }
    cr_assert_fail("/api/auth/me did not recover within %d ms (last status %ld)", timeout_ms,
                   status);
}

static void assert_daemon_serves(const char *name)
{
    Bp__Rpc__Reply *reply = NULL;
    int rv = bpt_rpc_call(name, "Health", NULL, 0, 2000, &reply);
    cr_assert_eq(rv, 0, "%s does not answer Health over the bus (rv %d)", name, rv);
    cr_assert(reply->has_status && reply->status == 200, "%s Health answered %d", name,
              reply->status);
    bp__rpc__reply__free_unpacked(reply, NULL);
}

Test(health, all_services_ok, .timeout = 30)
{
    bpt_response *r = bpt_http("GET", "/api/health", NULL, NULL, 0);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    cr_assert_str_eq(bpt_json_str(r->json, "status"), "ok", "%s", r->body);
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "services.%s", services[i]);
        const char *s = bpt_json_str(r->json, path);
        cr_assert(s != NULL && strcmp(s, "ok") == 0, "%s is %s in %s", services[i],
                  s ? s : "missing", r->body);
    }
    bpt_response_free(r);
}

Test(resilience, hung_auth_gives_504_then_recovers, .timeout = 60, .fini = leave_auth_running)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    cr_assert_eq(status_of_me(u.token, NULL), 200);
    int timeout = bpt_rpc_timeout_ms();

    cr_assert_eq(bpt_daemon_stop("auth"), 0);
    bpt_response *r = bpt_http_json("GET", "/api/auth/me", u.token, NULL);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, 504, "a hung auth daemon answered %ld: %s", r->status, r->body);
    cr_assert_str_eq(bpt_error_code(r), "timeout", "%s", r->body);
    cr_assert(r->elapsed_ms < 3.0 * timeout, "the 504 took %.0f ms with RPC_TIMEOUT_MS=%d",
              r->elapsed_ms, timeout);
    bpt_response_free(r);

    /* Health names the hung daemon. */
    r = bpt_http("GET", "/api/health", NULL, NULL, 0);
    cr_assert_eq(r->status, 503, "health with a hung auth: %ld %s", r->status, r->body);
    const char *auth = bpt_json_str(r->json, "services.auth");
    cr_assert(auth == NULL || strcmp(auth, "ok") != 0, "health says auth is ok: %s", r->body);
    cr_assert(r->elapsed_ms < 3.0 * timeout, "health took %.0f ms", r->elapsed_ms);
    bpt_response_free(r);

    cr_assert_eq(bpt_daemon_cont("auth"), 0);
    assert_me_recovers(u.token, 10000);
}

Test(resilience, killed_auth_gives_503_then_recovers, .timeout = 90, .fini = leave_auth_running)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    int timeout = bpt_rpc_timeout_ms();

    cr_assert_eq(bpt_daemon_kill("auth"), 0);
    /* Let the gateway see the connection drop (it is a local socket). */
    bpt_sleep_ms(300);
    bpt_response *r = bpt_http_json("GET", "/api/auth/me", u.token, NULL);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, 503, "a dead auth daemon answered %ld: %s", r->status, r->body);
    cr_assert_str_eq(bpt_error_code(r), "unavailable", "%s", r->body);
    cr_assert(r->elapsed_ms < timeout, "the 503 took %.0f ms: it should not wait for the deadline",
              r->elapsed_ms);
    bpt_response_free(r);

    r = bpt_http("GET", "/api/health", NULL, NULL, 0);
    cr_assert_eq(r->status, 503, "health with a dead auth: %ld %s", r->status, r->body);
    const char *auth = bpt_json_str(r->json, "services.auth");
    cr_assert(auth != NULL && strcmp(auth, "ok") != 0, "health does not name auth: %s", r->body);
    const char *booking = bpt_json_str(r->json, "services.booking");
    cr_assert(booking != NULL && strcmp(booking, "ok") == 0, "booking should be ok: %s", r->body);
    bpt_response_free(r);

    /* Back: the session lives in Redis, so the same token works again. */
    cr_assert_eq(bpt_daemon_restart("auth", 30000), 0);
    assert_me_recovers(u.token, 10000);
    cr_assert_eq(bpt_wait_healthy(10000), 0);
}

Test(bus, undecodable_envelopes_get_an_error_and_the_daemon_serves_on, .timeout = 60,
     .fini = leave_auth_running)
{
    pid_t before = bpt_daemon_pid("auth");
    static const unsigned char junk[][16] = {
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        {0x0a, 0x7f, 'L', 'o', 'g', 'i', 'n'}, /* a string longer than the message */
        {0x08, 0x96},                          /* a truncated varint */
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        void *raw = NULL;
        size_t raw_len = 0;
        int rv = bpt_rpc_raw("auth", junk[i], sizeof junk[i], 3000, &raw, &raw_len);
        cr_assert_eq(rv, 0, "no reply to junk #%zu (nng error %d)", i, rv);
        Bp__Rpc__Reply *reply = bp__rpc__reply__unpack(NULL, raw_len, raw);
        cr_assert_not_null(reply, "the reply to junk #%zu is not a Reply", i);
        cr_assert(reply->has_status && reply->status >= 400 && reply->status < 500,
                  "junk #%zu answered status %d", i, reply->status);
        cr_assert(reply->error != NULL && reply->error->code != NULL && *reply->error->code,
                  "junk #%zu: no error code", i);
        bp__rpc__reply__free_unpacked(reply, NULL);
        free(raw);
    }

    /* An empty message, then a valid envelope whose body is not the method's
     * input message. */
    void *raw = NULL;
    size_t raw_len = 0;
    if (bpt_rpc_raw("auth", "", 0, 3000, &raw, &raw_len) == 0) {
        Bp__Rpc__Reply *reply = bp__rpc__reply__unpack(NULL, raw_len, raw);
        cr_assert_not_null(reply, "the reply to an empty message is not a Reply");
        cr_assert(reply->status >= 400, "an empty message answered %d", reply->status);
        bp__rpc__reply__free_unpacked(reply, NULL);
        free(raw);
    }
    static const unsigned char bad_body[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(bpt_rpc_call("auth", "Login", bad_body, sizeof bad_body, 3000, &reply), 0);
    cr_assert_eq(reply->status, 400, "a garbage Login body answered %d", reply->status);
    bp__rpc__reply__free_unpacked(reply, NULL);

    assert_daemon_serves("auth");
    cr_assert_eq(bpt_daemon_pid("auth"), before, "the auth daemon was restarted");
    cr_assert(bpt_pid_alive(before), "the auth daemon died");
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0, "auth no longer serves over HTTP");
}

Test(bus, unknown_method_gets_an_error_and_the_daemon_serves_on, .timeout = 30,
     .fini = leave_auth_running)
{
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(bpt_rpc_call("auth", "DropAllTables", NULL, 0, 3000, &reply), 0);
    cr_assert(reply->has_status && reply->status >= 400, "an unknown method answered %d",
              reply->status);
    cr_assert(reply->error != NULL && reply->error->code != NULL && *reply->error->code,
              "no error code for an unknown method");
    cr_assert(!reply->has_body || reply->body.len == 0, "an error reply with a body");
    bp__rpc__reply__free_unpacked(reply, NULL);
    assert_daemon_serves("auth");
}

/* Sends one message of len bytes to the daemon's ipc:// socket speaking
 * nng's wire protocol by hand (the SP header of a REQ peer, then a frame:
 * type 1 and a 64-bit big-endian length): an nng client socket is not used
 * here because nng 1.5 can hang in nng_close on a REQ socket whose peer
 * dropped it in the middle of a send (nng issue #648). Returns 0 when the
 * daemon closed the connection without a reply, -1 when it could not be
 * reached, 1 when it answered. */
static int send_oversized(const char *name, size_t len)
{
    char url[512];
    bpt_rpc_url(name, url, sizeof url);
    if (strncmp(url, "ipc://", 6) != 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t path_len = strlen(url + 6);
    if (path_len >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, url + 6, path_len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const unsigned char hello[8] = {0, 'S', 'P', 0, 0, 48, 0, 0}; /* REQ is protocol 48 */
    unsigned char peer[8];
    if (send(fd, hello, sizeof hello, MSG_NOSIGNAL) != (ssize_t)sizeof hello ||
        recv(fd, peer, sizeof peer, MSG_WAITALL) != (ssize_t)sizeof peer) {
        close(fd);
        return -1;
    }
    unsigned char frame[9] = {1};
    for (int i = 0; i < 8; i++)
        frame[1 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    send(fd, frame, sizeof frame, MSG_NOSIGNAL);
    /* Some of the body: the daemon drops the connection on the length. */
    static unsigned char chunk[64 * 1024];
    for (size_t sent = 0; sent < len;) {
        ssize_t w = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    unsigned char b;
    ssize_t got = recv(fd, &b, 1, 0);
    close(fd);
    return got > 0 ? 1 : 0;
}

Test(bus, oversized_message_is_dropped_and_the_daemon_serves_on, .timeout = 60,
     .fini = leave_auth_running)
{
    size_t len = 5u * 1024u * 1024u; /* above BP_RPC_MAX_MSG (4 MiB) */
    int rv = send_oversized("auth", len);
    cr_assert_neq(rv, -1, "the auth daemon's bus socket could not be reached");
    cr_assert_eq(rv, 0, "a 5 MiB message was answered instead of dropped");
    assert_daemon_serves("auth");
    cr_assert_eq(bpt_wait_healthy(5000), 0);
}
