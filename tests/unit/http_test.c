/* The outbound HTTP client against a small libmicrohttpd server started in
 * the test: answers of any status, bodies, kept headers, redirects, the
 * timeout, the size cap, refused connections and concurrent calls. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bp.h"
#include "http.h"

static struct MHD_Daemon *server;
static unsigned port;
static char base[64];

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body,
                              size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "X-Test", "uno");
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    if (strcmp(body, "moved") == 0)
        MHD_add_response_header(r, "Location", "/hello");
    enum MHD_Result rv = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rv;
}

/* A body of unknown length, so the cap is met while it streams. */
static ssize_t endless(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    if (pos >= 1024 * 1024)
        return MHD_CONTENT_READER_END_OF_STREAM;
    memset(buf, 'x', max);
    return (ssize_t)max;
}

typedef struct {
    char body[4096];
    size_t len;
} upload;

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    if (*con_cls == NULL) {
        *con_cls = calloc(1, sizeof(upload));
        return *con_cls != NULL ? MHD_YES : MHD_NO;
    }
    upload *u = *con_cls;
    if (*data_size != 0) {
        size_t n = *data_size < sizeof u->body - u->len ? *data_size : sizeof u->body - u->len;
        memcpy(u->body + u->len, data, n);
        u->len += n;
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/hello") == 0)
        return answer(c, 200, "hola", 4);
    if (strcmp(url, "/teapot") == 0)
        return answer(c, 418, "soy una tetera", 14);
    if (strcmp(url, "/echo") == 0) {
        char out[4200];
        int n = snprintf(out, sizeof out, "%s:%.*s", method, (int)u->len, u->body);
        return answer(c, 201, out, (size_t)n);
    }
    if (strcmp(url, "/ua") == 0) {
        const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
        const char *x = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Mine");
        char out[256];
        int n = snprintf(out, sizeof out, "%s|%s", ua ? ua : "", x ? x : "");
        return answer(c, 200, out, (size_t)n);
    }
    if (strcmp(url, "/redirect") == 0)
        return answer(c, 302, "moved", 5);
    if (strcmp(url, "/slow") == 0) {
        sleep(2);
        return answer(c, 200, "tarde", 5);
    }
    if (strcmp(url, "/big") == 0) {
        static char big[100 * 1024];
        memset(big, 'b', sizeof big);
        return answer(c, 200, big, sizeof big);
    }
    if (strcmp(url, "/stream") == 0) {
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, endless, NULL, NULL);
        enum MHD_Result rv = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return rv;
    }
    return answer(c, 404, "no", 2);
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void start(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    server =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                         NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    cr_assert_not_null(server, "the test server did not start");
    port = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
}

static void stop(void)
{
    MHD_stop_daemon(server);
}

TestSuite(http, .init = start, .fini = stop);

static int get(const char *path, size_t cap, long timeout_ms, bp_http_response *resp)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", base, path);
    bp_http_request req = {.url = url, .timeout_ms = timeout_ms, .max_response_bytes = cap};
    return bp_http_do(&req, resp);
}

Test(http, answer_with_status_body_and_kept_headers)
{
    char url[128];
    snprintf(url, sizeof url, "%s/hello", base);
    static const char *const keep[] = {"x-test", "Content-Type", NULL};
    bp_http_request req = {
        .url = url, .timeout_ms = 2000, .max_response_bytes = 1024, .keep_headers = keep};
    bp_http_response resp;
    cr_assert_eq(bp_http_do(&req, &resp), 0);
    cr_assert_eq(resp.status, 200);
    cr_assert_eq(resp.len, 4);
    cr_assert_str_eq(resp.body, "hola");
    cr_assert_str_eq(bp_http_header_get(&resp, "X-Test"), "uno");
    cr_assert_str_eq(bp_http_header_get(&resp, "content-type"), "text/plain; charset=utf-8");
    cr_assert_null(bp_http_header_get(&resp, "Date"), "only the asked-for headers are kept");
    bp_http_response_free(&resp);
}

Test(http, any_status_is_an_answer)
{
    bp_http_response resp;
    cr_assert_eq(get("/teapot", 1024, 2000, &resp), 0);
    cr_assert_eq(resp.status, 418);
    cr_assert_str_eq(resp.body, "soy una tetera");
    bp_http_response_free(&resp);
    cr_assert_eq(get("/nothing-here", 1024, 2000, &resp), 0);
    cr_assert_eq(resp.status, 404);
    bp_http_response_free(&resp);
}

