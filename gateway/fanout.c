/* Concurrent calls to every service for the operations endpoints. */
#include <assert.h>
#include <string.h>

#include "bp.h"
#include "gw_fanout.h"
#include "gw_services.h"

static void on_done(void *arg, int rv, Bp__Rpc__Reply *reply)
{
    gw_fan_slot *slot = arg;
    gw_request *req = slot->req; /* read before the count: req may go after it */
    slot->rv = rv;
    slot->reply = reply;
    if (atomic_fetch_sub(&req->fan.pending, 1) == 1)
        gw_request_resume(req);
}

bool gw_fanout_start(gw_request *req, const char *method, int timeout_ms)
{
    size_t n = gw_services_count();
    assert(n > 0 && n <= GW_MAX_FANOUT);
    for (size_t i = 0; i < n; i++) {
        req->fan.slots[i].req = req;
        req->fan.slots[i].rv = BP_EUNAVAIL;
        req->fan.slots[i].reply = NULL;
    }
    req->fan.n = n;
    atomic_store(&req->fan.pending, n);
    if (!gw_request_suspend(req))
        return false;
    /* After the last call starts, req belongs to the callbacks. */
    for (size_t i = 0; i < n; i++) {
        const gw_service *svc = gw_service_at(i);
        gw_fan_slot *slot = &req->fan.slots[i];
        bp_rpc_args a;
        memset(&a, 0, sizeof a);
        a.method = method;
        a.request_id = req->request_id;
        a.timeout_ms = timeout_ms;
        if (svc->client == NULL)
            on_done(slot, BP_EUNAVAIL, NULL);
        else
            bp_client_call_async(svc->client, &a, on_done, slot);
    }
    return true;
}

int gw_fanout_status(const gw_fan_slot *slot)
{
    if (slot->rv != 0 || slot->reply == NULL || !slot->reply->has_status)
        return 0;
    return slot->reply->status;
}
