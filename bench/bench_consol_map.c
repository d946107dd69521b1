/*
 * bench_consol_map.c - CPU cost of the consolidator's per-stone work (parse + map + price +
 * COPY line + content hash) over items read one per line from a file (or stdin).
 * usage: bench_consol_map FILE [ROUNDS]  -> prints stones/s of CPU time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "domain/mapping.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_consol_map FILE [ROUNDS]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
    size_t cap = 1024, n = 0;
    char **items = malloc(cap * sizeof(char *));
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (n == cap) {
            cap *= 2;
            items = realloc(items, cap * sizeof(char *));
        }
        items[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    struct dm_buf copy;
    dm_buf_init(&copy, (size_t)1 << 30);
    long ok = 0, bad = 0;
    double t0 = cpu_s();
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            struct dm_diamond d;
            struct dm_error err = {0};
            if (dm_mapping_map_text(items[i], strlen(items[i]), &d, &err) == DM_OK &&
                dm_mapping_price(&d, NULL, 0, &err) == DM_OK &&
                dm_diamond_copy_line(&d, &copy, NULL) == DM_OK)
                ok++;
            else
                bad++;
            dm_diamond_free(&d);
            if (copy.len > (1u << 24))
                dm_buf_reset(&copy);
        }
    }
    double dt = cpu_s() - t0;
    printf("{\"map_stones_per_cpu_s\": %.0f, \"items\": %ld, \"failed\": %ld, \"us_per_stone\": "
           "%.2f}\n",
           (double)ok / dt, ok, bad, dt * 1e6 / (double)(ok + bad));
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    dm_buf_free(&copy);
    return 0;
}
