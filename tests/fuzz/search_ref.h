/*
 * search_ref.h - a brute-force reference for the search index (domain/search_index.h), shared by
 * unit.test_search_index and the fuzz driver fuzz_search_index: a model catalogue of plain C
 * stones with nasty values (lower-case and unknown grades, NULL optional columns, ties in every
 * sort key, duplicate certificate numbers), their PostgreSQL binary column encoding (what the
 * follower feeds the index), and the answer of a search computed the slow, obvious way: filter
 * every stone as search_query.c's SQL does, sort by (key, id), skip, take.
 *
 * Header-only (static functions) so both a cmocka test and a libFuzzer driver can include it.
 */
#ifndef DM_TESTS_SEARCH_REF_H
#define DM_TESTS_SEARCH_REF_H

#include <ctype.h>
#include <stddef.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/num.h"
#include "domain/search_index.h"
#include "domain/search_query.h"

#define REF_MAX 4096

struct ref_stone {
    bool live;
    uint8_t id[16];
    int64_t seq;
    const char *feed, *shape, *color, *clarity, *cut, *polish, *symmetry, *fluorescence;
    const char *availability, *cert_lab;
    char ssid[24], cert[24];
    bool has_cert;
    int32_t carats;                  /* hundredths */
    int64_t retail, feed_price, ppc; /* cents */
    int64_t created_us;              /* Unix µs */
    bool lab_grown;
    int json_kind;
};

struct ref_cat {
    struct ref_stone s[REF_MAX];
    int n;
    int64_t seq;
    uint64_t rng;
};

static __attribute__((unused)) uint32_t ref_rand(struct ref_cat *c)
{
    c->rng = c->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(c->rng >> 33);
}
static __attribute__((unused)) uint32_t ref_pick(struct ref_cat *c, uint32_t n)
{
    return n ? ref_rand(c) % n : 0;
}

static const char *const REF_FEEDS[] = {"nivoda", "acme"};
static const char *const REF_SHAPES[] = {"ROUND", "OVAL", "PEAR", "round", "HEART"};
static const char *const REF_COLORS[] = {"D", "E", "F", "g", "h", "N", "fancy", "Z"};
static const char *const REF_CLARITIES[] = {"FL", "IF", "VS1", "vs2", "SI1", "I3", "weird"};
static const char *const REF_GRADES[] = {NULL, "EX", "VG", "gd", "NONE", "Faint"};
static const char *const REF_AVAIL[] = {"available", "on_hold", "sold", "unavailable"};
static const char *const REF_LABS[] = {NULL, "GIA", "IGI"};
#define REF_N(a) (sizeof(a) / sizeof(a[0]))
#define REF_ANY(c, a) ((a)[ref_pick((c), REF_N(a))])

static __attribute__((unused)) void ref_random_stone(struct ref_cat *c, struct ref_stone *s,
                                                     bool new_id)
{
    if (new_id)
        for (int i = 0; i < 16; i++)
            s->id[i] = (uint8_t)ref_pick(c, i == 0 ? 4 : 256); /* first byte small: id8 ties */
    s->live = true;
    s->seq = ++c->seq;
    s->feed = REF_ANY(c, REF_FEEDS);
    s->shape = REF_ANY(c, REF_SHAPES);
    s->color = REF_ANY(c, REF_COLORS);
    s->clarity = REF_ANY(c, REF_CLARITIES);
    s->cut = REF_ANY(c, REF_GRADES);
    s->polish = REF_ANY(c, REF_GRADES);
    s->symmetry = REF_ANY(c, REF_GRADES);
    s->fluorescence = REF_ANY(c, REF_GRADES);
    s->availability = REF_ANY(c, REF_AVAIL);
    s->cert_lab = REF_ANY(c, REF_LABS);
    snprintf(s->ssid, sizeof(s->ssid), "s%u", ref_pick(c, 100000));
    s->has_cert = ref_pick(c, 5) != 0;
    snprintf(s->cert, sizeof(s->cert), "C%u", ref_pick(c, 300)); /* duplicates on purpose */
    s->carats = 20 + (int32_t)ref_pick(c, 40) * 7;               /* ties */
    s->feed_price = 10000 + (int64_t)ref_pick(c, 500) * 137;
    s->retail = ref_pick(c, 3) ? s->feed_price * 115 / 100 : 99900; /* many ties at 999.00 */
    s->ppc = s->feed_price * 100 / s->carats;
    s->created_us = 1735689600000000LL + (int64_t)ref_pick(c, 50) * 1000000 +
                    (ref_pick(c, 2) ? (int64_t)ref_pick(c, 999999) : 0);
    s->lab_grown = ref_pick(c, 2);
    s->json_kind = (int)ref_pick(c, 4);
}

