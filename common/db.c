/* PostgreSQL helpers: reconnecting queries and advisory-locked migrations. */
#include "db.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "config.h"
#include "log.h"

struct bp_db {
    char *url;
    PGconn *conn;
    uint64_t prepared; /* bit n: statement "bp_<n>" exists in this session */
    bool tx_open;      /* a transaction was open after the last statement */
};

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Every connection attempt and every statement is bounded: a call whose
 * deadline (RPC_TIMEOUT_MS) has passed gains nothing from a query still
 * running, and a hung server must not hold a worker for ever. Settings in
 * the URL itself take precedence. */
static int db_connect(bp_db *db)
{
    if (db->conn != NULL)
        PQfinish(db->conn);
    db->prepared = 0; /* a new session has none */
    db->tx_open = false;
    /* Every statement is bounded by the bus deadline. Prepared statements
     * use their generic plan from the first execution: ours are keyed
     * lookups whose plan does not depend on the values, and PostgreSQL
     * would otherwise plan the first five executions of each anew on every
     * connection (milliseconds each for the larger ones). */
    char options[128];
    snprintf(options, sizeof options,
             "-c statement_timeout=%ld -c plan_cache_mode=force_generic_plan",
             bp_config_int("RPC_TIMEOUT_MS", 5000, 10, 600000));
    const char *const keys[] = {"connect_timeout", "options", "dbname", NULL};
    const char *const values[] = {"5", options, db->url, NULL};
    db->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        bp_log_error("cannot connect to PostgreSQL: %s", PQerrorMessage(db->conn));
        return BP_EIO;
    }
    PQsetNoticeProcessor(db->conn, quiet_notice, NULL);
    /* Sessions compute in UTC; local times are the caller's business. */
    PGresult *r = PQexec(db->conn, "SET TIME ZONE 'UTC'");
    PQclear(r);
    return 0;
}

/* Whether the caller is inside a transaction. A broken connection reports
 * PQTRANS_UNKNOWN, which tells nothing: then the state after the last
 * statement decides. Outside a transaction a lost connection is simply
 * opened again (a failed attempt included: the next statement tries
 * anew); inside one, every statement fails until the caller rolls back,
 * so that the rest of a transaction never runs on its own. */
bool bp_db_in_transaction(const bp_db *db)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        return PQtransactionStatus(db->conn) != PQTRANS_IDLE;
    return db->tx_open;
}

static void note_transaction(bp_db *db)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        db->tx_open = PQtransactionStatus(db->conn) != PQTRANS_IDLE;
}

int bp_db_open(const char *url, bp_db **out)
{
    bp_db *db = calloc(1, sizeof *db);
    if (db == NULL || (db->url = strdup(url)) == NULL) {
        free(db);
        return BP_ENOMEM;
    }
    if (db_connect(db) != 0) {
        bp_db_close(db);
        return BP_EIO;
    }
    *out = db;
    return 0;
}

void bp_db_close(bp_db *db)
{
    if (db == NULL)
        return;
    if (db->conn != NULL)
        PQfinish(db->conn);
    free(db->url);
    free(db);
}

PGconn *bp_db_conn(bp_db *db)
{
    return db->conn;
}

PGresult *bp_db_query(bp_db *db, const char *sql, int nparams, const char *const *params)
{
    bool in_tx = bp_db_in_transaction(db);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        if (in_tx || db_connect(db) != 0)
            return NULL;
    }
    PGresult *r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQstatus(db->conn) == CONNECTION_BAD && !in_tx) {
        /* The server went away (restart, failover): one fresh try. */
        PQclear(r);
        if (db_connect(db) != 0)
            return NULL;
        r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    }
    note_transaction(db);
    return r;
}

PGresult *bp_db_exec_prepared(bp_db *db, unsigned slot, const char *sql, int nparams,
                              const char *const *params)
{
    if (slot >= BP_DB_PREPARED_MAX)
        return bp_db_query(db, sql, nparams, params);
    bool in_tx = bp_db_in_transaction(db);
    if (PQstatus(db->conn) != CONNECTION_OK && (in_tx || db_connect(db) != 0))
        return NULL;
    char name[16];
    snprintf(name, sizeof name, "bp_%u", slot);
    uint64_t bit = UINT64_C(1) << slot;
    if ((db->prepared & bit) == 0) {
        PGresult *p = PQprepare(db->conn, name, sql, nparams, NULL);
        if (PQresultStatus(p) != PGRES_COMMAND_OK) {
            /* Inside a transaction the failed PREPARE aborted it: its error
             * is the caller's answer, who rolls back as for any error.
             * Outside one, the plain query still answers. */
            if (in_tx || p == NULL)
                return p;
            PQclear(p);
            return bp_db_query(db, sql, nparams, params);
        }
        PQclear(p);
        db->prepared |= bit;
    }
    PGresult *r = PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
    if (PQstatus(db->conn) == CONNECTION_BAD && !in_tx) {
        /* The server went away: a new session, prepared anew, one try. */
        PQclear(r);
        if (db_connect(db) != 0)
            return NULL;
        return bp_db_exec_prepared(db, slot, sql, nparams, params);
    }
    note_transaction(db);
    return r;
}

