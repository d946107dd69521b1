/*
 * buf.h - bounded growable byte buffers. Every buffer carries a maximum size; appends past it
 * fail with DM_ERR_TOO_LARGE instead of growing without limit. The data is always
 * NUL-terminated so it can be used as a C string. Allocation failure aborts (sizes are bounded).
 */
#ifndef DM_CORE_BUF_H
#define DM_CORE_BUF_H

#include <stddef.h>

#include "core/error.h"

struct dm_buf {
    char *data; /* NUL-terminated; NULL until first append */
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
};

/* Initialise an empty buffer limited to max bytes. No allocation. */
void dm_buf_init(struct dm_buf *b, size_t max);
/* Release storage; the buffer may be reused after dm_buf_init. NULL is a no-op. */
void dm_buf_free(struct dm_buf *b);
/* Empty the buffer, keeping storage. */
void dm_buf_reset(struct dm_buf *b);
enum dm_err dm_buf_append(struct dm_buf *b, const void *data, size_t len) DM_MUST_CHECK;
enum dm_err dm_buf_append_str(struct dm_buf *b, const char *s) DM_MUST_CHECK;
enum dm_err dm_buf_append_char(struct dm_buf *b, char c) DM_MUST_CHECK;
enum dm_err dm_buf_appendf(struct dm_buf *b, const char *fmt, ...) DM_PRINTF(2, 3) DM_MUST_CHECK;
/* Give ownership of the data to the caller (free()); the buffer becomes empty. */
char *dm_buf_steal(struct dm_buf *b);

/* Allocation helpers that abort with a log line on failure. */
void *dm_xmalloc(size_t n);
void *dm_xcalloc(size_t n, size_t size);
void *dm_xrealloc(void *p, size_t n);
char *dm_xstrdup(const char *s);
char *dm_xstrndup(const char *s, size_t n);
/* Formatted allocation (aborts on failure). */
char *dm_xasprintf(const char *fmt, ...) DM_PRINTF(1, 2);

/* snprintf into a fixed array that reports truncation as DM_ERR_TOO_LARGE. */
enum dm_err dm_strlcpy(char *dst, const char *src, size_t size);

#endif
