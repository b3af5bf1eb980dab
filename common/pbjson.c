/* Generic JSON <-> protobuf-c conversion driven by message descriptors. */
#include "pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"

/* Where a decode is and where its errors go. The path is kept as a string
 * that grows and shrinks as the walk enters and leaves fields, so an error
 * costs nothing more than a copy. */
typedef struct {
    char path[sizeof(((bp_pbjson_error *)0)->field)];
    size_t len;
    bp_pbjson_error *err;
} walker;

/* Scratch space for one value of any field type, so that set_text can parse
 * before it touches the message. Members are reached through typed pointers
 * (as in the message itself), which a union of those types allows. */
typedef union {
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f;
    double d;
    protobuf_c_boolean b;
    char *s;
    ProtobufCBinaryData bin;
    ProtobufCMessage *m;
} scalar;

#define MEMBER(msg, off)  ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

__attribute__((format(printf, 3, 4))) static int fail(walker *w, int rv, const char *fmt, ...)
{
    va_list ap;

    if (w->err == NULL)
        return rv;
    snprintf(w->err->field, sizeof(w->err->field), "%s", w->path);
    va_start(ap, fmt);
    vsnprintf(w->err->message, sizeof(w->err->message), fmt, ap);
    va_end(ap);
    return rv;
}

/* Appends ".name" (or "name" at the top) to the path and returns the length
 * to restore. A path longer than the buffer is cut, never overrun. */
static size_t path_push(walker *w, const char *name)
{
    size_t saved = w->len;
    int n = snprintf(w->path + w->len, sizeof(w->path) - w->len, "%s%s", w->len ? "." : "", name);

    if (n > 0)
        w->len += (size_t)n < sizeof(w->path) - w->len ? (size_t)n : sizeof(w->path) - 1 - w->len;
    return saved;
}

static size_t path_push_index(walker *w, size_t i)
{
    char num[24];

    snprintf(num, sizeof(num), "%zu", i);
    return path_push(w, num);
}

static void path_pop(walker *w, size_t saved)
{
    w->len = saved;
    w->path[saved] = '\0';
}

/* ---- field layout ---------------------------------------------------- */

/* Size of one stored value of type t, as protobuf-c lays it out. */
static size_t value_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static int is_pointer_type(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_STRING || t == PROTOBUF_C_TYPE_MESSAGE;
}

/* Whether a singular field holds a value. Strings and messages have no has_
 * flag: NULL (or the shared default, which protobuf-c does not pack either)
 * means unset. A oneof member is set only while the case names it, because
 * the members share memory. */
static int field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *q = CMEMBER(msg, f->quantifier_offset);
    const void *slot = CMEMBER(msg, f->offset);

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)q == f->id;
    if (is_pointer_type(f->type)) {
        const void *p = *(const void *const *)slot;
        return p != NULL && (f->label != PROTOBUF_C_LABEL_OPTIONAL || p != f->default_value);
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)q != 0;
    return 1;
}

static void mark_present(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    void *q = MEMBER(msg, f->quantifier_offset);

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)q = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !is_pointer_type(f->type))
        *(protobuf_c_boolean *)q = 1;
}

/* Frees what one stored value owns. Defaults are static data shared by every
 * message and must never be freed. */
static void release_value(const ProtobufCFieldDescriptor *f, void *slot)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *s = *(char **)slot;
        if (s != NULL && s != (const char *)f->default_value && s != protobuf_c_empty_string)
            free(s);
        *(char **)slot = NULL;
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        ProtobufCBinaryData *bin = slot;
        const ProtobufCBinaryData *def = f->default_value;
        if (bin->data != NULL && (def == NULL || bin->data != def->data))
            free(bin->data);
        bin->data = NULL;
        bin->len = 0;
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage *m = *(ProtobufCMessage **)slot;
        if (m != NULL && (const void *)m != f->default_value)
            bp_pbjson_free(m);
        *(ProtobufCMessage **)slot = NULL;
    }
}

/* Frees everything field f owns in msg and leaves it empty. */
static void release_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    void *slot = MEMBER(msg, f->offset);

    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = MEMBER(msg, f->quantifier_offset);
        char *arr = *(char **)slot;
        size_t size = value_size(f->type);
        for (size_t i = 0; arr != NULL && i < *n; i++)
            release_value(f, arr + i * size);
        free(arr);
        *(void **)slot = NULL;
        *n = 0;
        return;
    }
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && !field_present(msg, f))
        return;
    release_value(f, slot);
}

