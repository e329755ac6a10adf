/*
 * it_filer_basic.c -- the filer's HTTP API against a real `coffer filer`:
 * round trips, chunked uploads, concurrency, checksums, immutability, Range,
 * DELETE, /status, /list paging and the object-path gate (README "The filer").
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "coffer/objpath.h"
#include "harness.h"

/* PUT with one extra header line; returns the reply (caller releases it)
 * and the payload's digest. */
static long put_with_header(const struct it_filer *f, const char *path, uint64_t seed,
                            uint64_t size, const char *header, struct it_resp *r,
                            uint8_t sha[CF_SHA512_LEN])
{
    char target[IT_PATH_MAX];
    struct it_body b = {.chunked = false};
    long st;

    it_fmt(target, sizeof(target), "/o/%s", path);
    it_gen_init(&b.gen, seed, size);
    st = it_http(NULL, f, "PUT", target, &b, r, header, NULL);
    if (b.gen.pos == b.gen.size)
        it_gen_final(&b.gen, sha);
    else
        it_gen_fini(&b.gen);
    return st;
}

static void start_one(struct it_filer *f)
{
    it_filer_init(f, 1, "f1");
    it_filer_start_ok(f, NULL);
}

/* Round trips of 0 B, 1 B and 1 MiB with Content-Length; then an upload that
 * carries its expected checksum (upper-case hex) and a chunked upload. */
static void t_roundtrip(void *arg)
{
    static const uint64_t sizes[] = {0, 1, 1024 * 1024};
    char path[64], hdr[160], hex[CF_SHA512_HEX_LEN + 1];
    uint8_t want[CF_SHA512_LEN], sha[CF_SHA512_LEN];
    struct it_client c;
    struct it_resp r;
    struct it_filer f;

    (void)arg;
    start_one(&f);
    it_client_init(&c);
    for (unsigned i = 0; i < CF_ARRAY_LEN(sizes); i++) {
        it_fmt(path, sizeof(path), "rt/size-%u", (unsigned)sizes[i]);
        it_roundtrip(&c, &f, path, 100 + i, sizes[i], false);
    }
    it_client_fini(&c);

    it_prng_sha512(7, 4096, want);
    it_hex(want, hex);
    for (char *p = hex; *p != '\0'; p++)
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    it_fmt(hdr, sizeof(hdr), "X-Coffer-SHA512: %s", hex);
    put_with_header(&f, "rt/expected", 7, 4096, hdr, &r, sha);
    it_check_put_reply(&r, "rt/expected", 4096, want);
    it_resp_fini(&r);
    it_get_ok(NULL, &f, "rt/expected", 4096, want);
    IT_EQ(it_status_int(&f, "objects"), 4);
    IT_EQ(it_status_int(&f, "used_bytes"), 1 + 1024 * 1024 + 4096);
    it_filer_stop_ok(&f);
}

/* Transfer-Encoding: chunked, no Content-Length. */
static void t_chunked(void *arg)
{
    static const uint64_t sizes[] = {0, 1, 3 * 1024 * 1024 + 7};
    char path[64];
    struct it_filer f;

    (void)arg;
    start_one(&f);
    for (unsigned i = 0; i < CF_ARRAY_LEN(sizes); i++) {
        it_fmt(path, sizeof(path), "chunked/%u", i);
        it_roundtrip(NULL, &f, path, 200 + i, sizes[i], true);
    }
    IT_EQ(it_status_int(&f, "objects"), 3);
    it_filer_stop_ok(&f);
}

#define CONC_N 32

struct conc_job {
    const struct it_filer *f;
    unsigned i;
    bool get;
    uint8_t sha[CF_SHA512_LEN];
};

static uint64_t conc_size(unsigned i)
{
    return 256 * 1024 + (uint64_t)i * 4099;
}

static void *conc_thread(void *arg)
{
    struct conc_job *j = arg;
    char path[64];

    it_fmt(path, sizeof(path), "conc/obj-%02u", j->i);
    if (j->get)
        it_get_ok(NULL, j->f, path, conc_size(j->i), j->sha);
    else
        it_put_ok(NULL, j->f, path, 300 + j->i, conc_size(j->i), j->i % 2 == 1, j->sha);
    return NULL;
}