static __attribute__((unused)) void ref_init(struct ref_cat *c, uint64_t seed, int n)
{
    memset(c, 0, sizeof(*c));
    c->rng = seed * 2654435761ULL + 1;
    c->n = n > REF_MAX ? REF_MAX : n;
    for (int i = 0; i < c->n; i++)
        ref_random_stone(c, &c->s[i], true);
}

/* ---- binary encoding (PostgreSQL send formats) ---- */

struct ref_row {
    const char *v[DM_SC_COUNT];
    size_t l[DM_SC_COUNT];
    char buf[DM_SC_COUNT][96];
};

static __attribute__((unused)) void ref_be(char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

static __attribute__((unused)) void ref_numeric(struct ref_row *r, int col, int64_t units,
                                                int scale)
{
    /* units * 10^-scale as base-10000 digits: scale the value to 4 decimals. */
    int64_t v = units;
    for (int i = scale; i < 4; i++)
        v *= 10;
    bool neg = v < 0;
    uint64_t u = neg ? (uint64_t)-v : (uint64_t)v;
    int d[8], nd = 0;
    uint64_t frac = u % 10000, ip = u / 10000;
    int ipd[6], nip = 0;
    while (ip) {
        ipd[nip++] = (int)(ip % 10000);
        ip /= 10000;
    }
    for (int i = nip - 1; i >= 0; i--)
        d[nd++] = ipd[i];
    d[nd++] = (int)frac;
    int weight = nip - 1;
    /* trim trailing zero digits and leading zero digits (PostgreSQL stores neither) */
    while (nd > 0 && d[nd - 1] == 0)
        nd--;
    int lead = 0;
    while (lead < nd && d[lead] == 0) {
        lead++;
        weight--;
    }
    char *p = r->buf[col];
    ref_be(p, (uint64_t)(nd - lead), 2);
    ref_be(p + 2, (uint64_t)(uint16_t)(nd - lead ? weight : 0), 2);
    ref_be(p + 4, neg ? 0x4000 : 0, 2);
    ref_be(p + 6, (uint64_t)scale, 2);
    for (int i = lead; i < nd; i++)
        ref_be(p + 8 + 2 * (i - lead), (uint64_t)d[i], 2);
    r->v[col] = p;
    r->l[col] = 8 + 2 * (size_t)(nd - lead);
}

static __attribute__((unused)) void ref_text(struct ref_row *r, int col, const char *t)
{
    r->v[col] = t;
    r->l[col] = t ? strlen(t) : 0;
}

/* A column of n bytes holding v big-endian (n = 1: a bool). */
static __attribute__((unused)) void ref_bin(struct ref_row *r, int col, uint64_t v, int n)
{
    ref_be(r->buf[col], v, n);
    r->v[col] = r->buf[col];
    r->l[col] = (size_t)n;
}

static const char *const REF_JSON[] = {"\x01{\"depth\": 4.0, \"width\": null, \"tags\": [1, null]}",
                                       "\x01null", "\x01{\"a\": {\"b\": null}, \"c\": \"q\\\"x\"}",
                                       NULL};

static __attribute__((unused)) void ref_encode(const struct ref_stone *s, struct ref_row *r)
{
    memset(r, 0, sizeof(*r));
    r->v[DM_SC_ID] = (const char *)s->id;
    r->l[DM_SC_ID] = 16;
    ref_bin(r, DM_SC_CHANGE_SEQ, (uint64_t)s->seq, 8);
    ref_bin(r, DM_SC_STATUS, s->live, 1);
    ref_text(r, DM_SC_FEED, s->feed);
    ref_text(r, DM_SC_SUPPLIER_STONE_ID, s->ssid);
    ref_text(r, DM_SC_OFFER_ID, "offer \"1\"\n\\x");
    ref_text(r, DM_SC_SHAPE, s->shape);
    ref_numeric(r, DM_SC_CARATS, s->carats, 2);
    ref_text(r, DM_SC_COLOR, s->color);
    ref_text(r, DM_SC_CLARITY, s->clarity);
    ref_text(r, DM_SC_CUT, s->cut);
    ref_text(r, DM_SC_POLISH, s->polish);
    ref_text(r, DM_SC_SYMMETRY, s->symmetry);
    ref_text(r, DM_SC_FLUORESCENCE, s->fluorescence);
    ref_bin(r, DM_SC_LAB_GROWN, s->lab_grown, 1);
    ref_bin(r, DM_SC_TREATED, 0, 1);
    ref_numeric(r, DM_SC_FEED_PRICE, s->feed_price, 2);
    ref_numeric(r, DM_SC_PRICE_PER_CARAT, s->ppc, 2);
    ref_numeric(r, DM_SC_RETAIL_PRICE, s->retail, 2);
    ref_numeric(r, DM_SC_MARKUP_RATIO, 11500, 4);
    ref_text(r, DM_SC_AVAILABILITY, s->availability);
    ref_text(r, DM_SC_CERTIFICATE_LAB, s->cert_lab);
    ref_text(r, DM_SC_CERTIFICATE_NUMBER, s->has_cert ? s->cert : NULL);
    ref_text(r, DM_SC_IMAGE_URL, "https://img.example/\u00e9\t.jpg");
    ref_text(r, DM_SC_MEASUREMENTS, REF_JSON[s->json_kind]);
    ref_bin(r, DM_SC_CREATED_AT, (uint64_t)(s->created_us - 946684800000000LL), 8);
    ref_bin(r, DM_SC_UPDATED_AT, (uint64_t)(s->created_us - 946684800000000LL + 5), 8);
    ref_bin(r, DM_SC_CREATED_OFF, 0, 4); /* UTC */
    ref_bin(r, DM_SC_UPDATED_OFF, 0, 4);
}

static struct dm_stone *ref_parse(struct dm_search_index *ix, const struct ref_stone *s,
                                  bool *deleted)
{
    struct ref_row r;
    ref_encode(s, &r);
    struct dm_stone *out = NULL;
    struct dm_error err = {0};
    if (dm_stone_parse(ix, r.v, r.l, &out, deleted, &err) != DM_OK) {
        fprintf(stderr, "ref: stone refused: %s\n", err.message);
        abort();
    }
    return out;
}

/* Load the whole model into the index. */
static __attribute__((unused)) void ref_build(struct ref_cat *c, struct dm_search_index *ix)
{
    struct dm_stone **recs = calloc((size_t)c->n + 1, sizeof(*recs));
    size_t n = 0;
    for (int i = 0; i < c->n; i++) {
        bool del;
        if (c->s[i].live)
            recs[n++] = ref_parse(ix, &c->s[i], &del);
    }
    struct dm_error err = {0};
    if (dm_search_index_build(ix, recs, n, c->seq, &err) != DM_OK)
        abort();
    free(recs);
}

/* Apply one batch of n parsed rows (del[i]: row i removes its stone) up to seq; frees both
 * arrays. */
static void ref_apply(struct dm_search_index *ix, struct dm_stone **recs, bool *del, size_t n,
                      int64_t seq)
{
    struct dm_error err = {0};
    if (dm_search_index_apply(ix, recs, del, n, seq, &err) != DM_OK)
        abort();
    free(recs);
    free(del);
}

/* Change k random stones of the model (update, delete, revive, insert) and apply the same rows
 * to the index as one batch (also a stale row, which must be ignored). */
static __attribute__((unused)) void ref_churn(struct ref_cat *c, struct dm_search_index *ix, int k)
{
    struct dm_stone **recs = calloc((size_t)k * 2 + 2, sizeof(*recs));
    bool *del = calloc((size_t)k * 2 + 2, sizeof(bool));
    size_t n = 0;
    for (int j = 0; j < k; j++) {
        int op = (int)ref_pick(c, 4);
        struct ref_stone *s;
        if (op == 3 && c->n < REF_MAX) {
            s = &c->s[c->n++];
            ref_random_stone(c, s, true);
        } else {
            s = &c->s[ref_pick(c, (uint32_t)c->n)];
            if (op == 0) {
                s->live = false;
                s->seq = ++c->seq;
            } else {
                ref_random_stone(c, s, false);
            }
        }
        recs[n] = ref_parse(ix, s, &del[n]);
        n++;
        /* An older version of the same row arriving late (the follower can read a row's
         * version again; it never reads a version older than one it applied, and a removed
         * stone stays in the table as status 'deleted', so only updates are re-read). */
        if (j == 0 && s->live) {
            struct ref_stone old = *s;
            old.seq = s->seq - 1;
            old.retail = 1;
            old.live = true;
            recs[n] = ref_parse(ix, &old, &del[n]);
            n++;
        }
    }
    ref_apply(ix, recs, del, n, c->seq);
}

/* A reprice: k random live stones get a new retail price and nothing else changes, so only the
 * price order moves (the index copies the other orders instead of merging them). */
static __attribute__((unused)) void ref_reprice(struct ref_cat *c, struct dm_search_index *ix,
                                                int k)
{
    struct dm_stone **recs = calloc((size_t)k + 1, sizeof(*recs));
    bool *del = calloc((size_t)k + 1, sizeof(bool));
    size_t n = 0;
    for (int j = 0; j < k; j++) {
        struct ref_stone *s = &c->s[ref_pick(c, (uint32_t)c->n)];
        if (!s->live)
            continue;
        s->retail = 50000 + (int64_t)ref_pick(c, 90) * 1000; /* ties again */
        s->seq = ++c->seq;
        recs[n] = ref_parse(ix, s, &del[n]);
        n++;
    }
    ref_apply(ix, recs, del, n, c->seq);
}

/* ---- the reference answer ---- */

static __attribute__((unused)) void ref_upper(const char *s, char *out, size_t size)
{
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    out[i] = '\0';
}

static __attribute__((unused)) bool ref_in(const struct dm_sq_list *l, const char *v, bool upper)
{
    if (v == NULL)
        return false;
    char u[64];
    if (upper)
        ref_upper(v, u, sizeof(u));
    else
        snprintf(u, sizeof(u), "%s", v);
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], u))
            return true;
    return false;
}

