/* A bump allocator for the lifetime of one call: handlers build their reply
 * messages in it and everything is released at once when the call ends. */
#ifndef BP_ARENA_H
#define BP_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct bp_arena bp_arena;

/* Creates an arena; free it with bp_arena_free. Returns NULL on ENOMEM. */
bp_arena *bp_arena_new(void);

/* Releases every block, then the arena itself. NULL is ignored. */
void bp_arena_free(bp_arena *a);

/* Releases every allocation but keeps the first block for reuse. */
void bp_arena_reset(bp_arena *a);

/* Returns size bytes, zeroed and aligned for any type, owned by the arena;
 * NULL on ENOMEM. */
void *bp_arena_alloc(bp_arena *a, size_t size);

/* Copies s (NULL gives NULL) into the arena. */
char *bp_arena_strdup(bp_arena *a, const char *s);

/* Copies n bytes of s and a NUL into the arena. */
char *bp_arena_strndup(bp_arena *a, const char *s, size_t n);

/* Formats into the arena. */
char *bp_arena_printf(bp_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocates and initialises a message of descriptor d in the arena. */
ProtobufCMessage *bp_arena_message(bp_arena *a, const ProtobufCMessageDescriptor *d);

/* A protobuf-c allocator whose allocations live in the arena (free is a
 * no-op), for protobuf_c_message_unpack. */
void bp_arena_allocator(bp_arena *a, ProtobufCAllocator *out);

#endif
