/* The failure-mode setting shared by the fakes of tests/fakes/ (see
 * fake_mode.h). */
#include "fake_mode.h"

#include <pthread.h>
#include <string.h>

#include "fake_server.h"

static pthread_mutex_t mode_lock = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by mode_lock. */
static int mode;
static long delay_ms;
static long refuse_code; /* for the next refuse_left calls */
static long refuse_left;

enum MHD_Result fake_mode_set(struct MHD_Connection *conn, const fake_mode_spec *spec)
{
    const char *ms = fake_query(conn, "mode"), *ds = fake_query(conn, "delay_ms");
    const char *cs = spec->code_param != NULL ? fake_query(conn, spec->code_param) : NULL;
    const char *ns = spec->code_param != NULL ? fake_query(conn, "count") : NULL;
    long d = 0, code = 0, count = 1;
    int found = ms == NULL && cs != NULL ? FAKE_MODE_OK : -1;
    for (size_t i = 0; ms != NULL && i < spec->n_names; i++)
        if (strcmp(ms, spec->names[i]) == 0)
            found = (int)i;
    if (found < 0 || (ds != NULL && !fake_parse_long(ds, 0, 60000, &d)) ||
        (cs != NULL && !fake_parse_long(cs, spec->code_min, spec->code_max, &code)) ||
        (ns != NULL && !fake_parse_long(ns, 1, 1000000, &count)))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST, spec->usage);
    pthread_mutex_lock(&mode_lock);
    mode = found;
    delay_ms = d;
    refuse_code = code;
    refuse_left = code != 0 ? count : 0;
    pthread_mutex_unlock(&mode_lock);
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

fake_mode_now fake_mode_take(void)
{
    pthread_mutex_lock(&mode_lock);
    fake_mode_now now = {.mode = mode, .delay_ms = delay_ms};
    if (refuse_left > 0) {
        now.code = refuse_code;
        refuse_left--;
    }
    pthread_mutex_unlock(&mode_lock);
    return now;
}

void fake_mode_reset(void)
{
    pthread_mutex_lock(&mode_lock);
    mode = FAKE_MODE_OK;
    delay_ms = 0;
    refuse_code = 0;
    refuse_left = 0;
    pthread_mutex_unlock(&mode_lock);
}

bool fake_mode_answer(struct MHD_Connection *conn, const fake_mode_now *now, enum MHD_Result *rv)
{
    fake_nap(now->delay_ms);
    switch (now->mode) {
    case FAKE_MODE_HANG:
        fake_nap(FAKE_MODE_HANG_MAX_MS);
        *rv = MHD_NO; /* closes the connection without an answer */
        return true;
    case FAKE_MODE_GARBAGE:
        *rv = fake_reply(conn, MHD_HTTP_OK, "text/html", "<html><body>Bad gateway</body></html>");
        return true;
    default:
        return false;
    }
}
