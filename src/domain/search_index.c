/* search_index.c - the in-memory catalogue index: records, dictionaries, versions, search,
 * facets and lookups (see search_index.h for the design). */
#include "domain/search_index.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/num.h"
#include "core/timeutil.h"

/* ---- dictionaries: interned text of the repeated columns ---- */

enum dict_id {
    X_FEED = 0,
    X_SHAPE,
    X_COLOR,
    X_CLARITY,
    X_CUT,
    X_POLISH,
    X_SYMMETRY,
    X_FLUORESCENCE,
    X_AVAILABILITY,
    X_CERT_LAB,
    X_RAW_AVAILABILITY,
    X_SUPPLIER_NAME,
    X_SUPPLIER_LEGAL_NAME,
    X_PRICING_RULE,
    X_COUNT
};
#define DICT_MAX 65535 /* value 0 is NULL */

struct dict {
    uint32_t n;       /* values 1..n are set (writer publishes n after filling the entry) */
    char **text;      /* [DICT_MAX + 1] */
    char **upper;     /* ASCII upper case of text */
    uint8_t *rank;    /* colour / clarity grade rank (99 unknown) */
    uint32_t *hash;   /* open addressing over value ids, writer only */
    uint32_t hashcap; /* power of two */
};

/* Variable-length text columns of a record, stored one after the other. */
enum var_id {
    V_SUPPLIER_STONE_ID = 0,
    V_OFFER_ID,
    V_HOLD_ID,
    V_IMAGE_URL,
    V_VIDEO_URL,
    V_CERT_NUMBER,
    V_CERT_PDF_URL,
    V_MEASUREMENTS,
    V_ATTRIBUTES,
    V_COUNT
};

struct dm_stone {
    uint8_t id[16];
    uint8_t listing_id[16]; /* rendered as "id" */
    int64_t seq;
    int64_t created_us, updated_us;   /* UTC */
    int32_t created_off, updated_off; /* seconds east of UTC, as rendered */
    int64_t feed_price, ppc, retail;  /* cents */
    int32_t carats;                   /* hundredths */
    int32_t markup;                   /* 1/10000 */
    int16_t rating;                   /* -1: NULL */
    uint8_t lab_grown, treated;
    uint16_t x[X_COUNT];    /* dictionary ids, 0 = NULL */
    uint32_t vlen[V_COUNT]; /* UINT32_MAX = NULL */
    char var[];             /* the var columns, concatenated, no terminators */
};

/* ---- dimensions with bitmaps (filters and facets) ---- */

enum dim {
    D_SHAPE = 0,
    D_COLOR,
    D_CLARITY,
    D_CUT,
    D_POLISH,
    D_SYMMETRY,
    D_FLUORESCENCE,
    D_AVAILABILITY,
    D_FEED,
    D_CERT_LAB,
    D_LAB_GROWN, /* not a dictionary: value 1 false, 2 true */
    D_COUNT
};
/* A bitmap dimension: its facet, its dictionary and the search filter it answers (by name, from
 * the one filter table, search_query.h: the filter's column says how values compare). */
struct dim_def {
    const char *facet;  /* facet name in JSON */
    int dict;           /* dictionary or -1 */
    const char *filter; /* the list filter it answers, or NULL (facet only) */
};
static const struct dim_def dims[D_COUNT] = {
    [D_SHAPE] = {"shape", X_SHAPE, "shape"},
    [D_COLOR] = {"color", X_COLOR, "color"},
    [D_CLARITY] = {"clarity", X_CLARITY, "clarity"},
    [D_CUT] = {"cut", X_CUT, "cut"},
    [D_POLISH] = {"polish", X_POLISH, "polish"},
    [D_SYMMETRY] = {"symmetry", X_SYMMETRY, "symmetry"},
    [D_FLUORESCENCE] = {"fluorescence", X_FLUORESCENCE, "fluorescence"},
    [D_AVAILABILITY] = {"availability", X_AVAILABILITY, "availability"},
    [D_FEED] = {"feed", X_FEED, "feed"},
    [D_CERT_LAB] = {"certificateLab", X_CERT_LAB, NULL},
    [D_LAB_GROWN] = {"labGrown", -1, NULL},
};

/* Compared as upper(column) = value (the SQL path's rule for this dimension's filter). */
static bool dim_upper(int d)
{
    const struct dm_sq_filter *f = dims[d].filter ? dm_sq_filter_find(dims[d].filter) : NULL;
    return f && !strncmp(f->column, "upper(", 6);
}

#define NBINS 32
enum range { R_CARATS = 0, R_PRICE, R_COUNT };
enum order_id { O_BY_ID = DM_SQ_SORT_COUNT, O_BY_CERT, O_BY_SSID, O_COUNT };

/* One published version. Everything here is immutable once published. */
struct version {
    int refs; /* under ix->mu: readers + 1 while current */
    struct dm_search_index *ix;
    uint32_t nslots, nwords, capwords, live;
    struct dm_stone **slot; /* [capwords * 64] */
    uint64_t *livebm;
    uint32_t *order[O_COUNT];
    uint32_t norder[O_COUNT];
    uint32_t nvals[D_COUNT]; /* values with a bitmap slot: ids 0..nvals-1 */
    uint64_t **bm[D_COUNT];  /* bm[d][value] or NULL */
    uint64_t *cum[R_COUNT][NBINS];
    int64_t edge[R_COUNT][NBINS - 1]; /* in query units: carats 1/10000, price cents */
    int64_t vmin[R_COUNT], vmax[R_COUNT];
    int64_t *rv[R_COUNT]; /* range value per slot (edge bins are checked without the records) */
    int64_t last_seq;
    struct dm_stone **garbage; /* records the next version no longer holds */
    size_t ngarbage;
    struct version *next; /* retired list */
};

struct idmap {
    uint32_t *slot; /* slot + 1, 0 empty */
    uint32_t cap, n, tomb;
};

struct dm_search_index {
    pthread_mutex_t mu;
    struct version *cur;
    struct version *retired_head, *retired_tail;
    struct dict dict[X_COUNT];
    /* writer only */
    struct idmap map;
    uint32_t *free_slots;
    uint32_t nfree, capfree;
    int64_t versions, published_ms, rec_bytes;
    int64_t last_seq; /* under mu */
    /* writer only: the database's upper case, and the values still waiting for it */
    dm_search_upper_fn upper_fn;
    void *upper_ctx;
    struct pending_upper {
        uint8_t dict;
        uint16_t id;
    } * pending;
    size_t npending, cappending;
};

static uint32_t mix(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h ^ (h >> 15);
}

static const char *const color_grades[] = {"D", "E", "F", "G", "H", "I", "J", "K",
                                           "L", "M", "N", "O", "P", "Q", "R", "S",
                                           "T", "U", "V", "W", "X", "Y", "Z"};
static const char *const clarity_grades[] = {"FL",  "IF",  "VVS1", "VVS2", "VS1", "VS2",
                                             "SI1", "SI2", "SI3",  "I1",   "I2",  "I3"};

static uint8_t grade_rank(const char *up, const char *const *grades, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(up, grades[i]))
            return (uint8_t)(i + 1);
    return 99;
}

static void dict_init(struct dict *d)
{
    d->n = 0;
    d->text = dm_xcalloc(DICT_MAX + 1, sizeof(char *));
    d->upper = dm_xcalloc(DICT_MAX + 1, sizeof(char *));
    d->rank = dm_xcalloc(DICT_MAX + 1, 1);
    d->hashcap = 64;
    d->hash = dm_xcalloc(d->hashcap, sizeof(uint32_t));
}

static void dict_free(struct dict *d)
{
    for (uint32_t i = 1; i <= d->n; i++) {
        free(d->text[i]);
        free(d->upper[i]);
    }
    free(d->text);
    free(d->upper);
    free(d->rank);
    free(d->hash);
}

static bool upper_dict(int which)
{
    return which == X_COLOR || which == X_CLARITY || which == X_CUT || which == X_POLISH ||
           which == X_SYMMETRY || which == X_FLUORESCENCE;
}

static uint8_t rank_of(int which, const char *upper)
{
    return which == X_COLOR     ? grade_rank(upper, color_grades, 23)
           : which == X_CLARITY ? grade_rank(upper, clarity_grades, 12)
                                : 0;
}

/* Id of text (len bytes) in d, adding it when new; 0 when the dictionary is full. */
static uint16_t dict_intern(struct dict *d, int which, const char *s, size_t len)
{
    uint32_t mask = d->hashcap - 1;
    uint32_t h = mix(s, len) & mask;
    while (d->hash[h]) {
        const char *t = d->text[d->hash[h]];
        if (strlen(t) == len && !memcmp(t, s, len))
            return (uint16_t)d->hash[h];
        h = (h + 1) & mask;
    }
    if (d->n >= DICT_MAX)
        return 0;
    uint32_t id = d->n + 1;
    char *t = dm_xmalloc(len + 1), *u = dm_xmalloc(len + 1);
    memcpy(t, s, len);
    t[len] = '\0';
    for (size_t i = 0; i <= len; i++)
        u[i] = (char)toupper((unsigned char)t[i]);
    d->text[id] = t;
    d->upper[id] = u;
    d->rank[id] = rank_of(which, u);
    d->hash[h] = id;
    /* Published to readers through the version that first uses it (mutex release). */
    d->n = id;
    if (d->n * 2 > d->hashcap) {
        uint32_t ncap = d->hashcap * 2;
        uint32_t *nh = dm_xcalloc(ncap, sizeof(uint32_t));
        for (uint32_t i = 1; i <= d->n; i++) {
            uint32_t k = mix(d->text[i], strlen(d->text[i])) & (ncap - 1);
            while (nh[k])
                k = (k + 1) & (ncap - 1);
            nh[k] = i;
        }
        free(d->hash);
        d->hash = nh;
        d->hashcap = ncap;
    }
    return (uint16_t)id;
}

/* ---- records ---- */

const char DM_STONE_COLUMNS_SQL[] =
    "id, change_seq, status = 'active' AND chosen, feed, supplier_stone_id, offer_id, shape, "
    "carats, color, "
    "clarity, cut, polish, symmetry, fluorescence, lab_grown, treated, feed_price, "
    "price_per_carat, retail_price, markup_ratio, rating, pricing_rule_id, availability, "
    "raw_availability, hold_id, image_url, video_url, certificate_lab, certificate_number, "
    "certificate_pdf_url, measurements, attributes, supplier_name, supplier_legal_name, "
    "created_at, updated_at, listing_id";
const char DM_STONE_OFFSETS_UTC_SQL[] = "0::int4, 0::int4";
const char DM_STONE_OFFSETS_SQL[] =
    "extract(timezone from created_at)::int4, extract(timezone from updated_at)::int4";

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool parse_uuid(const char *s, size_t n, uint8_t out[16])
{
    if (n != 36)
        return false;
    int k = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int a = hexval((unsigned char)s[i]), b = i + 1 < 36 ? hexval((unsigned char)s[i + 1]) : -1;
        if (a < 0 || b < 0)
            return false;
        out[k++] = (uint8_t)(a * 16 + b);
        i++;
    }
    return k == 16;
}

static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* YYYY-MM-DDTHH:MM:SS of local microseconds; returns the end. Years 0..9999. */
static char *put_datetime(char *p, int64_t local, int64_t *us)
{
    int64_t days = floordiv(local, 86400000000LL);
    int64_t rem = local - days * 86400000000LL;
    int y, m, d;
    dm_civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / 1000000;
    *us = rem % 1000000;
    p = put2(p, y / 100);
    p = put2(p, y % 100);
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, (int)(secs / 3600));
    *p++ = ':';
    p = put2(p, (int)(secs / 60 % 60));
    *p++ = ':';
    return put2(p, (int)(secs % 60));
}

