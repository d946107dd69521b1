/* test_config_feeds.c - the feeds of the configuration (issue 18): FEEDS, FEED_<ID>_*,
 * OFFER_POLICY, dm_config_feed; defaults that keep the seed's single Nivoda feed, and every
 * problem reported at once with the variable's name. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/feed_watermark.h"
#include "core/config.h"
#include "testconfig.h"

/* Every test starts from the defaults, with a database. */
static int clear_env(void **state)
{
    (void)state;
    dm_test_config_unset_all();
    setenv("DATABASE_URL", "postgresql://u@127.0.0.1:5432/db", 1);
    return 0;
}

static void set_nivoda(void)
{
    setenv("NIVODA_ENDPOINT", "http://127.0.0.1:8090/graphql", 1);
    setenv("NIVODA_USERNAME", "sim", 1);
    setenv("NIVODA_PASSWORD", "sim-password", 1);
}

/* Unset FEEDS: the seed's one Nivoda feed, with the NIVODA_* values. */
static void test_default_is_nivoda(void **state)
{
    (void)state;
    set_nivoda();
    static const unsigned services[] = {DM_SVC_WORKER, DM_SVC_SCHEDULER, DM_SVC_CONSOLIDATOR,
                                        DM_SVC_API, DM_SVC_CLI};
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        struct dm_test_config t;
        dm_test_config_load_ok(&t, services[i]);
        assert_int_equal(t.cfg.n_feeds, 1);
        assert_string_equal(t.cfg.feeds[0].id, "nivoda");
        assert_int_equal(t.cfg.feeds[0].type, DM_FEED_TYPE_NIVODA);
        assert_int_equal(t.cfg.feeds[0].priority, 0);
        assert_true(t.cfg.feeds[0].max_shrink == 0.5);
        assert_null(t.cfg.feeds[0].cron);
        assert_null(t.cfg.feeds[0].mapping);
        assert_string_equal(t.cfg.offer_policy, "lowest_retail");
        assert_ptr_equal(dm_config_feed(&t.cfg, "nivoda"), &t.cfg.feeds[0]);
        assert_null(dm_config_feed(&t.cfg, "acme"));
        assert_null(dm_config_feed(&t.cfg, NULL));
        if (services[i] != DM_SVC_CONSOLIDATOR && services[i] != DM_SVC_CLI) {
            /* the services that read NIVODA_* get them as the feed's endpoint and login */
            assert_string_equal(t.cfg.feeds[0].url, "http://127.0.0.1:8090/graphql");
            assert_string_equal(t.cfg.feeds[0].username, "sim");
            assert_string_equal(t.cfg.feeds[0].password, "sim-password");
        }
        dm_test_config_free(&t);
    }
    /* The dashboard and the simulator do not read FEEDS. */
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_DASHBOARD);
    assert_int_equal(t.cfg.n_feeds, 0);
    assert_null(dm_config_feed(&t.cfg, "nivoda"));
    dm_test_config_free(&t);
    assert_string_equal(dm_feed_type_name(DM_FEED_TYPE_NIVODA), "nivoda");
    assert_string_equal(dm_feed_type_name(DM_FEED_TYPE_FILE), "file");
}

