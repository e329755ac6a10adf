/*
 * app.h -- the app role: upload service, distributor, object info, and
 * (unless a monitor does it) filer tracking.
 *
 * Role: DESIGN §2 upload. POST /v1/objects streams the body to r filers at
 * once (fanout.h), takes as its SHA-512 the one the filers computed and
 * agree on (the app does not hash it again), replaces a filer that fails
 * by copying from a finished replica (replica.h), and commits the object
 * record (objdb.h) only after r filers acknowledged a durable write.
 * GET /v1/objects/<uuid>/info returns the record. A tracker thread keeps
 * the distributor's view current: with track_filers it polls every
 * registered filer (tracker.h) and keeps the filer summary table true
 * itself; without, it re-reads the table that `coffer monitor` keeps.
 * Delete and purge (purge.h): DELETE /v1/objects/<uuid> marks a record
 * deleted (204; 404 if unknown), POST /v1/objects/<uuid>/undelete brings it
 * back while no replica has been purged (204; 404 otherwise), and POST
 * /v1/admin/purge runs the delete + purge pass now and replies with its
 * counts; a purger thread runs the same pass every purge_interval_ms.
 * GET /v1/changes?after=SEQ serves the change feed (registry.h: the objects
 * marked deleted after SEQ) that objsrv caches follow; the tracker thread
 * prunes its rows older than 10 minutes once a minute.
 * Read-only views the cluster key may call (the gateway's Admin view):
 * GET /v1/jobs and /v1/jobs/N answer as GET /v1/admin/jobs[/N] (job.h;
 * starting and stopping stay /v1/admin/jobs, operator key only), and GET
 * /v1/stats {"records","aliases","replica_deficit","stale_replicas",
 * "replicas","counted_ms"} gives the object database's counts as of the
 * last periodic pass (the coffer_objects, coffer_object_aliases,
 * coffer_replica_deficit_objects and coffer_stale_replicas gauges;
 * counted_ms 0: not counted yet).
 * Full shards (objdb.h): the periodic pass of the app holding the purge
 * lease checks every writable shard; one crossing 90% of its max objects
 * (or of the 48-bit id space) goes to the scribe once ("shard N is 90%
 * full: add a shard", kind "shard"; again only after it fell below), and
 * with auto_shard a new shard is added next to a SQLite catalog unless
 * another writable shard is below 90%. Without a periodic pass
 * (purge_interval_ms 0) nothing is checked.
 * POST /v1/findings {"uuid","filer","kind","message"} (cluster key): a
 * replica a download found bad (objsrv.h); it goes to the scribe as an
 * event of that kind (at most 30 a minute per filer) and, with
 * finding_checks, that replica is queued (at most 64, each once) for a
 * check of that object alone on a thread of its own (maint.h
 * cf_audit_object); 202 {"logged","check":"queued"|"pending"|"full"|"off"}
 * at once, 400 for a malformed body.
 *
 * Threads: each connection is served on its own thread; the functions below
 * are called from one controlling thread, except cf_app_record and the
 * cf_app_upload_* calls (any thread).
 */
#ifndef COFFER_APP_H
#define COFFER_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "coffer/beat.h"
#include "coffer/common.h"
#include "coffer/role.h"
#include "coffer/conf.h"
#include "coffer/http.h"
#include "coffer/objdb.h"

