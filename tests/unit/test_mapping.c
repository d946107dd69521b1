/* test_mapping.c - Nivoda item -> canonical diamond (feed.md §2): every field, every error,
 * hostile JSON shapes, content hash and the COPY text line. Table-driven. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "domain/mapping.h"

/* A complete item as the feed returns it. */
static const char *FULL =
    "{\"id\":\"offer-1\",\"price\":123456,\"discount\":null,\"diamond_price\":1000,"
    "\"diamond\":{\"id\":\"stone-1\",\"availability\":\"AVAILABLE\",\"HoldId\":\"h-9\","
    "\"NivodaStockId\":\"N1\",\"supplierStockId\":\"S1\",\"image\":\"https://img/1.jpg\","
    "\"video\":null,\"supplier_video_link\":\"https://vid/1\",\"eyeClean\":true,\"brown\":\"none\","
    "\"green\":null,\"milky\":\"no\",\"mine_of_origin\":\"Canada\","
    "\"certificate\":{\"id\":\"c1\",\"lab\":\"GIA\",\"certNumber\":\"12345\","
    "\"pdfUrl\":\"https://pdf/1\",\"shape\":\"round\",\"carats\":1.015,\"clarity\":\"VS1\","
    "\"cut\":\"ex\",\"polish\":\"vg\",\"symmetry\":null,\"color\":\"G\",\"length\":6.5,"
    "\"width\":6.48,\"depth\":4.01,\"depthPercentage\":61.9,\"table\":57,"
    "\"culet_condition\":\"pointed\",\"girdle\":\"medium\",\"floInt\":\"Faint\","
    "\"floCol\":\"Blue\",\"labgrown\":null,\"labgrown_type\":\"CVD\",\"treated\":true,"
    "\"cut_style\":\"brilliant\",\"keyToSymbols\":\"cloud\\tfeather\",\"comments\":null},"
    "\"supplier\":{\"id\":\"sup\",\"name\":\"Acme\",\"legal_name\":\"Acme Ltd\"}}}";

