/*
 * job.c -- resumable maintenance jobs: the jobs table, threads, progress,
 * bandwidth limit, the scheduler and the HTTP API (job.h).
 *
 * A job's row is found again by (kind, akey): akey is the canonical text of
 * its arguments (jobargs.c) without the tunable ones (a bandwidth limit may
 * change between runs of one job). A row whose state is "running" belongs to the process named by
 * its owner column ("host:pid:random"); that process is known dead when it is on this host and its
 * pid is gone (or reused: another random part), or when the row's heartbeat (`updated`) is older
 * than CF_JOB_STALE_MS. Only then can another process resume it: two runs of one job at once would
 * do the work twice and race on the cursor.
 *
 * Counters are written to the row only with a checkpoint (and at the end of
 * a job that finished), so a resumed job's counts match its cursor: work
 * redone after a crash is counted once more at most for the batch in flight.
 */
#include "coffer/job.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/http.h"
#include "coffer/lease.h"
#include "coffer/log.h"
#include "coffer/metrics.h"

#define JOBS_PATH "/v1/admin/jobs"
/* Rows GET /v1/admin/jobs lists. */
#define LIST_MAX 50
/* The heartbeat period: well under CF_JOB_STALE_MS, so a live job's row
 * never looks dead to another process. */
#define BEAT_MS 2000
/* The tick of the heartbeat and scheduler thread. */
#define TICK_MS      500
#define OWNER_MAX    160
#define SCHEDULE_MAX 8
#define NAME_MAX_LEN 31
/* A job's JSON texts (args, counters) in the table. */
#define TEXT_MAX (16 * 1024)

static const char schema[] = "CREATE TABLE IF NOT EXISTS jobs ("
                             " id BIGINT PRIMARY KEY,"
                             " kind TEXT NOT NULL,"
                             " args TEXT NOT NULL,"
                             " akey TEXT NOT NULL,"
                             " state TEXT NOT NULL,"
                             " cursor TEXT NOT NULL,"
                             " counters TEXT NOT NULL,"
                             " owner TEXT NOT NULL,"
                             " started BIGINT NOT NULL,"
                             " updated BIGINT NOT NULL,"
                             " message TEXT NOT NULL);"
                             "CREATE INDEX IF NOT EXISTS jobs_by_args ON jobs (kind, akey, id)";

struct counter {
    char name[NAME_MAX_LEN + 1];
    uint64_t v;
};

struct cf_job {
    struct cf_jobs *js;
    const struct cf_job_kind *kind;
    uint64_t id;
    json_t *args;
    char *args_text;
    char cursor[CF_JOB_CURSOR_MAX + 1];
    uint64_t started_ms;
    atomic_bool stop;
    bool sync; /* runs on a caller's thread (cf_jobs_run_sync) */

    pthread_mutex_t mu; /* guards the progress below (read by GET) */
    uint64_t total_objects, total_bytes, done_objects, done_bytes;
    struct counter counters[CF_JOB_COUNTERS_MAX];
    size_t ncounters;
    int decile; /* last tenth of progress logged */

    /* Bandwidth limit (job's thread only). */
    double bw;              /* bytes per second; 0: none */
    pthread_mutex_t thr_mu; /* guards the two below (helpers throttle too) */
    uint64_t thr_t0_ns, thr_bytes;

    struct cf_metric *m_done, *m_total, *m_bytes;
    struct cf_job *next;
};

struct schedule {
    const struct cf_job_kind *kind;
    json_t *args;
    uint64_t interval_ms, next_ms;
};

struct cf_jobs {
    struct cf_job_env env;
    char *catalog_uri;
    const struct cf_job_kind *const *kinds;
    size_t nkinds;
    struct cf_db_pool *pool;
    char owner[OWNER_MAX];
    char host[64];

    pthread_mutex_t mu; /* guards running, closing, sched */
    pthread_cond_t cv;  /* a job ended, or closing */
    struct cf_job *running;
    bool closing;
    struct schedule sched[SCHEDULE_MAX];
    size_t nsched;
    pthread_t ticker;
    bool ticker_started;
    /* Lease "app.schedule": of several apps on one catalog, only its holder
     * starts the periodic jobs (lease.h); renewed once a job is scheduled. */
    struct cf_lease *sched_lease;
    bool sched_lease_started; /* under mu */
};

/* ---- small helpers ---- */

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static const struct cf_job_kind *find_kind(const struct cf_jobs *js, const char *name)
{
    for (size_t i = 0; i < js->nkinds; i++)
        if (strcmp(js->kinds[i]->name, name) == 0)
            return js->kinds[i];
    return NULL;
}

/* Whether the process that wrote owner (a running row not run here) is
 * gone, so its job may be resumed. */
static bool owner_dead(const struct cf_jobs *js, const char *owner, uint64_t updated_ms)
{
    char host[64];
    const char *c1 = strchr(owner, ':'), *c2;
    unsigned long long pid;
    char *end = NULL;

    if (cf_wall_ms() > updated_ms + CF_JOB_STALE_MS)
        return true;
    if (strcmp(owner, js->owner) == 0)
        return true; /* ours, yet not in the running list: it ended badly */
    if (c1 == NULL || (size_t)(c1 - owner) >= sizeof(host))
        return false;
    memcpy(host, owner, (size_t)(c1 - owner));
    host[c1 - owner] = '\0';
    if (strcmp(host, js->host) != 0)
        return false;
    errno = 0;
    pid = strtoull(c1 + 1, &end, 10);
    c2 = end;
    if (errno != 0 || c2 == c1 + 1 || *c2 != ':' || pid == 0 || pid > INT32_MAX)
        return false;
    if ((pid_t)pid == getpid())
        return true; /* our pid, another random part: an earlier process */
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* The progress and counters as the JSON written with a checkpoint. Caller
 * owns. Takes j->mu. */
static json_t *progress_json(struct cf_job *j)
{
    json_t *o, *c = json_object();

    pthread_mutex_lock(&j->mu);
    for (size_t i = 0; i < j->ncounters; i++)
        (void)json_object_set_new(c, j->counters[i].name,
                                  json_integer((json_int_t)j->counters[i].v));
    o = json_pack("{s:I,s:I,s:I,s:I,s:o}", "total_objects", (json_int_t)j->total_objects,
                  "done_objects", (json_int_t)j->done_objects, "total_bytes",
                  (json_int_t)j->total_bytes, "done_bytes", (json_int_t)j->done_bytes, "counters",
                  c);
    pthread_mutex_unlock(&j->mu);
    return o;
}

static uint64_t json_u64(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));

    return v > 0 ? (uint64_t)v : 0;
}

