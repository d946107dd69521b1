/*
 * fuzz_text.h - for the fuzz drivers whose parsers take C strings: the input as a NUL-terminated
 * copy. Header-only.
 */
#ifndef DM_TESTS_FUZZ_TEXT_H
#define DM_TESTS_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of the size bytes at data with a '\0' after them (an embedded NUL ends the
 * string early, as it would for the parser's real callers); the caller frees it. Aborts when
 * memory runs out (a fuzz run cannot go on). */
static char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