static void test_full_item(void **state)
{
    struct dm_diamond d;
    struct dm_error err = {0};
    assert_int_equal(dm_mapping_map_text(FULL, strlen(FULL), &d, &err), DM_OK);
    assert_string_equal(d.feed, "nivoda");
    assert_string_equal(d.supplier_stone_id, "stone-1");
    assert_string_equal(d.offer_id, "offer-1");
    assert_string_equal(d.shape, "ROUND");
    assert_int_equal(d.carats_c2, 102); /* 1.015 -> 1.02 half up on the decimal literal */
    assert_string_equal(d.color, "G");
    assert_string_equal(d.clarity, "VS1");
    assert_string_equal(d.cut, "EX");
    assert_string_equal(d.polish, "VG");
    assert_null(d.symmetry);
    assert_string_equal(d.fluorescence, "Faint Blue");
    assert_true(d.lab_grown); /* labgrown null, labgrown_type present */
    assert_true(d.treated);
    assert_int_equal(d.feed_price_cents, 123456);
    assert_int_equal(d.availability, DM_AVAIL_AVAILABLE);
    assert_string_equal(d.raw_availability, "AVAILABLE");
    assert_string_equal(d.hold_id, "h-9");
    assert_string_equal(d.image_url, "https://img/1.jpg");
    assert_string_equal(d.video_url, "https://vid/1"); /* video null -> supplier link */
    assert_string_equal(d.certificate_lab, "GIA");
    assert_string_equal(d.certificate_number, "12345");
    assert_string_equal(d.certificate_pdf_url, "https://pdf/1");
    assert_string_equal(d.measurements, "{\"length\":6.5,\"width\":6.48,\"depth\":4.01,"
                                        "\"depthPercentage\":61.9,\"table\":57,\"girdle\":"
                                        "\"medium\",\"culetCondition\":\"pointed\"}");
    assert_string_equal(d.attributes, "{\"eyeClean\":true,\"brown\":\"none\",\"milky\":\"no\","
                                      "\"mineOfOrigin\":\"Canada\",\"cutStyle\":\"brilliant\","
                                      "\"keyToSymbols\":\"cloud\\tfeather\"}");
    assert_string_equal(d.supplier_name, "Acme");
    assert_string_equal(d.supplier_legal_name, "Acme Ltd");

    /* Price with the built-in default (no rules): 1234.56 x 1.15 = 1419.744 -> 1419.74;
     * per carat 1234.56 / 1.02 = 1210.3529.. -> 1210.35. */
    assert_int_equal(dm_mapping_price(&d, NULL, 0, &err), DM_OK);
    assert_int_equal(d.retail_price_cents, 141974);
    assert_int_equal(d.price_per_carat_cents, 121035);
    assert_int_equal(d.markup_e4, 11500);
    assert_int_equal(d.rating, 0);

    struct dm_buf line;
    dm_buf_init(&line, 1 << 20);
    char hash[DM_SHA256_HEX_LEN], hash2[DM_SHA256_HEX_LEN];
    assert_int_equal(dm_diamond_copy_line(&d, &line, hash), DM_OK);
    dm_diamond_content_hash(&d, hash2);
    assert_string_equal(hash, hash2);
    int tabs = 0;
    for (size_t i = 0; i < line.len; i++)
        tabs += line.data[i] == '\t';
    assert_int_equal(tabs, DM_DIAMOND_COPY_NCOLS - 1);
    assert_int_equal(line.data[line.len - 1], '\n');
    assert_non_null(strstr(line.data, "nivoda\tstone-1\toffer-1\tROUND\t1.02\tG\tVS1\tEX\tVG\t\\N\t"
                                      "Faint Blue\tt\tt\t1234.56\tavailable\tAVAILABLE\t"));
    assert_non_null(strstr(line.data, "cloud\\\\tfeather")); /* JSON \t escaped for COPY */
    assert_non_null(strstr(line.data, "\t1210.35\t1419.74\t1.1500\t\\N\t\\N\t"));

    /* The hash covers feed data, not pricing: repricing keeps it, a price change does not. */
    d.retail_price_cents += 1;
    dm_diamond_content_hash(&d, hash2);
    assert_string_equal(hash, hash2);
    d.feed_price_cents += 1;
    dm_diamond_content_hash(&d, hash2);
    assert_string_not_equal(hash, hash2);
    d.feed_price_cents -= 1;
    free(d.raw_availability);
    d.raw_availability = dm_xstrdup("On Hold");
    d.availability = DM_AVAIL_ON_HOLD;
    dm_diamond_content_hash(&d, hash2);
    assert_string_not_equal(hash, hash2);
    dm_buf_free(&line);
    dm_diamond_free(&d);
    dm_diamond_free(&d); /* idempotent */
}

/* Replace the first occurrence of `from` in FULL by `to`. */
static char *variant(const char *from, const char *to)
{
    const char *p = strstr(FULL, from);
    if (p == NULL)
        fail_msg("fixture lacks %s", from);
    return dm_xasprintf("%.*s%s%s", (int)(p - FULL), FULL, to, p + strlen(from));
}

