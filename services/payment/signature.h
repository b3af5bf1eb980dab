/* The signature check of MercadoPago's webhooks (webhook.c), apart for
 * unit tests. */
#ifndef PAYMENT_SIGNATURE_H
#define PAYMENT_SIGNATURE_H

#include <stdbool.h>

/* Whether signature (the x-signature header, "ts=<ts>,v1=<hex>") is
 * HMAC-SHA256 keyed with secret over "id:<data_id lowercased>;request-id:
 * <request_id>;ts:<ts>;", leaving out the id and request-id parts whose
 * value is NULL or empty. Compared in constant time. A NULL or empty
 * secret, or a signature without ts or v1, is never valid. */
bool payment_webhook_signed(const char *secret, const char *signature, const char *data_id,
                            const char *request_id);

#endif
