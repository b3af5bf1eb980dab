/* The S3 client (s3.h): libcurl signs (CURLOPT_AWS_SIGV4), this file gives
 * it what Debian 12's libcurl does not: x-amz-content-sha256 on every
 * request and query strings already sorted and encoded. Bodies stream from
 * and to files, so a large dump never sits in memory. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "config.h"
#include "http.h"
#include "s3.h"

#define MIB          (1024u * 1024u)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Error and listing answers are small; anything bigger is not S3. */
#define MAX_TEXT_BODY (8u * MIB)

int bp_s3_from_env(bp_s3 *s3)
{
    memset(s3, 0, sizeof *s3);
    const char *bucket = bp_config_str("BACKUP_S3_BUCKET", NULL);
    if (bucket == NULL)
        return BP_ENOTFOUND;
    if (strlen(bucket) >= sizeof s3->bucket ||
        strspn(bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(bucket))
        bp_config_fail("BACKUP_S3_BUCKET", "is not an S3 bucket name (a-z, 0-9, '.', '-')");
    snprintf(s3->bucket, sizeof s3->bucket, "%s", bucket);
    const char *region = bp_config_str("BACKUP_S3_REGION", "us-east-1");
    if (strlen(region) >= sizeof s3->region ||
        strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region))
        bp_config_fail("BACKUP_S3_REGION", "is not a region name such as us-east-1");
    snprintf(s3->region, sizeof s3->region, "%s", region);
    char def[128];
    snprintf(def, sizeof def, "https://s3.%s.amazonaws.com", region);
    bp_config_url("BACKUP_S3_ENDPOINT", def, s3->endpoint, sizeof s3->endpoint);
    const char *ak = bp_config_secret("BACKUP_S3_ACCESS_KEY"),
               *sk = bp_config_secret("BACKUP_S3_SECRET_KEY");
    if (ak == NULL)
        bp_config_fail("BACKUP_S3_ACCESS_KEY", "must be set with BACKUP_S3_BUCKET");
    if (sk == NULL)
        bp_config_fail("BACKUP_S3_SECRET_KEY", "must be set with BACKUP_S3_BUCKET");
    if (strlen(ak) >= sizeof s3->access_key || strlen(sk) >= sizeof s3->secret_key ||
        strchr(ak, ':') != NULL)
        bp_config_fail("BACKUP_S3_ACCESS_KEY", "is not an access key");
    snprintf(s3->access_key, sizeof s3->access_key, "%s", ak);
    snprintf(s3->secret_key, sizeof s3->secret_key, "%s", sk);
    s3->part_size = (size_t)bp_config_int("BACKUP_S3_PART_SIZE", 16 * MIB, 5 * MIB, 5120L * MIB);
    s3->multipart_min =
        (size_t)bp_config_int("BACKUP_S3_MULTIPART_MIN", (long)s3->part_size, 5 * MIB, 5120L * MIB);
    s3->timeout_ms = bp_config_int("BACKUP_S3_TIMEOUT_MS", 300000, 100, 3600000);
    return 0;
}

/* ---- hashing ------------------------------------------------------------------ */