/* Load the progress saved in a row (text of progress_json). */
static void progress_load(struct cf_job *j, const char *text)
{
    json_t *o = json_loads(text, 0, NULL), *c = json_object_get(o, "counters");
    const char *name;
    json_t *v;

    j->total_objects = json_u64(o, "total_objects");
    j->done_objects = json_u64(o, "done_objects");
    j->total_bytes = json_u64(o, "total_bytes");
    j->done_bytes = json_u64(o, "done_bytes");
    json_object_foreach(c, name, v)
    {
        if (j->ncounters < CF_JOB_COUNTERS_MAX && strlen(name) <= NAME_MAX_LEN &&
            json_is_integer(v)) {
            (void)snprintf(j->counters[j->ncounters].name, sizeof(j->counters[0].name), "%s", name);
            j->counters[j->ncounters++].v = json_u64(c, name);
        }
    }
    json_decref(o);
}

static void update_metrics(struct cf_job *j)
{
    cf_metric_set(j->m_done, (int64_t)j->done_objects);
    cf_metric_set(j->m_total, (int64_t)j->total_objects);
    cf_metric_set(j->m_bytes, (int64_t)j->done_bytes);
}

/* ---- for a job's run function ---- */

const struct cf_job_env *cf_job_env(struct cf_job *j)
{
    return &j->js->env;
}

const json_t *cf_job_args(struct cf_job *j)
{
    return j->args;
}

uint64_t cf_job_id(struct cf_job *j)
{
    return j->id;
}

const char *cf_job_cursor(struct cf_job *j)
{
    return j->cursor;
}

bool cf_job_should_stop(struct cf_job *j)
{
    return atomic_load(&j->stop);
}

void cf_job_set_total(struct cf_job *j, uint64_t objects, uint64_t bytes)
{
    pthread_mutex_lock(&j->mu);
    j->total_objects = objects;
    j->total_bytes = bytes;
    update_metrics(j);
    pthread_mutex_unlock(&j->mu);
}

void cf_job_reset_progress(struct cf_job *j)
{
    pthread_mutex_lock(&j->mu);
    j->total_objects = j->total_bytes = j->done_objects = j->done_bytes = 0;
    j->ncounters = 0;
    j->decile = 0;
    update_metrics(j);
    pthread_mutex_unlock(&j->mu);
}

void cf_job_done(struct cf_job *j, uint64_t objects, uint64_t bytes)
{
    uint64_t done, total;
    int decile = -1;

    pthread_mutex_lock(&j->mu);
    j->done_objects += objects;
    j->done_bytes += bytes;
    done = j->done_objects;
    total = j->total_objects;
    if (total > 0 && done <= total && (int)(done * 10 / total) > j->decile) {
        j->decile = (int)(done * 10 / total);
        decile = j->decile;
    }
    update_metrics(j);
    pthread_mutex_unlock(&j->mu);
    if (decile > 0 && decile < 10)
        cf_job_log(j, NULL, 0, NULL, "%d0%% done (%" PRIu64 " of %" PRIu64 " objects)", decile,
                   done, total);
}

uint64_t cf_job_done_objects(struct cf_job *j)
{
    uint64_t v;

    pthread_mutex_lock(&j->mu);
    v = j->done_objects;
    pthread_mutex_unlock(&j->mu);
    return v;
}

static struct counter *counter_of(struct cf_job *j, const char *name, bool create)
{
    for (size_t i = 0; i < j->ncounters; i++)
        if (strcmp(j->counters[i].name, name) == 0)
            return &j->counters[i];
    if (!create || j->ncounters == CF_JOB_COUNTERS_MAX || strlen(name) > NAME_MAX_LEN)
        return NULL;
    (void)snprintf(j->counters[j->ncounters].name, sizeof(j->counters[0].name), "%s", name);
    j->counters[j->ncounters].v = 0;
    return &j->counters[j->ncounters++];
}

void cf_job_count(struct cf_job *j, const char *name, uint64_t n)
{
    struct counter *c;

    pthread_mutex_lock(&j->mu);
    c = counter_of(j, name, true);
    if (c != NULL)
        c->v += n;
    pthread_mutex_unlock(&j->mu);
    if (c == NULL)
        cf_log(CF_LOG_ERROR, "job %" PRIu64 ": counter \"%s\" dropped (at most %d)", j->id, name,
               CF_JOB_COUNTERS_MAX);
}

uint64_t cf_job_counter(struct cf_job *j, const char *name)
{
    struct counter *c;
    uint64_t v;

    pthread_mutex_lock(&j->mu);
    c = counter_of(j, name, false);
    v = c ? c->v : 0;
    pthread_mutex_unlock(&j->mu);
    return v;
}

