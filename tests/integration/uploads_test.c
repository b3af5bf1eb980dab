/* POST /api/uploads and GET /uploads/{name} against the real gateway and
 * auth daemon: real JPEG, PNG and WebP files stored and served byte for
 * byte; the type judged by content, never by name or declared type; the
 * size limit exact and enforced while the body streams (nothing over it
 * ever on disk, even chunked); the refusals (no or bad token, not
 * multipart, no file, two files); stored names only, never a path; and no
 * temporary file left behind by any of it. scripts/test.sh sets
 * MAX_FILE_SIZE (small, so that the limit tests are quick) and UPLOAD_DIR,
 * which the tests inspect. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

#define NAME_HEX 32

/* ---- real images, the smallest there are ---------------------------------------- */

/* 1x1 RGBA PNG (one red pixel): signature, IHDR, IDAT, IEND, CRCs right. */
static const unsigned char png_1x1[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99,
    0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

/* 1x1 grey baseline JPEG: SOI, DQT, SOF0, DC and AC Huffman tables of one
 * code each, SOS, one block (DC 0, EOB), EOI; libjpeg decodes it. */
static const unsigned char jpeg_1x1[] = {
    0xff, 0xd8, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x01, 0x00, 0x01,
    0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xc4, 0x00, 0x14, 0x10, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0x3f, 0xff, 0xd9,
};

/* 1x1 lossless WebP: RIFF, WEBP, one VP8L chunk. */
static const unsigned char webp_1x1[] = {
    0x52, 0x49, 0x46, 0x46, 0x1a, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
    0x56, 0x50, 0x38, 0x4c, 0x0d, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00,
    0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0x00,
};

/* 1x1 GIF89a: a real image, of a type that is not allowed. */
static const unsigned char gif_1x1[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff,
    0xff, 0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
};

/* ---- the suite's settings --------------------------------------------------- */

static const char *upload_dir(void)
{
    const char *d = getenv("UPLOAD_DIR");
    cr_assert(d != NULL && d[0] != '\0', "UPLOAD_DIR is not set (scripts/test.sh sets it)");
    return d;
}

static size_t max_size(void)
{
    const char *v = getenv("MAX_FILE_SIZE");
    return v != NULL && v[0] != '\0' ? (size_t)strtoul(v, NULL, 10) : 5242880;
}

/* ---- multipart bodies ----------------------------------------------------------- */

#define BOUNDARY "----BarberProTest7MA4YWxkTrZu0gW"

typedef struct {
    const char *name;     /* form field */
    const char *filename; /* NULL: none */
    const char *type;     /* the part's Content-Type, NULL: none */
    const void *data;
    size_t len;
} part;

/* The body of parts (malloc'd; the caller frees), its length in *len. */
static char *multipart(const part *parts, size_t n, size_t *len)
{
    size_t cap = 256;
    for (size_t i = 0; i < n; i++)
        cap += parts[i].len + 512 + (parts[i].filename != NULL ? strlen(parts[i].filename) : 0);
    char *b = malloc(cap);
    cr_assert_not_null(b);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(b + used, cap - used,
                                 "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"",
                                 parts[i].name);
        if (parts[i].filename != NULL)
            used += (size_t)snprintf(b + used, cap - used, "; filename=\"%s\"", parts[i].filename);
        used += (size_t)snprintf(b + used, cap - used, "\r\n");
        if (parts[i].type != NULL)
            used += (size_t)snprintf(b + used, cap - used, "Content-Type: %s\r\n", parts[i].type);
        used += (size_t)snprintf(b + used, cap - used, "\r\n");
        memcpy(b + used, parts[i].data, parts[i].len);
        used += parts[i].len;
        used += (size_t)snprintf(b + used, cap - used, "\r\n");
    }
    used += (size_t)snprintf(b + used, cap - used, "--" BOUNDARY "--\r\n");
    *len = used;
    return b;
}

/* POST /api/uploads with body as it is. token and content_type may be
 * NULL (the header is then left out); authorization, when given, replaces
 * the Bearer header. */