static void test_errors(void **state)
{
    struct {
        const char *from, *to, *reason;
    } cases[] = {
        {"\"certificate\":{", "\"certificate\":null,\"x\":{", "missing certificate"},
        {"\"certificate\":{", "\"certificate\":[],\"x\":{", "missing certificate"},
        {"\"shape\":\"round\"", "\"shape\":\"\"", "missing certificate.shape"},
        {"\"shape\":\"round\"", "\"shape\":null", "missing certificate.shape"},
        {"\"shape\":\"round\"", "\"shape\":{}", "certificate.shape {} is not a known value"},
        {"\"carats\":1.015", "\"carats\":0", "certificate.carats must be > 0"},
        {"\"carats\":1.015", "\"carats\":-1.5", "certificate.carats must be > 0"},
        {"\"carats\":1.015", "\"carats\":0.004", "certificate.carats must be > 0"},
        {"\"carats\":1.015", "\"carats\":1e-9", "certificate.carats must be > 0"},
        {"\"carats\":1.015", "\"carats\":\"abc\"", "certificate.carats is not a number"},
        {"\"carats\":1.015", "\"carats\":true", "certificate.carats is not a number"},
        {"\"carats\":1.015", "\"carats\":null", "missing certificate.carats"},
        {"\"carats\":1.015", "\"carats\":12345.5", "certificate.carats out of range"},
        {"\"carats\":1.015", "\"carats\":1e300", "certificate.carats out of range"},
        {"\"color\":\"G\"", "\"color\":null", "missing certificate.color"},
        {"\"clarity\":\"VS1\"", "\"clarity\":\"\"", "missing certificate.clarity"},
        {"\"price\":123456", "\"price\":null", "missing price"},
        {"\"price\":123456", "\"price\":\"12x\"", "price is not a number"},
        {"\"price\":123456", "\"price\":-5", "price must not be negative"},
        {"\"price\":123456", "\"price\":100000000000000", "price out of range"},
        {"\"price\":123456", "\"price\":99999999999999999999999", "price out of range"},
        {"\"price\":123456", "\"price\":1e3x", "malformed JSON"},
        {"\"shape\":\"round\"", "\"shape\":\"\\ud800\"", "malformed JSON"},
        {"\"id\":\"stone-1\"", "\"id\":null", "missing diamond.id"},
        {"\"id\":\"offer-1\"", "\"id\":[1]", "missing item id"},
        {"\"diamond\":{", "\"diamond\":7,\"x\":{", "missing diamond"},
        {"\"clarity\":\"VS1\"", "\"clarity\":\"V\\u0000S\"", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = variant(cases[i].from, cases[i].to);
        struct dm_diamond d;
        struct dm_error err = {0};
        enum dm_err e = dm_mapping_map_text(text, strlen(text), &d, &err);
        if (e != DM_ERR_INVALID || strstr(err.message, cases[i].reason) == NULL)
            fail_msg("case %zu (%s): e=%d message '%s', want '%s'", i, cases[i].to, e, err.message,
                     cases[i].reason);
        assert_null(d.supplier_stone_id);
        free(text);
    }
}

/* Any JSON shape: never a crash, always OK or a reason. */
static void test_hostile_shapes(void **state)
{
    const char *texts[] = {"",
                           "null",
                           "[]",
                           "42",
                           "\"x\"",
                           "{}",
                           "{\"diamond\":[]}",
                           "{\"diamond\":{\"certificate\":\"no\"}}",
                           "{\"id\":1,\"price\":1,\"diamond\":{\"id\":2,\"certificate\":"
                           "{\"shape\":1,\"carats\":\"0.5\",\"color\":2,\"clarity\":3}}}",
                           "{\"id\":1,\"price\":1,\"diamond\":{\"id\":2,\"certificate\":"
                           "{\"shape\":\"rd\",\"carats\":\"0.5\",\"color\":\"e\","
                           "\"clarity\":\"vs-1\"}}}",
                           "{\"diamond\":{\"certificate\":{}}}",
                           "{\"a\":",
                           "\xff\xfe"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct dm_diamond d;
        struct dm_error err = {0};
        enum dm_err e = dm_mapping_map_text(texts[i], strlen(texts[i]), &d, &err);
        if (e == DM_OK) {
            /* The minimal item maps (numeric ids as text, string carats, aliases); the one
             * with numbers for shape, colour and clarity does not (not in their vocabulary). */
            assert_string_equal(d.shape, "ROUND");
            assert_string_equal(d.color, "E");
            assert_string_equal(d.clarity, "VS1");
            assert_int_equal(d.carats_c2, 50);
            assert_string_equal(d.offer_id, "1");
            assert_null(d.measurements);
            assert_null(d.attributes);
            assert_int_equal(d.availability, DM_AVAIL_UNAVAILABLE);
            assert_false(d.lab_grown);
            dm_diamond_free(&d);
        } else {
            assert_int_equal(e, DM_ERR_INVALID);
            assert_true(err.message[0] != '\0');
        }
    }
}

static void test_field_rules(void **state)
{
    struct {
        const char *from, *to;
        const char *fluor, *video;
        int lab;
        int64_t c2, cents;
    } cases[] = {
        {"\"floCol\":\"Blue\"", "\"floCol\":\"\"", "Faint", "https://vid/1", 1, 102, 123456},
        {"\"floInt\":\"Faint\"", "\"floInt\":\"\"", NULL, "https://vid/1", 1, 102, 123456},
        {"\"video\":null", "\"video\":\"https://v\"", "Faint Blue", "https://v", 1, 102, 123456},
        {"\"labgrown\":null", "\"labgrown\":false", "Faint Blue", "https://vid/1", 0, 102, 123456},
        {"\"labgrown_type\":\"CVD\"", "\"labgrown_type\":null", "Faint Blue", "https://vid/1", 0,
         102, 123456},
        {"\"carats\":1.015", "\"carats\":1.014999", "Faint Blue", "https://vid/1", 1, 101, 123456},
        {"\"carats\":1.015", "\"carats\":0.005", "Faint Blue", "https://vid/1", 1, 1, 123456},
        {"\"carats\":1.015", "\"carats\":3", "Faint Blue", "https://vid/1", 1, 300, 123456},
        {"\"price\":123456", "\"price\":123456.5", "Faint Blue", "https://vid/1", 1, 102, 123457},
        {"\"price\":123456", "\"price\":\"99\"", "Faint Blue", "https://vid/1", 1, 102, 99},
        {"\"price\":123456", "\"price\":0", "Faint Blue", "https://vid/1", 1, 102, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = variant(cases[i].from, cases[i].to);
        struct dm_diamond d;
        struct dm_error err = {0};
        if (dm_mapping_map_text(text, strlen(text), &d, &err) != DM_OK)
            fail_msg("case %zu: %s", i, err.message);
        if (cases[i].fluor)
            assert_string_equal(d.fluorescence, cases[i].fluor);
        else
            assert_null(d.fluorescence);
        assert_string_equal(d.video_url, cases[i].video);
        assert_int_equal(d.lab_grown, cases[i].lab);
        assert_int_equal(d.carats_c2, cases[i].c2);
        assert_int_equal(d.feed_price_cents, cases[i].cents);
        dm_diamond_free(&d);
        free(text);
    }
}

/* Escapes are decoded in free text (kept as written, never upper-cased), and an enumerated
 * field spelled with them is judged on its decoded value. */
static void test_unicode_escapes(void **state)
{
    char *text = variant("\"lab\":\"GIA\"", "\"lab\":\"r\\u00e9\\ud83d\\ude00\\\"\\/\"");
    struct dm_diamond d;
    struct dm_error err = {0};
    if (dm_mapping_map_text(text, strlen(text), &d, &err) != DM_OK)
        fail_msg("%s", err.message);
    assert_string_equal(d.certificate_lab, "r\xc3\xa9\xf0\x9f\x98\x80\"/");
    dm_diamond_free(&d);
    free(text);
    text = variant("\"shape\":\"round\"", "\"shape\":\"\\u0052ound\"");
    assert_int_equal(dm_mapping_map_text(text, strlen(text), &d, &err), DM_OK);
    assert_string_equal(d.shape, "ROUND");
    dm_diamond_free(&d);
    free(text);
}

/* Map FULL with one replacement: DM_OK, or DM_ERR_INVALID with `reason` in the message. */
static void map_variant(const char *from, const char *to, const char *reason, struct dm_diamond *d)
{
    char *text = variant(from, to);
    struct dm_error err = {0};
    enum dm_err e = dm_mapping_map_text(text, strlen(text), d, &err);
    if (reason == NULL && e != DM_OK)
        fail_msg("%s: %s", to, err.message);
    if (reason != NULL && (e != DM_ERR_INVALID || strstr(err.message, reason) == NULL))
        fail_msg("%s: e=%d '%s', want '%s'", to, e, err.message, reason);
    if (reason != NULL)
        assert_null(d->shape);
    free(text);
}

static int treated_of(const struct dm_diamond *d)
{
    return d->treated;
}

static int lab_grown_of(const struct dm_diamond *d)
{
    return d->lab_grown;
}

static int eye_clean_of(const struct dm_diamond *d)
{
    if (d->attributes != NULL && strstr(d->attributes, "{\"eyeClean\":true,") != NULL)
        return 1;
    if (d->attributes != NULL && strstr(d->attributes, "{\"eyeClean\":false,") != NULL)
        return 0;
    return -1;
}

/* Booleans: true/false, yes/no, y/n, 1/0 in any case; anything else refuses the stone naming
 * the field; absent or null treated is false; never false for an unreadable value. */
static void test_booleans(void **state)
{
    static const struct {
        const char *v;
        int want; /* 1 true, 0 false, -1 refused */
    } values[] = {
        {"true", 1},     {"false", 0},     {"\"yes\"", 1},        {"\"YES\"", 1},    {"\"No\"", 0},
        {"\"true\"", 1}, {"\"False\"", 0}, {"\"1\"", 1},          {"\"0\"", 0},      {"1", 1},
        {"0", 0},        {"\" y \"", 1},   {"\"N\"", 0},          {"\"maybe\"", -1}, {"2", -1},
        {"\"\"", -1},    {"\"ja\"", -1},   {"1.0", -1},           {"-1", -1},        {"[]", -1},
        {"{}", -1},      {"\"yes!\"", -1}, {"\"untreated\"", -1},
    };
    /* The three boolean fields: the key, its value in FULL, the refusal, and how the mapped
     * stone shows it (1 true, 0 false, -1 neither). */
    static const struct {
        const char *key, *from, *why;
        int (*got)(const struct dm_diamond *d);
    } fields[] = {
        {"treated", "\"treated\":true", "certificate.treated is not a boolean", treated_of},
        /* labgrown: an explicit value wins over labgrown_type ("CVD" in FULL) */
        {"labgrown", "\"labgrown\":null", "certificate.labgrown is not a boolean", lab_grown_of},
        /* eyeClean is stored as true/false in attributes */
        {"eyeClean", "\"eyeClean\":true", "diamond.eyeClean is not a boolean", eye_clean_of},
    };
    char to[64];
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
            struct dm_diamond d;
            snprintf(to, sizeof(to), "\"%s\":%s", fields[k].key, values[i].v);
            map_variant(fields[k].from, to, values[i].want < 0 ? fields[k].why : NULL, &d);
            if (values[i].want >= 0) {
                assert_int_equal(fields[k].got(&d), values[i].want);
                dm_diamond_free(&d);
            }
        }
    }
    /* absent or null: treated false, labgrown from labgrown_type, eyeClean not in attributes */
    struct dm_diamond d;
    map_variant("\"treated\":true", "\"treated\":null", NULL, &d);
    assert_false(d.treated);
    dm_diamond_free(&d);
    map_variant("\"treated\":true,", "", NULL, &d);
    assert_false(d.treated);
    dm_diamond_free(&d);
    map_variant("\"eyeClean\":true,", "\"eyeClean\":null,", NULL, &d);
    assert_null(strstr(d.attributes, "eyeClean"));
    dm_diamond_free(&d);
}

