/* The HTTP side: libmicrohttpd callbacks drive each gw_request through its
 * phases (gw_request.h). No HTTP thread ever waits on the bus: a request
 * with bus calls in flight is suspended, and the call's completion resumes
 * it. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "log.h"
#include "strbuf.h"
#include "gw_metrics.h"
#include "gw_proxy.h"
#include "gw_raw.h"
#include "gw_respond.h"
#include "gw_server.h"

struct gw_server {
    gw_config cfg;
    struct MHD_Daemon *daemon;
    atomic_int active;     /* requests between request line and completion */
    atomic_int suspended;  /* connections suspended and not yet back */
    atomic_bool quiescing; /* answer with Connection: close */
    atomic_bool stopping;  /* no new suspensions: answer 503 */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *gw_request_header(const gw_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

bool gw_request_suspend(gw_request *req)
{
    gw_server *srv = req->srv;
    /* Count first, then check: with stop setting the flag first and then
     * reading the count, one of the two sides always sees the other. */
    atomic_fetch_add(&srv->suspended, 1);
    if (atomic_load(&srv->stopping)) {
        atomic_fetch_sub(&srv->suspended, 1);
        req->closing = true;
        return false;
    }
    req->phase = GW_PHASE_WAITING;
    req->suspended = true;
    MHD_suspend_connection(req->conn);
    return true;
}

/* The connection is back from suspension: on re-entry of the handler, or
 * at completion when the client left while it was suspended (then the
 * handler is not called again). Runs on the connection's HTTP thread. */
static void request_unsuspended(gw_request *req)
{
    if (req->suspended) {
        req->suspended = false;
        atomic_fetch_sub(&req->srv->suspended, 1);
    }
}

void gw_request_resume(gw_request *req)
{
    MHD_resume_connection(req->conn);
}

static void request_free(gw_request *req)
{
    if (req->op != NULL && req->op->cleanup != NULL)
        req->op->cleanup(req);
    free(req->target);
    free(req->query);
    free(req->body);
    free(req->proxy.input);
    bp_rpc_reply_free(req->proxy.reply);
    for (size_t i = 0; i < req->fan.n; i++)
        bp_rpc_reply_free(req->fan.slots[i].reply);
    free(req);
}

/* Called with the raw request target, before libmicrohttpd decodes it:
 * the request starts here. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    gw_server *srv = cls;
    gw_request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->srv = srv;
    req->conn = conn;
    req->started_ns = mono_ns();
    size_t len = uri != NULL ? strlen(uri) : 0;
    if (len > GW_MAX_TARGET) {
        req->target_too_long = true;
        len = 0;
    }
    req->target = malloc(len + 1);
    if (req->target == NULL) {
        free(req);
        return NULL;
    }
    memcpy(req->target, uri != NULL ? uri : "", len);
    req->target[len] = '\0';
    req->target_len = len;
    atomic_fetch_add(&srv->active, 1);
    return req;
}

/* Appends every X-Forwarded-For line, in order, to the strbuf in cls. */
static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    bp_strbuf *b = cls;
    (void)kind;
    if (key == NULL || value == NULL || strcasecmp(key, "X-Forwarded-For") != 0)
        return MHD_YES;
    if (b->len > 0)
        bp_strbuf_append(b, ",", 1);
    bp_strbuf_append(b, value, strlen(value));
    return MHD_YES;
}

/* The peer's address, then the client's behind trusted proxies. */
static void client_address(gw_request *req)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char peer[GW_ADDR_MAX] = "unknown";
    if (info != NULL && info->client_addr != NULL) {
        const struct sockaddr *sa = info->client_addr;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
            inet_ntop(AF_INET, &v4->sin_addr, peer, sizeof peer);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
            if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
                inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], peer, sizeof peer);
            else
                inet_ntop(AF_INET6, &v6->sin6_addr, peer, sizeof peer);
        }
    }
    bp_strbuf xff = {0};
    if (gw_trusted(peer))
        MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_xff, &xff);
    gw_client_address(peer, xff.len > 0 && !xff.failed ? xff.p : NULL, req->client_ip,
                      sizeof req->client_ip);
    bp_strbuf_reset(&xff);
}

