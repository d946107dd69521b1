/*
 * test_file_source.c - a file feed's snapshot read end to end through dm_file_source_fetch:
 * against a tiny HTTP server in this test (loopback only, a thread that answers scripted
 * responses byte for byte) and against file:// paths. Streamed rows are counted and their
 * line numbers checked; rows reach the handler while the body is still arriving (the server
 * holds back the rest until the handler has seen the first rows); 304 after one request;
 * truncation in every form (Content-Length short, connection closed mid-row, a chunked body
 * cut, a last line without a line end, a file that changes) is an error for the snapshot.
 * With DM_TEST_AZURE_STORAGE (file_source_azurite.sh starts Azurite) a blob is read with
 * the storage credentials, then answers 304.
 */
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "adapters/azure/storage.h"
#include "adapters/feed/file_source.h"
#include "adapters/http/client.h"
#include "core/buf.h"

/* ---- inventory ----------------------------------------------------------------------------- */

#define HEADER                                                                                     \
    "Stock #,Shape,Weight,Color,Clarity,Cut,Polish,Symmetry,Fluorescence Intensity,Lab,"           \
    "Certificate #,Price Per Carat,Total Price,Measurements,Depth %,Table %,Image,Video,"          \
    "Availability\r\n"

/* n rows; every 50th is bad (unknown shape); row i sits on line i + 2. */
static char *inventory_csv(int n, size_t *len)
{
    struct dm_buf b;
    dm_buf_init(&b, 256u << 20);
    assert_int_equal(dm_buf_append_str(&b, HEADER), DM_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(dm_buf_appendf(&b,
                                        "S%d,%s,1.01,G,VS1,EX,EX,EX,None,GIA,%d,4950.50,"
                                        "\"$5,%03d.00\",6.45 x 6.42 x 3.98,61.9,57,"
                                        "https://img.example/%d.jpg,,Available\r\n",
                                        i, i % 50 == 49 ? "Blob" : "Round", 1000000 + i, i % 1000,
                                        i),
                         DM_OK);
    *len = b.len;
    return dm_buf_steal(&b);
}

static char *inventory_jsonl(int n, size_t *len)
{
    struct dm_buf b;
    dm_buf_init(&b, 256u << 20);
    for (int i = 0; i < n; i++)
        assert_int_equal(dm_buf_appendf(&b,
                                        "{\"Stock #\":\"J%d\",\"Shape\":\"oval\",\"Carat\":%s,"
                                        "\"Color\":\"E\",\"Clarity\":\"VVS2\",\"PPC\":1000}\n",
                                        i, i % 10 == 9 ? "\"x\"" : "0.5"),
                         DM_OK);
    *len = b.len;
    return dm_buf_steal(&b);
}

/* ---- the server ------------------------------------------------------------------------------ */

struct server {
    int lfd, port;
    pthread_t th;
    volatile int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int rows_seen; /* set by the row handler of the streaming case */
    int requests;  /* requests answered */
    char inm[128]; /* If-None-Match of the last request */
    char ims[128]; /* If-Modified-Since of the last request */
    char *csv, *jsonl;
    size_t csv_len, jsonl_len;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

static void head(int fd, const char *status, const char *extra, long long length)
{
    char h[512];
    if (length >= 0)
        snprintf(h, sizeof(h), "HTTP/1.1 %s\r\n%sContent-Length: %lld\r\nConnection: close\r\n\r\n",
                 status, extra, length);
    else
        snprintf(h, sizeof(h), "HTTP/1.1 %s\r\n%sConnection: close\r\n\r\n", status, extra);
    send_str(fd, h);
}

/* A 200 whose body is one chunk of len bytes, then the last chunk when complete. */
static void send_chunked(int fd, const char *body, size_t len, bool complete)
{
    head(fd, "200 OK", "Transfer-Encoding: chunked\r\n", -1);
    char size[32];
    snprintf(size, sizeof(size), "%zx\r\n", len);
    send_str(fd, size);
    send_all(fd, body, len);
    send_str(fd, complete ? "\r\n0\r\n\r\n" : "\r\n");
}

static void answer(struct server *sv, int fd, const char *path, const char *inm)
{
    if (!strcmp(path, "/inv.csv") || !strcmp(path, "/inv.csv?sig=T0pS3cr3t")) {
        if (!strcmp(inm, "\"v1\"")) {
            send_str(fd, "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n");
            return;
        }
        head(fd, "200 OK", "ETag: \"v1\"\r\nLast-Modified: Mon, 07 Dec 2026 01:00:00 GMT\r\n",
             (long long)sv->csv_len);
        send_all(fd, sv->csv, sv->csv_len);
    } else if (!strcmp(path, "/lm.csv")) { /* Last-Modified only, no ETag */
        if (!strcmp(sv->ims, "Mon, 07 Dec 2026 01:00:00 GMT")) {
            send_str(fd, "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n");
            return;
        }
        head(fd, "200 OK", "Last-Modified: Mon, 07 Dec 2026 01:00:00 GMT\r\n",
             (long long)sv->csv_len);
        send_all(fd, sv->csv, sv->csv_len);
    } else if (!strcmp(path, "/feed")) { /* no extension: the Content-Type says CSV */
        head(fd, "200 OK", "Content-Type: text/csv; charset=utf-8\r\n", (long long)sv->csv_len);
        send_all(fd, sv->csv, sv->csv_len);
    } else if (!strcmp(path, "/inv.jsonl")) {
        head(fd, "200 OK", "", (long long)sv->jsonl_len);
        send_all(fd, sv->jsonl, sv->jsonl_len);
    } else if (!strcmp(path, "/drip.csv")) {
        /* Half the body, then nothing more until the handler has seen 100 rows: rows must be
         * delivered while the body is still arriving. */
        head(fd, "200 OK", "", (long long)sv->csv_len);
        size_t half = sv->csv_len / 2;
        send_all(fd, sv->csv, half);
        pthread_mutex_lock(&sv->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 20;
        while (sv->rows_seen < 100 && !sv->stop)
            if (pthread_cond_timedwait(&sv->cv, &sv->mu, &until) == ETIMEDOUT)
                break;
        bool go = sv->rows_seen >= 100;
        pthread_mutex_unlock(&sv->mu);
        if (go) /* else: close, so a client that buffers everything sees a cut body */
            send_all(fd, sv->csv + half, sv->csv_len - half);
    } else if (!strcmp(path, "/short.csv")) { /* Content-Length promises more than is sent */
        head(fd, "200 OK", "", (long long)sv->csv_len + 100);
        send_all(fd, sv->csv, sv->csv_len);
    } else if (!strcmp(path, "/cut.csv")) { /* close-delimited, closed in the middle of a row */
        head(fd, "200 OK", "", -1);
        send_all(fd, sv->csv, sv->csv_len - 30);
    } else if (!strcmp(path, "/chunked-cut.csv")) { /* chunked, no last chunk */
        send_chunked(fd, sv->csv, sv->csv_len, false);
    } else if (!strcmp(path, "/chunked.csv")) { /* chunked and complete */
        send_chunked(fd, sv->csv, sv->csv_len, true);
    } else if (!strcmp(path, "/noheader.csv")) {
        const char *body = "Shape,Weight\nRound,1\n";
        head(fd, "200 OK", "", (long long)strlen(body));
        send_str(fd, body);
    } else if (!strcmp(path, "/empty.csv")) {
        head(fd, "200 OK", "", 0);
    } else if (!strcmp(path, "/busy.csv")) {
        head(fd, "503 Service Unavailable", "", 0);
    } else {
        head(fd, "404 Not Found", "", 0);
    }
}

static void *serve(void *arg)
{
    struct server *sv = arg;
    while (!sv->stop) {
        struct pollfd p = {.fd = sv->lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(sv->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        char req[8192];
        size_t got = 0;
        while (got < sizeof(req) - 1) {
            ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[got] = '\0';
        char path[512] = "";
        sscanf(req, "GET %511s", path);
        char inm[128] = "";
        const char *h = strcasestr(req, "\r\nIf-None-Match: ");
        if (h)
            sscanf(h + 17, "%127[^\r]", inm);
        char ims[128] = "";
        h = strcasestr(req, "\r\nIf-Modified-Since: ");
        if (h)
            sscanf(h + 21, "%127[^\r]", ims);
        pthread_mutex_lock(&sv->mu);
        sv->requests++;
        snprintf(sv->inm, sizeof(sv->inm), "%s", inm);
        snprintf(sv->ims, sizeof(sv->ims), "%s", ims);
        pthread_mutex_unlock(&sv->mu);
        answer(sv, fd, path, inm);
        close(fd);
    }
    return NULL;
}

static struct server *server_start(void)
{
    struct server *sv = calloc(1, sizeof(*sv));
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->cv, NULL);
    sv->csv = inventory_csv(5000, &sv->csv_len);
    sv->jsonl = inventory_jsonl(1000, &sv->jsonl_len);
    sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sv->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(sv->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(sv->lfd, 16), 0);
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(sv->lfd, (struct sockaddr *)&a, &alen), 0);
    sv->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&sv->th, NULL, serve, sv), 0);
    return sv;
}

static void server_stop(struct server *sv)
{
    pthread_mutex_lock(&sv->mu);
    sv->stop = 1;
    pthread_cond_broadcast(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
    pthread_join(sv->th, NULL);
    close(sv->lfd);
    free(sv->csv);
    free(sv->jsonl);
    pthread_mutex_destroy(&sv->mu);
    pthread_cond_destroy(&sv->cv);
    free(sv);
}

/* ---- the row handler ------------------------------------------------------------------------ */

struct tally {
    struct server *sv; /* to report progress to (streaming case), or NULL */
    uint64_t good, bad;
    uint64_t last_line;
    bool lines_ok;          /* good row i (S<i>) sits on line i + 2 */
    uint64_t cents_sum;     /* over good rows */
    struct dm_diamond kept; /* the first good diamond, moved out of the row */
    char first_error[256];
};

static enum dm_err on_row(void *ctx, struct dm_file_row *row)
{
    struct tally *t = ctx;
    if (row->line <= t->last_line)
        t->lines_ok = false;
    t->last_line = row->line;
    if (row->diamond) {
        t->good++;
        t->cents_sum += (uint64_t)row->diamond->feed_price_cents;
        const char *id = row->diamond->supplier_stone_id;
        if (id[0] == 'S' && strtoull(id + 1, NULL, 10) + 2 != row->line)
            t->lines_ok = false;
        if (t->kept.supplier_stone_id == NULL) { /* take ownership of the first one */
            t->kept = *row->diamond;
            memset(row->diamond, 0, sizeof(*row->diamond));
        }
    } else {
        t->bad++;
        assert_non_null(row->error);
        if (t->first_error[0] == '\0')
            snprintf(t->first_error, sizeof(t->first_error), "line %llu: %s",
                     (unsigned long long)row->line, row->error);
    }
    if (t->sv) {
        pthread_mutex_lock(&t->sv->mu);
        t->sv->rows_seen = (int)(t->good + t->bad);
        pthread_cond_broadcast(&t->sv->cv);
        pthread_mutex_unlock(&t->sv->mu);
    }
    return DM_OK;
}

static void tally_init(struct tally *t)
{
    memset(t, 0, sizeof(*t));
    t->lines_ok = true;
}

static enum dm_err fetch(const char *url, const char *etag, struct tally *t,
                         struct dm_file_result *res, struct dm_error *err)
{
    struct dm_file_mapping *m = NULL;
    assert_int_equal(dm_file_mapping_new(NULL, 0, &m, NULL), DM_OK);
    struct dm_file_source_options o = {.url = url,
                                       .feed = "supplier_a",
                                       .etag = etag,
                                       .azure_connection_string = getenv("DM_TEST_AZURE_STORAGE")};
    *err = (struct dm_error){0};
    enum dm_err e = dm_file_source_fetch(&o, m, on_row, t, res, err);
    dm_file_mapping_free(m);
    return e;
}

static char *url_of(struct server *sv, const char *path)
{
    char *u = NULL;
    assert_true(asprintf(&u, "http://127.0.0.1:%d%s", sv->port, path) > 0);
    return u;
}

/* 5000 rows, every 50th bad: 4900 good, 100 bad. Prices "$5,NNN.00". */
static uint64_t expected_cents(void)
{
    uint64_t sum = 0;
    for (int i = 0; i < 5000; i++)
        if (i % 50 != 49)
            sum += 500000 + (uint64_t)(i % 1000) * 100;
    return sum;
}

static void test_http_full_and_304(void **state)
{
    struct server *sv = server_start();
    struct tally t;
    struct dm_file_result res;
    struct dm_error err;
    char *url = url_of(sv, "/inv.csv");
    tally_init(&t);
    enum dm_err e = fetch(url, NULL, &t, &res, &err);
    if (e != DM_OK)
        fail_msg("fetch: %s", err.message);
    assert_false(res.not_modified);
    assert_false(res.truncated);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.format, DM_FILE_FORMAT_CSV);
    assert_int_equal(res.rows, 4900);
    assert_int_equal(res.bad_rows, 100);
    assert_int_equal(t.good, 4900);
    assert_int_equal(t.bad, 100);
    assert_int_equal(res.lines, 5001);
    assert_int_equal(res.bytes, sv->csv_len);
    assert_true(t.lines_ok);
    assert_int_equal(t.cents_sum, expected_cents());
    assert_string_equal(res.etag, "\"v1\"");
    assert_string_equal(res.last_modified, "Mon, 07 Dec 2026 01:00:00 GMT");
    assert_string_equal(t.first_error,
                        "line 51: shape (column \"Shape\"): \"Blob\" is not a known value");
    /* The diamond moved out of the row is whole after the fetch. */
    assert_string_equal(t.kept.feed, "supplier_a");
    assert_string_equal(t.kept.supplier_stone_id, "S0");
    assert_string_equal(t.kept.certificate_lab, "GIA");
    assert_int_equal(t.kept.feed_price_cents, 500000);
    dm_diamond_free(&t.kept);

    /* Unchanged: one request, answered 304, no rows. */
    int before = sv->requests;
    char etag[256];
    snprintf(etag, sizeof(etag), "%s", res.etag); /* res is cleared by the next fetch */
    tally_init(&t);
    assert_int_equal(fetch(url, etag, &t, &res, &err), DM_OK);
    assert_true(res.not_modified);
    assert_int_equal(res.status, 304);
    assert_int_equal(res.rows + res.bad_rows, 0);
    assert_int_equal(t.good + t.bad, 0);
    assert_int_equal(sv->requests, before + 1);
    assert_string_equal(sv->inm, "\"v1\"");
    assert_string_equal(res.etag, "\"v1\"");
    free(url);

    /* Last-Modified alone: If-Modified-Since is sent back, 304. */
    url = url_of(sv, "/lm.csv");
    tally_init(&t);
    assert_int_equal(fetch(url, NULL, &t, &res, &err), DM_OK);
    assert_int_equal(res.rows, 4900);
    assert_string_equal(res.etag, "");
    char lm[64];
    snprintf(lm, sizeof(lm), "%s", res.last_modified);
    assert_string_equal(lm, "Mon, 07 Dec 2026 01:00:00 GMT");
    dm_diamond_free(&t.kept);
    struct dm_file_mapping *m = NULL;
    assert_int_equal(dm_file_mapping_new(NULL, 0, &m, NULL), DM_OK);
    struct dm_file_source_options o = {.url = url, .feed = "f", .last_modified = lm};
    tally_init(&t);
    assert_int_equal(dm_file_source_fetch(&o, m, on_row, &t, &res, &err), DM_OK);
    assert_true(res.not_modified);
    assert_int_equal(t.good + t.bad, 0);
    assert_string_equal(sv->ims, lm);
    assert_string_equal(res.last_modified, lm);
    dm_file_mapping_free(m);
    free(url);

    /* Formats by name. */
    enum dm_file_format fmt;
    assert_int_equal(dm_file_format_parse("CSV", &fmt), DM_OK);
    assert_int_equal(fmt, DM_FILE_FORMAT_CSV);
    assert_int_equal(dm_file_format_parse("ndjson", &fmt), DM_OK);
    assert_int_equal(fmt, DM_FILE_FORMAT_JSONL);
    assert_int_equal(dm_file_format_parse("", &fmt), DM_OK);
    assert_int_equal(fmt, DM_FILE_FORMAT_AUTO);
    assert_int_equal(dm_file_format_parse("xlsx", &fmt), DM_ERR_INVALID);

    /* Chunked and complete; format from Content-Type; JSON lines. */
    const char *ok_paths[] = {"/chunked.csv", "/feed"};
    for (size_t i = 0; i < 2; i++) {
        url = url_of(sv, ok_paths[i]);
        tally_init(&t);
        e = fetch(url, NULL, &t, &res, &err);
        if (e != DM_OK)
            fail_msg("%s: %s", ok_paths[i], err.message);
        assert_int_equal(res.rows, 4900);
        assert_int_equal(res.bad_rows, 100);
        assert_int_equal(t.cents_sum, expected_cents());
        dm_diamond_free(&t.kept);
        free(url);
    }
    url = url_of(sv, "/inv.jsonl");
    tally_init(&t);
    assert_int_equal(fetch(url, NULL, &t, &res, &err), DM_OK);
    assert_int_equal(res.format, DM_FILE_FORMAT_JSONL);
    assert_int_equal(res.rows, 900);
    assert_int_equal(res.bad_rows, 100);
    assert_int_equal(res.lines, 1000);
    assert_int_equal(t.cents_sum, 900 * 50000); /* price per carat 1000 x 0.5 ct */
    assert_string_equal(t.first_error, "line 10: carats (column \"Carat\"): \"x\" is not a "
                                       "weight in carats (0.01 to 9999.99)");
    dm_diamond_free(&t.kept);
    free(url);
    server_stop(sv);
}

static void test_http_streams(void **state)
{
    struct server *sv = server_start();
    struct tally t;
    tally_init(&t);
    t.sv = sv;
    struct dm_file_result res;
    struct dm_error err;
    char *url = url_of(sv, "/drip.csv");
    enum dm_err e = fetch(url, NULL, &t, &res, &err);
    if (e != DM_OK)
        fail_msg("drip: %s (rows %llu)", err.message, (unsigned long long)res.rows);
    assert_int_equal(res.rows, 4900);
    assert_int_equal(res.bad_rows, 100);
    assert_true(t.lines_ok);
    dm_diamond_free(&t.kept);
    free(url);
    server_stop(sv);
}

static void test_http_truncated_and_errors(void **state)
{
    struct server *sv = server_start();
    static const struct {
        const char *path;
        enum dm_err e;
        bool truncated;
        const char *want;
    } cases[] = {
        {"/short.csv", DM_ERR_NETWORK, true, ""},
        {"/cut.csv", DM_ERR_INVALID, true, "truncated: the last line (5001) has no line end"},
        {"/chunked-cut.csv", DM_ERR_NETWORK, true, ""},
        {"/noheader.csv", DM_ERR_INVALID, false,
         "line 1: header: no column for stock_id, color, clarity, total_price or "
         "price_per_carat"},
        {"/empty.csv", DM_ERR_INVALID, false, "empty file: no header row"},
        {"/busy.csv", DM_ERR_REMOTE, false, "HTTP 503"},
        {"/gone.csv", DM_ERR_NOT_FOUND, false, "HTTP 404"},
        {"/gone.csv?sv=1&sig=T0pS3cr3t", DM_ERR_NOT_FOUND, false, "/gone.csv: HTTP 404"},
        {"/noext", DM_ERR_NOT_FOUND, false, "HTTP 404"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *url = url_of(sv, cases[i].path);
        struct tally t;
        tally_init(&t);
        struct dm_file_result res;
        struct dm_error err;
        enum dm_err e = fetch(url, NULL, &t, &res, &err);
        print_message("%s: %s (rows %llu)\n", cases[i].path, err.message,
                      (unsigned long long)res.rows);
        if (e != cases[i].e || res.truncated != cases[i].truncated ||
            !strstr(err.message, cases[i].want))
            fail_msg("%s: e=%d truncated=%d \"%s\"", cases[i].path, e, res.truncated, err.message);
        assert_null(strstr(err.message, "T0pS3cr3t"));
        if (cases[i].truncated) /* rows before the cut were delivered, the snapshot refused */
            assert_true(res.rows > 0 && res.rows <= 4900);
        dm_diamond_free(&t.kept);
        free(url);
    }
    server_stop(sv);
}

static char *write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void test_file_urls(void **state)
{
    char dir[] = "/tmp/dm_file_source.XXXXXX";
    assert_non_null(mkdtemp(dir));
    size_t len;
    char *csv = inventory_csv(5000, &len);
    char *path = write_file(dir, "inv file.csv", csv, len);
    char *url = NULL;
    assert_true(asprintf(&url, "file://%s/inv%%20file.csv", dir) > 0);
    struct tally t;
    tally_init(&t);
    struct dm_file_result res;
    struct dm_error err;
    enum dm_err e = fetch(url, NULL, &t, &res, &err);
    if (e != DM_OK)
        fail_msg("file: %s", err.message);
    assert_int_equal(res.rows, 4900);
    assert_int_equal(res.bad_rows, 100);
    assert_true(t.lines_ok);
    assert_int_equal(t.cents_sum, expected_cents());
    assert_int_equal(res.status, 0);
    assert_true(res.etag[0] == '"');
    dm_diamond_free(&t.kept);
    /* Unchanged: not read again. */
    char etag[256];
    snprintf(etag, sizeof(etag), "%s", res.etag);
    tally_init(&t);
    assert_int_equal(fetch(url, etag, &t, &res, &err), DM_OK);
    assert_true(res.not_modified);
    assert_int_equal(res.bytes, 0);
    assert_int_equal(t.good + t.bad, 0);
    free(path);
    free(url);

    /* Cut mid-row (no final line end), an open quote, empty: refused. Oversized JSON line:
     * one bad row. */
    static const struct {
        const char *name, *body;
        enum dm_err e;
        bool truncated;
        uint64_t rows, bad;
        const char *want;
    } cases[] = {
        {"cut.csv", HEADER "S0,Round,1,G,VS1,,,,,,,,100,,,,,,\r\nS1,Round,1,G,VS1,,,,,,,,1",
         DM_ERR_INVALID, true, 1, 0, "the last line (3) has no line end"},
        {"quote.csv", HEADER "S0,Round,1,G,VS1,,,,,,,,100,,,,,,\r\nS1,\"Round\r\n", DM_ERR_INVALID,
         true, 1, 0, "a quoted field is still open"},
        {"empty.jsonl", "", DM_ERR_INVALID, false, 0, 0, "empty file"},
        {"header-only.csv", HEADER, DM_OK, false, 0, 0, ""},
        {"cut.jsonl",
         "{\"Stock #\":\"A\",\"Shape\":\"round\",\"Carat\":1,\"Color\":\"G\","
         "\"Clarity\":\"IF\",\"Price\":5}\n{\"Stock #\":\"B\"",
         DM_ERR_INVALID, true, 1, 0, "the last line (2) has no line end"},
        {"wide.jsonl",
         "\xEF\xBB\xBF{\"Stock #\":\"A\",\"Shape\":\"round\",\"Carat\":1,"
         "\"Color\":\"G\",\"Clarity\":\"IF\",\"Price\":5}\r\n\r\n{\"x\":\"",
         DM_ERR_INVALID, true, 1, 0, "has no line end"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        path = write_file(dir, cases[i].name, cases[i].body, strlen(cases[i].body));
        assert_true(asprintf(&url, "file://%s", path) > 0);
        tally_init(&t);
        e = fetch(url, NULL, &t, &res, &err);
        if (e != cases[i].e || res.truncated != cases[i].truncated || res.rows != cases[i].rows ||
            res.bad_rows != cases[i].bad ||
            (cases[i].want[0] && !strstr(err.message, cases[i].want)))
            fail_msg("%s: e=%d truncated=%d rows=%llu bad=%llu \"%s\"", cases[i].name, e,
                     res.truncated, (unsigned long long)res.rows, (unsigned long long)res.bad_rows,
                     err.message);
        dm_diamond_free(&t.kept);
        unlink(path);
        free(path);
        free(url);
    }
    /* A JSON line over the row bound is one bad row; the next line is read. */
    struct dm_buf big;
    dm_buf_init(&big, 1 << 20);
    assert_int_equal(dm_buf_appendf(&big, "{\"Stock #\":\"%0200d\"}\n", 7), DM_OK);
    assert_int_equal(dm_buf_append_str(&big, "{\"Stock #\":\"A\",\"Shape\":\"round\",\"Carat\":1,"
                                             "\"Color\":\"G\",\"Clarity\":\"IF\",\"Price\":5}\n"),
                     DM_OK);
    path = write_file(dir, "big.jsonl", big.data, big.len);
    assert_true(asprintf(&url, "file://%s", path) > 0);
    struct dm_file_mapping *m = NULL;
    assert_int_equal(dm_file_mapping_new(NULL, 0, &m, NULL), DM_OK);
    struct dm_file_source_options o = {.url = url, .feed = "f", .max_row = 150};
    tally_init(&t);
    assert_int_equal(dm_file_source_fetch(&o, m, on_row, &t, &res, &err), DM_OK);
    assert_int_equal(res.rows, 1);
    assert_int_equal(res.bad_rows, 1);
    assert_string_equal(t.first_error, "line 1: row longer than 150 bytes");
    dm_diamond_free(&t.kept);
    dm_file_mapping_free(m);
    dm_buf_free(&big);
    unlink(path);
    free(path);
    free(url);

    /* Missing file, relative path, unknown scheme, unknown format. */
    static const struct {
        const char *url;
        enum dm_err e;
    } bad[] = {
        {"file:///nonexistent/dir/x.csv", DM_ERR_NOT_FOUND},
        {"file://relative/x.csv", DM_ERR_INVALID},
        {"ftp://host/x.csv", DM_ERR_INVALID},
        {"file:///tmp/x.txt", DM_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tally_init(&t);
        e = fetch(bad[i].url, NULL, &t, &res, &err);
        if (e != bad[i].e)
            fail_msg("%s: e=%d \"%s\"", bad[i].url, e, err.message);
    }
    path = NULL;
    assert_true(asprintf(&path, "%s/inv file.csv", dir) > 0);
    unlink(path);
    free(path);
    rmdir(dir);
    free(csv);
}

/* An Azure Blob read with the storage credentials (Azurite, see file_source_azurite.sh). */
static void test_azure_blob(void **state)
{
    const char *cs = getenv("DM_TEST_AZURE_STORAGE");
    if (cs == NULL || cs[0] == '\0') {
        print_message("DM_TEST_AZURE_STORAGE not set: skipped (see file_source_azurite.sh)\n");
        return;
    }
    struct dm_azure_storage *st = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_azure_storage_open(cs, &st, &err), DM_OK);
    /* Container and blob, written with the same credentials. */
    size_t len;
    char *csv = inventory_csv(5000, &len);
    struct dm_azure_request puts[2] = {
        {.method = "PUT", .path = "/feeds", .query = "restype=container"},
        {.method = "PUT",
         .path = "/feeds/inventory.csv",
         .content_type = "text/csv",
         .blob_type = true,
         .body_len = len},
    };
    for (int i = 0; i < 2; i++) {
        struct dm_azure_signed sig;
        assert_int_equal(dm_azure_storage_sign(st, &puts[i], &sig, &err), DM_OK);
        struct dm_http_request req = {.method = "PUT",
                                      .url = sig.url,
                                      .headers = sig.headers,
                                      .body = i ? csv : NULL,
                                      .body_len = i ? len : 0};
        struct dm_http_response resp;
        assert_int_equal(dm_http_do(&req, &resp, &err), DM_OK);
        print_message("PUT %s: %ld\n", puts[i].path, resp.status);
        assert_true(resp.status == 201 || (i == 0 && resp.status == 409));
        dm_http_response_free(&resp);
        dm_azure_signed_free(&sig);
    }
    char *url = NULL;
    assert_true(asprintf(&url, "%s/feeds/inventory.csv", dm_azure_storage_endpoint(st)) > 0);
    struct tally t;
    tally_init(&t);
    struct dm_file_result res;
    enum dm_err e = fetch(url, NULL, &t, &res, &err);
    if (e != DM_OK)
        fail_msg("blob: %s", err.message);
    assert_int_equal(res.rows, 4900);
    assert_int_equal(res.bad_rows, 100);
    assert_int_equal(t.cents_sum, expected_cents());
    assert_true(res.etag[0] != '\0');
    dm_diamond_free(&t.kept);
    char etag[256];
    snprintf(etag, sizeof(etag), "%s", res.etag);
    tally_init(&t);
    e = fetch(url, etag, &t, &res, &err);
    if (e != DM_OK)
        fail_msg("blob 304: %s", err.message);
    assert_true(res.not_modified);
    assert_int_equal(res.status, 304);
    /* Without the credentials the private blob is refused. */
    struct dm_file_mapping *m = NULL;
    assert_int_equal(dm_file_mapping_new(NULL, 0, &m, NULL), DM_OK);
    struct dm_file_source_options o = {.url = url, .feed = "f"};
    tally_init(&t);
    e = dm_file_source_fetch(&o, m, on_row, &t, &res, &err);
    print_message("anonymous: %s\n", err.message);
    assert_true(e == DM_ERR_NOT_FOUND || e == DM_ERR_AUTH);
    dm_file_mapping_free(m);
    free(url);
    free(csv);
    dm_azure_storage_free(st);
}

int main(void)
{
    dm_http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_full_and_304),
        cmocka_unit_test(test_http_streams),
        cmocka_unit_test(test_http_truncated_and_errors),
        cmocka_unit_test(test_file_urls),
        cmocka_unit_test(test_azure_blob),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    dm_http_thread_cleanup();
    return rc;
}