static bpt_response *post_raw(const char *token, const char *authorization,
                              const char *content_type, const void *body, size_t len)
{
    char auth[2200], type[256];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t nh = 0;
    if (authorization != NULL) {
        snprintf(auth, sizeof auth, "Authorization: %s", authorization);
        headers[nh++] = auth;
    } else if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[nh++] = auth;
    }
    if (content_type != NULL) {
        snprintf(type, sizeof type, "Content-Type: %s", content_type);
        headers[nh++] = type;
    }
    bpt_response *r = bpt_http("POST", "/api/uploads", headers, body, len);
    cr_assert_not_null(r, "POST /api/uploads got no answer");
    return r;
}

/* Uploads one "file" part. */
static bpt_response *upload(const char *token, const char *filename, const char *type,
                            const void *data, size_t len)
{
    part p = {"file", filename, type, data, len};
    size_t body_len;
    char *body = multipart(&p, 1, &body_len);
    bpt_response *r =
        post_raw(token, NULL, "multipart/form-data; boundary=" BOUNDARY, body, body_len);
    free(body);
    return r;
}

static void new_user(bpt_user *u)
{
    cr_assert_eq(bpt_user_new(u), 0, "could not register a user");
}

/* ---- UPLOAD_DIR --------------------------------------------------------------- */

typedef struct {
    size_t stored; /* files under a name the gateway gives */
    size_t temps;  /* temporary files of uploads in progress */
    size_t others; /* anything else */
    off_t largest; /* of all regular files */
} dir_state;

static bool stored_name(const char *n)
{
    size_t len = strlen(n);
    if (len < NAME_HEX + 4)
        return false;
    for (size_t i = 0; i < NAME_HEX; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
            return false;
    const char *ext = n + NAME_HEX;
    return strcmp(ext, ".jpg") == 0 || strcmp(ext, ".png") == 0 || strcmp(ext, ".webp") == 0;
}

static dir_state scan_dir(void)
{
    dir_state s = {0};
    DIR *d = opendir(upload_dir());
    cr_assert_not_null(d, "cannot open UPLOAD_DIR %s: %s", upload_dir(), strerror(errno));
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", upload_dir(), e->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > s.largest)
            s.largest = st.st_size;
        if (stored_name(e->d_name))
            s.stored++;
        else if (strncmp(e->d_name, ".upload-", 8) == 0)
            s.temps++;
        else
            s.others++;
    }
    closedir(d);
    return s;
}

/* No temporary file remains once a request is answered (allowing the
 * gateway a moment to finish the request after its answer). */
static void expect_no_temp_files(void)
{
    dir_state s = scan_dir();
    for (int i = 0; i < 40 && s.temps > 0; i++) {
        bpt_sleep_ms(50);
        s = scan_dir();
    }
    cr_expect_eq(s.temps, 0, "%zu temporary files remain in UPLOAD_DIR", s.temps);
    cr_expect_eq(s.others, 0, "UPLOAD_DIR holds %zu files the gateway did not name", s.others);
}

/* The path of a stored file's url (absolute when PUBLIC_BASE_URL is set). */
static const char *url_path(const char *url)
{
    cr_assert_not_null(url, "no url in the answer");
    const char *base = getenv("PUBLIC_BASE_URL");
    if (base != NULL && base[0] != '\0') {
        size_t n = strlen(base);
        cr_assert(strncmp(url, base, n) == 0, "url %s is not under PUBLIC_BASE_URL %s", url, base);
        url += n;
    }
    cr_assert(strncmp(url, "/uploads/", 9) == 0, "url %s is not under /uploads/", url);
    cr_assert(stored_name(url + 9), "url %s is not a generated name", url);
    return url;
}

/* ---- raw HTTP, for what curl would rewrite or cannot send -------------------------- */

static int raw_connect(void)
{
    const char *base = bpt_base_url();
    char host[64] = "127.0.0.1";
    int port = 3000;
    cr_assert(sscanf(base, "http://%63[^:/]:%d", host, &port) == 2, "base URL %s", base);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    cr_assert_eq(inet_pton(AF_INET, host, &a.sin_addr), 1, "host %s", host);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    return fd;
}

/* Sends everything; false when the server closed its side. */
static bool send_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

typedef struct {
    long status;
    char text[65536]; /* head and body, NUL-terminated */
    const char *body;
} raw_reply;

