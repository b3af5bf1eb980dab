/* The metrics registry: a fixed-size hash table of series, created under a
 * write lock on first use and updated with atomics afterwards. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procstat.h"
#include "strbuf.h"

#define MAX_SERIES 4096 /* a bound on cardinality; a power of two */
#define MAX_BOUNDS 24

static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.2,   0.5,    1,     2.5,  5,     10};

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

struct bp_counter {
    _Atomic int64_t value;
};

struct bp_gauge {
    _Atomic uint64_t bits; /* a double */
};

struct bp_histogram {
    size_t nbounds;
    double bounds[MAX_BOUNDS];
    _Atomic uint64_t buckets[MAX_BOUNDS + 1]; /* last one is +Inf */
    _Atomic uint64_t sum_bits;                /* a double, updated by CAS */
    _Atomic uint64_t count;
};

typedef struct {
    kind_t kind;
    char *name, *help, *labels;
    size_t order; /* creation order, for stable output */
    union {
        struct bp_counter counter;
        struct bp_gauge gauge;
        struct bp_histogram hist;
    } u;
} series;

static series *table[MAX_SERIES];
static size_t n_series;
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static size_t hash2(const char *a, const char *b)
{
    size_t h = 1469598103934665603ull;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ull;
    h = (h ^ '{') * 1099511628211ull;
    for (; b && *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211ull;
    return h;
}

static bool same(const series *s, const char *name, const char *labels)
{
    return strcmp(s->name, name) == 0 && strcmp(s->labels, labels ? labels : "") == 0;
}

/* Finds the series or, when create is set, makes it. Returns NULL when the
 * table is full, the kind clashes, or memory runs out. */
static series *lookup(kind_t kind, const char *name, const char *help, const char *labels,
                      const double *bounds, size_t nbounds)
{
    size_t h = hash2(name, labels);
    pthread_rwlock_rdlock(&lock);
    for (size_t i = 0; i < MAX_SERIES; i++) {
        series *s = table[(h + i) & (MAX_SERIES - 1)];
        if (s == NULL)
            break;
        if (same(s, name, labels)) {
            pthread_rwlock_unlock(&lock);
            return s->kind == kind ? s : NULL;
        }
    }
    pthread_rwlock_unlock(&lock);

    pthread_rwlock_wrlock(&lock);
    series *found = NULL;
    for (size_t i = 0; i < MAX_SERIES; i++) {
        size_t slot = (h + i) & (MAX_SERIES - 1);
        series *s = table[slot];
        if (s != NULL) {
            if (same(s, name, labels)) {
                found = s->kind == kind ? s : NULL;
                break;
            }
            continue;
        }
        if (n_series >= MAX_SERIES * 3 / 4)
            break;
        s = calloc(1, sizeof *s);
        if (s == NULL)
            break;
        s->kind = kind;
        s->name = strdup(name);
        s->help = strdup(help ? help : name);
        s->labels = strdup(labels ? labels : "");
        s->order = n_series++;
        if (kind == KIND_HISTOGRAM) {
            if (bounds == NULL) {
                bounds = default_bounds;
                nbounds = sizeof default_bounds / sizeof default_bounds[0];
            }
            if (nbounds > MAX_BOUNDS)
                nbounds = MAX_BOUNDS;
            s->u.hist.nbounds = nbounds;
            memcpy(s->u.hist.bounds, bounds, nbounds * sizeof *bounds);
        }
        table[slot] = s;
        found = s;
        break;
    }
    pthread_rwlock_unlock(&lock);
    return found;
}

bp_counter *bp_metrics_counter(const char *name, const char *help, const char *labels)
{
    series *s = lookup(KIND_COUNTER, name, help, labels, NULL, 0);
    return s ? &s->u.counter : NULL;
}

void bp_counter_add(bp_counter *c, uint64_t n)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->value, (int64_t)n, memory_order_relaxed);
}

void bp_counter_set(bp_counter *c, int64_t v)
{
    if (c != NULL)
        atomic_store_explicit(&c->value, v, memory_order_relaxed);
}

bp_gauge *bp_metrics_gauge(const char *name, const char *help, const char *labels)
{
    series *s = lookup(KIND_GAUGE, name, help, labels, NULL, 0);
    return s ? &s->u.gauge : NULL;
}

void bp_gauge_set(bp_gauge *g, double v)
{
    if (g == NULL)
        return;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    atomic_store_explicit(&g->bits, bits, memory_order_relaxed);
}

bp_histogram *bp_metrics_histogram(const char *name, const char *help, const char *labels,
                                   const double *bounds, size_t nbounds)
{
    series *s = lookup(KIND_HISTOGRAM, name, help, labels, bounds, nbounds);
    return s ? &s->u.hist : NULL;
}

void bp_histogram_observe(bp_histogram *h, double v)
{
    if (h == NULL)
        return;
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed), next;
    do {
        double sum;
        memcpy(&sum, &old, sizeof sum);
        sum += v;
        memcpy(&next, &sum, sizeof next);
    } while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void bp_metrics_escape(const char *value, char *out, size_t len)
{
    size_t o = 0;
    for (; value && *value && o + 3 < len; value++) {
        if (*value == '\\' || *value == '"') {
            out[o++] = '\\';
            out[o++] = *value;
        } else if (*value == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *value;
        }
    }
    if (len > 0)
        out[o] = '\0';
}

