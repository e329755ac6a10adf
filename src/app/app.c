/*
 * app.c -- the app role: upload service, object info, filer tracking (app.h).
 */
#include "coffer/app.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "coffer/buf.h"
#include "coffer/clockguard.h"
#include "coffer/cred.h"
#include "coffer/distrib.h"
#include "coffer/err.h"
#include "coffer/fanout.h"
#include "coffer/hex.h"
#include "coffer/http.h"
#include "coffer/httpc.h"
#include "coffer/job.h"
#include "coffer/keyring.h"
#include "coffer/lease.h"
#include "coffer/limits.h"
#include "coffer/log.h"
#include "coffer/metrics.h"
#include "coffer/maint.h"
#include "coffer/net.h"
#include "coffer/objdb.h"
#include "coffer/purge.h"
#include "coffer/registry.h"
#include "coffer/replica.h"
#include "coffer/role.h"
#include "coffer/sha512.h"
#include "coffer/tracker.h"
#include "coffer/uuid.h"

#define OBJECTS "/v1/objects"
/* A repair job asked for by the active monitor (job.h cf_jobs_serve_repair). */
#define REPAIR "/v1/repair"
/* A replica a read found bad, reported by objsrv (serve_findings). */
#define FINDINGS "/v1/findings"
/* Scribe events of findings per filer and minute, at most; the rest are
 * counted in the app's log only, so a broken filer cannot flood the scribe. */
#define FINDING_EVENTS_PER_MIN 30
#define FINDING_GATES          64
#define FINDING_MSG_MAX        512
/* Findings waiting for their check (check_main); one more is dropped with
 * a log line (the next read of that replica reports it again). */
#define CHECK_QUEUE_MAX 64

/* What the findings of one filer did lately (a slot per filer id modulo
 * FINDING_GATES; a slot taken by another filer starts over). */
struct finding_gate {
    uint32_t filer;
    uint64_t window_ms; /* start of the current minute of events */
    unsigned events;    /* events written in it */
    uint64_t dropped;   /* events not written since the last one that was */
};

/* A replica a finding named, waiting for its check (maint.h
 * cf_audit_object). */
struct finding_check {
    struct cf_uuid uuid;
    uint32_t filer;
};

struct cf_app {
    struct cf_objdb *odb;
    struct cf_http_server *http;
    struct cf_cred *cred; /* verifies requests (http.h); freed after http */
    unsigned replicas, stall_s, poll_ms;

    pthread_mutex_t mu; /* guards view and counts */
    struct cf_objdb_filer *view;
    size_t nview;
    /* The last counts_pass (GET /v1/stats); counted_ms 0: none yet. */
    struct cf_objdb_counts counts;
    uint64_t counted_ms;

    pthread_t tracker;
    bool tracker_started;
    /* With track-filers, the polls (tracker.h) and their
     * events; without, the view is only re-read from the summary table. */
    struct cf_tracker *trk;
    struct cf_scribe *trk_scribe;
    pthread_t purger;
    bool purger_started;
    /* Lease "app.purge": of several apps on one catalog, only its holder
     * runs the periodic delete, purge and stale passes (lease.h). */
    struct cf_lease *purge_lease;
    struct cf_metric *m_purge_passes;
    uint64_t purge_retention_ms, purge_interval_ms;
    /* inline dedupe at upload (dedupe.c) */
    bool dedupe;
    /* the master keys that wrap object keys; NULL: no encrypted uploads */
    struct cf_keyring *keyring;
    /* rebuild, rebalance, audit, dedupe (job.h) */
    struct cf_jobs *jobs;
    struct cf_scribe *jobs_scribe;
    uint64_t stale_delay_ms;
    uint64_t upload_hold_ms;
    struct cf_clockguard *clock;    /* "now" of the purge and stale expiry */
    struct cf_scribe *clock_scribe; /* where it reports a jump, and shards_pass's events */
    pthread_mutex_t purge_mu;       /* one pass at a time in this process */
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    uint64_t changes_pruned_ns; /* last prune of the change feed; the tracker thread's */
    /* Full shards (shards_pass, the purger thread's only): add one when
     * needed, and which shards were last seen 90% full, a bit per id. */
    bool auto_shard;
    uint8_t shard_high[(CF_UUID_SHARD_MAX + 1) / 8];
    bool stop;
    /* Findings (serve_findings) and their checks, one at a time on the
     * checker thread (check_main). find_mu guards the gates and the queue,
     * a ring of nchecks entries from checks[check_head]. */
    bool finding_checks; /* false: findings are only logged */
    pthread_mutex_t find_mu;
    pthread_cond_t check_cv; /* a check queued, or check_stop */
    struct finding_gate gates[FINDING_GATES];
    struct finding_check checks[CHECK_QUEUE_MAX];
    size_t check_head, nchecks;
    bool check_stop;
    pthread_t checker;
    bool checker_started;
};

/* One upload in progress. */
struct cf_app_upload {
    struct cf_app *a; /* NULL for a jobs body */
    bool finished;    /* cf_app_upload_finish returned */
    bool committed;   /* the record is in the object database */
    struct cf_uuid uuid;
    char uuid_text[CF_UUID_SIZE];
    char path[CF_UUID_PATH_SIZE];
    unsigned r;
    size_t n;                                     /* targets opened */
    uint32_t ids[CF_FANOUT_MAX];                  /* their filer ids */
    char urls[CF_FANOUT_MAX][CF_REPLICA_URL_MAX]; /* their PUT/GET URLs */
    struct cf_fanout *fo;
    uint64_t size;
    bool has_expect;
    uint8_t expect[CF_SHA512_LEN];
    /* ?xform= (CF_OBJDB_XFORM_*): the filers store the body transformed;
     * with E, wrapped is the object key under the newest master key. */
    unsigned xform;
    uint8_t wrapped[CF_KEYRING_WRAPPED_LEN];
    int err;
    uint64_t t0;
    /* The targets are held (cf_objdb_upload_hold) until hold_until_ms; the
     * body renews the hold from renew_ms on. */
    bool held;
    uint64_t hold_until_ms, renew_ms;
    /* Not an upload but a POST /v1/admin/jobs, its body. */
    struct cf_buf *jobs_body;
};

/* Cap of a POST /v1/admin/jobs body. */
#define JOBS_BODY_MAX (64 * 1024)

#define OFF(f) offsetof(struct cf_app_conf, f)
const struct cf_conf_opt cf_app_conf_opts[] = {
    {"listen", CF_CONF_STR, "127.0.0.1:8200", 0, 0, OFF(listen), "HOST:PORT to serve HTTP on",
     false},
    {"db", CF_CONF_STR, "sqlite:./data/catalog.db", 0, 0, OFF(db),
     "object database catalog URI (sqlite:PATH)", false},
    {"replicas", CF_CONF_U64, "2", CF_REPLICAS_MIN, CF_FANOUT_MAX, OFF(replicas),
     "replicas of each object unless ?replicas= says otherwise (at least 2)", true},
    {"stall-s", CF_CONF_U64, "10", 1, 3600, OFF(stall_s),
     "seconds a filer may accept no bytes before it is replaced", true},
    {"poll-ms", CF_CONF_U64, "1000", 50, 600000, OFF(poll_ms),
     "how often each filer's /status is polled", true},
    {"track-filers", CF_CONF_BOOL, "true", 0, 0, OFF(track_filers),
     "poll the filers here (false: a `coffer monitor` does; this re-reads its table)", false},
    {"log-level", CF_CONF_STR, "info", 0, 0, OFF(log_level), "error, warn, info or debug", true},
    CF_ROLE_TLS_OPTS(struct cf_app_conf),
    CF_ROLE_TLS_CA_OPT(struct cf_app_conf),
    CF_ROLE_BEAT_OPTS(OFF),
    CF_ROLE_AUTH_OPTS(OFF),
    {"purge-retention-s", CF_CONF_U64, "86400", 0, 10u * 365 * 86400, OFF(purge_retention_s),
     "seconds from an object's delete mark until its replicas are purged (undelete window)", true},
    {"purge-interval-ms", CF_CONF_U64, "60000", 0, 86400000, OFF(purge_interval_ms),
     "how often the delete and purge pass runs (0: only on POST /v1/admin/purge)", true},
    {"dedupe", CF_CONF_BOOL, "true", 0, 0, OFF(dedupe),
     "an upload whose content is already stored shares its replicas", true},
    {"stale-delay-ms", CF_CONF_U64, "60000", 0, 86400000, OFF(stale_delay_ms),
     "how long a replica dropped from a record (rebalance, rebuild, dedupe) is kept before it is "
     "deleted; longer than objsrv's record cache (--cache-ms, 30 s by default)",
     true},
    {"audit-interval-s", CF_CONF_U64, "604800", 0, 10u * 365 * 86400, OFF(audit_interval_s),
     "period of the background audit of every replica (0: only on demand)", true},
    {"audit-bw-mbps", CF_CONF_U64, "20", 0, 100000, OFF(audit_bw_mbps),
     "bandwidth limit of the background audit, MB/s (0: none)", true},
    {"dedupe-interval-s", CF_CONF_U64, "86400", 0, 10u * 365 * 86400, OFF(dedupe_interval_s),
     "period of the dedupe job (0: only on demand)", true},
    {"finding-checks", CF_CONF_BOOL, "true", 0, 0, OFF(finding_checks),
     "a replica a download found missing, corrupt or failing is read back and, if bad, "
     "rewritten from a good one (that object only, in the background)",
     true},
    {"db-pool", CF_CONF_U64, "0", 0, CF_DB_POOL_MAX, OFF(db_pool),
     "database connections per pool (catalog, each shard); 0: 16 on SQLite, 4 on PostgreSQL",
     false},
    {"db-wait-ms", CF_CONF_U64, "5000", 1, 3600000, OFF(db_wait_ms),
     "how long a request waits for a free database connection before it gets 503", false},

    {"orphans-interval-s", CF_CONF_U64, "604800", 0, 10u * 365 * 86400, OFF(orphans_interval_s),
     "period of the orphans job, which deletes files no record lists, older than an hour "
     "(0: only on demand)",
     true},
    {"auto-shard", CF_CONF_BOOL, "false", 0, 0, OFF(auto_shard),
     "when a shard is 90% full and no other writable shard is below 90%, add one next to the "
     "catalog (SQLite catalogs only)",
     false},
    {"upload-hold-s", CF_CONF_U64, "3600", 1, 7u * 86400, OFF(upload_hold_s),
     "an upload's target paths are held this long (renewed while the body flows); an app killed "
     "mid-upload leaves bytes the stale pass deletes once the hold is over",
     false},
    CF_HTTP_LIMITS_CONF_OPTS(struct cf_app_conf),
    {"test-clock-offset-file", CF_CONF_STR, NULL, 0, 0, OFF(test_clock_offset_file),
     "TESTS ONLY: add the milliseconds in this file to the clock of retention decisions", false},
    {"master-key-file", CF_CONF_STR, NULL, 0, 0, OFF(master_key_file),
     "the operator's master keys (lines \"KID HEX64\", mode 0600), which wrap the keys of "
     "encrypted objects (?xform=e); none: encrypted uploads are refused",
     false},
};
const size_t cf_app_conf_nopts = CF_ARRAY_LEN(cf_app_conf_opts);

