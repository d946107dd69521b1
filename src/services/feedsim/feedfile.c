/* feedfile.c - supplier inventory file rows (CSV, JSON lines), ETags and conditional GET. */
#include "services/feedsim/feedfile.h"

#include <stdio.h>
#include <string.h>

#include "core/num.h"
#include "core/timeutil.h"

const char *const dm_feedfile_columns[DM_FEEDFILE_NCOLUMNS] = {
    "Stock #",      "Shape",         "Weight",
    "Color",        "Clarity",       "Cut",
    "Polish",       "Symmetry",      "Fluorescence Intensity",
    "Lab",          "Certificate #", "Price Per Carat",
    "Total Price",  "Measurements",  "Depth %",
    "Table %",      "Image",         "Video",
    "Availability", "Growth Type",   "Key To Symbols",
    "Comments",
};

/* Columns a "structure" bad row leaves out (CSV: the last ones). */
#define STRUCTURE_DROPPED 3

enum dm_err dm_feedfile_parse_format(const char *s, enum dm_feedfile_format *out)
{
    if (s != NULL && !strcmp(s, "csv"))
        *out = DM_FEEDFILE_CSV;
    else if (s != NULL && !strcmp(s, "jsonl"))
        *out = DM_FEEDFILE_JSONL;
    else
        return DM_ERR_INVALID;
    return DM_OK;
}

const char *dm_feedfile_path(enum dm_feedfile_format f)
{
    return f == DM_FEEDFILE_JSONL ? "/inventory.jsonl" : "/inventory.csv";
}

const char *dm_feedfile_name(enum dm_feedfile_format f)
{
    return f == DM_FEEDFILE_JSONL ? "jsonl" : "csv";
}

const char *dm_feedfile_content_type(enum dm_feedfile_format f)
{
    return f == DM_FEEDFILE_JSONL ? "application/x-ndjson" : "text/csv; charset=utf-8";
}

const char *dm_feedfile_bad_kind_name(int kind)
{
    switch (kind) {
    case 1:
        return "structure";
    case 2:
        return "weight";
    case 3:
        return "price";
    default:
        return NULL;
    }
}

/* ---- values ---------------------------------------------------------------------------------- */

/* One cell: NULL = absent; num = a JSON number (else a JSON string). */
struct cell {
    const char *s;
    bool num;
};

struct cells {
    struct cell c[DM_FEEDFILE_NCOLUMNS];
    char weight[48], ppc[48], total[48], meas[160], depth[48], table[24];
};

static void fixed(int64_t v, int scale, char *out, size_t size)
{
    int64_t div = scale == 1 ? 10 : 100;
    if (scale == 1)
        snprintf(out, size, "%lld.%01lld", (long long)(v / div), (long long)(v % div));
    else
        snprintf(out, size, "%lld.%02lld", (long long)(v / div), (long long)(v % div));
}

static void cells_of(const struct dm_inv_row *r, int bad, struct cells *x)
{
    memset(x, 0, sizeof(*x));
    fixed(r->carats100, 2, x->weight, sizeof(x->weight));
    fixed(r->ppc_cents, 2, x->ppc, sizeof(x->ppc));
    fixed(r->price_cents, 2, x->total, sizeof(x->total));
    fixed(r->depth_pct10, 1, x->depth, sizeof(x->depth));
    snprintf(x->table, sizeof(x->table), "%lld", (long long)r->table_pct);
    if (r->has_meas) {
        char l[48], w[48], d[48];
        fixed(r->len100, 2, l, sizeof(l));
        fixed(r->wid100, 2, w, sizeof(w));
        fixed(r->dep100, 2, d, sizeof(d));
        snprintf(x->meas, sizeof(x->meas), "%s x %s x %s", l, w, d);
    }
    bool bad_weight = bad == 2, bad_price = bad == 3;
    if (bad_weight)
        x->weight[0] = 'O'; /* a letter O where a digit belongs */
    const struct cell c[DM_FEEDFILE_NCOLUMNS] = {
        {r->stock, false},
        {r->shape, false},
        {x->weight, !bad_weight},
        {r->color, false},
        {r->clarity, false},
        {r->cut, false},
        {r->polish, false},
        {r->symmetry, false},
        {r->fluorescence, false},
        {r->lab, false},
        {r->certno, false},
        {bad_price ? "POA" : x->ppc, !bad_price},
        {bad_price ? "POA" : x->total, !bad_price},
        {r->has_meas ? x->meas : NULL, false},
        {x->depth, true},
        {x->table, true},
        {r->image[0] ? r->image : NULL, false},
        {r->video[0] ? r->video : NULL, false},
        {r->availability, false},
        {r->growth, false},
        {r->key_symbols, false},
        {r->comment, false},
    };
    memcpy(x->c, c, sizeof(c));
}

