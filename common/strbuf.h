/* A growable NUL-terminated string for building documents (metrics text,
 * merged exposition). An allocation failure is remembered and reported
 * once, at bp_strbuf_take, so callers need not check every append. */
#ifndef BP_STRBUF_H
#define BP_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p; /* NULL until the first append; always NUL-terminated after */
    size_t len, cap;
    bool failed;
} bp_strbuf;

/* Appends n bytes of s. */
void bp_strbuf_append(bp_strbuf *b, const char *s, size_t n);

/* Appends formatted text. */
void bp_strbuf_printf(bp_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns the string (caller frees with free(); "" when nothing was
 * appended) and empties b, or NULL after an allocation failure. */
char *bp_strbuf_take(bp_strbuf *b);

/* Frees what b holds and empties it. */
void bp_strbuf_reset(bp_strbuf *b);

#endif
