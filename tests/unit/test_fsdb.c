/*
 * test_fsdb.c -- the file system database (fsdb.h) on real SQLite files in
 * a temporary directory (no mocks, STYLE 2.8).
 *
 * Covers: clients placed on the least-loaded of two shards and a shard added
 * at run time, here or through another handle; isolation (another client's ids find nothing, in
 * another shard and in the same one); names and paths, good and bad, with spaces and non-ASCII;
 * mkdir, list, move and rename, including a folder into its own subtree; users, groups and the
 * permission inheritance matrix; versions and restore; copy sharing a UUID and the reference count;
 * the path look-up with the access level and with a page of versions in one read; trash, restore
 * and empty returning exactly the UUIDs nothing names any more; retention;
 * concurrent uploads to one path from 4 threads; the change journal.
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

#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/log.h"

#include "dbtest.h"

struct fixture {
    char dir[64];
    char catalog[CF_DB_URI_MAX + 1];
    struct cf_fsdb *fs;
    uint64_t a, b; /* clients in shards 1 and 2 */
};

static void open_fs(struct fixture *fx)
{
    char err[CF_ERR_LEN] = "";

    if (cf_fsdb_open(fx->catalog, 4, &fx->fs, err) != 0)
        fail_msg("open %s: %s", fx->catalog, err);
}

static uint64_t add_client(struct fixture *fx, const char *name, uint32_t want_shard)
{
    struct cf_fsdb_client c;
    char err[CF_ERR_LEN] = "";

    if (cf_fsdb_client_add(fx->fs, name, "test client", 0, &c, err) != 0)
        fail_msg("client_add %s: %s", name, err);
    assert_int_equal(c.shard, want_shard);
    assert_int_equal(c.replicas, CF_FSDB_REPLICAS_DEFAULT);
    return c.id;
}

/* A location for a new shard: NULL (a file next to the catalog) on SQLite,
 * a new database on PostgreSQL, where NULL is not accepted (fsdb.h). */
static const char *shard_loc(struct fixture *fx)
{
    static char loc[CF_DB_URI_MAX + 1];

    if (!cf_test_db_pg())
        return NULL;
    if (cf_test_db_new(fx->dir, "fsshard", loc, sizeof(loc)) != 0)
        fail_msg("no database for a shard");
    return loc;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[CF_ERR_LEN] = "";
    uint32_t id = 0;

    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/coffer-fsdb-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    if (cf_test_db_new(fx->dir, "fscatalog", fx->catalog, sizeof(fx->catalog)) != 0)
        return -1;
    open_fs(fx);
    if (cf_fsdb_shard_add(fx->fs, shard_loc(fx), &id, err) != 0 || id != 1)
        fail_msg("shard 1: %s", err);
    if (cf_fsdb_shard_add(fx->fs, shard_loc(fx), &id, err) != 0 || id != 2)
        fail_msg("shard 2: %s", err);
    fx->a = add_client(fx, "acme", 1);
    fx->b = add_client(fx, "globex", 2);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    cf_fsdb_close(fx->fs);
    cf_test_rm_tree(fx->dir);
    cf_test_db_drop_all();
    free(fx);
    return 0;
}

/* A UUID-shaped text for n. */
static void uuid_of(unsigned n, char out[CF_FSDB_UUID_LEN + 1])
{
    (void)snprintf(out, CF_FSDB_UUID_LEN + 1, "%08x-0000-4000-8000-%012x", n, n * 7u);
}

static struct cf_fsdb_entry put(struct fixture *fx, uint64_t client, uint64_t folder,
                                const char *name, unsigned n)
{
    struct cf_fsdb_put p;
    struct cf_fsdb_entry e;
    char err[CF_ERR_LEN] = "";

    memset(&p, 0, sizeof(p));
    uuid_of(n, p.uuid);
    p.size = n * 100u;
    memset(p.sha512, (int)(n & 0xff), sizeof(p.sha512));
    p.by_user = 0;
    if (cf_fsdb_file_put(fx->fs, client, folder, name, &p, &e, err) != 0)
        fail_msg("put %s: %s", name, err);
    assert_string_equal(e.uuid, p.uuid);
    assert_int_equal(e.size, p.size);
    return e;
}

static uint64_t root(struct fixture *fx, uint64_t client)
{
    uint64_t id = 0;
    char err[CF_ERR_LEN] = "";

    if (cf_fsdb_resolve(fx->fs, client, "/", &id, err) != 0)
        fail_msg("resolve /: %s", err);
    return id;
}

static uint64_t mkdir_at(struct fixture *fx, uint64_t client, uint64_t parent, const char *name)
{
    uint64_t id = 0;
    char err[CF_ERR_LEN] = "";

    if (cf_fsdb_mkdir(fx->fs, client, parent, name, &id, err) != 0)
        fail_msg("mkdir %s: %s", name, err);
    return id;
}

static uint64_t refs(struct fixture *fx, uint64_t client, unsigned n)
{
    char u[CF_FSDB_UUID_LEN + 1];
    uint64_t count = 99;
    char err[CF_ERR_LEN] = "";

    uuid_of(n, u);
    if (cf_fsdb_uuid_refs(fx->fs, client, u, &count, err) != 0)
        fail_msg("refs: %s", err);
    return count;
}

/* Open shard 1's database (client a's) directly, for what the API cannot
 * do: set explicit times, or take an old schema's shape. */
static struct cf_db *shard1_db(struct fixture *fx)
{
    char err[CF_ERR_LEN] = "", uri[CF_DB_URI_MAX + 1];
    struct cf_fsdb_shard *shards = NULL;
    struct cf_db *db = NULL;
    size_t n = 0;

    assert_int_equal(cf_fsdb_shard_list(fx->fs, &shards, &n, err), 0);
    assert_true(n >= 1);
    if (strncmp(shards[0].location, "sqlite:", 7) == 0 && shards[0].location[7] != '/')
        (void)snprintf(uri, sizeof(uri), "sqlite:%s/%s", fx->dir, shards[0].location + 7);
    else
        (void)snprintf(uri, sizeof(uri), "%s", shards[0].location);
    free(shards);
    if (cf_db_open(uri, &db, err) != 0)
        fail_msg("open %s: %s", uri, err);
    return db;
}

/* Run the version expiry of client at now; check it removed `removed`
 * versions and released exactly want[0..nwant) (ascending numbers give
 * ascending texts). */
static void expire_expect(struct fixture *fx, uint64_t client, uint64_t now, size_t removed,
                          const unsigned *want, size_t nwant)
{
    struct cf_fsdb_uuid *v = NULL;
    char u[CF_FSDB_UUID_LEN + 1];
    char err[CF_ERR_LEN] = "";
    size_t n = 0, got = 99;

    if (cf_fsdb_versions_expire(fx->fs, client, now, &got, &v, &n, err) != 0)
        fail_msg("versions_expire: %s", err);
    assert_int_equal(got, removed);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        uuid_of(want[i], u);
        assert_string_equal(v[i].text, u);
    }
    free(v);
}

/* The version numbers of file, oldest first, into out (at most 16); their count. */
static size_t version_numbers(struct fixture *fx, uint64_t client, uint64_t file, unsigned out[16])
{
    struct cf_fsdb_version *v = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;

    if (cf_fsdb_versions(fx->fs, client, file, &v, &n, err) != 0)
        fail_msg("versions: %s", err);
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        out[i] = v[i].number;
        assert_int_equal(v[i].current, i == n - 1);
    }
    free(v);
    return n;
}

/* Empty the trash (entry tid, or all) and check the UUIDs returned are
 * exactly want[0..nwant) (ascending numbers give ascending texts). */
static void empty_expect(struct fixture *fx, uint64_t client, uint64_t tid, const unsigned *want,
                         size_t nwant)
{
    struct cf_fsdb_uuid *v = NULL;
    char u[CF_FSDB_UUID_LEN + 1];
    char err[CF_ERR_LEN] = "";
    size_t n = 0;

    if (cf_fsdb_trash_empty(fx->fs, client, tid, 0, 0, &v, &n, err) != 0)
        fail_msg("trash_empty: %s", err);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        uuid_of(want[i], u);
        assert_string_equal(v[i].text, u);
    }
    free(v);
}

/* The objects pending release of client are exactly want[0..nwant), in
 * any order. */
static void expect_pending(struct fixture *fx, uint64_t client, const unsigned *want, size_t nwant)
{
    struct cf_fsdb_uuid *v = NULL;
    char u[CF_FSDB_UUID_LEN + 1];
    char err[CF_ERR_LEN] = "";
    size_t n = 0;

    if (cf_fsdb_release_pending(fx->fs, client, &v, &n, err) != 0)
        fail_msg("release_pending: %s", err);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        bool found = false;
        uuid_of(want[i], u);
        for (size_t j = 0; j < n; j++)
            found = found || strcmp(v[j].text, u) == 0;
        if (!found)
            fail_msg("%s is not pending release", u);
    }
    free(v);
}

/* ---- clients and isolation ---------------------------------------------------- */

static void test_clients_and_shards(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_client c, *cl = NULL;
    struct cf_fsdb_shard *sv = NULL;
    char err[CF_ERR_LEN] = "";
    uint32_t sid = 0;
    size_t n = 0;
    uint64_t c3, c4;

    /* Least loaded, lowest id on a tie: 1 has acme, 2 has globex. */
    c3 = add_client(fx, "initech", 1);
    c4 = add_client(fx, "umbrella", 2);
    assert_int_equal(cf_fsdb_client_add(fx->fs, "acme", NULL, 0, NULL, err), CF_EEXIST);
    assert_int_equal(cf_fsdb_client_add(fx->fs, "x/y", NULL, 0, NULL, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_client_add(fx->fs, "big", NULL, 17, NULL, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_client_add(fx->fs, "solo", NULL, 1, NULL, err), CF_EINVAL);

    /* A shard added at run time takes the next clients. */
    assert_int_equal(cf_fsdb_shard_add(fx->fs, shard_loc(fx), &sid, err), 0);
    assert_int_equal(sid, 3);
    add_client(fx, "hooli", 3);
    add_client(fx, "wonka", 3);
    assert_int_equal(cf_fsdb_shard_set_read_only(fx->fs, 3, true, err), 0);
    add_client(fx, "stark", 1);
    assert_int_equal(cf_fsdb_shard_set_read_only(fx->fs, 9, true, err), CF_ENOTFOUND);

    assert_int_equal(cf_fsdb_client_get(fx->fs, c3, &c, err), 0);
    assert_string_equal(c.name, "initech");
    assert_string_equal(c.info, "test client");
    assert_int_equal(cf_fsdb_client_find(fx->fs, "umbrella", &c, err), 0);
    assert_int_equal(c.id, c4);
    assert_int_equal(cf_fsdb_client_get(fx->fs, 999, &c, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_client_list(fx->fs, &cl, &n, err), 0);
    assert_int_equal(n, 7);
    assert_string_equal(cl[0].name, "acme");
    free(cl);
    assert_int_equal(cf_fsdb_shard_list(fx->fs, &sv, &n, err), 0);
    assert_int_equal(n, 3);
    assert_true(sv[2].read_only);
    free(sv);

    /* Everything survives a reopen. */
    cf_fsdb_close(fx->fs);
    open_fs(fx);
    assert_int_equal(cf_fsdb_client_get(fx->fs, c4, &c, err), 0);
    assert_int_equal(c.shard, 2);
    assert_int_equal(root(fx, c4) != 0, 1);
}

/* Shards and clients added through another handle (another process) are
 * found by this one at once, one after the other: every shard id fsdb
 * looks up comes from the catalog, so each miss re-reads and finds it. */
static void test_shard_added_elsewhere(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb *other = NULL;
    struct cf_fsdb_client c;
    char err[CF_ERR_LEN] = "", name[16];
    uint32_t sid = 0;

    assert_int_equal(cf_fsdb_open(fx->catalog, 1, &other, err), 0);
    for (uint32_t want = 3; want <= 5; want++) {
        assert_int_equal(cf_fsdb_shard_add(other, shard_loc(fx), &sid, err), 0);
        assert_int_equal(sid, want);
        (void)snprintf(name, sizeof(name), "late%u", (unsigned)want);
        assert_int_equal(cf_fsdb_client_add(other, name, NULL, 0, &c, err), 0);
        assert_int_equal(c.shard, want);
        assert_int_equal(cf_fsdb_mkdir(fx->fs, c.id, root(fx, c.id), "docs", NULL, err), 0);
    }
    /* A client this handle adds to a shard only the other has seen. */
    assert_int_equal(cf_fsdb_shard_add(other, shard_loc(fx), &sid, err), 0);
    assert_int_equal(add_client(fx, "later", 6) != 0, 1);
    cf_fsdb_close(other);
}

static void test_isolation(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_entry e, *v = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), docs, id, u, user_a;
    uint64_t c = add_client(fx, "initech", 1); /* same shard as a */
    struct cf_fsdb_version *vv = NULL;
    enum cf_fsdb_level lvl;
    size_t n = 0;

    docs = mkdir_at(fx, fx->a, ra, "docs");
    e = put(fx, fx->a, docs, "secret.txt", 1);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "$h$1", false, &user_a, err), 0);

    /* Each other client: in another shard (b) and in the same shard (c). */
    uint64_t others[2] = {fx->b, c};
    for (int i = 0; i < 2; i++) {
        uint64_t o = others[i], ro = root(fx, o);

        /* Ids are per shard: in another shard the root may have a's root id. */
        if (ro != ra)
            assert_int_equal(cf_fsdb_list(fx->fs, o, ra, &v, &n, err), CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_resolve(fx->fs, o, "/docs", &id, err), CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_list(fx->fs, o, docs, &v, &n, err), CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_mkdir(fx->fs, o, docs, "x", NULL, err), CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_file_get(fx->fs, o, docs, "secret.txt", &e, err), CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_versions(fx->fs, o, e.id, &vv, &n, err), CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_file_copy(fx->fs, o, e.id, ro, "stolen", 0, NULL, err),
                         CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_move(fx->fs, o, CF_FSDB_FOLDER, docs, ro, NULL, err),
                         CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_move(fx->fs, o, CF_FSDB_FILE, e.id, ro, NULL, err), CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_trash_put(fx->fs, o, CF_FSDB_FILE, e.id, 0, NULL, err),
                         CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_perm_set(fx->fs, o, docs, CF_FSDB_USER, user_a, CF_FSDB_READ, err),
                         CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_user_get(fx->fs, o, "alice", &(struct cf_fsdb_user){0}, err),
                         CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_perm_effective(fx->fs, o, user_a, ro, &lvl, err), CF_ENOTFOUND);
        /* Same names in another client are independent. */
        assert_int_equal(cf_fsdb_mkdir(fx->fs, o, ro, "docs", &u, err), 0);
        assert_int_equal(cf_fsdb_list(fx->fs, o, u, &v, &n, err), 0);
        assert_int_equal(n, 0);
        free(v);
    }
    assert_int_equal(cf_fsdb_mkdir(fx->fs, 4242, ra, "x", NULL, err), CF_ENOTFOUND);
    /* Still there for its owner. */
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/docs/secret.txt", &e, err), 0);
    assert_int_equal(e.kind, CF_FSDB_FILE);
}