/* PostgreSQL's JSON text of a timestamptz: local time, fraction without trailing zeros, offset
 * +HH:MM (or +HH:MM:SS). out holds at least 40 bytes. */
static size_t format_pg_time(int64_t utc_us, int32_t off, char *out)
{
    int64_t us;
    char *p = put_datetime(out, utc_us + (int64_t)off * 1000000, &us);
    if (us) {
        *p++ = '.';
        int64_t div = 100000;
        while (us) {
            *p++ = (char)('0' + us / div);
            us %= div;
            div /= 10;
        }
    }
    int32_t a = off < 0 ? -off : off;
    *p++ = off < 0 ? '-' : '+';
    p = put2(p, a / 3600);
    *p++ = ':';
    p = put2(p, a / 60 % 60);
    if (a % 60) {
        *p++ = ':';
        p = put2(p, a % 60);
    }
    *p = '\0';
    return (size_t)(p - out);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Format v (10^-scale units) as PostgreSQL prints numeric(p, scale): "-12.30". Returns the
 * length; out holds at least 32 bytes. */
static size_t fmt_fixed(int64_t v, int scale, char *out)
{
    char tmp[32];
    size_t n = 0;
    bool neg = v < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    for (int i = 0; i < scale; i++) {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    }
    if (scale > 0)
        tmp[n++] = '.';
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg)
        tmp[n++] = '-';
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

/* Parse text exactly as fmt_fixed prints it (so it renders back identically). */

void dm_stone_free(struct dm_stone *s)
{
    free(s);
}

int64_t dm_stone_change_seq(const struct dm_stone *s)
{
    return s->seq;
}

/* ---- binary column values (PostgreSQL's send formats) ---- */

static uint64_t rd_be(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

static bool bin_i64(const char *v, size_t l, int64_t *out)
{
    if (v == NULL || l != 8)
        return false;
    *out = (int64_t)rd_be(v, 8);
    return true;
}

/* numeric's binary form (ndigits, weight, sign, dscale, base-10000 digits) at exactly `scale`
 * decimals, into 10^-scale units. */
static bool bin_numeric(const char *v, size_t l, int scale, int64_t *out)
{
    if (v == NULL || l < 8)
        return false;
    int nd = (int16_t)rd_be(v, 2), weight = (int16_t)rd_be(v + 2, 2);
    unsigned sign = (unsigned)rd_be(v + 4, 2);
    int dscale = (int16_t)rd_be(v + 6, 2);
    if (nd < 0 || l != 8 + (size_t)nd * 2 || dscale != scale || (sign != 0 && sign != 0x4000))
        return false;
    /* value = sum d[i] * 10000^(weight - i); units = value * 10^scale */
    __int128 acc = 0;
    for (int i = 0; i < nd; i++) {
        int d = (int16_t)rd_be(v + 8 + (size_t)i * 2, 2);
        if (d < 0 || d > 9999)
            return false;
        int exp4 = weight - i; /* power of 10000 */
        int e10 = exp4 * 4 + scale;
        __int128 t = d;
        if (e10 >= 0) {
            if (e10 > 30)
                return false;
            for (int k = 0; k < e10; k++)
                t *= 10;
        } else {
            for (int k = 0; k < -e10; k++) {
                if (t % 10)
                    return false; /* more decimals than the scale: not representable */
                t /= 10;
            }
        }
        acc += t;
        if (acc > INT64_MAX / 2)
            return false;
    }
    *out = sign ? -(int64_t)acc : (int64_t)acc;
    return true;
}

/* Compact JSON text and drop object members whose value is null, recursively: what
 * json_strip_nulls makes of jsonb's text output (strings and numbers are copied as they are;
 * jsonb already escapes strings as json output does). Returns false on malformed input. */
struct jc {
    const char *p, *end;
    char *o;
    int depth;
};
static void jc_ws(struct jc *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}
static bool jc_value(struct jc *c);
static bool jc_string(struct jc *c)
{
    const char *s = c->p++;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\')
            c->p++;
        c->p++;
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    memcpy(c->o, s, (size_t)(c->p - s));
    c->o += c->p - s;
    return true;
}
static bool jc_value(struct jc *c)
{
    jc_ws(c);
    if (c->p >= c->end || ++c->depth > 200)
        return false;
    bool ok = true;
    if (*c->p == '"') {
        ok = jc_string(c);
    } else if (*c->p == '{' || *c->p == '[') {
        char close = *c->p == '{' ? '}' : ']';
        bool obj = close == '}';
        *c->o++ = *c->p++;
        bool first = true;
        jc_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
        } else {
            for (;;) {
                char *mark = c->o;
                if (!first)
                    *c->o++ = ',';
                if (obj) {
                    jc_ws(c);
                    if (c->p >= c->end || *c->p != '"' || !jc_string(c))
                        return false;
                    jc_ws(c);
                    if (c->p >= c->end || *c->p != ':')
                        return false;
                    c->p++;
                    *c->o++ = ':';
                    jc_ws(c);
                    if (c->end - c->p >= 4 && !memcmp(c->p, "null", 4)) {
                        c->p += 4;
                        c->o = mark; /* member dropped */
                    } else {
                        if (!jc_value(c))
                            return false;
                        first = false;
                    }
                } else {
                    if (!jc_value(c))
                        return false;
                    first = false;
                }
                jc_ws(c);
                if (c->p < c->end && *c->p == ',') {
                    c->p++;
                    continue;
                }
                if (c->p < c->end && *c->p == close) {
                    c->p++;
                    break;
                }
                return false;
            }
        }
        *c->o++ = close;
    } else {
        const char *s = c->p;
        while (c->p < c->end && !strchr(",]} \n\t\r", *c->p))
            c->p++;
        memcpy(c->o, s, (size_t)(c->p - s));
        c->o += c->p - s;
        ok = c->p > s;
    }
    c->depth--;
    return ok;
}

/* jsonb's binary form (version 1, then its text) to json_strip_nulls' text, malloc'd; *n its
 * length; NULL for a JSON null. *bad on malformed input. */
static char *bin_jsonb(const char *v, size_t l, size_t *n, bool *bad)
{
    *bad = false;
    if (v == NULL)
        return NULL;
    if (l < 1 || v[0] != 1) {
        *bad = true;
        return NULL;
    }
    struct jc c = {v + 1, v + l, NULL, 0};
    char *out = dm_xmalloc(l + 1);
    c.o = out;
    if (!jc_value(&c)) {
        free(out);
        *bad = true;
        return NULL;
    }
    jc_ws(&c);
    *n = (size_t)(c.o - out);
    if (c.p != c.end || (*n == 4 && !memcmp(out, "null", 4))) {
        *bad = c.p != c.end;
        free(out);
        return NULL;
    }
    return out;
}

#define PG_EPOCH_US 946684800000000LL /* 2000-01-01 in Unix microseconds */

/* Parse one row of binary columns. Dictionaries are the index's, so this is writer side. */
static enum dm_err stone_parse(struct dm_search_index *ix, const char *const *v, const size_t *l,
                               struct dm_stone **out, bool *deleted, struct dm_error *err)
{
    static const int var_col[V_COUNT] = {
        DM_SC_SUPPLIER_STONE_ID,   DM_SC_OFFER_ID,     DM_SC_HOLD_ID,
        DM_SC_IMAGE_URL,           DM_SC_VIDEO_URL,    DM_SC_CERTIFICATE_NUMBER,
        DM_SC_CERTIFICATE_PDF_URL, DM_SC_MEASUREMENTS, DM_SC_ATTRIBUTES};
    static const int dict_col[X_COUNT] = {DM_SC_FEED,
                                          DM_SC_SHAPE,
                                          DM_SC_COLOR,
                                          DM_SC_CLARITY,
                                          DM_SC_CUT,
                                          DM_SC_POLISH,
                                          DM_SC_SYMMETRY,
                                          DM_SC_FLUORESCENCE,
                                          DM_SC_AVAILABILITY,
                                          DM_SC_CERTIFICATE_LAB,
                                          DM_SC_RAW_AVAILABILITY,
                                          DM_SC_SUPPLIER_NAME,
                                          DM_SC_SUPPLIER_LEGAL_NAME,
                                          DM_SC_PRICING_RULE_ID};
    *out = NULL;
    *deleted = false;
    const char *bad = NULL;
    const char *var[V_COUNT];
    size_t vlen[V_COUNT];
    char *json[2] = {NULL, NULL};
    size_t total = 0;
    struct dm_stone *s = NULL;
    uint8_t id[16];
    int64_t seq = 0;
    if (!v[DM_SC_ID] || l[DM_SC_ID] != 16)
        bad = "id";
    else
        memcpy(id, v[DM_SC_ID], 16);
    if (!bad && !bin_i64(v[DM_SC_CHANGE_SEQ], l[DM_SC_CHANGE_SEQ], &seq))
        bad = "change_seq";
    if (!bad && (!v[DM_SC_STATUS] || l[DM_SC_STATUS] != 1))
        bad = "status";
    if (!bad && v[DM_SC_STATUS][0] == 0) {
        /* Not active: only the id and sequence matter (a removal). */
        *deleted = true;
        s = dm_xcalloc(1, sizeof(*s));
        memcpy(s->id, id, 16);
        s->seq = seq;
        for (int i = 0; i < V_COUNT; i++)
            s->vlen[i] = UINT32_MAX;
        *out = s;
        return DM_OK;
    }
    for (int i = 0; !bad && i < V_COUNT; i++) {
        var[i] = v[var_col[i]];
        vlen[i] = l[var_col[i]];
        if (i == V_MEASUREMENTS || i == V_ATTRIBUTES) {
            bool jb;
            json[i - V_MEASUREMENTS] = bin_jsonb(var[i], vlen[i], &vlen[i], &jb);
            var[i] = json[i - V_MEASUREMENTS];
            if (jb)
                bad = i == V_MEASUREMENTS ? "measurements" : "attributes";
        }
        if (var[i] && vlen[i] >= UINT32_MAX)
            bad = "a text column (too long)";
        if (var[i])
            total += vlen[i];
    }
    if (!bad)
        s = dm_xcalloc(1, sizeof(*s) + total);
    if (!bad && v[DM_SC_LISTING_ID] && l[DM_SC_LISTING_ID] != 16)
        bad = "listing_id";
    if (!bad) {
        memcpy(s->id, id, 16);
        memcpy(s->listing_id, v[DM_SC_LISTING_ID] ? (const uint8_t *)v[DM_SC_LISTING_ID] : id, 16);
        s->seq = seq;
    }
    int64_t x = 0;
    if (!bad &&
        (!bin_numeric(v[DM_SC_CARATS], l[DM_SC_CARATS], 2, &x) || x > INT32_MAX || x < INT32_MIN))
        bad = "carats";
    if (!bad)
        s->carats = (int32_t)x;
    if (!bad && !bin_numeric(v[DM_SC_FEED_PRICE], l[DM_SC_FEED_PRICE], 2, &s->feed_price))
        bad = "feed_price";
    if (!bad && !bin_numeric(v[DM_SC_PRICE_PER_CARAT], l[DM_SC_PRICE_PER_CARAT], 2, &s->ppc))
        bad = "price_per_carat";
    if (!bad && !bin_numeric(v[DM_SC_RETAIL_PRICE], l[DM_SC_RETAIL_PRICE], 2, &s->retail))
        bad = "retail_price";
    if (!bad && (!bin_numeric(v[DM_SC_MARKUP_RATIO], l[DM_SC_MARKUP_RATIO], 4, &x) ||
                 x > INT32_MAX || x < INT32_MIN))
        bad = "markup_ratio";
    if (!bad)
        s->markup = (int32_t)x;
    if (!bad) {
        s->rating = -1;
        if (v[DM_SC_RATING] && l[DM_SC_RATING] != 2)
            bad = "rating";
        else if (v[DM_SC_RATING])
            s->rating = (int16_t)rd_be(v[DM_SC_RATING], 2);
        if (s->rating < -1)
            bad = "rating";
    }
    if (!bad && (!v[DM_SC_LAB_GROWN] || !v[DM_SC_TREATED] || l[DM_SC_LAB_GROWN] != 1 ||
                 l[DM_SC_TREATED] != 1))
        bad = "lab_grown";
    if (!bad) {
        s->lab_grown = v[DM_SC_LAB_GROWN][0] != 0;
        s->treated = v[DM_SC_TREATED][0] != 0;
    }
    int64_t t;
    if (!bad && (!bin_i64(v[DM_SC_CREATED_AT], l[DM_SC_CREATED_AT], &t) || !v[DM_SC_CREATED_OFF] ||
                 l[DM_SC_CREATED_OFF] != 4))
        bad = "created_at";
    if (!bad) {
        s->created_us = t + PG_EPOCH_US;
        s->created_off = (int32_t)rd_be(v[DM_SC_CREATED_OFF], 4);
    }
    if (!bad && (!bin_i64(v[DM_SC_UPDATED_AT], l[DM_SC_UPDATED_AT], &t) || !v[DM_SC_UPDATED_OFF] ||
                 l[DM_SC_UPDATED_OFF] != 4))
        bad = "updated_at";
    if (!bad) {
        s->updated_us = t + PG_EPOCH_US;
        s->updated_off = (int32_t)rd_be(v[DM_SC_UPDATED_OFF], 4);
        /* Years PostgreSQL prints with four digits only (render is exact there). */
        int64_t lo = dm_days_from_civil(1, 1, 2) * 86400000000LL,
                hi = dm_days_from_civil(9999, 12, 30) * 86400000000LL;
        if (s->created_us < lo || s->created_us > hi || s->updated_us < lo || s->updated_us > hi)
            bad = "created_at or updated_at (outside years 1-9999)";
    }
    for (int i = 0; !bad && i < X_COUNT; i++) {
        const char *tx = v[dict_col[i]];
        size_t tl = l[dict_col[i]];
        char uuid[DM_UUID_LEN];
        if (tx == NULL)
            continue;
        if (i == X_PRICING_RULE) {
            if (tl != 16) {
                bad = "pricing_rule_id";
                break;
            }
            dm_uuid_format((const uint8_t *)tx, uuid);
            tx = uuid;
            tl = 36;
        }
        uint32_t before = ix->dict[i].n;
        s->x[i] = dict_intern(&ix->dict[i], i, tx, tl);
        if (s->x[i] == 0)
            bad = "a column with too many distinct values";
        else if (ix->dict[i].n != before && upper_dict(i) && ix->upper_fn) {
            if (ix->npending == ix->cappending) {
                ix->cappending = ix->cappending ? ix->cappending * 2 : 64;
                ix->pending = dm_xrealloc(ix->pending, ix->cappending * sizeof(*ix->pending));
            }
            ix->pending[ix->npending].dict = (uint8_t)i;
            ix->pending[ix->npending].id = s->x[i];
            ix->npending++;
        }
    }
    if (!bad && (!s->x[X_SHAPE] || !s->x[X_COLOR] || !s->x[X_CLARITY] || !s->x[X_AVAILABILITY] ||
                 !s->x[X_FEED]))
        bad = "a required column";
    if (!bad) {
        size_t pos = 0;
        for (int i = 0; i < V_COUNT; i++) {
            if (var[i] == NULL) {
                s->vlen[i] = UINT32_MAX;
                continue;
            }
            memcpy(s->var + pos, var[i], vlen[i]);
            s->vlen[i] = (uint32_t)vlen[i];
            pos += vlen[i];
        }
    }
    free(json[0]);
    free(json[1]);
    if (bad) {
        free(s);
        return dm_error_set(err, DM_ERR_INVALID, "diamond row: unreadable %s", bad);
    }
    *out = s;
    return DM_OK;
}

static const char *var_at(const struct dm_stone *s, int i, size_t *len)
{
    *len = 0;
    if (s->vlen[i] == UINT32_MAX)
        return NULL;
    size_t pos = 0;
    for (int k = 0; k < i; k++)
        if (s->vlen[k] != UINT32_MAX)
            pos += s->vlen[k];
    *len = s->vlen[i];
    return s->var + pos;
}

static size_t stone_bytes(const struct dm_stone *s)
{
    size_t n = sizeof(*s);
    for (int i = 0; i < V_COUNT; i++)
        if (s->vlen[i] != UINT32_MAX)
            n += s->vlen[i];
    return n;
}

/* ---- rendering (PostgreSQL's json output, compacted by json_strip_nulls) ---- */

static enum dm_err esc(struct dm_buf *b, const char *s, size_t n)
{
    enum dm_err e = dm_buf_append_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; e == DM_OK && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char u[8];
        switch (c) {
        case '\b':
            rep = "\\b";
            break;
        case '\f':
            rep = "\\f";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        case '\t':
            rep = "\\t";
            break;
        case '"':
            rep = "\\\"";
            break;
        case '\\':
            rep = "\\\\";
            break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof(u), "\\u%04x", c);
                rep = u;
            }
        }
        if (rep == NULL) {
            run++;
            continue;
        }
        if (run)
            e = dm_buf_append(b, s + i - run, run);
        run = 0;
        if (e == DM_OK)
            e = dm_buf_append_str(b, rep);
    }
    if (e == DM_OK && run)
        e = dm_buf_append(b, s + n - run, run);
    if (e == DM_OK)
        e = dm_buf_append_char(b, '"');
    return e;
}

