/*
 * signals.h - process-wide stop flag set by SIGTERM/SIGINT, for graceful shutdown of services.
 * Long-running loops poll dm_stop_requested() and finish or abandon in-flight work.
 */
#ifndef DM_CORE_SIGNALS_H
#define DM_CORE_SIGNALS_H

#include <signal.h>

extern volatile sig_atomic_t dm_stop_flag;

/* Install SIGTERM/SIGINT handlers that set the flag; ignore SIGPIPE. */
void dm_signals_install(void);
static inline int dm_stop_requested(void)
{
    return dm_stop_flag != 0;
}

#endif
