/* files.c - dashboard static-file helpers: safe path resolution, MIME types, header filters. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "services/dashboard/dashboard.h"

enum dm_err dm_dashboard_resolve(const char *root, const char *url_path, char *out, size_t size)
{
    if (url_path == NULL || url_path[0] != '/')
        return DM_ERR_INVALID;
    if (strchr(url_path, '\\') != NULL)
        return DM_ERR_INVALID;
    /* Check each segment: no "." / ".." and no hidden names. Empty segments ("//") are harmless. */
    const char *p = url_path + 1;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len > 0 && p[0] == '.')
            return DM_ERR_INVALID;
        if (len > NAME_MAX)
            return DM_ERR_TOO_LARGE;
        if (!slash)
            break;
        p = slash + 1;
    }
    size_t plen = strlen(url_path);
    const char *index = url_path[plen - 1] == '/' ? "index.html" : "";
    char joined[PATH_MAX];
    int n = snprintf(joined, sizeof(joined), "%s%s%s", root, url_path, index);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return DM_ERR_TOO_LARGE;
    char real[PATH_MAX];
    if (realpath(joined, real) == NULL)
        return DM_ERR_NOT_FOUND;
    /* A symlink inside the root could still point outside it. */
    size_t rlen = strlen(root);
    if (strncmp(real, root, rlen) != 0 || real[rlen] != '/')
        return DM_ERR_INVALID;
    struct stat st;
    if (stat(real, &st) != 0)
        return DM_ERR_NOT_FOUND;
    if (S_ISDIR(st.st_mode)) {
        /* "/css" without the slash: serve its index if there is one. */
        n = snprintf(joined, sizeof(joined), "%s/index.html", real);
        if (n < 0 || (size_t)n >= sizeof(joined))
            return DM_ERR_TOO_LARGE;
        if (stat(joined, &st) != 0 || !S_ISREG(st.st_mode))
            return DM_ERR_NOT_FOUND;
        return dm_strlcpy(out, joined, size);
    }
    if (!S_ISREG(st.st_mode))
        return DM_ERR_NOT_FOUND;
    return dm_strlcpy(out, real, size);
}

struct mime {
    const char *ext;
    const char *type;
};

static const struct mime mimes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"txt", "text/plain; charset=utf-8"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"webmanifest", "application/manifest+json"},
};

const char *dm_dashboard_mime_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot != NULL) {
        for (size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++)
            if (!strcasecmp(dot + 1, mimes[i].ext))
                return mimes[i].type;
    }
    return "application/octet-stream";
}

static bool prefix_path(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/');
}

bool dm_dashboard_is_proxied(const char *path)
{
    return prefix_path(path, "/api") || prefix_path(path, "/health") ||
           prefix_path(path, "/metrics") || !strcmp(path, "/openapi.json") ||
           !strcmp(path, "/api-docs");
}

static bool in_list(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (!strcasecmp(name, *list))
            return true;
    return false;
}

/* RFC 9110 §7.6.1 connection-specific fields plus ones the proxy or libcurl sets itself. */
static const char *const hop_by_hop[] = {"Connection",
                                         "Keep-Alive",
                                         "Proxy-Connection",
                                         "Proxy-Authenticate",
                                         "Proxy-Authorization",
                                         "TE",
                                         "Trailer",
                                         "Transfer-Encoding",
                                         "Upgrade",
                                         NULL};

bool dm_dashboard_skip_request_header(const char *name)
{
    static const char *const own[] = {"Host",
                                      "Content-Length",
                                      "Expect",
                                      "X-Forwarded-For",
                                      "X-Forwarded-Host",
                                      "X-Forwarded-Proto",
                                      "Forwarded",
                                      NULL};
    return in_list(name, hop_by_hop) || in_list(name, own);
}

bool dm_dashboard_skip_response_header(const char *name)
{
    /* Bytes pass as sent (Content-Encoding included); the framing is libmicrohttpd's own. */
    static const char *const own[] = {"Content-Length", "Date", "Server", NULL};
    return in_list(name, hop_by_hop) || in_list(name, own);
}

const char *dm_dashboard_default_dir(const char *configured)
{
    static const char *const candidates[] = {DM_SOURCE_DIR "/web/dashboard",
                                             "/usr/share/diamond/dashboard"};
    if (configured != NULL && configured[0] != '\0')
        return configured;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        struct stat st;
        if (stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode))
            return candidates[i];
    }
    return "./web/dashboard";
}
