/*
 * objsrv.c -- the download service (objsrv.h).
 */
#include "coffer/objsrv.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "coffer/cred.h"
#include "coffer/distrib.h"
#include "coffer/err.h"
#include "coffer/fetch.h"
#include "coffer/http.h"
#include "coffer/hex.h"
#include "coffer/httpc.h"
#include "coffer/keyring.h"
#include "coffer/limits.h"
#include "coffer/log.h"
#include "coffer/metrics.h"
#include "coffer/net.h"
#include "coffer/range.h"
#include "coffer/replica.h"
#include "coffer/role.h"
#include "coffer/scribe.h"
#include "coffer/sha512.h"
#include "coffer/tracker.h"
#include "coffer/upstream.h"
#include "coffer/uuid.h"
#include "coffer/xform.h"

#define OBJECTS "/v1/objects/"
#define URL_MAX 300
/* Cache slots: a record is ~5 KiB, so 1024 slots hold ~5 MiB. */
#define CACHE_SLOTS 1024
#define READ_BLOCK  (64 * 1024)
/* Seconds a signed URL (serve_urls) stays valid. */
#define URL_TTL_DEFAULT_S 30u
#define URL_TTL_MAX_S     600u
/* A record's transform, from the "xform" of the app's record ("z", "e",
 * "ze"): the filers store the bytes compressed and/or encrypted. */
#define XFORM_Z 1u
#define XFORM_E 2u

struct record {
    char uuid[CF_UUID_SIZE];
    uint64_t size;
    uint8_t sha[CF_SHA512_LEN];
    char path[CF_PATH_MAX + 1]; /* the object's path on its filers */
    /* The filers hold a transform of the bytes (XFORM_*): they decode it
     * when asked with the transform (and the key). */
    unsigned xform;
    uint8_t wrapped[CF_KEYRING_WRAPPED_LEN];              /* with E: the object key, wrapped */
    size_t n;                                             /* replicas */
    char urls[CF_FETCH_MAX_REPLICAS][CF_REPLICA_URL_MAX]; /* GET URLs of the bytes */
    uint32_t ids[CF_FETCH_MAX_REPLICAS];                  /* the filer of each URL */
    /* What orders the replicas for a read (order_replicas): in the cache
     * they are in the app's order; each request orders its own copy. */
    struct cf_distrib_replica rank[CF_FETCH_MAX_REPLICAS];
};

struct slot {
    pthread_mutex_t mu;
    uint64_t expires_ns; /* 0: empty */
    uint64_t dropped_ns; /* when rec.uuid was last dropped; a record fetched before is not kept */
    struct record rec;
};

/* A replica that served bytes not matching the record, remembered for a
 * while so that reads of that object try it last (until an audit repairs it). */
struct suspect {
    pthread_mutex_t mu;
    uint64_t expires_ns; /* 0: empty */
    char uuid[CF_UUID_SIZE];
    char url[URL_MAX];
};

#define SUSPECT_NS (600ull * 1000000000ull)

/* A replica that failed a read (fetch.h: 404, another error, or bytes
 * not matching the SHA-512), on its way to the app (POST /v1/findings),
 * which logs it in the scribe and has the replica checked. */
struct finding {
    char uuid[CF_UUID_SIZE];
    uint32_t filer;
    const char *kind; /* a CF_SCRIBE_* kind (static) */
    char why[160];
};

/* Findings waiting for the reporter thread; more are dropped (the app
 * rate-limits what it does with them anyway). */
#define FINDINGS_MAX 64
/* The same (object, filer, kind) is reported at most once in this time. */
#define FINDING_AGAIN_NS (60ull * 1000000000ull)
/* How long the reporter waits for the app. */
#define FINDING_TIMEOUT_MS 3000

/* The last finding reported for the objects of one cache slot. */
struct reported {
    uint64_t at_ns; /* 0: none */
    char uuid[CF_UUID_SIZE];
    uint32_t filer;
    const char *kind;
};

struct cf_objsrv {
    struct cf_http_server *http;
    struct cf_cred *cred; /* verifies requests (http.h); freed after http */
    struct suspect *suspects;
    struct cf_upstream *app; /* the apps asked for records (--app, a comma list) */
    /* The app in this process, asked instead of app when set (objsrv.h). */
    cf_objsrv_record_cb record_cb;
    void *record_ctx;
    cf_objsrv_replica_cb replica_cb; /* objsrv.h: filers in process; NULL: none */
    void *replica_ctx;
    struct cf_metric *m_lookups_http, *m_lookups_local; /* records asked for, each way */
    struct cf_metric *m_replica_local;                  /* replicas read in process */
    struct cf_keyring *keyring;                         /* --master-key-file; NULL: none */
    uint64_t cache_ns;
    unsigned stall_s;
    struct slot *cache;
    /* The change feed (registry.h): a thread follows the app's GET
     * /v1/changes and drops the objects marked deleted; cached records are
     * used only while the feed was read within fresh_ns. */
    uint64_t changes_ms;     /* 0: no feed, records kept for cache_ns */
    uint64_t fresh_ns;       /* changes_ms + the poll's timeout */
    _Atomic uint64_t fed_ns; /* cf_now_ns of the start of the last good poll; 0: none */
    pthread_t feeder;
    bool feeder_started;
    bool stop; /* under stop_mu */
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv; /* CLOCK_MONOTONIC */
    /* The findings queue (under stop_mu; the reporter waits on find_cv). */
    struct finding findings[FINDINGS_MAX];
    size_t nfindings;
    uint64_t dropped_findings;
    struct reported *reported; /* CACHE_SLOTS, by slot_of; under stop_mu */
    pthread_cond_t find_cv;
    pthread_t reporter;
    bool reporter_started;
};

