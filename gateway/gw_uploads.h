/* Image uploads: POST /api/uploads streams a multipart/form-data "file"
 * part to UPLOAD_DIR (its type judged by its first bytes, its size bounded
 * while it arrives), and GET /uploads/{name} serves what was stored. */
#ifndef GW_UPLOADS_H
#define GW_UPLOADS_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_request.h"

#define GW_UPLOAD_SNIFF_LEN 12 /* bytes that decide a file's type */

/* The op of POST /api/uploads: 201 {url, content_type, size_bytes}. */
extern const gw_op gw_upload_op;

/* The op of GET /uploads/{name}: the stored file, or 404. */
extern const gw_op gw_upload_file_op;

/* Reads MAX_FILE_SIZE, UPLOAD_DIR (created 0750 when missing, and kept
 * open), ALLOWED_FILE_TYPES and PUBLIC_BASE_URL; a bad value exits 2
 * naming the variable (bp_config_fail). Call once, before the server
 * starts. */
void gw_uploads_configure(void);

/* The MIME type ("image/jpeg", "image/png" or "image/webp") of a file
 * whose first n bytes are head, judged by its magic bytes alone (static
 * string), or NULL when n < GW_UPLOAD_SNIFF_LEN or it is none of them. */
const char *gw_upload_sniff(const unsigned char *head, size_t n);

/* True when name is a name the gateway gives a stored file: 32 lowercase
 * hex digits, '.', then jpg, png or webp. */
bool gw_upload_name_valid(const char *name);

#endif
