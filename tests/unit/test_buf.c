/*
 * test_buf.c -- unit tests for buf.h: the hard cap (exactly at the limit is
 * fine, one byte more fails and leaves the buffer as it was), growth against a
 * plain array as reference, printf, take and fini.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/buf.h"
#include "coffer/err.h"

/* The header's invariant: base[len] == '\0' whenever base != NULL. */
static void check_invariant(const struct cf_buf *b)
{
    if (b->base != NULL) {
        assert_true(b->len < b->cap);
        assert_int_equal(b->base[b->len], '\0');
    } else {
        assert_int_equal(b->len, 0);
    }
    assert_true(b->len <= b->limit);
}

static void test_init(void **state)
{
    struct cf_buf b;

    (void)state;
    memset(&b, 0x5a, sizeof(b));
    cf_buf_init(&b, 100);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.limit, 100);
    check_invariant(&b);
    cf_buf_fini(&b);
}

struct limit_case {
    size_t limit;
    size_t first;  /* bytes appended first (must fit) */
    size_t second; /* then this many */
    int want;      /* result of the second append */
};

static const struct limit_case limit_cases[] = {
    {0, 0, 0, 0},
    {0, 0, 1, CF_ETOOLARGE},
    {1, 0, 1, 0},
    {1, 1, 0, 0},
    {1, 1, 1, CF_ETOOLARGE},
    {1, 0, 2, CF_ETOOLARGE},
    {16, 16, 0, 0},
    {16, 15, 1, 0},
    {16, 16, 1, CF_ETOOLARGE},
    {16, 15, 2, CF_ETOOLARGE},
    {16, 0, 17, CF_ETOOLARGE},
    {63, 62, 1, 0}, /* around the first allocation (64 with the NUL) */
    {64, 63, 1, 0},
    {65, 64, 1, 0},
    {65, 64, 2, CF_ETOOLARGE},
    {4096, 4095, 1, 0},
    {4096, 4096, 1, CF_ETOOLARGE},
    {4096, 1, 4096, CF_ETOOLARGE},
    {4096, 0, SIZE_MAX, CF_ETOOLARGE},      /* n alone is past the limit */
    {4096, 10, SIZE_MAX - 5, CF_ETOOLARGE}, /* len + n wraps around */
};

static void test_limit(void **state)
{
    static char src[8192];
    static char before[8192];

    (void)state;
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < CF_ARRAY_LEN(limit_cases); i++) {
        const struct limit_case *c = &limit_cases[i];
        struct cf_buf b;
        char *base;
        size_t len, cap;
        int rc;

        cf_buf_init(&b, c->limit);
        assert_int_equal(cf_buf_append(&b, src, c->first), 0);
        check_invariant(&b);
        base = b.base;
        len = b.len;
        cap = b.cap;
        if (len > 0)
            memcpy(before, b.base, len);
        /* The source is only read for the bytes that fit. */
        rc = cf_buf_append(&b, c->second <= sizeof(src) - c->first ? src + c->first : src,
                           c->second);
        if (rc != c->want)
            fail_msg("case %zu (limit %zu, %zu then %zu): got %d, want %d", i, c->limit, c->first,
                     c->second, rc, c->want);
        check_invariant(&b);
        if (rc == 0) {
            assert_int_equal(b.len, c->first + c->second);
            if (b.len > 0)
                assert_memory_equal(b.base, src, b.len);
        } else {
            /* Unchanged: same memory, same length, same bytes. */
            assert_ptr_equal(b.base, base);
            assert_int_equal(b.len, len);
            assert_int_equal(b.cap, cap);
            if (len > 0)
                assert_memory_equal(b.base, before, len);
        }
        cf_buf_fini(&b);
    }
}

/* Many appends of assorted sizes against a plain array. */
static void test_growth(void **state)
{
    static char ref[100000];
    struct cf_buf b;
    size_t n = 0;
    unsigned x = 1;

    (void)state;
    cf_buf_init(&b, sizeof(ref));
    for (int i = 0; i < 2000; i++) {
        char chunk[97];
        size_t k;
        x = x * 1103515245u + 12345u;
        k = (x >> 16) % sizeof(chunk);
        for (size_t j = 0; j < k; j++)
            chunk[j] = (char)(x >> (j % 24));
        if (n + k > sizeof(ref)) {
            assert_int_equal(cf_buf_append(&b, chunk, k), CF_ETOOLARGE);
            break;
        }
        assert_int_equal(cf_buf_append(&b, chunk, k), 0);
        memcpy(ref + n, chunk, k);
        n += k;
        assert_int_equal(b.len, n);
        check_invariant(&b);
    }
    assert_true(n > 10000);
    assert_memory_equal(b.base, ref, n);
    cf_buf_fini(&b);
}

