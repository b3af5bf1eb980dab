/* GET /api/health: 200 {"status":"ok","services":{"auth":"ok",...}} when
 * every service answers its Health call with "ok" within
 * min(RPC_TIMEOUT_MS, 2000) ms, else 503 with status "degraded" and each
 * failing service's reason ("unavailable", "timeout", "bad_reply", or what
 * the service reported). */
#include <string.h>

#include "common.pb-c.h"
#include "bp.h"
#include "gw_fanout.h"
#include "gw_health.h"
#include "gw_respond.h"
#include "gw_server.h"
#include "gw_services.h"

enum MHD_Result gw_health_start(gw_request *req)
{
    if (!gw_fanout_start(req, "Health", gw_server_config(req->srv)->ops_timeout_ms, false))
        return gw_answer_error(req, 503, NULL, NULL, NULL);
    return MHD_YES;
}

/* Copies s as printable ASCII into out and returns out, or fallback when s
 * is NULL or empty. */
static const char *copy_printable(char *out, size_t size, const char *s, const char *fallback)
{
    size_t n = 0;
    for (; s != NULL && s[n] != '\0' && n + 1 < size; n++)
        out[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
    out[n] = '\0';
    return n > 0 ? out : fallback;
}

const char *gw_health_state(const gw_fan_slot *slot, char *reason, size_t size)
{
    switch (slot->rv) {
    case 0:
        break;
    case BP_EUNAVAIL:
        return "unavailable";
    case BP_ETIMEDOUT:
        return "timeout";
    default:
        return "bad_reply";
    }
    int status = gw_fanout_status(slot);
    if (status >= 300 || status < 200) {
        const Bp__Rpc__Error *e = slot->reply->error;
        return copy_printable(reason, size, e != NULL ? e->code : NULL, "error");
    }
    const Bp__Rpc__Reply *r = slot->reply;
    Bp__Common__HealthReply *h = bp__common__health_reply__unpack(
        NULL, r->has_body ? r->body.len : 0, r->has_body ? r->body.data : (const uint8_t *)"");
    if (h == NULL)
        return "bad_reply";
    const char *state = h->status != NULL && strcmp(h->status, "ok") == 0
                            ? "ok"
                            : copy_printable(reason, size, h->status, "error");
    bp__common__health_reply__free_unpacked(h, NULL);
    return state;
}

static enum MHD_Result health_finish(gw_request *req)
{
    json_t *services = json_object();
    bool all_ok = true;
    for (size_t i = 0; i < req->fan.n; i++) {
        char reason[64];
        const char *state = gw_health_state(&req->fan.slots[i], reason, sizeof reason);
        all_ok = all_ok && strcmp(state, "ok") == 0;
        json_object_set_new(services, gw_service_at(i)->name, json_string(state));
    }
    json_t *doc =
        json_pack("{s:s,s:o}", "status", all_ok ? "ok" : "degraded", "services", services);
    return gw_answer_json(req, all_ok ? 200 : 503, doc);
}

const gw_op gw_health_op = {.start = gw_health_start, .finish = health_finish};