/* Enumerated fields: the vocabulary with its usual aliases in any case, canonical spelling
 * out; anything else (non-ASCII included) refuses the stone naming the field. */
static void test_enumerated(void **state)
{
    static const struct {
        const char *from, *to, *want, *reason;
    } cases[] = {
        {"\"shape\":\"round\"", "\"shape\":\"Round\"", "ROUND", NULL},
        {"\"shape\":\"round\"", "\"shape\":\"round brilliant\"", "ROUND", NULL},
        {"\"shape\":\"round\"", "\"shape\":\"RBC\"", "ROUND", NULL},
        {"\"shape\":\"round\"", "\"shape\":\"Cushion-Modified\"", "CUSHION MODIFIED", NULL},
        {"\"shape\":\"round\"", "\"shape\":\"cushion b\"", "CUSHION B", NULL},
        {"\"shape\":\"round\"", "\"shape\":\"old_mine\"", "OLD MINER", NULL},
        {"\"shape\":\"round\"", "\"shape\":\"ps\"", "PEAR", NULL},
        {"\"shape\":\"round\"",
         "\"shape\":\"\xc3\x9cn\xc3\xaf"
         "code\"",
         NULL,
         "certificate.shape \"\xc3\x9cn\xc3\xaf"
         "code\" is not a known value"},
        {"\"shape\":\"round\"", "\"shape\":\"r\xc3\xb6und\"", NULL, "certificate.shape"},
        {"\"shape\":\"round\"", "\"shape\":\"BAGUETTE\"", NULL, "certificate.shape"},
        {"\"shape\":\"round\"", "\"shape\":1, \"y\":0", NULL, "certificate.shape 1 "},
        {"\"color\":\"G\"", "\"color\":\"g\"", "G", NULL},
        {"\"color\":\"G\"", "\"color\":\"Z\"", "Z", NULL},
        {"\"color\":\"G\"", "\"color\":\"C\"", NULL, "certificate.color"},
        {"\"color\":\"G\"", "\"color\":\"\xc3\x96\"", NULL, "certificate.color"},
        {"\"color\":\"G\"", "\"color\":\"FANCY\"", NULL, "certificate.color"},
        {"\"color\":\"G\"", "\"color\":\"G-H\"", NULL, "certificate.color"},
        {"\"clarity\":\"VS1\"", "\"clarity\":\"vvs 2\"", "VVS2", NULL},
        {"\"clarity\":\"VS1\"", "\"clarity\":\"si-3\"", "SI3", NULL},
        {"\"clarity\":\"VS1\"", "\"clarity\":\"Flawless\"", "FL", NULL},
        {"\"clarity\":\"VS1\"", "\"clarity\":\"PK1\"", "I1", NULL},
        {"\"clarity\":\"VS1\"", "\"clarity\":\"VS\"", NULL, "certificate.clarity"},
        {"\"clarity\":\"VS1\"",
         "\"clarity\":\"\xe2\x85\xa0"
         "F\"",
         NULL, "certificate.clarity"},
        {"\"cut\":\"ex\"", "\"cut\":\"Excellent\"", "EX", NULL},
        {"\"cut\":\"ex\"", "\"cut\":\"ideal\"", "ID", NULL},
        {"\"cut\":\"ex\"", "\"cut\":\"good\"", "GD", NULL},
        {"\"cut\":\"ex\"", "\"cut\":\"\"", NULL, NULL}, /* empty: absent */
        {"\"cut\":\"ex\"", "\"cut\":\"Tr\xc3\xa8s bien\"", NULL, "certificate.cut"},
        {"\"polish\":\"vg\"", "\"polish\":\"Very Good\"", "VG", NULL},
        {"\"polish\":\"vg\"", "\"polish\":\"N/A\"", NULL, "certificate.polish"},
        {"\"symmetry\":null", "\"symmetry\":\"fair\"", "FR", NULL},
        {"\"symmetry\":null", "\"symmetry\":\"superb\"", NULL, "certificate.symmetry"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_diamond d;
        map_variant(cases[i].from, cases[i].to, cases[i].reason, &d);
        if (cases[i].reason != NULL)
            continue;
        const char *got = strstr(cases[i].from, "shape")     ? d.shape
                          : strstr(cases[i].from, "color")   ? d.color
                          : strstr(cases[i].from, "clarity") ? d.clarity
                          : strstr(cases[i].from, "cut")     ? d.cut
                          : strstr(cases[i].from, "polish")  ? d.polish
                                                             : d.symmetry;
        if (cases[i].want == NULL)
            assert_null(got);
        else
            assert_string_equal(got, cases[i].want);
        dm_diamond_free(&d);
    }
    /* free text keeps its bytes: supplier name, mine of origin, comments */
    struct dm_diamond d;
    map_variant("\"name\":\"Acme\"",
                "\"name\":\"\xc3\x9cn\xc3\xaf"
                "code \xe2\x82\xac\"",
                NULL, &d);
    assert_string_equal(d.supplier_name, "\xc3\x9cn\xc3\xaf"
                                         "code \xe2\x82\xac");
    dm_diamond_free(&d);
}

/* Carats are rounded half up to the certificate's two decimals and prices to whole cents, on
 * the decimal digits as written, before pricing and rule matching. */
static void test_rounding(void **state)
{
    static const struct {
        const char *carats, *price;
        int64_t c2, cents, ppc;
    } cases[] = {
        /* price 123456 cents / 1.02 ct = 121035.29.. -> 121035 cents per carat */
        {"1.015", "123456", 102, 123456, 121035},    {"1.0149999", "123456", 101, 123456, 122234},
        {"1.005", "123456", 101, 123456, 122234},    {"\"1.015\"", "123456.5", 102, 123457, 121036},
        {"1.02", "123456.49", 102, 123456, 121035},  {"0.999", "0.5", 100, 1, 1},
        {"1.0E0", "1.23456e5", 100, 123456, 123456},
    };
    char from_c[] = "\"carats\":1.015", from_p[] = "\"price\":123456";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char to[64], *t1, *text;
        snprintf(to, sizeof(to), "\"carats\":%s", cases[i].carats);
        t1 = variant(from_c, to);
        const char *p = strstr(t1, from_p);
        assert_non_null(p);
        text = dm_xasprintf("%.*s\"price\":%s%s", (int)(p - t1), t1, cases[i].price,
                            p + strlen(from_p));
        struct dm_diamond d;
        struct dm_error err = {0};
        if (dm_mapping_map_text(text, strlen(text), &d, &err) != DM_OK)
            fail_msg("case %zu: %s", i, err.message);
        assert_int_equal(d.carats_c2, cases[i].c2);
        assert_int_equal(d.feed_price_cents, cases[i].cents);
        assert_int_equal(dm_mapping_price(&d, NULL, 0, &err), DM_OK);
        if (d.price_per_carat_cents != cases[i].ppc)
            fail_msg("case %zu: per carat %lld, want %lld", i, (long long)d.price_per_carat_cents,
                     (long long)cases[i].ppc);
        dm_diamond_free(&d);
        free(t1);
        free(text);
    }
}

