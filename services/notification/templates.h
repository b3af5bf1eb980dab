/* The notification daemon's messages: one table of es-AR templates (email
 * subject, plain text, WhatsApp template and its body parameters), their
 * rendering, the date as people write it here, and when a reminder is due.
 * Pure: no I/O beyond reading zone files through common/tz.h. */
#ifndef NOTIFICATION_TEMPLATES_H
#define NOTIFICATION_TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest variable value, in bytes, that is rendered whole; a longer one (a
 * long cancellation reason) is cut at a character boundary and ends in "…". */
#define NOTIFICATION_VAR_MAX 200

/* Most WhatsApp body parameters a template may have. */
#define NOTIFICATION_PARAMS_MAX 8

/* Room notification_format_when always needs ("miércoles 30 de septiembre, 23:59"). */
#define NOTIFICATION_WHEN_MAX 48

/* What a WhatsApp parameter says for an optional variable that is absent
 * (a cancellation without a reason): Meta refuses empty parameters. */
#define NOTIFICATION_PARAM_ABSENT "sin especificar"

/* Variables a template may use; NULL (or "") and 0 when not known. Strings
 * are UTF-8 and borrowed for the call only. Control characters and runs of
 * white space become one space, so no value can break an email header or a
 * WhatsApp parameter. */
typedef struct {
    const char *shop_name, *service_name, *provider_name, *client_name;
    const char *timezone;      /* the shop's IANA zone */
    int64_t starts_s;          /* the appointment, Unix seconds */
    int64_t previous_starts_s; /* rescheduled: the old time */
    int64_t amount_cents;      /* payment/refund amount, > 0 */
    const char *currency;      /* "ARS"; NULL means "ARS" */
    const char *reason;        /* a cancellation's reason, may be NULL */
} notification_vars;

/* A rendered message. Every pointer except whatsapp_template is owned by the
 * message and freed by notification_message_free. */
typedef struct {
    char *subject;                 /* for email, UTF-8, one line */
    char *text;                    /* the plain text, UTF-8 (SMS and email body) */
    const char *whatsapp_template; /* Meta template name, static */
    char **whatsapp_params;        /* the body parameters in order (n_params) */
    size_t n_params;
} notification_message;

/* Renders template id ("booking_confirmed", ...) with v into *out, which the
 * caller frees with notification_message_free (also after a failure, harmlessly: *out
 * is then all zero). Returns 0, BP_ENOTFOUND for an unknown id, BP_EINVAL when
 * a variable the template needs is missing or not valid UTF-8, a zone is
 * unknown, an amount is not positive or its currency malformed, or BP_ENOMEM. */
int notification_render(const char *id, const notification_vars *v, notification_message *out);

/* Frees what m owns and zeroes it; NULL is ignored. */
void notification_message_free(notification_message *m);

/* Whether id names a template (NULL does not). */
bool notification_template_known(const char *id);

/* The number of templates, and the id of the i-th (NULL past the end), for
 * tests and listings; the strings are static. */
size_t notification_template_count(void);
const char *notification_template_id(size_t i);

/* Writes "viernes 4 de diciembre, 15:30" for instant utc_s in zone tz (lower-
 * case weekday and month, no leading zero on the day, 24-hour clock) into out
 * (len bytes; NOTIFICATION_WHEN_MAX always suffice). Returns 0, or BP_EINVAL for an
 * unknown zone, a short buffer (out is then "" when len > 0) or an instant
 * beyond the years 0 to 9999. */
int notification_format_when(int64_t utc_s, const char *tz, char *out, size_t len);

/* When the reminder hours_before (24 or 2) of an appointment at starts_s in
 * zone tz is due: starts_s - hours_before * 3600, except that a due time in
 * the quiet hours (22:00 to 08:00 local, 22:00 included, 08:00 not) moves back
 * to 21:00 local of the evening before it, unless the appointment itself
 * starts before 10:00 local. Returns 0 with *due_s, BP_ENOTFOUND when the
 * reminder would be due at or before now_s (too late: none is made), or
 * BP_EINVAL for another hours_before, a bad zone or a NULL due_s. */
int notification_reminder_due(int64_t starts_s, const char *tz, int hours_before, int64_t now_s,
                              int64_t *due_s);

#endif
