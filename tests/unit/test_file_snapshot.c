/* test_file_snapshot.c - the pure parts of a file feed's ingest (issue 18): the raw record a
 * file row becomes (payload keyed by canonical field, independent of the supplier's column
 * order and header names, mapped back by the consolidator to the very same diamond), the
 * stock id and "not carried" flag of bad rows, and the shrink guard. Table-driven. */
#include "testlib.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/file_feed.h"
#include "domain/file_mapping.h"
#include "testrows.h"
#include "domain/snapshot.h"

/* A mapping (json: the mapping file, NULL for none) bound to header. */
static struct dm_file_mapping *bound(const char *mapping_json, const char *header)
{
    struct dm_file_mapping *m = dm_test_file_mapping(mapping_json);
    dm_test_file_bind(m, header);
    return m;
}

/* The COPY line of a diamond (every canonical column): two diamonds are the same stone record
 * exactly when their lines are equal. */
static char *copy_line(const struct dm_diamond *d)
{
    struct dm_buf b;
    dm_buf_init(&b, 1 << 20);
    assert_int_equal(dm_diamond_copy_line(d, &b, NULL), DM_OK);
    char *s = dm_buf_steal(&b);
    dm_buf_free(&b);
    return s;
}

static const char *HEADER = "Stock #|Shape|Weight|Color|Clarity|Cut|Polish|Symmetry|"
                            "Fluorescence Intensity|Lab|Certificate #|Price Per Carat|"
                            "Total Price|Measurements|Depth %|Table %|Image|Video|"
                            "Availability|Growth Type|Key To Symbols|Comments";
static const char *ROW = "  S-1 |Round|1.01|G|VS1|Excellent|VG|EX|Faint|gia|2141438171|4950.50|"
                         "$5,000.01|6.45 x 6.42 x 3.98|61.9|57%|https://img.example/1.jpg||"
                         "Available|CVD|Crystal, Feather|Described as \"eye clean\"";

/* A good CSV row's payload: canonical keys in field order, values trimmed as written, empty
 * fields left out; valid JSON; mapped back to the same diamond. */
static void test_payload_round_trip(void **state)
{
    (void)state;
    struct dm_file_mapping *m = bound(NULL, HEADER);
    struct dm_file_raw raw;
    dm_file_raw_init(&raw);
    struct dm_diamond d, back;
    struct dm_error err = {0};
    assert_int_equal(dm_test_map_row_raw(m, ROW, "acme", &d, &raw, NULL, &err), DM_OK);
    assert_string_equal(
        raw.payload.data,
        "{\"stock_id\":\"S-1\",\"shape\":\"Round\",\"carats\":\"1.01\",\"color\":\"G\","
        "\"clarity\":\"VS1\",\"cut\":\"Excellent\",\"polish\":\"VG\",\"symmetry\":\"EX\","
        "\"fluorescence\":\"Faint\",\"lab\":\"gia\",\"certificate_number\":\"2141438171\","
        "\"total_price\":\"$5,000.01\",\"price_per_carat\":\"4950.50\","
        "\"measurements\":\"6.45 x 6.42 x 3.98\",\"depth_percent\":\"61.9\","
        "\"table_percent\":\"57%\",\"image\":\"https://img.example/1.jpg\","
        "\"availability\":\"Available\",\"growth_type\":\"CVD\","
        "\"key_to_symbols\":\"Crystal, Feather\","
        "\"comments\":\"Described as \\\"eye clean\\\"\"}");
    assert_string_equal(raw.stock_id, "S-1");
    assert_false(raw.not_carried);
    json_error_t jerr;
    json_t *j = json_loadb(raw.payload.data, raw.payload.len, 0, &jerr);
    assert_non_null(j);
    json_decref(j);

    assert_int_equal(dm_file_feed_map("acme", raw.payload.data, raw.payload.len, &back, &err),
                     DM_OK);
    char *a = copy_line(&d), *b = copy_line(&back);
    assert_string_equal(a, b);
    assert_string_equal(back.feed, "acme");
    assert_int_equal(back.feed_price_cents, 500001);
    free(a);
    free(b);
    dm_diamond_free(&d);
    dm_diamond_free(&back);
    dm_file_raw_free(&raw);
    dm_file_mapping_free(m);
}

