/*
 * commands.h - the subcommands of the `diamond` binary, the top layer: each parses its
 * arguments, starts the application (app/app.h), calls services and adapters as libraries,
 * prints, and returns the process exit status. Only src/main.c includes this header.
 * Each subcommand is `int dm_cmd_<name>(int argc, char **argv)` returning the exit status;
 * argv[0] is the subcommand name. Every subcommand answers --help.
 */
#ifndef DM_COMMANDS_H
#define DM_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

#include "app/app.h"

/* True when argv contains -h or --help. */
bool dm_wants_help(int argc, char **argv);

/* Subcommands (one file each in src/commands/). */
int dm_cmd_api(int argc, char **argv);
int dm_cmd_worker(int argc, char **argv);
int dm_cmd_consolidator(int argc, char **argv);
int dm_cmd_scheduler(int argc, char **argv);
int dm_cmd_dashboard(int argc, char **argv);
int dm_cmd_feed_sim(int argc, char **argv);
int dm_cmd_demo(int argc, char **argv);
int dm_cmd_migrate(int argc, char **argv);
int dm_cmd_db(int argc, char **argv);
int dm_cmd_apikey(int argc, char **argv);
int dm_cmd_queue(int argc, char **argv);
int dm_cmd_retry(int argc, char **argv);
int dm_cmd_run(int argc, char **argv);
int dm_cmd_consolidate(int argc, char **argv);
int dm_cmd_reprice(int argc, char **argv);
int dm_cmd_status(int argc, char **argv);
int dm_cmd_check(int argc, char **argv);

#endif
