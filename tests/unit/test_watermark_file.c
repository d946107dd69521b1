/* test_watermark_file.c - the watermark's JSON form and the file backend: absent, first write,
 * conditional writes (etag), never backwards, advance, history kept and pruned, corrupt file is
 * "unreadable", concurrent advancing processes leave the newest value, the backend chosen from
 * the options, and named watermarks side by side in one directory (names checked). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/watermark/watermark.h"
#include "adapters/watermark/watermark_impl.h"
#include "core/timeutil.h"
#include "testlib.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dm-wm-test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct dm_watermark wm_at(int64_t ms)
{
    struct dm_watermark wm = {.last_updated_at_ms = ms, .last_run_completed_at_ms = ms + 5000};
    dm_uuid_v4(wm.last_run_id);
    return wm;
}

static int count_history_of(const char *name)
{
    size_t n_len = strlen(name);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (!strncmp(de->d_name, name, n_len) && de->d_name[n_len] == '.' &&
            de->d_name[n_len + 1] >= '0' && de->d_name[n_len + 1] <= '9')
            n++;
    closedir(d);
    return n;
}

static int count_history(void)
{
    return count_history_of(DM_WATERMARK_DEFAULT_NAME);
}

static void test_json_round_trip(void **state)
{
    (void)state;
    struct dm_watermark wm = wm_at(1764406800123LL), back;
    char *s = dm_watermark_to_json(&wm);
    assert_non_null(strstr(s, "\"lastUpdatedAt\":\"2025-11-29T09:00:00.123Z\""));
    assert_int_equal(dm_watermark_from_json(s, strlen(s), &back, NULL), DM_OK);
    assert_int_equal(back.last_updated_at_ms, wm.last_updated_at_ms);
    assert_int_equal(back.last_run_completed_at_ms, wm.last_run_completed_at_ms);
    assert_string_equal(back.last_run_id, wm.last_run_id);
    free(s);
    static const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"lastUpdatedAt\":\"x\",\"lastRunId\":\"0b6c7f6e-8a39-4b7e-9d1e-0d5f4f1e2a3b\"}",
        "{\"lastUpdatedAt\":\"2026-01-01T00:00:00Z\",\"lastRunId\":\"nope\"}",
        "{\"lastUpdatedAt\":\"2026-01-01T00:00:00Z\"}",
        "{\"lastUpdatedAt\":\"2026-01-01T00:00:00Z\",\"lastRunId\":\"0b6c7f6e-8a39-4b7e-9d1e-"
        "0d5f4f1e2a3b\",\"lastRunCompletedAt\":\"soon\"}",
        NULL};
    for (int i = 0; bad[i]; i++) {
        struct dm_error err = {0};
        assert_int_equal(dm_watermark_from_json(bad[i], strlen(bad[i]), &back, &err),
                         DM_ERR_INVALID);
    }
    const char *ok = "{\"lastUpdatedAt\":\"2026-01-01T00:00:00Z\",\"lastRunId\":"
                     "\"0b6c7f6e-8a39-4b7e-9d1e-0d5f4f1e2a3b\",\"lastRunCompletedAt\":null}";
    assert_int_equal(dm_watermark_from_json(ok, strlen(ok), &back, NULL), DM_OK);
    assert_int_equal(back.last_run_completed_at_ms, 0);
}

static void test_conditional_writes(void **state)
{
    (void)state;
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/nested/wm", dir); /* created on first write */
    assert_int_equal(dm_watermark_file_open(sub, NULL, &s, &err), DM_OK);
    assert_string_equal(dm_watermark_backend_name(s), "file");
    struct dm_watermark cur;
    char etag[128], etag2[128];
    assert_int_equal(dm_watermark_read(s, &cur, etag, sizeof(etag), &err), DM_ERR_NOT_FOUND);

    struct dm_watermark w1 = wm_at(1000000), w2 = wm_at(2000000), w0 = wm_at(500000);
    assert_int_equal(dm_watermark_write(s, &w1, NULL, &err), DM_OK);
    /* "only if none exists" now conflicts */
    assert_int_equal(dm_watermark_write(s, &w2, NULL, &err), DM_ERR_CONFLICT);
    assert_int_equal(dm_watermark_read(s, &cur, etag, sizeof(etag), &err), DM_OK);
    assert_int_equal(cur.last_updated_at_ms, 1000000);
    assert_string_equal(cur.last_run_id, w1.last_run_id);
    assert_int_equal((int)strlen(etag), 64);
    /* a wrong etag conflicts */
    assert_int_equal(dm_watermark_write(s, &w2, "deadbeef", &err), DM_ERR_CONFLICT);
    /* never backwards, even with the right etag */
    assert_int_equal(dm_watermark_write(s, &w0, etag, &err), DM_ERR_CONFLICT);
    assert_int_equal(dm_watermark_write(s, &w2, etag, &err), DM_OK);
    assert_int_equal(dm_watermark_read(s, &cur, etag2, sizeof(etag2), &err), DM_OK);
    assert_int_equal(cur.last_updated_at_ms, 2000000);
    assert_string_not_equal(etag, etag2);
    /* the old etag is now stale */
    assert_int_equal(dm_watermark_write(s, &w2, etag, &err), DM_ERR_CONFLICT);
    /* invalid watermark refused */
    struct dm_watermark bad = {0};
    assert_int_equal(dm_watermark_write(s, &bad, etag2, &err), DM_ERR_INVALID);
    dm_watermark_free(s);
}