static void run_threads(struct conc_job *jobs, bool get)
{
    pthread_t th[CONC_N];

    for (unsigned i = 0; i < CONC_N; i++) {
        jobs[i].get = get;
        IT_EQ(pthread_create(&th[i], NULL, conc_thread, &jobs[i]), 0);
    }
    for (unsigned i = 0; i < CONC_N; i++)
        IT_EQ(pthread_join(th[i], NULL), 0);
}

/* 32 concurrent PUTs (odd ones chunked), then 32 concurrent GETs. */
static void t_concurrent(void *arg)
{
    struct conc_job jobs[CONC_N];
    struct it_filer f;
    int64_t used = 0;
    char path[64];

    (void)arg;
    start_one(&f);
    for (unsigned i = 0; i < CONC_N; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].f = &f;
        jobs[i].i = i;
        used += (int64_t)conc_size(i);
    }
    run_threads(jobs, false);
    run_threads(jobs, true);
    for (unsigned i = 0; i < CONC_N; i++) {
        it_fmt(path, sizeof(path), "conc/obj-%02u", i);
        it_check_object_file(&f, path, conc_size(i), jobs[i].sha);
    }
    IT_EQ(it_status_int(&f, "objects"), CONC_N);
    IT_EQ(it_status_int(&f, "used_bytes"), used);
    it_filer_stop_ok(&f);
}

/* A wrong expected checksum gives 422 and stores nothing; a malformed
 * checksum header gives 400. */
static void t_checksum(void *arg)
{
    static const char *const bad[] = {
        "X-Coffer-SHA512: abc",
        "X-Coffer-SHA512: "
        "0000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000",
        "X-Coffer-SHA512: "
        "0000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000",
        "X-Coffer-SHA512: "
        "0000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000g",
        "X-Coffer-SHA512;", /* curl's way to send an empty value */
    };
    char hdr[160], hex[CF_SHA512_HEX_LEN + 1];
    uint8_t other[CF_SHA512_LEN], sha[CF_SHA512_LEN];
    struct it_filer f;
    struct it_resp r;

    (void)arg;
    start_one(&f);
    it_prng_sha512(2, 65536, other);
    it_hex(other, hex);
    it_fmt(hdr, sizeof(hdr), "X-Coffer-SHA512: %s", hex);
    IT_EQ(put_with_header(&f, "sum/wrong", 1, 65536, hdr, &r, sha), 422);
    it_check_error_body(&r, "ECHECKSUM");
    it_resp_fini(&r);
    IT_EQ(it_object_file_size(&f, "sum/wrong"), -1);
    it_wait_no_tmp(&f);
    IT_EQ(it_status_of(NULL, &f, "GET", "/o/sum/wrong"), 404);
    IT_EQ(it_status_int(&f, "objects"), 0);
    IT_EQ(it_status_int(&f, "used_bytes"), 0);

    for (unsigned i = 0; i < CF_ARRAY_LEN(bad); i++) {
        long st = put_with_header(&f, "sum/bad", 1, 65536, bad[i], &r, sha);
        IT_CHECKF(st == 400, "PUT with \"%.40s...\": status %ld, expected 400", bad[i], st);
        it_check_error_body(&r, NULL);
        it_resp_fini(&r);
    }
    IT_EQ(it_object_file_size(&f, "sum/bad"), -1);
    it_wait_no_tmp(&f);
    IT_EQ(it_status_int(&f, "objects"), 0);

    /* The path is still free, and the right checksum is accepted. */
    it_prng_sha512(1, 65536, other);
    it_hex(other, hex);
    it_fmt(hdr, sizeof(hdr), "X-Coffer-SHA512: %s", hex);
    put_with_header(&f, "sum/wrong", 1, 65536, hdr, &r, sha);
    it_check_put_reply(&r, "sum/wrong", 65536, other);
    it_resp_fini(&r);
    it_get_ok(NULL, &f, "sum/wrong", 65536, other);
    it_filer_stop_ok(&f);
}

