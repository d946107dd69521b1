/*
 * test_feedsim_file.c - the feed simulator's file mode, without the network: the canonical CSV
 * header, RFC 4180 quoting (read back by a strict little parser here), JSON lines, each bad-row
 * kind, ETags, HTTP dates and conditional-GET rules; and --share-from: the shared fraction is
 * exact, shared stones carry the source's certificate and grading byte for byte (file rows and
 * GraphQL items) at their own prices and ids, the other stones are untouched, and the content
 * hash follows churn.
 */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "services/feedsim/feedfile.h"
#include "services/feedsim/inventory.h"

#define MAXF 40

/* Strict RFC 4180 split of one line (without its CRLF) into fields; -1 on a syntax error. */
static int csv_split(const char *line, size_t len, char fields[MAXF][256])
{
    int n = 0;
    size_t i = 0;
    for (;;) {
        if (n == MAXF)
            return -1;
        size_t o = 0;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return -1; /* unterminated */
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        fields[n][o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                fields[n][o++] = line[i++];
            }
            if (i < len && line[i] != ',')
                return -1; /* text after a closing quote */
        } else {
            while (i < len && line[i] != ',') {
                if (line[i] == '"')
                    return -1; /* a quote inside an unquoted field */
                fields[n][o++] = line[i++];
            }
        }
        fields[n][o] = '\0';
        n++;
        if (i >= len)
            return n;
        i++; /* the comma */
    }
}

static struct dm_inv_row sample_row(void)
{
    struct dm_inv_row r;
    memset(&r, 0, sizeof(r));
    strcpy(r.stock, "ST0000000042");
    r.shape = "CUSHION MODIFIED";
    r.carats100 = 101;
    r.color = "G";
    r.clarity = "VS1";
    r.cut = NULL;
    r.polish = "EX";
    r.symmetry = "VG";
    r.fluorescence = "Very Strong";
    r.lab = "GIA";
    strcpy(r.certno, "1234567890");
    r.price_cents = 512345;
    r.ppc_cents = 507272;
    r.has_meas = true;
    r.len100 = 612;
    r.wid100 = 560;
    r.dep100 = 350;
    r.depth_pct10 = 625;
    r.table_pct = 57;
    strcpy(r.image, "https://images.example/a.jpg");
    r.availability = "Available";
    r.growth = "Natural";
    r.key_symbols = "Crystal, Feather";
    r.comment = "Described as \"eye clean\", per the supplier.";
    return r;
}

static void test_csv_header_and_quoting(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 1 << 16);
    assert_int_equal(dm_feedfile_header(DM_FEEDFILE_CSV, &b), DM_OK);
    assert_string_equal(b.data, "Stock #,Shape,Weight,Color,Clarity,Cut,Polish,Symmetry,"
                                "Fluorescence Intensity,Lab,Certificate #,Price Per Carat,"
                                "Total Price,Measurements,Depth %,Table %,Image,Video,"
                                "Availability,Growth Type,Key To Symbols,Comments\r\n");
    dm_buf_reset(&b);
    struct dm_inv_row r = sample_row();
    assert_int_equal(dm_feedfile_row(DM_FEEDFILE_CSV, &r, 0, &b), DM_OK);
    assert_true(b.len > 2 && !memcmp(b.data + b.len - 2, "\r\n", 2));
    assert_null(memchr(b.data, '\n', b.len - 1)); /* one physical line */
    char f[MAXF][256];
    assert_int_equal(csv_split(b.data, b.len - 2, f), DM_FEEDFILE_NCOLUMNS);
    const char *want[DM_FEEDFILE_NCOLUMNS] = {"ST0000000042",
                                              "CUSHION MODIFIED",
                                              "1.01",
                                              "G",
                                              "VS1",
                                              "",
                                              "EX",
                                              "VG",
                                              "Very Strong",
                                              "GIA",
                                              "1234567890",
                                              "5072.72",
                                              "5123.45",
                                              "6.12 x 5.60 x 3.50",
                                              "62.5",
                                              "57",
                                              "https://images.example/a.jpg",
                                              "",
                                              "Available",
                                              "Natural",
                                              "Crystal, Feather",
                                              "Described as \"eye clean\", per the supplier."};
    for (int i = 0; i < DM_FEEDFILE_NCOLUMNS; i++)
        assert_string_equal(f[i], want[i]);
    /* Only the fields that need it are quoted. */
    assert_non_null(strstr(b.data, ",\"Crystal, Feather\","));
    assert_non_null(strstr(b.data, ",\"Described as \"\"eye clean\"\", per the supplier.\""));
    assert_non_null(strstr(b.data, ",6.12 x 5.60 x 3.50,"));
    dm_buf_free(&b);
}

