/* The gateway's request metrics and GET /api/metrics: the gateway's own
 * series (labelled service="gateway"), every daemon's Metrics text (they
 * label theirs), merged family by family, and barberpro_service_up
 * {service} telling which daemons answered. A daemon that is down is left
 * out of the text, not an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "bp.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"
#include "gw_fanout.h"
#include "gw_metrics.h"
#include "gw_promtext.h"
#include "gw_respond.h"
#include "gw_server.h"
#include "gw_services.h"

static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"};
    for (size_t i = 0; i < BP_COUNTOF(known); i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "OTHER";
}

void gw_metrics_observe(const char *route, const char *method, int status, double seconds)
{
    char route_esc[256], labels[384];
    bp_metrics_escape(route, route_esc, sizeof route_esc);
    snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"", route_esc,
             method_label(method), status);
    bp_histogram_observe(bp_metrics_histogram("http_request_duration_seconds",
                                              "Time from the request line to the end of the "
                                              "answer, by route pattern, method and status.",
                                              labels, NULL, 0),
                         seconds);
    bp_counter_add(bp_metrics_counter("http_requests_total",
                                      "HTTP requests answered, by route pattern, method and "
                                      "status.",
                                      labels),
                   1);
}

static enum MHD_Result metrics_start(gw_request *req)
{
    if (!gw_fanout_start(req, "Metrics", gw_server_config(req->srv)->ops_timeout_ms, true))
        return gw_answer_error(req, 503, NULL, NULL, NULL);
    return MHD_YES;
}

enum MHD_Result gw_metrics_answer(gw_request *req, const char *own, const char *up_name,
                                  const char *up_help)
{
    Bp__Common__MetricsReply *replies[GW_MAX_FANOUT] = {NULL};
    const char *docs[GW_MAX_FANOUT + 2] = {NULL};
    /* An instance among several is told apart by its bus address. */
    char instance_label[GW_MAX_FANOUT][BP_BUS_URL_LEN + 32];
    const char *labels[GW_MAX_FANOUT + 2] = {NULL};
    bp_strbuf up = {0};
    bp_strbuf_printf(&up, "# HELP %s %s\n# TYPE %s gauge\n", up_name, up_help, up_name);
    docs[0] = own;
    for (size_t i = 0; i < req->fan.n; i++) {
        const gw_fan_slot *slot = &req->fan.slots[i];
        const gw_service *svc = gw_service_at(slot->service);
        int status = gw_fanout_status(slot);
        if (status >= 200 && status < 300) {
            const Bp__Rpc__Reply *r = slot->reply;
            replies[i] =
                bp__common__metrics_reply__unpack(NULL, r->has_body ? r->body.len : 0,
                                                  r->has_body ? r->body.data : (const uint8_t *)"");
        }
        if (slot->instance >= 0) {
            /* Bus addresses are checked at start (no quote, no newline). */
            snprintf(instance_label[i], sizeof instance_label[i], "bus_address=\"%s\"",
                     svc->addr[slot->instance]);
            labels[2 + i] = instance_label[i];
        }
        /* An empty text (a daemon without figures) leaves the field unset. */
        bool ok = replies[i] != NULL;
        if (ok)
            docs[2 + i] = replies[i]->text;
        else
            bp_log(BP_LOG_DEBUG, req->request_id, "%s: %s%s%s did not answer (%s, status %d)",
                   up_name, svc->name, labels[2 + i] != NULL ? " at " : "",
                   labels[2 + i] != NULL ? svc->addr[slot->instance] : "", bp_strerror(slot->rv),
                   status);
        bp_strbuf_printf(&up, "%s{service=\"%s\"%s%s} %d\n", up_name, svc->name,
                         labels[2 + i] != NULL ? "," : "",
                         labels[2 + i] != NULL ? labels[2 + i] : "", ok);
    }
    char *up_text = bp_strbuf_take(&up);
    docs[1] = up_text;

    char *text = up_text != NULL ? gw_prom_merge_labelled(docs, labels, req->fan.n + 2) : NULL;
    free(up_text);
    for (size_t i = 0; i < req->fan.n; i++)
        if (replies[i] != NULL)
            bp__common__metrics_reply__free_unpacked(replies[i], NULL);
    if (text == NULL)
        return gw_answer_error(req, 500, NULL, NULL, NULL);
    return gw_answer(req, 200, text, strlen(text), GW_PROM_TEXT);
}

static enum MHD_Result metrics_finish(gw_request *req)
{
    char *own = bp_metrics_render("service=\"gateway\"");
    if (own == NULL)
        return gw_answer_error(req, 500, NULL, NULL, NULL);
    enum MHD_Result rv = gw_metrics_answer(
        req, own, "barberpro_service_up",
        "Whether the service answered the gateway's Metrics call (1) or not (0).");
    free(own);
    return rv;
}

const gw_op gw_metrics_op = {.start = metrics_start, .finish = metrics_finish};