/* Objects are immutable: a second PUT gets 409 and the old bytes stay. */
static void t_exists(void *arg)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_filer f;
    struct it_resp r;
    struct it_body b = {.chunked = false};

    (void)arg;
    start_one(&f);
    it_put_ok(NULL, &f, "imm/a", 11, 1000, false, sha);
    it_gen_init(&b.gen, 12, 2000);
    IT_EQ(it_http(NULL, &f, "PUT", "/o/imm/a", &b, &r, NULL), 409);
    it_gen_fini(&b.gen);
    it_check_error_body(&r, "EEXIST");
    it_resp_fini(&r);
    IT_EQ(it_put_status(NULL, &f, "imm/a", 13, 0, true), 409);
    IT_EQ(it_put_status(NULL, &f, "imm/a", 14, 300000, true), 409);
    it_get_ok(NULL, &f, "imm/a", 1000, sha);
    it_check_object_file(&f, "imm/a", 1000, sha);
    it_wait_no_tmp(&f);
    IT_EQ(it_status_int(&f, "objects"), 1);
    IT_EQ(it_status_int(&f, "used_bytes"), 1000);
    it_filer_stop_ok(&f);
}

struct range_case {
    const char *range;
    long status;
    uint64_t first, last; /* for 206 */
};

static void check_range(const struct it_filer *f, const char *path, const unsigned char *all,
                        uint64_t size, const struct range_case *rc)
{
    char hdr[128], want[128], target[IT_PATH_MAX];
    struct it_resp r;
    long st;

    it_fmt(hdr, sizeof(hdr), "Range: %s", rc->range);
    it_fmt(target, sizeof(target), "/o/%s", path);
    st = it_http(NULL, f, "GET", target, NULL, &r, hdr, NULL);
    IT_CHECKF(st == rc->status, "%s on %llu bytes: status %ld, expected %ld", rc->range,
              (unsigned long long)size, st, rc->status);
    if (st == 206) {
        uint64_t n = rc->last - rc->first + 1;
        IT_CHECK(it_resp_header(&r, "Content-Range", hdr, sizeof(hdr)));
        it_fmt(want, sizeof(want), "bytes %llu-%llu/%llu", (unsigned long long)rc->first,
               (unsigned long long)rc->last, (unsigned long long)size);
        IT_STREQ(hdr, want);
        IT_CHECK(it_resp_header(&r, "Content-Length", hdr, sizeof(hdr)));
        IT_EQ(strtoull(hdr, NULL, 10), n);
        IT_EQ(r.total, n);
        IT_CHECKF(memcmp(r.body, all + rc->first, n) == 0, "%s: wrong bytes", rc->range);
    } else if (st == 416) {
        IT_CHECK(it_resp_header(&r, "Content-Range", hdr, sizeof(hdr)));
        it_fmt(want, sizeof(want), "bytes */%llu", (unsigned long long)size);
        IT_STREQ(hdr, want);
    } else {
        IT_EQ(r.total, size);
        IT_CHECKF(size == 0 || memcmp(r.body, all, size) == 0, "%s: wrong bytes", rc->range);
    }
    it_resp_fini(&r);
}

/* Single ranges give 206; past the end 416 with bytes * / SIZE; several
 * ranges or an invalid header the whole object; HEAD has no body. */
static void t_range(void *arg)
{
    static const struct range_case cases[] = {
        {"bytes=0-0", 206, 0, 0},        {"bytes=10-19", 206, 10, 19},
        {"bytes=-5", 206, 95, 99},       {"bytes=5-", 206, 5, 99},
        {"bytes=95-200", 206, 95, 99},   {"bytes=-100", 206, 0, 99},
        {"bytes=-1000", 206, 0, 99},     {"bytes=99-99", 206, 99, 99},
        {"bytes=100-", 416, 0, 0},       {"bytes=100-200", 416, 0, 0},
        {"bytes=-0", 416, 0, 0},         {"bytes=0-0,5-6", 200, 0, 0},
        {"bytes=0-9, 20-29", 200, 0, 0}, {"bytes=abc", 200, 0, 0},
        {"bytes=50-10", 200, 0, 0},      {"items=0-1", 200, 0, 0},
    };
    static const struct range_case empty = {"bytes=0-0", 416, 0, 0};
    unsigned char all[100];
    char hdr[CF_SHA512_HEX_LEN + 8], hex[CF_SHA512_HEX_LEN + 1];
    uint8_t sha[CF_SHA512_LEN];
    struct it_filer f;
    struct it_resp r;

    (void)arg;
    start_one(&f);
    it_prng_fill(7, 0, all, sizeof(all));
    it_put_ok(NULL, &f, "range/obj", 7, sizeof(all), false, sha);
    it_put_ok(NULL, &f, "range/empty", 8, 0, false, NULL);
    for (unsigned i = 0; i < CF_ARRAY_LEN(cases); i++)
        check_range(&f, "range/obj", all, sizeof(all), &cases[i]);
    check_range(&f, "range/empty", all, 0, &empty);

    IT_EQ(it_http(NULL, &f, "HEAD", "/o/range/obj", NULL, &r, NULL), 200);
    IT_EQ(r.total, 0);
    IT_CHECK(it_resp_header(&r, "Content-Length", hdr, sizeof(hdr)));
    IT_STREQ(hdr, "100");
    IT_CHECK(it_resp_header(&r, "X-Coffer-SHA512", hdr, sizeof(hdr)));
    it_hex(sha, hex);
    IT_STREQ(hdr, hex);
    IT_CHECK(it_resp_header(&r, "Accept-Ranges", hdr, sizeof(hdr)));
    IT_STREQ(hdr, "bytes");
    it_resp_fini(&r);
    IT_EQ(it_status_of(NULL, &f, "HEAD", "/o/range/absent"), 404);
    it_filer_stop_ok(&f);
}

