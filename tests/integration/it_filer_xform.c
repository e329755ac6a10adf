/*
 * it_filer_xform.c -- compressed and encrypted objects in a real `coffer
 * filer` (README "The filer", X-Coffer-Transform): PUT with each
 * transform, GET decoded and as stored, Range over plain offsets, bad
 * headers, wrong keys, the same stored bytes on two filers, a copy of the
 * stored bytes to a third that decodes them, damaged objects never served
 * whole, and small objects in volumes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define FRAME (256 * 1024)
#define KEY   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY2  "10112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

struct xf {
    const char *t;      /* the transform header's value */
    const char *hdr[3]; /* its header lines, NULL-terminated */
};

static const struct xf xz = {"z", {"X-Coffer-Transform: z", NULL, NULL}};
static const struct xf xe = {"e", {"X-Coffer-Transform: e", "X-Coffer-Key: " KEY, NULL}};
static const struct xf xze = {"ze", {"X-Coffer-Transform: ze", "X-Coffer-Key: " KEY, NULL}};

/* What a transformed PUT answered. */
struct stored {
    uint64_t size;
    uint8_t sha[CF_SHA512_LEN];
};

static void start_one(struct it_filer *f, unsigned id, const char *name)
{
    it_filer_init(f, id, name);
    it_filer_start_ok(f, NULL);
}

/* PUT the payload (seed, size) with the transform, the plain SHA-512 in
 * the header; check the 201 reply and return the stored form's size and
 * SHA-512. */
static void put_xf(const struct it_filer *f, const char *path, const struct xf *x, uint64_t seed,
                   uint64_t size, struct stored *st)
{
    char target[IT_PATH_MAX], sumhdr[160], hex[CF_SHA512_HEX_LEN + 1], h[160];
    uint8_t want[CF_SHA512_LEN], sha[CF_SHA512_LEN];
    struct it_body b = {.chunked = size % 2 == 1};
    struct it_resp r;
    json_t *j;

    it_prng_sha512(seed, size, want);
    it_hex(want, hex);
    it_fmt(sumhdr, sizeof(sumhdr), "X-Coffer-SHA512: %s", hex);
    it_fmt(target, sizeof(target), "/o/%s", path);
    it_gen_init(&b.gen, seed, size);
    IT_EQ(it_http(NULL, f, "PUT", target, &b, &r, x->hdr[0], sumhdr, x->hdr[1], NULL), 201);
    it_gen_final(&b.gen, sha);
    j = it_resp_json(&r);
    IT_STREQ(it_json_str(j, "path"), path);
    IT_EQ(it_json_int(j, "size"), (int64_t)size);
    IT_STREQ(it_json_str(j, "sha512"), hex);
    st->size = (uint64_t)it_json_int(j, "stored_size");
    IT_EQ(cf_sha512_parse_hex(it_json_str(j, "stored_sha512"), CF_SHA512_HEX_LEN, st->sha), 0);
    json_decref(j);
    IT_CHECK(it_resp_header(&r, "X-Coffer-SHA512", h, sizeof(h)));
    IT_STREQ(h, hex);
    IT_CHECK(it_resp_header(&r, "X-Coffer-Stored-Size", h, sizeof(h)));
    IT_EQ(strtoull(h, NULL, 10), st->size);
    it_hex(st->sha, hex);
    IT_CHECK(it_resp_header(&r, "X-Coffer-Stored-SHA512", h, sizeof(h)));
    IT_STREQ(h, hex);
    it_resp_fini(&r);
}

/* GET decoded: the whole plain payload. */
static void get_xf_ok(const struct it_filer *f, const char *path, const struct xf *x, uint64_t seed,
                      uint64_t size)
{
    char target[IT_PATH_MAX];
    uint8_t want[CF_SHA512_LEN];
    struct it_resp r;

    it_prng_sha512(seed, size, want);
    it_fmt(target, sizeof(target), "/o/%s", path);
    it_http(NULL, f, "GET", target, NULL, &r, x->hdr[0], x->hdr[1], NULL);
    it_check_object_reply(&r, path, size, want);
    it_resp_fini(&r);
}

