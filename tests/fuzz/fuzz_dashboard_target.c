/*
 * fuzz_dashboard_target.c - libFuzzer driver for the dashboard proxy's request-target decision
 * (issue 15, item 1: the proxy was an open SSRF). The input is a raw request target (the first
 * line; the second, if any, is a header value). Properties: a target that does not start with
 * '/' is refused; whatever is proxied becomes a URL on the configured base whose scheme, user,
 * password, host and port are the base's and whose path and query are exactly the base path
 * plus the raw path and the raw query; a header value the proxy forwards has no control byte.
 */
#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "adapters/http/url.h"
#include "services/dashboard/dashboard.h"

#define BASE "http://127.0.0.1:3000/base"

static char *part(CURLU *u, CURLUPart which)
{
    char *v = NULL;
    if (curl_url_get(u, which, &v, 0) != CURLUE_OK)
        return NULL;
    return v;
}

static void same_or_abort(const char *got, const char *want)
{
    if (got == NULL || want == NULL) {
        if (got != want)
            abort();
        return;
    }
    if (strcmp(got, want) != 0)
        abort();
}

static void check_url(const char *url, const char *path, const char *query)
{
    CURLU *u = curl_url();
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        abort();
    char *scheme = part(u, CURLUPART_SCHEME), *host = part(u, CURLUPART_HOST);
    char *port = part(u, CURLUPART_PORT), *user = part(u, CURLUPART_USER);
    char *password = part(u, CURLUPART_PASSWORD), *p = part(u, CURLUPART_PATH);
    char *q = part(u, CURLUPART_QUERY);
    same_or_abort(scheme, "http");
    same_or_abort(host, "127.0.0.1");
    same_or_abort(port, "3000");
    same_or_abort(user, NULL);
    same_or_abort(password, NULL);
    if (p == NULL || strncmp(p, "/base", 5) != 0 || strcmp(p + 5, path) != 0)
        abort();
    same_or_abort(q, (query && query[0]) ? query : NULL);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_free(password);
    curl_free(p);
    curl_free(q);
    curl_url_cleanup(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *buf = fuzz_text(data, size);
    char *value = strchr(buf, '\n');
    if (value != NULL)
        *value++ = '\0';
    const char *raw = buf;

    size_t plen = 0;
    enum dm_dashboard_target t = dm_dashboard_classify_target(raw, &plen);
    if (raw[0] != '/' && t != DM_DASHBOARD_TARGET_BAD)
        abort();
    if (t == DM_DASHBOARD_TARGET_PROXY || t == DM_DASHBOARD_TARGET_PROXY_CREDENTIALS) {
        if (plen == 0 || plen > strlen(raw) || (raw[plen] != '\0' && raw[plen] != '?'))
            abort();
        char *path = strndup(raw, plen);
        const char *query = raw[plen] == '?' ? raw + plen + 1 : NULL;
        char *url = NULL;
        struct dm_error err = {0};
        /* Every target the classifier lets through must make a URL, and a safe one. */
        if (path == NULL || dm_http_url_on_base(BASE, path, query, &url, &err) != DM_OK)
            abort();
        check_url(url, path, query);
        free(url);
        free(path);
    }
    if (value != NULL && dm_dashboard_header_ok("X-Fuzz", value)) {
        for (const char *p = value; *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                abort();
    }
    free(buf);
    return 0;
}
