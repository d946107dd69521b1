/* jobtrigger.c - backend selection and the local backend (detached child process). */
#include "adapters/jobtrigger/jobtrigger.h"

#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/jobtrigger/jobtrigger_impl.h"
#include "core/buf.h"
#include "core/log.h"

extern char **environ;

struct local_state {
    char *exe;
};

static enum dm_err local_start(struct dm_jobtrigger *t, const char *run_type,
                               const char *request_id, char *execution, size_t size,
                               struct dm_error *err)
{
    struct local_state *s = t->state;
    char *argv[] = {"diamond", "scheduler", "--request", (char *)request_id, NULL};
    (void)run_type; /* the request row carries it */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    /* Own session: the run survives the API's restart or SIGTERM. */
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &def);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, s->exe, NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return dm_error_set(err, DM_ERR_UNAVAILABLE, "cannot start the scheduler: %s",
                            strerror(rc));
    snprintf(execution, size, "local-pid-%d", (int)pid);
    return DM_OK;
}

static void local_free(struct dm_jobtrigger *t)
{
    struct local_state *s = t->state;
    if (s) {
        free(s->exe);
        free(s);
    }
}

static const struct dm_jobtrigger_ops local_ops = {"local", local_start, local_free};

struct dm_jobtrigger *dm_jobtrigger_open(const struct dm_jobtrigger_opts *opts)
{
    struct dm_jobtrigger *t = dm_xcalloc(1, sizeof(*t));
    if (opts->subscription_id && opts->resource_group && opts->job_name) {
        t->ops = &dm_jobtrigger_azure_ops;
        t->state = dm_jobtrigger_azure_state(opts);
        return t;
    }
    struct local_state *s = dm_xcalloc(1, sizeof(*s));
    s->exe = dm_xstrdup(opts->self_exe ? opts->self_exe : "/proc/self/exe");
    t->ops = &local_ops;
    t->state = s;
    return t;
}

void dm_jobtrigger_free(struct dm_jobtrigger *t)
{
    if (t == NULL)
        return;
    t->ops->free(t);
    free(t);
}

const char *dm_jobtrigger_name(const struct dm_jobtrigger *t)
{
    return t->ops->name;
}

enum dm_err dm_jobtrigger_start(struct dm_jobtrigger *t, const char *run_type,
                                const char *request_id, char *execution, size_t size,
                                struct dm_error *err)
{
    if (strcmp(run_type, "full") && strcmp(run_type, "incremental"))
        return dm_error_set(err, DM_ERR_INVALID, "run_type must be full or incremental");
    execution[0] = '\0';
    return t->ops->start(t, run_type, request_id, execution, size, err);
}

void dm_jobtrigger_reap(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}
