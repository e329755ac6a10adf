/*
 * test_tracker.c -- the tracker's decision (status, read_only, weight) and
 * its weight rule, without a network: each case is a filer's sequence of
 * answers with the row the decision must write after each one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "coffer/err.h"
#include "coffer/objdb.h"
#include "coffer/tracker.h"

#define GB     UINT64_C(1000000000)
#define NOW_MS UINT64_C(1700000000000)

/* One poll: what the filer answered, and what must follow. */
struct step {
    enum { OK, DRAINING, SILENT } kind;
    double latency_ms;
    uint64_t used;  /* of 100 GB, when OK */
    bool read_only; /* the filer says so, when OK */
    const char *status;
    uint32_t weight; /* base 100 */
    const char *why; /* a substring of the reason */
};

struct scenario {
    const char *name;
    const char *start_status; /* the row's status when the tracker starts */
    struct step steps[8];
    size_t n;
};

/* opts: busy over 500 ms, offline after 2 silent polls, read-only from 95%
 * until under 90%. */
static const struct scenario scenarios[] = {
    {"online, weight by fullness",
     CF_OBJDB_UNKNOWN,
     {{OK, 10, 0, false, CF_OBJDB_ONLINE, 100, "answers in 10.0 ms"},
      {OK, 10, 15 * GB, false, CF_OBJDB_ONLINE, 90, "15.0% used"},
      {OK, 10, 55 * GB, false, CF_OBJDB_ONLINE, 50, NULL}},
     3},
    /* The EWMA (alpha 0.3) takes the first sample whole, then moves a
     * third of the way: 1000, then 703, then 495.1. */
    {"busy by latency, and back",
     CF_OBJDB_UNKNOWN,
     {{OK, 1000, 0, false, CF_OBJDB_BUSY, 25, "latency 1000 ms over 500 ms"},
      {OK, 10, 0, false, CF_OBJDB_BUSY, 25, "latency 703 ms"},
      {OK, 10, 0, false, CF_OBJDB_ONLINE, 50, NULL}},
     3},
    /* Over busy_ms / 4 (125 ms) the weight halves before the filer is busy. */
    {"slow but not busy",
     CF_OBJDB_ONLINE,
     {{OK, 200, 0, false, CF_OBJDB_ONLINE, 50, NULL},
      {OK, 100, 0, false, CF_OBJDB_ONLINE, 50, NULL}},
     2},
    {"draining",
     CF_OBJDB_ONLINE,
     {{DRAINING, 5, 0, false, CF_OBJDB_BUSY, 25, "answered 503"},
      {OK, 5, 0, false, CF_OBJDB_ONLINE, 100, NULL}},
     2},
    {"read-only by the filer",
     CF_OBJDB_ONLINE,
     {{OK, 5, 10 * GB, true, CF_OBJDB_READ_ONLY, 90, "reports read-only"},
      {OK, 5, 10 * GB, false, CF_OBJDB_ONLINE, 90, NULL}},
     2},
    {"full, with hysteresis",
     CF_OBJDB_ONLINE,
     {{OK, 5, 94 * GB, false, CF_OBJDB_ONLINE, 10, NULL},
      {OK, 5, 95 * GB, false, CF_OBJDB_READ_ONLY, 10, "high water 95%"},
      {OK, 5, 92 * GB, false, CF_OBJDB_READ_ONLY, 10, "writable below 90%"},
      {OK, 5, 89 * GB, false, CF_OBJDB_ONLINE, 20, NULL}},
     4},
    /* A tracker that starts on a row already read-only for fullness keeps
     * it until the low mark. */
    {"full across a restart",
     CF_OBJDB_READ_ONLY,
     {{OK, 5, 92 * GB, false, CF_OBJDB_READ_ONLY, 10, NULL},
      {OK, 5, 80 * GB, false, CF_OBJDB_ONLINE, 20, NULL}},
     2},
    /* One missed poll keeps the last status; offline_after (2) in a row do. */
    {"offline and back",
     CF_OBJDB_ONLINE,
     {{OK, 5, 0, false, CF_OBJDB_ONLINE, 100, NULL},
      {SILENT, 0, 0, false, CF_OBJDB_ONLINE, 100, NULL},
      {SILENT, 0, 0, false, CF_OBJDB_OFFLINE, 100, "no answer 2 polls in a row: refused"},
      {SILENT, 0, 0, false, CF_OBJDB_OFFLINE, 100, "no answer 3 polls"},
      {OK, 5, 0, false, CF_OBJDB_ONLINE, 100, NULL}},
     5},
    /* The operator's maintenance survives every answer, numbers aside. */
    {"maintenance",
     CF_OBJDB_MAINTENANCE,
     {{OK, 5, 50 * GB, false, CF_OBJDB_MAINTENANCE, 50, "in maintenance"},
      {SILENT, 0, 0, false, CF_OBJDB_MAINTENANCE, 50, NULL},
      {SILENT, 0, 0, false, CF_OBJDB_MAINTENANCE, 50, NULL},
      {OK, 5, 96 * GB, false, CF_OBJDB_MAINTENANCE, 10, NULL}},
     4},
};