static void test_append_empty(void **state)
{
    struct cf_buf b;

    (void)state;
    cf_buf_init(&b, 10);
    /* p may be NULL when n == 0. */
    assert_int_equal(cf_buf_append(&b, NULL, 0), 0);
    assert_int_equal(b.len, 0);
    check_invariant(&b);
    assert_int_equal(cf_buf_append(&b, "abc", 3), 0);
    assert_int_equal(cf_buf_append(&b, NULL, 0), 0);
    assert_string_equal(b.base, "abc");
    cf_buf_fini(&b);
}

static void test_printf(void **state)
{
    struct cf_buf b;
    char big[300];

    (void)state;
    cf_buf_init(&b, 32);
    assert_int_equal(cf_buf_printf(&b, "x=%d", 42), 0);
    assert_int_equal(cf_buf_printf(&b, " %s", "y"), 0);
    assert_int_equal(cf_buf_printf(&b, "%s", ""), 0);
    assert_string_equal(b.base, "x=42 y");
    assert_int_equal(b.len, 6);
    check_invariant(&b);

    /* To exactly the limit: 6 + 26 = 32. */
    assert_int_equal(cf_buf_printf(&b, "%026d", 7), 0);
    assert_int_equal(b.len, 32);
    assert_string_equal(b.base, "x=42 y00000000000000000000000007");
    check_invariant(&b);
    /* One more byte fails and changes nothing. */
    assert_int_equal(cf_buf_printf(&b, "%c", 'z'), CF_ETOOLARGE);
    assert_int_equal(b.len, 32);
    assert_string_equal(b.base, "x=42 y00000000000000000000000007");
    assert_int_equal(cf_buf_printf(&b, "%s", ""), 0);
    cf_buf_fini(&b);

    /* A format longer than the limit on an empty buffer allocates nothing. */
    cf_buf_init(&b, 255);
    memset(big, 'w', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cf_buf_printf(&b, "%s", big), CF_ETOOLARGE);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    /* Growing past the first allocation through printf. */
    for (int i = 0; i < 25; i++)
        assert_int_equal(cf_buf_printf(&b, "%09d,", i), 0);
    assert_int_equal(b.len, 250);
    assert_memory_equal(b.base, "000000000,000000001,", 20);
    assert_memory_equal(b.base + 240, "000000024,", 10);
    check_invariant(&b);
    cf_buf_fini(&b);
}

static void test_take(void **state)
{
    struct cf_buf b;
    size_t len = 99;
    char *p;

    (void)state;
    cf_buf_init(&b, 64);
    assert_int_equal(cf_buf_append(&b, "hello", 5), 0);
    p = cf_buf_take(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 5);
    assert_string_equal(p, "hello"); /* still NUL-terminated */
    free(p);
    /* b is empty and usable, with the same limit. */
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.limit, 64);
    assert_int_equal(cf_buf_append(&b, "again", 5), 0);
    p = cf_buf_take(&b, NULL);
    assert_string_equal(p, "again");
    free(p);

    /* Empty: NULL and a length of 0. */
    len = 99;
    assert_null(cf_buf_take(&b, &len));
    assert_int_equal(len, 0);
    /* Allocated but empty (an append of 0 bytes): NULL, and no leak (ASan). */
    assert_int_equal(cf_buf_append(&b, "", 0), 0);
    len = 99;
    assert_null(cf_buf_take(&b, &len));
    assert_int_equal(len, 0);
    assert_null(b.base);
    cf_buf_fini(&b);
}

static void test_fini(void **state)
{
    struct cf_buf b;
    struct cf_buf zero;

    (void)state;
    memset(&zero, 0, sizeof(zero));
    cf_buf_fini(&zero);
    cf_buf_fini(&zero);
    cf_buf_init(&b, 128);
    assert_int_equal(cf_buf_append(&b, "data", 4), 0);
    cf_buf_fini(&b);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    cf_buf_fini(&b);
    /* Usable again after init. */
    cf_buf_init(&b, 8);
    assert_int_equal(cf_buf_append(&b, "12345678", 8), 0);
    assert_string_equal(b.base, "12345678");
    cf_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),   cmocka_unit_test(test_limit),
        cmocka_unit_test(test_growth), cmocka_unit_test(test_append_empty),
        cmocka_unit_test(test_printf), cmocka_unit_test(test_take),
        cmocka_unit_test(test_fini),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
