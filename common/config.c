/* Typed access to environment settings with clear errors (exit 2). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

_Noreturn void bp_config_fail(const char *name, const char *why)
{
    bp_log(BP_LOG_ERROR, NULL, "configuration error: %s: %s", name, why);
    exit(2);
}

const char *bp_config_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return (v != NULL && *v != '\0') ? v : def;
}

const char *bp_config_required(const char *name)
{
    const char *v = bp_config_str(name, NULL);
    if (v == NULL)
        bp_config_fail(name, "is required but not set");
    return v;
}

long bp_config_int(const char *name, long def, long min, long max)
{
    const char *v = bp_config_str(name, NULL);
    if (v == NULL)
        return def;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0') {
        char why[128];
        snprintf(why, sizeof why, "'%.40s' is not a whole number", v);
        bp_config_fail(name, why);
    }
    if (n < min || n > max) {
        char why[128];
        snprintf(why, sizeof why, "%ld is outside the allowed range %ld..%ld", n, min, max);
        bp_config_fail(name, why);
    }
    return n;
}

bool bp_config_bool(const char *name, bool def)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    const char *v = bp_config_str(name, NULL);
    if (v == NULL)
        return def;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return true;
        if (strcasecmp(v, no[i]) == 0)
            return false;
    }
    bp_config_fail(name, "must be one of 1/0, true/false, yes/no, on/off");
}

bool bp_config_is_production(void)
{
    const char *env = bp_config_str("BARBERPRO_ENV", "development");
    return strcmp(env, "production") == 0;
}

void bp_config_rpc_url(const char *service, char *out, size_t len)
{
    char var[64];
    size_t i = 0;
    for (; i < 40 && service[i] != '\0'; i++)
        var[i] = (char)((service[i] >= 'a' && service[i] <= 'z') ? service[i] - 32 : service[i]);
    snprintf(var + i, sizeof var - i, "_RPC_URL");

    const char *url = bp_config_str(var, NULL);
    int n;
    if (url != NULL) {
        n = snprintf(out, len, "%s", url);
    } else {
        char dir[PATH_MAX];
        const char *run = bp_config_str("BARBERPRO_RUN_DIR", NULL);
        if (run != NULL) {
            snprintf(dir, sizeof dir, "%s", run);
        } else {
            const char *var_dir = bp_config_str("BARBERPRO_VAR_DIR", "./var");
            char abs[PATH_MAX];
            if (realpath(var_dir, abs) == NULL)
                snprintf(abs, sizeof abs, "%s", var_dir);
            snprintf(dir, sizeof dir, "%.4000s/run", abs);
        }
        n = snprintf(out, len, "ipc://%s/%s.ipc", dir, service);
    }
    /* A unix socket path holds at most 107 bytes (sun_path). */
    if (n < 0 || (size_t)n >= len || (strncmp(out, "ipc://", 6) == 0 && strlen(out) - 6 > 107))
        bp_config_fail(var, "the bus address is too long (unix socket paths hold 107 bytes)");
}

const char *bp_config_secret(const char *name)
{
    const char *v = bp_config_str(name, "");
    return *v != '\0' ? v : NULL;
}

void bp_config_url(const char *name, const char *def, char *out, size_t len)
{
    const char *v = bp_config_str(name, def);
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        bp_config_fail(name, "must be an http:// or https:// URL");
    if ((size_t)snprintf(out, len, "%s", v) >= len)
        bp_config_fail(name, "is too long");
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
}
