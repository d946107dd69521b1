/*
 * ratelimit.c - token buckets by identity: a fixed table of buckets indexed by a hash of the
 * identity; the least recently used slot of a probe run is reused. The router keeps two: one
 * per verified client (API_RATE_LIMIT_RPS, burst one second's worth) and one per IP address
 * for failed authentications (API_AUTH_FAILURES_PER_MIN, burst a minute's worth).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/num.h"
#include "services/api/api.h"

#define RL_SLOTS 4096
#define RL_PROBES 8

struct bucket {
    char id[64];
    double tokens;
    int64_t last_ms;
};

struct api_ratelimit {
    double rps;   /* refill per second; <= 0 = off */
    double burst; /* bucket size */
    pthread_mutex_t mu;
    struct bucket *b;
};

struct api_ratelimit *api_ratelimit_new(double rps, double burst)
{
    struct api_ratelimit *rl = dm_xcalloc(1, sizeof(*rl));
    rl->rps = rps;
    rl->burst = burst < 1 ? 1 : burst;
    pthread_mutex_init(&rl->mu, NULL);
    if (rps > 0)
        rl->b = dm_xcalloc(RL_SLOTS, sizeof(struct bucket));
    return rl;
}

void api_ratelimit_free(struct api_ratelimit *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl->b);
    free(rl);
}

/* The bucket of id, refilled to now_ms (a new or reused slot starts full). Lock held. */
static struct bucket *bucket_of(struct api_ratelimit *rl, const char *client, int64_t now_ms)
{
    char id[64];
    snprintf(id, sizeof(id), "%s", client);
    uint64_t h = dm_fnv1a(id);
    struct bucket *found = NULL, *oldest = NULL;
    for (int i = 0; i < RL_PROBES; i++) {
        struct bucket *b = &rl->b[(h + (uint64_t)i) % RL_SLOTS];
        if (b->id[0] && !strcmp(b->id, id)) {
            found = b;
            break;
        }
        if (oldest == NULL || b->last_ms < oldest->last_ms)
            oldest = b;
    }
    if (found == NULL) {
        found = oldest;
        snprintf(found->id, sizeof(found->id), "%s", id);
        found->tokens = rl->burst;
        found->last_ms = now_ms;
    }
    double elapsed = (double)(now_ms - found->last_ms) / 1000.0;
    if (elapsed > 0) {
        found->tokens += elapsed * rl->rps;
        if (found->tokens > rl->burst)
            found->tokens = rl->burst;
        found->last_ms = now_ms;
    }
    return found;
}

static int wait_s(const struct api_ratelimit *rl, const struct bucket *b)
{
    double wait = (1.0 - b->tokens) / rl->rps;
    int s = (int)wait + 1;
    return s < 1 ? 1 : s;
}

bool api_ratelimit_take(struct api_ratelimit *rl, const char *client, int64_t now_ms,
                        int *retry_after_s)
{
    if (rl == NULL || rl->rps <= 0)
        return true;
    pthread_mutex_lock(&rl->mu);
    struct bucket *b = bucket_of(rl, client, now_ms);
    bool ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else
        *retry_after_s = wait_s(rl, b);
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

bool api_ratelimit_empty(struct api_ratelimit *rl, const char *client, int64_t now_ms,
                         int *retry_after_s)
{
    if (rl == NULL || rl->rps <= 0)
        return false;
    pthread_mutex_lock(&rl->mu);
    struct bucket *b = bucket_of(rl, client, now_ms);
    bool empty = b->tokens < 1.0;
    if (empty)
        *retry_after_s = wait_s(rl, b);
    pthread_mutex_unlock(&rl->mu);
    return empty;
}