/* DELETE: 204, then 404; the file is gone and the path can be reused. */
static void t_delete(void *arg)
{
    struct it_filer f;
    struct it_resp r;

    (void)arg;
    start_one(&f);
    it_put_ok(NULL, &f, "del/x", 21, 5000, false, NULL);
    IT_EQ(it_object_file_size(&f, "del/x"), 5000);
    IT_EQ(it_status_of(NULL, &f, "DELETE", "/o/del/x"), 204);
    IT_EQ(it_object_file_size(&f, "del/x"), -1);
    IT_EQ(it_http(NULL, &f, "DELETE", "/o/del/x", NULL, &r, NULL), 404);
    it_check_error_body(&r, "ENOTFOUND");
    it_resp_fini(&r);
    IT_EQ(it_http(NULL, &f, "GET", "/o/del/x", NULL, &r, NULL), 404);
    it_check_error_body(&r, "ENOTFOUND");
    it_resp_fini(&r);
    IT_EQ(it_status_of(NULL, &f, "HEAD", "/o/del/x"), 404);
    IT_EQ(it_status_int(&f, "objects"), 0);
    IT_EQ(it_status_int(&f, "used_bytes"), 0);
    it_roundtrip(NULL, &f, "del/x", 22, 777, false);
    it_filer_stop_ok(&f);
}

struct status_snap {
    int64_t objects, used, bytes_in, bytes_out, requests;
};

static void take_status(const struct it_filer *f, struct status_snap *s)
{
    json_t *j = it_status(f);

    s->objects = it_json_int(j, "objects");
    s->used = it_json_int(j, "used_bytes");
    s->bytes_in = it_json_int(j, "bytes_in");
    s->bytes_out = it_json_int(j, "bytes_out");
    s->requests = it_json_int(j, "requests");
    json_decref(j);
}

/* /status has every field of the README, and used_bytes and objects follow
 * PUT and DELETE exactly (failed PUTs change nothing). */
