/* JSON errors, the headers every response carries, and CORS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bp.h"
#include "log.h"
#include "gw_respond.h"
#include "gw_url.h"

static char cors_origins[GW_CORS_MAX_ORIGINS][256];
static size_t cors_count;

/* scheme://host[:port] with a host of letters, digits, '.', '-' (or an
 * IPv6 literal in brackets) and nothing after the port. */
static bool origin_valid(const char *s, size_t len)
{
    size_t i;
    if (len > 8 && memcmp(s, "https://", 8) == 0)
        i = 8;
    else if (len > 7 && memcmp(s, "http://", 7) == 0)
        i = 7;
    else
        return false;
    size_t host = i;
    for (; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
        if (!ok)
            return false;
    }
    return len > host;
}

int gw_cors_configure(const char *list)
{
    cors_count = 0;
    const char *cursor = list, *s;
    size_t len;
    while ((s = gw_list_next(&cursor, &len)) != NULL) {
        if (len > 0 && s[len - 1] == '/')
            len--;
        if (len == 0)
            continue;
        if (cors_count == GW_CORS_MAX_ORIGINS || len >= sizeof cors_origins[0] ||
            !origin_valid(s, len)) {
            cors_count = 0;
            return BP_EINVAL;
        }
        memcpy(cors_origins[cors_count], s, len);
        cors_origins[cors_count][len] = '\0';
        cors_count++;
    }
    return 0;
}

bool gw_cors_allowed(const char *origin)
{
    if (origin == NULL)
        return false;
    for (size_t i = 0; i < cors_count; i++)
        if (strcmp(cors_origins[i], origin) == 0)
            return true;
    return false;
}

bool gw_request_id_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n == GW_REQUEST_ID_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

static const struct {
    int status;
    const char *code;
    const char *message;
} errors[] = {
    {400, "invalid_request", "La solicitud no es válida."},
    {401, "unauthorized", "Necesitás iniciar sesión para continuar."},
    {403, "forbidden", "No tenés permiso para hacer esto."},
    {404, "not_found", "No encontramos lo que buscás."},
    {405, "method_not_allowed", "Esta ruta no admite ese método."},
    {409, "conflict", "La solicitud choca con el estado actual."},
    {413, "payload_too_large", "El cuerpo de la solicitud supera el máximo de 1 MiB."},
    {414, "uri_too_long", "La dirección de la solicitud es demasiado larga."},
    {415, "unsupported_media_type",
     "El cuerpo tiene que ser JSON (Content-Type: application/json)."},
    {422, "unprocessable", "La solicitud no cumple una regla del servicio."},
    {429, "rate_limited", "Hiciste demasiadas solicitudes. Probá de nuevo en un rato."},
    {431, "headers_too_large", "Los encabezados de la solicitud son demasiados o muy grandes."},
    {500, "internal", "Ocurrió un error interno. Probá de nuevo en unos minutos."},
    {501, "not_implemented", "Esta operación todavía no está disponible."},
    {502, "bad_gateway", "Un servicio interno respondió algo inesperado."},
    {503, "unavailable",
     "El servicio no está disponible en este momento. Probá de nuevo en unos "
     "minutos."},
    {504, "timeout", "El servicio tardó demasiado en responder. Probá de nuevo."},
};

/* The row of status, else of 500 for server errors and 400 for the rest. */
static size_t error_index(int status)
{
    int want = status;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < BP_COUNTOF(errors); i++)
            if (errors[i].status == want)
                return i;
        want = status >= 500 ? 500 : 400;
    }
    return 0;
}

const char *gw_error_code(int status)
{
    return errors[error_index(status)].code;
}

const char *gw_error_message(int status)
{
    return errors[error_index(status)].message;
}

char *gw_error_body(const char *code, const char *message, const char *request_id,
                    const char *field)
{
    json_t *err = json_object();
    json_t *doc = json_object();
    char *out = NULL;
    if (err == NULL || doc == NULL)
        goto out;
    if (json_object_set_new(err, "code", json_string(code)) != 0 ||
        json_object_set_new(err, "message", json_string(message)) != 0 ||
        json_object_set_new(err, "request_id", json_string(request_id)) != 0 ||
        (field != NULL && field[0] != '\0' &&
         json_object_set_new(err, "field", json_string(field)) != 0))
        goto out;
    if (json_object_set(doc, "error", err) != 0)
        goto out;
    out = json_dumps(doc, JSON_COMPACT);
out:
    json_decref(err);
    json_decref(doc);
    return out;
}

