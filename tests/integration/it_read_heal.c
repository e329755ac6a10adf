/*
 * it_read_heal.c -- a download that meets a bad replica, against `coffer
 * server` with three filers and two replicas: the replica objsrv reads
 * first (the filers have distinct read weights) is corrupted on its filer's disk (same length, one
 * byte inverted in the middle) or its file deleted. The first GET through the gateway, and the
 * first `coffer get`, must still give the whole file with the right bytes; the finding must be in
 * the scribe (GET /v1/log on the monitor) with the filer, the object and its kind; and the bad
 * replica must be rewritten on its filer without an operator (the check of that one object the
 * finding queues), reading back only that object: a filer holding many other objects sends a few
 * times its size, not all of them. A file too large to be verified before its first byte leaves:
 * the first plain GET may break off, but never ends as a clean complete response with wrong bytes,
 * and the next one is right. Two findings on two filers in quick succession are both repaired.
 * Last, the app's POST /v1/findings refuses malformed findings (400) and queues a good one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/sha512.h"
#include "harness.h"

#define LINE_MS 20000
#define FS      "/api/v1/fs"
#define AUTH    (64 + 512)
/* Fits objsrv's read buffer (fetch.h CF_FETCH_BUF): verified whole before
 * a byte leaves; over the server's filer-small-max, so a plain file. */
#define SMALL (200 * 1024 + 3)
/* Over the read buffer, under the gateway's redirect-min (1 MiB). */
#define MEDIUM (600 * 1024 + 5)

struct sys {
    struct it_server s;
    char gw[IT_URL_MAX];
    char pw[64];
    char auth[AUTH]; /* "Authorization: Bearer ..." */
};

/* The replica objsrv reads first of one file. */
struct replica {
    char uuid[128];
    char path[256]; /* the object's path on its filer */
    unsigned idx;   /* its filer: y->s.filers[idx], id idx + 1 */
    struct it_filer f;
};

/* The read weights start gives filers 1, 2, 3: filer 1 is read first. */
static const int64_t read_weights[] = {300, 200, 100};

static void start(struct sys *y)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "", db[IT_PATH_MAX + 32];
    json_t *body, *out = NULL;
    long status = 0;

    memset(y, 0, sizeof(*y));
    IT_EQ(cf_httpc_global_init(), 0);
    it_server_start_ok(&y->s, "data", 3, "--replicas", "2", NULL);
    it_proc_expect_line(&y->s.p, "coffer gateway listening on ", y->gw, sizeof(y->gw), LINE_MS);
    it_proc_expect_line(&y->s.p, "coffer gateway login: client demo user admin password ", y->pw,
                        sizeof(y->pw), LINE_MS);
    body = json_pack("{s:s,s:s,s:s}", "client", "demo", "user", "admin", "password", y->pw);
    it_fmt(url, sizeof(url), "%s/api/v1/login", y->gw);
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &out, err) == 0, "login: %s", err);
    IT_EQ(status, 200);
    it_fmt(y->auth, sizeof(y->auth), "Authorization: Bearer %s", it_json_str(out, "token"));
    json_decref(body);
    json_decref(out);
    /* Distinct read weights, so that objsrv reads the replicas of an
     * object in one known order (distrib.h, "reads"), the one its signed
     * URLs give (first_replica). */
    it_fmt(db, sizeof(db), "sqlite:%s/data/catalog.db", it_case_dir());
    IT_EQ(y->s.nfilers, CF_ARRAY_LEN(read_weights));
    it_set_read_weights(db, read_weights, CF_ARRAY_LEN(read_weights));
}

static void put_ok(const struct sys *y, const char *target, uint64_t seed, uint64_t size)
{
    struct it_body b = {.chunked = false};
    struct it_resp r;

    it_gen_init(&b.gen, seed, size);
    IT_EQ(it_http_to(NULL, y->gw, "PUT", target, &b, &r, y->auth, NULL), 201);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
}

