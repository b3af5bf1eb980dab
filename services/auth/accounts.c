/* Create-or-update of operator-made accounts (create-user, the start-up
 * admin, demo data). Safe when several instances run it at once: the
 * unique email index settles a race and the loser retries as an update. */
#include "accounts.h"
#include "auth.h"
#include "input.h"

#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "bp.h"
#include "log.h"
#include "passwords.h"
#include "profiles.h"
#include "sessions.h"
#include "store.h"
#include "validate.h"

/* Normalised input of an account. */
typedef struct {
    char email[BP_EMAIL_SIZE];
    char name[AUTH_NAME_SIZE];
    char phone[BP_PHONE_SIZE];
} normalized;

static int check_input(const auth_account *a, normalized *n, const char **field, const char **why)
{
    *field = "email";
    if (bp_email_normalize(a->email, n->email, sizeof n->email, why) != 0)
        return BP_EINVAL;
    *field = "name";
    if (auth_name_normalize(a->name, n->name, sizeof n->name, why) != 0)
        return BP_EINVAL;
    *field = "phone";
    n->phone[0] = '\0';
    if (a->phone != NULL && a->phone[0] != '\0' &&
        bp_phone_normalize(a->phone, n->phone, sizeof n->phone, why) != 0)
        return BP_EINVAL;
    *field = "role";
    *why = "El rol debe ser admin, owner, provider o client.";
    if (!auth_role_valid(a->role))
        return BP_EINVAL;
    *field = "password";
    if (auth_password_policy(a->password, n->email, why) != 0)
        return BP_EINVAL;
    *field = NULL;
    *why = NULL;
    return 0;
}

static int create(bp_db *db, const auth_account *a, const normalized *n, char id_out[37])
{
    auth_user u = {0};
    auth_origin origin = {.request_id = NULL, .ip = NULL, .user_agent = a->via};

    if (a->id != NULL)
        snprintf(u.id, sizeof u.id, "%s", a->id);
    else
        bp_uuid(u.id);
    memcpy(u.email, n->email, sizeof u.email);
    memcpy(u.name, n->name, sizeof u.name);
    memcpy(u.phone, n->phone, sizeof u.phone);
    snprintf(u.role, sizeof u.role, "%s", a->role);
    int rv = auth_password_hash(a->password, u.password_hash, sizeof u.password_hash);
    if (rv != 0)
        return rv;

    if (bp_db_begin(db) != 0)
        return BP_EIO;
    rv = auth_store_user_insert(db, &u, &u);
    if (rv == 0 && a->grant_terms)
        rv = auth_store_consent_add(db, u.id, "terms", true, auth_terms_version(), &origin);
    if (rv == 0 && a->grant_whatsapp)
        rv = auth_store_consent_add(db, u.id, "whatsapp", true, NULL, &origin);
    if (rv == 0) {
        json_t *details = json_pack("{s:s, s:s}", "via", a->via, "role", u.role);
        rv = auth_store_audit(db, NULL, u.id, "account_created", &origin, details);
        json_decref(details);
    }
    if (rv == 0)
        rv = bp_db_commit(db) == 0 ? 0 : BP_EIO;
    if (rv != 0) {
        bp_db_rollback(db);
        return rv;
    }
    memcpy(id_out, u.id, 37);
    return 0;
}

static int update(bp_db *db, bp_kv *kv, const auth_account *a, const normalized *n,
                  const auth_user *old, auth_account_result *result)
{
    char hash[AUTH_HASH_SIZE];
    const char *new_email = NULL, *new_name = NULL, *new_role = NULL, *new_hash = NULL;
    auth_origin origin = {.request_id = NULL, .ip = NULL, .user_agent = a->via};
    auth_user u;

    if (strcmp(old->email, n->email) != 0)
        new_email = n->email;
    if (!a->keep_name && strcmp(old->name, n->name) != 0)
        new_name = n->name;
    if (strcmp(old->role, a->role) != 0)
        new_role = a->role;
    bool same_password = auth_password_verify(a->password, old->password_hash);
    if (!same_password || auth_password_needs_rehash(old->password_hash)) {
        int rv = auth_password_hash(a->password, hash, sizeof hash);
        if (rv != 0)
            return rv;
        new_hash = hash;
    }
    *result = AUTH_ACCOUNT_UNCHANGED;
    if (new_email == NULL && new_name == NULL && new_role == NULL && new_hash == NULL)
        return 0;

    json_t *fields = json_array();
    if (new_email != NULL)
        json_array_append_new(fields, json_string("email"));
    if (new_name != NULL)
        json_array_append_new(fields, json_string("name"));
    if (new_role != NULL)
        json_array_append_new(fields, json_string("role"));
    if (new_hash != NULL)
        json_array_append_new(fields, json_string("password"));
    json_t *details = json_pack("{s:s, s:o}", "via", a->via, "fields", fields);

    int rv = bp_db_begin(db) == 0 ? 0 : BP_EIO;
    if (rv == 0)
        rv = auth_store_user_update_account(db, old->id, new_email, new_name, new_role, new_hash,
                                            &u);
    if (rv == 0)
        rv = auth_store_audit(db, NULL, old->id, "account_updated", &origin, details);
    if (rv == 0)
        rv = bp_db_commit(db) == 0 ? 0 : BP_EIO;
    if (rv != 0)
        bp_db_rollback(db);
    json_decref(details);
    if (rv != 0)
        return rv;

    *result = AUTH_ACCOUNT_UPDATED;
    if (kv != NULL && auth_profile_drop(kv, old->id) != 0)
        bp_log_warn("cannot drop a cached profile; it expires within %d s", AUTH_PROFILE_TTL_S);
    /* A new password or role must not leave old sessions running on the
     * old terms. A new hash of the same password (a new cost) is not that. */
    if (kv != NULL && (!same_password || new_role != NULL) &&
        auth_sessions_close_user(kv, old->id) != 0)
        bp_log_warn("account %s: its sessions could not be ended", old->id);
    return 0;
}

int auth_account_ensure(bp_db *db, bp_kv *kv, const auth_account *a, auth_account_result *result,
                        char id_out[37], const char **field, const char **why)
{
    normalized n;
    auth_user old;
    int rv;

    id_out[0] = '\0';
    rv = check_input(a, &n, field, why);
    if (rv != 0)
        return rv;
    if (a->id != NULL && !bp_uuid_valid(a->id)) {
        *field = "id";
        *why = "El id no es un UUID.";
        return BP_EINVAL;
    }

    /* Twice at most: a concurrent instance may create the account between
     * our look and our insert. */
    for (int attempt = 0; attempt < 2; attempt++) {
        rv = a->id != NULL ? auth_store_user_by_id(db, a->id, &old)
                           : auth_store_user_by_email(db, n.email, &old);
        if (rv == BP_ENOTFOUND && a->id != NULL) {
            auth_user other;
            int e = auth_store_user_by_email(db, n.email, &other);
            if (e == 0)
                return BP_ECONFLICT; /* the email is another account's */
            if (e != BP_ENOTFOUND)
                return e;
        }
        if (rv == 0) {
            memcpy(id_out, old.id, 37);
            rv = update(db, kv, a, &n, &old, result);
            if (rv == BP_ECONFLICT && a->id != NULL)
                return BP_ECONFLICT;
            return rv;
        }
        if (rv != BP_ENOTFOUND)
            return rv;
        rv = create(db, a, &n, id_out);
        if (rv == 0) {
            *result = AUTH_ACCOUNT_CREATED;
            return 0;
        }
        if (rv != BP_ECONFLICT)
            return rv;
    }
    return rv;
}
