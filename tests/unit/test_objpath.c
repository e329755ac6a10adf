/*
 * test_objpath.c -- unit tests for objpath.h: the path gate and the hashed layout.
 *
 * The validator is checked three ways: a table of every traversal form we know
 * (each must be refused), a table of valid paths, boundary lengths built at run
 * time, and a differential run against a naive reference validator written
 * here from the header's rules. The bucket function is part of the on-disk
 * format, so it is checked against an FNV-1a 64 written here (itself checked
 * against the published FNV test vectors), never against values our code
 * computed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/limits.h"
#include "coffer/objpath.h"

/* A byte string that may contain NUL. */
struct bytes {
    const char *p;
    size_t len;
};

#define B(s)                                                                                       \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

/* --- reference models ---------------------------------------------------- */

/* The header's rules, written as naively as possible. */
static bool ref_valid(const char *p, size_t len)
{
    size_t depth = 0, i = 0;

    if (len < 1 || len > CF_PATH_MAX)
        return false;
    for (;;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        if (j == i || j - i > CF_PATH_SEGMENT_MAX || p[i] == '.')
            return false;
        for (size_t k = i; k < j; k++)
            if (memchr(alphabet, p[k], sizeof(alphabet) - 1) == NULL)
                return false;
        depth++;
        if (depth > CF_PATH_DEPTH_MAX)
            return false;
        if (j == len)
            return true;
        i = j + 1;
    }
}

/* FNV-1a 64 (http://www.isthe.com/chongo/tech/comp/fnv/), straight from the definition. */
static uint64_t ref_fnv1a64(const char *p, size_t len)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (size_t i = 0; i < len; i++) {
        h ^= (uint64_t)(unsigned char)p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* XOR-fold 64 -> 16 bits: the four 16-bit words XORed together. */
static uint32_t ref_bucket(const char *p, size_t len)
{
    uint64_t h = ref_fnv1a64(p, len);

    return (uint32_t)((h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) & 0xffff);
}

/* xorshift64*: a deterministic generator (rand() is banned, and tests must repeat). */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* Fill out with `depth` segments of `seglen` copies of c joined by '/'. Returns the length. */
static size_t make_path(char *out, size_t cap, size_t depth, size_t seglen, char c)
{
    size_t n = 0;

    for (size_t d = 0; d < depth; d++) {
        if (d > 0) {
            assert_true(n < cap);
            out[n++] = '/';
        }
        assert_true(n + seglen < cap);
        memset(out + n, c, seglen);
        n += seglen;
    }
    assert_true(n < cap);
    out[n] = '\0';
    return n;
}

static void check_valid(const char *p, size_t len, bool want, const char *what)
{
    char err[CF_ERR_LEN];
    int rc;

    err[0] = '\0';
    rc = cf_objpath_validate(p, len, err);
    if (want && rc != 0)
        fail_msg("%s (len %zu): refused with %d (%s)", what, len, rc, err);
    if (!want && rc != CF_EBADPATH)
        fail_msg("%s (len %zu): expected CF_EBADPATH, got %d", what, len, rc);
    if (!want && err[0] == '\0')
        fail_msg("%s: refused without a reason in err", what);
    /* err may be NULL. */
    assert_int_equal(cf_objpath_validate(p, len, NULL), rc);
    assert_int_equal(ref_valid(p, len), want);
}

/* --- validation tables ---------------------------------------------------- */

static const struct bytes bad_paths[] = {
    B(""),
    B("."),
    B(".."),
    B("..."),
    B("../etc/passwd"),
    B("a/../b"),
    B("a/.."),
    B("../"),
    B("./a"),
    B("a/./b"),
    B("a/."),
    B("/"),
    B("/a"),
    B("//a"),
    B("/etc/passwd"),
    B("a/"),
    B("a/b/"),
    B("a//b"),
    B("a///b"),
    B("\0"),
    B("a\0"),
    B("\0a"),
    B("a\0b"),
    B("a/\0/b"),
    B("a\0/../b"),
    B("%2e%2e"),
    B("%2e%2e/x"),
    B("a/%2E%2E/b"),
    B("%2e"),
    B("a%2fb"),
    B("%00"),
    B("a%"),
    B("a\\b"),
    B("..\\x"),
    B("\\"),
    B("a b"),
    B(" a"),
    B("a "),
    B(" "),
    B("\xc3\xa9"),                 /* "é" in UTF-8 */
    B("a\xff"),                    /* invalid UTF-8 */
    B("\x80"),                     /* lone continuation byte */
    B("\xc0\xae\xc0\xae"),         /* overlong UTF-8 ".." */
    B("\xef\xbc\x8e\xef\xbc\x8e"), /* fullwidth ".." */
    B("\x01"),
    B("a\tb"),
    B("a\nb"),
    B("a\rb"),
    B("\x1f"),
    B("\x7f"),
    B(".hidden"),
    B("a/.hidden"),
    B(".tmp.x"),
    B("..a"),
    B("a/.b/c"),
    B("a+b"), /* '+' is the on-disk separator */
    B("a:b"),
    B("a*b"),
    B("a?b"),
    B("~"),
    B("a;b"),
    B("a|b"),
    B("$HOME"),
    B("a\"b"),
    B("a'b"),
    B("a,b"),
    B("a=b"),
    B("a@b"),
};

static const struct bytes good_paths[] = {
    B("a"),           B("A"),        B("0"),
    B("-"),           B("_"),        B("a."),
    B("a.."),         B("a..b"),     B("a.b.c"),
    B("a_b-c.d"),     B("a/b"),      B("a/b/c"),
    B("x./y."),       B("a/b..c"),   B("-/_/0"),
    B("abc-DEF_0.9"), B("ZZ/zz/09"), B("photos/2024/img_0001.jpg"),
};

static void test_validate_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(bad_paths); i++) {
        char what[64];
        snprintf(what, sizeof(what), "bad_paths[%zu]", i);
        check_valid(bad_paths[i].p, bad_paths[i].len, false, what);
    }
}

