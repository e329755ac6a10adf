/*
 * test_objdb.c -- the sharded object database (objdb.h) on real SQLite files
 * in a temporary directory (no mocks, STYLE 2.8).
 *
 * Covers: catalog and shard creation (auto and explicit ids and locations,
 * refusal of wrong files), records in two shards found by UUID, every way a
 * UUID can miss (unknown shard, unknown id, wrong random part, uncommitted,
 * deleted, moved), commit validation leaving nothing behind, the per-filer
 * listing against a reference model at several page sizes, shard flags and
 * writable-shard choice, full shards (max objects), ids never reused across a reopen, concurrent
 * uploads through the pools, the filer summary table, the instance
 * registry and the change feed (registry.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/registry.h"
#include "coffer/uuid.h"

#include "dbtest.h"

struct fixture {
    char dir[64];
    char catalog[CF_DB_URI_MAX + 1];
    struct cf_objdb *odb;
};

static void open_odb(struct fixture *fx)
{
    char err[CF_ERR_LEN] = "";

    if (cf_objdb_open(fx->catalog, 2, &fx->odb, err) != 0)
        fail_msg("open %s: %s", fx->catalog, err);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/coffer-objdb-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    if (cf_test_db_new(fx->dir, "catalog", fx->catalog, sizeof(fx->catalog)) != 0)
        return -1;
    open_odb(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    cf_objdb_close(fx->odb);
    cf_test_rm_tree(fx->dir);
    cf_test_db_drop_all();
    free(fx);
    return 0;
}

/* A location for a new shard: NULL (a file next to the catalog) on SQLite,
 * a new database on PostgreSQL, where NULL is not accepted (objdb.h). The
 * result is valid until the next call. */
static const char *shard_loc(struct fixture *fx)
{
    static char loc[CF_DB_URI_MAX + 1];

    if (!cf_test_db_pg())
        return NULL;
    if (cf_test_db_new(fx->dir, "shard", loc, sizeof(loc)) != 0)
        fail_msg("no database for a shard");
    return loc;
}

static uint16_t add_shard(struct fixture *fx, uint16_t id, const char *location)
{
    uint16_t got = 0;
    char err[CF_ERR_LEN] = "";

    if (location == NULL)
        location = shard_loc(fx);
    if (cf_objdb_shard_add(fx->odb, id, location, &got, err) != 0)
        fail_msg("shard_add %u: %s", (unsigned)id, err);
    return got;
}

/* A record for u on the given filers, with bytes derived from the UUID. */
static void make_record(struct cf_objdb_record *r, const struct cf_uuid *u, const uint32_t *filers,
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
static struct cf_uuid put(struct fixture *fx, uint16_t shard, const uint32_t *filers, unsigned n)
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

static void assert_same_uuid(const struct cf_uuid *a, const struct cf_uuid *b)
{
    assert_int_equal(a->shard, b->shard);
    assert_true(a->oid == b->oid);
    assert_true(a->rnd == b->rnd);
}

/* ---- catalog and shards -------------------------------------------------- */

/* The same checks with PostgreSQL databases as locations: no NULL or
 * relative locations there (objdb.h). */
static void shards_add_and_reopen_pg(struct fixture *fx)
{
    struct cf_objdb_shard *v = NULL;
    struct cf_objdb *bad = NULL;
    size_t n = 0;
    uint16_t id = 0;
    char err[CF_ERR_LEN] = "", loc1[CF_DB_URI_MAX + 1], loc8[CF_DB_URI_MAX + 1];

    (void)snprintf(loc1, sizeof(loc1), "%s", shard_loc(fx));
    assert_int_equal(add_shard(fx, 0, loc1), 1);
    assert_int_equal(add_shard(fx, 7, NULL), 7);
    (void)snprintf(loc8, sizeof(loc8), "%s", shard_loc(fx));
    assert_int_equal(add_shard(fx, 0, loc8), 8);

    assert_int_equal(cf_objdb_shard_add(fx->odb, 9, NULL, &id, err), CF_EINVAL);
    assert_int_equal(cf_objdb_shard_add(fx->odb, 7, shard_loc(fx), &id, err), CF_EEXIST);
    assert_int_equal(cf_objdb_shard_add(fx->odb, 9, loc8, &id, err), CF_EINVAL);
    assert_non_null(strstr(err, "holds shard 8"));
    assert_int_equal(cf_objdb_shard_add(fx->odb, 9, fx->catalog, &id, err), CF_EINVAL);
    assert_non_null(strstr(err, "is a coffer catalog"));

    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].location, loc1);
    assert_int_equal(v[2].id, 8);
    assert_true(v[2].created_ms > 0 && !v[2].read_only && !v[2].obsolete);
    free(v);

    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    open_odb(fx);
    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 3);
    free(v);

    assert_int_equal(cf_objdb_open(loc1, 1, &bad, err), CF_EINVAL);
    assert_null(bad);
    assert_non_null(strstr(err, "is a coffer shard, not a catalog"));
}

static void test_shards_add_and_reopen(void **state)
{
    struct fixture *fx = *state;
    struct cf_objdb_shard *v = NULL;
    size_t n = 0;
    uint16_t id = 0;
    char err[CF_ERR_LEN] = "", loc[160], path[160];

    if (cf_test_db_pg()) {
        shards_add_and_reopen_pg(fx);
        return;
    }
    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 0);
    assert_null(v);

    assert_int_equal(add_shard(fx, 0, NULL), 1);
    (void)snprintf(loc, sizeof(loc), "sqlite:%s/explicit.db", fx->dir);
    assert_int_equal(add_shard(fx, 7, loc), 7);
    assert_int_equal(add_shard(fx, 0, "sqlite:relative.db"), 8);

    /* Relative locations live next to the catalog. */
    (void)snprintf(path, sizeof(path), "%s/shard-0001.db", fx->dir);
    assert_int_equal(access(path, F_OK), 0);
    (void)snprintf(path, sizeof(path), "%s/relative.db", fx->dir);
    assert_int_equal(access(path, F_OK), 0);

    /* Same id, same location, a file holding another shard, the catalog itself. */
    assert_int_equal(cf_objdb_shard_add(fx->odb, 7, NULL, &id, err), CF_EEXIST);
    assert_int_equal(cf_objdb_shard_add(fx->odb, 9, "sqlite:relative.db", &id, err), CF_EINVAL);
    assert_non_null(strstr(err, "holds shard 8"));
    assert_int_equal(cf_objdb_shard_add(fx->odb, 9, "sqlite:catalog.db", &id, err), CF_EINVAL);
    assert_non_null(strstr(err, "is a coffer catalog"));
    assert_int_equal(cf_objdb_shard_add(fx->odb, 9, "nosuch:x", &id, err), CF_EINVAL);

    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, 1);
    assert_string_equal(v[0].location, "sqlite:shard-0001.db");
    assert_int_equal(v[1].id, 7);
    assert_string_equal(v[1].location, loc);
    assert_int_equal(v[2].id, 8);
    assert_true(v[2].created_ms > 0 && !v[2].read_only && !v[2].obsolete);
    free(v);

    /* Reopen: the catalog brings every shard back. */
    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    open_odb(fx);
    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 3);
    assert_int_equal(v[2].id, 8);
    free(v);

    /* A shard file opened as the catalog is refused. */
    {
        struct cf_objdb *bad = NULL;
        char uri[160];

        (void)snprintf(uri, sizeof(uri), "sqlite:%s/shard-0001.db", fx->dir);
        assert_int_equal(cf_objdb_open(uri, 1, &bad, err), CF_EINVAL);
        assert_null(bad);
        assert_non_null(strstr(err, "is a coffer shard, not a catalog"));
    }
}

