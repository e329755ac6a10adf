/*
 * it_server_records.c -- in `coffer server` objsrv takes object records
 * from the app in the same process (objsrv.h record_cb, app.h
 * cf_app_record), not over HTTP: downloads through the gateway return the
 * right bytes while objsrv's look-ups are all in process and none is an
 * HTTP request to the app; objsrv's 404 for an object the app does not
 * have adds no 404 to the app's request counters (a direct GET of the
 * app's /info does: the control); and a delete is honoured as objsrv.h
 * states: an object never read is refused at once, a cached one from
 * --changes-ms + 1 s after the delete was acknowledged. The gateway's
 * small reads go to objsrv in process and objsrv's to the filers in
 * process (with failover and refusal of damaged replicas), a small file
 * is served whole only if the object record's SHA-512 objsrv verified the
 * bytes against is the one the file system database holds, and the
 * gateway's uploads go to the app in process.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/sha512.h"
#include "harness.h"

#define LINE_MS 20000
#define FS      "/api/v1/fs"
#define AUTH    (64 + 512)
#define FILES   40   /* files read through the gateway, each once */
#define SMALL   4096 /* the size of the benchmark's small reads */
/* objsrv's stated bound (objsrv.h): --changes-ms (1 s) + 1 s. */
#define DELETE_BOUND_MS 2000u

#define IN_PROCESS    "coffer_objsrv_record_lookups_total{via=\"in_process\"}"
#define OVER_HTTP     "coffer_objsrv_record_lookups_total{via=\"http\"}"
#define APP_GET4XX    "coffer_http_requests_total{role=\"app\",method=\"GET\",code=\"4xx\"}"
#define READS_LOCAL   "coffer_gateway_small_reads_total{via=\"in_process\"}"
#define READS_HTTP    "coffer_gateway_small_reads_total{via=\"http\"}"
#define REPLICA_LOCAL "coffer_objsrv_replica_reads_in_process_total"
#define UPLOADS_LOCAL "coffer_gateway_uploads_total{via=\"in_process\"}"
#define UPLOADS_HTTP  "coffer_gateway_uploads_total{via=\"http\"}"
#define APP_POSTS     "coffer_http_requests_total{role=\"app\",method=\"POST\",code=\"2xx\"}"

struct sys {
    struct it_server s;
    char gw[IT_URL_MAX];
    char pw[64];
    char auth[AUTH]; /* "Authorization: Bearer ..." */
};

/* Start `coffer server` on "data" with nfilers filers and r replicas; pw:
 * the admin's password (NULL: read it from the first start's lines). */
static void start_with(struct sys *y, unsigned nfilers, const char *r, const char *pw)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body, *out = NULL;
    long status = 0;

    memset(y, 0, sizeof(*y));
    IT_EQ(cf_httpc_global_init(), 0);
    it_server_start_ok(&y->s, "data", nfilers, "--replicas", r, NULL);
    it_proc_expect_line(&y->s.p, "coffer gateway listening on ", y->gw, sizeof(y->gw), LINE_MS);
    if (pw == NULL)
        it_proc_expect_line(&y->s.p, "coffer gateway login: client demo user admin password ",
                            y->pw, sizeof(y->pw), LINE_MS);
    else
        it_fmt(y->pw, sizeof(y->pw), "%s", pw);
    body = json_pack("{s:s,s:s,s:s}", "client", "demo", "user", "admin", "password", y->pw);
    it_fmt(url, sizeof(url), "%s/api/v1/login", y->gw);
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &out, err) == 0, "login: %s", err);
    IT_EQ(status, 200);
    it_fmt(y->auth, sizeof(y->auth), "Authorization: Bearer %s", it_json_str(out, "token"));
    json_decref(body);
    json_decref(out);
}

static void start(struct sys *y)
{
    start_with(y, 3, "3", NULL);
}