static void test_validate_accepts(void **state)
{
    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(good_paths); i++)
        check_valid(good_paths[i].p, good_paths[i].len, true, good_paths[i].p);
}

/* Every single byte on its own: only the alphabet minus '.' is a path. */
static void test_validate_every_byte(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char p[3] = {(char)c, 'x', '\0'};
        bool in_alpha = c != 0 && memchr(alphabet, c, sizeof(alphabet) - 1) != NULL;
        char what[32];
        snprintf(what, sizeof(what), "byte 0x%02x", (unsigned)c);
        check_valid(p, 1, in_alpha && c != '.', what);
        /* Inside a segment, '.' is fine. */
        p[0] = 'x';
        p[1] = (char)c;
        check_valid(p, 2, in_alpha, what);
    }
}

static void test_validate_lengths(void **state)
{
    char p[CF_PATH_MAX * 2 + 8];
    size_t n;

    (void)state;
    /* Total length: exactly CF_PATH_MAX is accepted, one more is refused.
     * 200 + 1 + 54 = 255. */
    n = make_path(p, sizeof(p), 1, CF_PATH_SEGMENT_MAX, 'a');
    p[n++] = '/';
    memset(p + n, 'b', CF_PATH_MAX - n);
    n = CF_PATH_MAX;
    p[n] = '\0';
    check_valid(p, n, true, "exactly CF_PATH_MAX bytes");
    p[n] = 'b';
    p[n + 1] = '\0';
    check_valid(p, n + 1, false, "CF_PATH_MAX + 1 bytes");
    check_valid(p, n - 1, true, "CF_PATH_MAX - 1 bytes");

    /* A long path whose only fault is its length (all segments short). */
    n = make_path(p, sizeof(p), CF_PATH_DEPTH_MAX, 14, 'c'); /* 16*14 + 15 = 239 */
    assert_int_equal(n, 239);
    check_valid(p, n, true, "239 bytes of 16 segments");
    memset(p + n, 'c', 16);
    check_valid(p, n + 16, true, "255 bytes of 16 segments");
    p[n + 16] = 'c';
    check_valid(p, n + 17, false, "256 bytes of 16 segments");

    /* Segment length. */
    n = make_path(p, sizeof(p), 1, CF_PATH_SEGMENT_MAX, 's');
    check_valid(p, n, true, "one segment of CF_PATH_SEGMENT_MAX");
    n = make_path(p, sizeof(p), 1, CF_PATH_SEGMENT_MAX + 1, 's');
    check_valid(p, n, false, "one segment of CF_PATH_SEGMENT_MAX + 1");
    n = make_path(p, sizeof(p), 1, CF_PATH_SEGMENT_MAX, 's');
    p[n++] = '/';
    memset(p + n, 't', CF_PATH_MAX - n);
    n = CF_PATH_MAX;
    p[n] = '\0';
    check_valid(p, n, true, "a segment of CF_PATH_SEGMENT_MAX and another up to CF_PATH_MAX");
    /* An over-long segment in the middle. */
    memcpy(p, "a/", 2);
    n = 2 + make_path(p + 2, sizeof(p) - 2, 1, CF_PATH_SEGMENT_MAX + 1, 's');
    p[n++] = '/';
    p[n++] = 'z';
    check_valid(p, n, false, "middle segment of CF_PATH_SEGMENT_MAX + 1");

    /* Depth. */
    n = make_path(p, sizeof(p), CF_PATH_DEPTH_MAX, 1, 'd');
    check_valid(p, n, true, "CF_PATH_DEPTH_MAX segments");
    n = make_path(p, sizeof(p), CF_PATH_DEPTH_MAX + 1, 1, 'd');
    check_valid(p, n, false, "CF_PATH_DEPTH_MAX + 1 segments");
    n = make_path(p, sizeof(p), CF_PATH_DEPTH_MAX - 1, 1, 'd');
    check_valid(p, n, true, "CF_PATH_DEPTH_MAX - 1 segments");

    /* The length given is what counts, not a NUL: a valid prefix of a longer buffer. */
    check_valid("abc/../x", 3, true, "prefix \"abc\" of \"abc/../x\"");
    check_valid("abc/../x", 4, false, "prefix \"abc/\"");
}

