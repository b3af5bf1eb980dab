/* The database and Redis helpers against the real servers the test harness
 * starts (DATABASE_URL, REDIS_URL). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bp.h"
#include "db.h"
#include "kv.h"

static const char *need(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v != NULL && *v != '\0', "%s must point at the test harness's server", name);
    return v;
}

static const bp_migration migs[] = {
    {1, "0001_widgets.sql", "CREATE TABLE widgets (id int PRIMARY KEY, name text NOT NULL);"},
    {2, "0002_seed.sql",
     "INSERT INTO widgets VALUES (1, 'uno'); INSERT INTO widgets VALUES (2, 'dos');"},
};

static void *migrate_thread(void *arg)
{
    bp_db *db;
    if (bp_db_open(need("DATABASE_URL"), &db) != 0)
        return (void *)1;
    intptr_t rv = bp_db_migrate(db, arg, migs, BP_COUNTOF(migs));
    bp_db_close(db);
    return (void *)rv;
}

Test(db, migrations_apply_once_even_when_run_concurrently)
{
    char schema[64];
    snprintf(schema, sizeof schema, "bp_test_%d", (int)getpid());
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, migrate_thread, schema);
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        cr_assert_null(rv, "a concurrent migration failed");
    }
    bp_db *db;
    cr_assert_eq(bp_db_open(need("DATABASE_URL"), &db), 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.widgets", schema);
    PGresult *r = bp_db_query(db, sql, 0, NULL);
    cr_assert(bp_db_ok(r, NULL));
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "2");
    PQclear(r);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    PQclear(bp_db_query(db, sql, 0, NULL));
    bp_db_close(db);
}

Test(db, failed_migration_rolls_back_whole)
{
    static const bp_migration bad[] = {
        {1, "0001_ok_then_bad.sql", "CREATE TABLE t1 (id int); SELECT * FROM no_such_table;"},
    };
    char schema[64];
    snprintf(schema, sizeof schema, "bp_test_bad_%d", (int)getpid());
    bp_db *db;
    cr_assert_eq(bp_db_open(need("DATABASE_URL"), &db), 0);
    cr_assert_neq(bp_db_migrate(db, schema, bad, 1), 0);
    const char *p[] = {schema};
    PGresult *r = bp_db_query(db,
                              "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                              "$1 AND table_name = 't1'",
                              1, p);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    PQclear(bp_db_query(db, sql, 0, NULL));
    bp_db_close(db);
}

Test(db, parameters_are_never_pasted)
{
    bp_db *db;
    cr_assert_eq(bp_db_open(need("DATABASE_URL"), &db), 0);
    const char *p[] = {"'; DROP TABLE x; --"};
    PGresult *r = bp_db_query(db, "SELECT $1::text", 1, p);
    cr_assert(bp_db_ok(r, NULL));
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "'; DROP TABLE x; --");
    PQclear(r);
    r = bp_db_query(db, "SELECT 1/0", 0, NULL);
    cr_assert(bp_db_sqlstate(r, "22012"));
    PQclear(r);
    bp_db_close(db);
}

Test(kv, set_get_renew_and_delete)
{
    bp_kv *kv;
    cr_assert_eq(bp_kv_open(need("REDIS_URL"), &kv), 0);
    char key[64], out[64];
    snprintf(key, sizeof key, "barberpro:test:%d", (int)getpid());
    cr_assert_eq(bp_kv_set_ex(kv, key, "valor con espacios", 5), 0);
    cr_assert_eq(bp_kv_get(kv, key, out, sizeof out, 100), 0);
    cr_assert_str_eq(out, "valor con espacios");
    const char *ttl[] = {"TTL", key};
    redisReply *r = bp_kv_command(kv, 2, ttl, NULL);
    cr_assert_gt(r->integer, 5, "GETEX renewed the expiry");
    freeReplyObject(r);
    char tiny[4];
    cr_assert_eq(bp_kv_get(kv, key, tiny, sizeof tiny, 0), BP_ETOOBIG);
    cr_assert_eq(bp_kv_del(kv, key), 0);
    cr_assert_eq(bp_kv_get(kv, key, out, sizeof out, 0), BP_ENOTFOUND);
    cr_assert_eq(bp_kv_ping(kv), 0);
    bp_kv_close(kv);
}

Test(kv, malformed_urls_are_refused)
{
    static const char *bad[] = {"http://localhost", "redis://", "redis://host:99999", "unix://",
                                "redis://h:x"};
    for (size_t i = 0; i < BP_COUNTOF(bad); i++) {
        bp_kv *kv = NULL;
        cr_assert_eq(bp_kv_open(bad[i], &kv), BP_EINVAL, "%s", bad[i]);
    }
}

Test(db, statements_are_bounded_by_the_rpc_timeout)
{
    setenv("RPC_TIMEOUT_MS", "200", 1);
    bp_db *db;
    cr_assert_eq(bp_db_open(need("DATABASE_URL"), &db), 0);
    PGresult *r = bp_db_query(db, "SELECT pg_sleep(2)", 0, NULL);
    cr_assert(bp_db_sqlstate(r, "57014"), "a 2 s statement outlived a 200 ms deadline");
    PQclear(r);
    bp_db_close(db);
    unsetenv("RPC_TIMEOUT_MS");
}

/* The session of db ends, as when the server restarts or the database is
 * dropped under it; pg_terminate_backend waits (up to 5 s) until it has. */
