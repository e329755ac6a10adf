/*
 * audit.c -- the audit job (maint.h): every replica is read back from its
 * filer and its SHA-512 compared with the record's; a replica that is
 * missing or bad is rewritten from one that verified, a filer no longer
 * registered is dropped, and a record with fewer good replicas than it
 * wants gets new ones on filers the distributor picks. cf_audit_object
 * runs the same per-record code on one record and one filer without a job
 * (a finding's check, app.c): its counts go to a struct cf_audit_result,
 * its events straight to the scribe, and it is not throttled.
 *
 * Safety (DESIGN §4): nothing is deleted or rewritten unless another
 * replica of the object verified in this same pass, so the last good copy
 * is never touched; a record with no replica that verifies is reported
 * ("lost") and left exactly as it is. Every step is idempotent (a rewrite
 * of a replica that is already good finds it there), so the job can be
 * killed and run again.
 *
 * The walk (maint_int.h) lists records in batches of BATCH, audited up to
 * CF__MAINT_WORKERS records at once (one record's replicas one after the
 * other); the cursor is saved after each batch, or, when stopped, before
 * the first record not finished.
 *
 * Report: the job's counters (job.h), all created at the start so the
 * report shows zeros too:
 *   objects           records examined (after sampling)
 *   replicas_checked  replicas read back (ok + missing + corrupt)
 *   ok, missing, corrupt   what the reads found
 *   unreachable       replicas on a filer that is down (not cf_objdb_filer_up) or
 *                     that failed to answer
 *   repaired          missing or corrupt replicas rewritten and verified
 *   added             replicas added where a record was short
 *   dropped           filers dropped from a record because they are no
 *                     longer registered
 *   lost              records with no replica that verifies (left as is)
 *   failed            repairs or additions that did not succeed (the next
 *                     audit retries them)
 */
#include "coffer/maint.h"
#include "coffer/replica.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/distrib.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/uuid.h"
#include "maint_int.h"

/* Records fetched per query; the cursor is checkpointed after each batch. */
#define BATCH 32
/* A filer may take this long to answer a DELETE of a bad replica. */
#define DELETE_TIMEOUT_MS 5000
/* Bytes read between two calls of cf_job_throttle and cf_job_should_stop:
 * small enough that a stop is honoured within a fraction of a second. */
#define THROTTLE_STEP (256 * 1024)
/* An error reply's body is read, not hashed, up to this size. */
#define ERROR_BODY_MAX (64 * 1024)

enum verdict {
    V_UNKNOWN = 0, /* not read (another filer was named with "filer") */
    V_OK,
    V_MISSING,      /* the filer answered 404 */
    V_CORRUPT,      /* size or SHA-512 differ from the record */
    V_UNREACHABLE,  /* filer down, or no usable answer */
    V_UNREGISTERED, /* the record lists a filer the summary table lacks */
    V_STOPPED,      /* the job was asked to stop during the read */
};

struct audit {
    struct cf_job *j; /* NULL in cf_audit_object: then scribe and res instead */
    const struct cf_job_env *env;
    struct cf_scribe *scribe;
    struct cf_audit_result *res;
    uint32_t only;             /* "filer": check only this one; 0: every filer */
    uint64_t sample_bp;        /* records sampled, in 1/100 of a percent (10000: all) */
    struct cf_objdb_filer *fl; /* the summary table, fresh for each batch */
    size_t nfl;
    /* The batch the walk listed (BATCH records), audited on up to
     * CF__MAINT_WORKERS threads, and each record's result (CF_ECANCELED
     * until it has run). */
    struct cf_objdb_record *page;
    int *rcs;
    struct cf__maint_pool *pool;
};

/* One replica read back. */
struct readback {
    struct cf_job *j;
    CURL *e;
    struct cf_sha512 h;
    long status;
    uint64_t want, got, unthrottled, junk;
    bool too_long, stopped, hash_failed;
};

static const char *const counter_names[] = {
    "objects", "replicas_checked", "ok",   "missing", "corrupt", "unreachable", "repaired",
    "added",   "dropped",          "lost", "failed",
};

/* Where each counter goes in a struct cf_audit_result (cf_audit_object);
 * the others stay with a job only. */
