/* test_dashboard_files.c - dashboard static-file helpers: path resolution (traversal, hidden
 * segments, symlinks out of the root, directories), MIME types, proxied paths, header filters. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

#include "adapters/http/url.h"
#include "services/dashboard/dashboard.h"

static char root[PATH_MAX];
static char outside[PATH_MAX];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/dm-dash-XXXXXX";
    char *base = mkdtemp(tmpl);
    if (base == NULL)
        return -1;
    char *real = realpath(base, NULL);
    if (real == NULL || strlen(real) > 200) {
        free(real);
        return -1;
    }
    snprintf(root, sizeof(root), "%.200s/root", real);
    snprintf(outside, sizeof(outside), "%.200s/outside", real);
    free(real);
    mkdir(root, 0755);
    mkdir(outside, 0755);
    char sub[PATH_MAX + 8];
    snprintf(sub, sizeof(sub), "%s/js", root);
    mkdir(sub, 0755);
    snprintf(sub, sizeof(sub), "%s/docs", root);
    mkdir(sub, 0755);
    write_file(root, "index.html", "<!doctype html>");
    write_file(root, "js/app.js", "export {}");
    write_file(root, ".secret", "x");
    write_file(root, "docs/index.html", "docs");
    write_file(outside, "passwd", "root:x:0:0");
    char link[PATH_MAX + 16], target[PATH_MAX + 16];
    snprintf(link, sizeof(link), "%s/escape.txt", root);
    snprintf(target, sizeof(target), "%s/passwd", outside);
    if (symlink(target, link) != 0)
        return -1;
    snprintf(link, sizeof(link), "%s/outdir", root);
    if (symlink(outside, link) != 0)
        return -1;
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX * 2];
    char *slash = strrchr(root, '/');
    *slash = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    (void)state;
    return system(cmd) == 0 ? 0 : -1;
}

static void test_resolve_ok(void **state)
{
    char out[PATH_MAX], want[PATH_MAX + 32];
    assert_int_equal(dm_dashboard_resolve(root, "/", out, sizeof(out)), DM_OK);
    snprintf(want, sizeof(want), "%s/index.html", root);
    assert_string_equal(out, want);
    assert_int_equal(dm_dashboard_resolve(root, "/js/app.js", out, sizeof(out)), DM_OK);
    snprintf(want, sizeof(want), "%s/js/app.js", root);
    assert_string_equal(out, want);
    assert_int_equal(dm_dashboard_resolve(root, "//js//app.js", out, sizeof(out)), DM_OK);
    assert_int_equal(dm_dashboard_resolve(root, "/docs/", out, sizeof(out)), DM_OK);
    assert_int_equal(dm_dashboard_resolve(root, "/docs", out, sizeof(out)), DM_OK);
    snprintf(want, sizeof(want), "%s/docs/index.html", root);
    assert_string_equal(out, want);
    (void)state;
}

static void test_resolve_refused(void **state)
{
    static const char *const bad[] = {
        "/../outside/passwd", "/js/../../outside/passwd", "/..", "/.secret", "/js/./app.js", "/.",
        "js/app.js",          "/js\\..\\..\\x",           ""};
    char out[PATH_MAX];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dm_dashboard_resolve(root, bad[i], out, sizeof(out)), DM_ERR_INVALID);
    /* Symlinks that leave the root are refused even though the names look harmless. */
    assert_int_equal(dm_dashboard_resolve(root, "/escape.txt", out, sizeof(out)), DM_ERR_INVALID);
    assert_int_equal(dm_dashboard_resolve(root, "/outdir/passwd", out, sizeof(out)),
                     DM_ERR_INVALID);
    assert_int_equal(dm_dashboard_resolve(root, "/nope.js", out, sizeof(out)), DM_ERR_NOT_FOUND);
    assert_int_equal(dm_dashboard_resolve(root, "/js/", out, sizeof(out)), DM_ERR_NOT_FOUND);
    assert_int_equal(dm_dashboard_resolve(root, "/js/app.js", out, 8), DM_ERR_TOO_LARGE);
    (void)state;
}

