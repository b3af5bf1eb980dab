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

#endif