/* ---- CSV --------------------------------------------------------------------------------- */

static enum dm_err csv_field(struct dm_buf *b, const char *s)
{
    if (s == NULL)
        return DM_OK;
    if (strpbrk(s, ",\"\r\n") == NULL)
        return dm_buf_append_str(b, s);
    enum dm_err e = dm_buf_append_char(b, '"');
    for (const char *p = s; *p && e == DM_OK; p++) {
        if (*p == '"')
            e = dm_buf_append_char(b, '"');
        if (e == DM_OK)
            e = dm_buf_append_char(b, *p);
    }
    return e == DM_OK ? dm_buf_append_char(b, '"') : e;
}

/* ---- JSON lines -------------------------------------------------------------------------- */

static enum dm_err json_string(struct dm_buf *b, const char *s)
{
    enum dm_err e = dm_buf_append_char(b, '"');
    for (const char *p = s; *p && e == DM_OK; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            e = dm_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            e = dm_buf_appendf(b, "\\u%04x", c);
        } else {
            e = dm_buf_append_char(b, (char)c);
        }
    }
    return e == DM_OK ? dm_buf_append_char(b, '"') : e;
}

enum dm_err dm_feedfile_header(enum dm_feedfile_format f, struct dm_buf *out)
{
    if (f != DM_FEEDFILE_CSV)
        return DM_OK;
    enum dm_err e = DM_OK;
    for (int i = 0; i < DM_FEEDFILE_NCOLUMNS && e == DM_OK; i++) {
        if (i)
            e = dm_buf_append_char(out, ',');
        if (e == DM_OK)
            e = csv_field(out, dm_feedfile_columns[i]);
    }
    return e == DM_OK ? dm_buf_append(out, "\r\n", 2) : e;
}

