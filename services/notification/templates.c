/* The notification templates as data, and their rendering: placeholders in
 * braces, optional segments in brackets, es-AR dates and amounts, and the
 * quiet-hours rule for reminders. */
#include "templates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "money.h"
#include "strbuf.h"
#include "tz.h"

#define DAY  86400
#define HOUR 3600

/* Reminders are not sent from 22:00 to 08:00 local time unless the appointment
 * starts before 10:00; one due then goes out at 21:00 the evening before. */
#define QUIET_FROM    (22 * HOUR)
#define QUIET_UNTIL   (8 * HOUR)
#define EXEMPT_BEFORE (10 * HOUR)
#define QUIET_MOVE_TO (21 * HOUR)

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the instants a date is
 * written for, which also keeps every offset and day sum far from overflow. */
#define WHEN_MIN ((int64_t)-62167219200)
#define WHEN_MAX ((int64_t)253402300799)

/* The variables a template can name, in the order of placeholder_names. */
enum {
    VAR_CLIENT,
    VAR_SHOP,
    VAR_SERVICE,
    VAR_PROVIDER,
    VAR_WHEN,
    VAR_PREVIOUS_WHEN,
    VAR_AMOUNT,
    VAR_REASON,
    VAR_COUNT
};

static const char *const placeholder_names[VAR_COUNT] = {
    "client", "shop", "service", "provider", "when", "previous_when", "amount", "reason",
};

/* One message. In subject and text, {name} is a variable the message needs
 * (rendering fails without it) and [ ... ] a segment left out when any variable
 * inside it is absent; brackets do not nest. params names, in order, the
 * variables that become the WhatsApp body parameters {{1}}, {{2}}, ... of the
 * template approved at Meta under the name whatsapp (language es_AR). */
typedef struct {
    const char *id;
    const char *whatsapp;
    const char *subject;
    const char *text;
    const char *params[NOTIFICATION_PARAMS_MAX];
} notification_template;

/* Adding a message is adding a row (and its WhatsApp template at Meta). */
static const notification_template templates[] = {
    {
        .id = "booking_confirmed",
        .whatsapp = "turno_confirmado",
        .subject = "Tu turno en {shop} está confirmado",
        .text = "Hola {client}: tu turno de {service} con {provider} en {shop} quedó confirmado "
                "para el {when}. ¡Te esperamos!",
        .params = {"client", "service", "provider", "shop", "when"},
    },
    {
        .id = "booking_rescheduled",
        .whatsapp = "turno_reprogramado",
        .subject = "Cambiamos tu turno en {shop}",
        .text = "Hola {client}: tu turno de {service} con {provider} en {shop} pasó del "
                "{previous_when} al {when}. ¡Te esperamos!",
        .params = {"client", "service", "provider", "shop", "previous_when", "when"},
    },
    {
        .id = "booking_cancelled",
        .whatsapp = "turno_cancelado",
        .subject = "Tu turno en {shop} fue cancelado",
        .text = "Hola {client}: tu turno de {service} con {provider} en {shop} del {when} fue "
                "cancelado.[ Motivo: {reason}.] Cuando quieras, podés reservar otro.",
        .params = {"client", "service", "provider", "shop", "when", "reason"},
    },
    {
        .id = "booking_expired",
        .whatsapp = "reserva_vencida",
        .subject = "Tu reserva en {shop} venció",
        .text = "Hola {client}: tu reserva de {service} en {shop} para el {when} venció porque no "
                "recibimos el pago a tiempo. Si todavía te sirve el horario, podés reservarlo "
                "de nuevo.",
        .params = {"client", "service", "shop", "when"},
    },
    {
        .id = "payment_received",
        .whatsapp = "pago_recibido",
        .subject = "Recibimos tu pago en {shop}",
        .text = "Hola {client}: recibimos tu pago de {amount} por tu turno de {service} en {shop} "
                "del {when}. ¡Gracias!",
        .params = {"client", "amount", "service", "shop", "when"},
    },
    {
        .id = "refund_issued",
        .whatsapp = "reembolso_emitido",
        .subject = "{shop} te devolvió {amount}",
        .text = "Hola {client}: {shop} te devolvió {amount} de tu turno de {service}. Según tu "
                "medio de pago, puede tardar unos días en verse.",
        .params = {"client", "shop", "amount", "service"},
    },
    {
        .id = "reminder_24h",
        .whatsapp = "recordatorio_turno_24h",
        .subject = "Recordatorio: tu turno en {shop}",
        .text = "Hola {client}: te recordamos tu turno de {service} con {provider} en {shop} el "
                "{when}. Si no vas a poder ir, cancelalo o cambialo desde la app.",
        .params = {"client", "service", "provider", "shop", "when"},
    },
    {
        .id = "reminder_2h",
        .whatsapp = "recordatorio_turno_2h",
        .subject = "Falta poco para tu turno en {shop}",
        .text = "Hola {client}: falta poco para tu turno de {service} con {provider} en {shop}, "
                "el {when}. ¡Te esperamos!",
        .params = {"client", "service", "provider", "shop", "when"},
    },
    {
        .id = "shop_new_booking",
        .whatsapp = "nuevo_turno_local",
        .subject = "Nuevo turno en {shop}: {client}",
        .text = "Nuevo turno en {shop}: {client} reservó {service} con {provider} para el {when}.",
        .params = {"shop", "client", "service", "provider", "when"},
    },
    {
        .id = "shop_booking_cancelled",
        .whatsapp = "turno_cancelado_local",
        .subject = "Turno cancelado en {shop}: {client}",
        .text = "Se canceló un turno en {shop}: {client}, {service} con {provider}, el {when}.[ "
                "Motivo: {reason}.] El horario quedó libre.",
        .params = {"shop", "client", "service", "provider", "when", "reason"},
    },
};

