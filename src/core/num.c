/* num.c - checked parsing of integers, doubles, booleans and fixed-point decimals. */
#include "core/num.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum dm_err dm_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return DM_ERR_INVALID;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return DM_ERR_INVALID;
    if (v < min || v > max)
        return DM_ERR_INVALID;
    *out = (int64_t)v;
    return DM_OK;
}

enum dm_err dm_parse_int(const char *s, int min, int max, int *out)
{
    int64_t v;
    enum dm_err e = dm_parse_i64(s, min, max, &v);
    if (e == DM_OK)
        *out = (int)v;
    return e;
}

enum dm_err dm_parse_double(const char *s, double min, double max, double *out)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return DM_ERR_INVALID;
    /* Only plain decimal notation: no hex floats, inf or nan. */
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) && *p != '.' && *p != '-' && *p != '+' && *p != 'e' &&
            *p != 'E')
            return DM_ERR_INVALID;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
        return DM_ERR_INVALID;
    if (v < min || v > max)
        return DM_ERR_INVALID;
    *out = v;
    return DM_OK;
}

enum dm_err dm_parse_bool(const char *s, bool *out)
{
    if (s == NULL)
        return DM_ERR_INVALID;
    if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes")) {
        *out = true;
        return DM_OK;
    }
    if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no")) {
        *out = false;
        return DM_OK;
    }
    return DM_ERR_INVALID;
}

enum dm_err dm_parse_fixed(const char *s, int scale, int64_t *out)
{
    if (s == NULL || *s == '\0' || scale < 0 || scale > 9)
        return DM_ERR_INVALID;
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (!isdigit((unsigned char)*p))
        return DM_ERR_INVALID;
    int64_t v = 0;
    const int64_t limit = INT64_MAX / 10;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > limit)
            return DM_ERR_INVALID;
        v = v * 10 + (*p - '0');
    }
    int frac = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return DM_ERR_INVALID;
        for (; isdigit((unsigned char)*p); p++) {
            if (frac == scale)
                return DM_ERR_INVALID;
            if (v > limit)
                return DM_ERR_INVALID;
            v = v * 10 + (*p - '0');
            frac++;
        }
    }
    if (*p != '\0')
        return DM_ERR_INVALID;
    for (; frac < scale; frac++) {
        if (v > limit)
            return DM_ERR_INVALID;
        v *= 10;
    }
    *out = neg ? -v : v;
    return DM_OK;
}

void dm_format_fixed(int64_t v, int scale, char *out, size_t size)
{
    int64_t pow = 1;
    for (int i = 0; i < scale; i++)
        pow *= 10;
    const char *sign = v < 0 ? "-" : "";
    uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    if (scale == 0)
        snprintf(out, size, "%s%llu", sign, (unsigned long long)a);
    else
        snprintf(out, size, "%s%llu.%0*llu", sign, (unsigned long long)(a / (uint64_t)pow), scale,
                 (unsigned long long)(a % (uint64_t)pow));
}
