/* Starting the local stand-ins of tests/fakes/ from a unit test: each test
 * binary runs its own fake on a free port. */
#ifndef BPT_FAKE_LAUNCH_H
#define BPT_FAKE_LAUNCH_H

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

#endif
