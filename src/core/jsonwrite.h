/*
 * jsonwrite.h - a fast compact JSON serialiser for jansson values, used on the ingest hot path
 * (one raw payload per stone). Same output as json_dumpb(JSON_COMPACT) for structure, strings
 * (UTF-8 kept, control characters escaped) and integers, with object keys in insertion order;
 * reals print in their shortest exact decimal form when they have at most 9 fractional digits
 * ("1.01", not "1.0100000000000000"), else with 17 significant digits. Pure: no I/O.
 */
#ifndef DM_DOMAIN_JSONWRITE_H
#define DM_DOMAIN_JSONWRITE_H

#include <jansson.h>

#include "core/buf.h"
#include "core/error.h"

/* Append the compact serialisation of j to b. DM_ERR_TOO_LARGE past b's limit,
 * DM_ERR_INVALID for a non-finite real or a nesting deeper than 64. */
enum dm_err dm_json_write(struct dm_buf *b, const json_t *j) DM_MUST_CHECK;
/* Append s[0..len) as a JSON string (quoted; '"', '\\' and control characters escaped, other
 * bytes as they are: the caller passes valid UTF-8). DM_ERR_TOO_LARGE past b's limit. */
enum dm_err dm_json_write_string(struct dm_buf *b, const char *s, size_t len) DM_MUST_CHECK;

#endif