/* ---- records --------------------------------------------------------------- */

static void test_records_in_two_shards(void **state)
{
    static const uint32_t fa[] = {3, 1}, fb[] = {2, 5, 4};
    struct fixture *fx = *state;
    struct cf_objdb_record want, got;
    struct cf_uuid u1, u2;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    add_shard(fx, 2, NULL);
    u1 = put(fx, 1, fa, 2);
    u2 = put(fx, 2, fb, 3);
    assert_int_equal(u1.shard, 1);
    assert_int_equal(u2.shard, 2);

    assert_int_equal(cf_objdb_get(fx->odb, &u1, 0, &got, err), 0);
    make_record(&want, &u1, fa, 2);
    assert_same_uuid(&got.uuid, &u1);
    assert_string_equal(got.path, want.path);
    assert_true(got.size == want.size);
    assert_memory_equal(got.sha512, want.sha512, sizeof(got.sha512));
    assert_int_equal(got.replicas, 2);
    assert_int_equal(got.nfilers, 2);
    assert_int_equal(got.filers[0], 1); /* ascending */
    assert_int_equal(got.filers[1], 3);
    assert_int_equal(got.key_len, 0);
    assert_false(got.deleted);
    assert_true(got.deleted_ms == 0);
    assert_true(got.created_ms > 0);

    assert_int_equal(cf_objdb_get(fx->odb, &u2, 0, &got, err), 0);
    assert_int_equal(got.nfilers, 3);
    assert_int_equal(got.filers[0], 2);
    assert_int_equal(got.filers[1], 4);
    assert_int_equal(got.filers[2], 5);

    /* An encryption key round-trips. */
    {
        struct cf_objdb_record r;
        struct cf_uuid u;

        assert_int_equal(cf_objdb_reserve(fx->odb, 1, &u, NULL), 0);
        make_record(&r, &u, fa, 2);
        r.key_len = CF_OBJDB_KEY_MAX;
        memset(r.key, 0xab, sizeof(r.key));
        assert_int_equal(cf_objdb_commit(fx->odb, &r, NULL), 0);
        assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &got, NULL), 0);
        assert_int_equal(got.key_len, CF_OBJDB_KEY_MAX);
        assert_memory_equal(got.key, r.key, CF_OBJDB_KEY_MAX);
    }
}

static void test_lookup_misses(void **state)
{
    static const uint32_t f[] = {1, 2};
    struct fixture *fx = *state;
    struct cf_objdb_record got;
    struct cf_uuid u, x;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    u = put(fx, 1, f, 2);

    x = u;
    x.shard = 99; /* unknown shard */
    assert_int_equal(cf_objdb_get(fx->odb, &x, 0, &got, err), CF_ENOTFOUND);
    assert_non_null(strstr(err, "no shard 99"));
    x = u;
    x.rnd ^= 1; /* right id, wrong random part: as if it did not exist */
    assert_int_equal(cf_objdb_get(fx->odb, &x, 0, &got, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_get(fx->odb, &x, CF_OBJDB_GET_DELETED, &got, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &x, true, err), CF_ENOTFOUND);
    x = u;
    x.oid += 1; /* the next id, never committed */
    assert_int_equal(cf_objdb_get(fx->odb, &x, 0, &got, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &got, err), 0);
}

static void test_uncommitted_invisible(void **state)
{
    static const uint32_t f[] = {1, 2};
    struct fixture *fx = *state;
    struct cf_objdb_record r, got;
    struct cf_uuid u, v;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), 0);
    assert_int_equal(u.shard, 1);
    assert_true(u.oid >= 1);
    assert_int_equal(cf_objdb_get(fx->odb, &u, CF_OBJDB_GET_DELETED, &got, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u, true, err), CF_ENOTFOUND);
    {
        struct cf_objdb_cursor cur = {0, 0, false};
        struct cf_uuid out[4];
        assert_int_equal(cf_objdb_list_by_filer(fx->odb, 1, &cur, out, 4, err), 0);
        assert_true(cur.done);
    }

    /* Failed commits write nothing: each bad field, then a UUID never reserved. */
    make_record(&r, &u, f, 2);
    r.filers[1] = 1;
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EINVAL);
    assert_non_null(strstr(err, "listed twice"));
    make_record(&r, &u, f, 2);
    r.nfilers = 0;
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EINVAL);
    make_record(&r, &u, f, 2);
    r.replicas = CF_OBJDB_REPLICAS_MAX + 1;
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EINVAL);
    make_record(&r, &u, f, 2);
    (void)snprintf(r.path, sizeof(r.path), "../etc/passwd");
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EINVAL);
    make_record(&r, &u, f, 2);
    r.key_len = CF_OBJDB_KEY_MAX + 1;
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EINVAL);
    v = u;
    v.oid = CF_UUID_OID_MAX;
    make_record(&r, &v, f, 2);
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EINVAL);
    assert_non_null(strstr(err, "never reserved"));
    assert_int_equal(cf_objdb_get(fx->odb, &v, 0, &got, err), CF_ENOTFOUND);
    v = u;
    v.shard = 42;
    make_record(&r, &v, f, 2);
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &got, err), CF_ENOTFOUND);

    make_record(&r, &u, f, 2);
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &got, err), 0);
    /* Committing the same UUID again is refused and changes nothing. */
    r.size = 1;
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EEXIST);
    assert_non_null(strstr(err, "already committed"));
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &got, err), 0);
    assert_true(got.size != 1);
}

