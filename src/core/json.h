/*
 * json.h - small helpers over jansson for reading untrusted JSON: bounded parsing, typed field
 * access that distinguishes "absent" from "wrong type", and compact serialisation.
 * Returned const char* point into the json_t and live as long as it does.
 */
#ifndef DM_CORE_JSON_H
#define DM_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

/* Parse at most max_len bytes of JSON text. On failure fills err with the position. */
json_t *dm_json_parse(const char *text, size_t len, size_t max_len, struct dm_error *err);
/* Parse and require a JSON object. */
json_t *dm_json_parse_object(const char *text, size_t len, size_t max_len, struct dm_error *err);

/* String member or NULL (absent, null or not a string). */
const char *dm_json_str(const json_t *obj, const char *key);
/* Required string member: DM_ERR_INVALID naming the key when absent/wrong type/empty. */
enum dm_err dm_json_req_str(const json_t *obj, const char *key, const char **out,
                            struct dm_error *err) DM_MUST_CHECK;
/* Integer member: DM_ERR_NOT_FOUND when absent/null, DM_ERR_INVALID when not an integer. */
enum dm_err dm_json_int(const json_t *obj, const char *key, int64_t *out) DM_MUST_CHECK;
/* Number member (integer or real). Same errors as dm_json_int. */
enum dm_err dm_json_num(const json_t *obj, const char *key, double *out) DM_MUST_CHECK;
/* Boolean member. Same errors as dm_json_int. */
enum dm_err dm_json_bool(const json_t *obj, const char *key, bool *out) DM_MUST_CHECK;

/* Compact serialisation (malloc'd, never NULL; aborts on allocation failure). */
char *dm_json_dumps(const json_t *j);
/* Set key to a string, or to JSON null when s is NULL. */
void dm_json_set_str(json_t *obj, const char *key, const char *s);

#endif
