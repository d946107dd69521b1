/*
 * file_mapping.c - supplier file columns and rows -> canonical diamond (see file_mapping.h).
 * The alias table below is the list docs/operations.md ("File feeds") shows operators; keep
 * the two in step. Values are normalised with mapping.c's vocabularies, never a second set.
 */
#include "domain/file_mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/json_scan.h"
#include "core/jsonwrite.h"
#include "core/num.h"
#include "core/text.h"
#include "domain/availability.h"
#include "domain/pricing.h"

#define NAME_MAX_LEN 64

static const char *const FIELD_NAMES[DM_FF_COUNT] = {
    [DM_FF_STOCK_ID] = "stock_id",
    [DM_FF_SHAPE] = "shape",
    [DM_FF_CARATS] = "carats",
    [DM_FF_COLOR] = "color",
    [DM_FF_CLARITY] = "clarity",
    [DM_FF_CUT] = "cut",
    [DM_FF_POLISH] = "polish",
    [DM_FF_SYMMETRY] = "symmetry",
    [DM_FF_FLUORESCENCE] = "fluorescence",
    [DM_FF_LAB] = "lab",
    [DM_FF_CERT_NUMBER] = "certificate_number",
    [DM_FF_CERT_URL] = "certificate_url",
    [DM_FF_TOTAL_PRICE] = "total_price",
    [DM_FF_PRICE_PER_CARAT] = "price_per_carat",
    [DM_FF_MEASUREMENTS] = "measurements",
    [DM_FF_LENGTH] = "length",
    [DM_FF_WIDTH] = "width",
    [DM_FF_DEPTH] = "depth",
    [DM_FF_DEPTH_PCT] = "depth_percent",
    [DM_FF_TABLE_PCT] = "table_percent",
    [DM_FF_IMAGE] = "image",
    [DM_FF_VIDEO] = "video",
    [DM_FF_AVAILABILITY] = "availability",
    [DM_FF_LAB_GROWN] = "lab_grown",
    [DM_FF_TREATED] = "treated",
    [DM_FF_GROWTH_TYPE] = "growth_type",
    [DM_FF_KEY_TO_SYMBOLS] = "key_to_symbols",
    [DM_FF_COMMENTS] = "comments",
};

struct alias {
    enum dm_file_field field;
    const char *name; /* normalised (norm_name): lower-case letters and digits, # -> no, ... */
};