/* The object of /name's current version and the replica objsrv reads
 * first (its signed URLs come best first, in the order it reads them)
 * that is not on filer index avoid (avoid >= nfilers: none avoided). */
static void replica_not_on(const struct sys *y, const char *name, unsigned avoid,
                           struct replica *rp)
{
    char target[512], fdir[64];
    struct it_resp r;
    json_t *j, *v;
    const char *url, *p, *q;

    memset(rp, 0, sizeof(*rp));
    it_fmt(target, sizeof(target), "/api/v1/versions/%s", name);
    IT_EQ(it_http_to(NULL, y->gw, "GET", target, NULL, &r, y->auth, NULL), 200);
    j = it_resp_json(&r);
    v = json_array_get(json_object_get(j, "versions"), 0);
    IT_CHECK(v != NULL);
    it_fmt(rp->uuid, sizeof(rp->uuid), "%s", it_json_str(v, "uuid"));
    json_decref(j);
    it_resp_fini(&r);
    /* Before objsrv first asks the app for the record (and caches it). */
    it_wait_read_weights(y->s.p.base, rp->uuid, read_weights, CF_ARRAY_LEN(read_weights));

    it_fmt(target, sizeof(target), "/v1/objects/%s/urls", rp->uuid);
    IT_EQ(it_http_to(NULL, y->s.objsrv, "GET", target, NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    for (size_t k = 0;; k++) {
        url = json_string_value(json_array_get(json_object_get(j, "urls"), k));
        IT_CHECKF(url != NULL, "no replica of %s off filer %u", rp->uuid, avoid + 1);
        size_t n = avoid < y->s.nfilers ? strlen(y->s.filers[avoid]) : 0;
        if (n == 0 || strncmp(url, y->s.filers[avoid], n) != 0 || url[n] != '/')
            break;
    }
    p = strstr(url, "/s/");
    IT_CHECK(p != NULL);
    q = strchr(p + 3, '?');
    IT_CHECK(q != NULL);
    it_fmt(rp->path, sizeof(rp->path), "%.*s", (int)(q - p - 3), p + 3);
    rp->idx = y->s.nfilers;
    for (unsigned i = 0; i < y->s.nfilers; i++) {
        size_t n = strlen(y->s.filers[i]);
        if (strncmp(url, y->s.filers[i], n) == 0 && url[n] == '/')
            rp->idx = i;
    }
    IT_CHECKF(rp->idx < y->s.nfilers, "no filer serves %s", url);
    json_decref(j);
    it_resp_fini(&r);
    it_fmt(fdir, sizeof(fdir), "data/filer%u", rp->idx + 1);
    it_filer_init(&rp->f, rp->idx + 1, fdir);
}

static void first_replica(const struct sys *y, const char *name, struct replica *rp)
{
    replica_not_on(y, name, y->s.nfilers, rp);
}

/* GET of target through the gateway: 200 and exactly the payload. */
static void get_right(const struct sys *y, const char *target, uint64_t seed, uint64_t size)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_resp r;

    it_prng_sha512(seed, size, sha);
    IT_EQ(it_http_to(NULL, y->gw, "GET", target, NULL, &r, y->auth, NULL), 200);
    IT_CHECKF(r.curl_code == 0, "%s broke off: curl %d after %" PRIu64 " bytes", target,
              r.curl_code, r.total);
    IT_EQ(r.total, size);
    IT_CHECKF(memcmp(r.sha, sha, sizeof(sha)) == 0, "%s: wrong bytes", target);
    it_resp_fini(&r);
}

/* Waiting for a scribe event of kind about the replica. */
struct logged {
    const struct sys *y;
    const struct replica *rp;
    const char *kind;
};

static bool event_seen(void *arg)
{
    const struct logged *l = arg;
    char target[256];
    struct it_resp r;
    bool seen = false;
    json_t *j, *ev;

    it_fmt(target, sizeof(target), "/v1/log?kind=%s&filer=%u", l->kind, l->rp->idx + 1);
    if (it_http_to(NULL, l->y->s.monitor, "GET", target, NULL, &r, NULL) == 200) {
        j = it_resp_json(&r);
        ev = json_object_get(j, "events");
        for (size_t i = 0; i < json_array_size(ev); i++) {
            const char *o = json_string_value(json_object_get(json_array_get(ev, i), "object"));
            if (o != NULL && strcmp(o, l->rp->uuid) == 0)
                seen = true;
        }
        json_decref(j);
    }
    it_resp_fini(&r);
    return seen;
}

static void event_ok(const struct sys *y, const struct replica *rp, const char *kind)
{
    struct logged l = {y, rp, kind};

    IT_CHECKF(it_wait_for(event_seen, &l, 200, 100), "no \"%s\" event for %s on filer %u", kind,
              rp->uuid, rp->idx + 1);
}

/* Waiting for the replica's bytes on its filer to be the payload again. */
struct healed {
    const struct sys *y;
    const struct replica *rp;
    const uint8_t *sha;
    uint64_t size;
};

static bool replica_good(void *arg)
{
    const struct healed *h = arg;
    char target[300];
    struct it_resp r;
    bool good;

    it_fmt(target, sizeof(target), "/o/%s", h->rp->path);
    good = it_http_to(NULL, h->y->s.filers[h->rp->idx], "GET", target, NULL, &r, NULL) == 200 &&
           r.curl_code == 0 && r.total == h->size && memcmp(r.sha, h->sha, CF_SHA512_LEN) == 0;
    it_resp_fini(&r);
    return good;
}

static void healed_ok(const struct sys *y, const struct replica *rp, uint64_t seed, uint64_t size)
{
    uint8_t sha[CF_SHA512_LEN];
    struct healed h = {y, rp, sha, size};

    it_prng_sha512(seed, size, sha);
    IT_CHECKF(it_wait_for(replica_good, &h, 300, 100),
              "the replica of %s on filer %u was not repaired", rp->uuid, rp->idx + 1);
    it_check_object_file(&rp->f, rp->path, size, sha);
}

/* The replica read first is corrupt: the first GET is whole and right, the
 * scribe has a "checksum" event, and the replica is rewritten. */
static void t_gateway_corrupt(void *arg)
{
    struct replica rp;
    struct sys y;

    (void)arg;
    start(&y);
    put_ok(&y, FS "/a.bin", 11, SMALL);
    first_replica(&y, "a.bin", &rp);
    it_flip_object_byte(&rp.f, rp.path, SMALL / 2);
    get_right(&y, FS "/a.bin", 11, SMALL);
    event_ok(&y, &rp, "checksum");
    healed_ok(&y, &rp, 11, SMALL);
    get_right(&y, FS "/a.bin", 11, SMALL);
    it_proc_stop_ok(&y.s.p);
}

/* The replica read first is gone from its filer: the same, with a
 * "missing" event, and the file is back. */
static void t_gateway_missing(void *arg)
{
    struct replica rp;
    struct sys y;

    (void)arg;
    start(&y);
    put_ok(&y, FS "/b.bin", 12, SMALL);
    first_replica(&y, "b.bin", &rp);
    it_object_file_remove(&rp.f, rp.path);
    get_right(&y, FS "/b.bin", 12, SMALL);
    event_ok(&y, &rp, "missing");
    healed_ok(&y, &rp, 12, SMALL);
    it_proc_stop_ok(&y.s.p);
}

/* `coffer get` of a file with its first replica corrupt: one read from the
 * buffer's range, one beyond it; each command's first run writes the
 * right bytes. */
static void t_cli(void *arg)
{
    static const struct {
        const char *name;
        uint64_t seed, size;
    } files[] = {{"c.bin", 13, SMALL}, {"m.bin", 14, MEDIUM}};
    char tok[IT_PATH_MAX], home[IT_PATH_MAX], src[IT_PATH_MAX], got[IT_PATH_MAX], remote[64];
    uint8_t sha[CF_SHA512_LEN], want[CF_SHA512_LEN];
    struct replica rp[2];
    struct sys y;
    uint64_t size;
    int rc;

    (void)arg;
    start(&y);
    it_case_path(home, "home");
    it_fmt(tok, sizeof(tok), "%s/.config/coffer/token", home);
    IT_EQ(setenv("HOME", home, 1), 0);
    rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, "login", "--gateway", y.gw, "--client", "demo",
                                    "--user", "admin", "--password", y.pw, NULL));
    IT_EQ(rc, 0);
    /* Both corrupt before either is read: each command must succeed
     * whether its replica was repaired already or not. */
    for (size_t i = 0; i < CF_ARRAY_LEN(files); i++) {
        it_write_payload(src, files[i].name, files[i].seed, files[i].size, NULL);
        it_fmt(remote, sizeof(remote), "/%s", files[i].name);
        rc = it_exit_code(
            it_coffer_cmd(NULL, 0, NULL, "put", "--token-file", tok, src, remote, NULL));
        IT_EQ(rc, 0);
        first_replica(&y, files[i].name, &rp[i]);
        it_flip_object_byte(&rp[i].f, rp[i].path, files[i].size / 2);
    }
    for (size_t i = CF_ARRAY_LEN(files); i-- > 0;) {
        it_fmt(remote, sizeof(remote), "/%s", files[i].name);
        it_case_path(got, files[i].name);
        it_fmt(got + strlen(got), sizeof(got) - strlen(got), ".got");
        rc = it_exit_code(
            it_coffer_cmd(NULL, 0, NULL, "get", "--token-file", tok, remote, "-o", got, NULL));
        IT_CHECKF(rc == 0, "coffer get %s: exit %d (see cmd.log)", remote, rc);
        it_file_sha512(got, &size, sha);
        it_prng_sha512(files[i].seed, files[i].size, want);
        IT_EQ(size, files[i].size);
        IT_CHECKF(memcmp(sha, want, sizeof(sha)) == 0, "coffer get %s: wrong bytes", remote);
    }
    event_ok(&y, &rp[0], "checksum");
    healed_ok(&y, &rp[0], files[0].seed, files[0].size);
    it_proc_stop_ok(&y.s.p);
}