/* ---- names and paths ------------------------------------------------------------ */

static void test_names_and_paths(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        const char *name;
        size_t len; /* 0: strlen */
        int rc;
    } cases[] = {
        {"a", 0, 0},
        {"my documents", 0, 0},
        {" leading and trailing ", 0, 0},
        {"\xc3\x9c"
         "berweisung \xe2\x9c\x93.pdf",
         0, 0},
        {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 0, 0},
        {"\xf0\x9f\x98\x80", 0, 0},
        {"...", 0, 0},
        {"", 0, CF_EINVAL},
        {".", 0, CF_EINVAL},
        {"..", 0, CF_EINVAL},
        {"a/b", 0, CF_EINVAL},
        {"a\0b", 3, CF_EINVAL},
        {"\xff", 0, CF_EINVAL},
        {"\xc0\xaf", 0, CF_EINVAL},         /* overlong '/' */
        {"\xed\xa0\x80", 0, CF_EINVAL},     /* surrogate */
        {"\xe6\x97", 0, CF_EINVAL},         /* truncated */
        {"\xf4\x90\x80\x80", 0, CF_EINVAL}, /* above U+10FFFF */
    };
    char name[300], path[CF_FSDB_PATH_MAX + 8], err[CF_ERR_LEN] = "";
    struct cf_fsdb_entry e, *v = NULL;
    uint64_t ra = root(fx, fx->a), id = 0, sub;
    size_t n = 0;

    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].name);
        int rc = cf_fsdb_name_validate(cases[i].name, len, err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: got %d want %d (%s)", i, rc, cases[i].rc, err);
    }
    memset(name, 'n', sizeof(name));
    assert_int_equal(cf_fsdb_name_validate(name, CF_FSDB_NAME_MAX, err), 0);
    assert_int_equal(cf_fsdb_name_validate(name, CF_FSDB_NAME_MAX + 1, err), CF_EINVAL);
    name[CF_FSDB_NAME_MAX + 1] = '\0';
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, ra, name, NULL, err), CF_EINVAL);
    name[CF_FSDB_NAME_MAX] = '\0';
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, ra, name, NULL, err), 0);

    /* Names with spaces and non-ASCII, through paths. */
    sub = mkdir_at(fx, fx->a, ra, "my documents");
    mkdir_at(fx, fx->a, sub, "\xc3\xa9t\xc3\xa9 2024");
    assert_int_equal(
        cf_fsdb_resolve(fx->fs, fx->a, "/my documents/\xc3\xa9t\xc3\xa9 2024", &id, err), 0);
    put(fx, fx->a, id, "\xe6\x97\xa5\xe6\x9c\xac \xe8\xaa\x9e.txt", 5);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a,
                                    "/my documents/\xc3\xa9t\xc3\xa9 2024/"
                                    "\xe6\x97\xa5\xe6\x9c\xac \xe8\xaa\x9e.txt",
                                    &e, err),
                     0);
    assert_int_equal(e.kind, CF_FSDB_FILE);
    assert_int_equal(e.parent, id);
    assert_int_equal(cf_fsdb_list(fx->fs, fx->a, id, &v, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "\xe6\x97\xa5\xe6\x9c\xac \xe8\xaa\x9e.txt");
    free(v);

    /* Good paths. */
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/", &id, err), 0);
    assert_int_equal(id, ra);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/my documents/", &id, err), 0);
    assert_int_equal(id, sub);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/", &e, err), 0);
    assert_int_equal(e.kind, CF_FSDB_FOLDER);
    assert_int_equal(e.parent, 0);

    /* Bad paths. */
    static const char *const bad[] = {
        "",   "a",   "my documents",       "//",    "/my documents//x",
        "/.", "/..", "/my documents/../x", "/\xff", "/my documents//"};
    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
        int rc = cf_fsdb_resolve(fx->fs, fx->a, bad[i], &id, err);
        if (rc != CF_EINVAL)
            fail_msg("path \"%s\": got %d want CF_EINVAL", bad[i], rc);
    }
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, NULL, &id, err), CF_EINVAL);
    memset(path, 'p', sizeof(path));
    path[0] = '/';
    path[CF_FSDB_PATH_MAX + 1] = '\0';
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, path, &id, err), CF_ETOOLARGE);
    /* Missing, and through a file. */
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/nope", &id, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/nope/deeper", &id, err), CF_ENOTFOUND);
    put(fx, fx->a, ra, "file", 6);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/file", &id, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/file/x", &id, err), CF_ENOTFOUND);
    /* Case-sensitive. */
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/My documents", &id, err), CF_ENOTFOUND);
}

/* ---- folders -------------------------------------------------------------------- */

static void test_folders(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_entry *v = NULL, e;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), a, b, c, id;
    size_t n = 0;

    a = mkdir_at(fx, fx->a, ra, "a");
    b = mkdir_at(fx, fx->a, a, "b");
    c = mkdir_at(fx, fx->a, b, "c");
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, ra, "a", NULL, err), CF_EEXIST);
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, 987654, "z", NULL, err), CF_ENOTFOUND);
    put(fx, fx->a, ra, "zeta.txt", 1);
    put(fx, fx->a, ra, "alpha.txt", 2);
    mkdir_at(fx, fx->a, ra, "m");
    /* A folder and a file cannot share a name. */
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, ra, "zeta.txt", NULL, err), CF_EEXIST);
    {
        struct cf_fsdb_put p;
        memset(&p, 0, sizeof(p));
        uuid_of(3, p.uuid);
        assert_int_equal(cf_fsdb_file_put(fx->fs, fx->a, ra, "m", &p, NULL, err), CF_EEXIST);
        p.uuid[0] = 'X';
        assert_int_equal(cf_fsdb_file_put(fx->fs, fx->a, ra, "new", &p, NULL, err), CF_EINVAL);
    }

    /* A folder by name in its parent: only a folder, only directly there. */
    id = 0;
    assert_int_equal(cf_fsdb_folder_find(fx->fs, fx->a, ra, "a", &id, err), 0);
    assert_int_equal(id, a);
    assert_int_equal(cf_fsdb_folder_find(fx->fs, fx->a, a, "b", &id, err), 0);
    assert_int_equal(id, b);
    assert_int_equal(cf_fsdb_folder_find(fx->fs, fx->a, ra, "b", &id, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_folder_find(fx->fs, fx->a, ra, "zeta.txt", &id, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_folder_find(fx->fs, fx->a, ra, "nothing", &id, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_folder_find(fx->fs, fx->a, ra, "a/b", &id, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_folder_find(fx->fs, fx->b, ra, "a", &id, err), CF_ENOTFOUND);
    assert_int_equal(id, b);

    /* Folders by name, then files by name, with sizes. */
    assert_int_equal(cf_fsdb_list(fx->fs, fx->a, ra, &v, &n, err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(v[0].name, "a");
    assert_int_equal(v[0].kind, CF_FSDB_FOLDER);
    assert_string_equal(v[1].name, "m");
    assert_string_equal(v[2].name, "alpha.txt");
    assert_int_equal(v[2].kind, CF_FSDB_FILE);
    assert_int_equal(v[2].size, 200);
    assert_string_equal(v[3].name, "zeta.txt");
    assert_true(v[3].modified_ms > 0);
    free(v);

    /* Into itself or its own subtree: refused; the root does not move. */
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, a, a, NULL, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, a, c, NULL, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, b, c, NULL, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, ra, a, NULL, err), CF_EINVAL);
    /* Name taken at the destination. */
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, c, ra, "m", err), CF_EEXIST);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, c, ra, "alpha.txt", err),
                     CF_EEXIST);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, c, ra, "a/b", err), CF_EINVAL);

    /* Move c up to the root, renamed; b's subtree moves with b. */
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, c, ra, "c2", err), 0);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/c2", &id, err), 0);
    assert_int_equal(id, c);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/a/b/c", &id, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, a, c, NULL, err), 0);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/c2/a/b", &id, err), 0);
    assert_int_equal(id, b);
    /* Rename in place, and a no-op move. */
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, b, a, "bee", err), 0);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, b, a, NULL, err), 0);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/c2/a/bee", &id, err), 0);

    /* Files move and rename too. */
    assert_int_equal(cf_fsdb_file_get(fx->fs, fx->a, ra, "zeta.txt", &e, err), 0);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FILE, e.id, b, "z.txt", err), 0);
    assert_int_equal(cf_fsdb_file_get(fx->fs, fx->a, ra, "zeta.txt", &e, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/c2/a/bee/z.txt", &e, err), 0);
    assert_int_equal(e.size, 100);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FILE, e.id, ra, "m", err), CF_EEXIST);
}

/* ---- users, groups, permissions ------------------------------------------------ */

static enum cf_fsdb_level eff(struct fixture *fx, uint64_t user, uint64_t folder)
{
    enum cf_fsdb_level l = CF_FSDB_READ_WRITE + 1;
    char err[CF_ERR_LEN] = "";

    if (cf_fsdb_perm_effective(fx->fs, fx->a, user, folder, &l, err) != 0)
        fail_msg("effective: %s", err);
    return l;
}

static void set_perm(struct fixture *fx, uint64_t folder, enum cf_fsdb_principal k, uint64_t p,
                     enum cf_fsdb_level l)
{
    char err[CF_ERR_LEN] = "";

    if (cf_fsdb_perm_set(fx->fs, fx->a, folder, k, p, l, err) != 0)
        fail_msg("perm_set: %s", err);
}

