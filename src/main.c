/* main.c - the `diamond` binary: dispatches to a subcommand, nothing else. */
#include <stdio.h>
#include <string.h>

#include "commands/commands.h"
#include "core/failpoint.h"

struct cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct cmd commands[] = {
    {"api", dm_cmd_api, "serve the REST API (PORT, default 3000)"},
    {"worker", dm_cmd_worker, "fetch work items from the feed into raw_diamonds_nivoda"},
    {"consolidator", dm_cmd_consolidator, "turn raw rows into priced diamonds; track runs"},
    {"scheduler", dm_cmd_scheduler, "plan a run (--full|--incremental), or resident with --cron"},
    {"dashboard", dm_cmd_dashboard, "serve the operator dashboard and proxy to API_URL"},
    {"feed-sim", dm_cmd_feed_sim, "Nivoda-compatible GraphQL feed simulator"},
    {"demo", dm_cmd_demo, "run the whole pipeline locally end to end"},
    {"migrate", dm_cmd_migrate, "apply database migrations (--status to list)"},
    {"db", dm_cmd_db, "private local PostgreSQL: start|stop|status|url"},
    {"apikey", dm_cmd_apikey, "API keys: create|list|revoke"},
    {"queue", dm_cmd_queue, "queues: stats|dlq|resubmit"},
    {"retry", dm_cmd_retry, "retry failed partitions of a run: RUN [PARTITION]"},
    {"run", dm_cmd_run, "runs: cancel RUN"},
    {"consolidate", dm_cmd_consolidate, "request consolidation of a run: RUN [--force]"},
    {"reprice", dm_cmd_reprice, "re-apply pricing rules to every active diamond"},
    {"status", dm_cmd_status, "pipeline state: runs, partitions, queues, watermark"},
    {"check", dm_cmd_check, "evaluate monitoring thresholds; non-zero exit on breach"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: diamond <command> [options]   (diamond <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (dm_failpoints_init() != DM_OK) /* fault injection (tests only): a bad spec is fatal */
        return 2;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "diamond: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
