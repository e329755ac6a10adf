/*
 * test_shardset.c -- the catalog-and-shards skeleton (shardset.h) with a
 * small owner of its own (a shards table with two flag columns, databases
 * stamped through coffer_meta), on real databases: the catalog is a SQLite
 * file, or a fresh PostgreSQL database when COFFER_TEST_PG is set
 * (dbtest.h); shards are SQLite files given by absolute path, which both
 * kinds of catalog accept, so the cases are the same on both.
 *
 * Covers: the sorted cache against a model (insertion in any order, look-up,
 * from); adding a shard (the database is created and stamped before the
 * owner writes the row, nothing is published before the row, a failed row
 * publishes nothing); re-reading on a miss and its rate limit, with two sets
 * on one catalog standing for two processes (no sleeps: the interval is
 * either an hour or 0); relative location resolution; flags, pick and
 * snapshot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/shardset.h"

#include "dbtest.h"

#define HOT  1u /* bit 0: the "hot" column */
#define COLD 2u /* bit 1: the "cold" column */

/* The owner's shard: the set's part first. */
struct tshard {
    struct cf_shardset_shard base;
    int magic; /* set by shard_init, checked and cleared by shard_fini */
};

#define MAGIC 0x5eed

static const char catalog_schema[] = "CREATE TABLE IF NOT EXISTS shards ("
                                     " id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 65535),"
                                     " location TEXT NOT NULL UNIQUE,"
                                     " created BIGINT NOT NULL,"
                                     " hot INTEGER NOT NULL DEFAULT 0,"
                                     " cold INTEGER NOT NULL DEFAULT 0)";

static const char meta_schema[] = "CREATE TABLE IF NOT EXISTS coffer_meta ("
                                  " id INTEGER PRIMARY KEY CHECK (id = 1),"
                                  " kind TEXT NOT NULL,"
                                  " version INTEGER NOT NULL,"
                                  " shard_id INTEGER NOT NULL DEFAULT 0)";

/* What the callbacks saw; reset by setup. The suite's sets run on the main
 * thread except in test_concurrent_misses, which only finds. */
static struct {
    int open_db; /* ops.open_db calls with create */
    int rows;    /* row callbacks */
    int row_rc;  /* what the next row callback returns after its checks, if < 0 */
    int inits, finis;
    struct cf_shardset *adding; /* the set whose add calls row */
    char uri[CF_DB_URI_MAX + 1];
} seen;

static int open_db(struct cf_db *db, const char *uri, uint32_t id, bool create, char *err)
{
    static const char stamp[] = "INSERT INTO coffer_meta (id, kind, version, shard_id)"
                                " VALUES (1, ?1, 1, ?2) ON CONFLICT (id) DO NOTHING";
    const char *kind = id == 0 ? "test-catalog" : "test-shard";
    int rc = 0;

    if (create) {
        seen.open_db++;
        rc = cf_db_exec(db, meta_schema, err);
        if (rc == 0)
            rc = cf_db_run(db, NULL, 0, err, stamp, "ti", kind, (int64_t)id);
        if (rc == 0 && id == 0)
            rc = cf_db_exec(db, catalog_schema, err);
    }
    if (rc >= 0)
        rc = cf_db_meta_check(db, uri, kind, 1, id, "test shard", err);
    return rc;
}

static void shard_init(struct cf_shardset_shard *sh)
{
    struct tshard *t = (struct tshard *)sh;

    assert_int_equal(t->magic, 0);
    t->magic = MAGIC;
    seen.inits++;
}

static void shard_fini(struct cf_shardset_shard *sh)
{
    struct tshard *t = (struct tshard *)sh;

    assert_int_equal(t->magic, MAGIC);
    t->magic = 0;
    seen.finis++;
}

static const struct cf_shardset_ops ops_hour = {
    .name = "tdb",
    .shard_word = "test shard",
    .shard_size = sizeof(struct tshard),
    .select_sql = "SELECT id, location, created, hot, cold FROM shards ORDER BY id",
    .nflags = 2,
    .reload_min_ms = 3600 * 1000,
    .open_db = open_db,
    .shard_init = shard_init,
    .shard_fini = shard_fini,
};

/* The same owner, re-reading on every miss. */
static const struct cf_shardset_ops ops_zero = {
    .name = "tdb",
    .shard_word = "test shard",
    .shard_size = sizeof(struct tshard),
    .select_sql = "SELECT id, location, created, hot, cold FROM shards ORDER BY id",
    .nflags = 2,
    .reload_min_ms = 0,
    .open_db = open_db,
    .shard_init = shard_init,
    .shard_fini = shard_fini,
};