/* The text facets, by dimension (ref_match's numbering): where the stone's value and the
 * query's filter list are, and whether the value compares upper-cased (grades) or as written. */
static const struct {
    size_t stone, query;
    bool upper;
} REF_TEXT_DIMS[] = {
    {offsetof(struct ref_stone, shape), offsetof(struct dm_search_query, shape), false},
    {offsetof(struct ref_stone, color), offsetof(struct dm_search_query, color), true},
    {offsetof(struct ref_stone, clarity), offsetof(struct dm_search_query, clarity), true},
    {offsetof(struct ref_stone, cut), offsetof(struct dm_search_query, cut), true},
    {offsetof(struct ref_stone, polish), offsetof(struct dm_search_query, polish), true},
    {offsetof(struct ref_stone, symmetry), offsetof(struct dm_search_query, symmetry), true},
    {offsetof(struct ref_stone, fluorescence), offsetof(struct dm_search_query, fluorescence),
     true},
    {offsetof(struct ref_stone, availability), offsetof(struct dm_search_query, availability),
     false},
    {offsetof(struct ref_stone, feed), offsetof(struct dm_search_query, feed), false},
};
#define REF_TEXT_DIM_COUNT ((int)REF_N(REF_TEXT_DIMS))

static __attribute__((unused)) const char *ref_dim_value(const struct ref_stone *s, int dim)
{
    return *(const char *const *)((const char *)s + REF_TEXT_DIMS[dim].stone);
}

