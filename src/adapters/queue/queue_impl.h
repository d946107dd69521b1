/*
 * queue_impl.h - private to the queue module: the backend vtable and the handle layout shared
 * by queue.c and the backends (queue_pg.c, queue_servicebus.c), and the backends'
 * constructors. Callers use queue.h; tests may include this to fake a backend.
 */
#ifndef DM_ADAPTERS_QUEUE_IMPL_H
#define DM_ADAPTERS_QUEUE_IMPL_H

#include "adapters/queue/queue.h"

/* Backend vtable (implemented by queue_pg.c and queue_servicebus.c). */
struct dm_queue_ops {
    const char *name;
    enum dm_err (*send_many)(struct dm_queue *q, enum dm_queue_name name,
                             const struct dm_queue_out *msgs, int n, struct dm_error *err);
    enum dm_err (*receive)(struct dm_queue *q, enum dm_queue_name name, int wait_ms,
                           struct dm_queue_msg **out, struct dm_error *err);
    enum dm_err (*complete)(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err);
    enum dm_err (*abandon)(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err);
    enum dm_err (*dead_letter)(struct dm_queue *q, struct dm_queue_msg *m, const char *reason,
                               struct dm_error *err);
    enum dm_err (*renew)(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err);
    enum dm_err (*stats)(struct dm_queue *q, enum dm_queue_name name, struct dm_queue_stats *out,
                         struct dm_error *err);
    enum dm_err (*dlq_list)(struct dm_queue *q, enum dm_queue_name name, int max,
                            struct dm_queue_msg ***out, int *n, struct dm_error *err);
    enum dm_err (*dlq_resubmit)(struct dm_queue *q, enum dm_queue_name name, const char *id,
                                int *count, struct dm_error *err);
    void (*free)(struct dm_queue *q);
};

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