/* The validator against the naive reference on random strings over a hostile alphabet. */
static void test_validate_vs_reference(void **state)
{
    static const char hostile[] = {'a', 'Z',  '9', '-',  '_', '.',    '.',    '/',  '/',
                                   '%', '\0', '+', '\\', ' ', '\xc3', '\xff', '\n', '~'};
    char p[CF_PATH_MAX + 64];
    size_t accepted = 0;

    (void)state;
    for (int iter = 0; iter < 200000; iter++) {
        size_t len;
        uint64_t r = rng();
        /* Mostly short strings; some near the length limits. */
        if (iter % 100 == 0)
            len = CF_PATH_MAX - 8 + (size_t)(r % 16);
        else
            len = (size_t)(r % 24);
        for (size_t i = 0; i < len; i++) {
            uint64_t x = rng();
            /* Bias towards the alphabet so that valid paths are common too. */
            p[i] = (x & 1) ? alphabet[(x >> 8) % (sizeof(alphabet) - 1)]
                           : hostile[(x >> 8) % sizeof(hostile)];
        }
        bool want = ref_valid(p, len);
        int rc = cf_objpath_validate(p, len, NULL);
        if (rc != (want ? 0 : CF_EBADPATH))
            fail_msg("iteration %d (len %zu): validate %d, reference %d", iter, len, rc, want);
        accepted += want;
    }
    /* The generator must exercise both outcomes to mean anything. */
    assert_true(accepted > 10000);
    assert_true(accepted < 190000);
}

/* --- layout --------------------------------------------------------------- */

static void expect_relpath(const char *p)
{
    size_t len = strlen(p);
    char out[CF_OBJPATH_REL_MAX], want[CF_OBJPATH_REL_MAX + 16];
    uint32_t b = ref_bucket(p, len);
    int n, w;

    w = snprintf(want, sizeof(want), "objects/%02x/%02x/", (unsigned)(b >> 8),
                 (unsigned)(b & 0xff));
    assert_true(w > 0 && (size_t)w + len < sizeof(want));
    for (size_t i = 0; i < len; i++)
        want[(size_t)w + i] = p[i] == '/' ? '+' : p[i];
    want[(size_t)w + len] = '\0';

    n = cf_objpath_relpath(p, len, out, sizeof(out));
    if (n < 0)
        fail_msg("relpath(\"%s\") failed: %d", p, n);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_true((size_t)n < CF_OBJPATH_REL_MAX);
}

static void test_relpath_format(void **state)
{
    char out[CF_OBJPATH_REL_MAX];

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(good_paths); i++)
        expect_relpath(good_paths[i].p);
    /* Spelled out once, with the bucket from the reference (0xca93 for "a/b/c"). */
    assert_int_equal(cf_objpath_relpath("a/b/c", 5, out, sizeof(out)), 19);
    assert_string_equal(out, "objects/ca/93/a+b+c");
    /* Invalid paths never get a relative path. */
    for (size_t i = 0; i < CF_ARRAY_LEN(bad_paths); i++) {
        int rc = cf_objpath_relpath(bad_paths[i].p, bad_paths[i].len, out, sizeof(out));
        if (rc != CF_EBADPATH)
            fail_msg("relpath(bad_paths[%zu]) = %d, want CF_EBADPATH", i, rc);
        rc = cf_objpath_to_name(bad_paths[i].p, bad_paths[i].len, out, sizeof(out));
        if (rc != CF_EBADPATH)
            fail_msg("to_name(bad_paths[%zu]) = %d, want CF_EBADPATH", i, rc);
    }
}