/* Aliases of each field, best first (a column matching an earlier alias wins). */
static const struct alias ALIASES[] = {
    {DM_FF_STOCK_ID, "stockno"}, /* Stock #, Stock No */
    {DM_FF_STOCK_ID, "stocknumber"},
    {DM_FF_STOCK_ID, "stockid"},
    {DM_FF_STOCK_ID, "stock"},
    {DM_FF_STOCK_ID, "vendorstockno"},
    {DM_FF_STOCK_ID, "vendorstocknumber"},
    {DM_FF_STOCK_ID, "supplierstockid"},
    {DM_FF_STOCK_ID, "lotno"}, /* Lot #, Lot No */
    {DM_FF_STOCK_ID, "lotnumber"},
    {DM_FF_STOCK_ID, "lotid"},
    {DM_FF_STOCK_ID, "lot"},
    {DM_FF_STOCK_ID, "sku"},
    {DM_FF_STOCK_ID, "stoneid"},
    {DM_FF_STOCK_ID, "stoneno"},
    {DM_FF_STOCK_ID, "itemno"},
    {DM_FF_STOCK_ID, "refno"},
    {DM_FF_SHAPE, "shape"},
    {DM_FF_SHAPE, "shapename"},
    {DM_FF_CARATS, "carat"},
    {DM_FF_CARATS, "carats"},
    {DM_FF_CARATS, "caratweight"},
    {DM_FF_CARATS, "weight"},
    {DM_FF_CARATS, "weightct"},
    {DM_FF_CARATS, "size"},
    {DM_FF_CARATS, "cts"},
    {DM_FF_CARATS, "ct"},
    {DM_FF_COLOR, "color"},
    {DM_FF_COLOR, "colour"},
    {DM_FF_COLOR, "colorgrade"},
    {DM_FF_COLOR, "colourgrade"},
    {DM_FF_CLARITY, "clarity"},
    {DM_FF_CLARITY, "claritygrade"},
    {DM_FF_CUT, "cut"},
    {DM_FF_CUT, "cutgrade"},
    {DM_FF_POLISH, "polish"},
    {DM_FF_POLISH, "pol"},
    {DM_FF_SYMMETRY, "symmetry"},
    {DM_FF_SYMMETRY, "sym"},
    {DM_FF_SYMMETRY, "symm"},
    {DM_FF_FLUORESCENCE, "fluorescenceintensity"},
    {DM_FF_FLUORESCENCE, "fluorescence"},
    {DM_FF_FLUORESCENCE, "fluorintensity"},
    {DM_FF_FLUORESCENCE, "fluor"},
    {DM_FF_FLUORESCENCE, "fluo"},
    {DM_FF_FLUORESCENCE, "flour"},
    {DM_FF_LAB, "lab"},
    {DM_FF_LAB, "certificatelab"},
    {DM_FF_LAB, "gradinglab"},
    {DM_FF_LAB, "certlab"},
    {DM_FF_LAB, "certificatetype"},
    {DM_FF_CERT_NUMBER, "certificateno"}, /* Certificate #, Certificate No */
    {DM_FF_CERT_NUMBER, "certificatenumber"},
    {DM_FF_CERT_NUMBER, "certno"},
    {DM_FF_CERT_NUMBER, "certnumber"},
    {DM_FF_CERT_NUMBER, "reportno"}, /* Report # */
    {DM_FF_CERT_NUMBER, "reportnumber"},
    {DM_FF_CERT_NUMBER, "certificateid"},
    {DM_FF_CERT_NUMBER, "certid"},
    {DM_FF_CERT_URL, "certificateurl"},
    {DM_FF_CERT_URL, "certificatelink"},
    {DM_FF_CERT_URL, "certurl"},
    {DM_FF_CERT_URL, "certlink"},
    {DM_FF_CERT_URL, "reporturl"},
    {DM_FF_CERT_URL, "pdfurl"},
    {DM_FF_TOTAL_PRICE, "totalprice"},
    {DM_FF_TOTAL_PRICE, "totalpriceusd"},
    {DM_FF_TOTAL_PRICE, "totalusd"}, /* Total $ */
    {DM_FF_TOTAL_PRICE, "total"},
    {DM_FF_TOTAL_PRICE, "totalamount"},
    {DM_FF_TOTAL_PRICE, "price"},
    {DM_FF_TOTAL_PRICE, "priceusd"},
    {DM_FF_TOTAL_PRICE, "amount"},
    {DM_FF_PRICE_PER_CARAT, "pricepercarat"},
    {DM_FF_PRICE_PER_CARAT, "ppc"},
    {DM_FF_PRICE_PER_CARAT, "usdct"}, /* $/ct */
    {DM_FF_PRICE_PER_CARAT, "usdcarat"},
    {DM_FF_PRICE_PER_CARAT, "pricect"}, /* Price/ct */
    {DM_FF_PRICE_PER_CARAT, "pricecarat"},
    {DM_FF_PRICE_PER_CARAT, "percarat"},
    {DM_FF_PRICE_PER_CARAT, "pricepercaratusd"},
    {DM_FF_MEASUREMENTS, "measurements"},
    {DM_FF_MEASUREMENTS, "measurement"},
    {DM_FF_MEASUREMENTS, "meas"},
    {DM_FF_MEASUREMENTS, "dimensions"},
    {DM_FF_LENGTH, "length"},
    {DM_FF_LENGTH, "lengthmm"},
    {DM_FF_WIDTH, "width"},
    {DM_FF_WIDTH, "widthmm"},
    {DM_FF_DEPTH, "depth"},
    {DM_FF_DEPTH, "depthmm"},
    {DM_FF_DEPTH, "height"},
    {DM_FF_DEPTH_PCT, "depthpct"}, /* Depth % */
    {DM_FF_DEPTH_PCT, "depthpercent"},
    {DM_FF_DEPTH_PCT, "depthpercentage"},
    {DM_FF_DEPTH_PCT, "totaldepth"},
    {DM_FF_DEPTH_PCT, "totaldepthpct"},
    {DM_FF_TABLE_PCT, "tablepct"}, /* Table % */
    {DM_FF_TABLE_PCT, "tablepercent"},
    {DM_FF_TABLE_PCT, "tablepercentage"},
    {DM_FF_TABLE_PCT, "table"},
    {DM_FF_IMAGE, "image"},
    {DM_FF_IMAGE, "imageurl"},
    {DM_FF_IMAGE, "imagelink"},
    {DM_FF_IMAGE, "photo"},
    {DM_FF_IMAGE, "picture"},
    {DM_FF_VIDEO, "video"},
    {DM_FF_VIDEO, "videourl"},
    {DM_FF_VIDEO, "videolink"},
    {DM_FF_VIDEO, "v360"},
    {DM_FF_AVAILABILITY, "availability"},
    {DM_FF_AVAILABILITY, "available"},
    {DM_FF_AVAILABILITY, "status"},
    {DM_FF_AVAILABILITY, "stockstatus"},
    {DM_FF_LAB_GROWN, "labgrown"},
    {DM_FF_LAB_GROWN, "islabgrown"},
    {DM_FF_TREATED, "treated"},
    {DM_FF_TREATED, "istreated"},
    {DM_FF_GROWTH_TYPE, "growthtype"},
    {DM_FF_GROWTH_TYPE, "growthmethod"},
    {DM_FF_GROWTH_TYPE, "labgrowntype"},
    {DM_FF_KEY_TO_SYMBOLS, "keytosymbols"},
    {DM_FF_KEY_TO_SYMBOLS, "keytosymbol"},
    {DM_FF_KEY_TO_SYMBOLS, "kts"},
    {DM_FF_COMMENTS, "comments"},
    {DM_FF_COMMENTS, "comment"},
    {DM_FF_COMMENTS, "remarks"},
    {DM_FF_COMMENTS, "reportcomments"},
};

#define NALIASES (sizeof(ALIASES) / sizeof(ALIASES[0]))

struct entry {
    char name[NAME_MAX_LEN];
    int field;
    int rank; /* -1: named by the mapping file; else the alias's index (lower is better) */
};

struct dm_file_mapping {
    struct entry *entries; /* sorted by name */
    size_t nentries;
    char *named[DM_FF_COUNT]; /* the mapping file's header for a field, as written */
    bool disabled[DM_FF_COUNT];
    /* Bound header (CSV). */
    int col[DM_FF_COUNT];
    char *col_name[DM_FF_COUNT];
    size_t ncols;
};

const char *dm_file_field_name(enum dm_file_field f)
{
    return f >= 0 && f < DM_FF_COUNT ? FIELD_NAMES[f] : "?";
}

bool dm_file_field_required(enum dm_file_field f)
{
    return f == DM_FF_STOCK_ID || f == DM_FF_SHAPE || f == DM_FF_CARATS || f == DM_FF_COLOR ||
           f == DM_FF_CLARITY;
}

/* The comparison form of a header: ASCII letters (lower-cased) and digits kept, '#' -> "no",
 * '%' -> "pct", '$' -> "usd", bytes >= 0x80 kept (they never match an alias), the rest
 * dropped. False when empty or too long. */
static bool norm_name(const char *s, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *add = NULL;
        char one[2] = {0, 0};
        if (c >= 'A' && c <= 'Z')
            one[0] = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80)
            one[0] = (char)c;
        else if (c == '#')
            add = "no";
        else if (c == '%')
            add = "pct";
        else if (c == '$')
            add = "usd";
        else
            continue;
        if (add == NULL)
            add = one;
        size_t k = strlen(add);
        if (n + k + 1 > size)
            return false;
        memcpy(out + n, add, k);
        n += k;
    }
    out[n] = '\0';
    return n > 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : x->rank - y->rank;
}

