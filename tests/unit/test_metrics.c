/*
 * test_metrics.c -- unit tests for metrics.h: counter, gauge and histogram
 * semantics (histogram buckets cumulative, _count equal to the +Inf bucket,
 * _sum), one metric per name and labels, the dummy for misuse (kind clash,
 * bad names, labels and bounds), the text format (HELP and TYPE once per
 * family, families sorted, every sample line `name[{labels}] value`),
 * exact sums from 4 threads at once, and the render cap.
 *
 * The registry is process-wide and never shrinks, so each test uses its own
 * family names and looks for its own lines in the full text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/buf.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/metrics.h"

/* The whole text now; caller frees. */
static char *render(void)
{
    struct cf_buf b;
    char *text;

    cf_buf_init(&b, 1 << 20);
    assert_int_equal(cf_metrics_render(&b), 0);
    text = cf_buf_take(&b, NULL);
    assert_non_null(text);
    return text;
}

/* The value on the sample line that starts with exactly `key ` (name and
 * labels as rendered); fails the test if there is no such line. */
static double sample(const char *text, const char *key)
{
    size_t n = strlen(key);

    for (const char *p = text; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, key, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    fail_msg("no sample line \"%s\"", key);
    return 0;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return false;
}

static void test_counter(void **state)
{
    struct cf_metric *a, *b, *c;
    char *text;

    (void)state;
    a = cf_metric_counter("coffer_t_counter_total", "A test counter.", "k=\"a\"");
    b = cf_metric_counter("coffer_t_counter_total", "ignored", "k=\"b\"");
    c = cf_metric_counter("coffer_t_counter_total", NULL, "k=\"a\"");
    assert_ptr_equal(a, c);
    assert_ptr_not_equal(a, b);
    text = render();
    assert_true(sample(text, "coffer_t_counter_total{k=\"a\"}") == 0);
    free(text);
    cf_metric_add(a, 3);
    cf_metric_add(c, 4);
    cf_metric_add(b, UINT64_C(1) << 40);
    /* Updates of another kind do nothing on a counter. */
    cf_metric_set(a, 100);
    cf_metric_gauge_add(a, 100);
    cf_metric_observe(a, 1.0);
    text = render();
    assert_true(has_line(text, "coffer_t_counter_total{k=\"a\"} 7"));
    assert_true(has_line(text, "coffer_t_counter_total{k=\"b\"} 1099511627776"));
    assert_true(has_line(text, "# HELP coffer_t_counter_total A test counter."));
    assert_true(has_line(text, "# TYPE coffer_t_counter_total counter"));
    free(text);
}

static void test_gauge(void **state)
{
    struct cf_metric *g = cf_metric_gauge("coffer_t_gauge", "A gauge.", NULL);
    struct cf_metric *g2 = cf_metric_gauge("coffer_t_gauge", "A gauge.", "");
    char *text;

    (void)state;
    assert_ptr_equal(g, g2); /* NULL and "" are both "no labels" */
    cf_metric_set(g, 10);
    cf_metric_gauge_add(g, -25);
    cf_metric_add(g, 1000); /* a counter's update: ignored */
    text = render();
    assert_true(has_line(text, "coffer_t_gauge -15"));
    assert_true(has_line(text, "# TYPE coffer_t_gauge gauge"));
    free(text);
    cf_metric_set(g, INT64_MIN);
    text = render();
    assert_true(has_line(text, "coffer_t_gauge -9223372036854775808"));
    free(text);
}

/* Buckets against a reference: for each bound, the observations <= it. */
static void test_histogram(void **state)
{
    static const double bounds[] = {0.5, 1, 2.5};
    static const double obs[] = {0.1, 0.5, 0.5000001, 1, 2, 3, 100, -1};
    struct cf_metric *h = cf_metric_histogram("coffer_t_hist", "A histogram.", "r=\"x\"", bounds,
                                              CF_ARRAY_LEN(bounds));
    /* Later look-ups ignore their bounds. */
    struct cf_metric *h2 = cf_metric_histogram("coffer_t_hist", "", "r=\"x\"", NULL, 0);
    char *text, key[128];
    double sum = 0;

    (void)state;
    assert_ptr_equal(h, h2);
    for (size_t i = 0; i < CF_ARRAY_LEN(obs); i++) {
        cf_metric_observe(h, obs[i]);
        sum += obs[i];
    }
    cf_metric_observe(h, NAN); /* dropped */
    cf_metric_add(h, 5);       /* another kind's update: ignored */
    text = render();
    for (size_t b = 0; b < CF_ARRAY_LEN(bounds); b++) {
        unsigned want = 0;
        for (size_t i = 0; i < CF_ARRAY_LEN(obs); i++)
            want += obs[i] <= bounds[b];
        (void)snprintf(key, sizeof(key), "coffer_t_hist_bucket{r=\"x\",le=\"%g\"}", bounds[b]);
        assert_int_equal((unsigned)sample(text, key), want);
    }
    assert_true(has_line(text, "coffer_t_hist_bucket{r=\"x\",le=\"+Inf\"} 8"));
    assert_true(has_line(text, "coffer_t_hist_count{r=\"x\"} 8"));
    assert_true(fabs(sample(text, "coffer_t_hist_sum{r=\"x\"}") - sum) < 1e-9);
    assert_true(has_line(text, "# TYPE coffer_t_hist histogram"));
    free(text);

    /* The default bounds, no labels: 0.0005 .. 30 and +Inf. */
    h = cf_metric_histogram("coffer_t_hist_default", "Default bounds.", NULL, NULL, 0);
    cf_metric_observe(h, 0.0005);
    cf_metric_observe(h, 31);
    text = render();
    assert_true(has_line(text, "coffer_t_hist_default_bucket{le=\"0.0005\"} 1"));
    assert_true(has_line(text, "coffer_t_hist_default_bucket{le=\"30\"} 1"));
    assert_true(has_line(text, "coffer_t_hist_default_bucket{le=\"+Inf\"} 2"));
    assert_true(has_line(text, "coffer_t_hist_default_sum 31.0005"));
    assert_true(has_line(text, "coffer_t_hist_default_count 2"));
    assert_int_equal(CF_METRICS_LATENCY_NBOUNDS, 15);
    assert_true(CF_METRICS_LATENCY_BOUNDS[0] == 0.0005);
    assert_true(CF_METRICS_LATENCY_BOUNDS[CF_METRICS_LATENCY_NBOUNDS - 1] == 30);
    free(text);
}

/* Misuse gives the dummy: updates go nowhere and nothing is rendered. */
static void test_misuse(void **state)
{
    static const double descending[] = {2, 1};
    static const double inf[] = {1, INFINITY};
    double many[33];
    struct cf_metric *c = cf_metric_counter("coffer_t_clash", "A counter.", NULL);
    struct cf_metric *d[8];
    char *text;

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(many); i++)
        many[i] = (double)i;
    d[0] = cf_metric_gauge("coffer_t_clash", "Now a gauge.", NULL);
    d[1] = cf_metric_histogram("coffer_t_clash", "Now a histogram.", "x=\"1\"", NULL, 0);
    d[2] = cf_metric_counter("9coffer_t_bad", "", NULL);
    d[3] = cf_metric_counter("coffer-t-bad", "", NULL);
    d[4] = cf_metric_counter("coffer_t_badlabel", "", "a=\"1\"\nb=\"2\"");
    d[5] = cf_metric_histogram("coffer_t_badbounds", "", NULL, descending, 2);
    d[6] = cf_metric_histogram("coffer_t_badbounds", "", NULL, inf, 2);
    d[7] = cf_metric_histogram("coffer_t_badbounds", "", NULL, many, 33);
    for (size_t i = 0; i < CF_ARRAY_LEN(d); i++) {
        assert_non_null(d[i]);
        assert_ptr_not_equal(d[i], c);
        assert_ptr_equal(d[i], d[0]); /* one shared dummy */
        cf_metric_add(d[i], 1);
        cf_metric_set(d[i], 1);
        cf_metric_gauge_add(d[i], 1);
        cf_metric_observe(d[i], 1);
    }
    /* 32 bounds is the most allowed. */
    assert_ptr_not_equal(cf_metric_histogram("coffer_t_bounds32", "", NULL, many, 32), d[0]);
    /* Colons and digits after the first character are fine. */
    assert_ptr_not_equal(cf_metric_counter("coffer:t_ok9", "", NULL), d[0]);
    cf_metric_add(c, 2);
    text = render();
    assert_true(has_line(text, "coffer_t_clash 2"));
    assert_true(has_line(text, "# TYPE coffer_t_clash counter"));
    assert_null(strstr(text, "coffer_t_bad"));
    assert_null(strstr(text, "x=\"1\""));
    assert_true(has_line(text, "coffer_t_bounds32_bucket{le=\"31\"} 0"));
    free(text);
}

