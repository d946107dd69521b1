/*
 * bench_file_feed.c - a file feed's snapshot end to end (fetch, tokenize, map), for
 * bench/file_feed.sh:
 *   bench_file_feed generate PATH ROWS   write a supplier CSV (the simulator's header set,
 *                                        varied grades, quoted "$N,NNN.00" prices, 1 row in
 *                                        200 bad) or, for a .jsonl PATH, JSON lines
 *   bench_file_feed read URL             fetch URL through dm_file_source_fetch and print one
 *                                        JSON line: rows, bad rows, bytes, wall and CPU
 *                                        seconds, rows per wall and per CPU second, MB/s and
 *                                        the process's peak RSS in MB
 * The read keeps nothing but counts, like a consumer that writes each row on, so the RSS is
 * the source's own footprint.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "adapters/feed/file_source.h"
#include "adapters/http/client.h"
#include "core/timeutil.h"

static const char *const SHAPES[] = {"Round",    "Oval",    "Emerald",  "Cushion", "Pear",
                                     "Princess", "Radiant", "Marquise", "Asscher", "Heart"};
static const char *const COLORS[] = {"D", "E", "F", "G", "H", "I", "J", "K"};
static const char *const CLARITIES[] = {"IF", "VVS1", "VVS2", "VS1", "VS2", "SI1", "SI2", "I1"};
static const char *const GRADES[] = {"EX", "VG", "GD"};
static const char *const FLUOR[] = {"None", "Faint", "Medium", "Strong"};

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
#define PICK(a) ((a)[next() % (sizeof(a) / sizeof((a)[0]))])

static int generate(const char *path, long rows)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    bool jsonl = strstr(path, ".jsonl") != NULL;
    if (!jsonl)
        fputs("Stock #,Shape,Weight,Color,Clarity,Cut,Polish,Symmetry,Fluorescence Intensity,Lab,"
              "Certificate #,Price Per Carat,Total Price,Measurements,Depth %,Table %,Image,Video,"
              "Availability\r\n",
              f);
    for (long i = 0; i < rows; i++) {
        int c2 = 30 + (int)(next() % 470);        /* 0.30 .. 4.99 ct */
        long ppc = 1500 + (long)(next() % 25000); /* dollars per carat */
        long total_cents = ppc * c2;              /* ppc x carats, in cents */
        const char *shape = i % 200 == 199 ? "Blob" : PICK(SHAPES);
        double l = 4.0 + c2 / 100.0, w = l * 0.98, d = l * 0.61;
        if (jsonl) {
            fprintf(f,
                    "{\"Stock #\":\"ST%07ld\",\"Shape\":\"%s\",\"Weight\":%d.%02d,\"Color\":\"%s\","
                    "\"Clarity\":\"%s\",\"Cut\":\"%s\",\"Polish\":\"%s\",\"Symmetry\":\"%s\","
                    "\"Lab\":\"GIA\",\"Certificate #\":\"%ld\",\"Total Price\":%ld.%02ld,"
                    "\"Measurements\":\"%.2f x %.2f x %.2f\",\"Availability\":\"Available\"}\n",
                    i, shape, c2 / 100, c2 % 100, PICK(COLORS), PICK(CLARITIES), PICK(GRADES),
                    PICK(GRADES), PICK(GRADES), 2100000000L + i, total_cents / 100,
                    total_cents % 100, l, w, d);
            continue;
        }
        fprintf(f,
                "ST%07ld,%s,%d.%02d,%s,%s,%s,%s,%s,%s,GIA,%ld,%ld.00,\"$%ld,%03ld.%02ld\","
                "%.2f x %.2f x %.2f,%.1f,%d,https://img.example.com/%07ld.jpg,"
                "https://video.example.com/%07ld,Available\r\n",
                i, shape, c2 / 100, c2 % 100, PICK(COLORS), PICK(CLARITIES), PICK(GRADES),
                PICK(GRADES), PICK(GRADES), PICK(FLUOR), 2100000000L + i, ppc, total_cents / 100000,
                (total_cents / 100) % 1000, total_cents % 100, l, w, d,
                58.0 + (double)(next() % 60) / 10.0, 53 + (int)(next() % 8), i, i);
    }
    if (fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

struct counts {
    uint64_t good, bad, carats;
};

static enum dm_err on_row(void *ctx, struct dm_file_row *row)
{
    struct counts *c = ctx;
    if (row->diamond) {
        c->good++;
        c->carats += (uint64_t)row->diamond->carats_c2;
    } else {
        c->bad++;
    }
    return DM_OK;
}

static int read_url(const char *url)
{
    dm_http_global_init();
    struct dm_file_mapping *m = NULL;
    struct dm_error err = {0};
    if (dm_file_mapping_new(NULL, 0, &m, &err) != DM_OK) {
        fprintf(stderr, "mapping: %s\n", err.message);
        return 1;
    }
    struct dm_file_source_options o = {.url = url, .feed = "bench"};
    struct dm_file_result res;
    struct counts c = {0};
    int64_t t0 = dm_mono_ms();
    enum dm_err e = dm_file_source_fetch(&o, m, on_row, &c, &res, &err);
    double s = (double)(dm_mono_ms() - t0) / 1000.0;
    dm_file_mapping_free(m);
    if (e != DM_OK) {
        fprintf(stderr, "fetch: %s\n", err.message);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (s <= 0)
        s = 0.001;
    /* CPU time too: on a shared machine the wall clock measures the neighbours. */
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    if (cpu <= 0)
        cpu = 0.001;
    double n = (double)(res.rows + res.bad_rows);
    printf("{\"rows\":%llu,\"bad_rows\":%llu,\"bytes\":%llu,\"seconds\":%.3f,"
           "\"cpu_seconds\":%.3f,\"rows_per_s\":%.0f,\"rows_per_cpu_s\":%.0f,"
           "\"mb_per_s\":%.1f,\"peak_rss_mb\":%.1f}\n",
           (unsigned long long)res.rows, (unsigned long long)res.bad_rows,
           (unsigned long long)res.bytes, s, cpu, n / s, n / cpu, (double)res.bytes / s / 1048576.0,
           (double)ru.ru_maxrss / 1024.0);
    dm_http_thread_cleanup();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "generate"))
        return generate(argv[2], strtol(argv[3], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "read"))
        return read_url(argv[2]);
    fprintf(stderr, "usage: %s generate PATH ROWS | read URL\n", argv[0]);
    return 2;
}
