/* All SQL of the auth daemon, over the tables of migrations/auth. Every
 * statement is parameterised; nothing from a request is pasted into SQL.
 * Functions return 0, BP_ENOTFOUND, BP_ECONFLICT (a unique email taken) or
 * BP_EIO (the database failed; already logged). */
#ifndef AUTH_STORE_H
#define AUTH_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "db.h"
#include "input.h"
#include "passwords.h"
#include "validate.h"

/* A live (not erased) account. Strings are empty when NULL in the table. */
typedef struct {
    char id[37];
    char email[BP_EMAIL_SIZE];
    char name[AUTH_NAME_SIZE];
    char phone[BP_PHONE_SIZE];
    char role[16];
    char locale[8];
    char password_hash[AUTH_HASH_SIZE];
    int64_t created_at_ms;
} auth_user;

/* Where a change came from, recorded with consents and audit entries. Any
 * member may be NULL or empty; an ip that is not an IP address is dropped. */
typedef struct {
    const char *request_id;
    const char *ip;
    const char *user_agent;
    const char *role; /* the actor's role, for audit entries */
} auth_origin;

/* The current state of a user's consents: the latest row of each kind. */
typedef struct {
    bool terms, marketing, whatsapp;
    bool whatsapp_withdrawn; /* a WhatsApp consent was recorded and its latest is a no */
    int64_t updated_at_ms;   /* the latest change, 0 when none */
    char terms_version[65];  /* of the latest terms row, "" when it has none */
} auth_consents;

/* ip when it parses as an IPv4 or IPv6 address (what an inet column
 * takes), else NULL: a bad address must not cost the record. */
const char *auth_store_ip(const char *ip);

/* Looks a live account up by normalised email or by id into *out. */
int auth_store_user_by_email(bp_db *db, const char *email, auth_user *out);
int auth_store_user_by_id(bp_db *db, const char *id, auth_user *out);

/* Inserts the account u (id, email, name, phone or "", role, locale or ""
 * for the default, password_hash) and copies the stored row, with its
 * created_at, into *out (which may be u). BP_ECONFLICT when the email
 * belongs to a live account. */
int auth_store_user_insert(bp_db *db, const auth_user *u, auth_user *out);

/* Changes the given profile fields of live account id (NULL keeps a field;
 * phone "" removes the phone) and copies the stored row into *out. */
int auth_store_user_update_profile(bp_db *db, const char *id, const char *name, const char *phone,
                                   const char *locale, auth_user *out);

/* Sets the account fields an operator manages (NULL keeps a field): email,
 * name, role, password_hash. Copies the stored row into *out. BP_ECONFLICT
 * when the email belongs to another live account. */
int auth_store_user_update_account(bp_db *db, const char *id, const char *email, const char *name,
                                   const char *role, const char *password_hash, auth_user *out);

/* Replaces the password hash of live account id (a rehash at a new cost). */
int auth_store_user_set_password(bp_db *db, const char *id, const char *password_hash);

/* Appends one consent change to the history of user_id. kind is terms
 * (then version names the terms accepted; NULL otherwise), marketing or
 * whatsapp. */
int auth_store_consent_add(bp_db *db, const char *user_id, const char *kind, bool granted,
                           const char *version, const auth_origin *origin);

/* Reads the current consents of user_id (false for a kind never recorded). */
int auth_store_consents_get(bp_db *db, const char *user_id, auth_consents *out);

/* Appends an audit entry (service "auth"; the actor's role from origin).
 * actor_id and subject_id may be NULL; details (may be NULL for {}) is
 * borrowed, not stolen. Details name fields, never their values: the log
 * outlives an erasure. */
int auth_store_audit(bp_db *db, const char *actor_id, const char *subject_id, const char *action,
                     const auth_origin *origin, const json_t *details);

/* Ends the caller's transaction on db: when rv is 0, appends the audit
 * entry (as auth_store_audit) and commits; otherwise, or when that fails,
 * rolls back. details (may be NULL) is stolen. Returns the first failure
 * (rv itself when it is not 0), or 0. */
int auth_store_audit_commit(bp_db *db, int rv, const char *actor_id, const char *subject_id,
                            const char *action, const auth_origin *origin, json_t *details);

#endif