/* The member of f's oneof that is set now, or NULL. */
static const ProtobufCFieldDescriptor *oneof_active(const ProtobufCMessage *msg,
                                                    const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    uint32_t which = *(const uint32_t *)CMEMBER(msg, f->quantifier_offset);

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *g = &d->fields[i];
        if ((g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            g->quantifier_offset == f->quantifier_offset && g->id == which)
            return g;
    }
    return NULL;
}

ProtobufCMessage *bp_pbjson_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *msg;

    if (d == NULL)
        return NULL;
    msg = calloc(1, d->sizeof_message);
    if (msg == NULL)
        return NULL;
    if (d->message_init != NULL)
        d->message_init(msg);
    else
        protobuf_c_message_init(d, msg);
    return msg;
}

void bp_pbjson_free(ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d;

    if (msg == NULL)
        return;
    d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++)
        release_field(msg, &d->fields[i]);
    for (unsigned i = 0; i < msg->n_unknown_fields; i++)
        free(msg->unknown_fields[i].data);
    free(msg->unknown_fields);
    free(msg);
}

/* ---- text helpers ---------------------------------------------------- */

/* Strict UTF-8 check: no overlong forms, no surrogates, nothing above
 * U+10FFFF. Query parameters arrive percent-decoded and may be anything. */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        size_t need;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i - 1 < need)
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* Length of the valid UTF-8 sequence at s[0], or 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
    for (size_t n = 1; n <= 4 && n <= len; n++)
        if (utf8_valid(s, n))
            return n;
    return 0;
}

/* A JSON string for s. Bytes that are not UTF-8 (a peer's protobuf may carry
 * anything) become U+FFFD rather than failing the whole answer. */
static json_t *string_to_json(const char *s)
{
    size_t len = strlen(s);
    char *clean;
    size_t out = 0;
    json_t *j;

    if (utf8_valid((const unsigned char *)s, len))
        return json_stringn_nocheck(s, len);
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    clean = malloc(len * 3 + 1);
    if (clean == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len((const unsigned char *)s + i, len - i);
        if (n == 0) {
            memcpy(clean + out, "\xef\xbf\xbd", 3);
            out += 3;
            i++;
        } else {
            memcpy(clean + out, s + i, n);
            out += n;
            i += n;
        }
    }
    j = json_stringn_nocheck(clean, out);
    free(clean);
    return j;
}

static char *copy_bytes(const char *s, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy == NULL)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* ---- base64 ---------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Longest base64 text whose decoded form fits in BP_PBJSON_MAX_STRING, so the
 * limit is checked before anything is decoded. */
#define B64_MAX_TEXT (4 * ((BP_PBJSON_MAX_STRING + 2) / 3))

static json_t *bytes_to_json(const ProtobufCBinaryData *bin)
{
    size_t len = 4 * ((bin->len + 2) / 3);
    char *out;
    size_t o = 0;
    json_t *j;

    if (bin->len > SIZE_MAX / 2)
        return NULL;
    out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < bin->len; i += 3) {
        uint32_t v = (uint32_t)bin->data[i] << 16;
        size_t left = bin->len - i;
        if (left > 1)
            v |= (uint32_t)bin->data[i + 1] << 8;
        if (left > 2)
            v |= bin->data[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 0x3f];
        out[o++] = b64_alphabet[(v >> 12) & 0x3f];
        out[o++] = left > 1 ? b64_alphabet[(v >> 6) & 0x3f] : '=';
        out[o++] = left > 2 ? b64_alphabet[v & 0x3f] : '=';
    }
    j = json_stringn_nocheck(out, o);
    free(out);
    return j;
}

/* Both the standard and the URL-safe alphabet are accepted: clients use
 * either and the two cannot be confused. */
static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes base64 text with or without padding into at most max bytes.
 * Returns 0, BP_EINVAL (not base64), BP_ETOOBIG or BP_ENOMEM; on success the
 * caller owns bin->data. */