static const struct entry *lookup(const struct dm_file_mapping *m, const char *name, size_t len)
{
    struct entry key;
    if (!norm_name(name, len, key.name, sizeof(key.name)))
        return NULL;
    size_t lo = 0, hi = m->nentries;
    while (lo < hi) { /* first entry with this name: the best ranked */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->entries[mid].name, key.name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->nentries && !strcmp(m->entries[lo].name, key.name))
        return &m->entries[lo];
    return NULL;
}

enum dm_file_field dm_file_mapping_field(const struct dm_file_mapping *m, const char *header)
{
    const struct entry *e = lookup(m, header, strlen(header));
    return e ? (enum dm_file_field)e->field : DM_FF_NONE;
}

void dm_file_mapping_free(struct dm_file_mapping *m)
{
    if (m == NULL)
        return;
    for (int f = 0; f < DM_FF_COUNT; f++) {
        free(m->named[f]);
        free(m->col_name[f]);
    }
    free(m->entries);
    free(m);
}

static enum dm_file_field field_by_name(const char *s)
{
    for (int f = 0; f < DM_FF_COUNT; f++)
        if (!strcmp(FIELD_NAMES[f], s))
            return (enum dm_file_field)f;
    return DM_FF_NONE;
}

/* Read the mapping file into m->named / m->disabled. */
static enum dm_err read_mapping_file(struct dm_file_mapping *m, const char *json, size_t len,
                                     struct dm_error *err)
{
    if (len > DM_FILE_MAPPING_MAX_JSON)
        return dm_error_set(err, DM_ERR_INVALID, "mapping file: larger than %zu bytes",
                            DM_FILE_MAPPING_MAX_JSON);
    struct dm_jscan js;
    struct dm_error perr;
    if (dm_jscan_parse(&js, json, len, &perr) != DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "mapping file: %s", perr.message);
    enum dm_err e = DM_OK;
    if (dm_jscan_type(&js, 0) != DM_JOBJ) {
        e = dm_error_set(err, DM_ERR_INVALID,
                         "mapping file: not a JSON object of field name to supplier header");
        goto out;
    }
    for (int i = 1; i < js.tok[0].next && e == DM_OK; i = js.tok[i + 1].next) {
        char *key = dm_jscan_strdup(&js, i, NULL);
        enum dm_file_field f = field_by_name(key);
        int type = dm_jscan_type(&js, i + 1);
        if (f == DM_FF_NONE) {
            e = dm_error_set(err, DM_ERR_INVALID, "mapping file: \"%.64s\" is not a field name",
                             key);
        } else if (m->named[f] != NULL || m->disabled[f]) {
            e = dm_error_set(err, DM_ERR_INVALID, "mapping file: \"%s\" is given twice", key);
        } else if (type == DM_JNULL) {
            m->disabled[f] = true;
        } else if (type != DM_JSTR) {
            e = dm_error_set(err, DM_ERR_INVALID,
                             "mapping file: \"%s\" must be a header name (a string) or null", key);
        } else {
            size_t n = 0;
            char *v = dm_jscan_strdup(&js, i + 1, &n);
            char normal[NAME_MAX_LEN];
            if (strlen(v) != n || !norm_name(v, n, normal, sizeof(normal))) {
                e = dm_error_set(err, DM_ERR_INVALID,
                                 "mapping file: the header for \"%s\" is empty or too long", key);
                free(v);
            } else {
                m->named[f] = v;
            }
        }
        free(key);
    }
out:
    dm_jscan_free(&js);
    return e;
}

enum dm_err dm_file_mapping_new(const char *json, size_t len, struct dm_file_mapping **out,
                                struct dm_error *err)
{
    *out = NULL;
    struct dm_file_mapping *m = dm_xcalloc(1, sizeof(*m));
    for (int f = 0; f < DM_FF_COUNT; f++)
        m->col[f] = -1;
    enum dm_err e = json ? read_mapping_file(m, json, len, err) : DM_OK;
    if (e != DM_OK)
        goto out;
    m->entries = dm_xcalloc(NALIASES + DM_FF_COUNT, sizeof(*m->entries));
    for (int f = 0; f < DM_FF_COUNT; f++) {
        if (m->named[f] == NULL)
            continue;
        struct entry *en = &m->entries[m->nentries++];
        (void)norm_name(m->named[f], strlen(m->named[f]), en->name, sizeof(en->name));
        en->field = f;
        en->rank = -1;
        for (size_t k = 0; k + 1 < m->nentries; k++)
            if (!strcmp(m->entries[k].name, en->name)) {
                e = dm_error_set(err, DM_ERR_INVALID,
                                 "mapping file: \"%s\" is named for both %s and %s", m->named[f],
                                 FIELD_NAMES[m->entries[k].field], FIELD_NAMES[f]);
                goto out;
            }
    }
    size_t named = m->nentries;
    for (size_t i = 0; i < NALIASES; i++) {
        enum dm_file_field f = ALIASES[i].field;
        if (m->named[f] != NULL || m->disabled[f])
            continue;       /* the mapping file decides this field alone */
        bool taken = false; /* a header the mapping file gave to another field */
        for (size_t k = 0; k < named && !taken; k++)
            taken = !strcmp(m->entries[k].name, ALIASES[i].name);
        if (taken)
            continue;
        struct entry *en = &m->entries[m->nentries++];
        snprintf(en->name, sizeof(en->name), "%s", ALIASES[i].name);
        en->field = f;
        en->rank = (int)i;
    }
    qsort(m->entries, m->nentries, sizeof(*m->entries), entry_cmp);
    *out = m;
    m = NULL;
out:
    dm_file_mapping_free(m);
    return e;
}

