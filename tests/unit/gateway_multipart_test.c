/* Unit tests for the streaming multipart/form-data parser: the boundary
 * from Content-Type, the parts and their bytes whatever the pieces the body
 * arrives in (a delimiter split anywhere, delimiter-like content), and the
 * refusal of malformed or oversized framing. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "../../gateway/gw_multipart.h"

/* What the callbacks saw, as text: "[name]" at a part's start ("[-]" when
 * it has no name), its bytes, "|" at its end. */
typedef struct {
    char log[8192];
    size_t len;
    int fail_on_data; /* a callback code to return from part_data, or 0 */
} recorder;

static void record(recorder *r, const char *s, size_t n)
{
    cr_assert_lt(r->len + n, sizeof r->log, "the recorder overflowed");
    memcpy(r->log + r->len, s, n);
    r->len += n;
    r->log[r->len] = '\0';
}

static int on_begin(void *cls, const char *name)
{
    recorder *r = cls;
    record(r, "[", 1);
    record(r, name != NULL ? name : "-", strlen(name != NULL ? name : "-"));
    record(r, "]", 1);
    return 0;
}

static int on_data(void *cls, const char *data, size_t n)
{
    recorder *r = cls;
    cr_assert_gt(n, 0, "part_data called with nothing");
    if (r->fail_on_data != 0)
        return r->fail_on_data;
    record(r, data, n);
    return 0;
}

static int on_end(void *cls)
{
    record(cls, "|", 1);
    return 0;
}

static const gw_multipart_callbacks callbacks = {on_begin, on_data, on_end};

/* Feeds body in pieces of at most step bytes (0: whole); returns the first
 * nonzero result, or 0. */
static int parse(const char *boundary, const char *body, size_t len, size_t step, recorder *r,
                 bool *done)
{
    gw_multipart *mp = gw_multipart_new(boundary, &callbacks, r);
    cr_assert_not_null(mp);
    int rv = 0;
    for (size_t off = 0; off < len && rv == 0;) {
        size_t n = step == 0 || len - off < step ? len - off : step;
        rv = gw_multipart_feed(mp, body + off, n);
        off += n;
    }
    *done = gw_multipart_done(mp);
    gw_multipart_free(mp);
    return rv;
}

