/* watermark.c - the watermark's JSON form, names, backend selection and the advance-only loop. */
#include "adapters/watermark/watermark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/watermark/watermark_impl.h"
#include "core/json.h"
#include "core/timeutil.h"

#define WATERMARK_MAX_JSON 4096

char *dm_watermark_to_json(const struct dm_watermark *wm)
{
    char updated[DM_ISO_LEN], completed[DM_ISO_LEN];
    dm_time_format(wm->last_updated_at_ms, updated);
    json_t *o = json_object();
    json_object_set_new(o, "lastUpdatedAt", json_string(updated));
    json_object_set_new(o, "lastRunId", json_string(wm->last_run_id));
    if (wm->last_run_completed_at_ms) {
        dm_time_format(wm->last_run_completed_at_ms, completed);
        json_object_set_new(o, "lastRunCompletedAt", json_string(completed));
    } else {
        json_object_set_new(o, "lastRunCompletedAt", json_null());
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s == NULL)
        abort();
    return s;
}

enum dm_err dm_watermark_from_json(const char *text, size_t len, struct dm_watermark *wm,
                                   struct dm_error *err)
{
    memset(wm, 0, sizeof(*wm));
    json_t *o = dm_json_parse_object(text, len, WATERMARK_MAX_JSON, err);
    if (o == NULL)
        return DM_ERR_INVALID;
    enum dm_err e = DM_OK;
    const char *updated = NULL, *run_id = NULL;
    e = dm_json_req_str(o, "lastUpdatedAt", &updated, err);
    if (e != DM_OK)
        goto out;
    if (dm_time_parse(updated, &wm->last_updated_at_ms) != DM_OK) {
        e = dm_error_set(err, DM_ERR_INVALID, "watermark: lastUpdatedAt is not an ISO-8601 time");
        goto out;
    }
    e = dm_json_req_str(o, "lastRunId", &run_id, err);
    if (e != DM_OK)
        goto out;
    if (!dm_uuid_valid(run_id)) {
        e = dm_error_set(err, DM_ERR_INVALID, "watermark: lastRunId is not a UUID");
        goto out;
    }
    snprintf(wm->last_run_id, sizeof(wm->last_run_id), "%s", run_id);
    const char *completed = dm_json_str(o, "lastRunCompletedAt");
    if (completed && dm_time_parse(completed, &wm->last_run_completed_at_ms) != DM_OK) {
        e = dm_error_set(err, DM_ERR_INVALID,
                         "watermark: lastRunCompletedAt is not an ISO-8601 time");
        goto out;
    }
out:
    json_decref(o);
    return e;
}

bool dm_watermark_older(const struct dm_watermark *a, const struct dm_watermark *b)
{
    return a->last_updated_at_ms < b->last_updated_at_ms;
}

bool dm_watermark_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > DM_WATERMARK_MAX_NAME || name[0] == '.')
        return false;
    /* Safe as a file name and unencoded in a blob URL path. */
    if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
        return false;
    /* "<name>.<digits>" is the file backend's history of <name>: a name of that shape would
     * be taken for (and pruned as) another watermark's old version. */
    const char *dot = strrchr(name, '.');
    return dot == NULL || dot[1] == '\0' || strspn(dot + 1, "0123456789") != strlen(dot + 1);
}

enum dm_err dm_watermark_name_check(const char **name, struct dm_error *err)
{
    if (*name == NULL)
        *name = DM_WATERMARK_DEFAULT_NAME;
    if (!dm_watermark_name_valid(*name))
        return dm_error_set(err, DM_ERR_INVALID, "watermark: '%.*s' is not a watermark name",
                            DM_WATERMARK_MAX_NAME, *name);
    return DM_OK;
}

enum dm_err dm_watermark_open(const struct dm_watermark_opts *opts, struct dm_watermark_store **out,
                              struct dm_error *err)
{
    *out = NULL;
    const char *name = opts->name ? opts->name : DM_WATERMARK_DEFAULT_NAME;
    if (opts->azure_connection_string)
        return dm_watermark_azure_open(opts->azure_connection_string, name, out, err);
    return dm_watermark_file_open(opts->dir ? opts->dir : DM_WATERMARK_DEFAULT_DIR, name, out, err);
}

void dm_watermark_free(struct dm_watermark_store *s)
{
    if (s == NULL)
        return;
    s->ops->free(s);
}

const char *dm_watermark_backend_name(const struct dm_watermark_store *s)
{
    return s->ops->name;
}

enum dm_err dm_watermark_read(struct dm_watermark_store *s, struct dm_watermark *wm, char *etag,
                              size_t etag_size, struct dm_error *err)
{
    if (etag && etag_size)
        etag[0] = '\0';
    return s->ops->read(s, wm, etag, etag_size, err);
}

enum dm_err dm_watermark_write(struct dm_watermark_store *s, const struct dm_watermark *wm,
                               const char *expected_etag, struct dm_error *err)
{
    if (!dm_uuid_valid(wm->last_run_id) || wm->last_updated_at_ms <= 0)
        return dm_error_set(err, DM_ERR_INVALID, "watermark: run id and updatedTo are required");
    return s->ops->write(s, wm, expected_etag, err);
}

enum dm_err dm_watermark_advance(struct dm_watermark_store *s, const struct dm_watermark *wm,
                                 bool *written, struct dm_error *err)
{
    *written = false;
    for (int attempt = 0; attempt < 10; attempt++) {
        struct dm_watermark cur;
        char etag[128];
        enum dm_err e = dm_watermark_read(s, &cur, etag, sizeof(etag), err);
        bool exists = e == DM_OK;
        if (e != DM_OK && e != DM_ERR_NOT_FOUND)
            return e;
        if (exists && !dm_watermark_older(&cur, wm))
            return DM_OK; /* stored one is newer or equal: never move backwards */
        e = dm_watermark_write(s, wm, exists ? etag : NULL, err);
        if (e == DM_OK) {
            *written = true;
            return DM_OK;
        }
        if (e != DM_ERR_CONFLICT)
            return e;
        /* Someone wrote meanwhile: re-read and decide again. */
    }
    return dm_error_set(err, DM_ERR_CONFLICT, "watermark: too many concurrent writers");
}
