/*
 * it_redirect.c -- reads redirected to a filer (gateway.h, cred.h's signed
 * URLs) against `coffer server` with three filers and three replicas: a
 * client asking (X-Coffer-Redirect: 1) for a file of at least 1 MiB gets
 * 307 to a signed filer URL and the SHA-512 to check; that URL serves the
 * bytes (GET and HEAD, again within its expiry) to a caller with no key;
 * a tampered, expired or far-future one is refused, as is the plain /o/
 * path; a client not asking, or a small file, is streamed as before. Then
 * `coffer get` through the redirect, and with the first replica corrupt:
 * the CLI sees the mismatch, takes the next replica and writes the right
 * bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/sha512.h"
#include "harness.h"

#define LINE_MS 20000
#define FS      "/api/v1/fs"
#define BIG     (2 * IT_MIB + 7) /* over the gateway's default redirect-min (1 MiB) */
#define AUTH    (64 + 512)

struct sys {
    struct it_server s;
    char gw[IT_URL_MAX];
    char pw[64];
    char auth[AUTH]; /* "Authorization: Bearer ..." */
};

static void start(struct sys *y)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body, *out = NULL;
    long status = 0;

    memset(y, 0, sizeof(*y));
    IT_EQ(cf_httpc_global_init(), 0);
    it_server_start_ok(&y->s, "data", 3, "--replicas", "3", NULL);
    it_proc_expect_line(&y->s.p, "coffer gateway listening on ", y->gw, sizeof(y->gw), LINE_MS);
    it_proc_expect_line(&y->s.p, "coffer gateway login: client demo user admin password ", y->pw,
                        sizeof(y->pw), LINE_MS);
    /* The filers' signed URLs are read as a client would: with no key. */
    for (unsigned i = 0; i < y->s.nfilers; i++)
        it_keys_public_base(y->s.filers[i]);
    body = json_pack("{s:s,s:s,s:s}", "client", "demo", "user", "admin", "password", y->pw);
    it_fmt(url, sizeof(url), "%s/api/v1/login", y->gw);
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &out, err) == 0, "login: %s", err);
    IT_EQ(status, 200);
    it_fmt(y->auth, sizeof(y->auth), "Authorization: Bearer %s", it_json_str(out, "token"));
    json_decref(body);
    json_decref(out);
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

/* Split an absolute URL into its base ("http://HOST:PORT") and target. */
static void split_url(const char *url, char base[IT_URL_MAX], char target[1024])
{
    const char *p = strstr(url, "://"), *slash = p != NULL ? strchr(p + 3, '/') : NULL;

    IT_CHECKF(slash != NULL, "not a URL: %s", url);
    it_fmt(base, IT_URL_MAX, "%.*s", (int)(slash - url), url);
    it_fmt(target, 1024, "%s", slash);
}

/* GET or HEAD of a signed URL (absolute), unsigned. */
static long fetch(const char *method, const char *url, struct it_resp *r)
{
    char base[IT_URL_MAX], target[1024];

    split_url(url, base, target);
    return it_http_to(NULL, base, method, target, NULL, r, NULL);
}

static long fetch_status(const char *method, const char *url)
{
    struct it_resp r;
    long st = fetch(method, url, &r);

    it_resp_fini(&r);
    return st;
}

/* The 307 of a redirected GET (or HEAD) of target: Location into loc, the
 * object path of the signed URL into path (may be NULL); the header
 * X-Coffer-SHA512 and the body's sha512 must be sha. Returns the body's
 * "urls" (caller owns). */
