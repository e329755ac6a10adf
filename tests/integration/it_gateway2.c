/*
 * it_gateway2.c -- the client API against separate processes (two
 * filers, `coffer app` with a purge retention of 0, objsrv and `coffer
 * gateway`): the permission matrix, concurrent uploads to one path, delete
 * then purge end to end, the gateway's trash retention (also with its wall
 * clock jumped a year ahead), two clients on two shards, and per-client
 * replicas (three filers, clients made with `coffer admin client add`),
 * per-client version expiry (`coffer admin client set`), the admin API's
 * users, groups, groups trash and permissions, as they take effect on
 * /api/v1/fs, and download links.
 *
 * Before the gateway starts, each case makes the file system catalog itself
 * (the real fsdb, SQLite): shard 1 with client "acme" (admin "boss", "ro" in
 * group "readers", "rw" in group "writers", "nobody" with no entry) and
 * client "other" (admin "eve"); then shard 2 with client "beta" (admin
 * "bea"), which goes there because it is the least-loaded shard. acme's
 * tree: /proj (readers: read, writers: read-write), /proj/sub (no entry:
 * inherits) and /proj/closed (both groups: none).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "coffer/auth.h"
#include "coffer/buf.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/httpc.h"
#include "harness.h"

#define HDR_MAX (CF_AUTH_TOKEN_LEN + 64)
#define TEST_PW "correct horse"
#define FS      "/api/v1/fs"
#define NCONC   8

/* The callers of the permission matrix, in this order. */
enum who { BOSS, RO, RW, NOBODY, EVE, NOTOKEN, EXPIRED, NWHO };
static const char *const who_names[NWHO] = {"boss", "ro",      "rw",     "nobody",
                                            "eve",  "notoken", "expired"};

struct sys {
    struct it_cluster c;
    struct it_proc gw;
    char fsdb[IT_PATH_MAX + 32];
    uint64_t acme, other, beta;
    uint32_t acme_shard, beta_shard;
    uint64_t rw_id;
    char hdr[NWHO][HDR_MAX]; /* "Authorization: Bearer ..."; "" for NOTOKEN */
    char bea[HDR_MAX];
};

static void add_user(struct cf_fsdb *fs, uint64_t client, const char *name, bool admin,
                     uint64_t *id)
{
    char hash[CF_AUTH_PWHASH_SIZE];

    /* The minimum cost keeps the test fast; the format is the same. */
    IT_EQ(cf_auth_password_hash(TEST_PW, strlen(TEST_PW), CF_AUTH_PBKDF2_ITER_MIN, hash), 0);
    IT_EQ(cf_fsdb_user_add(fs, client, name, hash, admin, id, NULL), 0);
}

static void make_catalog(struct sys *s)
{
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_client acme, other, beta;
    uint64_t ro = 0, readers = 0, writers = 0, root = 0, proj = 0, closed = 0;
    uint32_t shard2 = 0;
    char loc[IT_PATH_MAX];

    IT_EQ(cf_fsdb_open(s->fsdb, 1, &fs, NULL), 0);
    IT_EQ(cf_fsdb_shard_add(fs, it_shard_location(loc, "fsshard1"), NULL, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "acme", NULL, 2, &acme, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "other", NULL, 2, &other, NULL), 0);
    IT_EQ(cf_fsdb_shard_add(fs, it_shard_location(loc, "fsshard2"), &shard2, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "beta", NULL, 2, &beta, NULL), 0);
    IT_EQ(beta.shard, shard2);
    IT_CHECK(acme.shard != beta.shard);
    s->acme = acme.id;
    s->other = other.id;
    s->beta = beta.id;
    s->acme_shard = acme.shard;
    s->beta_shard = beta.shard;
    add_user(fs, acme.id, "boss", true, NULL);
    add_user(fs, acme.id, "ro", false, &ro);
    add_user(fs, acme.id, "rw", false, &s->rw_id);
    add_user(fs, acme.id, "nobody", false, NULL);
    add_user(fs, other.id, "eve", true, NULL);
    add_user(fs, beta.id, "bea", true, NULL);
    IT_EQ(cf_fsdb_group_add(fs, acme.id, "readers", &readers, NULL), 0);
    IT_EQ(cf_fsdb_group_add(fs, acme.id, "writers", &writers, NULL), 0);
    IT_EQ(cf_fsdb_group_member_add(fs, acme.id, readers, ro, NULL), 0);
    IT_EQ(cf_fsdb_group_member_add(fs, acme.id, writers, s->rw_id, NULL), 0);
    IT_EQ(cf_fsdb_resolve(fs, acme.id, "/", &root, NULL), 0);
    IT_EQ(cf_fsdb_mkdir(fs, acme.id, root, "proj", &proj, NULL), 0);
    IT_EQ(cf_fsdb_mkdir(fs, acme.id, proj, "sub", NULL, NULL), 0);
    IT_EQ(cf_fsdb_mkdir(fs, acme.id, proj, "closed", &closed, NULL), 0);
    IT_EQ(cf_fsdb_perm_set(fs, acme.id, proj, CF_FSDB_GROUP, readers, CF_FSDB_READ, NULL), 0);
    IT_EQ(cf_fsdb_perm_set(fs, acme.id, proj, CF_FSDB_GROUP, writers, CF_FSDB_READ_WRITE, NULL), 0);
    IT_EQ(cf_fsdb_perm_set(fs, acme.id, closed, CF_FSDB_GROUP, readers, CF_FSDB_NONE, NULL), 0);
    IT_EQ(cf_fsdb_perm_set(fs, acme.id, closed, CF_FSDB_GROUP, writers, CF_FSDB_NONE, NULL), 0);
    cf_fsdb_close(fs);
}

/* POST /api/v1/login, which must give 200; the token into hdr. */
static void login(const struct sys *s, const char *client, const char *user, char hdr[HDR_MAX])
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body = json_pack("{s:s,s:s,s:s}", "client", client, "user", user, "password", TEST_PW);
    json_t *out = NULL;
    long status = 0;

    it_fmt(url, sizeof(url), "%s/api/v1/login", s->gw.base);
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &out, err) == 0, "login: %s", err);
    IT_EQ(status, 200);
    it_fmt(hdr, HDR_MAX, "Authorization: Bearer %s", it_json_str(out, "token"));
    json_decref(body);
    json_decref(out);
}

/* Filers f1, f2 registered with one objdb shard; the app (purge retention 0,
 * purge only on request), objsrv; the fs catalog; the gateway with the extra
 * arguments gw_args[0..n); every caller logged in. */
static void start(struct sys *s, const char *const *gw_args, size_t n)
{
    char key[IT_PATH_MAX], tok[CF_AUTH_TOKEN_SIZE];
    struct cf_auth_key k;
    uint64_t now = (uint64_t)time(NULL);

    memset(s, 0, sizeof(*s));
    IT_EQ(cf_httpc_global_init(), 0);
    it_cluster_start_filers(&s->c, 2);
    it_app_start_ok(&s->c.app, s->c.db, "--purge-retention-s", "0", "--purge-interval-ms", "0",
                    NULL);
    it_objsrv_start_ok(&s->c.objsrv, s->c.app.base, NULL);
    it_case_db_uri(s->fsdb, "fs-catalog");
    make_catalog(s);
    IT_CHECK(n <= 4);
    it_gateway_start_ok(&s->gw, s->fsdb, s->c.app.base, s->c.objsrv.base, n > 0 ? gw_args[0] : NULL,
                        n > 1 ? gw_args[1] : NULL, n > 2 ? gw_args[2] : NULL,
                        n > 3 ? gw_args[3] : NULL, NULL);
    login(s, "acme", "boss", s->hdr[BOSS]);
    login(s, "acme", "ro", s->hdr[RO]);
    login(s, "acme", "rw", s->hdr[RW]);
    login(s, "acme", "nobody", s->hdr[NOBODY]);
    login(s, "other", "eve", s->hdr[EVE]);
    login(s, "beta", "bea", s->bea);
    s->hdr[NOTOKEN][0] = '\0';
    /* rw's token, signed with the gateway's key, expired 990 s ago. */
    it_case_path(key, "gateway.key");
    IT_EQ(cf_auth_key_load(&k, key, NULL), 0);
    IT_EQ(cf_auth_token_issue(&k, s->acme, s->rw_id, now - 1000, 10, tok), 0);
    it_fmt(s->hdr[EXPIRED], HDR_MAX, "Authorization: Bearer %s", tok);
    cf_auth_key_fini(&k);
}

static void stop(struct sys *s)
{
    it_proc_stop_ok(&s->gw);
    it_cluster_stop(&s->c);
}

/* A request without a body; auth "" or NULL sends no token. */
static long req(const struct sys *s, const char *auth, const char *method, const char *target,
                struct it_resp *r)
{
    return it_http_to(NULL, s->gw.base, method, target, NULL, r,
                      auth != NULL && auth[0] != '\0' ? auth : NULL, NULL);
}