static void t_status(void *arg)
{
    struct status_snap a, b;
    uint8_t sha[CF_SHA512_LEN];
    struct it_filer f;
    json_t *j;

    (void)arg;
    start_one(&f);
    j = it_status(&f);
    IT_EQ(it_json_int(j, "id"), 1);
    IT_CHECK(it_json_int(j, "total_bytes") > 0);
    IT_EQ(it_json_int(j, "used_bytes"), 0);
    IT_CHECK(it_json_int(j, "free_bytes") <= it_json_int(j, "total_bytes"));
    IT_EQ(it_json_int(j, "objects"), 0);
    IT_CHECK(!it_json_bool(j, "read_only"));
    IT_CHECK(it_json_int(j, "bytes_in") >= 0);
    IT_CHECK(it_json_int(j, "bytes_out") >= 0);
    IT_CHECK(it_json_int(j, "requests") >= 0);
    IT_EQ(it_json_int(j, "io_errors"), 0);
    IT_CHECK(it_json_int(j, "uptime_s") >= 0);
    IT_CHECK(it_json_int(j, "in_flight") >= 0);
    json_decref(j);

    take_status(&f, &a);
    it_put_ok(NULL, &f, "st/a", 31, 1000, false, NULL);
    it_put_ok(NULL, &f, "st/b", 32, 0, false, NULL);
    it_put_ok(NULL, &f, "st/c", 33, 5000, true, sha);
    take_status(&f, &b);
    IT_EQ(b.objects, 3);
    IT_EQ(b.used, 6000);
    IT_CHECK(b.bytes_in >= a.bytes_in + 6000);
    IT_CHECK(b.requests >= a.requests + 3);

    IT_EQ(it_put_status(NULL, &f, "st/a", 34, 10, false), 409);
    IT_EQ(it_put_status(NULL, &f, "st/../a", 34, 10, false), 400);
    it_check_usage(&f, 3, 6000);

    take_status(&f, &a);
    it_get_ok(NULL, &f, "st/c", 5000, sha);
    take_status(&f, &b);
    IT_CHECK(b.bytes_out >= a.bytes_out + 5000);

    IT_EQ(it_status_of(NULL, &f, "DELETE", "/o/st/b"), 204);
    it_check_usage(&f, 2, 6000);
    IT_EQ(it_status_of(NULL, &f, "DELETE", "/o/st/c"), 204);
    it_check_usage(&f, 1, 1000);
    IT_EQ(it_status_of(NULL, &f, "DELETE", "/o/st/c"), 404);
    it_check_usage(&f, 1, 1000);
    IT_EQ(it_status_int(&f, "io_errors"), 0);
    it_filer_stop_ok(&f);
}

#define LIST_N    2500
#define LIST_PUTS 4

static void list_path(char *out, size_t cap, unsigned i)
{
    it_fmt(out, cap, i % 2 ? "list/a%04u" : "b%04u", i);
}

static uint64_t list_size(unsigned i)
{
    return i % 37;
}

struct list_job {
    const struct it_filer *f;
    unsigned first;
};

static void *list_put_thread(void *arg)
{
    struct list_job *j = arg;
    struct it_client c;
    char path[64];

    it_client_init(&c);
    for (unsigned i = j->first; i < LIST_N; i += LIST_PUTS) {
        list_path(path, sizeof(path), i);
        it_put_ok(&c, j->f, path, 10000 + i, list_size(i), false, NULL);
    }
    it_client_fini(&c);
    return NULL;
}

/* Compare two paths in storage order: bucket, then on-disk name. */
static int storage_cmp(const char *a, const char *b)
{
    uint32_t ba = cf_objpath_bucket(a, strlen(a)), bb = cf_objpath_bucket(b, strlen(b));
    char na[CF_PATH_MAX + 1], nb[CF_PATH_MAX + 1];
    int c = ba < bb ? -1 : 1;

    if (ba == bb) {
        IT_CHECK(cf_objpath_to_name(a, strlen(a), na, sizeof(na)) > 0);
        IT_CHECK(cf_objpath_to_name(b, strlen(b), nb, sizeof(nb)) > 0);
        c = strcmp(na, nb);
    }
    return c;
}

/* GET a /list page; returns the JSON (caller owns) or NULL for a non-200. */
static json_t *list_page(struct it_client *c, const struct it_filer *f, const char *query,
                         long *status)
{
    char target[IT_PATH_MAX];
    struct it_resp r;
    json_t *j = NULL;

    it_fmt(target, sizeof(target), "/list%s", query);
    *status = it_http(c, f, "GET", target, NULL, &r, NULL);
    if (*status == 200) {
        j = it_resp_json(&r);
        IT_CHECK(json_is_array(json_object_get(j, "objects")));
        IT_CHECK(json_object_get(j, "next") != NULL);
    } else {
        it_check_error_body(&r, NULL);
    }
    it_resp_fini(&r);
    return j;
}

