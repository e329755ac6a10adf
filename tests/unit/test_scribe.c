/*
 * test_scribe.c -- the event log (scribe.h) on a real database: SQLite in a
 * temporary directory, or PostgreSQL under scripts/pg-test.sh (dbtest.h).
 *
 * Covers: append and read back every field; queries by time, kind, filer
 * and their combination, checked against a reference model (the array of
 * what was appended); paging with after_id and limit; the log survives
 * close and reopen, and ids go on increasing; a bad kind or object is
 * refused and writes nothing; a long message is cut at the cap on a UTF-8
 * boundary; control characters and invalid UTF-8 are cleaned; concurrent
 * appends from threads all land, with distinct ids; trim by time; prune
 * in bounded batches by count and by age, keeping the newest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/common.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/scribe.h"

#include "dbtest.h"

#define THREADS    4
#define PER_THREAD 40
#define MODEL_MAX  256

struct fixture {
    char dir[64];
    char uri[CF_DB_URI_MAX + 1];
    struct cf_scribe *s;
};

/* What was appended, in order: the reference model. */
struct model_event {
    const char *kind;
    uint32_t filer;
    char message[64];
    uint64_t id;
};

static void open_scribe(struct fixture *fx)
{
    char err[CF_ERR_LEN] = "";

    if (cf_scribe_open(fx->uri, 4, &fx->s, err) != 0)
        fail_msg("open %s: %s", fx->uri, err);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/coffer-scribe-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    if (cf_test_db_new(fx->dir, "catalog", fx->uri, sizeof(fx->uri)) != 0)
        return -1;
    open_scribe(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    cf_scribe_close(fx->s);
    cf_test_rm_tree(fx->dir);
    cf_test_db_drop_all();
    free(fx);
    return 0;
}

static struct cf_scribe_event *query(struct fixture *fx, const struct cf_scribe_query *q, size_t *n)
{
    struct cf_scribe_event *ev = NULL;
    char err[CF_ERR_LEN] = "";

    if (cf_scribe_query(fx->s, q, &ev, n, err) != 0)
        fail_msg("query: %s", err);
    return ev;
}

/* Append m[0..n) (ids filled in from a read-back). */
static void append_model(struct fixture *fx, struct model_event *m, size_t n)
{
    struct cf_scribe_query q = {.limit = CF_SCRIBE_QUERY_MAX};
    struct cf_scribe_event *ev;
    size_t got = 0, before;

    ev = query(fx, &q, &before);
    free(ev);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cf_scribe_event(fx->s, m[i].kind, m[i].filer, NULL, "%s", m[i].message),
                         0);
    ev = query(fx, &q, &got);
    assert_int_equal(got, before + n);
    for (size_t i = 0; i < n; i++) {
        m[i].id = ev[before + i].id;
        assert_string_equal(ev[before + i].message, m[i].message);
    }
    free(ev);
}

/* Events matching (kind, filer, after) in the model, in order, equal the query's. */
static void check_against_model(struct fixture *fx, const struct model_event *m, size_t n,
                                const char *kind, uint32_t filer, uint64_t after, size_t limit)
{
    struct cf_scribe_query q = {.kind = kind, .filer = filer, .after_id = after, .limit = limit};
    struct cf_scribe_event *ev;
    size_t got = 0, want = 0;

    ev = query(fx, &q, &got);
    for (size_t i = 0; i < n && want < (limit ? limit : 100); i++) {
        if ((kind != NULL && strcmp(kind, m[i].kind) != 0) || (filer != 0 && filer != m[i].filer) ||
            m[i].id <= after)
            continue;
        assert_true(want < got);
        assert_int_equal(ev[want].id, m[i].id);
        assert_string_equal(ev[want].kind, m[i].kind);
        assert_int_equal(ev[want].filer, m[i].filer);
        assert_string_equal(ev[want].message, m[i].message);
        want++;
    }
    assert_int_equal(got, want);
    free(ev);
}

