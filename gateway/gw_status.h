/* GET /status: a page in Spanish (es-AR) that tells clients, during an
 * incident, which parts of BarberPro work. */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tz.h"
#include "gw_request.h"

/* The zone of the time the page shows. */
#define GW_STATUS_ZONE "America/Argentina/Buenos_Aires"

/* Seconds after which the page reloads itself. */
#define GW_STATUS_REFRESH_S 30

/* One service on the page. */
typedef struct {
    const char *service; /* bus name: "booking", "payment", ... */
    const char *state;   /* gw_health_state: "ok", or why not */
} gw_status_entry;

/* The op of GET /status: every service's Health (as /api/health asks it),
 * shown as an HTML page; 200 when every service is "ok", else 503, so that
 * monitors can watch the page itself. */
extern const gw_op gw_status_op;

/* Renders the page for n entries checked at Unix time checked_at, shown in
 * tz (NULL: UTC). Known services appear under their Spanish names in a
 * fixed order, others after them under their own name; every text is
 * HTML-escaped. *all_ok tells whether every entry is "ok". Returns the
 * NUL-terminated page (caller frees with free()) and its length in *len,
 * or NULL on ENOMEM. */
char *gw_status_render(const gw_status_entry *entries, size_t n, int64_t checked_at,
                       const bp_tz *tz, size_t *len, bool *all_ok);

/* The Content-Security-Policy of the page (also in its <meta>): nothing but
 * its own inline style, whose SHA-256 it names. Static storage. */
const char *gw_status_csp(void);

#endif