int cf_job_checkpoint(struct cf_job *j, const char *cursor, char *err)
{
    struct cf_db *db = NULL;
    struct cf_db_stmt *s = NULL;
    json_t *p = NULL;
    char *text = NULL;
    int rc;

    if (strlen(cursor) > CF_JOB_CURSOR_MAX) {
        cf_err_set(err, "cursor over %d bytes", CF_JOB_CURSOR_MAX);
        return CF_EINVAL;
    }
    p = progress_json(j);
    text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        rc = CF_EINTERNAL;
        cf_err_set(err, "cannot encode the counters");
        goto out;
    }
    db = cf_db_pool_acquire(j->js->pool);
    rc = cf_db_prepare(db, "UPDATE jobs SET cursor = ?1, counters = ?2, updated = ?3 WHERE id = ?4",
                       &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_text(s, 1, cursor);
    cf_db_bind_text(s, 2, text);
    cf_db_bind_int64(s, 3, (int64_t)cf_wall_ms());
    cf_db_bind_int64(s, 4, (int64_t)j->id);
    rc = cf_db_step_one(s, NULL, 0, err);
    if (rc < 0)
        goto out;
    (void)snprintf(j->cursor, sizeof(j->cursor), "%s", cursor);
    rc = 0;
out:
    cf_db_finalize(s);
    if (db != NULL)
        cf_db_pool_release(j->js->pool, db);
    free(text);
    json_decref(p);
    return rc;
}

void cf_job_throttle(struct cf_job *j, uint64_t bytes)
{
    uint64_t now;
    double due, elapsed;

    if (j->bw <= 0)
        return;
    pthread_mutex_lock(&j->thr_mu);
    now = cf_now_ns();
    if (j->thr_t0_ns == 0)
        j->thr_t0_ns = now;
    j->thr_bytes += bytes;
    for (;;) {
        elapsed = (double)(now - j->thr_t0_ns) / 1e9;
        due = (double)j->thr_bytes / j->bw;
        /* No credit builds up while the job is slow for other reasons: a
         * burst later must still keep to the limit. */
        if (elapsed > due + 1.0) {
            j->thr_t0_ns = now;
            j->thr_bytes = 0;
            break;
        }
        if (due <= elapsed || cf_job_should_stop(j))
            break;
        sleep_ms((uint64_t)((due - elapsed) * 1000) > 50 ? 50
                                                         : (uint64_t)((due - elapsed) * 1000) + 1);
        now = cf_now_ns();
    }
    pthread_mutex_unlock(&j->thr_mu);
}

