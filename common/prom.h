/* Writing Prometheus text exposition format by hand, for figures a daemon
 * reads from its own schema at each scrape (its BusinessMetrics hook) rather
 * than counting in memory as metrics.h does. */
#ifndef BP_PROM_H
#define BP_PROM_H

#include <libpq-fe.h>
#include <stdint.h>

#include "strbuf.h"

/* Appends the "# HELP" and "# TYPE" lines of a family to b. name must be a
 * valid metric name; type is "counter" or "gauge"; help is escaped as the
 * format wants (backslash and newline). Every string is only read. */
void bp_prom_family(bp_strbuf *b, const char *name, const char *type, const char *help);

/* Appends one sample "name{k="v",...} value" to b. labels alternates label
 * names and values and ends with NULL ({"status", "confirmed", NULL}), or is
 * NULL for none; no value may be NULL. Values are escaped (\\, \" and \n).
 * Every string is only read. */
void bp_prom_int(bp_strbuf *b, const char *name, const char *const *labels, int64_t v);

/* A whole family of one unlabelled sample: bp_prom_family, then
 * bp_prom_int. */
void bp_prom_single(bp_strbuf *b, const char *name, const char *type, const char *help, int64_t v);

/* As bp_prom_int for a real value: NaN, +Inf and -Inf are written as the
 * format spells them, anything else with enough digits to read it back. */
void bp_prom_real(bp_strbuf *b, const char *name, const char *const *labels, double v);

/* Appends a whole family read from a query: its HELP and TYPE lines, then
 * one sample per row of res whose labels are label_names (NULL-terminated)
 * valued by the row's first columns, in order, and whose value is the
 * integer in column value_col. Returns the sum of the values (a total
 * across the labels, such as every booking whatever its status). */
int64_t bp_prom_rows(bp_strbuf *b, const char *name, const char *type, const char *help,
                     const PGresult *res, const char *const *label_names, int value_col);

/* One family of one unlabelled sample per column of a single-row query:
 * column i of res's first row is the value of cols[i]. n must not exceed
 * the columns of res. */
typedef struct {
    const char *name, *type, *help;
} bp_prom_column;
void bp_prom_columns(bp_strbuf *b, const PGresult *res, const bp_prom_column *cols, size_t n);

#endif
