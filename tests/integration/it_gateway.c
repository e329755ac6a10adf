/*
 * it_gateway.c -- the client API against `coffer server`: login
 * and the limiter, tokens, files and folders, Range, move, copy, versions,
 * the trash, names, another client's files, and a read-only user.
 *
 * Before the server starts, each case makes the file system catalog itself
 * (the real fsdb, SQLite) with two more clients: "acme" (admin "boss" and
 * "reader", who may only read the root) and "other" (user "eve"). The
 * server then adds client "demo" and prints its admin password.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>

#include "coffer/auth.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/httpc.h"
#include "coffer/limits.h"
#include "harness.h"

#define HDR_MAX (CF_AUTH_TOKEN_LEN + 64)
#define LINE_MS 20000
#define TEST_PW "correct horse"
#define LIMIT_N 4 /* failures from one address before the first delay (1 s) */
#define FS      "/api/v1/fs"

struct gw {
    struct it_server s;
    char base[IT_URL_MAX];
    char pw[64];         /* demo admin's password, from stdout */
    char admin[HDR_MAX]; /* "Authorization: Bearer ..." of demo's admin */
    char data[IT_PATH_MAX];
};

static void add_user(struct cf_fsdb *fs, uint64_t client, const char *name, bool admin,
                     uint64_t *id)
{
    char hash[CF_AUTH_PWHASH_SIZE];

    /* The minimum cost keeps the test fast; the format is the same. */
    IT_EQ(cf_auth_password_hash(TEST_PW, strlen(TEST_PW), CF_AUTH_PBKDF2_ITER_MIN, hash), 0);
    IT_EQ(cf_fsdb_user_add(fs, client, name, hash, admin, id, NULL), 0);
}

/* The catalog with clients acme and other, made before the server runs. */
static void make_catalog(const char *data)
{
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_client acme, other;
    char uri[IT_PATH_MAX + 32];
    uint64_t reader = 0, root = 0;

    IT_CHECKF(mkdir(data, 0755) == 0, "mkdir \"%s\": %s", data, strerror(errno));
    it_fmt(uri, sizeof(uri), "sqlite:%s/fs-catalog.db", data);
    IT_EQ(cf_fsdb_open(uri, 1, &fs, NULL), 0);
    IT_EQ(cf_fsdb_shard_add(fs, NULL, NULL, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "acme", NULL, 2, &acme, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "other", NULL, 2, &other, NULL), 0);
    add_user(fs, acme.id, "boss", true, NULL);
    add_user(fs, acme.id, "reader", false, &reader);
    add_user(fs, other.id, "eve", true, NULL);
    IT_EQ(cf_fsdb_resolve(fs, acme.id, "/", &root, NULL), 0);
    IT_EQ(cf_fsdb_perm_set(fs, acme.id, root, CF_FSDB_USER, reader, CF_FSDB_READ, NULL), 0);
    cf_fsdb_close(fs);
}

/* POST /api/v1/login; the token (if 200) into hdr as a header line. */
static long login(const struct gw *g, const char *client, const char *user, const char *pw,
                  char hdr[HDR_MAX])
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body = json_pack("{s:s,s:s,s:s}", "client", client, "user", user, "password", pw);
    json_t *out = NULL;
    long status = 0;

    it_fmt(url, sizeof(url), "%s/api/v1/login", g->base);
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &out, err) == 0, "login: %s", err);
    if (status == 200) {
        IT_EQ(it_json_int(out, "expires_s"), 3600);
        it_fmt(hdr, HDR_MAX, "Authorization: Bearer %s", it_json_str(out, "token"));
    } else {
        IT_CHECK(out != NULL && json_is_string(json_object_get(out, "error")));
    }
    json_decref(body);
    json_decref(out);
    return status;
}