static void test_two_feeds(void **state)
{
    (void)state;
    set_nivoda();
    setenv("FEEDS", " nivoda , acme_2", 1);
    setenv("FEED_ACME_2_TYPE", "file", 1);
    setenv("FEED_ACME_2_URL", "https://acct.blob.core.windows.net/feeds/acme.csv", 1);
    setenv("FEED_ACME_2_MAPPING", "/etc/diamond/acme.json", 1);
    setenv("FEED_ACME_2_FORMAT", "csv", 1);
    setenv("FEED_ACME_2_PRIORITY", "-5", 1);
    setenv("FEED_ACME_2_CRON", "*/15 * * * *", 1);
    setenv("FEED_ACME_2_MAX_SHRINK", "0.2", 1);
    setenv("FEED_NIVODA_PRIORITY", "10", 1);
    setenv("FEED_NIVODA_CRON", "0 2 * * *", 1);
    setenv("OFFER_POLICY", "feed_priority", 1);
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_WORKER);
    assert_int_equal(t.cfg.n_feeds, 2);
    assert_string_equal(t.cfg.feeds[0].id, "nivoda");
    assert_int_equal(t.cfg.feeds[0].priority, 10);
    assert_string_equal(t.cfg.feeds[0].cron, "0 2 * * *");
    const struct dm_feed_conf *a = dm_config_feed(&t.cfg, "acme_2");
    assert_ptr_equal(a, &t.cfg.feeds[1]);
    assert_int_equal(a->type, DM_FEED_TYPE_FILE);
    assert_string_equal(a->url, "https://acct.blob.core.windows.net/feeds/acme.csv");
    assert_string_equal(a->mapping, "/etc/diamond/acme.json");
    assert_string_equal(a->format, "csv");
    assert_int_equal(a->priority, -5);
    assert_string_equal(a->cron, "*/15 * * * *");
    assert_true(a->max_shrink > 0.199 && a->max_shrink < 0.201);
    assert_null(a->username);
    assert_null(a->password);
    assert_string_equal(t.cfg.offer_policy, "feed_priority");
    assert_string_equal(t.cfg.feeds_text, " nivoda , acme_2");
    dm_test_config_free(&t);
    dm_test_config_free(&t); /* a second free is harmless */
}

/* A second Nivoda-type feed: its own endpoint, the NIVODA_* login unless it has its own. */
static void test_second_nivoda_feed(void **state)
{
    (void)state;
    set_nivoda();
    setenv("FEEDS", "nivoda,second", 1);
    setenv("FEED_SECOND_TYPE", "nivoda", 1);
    setenv("FEED_SECOND_URL", "http://127.0.0.1:8091/graphql", 1);
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_SCHEDULER);
    const struct dm_feed_conf *s = dm_config_feed(&t.cfg, "second");
    assert_non_null(s);
    assert_int_equal(s->type, DM_FEED_TYPE_NIVODA);
    assert_string_equal(s->url, "http://127.0.0.1:8091/graphql");
    assert_string_equal(s->username, "sim");
    assert_string_equal(s->password, "sim-password");
    assert_string_equal(t.cfg.feeds[0].url, "http://127.0.0.1:8090/graphql");
    dm_test_config_free(&t);

    setenv("FEED_SECOND_USERNAME", "other", 1);
    setenv("FEED_SECOND_PASSWORD", "other-secret", 1);
    dm_test_config_load_ok(&t, DM_SVC_WORKER);
    s = dm_config_feed(&t.cfg, "second");
    assert_string_equal(s->username, "other");
    assert_string_equal(s->password, "other-secret");
    dm_test_config_free(&t);

    /* Without NIVODA_*: the second feed names its own variables, the seed feed the seed's. */
    unsetenv("NIVODA_ENDPOINT");
    unsetenv("NIVODA_USERNAME");
    unsetenv("FEED_SECOND_URL");
    static const char *const has[] = {
        "config: NIVODA_ENDPOINT is required but not set",
        "config: NIVODA_USERNAME is required but not set",
        "config: FEED_SECOND_URL is required for feed second (or NIVODA_ENDPOINT)", "3 problems",
        NULL};
    static const char *const lacks[] = {"FEED_SECOND_USERNAME", "other-secret", "sim-password",
                                        NULL};
    dm_test_config_expect(DM_SVC_WORKER, DM_ERR_INVALID, has, lacks);
    /* The consolidator and the operator commands talk to no supplier. */
    dm_test_config_expect(DM_SVC_CONSOLIDATOR, DM_OK, NULL, NULL);
}

