/* The start-up every fake of tests/fakes/ shares: its options, each a
 * "--flag value" on the command line or else FAKE_<NAME>_<FLAG> in the
 * environment (--retry-delays-ms of fake-twilio is FAKE_TWILIO_RETRY_DELAYS_MS),
 * always with --port, and its main(). */
#ifndef BPT_FAKE_MAIN_H
#define BPT_FAKE_MAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "fake_server.h"

/* An option is either ignored in the environment when empty, or (with
 * FAKE_OPT_EMPTY) taken as given, "" included ("" retry delays: none). */
enum {
    FAKE_OPT_EMPTY = 1,    /* an empty value is a value, from either source */
    FAKE_OPT_NOT_EMPTY = 2 /* an empty --flag value is a usage error */
};

/* One option. A switch (arg NULL) takes no value: given, or its variable
 * is "1", it sets *on. Otherwise the value, which points into argv or the
 * environment (not copied), goes to *text, or to *number when it is a whole
 * number within [min, max], and then to parse(value, ctx) when set, which
 * returns false when it is bad. A bad value ends the process with status 2. */
typedef struct {
    const char *flag; /* "--access-token" */
    const char *arg;  /* the value's name in the usage line ("T"), NULL for a switch */
    unsigned flags;   /* FAKE_OPT_* */
    const char **text;
    long *number;
    long min, max;
    bool *on;
    bool (*parse)(const char *value, void *ctx);
    void *ctx;
} fake_option;

/* What fake_main runs. */
typedef struct {
    const char *name;           /* "twilio": the binary fake-twilio, the variables FAKE_TWILIO_* */
    const fake_option *options; /* besides --port; may be NULL */
    size_t n_options;
    /* Called once the options are read and stop signals are blocked, before
     * the server listens (threads started here inherit the blocked
     * signals). Returns 0, else the exit status. May be NULL. */
    int (*start)(void);
    /* Called after the server stopped, to join threads and free the state.
     * May be NULL. */
    void (*stop)(void);
    fake_server_hooks hooks;
} fake_spec;

/* Reads argv and the environment against spec->options (plus --port),
 * printing the usage line and exiting with status 2 on a bad one; then
 * bp_log_init("fake-<name>"), fake_signals_block, start, fake_serve and
 * stop. Returns the exit status for main to return. */
int fake_main(const fake_spec *spec, int argc, char **argv);

#endif
