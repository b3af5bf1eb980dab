/* What systemd hears from bp_signals_wait, read from a notify socket of the
 * test's own: READY=1 with the status first, STOPPING=1 last, and WATCHDOG=1
 * only after a liveness check that passed, checked every half interval with
 * a quarter of it as the deadline; nothing at all without NOTIFY_SOCKET, and
 * no check for a watchdog meant for another pid. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "signals.h"

/* A check that fails for the calls numbered [fail_from, fail_to). */
typedef struct {
    int calls;
    int fail_from, fail_to;
    int last_timeout_ms;
} scripted_check;

static int run_check(void *arg, int timeout_ms, char *why, size_t len)
{
    scripted_check *s = arg;
    int n = s->calls++;
    s->last_timeout_ms = timeout_ms;
    if (n >= s->fail_from && n < s->fail_to) {
        snprintf(why, len, "worker stuck");
        return BP_ETIMEDOUT;
    }
    return 0;
}

static char notify_path[108];

/* Binds a datagram socket like systemd's and points NOTIFY_SOCKET at it. */
static int notify_listen(void)
{
    snprintf(notify_path, sizeof notify_path, "/tmp/bp-signals-test-%ld.sock", (long)getpid());
    unlink(notify_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", notify_path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", notify_path, 1);
    return fd;
}

/* Every message received so far, one per element (at most max). */
static int notify_read(int fd, char msgs[][256], int max)
{
    int n = 0;
    while (n < max) {
        ssize_t r = recv(fd, msgs[n], 255, 0);
        if (r < 0)
            break;
        msgs[n][r] = '\0';
        n++;
    }
    return n;
}

static int count(char msgs[][256], int n, const char *what)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += strstr(msgs[i], what) != NULL;
    return c;
}

/* Sends SIGTERM to the waiting thread after a delay, as systemd would. */
typedef struct {
    pthread_t target;
    int after_ms;
} stopper;

static void *stop_later(void *arg)
{
    const stopper *s = arg;
    struct timespec ts = {s->after_ms / 1000, (long)(s->after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    pthread_kill(s->target, SIGTERM);
    return NULL;
}

/* bp_signals_wait in this thread, stopped by SIGTERM after after_ms. */
static int wait_stopped_after(int after_ms, const char *status, const bp_liveness *live)
{
    bp_signals_block();
    stopper s = {pthread_self(), after_ms};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, stop_later, &s), 0);
    int sig = bp_signals_wait(status, live);
    pthread_join(t, NULL);
    return sig;
}

Test(signals, without_notify_socket_nothing_is_checked)
{
    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "100000", 1);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    scripted_check s = {.fail_from = -1};
    bp_liveness live = {run_check, &s};
    cr_assert_eq(bp_signals_watchdog_usec(), 0);
    cr_assert_eq(wait_stopped_after(300, "serving", &live), SIGTERM);
    cr_assert_eq(s.calls, 0, "checked %d times with no systemd to tell", s.calls);
}

Test(signals, pings_only_after_a_check_that_passed)
{
    int fd = notify_listen();
    setenv("WATCHDOG_USEC", "200000", 1); /* checks every 100 ms, 50 ms each */
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    setenv("BARBERPRO_RELEASE", "r42", 1);
    scripted_check s = {.fail_from = 3, .fail_to = 6};
    bp_liveness live = {run_check, &s};
    cr_assert_eq(bp_signals_watchdog_usec(), 200000);
    int64_t started = bp_mono_ms();
    cr_assert_eq(wait_stopped_after(1050, "serving on ipc:///x", &live), SIGTERM);
    int64_t took = bp_mono_ms() - started;

    char msgs[64][256];
    int n = notify_read(fd, msgs, 64);
    close(fd);
    unlink(notify_path);
    cr_assert_geq(n, 3);
    cr_assert(strstr(msgs[0], "READY=1") != NULL, "first message: %s", msgs[0]);
    cr_assert(strstr(msgs[0], "STATUS=serving on ipc:///x (release r42)") != NULL, "%s", msgs[0]);
    cr_assert(strstr(msgs[n - 1], "STOPPING=1") != NULL, "last message: %s", msgs[n - 1]);
    cr_assert(strstr(msgs[n - 1], "STATUS=stopping on SIGTERM") != NULL, "%s", msgs[n - 1]);
    /* About one check per 100 ms, never faster. */
    cr_assert(s.calls >= 7 && s.calls <= took / 100, "%d checks in %lld ms", s.calls,
              (long long)took);
    cr_assert_eq(s.last_timeout_ms, 50);
    cr_assert_eq(count(msgs, n, "WATCHDOG=1"), s.calls - 3, "%d pings for %d checks, 3 failed",
                 count(msgs, n, "WATCHDOG=1"), s.calls);
    /* The failure is told once, with its reason, and so is the recovery. */
    cr_assert_eq(count(msgs, n, "STATUS=not answering its own check: worker stuck"), 1);
    int recovered = 0;
    for (int i = 1; i < n - 1; i++)
        recovered += strcmp(msgs[i], "STATUS=serving on ipc:///x (release r42)") == 0;
    cr_assert_eq(recovered, 1);
    /* Between the failure and the recovery, only the ping of the check
     * that passed again (it comes just before its STATUS=). */
    int pings_while_failing = 0;
    bool in_failure = false;
    for (int i = 1; i < n; i++) {
        if (strstr(msgs[i], "STATUS=not answering") != NULL)
            in_failure = true;
        else if (strstr(msgs[i], "STATUS=serving") != NULL)
            in_failure = false;
        else if (in_failure && strcmp(msgs[i], "WATCHDOG=1") == 0)
            pings_while_failing++;
    }
    cr_assert_eq(pings_while_failing, 1);
}

Test(signals, a_watchdog_for_another_pid_is_not_ours)
{
    int fd = notify_listen();
    setenv("WATCHDOG_USEC", "100000", 1);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    scripted_check s = {.fail_from = -1};
    bp_liveness live = {run_check, &s};
    cr_assert_eq(wait_stopped_after(300, "serving", &live), SIGTERM);
    char msgs[16][256];
    int n = notify_read(fd, msgs, 16);
    close(fd);
    unlink(notify_path);
    cr_assert_eq(s.calls, 0);
    cr_assert_eq(n, 2, "READY and STOPPING only, got %d messages", n);
    cr_assert_eq(count(msgs, n, "WATCHDOG=1"), 0);
}

Test(signals, no_liveness_check_means_no_pings)
{
    int fd = notify_listen();
    setenv("WATCHDOG_USEC", "100000", 1);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    cr_assert_eq(wait_stopped_after(300, "serving", NULL), SIGTERM);
    char msgs[16][256];
    int n = notify_read(fd, msgs, 16);
    close(fd);
    unlink(notify_path);
    cr_assert_eq(n, 2, "READY and STOPPING only, got %d messages", n);
    cr_assert_eq(count(msgs, n, "WATCHDOG=1"), 0);
}
