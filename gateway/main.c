/* barberpro-gateway: the HTTP front of BarberPro. Reads its configuration,
 * dials the daemons, serves until SIGTERM or SIGINT, then stops gracefully.
 * `barberpro-gateway health` asks a running gateway for /api/health. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bp.h"
#include "config.h"
#include "log.h"
#include "gw_config.h"
#include "gw_ratelimit.h"
#include "gw_routes.h"
#include "gw_server.h"
#include "gw_services.h"
#include "signals.h"

/* How long `health` waits for the answer, connection included. */
#define HEALTH_TIMEOUT_MS 3000
/* What a probe keeps of an answer: the status line, headers and the start
 * of the body (/api/health's is well under this). */
#define PROBE_ANSWER_MAX 4096

/* Where a client on this host reaches a gateway bound to bind:port: that
 * address, or loopback for a wildcard (0.0.0.0, ::). */
typedef struct {
    struct sockaddr_storage addr;
    socklen_t len;
    char host[80]; /* the Host header and the URL shown in messages */
} local_target;

/* The target for a gateway listening where cfg says (gw_config_listen). */
static void local_target_set(local_target *t, const gw_config *cfg)
{
    memset(t, 0, sizeof *t);
    t->addr = cfg->addr;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&t->addr;
    const void *ip_addr;
    if (cfg->ipv6) {
        if (IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr))
            v6->sin6_addr = in6addr_loopback;
        t->len = sizeof *v6;
        ip_addr = &v6->sin6_addr;
    } else {
        if (v4->sin_addr.s_addr == htonl(INADDR_ANY))
            v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        t->len = sizeof *v4;
        ip_addr = &v4->sin_addr;
    }
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(cfg->ipv6 ? AF_INET6 : AF_INET, ip_addr, ip, sizeof ip);
    snprintf(t->host, sizeof t->host, cfg->ipv6 ? "[%s]:%d" : "%s:%d", ip, cfg->port);
}

/* Waits until fd is ready for events or the monotonic deadline passes.
 * Returns 0, or BP_ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - bp_mono_ms();
        if (left <= 0)
            return BP_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n == 0)
            return BP_ETIMEDOUT;
        if (errno != EINTR)
            return BP_EIO;
    }
}

/* One HTTP/1.1 request "method path" with Connection: close to t, all of
 * it within timeout_ms. Not common/http.c (libcurl): the gateway links no
 * libcurl (Makefile's LIBS_GATEWAY), and a request to itself on loopback,
 * with no TLS, redirect or body to send, does not warrant it. Keeps what came back, NUL-terminated,
 * in answer (cap bytes): only the status line when status_only. Returns 0 with the status in
 * *status, or a BP_E* code with the reason in why. */
static int http_probe(const local_target *t, const char *method, const char *path, int timeout_ms,
                      bool status_only, int *status, char *answer, size_t cap, char *why,
                      size_t whylen)
{
    int64_t deadline = bp_mono_ms() + timeout_ms;
    int rv = 0;
    size_t got = 0;
    answer[0] = '\0';
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return BP_EIO;
    }
    if (connect(fd, (const struct sockaddr *)&t->addr, t->len) != 0) {
        if (errno != EINPROGRESS) {
            snprintf(why, whylen, "cannot connect to %s: %s", t->host, strerror(errno));
            rv = BP_EUNAVAIL;
            goto out;
        }
        int err = 0;
        socklen_t len = sizeof err;
        rv = wait_fd(fd, POLLOUT, deadline);
        if (rv == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
            snprintf(why, whylen, "cannot connect to %s: %s", t->host, strerror(err));
            rv = BP_EUNAVAIL;
            goto out;
        }
        if (rv != 0) {
            snprintf(why, whylen, "no connection to %s within %d ms", t->host, timeout_ms);
            goto out;
        }
    }

    char request[512];
    int n = snprintf(request, sizeof request,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: barberpro-%s\r\n"
                     "Connection: close\r\n\r\n",
                     method, path, t->host, status_only ? "watchdog" : "health");
    size_t sent = 0;
    while (sent < (size_t)n) {
        ssize_t w = send(fd, request + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(why, whylen, "sending to %s: %s", t->host, strerror(errno));
            rv = BP_EIO;
            goto out;
        }
        if ((rv = wait_fd(fd, POLLOUT, deadline)) != 0) {
            snprintf(why, whylen, "%s did not take the request within %d ms", t->host, timeout_ms);
            goto out;
        }
    }

    /* Until the server closes (Connection: close), the buffer is full, or
     * (status_only) the status line is in. */
    while (got + 1 < cap) {
        if (status_only && memchr(answer, '\n', got) != NULL)
            break;
        ssize_t r = recv(fd, answer + got, cap - 1 - got, 0);
        if (r > 0) {
            got += (size_t)r;
            answer[got] = '\0';
            continue;
        }
        if (r == 0)
            break;
        if (errno != EAGAIN && errno != EINTR) {
            snprintf(why, whylen, "reading from %s: %s", t->host, strerror(errno));
            rv = BP_EIO;
            goto out;
        }
        if ((rv = wait_fd(fd, POLLIN, deadline)) != 0) {
            snprintf(why, whylen, "no answer from %s within %d ms", t->host, timeout_ms);
            goto out;
        }
    }
    int code = 0;
    if (sscanf(answer, "HTTP/1.%*1[01] %3d", &code) != 1 || code < 100 || code > 599) {
        snprintf(why, whylen, "%s %s", t->host,
                 got == 0 ? "closed the connection without answering" : "answered no HTTP status");
        rv = BP_EPROTO;
        goto out;
    }
    *status = code;
