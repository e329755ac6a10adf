/*
 * gateway.h -- the gateway role: the client API (patent FIG. 4A-4D, 8, 12,
 * 25).
 *
 * Role: what a person uses. Clients see folders and files, never UUIDs unless
 * they ask. The gateway keeps no state of its own beyond its token key: the
 * tree, users and permissions live in the file system database (fsdb.h), the
 * bytes go through the upload service (`app`, POST /v1/objects) and come back
 * through the download service (`objsrv`, GET /v1/objects/<uuid>).
 *
 *   POST   /api/v1/login                 {client,user,password} -> {token,expires_s}
 *   GET    /api/v1/fs/<path>             a file's bytes (Range) or a folder's listing
 *   HEAD   /api/v1/fs/<path>
 *   PUT    /api/v1/fs/<path>             upload: a new file or a new version (201)
 *   DELETE /api/v1/fs/<path>             the file or folder goes to the trash (204)
 *   POST   /api/v1/fs/<path>?op=mkdir | op=move&to=<path> | op=copy&to=<path>
 *   GET    /api/v1/versions/<path>       a file's versions
 *   POST   /api/v1/versions/<path>?restore=<version id>
 *   GET    /api/v1/trash                 the trash entries the user may read
 *   POST   /api/v1/trash/<id>?op=restore[&to=<path>]
 *   DELETE /api/v1/trash[/<id>]          delete for good
 *   GET    /api/v1/versions/<path>?download=<version id>   that version's bytes
 *   POST   /api/v1/keys                  a new S3 access key of the caller (201
 *                                        {access_key_id, secret_access_key, created_ms};
 *                                        the secret is shown this once)
 *   GET    /api/v1/keys                  the caller's keys: {keys:[{access_key_id,created_ms}],
 *                                        s3:{port (0: no S3 listener), region}}
 *   DELETE /api/v1/keys/<id>             revoke one of them (204; 404 if not the caller's)
 *   GET    /  and  /ui/<file>            the web page (src/gateway/web.h), no token
 *   GET    /api/v1/admin/filers|instances|events   operators only: the
 *          monitor's (--monitor) view, read-only (src/gateway/admin.h)
 *   GET    /api/v1/admin/jobs[/<id>]|stats   operators only: the app's
 *          maintenance jobs with progress and its counts (replica deficit)
 *   GET    /api/v1/admin/users           a client's admins: its users and groups
 *   GET    /api/v1/admin/perms/<path>    a client's admins: a folder's entries
 *   GET    /api/v1/admin/groups|group-trash   a client's admins: its groups
 *          with their members, its deleted groups
 *   POST|PATCH|PUT|DELETE /api/v1/admin/users|groups|group-trash|perms/...
 *          a client's admins: add users, disable them, set passwords; add
 *          groups and members, delete groups to the groups trash, restore
 *          or purge them; set and remove folder permissions (JSON bodies of
 *          at most 8 KiB; src/gateway/admin.h lists them)
 *
 * Login limits: failed logins slow down the source address that makes them
 * (per address, and per address and account: a few free tries, then
 * growing delays answered 429 with Retry-After) and, for addresses that
 * used up their free tries on that account, the account; an address within
 * its free tries on an account is never delayed by others' failures on it,
 * so its owner can log in while someone else guesses. No delay ever locks
 * an account.
 *
 * Listings (a folder, a file's versions, the trash) come in pages:
 * ?limit=N (1..CF_LIST_MAX, default CF_LIST_DEFAULT) and ?after=CURSOR, the
 * opaque "next" of the previous page (null at the end); keyset pages from
 * fsdb, so memory is one page whatever the size.
 *
 * Invariants: an upload is streamed to the app as it arrives (memory is one
 * piece whatever the size) and recorded in fsdb only after the app answered
 * 201 (or, in process, its upload service returned the record). Every call but login needs a valid
 * bearer token (auth.h) or gets 401. Every call checks the user's effective permission (fsdb.h):
 * read for GET, HEAD and listings, read-write for everything that changes something; a denial is
 * 403. Another client's data cannot be named at all (tokens carry the client id and every fsdb call
 * is scoped by it), so it is 404.
 *
 * Threads: each connection is served on its own thread, and the trash
 * retention pass runs on one more; the functions below are called from one
 * controlling thread.
 */
#ifndef COFFER_GATEWAY_H
#define COFFER_GATEWAY_H

#include <stdint.h>