#define OFF(f) offsetof(struct cf_objsrv_conf, f)
const struct cf_conf_opt cf_objsrv_conf_opts[] = {
    {"listen", CF_CONF_STR, "127.0.0.1:8201", 0, 0, OFF(listen), "HOST:PORT to serve HTTP on",
     false},
    {"app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app),
     "base URL of the app role, asked for object records; a comma list of several: a failed "
     "one is skipped",
     false},
    {"cache-ms", CF_CONF_U64, "30000", 0, 86400000, OFF(cache_ms),
     "how long an object record is reused (0: ask every time)", true},
    {"changes-ms", CF_CONF_U64, "1000", 0, 60000, OFF(changes_ms),
     "how often the app's change feed is read to drop deleted objects from the cache (0: "
     "never; then a deleted object may be served for up to --cache-ms)",
     true},
    {"stall-s", CF_CONF_U64, "10", 1, 3600, OFF(stall_s),
     "seconds a replica may send nothing before the next one is asked", true},
    {"log-level", CF_CONF_STR, "info", 0, 0, OFF(log_level), "error, warn, info or debug", true},
    CF_ROLE_TLS_OPTS(struct cf_objsrv_conf),
    CF_ROLE_TLS_CA_OPT(struct cf_objsrv_conf),
    CF_HTTP_LIMITS_CONF_OPTS(struct cf_objsrv_conf),
    CF_ROLE_BEAT_OPTS(OFF),
    CF_ROLE_AUTH_OPTS(OFF),
    {"master-key-file", CF_CONF_STR, NULL, 0, 0, OFF(master_key_file),
     "the operator's master keys (lines \"KID HEX64\", mode 0600), to read encrypted objects; "
     "none: they are refused (503)",
     false},
};
const size_t cf_objsrv_conf_nopts = CF_ARRAY_LEN(cf_objsrv_conf_opts);

/* ---- records, from the cache or the app ---- */

static struct slot *slot_of(struct cf_objsrv *o, const char *uuid)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (const char *p = uuid; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return &o->cache[h % CACHE_SLOTS];
}

static bool cache_get(struct cf_objsrv *o, const char *uuid, struct record *out)
{
    struct slot *s = slot_of(o, uuid);
    bool hit;

    if (o->changes_ms > 0 && cf_now_ns() - atomic_load(&o->fed_ns) > o->fresh_ns)
        return false; /* the feed is behind: a cached record may be deleted */
    pthread_mutex_lock(&s->mu);
    hit = s->expires_ns > cf_now_ns() && strcmp(s->rec.uuid, uuid) == 0;
    if (hit)
        *out = s->rec;
    pthread_mutex_unlock(&s->mu);
    return hit;
}

/* Keep r, fetched from the app by a request sent at fetched_ns, unless the
 * object was dropped since (a delete the feed saw while the fetch ran). */
static void cache_put(struct cf_objsrv *o, const struct record *r, uint64_t fetched_ns)
{
    struct slot *s = slot_of(o, r->uuid);

    if (o->cache_ns == 0)
        return;
    pthread_mutex_lock(&s->mu);
    if (strcmp(s->rec.uuid, r->uuid) != 0 || s->dropped_ns < fetched_ns) {
        s->rec = *r;
        s->expires_ns = cf_now_ns() + o->cache_ns;
        s->dropped_ns = 0;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Forget uuid's record, and remember when, so that a fetch of it already
 * under way is not cached (cache_put): the slot becomes uuid's even if
 * another object held it. */
static void cache_drop(struct cf_objsrv *o, const char *uuid)
{
    struct slot *s = slot_of(o, uuid);

    pthread_mutex_lock(&s->mu);
    if (strcmp(s->rec.uuid, uuid) != 0) {
        memset(&s->rec, 0, sizeof(s->rec));
        (void)snprintf(s->rec.uuid, sizeof(s->rec.uuid), "%s", uuid);
    }
    s->expires_ns = 0;
    s->dropped_ns = cf_now_ns();
    pthread_mutex_unlock(&s->mu);
}

static void cache_flush(struct cf_objsrv *o)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        pthread_mutex_lock(&o->cache[i].mu);
        o->cache[i].expires_ns = 0;
        o->cache[i].dropped_ns = cf_now_ns();
        pthread_mutex_unlock(&o->cache[i].mu);
    }
}

static struct suspect *suspect_of(struct cf_objsrv *o, const char *uuid)
{
    return &o->suspects[slot_of(o, uuid) - o->cache];
}

static void suspect_put(struct cf_objsrv *o, const char *uuid, const char *url)
{
    struct suspect *s = suspect_of(o, uuid);

    pthread_mutex_lock(&s->mu);
    (void)snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
    (void)snprintf(s->url, sizeof(s->url), "%s", url);
    s->expires_ns = cf_now_ns() + SUSPECT_NS;
    pthread_mutex_unlock(&s->mu);
}

/* Order r's replicas for one read (distrib.h, "reads"): filers that
 * answer by read weight, equal ones shuffled per request, then read weight
 * 0, then filers down, and the replica found bad (suspect_put) last. */
static void order_replicas(struct cf_objsrv *o, struct record *r)
{
    struct suspect *s = suspect_of(o, r->uuid);
    struct record in = *r;
    size_t idx[CF_FETCH_MAX_REPLICAS];
    char url[URL_MAX] = "";

    pthread_mutex_lock(&s->mu);
    if (s->expires_ns > cf_now_ns() && strcmp(s->uuid, r->uuid) == 0)
        memcpy(url, s->url, sizeof(url));
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < in.n; i++)
        in.rank[i].bad = url[0] != '\0' && strcmp(in.urls[i], url) == 0;
    cf_distrib_read_order(in.rank, in.n, NULL, NULL, idx);
    for (size_t i = 0; i < in.n; i++) {
        memcpy(r->urls[i], in.urls[idx[i]], sizeof(r->urls[i]));
        r->ids[i] = in.ids[idx[i]];
        r->rank[i] = in.rank[idx[i]];
    }
}

/* A replica's filer as the app describes it (its status and read weight):
 * what order_replicas needs. */
static struct cf_distrib_replica replica_rank(const char *status, int64_t read_weight)
{
    return (struct cf_distrib_replica){.read_weight = read_weight < 0 ? 0
                                                      : read_weight > CF_OBJDB_WEIGHT_MAX
                                                          ? CF_OBJDB_WEIGHT_MAX
                                                          : (uint32_t)read_weight,
                                       .up = status != NULL && cf_objdb_status_up(status),
                                       .busy = status != NULL && strcmp(status, CF_OBJDB_BUSY) == 0,
                                       .bad = false};
}

/* Add to r (its path set) the replica on the filer id at base URL url (may
 * be NULL) with that status and read weight; a filer with no URL (one the
 * app does not know) has nothing to read and is left out. */
static void record_add(struct record *r, const char *url, int64_t id, const char *status,
                       int64_t read_weight)
{
    if (url == NULL || url[0] == '\0' || r->n == CF_FETCH_MAX_REPLICAS ||
        cf_replica_url(url, r->path, r->urls[r->n]) < 0)
        return;
    r->ids[r->n] = id > 0 && id <= (int64_t)UINT32_MAX ? (uint32_t)id : 0;
    r->rank[r->n] = replica_rank(status, read_weight);
    r->n++;
}

