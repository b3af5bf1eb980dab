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

bool gw_fanout_start(gw_request *req, const char *method, int timeout_ms, bool each_instance)
{
    size_t n = 0;
    for (size_t i = 0; i < gw_services_count(); i++) {
        const gw_service *svc = gw_service_at(i);
        size_t k_max = each_instance && svc->n_instances > 1 ? svc->n_instances : 1;
        for (size_t k = 0; k < k_max; k++) {
            assert(n < GW_MAX_FANOUT); /* gw_services_open refuses more */
            gw_fan_slot *slot = &req->fan.slots[n++];
            slot->req = req;
            slot->rv = BP_EUNAVAIL;
            slot->reply = NULL;
            slot->service = (unsigned short)i;
            slot->instance = k_max > 1 ? (short)k : -1;
        }
    }
    assert(n > 0);
    req->fan.n = n;
    atomic_store(&req->fan.pending, n);
    if (!gw_request_suspend(req))
        return false;
    /* After the last call starts, req belongs to the callbacks. */
    for (size_t i = 0; i < n; i++) {
        gw_fan_slot *slot = &req->fan.slots[i];
        const gw_service *svc = gw_service_at(slot->service);
        bp_client *c = slot->instance >= 0 ? svc->instances[slot->instance] : svc->client;
        bp_rpc_args a;
        memset(&a, 0, sizeof a);
        a.method = method;
        a.request_id = req->request_id;
        a.timeout_ms = timeout_ms;
        if (c == NULL)
            on_done(slot, BP_EUNAVAIL, NULL);
        else
            bp_client_call_async(c, &a, on_done, slot);
    }
    return true;
}

int gw_fanout_status(const gw_fan_slot *slot)
{
    if (slot->rv != 0 || slot->reply == NULL || !slot->reply->has_status)
        return 0;
    return slot->reply->status;
}