struct cf_app_conf {
    char *listen;
    char *db;          /* catalog URI */
    uint64_t replicas; /* default r */
    uint64_t stall_s;  /* a filer silent this long fails */
    uint64_t poll_ms;  /* filer /status polling period */
    /* true: poll the filers here (tracker.h); false (a
     * zeroed struct): only re-read the summary table every poll_ms, which a
     * `coffer monitor` keeps. */
    bool track_filers;
    char *log_level;
    /* HTTPS (http.h): PEM certificate and key to serve with; NULL: HTTP. */
    char *tls_cert;
    char *tls_key;
    /* The CA file to verify the https:// services it calls (httpc.h). */
    char *tls_ca;
    /* Delete and purge (purge.h). A struct zeroed by a caller that does not
     * know these means retention 0 and no periodic pass. */
    uint64_t purge_retention_s; /* time from the delete mark to the purge */
    uint64_t purge_interval_ms; /* period of the pass; 0: only on demand */
    /* An upload whose content is already stored becomes an
     * alias of it (maint.h cf_dedupe_inline). A zeroed struct means off. */
    bool dedupe;
    /* Jobs (job.h, maint.h). A zeroed struct means: stale replicas
     * deleted at once, no periodic audit or dedupe. */
    uint64_t stale_delay_ms;     /* a replica dropped from a record is deleted after this */
    uint64_t audit_interval_s;   /* period of the background audit; 0: none */
    uint64_t audit_bw_mbps;      /* its bandwidth limit, MB/s; 0: none */
    uint64_t dedupe_interval_s;  /* period of the dedupe job; 0: none */
    uint64_t orphans_interval_s; /* period of the orphans job (its defaults); 0: none */
    /* A replica a read found bad (POST /v1/findings) is checked and
     * repaired, that object alone (maint.h cf_audit_object); false (a
     * zeroed struct): findings are only logged. */
    bool finding_checks;
    /* Database connections (db.h): per pool (catalog, each shard; 0:
     * cf_db_pool_default), and how long a request waits for one before
     * it gets 503 (0: CF_DB_POOL_WAIT_MS). */
    uint64_t db_pool;
    uint64_t db_wait_ms;
    /* How long an upload's targets are held on the stale-replica list
     * (objdb.h cf_objdb_upload_hold) before it must renew the hold; an app
     * killed mid-upload leaves bytes the stale drain deletes after this.
     * 0 (a zeroed struct) means CF_APP_UPLOAD_HOLD_S. */
    uint64_t upload_hold_s;
    /* When the periodic pass finds a writable shard 90% full and no other
     * writable shard below 90%, add a shard next to the catalog (a SQLite
     * catalog only; ignored with a warning otherwise). A zeroed struct
     * means off; `coffer server` turns it on. */
    bool auto_shard;

    struct cf_http_limits http; /* slow clients (http.h) */
    /* Tests only: a file whose number of ms is added to the wall clock of
     * the retention decisions (clockguard.h); NULL: none. */
    char *test_clock_offset_file;
    /* The operator's master keys (keyring.h); NULL: none, and an upload
     * asking for encryption is refused. */
    char *master_key_file;
    struct cf_role_beat beat; /* beat.h: --monitor, --advertise, --dc */
    struct cf_role_auth auth; /* role.h: keys, --insecure-no-auth */
};

#define CF_APP_UPLOAD_HOLD_S 3600

extern const struct cf_conf_opt cf_app_conf_opts[];
extern const size_t cf_app_conf_nopts;

struct cf_app;

/* Open the object database and start serving. conf is borrowed. On success
 * *out is the app (caller owns; release with cf_app_free) and *port_out the
 * bound port. Returns 0 or a CF_E* code with the reason in err (may be NULL). */
CF_MUST_CHECK int cf_app_start(const struct cf_app_conf *conf, struct cf_app **out,
                               uint16_t *port_out, char *err);

/* The record of the object whose UUID is the len bytes at uuid (borrowed;
 * need not be NUL-terminated), as GET /v1/objects/<uuid>/info describes
 * it, but as structs, not JSON text (that reply is built from exactly
 * these): what objsrv asks for, for an objsrv in the same process
 * (objsrv.h record_cb; `coffer server`), with no HTTP and no JSON between
 * them. On success *rec is the record as objdb.h cf_objdb_get reads it,
 * filers[i] (the caller's, CF_OBJDB_REPLICAS_MAX of them) describes the
 * filer rec->filers[i] for each i < rec->nfilers as the app's view has it
 * now (one the view does not have: that id, an empty url, status
 * "unknown", weights 0), and 0 is returned. Errors, with a detail in err
 * (may be NULL), rec and filers then undefined: CF_EBADREQ for a malformed
 * UUID; CF_ENOTFOUND when there is no such object or it is marked deleted;
 * CF_ECORRUPT or a db.h error (CF_EBUSY, CF_EIO, ...; logged there) from
 * the object database (objdb.h cf_objdb_get). Thread-safe: called from any thread while a is
 * started, until cf_app_free (the caller stops its calls first). */