/* Turn the app's JSON record into a struct record. */
static int parse_record(json_t *j, const char *uuid, struct record *r, char *err)
{
    json_t *filers = json_object_get(j, "filers");
    const char *sha = json_string_value(json_object_get(j, "sha512"));
    const char *path = json_string_value(json_object_get(j, "path"));
    size_t n = json_array_size(filers);

    if (sha == NULL || path == NULL || !json_is_integer(json_object_get(j, "size")) || n == 0 ||
        n > CF_FETCH_MAX_REPLICAS || cf_sha512_parse_hex(sha, strlen(sha), r->sha) < 0) {
        cf_err_set(err, "the app sent a malformed record");
        return CF_EINTERNAL;
    }
    (void)snprintf(r->uuid, sizeof(r->uuid), "%s", uuid);
    if (snprintf(r->path, sizeof(r->path), "%s", path) >= (int)sizeof(r->path)) {
        cf_err_set(err, "the app sent a malformed record");
        return CF_EINTERNAL;
    }
    r->size = (uint64_t)json_integer_value(json_object_get(j, "size"));
    {
        const char *x = json_string_value(json_object_get(j, "xform"));
        const char *k = json_string_value(json_object_get(j, "wrapped_key"));
        r->xform = 0;
        if (x != NULL && strchr(x, 'z') != NULL)
            r->xform |= XFORM_Z;
        if (x != NULL && strchr(x, 'e') != NULL)
            r->xform |= XFORM_E;
        if ((r->xform & XFORM_E) && (k == NULL || strlen(k) != 2 * sizeof(r->wrapped) ||
                                     cf_hex_decode(k, sizeof(r->wrapped), r->wrapped, true) < 0)) {
            cf_err_set(err, "the app sent an encrypted record without its key");
            return CF_EINTERNAL;
        }
    }
    r->n = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(filers, i);
        json_t *rw = json_object_get(f, "read_weight");
        /* A record from an app that sends no read weight reads as the
         * default. */
        record_add(r, json_string_value(json_object_get(f, "url")),
                   json_integer_value(json_object_get(f, "id")),
                   json_string_value(json_object_get(f, "status")),
                   json_is_integer(rw) ? json_integer_value(rw) : CF_OBJDB_READ_WEIGHT_DEFAULT);
    }
    if (r->n == 0) {
        cf_err_set(err, "no replica of the object is registered");
        return CF_EUNAVAIL;
    }
    return 0;
}

_Static_assert(CF_OBJDB_REPLICAS_MAX <= CF_FETCH_MAX_REPLICAS, "a record's filers fit a fetch");

/* The same from the app in this process (record_cb): in and filers as
 * app.h cf_app_record gives them, checked as parse_record checks what
 * the app's JSON says of them. */
static int record_of(const struct cf_objdb_record *in, const struct cf_objdb_filer *filers,
                     const char *uuid, struct record *r, char *err)
{
    if (in->nfilers == 0 || in->nfilers > CF_OBJDB_REPLICAS_MAX ||
        snprintf(r->path, sizeof(r->path), "%s", in->path) >= (int)sizeof(r->path)) {
        cf_err_set(err, "the app gave a malformed record");
        return CF_EINTERNAL;
    }
    (void)snprintf(r->uuid, sizeof(r->uuid), "%s", uuid);
    r->size = in->size;
    memcpy(r->sha, in->sha512, sizeof(r->sha));
    r->xform = 0;
    if (in->xform & CF_OBJDB_XFORM_Z)
        r->xform |= XFORM_Z;
    if (in->xform & CF_OBJDB_XFORM_E) {
        r->xform |= XFORM_E;
        if (in->key_len != sizeof(r->wrapped)) {
            cf_err_set(err, "the app gave an encrypted record without its key");
            return CF_EINTERNAL;
        }
        memcpy(r->wrapped, in->key, sizeof(r->wrapped));
    }
    r->n = 0;
    for (unsigned i = 0; i < in->nfilers; i++)
        record_add(r, filers[i].url, in->filers[i], filers[i].status, filers[i].read_weight);
    if (r->n == 0) {
        cf_err_set(err, "no replica of the object is registered");
        return CF_EUNAVAIL;
    }
    return 0;
}

/* The record of uuid from the app in this process: CF_ENOTFOUND stays
 * (404), every other failure of the app is CF_EUNAVAIL (503), as over
 * HTTP; a record that does not check is refused as parse_record refuses
 * one. */
static int ask_local(struct cf_objsrv *o, const char *uuid, struct record *r, char *err)
{
    struct cf_objdb_record in;
    struct cf_objdb_filer filers[CF_OBJDB_REPLICAS_MAX];
    char why[CF_ERR_LEN] = "";
    int rc;

    cf_metric_add(o->m_lookups_local, 1);
    rc = o->record_cb(o->record_ctx, uuid, &in, filers, why);
    if (rc == CF_ENOTFOUND) {
        cf_err_set(err, "no such object");
        return CF_ENOTFOUND;
    }
    if (rc < 0) {
        cf_err_set(err, "the app cannot give the record: %s", why);
        return CF_EUNAVAIL;
    }
    return record_of(&in, filers, uuid, r, err);
}

/* The same from the app(s) at --app, GET /v1/objects/<uuid>/info. */
static int ask_http(struct cf_objsrv *o, const char *uuid, json_t **j, char *err)
{
    char path[64];
    long status = 0;
    int rc;

    cf_metric_add(o->m_lookups_http, 1);
    /* A look-up is idempotent: the next app answers when one cannot. */
    (void)snprintf(path, sizeof(path), "/v1/objects/%s/info", uuid);
    rc = cf_upstream_json(o->app, "GET", path, NULL, 10000, true, &status, j, err);
    if (rc < 0)
        return CF_EUNAVAIL;
    if (status == 404) {
        cf_err_set(err, "no such object");
        return CF_ENOTFOUND;
    }
    if (status != 200) {
        cf_err_set(err, "the app answered %ld", status);
        return CF_EUNAVAIL;
    }
    return 0;
}

static int get_record(struct cf_objsrv *o, const char *uuid, struct record *r, char *err)
{
    json_t *j = NULL;
    uint64_t fetched_ns = cf_now_ns();
    int rc;

    if (cache_get(o, uuid, r))
        return 0;
    if (o->record_cb != NULL) {
        rc = ask_local(o, uuid, r, err);
    } else {
        rc = ask_http(o, uuid, &j, err);
        if (rc == 0)
            rc = parse_record(j, uuid, r, err);
    }
    if (rc == 0)
        cache_put(o, r, fetched_ns);
    json_decref(j);
    return rc;
}

/* ---- streaming ---- */

