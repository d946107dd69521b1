/* db.c - `diamond db start|stop|status|url [--dir DIR] [--port P] [--fast]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/pgcluster.h"
#include "commands/commands.h"
#include "core/log.h"
#include "core/num.h"

static void help(FILE *out)
{
    fprintf(out, "usage: diamond db start|stop|status|url [--dir DIR] [--port PORT] [--fast]\n\n"
                 "Runs a private PostgreSQL cluster for the embedded default (demo, development).\n"
                 "  start    initdb on first use, start the server, create database 'diamond'\n"
                 "  stop     stop the server\n"
                 "  status   print running/stopped (exit 0 when running, 3 when stopped)\n"
                 "  url      print the DATABASE_URL of the cluster\n"
                 "  --dir    cluster directory (default $DIAMOND_DB_DIR or ./var/pg)\n"
                 "  --port   TCP port on 127.0.0.1 (default $DIAMOND_DB_PORT or 54329)\n"
                 "  --fast   fsync off (tests and benchmarks only)\n");
}

int dm_cmd_db(int argc, char **argv)
{
    if (dm_wants_help(argc, argv) || argc < 2) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? DM_EXIT_CONFIG : DM_EXIT_OK;
    }
    dm_log_init("db", DM_LOG_WARN);
    struct dm_pgcluster_opts o = {
        .dir = getenv("DIAMOND_DB_DIR"), .port = 54329, .dbname = "diamond"};
    if (o.dir == NULL || o.dir[0] == '\0')
        o.dir = "./var/pg";
    const char *envport = getenv("DIAMOND_DB_PORT");
    if (envport && dm_parse_int(envport, 1, 65535, &o.port) != DM_OK) {
        fprintf(stderr, "config: DIAMOND_DB_PORT=\"%s\" must be a port number\n", envport);
        return DM_EXIT_CONFIG;
    }
    const char *verb = argv[1];
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            o.dir = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            if (dm_parse_int(argv[++i], 1, 65535, &o.port) != DM_OK) {
                fprintf(stderr, "db: --port must be a port number\n");
                return DM_EXIT_CONFIG;
            }
        } else if (!strcmp(argv[i], "--fast")) {
            o.fast = true;
        } else {
            fprintf(stderr, "db: unknown option '%s'\n", argv[i]);
            return DM_EXIT_CONFIG;
        }
    }
    struct dm_error err = {0};
    if (!strcmp(verb, "start")) {
        if (dm_pgcluster_start(&o, &err) != DM_OK) {
            fprintf(stderr, "db start: %s\n", err.message);
            return DM_EXIT_FAIL;
        }
        char *url = dm_pgcluster_url(&o);
        printf("%s\n", url);
        free(url);
        return DM_EXIT_OK;
    }
    if (!strcmp(verb, "stop")) {
        if (dm_pgcluster_stop(&o, &err) != DM_OK) {
            fprintf(stderr, "db stop: %s\n", err.message);
            return DM_EXIT_FAIL;
        }
        return DM_EXIT_OK;
    }
    if (!strcmp(verb, "status")) {
        bool up = dm_pgcluster_running(&o);
        printf("%s\n", up ? "running" : "stopped");
        return up ? DM_EXIT_OK : 3;
    }
    if (!strcmp(verb, "url")) {
        char *url = dm_pgcluster_url(&o);
        printf("%s\n", url);
        free(url);
        return DM_EXIT_OK;
    }
    return dm_cmd_misuse(help, "db: unknown action '%s'", verb);
}
