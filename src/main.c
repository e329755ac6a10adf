/*
 * main.c -- `coffer ROLE ...` dispatch.
 */
#include <stdio.h>
#include <string.h>

#include "coffer/common.h"
#include "coffer/filer.h"

static const char usage[] = "usage: coffer <command> [options]\n"
                            "\n"
                            "Commands:\n"
                            "  filer     run a storage node (coffer filer --help)\n"
                            "  version   print the version\n"
                            "\n"
                            "coffer is a replicated object store; see README.md.\n";

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("coffer %s\n", CF_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "filer"))
        return cf_filer_main(argc - 2, argv + 2);
    fprintf(stderr, "coffer: unknown command \"%s\"\n\n%s", argv[1], usage);
    return 2;
}