/* Every line is a comment or a sample; each family has one HELP and one
 * TYPE line, before its samples, and families come sorted by name. */
static void test_format(void **state)
{
    char *text, *save = NULL, prev_family[256] = "";
    unsigned families = 0;

    (void)state;
    /* Registered out of order, with a help text to escape. */
    cf_metric_add(cf_metric_counter("coffer_t_zz_total", "Last.", NULL), 1);
    cf_metric_add(cf_metric_counter("coffer_t_aa_total", "Back\\slash\nnewline.", NULL), 1);
    text = render();
    assert_true(has_line(text, "# HELP coffer_t_aa_total Back\\\\slash\\nnewline."));
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[256], kind[32];
        size_t n;

        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%255s", name), 1);
            assert_true(strcmp(prev_family, name) < 0); /* sorted, and HELP once */
            (void)snprintf(prev_family, sizeof(prev_family), "%s", name);
            families++;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%255s %31s", name, kind), 2);
            assert_string_equal(name, prev_family);
            assert_true(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0 ||
                        strcmp(kind, "histogram") == 0);
            continue;
        }
        assert_true(line[0] != '#');
        /* name[{labels}] value, the name being the family's or, for a
         * histogram, the family's plus _bucket, _sum or _count. */
        n = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
        assert_true(n > 0 && n < sizeof(name));
        memcpy(name, line, n);
        name[n] = '\0';
        assert_true(strncmp(name, prev_family, strlen(prev_family)) == 0);
        if (line[n] == '{') {
            char *close = strchr(line + n, '}');
            assert_non_null(close);
            n = (size_t)(close - line) + 1;
        }
        assert_int_equal(line[n], ' ');
        {
            char *end = NULL;
            (void)strtod(line + n + 1, &end);
            assert_true(end != line + n + 1 && *end == '\0');
        }
    }
    assert_true(families >= 2);
    free(text);
}

