/* Stop signals, systemd notification and the watchdog. The main thread
 * waits in sigtimedwait, waking every half watchdog interval to check the
 * process's own server: no thread of its own, no busy loop. */
#include "signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "bp.h"
#include "log.h"

static void stop_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

void bp_signals_block(void)
{
    sigset_t set;
    stop_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static bool notify_socket_set(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s != NULL && *s != '\0';
}

unsigned long long bp_signals_watchdog_usec(void)
{
    uint64_t usec = 0;
    /* sd_watchdog_enabled also checks WATCHDOG_PID against getpid(), so a
     * child that inherited the variables (pg_dump) never pings. The
     * variables stay: unsetenv is not safe with threads running. */
    if (!notify_socket_set() || sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return (unsigned long long)usec;
}

/* Waits for a stop signal until the monotonic time deadline_ms (no limit
 * when negative). Returns the signal, or 0 when the deadline passed. */
static int wait_signal(const sigset_t *set, int64_t deadline_ms)
{
    for (;;) {
        if (deadline_ms < 0) {
            int sig = 0;
            if (sigwait(set, &sig) == 0)
                return sig;
            continue;
        }
        int64_t left = deadline_ms - bp_mono_ms();
        if (left <= 0)
            return 0;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
        /* EINTR: another signal's handler ran; wait for the rest. */
    }
}

const char *bp_signal_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
}

/* Runs the liveness checks until a stop signal arrives, and returns it. */
static int watch(const sigset_t *set, const bp_liveness *live, unsigned long long usec,
                 const char *status)
{
    int64_t period = (int64_t)(usec / 2000);
    int64_t budget = (int64_t)(usec / 4000);
    if (period < 1)
        period = 1;
    if (budget < 1)
        budget = 1;
    if (budget > INT32_MAX)
        budget = INT32_MAX;
    /* A check may take up to a quarter of the interval: pings that pass
     * are then never more than three quarters apart, while a check that
     * fails leaves a whole interval without one, and systemd restarts. */
    bool failing = false;
    int64_t next = bp_mono_ms() + period;
    for (;;) {
        int sig = wait_signal(set, next);
        if (sig != 0)
            return sig;
        int64_t now = bp_mono_ms();
        next += period;
        if (next <= now) /* suspended, or a slow check: keep the cadence */
            next = now + period;
        char why[256] = "";
        int rv = live->check(live->arg, (int)budget, why, sizeof why);
        if (rv == 0) {
            sd_notify(0, "WATCHDOG=1");
            if (failing) {
                bp_log_info("watchdog: answering again; pings to systemd resume");
                sd_notifyf(0, "STATUS=%s", status);
                failing = false;
            }
        } else if (!failing) {
            bp_log_warn("watchdog: own check failed (%s); no ping to systemd until it passes",
                        why[0] != '\0' ? why : bp_strerror(rv));
            sd_notifyf(0, "STATUS=not answering its own check: %s (watchdog pings withheld)",
                       why[0] != '\0' ? why : bp_strerror(rv));
            failing = true;
        }
    }
}

int bp_signals_wait(const char *status, const bp_liveness *live)
{
    sigset_t set;
    stop_set(&set);
    char line[512];
    const char *release = getenv("BARBERPRO_RELEASE");
    if (release != NULL && *release != '\0')
        snprintf(line, sizeof line, "%s (release %s)", status, release);
    else
        snprintf(line, sizeof line, "%s", status);

    unsigned long long usec = live != NULL ? bp_signals_watchdog_usec() : 0;
    sd_notifyf(0, "READY=1\nSTATUS=%s", line);
    int sig;
    if (usec > 0) {
        bp_log_info("systemd watchdog: %llu ms; checking the own server every %llu ms", usec / 1000,
                    usec / 2000);
        sig = watch(&set, live, usec, line);
    } else {
        sig = wait_signal(&set, -1);
    }
    sd_notifyf(0, "STOPPING=1\nSTATUS=stopping on %s", bp_signal_name(sig));
    return sig;
}
