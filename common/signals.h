/* How every process of the suite waits to be stopped: SIGTERM and SIGINT
 * are taken by sigwait in the main thread only, and systemd hears of
 * readiness and of the stop. */
#ifndef BP_SIGNALS_H
#define BP_SIGNALS_H

/* Blocks SIGTERM and SIGINT in the calling thread, and so in every thread
 * started after it, and ignores SIGPIPE. Call before starting threads. */
void bp_signals_block(void);

/* Tells systemd the process is ready (sd_notify READY=1), waits for
 * SIGTERM or SIGINT, tells systemd it is stopping and returns the signal. */
int bp_signals_wait(void);

#endif
