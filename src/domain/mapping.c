/*
 * mapping.c - Nivoda item -> canonical diamond, content hash and COPY text line. The rules for
 * ambiguous supplier values (booleans, enumerated fields, URLs, rounding, nulls and empty
 * strings) are listed in docs/architecture.md, "Mapping rules".
 */
#include "domain/mapping.h"

#include "core/num.h"
#include "core/json_scan.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Decimal text "[+-]digits[.digits]" to fixed point, half away from zero. */
static enum dm_err decimal_text(const char *s, int scale, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        return DM_ERR_INVALID;
    const int64_t limit = INT64_MAX / 10 - 10;
    int64_t v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > limit)
            return DM_ERR_TOO_LARGE;
        v = v * 10 + (*p - '0');
    }
    int frac = 0;
    bool round_up = false;
    if (*p == '.') {
        p++;
        for (; isdigit((unsigned char)*p); p++) {
            if (frac < scale) {
                if (v > limit)
                    return DM_ERR_TOO_LARGE;
                v = v * 10 + (*p - '0');
            } else if (frac == scale) {
                round_up = *p >= '5'; /* only the first dropped digit decides a half */
            }
            frac++;
        }
    }
    if (*p != '\0')
        return DM_ERR_INVALID;
    for (; frac < scale; frac++) {
        if (v > limit)
            return DM_ERR_TOO_LARGE;
        v *= 10;
    }
    if (round_up)
        v++;
    *out = neg ? -v : v;
    return DM_OK;
}

enum dm_err dm_json_decimal(const json_t *v, int scale, int64_t *out)
{
    if (v == NULL || json_is_null(v))
        return DM_ERR_NOT_FOUND;
    if (scale < 0 || scale > 6)
        return DM_ERR_INVALID;
    char text[64];
    if (json_is_integer(v)) {
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        /* 15 significant digits give back the literal as written for any realistic value. */
        snprintf(text, sizeof(text), "%.15g", json_real_value(v));
        char *e = strpbrk(text, "eE");
        if (e != NULL) {
            double a = json_real_value(v);
            if (a < 0)
                a = -a;
            if (a < 1.0) { /* below 1e-4: rounds to zero at any scale we use */
                *out = 0;
                return DM_OK;
            }
            return DM_ERR_TOO_LARGE;
        }
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        if (n == 0 || n >= sizeof(text))
            return n == 0 ? DM_ERR_INVALID : DM_ERR_TOO_LARGE;
        memcpy(text, s, n + 1);
    } else {
        return DM_ERR_INVALID;
    }
    return decimal_text(text, scale, out);
}

/* Decimal from a token: number (as written) or numeric string. Errors as dm_json_decimal. */
static enum dm_err tok_decimal(const struct dm_jscan *js, int i, int scale, int64_t *out)
{
    int type = dm_jscan_type(js, i);
    if (type < 0 || type == DM_JNULL)
        return DM_ERR_NOT_FOUND;
    char text[64];
    if (type == DM_JSTR) {
        size_t n = 0;
        char *v = dm_jscan_strdup(js, i, &n);
        enum dm_err e = n == 0 ? DM_ERR_INVALID : n >= sizeof(text) ? DM_ERR_TOO_LARGE : DM_OK;
        if (e == DM_OK)
            memcpy(text, v, n + 1);
        free(v);
        if (e != DM_OK)
            return e;
        return decimal_text(text, scale, out);
    }
    if (type != DM_JNUM)
        return DM_ERR_INVALID;
    size_t n = 0;
    const char *raw = dm_jscan_raw(js, i, &n);
    if (n >= sizeof(text))
        return DM_ERR_TOO_LARGE;
    memcpy(text, raw, n);
    text[n] = '\0';
    if (strpbrk(text, "eE") != NULL) {
        /* Exponent notation: go through the double, like the feed's own encoder would. */
        json_t *real = json_real(strtod(text, NULL));
        enum dm_err e = dm_json_decimal(real, scale, out);
        json_decref(real);
        return e;
    }
    return decimal_text(text, scale, out);
}

