/*
 * failpoint.h - named fault-injection points, off unless DM_FAILPOINTS names them.
 *
 * Some moments of a run cannot be caught from outside the process: the instant between the
 * consolidator's catalogue step and its watermark write, a batch with its transaction open,
 * the scheduler between recording a run and sending its work items. A service marks such a
 * moment with one line, dm_failpoint("consolidator.watermark_write"); a fault-injection run
 * (scripts/chaos) arms it in one process through the environment, in the spirit of
 * PostgreSQL's injection points (src/backend/utils/misc/injection_point.c) and FreeBSD's
 * fail(9). Production never sets the variable; a disarmed point costs one load of a global
 * and a predicted branch, nothing else.
 *
 * Arming (read once at start-up by dm_failpoints_init, from main):
 *   DM_FAILPOINTS="NAME=ACTION[@HIT][;NAME=ACTION[@HIT]...]"
 *     NAME    one of the points listed by dm_failpoint_names (an unknown name is an error)
 *     ACTION  kill   the process SIGKILLs itself (a crash at exactly this step)
 *             stop   the process SIGSTOPs itself (all threads freeze); whoever armed it sees
 *                    the process stopped (state T in /proc/PID/stat), looks at the system, then
 *                    sends SIGCONT (carry on) or SIGKILL (crash here)
 *     HIT     fire on the HIT-th time this process reaches the point (default 1); the same
 *             point may be listed several times with different hits
 * Every firing writes a warn log line first ("failpoint NAME fired: ACTION (hit N)").
 */
#ifndef DM_CORE_FAILPOINT_H
#define DM_CORE_FAILPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

/* True once dm_failpoints_init armed at least one point. Read by the dm_failpoint macro. */
extern bool dm_failpoints_armed;

/* Parse `spec` (the DM_FAILPOINTS syntax above; NULL or "" disarms every point). On a
 * malformed spec or an unknown point name, nothing is armed and err says what is wrong.
 * Not thread-safe: call before starting threads. */
enum dm_err dm_failpoints_configure(const char *spec, struct dm_error *err) DM_MUST_CHECK;

/* dm_failpoints_configure(getenv("DM_FAILPOINTS")); on an error print it to stderr (with the
 * list of known points) and return it: main exits with status 2. */
enum dm_err dm_failpoints_init(void) DM_MUST_CHECK;

/* The known points, NULL-terminated, each "name: where it sits". */
const char *const *dm_failpoint_names(void);

/* Reached `name`: count the hit and fire the armed action for it, if any. Thread-safe. */
void dm_failpoint_hit(const char *name);

/* Number of times `name` was reached since it was armed (0 when not armed). For tests. */
long dm_failpoint_hits(const char *name);

/* The one-line call a service makes at an injection point. */
#define dm_failpoint(name)                                                                         \
    do {                                                                                           \
        if (__builtin_expect(dm_failpoints_armed, 0))                                              \
            dm_failpoint_hit(name);                                                                \
    } while (0)

#endif