struct rend {
    struct dm_buf *b;
    enum dm_err e;
    bool first;
};

static void key(struct rend *r, const char *k)
{
    char t[64];
    size_t n = 0, kl = strlen(k);
    if (kl > sizeof(t) - 4) { /* the keys are short literals: never taken */
        if (r->e == DM_OK)
            r->e = dm_buf_appendf(r->b, "%s\"%s\":", r->first ? "" : ",", k);
        r->first = false;
        return;
    }
    if (!r->first)
        t[n++] = ',';
    t[n++] = '"';
    /* t is a byte run appended with its length n, never used as a C string. */
    memcpy(t + n, k, kl); /* NOLINT(bugprone-not-null-terminated-result) */
    n += kl;
    t[n++] = '"';
    t[n++] = ':';
    if (r->e == DM_OK)
        r->e = dm_buf_append(r->b, t, n);
    r->first = false;
}

static void kstr(struct rend *r, const char *k, const char *s, size_t n)
{
    if (s == NULL)
        return;
    key(r, k);
    if (r->e == DM_OK)
        r->e = esc(r->b, s, n);
}

static void kdict(struct rend *r, const struct dm_search_index *ix, const char *k, int d,
                  const struct dm_stone *s)
{
    if (s->x[d])
        kstr(r, k, ix->dict[d].text[s->x[d]], strlen(ix->dict[d].text[s->x[d]]));
}

static void kvar(struct rend *r, const char *k, int i, const struct dm_stone *s)
{
    size_t n;
    const char *t = var_at(s, i, &n);
    kstr(r, k, t, n);
}

static void kraw(struct rend *r, const char *k, const char *text, size_t n)
{
    key(r, k);
    if (r->e == DM_OK)
        r->e = dm_buf_append(r->b, text, n);
}

static void kfixed(struct rend *r, const char *k, int64_t v, int scale)
{
    char t[48];
    kraw(r, k, t, fmt_fixed(v, scale, t));
}

static void ktime(struct rend *r, const char *k, int64_t us, int32_t off)
{
    char t[64];
    t[0] = '"';
    size_t n = format_pg_time(us, off, t + 1);
    t[n + 1] = '"';
    kraw(r, k, t, n + 2);
}

static const struct dm_search_index *view_ix(const struct dm_search_index_view *v);

enum dm_err dm_stone_render(const struct dm_search_index_view *v, const struct dm_stone *s,
                            struct dm_buf *out)
{
    const struct dm_search_index *ix = view_ix(v);
    struct rend r = {out, dm_buf_append_char(out, '{'), true};
    char id[DM_UUID_LEN];
    dm_uuid_format(s->listing_id, id);
    kstr(&r, "id", id, 36);
    kdict(&r, ix, "feed", X_FEED, s);
    kvar(&r, "supplierStoneId", V_SUPPLIER_STONE_ID, s);
    kvar(&r, "offerId", V_OFFER_ID, s);
    kdict(&r, ix, "shape", X_SHAPE, s);
    kfixed(&r, "carats", s->carats, 2);
    kdict(&r, ix, "color", X_COLOR, s);
    kdict(&r, ix, "clarity", X_CLARITY, s);
    kdict(&r, ix, "cut", X_CUT, s);
    kdict(&r, ix, "polish", X_POLISH, s);
    kdict(&r, ix, "symmetry", X_SYMMETRY, s);
    kdict(&r, ix, "fluorescence", X_FLUORESCENCE, s);
    kraw(&r, "labGrown", s->lab_grown ? "true" : "false", s->lab_grown ? 4 : 5);
    kraw(&r, "treated", s->treated ? "true" : "false", s->treated ? 4 : 5);
    kfixed(&r, "feedPrice", s->feed_price, 2);
    kfixed(&r, "priceModelPrice", s->feed_price, 2);
    kfixed(&r, "pricePerCarat", s->ppc, 2);
    kfixed(&r, "retailPrice", s->retail, 2);
    kfixed(&r, "markupRatio", s->markup, 4);
    if (s->rating >= 0)
        kfixed(&r, "rating", s->rating, 0);
    kdict(&r, ix, "pricingRuleId", X_PRICING_RULE, s);
    kdict(&r, ix, "availability", X_AVAILABILITY, s);
    kdict(&r, ix, "rawAvailability", X_RAW_AVAILABILITY, s);
    kvar(&r, "holdId", V_HOLD_ID, s);
    kvar(&r, "imageUrl", V_IMAGE_URL, s);
    kvar(&r, "videoUrl", V_VIDEO_URL, s);
    kdict(&r, ix, "certificateLab", X_CERT_LAB, s);
    kvar(&r, "certificateNumber", V_CERT_NUMBER, s);
    kvar(&r, "certificatePdfUrl", V_CERT_PDF_URL, s);
    size_t n;
    const char *t = var_at(s, V_MEASUREMENTS, &n);
    if (t)
        kraw(&r, "measurements", t, n);
    t = var_at(s, V_ATTRIBUTES, &n);
    if (t)
        kraw(&r, "attributes", t, n);
    kdict(&r, ix, "supplierName", X_SUPPLIER_NAME, s);
    kdict(&r, ix, "supplierLegalName", X_SUPPLIER_LEGAL_NAME, s);
    kraw(&r, "status", "\"active\"", 8);
    ktime(&r, "createdAt", s->created_us, s->created_off);
    ktime(&r, "updatedAt", s->updated_us, s->updated_off);
    if (r.e == DM_OK)
        r.e = dm_buf_append_char(out, '}');
    return r.e;
}

/* ---- bitmaps ---- */

static inline void bit_set(uint64_t *b, uint32_t i)
{
    b[i >> 6] |= 1ULL << (i & 63);
}
static inline void bit_clear(uint64_t *b, uint32_t i)
{
    b[i >> 6] &= ~(1ULL << (i & 63));
}
static inline bool bit_get(const uint64_t *b, uint32_t i)
{
    return (b[i >> 6] >> (i & 63)) & 1;
}

