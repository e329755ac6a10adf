/*
 * metrics.c -- process-wide metrics registry and the Prometheus text format
 * (metrics.h).
 *
 * Families live in one list sorted by name, each with its series sorted by
 * label text, so rendering is a walk in order. One mutex guards the lists:
 * creation, look-up and rendering take it; updates never do (they touch only
 * the series' atomics). Nothing is freed: a process has a few hundred series
 * at most (36 request counters per HTTP server plus what roles add), so a
 * registry that only grows costs little and lets callers keep pointers.
 */
#include "coffer/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

#define MAX_BOUNDS 32

const double CF_METRICS_LATENCY_BOUNDS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,   0.5,   1,      2.5,   5,    10,    30};
const size_t CF_METRICS_LATENCY_NBOUNDS = CF_ARRAY_LEN(CF_METRICS_LATENCY_BOUNDS);

enum kind {
    KIND_DUMMY,
    KIND_COUNTER,
    KIND_GAUGE,
    KIND_HISTOGRAM,
};

static const char *const kind_names[] = {"untyped", "counter", "gauge", "histogram"};

struct family {
    char *name;
    char *help;
    enum kind kind;
    size_t nbounds; /* histograms: finite upper bounds; +Inf is implied */
    double bounds[MAX_BOUNDS];
    struct cf_metric *series; /* sorted by labels */
    struct family *next;      /* sorted by name */
};

struct cf_metric {
    enum kind kind;
    const struct family *fam; /* NULL for the dummy */
    char *labels;             /* "" for none */
    struct cf_metric *next;
    atomic_uint_least64_t count; /* counter; histogram: observations */
    atomic_int_least64_t value;  /* gauge */
    /* Histogram: sum as the bits of a double, and per-bucket counts that are
     * not cumulative (nbounds + 1, the last for +Inf): an observation is one
     * add, and rendering makes them cumulative. */
    atomic_uint_least64_t sum_bits;
    atomic_uint_least64_t *buckets;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *families; /* guarded by reg_lock */
static struct cf_metric dummy = {.kind = KIND_DUMMY};
static atomic_bool misuse_logged;

static bool valid_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* Label text goes into the output as is: a newline would end the line. */
static bool valid_labels(const char *s)
{
    return strchr(s, '\n') == NULL && strchr(s, '}') == NULL;
}

static bool valid_bounds(const double *b, size_t n)
{
    if (n > MAX_BOUNDS)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1]))
            return false;
    }
    return true;
}

static struct cf_metric *misuse(const char *name, const char *why)
{
    if (!atomic_exchange(&misuse_logged, true))
        cf_log(CF_LOG_ERROR, "metrics: %s for \"%s\"; its updates are dropped", why,
               name ? name : "(null)");
    return &dummy;
}

static struct family *family_get(const char *name, const char *help, enum kind kind,
                                 const double *bounds, size_t n)
{
    struct family **pp = &families, *f;

    while (*pp != NULL && strcmp((*pp)->name, name) < 0)
        pp = &(*pp)->next;
    if (*pp != NULL && strcmp((*pp)->name, name) == 0)
        return (*pp)->kind == kind ? *pp : NULL;
    f = cf_xcalloc(1, sizeof(*f));
    f->name = cf_xstrdup(name);
    f->help = cf_xstrdup(help ? help : "");
    f->kind = kind;
    f->nbounds = n;
    if (n > 0)
        memcpy(f->bounds, bounds, n * sizeof(*bounds));
    f->next = *pp;
    *pp = f;
    return f;
}

static struct cf_metric *series_get(struct family *f, const char *labels)
{
    struct cf_metric **pp = &f->series, *m;

    while (*pp != NULL && strcmp((*pp)->labels, labels) < 0)
        pp = &(*pp)->next;
    if (*pp != NULL && strcmp((*pp)->labels, labels) == 0)
        return *pp;
    m = cf_xcalloc(1, sizeof(*m));
    m->kind = f->kind;
    m->fam = f;
    m->labels = cf_xstrdup(labels);
    atomic_init(&m->count, 0);
    atomic_init(&m->value, 0);
    atomic_init(&m->sum_bits, 0); /* the bits of +0.0 */
    if (f->kind == KIND_HISTOGRAM) {
        m->buckets = cf_xcalloc(f->nbounds + 1, sizeof(*m->buckets));
        for (size_t i = 0; i <= f->nbounds; i++)
            atomic_init(&m->buckets[i], 0);
    }
    m->next = *pp;
    *pp = m;
    return m;
}

static struct cf_metric *metric_get(const char *name, const char *help, const char *labels,
                                    enum kind kind, const double *bounds, size_t n)
{
    struct family *f;
    struct cf_metric *m;

    if (labels == NULL)
        labels = "";
    if (!valid_name(name))
        return misuse(name, "invalid metric name");
    if (!valid_labels(labels))
        return misuse(name, "label text with a newline or '}'");
    if (kind == KIND_HISTOGRAM && !valid_bounds(bounds, n))
        return misuse(name, "histogram bounds not ascending, not finite or over 32");
    pthread_mutex_lock(&reg_lock);
    f = family_get(name, help, kind, bounds, n);
    m = f ? series_get(f, labels) : NULL;
    pthread_mutex_unlock(&reg_lock);
    if (m == NULL)
        return misuse(name, "metric kind differs from the family's");
    return m;
}

struct cf_metric *cf_metric_counter(const char *name, const char *help, const char *labels)
{
    return metric_get(name, help, labels, KIND_COUNTER, NULL, 0);
}