/* ---- the filers as the distributor sees them ---- */

/* Copy of the view; caller frees *out. */
static void view_snapshot(struct cf_app *a, struct cf_objdb_filer **out, size_t *n)
{
    pthread_mutex_lock(&a->mu);
    *n = a->nview;
    *out = cf_xcalloc(a->nview ? a->nview : 1, sizeof(**out));
    if (a->nview > 0)
        memcpy(*out, a->view, a->nview * sizeof(**out));
    pthread_mutex_unlock(&a->mu);
}

/* With track-filers, poll every filer (tracker.h writes the summary table);
 * either way, the view becomes the table. */
void cf_app_poll_filers(struct cf_app *a)
{
    struct cf_objdb_filer *fl = NULL;
    char err[CF_ERR_LEN];
    size_t n = 0;

    if (a->trk != NULL)
        cf_tracker_poll_once(a->trk);
    if (cf_objdb_filer_list(a->odb, &fl, &n, err) < 0) {
        cf_log(CF_LOG_ERROR, "cannot list filers: %s", err);
        return;
    }
    pthread_mutex_lock(&a->mu);
    free(a->view);
    a->view = fl;
    a->nview = n;
    pthread_mutex_unlock(&a->mu);
}

/* Mark a filer offline in the view at once, so the next upload avoids it. */
static void view_mark_offline(struct cf_app *a, uint32_t id)
{
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nview; i++)
        if (a->view[i].id == id)
            (void)snprintf(a->view[i].status, sizeof(a->view[i].status), "offline");
    pthread_mutex_unlock(&a->mu);
}

static void changes_prune(struct cf_app *a);

static void *tracker_main(void *arg)
{
    struct cf_app *a = arg;
    char err[CF_ERR_LEN];

    pthread_mutex_lock(&a->stop_mu);
    while (!a->stop) {
        struct timespec ts;
        pthread_mutex_unlock(&a->stop_mu);
        cf_app_poll_filers(a);
        /* Shards added by `coffer admin shard add` start taking new objects. */
        if (cf_objdb_refresh(a->odb, err) < 0)
            cf_log(CF_LOG_WARN, "cannot re-read the shards table: %s", err);
        changes_prune(a);
        pthread_mutex_lock(&a->stop_mu);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += a->poll_ms / 1000;
        ts.tv_nsec += (long)(a->poll_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!a->stop)
            (void)pthread_cond_timedwait(&a->stop_cv, &a->stop_mu, &ts);
    }
    pthread_mutex_unlock(&a->stop_mu);
    return NULL;
}

/* ---- delete and purge ---- */

/* The time the purge and stale expiry compare marks with: the wall clock,
 * unless it jumped ahead (clockguard.h), which goes to the scribe once. */
static uint64_t retention_now(struct cf_app *a)
{
    return cf_scribe_guarded_now(a->clock_scribe, a->clock, "the purge and stale expiry use");
}

/* The gate of filer (under find_mu), taken over if another filer had it. */
static struct finding_gate *gate_of(struct cf_app *a, uint32_t filer)
{
    struct finding_gate *g = &a->gates[filer % FINDING_GATES];

    if (g->filer != filer)
        *g = (struct finding_gate){.filer = filer};
    return g;
}

/* Write what a filer did wrong (kind: a CF_SCRIBE_* kind; uuid: the
 * object, may be NULL; what: "download", "upload"; msg: the detail) to the
 * scribe, unless FINDING_EVENTS_PER_MIN events of that filer went there
 * this minute already: then it is only counted, and the next event that
 * goes says how many were left out. Returns whether it was written. */
static bool filer_event(struct cf_app *a, uint32_t filer, const char *kind, const char *uuid,
                        const char *what, const char *msg)
{
    struct finding_gate *g;
    uint64_t now = cf_wall_ms(), dropped = 0;
    bool log_it;

    pthread_mutex_lock(&a->find_mu);
    g = gate_of(a, filer);
    if (now - g->window_ms >= 60000) {
        g->window_ms = now;
        g->events = 0;
    }
    log_it = g->events < FINDING_EVENTS_PER_MIN;
    if (log_it) {
        g->events++;
        dropped = g->dropped;
        g->dropped = 0;
    } else {
        g->dropped++;
    }
    pthread_mutex_unlock(&a->find_mu);
    if (log_it && dropped == 0)
        (void)cf_scribe_event(a->jobs_scribe, kind, filer, uuid, "%s: %s", what, msg);
    else if (log_it)
        (void)cf_scribe_event(a->jobs_scribe, kind, filer, uuid,
                              "%s: %s (and %" PRIu64 " events of this filer not logged before)",
                              what, msg, dropped);
    return log_it;
}

static int purge_pass(struct cf_app *a, struct cf_purge_stats *st, char *err)
{
    int rc;

    pthread_mutex_lock(&a->purge_mu);
    rc = cf_purge_run(a->odb, a->jobs_scribe, retention_now(a), a->purge_retention_ms,
                      CF_PURGE_TIMEOUT_MS, st, err);
    pthread_mutex_unlock(&a->purge_mu);
    if (rc < 0)
        cf_log(CF_LOG_WARN, "delete/purge pass stopped: %s", err);
    else if (st->moved + st->purged + st->failed + st->removed > 0)
        cf_log(CF_LOG_INFO,
               "delete/purge pass: moved=%" PRIu64 " purged=%" PRIu64 " failed=%" PRIu64
               " skipped=%" PRIu64 " removed=%" PRIu64 " pending=%" PRIu64,
               st->moved, st->purged, st->failed, st->skipped, st->removed, st->pending);
    return rc;
}

/* Delete the replicas records dropped over stale_delay_ms
 * ago (maint.h). */
static void stale_pass(struct cf_app *a)
{
    struct cf_stale_stats st;
    char err[CF_ERR_LEN] = "";

    if (cf_stale_drain(a->odb, retention_now(a), a->stale_delay_ms, CF_PURGE_TIMEOUT_MS, &st, err) <
        0)
        cf_log(CF_LOG_WARN, "stale replica pass stopped: %s", err);
    else if (st.deleted + st.kept + st.failed > 0)
        cf_log(CF_LOG_INFO,
               "stale replica pass: deleted=%" PRIu64 " kept=%" PRIu64 " skipped=%" PRIu64
               " failed=%" PRIu64,
               st.deleted, st.kept, st.skipped, st.failed);
}

/* Gauges of the object database (metrics.h): records, aliases, stale
 * replicas waiting, and records with fewer filers than wanted replicas
 * (the replica deficit the audit and rebuild restore). Each count scans
 * every shard, so it runs with the periodic pass, not per scrape. */
static void counts_pass(struct cf_app *a)
{
    struct cf_objdb_counts n;
    char err[CF_ERR_LEN] = "";

    if (cf_objdb_count(a->odb, &n, err) < 0) {
        cf_log(CF_LOG_WARN, "cannot count the object records: %s", err);
        return;
    }
    pthread_mutex_lock(&a->mu);
    a->counts = n;
    a->counted_ms = cf_wall_ms();
    pthread_mutex_unlock(&a->mu);
    cf_metric_set(cf_metric_gauge("coffer_objects", "object records (holders and aliases)", NULL),
                  (int64_t)n.records);
    cf_metric_set(cf_metric_gauge("coffer_object_aliases",
                                  "records sharing another record's replicas (dedupe)", NULL),
                  (int64_t)n.aliases);
    cf_metric_set(cf_metric_gauge("coffer_replica_deficit_objects",
                                  "records listing fewer filers than their wanted replicas", NULL),
                  (int64_t)n.deficit);
    cf_metric_set(cf_metric_gauge("coffer_stale_replicas",
                                  "replicas dropped from records, waiting to be deleted", NULL),
                  (int64_t)n.stale);
}

/* A shard is reported (and with auto_shard, followed by a new one) once
 * this many tenths of its object ids are used. */
#define SHARD_HIGH_TENTHS 9

/* Check every writable shard's fill (objdb.h "Full shards"): one scribe
 * event when one crosses 90% of its max objects (or of the id space), and
 * again only after it fell below (its max raised); with auto_shard, a new
 * shard next to the SQLite catalog when one crossed and no other writable
 * shard is below 90%. Runs in the lease holder's periodic pass, so apps
 * sharing a catalog warn and add once. */
static void shards_pass(struct cf_app *a)
{
    struct cf_objdb_shard *sl = NULL;
    size_t n = 0, roomy = 0;
    unsigned crossed = 0;
    uint16_t added = 0;
    char err[CF_ERR_LEN] = "";

    cf_objdb_shard_list(a->odb, &sl, &n);
    for (size_t i = 0; i < n; i++) {
        unsigned id = sl[i].id;
        uint64_t used = 0, cap = sl[i].max_objects > 0 ? sl[i].max_objects : CF_UUID_OID_MAX;
        uint8_t bit = (uint8_t)(1u << (id % 8));
        bool high, was;

        if (sl[i].read_only || sl[i].obsolete)
            continue;
        if (cf_objdb_shard_used(a->odb, sl[i].id, &used, err) < 0) {
            cf_log(CF_LOG_WARN, "shard %u: cannot read how many object ids it used: %s", id, err);
            roomy++; /* unknown: no shard is added on a failed read */
            continue;
        }
        /* Both sides below 2^52: no overflow. */
        high = used * 10 >= cap * SHARD_HIGH_TENTHS;
        was = (a->shard_high[id / 8] & bit) != 0;
        if (!high) {
            roomy++;
            a->shard_high[id / 8] &= (uint8_t)~bit;
            continue;
        }
        if (crossed == 0)
            crossed = id;
        if (was)
            continue;
        a->shard_high[id / 8] |= bit;
        cf_log(CF_LOG_WARN,
               "shard %u is 90%% full: add a shard (%" PRIu64 " of %" PRIu64 " object ids used)",
               id, used, cap);
        (void)cf_scribe_event(a->clock_scribe, CF_SCRIBE_SHARD, 0, NULL,
                              "shard %u is 90%% full: add a shard (%" PRIu64 " of %" PRIu64
                              " object ids used)",
                              id, used, cap);
    }
    free(sl);
    if (!a->auto_shard || crossed == 0 || roomy > 0)
        return;
    if (cf_objdb_shard_add(a->odb, 0, NULL, &added, err) < 0) {
        cf_log(CF_LOG_WARN,
               "shard %u is 90%% full and no other shard has room; adding one failed: %s", crossed,
               err);
        return;
    }
    cf_log(CF_LOG_INFO, "added shard %u next to the catalog: shard %u is 90%% full",
           (unsigned)added, crossed);
    (void)cf_scribe_event(a->clock_scribe, CF_SCRIBE_SHARD, 0, NULL,
                          "added shard %u next to the catalog: shard %u is 90%% full",
                          (unsigned)added, crossed);
}

