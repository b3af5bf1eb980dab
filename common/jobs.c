/* The periodic jobs runner: one thread, a schedule per job, and an advisory
 * lock around exclusive jobs so that several instances never run one at
 * the same time. */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

#define MAX_JOBS        64
#define MAX_NAME        64
#define FIRST_SPREAD_MS 5000 /* instances started together do not all run at once */

typedef struct {
    const bp_job *job;
    int64_t due;        /* monotonic ms */
    char lock_key[160]; /* '<scope>:<name>' */
    bp_counter *runs, *failures, *skipped;
} scheduled;

struct bp_jobs {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping; /* under lock */
    bp_db *db;
    bp_kv *kv;
    scheduled *jobs;
    size_t n;
};

/* Tries the job's advisory lock on the runner's own session. Returns 1 when
 * held, 0 when another session holds it, or BP_EIO. */
static int try_lock(bp_jobs *j, scheduled *s)
{
    const char *p[] = {s->lock_key};
    PGresult *r = bp_db_query(j->db, "SELECT pg_try_advisory_lock(hashtext($1))", 1, p);
    int rv = BP_EIO;
    if (bp_db_ok(r, NULL) && PQntuples(r) == 1)
        rv = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 1 : 0;
    PQclear(r);
    return rv;
}

static void unlock(bp_jobs *j, scheduled *s)
{
    const char *p[] = {s->lock_key};
    PGresult *r = bp_db_query(j->db, "SELECT pg_advisory_unlock(hashtext($1))", 1, p);
    /* A lost connection released the lock with the session. */
    if (r != NULL && PQresultStatus(r) != PGRES_TUPLES_OK)
        bp_log_warn("job %s: releasing its lock failed: %s", s->job->name, PQresultErrorMessage(r));
    PQclear(r);
}

static void run_one(bp_jobs *j, scheduled *s)
{
    const bp_job *job = s->job;
    if (job->exclusive) {
        int held = try_lock(j, s);
        if (held < 0) {
            bp_log_error("job %s: cannot take its lock; round skipped", job->name);
            bp_counter_add(s->failures, 1);
            return;
        }
        if (held == 0) {
            bp_log_debug("job %s runs in another instance; round skipped", job->name);
            bp_counter_add(s->skipped, 1);
            return;
        }
    }
    int64_t started = bp_mono_ms();
    int rv = job->run(j->db, j->kv);
    bp_counter_add(s->runs, 1);
    if (rv != 0) {
        bp_counter_add(s->failures, 1);
        bp_log_error("job %s failed: %s", job->name, bp_strerror(rv));
    } else {
        bp_log_debug("job %s done in %lld ms", job->name, (long long)(bp_mono_ms() - started));
    }
    /* A session lock outlives a rolled-back transaction, but the unlock
     * cannot run inside an aborted one. */
    if (bp_db_in_transaction(j->db)) {
        bp_log_warn("job %s left a transaction open; rolled back", job->name);
        bp_db_rollback(j->db);
    }
    if (job->exclusive)
        unlock(j, s);
}

