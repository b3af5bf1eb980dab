/* Process-wide metrics (counters and histograms) rendered in the Prometheus
 * text exposition format. Series are created on first use and live until the
 * process ends; updates are lock-free. */
#ifndef BP_METRICS_H
#define BP_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bp_counter bp_counter;
typedef struct bp_gauge bp_gauge;
typedef struct bp_histogram bp_histogram;

/* Returns the counter series name{labels}, creating it the first time.
 * labels is the inside of the braces, already escaped, e.g.
 * "route=\"/api/health\",status=\"200\"", or NULL for none. help is used for
 * the family's HELP line. The registry owns the series; never free it.
 * Returns NULL only when out of memory or the registry is full. */
bp_counter *bp_metrics_counter(const char *name, const char *help, const char *labels);

/* Adds n to a counter (NULL is ignored). */
void bp_counter_add(bp_counter *c, uint64_t n);

/* Sets a counter used as a gauge to v (NULL is ignored). Families whose name
 * ends in neither _total nor _count are rendered with TYPE gauge. */
void bp_counter_set(bp_counter *c, int64_t v);

/* Returns the gauge series name{labels}, creating it the first time, for a
 * value that is not a whole number (a latency, a ratio). Same arguments and
 * ownership as bp_metrics_counter; always rendered with TYPE gauge, so name
 * must not end in _total. */
bp_gauge *bp_metrics_gauge(const char *name, const char *help, const char *labels);

/* Sets a gauge to v, which must be finite (NULL is ignored). */
void bp_gauge_set(bp_gauge *g, double v);

/* Returns the histogram series name{labels} with the given upper bounds
 * (ascending, without +Inf), creating it the first time. NULL bounds means
 * the default latency buckets in seconds (0.0005 to 10). */
bp_histogram *bp_metrics_histogram(const char *name, const char *help, const char *labels,
                                   const double *bounds, size_t nbounds);

/* Records one observation (NULL is ignored). */
void bp_histogram_observe(bp_histogram *h, double v);

/* Renders every series, then the process_* families of the Prometheus
 * client libraries (CPU seconds, resident and virtual memory, open and
 * maximum descriptors, start time), read from /proc when called and left
 * out where /proc cannot be read; extra_labels (e.g. "service=\"auth\"", or
 * NULL) is added to each. Returns a NUL-terminated string the caller frees
 * with free(), or NULL when out of memory. */
char *bp_metrics_render(const char *extra_labels);

/* Escapes a label value for use inside quotes (\\, \" and \n). Writes at most
 * len bytes into out, always NUL-terminated. */
void bp_metrics_escape(const char *value, char *out, size_t len);

#endif