static int base64_decode(const char *in, size_t len, size_t max, ProtobufCBinaryData *bin)
{
    size_t n = len, o = 0, size;
    uint8_t *out;
    uint32_t acc = 0;
    int bits = 0;

    if (len % 4 == 0 && n > 0 && in[n - 1] == '=')
        n--;
    if (len % 4 == 0 && n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return BP_EINVAL;
    /* Every four characters carry three bytes; a tail of two or three
     * carries one or two. Known before anything is allocated. */
    size = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (size > max)
        return BP_ETOOBIG;
    /* One spare byte keeps data non-NULL for empty values. */
    out = malloc(size + 1);
    if (out == NULL)
        return BP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int v = b64_digit((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return BP_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    bin->data = out;
    bin->len = o;
    return 0;
}

/* ---- storing values -------------------------------------------------- */

static int fail_enum(walker *w, const ProtobufCEnumDescriptor *ed)
{
    char names[sizeof(((bp_pbjson_error *)0)->message) - 24];
    size_t len = 0;

    names[0] = '\0';
    for (unsigned i = 0; i < ed->n_values; i++) {
        const char *name = ed->values[i].name;
        size_t need = strlen(name) + (i ? 2 : 0);
        /* Room is kept for the ellipsis, which must not be cut mid-character. */
        if (len + need + 6 >= sizeof(names)) {
            snprintf(names + len, sizeof(names) - len, "%s", len ? ", …" : "…");
            break;
        }
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", name);
    }
    return fail(w, BP_EINVAL, "debe ser uno de: %s", names);
}

/* Stores a signed integer into slot after checking the range of f's type. */
static int store_integer(walker *w, const ProtobufCFieldDescriptor *f, long long v, void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (v < INT32_MIN || v > INT32_MAX)
            return fail(w, BP_EINVAL, "debe ser un número entero entre %d y %d", INT32_MIN,
                        INT32_MAX);
        *(int32_t *)slot = (int32_t)v;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (v < 0 || v > UINT32_MAX)
            return fail(w, BP_EINVAL, "debe ser un número entero entre 0 y %" PRIu32, UINT32_MAX);
        *(uint32_t *)slot = (uint32_t)v;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)slot = v;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (v < 0)
            return fail(w, BP_EINVAL, "debe ser un número entero no negativo");
        *(uint64_t *)slot = (uint64_t)v;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (v < INT32_MIN || v > INT32_MAX ||
            protobuf_c_enum_descriptor_get_value(ed, (int)v) == NULL)
            return fail_enum(w, ed);
        *(int32_t *)slot = (int32_t)v;
        return 0;
    }
    default:
        return fail(w, BP_EINVAL, "tipo de campo no admitido");
    }
}

static int store_string(walker *w, const char *s, size_t len, void *slot)
{
    char *copy;

    if (len > BP_PBJSON_MAX_STRING)
        return fail(w, BP_EINVAL, "supera el máximo de %d bytes", BP_PBJSON_MAX_STRING);
    if (memchr(s, '\0', len) != NULL)
        return fail(w, BP_EINVAL, "no puede contener el carácter NUL");
    if (!utf8_valid((const unsigned char *)s, len))
        return fail(w, BP_EINVAL, "no es texto UTF-8 válido");
    copy = copy_bytes(s, len);
    if (copy == NULL)
        return fail(w, BP_ENOMEM, "sin memoria");
    *(char **)slot = copy;
    return 0;
}

static int store_base64(walker *w, const char *s, size_t len, void *slot)
{
    int rv;

    /* The text bound spares scanning a huge value only to refuse it. */
    rv = len > B64_MAX_TEXT ? BP_ETOOBIG : base64_decode(s, len, BP_PBJSON_MAX_STRING, slot);
    if (rv == BP_ETOOBIG)
        return fail(w, BP_EINVAL, "supera el máximo de %d bytes", BP_PBJSON_MAX_STRING);
    if (rv == BP_ENOMEM)
        return fail(w, rv, "sin memoria");
    if (rv != 0)
        return fail(w, rv, "debe ser texto en base64");
    return 0;
}

static int store_enum_name(walker *w, const ProtobufCFieldDescriptor *f, const char *name,
                           void *slot)
{
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, name);

    if (ev == NULL)
        return fail_enum(w, f->descriptor);
    *(int32_t *)slot = ev->value;
    return 0;
}