/* Optional text: non-empty string, or a number as written; NULL for anything else. */
static char *opt_text(const struct dm_jscan *js, int obj, const char *key, bool upper)
{
    int i = dm_jscan_get(js, obj, key);
    int type = dm_jscan_type(js, i);
    char *s = NULL;
    if (type == DM_JSTR) {
        size_t n = 0;
        s = dm_jscan_strdup(js, i, &n);
        if (n == 0) {
            free(s);
            return NULL;
        }
    } else if (type == DM_JNUM) {
        size_t n = 0;
        const char *raw = dm_jscan_raw(js, i, &n);
        s = dm_xstrndup(raw, n);
    } else {
        return NULL;
    }
    if (upper)
        for (char *p = s; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
    return s;
}

/* ---- booleans ---------------------------------------------------------------------------- */

/*
 * A boolean as suppliers write it: true/false, the numbers 1/0, or a string true/false,
 * yes/no, y/n, 1/0 in any case (surrounding spaces ignored). DM_ERR_NOT_FOUND when absent or
 * null, DM_ERR_INVALID for anything else (never guessed).
 */
static enum dm_err tok_bool(const struct dm_jscan *js, int i, bool *out)
{
    int type = dm_jscan_type(js, i);
    if (type < 0 || type == DM_JNULL)
        return DM_ERR_NOT_FOUND;
    if (type == DM_JTRUE || type == DM_JFALSE) {
        *out = type == DM_JTRUE;
        return DM_OK;
    }
    char text[16];
    size_t n = 0;
    if (type == DM_JNUM) {
        const char *raw = dm_jscan_raw(js, i, &n);
        if (n != 1 || (raw[0] != '0' && raw[0] != '1'))
            return DM_ERR_INVALID;
        *out = raw[0] == '1';
        return DM_OK;
    }
    if (type != DM_JSTR)
        return DM_ERR_INVALID;
    char *v = dm_jscan_strdup(js, i, &n);
    const char *b = v, *e = v + n;
    while (b < e && *b == ' ')
        b++;
    while (e > b && e[-1] == ' ')
        e--;
    n = (size_t)(e - b);
    bool ok = n < sizeof(text);
    if (ok) {
        for (size_t k = 0; k < n; k++)
            text[k] = (char)((b[k] >= 'A' && b[k] <= 'Z') ? b[k] - 'A' + 'a' : b[k]);
        text[n] = '\0';
    }
    free(v);
    static const char *const yes[] = {"true", "yes", "y", "1"};
    static const char *const no[] = {"false", "no", "n", "0"};
    for (size_t k = 0; ok && k < sizeof(yes) / sizeof(yes[0]); k++) {
        if (!strcmp(text, yes[k]) || !strcmp(text, no[k])) {
            *out = !strcmp(text, yes[k]);
            return DM_OK;
        }
    }
    return DM_ERR_INVALID;
}

/* The raw text of token i, cut for an error message. */
static void raw_snippet(const struct dm_jscan *js, int i, char *out, size_t size)
{
    size_t n = 0;
    const char *raw = dm_jscan_raw(js, i, &n);
    snprintf(out, size, "%.*s", (int)(n < 40 ? n : 40), raw ? raw : "");
}

static enum dm_err bool_error(const struct dm_jscan *js, int i, const char *field,
                              struct dm_error *err)
{
    char v[48];
    raw_snippet(js, i, v, sizeof(v));
    return dm_error_set(err, DM_ERR_INVALID,
                        "%s is not a boolean (%s; true/false, yes/no or 1/0 expected)", field, v);
}

/* ---- enumerated fields -------------------------------------------------------------------- */

/* A vocabulary entry: a spelling with spaces, hyphens and underscores removed, upper case. */
struct spelling {
    const char *in, *out;
};

/* Known shapes (the 17 the pipeline queries) and their usual aliases. */
static const struct spelling SHAPES[] = {
    {"ROUND", "ROUND"},
    {"ROUNDBRILLIANT", "ROUND"},
    {"RBC", "ROUND"},
    {"RB", "ROUND"},
    {"RD", "ROUND"},
    {"BR", "ROUND"},
    {"OVAL", "OVAL"},
    {"OVALBRILLIANT", "OVAL"},
    {"OV", "OVAL"},
    {"EMERALD", "EMERALD"},
    {"EMERALDSTEPCUT", "EMERALD"},
    {"EM", "EMERALD"},
    {"CUSHION", "CUSHION"},
    {"CU", "CUSHION"},
    {"CUSHIONB", "CUSHION B"},
    {"CUSHIONBRILLIANTB", "CUSHION B"},
    {"CUSHIONMODIFIED", "CUSHION MODIFIED"},
    {"CUSHIONMODIFIEDBRILLIANT", "CUSHION MODIFIED"},
    {"CMB", "CUSHION MODIFIED"},
    {"CUSHIONBRILLIANT", "CUSHION BRILLIANT"},
    {"ASSCHER", "ASSCHER"},
    {"ASSCHERSTEPCUT", "ASSCHER"},
    {"AS", "ASSCHER"},
    {"RADIANT", "RADIANT"},
    {"RA", "RADIANT"},
    {"MARQUISE", "MARQUISE"},
    {"MARQUISEBRILLIANT", "MARQUISE"},
    {"MQ", "MARQUISE"},
    {"PEAR", "PEAR"},
    {"PEARBRILLIANT", "PEAR"},
    {"PS", "PEAR"},
    {"PRINCESS", "PRINCESS"},
    {"PRINCESSCUT", "PRINCESS"},
    {"PR", "PRINCESS"},
    {"ROSE", "ROSE"},
    {"ROSECUT", "ROSE"},
    {"OLDMINER", "OLD MINER"},
    {"OLDMINERCUT", "OLD MINER"},
    {"OLDMINE", "OLD MINER"},
    {"OMC", "OLD MINER"},
    {"TRILLIANT", "TRILLIANT"},
    {"TRILLION", "TRILLIANT"},
    {"HEXAGONAL", "HEXAGONAL"},
    {"HEX", "HEXAGONAL"},
    {"HEART", "HEART"},
    {"HEARTBRILLIANT", "HEART"},
    {"HS", "HEART"},
};

/* GIA clarity grades (dm_clarity_rank's list) and their spelled-out and piqué aliases. */
static const struct spelling CLARITIES[] = {
    {"FL", "FL"},     {"FLAWLESS", "FL"}, {"IF", "IF"},   {"INTERNALLYFLAWLESS", "IF"},
    {"VVS1", "VVS1"}, {"VVS2", "VVS2"},   {"VS1", "VS1"}, {"VS2", "VS2"},
    {"SI1", "SI1"},   {"SI2", "SI2"},     {"SI3", "SI3"}, {"I1", "I1"},
    {"I2", "I2"},     {"I3", "I3"},       {"P1", "I1"},   {"P2", "I2"},
    {"P3", "I3"},     {"PK1", "I1"},      {"PK2", "I2"},  {"PK3", "I3"},
};

/* Cut, polish and symmetry grades, as their usual abbreviations. */
static const struct spelling GRADES[] = {
    {"ID", "ID"},        {"IDEAL", "ID"}, {"EX", "EX"},       {"EXC", "EX"},
    {"EXCELLENT", "EX"}, {"VG", "VG"},    {"VERYGOOD", "VG"}, {"GD", "GD"},
    {"G", "GD"},         {"GOOD", "GD"},  {"FR", "FR"},       {"F", "FR"},
    {"FAIR", "FR"},      {"PR", "PR"},    {"P", "PR"},        {"POOR", "PR"},
};

/* The key s is looked up by: ASCII upper case without spaces, hyphens and underscores; false
 * when s holds anything but ASCII letters, digits and those separators, or is too long. */
static bool spelling_key(const char *s, char *key, size_t size)
{
    size_t n = 0;
    for (; *s; s++) {
        char c = *s;
        if (c == ' ' || c == '-' || c == '_')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) || n + 1 >= size)
            return false;
        key[n++] = c;
    }
    key[n] = '\0';
    return n > 0;
}