/* Keeps printable ASCII of a header for the envelope, truncated. */
static void printable_copy(char *out, size_t size, const char *value)
{
    size_t n = 0;
    for (; value != NULL && value[n] != '\0' && n + 1 < size; n++)
        out[n] = (value[n] >= 0x20 && value[n] < 0x7f) ? value[n] : '?';
    out[n] = '\0';
}

/* "application/json", with optional parameters, in any case. */
static bool is_json(const char *content_type)
{
    static const char json[] = "application/json";
    if (content_type == NULL || strncasecmp(content_type, json, sizeof json - 1) != 0)
        return false;
    char next = content_type[sizeof json - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* An error found while reading the headers, answered once the body is
 * read: a body on its way (within the limit) is read and dropped first, so
 * that a client still sending it reads the answer rather than a reset, and
 * the connection then closes. A body declared over the limit is not waited
 * for: the answer goes now and the connection closes. */
static enum MHD_Result reject_now(gw_request *req, int status, const char *message)
{
    req->closing = true;
    return gw_answer_error(req, status, NULL, message, NULL);
}

static enum MHD_Result reject(gw_request *req, int status, const char *message)
{
    if (req->declared_len > GW_DRAIN_MAX)
        return reject_now(req, status, message);
    if (req->has_body)
        req->closing = true;
    req->early_status = status;
    req->early_message = message;
    req->phase = GW_PHASE_BODY;
    return MHD_YES;
}

static enum MHD_Result on_headers(gw_request *req, const char *method)
{
    gw_server *srv = req->srv;
    req->method = method;
    req->closing = atomic_load(&srv->quiescing);

    const char *rid = gw_request_header(req, "X-Request-Id");
    if (gw_request_id_valid(rid))
        snprintf(req->request_id, sizeof req->request_id, "%s", rid);
    else
        bp_uuid(req->request_id);
    client_address(req);
    req->origin = gw_request_header(req, "Origin");
    printable_copy(req->user_agent, sizeof req->user_agent, gw_request_header(req, "User-Agent"));
    req->idempotency_key = gw_request_header(req, "Idempotency-Key");
    const char *authz = gw_request_header(req, "Authorization");
    if (authz != NULL) {
        req->token = gw_bearer_token(authz);
        req->token_invalid = req->token == NULL;
    }

    /* Body framing first: it decides how an error is answered. */
    const char *length = gw_request_header(req, "Content-Length");
    if (length != NULL) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(length, &end, 10);
        if (errno != 0 || end == length || *end != '\0' || length[0] == '-')
            n = UINT64_MAX;
        req->has_body = n > 0;
        req->declared_len = n;
    }
    if (gw_request_header(req, "Transfer-Encoding") != NULL)
        req->has_body = true;

    if (MHD_get_connection_values(req->conn, MHD_HEADER_KIND, NULL, NULL) > GW_MAX_HEADERS)
        return reject(req, 431, NULL);
    if (req->target_too_long)
        return reject(req, 414, NULL);

    const char *query = memchr(req->target, '?', req->target_len);
    size_t path_len = query != NULL ? (size_t)(query - req->target) : req->target_len;

    if (strcmp(method, "OPTIONS") == 0) {
        /* A preflight for any path; the Allow list is the path's when known. */
        if (gw_route_match("OPTIONS", req->target, path_len, &req->match) != GW_MATCH_METHOD)
            req->match.allow[0] = '\0';
        req->preflight = true;
        req->phase = GW_PHASE_BODY;
        return MHD_YES;
    }

    req->match_result = gw_route_match(method, req->target, path_len, &req->match);
    switch (req->match_result) {
    case GW_MATCH_OK:
        break;
    case GW_MATCH_NOT_FOUND:
        return reject(req, 404, NULL);
    case GW_MATCH_METHOD:
        return reject(req, 405, NULL);
    case GW_MATCH_BAD_PATH:
        return reject(req, 400, "La dirección tiene caracteres mal codificados.");
    case GW_MATCH_TOO_LONG:
        return reject(req, 414, NULL);
    }

    if (query != NULL) {
        size_t query_len = req->target_len - path_len - 1;
        int rv = gw_query_parse(query + 1, query_len, &req->query);
        if (rv == BP_ETOOBIG)
            return reject(req, 400, "La consulta tiene demasiados parámetros.");
        if (rv == BP_EINVAL)
            return reject(req, 400, "Un parámetro de la consulta está mal codificado.");
        if (rv != 0)
            return reject(req, 500, NULL);
    }

    req->op = req->match.route->op != NULL ? req->match.route->op : &gw_proxy_op;
    if (req->op->body != NULL) {
        /* A streamed body: the op judges its type and size. */
        int status = req->op->accept(req);
        if (status != 0)
            return reject(req, status, req->early_message);
    } else {
        if (req->declared_len > GW_MAX_BODY)
            return reject_now(req, 413, NULL);
        /* JSON only, except for a route that takes the request as it came
         * (a webhook: Twilio's callbacks are form-encoded); its daemon
         * judges. */
        if (req->has_body && !gw_raw_input(gw_route_rpc(req->match.index)) &&
            !is_json(gw_request_header(req, "Content-Type")))
            return reject(req, 415, NULL);
    }
    /* Rate limits are counted where the caller is known: proxy.c. */
    req->phase = GW_PHASE_BODY;
    return MHD_YES;
}

static enum MHD_Result on_body_data(gw_request *req, const char *data, size_t n)
{
    if (req->body_too_large || req->early_status != 0) {
        /* Read and drop the rest to answer 413 with a clean exchange, but
         * not for ever. */
        req->body_dropped += n;
        return req->body_dropped > GW_DRAIN_MAX ? MHD_NO : MHD_YES;
    }
    if (req->op != NULL && req->op->body != NULL)
        return req->op->body(req, data, n);
    if (n > GW_MAX_BODY - req->body_len) {
        req->body_too_large = true;
        req->closing = true;
        req->body_dropped += n;
        return MHD_YES;
    }
    if (req->body_len + n > req->body_cap) {
        size_t cap = req->body_cap > 0 ? req->body_cap : 4096;
        while (cap < req->body_len + n)
            cap *= 2;
        if (cap > GW_MAX_BODY)
            cap = GW_MAX_BODY;
        char *grown = realloc(req->body, cap);
        if (grown == NULL)
            return MHD_NO;
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    return MHD_YES;
}

static enum MHD_Result on_body_complete(gw_request *req)
{
    if (req->early_status != 0)
        return gw_answer_error(req, req->early_status, NULL, req->early_message, NULL);
    if (req->preflight)
        return gw_answer_preflight(req);
    if (req->body_too_large)
        return gw_answer_error(req, 413, NULL, NULL, NULL);
    return req->op->start(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    gw_request *req = *con_cls;
    if (req == NULL)
        return MHD_NO; /* out of memory at the request line */
    switch (req->phase) {
    case GW_PHASE_HEADERS:
        return on_headers(req, method);
    case GW_PHASE_BODY:
        if (*upload_data_size > 0) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            return on_body_data(req, upload_data, n);
        }
        return on_body_complete(req);
    case GW_PHASE_WAITING:
        request_unsuspended(req);
        return req->op->finish(req);
    case GW_PHASE_ANSWERED:
        break;
    }
    *upload_data_size = 0;
    return MHD_YES;
}

/* The request is over (answered, or the client went away): access log,
 * metrics, free. Never the Authorization header or the body in the log. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    gw_server *srv = cls;
    gw_request *req = *con_cls;
    if (req == NULL)
        return;
    *con_cls = NULL;
    double seconds = (double)(mono_ns() - req->started_ns) / 1e9;
    /* Patterns, never raw paths, so that the label set stays bounded. */
    const char *route = req->preflight ? "preflight"
                        : req->match_result == GW_MATCH_OK && req->match.route != NULL
                            ? req->match.route->pattern
                            : "unmatched";
    const char *method = req->method != NULL ? req->method : "-";
    if (req->status != 0)
        gw_metrics_observe(route, method, req->status, seconds);
    char shown_method[16];
    printable_copy(shown_method, sizeof shown_method, method);
    /* The access log: one JSON line per request. Never a token, a body or
     * the query (it may hold personal data); the route is the pattern. */
    bp_log_field fields[] = {
        {"method", shown_method, 0},
        {"route", route, 0},
        {"status", NULL, req->status},
        {"duration_ms", NULL, (double)(int64_t)(seconds * 1e6) / 1e3},
        {"client_ip", req->client_ip, 0},
        {"user_id", req->proxy.user_id[0] != '\0' ? req->proxy.user_id : NULL, 0},
        {"aborted", NULL, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? 0 : 1},
    };
    size_t n_fields = BP_COUNTOF(fields);
    if (fields[5].str == NULL) /* not signed in, or not known: left out */
        fields[5] = fields[--n_fields];
    bp_log_fields(BP_LOG_INFO, req->request_id[0] != '\0' ? req->request_id : NULL, "http", fields,
                  n_fields);
    request_unsuspended(req);
    request_free(req);
    atomic_fetch_sub(&srv->active, 1);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    bp_log(BP_LOG_WARN, NULL, "libmicrohttpd: %s", line);
}

/* Raises the open-file limit to what GW_MAX_CONNECTIONS needs (plus room
 * for the bus and logs) and returns the connection limit it allows. */
static unsigned connection_limit(void)
{
    const rlim_t spare = 512;
    rlim_t need = GW_MAX_CONNECTIONS + spare;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return GW_MAX_CONNECTIONS;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 64;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        unsigned limit = rl.rlim_cur > spare + 64 ? (unsigned)(rl.rlim_cur - spare) : 64;
        bp_log_warn("open-file limit %llu allows only %u connections (raise LimitNOFILE)",
                    (unsigned long long)rl.rlim_cur, limit);
        return limit;
    }
    return GW_MAX_CONNECTIONS;
}