static void test_append_and_read(void **state)
{
    struct fixture *fx = *state;
    struct cf_scribe_query q = {0};
    struct cf_scribe_event *ev;
    uint64_t t0 = cf_wall_ms(), t1;
    size_t n = 0;

    assert_int_equal(cf_scribe_event(fx->s, CF_SCRIBE_CHECKSUM, 3,
                                     "0001-00000000000000aa-0123456789abcdef", "replica %d bad", 7),
                     0);
    assert_int_equal(cf_scribe_event(fx->s, "custom-kind_1.x", 0, NULL, "plain"), 0);
    t1 = cf_wall_ms();
    ev = query(fx, &q, &n);
    assert_int_equal(n, 2);
    assert_true(ev[0].id >= 1 && ev[1].id > ev[0].id);
    assert_true(ev[0].at_ms >= t0 && ev[1].at_ms <= t1);
    assert_string_equal(ev[0].kind, CF_SCRIBE_CHECKSUM);
    assert_int_equal(ev[0].filer, 3);
    assert_string_equal(ev[0].object, "0001-00000000000000aa-0123456789abcdef");
    assert_string_equal(ev[0].message, "replica 7 bad");
    assert_string_equal(ev[1].kind, "custom-kind_1.x");
    assert_int_equal(ev[1].filer, 0);
    assert_string_equal(ev[1].object, "");
    free(ev);
    /* A NULL scribe takes events and does nothing. */
    assert_int_equal(cf_scribe_event(NULL, "job", 0, NULL, "nothing"), 0);
}

static void test_filters_and_paging(void **state)
{
    static const char *const kinds[] = {CF_SCRIBE_FILER_STATUS, CF_SCRIBE_REPAIR, CF_SCRIBE_JOB};
    struct fixture *fx = *state;
    struct model_event m[60];
    size_t n = CF_ARRAY_LEN(m);
    uint64_t after = 0;
    size_t seen = 0;

    for (size_t i = 0; i < n; i++) {
        m[i].kind = kinds[(i * 7) % 3];
        m[i].filer = (uint32_t)(i % 4); /* 0: none */
        (void)snprintf(m[i].message, sizeof(m[i].message), "event %zu", i);
    }
    append_model(fx, m, n);
    check_against_model(fx, m, n, NULL, 0, 0, 0);
    for (size_t k = 0; k < CF_ARRAY_LEN(kinds); k++) {
        check_against_model(fx, m, n, kinds[k], 0, 0, 0);
        for (uint32_t f = 1; f < 4; f++)
            check_against_model(fx, m, n, kinds[k], f, 0, 0);
    }
    check_against_model(fx, m, n, NULL, 2, 0, 0);
    check_against_model(fx, m, n, NULL, 0, m[10].id, 5);
    check_against_model(fx, m, n, "no-such-kind", 0, 0, 0);
    /* Paging by 7 sees every event once, in order. */
    for (;;) {
        struct cf_scribe_query q = {.after_id = after, .limit = 7};
        struct cf_scribe_event *ev;
        size_t got = 0;
        ev = query(fx, &q, &got);
        for (size_t i = 0; i < got; i++)
            assert_int_equal(ev[i].id, m[seen + i].id);
        seen += got;
        if (got > 0)
            after = ev[got - 1].id;
        free(ev);
        if (got < 7)
            break;
    }
    assert_int_equal(seen, n);
}

static void test_time_range(void **state)
{
    struct fixture *fx = *state;
    struct cf_scribe_query q = {0};
    struct cf_scribe_event *ev;
    uint64_t a_end, mid;
    size_t n = 0;

    for (int i = 0; i < 3; i++)
        assert_int_equal(cf_scribe_event(fx->s, "job", 0, NULL, "a%d", i), 0);
    a_end = cf_wall_ms();
    /* A clock condition, not a sleep: the next millisecond separates the sets. */
    while (cf_wall_ms() <= a_end)
        ;
    mid = cf_wall_ms();
    for (int i = 0; i < 2; i++)
        assert_int_equal(cf_scribe_event(fx->s, "job", 0, NULL, "b%d", i), 0);
    q.since_ms = mid;
    ev = query(fx, &q, &n);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "b0");
    assert_string_equal(ev[1].message, "b1");
    free(ev);
    q.since_ms = 0;
    q.until_ms = mid - 1;
    ev = query(fx, &q, &n);
    assert_int_equal(n, 3);
    assert_string_equal(ev[2].message, "a2");
    free(ev);
    q.since_ms = mid;
    q.until_ms = mid - 1;
    ev = query(fx, &q, &n);
    assert_int_equal(n, 0);
    assert_null(ev);
    /* Trim: what is older than mid goes, the rest stays. */
    assert_int_equal(cf_scribe_trim(fx->s, mid, NULL), 3);
    memset(&q, 0, sizeof(q));
    ev = query(fx, &q, &n);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "b0");
    free(ev);
}