static void test_advance_and_history(void **state)
{
    (void)state;
    struct dm_watermark_store *s = NULL;
    assert_int_equal(dm_watermark_file_open(dir, NULL, &s, NULL), DM_OK);
    bool written = false;
    struct dm_watermark w = wm_at(10000);
    assert_int_equal(dm_watermark_advance(s, &w, &written, NULL), DM_OK);
    assert_true(written);
    assert_int_equal(count_history(), 0);
    for (int i = 1; i <= 14; i++) {
        w = wm_at(10000 + i * 1000);
        assert_int_equal(dm_watermark_advance(s, &w, &written, NULL), DM_OK);
        assert_true(written);
        usleep(2000); /* distinct history names (ms resolution) */
    }
    assert_int_equal(count_history(), DM_WATERMARK_FILE_HISTORY);
    /* older or equal: no write */
    struct dm_watermark older = wm_at(12000);
    assert_int_equal(dm_watermark_advance(s, &older, &written, NULL), DM_OK);
    assert_false(written);
    assert_int_equal(dm_watermark_advance(s, &w, &written, NULL), DM_OK);
    assert_false(written);
    struct dm_watermark cur;
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, NULL), DM_OK);
    assert_int_equal(cur.last_updated_at_ms, 24000);
    /* no temp files left behind */
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        assert_null(strstr(de->d_name, ".tmp."));
    closedir(d);
    dm_watermark_free(s);
}

static void test_corrupt_is_unreadable(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/watermark.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"lastUpdatedAt\": garbage", f);
    fclose(f);
    struct dm_watermark_store *s = NULL;
    assert_int_equal(dm_watermark_file_open(dir, NULL, &s, NULL), DM_OK);
    struct dm_watermark cur;
    struct dm_error err = {0};
    enum dm_err e = dm_watermark_read(s, &cur, NULL, 0, &err);
    assert_int_not_equal(e, DM_OK);
    assert_int_not_equal(e, DM_ERR_NOT_FOUND);
    bool written = true;
    struct dm_watermark w = wm_at(5000);
    assert_int_not_equal(dm_watermark_advance(s, &w, &written, &err), DM_OK);
    assert_false(written);
    dm_watermark_free(s);
}

static void test_open_from_opts(void **state)
{
    (void)state;
    struct dm_watermark_opts o = {.dir = dir};
    struct dm_watermark_store *s = NULL;
    assert_int_equal(dm_watermark_open(&o, &s, NULL), DM_OK);
    assert_string_equal(dm_watermark_backend_name(s), "file");
    /* No name: the seed's watermark.json. */
    struct dm_watermark w = wm_at(7000);
    assert_int_equal(dm_watermark_write(s, &w, NULL, NULL), DM_OK);
    char path[400];
    snprintf(path, sizeof(path), "%s/watermark.json", dir);
    assert_int_equal(access(path, F_OK), 0);
    dm_watermark_free(s);
    o.azure_connection_string = "UseDevelopmentStorage=true";
    assert_int_equal(dm_watermark_open(&o, &s, NULL), DM_OK);
    assert_string_equal(dm_watermark_backend_name(s), "azure");
    dm_watermark_free(s);
    o.azure_connection_string = "AccountName=x;BlobEndpoint=http://127.0.0.1:1/x";
    struct dm_error err = {0};
    assert_int_equal(dm_watermark_open(&o, &s, &err), DM_ERR_INVALID);
    assert_null(s);
    o.azure_connection_string = "AccountName=x;AccountKey=***;BlobEndpoint=http://h/";
    assert_int_equal(dm_watermark_open(&o, &s, &err), DM_ERR_INVALID);
    assert_null(strstr(err.message, "***"));
}