struct fixture {
    char dir[64];
    char catalog[CF_DB_URI_MAX + 1];
    struct cf_shardset *set;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[CF_ERR_LEN] = "";

    if (fx == NULL)
        return -1;
    memset(&seen, 0, sizeof(seen));
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/coffer-shardset-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    if (cf_test_db_new(fx->dir, "catalog", fx->catalog, sizeof(fx->catalog)) != 0)
        return -1;
    if (cf_shardset_open(fx->catalog, 2, &ops_hour, &fx->set, err) != 0) {
        fprintf(stderr, "open %s: %s\n", fx->catalog, err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    cf_shardset_close(fx->set);
    /* Every entry made, published or not, was finished exactly once. */
    assert_int_equal(seen.inits, seen.finis);
    cf_test_db_drop_all();
    cf_test_rm_tree(fx->dir);
    free(fx);
    return 0;
}

/* An absolute SQLite location for shard tag n in the test directory. */
static const char *abs_loc(const struct fixture *fx, unsigned n)
{
    static char loc[CF_DB_URI_MAX + 1];

    (void)snprintf(loc, sizeof(loc), "sqlite:%s/s%u.db", fx->dir, n);
    return loc;
}

/* The owner's row: checks that the shard's database came first and that
 * nothing is published yet, then inserts (or fails as told). */
static int write_row(struct cf_db *catalog, const struct cf_shardset_shard *sh, void *arg,
                     char *err)
{
    static const char sql[] = "INSERT INTO shards (id, location, created) VALUES (?1, ?2, ?3)";
    struct cf_db *db = NULL;
    char uri[CF_DB_URI_MAX + 1], detail[CF_ERR_LEN] = "";
    int64_t n = -1;
    int rc;

    (void)arg;
    seen.rows++;
    assert_non_null(seen.adding);
    /* Not visible yet, neither in the cache nor in the catalog. */
    assert_null(cf_shardset_get(seen.adding, sh->id));
    assert_int_equal(cf_db_run(catalog, &n, 1, NULL, "SELECT count(*) FROM shards WHERE id = ?1",
                               "i", (int64_t)sh->id),
                     CF_DB_ROW);
    assert_true(n == 0);
    assert_true(sh->created_ms > 0 && sh->flags == 0);
    assert_int_equal(((const struct tshard *)sh)->magic, MAGIC);
    /* The shard's database exists and is stamped with its id already. */
    assert_int_equal(cf_shardset_resolve(seen.adding, sh->location, uri, sizeof(uri), NULL), 0);
    assert_int_equal(cf_db_open(uri, &db, detail), 0);
    assert_int_equal(cf_db_meta_check(db, uri, "test-shard", 1, sh->id, "test shard", detail), 0);
    cf_db_close(db);
    (void)snprintf(seen.uri, sizeof(seen.uri), "%s", uri);
    if (seen.row_rc < 0) {
        rc = seen.row_rc;
        seen.row_rc = 0;
        cf_err_set(err, "row refused by the test");
        return rc;
    }
    rc = cf_db_run(catalog, NULL, 0, err, sql, "iti", (int64_t)sh->id, sh->location,
                   (int64_t)sh->created_ms);
    return rc < 0 ? rc : 0;
}

/* The owner's choice: the next id after the largest, and a location next
 * to a SQLite catalog ("sqlite:auto-N.db"), kept in arg. */
static int choose(struct cf_shardset *set, struct cf_db *catalog, void *arg, uint32_t *id,
                  const char **location, char *err)
{
    char *buf = arg;
    int64_t max = 0;
    int rc;

    if (*id == 0) {
        rc = cf_db_run(catalog, &max, 1, err, "SELECT coalesce(max(id), 0) FROM shards", "");
        if (rc < 0)
            return rc;
        *id = (uint32_t)max + 1;
    }
    if (*location == NULL) {
        if (cf_shardset_catalog_dir(set) == NULL) {
            cf_err_set(err, "no location");
            return CF_EINVAL;
        }
        (void)snprintf(buf, 64, "sqlite:auto-%u.db", (unsigned)*id);
        *location = buf;
    }
    return 0;
}

/* Add shard id (0: chosen) at location (NULL: chosen) to set. */
static int add(struct cf_shardset *set, uint32_t id, const char *location,
               struct cf_shardset_shard **out, char *err)
{
    char buf[64];

    seen.adding = set;
    return cf_shardset_add(set, id, location, choose, write_row, buf, out, err);
}

/* ---- adding, reopening ---------------------------------------------------- */

static void test_add_and_reopen(void **state)
{
    struct fixture *fx = *state;
    struct cf_shardset_shard *sh = NULL;
    struct cf_shardset_item *v = NULL;
    char err[CF_ERR_LEN] = "", loc5[CF_DB_URI_MAX + 1], path[200];
    uint64_t created5;
    size_t n;

    assert_null(cf_shardset_from(fx->set, 1));
    assert_int_equal(cf_shardset_snapshot(fx->set, &v), 0);
    assert_null(v);

    (void)snprintf(loc5, sizeof(loc5), "%s", abs_loc(fx, 5));
    assert_int_equal(add(fx->set, 5, loc5, &sh, err), 0);
    assert_non_null(sh);
    assert_int_equal(sh->id, 5);
    assert_string_equal(sh->location, loc5);
    created5 = sh->created_ms;
    assert_true(created5 > 0);
    assert_ptr_equal(cf_shardset_get(fx->set, 5), sh);
    /* Chosen id: the next after the largest. */
    assert_int_equal(add(fx->set, 0, abs_loc(fx, 6), &sh, err), 0);
    assert_int_equal(sh->id, 6);
    if (!cf_test_db_pg()) {
        /* A chosen location, relative: stored as is, opened next to the catalog. */
        assert_int_equal(add(fx->set, 0, NULL, &sh, err), 0);
        assert_int_equal(sh->id, 7);
        assert_string_equal(sh->location, "sqlite:auto-7.db");
        (void)snprintf(path, sizeof(path), "%s/auto-7.db", fx->dir);
        assert_int_equal(access(path, F_OK), 0);
    } else {
        /* No directory to resolve against: the owner refuses. */
        assert_int_equal(add(fx->set, 0, NULL, &sh, err), CF_EINVAL);
        assert_null(sh);
        assert_int_equal(add(fx->set, 7, abs_loc(fx, 7), NULL, err), 0);
    }
    assert_int_equal(seen.rows, 3);

    /* A cached id: refused before anything is opened or written. */
    seen.open_db = seen.rows = 0;
    assert_int_equal(add(fx->set, 5, abs_loc(fx, 99), &sh, err), CF_EEXIST);
    assert_null(sh);
    assert_non_null(strstr(err, "test shard 5 already exists"));
    /* A database that holds another shard: refused by open_db, no row. */
    assert_int_equal(add(fx->set, 9, loc5, &sh, err), CF_EINVAL);
    assert_non_null(strstr(err, "holds test shard 5"));
    /* The catalog itself. */
    assert_int_equal(add(fx->set, 9, fx->catalog, &sh, err), CF_EINVAL);
    assert_int_equal(seen.open_db, 2);
    assert_int_equal(seen.rows, 0);
    assert_null(cf_shardset_get(fx->set, 9));
    /* The id range is the set's, whatever the owner chose. */
    assert_int_equal(cf_shardset_add(fx->set, CF_SHARDSET_ID_MAX + 1, abs_loc(fx, 8), NULL,
                                     write_row, NULL, NULL, err),
                     CF_EINVAL);

    /* Reopen: the catalog brings every shard back as stored. */
    cf_shardset_close(fx->set);
    fx->set = NULL;
    assert_int_equal(cf_shardset_open(fx->catalog, 1, &ops_hour, &fx->set, err), 0);
    n = cf_shardset_snapshot(fx->set, &v);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].shard->id, 5);
    assert_string_equal(v[0].shard->location, loc5);
    assert_true(v[0].shard->created_ms == created5);
    assert_int_equal(v[1].shard->id, 6);
    assert_int_equal(v[2].shard->id, 7);
    free(v);
    assert_string_equal(cf_shardset_catalog_uri(fx->set), fx->catalog);
    assert_non_null(cf_shardset_catalog(fx->set));