static long st(const struct sys *s, const char *auth, const char *method, const char *target)
{
    struct it_resp r;
    long status = req(s, auth, method, target, &r);

    it_resp_fini(&r);
    return status;
}

static long put_status(const struct sys *s, const char *auth, const char *target, uint64_t seed,
                       uint64_t size)
{
    struct it_body b = {.chunked = true};
    struct it_resp r;
    long status;

    it_gen_init(&b.gen, seed, size);
    status = it_http_to(NULL, s->gw.base, "PUT", target, &b, &r,
                        auth != NULL && auth[0] != '\0' ? auth : NULL, NULL);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
    return status;
}

static void put_ok(const struct sys *s, const char *auth, const char *target, uint64_t seed,
                   uint64_t size)
{
    IT_EQ(put_status(s, auth, target, seed, size), 201);
}

/* GET: 200 and exactly the payload (seed, size). */
static void get_ok(const struct sys *s, const char *auth, const char *target, uint64_t seed,
                   uint64_t size)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_resp r;

    IT_EQ(req(s, auth, "GET", target, &r), 200);
    IT_EQ(r.curl_code, 0);
    IT_EQ(r.total, size);
    it_prng_sha512(seed, size, sha);
    IT_CHECKF(memcmp(r.sha, sha, sizeof(sha)) == 0, "GET %s: wrong bytes", target);
    it_resp_fini(&r);
}

/* The versions of the file at path (after FS): JSON array (caller owns). */
static json_t *versions(const struct sys *s, const char *auth, const char *path)
{
    char target[512];
    struct it_resp r;
    json_t *j, *v;

    it_fmt(target, sizeof(target), "/api/v1/versions%s", path);
    IT_EQ(req(s, auth, "GET", target, &r), 200);
    j = it_resp_json(&r);
    v = json_incref(json_object_get(j, "versions"));
    IT_CHECK(json_is_array(v));
    json_decref(j);
    it_resp_fini(&r);
    return v;
}

/* The UUID of the current version of the file at path. */
static void current_uuid(const struct sys *s, const char *auth, const char *path, char out[40])
{
    json_t *v = versions(s, auth, path), *e;
    size_t i;
    int found = 0;

    json_array_foreach(v, i, e)
    {
        if (it_json_bool(e, "current")) {
            it_fmt(out, 40, "%s", it_json_str(e, "uuid"));
            found++;
        }
    }
    IT_EQ(found, 1);
    json_decref(v);
}

/* Entries in the caller's trash. */
static size_t trash_count(const struct sys *s, const char *auth)
{
    struct it_resp r;
    json_t *j;
    size_t n;

    IT_EQ(req(s, auth, "GET", "/api/v1/trash", &r), 200);
    j = it_resp_json(&r);
    n = json_array_size(json_object_get(j, "entries"));
    json_decref(j);
    it_resp_fini(&r);
    return n;
}

/* Names in the folder listing at target. */
static size_t listing_size(const struct sys *s, const char *auth, const char *target)
{
    struct it_resp r;
    json_t *j;
    size_t n;

    IT_EQ(req(s, auth, "GET", target, &r), 200);
    j = it_resp_json(&r);
    n = json_array_size(json_object_get(j, "entries"));
    json_decref(j);
    it_resp_fini(&r);
    return n;
}

/* ---- the permission matrix ---- */

/* The level of caller w on folder (0 /proj, 1 /proj/sub, 2 /proj/closed). */
static enum cf_fsdb_level level_of(enum who w, int folder)
{
    switch (w) {
    case BOSS:
        return CF_FSDB_READ_WRITE;
    case RO:
        return folder == 2 ? CF_FSDB_NONE : CF_FSDB_READ;
    case RW:
        return folder == 2 ? CF_FSDB_NONE : CF_FSDB_READ_WRITE;
    default:
        return CF_FSDB_NONE;
    }
}

/* The status caller w gets: ok if allowed `want`; 403 if not; 404 for
 * another client; 401 without a valid token. */
static long expect(enum who w, int folder, enum cf_fsdb_level want, long ok)
{
    if (w == NOTOKEN || w == EXPIRED)
        return 401;
    if (w == EVE)
        return 404;
    return level_of(w, folder) >= want ? ok : 403;
}

static void t_matrix(void *arg)
{
    static const char *const folders[] = {"/proj", "/proj/sub", "/proj/closed"};
    struct sys s;
    char target[256];

    (void)arg;
    start(&s, NULL, 0);
    /* boss fills each folder: f.bin to read, one del-<who>.bin per caller
     * to delete. */
    for (int f = 0; f < 3; f++) {
        it_fmt(target, sizeof(target), FS "%s/f.bin", folders[f]);
        put_ok(&s, s.hdr[BOSS], target, 100 + (uint64_t)f, 3000);
        for (int w = 0; w < NWHO; w++) {
            it_fmt(target, sizeof(target), FS "%s/del-%s.bin", folders[f], who_names[w]);
            put_ok(&s, s.hdr[BOSS], target, 200 + (uint64_t)w, 100);
        }
    }
    for (int f = 0; f < 3; f++) {
        for (int w = 0; w < NWHO; w++) {
            const char *h = s.hdr[w];
            long want;
            /* GET of a file, and of the folder's listing. */
            it_fmt(target, sizeof(target), FS "%s/f.bin", folders[f]);
            want = expect((enum who)w, f, CF_FSDB_READ, 200);
            IT_CHECKF(st(&s, h, "GET", target) == want, "GET %s by %s: want %ld", target,
                      who_names[w], want);
            if (want == 200)
                get_ok(&s, h, target, 100 + (uint64_t)f, 3000);
            IT_CHECKF(st(&s, h, "HEAD", target) == want, "HEAD %s by %s", target, who_names[w]);
            it_fmt(target, sizeof(target), FS "%s", folders[f]);
            IT_CHECKF(st(&s, h, "GET", target) == want, "GET %s by %s: want %ld", target,
                      who_names[w], want);
            /* PUT of a new file, and of a new version of f.bin. */
            it_fmt(target, sizeof(target), FS "%s/new-%s.bin", folders[f], who_names[w]);
            want = expect((enum who)w, f, CF_FSDB_READ_WRITE, 201);
            IT_CHECKF(put_status(&s, h, target, 300 + (uint64_t)w, 500) == want,
                      "PUT %s by %s: want %ld", target, who_names[w], want);
            if (want == 201)
                get_ok(&s, s.hdr[BOSS], target, 300 + (uint64_t)w, 500);
            else
                IT_EQ(st(&s, s.hdr[BOSS], "GET", target), 404);
            /* mkdir. */
            it_fmt(target, sizeof(target), FS "%s/d-%s?op=mkdir", folders[f], who_names[w]);
            IT_CHECKF(st(&s, h, "POST", target) == want, "mkdir %s by %s: want %ld", target,
                      who_names[w], want);
            it_fmt(target, sizeof(target), FS "%s/d-%s", folders[f], who_names[w]);
            IT_EQ(st(&s, s.hdr[BOSS], "GET", target), want == 201 ? 200 : 404);
            /* DELETE. */
            it_fmt(target, sizeof(target), FS "%s/del-%s.bin", folders[f], who_names[w]);
            want = expect((enum who)w, f, CF_FSDB_READ_WRITE, 204);
            IT_CHECKF(st(&s, h, "DELETE", target) == want, "DELETE %s by %s: want %ld", target,
                      who_names[w], want);
            IT_EQ(st(&s, s.hdr[BOSS], "GET", target), want == 204 ? 404 : 200);
        }
    }
    /* f.bin is untouched by every refused call. */
    get_ok(&s, s.hdr[BOSS], FS "/proj/closed/f.bin", 102, 3000);
    stop(&s);
}

/* ---- concurrent uploads to one path ---- */

/* NCONC uploads to one new path at once. Every one succeeds: the file
 * system database serialises its writes (db.h: a write transaction takes
 * the lock at its start), so the first to record creates the file and each
 * of the others finds it and adds a version (README: an existing name gets
 * a new current version). So: NCONC replies 201, each with its own version
 * id and number, the numbers 1..NCONC, exactly NCONC versions listed, one
 * of them current, and the file's bytes are the current one's. */