Test(http, post_and_put_send_the_body_and_headers)
{
    char url[128];
    snprintf(url, sizeof url, "%s/echo", base);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    const char body[] = "{\"monto\":1500}";
    const char *methods[] = {"POST", "PUT", "PATCH"};
    for (size_t i = 0; i < BP_COUNTOF(methods); i++) {
        bp_http_request req = {.method = methods[i],
                               .url = url,
                               .headers = headers,
                               .body = body,
                               .body_len = strlen(body),
                               .timeout_ms = 2000,
                               .max_response_bytes = 4096};
        bp_http_response resp;
        cr_assert_eq(bp_http_do(&req, &resp), 0, "%s", methods[i]);
        cr_assert_eq(resp.status, 201);
        char want[64];
        snprintf(want, sizeof want, "%s:%s", methods[i], body);
        cr_assert_str_eq(resp.body, want);
        bp_http_response_free(&resp);
    }
}

Test(http, sends_our_user_agent_and_caller_headers)
{
    char url[128];
    snprintf(url, sizeof url, "%s/ua", base);
    static const char *const headers[] = {"X-Mine: sí", NULL};
    bp_http_request req = {
        .url = url, .headers = headers, .timeout_ms = 2000, .max_response_bytes = 1024};
    bp_http_response resp;
    cr_assert_eq(bp_http_do(&req, &resp), 0);
    cr_assert_str_eq(resp.body, "BarberPro/1|sí");
    bp_http_response_free(&resp);
}

Test(http, redirects_are_not_followed_unless_asked)
{
    bp_http_response resp;
    cr_assert_eq(get("/redirect", 1024, 2000, &resp), 0);
    cr_assert_eq(resp.status, 302);
    bp_http_response_free(&resp);

    char url[128];
    snprintf(url, sizeof url, "%s/redirect", base);
    bp_http_request req = {
        .url = url, .timeout_ms = 2000, .max_response_bytes = 1024, .follow_redirects = true};
    cr_assert_eq(bp_http_do(&req, &resp), 0);
    cr_assert_eq(resp.status, 200);
    cr_assert_str_eq(resp.body, "hola");
    bp_http_response_free(&resp);
}

Test(http, a_slow_answer_times_out)
{
    bp_http_response resp;
    int64_t t0 = bp_mono_ms();
    cr_assert_eq(get("/slow", 1024, 300, &resp), BP_ETIMEDOUT);
    int64_t took = bp_mono_ms() - t0;
    cr_assert_lt(took, 1500, "the 300 ms deadline took %lld ms", (long long)took);
    cr_assert_null(resp.body);
}

Test(http, bodies_over_the_cap_are_refused)
{
    bp_http_response resp;
    cr_assert_eq(get("/big", 1024, 2000, &resp), BP_ETOOBIG, "declared length over the cap");
    cr_assert_null(resp.body);
    cr_assert_eq(get("/stream", 64 * 1024, 5000, &resp), BP_ETOOBIG, "streamed past the cap");
    cr_assert_eq(get("/big", 100 * 1024, 2000, &resp), 0, "exactly the cap is fine");
    cr_assert_eq(resp.len, 100 * 1024);
    bp_http_response_free(&resp);
}

Test(http, refused_connection_is_unavailable)
{
    /* A port that was free a moment ago: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, len), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(addr.sin_port));
    bp_http_request req = {.url = url, .timeout_ms = 2000, .max_response_bytes = 1024};
    bp_http_response resp;
    cr_assert_eq(bp_http_do(&req, &resp), BP_EUNAVAIL);
    req.url = "http://no-such-host.invalid/";
    cr_assert_eq(bp_http_do(&req, &resp), BP_EUNAVAIL);
}

Test(http, only_http_and_https_and_sane_requests)
{
    bp_http_response resp;
    const char *urls[] = {"file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1/"};
    for (size_t i = 0; i < BP_COUNTOF(urls); i++) {
        bp_http_request req = {.url = urls[i], .timeout_ms = 1000, .max_response_bytes = 1024};
        cr_assert_eq(bp_http_do(&req, &resp), BP_EINVAL, "%s", urls[i]);
    }
    bp_http_request no_timeout = {.url = base, .max_response_bytes = 1024};
    cr_assert_eq(bp_http_do(&no_timeout, &resp), BP_EINVAL);
    bp_http_request no_cap = {.url = base, .timeout_ms = 1000};
    cr_assert_eq(bp_http_do(&no_cap, &resp), BP_EINVAL);
    bp_http_response_free(&resp); /* harmless on an empty response */
}

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        bp_http_response resp;
        if (get("/hello", 1024, 5000, &resp) != 0 || strcmp(resp.body, "hola") != 0)
            return (void *)1;
        bp_http_response_free(&resp);
    }
    return NULL;
}

Test(http, concurrent_calls_from_many_threads)
{
    pthread_t t[8];
    for (size_t i = 0; i < BP_COUNTOF(t); i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (size_t i = 0; i < BP_COUNTOF(t); i++) {
        void *rv;
        pthread_join(t[i], &rv);
        cr_assert_null(rv, "a concurrent call failed");
    }
}
