/*
 * lease.c -- a named duty held by one process at a time, as a lease row in
 * the catalog (lease.h).
 */
#include "coffer/lease.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/metrics.h"

static const char schema[] = "CREATE TABLE IF NOT EXISTS leases ("
                             " name TEXT PRIMARY KEY,"
                             " holder TEXT NOT NULL,"
                             " expires_ms BIGINT NOT NULL,"
                             " epoch BIGINT NOT NULL)";

struct cf_lease {
    pthread_mutex_t mu; /* guards db and the statements on it */
    struct cf_db *db;
    char name[CF_LEASE_NAME_MAX + 1];
    char me[CF_LEASE_HOLDER_MAX + 1];
    uint64_t ttl_ms;
    /* Monotonic ns until which the duty may run (0: not held). */
    _Atomic uint64_t held_until;
    _Atomic uint64_t epoch; /* as last taken by this handle */
    struct cf_metric *m_held;

    pthread_mutex_t tmu; /* guards stop; tcv wakes the thread */
    pthread_cond_t tcv;  /* CLOCK_MONOTONIC */
    bool stop;
    pthread_t thread;
    bool started;
};

/* The margin a holder keeps before the row's expiry (lease.h). */
static uint64_t margin_ms(const struct cf_lease *l)
{
    return l->ttl_ms / 5;
}

int cf_lease_open(const char *uri, const char *name, const char *label, uint64_t ttl_ms,
                  struct cf_lease **out, char *err)
{
    struct cf_lease *l = NULL;
    char host[64] = "", labels[CF_LEASE_NAME_MAX + 16];
    uint64_t rnd = 0;
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (ttl_ms == 0)
        ttl_ms = CF_LEASE_TTL_MS;
    if (name == NULL || name[0] == '\0' || strlen(name) > CF_LEASE_NAME_MAX ||
        strchr(name, '"') != NULL || strchr(name, '\\') != NULL) {
        cf_err_set(err, "a lease name is 1..%d bytes without quotes", CF_LEASE_NAME_MAX);
        return CF_EINVAL;
    }
    if (ttl_ms < 500 || ttl_ms > 3600000) {
        cf_err_set(err, "a lease lasts 500 ms to 1 hour, not %" PRIu64 " ms", ttl_ms);
        return CF_EINVAL;
    }
    l = cf_xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->tmu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->tcv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&l->held_until, 0);
    atomic_init(&l->epoch, 0);
    (void)snprintf(l->name, sizeof(l->name), "%s", name);
    l->ttl_ms = ttl_ms;
    if (gethostname(host, sizeof(host) - 1) < 0)
        (void)snprintf(host, sizeof(host), "localhost");
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = cf_now_ns();
    (void)snprintf(l->me, sizeof(l->me), "%.160s %s:%ld:%016" PRIx64, label ? label : "", host,
                   (long)getpid(), rnd);
    (void)snprintf(labels, sizeof(labels), "lease=\"%s\"", l->name);
    l->m_held = cf_metric_gauge("coffer_lease_held",
                                "1 while this process holds the named lease (its duty)", labels);
    rc = cf_db_open(uri, &l->db, err);
    if (rc < 0)
        goto out;
    /* A renewal stuck behind a lock must not outlive the lease. */
    if (cf_db_set_busy_timeout(l->db, (unsigned)margin_ms(l)) < 0) {
        rc = CF_EIO;
        cf_err_set(err, "cannot set the busy timeout");
        goto out;
    }
    rc = cf_db_exec_schema(l->db, schema, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(l->db, NULL, 0, err,
                   "INSERT INTO leases (name, holder, expires_ms, epoch) VALUES (?1, '', 0, 0)"
                   " ON CONFLICT (name) DO NOTHING",
                   "t", l->name);
    if (rc < 0)
        goto out;
    rc = 0;
    *out = l;
    l = NULL;
out:
    cf_lease_close(l);
    return rc;
}

static void set_held(struct cf_lease *l, uint64_t until_ns)
{
    atomic_store(&l->held_until, until_ns);
    cf_metric_set(l->m_held, until_ns != 0 ? 1 : 0);
}