__attribute__((target("popcnt"))) static uint64_t and_count_hw(const uint64_t *a, const uint64_t *b,
                                                               uint32_t n)
{
    uint64_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += (uint64_t)__builtin_popcountll(a[i] & b[i]);
    return c;
}
static uint64_t and_count_sw(const uint64_t *a, const uint64_t *b, uint32_t n)
{
    uint64_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += (uint64_t)__builtin_popcountll(a[i] & b[i]);
    return c;
}
static uint64_t and_count(const uint64_t *a, const uint64_t *b, uint32_t n)
{
    static int hw = -1;
    if (hw < 0) {
        __builtin_cpu_init();
        hw = __builtin_cpu_supports("popcnt") ? 1 : 0;
    }
    return hw ? and_count_hw(a, b, n) : and_count_sw(a, b, n);
}

/* ---- sort keys (in cursor units: time µs, money cents*100, carats hundredths*100, rank) ---- */

static int64_t sort_key(const struct dm_search_index *ix, const struct dm_stone *s, int sort)
{
    switch (sort) {
    case DM_SQ_SORT_CREATED_AT:
        return s->created_us;
    case DM_SQ_SORT_RETAIL_PRICE:
        return s->retail * 100;
    case DM_SQ_SORT_FEED_PRICE:
        return s->feed_price * 100;
    case DM_SQ_SORT_CARATS:
        return (int64_t)s->carats * 100;
    case DM_SQ_SORT_COLOR:
        return ix->dict[X_COLOR].rank[s->x[X_COLOR]];
    case DM_SQ_SORT_CLARITY:
        return ix->dict[X_CLARITY].rank[s->x[X_CLARITY]];
    }
    return 0;
}

static int cmp_text(const struct dm_stone *a, const struct dm_stone *b, int var)
{
    size_t la, lb;
    const char *ta = var_at(a, var, &la), *tb = var_at(b, var, &lb);
    int c = la && lb ? memcmp(ta, tb, la < lb ? la : lb) : 0;
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

/* Total order of an order array: key then id (or the text, then id, for lookups). */
static int order_cmp(const struct dm_search_index *ix, int o, const struct dm_stone *a,
                     const struct dm_stone *b)
{
    if (o < DM_SQ_SORT_COUNT) {
        int64_t ka = sort_key(ix, a, o), kb = sort_key(ix, b, o);
        if (ka != kb)
            return ka < kb ? -1 : 1;
    } else if (o == O_BY_CERT || o == O_BY_SSID) {
        int c = cmp_text(a, b, o == O_BY_CERT ? V_CERT_NUMBER : V_SUPPLIER_STONE_ID);
        if (c)
            return c;
    }
    return memcmp(a->id, b->id, 16);
}

static bool in_order(const struct dm_stone *s, int o)
{
    if (o == O_BY_CERT)
        return s->vlen[V_CERT_NUMBER] != UINT32_MAX;
    if (o == O_BY_SSID)
        return s->vlen[V_SUPPLIER_STONE_ID] != UINT32_MAX;
    return true;
}

struct sort_ctx {
    const struct dm_search_index *ix;
    struct dm_stone **slot;
    int o;
};
/* Sort entry with the key precomputed: comparisons stay in the array, not in the records.
 * Text orders (lookups) put the text's first 8 bytes in key and compare the rest on ties. */
struct keyed {
    int64_t key;
    uint64_t id8; /* first 8 bytes of the id, big-endian: memcmp order */
    uint32_t slot;
};

static uint64_t be8(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < n ? p[i] : 0);
    return v;
}

static inline bool kless(const struct keyed *a, const struct keyed *b, const struct sort_ctx *c)
{
    if (a->key != b->key)
        return c->o >= O_BY_CERT ? (uint64_t)a->key < (uint64_t)b->key : a->key < b->key;
    if (c->o >= O_BY_CERT || a->id8 == b->id8)
        return order_cmp(c->ix, c->o, c->slot[a->slot], c->slot[b->slot]) < 0;
    return a->id8 < b->id8;
}

static void kswap(struct keyed *a, struct keyed *b)
{
    struct keyed t = *a;
    *a = *b;
    *b = t;
}