static json_t *redirect_ok(const struct sys *y, const char *method, const char *target,
                           const uint8_t *sha, char loc[1024], char *path)
{
    char hex[CF_SHA512_HEX_LEN + 1], got[CF_SHA512_HEX_LEN + 1];
    struct it_resp r;
    json_t *j = NULL, *urls = NULL;

    cf_sha512_hex(sha, hex);
    IT_EQ(it_http_to(NULL, y->gw, method, target, NULL, &r, y->auth, "X-Coffer-Redirect: 1", NULL),
          307);
    IT_CHECK(it_resp_header(&r, "Location", loc, 1024));
    IT_CHECK(it_resp_header(&r, CF_SHA512_HEADER, got, sizeof(got)));
    IT_STREQ(got, hex);
    IT_CHECKF(strstr(loc, "/s/") != NULL && strstr(loc, "sig=") != NULL, "Location %s", loc);
    if (strcmp(method, "GET") == 0) {
        j = it_resp_json(&r);
        IT_STREQ(it_json_str(j, "sha512"), hex);
        urls = json_incref(json_object_get(j, "urls"));
        IT_EQ(json_array_size(urls), 3);
        IT_STREQ(json_string_value(json_array_get(urls, 0)), loc);
        json_decref(j);
    }
    if (path != NULL) {
        const char *p = strstr(loc, "/s/") + 3, *q = strchr(p, '?');
        IT_CHECK(q != NULL);
        it_fmt(path, 256, "%.*s", (int)(q - p), p);
    }
    it_resp_fini(&r);
    return urls;
}

/* A GET of a signed URL: 200 and exactly the payload (seed, size). */
static void signed_get_ok(const char *url, uint64_t seed, uint64_t size)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_resp r;

    IT_EQ(fetch("GET", url, &r), 200);
    IT_EQ(r.curl_code, 0);
    IT_EQ(r.total, size);
    it_prng_sha512(seed, size, sha);
    IT_CHECKF(memcmp(r.sha, sha, sizeof(sha)) == 0, "GET %s: wrong bytes", url);
    it_resp_fini(&r);
}

/* url with the first occurrence of `what` replaced by `with`. */
static void tamper(char out[1024], const char *url, const char *what, const char *with)
{
    const char *p = strstr(url, what);

    IT_CHECKF(p != NULL, "%s not in %s", what, url);
    it_fmt(out, 1024, "%.*s%s%s", (int)(p - url), url, with, p + strlen(what));
}