int cf_lease_try(struct cf_lease *l, char *err)
{
    uint64_t t0 = cf_now_ns(), now = cf_wall_ms(), exp = now + l->ttl_ms;
    uint64_t until = t0 + (l->ttl_ms - margin_ms(l)) * 1000000ull;
    int64_t ep = 0;
    int rc;

    pthread_mutex_lock(&l->mu);
    if (atomic_load(&l->epoch) != 0) {
        /* Renew: only the row as this handle took it. */
        rc = cf_db_run(l->db, &ep, 1, err,
                       "UPDATE leases SET expires_ms = ?1"
                       " WHERE name = ?2 AND holder = ?3 AND epoch = ?4 RETURNING epoch",
                       "itti", (int64_t)exp, l->name, l->me, (int64_t)atomic_load(&l->epoch));
        if (rc == CF_DB_ROW) {
            set_held(l, until);
            rc = 1;
            goto out;
        }
        if (rc < 0)
            goto out;
        /* Lost: another process took it after it expired. */
        atomic_store(&l->epoch, 0);
        set_held(l, 0);
    }
    rc = cf_db_run(l->db, &ep, 1, err,
                   "UPDATE leases SET holder = ?1, expires_ms = ?2, epoch = epoch + 1"
                   " WHERE name = ?3 AND (holder = '' OR expires_ms < ?4) RETURNING epoch",
                   "titi", l->me, (int64_t)exp, l->name, (int64_t)now);
    if (rc == CF_DB_ROW) {
        atomic_store(&l->epoch, (uint64_t)ep);
        set_held(l, until);
        rc = 1;
    } else if (rc == CF_DB_DONE) {
        rc = 0;
    }
out:
    if (rc < 0 && atomic_load(&l->held_until) != 0 && cf_now_ns() >= atomic_load(&l->held_until))
        set_held(l, 0);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

bool cf_lease_held(const struct cf_lease *l)
{
    uint64_t until = atomic_load(&l->held_until);

    return until != 0 && cf_now_ns() < until;
}

uint64_t cf_lease_left_ms(const struct cf_lease *l)
{
    uint64_t until = atomic_load(&l->held_until), now = cf_now_ns();

    return until != 0 && now < until ? (until - now) / 1000000 : 0;
}

uint64_t cf_lease_epoch(const struct cf_lease *l)
{
    return cf_lease_held(l) ? atomic_load(&l->epoch) : 0;
}

const char *cf_lease_me(const struct cf_lease *l)
{
    return l->me;
}

int cf_lease_read(struct cf_lease *l, char *holder, size_t cap, uint64_t *expires_ms,
                  uint64_t *epoch, char *err)
{
    struct cf_db_stmt *s = NULL;
    int rc;

    if (holder != NULL && cap > 0)
        holder[0] = '\0';
    if (expires_ms != NULL)
        *expires_ms = 0;
    if (epoch != NULL)
        *epoch = 0;
    pthread_mutex_lock(&l->mu);
    rc = cf_db_query(l->db, &s, err, "SELECT holder, expires_ms, epoch FROM leases WHERE name = ?1",
                     "t", l->name);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_ROW) {
        if (holder != NULL && cap > 0)
            (void)snprintf(holder, cap, "%s", cf_db_column_text(s, 0, NULL));
        if (expires_ms != NULL)
            *expires_ms = (uint64_t)cf_db_column_int64(s, 1);
        if (epoch != NULL)
            *epoch = (uint64_t)cf_db_column_int64(s, 2);
    }
    if (rc >= 0)
        rc = 0;
out:
    cf_db_finalize(s);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int cf_lease_release(struct cf_lease *l, char *err)
{
    uint64_t ep;
    int rc = 0;

    pthread_mutex_lock(&l->mu);
    ep = atomic_load(&l->epoch);
    set_held(l, 0);
    atomic_store(&l->epoch, 0);
    if (ep != 0) {
        rc = cf_db_run(l->db, NULL, 0, err,
                       "UPDATE leases SET holder = '', expires_ms = 0"
                       " WHERE name = ?1 AND holder = ?2 AND epoch = ?3",
                       "tti", l->name, l->me, (int64_t)ep);
        if (rc >= 0)
            rc = 0;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static void *lease_main(void *arg)
{
    struct cf_lease *l = arg;
    uint64_t period_ms = margin_ms(l);
    bool was = false, failing = false;

    pthread_mutex_lock(&l->tmu);
    while (!l->stop) {
        char err[CF_ERR_LEN] = "";
        struct timespec at;
        int rc;

        pthread_mutex_unlock(&l->tmu);
        rc = cf_lease_try(l, err);
        if (rc < 0 && !failing)
            cf_log(CF_LOG_WARN, "lease \"%s\": not renewed: %s", l->name, err);
        failing = rc < 0;
        if (cf_lease_held(l) != was) {
            was = !was;
            cf_log(CF_LOG_INFO, "lease \"%s\": %s (epoch %" PRIu64 ")", l->name,
                   was ? "taken, this process does the duty" : "lost, the duty stops here",
                   atomic_load(&l->epoch));
        }
        pthread_mutex_lock(&l->tmu);
        at = cf_deadline_mono_in(period_ms);
        while (!l->stop && pthread_cond_timedwait(&l->tcv, &l->tmu, &at) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&l->tmu);
    return NULL;
}

int cf_lease_start(struct cf_lease *l)
{
    if (l->started)
        return CF_EINVAL;
    if (pthread_create(&l->thread, NULL, lease_main, l) != 0)
        return CF_EINTERNAL;
    l->started = true;
    return 0;
}

void cf_lease_close(struct cf_lease *l)
{
    char err[CF_ERR_LEN] = "";

    if (l == NULL)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->tmu);
        l->stop = true;
        pthread_cond_broadcast(&l->tcv);
        pthread_mutex_unlock(&l->tmu);
        pthread_join(l->thread, NULL);
    }
    if (l->db != NULL && cf_lease_release(l, err) < 0)
        cf_log(CF_LOG_WARN, "lease \"%s\": not released (it expires by itself): %s", l->name, err);
    cf_metric_set(l->m_held, 0);
    cf_db_close(l->db);
    pthread_cond_destroy(&l->tcv);
    pthread_mutex_destroy(&l->tmu);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
