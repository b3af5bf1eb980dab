/* Typed access to environment settings with clear errors (exit 2). */
#include "config.h"

#include <ctype.h>
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

/* Writes <SERVICE><suffix> ("booking", "_RPC_URL" -> BOOKING_RPC_URL). */
static void service_var(const char *service, const char *suffix, char *var, size_t len)
{
    size_t i = 0;
    for (; i < 40 && i + 1 < len && service[i] != '\0'; i++)
        var[i] = (char)((service[i] >= 'a' && service[i] <= 'z') ? service[i] - 32 : service[i]);
    snprintf(var + i, len - i, "%s", suffix);
}

/* Checks <host>:<port> of a tcp address: a bracketed IPv6 address, a name
 * or IPv4 address (empty or * listens on every interface), and a port. */
static const char *check_host_port(const char *hp)
{
    const char *colon;
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (close == NULL || close == hp + 1 || close[1] != ':')
            return "a tcp address needs [ipv6]:port";
        colon = close + 1;
    } else {
        colon = strchr(hp, ':');
        if (colon == NULL)
            return "a tcp address needs host:port";
        for (const char *c = hp; c < colon; c++)
            if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_' ||
                  (*c == '*' && colon - hp == 1)))
                return "the host of a tcp address is not a name or an IP address";
    }
    const char *port = colon + 1;
    char *end = NULL;
    errno = 0;
    long n = strtol(port, &end, 10);
    if (!isdigit((unsigned char)*port) || *end != '\0' || errno != 0 || n < 1 || n > 65535)
        return "the port of a tcp address must be a number from 1 to 65535";
    return NULL;
}

/* NULL when addr is a bus address nng can dial or listen on, else why not. */
static const char *check_address(const char *addr)
{
    if (strncmp(addr, "ipc://", 6) == 0) {
        if (addr[6] == '\0')
            return "an ipc:// address needs a socket path";
        if (strlen(addr + 6) > 107)
            return "the bus address is too long (unix socket paths hold 107 bytes)";
        return NULL;
    }
    if (strncmp(addr, "inproc://", 9) == 0)
        return addr[9] != '\0' ? NULL : "an inproc:// address needs a name";
    static const char *const tcp[] = {"tcp://", "tcp4://", "tcp6://"};
    for (size_t i = 0; i < sizeof tcp / sizeof tcp[0]; i++)
        if (strncmp(addr, tcp[i], strlen(tcp[i])) == 0)
            return check_host_port(addr + strlen(tcp[i]));
    return "a bus address starts with ipc://, tcp://, tcp4://, tcp6:// or inproc://";
}

int bp_config_split_urls(const char *list, char (*out)[BP_BUS_URL_LEN], int max, char *why,
                         size_t whylen)
{
    int n = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t n_chars = (size_t)(end - p);
        if (n_chars == 0) {
            snprintf(why, whylen, "an address of the list is empty (a stray comma?)");
            return -1;
        }
        if (n >= max) {
            snprintf(why, whylen, "the list holds more than %d addresses", max);
            return -1;
        }
        if (n_chars >= BP_BUS_URL_LEN) {
            snprintf(why, whylen, "an address of the list is longer than %d bytes",
                     BP_BUS_URL_LEN - 1);
            return -1;
        }
        memcpy(out[n], p, n_chars);
        out[n][n_chars] = '\0';
        const char *problem = check_address(out[n]);
        if (problem != NULL) {
            snprintf(why, whylen, "'%s': %s", out[n], problem);
            return -1;
        }
        n++;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

/* Validates a list and writes it to out without the blanks around its
 * commas; exits 2 naming var when it is not valid or does not fit. */
static void normalize_urls(const char *var, const char *list, char *out, size_t len, int *count)
{
    char addr[BP_BUS_URLS_MAX][BP_BUS_URL_LEN];
    char why[BP_BUS_URL_LEN + 96];
    int n = bp_config_split_urls(list, addr, BP_BUS_URLS_MAX, why, sizeof why);
    if (n < 0)
        bp_config_fail(var, why);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        int w = snprintf(out + used, len - used, "%s%s", i > 0 ? "," : "", addr[i]);
        if (w < 0 || (size_t)w >= len - used)
            bp_config_fail(var, "the list of bus addresses is too long");
        used += (size_t)w;
    }
    if (count != NULL)
        *count = n;
}

/* The default address, ipc://<run dir>/<service>.ipc. */
static void default_url(const char *var, const char *service, char *out, size_t len)
{
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
    int n = snprintf(out, len, "ipc://%s/%s.ipc", dir, service);
    /* A unix socket path holds at most 107 bytes (sun_path). */
    if (n < 0 || (size_t)n >= len || strlen(out) - 6 > 107)
        bp_config_fail(var, "the bus address is too long (unix socket paths hold 107 bytes)");
}

static int rpc_urls(const char *service, char *out, size_t len)
{
    char var[64];
    service_var(service, "_RPC_URL", var, sizeof var);
    const char *list = bp_config_str(var, NULL);
    if (list == NULL) {
        default_url(var, service, out, len);
        return 1;
    }
    int n;
    normalize_urls(var, list, out, len, &n);
    return n;
}

void bp_config_rpc_url(const char *service, char *out, size_t len)
{
    rpc_urls(service, out, len);
}

void bp_config_listen_url(const char *service, char *out, size_t len)
{
    char var[64];
    service_var(service, "_LISTEN_URL", var, sizeof var);
    const char *own = bp_config_str(var, NULL);
    int n;
    if (own != NULL) {
        normalize_urls(var, own, out, len, &n);
        if (n != 1)
            bp_config_fail(var, "a daemon listens on one address, not a list");
        return;
    }
    n = rpc_urls(service, out, len);
    if (n != 1) {
        char rpc_var[64], why[192];
        service_var(service, "_RPC_URL", rpc_var, sizeof rpc_var);
        snprintf(why, sizeof why, "lists %d addresses: set %s to the one this instance listens on",
                 n, var);
        bp_config_fail(rpc_var, why);
    }
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