/* GET objsrv/v1/objects/UUID; the status. */
static long download_status(const char *objsrv, const char *uuid)
{
    char target[96];
    struct it_resp r;
    long st;

    it_fmt(target, sizeof(target), "/v1/objects/%s", uuid);
    st = it_http_to(NULL, objsrv, "GET", target, NULL, &r, NULL);
    it_resp_fini(&r);
    return st;
}

/* FILES files of SMALL bytes PUT and then each read once through the
 * gateway, byte for byte: every record objsrv needed (one per file, none
 * cached) came from the app in process, and none over HTTP. */
static void t_downloads(void *arg)
{
    struct it_client cl;
    struct sys y;
    int64_t local0;

    (void)arg;
    start(&y);
    it_client_init(&cl);
    for (unsigned i = 0; i < FILES; i++) {
        char target[64];
        struct it_body b = {.chunked = false};
        struct it_resp r;

        it_fmt(target, sizeof(target), FS "/f%u.bin", i);
        it_gen_init(&b.gen, 100 + i, SMALL);
        IT_EQ(it_http_to(&cl, y.gw, "PUT", target, &b, &r, y.auth, NULL), 201);
        it_gen_fini(&b.gen);
        it_resp_fini(&r);
    }
    local0 = it_metric(y.s.p.base, IN_PROCESS);
    for (unsigned i = 0; i < FILES; i++) {
        char target[64];
        uint8_t sha[CF_SHA512_LEN];
        struct it_resp r;

        it_fmt(target, sizeof(target), FS "/f%u.bin", i);
        IT_EQ(it_http_to(&cl, y.gw, "GET", target, NULL, &r, y.auth, NULL), 200);
        IT_EQ(r.curl_code, 0);
        IT_EQ(r.total, SMALL);
        it_prng_sha512(100 + i, SMALL, sha);
        IT_CHECKF(memcmp(r.sha, sha, sizeof(sha)) == 0, "GET %s: wrong bytes", target);
        it_resp_fini(&r);
    }
    it_client_fini(&cl);
    /* objsrv counts a look-up before it replies: no wait needed. The
     * monitor's probes may add look-ups of their own, never fewer. */
    IT_CHECKF(it_metric(y.s.p.base, IN_PROCESS) >= local0 + FILES,
              "%" PRId64 " look-ups in process for %u first reads",
              it_metric(y.s.p.base, IN_PROCESS) - local0, FILES);
    IT_EQ(it_metric(y.s.p.base, OVER_HTTP), 0);
    it_proc_stop_ok(&y.s.p);
}

/* Deletes through the app (DELETE /v1/objects/UUID), read at objsrv. */
static void t_delete(void *arg)
{
    struct it_record cached, unread, keep;
    char target[96];
    struct it_resp r;
    struct sys y;
    int64_t app4xx;
    uint64_t t0;

    (void)arg;
    start(&y);
    it_upload_ok(NULL, y.s.p.base, 11, 70000, 0, false, &cached);
    it_upload_ok(NULL, y.s.p.base, 12, SMALL, 0, false, &unread);
    it_upload_ok(NULL, y.s.p.base, 13, SMALL, 0, false, &keep);
    it_download_ok(NULL, y.s.objsrv, &cached);
    it_download_ok(NULL, y.s.objsrv, &keep);

    /* Never read, so never cached: refused at once. */
    IT_EQ(it_object_delete(y.s.p.base, unread.uuid), 204);
    IT_EQ(download_status(y.s.objsrv, unread.uuid), 404);

    /* Read, so cached: refused from the bound on. */
    IT_EQ(it_object_delete(y.s.p.base, cached.uuid), 204);
    t0 = it_now_ms();
    it_sleep_until_ms(t0 + DELETE_BOUND_MS);
    IT_EQ(download_status(y.s.objsrv, cached.uuid), 404);
    it_download_ok(NULL, y.s.objsrv, &keep);

    /* objsrv's 404s did not come from GETs of the app's /info: the app's
     * GET 4xx count stays; one such GET sent here is counted (the control:
     * a GET of /info that finds nothing does count there). */
    app4xx = it_metric(y.s.p.base, APP_GET4XX);
    for (unsigned i = 0; i < 10; i++)
        IT_EQ(download_status(y.s.objsrv, i % 2 ? unread.uuid : cached.uuid), 404);
    it_fmt(target, sizeof(target), "/v1/objects/%s/info", unread.uuid);
    IT_EQ(it_http_to(NULL, y.s.p.base, "GET", target, NULL, &r, NULL), 404);
    it_resp_fini(&r);
    it_wait_metric(y.s.p.base, APP_GET4XX, app4xx + 1);
    IT_EQ(it_metric(y.s.p.base, OVER_HTTP), 0);
    it_proc_stop_ok(&y.s.p);
}