/* Parses base-10 text in full, strictly: an optional minus sign and digits,
 * nothing else (strtoll alone would accept spaces, "+" and trailing junk).
 * Returns 0, or -1 when the text is not an integer, or -2 when it overflows. */
static int parse_decimal(const char *text, int allow_minus, long long *sv, unsigned long long *uv)
{
    const char *p = text;

    if (*p == '-' && allow_minus)
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    if (allow_minus)
        *sv = strtoll(text, NULL, 10);
    else
        *uv = strtoull(text, NULL, 10);
    return errno == ERANGE ? -2 : 0;
}

/* Stores an unsigned 64-bit value written as decimal text: JSON integers in
 * jansson stop at INT64_MAX, so larger values travel as strings. */
static int store_u64_text(walker *w, const char *text, void *slot)
{
    long long unused;
    unsigned long long v;
    int rv = parse_decimal(text, 0, &unused, &v);

    if (rv == -2)
        return fail(w, BP_EINVAL, "debe ser un número entero entre 0 y %" PRIu64, UINT64_MAX);
    if (rv != 0)
        return fail(w, BP_EINVAL, "debe ser un número entero no negativo");
    *(uint64_t *)slot = v;
    return 0;
}

static int store_double(walker *w, const ProtobufCFieldDescriptor *f, double v, void *slot)
{
    if (!isfinite(v))
        return fail(w, BP_EINVAL, "debe ser un número finito");
    if (f->type == PROTOBUF_C_TYPE_FLOAT) {
        if (fabs(v) > FLT_MAX)
            return fail(w, BP_EINVAL, "está fuera de rango");
        *(float *)slot = (float)v;
    } else {
        *(double *)slot = v;
    }
    return 0;
}

/* Parses the text form of one value of f into slot (set_text). */
static int parse_text(walker *w, const ProtobufCFieldDescriptor *f, const char *text, void *slot)
{
    long long sv = 0;
    unsigned long long unused;
    size_t len = strlen(text);
    int rv;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return store_string(w, text, len, slot);
    case PROTOBUF_C_TYPE_BYTES:
        return store_base64(w, text, len, slot);
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
            *(protobuf_c_boolean *)slot = 1;
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
            *(protobuf_c_boolean *)slot = 0;
        else
            return fail(w, BP_EINVAL, "debe ser true o false");
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        char *end;
        double v;
        /* strtod would also take spaces, hex, "inf" and "nan". */
        if (len == 0 || strspn(text, "0123456789+-.eE") != len)
            return fail(w, BP_EINVAL, "debe ser un número");
        errno = 0;
        v = strtod(text, &end);
        if (*end != '\0')
            return fail(w, BP_EINVAL, "debe ser un número");
        if (errno == ERANGE && fabs(v) > 1.0)
            return fail(w, BP_EINVAL, "está fuera de rango");
        return store_double(w, f, v, slot);
    }
    case PROTOBUF_C_TYPE_ENUM:
        if (parse_decimal(text, 1, &sv, &unused) == 0)
            return store_integer(w, f, sv, slot);
        return store_enum_name(w, f, text, slot);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return store_u64_text(w, text, slot);
    case PROTOBUF_C_TYPE_MESSAGE:
        return fail(w, BP_EINVAL, "no se puede indicar como texto");
    default:
        rv = parse_decimal(text, 1, &sv, &unused);
        if (rv == -1)
            return fail(w, BP_EINVAL, "debe ser un número entero");
        if (rv == -2)
            sv = text[0] == '-' ? LLONG_MIN : LLONG_MAX;
        if (rv == -2 && (f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_SINT64 ||
                         f->type == PROTOBUF_C_TYPE_SFIXED64))
            return fail(w, BP_EINVAL, "debe ser un número entero entre %lld y %lld", LLONG_MIN,
                        LLONG_MAX);
        return store_integer(w, f, sv, slot);
    }
}

/* ---- decoding -------------------------------------------------------- */

static int decode_message(walker *w, const json_t *obj, ProtobufCMessage *msg, int depth);

/* Decodes one JSON value (not an array) of field f into slot. depth is that
 * of the object or array holding the value. */