static void test_survives_reopen(void **state)
{
    struct fixture *fx = *state;
    struct cf_scribe_query q = {0};
    struct cf_scribe_event *ev;
    uint64_t last;
    size_t n = 0;

    assert_int_equal(cf_scribe_event(fx->s, CF_SCRIBE_FILER_STATUS, 2, NULL, "online -> offline"),
                     0);
    assert_int_equal(cf_scribe_event(fx->s, CF_SCRIBE_FILER_STATUS, 2, NULL, "offline -> online"),
                     0);
    cf_scribe_close(fx->s);
    fx->s = NULL;
    open_scribe(fx);
    ev = query(fx, &q, &n);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "online -> offline");
    last = ev[1].id;
    free(ev);
    assert_int_equal(cf_scribe_event(fx->s, "job", 0, NULL, "after reopen"), 0);
    q.after_id = last;
    ev = query(fx, &q, &n);
    assert_int_equal(n, 1);
    assert_true(ev[0].id > last);
    free(ev);
}

static void test_refused_and_cleaned(void **state)
{
    static const char *const bad_kinds[] = {
        "", "Upper", "has space", "semi;colon", "é", "0123456789012345678901234567890123"};
    struct fixture *fx = *state;
    struct cf_scribe_query q = {0};
    struct cf_scribe_event *ev;
    char *big = malloc(CF_SCRIBE_MSG_MAX + 100), obj[64];
    size_t n = 0;

    assert_non_null(big);
    for (size_t i = 0; i < CF_ARRAY_LEN(bad_kinds); i++)
        assert_int_equal(cf_scribe_event(fx->s, bad_kinds[i], 0, NULL, "x"), CF_EINVAL);
    memset(obj, 'u', sizeof(obj) - 1);
    obj[sizeof(obj) - 1] = '\0';
    assert_int_equal(cf_scribe_event(fx->s, "job", 0, obj, "x"), CF_EINVAL);
    ev = query(fx, &q, &n);
    assert_int_equal(n, 0);
    free(ev);
    /* Query arguments are checked too. */
    q.limit = CF_SCRIBE_QUERY_MAX + 1;
    assert_int_equal(cf_scribe_query(fx->s, &q, &ev, &n, NULL), CF_EINVAL);
    q.limit = 0;
    q.kind = "Bad Kind";
    assert_int_equal(cf_scribe_query(fx->s, &q, &ev, &n, NULL), CF_EINVAL);
    q.kind = NULL;

    /* Over the cap: cut to CF_SCRIBE_MSG_MAX bytes, here just before a
     * two-byte character that would straddle the cap. */
    memset(big, 'm', CF_SCRIBE_MSG_MAX + 99);
    big[CF_SCRIBE_MSG_MAX - 1] = (char)0xc3;
    big[CF_SCRIBE_MSG_MAX] = (char)0xa9;
    big[CF_SCRIBE_MSG_MAX + 99] = '\0';
    assert_int_equal(cf_scribe_event(fx->s, "job", 0, NULL, "%s", big), 0);
    /* Control characters become spaces, invalid UTF-8 '?', valid UTF-8 stays. */
    assert_int_equal(cf_scribe_event(fx->s, "job", 0, NULL, "a\nb\tc\x01 \xff\xfe caf\xc3\xa9"), 0);
    ev = query(fx, &q, &n);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(ev[0].message), CF_SCRIBE_MSG_MAX - 1);
    assert_int_equal(ev[0].message[CF_SCRIBE_MSG_MAX - 2], 'm');
    assert_string_equal(ev[1].message, "a b c  ?? caf\xc3\xa9");
    free(ev);
    /* Exactly the cap is kept whole. */
    memset(big, 'k', CF_SCRIBE_MSG_MAX);
    big[CF_SCRIBE_MSG_MAX] = '\0';
    assert_int_equal(cf_scribe_event(fx->s, "job", 0, NULL, "%s", big), 0);
    q.after_id = 2;
    ev = query(fx, &q, &n);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].message, big);
    free(ev);
    free(big);
}

