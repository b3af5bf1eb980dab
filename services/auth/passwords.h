/* Password hashing with bcrypt ($2b$) from libxcrypt, at the cost set by
 * BCRYPT_SALT_ROUNDS. The functions are slow on purpose: call them only from
 * the slow lane or from subcommands. */
#ifndef AUTH_PASSWORDS_H
#define AUTH_PASSWORDS_H

#include <stdbool.h>
#include <stddef.h>

/* A bcrypt hash is 60 characters; the buffer leaves room for others. */
#define AUTH_HASH_SIZE 128

#define AUTH_BCRYPT_COST_DEFAULT 12
#define AUTH_BCRYPT_COST_MIN     4
#define AUTH_BCRYPT_COST_MAX     31

/* Sets the cost of new hashes and computes the dummy hash that
 * auth_password_burn checks against. Call once, before any thread uses
 * this module. Returns 0, BP_EINVAL for a cost outside 4..31, or BP_EIO
 * when libxcrypt fails. */
int auth_passwords_init(int cost);

/* Sets only the cost (for subcommands, which never burn). Returns 0 or
 * BP_EINVAL. */
int auth_passwords_set_cost(int cost);

/* The cost given to auth_passwords_init. */
int auth_passwords_cost(void);

/* Hashes password with a fresh random salt into out (len >=
 * AUTH_HASH_SIZE). Returns 0, BP_ENOMEM or BP_EIO. */
int auth_password_hash(const char *password, char *out, size_t len);

/* True when password matches hash; compares in constant time. A malformed
 * hash never matches. */
bool auth_password_verify(const char *password, const char *hash);

/* Spends the time of one verification and returns false, so that a login
 * with an unknown email costs what a wrong password costs. */
bool auth_password_burn(const char *password);

/* The cost written in a bcrypt hash ($2a$, $2b$ or $2y$), or -1 when it is
 * not one. */
int auth_password_hash_cost(const char *hash);

/* True when hash is not a $2b$ hash at the configured cost, so that a
 * successful login should store a new one. */
bool auth_password_needs_rehash(const char *hash);

#endif
