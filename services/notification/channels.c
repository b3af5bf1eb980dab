/* What the channels share: their settings' loading, a JSON POST, and the
 * redaction of addresses from what providers answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "channels.h"

void notification_channels_load(void)
{
    notification_whatsapp_load();
    notification_sms_load();
    notification_email_load();
}

int notification_post_json(const char *who, const char *url, const char *token, json_t *body,
                           const char *const *keep, int timeout_ms, bp_http_response *resp,
                           char *why, size_t why_len)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        snprintf(why, why_len, "%s: sin memoria", who);
        return -1;
    }
    char authz[1024];
    snprintf(authz, sizeof authz, "Authorization: Bearer %s", token);
    const char *headers[] = {authz, "Content-Type: application/json", NULL};
    bp_http_request req = {.method = "POST",
                           .url = url,
                           .headers = headers,
                           .body = text,
                           .body_len = strlen(text),
                           .timeout_ms = timeout_ms,
                           .max_response_bytes = 64 * 1024,
                           .keep_headers = keep};
    int rv = bp_http_do(&req, resp);
    free(text);
    if (rv != 0) {
        snprintf(why, why_len, "%s: %s", who, bp_strerror(rv));
        return -1;
    }
    return 0;
}

/* Whether c may stand in a phone number as written ("+54 9 11 5555-0101"). */
static bool phone_char(char c)
{
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == '(' || c == ')' ||
           c == ' ';
}

static bool word_char(char c)
{
    return c != '\0' && c != ' ' && c != '\t' && c != '\n' && c != '"' && c != '\'' && c != '<' &&
           c != '>' && c != ',' && c != ';';
}

/* Copies what [from, to) becomes to w; returns the new end. */
static char *put(char *w, const char *from, size_t n)
{
    memmove(w, from, n);
    return w + n;
}

void notification_redact(char *s)
{
    static const char EMAIL[] = "[email]", TEL[] = "[tel]";
    char *w = s;
    const char *r = s;
    while (*r != '\0') {
        if (word_char(*r)) {
            const char *end = r;
            bool at = false;
            while (word_char(*end))
                at |= *end++ == '@';
            /* "a@b.c" is at least as long as what replaces it, mostly. */
            if (at && (size_t)(end - r) >= sizeof EMAIL - 1) {
                w = put(w, EMAIL, sizeof EMAIL - 1);
                r = end;
                continue;
            }
            if (at) {
                for (; r < end; r++)
                    *w++ = '*';
                continue;
            }
        }
        if ((*r >= '0' && *r <= '9') || (*r == '+' && r[1] >= '0' && r[1] <= '9')) {
            const char *end = r, *last_digit = r;
            int digits = 0;
            for (; phone_char(*end); end++)
                if (*end >= '0' && *end <= '9') {
                    digits++;
                    last_digit = end;
                }
            if (digits >= 8) {
                w = put(w, TEL, sizeof TEL - 1);
                r = last_digit + 1;
                continue;
            }
            w = put(w, r, (size_t)(end - r));
            r = end;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}
