/* Starting and stopping the fakes of tests/fakes/ from unit tests. */
#include "fake_launch.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http.h"

/* Most arguments a fake is started with, the program and the NULL too. */
#define FAKE_ARGS_MAX 16

static int fake_path(const char *name, char *out, size_t len)
{
    const char *dir = getenv("BP_TEST_FAKES_DIR");
    if (dir != NULL && *dir != '\0')
        return snprintf(out, len, "%s/fake-%s", dir, name) < (int)len ? 0 : -1;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(self, '/');
        if (slash == NULL)
            return -1;
        *slash = '\0';
    }
    return snprintf(out, len, "%s/bin/fake-%s", self, name) < (int)len ? 0 : -1;
}

int bpt_fake_start(const char *name, const char *const *extra_args, pid_t *pid, char *base,
                   size_t len)
{
    char path[PATH_MAX + 32];
    const char *argv[FAKE_ARGS_MAX];
    size_t argc = 0;
    if (fake_path(name, path, sizeof path) != 0 || access(path, X_OK) != 0) {
        fprintf(stderr, "fake-%s is missing: make all builds it\n", name);
        return -1;
    }
    argv[argc++] = path;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
        if (argc == FAKE_ARGS_MAX - 1)
            return -1;
        argv[argc++] = extra_args[i];
    }
    argv[argc] = NULL;

    int out[2];
    if (pipe(out) != 0)
        return -1;
    *pid = fork();
    if (*pid < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (*pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        int quiet = open("/dev/null", O_WRONLY);
        if (quiet >= 0 && getenv("BP_TEST_FAKE_LOGS") == NULL)
            dup2(quiet, STDERR_FILENO);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    /* "listening on <port>\n", within 5 s. */
    char line[64] = "";
    size_t got = 0;
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    while (got < sizeof line - 1 && strchr(line, '\n') == NULL && poll(&p, 1, 5000) == 1) {
        ssize_t n = read(out[0], line + got, sizeof line - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        line[got] = '\0';
    }
    close(out[0]);
    unsigned port = 0;
    if (sscanf(line, "listening on %u", &port) != 1 || port == 0 || port > 65535) {
        fprintf(stderr, "fake-%s did not start: %s\n", name, line);
        bpt_fake_stop(*pid);
        return -1;
    }
    snprintf(base, len, "http://127.0.0.1:%u", port);
    return 0;
}

int bpt_fake_stop(pid_t pid)
{
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

long bpt_fake_call(const char *base, const char *method, const char *path, const char *body,
                   const char *const *headers, json_t **out)
{
    const char *all[16] = {"Content-Type: application/json"};
    size_t n = 1;
    for (size_t i = 0; headers != NULL && headers[i] != NULL && n + 1 < 16; i++)
        all[n++] = headers[i];
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    bp_http_request req = {.method = method,
                           .url = url,
                           .headers = all,
                           .body = body,
                           .body_len = body != NULL ? strlen(body) : 0,
                           .timeout_ms = 10000,
                           .max_response_bytes = 1 << 20};
    bp_http_response resp;
    if (out != NULL)
        *out = NULL;
    if (bp_http_do(&req, &resp) != 0)
        return -1;
    long status = resp.status;
    if (out != NULL) {
        json_error_t err;
        *out = json_loadb(resp.body, resp.len, 0, &err);
    }
    bp_http_response_free(&resp);
    return status;
}
