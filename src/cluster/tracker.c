/*
 * tracker.c -- filer tracking (tracker.h): concurrent /status polls, the
 * status decision, and the summary table, scribe and metrics it feeds.
 */
#include "coffer/tracker.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/buf.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/metrics.h"

/* A /status reply is a few hundred bytes; anything past this is not a filer. */
#define STATUS_BODY_MAX (64 * 1024)
/* Weight of the newest sample in the latency EWMA: about the last 3 polls
 * count, so one slow answer does not make a filer busy, three do. */
#define EWMA_ALPHA 0.3
#define WHY_MAX    (CF_ERR_LEN + 64)

/* What the tracker remembers of one filer between polls. */
struct track {
    struct cf_tracker_state st;
    bool present; /* in the table at the last poll */
    bool io_init;
    uint64_t io_errors; /* the filer's counter at the last answer */
    struct cf_tracker_hist hist;
    struct cf_metric *up, *used, *total, *objects, *latency;
};

struct cf_tracker {
    struct cf_objdb *odb;     /* kept */
    struct cf_scribe *scribe; /* kept; may be NULL */
    struct cf_tracker_opts o;
    CURLM *multi; /* its connection cache keeps filers' connections alive between polls */

    pthread_mutex_t poll_mu; /* one poll at a time; guards multi */
    pthread_mutex_t mu;      /* guards tracks */
    struct track *tracks;
    size_t ntracks;

    pthread_t thread;
    bool started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stop;
};

/* One /status request of a poll. */
struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;   /* the signature: a filer tells its figures only to the cluster */
    struct cf_objdb_filer row; /* the table's row at the start of the poll */
    struct cf_buf body;
    char curl_err[CURL_ERROR_SIZE];
};

/* ---- options ---------------------------------------------------------------- */

int cf_tracker_opts_fill(struct cf_tracker_opts *o, char *err)
{
    if (o->poll_ms == 0)
        o->poll_ms = CF_TRACKER_POLL_MS;
    if (o->timeout_ms == 0)
        o->timeout_ms = CF_TRACKER_TIMEOUT_MS;
    if (o->offline_after == 0)
        o->offline_after = CF_TRACKER_OFFLINE_AFTER;
    if (o->busy_ms == 0)
        o->busy_ms = CF_TRACKER_BUSY_MS;
    if (o->high_water == 0)
        o->high_water = CF_TRACKER_HIGH_WATER;
    if (o->low_water == 0)
        o->low_water = CF_TRACKER_LOW_WATER;
    /* The negated forms also refuse NaN. */
    if (!(o->high_water > 0 && o->high_water <= 1)) {
        cf_err_set(err, "high water must be in (0, 1], not %g", o->high_water);
        return CF_EINVAL;
    }
    if (!(o->low_water > 0 && o->low_water < o->high_water)) {
        cf_err_set(err, "low water must be in (0, high water %g), not %g", o->high_water,
                   o->low_water);
        return CF_EINVAL;
    }
    if (o->timeout_ms > 600000 || o->poll_ms > 3600000) {
        cf_err_set(err, "timeout (at most 600000 ms) or poll period (at most 3600000 ms) too long");
        return CF_EINVAL;
    }
    return 0;
}

int cf_tracker_new(struct cf_objdb *odb, struct cf_scribe *scribe,
                   const struct cf_tracker_opts *opts, struct cf_tracker **out, char *err)
{
    struct cf_tracker_opts o = {0};
    struct cf_tracker *t = NULL;

    *out = NULL;
    if (opts != NULL)
        o = *opts;
    if (cf_tracker_opts_fill(&o, err) < 0)
        return CF_EINVAL;
    t = cf_xcalloc(1, sizeof(*t));
    t->multi = curl_multi_init();
    if (t->multi == NULL) {
        free(t);
        cf_err_set(err, "curl_multi_init failed");
        return CF_EINTERNAL;
    }
    t->odb = odb;
    t->scribe = scribe;
    t->o = o;
    pthread_mutex_init(&t->poll_mu, NULL);
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->stop_mu, NULL);
    pthread_cond_init(&t->stop_cv, NULL);
    *out = t;
    return 0;
}

/* ---- per-filer memory --------------------------------------------------------- */

/* The track of filer id, made if new. Called with t->mu held. */
static struct track *track_of(struct cf_tracker *t, uint32_t id)
{
    struct track *tr;
    char labels[32];