/* PUT seed's size bytes at FS/name through the gateway. */
static void gw_put(const struct sys *y, struct it_client *cl, const char *name, uint64_t seed,
                   uint64_t size)
{
    char target[64];
    struct it_body b = {.chunked = false};
    struct it_resp r;

    it_fmt(target, sizeof(target), FS "/%s", name);
    it_gen_init(&b.gen, seed, size);
    IT_EQ(it_http_to(cl, y->gw, "PUT", target, &b, &r, y->auth, NULL), 201);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
}

/* The SHA-512 of bytes [first, first + len) of payload seed. */
static void range_sha512(uint64_t seed, uint64_t first, uint64_t len, uint8_t sha[CF_SHA512_LEN])
{
    uint8_t *buf = malloc(len > 0 ? len : 1);

    IT_CHECK(buf != NULL);
    it_prng_fill(seed, first, buf, len);
    IT_EQ(cf_sha512_once(buf, len, sha), 0);
    free(buf);
}

/* GET FS/name through the gateway (range: a Range header value, or NULL)
 * and check that it is bytes [first, first + len) of seed's payload of
 * size bytes; want is the status. */
static void gw_get_ok(const struct sys *y, struct it_client *cl, const char *name, uint64_t seed,
                      uint64_t size, const char *range, uint64_t first, uint64_t len)
{
    char target[64], hdr[64];
    uint8_t sha[CF_SHA512_LEN];
    struct it_resp r;

    it_fmt(target, sizeof(target), FS "/%s", name);
    it_fmt(hdr, sizeof(hdr), "Range: %s", range != NULL ? range : "");
    IT_EQ(it_http_to(cl, y->gw, "GET", target, NULL, &r, y->auth, range != NULL ? hdr : NULL, NULL),
          range != NULL ? 206 : 200);
    IT_EQ(r.curl_code, 0);
    IT_EQ(r.total, len);
    IT_CHECK(first + len <= size);
    range_sha512(seed, first, len, sha);
    IT_CHECKF(memcmp(r.sha, sha, sizeof(sha)) == 0, "GET %s (%s): wrong bytes", target,
              range != NULL ? range : "whole");
    it_resp_fini(&r);
}

/* The record of the current version of FS/name, from the app. */
static void gw_record(const struct sys *y, struct it_client *cl, const char *name,
                      struct it_record *rec)
{
    char target[64];
    struct it_resp r;
    json_t *j, *v;

    it_fmt(target, sizeof(target), "/api/v1/versions/%s", name);
    IT_EQ(it_http_to(cl, y->gw, "GET", target, NULL, &r, y->auth, NULL), 200);
    j = it_resp_json(&r);
    v = json_array_get(json_object_get(j, "versions"), 0);
    IT_CHECK(v != NULL);
    IT_EQ(it_info(y->s.p.base, it_json_str(v, "uuid"), rec), 200);
    json_decref(j);
    it_resp_fini(&r);
}

/* Small reads through the gateway (a small file, a small range of a file
 * of any size) go to objsrv in process, never over HTTP; a large one still
 * streams over HTTP. In process, objsrv fails over from damaged replicas as
 * it does over HTTP, and a file with no good replica is refused (5xx),
 * never served wrong. */