/* Beyond the buffer, bytes leave before the digest is known: the first
 * plain GET may break off but is never a clean, complete, wrong reply;
 * the next GET reads the good replica first. */
static void t_large_stream(void *arg)
{
    uint8_t sha[CF_SHA512_LEN];
    struct replica rp;
    struct it_resp r;
    struct sys y;

    (void)arg;
    start(&y);
    put_ok(&y, FS "/d.bin", 15, MEDIUM);
    first_replica(&y, "d.bin", &rp);
    it_flip_object_byte(&rp.f, rp.path, MEDIUM / 2);
    it_prng_sha512(15, MEDIUM, sha);
    (void)it_http_to(NULL, y.gw, "GET", FS "/d.bin", NULL, &r, y.auth, NULL);
    IT_CHECKF(r.curl_code != 0 || r.total < MEDIUM || memcmp(r.sha, sha, sizeof(sha)) == 0,
              "a complete reply with wrong bytes (status %ld)", r.status);
    it_resp_fini(&r);
    get_right(&y, FS "/d.bin", 15, MEDIUM);
    event_ok(&y, &rp, "checksum");
    healed_ok(&y, &rp, 15, MEDIUM);
    it_proc_stop_ok(&y.s.p);
}

/* Object bytes filer idx has sent (its /status bytes_out). */
static int64_t bytes_out(const struct sys *y, unsigned idx)
{
    struct it_resp r;
    json_t *j;
    int64_t v;

    IT_EQ(it_http_to(NULL, y->s.filers[idx], "GET", "/status", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    IT_CHECK(json_is_integer(json_object_get(j, "bytes_out")));
    v = (int64_t)json_integer_value(json_object_get(j, "bytes_out"));
    json_decref(j);
    it_resp_fini(&r);
    return v;
}

/* Other objects on every filer (30 files, 2 replicas on 3 filers: about
 * 20 a filer). */
#define OTHERS 30

/* A corrupt replica found by a read is repaired by reading back that
 * object only: the filers together send the download, the check's read of
 * each replica and the copy (a few times the object), never the other
 * objects they hold (a whole-filer audit would send about 20 of them). */
static void t_only_that_object(void *arg)
{
    char target[64];
    int64_t before[IT_SERVER_FILERS], sent = 0;
    struct replica rp;
    struct sys y;

    (void)arg;
    start(&y);
    for (unsigned i = 0; i < OTHERS; i++) {
        it_fmt(target, sizeof(target), FS "/o%u.bin", i);
        put_ok(&y, target, 100 + i, SMALL);
    }
    put_ok(&y, FS "/f.bin", 18, SMALL);
    first_replica(&y, "f.bin", &rp);
    it_flip_object_byte(&rp.f, rp.path, SMALL / 2);
    for (unsigned i = 0; i < y.s.nfilers; i++)
        before[i] = bytes_out(&y, i);
    get_right(&y, FS "/f.bin", 18, SMALL);
    /* The check's own event: its repair is done and recorded. */
    event_ok(&y, &rp, "repair");
    for (unsigned i = 0; i < y.s.nfilers; i++)
        sent += bytes_out(&y, i) - before[i];
    IT_CHECKF(sent <= 8 * (int64_t)SMALL,
              "the filers sent %" PRId64 " bytes for one %d-byte object's read and repair", sent,
              SMALL);
    healed_ok(&y, &rp, 18, SMALL);
    it_proc_stop_ok(&y.s.p);
}

/* Two findings on two filers right after each other: both replicas are
 * rewritten (one check does not keep the other from running). */
static void t_two_filers(void *arg)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    struct replica rp[2];
    json_t *j, *out = NULL;
    struct sys y;
    long status = 0;

    (void)arg;
    start(&y);
    put_ok(&y, FS "/g.bin", 19, SMALL);
    put_ok(&y, FS "/h.bin", 20, SMALL);
    first_replica(&y, "g.bin", &rp[0]);
    replica_not_on(&y, "h.bin", rp[0].idx, &rp[1]);
    IT_CHECK(rp[0].idx != rp[1].idx);
    it_flip_object_byte(&rp[0].f, rp[0].path, SMALL / 2);
    it_object_file_remove(&rp[1].f, rp[1].path);
    it_fmt(url, sizeof(url), "%s/v1/findings", y.s.p.base);
    for (size_t i = 0; i < 2; i++) {
        j = json_pack("{s:s,s:I,s:s,s:s}", "uuid", rp[i].uuid, "filer", (json_int_t)(rp[i].idx + 1),
                      "kind", i == 0 ? "checksum" : "missing", "message", "test");
        IT_CHECKF(cf_httpc_json("POST", url, j, 10000, &status, &out, err) == 0, "%s", err);
        IT_EQ(status, 202);
        IT_CHECK(strcmp(it_json_str(out, "check"), "queued") == 0);
        json_decref(out);
        json_decref(j);
        out = NULL;
    }
    healed_ok(&y, &rp[0], 19, SMALL);
    healed_ok(&y, &rp[1], 20, SMALL);
    it_proc_stop_ok(&y.s.p);
}

/* POST /v1/findings with body (a JSON reference, taken; NULL: 100 random
 * bytes): the status. */
static long post_finding(const struct sys *y, json_t *body)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *out = NULL;
    long status = 0;

    if (body == NULL) {
        struct it_body b = {.chunked = false};
        struct it_resp r;
        it_gen_init(&b.gen, 17, 100);
        status = it_http_to(NULL, y->s.p.base, "POST", "/v1/findings", &b, &r, NULL);
        it_gen_fini(&b.gen);
        it_resp_fini(&r);
        return status;
    }
    it_fmt(url, sizeof(url), "%s/v1/findings", y->s.p.base);
    IT_CHECKF(cf_httpc_json("POST", url, body, 10000, &status, &out, err) == 0, "%s", err);
    json_decref(body);
    json_decref(out);
    return status;
}

