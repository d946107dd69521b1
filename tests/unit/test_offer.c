/* test_offer.c - one listing per physical stone (issue 18): identity normalisation, listing ids,
 * OFFER_POLICY choice and takeover, grading clashes. Table-driven where the rule is a table. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>

#include "domain/mapping.h"
#include "domain/offer.h"

static void test_lab_normalise(void **state)
{
    struct {
        const char *in, *want; /* want NULL = unusable */
    } cases[] = {
        {"GIA", "GIA"},
        {"gia", "GIA"},
        {"  Gia \t", "GIA"},
        {"G.I.A.", "GIA"},
        {"g i a", "GIA"},
        {"Gemological Institute of America", "GIA"},
        {"IGI", "IGI"},
        {"I.G.I", "IGI"},
        {"International Gemological Institute", "IGI"},
        {"HRD Antwerp", "HRD"},
        {"hrd", "HRD"},
        {"AGSL", "AGS"},
        {"ags", "AGS"},
        {"GCAL", "GCAL"},
        {"EGL", "EGL"},
        {"EGL USA", "EGLUSA"}, /* a different lab from EGL International: not folded */
        {"NGTC", "NGTC"},      /* unknown labs keep their compacted spelling */
        {"", NULL},
        {"   ", NULL},
        {NULL, NULL},
        {"NONE", NULL},
        {"n/a", NULL},
        {"N.A.", NULL},
        {"Uncertified", NULL},
        {"non-cert", NULL},
        {"G\xc3\x8d"
         "A",
         NULL},                                   /* non-ASCII: unusable, never folded to GIA */
        {"GIA:1", NULL},                          /* ':' would make keys ambiguous */
        {"ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP"}, /* 16 bytes fit */
        {"ABCDEFGHIJKLMNOPQ", NULL},              /* 17 do not */
        {"GEMOLOGICALINSTITUTEOFAMERICAGEMOLOGICALINSTITUTEOFAMERICAXYZ", NULL},  /* 63 */
        {"GEMOLOGICALINSTITUTEOFAMERICAGEMOLOGICALINSTITUTEOFAMERICAXYZW", NULL}, /* 64 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char out[DM_OFFER_LAB_MAX];
        bool ok = dm_offer_normalise_lab(cases[i].in, out);
        if (cases[i].want == NULL) {
            if (ok || out[0] != '\0')
                fail_msg("lab '%s': got '%s', want unusable", cases[i].in ? cases[i].in : "(null)",
                         out);
        } else if (!ok || strcmp(out, cases[i].want) != 0) {
            fail_msg("lab '%s': got %d '%s', want '%s'", cases[i].in, ok, out, cases[i].want);
        }
    }
}

static void test_cert_number_normalise(void **state)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"2141438171", "2141438171"},
        {"  2141438171  ", "2141438171"},
        {"2141 438 171", "2141438171"},
        {"2141-438-171", "2141438171"},
        {"#2141438171", "2141438171"},
        {"\t2141438171\r\n", "2141438171"},
        {"lg-123456", "LG123456"},
        {"LG123456", "LG123456"},
        {"0123", "0123"}, /* leading zeros kept */
        {"", NULL},
        {"   ", NULL},
        {" - ", NULL},
        {NULL, NULL},
        {"N/A", NULL},
        {"na", NULL},
        {"None", NULL},
        {"0", NULL},
        {"0000", NULL},
        {"2.14144E+09", NULL}, /* a spreadsheet's rendering: not a number we can match */
        {"12/345", NULL},
        {"12345\xc2\xa0", NULL},    /* no-break space is not ASCII whitespace: unusable */
        {"\xd9\xa1\xd9\xa2", NULL}, /* Arabic-Indic digits */
        {"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890"},
        {"12345678901234567890123456789012345678901", NULL},     /* 41 bytes */
        {"1234567890 1234567890 1234567890 1234567890 1", NULL}, /* 41 digits */
        {"12345678901234567890 12345678901234567890", "1234567890123456789012345678901234567890"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char out[DM_OFFER_CERT_MAX];
        bool ok = dm_offer_normalise_cert_number(cases[i].in, out);
        if (cases[i].want == NULL) {
            if (ok || out[0] != '\0')
                fail_msg("number '%s': got '%s', want unusable",
                         cases[i].in ? cases[i].in : "(null)", out);
        } else if (!ok || strcmp(out, cases[i].want) != 0) {
            fail_msg("number '%s': got %d '%s', want '%s'", cases[i].in, ok, out, cases[i].want);
        }
    }
}