/* The same stones exported with other header names, in another column order, or as JSON lines
 * (numbers as numbers) give the same payload: the content hash does not change with the
 * export. */
static void test_payload_independent_of_export(void **state)
{
    (void)state;
    static const struct {
        const char *mapping, *header, *row;
    } exports[] = {
        {NULL, "Carat|SKU|Colour|Shape Name|Clarity Grade|Total", "1.2|X9|F|Oval|VS2|1200"},
        {NULL, "Total Price|Clarity|Color|Weight|Shape|Stock No", "1200|VS2|F|1.2|Oval|X9"},
        {"{\"stock_id\":\"Vendor Ref\",\"total_price\":\"Net\"}",
         "Vendor Ref|Net|Shape|Cts|Color|Clarity", "X9|1200|Oval|1.2|F|VS2"},
    };
    const char *want = "{\"stock_id\":\"X9\",\"shape\":\"Oval\",\"carats\":\"1.2\",\"color\":\"F\","
                       "\"clarity\":\"VS2\",\"total_price\":\"1200\"}";
    struct dm_file_raw raw;
    dm_file_raw_init(&raw);
    for (size_t i = 0; i < sizeof(exports) / sizeof(exports[0]); i++) {
        struct dm_file_mapping *m = bound(exports[i].mapping, exports[i].header);
        struct dm_diamond d;
        struct dm_error err = {0};
        if (dm_test_map_row_raw(m, exports[i].row, "f", &d, &raw, NULL, &err) != DM_OK)
            fail_msg("export %zu: %s", i, err.message);
        if (strcmp(raw.payload.data, want) != 0)
            fail_msg("export %zu: payload %s", i, raw.payload.data);
        dm_diamond_free(&d);
        dm_file_mapping_free(m);
    }
    /* JSON lines: numbers keep their text. */
    struct dm_file_mapping *m = NULL;
    assert_int_equal(dm_file_mapping_new(NULL, 0, &m, NULL), DM_OK);
    const char *obj = "{\"Stock #\":\"X9\",\"Shape\":\"Oval\",\"Weight\":1.2,\"Color\":\"F\","
                      "\"Clarity\":\"VS2\",\"Total Price\":1200,\"Cut\":null,\"Lab\":\"\"}";
    struct dm_diamond d, back;
    struct dm_error err = {0};
    assert_int_equal(dm_file_mapping_json_raw(m, obj, strlen(obj), "f", &d, &raw, NULL, &err),
                     DM_OK);
    assert_string_equal(raw.payload.data, want);
    assert_int_equal(dm_file_feed_map("f", raw.payload.data, raw.payload.len, &back, &err), DM_OK);
    char *a = copy_line(&d), *b = copy_line(&back);
    assert_string_equal(a, b);
    free(a);
    free(b);
    dm_diamond_free(&d);
    dm_diamond_free(&back);
    dm_file_mapping_free(m);
    dm_file_raw_free(&raw);
}

/* A field the mapping file switches off (null) is neither mapped nor stored. */
static void test_payload_mapping_null(void **state)
{
    (void)state;
    struct dm_file_mapping *m =
        bound("{\"comments\":null}", "Stock #|Shape|Weight|Color|Clarity|Total Price|Comments");
    struct dm_file_raw raw;
    dm_file_raw_init(&raw);
    struct dm_diamond d;
    assert_int_equal(
        dm_test_map_row_raw(m, "A|Pear|0.5|D|IF|900|secret note", "f", &d, &raw, NULL, NULL),
        DM_OK);
    assert_null(strstr(raw.payload.data, "secret"));
    assert_null(d.attributes);
    dm_diamond_free(&d);
    dm_file_raw_free(&raw);
    dm_file_mapping_free(m);
}

/* Bad rows: no payload; the stock id when there is one; not_carried only for a real shape the
 * catalogue does not carry. */