    for (size_t i = 0; i < t->ntracks; i++)
        if (t->tracks[i].st.info.id == id)
            return &t->tracks[i];
    t->tracks = cf_xrealloc(t->tracks, (t->ntracks + 1) * sizeof(*t->tracks));
    tr = &t->tracks[t->ntracks++];
    memset(tr, 0, sizeof(*tr));
    tr->st.info.id = id;
    (void)snprintf(labels, sizeof(labels), "filer=\"%" PRIu32 "\"", id);
    tr->up = cf_metric_gauge("coffer_filer_up", "1 while the filer answers its /status", labels);
    tr->used = cf_metric_gauge("coffer_filer_used_bytes", "bytes the filer holds", labels);
    tr->total = cf_metric_gauge("coffer_filer_total_bytes", "the filer's capacity", labels);
    tr->objects = cf_metric_gauge("coffer_filer_objects", "objects the filer holds", labels);
    tr->latency = cf_metric_histogram("coffer_filer_latency_seconds",
                                      "time the filer took to answer its /status", labels, NULL, 0);
    return tr;
}

/* Forget filers that left the table (their gauge says down). Called with
 * t->mu held, after a poll marked the present ones. */
static void tracks_sweep(struct cf_tracker *t)
{
    size_t k = 0;

    for (size_t i = 0; i < t->ntracks; i++) {
        if (t->tracks[i].present) {
            t->tracks[i].present = false;
            t->tracks[k++] = t->tracks[i];
        } else {
            cf_metric_set(t->tracks[i].up, 0);
        }
    }
    t->ntracks = k;
}