struct stream {
    struct cf_objsrv *o;
    struct cf_fetch *f;
    struct record rec; /* the replicas in the order fetch uses them */
};

static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    ssize_t n;

    (void)pos;
    n = cf_fetch_read(s->f, buf, max);
    if (n > 0)
        return n;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    cf_log(CF_LOG_ERROR, "download of %s failed: %s; closing the connection", s->rec.uuid,
           cf_strerror((int)n));
    /* The replica list may be stale (a rebuild moved it): ask again next time. */
    cache_drop(s->o, s->rec.uuid);
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_cb(void *cls)
{
    struct stream *s = cls;

    cf_fetch_free(s->f);
    free(s);
}

/* A small range read whole from the filers, so that its reply leaves in one
 * piece (headers and bytes together) instead of a header write and then a
 * body callback: a response (NULL if it cannot be made) and *rc 0, or NULL
 * and the fetch's error in *rc (logged; the record is dropped from the cache,
 * as read_cb does). s is freed either way. */
static struct MHD_Response *read_whole(struct stream *s, size_t len, int *rc)
{
    struct MHD_Response *resp = NULL;
    char *buf = cf_xmalloc(len);

    *rc = cf_fetch_read_all(s->f, buf, len);
    if (*rc < 0) {
        cf_log(CF_LOG_ERROR, "download of %s failed: %s", s->rec.uuid, cf_strerror(*rc));
        cache_drop(s->o, s->rec.uuid);
    } else {
        resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    }
    if (resp == NULL)
        free(buf);
    free_cb(s);
    return resp;
}

/* Queue a finding for the reporter, unless the same one went out within
 * FINDING_AGAIN_NS or the queue is full. */
static void finding_put(struct cf_objsrv *o, const char *uuid, uint32_t filer, const char *kind,
                        const char *why)
{
    struct reported *r = &o->reported[slot_of(o, uuid) - o->cache];
    uint64_t now = cf_now_ns();

    if (filer == 0)
        return; /* a record without filer ids (an older app): nothing to name */
    pthread_mutex_lock(&o->stop_mu);
    if (r->at_ns != 0 && now - r->at_ns < FINDING_AGAIN_NS && r->filer == filer &&
        r->kind == kind && strcmp(r->uuid, uuid) == 0) {
        pthread_mutex_unlock(&o->stop_mu);
        return;
    }
    if (o->nfindings == FINDINGS_MAX || !o->reporter_started) {
        o->dropped_findings++;
        pthread_mutex_unlock(&o->stop_mu);
        return;
    }
    r->at_ns = now;
    r->filer = filer;
    r->kind = kind;
    (void)snprintf(r->uuid, sizeof(r->uuid), "%s", uuid);
    {
        struct finding *f = &o->findings[o->nfindings++];
        (void)snprintf(f->uuid, sizeof(f->uuid), "%s", uuid);
        f->filer = filer;
        f->kind = kind;
        (void)snprintf(f->why, sizeof(f->why), "%s", why);
    }
    pthread_cond_signal(&o->find_cv);
    pthread_mutex_unlock(&o->stop_mu);
}

/* Replica `replica` of rec (its replicas in read order) failed a read
 * with err (fetch.h): a corrupt one is read last by the next downloads,
 * and every failure is reported to the app. */
static void replica_report(struct cf_objsrv *o, const struct record *rec, size_t replica, int err,
                           const char *why)
{
    const char *kind = err == CF_ECORRUPT    ? CF_SCRIBE_CHECKSUM
                       : err == CF_ENOTFOUND ? CF_SCRIBE_MISSING
                                             : CF_SCRIBE_FILER_ERROR;

    if (replica >= rec->n)
        return;
    cf_log(CF_LOG_WARN, "download of %s: replica %s failed (%s); trying the next", rec->uuid,
           rec->urls[replica], why);
    if (err == CF_ECORRUPT) {
        cf_log(CF_LOG_ERROR, "replica %s of %s does not match its SHA-512; reading it last",
               rec->urls[replica], rec->uuid);
        suspect_put(o, rec->uuid, rec->urls[replica]);
    }
    finding_put(o, rec->uuid, rec->ids[replica], kind, why);
}

/* A replica failed during a fetch of stream ctx (fetch.h on_fail). */
static void replica_failed(void *ctx, size_t replica, int err, const char *why)
{
    struct stream *s = ctx;

    replica_report(s->o, &s->rec, replica, err, why);
}

/* The key of rec (XFORM_E), unwrapped with the master keys into key.
 * Returns 0, or CF_EUNAVAIL with err. */
_Static_assert(CF_KEYRING_KEY_LEN == CF_XFORM_KEY_LEN, "an object key is an xform key");

static int object_key(const struct cf_objsrv *o, const struct record *rec,
                      uint8_t key[CF_KEYRING_KEY_LEN], char *err)
{
    char why[CF_ERR_LEN] = "";

    if (o->keyring == NULL) {
        cf_err_set(err, "the object is encrypted and this objsrv has no --master-key-file");
        return CF_EUNAVAIL;
    }
    if (cf_keyring_unwrap(o->keyring, rec->wrapped, sizeof(rec->wrapped), key, why) < 0) {
        cf_err_set(err, "cannot unwrap the object's key: %s", why);
        return CF_EUNAVAIL;
    }
    return 0;
}

/* The filer request headers that read rec decoded (xform.h): its
 * transform and, when encrypted, its key unwrapped with the master keys.
 * line holds them, hdrs points at them (NULL-ended). Returns 0, or
 * CF_EUNAVAIL (no master key file, or not the master key the object's key
 * is wrapped under) with err. */
static int xform_headers(const struct cf_objsrv *o, const struct record *rec, char line[2][160],
                         const char *hdrs[3], char *err)
{
    uint8_t key[CF_KEYRING_KEY_LEN];
    size_t n = 0;

    hdrs[0] = NULL;
    if (rec->xform == 0)
        return 0;
    (void)snprintf(line[0], 160, "X-Coffer-Transform: %s%s", (rec->xform & XFORM_Z) ? "z" : "",
                   (rec->xform & XFORM_E) ? "e" : "");
    hdrs[n++] = line[0];
    if (rec->xform & XFORM_E) {
        if (object_key(o, rec, key, err) < 0)
            return CF_EUNAVAIL;
        memcpy(line[1], "X-Coffer-Key: ", 14);
        cf_hex_encode(key, sizeof(key), line[1] + 14);
        OPENSSL_cleanse(key, sizeof(key));
        hdrs[n++] = line[1];
    }
    hdrs[n] = NULL;
    return 0;
}