static void test_jsonl_rows(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 1 << 16);
    assert_int_equal(dm_feedfile_header(DM_FEEDFILE_JSONL, &b), DM_OK);
    assert_int_equal(b.len, 0);
    struct dm_inv_row r = sample_row();
    assert_int_equal(dm_feedfile_row(DM_FEEDFILE_JSONL, &r, 0, &b), DM_OK);
    assert_int_equal(b.data[b.len - 1], '\n');
    json_error_t je;
    json_t *o = json_loadb(b.data, b.len, 0, &je);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), DM_FEEDFILE_NCOLUMNS);
    assert_true(json_is_null(json_object_get(o, "Cut")));
    assert_true(json_is_null(json_object_get(o, "Video")));
    assert_true(json_is_real(json_object_get(o, "Weight")));
    assert_true(json_real_value(json_object_get(o, "Total Price")) == 5123.45);
    assert_string_equal(json_string_value(json_object_get(o, "Comments")),
                        "Described as \"eye clean\", per the supplier.");
    assert_string_equal(json_string_value(json_object_get(o, "Certificate #")), "1234567890");
    json_decref(o);
    dm_buf_free(&b);
}

static void test_bad_rows(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 1 << 16);
    struct dm_inv_row r = sample_row();
    char f[MAXF][256];
    /* structure: CSV misses its last three fields; JSON lines is not valid JSON. */
    assert_int_equal(dm_feedfile_row(DM_FEEDFILE_CSV, &r, 1, &b), DM_OK);
    assert_int_equal(csv_split(b.data, b.len - 2, f), DM_FEEDFILE_NCOLUMNS - 3);
    dm_buf_reset(&b);
    assert_int_equal(dm_feedfile_row(DM_FEEDFILE_JSONL, &r, 1, &b), DM_OK);
    assert_int_equal(b.data[b.len - 1], '\n');
    assert_null(memchr(b.data, '\n', b.len - 1));
    assert_null(json_loadb(b.data, b.len, 0, NULL));
    /* weight: a letter where a digit belongs. */
    dm_buf_reset(&b);
    assert_int_equal(dm_feedfile_row(DM_FEEDFILE_CSV, &r, 2, &b), DM_OK);
    assert_int_equal(csv_split(b.data, b.len - 2, f), DM_FEEDFILE_NCOLUMNS);
    assert_string_equal(f[2], "O.01");
    dm_buf_reset(&b);
    assert_int_equal(dm_feedfile_row(DM_FEEDFILE_JSONL, &r, 2, &b), DM_OK);
    json_t *o = json_loadb(b.data, b.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "Weight")), "O.01");
    json_decref(o);
    /* price: "POA" for both prices. */
    dm_buf_reset(&b);
    assert_int_equal(dm_feedfile_row(DM_FEEDFILE_CSV, &r, 3, &b), DM_OK);
    assert_int_equal(csv_split(b.data, b.len - 2, f), DM_FEEDFILE_NCOLUMNS);
    assert_string_equal(f[11], "POA");
    assert_string_equal(f[12], "POA");
    assert_string_equal(dm_feedfile_bad_kind_name(1), "structure");
    assert_string_equal(dm_feedfile_bad_kind_name(3), "price");
    assert_null(dm_feedfile_bad_kind_name(0));
    dm_buf_free(&b);
}

