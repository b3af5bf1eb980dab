/* Raw HTTP routes (webhooks): the HttpRequest a daemon receives and the
 * HttpReply it answers with. The proxy owns the flow; this file only turns
 * the request into bytes and the reply back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bp.h"
#include "common.pb-c.h"
#include "gw_raw.h"
#include "gw_respond.h"

bool gw_raw_input(const ProtobufCMethodDescriptor *rpc)
{
    return rpc != NULL && rpc->input == &bp__common__http_request__descriptor;
}

bool gw_raw_output(const ProtobufCMethodDescriptor *rpc)
{
    return rpc != NULL && rpc->output == &bp__common__http_reply__descriptor;
}

typedef struct {
    gw_raw_header *out;
    size_t max, n;
    bool overflow;
} header_sink;

/* Credentials stay in the gateway: the auth daemon alone reads tokens,
 * and no webhook signs with a cookie. */
static bool credential(const char *name)
{
    return name != NULL &&
           (strcasecmp(name, "Authorization") == 0 ||
            strcasecmp(name, "Proxy-Authorization") == 0 || strcasecmp(name, "Cookie") == 0);
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *name,
                                  const char *value)
{
    header_sink *sink = cls;
    if (credential(name))
        return MHD_YES;
    if (sink->n == sink->max) {
        sink->overflow = true;
        return MHD_NO;
    }
    sink->out[sink->n].name = name != NULL ? name : "";
    sink->out[sink->n].value = value != NULL ? value : "";
    sink->n++;
    return MHD_YES;
}

int gw_raw_headers(struct MHD_Connection *conn, gw_raw_header *out, size_t max, size_t *n)
{
    header_sink sink = {out, max, 0, false};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, &sink);
    if (sink.overflow)
        return BP_ETOOBIG;
    *n = sink.n;
    return 0;
}

/* Header names are ASCII tokens; the C library's tolower would follow the
 * locale. */
static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int gw_raw_request_pack(const gw_raw_request *in, uint8_t **out, size_t *out_len)
{
    size_t n_query = in->query != NULL ? in->query->n : 0;
    size_t n_fields = n_query + in->n_headers + in->n_params;
    size_t text_len = in->path_len + 1;
    for (size_t i = 0; i < in->n_headers; i++)
        text_len += strlen(in->headers[i].name) + 1;

    Bp__Common__HttpField *fields = calloc(n_fields > 0 ? n_fields : 1, sizeof *fields);
    Bp__Common__HttpField **ptrs = calloc(n_fields > 0 ? n_fields : 1, sizeof *ptrs);
    char *text = malloc(text_len);
    Bp__Common__HttpRequest msg = BP__COMMON__HTTP_REQUEST__INIT;
    uint8_t *packed = NULL;
    int rv = BP_ENOMEM;
    if (fields == NULL || ptrs == NULL || text == NULL)
        goto out;

    /* protobuf-c's fields are not const; pack only reads them. */
    msg.method = (char *)in->method;
    memcpy(text, in->path, in->path_len);
    text[in->path_len] = '\0';
    msg.path = text;
    char *next = text + in->path_len + 1;

    size_t k = 0;
    msg.query = ptrs + k;
    for (size_t i = 0; i < n_query; i++, k++) {
        bp__common__http_field__init(&fields[k]);
        fields[k].name = (char *)in->query->params[i].name;
        fields[k].value = (char *)in->query->params[i].value;
        ptrs[k] = &fields[k];
    }
    msg.n_query = n_query;

    msg.headers = ptrs + k;
    for (size_t i = 0; i < in->n_headers; i++, k++) {
        const char *name = in->headers[i].name;
        size_t len = strlen(name);
        for (size_t c = 0; c < len; c++)
            next[c] = ascii_lower(name[c]);
        next[len] = '\0';
        bp__common__http_field__init(&fields[k]);
        fields[k].name = next;
        fields[k].value = (char *)in->headers[i].value;
        ptrs[k] = &fields[k];
        next += len + 1;
    }
    msg.n_headers = in->n_headers;

    msg.params = ptrs + k;
    for (size_t i = 0; i < in->n_params; i++, k++) {
        bp__common__http_field__init(&fields[k]);
        fields[k].name = (char *)in->params[i].name;
        fields[k].value = (char *)in->params[i].value;
        ptrs[k] = &fields[k];
    }
    msg.n_params = in->n_params;

    if (in->body_len > 0) {
        msg.has_body = true;
        msg.body.data = (uint8_t *)in->body;
        msg.body.len = in->body_len;
    }

    size_t n = bp__common__http_request__get_packed_size(&msg);
    if (n > GW_RAW_MAX_PACKED) {
        rv = BP_ETOOBIG;
        goto out;
    }
    packed = malloc(n > 0 ? n : 1);
    if (packed == NULL)
        goto out;
    *out_len = bp__common__http_request__pack(&msg, packed);
    *out = packed;
    rv = 0;
out:
    free(fields);
    free(ptrs);
    free(text);
    return rv;
}

/* A content type goes out as a header: printable ASCII on one line. */
static bool content_type_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n == GW_RAW_CONTENT_TYPE_MAX || s[n] < 0x20 || s[n] > 0x7e)
            return false;
    return true;
}

int gw_raw_reply_decode(const uint8_t *data, size_t len, gw_raw_answer *out)
{
    memset(out, 0, sizeof *out);
    Bp__Common__HttpReply *reply =
        bp__common__http_reply__unpack(NULL, len, data != NULL ? data : (const uint8_t *)"");
    if (reply == NULL)
        return BP_EPROTO;
    int rv = BP_EPROTO;
    const char *type = reply->content_type != NULL && reply->content_type[0] != '\0'
                           ? reply->content_type
                           : GW_JSON;
    if (!content_type_valid(type))
        goto out;
    snprintf(out->content_type, sizeof out->content_type, "%s", type);
    if (reply->has_body && reply->body.len > 0) {
        out->body = malloc(reply->body.len);
        if (out->body == NULL) {
            rv = BP_ENOMEM;
            goto out;
        }
        memcpy(out->body, reply->body.data, reply->body.len);
        out->body_len = reply->body.len;
    }
    rv = 0;
out:
    bp__common__http_reply__free_unpacked(reply, NULL);
    return rv;
}