static void hex(const unsigned char *d, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SHA-256 (hex) and MD5 (raw) of len bytes of f from off. */
static int hash_range(FILE *f, uint64_t off, uint64_t len, char sha[65], unsigned char md5[16])
{
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    int rv = a != NULL && b != NULL && EVP_DigestInit_ex(a, EVP_sha256(), NULL) == 1 &&
                     EVP_DigestInit_ex(b, EVP_md5(), NULL) == 1 &&
                     fseeko(f, (off_t)off, SEEK_SET) == 0
                 ? 0
                 : BP_EIO;
    static __thread unsigned char buf[256 * 1024];
    while (rv == 0 && len > 0) {
        size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
        size_t got = fread(buf, 1, want, f);
        if (got == 0) {
            rv = BP_EIO;
            break;
        }
        EVP_DigestUpdate(a, buf, got);
        EVP_DigestUpdate(b, buf, got);
        len -= got;
    }
    unsigned char d[32];
    unsigned n;
    if (rv == 0 && EVP_DigestFinal_ex(a, d, &n) == 1 && EVP_DigestFinal_ex(b, md5, NULL) == 1)
        hex(d, n, sha);
    else
        rv = BP_EIO;
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    return rv;
}

static int file_size(FILE *f, uint64_t *size)
{
    if (fseeko(f, 0, SEEK_END) != 0)
        return BP_EIO;
    off_t end = ftello(f);
    if (end < 0)
        return BP_EIO;
    *size = (uint64_t)end;
    return 0;
}

int bp_file_sha256(const char *path, char out[65], uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return BP_EIO;
    unsigned char md5[16];
    int rv = file_size(f, size);
    if (rv == 0)
        rv = hash_range(f, 0, *size, out, md5);
    fclose(f);
    return rv;
}

static void sha256_mem(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned len = 0;
    EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
    hex(d, len, out);
}

/* ---- one request ---------------------------------------------------------------- */

typedef struct {
    const char *method;
    const char *key;   /* NULL: the bucket itself */
    const char *query; /* already sorted and encoded, or NULL */
    const char *payload_sha;
    FILE *up; /* the body: len bytes of up from off ... */
    uint64_t up_off, up_len;
    const char *body; /* ... or these bytes */
    size_t body_len;
    FILE *down;           /* a 2xx body goes here (else into the response) */
    const char *meta_sha; /* x-amz-meta-sha256 to store, or NULL */
    const char *content_type;
} s3_req;

typedef struct {
    long status;
    char *text; /* the body when not downloaded, NUL-terminated */
    size_t len;
    bool too_big;
    char etag[80];
    char meta_sha[65];
    uint64_t length;
    int64_t last_modified;
    CURL *curl;
    FILE *down;
    FILE *up;
    uint64_t left;
} s3_resp;

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    s3_resp *r = arg;
    size_t want = size * n;
    if ((uint64_t)want > r->left)
        want = (size_t)r->left;
    size_t got = want > 0 ? fread(buf, 1, want, r->up) : 0;
    if (got < want)
        return CURL_READFUNC_ABORT;
    r->left -= got;
    return got;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    s3_resp *r = arg;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    if (r->down != NULL && status >= 200 && status < 300)
        return fwrite(p, 1, len, r->down);
    if (r->len + len > MAX_TEXT_BODY) {
        r->too_big = true;
        return 0;
    }
    char *t = realloc(r->text, r->len + len + 1);
    if (t == NULL)
        return 0;
    memcpy(t + r->len, p, len);
    r->text = t;
    r->len += len;
    t[r->len] = '\0';
    return len;
}

/* Copies a header's value (trimmed, quotes dropped) when name matches. */
static bool header_value(const char *line, size_t n, const char *name, char *out, size_t len)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return false;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '"'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '"'))
        end--;
    snprintf(out, len, "%.*s", (int)(end - v), v);
    return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    s3_resp *r = arg;
    size_t len = size * n;
    char v[128];
    if (header_value(p, len, "etag", r->etag, sizeof r->etag) ||
        header_value(p, len, "x-amz-meta-sha256", r->meta_sha, sizeof r->meta_sha))
        return len;
    if (header_value(p, len, "content-length", v, sizeof v))
        r->length = strtoull(v, NULL, 10);
    else if (header_value(p, len, "last-modified", v, sizeof v))
        r->last_modified = (int64_t)curl_getdate(v, NULL);
    return len;
}

/* Percent-encodes s the SigV4 way: unreserved characters stay, '/' too
 * when keep_slash. */
static int uri_encode(const char *s, bool keep_slash, char *out, size_t len)
{
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '~' ||
                     (keep_slash && *c == '/');
        if (o + 4 >= len)
            return BP_ETOOBIG;
        if (plain)
            out[o++] = (char)*c;
        else
            o += (size_t)snprintf(out + o, len - o, "%%%02X", *c);
    }
    out[o] = '\0';
    return 0;
}