static void test_users_groups(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_user u, *uv = NULL;
    struct cf_fsdb_group *gv = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t alice, bob, g1, g2, other;
    size_t n = 0;

    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "$scrypt$abc", false, &alice, err),
                     0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "bob", "$scrypt$def", true, &bob, err), 0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "$x", false, NULL, err), CF_EEXIST);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "carol", "has space", false, NULL, err),
                     CF_EINVAL);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "carol", "", false, NULL, err), CF_EINVAL);
    /* Another client in the same shard, where ids cannot coincide. */
    uint64_t c3 = add_client(fx, "initech", 1);
    assert_int_equal(cf_fsdb_user_add(fx->fs, c3, "alice", "$y", false, &other, err), 0);

    assert_int_equal(cf_fsdb_user_get(fx->fs, fx->a, "alice", &u, err), 0);
    assert_int_equal(u.id, alice);
    assert_string_equal(u.pw_hash, "$scrypt$abc");
    assert_false(u.admin);
    assert_false(u.disabled);
    assert_int_equal(cf_fsdb_user_get(fx->fs, c3, "alice", &u, err), 0);
    assert_string_equal(u.pw_hash, "$y");
    assert_int_equal(cf_fsdb_user_get(fx->fs, fx->b, "alice", &u, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_user_get(fx->fs, fx->a, "nobody", &u, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_user_set_disabled(fx->fs, fx->a, alice, true, err), 0);
    assert_int_equal(cf_fsdb_user_set_disabled(fx->fs, fx->a, other, true, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_user_list(fx->fs, fx->a, &uv, &n, err), 0);
    assert_int_equal(n, 2);
    assert_true(uv[0].disabled);
    assert_true(uv[1].admin);
    free(uv);

    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "staff", &g1, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "ops", &g2, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "ops", NULL, err), CF_EEXIST);
    {
        uint64_t found = 0;
        assert_int_equal(cf_fsdb_group_find(fx->fs, fx->a, "ops", &found, err), 0);
        assert_int_equal(found, g2);
        assert_int_equal(cf_fsdb_group_find(fx->fs, fx->a, "nope", &found, err), CF_ENOTFOUND);
        /* Another client's group of the same name is not found. */
        assert_int_equal(cf_fsdb_group_find(fx->fs, fx->b, "ops", &found, err), CF_ENOTFOUND);
    }
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, g1, alice, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, g1, alice, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, g2, alice, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, g2, other, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, c3, g2, other, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_user_groups(fx->fs, fx->a, alice, &gv, &n, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(gv[0].name, "staff");
    assert_string_equal(gv[1].name, "ops");
    free(gv);
    assert_int_equal(cf_fsdb_group_member_remove(fx->fs, fx->a, g1, alice, err), 0);
    assert_int_equal(cf_fsdb_user_groups(fx->fs, fx->a, alice, &gv, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(gv[0].id, g2);
    free(gv);
    assert_int_equal(cf_fsdb_user_groups(fx->fs, fx->a, bob, &gv, &n, err), 0);
    assert_int_equal(n, 0);
    assert_null(gv);
}

static void test_permissions(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), a, b, c, alice, bob, admin, readers, writers, other;
    struct cf_fsdb_perm *pv = NULL;
    size_t n = 0;

    a = mkdir_at(fx, fx->a, ra, "a");
    b = mkdir_at(fx, fx->a, a, "b");
    c = mkdir_at(fx, fx->a, b, "c");
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "h", false, &alice, err), 0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "bob", "h", false, &bob, err), 0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "admin", "h", true, &admin, err), 0);
    assert_int_equal(
        cf_fsdb_user_add(fx->fs, add_client(fx, "initech", 1), "eve", "h", false, &other, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "readers", &readers, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "writers", &writers, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, readers, alice, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, writers, alice, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, readers, bob, err), 0);

    /* No entry anywhere: none; admin: read-write. */
    uint64_t folders[4] = {ra, a, b, c};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(eff(fx, alice, folders[i]), CF_FSDB_NONE);
        assert_int_equal(eff(fx, admin, folders[i]), CF_FSDB_READ_WRITE);
    }

    /* Group entry at the root is inherited all the way down. */
    set_perm(fx, ra, CF_FSDB_GROUP, readers, CF_FSDB_READ);
    assert_int_equal(eff(fx, alice, c), CF_FSDB_READ);
    assert_int_equal(eff(fx, bob, c), CF_FSDB_READ);
    /* Two groups at one folder: the highest wins; nearer beats the root. */
    set_perm(fx, a, CF_FSDB_GROUP, writers, CF_FSDB_READ_WRITE);
    set_perm(fx, a, CF_FSDB_GROUP, readers, CF_FSDB_READ);
    assert_int_equal(eff(fx, alice, ra), CF_FSDB_READ);
    assert_int_equal(eff(fx, alice, a), CF_FSDB_READ_WRITE);
    assert_int_equal(eff(fx, alice, c), CF_FSDB_READ_WRITE);
    assert_int_equal(eff(fx, bob, c), CF_FSDB_READ);
    /* The user's own entry beats its groups at the same folder, even when lower. */
    set_perm(fx, a, CF_FSDB_USER, alice, CF_FSDB_READ);
    assert_int_equal(eff(fx, alice, a), CF_FSDB_READ);
    assert_int_equal(eff(fx, alice, b), CF_FSDB_READ);
    /* An explicit none lower down stops inheritance... */
    set_perm(fx, b, CF_FSDB_USER, alice, CF_FSDB_NONE);
    assert_int_equal(eff(fx, alice, b), CF_FSDB_NONE);
    assert_int_equal(eff(fx, alice, c), CF_FSDB_NONE);
    assert_int_equal(eff(fx, bob, b), CF_FSDB_READ);
    /* ...and a group entry nearer still wins over it. */
    set_perm(fx, c, CF_FSDB_GROUP, readers, CF_FSDB_READ);
    assert_int_equal(eff(fx, alice, c), CF_FSDB_READ);
    /* Replacing an entry, removing one. */
    set_perm(fx, b, CF_FSDB_USER, alice, CF_FSDB_READ_WRITE);
    assert_int_equal(eff(fx, alice, b), CF_FSDB_READ_WRITE);
    assert_int_equal(cf_fsdb_perm_remove(fx->fs, fx->a, b, CF_FSDB_USER, alice, err), 0);
    assert_int_equal(eff(fx, alice, b), CF_FSDB_READ);
    assert_int_equal(cf_fsdb_perm_remove(fx->fs, fx->a, a, CF_FSDB_USER, alice, err), 0);
    assert_int_equal(eff(fx, alice, b), CF_FSDB_READ_WRITE);
    /* Leaving a group takes its rights away. */
    assert_int_equal(cf_fsdb_group_member_remove(fx->fs, fx->a, writers, alice, err), 0);
    assert_int_equal(eff(fx, alice, b), CF_FSDB_READ);
    /* A disabled user has none, even an admin. */
    assert_int_equal(cf_fsdb_user_set_disabled(fx->fs, fx->a, alice, true, err), 0);
    assert_int_equal(eff(fx, alice, b), CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_user_set_disabled(fx->fs, fx->a, admin, true, err), 0);
    assert_int_equal(eff(fx, admin, b), CF_FSDB_NONE);

    assert_int_equal(cf_fsdb_perm_list(fx->fs, fx->a, a, &pv, &n, err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pv[0].kind, CF_FSDB_GROUP);
    assert_int_equal(pv[0].principal, readers);
    assert_int_equal(pv[0].level, CF_FSDB_READ);
    assert_int_equal(pv[1].principal, writers);
    free(pv);

    /* Principals and folders of another client, bad levels. */
    assert_int_equal(cf_fsdb_perm_set(fx->fs, fx->a, a, CF_FSDB_USER, other, CF_FSDB_READ, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_perm_set(fx->fs, fx->a, a, CF_FSDB_GROUP, alice, CF_FSDB_READ, err),
                     CF_ENOTFOUND);
    assert_int_equal(
        cf_fsdb_perm_set(fx->fs, fx->a, a, CF_FSDB_USER, bob, (enum cf_fsdb_level)3, err),
        CF_EINVAL);
    assert_int_equal(cf_fsdb_perm_effective(fx->fs, fx->a, other, a, &(enum cf_fsdb_level){0}, err),
                     CF_ENOTFOUND);
}

/* A deleted group grants nothing, keeps its members and entries for a
 * restore, holds its name, and a purge removes it for good. */
static void test_group_trash(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), a, alice, admin, readers, staff, found = 0;
    struct cf_fsdb_group *gv = NULL;
    struct cf_fsdb_group_trash *tv = NULL;
    struct cf_fsdb_perm *pv = NULL;
    struct cf_fsdb_user u;
    size_t n = 0;

    a = mkdir_at(fx, fx->a, ra, "a");
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "h", false, &alice, err), 0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "admin", "h", true, &admin, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "readers", &readers, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "staff", &staff, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, readers, alice, err), 0);
    set_perm(fx, a, CF_FSDB_GROUP, readers, CF_FSDB_READ);
    assert_int_equal(eff(fx, alice, a), CF_FSDB_READ);

    /* Passwords are replaced, checked like new ones. */
    assert_int_equal(cf_fsdb_user_set_password(fx->fs, fx->a, alice, "$new$hash", err), 0);
    assert_int_equal(cf_fsdb_user_get(fx->fs, fx->a, "alice", &u, err), 0);
    assert_string_equal(u.pw_hash, "$new$hash");
    assert_int_equal(cf_fsdb_user_set_password(fx->fs, fx->a, alice, "has space", err), CF_EINVAL);
    assert_int_equal(cf_fsdb_user_set_password(fx->fs, fx->a, readers, "$x", err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_user_set_password(fx->fs, fx->b, alice, "$x", err), CF_ENOTFOUND);

    assert_int_equal(cf_fsdb_group_list(fx->fs, fx->a, &gv, &n, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(gv[0].name, "readers");
    free(gv);

    /* Deleted: no rights, not listed, not found, name still taken. */
    assert_int_equal(cf_fsdb_group_delete(fx->fs, fx->a, readers, admin, err), 0);
    assert_int_equal(cf_fsdb_group_delete(fx->fs, fx->a, readers, admin, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_group_delete(fx->fs, fx->b, staff, admin, err), CF_ENOTFOUND);
    assert_int_equal(eff(fx, alice, a), CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_group_list(fx->fs, fx->a, &gv, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(gv[0].id, staff);
    free(gv);
    assert_int_equal(cf_fsdb_user_groups(fx->fs, fx->a, alice, &gv, &n, err), 0);
    assert_int_equal(n, 0);
    free(gv);
    assert_int_equal(cf_fsdb_perm_list(fx->fs, fx->a, a, &pv, &n, err), 0);
    assert_int_equal(n, 0);
    free(pv);
    assert_int_equal(cf_fsdb_group_find(fx->fs, fx->a, "readers", &found, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "readers", NULL, err), CF_EEXIST);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, readers, admin, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_perm_set(fx->fs, fx->a, ra, CF_FSDB_GROUP, readers, CF_FSDB_READ, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_group_trash_list(fx->fs, fx->a, &tv, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(tv[0].id, readers);
    assert_string_equal(tv[0].name, "readers");
    assert_int_equal(tv[0].by_user, admin);
    assert_true(tv[0].deleted_ms > 0);
    free(tv);
    assert_int_equal(cf_fsdb_group_trash_list(fx->fs, fx->b, &tv, &n, err), 0);
    assert_int_equal(n, 0);
    free(tv);

    /* Restored: members and entries are back. */
    assert_int_equal(cf_fsdb_group_restore(fx->fs, fx->b, readers, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_group_restore(fx->fs, fx->a, readers, err), 0);
    assert_int_equal(cf_fsdb_group_restore(fx->fs, fx->a, readers, err), CF_ENOTFOUND);
    assert_int_equal(eff(fx, alice, a), CF_FSDB_READ);
    assert_int_equal(cf_fsdb_group_find(fx->fs, fx->a, "readers", &found, err), 0);
    assert_int_equal(found, readers);

    /* Purged: gone with its members and entries; the name is free. */
    assert_int_equal(cf_fsdb_group_purge(fx->fs, fx->a, readers, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_group_delete(fx->fs, fx->a, readers, 0, err), 0);
    assert_int_equal(cf_fsdb_group_purge(fx->fs, fx->b, readers, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_group_purge(fx->fs, fx->a, readers, err), 0);
    assert_int_equal(cf_fsdb_group_restore(fx->fs, fx->a, readers, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_group_trash_list(fx->fs, fx->a, &tv, &n, err), 0);
    assert_int_equal(n, 0);
    free(tv);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "readers", &found, err), 0);
    assert_true(found != readers);
    assert_int_equal(cf_fsdb_user_groups(fx->fs, fx->a, alice, &gv, &n, err), 0);
    assert_int_equal(n, 0);
    free(gv);
    assert_int_equal(eff(fx, alice, a), CF_FSDB_NONE);
}

/* A shard made before the groups trash gains it on open, its groups and
 * permissions unchanged. */
static void test_group_trash_upgrade(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "", uri[CF_DB_URI_MAX + 1];
    uint64_t ra = root(fx, fx->a), alice = 0, staff = 0;
    struct cf_fsdb_shard *shards = NULL;
    struct cf_db *db = NULL;
    size_t n = 0;

    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "h", false, &alice, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "staff", &staff, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, staff, alice, err), 0);
    set_perm(fx, ra, CF_FSDB_GROUP, staff, CF_FSDB_READ);
    assert_int_equal(cf_fsdb_shard_list(fx->fs, &shards, &n, err), 0);
    assert_true(n >= 1);
    if (strncmp(shards[0].location, "sqlite:", 7) == 0 && shards[0].location[7] != '/')
        (void)snprintf(uri, sizeof(uri), "sqlite:%s/%s", fx->dir, shards[0].location + 7);
    else
        (void)snprintf(uri, sizeof(uri), "%s", shards[0].location);
    free(shards);
    cf_fsdb_close(fx->fs);
    fx->fs = NULL;

    assert_int_equal(cf_db_open(uri, &db, err), 0);
    assert_int_equal(
        cf_db_exec(db, "DROP INDEX group_trash_by_client; DROP TABLE group_trash", err), 0);
    cf_db_close(db);

    open_fs(fx);
    assert_int_equal(eff(fx, alice, ra), CF_FSDB_READ);
    assert_int_equal(cf_fsdb_group_delete(fx->fs, fx->a, staff, 0, err), 0);
    assert_int_equal(eff(fx, alice, ra), CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_group_restore(fx->fs, fx->a, staff, err), 0);
    assert_int_equal(eff(fx, alice, ra), CF_FSDB_READ);
}

/* Version expiry by count (keep N): only non-current versions of live
 * files beyond the N newest go; a UUID another file still names is kept;
 * trashed files (also inside a trashed folder) and other clients keep
 * everything; bad policies are refused. */
static void test_version_expire_count(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_client c;
    struct cf_fsdb_entry f, t, x, bf;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), rb = root(fx, fx->b), d, now = cf_wall_ms();
    unsigned nums[16];
    struct cf_fsdb_uuid *v = NULL;
    size_t removed = 0, n = 0;
    static const unsigned gone[] = {2, 3};

    /* Every version is kept by default. */
    assert_int_equal(cf_fsdb_client_get(fx->fs, fx->a, &c, err), 0);
    assert_int_equal(c.keep_versions, 0);
    assert_int_equal(c.keep_days, 0);
    f = put(fx, fx->a, ra, "f.txt", 1);
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, f.id, ra, "copy.txt", 0, NULL, err), 0);
    for (unsigned i = 2; i <= 5; i++)
        f = put(fx, fx->a, ra, "f.txt", i);
    for (unsigned i = 10; i <= 12; i++)
        t = put(fx, fx->a, ra, "t.txt", i);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, t.id, 0, NULL, err), 0);
    d = mkdir_at(fx, fx->a, ra, "d");
    for (unsigned i = 20; i <= 22; i++)
        x = put(fx, fx->a, d, "x.txt", i);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, d, 0, NULL, err), 0);
    for (unsigned i = 30; i <= 32; i++)
        bf = put(fx, fx->b, rb, "b.txt", i);
    expire_expect(fx, fx->a, now, 0, NULL, 0);

    /* Bad policies and unknown clients. */
    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, fx->a, CF_FSDB_KEEP_VERSIONS_MAX + 1, 0, err),
                     CF_EINVAL);
    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, fx->a, 0, CF_FSDB_KEEP_DAYS_MAX + 1, err),
                     CF_EINVAL);
    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, 999, 2, 0, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_versions_expire(fx->fs, 999, now, &removed, &v, &n, err),
                     CF_ENOTFOUND);
    assert_null(v);

    /* Keep 2: f's versions 1, 2 and 3 go; 1's object is the copy's too. */
    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, fx->a, 2, 0, err), 0);
    assert_int_equal(cf_fsdb_client_get(fx->fs, fx->a, &c, err), 0);
    assert_int_equal(c.keep_versions, 2);
    /* The storage policy is set apart from the expiry policy. */
    assert_false(c.compress || c.encrypt);
    assert_int_equal(cf_fsdb_client_set_xform(fx->fs, fx->a, true, false, err), 0);
    assert_int_equal(cf_fsdb_client_set_xform(fx->fs, 999, true, true, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_client_get(fx->fs, fx->a, &c, err), 0);
    assert_true(c.compress && !c.encrypt);
    assert_int_equal(c.keep_versions, 2);
    assert_int_equal(cf_fsdb_client_set_xform(fx->fs, fx->a, false, true, err), 0);
    assert_int_equal(cf_fsdb_client_get(fx->fs, fx->a, &c, err), 0);
    assert_true(!c.compress && c.encrypt);
    expire_expect(fx, fx->a, now, 3, gone, CF_ARRAY_LEN(gone));
    assert_int_equal(version_numbers(fx, fx->a, f.id, nums), 2);
    assert_int_equal(nums[0], 4);
    assert_int_equal(nums[1], 5);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/f.txt", &f, err), 0);
    assert_int_equal(f.version_no, 5);
    assert_int_equal(f.size, 500);
    expect_pending(fx, fx->a, gone, CF_ARRAY_LEN(gone));
    assert_int_equal(refs(fx, fx->a, 1), 1);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/copy.txt", &x, err), 0);
    assert_int_equal(x.size, 100);
    /* The trash keeps its files' versions; another client is untouched. */
    assert_int_equal(version_numbers(fx, fx->a, t.id, nums), 3);
    assert_int_equal(refs(fx, fx->a, 20), 1);
    assert_int_equal(refs(fx, fx->a, 21), 1);
    assert_int_equal(version_numbers(fx, fx->b, bf.id, nums), 3);
    /* Nothing more to do; keep 1 takes version 4. */
    expire_expect(fx, fx->a, now, 0, NULL, 0);
    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, fx->a, 1, 0, err), 0);
    expire_expect(fx, fx->a, now, 1, (const unsigned[]){4}, 1);
    assert_int_equal(version_numbers(fx, fx->a, f.id, nums), 1);
    assert_int_equal(nums[0], 5);
    /* A file restored from the trash follows the policy again. */
    {
        struct cf_fsdb_trash *tr = NULL;
        size_t nt = 0;

        assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->a, 0, &tr, &nt, err), 0);
        assert_int_equal(nt, 2);
        for (size_t i = 0; i < nt; i++)
            if (tr[i].kind == CF_FSDB_FILE)
                assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tr[i].id, 0, NULL, err), 0);
        free(tr);
    }
    expire_expect(fx, fx->a, now, 2, (const unsigned[]){10, 11}, 2);
    assert_int_equal(refs(fx, fx->a, 20), 1);
}

/* Version expiry by age (keep D days), at explicit times: a version goes
 * once the version that replaced it is more than D days old, not before;
 * with both rules, either one expires. */
static void test_version_expire_days(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_version *vv = NULL;
    struct cf_fsdb_entry g;
    char err[CF_ERR_LEN] = "";
    const uint64_t day = 86400000u, hour = 3600000u;
    uint64_t ra = root(fx, fx->a), base = cf_wall_ms() - 30 * day;
    struct cf_db *db;
    unsigned nums[16];
    size_t n = 0;

    for (unsigned i = 40; i <= 43; i++)
        g = put(fx, fx->a, ra, "g.txt", i);
    /* Versions 1..4 made at base, base + 1 h, base + 3 d, base + 3 d + 1 h. */
    assert_int_equal(cf_fsdb_versions(fx->fs, fx->a, g.id, &vv, &n, err), 0);
    assert_int_equal(n, 4);
    db = shard1_db(fx);
    {
        const uint64_t at[4] = {base, base + hour, base + 3 * day, base + 3 * day + hour};

        for (size_t i = 0; i < 4; i++)
            assert_true(cf_db_run(db, NULL, 0, err,
                                  "UPDATE versions SET created = ?2 WHERE id = ?1", "ii",
                                  (int64_t)vv[i].id, (int64_t)at[i]) >= 0);
    }
    cf_db_close(db);
    free(vv);

    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, fx->a, 0, 1, err), 0);
    /* Version 1 was replaced at base + 1 h: exactly a day later it stays. */
    expire_expect(fx, fx->a, base + day + hour, 0, NULL, 0);
    expire_expect(fx, fx->a, base + day + hour + 1, 1, (const unsigned[]){40}, 1);
    /* Version 2 was replaced at base + 3 d; version 3 an hour later. */
    expire_expect(fx, fx->a, base + 4 * day, 0, NULL, 0);
    expire_expect(fx, fx->a, base + 4 * day + 1, 1, (const unsigned[]){41}, 1);
    assert_int_equal(version_numbers(fx, fx->a, g.id, nums), 2);
    assert_int_equal(nums[0], 3);
    /* Keep 1 version or 30 days: the count rule takes version 3 now. */
    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, fx->a, 1, 30, err), 0);
    expire_expect(fx, fx->a, base + 4 * day + 1, 1, (const unsigned[]){42}, 1);
    assert_int_equal(version_numbers(fx, fx->a, g.id, nums), 1);
    assert_int_equal(nums[0], 4);
    expect_pending(fx, fx->a, (const unsigned[]){40, 41, 42}, 3);
}

