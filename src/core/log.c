/* log.c - JSON-line logger. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/text.h"
#include "core/timeutil.h"

static const char *g_service = "diamond";
static enum dm_log_level g_level = DM_LOG_INFO;
static int g_fd = 1;

static const char *level_names[] = {"debug", "info", "warn", "error", "fatal"};

void dm_log_init(const char *service, enum dm_log_level level)
{
    g_service = service;
    g_level = level;
}

void dm_log_set_fd(int fd)
{
    g_fd = fd;
}

enum dm_err dm_log_level_parse(const char *s, enum dm_log_level *out)
{
    if (s == NULL)
        return DM_ERR_INVALID;
    for (int i = 0; i <= DM_LOG_ERROR; i++) {
        if (!strcasecmp(s, level_names[i])) {
            *out = (enum dm_log_level)i;
            return DM_OK;
        }
    }
    if (!strcasecmp(s, "warning")) {
        *out = DM_LOG_WARN;
        return DM_OK;
    }
    return DM_ERR_INVALID;
}

int dm_log_enabled(enum dm_log_level level)
{
    return level >= g_level;
}

json_t *dm_log_str(const char *s)
{
    if (s == NULL)
        s = "";
    size_t n = strlen(s);
    json_t *j = json_stringn(s, n); /* NULL when s is not valid UTF-8 */
    if (j != NULL)
        return j;
    char *out = dm_xmalloc(4 * n + 1);
    size_t m = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = dm_text_utf8_len(p + i, n - i);
        if (len == 0) {
            static const char hex[] = "0123456789abcdef";
            out[m++] = '\\';
            out[m++] = 'x';
            out[m++] = hex[p[i] >> 4];
            out[m++] = hex[p[i] & 15];
            i++;
        } else {
            memcpy(out + m, p + i, len);
            m += len;
            i += len;
        }
    }
    j = json_stringn(out, m);
    free(out);
    return j != NULL ? j : json_string("");
}

static void emit(enum dm_log_level level, const struct dm_log_ctx *ctx, const char *msg,
                 const json_t *fields)
{
    json_t *o = json_object();
    char ts[DM_ISO_LEN];
    dm_time_format(dm_now_ms(), ts);
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "service", json_string(g_service));
    json_object_set_new(o, "msg", dm_log_str(msg));
    if (ctx) {
        if (ctx->run_id)
            json_object_set_new(o, "runId", dm_log_str(ctx->run_id));
        if (ctx->partition_id)
            json_object_set_new(o, "partitionId", dm_log_str(ctx->partition_id));
        if (ctx->trace_id)
            json_object_set_new(o, "traceId", dm_log_str(ctx->trace_id));
        if (ctx->request_id)
            json_object_set_new(o, "requestId", dm_log_str(ctx->request_id));
    }
    if (fields && json_is_object(fields)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)fields, k, v)
        {
            if (json_object_get(o, k) == NULL)
                json_object_set(o, k, v);
        }
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (line == NULL)
        return;
    size_t n = strlen(line);
    line[n] = '\n'; /* json_dumps allocates n+1; replace the NUL with the newline */
    ssize_t w = write(g_fd, line, n + 1);
    (void)w;
    free(line);
}

void dm_log(enum dm_log_level level, const struct dm_log_ctx *ctx, const char *fmt, ...)
{
    if (level < g_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(level, ctx, msg, NULL);
}

void dm_log_fields(enum dm_log_level level, const struct dm_log_ctx *ctx, const char *msg,
                   const json_t *fields)
{
    if (level < g_level)
        return;
    emit(level, ctx, msg, fields);
}
