/*
 * test_distrib.c -- the distributor's choice against a brute-force model,
 * and its data-center spread against a step-by-step model and a table;
 * the read order of an object's replicas.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
            f[i].dc = NULL;
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
    struct cf_distrib_filer f[4] = {{1, 5, true, false, NULL},
                                    {2, 5, true, false, NULL},
                                    {3, 5, true, false, NULL},
                                    {4, 5, true, false, NULL}};
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
    struct cf_distrib_filer f[4] = {{1, 1, true, false, NULL},
                                    {2, 9, true, true, NULL},
                                    {3, 3, true, false, NULL},
                                    {4, 2, false, false, NULL}};
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

/* ---- data centers ---- */

static bool is_cand(const struct cf_distrib_filer *f, const uint32_t *ex, size_t nex)
{
    for (size_t k = 0; k < nex; k++)
        if (f->id == ex[k])
            return false;
    return f->online && !f->read_only && f->weight > 0;
}

static bool dc_used(const char *dc, const char *const *used, size_t nused)
{
    for (size_t i = 0; i < nused; i++)
        if (strcmp(dc, used[i]) == 0)
            return true;
    return false;
}

/* The model, one pick at a time: while a candidate not yet chosen is in a
 * data center nothing covers, the pick is one of those, of the greatest
 * weight among them; otherwise of the greatest weight left. */
static void check_spread(const struct cf_distrib_filer *f, size_t n, size_t r, const uint32_t *ex,
                         size_t nex, const char *const *cov, size_t ncov, const size_t *out)
{
    const char *used[64];
    bool chosen[64] = {false};
    size_t nused = 0;

    for (size_t i = 0; i < ncov; i++)
        used[nused++] = cov[i];
    for (size_t i = 0; i < r; i++) {
        const struct cf_distrib_filer *c = &f[out[i]];
        uint32_t best_new = 0, best_any = 0;
        bool any_new = false;
        assert_true(out[i] < n);
        assert_false(chosen[out[i]]);
        assert_true(is_cand(c, ex, nex));
        for (size_t j = 0; j < n; j++) {
            if (chosen[j] || !is_cand(&f[j], ex, nex))
                continue;
            if (f[j].weight > best_any)
                best_any = f[j].weight;
            if (!dc_used(f[j].dc, used, nused)) {
                any_new = true;
                if (f[j].weight > best_new)
                    best_new = f[j].weight;
            }
        }
        if (any_new) {
            assert_false(dc_used(c->dc, used, nused));
            assert_int_equal(c->weight, best_new);
        } else {
            assert_int_equal(c->weight, best_any);
        }
        chosen[out[i]] = true;
        used[nused++] = c->dc;
    }
}

static void test_spread_random_against_model(void **state)
{
    static const char *const dcs[] = {"a", "b", "c", ""};
    uint64_t seed = 99;

    (void)state;
    for (int trial = 0; trial < 5000; trial++) {
        struct cf_distrib_filer f[16];
        uint32_t ex[3];
        const char *cov[3];
        size_t n = 1 + splitmix(&seed) % 16, r = 1 + splitmix(&seed) % 5, nex = splitmix(&seed) % 3;
        size_t ncov = splitmix(&seed) % 3, out[16], cands = 0;
        size_t ndc = 1 + splitmix(&seed) % 4;
        int rc;

        for (size_t i = 0; i < n; i++) {
            f[i].id = (uint32_t)(i + 1);
            f[i].weight = (uint32_t)(splitmix(&seed) % 4);
            f[i].online = splitmix(&seed) % 5 != 0;
            f[i].read_only = splitmix(&seed) % 6 == 0;
            f[i].dc = dcs[splitmix(&seed) % ndc];
        }
        for (size_t k = 0; k < nex; k++)
            ex[k] = (uint32_t)(1 + splitmix(&seed) % n);
        for (size_t k = 0; k < ncov; k++)
            cov[k] = dcs[splitmix(&seed) % ndc];
        for (size_t i = 0; i < n; i++)
            cands += is_cand(&f[i], ex, nex);
        rc = cf_distrib_choose_dc(f, n, r, ex, nex, cov, ncov, splitmix, &seed, out);
        if (cands < r) {
            assert_int_equal(rc, CF_EUNAVAIL);
            continue;
        }
        assert_int_equal(rc, (int)r);
        check_spread(f, n, r, ex, nex, cov, ncov, out);
    }
}

/* Distinct data centers among f[out[0..r)]. */
static size_t spread(const struct cf_distrib_filer *f, const size_t *out, size_t r)
{
    const char *seen[16];
    size_t k = 0;

    for (size_t i = 0; i < r; i++)
        if (!dc_used(f[out[i]].dc, seen, k))
            seen[k++] = f[out[i]].dc;
    return k;
}

