/* test_file_feed.c - the file feed type through the feed seam (adapters/feed/feed.h; issue
 * 18): opened from its configuration (URL, mapping file, format), a snapshot read row by row
 * with line numbers (raw item and stock id, or the reason; not-carried shapes flagged), the
 * validators giving "not modified" on the next read, no paging, and holds and orders refused
 * with DM_ERR_CONFLICT and the reason the API shows. Uses a file:// snapshot in a temporary
 * directory. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/feed/feed.h"

struct rows {
    int n;
    uint64_t line[8];
    char stone[8][32];
    char json[8][512];
    char refused[8][200];
    bool not_carried[8];
};

static enum dm_err on_row(void *ctx, const struct dm_feed_row *row)
{
    struct rows *r = ctx;
    if (r->n >= 8)
        return DM_ERR_TOO_LARGE;
    r->line[r->n] = row->line;
    snprintf(r->stone[r->n], sizeof(r->stone[0]), "%s", row->stone_id);
    if (row->json)
        snprintf(r->json[r->n], sizeof(r->json[0]), "%.*s", (int)row->json_len, row->json);
    if (row->refused)
        snprintf(r->refused[r->n], sizeof(r->refused[0]), "%s", row->refused);
    r->not_carried[r->n] = row->not_carried;
    if (row->json && strcmp(row->stone_id, row->offer_id) != 0)
        return DM_ERR_INTERNAL; /* a file's stock id is both */
    r->n++;
    return DM_OK;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_file_feed(void **state)
{
    (void)state;
    char dir[] = "/tmp/dm_file_feed_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char csv[300], mapping[300], url[320];
    snprintf(csv, sizeof(csv), "%s/inv.csv", dir);
    snprintf(mapping, sizeof(mapping), "%s/map.json", dir);
    snprintf(url, sizeof(url), "file://%s", csv);
    write_file(csv, "Ref,Shape,Carat,Color,Clarity,Net\r\n"
                    "A1,Round,1.01,G,VS1,5000\r\n"
                    "A2,Round,O.57,G,VS1,5000\r\n"
                    "A3,Baguette,0.30,F,VS2,300\r\n");
    write_file(mapping, "{\"stock_id\":\"Ref\",\"total_price\":\"Net\"}");

    struct dm_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct dm_feed_conf conf;
    memset(&conf, 0, sizeof(conf));
    snprintf(conf.id, sizeof(conf.id), "acme");
    conf.type = DM_FEED_TYPE_FILE;
    conf.url = url;
    conf.mapping = mapping;
    conf.max_shrink = 0.5;
    cfg.feeds = &conf;
    cfg.n_feeds = 1;
    struct dm_feed *f = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_feed_open(&cfg, "acme", 0, &f, &err), DM_OK);
    assert_string_equal(dm_feed_id(f), "acme");
    assert_true(dm_feed_snapshot(dm_feed_conf(f)));

    /* No orders through an API. */
    struct dm_feed_hold hold;
    assert_int_equal(dm_feed_hold(f, "A1", &hold, &err), DM_ERR_CONFLICT);
    assert_string_equal(err.message, "feed acme takes no orders through an API");
    struct dm_feed_order order;
    struct dm_feed_order_req req = {.offer_id = "A1", .destination_id = "d"};
    assert_int_equal(dm_feed_order(f, &req, &order, &err), DM_ERR_CONFLICT);
    assert_string_equal(err.message, "feed acme takes no orders through an API");
    /* Not paged. */
    int64_t count = -1;
    struct dm_feed_query q = {.price_from = -1, .price_to = -1};
    assert_int_equal(dm_feed_count(f, &q, &count, &err), DM_ERR_INVALID);
    struct dm_feed_raw_page page;
    assert_int_equal(dm_feed_fetch_page(f, &q, 0, 50, &page, &err), DM_ERR_INVALID);

    /* The snapshot, row by row. */
    struct rows r = {0};
    struct dm_feed_snapshot snap;
    struct dm_feed_snapshot_req sr = {0};
    assert_int_equal(dm_feed_read_snapshot(f, &sr, on_row, &r, &snap, &err), DM_OK);
    assert_false(snap.not_modified);
    assert_int_equal(snap.rows, 1);
    assert_int_equal(snap.bad_rows, 2);
    assert_int_equal(snap.lines, 4);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.line[0], 2);
    assert_string_equal(r.stone[0], "A1");
    assert_string_equal(r.json[0], "{\"stock_id\":\"A1\",\"shape\":\"Round\",\"carats\":\"1.01\","
                                   "\"color\":\"G\",\"clarity\":\"VS1\",\"total_price\":\"5000\"}");
    assert_int_equal(r.line[1], 3);
    assert_string_equal(r.stone[1], "A2");
    assert_non_null(strstr(r.refused[1], "carats (column \"Carat\")"));
    assert_false(r.not_carried[1]);
    assert_int_equal(r.line[2], 4);
    assert_true(r.not_carried[2]);
    assert_non_null(strstr(r.refused[2], "shape"));

    /* The consolidator maps the stored item back, as the feed's stone. */
    struct dm_diamond d;
    assert_int_equal(dm_feed_map(&cfg, "acme", r.json[0], strlen(r.json[0]), &d, &err), DM_OK);
    assert_string_equal(d.feed, "acme");
    assert_string_equal(d.supplier_stone_id, "A1");
    assert_string_equal(d.offer_id, "A1");
    assert_string_equal(d.shape, "ROUND");
    assert_int_equal(d.feed_price_cents, 500000);
    dm_diamond_free(&d);

    /* Unchanged: the validators answer "not modified", no rows. */
    struct rows again = {0};
    struct dm_feed_snapshot_req cond = {.etag = snap.etag, .last_modified = snap.last_modified};
    struct dm_feed_snapshot snap2;
    assert_int_equal(dm_feed_read_snapshot(f, &cond, on_row, &again, &snap2, &err), DM_OK);
    assert_true(snap2.not_modified);
    assert_int_equal(again.n, 0);
    dm_feed_close(f);

    /* A truncated file is never a snapshot. */
    write_file(csv, "Ref,Shape,Carat,Color,Clarity,Net\r\nA1,Round,1.01,G,VS1,50");
    assert_int_equal(dm_feed_open(&cfg, "acme", 0, &f, &err), DM_OK);
    memset(&r, 0, sizeof(r));
    assert_int_equal(dm_feed_read_snapshot(f, &sr, on_row, &r, &snap, &err), DM_ERR_INVALID);
    assert_true(snap.truncated);
    dm_feed_close(f);

    /* JSON lines (by the URL's extension): the same raw item as the CSV row; a line that is not
     * JSON is a bad row with its line number. */
    char jsonl[300], jurl[320];
    snprintf(jsonl, sizeof(jsonl), "%s/inv.jsonl", dir);
    snprintf(jurl, sizeof(jurl), "file://%s", jsonl);
    write_file(jsonl, "{\"Ref\":\"A1\",\"Shape\":\"Round\",\"Carat\":1.01,\"Color\":\"G\","
                      "\"Clarity\":\"VS1\",\"Net\":5000}\n{\"Ref\":\"A2\",\"Sha\n");
    conf.url = jurl;
    assert_int_equal(dm_feed_open(&cfg, "acme", 0, &f, &err), DM_OK);
    memset(&r, 0, sizeof(r));
    assert_int_equal(dm_feed_read_snapshot(f, &sr, on_row, &r, &snap, &err), DM_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.json[0], "{\"stock_id\":\"A1\",\"shape\":\"Round\",\"carats\":\"1.01\","
                                   "\"color\":\"G\",\"clarity\":\"VS1\",\"total_price\":\"5000\"}");
    assert_int_equal(r.line[1], 2);
    assert_non_null(strstr(r.refused[1], "not JSON"));
    dm_feed_close(f);
    conf.url = url;
    unlink(jsonl);

    /* A mapping file that does not parse refuses the open, naming the file. */
    write_file(mapping, "{\"stock\":\"Ref\"}");
    f = (struct dm_feed *)&cfg;
    assert_int_equal(dm_feed_open(&cfg, "acme", 0, &f, &err), DM_ERR_INVALID);
    assert_null(f);
    assert_non_null(strstr(err.message, "map.json"));
    /* A format that is not one. */
    conf.mapping = NULL;
    char xml[] = "xml";
    conf.format = xml;
    assert_int_equal(dm_feed_open(&cfg, "acme", 0, &f, &err), DM_ERR_INVALID);
    unlink(csv);
    unlink(mapping);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_feed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
