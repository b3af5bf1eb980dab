/* The life of a daemon, the same for every service: configuration, logs,
 * migrations, the bus server, readiness and watchdog for systemd, a clean
 * stop on SIGTERM, and the subcommands `migrate` and `health`. main.c of a
 * service fills a bp_daemon and calls bp_daemon_main. */
#ifndef BP_DAEMON_H
#define BP_DAEMON_H

#include <stddef.h>

#include "db.h"
#include "jobs.h"
#include "outbox.h"
#include "rpc.h"

typedef struct {
    const bp_service *service;
    const char *schema;             /* PostgreSQL schema the service owns, or NULL */
    const bp_migration *migrations; /* ends with an entry whose name is NULL */
    size_t n_migrations;            /* 0: count up to that entry */
    /* Optional: runs after migrations, before the server starts (e.g. to
     * check secrets). db is a connection of its own (NULL without use_db).
     * Returns 0 to go on. */
    int (*on_start)(bp_db *db);
    /* Optional: runs after the server stopped. */
    void (*on_stop)(void);
    /* Optional: extra subcommands, e.g. "create-user". Returns the process
     * exit status, or -1 when cmd is not one of its own. */
    int (*command)(const char *cmd, int argc, char **argv);
    /* Optional line for `--help`, listing the extra subcommands. */
    const char *usage;
    /* Optional: periodic jobs, run by a thread of their own (jobs.h); an
     * exclusive job's lock is keyed on schema (or the service name). */
    const bp_job *jobs;
    size_t n_jobs;
    /* Optional: who consumes this service's events (outbox.h). When set,
     * schema must hold the outbox table and a relay delivers it. Whatever
     * these say, a daemon with a schema can call bp_outbox_put (which then
     * records nothing) and bp_inbox_deliver on that schema's tables. */
    const bp_subscription *subscriptions;
    size_t n_subscriptions;
} bp_daemon;

/* Runs the daemon: with no argument, serves (and runs the event relay and
 * the jobs, when it has them) until SIGTERM or SIGINT and returns 0 after
 * in-flight calls, the delivery in flight and the running job finished;
 * under systemd it sends READY=1 once listening and, with WatchdogSec=,
 * WATCHDOG=1 while its own Health call over its socket answers (signals.h).
 * `migrate` applies migrations and exits; `health` returns 0 when the
 * daemon at its listen address answers Health "ok" within 3 s, else 1 with
 * the reason on stderr (it needs only the address, not DATABASE_URL);
 * anything else goes to d->command. Configuration errors exit 2. */
int bp_daemon_main(const bp_daemon *d, int argc, char **argv);

/* Opens a database connection from DATABASE_URL (exits 2 when unset) and
 * applies the daemon's migrations. For subcommands. Returns 0 or BP_EIO. */
int bp_daemon_open_db(const bp_daemon *d, bp_db **out);

#endif