enum dm_err dm_file_mapping_bind_header(struct dm_file_mapping *m, const char *const *names,
                                        const size_t *lens, size_t n, struct dm_error *err)
{
    int rank[DM_FF_COUNT];
    for (int f = 0; f < DM_FF_COUNT; f++) {
        m->col[f] = -1;
        free(m->col_name[f]);
        m->col_name[f] = NULL;
        rank[f] = INT32_MAX;
    }
    m->ncols = n;
    for (size_t j = 0; j < n; j++) {
        const struct entry *en = lookup(m, names[j], lens[j]);
        if (en == NULL || en->rank >= rank[en->field])
            continue; /* unknown, or a better column already holds the field */
        rank[en->field] = en->rank;
        m->col[en->field] = (int)j;
    }
    for (int f = 0; f < DM_FF_COUNT; f++)
        if (m->col[f] >= 0)
            m->col_name[f] = dm_xstrndup(names[m->col[f]], lens[m->col[f]]);
    struct dm_buf msg;
    dm_buf_init(&msg, 400);
    enum dm_err e = DM_OK;
    for (int f = 0; f < DM_FF_COUNT; f++) {
        bool need = dm_file_field_required((enum dm_file_field)f) || m->named[f] != NULL;
        if (need && m->col[f] < 0) {
            if (m->named[f] != NULL)
                e = dm_buf_appendf(&msg, "%s%s (mapping file: \"%s\")", msg.len ? ", " : "",
                                   FIELD_NAMES[f], m->named[f]);
            else
                e = dm_buf_appendf(&msg, "%s%s", msg.len ? ", " : "", FIELD_NAMES[f]);
        }
    }
    if (m->col[DM_FF_TOTAL_PRICE] < 0 && m->col[DM_FF_PRICE_PER_CARAT] < 0)
        e = dm_buf_appendf(&msg, "%stotal_price or price_per_carat", msg.len ? ", " : "");
    (void)e; /* a message cut at its bound still names the first fields */
    if (msg.len > 0)
        e = dm_error_set(err, DM_ERR_INVALID, "header: no column for %s", msg.data);
    else
        e = DM_OK;
    dm_buf_free(&msg);
    return e;
}

int dm_file_mapping_column(const struct dm_file_mapping *m, enum dm_file_field f)
{
    return f >= 0 && f < DM_FF_COUNT ? m->col[f] : -1;
}

/* ---- rows --------------------------------------------------------------------------------- */

/* One row's raw values by field, with the supplier's column name for messages. */
struct values {
    const char *v[DM_FF_COUNT];
    size_t len[DM_FF_COUNT];
    const char *col[DM_FF_COUNT];
};

/* A field's value, trimmed, NUL-terminated in buf; NULL when absent or empty. */
static const char *value(const struct values *vs, enum dm_file_field f, char *buf, size_t size)
{
    const char *s = vs->v[f];
    size_t n = vs->len[f];
    if (s == NULL)
        return NULL;
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= size)
        return NULL; /* too long was refused by check_values */
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static enum dm_err row_fail(struct dm_error *err, enum dm_file_field *bad, enum dm_file_field f,
                            const struct values *vs, const char *what, const char *v)
{
    if (bad)
        *bad = f;
    const char *col = vs->col[f] ? vs->col[f] : FIELD_NAMES[f];
    if (v != NULL)
        return dm_error_set(err, DM_ERR_INVALID, "%s (column \"%.64s\"): \"%.64s\" %s",
                            FIELD_NAMES[f], col, v, what);
    return dm_error_set(err, DM_ERR_INVALID, "%s (column \"%.64s\"): %s", FIELD_NAMES[f], col,
                        what);
}

/* Money in dollars: "1234.5", "$1,234.50", "USD 1234": cents. Thousands commas must group by
 * three; anything else (a decimal comma) is refused, never guessed. */
static enum dm_err money(const char *s, int64_t *cents)
{
    char clean[64];
    size_t n = 0;
    if (*s == '$')
        s++;
    else if (!strncasecmp(s, "USD", 3))
        s += 3;
    while (*s == ' ')
        s++;
    const char *end = s + strlen(s);
    if (end - s > 3 && !strcasecmp(end - 3, "USD"))
        end -= 3;
    while (end > s && end[-1] == ' ')
        end--;
    const char *dot = memchr(s, '.', (size_t)(end - s));
    const char *int_end = dot ? dot : end;
    int group = -1; /* digits since the last comma; -1 before the first comma */
    int lead = 0;
    for (const char *p = s; p < end; p++) {
        if (p < int_end && *p == ',') {
            if ((group == -1 && (lead < 1 || lead > 3)) || (group != -1 && group != 3))
                return DM_ERR_INVALID;
            group = 0;
            continue;
        }
        if (p < int_end && *p >= '0' && *p <= '9') {
            if (group == -1)
                lead++;
            else
                group++;
        }
        if (n + 1 >= sizeof(clean))
            return DM_ERR_TOO_LARGE;
        clean[n++] = *p;
    }
    if (group != -1 && group != 3)
        return DM_ERR_INVALID;
    clean[n] = '\0';
    enum dm_err e = dm_mapping_decimal_text(clean, 2, cents);
    if (e == DM_OK && *cents < 0)
        return DM_ERR_INVALID;
    if (e == DM_OK && *cents > DM_MONEY_MAX_CENTS)
        return DM_ERR_TOO_LARGE;
    return e;
}

/* A non-negative decimal (an optional unit suffix already cut) with 3 decimals. */
static enum dm_err size3(const char *s, int64_t *out)
{
    enum dm_err e = dm_mapping_decimal_text(s, 3, out);
    if (e == DM_OK && *out < 0)
        return DM_ERR_INVALID;
    if (e == DM_OK && *out > 1000000000)
        return DM_ERR_TOO_LARGE;
    return e;
}

