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

#endif
