/* Merging Prometheus text exposition documents. */
#ifndef GW_PROMTEXT_H
#define GW_PROMTEXT_H

#include <stddef.h>

/* Merges n documents (NULL entries are skipped) into one in which every
 * metric family appears once: its first HELP and TYPE lines, then the
 * samples of every document in order. Concatenating would repeat a family
 * (each daemon exports barberpro_rpc_*), which the format forbids. Samples
 * are matched to families by the preceding TYPE/HELP line or by name (with
 * the _bucket, _sum, _count, _total and _created suffixes). Returns a string
 * the caller frees with free(), or NULL on ENOMEM. */
char *gw_prom_merge(const char *const *docs, size_t n);

/* gw_prom_merge, adding labels[i] (one name="value" pair, already escaped;
 * NULL for none) to every sample of docs[i]: the documents of several
 * instances of one daemon stay apart. labels NULL: gw_prom_merge. */
char *gw_prom_merge_labelled(const char *const *docs, const char *const *labels, size_t n);

#endif