int cf_tracker_info(struct cf_tracker *t, uint32_t id, struct cf_tracker_info *out)
{
    int rc = CF_ENOTFOUND;

    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->ntracks; i++) {
        if (t->tracks[i].st.info.id == id) {
            *out = t->tracks[i].st.info;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* ---- one answer --------------------------------------------------------------- */

static bool get_u64(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Turn a finished transfer into an answer. */
static void read_answer(struct xfer *x, CURLcode cc, struct cf_tracker_answer *a)
{
    curl_off_t us = 0;
    long status = 0;
    json_t *j = NULL;
    uint64_t id = 0;
    json_error_t je;

    memset(a, 0, sizeof(*a));
    (void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    (void)curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &us);
    a->latency_ms = (double)us / 1000.0;
    if (cc != CURLE_OK) {
        cf_err_set(a->err, "%s", x->curl_err[0] != '\0' ? x->curl_err : curl_easy_strerror(cc));
        return;
    }
    if (status == 503) {
        a->draining = true;
        return;
    }
    if (status != 200) {
        cf_err_set(a->err, "/status answered HTTP %ld", status);
        return;
    }
    if (x->body.len > 0)
        j = json_loadb(x->body.base, x->body.len, 0, &je);
    if (!json_is_object(j) || !get_u64(j, "total_bytes", &a->total) ||
        !get_u64(j, "used_bytes", &a->used) || !get_u64(j, "objects", &a->objects) ||
        !json_is_boolean(json_object_get(j, "read_only")) || a->total > INT64_MAX ||
        a->used > INT64_MAX || a->objects > INT64_MAX) {
        cf_err_set(a->err, "/status is not a filer's status");
        goto out;
    }
    /* A URL that now reaches another filer must not receive this one's objects. */
    if (!get_u64(j, "id", &id) || id != x->row.id) {
        cf_err_set(a->err, "the filer at this URL says it is filer %" PRIu64, id);
        goto out;
    }
    if (!get_u64(j, "io_errors", &a->io_errors))
        a->io_errors = 0;
    if (!get_u64(j, "bytes_in", &a->bytes_in))
        a->bytes_in = 0;
    if (!get_u64(j, "bytes_out", &a->bytes_out))
        a->bytes_out = 0;
    a->read_only = json_is_true(json_object_get(j, "read_only"));
    a->ok = true;
out:
    json_decref(j);
}

/* What counter c rose by since last (a restart, c below last, counts from 0). */
static uint64_t rise(uint64_t c, uint64_t last)
{
    return c >= last ? c - last : c;
}

bool cf_tracker_hist_add(struct cf_tracker_hist *h, uint32_t id, const struct cf_tracker_answer *a,
                         uint64_t now_ms, uint64_t period_ms, struct cf_objdb_history *done)
{
    uint64_t start = now_ms - now_ms % period_ms;
    bool closed = false;

    if (h->start_ms != 0 && start != h->start_ms) {
        *done = h->row;
        done->end_ms = h->start_ms + period_ms;
        done->latency_us = h->row.polls > h->row.failures
                               ? h->latency_sum_us / (h->row.polls - h->row.failures)
                               : 0;
        closed = true;
    }
    if (h->start_ms != start) {
        memset(&h->row, 0, sizeof(h->row));
        h->latency_sum_us = 0;
        h->start_ms = start;
        h->row.filer = id;
        h->row.start_ms = start;
    }
    h->row.polls++;
    if (!a->ok) {
        h->row.failures++;
        return closed;
    }
    if (h->counters) {
        h->row.bytes_in += rise(a->bytes_in, h->last_in);
        h->row.bytes_out += rise(a->bytes_out, h->last_out);
        h->row.io_errors += rise(a->io_errors, h->last_io);
    }
    h->counters = true;
    h->last_in = a->bytes_in;
    h->last_out = a->bytes_out;
    h->last_io = a->io_errors;
    h->row.used_bytes = a->used;
    h->row.total_bytes = a->total;
    h->latency_sum_us += (uint64_t)(a->latency_ms * 1000.0);
    return closed;
}

uint32_t cf_tracker_weight(uint32_t base, double u, double latency_ms, unsigned busy_ms, bool busy)
{
    uint64_t w;
    int free10;

    if (base == 0)
        return 0;
    free10 = 10 - (int)(u * 10);
    if (free10 < 1)
        free10 = 1;
    if (free10 > 10)
        free10 = 10;
    w = (uint64_t)base * (uint64_t)free10 / 10;
    if (busy)
        w /= 4;
    else if (latency_ms > busy_ms / 4.0)
        w /= 2;
    return w < 1 ? 1 : (uint32_t)w;
}

static double fullness(uint64_t used, uint64_t total)
{
    if (total == 0)
        return used > 0 ? 1.0 : 0.0;
    return (double)used / (double)total;
}

static void set_status(struct cf_objdb_filer *f, const char *status)
{
    (void)snprintf(f->status, sizeof(f->status), "%s", status);
}

void cf_tracker_decide(const struct cf_tracker_opts *o, struct cf_tracker_state *st,
                       const struct cf_objdb_filer *row, const struct cf_tracker_answer *a,
                       uint64_t now_ms, struct cf_objdb_filer *next, char *why, size_t cap)
{
    bool answered = a->ok || a->draining;
    double u;

    *next = *row;
    st->info.polls++;
    why[0] = '\0';
    if (answered) {
        st->info.failures = 0;
        st->info.latency_ms =
            st->info.measured ? EWMA_ALPHA * a->latency_ms + (1 - EWMA_ALPHA) * st->info.latency_ms
                              : a->latency_ms;
        st->info.measured = true;
        next->last_seen_ms = now_ms;
    } else {
        st->info.failures++;
    }
    if (a->ok) {
        next->total_bytes = a->total;
        next->used_bytes = a->used;
        next->objects = a->objects;
    }
    u = fullness(next->used_bytes, next->total_bytes);
    /* Hysteresis: the table's CF_OBJDB_READ_ONLY says the filer was full when this
     * tracker started; then the marks decide. */
    if (!st->full_init) {
        st->full = strcmp(row->status, CF_OBJDB_READ_ONLY) == 0;
        st->full_init = true;
    }
    if (a->ok)
        st->full = st->full ? u >= o->low_water : u >= o->high_water;

    if (strcmp(row->status, CF_OBJDB_MAINTENANCE) == 0) {
        (void)snprintf(why, cap, "in maintenance");
    } else if (!answered) {
        if (st->info.failures >= o->offline_after) {
            set_status(next, CF_OBJDB_OFFLINE);
            (void)snprintf(why, cap, "no answer %u polls in a row: %s", st->info.failures, a->err);
        }
        /* Before that, one missed poll keeps the last status. */
    } else if (a->draining) {
        set_status(next, CF_OBJDB_BUSY);
        (void)snprintf(why, cap, "answered 503 (draining)");
    } else if (a->read_only) {
        set_status(next, CF_OBJDB_READ_ONLY);
        (void)snprintf(why, cap, "the filer reports read-only");
    } else if (st->full) {
        set_status(next, CF_OBJDB_READ_ONLY);
        (void)snprintf(why, cap, "%.1f%% used, high water %.0f%%, writable below %.0f%%", u * 100,
                       o->high_water * 100, o->low_water * 100);
    } else if (st->info.latency_ms > o->busy_ms) {
        set_status(next, CF_OBJDB_BUSY);
        (void)snprintf(why, cap, "latency %.0f ms over %u ms", st->info.latency_ms, o->busy_ms);
    } else {
        set_status(next, CF_OBJDB_ONLINE);
        (void)snprintf(why, cap, "answers in %.1f ms, %.1f%% used", a->latency_ms, u * 100);
    }
    next->read_only = !cf_objdb_status_writable(next->status);
    next->weight = cf_tracker_weight(next->base_weight, u, st->info.latency_ms, o->busy_ms,
                                     strcmp(next->status, CF_OBJDB_BUSY) == 0);
}

/* Record the answer of transfer x: decide, write the table, tell the log,
 * the scribe and the gauges. */
static void settle(struct cf_tracker *t, struct xfer *x, CURLcode cc)
{
    struct cf_objdb_filer next, stored;
    struct cf_objdb_history done;
    struct cf_tracker_answer a;
    struct track *tr;
    char why[WHY_MAX], err[CF_ERR_LEN] = "";
    uint64_t new_io = 0, now = cf_wall_ms();
    bool io_rise = false, closed = false;
    int rc;

    read_answer(x, cc, &a);
    pthread_mutex_lock(&t->mu);
    tr = track_of(t, x->row.id);
    tr->present = true;
    cf_tracker_decide(&t->o, &tr->st, &x->row, &a, now, &next, why, sizeof(why));
    if (t->o.history_ms > 0)
        closed = cf_tracker_hist_add(&tr->hist, x->row.id, &a, now, t->o.history_ms, &done);
    if (a.ok) {
        io_rise = tr->io_init && a.io_errors > tr->io_errors;
        new_io = io_rise ? a.io_errors - tr->io_errors : 0;
        tr->io_errors = a.io_errors;
        tr->io_init = true;
        cf_metric_set(tr->used, (int64_t)next.used_bytes);
        cf_metric_set(tr->total, (int64_t)next.total_bytes);
        cf_metric_set(tr->objects, (int64_t)next.objects);
    }
    if (a.ok || a.draining)
        cf_metric_observe(tr->latency, a.latency_ms / 1000.0);
    cf_metric_set(tr->up, a.ok || a.draining ? 1 : 0);
    pthread_mutex_unlock(&t->mu);

    if (closed && cf_objdb_history_add(t->odb, &done, err) < 0)
        cf_log(CF_LOG_WARN, "cannot record filer %" PRIu32 "'s history: %s", done.filer, err);
    rc = cf_objdb_filer_track(t->odb, &next, &stored, err);
    if (rc < 0) {
        if (rc != CF_ENOTFOUND) /* removed while polled: nothing to record */
            cf_log(CF_LOG_WARN, "cannot record filer %" PRIu32 "'s status: %s", next.id, err);
        return;
    }
    if (strcmp(stored.status, x->row.status) != 0) {
        bool down = strcmp(stored.status, CF_OBJDB_OFFLINE) == 0;
        cf_log(down ? CF_LOG_WARN : CF_LOG_INFO, "filer %" PRIu32 " (%s) is now %s: %s", next.id,
               next.url, stored.status, why);
        (void)cf_scribe_event(t->scribe, CF_SCRIBE_FILER_STATUS, next.id, NULL, "%s -> %s: %s",
                              x->row.status, stored.status, why);
    }
    if (io_rise)
        (void)cf_scribe_event(t->scribe, CF_SCRIBE_FILER_ERROR, next.id, NULL,
                              "the filer reports %" PRIu64 " new I/O errors (%" PRIu64 " in all)",
                              new_io, a.io_errors);
}

/* ---- one poll ------------------------------------------------------------------ */

static size_t collect(char *p, size_t size, size_t nitems, void *ud)
{
    struct cf_buf *b = ud;
    size_t n = size * nitems;

    return cf_buf_append(b, p, n) < 0 ? 0 : n;
}

static void xfer_fini(struct xfer *x)
{
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    cf_buf_fini(&x->body);
}

/* Prepare the GET /status of row; false if curl cannot (then x is clean). */
static bool xfer_init(const struct cf_tracker *t, struct xfer *x, const struct cf_objdb_filer *row)
{
    char url[CF_OBJDB_URL_MAX + 16];
    CURL *h = curl_easy_init();

    memset(x, 0, sizeof(*x));
    x->row = *row;
    cf_buf_init(&x->body, STATUS_BODY_MAX);
    if (h == NULL)
        return false;
    x->easy = h;
    cf_httpc_tls(h);
    (void)snprintf(url, sizeof(url), "%s/status", row->url);
    if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)t->o.timeout_ms) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x->body) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->curl_err) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PRIVATE, x) != CURLE_OK ||
        cf_httpc_sign(h, "GET", url, (void **)&x->hdrs) < 0) {
        xfer_fini(x);
        return false;
    }
    return true;
}