/* The text between <tag> and </tag> after *from, entities decoded; moves
 * *from past it. */
static bool xml_take(const char **from, const char *end, const char *tag, char *out, size_t len)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(*from, open);
    if (a == NULL || (end != NULL && a >= end))
        return false;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (b == NULL)
        return false;
    size_t o = 0;
    for (const char *c = a; c < b && o + 1 < len; c++) {
        static const struct {
            const char *ent;
            char ch;
        } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        char ch = *c;
        for (size_t i = 0; i < BP_COUNTOF(ents) && ch == '&'; i++)
            if (strncmp(c, ents[i].ent, strlen(ents[i].ent)) == 0) {
                ch = ents[i].ch;
                c += strlen(ents[i].ent) - 1;
            }
        out[o++] = ch;
    }
    out[o] = '\0';
    *from = b + strlen(close);
    return true;
}

/* A one-line reason for an answer that is not 2xx. */
static int refusal(const s3_req *q, const s3_resp *r, char *err, size_t len)
{
    char code[64] = "", msg[200] = "";
    const char *p = r->text != NULL ? r->text : "";
    xml_take(&p, NULL, "Code", code, sizeof code);
    p = r->text != NULL ? r->text : "";
    xml_take(&p, NULL, "Message", msg, sizeof msg);
    snprintf(err, len, "S3 %s %s: HTTP %ld%s%s%s%s", q->method,
             q->key != NULL ? q->key : "(bucket)", r->status, code[0] ? " " : "", code,
             msg[0] ? ": " : "", msg);
    if (r->status == 404)
        return BP_ENOTFOUND;
    return r->status >= 500 ? BP_EUNAVAIL : BP_EIO;
}