static void t_small_reads(void *arg)
{
    const uint64_t big = 200 * 1024;
    struct it_client cl;
    struct it_filer f[3];
    struct it_record rec;
    struct it_resp r;
    struct sys y;
    char name[IT_PATH_MAX];
    int64_t local0, http0, replica0;
    json_t *j;

    (void)arg;
    start(&y);
    it_client_init(&cl);
    gw_put(&y, &cl, "a.bin", 21, SMALL);
    gw_put(&y, &cl, "b.bin", 22, big);
    local0 = it_metric(y.s.p.base, READS_LOCAL);
    http0 = it_metric(y.s.p.base, READS_HTTP);
    replica0 = it_metric(y.s.p.base, REPLICA_LOCAL);
    gw_get_ok(&y, &cl, "a.bin", 21, SMALL, NULL, 0, SMALL);
    gw_get_ok(&y, &cl, "a.bin", 21, SMALL, "bytes=100-1099", 100, 1000);
    gw_get_ok(&y, &cl, "b.bin", 22, big, "bytes=150000-160239", 150000, 10240);
    IT_EQ(it_metric(y.s.p.base, READS_LOCAL), local0 + 3);
    /* Each from the first replica tried, a filer of this process. */
    IT_EQ(it_metric(y.s.p.base, REPLICA_LOCAL), replica0 + 3);
    gw_get_ok(&y, &cl, "b.bin", 22, big, NULL, 0, big);
    IT_EQ(it_metric(y.s.p.base, READS_LOCAL), local0 + 3);
    IT_EQ(it_metric(y.s.p.base, READS_HTTP), http0);

    /* A client whose files are stored compressed and encrypted: small
     * reads decode in process as the filer's GET does. (The policy is set
     * in the file system database, found in the data directory only on
     * SQLite.) */
    if (!it_backend_pg()) {
        char fsdb[IT_PATH_MAX + 16], out[512];
        int st;
        it_case_path(name, "data/fs-catalog.db");
        it_fmt(fsdb, sizeof(fsdb), "sqlite:%s", name);
        st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "client", "set", "--fs-db", fsdb,
                           "--client", "demo", "--compress", "yes", "--encrypt", "yes", NULL);
        IT_CHECKF(it_exit_code(st) == 0, "coffer admin client set: %s", out);
        gw_put(&y, &cl, "z.txt", IT_SEED_TEXT | 24, big);
        gw_record(&y, &cl, "z.txt", &rec);
        replica0 = it_metric(y.s.p.base, REPLICA_LOCAL);
        gw_get_ok(&y, &cl, "z.txt", IT_SEED_TEXT | 24, big, "bytes=1000-5095", 1000, 4096);
        gw_get_ok(&y, &cl, "z.txt", IT_SEED_TEXT | 24, big, "bytes=190000-204799", 190000, 14800);
        IT_EQ(it_metric(y.s.p.base, REPLICA_LOCAL), replica0 + 2);
        gw_put(&y, &cl, "y.txt", IT_SEED_TEXT | 25, SMALL);
        gw_get_ok(&y, &cl, "y.txt", IT_SEED_TEXT | 25, SMALL, NULL, 0, SMALL);
        IT_EQ(it_metric(y.s.p.base, REPLICA_LOCAL), replica0 + 3);
    }

    /* Two of the three replicas damaged: the third serves. */
    for (size_t i = 0; i < 3; i++) {
        it_fmt(name, sizeof(name), "data/filer%zu", i + 1);
        it_filer_init(&f[i], (unsigned)(i + 1), name);
    }
    gw_record(&y, &cl, "a.bin", &rec);
    IT_EQ(rec.nfilers, 3);
    it_flip_object_byte(&f[rec.filers[0] - 1], rec.path, 10);
    it_flip_object_byte(&f[rec.filers[1] - 1], rec.path, SMALL - 1);
    replica0 = it_metric(y.s.p.base, REPLICA_LOCAL);
    local0 = it_metric(y.s.p.base, READS_LOCAL);
    for (unsigned i = 0; i < 4; i++)
        gw_get_ok(&y, &cl, "a.bin", 21, SMALL, NULL, 0, SMALL);
    /* In process, a damaged replica tried first is passed over. */
    IT_CHECK(it_metric(y.s.p.base, REPLICA_LOCAL) >= replica0 + 4);
    IT_EQ(it_metric(y.s.p.base, READS_LOCAL), local0 + 4);
    /* Every replica damaged before any read (a read reports the bad ones
     * and the app repairs them from a good one): refused, not served
     * wrong. */
    gw_put(&y, &cl, "c.bin", 23, SMALL);
    gw_record(&y, &cl, "c.bin", &rec);
    IT_EQ(rec.nfilers, 3);
    for (size_t i = 0; i < 3; i++)
        it_flip_object_byte(&f[rec.filers[i] - 1], rec.path, SMALL / 2);
    IT_CHECK(it_http_to(&cl, y.gw, "GET", FS "/c.bin", NULL, &r, y.auth, NULL) >= 500);
    j = it_resp_json(&r);
    IT_CHECKF(json_is_string(json_object_get(j, "error")), "not an error reply: %.200s", r.body);
    json_decref(j);
    it_resp_fini(&r);
    /* All of them read in process, none over HTTP. */
    IT_EQ(it_metric(y.s.p.base, READS_LOCAL), local0 + 5);
    IT_EQ(it_metric(y.s.p.base, READS_HTTP), http0);
    it_client_fini(&cl);
    it_proc_stop_ok(&y.s.p);
}

