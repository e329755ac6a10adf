/*
 * it_xform.c -- compressed and encrypted objects end to end (README
 * "Compression and encryption"): real filers, `coffer app` and `coffer
 * objsrv` with a master key file, and the gateway.
 *   upload_read  ?xform=ze/z/e uploads: the record keeps the plain SHA-512
 *                and what the filers hold; a compressible file is stored
 *                much smaller, no plain text in an encrypted one; objsrv
 *                serves it decoded, whole and by Range, and gives no signed
 *                URL; a bad ?xform= is 400; an app without a master key
 *                refuses "e" (503, nothing recorded), an objsrv without one
 *                refuses to serve it (503) but serves "z".
 *   repair       a flipped stored byte and a deleted replica: reads go on
 *                from the good replica; both are found by the audit (against the stored SHA-512)
 * and rewritten from a good replica; a dead filer's objects are rebuilt elsewhere; every replica
 * then holds the stored bytes and reads back. rotate       a second master key, a restart and the
 * rewrap job: every key is wrapped under the new one; the old key removed, the objects still read;
 * the rewrap again finds nothing to do; an objsrv with only an unrelated key answers 503. gateway
 * a client set to --compress yes --encrypt yes uploads through the gateway: its objects are stored
 * "ze", read back whole and by Range through the gateway, and streamed when the client asks for a
 * redirect.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/auth.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/io.h"
#include "coffer/keyring.h"
#include "harness.h"

#define K1      "1 1111111111111111111111111111111111111111111111111111111111111111\n"
#define K2      "2 2222222222222222222222222222222222222222222222222222222222222222\n"
#define K3      "3 3333333333333333333333333333333333333333333333333333333333333333\n"
#define BIG     (3 * 256 * 1024 + 77) /* over three frames of the stored format */
#define TEST_PW "correct horse"

/* (Re)write the case's master key file with text, mode 0600; its path into
 * path. */
static void write_keys(char path[IT_PATH_MAX], const char *text)
{
    it_case_path(path, "master.key");
    (void)unlink(path);
    IT_EQ(cf_io_write_file(path, text, strlen(text), 0600, false, NULL), 0);
}

/* What the app says the filers hold. */
struct held {
    char xform[8];
    uint64_t size;
    uint8_t sha[CF_SHA512_LEN];
    int64_t master_key; /* -1: none given */
};

static void held_from(const json_t *j, struct held *h)
{
    const char *s = it_json_str(j, "stored_sha512");
    json_t *mk = json_object_get(j, "master_key");

    it_fmt(h->xform, sizeof(h->xform), "%s", it_json_str(j, "xform"));
    h->size = (uint64_t)it_json_int(j, "stored_size");
    IT_EQ(cf_sha512_parse_hex(s, strlen(s), h->sha), 0);
    h->master_key = json_is_integer(mk) ? json_integer_value(mk) : -1;
}

/* POST app/v1/objects?replicas=2&xform=x with the payload (seed, size).
 * Returns the status; on 201 fills rec and h. */
static long upload_x(const char *app, const char *x, uint64_t seed, uint64_t size,
                     struct it_record *rec, struct held *h)
{
    struct it_body b = {.chunked = size % 2 == 1};
    uint8_t sha[CF_SHA512_LEN];
    char target[96];
    struct it_resp r;
    long st;

    it_fmt(target, sizeof(target), "/v1/objects?replicas=2&xform=%s", x);
    it_gen_init(&b.gen, seed, size);
    st = it_http_to(NULL, app, "POST", target, &b, &r, NULL);
    if (st == 201) {
        json_t *j = it_resp_json(&r);
        it_gen_final(&b.gen, sha);
        it_check_upload_reply(&r, size, sha, 2, rec);
        held_from(j, h);
        IT_CHECKF(strcmp(h->xform, x) == 0, "xform \"%s\", asked \"%s\"", h->xform, x);
        json_decref(j);
    } else {
        it_gen_fini(&b.gen);
    }
    it_resp_fini(&r);
    return st;
}