static void t_concurrent(void *arg)
{
    struct sys s;
    struct it_xfer x[NCONC];
    struct it_body b[NCONC];
    json_t *v, *e;
    int64_t ids[NCONC];
    bool number_seen[NCONC + 1] = {false};
    size_t i;
    int current = 0;
    char cur_sha[CF_SHA512_HEX_LEN + 1] = "";

    (void)arg;
    start(&s, NULL, 0);
    for (i = 0; i < NCONC; i++) {
        b[i] = (struct it_body){.chunked = (i % 2) == 0};
        it_gen_init(&b[i].gen, 500 + i, 64 * 1024 + i * 4096);
        it_xfer_init(&x[i], s.gw.base, "PUT", FS "/proj/same.bin", &b[i], s.hdr[RW], NULL);
    }
    it_xfer_run(x, NCONC, NULL, NULL);
    for (i = 0; i < NCONC; i++) {
        json_t *j;
        uint8_t sha[CF_SHA512_LEN];
        char hex[CF_SHA512_HEX_LEN + 1];
        int64_t no;
        IT_CHECKF(x[i].resp.status == 201, "upload %zu: status %ld, body %.300s", i,
                  x[i].resp.status, x[i].resp.body ? x[i].resp.body : "");
        j = it_resp_json(&x[i].resp);
        it_prng_sha512(500 + i, 64 * 1024 + i * 4096, sha);
        it_hex(sha, hex);
        IT_STREQ(it_json_str(j, "sha512"), hex);
        ids[i] = it_json_int(j, "version");
        for (size_t k = 0; k < i; k++)
            IT_CHECKF(ids[k] != ids[i], "uploads %zu and %zu got version %" PRId64, k, i, ids[i]);
        no = it_json_int(j, "version_no");
        IT_CHECKF(no >= 1 && no <= NCONC && !number_seen[no], "upload %zu: version_no %" PRId64, i,
                  no);
        number_seen[no] = true;
        json_decref(j);
        it_xfer_fini(&x[i]);
        it_gen_fini(&b[i].gen);
    }
    v = versions(&s, s.hdr[BOSS], "/proj/same.bin");
    IT_EQ(json_array_size(v), NCONC);
    json_array_foreach(v, i, e)
    {
        bool known = false;
        for (size_t k = 0; k < NCONC; k++)
            known = known || ids[k] == it_json_int(e, "id");
        IT_CHECKF(known, "version %" PRId64 " was not a 201 reply", it_json_int(e, "id"));
        IT_EQ(it_json_int(e, "number"), (int64_t)i + 1);
        if (it_json_bool(e, "current")) {
            current++;
            it_fmt(cur_sha, sizeof(cur_sha), "%s", it_json_str(e, "sha512"));
        }
    }
    json_decref(v);
    IT_EQ(current, 1);
    /* The file's bytes are the current version's. */
    {
        struct it_resp r;
        char got[CF_SHA512_HEX_LEN + 1];
        IT_EQ(req(&s, s.hdr[BOSS], "GET", FS "/proj/same.bin", &r), 200);
        it_hex(r.sha, got);
        IT_STREQ(got, cur_sha);
        it_resp_fini(&r);
    }
    IT_EQ(listing_size(&s, s.hdr[BOSS], FS "/proj"), 3); /* sub, closed, same.bin */
    stop(&s);
}

/* ---- delete then purge ---- */

struct purge_wait {
    const struct sys *s;
    const struct it_record *rec;
};

/* The status of GET app/v1/objects/UUID/info. */
static long info_status(const struct sys *s, const char *uuid)
{
    struct it_record rec;

    return it_info(s->c.app.base, uuid, &rec);
}

/* Run the app's pass; true once the record is gone and no filer holds it. */
static bool purged(void *arg)
{
    const struct purge_wait *p = arg;
    char url[IT_URL_MAX + 32];
    long status = 0;

    it_fmt(url, sizeof(url), "%s/v1/admin/purge", p->s->c.app.base);
    IT_EQ(cf_httpc_json("POST", url, NULL, 20000, &status, NULL, NULL), 0);
    IT_EQ(status, 200);
    for (size_t i = 0; i < p->s->c.n; i++)
        if (it_object_file_size(&p->s->c.f[i], p->rec->path) >= 0)
            return false;
    return info_status(p->s, p->rec->uuid) == 404;
}

static void t_delete_purge(void *arg)
{
    struct sys s;
    struct it_record rec;
    struct purge_wait pw = {&s, &rec};
    struct it_resp r;
    char uuid[40];
    uint8_t sha[CF_SHA512_LEN];
    json_t *j;

    (void)arg;
    start(&s, NULL, 0);
    put_ok(&s, s.hdr[BOSS], FS "/gone.bin", 61, 200000);
    current_uuid(&s, s.hdr[BOSS], "/gone.bin", uuid);
    IT_EQ(it_info(s.c.app.base, uuid, &rec), 200);
    it_prng_sha512(61, 200000, sha);
    IT_EQ(rec.nfilers, 2);
    it_check_placement(s.c.f, s.c.n, &rec);
    for (size_t i = 0; i < s.c.n; i++)
        it_check_object_file(&s.c.f[i], rec.path, 200000, sha);
    IT_EQ(st(&s, s.hdr[BOSS], "DELETE", FS "/gone.bin"), 204);
    /* In the trash the object is still live. */
    IT_EQ(info_status(&s, uuid), 200);
    IT_EQ(req(&s, s.hdr[BOSS], "DELETE", "/api/v1/trash", &r), 200);
    j = it_resp_json(&r);
    IT_EQ(it_json_int(j, "unreferenced"), 1);
    json_decref(j);
    it_resp_fini(&r);
    IT_CHECKF(it_wait_for(purged, &pw, 50, 100), "object %s was never purged", uuid);
    for (size_t i = 0; i < s.c.n; i++)
        IT_EQ(it_object_file_size(&s.c.f[i], rec.path), -1);
    IT_EQ(info_status(&s, uuid), 404);
    IT_EQ(it_objdb_count(s.c.db, 2), 0);
    stop(&s);
}

/* ---- trash retention in the gateway ---- */

struct retention_wait {
    const struct sys *s;
    const char *uuid;
};

static bool trash_gone(void *arg)
{
    const struct retention_wait *w = arg;

    return trash_count(w->s, w->s->hdr[BOSS]) == 0 && info_status(w->s, w->uuid) == 404;
}

/* An S3 multipart upload of acme in progress, with one part (an object
 * the app does not know: its release is answered 404, which counts as
 * done). */
#define MPU_ID "0123456789abcdef0123456789abcdef"
static void mpu_add(const struct sys *s)
{
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_s3upload u;
    struct cf_fsdb_s3part p;
    struct cf_fsdb_uuid old;

    memset(&u, 0, sizeof(u));
    memcpy(u.id, MPU_ID, sizeof(MPU_ID));
    memcpy(u.bucket, "proj", 5);
    memcpy(u.key, "big.bin", 8);
    memcpy(u.attrs.meta, "{}", 3);
    memset(&p, 0, sizeof(p));
    p.number = 1;
    memcpy(p.uuid, "00010000-0000-7fff-0000-000000000001", CF_FSDB_UUID_LEN + 1);
    memcpy(p.md5, "0123456789abcdef0123456789abcdef", 33);
    IT_EQ(cf_fsdb_open(s->fsdb, 1, &fs, NULL), 0);
    IT_EQ(cf_fsdb_s3upload_add(fs, s->acme, &u, NULL), 0);
    IT_EQ(cf_fsdb_s3part_put(fs, s->acme, MPU_ID, &p, &old, NULL), 0);
    cf_fsdb_close(fs);
}

static bool mpu_gone(void *arg)
{
    const struct sys *s = arg;
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_s3upload u;
    struct cf_fsdb_uuid *v = NULL;
    size_t n = 1;
    bool gone;

    IT_EQ(cf_fsdb_open(s->fsdb, 1, &fs, NULL), 0);
    gone = cf_fsdb_s3upload_get(fs, s->acme, MPU_ID, &u, NULL) == CF_ENOTFOUND &&
           cf_fsdb_release_pending(fs, s->acme, &v, &n, NULL) == 0 && n == 0;
    free(v);
    cf_fsdb_close(fs);
    return gone;
}