static __attribute__((unused)) const struct dm_sq_list *
ref_dim_list(const struct dm_search_query *q, int dim)
{
    return (const struct dm_sq_list *)((const char *)q + REF_TEXT_DIMS[dim].query);
}

/* dim: -1 none skipped; else the facet dimension whose own filter is ignored (0 shape, 1 color,
 * 2 clarity, 3 cut, 4 polish, 5 symmetry, 6 fluorescence, 7 availability, 8 feed, 9 lab,
 * 10 carats range, 11 price range). */
static __attribute__((unused)) bool ref_match(const struct ref_stone *s,
                                              const struct dm_search_query *q, int skip)
{
    if (!s->live)
        return false;
    for (int d = 0; d < REF_TEXT_DIM_COUNT; d++) {
        const struct dm_sq_list *l = ref_dim_list(q, d);
        if (skip != d && l->n && !ref_in(l, ref_dim_value(s, d), REF_TEXT_DIMS[d].upper))
            return false;
    }
    if (skip != 9 && q->lab_grown >= 0 && s->lab_grown != (q->lab_grown == 1))
        return false;
    int64_t ct = (int64_t)s->carats * 100;
    if (skip != 10 &&
        ((q->has_carat_min && ct < q->carat_min) || (q->has_carat_max && ct > q->carat_max)))
        return false;
    if (skip != 11 && ((q->has_price_min && s->retail < q->price_min) ||
                       (q->has_price_max && s->retail > q->price_max)))
        return false;
    if (q->certificate_number.n && !(s->has_cert && ref_in(&q->certificate_number, s->cert, false)))
        return false;
    if (q->supplier_stone_id.n && !ref_in(&q->supplier_stone_id, s->ssid, false))
        return false;
    return true;
}

