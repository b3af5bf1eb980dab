/* Family-wise merge of Prometheus text documents for /api/metrics. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gw_promtext.h"
#include "strbuf.h"

typedef struct {
    char *name;
    bp_strbuf help, type; /* the whole first HELP / TYPE line */
    bp_strbuf samples;
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

/* Appends the sample line[0..len) (name[0..nlen) first) to b with label, a
 * name="value" pair, added to its label set; NULL: as it is. Label values
 * are scanned as quoted strings, so a '}' inside one is not the end. */
static void append_sample(bp_strbuf *b, const char *line, size_t len, size_t nlen,
                          const char *label)
{
    if (label == NULL) {
        bp_strbuf_append(b, line, len);
        bp_strbuf_append(b, "\n", 1);
        return;
    }
    if (nlen >= len || line[nlen] != '{') {
        bp_strbuf_append(b, line, nlen);
        bp_strbuf_printf(b, "{%s}", label);
        bp_strbuf_append(b, line + nlen, len - nlen);
        bp_strbuf_append(b, "\n", 1);
        return;
    }
    size_t i = nlen + 1;
    bool quoted = false, empty = true;
    for (; i < len; i++) {
        char c = line[i];
        if (quoted) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '}') {
            break;
        }
        if (c != ' ')
            empty = false;
    }
    if (i >= len) { /* no closing brace: not ours to fix, keep it */
        bp_strbuf_append(b, line, len);
        bp_strbuf_append(b, "\n", 1);
        return;
    }
    size_t j = i; /* a trailing comma before the brace is allowed */
    while (j > nlen + 1 && line[j - 1] == ' ')
        j--;
    bool comma = j > nlen + 1 && line[j - 1] == ',';
    bp_strbuf_append(b, line, i);
    bp_strbuf_printf(b, "%s%s", empty || comma ? "" : ",", label);
    bp_strbuf_append(b, line + i, len - i);
    bp_strbuf_append(b, "\n", 1);
}

static void merge_doc(families *fs, const char *doc, const char *label)
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
            bp_strbuf *b = help ? &cur->help : &cur->type;
            if (b->len == 0) {
                bp_strbuf_append(b, line, len);
                bp_strbuf_append(b, "\n", 1);
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
        append_sample(&cur->samples, line, len, nlen, label);
    }
}

char *gw_prom_merge(const char *const *docs, size_t n)
{
    return gw_prom_merge_labelled(docs, NULL, n);
}

char *gw_prom_merge_labelled(const char *const *docs, const char *const *labels, size_t n)
{
    families fs = {NULL, 0, 0, false};
    bp_strbuf out = {0};
    for (size_t i = 0; i < n; i++)
        if (docs[i] != NULL)
            merge_doc(&fs, docs[i], labels != NULL ? labels[i] : NULL);
    for (size_t i = 0; i < fs.n; i++) {
        family *f = &fs.v[i];
        bp_strbuf *parts[] = {&f->help, &f->type, &f->samples};
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            fs.failed = fs.failed || parts[k]->failed;
            if (parts[k]->len > 0)
                bp_strbuf_append(&out, parts[k]->p, parts[k]->len);
            bp_strbuf_reset(parts[k]);
        }
        free(f->name);
    }
    free(fs.v);
    if (fs.failed) {
        bp_strbuf_reset(&out);
        return NULL;
    }
    return bp_strbuf_take(&out);
}
