/*
 * test_clockguard.c -- the retention clock (clockguard.h): the decision
 * against a table of clock readings, and a guard on a real SQLite catalog
 * whose wall clock is jumped through its test offset file: the jump is
 * found once, the guarded time goes on with the boot clock, a reopened
 * guard (a restart on the same boot) still refuses the jump, and a clock
 * back in line is accepted again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/clockguard.h"
#include "coffer/common.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"

#include "dbtest.h"

#define TOL  CF_CLOCKGUARD_TOLERANCE_MS
#define YEAR (365ull * 86400 * 1000)

static void test_decide(void **state)
{
    static const struct {
        uint64_t ref_wall, ref_boot, wall, boot, want;
        bool jumped;
    } cases[] = {
        {1000000, 50, 1000000, 50, 1000000, false},               /* no time passed */
        {1000000, 50, 1060000, 60050, 1060000, false},            /* in step */
        {1000000, 50, 1000000 + TOL, 50, 1000000 + TOL, false},   /* at the tolerance */
        {1000000, 50, 1000001 + TOL, 50, 1000000, true},          /* just past it */
        {1000000, 50, 1000000 + YEAR, 5050, 1005000, true},       /* a year ahead */
        {1000000, 50, 900000, 5050, 900000, false},               /* set back: accepted */
        {1000000, 5000, 1000000 + TOL + 10, 3000, 1000000, true}, /* boot clock behind */
    };
    bool jumped;

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        uint64_t got = cf_clockguard_decide(cases[i].ref_wall, cases[i].ref_boot, cases[i].wall,
                                            cases[i].boot, TOL, &jumped);
        if (got != cases[i].want || jumped != cases[i].jumped)
            fail_msg("case %zu: got %llu/%d, want %llu/%d", i, (unsigned long long)got, jumped,
                     (unsigned long long)cases[i].want, cases[i].jumped);
    }
}

static void write_offset(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_guard(void **state)
{
    char dir[64], uri[CF_DB_URI_MAX + 1], off[128], err[CF_ERR_LEN] = "", year[32];
    struct cf_clockguard *g = NULL;
    uint64_t t0, t;
    bool found;

    (void)state;
    (void)snprintf(dir, sizeof(dir), "/tmp/coffer-clock-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(cf_test_db_new(dir, "catalog", uri, sizeof(uri)), 0);
    (void)snprintf(off, sizeof(off), "%s/offset", dir);
    (void)snprintf(year, sizeof(year), "%llu", (unsigned long long)YEAR);

    /* NULL: the plain wall clock. */
    t = cf_wall_ms();
    assert_true(cf_clockguard_now(NULL, &found) >= t && !found);

    if (cf_clockguard_open(uri, "test", off, &g, err) != 0)
        fail_msg("open: %s", err);
    t0 = cf_clockguard_now(g, &found);
    assert_false(found);
    assert_true(t0 >= t && t0 < t + 60000);

    /* A year ahead: found once, and the time stays where it was. */
    write_offset(off, year);
    assert_true(cf_clockguard_wall_ms(g) >= t0 + YEAR);
    t = cf_clockguard_now(g, &found);
    assert_true(found);
    assert_true(t >= t0 && t < t0 + 60000);
    t = cf_clockguard_now(g, &found);
    assert_false(found); /* already reported */
    assert_true(t < t0 + 60000);

    /* A restart on the same boot: the saved pair still refuses it. */
    cf_clockguard_close(g);
    g = NULL;
    if (cf_clockguard_open(uri, "test", off, &g, err) != 0)
        fail_msg("reopen: %s", err);
    t = cf_clockguard_now(g, &found);
    assert_true(found);
    assert_true(t >= t0 && t < t0 + 60000);

    /* Back in line: accepted, and the next jump is found again. */
    write_offset(off, "0");
    t = cf_clockguard_now(g, &found);
    assert_false(found);
    assert_true(t >= t0 && t < t0 + 60000);
    write_offset(off, "-5000");
    t = cf_clockguard_now(g, &found);
    assert_false(found);
    assert_true(t + 5000 >= t0 && t < t0 + 60000); /* set back: accepted at once */
    write_offset(off, year);
    (void)cf_clockguard_now(g, &found);
    assert_true(found);

    cf_clockguard_close(g);
    cf_test_rm_tree(dir);
    cf_test_db_drop_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_guard),
    };

    cf_log_init("test_clockguard", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