struct worker {
    struct cf_scribe *s;
    int no;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < PER_THREAD; i++)
        if (cf_scribe_event(w->s, "job", (uint32_t)(w->no + 1), NULL, "t%d-%d", w->no, i) != 0)
            w->failures++;
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    struct fixture *fx = *state;
    struct cf_scribe_query q = {.limit = CF_SCRIBE_QUERY_MAX};
    struct cf_scribe_event *ev;
    struct worker w[THREADS];
    pthread_t th[THREADS];
    int next[THREADS] = {0};
    size_t n = 0;

    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){fx->s, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    ev = query(fx, &q, &n);
    assert_int_equal(n, THREADS * PER_THREAD);
    for (size_t i = 0; i < n; i++) {
        int t = -1, k = -1;
        /* Distinct, increasing ids; each thread's events in its own order. */
        if (i > 0)
            assert_true(ev[i].id > ev[i - 1].id);
        assert_int_equal(sscanf(ev[i].message, "t%d-%d", &t, &k), 2);
        assert_true(t >= 0 && t < THREADS);
        assert_int_equal(k, next[t]);
        assert_int_equal(ev[i].filer, (uint32_t)(t + 1));
        next[t]++;
    }
    free(ev);
}

/* Prune: the newest max_rows stay, at most batch go per call, the oldest
 * first; then by age everything before a time; nothing due, nothing done. */
static void test_prune(void **state)
{
    struct fixture *fx = *state;
    struct cf_scribe_query q = {.limit = 100};
    struct cf_scribe_event *ev;
    static const int64_t want[] = {4, 4, 4, 3, 0};
    char err[CF_ERR_LEN] = "";
    uint64_t last;
    size_t n = 0;

    assert_int_equal(cf_scribe_prune(fx->s, 0, 10, 4, err), 0); /* empty */
    for (int i = 0; i < 25; i++)
        assert_int_equal(cf_scribe_event(fx->s, "test", 0, NULL, "e%d", i), 0);
    for (size_t i = 0; i < CF_ARRAY_LEN(want); i++)
        assert_int_equal(cf_scribe_prune(fx->s, 0, 10, 4, err), want[i]);
    assert_int_equal(cf_scribe_query(fx->s, &q, &ev, &n, err), 0);
    assert_int_equal(n, 10);
    assert_string_equal(ev[0].message, "e15");
    assert_string_equal(ev[9].message, "e24");
    free(ev);
    /* Within both bounds: nothing goes. */
    assert_int_equal(cf_scribe_prune(fx->s, 1, 10, 100, err), 0);
    assert_int_equal(cf_scribe_prune(fx->s, 0, 0, 100, err), 0);
    /* By age: everything written before now + 1 s but the newest, which
     * keeps the ids going up. */
    assert_int_equal(cf_scribe_prune(fx->s, cf_wall_ms() + 1000, 0, 6, err), 6);
    assert_int_equal(cf_scribe_prune(fx->s, cf_wall_ms() + 1000, 0, 6, err), 3);
    assert_int_equal(cf_scribe_prune(fx->s, cf_wall_ms() + 1000, 0, 6, err), 0);
    assert_int_equal(cf_scribe_query(fx->s, &q, &ev, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].message, "e24");
    last = ev[0].id;
    free(ev);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cf_scribe_event(fx->s, "test", 0, NULL, "f%d", i), 0);
    assert_int_equal(cf_scribe_prune(fx->s, 0, 2, 100, err), 2);
    assert_int_equal(cf_scribe_query(fx->s, &q, &ev, &n, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "f1");
    assert_true(ev[0].id > last);
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters_and_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_cleaned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
    };

    cf_log_init("test_scribe", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
