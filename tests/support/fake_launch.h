/* Starting the local stand-ins of tests/fakes/ from a unit test: each test
 * binary runs its own fake on a free port. */
#ifndef BPT_FAKE_LAUNCH_H
#define BPT_FAKE_LAUNCH_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* Starts fake-<name> (found in BP_TEST_FAKES_DIR, else in <build>/bin seen
 * from <build>/test/unit/<this binary>) with "--port 0" and the
 * NULL-terminated extra_args (may be NULL), and waits at most 5 s for its
 * "listening on <port>" line. Its stderr goes to /dev/null unless
 * BP_TEST_FAKE_LOGS is set. On 0, *pid is the child and base receives
 * "http://127.0.0.1:<port>". Returns 0, or -1 with the reason on stderr. */
int bpt_fake_start(const char *name, const char *const *extra_args, pid_t *pid, char *base,
                   size_t len);

/* Sends SIGTERM to a fake and reaps it. Returns 0 when it exited with
 * status 0, else -1. */
int bpt_fake_stop(pid_t pid);

/* One request to a fake at base (a control endpoint or its API): method,
 * path with its query, an optional JSON body (Content-Type set) and extra
 * header lines (NULL-terminated, may be NULL). Returns the HTTP status, or
 * -1 when the fake did not answer within 10 s; when out is not NULL it
 * receives the parsed body (NULL when not JSON; the caller decrefs). */
long bpt_fake_call(const char *base, const char *method, const char *path, const char *body,
                   const char *const *headers, json_t **out);

#endif