    /* A shard's database is not a catalog; a bad pool size is refused. */
    {
        struct cf_shardset *bad = NULL;
        char uri[CF_DB_URI_MAX + 1];

        assert_int_equal(cf_shardset_resolve(fx->set, loc5, uri, sizeof(uri), NULL), 0);
        assert_int_equal(cf_shardset_open(uri, 1, &ops_hour, &bad, err), CF_EINVAL);
        assert_null(bad);
        assert_int_equal(cf_shardset_open(fx->catalog, 0, &ops_hour, &bad, err), CF_EINVAL);
        assert_null(bad);
    }
}

/* The order of an add: database, row, publish. A failing row publishes
 * nothing, leaves the stamped database behind unlisted, and the same add
 * then succeeds on it. */
static void test_add_order(void **state)
{
    struct fixture *fx = *state;
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    char err[CF_ERR_LEN] = "", loc[CF_DB_URI_MAX + 1];
    int64_t n = -1;

    if (cf_test_db_pg()) {
        /* A PostgreSQL database as the shard, too. */
        assert_int_equal(cf_test_db_new(fx->dir, "shard", loc, sizeof(loc)), 0);
    } else {
        (void)snprintf(loc, sizeof(loc), "%s", abs_loc(fx, 3));
    }
    seen.row_rc = CF_EIO;
    assert_int_equal(add(fx->set, 3, loc, &sh, err), CF_EIO);
    assert_null(sh);
    assert_string_equal(err, "row refused by the test");
    assert_int_equal(seen.rows, 1);
    assert_null(cf_shardset_get(fx->set, 3));
    assert_int_equal(cf_shardset_find(fx->set, 3, &sh, err), CF_ENOTFOUND);
    /* The database was made and stamped (write_row checked), and stays. */
    assert_int_equal(cf_db_open(seen.uri, &db, err), 0);
    assert_int_equal(cf_db_meta_check(db, seen.uri, "test-shard", 1, 3, "test shard", err), 0);
    cf_db_close(db);
    db = cf_db_pool_acquire(cf_shardset_catalog(fx->set));
    assert_int_equal(cf_db_run(db, &n, 1, err, "SELECT count(*) FROM shards", ""), CF_DB_ROW);
    cf_db_pool_release(cf_shardset_catalog(fx->set), db);
    assert_true(n == 0);

    assert_int_equal(add(fx->set, 3, loc, &sh, err), 0);
    assert_int_equal(seen.rows, 2);
    assert_ptr_equal(cf_shardset_get(fx->set, 3), sh);
    /* The row holds the UNIQUE location: a second id there is refused by
     * the database (it holds shard 3), before any row. */
    assert_int_equal(add(fx->set, 4, loc, &sh, err), CF_EINVAL);
    assert_int_equal(seen.rows, 2);
}