/* Open the read of bytes [first, first + len) of rec (its replicas in read
 * order; len > 0), verified against the record's SHA-512 when it covers
 * the whole object, decoded when the object is stored transformed. Returns
 * 0 with *out (free with free_cb), or CF_EUNAVAIL (the object's key cannot
 * be unwrapped) or CF_EINTERNAL with err. */
static int stream_open(struct cf_objsrv *o, const struct record *rec, uint64_t first, uint64_t len,
                       struct stream **out, char *err)
{
    char hline[2][160];
    const char *xhdrs[3] = {NULL}, *urls[CF_FETCH_MAX_REPLICAS];
    struct cf_fetch_opts fo;
    struct stream *s;
    int rc;

    rc = xform_headers(o, rec, hline, xhdrs, err);
    if (rc < 0) {
        cf_log(CF_LOG_ERROR, "download of %s: %s", rec->uuid, err);
        return rc;
    }
    for (size_t i = 0; i < rec->n; i++)
        urls[i] = rec->urls[i];
    s = cf_xcalloc(1, sizeof(*s));
    s->o = o;
    s->rec = *rec;
    fo = (struct cf_fetch_opts){.urls = urls,
                                .n = rec->n,
                                .first = first,
                                .len = len,
                                .sha = first == 0 && len == rec->size ? rec->sha : NULL,
                                .stall_s = o->stall_s,
                                .on_fail = replica_failed,
                                .ctx = s,
                                .headers = xhdrs};
    rc = cf_fetch_new(&fo, &s->f);
    OPENSSL_cleanse(hline, sizeof(hline));
    if (rc < 0) {
        free(s);
        cf_err_set(err, "cannot start the transfer");
        return CF_EINTERNAL;
    }
    *out = s;
    return 0;
}

/* Read [first, first + len) of rec (replicas in read order) from the
 * replicas that are filers of this process (replica_cb), in order, each
 * checked as a fetch checks it: a whole read against the record's SHA-512.
 * A replica that fails is reported as a fetch reports it (replica_report)
 * and the next is tried. Returns 0 (buf filled); 1 with *from the first
 * replica that is not local (that one and the rest are to be read over
 * HTTP); or the last replica's error when every one was local and failed. */