static void t_retention(void *arg)
{
    static const char *const args[] = {"--trash-retention-s",  "0", "--trash-interval-ms", "200",
                                       "--s3-upload-expiry-s", "1"};
    struct sys s;
    char uuid[40], kept[40];
    struct retention_wait w = {&s, uuid};

    (void)arg;
    /* First without retention passes, as a gateway stopped before its
     * pass: the entries wait for the next gateway to run one. */
    start(&s, NULL, 0);
    put_ok(&s, s.hdr[BOSS], FS "/old.bin", 71, 5000);
    current_uuid(&s, s.hdr[BOSS], "/old.bin", uuid);
    /* A copy shares its object: the original's deletion must not take it. */
    put_ok(&s, s.hdr[BOSS], FS "/orig.bin", 72, 5000);
    current_uuid(&s, s.hdr[BOSS], "/orig.bin", kept);
    IT_EQ(st(&s, s.hdr[BOSS], "POST", FS "/orig.bin?op=copy&to=/copy.bin"), 201);
    IT_EQ(st(&s, s.hdr[BOSS], "DELETE", FS "/old.bin"), 204);
    IT_EQ(st(&s, s.hdr[BOSS], "DELETE", FS "/orig.bin"), 204);
    IT_EQ(trash_count(&s, s.hdr[BOSS]), 2);
    IT_EQ(info_status(&s, uuid), 200);
    mpu_add(&s);
    it_proc_stop_ok(&s.gw);
    it_gateway_start_ok(&s.gw, s.fsdb, s.c.app.base, s.c.objsrv.base, args[0], args[1], args[2],
                        args[3], args[4], args[5], NULL);
    IT_CHECKF(it_wait_for(trash_gone, &w, 100, 100), "the trash retention never ran");
    /* The same passes abort S3 uploads older than the expiry, releasing
     * their parts. */
    IT_CHECKF(it_wait_for(mpu_gone, &s, 100, 100), "the S3 upload never expired");
    IT_EQ(info_status(&s, kept), 200);
    get_ok(&s, s.hdr[BOSS], FS "/copy.bin", 72, 5000);
    IT_EQ(st(&s, s.hdr[BOSS], "GET", FS "/old.bin"), 404);
    /* The pass released old.bin's object and nothing else: the app got
     * exactly one DELETE (the copy's shared object stays). */
    it_wait_metric(s.c.app.base,
                   "coffer_http_requests_total{role=\"app\",method=\"DELETE\",code=\"2xx\"}", 1);
    stop(&s);
}

/* ---- files emptied from the trash, restored while the app keeps them ---- */

/* The caller's emptied files: the entries array (caller owns). */
static json_t *emptied_list(const struct sys *s, const char *auth)
{
    struct it_resp r;
    json_t *j, *v;

    IT_EQ(req(s, auth, "GET", "/api/v1/trash/emptied", &r), 200);
    j = it_resp_json(&r);
    v = json_incref(json_object_get(j, "entries"));
    IT_CHECK(json_is_array(v));
    json_decref(j);
    it_resp_fini(&r);
    return v;
}

/* The id of the one emptied file called name, with its size and versions. */
static int64_t emptied_id(const struct sys *s, const char *name, int64_t size, int64_t nversions)
{
    json_t *v = emptied_list(s, s->hdr[BOSS]), *e;
    int64_t id = 0;
    size_t i;

    json_array_foreach(v, i, e)
    {
        if (strcmp(it_json_str(e, "name"), name) != 0)
            continue;
        IT_EQ(id, 0);
        id = it_json_int(e, "id");
        IT_EQ(it_json_int(e, "size"), size);
        IT_EQ(it_json_int(e, "versions"), nversions);
        IT_CHECK(it_json_int(e, "emptied_ms") >= it_json_int(e, "deleted_ms"));
    }
    json_decref(v);
    IT_CHECKF(id > 0, "%s is not among the emptied files", name);
    return id;
}

static bool emptied_none(void *arg)
{
    const struct sys *s = arg;
    json_t *v = emptied_list(s, s->hdr[BOSS]);
    bool none = json_array_size(v) == 0;

    json_decref(v);
    return none;
}

/* rm path, then empty the whole trash. */
static void rm_and_empty(const struct sys *s, const char *path)
{
    char target[256];

    it_fmt(target, sizeof(target), FS "%s", path);
    IT_EQ(st(s, s->hdr[BOSS], "DELETE", target), 204);
    IT_EQ(st(s, s->hdr[BOSS], "DELETE", "/api/v1/trash"), 200);
    IT_EQ(st(s, s->hdr[BOSS], "GET", target), 404);
}

static void t_emptied(void *arg)
{
    struct sys s;
    struct it_record rec;
    struct purge_wait pw = {&s, &rec};
    struct it_resp r;
    char target[256], uuid[40];
    int64_t id, first = 0;
    long status = 0;
    json_t *v;

    (void)arg;
    start(&s, NULL, 0);
    /* Two versions, emptied from the trash: both come back. */
    put_ok(&s, s.hdr[BOSS], FS "/proj/e.bin", 81, 7000);
    put_ok(&s, s.hdr[BOSS], FS "/proj/e.bin", 82, 9000);
    current_uuid(&s, s.hdr[BOSS], "/proj/e.bin", uuid);
    rm_and_empty(&s, "/proj/e.bin");
    IT_EQ(trash_count(&s, s.hdr[BOSS]), 0);
    id = emptied_id(&s, "e.bin", 9000, 2);
    /* As the trash: listed for who may read the original folder, restored
     * by who may write there. */
    v = emptied_list(&s, s.hdr[NOBODY]);
    IT_EQ(json_array_size(v), 0);
    json_decref(v);
    it_fmt(target, sizeof(target), "/api/v1/trash/emptied/%" PRId64 "/restore", id);
    IT_EQ(st(&s, s.hdr[RO], "POST", target), 403);
    IT_EQ(st(&s, s.hdr[EVE], "POST", target), 404);
    IT_EQ(st(&s, s.hdr[BOSS], "GET", target), 405);
    IT_EQ(st(&s, s.hdr[BOSS], "POST", "/api/v1/trash/emptied/abc/restore"), 404);
    IT_EQ(st(&s, s.hdr[BOSS], "POST", "/api/v1/trash/emptied/999999/restore"), 404);
    IT_EQ(st(&s, s.hdr[RW], "POST", target), 204);
    get_ok(&s, s.hdr[BOSS], FS "/proj/e.bin", 82, 9000);
    v = versions(&s, s.hdr[BOSS], "/proj/e.bin");
    IT_EQ(json_array_size(v), 2);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (it_json_int(json_array_get(v, i), "number") == 1)
            first = it_json_int(json_array_get(v, i), "id");
    json_decref(v);
    IT_CHECK(first > 0);
    it_fmt(target, sizeof(target), "/api/v1/versions/proj/e.bin?download=%" PRId64, first);
    get_ok(&s, s.hdr[BOSS], target, 81, 7000);
    /* The app keeps the object live: a purge pass leaves it alone. */
    IT_EQ(it_info(s.c.app.base, uuid, &rec), 200);
    it_fmt(target, sizeof(target), "%s/v1/admin/purge", s.c.app.base);
    IT_EQ(cf_httpc_json("POST", target, NULL, 20000, &status, NULL, NULL), 0);
    IT_EQ(status, 200);
    get_ok(&s, s.hdr[BOSS], FS "/proj/e.bin", 82, 9000);
    v = emptied_list(&s, s.hdr[BOSS]);
    IT_EQ(json_array_size(v), 0);
    json_decref(v);
    it_fmt(target, sizeof(target), "/api/v1/trash/emptied/%" PRId64 "/restore", id);
    IT_EQ(st(&s, s.hdr[BOSS], "POST", target), 404);

    /* Its name taken meanwhile: 409, and elsewhere with to=. */
    put_ok(&s, s.hdr[BOSS], FS "/n.bin", 83, 3000);
    rm_and_empty(&s, "/n.bin");
    put_ok(&s, s.hdr[BOSS], FS "/n.bin", 84, 100);
    id = emptied_id(&s, "n.bin", 3000, 1);
    it_fmt(target, sizeof(target), "/api/v1/trash/emptied/%" PRId64 "/restore", id);
    IT_EQ(st(&s, s.hdr[BOSS], "POST", target), 409);
    it_fmt(target, sizeof(target),
           "/api/v1/trash/emptied/%" PRId64 "/restore?to=/proj/closed/n3.bin", id);
    IT_EQ(st(&s, s.hdr[RW], "POST", target), 403);
    it_fmt(target, sizeof(target), "/api/v1/trash/emptied/%" PRId64 "/restore?to=/proj/n2.bin", id);
    IT_EQ(st(&s, s.hdr[BOSS], "POST", target), 204);
    get_ok(&s, s.hdr[BOSS], FS "/proj/n2.bin", 83, 3000);
    get_ok(&s, s.hdr[BOSS], FS "/n.bin", 84, 100);

    /* Purged by the app first (retention 0): gone for good, and said so. */
    put_ok(&s, s.hdr[BOSS], FS "/p.bin", 85, 4000);
    current_uuid(&s, s.hdr[BOSS], "/p.bin", uuid);
    IT_EQ(it_info(s.c.app.base, uuid, &rec), 200);
    rm_and_empty(&s, "/p.bin");
    id = emptied_id(&s, "p.bin", 4000, 1);
    IT_CHECKF(it_wait_for(purged, &pw, 50, 100), "object %s was never purged", uuid);
    it_fmt(target, sizeof(target), "/api/v1/trash/emptied/%" PRId64 "/restore", id);
    IT_EQ(req(&s, s.hdr[BOSS], "POST", target, &r), 404);
    IT_CHECKF(r.body != NULL && strstr(r.body, "gone") != NULL, "no clear message: %s",
              r.body != NULL ? r.body : "");
    it_resp_fini(&r);
    IT_EQ(st(&s, s.hdr[BOSS], "GET", FS "/p.bin"), 404);
    /* The record went with it. */
    v = emptied_list(&s, s.hdr[BOSS]);
    IT_EQ(json_array_size(v), 0);
    json_decref(v);
    stop(&s);
}

