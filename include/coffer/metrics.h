/*
 * metrics.h -- process-wide metrics in the Prometheus text format.
 *
 * Role: every role serves GET /metrics (http.c answers it before the role's
 * handler sees the request): requests, bytes, latencies as histograms and
 * errors (counted by http.c per server), plus what roles register: per-filer
 * usage (monitor), replica deficits and job progress (app).
 *
 * A metric is a family name (Prometheus rules: [a-zA-Z_:][a-zA-Z0-9_:]*,
 * prefixed "coffer_"), a help text, and a label set written as Prometheus
 * label text without braces (e.g. `role="app",code="200"`, or NULL/"" for
 * none; values must already be escaped: callers pass only known words and
 * numbers; a newline or '}' in it is a programming error, as below).
 * Looking up the same name and labels again returns the same metric, so
 * callers may look up on every use (a mutex and a list walk) or keep the
 * pointer (updates are then a relaxed atomic add); metrics are never freed
 * before exit, so a pointer stays valid for the life of the process.
 * A process has one registry: where several servers share a process
 * (`coffer server`), GET /metrics on any of them shows all of it, and
 * servers of one role add into the same series.
 *
 * Errors: a bad name or label text, histogram bounds that are not finite
 * and ascending, or a kind that differs from an existing family is a
 * programming error: cf_metric_* returns a shared dummy metric whose updates
 * go nowhere and logs once at ERROR. Nothing here fails otherwise (memory
 * exhaustion aborts, as cf_xmalloc).
 * Threads: everything is thread-safe; updates are lock-free atomics.
 */
#ifndef COFFER_METRICS_H
#define COFFER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/buf.h"
#include "coffer/common.h"

struct cf_metric;

/* Monotonic counter. */
struct cf_metric *cf_metric_counter(const char *name, const char *help, const char *labels);
/* Gauge: a value that goes up and down. */
struct cf_metric *cf_metric_gauge(const char *name, const char *help, const char *labels);
/* Histogram with the given ascending upper bounds (copied at the family's
 * first creation; later look-ups ignore them); +Inf is added. n <= 32.
 * bounds NULL: CF_METRICS_LATENCY_BOUNDS (seconds). */
struct cf_metric *cf_metric_histogram(const char *name, const char *help, const char *labels,
                                      const double *bounds, size_t n);

/* Counter += v. Each update does nothing on a metric of another kind (and
 * on the dummy). */
void cf_metric_add(struct cf_metric *m, uint64_t v);
/* Gauge = v; gauge += v. */
void cf_metric_set(struct cf_metric *m, int64_t v);
void cf_metric_gauge_add(struct cf_metric *m, int64_t v);
/* Histogram: record one observation (a NaN is dropped). */
void cf_metric_observe(struct cf_metric *m, double v);

/* Append every metric to b in the text exposition format 0.0.4 (families
 * sorted by name, one HELP and TYPE line each, then its series sorted by
 * label text; a histogram's _count equals its +Inf bucket). Returns 0 or
 * CF_ETOOLARGE if b's cap is reached, b then holding a partial text to
 * discard. Counters and gauges with no update yet render as 0. */
CF_MUST_CHECK int cf_metrics_render(struct cf_buf *b);

/* Default latency bounds, seconds: 0.0005 .. 30. */
extern const double CF_METRICS_LATENCY_BOUNDS[];
extern const size_t CF_METRICS_LATENCY_NBOUNDS;

#endif