static const struct {
    const char *name;
    size_t off;
} result_fields[] = {
    {"replicas_checked", offsetof(struct cf_audit_result, replicas_checked)},
    {"ok", offsetof(struct cf_audit_result, ok)},
    {"missing", offsetof(struct cf_audit_result, missing)},
    {"corrupt", offsetof(struct cf_audit_result, corrupt)},
    {"unreachable", offsetof(struct cf_audit_result, unreachable)},
    {"repaired", offsetof(struct cf_audit_result, repaired)},
    {"lost", offsetof(struct cf_audit_result, lost)},
    {"failed", offsetof(struct cf_audit_result, failed)},
};

/* Count n on counter name: the job's, or the result's without a job. */
static void au_count(struct audit *au, const char *name, uint64_t n)
{
    if (au->j != NULL) {
        cf_job_count(au->j, name, n);
        return;
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(result_fields); i++)
        if (strcmp(result_fields[i].name, name) == 0)
            *(uint64_t *)(void *)((char *)au->res + result_fields[i].off) += n;
}

/* An event: the job's (job.h cf_job_log), or, without a job, the app's log
 * and the scribe, marked as the check of one finding. */
static void au_log(struct audit *au, const char *kind, uint32_t filer, const char *object,
                   const char *fmt, ...) CF_PRINTF(5, 6);
