/* The integration test harness (see harness.h): libcurl for HTTP, jansson
 * for bodies, nng for raw bus messages, fork/exec to bring daemons back. */
#include "harness.h"

#include "bp.h"
#include "events.pb-c.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PATH_MAX_LEN 4096

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : def;
}

double bpt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bpt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int bpt_rpc_timeout_ms(void)
{
    const char *v = getenv("RPC_TIMEOUT_MS");
    char *end = NULL;
    long ms = v != NULL ? strtol(v, &end, 10) : 0;
    return end != NULL && *end == '\0' && ms > 0 && ms < 600000 ? (int)ms : 5000;
}

const char *bpt_base_url(void)
{
    return env_or("BP_TEST_BASE_URL", "http://127.0.0.1:3000");
}

/* ---- HTTP ----------------------------------------------------------------- */

typedef struct {
    bpt_response *r;
    size_t cap;
    int too_big;
} fetch_state;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    fetch_state *st = arg;
    size_t n = size * nmemb;
    bpt_response *r = st->r;
    if (r->body_len + n + 1 > BPT_MAX_BODY) {
        st->too_big = 1;
        return 0;
    }
    if (r->body_len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *grown = realloc(r->body, cap);
        if (grown == NULL)
            return 0;
        r->body = grown;
        st->cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static void headers_clear(bpt_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    r->headers = NULL;
    r->n_headers = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    fetch_state *st = arg;
    bpt_response *r = st->r;
    size_t n = size * nmemb;
    /* A new status line (after 100 Continue) starts a new header set. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        headers_clear(r);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (colon == NULL)
        return n;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1;
    const char *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    bpt_header_field *grown = realloc(r->headers, (r->n_headers + 1) * sizeof *grown);
    if (grown == NULL)
        return 0;
    r->headers = grown;
    r->headers[r->n_headers].name = strndup(data, name_len);
    r->headers[r->n_headers].value = strndup(v, (size_t)(end - v));
    r->n_headers++;
    return n;
}

/* bpt_http to any server: base is the URL that path is appended to. */
static bpt_response *http_at(const char *base, const char *method, const char *path,
                             const char *const *headers, const void *body, size_t body_len)
{
    pthread_once(&curl_once, curl_start);
    CURL *h = curl_easy_init();
    bpt_response *r = calloc(1, sizeof *r);
    struct curl_slist *list = NULL;
    char url[PATH_MAX_LEN];
    if (h == NULL || r == NULL)
        goto fail;
    r->body = calloc(1, 1);
    if (r->body == NULL)
        goto fail;
    fetch_state st = {.r = r, .cap = 1};

    snprintf(url, sizeof url, "%s%s", base, path);
    int has_expect = 0;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        list = curl_slist_append(list, headers[i]);
        if (strncasecmp(headers[i], "Expect:", 7) == 0)
            has_expect = 1;
    }
    /* No "Expect: 100-continue" pause before large bodies unless asked. */
    if (!has_expect)
        list = curl_slist_append(list, "Expect:");

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    double total = 0;
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &total);
    r->elapsed_ms = total * 1000.0;
    /* A server may answer (413) and close before reading a whole upload:
     * the answer counts even though the send failed. */
    if (rc != CURLE_OK && r->status == 0) {
        fprintf(stderr, "harness: %s %s: %s\n", method, path, curl_easy_strerror(rc));
        goto fail;
    }
    if (st.too_big) {
        fprintf(stderr, "harness: %s %s: body larger than %u bytes\n", method, path, BPT_MAX_BODY);
        goto fail;
    }
    if (r->body_len > 0)
        r->json = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return r;

fail:
    curl_slist_free_all(list);
    if (h != NULL)
        curl_easy_cleanup(h);
    bpt_response_free(r);
    return NULL;
}

bpt_response *bpt_http_at(const char *base, const char *method, const char *path,
                          const char *const *headers, const void *body, size_t body_len)
{
    return http_at(base, method, path, headers, body, body_len);
}

bpt_response *bpt_http(const char *method, const char *path, const char *const *headers,
                       const void *body, size_t body_len)
{
    return http_at(bpt_base_url(), method, path, headers, body, body_len);
}

bpt_response *bpt_http_json(const char *method, const char *path, const char *token,
                            const json_t *body)
{
    return bpt_http_json_keyed(method, path, token, NULL, body);
}

bpt_response *bpt_http_json_keyed(const char *method, const char *path, const char *token,
                                  const char *idem_key, const json_t *body)
{
    char auth[2200], key[300];
    const char *headers[4] = {NULL, NULL, NULL, NULL};
    size_t nh = 0;
    char *text = NULL;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL)
            return NULL;
        headers[nh++] = "Content-Type: application/json";
    }
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[nh++] = auth;
    }
    if (idem_key != NULL) {
        snprintf(key, sizeof key, "Idempotency-Key: %s", idem_key);
        headers[nh++] = key;
    }
    bpt_response *r = bpt_http(method, path, headers, text, text != NULL ? strlen(text) : 0);
    free(text);
    return r;
}

bpt_response *bpt_http_pack(const char *method, const char *path, const char *token,
                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_error_t err;
    json_t *body = json_vpack_ex(&err, 0, fmt, ap);
    va_end(ap);
    if (body == NULL) {
        fprintf(stderr, "harness: bad pack format %s: %s\n", fmt, err.text);
        return NULL;
    }
    bpt_response *r = bpt_http_json(method, path, token, body);
    json_decref(body);
    return r;
}

const char *bpt_header(const bpt_response *r, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; r != NULL && i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            found = r->headers[i].value;
    return found;
}

void bpt_response_free(bpt_response *r)
{
    if (r == NULL)
        return;
    headers_clear(r);
    free(r->body);
    json_decref(r->json);
    free(r);
}

json_t *bpt_json_at(const json_t *root, const char *path)
{
    json_t *node = (json_t *)root;
    const char *p = path;
    char key[128];
    while (node != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        node = json_is_object(node) ? json_object_get(node, key) : NULL;
        p += n + (dot != NULL);
    }
    return node;
}

const char *bpt_json_str(const json_t *root, const char *path)
{
    return json_string_value(bpt_json_at(root, path));
}

const char *bpt_error_code(const bpt_response *r)
{
    return r != NULL ? bpt_json_str(r->json, "error.code") : NULL;
}