static __attribute__((unused)) int ref_rank(const char *v, const char *const *grades, int n)
{
    char u[64];
    ref_upper(v, u, sizeof(u));
    for (int i = 0; i < n; i++)
        if (!strcmp(u, grades[i]))
            return i + 1;
    return 99;
}

static __attribute__((unused)) int64_t ref_key(const struct ref_stone *s, int sort)
{
    static const char *const colors[] = {"D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O",
                                         "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z"};
    static const char *const clar[] = {"FL",  "IF",  "VVS1", "VVS2", "VS1", "VS2",
                                       "SI1", "SI2", "SI3",  "I1",   "I2",  "I3"};
    switch (sort) {
    case DM_SQ_SORT_CREATED_AT:
        return s->created_us;
    case DM_SQ_SORT_RETAIL_PRICE:
        return s->retail;
    case DM_SQ_SORT_FEED_PRICE:
        return s->feed_price;
    case DM_SQ_SORT_CARATS:
        return s->carats;
    case DM_SQ_SORT_COLOR:
        return ref_rank(s->color, colors, 23);
    default:
        return ref_rank(s->clarity, clar, 12);
    }
}

static const struct dm_search_query *ref_q;
static const struct ref_cat *ref_c;
static __attribute__((unused)) int ref_cmp(const void *pa, const void *pb)
{
    const struct ref_stone *a = &ref_c->s[*(const int *)pa], *b = &ref_c->s[*(const int *)pb];
    int64_t ka = ref_key(a, ref_q->sort), kb = ref_key(b, ref_q->sort);
    int r = ka != kb ? (ka < kb ? -1 : 1) : memcmp(a->id, b->id, 16);
    return ref_q->desc ? -r : r;
}