/* A deployment with only a file feed needs no NIVODA_* at all. */
static void test_file_feed_alone(void **state)
{
    (void)state;
    setenv("FEEDS", "acme", 1);
    setenv("FEED_ACME_TYPE", "file", 1);
    setenv("FEED_ACME_URL", "file:///srv/feeds/acme.csv", 1);
    static const unsigned services[] = {DM_SVC_WORKER, DM_SVC_SCHEDULER, DM_SVC_API, DM_SVC_CLI};
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        struct dm_test_config t;
        dm_test_config_load_ok(&t, services[i]);
        assert_int_equal(t.cfg.n_feeds, 1);
        assert_string_equal(t.cfg.feeds[0].url, "file:///srv/feeds/acme.csv");
        assert_null(t.cfg.feeds[0].format);
        assert_null(dm_config_feed(&t.cfg, "nivoda"));
        dm_test_config_free(&t);
    }
}

static void test_feeds_list_problems(void **state)
{
    (void)state;
    static const struct {
        const char *value, *why;
    } cases[] = {
        {"nivoda,Acme", "has a feed id with characters other than a-z, 0-9 and _"},
        {"nivoda,acme-gems", "has a feed id with characters other than a-z, 0-9 and _"},
        {"nivoda;drop", "has a feed id with characters other than a-z, 0-9 and _"},
        {"nivoda,,acme", "has an empty feed id"},
        {"nivoda,", "has an empty feed id"},
        {" , ", "has an empty feed id"},
        {"nivoda,abcdefghijklmnopqrstuvwxyz0123456", "has a feed id longer than 32 characters"},
        {"nivoda,acme,nivoda", "names a feed twice"},
        {"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "names more than 16 feeds"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv("FEEDS", cases[i].value, 1);
        struct dm_test_config t;
        dm_test_config_load(&t, DM_SVC_CONSOLIDATOR);
        assert_int_equal(t.err, DM_ERR_INVALID);
        char want[256];
        snprintf(want, sizeof(want), "config: FEEDS=\"%.60s\" %s", cases[i].value, cases[i].why);
        if (strstr(t.report, want) == NULL)
            fail_msg("FEEDS=%s: got %s, want %s", cases[i].value, t.report, want);
        assert_int_equal(t.cfg.n_feeds, 0);
        dm_test_config_free(&t);
    }
    /* 32 characters, digits first and 16 feeds are fine. */
    setenv("FEEDS", "abcdefghijklmnopqrstuvwxyz012345,2nd,a,b,c,d,e,f,g,h,i,j,k,l,m,n", 1);
    for (char c = 'a'; c <= 'n'; c++) {
        char name[32];
        snprintf(name, sizeof(name), "FEED_%c_TYPE", c - 'a' + 'A');
        setenv(name, "nivoda", 1);
    }
    setenv("FEED_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345_TYPE", "nivoda", 1);
    setenv("FEED_2ND_TYPE", "nivoda", 1);
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_CONSOLIDATOR);
    assert_int_equal(t.cfg.n_feeds, 16);
    assert_non_null(dm_config_feed(&t.cfg, "2nd"));
    dm_test_config_free(&t);
}