static int s3_do(const bp_s3 *s3, const s3_req *q, s3_resp *r, char *err, size_t len)
{
    memset(r, 0, sizeof *r);
    if (bp_http_global_init() != 0)
        return BP_EIO;
    char path[1536], url[2200];
    if (uri_encode(q->key != NULL ? q->key : "", true, path, sizeof path) != 0) {
        snprintf(err, len, "S3 key too long");
        return BP_ETOOBIG;
    }
    snprintf(url, sizeof url, "%s/%s%s%s%s%s", s3->endpoint, s3->bucket, q->key ? "/" : "", path,
             q->query ? "?" : "", q->query ? q->query : "");
    char sigv4[128], userpwd[400], h_sha[100], h_meta[100], h_type[100];
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", s3->region);
    snprintf(userpwd, sizeof userpwd, "%s:%s", s3->access_key, s3->secret_key);
    snprintf(h_sha, sizeof h_sha, "x-amz-content-sha256: %s",
             q->payload_sha != NULL ? q->payload_sha : EMPTY_SHA256);
    struct curl_slist *h = curl_slist_append(NULL, h_sha);
    if (q->meta_sha != NULL) {
        snprintf(h_meta, sizeof h_meta, "x-amz-meta-sha256: %s", q->meta_sha);
        h = curl_slist_append(h, h_meta);
    }
    if (q->up != NULL || q->body != NULL) {
        snprintf(h_type, sizeof h_type, "Content-Type: %s",
                 q->content_type != NULL ? q->content_type : "application/octet-stream");
        h = curl_slist_append(h, h_type);
        h = curl_slist_append(h, "Expect:");
    }
    CURL *c = curl_easy_init();
    if (c == NULL || h == NULL) {
        curl_slist_free_all(h);
        if (c != NULL)
            curl_easy_cleanup(c);
        return BP_ENOMEM;
    }
    r->curl = c;
    r->down = q->down;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s3->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     s3->timeout_ms < 10000 ? s3->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "BarberPro-backup/1");
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(q->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (q->up != NULL) {
        r->up = q->up;
        r->left = q->up_len;
        fseeko(q->up, (off_t)q->up_off, SEEK_SET);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->up_len);
        if (strcmp(q->method, "PUT") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    } else if (q->body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        if (strcmp(q->method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    } else if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    r->curl = NULL;
    if (rc != CURLE_OK) {
        snprintf(err, len, "S3 %s %s at %s: %s", q->method, q->key != NULL ? q->key : "(bucket)",
                 s3->endpoint, curl_easy_strerror(rc));
        return rc == CURLE_OPERATION_TIMEDOUT                                    ? BP_ETIMEDOUT
               : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ? BP_EUNAVAIL
                                                                                 : BP_EIO;
    }
    if (r->status < 200 || r->status > 299)
        return refusal(q, r, err, len);
    return 0;
}

static void resp_free(s3_resp *r)
{
    free(r->text);
    r->text = NULL;
}

/* ---- objects ------------------------------------------------------------------------ */

int bp_s3_head(const bp_s3 *s3, const char *key, bp_s3_object_info *info, char *err, size_t len)
{
    s3_req q = {.method = "HEAD", .key = key};
    s3_resp r;
    int rv = s3_do(s3, &q, &r, err, len);
    if (rv == 0) {
        memset(info, 0, sizeof *info);
        info->size = r.length;
        snprintf(info->etag, sizeof info->etag, "%s", r.etag);
        snprintf(info->sha256, sizeof info->sha256, "%s", r.meta_sha);
        info->last_modified = r.last_modified;
    }
    resp_free(&r);
    return rv;
}

int bp_s3_delete(const bp_s3 *s3, const char *key, char *err, size_t len)
{
    s3_req q = {.method = "DELETE", .key = key};
    s3_resp r;
    int rv = s3_do(s3, &q, &r, err, len);
    resp_free(&r);
    return rv == BP_ENOTFOUND ? 0 : rv;
}

int bp_s3_get_file(const bp_s3 *s3, const char *key, const char *path, char *err, size_t len)
{
    char part[4096];
    snprintf(part, sizeof part, "%s.part", path);
    FILE *f = fopen(part, "wb");
    if (f == NULL) {
        snprintf(err, len, "%s: %s", part, strerror(errno));
        return BP_EIO;
    }
    s3_req q = {.method = "GET", .key = key, .down = f};
    s3_resp r;
    int rv = s3_do(s3, &q, &r, err, len);
    resp_free(&r);
    if (fclose(f) != 0 && rv == 0) {
        snprintf(err, len, "%s: %s", part, strerror(errno));
        rv = BP_EIO;
    }
    if (rv == 0 && rename(part, path) != 0) {
        snprintf(err, len, "%s: %s", path, strerror(errno));
        rv = BP_EIO;
    }
    if (rv != 0)
        remove(part);
    return rv;
}

/* One PUT of the whole file, whose SHA-256 is sha. */
static int put_single(const bp_s3 *s3, const char *key, FILE *f, uint64_t size, const char *sha,
                      char *err, size_t len)
{
    s3_req q = {
        .method = "PUT", .key = key, .payload_sha = sha, .up = f, .up_len = size, .meta_sha = sha};
    s3_resp r;
    int rv = s3_do(s3, &q, &r, err, len);
    resp_free(&r);
    return rv;
}

static int put_multipart(const bp_s3 *s3, const char *key, FILE *f, uint64_t size, const char *sha,
                         char etag[80], char *err, size_t len)
{
    s3_req q = {.method = "POST",
                .key = key,
                .query = "uploads=",
                .body = "",
                .body_len = 0,
                .meta_sha = sha};
    s3_resp r;
    int rv = s3_do(s3, &q, &r, err, len);
    char upload_id[512] = "", enc_id[1024];
    const char *p = r.text != NULL ? r.text : "";
    if (rv == 0 && !xml_take(&p, NULL, "UploadId", upload_id, sizeof upload_id)) {
        snprintf(err, len, "S3 CreateMultipartUpload %s: no UploadId in the answer", key);
        rv = BP_EPROTO;
    }
    resp_free(&r);
    if (rv != 0)
        return rv;
    uri_encode(upload_id, false, enc_id, sizeof enc_id);

    size_t parts = (size_t)((size + s3->part_size - 1) / s3->part_size);
    unsigned char *md5s = malloc(parts * 16);
    size_t xml_cap = 128 + parts * 160;
    char *xml = malloc(xml_cap);
    size_t xo = (size_t)snprintf(xml, xml_cap, "<CompleteMultipartUpload>");
    if (md5s == NULL || xml == NULL)
        rv = BP_ENOMEM;
    for (size_t i = 0; i < parts && rv == 0; i++) {
        uint64_t off = (uint64_t)i * s3->part_size;
        uint64_t n = size - off < s3->part_size ? size - off : s3->part_size;
        char part_sha[65], query[1200], md5hex[33];
        if (hash_range(f, off, n, part_sha, md5s + 16 * i) != 0) {
            snprintf(err, len, "cannot read the file for %s", key);
            rv = BP_EIO;
            break;
        }
        hex(md5s + 16 * i, 16, md5hex);
        snprintf(query, sizeof query, "partNumber=%zu&uploadId=%s", i + 1, enc_id);
        s3_req pq = {.method = "PUT",
                     .key = key,
                     .query = query,
                     .payload_sha = part_sha,
                     .up = f,
                     .up_off = off,
                     .up_len = n};
        rv = s3_do(s3, &pq, &r, err, len);
        if (rv == 0 && strcmp(r.etag, md5hex) != 0) {
            snprintf(err, len, "S3 UploadPart %s #%zu: ETag %s, expected %s", key, i + 1, r.etag,
                     md5hex);
            rv = BP_EIO;
        }
        resp_free(&r);
        if (rv == 0)
            xo += (size_t)snprintf(xml + xo, xml_cap - xo,
                                   "<Part><PartNumber>%zu</PartNumber><ETag>\"%s\"</ETag></Part>",
                                   i + 1, md5hex);
    }
    char query[1100];
    snprintf(query, sizeof query, "uploadId=%s", enc_id);
    if (rv == 0) {
        xo += (size_t)snprintf(xml + xo, xml_cap - xo, "</CompleteMultipartUpload>");
        char body_sha[65];
        sha256_mem(xml, xo, body_sha);
        s3_req cq = {.method = "POST",
                     .key = key,
                     .query = query,
                     .payload_sha = body_sha,
                     .body = xml,
                     .body_len = xo,
                     .content_type = "application/xml"};
        rv = s3_do(s3, &cq, &r, err, len);
        /* A 200 may still carry an error (S3 says so): look for one. */
        if (rv == 0 && r.text != NULL && strstr(r.text, "<Error>") != NULL) {
            r.status = 500;
            rv = refusal(&cq, &r, err, len);
        }
        resp_free(&r);
        unsigned char d[16];
        EVP_Digest(md5s, parts * 16, d, NULL, EVP_md5(), NULL);
        hex(d, 16, etag);
        snprintf(etag + 32, 80 - 32, "-%zu", parts);
    }
    if (rv != 0) {
        char ignored[256];
        s3_req aq = {.method = "DELETE", .key = key, .query = query};
        s3_do(s3, &aq, &r, ignored, sizeof ignored);
        resp_free(&r);
    }
    free(md5s);
    free(xml);
    return rv;
}

int bp_s3_put_file(const bp_s3 *s3, const char *key, const char *path, const char *sha256_hex,
                   char *err, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, len, "%s: %s", path, strerror(errno));
        return BP_EIO;
    }
    uint64_t size;
    char sha[65], etag[80] = "", md5_hex[33] = "";
    unsigned char md5[16];
    int rv = file_size(f, &size);
    if (rv == 0 && (rv = hash_range(f, 0, size, sha, md5)) != 0)
        snprintf(err, len, "cannot read %s", path);
    if (rv == 0 && strcmp(sha, sha256_hex) != 0) {
        snprintf(err, len, "%s changed since it was hashed", path);
        rv = BP_EIO;
    }
    if (rv == 0) {
        hex(md5, 16, md5_hex);
        if (size >= s3->multipart_min) {
            rv = put_multipart(s3, key, f, size, sha256_hex, etag, err, len);
        } else {
            rv = put_single(s3, key, f, size, sha256_hex, err, len);
            memcpy(etag, md5_hex, sizeof md5_hex);
        }
    }
    fclose(f);
    if (rv != 0)
        return rv;
    /* It counts once the server agrees on what it holds: its size, the SHA-256
     * we stored with it, and its ETag, which for a multipart object is the MD5
     * of the parts' MD5s on AWS and the MD5 of the whole on some compatible
     * servers (s3rver); either proves the bytes. */
    bp_s3_object_info info;
    if ((rv = bp_s3_head(s3, key, &info, err, len)) != 0)
        return rv;
    if (info.size != size || strcmp(info.sha256, sha256_hex) != 0 ||
        (strcmp(info.etag, etag) != 0 && strcmp(info.etag, md5_hex) != 0)) {
        snprintf(err, len,
                 "S3 %s does not match what was sent: %" PRIu64 " bytes, ETag %s, sha256 %.12s"
                 " (sent %" PRIu64 " bytes, ETag %s, sha256 %.12s)",
                 key, info.size, info.etag, info.sha256, size, etag, sha256_hex);
        return BP_EIO;
    }
    return 0;
}