static int decode_value(walker *w, const ProtobufCFieldDescriptor *f, const json_t *v, void *slot,
                        int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(v))
            return fail(w, BP_EINVAL, "debe ser un texto");
        return store_string(w, json_string_value(v), json_string_length(v), slot);
    case PROTOBUF_C_TYPE_BYTES:
        if (!json_is_string(v))
            return fail(w, BP_EINVAL, "debe ser texto en base64");
        return store_base64(w, json_string_value(v), json_string_length(v), slot);
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return fail(w, BP_EINVAL, "debe ser true o false");
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!json_is_number(v))
            return fail(w, BP_EINVAL, "debe ser un número");
        return store_double(w, f, json_number_value(v), slot);
    case PROTOBUF_C_TYPE_ENUM:
        if (json_is_string(v))
            return store_enum_name(w, f, json_string_value(v), slot);
        if (json_is_integer(v))
            return store_integer(w, f, json_integer_value(v), slot);
        return fail_enum(w, f->descriptor);
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *sub;
        if (!json_is_object(v))
            return fail(w, BP_EINVAL, "debe ser un objeto");
        sub = bp_pbjson_new(f->descriptor);
        if (sub == NULL)
            return fail(w, BP_ENOMEM, "sin memoria");
        /* Stored before it is filled so that a failure frees it with the rest. */
        *(ProtobufCMessage **)slot = sub;
        return decode_message(w, v, sub, depth + 1);
    }
    default:
        if ((f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_FIXED64) &&
            json_is_string(v))
            return store_u64_text(w, json_string_value(v), slot);
        if (!json_is_integer(v))
            return fail(w, BP_EINVAL, "debe ser un número entero");
        return store_integer(w, f, json_integer_value(v), slot);
    }
}

static int decode_repeated(walker *w, const ProtobufCFieldDescriptor *f, const json_t *arr,
                           ProtobufCMessage *msg, int depth)
{
    size_t n, size = value_size(f->type);
    char *items;

    if (!json_is_array(arr))
        return fail(w, BP_EINVAL, "debe ser una lista");
    if (depth + 1 > BP_PBJSON_MAX_DEPTH)
        return fail(w, BP_EINVAL, "supera la profundidad máxima de %d niveles",
                    BP_PBJSON_MAX_DEPTH);
    n = json_array_size(arr);
    if (n > BP_PBJSON_MAX_ITEMS)
        return fail(w, BP_EINVAL, "admite como máximo %d elementos", BP_PBJSON_MAX_ITEMS);
    if (n == 0)
        return 0;
    items = calloc(n, size);
    if (items == NULL)
        return fail(w, BP_ENOMEM, "sin memoria");
    /* Zeroed elements are safe to free, so the count is set at once and a
     * failure half way leaves a message bp_pbjson_free can take apart. */
    *(char **)MEMBER(msg, f->offset) = items;
    *(size_t *)MEMBER(msg, f->quantifier_offset) = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        size_t saved = path_push_index(w, i);
        int rv;

        if (json_is_null(v))
            rv = fail(w, BP_EINVAL, "no puede ser null");
        else
            rv = decode_value(w, f, v, items + i * size, depth + 1);
        if (rv != 0)
            return rv;
        path_pop(w, saved);
    }
    return 0;
}

static int decode_message(walker *w, const json_t *obj, ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;

    if (depth > BP_PBJSON_MAX_DEPTH)
        return fail(w, BP_EINVAL, "supera la profundidad máxima de %d niveles",
                    BP_PBJSON_MAX_DEPTH);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const json_t *v = json_object_get(obj, f->name);
        size_t saved;
        int rv;

        if (v == NULL || json_is_null(v)) {
            if (f->label != PROTOBUF_C_LABEL_REQUIRED)
                continue;
            path_push(w, f->name);
            return fail(w, BP_EINVAL, "es obligatorio");
        }
        saved = path_push(w, f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            rv = decode_repeated(w, f, v, msg, depth);
        } else {
            const ProtobufCFieldDescriptor *other = NULL;
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                other = oneof_active(msg, f);
            if (other != NULL)
                return fail(w, BP_EINVAL, "no se puede indicar junto con %s", other->name);
            mark_present(msg, f);
            rv = decode_value(w, f, v, MEMBER(msg, f->offset), depth);
        }
        if (rv != 0)
            return rv;
        path_pop(w, saved);
    }
    return 0;
}