/* The retention passes drop the records past --emptied-retention-s. */
static void t_emptied_retention(void *arg)
{
    static const char *const args[] = {"--emptied-retention-s", "0", "--trash-interval-ms", "200"};
    struct sys s;

    (void)arg;
    start(&s, args, 4);
    put_ok(&s, s.hdr[BOSS], FS "/x.bin", 86, 100);
    rm_and_empty(&s, "/x.bin");
    IT_CHECKF(it_wait_for(emptied_none, &s, 100, 100), "the emptied record was never dropped");
    stop(&s);
}

/* ---- two clients on two shards ---- */

static void t_shards(void *arg)
{
    struct sys s;

    (void)arg;
    start(&s, NULL, 0);
    IT_CHECK(s.acme_shard != s.beta_shard);
    /* The same path in each client holds that client's bytes. */
    put_ok(&s, s.hdr[BOSS], FS "/same.bin", 81, 7000);
    put_ok(&s, s.bea, FS "/same.bin", 82, 9000);
    get_ok(&s, s.hdr[BOSS], FS "/same.bin", 81, 7000);
    get_ok(&s, s.bea, FS "/same.bin", 82, 9000);
    IT_EQ(st(&s, s.bea, "POST", FS "/bdir?op=mkdir"), 201);
    put_ok(&s, s.bea, FS "/bdir/only-b.bin", 83, 100);
    /* Neither sees the other's names. */
    IT_EQ(st(&s, s.bea, "GET", FS "/proj"), 404);
    IT_EQ(st(&s, s.hdr[BOSS], "GET", FS "/bdir"), 404);
    IT_EQ(st(&s, s.hdr[BOSS], "GET", FS "/bdir/only-b.bin"), 404);
    IT_EQ(st(&s, s.hdr[BOSS], "DELETE", FS "/bdir"), 404);
    IT_EQ(listing_size(&s, s.bea, FS "/"), 2);       /* bdir, same.bin */
    IT_EQ(listing_size(&s, s.hdr[BOSS], FS "/"), 2); /* proj, same.bin */
    /* Versions, trash and restore work on each shard, separately. */
    put_ok(&s, s.bea, FS "/same.bin", 84, 9100);
    {
        json_t *v = versions(&s, s.bea, "/same.bin");
        IT_EQ(json_array_size(v), 2);
        json_decref(v);
        v = versions(&s, s.hdr[BOSS], "/same.bin");
        IT_EQ(json_array_size(v), 1);
        json_decref(v);
    }
    IT_EQ(st(&s, s.bea, "DELETE", FS "/same.bin"), 204);
    IT_EQ(trash_count(&s, s.bea), 1);
    IT_EQ(trash_count(&s, s.hdr[BOSS]), 0);
    get_ok(&s, s.hdr[BOSS], FS "/same.bin", 81, 7000);
    IT_EQ(st(&s, s.hdr[BOSS], "DELETE", "/api/v1/trash"), 200);
    IT_EQ(trash_count(&s, s.bea), 1);
    IT_EQ(st(&s, s.bea, "DELETE", "/api/v1/trash"), 200);
    IT_EQ(trash_count(&s, s.bea), 0);
    IT_EQ(st(&s, s.bea, "GET", FS "/same.bin"), 404);
    get_ok(&s, s.hdr[BOSS], FS "/same.bin", 81, 7000);
    get_ok(&s, s.bea, FS "/bdir/only-b.bin", 83, 100);
    stop(&s);
}

/* A corrupt replica read through the gateway, whose reads are whole-object
 * ranges: the first read breaks off instead of delivering wrong bytes,
 * objsrv then reads that replica last, and the next read is whole and right. */
static void t_corrupt(void *arg)
{
    struct sys s;
    struct it_record rec;
    struct it_resp r;
    uint8_t sha[CF_SHA512_LEN];
    char uuid[40];
    bool whole_and_right;

    (void)arg;
    start(&s, NULL, 0);
    put_ok(&s, s.hdr[BOSS], FS "/c.bin", 71, 300000);
    current_uuid(&s, s.hdr[BOSS], "/c.bin", uuid);
    IT_EQ(it_info(s.c.app.base, uuid, &rec), 200);
    IT_EQ(rec.nfilers, 2);
    /* Equal read weights share the reads at random: make objsrv read the
     * replica on filer 1 first, once the app's records say so. */
    it_set_read_weights(s.c.db, (const int64_t[]){1000}, 1);
    it_wait_read_weights(s.c.app.base, uuid, (const int64_t[]){1000}, 1);
    it_flip_object_byte(&s.c.f[0], rec.path, 250000);
    it_prng_sha512(71, 300000, sha);
    (void)req(&s, s.hdr[BOSS], "GET", FS "/c.bin", &r);
    whole_and_right = r.curl_code == 0 && r.total == 300000 && memcmp(r.sha, sha, sizeof(sha)) == 0;
    IT_CHECKF(!whole_and_right, "the corrupt replica went unnoticed");
    IT_CHECK(r.total < 300000);
    it_resp_fini(&r);
    get_ok(&s, s.hdr[BOSS], FS "/c.bin", 71, 300000);
    stop(&s);
}

/* ---- per-client replicas ---- */

/* `coffer admin CMD... --fs-db FSDB` must exit 0; its output into out. */
static void admin_ok(const struct sys *s, char *out, size_t cap, const char *what, const char *verb,
                     const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
                     const char *a6)
{
    int st = it_coffer_cmd(out, cap, NULL, "admin", what, verb, "--fs-db", s->fsdb, a1, a2, a3, a4,
                           a5, a6, NULL);

    IT_CHECKF(it_exit_code(st) == 0, "coffer admin %s %s: exit %d (see cmd.log)", what, verb,
              it_exit_code(st));
}

/* The app's record of the current version of path: it lists exactly
 * `replicas` filers, and the bytes (seed, size) are on exactly those. */
static void check_copies(const struct sys *s, const char *auth, const char *path, uint64_t seed,
                         uint64_t size, unsigned replicas)
{
    struct it_record rec;
    uint8_t sha[CF_SHA512_LEN];
    char uuid[40];

    current_uuid(s, auth, path, uuid);
    IT_EQ(it_info(s->c.app.base, uuid, &rec), 200);
    it_prng_sha512(seed, size, sha);
    IT_EQ(rec.size, size);
    IT_CHECK(memcmp(rec.sha, sha, CF_SHA512_LEN) == 0);
    IT_EQ(rec.replicas, replicas);
    IT_EQ(rec.nfilers, replicas);
    it_check_placement(s->c.f, s->c.n, &rec);
}

/* A client made with `coffer admin client add NAME --replicas 3` gets 3
 * copies of every file it uploads through the gateway, whatever the app's
 * own default (2); one made without --replicas gets that default, 2. */
static void t_client_replicas(void *arg)
{
    char out[512], path[IT_PATH_MAX], trio[HDR_MAX], duo[HDR_MAX];
    const char *loc;
    struct sys s;

    (void)arg;
    memset(&s, 0, sizeof(s));
    IT_EQ(cf_httpc_global_init(), 0);
    it_cluster_start_filers(&s.c, 3);
    it_app_start_ok(&s.c.app, s.c.db, NULL);
    it_objsrv_start_ok(&s.c.objsrv, s.c.app.base, NULL);
    it_case_db_uri(s.fsdb, "fs-catalog");
    /* The first client add makes the first shard: beside a SQLite catalog,
     * or where --shard-location says (which PostgreSQL needs). */
    loc = it_shard_location(path, "fsshard");
    admin_ok(&s, out, sizeof(out), "client", "add", "trio", "--replicas", "3",
             loc != NULL ? "--shard-location" : NULL, loc, NULL);
    IT_CHECKF(strstr(out, "3 replicas") != NULL, "client add printed: %s", out);
    admin_ok(&s, out, sizeof(out), "client", "add", "duo", NULL, NULL, NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "2 replicas") != NULL, "client add printed: %s", out);
    admin_ok(&s, out, sizeof(out), "user", "add", "--client", "trio", "t", "--admin", "--password",
             TEST_PW);
    admin_ok(&s, out, sizeof(out), "user", "add", "--client", "duo", "d", "--admin", "--password",
             TEST_PW);
    it_gateway_start_ok(&s.gw, s.fsdb, s.c.app.base, s.c.objsrv.base, NULL);
    login(&s, "trio", "t", trio);
    login(&s, "duo", "d", duo);

    put_ok(&s, trio, FS "/a.bin", 800, 300000);
    check_copies(&s, trio, "/a.bin", 800, 300000, 3);
    get_ok(&s, trio, FS "/a.bin", 800, 300000);
    /* A new version is a new object: 3 copies too. */
    put_ok(&s, trio, FS "/a.bin", 801, 5000);
    check_copies(&s, trio, "/a.bin", 801, 5000, 3);
    put_ok(&s, duo, FS "/b.bin", 802, 300000);
    check_copies(&s, duo, "/b.bin", 802, 300000, 2);
    get_ok(&s, duo, FS "/b.bin", 802, 300000);
    stop(&s);
}

