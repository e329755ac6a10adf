/*
 * test_lease.c -- named leases in the catalog (lease.h), on SQLite and on
 * PostgreSQL: one holder at a time, renewal, release, expiry and take-over
 * with a new epoch, a lost holder fenced off, and the renewal threads of
 * two handles handing the lease over when one closes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/common.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/lease.h"
#include "coffer/log.h"

#include "dbtest.h"

static char dir[64], uri[CF_DB_URI_MAX + 1];

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0)
        ;
}

static struct cf_lease *open_lease(const char *name, const char *label, uint64_t ttl)
{
    char err[CF_ERR_LEN] = "";
    struct cf_lease *l = NULL;

    if (cf_lease_open(uri, name, label, ttl, &l, err) != 0)
        fail_msg("open %s: %s", name, err);
    return l;
}

static int try_(struct cf_lease *l)
{
    char err[CF_ERR_LEN] = "";
    int rc = cf_lease_try(l, err);

    if (rc < 0)
        fail_msg("try: %s", err);
    return rc;
}

static void test_bad_args(void **state)
{
    struct cf_lease *l = NULL;

    (void)state;
    assert_int_equal(cf_lease_open(uri, "", "x", 0, &l, NULL), CF_EINVAL);
    assert_int_equal(cf_lease_open(uri, "a\"b", "x", 0, &l, NULL), CF_EINVAL);
    assert_int_equal(cf_lease_open(uri, "ok", "x", 100, &l, NULL), CF_EINVAL);
    assert_null(l);
}

static void test_one_holder(void **state)
{
    struct cf_lease *a = open_lease("duty1", "a", 5000), *b = open_lease("duty1", "b", 5000);
    struct cf_lease *other = open_lease("duty2", "b", 5000);
    char holder[CF_LEASE_HOLDER_MAX + 1], err[CF_ERR_LEN] = "";
    uint64_t exp = 0, epoch = 0;

    (void)state;
    assert_false(cf_lease_held(a));
    assert_int_equal(try_(a), 1);
    assert_true(cf_lease_held(a));
    assert_int_equal(try_(b), 0);
    assert_false(cf_lease_held(b));
    assert_int_equal(try_(a), 1); /* renewal */
    assert_int_equal(cf_lease_epoch(a), 1);
    assert_int_equal(try_(other), 1); /* another name is another lease */

    assert_int_equal(cf_lease_read(b, holder, sizeof(holder), &exp, &epoch, err), 0);
    assert_string_equal(holder, cf_lease_me(a));
    assert_true(strncmp(holder, "a ", 2) == 0);
    assert_int_equal(epoch, 1);
    assert_true(exp > cf_wall_ms() && exp <= cf_wall_ms() + 5000);

    /* Released: the other takes it at once, with a new epoch. */
    assert_int_equal(cf_lease_release(a, err), 0);
    assert_false(cf_lease_held(a));
    assert_int_equal(try_(b), 1);
    assert_int_equal(cf_lease_epoch(b), 2);
    assert_int_equal(try_(a), 0);

    cf_lease_close(a);
    cf_lease_close(b); /* releases */
    a = open_lease("duty1", "c", 5000);
    assert_int_equal(try_(a), 1);
    assert_int_equal(cf_lease_epoch(a), 3);
    cf_lease_close(a);
    cf_lease_close(other);
}

static void test_expiry(void **state)
{
    struct cf_lease *a = open_lease("duty3", "a", 500), *b = open_lease("duty3", "b", 500);

    (void)state;
    assert_int_equal(try_(a), 1);
    /* Held only until ttl - ttl/5 without a renewal. */
    sleep_ms(450);
    assert_false(cf_lease_held(a));
    /* The row expires at ttl: then the other takes it over. */
    sleep_ms(150);
    assert_int_equal(try_(b), 1);
    assert_int_equal(cf_lease_epoch(b), 2);
    /* The old holder cannot renew the new holder's lease. */
    assert_int_equal(try_(a), 0);
    assert_false(cf_lease_held(a));
    assert_true(cf_lease_held(b));
    cf_lease_close(a);
    cf_lease_close(b);
}

static void test_threads(void **state)
{
    struct cf_lease *a = open_lease("duty4", "a", 500), *b = open_lease("duty4", "b", 500);
    int i;

    (void)state;
    assert_int_equal(cf_lease_start(a), 0);
    assert_int_equal(cf_lease_start(a), CF_EINVAL);
    sleep_ms(200);
    assert_int_equal(cf_lease_start(b), 0);
    /* Held and renewed past several ttls, by one of them only. */
    for (i = 0; i < 12; i++) {
        sleep_ms(100);
        assert_true(cf_lease_held(a));
        assert_false(cf_lease_held(b));
    }
    /* Closing releases: the other's next renewal period takes it. */
    cf_lease_close(a);
    for (i = 0; i < 50 && !cf_lease_held(b); i++)
        sleep_ms(50);
    assert_true(cf_lease_held(b));
    cf_lease_close(b);
}

static int setup(void **state)
{
    (void)state;
    (void)snprintf(dir, sizeof(dir), "/tmp/coffer-lease-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    return cf_test_db_new(dir, "catalog", uri, sizeof(uri));
}

static int teardown(void **state)
{
    (void)state;
    cf_test_rm_tree(dir);
    cf_test_db_drop_all();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_one_holder),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_threads),
    };

    cf_log_init("test_lease", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, setup, teardown);
}
