/* The common life of a daemon: subcommands, migrations, the bus server,
 * systemd readiness and a clean stop on SIGTERM or SIGINT. */
#include "daemon.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <nng/nng.h>
#include <string.h>
#include <sys/stat.h>

#include "bp.h"
#include "config.h"
#include "inbox.h"
#include "log.h"
#include "signals.h"

/* Creates every directory of path (like mkdir -p). */
static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return BP_EINVAL;
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return BP_EIO;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return BP_EIO;
    return 0;
}

/* For ipc:// addresses, makes sure the socket's folder exists. */
static void ensure_ipc_dir(const char *url)
{
    if (strncmp(url, "ipc://", 6) != 0)
        return;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", url + 6);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return;
    *slash = '\0';
    if (mkdirs(dir) != 0)
        bp_log_warn("cannot create the bus folder %s", dir);
}

int bp_daemon_open_db(const bp_daemon *d, bp_db **out)
{
    if (bp_db_open(bp_config_required("DATABASE_URL"), out) != 0)
        return BP_EIO;
    /* n_migrations 0: count up to the entry whose name is NULL. */
    size_t n = d->n_migrations;
    if (n == 0)
        while (d->migrations != NULL && d->migrations[n].name != NULL)
            n++;
    if (d->schema != NULL && bp_db_migrate(*out, d->schema, d->migrations, n) != 0) {
        bp_db_close(*out);
        *out = NULL;
        return BP_EIO;
    }
    return 0;
}

/* Names the event tables of the daemon's schema. A daemon without a schema
 * cannot have subscriptions; one without subscriptions changes nothing. */
static int events_init(const bp_daemon *d)
{
    if (d->schema == NULL) {
        if (d->n_subscriptions == 0)
            return 0;
        bp_log_error("%s: event subscriptions need a schema", d->service->name);
        return BP_EINVAL;
    }
    if (bp_outbox_init(d->schema, d->subscriptions, d->n_subscriptions) != 0 ||
        bp_inbox_init(d->schema) != 0) {
        bp_log_error("%s: bad event subscriptions or schema name", d->service->name);
        return BP_EINVAL;
    }
    return 0;
}

static int serve(const bp_daemon *d)
{
    const bp_service *svc = d->service;
    if (events_init(d) != 0)
        return 1;
    bp_db *db = NULL;
    if (svc->use_db && bp_daemon_open_db(d, &db) != 0) {
        bp_log_error("%s cannot start: database not ready", svc->name);
        return 1;
    }
    if (d->on_start != NULL && d->on_start(db) != 0) {
        bp_db_close(db);
        return 1;
    }
    bp_db_close(db);

    bp_signals_block();

    char url[512];
    bp_config_rpc_url(svc->name, url, sizeof url);
    ensure_ipc_dir(url);
    bp_server *srv;
    if (bp_server_start(svc, url, &srv) != 0)
        return 1;
    bp_relay *relay = NULL;
    bp_jobs *jobs = NULL;
    if (d->n_subscriptions > 0 &&
        bp_relay_start(d->subscriptions, d->n_subscriptions, svc->name, &relay) != 0) {
        bp_log_error("%s cannot start its event relay", svc->name);
        bp_server_stop(srv);
        return 1;
    }
    if (d->n_jobs > 0 && bp_jobs_start(d->jobs, d->n_jobs, d->schema ? d->schema : svc->name,
                                       svc->use_kv, &jobs) != 0) {
        bp_log_error("%s cannot start its jobs", svc->name);
        bp_relay_stop(relay);
        bp_server_stop(srv);
        return 1;
    }
    int sig = bp_signals_wait();
    bp_log_info("%s stopping on %s", svc->name, sig == SIGTERM ? "SIGTERM" : "SIGINT");
    /* Calls first (they may put events), then the relay, which finishes
     * its delivery in flight, then the job in progress. */
    bp_server_stop(srv);
    bp_relay_stop(relay);
    bp_jobs_stop(jobs);
    if (d->on_stop != NULL)
        d->on_stop();
    /* Every socket is closed: let nng finish reaping what they left (a
     * request cut short by the stop still holds its message until then). */
    nng_fini();
    bp_log_info("%s stopped", svc->name);
    return 0;
}

int bp_daemon_main(const bp_daemon *d, int argc, char **argv)
{
    bp_log_init(d->service->name);
    if (argc < 2)
        return serve(d);
    const char *cmd = argv[1];
    if (strcmp(cmd, "migrate") == 0) {
        if (d->schema == NULL)
            return 0;
        bp_db *db;
        if (bp_daemon_open_db(d, &db) != 0)
            return 1;
        bp_db_close(db);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        printf("usage: barberpro-%s [migrate%s%s]\n", d->service->name, d->usage ? " | " : "",
               d->usage ? d->usage : "");
        return 0;
    }
    if (d->command != NULL) {
        int rv = d->command(cmd, argc - 1, argv + 1);
        if (rv >= 0)
            return rv;
    }
    fprintf(stderr, "barberpro-%s: unknown command '%s' (try --help)\n", d->service->name, cmd);
    return 2;
}