static void test_spread_table(void **state)
{
#define F(id, w, on, ro, dc)                                                                       \
    {                                                                                              \
        id, w, on, ro, dc                                                                          \
    }
    /* 2 data centers x 3 filers, equal weights. */
    static const struct cf_distrib_filer two_by_three[] = {
        F(1, 5, true, false, "a"), F(2, 5, true, false, "a"), F(3, 5, true, false, "a"),
        F(4, 5, true, false, "b"), F(5, 5, true, false, "b"), F(6, 5, true, false, "b")};
    /* One data center. */
    static const struct cf_distrib_filer one[] = {
        F(1, 5, true, false, "a"), F(2, 7, true, false, "a"), F(3, 6, true, false, "a")};
    /* Unequal weights: a is heavier, b still gets a replica. */
    static const struct cf_distrib_filer unequal[] = {
        F(1, 90, true, false, "a"), F(2, 80, true, false, "a"), F(3, 10, true, false, "b"),
        F(4, 20, true, false, "b")};
    /* Every filer of b read-only or offline. */
    static const struct cf_distrib_filer b_down[] = {
        F(1, 5, true, false, "a"), F(2, 5, true, false, "a"), F(3, 9, true, true, "b"),
        F(4, 9, false, false, "b")};
    /* Three data centers, r above it. */
    static const struct cf_distrib_filer three[] = {
        F(1, 5, true, false, "a"), F(2, 5, true, false, "a"), F(3, 5, true, false, "b"),
        F(4, 5, true, false, "b"), F(5, 5, true, false, "c"), F(6, 1, true, false, "c")};
#undef F
    static const char *const cov_a[] = {"a"};
    static const struct {
        const struct cf_distrib_filer *f;
        size_t n, r;
        const char *const *cov;
        size_t ncov;
        int rc;
        size_t spread;        /* distinct data centers among the picks */
        uint32_t first;       /* id of the first pick, 0: any */
        const char *first_dc; /* data center of the first pick, NULL: any */
    } cases[] = {
        {two_by_three, 6, 2, NULL, 0, 2, 2, 0, NULL},
        {two_by_three, 6, 3, NULL, 0, 3, 2, 0, NULL},
        {two_by_three, 6, 6, NULL, 0, 6, 2, 0, NULL},
        {two_by_three, 6, 7, NULL, 0, CF_EUNAVAIL, 0, 0, NULL},
        {two_by_three, 6, 1, cov_a, 1, 1, 1, 0, "b"},
        {two_by_three, 6, 2, cov_a, 1, 2, 0, 0, "b"},
        {one, 3, 2, NULL, 0, 2, 1, 2, NULL},
        {one, 3, 1, cov_a, 1, 1, 1, 2, NULL},
        {unequal, 4, 1, NULL, 0, 1, 1, 1, NULL},
        {unequal, 4, 2, NULL, 0, 2, 2, 1, NULL},
        {unequal, 4, 3, NULL, 0, 3, 2, 1, NULL},
        {b_down, 4, 2, NULL, 0, 2, 1, 0, "a"},
        {b_down, 4, 3, NULL, 0, CF_EUNAVAIL, 0, 0, NULL},
        {three, 6, 2, NULL, 0, 2, 2, 0, NULL},
        {three, 6, 3, NULL, 0, 3, 3, 0, NULL},
        {three, 6, 5, NULL, 0, 5, 3, 0, NULL},
        {three, 6, 2, cov_a, 1, 2, 2, 0, NULL},
    };
    uint64_t seed = 5;

    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int rep = 0; rep < 50; rep++) {
            size_t out[16];
            int rc = cf_distrib_choose_dc(cases[c].f, cases[c].n, cases[c].r, NULL, 0, cases[c].cov,
                                          cases[c].ncov, splitmix, &seed, out);
            assert_int_equal(rc, cases[c].rc);
            if (rc < 0)
                continue;
            if (cases[c].spread != 0)
                assert_int_equal(spread(cases[c].f, out, cases[c].r), cases[c].spread);
            if (cases[c].first != 0)
                assert_int_equal(cases[c].f[out[0]].id, cases[c].first);
            if (cases[c].first_dc != NULL)
                assert_string_equal(cases[c].f[out[0]].dc, cases[c].first_dc);
            check_spread(cases[c].f, cases[c].n, cases[c].r, NULL, 0, cases[c].cov, cases[c].ncov,
                         out);
        }
    }
    /* The third replica on 2 x 3 with a in the lead: b's two are never
     * both skipped for a. */
    {
        uint32_t ex[] = {1, 2, 3};
        size_t out[3];
        assert_int_equal(
            cf_distrib_choose_dc(two_by_three, 6, 3, ex, 3, NULL, 0, splitmix, &seed, out), 3);
        assert_int_equal(spread(two_by_three, out, 3), 1);
    }
}

