/*
 * monitor.c -- the monitor role (monitor.h): tracker, summary table and
 * scribe over HTTP.
 */
#include "coffer/monitor.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/beat.h"
#include "coffer/buf.h"
#include "coffer/clockguard.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/http.h"
#include "coffer/httpc.h"
#include "coffer/lease.h"
#include "coffer/log.h"
#include "coffer/metrics.h"
#include "coffer/net.h"
#include "coffer/objdb.h"
#include "coffer/probe.h"
#include "coffer/registry.h"
#include "coffer/role.h"
#include "coffer/scribe.h"
#include "coffer/tracker.h"

#define FILERS "/v1/filers"
#define LOG    "/v1/log"
/* The duty thread's period. */
#define DUTY_TICK_MS 250
/* The longest an app may take to answer a repair's start, and the least
 * worth sending it with. */
#define REPAIR_CALL_MS     5000
#define REPAIR_CALL_MIN_MS 100
/* Longest app URL of --app. */
#define APP_URL_MAX 512
/* The longest a probe's step may take. */
#define PROBE_TIMEOUT_MS 10000

/* What the active monitor knows of one filer's outage (duty thread only). */
struct outage {
    uint32_t id;
    bool down;         /* seen offline, not yet back */
    bool rebuilt;      /* a rebuild was started for this outage */
    uint64_t since_ms; /* its last answer before the outage */
    uint64_t retry_ms; /* a refused start is asked for again at this time */
};

struct cf_monitor {
    struct cf_objdb *odb;
    struct cf_scribe *scribe;
    /* The active monitor's tracker; NULL while passive. The pointer is
     * changed by the duty thread under trk_mu, read by requests under it. */
    struct cf_tracker *tracker;
    pthread_mutex_t trk_mu;
    struct cf_tracker_opts topts;
    /* The lease "monitor" and the duty thread (activation, repairs). */
    struct cf_lease *lease;
    pthread_t duty;
    bool duty_started;
    struct cf_metric *m_active;
    /* Automatic repairs go through these (NULL-terminated); replaced by
     * cf_monitor_set_apps, read by the duty thread, both under apps_mu. */
    char **apps;
    pthread_mutex_t apps_mu;
    uint64_t rebuild_after_ms;
    struct outage *outages; /* duty thread only */
    size_t noutages;
    /* The status changes read so far (scribe events of kind
     * CF_SCRIBE_FILER_STATUS since activation; duty thread only), so an
     * outage shorter than a look at the table is seen too. */
    uint64_t ev_since_ms, ev_after;
    struct cf_http_server *http;
    /* scribe retention */
    uint64_t keep_ms, max_rows, prune_ms;
    struct cf_clockguard *clock; /* "now" of retention */
    pthread_t pruner;
    bool pruner_started;
    bool stop; /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* CLOCK_MONOTONIC */
    struct cf_cred *cred; /* verifies requests (http.h); freed after http */
    /* The instance registry (registry.h): this monitor's own row, and
     * marking down those that stopped heart-beating. */
    struct cf_instance self;
    pthread_t registrar;
    bool registrar_started;
    /* Synthetic probes (probe.h), run by the active monitor every probe_ms
     * through the first of apps and probe_objsrv (set under apps_mu; NULL:
     * no probes until cf_monitor_set_objsrv). */
    char *probe_objsrv;
    uint64_t probe_ms;
    pthread_t prober;
    bool prober_started;
    unsigned probe_failed; /* failed rounds in a row (prober thread only) */
    struct cf_metric *m_probe_s[CF_PROBE_OPS], *m_probe_up, *m_probe_rounds[2];
};

/* A POST being read. */
struct req {
    bool beat; /* POST /v1/instances */
    bool log;  /* POST /v1/log; else maintenance of filer id */
    uint32_t id;
    bool too_big; /* the body passed CF_MONITOR_BODY_MAX */
    struct cf_buf body;
};

#define OFF(f) offsetof(struct cf_monitor_conf, f)
const struct cf_conf_opt cf_monitor_conf_opts[] = {
    {"listen", CF_CONF_STR, "127.0.0.1:8203", 0, 0, OFF(listen), "HOST:PORT to serve HTTP on",
     false},
    {"db", CF_CONF_STR, "sqlite:./data/catalog.db", 0, 0, OFF(db),
     "object database catalog URI (sqlite:PATH or postgres://...)", false},
    {"poll-ms", CF_CONF_U64, "1000", 50, 600000, OFF(poll_ms),
     "how often every filer's /status is polled", true},
    {"timeout-ms", CF_CONF_U64, "1000", 10, 60000, OFF(timeout_ms),
     "a /status slower than this is no answer", true},
    {"offline-after", CF_CONF_U64, "2", 1, 100, OFF(offline_after),
     "polls in a row without an answer before a filer is offline", true},
    {"busy-ms", CF_CONF_U64, "500", 1, 600000, OFF(busy_ms),
     "latency (moving average) over which a filer is busy", true},
    {"high-water", CF_CONF_STR, "0.95", 0, 0, OFF(high_water),
     "used/total at which a filer turns read-only, in (0, 1]", true},
    {"low-water", CF_CONF_STR, "0.90", 0, 0, OFF(low_water),
     "used/total under which a read-only filer is writable again, below high-water", true},
    {"log-level", CF_CONF_STR, "info", 0, 0, OFF(log_level), "error, warn, info or debug", true},
    {"log-retention-days", CF_CONF_U64, "30", 0, 36500, OFF(log_retention_days),
     "scribe events older than this many days are deleted (0: kept)", false},
    {"log-max-rows", CF_CONF_U64, "1000000", 0, 1000000000000, OFF(log_max_rows),
     "at most this many scribe events are kept, the newest (0: no bound)", false},
    {"log-prune-ms", CF_CONF_U64, "60000", 0, 86400000, OFF(log_prune_ms),
     "how often scribe retention runs (0: never)", false},

    CF_ROLE_TLS_OPTS(struct cf_monitor_conf),
    CF_ROLE_TLS_CA_OPT(struct cf_monitor_conf),
    CF_HTTP_LIMITS_CONF_OPTS(struct cf_monitor_conf),
    {"test-clock-offset-file", CF_CONF_STR, NULL, 0, 0, OFF(test_clock_offset_file),
     "TESTS ONLY: add the milliseconds in this file to the clock of scribe retention", false},
    CF_ROLE_PLACE_OPTS(OFF),
    CF_ROLE_AUTH_OPTS(OFF),
    {"lease-ms", CF_CONF_U64, "5000", 500, 600000, OFF(lease_ms),
     "time to live of the lease that makes one monitor active; renewed every fifth", false},
    {"app", CF_CONF_STR, NULL, 0, 0, OFF(apps),
     "URL[,URL...] of apps the active monitor starts automatic rebuilds and audits on", false},
    {"rebuild-after-s", CF_CONF_U64, "300", 0, 30u * 86400, OFF(rebuild_after_s),
     "seconds offline after which a filer's replicas are rebuilt elsewhere (0: never)", false},
    {"history-period-s", CF_CONF_U64, "3600", 0, 86400, OFF(history_period_s),
     "seconds of each filer history row (bytes in and out, I/O errors, failed polls, fill; "
     "GET /v1/history), kept as long as the events (0: none)",
     false},
    {"probe-objsrv", CF_CONF_STR, NULL, 0, 0, OFF(probe_objsrv),
     "URL of an objsrv: the active monitor then probes (uploads through the first --app, "
     "downloads, deletes) every --probe-interval-s",
     false},
    {"probe-interval-s", CF_CONF_U64, "60", 0, 86400, OFF(probe_interval_s),
     "seconds between synthetic probes (0: none)", false},
};
const size_t cf_monitor_conf_nopts = CF_ARRAY_LEN(cf_monitor_conf_opts);