/* Joins the series labels, the extra labels and an optional le label. */
static void sb_labels(bp_strbuf *b, const char *labels, const char *extra, const char *le)
{
    const char *parts[3] = {labels, extra, le};
    bool any = false;
    for (int i = 0; i < 3; i++) {
        if (parts[i] == NULL || *parts[i] == '\0')
            continue;
        bp_strbuf_printf(b, "%s%s", any ? "," : "{", parts[i]);
        any = true;
    }
    if (any)
        bp_strbuf_printf(b, "}");
}

static int by_order(const void *x, const void *y)
{
    const series *a = *(series *const *)x, *b = *(series *const *)y;
    int c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

static bool is_counter_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 6 && strcmp(name + n - 6, "_total") == 0) ||
           (n > 6 && strcmp(name + n - 6, "_count") == 0);
}

static const char *type_of(const series *s)
{
    if (s->kind == KIND_HISTOGRAM)
        return "histogram";
    return s->kind == KIND_COUNTER && is_counter_name(s->name) ? "counter" : "gauge";
}

/* One sample of a process_* family with its HELP and TYPE lines; value is
 * already formatted. */
static void sb_process(bp_strbuf *b, const char *name, const char *type, const char *help,
                       const char *extra, const char *value)
{
    bp_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s", name, help, name, type, name);
    sb_labels(b, NULL, extra, NULL);
    bp_strbuf_printf(b, " %s\n", value);
}

/* The process_* families, named and described as the Prometheus client
 * libraries do, so that standard dashboards and alerts work unchanged. */
static void render_process(bp_strbuf *b, const char *extra)
{
    bp_procstat ps;
    if (bp_procstat_read(&ps) != 0)
        return;
    char v[32];
    snprintf(v, sizeof v, "%.2f", ps.cpu_seconds);
    sb_process(b, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.", extra, v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)ps.open_fds);
    sb_process(b, "process_open_fds", "gauge", "Number of open file descriptors.", extra, v);
    if (ps.max_fds > 0) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)ps.max_fds);
        sb_process(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.", extra,
                   v);
    }
    snprintf(v, sizeof v, "%llu", (unsigned long long)ps.virtual_bytes);
    sb_process(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", extra,
               v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)ps.resident_bytes);
    sb_process(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", extra,
               v);
    snprintf(v, sizeof v, "%.2f", ps.start_time_seconds);
    sb_process(b, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.", extra, v);
}

char *bp_metrics_render(const char *extra_labels)
{
    bp_strbuf b = {0};

    pthread_rwlock_rdlock(&lock);
    series **all = malloc((n_series + 1) * sizeof *all);
    size_t n = 0;
    if (all != NULL) {
        for (size_t i = 0; i < MAX_SERIES; i++)
            if (table[i] != NULL)
                all[n++] = table[i];
        qsort(all, n, sizeof *all, by_order);
    } else {
        b.failed = true;
    }
    pthread_rwlock_unlock(&lock);

    for (size_t i = 0; i < n; i++) {
        series *s = all[i];
        if (i == 0 || strcmp(all[i - 1]->name, s->name) != 0) {
            const char *type = type_of(s);
            bp_strbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name, type);
        }
        if (s->kind == KIND_COUNTER) {
            bp_strbuf_printf(&b, "%s", s->name);
            sb_labels(&b, s->labels, extra_labels, NULL);
            bp_strbuf_printf(&b, " %lld\n", (long long)atomic_load(&s->u.counter.value));
            continue;
        }
        if (s->kind == KIND_GAUGE) {
            uint64_t bits = atomic_load(&s->u.gauge.bits);
            double v;
            memcpy(&v, &bits, sizeof v);
            bp_strbuf_printf(&b, "%s", s->name);
            sb_labels(&b, s->labels, extra_labels, NULL);
            bp_strbuf_printf(&b, " %.9g\n", v);
            continue;
        }
        struct bp_histogram *h = &s->u.hist;
        uint64_t cumulative = 0;
        for (size_t k = 0; k <= h->nbounds; k++) {
            char le[48];
            cumulative += atomic_load(&h->buckets[k]);
            if (k < h->nbounds)
                snprintf(le, sizeof le, "le=\"%g\"", h->bounds[k]);
            else
                snprintf(le, sizeof le, "le=\"+Inf\"");
            bp_strbuf_printf(&b, "%s_bucket", s->name);
            sb_labels(&b, s->labels, extra_labels, le);
            bp_strbuf_printf(&b, " %llu\n", (unsigned long long)cumulative);
        }
        uint64_t bits = atomic_load(&h->sum_bits);
        double sum;
        memcpy(&sum, &bits, sizeof sum);
        bp_strbuf_printf(&b, "%s_sum", s->name);
        sb_labels(&b, s->labels, extra_labels, NULL);
        bp_strbuf_printf(&b, " %.9g\n", sum);
        bp_strbuf_printf(&b, "%s_count", s->name);
        sb_labels(&b, s->labels, extra_labels, NULL);
        bp_strbuf_printf(&b, " %llu\n", (unsigned long long)cumulative);
    }
    free(all);
    render_process(&b, extra_labels);
    return bp_strbuf_take(&b);
}
