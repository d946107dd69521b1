/* messages.c - encode and strictly validate the pipeline's queue messages. */
#include "domain/messages.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/timeutil.h"

static bool partition_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= DM_PARTITION_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static char *dump_ordered(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s == NULL)
        abort();
    return s;
}

char *dm_work_item_to_json(const struct dm_work_item *m)
{
    char from[DM_ISO_LEN], to[DM_ISO_LEN];
    dm_time_format(m->updated_from_ms, from);
    dm_time_format(m->updated_to_ms, to);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("WORK_ITEM"));
    json_object_set_new(o, "runId", json_string(m->run_id));
    json_object_set_new(o, "traceId", json_string(m->trace_id));
    json_object_set_new(o, "partitionId", json_string(m->partition_id));
    json_object_set_new(o, "minPrice", json_integer(m->min_price));
    json_object_set_new(o, "maxPrice", json_integer(m->max_price));
    json_object_set_new(o, "estimatedRecords", json_integer(m->estimated_records));
    json_object_set_new(o, "offset", json_integer(m->offset));
    json_object_set_new(o, "limit", json_integer(m->limit));
    json_object_set_new(o, "updatedFrom", json_string(from));
    json_object_set_new(o, "updatedTo", json_string(to));
    json_object_set_new(o, "attempt", json_integer(m->attempt));
    return dump_ordered(o);
}

char *dm_work_done_to_json(const struct dm_work_done *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("WORK_DONE"));
    json_object_set_new(o, "runId", json_string(m->run_id));
    json_object_set_new(o, "traceId", json_string(m->trace_id));
    json_object_set_new(o, "workerId", json_string(m->worker_id));
    json_object_set_new(o, "partitionId", json_string(m->partition_id));
    json_object_set_new(o, "recordsProcessed", json_integer(m->records_processed));
    json_object_set_new(o, "status",
                        json_string(m->status == DM_WORK_SUCCESS ? "success" : "failed"));
    if (m->error[0])
        json_object_set_new(o, "error", json_string(m->error));
    return dump_ordered(o);
}

char *dm_consolidate_to_json(const struct dm_consolidate *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("CONSOLIDATE"));
    json_object_set_new(o, "runId", json_string(m->run_id));
    json_object_set_new(o, "traceId", json_string(m->trace_id));
    json_object_set_new(o, "force", json_boolean(m->force));
    if (m->updated_to_ms) {
        char to[DM_ISO_LEN];
        dm_time_format(m->updated_to_ms, to);
        json_object_set_new(o, "updatedTo", json_string(to));
    }
    return dump_ordered(o);
}

static json_t *parse_typed(const char *text, size_t len, const char *type, struct dm_error *err)
{
    json_t *o = dm_json_parse_object(text, len, DM_MSG_MAX_BYTES, err);
    if (o == NULL)
        return NULL;
    const char *t = dm_json_str(o, "type");
    if (t == NULL || strcmp(t, type)) {
        dm_error_set(err, DM_ERR_INVALID, "field 'type' must be \"%s\"", type);
        json_decref(o);
        return NULL;
    }
    return o;
}

static enum dm_err get_uuid(json_t *o, const char *key, char out[DM_UUID_LEN], struct dm_error *err)
{
    const char *s = dm_json_str(o, key);
    if (s == NULL || !dm_uuid_valid(s))
        return dm_error_set(err, DM_ERR_INVALID, "field '%s' must be a UUID string", key);
    memcpy(out, s, DM_UUID_LEN);
    return DM_OK;
}

static enum dm_err get_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out,
                           struct dm_error *err)
{
    int64_t v;
    if (dm_json_int(o, key, &v) != DM_OK || v < min || v > max)
        return dm_error_set(err, DM_ERR_INVALID, "field '%s' must be an integer in [%lld, %lld]",
                            key, (long long)min, (long long)max);
    *out = v;
    return DM_OK;
}

static enum dm_err get_time(json_t *o, const char *key, int64_t *out, struct dm_error *err)
{
    const char *s = dm_json_str(o, key);
    if (s == NULL || dm_time_parse(s, out) != DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "field '%s' must be an ISO-8601 time", key);
    return DM_OK;
}

static enum dm_err get_partition(json_t *o, char out[DM_PARTITION_ID_MAX], struct dm_error *err)
{
    const char *p = dm_json_str(o, "partitionId");
    if (p == NULL || !partition_id_ok(p))
        return dm_error_set(err, DM_ERR_INVALID,
                            "field 'partitionId' must be 1-63 characters of [A-Za-z0-9._-]");
    memcpy(out, p, strlen(p) + 1);
    return DM_OK;
}

/* A message of this type with its runId and traceId (every message has both) read into run_id
 * and trace_id: the object (the caller decrefs it), *e DM_OK or the id's problem. NULL when
 * text is not a JSON object of this type (err says why). */
static json_t *parse_head(const char *text, size_t len, const char *type, char run_id[DM_UUID_LEN],
                          char trace_id[DM_UUID_LEN], enum dm_err *e, struct dm_error *err)
{
    json_t *o = parse_typed(text, len, type, err);
    if (o == NULL)
        return NULL;
    *e = get_uuid(o, "runId", run_id, err);
    if (*e == DM_OK)
        *e = get_uuid(o, "traceId", trace_id, err);
    return o;
}