const char *bpt_error_field(const bpt_response *r)
{
    return r != NULL ? bpt_json_str(r->json, "error.field") : NULL;
}

int bpt_error_is(const bpt_response *r, long status, const char *code)
{
    const char *got = bpt_error_code(r);
    const char *msg = r != NULL ? bpt_json_str(r->json, "error.message") : NULL;
    return r != NULL && r->status == status && got != NULL && strcmp(got, code) == 0 &&
           msg != NULL && *msg != '\0';
}

int bpt_wait_healthy(int timeout_ms)
{
    double deadline = bpt_now_ms() + timeout_ms;
    do {
        bpt_response *r = bpt_http("GET", "/api/health", NULL, NULL, 0);
        long status = r != NULL ? r->status : 0;
        bpt_response_free(r);
        if (status == 200)
            return 0;
        bpt_sleep_ms(100);
    } while (bpt_now_ms() < deadline);
    fprintf(stderr, "harness: /api/health not 200 within %d ms\n", timeout_ms);
    return -1;
}

/* ---- users ------------------------------------------------------------------ */

void bpt_unique_email(char *out, size_t len)
{
    static atomic_uint counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, len, "bpt-%ld-%ld%09ld-%u@example.com", (long)getpid(), (long)ts.tv_sec,
             ts.tv_nsec, atomic_fetch_add(&counter, 1));
}

unsigned bpt_unique_subscriber(void)
{
    static atomic_uint counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Milliseconds of the day times 16, plus a counter: distinct for 16
     * calls per millisecond; modulo 80,000,000 the same number comes back
     * only 5,000,000 ms (83 minutes) later. */
    uint64_t ms = (uint64_t)(ts.tv_sec % 86400) * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    uint64_t n = ms * 16u + (atomic_fetch_add(&counter, 1) % 16u);
    return 20000000u + (unsigned)(n % 80000000u);
}

