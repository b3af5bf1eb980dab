/* Prometheus text written sample by sample (prom.h). */
#include "prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Appends s with the characters the format escapes in HELP text (quote
 * false) or label values (quote true). */
static void append_escaped(bp_strbuf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s != '\0'; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (quote && *s == '"')
            esc = "\\\"";
        if (esc == NULL)
            continue;
        bp_strbuf_append(b, run, (size_t)(s - run));
        bp_strbuf_append(b, esc, 2);
        run = s + 1;
    }
    bp_strbuf_append(b, run, (size_t)(s - run));
}

void bp_prom_family(bp_strbuf *b, const char *name, const char *type, const char *help)
{
    bp_strbuf_printf(b, "# HELP %s ", name);
    append_escaped(b, help, false);
    bp_strbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{labels} and the space before the value. */
static void sample_head(bp_strbuf *b, const char *name, const char *const *labels)
{
    bp_strbuf_append(b, name, strlen(name));
    if (labels != NULL && labels[0] != NULL) {
        bp_strbuf_append(b, "{", 1);
        for (size_t i = 0; labels[i] != NULL; i += 2) {
            if (i > 0)
                bp_strbuf_append(b, ",", 1);
            bp_strbuf_printf(b, "%s=\"", labels[i]);
            append_escaped(b, labels[i + 1], true);
            bp_strbuf_append(b, "\"", 1);
        }
        bp_strbuf_append(b, "}", 1);
    }
    bp_strbuf_append(b, " ", 1);
}

void bp_prom_int(bp_strbuf *b, const char *name, const char *const *labels, int64_t v)
{
    sample_head(b, name, labels);
    bp_strbuf_printf(b, "%" PRId64 "\n", v);
}

void bp_prom_single(bp_strbuf *b, const char *name, const char *type, const char *help, int64_t v)
{
    bp_prom_family(b, name, type, help);
    bp_prom_int(b, name, NULL, v);
}

void bp_prom_real(bp_strbuf *b, const char *name, const char *const *labels, double v)
{
    sample_head(b, name, labels);
    if (isnan(v))
        bp_strbuf_append(b, "NaN\n", 4);
    else if (isinf(v))
        bp_strbuf_printf(b, "%sInf\n", v > 0 ? "+" : "-");
    else
        bp_strbuf_printf(b, "%.17g\n", v);
}

int64_t bp_prom_rows(bp_strbuf *b, const char *name, const char *type, const char *help,
                     const PGresult *res, const char *const *label_names, int value_col)
{
    enum { MAX_LABELS = 8 };
    const char *labels[2 * MAX_LABELS + 1];
    int n_labels = 0;
    while (n_labels < MAX_LABELS && label_names[n_labels] != NULL)
        n_labels++;
    int64_t sum = 0;
    bp_prom_family(b, name, type, help);
    for (int i = 0; i < PQntuples(res); i++) {
        for (int k = 0; k < n_labels; k++) {
            labels[2 * k] = label_names[k];
            labels[2 * k + 1] = PQgetvalue(res, i, k);
        }
        labels[2 * n_labels] = NULL;
        int64_t v = strtoll(PQgetvalue(res, i, value_col), NULL, 10);
        bp_prom_int(b, name, labels, v);
        sum += v;
    }
    return sum;
}

void bp_prom_columns(bp_strbuf *b, const PGresult *res, const bp_prom_column *cols, size_t n)
{
    for (size_t i = 0; i < n && (int)i < PQnfields(res) && PQntuples(res) > 0; i++)
        bp_prom_single(b, cols[i].name, cols[i].type, cols[i].help,
                       strtoll(PQgetvalue(res, 0, (int)i), NULL, 10));
}
