/*
 * pgarray.h - PostgreSQL array literals: the text form ({"a","b\"c"}) in which a list travels as
 * one parameter of a statement ($1::text[], $1::uuid[], $1::bigint[]). The one encoder: every
 * element is double-quoted with '"' and '\' escaped, so any text (commas, braces, spaces, the
 * word NULL) arrives as itself. Text only; no libpq, so domain code may use it too.
 */
#ifndef DM_CORE_PGARRAY_H
#define DM_CORE_PGARRAY_H

#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

/* Append one element to the array literal being built at the end of b, after a ',' unless b
 * ends with the opening '{' (which the caller appended, and closes with '}'). For a literal
 * built while walking something else. DM_ERR_TOO_LARGE past b's maximum. */
enum dm_err dm_pgarray_add(struct dm_buf *b, const char *item) DM_MUST_CHECK;

/* Append the whole literal of items[0..n) to b ("{}" when n is 0). */
enum dm_err dm_pgarray_encode(struct dm_buf *b, const char *const *items, size_t n) DM_MUST_CHECK;

/*
 * The binary form of a one-dimensional text[] (a parameter sent with format 1): no escaping
 * here and no literal parsing in the server. Layout (big-endian int32): ndim, has-nulls flag,
 * element type oid (text), then the dimension's size and lower bound, then per element its
 * byte length and bytes. Begin on an empty b, add each element, end with the count added.
 */
enum dm_err dm_pgarray_bin_begin(struct dm_buf *b) DM_MUST_CHECK;
enum dm_err dm_pgarray_bin_add(struct dm_buf *b, const char *s, size_t len) DM_MUST_CHECK;
void dm_pgarray_bin_end(struct dm_buf *b, int n);

#endif