enum dm_err dm_work_item_parse(const char *text, size_t len, struct dm_work_item *m,
                               struct dm_error *err)
{
    memset(m, 0, sizeof(*m));
    enum dm_err e = DM_OK;
    json_t *o = parse_head(text, len, "WORK_ITEM", m->run_id, m->trace_id, &e, err);
    if (o == NULL)
        return DM_ERR_INVALID;
    int64_t limit = 0, attempt = 0;
    if (e == DM_OK)
        e = get_partition(o, m->partition_id, err);
    if (e == DM_OK)
        e = get_int(o, "minPrice", 0, 1000000000000LL, &m->min_price, err);
    if (e == DM_OK)
        e = get_int(o, "maxPrice", 0, 1000000000000LL, &m->max_price, err);
    if (e == DM_OK && m->min_price > m->max_price)
        e = dm_error_set(err, DM_ERR_INVALID, "field 'minPrice' exceeds 'maxPrice'");
    if (e == DM_OK)
        e = get_int(o, "estimatedRecords", 0, 100000000LL, &m->estimated_records, err);
    if (e == DM_OK)
        e = get_int(o, "offset", 0, 100000000LL, &m->offset, err);
    if (e == DM_OK)
        e = get_int(o, "limit", 1, DM_PAGE_LIMIT, &limit, err);
    if (e == DM_OK)
        e = get_time(o, "updatedFrom", &m->updated_from_ms, err);
    if (e == DM_OK)
        e = get_time(o, "updatedTo", &m->updated_to_ms, err);
    if (e == DM_OK && m->updated_from_ms > m->updated_to_ms)
        e = dm_error_set(err, DM_ERR_INVALID, "field 'updatedFrom' is after 'updatedTo'");
    if (e == DM_OK) {
        if (json_object_get(o, "attempt") == NULL)
            attempt = 0;
        else
            e = get_int(o, "attempt", 0, 1000000, &attempt, err);
    }
    m->limit = (int)limit;
    m->attempt = (int)attempt;
    json_decref(o);
    return e;
}

enum dm_err dm_work_done_parse(const char *text, size_t len, struct dm_work_done *m,
                               struct dm_error *err)
{
    memset(m, 0, sizeof(*m));
    enum dm_err e = DM_OK;
    json_t *o = parse_head(text, len, "WORK_DONE", m->run_id, m->trace_id, &e, err);
    if (o == NULL)
        return DM_ERR_INVALID;
    if (e == DM_OK)
        e = get_partition(o, m->partition_id, err);
    if (e == DM_OK)
        e = get_int(o, "recordsProcessed", 0, 100000000LL, &m->records_processed, err);
    if (e == DM_OK) {
        const char *w = dm_json_str(o, "workerId");
        if (w == NULL || strlen(w) >= sizeof(m->worker_id))
            e = dm_error_set(err, DM_ERR_INVALID, "field 'workerId' must be a short string");
        else
            memcpy(m->worker_id, w, strlen(w) + 1);
    }
    if (e == DM_OK) {
        const char *s = dm_json_str(o, "status");
        if (s && !strcmp(s, "success"))
            m->status = DM_WORK_SUCCESS;
        else if (s && !strcmp(s, "failed"))
            m->status = DM_WORK_FAILED;
        else
            e = dm_error_set(err, DM_ERR_INVALID, "field 'status' must be success or failed");
    }
    if (e == DM_OK) {
        const char *msg = dm_json_str(o, "error");
        if (msg)
            snprintf(m->error, sizeof(m->error), "%s", msg);
    }
    json_decref(o);
    return e;
}

enum dm_err dm_consolidate_parse(const char *text, size_t len, struct dm_consolidate *m,
                                 struct dm_error *err)
{
    memset(m, 0, sizeof(*m));
    enum dm_err e = DM_OK;
    json_t *o = parse_head(text, len, "CONSOLIDATE", m->run_id, m->trace_id, &e, err);
    if (o == NULL)
        return DM_ERR_INVALID;
    if (e == DM_OK) {
        json_t *f = json_object_get(o, "force");
        if (f == NULL || json_is_null(f))
            m->force = false;
        else if (json_is_boolean(f))
            m->force = json_is_true(f);
        else
            e = dm_error_set(err, DM_ERR_INVALID, "field 'force' must be a boolean");
    }
    if (e == DM_OK && json_object_get(o, "updatedTo") &&
        !json_is_null(json_object_get(o, "updatedTo")))
        e = get_time(o, "updatedTo", &m->updated_to_ms, err);
    json_decref(o);
    return e;
}

enum dm_err dm_msg_type_of(const char *text, size_t len, enum dm_msg_type *type,
                           struct dm_error *err)
{
    json_t *o = dm_json_parse_object(text, len, DM_MSG_MAX_BYTES, err);
    if (o == NULL)
        return DM_ERR_INVALID;
    const char *t = dm_json_str(o, "type");
    enum dm_err e = DM_OK;
    if (t && !strcmp(t, "WORK_ITEM"))
        *type = DM_MSG_WORK_ITEM;
    else if (t && !strcmp(t, "WORK_DONE"))
        *type = DM_MSG_WORK_DONE;
    else if (t && !strcmp(t, "CONSOLIDATE"))
        *type = DM_MSG_CONSOLIDATE;
    else
        e = dm_error_set(err, DM_ERR_INVALID, "unknown message type");
    json_decref(o);
    return e;
}

void dm_work_item_id(const struct dm_work_item *m, char *out, size_t size)
{
    if (m->attempt > 0)
        snprintf(out, size, "%s:%s:%lld:r%d", m->run_id, m->partition_id, (long long)m->offset,
                 m->attempt);
    else
        snprintf(out, size, "%s:%s:%lld", m->run_id, m->partition_id, (long long)m->offset);
}

void dm_work_done_id(const struct dm_work_done *m, char *out, size_t size)
{
    snprintf(out, size, "work-done:%s:%s:%s", m->run_id, m->partition_id,
             m->status == DM_WORK_SUCCESS ? "success" : "failed");
}

void dm_consolidate_id(const struct dm_consolidate *m, char *out, size_t size)
{
    snprintf(out, size, "consolidate:%s", m->run_id);
}
