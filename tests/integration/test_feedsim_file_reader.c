/*
 * test_feedsim_file_reader.c - the feed simulator's file mode read by the file feed's reader
 * (adapters/feed/file_source), both in this process over loopback HTTP: a clean CSV / JSON-lines
 * file maps row for row, the only refused rows being the stones with the three shapes the
 * pipeline never lists, at the lines the inventory says; the ETag makes the next read a 304;
 * injected bad rows are refused at exactly the lines dm_inv_bad_row picks; a download cut
 * mid-row, cleanly or by a dropped connection, is refused as a truncated snapshot.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/file_source.h"
#include "adapters/http/client.h"
#include "core/log.h"
#include "services/feedsim/feedfile.h"
#include "services/feedsim/feedsim.h"
#include "services/feedsim/inventory.h"

#define SEED 41
#define COUNT 3000

struct seen {
    uint64_t good, bad;
    uint8_t bad_line[COUNT + 2]; /* 1: refused at that line */
};

static enum dm_err on_row(void *ctx, struct dm_file_row *r)
{
    struct seen *s = ctx;
    if (r->diamond != NULL) {
        s->good++;
        return DM_OK;
    }
    s->bad++;
    if (r->line < sizeof(s->bad_line))
        s->bad_line[r->line] = 1;
    return DM_OK;
}

static struct dm_feedsim *start(enum dm_feedfile_format fmt, double malformed, int64_t trunc,
                                bool abort_cut, char *url, size_t size)
{
    struct dm_feedsim_opts o = {.seed = SEED, .count = COUNT, .format = (int)fmt};
    o.faults.price_min = o.faults.price_max = -1;
    o.faults.malformed_rate = malformed;
    o.faults.truncate_next = trunc;
    o.faults.truncate_abort = abort_cut;
    struct dm_feedsim *sim = dm_feedsim_new(&o);
    struct dm_error err = {0};
    assert_int_equal(dm_feedsim_listen(sim, "127.0.0.1", 0, 4, &err), DM_OK);
    snprintf(url, size, "http://127.0.0.1:%d%s", dm_feedsim_port(sim), dm_feedfile_path(fmt));
    return sim;
}

static enum dm_err fetch(const char *url, const char *etag, struct seen *s,
                         struct dm_file_result *res)
{
    struct dm_file_mapping *m = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_file_mapping_new(NULL, 0, &m, &err), DM_OK);
    struct dm_file_source_options o = {.url = url, .feed = "sim", .etag = etag};
    memset(s, 0, sizeof(*s));
    enum dm_err e = dm_file_source_fetch(&o, m, on_row, s, res, &err);
    dm_file_mapping_free(m);
    return e;
}

/* Lines (of format f) the reader must refuse: unlisted shapes, and bad rows at `rate`. */
static void expected(enum dm_feedfile_format f, double rate, uint8_t *want, uint64_t *n)
{
    struct dm_inventory *inv = dm_inv_new(SEED, COUNT);
    struct dm_inv_snapshot *snap = dm_inv_snapshot_new(inv);
    *n = 0;
    memset(want, 0, COUNT + 2);
    for (uint32_t i = 0; i < dm_inv_snapshot_len(snap); i++) {
        struct dm_inv_row r;
        dm_inv_snapshot_row(inv, snap, i, &r);
        bool refuse = dm_inv_shape_index(r.shape) >= DM_INV_LISTED_SHAPES ||
                      dm_inv_bad_row(inv, r.serial, rate) != 0;
        uint32_t line = i + (f == DM_FEEDFILE_CSV ? 2 : 1);
        want[line] = refuse;
        *n += refuse;
    }
    dm_inv_snapshot_free(snap);
    dm_inv_free(inv);
}

/* One file read (its case: the format and the simulator's bad-row rate). */
struct read_case {
    enum dm_feedfile_format f;
    double rate;
};

/* The file of the case's format maps row for row except the refused lines, then is a 304. */
static void test_clean_and_faulty(void **state)
{
    const struct read_case *c = *state;
    enum dm_feedfile_format f = c->f;
    double rate = c->rate;
    char url[128];
    struct dm_feedsim *sim = start(f, rate, 0, false, url, sizeof(url));
    struct seen *s = calloc(1, sizeof(*s));
    uint8_t *want = calloc(1, COUNT + 2);
    uint64_t nwant = 0;
    struct dm_file_result res;
    assert_int_equal(fetch(url, NULL, s, &res), DM_OK);
    assert_false(res.truncated);
    expected(f, rate, want, &nwant);
    assert_int_equal(s->good + s->bad, COUNT);
    assert_int_equal(s->bad, nwant);
    assert_true(nwant > 0 && nwant < COUNT / 5);
    assert_memory_equal(s->bad_line, want, COUNT + 2);
    /* The ETag of what was read makes the next read one request answered 304. */
    char etag[256];
    snprintf(etag, sizeof(etag), "%s", res.etag);
    assert_true(etag[0] != '\0');
    assert_int_equal(fetch(url, etag, s, &res), DM_OK);
    assert_true(res.not_modified);
    assert_int_equal(s->good + s->bad, 0);
    free(want);
    free(s);
    dm_feedsim_free(sim);
}

static void test_truncation_refused(void **state)
{
    (void)state;
    for (int k = 0; k < 3; k++) {
        enum dm_feedfile_format f = k == 1 ? DM_FEEDFILE_JSONL : DM_FEEDFILE_CSV;
        char url[128];
        struct dm_feedsim *sim = start(f, 0, 1, k == 2, url, sizeof(url));
        struct seen *s = calloc(1, sizeof(*s));
        struct dm_file_result res;
        assert_int_not_equal(fetch(url, NULL, s, &res), DM_OK);
        assert_true(res.truncated);
        assert_true(s->good + s->bad < COUNT);
        /* truncate_next 1: the next read is whole. */
        assert_int_equal(fetch(url, NULL, s, &res), DM_OK);
        assert_false(res.truncated);
        assert_int_equal(s->good + s->bad, COUNT);
        free(s);
        dm_feedsim_free(sim);
    }
}

/* A named test_clean_and_faulty case (cmocka's initial state). */
#define READ_TEST(name, format, bad_rate)                                                          \
    {                                                                                              \
#name, test_clean_and_faulty, NULL, NULL, &(struct read_case)                              \
        {                                                                                          \
            format, bad_rate                                                                       \
        }                                                                                          \
    }

int main(void)
{
    dm_log_init("test", DM_LOG_WARN);
    dm_http_global_init();
    const struct CMUnitTest tests[] = {
        READ_TEST(test_clean_csv, DM_FEEDFILE_CSV, 0),
        READ_TEST(test_clean_jsonl, DM_FEEDFILE_JSONL, 0),
        READ_TEST(test_bad_rows_csv, DM_FEEDFILE_CSV, 0.03),
        READ_TEST(test_bad_rows_jsonl, DM_FEEDFILE_JSONL, 0.03),
        cmocka_unit_test(test_truncation_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    dm_http_thread_cleanup();
    return rc;
}