#include "coffer/beat.h"
#include "coffer/common.h"
#include "coffer/role.h"
#include "coffer/conf.h"
#include "coffer/http.h"

/* A download service in the same process: bytes [first, first + len) of
 * the object uuid into buf, as objsrv.h cf_objsrv_read states (the same
 * returns): 0 for a part; CF_OBJSRV_READ_WHOLE (1) for the whole object,
 * its bytes verified against the object record's SHA-512, copied into
 * sha_out (CF_SHA512_LEN bytes; NULL: not wanted). The gateway serves such
 * a read whole only if that SHA-512 is the one its file system database
 * holds for the file; it hashes the bytes itself only when the service
 * answered 0 for what the gateway took as the whole file. Called from the
 * gateway's connection threads at once. */
typedef int (*cf_gateway_read_cb)(void *ctx, const char *uuid, uint64_t first, uint64_t len,
                                  void *buf, uint8_t *sha_out, char *err);

/* An upload service in the same process, what POST /v1/objects does on the
 * app (app.h cf_app_upload_*, with the same contracts): open starts an
 * upload of `replicas` copies with the transform xform ("z", "e", "ze" or
 * NULL; borrowed) into *up (kept by the gateway until free) and returns 0
 * or the CF_E* the app would reply with, with err; write passes body bytes
 * (its failure is reported again by finish); finish ends the body and
 * returns 0 with *record the object's record as the app replies it (the
 * gateway owns it) or the app's CF_E* with err; free releases up, and
 * records nothing of an upload not finished (its client went away). Called
 * from the gateway's connection threads at once; open and free of an
 * upload on one thread, write and finish one thread at a time. */
typedef int (*cf_gateway_upload_open_cb)(void *ctx, unsigned replicas, const char *xform, void **up,
                                         char *err);
typedef int (*cf_gateway_upload_write_cb)(void *up, const void *p, size_t n);
typedef int (*cf_gateway_upload_finish_cb)(void *up, json_t **record, char *err);
typedef void (*cf_gateway_upload_free_cb)(void *up);

struct cf_gateway_upload_svc {
    cf_gateway_upload_open_cb open;
    cf_gateway_upload_write_cb write;
    cf_gateway_upload_finish_cb finish;
    cf_gateway_upload_free_cb free;
    void *ctx; /* passed to open */
};

struct cf_gateway_conf {
    char *listen;
    char *db;       /* the fsdb catalog's URI */
    char *app;      /* base URL of the upload service */
    char *objsrv;   /* base URL of the download service */
    char *key_file; /* the token key (auth.h); made (mode 0600) if missing */
    uint64_t token_ttl_s;
    uint64_t stall_s; /* the app or objsrv silent this long fails a transfer */
    /* Delete service: every trash_interval_ms (0: never) a thread
     * deletes for good every client's trash entries older than
     * trash_retention_s (at most ten years) and hands the objects no version
     * names any more to the app (DELETE /v1/objects/<uuid>), as emptying
     * the trash by hand does. */
    uint64_t trash_retention_s;
    uint64_t trash_interval_ms;
    /* The same passes drop the records of emptied files (fsdb.h "Emptied
     * files") older than emptied_retention_s: past the app's purge
     * retention their objects are gone, and a restore could only fail. */
    uint64_t emptied_retention_s;
    /* The same passes prune the change journal (fsdb.h; GET /api/v1/changes)
     * of rows older than changes_retention_s; a client whose cursor is older
     * gets 410 and rescans. */
    uint64_t changes_retention_s;
    char *log_level;
    /* Database connections (db.h): per pool (0: cf_db_pool_default), and
     * how long a request waits for one before it gets 503 (0:
     * CF_DB_POOL_WAIT_MS). */
    uint64_t db_pool;
    uint64_t db_wait_ms;

    /* HTTPS (http.h): PEM certificate and key to serve with; NULL: HTTP. */
    char *tls_cert;
    char *tls_key;
    /* The CA file to verify the https:// services it calls (httpc.h). */
    char *tls_ca;

