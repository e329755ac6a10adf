/*
 * beat.c -- the heartbeat to the monitor (beat.h).
 */
#include "coffer/beat.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"

#define URL_MAX 255

struct cf_beat {
    const char *role;
    char url[URL_MAX + 1];
    char *dc;
    char *monitors; /* comma-separated */
    uint64_t started_ms;
    size_t current; /* index of the monitor that answered last */
    bool failing;
    pthread_t thread;
    bool stop; /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
};

void cf_beat_url(const struct cf_role_beat *b, const char *listen, uint16_t port, bool tls,
                 char *out, size_t cap)
{
    const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
    char host[256] = "";
    size_t hl = colon != NULL ? (size_t)(colon - listen) : 0;

    if (b->advertise != NULL && b->advertise[0] != '\0') {
        (void)snprintf(out, cap, "%s", b->advertise);
        return;
    }
    if (hl > 0 && hl < sizeof(host)) {
        memcpy(host, listen, hl);
        host[hl] = '\0';
    }
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0) {
        if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
            (void)snprintf(host, sizeof(host), "127.0.0.1");
        host[sizeof(host) - 1] = '\0';
    }
    (void)snprintf(out, cap, "http%s://%s:%u", tls ? "s" : "", host, (unsigned)port);
}

/* The i-th monitor URL of the list into out; false when there is none. */
static bool nth_monitor(const char *list, size_t i, char *out, size_t cap)
{
    const char *p = list;

    for (; i > 0 && p != NULL; i--) {
        p = strchr(p, ',');
        if (p != NULL)
            p++;
    }
    if (p == NULL || *p == '\0')
        return false;
    (void)snprintf(out, cap, "%.*s", (int)strcspn(p, ","), p);
    return out[0] != '\0';
}

static size_t count_monitors(const char *list)
{
    size_t n = 1;

    for (const char *p = list; *p != '\0'; p++)
        n += *p == ',';
    return n;
}

/* One heartbeat, to the monitors in turn from the one that answered last.
 * Returns 0 when one took it. */
static int beat_once(struct cf_beat *bt, const char *status, char *err)
{
    size_t n = count_monitors(bt->monitors);
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "role", bt->role, "url", bt->url, "dc",
                             bt->dc, "version", CF_VERSION, "started_ms",
                             (json_int_t)bt->started_ms, "status", status);
    int rc = CF_EUNAVAIL;

    if (body == NULL) {
        cf_err_set(err, "cannot build the heartbeat");
        return CF_EINTERNAL;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = (bt->current + k) % n;
        char base[URL_MAX + 1], url[URL_MAX + 32];
        long code = 0;
        json_t *reply = NULL;

        if (!nth_monitor(bt->monitors, i, base, sizeof(base)))
            continue;
        (void)snprintf(url, sizeof(url), "%s/v1/instances", base);
        rc = cf_httpc_json("POST", url, body, CF_BEAT_TIMEOUT_MS, &code, &reply, err);
        json_decref(reply);
        if (rc == 0 && code == 200) {
            bt->current = i;
            break;
        }
        if (rc == 0) {
            cf_err_set(err, "%s answered %ld", url, code);
            rc = CF_EUNAVAIL;
        }
    }
    json_decref(body);
    return rc;
}

static void *beat_main(void *arg)
{
    struct cf_beat *bt = arg;
    char err[CF_ERR_LEN] = "";

    pthread_mutex_lock(&bt->mu);
    while (!bt->stop) {
        struct timespec at;
        int rc;

        pthread_mutex_unlock(&bt->mu);
        rc = beat_once(bt, "up", err);
        if (rc < 0 && !bt->failing)
            cf_log(CF_LOG_WARN, "no monitor took this %s's heartbeat: %s", bt->role, err);
        else if (rc == 0 && bt->failing)
            cf_log(CF_LOG_INFO, "a monitor takes this %s's heartbeat again", bt->role);
        bt->failing = rc < 0;
        pthread_mutex_lock(&bt->mu);
        at = cf_deadline_mono_in(CF_BEAT_PERIOD_MS);
        while (!bt->stop && pthread_cond_timedwait(&bt->cv, &bt->mu, &at) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&bt->mu);
    return NULL;
}

int cf_beat_start(const char *role, const struct cf_role_beat *b, const char *url,
                  struct cf_beat **out, char *err)
{
    struct cf_beat *bt;
    pthread_condattr_t ca;

    *out = NULL;
    if (b->monitor == NULL || b->monitor[0] == '\0')
        return 0;
    if (strlen(url) > URL_MAX) {
        cf_err_set(err, "the advertised URL is longer than %d bytes", URL_MAX);
        return CF_EINVAL;
    }
    bt = cf_xcalloc(1, sizeof(*bt));
    bt->role = role;
    (void)snprintf(bt->url, sizeof(bt->url), "%s", url);
    bt->dc = cf_xstrdup(b->dc != NULL ? b->dc : "");
    bt->monitors = cf_xstrdup(b->monitor);
    bt->started_ms = cf_wall_ms();
    pthread_mutex_init(&bt->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&bt->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&bt->thread, NULL, beat_main, bt) != 0) {
        pthread_cond_destroy(&bt->cv);
        pthread_mutex_destroy(&bt->mu);
        free(bt->dc);
        free(bt->monitors);
        free(bt);
        cf_err_set(err, "cannot start the heartbeat thread");
        return CF_EINTERNAL;
    }
    cf_log(CF_LOG_INFO, "%s heart-beats as %s to %s", role, bt->url, bt->monitors);
    *out = bt;
    return 0;
}

void cf_beat_stop(struct cf_beat *bt)
{
    char err[CF_ERR_LEN] = "";

    if (bt == NULL)
        return;
    pthread_mutex_lock(&bt->mu);
    bt->stop = true;
    pthread_cond_broadcast(&bt->cv);
    pthread_mutex_unlock(&bt->mu);
    pthread_join(bt->thread, NULL);
    if (beat_once(bt, "down", err) < 0)
        cf_log(CF_LOG_INFO, "the last heartbeat (down) was not taken: %s", err);
    pthread_cond_destroy(&bt->cv);
    pthread_mutex_destroy(&bt->mu);
    free(bt->dc);
    free(bt->monitors);
    free(bt);
}