static void test_delete_and_move(void **state)
{
    static const uint32_t f[] = {4, 6};
    struct fixture *fx = *state;
    struct cf_objdb_record got;
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_uuid u, keep, out[8];
    uint64_t first_mark;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    u = put(fx, 1, f, 2);
    keep = put(fx, 1, f, 2);

    assert_int_equal(cf_objdb_move_deleted(fx->odb, &u, err), CF_EINVAL);
    assert_non_null(strstr(err, "not marked deleted"));

    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u, true, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &got, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_get(fx->odb, &u, CF_OBJDB_GET_DELETED, &got, err), 0);
    assert_true(got.deleted && got.deleted_ms > 0);
    first_mark = got.deleted_ms;
    /* Marking again keeps the first time. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u, true, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &u, CF_OBJDB_GET_DELETED, &got, err), 0);
    assert_true(got.deleted_ms == first_mark);

    /* Undelete: visible again. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u, false, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &got, err), 0);
    assert_false(got.deleted);
    assert_true(got.deleted_ms == 0);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u, false, err), 0);

    /* Mark and move to the deleted map: gone from look-ups and listings. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u, true, err), 0);
    assert_int_equal(cf_objdb_list_by_filer(fx->odb, 4, &cur, out, 8, err), 2);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &u, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &u, CF_OBJDB_GET_DELETED, &got, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &u, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u, false, err), CF_ENOTFOUND);
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(cf_objdb_list_by_filer(fx->odb, 4, &cur, out, 8, err), 1);
    assert_same_uuid(&out[0], &keep);
    assert_int_equal(cf_objdb_get(fx->odb, &keep, 0, &got, err), 0);
}

/* ---- per-filer listing ------------------------------------------------------ */

#define LIST_OBJECTS 120
#define LIST_FILERS  6

static void test_list_by_filer(void **state)
{
    struct fixture *fx = *state;
    struct cf_uuid made[LIST_OBJECTS];
    uint32_t filers_of[LIST_OBJECTS][3];
    static const size_t pages[] = {1, 3, 7, 1000};
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 2, NULL);
    add_shard(fx, 5, NULL);
    add_shard(fx, 9, NULL); /* stays empty: the walk must cross it */
    for (int i = 0; i < LIST_OBJECTS; i++) {
        /* Three distinct filers out of 1..LIST_FILERS, varying per object. */
        uint32_t a = 1 + (uint32_t)(i % LIST_FILERS);
        uint32_t b = 1 + (uint32_t)((i / LIST_FILERS + i + 1) % LIST_FILERS);
        uint32_t c = 1 + (uint32_t)((i * 7 + 3) % LIST_FILERS);
        uint32_t f[3];
        unsigned n = 0;

        f[n++] = a;
        if (b != a)
            f[n++] = b;
        if (c != a && c != b)
            f[n++] = c;
        memset(filers_of[i], 0, sizeof(filers_of[i]));
        memcpy(filers_of[i], f, n * sizeof(f[0]));
        made[i] = put(fx, i % 3 == 0 ? 5 : 2, f, n);
    }

    for (uint32_t filer = 1; filer <= LIST_FILERS + 1; filer++) {
        /* Reference: every object holding filer, in (shard, oid) order. */
        struct cf_uuid want[LIST_OBJECTS];
        size_t nwant = 0;

        for (uint16_t shard = 1; shard <= 9; shard++)
            for (int i = 0; i < LIST_OBJECTS; i++)
                if (made[i].shard == shard &&
                    (filers_of[i][0] == filer || filers_of[i][1] == filer ||
                     filers_of[i][2] == filer))
                    want[nwant++] = made[i];

        for (size_t p = 0; p < CF_ARRAY_LEN(pages); p++) {
            struct cf_objdb_cursor cur = {0, 0, false};
            struct cf_uuid got[LIST_OBJECTS + 1];
            size_t ngot = 0;
            int n;

            for (;;) {
                size_t cap =
                    pages[p] < LIST_OBJECTS + 1 - ngot ? pages[p] : LIST_OBJECTS + 1 - ngot;
                n = cf_objdb_list_by_filer(fx->odb, filer, &cur, got + ngot, cap, err);
                assert_true(n >= 0);
                if (n == 0)
                    break;
                assert_true((size_t)n <= cap);
                ngot += (size_t)n;
            }
            assert_true(cur.done);
            /* Over: further calls return 0. */
            assert_int_equal(cf_objdb_list_by_filer(fx->odb, filer, &cur, got, 1, err), 0);
            if (ngot != nwant)
                fail_msg("filer %u page %zu: %zu objects, want %zu", filer, pages[p], ngot, nwant);
            for (size_t i = 0; i < ngot; i++)
                assert_same_uuid(&got[i], &want[i]);
        }
    }
}

/* ---- shard flags and choice --------------------------------------------------- */

static void test_shard_flags(void **state)
{
    static const uint32_t f[] = {1, 2};
    struct fixture *fx = *state;
    struct cf_objdb_record got;
    struct cf_objdb_shard *v = NULL;
    struct cf_uuid u, old;
    size_t n;
    int seen[4] = {0, 0, 0, 0};
    char err[CF_ERR_LEN] = "";

    assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), CF_EUNAVAIL);
    add_shard(fx, 1, NULL);
    add_shard(fx, 2, NULL);
    add_shard(fx, 3, NULL);

    /* Round robin reaches every writable shard evenly. */
    for (int i = 0; i < 30; i++) {
        assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), 0);
        seen[u.shard]++;
    }
    assert_int_equal(seen[1], 10);
    assert_int_equal(seen[2], 10);
    assert_int_equal(seen[3], 10);

    old = put(fx, 2, f, 2);
    assert_int_equal(cf_objdb_shard_set(fx->odb, 2, true, false, err), 0);
    assert_int_equal(cf_objdb_shard_set(fx->odb, 3, false, true, err), 0);
    assert_int_equal(cf_objdb_shard_set(fx->odb, 44, true, false, err), CF_ENOTFOUND);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), 0);
        assert_int_equal(u.shard, 1);
    }
    assert_int_equal(cf_objdb_reserve(fx->odb, 2, &u, err), CF_EREADONLY);
    assert_int_equal(cf_objdb_reserve(fx->odb, 3, &u, err), CF_EREADONLY);
    assert_int_equal(cf_objdb_reserve(fx->odb, 4, &u, err), CF_ENOTFOUND);
    /* A read-only shard still answers look-ups. */
    assert_int_equal(cf_objdb_get(fx->odb, &old, 0, &got, err), 0);

    assert_int_equal(cf_objdb_shard_set(fx->odb, 1, true, false, err), 0);
    assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), CF_EUNAVAIL);

    /* Flags are stored, not only cached. */
    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    open_odb(fx);
    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 3);
    assert_true(v[0].read_only && !v[0].obsolete);
    assert_true(v[1].read_only && !v[1].obsolete);
    assert_true(!v[2].read_only && v[2].obsolete);
    free(v);
    assert_int_equal(cf_objdb_shard_set(fx->odb, 1, false, false, err), 0);
    assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), 0);
    assert_int_equal(u.shard, 1);
}

