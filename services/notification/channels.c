/* What the channels share: their settings' loading and a JSON POST. */
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