/* Every per-feed problem at once, each naming its variable. */
static void test_feed_problems(void **state)
{
    (void)state;
    set_nivoda();
    setenv("FEEDS", "nivoda,a,b,c,d,e", 1);
    /* a: no type */
    setenv("FEED_B_TYPE", "ftp", 1);
    setenv("FEED_C_TYPE", "file", 1); /* no URL */
    setenv("FEED_D_TYPE", "file", 1);
    setenv("FEED_D_URL", "http://example.com/inv.csv?sig=S3cret", 1);
    setenv("FEED_D_FORMAT", "xml", 1);
    setenv("FEED_D_USERNAME", "u", 1);
    setenv("FEED_E_TYPE", "nivoda", 1);
    setenv("FEED_E_URL", "ftp://x/graphql", 1);
    setenv("FEED_E_MAPPING", "/m.json", 1);
    setenv("FEED_NIVODA_PRIORITY", "high", 1);
    setenv("FEED_NIVODA_MAX_SHRINK", "1.5", 1);
    setenv("FEED_NIVODA_CRON", "61 * * * *", 1);
    setenv("FEED_A_CRON", "0 0 30 2 *", 1);
    setenv("OFFER_POLICY", "cheapest", 1);
    static const char *const want[] = {
        "config: OFFER_POLICY=\"cheapest\" must be lowest_retail or feed_priority",
        "config: FEED_NIVODA_PRIORITY=\"high\" must be an integer between -1000000 and 1000000",
        "config: FEED_NIVODA_MAX_SHRINK=\"1.5\" must be a fraction between 0 and 1",
        "config: FEED_NIVODA_CRON=\"61 * * * *\" ",
        "config: FEED_A_TYPE is required (nivoda or file)",
        "config: FEED_A_CRON=\"0 0 30 2 *\" never fires",
        "config: FEED_B_TYPE=\"ftp\" must be nivoda or file",
        "config: FEED_C_URL is required for a file feed",
        "config: FEED_D_URL must be an https://, file:// or Azure Blob URL (http:// only to a "
        "loopback host)",
        "config: FEED_D_FORMAT=\"xml\" must be csv, jsonl or auto",
        "config: FEED_D_USERNAME is for nivoda feeds only",
        "config: FEED_E_MAPPING is for file feeds only",
        "config: FEED_E_URL=\"ftp://x/graphql\" must be an http:// or https:// URL",
        "13 problems",
        NULL,
    };
    static const char *const lacks[] = {"S3cret", NULL}; /* a URL may carry a SAS token */
    dm_test_config_expect(DM_SVC_WORKER, DM_ERR_INVALID, want, lacks);
}

static void test_file_urls(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        bool ok;
    } cases[] = {
        {"https://suppliers.example.com/acme/inventory.csv", true},
        {"https://acct.blob.core.windows.net/feeds/acme.jsonl?sv=2022&sig=x", true},
        {"file:///srv/feeds/acme.csv", true},
        {"file://localhost/srv/feeds/acme.csv", true},
        {"http://127.0.0.1:8099/inventory.csv", true},
        {"http://127.0.0.1/inventory.csv", true},
        {"http://localhost:8099/inventory.csv", true},
        {"http://[::1]:8099/inventory.csv", true},
        {"http://example.com/inventory.csv", false},
        {"http://127.0.0.1.example.com/inventory.csv", false},
        {"http://localhost.example.com/inventory.csv", false},
        {"http://[::2]/inventory.csv", false},
        /* user information: the host is the part after '@' */
        {"http://localhost:1@evil.example.com/inventory.csv", false},
        {"http://127.0.0.1:1@evil.example.com/x.csv", false},
        {"http://u@127.0.0.1/inventory.csv", false},
        {"ftp://example.com/inventory.csv", false},
        {"https://", false},
        {"file://", false},
        {"/srv/feeds/acme.csv", false},
    };
    setenv("FEEDS", "acme", 1);
    setenv("FEED_ACME_TYPE", "file", 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv("FEED_ACME_URL", cases[i].url, 1);
        struct dm_test_config t;
        dm_test_config_load(&t, DM_SVC_WORKER);
        if ((t.err == DM_OK) != cases[i].ok)
            fail_msg("%s: %s", cases[i].url, t.report);
        dm_test_config_free(&t);
    }
}