static void test_identity(void **state)
{
    struct {
        const char *feed, *sid, *lab, *num, *want;
        enum dm_identity_kind kind;
    } cases[] = {
        {"nivoda", "ABC123", "GIA", "2141438171", "cert:GIA:2141438171", DM_IDENTITY_CERT},
        {"acme", "s-1", " g.i.a. ", " 2141-438-171 ", "cert:GIA:2141438171", DM_IDENTITY_CERT},
        {"nivoda", "ABC123", "igi", "lg 5555", "cert:IGI:LG5555", DM_IDENTITY_CERT},
        /* one of the two missing: the feed identity */
        {"nivoda", "ABC123", NULL, "2141438171", "feed:nivoda:ABC123", DM_IDENTITY_FEED},
        {"nivoda", "ABC123", "GIA", NULL, "feed:nivoda:ABC123", DM_IDENTITY_FEED},
        {"nivoda", "ABC123", "", "", "feed:nivoda:ABC123", DM_IDENTITY_FEED},
        {"nivoda", "ABC123", "GIA", "  ", "feed:nivoda:ABC123", DM_IDENTITY_FEED},
        {"nivoda", "ABC123", "NONE", "2141438171", "feed:nivoda:ABC123", DM_IDENTITY_FEED},
        {"nivoda", "ABC123", "GIA", "N/A", "feed:nivoda:ABC123", DM_IDENTITY_FEED},
        /* supplier ids are opaque: case and spaces kept */
        {"acme", " abc 1 ", NULL, NULL, "feed:acme: abc 1 ", DM_IDENTITY_FEED},
        {"acme", "\xc3\xa9t\xc3\xa9-1", NULL, NULL, "feed:acme:\xc3\xa9t\xc3\xa9-1",
         DM_IDENTITY_FEED},
        {"Acme_2-b", "x:y", NULL, NULL, "feed:Acme_2-b:x:y", DM_IDENTITY_FEED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct dm_stone_identity id;
        struct dm_error err;
        enum dm_err e =
            dm_offer_identity(cases[i].feed, cases[i].sid, cases[i].lab, cases[i].num, &id, &err);
        if (e != DM_OK)
            fail_msg("case %zu: %s", i, err.message);
        if (strcmp(id.key, cases[i].want) != 0 || id.kind != cases[i].kind)
            fail_msg("case %zu: got '%s' (%d), want '%s' (%d)", i, id.key, id.kind, cases[i].want,
                     cases[i].kind);
    }
}

static void test_identity_errors(void **state)
{
    struct dm_stone_identity id;
    struct dm_error err;
    char longid[DM_OFFER_SUPPLIER_ID_MAX + 1];

    assert_int_equal(dm_offer_identity("nivoda", "", NULL, NULL, &id, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "supplier stone id"));
    assert_int_equal(dm_offer_identity("nivoda", NULL, "GIA", NULL, &id, &err), DM_ERR_INVALID);
    assert_int_equal(dm_offer_identity("", "A", NULL, NULL, &id, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "feed id"));
    assert_int_equal(dm_offer_identity(NULL, "A", NULL, NULL, &id, &err), DM_ERR_INVALID);
    assert_int_equal(dm_offer_identity("ni:voda", "A", NULL, NULL, &id, &err), DM_ERR_INVALID);
    assert_int_equal(dm_offer_identity("niv\xc3\xb6"
                                       "da",
                                       "A", NULL, NULL, &id, &err),
                     DM_ERR_INVALID);
    assert_int_equal(dm_offer_identity("nivoda", "A\tB", NULL, NULL, &id, &err), DM_ERR_INVALID);
    assert_int_equal(id.key[0], '\0');
    assert_int_equal(
        dm_offer_identity("abcdefghijabcdefghijabcdefghijabc", "A", NULL, NULL, &id, &err),
        DM_ERR_TOO_LARGE);
    assert_int_equal(
        dm_offer_identity("abcdefghijabcdefghijabcdefghijab", "A", NULL, NULL, &id, &err), DM_OK);

    /* The longest supplier id with the longest feed id fits the key exactly. */
    memset(longid, 'x', DM_OFFER_SUPPLIER_ID_MAX - 1);
    longid[DM_OFFER_SUPPLIER_ID_MAX - 1] = '\0';
    assert_int_equal(
        dm_offer_identity("abcdefghijabcdefghijabcdefghijab", longid, NULL, NULL, &id, &err),
        DM_OK);
    assert_int_equal(strlen(id.key), DM_LISTING_KEY_MAX - 1);
    longid[DM_OFFER_SUPPLIER_ID_MAX - 1] = 'x';
    longid[DM_OFFER_SUPPLIER_ID_MAX] = '\0';
    assert_int_equal(dm_offer_identity("nivoda", longid, NULL, NULL, &id, &err), DM_ERR_TOO_LARGE);
    /* ... but a certificate identity never needs the supplier id. */
    assert_int_equal(dm_offer_identity("nivoda", longid, "GIA", "1", &id, &err), DM_OK);
    assert_string_equal(id.key, "cert:GIA:1");
}

static void test_identity_of_diamond(void **state)
{
    struct dm_diamond d = {0};
    struct dm_stone_identity id;
    struct dm_error err;
    d.feed = "nivoda";
    d.supplier_stone_id = "N-1";
    d.certificate_lab = "G.I.A.";
    d.certificate_number = "2141438171";
    assert_int_equal(dm_offer_identity_of(&d, &id, &err), DM_OK);
    assert_string_equal(id.key, "cert:GIA:2141438171");
    d.certificate_number = NULL;
    assert_int_equal(dm_offer_identity_of(&d, &id, &err), DM_OK);
    assert_string_equal(id.key, "feed:nivoda:N-1");
    assert_int_equal(dm_offer_feed_identity("acme", "N-1", &id, &err), DM_OK);
    assert_string_equal(id.key, "feed:acme:N-1");
}

static void test_listing_id(void **state)
{
    char a[DM_UUID_LEN], b[DM_UUID_LEN], c[DM_UUID_LEN];
    struct dm_stone_identity x, y;
    struct dm_error err;

    dm_offer_listing_id("cert:GIA:2141438171", a);
    dm_offer_listing_id("cert:GIA:2141438171", b);
    dm_offer_listing_id("cert:GIA:2141438172", c);
    assert_true(dm_uuid_valid(a));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    /* Version 8 (name-based, SHA-256), RFC variant. */
    assert_int_equal(a[14], '8');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_true(strchr("89ab", c[19]) != NULL);
    /* Pinned (checked with Python's uuid and hashlib): changing the namespace or the hashing
     * renumbers every storefront link. */
    assert_string_equal(a, "631aabd1-41b5-88a4-afd1-b32145d1c33a");

    /* Two spellings of one stone from two feeds: one listing id. */
    assert_int_equal(dm_offer_identity("nivoda", "N1", "GIA", "2141438171", &x, &err), DM_OK);
    assert_int_equal(dm_offer_identity("acme", "77", "g.i.a", "2141-438171", &y, &err), DM_OK);
    dm_offer_listing_id(x.key, b);
    dm_offer_listing_id(y.key, c);
    assert_string_equal(b, c);
    assert_string_equal(a, b);
    /* The feed identity of the same supplier row is a different listing. */
    assert_int_equal(dm_offer_feed_identity("nivoda", "N1", &x, &err), DM_OK);
    dm_offer_listing_id(x.key, c);
    assert_string_not_equal(a, c);
}

static void test_policy_parse(void **state)
{
    enum dm_offer_policy p = DM_OFFER_POLICY_FEED_PRIORITY;
    struct dm_error err;
    assert_int_equal(dm_offer_policy_parse(NULL, &p, &err), DM_OK);
    assert_int_equal(p, DM_OFFER_POLICY_LOWEST_RETAIL);
    p = DM_OFFER_POLICY_FEED_PRIORITY;
    assert_int_equal(dm_offer_policy_parse("", &p, &err), DM_OK);
    assert_int_equal(p, DM_OFFER_POLICY_LOWEST_RETAIL);
    assert_int_equal(dm_offer_policy_parse("feed_priority", &p, &err), DM_OK);
    assert_int_equal(p, DM_OFFER_POLICY_FEED_PRIORITY);
    assert_int_equal(dm_offer_policy_parse("lowest_retail", &p, &err), DM_OK);
    assert_int_equal(p, DM_OFFER_POLICY_LOWEST_RETAIL);
    const char *bad[] = {"cheapest", "LOWEST_RETAIL", " lowest_retail", "feed-priority"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        p = DM_OFFER_POLICY_FEED_PRIORITY;
        assert_int_equal(dm_offer_policy_parse(bad[i], &p, &err), DM_ERR_INVALID);
        assert_int_equal(p, DM_OFFER_POLICY_FEED_PRIORITY); /* untouched */
        assert_non_null(strstr(err.message, "lowest_retail, feed_priority"));
        assert_non_null(strstr(err.message, bad[i]));
    }
    assert_string_equal(dm_offer_policy_name(DM_OFFER_POLICY_LOWEST_RETAIL), "lowest_retail");
    assert_string_equal(dm_offer_policy_name(DM_OFFER_POLICY_FEED_PRIORITY), "feed_priority");
}

#define OFFER(f, s, prio, price, av)                                                               \
    {                                                                                              \
        .feed = (f), .supplier_stone_id = (s), .feed_priority = (prio),                            \
        .retail_price_cents = (price), .availability = (av), .carats_c2 = 100, .color = "D",       \
        .clarity = "VS1", .shape = "ROUND"                                                         \
    }
#define AV DM_AVAIL_AVAILABLE
#define SOLD DM_AVAIL_SOLD
#define HOLD DM_AVAIL_ON_HOLD
#define UNAV DM_AVAIL_UNAVAILABLE

/* The chosen supplier stone id under p. */
static const char *chosen(const struct dm_offer *o, size_t n, enum dm_offer_policy p)
{
    size_t i = dm_offer_choose(o, n, p);
    assert_true(i < n);
    return o[i].supplier_stone_id;
}

static void test_choose_lowest_retail(void **state)
{
    const enum dm_offer_policy P = DM_OFFER_POLICY_LOWEST_RETAIL;
    struct dm_offer o[] = {
        OFFER("nivoda", "n1", 10, 500000, AV), OFFER("acme", "a1", 1, 480000, AV),
        OFFER("bravo", "b1", 5, 490000, AV),
        OFFER("cheap", "c1", 0, 100000, SOLD), /* cheapest, but sold */
    };
    assert_string_equal(chosen(o, 4, P), "a1");
    /* Ties on price: higher feed priority, then feed id, then supplier stone id. */
    o[2].retail_price_cents = 480000;
    assert_string_equal(chosen(o, 4, P), "b1");
    o[2].feed_priority = 1;
    assert_string_equal(chosen(o, 4, P), "a1"); /* "acme" < "bravo" */
    o[2].feed = "acme";
    o[2].supplier_stone_id = "a0";
    assert_string_equal(chosen(o, 4, P), "a0");
    /* Not priced sorts after every price. */
    o[1].retail_price_cents = -1;
    o[2].retail_price_cents = -1;
    assert_string_equal(chosen(o, 4, P), "n1");
    /* One offer. */
    assert_string_equal(chosen(&o[3], 1, P), "c1");
    assert_int_equal(dm_offer_choose(o, 0, P), 0);
}

static void test_choose_feed_priority(void **state)
{
    const enum dm_offer_policy P = DM_OFFER_POLICY_FEED_PRIORITY;
    struct dm_offer o[] = {
        OFFER("nivoda", "n1", 10, 500000, AV),
        OFFER("acme", "a1", 1, 480000, AV),
        OFFER("bravo", "b1", 20, 490000, HOLD), /* highest priority, but on hold */
        OFFER("zulu", "z1", 10, 500000, AV),
    };
    /* n1 and z1 tie on priority and price: feed id decides. */
    assert_string_equal(chosen(o, 4, P), "n1");
    o[3].retail_price_cents = 499999;
    assert_string_equal(chosen(o, 4, P), "z1");
    o[2].availability = AV;
    assert_string_equal(chosen(o, 4, P), "b1");
    /* The same offers under lowest_retail. */
    assert_string_equal(chosen(o, 4, DM_OFFER_POLICY_LOWEST_RETAIL), "a1");
    /* Negative priorities order too. */
    o[2].feed_priority = -5;
    o[3].feed_priority = -5;
    o[0].feed_priority = -5;
    assert_string_equal(chosen(o, 4, P), "a1");
}

static void test_choose_all_unavailable(void **state)
{
    struct dm_offer o[] = {
        OFFER("nivoda", "n1", 10, 500000, SOLD),
        OFFER("acme", "a1", 1, 480000, HOLD),
        OFFER("bravo", "b1", 5, 470000, UNAV),
    };
    /* Same order among the not-available ones; the listing shows the chosen (unavailable). */
    size_t i = dm_offer_choose(o, 3, DM_OFFER_POLICY_LOWEST_RETAIL);
    assert_string_equal(o[i].supplier_stone_id, "b1");
    assert_int_equal(o[i].availability, UNAV);
    assert_string_equal(chosen(o, 3, DM_OFFER_POLICY_FEED_PRIORITY), "n1");
    /* One becomes available: it wins whatever its price or priority. */
    o[1].availability = AV;
    assert_string_equal(chosen(o, 3, DM_OFFER_POLICY_LOWEST_RETAIL), "a1");
    assert_string_equal(chosen(o, 3, DM_OFFER_POLICY_FEED_PRIORITY), "a1");
}

static void test_takeover(void **state)
{
    const enum dm_offer_policy P = DM_OFFER_POLICY_LOWEST_RETAIL;
    struct dm_offer o[] = {
        OFFER("nivoda", "n1", 10, 500000, AV),
        OFFER("acme", "a1", 1, 480000, AV),
        OFFER("bravo", "b1", 5, 490000, AV),
    };
    assert_string_equal(chosen(o, 3, P), "a1");
    o[1].availability = SOLD; /* sold: the next best takes over */
    assert_string_equal(chosen(o, 3, P), "b1");
    o[2].retail_price_cents = 510000; /* repriced above nivoda */
    assert_string_equal(chosen(o, 3, P), "n1");
    /* removed: nivoda's offer leaves the catalogue (swap it out of the array) */
    o[0] = o[2];
    assert_string_equal(chosen(o, 2, P), "b1");
}

static void test_compare_total_order(void **state)
{
    /* Every pair is strictly ordered one way, antisymmetric, and transitive over the set. */
    struct dm_offer o[] = {
        OFFER("nivoda", "n1", 10, 500000, AV),  OFFER("nivoda", "n2", 10, 500000, AV),
        OFFER("acme", "a1", 10, 500000, AV),    OFFER("acme", "a2", 1, 500000, AV),
        OFFER("acme", "a3", 1, -1, AV),         OFFER("acme", "a4", 1, 400000, SOLD),
        OFFER("bravo", "b1", 10, 400000, HOLD), OFFER("bravo", "b2", 3, 450000, AV),
    };
    const size_t n = sizeof(o) / sizeof(*o);
    for (int p = 0; p < 2; p++) {
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(dm_offer_compare(&o[i], &o[i], (enum dm_offer_policy)p), 0);
            for (size_t j = 0; j < n; j++) {
                if (i == j)
                    continue;
                int ij = dm_offer_compare(&o[i], &o[j], (enum dm_offer_policy)p);
                int ji = dm_offer_compare(&o[j], &o[i], (enum dm_offer_policy)p);
                assert_true(ij != 0);
                assert_int_equal(ij, -ji);
                for (size_t k = 0; k < n; k++) {
                    int jk = dm_offer_compare(&o[j], &o[k], (enum dm_offer_policy)p);
                    if (ij < 0 && jk < 0)
                        assert_true(dm_offer_compare(&o[i], &o[k], (enum dm_offer_policy)p) < 0);
                }
            }
        }
        /* The choice does not depend on the input order. */
        size_t first = dm_offer_choose(o, n, (enum dm_offer_policy)p);
        const char *want = o[first].supplier_stone_id;
        struct dm_offer r[sizeof(o) / sizeof(*o)];
        for (size_t i = 0; i < n; i++)
            r[i] = o[n - 1 - i];
        assert_string_equal(r[dm_offer_choose(r, n, (enum dm_offer_policy)p)].supplier_stone_id,
                            want);
    }
}