void cf_job_log(struct cf_job *j, const char *kind, uint32_t filer, const char *object,
                const char *fmt, ...)
{
    char msg[CF_SCRIBE_MSG_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cf_log(CF_LOG_INFO, "job %" PRIu64 " (%s): %s", j->id, j->kind->name, msg);
    (void)cf_scribe_event(j->js->env.scribe, kind ? kind : CF_SCRIBE_JOB, filer, object,
                          "job %" PRIu64 " (%s): %s", j->id, j->kind->name, msg);
}

/* ---- rows ---- */

static const char row_cols[] =
    "id, kind, args, state, cursor, counters, owner, started, updated, message";

/* A row (columns row_cols) as the JSON of GET. Caller owns. */
static json_t *row_json(const struct cf_jobs *js, struct cf_db_stmt *s)
{
    const char *state = cf_db_column_text(s, 3, NULL), *owner = cf_db_column_text(s, 6, NULL);
    uint64_t updated = (uint64_t)cf_db_column_int64(s, 8);
    json_t *args = json_loads(cf_db_column_text(s, 2, NULL), 0, NULL);
    json_t *p = json_loads(cf_db_column_text(s, 5, NULL), 0, NULL);
    json_t *counters = json_object_get(p, "counters");
    json_t *o;

    /* Both are stolen by "s:o" below. */
    counters = json_is_object(counters) ? json_incref(counters) : json_object();
    if (args == NULL)
        args = json_object();
    if (state == NULL)
        state = "failed";
    if (strcmp(state, "running") == 0 && owner_dead(js, owner ? owner : "", updated))
        state = "interrupted";
    o = json_pack("{s:I,s:s,s:o,s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:s,s:I,s:I}", "id",
                  (json_int_t)cf_db_column_int64(s, 0), "kind", cf_db_column_text(s, 1, NULL),
                  "args", args, "state", state, "cursor", cf_db_column_text(s, 4, NULL),
                  "total_objects", (json_int_t)json_u64(p, "total_objects"), "done_objects",
                  (json_int_t)json_u64(p, "done_objects"), "total_bytes",
                  (json_int_t)json_u64(p, "total_bytes"), "done_bytes",
                  (json_int_t)json_u64(p, "done_bytes"), "counters", counters, "message",
                  cf_db_column_text(s, 9, NULL), "started_ms", (json_int_t)cf_db_column_int64(s, 7),
                  "updated_ms", (json_int_t)updated);
    json_decref(p);
    return o;
}

/* A job running here as the JSON of GET. Caller owns. */
static json_t *job_json(struct cf_job *j)
{
    json_t *p = progress_json(j), *o;

    o = json_pack("{s:I,s:s,s:O,s:s,s:s,s:s,s:I,s:I}", "id", (json_int_t)j->id, "kind",
                  j->kind->name, "args", j->args, "state", "running", "cursor", j->cursor,
                  "message", "", "started_ms", (json_int_t)j->started_ms, "updated_ms",
                  (json_int_t)cf_wall_ms());
    (void)json_object_update(o, p);
    json_decref(p);
    return o;
}

/* Write a job's end. */
static void finish_row(struct cf_job *j, const char *state, const char *message)
{
    struct cf_db *db = cf_db_pool_acquire(j->js->pool);
    struct cf_db_stmt *s = NULL;
    json_t *p = NULL;
    char *text = NULL, err[CF_ERR_LEN] = "";
    int rc;

    /* Counters go with the state only when nothing is left to resume:
     * otherwise they stay as the last checkpoint saved them (see top). */
    if (strcmp(state, "done") == 0) {
        p = progress_json(j);
        text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    }
    rc = cf_db_prepare(db,
                       "UPDATE jobs SET state = ?1, message = ?2, updated = ?3,"
                       " counters = coalesce(?4, counters) WHERE id = ?5",
                       &s, err);
    if (rc == 0) {
        cf_db_bind_text(s, 1, state);
        cf_db_bind_text(s, 2, message);
        cf_db_bind_int64(s, 3, (int64_t)cf_wall_ms());
        cf_db_bind_text(s, 4, text);
        cf_db_bind_int64(s, 5, (int64_t)j->id);
        rc = cf_db_step_one(s, NULL, 0, err);
    }
    if (rc < 0)
        cf_log(CF_LOG_WARN, "job %" PRIu64 ": cannot record its end (%s): %s", j->id, state, err);
    cf_db_finalize(s);
    cf_db_pool_release(j->js->pool, db);
    free(text);
    json_decref(p);
}

/* ---- starting, running, ending ---- */

static void job_free(struct cf_job *j)
{
    if (j == NULL)
        return;
    json_decref(j->args);
    free(j->args_text);
    pthread_mutex_destroy(&j->mu);
    pthread_mutex_destroy(&j->thr_mu);
    free(j);
}

/* Canonical text of args (checked), with or without the kind's tunable
 * arguments. Caller owns. */
static char *canonical(const struct cf_job_kind *k, const json_t *args, bool with_tunable)
{
    json_t *c = json_deep_copy(args);
    char *t;

    for (size_t i = 0; i < k->nargs && !with_tunable; i++)
        if (k->args[i].tunable)
            (void)json_object_del(c, k->args[i].name);
    t = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(c);
    return t;
}

/* Find the row to resume or make a new one; fill j->id, cursor, progress.
 * Returns 0, CF_EEXIST (*busy_id: running in a live process), or a db.h
 * error. */
static int claim_row(struct cf_jobs *js, struct cf_job *j, const char *akey, uint64_t *busy_id,
                     char *err)
{
    struct cf_db *db = cf_db_pool_acquire(js->pool);
    struct cf_db_stmt *s = NULL;
    uint64_t now = cf_wall_ms();
    bool resume = false;
    int rc;

    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    /* One job of a kind at a time in the whole cluster: a running row of
     * this kind in a live process (any args) refuses the start. Inside the
     * write transaction, so two apps cannot both pass this check. */
    rc = cf_db_query(db, &s, err,
                     "SELECT id, owner, updated FROM jobs WHERE kind = ?1 AND state = 'running'"
                     " AND akey <> ?2 ORDER BY id DESC",
                     "tt", j->kind->name, akey);
    while (rc >= 0) {
        const char *owner;
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        owner = cf_db_column_text(s, 1, NULL);
        if (!owner_dead(js, owner ? owner : "", (uint64_t)cf_db_column_int64(s, 2))) {
            *busy_id = (uint64_t)cf_db_column_int64(s, 0);
            rc = CF_EEXIST;
            cf_err_set(err, "job %" PRIu64 " of kind %s is running in another process (%s)",
                       *busy_id, j->kind->name, owner ? owner : "?");
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    cf_db_finalize(s);
    s = NULL;
    rc = cf_db_prepare(db,
                       "SELECT id, state, cursor, counters, owner, updated FROM jobs"
                       " WHERE kind = ?1 AND akey = ?2 AND state IN ('running','stopped','failed')"
                       " ORDER BY id DESC LIMIT 1",
                       &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_text(s, 1, j->kind->name);
    cf_db_bind_text(s, 2, akey);
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_ROW) {
        const char *state = cf_db_column_text(s, 1, NULL), *owner = cf_db_column_text(s, 4, NULL);
        j->id = (uint64_t)cf_db_column_int64(s, 0);
        if (strcmp(state, "running") == 0 &&
            !owner_dead(js, owner ? owner : "", (uint64_t)cf_db_column_int64(s, 5))) {
            *busy_id = j->id;
            rc = CF_EEXIST;
            cf_err_set(err, "job %" PRIu64 " is running in another process (%s)", j->id,
                       owner ? owner : "?");
            goto out;
        }
        rc = cf_db_column_copy_text(s, 2, j->cursor, sizeof(j->cursor));
        if (rc < 0) {
            cf_err_set(err, "job %" PRIu64 ": cursor too long", j->id);
            goto out;
        }
        progress_load(j, cf_db_column_text(s, 3, NULL));
        resume = true;
    }
    cf_db_finalize(s);
    s = NULL;
    if (resume) {
        rc = cf_db_prepare(db,
                           "UPDATE jobs SET state = 'running', owner = ?1, updated = ?2,"
                           " message = '', args = ?3 WHERE id = ?4",
                           &s, err);
        if (rc < 0)
            goto out;
        cf_db_bind_text(s, 1, js->owner);
        cf_db_bind_int64(s, 2, (int64_t)now);
        cf_db_bind_text(s, 3, j->args_text);
        cf_db_bind_int64(s, 4, (int64_t)j->id);
        rc = cf_db_step_one(s, NULL, 0, err);
    } else {
        int64_t next = 0;
        rc = cf_db_prepare(db, "SELECT coalesce(max(id), 0) + 1 FROM jobs", &s, err);
        if (rc < 0)
            goto out;
        rc = cf_db_step_one(s, &next, 1, err);
        if (rc < 0)
            goto out;
        cf_db_finalize(s);
        s = NULL;
        j->id = (uint64_t)next;
        rc = cf_db_prepare(db,
                           "INSERT INTO jobs (id, kind, args, akey, state, cursor, counters, owner,"
                           " started, updated, message)"
                           " VALUES (?1, ?2, ?3, ?4, 'running', '', '{}', ?5, ?6, ?6, '')",
                           &s, err);
        if (rc < 0)
            goto out;
        cf_db_bind_int64(s, 1, next);
        cf_db_bind_text(s, 2, j->kind->name);
        cf_db_bind_text(s, 3, j->args_text);
        cf_db_bind_text(s, 4, akey);
        cf_db_bind_text(s, 5, js->owner);
        cf_db_bind_int64(s, 6, (int64_t)now);
        rc = cf_db_step_one(s, NULL, 0, err);
    }
    if (rc < 0)
        goto out;
    cf_db_finalize(s);
    s = NULL;
    rc = cf_db_commit(db, err);
    if (rc < 0)
        goto out;
    if (resume)
        cf_job_log(j, NULL, 0, NULL, "resumed at \"%s\" (%" PRIu64 " objects done before)",
                   j->cursor, j->done_objects);
    else
        cf_job_log(j, NULL, 0, NULL, "started with %s", j->args_text);
    rc = 0;
out:
    cf_db_finalize(s);
    if (rc < 0)
        cf_db_rollback(db);
    cf_db_pool_release(js->pool, db);
    return rc;
}

/* Make a job of kind with args, registered as running here. */
static int begin(struct cf_jobs *js, const char *kind, const json_t *args, bool sync,
                 struct cf_job **out, uint64_t *id, char *err)
{
    const struct cf_job_kind *k = find_kind(js, kind);
    struct cf_job *j = NULL;
    char *akey = NULL, labels[64];
    int rc;

    if (k == NULL) {
        cf_err_set(err, "no job kind \"%.32s\"", kind);
        return CF_ENOTFOUND;
    }
    if (args != NULL && !json_is_object(args)) {
        cf_err_set(err, "args must be a JSON object");
        return CF_EINVAL;
    }
    j = cf_xcalloc(1, sizeof(*j));
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->thr_mu, NULL);
    j->js = js;
    j->kind = k;
    j->sync = sync;
    j->args = args ? json_deep_copy(args) : json_object();
    atomic_init(&j->stop, false);
    rc = cf_job_args_check(k->args, k->nargs, j->args, err);
    if (rc == 0 && k->check != NULL)
        rc = k->check(&js->env, j->args, err);
    if (rc < 0)
        goto out;
    /* CF_JOB_ARG_BW_MBPS, checked above when the kind takes it. */
    j->bw = json_number_value(json_object_get(j->args, "bw_mbps")) * 1e6;
    j->args_text = canonical(k, j->args, true);
    akey = canonical(k, j->args, false);
    if (j->args_text == NULL || akey == NULL || strlen(j->args_text) > TEXT_MAX) {
        rc = CF_EINVAL;
        cf_err_set(err, "args cannot be encoded or are over %d bytes", TEXT_MAX);
        goto out;
    }
    (void)snprintf(labels, sizeof(labels), "kind=\"%s\"", k->name);
    j->m_done =
        cf_metric_gauge("coffer_job_done_objects", "Objects a running job has done", labels);
    j->m_total =
        cf_metric_gauge("coffer_job_total_objects", "Objects a running job expects", labels);
    j->m_bytes = cf_metric_gauge("coffer_job_done_bytes", "Bytes a running job has moved", labels);
    pthread_mutex_lock(&js->mu);
    if (js->closing) {
        rc = CF_ECANCELED;
        cf_err_set(err, "shutting down");
    }
    for (struct cf_job *r = js->running; r != NULL && rc == 0; r = r->next)
        if (r->kind == k) {
            *id = r->id;
            rc = CF_EEXIST;
            cf_err_set(err, "job %" PRIu64 " of kind %s is already running", r->id, k->name);
        }
    if (rc == 0)
        rc = claim_row(js, j, akey, id, err);
    if (rc == 0) {
        j->started_ms = cf_wall_ms();
        j->next = js->running;
        js->running = j;
        *id = j->id;
        *out = j;
        j = NULL;
    }
    pthread_mutex_unlock(&js->mu);
out:
    free(akey);
    job_free(j);
    return rc;
}

/* j's counters as "name=v, ..." in buf (cut at size), for the end event:
 * routine per-object successes are counted, not logged. */
static void counters_text(const struct cf_job *j, char *buf, size_t size)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < j->ncounters && off < size; i++) {
        int n = snprintf(buf + off, size - off, "%s%s=%" PRIu64, i ? ", " : "", j->counters[i].name,
                         j->counters[i].v);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

/* Run j to its end, record it, unregister and free it. Returns the run's
 * result. */
static int run_and_end(struct cf_job *j, char *err)
{
    struct cf_jobs *js = j->js;
    char why[CF_ERR_LEN] = "", counts[512];
    const char *state;
    int rc;

    update_metrics(j);
    rc = j->kind->run(j, why);
    if (rc == 0)
        state = "done";
    else if (rc == CF_ECANCELED)
        state = "stopped";
    else
        state = "failed";
    if (rc < 0 && why[0] == '\0')
        (void)snprintf(why, sizeof(why), "%s", cf_strerror(rc));
    finish_row(j, state, rc == 0 ? "" : why);
    counters_text(j, counts, sizeof(counts));
    cf_job_log(j, NULL, 0, NULL, "%s after %" PRIu64 " of %" PRIu64 " objects (%s)%s%s", state,
               j->done_objects, j->total_objects, counts, rc < 0 ? ": " : "", rc < 0 ? why : "");
    if (err != NULL && rc < 0)
        cf_err_set(err, "%s", why);
    pthread_mutex_lock(&js->mu);
    for (struct cf_job **p = &js->running; *p != NULL; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    job_free(j);
    pthread_cond_broadcast(&js->cv);
    pthread_mutex_unlock(&js->mu);
    return rc;
}

static void *job_main(void *arg)
{
    (void)run_and_end(arg, NULL);
    return NULL;
}

int cf_jobs_start(struct cf_jobs *js, const char *kind, const json_t *args, uint64_t *id, char *err)
{
    struct cf_job *j = NULL;
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    rc = begin(js, kind, args, false, &j, id, err);
    if (rc < 0)
        return rc;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Detached: the thread unregisters itself, and cf_jobs_close waits for
     * the running list to empty. */
    if (pthread_create(&t, &attr, job_main, j) != 0) {
        pthread_attr_destroy(&attr);
        atomic_store(&j->stop, true);
        cf_err_set(err, "cannot start a thread");
        /* Record it as failed, so a retry resumes it. */
        finish_row(j, "failed", "cannot start a thread");
        pthread_mutex_lock(&js->mu);
        for (struct cf_job **p = &js->running; *p != NULL; p = &(*p)->next)
            if (*p == j) {
                *p = j->next;
                break;
            }
        job_free(j);
        pthread_cond_broadcast(&js->cv);
        pthread_mutex_unlock(&js->mu);
        return CF_EINTERNAL;
    }
    pthread_attr_destroy(&attr);
    return 0;
}

int cf_jobs_run_sync(struct cf_jobs *js, const char *kind, const json_t *args, char *err)
{
    struct cf_job *j = NULL;
    uint64_t id = 0;
    int rc;

    rc = begin(js, kind, args, true, &j, &id, err);
    if (rc < 0)
        return rc;
    return run_and_end(j, err);
}

/* ---- the heartbeat and scheduler thread ---- */

static void heartbeat(struct cf_jobs *js)
{
    uint64_t ids[64];
    size_t n = 0;
    struct cf_db *db;
    char err[CF_ERR_LEN] = "";

    pthread_mutex_lock(&js->mu);
    for (struct cf_job *j = js->running; j != NULL && n < CF_ARRAY_LEN(ids); j = j->next)
        ids[n++] = j->id;
    pthread_mutex_unlock(&js->mu);
    if (n == 0)
        return;
    db = cf_db_pool_acquire(js->pool);
    for (size_t i = 0; i < n; i++) {
        struct cf_db_stmt *s = NULL;
        int rc = cf_db_prepare(
            db, "UPDATE jobs SET updated = ?1 WHERE id = ?2 AND owner = ?3 AND state = 'running'",
            &s, err);
        if (rc == 0) {
            cf_db_bind_int64(s, 1, (int64_t)cf_wall_ms());
            cf_db_bind_int64(s, 2, (int64_t)ids[i]);
            cf_db_bind_text(s, 3, js->owner);
            rc = cf_db_step_one(s, NULL, 0, err);
        }
        cf_db_finalize(s);
        if (rc < 0)
            cf_log(CF_LOG_WARN, "job %" PRIu64 ": heartbeat not recorded: %s", ids[i], err);
    }
    cf_db_pool_release(js->pool, db);
}

/* Start scheduled jobs that are due. */
static uint64_t last_started(struct cf_jobs *js, const char *kind);

static void run_schedule(struct cf_jobs *js)
{
    uint64_t now = cf_wall_ms();

    for (size_t i = 0; i < js->nsched; i++) {
        struct schedule *e = &js->sched[i];
        char err[CF_ERR_LEN] = "";
        uint64_t id = 0, last;
        int rc;

        if (now < e->next_ms || !cf_lease_held(js->sched_lease))
            continue;
        /* Another app may have started it while it held the lease. */
        last = last_started(js, e->kind->name);
        if (last + e->interval_ms > now) {
            e->next_ms = last + e->interval_ms;
            continue;
        }
        e->next_ms = now + e->interval_ms;
        rc = cf_jobs_start(js, e->kind->name, e->args, &id, err);
        if (rc < 0 && rc != CF_EEXIST)
            cf_log(CF_LOG_WARN, "periodic %s job not started: %s", e->kind->name, err);
    }
}

static void *ticker_main(void *arg)
{
    struct cf_jobs *js = arg;
    uint64_t last_beat = 0;

    pthread_mutex_lock(&js->mu);
    while (!js->closing) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&js->cv, &js->mu, &ts);
        if (js->closing)
            break;
        pthread_mutex_unlock(&js->mu);
        if (cf_now_ns() / 1000000 >= last_beat + BEAT_MS) {
            last_beat = cf_now_ns() / 1000000;
            heartbeat(js);
        }
        pthread_mutex_lock(&js->mu);
        if (!js->closing) {
            pthread_mutex_unlock(&js->mu);
            run_schedule(js);
            pthread_mutex_lock(&js->mu);
        }
    }
    pthread_mutex_unlock(&js->mu);
    return NULL;
}

/* When a job of kind last started, from the table (0: never). */
static uint64_t last_started(struct cf_jobs *js, const char *kind)
{
    struct cf_db *db = cf_db_pool_acquire(js->pool);
    struct cf_db_stmt *s = NULL;
    int64_t v = 0;

    if (cf_db_prepare(db, "SELECT coalesce(max(started), 0) FROM jobs WHERE kind = ?1", &s, NULL) ==
        0) {
        cf_db_bind_text(s, 1, kind);
        if (cf_db_step_one(s, &v, 1, NULL) < 0)
            v = 0;
    }
    cf_db_finalize(s);
    cf_db_pool_release(js->pool, db);
    return v > 0 ? (uint64_t)v : 0;
}

int cf_jobs_schedule(struct cf_jobs *js, const char *kind, const json_t *args, uint64_t interval_ms)
{
    const struct cf_job_kind *k = find_kind(js, kind);
    uint64_t last;
    int rc = 0;

    if (k == NULL)
        return CF_ENOTFOUND;
    if (interval_ms == 0)
        return CF_EINVAL;
    last = last_started(js, kind);
    pthread_mutex_lock(&js->mu);
    if (js->nsched == SCHEDULE_MAX) {
        rc = CF_ETOOMANY;
    } else if (!js->sched_lease_started && cf_lease_start(js->sched_lease) < 0) {
        rc = CF_EINTERNAL;
    } else {
        js->sched_lease_started = true;
        struct schedule *e = &js->sched[js->nsched++];
        e->kind = k;
        e->args = args ? json_deep_copy(args) : json_object();
        e->interval_ms = interval_ms;
        e->next_ms = (last ? last : cf_wall_ms()) + interval_ms;
    }
    pthread_mutex_unlock(&js->mu);
    return rc;
}

/* ---- open / close ---- */

int cf_jobs_open(const struct cf_job_env *env, const struct cf_job_kind *const *kinds,
                 size_t nkinds, struct cf_jobs **out, char *err)
{
    struct cf_jobs *js = cf_xcalloc(1, sizeof(*js));
    struct cf_db *db = NULL;
    uint64_t rnd = 0;
    int rc;

    pthread_mutex_init(&js->mu, NULL);
    pthread_cond_init(&js->cv, NULL);
    js->env = *env;
    js->catalog_uri = cf_xstrdup(env->catalog_uri ? env->catalog_uri : "");
    js->env.catalog_uri = js->catalog_uri;
    js->kinds = kinds;
    js->nkinds = nkinds;
    if (gethostname(js->host, sizeof(js->host) - 1) < 0)
        (void)snprintf(js->host, sizeof(js->host), "localhost");
    for (char *p = js->host; *p; p++)
        if (*p == ':')
            *p = '_';
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = cf_now_ns();
    /* host:pid:random, then the instance's name for people (owner_dead
     * reads the first three fields only). */
    (void)snprintf(js->owner, sizeof(js->owner), "%s:%ld:%016" PRIx64 "%s%.64s", js->host,
                   (long)getpid(), rnd, env->instance ? " " : "",
                   env->instance ? env->instance : "");
    rc = cf_db_pool_open(js->catalog_uri, 2, &js->pool, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(js->pool);
    rc = cf_db_exec_schema(db, schema, err);
    cf_db_pool_release(js->pool, db);
    if (rc < 0)
        goto out;
    rc = cf_lease_open(js->catalog_uri, "app.schedule", env->instance, 0, &js->sched_lease, err);
    if (rc < 0)
        goto out;
    js->env.instance = NULL; /* not kept (job.h) */
    if (pthread_create(&js->ticker, NULL, ticker_main, js) != 0) {
        cf_err_set(err, "cannot start the job scheduler thread");
        rc = CF_EINTERNAL;
        goto out;
    }
    js->ticker_started = true;
    *out = js;
    js = NULL;
out:
    cf_jobs_close(js);
    return rc;
}

void cf_jobs_close(struct cf_jobs *js)
{
    if (js == NULL)
        return;
    pthread_mutex_lock(&js->mu);
    js->closing = true;
    for (struct cf_job *j = js->running; j != NULL; j = j->next)
        atomic_store(&j->stop, true);
    pthread_cond_broadcast(&js->cv);
    pthread_mutex_unlock(&js->mu);
    if (js->ticker_started)
        pthread_join(js->ticker, NULL);
    pthread_mutex_lock(&js->mu);
    while (js->running != NULL)
        pthread_cond_wait(&js->cv, &js->mu);
    pthread_mutex_unlock(&js->mu);
    for (size_t i = 0; i < js->nsched; i++)
        json_decref(js->sched[i].args);
    cf_lease_close(js->sched_lease);
    cf_db_pool_close(js->pool);
    free(js->catalog_uri);
    pthread_cond_destroy(&js->cv);
    pthread_mutex_destroy(&js->mu);
    free(js);
}

/* ---- HTTP ---- */

/* GET one job: running here, else its row. NULL if there is none. */
static json_t *get_job(struct cf_jobs *js, uint64_t id, char *err)
{
    struct cf_db *db;
    struct cf_db_stmt *s = NULL;
    json_t *o = NULL;
    char sql[256];
    int rc;

    pthread_mutex_lock(&js->mu);
    for (struct cf_job *j = js->running; j != NULL; j = j->next)
        if (j->id == id)
            o = job_json(j);
    pthread_mutex_unlock(&js->mu);
    if (o != NULL)
        return o;
    (void)snprintf(sql, sizeof(sql), "SELECT %s FROM jobs WHERE id = ?1", row_cols);
    db = cf_db_pool_acquire(js->pool);
    rc = cf_db_prepare(db, sql, &s, err);
    if (rc == 0) {
        cf_db_bind_int64(s, 1, (int64_t)id);
        rc = cf_db_step(s, err);
        if (rc == CF_DB_ROW)
            o = row_json(js, s);
    }
    cf_db_finalize(s);
    cf_db_pool_release(js->pool, db);
    return o;
}

static enum MHD_Result serve_list(struct cf_jobs *js, struct MHD_Connection *c)
{
    struct cf_db *db = cf_db_pool_acquire(js->pool);
    struct cf_db_stmt *s = NULL;
    json_t *list = json_array();
    char sql[256], err[CF_ERR_LEN] = "";
    int rc;

    (void)snprintf(sql, sizeof(sql), "SELECT %s FROM jobs ORDER BY id DESC LIMIT %d", row_cols,
                   LIST_MAX);
    rc = cf_db_prepare(db, sql, &s, err);
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        rc = 0;
        (void)json_array_append_new(list, row_json(js, s));
    }
    cf_db_finalize(s);
    cf_db_pool_release(js->pool, db);
    if (rc < 0) {
        json_decref(list);
        return cf_http_reply_error(c, rc, "%s", err);
    }
    /* Rows of jobs running here say "running" with live progress. */
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *row = json_array_get(list, i);
        uint64_t id = (uint64_t)json_integer_value(json_object_get(row, "id"));
        pthread_mutex_lock(&js->mu);
        for (struct cf_job *j = js->running; j != NULL; j = j->next)
            if (j->id == id)
                (void)json_array_set_new(list, i, job_json(j));
        pthread_mutex_unlock(&js->mu);
    }
    return cf_http_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "jobs", list));
}

