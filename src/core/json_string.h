/*
 * json_string.h - validation of one JSON string's body (RFC 8259 §7, plus UTF-8 per RFC 3629),
 * shared by the two validating scanners: the consolidator's tokenizer (domain/json_scan.c) and
 * the worker's raw page scanner (adapters/feed/nivoda_raw.c). Checks well-formed UTF-8, no
 * control characters, only the escapes \" \\ \/ \b \f \n \r \t \uXXXX, and surrogate escapes in
 * high-low pairs; "\u0000" is refused on request. Nothing is decoded or copied.
 * Header-only and static inline: it is the per-byte loop of both hot paths. Pure, thread-safe.
 */
#ifndef DM_DOMAIN_JSON_STRING_H
#define DM_DOMAIN_JSON_STRING_H

#include <stdbool.h>
#include <stddef.h>

#include "core/text.h"

enum dm_json_string_err {
    DM_JSON_STRING_OK = 0,
    DM_JSON_STRING_UNTERMINATED, /* no closing quote before the end */
    DM_JSON_STRING_CONTROL,      /* a byte below 0x20 */
    DM_JSON_STRING_BAD_UTF8,     /* see dm_text_utf8_len */
    DM_JSON_STRING_ESC_END,      /* a backslash is the last byte */
    DM_JSON_STRING_ESC_BAD,      /* a backslash followed by none of "\/bfnrtu */
    DM_JSON_STRING_U_SHORT,      /* fewer than 4 bytes after \u */
    DM_JSON_STRING_U_BAD,        /* \u not followed by 4 hex digits */
    DM_JSON_STRING_U_NUL,        /* \u0000 (only when refused) */
    DM_JSON_STRING_LONE_LOW,     /* \uDC00..\uDFFF not after a high surrogate escape */
    DM_JSON_STRING_LONE_HIGH,    /* \uD800..\uDBFF not followed by a low surrogate escape */
};

/* The reason for err in words (the consolidator's "malformed JSON" messages). */
static inline const char *dm_json_string_strerror(enum dm_json_string_err err)
{
    switch (err) {
    case DM_JSON_STRING_OK:
        return "ok";
    case DM_JSON_STRING_UNTERMINATED:
        return "unterminated string";
    case DM_JSON_STRING_CONTROL:
        return "control character in string";
    case DM_JSON_STRING_BAD_UTF8:
        return "invalid UTF-8";
    case DM_JSON_STRING_ESC_END:
        return "unterminated escape";
    case DM_JSON_STRING_ESC_BAD:
        return "bad escape";
    case DM_JSON_STRING_U_SHORT:
        return "short \\u escape";
    case DM_JSON_STRING_U_BAD:
        return "bad \\u escape";
    case DM_JSON_STRING_U_NUL:
        return "\\u0000 is not allowed";
    case DM_JSON_STRING_LONE_LOW:
        return "lone low surrogate";
    case DM_JSON_STRING_LONE_HIGH:
        return "lone high surrogate";
    }
    return "invalid string";
}

/* 1 for the bytes a string body holds as they are: printable ASCII (and DEL) but '"' and '\\'. */
static const unsigned char dm_json_string_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/*
 * Validate the string body starting at p (just after the opening quote), reading no further
 * than end. On DM_JSON_STRING_OK *stop is the closing quote and *escaped tells whether the body
 * holds a backslash escape (its raw bytes then differ from its value). On an error *stop is
 * where it is reported: the offending byte or backslash; for a lone surrogate, just after the
 * first \uXXXX; for an unterminated string, end. refuse_nul: "\u0000" is an error.
 */
static inline enum dm_json_string_err dm_json_string_scan(const unsigned char *p,
                                                          const unsigned char *end, bool refuse_nul,
                                                          const unsigned char **stop, bool *escaped)
{
    bool esc = false;
    enum dm_json_string_err err;
    for (;;) {
        while (p < end && dm_json_string_plain[*p]) /* the common case: one test a byte */
            p++;
        if (p >= end) {
            err = DM_JSON_STRING_UNTERMINATED;
            break;
        }
        unsigned char c = *p;
        if (c == '"') {
            *stop = p;
            *escaped = esc;
            return DM_JSON_STRING_OK;
        }
        if (c < 0x20) {
            err = DM_JSON_STRING_CONTROL;
            break;
        }
        if (c >= 0x80) {
            size_t n = dm_text_utf8_len(p, (size_t)(end - p));
            if (n == 0) {
                err = DM_JSON_STRING_BAD_UTF8;
                break;
            }
            p += n;
            continue;
        }
        /* a backslash */
        esc = true;
        if (end - p < 2) {
            err = DM_JSON_STRING_ESC_END;
            break;
        }
        unsigned char e = p[1];
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
            e == 't') {
            p += 2;
            continue;
        }
        if (e != 'u') {
            err = DM_JSON_STRING_ESC_BAD;
            break;
        }
        if (end - p < 6) {
            err = DM_JSON_STRING_U_SHORT;
            break;
        }
        int u = dm_text_hex4((const char *)p + 2);
        if (u < 0) {
            err = DM_JSON_STRING_U_BAD;
            break;
        }
        if (u == 0 && refuse_nul) {
            err = DM_JSON_STRING_U_NUL;
            break;
        }
        p += 6;
        if (u >= 0xDC00 && u <= 0xDFFF) {
            err = DM_JSON_STRING_LONE_LOW;
            break;
        }
        if (u >= 0xD800 && u <= 0xDBFF) {
            int lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? dm_text_hex4((const char *)p + 2)
                                                                 : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                err = DM_JSON_STRING_LONE_HIGH;
                break;
            }
            p += 6;
        }
    }
    *stop = p;
    *escaped = esc;
    return err;
}

#endif