/* GET decoded with Range: bytes first-last of the plain payload. */
static void range_xf_ok(const struct it_filer *f, const char *path, const struct xf *x,
                        uint64_t seed, uint64_t first, uint64_t last, uint64_t size)
{
    char target[IT_PATH_MAX], rh[96];
    struct it_resp r;

    it_fmt(target, sizeof(target), "/o/%s", path);
    it_fmt(rh, sizeof(rh), "Range: bytes=%llu-%llu", (unsigned long long)first,
           (unsigned long long)last);
    IT_EQ(it_http(NULL, f, "GET", target, NULL, &r, rh, x->hdr[0], x->hdr[1], NULL), 206);
    it_range_check(&r, target, seed, first, last, size);
    it_resp_fini(&r);
}

/* GET as stored (no transform header): the stored bytes, which the
 * caller releases in r. */
static void get_raw_ok(const struct it_filer *f, const char *path, const struct stored *st,
                       struct it_resp *r)
{
    char target[IT_PATH_MAX];

    it_fmt(target, sizeof(target), "/o/%s", path);
    it_http(NULL, f, "GET", target, NULL, r, NULL);
    it_check_object_reply(r, path, st->size, st->sha);
}

/* A decoded GET of a damaged object: a 422 before the body, or a body cut
 * short; never a complete 200. */
static void get_xf_never_whole(const struct it_filer *f, const char *path, const struct xf *x,
                               uint64_t size)
{
    char target[IT_PATH_MAX];
    struct it_resp r;

    it_fmt(target, sizeof(target), "/o/%s", path);
    it_http(NULL, f, "GET", target, NULL, &r, x->hdr[0], x->hdr[1], NULL);
    if (r.status == 422)
        it_check_error_body(&r, "ECHECKSUM");
    else
        IT_CHECKF(r.status == 200 && (r.curl_code != 0 || r.total < size),
                  "GET %s of a damaged object: status %ld, curl %d, %llu of %llu bytes", path,
                  r.status, r.curl_code, (unsigned long long)r.total, (unsigned long long)size);
    it_resp_fini(&r);
}

static long status_with(const struct it_filer *f, const char *method, const char *path,
                        const char *h1, const char *h2)
{
    char target[IT_PATH_MAX];
    struct it_resp r;
    long st;

    it_fmt(target, sizeof(target), "/o/%s", path);
    st = it_http(NULL, f, method, target, NULL, &r, h1, h2, NULL);
    if (st >= 400 && strcmp(method, "HEAD") != 0)
        it_check_error_body(&r, NULL);
    it_resp_fini(&r);
    return st;
}

/* Each transform: the 201 reply, decoded and stored reads, Range, HEAD,
 * the stored size (smaller for compressible z, barely larger for random
 * bytes), no plain text in an encrypted file. */
static void t_roundtrip(void *arg)
{
    static const struct xf *const xs[] = {&xz, &xe, &xze};
    static const uint64_t sizes[] = {0, 1, FRAME, 3 * FRAME + 77};
    struct it_filer f;
    char path[64], h[160], hex[CF_SHA512_HEX_LEN + 1];
    uint8_t want[CF_SHA512_LEN];

    (void)arg;
    start_one(&f, 1, "f1");
    for (unsigned i = 0; i < CF_ARRAY_LEN(xs); i++) {
        for (unsigned k = 0; k < CF_ARRAY_LEN(sizes); k++) {
            for (int text = 0; text < 2; text++) {
                uint64_t seed = 10 * i + k + (text ? IT_SEED_TEXT : 0), size = sizes[k];
                struct stored st;
                struct it_resp r;
                it_fmt(path, sizeof(path), "x/%s-%llu-%d", xs[i]->t, (unsigned long long)size,
                       text);
                put_xf(&f, path, xs[i], seed, size, &st);
                get_xf_ok(&f, path, xs[i], seed, size);
                get_raw_ok(&f, path, &st, &r);
                it_check_object_file(&f, path, st.size, st.sha);
                if (text && size > 1000 && xs[i] != &xe)
                    IT_CHECKF(st.size < size / 10, "%s: %llu bytes stored", path,
                              (unsigned long long)st.size);
                if (!text) /* random: stored as is, frame by frame */
                    IT_CHECKF(st.size <= size + 200 + size / FRAME * 48, "%s: %llu bytes stored",
                              path, (unsigned long long)st.size);
                if (text && size > 1000 && xs[i] != &xz) {
                    unsigned char plain[256];
                    it_prng_fill(seed, 1000, plain, sizeof(plain));
                    IT_CHECK(memmem(r.body, r.body_len, plain, sizeof(plain)) == NULL);
                }
                it_resp_fini(&r);
                if (size > FRAME) {
                    range_xf_ok(&f, path, xs[i], seed, 0, 0, size);
                    range_xf_ok(&f, path, xs[i], seed, FRAME - 5, FRAME + 5, size);
                    range_xf_ok(&f, path, xs[i], seed, 2 * FRAME + 1000, size - 1, size);
                    range_xf_ok(&f, path, xs[i], seed, 100, 3 * FRAME, size);
                }
            }
        }
    }
    /* HEAD decoded: the plain length and SHA-512. */
    it_prng_sha512(20 + 3 + IT_SEED_TEXT, 3 * FRAME + 77, want);
    it_hex(want, hex);
    {
        struct it_resp r;
        IT_EQ(it_http(NULL, &f, "HEAD", "/o/x/ze-786509-1", NULL, &r, xze.hdr[0], xze.hdr[1], NULL),
              200);
        IT_CHECK(it_resp_header(&r, "Content-Length", h, sizeof(h)));
        IT_EQ(strtoull(h, NULL, 10), 3 * FRAME + 77);
        IT_CHECK(it_resp_header(&r, "X-Coffer-SHA512", h, sizeof(h)));
        IT_STREQ(h, hex);
        it_resp_fini(&r);
    }
    it_filer_stop_ok(&f);
}

