/* The calling process's CPU time, memory, file descriptors and start time,
 * read from /proc (Linux) for the process_* metrics that every BarberPro
 * process exports, named as the Prometheus client libraries name them. */
#ifndef BP_PROCSTAT_H
#define BP_PROCSTAT_H

#include <stdint.h>

typedef struct {
    double cpu_seconds;        /* user + system time of every thread */
    uint64_t virtual_bytes;    /* size of the address space */
    uint64_t resident_bytes;   /* resident set */
    double start_time_seconds; /* since the Unix epoch */
    uint64_t open_fds;
    uint64_t max_fds; /* the soft RLIMIT_NOFILE; 0 when unlimited */
} bp_procstat;

/* Parses the text of /proc/<pid>/stat (NUL-terminated) into the CPU time,
 * memory and start time of out, given the clock ticks per second, the page
 * size in bytes and the boot time (seconds since the epoch, the btime of
 * /proc/stat). The command name may hold spaces and parentheses. Returns 0,
 * or BP_EINVAL when the text is not such a line (out is then unchanged). */
int bp_procstat_parse_stat(const char *text, long ticks_per_second, long page_size,
                           int64_t boot_time, bp_procstat *out);

/* Finds the "btime <seconds>" line in the text of /proc/stat. Returns 0 with
 * *boot_time set, or BP_EINVAL when there is none. */
int bp_procstat_parse_btime(const char *text, int64_t *boot_time);

/* Reads all of out for the calling process. Returns 0, or BP_EIO when
 * /proc cannot be read (not Linux, or no /proc mounted). */
int bp_procstat_read(bp_procstat *out);

#endif
