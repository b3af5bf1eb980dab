/* A chunked bump allocator for per-call memory. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 8192
#define ARENA_ALIGN 16

typedef struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} block;

struct bp_arena {
    block *head; /* current block; older ones follow */
};

static block *block_new(size_t cap)
{
    block *b = malloc(sizeof *b + cap);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

bp_arena *bp_arena_new(void)
{
    bp_arena *a = malloc(sizeof *a);
    if (a == NULL)
        return NULL;
    a->head = block_new(ARENA_BLOCK);
    if (a->head == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

static void free_chain(block *b)
{
    while (b != NULL) {
        block *next = b->next;
        free(b);
        b = next;
    }
}

void bp_arena_free(bp_arena *a)
{
    if (a == NULL)
        return;
    free_chain(a->head);
    free(a);
}

void bp_arena_reset(bp_arena *a)
{
    /* Keep the oldest block (the standard-sized first one) for reuse. */
    block *b = a->head, *first = b;
    while (first->next != NULL)
        first = first->next;
    while (b != first) {
        block *next = b->next;
        free(b);
        b = next;
    }
    first->used = 0;
    a->head = first;
}

void *bp_arena_alloc(bp_arena *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size)
        return NULL;
    block *b = a->head;
    if (b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        block *nb = block_new(cap);
        if (nb == NULL)
            return NULL;
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    memset(p, 0, size);
    return p;
}

char *bp_arena_strndup(bp_arena *a, const char *s, size_t n)
{
    char *p = bp_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *bp_arena_strdup(bp_arena *a, const char *s)
{
    return s == NULL ? NULL : bp_arena_strndup(a, s, strlen(s));
}

char *bp_arena_printf(bp_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = NULL;
    if (n >= 0 && (p = bp_arena_alloc(a, (size_t)n + 1)) != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

ProtobufCMessage *bp_arena_message(bp_arena *a, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = bp_arena_alloc(a, d->sizeof_message);
    if (m != NULL)
        d->message_init(m);
    return m;
}

static void *arena_pb_alloc(void *data, size_t size)
{
    return bp_arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

void bp_arena_allocator(bp_arena *a, ProtobufCAllocator *out)
{
    out->alloc = arena_pb_alloc;
    out->free = arena_pb_free;
    out->allocator_data = a;
}