/* The app's findings endpoint: bad bodies get 400; a good one is logged
 * and its check queued, the same one right after is queued at most once. */
static void t_findings_api(void *arg)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "", big[600];
    json_t *bad[8], *j, *out = NULL;
    struct replica rp;
    struct sys y;
    long status = 0;
    size_t n = 0;

    (void)arg;
    start(&y);
    put_ok(&y, FS "/e.bin", 16, 1000);
    first_replica(&y, "e.bin", &rp);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    bad[n++] = json_object();
    bad[n++] = json_pack("{s:s,s:i,s:s,s:s}", "uuid", "nope", "filer", 1, "kind", "checksum",
                         "message", "x");
    bad[n++] = json_pack("{s:s,s:i,s:s,s:s}", "uuid", rp.uuid, "filer", 0, "kind", "checksum",
                         "message", "x");
    bad[n++] = json_pack("{s:s,s:i,s:s,s:s}", "uuid", rp.uuid, "filer", 1, "kind", "repair",
                         "message", "x");
    bad[n++] = json_pack("{s:s,s:i,s:s}", "uuid", rp.uuid, "filer", 1, "kind", "checksum");
    bad[n++] = json_pack("{s:s,s:I,s:s,s:s}", "uuid", rp.uuid, "filer", (json_int_t)1 << 32, "kind",
                         "missing", "message", "x");
    bad[n++] = json_pack("{s:s,s:i,s:s,s:s}", "uuid", rp.uuid, "filer", 1, "kind", "missing",
                         "message", big);
    IT_EQ(post_finding(&y, NULL), 400);
    for (size_t i = 0; i < n; i++) {
        char *text = json_dumps(bad[i], JSON_COMPACT);
        long st = post_finding(&y, bad[i]);
        IT_CHECKF(st == 400, "%.200s: %ld", text, st);
        free(text);
    }

    /* A good one: logged, and its check queued. */
    it_fmt(url, sizeof(url), "%s/v1/findings", y.s.p.base);
    j = json_pack("{s:s,s:I,s:s,s:s}", "uuid", rp.uuid, "filer", (json_int_t)(rp.idx + 1), "kind",
                  "missing", "message", "HTTP status 404");
    IT_CHECKF(cf_httpc_json("POST", url, j, 10000, &status, &out, err) == 0, "%s", err);
    IT_EQ(status, 202);
    IT_CHECK(json_is_true(json_object_get(out, "logged")));
    IT_CHECK(strcmp(it_json_str(out, "check"), "queued") == 0);
    json_decref(out);
    out = NULL;
    event_ok(&y, &rp, "missing");
    /* Right after: logged; queued again only if the first was taken. */
    IT_CHECKF(cf_httpc_json("POST", url, j, 10000, &status, &out, err) == 0, "%s", err);
    IT_EQ(status, 202);
    IT_CHECK(json_is_true(json_object_get(out, "logged")));
    IT_CHECK(strcmp(it_json_str(out, "check"), "pending") == 0 ||
             strcmp(it_json_str(out, "check"), "queued") == 0);
    json_decref(out);
    json_decref(j);
    it_proc_stop_ok(&y.s.p);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"gateway_corrupt", t_gateway_corrupt, NULL, 90},
        {"gateway_missing", t_gateway_missing, NULL, 90},
        {"cli", t_cli, NULL, 90},
        {"large_stream", t_large_stream, NULL, 90},
        {"only_that_object", t_only_that_object, NULL, 120},
        {"two_filers", t_two_filers, NULL, 90},
        {"findings_api", t_findings_api, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
