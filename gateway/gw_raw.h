/* Raw HTTP routes: a route whose RPC takes bp.common.HttpRequest gets the
 * request as it came (method, path, query, headers, body bytes), not a
 * message built from JSON; one whose RPC returns bp.common.HttpReply answers
 * with the reply's bytes and content type. Webhooks need this: their
 * signatures cover raw bytes, headers and query names such as "data.id".
 * The proxy (proxy.c) decides by the RPC's descriptors, so a new webhook is
 * one route row and one RPC. */
#ifndef GW_RAW_H
#define GW_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>
#include <protobuf-c/protobuf-c.h>

#include "gw_routes.h"
#include "gw_url.h"

/* Largest packed HttpRequest: a 1 MiB body plus the request line and the
 * headers libmicrohttpd holds; well under the bus's BP_RPC_MAX_MSG. */
#define GW_RAW_MAX_PACKED (2 * 1024 * 1024)
/* Longest content type a daemon may answer with (a header value). */
#define GW_RAW_CONTENT_TYPE_MAX 255

/* True when the RPC takes the raw request (bp.common.HttpRequest). */
bool gw_raw_input(const ProtobufCMethodDescriptor *rpc);

/* True when the RPC answers raw bytes (bp.common.HttpReply). */
bool gw_raw_output(const ProtobufCMethodDescriptor *rpc);

/* A header as libmicrohttpd holds it (name in the client's case). */
typedef struct {
    const char *name;
    const char *value;
} gw_raw_header;

/* Collects every request header of conn, in the order received, repeats
 * kept, into out[0..max). The strings are libmicrohttpd's and live as long
 * as the request. Returns 0 and *n, or BP_ETOOBIG when there are more than
 * max. */
int gw_raw_headers(struct MHD_Connection *conn, gw_raw_header *out, size_t max, size_t *n);

/* What an HttpRequest is built from; nothing here is copied or kept. */
typedef struct {
    const char *method;
    const char *path; /* the raw request path without the query, path_len bytes */
    size_t path_len;
    const gw_query *query; /* decoded pairs, or NULL */
    const gw_raw_header *headers;
    size_t n_headers;
    const gw_path_param *params; /* the route's {param} values */
    size_t n_params;
    const uint8_t *body; /* body_len bytes as received; NULL when 0 */
    size_t body_len;
} gw_raw_request;

/* Builds the HttpRequest of in (header names in ASCII lower case, the rest
 * as given, in order) and packs it. Returns 0 with *out (caller frees with
 * free()) and *out_len, BP_ETOOBIG when the packed message would exceed
 * GW_RAW_MAX_PACKED, or BP_ENOMEM. */
int gw_raw_request_pack(const gw_raw_request *in, uint8_t **out, size_t *out_len);

/* An HttpReply decoded for the HTTP answer. */
typedef struct {
    char content_type[GW_RAW_CONTENT_TYPE_MAX + 1]; /* GW_JSON when the reply had none */
    char *body;                                     /* malloc'd; NULL when body_len is 0 */
    size_t body_len;
} gw_raw_answer;

/* Decodes a packed HttpReply (data may be NULL when len is 0) into *out.
 * Returns 0 (the caller owns out->body and frees it with free(), or hands
 * it to gw_answer), BP_EPROTO when the reply cannot be decoded or its
 * content type is not a printable one-line header value of at most
 * GW_RAW_CONTENT_TYPE_MAX characters, or BP_ENOMEM. */
int gw_raw_reply_decode(const uint8_t *data, size_t len, gw_raw_answer *out);

#endif