static void start(struct gw *g)
{
    memset(g, 0, sizeof(*g));
    IT_EQ(cf_httpc_global_init(), 0);
    it_case_path(g->data, "data");
    make_catalog(g->data);
    it_server_start_ok(&g->s, "data", 3, NULL);
    it_proc_expect_line(&g->s.p, "coffer gateway listening on ", g->base, sizeof(g->base), LINE_MS);
    it_proc_expect_line(&g->s.p, "coffer gateway login: client demo user admin password ", g->pw,
                        sizeof(g->pw), LINE_MS);
    IT_EQ(login(g, "demo", "admin", g->pw, g->admin), 200);
}

static long req(const struct gw *g, const char *auth, const char *method, const char *target,
                struct it_resp *r)
{
    return it_http_to(NULL, g->base, method, target, NULL, r, auth, NULL);
}

static long st(const struct gw *g, const char *auth, const char *method, const char *target)
{
    struct it_resp r;
    long s = req(g, auth, method, target, &r);

    it_resp_fini(&r);
    return s;
}

/* PUT the payload (seed, size), chunked, and check the reply. */
static void put_ok(const struct gw *g, const char *auth, const char *target, uint64_t seed,
                   uint64_t size)
{
    uint8_t sha[CF_SHA512_LEN];
    char hex[CF_SHA512_HEX_LEN + 1];
    struct it_body b = {.chunked = true};
    struct it_resp r;
    json_t *j;

    it_gen_init(&b.gen, seed, size);
    IT_EQ(it_http_to(NULL, g->base, "PUT", target, &b, &r, auth, NULL), 201);
    it_gen_fini(&b.gen);
    it_prng_sha512(seed, size, sha);
    it_hex(sha, hex);
    j = it_resp_json(&r);
    IT_STREQ(it_json_str(j, "type"), "file");
    IT_EQ(it_json_int(j, "size"), (int64_t)size);
    IT_STREQ(it_json_str(j, "sha512"), hex);
    json_decref(j);
    it_resp_fini(&r);
}

static long put_status(const struct gw *g, const char *auth, const char *target, uint64_t size)
{
    struct it_body b = {.chunked = false};
    struct it_resp r;
    long s;

    it_gen_init(&b.gen, 1, size);
    s = it_http_to(NULL, g->base, "PUT", target, &b, &r, auth, NULL);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
    return s;
}

/* GET: 200 and exactly the payload (seed, size). */
static void get_ok(const struct gw *g, const char *auth, const char *target, uint64_t seed,
                   uint64_t size)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_resp r;

    IT_EQ(req(g, auth, "GET", target, &r), 200);
    IT_EQ(r.curl_code, 0);
    IT_EQ(r.total, size);
    it_prng_sha512(seed, size, sha);
    IT_CHECKF(memcmp(r.sha, sha, sizeof(sha)) == 0, "GET %s: wrong bytes", target);
    it_resp_fini(&r);
}

/* Whether the folder listing at target has an entry name of type. */
static bool listed(const struct gw *g, const char *auth, const char *target, const char *name,
                   const char *type)
{
    struct it_resp r;
    json_t *j, *e;
    size_t i;
    bool found = false;

    IT_EQ(req(g, auth, "GET", target, &r), 200);
    j = it_resp_json(&r);
    json_array_foreach(json_object_get(j, "entries"), i, e)
    {
        if (strcmp(it_json_str(e, "name"), name) == 0 && strcmp(it_json_str(e, "type"), type) == 0)
            found = true;
    }
    json_decref(j);
    it_resp_fini(&r);
    return found;
}

static void stop(struct gw *g)
{
    it_proc_stop_ok(&g->s.p);
}

/* ---- cases ---- */

