/*
 * test_pause.c - TEST-ONLY pause points (see test_pause.h): off unless DM_TEST_PAUSE_AT and
 * DM_TEST_PAUSE_FILE are both set. Used by scripts/chaos to SIGKILL a process at a moment
 * that cannot be observed from outside.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "services/scheduler/test_pause.h"

static int fired; /* __atomic */

bool dm_test_pause_armed(const char *point)
{
    const char *at = getenv("DM_TEST_PAUSE_AT");
    const char *file = getenv("DM_TEST_PAUSE_FILE");
    return at && file && *file && !strcmp(at, point) && !__atomic_load_n(&fired, __ATOMIC_RELAXED);
}

void dm_test_pause(const char *point, const char *what)
{
    if (!dm_test_pause_armed(point) || __atomic_exchange_n(&fired, 1, __ATOMIC_ACQ_REL))
        return;
    const char *file = getenv("DM_TEST_PAUSE_FILE");
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        dm_warn(NULL, "test pause %s: cannot create %s (%s): not pausing", point, file,
                strerror(errno));
        return;
    }
    char line[512];
    int n = snprintf(line, sizeof(line), "%s %ld %s\n", point, (long)getpid(), what ? what : "");
    if (n > 0 && write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
        dm_warn(NULL, "test pause %s: write %s: %s", point, file, strerror(errno));
    close(fd);
    dm_warn(NULL, "TEST PAUSE at %s (%s): waiting until %s is removed", point, what ? what : "",
            file);
    while (access(file, F_OK) == 0 && !dm_stop_requested())
        dm_sleep_ms(20, NULL);
    dm_warn(NULL, "test pause %s released", point);
}