/* Set what the file system database holds for the versions of object
 * uuid, size and sha, directly in the server's first file system shard
 * (the one the demo client is on), as a stale or damaged row would. */
static void fsdb_set_version(const char *uuid, uint64_t size, const uint8_t sha[CF_SHA512_LEN])
{
    char uri[IT_PATH_MAX], loc[IT_PATH_MAX], shard[IT_PATH_MAX + 64], err[CF_ERR_LEN] = "";
    struct cf_db *db = NULL;
    struct cf_db_stmt *st = NULL;
    int64_t changed = 0;

    it_server_db_uri(uri, "data", "fs");
    IT_CHECKF(cf_db_open(uri, &db, err) == 0, "open %s: %s", uri, err);
    IT_CHECKF(cf_db_query(db, &st, err, "SELECT location FROM shards WHERE id = 1", "") == 0,
              "shards: %s", err);
    IT_EQ(cf_db_step(st, err), CF_DB_ROW);
    IT_EQ(cf_db_column_copy_text(st, 0, loc, sizeof(loc)), 0);
    cf_db_finalize(st);
    cf_db_close(db);
    /* A SQLite shard's location is relative to its catalog's directory. */
    if (strncmp(loc, "sqlite:", 7) == 0 && loc[7] != '/')
        it_fmt(shard, sizeof(shard), "sqlite:%s/data/%s", it_case_dir(), loc + 7);
    else
        it_fmt(shard, sizeof(shard), "%s", loc);
    IT_CHECKF(cf_db_open(shard, &db, err) == 0, "open %s: %s", shard, err);
    IT_CHECKF(cf_db_run(db, &changed, 1, err,
                        "UPDATE versions SET size = ?1, sha512 = ?2 WHERE uuid = ?3 RETURNING 1",
                        "ibt", (int64_t)size, sha, (size_t)CF_SHA512_LEN, uuid) >= 0,
              "update versions: %s", err);
    IT_EQ(changed, 1);
    cf_db_close(db);
}

/* GET FS/name through the gateway, whole, refused: an error reply (5xx),
 * not the file, and it went to the download service in process. */