out:
    close(fd);
    return rv;
}

/* The watchdog's check: the HTTP server itself answers. A preflight
 * (OPTIONS) is answered by libmicrohttpd's threads without a bus call or
 * Redis, so a daemon or a store that is down never gets the gateway
 * restarted (restarting it would not help); any HTTP status passes. */
static int check_http(void *arg, int timeout_ms, char *why, size_t len)
{
    const local_target *t = arg;
    char answer[256];
    int status = 0;
    return http_probe(t, "OPTIONS", "/api/health", timeout_ms, true, &status, answer, sizeof answer,
                      why, len);
}

/* `barberpro-gateway health`: 0 when GET /api/health of the gateway at
 * PORT (on BIND_ADDRESS, loopback for a wildcard) answers 200 within
 * HEALTH_TIMEOUT_MS, else 1 with one line on stderr. Reads nothing else. */
static int health_command(void)
{
    gw_config cfg;
    memset(&cfg, 0, sizeof cfg);
    gw_config_listen(&cfg);
    local_target t;
    local_target_set(&t, &cfg);
    char answer[PROBE_ANSWER_MAX], why[512];
    int status = 0;
    int64_t started = bp_mono_ms();
    if (http_probe(&t, "GET", "/api/health", HEALTH_TIMEOUT_MS, false, &status, answer,
                   sizeof answer, why, sizeof why) != 0) {
        fprintf(stderr, "barberpro-gateway: unhealthy: http://%s/api/health: %s\n", t.host, why);
        return 1;
    }
    if (status != 200) {
        /* The body names the failing services: show it, on one line. */
        const char *body = strstr(answer, "\r\n\r\n");
        char shown[200] = "";
        if (body != NULL) {
            size_t k = 0;
            for (body += 4; *body != '\0' && k + 1 < sizeof shown; body++)
                shown[k++] = (*body >= 0x20 && *body < 0x7f) ? *body : ' ';
            shown[k] = '\0';
        }
        fprintf(stderr, "barberpro-gateway: unhealthy: http://%s/api/health answered %d %s\n",
                t.host, status, shown);
        return 1;
    }
    printf("barberpro-gateway: healthy (http://%s/api/health answered 200 in %lld ms)\n", t.host,
           (long long)(bp_mono_ms() - started));
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: barberpro-gateway [health]\n"
                 "  (no command)  serve HTTP until SIGTERM or SIGINT (configured by the\n"
                 "                environment; see README.md)\n"
                 "  health        exit 0 when the running gateway at PORT answers\n"
                 "                GET /api/health with 200 within 3 s, else 1 (the reason\n"
                 "                on stderr)\n");
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "health") == 0) {
            bp_log_init("gateway");
            return health_command();
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "barberpro-gateway: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    bp_log_init("gateway");
    gw_config cfg;
    gw_config_load(&cfg);
    if (gw_routes_init() != 0)
        return 1;

    bp_signals_block();

    if (gw_services_open() != 0)
        return 1;
    if (gw_ratelimit_start() != 0) {
        bp_log_error("cannot start the rate limiter's thread");
        gw_services_close();
        return 1;
    }
    gw_server *srv;
    if (gw_server_start(&cfg, &srv) != 0) {
        gw_services_close();
        return 1;
    }
    bp_log_info("listening on %s port %d with %d threads", cfg.bind_address, cfg.port, cfg.threads);
    local_target self;
    local_target_set(&self, &cfg);
    bp_liveness live = {check_http, &self};
    char status[160];
    snprintf(status, sizeof status, "serving HTTP on %s port %d with %d threads", cfg.bind_address,
             cfg.port, cfg.threads);
    int sig = bp_signals_wait(status, &live);
    bp_log_info("stopping on %s", bp_signal_name(sig));
    gw_server_stop(srv);
    gw_services_close();
    gw_ratelimit_close();
    nng_fini(); /* every socket is closed: nng reaps what they left */
    bp_log_info("stopped");
    return 0;
}