static const notification_template *find_template(const char *id)
{
    if (id == NULL)
        return NULL;
    for (size_t i = 0; i < BP_COUNTOF(templates); i++)
        if (strcmp(templates[i].id, id) == 0)
            return &templates[i];
    return NULL;
}

bool notification_template_known(const char *id)
{
    return find_template(id) != NULL;
}

size_t notification_template_count(void)
{
    return BP_COUNTOF(templates);
}

const char *notification_template_id(size_t i)
{
    return i < BP_COUNTOF(templates) ? templates[i].id : NULL;
}

static int find_placeholder(const char *name, size_t len)
{
    for (int k = 0; k < VAR_COUNT; k++)
        if (strlen(placeholder_names[k]) == len && memcmp(placeholder_names[k], name, len) == 0)
            return k;
    return -1;
}

/* ---- dates ------------------------------------------------------------- */

static const char *const weekday_names[7] = {
    "lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo",
};

static const char *const month_names[12] = {
    "enero", "febrero", "marzo",      "abril",   "mayo",      "junio",
    "julio", "agosto",  "septiembre", "octubre", "noviembre", "diciembre",
};

static int load_zone(const char *name, const bp_tz **zone)
{
    if (name == NULL || bp_tz_load(name, zone) != 0)
        return BP_EINVAL;
    return 0;
}

/* Seconds since local midnight of instant utc_s. */
static int64_t local_time_of_day(const bp_tz *zone, int64_t utc_s)
{
    int64_t local = utc_s + bp_tz_offset(zone, utc_s);
    return local - (int64_t)bp_tz_local_day(zone, utc_s) * DAY;
}

int notification_format_when(int64_t utc_s, const char *tz, char *out, size_t len)
{
    if (out == NULL || len == 0)
        return BP_EINVAL;
    out[0] = '\0';
    const bp_tz *zone;
    if (utc_s < WHEN_MIN || utc_s > WHEN_MAX || load_zone(tz, &zone) != 0)
        return BP_EINVAL;
    int32_t day = bp_tz_local_day(zone, utc_s);
    int64_t secs = local_time_of_day(zone, utc_s);
    int y, m, d;
    bp_civil_from_days(day, &y, &m, &d);
    if (y < 0 || y > 9999)
        return BP_EINVAL;
    int n = snprintf(out, len, "%s %d de %s, %02d:%02d", weekday_names[bp_iso_weekday(day) - 1], d,
                     month_names[m - 1], (int)(secs / HOUR), (int)(secs % HOUR / 60));
    if (n < 0 || (size_t)n >= len) {
        out[0] = '\0';
        return BP_EINVAL;
    }
    return 0;
}

/* ---- reminders --------------------------------------------------------- */

int notification_reminder_due(int64_t starts_s, const char *tz, int hours_before, int64_t now_s,
                              int64_t *due_s)
{
    const bp_tz *zone;
    if (due_s == NULL || (hours_before != 24 && hours_before != 2) || starts_s < WHEN_MIN ||
        starts_s > WHEN_MAX || load_zone(tz, &zone) != 0)
        return BP_EINVAL;
    int64_t due = starts_s - (int64_t)hours_before * HOUR;
    if (local_time_of_day(zone, starts_s) >= EXEMPT_BEFORE) {
        int64_t tod = local_time_of_day(zone, due);
        if (tod >= QUIET_FROM || tod < QUIET_UNTIL) {
            /* After midnight, "the evening before" is the previous day's. */
            int32_t day = bp_tz_local_day(zone, due) - (tod < QUIET_UNTIL ? 1 : 0);
            if (bp_tz_local_to_utc_end(zone, (int64_t)day * DAY + QUIET_MOVE_TO, &due) != 0)
                return BP_EINVAL;
        }
    }
    if (due <= now_s)
        return BP_ENOTFOUND;
    *due_s = due;
    return 0;
}