/* 400 for bad transform headers; 422 for a wrong key, another transform
 * or an object stored without one; 422 and nothing stored for a wrong
 * plain SHA-512. */
static void t_refusals(void *arg)
{
    struct it_filer f;
    struct stored st;
    struct it_body b = {.chunked = false};
    struct it_resp r;
    char hdr[160], hex[CF_SHA512_HEX_LEN + 1];
    uint8_t other[CF_SHA512_LEN];

    (void)arg;
    start_one(&f, 1, "f1");
    put_xf(&f, "r/e", &xe, 5 | IT_SEED_TEXT, 5000, &st);
    it_put_ok(NULL, &f, "r/plain", 6, 5000, false, NULL);
    IT_EQ(status_with(&f, "PUT", "r/a", "X-Coffer-Transform: x", NULL), 400);
    IT_EQ(status_with(&f, "PUT", "r/a", "X-Coffer-Transform: e", NULL), 400);
    IT_EQ(status_with(&f, "PUT", "r/a", "X-Coffer-Transform: ze", "X-Coffer-Key: 00ff"), 400);
    IT_EQ(status_with(&f, "PUT", "r/a", "X-Coffer-Transform: z", "X-Coffer-Key: " KEY), 400);
    IT_EQ(status_with(&f, "GET", "r/e", "X-Coffer-Transform: e", NULL), 400);
    IT_EQ(status_with(&f, "GET", "r/e", "X-Coffer-Transform: e", "X-Coffer-Key: " KEY2), 422);
    IT_EQ(status_with(&f, "HEAD", "r/e", "X-Coffer-Transform: e", "X-Coffer-Key: " KEY2), 422);
    IT_EQ(status_with(&f, "GET", "r/e", "X-Coffer-Transform: z", NULL), 422);
    IT_EQ(status_with(&f, "GET", "r/e", "X-Coffer-Transform: ze", "X-Coffer-Key: " KEY), 422);
    IT_EQ(status_with(&f, "GET", "r/plain", "X-Coffer-Transform: z", NULL), 422);
    IT_EQ(status_with(&f, "GET", "r/plain", "X-Coffer-Transform: e", "X-Coffer-Key: " KEY), 422);
    IT_EQ(status_with(&f, "GET", "r/none", "X-Coffer-Transform: z", NULL), 404);
    /* A range past the plain end: 416 with the plain size. */
    IT_EQ(it_http(NULL, &f, "GET", "/o/r/e", NULL, &r, "Range: bytes=5000-6000", xe.hdr[0],
                  xe.hdr[1], NULL),
          416);
    IT_CHECK(it_resp_header(&r, "Content-Range", hdr, sizeof(hdr)));
    IT_STREQ(hdr, "bytes */5000");
    it_resp_fini(&r);
    /* Immutable as any object: the second PUT is refused before its body. */
    it_gen_init(&b.gen, 8, 4000);
    IT_EQ(it_http(NULL, &f, "PUT", "/o/r/e", &b, &r, xze.hdr[0], xze.hdr[1], NULL), 409);
    it_gen_fini(&b.gen);
    it_check_error_body(&r, "EEXIST");
    it_resp_fini(&r);
    /* A wrong plain checksum: 422, nothing kept. */
    it_prng_sha512(99, 4000, other);
    it_hex(other, hex);
    it_fmt(hdr, sizeof(hdr), "X-Coffer-SHA512: %s", hex);
    it_gen_init(&b.gen, 7, 4000);
    IT_EQ(it_http(NULL, &f, "PUT", "/o/r/wrong", &b, &r, xze.hdr[0], xze.hdr[1], hdr, NULL), 422);
    it_gen_fini(&b.gen);
    it_check_error_body(&r, "ECHECKSUM");
    it_resp_fini(&r);
    b.chunked = true;
    it_gen_init(&b.gen, 7, 400000);
    IT_EQ(it_http(NULL, &f, "PUT", "/o/r/wrong2", &b, &r, xz.hdr[0], hdr, NULL), 422);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
    it_wait_no_tmp(&f);
    IT_EQ(it_status_of(NULL, &f, "GET", "/o/r/wrong"), 404);
    IT_EQ(it_status_of(NULL, &f, "GET", "/o/r/wrong2"), 404);
    it_check_usage(&f, 2, (int64_t)st.size + 5000);
    it_filer_stop_ok(&f);
}

