/* HMAC-SHA256 in hex, and the constant-time comparison a signature check
 * needs (webhooks of MercadoPago and WhatsApp, and their local fakes). */
#ifndef BP_HMAC_H
#define BP_HMAC_H

#include <stdbool.h>
#include <stddef.h>

/* Lower-case hex of HMAC-SHA256(key, msg) into out (64 digits and a NUL). */
void bp_hmac_sha256_hex(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        char out[65]);

/* Base64 of HMAC-SHA1(key, msg) into out (28 characters and a NUL):
 * Twilio's X-Twilio-Signature. */
void bp_hmac_sha1_base64(const void *key, size_t key_len, const void *msg, size_t msg_len,
                         char out[29]);

/* Whether a and b (NUL-terminated) are equal, in time that depends only on
 * their lengths, never on where they first differ. NULL equals nothing. */
bool bp_secure_equal(const char *a, const char *b);

#endif