/* Shortest decimal text of v / 1000 ("6.45", "57"). */
static void format3(int64_t v, char *out, size_t size)
{
    dm_format_fixed(v, 3, out, size);
    char *dot = strchr(out, '.');
    if (dot == NULL)
        return;
    char *end = out + strlen(out);
    while (end > dot + 1 && end[-1] == '0')
        *--end = '\0';
    if (end == dot + 1)
        *dot = '\0';
}

/* Cut a unit suffix ("mm", "%") and trailing spaces off s (in place). */
static void cut_suffix(char *s, const char *unit)
{
    size_t n = strlen(s), u = strlen(unit);
    if (n > u && !strcasecmp(s + n - u, unit))
        n -= u;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    s[n] = '\0';
}

/* "L x W x D" (also '*', 'X', '×', '-', '/' between the numbers, an optional "mm") into three
 * numbers of thousandths of a millimetre. */
static bool parse_lwd(const char *s, int64_t out[3])
{
    char num[32];
    int k = 0;
    const char *p = s;
    while (*p != '\0') {
        if (k == 3) {
            while (*p == ' ')
                p++;
            return !strcasecmp(p, "mm") || *p == '\0';
        }
        while (*p == ' ')
            p++;
        size_t n = 0;
        while ((*p >= '0' && *p <= '9') || *p == '.') {
            if (n + 1 >= sizeof(num))
                return false;
            num[n++] = *p++;
        }
        num[n] = '\0';
        if (n == 0 || size3(num, &out[k]) != DM_OK)
            return false;
        k++;
        while (*p == ' ')
            p++;
        if (k == 3)
            continue;
        if (*p == 'x' || *p == 'X' || *p == '*' || *p == '-' || *p == '/')
            p++;
        else if ((unsigned char)p[0] == 0xC3 && (unsigned char)p[1] == 0x97) /* × */
            p += 2;
        else
            return false;
    }
    return k == 3;
}

/* A boolean as suppliers write it: true/false, yes/no, y/n, 1/0, any case. */
static bool parse_flag(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "y", "1"};
    static const char *const no[] = {"false", "no", "n", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
            *out = !strcasecmp(s, yes[i]);
            return true;
        }
    }
    return false;
}

/* An optional http(s) URL: kept, or dropped and named in d->dropped_urls. */
static char *url_value(const char *v, const char *field, struct dm_diamond *d)
{
    if (v == NULL)
        return NULL;
    if (dm_mapping_http_url(v))
        return dm_xstrdup(v);
    size_t used = strlen(d->dropped_urls);
    snprintf(d->dropped_urls + used, sizeof(d->dropped_urls) - used, "%s%s", used ? "," : "",
             field);
    return NULL;
}

/* Measurements JSON in Nivoda's key names, from "L x W x D" and/or the separate columns. */
static enum dm_err measurements(const struct values *vs, struct dm_diamond *d,
                                enum dm_file_field *bad, struct dm_error *err)
{
    static const char *const KEYS[5] = {"length", "width", "depth", "depthPercentage", "table"};
    static const enum dm_file_field FIELDS[5] = {DM_FF_LENGTH, DM_FF_WIDTH, DM_FF_DEPTH,
                                                 DM_FF_DEPTH_PCT, DM_FF_TABLE_PCT};
    int64_t v[5];
    bool have[5] = {false};
    char buf[DM_FILE_MAPPING_MAX_VALUE + 1];
    const char *lwd = value(vs, DM_FF_MEASUREMENTS, buf, sizeof(buf));
    if (lwd != NULL) {
        if (!parse_lwd(lwd, v))
            return row_fail(err, bad, DM_FF_MEASUREMENTS, vs, "is not \"L x W x D\"", lwd);
        have[0] = have[1] = have[2] = true;
    }
    for (int i = 0; i < 5; i++) {
        char *s = (char *)value(vs, FIELDS[i], buf, sizeof(buf));
        if (s == NULL)
            continue;
        char shown[80];
        snprintf(shown, sizeof(shown), "%s", s);
        cut_suffix(s, i < 3 ? "mm" : "%");
        if (size3(s, &v[i]) != DM_OK)
            return row_fail(err, bad, FIELDS[i], vs, "is not a number", shown);
        have[i] = true; /* a separate column is more precise than the combined one */
    }
    struct dm_buf b;
    dm_buf_init(&b, 512);
    enum dm_err e = DM_OK;
    for (int i = 0; i < 5 && e == DM_OK; i++) {
        if (!have[i])
            continue;
        char num[40];
        format3(v[i], num, sizeof(num));
        e = dm_buf_appendf(&b, "%c\"%s\":%s", b.len ? ',' : '{', KEYS[i], num);
    }
    if (e == DM_OK && b.len > 0)
        e = dm_buf_append_char(&b, '}');
    if (e == DM_OK && b.len > 0)
        d->measurements = dm_buf_steal(&b);
    dm_buf_free(&b);
    return DM_OK;
}