/* Its own thread, so a long pass never delays the tracker's polling. */
static void *purger_main(void *arg)
{
    struct cf_app *a = arg;

    pthread_mutex_lock(&a->stop_mu);
    while (!a->stop) {
        struct timespec ts = cf_deadline_in(a->purge_interval_ms);
        (void)pthread_cond_timedwait(&a->stop_cv, &a->stop_mu, &ts);
        if (!a->stop) {
            struct cf_purge_stats st;
            char err[CF_ERR_LEN] = "";
            pthread_mutex_unlock(&a->stop_mu);
            /* A pass under way when the lease is lost ends its current
             * step: each is idempotent, so the next holder redoing it
             * costs time, not data. */
            if (cf_lease_held(a->purge_lease)) {
                (void)purge_pass(a, &st, err);
                if (cf_lease_held(a->purge_lease))
                    stale_pass(a);
                if (cf_lease_held(a->purge_lease))
                    shards_pass(a);
                cf_metric_add(a->m_purge_passes, 1);
            }
            counts_pass(a);
            pthread_mutex_lock(&a->stop_mu);
        }
    }
    pthread_mutex_unlock(&a->stop_mu);
    return NULL;
}

/* POST /v1/admin/purge: a pass now; with ?uuid=UUID, that one object
 * only, deleted and purged at once whatever the retention. */
static enum MHD_Result serve_purge_now(struct cf_app *a, struct MHD_Connection *c)
{
    const char *id = cf_http_query(c, "uuid");
    struct cf_purge_stats st;
    char err[CF_ERR_LEN] = "";
    json_t *j;
    int rc;

    if (id != NULL) {
        struct cf_uuid uuid;
        rc = cf_uuid_parse(id, strlen(id), &uuid, err);
        if (rc < 0)
            return cf_http_reply_error(c, CF_EBADREQ, "uuid: %s", err);
        pthread_mutex_lock(&a->purge_mu);
        rc = cf_purge_one(a->odb, a->jobs_scribe, &uuid, CF_PURGE_TIMEOUT_MS, &st, err);
        pthread_mutex_unlock(&a->purge_mu);
        if (rc < 0)
            return cf_http_reply_error(c, rc, "%s", err);
        cf_log(CF_LOG_INFO,
               "purge of object %s now: purged=%" PRIu64 " removed=%" PRIu64 " pending=%" PRIu64,
               id, st.purged, st.removed, st.pending);
    } else if (purge_pass(a, &st, err) < 0) {
        return cf_http_reply_error(c, CF_EUNAVAIL, "the pass stopped part way: %s", err);
    }
    j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "moved", (json_int_t)st.moved, "purged",
                  (json_int_t)st.purged, "failed", (json_int_t)st.failed, "skipped",
                  (json_int_t)st.skipped, "removed", (json_int_t)st.removed, "pending",
                  (json_int_t)st.pending, "restored", (json_int_t)st.restored, "held",
                  (json_int_t)st.held);
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the reply");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

/* DELETE /v1/objects/<uuid> (mark) or POST .../undelete. */
static enum MHD_Result serve_delete(struct cf_app *a, struct MHD_Connection *c, const char *id,
                                    size_t len, bool undelete)
{
    struct cf_uuid uuid;
    char err[CF_ERR_LEN] = "", text[CF_UUID_SIZE];
    int rc;

    rc = cf_uuid_parse(id, len, &uuid, err);
    if (rc < 0)
        return cf_http_reply_error(c, CF_EBADREQ, "malformed UUID: %s", err);
    cf_uuid_format(&uuid, text);
    if (undelete)
        rc = cf_objdb_undelete(a->odb, &uuid, err);
    else
        rc = cf_objdb_set_deleted(a->odb, &uuid, true, err);
    if (rc < 0)
        return cf_http_reply_error(
            c, rc, "%s",
            rc == CF_ENOTFOUND
                ? (undelete ? "no such object, or its purge has begun" : "no such object")
                : err);
    cf_log(CF_LOG_INFO, "object %s %s", text, undelete ? "undeleted" : "marked deleted");
    return cf_http_reply(c, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, NULL);
}

/* ---- choosing filers ---- */

/* Choose `want` filers not in exclude, preferring data centers that the
 * filers holders[0..nh) do not cover; append them to u. */
static int choose(struct cf_app *a, struct cf_app_upload *u, size_t want, const uint32_t *exclude,
                  size_t nex, const uint32_t *holders, size_t nh)
{
    struct cf_objdb_filer *v = NULL;
    size_t n = 0, idx[CF_FANOUT_MAX];
    int rc;

    view_snapshot(a, &v, &n);
    rc = cf_distrib_choose_spread(v, n, want, exclude, nex, holders, nh, idx);
    for (size_t i = 0; rc > 0 && i < want; i++) {
        const struct cf_objdb_filer *f = &v[idx[i]];
        if (cf_replica_url(f->url, u->path, u->urls[u->n]) < 0)
            rc = CF_EINTERNAL;
        else
            u->ids[u->n++] = f->id;
    }
    free(v);
    return rc < 0 ? rc : 0;
}

/* ---- upload ---- */

static void upload_free(struct cf_app_upload *u)
{
    if (u == NULL)
        return;
    cf_fanout_free(u->fo);
    if (u->jobs_body != NULL)
        cf_buf_fini(u->jobs_body);
    free(u->jobs_body);
    free(u);
}

/* Hold every target of u from its index `from` on for the app's
 * upload-hold-s (objdb.h cf_objdb_upload_hold), or extend the hold. */
static int upload_hold(const struct cf_app *a, struct cf_app_upload *u, size_t from, char *err)
{
    uint64_t now = cf_wall_ms(), until = now + a->upload_hold_ms;
    int rc =
        cf_objdb_upload_hold(a->odb, &u->uuid, u->path, u->ids + from, u->n - from, until, err);

    if (rc == 0 && from == 0) {
        u->held = true;
        u->hold_until_ms = until;
        u->renew_ms = now + a->upload_hold_ms / 4;
    }
    return rc;
}

/* Remove the replicas of an upload that will not be recorded: DELETE the
 * ones written, then make the upload's holds due for the stale drain, which
 * deletes whatever is left (a DELETE that failed, a target that failed
 * after its filer committed the bytes); no record lists these bytes, so
 * nothing else would ever find them. */
static void remove_replicas(const struct cf_app *a, struct cf_app_upload *u, const bool *written)
{
    char err[CF_ERR_LEN] = "";

    for (size_t i = 0; i < u->n; i++) {
        long status = 0;
        if (!written[i])
            continue;
        if (cf_httpc_json("DELETE", u->urls[i], NULL, 5000, &status, NULL, err) == 0 &&
            (status == 204 || status == 404))
            continue;
        if (err[0] == '\0')
            (void)snprintf(err, sizeof(err), "status %ld", status);
        cf_log(CF_LOG_WARN,
               "upload %s: its unrecorded replica on filer %" PRIu32
               " was not deleted (%s): the stale pass will delete it",
               u->uuid_text, u->ids[i], err);
        err[0] = '\0';
    }
    if (u->held && cf_objdb_upload_release(a->odb, &u->uuid, err) < 0)
        cf_log(CF_LOG_WARN,
               "upload %s: its targets stay held until their hold ends (%s); the stale pass "
               "deletes their bytes then",
               u->uuid_text, err);
    u->held = false;
}

/* A commit in doubt (CF_EINDOUBT: the database connection broke during
 * COMMIT) is read back SETTLE_TRIES times at most, SETTLE_PAUSE_MS apart:
 * about 10 s, the time a PostgreSQL restart takes. Replicas of a commit
 * left unsettled are held on the stale-replica list for SETTLE_HOLD_MS,
 * long past any late commit of the broken session, after which the stale
 * pass deletes them unless a record lists them. */
#define SETTLE_TRIES    40
#define SETTLE_PAUSE_MS 250
#define SETTLE_HOLD_MS  (10 * 60 * 1000)

/* Returns 1 (rec is committed), 0 (it is not) or CF_EINDOUBT (the database
 * did not answer). */
static int settle_commit(const struct cf_app *a, const struct cf_objdb_record *rec)
{
    struct cf_objdb_record got;
    char err[CF_ERR_LEN] = "";
    int rc = CF_EINDOUBT;

    for (int i = 0; i < SETTLE_TRIES; i++) {
        struct timespec ts = {0, SETTLE_PAUSE_MS * 1000000L};

        rc = cf_objdb_get(a->odb, &rec->uuid, CF_OBJDB_GET_DELETED, &got, err);
        if (rc == 0 || rc == CF_ENOTFOUND)
            return rc == 0 ? 1 : 0;
        (void)nanosleep(&ts, NULL);
    }
    return CF_EINDOUBT;
}

/* The replicas of an upload whose commit stays in doubt: not deleted now (a
 * record may name them), but held for the stale pass. */
static void hold_replicas(const struct cf_app *a, const struct cf_app_upload *u,
                          const bool *written)
{
    for (size_t i = 0; i < u->n; i++) {
        char err[CF_ERR_LEN] = "";
        int rc;
        if (!written[i])
            continue;
        rc = cf_objdb_stale_hold(a->odb, &u->uuid, u->ids[i], u->path,
                                 cf_wall_ms() + SETTLE_HOLD_MS, 0, NULL, err);
        if (rc < 0 && rc != CF_EBUSY)
            cf_log(CF_LOG_WARN,
                   "upload %s: its replica on filer %" PRIu32
                   " is kept but not listed as stale (%s): the orphan pass will find it",
                   u->uuid_text, u->ids[i], err);
    }
}

/* The transform text ("z", "e", "ze", or "" for none) as CF_OBJDB_XFORM_*
 * bits, or -1. */
static int xform_parse(const char *t)
{
    if (t == NULL || strcmp(t, "") == 0)
        return 0;
    if (strcmp(t, "z") == 0)
        return CF_OBJDB_XFORM_Z;
    if (strcmp(t, "e") == 0)
        return CF_OBJDB_XFORM_E;
    if (strcmp(t, "ze") == 0)
        return CF_OBJDB_XFORM_Z | CF_OBJDB_XFORM_E;
    return -1;
}