static void test_from_diamond(void **state)
{
    struct dm_diamond d = {0};
    struct dm_offer o;
    d.feed = "nivoda";
    d.supplier_stone_id = "N-1";
    d.retail_price_cents = 123456;
    d.availability = DM_AVAIL_ON_HOLD;
    d.carats_c2 = 152;
    d.color = "E";
    d.clarity = "VVS2";
    d.shape = "OVAL";
    dm_offer_from_diamond(&d, 7, &o);
    assert_string_equal(o.feed, "nivoda");
    assert_string_equal(o.supplier_stone_id, "N-1");
    assert_int_equal(o.feed_priority, 7);
    assert_int_equal(o.retail_price_cents, 123456);
    assert_int_equal(o.availability, DM_AVAIL_ON_HOLD);
    assert_int_equal(o.carats_c2, 152);
    assert_string_equal(o.color, "E");
    assert_string_equal(o.clarity, "VVS2");
    assert_string_equal(o.shape, "OVAL");
    assert_int_equal(o.updated_at, 0);
}

static void test_grading_clash(void **state)
{
    struct dm_offer a = OFFER("nivoda", "n1", 10, 1, AV), b = a;
    char names[32];
    assert_int_equal(dm_offer_grading_clash(&a, &b), 0);
    b.carats_c2 = 101; /* 0.01 ct: within tolerance */
    assert_int_equal(dm_offer_grading_clash(&a, &b), 0);
    b.carats_c2 = 99;
    assert_int_equal(dm_offer_grading_clash(&a, &b), 0);
    b.carats_c2 = 102;
    assert_int_equal(dm_offer_grading_clash(&a, &b), DM_CLASH_CARAT);
    b.carats_c2 = 98;
    assert_int_equal(dm_offer_grading_clash(&b, &a), DM_CLASH_CARAT);
    b.carats_c2 = 100;
    b.color = "d"; /* case does not matter */
    b.shape = "round";
    assert_int_equal(dm_offer_grading_clash(&a, &b), 0);
    b.color = "E";
    b.clarity = "VS2";
    assert_int_equal(dm_offer_grading_clash(&a, &b), DM_CLASH_COLOUR | DM_CLASH_CLARITY);
    b.color = NULL;
    b.clarity = "VS1";
    b.shape = "OVAL";
    assert_int_equal(dm_offer_grading_clash(&a, &b), DM_CLASH_COLOUR | DM_CLASH_SHAPE);
    a.color = NULL;
    b.clarity = "VS";
    assert_int_equal(dm_offer_grading_clash(&a, &b), DM_CLASH_CLARITY | DM_CLASH_SHAPE);

    assert_int_equal(dm_offer_clash_names(0, names, sizeof(names)), DM_OK);
    assert_string_equal(names, "");
    assert_int_equal(dm_offer_clash_names(DM_CLASH_COLOUR | DM_CLASH_SHAPE, names, sizeof(names)),
                     DM_OK);
    assert_string_equal(names, "colour,shape");
    assert_int_equal(dm_offer_clash_names(0xf, names, 27), DM_OK);
    assert_string_equal(names, "carat,colour,clarity,shape");
    assert_int_equal(dm_offer_clash_names(0xf, names, 26), DM_ERR_TOO_LARGE);
    assert_string_equal(names, "");
    assert_int_equal(dm_offer_clash_names(DM_CLASH_CARAT, names, 6), DM_OK);
    assert_string_equal(names, "carat");
    assert_int_equal(dm_offer_clash_names(DM_CLASH_CARAT, names, 5), DM_ERR_TOO_LARGE);
}