/* The summary-table form: a lost replica's target avoids the data center
 * of the replicas left. */
static void test_spread_on_filer_rows(void **state)
{
    struct cf_objdb_filer v[4];
    uint32_t holders[] = {1}, ex[] = {1, 3};
    size_t out[2];

    (void)state;
    memset(v, 0, sizeof(v));
    for (int i = 0; i < 4; i++) {
        v[i].id = (uint32_t)(i + 1);
        v[i].weight = i == 1 ? 100 : 10; /* filer 2 (a) is the heaviest */
        (void)snprintf(v[i].status, sizeof(v[i].status), "%s", CF_OBJDB_ONLINE);
        (void)snprintf(v[i].dc, sizeof(v[i].dc), "%s", i < 2 ? "a" : "b");
    }
    for (int rep = 0; rep < 50; rep++) {
        /* Replicas on 1 (a) and 3 (b); 3 is lost: 4 (b), not 2 (a). */
        assert_int_equal(cf_distrib_choose_spread(v, 4, 1, ex, 2, holders, 1, out), 1);
        assert_int_equal(v[out[0]].id, 4);
        /* Without the spread rule the heaviest wins. */
        assert_int_equal(cf_distrib_choose_filers(v, 4, 1, ex, 2, out), 1);
        assert_int_equal(v[out[0]].id, 2);
    }
}

/* ---- reads ---- */

static struct cf_distrib_replica rep(uint32_t rw, bool up, bool busy, bool bad)
{
    return (struct cf_distrib_replica){.read_weight = rw, .up = up, .busy = busy, .bad = bad};
}

/* Replicas of equal rank: each is read first about as often as the other,
 * with the given rng or the kernel's; the rest stay behind them. */
static void test_read_equal_rank_spreads(void **state)
{
    struct cf_distrib_replica r[4] = {rep(100, true, false, false), rep(0, true, false, false),
                                      rep(100, true, false, false), rep(100, false, false, false)};
    unsigned first[4] = {0}, os_first[4] = {0};
    uint64_t seed = 11;
    const unsigned trials = 4000;

    (void)state;
    for (unsigned t = 0; t < trials; t++) {
        size_t out[4];
        cf_distrib_read_order(r, 4, splitmix, &seed, out);
        first[out[0]]++;
        assert_true(out[1] == 0 || out[1] == 2);
        assert_int_equal(out[2], 1); /* read weight 0: after those that weigh */
        assert_int_equal(out[3], 3); /* down: after every filer that answers */
        cf_distrib_read_order(r, 4, NULL, NULL, out);
        os_first[out[0]]++;
    }
    /* Half each, within 5 standard deviations (sqrt(4000 / 4) ~ 32). */
    assert_in_range(first[0], trials / 2 - 160, trials / 2 + 160);
    assert_in_range(first[2], trials / 2 - 160, trials / 2 + 160);
    assert_in_range(os_first[0], trials / 2 - 160, trials / 2 + 160);
    assert_in_range(os_first[2], trials / 2 - 160, trials / 2 + 160);
    assert_int_equal(first[1] + first[3] + os_first[1] + os_first[3], 0);
}

static void test_read_rank_rules(void **state)
{
    /* Heavier first; a busy filer counts a quarter; weight 0 after any
     * weight; down after up whatever its weight; bad last whatever it is. */
    struct cf_distrib_replica r[7] = {
        rep(0, true, false, false),  rep(1000, true, false, true),  rep(50, true, false, false),
        rep(300, true, true, false), rep(900, false, false, false), rep(80, true, false, false),
        rep(2, true, true, false),
    };
    const size_t want[7] = {5, 3, 2, 6, 0, 4, 1};
    uint64_t seed = 3;
    size_t out[7];

    (void)state;
    for (int t = 0; t < 50; t++) {
        cf_distrib_read_order(r, 7, splitmix, &seed, out);
        for (size_t i = 0; i < 7; i++)
            assert_int_equal(out[i], want[i]);
    }
    /* A busy filer of weight 2 still weighs (1), above weight 0. */
    assert_true(cf_distrib_read_rank(&r[6]) > cf_distrib_read_rank(&r[0]));
    /* Edges: nothing to order; one replica. */
    cf_distrib_read_order(r, 0, NULL, NULL, out);
    cf_distrib_read_order(r, 1, NULL, NULL, out);
    assert_int_equal(out[0], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_fleets_against_model),
        cmocka_unit_test(test_equal_weights_are_uniform),
        cmocka_unit_test(test_heavier_first_and_edges),
        cmocka_unit_test(test_spread_random_against_model),
        cmocka_unit_test(test_spread_table),
        cmocka_unit_test(test_spread_on_filer_rows),
        cmocka_unit_test(test_read_equal_rank_spreads),
        cmocka_unit_test(test_read_rank_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
