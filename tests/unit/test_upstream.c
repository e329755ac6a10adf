/*
 * test_upstream.c -- unit tests for upstream.h: the comma list parsed and
 * refused, the order healthy first and in turn, a failed instance tried
 * last until its hold is over, the statuses that move on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/upstream.h"

static void test_parse(void **state)
{
    struct cf_upstream *u = NULL;
    char err[CF_ERR_LEN];

    (void)state;
    assert_int_equal(cf_upstream_parse("http://a:1", &u, err), 0);
    assert_int_equal(cf_upstream_count(u), 1);
    assert_string_equal(cf_upstream_url(u, 0), "http://a:1");
    cf_upstream_free(u);

    assert_int_equal(cf_upstream_parse(" http://a:1/ ,https://b:2", &u, err), 0);
    assert_int_equal(cf_upstream_count(u), 2);
    assert_string_equal(cf_upstream_url(u, 0), "http://a:1");
    assert_string_equal(cf_upstream_url(u, 1), "https://b:2");
    cf_upstream_free(u);

    static const char *const bad[] = {
        "", ",", "http://a:1,", "ftp://a", "a:1", "http://a:1,,http://b:2", " , http://a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        u = (struct cf_upstream *)&err; /* must be reset */
        err[0] = '\0';
        assert_int_equal(cf_upstream_parse(bad[i], &u, err), CF_EINVAL);
        assert_null(u);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(cf_upstream_parse(NULL, &u, err), CF_EINVAL);

    char many[40 * (CF_UPSTREAM_MAX + 1)] = "";
    size_t len = 0;
    for (int i = 0; i <= CF_UPSTREAM_MAX; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%shttp://h:1", i ? "," : "");
    assert_int_equal(cf_upstream_parse(many, &u, err), CF_EINVAL);
    cf_upstream_free(NULL);
}

static void test_order(void **state)
{
    struct cf_upstream *u = NULL;
    size_t idx[CF_UPSTREAM_MAX], seen[3] = {0};

    (void)state;
    assert_int_equal(cf_upstream_parse("http://a,http://b,http://c", &u, NULL), 0);
    /* In turn: each instance comes first once in three calls, every order
     * holds each instance once. */
    for (int k = 0; k < 3; k++) {
        assert_int_equal(cf_upstream_order(u, idx), 3);
        seen[idx[0]]++;
        assert_int_equal(idx[0] + idx[1] + idx[2], 3);
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 1);

    /* A failed one comes last, the older failure before the newer. */
    cf_upstream_failed(u, 1);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(cf_upstream_order(u, idx), 3);
        assert_int_equal(idx[2], 1);
    }
    cf_upstream_failed(u, 0);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(cf_upstream_order(u, idx), 3);
        assert_int_equal(idx[0], 2);
        assert_int_equal(idx[1], 1);
        assert_int_equal(idx[2], 0);
    }
    /* An answer forgets the failure. */
    cf_upstream_ok(u, 1);
    cf_upstream_ok(u, 0);
    memset(seen, 0, sizeof(seen));
    for (int k = 0; k < 3; k++) {
        assert_int_equal(cf_upstream_order(u, idx), 3);
        seen[idx[0]]++;
    }
    assert_int_equal(seen[0] + seen[1] + seen[2], 3);
    assert_int_equal(seen[0], 1);
    cf_upstream_free(u);
}

static void test_statuses(void **state)
{
    (void)state;
    assert_true(cf_upstream_retry_status(502));
    assert_true(cf_upstream_retry_status(503));
    assert_true(cf_upstream_retry_status(504));
    assert_false(cf_upstream_retry_status(500));
    assert_false(cf_upstream_retry_status(404));
    assert_false(cf_upstream_retry_status(200));
    assert_false(cf_upstream_retry_status(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_statuses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