static void test_relpath_capacity(void **state)
{
    char p[CF_PATH_MAX + 1], out[CF_OBJPATH_REL_MAX + 8];
    size_t n;
    int rc;

    (void)state;
    /* The longest path fits in CF_OBJPATH_REL_MAX exactly (with its NUL). */
    n = make_path(p, sizeof(p), 1, CF_PATH_SEGMENT_MAX, 'm');
    p[n++] = '/';
    memset(p + n, 'n', CF_PATH_MAX - n);
    n = CF_PATH_MAX;
    p[n] = '\0';
    rc = cf_objpath_relpath(p, n, out, CF_OBJPATH_REL_MAX);
    assert_int_equal(rc, 14 + CF_PATH_MAX);
    assert_int_equal(rc + 1, CF_OBJPATH_REL_MAX);
    assert_int_equal(strlen(out), (size_t)rc);
    expect_relpath(p);

    /* Output capacity boundaries: len + 1 fits, len does not. */
    rc = cf_objpath_relpath("ab/c", 4, out, 14 + 4 + 1);
    assert_int_equal(rc, 18);
    rc = cf_objpath_relpath("ab/c", 4, out, 14 + 4);
    assert_int_equal(rc, CF_ETOOLARGE);
    rc = cf_objpath_relpath("ab/c", 4, out, 10);
    assert_int_equal(rc, CF_ETOOLARGE);
    rc = cf_objpath_relpath("ab/c", 4, out, 0);
    assert_int_equal(rc, CF_ETOOLARGE);

    rc = cf_objpath_to_name("ab/c", 4, out, 5);
    assert_int_equal(rc, 4);
    assert_string_equal(out, "ab+c");
    rc = cf_objpath_to_name("ab/c", 4, out, 4);
    assert_int_equal(rc, CF_ETOOLARGE);

    rc = cf_objpath_from_name("ab+c", 4, out, 5);
    assert_int_equal(rc, 4);
    assert_string_equal(out, "ab/c");
    rc = cf_objpath_from_name("ab+c", 4, out, 4);
    assert_int_equal(rc, CF_ETOOLARGE);
}

static void roundtrip(const char *p, size_t len)
{
    char name[CF_PATH_MAX + 1], back[CF_PATH_MAX + 1];
    int n, m;

    n = cf_objpath_to_name(p, len, name, sizeof(name));
    assert_int_equal(n, len);
    assert_null(memchr(name, '/', (size_t)n));
    m = cf_objpath_from_name(name, (size_t)n, back, sizeof(back));
    assert_int_equal(m, len);
    assert_memory_equal(back, p, len);
    assert_int_equal(back[m], '\0');
}

static void test_name_roundtrip(void **state)
{
    char p[CF_PATH_MAX + 1];
    size_t n;

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(good_paths); i++)
        roundtrip(good_paths[i].p, good_paths[i].len);
    n = make_path(p, sizeof(p), CF_PATH_DEPTH_MAX, 14, 'r');
    roundtrip(p, n);
    n = make_path(p, sizeof(p), 1, CF_PATH_SEGMENT_MAX, 'r');
    roundtrip(p, n);
}

static const struct bytes bad_names[] = {
    B(""),       B(".tmp.x"), B(".tmp.a+b.123"), B("a++b"),     B("+a"),
    B("a+"),     B("+"),      B("++"),           B("."),        B(".."),
    B("a+..+b"), B("a+.x"),   B("a/b"),          B("a+/b"),     B("a b"),
    B("a\0b"),   B("a%2fb"),  B("a\\b"),         B("\xc3\xa9"), B("x+.hidden"),
    B("a+.+b"),
};

static void test_from_name_rejects(void **state)
{
    char out[CF_PATH_MAX * 2 + 8];
    size_t n;
    int rc;

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(bad_names); i++) {
        rc = cf_objpath_from_name(bad_names[i].p, bad_names[i].len, out, sizeof(out));
        if (rc != CF_EBADPATH)
            fail_msg("from_name(bad_names[%zu]) = %d, want CF_EBADPATH", i, rc);
    }
    /* Over-long names and too many segments. */
    memset(out, 'q', CF_PATH_MAX + 1);
    rc = cf_objpath_from_name(out, CF_PATH_MAX + 1, out + CF_PATH_MAX + 2,
                              sizeof(out) - CF_PATH_MAX - 2);
    assert_int_equal(rc, CF_EBADPATH);
    n = make_path(out, sizeof(out) / 2, CF_PATH_DEPTH_MAX + 1, 1, 'x');
    for (size_t i = 0; i < n; i++)
        if (out[i] == '/')
            out[i] = '+';
    rc = cf_objpath_from_name(out, n, out + n + 1, sizeof(out) - n - 1);
    assert_int_equal(rc, CF_EBADPATH);
}