/* Matching stones in order (indexes into c->s), after the cursor stone if after >= 0. */
static __attribute__((unused)) int ref_search(const struct ref_cat *c,
                                              const struct dm_search_query *q, int *out, int *total)
{
    int n = 0;
    for (int i = 0; i < c->n; i++)
        if (ref_match(&c->s[i], q, -1))
            out[n++] = i;
    *total = n;
    ref_q = q;
    ref_c = c;
    qsort(out, (size_t)n, sizeof(int), ref_cmp);
    return n;
}

static __attribute__((unused)) bool ref_uuid_parse(const char *t, uint8_t out[16])
{
    int k = 0;
    for (int i = 0; t[i] && k < 32; i++) {
        if (t[i] == '-')
            continue;
        int v = isdigit((unsigned char)t[i]) ? t[i] - '0' : tolower((unsigned char)t[i]) - 'a' + 10;
        if (v < 0 || v > 15)
            return false;
        if (k % 2 == 0)
            out[k / 2] = (uint8_t)(v << 4);
        else
            out[k / 2] |= (uint8_t)v;
        k++;
    }
    return k == 32;
}

/* A random shopper query as (key, value) pairs, parsed by the real parser. */
struct ref_args {
    int n;
    char k[40][32];
    char v[40][64];
};

static __attribute__((unused)) void ref_arg(struct ref_args *a, const char *k, const char *v)
{
    if (a->n >= 40)
        return;
    snprintf(a->k[a->n], sizeof(a->k[a->n]), "%s", k);
    snprintf(a->v[a->n], sizeof(a->v[a->n]), "%s", v);
    a->n++;
}

static __attribute__((unused)) void ref_random_args(struct ref_cat *c, struct ref_args *a)
{
    static const char *const sorts[] = {
        "created_at", "retail_price", "feed_price", "price_model_price",
        "carats",     "color",        "clarity"};
    char num[32];
    memset(a, 0, sizeof(*a));
    if (ref_pick(c, 2))
        for (uint32_t i = 0, n = 1 + ref_pick(c, 3); i < n; i++)
            ref_arg(a, "shape", REF_ANY(c, REF_SHAPES));
    if (ref_pick(c, 2))
        for (uint32_t i = 0, n = 1 + ref_pick(c, 3); i < n; i++)
            ref_arg(a, "color[]", REF_ANY(c, REF_COLORS));
    if (ref_pick(c, 3) == 0)
        ref_arg(a, "clarity", "vs1,SI1,weird");
    if (ref_pick(c, 4) == 0)
        ref_arg(a, "cut", REF_GRADES[1 + ref_pick(c, REF_N(REF_GRADES) - 1)]);
    if (ref_pick(c, 6) == 0)
        ref_arg(a, "fluorescence", "faint");
    if (ref_pick(c, 6) == 0)
        ref_arg(a, "symmetry", "EX,vg");
    if (ref_pick(c, 6) == 0)
        ref_arg(a, "polish", "gd");
    if (ref_pick(c, 4) == 0)
        ref_arg(a, "availability", REF_ANY(c, REF_AVAIL));
    if (ref_pick(c, 5) == 0)
        ref_arg(a, "feed", REF_ANY(c, REF_FEEDS));
    if (ref_pick(c, 3) == 0)
        ref_arg(a, "lab_grown", ref_pick(c, 2) ? "true" : "false");
    if (ref_pick(c, 2)) {
        int lo = 20 + (int)ref_pick(c, 200);
        snprintf(num, sizeof(num), "%d.%02d", lo / 100, lo % 100);
        ref_arg(a, "carat_min", num);
    }
    if (ref_pick(c, 2)) {
        int hi = 100 + (int)ref_pick(c, 200);
        snprintf(num, sizeof(num), "%d.%d%d", hi / 100, hi / 10 % 10, (int)ref_pick(c, 10));
        ref_arg(a, "carat_max", num);
    }
    if (ref_pick(c, 3) == 0) {
        snprintf(num, sizeof(num), "%u", 100 + ref_pick(c, 500));
        ref_arg(a, "price_min", num);
    }
    if (ref_pick(c, 3) == 0) {
        snprintf(num, sizeof(num), "%u.50", 300 + ref_pick(c, 800));
        ref_arg(a, "price_max", num);
    }
    if (ref_pick(c, 10) == 0) {
        snprintf(num, sizeof(num), "C%u", ref_pick(c, 300));
        ref_arg(a, "certificate_number", num);
    }
    if (ref_pick(c, 4))
        ref_arg(a, "sort_by", sorts[ref_pick(c, REF_N(sorts))]);
    if (ref_pick(c, 2))
        ref_arg(a, "sort_order", ref_pick(c, 2) ? "asc" : "desc");
    snprintf(num, sizeof(num), "%u", 1 + ref_pick(c, ref_pick(c, 8) ? 5 : 60));
    ref_arg(a, "page", num);
    snprintf(num, sizeof(num), "%u", 1 + ref_pick(c, 100));
    ref_arg(a, "limit", num);
}