/* More expired versions than a batch: one call removes CF_FSDB_EXPIRE_BATCH,
 * the next the rest. */
static void test_version_expire_batches(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_uuid *v = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a);
    size_t removed = 0, n = 0;
    const unsigned total = CF_FSDB_EXPIRE_BATCH + 20;

    for (unsigned i = 1; i <= total; i++)
        (void)put(fx, fx->a, ra, "h.txt", 1000 + i);
    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, fx->a, 1, 0, err), 0);
    assert_int_equal(cf_fsdb_versions_expire(fx->fs, fx->a, cf_wall_ms(), &removed, &v, &n, err),
                     0);
    assert_int_equal(removed, CF_FSDB_EXPIRE_BATCH);
    assert_int_equal(n, CF_FSDB_EXPIRE_BATCH);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(v[i - 1].text, v[i].text) < 0);
    free(v);
    assert_int_equal(cf_fsdb_versions_expire(fx->fs, fx->a, cf_wall_ms(), &removed, &v, &n, err),
                     0);
    assert_int_equal(removed, total - 1 - CF_FSDB_EXPIRE_BATCH);
    assert_int_equal(n, removed);
    free(v);
    assert_int_equal(cf_fsdb_versions_expire(fx->fs, fx->a, cf_wall_ms(), &removed, &v, &n, err),
                     0);
    assert_int_equal(removed, 0);
    assert_null(v);
}

/* A catalog made before the expiry policy gains its columns when opened,
 * every version kept. */
static void test_version_expire_upgrade(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_client c;
    char err[CF_ERR_LEN] = "";
    struct cf_db *db = NULL;

    cf_fsdb_close(fx->fs);
    fx->fs = NULL;
    assert_int_equal(cf_db_open(fx->catalog, &db, err), 0);
    assert_int_equal(cf_db_exec(db,
                                "ALTER TABLE clients DROP COLUMN keep_versions;"
                                " ALTER TABLE clients DROP COLUMN keep_days",
                                err),
                     0);
    cf_db_close(db);
    open_fs(fx);
    assert_int_equal(cf_fsdb_client_get(fx->fs, fx->a, &c, err), 0);
    assert_int_equal(c.keep_versions, 0);
    assert_int_equal(c.keep_days, 0);
    assert_string_equal(c.name, "acme");
    assert_int_equal(cf_fsdb_client_set_keep(fx->fs, fx->a, 3, 7, err), 0);
    assert_int_equal(cf_fsdb_client_get(fx->fs, fx->a, &c, err), 0);
    assert_int_equal(c.keep_versions, 3);
    assert_int_equal(c.keep_days, 7);
}

/* The entry and the level on its governing folder, in one read, agree with
 * cf_fsdb_lookup and cf_fsdb_perm_effective. */
static void test_lookup_access(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), a, b, alice, admin;
    struct cf_fsdb_entry e, f;
    enum cf_fsdb_level lvl = CF_FSDB_NONE;

    a = mkdir_at(fx, fx->a, ra, "a");
    b = mkdir_at(fx, fx->a, a, "b");
    f = put(fx, fx->a, a, "f", 1);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "h", false, &alice, err), 0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "admin", "h", true, &admin, err), 0);
    set_perm(fx, a, CF_FSDB_USER, alice, CF_FSDB_READ);
    set_perm(fx, b, CF_FSDB_USER, alice, CF_FSDB_READ_WRITE);

    /* A folder: its own level, or with of_parent its parent's. */
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, "/a/b", false, &e, &lvl, err), 0);
    assert_int_equal(e.id, b);
    assert_int_equal(lvl, CF_FSDB_READ_WRITE);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, "/a/b/", true, &e, &lvl, err), 0);
    assert_int_equal(e.id, b);
    assert_int_equal(lvl, CF_FSDB_READ);
    /* A file: the folder holding it either way. */
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, "/a/f", false, &e, &lvl, err), 0);
    assert_int_equal(e.kind, CF_FSDB_FILE);
    assert_int_equal(e.id, f.id);
    assert_string_equal(e.uuid, f.uuid);
    assert_int_equal(lvl, CF_FSDB_READ);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, "/a/f", true, &e, &lvl, err), 0);
    assert_int_equal(lvl, CF_FSDB_READ);
    /* The root: none above it; on itself, inherited from nothing. */
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, admin, "/", true, &e, &lvl, err), 0);
    assert_int_equal(e.id, ra);
    assert_int_equal(lvl, CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, admin, "/", false, &e, &lvl, err), 0);
    assert_int_equal(lvl, CF_FSDB_READ_WRITE);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, "/", false, &e, &lvl, err), 0);
    assert_int_equal(lvl, CF_FSDB_NONE);
    /* Missing entries, unknown users and clients; a change is seen by the next read. */
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, "/a/x", false, &e, &lvl, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, 999999, "/a", false, &e, &lvl, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, 999999, alice, "/a", false, &e, &lvl, err),
                     CF_ENOTFOUND);
    set_perm(fx, a, CF_FSDB_USER, alice, CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, "/a/f", false, &e, &lvl, err), 0);
    assert_int_equal(lvl, CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FILE, f.id, b, "g", err), 0);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, "/a/b/g", false, &e, &lvl, err),
                     0);
    assert_int_equal(lvl, CF_FSDB_READ_WRITE);
}

/* The level cf_fsdb_lookup_access gives on the folder governing the entry
 * at path, which must agree with cf_fsdb_perm_effective on that folder. */
static enum cf_fsdb_level eff_path(struct fixture *fx, uint64_t user, const char *path)
{
    enum cf_fsdb_level l = CF_FSDB_READ_WRITE + 1;
    char err[CF_ERR_LEN] = "";
    struct cf_fsdb_entry e;

    if (cf_fsdb_lookup_access(fx->fs, fx->a, user, path, false, &e, &l, err) != 0)
        fail_msg("lookup_access %s: %s", path, err);
    assert_int_equal(l, eff(fx, user, e.kind == CF_FSDB_FOLDER ? e.id : e.parent));
    return l;
}

/* Every rule of fsdb.h "Permissions" through the path look-up, which
 * judges the folders its walk reached without asking again whether they
 * are live. */
static void test_lookup_access_rules(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), a, b, c, alice, bob, admin, readers, writers;
    const char *f = "/a/b/c/f";
    enum cf_fsdb_level lvl = CF_FSDB_NONE;
    struct cf_fsdb_entry e;

    a = mkdir_at(fx, fx->a, ra, "a");
    b = mkdir_at(fx, fx->a, a, "b");
    c = mkdir_at(fx, fx->a, b, "c");
    (void)put(fx, fx->a, c, "f", 1);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "h", false, &alice, err), 0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "bob", "h", false, &bob, err), 0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "admin", "h", true, &admin, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "readers", &readers, err), 0);
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "writers", &writers, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, readers, alice, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, writers, alice, err), 0);
    assert_int_equal(cf_fsdb_group_member_add(fx->fs, fx->a, readers, bob, err), 0);

    /* No entry anywhere: none; an admin: read-write. */
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_NONE);
    assert_int_equal(eff_path(fx, admin, f), CF_FSDB_READ_WRITE);
    assert_int_equal(eff_path(fx, admin, "/"), CF_FSDB_READ_WRITE);

    /* The nearest folder with an entry decides, above and below. */
    set_perm(fx, ra, CF_FSDB_USER, alice, CF_FSDB_READ_WRITE);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_READ_WRITE);
    set_perm(fx, b, CF_FSDB_USER, alice, CF_FSDB_READ);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_READ);
    assert_int_equal(eff_path(fx, alice, "/a/b/c"), CF_FSDB_READ);
    assert_int_equal(eff_path(fx, alice, "/a/b/"), CF_FSDB_READ);
    assert_int_equal(eff_path(fx, alice, "/a"), CF_FSDB_READ_WRITE);
    /* A group entry nearer beats the user's own entry farther up. */
    set_perm(fx, c, CF_FSDB_GROUP, readers, CF_FSDB_NONE);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_NONE);
    assert_int_equal(eff_path(fx, alice, "/a/b"), CF_FSDB_READ);
    /* Among group entries at one folder the highest wins... */
    set_perm(fx, c, CF_FSDB_GROUP, writers, CF_FSDB_READ_WRITE);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_READ_WRITE);
    assert_int_equal(eff_path(fx, bob, f), CF_FSDB_NONE);
    /* ...and the user's own entry there beats them, even when lower. */
    set_perm(fx, c, CF_FSDB_USER, alice, CF_FSDB_READ);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_READ);
    assert_int_equal(cf_fsdb_perm_remove(fx->fs, fx->a, c, CF_FSDB_USER, alice, err), 0);

    /* A group in the groups trash grants nothing: with both gone, the
     * farther folder's entry decides; restored, they count again. */
    assert_int_equal(cf_fsdb_group_delete(fx->fs, fx->a, writers, admin, err), 0);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_group_delete(fx->fs, fx->a, readers, admin, err), 0);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_READ);
    assert_int_equal(eff_path(fx, bob, f), CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_group_restore(fx->fs, fx->a, writers, err), 0);
    assert_int_equal(cf_fsdb_group_restore(fx->fs, fx->a, readers, err), 0);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_READ_WRITE);

    /* A disabled user has none, an admin too. */
    assert_int_equal(cf_fsdb_user_set_disabled(fx->fs, fx->a, alice, true, err), 0);
    assert_int_equal(eff_path(fx, alice, f), CF_FSDB_NONE);
    assert_int_equal(eff_path(fx, alice, "/a"), CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_user_set_disabled(fx->fs, fx->a, admin, true, err), 0);
    assert_int_equal(eff_path(fx, admin, f), CF_FSDB_NONE);
    assert_int_equal(cf_fsdb_user_set_disabled(fx->fs, fx->a, alice, false, err), 0);
    assert_int_equal(cf_fsdb_user_set_disabled(fx->fs, fx->a, admin, false, err), 0);

    /* A folder on the way in the trash: nothing below it is found, by
     * anyone; asked by id, its subfolders are not live either. */
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, b, 0, NULL, err), 0);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, alice, f, false, &e, &lvl, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, admin, f, true, &e, &lvl, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, admin, "/a/b/c", false, &e, &lvl, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_lookup_access(fx->fs, fx->a, admin, "/a/b", false, &e, &lvl, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_perm_effective(fx->fs, fx->a, alice, c, &lvl, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_perm_effective(fx->fs, fx->a, admin, b, &lvl, err), CF_ENOTFOUND);
    assert_int_equal(eff_path(fx, alice, "/a"), CF_FSDB_READ_WRITE);
}

/* The entry, the level and a page of versions in one read, as
 * cf_fsdb_lookup_access and cf_fsdb_versions_page give them apart. */
static void test_lookup_versions(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), a, alice, bob;
    struct cf_fsdb_version *v = NULL, *w = NULL;
    enum cf_fsdb_level lvl = CF_FSDB_NONE;
    struct cf_fsdb_entry e, f;
    size_t n = 0, wn = 0;
    bool more = false, wmore = false;

    a = mkdir_at(fx, fx->a, ra, "a");
    (void)put(fx, fx->a, a, "f", 1);
    (void)put(fx, fx->a, a, "f", 2);
    f = put(fx, fx->a, a, "f", 3);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "alice", "h", false, &alice, err), 0);
    assert_int_equal(cf_fsdb_user_add(fx->fs, fx->a, "bob", "h", false, &bob, err), 0);
    set_perm(fx, a, CF_FSDB_USER, alice, CF_FSDB_READ);

    /* A reader gets the file, its level and the page asked for. */
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a/f", 0, 2, &e, &lvl, &v, &n, &more, err),
        0);
    assert_int_equal(e.kind, CF_FSDB_FILE);
    assert_int_equal(e.id, f.id);
    assert_int_equal(e.version, f.version);
    assert_int_equal(e.version_no, 3);
    assert_string_equal(e.uuid, f.uuid);
    assert_memory_equal(e.sha512, f.sha512, sizeof(e.sha512));
    assert_int_equal(lvl, CF_FSDB_READ);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_int_equal(cf_fsdb_versions_page(fx->fs, fx->a, f.id, 0, 2, &w, &wn, &wmore, err), 0);
    assert_int_equal(wn, n);
    assert_int_equal(wmore, more);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].id, w[i].id);
        assert_int_equal(v[i].file, f.id);
        assert_int_equal(v[i].number, i + 1);
        assert_string_equal(v[i].uuid, w[i].uuid);
        assert_false(v[i].current);
    }
    free(v);
    free(w);
    v = NULL;
    /* The next page, and one past the last. */
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a/f", 2, 2, &e, &lvl, &v, &n, &more, err),
        0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_int_equal(v[0].number, 3);
    assert_int_equal(v[0].id, f.version);
    assert_true(v[0].current);
    free(v);
    more = true;
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a/f", 3, 2, &e, &lvl, &v, &n, &more, err),
        0);
    assert_int_equal(n, 0);
    assert_null(v);
    assert_false(more);

    /* No right to read, or a folder: the entry and level only. */
    n = 9;
    more = true;
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, bob, "/a/f", 0, 10, &e, &lvl, &v, &n, &more, err),
        0);
    assert_int_equal(e.id, f.id);
    assert_int_equal(lvl, CF_FSDB_NONE);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_false(more);
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a", 0, 10, &e, &lvl, &v, &n, &more, err),
        0);
    assert_int_equal(e.kind, CF_FSDB_FOLDER);
    assert_int_equal(e.id, a);
    assert_int_equal(lvl, CF_FSDB_READ);
    assert_null(v);
    assert_int_equal(n, 0);

    /* Bad limits, missing entries, users and clients. */
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a/f", 0, 0, &e, &lvl, &v, &n, &more, err),
        CF_EINVAL);
    assert_int_equal(cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a/f", 0, CF_FSDB_LIST_MAX + 1,
                                             &e, &lvl, &v, &n, &more, err),
                     CF_EINVAL);
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a/g", 0, 10, &e, &lvl, &v, &n, &more, err),
        CF_ENOTFOUND);
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "a/f", 0, 10, &e, &lvl, &v, &n, &more, err),
        CF_EINVAL);
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, 999999, "/a/f", 0, 10, &e, &lvl, &v, &n, &more, err),
        CF_ENOTFOUND);
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, 999999, alice, "/a/f", 0, 10, &e, &lvl, &v, &n, &more, err),
        CF_ENOTFOUND);
    assert_null(v);
    assert_int_equal(n, 0);
    /* In the trash, the file or its folder: not found. */
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, f.id, 0, NULL, err), 0);
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a/f", 0, 10, &e, &lvl, &v, &n, &more, err),
        CF_ENOTFOUND);
    (void)put(fx, fx->a, a, "g", 4);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, a, 0, NULL, err), 0);
    assert_int_equal(
        cf_fsdb_lookup_versions(fx->fs, fx->a, alice, "/a/g", 0, 10, &e, &lvl, &v, &n, &more, err),
        CF_ENOTFOUND);
    assert_null(v);
}