/* The app's record of uuid now: what the filers hold. */
static void held_now(const char *app, const char *uuid, struct it_record *rec, struct held *h)
{
    char target[128];
    struct it_resp r;
    json_t *j;

    it_fmt(target, sizeof(target), "/v1/objects/%s/info", uuid);
    IT_EQ(it_http_to(NULL, app, "GET", target, NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    it_record_from_json(j, rec);
    held_from(j, h);
    json_decref(j);
    it_resp_fini(&r);
}

static const struct it_filer *filer_of(const struct it_cluster *c, unsigned id)
{
    IT_CHECK(id >= 1 && id <= c->n);
    return &c->f[id - 1];
}

/* Every filer rec lists holds exactly the stored bytes h (on disk and
 * served as stored), and objsrv serves the plain bytes, whole and a range. */
static void check_object(const struct it_cluster *c, const struct it_record *rec,
                         const struct held *h, uint64_t seed)
{
    for (size_t k = 0; k < rec->nfilers; k++) {
        const struct it_filer *f = filer_of(c, rec->filers[k]);
        it_check_object_file(f, rec->path, h->size, h->sha);
        it_get_ok(NULL, f, rec->path, h->size, h->sha);
    }
    it_download_ok(NULL, c->objsrv.base, rec);
    if (rec->size > 2000)
        it_download_range_ok(NULL, c->objsrv.base, rec, seed, 1000, rec->size - 500);
}

/* The stored bytes of rec on its first filer contain no 256 plain bytes
 * of the payload (seed) at offset 1000. */
static void check_no_plain(const struct it_cluster *c, const struct it_record *rec, uint64_t seed)
{
    unsigned char plain[256];
    char target[300];
    struct it_resp r;

    it_prng_fill(seed, 1000, plain, sizeof(plain));
    it_fmt(target, sizeof(target), "/o/%s", rec->path);
    IT_EQ(it_http(NULL, filer_of(c, rec->filers[0]), "GET", target, NULL, &r, NULL), 200);
    IT_CHECK(r.body_len > 0);
    IT_CHECKF(memmem(r.body, r.body_len, plain, sizeof(plain)) == NULL,
              "plain bytes of %s on filer %u", rec->uuid, rec->filers[0]);
    it_resp_fini(&r);
}

static void start(struct it_cluster *c, size_t n, const char *keys)
{
    it_cluster_init(c);
    for (size_t i = 0; i < n; i++)
        it_cluster_add_filer(c, 100, "--small-max", "0", NULL);
    it_admin_shard_add(c->db);
    /* No finding checks: a read that meets a damaged replica leaves it for
     * the audit to find. */
    it_app_start_ok(&c->app, c->db, "--purge-interval-ms", "0", "--stale-delay-ms", "0",
                    "--audit-interval-s", "0", "--finding-checks=false", "--master-key-file", keys,
                    NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, "--master-key-file", keys, NULL);
}

/* ---- cases ---- */

static void t_upload_read(void *arg)
{
    const uint64_t text = IT_SEED_TEXT | 1, rnd = 2;
    struct it_record rze, rz, re, junk;
    struct held hze, hz, he, hj;
    struct it_proc app2, objsrv2;
    struct it_cluster c;
    char keys[IT_PATH_MAX], target[128];
    struct it_resp r;
    unsigned before;

    (void)arg;
    write_keys(keys, K1);
    start(&c, 3, keys);

    /* Compressed and encrypted: much smaller, no plain text, reads back. */
    IT_EQ(upload_x(c.app.base, "ze", text, BIG, &rze, &hze), 201);
    IT_CHECKF(hze.size < BIG / 10, "%llu bytes stored for %d", (unsigned long long)hze.size, BIG);
    IT_CHECK(memcmp(hze.sha, rze.sha, CF_SHA512_LEN) != 0);
    IT_EQ(hze.master_key, 1);
    check_object(&c, &rze, &hze, text);
    check_no_plain(&c, &rze, text);
    /* Compressed only, random bytes: kept about as they are. */
    IT_EQ(upload_x(c.app.base, "z", rnd, BIG, &rz, &hz), 201);
    IT_CHECK(hz.size >= BIG && hz.size < BIG + 1000);
    IT_EQ(hz.master_key, -1);
    check_object(&c, &rz, &hz, rnd);
    /* Encrypted only. */
    IT_EQ(upload_x(c.app.base, "e", text + 2, 5000, &re, &he), 201);
    check_object(&c, &re, &he, text + 2);
    check_no_plain(&c, &re, text + 2);

    /* No signed filer URL for a transformed object: it serves stored bytes. */
    it_fmt(target, sizeof(target), "/v1/objects/%s/urls", rze.uuid);
    IT_EQ(it_http_to(NULL, c.objsrv.base, "GET", target, NULL, &r, NULL), 409);
    it_check_error_body(&r, NULL);
    it_resp_fini(&r);
    IT_EQ(upload_x(c.app.base, "x", rnd, 10, &junk, &hj), 400);

    /* An app without a master key refuses encryption and records nothing;
     * it still stores compressed objects. */
    before = it_objdb_count(c.db, 3);
    it_app_start_ok(&app2, c.db, "--purge-interval-ms", "0", NULL);
    IT_EQ(upload_x(app2.base, "ze", text, 5000, &junk, &hj), 503);
    IT_EQ(upload_x(app2.base, "e", text, 5000, &junk, &hj), 503);
    IT_EQ(it_objdb_count(c.db, 3), before);
    /* An objsrv without one refuses encrypted objects, serves the rest. */
    it_objsrv_start_ok(&objsrv2, c.app.base, NULL);
    it_fmt(target, sizeof(target), "/v1/objects/%s", rze.uuid);
    IT_EQ(it_http_to(NULL, objsrv2.base, "GET", target, NULL, &r, NULL), 503);
    IT_CHECKF(strstr(r.body, "master-key-file") != NULL, "objsrv said: %s", r.body);
    it_resp_fini(&r);
    it_download_ok(NULL, objsrv2.base, &rz);
    it_proc_stop_ok(&objsrv2);
    it_proc_stop_ok(&app2);
    it_cluster_stop(&c);
}

static void t_repair(void *arg)
{
    enum { N = 6 };
    struct it_record rec[N];
    struct held h[N];
    struct it_cluster c;
    char keys[IT_PATH_MAX], out[2048];
    json_t *job;
    int st;

    (void)arg;
    write_keys(keys, K1);
    start(&c, 4, keys);
    for (unsigned i = 0; i < N; i++)
        IT_EQ(upload_x(c.app.base, i % 2 ? "ze" : "e", (i % 3 ? IT_SEED_TEXT : 0) | (100 + i),
                       i == 0 ? BIG : 3000 + 1000 * i, &rec[i], &h[i]),
              201);

    /* One stored byte flipped, one replica gone: the audit reads stored
     * bytes, finds both and repairs them from the other replica. */
    it_flip_object_byte(filer_of(&c, rec[0].filers[0]), rec[0].path, h[0].size / 2);
    it_object_file_remove(filer_of(&c, rec[1].filers[1]), rec[1].path);
    /* Reads go on from the good replica meanwhile. */
    for (int k = 0; k < 3; k++) {
        it_download_ok(NULL, c.objsrv.base, &rec[0]);
        it_download_ok(NULL, c.objsrv.base, &rec[1]);
    }
    job = it_job_run(c.app.base, "audit", "{}");
    IT_EQ(it_job_counter(job, "corrupt"), 1);
    IT_EQ(it_job_counter(job, "missing"), 1);
    IT_EQ(it_job_counter(job, "repaired"), 2);
    IT_EQ(it_job_counter(job, "ok"), 2 * N - 2);
    json_decref(job);
    for (unsigned i = 0; i < N; i++)
        check_object(&c, &rec[i], &h[i], (i % 3 ? IT_SEED_TEXT : 0) | (100 + i));
    job = it_job_run(c.app.base, "audit", "{}");
    IT_EQ(it_job_counter(job, "ok"), 2 * N);
    json_decref(job);

    /* Filer 1 dies: its objects are copied (stored bytes) to the others. */
    it_filer_kill9(&c.f[0]);
    it_wait_filer_table(c.db, 1, "offline");
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebuild", "--filer", "1", "--app",
                       c.app.base, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "admin rebuild: %d: %s", st, out);
    for (unsigned i = 0; i < N; i++) {
        struct it_record now;
        struct held hn;
        held_now(c.app.base, rec[i].uuid, &now, &hn);
        IT_EQ(now.nfilers, 2);
        IT_CHECK(!it_record_has(&now, 1));
        IT_EQ(hn.size, h[i].size);
        IT_CHECK(memcmp(hn.sha, h[i].sha, CF_SHA512_LEN) == 0);
        check_object(&c, &now, &hn, (i % 3 ? IT_SEED_TEXT : 0) | (100 + i));
    }
    it_cluster_stop(&c);
}

/* Restart the app and objsrv (the key file is read at start). */
static void restart(struct it_cluster *c, const char *keys)
{
    it_proc_stop_ok(&c->objsrv);
    it_proc_stop_ok(&c->app);
    it_app_start_ok(&c->app, c->db, "--purge-interval-ms", "0", "--audit-interval-s", "0",
                    "--master-key-file", keys, NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, "--master-key-file", keys, NULL);
}

static void t_rotate(void *arg)
{
    enum { N = 4 };
    struct it_record rec[N];
    struct held h[N];
    struct it_proc other;
    struct it_cluster c;
    char keys[IT_PATH_MAX], out[2048], k3[IT_PATH_MAX], target[128];
    struct it_resp r;
    json_t *job;
    int st;

    (void)arg;
    write_keys(keys, K1);
    start(&c, 2, keys);
    for (unsigned i = 0; i < N; i++) {
        IT_EQ(upload_x(c.app.base, i ? "ze" : "z", IT_SEED_TEXT | (200 + i), 20000, &rec[i], &h[i]),
              201);
        IT_EQ(h[i].master_key, i ? 1 : -1);
    }

    /* Add the new key (last line: new wraps use it), restart, rewrap. */
    write_keys(keys, K1 K2);
    restart(&c, keys);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rewrap", "--app", c.app.base, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "admin rewrap: %d: %s", st, out);
    IT_CHECKF(strstr(out, "rewrapped 3") != NULL, "admin rewrap printed: %s", out);
    for (unsigned i = 0; i < N; i++) {
        struct it_record now;
        struct held hn;
        held_now(c.app.base, rec[i].uuid, &now, &hn);
        IT_EQ(hn.master_key, i ? 2 : -1);
        IT_CHECK(memcmp(hn.sha, h[i].sha, CF_SHA512_LEN) == 0); /* the bytes did not change */
    }

    /* The old key removed: everything still reads; nothing left to rewrap. */
    write_keys(keys, K2);
    restart(&c, keys);
    for (unsigned i = 0; i < N; i++)
        check_object(&c, &rec[i], &h[i], IT_SEED_TEXT | (200 + i));
    job = it_job_run(c.app.base, "rewrap", "{}");
    IT_EQ(it_job_counter(job, "rewrapped"), 0);
    IT_EQ(it_job_counter(job, "current"), 3);
    json_decref(job);

    /* An objsrv with an unrelated key cannot read them: a clear 503. */
    it_case_path(k3, "other.key");
    IT_EQ(cf_io_write_file(k3, K3, strlen(K3), 0600, false, NULL), 0);
    it_objsrv_start_ok(&other, c.app.base, "--master-key-file", k3, NULL);
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec[1].uuid);
    IT_EQ(it_http_to(NULL, other.base, "GET", target, NULL, &r, NULL), 503);
    IT_CHECKF(strstr(r.body, "master key 2") != NULL, "objsrv said: %s", r.body);
    it_resp_fini(&r);
    it_proc_stop_ok(&other);
    it_cluster_stop(&c);
}

