/*
 * test_range.c -- unit tests for range.h: a table of Range header values
 * against object sizes (boundaries of every branch), then every small
 * "bytes=a-b", "bytes=a-" and "bytes=-n" against a brute-force model of
 * RFC 9110 §14.1.2 written here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "coffer/range.h"

#define NONE   CF_RANGE_NONE
#define OK     CF_RANGE_OK
#define UNSAT  CF_RANGE_UNSATISFIABLE
#define U64MAX UINT64_MAX

struct range_case {
    const char *h;
    uint64_t size;
    enum cf_range_result want;
    uint64_t first, last; /* when want == OK */
};

static const struct range_case cases[] = {
    /* absent */
    {NULL, 100, NONE, 0, 0},
    {NULL, 0, NONE, 0, 0},
    /* a-b */
    {"bytes=0-0", 100, OK, 0, 0},
    {"bYtes=0-0", 100, OK, 0, 0}, /* units are case-insensitive (found by fuzz_range) */
    {"BYTES=2-3", 100, OK, 2, 3},
    {"bytes=0-1", 100, OK, 0, 1},
    {"bytes=0-98", 100, OK, 0, 98},
    {"bytes=0-99", 100, OK, 0, 99},
    {"bytes=0-100", 100, OK, 0, 99}, /* last clamped */
    {"bytes=0-18446744073709551615", 100, OK, 0, 99},
    {"bytes=10-20", 100, OK, 10, 20},
    {"bytes=99-99", 100, OK, 99, 99},
    {"bytes=99-1000", 100, OK, 99, 99},
    {"bytes=5-5", 100, OK, 5, 5},
    {"bytes=5-4", 100, NONE, 0, 0}, /* last < first: invalid, ignored */
    {"bytes=5-3", 100, NONE, 0, 0},
    {"bytes=1-0", 1, NONE, 0, 0},
    {"bytes=100-100", 100, UNSAT, 0, 0}, /* starts at the end */
    {"bytes=100-200", 100, UNSAT, 0, 0},
    {"bytes=101-200", 100, UNSAT, 0, 0},
    {"bytes=18446744073709551615-18446744073709551615", 100, UNSAT, 0, 0},
    /* a- */
    {"bytes=0-", 100, OK, 0, 99},
    {"bytes=5-", 100, OK, 5, 99},
    {"bytes=99-", 100, OK, 99, 99},
    {"bytes=100-", 100, UNSAT, 0, 0},
    {"bytes=101-", 100, UNSAT, 0, 0},
    {"bytes=18446744073709551615-", 100, UNSAT, 0, 0},
    /* -n */
    {"bytes=-1", 100, OK, 99, 99},
    {"bytes=-2", 100, OK, 98, 99},
    {"bytes=-99", 100, OK, 1, 99},
    {"bytes=-100", 100, OK, 0, 99},
    {"bytes=-101", 100, OK, 0, 99}, /* suffix larger than the object: all of it */
    {"bytes=-18446744073709551615", 100, OK, 0, 99},
    {"bytes=-0", 100, UNSAT, 0, 0},
    {"bytes=-000", 100, UNSAT, 0, 0},
    /* the empty object: every valid range is unsatisfiable */
    {"bytes=0-0", 0, UNSAT, 0, 0},
    {"bytes=0-", 0, UNSAT, 0, 0},
    {"bytes=0-100", 0, UNSAT, 0, 0},
    {"bytes=5-", 0, UNSAT, 0, 0},
    {"bytes=-1", 0, UNSAT, 0, 0},
    {"bytes=-0", 0, UNSAT, 0, 0},
    {"bytes=5-3", 0, NONE, 0, 0},
    {"garbage", 0, NONE, 0, 0},
    /* one byte */
    {"bytes=0-0", 1, OK, 0, 0},
    {"bytes=0-", 1, OK, 0, 0},
    {"bytes=-1", 1, OK, 0, 0},
    {"bytes=-5", 1, OK, 0, 0},
    {"bytes=1-", 1, UNSAT, 0, 0},
    {"bytes=1-1", 1, UNSAT, 0, 0},
    /* the largest object */
    {"bytes=0-", U64MAX, OK, 0, U64MAX - 1},
    {"bytes=-1", U64MAX, OK, U64MAX - 1, U64MAX - 1},
    {"bytes=-18446744073709551615", U64MAX, OK, 0, U64MAX - 1},
    {"bytes=18446744073709551614-", U64MAX, OK, U64MAX - 1, U64MAX - 1},
    {"bytes=18446744073709551615-", U64MAX, UNSAT, 0, 0},
    {"bytes=0-18446744073709551615", U64MAX, OK, 0, U64MAX - 1},
    /* leading zeros are digits, not an overflow */
    {"bytes=0000000000000000000000000001-0000000000000000000000000002", 100, OK, 1, 2},
    {"bytes=-00000000000000000000000000005", 100, OK, 95, 99},
    /* overflowing numbers: invalid, ignored */
    {"bytes=18446744073709551616-", 100, NONE, 0, 0},
    {"bytes=0-18446744073709551616", 100, NONE, 0, 0},
    {"bytes=-18446744073709551616", 100, NONE, 0, 0},
    {"bytes=99999999999999999999999-", 100, NONE, 0, 0},
    /* several ranges: ignored */
    {"bytes=0-1,5-6", 100, NONE, 0, 0},
    {"bytes=0-1, 5-6", 100, NONE, 0, 0},
    {"bytes=-1,0-0", 100, NONE, 0, 0},
    {"bytes=0-,5-", 100, NONE, 0, 0},
    {"bytes=0-0,", 100, NONE, 0, 0},
    {"bytes=,0-0", 100, NONE, 0, 0},
    {"bytes=200-300,0-1", 100, NONE, 0, 0},
    /* blanks around the range, the unit and '=' */
    {" bytes=0-4", 100, OK, 0, 4},
    {"bytes=0-4 ", 100, OK, 0, 4},
    {"bytes = 0-4", 100, OK, 0, 4},
    {"bytes= 0-4", 100, OK, 0, 4},
    {"\tbytes=\t0-4\t", 100, OK, 0, 4},
    {"  bytes  =  -3  ", 100, OK, 97, 99},
    {"bytes=5- ", 100, OK, 5, 99},
    /* blanks inside the range are not allowed */
    {"bytes=0 -4", 100, NONE, 0, 0},
    {"bytes=0- 4", 100, NONE, 0, 0},
    {"bytes=- 4", 100, NONE, 0, 0},
    /* garbage */
    {"", 100, NONE, 0, 0},
    {" ", 100, NONE, 0, 0},
    {"bytes", 100, NONE, 0, 0},
    {"bytes=", 100, NONE, 0, 0},
    {"bytes= ", 100, NONE, 0, 0},
    {"bytes=-", 100, NONE, 0, 0},
    {"bytes=--1", 100, NONE, 0, 0},
    {"bytes=-1-", 100, NONE, 0, 0},
    {"bytes=-1-2", 100, NONE, 0, 0},
    {"bytes=1", 100, NONE, 0, 0},
    {"bytes=1--2", 100, NONE, 0, 0},
    {"bytes=a-b", 100, NONE, 0, 0},
    {"bytes=1-a", 100, NONE, 0, 0},
    {"bytes=1-2a", 100, NONE, 0, 0},
    {"bytes=+1-2", 100, NONE, 0, 0},
    {"bytes=1-+2", 100, NONE, 0, 0},
    {"bytes=-+1", 100, NONE, 0, 0},
    {"bytes=0x10-20", 100, NONE, 0, 0},
    {"bytes=1.5-2", 100, NONE, 0, 0},
    {"bytes 0-1", 100, NONE, 0, 0},
    {"bytes:0-1", 100, NONE, 0, 0},
    {"bytes==0-1", 100, NONE, 0, 0},
    {"bytesx=0-1", 100, NONE, 0, 0},
    {"items=0-1", 100, NONE, 0, 0},
    {"=0-1", 100, NONE, 0, 0},
    {"0-1", 100, NONE, 0, 0},
    {"bytes=0-4\n", 100, NONE, 0, 0},
    {"bytes=0-4\r\n", 100, NONE, 0, 0},
    {"bytes=0-4;x", 100, NONE, 0, 0},
    {"bytes=\xff", 100, NONE, 0, 0},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        const struct range_case *c = &cases[i];
        struct cf_range r = {0xdeadu, 0xbeefu};
        enum cf_range_result got = cf_range_parse(c->h, c->size, &r);
        if (got != c->want)
            fail_msg("case %zu \"%s\" size %llu: result %d, want %d", i, c->h ? c->h : "(null)",
                     (unsigned long long)c->size, (int)got, (int)c->want);
        if (got == CF_RANGE_OK && (r.first != c->first || r.last != c->last))
            fail_msg("case %zu \"%s\" size %llu: [%llu, %llu], want [%llu, %llu]", i, c->h,
                     (unsigned long long)c->size, (unsigned long long)r.first,
                     (unsigned long long)r.last, (unsigned long long)c->first,
                     (unsigned long long)c->last);
    }
}

