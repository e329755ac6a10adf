/*
 * dbtest.c -- test databases on SQLite or PostgreSQL (dbtest.h).
 */
#include "dbtest.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"

/* Databases one suite process creates, at most (a case makes a few). */
#define DBTEST_MAX 256

static char made[DBTEST_MAX][64];
static unsigned nmade, seq;

static const char *pg_base(void)
{
    const char *v = getenv("COFFER_TEST_PG");

    return v != NULL && v[0] != '\0' ? v : NULL;
}

bool cf_test_db_pg(void)
{
    return pg_base() != NULL;
}

/* Run sql (CREATE/DROP DATABASE) on the maintenance database. */
static int admin(const char *sql)
{
    char uri[CF_DB_URI_MAX + 1], err[CF_ERR_LEN] = "";
    struct cf_db *db = NULL;
    int rc;

    (void)snprintf(uri, sizeof(uri), "postgres:%s dbname=postgres", pg_base());
    rc = cf_db_open(uri, &db, err);
    if (rc == 0)
        rc = cf_db_exec(db, sql, err);
    if (rc != 0)
        fprintf(stderr, "dbtest: %s: %s\n", sql, err);
    cf_db_close(db);
    return rc == 0 ? 0 : -1;
}

int cf_test_db_new(const char *dir, const char *tag, char *uri, size_t cap)
{
    char sql[128];
    int n;

    if (!cf_test_db_pg()) {
        n = snprintf(uri, cap, "sqlite:%s/%s.db", dir, tag);
        return n > 0 && (size_t)n < cap ? 0 : -1;
    }
    if (nmade == DBTEST_MAX)
        return -1;
    (void)snprintf(made[nmade], sizeof(made[nmade]), "coffer_t%ld_%u_%.20s", (long)getpid(), seq++,
                   tag);
    (void)snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", made[nmade]);
    if (admin(sql) != 0)
        return -1;
    n = snprintf(uri, cap, "postgres:%s dbname=%s", pg_base(), made[nmade]);
    nmade++;
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

void cf_test_db_drop_all(void)
{
    char sql[128];

    for (unsigned i = 0; i < nmade; i++) {
        (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", made[i]);
        (void)admin(sql);
    }
    nmade = 0;
}

void cf_test_rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    for (;;) {
        e = readdir(d);
        if (e == NULL)
            break;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (e->d_type == DT_DIR) {
            char sub[512];
            (void)snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
            cf_test_rm_tree(sub);
        } else {
            (void)unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    closedir(d);
    (void)rmdir(dir);
}
