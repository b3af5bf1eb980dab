/* The common life of a daemon: subcommands, migrations, the bus server,
 * systemd readiness and watchdog, a clean stop on SIGTERM or SIGINT, and
 * the `health` check of a running daemon. */
#include "daemon.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <nng/nng.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bp.h"
#include "common.pb-c.h"
#include "config.h"
#include "inbox.h"
#include "log.h"
#include "signals.h"

/* How long `health` waits for the daemon's answer, connection included. */
#define HEALTH_TIMEOUT_MS 3000

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

/* The address that reaches a server listening on url: a wildcard host
 * (0.0.0.0, [::], "*" or none, as in tcp://0.0.0.0:7001) becomes loopback;
 * anything else is dialed as it is. */
static void dial_address(const char *url, char *out, size_t len)
{
    static const struct {
        const char *any, *loopback;
    } wildcards[] = {
        {"0.0.0.0:", "127.0.0.1:"},
        {"*:", "127.0.0.1:"},
        {":", "127.0.0.1:"},
        {"[::]:", "[::1]:"},
    };
    const char *sep = strstr(url, "://");
    if (sep != NULL && strncmp(url, "tcp", 3) == 0) {
        const char *host = sep + 3;
        for (size_t i = 0; i < BP_COUNTOF(wildcards); i++) {
            size_t n = strlen(wildcards[i].any);
            if (strncmp(host, wildcards[i].any, n) == 0) {
                snprintf(out, len, "%.*s%s%s", (int)(host - url), url, wildcards[i].loopback,
                         host + n);
                return;
            }
        }
    }
    snprintf(out, len, "%s", url);
}

/* One call of method ("Health" or "Ping", both answered by the server
 * itself) through c: 0 when it answers 200 with status "ok" within
 * timeout_ms, else a BP_E* code with one line saying why in why. Health
 * (the `health` command) also asks PostgreSQL and Redis; Ping (the
 * watchdog) asks nothing else, so that a store that hangs never gets the
 * daemon restarted: restarting it would not bring PostgreSQL back. */
static int health_call(bp_client *c, const char *url, const char *method, int timeout_ms, char *why,
                       size_t len)
{
    bp_rpc_args args = {.method = method, .timeout_ms = timeout_ms > 0 ? timeout_ms : 1};
    Bp__Rpc__Reply *reply = NULL;
    int rv = bp_client_call(c, &args, &reply);
    if (rv == BP_ETIMEDOUT) {
        snprintf(why, len, "no answer to %s from %s within %d ms", method, url, args.timeout_ms);
        return rv;
    }
    if (rv == BP_EUNAVAIL) {
        snprintf(why, len, "not connected to %s", url);
        return rv;
    }
    if (rv != 0) {
        snprintf(why, len, "%s call to %s failed: %s", method, url, bp_strerror(rv));
        return rv;
    }
    int status = reply->has_status ? reply->status : 500;
    if (status != 200) {
        const Bp__Rpc__Error *e = reply->error;
        snprintf(why, len, "%s at %s answered %d %s: %s", method, url, status,
                 e != NULL && e->code != NULL ? e->code : "-",
                 e != NULL && e->message != NULL ? e->message : "-");
        rv = BP_EUNAVAIL;
    } else {
        Bp__Common__HealthReply *h = bp__common__health_reply__unpack(
            NULL, reply->has_body ? reply->body.len : 0,
            reply->has_body ? reply->body.data : (const uint8_t *)"");
        if (h == NULL || h->status == NULL || strcmp(h->status, "ok") != 0) {
            snprintf(why, len, "%s at %s answered \"%.80s\"", method, url,
                     h != NULL && h->status != NULL ? h->status : "(nothing)");
            rv = BP_EPROTO;
        }
        if (h != NULL)
            bp__common__health_reply__free_unpacked(h, NULL);
    }
    bp_rpc_reply_free(reply);
    return rv;
}

/* The watchdog's check: the daemon's own Ping call over its socket. */
typedef struct {
    bp_client *client;
    const char *url;
} self_check;

static int check_self(void *arg, int timeout_ms, char *why, size_t len)
{
    const self_check *s = arg;
    return health_call(s->client, s->url, "Ping", timeout_ms, why, len);
}

/* `barberpro-<svc> health`: 0 when the daemon at its own address answers
 * Health with "ok" within HEALTH_TIMEOUT_MS, else 1 with one line on stderr.
 * It reads only the address serve() listens on (bp_config_listen_url). */
static int health_command(const bp_service *svc)
{
    char url[512], dial[512], why[768];
    bp_config_listen_url(svc->name, url, sizeof url);
    dial_address(url, dial, sizeof dial);

    int64_t started = bp_mono_ms();
    int64_t deadline = started + HEALTH_TIMEOUT_MS;
    struct stat st;
    if (strncmp(dial, "ipc://", 6) == 0 && stat(dial + 6, &st) != 0) {
        fprintf(stderr, "barberpro-%s: unhealthy: nothing listens at %s (%s)\n", svc->name, dial,
                strerror(errno));
        return 1;
    }
    bp_client *c;
    if (bp_client_open(svc->name, dial, &c) != 0) {
        fprintf(stderr, "barberpro-%s: unhealthy: cannot dial %s\n", svc->name, dial);
        nng_fini();
        return 1;
    }
    /* The dial runs in the background: wait for the connection, within the
     * same deadline. */
    while (!bp_client_connected(c) && bp_mono_ms() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int rv;
    if (!bp_client_connected(c)) {
        snprintf(why, sizeof why, "no connection to %s within %d ms", dial, HEALTH_TIMEOUT_MS);
        rv = BP_EUNAVAIL;
    } else {
        rv = health_call(c, dial, "Health", (int)(deadline - bp_mono_ms()), why, sizeof why);
    }
    bp_client_close(c);
    nng_fini();
    if (rv != 0) {
        fprintf(stderr, "barberpro-%s: unhealthy: %s\n", svc->name, why);
        return 1;
    }
    printf("barberpro-%s: healthy (%s answered in %lld ms)\n", svc->name, dial,
           (long long)(bp_mono_ms() - started));
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
    bp_config_listen_url(svc->name, url, sizeof url);
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
    /* The watchdog's check dials the daemon's own socket, like any client. */
    char dial[512];
    dial_address(url, dial, sizeof dial);
    bp_client *self = NULL;
    if (bp_signals_watchdog_usec() > 0 && bp_client_open(svc->name, dial, &self) != 0)
        bp_log_warn("%s: cannot dial its own socket: no watchdog pings", svc->name);
    self_check check = {self, dial};
    bp_liveness live = {check_self, &check};
    char status[600];
    snprintf(status, sizeof status, "serving on %s", url);
    int sig = bp_signals_wait(status, self != NULL ? &live : NULL);
    bp_client_close(self);
    bp_log_info("%s stopping on %s", svc->name, bp_signal_name(sig));
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
    if (strcmp(cmd, "health") == 0)
        return health_command(d->service);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        printf("usage: barberpro-%s [migrate | health%s%s]\n", d->service->name,
               d->usage ? " | " : "", d->usage ? d->usage : "");
        printf("  (no command)  serve until SIGTERM or SIGINT\n"
               "  migrate       apply the database migrations and exit\n"
               "  health        exit 0 when the running daemon answers its Health call\n"
               "                with \"ok\" within 3 s, else 1 (the reason on stderr)\n");
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