/* The filer headers of a transformed upload (xform.h): the transform and,
 * with E, the object key in hex. hdrs gets up to 2 lines and a NULL. */
static void xform_headers(unsigned xform, const uint8_t key[CF_KEYRING_KEY_LEN], char line[2][160],
                          const char *hdrs[3])
{
    size_t n = 0;

    (void)snprintf(line[0], sizeof(line[0]), "X-Coffer-Transform: %s%s",
                   (xform & CF_OBJDB_XFORM_Z) ? "z" : "", (xform & CF_OBJDB_XFORM_E) ? "e" : "");
    hdrs[n++] = line[0];
    if (xform & CF_OBJDB_XFORM_E) {
        memcpy(line[1], "X-Coffer-Key: ", 14);
        cf_hex_encode(key, CF_KEYRING_KEY_LEN, line[1] + 14);
        hdrs[n++] = line[1];
    }
    hdrs[n] = NULL;
}

/* Start an upload of r replicas (0: the app's default) stored with the
 * transform xform_text (NULL or "": none), whose body must have the
 * SHA-512 expect (NULL: any): reserve its UUID, choose and hold its
 * targets, open the transfers. Returns 0 with *out (caller owns; ends with
 * upload_end), or a CF_E* with the reason in msg and nothing held. */
static int upload_start(struct cf_app *a, unsigned r, const char *xform_text, const uint8_t *expect,
                        struct cf_app_upload **out, char *msg, size_t msg_len)
{
    const char *urls[CF_FANOUT_MAX], *hdrs[3] = {NULL};
    char err[CF_ERR_LEN] = "", hline[2][160];
    uint8_t key[CF_KEYRING_KEY_LEN];
    struct cf_app_upload *u = cf_xcalloc(1, sizeof(*u));
    int rc = CF_EBADREQ, xf = xform_parse(xform_text);

    *out = NULL;
    memset(hline, 0, sizeof(hline));
    u->a = a;
    u->t0 = cf_now_ns();
    u->r = r != 0 ? r : a->replicas;
    if (u->r < CF_REPLICAS_MIN || u->r > CF_FANOUT_MAX) {
        (void)snprintf(msg, msg_len,
                       "replicas must be %d..%d: every object is stored on at least %d filers",
                       CF_REPLICAS_MIN, CF_FANOUT_MAX, CF_REPLICAS_MIN);
        goto fail;
    }
    if (expect != NULL) {
        memcpy(u->expect, expect, sizeof(u->expect));
        u->has_expect = true;
    }
    if (xf < 0) {
        (void)snprintf(msg, msg_len, "xform must be z, e or ze");
        goto fail;
    }
    u->xform = (unsigned)xf;
    if ((u->xform & CF_OBJDB_XFORM_E) && a->keyring == NULL) {
        rc = CF_EUNAVAIL;
        (void)snprintf(msg, msg_len,
                       "this app has no --master-key-file: it cannot store encrypted objects");
        goto fail;
    }
    /* A key of its own for every object (xform.h: a key never encrypts two
     * objects), kept only wrapped. */
    if (u->xform & CF_OBJDB_XFORM_E) {
        if (RAND_bytes(key, sizeof(key)) != 1) {
            rc = CF_EINTERNAL;
            (void)snprintf(msg, msg_len, "no random bytes for the object key");
            goto fail;
        }
        rc = cf_keyring_wrap(a->keyring, key, u->wrapped, err);
        if (rc < 0) {
            OPENSSL_cleanse(key, sizeof(key));
            (void)snprintf(msg, msg_len, "%s", err);
            goto fail;
        }
    }
    if (u->xform != 0)
        xform_headers(u->xform, key, hline, hdrs);
    OPENSSL_cleanse(key, sizeof(key));
    rc = cf_objdb_reserve(a->odb, 0, &u->uuid, err);
    if (rc < 0) {
        (void)snprintf(msg, msg_len, "cannot reserve an object id: %s", err);
        goto fail;
    }
    cf_uuid_format(&u->uuid, u->uuid_text);
    cf_uuid_filer_path(&u->uuid, u->path);
    rc = choose(a, u, u->r, NULL, 0, NULL, 0);
    if (rc < 0) {
        rc = CF_EUNAVAIL;
        (void)snprintf(msg, msg_len, "fewer than %u writable filers are online", u->r);
        goto fail;
    }
    /* Held before a byte goes out: if this process dies, the stale drain
     * finds the targets' bytes by these rows. */
    rc = upload_hold(a, u, 0, err);
    if (rc < 0) {
        rc = CF_EUNAVAIL;
        (void)snprintf(msg, msg_len, "cannot hold the target paths: %s", err);
        goto fail;
    }
    for (size_t i = 0; i < u->n; i++)
        urls[i] = u->urls[i];
    rc = cf_fanout_new_with(urls, u->n, a->stall_s, hdrs, &u->fo);
    OPENSSL_cleanse(hline, sizeof(hline));
    if (rc < 0) {
        rc = CF_EINTERNAL;
        (void)snprintf(msg, msg_len, "cannot start the transfers");
        goto fail;
    }
    *out = u;
    return 0;
fail:
    OPENSSL_cleanse(hline, sizeof(hline));
    if (u->held) {
        char rerr[CF_ERR_LEN] = "";
        if (cf_objdb_upload_release(a->odb, &u->uuid, rerr) < 0)
            cf_log(CF_LOG_WARN, "upload %s: its holds end at their time: %s", u->uuid_text, rerr);
    }
    upload_free(u);
    return rc;
}

static enum MHD_Result upload_begin(struct cf_app *a, struct MHD_Connection *c, void **req_cls)
{
    const char *rs = cf_http_query(c, "replicas"), *want = cf_http_header(c, CF_SHA512_HEADER);
    char msg[CF_ERR_LEN + 64] = "";
    uint8_t expect[CF_SHA512_LEN];
    struct cf_app_upload *u = NULL;
    unsigned long r = 0;
    int rc;

    if (rs != NULL) {
        char *end = NULL;
        errno = 0;
        r = strtoul(rs, &end, 10);
        /* 0 is refused here: to upload_start it means the default. */
        if (rs[0] < '0' || rs[0] > '9' || *end != '\0' || errno != 0 || r < CF_REPLICAS_MIN ||
            r > CF_FANOUT_MAX) {
            (void)snprintf(msg, sizeof(msg),
                           "replicas must be %d..%d: every object is stored on at least %d filers",
                           CF_REPLICAS_MIN, CF_FANOUT_MAX, CF_REPLICAS_MIN);
            return cf_http_refuse(c, req_cls, CF_EBADREQ, "%s", msg);
        }
    }
    if (want != NULL && cf_sha512_parse_hex(want, strlen(want), expect) < 0)
        return cf_http_refuse(c, req_cls, CF_EBADREQ, "%s must be 128 hex digits",
                              CF_SHA512_HEADER);
    rc = upload_start(a, (unsigned)r, cf_http_query(c, "xform"), want != NULL ? expect : NULL, &u,
                      msg, sizeof(msg));
    if (rc < 0)
        return cf_http_refuse(c, req_cls, rc, "%s", msg);
    *req_cls = u;
    return MHD_YES;
}

/* Pass n body bytes at p (borrowed) on to the targets. Returns 0, or the
 * upload's failure once it has one (then the rest of the body is taken and
 * dropped; upload_end reports it). */
static int upload_body(struct cf_app_upload *u, const char *p, size_t n)
{
    if (u->err < 0)
        return u->err;
    /* A long body renews the hold, so the stale drain never takes bytes
     * still being written; a hold that cannot be renewed fails the upload. */
    if (cf_wall_ms() >= u->renew_ms) {
        char err[CF_ERR_LEN] = "";
        if (upload_hold(u->a, u, 0, err) < 0) {
            cf_log(CF_LOG_WARN, "upload %s: cannot renew its hold: %s", u->uuid_text, err);
            u->err = CF_EUNAVAIL;
            return u->err;
        }
    }
    u->size += n;
    /* With every target failed there is nothing to copy from later. */
    if (cf_fanout_write(u->fo, p, n) == 0)
        u->err = CF_EUNAVAIL;
    return u->err;
}

static int record_reply(const struct cf_objdb_record *rec, const struct cf_objdb_filer *v,
                        size_t nv, json_t **out, char *err);

/* End the body of u: wait for the targets, replace failed ones, dedupe,
 * commit the record (DESIGN §4: only after r filers synced). Returns 0 with
 * *record the object's record as GET /v1/objects/<uuid>/info gives it
 * (caller owns; json_decref), or a CF_E* with err (*record NULL), the
 * unrecorded replicas removed or held for the stale pass. u stays the
 * caller's (upload_close). */
