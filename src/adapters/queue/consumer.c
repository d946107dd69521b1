/*
 * consumer.c - the queue consumer (see consumer.h): handler threads (receive, handle, settle)
 * and one renewal thread over a table of slots, one per handler thread, holding the message
 * each has in flight.
 */
#include "adapters/queue/consumer.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/signals.h"
#include "core/timeutil.h"

/* The message a handler thread has in flight, as the renewal thread sees it. */
struct slot {
    struct dm_queue_msg *msg; /* NULL when the thread is receiving */
    int64_t last_renew_ms;    /* monotonic: receipt or last renewal */
    bool renewing;            /* the renewal thread is renewing msg right now */
};

struct handler_arg {
    struct dm_consumer *c;
    int index;
};

struct dm_consumer {
    struct dm_consumer_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; slots changed, renewal done, or closing */
    struct slot *slots;
    struct handler_arg *args;
    pthread_t *threads;
    int started;
    pthread_t renewer;
    bool renewer_started;
    bool closing; /* the handler threads have ended: the renewal thread ends too */
};

void dm_delivery_set_ctx(struct dm_delivery *d, const struct dm_log_ctx *ctx)
{
    const char *src[3] = {ctx->run_id, ctx->partition_id, ctx->trace_id};
    const char **dst[3] = {&d->ctx.run_id, &d->ctx.partition_id, &d->ctx.trace_id};
    for (int i = 0; i < 3; i++) {
        if (src[i] == NULL) {
            *dst[i] = NULL;
            continue;
        }
        snprintf(d->ids[i], sizeof(d->ids[i]), "%s", src[i]);
        *dst[i] = d->ids[i];
    }
}

enum dm_settle dm_delivery_dead_letter(struct dm_delivery *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
    va_end(ap);
    return DM_SETTLE_DEAD_LETTER;
}

int64_t dm_consumer_renew_ms(const struct dm_queue *q, enum dm_queue_name name)
{
    const struct dm_queue_settings *s = dm_queue_handle_settings(q, name);
    int64_t half = s != NULL ? s->lock_ms / 2 : 0;
    return half > 0 ? half : 1;
}

/* ---- settling -------------------------------------------------------------------------- */

static void settle(struct dm_consumer *c, struct dm_queue_msg *m, enum dm_settle how,
                   const struct dm_delivery *d)
{
    struct dm_error err = {0};
    enum dm_err e;
    const char *what;
    switch (how) {
    case DM_SETTLE_ABANDON:
        what = "abandon";
        e = dm_queue_abandon(c->o.queue, m, &err);
        break;
    case DM_SETTLE_DEAD_LETTER:
        what = "dead-letter";
        e = dm_queue_dead_letter(c->o.queue, m, d->reason, &err);
        break;
    case DM_SETTLE_COMPLETE:
    default:
        what = "complete";
        e = dm_queue_complete(c->o.queue, m, &err);
        break;
    }
    if (e == DM_ERR_LOCK_LOST)
        dm_warn(&d->ctx,
                "message %s: %s: lock lost (the message may be processed again; handled "
                "idempotently)",
                m->id, what);
    else if (e != DM_OK)
        dm_warn(&d->ctx, "message %s: %s failed: %s", m->id, what, err.message);
}

/* ---- handler threads ------------------------------------------------------------------- */

static void slot_hold(struct dm_consumer *c, int index, struct dm_queue_msg *m)
{
    pthread_mutex_lock(&c->mu);
    c->slots[index].msg = m;
    c->slots[index].last_renew_ms = dm_mono_ms();
    pthread_cond_broadcast(&c->cv); /* the renewal thread may be waiting for any message */
    pthread_mutex_unlock(&c->mu);
}

/* Take the message back from the renewal thread before it is settled and freed. */
static void slot_release(struct dm_consumer *c, int index)
{
    pthread_mutex_lock(&c->mu);
    while (c->slots[index].renewing)
        pthread_cond_wait(&c->cv, &c->mu);
    c->slots[index].msg = NULL;
    pthread_mutex_unlock(&c->mu);
}

static void *handler_main(void *arg)
{
    struct handler_arg *ha = arg;
    struct dm_consumer *c = ha->c;
    const char *qname = dm_queue_handle_settings(c->o.queue, c->o.name)->name;
    while (!*c->o.stop) {
        struct dm_queue_msg *m = NULL;
        struct dm_error err = {0};
        if (dm_queue_receive(c->o.queue, c->o.name, c->o.receive_wait_ms, &m, &err) != DM_OK) {
            dm_warn(NULL, "receive from %s failed: %s", qname, err.message);
            dm_sleep_ms(c->o.receive_retry_ms, c->o.stop);
            continue;
        }
        if (m == NULL)
            continue;
        slot_hold(c, ha->index, m);
        struct dm_delivery d = {.msg = m};
        enum dm_settle how = c->o.handle(c->o.arg, &d);
        if (how == DM_SETTLE_DEAD_LETTER)
            dm_warn(&d.ctx, "dead-lettering %s message %s: %s", qname, m->id,
                    d.reason[0] ? d.reason : "(no reason given)");
        slot_release(c, ha->index);
        settle(c, m, how, &d);
        dm_queue_msg_free(m);
    }
    return NULL;
}