static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = dm_text_utf8_len(p + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Lab-grown from a growth type: CVD, HPHT or any other method is lab-grown; natural, mined
 * or none is not. */
static bool grown(const char *s)
{
    static const char *const natural[] = {"natural", "mined", "earth mined", "earth-mined",
                                          "none",    "n/a",   "na",          "no"};
    for (size_t i = 0; i < sizeof(natural) / sizeof(natural[0]); i++)
        if (!strcasecmp(s, natural[i]))
            return false;
    return true;
}

/* attributes: keyToSymbols and comments as a compact JSON object, NULL when neither is given
 * (the keys Nivoda items use). Values are valid UTF-8 (checked before). */
static char *attributes(const struct values *vs)
{
    char buf[DM_FILE_MAPPING_MAX_VALUE + 1];
    json_t *o = json_object();
    const char *s = value(vs, DM_FF_KEY_TO_SYMBOLS, buf, sizeof(buf));
    if (s != NULL)
        json_object_set_new(o, "keyToSymbols", json_string(s));
    s = value(vs, DM_FF_COMMENTS, buf, sizeof(buf));
    if (s != NULL)
        json_object_set_new(o, "comments", json_string(s));
    char *out = NULL;
    if (json_object_size(o) > 0) {
        struct dm_buf b;
        dm_buf_init(&b, 4 * DM_FILE_MAPPING_MAX_VALUE + 64);
        if (dm_json_write(&b, o) == DM_OK)
            out = dm_buf_steal(&b);
        dm_buf_free(&b);
    }
    json_decref(o);
    return out;
}

/* An enumerated field through mapping.c's vocabulary; NULL when absent. */
static enum dm_err vocab(const struct values *vs, enum dm_file_field f, enum dm_vocab voc,
                         bool required, char **out, enum dm_file_field *bad, struct dm_error *err)
{
    char buf[DM_FILE_MAPPING_MAX_VALUE + 1];
    const char *s = value(vs, f, buf, sizeof(buf));
    if (s == NULL)
        return required ? row_fail(err, bad, f, vs, "is missing", NULL) : DM_OK;
    const char *canon = dm_mapping_canonical(voc, s);
    if (canon == NULL)
        return row_fail(err, bad, f, vs, "is not a known value", s);
    *out = dm_xstrdup(canon);
    return DM_OK;
}

static enum dm_err map_values(const struct values *vs, const char *feed, struct dm_diamond *d,
                              enum dm_file_field *bad, struct dm_error *err)
{
    memset(d, 0, sizeof(*d));
    d->feed = feed;
    if (bad)
        *bad = DM_FF_NONE;
    char buf[DM_FILE_MAPPING_MAX_VALUE + 1];
    enum dm_err e = DM_OK;
    for (int f = 0; f < DM_FF_COUNT; f++) {
        if (vs->v[f] == NULL)
            continue;
        if (vs->len[f] > DM_FILE_MAPPING_MAX_VALUE) {
            e = row_fail(err, bad, (enum dm_file_field)f, vs, "is too long", NULL);
            goto out;
        }
        if (memchr(vs->v[f], '\0', vs->len[f]) != NULL) {
            e = row_fail(err, bad, (enum dm_file_field)f, vs, "holds a NUL byte", NULL);
            goto out;
        }
        if (!valid_utf8(vs->v[f], vs->len[f])) {
            e = row_fail(err, bad, (enum dm_file_field)f, vs,
                         "is not valid UTF-8 (save the file as UTF-8)", NULL);
            goto out;
        }
    }
    const char *stock = value(vs, DM_FF_STOCK_ID, buf, sizeof(buf));
    if (stock == NULL) {
        e = row_fail(err, bad, DM_FF_STOCK_ID, vs, "is missing", NULL);
        goto out;
    }
    d->supplier_stone_id = dm_xstrdup(stock);
    d->offer_id = dm_xstrdup(stock);
    e = vocab(vs, DM_FF_SHAPE, DM_VOCAB_SHAPE, true, &d->shape, bad, err);
    if (e != DM_OK)
        goto out;
    const char *s = value(vs, DM_FF_CARATS, buf, sizeof(buf));
    if (s == NULL) {
        e = row_fail(err, bad, DM_FF_CARATS, vs, "is missing", NULL);
        goto out;
    }
    if (dm_mapping_decimal_text(s, 2, &d->carats_c2) != DM_OK || d->carats_c2 <= 0 ||
        d->carats_c2 > DM_CARATS_MAX_C2) {
        e = row_fail(err, bad, DM_FF_CARATS, vs, "is not a weight in carats (0.01 to 9999.99)", s);
        goto out;
    }
    e = vocab(vs, DM_FF_COLOR, DM_VOCAB_COLOUR, true, &d->color, bad, err);
    if (e == DM_OK)
        e = vocab(vs, DM_FF_CLARITY, DM_VOCAB_CLARITY, true, &d->clarity, bad, err);
    if (e != DM_OK)
        goto out;

    /* Price: the total when given, else price per carat x carats (exact, half up). */
    s = value(vs, DM_FF_TOTAL_PRICE, buf, sizeof(buf));
    if (s != NULL) {
        if (money(s, &d->feed_price_cents) != DM_OK) {
            e = row_fail(err, bad, DM_FF_TOTAL_PRICE, vs, "is not an amount in dollars", s);
            goto out;
        }
    } else {
        s = value(vs, DM_FF_PRICE_PER_CARAT, buf, sizeof(buf));
        int64_t ppc = 0;
        if (s == NULL) {
            e = row_fail(err, bad,
                         vs->v[DM_FF_TOTAL_PRICE] ? DM_FF_TOTAL_PRICE : DM_FF_PRICE_PER_CARAT, vs,
                         "is missing (no total price nor price per carat)", NULL);
            goto out;
        }
        if (money(s, &ppc) != DM_OK) {
            e = row_fail(err, bad, DM_FF_PRICE_PER_CARAT, vs, "is not an amount in dollars", s);
            goto out;
        }
        d->feed_price_cents = dm_div_round_half_up((__int128)ppc * d->carats_c2, 100);
        if (d->feed_price_cents > DM_MONEY_MAX_CENTS) {
            e = row_fail(err, bad, DM_FF_PRICE_PER_CARAT, vs, "times the weight is out of range",
                         s);
            goto out;
        }
    }

    e = vocab(vs, DM_FF_CUT, DM_VOCAB_GRADE, false, &d->cut, bad, err);
    if (e == DM_OK)
        e = vocab(vs, DM_FF_POLISH, DM_VOCAB_GRADE, false, &d->polish, bad, err);
    if (e == DM_OK)
        e = vocab(vs, DM_FF_SYMMETRY, DM_VOCAB_GRADE, false, &d->symmetry, bad, err);
    if (e != DM_OK)
        goto out;
    const enum dm_file_field flags[2] = {DM_FF_LAB_GROWN, DM_FF_TREATED};
    bool *flag_out[2] = {&d->lab_grown, &d->treated};
    for (int i = 0; i < 2; i++) {
        s = value(vs, flags[i], buf, sizeof(buf));
        if (s != NULL && !parse_flag(s, flag_out[i])) {
            e = row_fail(err, bad, flags[i], vs, "is not a boolean (yes/no, true/false, 1/0)", s);
            goto out;
        }
        /* No lab-grown flag: a growth type (CVD, HPHT) says it, as Nivoda's labgrown_type. */
        if (i == 0 && s == NULL && (s = value(vs, DM_FF_GROWTH_TYPE, buf, sizeof(buf))) != NULL)
            d->lab_grown = grown(s);
    }
    d->attributes = attributes(vs);
    e = measurements(vs, d, bad, err);
    if (e != DM_OK)
        goto out;
    if ((s = value(vs, DM_FF_FLUORESCENCE, buf, sizeof(buf))) != NULL)
        d->fluorescence = dm_xstrdup(s);
    if ((s = value(vs, DM_FF_LAB, buf, sizeof(buf))) != NULL) {
        d->certificate_lab = dm_xstrdup(s);
        for (char *p = d->certificate_lab; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
    }
    if ((s = value(vs, DM_FF_CERT_NUMBER, buf, sizeof(buf))) != NULL)
        d->certificate_number = dm_xstrdup(s);
    d->certificate_pdf_url =
        url_value(value(vs, DM_FF_CERT_URL, buf, sizeof(buf)), "certificate_url", d);
    d->image_url = url_value(value(vs, DM_FF_IMAGE, buf, sizeof(buf)), "image", d);
    d->video_url = url_value(value(vs, DM_FF_VIDEO, buf, sizeof(buf)), "video", d);
    /* A stone listed in a supplier's inventory file is for sale unless the file says not. */
    s = value(vs, DM_FF_AVAILABILITY, buf, sizeof(buf));
    bool yes = false;
    if (s == NULL) {
        d->availability = DM_AVAIL_AVAILABLE;
    } else {
        d->raw_availability = dm_xstrdup(s);
        if (parse_flag(s, &yes))
            d->availability = yes ? DM_AVAIL_AVAILABLE : DM_AVAIL_UNAVAILABLE;
        else if (!strcasecmp(s, "in stock") || !strcasecmp(s, "instock"))
            d->availability = DM_AVAIL_AVAILABLE;
        else
            d->availability = dm_availability_normalise(s);
    }
    d->markup_e4 = DM_DEFAULT_MARKUP_E4;
out:
    if (e != DM_OK)
        dm_diamond_free(d);
    return e;
}

/* ---- raw records (file feeds' raw tables) ------------------------------------------------- */

void dm_file_raw_init(struct dm_file_raw *r)
{
    memset(r, 0, sizeof(*r));
    dm_buf_init(&r->payload, (size_t)6 * 32 * DM_FILE_MAPPING_MAX_VALUE);
}

void dm_file_raw_free(struct dm_file_raw *r)
{
    if (r != NULL)
        dm_buf_free(&r->payload);
}

bool dm_file_shape_not_carried(const char *s)
{
    static const char *const OTHER[] = {
        "BAGUETTE", "TAPEREDBAGUETTE", "BRIOLETTE", "TRAPEZOID", "HALFMOON",
        "KITE",     "SHIELD",          "BULLET",    "TRIANGLE",  "LOZENGE",
        "PENTAGON", "PENTAGONAL",      "OCTAGON",   "OCTAGONAL", "STAR",
    };
    char key[32];
    size_t n = 0;
    for (; s != NULL && *s; s++) {
        char c = *s;
        if (c == ' ' || c == '-' || c == '_')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z' || n + 1 >= sizeof(key))
            return false;
        key[n++] = c;
    }
    key[n] = '\0';
    for (size_t i = 0; n > 0 && i < sizeof(OTHER) / sizeof(OTHER[0]); i++)
        if (!strcmp(key, OTHER[i]))
            return true;
    return false;
}

/* The stock id shown in reports: printable UTF-8 of at most DM_FILE_STOCK_ID_SHOWN bytes. */
static void shown_stock_id(const struct values *vs, char out[DM_FILE_STOCK_ID_SHOWN + 1])
{
    char buf[DM_FILE_MAPPING_MAX_VALUE + 1];
    out[0] = '\0';
    const char *s = value(vs, DM_FF_STOCK_ID, buf, sizeof(buf));
    if (s == NULL || strlen(s) > DM_FILE_STOCK_ID_SHOWN || !valid_utf8(s, strlen(s)))
        return;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return;
    memcpy(out, s, strlen(s) + 1);
}

/* The payload of dm_file_raw: {field name: value as written} of the fields with a value. */
static enum dm_err write_payload(const struct values *vs, struct dm_buf *b)
{
    char buf[DM_FILE_MAPPING_MAX_VALUE + 1];
    enum dm_err e = dm_buf_append_char(b, '{');
    bool first = true;
    for (int f = 0; f < DM_FF_COUNT && e == DM_OK; f++) {
        const char *s = value(vs, (enum dm_file_field)f, buf, sizeof(buf));
        if (s == NULL)
            continue;
        if (!first)
            e = dm_buf_append_char(b, ',');
        first = false;
        if (e == DM_OK)
            e = dm_json_write_string(b, FIELD_NAMES[f], strlen(FIELD_NAMES[f]));
        if (e == DM_OK)
            e = dm_buf_append_char(b, ':');
        if (e == DM_OK)
            e = dm_json_write_string(b, s, strlen(s));
    }
    if (e == DM_OK)
        e = dm_buf_append_char(b, '}');
    return e;
}

/* map_values, then the raw record (raw may be NULL). A row error (before mapping: e != DM_OK
 * on entry) only fills the stock id. */
static enum dm_err map_raw(enum dm_err e, const struct values *vs, const char *feed,
                           struct dm_diamond *d, struct dm_file_raw *raw,
                           enum dm_file_field *bad_field, struct dm_error *err)
{
    enum dm_file_field bad = DM_FF_NONE;
    if (raw != NULL) {
        dm_buf_reset(&raw->payload);
        raw->not_carried = false;
        shown_stock_id(vs, raw->stock_id);
    }
    if (e == DM_OK)
        e = map_values(vs, feed, d, &bad, err);
    if (bad_field)
        *bad_field = bad;
    if (raw == NULL)
        return e;
    if (e != DM_OK) {
        char buf[DM_FILE_MAPPING_MAX_VALUE + 1];
        const char *shape = bad == DM_FF_SHAPE ? value(vs, DM_FF_SHAPE, buf, sizeof(buf)) : NULL;
        raw->not_carried = shape != NULL && dm_file_shape_not_carried(shape);
        return e;
    }
    if (write_payload(vs, &raw->payload) != DM_OK) {
        dm_diamond_free(d);
        dm_buf_reset(&raw->payload);
        return dm_error_set(err, DM_ERR_INVALID, "row too large for its raw record");
    }
    return DM_OK;
}

enum dm_err dm_file_mapping_row(const struct dm_file_mapping *m, const char *const *fields,
                                const size_t *lens, size_t n, const char *feed,
                                struct dm_diamond *d, enum dm_file_field *bad_field,
                                struct dm_error *err)
{
    return dm_file_mapping_row_raw(m, fields, lens, n, feed, d, NULL, bad_field, err);
}

enum dm_err dm_file_mapping_row_raw(const struct dm_file_mapping *m, const char *const *fields,
                                    const size_t *lens, size_t n, const char *feed,
                                    struct dm_diamond *d, struct dm_file_raw *raw,
                                    enum dm_file_field *bad_field, struct dm_error *err)
{
    memset(d, 0, sizeof(*d));
    if (bad_field)
        *bad_field = DM_FF_NONE;
    struct values vs;
    memset(&vs, 0, sizeof(vs));
    for (int f = 0; f < DM_FF_COUNT; f++) {
        if (m->col[f] < 0 || (size_t)m->col[f] >= n)
            continue;
        vs.v[f] = fields[m->col[f]];
        vs.len[f] = lens[m->col[f]];
        vs.col[f] = m->col_name[f];
    }
    enum dm_err e = DM_OK;
    if (n < m->ncols)
        e = dm_error_set(err, DM_ERR_INVALID, "row has %zu fields, the header has %zu", n,
                         m->ncols);
    for (size_t j = m->ncols; j < n && e == DM_OK; j++)
        if (lens[j] != 0)
            e = dm_error_set(err, DM_ERR_INVALID, "row has %zu fields, the header has %zu", n,
                             m->ncols);
    return map_raw(e, &vs, feed, d, raw, bad_field, err);
}

enum dm_err dm_file_mapping_json(const struct dm_file_mapping *m, const char *text, size_t len,
                                 const char *feed, struct dm_diamond *d,
                                 enum dm_file_field *bad_field, struct dm_error *err)
{
    return dm_file_mapping_json_raw(m, text, len, feed, d, NULL, bad_field, err);
}

enum dm_err dm_file_mapping_json_raw(const struct dm_file_mapping *m, const char *text, size_t len,
                                     const char *feed, struct dm_diamond *d,
                                     struct dm_file_raw *raw, enum dm_file_field *bad_field,
                                     struct dm_error *err)
{
    memset(d, 0, sizeof(*d));
    if (bad_field)
        *bad_field = DM_FF_NONE;
    if (raw != NULL) {
        dm_buf_reset(&raw->payload);
        raw->stock_id[0] = '\0';
        raw->not_carried = false;
    }
    struct dm_jscan js;
    struct dm_error perr;
    if (dm_jscan_parse(&js, text, len, &perr) != DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "not JSON: %s", perr.message);
    struct values vs;
    memset(&vs, 0, sizeof(vs));
    char *owned[2 * DM_FF_COUNT] = {NULL}; /* decoded values and keys of the chosen members */
    int rank[DM_FF_COUNT];
    for (int f = 0; f < DM_FF_COUNT; f++)
        rank[f] = INT32_MAX;
    enum dm_err e = DM_OK;
    if (dm_jscan_type(&js, 0) != DM_JOBJ) {
        e = dm_error_set(err, DM_ERR_INVALID, "line is not a JSON object");
        goto out;
    }
    for (int i = 1; i < js.tok[0].next; i = js.tok[i + 1].next) {
        size_t klen = 0;
        char *key = dm_jscan_strdup(&js, i, &klen);
        const struct entry *en = lookup(m, key, klen);
        if (en == NULL || en->rank >= rank[en->field]) {
            free(key);
            continue;
        }
        int f = en->field, v = i + 1;
        size_t at = 2 * (size_t)f; /* owned[at]: the key, owned[at + 1]: the decoded value */
        rank[f] = en->rank;
        free(owned[at]);
        free(owned[at + 1]);
        owned[at] = key;
        owned[at + 1] = NULL;
        vs.col[f] = key;
        vs.v[f] = NULL;
        vs.len[f] = 0;
        switch (dm_jscan_type(&js, v)) {
        case DM_JSTR:
            owned[at + 1] = dm_jscan_strdup(&js, v, &vs.len[f]);
            vs.v[f] = owned[at + 1];
            break;
        case DM_JNUM:
        case DM_JTRUE:
        case DM_JFALSE:
            vs.v[f] = dm_jscan_raw(&js, v, &vs.len[f]);
            break;
        case DM_JNULL:
            break;
        default:
            e = row_fail(err, bad_field, (enum dm_file_field)f, &vs,
                         "is an object or array, not a value", NULL);
            goto out;
        }
    }
    e = map_raw(DM_OK, &vs, feed, d, raw, bad_field, err);
out:
    for (int k = 0; k < 2 * DM_FF_COUNT; k++)
        free(owned[k]);
    dm_jscan_free(&js);
    return e;
}
