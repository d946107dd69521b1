/*
 * ratelimit.c - per-client token buckets (API_RATE_LIMIT_RPS; 0 = off). A fixed table of
 * buckets indexed by a hash of the client identity; an idle bucket's slot is reused. The
 * burst equals one second's worth of requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "services/api/api.h"

#define RL_SLOTS 4096
#define RL_PROBES 8

struct bucket {
    char id[64];
    double tokens;
    int64_t last_ms;
};

struct api_ratelimit {
    int rps;
    pthread_mutex_t mu;
    struct bucket *b;
};

struct api_ratelimit *api_ratelimit_new(int rps)
{
    struct api_ratelimit *rl = dm_xcalloc(1, sizeof(*rl));
    rl->rps = rps;
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

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

bool api_ratelimit_take(struct api_ratelimit *rl, const char *client, int64_t now_ms,
                        int *retry_after_s)
{
    if (rl == NULL || rl->rps <= 0)
        return true;
    char id[64];
    snprintf(id, sizeof(id), "%s", client);
    uint64_t h = fnv(id);
    double cap = rl->rps;
    bool ok;
    pthread_mutex_lock(&rl->mu);
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
        found->tokens = cap;
        found->last_ms = now_ms;
    }
    double elapsed = (double)(now_ms - found->last_ms) / 1000.0;
    if (elapsed > 0) {
        found->tokens += elapsed * rl->rps;
        if (found->tokens > cap)
            found->tokens = cap;
        found->last_ms = now_ms;
    }
    if (found->tokens >= 1.0) {
        found->tokens -= 1.0;
        ok = true;
    } else {
        double wait = (1.0 - found->tokens) / rl->rps;
        int s = (int)wait + 1;
        *retry_after_s = s < 1 ? 1 : s;
        ok = false;
    }
    pthread_mutex_unlock(&rl->mu);
    return ok;
}