/* RFC 9110 §14.1.2, by enumeration rather than arithmetic shortcuts: the
 * bytes selected are those at positions p with a <= p <= b and p < size. */
static enum cf_range_result model_ab(uint64_t a, uint64_t b, bool open, uint64_t size,
                                     struct cf_range *r)
{
    bool any = false;

    if (!open && b < a)
        return CF_RANGE_NONE;
    for (uint64_t p = 0; p < size; p++) {
        if (p >= a && (open || p <= b)) {
            if (!any)
                r->first = p;
            r->last = p;
            any = true;
        }
    }
    return any ? CF_RANGE_OK : CF_RANGE_UNSATISFIABLE;
}

/* The last n bytes: positions p with size - n <= p < size. */
static enum cf_range_result model_suffix(uint64_t n, uint64_t size, struct cf_range *r)
{
    bool any = false;

    for (uint64_t p = 0; p < size; p++) {
        if (p + n >= size) {
            if (!any)
                r->first = p;
            r->last = p;
            any = true;
        }
    }
    return any ? CF_RANGE_OK : CF_RANGE_UNSATISFIABLE;
}

static void expect_model(const char *h, uint64_t size, enum cf_range_result want,
                         const struct cf_range *m)
{
    struct cf_range r = {0, 0};
    enum cf_range_result got = cf_range_parse(h, size, &r);

    if (got != want)
        fail_msg("\"%s\" size %llu: result %d, model %d", h, (unsigned long long)size, (int)got,
                 (int)want);
    if (got == CF_RANGE_OK && (r.first != m->first || r.last != m->last))
        fail_msg("\"%s\" size %llu: [%llu, %llu], model [%llu, %llu]", h, (unsigned long long)size,
                 (unsigned long long)r.first, (unsigned long long)r.last,
                 (unsigned long long)m->first, (unsigned long long)m->last);
    if (got == CF_RANGE_OK)
        assert_true(r.first <= r.last && r.last < size);
}

static void test_small_domain(void **state)
{
    char h[64];

    (void)state;
    for (uint64_t size = 0; size <= 20; size++) {
        for (uint64_t a = 0; a <= 24; a++) {
            struct cf_range m = {0, 0};
            enum cf_range_result want;

            snprintf(h, sizeof(h), "bytes=%llu-", (unsigned long long)a);
            want = model_ab(a, 0, true, size, &m);
            expect_model(h, size, want, &m);

            snprintf(h, sizeof(h), "bytes=-%llu", (unsigned long long)a);
            want = model_suffix(a, size, &m);
            expect_model(h, size, want, &m);

            for (uint64_t b = 0; b <= 24; b++) {
                snprintf(h, sizeof(h), "bytes=%llu-%llu", (unsigned long long)a,
                         (unsigned long long)b);
                want = model_ab(a, b, false, size, &m);
                expect_model(h, size, want, &m);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_small_domain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
