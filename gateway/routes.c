/* THE route table and the matcher. One row per endpoint; the JSON body,
 * path and query parameters of a bus route are converted generically into
 * the RPC's input message (proxy.c), or handed over as they came when the
 * RPC takes bp.common.HttpRequest (raw.c), so a row is all an endpoint
 * needs. */
#include <stdio.h>
#include <string.h>

#include "bp.h"
#include "log.h"
#include "gw_business.h"
#include "gw_health.h"
#include "gw_metrics.h"
#include "gw_openapi.h"
#include "gw_routes.h"
#include "gw_services.h"
#include "gw_status.h"
#include "gw_uploads.h"

/* One row per endpoint: method, pattern, service, RPC, auth, rate-limit
 * class, and the handler for the gateway's own rows. Literal rows go before
 * {param} rows that could match the same path. */
static const gw_route routes[] = {
    /* Auth and users (auth daemon) */
    {"POST", "/api/auth/register", "auth", "SignUp", GW_AUTH_PUBLIC, GW_RATE_AUTH, NULL},
    {"POST", "/api/auth/login", "auth", "Login", GW_AUTH_PUBLIC, GW_RATE_AUTH, NULL},
    {"POST", "/api/auth/logout", "auth", "Logout", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/auth/me", "auth", "Me", GW_AUTH_USER, GW_RATE_API, NULL},
    {"PATCH", "/api/users/me", "auth", "UpdateMe", GW_AUTH_USER, GW_RATE_API, NULL},
    {"DELETE", "/api/users/me", "auth", "EraseMe", GW_AUTH_USER, GW_RATE_API, NULL},
    {"PUT", "/api/users/me/consents", "auth", "PutConsents", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/users/me/export", "auth", "ExportMe", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/admin/audit", "auth", "ListAudit", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/admin/data-requests/{request_id}", "auth", "GetDataRequest", GW_AUTH_USER,
     GW_RATE_API, NULL},
    /* Shops, services, providers (booking daemon) */
    {"POST", "/api/shops", "booking", "CreateShop", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/shops", "booking", "ListShops", GW_AUTH_PUBLIC, GW_RATE_API, NULL},
    {"GET", "/api/shops/{shop_id}", "booking", "GetShop", GW_AUTH_PUBLIC, GW_RATE_API, NULL},
    {"PATCH", "/api/shops/{shop_id}", "booking", "UpdateShop", GW_AUTH_USER, GW_RATE_API, NULL},
    {"PUT", "/api/shops/{shop_id}/open-days/{date}", "booking", "OpenDay", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"DELETE", "/api/shops/{shop_id}/open-days/{date}", "booking", "CloseDay", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"POST", "/api/shops/{shop_id}/services", "booking", "CreateService", GW_AUTH_USER, GW_RATE_API,
     NULL},
    {"GET", "/api/shops/{shop_id}/services", "booking", "ListServices", GW_AUTH_PUBLIC, GW_RATE_API,
     NULL},
    {"POST", "/api/shops/{shop_id}/prices/raise", "booking", "RaisePrices", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"PATCH", "/api/services/{service_id}", "booking", "UpdateService", GW_AUTH_USER, GW_RATE_API,
     NULL},
    {"GET", "/api/services/{service_id}/prices", "booking", "ListServicePrices", GW_AUTH_PUBLIC,
     GW_RATE_API, NULL},
    {"POST", "/api/shops/{shop_id}/providers", "booking", "CreateProvider", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"GET", "/api/shops/{shop_id}/providers", "booking", "ListProviders", GW_AUTH_PUBLIC,
     GW_RATE_API, NULL},
    {"GET", "/api/providers/{provider_id}", "booking", "GetProvider", GW_AUTH_PUBLIC, GW_RATE_API,
     NULL},
    {"PATCH", "/api/providers/{provider_id}", "booking", "UpdateProvider", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"GET", "/api/providers/{provider_id}/schedule", "booking", "GetSchedule", GW_AUTH_PUBLIC,
     GW_RATE_API, NULL},
    {"PUT", "/api/providers/{provider_id}/schedule", "booking", "PutSchedule", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"POST", "/api/providers/{provider_id}/time-off", "booking", "CreateTimeOff", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"GET", "/api/providers/{provider_id}/time-off", "booking", "ListTimeOff", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"DELETE", "/api/providers/{provider_id}/time-off/{time_off_id}", "booking", "DeleteTimeOff",
     GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/providers/{provider_id}/availability", "booking", "Availability", GW_AUTH_PUBLIC,
     GW_RATE_API, NULL},
    {"GET", "/api/holidays", "booking", "ListHolidays", GW_AUTH_PUBLIC, GW_RATE_API, NULL},
    {"POST", "/api/holidays", "booking", "AddHoliday", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/exchange-rate", "booking", "ExchangeRate", GW_AUTH_PUBLIC, GW_RATE_API, NULL},
    /* Bookings (booking daemon) */
    {"POST", "/api/bookings", "booking", "CreateBooking", GW_AUTH_USER, GW_RATE_BOOKING, NULL},
    {"GET", "/api/bookings", "booking", "ListBookings", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/bookings/{booking_id}", "booking", "GetBooking", GW_AUTH_USER, GW_RATE_API, NULL},
    {"POST", "/api/bookings/{booking_id}/cancel", "booking", "CancelBooking", GW_AUTH_USER,
     GW_RATE_BOOKING, NULL},
    {"POST", "/api/bookings/{booking_id}/reschedule", "booking", "RescheduleBooking", GW_AUTH_USER,
     GW_RATE_BOOKING, NULL},
    {"POST", "/api/bookings/{booking_id}/complete", "booking", "CompleteBooking", GW_AUTH_USER,
     GW_RATE_API, NULL},
    {"POST", "/api/bookings/{booking_id}/no-show", "booking", "MarkNoShow", GW_AUTH_USER,
     GW_RATE_API, NULL},
    /* Payments (payment daemon) */
    {"POST", "/api/payments/checkout", "payment", "Checkout", GW_AUTH_USER, GW_RATE_PAYMENTS, NULL},
    {"POST", "/api/payments/manual", "payment", "ManualPayment", GW_AUTH_USER, GW_RATE_PAYMENTS,
     NULL},
    {"GET", "/api/payments", "payment", "ListPayments", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/payments/{payment_id}", "payment", "GetPayment", GW_AUTH_USER, GW_RATE_API, NULL},
    {"POST", "/api/payments/{payment_id}/refund", "payment", "Refund", GW_AUTH_USER,
     GW_RATE_PAYMENTS, NULL},
    /* Webhooks: RPCs taking bp.common.HttpRequest get the raw request (raw.c) */
    {"POST", "/api/webhooks/mercadopago", "payment", "MercadoPagoWebhook", GW_AUTH_PUBLIC,
     GW_RATE_NONE, NULL},
    /* Notifications (notification daemon) */
    {"GET", "/api/notifications", "notification", "ListNotifications", GW_AUTH_USER, GW_RATE_API,
     NULL},
    {"GET", "/api/webhooks/whatsapp", "notification", "WhatsAppVerify", GW_AUTH_PUBLIC,
     GW_RATE_NONE, NULL},
    {"POST", "/api/webhooks/whatsapp", "notification", "WhatsAppStatus", GW_AUTH_PUBLIC,
     GW_RATE_NONE, NULL},
    {"POST", "/api/webhooks/twilio", "notification", "TwilioStatus", GW_AUTH_PUBLIC, GW_RATE_NONE,
     NULL},
    /* Backups (backup daemon) */
    {"POST", "/api/admin/backups", "backup", "StartBackup", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/admin/backups", "backup", "ListBackups", GW_AUTH_USER, GW_RATE_API, NULL},
    /* Operations (the gateway itself) */
    {"GET", "/api/health", NULL, NULL, GW_AUTH_PUBLIC, GW_RATE_NONE, &gw_health_op},
    {"GET", "/api/metrics", NULL, NULL, GW_AUTH_PUBLIC, GW_RATE_NONE, &gw_metrics_op},
    {"GET", "/api/business-metrics", NULL, NULL, GW_AUTH_PUBLIC, GW_RATE_NONE, &gw_business_op},
    {"GET", "/api/openapi.json", NULL, NULL, GW_AUTH_PUBLIC, GW_RATE_NONE, &gw_openapi_op},
    /* Uploads (the gateway itself: streamed to UPLOAD_DIR, served from it) */
    {"POST", "/api/uploads", NULL, NULL, GW_AUTH_USER, GW_RATE_API, &gw_upload_op},
    {"GET", "/uploads/{name}", NULL, NULL, GW_AUTH_PUBLIC, GW_RATE_NONE, &gw_upload_file_op},
    {"GET", "/status", NULL, NULL, GW_AUTH_PUBLIC, GW_RATE_NONE, &gw_status_op},
};

static const ProtobufCMethodDescriptor *resolved[BP_COUNTOF(routes)];

const gw_route *gw_routes(size_t *n)
{
    *n = BP_COUNTOF(routes);
    return routes;
}

const ProtobufCMethodDescriptor *gw_route_rpc(size_t index)
{
    return index < BP_COUNTOF(routes) ? resolved[index] : NULL;
}

const char *gw_auth_name(gw_auth a)
{
    switch (a) {
    case GW_AUTH_PUBLIC:
        return "public";
    case GW_AUTH_USER:
        return "user";
    case GW_AUTH_OPTIONAL:
        return "optional";
    }
    return "?";
}

const char *gw_rate_name(gw_rate_class c)
{
    switch (c) {
    case GW_RATE_NONE:
        return "none";
    case GW_RATE_API:
        return "api";
    case GW_RATE_AUTH:
        return "auth";
    case GW_RATE_BOOKING:
        return "booking";
    case GW_RATE_PAYMENTS:
        return "payments";
    }
    return "?";
}

bool gw_route_pattern_valid(const char *p)
{
    size_t segments = 0, params = 0;
    if (p[0] != '/')
        return false;
    while (*p == '/') {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t len = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || ++segments > GW_MAX_SEGMENTS)
            return false;
        if (seg[0] == '{') {
            if (len < 3 || seg[len - 1] != '}' || len - 2 >= GW_PARAM_NAME_MAX ||
                ++params > GW_MAX_PARAMS)
                return false;
            for (size_t i = 1; i + 1 < len; i++)
                if (!((seg[i] >= 'a' && seg[i] <= 'z') || (seg[i] >= '0' && seg[i] <= '9') ||
                      seg[i] == '_'))
                    return false;
        } else {
            for (size_t i = 0; i < len; i++)
                if (seg[i] == '{' || seg[i] == '}' || seg[i] == '%')
                    return false;
        }
        p = seg + len;
    }
    return *p == '\0';
}

int gw_routes_init(void)
{
    for (size_t i = 0; i < BP_COUNTOF(routes); i++) {
        const gw_route *r = &routes[i];
        if (!gw_route_pattern_valid(r->pattern)) {
            bp_log_error("route %s %s: bad pattern", r->method, r->pattern);
            return BP_EINVAL;
        }
        if (r->service == NULL) {
            if (r->op == NULL) {
                bp_log_error("route %s %s: neither a service nor a handler", r->method, r->pattern);
                return BP_EINVAL;
            }
            continue;
        }
        const gw_service *svc = gw_service_find(r->service);
        if (svc == NULL) {
            bp_log_error("route %s %s: unknown service %s", r->method, r->pattern, r->service);
            return BP_EINVAL;
        }
        resolved[i] = protobuf_c_service_descriptor_get_method_by_name(svc->descriptor, r->rpc);
        if (resolved[i] == NULL) {
            bp_log_error("route %s %s: service %s has no RPC %s", r->method, r->pattern, r->service,
                         r->rpc);
            return BP_EINVAL;
        }
    }
    return 0;
}

typedef struct {
    const char *p; /* decoded, inside gw_match.text */
    size_t len;
} segment;

/* Does pattern match the decoded segments? When it does and m is not NULL,
 * the {param} values are stored in m. */
static bool pattern_match(const char *pattern, const segment *segs, size_t n, gw_match *m)
{
    const char *p = pattern;
    size_t k = 0;
    while (*p == '/') {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t len = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if (k == n)
            return false;
        if (seg[0] == '{') {
            if (m != NULL) {
                gw_path_param *param = &m->params[m->n_params++];
                memcpy(param->name, seg + 1, len - 2);
                param->name[len - 2] = '\0';
                param->value = segs[k].p;
            }
        } else if (len != segs[k].len || memcmp(seg, segs[k].p, len) != 0) {
            return false;
        }
        k++;
        p = seg + len;
    }
    return k == n;
}

/* Appends method to the comma-separated allow list unless already there. */
static void allow_add(char *allow, size_t size, const char *method)
{
    size_t mlen = strlen(method);
    for (const char *a = allow; *a != '\0';) {
        const char *comma = strchr(a, ',');
        size_t len = comma != NULL ? (size_t)(comma - a) : strlen(a);
        if (len == mlen && memcmp(a, method, len) == 0)
            return;
        a += len;
        while (*a == ',' || *a == ' ')
            a++;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, size - used, "%s%s", used > 0 ? ", " : "", method);
}

gw_match_result gw_route_match(const char *method, const char *path, size_t len, gw_match *m)
{
    return gw_route_match_in(routes, BP_COUNTOF(routes), method, path, len, m);
}

gw_match_result gw_route_match_in(const gw_route *table, size_t n_routes, const char *method,
                                  const char *path, size_t len, gw_match *m)
{
    segment segs[GW_MAX_SEGMENTS];
    size_t n = 0;
    char *text = m->text;

    m->route = NULL;
    m->index = 0;
    m->n_params = 0;
    m->allow[0] = '\0';
    if (len > GW_MAX_TARGET)
        return GW_MATCH_TOO_LONG;
    if (len == 0 || path[0] != '/')
        return GW_MATCH_NOT_FOUND;

    size_t pos = 1;
    for (;;) {
        const char *seg = path + pos;
        const char *slash = memchr(seg, '/', len - pos);
        size_t seg_len = slash != NULL ? (size_t)(slash - seg) : len - pos;
        if (seg_len == 0) {
            if (slash == NULL && n > 0)
                break; /* one trailing slash */
            return GW_MATCH_NOT_FOUND;
        }
        if (n == GW_MAX_SEGMENTS)
            return GW_MATCH_NOT_FOUND; /* longer than any pattern */
        size_t dlen;
        if (gw_url_decode(seg, seg_len, false, text, &dlen) != 0)
            return GW_MATCH_BAD_PATH;
        segs[n].p = text;
        segs[n].len = dlen;
        n++;
        text += dlen + 1;
        if (slash == NULL)
            break;
        pos += seg_len + 1;
    }

    bool path_known = false;
    for (size_t i = 0; i < n_routes; i++) {
        if (!pattern_match(table[i].pattern, segs, n, NULL))
            continue;
        if (strcmp(table[i].method, method) == 0) {
            m->route = &table[i];
            m->index = i;
            m->allow[0] = '\0'; /* only a 405 carries Allow */
            pattern_match(table[i].pattern, segs, n, m);
            return GW_MATCH_OK;
        }
        path_known = true;
        allow_add(m->allow, sizeof m->allow, table[i].method);
    }
    if (!path_known)
        return GW_MATCH_NOT_FOUND;
    allow_add(m->allow, sizeof m->allow, "OPTIONS");
    return GW_MATCH_METHOD;
}