struct cf_metric *cf_metric_gauge(const char *name, const char *help, const char *labels)
{
    return metric_get(name, help, labels, KIND_GAUGE, NULL, 0);
}

struct cf_metric *cf_metric_histogram(const char *name, const char *help, const char *labels,
                                      const double *bounds, size_t n)
{
    if (bounds == NULL) {
        bounds = CF_METRICS_LATENCY_BOUNDS;
        n = CF_METRICS_LATENCY_NBOUNDS;
    }
    return metric_get(name, help, labels, KIND_HISTOGRAM, bounds, n);
}

void cf_metric_add(struct cf_metric *m, uint64_t v)
{
    if (m->kind == KIND_COUNTER)
        atomic_fetch_add_explicit(&m->count, v, memory_order_relaxed);
}

void cf_metric_set(struct cf_metric *m, int64_t v)
{
    if (m->kind == KIND_GAUGE)
        atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

void cf_metric_gauge_add(struct cf_metric *m, int64_t v)
{
    if (m->kind == KIND_GAUGE)
        atomic_fetch_add_explicit(&m->value, v, memory_order_relaxed);
}

static uint64_t bits_of(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double double_of(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

void cf_metric_observe(struct cf_metric *m, double v)
{
    const struct family *f = m->fam;
    uint64_t old, want;
    size_t i = 0;

    /* A NaN would turn the sum into NaN for good. */
    if (m->kind != KIND_HISTOGRAM || isnan(v))
        return;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    old = atomic_load_explicit(&m->sum_bits, memory_order_relaxed);
    do {
        want = bits_of(double_of(old) + v);
    } while (!atomic_compare_exchange_weak_explicit(&m->sum_bits, &old, want, memory_order_relaxed,
                                                    memory_order_relaxed));
}

/* The shortest text that reads back as v (Prometheus parses Go floats). */
static void fmt_double(char out[32], double v)
{
    if (isnan(v)) {
        (void)snprintf(out, 32, "NaN");
        return;
    }
    if (isinf(v)) {
        (void)snprintf(out, 32, "%sInf", v > 0 ? "+" : "-");
        return;
    }
    /* Whole numbers as such: "%.1g" would write 30 as "3e+01". */
    if (v == floor(v) && fabs(v) < 1e15) {
        (void)snprintf(out, 32, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        (void)snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* HELP text escapes backslash and newline (exposition format 0.0.4). */
static int render_help(struct cf_buf *b, const struct family *f)
{
    int rc = cf_buf_printf(b, "# HELP %s ", f->name);

    for (const char *p = f->help; rc == 0 && *p != '\0'; p++) {
        if (*p == '\\')
            rc = cf_buf_append(b, "\\\\", 2);
        else if (*p == '\n')
            rc = cf_buf_append(b, "\\n", 2);
        else
            rc = cf_buf_append(b, p, 1);
    }
    if (rc == 0)
        rc = cf_buf_printf(b, "\n# TYPE %s %s\n", f->name, kind_names[f->kind]);
    return rc;
}

static int render_histogram(struct cf_buf *b, const struct family *f, const struct cf_metric *m)
{
    const char *sep = m->labels[0] ? "," : "";
    char le[32], sum[32];
    uint64_t cum = 0;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        if (i < f->nbounds)
            fmt_double(le, f->bounds[i]);
        else
            (void)snprintf(le, sizeof(le), "+Inf");
        rc = cf_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, m->labels, sep, le,
                           (unsigned long long)cum);
    }
    /* _count is the +Inf bucket as read above, so the two always agree even
     * while observations land; _sum may run a little ahead or behind. */
    fmt_double(sum, double_of(atomic_load_explicit(&m->sum_bits, memory_order_relaxed)));
    if (rc == 0 && m->labels[0])
        rc = cf_buf_printf(b, "%s_sum{%s} %s\n%s_count{%s} %llu\n", f->name, m->labels, sum,
                           f->name, m->labels, (unsigned long long)cum);
    else if (rc == 0)
        rc = cf_buf_printf(b, "%s_sum %s\n%s_count %llu\n", f->name, sum, f->name,
                           (unsigned long long)cum);
    return rc;
}

static int render_series(struct cf_buf *b, const struct family *f, const struct cf_metric *m)
{
    char value[32];

    if (f->kind == KIND_HISTOGRAM)
        return render_histogram(b, f, m);
    if (f->kind == KIND_GAUGE)
        (void)snprintf(value, sizeof(value), "%lld",
                       (long long)atomic_load_explicit(&m->value, memory_order_relaxed));
    else
        (void)snprintf(value, sizeof(value), "%llu",
                       (unsigned long long)atomic_load_explicit(&m->count, memory_order_relaxed));
    if (m->labels[0])
        return cf_buf_printf(b, "%s{%s} %s\n", f->name, m->labels, value);
    return cf_buf_printf(b, "%s %s\n", f->name, value);
}

int cf_metrics_render(struct cf_buf *b)
{
    int rc = 0;

    pthread_mutex_lock(&reg_lock);
    for (const struct family *f = families; rc == 0 && f != NULL; f = f->next) {
        rc = render_help(b, f);
        for (const struct cf_metric *m = f->series; rc == 0 && m != NULL; m = m->next)
            rc = render_series(b, f, m);
    }
    pthread_mutex_unlock(&reg_lock);
    return rc < 0 ? CF_ETOOLARGE : 0;
}