/* ---- through the gateway ---- */

static void login(const char *gw, const char *client, const char *user, char *hdr, size_t cap)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body = json_pack("{s:s,s:s,s:s}", "client", client, "user", user, "password", TEST_PW);
    json_t *out = NULL;
    long status = 0;

    it_fmt(url, sizeof(url), "%s/api/v1/login", gw);
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &out, err) == 0, "login: %s", err);
    IT_EQ(status, 200);
    it_fmt(hdr, cap, "Authorization: Bearer %s", it_json_str(out, "token"));
    json_decref(body);
    json_decref(out);
}

static void admin_ok(const char *fsdb, char *out, size_t cap, const char *a1, const char *a2,
                     const char *a3, const char *a4, const char *a5, const char *a6, const char *a7,
                     const char *a8)
{
    int st = it_coffer_cmd(out, cap, NULL, "admin", a1, a2, "--fs-db", fsdb, a3, a4, a5, a6, a7, a8,
                           NULL);

    IT_CHECKF(it_exit_code(st) == 0, "coffer admin %s %s: exit %d: %s", a1, a2, it_exit_code(st),
              out);
}

static void t_gateway(void *arg)
{
    const uint64_t seed = IT_SEED_TEXT | 300;
    char keys[IT_PATH_MAX], fsdb[IT_PATH_MAX + 32], loc[IT_PATH_MAX], out[1024];
    char auth[CF_AUTH_TOKEN_LEN + 64], target[128], uuid[40];
    struct it_body b = {.chunked = true};
    struct it_record rec;
    struct held h;
    struct it_cluster c;
    struct it_proc gw;
    struct it_resp r;
    uint8_t sha[CF_SHA512_LEN];
    const char *l;
    json_t *j;

    (void)arg;
    IT_EQ(cf_httpc_global_init(), 0);
    write_keys(keys, K1);
    start(&c, 2, keys);
    it_case_db_uri(fsdb, "fs-catalog");
    l = it_shard_location(loc, "fsshard");
    admin_ok(fsdb, out, sizeof(out), "client", "add", "acme", l ? "--shard-location" : NULL, l,
             NULL, NULL, NULL);
    admin_ok(fsdb, out, sizeof(out), "user", "add", "--client", "acme", "u", "--admin",
             "--password", TEST_PW);
    admin_ok(fsdb, out, sizeof(out), "client", "set", "--client", "acme", "--compress", "yes",
             "--encrypt", "yes");
    IT_CHECKF(strstr(out, "compress yes, encrypt yes") != NULL, "client set printed: %s", out);
    admin_ok(fsdb, out, sizeof(out), "client", "list", NULL, NULL, NULL, NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "compressed,encrypted") != NULL, "client list printed: %s", out);
    it_gateway_start_ok(&gw, fsdb, c.app.base, c.objsrv.base, "--redirect-min", "1000", NULL);
    login(gw.base, "acme", "u", auth, sizeof(auth));

    it_gen_init(&b.gen, seed, BIG);
    IT_EQ(it_http_to(NULL, gw.base, "PUT", "/api/v1/fs/doc.txt", &b, &r, auth, NULL), 201);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
    IT_EQ(it_http_to(NULL, gw.base, "GET", "/api/v1/versions/doc.txt", NULL, &r, auth, NULL), 200);
    j = it_resp_json(&r);
    {
        json_t *v = json_object_get(j, "versions");
        IT_EQ(json_array_size(v), 1);
        it_fmt(uuid, sizeof(uuid), "%s", it_json_str(json_array_get(v, 0), "uuid"));
    }
    json_decref(j);
    it_resp_fini(&r);
    held_now(c.app.base, uuid, &rec, &h);
    IT_CHECKF(strcmp(h.xform, "ze") == 0, "stored as \"%s\"", h.xform);
    IT_CHECK(h.size < BIG / 10);
    check_no_plain(&c, &rec, seed);

    /* Read back through the gateway, whole and by Range. */
    it_prng_sha512(seed, BIG, sha);
    for (int redirect = 0; redirect < 2; redirect++) {
        /* Asked for a redirect, it streams: no filer URL serves the plain
         * bytes of a transformed object. */
        IT_EQ(it_http_to(NULL, gw.base, "GET",
                         redirect ? "/api/v1/fs/doc.txt?redirect=1" : "/api/v1/fs/doc.txt", NULL,
                         &r, auth, NULL),
              200);
        IT_EQ(r.total, BIG);
        IT_CHECK(memcmp(r.sha, sha, CF_SHA512_LEN) == 0);
        it_resp_fini(&r);
    }
    {
        enum { FIRST = 300000, LAST = 600000 };
        unsigned char *want = malloc(LAST - FIRST + 1);
        struct cf_sha512 ctx;
        IT_CHECK(want != NULL);
        it_prng_fill(seed, FIRST, want, LAST - FIRST + 1);
        IT_EQ(cf_sha512_init(&ctx), 0);
        IT_EQ(cf_sha512_update(&ctx, want, LAST - FIRST + 1), 0);
        IT_EQ(cf_sha512_final(&ctx, sha), 0);
        free(want);
        it_fmt(target, sizeof(target), "Range: bytes=%d-%d", FIRST, LAST);
        IT_EQ(it_http_to(NULL, gw.base, "GET", "/api/v1/fs/doc.txt", NULL, &r, auth, target, NULL),
              206);
        IT_EQ(r.total, LAST - FIRST + 1);
        IT_CHECK(memcmp(r.sha, sha, CF_SHA512_LEN) == 0);
        it_resp_fini(&r);
    }
    it_proc_stop_ok(&gw);
    it_cluster_stop(&c);
}

