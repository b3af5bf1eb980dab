/* Log lines are single JSON objects with the fields operations rely on,
 * escaped, and filtered by LOG_LEVEL. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs one bp_log call with stderr redirected and returns what it wrote
 * (caller frees). */
static char *capture(bp_log_level level, const char *request_id, const char *msg)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    bp_log(level, request_id, "%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char *buf = calloc(1, 8192);
    ssize_t n = read(fds[0], buf, 8191);
    close(fds[0]);
    cr_assert_geq(n, 0);
    return buf;
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