/* --- buckets -------------------------------------------------------------- */

static void test_bucket_reference(void **state)
{
    char p[64];

    (void)state;
    /* The reference itself, against the published FNV-1a 64 test vectors. */
    assert_true(ref_fnv1a64("", 0) == UINT64_C(0xcbf29ce484222325));
    assert_true(ref_fnv1a64("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(ref_fnv1a64("foobar", 6) == UINT64_C(0x85944171f73967e8));
    /* Folded by hand from those vectors: af63^dc4c^8601^ec8c, 8594^4171^f739^67e8. */
    assert_int_equal(cf_objpath_bucket("a", 1), 0x19a2);
    assert_int_equal(cf_objpath_bucket("foobar", 6), 0x5434);
    assert_int_equal(cf_objpath_bucket("", 0), 0xf011);
    /* Any bytes, not only valid paths. */
    assert_int_equal(cf_objpath_bucket("a\0b", 3), ref_bucket("a\0b", 3));
    assert_int_equal(cf_objpath_bucket("\xff\x80", 2), ref_bucket("\xff\x80", 2));
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(p, sizeof(p), "dir%d/obj-%d.bin", i % 97, i);
        assert_true(n > 0 && (size_t)n < sizeof(p));
        assert_int_equal(cf_objpath_bucket(p, (size_t)n), ref_bucket(p, (size_t)n));
    }
}

/* 100,000 paths over 65,536 buckets: compare the occupancy with what a uniform
 * hash gives (Poisson with mean 100000/65536 = 1.53): about 65536 * e^-1.53
 * = 14,250 empty buckets, and a fullest bucket of 9 or 10. */
#define DIST_PATHS 100000

static void test_bucket_distribution(void **state)
{
    static uint32_t count[CF_OBJPATH_BUCKETS];
    char p[64];
    uint32_t max = 0;
    size_t empty = 0;

    (void)state;
    memset(count, 0, sizeof(count));
    for (int i = 0; i < DIST_PATHS; i++) {
        /* Sequential, near-identical names: the case a weak hash clusters. */
        int n = snprintf(p, sizeof(p), "user%d/file%07d.dat", i % 1000, i);
        uint32_t b;
        assert_true(n > 0 && (size_t)n < sizeof(p));
        b = cf_objpath_bucket(p, (size_t)n);
        assert_true(b < CF_OBJPATH_BUCKETS);
        count[b]++;
    }
    for (size_t b = 0; b < CF_OBJPATH_BUCKETS; b++) {
        if (count[b] == 0)
            empty++;
        if (count[b] > max)
            max = count[b];
    }
    /* Generous bounds: P(a Poisson(1.53) bucket >= 16) is ~1e-11 per bucket. */
    if (max > 15)
        fail_msg("fullest bucket holds %u paths", max);
    if (empty < 13500 || empty > 15000)
        fail_msg("%zu empty buckets, expected about 14250", empty);
}

/* The bucket depends only on the bytes: same input, same bucket, every time. */
static void test_bucket_stability(void **state)
{
    char a[32] = "stable/path", b[32];

    (void)state;
    memcpy(b, a, sizeof(a));
    assert_int_equal(cf_objpath_bucket(a, 11), cf_objpath_bucket(b, 11));
    assert_int_equal(cf_objpath_bucket(a, 11), ref_bucket("stable/path", 11));
    /* Only `len` bytes count. */
    b[11] = 'X';
    assert_int_equal(cf_objpath_bucket(a, 11), cf_objpath_bucket(b, 11));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_rejects),      cmocka_unit_test(test_validate_accepts),
        cmocka_unit_test(test_validate_every_byte),   cmocka_unit_test(test_validate_lengths),
        cmocka_unit_test(test_validate_vs_reference), cmocka_unit_test(test_relpath_format),
        cmocka_unit_test(test_relpath_capacity),      cmocka_unit_test(test_name_roundtrip),
        cmocka_unit_test(test_from_name_rejects),     cmocka_unit_test(test_bucket_reference),
        cmocka_unit_test(test_bucket_distribution),   cmocka_unit_test(test_bucket_stability),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
