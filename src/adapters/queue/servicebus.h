/*
 * servicebus.h - the Azure Service Bus queue backend (queue_servicebus.c): REST over the one
 * HTTP client, authenticated with SAS tokens built from the connection string. Selected by
 * dm_queue_open when AZURE_SERVICE_BUS_CONNECTION_STRING is set (or QUEUE_BACKEND=servicebus).
 *
 * Connection string: `Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=NAME;
 * SharedAccessKey=KEY[;EntityPath=QUEUE]` (keys case-insensitive, any order). sb:// means
 * https://. For local doubles and emulators the Endpoint may be an explicit http:// or https://
 * URL (`Endpoint=http://127.0.0.1:8123/`), or `UseDevelopmentEmulator=true` turns sb:// into
 * plain http:// on the same host and port.
 *
 * Credentials per queue (least privilege): each queue may have its own connection string,
 * AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS / _WORK_DONE / _CONSOLIDATE, typically the
 * queue-scoped shared access rule Azure gives with `EntityPath=<queue>`. A queue uses its own
 * string when set, else the namespace-level AZURE_SERVICE_BUS_CONNECTION_STRING (the seed's
 * single variable, which alone keeps working as before). A string given for one queue whose
 * EntityPath names another is refused at start-up; in the namespace-level string an
 * EntityPath is ignored, as before. Operations on a queue with neither string fail with
 * DM_ERR_AUTH before any request (an app only holds the queues its role needs).
 *
 * SAS token (one per queue, cached, valid 1 h, renewed 5 min before expiry), signing the
 * queue's entity URI (e.g. https://NS.servicebus.windows.net/work-items, which also covers its
 * $deadletterqueue):
 *   SharedAccessSignature sr=<urlenc(uri)>&sig=<urlenc(base64(hmac_sha256(key,
 *   urlenc(uri) + "\n" + expiry)))>&se=<expiry>&skn=<key name>
 * The HMAC key is the SharedAccessKey text as given (not base64-decoded), as Azure does.
 *
 * Operations and their REST calls:
 * - send: POST /{queue}/messages, body as is, BrokerProperties {MessageId, TimeToLive,
 *   ScheduledEnqueueTimeUtc (RFC 1123) when scheduled}. send_many: POST with Content-Type
 *   application/vnd.microsoft.servicebus.json, a JSON array of {Body, BrokerProperties}, split
 *   into batches under 256 KB; a body that is not valid UTF-8 (it cannot be a JSON string) or
 *   too large for a batch goes alone as a plain send. 429/5xx/network errors are retried (4
 *   attempts, honouring Retry-After up to 5 s) so nothing is dropped; a failure after that
 *   returns the error with earlier batches sent (at-least-once: work-items' duplicate
 *   detection absorbs a retry of the whole call; the other consumers are idempotent).
 * - receive: POST /{queue}/messages/head?timeout=S (peek-lock; 201 with BrokerProperties
 *   carrying LockToken, SequenceNumber, DeliveryCount, LockedUntilUtc; 204 when none). The lock
 *   URL (backend_ref) is the Location header when it lies under the endpoint, else built as
 *   /{queue}/messages/{SequenceNumber}/{LockToken}.
 * - complete: DELETE lock URL; abandon: PUT lock URL (unlock); renew: POST lock URL.
 *   404/410 on any of them -> DM_ERR_LOCK_LOST. 429 -> DM_ERR_RATE_LIMITED, 5xx ->
 *   DM_ERR_REMOTE, 401/403 -> DM_ERR_AUTH.
 * - dead-letter: the REST protocol has no dead-letter operation (only AMQP does). This backend
 *   logs the consumer's reason (warn, with the message id) and unlocks the message instead, so
 *   it is redelivered; a consumer that rejects it again does the same, and when the delivery
 *   count reaches the queue's MaxDeliveryCount Service Bus itself moves it to the
 *   $deadletterqueue with reason MaxDeliveryCountExceeded. Why: the message stays in Service
 *   Bus's real dead-letter queue - counted by DeadLetterMessageCount (the seed's "dead letter
 *   queue count > 0" alert and KEDA read it), listed and resubmitted below - and is never lost.
 *   The alternative, completing it and re-sending a copy to some parking place, would hide it
 *   from those metrics and could lose it between the two calls. The cost is at most
 *   MaxDeliveryCount - 1 extra quick deliveries of a poison message; its reason is in the logs.
 * - stats: GET /{queue}?api-version=2021-05 (Atom entry); active, scheduled and dead-letter
 *   counts from CountDetails. The oldest message's age is not available over REST: 0.
 * - dlq_list: peek-lock up to max messages from /{queue}/$deadletterqueue/messages/head, then
 *   unlock them all (a listing raises their delivery count, which the DLQ does not act on);
 *   the reason is the DeadLetterReason property header.
 * - dlq_resubmit: peek-lock DLQ messages one by one; each match is sent to the queue again
 *   and then completed in the DLQ (send first: a crash in between duplicates, never loses);
 *   others are unlocked at the end. On a queue with duplicate detection the copy's MessageId
 *   gets a ":resubmit-XXXXXXXX" suffix (cut to 128 characters), or the window would swallow it.
 */