static void test_dates_and_conditional_get(void **state)
{
    (void)state;
    char d[DM_HTTP_DATE_LEN];
    dm_feedfile_http_date(784111777000LL, d);
    assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    dm_feedfile_http_date(1767225599999LL, d);
    assert_string_equal(d, "Wed, 31 Dec 2025 23:59:59 GMT");
    int64_t ms = 0;
    assert_true(dm_feedfile_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &ms));
    assert_int_equal(ms, 784111777000LL);
    const char *bad[] = {"",
                         "Sun, 06 Nov 1994 08:49:37",
                         "Sunday, 06-Nov-94 08:49:37 GMT",
                         "Sun, 06 Xyz 1994 08:49:37 GMT",
                         "Sun, 6 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 25:49:37 GMT",
                         "Thu, 31 Feb 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 08:49:60 GMT"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(dm_feedfile_parse_http_date(bad[i], &ms));

    const char *tag = "\"csv-0011223344556677\"";
    int64_t lm = 784111777500LL; /* seconds precision: .5 s is dropped */
    struct {
        const char *inm, *ims;
        bool want;
    } cases[] = {
        {NULL, NULL, false},
        {tag, NULL, true},
        {"W/\"csv-0011223344556677\"", NULL, true},
        {"\"other\", \"csv-0011223344556677\"", NULL, true},
        {"\"other\"", NULL, false},
        {"*", NULL, true},
        {"\"other\"", "Sun, 06 Nov 1994 08:49:37 GMT", false}, /* If-None-Match wins */
        {NULL, "Sun, 06 Nov 1994 08:49:37 GMT", true},
        {NULL, "Mon, 07 Nov 1994 00:00:00 GMT", true},
        {NULL, "Sun, 06 Nov 1994 08:49:36 GMT", false},
        {NULL, "yesterday", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(dm_feedfile_not_modified(cases[i].inm, cases[i].ims, tag, lm),
                         cases[i].want);

    char a[48], b[48], c[48], e[48];
    dm_feedfile_etag(DM_FEEDFILE_CSV, 1, 0, a);
    dm_feedfile_etag(DM_FEEDFILE_CSV, 1, 0, b);
    assert_string_equal(a, b);
    assert_int_equal(strncmp(a, "\"csv-", 5), 0);
    dm_feedfile_etag(DM_FEEDFILE_CSV, 2, 0, c);
    assert_string_not_equal(a, c);
    dm_feedfile_etag(DM_FEEDFILE_CSV, 1, 0.01, c);
    assert_string_not_equal(a, c);
    dm_feedfile_etag(DM_FEEDFILE_JSONL, 1, 0, e);
    assert_string_not_equal(a, e);
}

/* Physical-stone fields of a row, as one string. */
static void grading(const struct dm_inv_row *r, char *out, size_t size)
{
    snprintf(out, size, "%s|%lld|%s|%s|%s|%s|%s|%s|%s|%s|%d|%lld|%lld|%lld|%lld|%lld|%s|%s",
             r->shape, (long long)r->carats100, r->color, r->clarity, r->cut ? r->cut : "-",
             r->polish, r->symmetry, r->fluorescence ? r->fluorescence : "-", r->lab, r->certno,
             r->has_meas, (long long)r->len100, (long long)r->wid100, (long long)r->dep100,
             (long long)r->depth_pct10, (long long)r->table_pct, r->growth,
             r->key_symbols ? r->key_symbols : "-");
}

static json_t *certificate_of(struct dm_inventory *inv, uint32_t pos)
{
    struct dm_buf b;
    dm_buf_init(&b, 1 << 20);
    dm_inv_rdlock(inv);
    assert_int_equal(dm_inv_render(inv, pos, DM_INV_NORMAL, &b), DM_OK);
    dm_inv_unlock(inv);
    json_t *it = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(it);
    json_t *cert = json_deep_copy(json_object_get(json_object_get(it, "diamond"), "certificate"));
    assert_non_null(cert);
    json_decref(it);
    dm_buf_free(&b);
    return cert;
}

static void test_share_from(void **state)
{
    (void)state;
    const uint32_t n = 2000;
    struct dm_inventory *src = dm_inv_new(11, n);
    struct dm_inv_share sh = {.seed = 11, .fraction = 0.3};
    struct dm_inventory *b = dm_inv_new_shared(12, n, &sh);
    struct dm_inventory *b2 = dm_inv_new_shared(12, n, &sh);
    struct dm_inventory *plain = dm_inv_new(12, n);
    struct dm_inv_snapshot *ss = dm_inv_snapshot_new(src), *sb = dm_inv_snapshot_new(b),
                           *sb2 = dm_inv_snapshot_new(b2), *sp = dm_inv_snapshot_new(plain);
    assert_int_equal(dm_inv_snapshot_len(sb), n);
    assert_int_equal(dm_inv_snapshot_hash(sb), dm_inv_snapshot_hash(sb2));
    assert_true(dm_inv_snapshot_hash(sb) != dm_inv_snapshot_hash(sp));
    int shared = 0, same_price = 0, same_stock = 0, unshared_same = 0, plain_overlap = 0;
    char g1[512], g2[512];
    struct dm_inv_row *rs_all = calloc(n, sizeof(*rs_all)), *rp_all = calloc(n, sizeof(*rp_all));
    assert_non_null(rs_all);
    assert_non_null(rp_all);
    for (uint32_t j = 0; j < n; j++) {
        dm_inv_snapshot_row(src, ss, j, &rs_all[j]);
        dm_inv_snapshot_row(plain, sp, j, &rp_all[j]);
    }
    for (uint32_t i = 0; i < n; i++) {
        struct dm_inv_row rb, rb2;
        dm_inv_snapshot_row(b, sb, i, &rb);
        dm_inv_snapshot_row(b2, sb2, i, &rb2);
        grading(&rb, g1, sizeof(g1));
        grading(&rb2, g2, sizeof(g2));
        assert_string_equal(g1, g2); /* deterministic */
        assert_string_equal(rb.stock, rb2.stock);
        assert_int_equal(rb.price_cents, rb2.price_cents);
        /* The same stone (by stock number) without sharing: unchanged unless shared. */
        for (uint32_t j = 0; j < n; j++) {
            const struct dm_inv_row *rp = &rp_all[j];
            if (strcmp(rp->stock, rb.stock) != 0)
                continue;
            grading(rp, g2, sizeof(g2));
            unshared_same += !strcmp(g1, g2) && rp->price_cents == rb.price_cents;
            break;
        }
        for (uint32_t j = 0; j < n; j++) {
            const struct dm_inv_row *rs = &rs_all[j];
            if (strcmp(rs->certno, rb.certno) != 0 || strcmp(rs->lab, rb.lab) != 0)
                continue;
            shared++;
            grading(rs, g2, sizeof(g2));
            assert_string_equal(g1, g2);
            same_price += rs->price_cents == rb.price_cents;
            same_stock += !strcmp(rs->stock, rb.stock);
            /* GraphQL items agree too: the whole certificate object, id and PDF included. */
            json_t *c1 = certificate_of(b, i), *c2 = certificate_of(src, j);
            if (!json_equal(c1, c2)) {
                char *x1 = json_dumps(c1, JSON_SORT_KEYS), *x2 = json_dumps(c2, JSON_SORT_KEYS);
                fail_msg("certificates differ:\n%s\n%s", x1, x2);
            }
            json_decref(c1);
            json_decref(c2);
            break;
        }
        for (uint32_t j = 0; j < n; j++)
            plain_overlap += !strcmp(rp_all[j].certno, rb.certno);
    }
    free(rs_all);
    free(rp_all);
    assert_int_equal(shared, 600); /* floor(2000 x 0.3) */
    assert_true(same_price < 30);  /* own prices (equal only by chance) */
    assert_int_equal(same_stock, 0);
    assert_int_equal(unshared_same, 1400);
    assert_int_equal(plain_overlap, 1400); /* the unshared stones' certificates only */
    dm_inv_snapshot_free(ss);
    dm_inv_snapshot_free(sb);
    dm_inv_snapshot_free(sb2);
    dm_inv_snapshot_free(sp);
    dm_inv_free(src);
    dm_inv_free(b);
    dm_inv_free(b2);
    dm_inv_free(plain);
}

static void test_content_follows_churn(void **state)
{
    (void)state;
    struct dm_inventory *inv = dm_inv_new(5, 1000);
    uint64_t h1, h2, h3;
    int64_t c1, c2, c3;
    dm_inv_rdlock(inv);
    dm_inv_content(inv, &h1, &c1);
    dm_inv_content(inv, &h2, &c2);
    dm_inv_unlock(inv);
    assert_int_equal(h1, h2);
    assert_int_equal(c1, c2);
    assert_true(c1 > 0 && c1 <= 1767225600000LL); /* the newest `updated`, before 2026 */
    struct dm_inv_churn_result r;
    dm_inv_churn(inv, 5, 1800000000000LL, &r);
    dm_inv_rdlock(inv);
    dm_inv_content(inv, &h3, &c3);
    dm_inv_unlock(inv);
    assert_true(h3 != h1);
    assert_int_equal(c3, 1800000000000LL);
    struct dm_inv_snapshot *s = dm_inv_snapshot_new(inv);
    assert_int_equal(dm_inv_snapshot_len(s), r.live_after);
    assert_int_equal(dm_inv_snapshot_hash(s), h3);
    dm_inv_snapshot_free(s);
    dm_inv_free(inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_header_and_quoting),
        cmocka_unit_test(test_jsonl_rows),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_dates_and_conditional_get),
        cmocka_unit_test(test_share_from),
        cmocka_unit_test(test_content_follows_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
