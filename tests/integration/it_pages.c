/*
 * it_pages.c -- listings come in pages with a cursor (gateway.h, fsdb.h):
 * a folder of 100,006 entries is listed whole, in order, through the
 * gateway and through `coffer ls`; versions and the trash are paged the
 * same way; a bad limit or cursor is a 400. A trash of 100,003 entries is
 * listed whole, its newest entry found and restored by id, and the rest
 * emptied by one DELETE.
 *
 * The gateway runs alone (listings need no app). The case fills the file
 * system database itself: 100,000 folders in one SQLite statement (through
 * the gateway or fsdb, each would be a transaction with an fsync), then 6
 * files, 5 versions and 3 trash entries through fsdb; later the 100,000
 * folders go to the trash in two more statements.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/auth.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/httpc.h"
#include "harness.h"

#define TEST_PW "correct horse battery"
#define NDIRS   100000
#define NFILES  6
#define HDR_MAX (CF_AUTH_TOKEN_LEN + 64)
#define CLI_OUT (16u * 1024u * 1024u)

struct sys {
    struct it_proc gw;
    uint64_t client, big; /* acme, and the id of /big */
    char fsdb[IT_PATH_MAX + 32];
    char shard[IT_PATH_MAX + 32]; /* the URI of the client's shard */
    char hdr[HDR_MAX];
    char tok[IT_PATH_MAX];
};

static void put(struct cf_fsdb *fs, uint64_t client, uint64_t folder, const char *name, unsigned n)
{
    struct cf_fsdb_put p;
    char err[CF_ERR_LEN] = "";

    memset(&p, 0, sizeof(p));
    it_fmt(p.uuid, sizeof(p.uuid), "%08x-0000-4000-8000-%012x", n, n);
    p.size = n;
    IT_CHECKF(cf_fsdb_file_put(fs, client, folder, name, &p, NULL, err) == 0, "put %s: %s", name,
              err);
}

static void make_catalog(struct sys *s)
{
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_client acme;
    struct cf_db *db = NULL;
    char hash[CF_AUTH_PWHASH_SIZE], shard[IT_PATH_MAX + 32], name[32], err[CF_ERR_LEN] = "";
    uint64_t root = 0, big = 0, vf = 0, tid = 0, docs = 0;
    struct cf_fsdb_entry e;
    int rc;

    IT_EQ(cf_fsdb_open(s->fsdb, 1, &fs, NULL), 0);
    /* The first shard of a SQLite catalog is fsshard-0001.db beside it. */
    if (it_shard_location(s->shard, "fsshard") == NULL)
        it_fmt(s->shard, sizeof(s->shard), "sqlite:%s/fsshard-0001.db", it_case_dir());
    IT_EQ(cf_fsdb_shard_add(fs, it_backend_pg() ? s->shard : NULL, NULL, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "acme", NULL, 2, &acme, NULL), 0);
    IT_EQ(cf_auth_password_hash(TEST_PW, strlen(TEST_PW), CF_AUTH_PBKDF2_ITER_MIN, hash), 0);
    IT_EQ(cf_fsdb_user_add(fs, acme.id, "boss", hash, true, NULL, NULL), 0);
    IT_EQ(cf_fsdb_resolve(fs, acme.id, "/", &root, NULL), 0);
    IT_EQ(cf_fsdb_mkdir(fs, acme.id, root, "big", &big, NULL), 0);
    IT_EQ(cf_fsdb_mkdir(fs, acme.id, root, "docs", &docs, NULL), 0);
    /* Files: listed after every folder, by name. */
    for (unsigned i = 0; i < NFILES; i++) {
        it_fmt(name, sizeof(name), "file%u", NFILES - 1 - i);
        put(fs, acme.id, big, name, i + 1);
    }
    /* Five versions of docs/v, three entries in the trash. */
    for (unsigned i = 0; i < 5; i++)
        put(fs, acme.id, docs, "v", 100 + i);
    IT_EQ(cf_fsdb_lookup(fs, acme.id, "/docs/v", &e, NULL), 0);
    vf = e.id;
    (void)vf;
    for (unsigned i = 0; i < 3; i++) {
        it_fmt(name, sizeof(name), "gone%u", i);
        put(fs, acme.id, docs, name, 200 + i);
        it_fmt(shard, sizeof(shard), "/docs/%s", name);
        IT_EQ(cf_fsdb_lookup(fs, acme.id, shard, &e, NULL), 0);
        IT_EQ(cf_fsdb_trash_put(fs, acme.id, CF_FSDB_FILE, e.id, 0, &tid, NULL), 0);
    }
    cf_fsdb_close(fs);

    /* The folders, in one statement on the client's shard. */
    IT_CHECKF(cf_db_open(s->shard, &db, err) == 0, "open %s: %s", s->shard, err);
    rc = cf_db_run(db, NULL, 0, err,
                   /* PostgreSQL has no rowid: ids from the shard's counter
                    * (cf__fsdb_new_id), which then moves past them. */
                   it_backend_pg()
                       ? "WITH base AS (SELECT last_id FROM coffer_meta WHERE id = 1 AND"
                         " kind = 'fs-shard'), ins AS (INSERT INTO folders (id, client_id,"
                         " parent_id, name, is_root, created, modified) SELECT base.last_id + 1 +"
                         " i, ?1, ?2, 'd' || lpad(i::text, 6, '0'), 0, 1, 1 FROM base,"
                         " generate_series(0, ?3::bigint) AS i) UPDATE coffer_meta SET last_id ="
                         " last_id + ?3 + 1 WHERE id = 1 AND kind = 'fs-shard'"
                       : "INSERT INTO folders (client_id, parent_id, name, is_root, created,"
                         " modified) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1"
                         " FROM n WHERE i < ?3) SELECT ?1, ?2, printf('d%06d', i), 0, 1, 1 FROM n",
                   "iii", (int64_t)acme.id, (int64_t)big, (int64_t)(NDIRS - 1));
    IT_CHECKF(rc == CF_DB_DONE, "insert folders: %s", err);
    cf_db_close(db);
    s->client = acme.id;
    s->big = big;
}

