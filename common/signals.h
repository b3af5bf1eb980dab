/* How every process of the suite waits to be stopped, and what systemd
 * hears meanwhile: SIGTERM and SIGINT are taken by sigtimedwait in the main
 * thread only; READY=1 once serving, WATCHDOG=1 while a liveness check of
 * the process's own server passes, STOPPING=1 on the stop, and STATUS=
 * lines for `systemctl status`. Without NOTIFY_SOCKET nothing is sent and
 * no check runs. */
#ifndef BP_SIGNALS_H
#define BP_SIGNALS_H

#include <stddef.h>

/* A check that the process really serves: a round trip through its own
 * server (daemons: the Health call over the bus; the gateway: an HTTP
 * request). check returns 0 when the answer came within timeout_ms, else a
 * BP_E* code with one line saying why in why (len bytes). It runs in the
 * thread that called bp_signals_wait, never concurrently with itself. */
typedef struct {
    int (*check)(void *arg, int timeout_ms, char *why, size_t len);
    void *arg;
} bp_liveness;

/* Blocks SIGTERM and SIGINT in the calling thread, and so in every thread
 * started after it, and ignores SIGPIPE. Call before starting threads. */
void bp_signals_block(void);

/* Tells systemd the process is ready (READY=1, STATUS=status, with the
 * release when BARBERPRO_RELEASE is set) and waits for SIGTERM or SIGINT.
 * Meanwhile, when systemd asked for a watchdog (WATCHDOG_USEC, for this
 * pid), runs live->check every half interval, with a quarter of the
 * interval as its deadline, and sends WATCHDOG=1 only after a check that
 * passed, so that a process whose server stopped answering is restarted;
 * a failure is logged and shown in STATUS=, and so is the recovery. live
 * NULL: no watchdog pings at all. Then sends STOPPING=1 and returns the
 * signal. */
int bp_signals_wait(const char *status, const bp_liveness *live);

/* The watchdog interval systemd asked this process for, in microseconds,
 * or 0 when there is none (or no NOTIFY_SOCKET). */
unsigned long long bp_signals_watchdog_usec(void);

/* "SIGTERM", "SIGINT" or "a signal": what bp_signals_wait returned, for
 * the stop's log line. */
const char *bp_signal_name(int sig);

#endif