static int upload_end(struct cf_app_upload *u, json_t **record, char *err)
{
    struct cf_app *a = u->a;
    struct cf_objdb_record rec;
    struct cf_objdb_filer *v = NULL;
    uint8_t sha[CF_SHA512_LEN] = {0};
    bool ok[CF_FANOUT_MAX] = {false}, stored[CF_FANOUT_MAX] = {false};
    size_t nv = 0, good = 0;
    /* What each filer holds: the body itself, or its transformed form. */
    uint8_t ssha[CF_SHA512_LEN] = {0};
    uint64_t ssize = 0;
    int rc = u->err;

    *record = NULL;
    err[0] = '\0';
    /* The app does not hash the body: each of the r >= 2 filers computes
     * the SHA-512 of what it stores, and they must agree (fanout.h); the
     * agreed digest is the object's. A client's own checksum goes to them
     * as the trailer, so they refuse a body that does not match rather than
     * store it for us to delete. Finish even after an error, so the filers
     * see the end of the body. */
    if (cf_fanout_finish(u->fo, u->has_expect ? u->expect : NULL) < (int)u->n && rc == 0)
        cf_log(CF_LOG_DEBUG, "upload %s: some filers failed; replacing them", u->uuid_text);
    if (rc == 0 && cf_fanout_digest(u->fo, sha) < 0 && u->has_expect &&
        cf_fanout_refused_checksum(u->fo)) {
        rc = CF_ECHECKSUM;
        (void)snprintf(err, CF_ERR_LEN, "the body does not match %s", CF_SHA512_HEADER);
    }
    for (size_t i = 0; i < u->n; i++) {
        const char *why = "";
        enum cf_fanout_state st = cf_fanout_state(u->fo, i, &why);
        ok[i] = st == CF_FANOUT_OK;
        /* Bytes stored but not trusted go with the failed upload's. */
        stored[i] = ok[i] || st == CF_FANOUT_DISAGREED;
        if (ok[i]) {
            good++;
        } else if (st == CF_FANOUT_DISAGREED) {
            /* Which filer saw the wrong bytes cannot be told: none is
             * marked offline, and the client may send the body again. */
            cf_log(CF_LOG_ERROR, "upload %s: filer %" PRIu32 ": %s", u->uuid_text, u->ids[i], why);
            if (rc == 0) {
                rc = CF_EUNAVAIL;
                (void)snprintf(err, CF_ERR_LEN, "%s", why);
            }
        } else if (rc == 0) {
            cf_log(CF_LOG_WARN, "upload %s: filer %" PRIu32 " failed: %s", u->uuid_text, u->ids[i],
                   why);
            /* Its bytes are not listed (the stale pass deletes them): no
             * replica to check, but the operator should see the failure. */
            (void)filer_event(a, u->ids[i], CF_SCRIBE_FILER_ERROR, u->uuid_text, "upload", why);
            view_mark_offline(a, u->ids[i]);
        }
    }
    /* A transformed body is stored the same on every filer (xform.h); a
     * filer that says otherwise fails the upload rather than leave replicas
     * that audit would take for corrupt. */
    if (u->xform == 0) {
        ssize = u->size;
        memcpy(ssha, sha, sizeof(ssha));
    }
    for (size_t i = 0, first = 1; rc == 0 && u->xform != 0 && i < u->n; i++) {
        uint8_t s2[CF_SHA512_LEN];
        uint64_t z2 = 0;
        if (!ok[i])
            continue;
        if (cf_fanout_stored(u->fo, i, &z2, s2) < 0) {
            rc = CF_EUNAVAIL;
            (void)snprintf(err, CF_ERR_LEN,
                           "filer %" PRIu32 " did not say what it stored (no transform support?)",
                           u->ids[i]);
        } else if (first) {
            ssize = z2;
            memcpy(ssha, s2, sizeof(ssha));
            first = 0;
        } else if (z2 != ssize || memcmp(s2, ssha, sizeof(ssha)) != 0) {
            rc = CF_EINTERNAL;
            (void)snprintf(err, CF_ERR_LEN, "the filers stored different bytes for one body");
        }
    }
    /* DESIGN §2: a filer that failed is replaced by a copy from a finished
     * replica before the client hears of success. */
    while (rc == 0 && good < u->r) {
        const char *srcs[CF_FANOUT_MAX];
        uint32_t held[CF_FANOUT_MAX];
        size_t ns = 0, nh = 0, k = u->n;
        for (size_t i = 0; i < k; i++)
            if (ok[i])
                held[nh++] = u->ids[i];
        if (good == 0) {
            rc = CF_EUNAVAIL;
            (void)snprintf(err, CF_ERR_LEN, "every filer failed");
            break;
        }
        if (u->n == CF_FANOUT_MAX || choose(a, u, 1, u->ids, u->n, held, nh) < 0) {
            rc = CF_EUNAVAIL;
            (void)snprintf(err, CF_ERR_LEN, "only %zu of %u replicas written and no other filer",
                           good, u->r);
            break;
        }
        for (size_t i = 0; i < k; i++)
            if (ok[i])
                srcs[ns++] = u->urls[i];
        if (upload_hold(a, u, k, err) < 0) {
            cf_log(CF_LOG_WARN, "upload %s: cannot hold filer %" PRIu32 " for a copy: %s",
                   u->uuid_text, u->ids[k], err);
            err[0] = '\0';
        } else if (cf_replica_copy(srcs, ns, u->urls[k], ssize, ssha, a->stall_s, err) == 0) {
            ok[k] = true;
            good++;
            stored[k] = true;
            cf_log(CF_LOG_INFO, "upload %s: replaced a failed filer with filer %" PRIu32,
                   u->uuid_text, u->ids[k]);
        } else {
            cf_log(CF_LOG_WARN, "upload %s: copy to filer %" PRIu32 " failed: %s", u->uuid_text,
                   u->ids[k], err);
            err[0] = '\0';
        }
    }
    if (rc < 0)
        goto fail;
    memset(&rec, 0, sizeof(rec));
    rec.uuid = u->uuid;
    (void)snprintf(rec.path, sizeof(rec.path), "%s", u->path);
    rec.size = u->size;
    memcpy(rec.sha512, sha, sizeof(sha));
    rec.replicas = u->r;
    rec.created_ms = cf_wall_ms();
    rec.xform = u->xform;
    rec.stored_size = ssize;
    memcpy(rec.stored_sha512, ssha, sizeof(ssha));
    if (u->xform & CF_OBJDB_XFORM_E) {
        rec.key_len = sizeof(u->wrapped);
        memcpy(rec.key, u->wrapped, sizeof(u->wrapped));
    }
    for (size_t i = 0; i < u->n; i++)
        if (ok[i])
            rec.filers[rec.nfilers++] = u->ids[i];
    /* One view of the filers for the dedupe check and the reply. */
    view_snapshot(a, &v, &nv);
    /* Content already stored becomes an alias of it (dedupe.c). */
    if (a->dedupe) {
        struct cf_objdb_record alias;
        char derr[CF_ERR_LEN] = "";
        int d = cf_dedupe_inline(a->odb, v, nv, a->stall_s, &rec, &alias, derr);
        if (d == 1) {
            char at[CF_UUID_SIZE];
            cf_uuid_format(&alias.uuid, at);
            cf_log(CF_LOG_INFO, "upload %s: same content as a stored object; recorded as %s",
                   u->uuid_text, at);
            (void)cf_scribe_event(a->jobs_scribe, CF_SCRIBE_DEDUPE, 0, at,
                                  "upload: shares the replicas of %s (%" PRIu64 " bytes)",
                                  alias.path, alias.size);
            /* Ours are not listed by any record: they go now. */
            remove_replicas(a, u, ok);
            u->uuid = alias.uuid;
            (void)snprintf(u->uuid_text, sizeof(u->uuid_text), "%s", at);
            u->committed = true;
            rc = record_reply(&alias, v, nv, record, err);
            free(v);
            return rc;
        }
        if (d < 0)
            cf_log(CF_LOG_WARN, "upload %s: dedupe skipped: %s", u->uuid_text, derr);
    }
    /* DESIGN §4: the record, the commit point, is written last. */
    rc = cf_objdb_commit(a->odb, &rec, err);
    if (rc == CF_EINDOUBT) {
        int settled = settle_commit(a, &rec);

        cf_log(settled == 1 ? CF_LOG_INFO : CF_LOG_WARN, "upload %s: commit in doubt: %s",
               u->uuid_text,
               settled == 1   ? "the record is there: committed"
               : settled == 0 ? "no record: not committed; replicas held for the stale pass"
                              : "the database does not answer; replicas held for the stale pass");
        if (settled != 1) {
            /* Even an absent record could still come from the broken session. */
            hold_replicas(a, u, ok);
            free(v);
            cf_err_set(err, "%s",
                       settled == 0 ? "the object record was not committed" : "upload again");
            return settled == 0 ? CF_EUNAVAIL : CF_EINDOUBT;
        }
        rc = 0;
    }
    if (rc < 0)
        goto fail;
    u->committed = true;
    u->held = false; /* the commit ended the holds */
    cf_log(CF_LOG_DEBUG, "upload %s bytes=%" PRIu64 " replicas=%u ms=%.1f", u->uuid_text, u->size,
           rec.nfilers, (double)(cf_now_ns() - u->t0) / 1e6);
    rc = record_reply(&rec, v, nv, record, err);
    free(v);
    return rc;
fail:
    free(v);
    cf_log(rc == CF_ECHECKSUM ? CF_LOG_INFO : CF_LOG_WARN, "upload %s failed: %s%s%s", u->uuid_text,
           cf_strerror(rc), err[0] ? ": " : "", err);
    remove_replicas(a, u, stored);
    return rc;
}

static enum MHD_Result upload_finish(struct MHD_Connection *c, struct cf_app_upload *u)
{
    char err[CF_ERR_LEN] = "";
    json_t *record = NULL;
    int rc = upload_end(u, &record, err);

    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s", err);
    return cf_http_reply_json(c, MHD_HTTP_CREATED, record);
}

/* ---- object info ---- */

/* The filers of rec (rec->filers, in that order) into out as the view v
 * (nv filers; borrowed) has them; one the view does not have is known by
 * its id alone (no URL, status "unknown", weights 0). */
static void record_filers(const struct cf_objdb_record *rec, const struct cf_objdb_filer *v,
                          size_t nv, struct cf_objdb_filer out[CF_OBJDB_REPLICAS_MAX])
{
    for (unsigned i = 0; i < rec->nfilers && i < CF_OBJDB_REPLICAS_MAX; i++) {
        const struct cf_objdb_filer *f = cf_objdb_filer_find(v, nv, rec->filers[i]);
        if (f != NULL) {
            out[i] = *f;
        } else {
            memset(&out[i], 0, sizeof(out[i]));
            out[i].id = rec->filers[i];
            (void)snprintf(out[i].status, sizeof(out[i].status), "unknown");
        }
    }
}

/* rec as GET /v1/objects/<uuid>/info describes it, filers[i] describing
 * rec->filers[i] (record_filers). Returns the JSON (caller owns;
 * json_decref), or NULL if jansson could not build it. */
static json_t *record_json(const struct cf_objdb_record *rec, const struct cf_objdb_filer *filers)
{
    char uuid[CF_UUID_SIZE], hex[CF_SHA512_HEX_LEN + 1];
    json_t *arr = json_array(), *j;

    cf_uuid_format(&rec->uuid, uuid);
    cf_sha512_hex(rec->sha512, hex);
    for (unsigned i = 0; i < rec->nfilers; i++) {
        const struct cf_objdb_filer *f = &filers[i];
        (void)json_array_append_new(
            arr, json_pack("{s:I,s:s,s:s,s:I,s:I,s:b}", "id", (json_int_t)rec->filers[i], "url",
                           f->url, "status", f->status, "weight", (json_int_t)f->weight,
                           "read_weight", (json_int_t)f->read_weight, "read_only", f->read_only));
    }
    j = json_pack("{s:s,s:I,s:s,s:I,s:s,s:o,s:I,s:b}", "uuid", uuid, "size", (json_int_t)rec->size,
                  "sha512", hex, "replicas", (json_int_t)rec->replicas, "path", rec->path, "filers",
                  arr, "created_ms", (json_int_t)rec->created_ms, "deleted", rec->deleted);
    /* What the filers hold, and for an encrypted object its key wrapped
     * (objsrv unwraps it with its master key file) and the master key that
     * wraps it (the rewrap's progress). */
    if (j != NULL) {
        char shex[CF_SHA512_HEX_LEN + 1];
        cf_sha512_hex(rec->stored_sha512, shex);
        (void)json_object_set_new(j, "xform",
                                  json_string((rec->xform & CF_OBJDB_XFORM_ALL) == 3 ? "ze"
                                              : (rec->xform & CF_OBJDB_XFORM_Z) != 0 ? "z"
                                              : (rec->xform & CF_OBJDB_XFORM_E) != 0 ? "e"
                                                                                     : ""));
        (void)json_object_set_new(j, "stored_size", json_integer((json_int_t)rec->stored_size));
        (void)json_object_set_new(j, "stored_sha512", json_string(shex));
        if ((rec->xform & CF_OBJDB_XFORM_E) && rec->key_len <= CF_OBJDB_KEY_MAX) {
            char khex[2 * CF_OBJDB_KEY_MAX + 1];
            cf_hex_encode(rec->key, rec->key_len, khex);
            (void)json_object_set_new(j, "master_key",
                                      json_integer(cf_keyring_kid_of(rec->key, rec->key_len)));
            (void)json_object_set_new(j, "wrapped_key", json_string(khex));
        }
    }
    return j;
}