/* ---- files, versions, copies, trash --------------------------------------------- */

static void test_versions(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_version *v = NULL;
    struct cf_fsdb_entry e;
    char err[CF_ERR_LEN] = "", u1[CF_FSDB_UUID_LEN + 1];
    uint64_t ra = root(fx, fx->a);
    size_t n = 0;

    e = put(fx, fx->a, ra, "report.pdf", 1);
    assert_int_equal(e.version_no, 1);
    e = put(fx, fx->a, ra, "report.pdf", 2);
    assert_int_equal(e.version_no, 2);
    e = put(fx, fx->a, ra, "report.pdf", 3);
    assert_int_equal(e.version_no, 3);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/report.pdf", &e, err), 0);
    assert_int_equal(e.size, 300);
    assert_int_equal(e.sha512[10], 3);

    assert_int_equal(cf_fsdb_versions(fx->fs, fx->a, e.id, &v, &n, err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].number, i + 1);
        assert_int_equal(v[i].size, (i + 1) * 100);
        assert_int_equal(v[i].current, i == 2);
    }
    /* Restore version 1: a new current version 4 naming version 1's UUID. */
    assert_int_equal(cf_fsdb_version_restore(fx->fs, fx->a, e.id, v[0].id, 7, &e, err), 0);
    assert_int_equal(e.version_no, 4);
    uuid_of(1, u1);
    assert_string_equal(e.uuid, u1);
    assert_int_equal(e.size, 100);
    assert_int_equal(refs(fx, fx->a, 1), 2);
    assert_int_equal(refs(fx, fx->a, 3), 1);
    assert_int_equal(refs(fx, fx->b, 1), 0);
    assert_int_equal(cf_fsdb_version_restore(fx->fs, fx->a, e.id, 123456, 7, &e, err),
                     CF_ENOTFOUND);
    free(v);
    assert_int_equal(cf_fsdb_versions(fx->fs, fx->a, e.id, &v, &n, err), 0);
    assert_int_equal(n, 4);
    assert_true(v[3].current);
    assert_false(v[2].current);
    assert_int_equal(v[3].by_user, 7);
    free(v);
}

/* S3 versioning: versions by place, newest first, one removed for good,
 * and the files trashed from a folder in key order. */
static void test_version_remove(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_version *v = NULL, one;
    struct cf_fsdb_trash *tv = NULL;
    struct cf_fsdb_uuid gone, *pv = NULL;
    struct cf_fsdb_entry e, g;
    char err[CF_ERR_LEN] = "", u[CF_FSDB_UUID_LEN + 1];
    uint64_t ra = root(fx, fx->a), d = mkdir_at(fx, fx->a, ra, "d"), tid = 0, tid2 = 0;
    uint64_t sizes[2] = {5 << 20, 7}, *got = NULL;
    bool more = true, trashed = true, file_gone = true;
    size_t n = 0;

    (void)put(fx, fx->a, d, "k", 11);
    (void)put(fx, fx->a, d, "k", 12);
    e = put(fx, fx->a, d, "k", 13);
    /* Newest first, in pages. */
    assert_int_equal(cf_fsdb_versions_page_desc(fx->fs, fx->a, e.id, 0, 2, &v, &n, &more, err), 0);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_int_equal(v[0].number, 3);
    assert_true(v[0].current);
    assert_int_equal(v[1].number, 2);
    free(v);
    assert_int_equal(cf_fsdb_versions_page_desc(fx->fs, fx->a, e.id, 2, 2, &v, &n, &more, err), 0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_int_equal(v[0].number, 1);
    one = v[0];
    free(v);
    /* By place: right folder and name only. */
    assert_int_equal(cf_fsdb_version_at(fx->fs, fx->a, d, "k", one.id, &one, &trashed, err), 0);
    assert_int_equal(one.file, e.id);
    assert_false(trashed);
    assert_int_equal(cf_fsdb_version_at(fx->fs, fx->a, ra, "k", one.id, &one, NULL, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_version_at(fx->fs, fx->b, d, "k", one.id, &one, NULL, err),
                     CF_ENOTFOUND);
    /* Another file shares version 1's object: removing it frees nothing. */
    (void)put(fx, fx->a, ra, "share", 11);
    assert_int_equal(cf_fsdb_version_remove(fx->fs, fx->a, one.id, &gone, &file_gone, err), 0);
    assert_string_equal(gone.text, "");
    assert_false(file_gone);
    assert_int_equal(refs(fx, fx->a, 11), 1);
    assert_int_equal(cf_fsdb_version_remove(fx->fs, fx->a, one.id, &gone, &file_gone, err),
                     CF_ENOTFOUND);
    /* The current version goes: the one before becomes current. Its part
     * sizes go with it, so a later version 3 does not inherit them. */
    assert_int_equal(cf_fsdb_s3partsizes_set(fx->fs, fx->a, e.id, 3, sizes, 2, err), 0);
    assert_int_equal(cf_fsdb_version_remove(fx->fs, fx->a, e.version, &gone, &file_gone, err), 0);
    assert_int_equal(cf_fsdb_s3partsizes_get(fx->fs, fx->a, e.id, 3, &got, &n, err), CF_ENOTFOUND);
    uuid_of(13, u);
    assert_string_equal(gone.text, u);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/d/k", &g, err), 0);
    assert_int_equal(g.version_no, 2);
    assert_int_equal(g.size, 1200);
    assert_int_equal(cf_fsdb_release_pending(fx->fs, fx->a, &pv, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(pv[0].text, u);
    free(pv);
    assert_int_equal(cf_fsdb_release_done(fx->fs, fx->a, u, err), 0);

    /* Trashed from d: two deletions of "k" (newest first), one of "j". */
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, g.id, 0, &tid, err), 0);
    e = put(fx, fx->a, d, "k", 14);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 0, &tid2, err), 0);
    e = put(fx, fx->a, d, "j", 15);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 0, NULL, err), 0);
    assert_int_equal(cf_fsdb_version_at(fx->fs, fx->a, d, "k", g.version, &one, &trashed, err), 0);
    assert_true(trashed);
    assert_int_equal(cf_fsdb_trash_page_from(fx->fs, fx->a, d, NULL, 0, 2, &tv, &n, &more, err), 0);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_string_equal(tv[0].orig_name, "j");
    assert_int_equal(tv[1].id, tid2);
    free(tv);
    assert_int_equal(cf_fsdb_trash_page_from(fx->fs, fx->a, d, "k", tid2, 10, &tv, &n, &more, err),
                     0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_int_equal(tv[0].id, tid);
    free(tv);
    assert_int_equal(cf_fsdb_trash_page_from(fx->fs, fx->a, d, "k", 0, 10, &tv, &n, &more, err), 0);
    assert_int_equal(n, 0);
    free(tv);
    /* The trashed file's only version: the file and its trash entry go. */
    assert_int_equal(cf_fsdb_version_remove(fx->fs, fx->a, e.version, &gone, &file_gone, err), 0);
    assert_true(file_gone);
    uuid_of(15, u);
    assert_string_equal(gone.text, u);
    assert_int_equal(cf_fsdb_trash_page_from(fx->fs, fx->a, d, NULL, 0, 10, &tv, &n, &more, err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(tv[0].orig_name, "k");
    free(tv);
    assert_int_equal(cf_fsdb_versions(fx->fs, fx->a, e.id, &v, &n, err), CF_ENOTFOUND);
    free(v);
}

/* Changes made at the same time share transactions (group commit): each
 * still answers as it would alone. Every round, some threads delete one
 * shared file (exactly one wins, the others find it gone) while the others
 * upload new files (all land). */
#define GW_THREADS 16
#define GW_ROUNDS  10

struct gw_thread {
    struct fixture *fx;
    pthread_barrier_t *bar;
    int idx;
    uint64_t folder;
    const uint64_t *shared; /* the file each round's deleters go for */
    int won[GW_ROUNDS];     /* a deleter: its delete of round r succeeded */
    int bad;                /* answers other than those expected */
    char last_err[CF_ERR_LEN];
};

static void *gw_main(void *arg)
{
    struct gw_thread *t = arg;

    for (int r = 0; r < GW_ROUNDS; r++) {
        char err[CF_ERR_LEN] = "", name[32];
        int rc;

        (void)pthread_barrier_wait(t->bar);
        if (t->idx % 4 == 0) {
            rc = cf_fsdb_trash_put(t->fx->fs, t->fx->a, CF_FSDB_FILE, t->shared[r], 0, NULL, err);
            if (rc == 0)
                t->won[r] = 1;
            else if (rc != CF_ENOTFOUND)
                t->bad++;
        } else {
            struct cf_fsdb_put p;
            struct cf_fsdb_entry e;
            unsigned n = 1000u + (unsigned)(t->idx * GW_ROUNDS + r);

            memset(&p, 0, sizeof(p));
            uuid_of(n, p.uuid);
            p.size = n;
            (void)snprintf(name, sizeof(name), "n-%d-%d", t->idx, r);
            rc = cf_fsdb_file_put(t->fx->fs, t->fx->a, t->folder, name, &p, &e, err);
            if (rc != 0 || e.size != n || strcmp(e.name, name) != 0) {
                t->bad++;
                (void)snprintf(t->last_err, sizeof(t->last_err), "%.31s: %.200s", name, err);
            }
        }
    }
    return NULL;
}

static void test_group_write(void **state)
{
    struct fixture *fx = *state;
    struct gw_thread t[GW_THREADS];
    pthread_t th[GW_THREADS];
    pthread_barrier_t bar;
    uint64_t ra = root(fx, fx->a), shared[GW_ROUNDS];
    char err[CF_ERR_LEN] = "";

    for (int r = 0; r < GW_ROUNDS; r++) {
        char name[16];
        (void)snprintf(name, sizeof(name), "s-%d", r);
        shared[r] = put(fx, fx->a, ra, name, (unsigned)(r + 1)).id;
    }
    assert_int_equal(pthread_barrier_init(&bar, NULL, GW_THREADS), 0);
    for (int i = 0; i < GW_THREADS; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        t[i].fx = fx;
        t[i].bar = &bar;
        t[i].idx = i;
        t[i].folder = ra;
        t[i].shared = shared;
        assert_int_equal(pthread_create(&th[i], NULL, gw_main, &t[i]), 0);
    }
    for (int i = 0; i < GW_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int r = 0; r < GW_ROUNDS; r++) {
        int wins = 0;
        char path[16];
        struct cf_fsdb_entry e;
        for (int i = 0; i < GW_THREADS; i += 4)
            wins += t[i].won[r];
        assert_int_equal(wins, 1);
        (void)snprintf(path, sizeof(path), "/s-%d", r);
        assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, path, &e, err), CF_ENOTFOUND);
    }
    for (int i = 0; i < GW_THREADS; i++) {
        if (t[i].bad != 0)
            fail_msg("thread %d: %d unexpected answers (%s)", i, t[i].bad, t[i].last_err);
        for (int r = 0; i % 4 != 0 && r < GW_ROUNDS; r++) {
            char path[32];
            struct cf_fsdb_entry e;
            (void)snprintf(path, sizeof(path), "/n-%d-%d", i, r);
            assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, path, &e, err), 0);
        }
    }
    assert_int_equal(pthread_barrier_destroy(&bar), 0);
}

static void test_copy_and_trash(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_trash *tv = NULL;
    struct cf_fsdb_entry f, g, e;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), tid = 0, tid2 = 0, id;
    size_t n = 0;

    put(fx, fx->a, ra, "f", 1);
    f = put(fx, fx->a, ra, "f", 2);
    /* The copy shares the current version's UUID. */
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, f.id, ra, "g", 0, &g, err), 0);
    assert_string_equal(g.uuid, f.uuid);
    assert_int_equal(g.version_no, 1);
    assert_int_not_equal(g.id, f.id);
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, f.id, ra, "g", 0, NULL, err), CF_EEXIST);
    assert_int_equal(refs(fx, fx->a, 1), 1);
    assert_int_equal(refs(fx, fx->a, 2), 2);

    /* Trash f: gone from paths, still counted, listed. */
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, f.id, 9, &tid, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, f.id, 9, NULL, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/f", &e, err), CF_ENOTFOUND);
    assert_int_equal(refs(fx, fx->a, 2), 2);
    assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->a, 0, &tv, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(tv[0].item, f.id);
    assert_int_equal(tv[0].kind, CF_FSDB_FILE);
    assert_int_equal(tv[0].orig_parent, ra);
    assert_string_equal(tv[0].orig_name, "f");
    assert_int_equal(tv[0].by_user, 9);
    free(tv);
    /* The name is free again; restoring onto it needs another name. */
    put(fx, fx->a, ra, "f", 3);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid, 0, NULL, err), CF_EEXIST);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid, 0, "f (restored)", err), 0);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/f (restored)", &e, err), 0);
    assert_int_equal(e.id, f.id);
    assert_int_equal(e.version_no, 2);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid, 0, NULL, err), CF_ENOTFOUND);

    /* Delete the original for good: only version 1's UUID is unreferenced,
     * since the copy g still names version 2's. */
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, f.id, 0, &tid, err), 0);
    empty_expect(fx, fx->a, 0, (const unsigned[]){1}, 1);
    assert_int_equal(refs(fx, fx->a, 1), 0);
    assert_int_equal(refs(fx, fx->a, 2), 1);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/g", &e, err), 0);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid, 0, NULL, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, g.id, 0, &tid, err), 0);
    empty_expect(fx, fx->a, tid, (const unsigned[]){2}, 1);
    empty_expect(fx, fx->a, 0, NULL, 0);
    assert_int_equal(
        cf_fsdb_trash_empty(fx->fs, fx->a, tid, 0, 0, &(struct cf_fsdb_uuid *){NULL}, &n, err),
        CF_ENOTFOUND);

    /* A folder goes to the trash with its contents. */
    uint64_t d = mkdir_at(fx, fx->a, ra, "d");
    uint64_t sub = mkdir_at(fx, fx->a, d, "sub");
    struct cf_fsdb_entry in_d = put(fx, fx->a, d, "x", 10);
    put(fx, fx->a, sub, "y", 11);
    put(fx, fx->a, sub, "y", 12);
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, in_d.id, ra, "x-copy", 0, NULL, err), 0);
    uint64_t grp = 0;
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "team", &grp, err), 0);
    set_perm(fx, sub, CF_FSDB_GROUP, grp, CF_FSDB_READ);

    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, d, 0, &tid, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, ra, 0, NULL, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/d/sub", &id, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, sub, "z", NULL, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FILE, in_d.id, ra, "x2", err),
                     CF_ENOTFOUND);
    /* A new d while the old one is in the trash; the old one comes back renamed. */
    uint64_t d2 = mkdir_at(fx, fx->a, ra, "d");
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid, 0, NULL, err), CF_EEXIST);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid, d2, NULL, err), 0);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/d/d/sub/y", &e, err), 0);
    assert_int_equal(e.version_no, 2);
    /* A file whose folder is trashed then emptied: its original place is gone. */
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, in_d.id, 0, &tid2, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, d, 0, &tid, err), 0);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid2, 0, NULL, err), CF_ENOTFOUND);
    /* Emptying the folder: y's two UUIDs (11, 12) go; x (10) is in its own
     * trash entry and also copied, so it stays. */
    empty_expect(fx, fx->a, tid, (const unsigned[]){11, 12}, 2);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid2, 0, NULL, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid2, ra, "x", err), 0);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/x", &e, err), 0);
    assert_int_equal(refs(fx, fx->a, 10), 2);
    /* Trash both x and its copy: emptying returns 10 once. */
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 0, NULL, err), 0);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/x-copy", &e, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 0, NULL, err), 0);
    empty_expect(fx, fx->a, 0, (const unsigned[]){10}, 1);
    assert_int_equal(refs(fx, fx->a, 10), 0);
}