/* Every folder of /big into the trash, as cf_fsdb_trash_put would, deleted
 * long before the three entries there already (at 1,000,000 ms + id). */
static void trash_big(const struct sys *s)
{
    struct cf_db *db = NULL;
    char err[CF_ERR_LEN] = "";
    int rc;

    IT_CHECKF(cf_db_open(s->shard, &db, err) == 0, "open %s: %s", s->shard, err);
    rc = cf_db_run(db, NULL, 0, err,
                   it_backend_pg()
                       ? "WITH base AS (SELECT last_id FROM coffer_meta WHERE id = 1 AND"
                         " kind = 'fs-shard'), ins AS (INSERT INTO trash (id, client_id, kind,"
                         " item_id, orig_parent, orig_name, deleted_at, by_user) SELECT"
                         " base.last_id + row_number() OVER (ORDER BY f.id), f.client_id, 0,"
                         " f.id, f.parent_id, f.name, 1000000 + f.id, 0 FROM base, folders f"
                         " WHERE f.client_id = ?1 AND f.parent_id = ?2) UPDATE coffer_meta SET"
                         " last_id = last_id + (SELECT count(*) FROM folders WHERE client_id ="
                         " ?1 AND parent_id = ?2) WHERE id = 1 AND kind = 'fs-shard'"
                       : "INSERT INTO trash (client_id, kind, item_id, orig_parent, orig_name,"
                         " deleted_at, by_user) SELECT client_id, 0, id, parent_id, name,"
                         " 1000000 + id, 0 FROM folders WHERE client_id = ?1 AND parent_id = ?2",
                   "ii", (int64_t)s->client, (int64_t)s->big);
    IT_CHECKF(rc == CF_DB_DONE, "trash folders: %s", err);
    rc = cf_db_run(db, NULL, 0, err,
                   "UPDATE folders SET parent_id = NULL WHERE client_id = ?1 AND parent_id = ?2",
                   "ii", (int64_t)s->client, (int64_t)s->big);
    IT_CHECKF(rc == CF_DB_DONE, "detach folders: %s", err);
    cf_db_close(db);
}

static void login(struct sys *s)
{
    char out[4096], url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body =
        json_pack("{s:s,s:s,s:s}", "client", "acme", "user", "boss", "password", TEST_PW);
    json_t *j = NULL;
    long status = 0;

    IT_EQ(cf_httpc_global_init(), 0);
    it_fmt(url, sizeof(url), "%s/api/v1/login", s->gw.base);
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &j, err) == 0, "login: %s", err);
    IT_EQ(status, 200);
    it_fmt(s->hdr, HDR_MAX, "Authorization: Bearer %s", it_json_str(j, "token"));
    json_decref(body);
    json_decref(j);
    /* The CLI's session. */
    it_case_path(s->tok, "token");
    IT_EQ(it_exit_code(it_coffer_cmd(out, sizeof(out), NULL, "login", "--gateway", s->gw.base,
                                     "--client", "acme", "--user", "boss", "--password", TEST_PW,
                                     "--token-file", s->tok, NULL)),
          0);
}