int bpt_user_new(bpt_user *u)
{
    memset(u, 0, sizeof *u);
    bpt_unique_email(u->email, sizeof u->email);
    snprintf(u->password, sizeof u->password, "Navaja-Fade-7281!");
    snprintf(u->name, sizeof u->name, "Cliente de Prueba");

    bpt_response *r =
        bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:b}", "email", u->email,
                      "password", u->password, "name", u->name, "accept_terms", 1);
    if (r == NULL || r->status != 201 || bpt_json_str(r->json, "user.id") == NULL) {
        fprintf(stderr, "harness: register %s answered %ld: %s\n", u->email,
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    snprintf(u->id, sizeof u->id, "%s", bpt_json_str(r->json, "user.id"));
    bpt_response_free(r);

    r = bpt_http_pack("POST", "/api/auth/login", NULL, "{s:s, s:s}", "email", u->email, "password",
                      u->password);
    const char *token = r != NULL ? bpt_json_str(r->json, "token") : NULL;
    if (r == NULL || r->status != 200 || token == NULL || strlen(token) >= sizeof u->token) {
        fprintf(stderr, "harness: login %s answered %ld: %s\n", u->email,
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    snprintf(u->token, sizeof u->token, "%s", token);
    bpt_response_free(r);
    return 0;
}

int bpt_user_register(bpt_user *u, const char *role, const char *name)
{
    memset(u, 0, sizeof *u);
    bpt_unique_email(u->email, sizeof u->email);
    snprintf(u->password, sizeof u->password, "Navaja-Fade-7281!");
    snprintf(u->name, sizeof u->name, "%s", name);
    bpt_response *r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:s, s:b}",
                                    "email", u->email, "password", u->password, "name", name,
                                    "role", role, "accept_terms", 1);
    const char *id = r != NULL ? bpt_json_str(r->json, "user.id") : NULL;
    const char *token = r != NULL ? bpt_json_str(r->json, "token") : NULL;
    if (r == NULL || r->status != 201 || id == NULL || token == NULL ||
        strlen(token) >= sizeof u->token) {
        fprintf(stderr, "harness: register %s as %s answered %ld: %s\n", u->email, role,
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    snprintf(u->id, sizeof u->id, "%s", id);
    snprintf(u->token, sizeof u->token, "%s", token);
    bpt_response_free(r);
    return 0;
}

int bpt_admin_login(bpt_user *u)
{
    const char *email = getenv("BP_TEST_ADMIN_EMAIL");
    const char *pw = getenv("BP_TEST_ADMIN_PASSWORD");
    memset(u, 0, sizeof *u);
    if (email == NULL || pw == NULL) {
        fprintf(stderr, "harness: BP_TEST_ADMIN_EMAIL / _PASSWORD are not set\n");
        return -1;
    }
    bpt_response *r = bpt_http_pack("POST", "/api/auth/login", NULL, "{s:s, s:s}", "email", email,
                                    "password", pw);
    const char *id = r != NULL ? bpt_json_str(r->json, "user.id") : NULL;
    const char *token = r != NULL ? bpt_json_str(r->json, "token") : NULL;
    if (r == NULL || r->status != 200 || id == NULL || token == NULL ||
        strlen(token) >= sizeof u->token) {
        fprintf(stderr, "harness: admin login answered %ld: %s\n", r != NULL ? r->status : 0L,
                r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->id, sizeof u->id, "%s", id);
    snprintf(u->token, sizeof u->token, "%s", token);
    bpt_response_free(r);
    return 0;
}

/* ---- dates in Buenos Aires --------------------------------------------------- */

#define BA_OFFSET_S (-3 * 3600)

long bpt_ba_today(void)
{
    return (long)((time(NULL) + BA_OFFSET_S) / 86400);
}

int bpt_iso_weekday(long day)
{
    return (int)((day + 3) % 7) + 1; /* 1970-01-01 was a Thursday */
}

void bpt_day_date(long day, char out[11])
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

void bpt_ba_at(long day, const char *hhmm, char out[32])
{
    char d[11];
    bpt_day_date(day, d);
    snprintf(out, 32, "%sT%s:00-03:00", d, hhmm);
}

int bpt_is_holiday(long day)
{
    char path[64], d[11];
    bpt_day_date(day, d);
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(path, sizeof path, "/api/holidays?year=%d", tm.tm_year + 1900);
    bpt_response *r = bpt_http("GET", path, NULL, NULL, 0);
    if (r == NULL || r->status != 200) {
        fprintf(stderr, "harness: GET %s answered %ld\n", path, r != NULL ? r->status : 0L);
        bpt_response_free(r);
        return -1;
    }
    json_t *items = json_object_get(r->json, "items");
    int found = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *hd = bpt_json_str(json_array_get(items, i), "date");
        if (hd != NULL && strcmp(hd, d) == 0)
            found = 1;
    }
    bpt_response_free(r);
    return found;
}

long bpt_workday(int min_ahead, int n)
{
    long today = bpt_ba_today();
    for (long d = today + min_ahead; d < today + 58; d++) {
        if (bpt_iso_weekday(d) > 5)
            continue;
        int h = bpt_is_holiday(d);
        if (h < 0)
            return -1;
        if (h == 0 && n-- == 0)
            return d;
    }
    fprintf(stderr, "harness: no working day within the horizon\n");
    return -1;
}

/* ---- a shop to book in ----------------------------------------------------------- */

/* Takes r (freed here): 0 and the string at path copied to out when r is a
 * 201 carrying it, else -1. */
static int created_id(bpt_response *r, const char *what, const char *path, char out[64])
{
    const char *id = r != NULL && r->status == 201 ? bpt_json_str(r->json, path) : NULL;
    if (id == NULL) {
        fprintf(stderr, "harness: create %s answered %ld: %s\n", what, r != NULL ? r->status : 0L,
                r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    snprintf(out, 64, "%s", id);
    bpt_response_free(r);
    return 0;
}

int bpt_shop_new(bpt_shop *f)
{
    memset(f, 0, sizeof *f);
    if (bpt_user_register(&f->owner, "owner", "Dueña de Prueba") != 0 ||
        bpt_user_register(&f->barber, "client", "Barbero de Prueba") != 0 ||
        bpt_user_new(&f->client) != 0)
        return -1;
    if (created_id(bpt_http_pack("POST", "/api/shops", f->owner.token, "{s:s, s:s, s:s}", "name",
                                 "Barbería El Filo", "address", "Av. Corrientes 1234", "city",
                                 "Buenos Aires"),
                   "shop", "shop.id", f->shop_id) != 0)
        return -1;
    char path[128];
    snprintf(path, sizeof path, "/api/shops/%s/services", f->shop_id);
    if (created_id(bpt_http_pack("POST", path, f->owner.token, "{s:s, s:i, s:I, s:i, s:i}", "name",
                                 "Corte", "duration_minutes", 30, "price_cents",
                                 (json_int_t)BPT_CORTE_PRICE, "buffer_minutes", 10,
                                 "deposit_percent", 0),
                   "service", "service.id", f->corte_id) != 0 ||
        created_id(bpt_http_pack("POST", path, f->owner.token, "{s:s, s:i, s:I, s:i, s:i}", "name",
                                 "Color", "duration_minutes", 60, "price_cents",
                                 (json_int_t)BPT_COLOR_PRICE, "buffer_minutes", 0,
                                 "deposit_percent", 20),
                   "service", "service.id", f->color_id) != 0)
        return -1;
    snprintf(path, sizeof path, "/api/shops/%s/providers", f->shop_id);
    bpt_response *r =
        bpt_http_pack("POST", path, f->owner.token, "{s:s, s:s, s:[s, s]}", "name", "Tano", "email",
                      f->barber.email, "service_ids", f->corte_id, f->color_id);
    const char *linked = r != NULL ? bpt_json_str(r->json, "provider.user_id") : NULL;
    if (linked == NULL || strcmp(linked, f->barber.id) != 0) {
        fprintf(stderr, "harness: the provider is not linked to the barber's account: %ld %s\n",
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    return created_id(r, "provider", "provider.id", f->provider_id);
}

bpt_response *bpt_book(const char *token, const bpt_shop *f, const char *service_id,
                       const char *starts_at)
{
    return bpt_book_keyed(token, f, service_id, starts_at, NULL);
}

bpt_response *bpt_book_keyed(const char *token, const bpt_shop *f, const char *service_id,
                             const char *starts_at, const char *idem_key)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "provider_id", f->provider_id, "service_id",
                             service_id, "starts_at", starts_at);
    if (body == NULL)
        return NULL;
    bpt_response *r = bpt_http_json_keyed("POST", "/api/bookings", token, idem_key, body);
    json_decref(body);
    return r;
}

bpt_response *bpt_booking_get(const char *token, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/bookings/%s", id);
    return bpt_http_json("GET", path, token, NULL);
}

bpt_response *bpt_booking_act(const char *token, const char *id, const char *what,
                              const json_t *body)
{
    char path[160];
    snprintf(path, sizeof path, "/api/bookings/%s/%s", id, what);
    return bpt_http_json("POST", path, token, body);
}

char *bpt_booking_field(const char *token, const char *id, const char *field)
{
    bpt_response *r = bpt_booking_get(token, id);
    if (r == NULL || r->status != 200) {
        fprintf(stderr, "harness: GET booking %s answered %ld: %s\n", id,
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return NULL;
    }
    char path[64];
    snprintf(path, sizeof path, "booking.%s", field);
    const char *v = bpt_json_str(r->json, path);
    char *out = strdup(v != NULL ? v : "");
    bpt_response_free(r);
    return out;
}

bpt_response *bpt_availability(const bpt_shop *f, const char *service_id, long day, int days)
{
    char path[256], d[11];
    bpt_day_date(day, d);
    snprintf(path, sizeof path, "/api/providers/%s/availability?service_id=%s&date=%s&days=%d",
             f->provider_id, service_id, d, days);
    return bpt_http("GET", path, NULL, NULL, 0);
}

int bpt_offers(const bpt_shop *f, const char *service_id, long day, const char *hhmm)
{
    bpt_response *r = bpt_availability(f, service_id, day, 1);
    if (r == NULL || r->status != 200) {
        fprintf(stderr, "harness: availability answered %ld: %s\n", r != NULL ? r->status : 0L,
                r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    char want[32];
    bpt_ba_at(day, hhmm, want);
    json_t *slots = json_object_get(r->json, "slots");
    int found = 0;
    for (size_t i = 0; i < json_array_size(slots); i++) {
        const char *s = bpt_json_str(json_array_get(slots, i), "starts_at");
        if (s != NULL && strcmp(s, want) == 0)
            found = 1;
    }
    bpt_response_free(r);
    return found;
}

/* ---- events ---------------------------------------------------------------------- */

int bpt_deliver_payment(const char *topic, const char *event_id, const char *booking_id,
                        int64_t amount_cents, int64_t refunded_cents, int *status)
{
    const char *dot = strchr(topic, '.');
    Bp__Events__PaymentEvent pay = BP__EVENTS__PAYMENT_EVENT__INIT;
    pay.payment_id = "mp-123456789";
    pay.booking_id = (char *)booking_id;
    pay.status = (char *)(dot != NULL ? dot + 1 : topic);
    pay.has_amount_cents = 1;
    pay.amount_cents = amount_cents;
    if (refunded_cents >= 0) {
        pay.has_refunded_cents = 1;
        pay.refunded_cents = refunded_cents;
    }
    pay.currency = "ARS";
    uint8_t payload[512];
    if (bp__events__payment_event__get_packed_size(&pay) > sizeof payload)
        return -1;
    size_t plen = bp__events__payment_event__pack(&pay, payload);

    char occurred[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(occurred, sizeof occurred, "%Y-%m-%dT%H:%M:%SZ", &tm);
    Bp__Events__Event ev = BP__EVENTS__EVENT__INIT;
    ev.id = (char *)event_id;
    ev.topic = (char *)topic;
    ev.producer = "payment";
    ev.occurred_at = occurred;
    ev.key = (char *)booking_id;
    ev.has_payload = 1;
    ev.payload.data = payload;
    ev.payload.len = plen;
    ev.has_attempt = 1;
    ev.attempt = 1;
    uint8_t body[1024];
    if (bp__events__event__get_packed_size(&ev) > sizeof body)
        return -1;
    size_t blen = bp__events__event__pack(&ev, body);
    Bp__Rpc__Reply *reply = NULL;
    int rv = bpt_rpc_call("booking", "Deliver", body, blen, bpt_rpc_timeout_ms(), &reply);
    if (rv != 0) {
        fprintf(stderr, "harness: Deliver %s of %s: %d\n", topic, booking_id, rv);
        return rv;
    }
    *status = (int)reply->status;
    bp__rpc__reply__free_unpacked(reply, NULL);
    return 0;
}

/* ---- payments ------------------------------------------------------------------ */

bpt_response *bpt_checkout(const char *token, const char *booking_id, const char *idem_key)
{
    json_t *body = json_pack("{s:s}", "booking_id", booking_id);
    if (body == NULL)
        return NULL;
    bpt_response *r = bpt_http_json_keyed("POST", "/api/payments/checkout", token, idem_key, body);
    json_decref(body);
    return r;
}

bpt_response *bpt_payment_get(const char *token, const char *id)
{
    char path[160];
    snprintf(path, sizeof path, "/api/payments/%s", id);
    return bpt_http_json("GET", path, token, NULL);
}

int bpt_book_deposit(const bpt_shop *f, long day, const char *hhmm, int hold_seconds, char id[64])
{
    char start[32];
    bpt_ba_at(day, hhmm, start);
    bpt_response *r = bpt_book(f->client.token, f, f->color_id, start);
    const char *st = r != NULL && r->status == 201 ? bpt_json_str(r->json, "booking.status") : NULL;
    const char *bid = r != NULL ? bpt_json_str(r->json, "booking.id") : NULL;
    if (st == NULL || strcmp(st, "pending_payment") != 0 || bid == NULL) {
        fprintf(stderr, "harness: booking Color at %s answered %ld: %s\n", start,
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    snprintf(id, 64, "%s", bid);
    bpt_response_free(r);
    return bpt_booking_hold(id, hold_seconds);
}

int bpt_checkout_open(const char *token, const char *booking_id, char payment_id[64],
                      char *checkout_url, size_t url_len)
{
    char key[37];
    bp_uuid(key);
    bpt_response *r = bpt_checkout(token, booking_id, key);
    const char *id = r != NULL && r->status == 201 ? bpt_json_str(r->json, "payment.id") : NULL;
    const char *url = r != NULL ? bpt_json_str(r->json, "payment.checkout_url") : NULL;
    if (id == NULL || url == NULL || strlen(url) >= url_len) {
        fprintf(stderr, "harness: checkout of %s answered %ld: %s\n", booking_id,
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return -1;
    }
    snprintf(payment_id, 64, "%s", id);
    snprintf(checkout_url, url_len, "%s", url);
    bpt_response_free(r);
    return 0;
}

/* Polls GET path until the string at field is want. */
static int wait_field(const char *path, const char *token, const char *field, const char *want,
                      int timeout_ms)
{
    double deadline = bpt_now_ms() + timeout_ms;
    for (;;) {
        bpt_response *r = bpt_http_json("GET", path, token, NULL);
        const char *got = r != NULL && r->status == 200 ? bpt_json_str(r->json, field) : NULL;
        if (got != NULL && strcmp(got, want) == 0) {
            bpt_response_free(r);
            return 0;
        }
        if (bpt_now_ms() >= deadline) {
            fprintf(stderr, "harness: %s of %s not %s within %d ms; last answer %ld: %s\n", field,
                    path, want, timeout_ms, r != NULL ? r->status : 0L, r != NULL ? r->body : "");
            bpt_response_free(r);
            return -1;
        }
        bpt_response_free(r);
        bpt_sleep_ms(100);
    }
}

int bpt_wait_payment_status(const char *token, const char *id, const char *status, int timeout_ms)
{
    char path[160];
    snprintf(path, sizeof path, "/api/payments/%s", id);
    return wait_field(path, token, "payment.status", status, timeout_ms);
}

int bpt_wait_booking_status(const char *token, const char *id, const char *status, int timeout_ms)
{
    char path[160];
    snprintf(path, sizeof path, "/api/bookings/%s", id);
    return wait_field(path, token, "booking.status", status, timeout_ms);
}

/* ---- the suite's database ------------------------------------------------------ */

/* A new connection to DATABASE_URL, or NULL (printed). */
static PGconn *suite_db(void)
{
    const char *url = getenv("DATABASE_URL");
    if (url == NULL) {
        fprintf(stderr, "harness: DATABASE_URL is not set\n");
        return NULL;
    }
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "harness: cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

long bpt_db_long(const char *sql, int n, const char *const *params)
{
    PGconn *c = suite_db();
    if (c == NULL)
        return -1;
    long v = -1;
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0) {
        char *end = NULL;
        v = strtol(PQgetvalue(r, 0, 0), &end, 10);
        if (end == NULL || *end != '\0')
            v = -1;
    }
    if (v < 0)
        fprintf(stderr, "harness: %s: %s\n", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return v;
}

char *bpt_db_text(const char *sql, int n, const char *const *params)
{
    PGconn *c = suite_db();
    if (c == NULL)
        return NULL;
    char *v = NULL;
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0)
        v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "harness: %s: %s\n", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return v;
}

int bpt_booking_hold(const char *booking_id, int seconds)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", seconds);
    const char *params[] = {booking_id, secs};
    long n = bpt_db_long("WITH moved AS (UPDATE booking.bookings"
                         " SET hold_expires_at = now() + make_interval(secs => $2::int)"
                         " WHERE id = $1::uuid AND status = 'pending_payment' RETURNING 1)"
                         " SELECT count(*) FROM moved",
                         2, params);
    if (n != 1) {
        fprintf(stderr, "harness: booking %s is not pending_payment: its hold was not moved\n",
                booking_id);
        return -1;
    }
    return 0;
}

long bpt_payment_events(const char *topic, const char *booking_id)
{
    PGconn *c = suite_db();
    if (c == NULL)
        return -1;
    const char *params[] = {topic};
    /* One row per event (the outbox has one per consumer), payload binary. */
    PGresult *r = PQexecParams(c,
                               "SELECT DISTINCT ON (event_id) event_id, payload"
                               " FROM payment.outbox WHERE topic = $1 ORDER BY event_id",
                               1, NULL, params, NULL, NULL, 1);
    long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        n = 0;
        for (int i = 0; i < PQntuples(r); i++) {
            Bp__Events__PaymentEvent *ev = bp__events__payment_event__unpack(
                NULL, (size_t)PQgetlength(r, i, 1), (const uint8_t *)PQgetvalue(r, i, 1));
            if (ev == NULL) {
                fprintf(stderr, "harness: a %s payload in payment.outbox does not decode\n", topic);
                continue;
            }
            if (ev->booking_id != NULL && strcmp(ev->booking_id, booking_id) == 0)
                n++;
            bp__events__payment_event__free_unpacked(ev, NULL);
        }
    } else {
        fprintf(stderr, "harness: reading payment.outbox: %s\n", PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(c);
    return n;
}

long bpt_booking_events(const char *topic, const char *booking_id)
{
    const char *params[] = {topic, booking_id};
    return bpt_db_long("SELECT count(DISTINCT event_id) FROM booking.outbox"
                       " WHERE topic = $1 AND key = $2",
                       2, params);
}

/* ---- the MercadoPago stand-in ---------------------------------------------------- */

const char *bpt_mp_url(void)
{
    return env_or("MERCADOPAGO_API_URL", "http://127.0.0.1:8089");
}

bpt_response *bpt_mp_http(const char *method, const char *path)
{
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s",
             env_or("MERCADOPAGO_ACCESS_TOKEN", "TEST-fake-access-token"));
    const char *headers[] = {auth, NULL};
    return http_at(bpt_mp_url(), method, path, headers, NULL, 0);
}

/* method of a control endpoint; the parsed 2xx body, or NULL. */
__attribute__((format(printf, 2, 0))) static json_t *mp_control(const char *method, const char *fmt,
                                                                va_list ap)
{
    char path[1024];
    int n = vsnprintf(path, sizeof path, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "harness: stand-in path too long\n");
        return NULL;
    }
    bpt_response *r = bpt_mp_http(method, path);
    if (r == NULL || r->status < 200 || r->status > 299 || r->json == NULL) {
        fprintf(stderr, "harness: %s %s%s answered %ld: %s\n", method, bpt_mp_url(), path,
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return NULL;
    }
    json_t *out = json_incref(r->json);
    bpt_response_free(r);
    return out;
}

json_t *bpt_mp_post(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *out = mp_control("POST", fmt, ap);
    va_end(ap);
    return out;
}

json_t *bpt_mp_get(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *out = mp_control("GET", fmt, ap);
    va_end(ap);
    return out;
}

int bpt_mp_mode(const char *mode)
{
    json_t *o = bpt_mp_post("/_fake/mode?mode=%s", mode);
    json_decref(o);
    return o != NULL ? 0 : -1;
}

int bpt_mp_pref_id(const char *checkout_url, char *out, size_t len)
{
    const char *p = checkout_url != NULL ? strstr(checkout_url, "pref_id=") : NULL;
    if (p == NULL) {
        fprintf(stderr, "harness: no pref_id in the checkout_url %s\n",
                checkout_url != NULL ? checkout_url : "(none)");
        return -1;
    }
    p += strlen("pref_id=");
    size_t n = strcspn(p, "&#");
    if (n == 0 || n >= len)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int64_t bpt_mp_pay(const char *checkout_url, const char *status, int notify)
{
    char pref[128];
    if (bpt_mp_pref_id(checkout_url, pref, sizeof pref) != 0)
        return -1;
    json_t *o = bpt_mp_post("/_fake/pay?preference_id=%s&status=%s%s", pref, status,
                            notify ? "" : "&notify=0");
    json_t *id = json_object_get(o, "payment_id");
    int64_t v = json_is_integer(id) ? (int64_t)json_integer_value(id) : -1;
    json_decref(o);
    return v;
}

long bpt_mp_last(const char *endpoint, json_t **last)
{
    if (last != NULL)
        *last = NULL;
    json_t *o = bpt_mp_get("/_fake/last?endpoint=%s", endpoint);
    json_t *count = json_object_get(o, "count");
    long n = json_is_integer(count) ? (long)json_integer_value(count) : -1;
    if (last != NULL && n >= 0)
        *last = json_incref(json_object_get(o, "last"));
    json_decref(o);
    return n;
}

int bpt_mp_deliveries(int64_t mp_id, const char *signature, long status)
{
    json_t *o = bpt_mp_get("/_fake/webhooks");
    json_t *list = json_object_get(o, "deliveries");
    if (!json_is_array(list)) {
        json_decref(o);
        return -1;
    }
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)mp_id);
    int n = 0;
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        const char *did = bpt_json_str(d, "data_id"), *sig = bpt_json_str(d, "signature");
        long st = (long)json_integer_value(json_object_get(d, "status"));
        if (did != NULL && strcmp(did, id) == 0 &&
            (signature == NULL || (sig != NULL && strcmp(sig, signature) == 0)) &&
            (status == 0 || st == status))
            n++;
    }
    json_decref(o);
    return n;
}

int bpt_mp_wait_deliveries(int64_t mp_id, const char *signature, long status, int n, int timeout_ms)
{
    double deadline = bpt_now_ms() + timeout_ms;
    for (;;) {
        int got = bpt_mp_deliveries(mp_id, signature, status);
        if (got >= n)
            return 0;
        if (bpt_now_ms() >= deadline) {
            json_t *o = bpt_mp_get("/_fake/webhooks");
            char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
            fprintf(stderr,
                    "harness: %d of %d webhooks about %lld (signature %s, status %ld) within %d "
                    "ms; the stand-in's deliveries: %s\n",
                    got, n, (long long)mp_id, signature != NULL ? signature : "any", status,
                    timeout_ms, text != NULL ? text : "?");
            free(text);
            json_decref(o);
            return -1;
        }
        bpt_sleep_ms(100);
    }
}

/* ---- metrics ------------------------------------------------------------------------ */

/* True when the label list [labels, end) holds want (name="value") whole. */
static int has_label(const char *labels, const char *end, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = labels; p + n <= end; p++)
        if (strncmp(p, want, n) == 0 && (p == labels || p[-1] == ',' || p[-1] == '{') &&
            (p[n] == ',' || p[n] == '}'))
            return 1;
    return 0;
}

/* The '}' that closes the label list opening at lb, skipping quoted values
 * (a route label holds braces: "/api/shops/{shop_id}"); NULL when there is
 * none before end. */
static const char *labels_close(const char *lb, const char *end)
{
    int quoted = 0;
    for (const char *p = lb + 1; p < end; p++) {
        if (quoted && *p == '\\')
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == '}')
            return p;
    }
    return NULL;
}

double bpt_metric_sum(const char *text, const char *name, const char *const *labels)
{
    double sum = 0;
    int found = 0;
    size_t want = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        const char *end = eol != NULL ? eol : line + strlen(line);
        size_t name_len = strcspn(line, "{ \n");
        if (*line != '#' && name_len >= want && line + name_len <= end &&
            strncmp(line + name_len - want, name, want) == 0 &&
            (name_len == want || line[name_len - want - 1] == '_')) {
            const char *lb = line + name_len;
            const char *rb = *lb == '{' ? labels_close(lb, end) : lb;
            int all = rb != NULL;
            for (size_t i = 0; all && labels != NULL && labels[i] != NULL; i++)
                all = *lb == '{' && has_label(lb, rb + 1, labels[i]);
            if (all) {
                const char *v = *rb == '}' ? rb + 1 : rb;
                char *vend = NULL;
                double d = strtod(v, &vend);
                if (vend != v) {
                    sum += d;
                    found = 1;
                }
            }
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return found ? sum : -1;
}

/* ---- daemons -------------------------------------------------------------------- */

static void upper(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < len; i++)
        out[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 'a' + 'A' : in[i]);
    out[i] = '\0';
}

pid_t bpt_daemon_pid(const char *name)
{
    char path[PATH_MAX_LEN];
    const char *dir = getenv("BP_TEST_PID_DIR");
    if (dir != NULL) {
        snprintf(path, sizeof path, "%s/%s.pid", dir, name);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            long pid = 0;
            int ok = fscanf(f, "%ld", &pid) == 1;
            fclose(f);
            if (ok && pid > 0)
                return (pid_t)pid;
        }
    }
    char var[64], up[32];
    upper(name, up, sizeof up);
    snprintf(var, sizeof var, "BP_TEST_PID_%s", up);
    const char *v = getenv(var);
    char *end = NULL;
    long pid = v != NULL ? strtol(v, &end, 10) : 0;
    if (end == NULL || *end != '\0' || pid <= 0) {
        fprintf(stderr, "harness: no pid known for %s\n", name);
        return -1;
    }
    return (pid_t)pid;
}

int bpt_pid_alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] != 'Z';
}

int bpt_daemon_signal(const char *name, int sig)
{
    pid_t pid = bpt_daemon_pid(name);
    if (pid <= 0 || kill(pid, sig) != 0) {
        fprintf(stderr, "harness: cannot signal %s (pid %ld): %s\n", name, (long)pid,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* True when every thread of pid is in the stopped state ('T'). */
static int all_threads_stopped(pid_t pid)
{
    char dir_path[64];
    snprintf(dir_path, sizeof dir_path, "/proc/%ld/task", (long)pid);
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        return 0;
    int stopped = 1;
    struct dirent *e;
    while (stopped && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[400], buf[512];
        snprintf(path, sizeof path, "%s/%s/stat", dir_path, e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* the thread ended */
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *paren = strrchr(buf, ')');
        stopped = paren != NULL && paren[1] == ' ' && (paren[2] == 'T' || paren[2] == 't');
    }
    closedir(dir);
    return stopped;
}

int bpt_daemon_stop(const char *name)
{
    pid_t pid = bpt_daemon_pid(name);
    if (bpt_daemon_signal(name, SIGSTOP) != 0)
        return -1;
    /* kill() returns before every thread has stopped: a request sent at
     * once could still be answered by a thread that was running. */
    double deadline = bpt_now_ms() + 5000;
    while (!all_threads_stopped(pid)) {
        if (bpt_now_ms() > deadline) {
            fprintf(stderr, "harness: %s (pid %ld) did not stop\n", name, (long)pid);
            return -1;
        }
        bpt_sleep_ms(2);
    }
    return 0;
}

int bpt_daemon_cont(const char *name)
{
    return bpt_daemon_signal(name, SIGCONT);
}

int bpt_daemon_kill(const char *name)
{
    pid_t pid = bpt_daemon_pid(name);
    if (bpt_daemon_signal(name, SIGKILL) != 0)
        return -1;
    double deadline = bpt_now_ms() + 5000;
    while (bpt_pid_alive(pid)) {
        if (bpt_now_ms() > deadline) {
            fprintf(stderr, "harness: %s (pid %ld) still alive after SIGKILL\n", name, (long)pid);
            return -1;
        }
        waitpid(pid, NULL, WNOHANG);
        bpt_sleep_ms(10);
    }
    return 0;
}

static int write_pid_file(const char *name, pid_t pid)
{
    const char *dir = getenv("BP_TEST_PID_DIR");
    char var[64], up[32], val[32];
    upper(name, up, sizeof up);
    snprintf(var, sizeof var, "BP_TEST_PID_%s", up);
    snprintf(val, sizeof val, "%ld", (long)pid);
    setenv(var, val, 1);
    if (dir == NULL)
        return 0;
    char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/%s.pid", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.pid.tmp", dir, name);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)pid);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

/* Starts path detached (its own session, reparented away from this test
 * process so that the test runner never waits for it), with the
 * "NAME=value" overrides of env (NULL-terminated, or NULL) added to this
 * process's environment, and returns its pid, or -1. */
static pid_t spawn_detached(const char *path, const char *log_path, const char *const *env)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (child == 0) {
        setsid();
        pid_t daemon = fork();
        if (daemon == 0) {
            int in = open("/dev/null", O_RDONLY);
            int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (in < 0 || log < 0)
                _exit(127);
            dup2(in, 0);
            dup2(log, 1);
            dup2(log, 2);
            closefrom(3);
            for (size_t i = 0; env != NULL && env[i] != NULL; i++)
                putenv((char *)env[i]);
            char *const argv[] = {(char *)path, NULL};
            execv(path, argv);
            _exit(127);
        }
        ssize_t w = write(fds[1], &daemon, sizeof daemon);
        _exit(w == (ssize_t)sizeof daemon ? 0 : 1);
    }
    close(fds[1]);
    pid_t daemon = -1;
    ssize_t n;
    do
        n = read(fds[0], &daemon, sizeof daemon);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    waitpid(child, NULL, 0);
    return n == (ssize_t)sizeof daemon ? daemon : -1;
}

/* True when the process answers: Health over the bus for a daemon, any
 * HTTP answer for the gateway. */
static int answers(const char *name)
{
    if (strcmp(name, "gateway") == 0) {
        bpt_response *r = bpt_http("GET", "/api/health", NULL, NULL, 0);
        int ok = r != NULL && r->status != 0;
        bpt_response_free(r);
        return ok;
    }
    Bp__Rpc__Reply *reply = NULL;
    if (bpt_rpc_call(name, "Health", NULL, 0, 500, &reply) != 0)
        return 0;
    int ok = reply->has_status && reply->status == 200;
    bp__rpc__reply__free_unpacked(reply, NULL);
    return ok;
}

int bpt_daemon_restart(const char *name, int timeout_ms)
{
    char bin[PATH_MAX_LEN], log_path[PATH_MAX_LEN];
    snprintf(bin, sizeof bin, "%s/barberpro-%s", env_or("BP_TEST_BIN_DIR", "build/test/bin"), name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", env_or("BP_TEST_LOG_DIR", "/tmp"), name);
    pid_t old = bpt_daemon_pid(name);
    if (old > 0 && bpt_pid_alive(old)) {
        fprintf(stderr, "harness: %s (pid %ld) is still running; kill it first\n", name, (long)old);
        return -1;
    }
    pid_t pid = spawn_detached(bin, log_path, NULL);
    if (pid <= 0) {
        fprintf(stderr, "harness: cannot start %s: %s\n", bin, strerror(errno));
        return -1;
    }
    if (write_pid_file(name, pid) != 0)
        fprintf(stderr, "harness: cannot record the pid of %s\n", name);
    double deadline = bpt_now_ms() + timeout_ms;
    while (bpt_now_ms() < deadline) {
        if (!bpt_pid_alive(pid)) {
            fprintf(stderr, "harness: restarted %s (pid %ld) exited; see %s\n", name, (long)pid,
                    log_path);
            return -1;
        }
        if (answers(name))
            return 0;
        bpt_sleep_ms(50);
    }
    fprintf(stderr, "harness: restarted %s did not answer within %d ms\n", name, timeout_ms);
    return -1;
}

/* A port for an extra server: a free one below the ephemeral range (as
 * scripts/suite-lib.sh picks), so that no outgoing connection takes it. */
static int free_port(void)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        int port = 20000 + (int)((unsigned)rand() % 10000u);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return -1;
}

/* True when something accepts TCP connections on 127.0.0.1:port. */
static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

pid_t bpt_gateway_spawn(const char *label, const char *const *env, char *base_url, size_t len)
{
    char bin[PATH_MAX_LEN], log_path[PATH_MAX_LEN], port_env[32];
    const char *all[32];
    size_t n = 0;
    int port = free_port();
    if (port < 0)
        return -1;
    snprintf(port_env, sizeof port_env, "PORT=%d", port);
    all[n++] = port_env;
    for (size_t i = 0; env != NULL && env[i] != NULL && n + 1 < BP_COUNTOF(all); i++)
        all[n++] = env[i];
    all[n] = NULL;
    snprintf(bin, sizeof bin, "%s/barberpro-gateway", env_or("BP_TEST_BIN_DIR", "build/test/bin"));
    snprintf(log_path, sizeof log_path, "%s/%s.log", env_or("BP_TEST_LOG_DIR", "/tmp"), label);
    snprintf(base_url, len, "http://127.0.0.1:%d", port);
    pid_t pid = spawn_detached(bin, log_path, all);
    if (pid <= 0)
        return -1;
    double deadline = bpt_now_ms() + 10000;
    while (bpt_now_ms() < deadline && bpt_pid_alive(pid)) {
        if (!port_open(port)) { /* not listening yet: no HTTP error to print */
            bpt_sleep_ms(50);
            continue;
        }
        bpt_response *r = bpt_http_at(base_url, "GET", "/api/openapi.json", NULL, NULL, 0);
        int up = r != NULL && r->status == 200;
        bpt_response_free(r);
        if (up)
            return pid;
        bpt_sleep_ms(50);
    }
    fprintf(stderr, "harness: gateway %s did not answer; see %s\n", label, log_path);
    bpt_gateway_stop(pid);
    return -1;
}

int bpt_gateway_stop(pid_t pid)
{
    if (pid <= 0 || kill(pid, SIGTERM) != 0)
        return -1;
    double deadline = bpt_now_ms() + 15000;
    while (bpt_now_ms() < deadline) {
        if (!bpt_pid_alive(pid))
            return 0;
        bpt_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    return -1;
}

/* ---- the bus ------------------------------------------------------------------------ */

void bpt_rpc_url(const char *name, char *out, size_t len)
{
    char var[64], up[32];
    upper(name, up, sizeof up);
    snprintf(var, sizeof var, "%s_RPC_URL", up);
    const char *url = getenv(var);
    if (url != NULL && *url != '\0')
        snprintf(out, len, "%s", url);
    else
        snprintf(out, len, "ipc://%s/%s.ipc", env_or("BP_TEST_RUN_DIR", "var/run"), name);
}

/* nng tears pipes down on its own threads after nng_close: a test process
 * that exits right after a call may end with that teardown unfinished, which
 * LeakSanitizer reports. nng_fini at exit waits for it (an atexit handler
 * registered after LSan's own runs before its check). */
static pthread_once_t nng_fini_once = PTHREAD_ONCE_INIT;

static void finish_nng(void)
{
    nng_fini();
}

static void register_nng_fini(void)
{
    atexit(finish_nng);
}

int bpt_rpc_raw(const char *name, const void *msg, size_t len, int timeout_ms, void **reply,
                size_t *reply_len)
{
    char url[PATH_MAX_LEN];
    nng_socket s;
    void *buf = NULL;
    size_t sz = 0;
    int rv;

    *reply = NULL;
    *reply_len = 0;
    pthread_once(&nng_fini_once, register_nng_fini);
    bpt_rpc_url(name, url, sizeof url);
    if ((rv = nng_req0_open(&s)) != 0)
        return rv;
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64u * 1024u * 1024u);
    /* One call, one connection: when the daemon drops it (an oversized
     * message), no reconnection may be half made when the socket closes,
     * which nng 1.5 can leave unreaped (LeakSanitizer saw it once). */
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 600000);
    nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 600000);
    if ((rv = nng_dial(s, url, NULL, 0)) != 0)
        goto out;
    if ((rv = nng_send(s, (void *)msg, len, 0)) != 0)
        goto out;
    if ((rv = nng_recv(s, &buf, &sz, NNG_FLAG_ALLOC)) != 0)
        goto out;
    *reply = malloc(sz > 0 ? sz : 1);
    if (*reply == NULL) {
        rv = NNG_ENOMEM;
        goto out;
    }
    memcpy(*reply, buf, sz);
    *reply_len = sz;
out:
    if (buf != NULL)
        nng_free(buf, sz);
    nng_close(s);
    return rv;
}

int bpt_rpc_call(const char *name, const char *method, const void *body, size_t body_len,
                 int timeout_ms, Bp__Rpc__Reply **reply)
{
    return bpt_rpc_call_as(name, method, NULL, NULL, body, body_len, timeout_ms, reply);
}

int bpt_rpc_call_as(const char *name, const char *method, const char *user_id, const char *role,
                    const void *body, size_t body_len, int timeout_ms, Bp__Rpc__Reply **reply)
{
    Bp__Rpc__Request req = BP__RPC__REQUEST__INIT;
    Bp__Rpc__Principal who = BP__RPC__PRINCIPAL__INIT;
    if (user_id != NULL) {
        who.user_id = (char *)user_id;
        who.role = (char *)role;
        req.principal = &who;
    }
    char request_id[64];
    snprintf(request_id, sizeof request_id, "bpt-%ld-%lld", (long)getpid(), (long long)wall_ms());
    req.method = (char *)method;
    req.request_id = request_id;
    req.has_deadline_ms = 1;
    req.deadline_ms = wall_ms() + timeout_ms;
    if (body != NULL) {
        req.has_body = 1;
        req.body.data = (uint8_t *)body;
        req.body.len = body_len;
    }
    size_t len = bp__rpc__request__get_packed_size(&req);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return NNG_ENOMEM;
    bp__rpc__request__pack(&req, buf);
    void *raw = NULL;
    size_t raw_len = 0;
    int rv = bpt_rpc_raw(name, buf, len, timeout_ms, &raw, &raw_len);
    free(buf);
    if (rv != 0)
        return rv;
    *reply = bp__rpc__reply__unpack(NULL, raw_len, raw);
    free(raw);
    return *reply != NULL ? 0 : -1;
}

json_t *bpt_fake_json(const char *url_var, const char *method, const char *fmt, ...)
{
    const char *api = getenv(url_var);
    if (api == NULL || strncmp(api, "http://", 7) != 0) {
        fprintf(stderr, "harness: %s is not an http:// URL\n", url_var);
        return NULL;
    }
    const char *slash = strchr(api + 7, '/');
    char base[256], path[1024];
    snprintf(base, sizeof base, "%.*s", (int)(slash != NULL ? slash - api : (long)strlen(api)),
             api);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof path)
        return NULL;
    bpt_response *r = http_at(base, method, path, NULL, NULL, 0);
    if (r == NULL || r->status < 200 || r->status > 299 || r->json == NULL) {
        fprintf(stderr, "harness: %s %s%s answered %ld: %s\n", method, base, path,
                r != NULL ? r->status : 0L, r != NULL ? r->body : "");
        bpt_response_free(r);
        return NULL;
    }
    json_t *doc = json_incref(r->json);
    bpt_response_free(r);
    return doc;
}

/* ---- promtool ------------------------------------------------------------------- */

int bpt_promtool_check(const char *text, char *out, size_t len)
{
    const char *tool = getenv("PROMTOOL") != NULL ? getenv("PROMTOOL") : "promtool";
    const char *dir = getenv("BP_TEST_TMP") != NULL ? getenv("BP_TEST_TMP") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/metrics-XXXXXX", dir);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(text), done = 0;
    while (done < n) {
        ssize_t w = write(fd, text + done, n - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int pipefd[2] = {-1, -1};
    if (done != n || lseek(fd, 0, SEEK_SET) != 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    char *const argv[] = {(char *)tool, "check", "metrics", NULL};
    pid_t pid;
    int rv = posix_spawnp(&pid, tool, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    close(fd);
    unlink(path);
    if (rv != 0) {
        close(pipefd[0]);
        return rv == ENOENT ? -2 : -1;
    }
    size_t used = 0;
    for (;;) {
        char chunk[1024];
        ssize_t got = read(pipefd[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t take = (size_t)got < len - 1 - used ? (size_t)got : len - 1 - used;
        memcpy(out + used, chunk, take);
        used += take;
    }
    out[used] = '\0';
    close(pipefd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void bpt_strings_add(bpt_strings *s, const char *p, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL)
            abort();
    }
    s->v[s->n] = strndup(p, len);
    if (s->v[s->n] == NULL)
        abort();
    s->n++;
}

bool bpt_strings_has(const bpt_strings *s, const char *p, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && memcmp(s->v[i], p, len) == 0)
            return true;
    return false;
}

void bpt_strings_free(bpt_strings *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}
