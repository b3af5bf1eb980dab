/* Descriptor-driven conversion between JSON (jansson) and protobuf-c
 * messages, so that no endpoint marshals by hand. JSON names are the proto
 * field names. */
#ifndef BP_PBJSON_H
#define BP_PBJSON_H

#include <stddef.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Limits applied to client JSON. */
#define BP_PBJSON_MAX_DEPTH  16
#define BP_PBJSON_MAX_STRING (64 * 1024)
#define BP_PBJSON_MAX_ITEMS  1000

/* Where a conversion failed: the dotted field path ("weekly.2.start") and a
 * short Spanish reason, for a 400 invalid_request answer. */
typedef struct {
    char field[128];
    char message[160];
} bp_pbjson_error;

/* Builds a message of descriptor d from a JSON object. Unknown keys are
 * ignored; JSON null leaves a field unset. Returns 0 and *out (free with
 * bp_pbjson_free), or BP_EINVAL (BP_ENOMEM if memory runs out) with err
 * filled and *out NULL. err may be NULL. */
int bp_pbjson_decode(const ProtobufCMessageDescriptor *d, const json_t *obj, ProtobufCMessage **out,
                     bp_pbjson_error *err);

/* Sets one scalar field of msg (made by bp_pbjson_decode or
 * bp_pbjson_new) from its text form, as path and query parameters arrive:
 * strings as is, integers in base 10, booleans true/false/1/0, enums by
 * name; a repeated field gets the value appended. Unknown names are
 * ignored. Returns 0 or BP_EINVAL (BP_ENOMEM if memory runs out) with err
 * filled; msg is unchanged on error. */
int bp_pbjson_set_text(ProtobufCMessage *msg, const char *name, const char *text,
                       bp_pbjson_error *err);

/* An empty message of descriptor d that bp_pbjson_set_text can fill; free
 * with bp_pbjson_free. NULL on ENOMEM. */
ProtobufCMessage *bp_pbjson_new(const ProtobufCMessageDescriptor *d);

/* Frees a message made by bp_pbjson_decode or bp_pbjson_new. */
void bp_pbjson_free(ProtobufCMessage *msg);

/* Renders msg as a new JSON object (caller json_decref's it): every field
 * of the descriptor appears; unset optional fields are null, repeated
 * fields arrays, enums their names, int64 numbers, bytes base64. NULL on
 * ENOMEM. */
json_t *bp_pbjson_encode(const ProtobufCMessage *msg);

#endif