static void t_login(void *arg)
{
    struct gw g;
    char hdr[HDR_MAX];

    (void)arg;
    start(&g);
    IT_EQ(login(&g, "demo", "admin", "wrong", hdr), 401);
    IT_EQ(login(&g, "demo", "nobody", "wrong", hdr), 401);
    IT_EQ(login(&g, "nowhere", "admin", "wrong", hdr), 401);
    IT_EQ(login(&g, "acme", "boss", TEST_PW, hdr), 200);
    /* A body that is not a login. */
    {
        char url[IT_URL_MAX + 32];
        json_t *b = json_pack("{s:s}", "client", "demo"), *out = NULL;
        long status = 0;
        it_fmt(url, sizeof(url), "%s/api/v1/login", g.base);
        IT_EQ(cf_httpc_json("POST", url, b, 20000, &status, &out, NULL), 0);
        IT_EQ(status, 400);
        json_decref(b);
        json_decref(out);
    }
    IT_EQ(st(&g, NULL, "GET", "/api/v1/login"), 405);
    /* The limiter: after LIMIT_N failures from this address even the right
     * password is refused, with 429, for a second; other users are not
     * affected. */
    for (int i = 0; i < LIMIT_N; i++)
        IT_EQ(login(&g, "acme", "reader", "wrong", hdr), 401);
    IT_EQ(login(&g, "acme", "reader", TEST_PW, hdr), 429);
    IT_EQ(login(&g, "acme", "reader", "wrong", hdr), 429);
    IT_EQ(login(&g, "acme", "boss", TEST_PW, hdr), 200);
    stop(&g);
}