/* rec as record_json describes it, each filer as the view v (nv filers;
 * borrowed) has it, into *out (caller owns; json_decref). Returns 0, or
 * CF_EINTERNAL with err (*out NULL). */
static int record_reply(const struct cf_objdb_record *rec, const struct cf_objdb_filer *v,
                        size_t nv, json_t **out, char *err)
{
    struct cf_objdb_filer filers[CF_OBJDB_REPLICAS_MAX];

    record_filers(rec, v, nv, filers);
    *out = record_json(rec, filers);
    if (*out == NULL) {
        cf_err_set(err, "cannot build the record");
        return CF_EINTERNAL;
    }
    return 0;
}

int cf_app_record(struct cf_app *a, const char *uuid, size_t len, struct cf_objdb_record *rec,
                  struct cf_objdb_filer filers[CF_OBJDB_REPLICAS_MAX], char *err)
{
    struct cf_uuid u;
    char why[CF_ERR_LEN] = "";
    int rc;

    rc = cf_uuid_parse(uuid, len, &u, why);
    if (rc < 0) {
        cf_err_set(err, "malformed UUID: %s", why);
        return CF_EBADREQ;
    }
    rc = cf_objdb_get(a->odb, &u, 0, rec, err);
    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no such object");
    if (rc < 0)
        return rc;
    /* Only the record's filers are copied out of the view, under its lock
     * (view_snapshot would copy them all, for every record asked). */
    pthread_mutex_lock(&a->mu);
    record_filers(rec, a->view, a->nview, filers);
    pthread_mutex_unlock(&a->mu);
    return 0;
}

