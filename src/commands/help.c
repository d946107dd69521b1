/* help.c - argument helpers shared by the subcommands (see commands.h). */
#include <string.h>

#include "commands/commands.h"

bool dm_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    return false;
}