/* Null-valued keys are left out of measurements and attributes; empty strings are NULL in the
 * text columns and kept as written inside measurements and attributes. */
static void test_nulls_and_empty_strings(void **state)
{
    struct dm_diamond d;
    map_variant("\"table\":57", "\"table\":null", NULL, &d);
    assert_null(strstr(d.measurements, "table"));
    assert_null(strstr(d.attributes, "green")); /* null in FULL */
    dm_diamond_free(&d);
    map_variant("\"girdle\":\"medium\"", "\"girdle\":\"\"", NULL, &d);
    assert_non_null(strstr(d.measurements, "\"girdle\":\"\""));
    dm_diamond_free(&d);
    map_variant("\"name\":\"Acme\"", "\"name\":\"\"", NULL, &d);
    assert_null(d.supplier_name);
    dm_diamond_free(&d);
    map_variant("\"HoldId\":\"h-9\"", "\"HoldId\":\"\"", NULL, &d);
    assert_null(d.hold_id);
    dm_diamond_free(&d);
    /* no measurement key present at all: NULL, not "{}" */
    char *text = dm_xasprintf("{\"id\":1,\"price\":1,\"diamond\":{\"id\":2,\"certificate\":"
                              "{\"shape\":\"oval\",\"carats\":1,\"color\":\"D\",\"clarity\":"
                              "\"IF\",\"table\":null}}}");
    struct dm_error err = {0};
    assert_int_equal(dm_mapping_map_text(text, strlen(text), &d, &err), DM_OK);
    assert_null(d.measurements);
    assert_null(d.attributes);
    dm_diamond_free(&d);
    free(text);
}

