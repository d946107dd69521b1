/* json.c - typed, bounded access to jansson values. */
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

json_t *dm_json_parse(const char *text, size_t len, size_t max_len, struct dm_error *err)
{
    if (text == NULL) {
        dm_error_set(err, DM_ERR_INVALID, "empty JSON body");
        return NULL;
    }
    if (len > max_len) {
        dm_error_set(err, DM_ERR_TOO_LARGE, "JSON body of %zu bytes exceeds %zu", len, max_len);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (j == NULL) {
        dm_error_set(err, DM_ERR_INVALID, "malformed JSON at line %d column %d: %s", je.line,
                     je.column, je.text);
        return NULL;
    }
    return j;
}

json_t *dm_json_parse_object(const char *text, size_t len, size_t max_len, struct dm_error *err)
{
    json_t *j = dm_json_parse(text, len, max_len, err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        dm_error_set(err, DM_ERR_INVALID, "JSON body must be an object");
        return NULL;
    }
    return j;
}

const char *dm_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

enum dm_err dm_json_req_str(const json_t *obj, const char *key, const char **out,
                            struct dm_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return dm_error_set(err, DM_ERR_INVALID, "missing field '%s'", key);
    if (!json_is_string(v))
        return dm_error_set(err, DM_ERR_INVALID, "field '%s' must be a string", key);
    if (json_string_length(v) == 0)
        return dm_error_set(err, DM_ERR_INVALID, "field '%s' must not be empty", key);
    *out = json_string_value(v);
    return DM_OK;
}

enum dm_err dm_json_int(const json_t *obj, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return DM_ERR_NOT_FOUND;
    if (!json_is_integer(v))
        return DM_ERR_INVALID;
    *out = (int64_t)json_integer_value(v);
    return DM_OK;
}

enum dm_err dm_json_num(const json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return DM_ERR_NOT_FOUND;
    if (!json_is_number(v))
        return DM_ERR_INVALID;
    *out = json_number_value(v);
    return DM_OK;
}

enum dm_err dm_json_bool(const json_t *obj, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return DM_ERR_NOT_FOUND;
    if (!json_is_boolean(v))
        return DM_ERR_INVALID;
    *out = json_is_true(v);
    return DM_OK;
}

char *dm_json_dumps(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        s = dm_xstrdup("null");
    return s;
}

void dm_json_set_str(json_t *obj, const char *key, const char *s)
{
    json_object_set_new(obj, key, s ? json_string(s) : json_null());
}
