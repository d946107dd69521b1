/*
 * offer.c - stone identity, listing ids, offer choice and grading clashes (see offer.h for the
 * rules; this file only implements them).
 */
#include "domain/offer.h"

#include <string.h>

#include "core/buf.h"
#include "domain/mapping.h"

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static unsigned char upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

static bool is_upper_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Labs as they appear in supplier files, compacted (upper case, no separators), and the name the
 * key uses. EGL USA and EGL International are different labs, so only the bare "EGL" and its
 * full name fold together. */
static const struct {
    const char *alias, *lab;
} lab_aliases[] = {
    {"GIA", "GIA"},
    {"GEMOLOGICALINSTITUTEOFAMERICA", "GIA"},
    {"GIALAB", "GIA"},
    {"IGI", "IGI"},
    {"INTERNATIONALGEMOLOGICALINSTITUTE", "IGI"},
    {"HRD", "HRD"},
    {"HRDANTWERP", "HRD"},
    {"AGS", "AGS"},
    {"AGSL", "AGS"},
    {"AMERICANGEMSOCIETY", "AGS"},
    {"AMERICANGEMSOCIETYLABORATORIES", "AGS"},
    {"GCAL", "GCAL"},
    {"GEMCERTIFICATIONANDASSURANCELAB", "GCAL"},
    {"GSI", "GSI"},
    {"GEMOLOGICALSCIENCEINTERNATIONAL", "GSI"},
    {"EGL", "EGL"},
    {"EUROPEANGEMOLOGICALLABORATORY", "EGL"},
};

/* Values suppliers put in the lab column of an uncertified stone. */
static const char *const lab_placeholders[] = {
    "NONE", "NA", "NIL", "NULL", "NOCERT", "NONCERT", "UNCERTIFIED", "OTHER", "NOLAB",
};

static const char *const number_placeholders[] = {"NA", "NONE", "NIL", "NULL"};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

bool dm_offer_normalise_lab(const char *lab, char out[DM_OFFER_LAB_MAX])
{
    /* Compacted form, long enough for the longest alias; longer input cannot be a known lab
     * and is refused once it passes the key's limit. */
    char c[64];
    size_t n = 0;
    out[0] = '\0';
    if (lab == NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)lab; *p; p++) {
        unsigned char ch = upper(*p);
        if (is_space(ch) || ch == '.' || ch == '-' || ch == '_' || ch == '/')
            continue;
        if (!is_upper_alnum(ch) || n + 1 >= sizeof(c))
            return false;
        c[n++] = (char)ch;
    }
    c[n] = '\0';
    if (n == 0 ||
        in_list(c, lab_placeholders, sizeof(lab_placeholders) / sizeof(*lab_placeholders)))
        return false;
    for (size_t i = 0; i < sizeof(lab_aliases) / sizeof(*lab_aliases); i++) {
        if (strcmp(c, lab_aliases[i].alias) == 0) {
            (void)!dm_strlcpy(out, lab_aliases[i].lab, DM_OFFER_LAB_MAX);
            return true;
        }
    }
    if (n >= DM_OFFER_LAB_MAX)
        return false;
    memcpy(out, c, n + 1);
    return true;
}

