/* Settings from the environment (12-factor). A bad value logs a message that
 * names the variable and exits with status 2, so a misconfigured daemon never
 * half-starts. */
#ifndef BP_CONFIG_H
#define BP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Returns the value of name, or def when unset or empty. The string is the
 * environment's (or def); do not free it. */
const char *bp_config_str(const char *name, const char *def);

/* Returns the value of name; exits 2 with a clear message when unset. */
const char *bp_config_required(const char *name);

/* Returns name parsed as a base-10 integer in [min, max], or def when unset;
 * exits 2 when the value is not such an integer. */
long bp_config_int(const char *name, long def, long min, long max);

/* Returns name as a boolean (1/0, true/false, yes/no, on/off), or def when
 * unset; exits 2 on anything else. */
bool bp_config_bool(const char *name, bool def);

/* Returns name, or NULL when it is unset or empty: an optional secret or
 * credential whose absence turns a feature off. */
const char *bp_config_secret(const char *name);

/* Reads name (def when unset) as an http:// or https:// URL into out (len
 * bytes) without its trailing slashes, ready for "/path" to be appended;
 * exits 2 naming the variable when it is another scheme or too long. */
void bp_config_url(const char *name, const char *def, char *out, size_t len);

/* True when BARBERPRO_ENV is "production". */
bool bp_config_is_production(void);

/* Logs "name: why" as a configuration error and exits with status 2. */
_Noreturn void bp_config_fail(const char *name, const char *why);

/* Returns the bus URL of a service ("auth", "booking", ...): the value of
 * <SERVICE>_RPC_URL, else ipc://<run dir>/<service>.ipc where the run dir is
 * BARBERPRO_RUN_DIR, else <BARBERPRO_VAR_DIR (./var)>/run, made absolute.
 * Writes into out (len bytes); exits 2 when it does not fit. */
void bp_config_rpc_url(const char *service, char *out, size_t len);

#endif