static enum MHD_Result serve_post(struct cf_jobs *js, struct MHD_Connection *c, const char *body,
                                  size_t len)
{
    json_error_t jerr;
    json_t *req = NULL, *o = NULL, *args;
    const char *kind;
    char err[CF_ERR_LEN] = "";
    uint64_t id = 0;
    enum MHD_Result r;
    int rc;

    req = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    kind = json_string_value(json_object_get(req, "kind"));
    args = json_object_get(req, "args");
    if (kind == NULL || (args != NULL && !json_is_object(args))) {
        json_decref(req);
        return cf_http_reply_error(c, CF_EBADREQ, "the body must be {\"kind\":K,\"args\":{...}}");
    }
    rc = cf_jobs_start(js, kind, args, &id, err);
    if (rc == CF_EEXIST) {
        o = json_pack("{s:s,s:s,s:I}", "error", cf_err_name(rc), "message", err, "id",
                      (json_int_t)id);
        r = cf_http_reply_json(c, MHD_HTTP_CONFLICT, o);
    } else if (rc < 0) {
        r = cf_http_reply_error(c, rc == CF_ENOTFOUND ? CF_EBADREQ : rc, "%s", err);
    } else {
        o = get_job(js, id, err);
        if (o == NULL)
            o = json_pack("{s:I,s:s}", "id", (json_int_t)id, "kind", kind);
        r = cf_http_reply_json(c, MHD_HTTP_ACCEPTED, o);
    }
    json_decref(req);
    return r;
}

