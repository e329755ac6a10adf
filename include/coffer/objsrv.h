/*
 * objsrv.h -- the objsrv role: the download service.
 *
 * Role: DESIGN §2 download (patent FIG. 11, 24). GET /v1/objects/<uuid>
 * (and HEAD, and a single Range) asks `app` for the object record (cached
 * for cache_ms; records are immutable except for their filer list), orders
 * the replicas by status and weight, and streams the bytes from the first
 * that works, failing over to the next at the byte reached (fetch.h).
 * Whole-object reads are verified against the record's SHA-512: an object
 * that fits the fetch buffer (CF_FETCH_BUF) and does not match is read
 * again from the next replica before a byte is sent; a larger one fails
 * the connection before the last byte, so a client never receives a
 * complete wrong object, and its bad replica is read last for a while.
 *
 * Findings: every replica that fails a read (404, another error, a
 * timeout, a SHA-512 mismatch) is queued (at most 64; the same object,
 * filer and kind once a minute) for a thread that reports it to the app,
 * POST /v1/findings (app.h), which logs it and has the replica checked.
 *
 * Deletes: a thread reads the app's change feed (GET /v1/changes, registry.h)
 * every changes_ms and drops the objects marked deleted from the cache; a
 * cached record is used only while the last good read of the feed started
 * less than changes_ms + 1 s ago. So a download that starts more than
 * changes_ms + 1 s (2 s by default) after a delete was acknowledged is
 * refused (404) by every objsrv, whatever --cache-ms says; one already
 * streaming finishes.
 *
 * In process: an embedder that runs the app in the same process (`coffer
 * server`) may give objsrv a record source (record_cb below), which is
 * then asked instead of GET /v1/objects/<uuid>/info: no HTTP request and
 * no JSON; the record comes as objdb.h structs, checked and used as one
 * from the app's JSON would be. The cache, the change feed and the
 * findings work as above (the feed and the findings still go to --app
 * over HTTP). The metric
 * coffer_objsrv_record_lookups_total{via="http"|"in_process"} counts the
 * records asked for each way (cache misses).
 *
 * Threads: each connection is served on its own thread; the functions below
 * are called from one controlling thread.
 */
#ifndef COFFER_OBJSRV_H
#define COFFER_OBJSRV_H

#include <stdbool.h>
#include <stdint.h>

#include "coffer/beat.h"
#include "coffer/common.h"
#include "coffer/role.h"
#include "coffer/conf.h"
#include "coffer/http.h"
#include "coffer/objdb.h"

/* A record source in the same process: the record of uuid (borrowed,
 * NUL-terminated, already a well-formed UUID) as app.h cf_app_record gives
 * it, which GET /v1/objects/<uuid>/info of the app replies as JSON: *rec,
 * and filers[i] (CF_OBJDB_REPLICAS_MAX of them, objsrv's) describing
 * rec->filers[i] for i < rec->nfilers. Returns 0; CF_ENOTFOUND (no such
 * object, or deleted: objsrv answers 404) or another CF_E* code (objsrv
 * answers 503), with a detail in err (char[CF_ERR_LEN]); rec and filers
 * are then not used. Called from objsrv's connection threads at once. */
typedef int (*cf_objsrv_record_cb)(void *ctx, const char *uuid, struct cf_objdb_record *rec,
                                   struct cf_objdb_filer filers[CF_OBJDB_REPLICAS_MAX], char *err);

/* Filers in the same process: when the replica at url (an object URL of a
 * record, "BASE/o/PATH", borrowed) is on one of them, set *mine and read
 * its bytes [first, first + len) into buf, decoded with xform and key as
 * filer.h cf_filer_read states (the same returns); else leave *mine false
 * and return 0. Called from objsrv's connection threads at once. */
typedef int (*cf_objsrv_replica_cb)(void *ctx, const char *url, unsigned xform, const uint8_t *key,
                                    uint64_t first, uint64_t len, void *buf, bool *mine, char *err);

