/* PostgreSQL access with libpq: one connection per worker thread, reconnect
 * on failure, and forward-only migrations applied under an advisory lock. */
#ifndef BP_DB_H
#define BP_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

typedef struct bp_db bp_db;

/* Connects to url (DATABASE_URL form, any libpq conninfo). Returns 0 or
 * BP_EIO; on success free with bp_db_close. A failed first connection is an
 * error; later failures are retried by bp_db_query. */
int bp_db_open(const char *url, bp_db **out);

void bp_db_close(bp_db *db);

/* Runs a parameterised statement (text parameters, NULL for SQL NULL) and
 * returns its result, which the caller frees with PQclear. When the
 * connection was lost it reconnects and retries once, except inside a
 * transaction. Returns NULL only when out of memory or no connection can be
 * made; otherwise check PQresultStatus. */
PGresult *bp_db_query(bp_db *db, const char *sql, int nparams, const char *const *params);

/* Statement slots of bp_db_exec_prepared: 0 .. BP_DB_PREPARED_MAX - 1. */
#define BP_DB_PREPARED_MAX 64

/* As bp_db_query, for a hot statement: prepared once per session under the
 * name "bp_<slot>" (slot chosen by the caller, one per distinct sql, unique
 * within the process) and executed by name afterwards, so that PostgreSQL
 * parses and plans it once per connection. A reconnect prepares it again. */
PGresult *bp_db_exec_prepared(bp_db *db, unsigned slot, const char *sql, int nparams,
                              const char *const *params);

/* As bp_db_query, true when the result is PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK; logs the error (with request_id, may be NULL) otherwise. */
bool bp_db_ok(const PGresult *res, const char *request_id);

/* As bp_db_query, returning the result only when bp_db_ok; otherwise it
 * is logged (with request_id, may be NULL) and cleared, and the answer is
 * NULL. For statements that either work or fail. */
PGresult *bp_db_select(bp_db *db, const char *sql, int nparams, const char *const *params,
                       const char *request_id);

/* True when res failed with the given SQLSTATE (e.g. "23505"). */
bool bp_db_sqlstate(const PGresult *res, const char *state);

/* BEGIN / COMMIT / ROLLBACK. Return 0 or BP_EIO. */
int bp_db_begin(bp_db *db);
int bp_db_commit(bp_db *db);
int bp_db_rollback(bp_db *db);

/* Whether a transaction is open, or was when the connection broke (then
 * every statement fails until bp_db_rollback). */
bool bp_db_in_transaction(const bp_db *db);

/* The raw connection, for what the helpers do not cover. */
PGconn *bp_db_conn(bp_db *db);

typedef struct {
    int version;      /* 1, 2, ... from the NNNN prefix of the file */
    const char *name; /* file name */
    const char *sql;
} bp_migration;

/* Creates schema if needed and applies, in order, every migration whose
 * version is not yet in <schema>.schema_migrations, each in its own
 * transaction, holding a session advisory lock keyed on the schema name so
 * that concurrent instances apply each exactly once. Returns 0 or BP_EIO. */
int bp_db_migrate(bp_db *db, const char *schema, const bp_migration *migs, size_t n);

#endif