static void gw_get_refused(const struct sys *y, struct it_client *cl, const char *name)
{
    char target[64];
    int64_t local0 = it_metric(y->s.p.base, READS_LOCAL);
    struct it_resp r;
    json_t *j;

    it_fmt(target, sizeof(target), FS "/%s", name);
    IT_CHECK(it_http_to(cl, y->gw, "GET", target, NULL, &r, y->auth, NULL) >= 500);
    j = it_resp_json(&r);
    IT_CHECKF(json_is_string(json_object_get(j, "error")), "not an error reply: %.200s", r.body);
    json_decref(j);
    it_resp_fini(&r);
    IT_EQ(it_metric(y->s.p.base, READS_LOCAL), local0 + 1);
}

/* The gateway serves a small file read in process only if the bytes match
 * the SHA-512 its file system database holds for the file. objsrv verifies
 * the bytes against the object record's SHA-512 and the gateway compares
 * that with its own: a file whose row disagrees with the object's record
 * is refused though every replica is good. When the row's size differs
 * from the record's, objsrv reads only a part of the object, verifies
 * nothing, and the gateway hashes the bytes itself: a row matching that
 * part is served, one holding the whole object's SHA-512 is refused. */
static void t_fsdb_sha(void *arg)
{
    struct it_client cl;
    struct it_record rec;
    struct sys y;
    uint8_t other[CF_SHA512_LEN], head[CF_SHA512_LEN];

    (void)arg;
    start(&y);
    it_client_init(&cl);
    gw_put(&y, &cl, "d.bin", 26, SMALL);
    gw_get_ok(&y, &cl, "d.bin", 26, SMALL, NULL, 0, SMALL);
    gw_record(&y, &cl, "d.bin", &rec);
    IT_EQ(rec.size, SMALL);

    /* Another payload's SHA-512 in the row: refused on every read. */
    range_sha512(27, 0, SMALL, other);
    fsdb_set_version(rec.uuid, SMALL, other);
    gw_get_refused(&y, &cl, "d.bin");
    gw_get_refused(&y, &cl, "d.bin");

    /* A row one byte short, with the SHA-512 of those bytes: served, the
     * gateway's own hash of a part matching it. */
    range_sha512(26, 0, SMALL - 1, head);
    fsdb_set_version(rec.uuid, SMALL - 1, head);
    gw_get_ok(&y, &cl, "d.bin", 26, SMALL - 1, NULL, 0, SMALL - 1);
    /* One byte short with the record's SHA-512 of the whole object:
     * objsrv's digest is not the part's, refused. */
    fsdb_set_version(rec.uuid, SMALL - 1, rec.sha);
    gw_get_refused(&y, &cl, "d.bin");

    /* The row put back: served again. */
    fsdb_set_version(rec.uuid, SMALL, rec.sha);
    gw_get_ok(&y, &cl, "d.bin", 26, SMALL, NULL, 0, SMALL);
    IT_EQ(it_metric(y.s.p.base, READS_HTTP), 0);
    it_client_fini(&cl);
    it_proc_stop_ok(&y.s.p);
}

/* The record objsrv takes from the app in process carries the filers'
 * read weights and statuses as the app's JSON does: with read weight 0 on
 * two of the three filers, damaged there, every small read is served by
 * the third, the first replica tried (one replica read per download). */
