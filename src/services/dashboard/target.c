/*
 * target.c - the dashboard's decisions about what a client sent, made on the raw bytes: which
 * request targets are static files, which go to the API and which are refused, and which
 * request headers may be forwarded. Pure functions, fuzzed by tests/fuzz/fuzz_dashboard_target.c.
 */
#include <string.h>

#include "services/dashboard/dashboard.h"

/* The API paths, matched against the raw path exactly as dm_dashboard_is_proxied matches. */
static bool raw_prefix(const char *path, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && !memcmp(path, prefix, n) && (len == n || path[n] == '/');
}

static bool raw_exact(const char *path, size_t len, const char *name)
{
    return len == strlen(name) && !memcmp(path, name, len);
}

/* True when path[0..len) has a "." or ".." segment. */
static bool has_dot_segment(const char *path, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i + 1; /* path[i] == '/' */
        while (j < len && path[j] != '/')
            j++;
        size_t seg = j - i - 1;
        if ((seg == 1 && path[i + 1] == '.') ||
            (seg == 2 && path[i + 1] == '.' && path[i + 2] == '.'))
            return true;
        i = j;
    }
    return false;
}

enum dm_dashboard_target dm_dashboard_classify_target(const char *raw, size_t *path_len)
{
    *path_len = 0;
    if (raw == NULL || raw[0] != '/')
        return DM_DASHBOARD_TARGET_BAD;
    size_t plen = 0;
    bool in_query = false;
    for (const char *p = raw; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || ch == '#' || ch == '\\')
            return DM_DASHBOARD_TARGET_BAD;
        if (ch == '?')
            in_query = true;
        if (!in_query)
            plen++;
    }
    *path_len = plen;
    bool metrics = raw_prefix(raw, plen, "/metrics");
    bool proxied = metrics || raw_prefix(raw, plen, "/api") || raw_prefix(raw, plen, "/health") ||
                   raw_exact(raw, plen, "/openapi.json") || raw_exact(raw, plen, "/api-docs");
    if (!proxied)
        return DM_DASHBOARD_TARGET_STATIC;
    if (has_dot_segment(raw, plen))
        return DM_DASHBOARD_TARGET_BAD;
    return metrics ? DM_DASHBOARD_TARGET_PROXY_CREDENTIALS : DM_DASHBOARD_TARGET_PROXY;
}

bool dm_dashboard_header_ok(const char *name, const char *value)
{
    /* RFC 9110 token characters. */
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (name == NULL || name[0] == '\0')
        return false;
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        bool alnum =
            (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        if (!alnum && (ch == '\0' || strchr(tchar, ch) == NULL))
            return false;
    }
    for (const char *p = value ? value : ""; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}