#define THREADS 4
#define ADDS    100000

struct worker {
    struct cf_metric *c, *g, *h;
};

static void *work(void *arg)
{
    struct worker *w = arg;

    for (unsigned i = 0; i < ADDS; i++) {
        cf_metric_add(w->c, 1);
        cf_metric_gauge_add(w->g, (i & 1) ? 3 : -1);
        cf_metric_observe(w->h, (i & 1) ? 0.25 : 2.0);
    }
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[THREADS];
    struct worker w = {
        cf_metric_counter("coffer_t_thr_total", "", NULL),
        cf_metric_gauge("coffer_t_thr_gauge", "", NULL),
        cf_metric_histogram("coffer_t_thr_seconds", "", NULL, NULL, 0),
    };
    char *text;

    (void)state;
    for (size_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, work, &w), 0);
    for (size_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    text = render();
    assert_true(sample(text, "coffer_t_thr_total") == THREADS * ADDS);
    assert_true(sample(text, "coffer_t_thr_gauge") == THREADS * ADDS);
    assert_true(sample(text, "coffer_t_thr_seconds_count") == THREADS * ADDS);
    assert_true(sample(text, "coffer_t_thr_seconds_bucket{le=\"0.25\"}") == THREADS * ADDS / 2);
    /* Sums of 0.25 and 2.0 are exact in binary floating point. */
    assert_true(sample(text, "coffer_t_thr_seconds_sum") == THREADS * ADDS / 2 * 2.25);
    free(text);
}

/* A render over the buffer's cap fails with CF_ETOOLARGE, at any cap. */
static void test_cap(void **state)
{
    struct cf_buf b;
    size_t full;

    (void)state;
    cf_metric_add(cf_metric_counter("coffer_t_cap_total", "", NULL), 1);
    cf_buf_init(&b, 1 << 20);
    assert_int_equal(cf_metrics_render(&b), 0);
    full = b.len;
    cf_buf_fini(&b);
    for (size_t cap = 0; cap < full; cap += (cap < 200 ? 1 : 97)) {
        cf_buf_init(&b, cap);
        assert_int_equal(cf_metrics_render(&b), CF_ETOOLARGE);
        assert_true(b.len <= cap);
        cf_buf_fini(&b);
    }
    cf_buf_init(&b, full);
    assert_int_equal(cf_metrics_render(&b), 0);
    assert_int_equal(b.len, full);
    cf_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),   cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_histogram), cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_format),    cmocka_unit_test(test_threads),
        cmocka_unit_test(test_cap),
    };

    /* The misuse cases log one ERROR line by design. */
    cf_log_init("test", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
