/*
 * main.c -- `coffer COMMAND ...` dispatch.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "coffer/app.h"
#include "coffer/cli.h"
#include "coffer/common.h"
#include "coffer/filer.h"
#include "coffer/gateway.h"
#include "coffer/monitor.h"
#include "coffer/objsrv.h"
#include "coffer/server.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"server", cf_server_main, "run everything on this machine (filers, app, objsrv)"},
    {"login", cf_cli_login, "log in to the gateway; keeps the token for the path commands"},
    {"ls", cf_cli_ls, "list a folder: coffer ls [/PATH]"},
    {"put", cf_cli_put, "upload: put FILE /PATH, or put FILE (prints the object's UUID)"},
    {"get", cf_cli_get, "download: get /PATH, or get UUID [-o FILE]"},
    {"rm", cf_cli_rm, "move a file or folder to the trash"},
    {"mv", cf_cli_mv, "move or rename: mv /FROM /TO"},
    {"cp", cf_cli_cp, "copy a file: cp /FROM /TO"},
    {"mkdir", cf_cli_mkdir, "make a folder"},
    {"trash", cf_cli_trash, "list the trash, or empty it (--empty)"},
    {"restore", cf_cli_restore, "put a trash entry back: restore ID [--to /PATH]"},
    {"versions", cf_cli_versions, "list a file's versions, or --restore ID"},
    {"sync", cf_cli_sync, "keep a local folder and a remote one in step: sync DIR /PATH [--watch]"},
    {"stat", cf_cli_stat, "show an object's record"},
    {"admin", cf_cli_admin,
     "filer add|list|maintenance, filers, log, shard add|list, purge, client add, user add, "
     "group add|member, perm set"},
    {"filer", cf_filer_main, "run a storage node"},
    {"app", cf_app_main, "run the upload service and object database"},
    {"objsrv", cf_objsrv_main, "run the download service"},
    {"gateway", cf_gateway_main, "run the client API (users, folders, files, trash)"},
    {"monitor", cf_monitor_main, "run filer tracking, the filer summary table and the event log"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: coffer <command> [options]   (coffer <command> --help for each)\n\n"
               "Commands:\n");
    for (size_t i = 0; i < CF_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  %-9s %s\n\ncoffer is a replicated object store; see README.md.\n", "version",
            "print the version");
}

int main(int argc, char **argv)
{
    /* Whatever coffer creates (objects, databases, keys, tokens, downloads)
     * is its owner's only; the modules also set explicit modes. */
    umask(077);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("coffer %s\n", CF_VERSION);
        return 0;
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(commands); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "coffer: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