/* Supplier URLs: only http(s) URLs reach the canonical stone; the others are dropped and
 * named in dropped_urls (the consolidator logs them). */
static void test_urls(void **state)
{
    static const struct {
        const char *from, *to, *image, *video, *pdf, *dropped;
    } cases[] = {
        {"\"image\":\"https://img/1.jpg\"", "\"image\":\"javascript:alert(1)\"", NULL,
         "https://vid/1", "https://pdf/1", "image"},
        {"\"image\":\"https://img/1.jpg\"", "\"image\":\" javascript:alert(1)\"", NULL,
         "https://vid/1", "https://pdf/1", "image"},
        {"\"image\":\"https://img/1.jpg\"", "\"image\":\"HTTPS://IMG/2.JPG\"", "HTTPS://IMG/2.JPG",
         "https://vid/1", "https://pdf/1", ""},
        {"\"image\":\"https://img/1.jpg\"", "\"image\":\"http://img/3.jpg\"", "http://img/3.jpg",
         "https://vid/1", "https://pdf/1", ""},
        {"\"image\":\"https://img/1.jpg\"", "\"image\":\"//cdn/x.jpg\"", NULL, "https://vid/1",
         "https://pdf/1", "image"},
        {"\"image\":\"https://img/1.jpg\"", "\"image\":\"https://\"", NULL, "https://vid/1",
         "https://pdf/1", "image"},
        {"\"image\":\"https://img/1.jpg\"", "\"image\":\"https://a b\"", NULL, "https://vid/1",
         "https://pdf/1", "image"},
        {"\"image\":\"https://img/1.jpg\"", "\"image\":\"https://a\\nb\"", NULL, "https://vid/1",
         "https://pdf/1", "image"},
        {"\"video\":null", "\"video\":\"JavaScript:x\"", "https://img/1.jpg", "https://vid/1",
         "https://pdf/1", "video"},
        {"\"supplier_video_link\":\"https://vid/1\"", "\"supplier_video_link\":\"ftp://v\"",
         "https://img/1.jpg", NULL, "https://pdf/1", "supplier_video_link"},
        {"\"pdfUrl\":\"https://pdf/1\"", "\"pdfUrl\":\"data:text/html,<b>\"", "https://img/1.jpg",
         "https://vid/1", NULL, "pdfUrl"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_diamond d;
        map_variant(cases[i].from, cases[i].to, NULL, &d);
        const char *want[3] = {cases[i].image, cases[i].video, cases[i].pdf};
        const char *got[3] = {d.image_url, d.video_url, d.certificate_pdf_url};
        for (int k = 0; k < 3; k++) {
            if (want[k] == NULL)
                assert_null(got[k]);
            else
                assert_string_equal(got[k], want[k]);
        }
        assert_string_equal(d.dropped_urls, cases[i].dropped);
        dm_diamond_free(&d);
    }
    /* two at once */
    char *t1 = variant("\"image\":\"https://img/1.jpg\"", "\"image\":\"javascript:1\"");
    const char *p = strstr(t1, "\"pdfUrl\":\"https://pdf/1\"");
    char *text = dm_xasprintf("%.*s\"pdfUrl\":\"vbscript:2\"%s", (int)(p - t1), t1,
                              p + strlen("\"pdfUrl\":\"https://pdf/1\""));
    struct dm_diamond d;
    struct dm_error err = {0};
    assert_int_equal(dm_mapping_map_text(text, strlen(text), &d, &err), DM_OK);
    assert_string_equal(d.dropped_urls, "image,pdfUrl");
    dm_diamond_free(&d);
    free(t1);
    free(text);
}

static void test_copy_escaping(void **state)
{
    struct dm_buf b;
    dm_buf_init(&b, 1024);
    assert_int_equal(dm_copy_append_text(&b, "a\\b\tc\nd\re"), DM_OK);
    assert_string_equal(b.data, "a\\\\b\\tc\\nd\\re");
    dm_buf_reset(&b);
    assert_int_equal(dm_copy_append_text(&b, NULL), DM_OK);
    assert_string_equal(b.data, "\\N");
    dm_buf_free(&b);
}

static void test_decimal(void **state)
{
    struct {
        const char *json;
        int scale;
        enum dm_err e;
        int64_t want;
    } cases[] = {
        {"1.005", 2, DM_OK, 101},          {"1.0049", 2, DM_OK, 100},
        {"-1.005", 2, DM_OK, -101},        {"\"2.5\"", 0, DM_OK, 3},
        {"\"1e5\"", 2, DM_ERR_INVALID, 0}, {"12", 2, DM_OK, 1200},
        {"null", 2, DM_ERR_NOT_FOUND, 0},  {"[1]", 2, DM_ERR_INVALID, 0},
        {"\"\"", 2, DM_ERR_INVALID, 0},    {"9223372036854775807", 2, DM_ERR_TOO_LARGE, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        int64_t got = 0;
        enum dm_err e = dm_json_decimal(v, cases[i].scale, &got);
        if (e != cases[i].e || (e == DM_OK && got != cases[i].want))
            fail_msg("case %s: e=%d got %lld", cases[i].json, e, (long long)got);
        json_decref(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_item),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hostile_shapes),
        cmocka_unit_test(test_field_rules),
        cmocka_unit_test(test_copy_escaping),
        cmocka_unit_test(test_unicode_escapes),
        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_enumerated),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_nulls_and_empty_strings),
        cmocka_unit_test(test_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