/* ---- small parsers ------------------------------------------------------------ */

/* A fraction "0.95" (NULL: 0, the default). */
static int parse_fraction(const char *name, const char *s, double *out, char *err)
{
    char *end = NULL;
    double v;

    *out = 0;
    if (s == NULL)
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || !(v > 0 && v <= 1)) {
        cf_err_set(err, "--%s must be a fraction in (0, 1], not \"%.32s\"", name, s);
        return CF_EINVAL;
    }
    *out = v;
    return 0;
}

/* Decimal digits only, at most max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* ---- GET /v1/filers ------------------------------------------------------------- */

static json_t *filer_json(struct cf_monitor *m, const struct cf_objdb_filer *f)
{
    struct cf_tracker_info ti;
    bool measured;
    json_t *j;

    pthread_mutex_lock(&m->trk_mu);
    measured = m->tracker != NULL && cf_tracker_info(m->tracker, f->id, &ti) == 0 && ti.measured;
    pthread_mutex_unlock(&m->trk_mu);
    if (!measured)
        memset(&ti, 0, sizeof(ti));
    j = json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:I}", "id", (json_int_t)f->id, "url",
                  f->url, "status", f->status, "weight", (json_int_t)f->weight, "base_weight",
                  (json_int_t)f->base_weight, "used_bytes", (json_int_t)f->used_bytes,
                  "total_bytes", (json_int_t)f->total_bytes, "objects", (json_int_t)f->objects,
                  "read_only", f->read_only, "last_seen_ms", (json_int_t)f->last_seen_ms,
                  "failures", (json_int_t)ti.failures);
    if (j != NULL)
        (void)json_object_set_new(j, "dc", json_string(f->dc));
    if (j != NULL)
        (void)json_object_set_new(j, "read_weight", json_integer((json_int_t)f->read_weight));
    if (j != NULL)
        (void)json_object_set_new(j, "latency_ms",
                                  measured ? json_real(ti.latency_ms) : json_null());
    return j;
}

static enum MHD_Result serve_filers(struct cf_monitor *m, struct MHD_Connection *c)
{
    struct cf_objdb_filer *fl = NULL;
    char err[CF_ERR_LEN] = "";
    json_t *arr, *j;
    size_t n = 0;
    int rc;

    rc = cf_objdb_filer_list(m->odb, &fl, &n, err);
    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s", err);
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, filer_json(m, &fl[i])) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(fl);
    j = json_pack("{s:o,s:I}", "filers", arr, "now_ms", (json_int_t)cf_wall_ms());
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the reply");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

/* ---- maintenance ----------------------------------------------------------------- */

static enum MHD_Result finish_maintenance(struct cf_monitor *m, struct MHD_Connection *c,
                                          struct req *r)
{
    struct cf_objdb_filer before, after;
    char err[CF_ERR_LEN] = "";
    json_t *j = NULL, *on;
    json_error_t je;
    enum MHD_Result res;
    int rc;

    if (r->body.len > 0)
        j = json_loadb(r->body.base, r->body.len, 0, &je);
    on = json_object_get(j, "on");
    if (!json_is_object(j) || !json_is_boolean(on)) {
        res = cf_http_reply_error(c, CF_EBADREQ, "send JSON {\"on\": true} or {\"on\": false}");
        goto out;
    }
    rc = cf_objdb_filer_get(m->odb, r->id, &before, err);
    if (rc == 0)
        rc = cf_objdb_filer_set_maintenance(m->odb, r->id, json_is_true(on), err);
    if (rc == 0)
        rc = cf_objdb_filer_get(m->odb, r->id, &after, err);
    if (rc < 0) {
        res = cf_http_reply_error(c, rc, "%s", err);
        goto out;
    }
    if (strcmp(before.status, after.status) != 0) {
        cf_log(CF_LOG_INFO, "filer %" PRIu32 " (%s) is now %s: set by the operator", after.id,
               after.url, after.status);
        (void)cf_scribe_event(m->scribe, CF_SCRIBE_FILER_STATUS, after.id, NULL,
                              "%s -> %s: set by the operator", before.status, after.status);
    }
    res = cf_http_reply_json(c, MHD_HTTP_OK, filer_json(m, &after));
out:
    json_decref(j);
    return res;
}

/* ---- the log ----------------------------------------------------------------------- */

static enum MHD_Result serve_log(struct cf_monitor *m, struct MHD_Connection *c)
{
    static const char *const names[] = {"since", "until", "after", "filer", "limit"};
    struct cf_scribe_query q = {0};
    struct cf_scribe_event *ev = NULL;
    uint64_t v[CF_ARRAY_LEN(names)] = {0};
    char err[CF_ERR_LEN] = "";
    json_t *arr, *j;
    size_t n = 0;
    int rc;

