/*
 * failpoint.c - named fault-injection points (see failpoint.h): a fixed table of the points
 * the services mark, armed only by DM_FAILPOINTS, validated at start-up.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/failpoint.h"
#include "core/log.h"
#include "core/num.h"

/* Every injection point in the product. A call with a name not listed here is a bug. */
static const char *const points[] = {
    "consolidator.batch_write: a batch claimed and mapped, its transaction open, before its "
    "writes",
    "consolidator.removal_pass: the final step's transaction open, before a full run's removal "
    "pass",
    "consolidator.watermark_write: the catalogue finalised, before the watermark is written",
    "scheduler.send_work_items: a run's rows committed, before its work items are sent",
    NULL,
};

enum action { ACT_KILL, ACT_STOP };

#define MAX_ARMED 16
struct armed {
    int point; /* index in points[] */
    enum action action;
    long at; /* fire on this hit */
};

bool dm_failpoints_armed;
static struct armed armed[MAX_ARMED];
static int narmed;
static long hits[sizeof(points) / sizeof(points[0])]; /* __atomic */

static int point_index(const char *name, size_t len)
{
    for (int i = 0; points[i]; i++) {
        const char *colon = strchr(points[i], ':');
        if ((size_t)(colon - points[i]) == len && !strncmp(points[i], name, len))
            return i;
    }
    return -1;
}

const char *const *dm_failpoint_names(void)
{
    return points;
}

/* One "NAME=ACTION[@HIT]" entry of `len` bytes at s. */
static enum dm_err parse_entry(const char *s, size_t len, struct armed *out, struct dm_error *err)
{
    char entry[160];
    if (len >= sizeof(entry))
        return dm_error_set(err, DM_ERR_INVALID, "DM_FAILPOINTS: entry too long: '%.40s...'", s);
    memcpy(entry, s, len);
    entry[len] = '\0';
    char *eq = strchr(entry, '=');
    if (!eq)
        return dm_error_set(err, DM_ERR_INVALID, "DM_FAILPOINTS: '%s' is not NAME=ACTION[@HIT]",
                            entry);
    out->point = point_index(entry, (size_t)(eq - entry));
    if (out->point < 0)
        return dm_error_set(err, DM_ERR_INVALID, "DM_FAILPOINTS: unknown failpoint '%.*s'",
                            (int)(eq - entry), entry);
    char *act = eq + 1, *at = strchr(act, '@');
    out->at = 1;
    if (at) {
        *at++ = '\0';
        int64_t n = 0;
        if (dm_parse_i64(at, 1, 1000000000, &n) != DM_OK)
            return dm_error_set(err, DM_ERR_INVALID,
                                "DM_FAILPOINTS: '%s': the hit after @ must be 1..1000000000",
                                entry);
        out->at = (long)n;
    }
    if (!strcmp(act, "kill"))
        out->action = ACT_KILL;
    else if (!strcmp(act, "stop"))
        out->action = ACT_STOP;
    else
        return dm_error_set(err, DM_ERR_INVALID,
                            "DM_FAILPOINTS: unknown action '%s' for %.*s (kill or stop)", act,
                            (int)(eq - entry), entry);
    return DM_OK;
}

enum dm_err dm_failpoints_configure(const char *spec, struct dm_error *err)
{
    struct armed next[MAX_ARMED];
    int n = 0;
    for (const char *s = spec; s && *s;) {
        size_t len = strcspn(s, ";");
        if (len > 0) {
            if (n == MAX_ARMED)
                return dm_error_set(err, DM_ERR_INVALID, "DM_FAILPOINTS: more than %d entries",
                                    MAX_ARMED);
            enum dm_err e = parse_entry(s, len, &next[n], err);
            if (e != DM_OK)
                return e;
            n++;
        }
        s += len;
        if (*s == ';')
            s++;
    }
    memcpy(armed, next, sizeof(next[0]) * (size_t)n);
    narmed = n;
    memset(hits, 0, sizeof(hits));
    dm_failpoints_armed = n > 0;
    return DM_OK;
}

enum dm_err dm_failpoints_init(void)
{
    struct dm_error err = {0};
    enum dm_err e = dm_failpoints_configure(getenv("DM_FAILPOINTS"), &err);
    if (e != DM_OK) {
        fprintf(stderr, "diamond: %s\nknown failpoints:\n", err.message);
        for (int i = 0; points[i]; i++)
            fprintf(stderr, "  %s\n", points[i]);
    }
    return e;
}

void dm_failpoint_hit(const char *name)
{
    int p = point_index(name, strlen(name));
    if (p < 0)
        return;
    long hit = __atomic_add_fetch(&hits[p], 1, __ATOMIC_ACQ_REL);
    for (int i = 0; i < narmed; i++) {
        if (armed[i].point != p || armed[i].at != hit)
            continue;
        const char *act = armed[i].action == ACT_KILL ? "kill" : "stop";
        dm_warn(NULL, "failpoint %s fired: %s (hit %ld, pid %ld)", name, act, hit, (long)getpid());
        raise(armed[i].action == ACT_KILL ? SIGKILL : SIGSTOP);
    }
}

long dm_failpoint_hits(const char *name)
{
    int p = point_index(name, strlen(name));
    return p < 0 ? 0 : __atomic_load_n(&hits[p], __ATOMIC_ACQUIRE);
}
