/* A streaming multipart/form-data parser (RFC 7578, RFC 2046 5.1) for
 * bodies that are never held whole in memory: the body is fed in pieces of
 * any size, a delimiter may straddle two pieces, and each part's data is
 * handed on as it arrives. Every piece of state is bounded (header lines,
 * headers per part, parts per body); the caller bounds the total size. */
#ifndef GW_MULTIPART_H
#define GW_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define GW_MULTIPART_BOUNDARY_MAX 70   /* RFC 2046: 1 to 70 characters */
#define GW_MULTIPART_NAME_MAX     128  /* longest form field name kept */
#define GW_MULTIPART_LINE_MAX     2048 /* longest part header line */
#define GW_MULTIPART_HEADERS_MAX  16   /* header lines in one part */
#define GW_MULTIPART_PARTS_MAX    16   /* parts in one body */

/* What a parser reports. Each callback returns 0 to go on or a nonzero
 * value (the caller's own code) that stops the parser: gw_multipart_feed
 * then returns that value, now and on every later call. */
typedef struct {
    /* A part's headers are read: name is its Content-Disposition name
     * (NUL-terminated), or NULL when it has none or one too long to keep.
     * The file name the client sent is never parsed out. */
    int (*part_begin)(void *cls, const char *name);
    /* The next n > 0 bytes of the current part's content. */
    int (*part_data)(void *cls, const char *data, size_t n);
    /* The current part's delimiter was read: its content is complete. */
    int (*part_end)(void *cls);
} gw_multipart_callbacks;

typedef struct gw_multipart gw_multipart;

/* Finds the boundary of a Content-Type value "multipart/form-data;
 * boundary=..." (type and parameter names in any case, the value a token or
 * a quoted string of 1 to 70 characters) and copies it, NUL-terminated, to
 * out. Returns 0, BP_ENOTFOUND when the type is not multipart/form-data (or
 * content_type is NULL), or BP_EINVAL when it is but has no usable
 * boundary. */
int gw_multipart_boundary(const char *content_type, char out[GW_MULTIPART_BOUNDARY_MAX + 1]);

/* A parser of a body delimited by boundary (as gw_multipart_boundary gives
 * it) reporting to cb with cls; cb is kept, not copied. Returns NULL on
 * ENOMEM. Free with gw_multipart_free. */
gw_multipart *gw_multipart_new(const char *boundary, const gw_multipart_callbacks *cb, void *cls);

/* Frees mp (NULL is ignored). */
void gw_multipart_free(gw_multipart *mp);

/* Parses the next n bytes of the body. Returns 0, a callback's nonzero
 * value, BP_EINVAL when the body is not well-formed multipart, or
 * BP_ETOOBIG when a part's headers or the number of parts pass their
 * limits. After a nonzero return the parser stays failed. */
int gw_multipart_feed(gw_multipart *mp, const char *data, size_t n);

/* True once the closing delimiter has been read (the body is complete);
 * anything after it is ignored. */
bool gw_multipart_done(const gw_multipart *mp);

#endif
