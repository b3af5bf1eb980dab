#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bp.h"
#include "hmac.h"

void bp_hmac_sha256_hex(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        char out[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, mac, &len) == NULL || len != 32) {
        memset(out, '0', 64); /* never equal to a real signature's digits by chance alone */
        out[64] = '\0';
        return;
    }
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = digits[mac[i] >> 4];
        out[2 * i + 1] = digits[mac[i] & 0xf];
    }
    out[64] = '\0';
}

void bp_hmac_sha1_base64(const void *key, size_t key_len, const void *msg, size_t msg_len,
                         char out[29])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (HMAC(EVP_sha1(), key, (int)key_len, msg, msg_len, mac, &len) == NULL || len != 20) {
        memset(out, '-', 28); /* not base64: equal to no signature */
        out[28] = '\0';
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, mac, 20);
}

bool bp_secure_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    size_t n = strlen(a);
    if (n != strlen(b))
        return false;
    return bp_ct_compare(a, b, n) == 0;
}