#ifndef DM_ADAPTERS_QUEUE_SERVICEBUS_H
#define DM_ADAPTERS_QUEUE_SERVICEBUS_H

#include <stdint.h>

#include "adapters/queue/queue.h"
#include "core/error.h"

/* Parsed connection string. All strings malloc'd. */
struct dm_sb_conn_info {
    char *base_url; /* "https://ns.servicebus.windows.net" (no trailing slash) */
    char *key_name;
    char *key;
    char *entity_path; /* EntityPath (a queue-scoped rule's queue) or NULL */
};

/* Parse a connection string (see above). DM_ERR_INVALID naming the missing or bad key; the
 * key itself never appears in messages. */
enum dm_err dm_sb_parse_connection_string(const char *cs, struct dm_sb_conn_info *out,
                                          struct dm_error *err) DM_MUST_CHECK;
void dm_sb_conn_info_free(struct dm_sb_conn_info *ci);

/* Parse a connection string meant for one queue (its per-queue variable): as above, and an
 * EntityPath, when present, must name that queue (case-insensitively, as Service Bus entity
 * names are). DM_ERR_INVALID otherwise, with a message that names neither key nor value. */
enum dm_err dm_sb_parse_queue_connection_string(const char *cs, const char *queue,
                                                struct dm_sb_conn_info *out,
                                                struct dm_error *err) DM_MUST_CHECK;

/* The per-queue variable of a queue ("AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS"). */
const char *dm_sb_queue_variable(enum dm_queue_name name);

/* The SAS token (the whole Authorization header value) for resource_uri, valid until
 * expiry_s (seconds since the epoch). malloc'd. */
char *dm_sb_sas_token(const char *resource_uri, const char *key_name, const char *key,
                      int64_t expiry_s);

/* RFC 1123 time ("Sun, 29 Nov 2026 09:00:00 GMT") of ms since the epoch (seconds precision). */
#define DM_RFC1123_LEN 32
void dm_sb_rfc1123(int64_t ms, char out[DM_RFC1123_LEN]);
/* Parse an RFC 1123 time; DM_ERR_INVALID when malformed. */
enum dm_err dm_sb_parse_rfc1123(const char *s, int64_t *ms) DM_MUST_CHECK;

/* Message counts from a queue description (Atom entry, CountDetails with any namespace
 * prefix) into out (oldest_age_ms = 0). DM_ERR_INVALID when it carries no counts. */
enum dm_err dm_sb_parse_description(const char *xml, struct dm_queue_stats *out) DM_MUST_CHECK;

#endif
