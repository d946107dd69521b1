/*
 * test_pause.h - TEST-ONLY pause points for the chaos run (scripts/chaos), off by default.
 *
 * Some moments of a run cannot be caught from outside: the instant between the consolidator's
 * final catalogue step and its watermark write, or the scheduler between two sends of a run's
 * work items. A chaos script arms one pause point in one process, waits for the process to
 * reach it, and SIGKILLs it there. Nothing else uses this.
 *
 * Armed only when BOTH environment variables are set (deliberately outside the configuration
 * table: they are not settings, no service lists them, no deployment sets them):
 *   DM_TEST_PAUSE_AT=<point>       watermark_write | scheduler_send
 *   DM_TEST_PAUSE_FILE=<path>      created (O_EXCL) when the point is reached; the process
 *                                  then waits, logging a warn line, until the file is removed
 *                                  (or the process is stopped). An existing file disarms it.
 * The point fires at most once per process. When unset (production), dm_test_pause() returns
 * at once and does nothing.
 */
#ifndef DM_SERVICES_SCHEDULER_TEST_PAUSE_H
#define DM_SERVICES_SCHEDULER_TEST_PAUSE_H

#include <stdbool.h>

/* True when DM_TEST_PAUSE_AT names `point` and DM_TEST_PAUSE_FILE is set (the point is armed
 * and has not fired yet in this process). */
bool dm_test_pause_armed(const char *point);

/* If `point` is armed: record `what` in the pause file, log it, and wait until the file is
 * removed or a stop is requested. Otherwise return at once. Thread-safe (fires once). */
void dm_test_pause(const char *point, const char *what);

#endif
