/* Options and main() shared by the fakes of tests/fakes/ (see fake_main.h). */
#include "fake_main.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void usage(const fake_spec *spec)
{
    fprintf(stderr, "usage: fake-%s [--port N]", spec->name);
    for (size_t i = 0; i < spec->n_options; i++) {
        const fake_option *o = &spec->options[i];
        if (o->arg != NULL)
            fprintf(stderr, " [%s %s]", o->flag, o->arg);
        else
            fprintf(stderr, " [%s]", o->flag);
    }
    fputc('\n', stderr);
    exit(2);
}

/* FAKE_<NAME>_<FLAG>: "--max-size" of "smtp" is FAKE_SMTP_MAX_SIZE. */
static void env_name(const char *name, const char *flag, char *out, size_t len)
{
    int n = snprintf(out, len, "FAKE_%s_%s", name, flag + 2);
    for (int i = 0; i < n && (size_t)i < len; i++)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

/* Takes value for o, or ends the process when it is bad. */
static void take(const fake_spec *spec, const fake_option *o, const char *value)
{
    if (o->arg == NULL) {
        *o->on = true;
        return;
    }
    bool ok = true;
    if (o->text != NULL)
        *o->text = value;
    if (o->number != NULL)
        ok = fake_parse_long(value, o->min, o->max, o->number);
    if (ok && o->parse != NULL)
        ok = o->parse(value, o->ctx);
    if (!ok) {
        fprintf(stderr, "fake-%s: bad %s %s\n", spec->name, o->flag, value);
        exit(2);
    }
}

/* Each option's value: its variable, else nothing, overridden by its flag. */
static void parse_options(const fake_spec *spec, const fake_option *opts, const char **values,
                          size_t n, int argc, char **argv)
{
    char var[64];
    for (size_t i = 0; i < n; i++) {
        env_name(spec->name, opts[i].flag, var, sizeof var);
        const char *e = getenv(var);
        bool empty_ok = (opts[i].flags & FAKE_OPT_EMPTY) != 0;
        if (e != NULL && (*e != '\0' || empty_ok) && (opts[i].arg != NULL || strcmp(e, "1") == 0))
            values[i] = e;
    }
    for (int a = 1; a < argc; a++) {
        size_t i = 0;
        while (i < n && strcmp(argv[a], opts[i].flag) != 0)
            i++;
        if (i == n)
            usage(spec);
        if (opts[i].arg == NULL) {
            values[i] = "1";
            continue;
        }
        if (a + 1 >= argc || (*argv[a + 1] == '\0' && (opts[i].flags & FAKE_OPT_NOT_EMPTY)))
            usage(spec);
        values[i] = argv[++a];
    }
    for (size_t i = 0; i < n; i++)
        if (values[i] != NULL)
            take(spec, &opts[i], values[i]);
}

int fake_main(const fake_spec *spec, int argc, char **argv)
{
    enum { MAX_OPTIONS = 16 };
    long port = 0;
    fake_option opts[MAX_OPTIONS] = {
        {.flag = "--port", .arg = "N", .number = &port, .min = 0, .max = 65535}};
    const char *values[MAX_OPTIONS] = {NULL};
    if (spec->n_options >= MAX_OPTIONS) {
        fprintf(stderr, "fake-%s: more than %d options\n", spec->name, MAX_OPTIONS - 1);
        return 2;
    }
    for (size_t i = 0; i < spec->n_options; i++)
        opts[i + 1] = spec->options[i];
    parse_options(spec, opts, values, spec->n_options + 1, argc, argv);

    static char log_name[64]; /* bp_log_init keeps the pointer */
    snprintf(log_name, sizeof log_name, "fake-%s", spec->name);
    bp_log_init(log_name);
    fake_signals_block();
    if (spec->start != NULL) {
        int rc = spec->start();
        if (rc != 0)
            return rc;
    }
    int rc = fake_serve(spec->name, port, &spec->hooks);
    if (spec->stop != NULL)
        spec->stop();
    return rc;
}