/* Reads one response (head, then Content-Length bytes or up to EOF). */
static void raw_read(int fd, raw_reply *r)
{
    size_t len = 0;
    const char *end = NULL;
    long want = -1;
    r->status = 0;
    r->body = "";
    for (;;) {
        ssize_t n = recv(fd, r->text + len, sizeof r->text - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        r->text[len] = '\0';
        if (end == NULL && (end = strstr(r->text, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(r->text, "\r\nContent-Length:");
            if (cl != NULL && cl < end)
                want = strtol(cl + 17, NULL, 10);
        }
        if (end != NULL && want >= 0 && len >= (size_t)(end + 4 - r->text) + (size_t)want)
            break;
        if (len == sizeof r->text - 1)
            break;
    }
    r->text[len] = '\0';
    sscanf(r->text, "HTTP/1.%*d %ld", &r->status);
    if (end != NULL)
        r->body = end + 4;
}

/* One request with an exact target, on a new connection. */
static void raw_get(const char *target, raw_reply *r)
{
    int fd = raw_connect();
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
                     target);
    cr_assert(send_all(fd, req, (size_t)n));
    raw_read(fd, r);
    close(fd);
}

static const char *error_code_of(const char *body)
{
    static char code[64];
    json_t *doc = json_loads(body, 0, NULL);
    const char *c = bpt_json_str(doc, "error.code");
    snprintf(code, sizeof code, "%s", c != NULL ? c : "");
    json_decref(doc);
    return code;
}

/* ---- stored and served ---------------------------------------------------------- */

static void roundtrip(const bpt_user *u, const char *filename, const char *declared,
                      const unsigned char *data, size_t len, const char *mime, const char *ext)
{
    dir_state before = scan_dir();
    bpt_response *r = upload(u->token, filename, declared, data, len);
    cr_assert_eq(r->status, 201, "%s: %ld %s", filename, r->status, r->body);
    const char *url = bpt_json_str(r->json, "url");
    cr_assert_str_eq(bpt_json_str(r->json, "content_type"), mime, "%s", filename);
    json_t *size = bpt_json_at(r->json, "size_bytes");
    cr_assert(json_is_integer(size) && (size_t)json_integer_value(size) == len, "%s", filename);
    const char *location = bpt_header(r, "Location");
    cr_assert(location != NULL && strcmp(location, url) == 0, "Location %s", location);
    char path[256];
    snprintf(path, sizeof path, "%s", url_path(url));
    const char *dot = strrchr(path, '.');
    cr_assert(dot != NULL && strcmp(dot + 1, ext) == 0, "%s stored as %s", filename, path);
    bpt_response_free(r);

    /* On disk: exactly these bytes, under that name, not for others. */
    dir_state after = scan_dir();
    cr_assert_eq(after.stored, before.stored + 1);
    char file[4096];
    snprintf(file, sizeof file, "%s/%s", upload_dir(), path + 9);
    struct stat st;
    cr_assert_eq(stat(file, &st), 0, "%s is not in UPLOAD_DIR", path + 9);
    cr_assert_eq((size_t)st.st_size, len);
    cr_assert_eq(st.st_mode & 0007, 0, "%s is open to others (%o)", file, st.st_mode & 0777);

    /* Served: the same bytes, the right type, cached, inert. */
    bpt_response *g = bpt_http("GET", path, NULL, NULL, 0);
    cr_assert_not_null(g);
    cr_assert_eq(g->status, 200, "GET %s: %ld", path, g->status);
    cr_assert_eq(g->body_len, len, "GET %s: %zu bytes, want %zu", path, g->body_len, len);
    cr_assert_eq(memcmp(g->body, data, len), 0, "GET %s: other bytes", path);
    const char *type = bpt_header(g, "Content-Type");
    cr_assert(type != NULL && strcmp(type, mime) == 0, "Content-Type %s, want %s", type, mime);
    const char *nosniff = bpt_header(g, "X-Content-Type-Options");
    cr_assert(nosniff != NULL && strcasecmp(nosniff, "nosniff") == 0);
    const char *cache = bpt_header(g, "Cache-Control");
    cr_assert(cache != NULL && strstr(cache, "max-age=604800") != NULL &&
                  strstr(cache, "no-store") == NULL,
              "Cache-Control %s", cache);
    const char *csp = bpt_header(g, "Content-Security-Policy");
    cr_assert(csp != NULL && strstr(csp, "default-src 'none'") != NULL, "CSP %s", csp);
    bpt_response_free(g);
}

Test(uploads, png_jpeg_and_webp_are_stored_and_served_byte_for_byte)
{
    bpt_user u;
    new_user(&u);
    roundtrip(&u, "corte.png", "image/png", png_1x1, sizeof png_1x1, "image/png", "png");
    roundtrip(&u, "barba.jpg", "image/jpeg", jpeg_1x1, sizeof jpeg_1x1, "image/jpeg", "jpg");
    roundtrip(&u, "local.webp", "image/webp", webp_1x1, sizeof webp_1x1, "image/webp", "webp");
    expect_no_temp_files();
}

Test(uploads, the_type_comes_from_the_content_not_the_name_or_declared_type)
{
    bpt_user u;
    new_user(&u);
    roundtrip(&u, "x.jpg", "image/jpeg", png_1x1, sizeof png_1x1, "image/png", "png");
    roundtrip(&u, "foto", "application/octet-stream", webp_1x1, sizeof webp_1x1, "image/webp",
              "webp");
    roundtrip(&u, "sin-tipo.gif", NULL, jpeg_1x1, sizeof jpeg_1x1, "image/jpeg", "jpg");
    expect_no_temp_files();
}

/* Expects a refusal with status and code that kept no file. */
static void expect_refused(bpt_response *r, long status, const char *code, const char *field,
                           const dir_state *before, const char *what)
{
    cr_expect(bpt_error_is(r, status, code), "%s: %ld %s, want %ld %s", what, r->status, r->body,
              status, code);
    if (field != NULL) {
        const char *f = bpt_error_field(r);
        cr_expect(f != NULL && strcmp(f, field) == 0, "%s: field %s, want %s", what, f, field);
    }
    bpt_response_free(r);
    cr_expect_eq(scan_dir().stored, before->stored, "%s: a file was kept", what);
    expect_no_temp_files();
}

Test(uploads, what_is_not_an_allowed_image_is_refused_415)
{
    bpt_user u;
    new_user(&u);
    dir_state before = scan_dir();
    static const char text[] = "Hola, esto no es una foto sino un texto bastante largo.\n";
    expect_refused(upload(u.token, "photo.png", "image/png", text, sizeof text - 1), 415,
                   "unsupported_media_type", "file", &before, "text named photo.png");
    expect_refused(upload(u.token, "anim.gif", "image/gif", gif_1x1, sizeof gif_1x1), 415,
                   "unsupported_media_type", "file", &before, "a GIF");
    static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>";
    expect_refused(upload(u.token, "logo.png", "image/png", svg, sizeof svg - 1), 415,
                   "unsupported_media_type", "file", &before, "an SVG named logo.png");
    /* Shorter than any image's signature. */
    expect_refused(upload(u.token, "tiny.jpg", "image/jpeg", "\xff\xd8\xff", 3), 415,
                   "unsupported_media_type", "file", &before, "three bytes");
}

Test(uploads, the_size_limit_is_exact)
{
    bpt_user u;
    new_user(&u);
    size_t max = max_size();
    cr_assert_lt(max, 8u * 1024 * 1024, "MAX_FILE_SIZE %zu is too large for this test", max);
    unsigned char *data = calloc(1, max + 1);
    cr_assert_not_null(data);
    memcpy(data, png_1x1, sizeof png_1x1); /* a PNG signature, then zeros */

    bpt_response *r = upload(u.token, "max.png", "image/png", data, max);
    cr_assert_eq(r->status, 201, "exactly MAX_FILE_SIZE (%zu): %ld %s", max, r->status, r->body);
    json_t *size = bpt_json_at(r->json, "size_bytes");
    cr_assert(json_is_integer(size) && (size_t)json_integer_value(size) == max);
    bpt_response_free(r);

    dir_state before = scan_dir();
    expect_refused(upload(u.token, "max1.png", "image/png", data, max + 1), 413,
                   "payload_too_large", "file", &before, "MAX_FILE_SIZE + 1");
    free(data);
    cr_expect_leq(scan_dir().largest, (off_t)max);
}

/* Sends one chunk of a chunked body; false when the server closed. */
static bool send_chunk(int fd, const void *data, size_t n)
{
    char size[32];
    int k = snprintf(size, sizeof size, "%zx\r\n", n);
    return send_all(fd, size, (size_t)k) && send_all(fd, data, n) && send_all(fd, "\r\n", 2);
}

Test(uploads, a_chunked_body_far_over_the_limit_never_reaches_the_disk_whole)
{
    bpt_user u;
    new_user(&u);
    size_t max = max_size();
    dir_state before = scan_dir();
    int fd = raw_connect();
    char head[4096];
    int n = snprintf(head, sizeof head,
                     "POST /api/uploads HTTP/1.1\r\nHost: test\r\n"
                     "Authorization: Bearer %s\r\n"
                     "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n",
                     u.token);
    cr_assert(send_all(fd, head, (size_t)n));
    static const char part_head[] = "--" BOUNDARY "\r\nContent-Disposition: form-data; "
                                    "name=\"file\"; filename=\"big.png\"\r\n"
                                    "Content-Type: image/png\r\n\r\n";
    cr_assert(send_chunk(fd, part_head, sizeof part_head - 1));
    cr_assert(send_chunk(fd, png_1x1, 8));

    static unsigned char zeros[16384];
    size_t sent = 8, total = 3 * max;
    bool open = true, seen_temp = false;
    off_t largest = 0;
    while (open && sent < total) {
        open = send_chunk(fd, zeros, sizeof zeros);
        sent += sizeof zeros;
        if (!seen_temp && sent > max / 2 && sent < max) {
            /* The file streams to disk while it arrives... */
            for (int i = 0; i < 40 && !seen_temp; i++) {
                seen_temp = scan_dir().temps > 0;
                if (!seen_temp)
                    bpt_sleep_ms(25);
            }
        }
        if (sent > max) {
            /* ...and never grows past the limit. */
            bpt_sleep_ms(5);
            dir_state s = scan_dir();
            if (s.largest > largest)
                largest = s.largest;
        }
    }
    cr_expect(seen_temp, "no temporary file appeared while the file streamed");
    if (open) {
        static const char end[] = "\r\n--" BOUNDARY "--\r\n";
        open = send_chunk(fd, end, sizeof end - 1) && send_all(fd, "0\r\n\r\n", 5);
    }
    raw_reply r;
    raw_read(fd, &r);
    close(fd);
    cr_expect_eq(r.status, 413, "a %zu-byte chunked upload: %ld\n%s", total, r.status, r.text);
    cr_expect_str_eq(error_code_of(r.body), "payload_too_large");
    cr_expect_leq(largest, (off_t)max, "a file of %lld bytes was on disk (MAX_FILE_SIZE %zu)",
                  (long long)largest, max);
    cr_expect_eq(scan_dir().stored, before.stored);
    expect_no_temp_files();
}

Test(uploads, a_declared_length_far_over_the_limit_is_refused_at_once)
{
    bpt_user u;
    new_user(&u);
    int fd = raw_connect();
    char head[4096];
    int n = snprintf(head, sizeof head,
                     "POST /api/uploads HTTP/1.1\r\nHost: test\r\n"
                     "Authorization: Bearer %s\r\n"
                     "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\n"
                     "Content-Length: 104857600\r\n\r\n",
                     u.token);
    cr_assert(send_all(fd, head, (size_t)n));
    double t0 = bpt_now_ms();
    raw_reply r;
    raw_read(fd, &r); /* no body sent: the answer comes without it */
    close(fd);
    cr_expect_eq(r.status, 413, "%s", r.text);
    cr_expect_str_eq(error_code_of(r.body), "payload_too_large");
    cr_expect_lt(bpt_now_ms() - t0, 5000.0, "the answer waited for the body");
    expect_no_temp_files();
}

/* ---- refusals ------------------------------------------------------------------ */

Test(uploads, no_token_or_a_bad_one_is_401_and_keeps_nothing)
{
    dir_state before = scan_dir();
    expect_refused(upload(NULL, "a.png", "image/png", png_1x1, sizeof png_1x1), 401, "unauthorized",
                   NULL, &before, "no token");

    part p = {"file", "a.png", "image/png", png_1x1, sizeof png_1x1};
    size_t len;
    char *body = multipart(&p, 1, &len);
    const char *type = "multipart/form-data; boundary=" BOUNDARY;
    expect_refused(post_raw(NULL, "Basic dXNlcjpwYXNz", type, body, len), 401, "unauthorized", NULL,
                   &before, "Basic credentials");
    expect_refused(post_raw("not.a.valid-token", NULL, type, body, len), 401, "unauthorized", NULL,
                   &before, "a token the auth daemon refuses");
    bpt_user u;
    new_user(&u);
    bpt_response *out = bpt_http_json("POST", "/api/auth/logout", u.token, NULL);
    cr_assert(out != NULL && out->status == 204, "logout");
    bpt_response_free(out);
    expect_refused(post_raw(u.token, NULL, type, body, len), 401, "unauthorized", NULL, &before,
                   "a token after logout");
    free(body);
}

Test(uploads, a_body_that_is_not_multipart_is_refused_415)
{
    bpt_user u;
    new_user(&u);
    dir_state before = scan_dir();
    /* The message names multipart, not the JSON of other routes. */
    bpt_response *r = post_raw(u.token, NULL, "text/plain", "hola", 4);
    const char *message = bpt_json_str(r->json, "error.message");
    cr_expect(message != NULL && strstr(message, "multipart") != NULL, "415 message: %s",
              message != NULL ? message : "(none)");
    bpt_response_free(r);
    expect_refused(post_raw(u.token, NULL, "application/json", "{}", 2), 415,
                   "unsupported_media_type", NULL, &before, "JSON");
    expect_refused(post_raw(u.token, NULL, "image/png", png_1x1, sizeof png_1x1), 415,
                   "unsupported_media_type", NULL, &before, "a bare PNG body");
    expect_refused(post_raw(u.token, NULL, "application/x-www-form-urlencoded", "file=abc", 8), 415,
                   "unsupported_media_type", NULL, &before, "a form");
}

Test(uploads, a_body_without_exactly_one_file_is_refused_400)
{
    bpt_user u;
    new_user(&u);
    dir_state before = scan_dir();
    const char *type = "multipart/form-data; boundary=" BOUNDARY;
    size_t len;

    part note = {"note", NULL, NULL, "hola", 4};
    char *body = multipart(&note, 1, &len);
    expect_refused(post_raw(u.token, NULL, type, body, len), 400, "invalid_request", "file",
                   &before, "no file part");
    free(body);

    static const char empty[] = "--" BOUNDARY "--\r\n";
    expect_refused(post_raw(u.token, NULL, type, empty, sizeof empty - 1), 400, "invalid_request",
                   "file", &before, "no part at all");

    part two[] = {{"file", "a.png", "image/png", png_1x1, sizeof png_1x1},
                  {"file", "b.png", "image/png", png_1x1, sizeof png_1x1}};
    body = multipart(two, 2, &len);
    expect_refused(post_raw(u.token, NULL, type, body, len), 400, "invalid_request", "file",
                   &before, "two files");
    /* Cut before its closing delimiter: incomplete. */
    expect_refused(post_raw(u.token, NULL, type, body, len / 2), 400, "invalid_request", NULL,
                   &before, "a truncated body");
    free(body);

    part nothing = {"file", "vacio.png", "image/png", "", 0};
    body = multipart(&nothing, 1, &len);
    expect_refused(post_raw(u.token, NULL, type, body, len), 400, "invalid_request", "file",
                   &before, "an empty file");
    free(body);

    expect_refused(post_raw(u.token, NULL, "multipart/form-data", "x", 1), 400, "invalid_request",
                   NULL, &before, "multipart without a boundary");
    static const char junk[] = "--" BOUNDARY "\r\nno colon here\r\n\r\nx\r\n--" BOUNDARY "--";
    expect_refused(post_raw(u.token, NULL, type, junk, sizeof junk - 1), 400, "invalid_request",
                   NULL, &before, "a malformed part header");
}

/* ---- names ------------------------------------------------------------------------ */

Test(uploads, only_generated_names_are_served)
{
    static const char *const targets[] = {
        "/uploads/../etc/passwd",
        "/uploads/%2e%2e%2fx",
        "/uploads/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/uploads/..%2f..%2fetc%2fpasswd",
        "/uploads/ABC.png",
        "/uploads/0123456789ABCDEF0123456789ABCDEF.png",
        "/uploads/0123456789abcdef0123456789abcdef.gif",
        "/uploads/0123456789abcdef0123456789abcdef.png%00.txt",
        "/uploads/.upload-0123456789abcdef0123456789abcdef.part",
        "/uploads/0123456789abcdef0123456789abcdef.png", /* well-formed, absent */
        "/uploads/",
        "/uploads",
    };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        raw_reply r;
        raw_get(targets[i], &r);
        /* A NUL escape is a malformed path (400); everything else is 404. */
        long want = strstr(targets[i], "%00") != NULL ? 400 : 404;
        cr_expect_eq(r.status, want, "GET %s: %ld", targets[i], r.status);
        cr_expect_neq(strstr(r.text, "application/json"), NULL, "GET %s: not a JSON error",
                      targets[i]);
        cr_expect_eq(strstr(r.body, "root:"), NULL, "GET %s served /etc/passwd", targets[i]);
    }
}

Test(uploads, links_and_folders_in_upload_dir_are_not_served)
{
    char link_name[] = "fedcba9876543210fedcba9876543210.png";
    char dir_name[] = "fedcba9876543210fedcba9876543211.png";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", upload_dir(), link_name);
    unlink(path);
    cr_assert_eq(symlink("/etc/passwd", path), 0, "symlink: %s", strerror(errno));
    char dpath[4096];
    snprintf(dpath, sizeof dpath, "%s/%s", upload_dir(), dir_name);
    rmdir(dpath);
    cr_assert_eq(mkdir(dpath, 0750), 0, "mkdir: %s", strerror(errno));

    char target[128];
    raw_reply r;
    snprintf(target, sizeof target, "/uploads/%s", link_name);
    raw_get(target, &r);
    long link_status = r.status;
    bool leaked = strstr(r.body, "root:") != NULL;
    snprintf(target, sizeof target, "/uploads/%s", dir_name);
    raw_get(target, &r);
    long dir_status = r.status;
    unlink(path);
    rmdir(dpath);
    cr_expect_eq(link_status, 404, "a symbolic link was followed: %ld", link_status);
    cr_expect_not(leaked, "/etc/passwd was served");
    cr_expect_eq(dir_status, 404, "a folder: %ld", dir_status);
}

Test(uploads, the_client_file_name_never_touches_the_file_system)
{
    bpt_user u;
    new_user(&u);
    char evil[64];
    snprintf(evil, sizeof evil, "bp-evil-%d.png", (int)getpid());
    char names[4][160];
    snprintf(names[0], sizeof names[0], "../../%s", evil);
    snprintf(names[1], sizeof names[1], "../%s", evil);
    snprintf(names[2], sizeof names[2], "/tmp/%s", evil);
    snprintf(names[3], sizeof names[3], "..\\\\..\\\\%s", evil);
    for (size_t i = 0; i < 4; i++) {
        dir_state before = scan_dir();
        bpt_response *r = upload(u.token, names[i], "image/png", png_1x1, sizeof png_1x1);
        cr_assert_eq(r->status, 201, "%s: %ld %s", names[i], r->status, r->body);
        url_path(bpt_json_str(r->json, "url")); /* a generated name */
        bpt_response_free(r);
        dir_state after = scan_dir();
        cr_expect_eq(after.stored, before.stored + 1, "%s", names[i]);
    }
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", upload_dir(), evil);
    cr_expect_neq(lstat(path, &st), 0, "%s exists", path);
    snprintf(path, sizeof path, "%s/../%s", upload_dir(), evil);
    cr_expect_neq(lstat(path, &st), 0, "%s exists", path);
    snprintf(path, sizeof path, "%s/../../%s", upload_dir(), evil);
    cr_expect_neq(lstat(path, &st), 0, "%s exists", path);
    snprintf(path, sizeof path, "/tmp/%s", evil);
    cr_expect_neq(lstat(path, &st), 0, "%s exists", path);
    expect_no_temp_files();
}
