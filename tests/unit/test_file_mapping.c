/* test_file_mapping.c - supplier file headers and rows -> canonical diamond: aliases, the
 * simulator's header set, the mapping file, missing required columns, good rows (every field,
 * price per carat only, money spellings, JSON lines) and bad rows with the field they name.
 * Table-driven. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/file_mapping.h"
#include "testrows.h"

/* The feed simulator's CSV header (services/feedsim/feedfile.h): every column maps with no
 * mapping file. */
static const char *SIM_HEADER =
    "Stock #,Shape,Weight,Color,Clarity,Cut,Polish,Symmetry,Fluorescence Intensity,Lab,"
    "Certificate #,Price Per Carat,Total Price,Measurements,Depth %,Table %,Image,Video,"
    "Availability,Growth Type,Key To Symbols,Comments";

static void test_simulator_header(void **state)
{
    struct dm_file_mapping *m = dm_test_file_mapping(NULL);
    dm_test_file_bind(m, SIM_HEADER);
    const enum dm_file_field want[] = {
        DM_FF_STOCK_ID,     DM_FF_SHAPE,        DM_FF_CARATS,       DM_FF_COLOR,
        DM_FF_CLARITY,      DM_FF_CUT,          DM_FF_POLISH,       DM_FF_SYMMETRY,
        DM_FF_FLUORESCENCE, DM_FF_LAB,          DM_FF_CERT_NUMBER,  DM_FF_PRICE_PER_CARAT,
        DM_FF_TOTAL_PRICE,  DM_FF_MEASUREMENTS, DM_FF_DEPTH_PCT,    DM_FF_TABLE_PCT,
        DM_FF_IMAGE,        DM_FF_VIDEO,        DM_FF_AVAILABILITY,
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (dm_file_mapping_column(m, want[i]) != (int)i)
            fail_msg("%s: column %d, want %zu", dm_file_field_name(want[i]),
                     dm_file_mapping_column(m, want[i]), i);

    const char *row =
        "S-1|Round|1.01|G|VS1|Excellent|VG|EX|Faint|gia|2141438171|4950.50|5000.01|"
        "6.45 x 6.42 x 3.98|61.9|57%|https://img.example/1.jpg|http://v.example/1|"
        "Available|CVD|Crystal, Feather|Described as \"eye clean\", per the supplier.";
    struct dm_diamond d;
    struct dm_error err = {0};
    enum dm_file_field bad;
    assert_int_equal(dm_test_map_row(m, row, "supplier_a", &d, &bad, &err), DM_OK);
    assert_string_equal(d.feed, "supplier_a");
    assert_string_equal(d.supplier_stone_id, "S-1");
    assert_string_equal(d.offer_id, "S-1");
    assert_string_equal(d.shape, "ROUND");
    assert_int_equal(d.carats_c2, 101);
    assert_string_equal(d.color, "G");
    assert_string_equal(d.clarity, "VS1");
    assert_string_equal(d.cut, "EX");
    assert_string_equal(d.polish, "VG");
    assert_string_equal(d.symmetry, "EX");
    assert_string_equal(d.fluorescence, "Faint");
    assert_string_equal(d.certificate_lab, "GIA");
    assert_string_equal(d.certificate_number, "2141438171");
    assert_int_equal(d.feed_price_cents, 500001); /* the total wins over price per carat */
    assert_string_equal(d.measurements, "{\"length\":6.45,\"width\":6.42,\"depth\":3.98,"
                                        "\"depthPercentage\":61.9,\"table\":57}");
    assert_string_equal(d.image_url, "https://img.example/1.jpg");
    assert_string_equal(d.video_url, "http://v.example/1");
    assert_int_equal(d.availability, DM_AVAIL_AVAILABLE);
    assert_string_equal(d.raw_availability, "Available");
    assert_true(d.lab_grown); /* Growth Type CVD */
    assert_false(d.treated);
    assert_string_equal(d.attributes, "{\"keyToSymbols\":\"Crystal, Feather\",\"comments\":"
                                      "\"Described as \\\"eye clean\\\", per the supplier.\"}");
    assert_int_equal(d.markup_e4, DM_DEFAULT_MARKUP_E4);
    assert_string_equal(d.dropped_urls, "");
    /* It prices and serialises like a Nivoda stone. */
    assert_int_equal(dm_mapping_price(&d, NULL, 0, &err), DM_OK);
    assert_int_equal(d.retail_price_cents, 575001);
    dm_diamond_free(&d);
    dm_file_mapping_free(m);
}

static void test_aliases(void **state)
{
    static const struct {
        const char *header;
        enum dm_file_field want;
    } cases[] = {
        {"Stock #", DM_FF_STOCK_ID},
        {"Stock No", DM_FF_STOCK_ID},
        {"STOCK NO.", DM_FF_STOCK_ID},
        {"stock_no", DM_FF_STOCK_ID},
        {"StockID", DM_FF_STOCK_ID},
        {"Stock Id", DM_FF_STOCK_ID},
        {"Lot #", DM_FF_STOCK_ID},
        {"SKU", DM_FF_STOCK_ID},
        {"shape", DM_FF_SHAPE},
        {"Carat", DM_FF_CARATS},
        {"Carats", DM_FF_CARATS},
        {"Weight", DM_FF_CARATS},
        {"Size", DM_FF_CARATS},
        {"Colour", DM_FF_COLOR},
        {"COLOR", DM_FF_COLOR},
        {"Clarity", DM_FF_CLARITY},
        {"Cut", DM_FF_CUT},
        {"Cut Grade", DM_FF_CUT},
        {"Polish", DM_FF_POLISH},
        {"Symmetry", DM_FF_SYMMETRY},
        {"Fluorescence", DM_FF_FLUORESCENCE},
        {"Fluor", DM_FF_FLUORESCENCE},
        {"Fluorescence Intensity", DM_FF_FLUORESCENCE},
        {"Lab", DM_FF_LAB},
        {"Certificate Lab", DM_FF_LAB},
        {"Grading Lab", DM_FF_LAB},
        {"Certificate #", DM_FF_CERT_NUMBER},
        {"Cert No", DM_FF_CERT_NUMBER},
        {"Report #", DM_FF_CERT_NUMBER},
        {"Certificate Number", DM_FF_CERT_NUMBER},
        {"Total Price", DM_FF_TOTAL_PRICE},
        {"Price", DM_FF_TOTAL_PRICE},
        {"Total", DM_FF_TOTAL_PRICE},
        {"Price Per Carat", DM_FF_PRICE_PER_CARAT},
        {"PPC", DM_FF_PRICE_PER_CARAT},
        {"$/ct", DM_FF_PRICE_PER_CARAT},
        {"Measurements", DM_FF_MEASUREMENTS},
        {"Length", DM_FF_LENGTH},
        {"Width", DM_FF_WIDTH},
        {"Depth", DM_FF_DEPTH},
        {"Depth %", DM_FF_DEPTH_PCT},
        {"depth_percent", DM_FF_DEPTH_PCT},
        {"Table %", DM_FF_TABLE_PCT},
        {"Image", DM_FF_IMAGE},
        {"Image URL", DM_FF_IMAGE},
        {"Video", DM_FF_VIDEO},
        {"Availability", DM_FF_AVAILABILITY},
        {"Lab Grown", DM_FF_LAB_GROWN},
        {"  shape  ", DM_FF_SHAPE},
        {"Comments", DM_FF_COMMENTS},
        {"Growth Type", DM_FF_GROWTH_TYPE},
        {"Notes", DM_FF_NONE},
        {"", DM_FF_NONE},
        {"###", DM_FF_NONE},
        {"Größe", DM_FF_NONE},
    };
    struct dm_file_mapping *m = dm_test_file_mapping(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum dm_file_field got = dm_file_mapping_field(m, cases[i].header);
        if (got != cases[i].want)
            fail_msg("\"%s\": %s, want %s", cases[i].header, dm_file_field_name(got),
                     dm_file_field_name(cases[i].want));
    }
    /* Two columns for one field: the better alias wins wherever it stands. */
    dm_test_file_bind(m, "Price,Stock #,Shape,Carat,Color,Clarity,Total Price,Size");
    assert_int_equal(dm_file_mapping_column(m, DM_FF_TOTAL_PRICE), 6);
    assert_int_equal(dm_file_mapping_column(m, DM_FF_CARATS), 3);
    assert_int_equal(dm_file_mapping_column(m, DM_FF_PRICE_PER_CARAT), -1);
    dm_file_mapping_free(m);
}

static void test_missing_required_columns(void **state)
{
    struct dm_file_mapping *m = dm_test_file_mapping(NULL);
    struct dm_test_line h;
    dm_test_split(&h, "Shape,Weight,Comments");
    struct dm_error err = {0};
    assert_int_equal(dm_file_mapping_bind_header(m, h.f, h.len, h.n, &err), DM_ERR_INVALID);
    static const char *const missing[] = {"stock_id", "color", "clarity",
                                          "total_price or price_per_carat", NULL};
    static const char *const present[] = {"shape", "carats", NULL};
    dm_test_contains(err.message, missing, present);
    dm_test_line_free(&h);
    /* Price per carat alone is enough. */
    dm_test_file_bind(m, "Stock #,Shape,Carat,Color,Clarity,$/ct");
    dm_file_mapping_free(m);
}

static void test_mapping_file(void **state)
{
    struct dm_file_mapping *m =
        dm_test_file_mapping("{\"stock_id\": \"Vendor Ref\", \"total_price\": "
                             "\"Net Value\", \"depth\": null, \"carats\": \"Size\"}");
    dm_test_file_bind(m,
                      "Stock #,Vendor Ref,Shape,Size,Color,Clarity,Net Value,Price,Depth,Weight");
    assert_int_equal(dm_file_mapping_column(m, DM_FF_STOCK_ID), 1); /* not "Stock #" */
    assert_int_equal(dm_file_mapping_column(m, DM_FF_CARATS), 3);   /* not "Weight" */
    assert_int_equal(dm_file_mapping_column(m, DM_FF_TOTAL_PRICE), 6);
    assert_int_equal(dm_file_mapping_column(m, DM_FF_DEPTH), -1);
    assert_int_equal(dm_file_mapping_field(m, "vendor_ref"), DM_FF_STOCK_ID);
    assert_int_equal(dm_file_mapping_field(m, "Stock #"), DM_FF_NONE);
    assert_int_equal(dm_file_mapping_field(m, "Price"), DM_FF_NONE);
    /* A header the mapping file names for a field is not read as another field's alias. */
    dm_file_mapping_free(m);
    m = dm_test_file_mapping("{\"stock_id\": \"Size\"}");
    assert_int_equal(dm_file_mapping_field(m, "Size"), DM_FF_STOCK_ID);
    assert_int_equal(dm_file_mapping_field(m, "Carat"), DM_FF_CARATS);
    /* The named column must be there. */
    struct dm_test_line h;
    dm_test_split(&h, "Stock #,Shape,Carat,Color,Clarity,Price");
    struct dm_error err = {0};
    assert_int_equal(dm_file_mapping_bind_header(m, h.f, h.len, h.n, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "stock_id (mapping file: \"Size\")"));
    dm_test_line_free(&h);
    dm_file_mapping_free(m);

    static const struct {
        const char *json, *want;
    } bad[] = {
        {"[]", "not a JSON object"},
        {"{\"stock\": \"X\"}", "\"stock\" is not a field name"},
        {"{\"shape\": 3}", "must be a header name"},
        {"{\"shape\": \"A\", \"shape\": \"B\"}", "given twice"},
        {"{\"shape\": \"Form\", \"cut\": \"FORM\"}", "named for both"},
        {"{\"shape\": \"  \"}", "empty or too long"},
        {"{\"shape\": ", "mapping file:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dm_file_mapping *b = NULL;
        err = (struct dm_error){0};
        if (dm_file_mapping_new(bad[i].json, strlen(bad[i].json), &b, &err) != DM_ERR_INVALID ||
            b != NULL || strstr(err.message, bad[i].want) == NULL)
            fail_msg("%s: %s", bad[i].json, err.message);
    }
    dm_file_mapping_free(NULL);
}

/* Good rows: values as suppliers write them. */
static void test_rows_good(void **state)
{
    struct dm_file_mapping *m = dm_test_file_mapping(NULL);
    dm_test_file_bind(m,
                      "Lot #,Shape,Carats,Colour,Clarity,PPC,Length,Width,Depth,Depth %,Lab Grown,"
                      "Treated,Availability,Image,Certificate URL,Total");
    static const struct {
        const char *row;
        int64_t carats, cents;
        const char *shape, *measurements;
        bool lab_grown;
        enum dm_availability avail;
        const char *dropped;
    } cases[] = {
        /* price per carat x carats, exact and half up: 3333.33 x 1.5 = 4999.995 -> 5000.00 */
        {" L1 ,RD,1.50,g,vs1,3333.33,7.40mm,7.35,4.5,61.2%,yes,no,,,,", 150, 500000, "ROUND",
         "{\"length\":7.4,\"width\":7.35,\"depth\":4.5,\"depthPercentage\":61.2}", true,
         DM_AVAIL_AVAILABLE, ""},
        {"L2,Oval Brilliant,0.705,D,IF,$1234.5,,,,,,,Y,javascript:x,https://c/1,", 71, 87650,
         "OVAL", NULL, false, DM_AVAIL_AVAILABLE, "image"},
        {"L3,cushion modified,2,E,SI2,USD 100,,,,,N,,On Hold,,ftp://x,", 200, 20000,
         "CUSHION MODIFIED", NULL, false, DM_AVAIL_ON_HOLD, "certificate_url"},
        {"L4|PS|1|F|I1|100|||||||No|||$2,500.00", 100, 250000, "PEAR", NULL, false,
         DM_AVAIL_UNAVAILABLE, ""},
        {"L7|PS|1|F|I1|$1,234,567.891||||||||||", 100, 123456789, "PEAR", NULL, false,
         DM_AVAIL_AVAILABLE, ""},
        {"L5,PR,1,F,I1,,,,,,,,sold,,,$2500", 100, 250000, "PRINCESS", NULL, false, DM_AVAIL_SOLD,
         ""},
        {"L6,EM,1,F,I1,,,,,,,,not available,,,2500.999", 100, 250100, "EMERALD", NULL, false,
         DM_AVAIL_UNAVAILABLE, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_diamond d;
        struct dm_error err = {0};
        enum dm_file_field bad = DM_FF_COUNT;
        if (dm_test_map_row(m, cases[i].row, "f", &d, &bad, &err) != DM_OK)
            fail_msg("row %zu: %s", i, err.message);
        assert_int_equal(bad, DM_FF_NONE);
        if (d.carats_c2 != cases[i].carats || d.feed_price_cents != cases[i].cents ||
            strcmp(d.shape, cases[i].shape) != 0 || d.lab_grown != cases[i].lab_grown ||
            d.availability != cases[i].avail || strcmp(d.dropped_urls, cases[i].dropped) != 0)
            fail_msg("row %zu: carats %lld cents %lld shape %s lab-grown %d avail %d dropped %s", i,
                     (long long)d.carats_c2, (long long)d.feed_price_cents, d.shape, d.lab_grown,
                     d.availability, d.dropped_urls);
        if (cases[i].measurements)
            assert_string_equal(d.measurements, cases[i].measurements);
        else
            assert_null(d.measurements);
        assert_string_equal(d.supplier_stone_id, i == 0 ? "L1" : d.supplier_stone_id);
        dm_diamond_free(&d);
    }
    dm_file_mapping_free(m);
}

static void test_rows_bad(void **state)
{
    struct dm_file_mapping *m = dm_test_file_mapping(NULL);
    const char *header = "Stock #,Shape,Carat,Color,Clarity,Cut,Total Price,Price Per Carat,"
                         "Measurements,Table %,Lab Grown";
    dm_test_file_bind(m, header);
    static const struct {
        const char *row;
        enum dm_file_field field;
        const char *want;
    } cases[] = {
        {",Round,1,G,VS1,,100,,,,", DM_FF_STOCK_ID, "stock_id (column \"Stock #\"): is missing"},
        {"A,Blob,1,G,VS1,,100,,,,", DM_FF_SHAPE, "shape (column \"Shape\"): \"Blob\" is not a"},
        {"A,,1,G,VS1,,100,,,,", DM_FF_SHAPE, "is missing"},
        {"A,Round,abc,G,VS1,,100,,,,", DM_FF_CARATS, "carats (column \"Carat\"): \"abc\""},
        {"A,Round,0,G,VS1,,100,,,,", DM_FF_CARATS, "is not a weight"},
        {"A,Round,-1,G,VS1,,100,,,,", DM_FF_CARATS, "is not a weight"},
        {"A,Round,10000,G,VS1,,100,,,,", DM_FF_CARATS, "is not a weight"},
        {"A,Round,1,C,VS1,,100,,,,", DM_FF_COLOR, "color (column \"Color\"): \"C\""},
        {"A,Round,1,G,,,100,,,,", DM_FF_CLARITY, "is missing"},
        {"A,Round,1,G,VS4,,100,,,,", DM_FF_CLARITY, "\"VS4\" is not a known value"},
        {"A,Round,1,G,VS1,Superb,100,,,,", DM_FF_CUT, "cut (column \"Cut\"): \"Superb\""},
        {"A,Round,1,G,VS1,,12.34.5,,,,", DM_FF_TOTAL_PRICE, "is not an amount"},
        {"A,Round,1,G,VS1,,-5,,,,", DM_FF_TOTAL_PRICE, "is not an amount"},
        {"A,Round,1,G,VS1,,1e5,,,,", DM_FF_TOTAL_PRICE, "is not an amount"},
        {"A,Round,1,G,VS1,,,abc,,,", DM_FF_PRICE_PER_CARAT, "price_per_carat (column"},
        {"A,Round,1,G,VS1,,,,,,", DM_FF_TOTAL_PRICE, "no total price nor price per carat"},
        {"A,Round,1,G,VS1,,,99999999999,,,", DM_FF_PRICE_PER_CARAT, "is not an amount"},
        {"A|Round|1|G|VS1||1,23||||", DM_FF_TOTAL_PRICE, "\"1,23\" is not an amount"},
        {"A|Round|1|G|VS1||1234,567||||", DM_FF_TOTAL_PRICE, "is not an amount"},
        {"A|Round|1|G|VS1||,123||||", DM_FF_TOTAL_PRICE, "is not an amount"},
        {"A|Round|1|G|VS1||12,34.5||||", DM_FF_TOTAL_PRICE, "is not an amount"},
        {"A,Round,9999,G,VS1,,,9999999999,,,", DM_FF_PRICE_PER_CARAT, "out of range"},
        {"A,Round,1,G,VS1,,100,,6.4 x 6.5,,", DM_FF_MEASUREMENTS, "is not \"L x W x D\""},
        {"A,Round,1,G,VS1,,100,,6.4 x 6.5 x 4 x 2,,", DM_FF_MEASUREMENTS, "L x W x D"},
        {"A,Round,1,G,VS1,,100,,,wide,", DM_FF_TABLE_PCT, "table_percent (column \"Table %\")"},
        {"A,Round,1,G,VS1,,100,,,,maybe", DM_FF_LAB_GROWN, "is not a boolean"},
        {"A,Round,1,G,VS1,,100,,,", DM_FF_NONE, "row has 10 fields, the header has 11"},
        {"A,Round,1,G,VS1,,100,,,,,x", DM_FF_NONE, "row has 12 fields"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_diamond d;
        struct dm_error err = {0};
        enum dm_file_field bad = DM_FF_COUNT;
        enum dm_err e = dm_test_map_row(m, cases[i].row, "f", &d, &bad, &err);
        if (e != DM_ERR_INVALID || bad != cases[i].field || !strstr(err.message, cases[i].want))
            fail_msg("row \"%s\": e=%d field %s message \"%s\"; want field %s, \"%s\"",
                     cases[i].row, e, dm_file_field_name(bad), err.message,
                     dm_file_field_name(cases[i].field), cases[i].want);
        assert_null(d.supplier_stone_id); /* nothing held after an error */
    }
    /* Trailing empty fields beyond the header are tolerated (spreadsheet exports). */
    struct dm_diamond d;
    struct dm_error err = {0};
    assert_int_equal(dm_test_map_row(m, "A,Round,1,G,VS1,,100,,,,,,", "f", &d, NULL, &err), DM_OK);
    dm_diamond_free(&d);
    /* An embedded NUL byte is refused, never cut. */
    const char *f[11] = {"A\0B", "Round", "1", "G", "VS1", "", "100", "", "", "", ""};
    size_t l[11] = {3, 5, 1, 1, 3, 0, 3, 0, 0, 0, 0};
    enum dm_file_field bad;
    assert_int_equal(dm_file_mapping_row(m, f, l, 11, "f", &d, &bad, &err), DM_ERR_INVALID);
    assert_int_equal(bad, DM_FF_STOCK_ID);
    assert_non_null(strstr(err.message, "NUL"));
    dm_file_mapping_free(m);
}

static void test_growth_type_and_utf8(void **state)
{
    struct dm_file_mapping *m = dm_test_file_mapping(NULL);
    dm_test_file_bind(m, "Stock #,Shape,Carat,Color,Clarity,Price,Growth Type,Lab Grown,Comments");
    static const struct {
        const char *row;
        enum dm_err e;
        bool lab_grown;
    } cases[] = {
        {"A,Round,1,G,VS1,100,HPHT,,", DM_OK, true},
        {"A,Round,1,G,VS1,100,Natural,,", DM_OK, false},
        {"A,Round,1,G,VS1,100,n/a,,", DM_OK, false},
        {"A,Round,1,G,VS1,100,,,", DM_OK, false},
        {"A,Round,1,G,VS1,100,CVD,no,", DM_OK, false}, /* the explicit flag wins */
        {"A,Round,1,G,VS1,100,,,Gr\xC3\xB6\xC3\x9F"
         "e",
         DM_OK, false},
        {"A,Round,1,G,VS1,100,,,Gr\xF6\xDF"
         "e",
         DM_ERR_INVALID, false}, /* Latin-1 */
        {"A\xE9,Round,1,G,VS1,100,,,", DM_ERR_INVALID, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_diamond d;
        struct dm_error err = {0};
        enum dm_file_field bad;
        enum dm_err e = dm_test_map_row(m, cases[i].row, "f", &d, &bad, &err);
        if (e != cases[i].e || (e == DM_OK && d.lab_grown != cases[i].lab_grown))
            fail_msg("case %zu: e=%d lab_grown=%d %s", i, e, e == DM_OK && d.lab_grown,
                     err.message);
        if (e != DM_OK) {
            assert_non_null(strstr(err.message, "is not valid UTF-8"));
            assert_true(bad == DM_FF_COMMENTS || bad == DM_FF_STOCK_ID);
        } else {
            dm_diamond_free(&d);
        }
    }
    dm_file_mapping_free(m);
}

static void test_json_lines(void **state)
{
    struct dm_file_mapping *m = dm_test_file_mapping("{\"total_price\": \"net\"}");
    const char *good = "{\"Stock #\":\"J1\",\"shape\":\"heart\",\"carat\":1.25,\"Color\":\"h\","
                       "\"Clarity\":\"si1\",\"net\":\"1200.50\",\"Price\":1,\"Lab\":null,"
                       "\"Lab Grown\":true,\"Depth %\":62,\"extra\":{\"x\":1}}";
    struct dm_diamond d;
    struct dm_error err = {0};
    enum dm_file_field bad;
    assert_int_equal(dm_file_mapping_json(m, good, strlen(good), "f", &d, &bad, &err), DM_OK);
    assert_string_equal(d.supplier_stone_id, "J1");
    assert_string_equal(d.shape, "HEART");
    assert_int_equal(d.carats_c2, 125);
    assert_string_equal(d.color, "H");
    assert_string_equal(d.clarity, "SI1");
    assert_int_equal(d.feed_price_cents, 120050);
    assert_null(d.certificate_lab);
    assert_true(d.lab_grown);
    assert_string_equal(d.measurements, "{\"depthPercentage\":62}");
    dm_diamond_free(&d);

    static const struct {
        const char *json;
        enum dm_file_field field;
        const char *want;
    } cases[] = {
        {"{\"Stock #\":\"J1\",\"shape\":\"heart\",\"carat\":1,\"Color\":\"h\",\"Clarity\":\"si1\""
         ",\"net\":{\"usd\":5}}",
         DM_FF_TOTAL_PRICE, "object or array"},
        {"{\"Stock #\":\"J1\",\"shape\":\"heart\",\"carat\":\"x\",\"Color\":\"h\"}", DM_FF_CARATS,
         "carats (column \"carat\")"},
        {"{\"shape\":\"heart\"}", DM_FF_STOCK_ID, "is missing"},
        {"[1,2]", DM_FF_NONE, "not a JSON object"},
        {"{\"Stock #\":", DM_FF_NONE, "not JSON"},
        {"{\"Stock #\":\"a\\u0000b\"}", DM_FF_NONE, "not JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err = (struct dm_error){0};
        bad = DM_FF_COUNT;
        enum dm_err e =
            dm_file_mapping_json(m, cases[i].json, strlen(cases[i].json), "f", &d, &bad, &err);
        if (e != DM_ERR_INVALID || bad != cases[i].field || !strstr(err.message, cases[i].want))
            fail_msg("%s: e=%d field %s \"%s\"", cases[i].json, e, dm_file_field_name(bad),
                     err.message);
    }
    dm_file_mapping_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simulator_header),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_missing_required_columns),
        cmocka_unit_test(test_mapping_file),
        cmocka_unit_test(test_rows_good),
        cmocka_unit_test(test_rows_bad),
        cmocka_unit_test(test_growth_type_and_utf8),
        cmocka_unit_test(test_json_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
