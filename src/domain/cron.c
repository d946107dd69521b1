/* cron.c - five-field cron parsing and next-fire computation in UTC. */
#include "domain/cron.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/num.h"

struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names for lo.. (NULL = none) */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, day_names},
};

static bool parse_value(const struct field *f, const char *s, size_t len, int *out)
{
    char tmp[16];
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (f->names) {
        for (int i = 0; f->names[i]; i++) {
            if (!strcasecmp(tmp, f->names[i])) {
                *out = i + (f->names == month_names ? 1 : 0);
                return true;
            }
        }
    }
    return dm_parse_int(tmp, f->lo, f->hi, out) == DM_OK;
}

/* Parse one field into a bit set; sets *star when the field is a bare "*" (or "*\/1"). */
static enum dm_err parse_field(const struct field *f, const char *s, size_t len, uint64_t *bits,
                               bool *star, struct dm_error *err)
{
    *bits = 0;
    *star = false;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        const char *item = s + i;
        size_t ilen = j - i;
        if (ilen == 0)
            goto bad;
        const char *slash = memchr(item, '/', ilen);
        size_t rlen = slash ? (size_t)(slash - item) : ilen;
        int step = 1;
        if (slash) {
            char tmp[16];
            size_t slen = ilen - rlen - 1;
            if (slen == 0 || slen >= sizeof(tmp))
                goto bad;
            memcpy(tmp, slash + 1, slen);
            tmp[slen] = '\0';
            if (dm_parse_int(tmp, 1, f->hi + 1, &step) != DM_OK)
                goto bad;
        }
        int a, b;
        if (rlen == 1 && item[0] == '*') {
            a = f->lo;
            b = f->hi;
            if (step == 1 && ilen == len)
                *star = true;
        } else {
            const char *dash = memchr(item, '-', rlen);
            if (dash) {
                if (!parse_value(f, item, (size_t)(dash - item), &a) ||
                    !parse_value(f, dash + 1, rlen - (size_t)(dash - item) - 1, &b) || a > b)
                    goto bad;
            } else {
                if (!parse_value(f, item, rlen, &a))
                    goto bad;
                b = slash ? f->hi : a; /* "5/15" means 5-max/15 */
            }
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << v;
        i = j + 1;
    }
    return DM_OK;
bad:
    return dm_error_set(err, DM_ERR_INVALID, "cron: bad %s field '%.*s'", f->name, (int)len, s);
}

enum dm_err dm_cron_parse(const char *expr, struct dm_cron *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    if (expr == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "cron: empty expression");
    const char *p = expr;
    uint64_t bits[5];
    bool star[5];
    int nf = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (nf == 5)
            return dm_error_set(err, DM_ERR_INVALID, "cron: more than five fields in '%s'", expr);
        enum dm_err e =
            parse_field(&fields[nf], start, (size_t)(p - start), &bits[nf], &star[nf], err);
        if (e != DM_OK)
            return e;
        nf++;
    }
    if (nf != 5)
        return dm_error_set(err, DM_ERR_INVALID, "cron: expected five fields, got %d in '%s'", nf,
                            expr);
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->mdays = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    uint64_t wd = bits[4];
    if (wd & (1ULL << 7))
        wd |= 1; /* 7 is Sunday too */
    out->wdays = (uint8_t)(wd & 0x7f);
    out->mday_star = star[2];
    out->wday_star = star[4];
    return DM_OK;
}

static bool day_matches(const struct dm_cron *c, const struct tm *tm)
{
    bool md = (c->mdays >> tm->tm_mday) & 1, wd = (c->wdays >> tm->tm_wday) & 1;
    if (c->mday_star || c->wday_star)
        return md && wd; /* a star matches everything, so this is the restricted one */
    return md || wd;
}

bool dm_cron_matches(const struct dm_cron *c, int64_t t_ms)
{
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return ((c->minutes >> tm.tm_min) & 1) && ((c->hours >> tm.tm_hour) & 1) &&
           ((c->months >> (tm.tm_mon + 1)) & 1) && day_matches(c, &tm);
}

enum dm_err dm_cron_next(const struct dm_cron *c, int64_t after_ms, int64_t *next_ms)
{
    /* Start at the next whole minute. */
    int64_t t = (after_ms / 60000 + 1) * 60;
    if (after_ms < 0)
        t = 0;
    int64_t limit = t + 5LL * 366 * 24 * 3600;
    while (t < limit) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
            /* Jump to the first day of the next month. */
            tm.tm_mon += 1;
            tm.tm_mday = 1;
            tm.tm_hour = 0;
            tm.tm_min = 0;
            tm.tm_sec = 0;
            t = (int64_t)timegm(&tm);
            continue;
        }
        if (!day_matches(c, &tm)) {
            tm.tm_mday += 1;
            tm.tm_hour = 0;
            tm.tm_min = 0;
            tm.tm_sec = 0;
            t = (int64_t)timegm(&tm);
            continue;
        }
        if (!((c->hours >> tm.tm_hour) & 1)) {
            t += (int64_t)(60 - tm.tm_min) * 60;
            continue;
        }
        if (!((c->minutes >> tm.tm_min) & 1)) {
            t += 60;
            continue;
        }
        *next_ms = t * 1000;
        return DM_OK;
    }
    return DM_ERR_NOT_FOUND;
}