static void terminate(bp_db *admin, bp_db *db)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(bp_db_conn(db)));
    const char *p[] = {pid};
    PGresult *r = bp_db_query(admin, "SELECT pg_terminate_backend($1::int, 5000)", 1, p);
    cr_assert(bp_db_ok(r, NULL) && strcmp(PQgetvalue(r, 0, 0), "t") == 0);
    PQclear(r);
}

Test(db, prepared_statements_survive_a_reconnect)
{
    bp_db *db, *admin;
    cr_assert_eq(bp_db_open(need("BP_TEST_DATABASE_URL"), &db), 0);
    cr_assert_eq(bp_db_open(need("BP_TEST_DATABASE_URL"), &admin), 0);
    static const char sql[] = "SELECT $1::int + 1";
    const char *two[] = {"2"};
    for (int i = 0; i < 3; i++) {
        PGresult *r = bp_db_exec_prepared(db, 7, sql, 1, two);
        cr_assert(bp_db_ok(r, NULL));
        cr_assert_str_eq(PQgetvalue(r, 0, 0), "3");
        PQclear(r);
    }
    /* The server ends the session: the next call reconnects and prepares
     * the statement again in the new session. */
    terminate(admin, db);
    PGresult *r = bp_db_exec_prepared(db, 7, sql, 1, two);
    cr_assert(bp_db_ok(r, NULL), "after a reconnect: %s", r ? PQresultErrorMessage(r) : "NULL");
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "3");
    PQclear(r);

    /* A statement that cannot be prepared inside a transaction is an error
     * answer (the transaction is then aborted), never a crash. */
    cr_assert_eq(bp_db_begin(db), 0);
    r = bp_db_exec_prepared(db, 8, "SELECT no_such_column", 0, NULL);
    cr_assert(!bp_db_ok(r, NULL));
    PQclear(r);
    cr_assert_eq(bp_db_rollback(db), 0);
    r = bp_db_exec_prepared(db, 7, sql, 1, two);
    cr_assert(bp_db_ok(r, NULL));
    PQclear(r);
    bp_db_close(admin);
    bp_db_close(db);
}

static bool answers(bp_db *db)
{
    PGresult *r = bp_db_query(db, "SELECT 1", 0, NULL);
    bool ok = bp_db_ok(r, NULL);
    PQclear(r);
    return ok;
}

Test(db, a_failed_reconnect_is_tried_again_and_a_broken_transaction_stays_failed)
{
    bp_db *db, *admin;
    cr_assert_eq(bp_db_open(need("BP_TEST_DATABASE_URL"), &admin), 0);
    PQclear(bp_db_query(admin, "DROP DATABASE IF EXISTS bp_reconnect_test WITH (FORCE)", 0, NULL));
    PGresult *r = bp_db_query(admin, "CREATE DATABASE bp_reconnect_test", 0, NULL);
    cr_assert(bp_db_ok(r, NULL));
    PQclear(r);
    /* The same server (the URL's query), another database. */
    const char *q = strchr(need("BP_TEST_DATABASE_URL"), '?');
    char url[1024];
    snprintf(url, sizeof url, "postgresql:///bp_reconnect_test%s", q != NULL ? q : "");
    cr_assert_eq(bp_db_open(url, &db), 0);
    cr_assert(answers(db));

    /* The database goes away: calls fail; it is back: the next call
     * reconnects, though the attempts in between failed. */
    PQclear(bp_db_query(admin, "DROP DATABASE bp_reconnect_test WITH (FORCE)", 0, NULL));
    cr_assert(!answers(db));
    cr_assert(!answers(db));
    r = bp_db_query(admin, "CREATE DATABASE bp_reconnect_test", 0, NULL);
    cr_assert(bp_db_ok(r, NULL));
    PQclear(r);
    cr_assert(answers(db), "no reconnect after the database came back");

    /* Inside a transaction a broken session fails every statement until
     * the rollback: the rest of it never runs on its own. */
    cr_assert_eq(bp_db_begin(db), 0);
    cr_assert(bp_db_in_transaction(db));
    terminate(admin, db);
    cr_assert(!answers(db));
    cr_assert(!answers(db), "a statement ran outside its transaction");
    cr_assert(bp_db_in_transaction(db));
    cr_assert_eq(bp_db_rollback(db), 0);
    cr_assert(!bp_db_in_transaction(db));
    cr_assert(answers(db));

    bp_db_close(db);
    PQclear(bp_db_query(admin, "DROP DATABASE bp_reconnect_test WITH (FORCE)", 0, NULL));
    bp_db_close(admin);
}