static void test_resolve_clashes(void **state)
{
    struct dm_offer o[] = {
        OFFER("acme", "a1", 1, 400000, AV),      /* agrees (0.01 ct off) */
        OFFER("nivoda", "n1", 10, 500000, SOLD), /* highest priority: the reference */
        OFFER("bravo", "b1", 5, 300000, AV),     /* disagrees on colour */
        OFFER("charlie", "c1", 5, 300000, AV),   /* disagrees on carat (0.02 ct) */
    };
    unsigned clash[4];
    o[0].carats_c2 = 101;
    o[2].color = "F";
    o[3].carats_c2 = 102;
    assert_int_equal(dm_offer_resolve_clashes(o, 4, clash), 1);
    assert_int_equal(clash[0], 0);
    assert_int_equal(clash[1], 0);
    assert_int_equal(clash[2], DM_CLASH_COLOUR);
    assert_int_equal(clash[3], DM_CLASH_CARAT);

    /* Equal priorities: feed id decides the reference; then b1 and c1 agree with it. */
    o[1].feed_priority = 5;
    o[0].feed_priority = 5;
    o[2].color = "D";
    o[2].carats_c2 = 102;
    assert_int_equal(dm_offer_resolve_clashes(o, 4, clash), 0); /* "acme" */
    assert_int_equal(clash[1], 0);
    assert_int_equal(clash[2], 0); /* 1.02 vs 1.01 */
    assert_int_equal(clash[3], 0);
    /* Not transitive on purpose: each offer is compared with the reference only. */
    o[0].carats_c2 = 100;
    assert_int_equal(dm_offer_resolve_clashes(o, 4, clash), 0);
    assert_int_equal(clash[2], DM_CLASH_CARAT);
    assert_int_equal(clash[3], DM_CLASH_CARAT);

    /* Same feed and priority: supplier stone id decides. */
    struct dm_offer s[] = {OFFER("nivoda", "z9", 1, 1, AV), OFFER("nivoda", "a1", 1, 1, AV)};
    s[0].shape = "PEAR";
    assert_int_equal(dm_offer_resolve_clashes(s, 2, clash), 1);
    assert_int_equal(clash[0], DM_CLASH_SHAPE);
    assert_int_equal(clash[1], 0);
    /* One offer: no clash; none: returns 0. */
    assert_int_equal(dm_offer_resolve_clashes(s, 1, clash), 0);
    assert_int_equal(clash[0], 0);
    assert_int_equal(dm_offer_resolve_clashes(s, 0, clash), 0);

    /* The split-off offer gets its own listing via the feed identity. */
    struct dm_stone_identity id;
    struct dm_error err;
    assert_int_equal(dm_offer_feed_identity(s[0].feed, s[0].supplier_stone_id, &id, &err), DM_OK);
    assert_string_equal(id.key, "feed:nivoda:z9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lab_normalise),
        cmocka_unit_test(test_cert_number_normalise),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_identity_errors),
        cmocka_unit_test(test_identity_of_diamond),
        cmocka_unit_test(test_listing_id),
        cmocka_unit_test(test_policy_parse),
        cmocka_unit_test(test_choose_lowest_retail),
        cmocka_unit_test(test_choose_feed_priority),
        cmocka_unit_test(test_choose_all_unavailable),
        cmocka_unit_test(test_takeover),
        cmocka_unit_test(test_compare_total_order),
        cmocka_unit_test(test_from_diamond),
        cmocka_unit_test(test_grading_clash),
        cmocka_unit_test(test_resolve_clashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
