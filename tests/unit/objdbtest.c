/*
 * objdbtest.c -- the object database suites' fixture (objdbtest.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/common.h"
#include "coffer/err.h"
#include "objdbtest.h"
#include "dbtest.h"

void open_odb(struct fixture *fx)
{
    char err[CF_ERR_LEN] = "";

    if (cf_objdb_open(fx->catalog, 2, &fx->odb, err) != 0)
        fail_msg("open %s: %s", fx->catalog, err);
}

int objdbtest_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/coffer-objdbtest-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    if (cf_test_db_new(fx->dir, "catalog", fx->catalog, sizeof(fx->catalog)) != 0)
        return -1;
    open_odb(fx);
    *state = fx;
    return 0;
}

int objdbtest_teardown(void **state)
{
    struct fixture *fx = *state;

    cf_objdb_close(fx->odb);
    cf_test_rm_tree(fx->dir);
    cf_test_db_drop_all();
    free(fx);
    return 0;
}

uint16_t add_shard(struct fixture *fx, uint16_t id, const char *location)
{
    uint16_t got = 0;
    char err[CF_ERR_LEN] = "", loc[CF_DB_URI_MAX + 1];

    /* A NULL location (a file next to the catalog) is SQLite-only. */
    if (location == NULL && cf_test_db_pg()) {
        if (cf_test_db_new(fx->dir, "shard", loc, sizeof(loc)) != 0)
            fail_msg("no database for shard %u", (unsigned)id);
        location = loc;
    }
    if (cf_objdb_shard_add(fx->odb, id, location, &got, err) != 0)
        fail_msg("shard_add %u: %s", (unsigned)id, err);
    return got;
}

/* A record for u on the given filers, with bytes derived from the UUID. */
void make_record(struct cf_objdb_record *r, const struct cf_uuid *u, const uint32_t *filers,
                 unsigned n)
{
    memset(r, 0, sizeof(*r));
    r->uuid = *u;
    cf_uuid_filer_path(u, r->path);
    r->size = u->oid * 1000 + u->shard;
    for (size_t i = 0; i < sizeof(r->sha512); i++)
        r->sha512[i] = (uint8_t)(u->rnd >> (8 * (i % 8))) ^ (uint8_t)i;
    r->replicas = n;
    r->nfilers = n;
    memcpy(r->filers, filers, n * sizeof(*filers));
}

/* Reserve in shard (0: any writable) and commit on the given filers. */
struct cf_uuid put(struct fixture *fx, uint16_t shard, const uint32_t *filers, unsigned n)
{
    struct cf_objdb_record r;
    struct cf_uuid u;
    char err[CF_ERR_LEN] = "";

    if (cf_objdb_reserve(fx->odb, shard, &u, err) != 0)
        fail_msg("reserve: %s", err);
    make_record(&r, &u, filers, n);
    if (cf_objdb_commit(fx->odb, &r, err) != 0)
        fail_msg("commit: %s", err);
    return u;
}

void assert_same_uuid(const struct cf_uuid *a, const struct cf_uuid *b)
{
    assert_int_equal(a->shard, b->shard);
    assert_true(a->oid == b->oid);
    assert_true(a->rnd == b->rnd);
}
