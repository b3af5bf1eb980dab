/* Accounts made by operators rather than by registration: create-user, the
 * admin of BARBERPRO_ADMIN_EMAIL at start, and the demo accounts. One
 * function serves all three so that they behave the same. */
#ifndef AUTH_ACCOUNTS_H
#define AUTH_ACCOUNTS_H

#include <stdbool.h>

#include "db.h"
#include "kv.h"

typedef struct {
    const char *id;       /* a fixed id, or NULL for a random one if created */
    const char *email;    /* as typed; normalised here */
    const char *name;     /* required */
    bool keep_name;       /* true: name is used only if the account is new */
    const char *phone;    /* NULL or any accepted form; used only if new */
    const char *role;     /* client, owner, provider or admin */
    const char *password; /* checked against the password policy */
    const char *via;      /* who asked, for the audit log: "cli", "env", ... */
    bool grant_terms;     /* record terms as accepted when created */
    bool grant_whatsapp;  /* record WhatsApp messages as accepted when created */
} auth_account;

/* What auth_account_ensure did. */
typedef enum {
    AUTH_ACCOUNT_CREATED,
    AUTH_ACCOUNT_UPDATED,
    AUTH_ACCOUNT_UNCHANGED
} auth_account_result;

/* Creates the account a, or brings an existing one (found by a->id when
 * given, else by email) to its name, role and password. A password that
 * already matches keeps its hash, so that running this at every start
 * costs one verification and changes nothing. When the password or the
 * role changes and kv is not NULL, the account's sessions are ended.
 * Returns 0 with *result and the account's id in id_out (37 bytes);
 * BP_EINVAL with *field and *why (Spanish) for bad input; BP_ECONFLICT when
 * a->id is given and the email belongs to another account; BP_EIO. */
int auth_account_ensure(bp_db *db, bp_kv *kv, const auth_account *a, auth_account_result *result,
                        char id_out[37], const char **field, const char **why);

#endif