/* A shard with a max of objects hands out ids up to it, then is full:
 * reserve passes it over for another writable shard, or answers
 * CF_EUNAVAIL naming it (CF_ENOSPC when it is named); raising the max opens
 * it again; the max is stored; a catalog made before the column gets it,
 * at 0 (no limit), when opened. */
static void test_shard_max_objects(void **state)
{
    struct fixture *fx = *state;
    struct cf_objdb_shard *v = NULL;
    struct cf_db *db = NULL;
    struct cf_uuid u;
    uint64_t used = 0;
    size_t n = 0;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    assert_int_equal(cf_objdb_shard_set_max(fx->odb, 1, 3, err), 0);
    assert_int_equal(cf_objdb_shard_set_max(fx->odb, 9, 3, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_shard_set_max(fx->odb, 1, CF_UUID_OID_MAX + 1, err), CF_EINVAL);
    for (uint64_t i = 1; i <= 3; i++) {
        assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), 0);
        assert_int_equal(u.shard, 1);
        assert_int_equal(u.oid, i);
    }
    assert_int_equal(cf_objdb_shard_used(fx->odb, 1, &used, err), 0);
    assert_int_equal(used, 3);
    assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), CF_EUNAVAIL);
    assert_non_null(strstr(err, "shard 1 is full"));
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &u, err), CF_ENOSPC);
    assert_non_null(strstr(err, "shard 1 is full"));

    /* Another writable shard takes every new object, whichever the round
     * robin picks first. */
    add_shard(fx, 2, NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), 0);
        assert_int_equal(u.shard, 2);
    }
    assert_int_equal(cf_objdb_shard_used(fx->odb, 2, &used, err), 0);
    assert_int_equal(used, 4);

    assert_int_equal(cf_objdb_shard_set_max(fx->odb, 1, 4, err), 0);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &u, err), 0);
    assert_int_equal(u.oid, 4);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &u, err), CF_ENOSPC);

    /* Stored; after a restart the rest of the old block counts as used. */
    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    open_odb(fx);
    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].max_objects, 4);
    assert_int_equal(v[1].max_objects, 0);
    free(v);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &u, err), CF_ENOSPC);
    assert_int_equal(cf_objdb_reserve(fx->odb, 0, &u, err), 0);
    assert_int_equal(u.shard, 2);

    /* An older catalog: the column is added at open. */
    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    if (cf_db_open(fx->catalog, &db, err) != 0)
        fail_msg("open %s: %s", fx->catalog, err);
    assert_int_equal(cf_db_exec(db, "ALTER TABLE shards DROP COLUMN max_objects", err), 0);
    cf_db_close(db);
    open_odb(fx);
    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].max_objects, 0);
    free(v);
    assert_int_equal(cf_objdb_shard_set_max(fx->odb, 2, 7, err), 0);
    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(v[1].max_objects, 7);
    free(v);
}

/* Object ids are never handed out twice, even across a restart. */
static void test_ids_not_reused(void **state)
{
    static const uint32_t f[] = {1, 2};
    struct fixture *fx = *state;
    struct cf_uuid a, b, c;

    add_shard(fx, 1, NULL);
    a = put(fx, 1, f, 2);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &b, NULL), 0);
    assert_true(b.oid == a.oid + 1);
    assert_true(b.rnd != a.rnd);
    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    open_odb(fx);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &c, NULL), 0);
    assert_true(c.oid > b.oid);
    assert_true(c.oid == a.oid + CF_OBJDB_ID_BLOCK);
}

/* A shard added through another handle (another process) is found: by the
 * first look-up that misses the cache, even right after another miss found
 * its shard (only a re-read that finds nothing holds the next ones off),
 * and by an explicit refresh. */
static void test_shard_added_elsewhere(void **state)
{
    static const uint32_t f[] = {1, 2};
    struct fixture *fx = *state;
    struct cf_objdb *other = NULL;
    struct cf_objdb_record r, got;
    struct cf_objdb_shard *v = NULL;
    struct cf_uuid u;
    size_t n = 0;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    assert_int_equal(cf_objdb_open(fx->catalog, 1, &other, err), 0);
    assert_int_equal(cf_objdb_shard_add(other, 2, shard_loc(fx), NULL, err), 0);
    assert_int_equal(cf_objdb_reserve(other, 2, &u, err), 0);
    make_record(&r, &u, f, 2);
    assert_int_equal(cf_objdb_commit(other, &r, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &got, err), 0);
    assert_string_equal(got.path, r.path);
    assert_int_equal(cf_objdb_shard_add(other, 3, shard_loc(fx), NULL, err), 0);
    assert_int_equal(cf_objdb_reserve(fx->odb, 3, &u, err), 0);
    assert_int_equal(u.shard, 3);

    assert_int_equal(cf_objdb_shard_add(other, 4, shard_loc(fx), NULL, err), 0);
    assert_int_equal(cf_objdb_shard_set(other, 1, true, false, err), 0);
    assert_int_equal(cf_objdb_refresh(fx->odb, err), 0);
    cf_objdb_shard_list(fx->odb, &v, &n);
    assert_int_equal(n, 4);
    assert_true(v[0].read_only);
    assert_int_equal(v[3].id, 4);
    free(v);
    cf_objdb_close(other);
}

/* ---- concurrency -------------------------------------------------------------- */

#define PUT_THREADS 4
#define PUT_EACH    100

struct putter {
    struct cf_objdb *odb;
    struct cf_uuid made[PUT_EACH];
    int failures;
};

static void *putter_main(void *arg)
{
    struct putter *p = arg;

    for (int i = 0; i < PUT_EACH; i++) {
        static const uint32_t f[] = {1, 2, 3};
        struct cf_objdb_record r;
        struct cf_uuid u;

        if (cf_objdb_reserve(p->odb, 0, &u, NULL) != 0) {
            p->failures++;
            continue;
        }
        make_record(&r, &u, f, 3);
        if (cf_objdb_commit(p->odb, &r, NULL) != 0)
            p->failures++;
        p->made[i] = u;
    }
    return NULL;
}

