/* Several instances of a daemon on the bus: the list of addresses in
 * <SERVICE>_RPC_URL, the one a daemon listens on, and a client that dials
 * two real servers, each in a process of its own so that one can be killed
 * with SIGKILL in the middle of a call, as a crash would. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bp.h"
#include "config.h"
#include "rpc.h"
#include "rpctest.pb-c.h"

/* ---- the list of addresses ------------------------------------------------------ */

typedef struct {
    const char *list;
    int n;            /* addresses, or -1 when the list is refused */
    const char *last; /* the last address, or a word of the reason */
} split_case;

static const split_case split_cases[] = {
    {"tcp://127.0.0.1:7102", 1, "tcp://127.0.0.1:7102"},
    {"tcp://10.0.0.1:7102,tcp://10.0.0.2:7102", 2, "tcp://10.0.0.2:7102"},
    {" tcp://booking-1:7102 ,\ttcp://booking-2:7102 ", 2, "tcp://booking-2:7102"},
    {"ipc:///run/barberpro/a.ipc, ipc:///run/barberpro/b.ipc", 2, "ipc:///run/barberpro/b.ipc"},
    {"tcp4://0.0.0.0:1, tcp6://[::1]:65535, tcp://*:7000, tcp://:7001", 4, "tcp://:7001"},
    {"inproc://bus", 1, "inproc://bus"},
    {"", -1, "empty"},
    {"   ", -1, "empty"},
    {"tcp://a:1,", -1, "empty"},
    {",tcp://a:1", -1, "empty"},
    {"tcp://a:1,,tcp://b:2", -1, "empty"},
    {"tcp://a:1, ,tcp://b:2", -1, "empty"},
    {"http://a:1", -1, "starts with"},
    {"booking:7102", -1, "starts with"},
    {"tcp://a", -1, "host:port"},
    {"tcp://a:0", -1, "port"},
    {"tcp://a:65536", -1, "port"},
    {"tcp://a:71x2", -1, "port"},
    {"tcp://a:", -1, "port"},
    {"tcp://a b:7102", -1, "host"},
    {"tcp://[::1:7102", -1, "ipv6"},
    {"ipc://", -1, "path"},
    {"inproc://", -1, "name"},
};

Test(urls, split_valid_and_invalid_lists)
{
    for (size_t i = 0; i < BP_COUNTOF(split_cases); i++) {
        const split_case *c = &split_cases[i];
        char addr[BP_BUS_URLS_MAX][BP_BUS_URL_LEN];
        char why[256] = "";
        int n = bp_config_split_urls(c->list, addr, BP_BUS_URLS_MAX, why, sizeof why);
        cr_expect_eq(n, c->n, "'%s': %d addresses, wanted %d (%s)", c->list, n, c->n, why);
        if (n > 0 && c->n > 0)
            cr_expect_str_eq(addr[n - 1], c->last, "'%s': last address '%s'", c->list, addr[n - 1]);
        if (n < 0)
            cr_expect(strstr(why, c->last) != NULL, "'%s': the reason '%s' lacks '%s'", c->list,
                      why, c->last);
    }
}

Test(urls, split_limits)
{
    char addr[BP_BUS_URLS_MAX][BP_BUS_URL_LEN];
    char why[256] = "";
    /* One address too many. */
    char list[BP_BUS_URLS_MAX * 32];
    size_t used = 0;
    for (int i = 0; i <= BP_BUS_URLS_MAX; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%stcp://h%d:7000",
                                 i > 0 ? "," : "", i);
    cr_assert_eq(bp_config_split_urls(list, addr, BP_BUS_URLS_MAX, why, sizeof why), -1);
    cr_assert(strstr(why, "more than") != NULL, "%s", why);
    /* Exactly the maximum is fine. */
    *strrchr(list, ',') = '\0';
    cr_assert_eq(bp_config_split_urls(list, addr, BP_BUS_URLS_MAX, why, sizeof why),
                 BP_BUS_URLS_MAX);
    /* A unix socket path holds 107 bytes. */
    char path[200];
    snprintf(path, sizeof path, "ipc:///%0107d", 0);
    cr_assert_eq(bp_config_split_urls(path, addr, BP_BUS_URLS_MAX, why, sizeof why), -1);
    cr_assert(strstr(why, "107") != NULL, "%s", why);
    path[strlen(path) - 1] = '\0';
    cr_assert_eq(bp_config_split_urls(path, addr, BP_BUS_URLS_MAX, why, sizeof why), 1);
}