static void test_scenarios(void **state)
{
    struct cf_tracker_opts o = {.busy_ms = 500, .offline_after = 2};
    char err[CF_ERR_LEN] = "";

    (void)state;
    assert_int_equal(cf_tracker_opts_fill(&o, err), 0);
    for (size_t i = 0; i < CF_ARRAY_LEN(scenarios); i++) {
        const struct scenario *sc = &scenarios[i];
        struct cf_tracker_state st = {0};
        struct cf_objdb_filer row = {.id = 7, .weight = 100, .base_weight = 100};

        (void)snprintf(row.status, sizeof(row.status), "%s", sc->start_status);
        row.read_only = !cf_objdb_status_writable(row.status);
        for (size_t k = 0; k < sc->n; k++) {
            const struct step *p = &sc->steps[k];
            struct cf_tracker_answer a = {.latency_ms = p->latency_ms};
            struct cf_objdb_filer next;
            char why[512];

            if (p->kind == OK) {
                a.ok = true;
                a.total = 100 * GB;
                a.used = p->used;
                a.read_only = p->read_only;
            } else if (p->kind == DRAINING) {
                a.draining = true;
            } else {
                (void)snprintf(a.err, sizeof(a.err), "refused");
            }
            cf_tracker_decide(&o, &st, &row, &a, NOW_MS + k, &next, why, sizeof(why));
            print_message("%s, poll %zu: %s (weight %u): %s\n", sc->name, k + 1, next.status,
                          (unsigned)next.weight, why);
            assert_string_equal(next.status, p->status);
            assert_int_equal(next.read_only, !cf_objdb_status_writable(p->status));
            assert_int_equal(next.weight, p->weight);
            if (p->why != NULL)
                assert_non_null(strstr(why, p->why));
            /* Numbers follow every good answer, even in maintenance. */
            if (p->kind == OK) {
                assert_int_equal(next.used_bytes, p->used);
                assert_int_equal(next.total_bytes, 100 * GB);
            }
            assert_int_equal(next.last_seen_ms, p->kind == SILENT ? row.last_seen_ms : NOW_MS + k);
            assert_int_equal(st.info.polls, k + 1);
            assert_int_equal(next.id, row.id);
            assert_int_equal(next.base_weight, row.base_weight);
            row = next;
        }
    }
}

/* The weight rule at its edges. */
static void test_weight_edges(void **state)
{
    static const struct {
        uint32_t base;
        double u, latency;
        bool busy;
        uint32_t want;
    } cases[] = {
        {0, 0.0, 1, false, 0}, /* no base weight: never chosen */
        {100, 0.0, 1, false, 100},  {100, 0.099, 1, false, 100},
        {100, 0.1, 1, false, 90},   {100, 0.95, 1, false, 10},
        {100, 1.0, 1, false, 10},                                /* at least one tenth free */
        {100, 7.0, 1, false, 10},   {100, 0.0, 125, false, 100}, /* busy_ms / 4 is not over */
        {100, 0.0, 126, false, 50}, {100, 0.0, 1, true, 25},
        {1, 0.99, 1, true, 1},      {UINT32_MAX, 0.0, 1, false, UINT32_MAX},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++)
        assert_int_equal(
            cf_tracker_weight(cases[i].base, cases[i].u, cases[i].latency, 500, cases[i].busy),
            cases[i].want);
}

/* Properties over a grid: never above the base, at least 1 with a base,
 * never heavier when fuller, slower or busy. */
