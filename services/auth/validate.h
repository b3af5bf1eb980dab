/* Input rules of the auth daemon: passwords, names, roles and locales
 * (emails and phones: common/input.h). Pure functions, no I/O, so that the
 * unit tests exercise them directly; the handlers turn a refusal into a 400
 * invalid_request naming the field, with the Spanish message these
 * functions give. */
#ifndef AUTH_VALIDATE_H
#define AUTH_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* Passwords are counted in bytes: bcrypt reads at most 72. */
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 72
/* Names are counted in characters (UTF-8 code points). */
#define AUTH_NAME_MAX  120
#define AUTH_NAME_SIZE (AUTH_NAME_MAX * 4 + 1)

/* The password policy: 8 to 72 bytes, at least one letter and one digit,
 * not a well-known weak password, not the account's email (email may be
 * NULL). Returns 0, or BP_EINVAL with *why set. */
int auth_password_policy(const char *password, const char *email, const char **why);

/* Trims surrounding white space from a person's name and checks it: valid
 * UTF-8 without control characters, 1 to 120 characters. Writes into out
 * (len >= AUTH_NAME_SIZE). Returns 0, or BP_EINVAL with *why set. */
int auth_name_normalize(const char *in, char *out, size_t len, const char **why);

/* True for the roles that exist (client, owner, provider, admin). */
bool auth_role_valid(const char *role);

/* True for the roles anyone may choose at registration (client, owner). */
bool auth_role_self_service(const char *role);

/* True for the supported locales (es-AR, en-US, pt-BR). */
bool auth_locale_valid(const char *locale);

#endif
