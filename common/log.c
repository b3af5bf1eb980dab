/* JSON-lines logging to stderr. */
#include "log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_service = "barberpro";
static bp_log_level log_min = BP_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void bp_log_init(const char *service)
{
    log_service = service;
    const char *lvl = getenv("LOG_LEVEL");
    if (lvl == NULL || *lvl == '\0')
        return;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(lvl, level_names[i]) == 0) {
            log_min = (bp_log_level)i;
            return;
        }
    }
    if (strcasecmp(lvl, "warning") == 0)
        log_min = BP_LOG_WARN;
}

/* Appends s to buf as the inside of a JSON string. Returns the new length. */
static size_t json_escape(char *buf, size_t pos, size_t cap, const char *s)
{
    for (; *s != '\0' && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c == '\n') {
            buf[pos++] = '\\';
            buf[pos++] = 'n';
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

/* Writes the line's opening up to and including the "msg" value: ts,
 * level, service, request_id. Returns the length. */
static size_t line_open(char *line, size_t cap, bp_log_level level, const char *request_id,
                        const char *msg)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t pos =
        (size_t)snprintf(line, cap,
                         "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                         "\"service\":\"",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level]);
    pos = json_escape(line, pos, cap, log_service);
    if (request_id != NULL && *request_id != '\0') {
        pos += (size_t)snprintf(line + pos, cap - pos, "\",\"request_id\":\"");
        pos = json_escape(line, pos, cap, request_id);
    }
    pos += (size_t)snprintf(line + pos, cap - pos, "\",\"msg\":\"");
    pos = json_escape(line, pos, cap, msg);
    pos += (size_t)snprintf(line + pos, cap - pos, "\"");
    return pos < cap ? pos : cap - 1;
}

/* Closes the line and writes it with one write(2). */
static void line_write(char *line, size_t cap, size_t pos)
{
    pos += (size_t)snprintf(line + pos, cap - pos, "}\n");
    if (pos > cap - 1)
        pos = cap - 1;
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}

void bp_log(bp_log_level level, const char *request_id, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char line[4096];
    size_t pos = line_open(line, sizeof line, level, request_id, msg);
    line_write(line, sizeof line, pos);
}

void bp_log_fields(bp_log_level level, const char *request_id, const char *msg,
                   const bp_log_field *fields, size_t n)
{
    if (level < log_min)
        return;
    char line[4096];
    size_t cap = sizeof line - 3; /* room for the closing brace */
    size_t pos = line_open(line, cap, level, request_id, msg);
    for (size_t i = 0; i < n && cap - pos > 64; i++) {
        const bp_log_field *f = &fields[i];
        pos += (size_t)snprintf(line + pos, cap - pos, ",\"");
        pos = json_escape(line, pos, cap, f->key);
        if (f->str != NULL) {
            pos += (size_t)snprintf(line + pos, cap - pos, "\":\"");
            pos = json_escape(line, pos, cap, f->str);
            pos += (size_t)snprintf(line + pos, cap - pos, "\"");
        } else {
            pos += (size_t)snprintf(line + pos, cap - pos, "\":%.15g",
                                    isfinite(f->num) ? f->num : 0.0);
        }
    }
    line_write(line, sizeof line, pos < cap ? pos : cap);
}
