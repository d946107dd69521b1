/*
 * num.h - checked number parsing. Every number that comes from outside (environment, query
 * string, message, feed) goes through these: the whole string must be consumed, ranges are
 * checked, and nothing is silently truncated. Leading/trailing spaces are rejected.
 */
#ifndef DM_CORE_NUM_H
#define DM_CORE_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Decimal integer in [min, max]. DM_ERR_INVALID on syntax or range. */
enum dm_err dm_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) DM_MUST_CHECK;
enum dm_err dm_parse_int(const char *s, int min, int max, int *out) DM_MUST_CHECK;
/* Finite decimal floating point in [min, max]. */
enum dm_err dm_parse_double(const char *s, double min, double max, double *out) DM_MUST_CHECK;
/* "true"/"false" (also "1"/"0", "yes"/"no"), case-insensitive. */
enum dm_err dm_parse_bool(const char *s, bool *out) DM_MUST_CHECK;

/*
 * Exact money: a decimal string with at most `scale` fractional digits (more are rejected) into
 * an integer count of 10^-scale units, e.g. dm_parse_fixed("12.3", 2) == 1230.
 */
enum dm_err dm_parse_fixed(const char *s, int scale, int64_t *out) DM_MUST_CHECK;
/* Format an integer count of 10^-scale units as a decimal string ("12.30"). */
void dm_format_fixed(int64_t v, int scale, char *out, size_t size);

/* FNV-1a's xor-multiply over a NUL-terminated string: a cheap hash for in-memory tables keyed
 * by text (not for anything an attacker must not steer). The start value is the one the
 * project's tables have always used (one digit short of FNV's published offset basis; any
 * start spreads as well), so their slots are unchanged. */
static inline uint64_t dm_fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* splitmix64's finaliser: a bijection of 64-bit values that mixes every input bit into every
 * output bit (seeded generators, hashes of ids). */
static inline uint64_t dm_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
