/* queue_servicebus.c - Azure Service Bus backend (placeholder until the REST client lands). */
#include "adapters/queue/queue_impl.h"

enum dm_err dm_queue_sb_init(struct dm_queue *q, const char *connection_string,
                             struct dm_error *err)
{
    (void)q;
    (void)connection_string;
    return dm_error_set(err, DM_ERR_UNAVAILABLE, "queue: Service Bus backend not built yet");
}