    /* Password hashing (PBKDF2, ~77 ms each at the default cost) runs on at
     * most login_hash_slots threads at once (0: one per core); up to
     * login_queue more logins wait, each at most login_queue_ms, for a slot;
     * the others get 503 with Retry-After. */
    uint64_t login_hash_slots;
    uint64_t login_queue;
    uint64_t login_queue_ms;
    /* Comma-separated addresses of proxies in front of the gateway (NULL or
     * "": none). A request from one of them is taken to come from the last
     * address of its X-Forwarded-For header, for the login limits. */
    char *trusted_proxies;
    /* The client whose admin users are operators (NULL or "": none): they
     * get the monitor's filer table, instances and event log on
     * /api/v1/admin/ (else 403), and login says "operator": true. */
    char *operator_client;
    struct cf_http_limits http; /* slow clients (http.h) */
    /* Redirected reads: a GET or HEAD of a file of at least redirect_min
     * bytes (0: never) whose client asks (header X-Coffer-Redirect: 1, or
     * ?redirect=1) is answered 307 to a signed URL on a filer holding it,
     * valid redirect_ttl_s seconds (objsrv signs it; cred.h), instead of
     * the verified stream. The client must check the bytes against the
     * reply's X-Coffer-SHA512. Anything failing on the way (objsrv without
     * a key, no replica) falls back to the stream. */
    uint64_t redirect_min;
    uint64_t redirect_ttl_s;
    /* Tests only: a file whose number of ms is added to the wall clock of
     * trash retention (clockguard.h); NULL: none. */
    char *test_clock_offset_file;
    /* The S3 API (s3.c): a second listener, HOST:PORT (NULL: none), so
     * path-style URLs (/bucket/key) never meet /api/v1. Requests whose Host
     * is BUCKET.<s3_domain> are virtual-hosted style (NULL: path style
     * only). s3_region names the region of signatures and
     * GetBucketLocation. The same TLS, limits and fsdb as the gateway. */
    char *s3_listen;
    char *s3_domain;
    char *s3_region;
    /* Multipart uploads neither completed nor aborted this long are
     * aborted by the trash retention passes (their parts released); 0:
     * never. */
    uint64_t s3_upload_expiry_s;
    /* CompleteMultipartUpload answers 200 at once and sends a space every
     * this many milliseconds while it assembles the object (s3.c); 0: the
     * default, 5000. At most half of http.idle_timeout_s is used. */
    uint64_t s3_complete_keepalive_ms;
    struct cf_role_beat beat; /* beat.h: --monitor, --advertise, --dc */
    struct cf_role_auth auth; /* role.h: keys, --insecure-no-auth */
    /* No option: set by an embedder before cf_gateway_start. NULL (a
     * zeroed struct, `coffer gateway`): every download goes to --objsrv
     * over HTTP. Else a read of at most CF_FETCH_WHOLE_MAX bytes (a small
     * file, or a small range) is asked of read_cb(read_ctx, ...) instead;
     * read_ctx is kept, and both must stay usable until cf_gateway_free
     * returns. */
    cf_gateway_read_cb read_cb;
    void *read_ctx;
    /* No option, like read_cb. upload.open NULL (a zeroed struct): every
     * upload's body goes to --app over HTTP. Else every upload (a file
     * PUT, S3 PutObject, UploadPart and the copies that store a new
     * object) goes to this service instead, its reply read as the app's;
     * upload.ctx is kept, and the service must stay usable until
     * cf_gateway_free returns. */
    struct cf_gateway_upload_svc upload;
};

extern const struct cf_conf_opt cf_gateway_conf_opts[];
extern const size_t cf_gateway_conf_nopts;

struct cf_gateway;

/* Start serving. conf is borrowed. On success *out is the service (caller
 * owns; release with cf_gateway_free) and *port_out the bound port. Returns
 * 0 or a CF_E* code with the reason in err (may be NULL): CF_EINVAL for a bad
 * setting, the codes of cf_auth_key_load for the key file, of cf_fsdb_open
 * for the catalog, CF_EIO if the port cannot be bound. Nothing is left
 * running on failure. */
CF_MUST_CHECK int cf_gateway_start(const struct cf_gateway_conf *conf, struct cf_gateway **out,
                                   uint16_t *port_out, char *err);

/* The bound port of the S3 listener; 0 if there is none. */
uint16_t cf_gateway_s3_port(const struct cf_gateway *g);

/* Stop the trash retention thread (a pass in progress finishes first), stop
 * accepting, let requests in flight finish (up to timeout_s), close. */
void cf_gateway_drain(struct cf_gateway *g, unsigned timeout_s);

/* Drain with no wait if still serving, then release. NULL is a no-op. */
void cf_gateway_free(struct cf_gateway *g);

/* `coffer gateway [options]`. Returns the exit status. */
int cf_gateway_main(int argc, char **argv);

#endif