static void t_read_order(void *arg)
{
    static const int64_t want[3] = {0, 0, 100};
    struct it_client cl;
    struct it_filer f[3];
    struct it_record rec;
    struct sys y;
    char name[IT_PATH_MAX], db[IT_PATH_MAX];
    int64_t replica0;

    (void)arg;
    start(&y);
    it_client_init(&cl);
    gw_put(&y, &cl, "e.bin", 28, SMALL);
    gw_record(&y, &cl, "e.bin", &rec);
    IT_EQ(rec.nfilers, 3);
    it_server_db_uri(db, "data", "catalog");
    it_set_read_weights(db, want, 3);
    /* Before objsrv reads the record (it would keep the old one). */
    it_wait_read_weights(y.s.p.base, rec.uuid, want, 3);
    for (size_t i = 0; i < 2; i++) {
        it_fmt(name, sizeof(name), "data/filer%zu", i + 1);
        it_filer_init(&f[i], (unsigned)(i + 1), name);
        it_flip_object_byte(&f[i], rec.path, 100);
    }
    replica0 = it_metric(y.s.p.base, REPLICA_LOCAL);
    for (unsigned i = 0; i < 10; i++)
        gw_get_ok(&y, &cl, "e.bin", 28, SMALL, NULL, 0, SMALL);
    IT_EQ(it_metric(y.s.p.base, REPLICA_LOCAL), replica0 + 10);
    IT_EQ(it_metric(y.s.p.base, OVER_HTTP), 0);
    it_client_fini(&cl);
    it_proc_stop_ok(&y.s.p);
}

/* PUT seed's size bytes at FS/name through the gateway, chunked or with
 * Content-Length; the status. */
static long gw_put_status(const struct sys *y, struct it_client *cl, const char *name,
                          uint64_t seed, uint64_t size, bool chunked, struct it_resp *r)
{
    char target[64];
    struct it_body b = {.chunked = chunked};
    long st;

    it_fmt(target, sizeof(target), FS "/%s", name);
    it_gen_init(&b.gen, seed, size);
    st = it_http_to(cl, y->gw, "PUT", target, &b, r, y->auth, NULL);
    it_gen_fini(&b.gen);
    return st;
}

/* Whether every filer of f[3] holds a temporary: each is writing. */
static bool all_writing(void *arg)
{
    const struct it_filer *f = arg;
    unsigned n = 0;

    for (size_t i = 0; i < 3; i++)
        n += it_count_tmp(f[i].dir) > 0;
    return n == 3;
}

/* A raw PUT of FS/gone.bin through the gateway (Content-Length or
 * chunked) whose client goes away after 2 MiB of 8, once every filer is
 * writing. */
static void gw_put_vanish(const struct sys *y, const struct it_filer *f, bool chunked)
{
    const char *colon = strrchr(y->gw, ':');
    unsigned port = (unsigned)strtoul(colon + 1, NULL, 10);
    char req[256 + AUTH];
    struct it_gen g;
    int fd;

    fd = it_raw_try_connect(port);
    IT_CHECK(fd >= 0);
    if (chunked)
        it_fmt(req, sizeof(req),
               "PUT " FS "/gone.bin HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s\r\n"
               "Transfer-Encoding: chunked\r\n\r\n%x\r\n",
               port, y->auth, (unsigned)(8 * IT_MIB));
    else
        it_fmt(req, sizeof(req),
               "PUT " FS "/gone.bin HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s\r\n"
               "Content-Length: %u\r\n\r\n",
               port, y->auth, (unsigned)(8 * IT_MIB));
    IT_CHECK(it_raw_send(fd, req, strlen(req)));
    it_gen_init(&g, 60, 8 * IT_MIB);
    IT_CHECK(it_raw_send_gen(fd, &g, 2 * IT_MIB));
    it_gen_fini(&g);
    IT_CHECKF(it_wait_for(all_writing, (void *)f, 50, 100), "the filers never started writing");
    close(fd);
}

/* Uploads through the gateway of `coffer server` go to the app in process
 * (gateway.h upload, app.h cf_app_upload_*), never over HTTP: 0 bytes, 4
 * KiB and a few MiB, chunked and with Content-Length, come back byte for
 * byte and are recorded with r replicas; a client that goes away mid-body
 * leaves no file, no record and no temporary on any filer; and a refusal
 * by the app (fewer writable filers than r) reaches the client with the
 * status a POST to the app over HTTP gets. */