Test(urls, rpc_url_lists_every_instance_without_blanks)
{
    char url[BP_BUS_LIST_LEN];
    setenv("BOOKING_RPC_URL", " tcp://127.0.0.1:7102 , tcp://127.0.0.1:7202", 1);
    bp_config_rpc_url("booking", url, sizeof url);
    cr_assert_str_eq(url, "tcp://127.0.0.1:7102,tcp://127.0.0.1:7202");
}

Test(urls, rpc_url_with_an_empty_item_exits_2, .exit_code = 2)
{
    char url[BP_BUS_LIST_LEN];
    setenv("BOOKING_RPC_URL", "tcp://127.0.0.1:7102,,tcp://127.0.0.1:7202", 1);
    bp_config_rpc_url("booking", url, sizeof url);
}

Test(urls, rpc_url_with_an_invalid_address_exits_2, .exit_code = 2)
{
    char url[BP_BUS_LIST_LEN];
    setenv("AUTH_RPC_URL", "tcp://127.0.0.1:7101, 127.0.0.1:7201", 1);
    bp_config_rpc_url("auth", url, sizeof url);
}

Test(urls, listen_url_is_the_own_address_or_the_single_rpc_url)
{
    char url[BP_BUS_URL_LEN];
    unsetenv("BOOKING_LISTEN_URL");
    setenv("BOOKING_RPC_URL", "tcp://127.0.0.1:7102", 1);
    bp_config_listen_url("booking", url, sizeof url);
    cr_assert_str_eq(url, "tcp://127.0.0.1:7102");

    setenv("BOOKING_RPC_URL", "tcp://127.0.0.1:7102,tcp://127.0.0.1:7202", 1);
    setenv("BOOKING_LISTEN_URL", " tcp://127.0.0.1:7202 ", 1);
    bp_config_listen_url("booking", url, sizeof url);
    cr_assert_str_eq(url, "tcp://127.0.0.1:7202");

    /* The default: the run folder's socket. */
    unsetenv("BOOKING_LISTEN_URL");
    unsetenv("BOOKING_RPC_URL");
    setenv("BARBERPRO_RUN_DIR", "/tmp/bp-run", 1);
    bp_config_listen_url("booking", url, sizeof url);
    cr_assert_str_eq(url, "ipc:///tmp/bp-run/booking.ipc");
}

Test(urls, listen_url_from_a_list_exits_2, .exit_code = 2)
{
    char url[BP_BUS_URL_LEN];
    unsetenv("BOOKING_LISTEN_URL");
    setenv("BOOKING_RPC_URL", "tcp://127.0.0.1:7102,tcp://127.0.0.1:7202", 1);
    bp_config_listen_url("booking", url, sizeof url);
}

Test(urls, listen_url_that_is_a_list_exits_2, .exit_code = 2)
{
    char url[BP_BUS_URL_LEN];
    setenv("BOOKING_LISTEN_URL", "tcp://127.0.0.1:7102,tcp://127.0.0.1:7202", 1);
    bp_config_listen_url("booking", url, sizeof url);
}

Test(urls, invalid_listen_url_exits_2, .exit_code = 2)
{
    char url[BP_BUS_URL_LEN];
    setenv("BOOKING_LISTEN_URL", "tcp://127.0.0.1", 1);
    bp_config_listen_url("booking", url, sizeof url);
}

