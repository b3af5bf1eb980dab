/* The auth daemon's SQL. Times come back as Unix milliseconds so that the
 * handlers format them in the configured time zone. */
#include "store.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "log.h"

/* The columns of auth_user, in the order row_to_user reads them. */
#define USER_COLUMNS                                                                               \
    "id::text, email, name, coalesce(phone, ''), role, locale, password_hash, "                    \
    "(extract(epoch from created_at) * 1000)::bigint"

/* Longest user agent and request id kept with a record. */
#define UA_MAX  "512"
#define RID_MAX "128"

static void copy_field(const PGresult *r, int row, int col, char *out, size_t len)
{
    const char *v = PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
    size_t n = strnlen(v, len - 1);
    memcpy(out, v, n);
    out[n] = '\0';
}

static void row_to_user(const PGresult *r, int row, auth_user *out)
{
    copy_field(r, row, 0, out->id, sizeof out->id);
    copy_field(r, row, 1, out->email, sizeof out->email);
    copy_field(r, row, 2, out->name, sizeof out->name);
    copy_field(r, row, 3, out->phone, sizeof out->phone);
    copy_field(r, row, 4, out->role, sizeof out->role);
    copy_field(r, row, 5, out->locale, sizeof out->locale);
    copy_field(r, row, 6, out->password_hash, sizeof out->password_hash);
    out->created_at_ms = strtoll(PQgetvalue(r, row, 7), NULL, 10);
}

/* NULL for an empty string, so that SQL stores NULL. */
static const char *or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The ip when it parses as IPv4 or IPv6, else NULL: an inet column refuses
 * anything else, and a bad address must not cost the record. */
const char *auth_store_ip(const char *ip)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (ip == NULL || ip[0] == '\0')
        return NULL;
    if (inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1)
        return ip;
    return NULL;
}

/* Runs a statement expected to return at most one user row. */
static int user_query(bp_db *db, const char *sql, int n, const char *const *params, auth_user *out)
{
    PGresult *r = bp_db_query(db, sql, n, params);
    int rv;
    if (r == NULL) {
        bp_log_error("auth store: no database connection");
        return BP_EIO;
    }
    if (bp_db_sqlstate(r, "23505")) {
        rv = BP_ECONFLICT;
    } else if (!bp_db_ok(r, NULL)) {
        rv = BP_EIO;
    } else if (PQntuples(r) == 0) {
        rv = BP_ENOTFOUND;
    } else {
        row_to_user(r, 0, out);
        rv = 0;
    }
    PQclear(r);
    return rv;
}

/* Runs a statement whose result is only success or failure. */
static int exec(bp_db *db, const char *sql, int n, const char *const *params)
{
    PGresult *r = bp_db_query(db, sql, n, params);
    if (r == NULL) {
        bp_log_error("auth store: no database connection");
        return BP_EIO;
    }
    int rv = bp_db_ok(r, NULL) ? 0 : BP_EIO;
    PQclear(r);
    return rv;
}

int auth_store_user_by_email(bp_db *db, const char *email, auth_user *out)
{
    const char *p[] = {email};
    return user_query(db,
                      "select " USER_COLUMNS " from auth.users"
                      " where email = $1 and erased_at is null",
                      1, p, out);
}

int auth_store_user_by_id(bp_db *db, const char *id, auth_user *out)
{
    if (!bp_uuid_valid(id))
        return BP_ENOTFOUND;
    const char *p[] = {id};
    return user_query(db,
                      "select " USER_COLUMNS " from auth.users"
                      " where id = $1::uuid and erased_at is null",
                      1, p, out);
}

int auth_store_user_insert(bp_db *db, const auth_user *u, auth_user *out)
{
    const char *p[] = {u->id,   u->email,           u->name,         or_null(u->phone),
                       u->role, or_null(u->locale), u->password_hash};
    return user_query(db,
                      "insert into auth.users (id, email, name, phone, role, locale, password_hash)"
                      " values ($1::uuid, $2, $3, $4, $5, coalesce($6, 'es-AR'), $7)"
                      " returning " USER_COLUMNS,
                      7, p, out);
}

int auth_store_user_update_profile(bp_db *db, const char *id, const char *name, const char *phone,
                                   const char *locale, auth_user *out)
{
    const char *p[] = {id, name, phone, locale};
    return user_query(db,
                      "update auth.users set name = coalesce($2, name),"
                      " phone = case when $3::text is null then phone else nullif($3, '') end,"
                      " locale = coalesce($4, locale), updated_at = now()"
                      " where id = $1::uuid and erased_at is null returning " USER_COLUMNS,
                      4, p, out);
}

