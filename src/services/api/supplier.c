/*
 * supplier.c - supplier calls (holds, purchases) in flight per verified client, so one client
 * cannot take the whole deferral pool (API_SUPPLIER_PER_CLIENT). A small table of callers with
 * calls in flight: entries exist only while their count is positive, so it never holds more
 * callers than there are calls in flight (bounded by the pool's capacity).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/api/api.h"

struct inflight {
    char caller[160];
    int n;
};

struct api_supplier {
    pthread_mutex_t mu;
    int per_client;
    int cap; /* entries allocated */
    struct inflight *e;
};

struct api_supplier *api_supplier_new(int per_client)
{
    struct api_supplier *s = dm_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->per_client = per_client;
    return s;
}

void api_supplier_free(struct api_supplier *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->e);
    free(s);
}

/* The entry of caller, or NULL. Lock held. */
static struct inflight *find(struct api_supplier *s, const char *caller)
{
    for (int i = 0; i < s->cap; i++)
        if (s->e[i].n > 0 && !strcmp(s->e[i].caller, caller))
            return &s->e[i];
    return NULL;
}

bool api_supplier_enter(struct api_supplier *s, const char *caller)
{
    bool ok = true;
    pthread_mutex_lock(&s->mu);
    struct inflight *f = find(s, caller);
    if (f != NULL && s->per_client > 0 && f->n >= s->per_client) {
        ok = false;
    } else if (f != NULL) {
        f->n++;
    } else {
        for (int i = 0; i < s->cap && f == NULL; i++)
            if (s->e[i].n == 0)
                f = &s->e[i];
        if (f == NULL) {
            /* Grows with the calls in flight, which the deferral pool bounds. */
            int cap = s->cap ? s->cap * 2 : 16;
            struct inflight *e = dm_xrealloc(s->e, (size_t)cap * sizeof(*e));
            memset(e + s->cap, 0, (size_t)(cap - s->cap) * sizeof(*e));
            f = &e[s->cap];
            s->e = e;
            s->cap = cap;
        }
        snprintf(f->caller, sizeof(f->caller), "%s", caller);
        f->n = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void api_supplier_leave(struct api_supplier *s, const char *caller)
{
    pthread_mutex_lock(&s->mu);
    struct inflight *f = find(s, caller);
    if (f != NULL)
        f->n--;
    pthread_mutex_unlock(&s->mu);
}