static const char *spelling_find(const char *s, const struct spelling *v, size_t n)
{
    char key[40];
    if (!spelling_key(s, key, sizeof(key)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(key, v[i].in))
            return v[i].out;
    return NULL;
}

/* Colour: one letter D..Z (dm_color_rank's list), any case. */
static const char *colour_find(const char *s, char out[2])
{
    char key[4];
    if (!spelling_key(s, key, sizeof(key)) || key[1] != '\0' || key[0] < 'D' || key[0] > 'Z')
        return NULL;
    out[0] = key[0];
    out[1] = '\0';
    return out;
}

enum vocab { V_SHAPE, V_COLOUR, V_CLARITY, V_GRADE };

/*
 * An enumerated field: its canonical spelling (malloc'd) in *out, NULL when absent, empty or
 * null; DM_ERR_INVALID naming the field when present but not in the vocabulary (non-ASCII text
 * included: nothing is guessed, nothing is upper-cased byte by byte).
 */
static enum dm_err opt_enum(const struct dm_jscan *js, int obj, const char *key, enum vocab voc,
                            const char *field, char **out, struct dm_error *err)
{
    *out = NULL;
    int i = dm_jscan_get(js, obj, key);
    int type = dm_jscan_type(js, i);
    if (type < 0 || type == DM_JNULL)
        return DM_OK;
    char *s = NULL;
    if (type == DM_JSTR) {
        size_t n = 0;
        s = dm_jscan_strdup(js, i, &n);
        if (n == 0 || strlen(s) != n) { /* empty: absent; an embedded NUL: unknown */
            bool empty = n == 0;
            free(s);
            if (empty)
                return DM_OK;
            s = NULL;
        }
    } else if (type == DM_JNUM) {
        size_t n = 0;
        const char *raw = dm_jscan_raw(js, i, &n);
        s = dm_xstrndup(raw, n);
    }
    const char *canon = NULL;
    char letter[2];
    if (s != NULL) {
        switch (voc) {
        case V_SHAPE:
            canon = spelling_find(s, SHAPES, sizeof(SHAPES) / sizeof(SHAPES[0]));
            break;
        case V_COLOUR:
            canon = colour_find(s, letter);
            break;
        case V_CLARITY:
            canon = spelling_find(s, CLARITIES, sizeof(CLARITIES) / sizeof(CLARITIES[0]));
            break;
        case V_GRADE:
            canon = spelling_find(s, GRADES, sizeof(GRADES) / sizeof(GRADES[0]));
            break;
        }
    }
    free(s);
    if (canon == NULL) {
        char v[48];
        raw_snippet(js, i, v, sizeof(v));
        return dm_error_set(err, DM_ERR_INVALID, "%s %s is not a known value", field, v);
    }
    *out = dm_xstrdup(canon);
    return DM_OK;
}

/* opt_enum for a member the item must have: "missing <field>" when it is absent, empty or null. */
static enum dm_err req_enum(const struct dm_jscan *js, int obj, const char *key, enum vocab voc,
                            const char *field, char **out, struct dm_error *err)
{
    enum dm_err e = opt_enum(js, obj, key, voc, field, out, err);
    if (e == DM_OK && *out == NULL)
        e = dm_error_set(err, DM_ERR_INVALID, "missing %s", field);
    return e;
}

/* ---- URLs --------------------------------------------------------------------------------- */

/* An http(s) URL: the scheme (any case), something after it, no spaces or control bytes. */
static bool http_url(const char *s)
{
    size_t skip;
    if (!strncasecmp(s, "http://", 7))
        skip = 7;
    else if (!strncasecmp(s, "https://", 8))
        skip = 8;
    else
        return false;
    if (s[skip] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* An optional URL field: kept when it is an http(s) URL; anything else (a javascript: or
 * data: URL, a bare path) is dropped and named in d->dropped_urls. */
static char *opt_url(const struct dm_jscan *js, int obj, const char *key, const char *field,
                     struct dm_diamond *d)
{
    char *s = opt_text(js, obj, key, false);
    if (s == NULL || http_url(s))
        return s;
    free(s);
    size_t used = strlen(d->dropped_urls);
    snprintf(d->dropped_urls + used, sizeof(d->dropped_urls) - used, "%s%s", used ? "," : "",
             field);
    return NULL;
}

/* Object member index or -1 when absent or not an object. */
static int opt_object(const struct dm_jscan *js, int obj, const char *key)
{
    int i = dm_jscan_get(js, obj, key);
    return dm_jscan_type(js, i) == DM_JOBJ ? i : -1;
}

struct json_key {
    const char *out; /* key in the canonical object */
    int src;         /* 0 = d, 1 = c */
    const char *in;  /* key in the payload */
    bool boolean;    /* written as true/false (read by tok_bool, checked before) */
};

static const struct json_key MEASUREMENT_KEYS[] = {
    {"length", 1, "length", false},
    {"width", 1, "width", false},
    {"depth", 1, "depth", false},
    {"depthPercentage", 1, "depthPercentage", false},
    {"table", 1, "table", false},
    {"crownAngle", 1, "crownAngle", false},
    {"crownHeight", 1, "crownHeight", false},
    {"pavAngle", 1, "pavAngle", false},
    {"pavHeight", 1, "pavHeight", false},
    {"pavDepth", 1, "pavDepth", false},
    {"girdle", 1, "girdle", false},
    {"culetSize", 1, "culetSize", false},
    {"girdleCondition", 1, "girdleCondition", false},
    {"culetCondition", 1, "culet_condition", false},
};

static const struct json_key ATTRIBUTE_KEYS[] = {
    {"eyeClean", 0, "eyeClean", true},   {"brown", 0, "brown", false},
    {"green", 0, "green", false},        {"blue", 0, "blue", false},
    {"gray", 0, "gray", false},          {"milky", 0, "milky", false},
    {"bowtie", 0, "bowtie", false},      {"mineOfOrigin", 0, "mine_of_origin", false},
    {"cutStyle", 1, "cut_style", false}, {"keyToSymbols", 1, "keyToSymbols", false},
    {"comments", 1, "comments", false},
};

static enum dm_err tok_bool(const struct dm_jscan *js, int i, bool *out);

/* A compact JSON object of the keys present (non-null) in the payload, values as written
 * (the input was validated, so each slice is valid JSON) or, for booleans, as true/false; NULL
 * when none is present. */
static char *collect(const struct dm_jscan *js, int d, int c, const struct json_key *keys, size_t n)
{
    struct dm_buf b;
    dm_buf_init(&b, DM_MAPPING_MAX_PAYLOAD + 1024);
    enum dm_err e = DM_OK;
    for (size_t i = 0; i < n && e == DM_OK; i++) {
        int v = dm_jscan_get(js, keys[i].src ? c : d, keys[i].in);
        int type = dm_jscan_type(js, v);
        if (type < 0 || type == DM_JNULL)
            continue;
        size_t len = 0;
        const char *raw = dm_jscan_raw(js, v, &len);
        bool flag;
        if (keys[i].boolean && tok_bool(js, v, &flag) == DM_OK) {
            raw = flag ? "true" : "false";
            len = strlen(raw);
        }
        e = dm_buf_appendf(&b, "%c\"%s\":", b.len ? ',' : '{', keys[i].out);
        if (e == DM_OK)
            e = dm_buf_append(&b, raw, len);
    }
    if (e == DM_OK && b.len > 0)
        e = dm_buf_append_char(&b, '}');
    if (e != DM_OK || b.len == 0) {
        dm_buf_free(&b);
        return NULL;
    }
    return dm_buf_steal(&b);
}

void dm_diamond_free(struct dm_diamond *d)
{
    if (d == NULL)
        return;
    char **fields[] = {&d->supplier_stone_id,
                       &d->offer_id,
                       &d->shape,
                       &d->color,
                       &d->clarity,
                       &d->cut,
                       &d->polish,
                       &d->symmetry,
                       &d->fluorescence,
                       &d->raw_availability,
                       &d->hold_id,
                       &d->image_url,
                       &d->video_url,
                       &d->certificate_lab,
                       &d->certificate_number,
                       &d->certificate_pdf_url,
                       &d->measurements,
                       &d->attributes,
                       &d->supplier_name,
                       &d->supplier_legal_name};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

static enum dm_err number_error(enum dm_err e, const char *field, struct dm_error *err)
{
    if (e == DM_ERR_NOT_FOUND)
        return dm_error_set(err, DM_ERR_INVALID, "missing %s", field);
    if (e == DM_ERR_TOO_LARGE)
        return dm_error_set(err, DM_ERR_INVALID, "%s out of range", field);
    return dm_error_set(err, DM_ERR_INVALID, "%s is not a number", field);
}

static enum dm_err map_scanned(const struct dm_jscan *js, struct dm_diamond *d,
                               struct dm_error *err)
{
    memset(d, 0, sizeof(*d));
    d->feed = DM_FEED_NIVODA;
    enum dm_err e = DM_OK;
    const int item = 0;
    if (dm_jscan_type(js, item) != DM_JOBJ)
        return dm_error_set(err, DM_ERR_INVALID, "item is not a JSON object");
    int dj = opt_object(js, item, "diamond");
    if (dj < 0)
        return dm_error_set(err, DM_ERR_INVALID, "missing diamond");
    int cj = opt_object(js, dj, "certificate");
    if (cj < 0)
        return dm_error_set(err, DM_ERR_INVALID, "missing certificate");

    d->supplier_stone_id = opt_text(js, dj, "id", false);
    if (d->supplier_stone_id == NULL) {
        e = dm_error_set(err, DM_ERR_INVALID, "missing diamond.id");
        goto out;
    }
    d->offer_id = opt_text(js, item, "id", false);
    if (d->offer_id == NULL) {
        e = dm_error_set(err, DM_ERR_INVALID, "missing item id (offer id)");
        goto out;
    }
    e = req_enum(js, cj, "shape", V_SHAPE, "certificate.shape", &d->shape, err);
    if (e != DM_OK)
        goto out;
    e = tok_decimal(js, dm_jscan_get(js, cj, "carats"), 2, &d->carats_c2);
    if (e != DM_OK) {
        e = number_error(e, "certificate.carats", err);
        goto out;
    }
    if (d->carats_c2 <= 0) {
        e = dm_error_set(err, DM_ERR_INVALID, "certificate.carats must be > 0");
        goto out;
    }
    if (d->carats_c2 > DM_CARATS_MAX_C2) {
        e = dm_error_set(err, DM_ERR_INVALID, "certificate.carats out of range");
        goto out;
    }
    e = req_enum(js, cj, "color", V_COLOUR, "certificate.color", &d->color, err);
    if (e != DM_OK)
        goto out;
    e = req_enum(js, cj, "clarity", V_CLARITY, "certificate.clarity", &d->clarity, err);
    if (e != DM_OK)
        goto out;
    e = tok_decimal(js, dm_jscan_get(js, item, "price"), 0, &d->feed_price_cents);
    if (e != DM_OK) {
        e = number_error(e, "price", err);
        goto out;
    }
    if (d->feed_price_cents < 0) {
        e = dm_error_set(err, DM_ERR_INVALID, "price must not be negative");
        goto out;
    }
    if (d->feed_price_cents > DM_MONEY_MAX_CENTS) {
        e = dm_error_set(err, DM_ERR_INVALID, "price out of range");
        goto out;
    }

    e = opt_enum(js, cj, "cut", V_GRADE, "certificate.cut", &d->cut, err);
    if (e == DM_OK)
        e = opt_enum(js, cj, "polish", V_GRADE, "certificate.polish", &d->polish, err);
    if (e == DM_OK)
        e = opt_enum(js, cj, "symmetry", V_GRADE, "certificate.symmetry", &d->symmetry, err);
    if (e != DM_OK)
        goto out;
    char *flo_int = opt_text(js, cj, "floInt", false);
    if (flo_int != NULL) {
        char *flo_col = opt_text(js, cj, "floCol", false);
        if (flo_col != NULL) {
            d->fluorescence = dm_xasprintf("%s %s", flo_int, flo_col);
            free(flo_int);
            free(flo_col);
        } else {
            d->fluorescence = flo_int;
        }
    }
    /* Booleans are read, never guessed: an unreadable treatment or lab-grown flag refuses the
     * stone rather than showing a treated stone as untreated. */
    int lg = dm_jscan_get(js, cj, "labgrown");
    e = tok_bool(js, lg, &d->lab_grown);
    if (e == DM_ERR_NOT_FOUND) {
        int t = dm_jscan_get(js, cj, "labgrown_type");
        int tt = dm_jscan_type(js, t);
        bool empty = tt == DM_JSTR && js->tok[t].end == js->tok[t].start;
        d->lab_grown = tt >= 0 && tt != DM_JNULL && tt != DM_JFALSE && !empty;
    } else if (e != DM_OK) {
        e = bool_error(js, lg, "certificate.labgrown", err);
        goto out;
    }
    int tr = dm_jscan_get(js, cj, "treated");
    e = tok_bool(js, tr, &d->treated);
    if (e == DM_ERR_NOT_FOUND) {
        d->treated = false; /* absent or null: not declared treated (feed.md §2) */
    } else if (e != DM_OK) {
        e = bool_error(js, tr, "certificate.treated", err);
        goto out;
    }
    int ec = dm_jscan_get(js, dj, "eyeClean");
    bool eye_clean = false;
    e = tok_bool(js, ec, &eye_clean);
    if (e != DM_OK && e != DM_ERR_NOT_FOUND) {
        e = bool_error(js, ec, "diamond.eyeClean", err);
        goto out;
    }
    e = DM_OK;

    d->raw_availability = opt_text(js, dj, "availability", false);
    d->availability = dm_availability_normalise(d->raw_availability);
    d->hold_id = opt_text(js, dj, "HoldId", false);
    d->image_url = opt_url(js, dj, "image", "image", d);
    d->video_url = opt_url(js, dj, "video", "video", d);
    if (d->video_url == NULL)
        d->video_url = opt_url(js, dj, "supplier_video_link", "supplier_video_link", d);
    d->certificate_lab = opt_text(js, cj, "lab", false);
    d->certificate_number = opt_text(js, cj, "certNumber", false);
    d->certificate_pdf_url = opt_url(js, cj, "pdfUrl", "pdfUrl", d);
    d->measurements = collect(js, dj, cj, MEASUREMENT_KEYS,
                              sizeof(MEASUREMENT_KEYS) / sizeof(MEASUREMENT_KEYS[0]));
    d->attributes =
        collect(js, dj, cj, ATTRIBUTE_KEYS, sizeof(ATTRIBUTE_KEYS) / sizeof(ATTRIBUTE_KEYS[0]));
    int sj = opt_object(js, dj, "supplier");
    if (sj >= 0) {
        d->supplier_name = opt_text(js, sj, "name", false);
        d->supplier_legal_name = opt_text(js, sj, "legal_name", false);
    }
    d->markup_e4 = DM_DEFAULT_MARKUP_E4;
out:
    if (e != DM_OK)
        dm_diamond_free(d);
    return e;
}

enum dm_err dm_mapping_map_text(const char *text, size_t len, struct dm_diamond *d,
                                struct dm_error *err)
{
    memset(d, 0, sizeof(*d));
    if (text == NULL || len == 0)
        return dm_error_set(err, DM_ERR_INVALID, "empty payload");
    if (len > DM_MAPPING_MAX_PAYLOAD)
        return dm_error_set(err, DM_ERR_INVALID, "payload of %zu bytes is too large", len);
    struct dm_jscan js;
    enum dm_err e = dm_jscan_parse(&js, text, len, err);
    if (e != DM_OK)
        return e;
    e = map_scanned(&js, d, err);
    dm_jscan_free(&js);
    return e;
}

enum dm_err dm_mapping_map(const json_t *item, struct dm_diamond *d, struct dm_error *err)
{
    memset(d, 0, sizeof(*d));
    if (item == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "item is not a JSON object");
    char *text = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (text == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "item is not serialisable JSON");
    enum dm_err e = dm_mapping_map_text(text, strlen(text), d, err);
    free(text);
    return e;
}

enum dm_err dm_mapping_price(struct dm_diamond *d, const struct dm_pricing_rule *rules, size_t n,
                             struct dm_error *err)
{
    struct dm_pricing_input in = {.shape = d->shape,
                                  .carats_c2 = d->carats_c2,
                                  .lab_grown = d->lab_grown,
                                  .feed = d->feed,
                                  .feed_price_cents = d->feed_price_cents};
    struct dm_pricing_result r;
    enum dm_err e = dm_pricing_apply(rules, n, &in, &r, err);
    if (e != DM_OK)
        return e;
    d->markup_e4 = r.markup_e4;
    d->rating = r.rating;
    d->retail_price_cents = r.retail_price_cents;
    d->price_per_carat_cents = r.price_per_carat_cents;
    if (r.rule_id != NULL)
        snprintf(d->pricing_rule_id, sizeof(d->pricing_rule_id), "%s", r.rule_id);
    else
        d->pricing_rule_id[0] = '\0';
    return DM_OK;
}

enum dm_err dm_copy_append_text(struct dm_buf *out, const char *s)
{
    if (s == NULL)
        return dm_buf_append(out, "\\N", 2);
    const char *run = s;
    enum dm_err e = DM_OK;
    for (const char *p = s; *p && e == DM_OK; p++) {
        char esc;
        switch (*p) {
        case '\\':
            esc = '\\';
            break;
        case '\t':
            esc = 't';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        default:
            continue;
        }
        e = dm_buf_append(out, run, (size_t)(p - run));
        if (e == DM_OK) {
            char pair[2] = {'\\', esc};
            e = dm_buf_append(out, pair, 2);
        }
        run = p + 1;
    }
    if (e == DM_OK)
        e = dm_buf_append_str(out, run);
    return e;
}

static enum dm_err col_text(struct dm_buf *b, const char *s)
{
    enum dm_err e = dm_copy_append_text(b, s);
    return e == DM_OK ? dm_buf_append_char(b, '\t') : e;
}

static enum dm_err col_fixed(struct dm_buf *b, int64_t v, int scale)
{
    char tmp[40];
    dm_format_fixed(v, scale, tmp, sizeof(tmp));
    return col_text(b, tmp);
}

static enum dm_err col_bool(struct dm_buf *b, bool v)
{
    return col_text(b, v ? "t" : "f");
}

/* The feed-derived columns, each followed by a tab. */
static enum dm_err append_canonical(const struct dm_diamond *d, struct dm_buf *b)
{
    enum dm_err e = DM_OK;
    const char *texts1[] = {d->feed, d->supplier_stone_id, d->offer_id, d->shape};
    for (size_t i = 0; e == DM_OK && i < 4; i++)
        e = col_text(b, texts1[i]);
    if (e == DM_OK)
        e = col_fixed(b, d->carats_c2, 2);
    const char *texts2[] = {d->color, d->clarity, d->cut, d->polish, d->symmetry, d->fluorescence};
    for (size_t i = 0; e == DM_OK && i < 6; i++)
        e = col_text(b, texts2[i]);
    if (e == DM_OK)
        e = col_bool(b, d->lab_grown);
    if (e == DM_OK)
        e = col_bool(b, d->treated);
    if (e == DM_OK)
        e = col_fixed(b, d->feed_price_cents, 2);
    const char *texts3[] = {dm_availability_name(d->availability),
                            d->raw_availability,
                            d->hold_id,
                            d->image_url,
                            d->video_url,
                            d->certificate_lab,
                            d->certificate_number,
                            d->certificate_pdf_url,
                            d->measurements,
                            d->attributes,
                            d->supplier_name,
                            d->supplier_legal_name};
    for (size_t i = 0; e == DM_OK && i < sizeof(texts3) / sizeof(texts3[0]); i++)
        e = col_text(b, texts3[i]);
    return e;
}

void dm_diamond_content_hash(const struct dm_diamond *d, char out[DM_SHA256_HEX_LEN])
{
    struct dm_buf b;
    dm_buf_init(&b, 4 * DM_MAPPING_MAX_PAYLOAD);
    if (append_canonical(d, &b) != DM_OK)
        dm_buf_reset(&b);
    dm_sha256_hex(b.data ? b.data : "", b.len, out);
    dm_buf_free(&b);
}

enum dm_err dm_diamond_copy_line(const struct dm_diamond *d, struct dm_buf *out,
                                 char hash[DM_SHA256_HEX_LEN])
{
    size_t start = out->len;
    enum dm_err e = append_canonical(d, out);
    char h[DM_SHA256_HEX_LEN];
    if (e == DM_OK) {
        dm_sha256_hex(out->data + start, out->len - start, h);
        e = col_fixed(out, d->price_per_carat_cents, 2);
    }
    if (e == DM_OK)
        e = col_fixed(out, d->retail_price_cents, 2);
    if (e == DM_OK)
        e = col_fixed(out, d->markup_e4, 4);
    if (e == DM_OK) {
        char r[8];
        snprintf(r, sizeof(r), "%d", d->rating);
        e = col_text(out, d->rating > 0 ? r : NULL);
    }
    if (e == DM_OK)
        e = col_text(out, d->pricing_rule_id[0] ? d->pricing_rule_id : NULL);
    if (e == DM_OK)
        e = dm_buf_append(out, h, DM_SHA256_HEX_LEN - 1);
    if (e == DM_OK)
        e = dm_buf_append_char(out, '\n');
    if (e != DM_OK) {
        /* Leave the buffer as it was: a half line would corrupt the COPY stream. */
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return e;
    }
    if (hash)
        memcpy(hash, h, DM_SHA256_HEX_LEN);
    return DM_OK;
}

/* ---- shared with the other feed formats (mapping.h) -------------------------------------- */

const char *dm_mapping_canonical(enum dm_vocab v, const char *s)
{
    static const char COLOURS[][2] = {"D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O",
                                      "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z"};
    char letter[2];
    if (s == NULL)
        return NULL;
    switch (v) {
    case DM_VOCAB_SHAPE:
        return spelling_find(s, SHAPES, sizeof(SHAPES) / sizeof(SHAPES[0]));
    case DM_VOCAB_COLOUR:
        return colour_find(s, letter) ? COLOURS[letter[0] - 'D'] : NULL;
    case DM_VOCAB_CLARITY:
        return spelling_find(s, CLARITIES, sizeof(CLARITIES) / sizeof(CLARITIES[0]));
    case DM_VOCAB_GRADE:
        return spelling_find(s, GRADES, sizeof(GRADES) / sizeof(GRADES[0]));
    }
    return NULL;
}

enum dm_err dm_mapping_decimal_text(const char *s, int scale, int64_t *out)
{
    if (s == NULL || scale < 0 || scale > 6)
        return DM_ERR_INVALID;
    return decimal_text(s, scale, out);
}

bool dm_mapping_http_url(const char *s)
{
    return s != NULL && http_url(s);
}