/* Emptying many entries at once: files with several versions, copies sharing
 * a UUID inside and outside what is emptied, nested folders with permissions,
 * a file trashed on its own from a folder trashed later, and another client's
 * trash. Exactly the UUIDs no remaining version names come back, once each,
 * and stay pending. */
static void test_trash_empty_many(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_trash *tv = NULL;
    struct cf_fsdb_uuid *uv = NULL;
    struct cf_fsdb_entry e;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), id = 0, grp = 0;
    size_t n = 0;

    uint64_t top = mkdir_at(fx, fx->a, ra, "top");
    uint64_t mid = mkdir_at(fx, fx->a, top, "mid");
    uint64_t deep = mkdir_at(fx, fx->a, mid, "deep");
    uint64_t empty = mkdir_at(fx, fx->a, deep, "empty");
    assert_int_equal(cf_fsdb_group_add(fx->fs, fx->a, "team", &grp, err), 0);
    set_perm(fx, mid, CF_FSDB_GROUP, grp, CF_FSDB_READ);
    set_perm(fx, empty, CF_FSDB_GROUP, grp, CF_FSDB_READ_WRITE);
    put(fx, fx->a, top, "f1", 20);
    put(fx, fx->a, top, "f1", 21);
    put(fx, fx->a, top, "f1", 22);
    /* 23 keeps a live copy outside; 25 is copied inside the emptied subtree. */
    e = put(fx, fx->a, mid, "f2", 23);
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, e.id, ra, "f2-copy", 0, NULL, err), 0);
    put(fx, fx->a, deep, "f3", 24);
    e = put(fx, fx->a, deep, "f3", 25);
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, e.id, mid, "f3-copy", 0, NULL, err), 0);
    /* x is trashed on its own before its folder. */
    e = put(fx, fx->a, mid, "x", 31);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 0, NULL, err), 0);
    /* g's last version has a live copy h: only 26 goes. */
    put(fx, fx->a, ra, "g", 26);
    e = put(fx, fx->a, ra, "g", 27);
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, e.id, ra, "h", 0, NULL, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 0, NULL, err), 0);
    /* k and its copy are both trashed: 28 comes back once. */
    e = put(fx, fx->a, ra, "k", 28);
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, e.id, ra, "k2", 0, NULL, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 0, NULL, err), 0);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/k2", &e, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 0, NULL, err), 0);
    /* A second trashed folder whose file is copied into the first. */
    uint64_t other = mkdir_at(fx, fx->a, ra, "other");
    e = put(fx, fx->a, other, "o", 29);
    assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, e.id, deep, "o-copy", 0, NULL, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, other, 0, NULL, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, top, 0, NULL, err), 0);
    /* Another client's trash is left alone. */
    e = put(fx, fx->b, root(fx, fx->b), "b", 30);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->b, CF_FSDB_FILE, e.id, 0, NULL, err), 0);

    assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->a, 0, &tv, &n, err), 0);
    assert_int_equal(n, 6);
    free(tv);
    empty_expect(fx, fx->a, 0, (const unsigned[]){20, 21, 22, 24, 25, 26, 28, 29, 31}, 9);
    empty_expect(fx, fx->a, 0, NULL, 0);
    assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->a, 0, &tv, &n, err), 0);
    assert_int_equal(n, 0);
    free(tv);
    assert_int_equal(refs(fx, fx->a, 23), 1);
    assert_int_equal(refs(fx, fx->a, 27), 1);
    assert_int_equal(refs(fx, fx->a, 25), 0);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/f2-copy", &e, err), 0);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/h", &e, err), 0);
    assert_int_equal(cf_fsdb_resolve(fx->fs, fx->a, "/top", &id, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, deep, "z", NULL, err), CF_ENOTFOUND);
    /* The released set is pending for the delete service. */
    assert_int_equal(cf_fsdb_release_pending(fx->fs, fx->a, &uv, &n, err), 0);
    assert_int_equal(n, 9);
    free(uv);
    assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->b, 0, &tv, &n, err), 0);
    assert_int_equal(n, 1);
    free(tv);
    assert_int_equal(refs(fx, fx->b, 30), 1);
}

static void test_retention(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_trash *tv = NULL;
    struct cf_fsdb_uuid *uv = NULL;
    struct cf_fsdb_entry f;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), cut;
    size_t n = 0;

    f = put(fx, fx->a, ra, "old", 1);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, f.id, 0, NULL, err), 0);
    /* Wait for the wall clock to tick past the first deletion (bounded poll,
     * not a sleep used as synchronisation: the clock is what is awaited). */
    cut = cf_wall_ms() + 1;
    while (cf_wall_ms() < cut)
        ;
    f = put(fx, fx->a, ra, "new", 2);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, f.id, 0, NULL, err), 0);

    assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->a, cut, &tv, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(tv[0].orig_name, "old");
    free(tv);
    assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->a, 0, &tv, &n, err), 0);
    assert_int_equal(n, 2);
    free(tv);
    assert_int_equal(cf_fsdb_trash_empty(fx->fs, fx->a, 0, cut, 0, &uv, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(refs(fx, fx->a, 1), 0);
    assert_int_equal(refs(fx, fx->a, 2), 1);
    free(uv);
    assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->a, 0, &tv, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(tv[0].orig_name, "new");
    free(tv);

    /* What emptying returned stays pending until the delete service has it. */
    {
        char u1[CF_FSDB_UUID_LEN + 1], u9[CF_FSDB_UUID_LEN + 1];
        uuid_of(1, u1);
        uuid_of(9, u9);
        assert_int_equal(cf_fsdb_release_pending(fx->fs, fx->a, &uv, &n, err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(uv[0].text, u1);
        free(uv);
        assert_int_equal(cf_fsdb_release_pending(fx->fs, fx->b, &uv, &n, err), 0);
        assert_int_equal(n, 0);
        assert_int_equal(cf_fsdb_release_add(fx->fs, fx->a, u9, err), 0);
        assert_int_equal(cf_fsdb_release_add(fx->fs, fx->a, u9, err), 0);
        assert_int_equal(cf_fsdb_release_add(fx->fs, fx->a, "short", err), CF_EINVAL);
        assert_int_equal(cf_fsdb_release_done(fx->fs, fx->a, u1, err), 0);
        assert_int_equal(cf_fsdb_release_done(fx->fs, fx->a, u1, err), 0);
        assert_int_equal(cf_fsdb_release_pending(fx->fs, fx->a, &uv, &n, err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(uv[0].text, u9);
        free(uv);
    }
}

/* ---- concurrency ------------------------------------------------------------------ */

#define PUT_THREADS 4
#define PUT_EACH    20

struct putter {
    struct fixture *fx;
    uint64_t folder;
    unsigned base;
    int failures;
};

static void *putter_main(void *arg)
{
    struct putter *p = arg;

    for (unsigned i = 0; i < PUT_EACH; i++) {
        struct cf_fsdb_put in;
        char err[CF_ERR_LEN] = "";

        memset(&in, 0, sizeof(in));
        uuid_of(p->base + i, in.uuid);
        in.size = p->base + i;
        if (cf_fsdb_file_put(p->fx->fs, p->fx->a, p->folder, "same name.bin", &in, NULL, err) != 0)
            p->failures++;
    }
    return NULL;
}

static void test_concurrent_puts(void **state)
{
    struct fixture *fx = *state;
    struct putter p[PUT_THREADS];
    pthread_t th[PUT_THREADS];
    struct cf_fsdb_version *v = NULL;
    struct cf_fsdb_entry e;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a);
    size_t n = 0, current = 0;
    bool seen[PUT_THREADS * PUT_EACH];

    for (int i = 0; i < PUT_THREADS; i++) {
        p[i].fx = fx;
        p[i].folder = ra;
        p[i].base = 1000 + (unsigned)i * PUT_EACH;
        p[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, putter_main, &p[i]), 0);
    }
    for (int i = 0; i < PUT_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(p[i].failures, 0);
    }
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/same name.bin", &e, err), 0);
    assert_int_equal(cf_fsdb_versions(fx->fs, fx->a, e.id, &v, &n, err), 0);
    assert_int_equal(n, PUT_THREADS * PUT_EACH);
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)v[i].size - 1000;
        char u[CF_FSDB_UUID_LEN + 1];

        assert_int_equal(v[i].number, i + 1);
        assert_true(k < PUT_THREADS * PUT_EACH);
        assert_false(seen[k]);
        seen[k] = true;
        uuid_of(1000 + k, u);
        assert_string_equal(v[i].uuid, u);
        if (v[i].current) {
            current++;
            assert_int_equal(v[i].id, e.version);
            assert_int_equal(i, n - 1);
        }
    }
    assert_int_equal(current, 1);
    free(v);
}

/* Pages of every size, concatenated, give exactly the whole listing, in
 * order: folders, files, versions and trash (keyset pagination). */
static void test_pages(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "", name[32];
    uint64_t r = root(fx, fx->a), box = 0, id = 0;
    struct cf_fsdb_entry *all = NULL, *pg = NULL, last;
    struct cf_fsdb_version *va = NULL, *vp = NULL;
    struct cf_fsdb_trash *ta = NULL, *tp = NULL;
    size_t na = 0, np = 0;
    bool more = true;

    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, r, "box", &box, err), 0);
    /* Names whose byte order differs from their creation order. */
    for (unsigned i = 0; i < 7; i++) {
        (void)snprintf(name, sizeof(name), "d%u", (i * 5) % 7);
        assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, box, name, NULL, err), 0);
        (void)snprintf(name, sizeof(name), "f%u", (i * 3) % 7);
        (void)put(fx, fx->a, box, name, 100 + i);
    }
    (void)put(fx, fx->a, box, "Z", 200); /* before "d0" in byte order */
    assert_int_equal(cf_fsdb_list(fx->fs, fx->a, box, &all, &na, err), 0);
    assert_int_equal(na, 15);
    for (size_t limit = 1; limit <= 16; limit++) {
        size_t seen = 0;
        const struct cf_fsdb_list_pos *after = NULL;
        struct cf_fsdb_list_pos pos;
        more = true;
        while (more) {
            assert_int_equal(
                cf_fsdb_list_page(fx->fs, fx->a, box, after, limit, &pg, &np, &more, err), 0);
            assert_true(np <= limit);
            assert_true(np == limit || !more);
            for (size_t i = 0; i < np; i++, seen++) {
                assert_true(seen < na);
                assert_int_equal(pg[i].id, all[seen].id);
                assert_int_equal(pg[i].kind, all[seen].kind);
                assert_string_equal(pg[i].name, all[seen].name);
            }
            if (np > 0) {
                last = pg[np - 1];
                pos.kind = last.kind;
                (void)snprintf(pos.name, sizeof(pos.name), "%s", last.name);
                after = &pos;
            }
            free(pg);
            pg = NULL;
        }
        assert_int_equal(seen, na);
    }
    assert_int_equal(cf_fsdb_list_page(fx->fs, fx->a, box, NULL, 0, &pg, &np, &more, err),
                     CF_EINVAL);
    assert_int_equal(
        cf_fsdb_list_page(fx->fs, fx->a, box, NULL, CF_FSDB_LIST_MAX + 1, &pg, &np, &more, err),
        CF_EINVAL);
    assert_int_equal(cf_fsdb_list_page(fx->fs, fx->a, 999999, NULL, 5, &pg, &np, &more, err),
                     CF_ENOTFOUND);

    /* Versions: eight of one file, by pages of three. */
    for (unsigned i = 0; i < 7; i++)
        id = put(fx, fx->a, box, "v", 300 + i).id;
    assert_int_equal(cf_fsdb_versions(fx->fs, fx->a, id, &va, &na, err), 0);
    assert_int_equal(na, 7);
    {
        uint32_t after = 0;
        size_t seen = 0;
        more = true;
        while (more) {
            assert_int_equal(
                cf_fsdb_versions_page(fx->fs, fx->a, id, after, 3, &vp, &np, &more, err), 0);
            for (size_t i = 0; i < np; i++, seen++) {
                assert_int_equal(vp[i].id, va[seen].id);
                assert_int_equal(vp[i].current, va[seen].current);
                after = vp[i].number;
            }
            free(vp);
            vp = NULL;
        }
        assert_int_equal(seen, na);
    }
    assert_int_equal(cf_fsdb_versions_page(fx->fs, fx->a, 999999, 0, 3, &vp, &np, &more, err),
                     CF_ENOTFOUND);

    /* Trash: every entry of box, by pages of two. */
    assert_int_equal(cf_fsdb_list(fx->fs, fx->a, box, &pg, &np, err), 0);
    for (size_t i = 0; i < np; i++)
        assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, pg[i].kind, pg[i].id, 0, NULL, err), 0);
    free(pg);
    pg = NULL;
    assert_int_equal(cf_fsdb_trash_list(fx->fs, fx->a, 0, &ta, &na, err), 0);
    assert_int_equal(na, 16);
    {
        uint64_t at = 0, tid = 0;
        size_t seen = 0;
        more = true;
        while (more) {
            assert_int_equal(cf_fsdb_trash_page(fx->fs, fx->a, at, tid, 2, &tp, &np, &more, err),
                             0);
            for (size_t i = 0; i < np; i++, seen++) {
                assert_int_equal(tp[i].id, ta[seen].id);
                at = tp[i].deleted_ms;
                tid = tp[i].id;
            }
            free(tp);
            tp = NULL;
        }
        assert_int_equal(seen, na);
    }
    {
        struct cf_fsdb_trash one;
        assert_int_equal(cf_fsdb_trash_get(fx->fs, fx->a, ta[na - 1].id, &one, err), 0);
        assert_int_equal(one.id, ta[na - 1].id);
        assert_string_equal(one.orig_name, ta[na - 1].orig_name);
        assert_int_equal(cf_fsdb_trash_get(fx->fs, fx->b, ta[na - 1].id, &one, err), CF_ENOTFOUND);
        assert_int_equal(cf_fsdb_trash_get(fx->fs, fx->a, 0, &one, err), CF_ENOTFOUND);
    }
    free(all);
    free(va);
    free(ta);
}