    for (size_t i = 0; i < CF_ARRAY_LEN(names); i++) {
        const char *s = cf_http_query(c, names[i]);
        uint64_t max = strcmp(names[i], "filer") == 0   ? UINT32_MAX
                       : strcmp(names[i], "limit") == 0 ? CF_SCRIBE_QUERY_MAX
                                                        : (uint64_t)INT64_MAX;
        if (s != NULL && !parse_u64(s, max, &v[i]))
            return cf_http_reply_error(c, CF_EBADREQ, "%s must be a decimal number up to %" PRIu64,
                                       names[i], max);
    }
    q.since_ms = v[0];
    q.until_ms = v[1];
    q.after_id = v[2];
    q.filer = (uint32_t)v[3];
    q.limit = (size_t)v[4];
    q.kind = cf_http_query(c, "kind");
    if (q.kind != NULL && q.kind[0] == '\0')
        q.kind = NULL;
    rc = cf_scribe_query(m->scribe, &q, &ev, &n, err);
    if (rc < 0)
        return cf_http_reply_error(c, rc == CF_EINVAL ? CF_EBADREQ : rc, "%s", err);
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *e =
            json_pack("{s:I,s:I,s:s,s:I,s:s,s:s}", "id", (json_int_t)ev[i].id, "at_ms",
                      (json_int_t)ev[i].at_ms, "kind", ev[i].kind, "filer", (json_int_t)ev[i].filer,
                      "object", ev[i].object, "message", ev[i].message);
        if (json_array_append_new(arr, e) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    j = json_pack("{s:o,s:I}", "events", arr, "next_after",
                  (json_int_t)(n > 0 ? ev[n - 1].id : q.after_id));
    free(ev);
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the reply");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

/* GET /v1/history?filer=ID&since=MS&until=MS&limit=N: the filer history
 * rows (objdb.h), oldest first; limit default 1000. */
static enum MHD_Result serve_history(struct cf_monitor *m, struct MHD_Connection *c)
{
    static const char *const names[] = {"filer", "since", "until", "limit"};
    static const uint64_t max[] = {UINT32_MAX, INT64_MAX, INT64_MAX, CF_OBJDB_HISTORY_MAX};
    struct cf_objdb_history *h = NULL;
    uint64_t v[CF_ARRAY_LEN(names)] = {0, 0, 0, 1000};
    char err[CF_ERR_LEN] = "";
    json_t *arr, *j;
    size_t n = 0;
    int rc;

    for (size_t i = 0; i < CF_ARRAY_LEN(names); i++) {
        const char *q = cf_http_query(c, names[i]);
        if (q != NULL && (!parse_u64(q, max[i], &v[i]) || (i == 3 && v[i] == 0)))
            return cf_http_reply_error(c, CF_EBADREQ, "%s must be a decimal number up to %" PRIu64,
                                       names[i], max[i]);
    }
    rc = cf_objdb_history_list(m->odb, (uint32_t)v[0], v[1], v[2], (size_t)v[3], &h, &n, err);
    if (rc < 0)
        return cf_http_reply_error(c, rc == CF_EINVAL ? CF_EBADREQ : rc, "%s", err);
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *e = json_pack(
            "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "filer", (json_int_t)h[i].filer,
            "start_ms", (json_int_t)h[i].start_ms, "end_ms", (json_int_t)h[i].end_ms, "bytes_in",
            (json_int_t)h[i].bytes_in, "bytes_out", (json_int_t)h[i].bytes_out, "io_errors",
            (json_int_t)h[i].io_errors, "polls", (json_int_t)h[i].polls, "failures",
            (json_int_t)h[i].failures, "used_bytes", (json_int_t)h[i].used_bytes, "total_bytes",
            (json_int_t)h[i].total_bytes, "latency_ms", (double)h[i].latency_us / 1000.0);
        if (json_array_append_new(arr, e) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(h);
    j = json_pack("{s:o,s:I}", "history", arr, "period_ms", (json_int_t)m->topts.history_ms);
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the reply");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result finish_log(struct cf_monitor *m, struct MHD_Connection *c, struct req *r)
{
    json_t *j = NULL, *jf, *jo;
    json_error_t je;
    const char *kind, *object = "", *message;
    json_int_t filer = 0;
    enum MHD_Result res;
    int rc;

    if (r->body.len > 0)
        j = json_loadb(r->body.base, r->body.len, 0, &je);
    kind = json_string_value(json_object_get(j, "kind"));
    message = json_string_value(json_object_get(j, "message"));
    jf = json_object_get(j, "filer");
    jo = json_object_get(j, "object");
    if (!json_is_object(j) || kind == NULL || message == NULL ||
        (jf != NULL && !json_is_integer(jf)) || (jo != NULL && !json_is_string(jo))) {
        res = cf_http_reply_error(c, CF_EBADREQ,
                                  "send JSON {\"kind\", \"message\", \"filer\"?, \"object\"?}");
        goto out;
    }
    if (jf != NULL)
        filer = json_integer_value(jf);
    if (jo != NULL)
        object = json_string_value(jo);
    if (filer < 0 || filer > UINT32_MAX) {
        res = cf_http_reply_error(c, CF_EBADREQ, "filer must be 0..%" PRIu32, UINT32_MAX);
        goto out;
    }
    if (strlen(message) > CF_SCRIBE_MSG_MAX || strlen(object) >= 40 ||
        strlen(kind) > CF_SCRIBE_KIND_MAX || strlen(kind) == 0) {
        res = cf_http_reply_error(c, CF_EBADREQ,
                                  "message at most %d bytes, object under 40, kind 1..%d",
                                  CF_SCRIBE_MSG_MAX, CF_SCRIBE_KIND_MAX);
        goto out;
    }
    /* %s: the message is data, never a format. */
    rc = cf_scribe_event(m->scribe, kind, (uint32_t)filer, object, "%s", message);
    if (rc < 0) {
        res = cf_http_reply_error(c, rc == CF_EINVAL ? CF_EBADREQ : rc, "%s",
                                  rc == CF_EINVAL ? "kind must be [a-z0-9_.-]" : "not recorded");
        goto out;
    }
    res = cf_http_reply_json(c, MHD_HTTP_CREATED, json_pack("{s:b}", "ok", 1));
out:
    json_decref(j);
    return res;
}

/* ---- the instance registry (registry.h, beat.h) ---------------------------------- */

/* A status change of a registered instance, as a scribe event. */
static void instance_event(struct cf_monitor *m, const struct cf_instance *in, const char *what)
{
    cf_log(CF_LOG_INFO, "%s %s: %s", in->role, in->url, what);
    (void)cf_scribe_event(m->scribe, CF_SCRIBE_INSTANCE, 0, NULL, "%s %s%s%s: %s", in->role,
                          in->url, in->dc[0] ? " dc " : "", in->dc, what);
}

/* POST /v1/instances: a heartbeat. */
static enum MHD_Result finish_beat(struct cf_monitor *m, struct MHD_Connection *c, struct req *r)
{
    struct cf_instance in;
    char err[CF_ERR_LEN] = "";
    json_t *j = NULL;
    json_error_t je;
    const char *role, *url, *dc, *version, *status;
    json_int_t started;
    enum MHD_Result res;
    int rc;

    if (r->body.len > 0)
        j = json_loadb(r->body.base, r->body.len, 0, &je);
    role = json_string_value(json_object_get(j, "role"));
    url = json_string_value(json_object_get(j, "url"));
    dc = json_string_value(json_object_get(j, "dc"));
    version = json_string_value(json_object_get(j, "version"));
    status = json_string_value(json_object_get(j, "status"));
    started = json_integer_value(json_object_get(j, "started_ms"));
    memset(&in, 0, sizeof(in));
    if (role == NULL || url == NULL || started < 0 ||
        snprintf(in.role, sizeof(in.role), "%s", role) >= (int)sizeof(in.role) ||
        snprintf(in.url, sizeof(in.url), "%s", url) >= (int)sizeof(in.url) ||
        snprintf(in.dc, sizeof(in.dc), "%s", dc ? dc : "") >= (int)sizeof(in.dc) ||
        snprintf(in.version, sizeof(in.version), "%s", version ? version : "") >=
            (int)sizeof(in.version)) {
        res = cf_http_reply_error(c, CF_EBADREQ,
                                  "send JSON {\"role\", \"url\", \"dc\", \"version\", "
                                  "\"started_ms\", \"status\"} within the registry's sizes");
        goto out;
    }
    in.started_ms = (uint64_t)started;
    (void)snprintf(in.status, sizeof(in.status), "%s",
                   status != NULL && strcmp(status, "down") == 0 ? "down" : "up");
    rc = cf_registry_beat(m->odb, &in, cf_wall_ms(), err);
    if (rc < 0) {
        res = cf_http_reply_error(c, rc == CF_EINVAL ? CF_EBADREQ : rc, "%s", err);
        goto out;
    }
    if (rc == 1)
        instance_event(m, &in,
                       strcmp(in.status, "down") == 0 ? "up -> down: stopped"
                                                      : "down -> up: heart-beating again");
    res = cf_http_reply_json(c, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
out:
    json_decref(j);
    return res;
}

/* GET /v1/instances. */
static enum MHD_Result serve_instances(struct cf_monitor *m, struct MHD_Connection *c)
{
    struct cf_instance *v = NULL;
    char err[CF_ERR_LEN] = "";
    json_t *arr, *j;
    size_t n = 0;
    int rc;

    rc = cf_registry_list(m->odb, &v, &n, err);
    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s", err);
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        (void)json_array_append_new(
            arr, json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "id", (json_int_t)v[i].id, "role",
                           v[i].role, "url", v[i].url, "dc", v[i].dc, "version", v[i].version,
                           "started_ms", (json_int_t)v[i].started_ms, "last_heartbeat_ms",
                           (json_int_t)v[i].last_heartbeat_ms, "status", v[i].status));
    free(v);
    j = json_pack("{s:o,s:I}", "instances", arr, "now_ms", (json_int_t)cf_wall_ms());
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the reply");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

/* This monitor's own heartbeat, written straight into the registry, the
 * instances silent for CF_BEAT_DOWN_MS marked down, and those down for
 * CF_REGISTRY_FORGET_MS deleted (each idempotent: every monitor may do it). */
static void registry_pass(struct cf_monitor *m)
{
    char err[CF_ERR_LEN] = "", what[64];
    uint64_t now = cf_wall_ms();
    struct cf_instance *down = NULL;
    int n;

    n = cf_registry_beat(m->odb, &m->self, now, err);
    if (n < 0)
        cf_log(CF_LOG_WARN, "cannot register this monitor: %s", err);
    else if (n == 1)
        instance_event(m, &m->self, "down -> up: heart-beating again");
    n = cf_registry_mark_down(m->odb, now > CF_BEAT_DOWN_MS ? now - CF_BEAT_DOWN_MS : 0, &down,
                              err);
    if (n < 0)
        cf_log(CF_LOG_WARN, "cannot mark silent instances down: %s", err);
    else if (n > 0)
        cf_log(CF_LOG_WARN, "%d instance(s) stopped heart-beating: marked down", n);
    for (int i = 0; i < n; i++) {
        uint64_t last = down[i].last_heartbeat_ms;
        (void)snprintf(what, sizeof(what), "up -> down: no heartbeat for %" PRIu64 " s",
                       now > last ? (now - last) / 1000 : 0);
        instance_event(m, &down[i], what);
    }
    free(down);
    n = cf_registry_forget(m->odb, now > CF_REGISTRY_FORGET_MS ? now - CF_REGISTRY_FORGET_MS : 0,
                           err);
    if (n < 0)
        cf_log(CF_LOG_WARN, "cannot forget long-gone instances: %s", err);
    else if (n > 0)
        cf_log(CF_LOG_INFO, "%d instance(s) down for over %llu days: forgotten", n,
               (unsigned long long)(CF_REGISTRY_FORGET_MS / (24 * 3600 * 1000)));
}

static void *registrar_main(void *arg)
{
    struct cf_monitor *m = arg;
    struct timespec at;

    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        pthread_mutex_unlock(&m->mu);
        registry_pass(m);
        pthread_mutex_lock(&m->mu);
        at = cf_deadline_mono_in(CF_BEAT_PERIOD_MS);
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &at) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static int registrar_start(struct cf_monitor *m, const struct cf_monitor_conf *conf, uint16_t port,
                           char *err)
{
    (void)snprintf(m->self.role, sizeof(m->self.role), "monitor");
    cf_beat_url(&conf->beat, conf->listen, port, conf->tls_cert != NULL, m->self.url,
                sizeof(m->self.url));
    (void)snprintf(m->self.dc, sizeof(m->self.dc), "%s", conf->beat.dc ? conf->beat.dc : "");
    (void)snprintf(m->self.version, sizeof(m->self.version), "%s", CF_VERSION);
    (void)snprintf(m->self.status, sizeof(m->self.status), "up");
    m->self.started_ms = cf_wall_ms();
    if (pthread_create(&m->registrar, NULL, registrar_main, m) != 0) {
        cf_err_set(err, "cannot start the registry thread");
        return CF_EINTERNAL;
    }
    m->registrar_started = true;
    return 0;
}

/* Stop the thread and mark this monitor down in the registry. */
static void registrar_stop(struct cf_monitor *m)
{
    char err[CF_ERR_LEN] = "";
    int rc;

    if (!m->registrar_started)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->registrar, NULL);
    m->registrar_started = false;
    (void)snprintf(m->self.status, sizeof(m->self.status), "down");
    rc = cf_registry_beat(m->odb, &m->self, cf_wall_ms(), err);
    if (rc < 0)
        cf_log(CF_LOG_INFO, "cannot mark this monitor down in the registry: %s", err);
    else if (rc == 1)
        instance_event(m, &m->self, "up -> down: stopped");
}

/* ---- routing ------------------------------------------------------------------------- */

/* "/v1/filers/<id>/maintenance": the id, or 0. */
static uint32_t maintenance_id(const char *url)
{
    static const char suffix[] = "/maintenance";
    const char *p = url + sizeof(FILERS);
    char digits[16];
    size_t len;
    uint64_t id = 0;

    if (strncmp(url, FILERS "/", sizeof(FILERS)) != 0)
        return 0;
    len = strcspn(p, "/");
    if (len == 0 || len >= sizeof(digits) || strcmp(p + len, suffix) != 0)
        return 0;
    memcpy(digits, p, len);
    digits[len] = '\0';
    if (!parse_u64(digits, UINT32_MAX, &id))
        return 0;
    return (uint32_t)id;
}

static enum MHD_Result route(struct cf_monitor *m, struct MHD_Connection *c, const char *url,
                             const char *method, void **req_cls)
{
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    uint32_t id;
    struct req *r;

    if (strcmp(url, FILERS) == 0) {
        if (!get)
            return cf_http_refuse(c, req_cls, CF_EMETHOD, "use GET");
        return serve_filers(m, c);
    }
    if (strcmp(url, "/v1/history") == 0) {
        if (!get)
            return cf_http_refuse(c, req_cls, CF_EMETHOD, "use GET");
        return serve_history(m, c);
    }
    if (strcmp(url, "/v1/instances") == 0) {
        if (get)
            return serve_instances(m, c);
        if (!post)
            return cf_http_refuse(c, req_cls, CF_EMETHOD, "use GET or POST");
        r = cf_xcalloc(1, sizeof(*r));
        r->beat = true;
        cf_buf_init(&r->body, CF_MONITOR_BODY_MAX);
        *req_cls = r;
        return MHD_YES;
    }
    if (strcmp(url, LOG) == 0) {
        if (get)
            return serve_log(m, c);
        if (!post)
            return cf_http_refuse(c, req_cls, CF_EMETHOD, "use GET or POST");
        r = cf_xcalloc(1, sizeof(*r));
        r->log = true;
        cf_buf_init(&r->body, CF_MONITOR_BODY_MAX);
        *req_cls = r;
        return MHD_YES;
    }
    id = maintenance_id(url);
    if (id != 0) {
        if (!post)
            return cf_http_refuse(c, req_cls, CF_EMETHOD, "use POST");
        r = cf_xcalloc(1, sizeof(*r));
        r->id = id;
        cf_buf_init(&r->body, CF_MONITOR_BODY_MAX);
        *req_cls = r;
        return MHD_YES;
    }
    if (strcmp(url, "/status") == 0) {
        bool active;
        json_t *j;
        /* Active: holds the lease and its tracker runs. */
        pthread_mutex_lock(&m->trk_mu);
        active = m->tracker != NULL && cf_lease_held(m->lease);
        pthread_mutex_unlock(&m->trk_mu);
        j = json_pack("{s:s,s:I,s:I,s:b}", "role", "monitor", "requests",
                      (json_int_t)cf_http_server_requests(m->http), "in_flight",
                      (json_int_t)cf_http_server_in_flight(m->http), "active", active);
        return cf_http_reply_json(c, MHD_HTTP_OK, j);
    }
    return cf_http_refuse(c, req_cls, CF_ENOTFOUND, "no such endpoint");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
    struct cf_monitor *m = cls;
    struct req *r = *req_cls;

    (void)version;
    if (r == NULL)
        return route(m, c, url, method, req_cls);
    if (*upload_data_size > 0) {
        if (!r->too_big && cf_buf_append(&r->body, upload_data, *upload_data_size) < 0)
            r->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return cf_http_reply_error(c, CF_ETOOLARGE, "a body is at most %d bytes",
                                   CF_MONITOR_BODY_MAX);
    if (r->beat)
        return finish_beat(m, c, r);
    return r->log ? finish_log(m, c, r) : finish_maintenance(m, c, r);
}

static void done(void *cls, struct MHD_Connection *c, void *state,
                 enum MHD_RequestTerminationCode why)
{
    struct req *r = state;

    (void)cls;
    (void)c;
    (void)why;
    cf_buf_fini(&r->body);
    free(r);
}

/* ---- scribe retention ------------------------------------------------------------------ */

/* One retention pass: batches until nothing more is due or the monitor
 * stops. Errors are logged by the db layer; the next pass tries again. */
static void prune_pass(struct cf_monitor *m)
{
    char err[CF_ERR_LEN] = "";
    bool stop;
    /* Not the wall clock if it jumped ahead (clockguard.h). */
    uint64_t now = cf_scribe_guarded_now(m->scribe, m->clock, "scribe retention uses"), before = 0,
             total = 0;
    int64_t n;

    if (!cf_lease_held(m->lease))
        return; /* the active monitor's duty */
    if (m->keep_ms > 0 && now > m->keep_ms)
        before = now - m->keep_ms;
    do {
        n = cf_scribe_prune(m->scribe, before, m->max_rows, CF_SCRIBE_PRUNE_BATCH, err);
        if (n > 0)
            total += (uint64_t)n;
        pthread_mutex_lock(&m->mu);
        stop = m->stop;
        pthread_mutex_unlock(&m->mu);
    } while (n == CF_SCRIBE_PRUNE_BATCH && !stop && cf_lease_held(m->lease));
    if (n < 0)
        cf_log(CF_LOG_WARN, "scribe retention stopped: %s", err);
    /* The filer history is kept as long as the events. */
    if (before > 0 && cf_objdb_history_prune(m->odb, before, NULL, err) < 0)
        cf_log(CF_LOG_WARN, "filer history retention: %s", err);
    if (total > 0)
        cf_log(CF_LOG_INFO,
               "scribe retention: %" PRIu64 " events deleted (older than %" PRIu64
               " ms or past the newest %" PRIu64 ")",
               total, m->keep_ms, m->max_rows);
}

static void *pruner_main(void *arg)
{
    struct cf_monitor *m = arg;
    struct timespec at;

    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        pthread_mutex_unlock(&m->mu);
        prune_pass(m);
        pthread_mutex_lock(&m->mu);
        at = cf_deadline_mono_in(m->prune_ms);
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &at) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static int pruner_start(struct cf_monitor *m, const struct cf_monitor_conf *conf, char *err)
{
    m->keep_ms = conf->log_retention_days * 86400000ull;
    m->max_rows = conf->log_max_rows;
    m->prune_ms = conf->log_prune_ms;
    if (m->prune_ms == 0 || (m->keep_ms == 0 && m->max_rows == 0))
        return 0;
    if (pthread_create(&m->pruner, NULL, pruner_main, m) != 0) {
        cf_err_set(err, "cannot start the scribe retention thread");
        return CF_EINTERNAL;
    }
    m->pruner_started = true;
    return 0;
}

static void pruner_stop(struct cf_monitor *m)
{
    if (!m->pruner_started)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->pruner, NULL);
    m->pruner_started = false;
}

/* ---- the active monitor ------------------------------------------------------------------ */

/* Whether this monitor may be active: the lease is held for longer than
 * a poll in flight and a tick take to stop, so the tracker has stopped
 * writing before the lease can pass to another monitor. */
static bool may_act(const struct cf_monitor *m)
{
    return cf_lease_left_ms(m->lease) > m->topts.timeout_ms + DUTY_TICK_MS;
}

/* The lease is held: start a tracker of this monitor's own (the table is
 * polled at once). Duty thread. */
static void activate(struct cf_monitor *m)
{
    struct cf_tracker *t = NULL;
    char err[CF_ERR_LEN] = "";

    if (cf_tracker_new(m->odb, m->scribe, &m->topts, &t, err) < 0) {
        cf_log(CF_LOG_ERROR, "active monitor: cannot make the tracker: %s", err);
        return;
    }
    cf_tracker_poll_once(t);
    if (cf_tracker_start(t) < 0) {
        cf_log(CF_LOG_ERROR, "active monitor: cannot start the tracker thread");
        cf_tracker_free(t);
        return;
    }
    pthread_mutex_lock(&m->trk_mu);
    m->tracker = t;
    cf_metric_set(m->m_active, 1);
    pthread_mutex_unlock(&m->trk_mu);
    m->ev_since_ms = cf_wall_ms();
    m->ev_after = 0;
    cf_log(CF_LOG_INFO, "monitor active (lease epoch %" PRIu64 "): tracking the filers",
           cf_lease_epoch(m->lease));
}

/* The lease is lost (or the monitor stops): the tracker stops writing now
 * (a poll in flight ends within its timeout, inside the lease's margin). */
static void deactivate(struct cf_monitor *m, bool log)
{
    struct cf_tracker *t;

    pthread_mutex_lock(&m->trk_mu);
    t = m->tracker;
    m->tracker = NULL;
    cf_metric_set(m->m_active, 0);
    pthread_mutex_unlock(&m->trk_mu);
    if (t == NULL)
        return;
    cf_tracker_free(t);
    free(m->outages);
    m->outages = NULL;
    m->noutages = 0;
    if (log)
        cf_log(CF_LOG_WARN, "monitor passive: the lease is held elsewhere or not renewed");
}

/* ---- automatic repairs ------------------------------------------------------------------- */

/* Start a job of kind on filer id through the first app that answers.
 * Returns 0 with *job and app_out (the URL used, APP_URL_MAX + 1 bytes), CF_EEXIST (one of
 * that kind runs: 409), or another error with err. Duty thread. */
static int start_repair(struct cf_monitor *m, const char *kind, uint32_t id, uint64_t *job,
                        char *app_out, char *err)
{
    json_t *body = json_pack("{s:s,s:{s:I}}", "kind", kind, "args", "filer", (json_int_t)id);
    int rc = CF_EUNAVAIL;

    cf_err_set(err, "no app to start it on");
    pthread_mutex_lock(&m->apps_mu);
    for (char **a = m->apps; a != NULL && *a != NULL; a++) {
        char url[APP_URL_MAX + 32];
        json_t *out = NULL;
        long status = 0, timeout_ms = REPAIR_CALL_MS;
        /* The call ends while the lease leaves room for the duty thread to
         * notice its loss and stop the tracker (may_act) a tick later. */
        uint64_t left = cf_lease_left_ms(m->lease), spare = m->topts.timeout_ms + 2 * DUTY_TICK_MS;

        if (left <= spare + REPAIR_CALL_MIN_MS) {
            cf_err_set(err, "the lease \"monitor\" runs out");
            rc = CF_EUNAVAIL;
            break;
        }
        if (left - spare < (uint64_t)timeout_ms)
            timeout_ms = (long)(left - spare);
        (void)snprintf(url, sizeof(url), "%s/v1/repair", *a);
        rc = cf_httpc_json("POST", url, body, timeout_ms, &status, &out, err);
        if (rc < 0)
            continue; /* the next app */
        (void)snprintf(app_out, APP_URL_MAX + 1, "%s", *a);
        if (status == 202) {
            *job = (uint64_t)json_integer_value(json_object_get(out, "id"));
            rc = 0;
        } else {
            const char *msg = json_string_value(json_object_get(out, "message"));
            rc = status == 409 ? CF_EEXIST : CF_EIO;
            cf_err_set(err, "%s: %ld %s", url, status, msg ? msg : "");
        }
        json_decref(out);
        break;
    }
    pthread_mutex_unlock(&m->apps_mu);
    json_decref(body);
    return rc;
}

static struct outage *outage_of(struct cf_monitor *m, uint32_t id)
{
    for (size_t i = 0; i < m->noutages; i++)
        if (m->outages[i].id == id)
            return &m->outages[i];
    m->outages = cf_xrealloc(m->outages, (m->noutages + 1) * sizeof(*m->outages));
    memset(&m->outages[m->noutages], 0, sizeof(*m->outages));
    m->outages[m->noutages].id = id;
    return &m->outages[m->noutages++];
}

/* Read the status changes since the last call: a filer that went offline
 * starts an outage (even if it is back by the time the table is read). */
static void read_status_events(struct cf_monitor *m)
{
    struct cf_scribe_query q = {
        .since_ms = m->ev_since_ms, .kind = CF_SCRIBE_FILER_STATUS, .limit = 1000};
    struct cf_scribe_event *ev = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;

    do {
        free(ev);
        ev = NULL;
        q.after_id = m->ev_after;
        if (cf_scribe_query(m->scribe, &q, &ev, &n, err) < 0) {
            cf_log(CF_LOG_WARN, "repairs: cannot read the status changes: %s", err);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            /* "FROM -> TO: why" (tracker.h) */
            const char *to = strstr(ev[i].message, "-> ");
            struct outage *o;
            m->ev_after = ev[i].id;
            if (to == NULL || strncmp(to + 3, "offline:", 8) != 0 || ev[i].filer == 0)
                continue;
            o = outage_of(m, ev[i].filer);
            if (!o->down) {
                o->down = true;
                o->rebuilt = false;
                o->since_ms = ev[i].at_ms;
            }
        }
    } while (n == 1000);
    free(ev);
}

/* One look at the summary table: rebuild the filers offline past the
 * grace, audit the ones back from a shorter outage. Duty thread. */
static void repair_pass(struct cf_monitor *m)
{
    struct cf_objdb_filer *fl = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t now = cf_wall_ms();
    size_t n = 0;
    bool none;

    pthread_mutex_lock(&m->apps_mu);
    none = m->apps == NULL;
    pthread_mutex_unlock(&m->apps_mu);
    if (none)
        goto out;
    read_status_events(m);
    if (cf_objdb_filer_list(m->odb, &fl, &n, err) < 0)
        goto out;
    for (size_t i = 0; i < n && may_act(m); i++) {
        const struct cf_objdb_filer *f = &fl[i];
        struct outage *o = outage_of(m, f->id);
        bool offline = strcmp(f->status, "offline") == 0;
        bool back = strcmp(f->status, "online") == 0 || strcmp(f->status, "busy") == 0 ||
                    strcmp(f->status, "read-only") == 0;
        char app[APP_URL_MAX + 1] = "";
        uint64_t job = 0;
        int rc;

        if (offline && !o->down) {
            o->down = true;
            o->rebuilt = false;
            o->since_ms = f->last_seen_ms > 0 && f->last_seen_ms <= now ? f->last_seen_ms : now;
        }
        /* A start stamped ahead of this clock (a status event written by
         * a monitor with a skewed clock, or this clock stepped back) would
         * wrap now - since_ms and skip the grace: the outage starts now. */
        if (o->since_ms > now)
            o->since_ms = now;
        if (offline && !o->rebuilt && m->rebuild_after_ms > 0 &&
            now - o->since_ms >= m->rebuild_after_ms && now >= o->retry_ms) {
            rc = start_repair(m, "rebuild", f->id, &job, app, err);
            if (rc == 0) {
                o->rebuilt = true;
                cf_log(CF_LOG_WARN,
                       "filer %" PRIu32 " offline for %" PRIu64 " s: rebuild job %" PRIu64
                       " started on %s",
                       f->id, (now - o->since_ms) / 1000, job, app);
                (void)cf_scribe_event(m->scribe, CF_SCRIBE_REPAIR, f->id, NULL,
                                      "offline for %" PRIu64 " s (past --rebuild-after-s):"
                                      " rebuild job %" PRIu64 " started on %s",
                                      (now - o->since_ms) / 1000, job, app);
            } else {
                o->retry_ms = now + 10000;
                cf_log(CF_LOG_WARN, "filer %" PRIu32 ": rebuild not started (again in 10 s): %s",
                       f->id, err);
            }
        } else if (back && o->down && now >= o->retry_ms) {
            if (o->rebuilt) {
                o->down = false;
                (void)cf_scribe_event(m->scribe, CF_SCRIBE_REPAIR, f->id, NULL,
                                      "back after %" PRIu64 " s; its replicas were rebuilt"
                                      " elsewhere",
                                      (now - o->since_ms) / 1000);
                continue;
            }
            rc = start_repair(m, "audit", f->id, &job, app, err);
            if (rc == 0) {
                o->down = false;
                cf_log(CF_LOG_INFO,
                       "filer %" PRIu32 " back after %" PRIu64 " s offline: audit job %" PRIu64
                       " started on %s",
                       f->id, (now - o->since_ms) / 1000, job, app);
                (void)cf_scribe_event(m->scribe, CF_SCRIBE_REPAIR, f->id, NULL,
                                      "back after %" PRIu64 " s offline: audit job %" PRIu64
                                      " of its replicas started on %s",
                                      (now - o->since_ms) / 1000, job, app);
            } else {
                o->retry_ms = now + 10000;
                cf_log(CF_LOG_WARN, "filer %" PRIu32 ": audit not started (again in 10 s): %s",
                       f->id, err);
            }
        }
    }
out:
    free(fl);
}

/* Every tick: follow the lease (activate, deactivate) and, while active,
 * look for repairs once a second. */
static void *duty_main(void *arg)
{
    struct cf_monitor *m = arg;
    uint64_t next_repair = 0;
    struct timespec at;

    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        bool held, active;
        pthread_mutex_unlock(&m->mu);
        held = may_act(m);
        pthread_mutex_lock(&m->trk_mu);
        active = m->tracker != NULL;
        pthread_mutex_unlock(&m->trk_mu);
        if (held && !active)
            activate(m);
        else if (!held && active)
            deactivate(m, true);
        if (held && cf_now_ns() / 1000000 >= next_repair) {
            next_repair = cf_now_ns() / 1000000 + 1000;
            repair_pass(m);
        }
        pthread_mutex_lock(&m->mu);
        at = cf_deadline_mono_in(DUTY_TICK_MS);
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &at) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static void free_apps(char **apps)
{
    for (char **a = apps; a != NULL && *a != NULL; a++)
        free(*a);
    free(apps);
}

/* "URL[,URL...]" into *out (each without a trailing '/'; NULL-terminated;
 * NULL for an empty list). */
static int parse_apps(const char *list, char ***out, char *err)
{
    size_t n = 0, k = 0;
    const char *p = list;
    char **apps;

    *out = NULL;
    if (list == NULL || list[0] == '\0')
        return 0;
    for (const char *q = list; *q; q++)
        n += *q == ',';
    apps = cf_xcalloc(n + 2, sizeof(*apps));
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == '/')
            len--;
        if (len == 0 || len > APP_URL_MAX ||
            (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)) {
            cf_err_set(err, "--app takes http[s]://HOST:PORT[,...], not \"%.64s\"", list);
            free_apps(apps);
            return CF_EINVAL;
        }
        apps[k] = cf_xcalloc(1, len + 1);
        memcpy(apps[k++], p, len);
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    *out = apps;
    return 0;
}

int cf_monitor_set_apps(struct cf_monitor *m, const char *apps, char *err)
{
    char **list = NULL, **old;
    int rc = parse_apps(apps, &list, err);

    if (rc < 0)
        return rc;
    pthread_mutex_lock(&m->apps_mu);
    old = m->apps;
    m->apps = list;
    pthread_mutex_unlock(&m->apps_mu);
    free_apps(old);
    return 0;
}

/* Take the lease at once if it is free (a lone monitor is active from its
 * first request), then keep following it on the duty thread. */
static int duty_start(struct cf_monitor *m, const struct cf_monitor_conf *conf, char *err)
{
    char label[96], e2[CF_ERR_LEN] = "";
    uint64_t lease_ms = conf->lease_ms ? conf->lease_ms : CF_LEASE_TTL_MS;
    int rc;

    m->m_active = cf_metric_gauge("coffer_monitor_active",
                                  "1 while this monitor holds the lease \"monitor\"", NULL);
    m->rebuild_after_ms = conf->rebuild_after_s * 1000;
    /* The time a holder may act (lease.h) must leave room to stop. */
    if ((uint64_t)m->topts.timeout_ms + DUTY_TICK_MS >= lease_ms - lease_ms / 5) {
        cf_err_set(err, "--timeout-ms %u leaves no time to act in a lease of %" PRIu64 " ms",
                   m->topts.timeout_ms, lease_ms);
        return CF_EINVAL;
    }
    rc = parse_apps(conf->apps, &m->apps, err);
    if (rc < 0)
        return rc;
    (void)snprintf(label, sizeof(label), "monitor %.80s", conf->listen);
    rc = cf_lease_open(conf->db, "monitor", label, lease_ms, &m->lease, err);
    if (rc < 0)
        return rc;
    if (cf_lease_try(m->lease, e2) < 0)
        cf_log(CF_LOG_WARN, "lease \"monitor\": %s", e2);
    if (may_act(m))
        activate(m);
    else
        cf_log(CF_LOG_INFO, "monitor passive: another monitor is active");
    if (cf_lease_start(m->lease) < 0 || pthread_create(&m->duty, NULL, duty_main, m) != 0) {
        cf_err_set(err, "cannot start the lease and duty threads");
        return CF_EINTERNAL;
    }
    m->duty_started = true;
    return 0;
}

/* Stop the duty thread and the tracker; the lease is released after, in
 * cf_monitor_free, so a passive monitor takes over at once. */
static void duty_stop(struct cf_monitor *m)
{
    if (m->duty_started) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->duty, NULL);
        m->duty_started = false;
    }
    deactivate(m, false);
}

/* ---- synthetic probes -------------------------------------------------------------------- */

/* One round, if this monitor is active and knows where to probe: its
 * times go to coffer_probe_seconds{op}, its outcome to
 * coffer_probe_rounds_total{result} and coffer_probe_up; the first failed
 * round of a run, and the first good one after, to the scribe. */
static void probe_once(struct cf_monitor *m)
{
    char app[APP_URL_MAX + 1] = "", objsrv[APP_URL_MAX + 1] = "";
    struct cf_probe_result r;

    if (!cf_lease_held(m->lease))
        return;
    pthread_mutex_lock(&m->apps_mu);
    if (m->apps != NULL && m->apps[0] != NULL && m->probe_objsrv != NULL) {
        (void)snprintf(app, sizeof(app), "%s", m->apps[0]);
        (void)snprintf(objsrv, sizeof(objsrv), "%s", m->probe_objsrv);
    }
    pthread_mutex_unlock(&m->apps_mu);
    if (app[0] == '\0' || cf_probe_round(app, objsrv, (long)PROBE_TIMEOUT_MS, &r) < 0)
        return;
    for (int i = 0; i < CF_PROBE_OPS; i++)
        if (r.seconds[i] >= 0 && (r.ok || (int)r.failed != i))
            cf_metric_observe(m->m_probe_s[i], r.seconds[i]);
    cf_metric_set(m->m_probe_up, r.ok ? 1 : 0);
    cf_metric_add(m->m_probe_rounds[r.ok ? 0 : 1], 1);
    if (!r.ok) {
        cf_log(CF_LOG_WARN, "probe: %s failed: %s", cf_probe_op_name(r.failed), r.err);
        if (m->probe_failed++ == 0)
            (void)cf_scribe_event(m->scribe, CF_SCRIBE_PROBE, 0, r.uuid[0] ? r.uuid : NULL,
                                  "probe %s failed: %s", cf_probe_op_name(r.failed), r.err);
        return;
    }
    if (m->probe_failed > 0) {
        cf_log(CF_LOG_INFO, "probe: ok again after %u failed rounds", m->probe_failed);
        (void)cf_scribe_event(m->scribe, CF_SCRIBE_PROBE, 0, r.uuid,
                              "probe ok again after %u failed rounds (put %.1f ms, get %.1f ms, "
                              "delete %.1f ms)",
                              m->probe_failed, r.seconds[CF_PROBE_PUT] * 1e3,
                              r.seconds[CF_PROBE_GET] * 1e3, r.seconds[CF_PROBE_DELETE] * 1e3);
    }
    m->probe_failed = 0;
}

static void *prober_main(void *arg)
{
    struct cf_monitor *m = arg;
    struct timespec at;

    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        at = cf_deadline_mono_in(m->probe_ms);
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &at) != ETIMEDOUT)
            ;
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->mu);
        probe_once(m);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static int prober_start(struct cf_monitor *m, const struct cf_monitor_conf *conf, char *err)
{
    static const char help[] = "Time of each step of the synthetic probe (upload through the "
                               "app, download through objsrv, delete).";
    char labels[32];
    int rc;

    m->probe_ms = conf->probe_interval_s * 1000;
    if (m->probe_ms == 0)
        return 0;
    if (conf->probe_objsrv != NULL) {
        rc = cf_monitor_set_objsrv(m, conf->probe_objsrv, err);
        if (rc < 0)
            return rc;
    }
    for (int i = 0; i < CF_PROBE_OPS; i++) {
        (void)snprintf(labels, sizeof(labels), "op=\"%s\"", cf_probe_op_name((enum cf_probe_op)i));
        m->m_probe_s[i] = cf_metric_histogram("coffer_probe_seconds", help, labels, NULL, 0);
    }
    m->m_probe_up = cf_metric_gauge(
        "coffer_probe_up", "1 when the last synthetic probe succeeded, 0 when it failed", NULL);
    m->m_probe_rounds[0] = cf_metric_counter("coffer_probe_rounds_total",
                                             "Synthetic probe rounds, by outcome", "result=\"ok\"");
    m->m_probe_rounds[1] = cf_metric_counter(
        "coffer_probe_rounds_total", "Synthetic probe rounds, by outcome", "result=\"failed\"");
    if (pthread_create(&m->prober, NULL, prober_main, m) != 0) {
        cf_err_set(err, "cannot start the probe thread");
        return CF_EINTERNAL;
    }
    m->prober_started = true;
    return 0;
}