static void test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    dm_config_print_help(DM_SVC_SCHEDULER, f);
    fclose(f);
    assert_non_null(strstr(text, "FEEDS "));
    assert_non_null(strstr(text, "[default nivoda]"));
    assert_non_null(strstr(text, "OFFER_POLICY "));
    assert_non_null(strstr(text, "FEED_<ID>_TYPE"));
    assert_non_null(strstr(text, "FEED_<ID>_MAX_SHRINK"));
    free(text);
    f = open_memstream(&text, &len);
    dm_config_print_help(DM_SVC_DASHBOARD, f);
    fclose(f);
    assert_null(strstr(text, "FEED"));
    free(text);
    bool feeds = false, policy = false;
    for (const char **n = dm_config_names(DM_SVC_API); *n; n++) {
        feeds |= !strcmp(*n, "FEEDS");
        policy |= !strcmp(*n, "OFFER_POLICY");
    }
    assert_true(feeds && policy);
}

/* Each feed's watermark: nivoda keeps the seed's name, another feed's is named after it, and
 * the two are separate stores in one directory. */
static void test_feed_watermarks(void **state)
{
    (void)state;
    char name[DM_FEED_WATERMARK_NAME_MAX];
    dm_app_feed_watermark_name("nivoda", name);
    assert_string_equal(name, "watermark.json");
    dm_app_feed_watermark_name("second", name);
    assert_string_equal(name, "second.json");
    dm_app_feed_watermark_name("watermark", name);
    assert_string_equal(name, "watermark-feed.json");
    /* no two feed ids share a watermark: not the escaped name, not the default's */
    char other[DM_FEED_WATERMARK_NAME_MAX];
    dm_app_feed_watermark_name("watermark_feed", other);
    assert_string_not_equal(name, other);
    dm_app_feed_watermark_name("feed_watermark", other);
    assert_string_not_equal(name, other);
    assert_string_not_equal(other, "watermark.json");
    char dir[] = "/tmp/dm_feed_wm_XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("WATERMARK_DIR", dir, 1);
    setenv("FEEDS", "nivoda,second", 1);
    setenv("FEED_SECOND_TYPE", "nivoda", 1);
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_CONSOLIDATOR);
    struct dm_watermark_store *a = NULL, *b = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_app_feed_watermark_open(&t.cfg, "nivoda", &a, &err), DM_OK);
    struct dm_watermark_store *bad = (struct dm_watermark_store *)&t.cfg; /* reset on failure */
    assert_int_equal(dm_app_feed_watermark_open(&t.cfg, "Bad", &bad, &err), DM_ERR_INVALID);
    assert_null(bad);
    assert_int_equal(dm_app_feed_watermark_open(&t.cfg, "second", &b, &err), DM_OK);
    struct dm_watermark wm = {.last_updated_at_ms = 1700000000000LL,
                              .last_run_id = "11111111-1111-4111-8111-111111111111",
                              .last_run_completed_at_ms = 1700000001000LL};
    bool written = false;
    assert_int_equal(dm_watermark_advance(b, &wm, &written, &err), DM_OK);
    assert_true(written);
    struct dm_watermark got;
    assert_int_equal(dm_watermark_read(b, &got, NULL, 0, &err), DM_OK);
    assert_string_equal(got.last_run_id, wm.last_run_id);
    assert_int_equal(dm_watermark_read(a, &got, NULL, 0, &err), DM_ERR_NOT_FOUND);
    char path[256];
    snprintf(path, sizeof(path), "%s/second.json", dir);
    assert_int_equal(access(path, F_OK), 0);
    dm_watermark_free(a);
    dm_watermark_free(b);
    dm_test_config_free(&t);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("WATERMARK_DIR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_default_is_nivoda, clear_env),
        cmocka_unit_test_setup(test_two_feeds, clear_env),
        cmocka_unit_test_setup(test_second_nivoda_feed, clear_env),
        cmocka_unit_test_setup(test_file_feed_alone, clear_env),
        cmocka_unit_test_setup(test_feeds_list_problems, clear_env),
        cmocka_unit_test_setup(test_feed_problems, clear_env),
        cmocka_unit_test_setup(test_file_urls, clear_env),
        cmocka_unit_test_setup(test_help, clear_env),
        cmocka_unit_test_setup(test_feed_watermarks, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
