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

/* With -h or --help in argv: usage(stdout) and true (the command then exits DM_EXIT_OK). */
bool dm_cmd_help(int argc, char **argv, void (*usage)(FILE *out));

/* For a subcommand that takes no arguments: with -h/--help, usage(stdout) and DM_EXIT_OK; with
 * any other argument, "<argv[0]>: unexpected argument '...'" and usage(stderr) on stderr and
 * DM_EXIT_CONFIG; -1 when there is no argument (the command goes on). */
int dm_cmd_no_args(int argc, char **argv, void (*usage)(FILE *out));

/* A mistake on the command line: the message (fmt, printf-style; a newline is added) and then
 * usage(stderr), on stderr. Returns DM_EXIT_CONFIG. */
int dm_cmd_misuse(void (*usage)(FILE *out), const char *fmt, ...) DM_PRINTF(2, 3);

/* The exit status of a service that ran until it stopped with e: DM_EXIT_OK for DM_OK; otherwise
 * prints "<name>: <err's message>" on stderr and returns DM_EXIT_CONFIG for DM_ERR_INVALID (a
 * configuration problem found at start-up), DM_EXIT_FAIL for anything else. */
int dm_cmd_served(const char *name, enum dm_err e, const struct dm_error *err);

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