static void t_uploads(void *arg)
{
    static const struct {
        const char *name;
        uint64_t size;
        bool chunked;
    } ups[] = {
        {"zero.bin", 0, false},
        {"small.bin", SMALL, false},
        {"small-c.bin", SMALL, true},
        {"mib.bin", 3 * IT_MIB + 5, false},
        {"mib-c.bin", 3 * IT_MIB + 7, true},
    };
    char db[IT_PATH_MAX], log[IT_PATH_MAX], pw[64];
    struct it_client cl;
    struct it_filer f[3];
    struct it_record rec;
    struct it_resp r;
    struct sys y;
    unsigned records;
    long st;

    (void)arg;
    start(&y);
    it_client_init(&cl);
    for (size_t i = 0; i < CF_ARRAY_LEN(ups); i++) {
        IT_EQ(gw_put_status(&y, &cl, ups[i].name, 300 + i, ups[i].size, ups[i].chunked, &r), 201);
        it_resp_fini(&r);
        gw_get_ok(&y, &cl, ups[i].name, 300 + i, ups[i].size, NULL, 0, ups[i].size);
        gw_record(&y, &cl, ups[i].name, &rec);
        IT_EQ(rec.size, ups[i].size);
        IT_EQ(rec.nfilers, 3);
    }
    IT_EQ(it_metric(y.s.p.base, UPLOADS_LOCAL), (int64_t)CF_ARRAY_LEN(ups));
    IT_EQ(it_metric(y.s.p.base, UPLOADS_HTTP), 0);
    /* The control: the app's HTTP server took no upload at all. */
    IT_EQ(it_metric(y.s.p.base, APP_POSTS), 0);

    /* Clients that go away mid-body: the upload is aborted in process. */
    for (size_t i = 0; i < 3; i++) {
        char name[32];
        it_fmt(name, sizeof(name), "data/filer%zu", i + 1);
        it_filer_init(&f[i], (unsigned)(i + 1), name);
    }
    it_server_db_uri(db, "data", "catalog");
    records = it_objdb_count(db, 3);
    for (int chunked = 0; chunked < 2; chunked++) {
        gw_put_vanish(&y, f, chunked != 0);
        for (size_t i = 0; i < 3; i++)
            it_wait_no_tmp(&f[i]);
    }
    IT_EQ(it_objdb_count(db, 3), records);
    IT_EQ(it_http_to(&cl, y.gw, "GET", FS "/gone.bin", NULL, &r, y.auth, NULL), 404);
    it_resp_fini(&r);
    it_case_path(log, "server.log");
    IT_CHECK(it_file_contains(log, "abandoned by the client; nothing recorded"));
    it_client_fini(&cl);
    it_proc_stop_ok(&y.s.p);

    /* The same data with two filers: the demo client's 3 replicas cannot
     * be written. Over HTTP the app answers 503, and so does the gateway. */
    memcpy(pw, y.pw, sizeof(pw));
    start_with(&y, 2, "2", pw);
    it_client_init(&cl);
    st = gw_put_status(&y, &cl, "refused.bin", 400, SMALL, false, &r);
    IT_EQ(st, it_upload(NULL, y.s.p.base, 401, SMALL, 3, false, &rec));
    IT_EQ(st, 503);
    IT_CHECKF(r.body != NULL && strstr(r.body, "the upload service answered 503") != NULL,
              "refusal: %.300s", r.body != NULL ? r.body : "");
    it_resp_fini(&r);
    IT_EQ(it_http_to(&cl, y.gw, "GET", FS "/refused.bin", NULL, &r, y.auth, NULL), 404);
    it_resp_fini(&r);
    IT_EQ(it_metric(y.s.p.base, UPLOADS_LOCAL), 1);
    IT_EQ(it_metric(y.s.p.base, UPLOADS_HTTP), 0);
    it_client_fini(&cl);
    it_proc_stop_ok(&y.s.p);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"downloads", t_downloads, NULL, 60},     {"delete", t_delete, NULL, 60},
        {"small_reads", t_small_reads, NULL, 60}, {"fsdb_sha", t_fsdb_sha, NULL, 60},
        {"read_order", t_read_order, NULL, 60},   {"uploads", t_uploads, NULL, 90},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