/* Two filers given the same PUT store the same bytes; those bytes PUT as
 * they are to a third (as rebuild copies them) decode there. */
static void t_replicas(void *arg)
{
    static const struct xf *const xs[] = {&xz, &xe, &xze};
    uint64_t size = 2 * FRAME + 333;
    struct it_filer f1, f2, f3;
    char path[64], reply[4096], hex[CF_SHA512_HEX_LEN + 1];

    (void)arg;
    start_one(&f1, 1, "f1");
    start_one(&f2, 2, "f2");
    start_one(&f3, 3, "f3");
    for (unsigned i = 0; i < CF_ARRAY_LEN(xs); i++) {
        uint64_t seed = 40 + i + IT_SEED_TEXT;
        struct stored s1, s2;
        struct it_resp r;
        int fd;
        it_fmt(path, sizeof(path), "rep/%s", xs[i]->t);
        put_xf(&f1, path, xs[i], seed, size, &s1);
        put_xf(&f2, path, xs[i], seed, size, &s2);
        IT_EQ(s1.size, s2.size);
        IT_CHECK(memcmp(s1.sha, s2.sha, CF_SHA512_LEN) == 0);
        get_raw_ok(&f1, path, &s1, &r);
        fd = it_raw_put_begin(&f3, path, (int64_t)r.body_len);
        IT_CHECK(it_raw_send(fd, r.body, r.body_len));
        IT_EQ(it_raw_read_reply(fd, reply, sizeof(reply)), 201);
        close(fd);
        it_hex(s1.sha, hex);
        IT_CHECK(strstr(reply, hex) != NULL);
        it_resp_fini(&r);
        get_xf_ok(&f3, path, xs[i], seed, size);
        range_xf_ok(&f3, path, xs[i], seed, FRAME, FRAME + 10, size);
    }
    it_filer_stop_ok(&f1);
    it_filer_stop_ok(&f2);
    it_filer_stop_ok(&f3);
}

/* A flipped byte in the stored bytes: a decoded GET is refused or cut,
 * never complete; in the first frame it is a 422. */