/* Settle every finished transfer. */
static void drain_done(struct cf_tracker *t)
{
    CURLMsg *msg;
    int left = 0;

    for (;;) {
        struct xfer *x = NULL;
        msg = curl_multi_info_read(t->multi, &left);
        if (msg == NULL)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        settle(t, x, msg->data.result);
        (void)curl_multi_remove_handle(t->multi, x->easy);
        xfer_fini(x);
    }
}

void cf_tracker_poll_once(struct cf_tracker *t)
{
    struct cf_objdb_filer *fl = NULL;
    struct xfer *xs = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;
    int running = 0;

    pthread_mutex_lock(&t->poll_mu);
    if (cf_objdb_filer_list(t->odb, &fl, &n, err) < 0) {
        cf_log(CF_LOG_WARN, "filer tracking: cannot list filers: %s", err);
        goto out;
    }
    if (n > CF_TRACKER_FILERS_MAX) {
        cf_log(CF_LOG_WARN, "filer tracking: %zu filers registered, only the first %d tracked", n,
               CF_TRACKER_FILERS_MAX);
        n = CF_TRACKER_FILERS_MAX;
    }
    xs = cf_xcalloc(n ? n : 1, sizeof(*xs));
    for (size_t i = 0; i < n; i++) {
        if (!xfer_init(t, &xs[i], &fl[i]) || curl_multi_add_handle(t->multi, xs[i].easy) != 0) {
            /* Out of resources here is no news about the filer. */
            cf_log(CF_LOG_WARN, "filer tracking: cannot start a poll of filer %" PRIu32, fl[i].id);
            xfer_fini(&xs[i]);
            pthread_mutex_lock(&t->mu);
            track_of(t, fl[i].id)->present = true;
            pthread_mutex_unlock(&t->mu);
        }
    }
    /* Each transfer carries its own timeout, so this ends within about
     * timeout_ms; answers are settled as they come. */
    do {
        CURLMcode mc = curl_multi_perform(t->multi, &running);
        if (mc == CURLM_OK)
            drain_done(t);
        if (mc != CURLM_OK || running == 0)
            break;
        mc = curl_multi_poll(t->multi, NULL, 0, 100, NULL);
        if (mc != CURLM_OK)
            break;
    } while (running > 0);
    drain_done(t);
    /* Anything still attached after a multi failure is dropped unsettled. */
    for (size_t i = 0; i < n; i++) {
        if (xs[i].easy != NULL) {
            (void)curl_multi_remove_handle(t->multi, xs[i].easy);
            xfer_fini(&xs[i]);
            pthread_mutex_lock(&t->mu);
            track_of(t, fl[i].id)->present = true;
            pthread_mutex_unlock(&t->mu);
        }
    }
    pthread_mutex_lock(&t->mu);
    tracks_sweep(t);
    pthread_mutex_unlock(&t->mu);
out:
    free(xs);
    free(fl);
    pthread_mutex_unlock(&t->poll_mu);
}

