/*
 * queue_impl.h - private to the queue module: the handle layout shared by queue.c and the
 * backends (queue_pg.c, queue_servicebus.c), and the backends' constructors.
 */
#ifndef DM_ADAPTERS_QUEUE_IMPL_H
#define DM_ADAPTERS_QUEUE_IMPL_H

#include "adapters/queue/queue.h"

struct dm_queue {
    const struct dm_queue_ops *ops;
    struct dm_queue_settings settings[DM_Q_COUNT];
    void *impl; /* backend state */
};

/* Fill q->ops and q->impl (q->settings is already set). */
enum dm_err dm_queue_pg_init(struct dm_queue *q, struct dm_db *db, const char *conninfo,
                             struct dm_error *err);
/* namespace_cs may be NULL; queue_cs NULL or DM_Q_COUNT entries (see
 * dm_queue_open_servicebus_scoped). */
enum dm_err dm_queue_sb_init(struct dm_queue *q, const char *namespace_cs,
                             const char *const *queue_cs, struct dm_error *err);

/* A new zeroed message (aborts on allocation failure). */
struct dm_queue_msg *dm_queue_msg_new(enum dm_queue_name name);

#endif
