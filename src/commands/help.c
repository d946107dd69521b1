/* help.c - argument and exit-status helpers shared by the subcommands (see commands.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands/commands.h"

bool dm_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    return false;
}

bool dm_cmd_help(int argc, char **argv, void (*usage)(FILE *out))
{
    if (!dm_wants_help(argc, argv))
        return false;
    usage(stdout);
    return true;
}

int dm_cmd_misuse(void (*usage)(FILE *out), const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage(stderr);
    return DM_EXIT_CONFIG;
}

int dm_cmd_no_args(int argc, char **argv, void (*usage)(FILE *out))
{
    if (dm_cmd_help(argc, argv, usage))
        return DM_EXIT_OK;
    if (argc > 1)
        return dm_cmd_misuse(usage, "%s: unexpected argument '%s'", argv[0], argv[1]);
    return -1;
}

int dm_cmd_served(const char *name, enum dm_err e, const struct dm_error *err)
{
    if (e == DM_OK)
        return DM_EXIT_OK;
    fprintf(stderr, "%s: %s\n", name, err->message);
    return e == DM_ERR_INVALID ? DM_EXIT_CONFIG : DM_EXIT_FAIL;
}