static void test_bad_rows(void **state)
{
    (void)state;
    static const struct {
        const char *row;
        const char *stock;
        bool not_carried;
        enum dm_file_field field;
    } cases[] = {
        {"B1|Baguette|0.30|F|VS1|300", "B1", true, DM_FF_SHAPE},
        {"B2|TAPERED BAGUETTE|0.30|F|VS1|300", "B2", true, DM_FF_SHAPE},
        {"B3|briolette|0.30|F|VS1|300", "B3", true, DM_FF_SHAPE},
        {"B4|Blob|0.30|F|VS1|300", "B4", false, DM_FF_SHAPE},
        {"B5|Round|O.57|F|VS1|300", "B5", false, DM_FF_CARATS},
        {"B6|Round|0.57|F|VS1|POA", "B6", false, DM_FF_TOTAL_PRICE},
        {"B7|Round|0.57", "B7", false, DM_FF_NONE}, /* fields missing */
        {"|Round|0.57|F|VS1|300", "", false, DM_FF_STOCK_ID},
        {"B\x01|Baguette|0.57|F|VS1|300", "", true, DM_FF_SHAPE}, /* not shown, still flagged */
    };
    struct dm_file_mapping *m = bound(NULL, "Stock #|Shape|Weight|Color|Clarity|Total Price");
    struct dm_file_raw raw;
    dm_file_raw_init(&raw);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_diamond d;
        struct dm_error err = {0};
        enum dm_file_field bad = DM_FF_COUNT;
        if (dm_test_map_row_raw(m, cases[i].row, "f", &d, &raw, &bad, &err) != DM_ERR_INVALID)
            fail_msg("row %zu mapped", i);
        if (raw.payload.len != 0 || strcmp(raw.stock_id, cases[i].stock) != 0 ||
            raw.not_carried != cases[i].not_carried || bad != cases[i].field)
            fail_msg("row %zu: payload %zu bytes, stock '%s', not carried %d, field %d (%s)", i,
                     raw.payload.len, raw.stock_id, raw.not_carried, (int)bad, err.message);
    }
    dm_file_raw_free(&raw);
    dm_file_mapping_free(m);
}

static void test_shape_not_carried(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool want;
    } cases[] = {
        {"BAGUETTE", true},
        {"Tapered Baguette", true},
        {"tapered-baguette", true},
        {"Briolette", true},
        {"half_moon", true},
        {"Kite", true},
        {"ROUND", false},
        {"Blob", false},
        {"", false},
        {"BAGUETTE2", false},
        {"Bägüette", false},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (dm_file_shape_not_carried(cases[i].s) != cases[i].want)
            fail_msg("'%s': want %d", cases[i].s ? cases[i].s : "(null)", cases[i].want);
}

static void test_shrink_guard(void **state)
{
    (void)state;
    static const struct {
        int64_t baseline, stones;
        double max_shrink;
        bool refused;
        int64_t least;
    } cases[] = {
        {100, 50, 0.5, false, 50},      /* exactly half: kept */
        {100, 49, 0.5, true, 50},       /* below half */
        {101, 50, 0.5, true, 51},       /* ceil(50.5) */
        {3, 1, 0.5, true, 2},           /* ceil(1.5) */
        {500000, 0, 0.5, true, 250000}, /* an empty snapshot never wipes a catalogue */
        {0, 0, 0.5, false, 0},          /* no baseline: nothing to protect */
        {100, 0, 1.0, false, 0},        /* the guard switched off */
        {100, 99, 0.0, true, 100},      /* any drop refused */
        {100, 100, 0.0, false, 100},    /* */
        {100, 80, 0.25, false, 75},     /* a quarter may go */
        {100, 74, 0.25, true, 75},      /* */
        {100, 75, 0.25, false, 75},     /* */
        {100, 10, NAN, true, 100},      /* NaN: no shrink allowed */
        {100, 10, -1.0, true, 100},     /* clamped to 0 */
        {100, 0, 7.0, false, 0},        /* clamped to 1 */
        {100, 200, 0.5, false, 50},     /* growth is always fine */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t least = -1;
        bool refused = dm_snapshot_shrink_refused(cases[i].baseline, cases[i].stones,
                                                  cases[i].max_shrink, &least);
        if (refused != cases[i].refused || least != cases[i].least)
            fail_msg("case %zu: refused %d least %lld", i, refused, (long long)least);
    }
    assert_true(dm_snapshot_shrink_refused(100, 49, 0.5, NULL)); /* min_stones may be NULL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_round_trip),
        cmocka_unit_test(test_payload_independent_of_export),
        cmocka_unit_test(test_payload_mapping_null),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_shape_not_carried),
        cmocka_unit_test(test_shrink_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
