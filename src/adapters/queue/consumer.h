/*
 * consumer.h - the one queue consumer (what Service Bus SDKs call a processor): handler
 * threads receive peek-locked messages from one queue, hand each to a handler, and settle it
 * as the handler answers (complete, abandon for another delivery, dead-letter with a reason);
 * one renewal thread extends the lock of every message whose handler holds it longer than the
 * renewal interval. It knows queues, not what the messages mean: the worker (work-items) and
 * the consolidator (consolidate, work-done) all run on it, so receive, settle and renewal are
 * written once.
 *
 * Shutdown: once *stop is non-zero no thread starts another receive; a message already
 * received is handled and settled as usual (a long handler may watch the flag itself and
 * answer DM_SETTLE_ABANDON), its lock still renewed meanwhile; then the threads end.
 * dm_consumer_join waits for all of that.
 *
 * Thread-safety: the handler runs on up to `concurrency` threads at once, one message each.
 */
#ifndef DM_ADAPTERS_QUEUE_CONSUMER_H
#define DM_ADAPTERS_QUEUE_CONSUMER_H

#include <signal.h>
#include <stdint.h>

#include "adapters/queue/queue.h"
#include "core/error.h"
#include "core/log.h"

/* How to settle a message, the handler's answer. */
enum dm_settle {
    DM_SETTLE_COMPLETE = 0, /* done (or nothing to do): the message is removed */
    DM_SETTLE_ABANDON,      /* not done, try again: the lock is released and the message
                             * delivered again (past max delivery the queue dead-letters it) */
    DM_SETTLE_DEAD_LETTER,  /* never retry: dead-lettered with the delivery's reason */
};

/* Longest dead-letter reason kept (the queue cuts it further to DM_QUEUE_MAX_REASON). */
#define DM_DELIVERY_REASON_MAX 600
/* Longest log-context id kept by dm_delivery_set_ctx. */
#define DM_DELIVERY_ID_MAX 128

/* One delivery as the handler sees it. */
struct dm_delivery {
    const struct dm_queue_msg *msg; /* the locked message; the consumer owns it */
    struct dm_log_ctx ctx;          /* context of the consumer's log lines about this message */
    char reason[DM_DELIVERY_REASON_MAX]; /* for DM_SETTLE_DEAD_LETTER; "" = the queue's default */
    char ids[3][DM_DELIVERY_ID_MAX];     /* storage behind ctx (dm_delivery_set_ctx) */
};

/* Copy ctx's run, partition and trace ids into d (cut to DM_DELIVERY_ID_MAX - 1 bytes) so the
 * consumer's settle lines carry them after the handler's own storage is gone. */
void dm_delivery_set_ctx(struct dm_delivery *d, const struct dm_log_ctx *ctx);
/* Format the dead-letter reason into d->reason; returns DM_SETTLE_DEAD_LETTER. */
enum dm_settle dm_delivery_dead_letter(struct dm_delivery *d, const char *fmt, ...) DM_PRINTF(2, 3);

/* Handle one message and say how to settle it. d->msg is valid until the handler returns. */
typedef enum dm_settle (*dm_consumer_handler)(void *arg, struct dm_delivery *d);

struct dm_consumer_opts {
    struct dm_queue *queue; /* must outlive the consumer */
    enum dm_queue_name name;
    dm_consumer_handler handle;
    void *arg;                   /* passed to handle */
    int concurrency;             /* handler threads, >= 1 */
    int64_t renew_ms;            /* renew a lock held this long, and again each renew_ms after;
                                  * 0 = never (use dm_consumer_renew_ms) */
    int receive_wait_ms;         /* one receive waits this long for a message; 0 = 1000 */
    int64_t receive_retry_ms;    /* pause after a failed receive; 0 = 1000 */
    volatile sig_atomic_t *stop; /* stop when non-zero; NULL = dm_stop_flag (SIGTERM) */
};

struct dm_consumer; /* opaque: the threads and the messages in flight */

/* The renewal interval for a queue of q: half its lock duration (at least 1 ms). */
int64_t dm_consumer_renew_ms(const struct dm_queue *q, enum dm_queue_name name);

/* Start the renewal thread and up to concurrency handler threads. A handler thread that
 * cannot be created is logged and the consumer runs with fewer; none at all is an error
 * (DM_ERR_IO). Invalid options: DM_ERR_INVALID. */
enum dm_err dm_consumer_start(const struct dm_consumer_opts *o, struct dm_consumer **out,
                              struct dm_error *err) DM_MUST_CHECK;
/* How many handler threads run. */
int dm_consumer_threads(const struct dm_consumer *c);
/* Wait until the stop flag is set and every handler thread has settled its last message and
 * ended, then end the renewal thread and free c. NULL is a no-op. */
void dm_consumer_join(struct dm_consumer *c);

#endif