static int read_local(struct cf_objsrv *o, const struct record *rec, uint64_t first, uint64_t len,
                      void *buf, size_t *from, char *err)
{
    uint8_t key[CF_XFORM_KEY_LEN], got[CF_SHA512_LEN];
    char why[CF_ERR_LEN] = "";
    unsigned flags = 0;
    int rc = CF_EUNAVAIL;

    if (rec->xform & XFORM_Z)
        flags |= CF_XFORM_Z;
    if (rec->xform & XFORM_E) {
        flags |= CF_XFORM_E;
        if (object_key(o, rec, key, err) < 0)
            return CF_EUNAVAIL;
    }
    for (size_t i = 0; i < rec->n; i++) {
        bool mine = false;
        rc = o->replica_cb(o->replica_ctx, rec->urls[i], flags, (flags & CF_XFORM_E) ? key : NULL,
                           first, len, buf, &mine, why);
        if (!mine) {
            *from = i;
            rc = 1;
            break;
        }
        cf_metric_add(o->m_replica_local, 1);
        if (rc == 0 && first == 0 && len == rec->size &&
            (cf_sha512_once(buf, (size_t)len, got) < 0 ||
             memcmp(got, rec->sha, sizeof(got)) != 0)) {
            rc = CF_ECORRUPT;
            cf_err_set(why, "its bytes do not match the SHA-512");
        }
        if (rc == 0)
            break;
        /* A transformed replica that does not decode is corrupt, as a
         * fetch takes the filer's 422 for it. */
        if (rc == CF_ECHECKSUM)
            rc = CF_ECORRUPT;
        replica_report(o, rec, i, rc, why);
        cf_err_set(err, "replica %s: %s", rec->urls[i], why);
    }
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

int cf_objsrv_read(struct cf_objsrv *o, const char *uuid, uint64_t first, uint64_t len, void *buf,
                   uint8_t *sha_out, char *err)
{
    struct record rec;
    struct stream *s = NULL;
    struct cf_uuid u;
    size_t from = 0;
    bool whole;
    int rc;

    if (cf_uuid_parse(uuid, strlen(uuid), &u, err) < 0)
        return CF_EBADREQ;
    rc = get_record(o, uuid, &rec, err);
    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (first > rec.size || len > rec.size - first) {
        cf_err_set(err, "bytes %" PRIu64 "+%" PRIu64 " are beyond the object's %" PRIu64, first,
                   len, rec.size);
        return CF_EINVAL;
    }
    /* Both ways below verify a whole read against rec.sha (read_local,
     * and the fetch's opts.sha in stream_open) before they return it. */
    whole = first == 0 && len == rec.size;
    order_replicas(o, &rec);
    if (o->replica_cb != NULL) {
        rc = read_local(o, &rec, first, len, buf, &from, err);
        if (rc < 0) {
            cf_log(CF_LOG_ERROR, "download of %s failed: %s", uuid, err);
            cache_drop(o, uuid);
            return rc;
        }
        if (rc == 0)
            goto done;
        /* The replicas from `from` on are not in this process. */
        memmove(rec.urls, rec.urls + from, (rec.n - from) * sizeof(rec.urls[0]));
        memmove(rec.ids, rec.ids + from, (rec.n - from) * sizeof(rec.ids[0]));
        memmove(rec.rank, rec.rank + from, (rec.n - from) * sizeof(rec.rank[0]));
        rec.n -= from;
    }
    rc = stream_open(o, &rec, first, len, &s, err);
    if (rc < 0)
        return rc;
    rc = cf_fetch_read_all(s->f, buf, (size_t)len);
    free_cb(s);
    if (rc < 0) {
        cf_log(CF_LOG_ERROR, "download of %s failed: %s", uuid, cf_strerror(rc));
        cf_err_set(err, "no replica could be read: %s", cf_strerror(rc));
        cache_drop(o, uuid);
        return rc;
    }
done:
    if (!whole)
        return 0;
    if (sha_out != NULL)
        memcpy(sha_out, rec.sha, sizeof(rec.sha));
    return CF_OBJSRV_READ_WHOLE;
}

static enum MHD_Result serve_download(struct cf_objsrv *o, struct MHD_Connection *c, const char *id)
{
    struct record rec;
    struct cf_range range = {0, 0};
    struct stream *s = NULL;
    struct MHD_Response *resp;
    char err[CF_ERR_LEN] = "", hex[CF_SHA512_HEX_LEN + 1], cr[96];
    enum cf_range_result rr;
    enum MHD_Result r;
    unsigned status = MHD_HTTP_OK;
    int rc;

    struct cf_uuid u;

    if (cf_uuid_parse(id, strlen(id), &u, err) < 0)
        return cf_http_reply_error(c, CF_EBADREQ, "malformed UUID: %s", err);
    rc = get_record(o, id, &rec, err);
    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s", err);
    order_replicas(o, &rec);
    rr = cf_range_parse(cf_http_header(c, MHD_HTTP_HEADER_RANGE), rec.size, &range);
    if (rr == CF_RANGE_UNSATISFIABLE) {
        const char *hdrs[] = {"Content-Range", cr, "Accept-Ranges", "bytes", NULL};
        (void)snprintf(cr, sizeof(cr), "bytes */%" PRIu64, rec.size);
        return cf_http_reply(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, NULL, NULL, 0, hdrs);
    }
    if (rr == CF_RANGE_NONE) {
        range.first = 0;
        range.last = rec.size - 1; /* unused when size == 0 */
    }
    cf_sha512_hex(rec.sha, hex);
    if (rec.size == 0) {
        resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
    } else {
        /* A range covering the whole object (the gateway always sends
         * one) is verified like a plain GET. */
        uint64_t len = range.last - range.first + 1;
        rc = stream_open(o, &rec, range.first, len, &s, err);
        if (rc < 0)
            return cf_http_reply_error(c, rc, "%s", err);
        if (len <= CF_FETCH_WHOLE_MAX && !cf_http_is_head()) {
            resp = read_whole(s, (size_t)len, &rc);
            if (rc < 0)
                return cf_http_reply_error(c, rc, "the object cannot be read now");
        } else {
            resp = MHD_create_response_from_callback(
                len, len < READ_BLOCK ? (size_t)len : READ_BLOCK, read_cb, s, free_cb);
            if (resp == NULL)
                free_cb(s);
        }
    }
    if (resp == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot create the response");
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    (void)MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    (void)MHD_add_response_header(resp, CF_SHA512_HEADER, hex);
    if (rr == CF_RANGE_OK) {
        (void)snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.first,
                       range.last, rec.size);
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* GET /v1/objects/UUID/urls?ttl_s=N: signed URLs (cred.h) reading the
 * object from each of its filers, in read order (order_replicas), valid
 * for N seconds (1 to URL_TTL_MAX_S; default URL_TTL_DEFAULT_S), for a
 * client sent there instead of being streamed the bytes (the gateway's
 * redirect). The reply
 * holds the record's size and SHA-512, which that client must check. */
static enum MHD_Result serve_urls(struct cf_objsrv *o, struct MHD_Connection *c, const char *id)
{
    const char *q = cf_http_query(c, "ttl_s");
    char err[CF_ERR_LEN] = "", hex[CF_SHA512_HEX_LEN + 1], sq[CF_CRED_URL_QUERY_MAX];
    char url[CF_REPLICA_URL_MAX + CF_CRED_URL_QUERY_MAX];
    unsigned long ttl = URL_TTL_DEFAULT_S;
    struct record rec;
    struct cf_uuid u;
    uint64_t exp;
    json_t *arr;
    int rc;

    if (cf_uuid_parse(id, strlen(id), &u, err) < 0)
        return cf_http_reply_error(c, CF_EBADREQ, "malformed UUID: %s", err);
    if (q != NULL) {
        char *end = NULL;
        ttl = strtoul(q, &end, 10);
        if (q[0] < '0' || q[0] > '9' || *end != '\0' || ttl < 1 || ttl > URL_TTL_MAX_S)
            return cf_http_reply_error(c, CF_EBADREQ, "ttl_s is a number from 1 to %u",
                                       URL_TTL_MAX_S);
    }
    if (o->cred == NULL)
        return cf_http_reply_error(c, CF_EUNAVAIL, "no cluster key to sign URLs with");
    rc = get_record(o, id, &rec, err);
    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s", err);
    /* A signed URL serves the stored bytes (filer /s/): of a transformed
     * object that is not what the client asked for; it is streamed. */
    if (rec.xform != 0)
        return cf_http_reply_error(c, CF_EEXIST,
                                   "the object is stored transformed: no filer URL serves it");
    order_replicas(o, &rec);
    exp = cf_wall_ms() + (uint64_t)ttl * 1000u;
    if (cf_cred_url_sign(o->cred, rec.path, exp, sq) < 0)
        return cf_http_reply_error(c, CF_EUNAVAIL, "no cluster key to sign URLs with");
    arr = json_array();
    for (size_t i = 0; i < rec.n; i++) {
        /* rec.urls[i] is "<filer>/o/<path>": the same with /s/ and the query. */
        size_t base = strlen(rec.urls[i]) - strlen(rec.path) - 3;
        int w = snprintf(url, sizeof(url), "%.*s/s/%s?%s", (int)base, rec.urls[i], rec.path, sq);
        if (w > 0 && (size_t)w < sizeof(url))
            (void)json_array_append_new(arr, json_string(url));
    }
    cf_sha512_hex(rec.sha, hex);
    return cf_http_reply_json(c, MHD_HTTP_OK,
                              json_pack("{s:I,s:s,s:I,s:o}", "size", (json_int_t)rec.size, "sha512",
                                        hex, "expires_ms", (json_int_t)exp, "urls", arr));
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
    struct cf_objsrv *o = cls;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    if (strncmp(url, OBJECTS, sizeof(OBJECTS) - 1) == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
            return cf_http_reply_error(c, CF_EMETHOD, "use GET or HEAD; uploads go to the app");
        {
            const char *id = url + sizeof(OBJECTS) - 1, *slash = strchr(id, '/');
            char uuid[CF_UUID_SIZE];
            if (slash != NULL && strcmp(slash, "/urls") == 0 &&
                (size_t)(slash - id) < sizeof(uuid)) {
                (void)snprintf(uuid, sizeof(uuid), "%.*s", (int)(slash - id), id);
                return serve_urls(o, c, uuid);
            }
            return serve_download(o, c, id);
        }
    }
    if (strcmp(url, "/status") == 0) {
        json_t *j = json_pack("{s:s,s:I,s:I}", "role", "objsrv", "requests",
                              (json_int_t)cf_http_server_requests(o->http), "in_flight",
                              (json_int_t)cf_http_server_in_flight(o->http));
        return cf_http_reply_json(c, MHD_HTTP_OK, j);
    }
    return cf_http_reply_error(c, CF_ENOTFOUND, "no such endpoint");
}

/* ---- the change feed ---- */

/* Timeout of one read of the feed; part of the staleness bound (fresh_ns). */
#define FEED_TIMEOUT_MS 1000

/* Read the feed from *after on, dropping what it lists. On success *after
 * is where the next poll starts and 0 is returned; else an error, logged
 * by the caller. */
static int feed_poll(struct cf_objsrv *o, bool *known, uint64_t *after, uint64_t *prev_newest,
                     char *err)
{
    char path[64];
    uint64_t start = cf_now_ns();
    bool more = true;
    int rc = 0;

    while (more) {
        json_t *j = NULL, *arr;
        long status = 0;
        uint64_t oldest, newest, last = *after;

        (void)snprintf(path, sizeof(path), "/v1/changes?after=%" PRIu64, *after);
        rc = cf_upstream_json(o->app, "GET", path, NULL, FEED_TIMEOUT_MS, true, &status, &j, err);
        if (rc == 0 && status != 200) {
            cf_err_set(err, "the app answered %ld", status);
            rc = CF_EUNAVAIL;
        }
        if (rc < 0) {
            json_decref(j);
            return rc;
        }
        arr = json_object_get(j, "changes");
        oldest = (uint64_t)json_integer_value(json_object_get(j, "oldest"));
        newest = (uint64_t)json_integer_value(json_object_get(j, "newest"));
        more = json_is_true(json_object_get(j, "more"));
        if (!*known) {
            /* Begin at the end, forgetting what was cached before. */
            cache_flush(o);
            *known = true;
            *after = *prev_newest = newest;
            json_decref(j);
            break;
        }
        if (oldest > 0 && *after + 1 < oldest) {
            cf_log(CF_LOG_WARN, "the change feed was pruned past this objsrv's place; emptying "
                                "the record cache");
            cache_flush(o);
        }
        for (size_t i = 0; i < json_array_size(arr); i++) {
            const json_t *c = json_array_get(arr, i);
            const char *u = json_string_value(json_object_get(c, "uuid"));
            uint64_t seq = (uint64_t)json_integer_value(json_object_get(c, "seq"));
            if (u != NULL && strlen(u) < CF_UUID_SIZE)
                cache_drop(o, u);
            if (seq > last)
                last = seq;
        }
        json_decref(j);
        if (more) {
            *after = last;
        } else {
            /* Read the last poll's tail again: on PostgreSQL a row may
             * commit after a row with a higher seq that was already read. */
            *after = *prev_newest < last ? *prev_newest : last;
            *prev_newest = newest > last ? newest : last;
        }
    }
    atomic_store(&o->fed_ns, start);
    return 0;
}

static void *feeder_main(void *arg)
{
    struct cf_objsrv *o = arg;
    char err[CF_ERR_LEN] = "";
    uint64_t after = 0, prev_newest = 0;
    bool known = false, failing = false;

    pthread_mutex_lock(&o->stop_mu);
    while (!o->stop) {
        struct timespec ts;
        int rc;

        pthread_mutex_unlock(&o->stop_mu);
        rc = feed_poll(o, &known, &after, &prev_newest, err);
        if (rc < 0 && !failing)
            cf_log(CF_LOG_WARN,
                   "cannot read the app's change feed (%s): records are not "
                   "cached until it answers",
                   err);
        else if (rc == 0 && failing)
            cf_log(CF_LOG_INFO, "the app's change feed answers again");
        failing = rc < 0;
        pthread_mutex_lock(&o->stop_mu);
        ts = cf_deadline_mono_in(o->changes_ms);
        if (!o->stop)
            (void)pthread_cond_timedwait(&o->stop_cv, &o->stop_mu, &ts);
    }
    pthread_mutex_unlock(&o->stop_mu);
    return NULL;
}

/* ---- findings, to the app ---- */

/* Send the queued findings to the app, one at a time, until stopped. A
 * finding the app does not take is logged and dropped: the next read that
 * meets the replica reports it again. */
static void *reporter_main(void *arg)
{
    struct cf_objsrv *o = arg;
    uint64_t dropped = 0;

    pthread_mutex_lock(&o->stop_mu);
    while (!o->stop) {
        struct finding f;
        char err[CF_ERR_LEN] = "";
        json_t *body, *reply = NULL;
        long status = 0;
        int rc;

        if (o->dropped_findings != dropped) {
            cf_log(CF_LOG_WARN, "%" PRIu64 " replica findings were not reported (too many at once)",
                   o->dropped_findings - dropped);
            dropped = o->dropped_findings;
        }
        if (o->nfindings == 0) {
            pthread_cond_wait(&o->find_cv, &o->stop_mu);
            continue;
        }
        f = o->findings[0];
        o->nfindings--;
        memmove(&o->findings[0], &o->findings[1], o->nfindings * sizeof(o->findings[0]));
        pthread_mutex_unlock(&o->stop_mu);
        body = json_pack("{s:s,s:I,s:s,s:s}", "uuid", f.uuid, "filer", (json_int_t)f.filer, "kind",
                         f.kind, "message", f.why);
        rc = body != NULL ? cf_upstream_json(o->app, "POST", "/v1/findings", body,
                                             FINDING_TIMEOUT_MS, true, &status, &reply, err)
                          : CF_EINTERNAL;
        if (rc == 0 && status != 202)
            cf_err_set(err, "the app answered %ld", status);
        if (rc < 0 || status != 202)
            cf_log(CF_LOG_WARN, "cannot report %s of %s on filer %" PRIu32 " to the app: %s",
                   f.kind, f.uuid, f.filer, err);
        json_decref(body);
        json_decref(reply);
        pthread_mutex_lock(&o->stop_mu);
    }
    pthread_mutex_unlock(&o->stop_mu);
    return NULL;
}

/* ---- life cycle ---- */

#define LOOKUPS_METRIC "coffer_objsrv_record_lookups_total"
#define LOOKUPS_HELP                                                                               \
    "Object records objsrv asked the app for (cache misses): over HTTP (GET "                      \
    "/v1/objects/UUID/info) or in_process (an app in the same process, coffer server)."

/* What a request needs (http.h): /status is liveness for anyone; the
 * objects and their listing, to the cluster only. */
static int access_of(void *cls, const char *method, const char *url)
{
    (void)cls;
    if (strcmp(method, "GET") == 0 && strcmp(url, "/status") == 0)
        return CF_ACCESS_PUBLIC;
    return CF_ACCESS_INTERNAL;
}

int cf_objsrv_start(const struct cf_objsrv_conf *conf, struct cf_objsrv **out, uint16_t *port_out,
                    char *err)
{
    struct cf_objsrv *o = cf_xcalloc(1, sizeof(*o));
    struct cf_http_server_opts ho = {.listen_fd = -1,
                                     .handler = handler,
                                     .cls = o,
                                     .role = "objsrv",
                                     .tls_cert = conf->tls_cert,
                                     .tls_key = conf->tls_key,
                                     .limits = conf->http};
    int rc;

    rc = cf_upstream_parse(conf->app, &o->app, err);
    if (rc < 0) {
        free(o);
        return rc;
    }
    o->record_cb = conf->record_cb;
    o->record_ctx = conf->record_ctx;
    o->replica_cb = conf->replica_cb;
    o->replica_ctx = conf->replica_ctx;
    o->m_lookups_http = cf_metric_counter(LOOKUPS_METRIC, LOOKUPS_HELP, "via=\"http\"");
    o->m_replica_local =
        cf_metric_counter("coffer_objsrv_replica_reads_in_process_total",
                          "Replica reads from a filer of this process, without HTTP.", NULL);
    o->m_lookups_local = cf_metric_counter(LOOKUPS_METRIC, LOOKUPS_HELP, "via=\"in_process\"");
    o->cache_ns = conf->cache_ms * 1000000u;
    o->stall_s = (unsigned)conf->stall_s;
    o->cache = cf_xcalloc(CACHE_SLOTS, sizeof(*o->cache));
    o->changes_ms = conf->changes_ms;
    o->fresh_ns = (conf->changes_ms + FEED_TIMEOUT_MS) * 1000000u;
    pthread_mutex_init(&o->stop_mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&o->stop_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    pthread_cond_init(&o->find_cv, NULL);
    o->reported = cf_xcalloc(CACHE_SLOTS, sizeof(*o->reported));
    o->suspects = cf_xcalloc(CACHE_SLOTS, sizeof(*o->suspects));
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        pthread_mutex_init(&o->cache[i].mu, NULL);
        pthread_mutex_init(&o->suspects[i].mu, NULL);
    }
    if (conf->master_key_file != NULL) {
        rc = cf_keyring_load(conf->master_key_file, &o->keyring, err);
        if (rc < 0)
            goto out;
    }
    rc = cf_role_auth_serve("objsrv", &conf->auth, access_of, &ho, &o->cred, err);
    if (rc < 0)
        goto out;
    rc = cf_net_listen(conf->listen, 1024, &ho.listen_fd, port_out, err);
    if (rc < 0)
        goto out;
    rc = cf_http_server_start(&ho, &o->http, err);
    if (rc < 0)
        goto out;
    if (o->changes_ms > 0 && o->cache_ns > 0) {
        if (pthread_create(&o->feeder, NULL, feeder_main, o) != 0) {
            cf_err_set(err, "cannot start the change feed thread");
            rc = CF_EINTERNAL;
            goto out;
        }
        o->feeder_started = true;
    }
    if (pthread_create(&o->reporter, NULL, reporter_main, o) != 0) {
        cf_err_set(err, "cannot start the findings thread");
        rc = CF_EINTERNAL;
        goto out;
    }
    pthread_mutex_lock(&o->stop_mu);
    o->reporter_started = true;
    pthread_mutex_unlock(&o->stop_mu);
    *out = o;
    o = NULL;
out:
    cf_objsrv_free(o);
    return rc;
}

void cf_objsrv_drain(struct cf_objsrv *o, unsigned timeout_s)
{
    cf_http_server_drain(o->http, timeout_s);
}

void cf_objsrv_free(struct cf_objsrv *o)
{
    if (o == NULL)
        return;
    if (o->feeder_started) {
        pthread_mutex_lock(&o->stop_mu);
        o->stop = true;
        pthread_cond_signal(&o->stop_cv);
        pthread_mutex_unlock(&o->stop_mu);
        pthread_join(o->feeder, NULL);
    }
    /* The server first: no download queues a finding after this. */
    cf_http_server_free(o->http);
    o->http = NULL;
    if (o->reporter_started) {
        pthread_mutex_lock(&o->stop_mu);
        o->stop = true;
        pthread_cond_signal(&o->find_cv);
        pthread_mutex_unlock(&o->stop_mu);
        pthread_join(o->reporter, NULL);
    }
    pthread_mutex_destroy(&o->stop_mu);
    pthread_cond_destroy(&o->stop_cv);
    pthread_cond_destroy(&o->find_cv);
    free(o->reported);
    cf_role_auth_close(o->cred);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        pthread_mutex_destroy(&o->cache[i].mu);
        pthread_mutex_destroy(&o->suspects[i].mu);
    }
    free(o->cache);
    free(o->suspects);
    cf_upstream_free(o->app);
    cf_keyring_free(o->keyring);
    free(o);
}

static const char usage[] =
    "usage: coffer objsrv [--listen HOST:PORT] [--app URL]\n"
    "\n"
    "Runs the download service: GET /v1/objects/UUID streams the object from its\n"
    "replicas in read order (the filers' read weights, equal ones shuffled),\n"
    "failing over to the others, and verifies its SHA-512 (replicas\n"
    "that fail are reported to the app, POST /v1/findings);\n"
    "GET /v1/objects/UUID/urls gives signed URLs reading it from its filers.\n";

static int role_start(const void *conf, void **svc, uint16_t *port, char *err)
{
    struct cf_objsrv *x = NULL;
    int rc = cf_objsrv_start(conf, &x, port, err);

    *svc = x;
    return rc;
}

static void role_drain(void *svc, unsigned timeout_s)
{
    cf_objsrv_drain(svc, timeout_s);
}

static void role_free(void *svc)
{
    cf_objsrv_free(svc);
}

int cf_objsrv_main(int argc, char **argv)
{
    static const struct cf_role role = {
        .name = "objsrv",
        .opts = cf_objsrv_conf_opts,
        .nopts = CF_ARRAY_LEN(cf_objsrv_conf_opts),
        .usage = usage,
        .log_level_off = offsetof(struct cf_objsrv_conf, log_level),
        .listen_off = offsetof(struct cf_objsrv_conf, listen),
        .id_off = SIZE_MAX,
        .tls_off = offsetof(struct cf_objsrv_conf, tls_cert),
        .tls_ca_off = offsetof(struct cf_objsrv_conf, tls_ca),
        .beat_off = offsetof(struct cf_objsrv_conf, beat),
        .start = role_start,
        .drain = role_drain,
        .free = role_free,
    };
    struct cf_objsrv_conf conf = {0};

    return cf_role_run(&role, &conf, argc, argv);
}