static void t_signed_url(void *arg)
{
    char loc[1024], loc2[1024], bad[1024], path[256], path2[256], q[CF_CRED_URL_QUERY_MAX];
    char base[IT_URL_MAX], target[1024], len[32];
    uint8_t sha[CF_SHA512_LEN], sha2[CF_SHA512_LEN];
    struct it_resp r;
    struct sys y;
    json_t *urls;
    char *s;

    (void)arg;
    start(&y);
    put_ok(&y, FS "/big.bin", 11, BIG);
    put_ok(&y, FS "/other.bin", 12, BIG);
    put_ok(&y, FS "/small.bin", 13, 1000);
    it_prng_sha512(11, BIG, sha);
    it_prng_sha512(12, BIG, sha2);

    /* Asked: 307 to a filer; every replica's URL serves the bytes to a
     * caller with no key, and again within the expiry; HEAD too. */
    urls = redirect_ok(&y, "GET", FS "/big.bin", sha, loc, path);
    for (size_t i = 0; i < json_array_size(urls); i++)
        signed_get_ok(json_string_value(json_array_get(urls, i)), 11, BIG);
    json_decref(urls);
    signed_get_ok(loc, 11, BIG);
    IT_EQ(fetch("HEAD", loc, &r), 200);
    IT_CHECK(it_resp_header(&r, "Content-Length", len, sizeof(len)));
    IT_EQ(strtoull(len, NULL, 10), BIG);
    IT_EQ(r.total, 0);
    it_resp_fini(&r);
    json_decref(redirect_ok(&y, "HEAD", FS "/big.bin", sha, loc2, NULL));
    IT_EQ(fetch_status("HEAD", loc2), 200);
    /* ?redirect=1 asks the same. */
    IT_EQ(it_http_to(NULL, y.gw, "GET", FS "/big.bin?redirect=1", NULL, &r, y.auth, NULL), 307);
    it_resp_fini(&r);

    /* Not asked, or a file under redirect-min: the verified stream. */
    IT_EQ(it_http_to(NULL, y.gw, "GET", FS "/big.bin", NULL, &r, y.auth, NULL), 200);
    IT_EQ(r.total, BIG);
    IT_CHECK(memcmp(r.sha, sha, sizeof(sha)) == 0);
    it_resp_fini(&r);
    IT_EQ(it_http_to(NULL, y.gw, "GET", FS "/small.bin", NULL, &r, y.auth, "X-Coffer-Redirect: 1",
                     NULL),
          200);
    IT_EQ(r.total, 1000);
    it_resp_fini(&r);
    /* Without a token, no redirect either. */
    IT_EQ(it_http_to(NULL, y.gw, "GET", FS "/big.bin", NULL, &r, "X-Coffer-Redirect: 1", NULL),
          401);
    it_resp_fini(&r);

    /* Tampered: another signature, another object's path, another expiry:
     * 401. The same object by its /o/ path without a signature: 401. */
    s = strstr(loc, "sig=") + 4;
    it_fmt(bad, sizeof(bad), "%s", loc);
    bad[s - loc] = s[0] == '0' ? '1' : '0';
    IT_EQ(fetch_status("GET", bad), 401);
    IT_EQ(fetch_status("HEAD", bad), 401);
    json_decref(redirect_ok(&y, "GET", FS "/other.bin", sha2, loc2, path2));
    tamper(bad, loc, path, path2);
    IT_EQ(fetch_status("GET", bad), 401);
    s = strstr(loc, "exp=") + 4;
    it_fmt(bad, sizeof(bad), "%s", loc);
    bad[s - loc + 12] = s[12] == '9' ? '8' : '9';
    IT_EQ(fetch_status("GET", bad), 401);
    tamper(bad, loc, "&sig=", "&x=");
    IT_EQ(fetch_status("GET", bad), 401);
    split_url(loc, base, target);
    it_fmt(target, sizeof(target), "/o/%s", path);
    IT_EQ(it_http_to(NULL, base, "GET", target, NULL, &r, NULL), 401);
    it_resp_fini(&r);

    /* Signed with the cluster key but expired, or expiring too far ahead: 403. */
    IT_EQ(cf_cred_url_sign(it_keys_cluster_cred(), path, cf_wall_ms() - 1000, q), 0);
    it_fmt(bad, sizeof(bad), "%s/s/%s?%s", base, path, q);
    IT_EQ(fetch_status("GET", bad), 403);
    IT_EQ(fetch_status("HEAD", bad), 403);
    IT_EQ(cf_cred_url_sign(it_keys_cluster_cred(), path,
                           cf_wall_ms() + CF_CRED_URL_TTL_MAX_MS + 60000, q),
          0);
    it_fmt(bad, sizeof(bad), "%s/s/%s?%s", base, path, q);
    IT_EQ(fetch_status("GET", bad), 403);
    /* ...and one signed the same way within the expiry is good. */
    IT_EQ(cf_cred_url_sign(it_keys_cluster_cred(), path, cf_wall_ms() + 20000, q), 0);
    it_fmt(bad, sizeof(bad), "%s/s/%s?%s", base, path, q);
    signed_get_ok(bad, 11, BIG);
    /* A signed URL only reads. */
    IT_EQ(it_http_to(NULL, base, "DELETE", strstr(loc, "/s/"), NULL, &r, NULL), 401);
    it_resp_fini(&r);
    signed_get_ok(loc, 11, BIG);
    it_proc_stop_ok(&y.s.p);
}

/* `coffer CMD --token-file TOK A1 A2 A3` must exit 0. */
static void cli_ok(const char *tok, const char *cmd, const char *a1, const char *a2, const char *a3)
{
    int rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, cmd, "--token-file", tok, a1, a2, a3, NULL));

    IT_CHECKF(rc == 0, "coffer %s %s: exit %d (see cmd.log)", cmd, a1 ? a1 : "", rc);
}