int bp_pbjson_decode(const ProtobufCMessageDescriptor *d, const json_t *obj, ProtobufCMessage **out,
                     bp_pbjson_error *err)
{
    walker w = {.err = err};
    ProtobufCMessage *msg;
    int rv;

    if (out != NULL)
        *out = NULL;
    if (d == NULL || out == NULL)
        return fail(&w, BP_EINVAL, "argumento no válido");
    if (!json_is_object(obj))
        return fail(&w, BP_EINVAL, "debe ser un objeto JSON");
    msg = bp_pbjson_new(d);
    if (msg == NULL)
        return fail(&w, BP_ENOMEM, "sin memoria");
    rv = decode_message(&w, obj, msg, 1);
    if (rv != 0) {
        bp_pbjson_free(msg);
        return rv;
    }
    *out = msg;
    return 0;
}

int bp_pbjson_set_text(ProtobufCMessage *msg, const char *name, const char *text,
                       bp_pbjson_error *err)
{
    walker w = {.err = err};
    const ProtobufCFieldDescriptor *f;
    scalar value = {0};
    size_t size;
    int rv;

    if (msg == NULL || name == NULL || text == NULL)
        return fail(&w, BP_EINVAL, "argumento no válido");
    f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
    if (f == NULL)
        return 0;
    path_push(&w, name);
    rv = parse_text(&w, f, text, &value);
    if (rv != 0)
        return rv;
    size = value_size(f->type);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = MEMBER(msg, f->quantifier_offset);
        char **items = MEMBER(msg, f->offset);
        char *grown;
        if (*n >= BP_PBJSON_MAX_ITEMS) {
            release_value(f, &value);
            return fail(&w, BP_EINVAL, "admite como máximo %d elementos", BP_PBJSON_MAX_ITEMS);
        }
        grown = realloc(*items, (*n + 1) * size);
        if (grown == NULL) {
            release_value(f, &value);
            return fail(&w, BP_ENOMEM, "sin memoria");
        }
        memcpy(grown + *n * size, &value, size);
        *items = grown;
        (*n)++;
        return 0;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        const ProtobufCFieldDescriptor *other = oneof_active(msg, f);
        if (other != NULL)
            release_field(msg, other);
    } else {
        release_field(msg, f);
    }
    memcpy(MEMBER(msg, f->offset), &value, size);
    mark_present(msg, f);
    return 0;
}

/* ---- encoding -------------------------------------------------------- */

static json_t *encode_value(const ProtobufCFieldDescriptor *f, const void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)slot);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)slot;
        char num[24];
        if (v <= INT64_MAX)
            return json_integer((json_int_t)v);
        /* Beyond what a jansson integer holds: decimal text, as decoded. */
        snprintf(num, sizeof(num), "%" PRIu64, v);
        return json_string(num);
    }
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)slot : *(const double *)slot;
        /* JSON has no NaN or infinity. */
        return isfinite(v) ? json_real(v) : json_null();
    }
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)slot;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        /* A newer peer may send a value this build does not know. */
        return ev != NULL ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)slot;
        return s != NULL ? string_to_json(s) : json_null();
    }
    case PROTOBUF_C_TYPE_BYTES:
        return bytes_to_json(slot);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)slot;
        return m != NULL ? bp_pbjson_encode(m) : json_null();
    }
    }
    return NULL;
}

static json_t *encode_repeated(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    size_t n = *(const size_t *)CMEMBER(msg, f->quantifier_offset);
    const char *items = *(const char *const *)CMEMBER(msg, f->offset);
    size_t size = value_size(f->type);
    json_t *arr = json_array();

    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(arr, encode_value(f, items + i * size)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *bp_pbjson_encode(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d;
    json_t *obj;

    if (msg == NULL)
        return NULL;
    d = msg->descriptor;
    obj = json_object();
    if (obj == NULL)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v;

        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            v = encode_repeated(msg, f);
        else if (field_present(msg, f))
            v = encode_value(f, CMEMBER(msg, f->offset));
        else
            v = json_null();
        /* json_object_set_new consumes v, and fails on NULL. */
        if (json_object_set_new(obj, f->name, v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