struct cf_objsrv_conf {
    char *listen;
    char *app;           /* base URL of the app role */
    uint64_t cache_ms;   /* how long a record is reused */
    uint64_t changes_ms; /* the app's change feed is read this often (0: never) */
    uint64_t stall_s;    /* a replica silent this long is abandoned */
    char *log_level;
    /* HTTPS (http.h): PEM certificate and key to serve with; NULL: HTTP. */
    char *tls_cert;
    char *tls_key;
    /* The CA file to verify the https:// services it calls (httpc.h). */
    char *tls_ca;
    /* The operator's master keys (keyring.h), to unwrap the keys of
     * encrypted objects; NULL: they are not served (503). */
    char *master_key_file;

    struct cf_http_limits http; /* slow clients (http.h) */
    struct cf_role_beat beat;   /* beat.h: --monitor, --advertise, --dc */
    struct cf_role_auth auth;   /* role.h: keys, --insecure-no-auth */
    /* No option: set by an embedder before cf_objsrv_start. NULL (a
     * zeroed struct, `coffer objsrv`): records are asked of --app over
     * HTTP. Else record_cb(record_ctx, ...) is asked instead; record_ctx
     * is kept, and both must stay usable until cf_objsrv_free returns. */
    cf_objsrv_record_cb record_cb;
    void *record_ctx;
    /* No option either. NULL: every replica is read over HTTP. Else
     * cf_objsrv_read reads the replicas replica_cb(replica_ctx, ...) says
     * are its own through it, in the same order and with the same checks,
     * failover and findings as over HTTP; kept as record_cb is. */
    cf_objsrv_replica_cb replica_cb;
    void *replica_ctx;
};

extern const struct cf_conf_opt cf_objsrv_conf_opts[];
extern const size_t cf_objsrv_conf_nopts;

struct cf_objsrv;

/* Start serving. conf is borrowed. On success *out is the service (caller
 * owns; release with cf_objsrv_free) and *port_out the bound port. Returns 0
 * or a CF_E* code with the reason in err (may be NULL). */
CF_MUST_CHECK int cf_objsrv_start(const struct cf_objsrv_conf *conf, struct cf_objsrv **out,
                                  uint16_t *port_out, char *err);

/* What cf_objsrv_read returns for a read of the whole object, which it
 * verified against the record's SHA-512 (a part returns 0). */
#define CF_OBJSRV_READ_WHOLE 1

/* Read bytes [first, first + len) of object uuid (borrowed, NUL-terminated)
 * into buf (len bytes, the caller's) as GET /v1/objects/<uuid> with that
 * Range does, without HTTP, for a caller in the same process (`coffer
 * server`'s gateway): the record from the cache or the app, the replicas
 * in read order with failover, a transformed object decoded, a read of the
 * whole object verified against the record's SHA-512 before it returns.
 * The whole range is read before the call returns, so keep len small (the
 * gateway uses it up to CF_FETCH_WHOLE_MAX). Returns 0 for a part of the
 * object (its bytes are not checked against anything);
 * CF_OBJSRV_READ_WHOLE when [first, first + len) is the whole object
 * (first 0, len the record's size > 0): then buf holds exactly the bytes
 * whose SHA-512 the record holds, and that SHA-512 is copied into sha_out
 * (CF_SHA512_LEN bytes, the caller's; NULL: not wanted), so a caller that
 * knows the object's SHA-512 checks the bytes by comparing it with sha_out
 * instead of hashing them again. Errors: CF_EBADREQ (a malformed UUID),
 * CF_ENOTFOUND (no such object), CF_EINVAL (the range goes past the
 * object's end), CF_EUNAVAIL (no record, or no replica could be read) or
 * another CF_E* code, with a detail in err (char[CF_ERR_LEN]); buf and
 * sha_out are then undefined. Thread-safe: called from any thread while o
 * serves (before cf_objsrv_drain). */
CF_MUST_CHECK int cf_objsrv_read(struct cf_objsrv *o, const char *uuid, uint64_t first,
                                 uint64_t len, void *buf, uint8_t *sha_out, char *err);

/* Stop accepting, let requests in flight finish (up to timeout_s), close. */
void cf_objsrv_drain(struct cf_objsrv *o, unsigned timeout_s);

/* Drain with no wait if still serving, then release. NULL is a no-op. */
void cf_objsrv_free(struct cf_objsrv *o);

/* `coffer objsrv [options]`. Returns the exit status. */
int cf_objsrv_main(int argc, char **argv);

#endif