/* ---- values ------------------------------------------------------------ */

/* Whether s is well-formed UTF-8: no overlong forms, surrogates or code points
 * beyond U+10FFFF. */
static bool utf8_valid(const unsigned char *s)
{
    while (*s != '\0') {
        unsigned c = *s;
        size_t n;
        unsigned min, cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        s += n + 1;
    }
    return true;
}

/* Copies a caller's string into *out with control characters and white space
 * runs made one space, trimmed, and cut to NOTIFICATION_VAR_MAX bytes. *out is NULL
 * for a NULL or blank s. Returns 0, BP_EINVAL for invalid UTF-8, BP_ENOMEM. */
static int clean_value(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return 0;
    if (!utf8_valid((const unsigned char *)s))
        return BP_EINVAL;
    char *buf = malloc(strlen(s) + 1);
    if (buf == NULL)
        return BP_ENOMEM;
    size_t n = 0;
    bool space = false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p <= ' ' || *p == 0x7F) {
            space = n > 0;
            continue;
        }
        if (space)
            buf[n++] = ' ';
        space = false;
        buf[n++] = (char)*p;
    }
    if (n > NOTIFICATION_VAR_MAX) {
        /* Room for the 3 bytes of "…", never splitting a character. */
        n = NOTIFICATION_VAR_MAX - 3;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80)
            n--;
        while (n > 0 && buf[n - 1] == ' ')
            n--;
        memcpy(buf + n, "…", 3);
        n += 3;
    }
    buf[n] = '\0';
    if (n == 0) {
        free(buf);
        return 0;
    }
    *out = buf;
    return 0;
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* Fills values[] from v: NULL where a variable is absent or unusable (an
 * unknown zone, a non-positive amount), so that only a template that needs it
 * fails. Returns 0, BP_EINVAL for a string that is not UTF-8, or BP_ENOMEM. */
static int compute_values(const notification_vars *v, char *values[VAR_COUNT])
{
    const char *strings[VAR_COUNT] = {
        [VAR_CLIENT] = v->client_name,   [VAR_SHOP] = v->shop_name,
        [VAR_SERVICE] = v->service_name, [VAR_PROVIDER] = v->provider_name,
        [VAR_REASON] = v->reason,
    };
    for (int k = 0; k < VAR_COUNT; k++) {
        int rv = clean_value(strings[k], &values[k]);
        if (rv != 0)
            return rv;
    }
    char text[NOTIFICATION_WHEN_MAX];
    if (v->starts_s != 0 &&
        notification_format_when(v->starts_s, v->timezone, text, sizeof text) == 0 &&
        (values[VAR_WHEN] = dup_string(text)) == NULL)
        return BP_ENOMEM;
    if (v->previous_starts_s != 0 &&
        notification_format_when(v->previous_starts_s, v->timezone, text, sizeof text) == 0 &&
        (values[VAR_PREVIOUS_WHEN] = dup_string(text)) == NULL)
        return BP_ENOMEM;
    const char *currency = v->currency != NULL ? v->currency : "ARS";
    if (v->amount_cents > 0 && bp_money_format(v->amount_cents, currency, text, sizeof text) == 0 &&
        (values[VAR_AMOUNT] = dup_string(text)) == NULL)
        return BP_ENOMEM;
    return 0;
}

/* ---- rendering --------------------------------------------------------- */

/* Whether a value already ends a sentence, so the template's own '.' right
 * after it would double it ("Barbería J.R." or a reason cut with "…"). */
static bool ends_sentence(const char *value)
{
    size_t n = strlen(value);
    return (n >= 1 && value[n - 1] == '.') || (n >= 3 && memcmp(value + n - 3, "…", 3) == 0);
}

/* Renders tpl with values into *out (caller frees). Bits of *required and
 * *optional mark the variables used outside and inside [ ] segments. Returns
 * 0, BP_EINVAL for a needed variable that is absent or a malformed template
 * (an unknown placeholder, unbalanced braces or brackets), or BP_ENOMEM. */
