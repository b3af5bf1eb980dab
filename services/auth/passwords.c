/* bcrypt through libxcrypt: salts from the operating system's random source,
 * a heap crypt_data per call (it is 32 KiB, too big for worker stacks), and
 * a constant-time comparison of the result. */
#include "passwords.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"

static int g_cost = AUTH_BCRYPT_COST_DEFAULT;
static char g_dummy[AUTH_HASH_SIZE];

int auth_passwords_set_cost(int cost)
{
    if (cost < AUTH_BCRYPT_COST_MIN || cost > AUTH_BCRYPT_COST_MAX)
        return BP_EINVAL;
    g_cost = cost;
    return 0;
}

int auth_passwords_init(int cost)
{
    if (auth_passwords_set_cost(cost) != 0)
        return BP_EINVAL;

    /* The dummy hash protects a secret no one knows: a random UUID. */
    char secret[37];
    bp_uuid(secret);
    return auth_password_hash(secret, g_dummy, sizeof g_dummy);
}

int auth_passwords_cost(void)
{
    return g_cost;
}

int auth_password_hash(const char *password, char *out, size_t len)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    int rv = BP_EIO;

    if (password == NULL || out == NULL || len < AUTH_HASH_SIZE)
        return BP_EINVAL;
    out[0] = '\0';
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (cd == NULL)
        return BP_ENOMEM;
    if (crypt_gensalt_rn("$2b$", (unsigned long)g_cost, NULL, 0, setting, sizeof setting) == NULL)
        goto out;
    const char *h = crypt_rn(password, setting, cd, sizeof *cd);
    if (h == NULL || h[0] == '*')
        goto out;
    size_t n = strlen(h);
    if (n >= len)
        goto out;
    memcpy(out, h, n + 1);
    rv = 0;
out:
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return rv;
}

bool auth_password_verify(const char *password, const char *hash)
{
    bool ok = false;

    if (password == NULL || hash == NULL || auth_password_hash_cost(hash) < 0)
        return false;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (cd == NULL)
        return false;
    const char *h = crypt_rn(password, hash, cd, sizeof *cd);
    if (h != NULL && h[0] != '*') {
        size_t n = strlen(hash);
        /* The length of a hash is no secret; its bytes are. */
        ok = strlen(h) == n && bp_ct_compare(h, hash, n) == 0;
    }
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

bool auth_password_burn(const char *password)
{
    (void)auth_password_verify(password != NULL ? password : "", g_dummy);
    return false;
}

int auth_password_hash_cost(const char *hash)
{
    /* $2b$NN$ followed by 53 characters of salt and digest; $2a$ and $2y$
     * (other bcrypt libraries) verify the same way. */
    if (hash == NULL || strlen(hash) != 60 || hash[0] != '$' || hash[1] != '2' ||
        (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') || hash[3] != '$')
        return -1;
    if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9' || hash[6] != '$')
        return -1;
    int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    return cost >= AUTH_BCRYPT_COST_MIN && cost <= AUTH_BCRYPT_COST_MAX ? cost : -1;
}

bool auth_password_needs_rehash(const char *hash)
{
    return auth_password_hash_cost(hash) != g_cost || strncmp(hash, "$2b$", 4) != 0;
}
