/*
 * text.h - byte-level helpers shared by the hand-written parsers (the JSON tokenizer, the raw
 * feed page scanner, the feed simulator's GraphQL lexer, query-string decoding): hex digits,
 * UTF-8 sequence validation and UTF-8 encoding. Header-only and static inline because they sit
 * in per-byte loops on hot paths; pure, no allocation, thread-safe.
 */
#ifndef DM_CORE_TEXT_H
#define DM_CORE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Value of the hex digit c (0-9, a-f, A-F) or -1. */
static inline int dm_text_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Value of the four hex digits at p (0..0xFFFF, as in a "\uXXXX" escape) or -1 when one is not
 * a hex digit. Reads p[0..3], stopping at the first bad digit: the caller checks the length. */
static inline int dm_text_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = dm_text_hex_digit((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * Length (1..4) of the well-formed UTF-8 sequence at p, of which n >= 1 bytes are readable,
 * or 0 when it is not one: a stray continuation byte, a lead byte 0xC0, 0xC1 or above 0xF4, a
 * missing or truncated continuation, an overlong form, a surrogate (U+D800..U+DFFF) or a code
 * point above U+10FFFF. Any byte below 0x80 is a sequence of one (control characters included).
 */
static inline size_t dm_text_utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0xFFu >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Write code point cp (at most 0x10FFFF) as UTF-8 to out (room for 4 bytes); returns the
 * number of bytes written (1..4). Surrogates are encoded as they are: callers exclude them. */
static inline size_t dm_text_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif
