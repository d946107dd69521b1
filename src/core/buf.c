/* buf.c - bounded buffers and aborting allocators. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(size_t n)
{
    char line[160];
    int k = snprintf(line, sizeof(line),
                     "{\"level\":\"fatal\",\"msg\":\"out of memory allocating %zu bytes\"}\n", n);
    if (k > 0 && write(2, line, (size_t)k) < 0) {
        /* nothing more we can do */
    }
    abort();
}

void *dm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *dm_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *dm_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *dm_xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    char *p = strdup(s);
    if (p == NULL)
        oom(strlen(s));
    return p;
}

char *dm_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL)
        oom(n);
    return p;
}

char *dm_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return out;
}

enum dm_err dm_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size == 0)
        return DM_ERR_TOO_LARGE;
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return DM_ERR_TOO_LARGE;
    }
    memcpy(dst, src, n + 1);
    return DM_OK;
}

void dm_buf_init(struct dm_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void dm_buf_free(struct dm_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void dm_buf_reset(struct dm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static enum dm_err reserve(struct dm_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return DM_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return DM_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->data = dm_xrealloc(b->data, cap);
    b->cap = cap;
    return DM_OK;
}

enum dm_err dm_buf_append(struct dm_buf *b, const void *data, size_t len)
{
    enum dm_err e = reserve(b, len);
    if (e != DM_OK)
        return e;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return DM_OK;
}

enum dm_err dm_buf_append_str(struct dm_buf *b, const char *s)
{
    return dm_buf_append(b, s, strlen(s));
}

enum dm_err dm_buf_append_char(struct dm_buf *b, char c)
{
    return dm_buf_append(b, &c, 1);
}

enum dm_err dm_buf_appendf(struct dm_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return DM_ERR_INVALID;
    if ((size_t)n < sizeof(small))
        return dm_buf_append(b, small, (size_t)n);
    enum dm_err e = reserve(b, (size_t)n);
    if (e != DM_OK)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return DM_OK;
}

char *dm_buf_steal(struct dm_buf *b)
{
    char *p = b->data;
    if (p == NULL)
        p = dm_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