static void t_damage(void *arg)
{
    static const struct xf *const xs[] = {&xz, &xe, &xze};
    uint64_t size = 3 * FRAME;
    struct it_filer f;
    char path[64];

    (void)arg;
    start_one(&f, 1, "f1");
    for (unsigned i = 0; i < CF_ARRAY_LEN(xs); i++) {
        for (int text = 0; text < 2; text++) {
            uint64_t seed = 60 + i + (text ? IT_SEED_TEXT : 0);
            struct stored st;
            it_fmt(path, sizeof(path), "dmg/%s-%d-a", xs[i]->t, text);
            put_xf(&f, path, xs[i], seed, size, &st);
            /* In the middle of the stored bytes: a later frame. */
            it_flip_object_byte(&f, path, st.size / 2);
            get_xf_never_whole(&f, path, xs[i], size);
            if (!text) {
                /* Random bytes fill their frames: the flip is in frame 1,
                 * which a range of it alone finds by that frame's check. */
                char target[IT_PATH_MAX], rh[64];
                struct it_resp r;
                it_fmt(target, sizeof(target), "/o/%s", path);
                it_fmt(rh, sizeof(rh), "Range: bytes=%u-%u", FRAME + 10, FRAME + 20);
                IT_EQ(it_http(NULL, &f, "GET", target, NULL, &r, rh, xs[i]->hdr[0], xs[i]->hdr[1],
                              NULL),
                      422);
                it_check_error_body(&r, "ECHECKSUM");
                it_resp_fini(&r);
            }
            it_fmt(path, sizeof(path), "dmg/%s-%d-b", xs[i]->t, text);
            put_xf(&f, path, xs[i], seed, size, &st);
            it_flip_object_byte(&f, path, 3);
            IT_EQ(status_with(&f, "GET", path, xs[i]->hdr[0], xs[i]->hdr[1]), 422);
            it_fmt(path, sizeof(path), "dmg/%s-%d-c", xs[i]->t, text);
            put_xf(&f, path, xs[i], seed, size, &st);
            it_flip_object_byte(&f, path, st.size - 40); /* the trailer */
            IT_EQ(status_with(&f, "GET", path, xs[i]->hdr[0], xs[i]->hdr[1]), 422);
        }
    }
    it_filer_stop_ok(&f);
}

/* Small transformed objects go to volumes like any small object. */
static void t_volume(void *arg)
{
    static const struct xf *const xs[] = {&xz, &xe, &xze};
    struct it_filer f;
    char path[64];

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, "--small-max", "64K", NULL);
    for (unsigned i = 0; i < CF_ARRAY_LEN(xs); i++) {
        uint64_t seed = 80 + i + IT_SEED_TEXT;
        struct stored st;
        struct it_resp r;
        it_fmt(path, sizeof(path), "vol/%s", xs[i]->t);
        put_xf(&f, path, xs[i], seed, 20000, &st);
        IT_CHECK(it_object_in_volume(&f, path));
        get_xf_ok(&f, path, xs[i], seed, 20000);
        range_xf_ok(&f, path, xs[i], seed, 19990, 19999, 20000);
        get_raw_ok(&f, path, &st, &r);
        it_resp_fini(&r);
        it_flip_object_byte(&f, path, st.size / 3);
        get_xf_never_whole(&f, path, xs[i], 20000);
    }
    it_filer_stop_ok(&f);
    /* Read back after a restart, from the volume index. */
    it_filer_start_ok(&f, "--small-max", "64K", NULL);
    it_fmt(path, sizeof(path), "vol2/ze");
    {
        struct stored st;
        put_xf(&f, path, &xze, 90 | IT_SEED_TEXT, 3000, &st);
    }
    it_filer_stop_ok(&f);
    it_filer_start_ok(&f, "--small-max", "64K", NULL);
    get_xf_ok(&f, path, &xze, 90 | IT_SEED_TEXT, 3000);
    it_filer_stop_ok(&f);
}

/* A chunked transformed PUT whose plain SHA-512 comes as a trailer, right
 * (201) and wrong (422); then a signed URL, which serves the stored bytes
 * whatever the request's transform headers. */
