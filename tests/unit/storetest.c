/*
 * storetest.c -- helpers shared by the store suites (storetest.h).
 */
#include "storetest.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cf_test_store_tmpdir(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "/tmp/coffer-%s-XXXXXX", tag);
    return mkdtemp(dir) == NULL ? -1 : 0;
}

/* Remove path: a file, or a directory and everything under it. */
static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (d == NULL) {
        unlink(path);
        return;
    }
    for (;;) {
        char sub[1024];
        de = readdir(d);
        if (de == NULL)
            break;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        rm_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

void cf_test_store_close_rm(struct cf_store *s, const char *dir)
{
    cf_store_close(s);
    rm_tree(dir);
}

struct cf_store_stats cf_test_store_stats(struct cf_store *s)
{
    struct cf_store_stats st;

    cf_store_get_stats(s, &st);
    return st;
}