/* `coffer server` makes DATA/master.key (0600) and gives it to its app
 * and objsrv, which store and serve an encrypted object. */
static void t_server(void *arg)
{
    const uint64_t seed = IT_SEED_TEXT | 400;
    char path[IT_PATH_MAX];
    struct it_record rec;
    struct it_server s;
    struct held h;
    struct stat sb;
    int st;

    (void)arg;
    it_server_start_ok(&s, "data", 2, NULL);
    it_case_path(path, "data/" CF_KEYRING_FILE);
    IT_EQ(stat(path, &sb), 0);
    IT_EQ(sb.st_mode & 0777, 0600);
    IT_EQ(upload_x(s.p.base, "ze", seed, 100000, &rec, &h), 201);
    IT_EQ(h.master_key, 1);
    IT_CHECK(h.size < 100000 / 10);
    it_download_ok(NULL, s.objsrv, &rec);
    it_proc_signal(&s.p, SIGINT);
    IT_CHECKF(it_proc_wait_exit(&s.p, 20000, &st), "coffer server ignored SIGINT");
    IT_EQ(it_exit_code(st), 0);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"upload_read", t_upload_read, NULL, 60}, {"repair", t_repair, NULL, 90},
        {"rotate", t_rotate, NULL, 60},           {"gateway", t_gateway, NULL, 60},
        {"server", t_server, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
