/* Log lines are single JSON objects with the fields operations rely on,
 * escaped, and filtered by LOG_LEVEL. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

typedef struct {
    bp_log_level level;
    const char *request_id, *msg;
    const bp_log_field *fields; /* NULL: bp_log, else bp_log_fields */
    size_t n_fields;
} log_call;

/* Makes the call with stderr redirected and returns what it wrote (caller
 * frees). */
static char *capture_output(const log_call *c)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    if (c->fields != NULL)
        bp_log_fields(c->level, c->request_id, c->msg, c->fields, c->n_fields);
    else
        bp_log(c->level, c->request_id, "%s", c->msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char *buf = calloc(1, 8192);
    ssize_t n = read(fds[0], buf, 8191);
    close(fds[0]);
    cr_assert_geq(n, 0);
    return buf;
}

/* One bp_log call's output. */
static char *capture(bp_log_level level, const char *request_id, const char *msg)
{
    log_call c = {level, request_id, msg, NULL, 0};
    return capture_output(&c);
}

/* One bp_log_fields call's output. */
static char *capture_fields(const bp_log_field *fields, size_t n)
{
    log_call c = {BP_LOG_INFO, "req-7", "http", fields, n};
    return capture_output(&c);
}

Test(log, one_json_object_per_line_with_the_operations_fields)
{
    setenv("LOG_LEVEL", "info", 1);
    bp_log_init("auth");
    char *line = capture(BP_LOG_WARN, "req-42", "turno \"confirmado\"\nsegunda línea");
    size_t len = strlen(line);
    cr_assert_gt(len, 0);
    cr_assert_eq(line[len - 1], '\n');
    cr_assert_null(memchr(line, '\n', len - 1), "a message must not break the line");
    json_error_t err;
    json_t *obj = json_loads(line, 0, &err);
    cr_assert_not_null(obj, "not JSON: %s (%s)", line, err.text);
    cr_assert_str_eq(json_string_value(json_object_get(obj, "level")), "warn");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "service")), "auth");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "request_id")), "req-42");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "msg")),
                     "turno \"confirmado\"\nsegunda línea");
    cr_assert_not_null(json_object_get(obj, "ts"));
    json_decref(obj);
    free(line);
}

Test(log, level_filter)
{
    setenv("LOG_LEVEL", "warn", 1);
    bp_log_init("gateway");
    char *line = capture(BP_LOG_INFO, NULL, "hidden");
    cr_assert_str_eq(line, "");
    free(line);
    line = capture(BP_LOG_ERROR, NULL, "shown");
    cr_assert_not_null(strstr(line, "\"msg\":\"shown\""));
    cr_assert_null(strstr(line, "request_id"), "no request id when there is none");
    free(line);
}

Test(log, fields_are_members_of_the_line)
{
    setenv("LOG_LEVEL", "info", 1);
    bp_log_init("gateway");
    bp_log_field fields[] = {
        {"route", "/api/shops/{shop_id}", 0},
        {"status", NULL, 201},
        {"duration_ms", NULL, 12.345},
        {"odd \"key\"", "tab\there", 0},
    };
    char *line = capture_fields(fields, 4);
    json_error_t err;
    json_t *obj = json_loads(line, 0, &err);
    cr_assert_not_null(obj, "not JSON: %s (%s)", line, err.text);
    cr_assert_str_eq(json_string_value(json_object_get(obj, "msg")), "http");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "route")), "/api/shops/{shop_id}");
    cr_assert(json_is_integer(json_object_get(obj, "status")), "%s", line);
    cr_assert_eq(json_integer_value(json_object_get(obj, "status")), 201);
    cr_assert_float_eq(json_real_value(json_object_get(obj, "duration_ms")), 12.345, 1e-9);
    cr_assert_str_eq(json_string_value(json_object_get(obj, "odd \"key\"")), "tab\there");
    json_decref(obj);
    free(line);

    /* Too much to fit: cut, but still one valid JSON object. */
    static char big[6000];
    memset(big, 'x', sizeof big - 1);
    bp_log_field many[] = {{"a", big, 0}, {"b", big, 0}, {"n", NULL, 1}};
    line = capture_fields(many, 3);
    obj = json_loads(line, 0, &err);
    cr_assert_not_null(obj, "a long line is not JSON: %.200s (%s)", line, err.text);
    json_decref(obj);
    free(line);
}