static void test_concurrent_puts(void **state)
{
    struct fixture *fx = *state;
    struct putter *p = calloc(PUT_THREADS, sizeof(*p));
    pthread_t th[PUT_THREADS];
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_uuid *all = calloc(PUT_THREADS * PUT_EACH + 1, sizeof(*all));
    int n, total = 0;

    assert_non_null(p);
    assert_non_null(all);
    add_shard(fx, 1, NULL);
    add_shard(fx, 2, NULL);
    for (int i = 0; i < PUT_THREADS; i++) {
        p[i].odb = fx->odb;
        assert_int_equal(pthread_create(&th[i], NULL, putter_main, &p[i]), 0);
    }
    for (int i = 0; i < PUT_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(p[i].failures, 0);
    }
    for (int i = 0; i < PUT_THREADS; i++) {
        for (int j = 0; j < PUT_EACH; j++) {
            struct cf_objdb_record got;
            assert_int_equal(cf_objdb_get(fx->odb, &p[i].made[j], 0, &got, NULL), 0);
            assert_int_equal(got.nfilers, 3);
        }
    }
    /* Every object once on filer 2's listing: no id handed out twice. */
    for (;;) {
        n = cf_objdb_list_by_filer(fx->odb, 2, &cur, all + total,
                                   (size_t)(PUT_THREADS * PUT_EACH + 1 - total), NULL);
        if (n <= 0)
            break;
        total += n;
    }
    assert_int_equal(total, PUT_THREADS * PUT_EACH);
    free(all);
    free(p);
}

/* Concurrent commits share transactions (group commit): a bad record among
 * them fails alone, with its own error, and every good one is committed. */
#define GROUP_THREADS 16
#define GROUP_ROUNDS  20

struct grouper {
    struct cf_objdb *odb;
    pthread_barrier_t *bar;
    int idx;
    struct cf_uuid dup; /* committed before: committing it again is refused */
    int bad_wrong_rc, good_failed;
    char last_err[CF_ERR_LEN];
};

static void *grouper_main(void *arg)
{
    static const uint32_t f[] = {1, 2, 3};
    struct grouper *g = arg;

    for (int i = 0; i < GROUP_ROUNDS; i++) {
        struct cf_objdb_record r;
        struct cf_uuid u;
        char err[CF_ERR_LEN] = "";
        /* Every fourth thread sends a bad record in every other round. */
        bool bad = g->idx % 4 == 0 && i % 2 == 0;
        int rc;

        /* All threads commit at once, so their commits queue together. */
        (void)pthread_barrier_wait(g->bar);
        if (bad) {
            make_record(&r, &g->dup, f, 3);
            r.size = 7;
        } else {
            if (cf_objdb_reserve(g->odb, 0, &u, err) != 0) {
                g->good_failed++;
                continue;
            }
            make_record(&r, &u, f, 3);
        }
        rc = cf_objdb_commit(g->odb, &r, err);
        if (bad && (rc != CF_EEXIST || strstr(err, "already committed") == NULL))
            g->bad_wrong_rc++;
        if (!bad && rc != 0) {
            g->good_failed++;
            (void)snprintf(g->last_err, sizeof(g->last_err), "%s", err);
        }
        if (!bad && rc == 0) {
            struct cf_objdb_record got;
            if (cf_objdb_get(g->odb, &u, 0, &got, NULL) != 0 || got.size != r.size)
                g->good_failed++;
        }
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fixture *fx = *state;
    struct grouper g[GROUP_THREADS];
    pthread_t th[GROUP_THREADS];
    pthread_barrier_t bar;

    add_shard(fx, 1, NULL);
    assert_int_equal(pthread_barrier_init(&bar, NULL, GROUP_THREADS), 0);
    for (int i = 0; i < GROUP_THREADS; i++) {
        static const uint32_t f[] = {1, 2, 3};
        memset(&g[i], 0, sizeof(g[i]));
        g[i].odb = fx->odb;
        g[i].bar = &bar;
        g[i].idx = i;
        g[i].dup = put(fx, 0, f, 3);
    }
    for (int i = 0; i < GROUP_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, grouper_main, &g[i]), 0);
    for (int i = 0; i < GROUP_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < GROUP_THREADS; i++) {
        struct cf_objdb_record got;
        if (g[i].good_failed != 0)
            fail_msg("thread %d: %d good commits failed (%s)", i, g[i].good_failed, g[i].last_err);
        assert_int_equal(g[i].bad_wrong_rc, 0);
        /* The refused duplicates changed nothing. */
        assert_int_equal(cf_objdb_get(fx->odb, &g[i].dup, 0, &got, NULL), 0);
        assert_true(got.size != 7);
    }
    assert_int_equal(pthread_barrier_destroy(&bar), 0);
}

/* ---- filer summary table ----------------------------------------------------- */