/* A gateway whose wall clock jumps a year ahead does not empty the trash:
 * its clock guard finds the jump (and, restarted on the same boot, again
 * from the state it keeps in the catalog) and retention uses the guarded
 * time, within which the entry is still young. */
static bool log_has_jump(void *arg)
{
    return it_file_contains(arg, "the wall clock jumped");
}

static void t_retention_clock(void *arg)
{
    char off[IT_PATH_MAX], log[IT_PATH_MAX], uuid[40];
    struct sys s;
    FILE *f;

    (void)arg;
    it_case_path(off, "clock-offset");
    it_case_path(log, "gateway.log");
    start(&s, NULL, 0);
    put_ok(&s, s.hdr[BOSS], FS "/young.bin", 81, 5000);
    current_uuid(&s, s.hdr[BOSS], "/young.bin", uuid);
    IT_EQ(st(&s, s.hdr[BOSS], "DELETE", FS "/young.bin"), 204);
    it_proc_stop_ok(&s.gw);
    it_gateway_start_ok(&s.gw, s.fsdb, s.c.app.base, s.c.objsrv.base, "--trash-retention-s", "600",
                        "--trash-interval-ms", "100", "--test-clock-offset-file", off, NULL);
    IT_EQ(trash_count(&s, s.hdr[BOSS]), 1);

    f = fopen(off, "w");
    IT_CHECK(f != NULL && fputs("31536000000", f) >= 0 && fclose(f) == 0);
    IT_CHECKF(it_wait_for(log_has_jump, log, 100, 100), "the gateway never noticed the jump");
    it_proc_stop_ok(&s.gw); /* the pass that noticed it has ended */
    it_gateway_start_ok(&s.gw, s.fsdb, s.c.app.base, s.c.objsrv.base, "--trash-retention-s", "600",
                        "--trash-interval-ms", "100", "--test-clock-offset-file", off, NULL);
    IT_CHECKF(it_wait_for(log_has_jump, log, 100, 100), "the restarted gateway missed the jump");
    IT_EQ(trash_count(&s, s.hdr[BOSS]), 1);
    IT_EQ(info_status(&s, uuid), 200);
    stop(&s);
}

/* ---- version expiry ---- */

/* The versions of path with their UUIDs, oldest first (at most 8); the count. */
static size_t version_uuids(const struct sys *s, const char *auth, const char *path,
                            char out[8][40])
{
    json_t *v = versions(s, auth, path), *e;
    size_t i, n = json_array_size(v);

    IT_CHECK(n <= 8);
    json_array_foreach(v, i, e)
    {
        it_fmt(out[i], 40, "%s", it_json_str(e, "uuid"));
        IT_EQ(it_json_bool(e, "current"), i == n - 1);
    }
    json_decref(v);
    return n;
}

struct expiry_wait {
    const struct sys *s;
    const char *auth, *path;
    size_t want;         /* versions left */
    const char *gone[4]; /* UUIDs the app must have taken (NULL: none) */
};

static bool expired(void *arg)
{
    const struct expiry_wait *w = arg;
    char u[8][40];

    if (version_uuids(w->s, w->auth, w->path, u) != w->want)
        return false;
    for (size_t i = 0; i < CF_ARRAY_LEN(w->gone) && w->gone[i] != NULL; i++)
        if (info_status(w->s, w->gone[i]) != 404)
            return false;
    return true;
}

/* The gateway's retention passes apply each client's version policy, set
 * with `coffer admin client set`: acme keeps 2 versions, so of 4 uploads
 * the 2 oldest go and their objects are handed to the app; with the
 * gateway's clock 2 days ahead (from its first start, so its clock guard
 * takes it as it is), beta's "keep 1 day" expires each replaced version,
 * while other's "keep 3 days" keeps them. */
static void t_version_expiry(void *arg)
{
    char off[IT_PATH_MAX], log[IT_PATH_MAX], out[1024], u[4][40], v[8][40], e[8][40];
    struct expiry_wait w;
    const char *const args[4] = {"--trash-interval-ms", "200", "--test-clock-offset-file", off};
    struct sys s;
    FILE *f;

    (void)arg;
    it_case_path(off, "clock-offset");
    it_case_path(log, "gateway.log");
    f = fopen(off, "w");
    IT_CHECK(f != NULL && fputs("172800000", f) >= 0 && fclose(f) == 0);
    start(&s, args, 4);
    admin_ok(&s, out, sizeof(out), "client", "set", "--client", "acme", "--keep-versions", "2",
             NULL, NULL);
    IT_CHECKF(strstr(out, "keep versions 2") != NULL, "client set printed: %s", out);
    admin_ok(&s, out, sizeof(out), "client", "set", "--client", "beta", "--keep-days", "1", NULL,
             NULL);
    admin_ok(&s, out, sizeof(out), "client", "set", "--client", "other", "--keep-days", "3", NULL,
             NULL);
    admin_ok(&s, out, sizeof(out), "client", "list", NULL, NULL, NULL, NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "acme") != NULL && strstr(out, "keep-versions") != NULL,
              "client list printed: %s", out);
    {
        /* Bad input: a clear refusal, exit status 2. */
        int st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "client", "set", "--fs-db", s.fsdb,
                               "--client", "acme", "--keep-versions", "1000001", NULL);
        IT_EQ(it_exit_code(st), 2);
    }

    for (int i = 0; i < 4; i++) {
        put_ok(&s, s.hdr[BOSS], FS "/proj/v.bin", 901 + (uint64_t)i, 5000);
        current_uuid(&s, s.hdr[BOSS], "/proj/v.bin", u[i]);
    }
    w = (struct expiry_wait){&s, s.hdr[BOSS], "/proj/v.bin", 2, {u[0], u[1], NULL, NULL}};
    IT_CHECKF(it_wait_for(expired, &w, 100, 100), "acme's old versions never expired");
    IT_EQ(version_uuids(&s, s.hdr[BOSS], "/proj/v.bin", v), 2);
    IT_CHECK(strcmp(v[0], u[2]) == 0 && strcmp(v[1], u[3]) == 0);
    get_ok(&s, s.hdr[BOSS], FS "/proj/v.bin", 904, 5000);
    IT_EQ(info_status(&s, u[2]), 200);
    IT_EQ(info_status(&s, u[3]), 200);
    IT_CHECKF(it_file_contains(log, "version expiry: client 1: 1 versions expired, 1 objects") ||
                  it_file_contains(log, "version expiry: client 1: 2 versions expired, 2 objects"),
              "no log line of the expiry");

    /* By age: other's replaced version stays, beta's goes (twice, so a
     * whole pass ran after other's uploads). */
    put_ok(&s, s.hdr[EVE], FS "/e.bin", 911, 3000);
    put_ok(&s, s.hdr[EVE], FS "/e.bin", 912, 3000);
    IT_EQ(version_uuids(&s, s.hdr[EVE], "/e.bin", e), 2);
    put_ok(&s, s.bea, FS "/d.bin", 921, 3000);
    current_uuid(&s, s.bea, "/d.bin", u[0]);
    put_ok(&s, s.bea, FS "/d.bin", 922, 3000);
    w = (struct expiry_wait){&s, s.bea, "/d.bin", 1, {u[0], NULL, NULL, NULL}};
    IT_CHECKF(it_wait_for(expired, &w, 100, 100), "beta's replaced version never expired");
    current_uuid(&s, s.bea, "/d.bin", u[1]);
    put_ok(&s, s.bea, FS "/d.bin", 923, 3000);
    w = (struct expiry_wait){&s, s.bea, "/d.bin", 1, {u[1], NULL, NULL, NULL}};
    IT_CHECKF(it_wait_for(expired, &w, 100, 100), "beta's second version never expired");
    get_ok(&s, s.bea, FS "/d.bin", 923, 3000);
    IT_EQ(version_uuids(&s, s.hdr[EVE], "/e.bin", v), 2);
    IT_EQ(info_status(&s, e[0]), 200);
    get_ok(&s, s.hdr[EVE], FS "/e.bin", 912, 3000);
    stop(&s);
}

/* ---- user, group and permission administration ---- */

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    struct cf_buf *b = arg;

    return cf_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* method target on the gateway with the raw body (NULL: none) and auth
 * ("" or NULL: no token); *out (may be NULL) gets the reply's JSON if it is
 * JSON. Returns the status. */
