/* feed_sim.c - `diamond feed-sim`: command line, start-up, serve until SIGTERM. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/commands.h"
#include "core/log.h"
#include "core/num.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "services/feedsim/feedfile.h"
#include "services/feedsim/feedsim.h"
#include "services/feedsim/inventory.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: diamond feed-sim [options]\n"
        "Nivoda-compatible GraphQL feed simulator on http://127.0.0.1:PORT/graphql\n\n"
        "  --port P              listening port (0 = ephemeral; default 0)\n"
        "  --bind ADDR           bind address (default 127.0.0.1)\n"
        "  --seed S              inventory seed (default 1)\n"
        "  --count N             stones (default 20000, up to 20000000)\n"
        "  --username U          accepted username (default NIVODA_USERNAME or \"sim\")\n"
        "  --password W          accepted password (default NIVODA_PASSWORD or \"sim\")\n"
        "  --token-ttl SECONDS   token lifetime (default 21600)\n"
        "  --threads N           HTTP worker threads (default 16; latency faults hold one)\n"
        "  --churn-percent P     apply one simulated day of churn at start\n"
        "  --format csv|jsonl    file mode: also serve GET /inventory.csv (or .jsonl), the whole\n"
        "                        inventory as a supplier file (ETag, conditional GET)\n"
        "  --share-from S:F      fraction F of the stones are the same physical stones (lab,\n"
        "                        certificate, grading) as --seed S makes, at own prices\n"
        "faults (also live via POST /admin/faults):\n"
        "  --latency-ms MS       added latency per request\n"
        "  --error-rate F        fraction answered HTTP 503\n"
        "  --rate-limit F        fraction answered 429 with Retry-After: 1\n"
        "  --short-pages [F]     fraction of full mid-stream pages cut short (bare: 0.25)\n"
        "  --duplicate-rate F    fraction of final pages carrying one stone twice\n"
        "  --malformed-rate F    fraction of items missing a required field\n"
        "  --poison-rate F       fraction of stones served with a pathological value (1e400,\n"
        "                        200-deep nesting, an exponent, a 30-digit integer)\n"
        "  --fault-price-min D   limit faults to queries overlapping this dollar band\n"
        "  --fault-price-max D\n"
        "  --truncate-rate F     file mode: fraction of downloads cut mid-row (also\n"
        "                        truncate_next, truncate_line, truncate_abort live)\n"
        "  --drip-bps B          file mode: send file bodies at B bytes per second\n"
        "  (file mode: --malformed-rate writes bad rows at fixed lines, see GET /admin/file)\n\n"
        "endpoints: POST /graphql, GET /, POST /admin/churn {\"percent\":P},\n"
        "  GET|POST /admin/faults, GET /admin/stats, GET /admin/stones?ids=a,b|offset=&limit=,\n"
        "  POST /admin/revoke-tokens, GET /admin/file (file mode)\n\n"
        "environment:\n");
    dm_config_print_help(DM_SVC_FEEDSIM, out);
}

static int bad_arg(const char *flag, const char *v)
{
    fprintf(stderr, "feed-sim: invalid value for %s: '%s'\n", flag, v ? v : "(missing)");
    return DM_EXIT_CONFIG;
}

int dm_cmd_feed_sim(int argc, char **argv)
{
    if (dm_cmd_help(argc, argv, usage))
        return DM_EXIT_OK;
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_FEEDSIM, "feed-sim", 0);
    if (rc != 0) {
        dm_app_free(&app);
        return rc;
    }
    struct dm_feedsim_opts o = {.seed = 1, .count = 20000};
    o.faults.price_min = o.faults.price_max = -1;
    o.username = app.cfg.nivoda_username ? app.cfg.nivoda_username : "sim";
    o.password = app.cfg.nivoda_password ? app.cfg.nivoda_password : "sim";
    int port = 0, threads = 16;
    const char *bind = "127.0.0.1";
    double churn = 0;
    int64_t ttl_s = 6LL * 3600;
    struct dm_feedsim *sim = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a == NULL)
            break;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t iv = 0;
        double dv = 0;
        bool ok = v != NULL;
        if (!strcmp(a, "--port")) {
            ok = ok && dm_parse_int(v, 0, 65535, &port) == DM_OK;
        } else if (!strcmp(a, "--bind")) {
            bind = v;
        } else if (!strcmp(a, "--seed")) {
            ok = ok && dm_parse_i64(v, 0, INT64_MAX, &iv) == DM_OK;
            o.seed = (uint64_t)iv;
        } else if (!strcmp(a, "--count")) {
            ok = ok && dm_parse_i64(v, 0, 20000000, &iv) == DM_OK;
            o.count = (uint32_t)iv;
        } else if (!strcmp(a, "--username")) {
            o.username = v;
        } else if (!strcmp(a, "--password")) {
            o.password = v;
        } else if (!strcmp(a, "--token-ttl")) {
            ok = ok && dm_parse_i64(v, 1, 30LL * 86400, &ttl_s) == DM_OK;
        } else if (!strcmp(a, "--threads")) {
            ok = ok && dm_parse_int(v, 1, 1024, &threads) == DM_OK;
        } else if (!strcmp(a, "--churn-percent")) {
            ok = ok && dm_parse_double(v, 0, 100, &churn) == DM_OK;
        } else if (!strcmp(a, "--latency-ms")) {
            ok = ok && dm_parse_i64(v, 0, 600000, &o.faults.latency_ms) == DM_OK;
        } else if (!strcmp(a, "--error-rate")) {
            ok = ok && dm_parse_double(v, 0, 1, &o.faults.error_rate) == DM_OK;
        } else if (!strcmp(a, "--rate-limit")) {
            ok = ok && dm_parse_double(v, 0, 1, &o.faults.rate_limit) == DM_OK;
        } else if (!strcmp(a, "--short-pages")) {
            if (v == NULL || !strncmp(v, "--", 2)) {
                o.faults.short_pages = 0.25; /* bare flag: a quarter of eligible pages */
                continue;
            }
            ok = dm_parse_double(v, 0, 1, &o.faults.short_pages) == DM_OK;
        } else if (!strcmp(a, "--duplicate-rate")) {
            ok = ok && dm_parse_double(v, 0, 1, &o.faults.duplicate_rate) == DM_OK;
        } else if (!strcmp(a, "--malformed-rate")) {
            ok = ok && dm_parse_double(v, 0, 1, &o.faults.malformed_rate) == DM_OK;
        } else if (!strcmp(a, "--poison-rate")) {
            ok = ok && dm_parse_double(v, 0, 1, &o.faults.poison_rate) == DM_OK;
        } else if (!strcmp(a, "--format")) {
            enum dm_feedfile_format ff = DM_FEEDFILE_NONE;
            ok = ok && dm_feedfile_parse_format(v, &ff) == DM_OK;
            o.format = (int)ff;
        } else if (!strcmp(a, "--share-from")) {
            const char *colon = v ? strchr(v, ':') : NULL;
            char seed[32];
            ok = ok && colon != NULL && (size_t)(colon - v) < sizeof(seed);
            if (ok) {
                memcpy(seed, v, (size_t)(colon - v));
                seed[colon - v] = '\0';
                ok = dm_parse_i64(seed, 0, INT64_MAX, &iv) == DM_OK &&
                     dm_parse_double(colon + 1, 0, 1, &o.share.fraction) == DM_OK;
                o.share.seed = (uint64_t)iv;
            }
        } else if (!strcmp(a, "--truncate-rate")) {
            ok = ok && dm_parse_double(v, 0, 1, &o.faults.truncate_rate) == DM_OK;
        } else if (!strcmp(a, "--drip-bps")) {
            ok = ok && dm_parse_i64(v, 0, INT64_MAX / 2, &o.faults.drip_bps) == DM_OK;
        } else if (!strcmp(a, "--fault-price-min")) {
            ok = ok && dm_parse_double(v, 0, 1e15, &dv) == DM_OK;
            o.faults.price_min = (int64_t)dv;
        } else if (!strcmp(a, "--fault-price-max")) {
            ok = ok && dm_parse_double(v, 0, 1e15, &dv) == DM_OK;
            o.faults.price_max = (int64_t)dv;
        } else {
            fprintf(stderr, "feed-sim: unknown option '%s' (see --help)\n", a);
            rc = DM_EXIT_CONFIG;
            goto out;
        }
        if (!ok) {
            rc = bad_arg(a, v);
            goto out;
        }
        i++;
    }
    if (o.share.fraction > 0 && o.share.seed == o.seed) {
        fprintf(stderr, "feed-sim: --share-from needs another seed than --seed (a supplier does "
                        "not list one stone twice)\n");
        rc = DM_EXIT_CONFIG;
        goto out;
    }
    o.token_ttl_ms = ttl_s * 1000;
    /* Large match lists and bodies go straight to mmap and back: glibc's adaptive threshold
     * would otherwise park them in per-thread arenas and hold hundreds of MB under load. */
    mallopt(M_MMAP_THRESHOLD, 512 * 1024);
    int64_t t0 = dm_mono_ms();
    sim = dm_feedsim_new(&o);
    dm_info(NULL, "feed-sim generated %u stones from seed %llu in %lld ms", o.count,
            (unsigned long long)o.seed, (long long)(dm_mono_ms() - t0));
    if (churn > 0) { /* before listening: no client ever sees the day before */
        struct dm_inv_churn_result c;
        dm_feedsim_churn(sim, churn, &c);
    }
    struct dm_error err = {0};
    if (dm_feedsim_listen(sim, bind, port, threads, &err) != DM_OK) {
        dm_error(NULL, "feed-sim: %s", err.message);
        fprintf(stderr, "feed-sim: %s\n", err.message);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    char url[128];
    snprintf(url, sizeof(url), "http://%s:%d%s", bind, dm_feedsim_port(sim),
             o.format ? dm_feedfile_path((enum dm_feedfile_format)o.format) : "/graphql");
    dm_info(NULL, "feed-sim listening on %s (%u stones, seed %llu)", url, o.count,
            (unsigned long long)o.seed);
    printf("feed-sim listening on %s\n", url);
    fflush(stdout);
    while (!dm_stop_requested())
        dm_sleep_ms(200, (volatile int *)&dm_stop_flag);
    dm_info(NULL, "feed-sim stopping");
    rc = DM_EXIT_OK;
out:
    dm_feedsim_free(sim);
    dm_app_free(&app);
    return rc;
}