Test(urls, client_open_refuses_a_bad_list)
{
    bp_client *c = NULL;
    cr_assert_eq(bp_client_open("rpcmulti", "ipc:///tmp/x.ipc,", &c), BP_EINVAL);
    cr_assert_eq(bp_client_open("rpcmulti", "nope", &c), BP_EINVAL);
    cr_assert_null(c);
}

/* ---- two instances, each its own process ------------------------------------------- */

/* In an instance: its letter, and the pipe on which its Slow calls say that
 * they have started. */
static char instance_name = '?';
static int started_fd = -1;

static int do_echo(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const Bp__Rpctest__Msg *in = (const Bp__Rpctest__Msg *)req;
    Bp__Rpctest__Msg *out = (Bp__Rpctest__Msg *)resp;
    out->text = bp_call_printf(call, "%c:%s", instance_name, in->text ? in->text : "");
    return 0;
}

/* Tells the test which instance runs it, then takes its time: the call is
 * in flight when the test kills that instance. */
static int do_slow(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const Bp__Rpctest__Msg *in = (const Bp__Rpctest__Msg *)req;
    ssize_t w = write(started_fd, &instance_name, 1);
    (void)w;
    usleep((useconds_t)in->sleep_ms * 1000);
    return do_echo(call, req, resp);
}

static const bp_handler handlers[] = {
    {"Echo", do_echo, 0},
    {"Slow", do_slow, 0},
};

static const bp_service service = {
    .name = "rpcmulti",
    .descriptor = &bp__rpctest__echo__descriptor,
    .handlers = handlers,
    .n_handlers = BP_COUNTOF(handlers),
    .workers = 4,
};

typedef struct {
    char name;
    char url[128];
    pid_t pid;
} instance;

static instance inst[2];
static int started_pipe[2] = {-1, -1};
static bp_client *cli;

extern char **environ;

/* An instance is this test binary run again with BP_RPCMULTI_INSTANCE
 * set: Criterion talks to its workers over nng, and nng refuses to run in
 * the child of a fork, so the instance execs before main. It serves until
 * it is killed. */