/* /list pages through every object exactly once, in storage order. */
static void t_list(void *arg)
{
    static const char *const bad_after[] = {"../x", "a//b", ".hidden", "%2e%2e/x", "a/"};
    static unsigned char seen[LIST_N];
    struct list_job jobs[LIST_PUTS];
    pthread_t th[LIST_PUTS];
    char query[IT_PATH_MAX], prev[CF_PATH_MAX + 1] = "", after[CF_PATH_MAX + 1] = "";
    unsigned pages = 0, total = 0;
    struct it_client c;
    struct it_filer f;
    long st;
    json_t *j;

    (void)arg;
    start_one(&f);
    for (unsigned t = 0; t < LIST_PUTS; t++) {
        jobs[t].f = &f;
        jobs[t].first = t;
        IT_EQ(pthread_create(&th[t], NULL, list_put_thread, &jobs[t]), 0);
    }
    for (unsigned t = 0; t < LIST_PUTS; t++)
        IT_EQ(pthread_join(th[t], NULL), 0);
    IT_EQ(it_status_int(&f, "objects"), LIST_N);

    it_client_init(&c);
    memset(seen, 0, sizeof(seen));
    for (;;) {
        json_t *objs, *next;
        size_t n;
        if (pages == 0)
            it_fmt(query, sizeof(query), "?limit=1000");
        else
            it_fmt(query, sizeof(query), "?after=%s&limit=1000", after);
        j = list_page(&c, &f, query, &st);
        IT_CHECKF(st == 200, "GET /list%s: status %ld", query, st);
        objs = json_object_get(j, "objects");
        n = json_array_size(objs);
        IT_EQ(n, pages < 2 ? 1000 : LIST_N - 2000);
        for (size_t k = 0; k < n; k++) {
            json_t *o = json_array_get(objs, k);
            const char *p = it_json_str(o, "path");
            unsigned long i;
            const char *digits = strncmp(p, "list/a", 6) == 0 ? p + 6 : p + 1;
            char *end = NULL;
            i = strtoul(digits, &end, 10);
            IT_CHECKF(end != digits && *end == '\0' && i < LIST_N, "unexpected path %s", p);
            IT_CHECKF(seen[i] == 0, "path %s listed twice", p);
            seen[i] = 1;
            IT_EQ(it_json_int(o, "size"), list_size((unsigned)i));
            IT_CHECKF(prev[0] == '\0' || storage_cmp(prev, p) < 0,
                      "%s listed after %s: not in storage order", p, prev);
            IT_CHECK(strlen(p) < sizeof(prev));
            memcpy(prev, p, strlen(p) + 1);
            total++;
        }
        pages++;
        next = json_object_get(j, "next");
        if (json_is_null(next)) {
            json_decref(j);
            break;
        }
        IT_CHECKF(json_is_string(next), "next is neither null nor a path");
        IT_CHECKF(pages < 3, "page %u has a next after all objects", pages);
        IT_CHECK(strlen(json_string_value(next)) < sizeof(after));
        memcpy(after, json_string_value(next), strlen(json_string_value(next)) + 1);
        IT_STREQ(after, prev);
        json_decref(j);
    }
    IT_EQ(pages, 3);
    IT_EQ(total, LIST_N);

    /* The default page is 1000; the maximum, 10000, lists them all; a limit
     * over it is refused like any other bad limit. */
    j = list_page(&c, &f, "", &st);
    IT_EQ(st, 200);
    IT_EQ(json_array_size(json_object_get(j, "objects")), 1000);
    IT_CHECK(json_is_string(json_object_get(j, "next")));
    json_decref(j);
    j = list_page(&c, &f, "?limit=10000", &st);
    IT_EQ(st, 200);
    IT_EQ(json_array_size(json_object_get(j, "objects")), LIST_N);
    IT_CHECK(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    j = list_page(&c, &f, "?limit=10001", &st);
    IT_EQ(st, 400);
    j = list_page(&c, &f, "?limit=20000", &st);
    IT_EQ(st, 400);

    /* After the last object: an empty page; after an absent path: what follows it. */
    it_fmt(query, sizeof(query), "?after=%s", prev);
    j = list_page(&c, &f, query, &st);
    IT_EQ(st, 200);
    IT_EQ(json_array_size(json_object_get(j, "objects")), 0);
    IT_CHECK(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    j = list_page(&c, &f, "?after=zzzz&limit=10000", &st);
    IT_EQ(st, 200);
    for (size_t k = 0; k < json_array_size(json_object_get(j, "objects")); k++) {
        const char *p = it_json_str(json_array_get(json_object_get(j, "objects"), k), "path");
        IT_CHECKF(storage_cmp("zzzz", p) < 0, "after=zzzz listed %s", p);
    }
    json_decref(j);

    for (unsigned i = 0; i < CF_ARRAY_LEN(bad_after); i++) {
        it_fmt(query, sizeof(query), "?after=%s", bad_after[i]);
        j = list_page(&c, &f, query, &st);
        IT_CHECKF(st == 400, "/list%s: status %ld, expected 400", query, st);
    }
    j = list_page(&c, &f, "?limit=abc", &st);
    IT_CHECKF(st == 400, "/list?limit=abc: status %ld, expected 400", st);
    j = list_page(&c, &f, "?limit=-1", &st);
    IT_CHECKF(st == 400, "/list?limit=-1: status %ld, expected 400", st);
    j = list_page(&c, &f, "?limit=0", &st);
    IT_CHECKF(st == 400, "/list?limit=0: status %ld, expected 400", st);
    it_client_fini(&c);
    it_filer_stop_ok(&f);
}

/* Send "METHOD target" raw (curl would normalise it) and return the status. */
static long raw_status(const struct it_filer *f, const char *method, const char *target)
{
    char req[2048 + CF_CRED_HEADER_MAX], reply[4096];
    bool put = strcmp(method, "PUT") == 0;
    size_t n;

    it_fmt(req, sizeof(req),
           "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%s\r\n%s", method, target,
           f->port, put ? "Content-Length: 5\r\n" : "", put ? "hello" : "");
    n = strlen(req);
    it_raw_sign(req, &n, sizeof(req));
    return it_raw_exchange(f, req, n, reply, sizeof(reply));
}

static void fill_segment(char *p, size_t n)
{
    memset(p, 'a', n);
}

/* Traversal and malformed object paths are refused with 400 before the disk
 * is touched: nothing inside or next to DIR changes. */
static void t_traversal(void *arg)
{
    static const char *const targets[] = {
        "/o/../x",
        "/o/a/../../x",
        "/o/%2e%2e/x",
        "/o/%2E%2E%2Fetc",
        "/o/%2e%2e%2f%2e%2e%2fsentinel",
        "/o/..%2f..%2fsentinel",
        "/o//x",
        "/o/x/",
        "/o/.hidden",
        "/o/a/.hidden",
        "/o/a%00b",
        "/o/%00",
        "/o/a%2f%2fb",
        "/o/%2fx",
        "/o/a%2f",
        "/o/a%5cb",
        "/o/a\\b",
        "/o/a%20b",
        "/o/%C3%A9",
        "/o/.",
        "/o/..",
        "/o/",
        "/o/./x",
        "/o/a/./b",
        "/o/a+b",
        "/o/a~b",
        "/o/a%2Bb",
        "/o/.tmp.x",
        "/o/a/..",
        "/o/a%252e%252e",
        "/o/%2e",
        "/o/a%3fb",
    };
    static const char *const methods[] = {"PUT", "GET", "HEAD", "DELETE"};
    char target[1200], sentinel[IT_PATH_MAX];
    char *before, *after;
    struct it_filer f;
    FILE *fp;
    size_t n;

    (void)arg;
    it_case_path(sentinel, "sentinel");
    fp = fopen(sentinel, "w");
    IT_CHECK(fp != NULL);
    IT_CHECK(fputs("precious\n", fp) >= 0);
    IT_CHECK(fclose(fp) == 0);
    it_case_path(sentinel, "x");
    IT_CHECK(mkdir(sentinel, 0700) == 0);
    start_one(&f);
    before = it_tree_snapshot(it_case_dir());

    for (unsigned i = 0; i < CF_ARRAY_LEN(targets); i++) {
        for (unsigned m = 0; m < CF_ARRAY_LEN(methods); m++) {
            long st = raw_status(&f, methods[m], targets[i]);
            IT_CHECKF(st == 400, "%s %s: status %ld, expected 400", methods[m], targets[i], st);
        }
    }
    /* 513 bytes of path; a 201-byte segment; 17 segments. */
    memcpy(target, "/o/", 3);
    n = 3;
    for (unsigned s = 0; s < 5; s++) {
        fill_segment(target + n, 100);
        n += 100;
        target[n++] = '/';
    }
    fill_segment(target + n, 8);
    n += 8;
    target[n] = '\0';
    IT_EQ(n - 3, 513);
    IT_EQ(raw_status(&f, "PUT", target), 400);
    IT_EQ(raw_status(&f, "GET", target), 400);
    n = 3;
    fill_segment(target + n, 201);
    target[n + 201] = '\0';
    IT_EQ(raw_status(&f, "PUT", target), 400);
    n = 3;
    for (unsigned s = 0; s < 17; s++) {
        target[n++] = 'd';
        target[n++] = '/';
    }
    target[n - 1] = '\0';
    IT_EQ(raw_status(&f, "PUT", target), 400);

    it_wait_no_tmp(&f);
    IT_EQ(it_status_int(&f, "objects"), 0);
    after = it_tree_snapshot(it_case_dir());
    IT_CHECKF(strcmp(before, after) == 0, "the case directory changed:\nbefore:\n%s\nafter:\n%s",
              before, after);
    free(before);
    free(after);
    it_filer_stop_ok(&f);
}

/* The limits themselves are valid: a 512-byte path, a 200-byte segment and
 * 16 segments round-trip. */
static void t_path_limits(void *arg)
{
    char path[CF_PATH_MAX + 1];
    struct it_filer f;
    size_t n = 0;

    (void)arg;
    start_one(&f);
    fill_segment(path, 200);
    path[200] = '\0';
    it_roundtrip(NULL, &f, path, 41, 10, false);

    n = 0;
    for (unsigned s = 0; s < 16; s++) {
        path[n++] = (char)('a' + s);
        path[n++] = '/';
    }
    path[n - 1] = '\0';
    it_roundtrip(NULL, &f, path, 42, 10, false);

    /* Exactly CF_PATH_MAX bytes: 200 + '/' + the rest (a filer's file name). */
    n = 0;
    memset(path + n, 'b', 200);
    n += 200;
    path[n++] = '/';
    memset(path + n, 'z', CF_PATH_MAX - n);
    path[CF_PATH_MAX] = '\0';
    IT_EQ(strlen(path), CF_PATH_MAX);
    it_roundtrip(NULL, &f, path, 43, 10, false);
    IT_EQ(it_status_int(&f, "objects"), 3);
    it_filer_stop_ok(&f);
}

/* Other methods get 405, other URLs 404, each with a JSON error body. */
static void t_errors(void *arg)
{
    static const char *const urls[] = {"/", "/nope", "/o", "/status/x", "/objects/x", "/lists"};
    struct it_filer f;
    struct it_resp r;

    (void)arg;
    start_one(&f);
    it_put_ok(NULL, &f, "err/x", 51, 10, false, NULL);
    IT_EQ(it_http(NULL, &f, "PATCH", "/o/err/x", NULL, &r, NULL), 405);
    it_check_error_body(&r, "EMETHOD");
    it_resp_fini(&r);
    IT_EQ(it_status_of(NULL, &f, "POST", "/o/err/x"), 405);
    IT_EQ(it_status_of(NULL, &f, "OPTIONS", "/o/err/x"), 405);
    for (unsigned i = 0; i < CF_ARRAY_LEN(urls); i++) {
        long st = it_http(NULL, &f, "GET", urls[i], NULL, &r, NULL);
        IT_CHECKF(st == 404, "GET %s: status %ld, expected 404", urls[i], st);
        it_check_error_body(&r, "ENOTFOUND");
        it_resp_fini(&r);
    }
    IT_EQ(it_status_of(NULL, &f, "PUT", "/status"), 405);
    IT_EQ(it_status_of(NULL, &f, "DELETE", "/list"), 405);
    it_filer_stop_ok(&f);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"roundtrip", t_roundtrip, NULL, 60},
        {"chunked", t_chunked, NULL, 60},
        {"concurrent", t_concurrent, NULL, 60},
        {"checksum", t_checksum, NULL, 30},
        {"exists", t_exists, NULL, 30},
        {"range", t_range, NULL, 30},
        {"delete", t_delete, NULL, 30},
        {"status", t_status, NULL, 30},
        {"list", t_list, NULL, 120},
        {"traversal", t_traversal, NULL, 60},
        {"path_limits", t_path_limits, NULL, 30},
        {"errors", t_errors, NULL, 30},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
