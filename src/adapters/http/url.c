/* url.c - URLs built on a configured base with libcurl's CURLU (see url.h). */
#include "adapters/http/url.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"

/* The URL parts that make the origin: the base's must survive whatever path and query do. */
static const CURLUPart origin_parts[] = {CURLUPART_SCHEME,  CURLUPART_USER, CURLUPART_PASSWORD,
                                         CURLUPART_OPTIONS, CURLUPART_HOST, CURLUPART_PORT};
#define NORIGIN (sizeof(origin_parts) / sizeof(origin_parts[0]))

/* Part which of u, or NULL when absent. Free with curl_free. */
static char *part(CURLU *u, CURLUPart which)
{
    char *v = NULL;
    if (curl_url_get(u, which, &v, 0) != CURLUE_OK)
        return NULL;
    return v;
}

static bool same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

enum dm_err dm_http_url_on_base(const char *base, const char *path, const char *query, char **out,
                                struct dm_error *err)
{
    CURLU *u = NULL;
    char *origin[NORIGIN] = {0};
    char *base_path = NULL, *want_path = NULL, *ref = NULL, *got_path = NULL, *got_query = NULL;
    char *got_fragment = NULL, *url = NULL;
    enum dm_err rc = DM_ERR_INVALID;
    *out = NULL;
    if (base == NULL || path == NULL || path[0] != '/' || path[1] == '/') {
        dm_error_set(err, DM_ERR_INVALID, "the path must start with a single '/'");
        goto out;
    }
    u = curl_url();
    if (u == NULL) {
        rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Only an absolute URL with a scheme: no guessing, no default scheme. */
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) {
        dm_error_set(err, DM_ERR_INVALID, "the base is not a URL");
        goto out;
    }
    for (size_t i = 0; i < NORIGIN; i++)
        origin[i] = part(u, origin_parts[i]);
    if (origin[0] == NULL || (strcasecmp(origin[0], "http") && strcasecmp(origin[0], "https"))) {
        dm_error_set(err, DM_ERR_INVALID, "the base is not an http:// or https:// URL");
        goto out;
    }
    base_path = part(u, CURLUPART_PATH);
    size_t n = base_path ? strlen(base_path) : 0;
    while (n > 0 && base_path[n - 1] == '/')
        n--;
    want_path = dm_xasprintf("%.*s%s", (int)n, base_path ? base_path : "", path);
    bool has_query = query != NULL && query[0] != '\0';
    ref = dm_xasprintf("%s%s%s", want_path, has_query ? "?" : "", has_query ? query : "");
    /* An absolute-path reference, resolved on the base: it replaces path, query, fragment. */
    if (curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK) {
        dm_error_set(err, DM_ERR_INVALID, "the path or query is not valid in a URL");
        goto out;
    }
    /* libcurl's own parser says what the URL now is: the origin must be the base's and path
     * and query the ones given, byte for byte (nothing resolved, re-encoded or moved). */
    for (size_t i = 0; i < NORIGIN; i++) {
        char *now = part(u, origin_parts[i]);
        bool kept = same(now, origin[i]);
        curl_free(now);
        if (!kept) {
            dm_error_set(err, DM_ERR_INVALID, "the path or query would change the URL's origin");
            goto out;
        }
    }
    got_path = part(u, CURLUPART_PATH);
    got_query = part(u, CURLUPART_QUERY);
    got_fragment = part(u, CURLUPART_FRAGMENT);
    if (!same(got_path, want_path) || !same(got_query, has_query ? query : NULL) ||
        got_fragment != NULL) {
        dm_error_set(err, DM_ERR_INVALID, "the path or query would not reach the URL as given");
        goto out;
    }
    url = part(u, CURLUPART_URL);
    if (url == NULL) {
        dm_error_set(err, DM_ERR_INVALID, "no URL");
        goto out;
    }
    *out = dm_xstrdup(url);
    rc = DM_OK;
out:
    curl_free(url);
    curl_free(got_fragment);
    curl_free(got_query);
    curl_free(got_path);
    free(ref);
    free(want_path);
    curl_free(base_path);
    for (size_t i = 0; i < NORIGIN; i++)
        curl_free(origin[i]);
    curl_url_cleanup(u);
    return rc;
}