/* ---- the sorted cache against a model ---------------------------------------- */

#define MODEL_N 24

static uint32_t lcg(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return (*x >> 8) % CF_SHARDSET_ID_MAX + 1;
}

static void test_sorted_against_model(void **state)
{
    struct fixture *fx = *state;
    uint32_t model[MODEL_N], x = 7;
    size_t m = 0;
    char err[CF_ERR_LEN] = "";

    while (m < MODEL_N) {
        uint32_t id = lcg(&x);
        struct cf_shardset_shard *sh;
        size_t i;

        if (cf_shardset_get(fx->set, id) != NULL)
            continue;
        assert_int_equal(add(fx->set, id, abs_loc(fx, id), NULL, err), 0);
        /* The model: a plain sorted array, by insertion. */
        for (i = m; i > 0 && model[i - 1] > id; i--)
            model[i] = model[i - 1];
        model[i] = id;
        m++;
        /* A walk with from() gives the model, in order. */
        i = 0;
        for (sh = cf_shardset_from(fx->set, 1); sh != NULL;
             sh = cf_shardset_from(fx->set, sh->id + 1))
            assert_int_equal(sh->id, model[i++]);
        assert_int_equal(i, m);
    }
    /* get() and from() at and around every id, and at random points. */
    for (size_t i = 0; i < m; i++) {
        uint32_t probes[3] = {model[i] - 1, model[i], model[i] + 1};

        for (int k = 0; k < 3; k++) {
            uint32_t p = probes[k];
            struct cf_shardset_shard *g = cf_shardset_get(fx->set, p);
            struct cf_shardset_shard *f = cf_shardset_from(fx->set, p);
            size_t j = 0;
            bool in = false;

            while (j < m && model[j] < p)
                j++;
            in = j < m && model[j] == p;
            if (in)
                assert_true(g != NULL && g->id == p);
            else
                assert_null(g);
            if (j < m)
                assert_true(f != NULL && f->id == model[j]);
            else
                assert_null(f);
        }
    }
    assert_null(cf_shardset_from(fx->set, CF_SHARDSET_ID_MAX + 1));
    assert_null(cf_shardset_get(fx->set, 0));
}