static void test_filers_table(void **state)
{
    struct fixture *fx = *state;
    struct cf_objdb_filer f, got, *v = NULL;
    size_t n = 99;
    char err[CF_ERR_LEN] = "";

    assert_int_equal(cf_objdb_filer_list(fx->odb, &v, &n, err), 0);
    assert_int_equal(n, 0);
    assert_null(v);

    memset(&f, 0, sizeof(f));
    f.id = 4000000000u; /* filer ids are 32-bit unsigned */
    (void)snprintf(f.url, sizeof(f.url), "http://127.0.0.1:8302");
    f.weight = 100;
    (void)snprintf(f.status, sizeof(f.status), "unknown");
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), 0);
    f.id = 1;
    (void)snprintf(f.url, sizeof(f.url), "http://127.0.0.1:8301");
    f.weight = 50;
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), 0);
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), CF_EEXIST);
    f.id = 2; /* same url */
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), CF_EEXIST);
    f.id = 0;
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), CF_EINVAL);
    f.id = 3;
    f.url[0] = '\0';
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), CF_EINVAL);

    /* Status refresh touches the reported fields only. */
    memset(&f, 0, sizeof(f));
    f.id = 1;
    f.total_bytes = UINT64_C(1) << 40;
    f.used_bytes = 12345;
    f.objects = 7;
    f.read_only = true;
    (void)snprintf(f.status, sizeof(f.status), "online");
    f.last_seen_ms = 1700000000123u;
    assert_int_equal(cf_objdb_filer_set_status(fx->odb, &f, err), 0);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), 0);
    assert_int_equal(got.id, 1);
    assert_string_equal(got.url, "http://127.0.0.1:8301");
    assert_int_equal(got.weight, 50);
    assert_true(got.total_bytes == UINT64_C(1) << 40);
    assert_true(got.used_bytes == 12345 && got.objects == 7);
    assert_true(got.read_only);
    assert_string_equal(got.status, "online");
    assert_true(got.last_seen_ms == 1700000000123u);
    f.id = 77;
    assert_int_equal(cf_objdb_filer_set_status(fx->odb, &f, err), CF_ENOTFOUND);

    assert_int_equal(cf_objdb_filer_update(fx->odb, 1, "http://10.0.0.1:8301", 75, err), 0);
    assert_int_equal(cf_objdb_filer_update(fx->odb, 1, "http://127.0.0.1:8302", 75, err),
                     CF_EEXIST);
    assert_int_equal(cf_objdb_filer_update(fx->odb, 77, "http://x", 1, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), 0);
    assert_string_equal(got.url, "http://10.0.0.1:8301");
    assert_int_equal(got.weight, 75);
    assert_string_equal(got.status, "online");

    assert_int_equal(cf_objdb_filer_list(fx->odb, &v, &n, err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, 1);
    assert_true(v[1].id == 4000000000u);
    assert_string_equal(v[1].url, "http://127.0.0.1:8302");
    free(v);

    assert_int_equal(cf_objdb_filer_unregister(fx->odb, 1, err), 0);
    assert_int_equal(cf_objdb_filer_unregister(fx->odb, 1, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_filer_list(fx->odb, &v, &n, err), 0);
    assert_int_equal(n, 1);
    free(v);
}

/* Data-center labels of filers and shards: set, read back, checked, and
 * added by the upgrade of a catalog made before them. */
static void test_dc_labels(void **state)
{
    struct fixture *fx = *state;
    struct cf_objdb_filer f, got, *v = NULL;
    char err[CF_ERR_LEN] = "", dc[CF_OBJDB_DC_MAX + 1];
    struct cf_db *db = NULL;
    uint16_t sid;
    size_t n = 0;

    assert_true(cf_objdb_dc_valid(""));
    assert_true(cf_objdb_dc_valid("eu-west.1_a"));
    assert_false(cf_objdb_dc_valid("a b"));
    assert_false(cf_objdb_dc_valid("a/b"));
    assert_false(cf_objdb_dc_valid("'"));
    assert_false(cf_objdb_dc_valid("0123456789012345678901234567890123"));

    memset(&f, 0, sizeof(f));
    f.id = 1;
    (void)snprintf(f.url, sizeof(f.url), "http://127.0.0.1:8301");
    f.weight = 100;
    (void)snprintf(f.status, sizeof(f.status), "unknown");
    (void)snprintf(f.dc, sizeof(f.dc), "a");
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), 0);
    f.id = 2;
    (void)snprintf(f.url, sizeof(f.url), "http://127.0.0.1:8302");
    (void)snprintf(f.dc, sizeof(f.dc), "bad dc");
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), CF_EINVAL);
    f.dc[0] = '\0';
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), 0);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), 0);
    assert_string_equal(got.dc, "a");
    assert_int_equal(cf_objdb_filer_get(fx->odb, 2, &got, err), 0);
    assert_string_equal(got.dc, "");
    assert_int_equal(cf_objdb_filer_set_dc(fx->odb, 2, "b", err), 0);
    assert_int_equal(cf_objdb_filer_set_dc(fx->odb, 2, "b;", err), CF_EINVAL);
    assert_int_equal(cf_objdb_filer_set_dc(fx->odb, 9, "b", err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_filer_list(fx->odb, &v, &n, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].dc, "a");
    assert_string_equal(v[1].dc, "b");
    free(v);

    sid = add_shard(fx, 3, NULL);
    assert_int_equal(cf_objdb_shard_dc(fx->odb, sid, dc, err), 0);
    assert_string_equal(dc, "");
    assert_int_equal(cf_objdb_shard_set_dc(fx->odb, sid, "b", err), 0);
    assert_int_equal(cf_objdb_shard_set_dc(fx->odb, sid, "b b", err), CF_EINVAL);
    assert_int_equal(cf_objdb_shard_set_dc(fx->odb, 99, "b", err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_shard_dc(fx->odb, sid, dc, err), 0);
    assert_string_equal(dc, "b");
    assert_int_equal(cf_objdb_shard_dc(fx->odb, 99, dc, err), CF_ENOTFOUND);

    /* A catalog from before the labels: the columns come back, empty. */
    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    assert_int_equal(cf_db_open(fx->catalog, &db, err), 0);
    assert_int_equal(
        cf_db_exec(db, "ALTER TABLE filers DROP COLUMN dc; ALTER TABLE shards DROP COLUMN dc", err),
        0);
    cf_db_close(db);
    open_odb(fx);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), 0);
    assert_string_equal(got.dc, "");
    assert_int_equal(cf_objdb_shard_dc(fx->odb, sid, dc, err), 0);
    assert_string_equal(dc, "");
    assert_int_equal(cf_objdb_filer_set_dc(fx->odb, 1, "a", err), 0);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), 0);
    assert_string_equal(got.dc, "a");
}

/* Read weights: given at registration, changed by the operator, checked,
 * left alone by the tracker, and added (at the default) by the upgrade of a
 * catalog made before them. */
static void test_read_weight(void **state)
{
    struct fixture *fx = *state;
    struct cf_objdb_filer f, got, *v = NULL;
    struct cf_db *db = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;

    memset(&f, 0, sizeof(f));
    f.id = 1;
    (void)snprintf(f.url, sizeof(f.url), "http://127.0.0.1:8301");
    f.weight = 100;
    f.read_weight = 250;
    (void)snprintf(f.status, sizeof(f.status), "unknown");
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), 0);
    f.id = 2;
    (void)snprintf(f.url, sizeof(f.url), "http://127.0.0.1:8302");
    f.read_weight = CF_OBJDB_WEIGHT_MAX + 1;
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), CF_EINVAL);
    f.read_weight = 0;
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), 0);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), 0);
    assert_int_equal(got.read_weight, 250);
    assert_int_equal(got.weight, 100);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 2, &got, err), 0);
    assert_int_equal(got.read_weight, 0);

    assert_int_equal(cf_objdb_filer_set_read_weight(fx->odb, 2, 40, err), 0);
    assert_int_equal(cf_objdb_filer_set_read_weight(fx->odb, 2, CF_OBJDB_WEIGHT_MAX + 1, err),
                     CF_EINVAL);
    assert_int_equal(cf_objdb_filer_set_read_weight(fx->odb, 9, 40, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 2, &got, err), 0);
    assert_int_equal(got.read_weight, 40);
    assert_int_equal(got.weight, 100); /* the write weight is another thing */

    /* The tracker's write keeps it (and returns it). */
    f.id = 2;
    f.weight = 30;
    f.read_weight = 0;
    (void)snprintf(f.status, sizeof(f.status), "%s", CF_OBJDB_BUSY);
    assert_int_equal(cf_objdb_filer_track(fx->odb, &f, &got, err), 0);
    assert_int_equal(got.read_weight, 40);
    assert_int_equal(got.weight, 30);
    assert_int_equal(cf_objdb_filer_list(fx->odb, &v, &n, err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].read_weight, 250);
    assert_int_equal(v[1].read_weight, 40);
    free(v);

    /* A catalog from before read weights: every filer gets the default. */
    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    assert_int_equal(cf_db_open(fx->catalog, &db, err), 0);
    assert_int_equal(cf_db_exec(db, "ALTER TABLE filers DROP COLUMN read_weight", err), 0);
    cf_db_close(db);
    open_odb(fx);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), 0);
    assert_int_equal(got.read_weight, CF_OBJDB_READ_WEIGHT_DEFAULT);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 2, &got, err), 0);
    assert_int_equal(got.read_weight, CF_OBJDB_READ_WEIGHT_DEFAULT);
    assert_int_equal(cf_objdb_filer_set_read_weight(fx->odb, 1, 0, err), 0);
    assert_int_equal(cf_objdb_filer_get(fx->odb, 1, &got, err), 0);
    assert_int_equal(got.read_weight, 0);
}