int auth_store_user_update_account(bp_db *db, const char *id, const char *email, const char *name,
                                   const char *role, const char *password_hash, auth_user *out)
{
    const char *p[] = {id, email, name, role, password_hash};
    return user_query(db,
                      "update auth.users set email = coalesce($2, email),"
                      " name = coalesce($3, name), role = coalesce($4, role),"
                      " password_hash = coalesce($5, password_hash), updated_at = now()"
                      " where id = $1::uuid and erased_at is null returning " USER_COLUMNS,
                      5, p, out);
}

int auth_store_user_set_password(bp_db *db, const char *id, const char *password_hash)
{
    const char *p[] = {id, password_hash};
    return exec(db,
                "update auth.users set password_hash = $2, updated_at = now()"
                " where id = $1::uuid and erased_at is null",
                2, p);
}

int auth_store_consent_add(bp_db *db, const char *user_id, const char *kind, bool granted,
                           const char *version, const auth_origin *origin)
{
    const char *p[] = {
        user_id,
        kind,
        granted ? "true" : "false",
        origin != NULL ? auth_store_ip(origin->ip) : NULL,
        origin != NULL ? or_null(origin->user_agent) : NULL,
        origin != NULL ? or_null(origin->request_id) : NULL,
        or_null(version),
    };
    return exec(db,
                "insert into auth.consents"
                " (user_id, kind, granted, ip, user_agent, request_id, version)"
                " values ($1::uuid, $2, $3::boolean, $4::inet, left($5, " UA_MAX "),"
                " left($6, " RID_MAX "), $7)",
                7, p);
}

int auth_store_consents_get(bp_db *db, const char *user_id, auth_consents *out)
{
    const char *p[] = {user_id};
    memset(out, 0, sizeof *out);
    PGresult *r = bp_db_query(db,
                              "select distinct on (kind) kind, granted,"
                              " (extract(epoch from recorded_at) * 1000)::bigint,"
                              " coalesce(version, '')"
                              " from auth.consents where user_id = $1::uuid"
                              " order by kind, recorded_at desc, id desc",
                              1, p);
    if (r == NULL) {
        bp_log_error("auth store: no database connection");
        return BP_EIO;
    }
    if (!bp_db_ok(r, NULL)) {
        PQclear(r);
        return BP_EIO;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *kind = PQgetvalue(r, i, 0);
        bool granted = PQgetvalue(r, i, 1)[0] == 't';
        int64_t at = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        if (strcmp(kind, "terms") == 0) {
            out->terms = granted;
            copy_field(r, i, 3, out->terms_version, sizeof out->terms_version);
        } else if (strcmp(kind, "marketing") == 0)
            out->marketing = granted;
        else if (strcmp(kind, "whatsapp") == 0) {
            out->whatsapp = granted;
            out->whatsapp_withdrawn = !granted;
        }
        if (at > out->updated_at_ms)
            out->updated_at_ms = at;
    }
    PQclear(r);
    return 0;
}

int auth_store_audit(bp_db *db, const char *actor_id, const char *subject_id, const char *action,
                     const auth_origin *origin, const json_t *details)
{
    char *json = NULL;
    if (details != NULL) {
        json = json_dumps(details, JSON_COMPACT);
        if (json == NULL)
            return BP_ENOMEM;
    }
    const char *p[] = {
        or_null(actor_id),
        or_null(subject_id),
        action,
        origin != NULL ? or_null(origin->request_id) : NULL,
        origin != NULL ? auth_store_ip(origin->ip) : NULL,
        json,
        origin != NULL && actor_id != NULL ? or_null(origin->role) : NULL,
    };
    int rv = exec(db,
                  "insert into auth.audit_log"
                  " (actor_id, subject_id, action, request_id, ip, details, actor_role)"
                  " values ($1::uuid, $2::uuid, $3, left($4, " RID_MAX "), $5::inet,"
                  " coalesce($6::jsonb, '{}'::jsonb), left($7, 16))",
                  7, p);
    free(json);
    return rv;
}

int auth_store_audit_commit(bp_db *db, int rv, const char *actor_id, const char *subject_id,
                            const char *action, const auth_origin *origin, json_t *details)
{
    if (rv == 0)
        rv = auth_store_audit(db, actor_id, subject_id, action, origin, details);
    if (rv == 0)
        rv = bp_db_commit(db) == 0 ? 0 : BP_EIO;
    else
        bp_db_rollback(db);
    json_decref(details);
    return rv;
}
