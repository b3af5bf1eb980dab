/* The failure modes of the convention of tests/fakes/ (README, "Failure
 * modes"): POST /_fake/mode?mode=ok|error|hang|garbage[&delay_ms=N] plus a
 * fake's own modes, and, where the API has one, a refusal with a given code
 * for the next count calls. One setting per process.
 */
#ifndef BPT_FAKE_MODE_H
#define BPT_FAKE_MODE_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* The first modes of every fake's list, in this order; a fake's own modes
 * follow from FAKE_MODE_OWN. */
enum { FAKE_MODE_OK, FAKE_MODE_ERROR, FAKE_MODE_HANG, FAKE_MODE_GARBAGE, FAKE_MODE_OWN };

/* A hanging answer gives up after this, so a forgotten test cannot pin a
 * connection thread for ever. */
#define FAKE_MODE_HANG_MAX_MS 120000

/* What POST /_fake/mode accepts. */
typedef struct {
    const char *const *names; /* "ok", "error", "hang", "garbage", then the fake's own */
    size_t n_names;
    const char *code_param; /* the refusal's parameter ("code", "status"), or NULL */
    long code_min, code_max;
    const char *usage; /* the 400 answer's JSON body */
} fake_mode_spec;

/* The setting for one call of the real API. */
typedef struct {
    int mode; /* an index into the spec's names */
    long delay_ms;
    long code; /* refuse this call with it; 0: no refusal */
} fake_mode_now;

/* POST /_fake/mode: mode (may be left out when the code parameter is
 * given), delay_ms=0..60000, and with spec->code_param the code within
 * [code_min, code_max] for the next count=1..1000000 calls (default 1).
 * Answers {"ok":true}, or 400 with spec->usage. */
enum MHD_Result fake_mode_set(struct MHD_Connection *conn, const fake_mode_spec *spec);

/* The setting for this call; uses up one call of a pending refusal. */
fake_mode_now fake_mode_take(void);

/* Back to mode ok, no delay, no refusal (POST /_fake/reset). */
void fake_mode_reset(void);

/* Waits now->delay_ms, then answers the hang mode (nothing, until the
 * client gives up or a stop) and the garbage one (200 with HTML). Returns
 * true with *rv set when it answered, false for the fake to go on. */
bool fake_mode_answer(struct MHD_Connection *conn, const fake_mode_now *now, enum MHD_Result *rv);

#endif