static void prober_stop(struct cf_monitor *m)
{
    if (!m->prober_started)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->prober, NULL);
    m->prober_started = false;
}

int cf_monitor_set_objsrv(struct cf_monitor *m, const char *objsrv, char *err)
{
    char **list = NULL;
    char *url = NULL, *old;
    int rc = parse_apps(objsrv, &list, err);

    if (rc < 0)
        return rc;
    if (list != NULL && list[0] != NULL && list[1] != NULL) {
        free_apps(list);
        cf_err_set(err, "--probe-objsrv takes one URL");
        return CF_EINVAL;
    }
    if (list != NULL && list[0] != NULL)
        url = cf_xstrdup(list[0]);
    free_apps(list);
    pthread_mutex_lock(&m->apps_mu);
    old = m->probe_objsrv;
    m->probe_objsrv = url;
    pthread_mutex_unlock(&m->apps_mu);
    free(old);
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------------ */

/* What a request needs (http.h): /status is liveness for anyone; taking
 * a filer in or out of maintenance needs the operator key; reading the
 * table and the log, and writing events, any key. */
static int access_of(void *cls, const char *method, const char *url)
{
    (void)cls;
    if (strcmp(method, "GET") == 0 && strcmp(url, "/status") == 0)
        return CF_ACCESS_PUBLIC;
    if (strncmp(url, "/v1/filers/", 11) == 0 && strcmp(method, "GET") != 0)
        return CF_ACCESS_ADMIN;
    return CF_ACCESS_INTERNAL;
}

int cf_monitor_start(const struct cf_monitor_conf *conf, struct cf_monitor **out,
                     uint16_t *port_out, char *err)
{
    struct cf_monitor *m = cf_xcalloc(1, sizeof(*m));
    struct cf_http_server_opts ho = {.listen_fd = -1,
                                     .handler = handler,
                                     .done = done,
                                     .cls = m,
                                     .tls_cert = conf->tls_cert,
                                     .tls_key = conf->tls_key,
                                     .limits = conf->http};
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->trk_mu, NULL);
    pthread_mutex_init(&m->apps_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    m->topts.poll_ms = (unsigned)conf->poll_ms;
    m->topts.timeout_ms = (unsigned)conf->timeout_ms;
    m->topts.offline_after = (unsigned)conf->offline_after;
    m->topts.busy_ms = (unsigned)conf->busy_ms;
    m->topts.history_ms = conf->history_period_s * 1000;
    /* First: the tracker's polls are signed (a filer tells its figures
     * only to the cluster). */
    rc = cf_role_auth_serve("monitor", &conf->auth, access_of, &ho, &m->cred, err);
    if (rc < 0)
        goto out;
    rc = parse_fraction("high-water", conf->high_water, &m->topts.high_water, err);
    if (rc == 0)
        rc = parse_fraction("low-water", conf->low_water, &m->topts.low_water, err);
    if (rc == 0)
        rc = cf_tracker_opts_fill(&m->topts, err);
    if (rc < 0)
        goto out;
    rc = cf_objdb_open(conf->db, 0, &m->odb, err);
    if (rc < 0)
        goto out;
    rc = cf_scribe_open(conf->db, 0, &m->scribe, err);
    if (rc < 0)
        goto out;
    /* Active or passive; when active, the table is true before the first
     * request. */
    rc = duty_start(m, conf, err);
    if (rc < 0)
        goto out;
    rc = cf_clockguard_open(conf->db, "monitor", conf->test_clock_offset_file, &m->clock, err);
    if (rc == 0)
        rc = pruner_start(m, conf, err);
    if (rc == 0)
        rc = prober_start(m, conf, err);
    if (rc < 0)
        goto out;
    rc = cf_net_listen(conf->listen, 1024, &ho.listen_fd, port_out, err);
    if (rc < 0)
        goto out;
    rc = cf_http_server_start(&ho, &m->http, err);
    if (rc == 0)
        rc = registrar_start(m, conf, *port_out, err);
    if (rc < 0)
        goto out;
    *out = m;
    m = NULL;
out:
    cf_monitor_free(m);
    return rc;
}

void cf_monitor_drain(struct cf_monitor *m, unsigned timeout_s)
{
    cf_http_server_drain(m->http, timeout_s);
}

void cf_monitor_free(struct cf_monitor *m)
{
    if (m == NULL)
        return;
    cf_http_server_free(m->http);
    registrar_stop(m);
    prober_stop(m);
    pruner_stop(m);
    duty_stop(m);
    cf_lease_close(m->lease);
    free_apps(m->apps);
    free(m->probe_objsrv);
    cf_clockguard_close(m->clock);
    cf_role_auth_close(m->cred);
    cf_scribe_close(m->scribe);
    cf_objdb_close(m->odb);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->trk_mu);
    pthread_mutex_destroy(&m->apps_mu);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const char usage[] =
    "usage: coffer monitor [--listen HOST:PORT] [--db URI] [--poll-ms MS]\n"
    "                      [--high-water 0.95] [--low-water 0.90]\n"
    "                      [--log-retention-days 30] [--log-max-rows 1000000]\n"
    "\n"
    "Tracks every registered filer (GET /status every --poll-ms, at once) and\n"
    "keeps the filer summary table true: online, busy, read-only (past\n"
    "--high-water until below --low-water), offline (--offline-after polls\n"
    "without an answer within --timeout-ms) or maintenance (set by the operator).\n"
    "Serves GET /v1/filers, GET and POST /v1/log (the scribe), GET /v1/history\n"
    "(per filer and --history-period-s: bytes, I/O errors, failed polls), POST\n"
    "/v1/filers/ID/maintenance and /metrics. See `coffer admin filers` and\n"
    "`coffer admin log`. Every --log-prune-ms the scribe loses the events older\n"
    "than --log-retention-days and the oldest past --log-max-rows.\n"
    "Of several monitors on one catalog one is active (the lease \"monitor\",\n"
    "--lease-ms); with --app URL[,URL], the active one starts a rebuild of a filer\n"
    "offline past --rebuild-after-s and an audit of one back from a shorter outage;\n"
    "with --probe-objsrv URL too, it uploads, downloads and deletes a small object\n"
    "every --probe-interval-s (metrics coffer_probe_*, scribe events of kind probe).\n";

static int role_start(const void *conf, void **svc, uint16_t *port, char *err)
{
    struct cf_monitor *x = NULL;
    int rc = cf_monitor_start(conf, &x, port, err);

    *svc = x;
    return rc;
}

static void role_drain(void *svc, unsigned timeout_s)
{
    cf_monitor_drain(svc, timeout_s);
}

static void role_free(void *svc)
{
    cf_monitor_free(svc);
}

int cf_monitor_main(int argc, char **argv)
{
    static const struct cf_role role = {
        .name = "monitor",
        .opts = cf_monitor_conf_opts,
        .nopts = CF_ARRAY_LEN(cf_monitor_conf_opts),
        .usage = usage,
        .log_level_off = offsetof(struct cf_monitor_conf, log_level),
        .listen_off = offsetof(struct cf_monitor_conf, listen),
        .id_off = SIZE_MAX,
        .tls_off = offsetof(struct cf_monitor_conf, tls_cert),
        .tls_ca_off = offsetof(struct cf_monitor_conf, tls_ca),
        .start = role_start,
        .drain = role_drain,
        .free = role_free,
    };
    struct cf_monitor_conf conf = {0};

    return cf_role_run(&role, &conf, argc, argv);
}
