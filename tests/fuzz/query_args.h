/*
 * query_args.h - for the fuzz drivers that take a raw query string: split "k=v&k[]=v..." in
 * place and percent/'+'-decode each part like the HTTP server does, and parse the pairs as
 * search parameters (query_parse). Header-only.
 */
#ifndef DM_TESTS_FUZZ_QUERY_ARGS_H
#define DM_TESTS_FUZZ_QUERY_ARGS_H

#include <stdint.h>
#include <string.h>

#include "core/text.h"
#include "domain/search_query.h"
#include "fuzz_text.h"

/* In-place percent and '+' decoding; stops at an encoded NUL (as a C string would). */
static void query_decode(char *s)
{
    char *o = s;
    int hi, lo;
    for (char *p = s; *p; p++) {
        if (*p == '+') {
            *o++ = ' ';
        } else if (*p == '%' && (hi = dm_text_hex_digit((unsigned char)p[1])) >= 0 &&
                   (lo = dm_text_hex_digit((unsigned char)p[2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* Split buf (modified) into at most max decoded (key, value) pairs; returns how many. */
static int query_split(char *buf, const char **keys, const char **vals, int max)
{
    int n = 0;
    for (char *p = buf; p && *p && n < max;) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        query_decode(p);
        if (eq)
            query_decode(eq + 1);
        keys[n] = p;
        vals[n] = eq ? eq + 1 : "";
        n++;
        p = amp ? amp + 1 : NULL;
    }
    return n;
}

/* The fuzz input as a query string (at most 80 pairs) parsed as search parameters into q
 * (dm_search_query_parse's result). *text is the decoded copy q's values were read from: the
 * caller frees it, whatever the result. */
static enum dm_err query_parse(const uint8_t *data, size_t size, struct dm_search_query *q,
                               char **text)
{
    const char *keys[80], *vals[80];
    *text = fuzz_text(data, size);
    int n = query_split(*text, keys, vals, 80);
    struct dm_sq_error e;
    return dm_search_query_parse(keys, vals, n, q, &e);
}

#endif