static __attribute__((unused)) bool ref_parse_args(const struct ref_args *a,
                                                   struct dm_search_query *q)
{
    const char *k[41], *v[41];
    for (int i = 0; i < a->n; i++) {
        k[i] = a->k[i];
        v[i] = a->v[i];
    }
    struct dm_sq_error e;
    return dm_search_query_parse(k, v, a->n, q, &e) == DM_OK;
}

/* The cursor's key in the reference's units scaled by 100 for money and carats (so the
 * 4-decimal cursor text compares exactly), or the rank / Unix µs. */
static __attribute__((unused)) bool ref_cursor_key(const struct dm_search_query *q, int64_t *out)
{
    const char *k = q->cursor_key;
    if (q->sort == DM_SQ_SORT_CREATED_AT) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        int us = 0;
        char frac[8] = "";
        if (sscanf(k, "%4d-%2d-%2dT%2d:%2d:%2d.%6[0-9]Z", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac) < 6)
            return false;
        size_t fl = strlen(frac);
        us = atoi(frac);
        for (size_t i = fl; i < 6; i++)
            us *= 10;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        *out = (int64_t)timegm(&tm) * 1000000 + us;
        return true;
    }
    if (q->sort == DM_SQ_SORT_COLOR || q->sort == DM_SQ_SORT_CLARITY) {
        *out = atoi(k);
        return true;
    }
    int64_t x;
    if (dm_parse_fixed(k, 4, &x) != DM_OK)
        return false;
    *out = x;
    return true;
}

static __attribute__((unused)) int64_t ref_cursor_units(const struct ref_stone *s, int sort)
{
    int64_t k = ref_key(s, sort);
    return sort == DM_SQ_SORT_RETAIL_PRICE || sort == DM_SQ_SORT_FEED_PRICE ||
                   sort == DM_SQ_SORT_CARATS
               ? k * 100
               : k;
}

/* Compare the index's answer (JSON text) for q with the reference. Returns NULL when they agree,
 * else a description (static buffer). */