static void test_weight_monotonic(void **state)
{
    static const uint32_t bases[] = {1, 3, 10, 100, 1000, 65535};

    (void)state;
    for (size_t b = 0; b < CF_ARRAY_LEN(bases); b++) {
        uint32_t prev_u = UINT32_MAX;
        for (int k = 0; k <= 120; k++) {
            double u = k / 100.0;
            uint32_t w = cf_tracker_weight(bases[b], u, 1, 500, false);
            uint32_t slow = cf_tracker_weight(bases[b], u, 400, 500, false);
            uint32_t busy = cf_tracker_weight(bases[b], u, 400, 500, true);
            assert_true(w >= 1 && w <= bases[b]);
            assert_true(w <= prev_u);
            assert_true(slow <= w && busy <= slow && busy >= 1);
            prev_u = w;
        }
    }
}

/* History rows: counter rises summed, a restart counted from 0, failed
 * polls counted, a row closed when a poll falls in the next period. */
static void test_history(void **state)
{
    struct cf_tracker_hist h;
    struct cf_objdb_history done;
    struct cf_tracker_answer a;

    (void)state;
    memset(&h, 0, sizeof(h));
    memset(&a, 0, sizeof(a));
    a.ok = true;
    a.bytes_in = 1000;
    a.bytes_out = 50;
    a.total = 10000;
    a.used = 10;
    a.latency_ms = 2.0;
    assert_false(cf_tracker_hist_add(&h, 7, &a, 60500, 60000, &done));
    a.bytes_in = 1600; /* +600 */
    a.used = 20;
    a.latency_ms = 4.0;
    assert_false(cf_tracker_hist_add(&h, 7, &a, 61000, 60000, &done));
    a.ok = false;
    assert_false(cf_tracker_hist_add(&h, 7, &a, 62000, 60000, &done));
    a.ok = true;
    a.bytes_in = 100; /* restarted: +100 */
    a.bytes_out = 10; /* restarted: +10 */
    a.io_errors = 2;
    a.latency_ms = 6.0;
    assert_false(cf_tracker_hist_add(&h, 7, &a, 119999, 60000, &done));
    a.bytes_in = 150;
    assert_true(cf_tracker_hist_add(&h, 7, &a, 120000, 60000, &done));
    assert_int_equal(done.filer, 7);
    assert_int_equal(done.start_ms, 60000);
    assert_int_equal(done.end_ms, 120000);
    assert_int_equal(done.bytes_in, 700);
    assert_int_equal(done.bytes_out, 10);
    assert_int_equal(done.io_errors, 2);
    assert_int_equal(done.polls, 4);
    assert_int_equal(done.failures, 1);
    assert_int_equal(done.used_bytes, 20);
    assert_int_equal(done.total_bytes, 10000);
    assert_int_equal(done.latency_us, 4000);
    /* The poll that closed it opened the next one. */
    assert_int_equal(h.row.start_ms, 120000);
    assert_int_equal(h.row.polls, 1);
    assert_int_equal(h.row.bytes_in, 50);
}

static void test_opts_fill(void **state)
{
    struct cf_tracker_opts o = {0};
    char err[CF_ERR_LEN] = "";

    (void)state;
    assert_int_equal(cf_tracker_opts_fill(&o, err), 0);
    assert_int_equal(o.poll_ms, CF_TRACKER_POLL_MS);
    assert_int_equal(o.offline_after, CF_TRACKER_OFFLINE_AFTER);
    assert_true(o.high_water == CF_TRACKER_HIGH_WATER && o.low_water == CF_TRACKER_LOW_WATER);
    o = (struct cf_tracker_opts){.high_water = 0.5, .low_water = 0.6};
    assert_int_equal(cf_tracker_opts_fill(&o, err), CF_EINVAL);
    assert_non_null(strstr(err, "low water"));
    o = (struct cf_tracker_opts){.high_water = 1.5};
    assert_int_equal(cf_tracker_opts_fill(&o, err), CF_EINVAL);
    assert_non_null(strstr(err, "high water"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),        cmocka_unit_test(test_weight_edges),
        cmocka_unit_test(test_weight_monotonic), cmocka_unit_test(test_opts_fill),
        cmocka_unit_test(test_history),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