static void test_s3(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    struct cf_fsdb_s3key k = {.client = fx->a, .user = 7}, got, *list = NULL;
    struct cf_fsdb_s3attrs at, back;
    struct cf_fsdb_entry e;
    size_t n = 0;

    memcpy(k.id, "CFKEY1", 7);
    memcpy(k.secret, "s3cr3t/+", 9);
    assert_int_equal(cf_fsdb_s3key_add(fx->fs, &k, err), 0);
    assert_int_equal(cf_fsdb_s3key_add(fx->fs, &k, err), CF_EEXIST);
    k.client = 999999;
    memcpy(k.id, "CFKEY2", 7);
    assert_int_equal(cf_fsdb_s3key_add(fx->fs, &k, err), CF_ENOTFOUND);
    k.client = fx->a;
    memcpy(k.secret, "has space", 10);
    assert_int_equal(cf_fsdb_s3key_add(fx->fs, &k, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_s3key_get(fx->fs, "CFKEY1", &got, err), 0);
    assert_string_equal(got.secret, "s3cr3t/+");
    assert_int_equal(got.client, fx->a);
    assert_int_equal(got.user, 7);
    assert_int_equal(cf_fsdb_s3key_get(fx->fs, "nope", &got, err), CF_ENOTFOUND);
    /* A user holds CF_FSDB_S3KEYS_PER_USER keys at most. */
    memcpy(k.secret, "x", 2);
    for (int i = 2; i <= CF_FSDB_S3KEYS_PER_USER; i++) {
        (void)snprintf(k.id, sizeof(k.id), "CFKEY%d", i);
        assert_int_equal(cf_fsdb_s3key_add(fx->fs, &k, err), 0);
    }
    memcpy(k.id, "CFKEYX", 7);
    assert_int_equal(cf_fsdb_s3key_add(fx->fs, &k, err), CF_ETOOLARGE);
    assert_int_equal(cf_fsdb_s3key_list(fx->fs, fx->a, 7, &list, &n, err), 0);
    assert_int_equal(n, CF_FSDB_S3KEYS_PER_USER);
    free(list);
    assert_int_equal(cf_fsdb_s3key_list(fx->fs, fx->a, 8, &list, &n, err), 0);
    assert_int_equal(n, 0);
    /* Removal is scoped by client and user. */
    assert_int_equal(cf_fsdb_s3key_remove(fx->fs, fx->b, 0, "CFKEY1", err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_s3key_remove(fx->fs, fx->a, 8, "CFKEY1", err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_s3key_remove(fx->fs, fx->a, 7, "CFKEY1", err), 0);
    assert_int_equal(cf_fsdb_s3key_get(fx->fs, "CFKEY1", &got, err), CF_ENOTFOUND);

    e = put(fx, fx->a, root(fx, fx->a), "obj", 10);
    memset(&at, 0, sizeof(at));
    memcpy(at.etag, "0123456789abcdef0123456789abcdef", 33);
    memcpy(at.content_type, "text/plain", 11);
    memcpy(at.meta, "{\"a\":\"b\"}", 10);
    assert_int_equal(cf_fsdb_s3attrs_get(fx->fs, fx->a, e.id, e.version_no, &back, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_s3attrs_set(fx->fs, fx->a, e.id, e.version_no, &at, err), 0);
    memcpy(at.content_type, "image/png", 10);
    assert_int_equal(cf_fsdb_s3attrs_set(fx->fs, fx->a, e.id, e.version_no, &at, err), 0);
    assert_int_equal(cf_fsdb_s3attrs_get(fx->fs, fx->a, e.id, e.version_no, &back, err), 0);
    assert_string_equal(back.etag, at.etag);
    assert_string_equal(back.content_type, "image/png");
    assert_string_equal(back.meta, "{\"a\":\"b\"}");
    assert_int_equal(cf_fsdb_s3attrs_get(fx->fs, fx->b, e.id, e.version_no, &back, err),
                     CF_ENOTFOUND);
    /* Deleted for good, the file takes its attributes along. */
    {
        struct cf_fsdb_uuid *gone = NULL;
        uint64_t tid = 0;
        size_t ng = 0;
        assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 7, &tid, err), 0);
        assert_int_equal(cf_fsdb_s3attrs_get(fx->fs, fx->a, e.id, e.version_no, &back, err), 0);
        assert_int_equal(cf_fsdb_trash_empty(fx->fs, fx->a, tid, 0, 0, &gone, &ng, err), 0);
        free(gone);
        assert_int_equal(cf_fsdb_s3attrs_get(fx->fs, fx->a, e.id, e.version_no, &back, err),
                         CF_ENOTFOUND);
    }
}

/* A file emptied from the trash is recorded with its versions (a folder's
 * files are not), comes back under its ids, named again (so no longer
 * pending release), once; the records expire. */
static void test_emptied(void **state)
{
    static const unsigned gone[] = {501, 502, 503}, left[] = {503};
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "", u[CF_FSDB_UUID_LEN + 1];
    struct cf_fsdb_emptied *list = NULL, one;
    struct cf_fsdb_uuid *uv = NULL;
    struct cf_fsdb_version *vs = NULL;
    struct cf_fsdb_entry e, back;
    uint64_t r = root(fx, fx->a), d, g, tid = 0;
    size_t n = 9;
    bool more = true, named = false;

    d = mkdir_at(fx, fx->a, r, "d");
    g = mkdir_at(fx, fx->a, r, "g");
    (void)put(fx, fx->a, d, "f", 501);
    e = put(fx, fx->a, d, "f", 502);
    (void)put(fx, fx->a, g, "h", 503);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 7, &tid, err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FOLDER, g, 7, NULL, err), 0);
    assert_int_equal(cf_fsdb_trash_empty(fx->fs, fx->a, 0, 0, 9, &uv, &n, err), 0);
    assert_int_equal(n, 3);
    free(uv);
    expect_pending(fx, fx->a, gone, 3);
    assert_int_equal(cf_fsdb_emptied_page(fx->fs, fx->b, 0, 0, 10, &list, &n, &more, err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cf_fsdb_emptied_page(fx->fs, fx->a, 0, 0, 10, &list, &n, &more, err), 0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_int_equal(list[0].id, e.id);
    assert_string_equal(list[0].orig_name, "f");
    assert_int_equal(list[0].orig_parent, d);
    assert_int_equal(list[0].size, 50200);
    assert_int_equal(list[0].versions, 2);
    assert_int_equal(list[0].deleted_by, 7);
    assert_int_equal(list[0].emptied_by, 9);
    free(list);
    assert_int_equal(cf_fsdb_emptied_get(fx->fs, fx->a, e.id, &one, &uv, &n, err), 0);
    assert_int_equal(n, 2);
    uuid_of(501, u);
    assert_string_equal(uv[0].text, u);
    free(uv);
    assert_int_equal(cf_fsdb_emptied_get(fx->fs, fx->b, e.id, &one, &uv, &n, err), CF_ENOTFOUND);
    assert_null(uv);
    /* A taken name refuses, and changes nothing. */
    (void)put(fx, fx->a, d, "f", 504);
    assert_int_equal(cf_fsdb_emptied_restore(fx->fs, fx->a, e.id, 0, NULL, true, err), CF_EEXIST);
    assert_int_equal(cf_fsdb_emptied_restore(fx->fs, fx->a, e.id, 0, NULL, false, err), CF_EEXIST);
    assert_int_equal(cf_fsdb_emptied_restore(fx->fs, fx->a, e.id, g, NULL, false, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_emptied_restore(fx->fs, fx->a, e.id, r, "f2", true, err), 0);
    assert_int_equal(cf_fsdb_file_get(fx->fs, fx->a, r, "f2", &back, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_emptied_restore(fx->fs, fx->a, e.id, r, "f2", false, err), 0);
    assert_int_equal(cf_fsdb_file_get(fx->fs, fx->a, r, "f2", &back, err), 0);
    assert_int_equal(back.id, e.id);
    assert_int_equal(back.version, e.version);
    assert_string_equal(back.uuid, e.uuid);
    assert_int_equal(cf_fsdb_versions(fx->fs, fx->a, e.id, &vs, &n, err), 0);
    assert_int_equal(n, 2);
    free(vs);
    expect_pending(fx, fx->a, left, 1);
    assert_int_equal(cf_fsdb_uuid_named(fx->fs, fx->a, e.uuid, &named, err), 0);
    assert_true(named);
    uuid_of(503, u);
    assert_int_equal(cf_fsdb_uuid_named(fx->fs, fx->a, u, &named, err), 0);
    assert_false(named);
    assert_int_equal(cf_fsdb_emptied_restore(fx->fs, fx->a, e.id, r, "f3", false, err),
                     CF_ENOTFOUND);
    /* Expiry and drop. */
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 7, NULL, err), 0);
    assert_int_equal(cf_fsdb_trash_empty(fx->fs, fx->a, 0, 0, 9, &uv, &n, err), 0);
    free(uv);
    assert_int_equal(cf_fsdb_emptied_expire(fx->fs, fx->a, 1, err), 0);
    assert_int_equal(cf_fsdb_emptied_page(fx->fs, fx->a, 0, 0, 10, &list, &n, &more, err), 0);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(cf_fsdb_emptied_expire(fx->fs, fx->a, cf_wall_ms() + 1000, err), 0);
    assert_int_equal(cf_fsdb_emptied_page(fx->fs, fx->a, 0, 0, 10, &list, &n, &more, err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cf_fsdb_emptied_drop(fx->fs, fx->a, e.id, err), 0);
}

/* The part sizes of a completed upload: kept per version, replaced,
 * scoped by client, bounded, and deleted with the file. */
static void test_s3_part_sizes(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    uint64_t sizes[3] = {5242880, 5242880, 0}, *back = NULL, *many;
    struct cf_fsdb_entry e;
    size_t n = 7;

    e = put(fx, fx->a, root(fx, fx->a), "mp", 10485760);
    assert_int_equal(cf_fsdb_s3partsizes_get(fx->fs, fx->a, e.id, e.version_no, &back, &n, err),
                     CF_ENOTFOUND);
    assert_null(back);
    assert_int_equal(n, 0);
    assert_int_equal(cf_fsdb_s3partsizes_set(fx->fs, fx->a, e.id, e.version_no, sizes, 0, err),
                     CF_EINVAL);
    assert_int_equal(cf_fsdb_s3partsizes_set(fx->fs, fx->a, e.id, e.version_no, sizes, 3, err), 0);
    assert_int_equal(cf_fsdb_s3partsizes_get(fx->fs, fx->a, e.id, e.version_no, &back, &n, err), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(back, sizes, sizeof(sizes));
    free(back);
    /* Replaced whole; the most parts an upload has, with the largest sizes. */
    many = calloc(CF_FSDB_S3_PARTS_MAX + 1, sizeof(*many));
    assert_non_null(many);
    for (size_t i = 0; i <= CF_FSDB_S3_PARTS_MAX; i++)
        many[i] = UINT64_MAX - i;
    assert_int_equal(cf_fsdb_s3partsizes_set(fx->fs, fx->a, e.id, e.version_no, many,
                                             CF_FSDB_S3_PARTS_MAX + 1, err),
                     CF_EINVAL);
    assert_int_equal(
        cf_fsdb_s3partsizes_set(fx->fs, fx->a, e.id, e.version_no, many, CF_FSDB_S3_PARTS_MAX, err),
        0);
    assert_int_equal(cf_fsdb_s3partsizes_get(fx->fs, fx->a, e.id, e.version_no, &back, &n, err), 0);
    assert_int_equal(n, CF_FSDB_S3_PARTS_MAX);
    assert_memory_equal(back, many, CF_FSDB_S3_PARTS_MAX * sizeof(*many));
    free(back);
    free(many);
    assert_int_equal(cf_fsdb_s3partsizes_set(fx->fs, fx->a, e.id, e.version_no, sizes, 1, err), 0);
    assert_int_equal(cf_fsdb_s3partsizes_get(fx->fs, fx->a, e.id, e.version_no, &back, &n, err), 0);
    assert_int_equal(n, 1);
    assert_true(back[0] == sizes[0]);
    free(back);
    /* Another client sees nothing of it. */
    assert_int_equal(cf_fsdb_s3partsizes_get(fx->fs, fx->b, e.id, e.version_no, &back, &n, err),
                     CF_ENOTFOUND);
    /* Deleted for good, the file takes its part sizes along. */
    {
        struct cf_fsdb_uuid *gone = NULL;
        uint64_t tid = 0;
        size_t ng = 0;
        assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, e.id, 7, &tid, err), 0);
        assert_int_equal(cf_fsdb_trash_empty(fx->fs, fx->a, tid, 0, 0, &gone, &ng, err), 0);
        free(gone);
        assert_int_equal(cf_fsdb_s3partsizes_get(fx->fs, fx->a, e.id, e.version_no, &back, &n, err),
                         CF_ENOTFOUND);
    }
}

/* S3 key order: a folder sorts as its name and '/', so "a b/" and "a-"
 * come before "a/", which name order puts first; every page size gives the
 * same sequence. */
static void test_s3_page(void **state)
{
    static const char *const want[] = {"a b/", "a-", "a.txt", "a/", "b", "c/"};
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "", key[CF_FSDB_NAME_MAX + 2] = "";
    uint64_t r = root(fx, fx->a), box = 0;
    struct cf_fsdb_s3_item *v = NULL;
    struct cf_fsdb_s3attrs at;
    struct cf_fsdb_entry e;
    size_t n = 0;
    bool more = false;

    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, r, "box", &box, err), 0);
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, box, "a", NULL, err), 0);
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, box, "a b", NULL, err), 0);
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, box, "c", NULL, err), 0);
    (void)put(fx, fx->a, box, "b", 1);
    (void)put(fx, fx->a, box, "a.txt", 2);
    e = put(fx, fx->a, box, "a-", 3);
    memset(&at, 0, sizeof(at));
    memcpy(at.etag, "0123456789abcdef0123456789abcdef", 33);
    memcpy(at.meta, "{}", 3);
    assert_int_equal(cf_fsdb_s3attrs_set(fx->fs, fx->a, e.id, e.version_no, &at, err), 0);
    for (size_t limit = 1; limit <= 7; limit++) {
        size_t seen = 0;
        key[0] = '\0';
        more = true;
        while (more) {
            assert_int_equal(cf_fsdb_s3_page(fx->fs, fx->a, box, seen > 0 ? key : NULL, limit, &v,
                                             &n, &more, err),
                             0);
            assert_true(n <= limit);
            for (size_t i = 0; i < n; i++) {
                assert_true(seen < 6);
                (void)snprintf(key, sizeof(key), "%s%s", v[i].e.name,
                               v[i].e.kind == CF_FSDB_FOLDER ? "/" : "");
                assert_string_equal(key, want[seen]);
                if (strcmp(key, "a-") == 0) {
                    assert_string_equal(v[i].etag, at.etag);
                    assert_int_equal(v[i].e.size, e.size);
                } else {
                    assert_string_equal(v[i].etag, "");
                }
                seen++;
            }
            free(v);
            v = NULL;
        }
        assert_int_equal(seen, 6);
    }
    assert_int_equal(cf_fsdb_s3_page(fx->fs, fx->a, box, "a/", 10, &v, &n, &more, err), 0);
    assert_int_equal(n, 2);
    assert_false(more);
    free(v);
    assert_int_equal(cf_fsdb_s3_page(fx->fs, fx->b, box, NULL, 10, &v, &n, &more, err),
                     CF_ENOTFOUND);
}

