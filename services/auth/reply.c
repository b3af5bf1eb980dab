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
