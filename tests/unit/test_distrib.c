/*
 * test_distrib.c -- the distributor's choice against a brute-force model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coffer/distrib.h"
#include "coffer/err.h"

static uint64_t splitmix(void *ctx)
{
    uint64_t *s = ctx, z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The model: a candidate is online, writable, weighted and not excluded;
 * the choice is r distinct candidates, and no unchosen candidate outweighs
 * a chosen one. */
static void check_choice(const struct cf_distrib_filer *f, size_t n, size_t r, const uint32_t *ex,
                         size_t nex, const size_t *out)
{
    bool chosen[64] = {false};
    uint32_t min_chosen = UINT32_MAX;

    for (size_t i = 0; i < r; i++) {
        const struct cf_distrib_filer *c = &f[out[i]];
        assert_true(out[i] < n);
        assert_false(chosen[out[i]]);
        chosen[out[i]] = true;
        assert_true(c->online);
        assert_false(c->read_only);
        assert_true(c->weight > 0);
        for (size_t k = 0; k < nex; k++)
            assert_true(c->id != ex[k]);
        if (c->weight < min_chosen)
            min_chosen = c->weight;
        /* heaviest first */
        if (i > 0)
            assert_true(f[out[i - 1]].weight >= c->weight);
    }
    for (size_t i = 0; i < n; i++) {
        bool excluded = false;
        for (size_t k = 0; k < nex; k++)
            excluded = excluded || f[i].id == ex[k];
        if (chosen[i] || excluded || !f[i].online || f[i].read_only || f[i].weight == 0)
            continue;
        assert_true(f[i].weight <= min_chosen);
    }
}

static void test_random_fleets_against_model(void **state)
{
    uint64_t seed = 42;

    (void)state;
    for (int trial = 0; trial < 2000; trial++) {
        struct cf_distrib_filer f[16];
        uint32_t ex[3];
        size_t n = 1 + splitmix(&seed) % 16, r = 1 + splitmix(&seed) % 4, nex = splitmix(&seed) % 3;
        size_t out[16], cands = 0;
        int rc;

        for (size_t i = 0; i < n; i++) {
            f[i].id = (uint32_t)(i + 1);
            f[i].weight = (uint32_t)(splitmix(&seed) % 4);
            f[i].online = splitmix(&seed) % 5 != 0;
            f[i].read_only = splitmix(&seed) % 6 == 0;
        }
        for (size_t k = 0; k < nex; k++)
            ex[k] = (uint32_t)(1 + splitmix(&seed) % n);
        for (size_t i = 0; i < n; i++) {
            bool excluded = false;
            for (size_t k = 0; k < nex; k++)
                excluded = excluded || f[i].id == ex[k];
            cands += f[i].online && !f[i].read_only && f[i].weight > 0 && !excluded;
        }
        rc = cf_distrib_choose(f, n, r, ex, nex, splitmix, &seed, out);
        if (cands < r) {
            assert_int_equal(rc, CF_EUNAVAIL);
            continue;
        }
        assert_int_equal(rc, (int)r);
        check_choice(f, n, r, ex, nex, out);
    }
}

static void test_equal_weights_are_uniform(void **state)
{
    struct cf_distrib_filer f[4] = {
        {1, 5, true, false}, {2, 5, true, false}, {3, 5, true, false}, {4, 5, true, false}};
    unsigned first[4] = {0}, pairs[4][4] = {{0}};
    uint64_t seed = 7;
    const unsigned trials = 40000;

    (void)state;
    for (unsigned t = 0; t < trials; t++) {
        size_t out[2];
        assert_int_equal(cf_distrib_choose(f, 4, 2, NULL, 0, splitmix, &seed, out), 2);
        first[out[0]]++;
        pairs[out[0]][out[1]]++;
    }
    /* Each filer first a quarter of the time, each ordered pair a twelfth:
     * bounds are 5 standard deviations wide. */
    for (int i = 0; i < 4; i++) {
        assert_in_range(first[i], trials / 4 - 450, trials / 4 + 450);
        for (int j = 0; j < 4; j++)
            if (i != j)
                assert_in_range(pairs[i][j], trials / 12 - 280, trials / 12 + 280);
            else
                assert_int_equal(pairs[i][j], 0);
    }
}

static void test_heavier_first_and_edges(void **state)
{
    struct cf_distrib_filer f[4] = {
        {1, 1, true, false}, {2, 9, true, true}, {3, 3, true, false}, {4, 2, false, false}};
    uint64_t seed = 1;
    size_t out[4];

    (void)state;
    assert_int_equal(cf_distrib_choose(f, 4, 1, NULL, 0, splitmix, &seed, out), 1);
    assert_int_equal(out[0], 2); /* 9 is read-only, 2 is offline: 3 wins */
    assert_int_equal(cf_distrib_choose(f, 4, 2, NULL, 0, splitmix, &seed, out), 2);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 0);
    assert_int_equal(cf_distrib_choose(f, 4, 3, NULL, 0, splitmix, &seed, out), CF_EUNAVAIL);
    assert_int_equal(cf_distrib_choose(f, 4, 0, NULL, 0, splitmix, &seed, out), CF_EINVAL);
    assert_int_equal(cf_distrib_choose(f, 0, 1, NULL, 0, splitmix, &seed, out), CF_EUNAVAIL);
    assert_int_equal(cf_distrib_writable(f, 4), 2);
    {
        uint32_t ex[] = {3};
        assert_int_equal(cf_distrib_choose(f, 4, 1, ex, 1, cf_distrib_rng_os, NULL, out), 1);
        assert_int_equal(out[0], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_fleets_against_model),
        cmocka_unit_test(test_equal_weights_are_uniform),
        cmocka_unit_test(test_heavier_first_and_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