static int render_string(const char *tpl, char *const values[VAR_COUNT], unsigned *required,
                         unsigned *optional, char **out)
{
    bp_strbuf text = {0}, segment = {0};
    bool in_segment = false, segment_complete = false;
    int rv = 0;
    *out = NULL;
    for (const char *p = tpl; *p != '\0';) {
        bp_strbuf *dst = in_segment ? &segment : &text;
        if (*p == '[') {
            if (in_segment) {
                rv = BP_EINVAL;
                goto out;
            }
            in_segment = segment_complete = true;
            p++;
        } else if (*p == ']') {
            if (!in_segment) {
                rv = BP_EINVAL;
                goto out;
            }
            if (segment_complete && segment.len > 0)
                bp_strbuf_append(&text, segment.p, segment.len);
            bp_strbuf_reset(&segment);
            in_segment = false;
            p++;
        } else if (*p == '{') {
            const char *end = strchr(p + 1, '}');
            int k = end != NULL ? find_placeholder(p + 1, (size_t)(end - p - 1)) : -1;
            if (k < 0) {
                rv = BP_EINVAL;
                goto out;
            }
            *(in_segment ? optional : required) |= 1u << k;
            p = end + 1;
            if (values[k] == NULL) {
                if (!in_segment) {
                    rv = BP_EINVAL;
                    goto out;
                }
                segment_complete = false;
                continue;
            }
            bp_strbuf_append(dst, values[k], strlen(values[k]));
            if (*p == '.' && ends_sentence(values[k]))
                p++;
        } else if (*p == '}') {
            rv = BP_EINVAL;
            goto out;
        } else {
            size_t n = strcspn(p, "[]{}");
            bp_strbuf_append(dst, p, n);
            p += n;
        }
    }
    if (in_segment) {
        rv = BP_EINVAL;
        goto out;
    }
    *out = bp_strbuf_take(&text);
    if (*out == NULL)
        rv = BP_ENOMEM;
out:
    bp_strbuf_reset(&text);
    bp_strbuf_reset(&segment);
    return rv;
}

/* The WhatsApp parameters of t into m. A variable only ever used inside an
 * optional segment may be absent: its parameter then says NOTIFICATION_PARAM_ABSENT. */
static int render_params(const notification_template *t, char *const values[VAR_COUNT],
                         unsigned required, unsigned optional, notification_message *m)
{
    size_t n = 0;
    while (n < NOTIFICATION_PARAMS_MAX && t->params[n] != NULL)
        n++;
    if (n == 0)
        return 0;
    m->whatsapp_params = calloc(n, sizeof *m->whatsapp_params);
    if (m->whatsapp_params == NULL)
        return BP_ENOMEM;
    m->n_params = n;
    for (size_t i = 0; i < n; i++) {
        int k = find_placeholder(t->params[i], strlen(t->params[i]));
        if (k < 0)
            return BP_EINVAL;
        const char *value = values[k];
        if (value == NULL) {
            unsigned bit = 1u << k;
            if ((optional & bit) == 0 || (required & bit) != 0)
                return BP_EINVAL;
            value = NOTIFICATION_PARAM_ABSENT;
        }
        m->whatsapp_params[i] = dup_string(value);
        if (m->whatsapp_params[i] == NULL)
            return BP_ENOMEM;
    }
    return 0;
}

int notification_render(const char *id, const notification_vars *v, notification_message *out)
{
    if (out == NULL)
        return BP_EINVAL;
    memset(out, 0, sizeof *out);
    const notification_template *t = find_template(id);
    if (t == NULL)
        return BP_ENOTFOUND;
    if (v == NULL)
        return BP_EINVAL;
    char *values[VAR_COUNT] = {0};
    unsigned required = 0, optional = 0;
    int rv = compute_values(v, values);
    if (rv == 0)
        rv = render_string(t->subject, values, &required, &optional, &out->subject);
    if (rv == 0)
        rv = render_string(t->text, values, &required, &optional, &out->text);
    if (rv == 0)
        rv = render_params(t, values, required, optional, out);
    if (rv == 0)
        out->whatsapp_template = t->whatsapp;
    else
        notification_message_free(out);
    for (int k = 0; k < VAR_COUNT; k++)
        free(values[k]);
    return rv;
}

void notification_message_free(notification_message *m)
{
    if (m == NULL)
        return;
    free(m->subject);
    free(m->text);
    for (size_t i = 0; i < m->n_params; i++)
        free(m->whatsapp_params[i]);
    free(m->whatsapp_params);
    memset(m, 0, sizeof *m);
}