int gw_server_start(const gw_config *cfg, gw_server **out)
{
    gw_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return BP_ENOMEM;
    srv->cfg = *cfg;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (cfg->ipv6)
        flags |= strcmp(cfg->bind_address, "::") == 0 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    /* The logger goes first so that every message of the start goes to it. */
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&srv->cfg.addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
        connection_limit(), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)GW_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GW_CONNECTION_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_URI_LOG_CALLBACK,
        on_request_line, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        bp_log_error("cannot listen on %s port %d (in use, or not an address of this host)",
                     cfg->bind_address, cfg->port);
        free(srv);
        return BP_EIO;
    }
    *out = srv;
    return 0;
}

const gw_config *gw_server_config(const gw_server *srv)
{
    return &srv->cfg;
}

/* Sleeps until *counter is 0 (true) or deadline_ns passes (false). */
static bool wait_zero(atomic_int *counter, int64_t deadline_ns, const char *what)
{
    int64_t next_note = mono_ns() + 5000000000LL;
    while (atomic_load(counter) > 0) {
        int64_t now = mono_ns();
        if (deadline_ns != 0 && now >= deadline_ns)
            return false;
        if (now >= next_note) {
            bp_log_info("stopping: %d %s still in flight", atomic_load(counter), what);
            next_note = now + 5000000000LL;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

void gw_server_stop(gw_server *srv)
{
    atomic_store(&srv->quiescing, true);
    MHD_socket listen_fd = MHD_quiesce_daemon(srv->daemon);
    /* Refuse what waits in the listen backlog, at once, so that clients and
     * nginx try another instance; the descriptor itself stays open until
     * libmicrohttpd has stopped, as its documentation asks. */
    if (listen_fd != MHD_INVALID_SOCKET)
        shutdown(listen_fd, SHUT_RDWR);

    int64_t grace = (int64_t)(srv->cfg.rpc_timeout_ms + 1000) * 1000000;
    if (!wait_zero(&srv->active, mono_ns() + grace, "requests"))
        bp_log_warn("stopping: %d requests did not finish in time", atomic_load(&srv->active));
    atomic_store(&srv->stopping, true);
    /* Never stop libmicrohttpd with a connection suspended: each one is
     * resumed by its bus call, whose deadline bounds this wait. */
    int64_t bound = (int64_t)(srv->cfg.rpc_timeout_ms + 5000) * 1000000;
    if (!wait_zero(&srv->suspended, mono_ns() + bound, "suspended requests")) {
        /* Stopping now would be undefined behaviour in libmicrohttpd; the
         * process is about to exit, so leave the server to the kernel. */
        bp_log_error("stopping: %d connections still suspended; leaving the HTTP server as is",
                     atomic_load(&srv->suspended));
        return;
    }
    wait_zero(&srv->active, mono_ns() + 1000000000LL, "requests");

    MHD_stop_daemon(srv->daemon);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    free(srv);
}
