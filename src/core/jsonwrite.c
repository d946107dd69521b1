/* jsonwrite.c - fast compact JSON serialisation of jansson values (see jsonwrite.h). */
#include "core/jsonwrite.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 64

enum dm_err dm_json_write_string(struct dm_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    enum dm_err e = dm_buf_append_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len && e == DM_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        e = dm_buf_append(b, s + run, i - run);
        run = i + 1;
        if (e != DM_OK)
            break;
        char esc[7] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        e = dm_buf_append(b, esc, n);
    }
    if (e == DM_OK)
        e = dm_buf_append(b, s + run, len - run);
    if (e == DM_OK)
        e = dm_buf_append_char(b, '"');
    return e;
}

static enum dm_err write_int(struct dm_buf *b, json_int_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return dm_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static enum dm_err write_real(struct dm_buf *b, double v)
{
    if (!isfinite(v))
        return DM_ERR_INVALID;
    /* Shortest exact form for values with up to 9 decimals (what feeds send). */
    static const double scale = 1e9;
    double av = fabs(v);
    if (av < 1e9) {
        double m = nearbyint(av * scale);
        if (m / scale == av) {
            unsigned long long q = (unsigned long long)m;
            unsigned long long ip = q / 1000000000ULL, fp = q % 1000000000ULL;
            char tmp[40];
            char *p = tmp + sizeof(tmp);
            int digits = 9;
            while (digits > 1 && fp % 10 == 0) { /* trim trailing zeros, keep one */
                fp /= 10;
                digits--;
            }
            for (int i = 0; i < digits; i++) {
                *--p = (char)('0' + fp % 10);
                fp /= 10;
            }
            *--p = '.';
            do {
                *--p = (char)('0' + ip % 10);
                ip /= 10;
            } while (ip);
            if (signbit(v) && q != 0)
                *--p = '-';
            return dm_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
        }
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof(tmp))
        return DM_ERR_INVALID;
    if (!strpbrk(tmp, ".eEn")) { /* keep it a real when read back */
        tmp[n++] = '.';
        tmp[n++] = '0';
    }
    return dm_buf_append(b, tmp, (size_t)n);
}

static enum dm_err write_value(struct dm_buf *b, const json_t *j, int depth)
{
    if (depth > MAX_DEPTH)
        return DM_ERR_INVALID;
    enum dm_err e = DM_OK;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        e = dm_buf_append_char(b, '{');
        const char *key;
        size_t klen;
        json_t *val;
        bool first = true;
        void *tmp;
        json_object_keylen_foreach_safe((json_t *)j, tmp, key, klen, val)
        {
            if (e != DM_OK)
                break;
            if (!first)
                e = dm_buf_append_char(b, ',');
            first = false;
            if (e == DM_OK)
                e = dm_json_write_string(b, key, klen);
            if (e == DM_OK)
                e = dm_buf_append_char(b, ':');
            if (e == DM_OK)
                e = write_value(b, val, depth + 1);
        }
        if (e == DM_OK)
            e = dm_buf_append_char(b, '}');
        return e;
    }
    case JSON_ARRAY: {
        e = dm_buf_append_char(b, '[');
        size_t n = json_array_size(j);
        for (size_t i = 0; i < n && e == DM_OK; i++) {
            if (i)
                e = dm_buf_append_char(b, ',');
            if (e == DM_OK)
                e = write_value(b, json_array_get(j, i), depth + 1);
        }
        if (e == DM_OK)
            e = dm_buf_append_char(b, ']');
        return e;
    }
    case JSON_STRING:
        return dm_json_write_string(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return write_int(b, json_integer_value(j));
    case JSON_REAL:
        return write_real(b, json_real_value(j));
    case JSON_TRUE:
        return dm_buf_append(b, "true", 4);
    case JSON_FALSE:
        return dm_buf_append(b, "false", 5);
    case JSON_NULL:
        return dm_buf_append(b, "null", 4);
    }
    return DM_ERR_INVALID;
}

enum dm_err dm_json_write(struct dm_buf *b, const json_t *j)
{
    if (j == NULL)
        return DM_ERR_INVALID;
    return write_value(b, j, 0);
}