static void t_trailer_signed(void *arg)
{
    static const char body[] = "hello, hello, hello, hello, hello";
    struct it_filer f;
    struct it_resp r;
    uint8_t sha[CF_SHA512_LEN];
    char req[2048], auth[CF_CRED_HEADER_MAX], host[64], hex[CF_SHA512_HEX_LEN + 1];
    char reply[4096], q[CF_CRED_URL_QUERY_MAX], target[256];
    struct cf_sha512 h;
    struct stored st;

    (void)arg;
    start_one(&f, 1, "f1");
    IT_EQ(cf_sha512_init(&h), 0);
    IT_EQ(cf_sha512_update(&h, body, strlen(body)), 0);
    IT_EQ(cf_sha512_final(&h, sha), 0);
    cf_sha512_fini(&h);
    for (int wrong = 0; wrong < 2; wrong++) {
        const char *path = wrong ? "/o/tr/wrong" : "/o/tr/right";
        int fd = it_raw_connect(&f);
        it_hex(sha, hex);
        if (wrong)
            hex[0] = hex[0] == '0' ? '1' : '0';
        it_fmt(host, sizeof(host), "127.0.0.1:%u", f.port);
        it_sign_line(auth, "PUT", path, host);
        it_fmt(req, sizeof(req),
               "PUT %s HTTP/1.1\r\nHost: %s\r\n%s\r\nTransfer-Encoding: chunked\r\n"
               "Trailer: X-Coffer-SHA512\r\nX-Coffer-Transform: ze\r\nX-Coffer-Key: %s\r\n"
               "Connection: close\r\n\r\n%zx\r\n%s\r\n0\r\nX-Coffer-SHA512: %s\r\n\r\n",
               path, host, auth, KEY, strlen(body), body, hex);
        IT_CHECK(it_raw_send(fd, req, strlen(req)));
        IT_EQ(it_raw_read_reply(fd, reply, sizeof(reply)), wrong ? 422 : 201);
        close(fd);
        it_hex(sha, hex);
        if (!wrong)
            IT_CHECK(strstr(reply, "\"stored_sha512\"") != NULL && strstr(reply, hex) != NULL);
    }
    IT_EQ(it_http(NULL, &f, "GET", "/o/tr/right", NULL, &r, xze.hdr[0], xze.hdr[1], NULL), 200);
    IT_EQ(r.total, strlen(body));
    IT_CHECK(memcmp(r.body, body, strlen(body)) == 0);
    it_resp_fini(&r);
    IT_EQ(it_status_of(NULL, &f, "GET", "/o/tr/wrong"), 404);
    IT_EQ(it_http(NULL, &f, "GET", "/o/tr/right", NULL, &r, NULL), 200);
    st.size = r.total;
    memcpy(st.sha, r.sha, CF_SHA512_LEN);
    it_resp_fini(&r);
    IT_CHECK(st.size > strlen(body));
    IT_EQ(cf_cred_url_sign(it_keys_cluster_cred(), "tr/right", cf_wall_ms() + 60000, q), 0);
    it_fmt(target, sizeof(target), "/s/tr/right?%s", q);
    IT_EQ(it_http(NULL, &f, "GET", target, NULL, &r, xze.hdr[0], xze.hdr[1], NULL), 200);
    it_check_object_reply(&r, "the signed URL", st.size, st.sha);
    it_resp_fini(&r);
    it_filer_stop_ok(&f);
}

#define CONC_N 12

struct conc_job {
    const struct it_filer *f;
    unsigned i;
};

static uint64_t conc_size(unsigned i)
{
    return 100000 + (uint64_t)i * 61417;
}

static void *conc_thread(void *arg)
{
    static const struct xf *const xs[] = {&xz, &xe, &xze};
    const struct conc_job *j = arg;
    const struct xf *x = xs[j->i % 3];
    uint64_t seed = 500 + j->i + (j->i % 2 ? IT_SEED_TEXT : 0), size = conc_size(j->i);
    struct stored st;
    char path[64];

    it_fmt(path, sizeof(path), "conc/%02u", j->i);
    put_xf(j->f, path, x, seed, size, &st);
    get_xf_ok(j->f, path, x, seed, size);
    range_xf_ok(j->f, path, x, seed, size / 3, size / 2, size);
    return NULL;
}

/* Transformed PUTs and decoded GETs of every kind, several at once. */
static void t_concurrent(void *arg)
{
    struct conc_job jobs[CONC_N];
    pthread_t th[CONC_N];
    struct it_filer f;

    (void)arg;
    start_one(&f, 1, "f1");
    for (unsigned i = 0; i < CONC_N; i++) {
        jobs[i].f = &f;
        jobs[i].i = i;
        IT_EQ(pthread_create(&th[i], NULL, conc_thread, &jobs[i]), 0);
    }
    for (unsigned i = 0; i < CONC_N; i++)
        IT_EQ(pthread_join(th[i], NULL), 0);
    IT_EQ(it_status_int(&f, "objects"), CONC_N);
    it_filer_stop_ok(&f);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"roundtrip", t_roundtrip, NULL, 60},   {"refusals", t_refusals, NULL, 30},
        {"replicas", t_replicas, NULL, 60},     {"damage", t_damage, NULL, 60},
        {"volume", t_volume, NULL, 60},         {"trailer_signed", t_trailer_signed, NULL, 30},
        {"concurrent", t_concurrent, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