static void same_file(const char *a, const char *b)
{
    size_t n1, n2;
    char *x = it_read_file(a, &n1), *z = it_read_file(b, &n2);

    IT_EQ(n2, n1);
    IT_CHECKF(memcmp(x, z, n1) == 0, "%s and %s differ", a, b);
    free(x);
    free(z);
}

/* Distinct read weights for filers 1, 2, 3, so objsrv orders the replicas,
 * and the redirect names them, the same way every time. */
static const int64_t read_weights[] = {300, 200, 100};

/* Give the server's filers those read weights and wait until the app's
 * record of the file at name (a path under FS) has them, before objsrv
 * first reads it (it keeps the record it reads). */
static void order_reads(const struct sys *y, const char *name)
{
    char db[IT_PATH_MAX + 32], target[512], uuid[64];
    struct it_resp r;
    json_t *j;

    it_fmt(db, sizeof(db), "sqlite:%s/data/catalog.db", it_case_dir());
    IT_EQ(y->s.nfilers, CF_ARRAY_LEN(read_weights));
    it_set_read_weights(db, read_weights, CF_ARRAY_LEN(read_weights));
    it_fmt(target, sizeof(target), "/api/v1/versions%s", name);
    IT_EQ(it_http_to(NULL, y->gw, "GET", target, NULL, &r, y->auth, NULL), 200);
    j = it_resp_json(&r);
    it_fmt(uuid, sizeof(uuid), "%s",
           it_json_str(json_array_get(json_object_get(j, "versions"), 0), "uuid"));
    json_decref(j);
    it_resp_fini(&r);
    it_wait_read_weights(y->s.p.base, uuid, read_weights, CF_ARRAY_LEN(read_weights));
}

static void t_cli(void *arg)
{
    char tok[IT_PATH_MAX], home[IT_PATH_MAX], file[IT_PATH_MAX], got[IT_PATH_MAX];
    char log[IT_PATH_MAX], loc[1024], path[256], fdir[IT_PATH_MAX];
    uint8_t sha[CF_SHA512_LEN];
    struct it_filer f;
    struct sys y;
    int rc;

    (void)arg;
    start(&y);
    it_case_path(home, "home");
    it_case_path(log, "cmd.log");
    it_fmt(tok, sizeof(tok), "%s/.config/coffer/token", home);
    IT_EQ(setenv("HOME", home, 1), 0);
    rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, "login", "--gateway", y.gw, "--client", "demo",
                                    "--user", "admin", "--password", y.pw, NULL));
    IT_EQ(rc, 0);
    it_write_payload(file, "big.bin", 21, BIG, sha);
    cli_ok(tok, "put", file, "/big.bin", NULL);
    order_reads(&y, "/big.bin");

    /* Through the redirect: the bytes, and no complaint. */
    it_case_path(got, "got1");
    cli_ok(tok, "get", "/big.bin", "-o", got);
    same_file(file, got);
    IT_CHECK(!it_file_contains(log, "do not match"));

    /* The replica the redirect names first is corrupt: the CLI sees it,
     * reads the next, and writes the right bytes. */
    json_decref(redirect_ok(&y, "GET", FS "/big.bin", sha, loc, path));
    for (unsigned i = 0; i < y.s.nfilers; i++) {
        if (strncmp(loc, y.s.filers[i], strlen(y.s.filers[i])) == 0 &&
            loc[strlen(y.s.filers[i])] == '/') {
            it_fmt(fdir, sizeof(fdir), "data/filer%u", i + 1);
            it_filer_init(&f, i + 1, fdir);
            it_flip_object_byte(&f, path, BIG / 2);
        }
    }
    it_case_path(got, "got2");
    cli_ok(tok, "get", "/big.bin", "-o", got);
    same_file(file, got);
    IT_CHECK(it_file_contains(log, "do not match the file's SHA-512; trying the next replica"));
    it_proc_stop_ok(&y.s.p);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"signed_url", t_signed_url, NULL, 60},
        {"cli", t_cli, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
