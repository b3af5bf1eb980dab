/* Running the PostgreSQL tools and tar, gzip in process, and the folder
 * chores of backups and restores. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "backup.h"
#include "bp.h"
#include "log.h"

extern char **environ;

int backup_path(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? BP_ETOOBIG : 0;
}

void backup_pg_tool(const char *name, char *out, size_t len)
{
    if (backup_config.pg_bin[0] == '\0' ||
        backup_path(out, len, "%s/%s", backup_config.pg_bin, name) != 0)
        snprintf(out, len, "%s", name);
}

/* The last non-empty line of what a child wrote on stderr. */
static void last_line(char *buf, size_t n, char *out, size_t len)
{
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    char *nl = strrchr(buf, '\n');
    snprintf(out, len, "%.400s", nl != NULL ? nl + 1 : buf);
}

int backup_exec(const char *const *argv, const char *stdout_path, bool as_pg, char *err, size_t len)
{
    const char *args[32];
    size_t n = 0;
    if (as_pg && geteuid() == 0) {
        args[n++] = "runuser";
        args[n++] = "-u";
        args[n++] = backup_config.pg_os_user;
        args[n++] = "--";
    }
    for (size_t i = 0; argv[i] != NULL; i++) {
        if (n + 1 >= BP_COUNTOF(args)) {
            snprintf(err, len, "%s: too many arguments", argv[0]);
            return BP_EINVAL;
        }
        args[n++] = argv[i];
    }
    args[n] = NULL;

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(err, len, "pipe: %s", strerror(errno));
        return BP_EIO;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, stdout_path != NULL ? stdout_path : "/dev/null",
                                     stdout_path != NULL ? O_WRONLY | O_CREAT | O_TRUNC : O_WRONLY,
                                     0600);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, args[0], &fa, NULL, (char *const *)args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        snprintf(err, len, "%s: %s", argv[0], strerror(rc));
        return BP_EIO;
    }
    /* Keep the tail of stderr: the reason is in its last line. */
    char tail[2048];
    size_t used = 0;
    for (;;) {
        char chunk[1024];
        ssize_t got = read(pipefd[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        /* chunk is smaller than tail: drop the oldest bytes to fit it. */
        size_t g = (size_t)got;
        if (used + g > sizeof tail - 1) {
            size_t drop = used + g - (sizeof tail - 1);
            memmove(tail, tail + drop, used - drop);
            used -= drop;
        }
        memcpy(tail + used, chunk, g);
        used += g;
    }
    close(pipefd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(err, len, "%s: waitpid: %s", argv[0], strerror(errno));
            return BP_EIO;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char line[512];
    last_line(tail, used, line, sizeof line);
    const char *base = strrchr(argv[0], '/');
    base = base != NULL ? base + 1 : argv[0];
    if (WIFEXITED(status))
        snprintf(err, len, "%s exited with status %d: %s", base, WEXITSTATUS(status), line);
    else
        snprintf(err, len, "%s died of signal %d: %s", base, WTERMSIG(status), line);
    return BP_EIO;
}

/* Closes fd after fsync, renames tmp to dst; on any failure removes tmp. */
static int commit_file(int fd, const char *tmp, const char *dst, char *err, size_t len)
{
    int rv = 0;
    if (fsync(fd) != 0 || close(fd) != 0) {
        snprintf(err, len, "%s: %s", tmp, strerror(errno));
        rv = BP_EIO;
    } else if (rename(tmp, dst) != 0) {
        snprintf(err, len, "rename %s: %s", dst, strerror(errno));
        rv = BP_EIO;
    }
    if (rv != 0)
        unlink(tmp);
    return rv;
}

int backup_gzip_file(const char *src, const char *dst, char *err, size_t len)
{
    char tmp[PATH_MAX];
    if (backup_path(tmp, sizeof tmp, "%s.tmp", dst) != 0) {
        snprintf(err, len, "%s: path too long", dst);
        return BP_ETOOBIG;
    }
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, len, "%s: %s", src, strerror(errno));
        return BP_EIO;
    }
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int dupfd = out >= 0 ? dup(out) : -1;
    gzFile gz = dupfd >= 0 ? gzdopen(dupfd, "wb6") : NULL;
    if (gz == NULL) {
        snprintf(err, len, "%s: %s", tmp, strerror(errno));
        if (dupfd >= 0)
            close(dupfd);
        if (out >= 0) {
            close(out);
            unlink(tmp);
        }
        close(in);
        return BP_EIO;
    }
    int rv = 0;
    char buf[65536];
    ssize_t got;
    while ((got = read(in, buf, sizeof buf)) > 0)
        if (gzwrite(gz, buf, (unsigned)got) != (int)got) {
            rv = BP_EIO;
            break;
        }
    if (got < 0)
        rv = BP_EIO;
    if (gzclose(gz) != Z_OK)
        rv = BP_EIO;
    close(in);
    if (rv != 0) {
        snprintf(err, len, "gzip %s: %s", src, strerror(errno));
        close(out);
        unlink(tmp);
        return rv;
    }
    return commit_file(out, tmp, dst, err, len);
}

int backup_gunzip_file(const char *src, const char *dst, char *err, size_t len)
{
    char tmp[PATH_MAX];
    if (backup_path(tmp, sizeof tmp, "%s.tmp", dst) != 0) {
        snprintf(err, len, "%s: path too long", dst);
        return BP_ETOOBIG;
    }
    gzFile gz = gzopen(src, "rb");
    if (gz == NULL) {
        snprintf(err, len, "%s: %s", src, strerror(errno));
        return BP_EIO;
    }
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        snprintf(err, len, "%s: %s", tmp, strerror(errno));
        gzclose(gz);
        return BP_EIO;
    }
    int rv = 0;
    char buf[65536];
    int got;
    while ((got = gzread(gz, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)got) != got) {
            rv = BP_EIO;
            break;
        }
    if (got < 0 || gzclose(gz) != Z_OK)
        rv = BP_EIO;
    if (rv != 0) {
        snprintf(err, len, "gunzip %s: damaged or unreadable", src);
        close(out);
        unlink(tmp);
        return rv;
    }
    return commit_file(out, tmp, dst, err, len);
}

int backup_mkdirs(const char *path, unsigned mode)
{
    char p[PATH_MAX];
    if (backup_path(p, sizeof p, "%s", path) != 0)
        return BP_ETOOBIG;
    for (char *s = p + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST)
            return BP_EIO;
        *s = '/';
    }
    return mkdir(p, mode) == 0 || errno == EEXIST ? 0 : BP_EIO;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int backup_rmtree(const char *path)
{
    if (access(path, F_OK) != 0)
        return 0;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : BP_EIO;
}

int backup_write_file(const char *path, const char *s, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return BP_EIO;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, s + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return BP_EIO;
        }
        off += (size_t)w;
    }
    int rv = fsync(fd) == 0 ? 0 : BP_EIO;
    return close(fd) == 0 ? rv : BP_EIO;
}