/* The tracker and the operator's maintenance switch, interleaved as a poll
 * in flight sees them: neither direction of the switch is undone. */
static void test_filer_track_and_maintenance(void **state)
{
    struct fixture *fx = *state;
    struct cf_objdb_filer f, got, seen;
    char err[CF_ERR_LEN] = "";

    memset(&f, 0, sizeof(f));
    f.id = 5;
    (void)snprintf(f.url, sizeof(f.url), "http://127.0.0.1:8305");
    f.weight = 100;
    (void)snprintf(f.status, sizeof(f.status), "%s", CF_OBJDB_UNKNOWN);
    assert_int_equal(cf_objdb_filer_register(fx->odb, &f, err), 0);
    f.used_bytes = 10;
    f.total_bytes = 100;
    f.weight = 90;
    (void)snprintf(f.status, sizeof(f.status), "%s", CF_OBJDB_ONLINE);
    assert_int_equal(cf_objdb_filer_track(fx->odb, &f, &got, err), 0);
    assert_string_equal(got.status, CF_OBJDB_ONLINE);
    assert_false(got.read_only);
    assert_int_equal(got.weight, 90);

    /* On, while a poll that read "online" is in flight: it keeps maintenance. */
    assert_int_equal(cf_objdb_filer_set_maintenance(fx->odb, 5, true, err), 0);
    f.used_bytes = 20;
    assert_int_equal(cf_objdb_filer_track(fx->odb, &f, &got, err), 0);
    assert_string_equal(got.status, CF_OBJDB_MAINTENANCE);
    assert_true(got.read_only);
    assert_int_equal(got.used_bytes, 20); /* the numbers still follow */

    /* A poll reads the row in maintenance, the operator ends it, then the
     * poll writes what it decided from the old row: "unknown" stays, for
     * the next poll to decide. */
    assert_int_equal(cf_objdb_filer_get(fx->odb, 5, &seen, err), 0);
    assert_string_equal(seen.status, CF_OBJDB_MAINTENANCE);
    assert_int_equal(cf_objdb_filer_set_maintenance(fx->odb, 5, false, err), 0);
    seen.used_bytes = 30;
    assert_int_equal(cf_objdb_filer_track(fx->odb, &seen, &got, err), 0);
    assert_string_equal(got.status, CF_OBJDB_UNKNOWN);
    assert_true(got.read_only);
    assert_int_equal(got.used_bytes, 30);
    /* The next poll decides. */
    assert_int_equal(cf_objdb_filer_track(fx->odb, &f, &got, err), 0);
    assert_string_equal(got.status, CF_OBJDB_ONLINE);
    assert_false(got.read_only);
    assert_int_equal(cf_objdb_filer_set_maintenance(fx->odb, 77, true, err), CF_ENOTFOUND);
}

/* ---- the instance registry and the change feed (registry.h) ---------------- */

static struct cf_instance instance(const char *role, const char *url, const char *dc,
                                   const char *status)
{
    struct cf_instance in;

    memset(&in, 0, sizeof(in));
    (void)snprintf(in.role, sizeof(in.role), "%s", role);
    (void)snprintf(in.url, sizeof(in.url), "%s", url);
    (void)snprintf(in.dc, sizeof(in.dc), "%s", dc);
    (void)snprintf(in.version, sizeof(in.version), "0.1.0");
    (void)snprintf(in.status, sizeof(in.status), "%s", status);
    in.started_ms = 1000;
    return in;
}