static void au_log(struct audit *au, const char *kind, uint32_t filer, const char *object,
                   const char *fmt, ...)
{
    char msg[CF_SCRIBE_MSG_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (au->j != NULL) {
        cf_job_log(au->j, kind, filer, object, "%s", msg);
        return;
    }
    cf_log(CF_LOG_INFO, "finding check of %s on filer %" PRIu32 ": %s", object ? object : "-",
           filer, msg);
    (void)cf_scribe_event(au->scribe, kind, filer, object, "finding check: %s", msg);
}

/* ---- arguments ---- */

static const struct cf_job_arg arg_table[] = {
    {.name = "filer",
     .metavar = "F",
     .type = CF_JOB_ARG_FILER,
     .help = "only this filer's replicas (0: all)"},
    /* The sample is a hash of each UUID against the percentage, to 1/100 of
     * a percent (sampled()): the same objects on every run. */
    {.name = "sample",
     .metavar = "PERCENT",
     .type = CF_JOB_ARG_REAL,
     .min = 0,
     .max = 100,
     .min_open = true,
     .def = "100",
     .help = "percent of the objects to read, the same ones on every run"},
    CF_JOB_ARG_BW_MBPS,
};

/* Whether the record is in the sample: a hash of its UUID, so a rerun with
 * the same percentage checks the same objects. */
static bool sampled(const struct audit *au, const struct cf_uuid *u)
{
    uint64_t z = ((uint64_t)u->shard << 48) ^ u->oid ^ (u->rnd * 0x9e3779b97f4a7c15ull);

    if (au->sample_bp >= 10000)
        return true;
    /* splitmix64's finalizer */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return z % 10000 < au->sample_bp;
}

/* ---- reading a replica back ---- */

static size_t read_cb(char *p, size_t size, size_t nitems, void *ud)
{
    struct readback *rb = ud;
    size_t n = size * nitems;

    if (rb->status == 0)
        (void)curl_easy_getinfo(rb->e, CURLINFO_RESPONSE_CODE, &rb->status);
    if (rb->status != 200) {
        rb->junk += n;
        return rb->junk > ERROR_BODY_MAX ? 0 : n;
    }
    if (n > rb->want - rb->got) {
        /* Longer than the record says: no need to read the rest. */
        rb->too_long = true;
        rb->got += n;
        return 0;
    }
    if (cf_sha512_update(&rb->h, p, n) < 0) {
        rb->hash_failed = true;
        return 0;
    }
    rb->got += n;
    rb->unthrottled += n;
    if (rb->j != NULL && rb->unthrottled >= THROTTLE_STEP) {
        cf_job_throttle(rb->j, rb->unthrottled);
        cf_job_done(rb->j, 0, rb->unthrottled);
        rb->unthrottled = 0;
        if (cf_job_should_stop(rb->j)) {
            rb->stopped = true;
            return 0;
        }
    }
    return n;
}

/* GET url (the stored bytes: no transform header) and compare its body with
 * rec's stored size and SHA-512 as it streams
 * (memory: libcurl's buffer, whatever the object's size). */
static enum verdict read_back(struct audit *au, const char *url, const struct cf_objdb_record *rec,
                              char *why, size_t cap)
{
    struct readback rb = {.j = au->j, .want = rec->stored_size};
    uint8_t got[CF_SHA512_LEN];
    enum verdict v = V_UNREACHABLE;
    long stall = (long)au->env->stall_s;
    struct curl_slist *hdrs = NULL;
    CURLcode cc;

    why[0] = '\0';
    if (cf_sha512_init(&rb.h) < 0) {
        (void)snprintf(why, cap, "cannot start a digest");
        return V_UNREACHABLE;
    }
    rb.e = curl_easy_init();
    if (rb.e == NULL) {
        (void)snprintf(why, cap, "cannot start a transfer");
        goto out;
    }
    cf_httpc_share(rb.e);
    cf_httpc_tls(rb.e);
    (void)curl_easy_setopt(rb.e, CURLOPT_URL, url);
    (void)curl_easy_setopt(rb.e, CURLOPT_WRITEFUNCTION, read_cb);
    (void)curl_easy_setopt(rb.e, CURLOPT_WRITEDATA, &rb);
    (void)curl_easy_setopt(rb.e, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(rb.e, CURLOPT_CONNECTTIMEOUT, stall > 0 ? stall : 10L);
    (void)curl_easy_setopt(rb.e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    (void)curl_easy_setopt(rb.e, CURLOPT_LOW_SPEED_TIME, stall > 0 ? stall : 10L);
    if (cf_httpc_sign(rb.e, "GET", url, (void **)&hdrs) < 0) {
        (void)snprintf(why, cap, "cannot sign the request");
        goto out;
    }
    cc = curl_easy_perform(rb.e);
    if (rb.status == 0)
        (void)curl_easy_getinfo(rb.e, CURLINFO_RESPONSE_CODE, &rb.status);
    if (rb.stopped) {
        v = V_STOPPED;
    } else if (rb.hash_failed) {
        (void)snprintf(why, cap, "digest failure");
    } else if (rb.too_long) {
        v = V_CORRUPT;
        (void)snprintf(why, cap, "more than the record's %" PRIu64 " bytes", rec->stored_size);
    } else if (cc != CURLE_OK && rb.status != 404) {
        (void)snprintf(why, cap, "%s", curl_easy_strerror(cc));
    } else if (rb.status == 404) {
        v = V_MISSING;
        (void)snprintf(why, cap, "not on the filer");
    } else if (rb.status != 200) {
        (void)snprintf(why, cap, "HTTP status %ld", rb.status);
    } else if (rb.got != rec->stored_size) {
        v = V_CORRUPT;
        (void)snprintf(why, cap, "%" PRIu64 " bytes, the record says %" PRIu64, rb.got,
                       rec->stored_size);
    } else if (cf_sha512_final(&rb.h, got) < 0) {
        (void)snprintf(why, cap, "digest failure");
    } else if (memcmp(got, rec->stored_sha512, sizeof(got)) != 0) {
        v = V_CORRUPT;
        (void)snprintf(why, cap, "SHA-512 differs from the record's");
    } else {
        v = V_OK;
    }
out:
    if (rb.j != NULL && rb.unthrottled > 0) {
        cf_job_throttle(au->j, rb.unthrottled);
        cf_job_done(au->j, 0, rb.unthrottled);
    }
    if (rb.e != NULL)
        curl_easy_cleanup(rb.e);
    curl_slist_free_all(hdrs);
    cf_sha512_fini(&rb.h);
    return v;
}

/* ---- repairs ---- */

static const struct cf_objdb_filer *filer_of(const struct audit *au, uint32_t id)
{
    return cf_objdb_filer_find(au->fl, au->nfl, id);
}

/* DELETE url; true when the replica is gone (204 or 404). */
static bool delete_replica(const char *url, char *why, size_t cap)
{
    char err[CF_ERR_LEN] = "";

    if (cf_replica_delete(url, DELETE_TIMEOUT_MS, err) < 0) {
        (void)snprintf(why, cap, "%s", err);
        return false;
    }
    return true;
}

/* A replica was written for a record that left the object map meanwhile
 * (deleted and purged): the copy belongs to nothing, unless the deleted map
 * still lists the filer with its purge not begun (the purge will remove
 * it, and an undelete needs it). */
static void undo_if_orphan(struct audit *au, const struct cf_objdb_record *rec, uint32_t filer,
                           const char *url, const char *text)
{
    struct cf_objdb_record now;
    struct cf_objdb_deleted d;
    char err[CF_ERR_LEN] = "", why[CF_ERR_LEN] = "";
    int rc;

    rc = cf_objdb_get(au->env->odb, &rec->uuid, CF_OBJDB_GET_DELETED, &now, err);
    if (rc != CF_ENOTFOUND)
        return;
    rc = cf_objdb_get_deleted(au->env->odb, &rec->uuid, &d, err);
    if (rc == 0) {
        for (unsigned i = 0; i < d.nfilers; i++)
            if (d.filers[i] == filer && d.state[i] == CF_OBJDB_PURGE_NONE)
                return;
    } else if (rc != CF_ENOTFOUND) {
        return; /* cannot tell: keeping bytes is the safe side */
    }
    if (delete_replica(url, why, sizeof(why)))
        cf_log(CF_LOG_INFO,
               "audit: object %s was deleted during the audit; removed its copy on "
               "filer %" PRIu32,
               text, filer);
    else
        cf_log(CF_LOG_WARN,
               "audit: object %s was deleted during the audit; its copy on filer %" PRIu32
               " stays: %s",
               text, filer, why);
}

/* Pick up to want filers for new replicas of rec, none of those in
 * exclude[0..nex), each in a data center that neither the replicas held on
 * holders[0..nh) nor the picks before it cover when one can take it.
 * Returns how many, ids in out. */
static size_t pick_filers(const struct audit *au, size_t want, const uint32_t *exclude, size_t nex,
                          const uint32_t *holders, size_t nh, uint32_t *out)
{
    uint32_t ex[CF_OBJDB_REPLICAS_MAX * 2], held[CF_OBJDB_REPLICAS_MAX * 2];
    size_t got = 0, idx;

    memcpy(ex, exclude, nex * sizeof(*ex));
    memcpy(held, holders, nh * sizeof(*held));
    /* One at a time, so that with fewer candidates than wanted the record
     * still gets as many as there are. */
    while (got < want && nex + got < CF_ARRAY_LEN(ex)) {
        if (cf_distrib_choose_spread(au->fl, au->nfl, 1, ex, nex + got, held, nh + got, &idx) != 1)
            break;
        out[got] = au->fl[idx].id;
        ex[nex + got] = au->fl[idx].id;
        held[nh + got] = au->fl[idx].id;
        got++;
    }
    return got;
}

/* ---- one record ---- */

struct rstate {
    const struct cf_objdb_record *rec;
    char text[CF_UUID_SIZE];
    unsigned n; /* filers listed (shrinks when one is dropped) */
    uint32_t ids[CF_OBJDB_REPLICAS_MAX];
    enum verdict v[CF_OBJDB_REPLICAS_MAX];
    char why[CF_OBJDB_REPLICAS_MAX][128];
    char urls[CF_OBJDB_REPLICAS_MAX][CF_REPLICA_URL_MAX];
};

/* URLs of the replicas that verified, for cf_replica_ensure. */
static size_t good_sources(const struct rstate *s, const char **srcs)
{
    size_t n = 0;

    for (unsigned i = 0; i < s->n; i++)
        if (s->v[i] == V_OK)
            srcs[n++] = s->urls[i];
    return n;
}

/* Read replica i and keep what was found (and why) in s. */
static enum verdict check_one(struct audit *au, struct rstate *s, unsigned i)
{
    const struct cf_objdb_filer *f = filer_of(au, s->ids[i]);

    s->why[i][0] = '\0';
    if (f == NULL) {
        s->v[i] = V_UNREGISTERED;
        (void)snprintf(s->why[i], sizeof(s->why[i]), "filer not registered");
    } else if (cf_replica_url(f->url, s->rec->path, s->urls[i]) < 0) {
        s->v[i] = V_UNREACHABLE;
        (void)snprintf(s->why[i], sizeof(s->why[i]), "URL too long");
    } else if (!cf_objdb_filer_up(f)) {
        s->v[i] = V_UNREACHABLE;
        (void)snprintf(s->why[i], sizeof(s->why[i]), "filer %s", f->status);
    } else {
        s->v[i] = read_back(au, s->urls[i], s->rec, s->why[i], sizeof(s->why[i]));
    }
    return s->v[i];
}

/* Count and scribe what the read of replica i found. */
static void report_one(struct audit *au, const struct rstate *s, unsigned i)
{
    switch (s->v[i]) {
    case V_OK:
        au_count(au, "replicas_checked", 1);
        au_count(au, "ok", 1);
        break;
    case V_MISSING:
        au_count(au, "replicas_checked", 1);
        au_count(au, "missing", 1);
        au_log(au, CF_SCRIBE_MISSING, s->ids[i], s->text, "audit: replica missing");
        break;
    case V_CORRUPT:
        au_count(au, "replicas_checked", 1);
        au_count(au, "corrupt", 1);
        au_log(au, CF_SCRIBE_CHECKSUM, s->ids[i], s->text, "audit: replica corrupt: %s", s->why[i]);
        break;
    case V_UNREGISTERED:
        cf_log(CF_LOG_WARN, "audit: object %s lists filer %" PRIu32 ", which is not registered",
               s->text, s->ids[i]);
        break;
    case V_UNREACHABLE:
        au_count(au, "unreachable", 1);
        cf_log(CF_LOG_INFO, "audit: object %s on filer %" PRIu32 " not checked: %s", s->text,
               s->ids[i], s->why[i]);
        break;
    default:
        break;
    }
}

/* Rewrite replica i (missing or corrupt) from the verified ones. */
static void repair_one(struct audit *au, struct rstate *s, unsigned i)
{
    const char *srcs[CF_OBJDB_REPLICAS_MAX];
    size_t ns = good_sources(s, srcs);
    char why[CF_ERR_LEN] = "";
    bool copied = false;
    int rc;

    /* The bad bytes go first: the filer refuses a PUT over an existing
     * object, and its HEAD would show the digest it was written with. */
    if (s->v[i] == V_CORRUPT && !delete_replica(s->urls[i], why, sizeof(why))) {
        au_count(au, "failed", 1);
        cf_log(CF_LOG_WARN, "audit: cannot remove corrupt object %s from filer %" PRIu32 ": %s",
               s->text, s->ids[i], why);
        return;
    }
    rc = cf_replica_ensure(srcs, ns, s->urls[i], s->rec->stored_size, s->rec->stored_sha512,
                           au->env->stall_s, &copied, why);
    if (rc < 0) {
        au_count(au, "failed", 1);
        cf_log(CF_LOG_WARN, "audit: cannot rewrite object %s on filer %" PRIu32 ": %s%s%s", s->text,
               s->ids[i], cf_strerror(rc), why[0] ? ": " : "", why);
        return;
    }
    au_count(au, "repaired", 1);
    au_log(au, CF_SCRIBE_REPAIR, s->ids[i], s->text,
           "audit: %s replica rewritten from a verified copy",
           s->v[i] == V_CORRUPT ? "corrupt" : "missing");
    s->v[i] = V_OK;
    /* cf_audit_object may have an alias's record, whose uuid leaving the
     * map says nothing of its holder's bytes: it keeps the copy (the safe
     * side; the orphans job finds a copy no record lists). */
    if (au->j != NULL)
        undo_if_orphan(au, s->rec, s->ids[i], s->urls[i], s->text);
}

/* Drop the unregistered filers of a record that has a verified replica. */
static void drop_unregistered(struct audit *au, struct rstate *s)
{
    char err[CF_ERR_LEN] = "";

    for (unsigned i = 0; i < s->n;) {
        int rc;
        if (s->v[i] != V_UNREGISTERED) {
            i++;
            continue;
        }
        rc = cf_objdb_replica_move(au->env->odb, &s->rec->uuid, s->ids[i], 0, false, err);
        if (rc < 0) {
            au_count(au, "failed", 1);
            cf_log(CF_LOG_WARN, "audit: cannot drop filer %" PRIu32 " from object %s: %s",
                   s->ids[i], s->text, err);
            i++;
            continue;
        }
        au_count(au, "dropped", 1);
        au_log(au, CF_SCRIBE_REPAIR, s->ids[i], s->text,
               "audit: unregistered filer dropped from the record");
        s->n--;
        memmove(&s->ids[i], &s->ids[i + 1], (s->n - i) * sizeof(s->ids[0]));
        memmove(&s->v[i], &s->v[i + 1], (s->n - i) * sizeof(s->v[0]));
        memmove(s->urls[i], s->urls[i + 1], (s->n - i) * sizeof(s->urls[0]));
    }
}

/* Bring the good replicas of a record up to its wanted count. Replicas on
 * filers that are not reachable now count as there: bringing a dead filer's
 * objects back is the rebuild's job, and copying them here would leave
 * extra replicas once the filer returns. */
static void restore_count(struct audit *au, struct rstate *s)
{
    const char *srcs[CF_OBJDB_REPLICAS_MAX];
    uint32_t add[CF_OBJDB_REPLICAS_MAX], held[CF_OBJDB_REPLICAS_MAX];
    unsigned have = 0;
    size_t want, got, ns;

    for (unsigned i = 0; i < s->n; i++)
        if (s->v[i] == V_OK || s->v[i] == V_UNREACHABLE)
            held[have++] = s->ids[i];
    if (have >= s->rec->replicas)
        return;
    want = s->rec->replicas - have;
    if (want > CF_OBJDB_REPLICAS_MAX - s->n)
        want = CF_OBJDB_REPLICAS_MAX - s->n;
    got = pick_filers(au, want, s->ids, s->n, held, have, add);
    if (got < want) {
        au_count(au, "failed", want - got);
        cf_log(CF_LOG_WARN,
               "audit: object %s wants %u replicas, has %u, and only %zu other "
               "filers can take one",
               s->text, s->rec->replicas, have, got);
    }
    ns = good_sources(s, srcs);
    for (size_t k = 0; k < got; k++) {
        const struct cf_objdb_filer *f = filer_of(au, add[k]);
        char url[CF_REPLICA_URL_MAX], why[CF_ERR_LEN] = "";
        bool copied = false;
        uint64_t hold = 0;
        int rc;

        if (f == NULL || cf_replica_url(f->url, s->rec->path, url) < 0)
            continue;
        rc = cf__maint_place(au->env->odb, s->rec, add[k], url, srcs, ns, au->env->stall_s, &copied,
                             &hold, why);
        if (rc < 0) {
            au_count(au, "failed", 1);
            cf_log(CF_LOG_WARN, "audit: cannot copy object %s to filer %" PRIu32 ": %s%s%s",
                   s->text, add[k], cf_strerror(rc), why[0] ? ": " : "", why);
            continue;
        }
        /* objdb.h: the copy is durable before the record lists it. */
        rc = cf__maint_renew(au->env->odb, s->rec, add[k], &hold, why);
        if (rc == 0)
            rc = cf_objdb_replica_add(au->env->odb, &s->rec->uuid, add[k], why);
        if (rc == 0 || rc == CF_EEXIST) {
            au_count(au, "added", 1);
            au_log(au, CF_SCRIBE_REPAIR, add[k], s->text,
                   "audit: replica added (the record had %u of %u)", have, s->rec->replicas);
            have++;
            continue;
        }
        au_count(au, "failed", 1);
        cf_log(CF_LOG_WARN, "audit: object %s copied to filer %" PRIu32 " but not recorded: %s",
               s->text, add[k], why);
        /* The stale drain deletes the copy unless a record lists it. */
        cf__maint_release(au->env->odb, s->rec, add[k]);
    }
}

/* Audit one record. Returns 0, or CF_ECANCELED when a stop was asked. */
static int audit_record(struct audit *au, const struct cf_objdb_record *rec)
{
    struct rstate s;
    unsigned ngood = 0, nbad = 0, nunsure = 0;

    memset(&s, 0, sizeof(s));
    s.rec = rec;
    cf_uuid_format(&rec->uuid, s.text);
    s.n = rec->nfilers;
    memcpy(s.ids, rec->filers, rec->nfilers * sizeof(s.ids[0]));
    for (unsigned i = 0; i < s.n; i++) {
        if (au->only != 0 && s.ids[i] != au->only)
            continue;
        if (check_one(au, &s, i) == V_STOPPED)
            return CF_ECANCELED;
    }
    for (unsigned i = 0; i < s.n; i++) {
        if (s.v[i] == V_OK)
            ngood++;
        else if (s.v[i] == V_MISSING || s.v[i] == V_CORRUPT)
            nbad++;
    }
    /* With one filer named, the others are read only to find a source. */
    for (unsigned i = 0; i < s.n && nbad > 0 && ngood == 0; i++) {
        if (s.v[i] != V_UNKNOWN)
            continue;
        switch (check_one(au, &s, i)) {
        case V_STOPPED:
            return CF_ECANCELED;
        case V_OK:
            ngood++;
            break;
        default:
            break;
        }
    }
    /* Every read is done: from here on nothing stops half way, so the
     * findings are counted now (a stop earlier counts nothing of this
     * record, which a resume reads again). */
    for (unsigned i = 0; i < s.n; i++) {
        if (au->only == 0 || s.ids[i] == au->only)
            report_one(au, &s, i);
        if (s.v[i] == V_UNREACHABLE || s.v[i] == V_UNKNOWN || s.v[i] == V_UNREGISTERED)
            nunsure++;
    }
    if (ngood == 0) {
        if (nbad > 0 && nunsure == 0) {
            /* DESIGN §4: with no verified copy nothing is deleted. */
            au_count(au, "lost", 1);
            cf_log(CF_LOG_ERROR, "audit: object %s has no good replica (%u bad of %u); left as is",
                   s.text, nbad, s.n);
            au_log(au, CF_SCRIBE_CHECKSUM, 0, s.text,
                   "audit: no good replica (%u bad of %u); left as is", nbad, s.n);
        } else if (nbad > 0) {
            cf_log(CF_LOG_WARN,
                   "audit: object %s: no replica verified, %u not reachable; left "
                   "for a later audit",
                   s.text, nunsure);
        }
        return 0;
    }
    for (unsigned i = 0; i < s.n; i++)
        if ((au->only == 0 || s.ids[i] == au->only) && (s.v[i] == V_MISSING || s.v[i] == V_CORRUPT))
            repair_one(au, &s, i);
    /* "filer" audits touch that filer only. */
    if (au->only == 0) {
        drop_unregistered(au, &s);
        restore_count(au, &s);
    }
    return 0;
}

/* ---- the job ---- */

/* One record of the batch (a helper thread, cf__maint_pool_run). */
static void audit_item(void *ctx, size_t i)
{
    struct audit *au = ctx;

    if (!sampled(au, &au->page[i].uuid)) {
        au->rcs[i] = 0;
        return;
    }
    au->rcs[i] = audit_record(au, &au->page[i]);
    if (au->rcs[i] == 0) {
        au_count(au, "objects", 1);
        cf_job_done(au->j, 1, 0);
    }
}

static void estimate_total(struct audit *au)
{
    struct cf_objdb_counts k;
    char err[CF_ERR_LEN];
    uint64_t n = 0;

    if (au->only != 0) {
        const struct cf_objdb_filer *f = filer_of(au, au->only);
        n = f != NULL ? f->objects : 0;
    } else if (cf_objdb_count(au->env->odb, &k, err) == 0) {
        n = k.records > k.aliases ? k.records - k.aliases : 0;
    }
    cf_job_set_total(au->j, n * au->sample_bp / 10000, 0);
}

/* The walk's list: a page of records (those listing "filer" only, if
 * named). */
static int list_page(void *ctx, struct cf_objdb_cursor *c, struct cf_uuid *at, size_t max,
                     char *err)
{
    struct audit *au = ctx;
    int n = cf_objdb_list_records(au->env->odb, au->only, c, au->page, max, err);

    for (int i = 0; i < n; i++)
        at[i] = au->page[i].uuid;
    return n;
}

/* The walk's handler: the page's records, CF__MAINT_WORKERS at once. */
static int handle_page(void *ctx, struct cf__maint_page *pg, char *err)
{
    struct audit *au = ctx;

    (void)err;
    /* A fresh summary table per batch: filers come and go. */
    free(au->fl);
    au->fl = NULL;
    au->env->filers(au->env->filers_ctx, &au->fl, &au->nfl);
    for (size_t i = 0; i < pg->n; i++)
        au->rcs[i] = CF_ECANCELED;
    cf__maint_pool_run(au->pool, pg->n, audit_item, au, au->j);
    for (size_t i = 0; i < pg->n; i++) {
        if (au->rcs[i] == 0)
            continue;
        /* Stopped: the walk saves the records before the first unfinished
         * one, so that a resume does not skip it (those finished after it,
         * at most a batch, are read and counted again). */
        pg->done = i;
        return au->rcs[i];
    }
    return 0;
}

static int audit_run(struct cf_job *j, char *err)
{
    struct audit au = {.j = j, .env = cf_job_env(j)};
    struct cf__maint_walk w = {
        .j = j, .batch = BATCH, .list = list_page, .handle = handle_page, .ctx = &au};
    const json_t *args = cf_job_args(j);
    const json_t *v;
    int rc;

    v = json_object_get(args, "filer");
    au.only = v != NULL ? (uint32_t)json_integer_value(v) : 0;
    v = json_object_get(args, "sample");
    au.sample_bp = v != NULL ? (uint64_t)(json_number_value(v) * 100 + 0.5) : 10000;
    if (au.sample_bp == 0)
        au.sample_bp = 1;
    rc = cf__maint_walk_resume(&w, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < CF_ARRAY_LEN(counter_names); i++)
        cf_job_count(j, counter_names[i], 0);
    au.env->filers(au.env->filers_ctx, &au.fl, &au.nfl);
    estimate_total(&au);
    au.page = cf_xcalloc(BATCH, sizeof(*au.page));
    au.rcs = cf_xcalloc(BATCH, sizeof(*au.rcs));
    au.pool = cf__maint_pool_new(CF__MAINT_WORKERS);
    rc = cf__maint_walk_run(&w, err);
    if (rc < 0)
        goto out;
    cf_log(CF_LOG_INFO,
           "audit done: objects=%" PRIu64 " ok=%" PRIu64 " missing=%" PRIu64 " corrupt=%" PRIu64
           " repaired=%" PRIu64 " added=%" PRIu64 " unreachable=%" PRIu64 " lost=%" PRIu64
           " failed=%" PRIu64,
           cf_job_counter(j, "objects"), cf_job_counter(j, "ok"), cf_job_counter(j, "missing"),
           cf_job_counter(j, "corrupt"), cf_job_counter(j, "repaired"), cf_job_counter(j, "added"),
           cf_job_counter(j, "unreachable"), cf_job_counter(j, "lost"),
           cf_job_counter(j, "failed"));
    rc = 0;
out:
    free(au.page);
    cf__maint_pool_free(au.pool);
    free(au.rcs);
    free(au.fl);
    return rc;
}

/* ---- one object, without a job ---- */

int cf_audit_object(struct cf_objdb *odb, struct cf_scribe *scribe,
                    const struct cf_objdb_filer *view, size_t nview, unsigned stall_s,
                    const struct cf_uuid *uuid, uint32_t filer, struct cf_audit_result *res,
                    char *err)
{
    struct cf_job_env env = {.odb = odb, .scribe = scribe, .stall_s = stall_s};
    struct audit au = {.env = &env, .only = filer, .sample_bp = 10000, .scribe = scribe};
    struct cf_objdb_record rec;
    bool listed = false;
    int rc;

    memset(res, 0, sizeof(*res));
    au.res = res;
    if (filer == 0) {
        cf_err_set(err, "a filer must be named");
        return CF_EINVAL;
    }
    /* Marked deleted but not purged: its replicas are kept for an
     * undelete, as the audit's walk keeps them. */
    rc = cf_objdb_get(odb, uuid, CF_OBJDB_GET_DELETED, &rec, err);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < rec.nfilers; i++)
        listed = listed || rec.filers[i] == filer;
    if (!listed) {
        cf_err_set(err, "the record does not list filer %" PRIu32, filer);
        return CF_ENOTFOUND;
    }
    au.nfl = nview;
    au.fl = cf_xcalloc(nview > 0 ? nview : 1, sizeof(*au.fl));
    if (nview > 0)
        memcpy(au.fl, view, nview * sizeof(*au.fl));
    rc = audit_record(&au, &rec);
    free(au.fl);
    return rc;
}

const struct cf_job_kind cf_job_audit = {
    .name = "audit",
    .args = arg_table,
    .nargs = CF_ARRAY_LEN(arg_table),
    .run = audit_run,
};