/* ---- misses -------------------------------------------------------------------- */

static void test_miss_reload_rate_limit(void **state)
{
    struct fixture *fx = *state;
    struct cf_shardset *a = NULL, *d = NULL, *z = NULL;
    struct cf_shardset_shard *sh = NULL;
    char err[CF_ERR_LEN] = "";

    /* fx->set writes; a, d and z read, as other processes would. */
    assert_int_equal(cf_shardset_open(fx->catalog, 1, &ops_hour, &a, err), 0);
    assert_int_equal(add(fx->set, 1, abs_loc(fx, 1), NULL, err), 0);
    assert_null(cf_shardset_get(a, 1));
    /* The first miss re-reads at once. */
    assert_int_equal(cf_shardset_find(a, 1, &sh, err), 0);
    assert_true(sh != NULL && sh->id == 1);
    /* A re-read that found its shard holds nothing off. */
    assert_int_equal(add(fx->set, 2, abs_loc(fx, 2), NULL, err), 0);
    assert_int_equal(cf_shardset_find(a, 2, &sh, err), 0);
    assert_int_equal(sh->id, 2);
    /* One that finds nothing does: a shard added since is not seen by a
     * miss for an hour... */
    assert_int_equal(cf_shardset_find(a, 777, &sh, err), CF_ENOTFOUND);
    assert_null(sh);
    assert_string_equal(err, "no test shard 777");
    assert_int_equal(add(fx->set, 3, abs_loc(fx, 3), NULL, err), 0);
    assert_int_equal(cf_shardset_find(a, 3, &sh, err), CF_ENOTFOUND);
    assert_null(cf_shardset_get(a, 3));
    /* ...but an explicit re-read brings it. */
    assert_int_equal(cf_shardset_reload(a, err), 0);
    assert_int_equal(cf_shardset_find(a, 3, &sh, err), 0);
    assert_int_equal(sh->id, 3);

    /* Ids no shards table can hold are answered without a re-read: they
     * start no hold either. */
    assert_int_equal(cf_shardset_open(fx->catalog, 1, &ops_hour, &d, err), 0);
    assert_int_equal(cf_shardset_find(d, 0, &sh, err), CF_ENOTFOUND);
    assert_int_equal(cf_shardset_find(d, CF_SHARDSET_ID_MAX + 1, &sh, err), CF_ENOTFOUND);
    assert_int_equal(add(fx->set, 4, abs_loc(fx, 4), NULL, err), 0);
    assert_int_equal(cf_shardset_find(d, 4, &sh, err), 0);

    /* With an interval of 0 every miss re-reads. */
    assert_int_equal(cf_shardset_open(fx->catalog, 1, &ops_zero, &z, err), 0);
    assert_int_equal(cf_shardset_find(z, 888, &sh, err), CF_ENOTFOUND);
    assert_int_equal(add(fx->set, 5, abs_loc(fx, 5), NULL, err), 0);
    assert_int_equal(cf_shardset_find(z, 5, &sh, err), 0);
    assert_int_equal(sh->id, 5);

    cf_shardset_close(z);
    cf_shardset_close(d);
    cf_shardset_close(a);
}

#define MISS_THREADS 8

struct misser {
    struct cf_shardset *set;
    pthread_barrier_t *go;
    int rc;
    uint32_t got;
};

static void *misser_main(void *arg)
{
    struct misser *m = arg;
    struct cf_shardset_shard *sh = NULL;

    (void)pthread_barrier_wait(m->go);
    m->rc = cf_shardset_find(m->set, 9, &sh, NULL);
    m->got = sh != NULL ? sh->id : 0;
    return NULL;
}

/* Threads that miss the same new shard at once all find it, although the
 * interval is an hour: the first re-reads, the others see its result. */
static void test_concurrent_misses(void **state)
{
    struct fixture *fx = *state;
    struct cf_shardset *a = NULL;
    struct misser m[MISS_THREADS];
    pthread_t th[MISS_THREADS];
    pthread_barrier_t go;
    char err[CF_ERR_LEN] = "";

    assert_int_equal(cf_shardset_open(fx->catalog, 1, &ops_hour, &a, err), 0);
    assert_int_equal(add(fx->set, 9, abs_loc(fx, 9), NULL, err), 0);
    assert_int_equal(pthread_barrier_init(&go, NULL, MISS_THREADS), 0);
    for (int i = 0; i < MISS_THREADS; i++) {
        m[i] = (struct misser){.set = a, .go = &go, .rc = -1, .got = 0};
        assert_int_equal(pthread_create(&th[i], NULL, misser_main, &m[i]), 0);
    }
    for (int i = 0; i < MISS_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(m[i].rc, 0);
        assert_int_equal(m[i].got, 9);
    }
    pthread_barrier_destroy(&go);
    cf_shardset_close(a);
}

