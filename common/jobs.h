/* Periodic jobs of a daemon (reminders, expiring holds, retention), run by
 * one thread with its own database and Redis connections. A job marked
 * exclusive runs in one instance at a time across every instance of the
 * service, under a PostgreSQL advisory lock. bp_daemon starts the runner
 * when bp_daemon.jobs is set. */
#ifndef BP_JOBS_H
#define BP_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "kv.h"

/* One periodic job. run gets the runner's connections (kv is NULL when the
 * service does not use Redis); it returns 0 or a BP_E* code, which is
 * logged with the job's name and counted, never fatal. A transaction it
 * leaves open is rolled back. Statements are bounded by RPC_TIMEOUT_MS
 * like every bp_db query (SET LOCAL statement_timeout for more), and a
 * round should do a bounded batch of work: a stop waits for it. */
typedef struct {
    const char *name; /* for logs, metrics and the lock, e.g. "expire-holds" */
    int interval_ms;  /* from the start of one round to the next; > 0 */
    bool exclusive;   /* at most one instance runs it at a time */
    int (*run)(bp_db *db, bp_kv *kv);
} bp_job;

typedef struct bp_jobs bp_jobs;

/* Starts the runner for jobs (which must outlive it). scope names the lock
 * space, normally the service's schema: an exclusive job holds
 * pg_try_advisory_lock(hashtext('<scope>:<name>')) while it runs, and a
 * round whose lock another instance holds is skipped. Opens a database
 * connection (DATABASE_URL) and, when use_kv, a Redis one (REDIS_URL).
 * Each job first runs after a random delay of up to min(interval, 5 s),
 * then every interval_ms; rounds missed while a job ran long are skipped,
 * not caught up. Returns 0 or a BP_E* code; free with bp_jobs_stop. */
int bp_jobs_start(const bp_job *jobs, size_t n, const char *scope, bool use_kv, bp_jobs **out);

/* Runs the job called name of this process's runner as soon as the job in
 * progress (if any) ends, instead of at its next due time: for a queue a
 * handler just added to (a webhook to process now). Cheap, safe from any
 * thread; nothing happens when no runner has that job. Its next regular
 * round then follows interval_ms after this one. */
void bp_jobs_kick(const char *name);

/* Lets the job in progress finish, joins the thread and frees the runner.
 * NULL is ignored. */
void bp_jobs_stop(bp_jobs *j);

#endif