/* ---- the thread ------------------------------------------------------------------ */

static void *tracker_main(void *arg)
{
    struct cf_tracker *t = arg;

    pthread_mutex_lock(&t->stop_mu);
    while (!t->stop) {
        uint64_t t0 = cf_now_ns(), spent_ms;
        struct timespec ts;

        pthread_mutex_unlock(&t->stop_mu);
        cf_tracker_poll_once(t);
        spent_ms = (cf_now_ns() - t0) / 1000000u;
        pthread_mutex_lock(&t->stop_mu);
        if (t->stop || spent_ms >= t->o.poll_ms)
            continue;
        ts = cf_deadline_in(t->o.poll_ms - spent_ms);
        (void)pthread_cond_timedwait(&t->stop_cv, &t->stop_mu, &ts);
    }
    pthread_mutex_unlock(&t->stop_mu);
    return NULL;
}

int cf_tracker_start(struct cf_tracker *t)
{
    if (t->started)
        return CF_EINVAL;
    if (pthread_create(&t->thread, NULL, tracker_main, t) != 0)
        return CF_EINTERNAL;
    t->started = true;
    return 0;
}

void cf_tracker_free(struct cf_tracker *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->stop_mu);
    t->stop = true;
    pthread_cond_broadcast(&t->stop_cv);
    pthread_mutex_unlock(&t->stop_mu);
    if (t->started)
        pthread_join(t->thread, NULL);
    curl_multi_cleanup(t->multi);
    free(t->tracks);
    pthread_mutex_destroy(&t->poll_mu);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->stop_mu);
    pthread_cond_destroy(&t->stop_cv);
    free(t);
}