CF_MUST_CHECK int cf_app_record(struct cf_app *a, const char *uuid, size_t len,
                                struct cf_objdb_record *rec,
                                struct cf_objdb_filer filers[CF_OBJDB_REPLICAS_MAX], char *err);

/* Uploads in process: what POST /v1/objects does, for a caller in the same
 * process (gateway.h upload service; `coffer server`), with no HTTP between
 * them. The HTTP handlers are wrappers over the same code, so every rule
 * holds alike: the targets are held before a byte goes out and the hold is
 * renewed while the body flows; a failed filer is replaced by a copy; the
 * record is committed (or the content deduplicated) only after r filers
 * acknowledged a durable write. Threads: any number of uploads run at once,
 * from any threads, while a is started and until cf_app_free (the caller
 * ends its uploads first). An upload is opened and freed on one thread
 * (its transfers borrow that thread's libcurl handles, as fanout.h states)
 * and written and finished by one thread at a time, that one or another
 * while the opening thread makes no transfers of its own (S3 completion
 * assembles on a worker while the connection thread waits). */
struct cf_app_upload;

/* Start an upload of `replicas` copies (0: the app's --replicas) stored
 * with the transform xform ("z", "e", "ze"; NULL or "": none; borrowed).
 * On success *out is the upload (caller owns; release it with
 * cf_app_upload_free, after cf_app_upload_finish or not) and 0 is returned. Errors,
 * with a detail in err (may be NULL), *out NULL and nothing held, are the
 * ones POST /v1/objects replies with (cf_err_http_status gives its status):
 * CF_EBADREQ (replicas out of range, unknown xform), CF_EUNAVAIL (fewer
 * than that many writable filers, no master key for "e", the holds cannot
 * be written), CF_EINTERNAL, or a db.h error reserving the object id. */
CF_MUST_CHECK int cf_app_upload_open(struct cf_app *a, unsigned replicas, const char *xform,
                                     struct cf_app_upload **out, char *err);

/* Pass the next n bytes of the body at p (borrowed) to the filers; blocks
 * while they are slower than the caller. Returns 0, or the upload's failure
 * (CF_EUNAVAIL: every filer failed, or its hold could not be renewed) once
 * it has one: the caller may stop writing or keep on (later bytes are
 * dropped); cf_app_upload_finish reports the failure either way. */
CF_MUST_CHECK int cf_app_upload_write(struct cf_app_upload *u, const void *p, size_t n);

/* End the body and store it: returns 0 only once r filers have synced it
 * and the record is committed, with *record the record as GET
 * /v1/objects/<uuid>/info describes it (caller owns; json_decref). Errors,
 * with *record NULL, a detail in err (may be NULL) and nothing recorded
 * (the replicas written are deleted, or left held for the stale pass): the
 * CF_E* POST /v1/objects would reply with: CF_EUNAVAIL (filers failed and
 * no replacement, a commit found not to have taken),
 * CF_EINDOUBT (the commit could not be settled), CF_EINTERNAL, or a db.h
 * error. Call it once; u is still the caller's (cf_app_upload_free). */
CF_MUST_CHECK int cf_app_upload_finish(struct cf_app_upload *u, json_t **record, char *err);

/* Release u. An upload not finished is given up (its client went away),
 * as a POST /v1/objects whose request ends before its body does: nothing
 * is recorded, the filers drop their temporaries and the holds are
 * released. NULL is a no-op. */
void cf_app_upload_free(struct cf_app_upload *u);

/* Poll every filer's /status once now (the tracker does it every poll_ms). */
void cf_app_poll_filers(struct cf_app *a);

/* Stop accepting, let requests in flight finish (up to timeout_s), close. */
void cf_app_drain(struct cf_app *a, unsigned timeout_s);

/* Drain with no wait if still serving, stop the tracker, release. NULL is a no-op. */
void cf_app_free(struct cf_app *a);

/* `coffer app [options]`. Returns the exit status. */
int cf_app_main(int argc, char **argv);

#endif