static void test_mime(void **state)
{
    assert_string_equal(dm_dashboard_mime_type("/a/index.html"), "text/html; charset=utf-8");
    assert_string_equal(dm_dashboard_mime_type("/a/app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(dm_dashboard_mime_type("/a/m.MJS"), "text/javascript; charset=utf-8");
    assert_string_equal(dm_dashboard_mime_type("/a/app.css"), "text/css; charset=utf-8");
    assert_string_equal(dm_dashboard_mime_type("/favicon.svg"), "image/svg+xml");
    assert_string_equal(dm_dashboard_mime_type("/x.png"), "image/png");
    assert_string_equal(dm_dashboard_mime_type("/x.json"), "application/json");
    assert_string_equal(dm_dashboard_mime_type("/dir.js/README"), "application/octet-stream");
    assert_string_equal(dm_dashboard_mime_type("/x.exe"), "application/octet-stream");
    (void)state;
}

static void test_proxied(void **state)
{
    static const struct dm_test_pred_case cases[] = {
        {"/api/v2/diamonds", true}, {"/api", true},      {"/health", true}, {"/metrics", true},
        {"/openapi.json", true},    {"/api-docs", true}, {"/apix", false},  {"/healthz", false},
        {"/js/api.js", false},      {"/", false},
    };
    DM_TEST_PRED(dm_dashboard_is_proxied, cases);
    (void)state;
}

static void test_headers(void **state)
{
    /* hop-by-hop: never forwarded either way */
    static const struct dm_test_pred_case hop[] = {
        {"Connection", true}, {"keep-alive", true}, {"Transfer-Encoding", true},
        {"TE", true},         {"Upgrade", true},    {"Proxy-Authorization", true},
        {"Trailer", true},
    };
    DM_TEST_PRED(dm_dashboard_skip_request_header, hop);
    DM_TEST_PRED(dm_dashboard_skip_response_header, hop);
    static const struct dm_test_pred_case request[] = {
        {"host", true},
        {"Content-Length", true},
        {"X-Forwarded-For", true}, /* set by the proxy */
        {"X-API-Key", false},
        {"X-Request-Id", false},
        {"If-None-Match", false},
        {"X-Signature", false},
        {"Accept-Encoding", false},
    };
    DM_TEST_PRED(dm_dashboard_skip_request_header, request);
    static const struct dm_test_pred_case response[] = {
        {"Content-Encoding", false}, /* bytes pass as sent */
        {"Content-Length", true},    {"ETag", false},
        {"X-Request-Id", false},     {"Retry-After", false},
    };
    DM_TEST_PRED(dm_dashboard_skip_response_header, response);
    (void)state;
}

/* Raw request targets: decided as sent, never decoded (issue 15, item 1). */
static void test_classify_target(void **state)
{
    static const struct {
        const char *raw;
        enum dm_dashboard_target want;
        size_t path_len;
    } cases[] = {
        {"/api/v2/diamonds?shape=ROUND", DM_DASHBOARD_TARGET_PROXY, 16},
        {"/api", DM_DASHBOARD_TARGET_PROXY, 4},
        {"/api?x=/../@evil:1/", DM_DASHBOARD_TARGET_PROXY, 4},
        {"/health", DM_DASHBOARD_TARGET_PROXY, 7},
        {"/openapi.json", DM_DASHBOARD_TARGET_PROXY, 13},
        {"/api-docs", DM_DASHBOARD_TARGET_PROXY, 9},
        {"/metrics", DM_DASHBOARD_TARGET_PROXY_CREDENTIALS, 8},
        {"/metrics/?x", DM_DASHBOARD_TARGET_PROXY_CREDENTIALS, 9},
        {"/", DM_DASHBOARD_TARGET_STATIC, 1},
        {"/js/app.js?v=1", DM_DASHBOARD_TARGET_STATIC, 10},
        {"/apix", DM_DASHBOARD_TARGET_STATIC, 5},
        {"/%61pi/v2/diamonds", DM_DASHBOARD_TARGET_STATIC, 18}, /* decodes to /api: not proxied */
        {"/api%2F@127.0.0.1:9/x", DM_DASHBOARD_TARGET_STATIC, 21},
        {"//127.0.0.1:9/api/x", DM_DASHBOARD_TARGET_STATIC, 19},
        /* not origin form: refused whatever it decodes to */
        {"%2Fapi%2F@127.0.0.1:9/anything", DM_DASHBOARD_TARGET_BAD, 0},
        {"%2fapi%2f@127.0.0.1:9/anything", DM_DASHBOARD_TARGET_BAD, 0},
        {"%2Fhealth%2F@127.0.0.1:9/", DM_DASHBOARD_TARGET_BAD, 0},
        {"@127.0.0.1:9/api/x", DM_DASHBOARD_TARGET_BAD, 0},
        {"http://127.0.0.1:9/api/x", DM_DASHBOARD_TARGET_BAD, 0},
        {"*", DM_DASHBOARD_TARGET_BAD, 0},
        {"", DM_DASHBOARD_TARGET_BAD, 0},
        /* bytes no target holds */
        {"/api/x#frag", DM_DASHBOARD_TARGET_BAD, 0},
        {"/api/x\\y", DM_DASHBOARD_TARGET_BAD, 0},
        {"/api/x y", DM_DASHBOARD_TARGET_BAD, 0},
        {"/api/x\ry", DM_DASHBOARD_TARGET_BAD, 0},
        {"/api/\xc3\xa9", DM_DASHBOARD_TARGET_BAD, 0},
        {"/index.html\x7f", DM_DASHBOARD_TARGET_BAD, 0},
        /* dot segments in an API path: libcurl would resolve them */
        {"/api/../metrics", DM_DASHBOARD_TARGET_BAD, 15},
        {"/api/./v2", DM_DASHBOARD_TARGET_BAD, 9},
        {"/api/..", DM_DASHBOARD_TARGET_BAD, 7},
        {"/api/..x/v2", DM_DASHBOARD_TARGET_PROXY, 11},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 99;
        enum dm_dashboard_target got = dm_dashboard_classify_target(cases[i].raw, &len);
        if (got != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].raw, (int)got, (int)cases[i].want);
        if (got != DM_DASHBOARD_TARGET_BAD)
            assert_int_equal(len, cases[i].path_len);
    }
    size_t len;
    assert_int_equal(dm_dashboard_classify_target(NULL, &len), DM_DASHBOARD_TARGET_BAD);
    (void)state;
}

/* The upstream URL keeps the configured scheme, host and port: only path and query change. */
static void test_upstream_url(void **state)
{
    static const struct {
        const char *base, *path, *query, *want;
    } ok[] = {
        /* percent escapes kept as written (HMAC signs the target as sent) */
        {"http://127.0.0.1:3000", "/api/v2/diamonds", "shape=ROUND&x=%2Fa%20b",
         "http://127.0.0.1:3000/api/v2/diamonds?shape=ROUND&x=%2Fa%20b"},
        {"http://127.0.0.1:3000/", "/health", NULL, "http://127.0.0.1:3000/health"},
        {"https://api.example:8443/base/", "/api/x", "", "https://api.example:8443/base/api/x"},
        {"http://u:p@127.0.0.1:3000/b?z=1#f", "/api/%3A", "a=%3a",
         "http://u:p@127.0.0.1:3000/b/api/%3A?a=%3a"},
        {"http://127.0.0.1:3000", "/api/%2Fapi%2F@127.0.0.1:9/x", "a=@b:1/c",
         "http://127.0.0.1:3000/api/%2Fapi%2F@127.0.0.1:9/x?a=@b:1/c"},
        {"http://127.0.0.1:3000?q=1#f", "/api", NULL, "http://127.0.0.1:3000/api"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *url = NULL;
        struct dm_error err = {0};
        assert_int_equal(dm_http_url_on_base(ok[i].base, ok[i].path, ok[i].query, &url, &err),
                         DM_OK);
        assert_string_equal(url, ok[i].want);
        free(url);
    }
    static const struct {
        const char *base, *path;
    } bad[] = {
        {"http://127.0.0.1:3000", "%2Fapi%2F@127.0.0.1:9/anything"},
        {"http://127.0.0.1:3000", "@127.0.0.1:9/x"},
        {"http://127.0.0.1:3000", "//127.0.0.1:9/api"},
        {"http://127.0.0.1:3000", ""},
        {"http://127.0.0.1:3000", "/api/../x"}, /* would be resolved into another path */
        {"http://127.0.0.1:3000", "/api/x y"},  /* would be re-encoded */
        {"http://127.0.0.1:3000", "/api/x#f"},
        {"127.0.0.1:3000", "/api"},
        {"ftp://127.0.0.1", "/api"},
        {"not a url", "/api"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *url = (char *)"unchanged";
        struct dm_error err = {0};
        assert_int_equal(dm_http_url_on_base(bad[i].base, bad[i].path, NULL, &url, &err),
                         DM_ERR_INVALID);
        assert_null(url);
    }
    (void)state;
}

/* Header values with a bare CR/LF (or another control) are dropped, never forwarded. */
static void test_header_ok(void **state)
{
    assert_true(dm_dashboard_header_ok("X-API-Key", "dk_abc"));
    assert_true(dm_dashboard_header_ok("Accept", "text/html,\t*/*; q=0.1"));
    assert_true(dm_dashboard_header_ok("X-Empty", ""));
    assert_true(dm_dashboard_header_ok("X-Utf8", "caf\xc3\xa9"));
    assert_false(dm_dashboard_header_ok("X-Evil", "a\rb"));
    assert_false(dm_dashboard_header_ok("X-Evil", "a\nX-Injected: 1"));
    assert_false(dm_dashboard_header_ok("X-Evil", "a\x01"));
    assert_false(dm_dashboard_header_ok("X-Evil", "a\x7f"));
    assert_false(dm_dashboard_header_ok("X Evil", "a"));
    assert_false(dm_dashboard_header_ok("X-Evil:", "a"));
    assert_false(dm_dashboard_header_ok("", "a"));
    assert_false(dm_dashboard_header_ok(NULL, "a"));
    (void)state;
}

static void test_default_dir(void **state)
{
    assert_string_equal(dm_dashboard_default_dir("/srv/x"), "/srv/x");
    const char *d = dm_dashboard_default_dir(NULL);
    assert_non_null(strstr(d, "web/dashboard"));
    assert_string_equal(dm_dashboard_default_dir(""), d);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_ok),
        cmocka_unit_test(test_resolve_refused),
        cmocka_unit_test(test_mime),
        cmocka_unit_test(test_proxied),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_default_dir),
        cmocka_unit_test(test_classify_target),
        cmocka_unit_test(test_upstream_url),
        cmocka_unit_test(test_header_ok),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