static enum MHD_Result serve_info(struct cf_app *a, struct MHD_Connection *c, const char *id,
                                  size_t len)
{
    struct cf_objdb_record rec;
    struct cf_objdb_filer filers[CF_OBJDB_REPLICAS_MAX];
    char err[CF_ERR_LEN] = "";
    json_t *j = NULL;
    int rc = cf_app_record(a, id, len, &rec, filers, err);

    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s", err);
    j = record_json(&rec, filers);
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the record");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

/* ---- the change feed (registry.h) that objsrv caches follow ---- */

/* Rows of the change feed one reply carries at most. */
#define CHANGES_PAGE 1000
/* How long the change feed keeps a row: far more than a poll period of the
 * objsrvs, which empty their caches when they fall behind it. */
#define CHANGES_KEEP_MS  (600u * 1000u)
#define CHANGES_PRUNE_NS (60ull * 1000000000ull)

/* GET /v1/changes?after=SEQ: the objects marked deleted after SEQ. */
static enum MHD_Result serve_changes(struct cf_app *a, struct MHD_Connection *c)
{
    const char *q = cf_http_query(c, "after");
    struct cf_change *v = NULL;
    char err[CF_ERR_LEN] = "", *end = NULL;
    uint64_t after = 0, oldest = 0, newest = 0;
    json_t *arr, *j;
    size_t n = 0;
    int rc;

    if (q != NULL) {
        errno = 0;
        after = strtoull(q, &end, 10);
        if (q[0] < '0' || q[0] > '9' || *end != '\0' || errno != 0)
            return cf_http_reply_error(c, CF_EBADREQ, "after must be a sequence number");
    }
    v = cf_xcalloc(CHANGES_PAGE, sizeof(*v));
    rc = cf_changes_list(a->odb, after, v, CHANGES_PAGE, &n, &oldest, &newest, err);
    if (rc < 0) {
        free(v);
        return cf_http_reply_error(c, rc, "%s", err);
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        (void)json_array_append_new(
            arr, json_pack("{s:I,s:s}", "seq", (json_int_t)v[i].seq, "uuid", v[i].uuid));
    free(v);
    j = json_pack("{s:o,s:I,s:I,s:b}", "changes", arr, "oldest", (json_int_t)oldest, "newest",
                  (json_int_t)newest, "more", n == CHANGES_PAGE);
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the reply");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

/* Drop change-feed rows older than CHANGES_KEEP_MS, once a minute. Any
 * number of apps may do it at once. */
static void changes_prune(struct cf_app *a)
{
    char err[CF_ERR_LEN] = "";
    uint64_t now = cf_now_ns(), wall = cf_wall_ms();
    int rc;

    if (a->changes_pruned_ns != 0 && now - a->changes_pruned_ns < CHANGES_PRUNE_NS)
        return;
    a->changes_pruned_ns = now;
    rc = cf_changes_prune(a->odb, wall > CHANGES_KEEP_MS ? wall - CHANGES_KEEP_MS : 0, err);
    if (rc < 0)
        cf_log(CF_LOG_WARN, "cannot prune the change feed: %s", err);
}

/* ---- POST /v1/admin/jobs reads a small JSON body ---- */

static enum MHD_Result jobs_begin(struct MHD_Connection *c, void **req_cls)
{
    const char *cl = cf_http_header(c, "Content-Length");
    struct cf_app_upload *u;

    if (cl != NULL && strtoull(cl, NULL, 10) > JOBS_BODY_MAX)
        return cf_http_refuse(c, req_cls, CF_ETOOLARGE, "a job request is at most %d bytes",
                              JOBS_BODY_MAX);
    u = cf_xcalloc(1, sizeof(*u));
    u->jobs_body = cf_xcalloc(1, sizeof(*u->jobs_body));
    cf_buf_init(u->jobs_body, JOBS_BODY_MAX);
    *req_cls = u;
    return MHD_YES;
}

/* Check the replica a finding named, with the audit's rules (maint.h
 * cf_audit_object), and log what it found and did. */
static void check_finding(struct cf_app *a, const struct finding_check *fc)
{
    struct cf_objdb_filer *view = NULL;
    struct cf_audit_result res;
    char err[CF_ERR_LEN] = "", text[CF_UUID_SIZE];
    size_t n = 0;
    int rc;

    cf_uuid_format(&fc->uuid, text);
    view_snapshot(a, &view, &n);
    rc = cf_audit_object(a->odb, a->jobs_scribe, view, n, a->stall_s, &fc->uuid, fc->filer, &res,
                         err);
    free(view);
    if (rc < 0) {
        cf_log(rc == CF_ENOTFOUND ? CF_LOG_INFO : CF_LOG_WARN,
               "finding check of %s on filer %" PRIu32 " not done: %s", text, fc->filer,
               err[0] ? err : cf_strerror(rc));
        return;
    }
    cf_log(CF_LOG_INFO,
           "finding check of %s on filer %" PRIu32 ": read %" PRIu64 " ok %" PRIu64
           " missing %" PRIu64 " corrupt %" PRIu64 " repaired %" PRIu64 " unreachable %" PRIu64
           " lost %" PRIu64 " failed %" PRIu64,
           text, fc->filer, res.replicas_checked, res.ok, res.missing, res.corrupt, res.repaired,
           res.unreachable, res.lost, res.failed);
}

/* The checker thread: the queued findings, oldest first, until stopped. */
static void *check_main(void *arg)
{
    struct cf_app *a = arg;
    struct finding_check fc;

    pthread_mutex_lock(&a->find_mu);
    for (;;) {
        while (!a->check_stop && a->nchecks == 0)
            pthread_cond_wait(&a->check_cv, &a->find_mu);
        if (a->check_stop)
            break;
        fc = a->checks[a->check_head];
        a->check_head = (a->check_head + 1) % CHECK_QUEUE_MAX;
        a->nchecks--;
        pthread_mutex_unlock(&a->find_mu);
        check_finding(a, &fc);
        pthread_mutex_lock(&a->find_mu);
    }
    pthread_mutex_unlock(&a->find_mu);
    return NULL;
}

/* Queue the check of uuid's replica on filer: "queued", "pending" (the
 * same one waits already), "full" (dropped, logged) or "off". */
static const char *check_queue(struct cf_app *a, const struct cf_uuid *uuid, uint32_t filer,
                               const char *text)
{
    const char *what = "queued";

    if (!a->finding_checks)
        return "off";
    pthread_mutex_lock(&a->find_mu);
    for (size_t i = 0; i < a->nchecks; i++) {
        const struct finding_check *q = &a->checks[(a->check_head + i) % CHECK_QUEUE_MAX];
        if (q->filer == filer && q->uuid.shard == uuid->shard && q->uuid.oid == uuid->oid &&
            q->uuid.rnd == uuid->rnd)
            what = "pending";
    }
    if (strcmp(what, "queued") == 0 && a->nchecks == CHECK_QUEUE_MAX) {
        what = "full";
    } else if (strcmp(what, "queued") == 0) {
        a->checks[(a->check_head + a->nchecks) % CHECK_QUEUE_MAX] =
            (struct finding_check){.uuid = *uuid, .filer = filer};
        a->nchecks++;
        pthread_cond_signal(&a->check_cv);
    }
    pthread_mutex_unlock(&a->find_mu);
    if (strcmp(what, "full") == 0)
        cf_log(CF_LOG_WARN,
               "finding on %s on filer %" PRIu32 " not checked: %d checks wait already; the "
               "next read that meets it reports it again",
               text, filer, CHECK_QUEUE_MAX);
    return what;
}

/* POST /v1/findings {"uuid","filer","kind","message"}: a replica a read
 * found bad (objsrv, fetch.h). The finding goes to the scribe (at most
 * FINDING_EVENTS_PER_MIN per filer and minute) and its replica is queued
 * for a check of that object alone (check_main), which rewrites it from a
 * good replica if it is missing or corrupt. 202 {"logged","check"} (check:
 * check_queue's answer) at once; 400 a malformed body. */
static enum MHD_Result serve_findings(struct cf_app *a, struct MHD_Connection *c, const char *body,
                                      size_t len)
{
    json_t *req = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *uuid = json_string_value(json_object_get(req, "uuid"));
    const char *kind = json_string_value(json_object_get(req, "kind"));
    const char *msg = json_string_value(json_object_get(req, "message"));
    json_int_t filer = json_integer_value(json_object_get(req, "filer"));
    char err[CF_ERR_LEN] = "";
    struct cf_uuid u;
    const char *check;
    bool log_it;

    if (uuid == NULL || cf_uuid_parse(uuid, strlen(uuid), &u, err) < 0 || kind == NULL ||
        (strcmp(kind, CF_SCRIBE_CHECKSUM) != 0 && strcmp(kind, CF_SCRIBE_MISSING) != 0 &&
         strcmp(kind, CF_SCRIBE_FILER_ERROR) != 0) ||
        msg == NULL || strlen(msg) > FINDING_MSG_MAX || filer < 1 || filer > UINT32_MAX) {
        json_decref(req);
        return cf_http_reply_error(c, CF_EBADREQ,
                                   "a finding is {\"uuid\",\"filer\":ID,\"kind\":\"checksum\"|"
                                   "\"missing\"|\"filer.error\",\"message\"} (message at most "
                                   "%d bytes)",
                                   FINDING_MSG_MAX);
    }
    cf_log(CF_LOG_WARN, "a read found replica of %s on filer %" PRIu32 " bad (%s): %s", uuid,
           (uint32_t)filer, kind, msg);
    log_it = filer_event(a, (uint32_t)filer, kind, uuid, "download", msg);
    check = check_queue(a, &u, (uint32_t)filer, uuid);
    json_decref(req);
    return cf_http_reply_json(c, MHD_HTTP_ACCEPTED,
                              json_pack("{s:b,s:s}", "logged", log_it, "check", check));
}

static enum MHD_Result jobs_request(struct cf_app *a, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *data, size_t *size,
                                    struct cf_app_upload *u)
{
    if (*size > 0) {
        if (u->err == 0 && cf_buf_append(u->jobs_body, data, *size) < 0)
            u->err = CF_ETOOLARGE;
        *size = 0;
        return MHD_YES;
    }
    if (u->err < 0)
        return cf_http_reply_error(c, u->err, "a job request is at most %d bytes", JOBS_BODY_MAX);
    if (strcmp(url, REPAIR) == 0)
        return cf_jobs_serve_repair(a->jobs, c, u->jobs_body->base, u->jobs_body->len);
    if (strcmp(url, FINDINGS) == 0)
        return serve_findings(a, c, u->jobs_body->base, u->jobs_body->len);
    return cf_jobs_serve(a->jobs, c, method, url, u->jobs_body->base, u->jobs_body->len);
}

/* The distributor's view, for the jobs. */
static void jobs_filers(void *ctx, struct cf_objdb_filer **out, size_t *n)
{
    view_snapshot(ctx, out, n);
}

static int jobs_open(struct cf_app *a, const struct cf_app_conf *conf, char *err)
{
    char instance[96];
    struct cf_job_env env = {.odb = a->odb,
                             .catalog_uri = conf->db,
                             .stall_s = a->stall_s,
                             .stale_delay_ms = a->stale_delay_ms,
                             .clock = a->clock,
                             .filers = jobs_filers,
                             .filers_ctx = a,
                             .instance = instance,
                             .keyring = a->keyring};
    int rc;

    (void)snprintf(instance, sizeof(instance), "app %.80s", conf->listen);

    rc = cf_scribe_open(conf->db, 0, &a->jobs_scribe, err);
    if (rc < 0)
        return rc;
    env.scribe = a->jobs_scribe;
    rc = cf_jobs_open(&env, cf_maint_kinds, CF_MAINT_NKINDS, &a->jobs, err);
    if (rc < 0)
        return rc;
    /* The periodic passes go through the framework, so they show in
     * GET /v1/admin/jobs and resume after a restart. */
    if (conf->audit_interval_s > 0) {
        json_t *args = json_pack("{s:I}", "bw_mbps", (json_int_t)conf->audit_bw_mbps);
        rc = cf_jobs_schedule(a->jobs, "audit", args, conf->audit_interval_s * 1000);
        json_decref(args);
    }
    if (rc == 0 && conf->dedupe_interval_s > 0)
        rc = cf_jobs_schedule(a->jobs, "dedupe", NULL, conf->dedupe_interval_s * 1000);
    if (rc == 0 && conf->orphans_interval_s > 0)
        rc = cf_jobs_schedule(a->jobs, "orphans", NULL, conf->orphans_interval_s * 1000);
    if (rc < 0)
        cf_err_set(err, "cannot schedule the periodic jobs: %s", cf_strerror(rc));
    return rc;
}

/* ---- read-only views for the cluster key ---- */

/* GET /v1/stats: the object database's counts as of the last pass (the
 * gauges of counts_pass), and the replicas wanted. */
static enum MHD_Result serve_stats(struct cf_app *a, struct MHD_Connection *c)
{
    struct cf_objdb_counts n;
    uint64_t at;

    pthread_mutex_lock(&a->mu);
    n = a->counts;
    at = a->counted_ms;
    pthread_mutex_unlock(&a->mu);
    return cf_http_reply_json(c, MHD_HTTP_OK,
                              json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "records",
                                        (json_int_t)n.records, "aliases", (json_int_t)n.aliases,
                                        "replica_deficit", (json_int_t)n.deficit, "stale_replicas",
                                        (json_int_t)n.stale, "replicas", (json_int_t)a->replicas,
                                        "counted_ms", (json_int_t)at));
}

/* GET /v1/jobs[/N]: GET /v1/admin/jobs[/N] for the cluster key, which may
 * read the jobs but neither start nor stop one. */
static enum MHD_Result serve_jobs_read(struct cf_app *a, struct MHD_Connection *c,
                                       const char *method, const char *rest)
{
    char url[64];

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return cf_http_reply_error(c, CF_EMETHOD,
                                   "use GET; starting and stopping jobs is /v1/admin/jobs");
    if (strlen(rest) > 24)
        return cf_http_reply_error(c, CF_ENOTFOUND, "no such endpoint");
    (void)snprintf(url, sizeof(url), "/v1/admin/jobs%s", rest);
    return cf_jobs_serve(a->jobs, c, method, url, NULL, 0);
}

/* ---- routing ---- */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
    struct cf_app *a = cls;
    struct cf_app_upload *u = *req_cls;
    size_t plen = sizeof(OBJECTS) - 1;

    (void)version;
    if (u != NULL && u->jobs_body != NULL)
        return jobs_request(a, c, url, method, upload_data, upload_data_size, u);
    if (u != NULL) {
        if (*upload_data_size > 0) {
            /* A failure is kept in u and replied at the end of the body. */
            (void)upload_body(u, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        return upload_finish(c, u);
    }
    if (strcmp(url, OBJECTS) == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return cf_http_reply_error(c, CF_EMETHOD, "use POST to upload");
        return upload_begin(a, c, req_cls);
    }
    if (strncmp(url, OBJECTS "/", plen + 1) == 0) {
        const char *id = url + plen + 1, *slash = strchr(id, '/');
        if (slash == NULL && strcmp(method, MHD_HTTP_METHOD_DELETE) == 0)
            return serve_delete(a, c, id, strlen(id), false);
        if (slash != NULL && strcmp(slash, "/undelete") == 0) {
            if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
                return cf_http_reply_error(c, CF_EMETHOD, "use POST");
            return serve_delete(a, c, id, (size_t)(slash - id), true);
        }
        if (slash != NULL && strcmp(slash, "/info") == 0) {
            if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, "HEAD") != 0)
                return cf_http_reply_error(c, CF_EMETHOD, "use GET");
            return serve_info(a, c, id, (size_t)(slash - id));
        }
        return cf_http_reply_error(c, CF_ENOTFOUND, "downloads are served by objsrv");
    }
    if (strncmp(url, "/v1/admin/jobs", 14) == 0 && (url[14] == '\0' || url[14] == '/')) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return cf_jobs_serve(a->jobs, c, method, url, NULL, 0);
        return jobs_begin(c, req_cls);
    }
    if (strncmp(url, "/v1/jobs", 8) == 0 && (url[8] == '\0' || url[8] == '/'))
        return serve_jobs_read(a, c, method, url + 8);
    if (strcmp(url, "/v1/stats") == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
            return cf_http_reply_error(c, CF_EMETHOD, "use GET");
        return serve_stats(a, c);
    }
    if (strcmp(url, REPAIR) == 0 || strcmp(url, FINDINGS) == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return cf_http_reply_error(c, CF_EMETHOD, "use POST");
        return jobs_begin(c, req_cls);
    }
    if (strcmp(url, "/v1/admin/purge") == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return cf_http_reply_error(c, CF_EMETHOD, "use POST");
        return serve_purge_now(a, c);
    }
    if (strcmp(url, "/v1/changes") == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
            return cf_http_reply_error(c, CF_EMETHOD, "use GET");
        return serve_changes(a, c);
    }
    if (strcmp(url, "/status") == 0) {
        json_t *j = json_pack("{s:s,s:I,s:I}", "role", "app", "requests",
                              (json_int_t)cf_http_server_requests(a->http), "in_flight",
                              (json_int_t)cf_http_server_in_flight(a->http));
        return cf_http_reply_json(c, MHD_HTTP_OK, j);
    }
    return cf_http_reply_error(c, CF_ENOTFOUND, "no such endpoint");
}

/* The end of u's request or call: completed (its reply was given, or
 * cf_app_upload_finish returned) or not (the client went away). Releases
 * the holds of an upload not committed and frees u (a of u; u->a is NULL
 * for a jobs body). */
static void upload_close(struct cf_app *a, struct cf_app_upload *u, bool completed)
{
    char err[CF_ERR_LEN] = "";

    if (!completed && u->committed) {
        /* Committed, and the request ended in error. The reply may still have
         * reached the client (a balancer that closes the connection right
         * after reading it looks the same from here), so the object is kept:
         * a record nobody names costs only its space, while deleting an
         * acknowledged object loses it. */
        cf_log(CF_LOG_WARN,
               "upload %s committed; the request ended in error after the commit (reply "
               "perhaps lost): kept",
               u->uuid_text);
    } else if (!completed && u->fo != NULL) {
        cf_log(CF_LOG_INFO, "upload %s abandoned by the client; nothing recorded", u->uuid_text);
    }
    if (!u->committed && u->held && cf_objdb_upload_release(a->odb, &u->uuid, err) < 0)
        cf_log(CF_LOG_WARN, "upload %s: its holds end at their time: %s", u->uuid_text, err);
    /* Freeing the fan-out aborts the filers' transfers: each drops its temporary. */
    upload_free(u);
}

