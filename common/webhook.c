#include <string.h>

#include "webhook.h"

const char *bp_webhook_field(Bp__Common__HttpField *const *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (fields[i]->name != NULL && strcmp(fields[i]->name, name) == 0)
            return fields[i]->value;
    return NULL;
}

void bp_webhook_reply(Bp__Common__HttpReply *out, const char *content_type, const char *body)
{
    out->content_type = (char *)(content_type != NULL ? content_type : "application/json");
    out->has_body = 1;
    out->body.data = (uint8_t *)body;
    out->body.len = strlen(body);
}