/* Multipart uploads: parts replaced and listed in pages, uploads listed by
 * key and by age, removal; every object let go is pending release. */
static void test_s3_uploads(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    struct cf_fsdb_s3upload u, back, *uv = NULL;
    struct cf_fsdb_s3part p, *pv = NULL;
    struct cf_fsdb_uuid old, *gone = NULL;
    char ub[CF_FSDB_UUID_LEN + 1];
    size_t n = 0, ngone = 0;
    bool more = false;
    static const char *const ids[] = {"0000000000000000000000000000000a",
                                      "0000000000000000000000000000000b",
                                      "0000000000000000000000000000000c"};
    static const char *const keys[] = {"k/b", "k/a", "k/b"};

    for (size_t i = 0; i < 3; i++) {
        memset(&u, 0, sizeof(u));
        memcpy(u.id, ids[i], 33);
        u.user = 7;
        memcpy(u.bucket, "bk", 3);
        (void)snprintf(u.key, sizeof(u.key), "%s", keys[i]);
        memcpy(u.attrs.content_type, "text/plain", 11);
        memcpy(u.attrs.meta, "{}", 3);
        assert_int_equal(cf_fsdb_s3upload_add(fx->fs, fx->a, &u, err), 0);
    }
    assert_int_equal(cf_fsdb_s3upload_add(fx->fs, fx->a, &u, err), CF_EEXIST);
    memcpy(u.id, "not-hex", 8);
    assert_int_equal(cf_fsdb_s3upload_add(fx->fs, fx->a, &u, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_s3upload_get(fx->fs, fx->a, ids[1], &back, err), 0);
    assert_string_equal(back.key, "k/a");
    assert_string_equal(back.attrs.content_type, "text/plain");
    assert_int_equal(back.user, 7);
    assert_int_equal(cf_fsdb_s3upload_get(fx->fs, fx->b, ids[1], &back, err), CF_ENOTFOUND);

    /* By key, then id; in pages; with a prefix; after a key. */
    assert_int_equal(
        cf_fsdb_s3upload_list(fx->fs, fx->a, "bk", "", "", "", 0, 10, &uv, &n, &more, err), 0);
    assert_int_equal(n, 3);
    assert_false(more);
    assert_string_equal(uv[0].id, ids[1]);
    assert_string_equal(uv[1].id, ids[0]);
    assert_string_equal(uv[2].id, ids[2]);
    free(uv);
    assert_int_equal(
        cf_fsdb_s3upload_list(fx->fs, fx->a, "bk", "", "k/b", ids[0], 0, 1, &uv, &n, &more, err),
        0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_string_equal(uv[0].id, ids[2]);
    free(uv);
    assert_int_equal(
        cf_fsdb_s3upload_list(fx->fs, fx->a, "bk", "", "k/a", "", 0, 1, &uv, &n, &more, err), 0);
    assert_int_equal(n, 1);
    assert_true(more);
    assert_string_equal(uv[0].id, ids[0]);
    free(uv);
    assert_int_equal(
        cf_fsdb_s3upload_list(fx->fs, fx->a, "bk", "k/a", "", "", 0, 10, &uv, &n, &more, err), 0);
    assert_int_equal(n, 1);
    free(uv);
    assert_int_equal(
        cf_fsdb_s3upload_list(fx->fs, fx->a, "other", "", "", "", 0, 10, &uv, &n, &more, err), 0);
    assert_int_equal(n, 0);
    /* By age: all started before a moment from now. */
    assert_int_equal(cf_fsdb_s3upload_list(fx->fs, fx->a, "", "", "", "", cf_wall_ms() + 1000, 10,
                                           &uv, &n, &more, err),
                     0);
    assert_int_equal(n, 3);
    free(uv);
    assert_int_equal(
        cf_fsdb_s3upload_list(fx->fs, fx->a, "", "", "", "", 1, 10, &uv, &n, &more, err), 0);
    assert_int_equal(n, 0);

    /* Parts: one replaced (the old object pending release), listed. */
    memset(&p, 0, sizeof(p));
    memcpy(p.md5, "0123456789abcdef0123456789abcdef", 33);
    p.sha512[0] = 0xab;
    for (unsigned i = 1; i <= 3; i++) {
        p.number = i;
        p.size = i * 100;
        uuid_of(100 + i, p.uuid);
        assert_int_equal(cf_fsdb_s3part_put(fx->fs, fx->a, ids[0], &p, &old, err), 0);
        assert_string_equal(old.text, "");
    }
    p.number = 2;
    p.size = 200;
    uuid_of(200, p.uuid);
    assert_int_equal(cf_fsdb_s3part_put(fx->fs, fx->a, ids[0], &p, &old, err), 0);
    uuid_of(102, ub);
    assert_string_equal(old.text, ub);
    expect_pending(fx, fx->a, (const unsigned[]){102}, 1);
    assert_int_equal(cf_fsdb_s3part_put(fx->fs, fx->b, ids[0], &p, &old, err), CF_ENOTFOUND);
    p.number = 0;
    assert_int_equal(cf_fsdb_s3part_put(fx->fs, fx->a, ids[0], &p, &old, err), CF_EINVAL);
    assert_int_equal(cf_fsdb_s3part_list(fx->fs, fx->a, ids[0], 0, 2, &pv, &n, &more, err), 0);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_int_equal(pv[0].number, 1);
    assert_int_equal(pv[1].number, 2);
    assert_int_equal(pv[1].size, 200);
    assert_int_equal(pv[1].sha512[0], 0xab);
    uuid_of(200, ub);
    assert_string_equal(pv[1].uuid, ub);
    free(pv);
    assert_int_equal(cf_fsdb_s3part_list(fx->fs, fx->a, ids[0], 2, 10, &pv, &n, &more, err), 0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_int_equal(pv[0].number, 3);
    free(pv);

    /* Removal: the upload and its parts go, their objects pending. */
    assert_int_equal(cf_fsdb_s3upload_remove(fx->fs, fx->b, ids[0], &gone, &ngone, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_s3upload_remove(fx->fs, fx->a, ids[0], &gone, &ngone, err), 0);
    assert_int_equal(ngone, 3);
    free(gone);
    expect_pending(fx, fx->a, (const unsigned[]){101, 102, 103, 200}, 4);
    assert_int_equal(cf_fsdb_s3upload_remove(fx->fs, fx->a, ids[0], &gone, &ngone, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_s3upload_get(fx->fs, fx->a, ids[0], &back, err), CF_ENOTFOUND);
    assert_int_equal(cf_fsdb_s3part_list(fx->fs, fx->a, ids[0], 0, 10, &pv, &n, &more, err), 0);
    assert_int_equal(n, 0);
    p.number = 1;
    assert_int_equal(cf_fsdb_s3part_put(fx->fs, fx->a, ids[0], &p, &old, err), CF_ENOTFOUND);
}

/* Read client's changes after `after` (all of them, one page). */
static struct cf_fsdb_change *changes(struct fixture *fx, uint64_t client, uint64_t after,
                                      size_t *n, uint64_t *latest)
{
    struct cf_fsdb_change *v = NULL;
    char err[CF_ERR_LEN] = "";
    bool more = true, gone = true;

    if (cf_fsdb_changes_page(fx->fs, client, after, CF_FSDB_CHANGES_MAX, &v, n, &more, &gone,
                             latest, err) != 0)
        fail_msg("changes: %s", err);
    assert_false(more);
    assert_false(gone);
    return v;
}

/* The journal: one row per change, in order, with its paths; none for a
 * change that failed; another client's unseen; a page cut by limit; the
 * waiters woken; pruning raises the floor, below which a cursor is gone. */
static void test_changes(void **state)
{
    struct fixture *fx = *state;
    struct cf_fsdb_change *v = NULL;
    struct cf_fsdb_entry f, e;
    char err[CF_ERR_LEN] = "";
    uint64_t ra = root(fx, fx->a), d, d2, tid = 0, latest = 0, start, gen, after;
    size_t n = 0, removed = 0;
    bool more = false, gone = false;

    v = changes(fx, fx->a, 0, &n, &start);
    assert_int_equal(n, 0);
    assert_int_equal(start, 0);
    gen = cf_fsdb_changes_gen(fx->fs);
    d = mkdir_at(fx, fx->a, ra, "docs");
    assert_true(cf_fsdb_changes_wait(fx->fs, gen, 0));
    f = put(fx, fx->a, d, "a.txt", 1);
    put(fx, fx->a, d, "a.txt", 2);
    d2 = mkdir_at(fx, fx->a, ra, "old");
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FILE, f.id, d2, "b.txt", err), 0);
    assert_int_equal(cf_fsdb_move(fx->fs, fx->a, CF_FSDB_FOLDER, d2, ra, "new", err), 0);
    assert_int_equal(cf_fsdb_trash_put(fx->fs, fx->a, CF_FSDB_FILE, f.id, 0, &tid, err), 0);
    assert_int_equal(cf_fsdb_trash_restore(fx->fs, fx->a, tid, d, NULL, err), 0);
    /* Failed changes leave no row. */
    assert_int_equal(cf_fsdb_mkdir(fx->fs, fx->a, ra, "docs", NULL, err), CF_EEXIST);
    put(fx, fx->b, root(fx, fx->b), "other", 3);

    v = changes(fx, fx->a, 0, &n, &latest);
    assert_int_equal(n, 8);
    assert_int_equal(latest, v[7].seq);
    assert_int_equal(v[0].kind, CF_FSDB_CH_MKDIR);
    assert_int_equal(v[0].type, CF_FSDB_FOLDER);
    assert_string_equal(v[0].path, "/docs");
    assert_int_equal(v[1].kind, CF_FSDB_CH_PUT);
    assert_string_equal(v[1].path, "/docs/a.txt");
    assert_int_equal(v[1].size, 100);
    assert_int_equal(v[2].size, 200);
    assert_int_equal(v[2].sha512[0], 2);
    assert_int_equal(v[2].item, f.id);
    assert_int_equal(v[4].kind, CF_FSDB_CH_MOVE);
    assert_string_equal(v[4].path, "/old/b.txt");
    assert_string_equal(v[4].old_path, "/docs/a.txt");
    assert_int_equal(v[4].size, 200);
    assert_string_equal(v[5].path, "/new");
    assert_string_equal(v[5].old_path, "/old");
    assert_int_equal(v[6].kind, CF_FSDB_CH_DELETE);
    assert_string_equal(v[6].path, "/new/b.txt");
    assert_int_equal(v[6].folder, d2);
    for (size_t i = 1; i < n; i++)
        assert_true(v[i].seq > v[i - 1].seq);
    after = v[6].seq;
    free(v);
    assert_int_equal(cf_fsdb_lookup(fx->fs, fx->a, "/docs/b.txt", &e, err), 0);
    v = changes(fx, fx->a, after, &n, &start);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].kind, CF_FSDB_CH_RESTORE);
    assert_string_equal(v[0].path, "/docs/b.txt");
    assert_int_equal(v[0].version, e.version);
    latest = v[0].seq;
    assert_int_equal(start, latest);
    free(v);
    /* A page of two, and more follow. */
    assert_int_equal(cf_fsdb_changes_page(fx->fs, fx->a, 0, 2, &v, &n, &more, &gone, NULL, err), 0);
    assert_int_equal(n, 2);
    assert_true(more);
    free(v);
    assert_int_equal(cf_fsdb_changes_page(fx->fs, fx->a, 0, 0, &v, &n, &more, &gone, NULL, err),
                     CF_EINVAL);
    /* Nothing comes: the wait times out. */
    gen = cf_fsdb_changes_gen(fx->fs);
    assert_false(cf_fsdb_changes_wait(fx->fs, gen, 20));

    /* Prune all: the floor is the last one; a cursor below it is gone. */
    assert_int_equal(cf_fsdb_changes_prune(fx->fs, fx->a, cf_wall_ms() + 1000, &removed, err), 0);
    assert_int_equal(removed, 8);
    assert_int_equal(cf_fsdb_changes_page(fx->fs, fx->a, 0, 10, &v, &n, &more, &gone, &start, err),
                     0);
    assert_true(gone);
    assert_int_equal(n, 0);
    assert_int_equal(start, latest);
    v = changes(fx, fx->a, latest, &n, &start);
    assert_int_equal(n, 0);
    put(fx, fx->a, ra, "after", 4);
    v = changes(fx, fx->a, latest, &n, NULL);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].path, "/after");
    free(v);
    /* A copy and a version restore are new versions; removing the current
     * version makes the previous one current (a put); removing the only
     * version of a live file removes it (a delete). */
    {
        struct cf_fsdb_entry g, h, r;
        struct cf_fsdb_uuid gone1;
        bool file_gone = false;
        uint64_t mark = 0;

        v = changes(fx, fx->a, latest, &n, &mark);
        free(v);
        g = put(fx, fx->a, ra, "g", 5);
        h = put(fx, fx->a, ra, "g", 6);
        assert_int_equal(cf_fsdb_file_copy(fx->fs, fx->a, g.id, ra, "g2", 0, NULL, err), 0);
        assert_int_equal(cf_fsdb_version_restore(fx->fs, fx->a, g.id, g.version, 0, &r, err), 0);
        assert_int_equal(cf_fsdb_version_remove(fx->fs, fx->a, r.version, &gone1, &file_gone, err),
                         0);
        assert_false(file_gone);
        v = changes(fx, fx->a, mark, &n, NULL);
        assert_int_equal(n, 5);
        assert_string_equal(v[2].path, "/g2");
        assert_int_equal(v[2].kind, CF_FSDB_CH_PUT);
        assert_int_equal(v[3].version, r.version);
        assert_int_equal(v[4].kind, CF_FSDB_CH_PUT);
        assert_int_equal(v[4].version, h.version);
        mark = v[4].seq;
        free(v);
        e = put(fx, fx->a, ra, "solo", 7);
        assert_int_equal(cf_fsdb_version_remove(fx->fs, fx->a, e.version, &gone1, &file_gone, err),
                         0);
        assert_true(file_gone);
        v = changes(fx, fx->a, mark, &n, NULL);
        assert_int_equal(n, 2);
        assert_int_equal(v[1].kind, CF_FSDB_CH_DELETE);
        assert_string_equal(v[1].path, "/solo");
        free(v);
    }
    /* The other client's journal is untouched. */
    v = changes(fx, fx->b, 0, &n, NULL);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].path, "/other");
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clients_and_shards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shard_added_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_and_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_trash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_trash_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_access_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_expire_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_expire_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_expire_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_expire_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_and_trash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trash_empty_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_puts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_part_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emptied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_uploads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
    };

    cf_log_init("test_fsdb", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