PGresult *bp_db_select(bp_db *db, const char *sql, int nparams, const char *const *params,
                       const char *request_id)
{
    PGresult *res = bp_db_query(db, sql, nparams, params);
    if (bp_db_ok(res, request_id))
        return res;
    PQclear(res);
    return NULL;
}

bool bp_db_ok(const PGresult *res, const char *request_id)
{
    if (res == NULL) {
        bp_log(BP_LOG_ERROR, request_id, "database unreachable");
        return false;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return true;
    bp_log(BP_LOG_ERROR, request_id, "database error %s: %s",
           PQresultErrorField(res, PG_DIAG_SQLSTATE) ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                                     : "?",
           PQresultErrorMessage(res));
    return false;
}

bool bp_db_sqlstate(const PGresult *res, const char *state)
{
    if (res == NULL)
        return false;
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return s != NULL && strcmp(s, state) == 0;
}

static int simple(bp_db *db, const char *sql)
{
    PGresult *r = bp_db_query(db, sql, 0, NULL);
    int rv = bp_db_ok(r, NULL) ? 0 : BP_EIO;
    PQclear(r);
    return rv;
}

int bp_db_begin(bp_db *db)
{
    return simple(db, "BEGIN");
}

int bp_db_commit(bp_db *db)
{
    return simple(db, "COMMIT");
}

int bp_db_rollback(bp_db *db)
{
    /* A transaction whose connection broke is over: the server rolled it
     * back when the session ended. */
    if (PQstatus(db->conn) != CONNECTION_OK) {
        db->tx_open = false;
        return 0;
    }
    if (PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return 0;
    return simple(db, "ROLLBACK");
}

/* Runs a statement that may hold several commands (a migration file). */
static int exec_script(bp_db *db, const char *sql, const char *what)
{
    PGresult *r = PQexec(db->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rv = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        bp_log_error("%s failed: %s", what, PQresultErrorMessage(r));
        rv = BP_EIO;
    }
    PQclear(r);
    return rv;
}

int bp_db_migrate(bp_db *db, const char *schema, const bp_migration *migs, size_t n)
{
    /* Waiting for another instance's migrations, or a migration that
     * rewrites a large table, may take long: no statement timeout here. */
    PQclear(bp_db_query(db, "SET statement_timeout = 0", 0, NULL));
    const char *lock_params[] = {schema};
    PGresult *r = bp_db_query(db, "SELECT pg_advisory_lock(hashtext('barberpro.migrate.' || $1))",
                              1, lock_params);
    if (!bp_db_ok(r, NULL)) {
        PQclear(r);
        return BP_EIO;
    }
    PQclear(r);

    int rv = 0;
    char *ident = PQescapeIdentifier(db->conn, schema, strlen(schema));
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE SCHEMA IF NOT EXISTS %s;"
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             " version integer PRIMARY KEY, name text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT now())",
             ident, ident);
    if (exec_script(db, sql, "creating the migrations table") != 0) {
        rv = BP_EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char version[16];
        snprintf(version, sizeof version, "%d", migs[i].version);
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s.schema_migrations WHERE version = $1", ident);
        const char *p[] = {version};
        r = bp_db_query(db, sql, 1, p);
        if (!bp_db_ok(r, NULL)) {
            PQclear(r);
            rv = BP_EIO;
            goto out;
        }
        bool applied = PQntuples(r) > 0;
        PQclear(r);
        if (applied)
            continue;

        /* Each migration and its bookkeeping row commit together. */
        snprintf(sql, sizeof sql, "BEGIN; SET LOCAL search_path TO %s, public", ident);
        if (exec_script(db, sql, "BEGIN") != 0 || exec_script(db, migs[i].sql, migs[i].name) != 0) {
            exec_script(db, "ROLLBACK", "ROLLBACK");
            rv = BP_EIO;
            goto out;
        }
        snprintf(sql, sizeof sql,
                 "INSERT INTO %s.schema_migrations (version, name) VALUES ($1, $2)", ident);
        const char *ins[] = {version, migs[i].name};
        r = bp_db_query(db, sql, 2, ins);
        bool ok = bp_db_ok(r, NULL);
        PQclear(r);
        if (!ok || exec_script(db, "COMMIT", "COMMIT") != 0) {
            exec_script(db, "ROLLBACK", "ROLLBACK");
            rv = BP_EIO;
            goto out;
        }
        bp_log_info("applied migration %s/%s", schema, migs[i].name);
    }
out:
    r = bp_db_query(db, "SELECT pg_advisory_unlock(hashtext('barberpro.migrate.' || $1))", 1,
                    lock_params);
    PQclear(r);
    PQfreemem(ident);
    return rv;
}