static void t_tokens(void *arg)
{
    struct gw g;
    struct cf_auth_key key, other;
    char path[IT_PATH_MAX + 16], tok[CF_AUTH_TOKEN_SIZE], hdr[HDR_MAX];
    uint64_t now = (uint64_t)time(NULL);
    struct it_resp r;
    json_t *j;
    int64_t client, user;

    (void)arg;
    start(&g);
    IT_EQ(st(&g, g.admin, "GET", FS "/"), 200);
    IT_EQ(st(&g, NULL, "GET", FS "/"), 401);
    IT_EQ(st(&g, NULL, "PUT", FS "/x"), 401);
    IT_EQ(put_status(&g, NULL, FS "/x", 1000), 401);
    IT_EQ(st(&g, NULL, "GET", "/api/v1/trash"), 401);
    IT_EQ(st(&g, NULL, "GET", "/api/v1/versions/x"), 401);
    IT_EQ(st(&g, "Authorization: Bearer garbage", "GET", FS "/"), 401);
    IT_EQ(st(&g, "Authorization: Basic YWRtaW46YWRtaW4=", "GET", FS "/"), 401);
    /* Tokens made with the server's key: a fresh one works, an expired one
     * does not; one made with another key does not either. */
    {
        char url[IT_URL_MAX + 32];
        json_t *b = json_pack("{s:s,s:s,s:s}", "client", "demo", "user", "admin", "password", g.pw),
               *out = NULL;
        long status = 0;
        it_fmt(url, sizeof(url), "%s/api/v1/login", g.base);
        IT_EQ(cf_httpc_json("POST", url, b, 20000, &status, &out, NULL), 0);
        IT_EQ(status, 200);
        client = it_json_int(out, "client_id");
        user = it_json_int(out, "user_id");
        json_decref(b);
        json_decref(out);
    }
    it_fmt(path, sizeof(path), "%s/gateway.key", g.data);
    IT_EQ(cf_auth_key_load(&key, path, NULL), 0);
    IT_EQ(cf_auth_token_issue(&key, (uint64_t)client, (uint64_t)user, now, 60, tok), 0);
    it_fmt(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
    IT_EQ(st(&g, hdr, "GET", FS "/"), 200);
    IT_EQ(cf_auth_token_issue(&key, (uint64_t)client, (uint64_t)user, now - 1000, 10, tok), 0);
    it_fmt(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
    IT_EQ(req(&g, hdr, "GET", FS "/", &r), 401);
    it_check_error_body(&r, "EAUTH");
    it_resp_fini(&r);
    IT_EQ(cf_auth_key_generate(&other), 0);
    IT_EQ(cf_auth_token_issue(&other, (uint64_t)client, (uint64_t)user, now, 60, tok), 0);
    it_fmt(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
    IT_EQ(st(&g, hdr, "GET", FS "/"), 401);
    /* A token naming a client that does not exist. */
    IT_EQ(cf_auth_token_issue(&key, 999, 1, now, 60, tok), 0);
    it_fmt(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
    IT_EQ(st(&g, hdr, "GET", FS "/"), 401);
    cf_auth_key_fini(&key);
    cf_auth_key_fini(&other);
    /* The root listing of a fresh client is empty. */
    IT_EQ(req(&g, g.admin, "GET", FS, &r), 200);
    j = it_resp_json(&r);
    IT_EQ(json_array_size(json_object_get(j, "entries")), 0);
    json_decref(j);
    it_resp_fini(&r);
    stop(&g);
}

static void t_files(void *arg)
{
    struct gw g;
    struct it_resp r;
    uint8_t buf[100], want[100];
    char cr[64];
    const uint64_t big = IT_MIB;

    (void)arg;
    start(&g);
    IT_EQ(st(&g, g.admin, "POST", FS "/docs?op=mkdir"), 201);
    IT_EQ(st(&g, g.admin, "POST", FS "/docs?op=mkdir"), 409);
    IT_EQ(st(&g, g.admin, "POST", FS "/nope/sub?op=mkdir"), 404);
    IT_EQ(st(&g, g.admin, "POST", FS "/docs?op=frobnicate"), 400);
    put_ok(&g, g.admin, FS "/docs/big.bin", 7, big);
    IT_CHECK(listed(&g, g.admin, FS "/docs", "big.bin", "file"));
    IT_CHECK(listed(&g, g.admin, FS "/", "docs", "folder"));
    get_ok(&g, g.admin, FS "/docs/big.bin", 7, big);
    IT_EQ(st(&g, g.admin, "GET", FS "/docs/missing.bin"), 404);
    IT_EQ(st(&g, g.admin, "HEAD", FS "/docs/big.bin"), 200);
    /* Range passes through: 206 with the exact bytes, 416 past the end. */
    IT_EQ(req(&g, g.admin, "GET", FS "/docs/big.bin", &r), 200);
    it_resp_fini(&r);
    {
        struct it_resp rr;
        IT_EQ(it_http_to(NULL, g.base, "GET", FS "/docs/big.bin", NULL, &rr, g.admin,
                         "Range: bytes=1000-1099", NULL),
              206);
        IT_EQ(rr.body_len, 100);
        memcpy(buf, rr.body, 100);
        it_prng_fill(7, 1000, want, sizeof(want));
        IT_CHECK(memcmp(buf, want, sizeof(want)) == 0);
        IT_CHECK(it_resp_header(&rr, "Content-Range", cr, sizeof(cr)));
        IT_STREQ(cr, "bytes 1000-1099/1048576");
        it_resp_fini(&rr);
        IT_EQ(it_http_to(NULL, g.base, "GET", FS "/docs/big.bin", NULL, &rr, g.admin,
                         "Range: bytes=2000000-", NULL),
              416);
        it_resp_fini(&rr);
    }
    /* PUT onto a folder's name, or onto the root, or into a missing folder. */
    IT_EQ(put_status(&g, g.admin, FS "/docs", 10), 409);
    IT_EQ(put_status(&g, g.admin, FS "/", 10), 400);
    IT_EQ(put_status(&g, g.admin, FS "/nope/x", 10), 404);
    /* An empty file. */
    put_ok(&g, g.admin, FS "/docs/empty", 3, 0);
    get_ok(&g, g.admin, FS "/docs/empty", 3, 0);
    /* Move (rename across folders), then copy; the copy outlives the
     * original's deletion and shares nothing mutable with it. */
    IT_EQ(st(&g, g.admin, "POST", FS "/archive?op=mkdir"), 201);
    IT_EQ(st(&g, g.admin, "POST", FS "/docs/big.bin?op=move&to=/archive/moved.bin"), 200);
    IT_EQ(st(&g, g.admin, "GET", FS "/docs/big.bin"), 404);
    get_ok(&g, g.admin, FS "/archive/moved.bin", 7, big);
    IT_EQ(st(&g, g.admin, "POST", FS "/archive/moved.bin?op=move&to=/docs/empty"), 409);
    IT_EQ(st(&g, g.admin, "POST", FS "/archive/moved.bin?op=move"), 400);
    IT_EQ(st(&g, g.admin, "POST", FS "/archive/moved.bin?op=copy&to=/docs/copy.bin"), 201);
    IT_EQ(st(&g, g.admin, "POST", FS "/archive?op=copy&to=/docs/x"), 400);
    IT_EQ(st(&g, g.admin, "DELETE", FS "/archive/moved.bin"), 204);
    IT_EQ(st(&g, g.admin, "GET", FS "/archive/moved.bin"), 404);
    get_ok(&g, g.admin, FS "/docs/copy.bin", 7, big);
    /* Moving a folder moves its contents. */
    IT_EQ(st(&g, g.admin, "POST", FS "/docs?op=move&to=/archive/docs2"), 200);
    get_ok(&g, g.admin, FS "/archive/docs2/copy.bin", 7, big);
    IT_EQ(st(&g, g.admin, "POST", FS "/archive?op=move&to=/archive/docs2/loop"), 400);
    stop(&g);
}

static void t_names(void *arg)
{
    struct gw g;
    char longname[300 + 64];
    int n;

    (void)arg;
    start(&g);
    IT_EQ(st(&g, g.admin, "POST", FS "/my%20folder?op=mkdir"), 201);
    /* "résumé final.txt", percent-encoded UTF-8 */
    put_ok(&g, g.admin, FS "/my%20folder/r%C3%A9sum%C3%A9%20final.txt", 11, 5000);
    IT_CHECK(listed(&g, g.admin, FS "/my%20folder", "r\xc3\xa9sum\xc3\xa9 final.txt", "file"));
    IT_CHECK(listed(&g, g.admin, FS "/", "my folder", "folder"));
    get_ok(&g, g.admin, FS "/my%20folder/r%C3%A9sum%C3%A9%20final.txt", 11, 5000);
    put_ok(&g, g.admin, FS "/%E6%97%A5%E6%9C%AC%20%F0%9F%93%81", 12, 10);
    get_ok(&g, g.admin, FS "/%E6%97%A5%E6%9C%AC%20%F0%9F%93%81", 12, 10);
    /* Case-sensitive. */
    IT_EQ(st(&g, g.admin, "GET", FS "/MY%20FOLDER"), 404);
    /* Rejected: invalid UTF-8, too long, and the same through `to`. */
    IT_EQ(st(&g, g.admin, "POST", FS "/bad%FF?op=mkdir"), 400);
    IT_EQ(put_status(&g, g.admin, FS "/bad%C3", 10), 400);
    n = snprintf(longname, sizeof(longname), "%s", FS "/");
    for (int i = 0; i < 256; i++)
        longname[n++] = 'a';
    it_fmt(longname + n, sizeof(longname) - (size_t)n, "%s", "?op=mkdir");
    IT_EQ(st(&g, g.admin, "POST", longname), 400);
    IT_EQ(st(&g, g.admin, "POST", FS "/my%20folder?op=move&to=%2Fbad%FF"), 400);
    IT_EQ(st(&g, g.admin, "GET", FS "/my%20folder/%FF"), 400);
    IT_EQ(st(&g, g.admin, "GET", FS "//x"), 400);
    IT_EQ(put_status(&g, g.admin, FS "//x", 10), 400);
    stop(&g);
}

static void t_versions(void *arg)
{
    struct gw g;
    struct it_resp r;
    json_t *j, *v;
    char target[256];
    int64_t first;

    (void)arg;
    start(&g);
    put_ok(&g, g.admin, FS "/v.txt", 21, 3000);
    put_ok(&g, g.admin, FS "/v.txt", 22, 4000);
    get_ok(&g, g.admin, FS "/v.txt", 22, 4000);
    IT_EQ(req(&g, g.admin, "GET", "/api/v1/versions/v.txt", &r), 200);
    j = it_resp_json(&r);
    v = json_object_get(j, "versions");
    IT_EQ(json_array_size(v), 2);
    IT_EQ(it_json_int(json_array_get(v, 0), "number"), 1);
    IT_EQ(it_json_int(json_array_get(v, 0), "size"), 3000);
    IT_CHECK(!it_json_bool(json_array_get(v, 0), "current"));
    IT_CHECK(it_json_bool(json_array_get(v, 1), "current"));
    first = it_json_int(json_array_get(v, 0), "id");
    json_decref(j);
    it_resp_fini(&r);
    /* The old version can be downloaded, then restored as a new version. */
    it_fmt(target, sizeof(target), "/api/v1/versions/v.txt?download=%" PRId64, first);
    get_ok(&g, g.admin, target, 21, 3000);
    it_fmt(target, sizeof(target), "/api/v1/versions/v.txt?restore=%" PRId64, first);
    IT_EQ(st(&g, g.admin, "POST", target), 200);
    get_ok(&g, g.admin, FS "/v.txt", 21, 3000);
    IT_EQ(req(&g, g.admin, "GET", "/api/v1/versions/v.txt", &r), 200);
    j = it_resp_json(&r);
    IT_EQ(json_array_size(json_object_get(j, "versions")), 3);
    json_decref(j);
    it_resp_fini(&r);
    IT_EQ(st(&g, g.admin, "POST", "/api/v1/versions/v.txt?restore=999999"), 404);
    IT_EQ(st(&g, g.admin, "POST", "/api/v1/versions/v.txt?restore=abc"), 400);
    IT_EQ(st(&g, g.admin, "GET", "/api/v1/versions/none.txt"), 404);
    IT_EQ(st(&g, g.admin, "GET", "/api/v1/versions/"), 400);
    stop(&g);
}

/* The id of the trash entry named name. */
static int64_t trash_id(const struct gw *g, const char *auth, const char *name)
{
    struct it_resp r;
    json_t *j, *e;
    size_t i;
    int64_t id = 0;

    IT_EQ(req(g, auth, "GET", "/api/v1/trash", &r), 200);
    j = it_resp_json(&r);
    json_array_foreach(json_object_get(j, "entries"), i, e)
    {
        if (strcmp(it_json_str(e, "name"), name) == 0)
            id = it_json_int(e, "id");
    }
    json_decref(j);
    it_resp_fini(&r);
    return id;
}

static void t_trash(void *arg)
{
    struct gw g;
    struct it_resp r;
    char target[256];
    int64_t id;
    json_t *j;

    (void)arg;
    start(&g);
    IT_EQ(st(&g, g.admin, "POST", FS "/dir?op=mkdir"), 201);
    put_ok(&g, g.admin, FS "/dir/a.bin", 31, 2000);
    put_ok(&g, g.admin, FS "/b.bin", 32, 2000);
    /* A file: gone from its folder, listed in the trash, restored in place. */
    IT_EQ(st(&g, g.admin, "DELETE", FS "/b.bin"), 204);
    IT_EQ(st(&g, g.admin, "GET", FS "/b.bin"), 404);
    IT_EQ(st(&g, g.admin, "DELETE", FS "/b.bin"), 404);
    id = trash_id(&g, g.admin, "b.bin");
    IT_CHECK(id > 0);
    it_fmt(target, sizeof(target), "/api/v1/trash/%" PRId64 "?op=restore", id);
    IT_EQ(st(&g, g.admin, "POST", target), 204);
    get_ok(&g, g.admin, FS "/b.bin", 32, 2000);
    IT_EQ(trash_id(&g, g.admin, "b.bin"), 0);
    /* A folder with its contents; restored elsewhere once its name is taken. */
    IT_EQ(st(&g, g.admin, "DELETE", FS "/dir"), 204);
    IT_EQ(st(&g, g.admin, "GET", FS "/dir/a.bin"), 404);
    IT_EQ(st(&g, g.admin, "POST", FS "/dir?op=mkdir"), 201);
    id = trash_id(&g, g.admin, "dir");
    it_fmt(target, sizeof(target), "/api/v1/trash/%" PRId64 "?op=restore", id);
    IT_EQ(st(&g, g.admin, "POST", target), 409);
    it_fmt(target, sizeof(target), "/api/v1/trash/%" PRId64 "?op=restore&to=/dir-old", id);
    IT_EQ(st(&g, g.admin, "POST", target), 204);
    get_ok(&g, g.admin, FS "/dir-old/a.bin", 31, 2000);
    IT_EQ(st(&g, g.admin, "POST", "/api/v1/trash/999999?op=restore"), 404);
    /* Emptying: the deleted file's object is no longer referenced. */
    IT_EQ(st(&g, g.admin, "DELETE", FS "/b.bin"), 204);
    IT_EQ(req(&g, g.admin, "DELETE", "/api/v1/trash", &r), 200);
    j = it_resp_json(&r);
    IT_EQ(it_json_int(j, "unreferenced"), 1);
    json_decref(j);
    it_resp_fini(&r);
    IT_EQ(trash_id(&g, g.admin, "b.bin"), 0);
    stop(&g);
}

static void t_isolation(void *arg)
{
    struct gw g;
    char eve[HDR_MAX], boss[HDR_MAX], reader[HDR_MAX];
    struct it_resp r;
    json_t *j;

    (void)arg;
    start(&g);
    IT_EQ(login(&g, "other", "eve", TEST_PW, eve), 200);
    IT_EQ(login(&g, "acme", "boss", TEST_PW, boss), 200);
    IT_EQ(login(&g, "acme", "reader", TEST_PW, reader), 200);
    put_ok(&g, g.admin, FS "/secret.txt", 41, 1000);
    IT_EQ(st(&g, g.admin, "POST", FS "/private?op=mkdir"), 201);
    /* Another client: the same names do not exist for it (404, not 403). */
    IT_EQ(st(&g, eve, "GET", FS "/secret.txt"), 404);
    IT_EQ(st(&g, eve, "HEAD", FS "/secret.txt"), 404);
    IT_EQ(st(&g, eve, "GET", FS "/private"), 404);
    IT_EQ(st(&g, eve, "DELETE", FS "/secret.txt"), 404);
    IT_EQ(st(&g, eve, "GET", "/api/v1/versions/secret.txt"), 404);
    /* A bad page argument is answered after the path's own errors. */
    IT_EQ(st(&g, eve, "GET", "/api/v1/versions/secret.txt?limit=0"), 404);
    IT_EQ(st(&g, eve, "POST", FS "/secret.txt?op=copy&to=/mine.txt"), 404);
    IT_EQ(put_status(&g, eve, FS "/private/x", 10), 404);
    IT_EQ(req(&g, eve, "GET", FS "/", &r), 200);
    j = it_resp_json(&r);
    IT_EQ(json_array_size(json_object_get(j, "entries")), 0);
    json_decref(j);
    it_resp_fini(&r);
    /* Its own file of the same name is its own. */
    put_ok(&g, eve, FS "/secret.txt", 42, 500);
    get_ok(&g, eve, FS "/secret.txt", 42, 500);
    get_ok(&g, g.admin, FS "/secret.txt", 41, 1000);
    /* demo's trash entries are not visible to eve either. */
    IT_EQ(st(&g, g.admin, "DELETE", FS "/private"), 204);
    IT_CHECK(trash_id(&g, g.admin, "private") > 0);
    IT_EQ(trash_id(&g, eve, "private"), 0);
    /* A read-only user of acme: may read, may not write (403). */
    IT_EQ(st(&g, boss, "POST", FS "/shared?op=mkdir"), 201);
    put_ok(&g, boss, FS "/shared/a.bin", 43, 3000);
    get_ok(&g, reader, FS "/shared/a.bin", 43, 3000);
    IT_CHECK(listed(&g, reader, FS "/shared", "a.bin", "file"));
    IT_EQ(st(&g, reader, "GET", "/api/v1/versions/shared/a.bin"), 200);
    IT_EQ(st(&g, reader, "POST", "/api/v1/versions/shared/a.bin?restore=1"), 403);
    IT_EQ(req(&g, reader, "PUT", FS "/shared/b.bin", &r), 403);
    it_check_error_body(&r, "EPERM");
    it_resp_fini(&r);
    IT_EQ(put_status(&g, reader, FS "/shared/b.bin", 100), 403);
    IT_EQ(put_status(&g, reader, FS "/shared/a.bin", 100), 403);
    IT_EQ(st(&g, reader, "DELETE", FS "/shared/a.bin"), 403);
    IT_EQ(st(&g, reader, "POST", FS "/shared/sub?op=mkdir"), 403);
    IT_EQ(st(&g, reader, "POST", FS "/shared/a.bin?op=move&to=/shared/c.bin"), 403);
    IT_EQ(st(&g, reader, "POST", FS "/shared/a.bin?op=copy&to=/shared/c.bin"), 403);
    IT_EQ(st(&g, reader, "DELETE", "/api/v1/trash"), 403);
    get_ok(&g, reader, FS "/shared/a.bin", 43, 3000);
    stop(&g);
}

/* GET target over a fresh raw connection as demo's admin, with the header
 * lines extra (each ending in CR LF) after the usual ones: the status. */
static long raw_get(const struct gw *g, const char *target, const char *extra)
{
    unsigned port = (unsigned)strtoul(strrchr(g->base, ':') + 1, NULL, 10);
    size_t cap = strlen(extra) + 1024;
    char *rq = malloc(cap), reply[8192];
    int fd = it_raw_try_connect(port), n;
    long status;

    IT_CHECK(rq != NULL && fd >= 0);
    n = snprintf(rq, cap,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s\r\nConnection: close\r\n%s\r\n",
                 target, port, g->admin, extra);
    IT_CHECK(n > 0 && (size_t)n < cap);
    IT_CHECK(it_raw_send(fd, rq, (size_t)n));
    status = it_raw_read_reply(fd, reply, sizeof(reply));
    close(fd);
    free(rq);
    return status;
}

/* Request headers up to CF_HTTP_HEADER_MAX bytes are served, whether in one
 * long line or in hundreds of short ones (the gateway's connections have
 * less memory than other roles'); over it they get 431. */
static void t_big_headers(void *arg)
{
    /* The server counts each line as name + value + 4 bytes; the request
     * line, Host, Authorization and Connection take under 256. */
    static const char big[] = "X-Big: ";
    const size_t room = CF_HTTP_HEADER_MAX - 256, lines = room / 24, cap = CF_HTTP_HEADER_MAX + 64;
    char *extra = malloc(cap);
    size_t n = 0;
    struct gw g;

    (void)arg;
    IT_CHECK(extra != NULL);
    start(&g);
    put_ok(&g, g.admin, FS "/h.bin", 3, 1000);

    /* One line: "X-Big: " and a value, room bytes as counted. */
    memcpy(extra, big, sizeof(big) - 1);
    memset(extra + sizeof(big) - 1, 'a', room - 9);
    memcpy(extra + sizeof(big) - 1 + room - 9, "\r\n", 3);
    IT_EQ(raw_get(&g, FS "/h.bin", extra), 200);

    /* Lines of a 5-byte name and a 15-byte value: 24 bytes each counted. */
    for (size_t i = 0; i < lines; i++) {
        int k = snprintf(extra + n, cap - n, "X%04zu: vvvvvvvvvvvvvvv\r\n", i);
        IT_CHECK(k > 0 && (size_t)k < cap - n);
        n += (size_t)k;
    }
    IT_EQ(raw_get(&g, FS "/h.bin", extra), 200);

    /* Over the limit: 431. */
    memcpy(extra, big, sizeof(big) - 1);
    memset(extra + sizeof(big) - 1, 'a', CF_HTTP_HEADER_MAX);
    memcpy(extra + sizeof(big) - 1 + CF_HTTP_HEADER_MAX, "\r\n", 3);
    IT_EQ(raw_get(&g, FS "/h.bin", extra), 431);

    get_ok(&g, g.admin, FS "/h.bin", 3, 1000);
    free(extra);
    stop(&g);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"login", t_login, NULL, 60},         {"tokens", t_tokens, NULL, 60},
        {"files", t_files, NULL, 90},         {"names", t_names, NULL, 60},
        {"versions", t_versions, NULL, 60},   {"trash", t_trash, NULL, 60},
        {"isolation", t_isolation, NULL, 60}, {"big_headers", t_big_headers, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
