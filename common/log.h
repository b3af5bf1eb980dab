/* Structured logging: one JSON object per line on stderr with ts, level,
 * service, request_id and msg. Never pass a password, token or card detail. */
#ifndef BP_LOG_H
#define BP_LOG_H

#include <stddef.h>

typedef enum { BP_LOG_DEBUG = 0, BP_LOG_INFO, BP_LOG_WARN, BP_LOG_ERROR } bp_log_level;

/* Names the service for every later line and reads LOG_LEVEL
 * (debug|info|warn|error, default info). Call once before threads start. */
void bp_log_init(const char *service);

/* Writes one line if level passes LOG_LEVEL. request_id may be NULL. Safe
 * from any thread; each line is written with a single write(2). */
void bp_log(bp_log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One extra member of a log line: a string, or a number when str is NULL. */
typedef struct {
    const char *key;
    const char *str;
    double num;
} bp_log_field;

/* Writes one line like bp_log with msg and, after it, the n fields as
 * members of the line's object (the access log: "method", "status", ...).
 * Fields that would take the line past 4 KiB are cut or left out; the line
 * stays valid JSON. */
void bp_log_fields(bp_log_level level, const char *request_id, const char *msg,
                   const bp_log_field *fields, size_t n);

#define bp_log_debug(...) bp_log(BP_LOG_DEBUG, NULL, __VA_ARGS__)
#define bp_log_info(...)  bp_log(BP_LOG_INFO, NULL, __VA_ARGS__)
#define bp_log_warn(...)  bp_log(BP_LOG_WARN, NULL, __VA_ARGS__)
#define bp_log_error(...) bp_log(BP_LOG_ERROR, NULL, __VA_ARGS__)

#endif
