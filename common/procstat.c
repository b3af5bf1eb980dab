/* The process_* figures of the calling process, from /proc/self/stat,
 * /proc/stat (the boot time), /proc/self/fd and RLIMIT_NOFILE. */
#include "procstat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bp.h"

/* Fields of /proc/<pid>/stat after the command name, counted from 0: field
 * 3 of proc(5) (the state) is 0. */
enum { F_UTIME = 11, F_STIME = 12, F_STARTTIME = 19, F_VSIZE = 20, F_RSS = 21 };

static bool wanted(int field)
{
    return field == F_UTIME || field == F_STIME || field == F_STARTTIME || field == F_VSIZE ||
           field == F_RSS;
}

int bp_procstat_parse_stat(const char *text, long ticks_per_second, long page_size,
                           int64_t boot_time, bp_procstat *out)
{
    if (text == NULL || ticks_per_second <= 0 || page_size <= 0)
        return BP_EINVAL;
    /* The name is in parentheses and may itself hold ") ": the fields
     * start after the last one. */
    const char *p = strrchr(text, ')');
    if (p == NULL)
        return BP_EINVAL;
    p++;
    unsigned long long v[F_RSS + 1] = {0};
    for (int field = 0; field <= F_RSS; field++) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p != ' ' && *p != '\n' && *p != '\0')
            p++;
        if (p == start)
            return BP_EINVAL;
        if (!wanted(field))
            continue;
        if (!isdigit((unsigned char)*start))
            return BP_EINVAL;
        char *end;
        errno = 0;
        v[field] = strtoull(start, &end, 10);
        if (errno != 0 || end != p)
            return BP_EINVAL;
    }
    double ticks = (double)ticks_per_second;
    out->cpu_seconds = (double)(v[F_UTIME] + v[F_STIME]) / ticks;
    out->virtual_bytes = v[F_VSIZE];
    out->resident_bytes = v[F_RSS] * (uint64_t)page_size;
    out->start_time_seconds = (double)boot_time + (double)v[F_STARTTIME] / ticks;
    return 0;
}

int bp_procstat_parse_btime(const char *text, int64_t *boot_time)
{
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, "btime ", 6) == 0) {
            char *end;
            errno = 0;
            long long v = strtoll(line + 6, &end, 10);
            if (errno != 0 || end == line + 6 || (*end != '\n' && *end != '\0') || v <= 0)
                return BP_EINVAL;
            *boot_time = v;
            return 0;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return BP_EINVAL;
}

/* The boot time does not change while the process lives: read it once. */
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static int64_t boot_time;
static bool boot_known;

static void read_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (bp_procstat_parse_btime(line, &boot_time) == 0) {
            boot_known = true;
            break;
        }
    }
    free(line);
    fclose(f);
}

/* Reads the whole of a small file into buf (len bytes with the NUL).
 * Returns 0, or BP_EIO when it cannot be read or is empty. */
static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return BP_EIO;
    size_t used = 0;
    int rv = 0;
    while (used < len - 1) {
        ssize_t n = read(fd, buf + used, len - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rv = BP_EIO;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    return rv == 0 && used > 0 ? 0 : BP_EIO;
}

/* Counts the process's descriptors, leaving out the one that lists them. */
static int count_open_fds(uint64_t *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return BP_EIO;
    int own = dirfd(d);
    uint64_t n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (e->d_name[0] != '.' && *end == '\0' && fd != own)
            n++;
    }
    closedir(d);
    *out = n;
    return 0;
}

int bp_procstat_read(bp_procstat *out)
{
    pthread_once(&boot_once, read_boot_time);
    char stat[4096];
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (!boot_known || read_small("/proc/self/stat", stat, sizeof stat) != 0)
        return BP_EIO;
    bp_procstat ps;
    if (bp_procstat_parse_stat(stat, ticks, page, boot_time, &ps) != 0 ||
        count_open_fds(&ps.open_fds) != 0)
        return BP_EIO;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return BP_EIO;
    ps.max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
    *out = ps;
    return 0;
}