/* Quicksort (median of three, insertion sort below 16, recursion on the smaller side). */
static void ksort(struct keyed *a, size_t n, const struct sort_ctx *c)
{
    while (n > 16) {
        size_t m = n / 2;
        if (kless(&a[m], &a[0], c))
            kswap(&a[m], &a[0]);
        if (kless(&a[n - 1], &a[0], c))
            kswap(&a[n - 1], &a[0]);
        if (kless(&a[n - 1], &a[m], c))
            kswap(&a[n - 1], &a[m]);
        struct keyed pivot = a[m];
        size_t i = 0, j = n - 1;
        for (;;) {
            while (kless(&a[i], &pivot, c))
                i++;
            while (kless(&pivot, &a[j], c))
                j--;
            if (i >= j)
                break;
            kswap(&a[i], &a[j]);
            i++;
            j--;
        }
        size_t left = j + 1;
        if (left < n - left) {
            ksort(a, left, c);
            a += left;
            n -= left;
        } else {
            ksort(a + left, n - left, c);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        struct keyed x = a[i];
        size_t j = i;
        while (j > 0 && kless(&x, &a[j - 1], c)) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

static void sort_slots(struct sort_ctx *c, uint32_t *a, size_t n)
{
    struct keyed *k = dm_xmalloc((n + 1) * sizeof(*k));
    for (size_t i = 0; i < n; i++) {
        const struct dm_stone *st = c->slot[a[i]];
        if (c->o == O_BY_CERT || c->o == O_BY_SSID) {
            size_t len;
            const char *t =
                var_at(st, c->o == O_BY_CERT ? V_CERT_NUMBER : V_SUPPLIER_STONE_ID, &len);
            k[i].key = (int64_t)be8((const uint8_t *)t, len);
        } else {
            k[i].key = c->o < DM_SQ_SORT_COUNT ? sort_key(c->ix, st, c->o) : 0;
        }
        k[i].id8 = be8(st->id, 16);
        k[i].slot = a[i];
    }
    ksort(k, n, c);
    for (size_t i = 0; i < n; i++)
        a[i] = k[i].slot;
    free(k);
}

/* ---- arrays shared between versions until one changes them (refcounted) ----
 * Orders, bitmaps and range values: a version copies the previous one's pointers and takes a
 * reference; the first write to an array in a version makes it that version's own copy. */

struct shared_hdr {
    atomic_int refs;
    uint32_t pad;
};

static void *shared_alloc(size_t bytes)
{
    struct shared_hdr *h = dm_xcalloc(1, sizeof(*h) + bytes);
    atomic_init(&h->refs, 1);
    return h + 1;
}

static void *shared_ref(void *a)
{
    if (a)
        atomic_fetch_add(&((struct shared_hdr *)a - 1)->refs, 1);
    return a;
}

static void shared_free(void *a)
{
    if (a == NULL)
        return;
    struct shared_hdr *h = (struct shared_hdr *)a - 1;
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        free(h);
}

static uint32_t *order_alloc(size_t n)
{
    return shared_alloc(n * sizeof(uint32_t));
}

static uint64_t *words_alloc(uint32_t n)
{
    return shared_alloc((size_t)n * 8);
}

/* ---- versions ---- */

struct dm_search_index *dm_search_index_new(void)
{
    struct dm_search_index *ix = dm_xcalloc(1, sizeof(*ix));
    pthread_mutex_init(&ix->mu, NULL);
    for (int i = 0; i < X_COUNT; i++)
        dict_init(&ix->dict[i]);
    return ix;
}

static void version_free(struct version *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->ngarbage; i++)
        free(v->garbage[i]);
    free(v->garbage);
    free(v->slot);
    shared_free(v->livebm);
    for (int o = 0; o < O_COUNT; o++)
        shared_free(v->order[o]);
    for (int d = 0; d < D_COUNT; d++) {
        for (uint32_t k = 0; k < v->nvals[d]; k++)
            shared_free(v->bm[d][k]);
        free(v->bm[d]);
    }
    for (int r = 0; r < R_COUNT; r++) {
        for (int b = 0; b < NBINS; b++)
            shared_free(v->cum[r][b]);
        shared_free(v->rv[r]);
    }
    free(v);
}

/* Under ix->mu: free retired versions from the oldest while nobody pins them. */
static void reclaim(struct dm_search_index *ix)
{
    while (ix->retired_head && ix->retired_head->refs == 0) {
        struct version *v = ix->retired_head;
        ix->retired_head = v->next;
        if (ix->retired_head == NULL)
            ix->retired_tail = NULL;
        version_free(v);
    }
}

void dm_search_index_free(struct dm_search_index *ix)
{
    if (ix == NULL)
        return;
    struct version *cur = ix->cur;
    if (cur) {
        /* The current version owns every live record. */
        for (uint32_t i = 0; i < cur->nslots; i++)
            free(cur->slot[i]);
    }
    while (ix->retired_head) {
        struct version *v = ix->retired_head;
        ix->retired_head = v->next;
        version_free(v);
    }
    version_free(cur);
    for (int i = 0; i < X_COUNT; i++)
        dict_free(&ix->dict[i]);
    free(ix->map.slot);
    free(ix->free_slots);
    free(ix->pending);
    pthread_mutex_destroy(&ix->mu);
    free(ix);
}

struct dm_search_index_view *dm_search_index_acquire(struct dm_search_index *ix)
{
    pthread_mutex_lock(&ix->mu);
    struct version *v = ix->cur;
    if (v)
        v->refs++;
    pthread_mutex_unlock(&ix->mu);
    return (struct dm_search_index_view *)v;
}

void dm_search_index_release(struct dm_search_index_view *view)
{
    struct version *v = (struct version *)view;
    if (v == NULL)
        return;
    struct dm_search_index *ix = v->ix;
    pthread_mutex_lock(&ix->mu);
    v->refs--;
    if (v->refs == 0)
        reclaim(ix);
    pthread_mutex_unlock(&ix->mu);
}

static const struct dm_search_index *view_ix(const struct dm_search_index_view *view)
{
    return ((const struct version *)view)->ix;
}

void dm_search_index_set_upper(struct dm_search_index *ix, dm_search_upper_fn fn, void *ctx)
{
    ix->upper_fn = fn;
    ix->upper_ctx = ctx;
}

/* Ask the database for the upper case of the values first seen since the last call. Entries
 * are changed before any version that uses them is published. */
static enum dm_err settle_upper(struct dm_search_index *ix, struct dm_error *err)
{
    if (ix->upper_fn == NULL || ix->npending == 0)
        return DM_OK;
    size_t n = ix->npending;
    const char **in = dm_xmalloc(n * sizeof(*in));
    char **out = dm_xcalloc(n, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        in[i] = ix->dict[ix->pending[i].dict].text[ix->pending[i].id];
    enum dm_err e = ix->upper_fn(ix->upper_ctx, in, n, out, err);
    for (size_t i = 0; i < n; i++) {
        if (e == DM_OK && out[i]) {
            struct dict *d = &ix->dict[ix->pending[i].dict];
            uint16_t id = ix->pending[i].id;
            free(d->upper[id]);
            d->upper[id] = out[i];
            d->rank[id] = rank_of(ix->pending[i].dict, out[i]);
        } else {
            free(out[i]);
        }
    }
    if (e == DM_OK)
        ix->npending = 0;
    free(in);
    free(out);
    return e;
}

void dm_search_index_mark(struct dm_search_index *ix, int64_t seq)
{
    pthread_mutex_lock(&ix->mu);
    if (seq > ix->last_seq)
        ix->last_seq = seq;
    pthread_mutex_unlock(&ix->mu);
}

static void publish(struct dm_search_index *ix, struct version *nv, struct dm_stone **garbage,
                    size_t ngarbage)
{
    nv->refs = 1;
    pthread_mutex_lock(&ix->mu);
    if (nv->last_seq > ix->last_seq) /* sequences never go back, reloads included */
        ix->last_seq = nv->last_seq;
    struct version *old = ix->cur;
    ix->cur = nv;
    ix->versions++;
    ix->published_ms = dm_mono_ms();
    if (old) {
        old->garbage = garbage;
        old->ngarbage = ngarbage;
        old->next = NULL;
        if (ix->retired_tail)
            ix->retired_tail->next = old;
        else
            ix->retired_head = old;
        ix->retired_tail = old;
        old->refs--;
        reclaim(ix);
    } else {
        for (size_t i = 0; i < ngarbage; i++)
            free(garbage[i]);
        free(garbage);
    }
    pthread_mutex_unlock(&ix->mu);
}

void dm_search_index_stats(struct dm_search_index *ix, struct dm_search_index_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&ix->mu);
    struct version *v = ix->cur;
    if (v) {
        out->loaded = true;
        out->rows = v->live;
        out->last_seq = ix->last_seq;
        int64_t bytes = ix->rec_bytes;
        bytes += (int64_t)v->capwords * 64 * (int64_t)sizeof(void *);
        bytes += (int64_t)v->capwords * 8 * (1 + 2 * NBINS);
        for (int d = 0; d < D_COUNT; d++)
            for (uint32_t k = 0; k < v->nvals[d]; k++)
                bytes += v->bm[d][k] ? (int64_t)v->capwords * 8 : 0;
        for (int o = 0; o < O_COUNT; o++)
            bytes += (int64_t)v->norder[o] * 4;
        out->bytes = bytes;
    }
    out->versions = ix->versions;
    for (struct version *r = ix->retired_head; r; r = r->next)
        out->pinned++;
    out->published_ms = ix->published_ms;
    pthread_mutex_unlock(&ix->mu);
}

/* ---- id map (writer) ---- */

/* Ids are random UUIDs: eight of their bytes, mixed once, hash well enough. */
static uint32_t id_hash(const uint8_t id[16])
{
    uint64_t v;
    memcpy(&v, id + 8, 8);
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    return (uint32_t)(v ^ (v >> 32));
}

static uint32_t idmap_find(const struct idmap *m, struct dm_stone **slot, const uint8_t id[16],
                           uint32_t *pos)
{
    if (m->cap == 0)
        return UINT32_MAX;
    uint32_t k = id_hash(id) & (m->cap - 1);
    for (;;) {
        uint32_t e = m->slot[k];
        if (e == 0) {
            *pos = k;
            return UINT32_MAX;
        }
        if (e != UINT32_MAX && !memcmp(slot[e - 1]->id, id, 16)) {
            *pos = k;
            return e - 1;
        }
        k = (k + 1) & (m->cap - 1);
    }
}

static void idmap_rehash(struct idmap *m, struct dm_stone **slot, uint32_t ncap)
{
    uint32_t *old = m->slot, ocap = m->cap;
    m->slot = dm_xcalloc(ncap, sizeof(uint32_t));
    m->cap = ncap;
    m->tomb = 0;
    for (uint32_t i = 0; i < ocap; i++) {
        if (old[i] == 0 || old[i] == UINT32_MAX)
            continue;
        uint32_t k = id_hash(slot[old[i] - 1]->id) & (ncap - 1);
        while (m->slot[k])
            k = (k + 1) & (ncap - 1);
        m->slot[k] = old[i];
    }
    free(old);
}

static void idmap_put(struct idmap *m, struct dm_stone **slot, uint32_t s)
{
    if ((m->n + m->tomb + 1) * 2 > m->cap)
        idmap_rehash(m, slot, m->cap ? (m->n * 4 > m->cap ? m->cap * 2 : m->cap) : 1024);
    uint32_t k = id_hash(slot[s]->id) & (m->cap - 1);
    while (m->slot[k] && m->slot[k] != UINT32_MAX)
        k = (k + 1) & (m->cap - 1);
    if (m->slot[k] == UINT32_MAX)
        m->tomb--;
    m->slot[k] = s + 1;
    m->n++;
}

/* ---- building versions ---- */

static int dim_value(const struct dm_stone *s, int d)
{
    if (d == D_LAB_GROWN)
        return s->lab_grown ? 2 : 1;
    return s->x[dims[d].dict];
}

static int64_t range_value(const struct dm_stone *s, int r)
{
    return r == R_CARATS ? (int64_t)s->carats * 100 : s->retail;
}

static int bin_of(const struct version *v, int r, int64_t x)
{
    int lo = 0, hi = NBINS - 1; /* first b with x <= edge[b]; NBINS-1 when above all */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (x <= v->edge[r][mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Make *w this version's own (n words) before changing it: a copy while another version
 * shares it. */
static uint64_t *words_own(uint64_t **w, uint32_t n)
{
    struct shared_hdr *h = (struct shared_hdr *)*w - 1;
    if (atomic_load(&h->refs) > 1) {
        uint64_t *c = words_alloc(n);
        memcpy(c, *w, (size_t)n * 8);
        shared_free(*w);
        *w = c;
    }
    return *w;
}

static uint64_t *bm_for(struct version *v, int d, int val)
{
    if ((uint32_t)val >= v->nvals[d]) {
        uint32_t n = (uint32_t)val + 1;
        v->bm[d] = dm_xrealloc(v->bm[d], n * sizeof(uint64_t *));
        for (uint32_t k = v->nvals[d]; k < n; k++)
            v->bm[d][k] = NULL;
        v->nvals[d] = n;
    }
    if (v->bm[d][val] == NULL)
        v->bm[d][val] = words_alloc(v->capwords);
    return words_own(&v->bm[d][val], v->capwords);
}

static void set_bits(struct version *v, uint32_t slot, const struct dm_stone *s, bool on)
{
    void (*f)(uint64_t *, uint32_t) = on ? bit_set : bit_clear;
    f(words_own(&v->livebm, v->capwords), slot);
    for (int d = 0; d < D_COUNT; d++) {
        int val = dim_value(s, d);
        if (val)
            f(bm_for(v, d, val), slot);
    }
    for (int r = 0; r < R_COUNT; r++)
        for (int b = bin_of(v, r, range_value(s, r)); b < NBINS; b++)
            f(words_own(&v->cum[r][b], v->capwords), slot);
}

/* A stone replaced in its slot: only the bitmaps whose answer changed are touched (and so
 * copied), so a reprice copies the price bins, not every dimension. */
static void update_bits(struct version *v, uint32_t slot, const struct dm_stone *a,
                        const struct dm_stone *b)
{
    for (int d = 0; d < D_COUNT; d++) {
        int va = dim_value(a, d), vb = dim_value(b, d);
        if (va == vb)
            continue;
        if (va)
            bit_clear(bm_for(v, d, va), slot);
        if (vb)
            bit_set(bm_for(v, d, vb), slot);
    }
    for (int r = 0; r < R_COUNT; r++) {
        int ba = bin_of(v, r, range_value(a, r)), bb = bin_of(v, r, range_value(b, r));
        /* cum[k] holds the stones of bins <= k: a stone moving down joins [bb, ba), moving up
         * leaves [ba, bb). */
        for (int k = bb; k < ba; k++)
            bit_set(words_own(&v->cum[r][k], v->capwords), slot);
        for (int k = ba; k < bb; k++)
            bit_clear(words_own(&v->cum[r][k], v->capwords), slot);
    }
}

static void grow_words(uint64_t **b, uint32_t from, uint32_t to)
{
    if (*b == NULL)
        return;
    uint64_t *c = words_alloc(to);
    memcpy(c, *b, (size_t)from * 8);
    shared_free(*b);
    *b = c;
}

static void version_grow(struct version *v, uint32_t need_slots)
{
    uint32_t need = (need_slots + 63) / 64;
    if (need <= v->capwords)
        return;
    uint32_t ncap = v->capwords ? v->capwords : 16;
    while (ncap < need)
        ncap *= 2;
    v->slot = dm_xrealloc(v->slot, (size_t)ncap * 64 * sizeof(void *));
    memset(v->slot + (size_t)v->capwords * 64, 0,
           (size_t)(ncap - v->capwords) * 64 * sizeof(void *));
    grow_words(&v->livebm, v->capwords, ncap);
    for (int d = 0; d < D_COUNT; d++)
        for (uint32_t k = 0; k < v->nvals[d]; k++)
            grow_words(&v->bm[d][k], v->capwords, ncap);
    for (int r = 0; r < R_COUNT; r++) {
        for (int b = 0; b < NBINS; b++)
            grow_words(&v->cum[r][b], v->capwords, ncap);
        uint64_t *rv = (uint64_t *)v->rv[r];
        if (rv)
            grow_words(&rv, v->capwords * 64, ncap * 64);
        else
            rv = words_alloc(ncap * 64);
        v->rv[r] = (int64_t *)rv;
    }
    v->capwords = ncap;
}

static struct version *version_copy(const struct version *o)
{
    struct version *v = dm_xcalloc(1, sizeof(*v));
    v->ix = o->ix;
    v->nslots = o->nslots;
    v->nwords = o->nwords;
    v->capwords = o->capwords;
    v->live = o->live;
    v->slot = dm_xmalloc((size_t)o->capwords * 64 * sizeof(void *));
    memcpy(v->slot, o->slot, (size_t)o->capwords * 64 * sizeof(void *));
    v->livebm = shared_ref(o->livebm);
    for (int d = 0; d < D_COUNT; d++) {
        v->nvals[d] = o->nvals[d];
        v->bm[d] = dm_xcalloc(o->nvals[d] ? o->nvals[d] : 1, sizeof(uint64_t *));
        for (uint32_t k = 0; k < o->nvals[d]; k++)
            v->bm[d][k] = shared_ref(o->bm[d][k]);
    }
    for (int r = 0; r < R_COUNT; r++) {
        for (int b = 0; b < NBINS; b++)
            v->cum[r][b] = shared_ref(o->cum[r][b]);
        v->rv[r] = shared_ref(o->rv[r]);
        memcpy(v->edge[r], o->edge[r], sizeof(o->edge[r]));
        v->vmin[r] = o->vmin[r];
        v->vmax[r] = o->vmax[r];
    }
    /* order arrays are rebuilt by the caller */
    return v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Quantile edges over the live values of range r. */
static void compute_edges(struct version *v, int r)
{
    int64_t *vals = dm_xmalloc(((size_t)v->live + 1) * sizeof(int64_t));
    size_t n = 0;
    for (uint32_t i = 0; i < v->nslots; i++)
        if (v->slot[i])
            vals[n++] = range_value(v->slot[i], r);
    qsort(vals, n, sizeof(int64_t), cmp_i64);
    for (int b = 0; b < NBINS - 1; b++)
        v->edge[r][b] = n ? vals[(n - 1) * (size_t)(b + 1) / NBINS] : (int64_t)b;
    /* Strictly increasing edges (equal quantiles would make empty bins harmlessly, but the
     * binary search wants a sorted array; duplicates are fine for it). */
    v->vmin[r] = n ? vals[0] : 0;
    v->vmax[r] = n ? vals[n - 1] : 0;
    free(vals);
}

static void build_order(struct version *v, int o)
{
    uint32_t *a = order_alloc((size_t)v->live + 1);
    uint32_t n = 0;
    for (uint32_t i = 0; i < v->nslots; i++)
        if (v->slot[i] && in_order(v->slot[i], o))
            a[n++] = i;
    struct sort_ctx c = {v->ix, v->slot, o};
    sort_slots(&c, a, n);
    v->order[o] = a;
    v->norder[o] = n;
}

struct orders_job {
    struct version *v;
    int from, to;
};
static void *orders_run(void *arg)
{
    struct orders_job *j = arg;
    for (int o = j->from; o < j->to; o++)
        build_order(j->v, o);
    return NULL;
}

/* Sort every order, half of them on a second thread (a load has the machine to itself). One
 * order at a time per thread: the sort keys of all nine at once would add 100 MB to the peak at
 * 500,000 stones. */
static void build_orders(struct version *v)
{
    struct orders_job a = {v, 0, O_COUNT / 2}, b = {v, O_COUNT / 2, O_COUNT};
    pthread_t th;
    bool two = pthread_create(&th, NULL, orders_run, &b) == 0;
    orders_run(&a);
    if (two)
        pthread_join(th, NULL);
    else
        orders_run(&b);
}

enum dm_err dm_search_index_build(struct dm_search_index *ix, struct dm_stone **recs, size_t n,
                                  int64_t last_seq, struct dm_error *err)
{
    enum dm_err se = settle_upper(ix, err);
    if (se != DM_OK) {
        for (size_t i = 0; i < n; i++)
            free(recs[i]);
        return se;
    }
    struct version *v = dm_xcalloc(1, sizeof(*v));
    v->ix = ix;
    for (int d = 0; d < D_COUNT; d++)
        v->bm[d] = dm_xcalloc(1, sizeof(uint64_t *));
    version_grow(v, (uint32_t)n + 1);
    v->livebm = words_alloc(v->capwords);
    for (int r = 0; r < R_COUNT; r++)
        for (int b = 0; b < NBINS; b++)
            v->cum[r][b] = words_alloc(v->capwords);
    /* Previous content (a reload) becomes garbage of the old version. */
    struct dm_stone **garbage = NULL;
    size_t ngarbage = 0;
    if (ix->cur) {
        /* An array of pointers: clang-tidy 14 misreads sizeof(*p) here (15 adds an option). */
        /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
        garbage = dm_xmalloc(((size_t)ix->cur->live + 1) * sizeof(*garbage));
        for (uint32_t i = 0; i < ix->cur->nslots; i++)
            if (ix->cur->slot[i])
                garbage[ngarbage++] = ix->cur->slot[i];
    }
    free(ix->map.slot);
    memset(&ix->map, 0, sizeof(ix->map));
    uint32_t mcap = 1024;
    while (mcap < n * 2 + 2)
        mcap *= 2;
    ix->map.slot = dm_xcalloc(mcap, sizeof(uint32_t));
    ix->map.cap = mcap;
    ix->nfree = 0;
    ix->rec_bytes = 0;
    uint32_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        struct dm_stone *s = recs[i];
        uint32_t pos;
        uint32_t at = idmap_find(&ix->map, v->slot, s->id, &pos);
        if (at != UINT32_MAX) { /* duplicate id: keep the newer */
            struct dm_stone *o = v->slot[at];
            if (o->seq >= s->seq) {
                free(s);
                continue;
            }
            ix->rec_bytes -= (int64_t)stone_bytes(o);
            free(o);
            v->slot[at] = s;
            ix->rec_bytes += (int64_t)stone_bytes(s);
            continue;
        }
        v->slot[ns] = s;
        ix->rec_bytes += (int64_t)stone_bytes(s);
        idmap_put(&ix->map, v->slot, ns);
        ns++;
    }
    v->nslots = ns;
    v->nwords = (ns + 63) / 64;
    v->live = ns;
    for (int r = 0; r < R_COUNT; r++)
        compute_edges(v, r);
    /* Bits: each stone into its value bitmaps and its own bin, then the bins made cumulative
     * (cheaper than setting every bin at or above the stone's). */
    for (uint32_t i = 0; i < ns; i++) {
        const struct dm_stone *st = v->slot[i];
        bit_set(v->livebm, i);
        for (int d = 0; d < D_COUNT; d++) {
            int val = dim_value(st, d);
            if (val)
                bit_set(bm_for(v, d, val), i);
        }
        for (int r = 0; r < R_COUNT; r++) {
            v->rv[r][i] = range_value(st, r);
            bit_set(v->cum[r][bin_of(v, r, v->rv[r][i])], i);
        }
    }
    for (int r = 0; r < R_COUNT; r++)
        for (int b = 1; b < NBINS; b++)
            for (uint32_t w = 0; w < v->capwords; w++)
                v->cum[r][b][w] |= v->cum[r][b - 1][w];
    build_orders(v);
    v->last_seq = last_seq;
    publish(ix, v, garbage, ngarbage);
    return DM_OK;
}

/* Merge the old order (minus touched slots) with the sorted touched slots still present. */
static void merge_order(struct version *v, const struct version *o, int ord,
                        const uint64_t *touched, const uint32_t *tl, uint32_t nt)
{
    uint32_t *add = dm_xmalloc(((size_t)nt + 1) * sizeof(uint32_t));
    uint32_t na = 0;
    for (uint32_t i = 0; i < nt; i++)
        if (v->slot[tl[i]] && in_order(v->slot[tl[i]], ord))
            add[na++] = tl[i];
    struct sort_ctx c = {v->ix, v->slot, ord};
    sort_slots(&c, add, na);
    uint32_t *out = order_alloc((size_t)o->norder[ord] + na + 1);
    uint32_t n = 0, j = 0, nold = o->norder[ord];
    const uint32_t *old = o->order[ord];
    if ((uint64_t)na * 20 < nold) {
        /* Few changes: find each one's place by binary search in the old order (compared with
         * the old version's records, by which that array is sorted), then copy the runs between
         * places, dropping the changed slots: a few record reads per change instead of one per
         * stone. */
        uint32_t at = 0;
        for (j = 0; j < na; j++) {
            const struct dm_stone *a = v->slot[add[j]];
            uint32_t lo = at, hi = nold;
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (order_cmp(v->ix, ord, o->slot[old[mid]], a) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (; at < lo; at++)
                if (!bit_get(touched, old[at]))
                    out[n++] = old[at];
            out[n++] = add[j];
        }
        for (; at < nold; at++)
            if (!bit_get(touched, old[at]))
                out[n++] = old[at];
        free(add);
        v->order[ord] = out;
        v->norder[ord] = n;
        return;
    }
    for (uint32_t i = 0; i < nold; i++) {
        uint32_t s = old[i];
        if (bit_get(touched, s))
            continue;
        while (j < na && order_cmp(v->ix, ord, v->slot[add[j]], v->slot[s]) < 0)
            out[n++] = add[j++];
        out[n++] = s;
    }
    while (j < na)
        out[n++] = add[j++];
    free(add);
    v->order[ord] = out;
    v->norder[ord] = n;
}

enum dm_err dm_search_index_apply(struct dm_search_index *ix, struct dm_stone **recs,
                                  const bool *deleted, size_t n, int64_t last_seq,
                                  struct dm_error *err)
{
    /* The code is returned literally (not dm_error_set's result) so the analyzer sees that
     * ix->cur is non-NULL past this point. */
    enum dm_err se = DM_ERR_INVALID;
    if (ix->cur == NULL)
        dm_error_set(err, DM_ERR_INVALID, "search index: apply before build");
    else
        se = settle_upper(ix, err);
    if (se != DM_OK) {
        for (size_t i = 0; i < n; i++)
            free(recs[i]);
        return se;
    }
    const struct version *o = ix->cur;
    struct version *v = version_copy(o);
    /* An array of pointers: clang-tidy 14 misreads sizeof(*p) here (15 adds an option). */
    /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    struct dm_stone **garbage = dm_xmalloc((n + 1) * sizeof(*garbage));
    size_t ngarbage = 0;
    uint32_t *tl = dm_xmalloc((n + 1) * sizeof(uint32_t));
    uint32_t nt = 0;
    /* Slots may be appended: size the touched set for the worst case. */
    version_grow(v, v->nslots + (uint32_t)n + 1);
    uint64_t *touched = dm_xcalloc(v->capwords, 8);
    for (size_t i = 0; i < n; i++) {
        struct dm_stone *s = recs[i];
        uint32_t pos;
        uint32_t at = idmap_find(&ix->map, v->slot, s->id, &pos);
        struct dm_stone *old = at != UINT32_MAX ? v->slot[at] : NULL;
        if (old && old->seq >= s->seq) {
            free(s);
            continue;
        }
        if (old) {
            if (deleted[i])
                set_bits(v, at, old, false); /* a replacement only moves what changed */
            ix->rec_bytes -= (int64_t)stone_bytes(old);
            garbage[ngarbage++] = old;
            if (!bit_get(touched, at)) {
                bit_set(touched, at);
                tl[nt++] = at;
            }
        }
        if (deleted[i]) {
            free(s);
            if (old) {
                v->slot[at] = NULL;
                v->live--;
                ix->map.slot[pos] = UINT32_MAX; /* tombstone */
                ix->map.n--;
                ix->map.tomb++;
                if (ix->nfree == ix->capfree) {
                    ix->capfree = ix->capfree ? ix->capfree * 2 : 1024;
                    ix->free_slots = dm_xrealloc(ix->free_slots, ix->capfree * sizeof(uint32_t));
                }
                ix->free_slots[ix->nfree++] = at;
            }
            continue;
        }
        if (!old) {
            /* A slot freed by this very batch is touched already; reusing it is fine. */
            at = ix->nfree ? ix->free_slots[--ix->nfree] : v->nslots++;
            v->live++;
        }
        v->slot[at] = s;
        ix->rec_bytes += (int64_t)stone_bytes(s);
        if (!old)
            idmap_put(&ix->map, v->slot, at);
        if (old)
            update_bits(v, at, old, s);
        else
            set_bits(v, at, s, true);
        for (int r = 0; r < R_COUNT; r++) {
            int64_t x = range_value(s, r);
            if (v->rv[r][at] != x) {
                uint64_t *w = (uint64_t *)v->rv[r];
                v->rv[r] = (int64_t *)words_own(&w, v->capwords * 64);
                v->rv[r][at] = x;
            }
            v->vmin[r] = x < v->vmin[r] || v->live == 1 ? x : v->vmin[r];
            v->vmax[r] = x > v->vmax[r] || v->live == 1 ? x : v->vmax[r];
        }
        if (!bit_get(touched, at)) {
            bit_set(touched, at);
            tl[nt++] = at;
        }
    }
    v->nwords = (v->nslots + 63) / 64;
    /* An order needs merging only when a change moved a stone in it: a reprice changes where
     * stones sort by price, not by date, carats or grade; the others are copied. */
    bool changed[O_COUNT] = {false};
    for (uint32_t i = 0; i < nt; i++) {
        uint32_t t = tl[i];
        const struct dm_stone *a = t < (uint32_t)o->capwords * 64 ? o->slot[t] : NULL,
                              *b = v->slot[t];
        for (int ord = 0; ord < O_COUNT; ord++) {
            if (changed[ord])
                continue;
            if (a == NULL || b == NULL || in_order(a, ord) != in_order(b, ord))
                changed[ord] = a != NULL || b != NULL;
            else if (in_order(a, ord))
                changed[ord] = order_cmp(v->ix, ord, a, b) != 0;
        }
    }
    for (int ord = 0; ord < O_COUNT; ord++) {
        if (changed[ord]) {
            merge_order(v, o, ord, touched, tl, nt);
            continue;
        }
        v->order[ord] = shared_ref(o->order[ord]); /* shared, unchanged */
        v->norder[ord] = o->norder[ord];
    }
    free(touched);
    free(tl);
    v->last_seq = last_seq > o->last_seq ? last_seq : o->last_seq;
    publish(ix, v, garbage, ngarbage);
    return DM_OK;
}

/* ---- queries ---- */

/* One filter's bitmap (nwords words), or NULL for "no filter". */
struct filt {
    int kind; /* dim index, or D_COUNT + range, or -1 for lookups */
    uint64_t *bits;
};
#define F_RANGE(r) (D_COUNT + (r))
#define MAX_FILTERS (D_COUNT + R_COUNT + 2)

static bool value_matches(const struct dm_search_index *ix, int d, bool upper, int val,
                          const struct dm_sq_list *l)
{
    if (d == D_LAB_GROWN)
        return false;
    const struct dict *dc = &ix->dict[dims[d].dict];
    const char *t = upper ? dc->upper[val] : dc->text[val];
    for (int i = 0; i < l->n; i++)
        if (!strcmp(t, l->v[i]))
            return true;
    return false;
}

static uint64_t *dim_filter(const struct version *v, int d, const struct dm_sq_list *l)
{
    uint32_t w = v->nwords;
    uint64_t *f = dm_xcalloc(w + 1, 8);
    bool upper = dim_upper(d);
    for (uint32_t val = 1; val < v->nvals[d]; val++) {
        const uint64_t *b = v->bm[d][val];
        if (b == NULL || !value_matches(v->ix, d, upper, (int)val, l))
            continue;
        for (uint32_t i = 0; i < w; i++)
            f[i] |= b[i];
    }
    return f;
}

/* First position of ord (ascending by range value r) whose value is >= x, or > x when after. */
static uint32_t bound(const struct version *v, int r, const uint32_t *ord, uint32_t n, int64_t x,
                      bool after)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t val = v->rv[r][ord[mid]];
        if (after ? val <= x : val < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t *range_filter(const struct version *v, int r, bool has_lo, int64_t lo, bool has_hi,
                              int64_t hi)
{
    uint32_t w = v->nwords;
    uint64_t *f = dm_xcalloc(w + 1, 8);
    int blo = has_lo ? bin_of(v, r, lo) : -1;
    int bhi = has_hi ? bin_of(v, r, hi) : NBINS;
    /* Bins strictly between the edge bins hold only matching values. */
    for (uint32_t i = 0; i < w; i++) {
        uint64_t x = v->livebm[i];
        if (blo >= 0)
            x &= ~v->cum[r][blo][i];
        if (bhi < NBINS)
            x &= bhi > 0 ? v->cum[r][bhi - 1][i] : 0;
        f[i] = x;
    }
    /* The edge bins' matching stones are runs of the value's sort order (ascending by value):
     * found by binary search, set without reading a record. */
    const uint32_t *ord = v->order[r == R_CARATS ? DM_SQ_SORT_CARATS : DM_SQ_SORT_RETAIL_PRICE];
    uint32_t n = v->norder[r == R_CARATS ? DM_SQ_SORT_CARATS : DM_SQ_SORT_RETAIL_PRICE];
    uint32_t from = has_lo ? bound(v, r, ord, n, lo, false) : 0;
    uint32_t to = has_hi ? bound(v, r, ord, n, hi, true) : n;
    if (blo >= 0) { /* [lo, end of bin blo] */
        uint32_t e = blo < NBINS - 1 ? bound(v, r, ord, n, v->edge[r][blo], true) : n;
        for (uint32_t i = from; i < e && i < to; i++)
            bit_set(f, ord[i]);
    }
    if (bhi < NBINS && bhi != blo) { /* [start of bin bhi, hi] */
        uint32_t st = bhi > 0 ? bound(v, r, ord, n, v->edge[r][bhi - 1], true) : 0;
        for (uint32_t i = st > from ? st : from; i < to; i++)
            bit_set(f, ord[i]);
    }
    return f;
}

/* Slots of o (a lookup order) whose text is one of l's values. */
static uint64_t *lookup_filter(const struct version *v, int ord, int var,
                               const struct dm_sq_list *l)
{
    uint64_t *f = dm_xcalloc(v->nwords + 1, 8);
    const uint32_t *a = v->order[ord];
    uint32_t n = v->norder[ord];
    for (int k = 0; k < l->n; k++) {
        size_t ql = strlen(l->v[k]);
        uint32_t lo = 0, hi = n;
        while (lo < hi) { /* first entry with text >= value */
            uint32_t mid = lo + (hi - lo) / 2;
            size_t tl;
            const char *t = var_at(v->slot[a[mid]], var, &tl);
            int c = tl && ql ? memcmp(t, l->v[k], tl < ql ? tl : ql) : 0;
            if (c == 0)
                c = tl < ql ? -1 : tl > ql;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (uint32_t i = lo; i < n; i++) {
            size_t tl;
            const char *t = var_at(v->slot[a[i]], var, &tl);
            if (tl != ql || (ql && memcmp(t, l->v[k], ql)))
                break;
            bit_set(f, a[i]);
        }
    }
    return f;
}

static const struct dm_sq_list *qlist(const struct dm_search_query *q, int d)
{
    const struct dm_sq_filter *f = dims[d].filter ? dm_sq_filter_find(dims[d].filter) : NULL;
    return f ? (const struct dm_sq_list *)((const char *)q + f->value) : NULL;
}

/* The query's filters; returns how many. */
static int make_filters(const struct version *v, const struct dm_search_query *q, struct filt *f)
{
    int n = 0;
    for (int d = 0; d < D_COUNT; d++) {
        if (d == D_LAB_GROWN) {
            if (q->lab_grown >= 0) {
                uint32_t val = (uint32_t)q->lab_grown + 1;
                const uint64_t *b = val < v->nvals[d] ? v->bm[d][val] : NULL;
                f[n].kind = d;
                f[n].bits = dm_xcalloc((size_t)v->nwords + 1, 8);
                if (b)
                    memcpy(f[n].bits, b, (size_t)v->nwords * 8);
                n++;
            }
            continue;
        }
        const struct dm_sq_list *l = qlist(q, d);
        if (l == NULL || l->n == 0)
            continue;
        f[n].kind = d;
        f[n].bits = dim_filter(v, d, l);
        n++;
    }
    if (q->has_carat_min || q->has_carat_max) {
        f[n].kind = F_RANGE(R_CARATS);
        f[n].bits = range_filter(v, R_CARATS, q->has_carat_min, q->carat_min, q->has_carat_max,
                                 q->carat_max);
        n++;
    }
    if (q->has_price_min || q->has_price_max) {
        f[n].kind = F_RANGE(R_PRICE);
        f[n].bits = range_filter(v, R_PRICE, q->has_price_min, q->price_min, q->has_price_max,
                                 q->price_max);
        n++;
    }
    if (q->certificate_number.n) {
        f[n].kind = -1;
        f[n].bits = lookup_filter(v, O_BY_CERT, V_CERT_NUMBER, &q->certificate_number);
        n++;
    }
    if (q->supplier_stone_id.n) {
        f[n].kind = -1;
        f[n].bits = lookup_filter(v, O_BY_SSID, V_SUPPLIER_STONE_ID, &q->supplier_stone_id);
        n++;
    }
    return n;
}

static void free_filters(struct filt *f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i].bits);
}

/* AND of live and every filter except `skip` (a kind; -2 none) into out; returns popcount. */
static uint64_t combine(const struct version *v, const struct filt *f, int n, int skip,
                        uint64_t *out)
{
    uint32_t w = v->nwords;
    memcpy(out, v->livebm, (size_t)w * 8);
    for (int k = 0; k < n; k++) {
        if (f[k].kind == skip)
            continue;
        for (uint32_t i = 0; i < w; i++)
            out[i] &= f[k].bits[i];
    }
    return and_count(out, out, w);
}

/* Cursor key text (as the SQL path's key_sql renders it) of a stone. */
static void cursor_key_text(const struct dm_search_index *ix, const struct dm_stone *s, int sort,
                            char *out, size_t size)
{
    switch (sort) {
    case DM_SQ_SORT_CREATED_AT: {
        char t[48];
        int64_t us;
        char *p = put_datetime(t, s->created_us, &us);
        snprintf(p, sizeof(t) - (size_t)(p - t), ".%06lldZ", (long long)us);
        snprintf(out, size, "%s", t);
        return;
    }
    case DM_SQ_SORT_RETAIL_PRICE:
        dm_format_fixed(s->retail, 2, out, size);
        return;
    case DM_SQ_SORT_FEED_PRICE:
        dm_format_fixed(s->feed_price, 2, out, size);
        return;
    case DM_SQ_SORT_CARATS:
        dm_format_fixed(s->carats, 2, out, size);
        return;
    default:
        snprintf(out, size, "%lld", (long long)sort_key(ix, s, sort));
    }
}

/* The cursor's key in sort-key units. */
static bool cursor_key_value(const struct dm_search_query *q, int64_t *out)
{
    const char *k = q->cursor_key;
    if (q->sort == DM_SQ_SORT_CREATED_AT) {
        int y, mo, d, h, mi, se;
        if (strlen(k) < 20 || !digits(k, 4, &y) || !digits(k + 5, 2, &mo) ||
            !digits(k + 8, 2, &d) || !digits(k + 11, 2, &h) || !digits(k + 14, 2, &mi) ||
            !digits(k + 17, 2, &se))
            return false;
        int64_t us = 0;
        const char *p = k + 19;
        if (*p == '.') {
            int nd = 0;
            for (p++; isdigit((unsigned char)*p); p++, nd++)
                us = us * 10 + (*p - '0');
            for (; nd < 6; nd++)
                us *= 10;
        }
        *out = (dm_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + se) *
                   1000000 +
               us;
        return true;
    }
    if (q->sort == DM_SQ_SORT_COLOR || q->sort == DM_SQ_SORT_CLARITY) {
        int r;
        if (dm_parse_int(k, 0, 999, &r) != DM_OK)
            return false;
        *out = r;
        return true;
    }
    int64_t x = 0;
    if (dm_parse_fixed(k, 4, &x) != DM_OK)
        return false;
    /* key units: money cents*100 = 1/10000 dollar; carats hundredths*100 = 1/10000 carat */
    *out = x;
    return true;
}

struct pick {
    int64_t key;
    uint64_t id8;
    uint32_t slot;
};

struct page_ctx {
    const struct version *v;
    int sort;
    bool desc;
};
static _Thread_local const struct page_ctx *tl_page;
static int pcmp(const void *pa, const void *pb)
{
    const struct pick *a = pa, *b = pb;
    const struct page_ctx *c = tl_page;
    int r;
    if (a->key != b->key)
        r = a->key < b->key ? -1 : 1;
    else if (a->id8 != b->id8)
        r = a->id8 < b->id8 ? -1 : 1;
    else
        r = memcmp(c->v->slot[a->slot]->id, c->v->slot[b->slot]->id, 16);
    return c->desc ? -r : r;
}

/* Is (key, id) strictly after the cursor in the query's direction? */
static bool after_cursor(const struct page_ctx *c, int64_t key, const uint8_t *id, int64_t ck,
                         const uint8_t *cid)
{
    int r = key != ck ? (key < ck ? -1 : 1) : memcmp(id, cid, 16);
    return c->desc ? r < 0 : r > 0;
}

/* Select the page: up to `want` slots after skipping `skip` matches, in order. */
static uint32_t select_page(const struct version *v, const struct dm_search_query *q,
                            const uint64_t *f, uint64_t total, uint64_t skip, uint32_t want,
                            uint32_t *out)
{
    struct page_ctx c = {v, (int)q->sort, q->desc};
    int64_t ck = 0;
    uint8_t cid[16] = {0};
    bool cur = q->has_cursor;
    if (cur && (!cursor_key_value(q, &ck) || !parse_uuid(q->cursor_id, 36, cid)))
        return 0; /* validated by the parser already */
    uint64_t need = skip + want;
    uint32_t live = v->norder[q->sort];
    /* Scanning the sort order costs about need * live / total probes; collecting the matches
     * and sorting them costs about total * log(total). */
    double scan = total ? (double)need * live / (double)total : (double)live;
    /* A probe of the order is a sequential read and a bit test (a few ns); a collected match
     * costs a read of its record (a cache miss, ~100 ns) and its share of a sort. */
    bool collect = total == 0 || (double)total * 50 < scan || (cur && total * 50 < live);
    uint32_t got = 0;
    if (!collect) {
        const uint32_t *a = v->order[q->sort];
        uint32_t start = 0;
        if (cur) { /* first position after the cursor in the query's direction */
            uint32_t lo = 0, hi = live;
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                const struct dm_stone *s = v->slot[a[mid]];
                int64_t k = sort_key(v->ix, s, q->sort);
                int r = k != ck ? (k < ck ? -1 : 1) : memcmp(s->id, cid, 16);
                if (q->desc ? r < 0 : r <= 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            start = q->desc ? live - lo : lo;
        }
        uint64_t seen = 0;
        for (uint32_t i = start; i < live && got < want; i++) {
            uint32_t s = a[q->desc ? live - 1 - i : i];
            if (!bit_get(f, s))
                continue;
            if (seen++ < skip)
                continue;
            out[got++] = s;
        }
        return got;
    }
    struct pick *p = dm_xmalloc((total + 1) * sizeof(*p));
    size_t n = 0;
    for (uint32_t i = 0; i < v->nwords; i++) {
        uint64_t x = f[i];
        while (x) {
            uint32_t s = i * 64 + (uint32_t)__builtin_ctzll(x);
            x &= x - 1;
            int64_t k = sort_key(v->ix, v->slot[s], q->sort);
            if (cur && !after_cursor(&c, k, v->slot[s]->id, ck, cid))
                continue;
            p[n].slot = s;
            p[n].key = k;
            p[n].id8 = be8(v->slot[s]->id, 16);
            n++;
        }
    }
    tl_page = &c;
    qsort(p, n, sizeof(*p), pcmp);
    tl_page = NULL;
    for (uint64_t i = skip; i < n && got < want; i++)
        out[got++] = p[i].slot;
    free(p);
    return got;
}

enum dm_err dm_search_index_search(const struct dm_search_index_view *view,
                                   const struct dm_search_query *q, bool facets, struct dm_buf *out)
{
    const struct version *v = (const struct version *)view;
    struct filt f[MAX_FILTERS];
    int nf = make_filters(v, q, f);
    uint64_t *all = dm_xmalloc(((size_t)v->nwords + 1) * 8);
    uint64_t total = combine(v, f, nf, -2, all);
    uint64_t skip = q->has_cursor ? 0 : (uint64_t)(q->page - 1) * (uint64_t)q->limit;
    uint32_t slots[DM_SQ_MAX_LIMIT + 1];
    uint32_t got = select_page(v, q, all, total, skip, (uint32_t)q->limit + 1, slots);
    bool more = got > (uint32_t)q->limit;
    uint32_t rows = more ? (uint32_t)q->limit : got;
    char next[256] = "";
    if (more && rows > 0) {
        const struct dm_stone *last = v->slot[slots[rows - 1]];
        char k[64], id[DM_UUID_LEN];
        cursor_key_text(v->ix, last, q->sort, k, sizeof(k));
        dm_uuid_format(last->id, id);
        if (dm_search_cursor_encode(q->sort, q->desc, k, id, next, sizeof(next)) != DM_OK)
            next[0] = '\0';
    }
    dm_buf_reset(out);
    enum dm_err e = dm_buf_append_str(out, "{\"data\":[");
    for (uint32_t i = 0; e == DM_OK && i < rows; i++) {
        if (i > 0)
            e = dm_buf_append_char(out, ',');
        if (e == DM_OK)
            e = dm_stone_render(view, v->slot[slots[i]], out);
    }
    /* limit is 1..100 after dm_search_query_parse; the guard keeps a zero from a direct caller
     * from dividing by zero. */
    int64_t pages = q->limit > 0 ? ((int64_t)total + q->limit - 1) / q->limit : 0;
    if (e == DM_OK)
        e = dm_buf_appendf(out,
                           "],\"pagination\":{\"total\":%lld,\"totalIsEstimate\":false,"
                           "\"page\":%d,\"limit\":%d,\"totalPages\":%lld,\"hasMore\":%s,"
                           "\"nextCursor\":",
                           (long long)total, q->has_cursor ? 0 : q->page, q->limit,
                           (long long)pages, more ? "true" : "false");
    if (e == DM_OK)
        e = next[0] ? dm_buf_appendf(out, "\"%s\"}", next) : dm_buf_append_str(out, "null}");
    free(all);
    free_filters(f, nf);
    if (e == DM_OK && facets) {
        e = dm_buf_append_str(out, ",\"facets\":");
        if (e == DM_OK)
            e = dm_search_index_facets(view, q, out);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(out, '}');
    return e;
}

/* ---- facets ---- */

struct fcount {
    const char *name;
    uint64_t n;
    int rank;
};
static int fcmp(const void *pa, const void *pb)
{
    const struct fcount *a = pa, *b = pb;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    return strcmp(a->name, b->name);
}

static enum dm_err facet_dim(const struct version *v, int d, const uint64_t *fd, struct dm_buf *out)
{
    struct fcount *c = dm_xcalloc(v->nvals[d] + 1, sizeof(*c));
    size_t nc = 0;
    const struct dict *dc = d == D_LAB_GROWN ? NULL : &v->ix->dict[dims[d].dict];
    bool upper = dim_upper(d);
    for (uint32_t val = 1; val < v->nvals[d]; val++) {
        if (v->bm[d][val] == NULL)
            continue;
        uint64_t n = and_count(fd, v->bm[d][val], v->nwords);
        if (n == 0)
            continue;
        const char *name = d == D_LAB_GROWN ? (val == 2 ? "true" : "false")
                           : upper          ? dc->upper[val]
                                            : dc->text[val];
        /* Values equal once upper-cased count together (the filter cannot tell them apart). */
        size_t k = 0;
        while (k < nc && strcmp(c[k].name, name))
            k++;
        if (k == nc) {
            c[nc].name = name;
            c[nc].rank = d == D_COLOR || d == D_CLARITY ? dc->rank[val] : 0;
            nc++;
        }
        c[k].n += n;
    }
    qsort(c, nc, sizeof(*c), fcmp);
    enum dm_err e = dm_buf_appendf(out, "\"%s\":{", dims[d].facet);
    for (size_t k = 0; e == DM_OK && k < nc; k++) {
        if (k)
            e = dm_buf_append_char(out, ',');
        if (e == DM_OK)
            e = esc(out, c[k].name, strlen(c[k].name));
        if (e == DM_OK)
            e = dm_buf_appendf(out, ":%llu", (unsigned long long)c[k].n);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(out, '}');
    free(c);
    return e;
}

#define HBUCKETS 16

static enum dm_err facet_hist(const struct version *v, int r, const uint64_t *fr,
                              struct dm_buf *out)
{
    const int per = NBINS / HBUCKETS;
    enum dm_err e = dm_buf_appendf(out, "\"%s\":[", r == R_CARATS ? "carats" : "retailPrice");
    uint64_t below = 0;
    int scale = r == R_CARATS ? 4 : 2;
    for (int h = 0; e == DM_OK && h < HBUCKETS; h++) {
        int b = (h + 1) * per - 1;
        uint64_t upto =
            b == NBINS - 1 ? and_count(fr, fr, v->nwords) : and_count(fr, v->cum[r][b], v->nwords);
        int64_t lo = h == 0 ? v->vmin[r] : v->edge[r][h * per - 1];
        int64_t hi = b == NBINS - 1 ? v->vmax[r] : v->edge[r][b];
        if (hi < lo)
            hi = lo;
        char a[48], z[48];
        dm_format_fixed(r == R_CARATS ? lo / 100 : lo, r == R_CARATS ? 2 : scale, a, sizeof(a));
        dm_format_fixed(r == R_CARATS ? hi / 100 : hi, r == R_CARATS ? 2 : scale, z, sizeof(z));
        e = dm_buf_appendf(out, "%s{\"min\":%s,\"max\":%s,\"count\":%llu}", h ? "," : "", a, z,
                           (unsigned long long)(upto - below));
        below = upto;
    }
    if (e == DM_OK)
        e = dm_buf_append_char(out, ']');
    return e;
}

enum dm_err dm_search_index_facets(const struct dm_search_index_view *view,
                                   const struct dm_search_query *q, struct dm_buf *out)
{
    const struct version *v = (const struct version *)view;
    struct filt f[MAX_FILTERS];
    int nf = make_filters(v, q, f);
    uint64_t *all = dm_xmalloc(((size_t)v->nwords + 1) * 8);
    uint64_t *own = dm_xmalloc(((size_t)v->nwords + 1) * 8);
    uint64_t total = combine(v, f, nf, -2, all);
    enum dm_err e = dm_buf_appendf(out, "{\"total\":%llu,\"facets\":{", (unsigned long long)total);
    static const int order[] = {D_SHAPE,     D_COLOR,        D_CLARITY,      D_CUT,
                                D_POLISH,    D_SYMMETRY,     D_FLUORESCENCE, D_CERT_LAB,
                                D_LAB_GROWN, D_AVAILABILITY, D_FEED};
    for (size_t k = 0; e == DM_OK && k < sizeof(order) / sizeof(order[0]); k++) {
        int d = order[k];
        bool filtered = false;
        for (int i = 0; i < nf; i++)
            filtered = filtered || f[i].kind == d;
        /* A dimension's own filter does not narrow its own counts. */
        if (filtered)
            combine(v, f, nf, d, own);
        if (k)
            e = dm_buf_append_char(out, ',');
        if (e == DM_OK)
            e = facet_dim(v, d, filtered ? own : all, out);
    }
    if (e == DM_OK)
        e = dm_buf_append_str(out, "},\"histograms\":{");
    static const int hist[R_COUNT] = {R_PRICE, R_CARATS};
    for (int k = 0; e == DM_OK && k < R_COUNT; k++) {
        int r = hist[k];
        bool filtered = false;
        for (int i = 0; i < nf; i++)
            filtered = filtered || f[i].kind == F_RANGE(r);
        if (filtered)
            combine(v, f, nf, F_RANGE(r), own);
        if (k)
            e = dm_buf_append_char(out, ',');
        if (e == DM_OK)
            e = facet_hist(v, r, filtered ? own : all, out);
    }
    if (e == DM_OK)
        e = dm_buf_append_str(out, "}}");
    free(all);
    free(own);
    free_filters(f, nf);
    return e;
}

const struct dm_stone *dm_search_index_get(const struct dm_search_index_view *view, const char *id)
{
    const struct version *v = (const struct version *)view;
    uint8_t b[16];
    if (v == NULL || id == NULL || !parse_uuid(id, strlen(id), b))
        return NULL;
    const uint32_t *a = v->order[O_BY_ID];
    uint32_t lo = 0, hi = v->norder[O_BY_ID];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v->slot[a[mid]]->id, b, 16);
        if (c == 0)
            return v->slot[a[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

enum dm_err dm_stone_parse(struct dm_search_index *ix, const char *const *values,
                           const size_t *lens, struct dm_stone **out, bool *deleted,
                           struct dm_error *err)
{
    return stone_parse(ix, values, lens, out, deleted, err);
}
