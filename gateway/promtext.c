/* Family-wise merge of Prometheus text documents for /api/metrics. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gw_promtext.h"

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

typedef struct {
    char *name;
    buf help, type; /* the whole first HELP / TYPE line */
    buf samples;
} family;

typedef struct {
    family *v;
    size_t n, cap;
    bool failed;
} families;

static family *find(families *fs, const char *name, size_t len)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strlen(fs->v[i].name) == len && memcmp(fs->v[i].name, name, len) == 0)
            return &fs->v[i];
    return NULL;
}

static family *find_or_add(families *fs, const char *name, size_t len)
{
    family *f = find(fs, name, len);
    if (f != NULL || fs->failed)
        return f;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap > 0 ? fs->cap * 2 : 32;
        family *v = realloc(fs->v, cap * sizeof *v);
        if (v == NULL) {
            fs->failed = true;
            return NULL;
        }
        fs->v = v;
        fs->cap = cap;
    }
    f = &fs->v[fs->n];
    memset(f, 0, sizeof *f);
    f->name = strndup(name, len);
    if (f->name == NULL) {
        fs->failed = true;
        return NULL;
    }
    fs->n++;
    return f;
}

static const char *const suffixes[] = {"_bucket", "_sum", "_count", "_total", "_created"};

/* The family of a sample named name[0..len): cur when it belongs there,
 * else a known family by name or by name without a suffix, else a new one. */
static family *family_of(families *fs, family *cur, const char *name, size_t len)
{
    size_t base_len = len;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sl = strlen(suffixes[i]);
        if (len > sl && memcmp(name + len - sl, suffixes[i], sl) == 0) {
            base_len = len - sl;
            break;
        }
    }
    if (cur != NULL) {
        size_t cl = strlen(cur->name);
        if ((cl == len || cl == base_len) && memcmp(cur->name, name, cl) == 0)
            return cur;
    }
    family *f = find(fs, name, len);
    if (f == NULL && base_len != len)
        f = find(fs, name, base_len);
    return f != NULL ? f : find_or_add(fs, name, len);
}

/* "# HELP name ..." or "# TYPE name ...": the name. */
static size_t comment_name(const char *line, size_t len, const char **name)
{
    size_t i = 7;
    while (i < len && line[i] == ' ')
        i++;
    size_t start = i;
    while (i < len && line[i] != ' ' && line[i] != '\t')
        i++;
    *name = line + start;
    return i - start;
}

static void merge_doc(families *fs, const char *doc)
{
    family *cur = NULL;
    const char *p = doc;
    while (*p != '\0' && !fs->failed) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        const char *line = p;
        p += len + (nl != NULL ? 1 : 0);
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
            len--;
        if (len == 0)
            continue;
        bool help = len > 7 && memcmp(line, "# HELP ", 7) == 0;
        bool type = len > 7 && memcmp(line, "# TYPE ", 7) == 0;
        if (help || type) {
            const char *name;
            size_t nlen = comment_name(line, len, &name);
            if (nlen == 0)
                continue;
            cur = find_or_add(fs, name, nlen);
            if (cur == NULL)
                return;
            buf *b = help ? &cur->help : &cur->type;
            if (b->len == 0) {
                buf_add(b, line, len);
                buf_add(b, "\n", 1);
            }
            continue;
        }
        if (line[0] == '#')
            continue;
        size_t nlen = 0;
        while (nlen < len && line[nlen] != '{' && line[nlen] != ' ' && line[nlen] != '\t')
            nlen++;
        cur = family_of(fs, cur, line, nlen);
        if (cur == NULL)
            return;
        buf_add(&cur->samples, line, len);
        buf_add(&cur->samples, "\n", 1);
    }
}

char *gw_prom_merge(const char *const *docs, size_t n)
{
    families fs = {NULL, 0, 0, false};
    buf out = {NULL, 0, 0, false};
    for (size_t i = 0; i < n; i++)
        if (docs[i] != NULL)
            merge_doc(&fs, docs[i]);
    buf_add(&out, "", 0);
    for (size_t i = 0; i < fs.n; i++) {
        family *f = &fs.v[i];
        if (f->help.len > 0)
            buf_add(&out, f->help.p, f->help.len);
        if (f->type.len > 0)
            buf_add(&out, f->type.p, f->type.len);
        if (f->samples.len > 0)
            buf_add(&out, f->samples.p, f->samples.len);
        free(f->name);
        free(f->help.p);
        free(f->type.p);
        free(f->samples.p);
    }
    free(fs.v);
    fs.failed = fs.failed || out.failed;
    if (fs.failed) {
        free(out.p);
        return NULL;
    }
    return out.p;
}