/* Names: what may be a file name and a blob name, and is not another name's history. */
static void test_names(void **state)
{
    (void)state;
    static const char *good[] = {"watermark.json", "feed-b.json", "A_1", "x", "wm.",
                                 "wm.v2",          "1234"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!dm_watermark_name_valid(good[i]))
            fail_msg("'%s' refused", good[i]);
    char too_long[DM_WATERMARK_MAX_NAME + 2];
    memset(too_long, 'a', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    static const char *bad[] = {"",     ".watermark.json", "../watermark.json",
                                "a/b",  "feed b.json",     "watermark.json.123",
                                "wm.0", "caf\xc3\xa9",     "a%2Fb",
                                "a\\b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dm_watermark_name_valid(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    assert_false(dm_watermark_name_valid(too_long));
    assert_false(dm_watermark_name_valid(NULL));
    too_long[DM_WATERMARK_MAX_NAME] = '\0';
    assert_true(dm_watermark_name_valid(too_long));
    /* Both backends refuse a bad name before touching anything. */
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    struct dm_watermark_opts o = {.dir = dir, .name = "../escape.json"};
    assert_int_equal(dm_watermark_open(&o, &s, &err), DM_ERR_INVALID);
    assert_null(s);
    assert_non_null(strstr(err.message, "not a watermark name"));
    o.azure_connection_string = "UseDevelopmentStorage=true";
    assert_int_equal(dm_watermark_open(&o, &s, &err), DM_ERR_INVALID);
    assert_null(s);
}

/* Two names in one directory are two watermarks: each reads its own file, keeps its own
 * history, and pruning one never removes the other's versions. */
static void test_named_side_by_side(void **state)
{
    (void)state;
    struct dm_watermark_opts oa = {.dir = dir}, ob = {.dir = dir, .name = "feed-b.json"};
    struct dm_watermark_store *a = NULL, *b = NULL;
    assert_int_equal(dm_watermark_open(&oa, &a, NULL), DM_OK);
    assert_int_equal(dm_watermark_open(&ob, &b, NULL), DM_OK);
    struct dm_watermark cur, wb = wm_at(50000);
    bool written = false;
    assert_int_equal(dm_watermark_advance(b, &wb, &written, NULL), DM_OK);
    assert_true(written);
    assert_int_equal(dm_watermark_read(a, &cur, NULL, 0, NULL), DM_ERR_NOT_FOUND);
    char path[400];
    snprintf(path, sizeof(path), "%s/feed-b.json", dir);
    assert_int_equal(access(path, F_OK), 0);
    for (int i = 1; i <= 3; i++) {
        wb = wm_at(50000 + i * 1000);
        assert_int_equal(dm_watermark_advance(b, &wb, &written, NULL), DM_OK);
        usleep(2000); /* distinct history names (ms resolution) */
    }
    assert_int_equal(count_history_of("feed-b.json"), 3);
    for (int i = 0; i <= DM_WATERMARK_FILE_HISTORY + 2; i++) {
        struct dm_watermark wa = wm_at(1000 + i * 1000);
        assert_int_equal(dm_watermark_advance(a, &wa, &written, NULL), DM_OK);
        assert_true(written);
        usleep(2000);
    }
    assert_int_equal(count_history(), DM_WATERMARK_FILE_HISTORY);
    assert_int_equal(count_history_of("feed-b.json"), 3);
    assert_int_equal(dm_watermark_read(a, &cur, NULL, 0, NULL), DM_OK);
    assert_int_equal(cur.last_updated_at_ms, 1000 + (DM_WATERMARK_FILE_HISTORY + 2) * 1000);
    assert_int_equal(dm_watermark_read(b, &cur, NULL, 0, NULL), DM_OK);
    assert_string_equal(cur.last_run_id, wb.last_run_id);
    dm_watermark_free(a);
    dm_watermark_free(b);
}

static void test_concurrent_advance(void **state)
{
    (void)state;
    enum { PROCS = 6, STEPS = 15 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct dm_watermark_store *s = NULL;
            if (dm_watermark_file_open(dir, NULL, &s, NULL) != DM_OK)
                _exit(1);
            for (int i = 0; i < STEPS; i++) {
                bool written;
                struct dm_watermark w = wm_at(100000 + (int64_t)(i * PROCS + p) * 10);
                if (dm_watermark_advance(s, &w, &written, NULL) != DM_OK)
                    _exit(2);
            }
            dm_watermark_free(s);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st = 0;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    struct dm_watermark_store *s = NULL;
    assert_int_equal(dm_watermark_file_open(dir, NULL, &s, NULL), DM_OK);
    struct dm_watermark cur;
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, NULL), DM_OK);
    assert_int_equal(cur.last_updated_at_ms,
                     100000 + (int64_t)((STEPS - 1) * PROCS + PROCS - 1) * 10);
    dm_watermark_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test_setup_teardown(test_conditional_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_advance_and_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_is_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_from_opts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_side_by_side, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_advance, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