static void test_registry(void **state)
{
    struct fixture *fx = *state;
    struct cf_instance a = instance("app", "http://h1:8200", "east", "up");
    struct cf_instance o = instance("objsrv", "http://h2:8201", "", "up");
    struct cf_instance *v = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;

    assert_int_equal(cf_registry_beat(fx->odb, &a, 5000, err), 0);
    assert_int_equal(cf_registry_beat(fx->odb, &o, 6000, err), 0);
    /* The same (role, url) again: one row, updated. */
    (void)snprintf(a.dc, sizeof(a.dc), "west");
    assert_int_equal(cf_registry_beat(fx->odb, &a, 7000, err), 0);
    assert_int_equal(cf_registry_list(fx->odb, &v, &n, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].role, "app");
    assert_string_equal(v[0].dc, "west");
    assert_int_equal(v[0].last_heartbeat_ms, 7000);
    assert_int_equal(v[0].started_ms, 1000);
    assert_string_equal(v[0].status, "up");
    assert_string_equal(v[1].url, "http://h2:8201");
    free(v);

    /* Silent since before 6500: objsrv down, reported once; again: nothing more. */
    assert_int_equal(cf_registry_mark_down(fx->odb, 6500, &v, err), 1);
    assert_string_equal(v[0].role, "objsrv");
    assert_string_equal(v[0].url, "http://h2:8201");
    assert_string_equal(v[0].status, "down");
    free(v);
    assert_int_equal(cf_registry_mark_down(fx->odb, 6500, &v, err), 0);
    assert_null(v);
    assert_int_equal(cf_registry_mark_down(fx->odb, 6500, NULL, err), 0);
    assert_int_equal(cf_registry_list(fx->odb, &v, &n, err), 0);
    assert_string_equal(v[0].status, "up");
    assert_string_equal(v[1].status, "down");
    free(v);
    /* A heartbeat brings it back; one saying down takes it out at once;
     * each a change (1), a repeated one not. */
    assert_int_equal(cf_registry_beat(fx->odb, &o, 8000, err), 1);
    assert_int_equal(cf_registry_beat(fx->odb, &o, 8100, err), 0);
    (void)snprintf(a.status, sizeof(a.status), "down");
    assert_int_equal(cf_registry_beat(fx->odb, &a, 8000, err), 1);
    assert_int_equal(cf_registry_beat(fx->odb, &a, 8100, err), 0);
    assert_int_equal(cf_registry_list(fx->odb, &v, &n, err), 0);
    assert_string_equal(v[0].status, "down");
    assert_string_equal(v[1].status, "up");
    free(v);

    o.role[0] = '\0';
    assert_int_equal(cf_registry_beat(fx->odb, &o, 9000, err), CF_EINVAL);
    /* Control bytes (a terminal escape in a spoofed heartbeat) are refused
     * in every text field; the row keeps what it had. */
    (void)snprintf(a.dc, sizeof(a.dc), "dc1\x1b]0;owned\x07");
    assert_int_equal(cf_registry_beat(fx->odb, &a, 9000, err), CF_EINVAL);
    (void)snprintf(a.dc, sizeof(a.dc), "dc1");
    (void)snprintf(a.version, sizeof(a.version), "1.0\n");
    assert_int_equal(cf_registry_beat(fx->odb, &a, 9000, err), CF_EINVAL);
    (void)snprintf(a.version, sizeof(a.version), "1.0");
    (void)snprintf(a.url, sizeof(a.url), "http://h\r:1");
    assert_int_equal(cf_registry_beat(fx->odb, &a, 9000, err), CF_EINVAL);
    assert_int_equal(cf_registry_list(fx->odb, &v, &n, err), 0);
    for (size_t i = 0; i < n; i++)
        assert_null(strchr(v[i].dc, 0x1b));
    free(v);

    /* Forgetting: only rows down and silent since before the cut go. The
     * app is down since 8100, the objsrv up (8100). */
    assert_int_equal(cf_registry_forget(fx->odb, 8100, err), 0);
    assert_int_equal(cf_registry_forget(fx->odb, 9000, err), 1);
    assert_int_equal(cf_registry_list(fx->odb, &v, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].role, "objsrv");
    free(v);
    assert_int_equal(cf_registry_forget(fx->odb, UINT64_MAX, err), 0);
}

static void test_changes(void **state)
{
    static const uint32_t f[] = {1};
    struct fixture *fx = *state;
    struct cf_change c[4];
    struct cf_uuid u[3];
    char err[CF_ERR_LEN] = "", text[CF_UUID_SIZE];
    uint64_t oldest = 1, newest = 1, last;
    size_t n = 9;

    add_shard(fx, 1, NULL);
    assert_int_equal(cf_changes_list(fx->odb, 0, c, 4, &n, &oldest, &newest, err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(oldest, 0);
    assert_int_equal(newest, 0);
    for (int i = 0; i < 3; i++)
        u[i] = put(fx, 1, f, 1);
    /* Marking deleted appends to the feed; unmarking does not. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u[0], true, err), 0);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u[0], false, err), 0);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u[1], true, err), 0);
    assert_int_equal(cf_changes_list(fx->odb, 0, c, 4, &n, &oldest, &newest, err), 0);
    assert_int_equal(n, 2);
    cf_uuid_format(&u[0], text);
    assert_string_equal(c[0].uuid, text);
    cf_uuid_format(&u[1], text);
    assert_string_equal(c[1].uuid, text);
    assert_true(c[0].seq < c[1].seq && c[1].seq == newest && c[0].seq == oldest);
    /* After the first: only the second; a page of one. */
    assert_int_equal(cf_changes_list(fx->odb, c[0].seq, c, 4, &n, &oldest, &newest, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].uuid, text);
    assert_int_equal(cf_changes_list(fx->odb, 0, c, 1, &n, &oldest, &newest, err), 0);
    assert_int_equal(n, 1);

    /* Pruning everything keeps the newest row, so seq never goes back. */
    last = newest;
    assert_int_equal(cf_changes_prune(fx->odb, UINT64_MAX >> 2, err), 1);
    assert_int_equal(cf_changes_list(fx->odb, 0, c, 4, &n, &oldest, &newest, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(oldest, last);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u[2], true, err), 0);
    assert_int_equal(cf_changes_list(fx->odb, last, c, 4, &n, &oldest, &newest, err), 0);
    assert_int_equal(n, 1);
    assert_true(c[0].seq > last);
}

/* The filer history: written (replacing a row of the same start), listed
 * by filer and time, pruned by end; bad rows refused. */
static void test_history(void **state)
{
    struct fixture *fx = *state;
    struct cf_objdb_history h = {.filer = 3, .start_ms = 1000, .end_ms = 2000, .bytes_in = 5},
                            *v = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t gone = 0;
    size_t n = 0;

    assert_int_equal(cf_objdb_history_add(fx->odb, &h, err), 0);
    h.bytes_in = 6;
    assert_int_equal(cf_objdb_history_add(fx->odb, &h, err), 0);
    h.start_ms = 2000;
    h.end_ms = 3000;
    h.polls = 4;
    h.failures = 1;
    assert_int_equal(cf_objdb_history_add(fx->odb, &h, err), 0);
    h.filer = 4;
    assert_int_equal(cf_objdb_history_add(fx->odb, &h, err), 0);
    assert_int_equal(cf_objdb_history_list(fx->odb, 3, 0, 0, 100, &v, &n, err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].bytes_in, 6);
    assert_int_equal(v[1].polls, 4);
    assert_int_equal(v[1].failures, 1);
    free(v);
    assert_int_equal(cf_objdb_history_list(fx->odb, 0, 2000, 0, 100, &v, &n, err), 0);
    assert_int_equal(n, 2); /* rows ending after 2000: filer 3's second and filer 4's */
    free(v);
    assert_int_equal(cf_objdb_history_list(fx->odb, 0, 0, 0, 0, &v, &n, err), CF_EINVAL);
    assert_int_equal(cf_objdb_history_prune(fx->odb, 2500, &gone, err), 0);
    assert_int_equal(gone, 1);
    assert_int_equal(cf_objdb_history_list(fx->odb, 0, 0, 0, 100, &v, &n, err), 0);
    assert_int_equal(n, 2);
    free(v);
    h.filer = 0;
    assert_int_equal(cf_objdb_history_add(fx->odb, &h, err), CF_EINVAL);
    h.filer = 3;
    h.end_ms = 1;
    assert_int_equal(cf_objdb_history_add(fx->odb, &h, err), CF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shards_add_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_in_two_shards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_misses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_invisible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_by_filer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shard_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_not_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shard_max_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shard_added_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_puts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filers_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dc_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_weight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filer_track_and_maintenance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
    };

    cf_log_init("test_objdb", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
