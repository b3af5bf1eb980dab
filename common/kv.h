/* Redis access with hiredis 0.14: one connection per worker, timeouts on
 * every command, reconnect once on a broken connection. Keys are always sent
 * as separate arguments (redisCommandArgv), never pasted into a command. */
#ifndef BP_KV_H
#define BP_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

typedef struct bp_kv bp_kv;

/* Where a Redis URL points. */
typedef struct {
    char host[256]; /* host name, or the socket path for unix:// */
    int port;       /* 0 for a unix socket */
    char password[256];
    int db;
} bp_kv_addr;

/* Parses redis://[:password@]host[:port][/db] or
 * unix://[:password@]/path/to/redis.sock[?db=N] into out (zeroed first by
 * the caller). Returns 0 or BP_EINVAL. */
int bp_kv_parse_url(const char *url, bp_kv_addr *out);

/* Connects to url: redis://[:password@]host[:port][/db] or
 * unix://[:password@]/path/to/redis.sock[?db=N]. Returns 0, BP_EINVAL for a
 * malformed url, or BP_EIO; free with bp_kv_close. */
int bp_kv_open(const char *url, bp_kv **out);

/* Like bp_kv_open, but nothing is sent yet: the first command connects.
 * timeout_ms bounds the connection and every command; quiet leaves failures
 * to the caller instead of logging each one (for a caller that reports an
 * outage once). Returns 0, BP_EINVAL for a malformed url, or BP_ENOMEM. */
int bp_kv_new(const char *url, int timeout_ms, bool quiet, bp_kv **out);

void bp_kv_close(bp_kv *kv);

/* Runs one command given as argc arguments (argvlen may be NULL for
 * NUL-terminated strings). Returns the reply, which the caller frees with
 * freeReplyObject, or NULL when Redis cannot be reached (after one
 * reconnect). An error reply is returned as REDIS_REPLY_ERROR. */
redisReply *bp_kv_command(bp_kv *kv, int argc, const char **argv, const size_t *argvlen);

/* Convenience for the common shapes; return 0, BP_ENOTFOUND or BP_EIO. */
int bp_kv_set_ex(bp_kv *kv, const char *key, const char *value, int ttl_s);
/* Copies the value (at most len-1 bytes and a NUL) into out. When ttl_s > 0
 * the key's expiry is renewed to ttl_s in the same round trip (GETEX). */
int bp_kv_get(bp_kv *kv, const char *key, char *out, size_t len, int ttl_s);
int bp_kv_del(bp_kv *kv, const char *key);

/* PING; returns 0 or BP_EIO. */
int bp_kv_ping(bp_kv *kv);

#endif
