/* The auth daemon's shared state and the entry points main.c wires: the
 * bus handlers, the token hook, the start-up hook and the subcommands. */
#ifndef AUTH_AUTH_H
#define AUTH_AUTH_H

#include <stddef.h>

#include "daemon.h"
#include "rpc.h"

/* A token is valid for at most this long; its session also ends after
 * AUTH_SESSION_IDLE_S (24 h) without use, or at logout. */
#define AUTH_TOKEN_TTL_S (7 * 24 * 3600)

/* Longest JWT_SECRET accepted, in bytes. */
#define AUTH_SECRET_MAX 512

/* Settled once by auth_setup before the server starts, then read-only. It
 * is the bp_service.app of the daemon. */
/* Longest TERMS_VERSION, in bytes. */
#define AUTH_TERMS_VERSION_MAX 64

typedef struct {
    unsigned char secret[AUTH_SECRET_MAX]; /* JWT_SECRET (or a random one) */
    size_t secret_len;
    int token_ttl_s;
    /* The owners of the rest of a person's data, for the export and the
     * erasure deadline (privacy.c). */
    bp_client *booking, *payment, *notification;
} auth_ctx;

/* TERMS_VERSION: the version of the terms in force, recorded with every
 * terms acceptance (default "2026-01"; checked by auth_setup). */
const char *auth_terms_version(void);

/* The on_start hook: reads JWT_SECRET (refusing a missing or short one in
 * production, exit 2) and BCRYPT_SALT_ROUNDS, prepares the password module,
 * and creates or updates the BARBERPRO_ADMIN_EMAIL account when
 * BARBERPRO_ADMIN_PASSWORD is set too. db is borrowed. Returns 0 to go on. */
int auth_setup(auth_ctx *ctx, bp_db *db);

/* The on_stop hook: closes what auth_setup opened. */
void auth_teardown(auth_ctx *ctx);

/* Subcommands create-user and demo-data (bp_daemon.command): argv[0] is
 * cmd. Returns the exit status, or -1 when cmd is not one of them. */
int auth_command(const bp_daemon *d, const char *cmd, int argc, char **argv);

/* The bp_service.authenticate hook: verifies a bearer token and its session
 * and sets the call's principal, or answers 401. */
int auth_authenticate(bp_call *call, const char *token);

/* The bp_service.business_metrics hook (business.c): registrations and
 * accounts by role, appended to out as Prometheus text. Returns 0 or
 * BP_EIO. */
int auth_business_metrics(bp_call *call, bp_strbuf *out);

/* Bus handlers (see proto/auth.proto). */
int auth_handle_sign_up(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_login(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_logout(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_me(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_update_me(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_put_consents(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_authenticate(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
/* Internal: the id, role, email and name of the live account with req's
 * email or user_id (exactly one; 400 otherwise, 404 not_found when none).
 * Not routed by the gateway (finduser.c). */
int auth_handle_find_user(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
/* Ley 25.326 (privacy.c, audit.c): the caller's export and erasure, the
 * audit log and data-subject requests for admins, and the audit records
 * other services send. */
int auth_handle_export_me(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_erase_me(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_get_data_request(bp_call *call, const ProtobufCMessage *req,
                                 ProtobufCMessage *resp);
int auth_handle_list_audit(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);
int auth_handle_deliver(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);

/* Jobs (privacy.c, retention.c): marks erasures done as each service
 * acknowledges them; removes what the retention periods let go. */
int auth_erasure_progress(bp_db *db, bp_kv *kv);
int auth_retention(bp_db *db, bp_kv *kv);

#endif