bool dm_offer_normalise_cert_number(const char *number, char out[DM_OFFER_CERT_MAX])
{
    size_t n = 0;
    bool nonzero = false;
    out[0] = '\0';
    if (number == NULL)
        return false;
    const unsigned char *p = (const unsigned char *)number;
    while (is_space(*p))
        p++;
    if (*p == '#')
        p++;
    for (; *p; p++) {
        unsigned char ch = upper(*p);
        if (is_space(ch) || ch == '-')
            continue;
        if (!is_upper_alnum(ch) || n + 1 >= DM_OFFER_CERT_MAX) {
            out[0] = '\0';
            return false;
        }
        if (ch != '0')
            nonzero = true;
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    if (n == 0 || !nonzero ||
        in_list(out, number_placeholders,
                sizeof(number_placeholders) / sizeof(*number_placeholders))) {
        out[0] = '\0';
        return false;
    }
    return true;
}

enum dm_err dm_offer_feed_identity(const char *feed, const char *supplier_stone_id,
                                   struct dm_stone_identity *out, struct dm_error *err)
{
    out->kind = DM_IDENTITY_FEED;
    out->key[0] = '\0';
    if (feed == NULL || feed[0] == '\0')
        return dm_error_set(err, DM_ERR_INVALID, "identity: empty feed id");
    if (supplier_stone_id == NULL || supplier_stone_id[0] == '\0')
        return dm_error_set(err, DM_ERR_INVALID, "identity: empty supplier stone id");
    size_t fl = strlen(feed), sl = strlen(supplier_stone_id);
    if (fl >= DM_OFFER_FEED_MAX)
        return dm_error_set(err, DM_ERR_TOO_LARGE, "identity: feed id longer than %d bytes",
                            DM_OFFER_FEED_MAX - 1);
    for (size_t i = 0; i < fl; i++) {
        unsigned char c = upper((unsigned char)feed[i]);
        if (!is_upper_alnum(c) && c != '_' && c != '-')
            return dm_error_set(err, DM_ERR_INVALID,
                                "identity: feed id '%s' has a character outside [A-Za-z0-9_-]",
                                feed);
    }
    if (sl >= DM_OFFER_SUPPLIER_ID_MAX)
        return dm_error_set(err, DM_ERR_TOO_LARGE,
                            "identity: supplier stone id longer than %d bytes",
                            DM_OFFER_SUPPLIER_ID_MAX - 1);
    for (size_t i = 0; i < sl; i++)
        if ((unsigned char)supplier_stone_id[i] < 0x20 || supplier_stone_id[i] == 0x7f)
            return dm_error_set(err, DM_ERR_INVALID,
                                "identity: supplier stone id has a control byte at offset %zu", i);
    /* Lengths are checked above, so the key always fits. */
    memcpy(out->key, "feed:", 5);
    memcpy(out->key + 5, feed, fl);
    out->key[5 + fl] = ':';
    memcpy(out->key + 6 + fl, supplier_stone_id, sl + 1);
    return DM_OK;
}

enum dm_err dm_offer_identity(const char *feed, const char *supplier_stone_id, const char *lab,
                              const char *number, struct dm_stone_identity *out,
                              struct dm_error *err)
{
    char l[DM_OFFER_LAB_MAX], c[DM_OFFER_CERT_MAX];
    if (dm_offer_normalise_lab(lab, l) && dm_offer_normalise_cert_number(number, c)) {
        size_t ll = strlen(l), cl = strlen(c);
        out->kind = DM_IDENTITY_CERT;
        memcpy(out->key, "cert:", 5);
        memcpy(out->key + 5, l, ll);
        out->key[5 + ll] = ':';
        memcpy(out->key + 6 + ll, c, cl + 1);
        return DM_OK;
    }
    return dm_offer_feed_identity(feed, supplier_stone_id, out, err);
}

enum dm_err dm_offer_identity_of(const struct dm_diamond *d, struct dm_stone_identity *out,
                                 struct dm_error *err)
{
    return dm_offer_identity(d->feed, d->supplier_stone_id, d->certificate_lab,
                             d->certificate_number, out, err);
}

void dm_offer_listing_id(const char *key, char out[DM_UUID_LEN])
{
    /* The namespace UUID as bytes, then the key: a name-based UUID as RFC 9562 §5.8 shows for
     * SHA-256 (version 8, since version 5 is defined over SHA-1). */
    static const char ns[] = DM_LISTING_NAMESPACE;
    uint8_t buf[16 + DM_LISTING_KEY_MAX];
    uint8_t h[DM_SHA256_LEN];
    size_t n = 0;
    for (size_t i = 0; ns[i] && n < 16; i++) {
        if (ns[i] == '-')
            continue;
        int hi = ns[i] <= '9' ? ns[i] - '0' : ns[i] - 'a' + 10;
        int lo = ns[i + 1] <= '9' ? ns[i + 1] - '0' : ns[i + 1] - 'a' + 10;
        buf[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    size_t kl = strnlen(key, DM_LISTING_KEY_MAX - 1);
    memcpy(buf + 16, key, kl);
    dm_sha256(buf, 16 + kl, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    dm_uuid_format(h, out);
}

enum dm_err dm_offer_policy_parse(const char *s, enum dm_offer_policy *out, struct dm_error *err)
{
    if (s == NULL || s[0] == '\0') {
        *out = DM_OFFER_POLICY_DEFAULT;
        return DM_OK;
    }
    if (strcmp(s, "lowest_retail") == 0) {
        *out = DM_OFFER_POLICY_LOWEST_RETAIL;
        return DM_OK;
    }
    if (strcmp(s, "feed_priority") == 0) {
        *out = DM_OFFER_POLICY_FEED_PRIORITY;
        return DM_OK;
    }
    return dm_error_set(err, DM_ERR_INVALID,
                        "OFFER_POLICY '%.64s' is not one of lowest_retail, feed_priority", s);
}

const char *dm_offer_policy_name(enum dm_offer_policy p)
{
    return p == DM_OFFER_POLICY_FEED_PRIORITY ? "feed_priority" : "lowest_retail";
}

void dm_offer_from_diamond(const struct dm_diamond *d, int feed_priority, struct dm_offer *o)
{
    *o = (struct dm_offer){
        .feed = d->feed,
        .supplier_stone_id = d->supplier_stone_id,
        .feed_priority = feed_priority,
        .retail_price_cents = d->retail_price_cents,
        .availability = d->availability,
        .updated_at = 0,
        .carats_c2 = d->carats_c2,
        .color = d->color,
        .clarity = d->clarity,
        .shape = d->shape,
    };
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

/* Lower price first; a negative (not priced) after every price. */
static int cmp_price(int64_t a, int64_t b)
{
    if ((a < 0) != (b < 0))
        return a < 0 ? 1 : -1;
    return cmp_i64(a, b);
}

static int sgn(int v)
{
    return (v > 0) - (v < 0);
}

int dm_offer_compare(const struct dm_offer *a, const struct dm_offer *b, enum dm_offer_policy p)
{
    bool aa = a->availability == DM_AVAIL_AVAILABLE, ba = b->availability == DM_AVAIL_AVAILABLE;
    if (aa != ba)
        return aa ? -1 : 1;
    int c;
    int prio = cmp_i64(b->feed_priority, a->feed_priority); /* higher first */
    int price = cmp_price(a->retail_price_cents, b->retail_price_cents);
    if (p == DM_OFFER_POLICY_FEED_PRIORITY) {
        if (prio != 0)
            return prio;
        if (price != 0)
            return price;
    } else {
        if (price != 0)
            return price;
        if (prio != 0)
            return prio;
    }
    if ((c = strcmp(a->feed, b->feed)) != 0)
        return sgn(c);
    return sgn(strcmp(a->supplier_stone_id, b->supplier_stone_id));
}

size_t dm_offer_choose(const struct dm_offer *offers, size_t n, enum dm_offer_policy p)
{
    size_t best = 0;
    if (n == 0)
        return n;
    for (size_t i = 1; i < n; i++)
        if (dm_offer_compare(&offers[i], &offers[best], p) < 0)
            best = i;
    return best;
}

/* ASCII case-insensitive equality, NULL equal only to NULL. */
static bool same_grade(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    for (; *a && *b; a++, b++)
        if (upper((unsigned char)*a) != upper((unsigned char)*b))
            return false;
    return *a == *b;
}

unsigned dm_offer_grading_clash(const struct dm_offer *a, const struct dm_offer *b)
{
    unsigned m = 0;
    int64_t d = a->carats_c2 - b->carats_c2;
    if (d > 1 || d < -1)
        m |= DM_CLASH_CARAT;
    if (!same_grade(a->color, b->color))
        m |= DM_CLASH_COLOUR;
    if (!same_grade(a->clarity, b->clarity))
        m |= DM_CLASH_CLARITY;
    if (!same_grade(a->shape, b->shape))
        m |= DM_CLASH_SHAPE;
    return m;
}

enum dm_err dm_offer_clash_names(unsigned mask, char *out, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {DM_CLASH_CARAT, "carat"},
        {DM_CLASH_COLOUR, "colour"},
        {DM_CLASH_CLARITY, "clarity"},
        {DM_CLASH_SHAPE, "shape"},
    };
    size_t n = 0;
    if (size == 0)
        return DM_ERR_TOO_LARGE;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if (!(mask & names[i].bit))
            continue;
        size_t l = strlen(names[i].name) + (n > 0);
        if (n + l + 1 > size) {
            out[0] = '\0';
            return DM_ERR_TOO_LARGE;
        }
        if (n > 0)
            out[n++] = ',';
        memcpy(out + n, names[i].name, strlen(names[i].name) + 1);
        n += strlen(names[i].name);
    }
    return DM_OK;
}

/* The grading authority order: highest feed priority, then feed id, then supplier stone id. */
static int cmp_authority(const struct dm_offer *a, const struct dm_offer *b)
{
    int c = cmp_i64(b->feed_priority, a->feed_priority);
    if (c != 0)
        return c;
    if ((c = strcmp(a->feed, b->feed)) != 0)
        return sgn(c);
    return sgn(strcmp(a->supplier_stone_id, b->supplier_stone_id));
}

size_t dm_offer_resolve_clashes(const struct dm_offer *offers, size_t n, unsigned *clash)
{
    size_t ref = 0;
    if (n == 0)
        return n;
    for (size_t i = 1; i < n; i++)
        if (cmp_authority(&offers[i], &offers[ref]) < 0)
            ref = i;
    for (size_t i = 0; i < n; i++)
        clash[i] = i == ref ? 0 : dm_offer_grading_clash(&offers[i], &offers[ref]);
    return ref;
}