/* ---- the renewal thread ---------------------------------------------------------------- */

/*
 * Renews each held message once its handler has held it renew_ms since receipt or the last
 * renewal. The renewal itself runs outside the mutex (it is a database statement or an HTTP
 * request), with the slot marked so its handler waits before settling and freeing the message.
 */
static void *renew_main(void *arg)
{
    struct dm_consumer *c = arg;
    const char *qname = dm_queue_handle_settings(c->o.queue, c->o.name)->name;
    pthread_mutex_lock(&c->mu);
    while (!c->closing) {
        int64_t now = dm_mono_ms(), next = INT64_MAX;
        int due = -1;
        for (int i = 0; i < c->started && due < 0; i++) {
            struct slot *s = &c->slots[i];
            if (s->msg == NULL)
                continue;
            int64_t at = s->last_renew_ms + c->o.renew_ms;
            if (at <= now)
                due = i;
            else if (at < next)
                next = at;
        }
        if (due < 0) {
            if (next == INT64_MAX) {
                pthread_cond_wait(&c->cv, &c->mu);
            } else {
                struct timespec ts = dm_deadline_after(CLOCK_MONOTONIC, next - now);
                pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            }
            continue;
        }
        struct slot *s = &c->slots[due];
        s->renewing = true;
        pthread_mutex_unlock(&c->mu);
        struct dm_error err = {0};
        if (dm_queue_renew(c->o.queue, s->msg, &err) != DM_OK)
            dm_warn(NULL, "lock renewal of %s message %s failed: %s", qname, s->msg->id,
                    err.message);
        else
            dm_debug(NULL, "renewed the lock of %s message %s", qname, s->msg->id);
        pthread_mutex_lock(&c->mu);
        /* A failed renewal is tried again one interval later, as a successful one would be. */
        s->last_renew_ms = dm_mono_ms();
        s->renewing = false;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- start and join -------------------------------------------------------------------- */

static void consumer_free(struct dm_consumer *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->slots);
    free(c->args);
    free(c->threads);
    free(c);
}

static void stop_renewer(struct dm_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->renewer_started)
        pthread_join(c->renewer, NULL);
}

enum dm_err dm_consumer_start(const struct dm_consumer_opts *o, struct dm_consumer **out,
                              struct dm_error *err)
{
    *out = NULL;
    if (o->queue == NULL || o->handle == NULL || o->concurrency < 1 || o->renew_ms < 0 ||
        dm_queue_handle_settings(o->queue, o->name) == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "consumer: bad options");
    struct dm_consumer *c = dm_xcalloc(1, sizeof(*c));
    c->o = *o;
    if (c->o.receive_wait_ms <= 0)
        c->o.receive_wait_ms = 1000;
    if (c->o.receive_retry_ms <= 0)
        c->o.receive_retry_ms = 1000;
    if (c->o.stop == NULL)
        c->o.stop = &dm_stop_flag;
    pthread_mutex_init(&c->mu, NULL);
    dm_cond_init_monotonic(&c->cv);
    int n = o->concurrency;
    c->slots = dm_xcalloc((size_t)n, sizeof(*c->slots));
    c->args = dm_xcalloc((size_t)n, sizeof(*c->args));
    c->threads = dm_xcalloc((size_t)n, sizeof(*c->threads));
    /* Before the handlers: the renewal thread reads c->started under the mutex. */
    if (c->o.renew_ms > 0)
        c->renewer_started = pthread_create(&c->renewer, NULL, renew_main, c) == 0;
    if (c->o.renew_ms > 0 && !c->renewer_started)
        dm_warn(NULL, "could not start the lock renewal thread: locks are not renewed");
    const char *qname = dm_queue_handle_settings(o->queue, o->name)->name;
    for (int i = 0; i < n; i++) {
        c->args[i] = (struct handler_arg){.c = c, .index = i};
        pthread_mutex_lock(&c->mu);
        bool ok = pthread_create(&c->threads[i], NULL, handler_main, &c->args[i]) == 0;
        if (ok)
            c->started++;
        pthread_mutex_unlock(&c->mu);
        if (!ok) {
            dm_error(NULL, "could not start %s handler thread %d", qname, i);
            break;
        }
    }
    if (c->started == 0) {
        stop_renewer(c);
        consumer_free(c);
        return dm_error_set(err, DM_ERR_IO, "consumer: no %s handler thread could be started",
                            qname);
    }
    *out = c;
    return DM_OK;
}

int dm_consumer_threads(const struct dm_consumer *c)
{
    return c->started;
}

void dm_consumer_join(struct dm_consumer *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->started; i++)
        pthread_join(c->threads[i], NULL);
    stop_renewer(c);
    consumer_free(c);
}
