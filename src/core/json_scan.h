/*
 * json_scan.h - a validating, allocation-light JSON tokenizer for hot paths that read a few
 * fields out of many documents (the consolidator maps every raw payload). The whole input is
 * validated (RFC 8259 grammar, UTF-8, escapes incl. surrogate pairs; "\u0000" is refused
 * because PostgreSQL text and jsonb cannot hold it) into one flat token array; values are
 * then looked up by key without building a tree. Duplicate keys: the last one wins.
 * Pure: no I/O. Not thread-shared: one struct dm_jscan per document.
 */
#ifndef DM_DOMAIN_JSON_SCAN_H
#define DM_DOMAIN_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum dm_jtype { DM_JOBJ, DM_JARR, DM_JSTR, DM_JNUM, DM_JTRUE, DM_JFALSE, DM_JNULL };

struct dm_jtok {
    uint8_t type;  /* enum dm_jtype */
    uint8_t esc;   /* string contains backslash escapes */
    int32_t start; /* byte offset: strings exclude the quotes; others the whole value */
    int32_t end;   /* one past the last byte */
    int32_t next;  /* index of the token after this value's subtree */
};

struct dm_jscan {
    const char *text;
    size_t len;
    struct dm_jtok *tok; /* owned */
    int ntok, cap;
};

#define DM_JSCAN_MAX_DEPTH 64

/* Tokenize text[0..len). On error (DM_ERR_INVALID with offset and reason) nothing is held. */
enum dm_err dm_jscan_parse(struct dm_jscan *js, const char *text, size_t len,
                           struct dm_error *err) DM_MUST_CHECK;
void dm_jscan_free(struct dm_jscan *js);

/* Index of the value of `key` in object token obj (last duplicate wins), or -1. */
int dm_jscan_get(const struct dm_jscan *js, int obj, const char *key);
/* Type of token i, or -1 when i < 0. */
int dm_jscan_type(const struct dm_jscan *js, int i);
/* Decoded string value of a string token (malloc'd, NUL-terminated), *n its length. */
char *dm_jscan_strdup(const struct dm_jscan *js, int i, size_t *n);
/* Raw text of token i (for strings including the quotes): pointer and length. */
const char *dm_jscan_raw(const struct dm_jscan *js, int i, size_t *n);

#endif