int bp_s3_list(const bp_s3 *s3, const char *prefix, bp_s3_list_fn fn, void *arg, char *err,
               size_t len)
{
    char token[1024] = "", enc_prefix[1024], enc_token[2048], query[3200];
    if (uri_encode(prefix, false, enc_prefix, sizeof enc_prefix) != 0)
        return BP_ETOOBIG;
    for (;;) {
        uri_encode(token, false, enc_token, sizeof enc_token);
        if (token[0] != '\0')
            snprintf(query, sizeof query, "continuation-token=%s&list-type=2&prefix=%s", enc_token,
                     enc_prefix);
        else
            snprintf(query, sizeof query, "list-type=2&prefix=%s", enc_prefix);
        s3_req q = {.method = "GET", .query = query};
        s3_resp r;
        int rv = s3_do(s3, &q, &r, err, len);
        if (rv != 0 || r.too_big || r.text == NULL) {
            if (rv == 0)
                snprintf(err, len, "S3 ListObjectsV2 %s: no usable answer", prefix);
            resp_free(&r);
            return rv != 0 ? rv : BP_EPROTO;
        }
        const char *p = r.text;
        int frv = 0;
        for (;;) {
            const char *start = strstr(p, "<Contents>");
            if (start == NULL)
                break;
            const char *end = strstr(start, "</Contents>");
            if (end == NULL)
                break;
            char key[1024] = "", size[32] = "0", etag[80] = "", mod[64] = "";
            const char *c = start;
            xml_take(&c, end, "Key", key, sizeof key);
            c = start;
            xml_take(&c, end, "Size", size, sizeof size);
            c = start;
            xml_take(&c, end, "ETag", etag, sizeof etag);
            c = start;
            xml_take(&c, end, "LastModified", mod, sizeof mod);
            bp_s3_object_info info = {.size = strtoull(size, NULL, 10)};
            const char *e = etag;
            if (strncmp(e, "\"", 1) == 0)
                e++;
            snprintf(info.etag, sizeof info.etag, "%.*s", (int)strcspn(e, "\""), e);
            int64_t ms;
            info.last_modified = bp_time_parse(mod, &ms) == 0 ? ms / 1000 : 0;
            if ((frv = fn(key, &info, arg)) != 0)
                break;
            p = end + strlen("</Contents>");
        }
        char truncated[16] = "";
        const char *t = r.text;
        xml_take(&t, NULL, "IsTruncated", truncated, sizeof truncated);
        t = r.text;
        bool more = strcmp(truncated, "true") == 0 &&
                    xml_take(&t, NULL, "NextContinuationToken", token, sizeof token);
        resp_free(&r);
        if (frv != 0)
            return frv;
        if (!more)
            return 0;
    }
}
