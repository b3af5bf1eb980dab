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

/* Bus addresses: how many one <SERVICE>_RPC_URL may list, and the size of
 * the buffer that holds one of them (BP_BUS_URL_LEN - 1 bytes at most). */
#define BP_BUS_URLS_MAX 16
#define BP_BUS_URL_LEN  512
/* A buffer that holds any list bp_config_rpc_url accepts in practice. */
#define BP_BUS_LIST_LEN 2048

/* Returns the bus addresses of a service ("auth", "booking", ...): the value
 * of <SERVICE>_RPC_URL, a comma-separated list of one or more addresses
 * (several instances of the daemon; blanks around the commas are ignored),
 * else ipc://<run dir>/<service>.ipc where the run dir is BARBERPRO_RUN_DIR,
 * else <BARBERPRO_VAR_DIR (./var)>/run, made absolute. Writes the list into
 * out (len bytes) joined by bare commas, ready for bp_client_open; exits 2
 * naming the variable when an item is empty or not an address
 * (bp_config_split_urls) or when the list does not fit. */
void bp_config_rpc_url(const char *service, char *out, size_t len);

/* Returns the one address the daemon of service listens on:
 * <SERVICE>_LISTEN_URL when set (one instance among several), else
 * bp_config_rpc_url, which must then hold a single address. Writes into
 * out (len bytes); exits 2 naming the variable when it is not a single
 * valid address. */
void bp_config_listen_url(const char *service, char *out, size_t len);

/* Splits list, comma-separated bus addresses with optional blanks around
 * each, into out[0], out[1], ... (at most max). An address is
 * ipc://<path> (at most 107 bytes: a unix socket path), tcp://, tcp4:// or
 * tcp6:// <host>:<port>, or inproc://<name>. Returns how many (at least
 * one), or -1 after writing why (whylen bytes): an empty item, an invalid
 * address, more than max items, or one of BP_BUS_URL_LEN bytes or more.
 * Does not exit. */
int bp_config_split_urls(const char *list, char (*out)[BP_BUS_URL_LEN], int max, char *why,
                         size_t whylen);

#endif