static const char *ref_check(const struct ref_cat *c, const struct dm_search_query *q,
                             const char *body)
{
    static char why[512];
    static int order[REF_MAX];
    int total = 0;
    int n = ref_search(c, q, order, &total);
    int start = 0;
    if (q->has_cursor) {
        int64_t ck;
        uint8_t cid[16];
        if (!ref_cursor_key(q, &ck) || !ref_uuid_parse(q->cursor_id, cid))
            return "cursor not understood by the reference";
        while (start < n) {
            const struct ref_stone *s = &c->s[order[start]];
            int64_t k = ref_cursor_units(s, q->sort);
            int r = k != ck ? (k < ck ? -1 : 1) : memcmp(s->id, cid, 16);
            if (q->desc ? r < 0 : r > 0)
                break;
            start++;
        }
    } else {
        start = (q->page - 1) * q->limit;
    }
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    if (j == NULL) {
        snprintf(why, sizeof(why), "body is not JSON: %s", je.text);
        return why;
    }
    json_t *data = json_object_get(j, "data"), *pg = json_object_get(j, "pagination");
    int got = (int)json_array_size(data);
    int want = n - start;
    if (want < 0)
        want = 0;
    bool more = want > q->limit;
    if (want > q->limit)
        want = q->limit;
    const char *res = NULL;
    if (json_integer_value(json_object_get(pg, "total")) != total) {
        snprintf(why, sizeof(why), "total %lld, want %d",
                 (long long)json_integer_value(json_object_get(pg, "total")), total);
        res = why;
    } else if (got != want) {
        snprintf(why, sizeof(why), "%d rows, want %d", got, want);
        res = why;
    } else if (json_is_true(json_object_get(pg, "hasMore")) != more) {
        snprintf(why, sizeof(why), "hasMore %d, want %d", !more, more);
        res = why;
    } else if (!json_is_false(json_object_get(pg, "totalIsEstimate"))) {
        res = "totalIsEstimate is not false";
    } else if (more != json_is_string(json_object_get(pg, "nextCursor"))) {
        res = "nextCursor present without more rows, or missing with more";
    }
    for (int i = 0; res == NULL && i < got; i++) {
        char id[DM_UUID_LEN];
        dm_uuid_format(c->s[order[start + i]].id, id);
        const char *gid = json_string_value(json_object_get(json_array_get(data, (size_t)i), "id"));
        if (gid == NULL || strcmp(gid, id)) {
            snprintf(why, sizeof(why), "row %d is %s, want %s", i, gid ? gid : "(none)", id);
            res = why;
        }
    }
    json_decref(j);
    return res;
}

/* Compare one facet dimension's counts with the reference. dim as in ref_match. */
static const char *ref_check_facet(const struct ref_cat *c, const struct dm_search_query *q,
                                   json_t *counts, int dim)
{
    static char why[256];
    /* Reference counts by the facet's key. */
    const char *keys[64];
    long cnt[64];
    int nk = 0;
    for (int i = 0; i < c->n; i++) {
        const struct ref_stone *s = &c->s[i];
        if (!ref_match(s, q, dim))
            continue;
        /* the text facets, then lab_grown */
        bool text = dim < REF_TEXT_DIM_COUNT;
        bool upper = text && REF_TEXT_DIMS[dim].upper;
        const char *v = text ? ref_dim_value(s, dim) : s->lab_grown ? "true" : "false";
        if (v == NULL)
            continue;
        static char up[64][64];
        char u[64];
        if (upper)
            ref_upper(v, u, sizeof(u));
        else
            snprintf(u, sizeof(u), "%s", v);
        int k = 0;
        while (k < nk && strcmp(keys[k], u))
            k++;
        if (k == nk) {
            snprintf(up[nk], sizeof(up[nk]), "%s", u);
            keys[nk] = up[nk];
            cnt[nk++] = 0;
        }
        cnt[k]++;
    }
    if ((int)json_object_size(counts) != nk) {
        snprintf(why, sizeof(why), "facet %d has %d values, want %d", dim,
                 (int)json_object_size(counts), nk);
        return why;
    }
    for (int k = 0; k < nk; k++) {
        json_t *v = json_object_get(counts, keys[k]);
        if (json_integer_value(v) != cnt[k]) {
            snprintf(why, sizeof(why), "facet %d value %s: %lld, want %ld", dim, keys[k],
                     (long long)json_integer_value(v), cnt[k]);
            return why;
        }
    }
    return NULL;
}

#endif
