/*
 * url.h - building request URLs with libcurl's URL API (CURLU) instead of string
 * concatenation, so bytes that come from a client can only ever become the path and the query
 * of a URL whose scheme, user, host and port are the configured ones.
 */
#ifndef DM_ADAPTERS_HTTP_URL_H
#define DM_ADAPTERS_HTTP_URL_H

#include "core/error.h"

/*
 * The URL with base's scheme, user, password, host and port (base: an absolute http:// or
 * https:// URL), as path the base's own path (without a trailing slash) followed by path, and
 * query as its query (without the '?'; NULL or "" for none); base's query and fragment are
 * dropped. path must start with a single '/'. Path and query are kept byte for byte (percent
 * escapes as written, so a signature over the target still holds).
 *
 * libcurl resolves them as a reference relative to base, and its own parser then checks the
 * result: the origin must be base's and path and query exactly the ones given, else
 * DM_ERR_INVALID. (Setting the parts one by one would do, but libcurl 7.88 lowercases their
 * percent escapes.) On DM_OK *out is a malloc'd string the caller frees. DM_ERR_INVALID (err
 * says why) also when base is not such a URL. Thread-safe.
 */
enum dm_err dm_http_url_on_base(const char *base, const char *path, const char *query, char **out,
                                struct dm_error *err) DM_MUST_CHECK;

#endif