static void done(void *cls, struct MHD_Connection *c, void *state,
                 enum MHD_RequestTerminationCode why)
{
    (void)c;
    upload_close(cls, state, why == MHD_REQUEST_TERMINATED_COMPLETED_OK);
}

/* ---- uploads in process (app.h) ---- */

int cf_app_upload_open(struct cf_app *a, unsigned replicas, const char *xform,
                       struct cf_app_upload **out, char *err)
{
    char msg[CF_ERR_LEN + 64] = "";
    int rc = upload_start(a, replicas, xform, NULL, out, msg, sizeof(msg));

    if (rc < 0)
        cf_err_set(err, "%s", msg);
    return rc;
}

int cf_app_upload_write(struct cf_app_upload *u, const void *p, size_t n)
{
    return upload_body(u, p, n);
}

int cf_app_upload_finish(struct cf_app_upload *u, json_t **record, char *err)
{
    char detail[CF_ERR_LEN] = "";
    int rc = upload_end(u, record, detail);

    if (rc < 0)
        cf_err_set(err, "%s", detail);
    u->finished = true;
    return rc;
}

void cf_app_upload_free(struct cf_app_upload *u)
{
    /* Freed on the thread that opened it: the fan-out's transfers borrow
     * that thread's libcurl multi handle (fanout.h). */
    if (u != NULL)
        upload_close(u->a, u, u->finished);
}

/* ---- life cycle ---- */

/* What a request needs (http.h): /status is liveness for anyone; the
 * admin routes (purge, jobs) need the operator key; the rest, any key
 * (POST /v1/repair included: the active monitor's automatic rebuilds and
 * audits, which only restore replicas; GET /v1/jobs and /v1/stats, which
 * only read). */
static int access_of(void *cls, const char *method, const char *url)
{
    (void)cls;
    if (strcmp(method, "GET") == 0 && strcmp(url, "/status") == 0)
        return CF_ACCESS_PUBLIC;
    if (strncmp(url, "/v1/admin/", 10) == 0 || strcmp(url, "/v1/admin") == 0)
        return CF_ACCESS_ADMIN;
    return CF_ACCESS_INTERNAL;
}

int cf_app_start(const struct cf_app_conf *conf, struct cf_app **out, uint16_t *port_out, char *err)
{
    struct cf_app *a = cf_xcalloc(1, sizeof(*a));
    struct cf_http_server_opts ho = {.listen_fd = -1,
                                     .handler = handler,
                                     .done = done,
                                     .cls = a,
                                     .role = "app",
                                     .tls_cert = conf->tls_cert,
                                     .tls_key = conf->tls_key,
                                     .limits = conf->http};
    int rc;

    a->replicas = (unsigned)conf->replicas;
    a->stall_s = (unsigned)conf->stall_s;
    a->poll_ms = (unsigned)conf->poll_ms;
    a->purge_retention_ms = conf->purge_retention_s * 1000;
    a->purge_interval_ms = conf->purge_interval_ms;
    a->dedupe = conf->dedupe;
    a->stale_delay_ms = conf->stale_delay_ms;
    a->upload_hold_ms = (conf->upload_hold_s ? conf->upload_hold_s : CF_APP_UPLOAD_HOLD_S) * 1000;
    a->auto_shard = conf->auto_shard && conf->db != NULL && strncmp(conf->db, "sqlite:", 7) == 0;
    if (conf->auto_shard && !a->auto_shard)
        cf_log(CF_LOG_WARN, "--auto-shard is ignored: it needs a SQLite catalog (add shards with "
                            "`coffer admin shard add --location URI`)");
    else if (a->auto_shard && conf->purge_interval_ms == 0)
        cf_log(CF_LOG_WARN, "--auto-shard does nothing with --purge-interval-ms 0 (no periodic "
                            "pass checks the shards)");
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->purge_mu, NULL);
    pthread_mutex_init(&a->stop_mu, NULL);
    pthread_mutex_init(&a->find_mu, NULL);
    pthread_cond_init(&a->check_cv, NULL);
    a->finding_checks = conf->finding_checks;
    pthread_cond_init(&a->stop_cv, NULL);
    /* First: the jobs resumed below already sign their requests. */
    rc = cf_role_auth_serve("app", &conf->auth, access_of, &ho, &a->cred, err);
    if (rc < 0)
        goto out;
    if (conf->master_key_file != NULL) {
        rc = cf_keyring_load(conf->master_key_file, &a->keyring, err);
        if (rc < 0)
            goto out;
    }
    cf_db_pool_set_default_wait((unsigned)conf->db_wait_ms);
    rc = cf_objdb_open(conf->db, (unsigned)conf->db_pool, &a->odb, err);
    if (rc < 0)
        goto out;
    rc = cf_clockguard_open(conf->db, "app", conf->test_clock_offset_file, &a->clock, err);
    if (rc == 0)
        rc = cf_scribe_open(conf->db, 1, &a->clock_scribe, err);
    if (rc < 0)
        goto out;
    if (conf->track_filers) {
        /* 2 s, as before the monitor: the app's polls tolerate a loaded filer. */
        struct cf_tracker_opts to = {.poll_ms = a->poll_ms, .timeout_ms = 2000};
        rc = cf_scribe_open(conf->db, 0, &a->trk_scribe, err);
        if (rc == 0)
            rc = cf_tracker_new(a->odb, a->trk_scribe, &to, &a->trk, err);
        if (rc < 0)
            goto out;
    }
    cf_app_poll_filers(a);
    if (pthread_create(&a->tracker, NULL, tracker_main, a) != 0) {
        cf_err_set(err, "cannot start the filer tracker thread");
        rc = CF_EINTERNAL;
        goto out;
    }
    a->tracker_started = true;
    if (a->purge_interval_ms > 0) {
        a->m_purge_passes = cf_metric_counter("coffer_purge_passes_total",
                                              "periodic delete/purge passes run by this app", NULL);
        rc = cf_lease_open(conf->db, "app.purge", conf->listen, 0, &a->purge_lease, err);
        if (rc == 0 && cf_lease_start(a->purge_lease) < 0) {
            rc = CF_EINTERNAL;
            cf_err_set(err, "cannot start the lease thread");
        }
        if (rc < 0)
            goto out;
        if (pthread_create(&a->purger, NULL, purger_main, a) != 0) {
            cf_err_set(err, "cannot start the purge thread");
            rc = CF_EINTERNAL;
            goto out;
        }
        a->purger_started = true;
    }
    rc = jobs_open(a, conf, err);
    if (rc < 0)
        goto out;
    if (pthread_create(&a->checker, NULL, check_main, a) != 0) {
        cf_err_set(err, "cannot start the findings checker thread");
        rc = CF_EINTERNAL;
        goto out;
    }
    a->checker_started = true;
    counts_pass(a);
    rc = cf_net_listen(conf->listen, 1024, &ho.listen_fd, port_out, err);
    if (rc < 0)
        goto out;
    rc = cf_http_server_start(&ho, &a->http, err);
    if (rc < 0)
        goto out;
    *out = a;
    a = NULL;
out:
    cf_app_free(a);
    return rc;
}

void cf_app_drain(struct cf_app *a, unsigned timeout_s)
{
    cf_http_server_drain(a->http, timeout_s);
}

void cf_app_free(struct cf_app *a)
{
    if (a == NULL)
        return;
    cf_http_server_free(a->http);
    cf_role_auth_close(a->cred);
    pthread_mutex_lock(&a->stop_mu);
    a->stop = true;
    pthread_cond_broadcast(&a->stop_cv);
    pthread_mutex_unlock(&a->stop_mu);
    if (a->tracker_started)
        pthread_join(a->tracker, NULL);
    if (a->purger_started)
        pthread_join(a->purger, NULL);
    /* Waits for a check under way (each read and copy bounded by stall_s). */
    pthread_mutex_lock(&a->find_mu);
    a->check_stop = true;
    pthread_cond_broadcast(&a->check_cv);
    pthread_mutex_unlock(&a->find_mu);
    if (a->checker_started)
        pthread_join(a->checker, NULL);
    cf_lease_close(a->purge_lease);
    cf_jobs_close(a->jobs);
    cf_scribe_close(a->jobs_scribe);
    cf_scribe_close(a->clock_scribe);
    cf_clockguard_close(a->clock);
    cf_tracker_free(a->trk);
    cf_scribe_close(a->trk_scribe);
    cf_objdb_close(a->odb);
    cf_keyring_free(a->keyring);
    free(a->view);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->purge_mu);
    pthread_mutex_destroy(&a->stop_mu);
    pthread_mutex_destroy(&a->find_mu);
    pthread_cond_destroy(&a->check_cv);
    pthread_cond_destroy(&a->stop_cv);
    free(a);
}

static const char usage[] =
    "usage: coffer app [--listen HOST:PORT] [--db sqlite:PATH] [--replicas R]\n"
    "\n"
    "Runs the upload service: POST /v1/objects streams a body to R filers at once\n"
    "and records it under a UUID; GET /v1/objects/UUID/info returns the record.\n"
    "DELETE /v1/objects/UUID marks it deleted; after --purge-retention-s its\n"
    "replicas are purged (POST /v1/admin/purge runs the pass now).\n"
    "Filers are registered with `coffer admin filer add`.\n";

static int role_start(const void *conf, void **svc, uint16_t *port, char *err)
{
    struct cf_app *x = NULL;
    int rc = cf_app_start(conf, &x, port, err);

    *svc = x;
    return rc;
}

static void role_drain(void *svc, unsigned timeout_s)
{
    cf_app_drain(svc, timeout_s);
}

static void role_free(void *svc)
{
    cf_app_free(svc);
}

int cf_app_main(int argc, char **argv)
{
    static const struct cf_role role = {
        .name = "app",
        .opts = cf_app_conf_opts,
        .nopts = CF_ARRAY_LEN(cf_app_conf_opts),
        .usage = usage,
        .log_level_off = offsetof(struct cf_app_conf, log_level),
        .listen_off = offsetof(struct cf_app_conf, listen),
        .id_off = SIZE_MAX,
        .tls_off = offsetof(struct cf_app_conf, tls_cert),
        .tls_ca_off = offsetof(struct cf_app_conf, tls_ca),
        .beat_off = offsetof(struct cf_app_conf, beat),
        .start = role_start,
        .drain = role_drain,
        .free = role_free,
    };
    struct cf_app_conf conf = {0};

    return cf_role_run(&role, &conf, argc, argv);
}