struct MHD_Response *gw_response_new(char *body, size_t len, const char *content_type,
                                     const gw_resp_meta *meta)
{
    struct MHD_Response *resp =
        len > 0 ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
                : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL || len == 0)
        free(body);
    if (resp == NULL)
        return NULL;

    bool own_cache = false;
    for (size_t i = 0; i < meta->n_extra; i++)
        own_cache = own_cache || strcasecmp(meta->extra[i].name, "Cache-Control") == 0;
    bool ok =
        MHD_add_response_header(resp, "X-Request-Id", meta->request_id) == MHD_YES &&
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES &&
        MHD_add_response_header(resp, "X-Frame-Options", "DENY") == MHD_YES &&
        MHD_add_response_header(resp, "Strict-Transport-Security",
                                "max-age=31536000; includeSubDomains") == MHD_YES &&
        (own_cache || MHD_add_response_header(resp, "Cache-Control", "no-store") == MHD_YES) &&
        MHD_add_response_header(resp, "Vary", "Origin") == MHD_YES;
    for (size_t i = 0; ok && i < meta->n_extra; i++)
        ok = MHD_add_response_header(resp, meta->extra[i].name, meta->extra[i].value) == MHD_YES;
    if (ok && meta->rate != NULL && meta->rate->checked) {
        char limit[24], remaining[24], reset[24], retry[24];
        snprintf(limit, sizeof limit, "%ld", meta->rate->limit);
        snprintf(remaining, sizeof remaining, "%ld", meta->rate->remaining);
        snprintf(reset, sizeof reset, "%ld", meta->rate->reset_s);
        snprintf(retry, sizeof retry, "%ld", meta->rate->retry_after_s);
        ok =
            MHD_add_response_header(resp, "RateLimit-Limit", limit) == MHD_YES &&
            MHD_add_response_header(resp, "RateLimit-Remaining", remaining) == MHD_YES &&
            MHD_add_response_header(resp, "RateLimit-Reset", reset) == MHD_YES &&
            (meta->rate->allowed || MHD_add_response_header(resp, "Retry-After", retry) == MHD_YES);
    }
    if (ok && content_type != NULL)
        ok = MHD_add_response_header(resp, "Content-Type", content_type) == MHD_YES;
    if (ok && meta->allow != NULL && !meta->preflight)
        ok = MHD_add_response_header(resp, "Allow", meta->allow) == MHD_YES;
    if (ok && gw_cors_allowed(meta->origin)) {
        ok =
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", meta->origin) == MHD_YES &&
            MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                    GW_CORS_EXPOSE_HEADERS) == MHD_YES;
        if (ok && meta->preflight)
            ok =
                MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                        meta->allow != NULL ? meta->allow : GW_CORS_ALL_METHODS) ==
                    MHD_YES &&
                MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                        GW_CORS_ALLOW_HEADERS) == MHD_YES &&
                MHD_add_response_header(resp, "Access-Control-Max-Age", GW_CORS_MAX_AGE) == MHD_YES;
    }
    if (ok && meta->preflight)
        ok = MHD_add_response_header(
                 resp, "Allow", meta->allow != NULL ? meta->allow : GW_CORS_ALL_METHODS) == MHD_YES;
    if (ok && meta->close)
        ok = MHD_add_response_header(resp, "Connection", "close") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

static enum MHD_Result queue(gw_request *req, int status, char *body, size_t len,
                             const char *content_type, bool preflight)
{
    gw_resp_meta meta = {
        .request_id = req->request_id,
        .origin = req->origin,
        .allow = req->match.allow[0] != '\0' ? req->match.allow : NULL,
        .preflight = preflight,
        .close = req->closing,
        .rate = &req->rate,
        .extra = req->extra,
        .n_extra = req->n_extra,
    };
    struct MHD_Response *resp = gw_response_new(body, len, content_type, &meta);
    if (resp == NULL) {
        bp_log(BP_LOG_ERROR, req->request_id, "out of memory building a %d response", status);
        return MHD_NO;
    }
    enum MHD_Result rv = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    req->phase = GW_PHASE_ANSWERED;
    if (rv == MHD_YES)
        req->status = status;
    return rv;
}

enum MHD_Result gw_answer(gw_request *req, int status, char *body, size_t len,
                          const char *content_type)
{
    return queue(req, status, body, len, content_type, false);
}

enum MHD_Result gw_answer_json(gw_request *req, int status, json_t *doc)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return gw_answer_error(req, 500, NULL, NULL, NULL);
    return gw_answer(req, status, text, strlen(text), GW_JSON);
}

enum MHD_Result gw_answer_error(gw_request *req, int status, const char *code, const char *message,
                                const char *field)
{
    char *body =
        gw_error_body(code != NULL ? code : gw_error_code(status),
                      message != NULL ? message : gw_error_message(status), req->request_id, field);
    if (body == NULL)
        return MHD_NO;
    return gw_answer(req, status, body, strlen(body), GW_JSON);
}

bool gw_request_add_header(gw_request *req, const char *name, const char *value)
{
    if (req->n_extra == GW_EXTRA_HEADERS)
        return false;
    req->extra[req->n_extra++] = (gw_header){name, value};
    return true;
}

enum MHD_Result gw_answer_preflight(gw_request *req)
{
    return queue(req, 204, NULL, 0, NULL, true);
}