Test(gateway_multipart, boundary_from_content_type)
{
    static const struct {
        const char *content_type;
        int rv;
        const char *boundary;
    } cases[] = {
        {"multipart/form-data; boundary=abc123", 0, "abc123"},
        {"Multipart/Form-Data;BOUNDARY=----WebKitFormBoundary7MA4YWxk", 0,
         "----WebKitFormBoundary7MA4YWxk"},
        {"multipart/form-data; charset=utf-8; boundary=\"a b:c\"", 0, "a b:c"},
        {"multipart/form-data; boundary=\"===1==\"; charset=utf-8", 0, "===1=="},
        {"multipart/form-data; boundary=x;", 0, "x"},
        {"multipart/form-data", BP_EINVAL, NULL},
        {"multipart/form-data; boundary=", BP_EINVAL, NULL},
        {"multipart/form-data; boundary=\"\"", BP_EINVAL, NULL},
        {"multipart/form-data; boundary=\"ends in space \"", BP_EINVAL, NULL},
        {"multipart/form-data; boundary=a; boundary=b", BP_EINVAL, NULL},
        {"multipart/form-data; boundary=\"unterminated", BP_EINVAL, NULL},
        {"multipart/form-data; boundary=bad<char>", BP_EINVAL, NULL},
        {"multipart/form-data; boundary="
         "12345678901234567890123456789012345678901234567890123456789012345678901",
         BP_EINVAL, NULL},
        {"multipart/form-data; garbage", BP_EINVAL, NULL},
        {"multipart/mixed; boundary=abc", BP_ENOTFOUND, NULL},
        {"multipart/form-datax; boundary=abc", BP_ENOTFOUND, NULL},
        {"application/json", BP_ENOTFOUND, NULL},
        {"image/png", BP_ENOTFOUND, NULL},
        {NULL, BP_ENOTFOUND, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[GW_MULTIPART_BOUNDARY_MAX + 1] = "";
        int rv = gw_multipart_boundary(cases[i].content_type, out);
        cr_expect_eq(rv, cases[i].rv, "%s: %d, want %d", cases[i].content_type, rv, cases[i].rv);
        if (cases[i].boundary != NULL && rv == 0)
            cr_expect_str_eq(out, cases[i].boundary, "%s", cases[i].content_type);
    }
}

/* A body with a preamble, a text field, a file whose content holds
 * delimiter look-alikes, a part without a name, and an epilogue. */
static const char body[] = "This is the preamble.\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"note\"\r\n"
                           "\r\n"
                           "hola\r\n"
                           "--XyZ  \r\n"
                           "content-disposition: form-data; filename=\"../a;b.png\"; name=file\r\n"
                           "Content-Type: image/png\r\n"
                           "\r\n"
                           "\r\r\n-\r\n--\r\n--X\r\n--XyQ\r\n--XyZ\r\n"
                           "Content-Disposition: form-data\r\n"
                           "\r\n"
                           "\r\n"
                           "--XyZ--\r\n"
                           "epilogue, ignored";

static const char want[] = "[note]hola|[file]\r\r\n-\r\n--\r\n--X\r\n--XyQ|[-]|";

Test(gateway_multipart, every_split_gives_the_same_parts)
{
    size_t len = sizeof body - 1;
    for (size_t step = 0; step <= len; step++) {
        recorder r = {0};
        bool done = false;
        int rv = parse("XyZ", body, len, step, &r, &done);
        cr_assert_eq(rv, 0, "pieces of %zu: %d", step, rv);
        cr_assert(done, "pieces of %zu: not done", step);
        cr_assert_str_eq(r.log, want, "pieces of %zu", step);
    }
    /* Two pieces split at every point, the way a delimiter straddles reads. */
    for (size_t cut = 1; cut < len; cut++) {
        recorder r = {0};
        gw_multipart *mp = gw_multipart_new("XyZ", &callbacks, &r);
        cr_assert_eq(gw_multipart_feed(mp, body, cut), 0);
        cr_assert_eq(gw_multipart_feed(mp, body + cut, len - cut), 0);
        cr_assert(gw_multipart_done(mp));
        gw_multipart_free(mp);
        cr_assert_str_eq(r.log, want, "cut at %zu", cut);
    }
}

Test(gateway_multipart, binary_content_is_kept_exactly)
{
    char content[3000];
    for (size_t i = 0; i < sizeof content; i++)
        content[i] = (char)((i * 7 + 13) % 256); /* CRs, NULs, dashes */
    char buf[4096];
    int n =
        snprintf(buf, sizeof buf, "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n");
    memcpy(buf + n, content, sizeof content);
    size_t len = (size_t)n + sizeof content;
    memcpy(buf + len, "\r\n--b--", 7);
    len += 7;
    for (size_t step = 1; step < 40; step++) {
        recorder r = {0};
        bool done = false;
        cr_assert_eq(parse("b", buf, len, step, &r, &done), 0);
        cr_assert(done);
        cr_assert_eq(r.len, 6 + sizeof content + 1, "pieces of %zu", step);
        cr_assert_eq(memcmp(r.log + 6, content, sizeof content), 0, "pieces of %zu", step);
    }
}

Test(gateway_multipart, incomplete_bodies_are_not_done)
{
    static const char *const bodies[] = {
        "",
        "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
        "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--b",
        "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n",
        "no delimiter at all",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        recorder r = {0};
        bool done = true;
        cr_expect_eq(parse("b", bodies[i], strlen(bodies[i]), 0, &r, &done), 0, "%zu", i);
        cr_expect_not(done, "body %zu is not complete", i);
    }
}

Test(gateway_multipart, malformed_framing_is_refused)
{
    static const char *const bodies[] = {
        /* junk after a delimiter */
        "--bX\r\n",
        "--b-x",
        "--b \r\r",
        /* a header line without a colon */
        "--b\r\nContent-Disposition form-data\r\n\r\n",
        /* not form-data, or twice */
        "--b\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\n",
        "--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; "
        "name=file\r\n\r\n",
        /* two names, an unterminated quote, a bad parameter */
        "--b\r\nContent-Disposition: form-data; name=a; name=file\r\n\r\n",
        "--b\r\nContent-Disposition: form-data; name=\"file\r\n\r\n",
        "--b\r\nContent-Disposition: form-data; =x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        recorder r = {0};
        bool done = true;
        int rv = parse("b", bodies[i], strlen(bodies[i]), 0, &r, &done);
        cr_expect_eq(rv, BP_EINVAL, "body %zu: %d", i, rv);
        cr_expect_not(done, "body %zu", i);
    }
}

Test(gateway_multipart, limits)
{
    /* A header line longer than the limit. */
    size_t cap = 2 * GW_MULTIPART_LINE_MAX + 64;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    int n = snprintf(buf, cap, "--b\r\nX-Long: ");
    memset(buf + n, 'a', GW_MULTIPART_LINE_MAX);
    memcpy(buf + n + GW_MULTIPART_LINE_MAX, "\r\n\r\n", 4);
    recorder r = {0};
    bool done;
    cr_expect_eq(parse("b", buf, (size_t)n + GW_MULTIPART_LINE_MAX + 4, 7, &r, &done), BP_ETOOBIG);
    free(buf);

    /* Too many header lines in one part. */
    char headers[2048];
    size_t len = (size_t)snprintf(headers, sizeof headers, "--b\r\n");
    for (int i = 0; i <= GW_MULTIPART_HEADERS_MAX; i++)
        len += (size_t)snprintf(headers + len, sizeof headers - len, "X-H%d: v\r\n", i);
    len += (size_t)snprintf(headers + len, sizeof headers - len, "\r\n");
    recorder r2 = {0};
    cr_expect_eq(parse("b", headers, len, 0, &r2, &done), BP_ETOOBIG);

    /* Too many parts. */
    char parts[4096];
    len = 0;
    for (int i = 0; i <= GW_MULTIPART_PARTS_MAX; i++)
        len +=
            (size_t)snprintf(parts + len, sizeof parts - len,
                             "--b\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nx\r\n", i);
    len += (size_t)snprintf(parts + len, sizeof parts - len, "--b--");
    recorder r3 = {0};
    cr_expect_eq(parse("b", parts, len, 0, &r3, &done), BP_ETOOBIG);
}

Test(gateway_multipart, long_names_are_not_kept_and_file_names_are_not_read)
{
    char buf[1024];
    char name[GW_MULTIPART_NAME_MAX + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    int n = snprintf(buf, sizeof buf,
                     "--b\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\nx\r\n"
                     "--b\r\nContent-Disposition: form-data; filename=\"file\"\r\n\r\ny\r\n--b--",
                     name);
    recorder r = {0};
    bool done;
    cr_assert_eq(parse("b", buf, (size_t)n, 0, &r, &done), 0);
    cr_assert(done);
    cr_assert_str_eq(r.log, "[-]x|[-]y|");
}

Test(gateway_multipart, a_callback_code_stops_the_parser_for_good)
{
    static const char b[] =
        "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--b--";
    recorder r = {.fail_on_data = BP_EREPLIED};
    gw_multipart *mp = gw_multipart_new("b", &callbacks, &r);
    cr_assert_eq(gw_multipart_feed(mp, b, sizeof b - 1), BP_EREPLIED);
    cr_assert_eq(gw_multipart_feed(mp, "more", 4), BP_EREPLIED);
    cr_assert_not(gw_multipart_done(mp));
    gw_multipart_free(mp);
}