enum dm_err dm_feedfile_row(enum dm_feedfile_format f, const struct dm_inv_row *r, int bad_kind,
                            struct dm_buf *out)
{
    struct cells x;
    cells_of(r, bad_kind, &x);
    enum dm_err e = DM_OK;
    if (f == DM_FEEDFILE_CSV) {
        int n = bad_kind == 1 ? DM_FEEDFILE_NCOLUMNS - STRUCTURE_DROPPED : DM_FEEDFILE_NCOLUMNS;
        for (int i = 0; i < n && e == DM_OK; i++) {
            if (i)
                e = dm_buf_append_char(out, ',');
            if (e == DM_OK)
                e = csv_field(out, x.c[i].s);
        }
        return e == DM_OK ? dm_buf_append(out, "\r\n", 2) : e;
    }
    size_t start = out->len;
    e = dm_buf_append_char(out, '{');
    for (int i = 0; i < DM_FEEDFILE_NCOLUMNS && e == DM_OK; i++) {
        if (i)
            e = dm_buf_append_char(out, ',');
        if (e == DM_OK)
            e = json_string(out, dm_feedfile_columns[i]);
        if (e == DM_OK)
            e = dm_buf_append_char(out, ':');
        if (e != DM_OK)
            break;
        if (x.c[i].s == NULL)
            e = dm_buf_append_str(out, "null");
        else if (x.c[i].num)
            e = dm_buf_append_str(out, x.c[i].s);
        else
            e = json_string(out, x.c[i].s);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(out, '}');
    if (e == DM_OK && bad_kind == 1)
        out->len = start + (out->len - start) / 2; /* cut mid-object: not valid JSON */
    return e == DM_OK ? dm_buf_append_char(out, '\n') : e;
}

/* ---- ETag, dates, conditional GET ---------------------------------------------------------- */

void dm_feedfile_etag(enum dm_feedfile_format f, uint64_t content_hash, double bad_rate,
                      char out[48])
{
    uint64_t rate = bad_rate > 0 ? (uint64_t)(bad_rate * 1e9) + 1 : 0;
    uint64_t h = dm_mix64(content_hash ^ dm_mix64(rate ^ (uint64_t)f * 0x9E3779B97F4A7C15ULL));
    snprintf(out, 48, "\"%s-%016llx\"", dm_feedfile_name(f), (unsigned long long)h);
}

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void dm_feedfile_http_date(int64_t ms, char out[DM_HTTP_DATE_LEN])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int y, m, d;
    dm_civil_from_days(days, &y, &m, &d);
    int wd = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    snprintf(out, DM_HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[wd], d,
             months[m - 1], y, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool dm_feedfile_parse_http_date(const char *s, int64_t *ms)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT": 29 characters, fixed positions. */
    if (s == NULL || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
        return false;
    int d, y, hh, mm, ss, mon = -1;
    for (int i = 0; i < 12; i++)
        if (!strncmp(s + 8, months[i], 3))
            mon = i + 1;
    if (mon < 0 || !digits(s + 5, 2, &d) || !digits(s + 12, 4, &y) || !digits(s + 17, 2, &hh) ||
        !digits(s + 20, 2, &mm) || !digits(s + 23, 2, &ss) || d < 1 || d > 31 || hh > 23 ||
        mm > 59 || ss > 60)
        return false;
    int64_t t =
        ((dm_days_from_civil(y, mon, d) * 86400) + (int64_t)hh * 3600 + (int64_t)mm * 60 + ss) *
        1000;
    /* Refuse what does not name itself (31 Feb, second 60): it must format back the same. The
     * weekday is not checked, as RFC 9110 lets recipients ignore it. */
    char back[DM_HTTP_DATE_LEN];
    dm_feedfile_http_date(t, back);
    if (strcmp(back + 3, s + 3) != 0)
        return false;
    *ms = t;
    return true;
}

/* Does the If-None-Match list hold etag (weak comparison: W/ prefixes ignored)? */
static bool inm_matches(const char *list, const char *etag)
{
    const char *tag = etag;
    size_t tlen = strlen(tag);
    const char *p = list;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            return false;
        if (*p == '*')
            return true;
        if (!strncmp(p, "W/", 2))
            p += 2;
        const char *start = p;
        if (*p == '"') {
            const char *end = strchr(p + 1, '"');
            if (end == NULL)
                return false;
            p = end + 1;
        } else {
            while (*p && *p != ',' && *p != ' ' && *p != '\t')
                p++;
        }
        if ((size_t)(p - start) == tlen && !strncmp(start, tag, tlen))
            return true;
    }
}

bool dm_feedfile_not_modified(const char *if_none_match, const char *if_modified_since,
                              const char *etag, int64_t last_modified_ms)
{
    if (if_none_match != NULL)
        return inm_matches(if_none_match, etag);
    int64_t ims;
    if (if_modified_since == NULL || !dm_feedfile_parse_http_date(if_modified_since, &ims))
        return false;
    int64_t lm = last_modified_ms >= 0 ? last_modified_ms / 1000 * 1000 : last_modified_ms;
    return lm <= ims;
}
