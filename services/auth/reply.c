/* Reply pieces and internal-error answers shared by the auth handlers. */
#include "reply.h"

#include "bp.h"

auth_ctx *auth_ctx_of(bp_call *call)
{
    return bp_call_worker(call)->app;
}

auth_origin auth_origin_of(bp_call *call)
{
    return (auth_origin){
        .request_id = bp_call_request_id(call),
        .ip = bp_call_client_ip(call),
        .user_agent = bp_call_user_agent(call),
        .role = bp_call_role(call),
    };
}

char *auth_reply_time(bp_call *call, int64_t epoch_ms)
{
    char buf[64];
    if (bp_time_format(epoch_ms, NULL, buf, sizeof buf) != 0)
        return NULL;
    return bp_call_strdup(call, buf);
}

Bp__Auth__User *auth_reply_user(bp_call *call, const auth_user *u)
{
    Bp__Auth__User *m = (Bp__Auth__User *)bp_call_message(call, &bp__auth__user__descriptor);
    if (m == NULL)
        return NULL;
    m->id = bp_call_strdup(call, u->id);
    m->email = bp_call_strdup(call, u->email);
    m->name = bp_call_strdup(call, u->name);
    m->phone = u->phone[0] != '\0' ? bp_call_strdup(call, u->phone) : NULL;
    m->role = bp_call_strdup(call, u->role);
    m->locale = bp_call_strdup(call, u->locale);
    m->created_at = auth_reply_time(call, u->created_at_ms);
    if (m->id == NULL || m->email == NULL || m->name == NULL || m->role == NULL ||
        m->locale == NULL || m->created_at == NULL || (u->phone[0] != '\0' && m->phone == NULL))
        return NULL;
    return m;
}

Bp__Auth__Consents *auth_reply_consents(bp_call *call, const auth_consents *now)
{
    Bp__Auth__Consents *c =
        (Bp__Auth__Consents *)bp_call_message(call, &bp__auth__consents__descriptor);
    if (c == NULL)
        return NULL;
    c->has_terms = c->has_marketing = c->has_whatsapp = 1;
    c->terms = now->terms;
    c->marketing = now->marketing;
    c->whatsapp = now->whatsapp;
    c->updated_at = now->updated_at_ms > 0 ? auth_reply_time(call, now->updated_at_ms) : NULL;
    c->terms_version =
        now->terms_version[0] != '\0' ? bp_call_strdup(call, now->terms_version) : NULL;
    c->current_terms_version = bp_call_strdup(call, auth_terms_version());
    if (c->current_terms_version == NULL)
        return NULL;
    return c;
}

char *auth_reply_text(bp_call *call, const PGresult *r, int row, int col)
{
    const char *v = PQgetvalue(r, row, col);
    return v[0] != '\0' ? bp_call_strdup(call, v) : NULL;
}
