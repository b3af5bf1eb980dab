/* The channels a message goes out on, in order: WhatsApp, SMS (Twilio),
 * email (SMTP, or SendGrid when its key is set). Each is one file that
 * fills a notification_channel; sender.c walks them. Settings are read once
 * at start (notification_channels_load). */
#ifndef NOTIFICATION_CHANNELS_H
#define NOTIFICATION_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "http.h"
#include "rpc.h"
#include "templates.h"

/* Where and how a recipient may be written to (auth.FindUser). */
typedef struct {
    char user_id[37];
    char name[128];
    char email[256];       /* "" when none */
    char phone[24];        /* E.164, "" when none */
    bool whatsapp_allowed; /* the WhatsApp consent was not withdrawn */
} notification_contact;

/* What a channel's send says. */
typedef enum {
    NOTIFICATION_SENT,  /* accepted; its provider's message id is set */
    NOTIFICATION_RETRY, /* failed for now (rate limit, 5xx, no answer): try again later */
    NOTIFICATION_NEXT,  /* this channel cannot deliver it (bad number, no consent at the
                           provider, refused credentials): the next channel */
} notification_outcome;

typedef struct {
    const char *name; /* "whatsapp", "sms", "email" */
    /* Whether the channel is configured and the contact has an address for
     * it (and, for WhatsApp, the consent). */
    bool (*usable)(const notification_contact *c);
    /* Sends m to c within timeout_ms. Fills id (the provider's message id)
     * on NOTIFICATION_SENT, why (for last_error, never a secret) otherwise. */
    notification_outcome (*send)(const notification_contact *c, const notification_message *m,
                                 int timeout_ms, char *id, size_t id_len, char *why,
                                 size_t why_len);
} notification_channel;

extern const notification_channel notification_whatsapp;
extern const notification_channel notification_sms;
extern const notification_channel notification_email;

/* The settings of every channel, from the environment (exit 2 on a bad
 * value). Logs which channels are configured. */
void notification_channels_load(void);
void notification_whatsapp_load(void);
void notification_sms_load(void);
void notification_email_load(void);

/* The WhatsApp `to` of an E.164 number: digits without '+', and for an
 * Argentine mobile (+54 9 ...) without the 9 when strip_ar_nine (the Cloud
 * API knows those numbers without it). Exposed for unit tests. */
void notification_whatsapp_to(const char *e164, bool strip_ar_nine, char *out, size_t len);

/* POSTs body (a JSON document; consumed) to url with "Authorization: Bearer
 * token", within timeout_ms, keeping the answer's headers named in keep
 * (NULL-terminated, or NULL). Returns 0 with *resp filled (the caller frees
 * it with bp_http_response_free), or -1 after writing why ("<who>: ...")
 * when no answer came: the caller tries again later. */
int notification_post_json(const char *who, const char *url, const char *token, json_t *body,
                           const char *const *keep, int timeout_ms, bp_http_response *resp,
                           char *why, size_t why_len);

/* Rewrites s (a provider's error text, NUL-terminated) in place with every
 * word holding an '@' as "[email]" and every run of 8 or more digits
 * (with the + - . ( ) and spaces of a phone number) as "[tel]", so that
 * neither last_error nor a log line keeps a person's address; error codes
 * (at most 6 digits) stay. The text never grows. */
void notification_redact(char *s);

/* Counts a provider's refusal of our credentials (an alert); channel static. */
void notification_count_auth_error(const char *channel);

#endif