enum MHD_Result cf_jobs_serve_repair(struct cf_jobs *js, struct MHD_Connection *c, const char *body,
                                     size_t len)
{
    json_t *req = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *kind = json_string_value(json_object_get(req, "kind"));
    json_t *args = json_object_get(req, "args");
    bool ok = json_is_object(req) && json_object_size(req) == 2 && kind != NULL &&
              (strcmp(kind, "rebuild") == 0 || strcmp(kind, "audit") == 0) &&
              json_is_object(args) && json_object_size(args) == 1 &&
              json_is_integer(json_object_get(args, "filer"));

    json_decref(req);
    if (!ok)
        return cf_http_reply_error(c, CF_EBADREQ,
                                   "a repair is {\"kind\":\"rebuild\"|\"audit\","
                                   "\"args\":{\"filer\":F}}");
    return serve_post(js, c, body, len);
}

enum MHD_Result cf_jobs_serve(struct cf_jobs *js, struct MHD_Connection *c, const char *method,
                              const char *url, const char *body, size_t len)
{
    const char *rest = url + strlen(JOBS_PATH);
    unsigned long long id;
    char *end = NULL, err[CF_ERR_LEN] = "";
    json_t *o;
    bool found = false;

    if (strncmp(url, JOBS_PATH, strlen(JOBS_PATH)) != 0)
        return cf_http_reply_error(c, CF_ENOTFOUND, "no such endpoint");
    if (rest[0] == '\0') {
        if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
            return serve_post(js, c, body, len);
        if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
            return serve_list(js, c);
        return cf_http_reply_error(c, CF_EMETHOD, "use GET or POST");
    }
    if (rest[0] != '/' || rest[1] < '0' || rest[1] > '9')
        return cf_http_reply_error(c, CF_ENOTFOUND, "no such endpoint");
    errno = 0;
    id = strtoull(rest + 1, &end, 10);
    if (errno != 0 || *end != '\0' || id > INT64_MAX)
        return cf_http_reply_error(c, CF_EBADREQ, "bad job id");
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
        o = get_job(js, id, err);
        if (o == NULL)
            return cf_http_reply_error(c, CF_ENOTFOUND, "no job %llu%s%s", id, err[0] ? ": " : "",
                                       err);
        return cf_http_reply_json(c, MHD_HTTP_OK, o);
    }
    if (strcmp(method, MHD_HTTP_METHOD_DELETE) != 0)
        return cf_http_reply_error(c, CF_EMETHOD, "use GET or DELETE");
    pthread_mutex_lock(&js->mu);
    for (struct cf_job *j = js->running; j != NULL; j = j->next)
        if (j->id == id) {
            atomic_store(&j->stop, true);
            found = true;
        }
    pthread_mutex_unlock(&js->mu);
    if (!found)
        return cf_http_reply_error(c, CF_ENOTFOUND, "job %llu is not running in this process", id);
    cf_log(CF_LOG_INFO, "job %llu: stop asked", id);
    return cf_http_reply_json(c, MHD_HTTP_ACCEPTED,
                              json_pack("{s:I,s:s}", "id", (json_int_t)id, "state", "stopping"));
}