/* GET target with the token: the status, and the JSON in *j on 200. */
static long get_json(const struct sys *s, struct it_client *cl, const char *target, json_t **j)
{
    struct it_resp r;
    long st = it_http_to(cl, s->gw.base, "GET", target, NULL, &r, s->hdr, NULL);

    *j = st == 200 ? it_resp_json(&r) : NULL;
    it_resp_fini(&r);
    return st;
}

/* Free *next and put there a copy of page j's "next" cursor, which must be
 * a string or null (then NULL: the last page). */
static void take_next(const json_t *j, char **next)
{
    const json_t *nx = json_object_get(j, "next");

    IT_CHECK(json_is_null(nx) || json_is_string(nx));
    free(*next);
    *next = json_is_string(nx) ? strdup(json_string_value(nx)) : NULL;
}

/* The name entry i of the big folder must have. */
static void want_name(size_t i, char out[32])
{
    if (i < NDIRS)
        it_fmt(out, 32, "d%06zu", i);
    else
        it_fmt(out, 32, "file%zu", i - NDIRS);
}

static void case_big_folder(void *arg)
{
    struct sys s;
    struct it_client cl;
    struct it_resp r;
    char target[256], want[32], *next = NULL, *out, *line;
    size_t seen = 0, pages = 0;
    int64_t newest = 0;
    json_t *j;

    (void)arg;
    memset(&s, 0, sizeof(s));
    it_case_db_uri(s.fsdb, "fs-catalog");
    make_catalog(&s);
    it_gateway_start_ok(&s.gw, s.fsdb, "http://127.0.0.1:9", "http://127.0.0.1:9", NULL);
    login(&s);
    it_client_init(&cl);

    /* Through the gateway, pages of the largest size, following "next". */
    do {
        const json_t *entries;
        it_fmt(target, sizeof(target), "/api/v1/fs/big?limit=10000%s%s", next ? "&after=" : "",
               next ? next : "");
        IT_EQ(get_json(&s, &cl, target, &j), 200);
        entries = json_object_get(j, "entries");
        IT_CHECK(json_is_array(entries) && json_array_size(entries) <= 10000);
        for (size_t i = 0; i < json_array_size(entries); i++, seen++) {
            want_name(seen, want);
            IT_STREQ(it_json_str(json_array_get(entries, i), "name"), want);
        }
        take_next(j, &next);
        IT_CHECK(next == NULL || json_array_size(entries) == 10000);
        json_decref(j);
        pages++;
    } while (next != NULL);
    IT_EQ(seen, NDIRS + NFILES);
    IT_EQ(pages, (NDIRS + NFILES + 9999) / 10000);

    /* The default page is 1000; bad limits and cursors are 400. */
    IT_EQ(get_json(&s, &cl, "/api/v1/fs/big", &j), 200);
    IT_EQ(json_array_size(json_object_get(j, "entries")), 1000);
    IT_STREQ(it_json_str(json_array_get(json_object_get(j, "entries"), 999), "name"), "d000999");
    json_decref(j);
    IT_EQ(get_json(&s, &cl, "/api/v1/fs/big?limit=0", &j), 400);
    IT_EQ(get_json(&s, &cl, "/api/v1/fs/big?limit=10001", &j), 400);
    IT_EQ(get_json(&s, &cl, "/api/v1/fs/big?limit=x", &j), 400);
    IT_EQ(get_json(&s, &cl, "/api/v1/fs/big?after=zz", &j), 400);
    IT_EQ(get_json(&s, &cl, "/api/v1/fs/big?after=d6", &j), 400);

    /* Versions, two at a time; the trash, one at a time. */
    seen = 0;
    next = NULL;
    do {
        const json_t *vs;
        it_fmt(target, sizeof(target), "/api/v1/versions/docs/v?limit=2%s%s", next ? "&after=" : "",
               next ? next : "");
        IT_EQ(get_json(&s, &cl, target, &j), 200);
        vs = json_object_get(j, "versions");
        for (size_t i = 0; i < json_array_size(vs); i++, seen++)
            IT_EQ(it_json_int(json_array_get(vs, i), "number"), seen + 1);
        take_next(j, &next);
        json_decref(j);
    } while (next != NULL);
    IT_EQ(seen, 5);
    IT_EQ(get_json(&s, &cl, "/api/v1/versions/docs/v?after=v5", &j), 200);
    IT_EQ(json_array_size(json_object_get(j, "versions")), 0);
    IT_CHECK(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    IT_EQ(get_json(&s, &cl, "/api/v1/versions/docs/v?limit=0", &j), 400);
    IT_EQ(get_json(&s, &cl, "/api/v1/versions/docs/v?after=5", &j), 400);
    /* The path's own errors come before those of the page's arguments. */
    IT_EQ(get_json(&s, &cl, "/api/v1/versions/docs/nothing?limit=0", &j), 404);
    IT_EQ(get_json(&s, &cl, "/api/v1/versions/docs?after=v1", &j), 400);
    seen = 0;
    do {
        const json_t *es;
        char want_t[16];
        it_fmt(target, sizeof(target), "/api/v1/trash?limit=1%s%s", next ? "&after=" : "",
               next ? next : "");
        IT_EQ(get_json(&s, &cl, target, &j), 200);
        es = json_object_get(j, "entries");
        for (size_t i = 0; i < json_array_size(es); i++, seen++) {
            it_fmt(want_t, sizeof(want_t), "gone%zu", seen);
            IT_STREQ(it_json_str(json_array_get(es, i), "name"), want_t);
        }
        take_next(j, &next);
        json_decref(j);
    } while (next != NULL);
    IT_EQ(seen, 3);
    IT_EQ(get_json(&s, &cl, "/api/v1/trash?after=t1", &j), 400);
    it_client_fini(&cl);

    /* `coffer ls` follows the pages to the end, in order. */
    out = malloc(CLI_OUT);
    IT_CHECK(out != NULL);
    IT_EQ(
        it_exit_code(it_coffer_cmd(out, CLI_OUT, NULL, "ls", "/big", "--token-file", s.tok, NULL)),
        0);
    seen = 0;
    for (line = out; *line != '\0'; seen++) {
        char *nl = strchr(line, '\n'), *nm;
        IT_CHECK(nl != NULL);
        *nl = '\0';
        nm = strrchr(line, ' ');
        IT_CHECK(nm != NULL);
        want_name(seen, want);
        IT_CHECKF(strcmp(nm + 1, want) == 0, "line %zu: \"%s\", want %s", seen, line, want);
        line = nl + 1;
    }
    IT_EQ(seen, NDIRS + NFILES);
    free(out);

    /* A trash of 100,003 entries: listed whole in pages; the newest entry,
     * past the first 100,000, found and restored by its id. */
    trash_big(&s);
    seen = 0;
    next = NULL;
    it_client_init(&cl);
    do {
        const json_t *es;
        it_fmt(target, sizeof(target), "/api/v1/trash?limit=10000%s%s", next ? "&after=" : "",
               next ? next : "");
        IT_EQ(get_json(&s, &cl, target, &j), 200);
        es = json_object_get(j, "entries");
        for (size_t i = 0; i < json_array_size(es); i++, seen++) {
            if (seen < NDIRS)
                it_fmt(want, sizeof(want), "d%06zu", seen);
            else
                it_fmt(want, sizeof(want), "gone%zu", seen - NDIRS);
            IT_STREQ(it_json_str(json_array_get(es, i), "name"), want);
            newest = it_json_int(json_array_get(es, i), "id");
        }
        take_next(j, &next);
        json_decref(j);
    } while (next != NULL);
    IT_EQ(seen, NDIRS + 3);

    /* gone2, the newest: by id, then restored. */
    it_fmt(target, sizeof(target), "/api/v1/trash/%" PRId64, newest);
    IT_EQ(get_json(&s, &cl, target, &j), 200);
    IT_STREQ(it_json_str(json_array_get(json_object_get(j, "entries"), 0), "name"), "gone2");
    json_decref(j);
    it_fmt(target, sizeof(target), "/api/v1/trash/%" PRId64 "?op=restore", newest);
    IT_EQ(it_http_to(&cl, s.gw.base, "POST", target, NULL, &r, s.hdr, NULL), 204);
    it_resp_fini(&r);
    IT_EQ(get_json(&s, &cl, "/api/v1/fs/docs", &j), 200);
    {
        const json_t *es = json_object_get(j, "entries");
        bool back = false;
        for (size_t i = 0; i < json_array_size(es); i++)
            back = back || strcmp(it_json_str(json_array_get(es, i), "name"), "gone2") == 0;
        IT_CHECK(back);
    }
    json_decref(j);

    /* Emptied whole by one DELETE, past fsdb's batch of 100,000. */
    IT_EQ(it_http_to(&cl, s.gw.base, "DELETE", "/api/v1/trash", NULL, &r, s.hdr, NULL), 200);
    it_resp_fini(&r);
    IT_EQ(get_json(&s, &cl, "/api/v1/trash", &j), 200);
    IT_EQ(json_array_size(json_object_get(j, "entries")), 0);
    IT_CHECK(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    it_client_fini(&cl);
    it_proc_stop_ok(&s.gw);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"big_folder", case_big_folder, NULL, 120},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