static long jreq(const struct sys *s, const char *auth, const char *method, const char *target,
                 const char *body, json_t **out)
{
    char url[IT_URL_MAX + 512];
    struct curl_slist *h = NULL;
    struct cf_buf b;
    CURL *e = curl_easy_init();
    long status = 0;
    CURLcode cc;

    IT_CHECK(e != NULL);
    cf_buf_init(&b, 1 << 20);
    it_fmt(url, sizeof(url), "%s%s", s->gw.base, target);
    if (auth != NULL && auth[0] != '\0')
        h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    (void)curl_easy_setopt(e, CURLOPT_URL, url);
    (void)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    (void)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
    (void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    (void)curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (body != NULL) {
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        (void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    cc = curl_easy_perform(e);
    IT_CHECKF(cc == CURLE_OK, "%s %s: %s", method, target, curl_easy_strerror(cc));
    (void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (out != NULL)
        *out = b.len > 0 ? json_loadb(b.base, b.len, 0, NULL) : NULL;
    cf_buf_fini(&b);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return status;
}

static long jst(const struct sys *s, const char *auth, const char *method, const char *target,
                const char *body)
{
    return jreq(s, auth, method, target, body, NULL);
}

/* GET /api/v1/link/PATH as auth: the link's URL, which must be 200. */
static void make_link(const struct sys *s, const char *auth, const char *target, char *url,
                      size_t cap)
{
    struct it_resp r;
    json_t *j;

    IT_EQ(req(s, auth, "GET", target, &r), 200);
    j = it_resp_json(&r);
    it_resp_fini(&r);
    IT_CHECK(it_json_int(j, "expires_ms") > 0);
    it_fmt(url, cap, "%s", it_json_str(j, "url"));
    json_decref(j);
}

/* Download links: a file (and an old version) fetched with no token but
 * the link, as an attachment; the link is bound to its file and version,
 * refused when changed, for another method, or once expired; made only
 * for a file the caller may read. */
static void t_links(void *arg)
{
    struct sys s;
    struct it_resp r;
    json_t *v;
    char url[1024], bad[1024], disp[256], target[256];

    (void)arg;
    start(&s, NULL, 0);
    put_ok(&s, s.hdr[BOSS], FS "/proj/a%20b.bin", 81, 5000);
    put_ok(&s, s.hdr[BOSS], FS "/proj/a%20b.bin", 82, 7000);
    put_ok(&s, s.hdr[BOSS], FS "/proj/other.bin", 83, 100);

    make_link(&s, s.hdr[RO], "/api/v1/link/proj/a%20b.bin", url, sizeof(url));
    IT_CHECKF(strncmp(url, FS "/proj/a%20b.bin?dl=", strlen(FS "/proj/a%20b.bin?dl=")) == 0, "%s",
              url);
    get_ok(&s, NULL, url, 82, 7000);
    IT_EQ(req(&s, NULL, "GET", url, &r), 200);
    IT_CHECK(it_resp_header(&r, "Content-Disposition", disp, sizeof(disp)));
    IT_STREQ(disp, "attachment; filename=\"a b.bin\"; filename*=UTF-8''a%20b.bin");
    it_resp_fini(&r);
    /* Bound to its file, method and bytes. */
    it_fmt(bad, sizeof(bad), FS "/proj/other.bin%s", strchr(url, '?'));
    IT_EQ(st(&s, NULL, "GET", bad), 401);
    IT_EQ(st(&s, NULL, "DELETE", url), 401);
    memcpy(bad, url, strlen(url) + 1);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    IT_EQ(st(&s, NULL, "GET", bad), 401);
    /* An older version, through /api/v1/versions. */
    v = versions(&s, s.hdr[BOSS], "/proj/a%20b.bin"); /* oldest first */
    IT_EQ(json_array_size(v), 2);
    IT_CHECK(!it_json_bool(json_array_get(v, 0), "current"));
    it_fmt(target, sizeof(target), "/api/v1/link/proj/a%%20b.bin?version=%" PRId64,
           it_json_int(json_array_get(v, 0), "id"));
    json_decref(v);
    make_link(&s, s.hdr[RO], target, url, sizeof(url));
    IT_CHECKF(strstr(url, "/api/v1/versions/proj/a%20b.bin?download=") == url, "%s", url);
    get_ok(&s, NULL, url, 81, 5000);
    /* Made only for a readable file, with a sane lifetime. */
    IT_EQ(st(&s, s.hdr[NOBODY], "GET", "/api/v1/link/proj/a%20b.bin"), 403);
    IT_EQ(st(&s, s.hdr[RO], "GET", "/api/v1/link/proj"), 400);
    IT_EQ(st(&s, s.hdr[NOTOKEN], "GET", "/api/v1/link/proj/a%20b.bin"), 401);
    IT_EQ(st(&s, s.hdr[RO], "GET", "/api/v1/link/proj/a%20b.bin?ttl_s=601"), 400);
    IT_EQ(st(&s, s.hdr[RO], "POST", "/api/v1/link/proj/a%20b.bin"), 405);
    /* Expired: a one-second link, two seconds later. */
    make_link(&s, s.hdr[RO], "/api/v1/link/proj/other.bin?ttl_s=1", url, sizeof(url));
    get_ok(&s, NULL, url, 83, 100);
    {
        struct timespec ts = {2, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    IT_EQ(st(&s, NULL, "GET", url), 401);
    stop(&s);
}

/* The member names of group name in GET /api/v1/admin/groups, joined by
 * ','; "-" when the group is not listed. */
static void members_of(const struct sys *s, const char *name, char *out, size_t cap)
{
    json_t *j = NULL, *g, *m;
    size_t i, k;

    IT_EQ(jreq(s, s->hdr[BOSS], "GET", "/api/v1/admin/groups", NULL, &j), 200);
    it_fmt(out, cap, "-");
    json_array_foreach(json_object_get(j, "groups"), i, g)
    {
        if (strcmp(it_json_str(g, "name"), name) != 0)
            continue;
        out[0] = '\0';
        json_array_foreach(json_object_get(g, "members"), k, m)
        {
            size_t len = strlen(out);
            it_fmt(out + len, cap - len, "%s%s", len > 0 ? "," : "", it_json_str(m, "name"));
        }
    }
    json_decref(j);
}

static void t_admin_api(void *arg)
{
    static const char user_body[] =
        "{\"name\":\"newbie\",\"password\":\"" TEST_PW "\",\"admin\":false}";
    struct sys sys, *s = &sys;
    const char *boss;
    char hdr[HDR_MAX], target[512], names[256], big[10 * 1024];
    json_t *j = NULL, *e;
    uint64_t team = 0;
    size_t i;

    (void)arg;
    start(s, NULL, 0);
    boss = s->hdr[BOSS];

    /* Only the client's admins; a token first. */
    IT_EQ(jst(s, s->hdr[RO], "GET", "/api/v1/admin/groups", NULL), 403);
    IT_EQ(jst(s, s->hdr[RO], "POST", "/api/v1/admin/users", user_body), 403);
    IT_EQ(jst(s, s->hdr[RW], "PUT", "/api/v1/admin/perms/proj",
              "{\"user\":\"rw\",\"level\":\"read-write\"}"),
          403);
    IT_EQ(jst(s, NULL, "POST", "/api/v1/admin/groups", "{\"name\":\"x\"}"), 401);

    /* A user: made once, then refused; bad bodies are 400, big ones 413. */
    IT_EQ(jreq(s, boss, "POST", "/api/v1/admin/users", user_body, &j), 201);
    IT_CHECK(strcmp(it_json_str(j, "name"), "newbie") == 0);
    json_decref(j);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/users", user_body), 409);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/users",
              "{\"name\":\"a/b\",\"password\":\"" TEST_PW "\"}"),
          400);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/users", "{\"name\":\"shorty\",\"password\":\"x\"}"),
          400);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/users", "{\"name\":"), 400);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/users", "[1]"), 400);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/users",
              "{\"name\":\"x\",\"password\":\"" TEST_PW "\",\"root\":true}"),
          400);
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/users", big), 413);
    login(s, "acme", "newbie", hdr);
    IT_EQ(st(s, hdr, "GET", FS "/proj"), 403);

    /* A group with the new user, granted read on /proj. */
    IT_EQ(jreq(s, boss, "POST", "/api/v1/admin/groups", "{\"name\":\"team\"}", &j), 201);
    team = (uint64_t)it_json_int(j, "id");
    json_decref(j);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/groups", "{\"name\":\"team\"}"), 409);
    IT_EQ(jst(s, boss, "PUT", "/api/v1/admin/groups/team/members/newbie", NULL), 204);
    IT_EQ(jst(s, boss, "PUT", "/api/v1/admin/groups/team/members/ghost", NULL), 404);
    IT_EQ(jst(s, boss, "PUT", "/api/v1/admin/groups/ghost/members/newbie", NULL), 404);
    members_of(s, "team", names, sizeof(names));
    IT_CHECKF(strcmp(names, "newbie") == 0, "team: %s", names);
    IT_EQ(jst(s, boss, "PUT", "/api/v1/admin/perms/proj", "{\"group\":\"team\",\"level\":\"all\"}"),
          400);
    IT_EQ(jst(s, boss, "PUT", "/api/v1/admin/perms/proj",
              "{\"group\":\"team\",\"user\":\"newbie\",\"level\":\"read\"}"),
          400);
    IT_EQ(jst(s, boss, "PUT", "/api/v1/admin/perms/nowhere",
              "{\"group\":\"team\",\"level\":\"read\"}"),
          404);
    IT_EQ(
        jst(s, boss, "PUT", "/api/v1/admin/perms/proj", "{\"group\":\"team\",\"level\":\"read\"}"),
        204);
    IT_EQ(jreq(s, boss, "GET", "/api/v1/admin/perms/proj", NULL, &j), 200);
    names[0] = '\0';
    json_array_foreach(json_object_get(j, "entries"), i, e)
    {
        size_t len = strlen(names);
        it_fmt(names + len, sizeof(names) - len, "%s:%s:%s;", it_json_str(e, "kind"),
               it_json_str(e, "name"), it_json_str(e, "level"));
    }
    json_decref(j);
    IT_CHECKF(strstr(names, "group:team:read;") != NULL, "entries: %s", names);
    IT_EQ(st(s, hdr, "GET", FS "/proj"), 200);
    IT_EQ(st(s, hdr, "GET", FS "/proj/sub"), 200);
    IT_EQ(put_status(s, hdr, FS "/proj/new.bin", 7, 100), 403);

    /* Deleted, the group grants nothing; restored, it does again. */
    IT_EQ(jst(s, boss, "DELETE", "/api/v1/admin/groups/team", NULL), 204);
    IT_EQ(jst(s, boss, "DELETE", "/api/v1/admin/groups/team", NULL), 404);
    IT_EQ(st(s, hdr, "GET", FS "/proj"), 403);
    members_of(s, "team", names, sizeof(names));
    IT_CHECKF(strcmp(names, "-") == 0, "a deleted group is listed: %s", names);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/groups", "{\"name\":\"team\"}"), 409);
    IT_EQ(jreq(s, boss, "GET", "/api/v1/admin/group-trash", NULL, &j), 200);
    IT_EQ(json_array_size(json_object_get(j, "groups")), 1);
    e = json_array_get(json_object_get(j, "groups"), 0);
    IT_EQ((uint64_t)it_json_int(e, "id"), team);
    IT_CHECK(strcmp(it_json_str(e, "name"), "team") == 0);
    json_decref(j);
    IT_EQ(jst(s, s->hdr[EVE], "POST", "/api/v1/admin/group-trash/1", NULL), 404);
    it_fmt(target, sizeof(target), "/api/v1/admin/group-trash/%" PRIu64, team);
    IT_EQ(jst(s, s->hdr[EVE], "POST", target, NULL), 404);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/group-trash/abc", NULL), 400);
    IT_EQ(jst(s, boss, "POST", target, NULL), 204);
    IT_EQ(st(s, hdr, "GET", FS "/proj"), 200);
    members_of(s, "team", names, sizeof(names));
    IT_CHECKF(strcmp(names, "newbie") == 0, "restored team: %s", names);

    /* Members leave; entries go; purged groups are gone for good. */
    IT_EQ(jst(s, boss, "DELETE", "/api/v1/admin/groups/team/members/newbie", NULL), 204);
    IT_EQ(st(s, hdr, "GET", FS "/proj"), 403);
    IT_EQ(jst(s, boss, "PUT", "/api/v1/admin/groups/team/members/newbie", NULL), 204);
    IT_EQ(jst(s, boss, "DELETE", "/api/v1/admin/perms/proj?group=team", NULL), 204);
    IT_EQ(st(s, hdr, "GET", FS "/proj"), 403);
    IT_EQ(jst(s, boss, "PUT", "/api/v1/admin/perms/proj",
              "{\"user\":\"newbie\",\"level\":\"read-write\"}"),
          204);
    IT_EQ(put_status(s, hdr, FS "/proj/new.bin", 7, 100), 201);
    IT_EQ(jst(s, boss, "DELETE", "/api/v1/admin/groups/team", NULL), 204);
    IT_EQ(jst(s, boss, "DELETE", target, NULL), 204);
    IT_EQ(jst(s, boss, "DELETE", target, NULL), 404);
    IT_EQ(jreq(s, boss, "GET", "/api/v1/admin/group-trash", NULL, &j), 200);
    IT_EQ(json_array_size(json_object_get(j, "groups")), 0);
    json_decref(j);
    IT_EQ(jst(s, boss, "POST", "/api/v1/admin/groups", "{\"name\":\"team\"}"), 201);
    /* The CLI's groups trash, on the same database. */
    {
        char out[4096];
        admin_ok(s, out, sizeof(out), "group", "rm", "--client", "acme", "team", NULL, NULL, NULL);
        members_of(s, "team", names, sizeof(names));
        IT_CHECKF(strcmp(names, "-") == 0, "team after group rm: %s", names);
        admin_ok(s, out, sizeof(out), "group", "trash", "--client", "acme", NULL, NULL, NULL, NULL);
        IT_CHECKF(strstr(out, "team") != NULL, "group trash: %s", out);
        admin_ok(s, out, sizeof(out), "group", "restore", "--client", "acme", "team", NULL, NULL,
                 NULL);
        members_of(s, "team", names, sizeof(names));
        IT_CHECKF(strcmp(names, "") == 0, "team after group restore: %s", names);
    }

    /* Disabled users get nothing; an admin cannot disable itself; a new
     * password takes effect. */
    IT_EQ(jst(s, boss, "PATCH", "/api/v1/admin/users/boss", "{\"disabled\":true}"), 400);
    IT_EQ(jst(s, boss, "PATCH", "/api/v1/admin/users/ghost", "{\"disabled\":true}"), 404);
    IT_EQ(jst(s, boss, "PATCH", "/api/v1/admin/users/newbie", "{}"), 400);
    memset(big, 'x', 300);
    big[300] = '\0';
    it_fmt(target, sizeof(target), "/api/v1/admin/users/%s", big);
    IT_EQ(jst(s, boss, "PATCH", target, "{\"disabled\":true}"), 400);
    IT_EQ(jst(s, boss, "PATCH", "/api/v1/admin/users/newbie", "{\"disabled\":true}"), 204);
    IT_CHECK(st(s, hdr, "GET", FS "/proj") != 200);
    IT_EQ(jst(s, boss, "PATCH", "/api/v1/admin/users/newbie",
              "{\"disabled\":false,\"password\":\"another long secret\"}"),
          204);
    {
        char url[IT_URL_MAX + 32];
        json_t *body = json_pack("{s:s,s:s,s:s}", "client", "acme", "user", "newbie", "password",
                                 "another long secret");
        long status = 0;
        it_fmt(url, sizeof(url), "%s/api/v1/login", s->gw.base);
        IT_EQ(cf_httpc_json("POST", url, body, 20000, &status, NULL, NULL), 0);
        IT_EQ(status, 200);
        json_decref(body);
    }
    IT_EQ(st(s, hdr, "GET", FS "/proj"), 200);

    /* Another client's admin sees and changes only its own client. */
    IT_EQ(jreq(s, s->hdr[EVE], "GET", "/api/v1/admin/users", NULL, &j), 200);
    IT_EQ(json_array_size(json_object_get(j, "users")), 1);
    json_decref(j);
    IT_EQ(jst(s, s->hdr[EVE], "DELETE", "/api/v1/admin/groups/team", NULL), 404);
    IT_EQ(jst(s, s->hdr[EVE], "PATCH", "/api/v1/admin/users/newbie", "{\"disabled\":true}"), 404);
    stop(s);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"corrupt", t_corrupt, NULL, 60},
        {"matrix", t_matrix, NULL, 120},
        {"concurrent", t_concurrent, NULL, 60},
        {"delete_purge", t_delete_purge, NULL, 60},
        {"retention", t_retention, NULL, 60},
        {"retention_clock", t_retention_clock, NULL, 60},
        {"shards", t_shards, NULL, 60},
        {"client_replicas", t_client_replicas, NULL, 90},
        {"admin_api", t_admin_api, NULL, 90},
        {"links", t_links, NULL, 60},
        {"version_expiry", t_version_expiry, NULL, 90},
        {"emptied", t_emptied, NULL, 90},
        {"emptied_retention", t_emptied_retention, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