/* ---- locations, flags ------------------------------------------------------------- */

static void test_resolve(void **state)
{
    static const char *const same[] = {"sqlite:/abs/x.db", "sqlite:", "postgres://h/db",
                                       "postgres:host=/run/pg dbname=x"};
    struct fixture *fx = *state;
    char out[CF_DB_URI_MAX + 1], want[CF_DB_URI_MAX + 1], tiny[16], err[CF_ERR_LEN] = "";
    const char *dir = cf_shardset_catalog_dir(fx->set);

    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        assert_int_equal(cf_shardset_resolve(fx->set, same[i], out, sizeof(out), err), 0);
        assert_string_equal(out, same[i]);
    }
    assert_int_equal(cf_shardset_resolve(fx->set, "sqlite:sub/x.db", out, sizeof(out), err), 0);
    if (cf_test_db_pg()) {
        /* Relative to nothing: used as is. */
        assert_null(dir);
        assert_string_equal(out, "sqlite:sub/x.db");
    } else {
        assert_string_equal(dir, fx->dir);
        (void)snprintf(want, sizeof(want), "sqlite:%s/sub/x.db", fx->dir);
        assert_string_equal(out, want);
    }
    /* Boundaries: exactly the room needed, and one byte less. */
    assert_int_equal(cf_shardset_resolve(fx->set, "sqlite:/a/b.db", tiny, 15, err), 0);
    assert_string_equal(tiny, "sqlite:/a/b.db");
    assert_int_equal(cf_shardset_resolve(fx->set, "sqlite:/a/b.db", tiny, 14, err), CF_EINVAL);
    assert_non_null(strstr(err, "longer than 13 bytes"));
}

static void test_flags_pick_snapshot(void **state)
{
    struct fixture *fx = *state;
    struct cf_shardset_item *v = NULL;
    struct cf_db *db;
    char err[CF_ERR_LEN] = "";
    uint32_t seq[6];
    size_t n;

    for (uint32_t id = 1; id <= 3; id++)
        assert_int_equal(add(fx->set, id, abs_loc(fx, id), NULL, err), 0);
    /* Flags come from the flag columns at a re-read. */
    db = cf_db_pool_acquire(cf_shardset_catalog(fx->set));
    assert_int_equal(cf_db_exec(db,
                                "UPDATE shards SET hot = 1 WHERE id = 2;"
                                "UPDATE shards SET cold = 1 WHERE id = 3",
                                err),
                     0);
    cf_db_pool_release(cf_shardset_catalog(fx->set), db);
    assert_int_equal(cf_shardset_flags(fx->set, cf_shardset_get(fx->set, 2)), 0);
    assert_int_equal(cf_shardset_reload(fx->set, err), 0);
    n = cf_shardset_snapshot(fx->set, &v);
    assert_int_equal(n, 3);
    assert_true(v[0].flags == 0 && v[1].flags == HOT && v[2].flags == COLD);
    free(v);

    /* Round robin over the shards without the unwanted flags, in id order. */
    for (int i = 0; i < 6; i++)
        seq[i] = cf_shardset_pick(fx->set, HOT)->id;
    for (int i = 0; i < 6; i++) {
        assert_true(seq[i] == 1 || seq[i] == 3);
        assert_true(seq[i] != seq[(i + 1) % 6]);
    }
    assert_int_equal(cf_shardset_pick(fx->set, HOT | COLD)->id, 1);
    cf_shardset_set_flags(fx->set, 1, HOT);
    assert_null(cf_shardset_pick(fx->set, HOT | COLD));
    assert_non_null(cf_shardset_pick(fx->set, 0));
    cf_shardset_set_flags(fx->set, 42, HOT); /* not cached: nothing to do */
    assert_null(cf_shardset_get(fx->set, 42));
    assert_int_equal(cf_shardset_flags(fx->set, cf_shardset_get(fx->set, 1)), HOT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_against_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_miss_reload_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_misses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_pick_snapshot, setup, teardown),
    };

    cf_log_init("test_shardset", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