static void *jobs_main(void *arg)
{
    bp_jobs *j = arg;
    pthread_mutex_lock(&j->lock);
    while (!j->stopping) {
        int64_t now = bp_mono_ms(), next = now + 60000;
        for (size_t i = 0; i < j->n && !j->stopping; i++) {
            scheduled *s = &j->jobs[i];
            if (s->due <= now) {
                pthread_mutex_unlock(&j->lock);
                run_one(j, s);
                pthread_mutex_lock(&j->lock);
                /* Fixed rate from the planned start; a long round skips the
                 * ones it overran instead of running them back to back. */
                s->due += s->job->interval_ms;
                now = bp_mono_ms();
                if (s->due <= now)
                    s->due = now + s->job->interval_ms;
            }
            if (s->due < next)
                next = s->due;
        }
        if (j->stopping)
            break;
        int64_t wait = next - bp_mono_ms();
        if (wait <= 0)
            continue;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait / 1000;
        until.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!j->stopping && pthread_cond_timedwait(&j->cond, &j->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* The runner of this process, for bp_jobs_kick (a daemon starts one). */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static bp_jobs *running;

void bp_jobs_kick(const char *name)
{
    pthread_mutex_lock(&running_lock);
    bp_jobs *j = running;
    if (j != NULL) {
        pthread_mutex_lock(&j->lock);
        int64_t now = bp_mono_ms();
        for (size_t i = 0; i < j->n; i++)
            if (strcmp(j->jobs[i].job->name, name) == 0 && j->jobs[i].due > now)
                j->jobs[i].due = now;
        pthread_cond_signal(&j->cond);
        pthread_mutex_unlock(&j->lock);
    }
    pthread_mutex_unlock(&running_lock);
}

static void jobs_free(bp_jobs *j)
{
    bp_db_close(j->db);
    bp_kv_close(j->kv);
    free(j->jobs);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
    free(j);
}

int bp_jobs_start(const bp_job *jobs, size_t n, const char *scope, bool use_kv, bp_jobs **out)
{
    if (n == 0 || n > MAX_JOBS || jobs == NULL || scope == NULL || *scope == '\0')
        return BP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].name == NULL || *jobs[i].name == '\0' || strlen(jobs[i].name) > MAX_NAME ||
            jobs[i].interval_ms <= 0 || jobs[i].run == NULL) {
            bp_log_error("job %zu (%s) is not valid", i, jobs[i].name ? jobs[i].name : "?");
            return BP_EINVAL;
        }
    }
    bp_jobs *j = calloc(1, sizeof *j);
    if (j == NULL)
        return BP_ENOMEM;
    pthread_mutex_init(&j->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cond, &attr);
    pthread_condattr_destroy(&attr);
    j->jobs = calloc(n, sizeof *j->jobs);
    if (j->jobs == NULL) {
        jobs_free(j);
        return BP_ENOMEM;
    }
    if (bp_db_open(bp_config_required("DATABASE_URL"), &j->db) != 0 ||
        (use_kv && bp_kv_open(bp_config_required("REDIS_URL"), &j->kv) != 0)) {
        jobs_free(j);
        return BP_EIO;
    }
    j->n = n;
    unsigned seed = (unsigned)bp_now_ms() ^ (unsigned)getpid();
    int64_t now = bp_mono_ms();
    for (size_t i = 0; i < n; i++) {
        scheduled *s = &j->jobs[i];
        s->job = &jobs[i];
        int spread = jobs[i].interval_ms < FIRST_SPREAD_MS ? jobs[i].interval_ms : FIRST_SPREAD_MS;
        s->due = now + (int64_t)(rand_r(&seed) % spread);
        snprintf(s->lock_key, sizeof s->lock_key, "%s:%s", scope, jobs[i].name);
        char labels[MAX_NAME + 16];
        snprintf(labels, sizeof labels, "job=\"%s\"", jobs[i].name);
        s->runs =
            bp_metrics_counter("barberpro_job_runs_total", "Rounds of a periodic job run", labels);
        s->failures = bp_metrics_counter("barberpro_job_failures_total",
                                         "Rounds of a periodic job that failed", labels);
        s->skipped =
            bp_metrics_counter("barberpro_job_skipped_total",
                               "Rounds skipped because another instance ran the job", labels);
    }
    if (pthread_create(&j->thread, NULL, jobs_main, j) != 0) {
        jobs_free(j);
        return BP_ENOMEM;
    }
    pthread_mutex_lock(&running_lock);
    if (running == NULL)
        running = j;
    pthread_mutex_unlock(&running_lock);
    *out = j;
    return 0;
}

void bp_jobs_stop(bp_jobs *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&running_lock);
    if (running == j)
        running = NULL;
    pthread_mutex_unlock(&running_lock);
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
    pthread_join(j->thread, NULL);
    jobs_free(j);
}