__attribute__((constructor)) static void serve_if_instance(void)
{
    const char *name = getenv("BP_RPCMULTI_INSTANCE");
    if (name == NULL)
        return;
    const char *url = getenv("BP_RPCMULTI_URL");
    const char *ready = getenv("BP_RPCMULTI_READY_FD");
    const char *started = getenv("BP_RPCMULTI_STARTED_FD");
    if (url == NULL || ready == NULL || started == NULL)
        _exit(2);
    /* Gone with the test, whatever ends it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    instance_name = name[0];
    started_fd = (int)strtol(started, NULL, 10);
    bp_server *srv;
    if (bp_server_start(&service, url, &srv) != 0)
        _exit(1);
    ssize_t w = write((int)strtol(ready, NULL, 10), "R", 1);
    (void)w;
    for (;;)
        pause();
}

/* Starts an instance and returns once it listens. */
static void spawn(instance *in, char name)
{
    in->name = name;
    snprintf(in->url, sizeof in->url, "ipc:///tmp/bp-rpcmulti-%d-%c.ipc", (int)getpid(), name);
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    /* Everything the child needs is built before the fork: between fork
     * and exec it may only call async-signal-safe functions. */
    char vars[4][200];
    snprintf(vars[0], sizeof vars[0], "BP_RPCMULTI_INSTANCE=%c", name);
    snprintf(vars[1], sizeof vars[1], "BP_RPCMULTI_URL=%s", in->url);
    snprintf(vars[2], sizeof vars[2], "BP_RPCMULTI_READY_FD=%d", ready[1]);
    snprintf(vars[3], sizeof vars[3], "BP_RPCMULTI_STARTED_FD=%d", started_pipe[1]);
    size_t n_env = 0;
    while (environ[n_env] != NULL)
        n_env++;
    char **envp = calloc(n_env + 5, sizeof *envp);
    cr_assert_not_null(envp);
    for (size_t i = 0; i < n_env; i++)
        envp[i] = environ[i];
    for (size_t i = 0; i < 4; i++)
        envp[n_env + i] = vars[i];
    char *argv[] = {"rpc_multi_instance", NULL};
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    free(envp);
    close(ready[1]);
    char b = 0;
    ssize_t r = read(ready[0], &b, 1);
    close(ready[0]);
    in->pid = pid;
    cr_assert_eq(r, 1, "instance %c did not start", name);
}

static void kill_instance(instance *in)
{
    if (in->pid <= 0)
        return;
    kill(in->pid, SIGKILL);
    waitpid(in->pid, NULL, 0);
    in->pid = 0;
    unlink(in->url + strlen("ipc://"));
}

static void start_two(void)
{
    cr_assert_eq(pipe(started_pipe), 0);
    spawn(&inst[0], 'A');
    spawn(&inst[1], 'B');
    close(started_pipe[1]);
    started_pipe[1] = -1;
}

static void stop_all(void)
{
    bp_client_close(cli);
    cli = NULL;
    kill_instance(&inst[0]);
    kill_instance(&inst[1]);
    if (started_pipe[0] >= 0)
        close(started_pipe[0]);
}

TestSuite(multi, .init = start_two, .fini = stop_all, .timeout = 60);

/* Echo through cli: the status, and the letter of the instance that served
 * it in *who ('-' when the call failed). */
static int echo(char *who, int *rv_out)
{
    Bp__Rpctest__Msg req = BP__RPCTEST__MSG__INIT;
    req.text = "hola";
    bp_rpc_args args = {.method = "Echo", .timeout_ms = 3000, .request_id = "multi"};
    ProtobufCMessage *resp = NULL;
    int status = 0;
    int rv = bp_client_call_msg(cli, &args, &req.base, &bp__rpctest__msg__descriptor, &resp,
                                &status, NULL, 0);
    *who = '-';
    if (rv_out != NULL)
        *rv_out = rv;
    if (rv != 0)
        return rv;
    const char *t = resp != NULL ? ((Bp__Rpctest__Msg *)resp)->text : NULL;
    if (t != NULL && t[0] != '\0' && strcmp(t + 1, ":hola") == 0)
        *who = t[0];
    protobuf_c_message_free_unpacked(resp, NULL);
    return status;
}

/* Opens cli on both instances (blanks around the comma, as an operator may
 * write it) and calls until each has answered once: both pipes are up. */
static void open_on_both(void)
{
    char list[300];
    snprintf(list, sizeof list, "%s , %s", inst[0].url, inst[1].url);
    cr_assert_eq(bp_client_open("rpcmulti", list, &cli), 0);
    bool seen[2] = {false, false};
    for (int i = 0; i < 500 && !(seen[0] && seen[1]); i++) {
        char who;
        if (echo(&who, NULL) == 200 && (who == 'A' || who == 'B'))
            seen[who - 'A'] = true;
        else
            usleep(10000);
    }
    cr_assert(seen[0] && seen[1], "both instances never answered (A %d, B %d)", seen[0], seen[1]);
}

Test(multi, calls_are_spread_over_both_instances)
{
    open_on_both();
    int served[2] = {0, 0};
    for (int i = 0; i < 200; i++) {
        char who;
        cr_assert_eq(echo(&who, NULL), 200, "call %d failed", i);
        cr_assert(who == 'A' || who == 'B', "call %d: who '%c'", i, who);
        served[who - 'A']++;
    }
    cr_log_info("200 calls: A served %d, B served %d", served[0], served[1]);
    /* REQ sends each request to the next ready pipe: about half each. */
    cr_assert_geq(served[0], 40, "A served %d of 200", served[0]);
    cr_assert_geq(served[1], 40, "B served %d of 200", served[1]);
}

typedef struct {
    atomic_int finished;
    int rv;
    int64_t at;
} slow_result;

static void slow_done(void *arg, int rv, Bp__Rpc__Reply *reply)
{
    slow_result *r = arg;
    r->rv = rv;
    r->at = bp_mono_ms();
    bp_rpc_reply_free(reply);
    atomic_store(&r->finished, 1);
}

/* The letter the next Slow call writes on the started pipe, or 0 when none
 * does within ms. */
static char next_started(int ms)
{
    struct pollfd p = {.fd = started_pipe[0], .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return 0;
    char c = 0;
    return read(started_pipe[0], &c, 1) == 1 ? c : 0;
}

Test(multi, a_call_in_flight_on_a_killed_instance_fails_fast_and_the_other_serves)
{
    open_on_both();
    /* A call that takes 3 s on whichever instance gets it, with a deadline
     * of 10 s: killing its instance must fail it long before either. */
    Bp__Rpctest__Msg req = BP__RPCTEST__MSG__INIT;
    req.text = "hola";
    req.has_sleep_ms = 1;
    req.sleep_ms = 3000;
    size_t len = bp__rpctest__msg__get_packed_size(&req);
    uint8_t body[64];
    cr_assert_leq(len, sizeof body);
    bp__rpctest__msg__pack(&req, body);
    bp_rpc_args args = {.method = "Slow",
                        .body = body,
                        .body_len = len,
                        .timeout_ms = 10000,
                        .request_id = "multi-slow"};
    slow_result res = {.finished = 0};
    cr_assert_eq(bp_client_call_async(cli, &args, slow_done, &res), 0);
    char victim = next_started(5000);
    cr_assert(victim == 'A' || victim == 'B', "the slow call never started");
    instance *dead = &inst[victim - 'A'];
    char survivor = victim == 'A' ? 'B' : 'A';

    int64_t killed_at = bp_mono_ms();
    kill_instance(dead);
    for (int i = 0; i < 500 && !atomic_load(&res.finished); i++)
        usleep(10000);
    cr_assert(atomic_load(&res.finished), "the call in flight did not finish after the kill");
    cr_log_info("call in flight on %c: rv %d (%s) %lld ms after SIGKILL", victim, res.rv,
                bp_strerror(res.rv), (long long)(res.at - killed_at));
    cr_assert_eq(res.rv, BP_EUNAVAIL, "the call in flight ended with %s", bp_strerror(res.rv));
    cr_assert_lt(res.at - killed_at, 1000, "the failure took %lld ms",
                 (long long)(res.at - killed_at));
    /* No resend: the survivor never started that call. */
    char again = next_started(500);
    cr_assert_eq(again, 0, "the call ran again on %c after its instance died", again);

    /* Every new call goes to the survivor. */
    cr_assert(bp_client_connected(cli), "no connection left");
    for (int i = 0; i < 100; i++) {
        char who;
        int rv = 0;
        int status = echo(&who, &rv);
        cr_assert_eq(status, 200, "call %d after the kill: %d (%s)", i, status, bp_strerror(rv));
        cr_assert_eq(who, survivor, "call %d after the kill served by '%c'", i, who);
    }
}

Test(multi, connected_while_one_instance_is_up)
{
    char list[300];
    snprintf(list, sizeof list, "%s,%s", inst[0].url, inst[1].url);
    kill_instance(&inst[1]); /* listed but down from the start */
    cr_assert_eq(bp_client_open("rpcmulti", list, &cli), 0);
    for (int i = 0; i < 300 && !bp_client_connected(cli); i++)
        usleep(10000);
    cr_assert(bp_client_connected(cli), "never connected to A");
    for (int i = 0; i < 50; i++) {
        char who;
        cr_assert_eq(echo(&who, NULL), 200, "call %d with B down", i);
        cr_assert_eq(who, 'A');
    }
    /* Both down: not connected, and a call fails at once. */
    kill_instance(&inst[0]);
    for (int i = 0; i < 300 && bp_client_connected(cli); i++)
        usleep(10000);
    cr_assert_not(bp_client_connected(cli), "still connected with both instances down");
    char who;
    int rv = 0;
    int64_t t0 = bp_mono_ms();
    echo(&who, &rv);
    cr_assert_eq(rv, BP_EUNAVAIL, "a call with nobody up: %s", bp_strerror(rv));
    cr_assert_lt(bp_mono_ms() - t0, 100);
}
