/* Stop signals and systemd notification. */
#include "signals.h"

#include <pthread.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

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

int bp_signals_wait(void)
{
    sigset_t set;
    stop_set(&set);
    sd_notify(0, "READY=1");
    int sig = 0;
    sigwait(&set, &sig);
    sd_notify(0, "STOPPING=1");
    return sig;
}
