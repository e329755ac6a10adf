/*
 * gateway.c -- the client API: login, files and folders, versions, trash
 * (gateway.h).
 */
#include "coffer/gateway.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "coffer/auth.h"
#include "coffer/buf.h"
#include "coffer/clockguard.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/hex.h"
#include "coffer/fetch.h"
#include "coffer/fsdb.h"
#include "coffer/http.h"
#include "coffer/httpc.h"
#include "coffer/lease.h"
#include "coffer/limits.h"
#include "coffer/log.h"
#include "coffer/metrics.h"
#include "coffer/net.h"
#include "coffer/pump.h"
#include "coffer/range.h"
#include "coffer/role.h"
#include "coffer/sha512.h"
#include "coffer/sigv4.h"
#include "coffer/upstream.h"
#include "gateway_int.h"
#include "admin.h"
#include "web.h"

#define API      "/api/v1"
#define FS       API "/fs"
#define VERSIONS API "/versions"
#define TRASH    API "/trash"
#define LOGIN    API "/login"
#define ADMIN    API "/admin"
#define KEYS     API "/keys"
#define LINK     API "/link"
#define CHANGES  API "/changes"
/* GET /api/v1/changes: the longest wait_s, and how often a long-poll reads
 * the journal again for changes other gateways committed. */
#define CHANGES_WAIT_MAX_S 60
#define CHANGES_POLL_MS    1000
#define CHANGES_LIMIT_DEF  1000
/* A download link's lifetime by default (auth.h bounds it). */
#define LINK_TTL_DEFAULT_S 60
#define URL_MAX            600
#define READ_BLOCK         (64 * 1024)
/* A client that checks the SHA-512 itself asks for a redirect with it. */
#define REDIRECT_HEADER "X-Coffer-Redirect"
/* A login body is three short strings; anything bigger is not one. */
#define LOGIN_BODY_MAX (8 * 1024)
/* An admin write's body holds a few names and a password. */
#define ADMIN_BODY_MAX (8 * 1024)
/* Failed logins slow down, never lock (gateway.h). Per (address, account):
 * three free tries, then 1 s, 2 s, 4 s... up to a minute. Per address over
 * every account: twenty free, then the same (a spray of names). Per
 * account, for addresses that used up their free tries on it: ten free,
 * then up to 30 s (many addresses guessing one account). Forgotten after a quarter
 * hour without failure; 64 Ki entries each is 2 MiB per table. */
#define LOGIN_PAIR_FREE   3
#define LOGIN_ADDR_FREE   20
#define LOGIN_ACCT_FREE   10
#define LOGIN_DELAY_MS    1000u
#define LOGIN_PAIR_MAX_MS 60000u
#define LOGIN_ACCT_MAX_MS 30000u
#define LOGIN_FORGET_MS   (15u * 60u * 1000u)
#define LOGIN_ENTRIES     65536
#define LOGIN_SLOTS_MAX   1024
/* Ten years: more than any retention policy asks, and far from overflowing
 * a millisecond count. */
#define TRASH_RETENTION_MAX (10ull * 365 * 86400)
/* Batches of CF_FSDB_LIST_MAX entries one DELETE of the whole trash
 * empties at most: 100 million entries. */
#define TRASH_BATCHES_MAX 1000u
/* One app DELETE; it only marks a record. */
#define DELETE_TIMEOUT_MS 10000
/* objsrv's signed URLs of an object: one record look-up. */
#define URLS_TIMEOUT_MS 10000

struct cf_gateway {
    struct cf_http_server *http;
    struct cf_cred *cred; /* verifies requests (http.h); freed after http */
    struct cf_fsdb *fs;
    struct cf_auth_key key;
    struct cf_auth_limiter *lim_pair; /* (address, client, user) */
    struct cf_auth_limiter *lim_addr; /* address */
    struct cf_auth_limiter *lim_acct; /* (client, user) */
    /* Password-hashing slots (gateway.h); guarded by hash_mu. */
    unsigned hash_slots, hash_queue, hash_busy, hash_waiting;
    uint64_t hash_wait_ms;
    bool hash_init;
    pthread_mutex_t hash_mu;
    pthread_cond_t hash_cv;
    struct cf_upstream *app;    /* the upload services (--app, a comma list) */
    struct cf_upstream *objsrv; /* the download services (--objsrv, a comma list) */
    cf_gateway_read_cb read_cb; /* gateway.h: small reads in process; NULL: none */
    void *read_ctx;
    struct cf_metric *m_reads_http, *m_reads_local; /* small reads, each way */
    struct cf_gateway_upload_svc upload; /* gateway.h: uploads in process; open NULL: none */
    struct cf_metric *m_uploads_http, *m_uploads_local; /* uploads, each way */
    char *proxies;         /* ",ADDR,ADDR," of trusted proxies; NULL: none */
    char *monitors;        /* --monitor, for /api/v1/admin/ (admin.h); NULL: none */
    char *operator_client; /* --operator-client; NULL: none */
    uint64_t ttl_s;
    unsigned stall_s;
    uint64_t redirect_min, redirect_ttl_s; /* gateway.h */
    /* Verified for unknown clients and users, so that a login costs one
     * hash whether or not the name exists. */
    char dummy_hash[CF_AUTH_PWHASH_SIZE];
    /* A thread empties old trash entries. */
    uint64_t trash_retention_ms, trash_interval_ms;
    uint64_t emptied_retention_ms; /* records of emptied files are kept this long */
    uint64_t changes_retention_ms; /* the change journal keeps its rows this long */
    atomic_bool draining;          /* long-polls of the change journal end */
    uint64_t s3_upload_expiry_ms;  /* 0: never */
    struct cf_clockguard *clock;   /* "now" of trash retention */
    pthread_t trasher;
    bool trasher_started;
    /* Lease "gateway.trash": of several gateways on one catalog, only its
     * holder runs the retention passes (lease.h). */
    struct cf_lease *trash_lease;
    struct cf__s3 *s3; /* the S3 listener (s3.c); NULL: none */
    uint16_t s3_port;
    /* What GET /api/v1/keys tells the page: the S3 listener's port (0 until
     * it listens, written after the API listens) and region. */
    _Atomic unsigned s3_port_seen;
    char *s3_region;
    bool sync_init; /* stop_mu and stop_cv exist */
    bool stop;      /* guarded by stop_mu */
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
};

#define OFF(f) offsetof(struct cf_gateway_conf, f)
const struct cf_conf_opt cf_gateway_conf_opts[] = {
    {"listen", CF_CONF_STR, "127.0.0.1:8202", 0, 0, OFF(listen), "HOST:PORT to serve HTTP on",
     false},
    {"db", CF_CONF_STR, "sqlite:./data/fs-catalog.db", 0, 0, OFF(db),
     "URI of the file system database's catalog", false},
    {"app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app),
     "base URL of the upload service, or a comma list of several (failed ones skipped)", false},
    {"objsrv", CF_CONF_STR, "http://127.0.0.1:8201", 0, 0, OFF(objsrv),
     "base URL of the download service, or a comma list of several (a download goes on from "
     "the next)",
     false},
    {"key-file", CF_CONF_STR, "./data/gateway.key", 0, 0, OFF(key_file),
     "token key (hex); made if missing; every gateway of a system needs the same one", false},
    {"token-ttl-s", CF_CONF_U64, "3600", 1, CF_AUTH_TOKEN_TTL_MAX, OFF(token_ttl_s),
     "seconds a login token stays valid", false},
    {"stall-s", CF_CONF_U64, "10", 1, 3600, OFF(stall_s),
     "seconds the app or objsrv may take no bytes before a transfer fails", false},
    {"trash-retention-s", CF_CONF_U64, "2592000", 0, TRASH_RETENTION_MAX, OFF(trash_retention_s),
     "seconds a trash entry stays before it is deleted for good", false},
    {"trash-interval-ms", CF_CONF_U64, "60000", 0, 86400000, OFF(trash_interval_ms),
     "milliseconds between retention passes (trash, version expiry, emptied files); 0: none",
     false},
    {"emptied-retention-s", CF_CONF_U64, "86400", 0, TRASH_RETENTION_MAX, OFF(emptied_retention_s),
     "seconds a file emptied from the trash stays restorable (GET /api/v1/trash/emptied); "
     "match the app's --purge-retention-s",
     false},
    {"changes-retention-s", CF_CONF_U64, "604800", 1, TRASH_RETENTION_MAX, OFF(changes_retention_s),
     "seconds the change journal (GET /api/v1/changes) keeps a change; an older cursor gets 410",
     false},
    {"log-level", CF_CONF_STR, "info", 0, 0, OFF(log_level), "error, warn, info or debug", true},
    {"db-pool", CF_CONF_U64, "0", 0, CF_DB_POOL_MAX, OFF(db_pool),
     "database connections per pool (catalog, each shard); 0: 16 on SQLite, 4 on PostgreSQL",
     false},
    {"db-wait-ms", CF_CONF_U64, "5000", 1, 3600000, OFF(db_wait_ms),
     "how long a request waits for a free database connection before it gets 503", false},

    CF_ROLE_TLS_OPTS(struct cf_gateway_conf),
    CF_ROLE_TLS_CA_OPT(struct cf_gateway_conf),
    {"login-hash-slots", CF_CONF_U64, "0", 0, LOGIN_SLOTS_MAX, OFF(login_hash_slots),
     "password hashes computed at once; 0: one per core", false},
    {"login-queue", CF_CONF_U64, "16", 0, 65536, OFF(login_queue),
     "logins that may wait for a hashing slot; past them, 503", false},
    {"login-queue-ms", CF_CONF_U64, "1000", 1, 60000, OFF(login_queue_ms),
     "milliseconds a login waits for a hashing slot before 503", false},
    {"trusted-proxies", CF_CONF_STR, NULL, 0, 0, OFF(trusted_proxies),
     "comma-separated addresses of proxies whose X-Forwarded-For names the client", false},
    {"operator-client", CF_CONF_STR, NULL, 0, 0, OFF(operator_client),
     "the client whose admin users see the operator's view (the monitor's filers, instances "
     "and events) on /api/v1/admin/",
     false},
    CF_HTTP_LIMITS_CONF_OPTS(struct cf_gateway_conf),
    {"redirect-min", CF_CONF_SIZE, "1M", 0, UINT64_MAX, OFF(redirect_min),
     "files of at least this size are read through a redirect to a signed filer URL when the "
     "client asks (X-Coffer-Redirect: 1); 0: never",
     false},
    {"redirect-ttl-s", CF_CONF_U64, "30", 1, 600, OFF(redirect_ttl_s),
     "seconds a redirect's signed filer URL stays valid", false},
    {"s3-listen", CF_CONF_STR, NULL, 0, 0, OFF(s3_listen),
     "HOST:PORT to serve the S3 API on (a second listener); none if unset", false},
    {"s3-domain", CF_CONF_STR, NULL, 0, 0, OFF(s3_domain),
     "DOMAIN of virtual-hosted S3 requests (Host: BUCKET.DOMAIN); unset: path style only", false},
    {"s3-region", CF_CONF_STR, "us-east-1", 0, 0, OFF(s3_region),
     "the S3 region: signatures' scope and GetBucketLocation", false},
    {"s3-upload-expiry-s", CF_CONF_U64, "604800", 0, TRASH_RETENTION_MAX, OFF(s3_upload_expiry_s),
     "seconds an S3 multipart upload may stay neither completed nor aborted before the trash "
     "retention passes abort it; 0: never",
     false},
    {"s3-complete-keepalive-ms", CF_CONF_U64, "5000", 10, 60000, OFF(s3_complete_keepalive_ms),
     "milliseconds between the spaces an S3 CompleteMultipartUpload reply sends while the "
     "object is assembled (clients time out after 60 s of silence)",
     false},
    {"test-clock-offset-file", CF_CONF_STR, NULL, 0, 0, OFF(test_clock_offset_file),
     "TESTS ONLY: add the milliseconds in this file to the clock of trash retention", false},
    CF_ROLE_BEAT_OPTS(OFF),
    CF_ROLE_AUTH_OPTS(OFF),
};
const size_t cf_gateway_conf_nopts = CF_ARRAY_LEN(cf_gateway_conf_opts);

/* Who is calling, from a verified token. */
struct who {
    uint64_t client;
    uint64_t user;
    uint64_t root; /* the client's root folder */
    bool link;     /* came with a download link: a file is sent as an attachment */
};

/* A path split into its folder and last name. */
struct target {
    char path[CF_FSDB_PATH_MAX + 1];
    char parent[CF_FSDB_PATH_MAX + 1];
    char name[CF_FSDB_NAME_MAX + 1];
    bool root;
};

enum req_kind {
    REQ_LOGIN = 0,
    REQ_PUT = 1,
    REQ_ADMIN = 2, /* a write on the admin accounts endpoints (admin.h) */
};

/* State of a request that has a body. */
struct req {
    enum req_kind kind;
    struct cf_buf body; /* login, admin */
    char *admin_rest;   /* admin: the URL after /api/v1/admin (owned) */
    char method[16];    /* admin */
    bool body_too_big;
    struct cf_pump *pump; /* upload: the body on its way to the app */
    /* upload in process (gateway.h upload): the service, or NULL (HTTP);
     * its upload (NULL if it could not start, then with up_rc and up_err
     * the app's refusal, given at the end of the body as over HTTP), freed
     * with the request, on the thread that opened it. */
    const struct cf_gateway_upload_svc *svc;
    void *up;
    int up_rc;
    char up_err[CF_ERR_LEN];
    struct cf_buf reply; /* upload: the app's reply */
    bool reply_too_big;
    int err; /* upload: the first failure, passed on at the end */
    struct who who;
    uint64_t folder;
    uint64_t size;
    uint64_t t0;
    size_t app_i; /* upload: which instance of g->app takes it */
    char name[CF_FSDB_NAME_MAX + 1];
};

/* ---- helpers ---- */

static enum MHD_Result reply_err(struct MHD_Connection *c, int rc, const char *err)
{
    if (err != NULL && err[0] != '\0')
        return cf_http_reply_error(c, rc, "%s", err);
    return cf_http_reply_error(c, rc, NULL);
}

static enum MHD_Result reply_empty(struct MHD_Connection *c, unsigned status)
{
    return cf_http_reply(c, status, NULL, NULL, 0, NULL);
}

/* Split path (the URL after the prefix: "" or "/...") into t. Returns 0,
 * CF_ETOOLARGE or CF_EINVAL (a bad last name; the folder's names are checked
 * when it is resolved). */
static int split_path(const char *path, struct target *t, char *err)
{
    size_t len = strlen(path);
    const char *slash;

    /* Empty strings rather than a memset: the struct is 8 KiB and this runs
     * on every request. */
    t->path[0] = t->parent[0] = t->name[0] = '\0';
    t->root = false;
    if (len == 0) {
        path = "/";
        len = 1;
    }
    if (path[0] != '/') {
        cf_err_set(err, "a path starts with '/'");
        return CF_EINVAL;
    }
    if (len > CF_FSDB_PATH_MAX) {
        cf_err_set(err, "the path is longer than %d bytes", CF_FSDB_PATH_MAX);
        return CF_ETOOLARGE;
    }
    if (strstr(path, "//") != NULL) {
        cf_err_set(err, "a path has no empty names");
        return CF_EINVAL;
    }
    memcpy(t->path, path, len + 1);
    if (len > 1 && t->path[len - 1] == '/')
        t->path[--len] = '\0';
    if (len == 1) {
        t->root = true;
        memcpy(t->parent, "/", 2);
        return 0;
    }
    slash = strrchr(t->path, '/');
    if (slash == t->path) {
        memcpy(t->parent, "/", 2);
    } else {
        memcpy(t->parent, t->path, (size_t)(slash - t->path));
        t->parent[slash - t->path] = '\0';
    }
    len = strlen(slash + 1);
    if (len > CF_FSDB_NAME_MAX) {
        cf_err_set(err, "a name is longer than %d bytes", CF_FSDB_NAME_MAX);
        return CF_EINVAL;
    }
    memcpy(t->name, slash + 1, len + 1);
    return cf_fsdb_name_validate(t->name, len, err);
}

/* Check the bearer token. Returns 0 and fills *w, CF_EAUTH, or the
 * database's error (a database that is away is no reason to log in again). */
/* *w for the client and user info names, if the client still exists.
 * Returns 0, CF_EAUTH (it has gone since), or an fsdb error. */
static int who_of(struct cf_gateway *g, const struct cf_auth_token_info *info, struct who *w)
{
    int rc;

    memset(w, 0, sizeof(*w));
    w->client = info->client_id;
    w->user = info->user_id;
    rc = cf_fsdb_resolve(g->fs, w->client, "/", &w->root, NULL);
    if (rc == CF_ENOTFOUND || rc == CF_EINVAL)
        return CF_EAUTH;
    return rc < 0 ? rc : 0;
}

static int authenticate(struct cf_gateway *g, struct MHD_Connection *c, struct who *w)
{
    const char *h = cf_http_header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    struct cf_auth_token_info info;
    struct cf_span tok;

    if (h == NULL || cf_auth_bearer_parse(h, strlen(h), &tok) < 0 ||
        cf_auth_token_verify(&g->key, tok.ptr, tok.len, cf_wall_ms() / 1000, &info) < 0)
        return CF_EAUTH;
    return who_of(g, &info, w);
}

static const char *under(const char *url, const char *prefix);
static int parse_id(const char *s, uint64_t *out);

/* What a download link signs for the file at path (borrowed) under api
 * (FS or VERSIONS), and version id (0: none), into out (cap bytes).
 * Returns 0, or CF_EINVAL when it does not fit. */
static int link_what(const char *api, const char *path, uint64_t version, char *out, size_t cap)
{
    int n = snprintf(out, cap, "GET %s%s %" PRIu64, api, path, version);

    return n < 0 || (size_t)n >= cap ? CF_EINVAL : 0;
}

/* The caller of a GET or HEAD that carries a download link (?dl=) instead
 * of a bearer token: the link must sign exactly this file (url, as
 * libmicrohttpd decoded it) and version (?download=, under VERSIONS).
 * Returns 0 with *w (w->link set), or CF_EAUTH, or an fsdb error. */
static int link_auth(struct cf_gateway *g, struct MHD_Connection *c, const char *url,
                     const char *method, const char *link, struct who *w)
{
    bool fs = under(url, FS) != NULL;
    const char *api = fs ? FS : VERSIONS, *dl = cf_http_query(c, "download");
    struct cf_auth_token_info info;
    char what[CF_FSDB_PATH_MAX + 96];
    struct target t;
    uint64_t version = 0;
    int rc;

    if ((strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) ||
        (under(url, FS) == NULL && under(url, VERSIONS) == NULL) ||
        (!fs && (dl == NULL || parse_id(dl, &version) < 0)) || (fs && dl != NULL) ||
        split_path(under(url, api), &t, NULL) < 0 ||
        link_what(api, t.path, version, what, sizeof(what)) < 0 ||
        cf_auth_link_verify(&g->key, link, cf_wall_ms() / 1000, what, &info) < 0)
        return CF_EAUTH;
    rc = who_of(g, &info, w);
    if (rc == 0)
        w->link = true;
    return rc;
}

/* Does the user have at least `want` on folder? Returns 0, CF_EPERM, or an
 * fsdb error. */
static int need(struct cf_gateway *g, const struct who *w, uint64_t folder, enum cf_fsdb_level want,
                char *err)
{
    enum cf_fsdb_level have = CF_FSDB_NONE;
    int rc = cf_fsdb_perm_effective(g->fs, w->client, w->user, folder, &have, err);

    if (rc < 0)
        return rc;
    if (have < want) {
        cf_err_set(err, "you may not %s here", want == CF_FSDB_READ ? "read" : "write");
        return CF_EPERM;
    }
    return 0;
}

/* Is level `have` at least `want`? Returns 0 or CF_EPERM. */
static int allowed(enum cf_fsdb_level have, enum cf_fsdb_level want, char *err)
{
    if (have < want) {
        cf_err_set(err, "you may not %s here", want == CF_FSDB_READ ? "read" : "write");
        return CF_EPERM;
    }
    return 0;
}

/* A trash entry is judged by its original folder. When that folder is
 * itself gone or in the trash its permissions cannot be evaluated, and only
 * the user who deleted the item, or one with read-write on the root, may
 * act on it (so deleting a restricted folder does not open its contents to
 * everyone who can read the root). */
static int need_trash(struct cf_gateway *g, const struct who *w, const struct cf_fsdb_trash *t,
                      enum cf_fsdb_level want, char *err)
{
    enum cf_fsdb_level have = CF_FSDB_NONE;
    uint64_t f = t->orig_parent ? t->orig_parent : w->root;
    int rc = cf_fsdb_perm_effective(g->fs, w->client, w->user, f, &have, err);

    if (rc == CF_ENOTFOUND && f != w->root) {
        rc = cf_fsdb_perm_effective(g->fs, w->client, w->user, w->root, &have, err);
        if (rc == 0 && t->by_user != w->user && have < CF_FSDB_READ_WRITE)
            have = CF_FSDB_NONE;
    }
    if (rc < 0)
        return rc;
    if (have < want) {
        cf_err_set(err, "you may not %s here", want == CF_FSDB_READ ? "read" : "write");
        return CF_EPERM;
    }
    return 0;
}

static json_t *entry_json(const struct cf_fsdb_entry *e)
{
    char hex[CF_SHA512_HEX_LEN + 1];

    if (e->kind == CF_FSDB_FOLDER)
        return json_pack("{s:s,s:s,s:I,s:I,s:I}", "name", e->name, "type", "folder", "id",
                         (json_int_t)e->id, "created_ms", (json_int_t)e->created_ms, "modified_ms",
                         (json_int_t)e->modified_ms);
    cf_sha512_hex(e->sha512, hex);
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:I,s:I}", "name", e->name, "type", "file", "id",
                     (json_int_t)e->id, "created_ms", (json_int_t)e->created_ms, "modified_ms",
                     (json_int_t)e->modified_ms, "size", (json_int_t)e->size, "sha512", hex,
                     "version", (json_int_t)e->version, "version_no", (json_int_t)e->version_no);
}

static enum MHD_Result reply_entry(struct MHD_Connection *c, unsigned status,
                                   const struct cf_fsdb_entry *e)
{
    json_t *j = entry_json(e);

    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the reply");
    return cf_http_reply_json(c, status, j);
}

/* Parse a decimal id (untrusted). */
static int parse_id(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return CF_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0)
        return CF_EINVAL;
    *out = v;
    return 0;
}

/* ---- downloads ---- */

struct stream {
    struct cf_fetch *f;
    char uuid[CF_FSDB_UUID_LEN + 1];
    struct cf_upstream *objsrv;   /* borrowed from the gateway */
    size_t inst[CF_UPSTREAM_MAX]; /* the objsrv instance of each URL of the fetch */
};

/* An objsrv failed during a download: the fetch goes on from the next one,
 * and later downloads try that one last for a while. */
static void stream_fail(void *ctx, size_t replica, int err, const char *why)
{
    struct stream *s = ctx;

    (void)err;
    cf_log(CF_LOG_WARN, "download of %s: objsrv %s failed: %s; trying the next", s->uuid,
           cf_upstream_url(s->objsrv, s->inst[replica]), why);
    cf_upstream_failed(s->objsrv, s->inst[replica]);
}

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
    cf_log(CF_LOG_ERROR, "download of %s from objsrv failed: %s; closing the connection", s->uuid,
           cf_strerror((int)n));
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_cb(void *cls)
{
    struct stream *s = cls;

    cf_fetch_free(s->f);
    free(s);
}

/* A small range read whole from objsrv, so that its reply leaves in one
 * piece (headers and bytes together) instead of a header write and then a
 * body callback: a response (NULL if it cannot be made) and *rc 0, or NULL
 * and the fetch's error in *rc (logged). s is freed either way. */
static struct MHD_Response *read_whole(struct stream *s, size_t len, int *rc)
{
    struct MHD_Response *resp = NULL;
    char *buf = cf_xmalloc(len);

    *rc = cf_fetch_read_all(s->f, buf, len);
    if (*rc < 0)
        cf_log(CF_LOG_ERROR, "download of %s from objsrv failed: %s", s->uuid, cf_strerror(*rc));
    else
        resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        free(buf);
    free_cb(s);
    return resp;
}

/* Whether the client asked to be sent to a filer for the bytes. */
static bool wants_redirect(struct cf_gateway *g, struct MHD_Connection *c, uint64_t size)
{
    const char *h = cf_http_header(c, REDIRECT_HEADER), *q = cf_http_query(c, "redirect");

    return g->redirect_min > 0 && size >= g->redirect_min &&
           ((h != NULL && strcmp(h, "1") == 0) || (q != NULL && strcmp(q, "1") == 0));
}

/* Answer 307 to a signed URL on a filer holding the object uuid of (size,
 * sha) (objsrv signs them, in read order), with the SHA-512 the
 * client must check and every replica's URL in the JSON body for it to
 * try the next on a mismatch. Returns 0 with *res set, or an error (logged)
 * when no redirect can be given: the caller streams instead. */
static int redirect_bytes(struct cf_gateway *g, struct MHD_Connection *c, const char *uuid,
                          uint64_t size, const uint8_t *sha, uint32_t version_no,
                          enum MHD_Result *res)
{
    char path[96], err[CF_ERR_LEN] = "", hex[CF_SHA512_HEX_LEN + 1], vs[16];
    const char *got, *loc;
    json_t *j = NULL, *urls, *body;
    long status = 0;
    char *text;
    int rc;

    (void)snprintf(path, sizeof(path), "/v1/objects/%s/urls?ttl_s=%" PRIu64, uuid,
                   g->redirect_ttl_s);
    rc = cf_upstream_json(g->objsrv, "GET", path, NULL, URLS_TIMEOUT_MS, true, &status, &j, err);
    cf_sha512_hex(sha, hex);
    got = json_string_value(json_object_get(j, "sha512"));
    urls = json_object_get(j, "urls");
    loc = json_string_value(json_array_get(urls, 0));
    if (rc == 0 && (status != 200 || got == NULL || strcmp(got, hex) != 0 || loc == NULL)) {
        cf_err_set(err, "objsrv answered %ld%s", status,
                   status == 200 ? " with another record or no replica" : "");
        rc = CF_EUNAVAIL;
    }
    if (rc < 0) {
        /* 409: stored compressed or encrypted, which no filer URL serves
         * (objsrv.c serve_urls): streaming it is the normal course. */
        cf_log(status == 409 ? CF_LOG_DEBUG : CF_LOG_WARN, "no redirect for %s (%s): streaming it",
               uuid, err);
        json_decref(j);
        return rc;
    }
    (void)snprintf(vs, sizeof(vs), "%" PRIu32, version_no);
    body = json_pack("{s:I,s:s,s:I,s:O,s:O}", "size", (json_int_t)size, "sha512", hex, "version",
                     (json_int_t)version_no, "expires_ms", json_object_get(j, "expires_ms"), "urls",
                     urls);
    text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        json_decref(j);
        return CF_EINTERNAL;
    }
    {
        const char *hdrs[] = {MHD_HTTP_HEADER_LOCATION,
                              loc,
                              CF_SHA512_HEADER,
                              hex,
                              "X-Coffer-Version",
                              vs,
                              MHD_HTTP_HEADER_CACHE_CONTROL,
                              "no-store",
                              NULL};
        *res = cf_http_reply(c, MHD_HTTP_TEMPORARY_REDIRECT, "application/json", text, strlen(text),
                             hdrs);
    }
    free(text);
    json_decref(j);
    return 0;
}

/* Small reads (files or ranges of at most CF_FETCH_WHOLE_MAX bytes, read
 * whole before the reply), by the way they went: to objsrv over HTTP, or
 * to the download service in this process (gateway.h read_cb). */
#define READS_METRIC "coffer_gateway_small_reads_total"
#define READS_HELP   "Small downloads read whole, by the way they reached the download service."

/* Bytes [first, first + len) of uuid from the download service in this
 * process (read_cb), checked against sha (NULL: a part, not checked here)
 * as a read from objsrv would be: a response (NULL with *rc 0 if it cannot
 * be made), or NULL and the error in *rc with err. */
static struct MHD_Response *read_local(struct cf_gateway *g, const char *uuid, uint64_t first,
                                       size_t len, const uint8_t *sha, int *rc, char *err)
{
    struct MHD_Response *resp = NULL;
    uint8_t got[CF_SHA512_LEN];
    char *buf = cf_xmalloc(len);

    cf_metric_add(g->m_reads_local, 1);
    *rc = g->read_cb(g->read_ctx, uuid, first, len, buf, sha != NULL ? got : NULL, err);
    /* A whole read comes back verified against the object record's
     * SHA-512, in got: the bytes match the file only if that is the
     * file's. A read the service did not take as whole (its record's size
     * differs from the file's) is hashed here. */
    if (*rc == 0 && sha != NULL && cf_sha512_once(buf, len, got) < 0) {
        *rc = CF_EINTERNAL;
        cf_err_set(err, "cannot compute the SHA-512");
    }
    if (*rc >= 0 && sha != NULL && memcmp(got, sha, sizeof(got)) != 0) {
        /* objsrv checked the bytes against the object's record: a file
         * whose recorded SHA-512 differs is not served either. */
        *rc = CF_ECORRUPT;
        cf_err_set(err, "the bytes do not match the file's SHA-512");
    }
    if (*rc > 0)
        *rc = 0;
    if (*rc < 0)
        cf_log(CF_LOG_ERROR, "download of %s failed: %s: %s", uuid, cf_strerror(*rc), err);
    else
        resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        free(buf);
    return resp;
}

/* Stream the object uuid of (size, sha) from objsrv, honouring Range, or
 * only the window `part` (NULL: none; part->last < size) as a 206 whatever
 * Range says (a window of the whole object is verified as a whole read);
 * or, when the client asks and no window is given, redirect it to a filer
 * (redirect_bytes). */
static enum MHD_Result serve_window(struct cf_gateway *g, struct MHD_Connection *c,
                                    const char *uuid, uint64_t size, const uint8_t *sha,
                                    uint32_t version_no, const char *const *extra,
                                    const struct cf_range *part)
{
    bool own_type = false;
    struct cf_range range = {0, 0};
    struct cf_fetch_opts fo;
    struct stream *s = NULL;
    struct MHD_Response *resp = NULL;
    char url[CF_UPSTREAM_MAX][URL_MAX], hex[CF_SHA512_HEX_LEN + 1], cr[96], vs[16];
    const char *urls[CF_UPSTREAM_MAX];
    size_t inst[CF_UPSTREAM_MAX], n;
    enum cf_range_result rr;
    enum MHD_Result r;
    unsigned status = MHD_HTTP_OK;
    bool whole;
    int w;

    if (part != NULL) {
        range = *part;
        rr = CF_RANGE_OK;
    } else {
        rr = cf_range_parse(cf_http_header(c, MHD_HTTP_HEADER_RANGE), size, &range);
    }
    if (rr == CF_RANGE_UNSATISFIABLE) {
        const char *hdrs[] = {"Content-Range", cr, "Accept-Ranges", "bytes", NULL};
        (void)snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        return cf_http_reply(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, NULL, NULL, 0, hdrs);
    }
    if (rr == CF_RANGE_NONE) {
        range.first = 0;
        range.last = size - 1; /* unused when size == 0 */
    }
    if (part == NULL && wants_redirect(g, c, size) &&
        redirect_bytes(g, c, uuid, size, sha, version_no, &r) == 0)
        return r;
    /* Every objsrv, healthy ones first: a fetch that fails on one goes on
     * from the byte it reached on the next. */
    n = cf_upstream_order(g->objsrv, inst);
    for (size_t i = 0; i < n; i++) {
        w = snprintf(url[i], sizeof(url[i]), "%s/v1/objects/%s",
                     cf_upstream_url(g->objsrv, inst[i]), uuid);
        if (w < 0 || (size_t)w >= sizeof(url[i]))
            return cf_http_reply_error(c, CF_EINTERNAL, "the objsrv URL is too long");
        urls[i] = url[i];
    }
    whole = rr == CF_RANGE_NONE || (part != NULL && range.first == 0 && range.last + 1 == size);
    if (size == 0) {
        resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
    } else if (g->read_cb != NULL && range.last - range.first + 1 <= CF_FETCH_WHOLE_MAX &&
               !cf_http_is_head()) {
        char err[CF_ERR_LEN] = "";
        int rc = 0;
        resp = read_local(g, uuid, range.first, (size_t)(range.last - range.first + 1),
                          whole ? sha : NULL, &rc, err);
        if (rc < 0)
            return cf_http_reply_error(c, rc, "the object cannot be read now: %s", err);
    } else {
        s = cf_xcalloc(1, sizeof(*s));
        (void)snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
        s->objsrv = g->objsrv;
        memcpy(s->inst, inst, sizeof(inst));
        /* Whole reads are verified against the SHA-512 fsdb recorded, so
         * the client never gets a complete wrong file. */
        fo = (struct cf_fetch_opts){.urls = urls,
                                    .n = n,
                                    .first = range.first,
                                    .len = range.last - range.first + 1,
                                    .sha = whole ? sha : NULL,
                                    .stall_s = g->stall_s,
                                    .on_fail = stream_fail,
                                    .ctx = s};
        if (cf_fetch_new(&fo, &s->f) < 0) {
            free(s);
            return cf_http_reply_error(c, CF_EINTERNAL, "cannot start the transfer");
        }
        if (fo.len <= CF_FETCH_WHOLE_MAX && !cf_http_is_head()) {
            int rc = 0;
            cf_metric_add(g->m_reads_http, 1);
            resp = read_whole(s, (size_t)fo.len, &rc);
            if (rc < 0)
                return cf_http_reply_error(c, rc, "the object cannot be read now");
        } else {
            resp = MHD_create_response_from_callback(
                fo.len, fo.len < READ_BLOCK ? (size_t)fo.len : READ_BLOCK, read_cb, s, free_cb);
            if (resp == NULL)
                free_cb(s);
        }
    }
    if (resp == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot create the response");
    cf_sha512_hex(sha, hex);
    (void)snprintf(vs, sizeof(vs), "%" PRIu32, version_no);
    for (size_t i = 0; extra != NULL && extra[i] != NULL && extra[i + 1] != NULL; i += 2) {
        (void)MHD_add_response_header(resp, extra[i], extra[i + 1]);
        if (strcasecmp(extra[i], MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
            own_type = true;
    }
    if (!own_type)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      "application/octet-stream");
    (void)MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    (void)MHD_add_response_header(resp, CF_SHA512_HEADER, hex);
    (void)MHD_add_response_header(resp, "X-Coffer-Version", vs);
    if (rr == CF_RANGE_OK) {
        (void)snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.first,
                       range.last, size);
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result serve_bytes(struct cf_gateway *g, struct MHD_Connection *c, const char *uuid,
                                   uint64_t size, const uint8_t *sha, uint32_t version_no,
                                   const char *const *extra)
{
    return serve_window(g, c, uuid, size, sha, version_no, extra, NULL);
}

/* ---- login ---- */

/* An error reply with Retry-After: the whole seconds of retry_ms, at least 1. */
static enum MHD_Result reply_retry(struct MHD_Connection *c, int err, uint64_t retry_ms,
                                   const char *fmt, ...) CF_PRINTF(4, 5);

static enum MHD_Result reply_retry(struct MHD_Connection *c, int err, uint64_t retry_ms,
                                   const char *fmt, ...)
{
    char detail[CF_ERR_LEN], secs[24];
    const char *hdr[] = {"Retry-After", secs, NULL};
    json_t *j;
    char *text;
    enum MHD_Result r;
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    (void)snprintf(secs, sizeof(secs), "%" PRIu64, retry_ms < 1000 ? 1 : (retry_ms + 999) / 1000);
    j = json_pack("{s:s,s:s++}", "error", cf_err_name(err), "message", cf_strerror(err), ": ",
                  detail);
    text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        return cf_http_reply_error(c, err, "%s", detail);
    r = cf_http_reply(c, (unsigned)cf_err_http_status(err), "application/json", text, strlen(text),
                      hdr);
    free(text);
    return r;
}

/* The address a login comes from (CF_HTTP_ADDR_LEN bytes into out): the
 * peer's, or, when the peer is a trusted proxy, the last address of its
 * X-Forwarded-For (the one that proxy saw; earlier ones the client may
 * have forged). A header that is missing or not an address leaves the
 * proxy's own. */
static void login_addr(const struct cf_gateway *g, struct MHD_Connection *c, char *out)
{
    char key[CF_HTTP_ADDR_LEN + 2], last[CF_HTTP_ADDR_LEN];
    const char *xff, *p;
    unsigned char bin[sizeof(struct in6_addr)];
    size_t n;

    cf_http_client_addr(c, out, CF_HTTP_ADDR_LEN);
    if (g->proxies == NULL)
        return;
    (void)snprintf(key, sizeof(key), ",%s,", out);
    xff = cf_http_header(c, "X-Forwarded-For");
    if (strstr(g->proxies, key) == NULL || xff == NULL)
        return;
    p = strrchr(xff, ',');
    p = p != NULL ? p + 1 : xff;
    p += strspn(p, " \t");
    n = strcspn(p, " \t");
    if (n == 0 || n >= sizeof(last) || p[n + strspn(p + n, " \t")] != '\0')
        return;
    memcpy(last, p, n);
    last[n] = '\0';
    if (inet_pton(AF_INET, last, bin) == 1)
        (void)inet_ntop(AF_INET, bin, out, CF_HTTP_ADDR_LEN);
    else if (inet_pton(AF_INET6, last, bin) == 1)
        (void)inet_ntop(AF_INET6, bin, out, CF_HTTP_ADDR_LEN);
}

/* Take a password-hashing slot, waiting in the bounded queue (gateway.h).
 * Returns whether one was taken; release it with hash_release. */
static bool hash_acquire(struct cf_gateway *g)
{
    struct timespec ts;
    uint64_t deadline_ns = cf_now_ns() + g->hash_wait_ms * 1000000u;
    bool ok = false;

    pthread_mutex_lock(&g->hash_mu);
    if (g->hash_busy < g->hash_slots) {
        ok = true;
    } else if (g->hash_waiting < g->hash_queue) {
        g->hash_waiting++;
        while (g->hash_busy >= g->hash_slots && cf_now_ns() < deadline_ns) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            ts.tv_sec += ts.tv_nsec / 1000000000;
            ts.tv_nsec %= 1000000000;
            (void)pthread_cond_timedwait(&g->hash_cv, &g->hash_mu, &ts);
        }
        g->hash_waiting--;
        ok = g->hash_busy < g->hash_slots;
    }
    if (ok)
        g->hash_busy++;
    pthread_mutex_unlock(&g->hash_mu);
    return ok;
}

static void hash_release(struct cf_gateway *g)
{
    pthread_mutex_lock(&g->hash_mu);
    g->hash_busy--;
    pthread_cond_signal(&g->hash_cv);
    pthread_mutex_unlock(&g->hash_mu);
}

static enum MHD_Result login_finish(struct cf_gateway *g, struct MHD_Connection *c, struct req *r)
{
    json_t *j = NULL, *out = NULL;
    json_error_t je;
    const char *client, *user, *pw;
    struct cf_fsdb_client cl;
    struct cf_fsdb_user u;
    struct cf_span parts[3];
    char token[CF_AUTH_TOKEN_SIZE] = "", esc[2][96], addr[CF_HTTP_ADDR_LEN];
    const char *stored;
    uint64_t now_s = cf_wall_ms() / 1000, retry_ms = 0;
    unsigned prior = 0;
    bool known = true, hashing = false;
    enum MHD_Result res;
    int rc;

    if (r->body_too_big) {
        res = cf_http_reply_error(c, CF_ETOOLARGE, "a login body is at most %d bytes",
                                  LOGIN_BODY_MAX);
        goto out;
    }
    if (r->body.len > 0)
        j = json_loadb(r->body.base, r->body.len, 0, &je);
    client = json_string_value(json_object_get(j, "client"));
    user = json_string_value(json_object_get(j, "user"));
    pw = json_string_value(json_object_get(j, "password"));
    if (client == NULL || user == NULL || pw == NULL) {
        res = cf_http_reply_error(c, CF_EBADREQ,
                                  "send JSON {\"client\":..., \"user\":..., \"password\":...}");
        goto out;
    }
    login_addr(g, c, addr);
    parts[0] = (struct cf_span){addr, strlen(addr)};
    parts[1] = (struct cf_span){client, strlen(client)};
    parts[2] = (struct cf_span){user, strlen(user)};
    /* Counted before the slow hash, so parallel guesses see each other; a
     * success clears the account's keys. */
    rc = cf_auth_limiter_attempt(g->lim_addr, parts, 1, &retry_ms, NULL);
    if (rc == 0)
        rc = cf_auth_limiter_attempt(g->lim_pair, parts, 3, &retry_ms, &prior);
    /* The account's own delay holds only for addresses that used up their
     * free tries on it: whoever else guesses, its owner (who may mistype a
     * few times) is never delayed by them. */
    if (rc == 0 && prior >= LOGIN_PAIR_FREE)
        rc = cf_auth_limiter_attempt(g->lim_acct, parts + 1, 2, &retry_ms, NULL);
    else if (rc == 0)
        cf_auth_limiter_fail(g->lim_acct, parts + 1, 2);
    if (rc < 0) {
        res = reply_retry(c, rc, retry_ms, "too many failed logins; try again in %" PRIu64 " s",
                          (retry_ms + 999) / 1000);
        goto out;
    }
    if (!hash_acquire(g)) {
        res = reply_retry(c, CF_EBUSY, 1000, "too many logins at once; try again in 1 s");
        goto out;
    }
    hashing = true;
    rc = cf_fsdb_client_find(g->fs, client, &cl, NULL);
    if (rc == 0)
        rc = cf_fsdb_user_get(g->fs, cl.id, user, &u, NULL);
    if (rc < 0 && rc != CF_ENOTFOUND && rc != CF_EINVAL) {
        /* The database, not the caller, failed: no login, and no guess
         * counted (the attempts above are taken back). */
        cf_auth_limiter_unfail(g->lim_addr, parts, 1);
        cf_auth_limiter_unfail(g->lim_pair, parts, 3);
        cf_auth_limiter_unfail(g->lim_acct, parts + 1, 2);
        res = cf_http_reply_error(c, rc, "cannot check the login now");
        goto out;
    }
    known = rc == 0;
    stored = known ? u.pw_hash : g->dummy_hash;
    /* The same work for unknown names as for a wrong password. */
    rc = cf_auth_password_verify(stored, strlen(stored), pw,
                                 json_string_length(json_object_get(j, "password")));
    hash_release(g);
    hashing = false;
    if (rc == 0 && (!known || u.disabled))
        rc = CF_EAUTH;
    if (rc < 0) {
        if (rc == CF_ECORRUPT)
            cf_log(CF_LOG_ERROR, "user \"%s\" of client \"%s\" has a malformed password hash",
                   cf_log_escape(esc[1], sizeof(esc[1]), user),
                   cf_log_escape(esc[0], sizeof(esc[0]), client));
        cf_log(CF_LOG_INFO, "login of \"%s\" in client \"%s\" refused",
               cf_log_escape(esc[1], sizeof(esc[1]), user),
               cf_log_escape(esc[0], sizeof(esc[0]), client));
        res = cf_http_reply_error(c, CF_EAUTH, "wrong client, user or password");
        goto out;
    }
    cf_auth_limiter_success(g->lim_pair, parts, 3);
    cf_auth_limiter_success(g->lim_acct, parts + 1, 2);
    /* The address counts failures only: one office behind one address logs
     * in as often as it needs, a guesser from it is slowed. */
    cf_auth_limiter_unfail(g->lim_addr, parts, 1);
    rc = cf_auth_token_issue(&g->key, cl.id, u.id, now_s, g->ttl_s, token);
    if (rc < 0) {
        res = cf_http_reply_error(c, rc, "cannot issue a token");
        goto out;
    }
    out = json_pack(
        "{s:s,s:I,s:I,s:I,s:b,s:b}", "token", token, "expires_s", (json_int_t)g->ttl_s, "client_id",
        (json_int_t)cl.id, "user_id", (json_int_t)u.id, "admin", u.admin, "operator",
        g->operator_client != NULL && strcmp(cl.name, g->operator_client) == 0 && u.admin);
    res = out != NULL ? cf_http_reply_json(c, MHD_HTTP_OK, out)
                      : cf_http_reply_error(c, CF_EINTERNAL, "cannot build the reply");
out:
    if (hashing)
        hash_release(g);
    json_decref(j);
    return res;
}

/* ---- uploads ---- */

/* Uploads by the way their body went: to the app over HTTP, or to the
 * upload service in this process (gateway.h upload). */
#define UPLOADS_METRIC "coffer_gateway_uploads_total"
#define UPLOADS_HELP   "Uploads started, by the way their body reached the upload service."

/* The app's reply to an upload, kept up to CF__GATEWAY_REPLY_MAX
 * (cf_pump_reply_cb). */
static void put_reply(void *ctx, size_t target, const char *p, size_t n)
{
    struct req *r = ctx;

    (void)target;
    if (cf_buf_append(&r->reply, p, n) < 0)
        r->reply_too_big = true;
}

/* Stream the body to `POST url` (borrowed) as it arrives from the client:
 * memory stays at one piece whatever the size, and a slow app slows the
 * client (back-pressure). Returns 0 or CF_EINTERNAL. */
static int put_open(struct cf_gateway *g, struct req *r, const char *url)
{
    /* While the body is still coming, only a transfer that has bytes to
     * take and takes none is stalled; after the end, the app may take its
     * time to write the replicas (its own stall limit bounds that), so the
     * wait for its reply is bounded by the same limit counted from the
     * last byte, times the filers it may try. */
    struct cf_pump_opts o = {.method = "POST",
                             .urls = &url,
                             .n = 1,
                             .stall_s = g->stall_s,
                             .reply_s = 30 * g->stall_s,
                             .on_reply = put_reply,
                             .ctx = r};

    cf_buf_init(&r->reply, CF__GATEWAY_REPLY_MAX);
    return cf_pump_new(&o, &r->pump) < 0 ? CF_EINTERNAL : 0;
}

/* put_close for an upload in process: the service's outcome as the app
 * would have replied it over HTTP (the status of its error, and the body
 * cf_http_reply_error would send), so it is read the same way. */
static int put_close_local(struct req *r, long *status, json_t **reply)
{
    char msg[CF_ERR_LEN + 64];
    int rc = r->up_rc;

    if (rc == 0)
        rc = r->svc->finish(r->up, reply, r->up_err);
    if (rc == 0) {
        *status = MHD_HTTP_CREATED;
        return 0;
    }
    *reply = NULL;
    *status = cf_err_http_status(rc);
    (void)snprintf(msg, sizeof(msg), "%s%s%s", cf_strerror(rc), r->up_err[0] ? ": " : "",
                   r->up_err);
    *reply = json_pack("{s:s,s:s}", "error", cf_err_name(rc), "message", msg);
    return 0;
}

/* End the body and wait for the app's reply. Returns 0 with *status its
 * HTTP status and *reply its JSON body (caller owns; json_decref; NULL if
 * not JSON), or CF_EUNAVAIL with a reason in err. */
static int put_close(struct req *r, long *status, json_t **reply, char *err)
{
    const char *why = "";
    json_error_t je;
    long st = 0;

    *reply = NULL;
    *status = 0;
    if (r->svc != NULL)
        return put_close_local(r, status, reply);
    cf_pump_finish(r->pump, NULL);
    if (cf_pump_state(r->pump, 0, &st, &why) != CF_PUMP_REPLIED) {
        cf_err_set(err, "the upload service failed: %s", why);
        return CF_EUNAVAIL;
    }
    if (r->reply_too_big) {
        cf_err_set(err, "the upload service sent an over-long reply");
        return CF_EUNAVAIL;
    }
    *status = st;
    if (r->reply.len > 0)
        *reply = json_loadb(r->reply.base, r->reply.len, 0, &je);
    return 0;
}

/* Start r's upload (r->who set) to the next healthy app. Returns 0, or an
 * fsdb error or CF_EINTERNAL with err. */
static int upload_open(struct cf_gateway *g, struct req *r, char *err)
{
    struct cf_fsdb_client cl;
    char url[URL_MAX];
    int rc, n;

    rc = cf_fsdb_client_get(g->fs, r->who.client, &cl, err);
    if (rc == 0) {
        /* A client recorded with fewer (before they were refused) gets the least. */
        /* The upload goes to one app, the next healthy one; if it fails the
         * client gets 503 and may send it again, which then goes to another. */
        size_t order[CF_UPSTREAM_MAX];
        unsigned replicas = cl.replicas < CF_REPLICAS_MIN ? CF_REPLICAS_MIN : cl.replicas;
        /* The client's storage policy (fsdb.h cf_fsdb_client_set_xform) is
         * the app's ?xform=: the filers store the bytes transformed. */
        char xform[3];
        (void)snprintf(xform, sizeof(xform), "%s%s", cl.compress ? "z" : "", cl.encrypt ? "e" : "");
        if (g->upload.open != NULL) {
            /* A refusal waits for the end of the body, as the app's reply
             * over HTTP does, so the client hears the same. */
            r->svc = &g->upload;
            cf_metric_add(g->m_uploads_local, 1);
            r->up_rc =
                g->upload.open(g->upload.ctx, replicas, xform[0] ? xform : NULL, &r->up, r->up_err);
            return 0;
        }
        cf_metric_add(g->m_uploads_http, 1);
        (void)cf_upstream_order(g->app, order);
        r->app_i = order[0];
        n = snprintf(url, sizeof(url), "%s/v1/objects?replicas=%u%s%s",
                     cf_upstream_url(g->app, r->app_i), replicas, xform[0] ? "&xform=" : "", xform);
        if (n < 0 || (size_t)n >= sizeof(url)) {
            rc = CF_EINTERNAL;
            cf_err_set(err, "the app URL is too long");
        }
    }
    if (rc == 0 && put_open(g, r, url) < 0) {
        rc = CF_EINTERNAL;
        cf_err_set(err, "cannot start the transfer");
    }
    return rc;
}

static enum MHD_Result put_begin(struct cf_gateway *g, struct MHD_Connection *c, const char *path,
                                 void **req_cls)
{
    struct target t;
    struct cf_fsdb_entry e;
    enum cf_fsdb_level have = CF_FSDB_NONE;
    struct req *r = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t folder = 0;
    struct who w;
    int rc;

    rc = authenticate(g, c, &w);
    if (rc < 0)
        return cf_http_refuse(c, req_cls, rc, "%s",
                              rc == CF_EAUTH ? "log in first (POST " LOGIN ")" : "");
    rc = split_path(path, &t, err);
    if (rc == 0 && t.root) {
        rc = CF_EINVAL;
        cf_err_set(err, "cannot upload to the root folder");
    }
    r = cf_xcalloc(1, sizeof(*r));
    r->kind = REQ_PUT;
    r->who = w;
    r->t0 = cf_now_ns();
    if (rc == 0)
        rc = cf_fsdb_lookup_access(g->fs, w.client, w.user, t.parent, false, &e, &have, err);
    if (rc == 0 && e.kind != CF_FSDB_FOLDER) {
        cf_err_set(err, "\"%s\" is a file", e.name);
        rc = CF_ENOTFOUND;
    }
    if (rc == 0) {
        r->folder = e.id;
        rc = allowed(have, CF_FSDB_READ_WRITE, err);
    }
    /* Refused before the body is streamed; cf_fsdb_file_put checks again
     * when it records the upload. */
    if (rc == 0 && cf_fsdb_folder_find(g->fs, w.client, r->folder, t.name, &folder, NULL) == 0) {
        rc = CF_EEXIST;
        cf_err_set(err, "a folder has that name");
    }
    if (rc == 0)
        rc = upload_open(g, r, err);
    if (rc < 0) {
        free(r);
        return cf_http_refuse(c, req_cls, rc, "%s", err);
    }
    memcpy(r->name, t.name, sizeof(r->name));
    *req_cls = r;
    return MHD_YES;
}

static void put_body(struct req *r, const char *p, size_t n)
{
    r->size += n;
    if (r->svc != NULL) {
        /* A failed upload drops the rest, and its finish says why (as the
         * app's reply would): nothing to pass on here. */
        if (r->up != NULL)
            (void)r->svc->write(r->up, p, n);
        return;
    }
    if (r->err < 0)
        return;
    /* Ended before taking the whole body, e.g. a refusal. */
    if (cf_pump_write(r->pump, p, n) == 0)
        r->err = CF_EUNAVAIL;
}

static void release_objects(struct cf_gateway *g, uint64_t client, const struct cf_fsdb_uuid *gone,
                            size_t n);

/* A file record commit in doubt is read back SETTLE_TRIES times at most,
 * SETTLE_PAUSE_MS apart: about 10 s, the time a PostgreSQL restart takes. */
#define SETTLE_TRIES    40
#define SETTLE_PAUSE_MS 250

/* Settle an upload whose file record commit is in doubt: 0 when a version
 * names uuid (the commit took), CF_EUNAVAIL when none does (it did not),
 * or CF_EINDOUBT when the database did not answer. */
static int settle_put(struct cf_gateway *g, uint64_t client, const char *uuid, char *err)
{
    uint64_t refs = 0;
    char detail[CF_ERR_LEN] = "";

    for (int i = 0; i < SETTLE_TRIES; i++) {
        struct timespec ts = {0, SETTLE_PAUSE_MS * 1000000L};
        int rc = cf_fsdb_uuid_refs(g->fs, client, uuid, &refs, detail);

        if (rc == 0 && refs > 0)
            return 0;
        if (rc == 0) {
            cf_err_set(err, "the file record was not committed");
            return CF_EUNAVAIL;
        }
        (void)nanosleep(&ts, NULL);
    }
    cf_err_set(err, "the file record may or may not be committed (%s): upload again", detail);
    return CF_EINDOUBT;
}

/* End r's upload and record it as the new version of r->name in r->folder
 * (keep), or hand the stored object straight back to the delete service
 * (!keep: the body failed a check only its end could tell). Returns 0 with
 * *e the file, or an error with err. */
static int upload_stored(struct cf_gateway *g, struct req *r, struct cf_fsdb_put *put, char *err);

static int upload_record(struct cf_gateway *g, struct req *r, bool keep, struct cf_fsdb_entry *e,
                         char *err)
{
    struct cf_fsdb_put put;
    const char *uuid = put.uuid;
    int rc;

    rc = upload_stored(g, r, &put, err);
    if (rc < 0)
        return rc;
    if (!keep) {
        struct cf_fsdb_uuid orphan;
        memcpy(orphan.text, uuid, sizeof(orphan.text));
        if (cf_fsdb_release_add(g->fs, r->who.client, uuid, NULL) < 0)
            cf_log(CF_LOG_WARN, "upload %s could not be recorded as pending release", uuid);
        release_objects(g, r->who.client, &orphan, 1);
        return 0;
    }
    rc = cf_fsdb_file_put(g->fs, r->who.client, r->folder, r->name, &put, e, err);
    if (rc == CF_EINDOUBT)
        rc = settle_put(g, r->who.client, uuid, err);
    if (rc == CF_EINDOUBT) {
        /* A file may name the object: never release it on a guess. An
         * object no file names costs space only (the orphan pass). */
        cf_log(CF_LOG_WARN, "upload %s: its file record may or may not be committed: object kept",
               uuid);
        return rc;
    }
    if (rc < 0) {
        /* Stored but named by nothing (say a folder took the name meanwhile):
         * the new object is handed straight to the delete service. */
        struct cf_fsdb_uuid orphan;
        memcpy(orphan.text, uuid, sizeof(orphan.text));
        cf_log(CF_LOG_WARN, "upload %s stored but not recorded (%s): releasing it", uuid,
               cf_strerror(rc));
        if (cf_fsdb_release_add(g->fs, r->who.client, uuid, NULL) < 0)
            cf_log(CF_LOG_WARN, "upload %s could not be recorded as pending release", uuid);
        release_objects(g, r->who.client, &orphan, 1);
        return rc;
    }
    cf_log(CF_LOG_DEBUG,
           "put client=%" PRIu64 " file=%" PRIu64 " v=%" PRIu32 " uuid=%s bytes=%" PRIu64
           " ms=%.1f",
           r->who.client, e->id, e->version_no, uuid, r->size, (double)(cf_now_ns() - r->t0) / 1e6);
    return 0;
}

/* End r's upload and read the app's record of the stored object into put
 * (uuid, size, sha512; by_user set). Returns 0, or an error with err. */
static int upload_stored(struct cf_gateway *g, struct req *r, struct cf_fsdb_put *put, char *err)
{
    json_t *reply = NULL;
    const char *uuid, *sha, *msg;
    long status = 0;
    int rc;

    memset(put, 0, sizeof(*put));
    rc = put_close(r, &status, &reply, err);
    /* An upload in process has no upstream to rate. */
    if (r->svc == NULL && (rc < 0 || cf_upstream_retry_status(status)))
        cf_upstream_failed(g->app, r->app_i);
    else if (r->svc == NULL)
        cf_upstream_ok(g->app, r->app_i);
    if (rc == 0 && status != 201) {
        msg = json_string_value(json_object_get(reply, "message"));
        cf_log(CF_LOG_WARN, "upload refused by the app: HTTP %ld", status);
        rc = status == 507 ? CF_ENOSPC : CF_EUNAVAIL;
        cf_err_set(err, "the upload service answered %ld%s%.200s", status, msg ? ": " : "",
                   msg ? msg : "");
    }
    if (rc < 0)
        goto out;
    uuid = json_string_value(json_object_get(reply, "uuid"));
    sha = json_string_value(json_object_get(reply, "sha512"));
    if (uuid == NULL || strlen(uuid) != CF_FSDB_UUID_LEN || sha == NULL ||
        cf_sha512_parse_hex(sha, strlen(sha), put->sha512) < 0 ||
        !json_is_integer(json_object_get(reply, "size")) ||
        (uint64_t)json_integer_value(json_object_get(reply, "size")) != r->size) {
        cf_log(CF_LOG_ERROR, "the upload service sent a malformed record");
        cf_err_set(err, "the upload service sent a malformed record");
        rc = CF_EINTERNAL;
        goto out;
    }
    memcpy(put->uuid, uuid, CF_FSDB_UUID_LEN + 1);
    put->size = r->size;
    put->by_user = r->who.user;
out:
    json_decref(reply);
    return rc;
}

static enum MHD_Result put_finish(struct cf_gateway *g, struct MHD_Connection *c, struct req *r)
{
    struct cf_fsdb_entry e;
    char err[CF_ERR_LEN] = "";
    int rc = upload_record(g, r, true, &e, err);

    if (rc < 0)
        return reply_err(c, rc, err);
    return reply_entry(c, MHD_HTTP_CREATED, &e);
}

/* ---- what s3.c uses (gateway_int.h) ---- */

struct cf__gateway_put {
    struct req r;
};

int cf__gateway_put_new(struct cf_gateway *g, uint64_t client, uint64_t user, uint64_t folder,
                        const char *name, struct cf__gateway_put **out, char *err)
{
    struct cf__gateway_put *p = cf_xcalloc(1, sizeof(*p));
    int rc;

    *out = NULL;
    if (strlen(name) > CF_FSDB_NAME_MAX) {
        free(p);
        cf_err_set(err, "a name is longer than %d bytes", CF_FSDB_NAME_MAX);
        return CF_EINVAL;
    }
    p->r.kind = REQ_PUT;
    p->r.who.client = client;
    p->r.who.user = user;
    p->r.folder = folder;
    p->r.t0 = cf_now_ns();
    memcpy(p->r.name, name, strlen(name) + 1);
    rc = upload_open(g, &p->r, err);
    if (rc < 0) {
        cf__gateway_put_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void cf__gateway_put_write(struct cf__gateway_put *p, const char *buf, size_t n)
{
    put_body(&p->r, buf, n);
}

int cf__gateway_put_end(struct cf_gateway *g, struct cf__gateway_put *p, bool keep,
                        struct cf_fsdb_entry *e, char *err)
{
    if (p->r.err < 0) {
        cf_err_set(err, "the upload service failed");
        return p->r.err;
    }
    return upload_record(g, &p->r, keep, e, err);
}

void cf__gateway_put_free(struct cf__gateway_put *p)
{
    if (p == NULL)
        return;
    cf_pump_free(p->r.pump);
    /* An upload in process not finished (a body that will not end)
     * records nothing. */
    if (p->r.up != NULL)
        p->r.svc->free(p->r.up);
    cf_buf_fini(&p->r.reply);
    cf_buf_fini(&p->r.body);
    free(p);
}

int cf__gateway_put_object(struct cf_gateway *g, struct cf__gateway_put *p, struct cf_fsdb_put *out,
                           char *err)
{
    if (p->r.err < 0) {
        cf_err_set(err, "the upload service failed");
        return p->r.err;
    }
    return upload_stored(g, &p->r, out, err);
}

int cf__gateway_put_copy(struct cf_gateway *g, struct cf__gateway_put *p, const char *uuid,
                         uint64_t size, const uint8_t *sha512, char *err)
{
    return cf__gateway_put_copy_range(g, p, uuid, size, sha512, 0, size, NULL, NULL, err);
}

int cf__gateway_put_copy_range(struct cf_gateway *g, struct cf__gateway_put *p, const char *uuid,
                               uint64_t size, const uint8_t *sha512, uint64_t first, uint64_t len,
                               void (*seen)(void *ctx, const char *buf, size_t n), void *ctx,
                               char *err)
{
    char url[CF_UPSTREAM_MAX][URL_MAX];
    const char *urls[CF_UPSTREAM_MAX];
    size_t inst[CF_UPSTREAM_MAX], n;
    struct cf_fetch_opts fo;
    struct stream s;
    char *buf = NULL;
    uint64_t at = 0; /* offset in the object of the next byte read */
    ssize_t got;
    int w;

    if (first > size || len > size - first) {
        cf_err_set(err, "the range is outside the object");
        return CF_EINVAL;
    }
    if (len == 0)
        return 0;
    memset(&s, 0, sizeof(s));
    n = cf_upstream_order(g->objsrv, inst);
    for (size_t i = 0; i < n; i++) {
        w = snprintf(url[i], sizeof(url[i]), "%s/v1/objects/%s",
                     cf_upstream_url(g->objsrv, inst[i]), uuid);
        if (w < 0 || (size_t)w >= sizeof(url[i])) {
            cf_err_set(err, "the objsrv URL is too long");
            return CF_EINTERNAL;
        }
        urls[i] = url[i];
    }
    (void)snprintf(s.uuid, sizeof(s.uuid), "%s", uuid);
    s.objsrv = g->objsrv;
    memcpy(s.inst, inst, sizeof(inst));
    /* The whole object, verified against its SHA-512 before the end is
     * reported. */
    fo = (struct cf_fetch_opts){.urls = urls,
                                .n = n,
                                .first = 0,
                                .len = size,
                                .sha = sha512,
                                .stall_s = g->stall_s,
                                .on_fail = stream_fail,
                                .ctx = &s};
    if (cf_fetch_new(&fo, &s.f) < 0) {
        cf_err_set(err, "cannot start the transfer");
        return CF_EINTERNAL;
    }
    buf = cf_xmalloc(READ_BLOCK);
    /* Only [first, first + len) is passed on; the rest is read for the
     * digest. */
    for (;;) {
        uint64_t a, z;
        got = cf_fetch_read(s.f, buf, READ_BLOCK);
        if (got <= 0 || p->r.err < 0)
            break;
        a = at > first ? at : first;
        z = at + (uint64_t)got < first + len ? at + (uint64_t)got : first + len;
        if (a < z) {
            put_body(&p->r, buf + (a - at), (size_t)(z - a));
            if (seen != NULL)
                seen(ctx, buf + (a - at), (size_t)(z - a));
        }
        at += (uint64_t)got;
    }
    free(buf);
    cf_fetch_free(s.f);
    if (got < 0) {
        cf_err_set(err, "reading object %s failed: %s", uuid, cf_strerror((int)got));
        return (int)got == CF_ECORRUPT ? CF_ECORRUPT : CF_EUNAVAIL;
    }
    if (p->r.err < 0) {
        cf_err_set(err, "the upload service failed");
        return p->r.err;
    }
    return 0;
}

void cf__gateway_release(struct cf_gateway *g, uint64_t client, const struct cf_fsdb_uuid *gone,
                         size_t n)
{
    release_objects(g, client, gone, n);
}

enum MHD_Result cf__gateway_serve(struct cf_gateway *g, struct MHD_Connection *c,
                                  const struct cf_fsdb_entry *e, const char *const *headers)
{
    return serve_bytes(g, c, e->uuid, e->size, e->sha512, e->version_no, headers);
}

enum MHD_Result cf__gateway_serve_window(struct cf_gateway *g, struct MHD_Connection *c,
                                         const struct cf_fsdb_entry *e, uint64_t first,
                                         uint64_t last, const char *const *headers)
{
    struct cf_range w = {first, last};

    if (e->size == 0 || first > last || last >= e->size)
        return cf_http_reply_error(c, CF_EINTERNAL, "a window outside the object");
    return serve_window(g, c, e->uuid, e->size, e->sha512, e->version_no, headers, &w);
}

struct cf_fsdb *cf__gateway_fs(struct cf_gateway *g)
{
    return g->fs;
}

struct cf_cred *cf__gateway_cred(struct cf_gateway *g)
{
    return g->cred;
}

/* ---- pages of listings ---- */

/* The page size of a listing: ?limit=N, 1 to CF_LIST_MAX, default
 * CF_LIST_DEFAULT. Returns 0 or CF_EINVAL with err. */
static int page_limit(struct MHD_Connection *c, size_t *limit, char *err)
{
    const char *q = cf_http_query(c, "limit");
    char *end = NULL;
    unsigned long long v;

    *limit = CF_LIST_DEFAULT;
    if (q == NULL)
        return 0;
    errno = 0;
    v = strtoull(q, &end, 10);
    if (q[0] < '0' || q[0] > '9' || errno != 0 || *end != '\0' || v < 1 || v > CF_LIST_MAX) {
        cf_err_set(err, "limit is a number from 1 to %d", CF_LIST_MAX);
        return CF_EINVAL;
    }
    *limit = (size_t)v;
    return 0;
}

/* A decimal number of up to 20 digits that fits in max, ending at *end
 * (s[0..] digits only up to the first non-digit). */
static int cursor_num(const char *s, uint64_t max, uint64_t *out, const char **end)
{
    char *e = NULL;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return CF_EINVAL;
    errno = 0;
    v = strtoull(s, &e, 10);
    if (errno != 0 || v > max)
        return CF_EINVAL;
    *out = v;
    *end = e;
    return 0;
}

/* Folder cursor: 'd' (folder) or 'f' (file), then the entry's name in hex.
 * Opaque to clients; only what a reply's "next" gave is accepted. */
static void cursor_of_entry(const struct cf_fsdb_entry *e, char out[2 * CF_FSDB_NAME_MAX + 2])
{
    out[0] = e->kind == CF_FSDB_FOLDER ? 'd' : 'f';
    cf_hex_encode(e->name, strlen(e->name), out + 1);
}

static int cursor_to_pos(const char *s, struct cf_fsdb_list_pos *pos, char *err)
{
    size_t n = strlen(s);

    if (n < 3 || n % 2 == 0 || n > 1 + 2 * CF_FSDB_NAME_MAX || (s[0] != 'd' && s[0] != 'f') ||
        cf_hex_decode(s + 1, (n - 1) / 2, pos->name, false) < 0 ||
        memchr(pos->name, '\0', (n - 1) / 2) != NULL) {
        cf_err_set(err, "after is not a cursor this listing gave");
        return CF_EINVAL;
    }
    pos->name[(n - 1) / 2] = '\0';
    pos->kind = s[0] == 'd' ? CF_FSDB_FOLDER : CF_FSDB_FILE;
    return 0;
}

/* ---- /api/v1/fs ---- */

/* Content-Disposition for a file called name sent as an attachment (RFC
 * 6266): an ASCII fallback with anything unsafe as '_', and the UTF-8
 * name percent-encoded (RFC 8187), into out (cap bytes). */
static void disposition(const char *name, char *out, size_t cap)
{
    static const char keep[] = "!#$&+-.^_`|~";
    size_t k = 0;
    int n;

    n = snprintf(out, cap, "attachment; filename=\"");
    k = n > 0 ? (size_t)n : 0;
    for (const char *p = name; *p != '\0' && k + 2 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        out[k++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '_';
    }
    if (k + 1 < cap)
        k += (size_t)snprintf(out + k, cap - k, "\"; filename*=UTF-8''");
    for (const char *p = name; *p != '\0' && k + 4 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr(keep, ch) != NULL) {
            out[k++] = (char)ch;
        } else {
            out[k++] = '%';
            out[k++] = cf_hex_digit(ch >> 4);
            out[k++] = cf_hex_digit(ch & 15u);
        }
    }
    out[k < cap ? k : cap - 1] = '\0';
}

static enum MHD_Result fs_get(struct cf_gateway *g, struct MHD_Connection *c, const struct who *w,
                              const struct target *t)
{
    struct cf_fsdb_entry e, *list = NULL;
    struct cf_fsdb_list_pos pos;
    enum cf_fsdb_level have = CF_FSDB_NONE;
    const char *after = cf_http_query(c, "after");
    char err[CF_ERR_LEN] = "", next[2 * CF_FSDB_NAME_MAX + 2];
    size_t n = 0, limit = 0;
    bool more = false;
    json_t *arr, *j;
    int rc;

    rc = cf_fsdb_lookup_access(g->fs, w->client, w->user, t->path, false, &e, &have, err);
    if (rc == 0)
        rc = allowed(have, CF_FSDB_READ, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    if (e.kind == CF_FSDB_FILE && w->link) {
        char disp[3 * CF_FSDB_NAME_MAX + 64];
        const char *hdrs[] = {"Content-Disposition", disp, NULL};
        disposition(e.name, disp, sizeof(disp));
        return serve_bytes(g, c, e.uuid, e.size, e.sha512, e.version_no, hdrs);
    }
    if (e.kind == CF_FSDB_FILE)
        return serve_bytes(g, c, e.uuid, e.size, e.sha512, e.version_no, NULL);
    if (w->link)
        return cf_http_reply_error(c, CF_EAUTH, "a download link is for a file");
    rc = page_limit(c, &limit, err);
    if (rc == 0 && after != NULL)
        rc = cursor_to_pos(after, &pos, err);
    if (rc == 0)
        rc = cf_fsdb_list_page(g->fs, w->client, e.id, after != NULL ? &pos : NULL, limit, &list,
                               &n, &more, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        (void)json_array_append_new(arr, entry_json(&list[i]));
    if (more)
        cursor_of_entry(&list[n - 1], next);
    free(list);
    j = json_pack("{s:s,s:I,s:o,s:o}", "path", t->path, "id", (json_int_t)e.id, "entries", arr,
                  "next", more ? json_string(next) : json_null());
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the listing");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result fs_delete(struct cf_gateway *g, struct MHD_Connection *c,
                                 const struct who *w, const struct target *t)
{
    struct cf_fsdb_entry e;
    enum cf_fsdb_level have = CF_FSDB_NONE;
    char err[CF_ERR_LEN] = "";
    uint64_t tid = 0;
    int rc;

    if (t->root)
        return cf_http_reply_error(c, CF_EINVAL, "the root folder cannot be deleted");
    rc = cf_fsdb_lookup_access(g->fs, w->client, w->user, t->path, true, &e, &have, err);
    if (rc == 0)
        rc = allowed(have, CF_FSDB_READ_WRITE, err);
    if (rc == 0)
        rc = cf_fsdb_trash_put(g->fs, w->client, e.kind, e.id, w->user, &tid, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    return reply_empty(c, MHD_HTTP_NO_CONTENT);
}

/* Resolve the destination `to` (a full path) of a move or copy and check
 * that the user may write there. */
static int dest(struct cf_gateway *g, const struct who *w, const char *to, struct target *t,
                uint64_t *folder, char *err)
{
    int rc;

    if (to == NULL) {
        cf_err_set(err, "give the destination as to=<path>");
        return CF_EINVAL;
    }
    rc = split_path(to, t, err);
    if (rc == 0 && t->root) {
        cf_err_set(err, "the destination cannot be the root folder");
        rc = CF_EINVAL;
    }
    if (rc == 0)
        rc = cf_fsdb_resolve(g->fs, w->client, t->parent, folder, err);
    if (rc == 0)
        rc = need(g, w, *folder, CF_FSDB_READ_WRITE, err);
    return rc;
}

static enum MHD_Result fs_post(struct cf_gateway *g, struct MHD_Connection *c, const struct who *w,
                               const struct target *t)
{
    const char *op = cf_http_query(c, "op"), *to = cf_http_query(c, "to");
    struct cf_fsdb_entry e, out;
    struct target dt;
    char err[CF_ERR_LEN] = "";
    uint64_t folder = 0;
    int rc;

    if (op == NULL)
        return cf_http_reply_error(c, CF_EINVAL, "give op=mkdir, op=move or op=copy");
    if (strcmp(op, "mkdir") == 0) {
        if (t->root)
            return cf_http_reply_error(c, CF_EEXIST, "the root folder exists");
        rc = cf_fsdb_resolve(g->fs, w->client, t->parent, &folder, err);
        if (rc == 0)
            rc = need(g, w, folder, CF_FSDB_READ_WRITE, err);
        if (rc == 0)
            rc = cf_fsdb_mkdir(g->fs, w->client, folder, t->name, NULL, err);
        if (rc == 0)
            rc = cf_fsdb_lookup(g->fs, w->client, t->path, &out, err);
        if (rc < 0)
            return reply_err(c, rc, err);
        return reply_entry(c, MHD_HTTP_CREATED, &out);
    }
    if (strcmp(op, "move") != 0 && strcmp(op, "copy") != 0)
        return cf_http_reply_error(c, CF_EINVAL, "op is mkdir, move or copy");
    if (t->root)
        return cf_http_reply_error(c, CF_EINVAL, "the root folder cannot be moved or copied");
    rc = cf_fsdb_lookup(g->fs, w->client, t->path, &e, err);
    if (rc == 0)
        rc = need(g, w, e.parent, op[0] == 'm' ? CF_FSDB_READ_WRITE : CF_FSDB_READ, err);
    if (rc == 0)
        rc = dest(g, w, to, &dt, &folder, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    if (op[0] == 'm') {
        rc = cf_fsdb_move(g->fs, w->client, e.kind, e.id, folder, dt.name, err);
        if (rc == 0)
            rc = cf_fsdb_lookup(g->fs, w->client, dt.path, &out, err);
        if (rc < 0)
            return reply_err(c, rc, err);
        return reply_entry(c, MHD_HTTP_OK, &out);
    }
    if (e.kind != CF_FSDB_FILE)
        return cf_http_reply_error(c, CF_EINVAL, "only files can be copied");
    rc = cf_fsdb_file_copy(g->fs, w->client, e.id, folder, dt.name, w->user, &out, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    return reply_entry(c, MHD_HTTP_CREATED, &out);
}

/* ---- /api/v1/versions ---- */

static json_t *version_json(const struct cf_fsdb_version *v)
{
    char hex[CF_SHA512_HEX_LEN + 1];

    cf_sha512_hex(v->sha512, hex);
    /* Clients see UUIDs only when they ask; listing versions is
     * asking (an operator needs it to follow an object to the app). */
    return json_pack("{s:I,s:I,s:s,s:I,s:s,s:I,s:I,s:b}", "id", (json_int_t)v->id, "number",
                     (json_int_t)v->number, "uuid", v->uuid, "size", (json_int_t)v->size, "sha512",
                     hex, "created_ms", (json_int_t)v->created_ms, "by_user",
                     (json_int_t)v->by_user, "current", v->current);
}

/* The page GET /api/v1/versions/PATH asks for: *limit, and in *after the
 * number its cursor ('v' and the last version's number) names (0: from the
 * first). */
static int versions_page_args(struct MHD_Connection *c, size_t *limit, uint32_t *after, char *err)
{
    const char *q = cf_http_query(c, "after"), *end = NULL;
    uint64_t from = 0;
    int rc;

    rc = page_limit(c, limit, err);
    if (rc == 0 && q != NULL &&
        (q[0] != 'v' || cursor_num(q + 1, UINT32_MAX, &from, &end) < 0 || *end != '\0')) {
        cf_err_set(err, "after is not a cursor this listing gave");
        rc = CF_EINVAL;
    }
    *after = (uint32_t)from;
    return rc;
}

/* The reply of GET /api/v1/versions/PATH: one page of the file's versions
 * (n of v, borrowed), and the cursor of the next when more follow. */
static enum MHD_Result versions_page(struct MHD_Connection *c, const struct target *t,
                                     uint64_t file, const struct cf_fsdb_version *v, size_t n,
                                     bool more)
{
    json_t *arr = json_array();
    char next[24];

    for (size_t i = 0; i < n; i++)
        (void)json_array_append_new(arr, version_json(&v[i]));
    if (more)
        (void)snprintf(next, sizeof(next), "v%" PRIu32, v[n - 1].number);
    return cf_http_reply_json(c, MHD_HTTP_OK,
                              json_pack("{s:s,s:I,s:o,s:o}", "path", t->path, "file",
                                        (json_int_t)file, "versions", arr, "next",
                                        more ? json_string(next) : json_null()));
}

static enum MHD_Result versions(struct cf_gateway *g, struct MHD_Connection *c, const char *method,
                                const struct who *w, const struct target *t)
{
    const char *restore = cf_http_query(c, "restore"), *dl = cf_http_query(c, "download");
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0, list, more = false;
    struct cf_fsdb_version *v = NULL;
    struct cf_fsdb_entry e, out;
    enum cf_fsdb_level have = CF_FSDB_NONE;
    char err[CF_ERR_LEN] = "", page_err[CF_ERR_LEN] = "";
    enum MHD_Result res;
    uint64_t id = 0;
    uint32_t after = 0;
    size_t n = 0, limit = 0;
    int rc, page_rc = 0;

    if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return cf_http_reply_error(c, CF_EMETHOD, "use GET, or POST with restore=<id>");
    if (post && parse_id(restore, &id) < 0)
        return cf_http_reply_error(c, CF_EINVAL, "give restore=<version id>");
    if (!post && dl != NULL && parse_id(dl, &id) < 0)
        return cf_http_reply_error(c, CF_EINVAL, "give download=<version id>");
    /* A listing reads the entry, the access and the page in one fsdb call;
     * a bad page argument is answered after the path's own errors. */
    list = !post && id == 0;
    if (list)
        page_rc = versions_page_args(c, &limit, &after, page_err);
    if (list && page_rc == 0)
        rc = cf_fsdb_lookup_versions(g->fs, w->client, w->user, t->path, after, limit, &e, &have,
                                     &v, &n, &more, err);
    else
        rc = cf_fsdb_lookup_access(g->fs, w->client, w->user, t->path, false, &e, &have, err);
    if (rc == 0 && e.kind != CF_FSDB_FILE) {
        rc = CF_EINVAL;
        cf_err_set(err, "folders have no versions");
    }
    if (rc == 0)
        rc = allowed(have, post ? CF_FSDB_READ_WRITE : CF_FSDB_READ, err);
    if (rc == 0 && page_rc < 0) {
        rc = page_rc;
        cf_err_set(err, "%s", page_err);
    }
    if (rc < 0) {
        free(v);
        return reply_err(c, rc, err);
    }
    if (post) {
        rc = cf_fsdb_version_restore(g->fs, w->client, e.id, id, w->user, &out, err);
        if (rc < 0)
            return reply_err(c, rc, err);
        return reply_entry(c, MHD_HTTP_OK, &out);
    }
    if (list) {
        res = versions_page(c, t, e.id, v, n, more);
        free(v);
        return res;
    }
    rc = cf_fsdb_versions(g->fs, w->client, e.id, &v, &n, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    {
        size_t i = 0;
        while (i < n && v[i].id != id)
            i++;
        char disp[3 * CF_FSDB_NAME_MAX + 64];
        const char *hdrs[] = {"Content-Disposition", disp, NULL};
        disposition(e.name, disp, sizeof(disp));
        if (i == n)
            res = cf_http_reply_error(c, CF_ENOTFOUND, "the file has no version %" PRIu64, id);
        else
            res = serve_bytes(g, c, v[i].uuid, v[i].size, v[i].sha512, v[i].number,
                              w->link ? hdrs : NULL);
        free(v);
        return res;
    }
}

/* ---- the delete service's side of the trash ---- */

/* Nothing names these n objects (borrowed) of client any more: hand each to
 * the app's delete service (marked now, purged after its retention,
 * undeletable until then). A failure leaves an unnamed object recorded,
 * which costs space but loses nothing; it is logged for an audit. Used by
 * DELETE /api/v1/trash and by the retention thread alike. */
static void release_objects(struct cf_gateway *g, uint64_t client, const struct cf_fsdb_uuid *gone,
                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[64], derr[CF_ERR_LEN] = "";
        long status = 0;
        bool named = true;

        /* A file may name it again since it was found unused (a restore of
         * an emptied file): then it must not be deleted, and is no longer
         * pending. */
        if (cf_fsdb_uuid_named(g->fs, client, gone[i].text, &named, derr) < 0) {
            cf_log(CF_LOG_WARN, "client %" PRIu64 ": object %s stays pending: %s", client,
                   gone[i].text, derr);
            continue;
        }
        if (named) {
            cf_log(CF_LOG_INFO, "client %" PRIu64 ": object %s is named again; kept", client,
                   gone[i].text);
            if (cf_fsdb_release_done(g->fs, client, gone[i].text, derr) < 0)
                cf_log(CF_LOG_WARN, "client %" PRIu64 ": object %s stays pending: %s", client,
                       gone[i].text, derr);
            continue;
        }
        /* Idempotent (a repeat is answered 404): any app may take it. */
        (void)snprintf(path, sizeof(path), "/v1/objects/%s", gone[i].text);
        if (cf_upstream_json(g->app, "DELETE", path, NULL, DELETE_TIMEOUT_MS, true, &status, NULL,
                             derr) == 0 &&
            (status == 204 || status == 404)) {
            cf_log(CF_LOG_INFO, "client %" PRIu64 ": object %s deleted (no file uses it)", client,
                   gone[i].text);
            /* Taken: no longer pending. If this fails, the next pass sends the
             * DELETE again, which the app answers 404: harmless. */
            if (cf_fsdb_release_done(g->fs, client, gone[i].text, derr) < 0)
                cf_log(CF_LOG_WARN, "client %" PRIu64 ": object %s stays pending: %s", client,
                       gone[i].text, derr);
            continue;
        }
        cf_log(CF_LOG_WARN,
               "client %" PRIu64 ": object %s is no longer referenced but the app did not "
               "take it for deletion (status %ld%s%s)",
               client, gone[i].text, status, derr[0] ? ", " : "", derr);
    }
}

/* One retention pass: for every client, hand over the objects still pending
 * release, then delete for good the trash entries older than the retention
 * and release their objects. fsdb empties each client's entries and records
 * their objects as pending in one transaction, and forgets one only after
 * the app took it, so a pass killed anywhere (or an app that was down)
 * leaves work the next pass finishes (DESIGN §4). */
/* Abort client's S3 multipart uploads started more than the expiry ago:
 * their parts' objects are released. */
static void expire_uploads(struct cf_gateway *g, uint64_t client, uint64_t now)
{
    struct cf_fsdb_s3upload *u = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;
    bool more = false;

    if (g->s3_upload_expiry_ms == 0 || now <= g->s3_upload_expiry_ms)
        return;
    if (cf_fsdb_s3upload_list(g->fs, client, "", "", "", "", now - g->s3_upload_expiry_ms,
                              CF_LIST_MAX, &u, &n, &more, err) < 0) {
        cf_log(CF_LOG_WARN, "s3 upload expiry: client %" PRIu64 ": %s", client, err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct cf_fsdb_uuid *gone = NULL;
        size_t ngone = 0;

        err[0] = '\0';
        if (cf_fsdb_s3upload_remove(g->fs, client, u[i].id, &gone, &ngone, err) < 0) {
            cf_log(CF_LOG_WARN, "s3 upload expiry: client %" PRIu64 ": upload %s: %s", client,
                   u[i].id, err);
            continue;
        }
        cf_log(CF_LOG_INFO,
               "s3 upload expiry: client %" PRIu64 ": upload %s of %s/%s aborted (%zu parts)",
               client, u[i].id, u[i].bucket, u[i].key, ngone);
        release_objects(g, client, gone, ngone);
        free(gone);
    }
    free(u);
}

/* Batches of version expiry one client gets per pass at most, so that one
 * client with a long backlog does not hold up the others' trash. */
#define EXPIRE_BATCHES_PER_PASS 64

/* Delete the versions client's policy expires at now (fsdb.h "Version
 * expiry") and release their objects, a batch at a time while the lease
 * holds. */
static void expire_versions(struct cf_gateway *g, uint64_t client, uint64_t now)
{
    size_t total = 0, released = 0;
    char err[CF_ERR_LEN] = "";

    for (int b = 0; b < EXPIRE_BATCHES_PER_PASS && cf_lease_held(g->trash_lease); b++) {
        struct cf_fsdb_uuid *gone = NULL;
        size_t removed = 0, ngone = 0;
        int rc;

        err[0] = '\0';
        rc = cf_fsdb_versions_expire(g->fs, client, now, &removed, &gone, &ngone, err);
        if (rc < 0) {
            if (rc != CF_ENOTFOUND) /* the client went meanwhile */
                cf_log(CF_LOG_WARN, "version expiry: client %" PRIu64 ": %s", client, err);
            break;
        }
        release_objects(g, client, gone, ngone);
        free(gone);
        total += removed;
        released += ngone;
        if (removed < CF_FSDB_EXPIRE_BATCH)
            break;
    }
    if (total > 0)
        cf_log(CF_LOG_INFO,
               "version expiry: client %" PRIu64 ": %zu versions expired, %zu objects released",
               client, total, released);
}

static void trash_pass(struct cf_gateway *g)
{
    struct cf_fsdb_client *cl = NULL;
    char err[CF_ERR_LEN] = "";
    /* Not the wall clock if it jumped ahead: that would empty years of
     * trash at once (clockguard.h; the guard logs the jump). */
    uint64_t now = cf_clockguard_now(g->clock, NULL);
    size_t n = 0;

    /* before_ms 0 would mean every entry: a clock this early has nothing
     * to expire. */
    if (now <= g->trash_retention_ms || !cf_lease_held(g->trash_lease))
        goto out;
    if (cf_fsdb_client_list(g->fs, &cl, &n, err) < 0) {
        cf_log(CF_LOG_WARN, "trash retention: cannot list the clients: %s", err);
        goto out;
    }
    /* A client at a time while the lease holds: a gateway that lost it
     * stops before the next. */
    for (size_t i = 0; i < n && cf_lease_held(g->trash_lease); i++) {
        struct cf_fsdb_uuid *gone = NULL;
        size_t ngone = 0;
        int rc;

        /* First what an earlier pass or request left untold (killed, or the
         * app was down). */
        err[0] = '\0';
        if (cf_fsdb_release_pending(g->fs, cl[i].id, &gone, &ngone, err) == 0)
            release_objects(g, cl[i].id, gone, ngone);
        free(gone);
        gone = NULL;
        ngone = 0;
        err[0] = '\0';
        rc = cf_fsdb_trash_empty(g->fs, cl[i].id, 0, now - g->trash_retention_ms, 0, &gone, &ngone,
                                 err);
        if (rc < 0 && rc != CF_ENOTFOUND) /* ENOTFOUND: the client went meanwhile */
            cf_log(CF_LOG_WARN, "trash retention: client %" PRIu64 ": %s", cl[i].id, err);
        if (ngone > 0)
            cf_log(CF_LOG_INFO, "trash retention: client %" PRIu64 ": %zu objects unreferenced",
                   cl[i].id, ngone);
        if (rc == 0)
            release_objects(g, cl[i].id, gone, ngone);
        free(gone);
        expire_uploads(g, cl[i].id, now);
        expire_versions(g, cl[i].id, now);
        /* Past the app's purge retention an emptied file cannot come back. */
        err[0] = '\0';
        if (now > g->emptied_retention_ms &&
            cf_fsdb_emptied_expire(g->fs, cl[i].id, now - g->emptied_retention_ms, err) < 0)
            cf_log(CF_LOG_WARN, "trash retention: client %" PRIu64 ": emptied files: %s", cl[i].id,
                   err);
        err[0] = '\0';
        if (now > g->changes_retention_ms &&
            cf_fsdb_changes_prune(g->fs, cl[i].id, now - g->changes_retention_ms, NULL, err) < 0)
            cf_log(CF_LOG_WARN, "trash retention: client %" PRIu64 ": change journal: %s", cl[i].id,
                   err);
    }
out:
    free(cl);
}

static void *trasher_main(void *arg)
{
    struct cf_gateway *g = arg;

    pthread_mutex_lock(&g->stop_mu);
    while (!g->stop) {
        struct timespec ts = cf_deadline_in(g->trash_interval_ms);
        (void)pthread_cond_timedwait(&g->stop_cv, &g->stop_mu, &ts);
        if (!g->stop) {
            pthread_mutex_unlock(&g->stop_mu);
            trash_pass(g);
            pthread_mutex_lock(&g->stop_mu);
        }
    }
    pthread_mutex_unlock(&g->stop_mu);
    return NULL;
}

/* Stop the retention thread; a pass in progress finishes first. Idempotent. */
static void trasher_stop(struct cf_gateway *g)
{
    if (!g->trasher_started)
        return;
    pthread_mutex_lock(&g->stop_mu);
    g->stop = true;
    pthread_cond_broadcast(&g->stop_cv);
    pthread_mutex_unlock(&g->stop_mu);
    pthread_join(g->trasher, NULL);
    g->trasher_started = false;
}

/* ---- /api/v1/trash ---- */

static json_t *trash_json(const struct cf_fsdb_trash *t)
{
    return json_pack("{s:I,s:s,s:s,s:I,s:I,s:I}", "id", (json_int_t)t->id, "type",
                     t->kind == CF_FSDB_FOLDER ? "folder" : "file", "name", t->orig_name,
                     "orig_parent", (json_int_t)t->orig_parent, "deleted_ms",
                     (json_int_t)t->deleted_ms, "by_user", (json_int_t)t->by_user);
}

/* A cursor "t<ms>.<id>" that the trash and emptied listings give, into
 * *at and *id. Returns 0, or CF_EINVAL with err. */
static int time_cursor(const char *after, uint64_t *at, uint64_t *id, char *err)
{
    const char *end = NULL;

    if (after[0] != 't' || cursor_num(after + 1, INT64_MAX, at, &end) < 0 || *end != '.' ||
        cursor_num(end + 1, INT64_MAX, id, &end) < 0 || *end != '\0') {
        cf_err_set(err, "after is not a cursor this listing gave");
        return CF_EINVAL;
    }
    return 0;
}

/* The reply of the trash and emptied listings: the entries arr (taken) and,
 * when more follow, the cursor after the last one (its time at, its id). */
static enum MHD_Result reply_time_page(struct MHD_Connection *c, json_t *arr, bool more,
                                       uint64_t at, uint64_t id)
{
    char next[48];

    if (more)
        (void)snprintf(next, sizeof(next), "t%" PRIu64 ".%" PRIu64, at, id);
    return cf_http_reply_json(
        c, MHD_HTTP_OK,
        json_pack("{s:o,s:o}", "entries", arr, "next", more ? json_string(next) : json_null()));
}

/* GET /api/v1/trash: one page of the trash, of which the entries whose
 * original folder the caller may read (so a page may hold fewer than its
 * limit and still be followed by more). The cursor is 't', the last
 * entry's deletion time, '.', its id. */
static enum MHD_Result trash_page(struct cf_gateway *g, struct MHD_Connection *c,
                                  const struct who *w)
{
    const char *after = cf_http_query(c, "after");
    struct cf_fsdb_trash *list = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t at = 0, tid = 0;
    size_t n = 0, limit = 0;
    bool more = false;
    json_t *arr;
    int rc;

    rc = page_limit(c, &limit, err);
    if (rc == 0 && after != NULL)
        rc = time_cursor(after, &at, &tid, err);
    if (rc == 0)
        rc = cf_fsdb_trash_page(g->fs, w->client, at, tid, limit, &list, &n, &more, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        /* Entries from one folder by one user come in runs (a folder's
         * contents trashed together): one permission check per run. */
        if (i == 0 || list[i].orig_parent != list[i - 1].orig_parent ||
            list[i].by_user != list[i - 1].by_user)
            rc = need_trash(g, w, &list[i], CF_FSDB_READ, NULL);
        if (rc == 0)
            (void)json_array_append_new(arr, trash_json(&list[i]));
    }
    if (more) {
        at = list[n - 1].deleted_ms;
        tid = list[n - 1].id;
    }
    free(list);
    return reply_time_page(c, arr, more, at, tid);
}

/* ---- /api/v1/trash/emptied ---- */

/* An emptied file is judged as its trash entry was (need_trash). */
static int need_emptied(struct cf_gateway *g, const struct who *w, const struct cf_fsdb_emptied *e,
                        enum cf_fsdb_level want, char *err)
{
    struct cf_fsdb_trash t;

    memset(&t, 0, sizeof(t));
    t.kind = CF_FSDB_FILE;
    t.orig_parent = e->orig_parent;
    t.by_user = e->deleted_by;
    return need_trash(g, w, &t, want, err);
}

static json_t *emptied_json(const struct cf_fsdb_emptied *e)
{
    return json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "id", (json_int_t)e->id, "type",
                     "file", "name", e->orig_name, "orig_parent", (json_int_t)e->orig_parent,
                     "size", (json_int_t)e->size, "versions", (json_int_t)e->versions, "deleted_ms",
                     (json_int_t)e->deleted_ms, "by_user", (json_int_t)e->deleted_by, "emptied_ms",
                     (json_int_t)e->emptied_ms, "emptied_by", (json_int_t)e->emptied_by);
}

/* GET /api/v1/trash/emptied: one page of the files emptied from the trash
 * that may still come back, of which those whose original folder the caller
 * may read; the cursor is as the trash's ('t' emptied time '.' id). */
static enum MHD_Result emptied_page(struct cf_gateway *g, struct MHD_Connection *c,
                                    const struct who *w)
{
    const char *after = cf_http_query(c, "after");
    struct cf_fsdb_emptied *list = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t at = 0, eid = 0;
    size_t n = 0, limit = 0;
    bool more = false;
    json_t *arr;
    int rc;

    rc = page_limit(c, &limit, err);
    if (rc == 0 && after != NULL)
        rc = time_cursor(after, &at, &eid, err);
    if (rc == 0)
        rc = cf_fsdb_emptied_page(g->fs, w->client, at, eid, limit, &list, &n, &more, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || list[i].orig_parent != list[i - 1].orig_parent ||
            list[i].deleted_by != list[i - 1].deleted_by)
            rc = need_emptied(g, w, &list[i], CF_FSDB_READ, NULL);
        if (rc == 0)
            (void)json_array_append_new(arr, emptied_json(&list[i]));
    }
    if (more) {
        at = list[n - 1].emptied_ms;
        eid = list[n - 1].id;
    }
    free(list);
    return reply_time_page(c, arr, more, at, eid);
}

/* Ask the app to undelete each of the n objects. Returns how many it
 * brought back before the first refusal (all n on success) and sets *rc:
 * 0, CF_ENOTFOUND (the app says the object's purge has begun, or it is
 * unknown) or CF_EUNAVAIL, with err. */
static size_t undelete_objects(struct cf_gateway *g, const struct cf_fsdb_uuid *v, size_t n,
                               int *rc, char *err)
{
    size_t i;

    *rc = 0;
    for (i = 0; i < n; i++) {
        char path[80], derr[CF_ERR_LEN] = "";
        long status = 0;

        (void)snprintf(path, sizeof(path), "/v1/objects/%s/undelete", v[i].text);
        /* Idempotent: a live object is answered 204 too. */
        if (cf_upstream_json(g->app, "POST", path, NULL, DELETE_TIMEOUT_MS, true, &status, NULL,
                             derr) == 0 &&
            status == 204)
            continue;
        if (status == 404) {
            cf_err_set(err,
                       "the file's object %s is gone (its purge has begun): the file cannot "
                       "come back",
                       v[i].text);
            *rc = CF_ENOTFOUND;
        } else {
            cf_err_set(err, "the app did not undelete object %s (status %ld%s%s)", v[i].text,
                       status, derr[0] ? ", " : "", derr);
            *rc = CF_EUNAVAIL;
        }
        break;
    }
    return i;
}

/* Objects undeleted for a restore that did not happen: hand those nothing
 * names back to the delete service (pending first, so a failure here is
 * retried by the retention passes). */
static void undo_undelete(struct cf_gateway *g, uint64_t client, const struct cf_fsdb_uuid *v,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char derr[CF_ERR_LEN] = "";
        bool named = true;

        if (cf_fsdb_uuid_named(g->fs, client, v[i].text, &named, derr) < 0 || named)
            continue;
        if (cf_fsdb_release_add(g->fs, client, v[i].text, derr) < 0)
            cf_log(CF_LOG_WARN, "client %" PRIu64 ": object %s undeleted for nothing: %s", client,
                   v[i].text, derr);
    }
    release_objects(g, client, v, n);
}

/* POST /api/v1/trash/emptied/<id>/restore[?to=<path>]: bring an emptied
 * file back with all its versions. The app undeletes every object first and
 * only then does fsdb name them again, so fsdb never names an object the
 * purge may take (DESIGN §2). */
static enum MHD_Result emptied_restore(struct cf_gateway *g, struct MHD_Connection *c,
                                       const struct who *w, uint64_t id)
{
    const char *to = cf_http_query(c, "to");
    struct cf_fsdb_emptied e;
    struct cf_fsdb_uuid *uuids = NULL;
    struct target dt;
    char err[CF_ERR_LEN] = "";
    const char *name = NULL;
    uint64_t folder = 0;
    size_t nu = 0, done = 0;
    enum MHD_Result res;
    int rc;

    rc = cf_fsdb_emptied_get(g->fs, w->client, id, &e, &uuids, &nu, err);
    if (rc == CF_ENOTFOUND) {
        res = cf_http_reply_error(c, CF_ENOTFOUND, "no such emptied file");
        goto out;
    }
    /* As a restore from the trash: a write where it was. */
    if (rc == 0)
        rc = need_emptied(g, w, &e, CF_FSDB_READ_WRITE, err);
    if (rc == 0 && to != NULL) {
        rc = dest(g, w, to, &dt, &folder, err);
        name = dt.name;
    }
    /* Refuse a taken name before the app is asked anything. */
    if (rc == 0)
        rc = cf_fsdb_emptied_restore(g->fs, w->client, id, folder, name, true, err);
    if (rc == 0) {
        done = undelete_objects(g, uuids, nu, &rc, err);
        if (rc == CF_ENOTFOUND) {
            char derr[CF_ERR_LEN] = "";

            /* Gone for good: the record can only mislead. */
            if (cf_fsdb_emptied_drop(g->fs, w->client, id, derr) < 0)
                cf_log(CF_LOG_WARN, "client %" PRIu64 ": emptied file %" PRIu64 " stays: %s",
                       w->client, id, derr);
        }
    }
    if (rc == 0)
        rc = cf_fsdb_emptied_restore(g->fs, w->client, id, folder, name, false, err);
    if (rc < 0) {
        undo_undelete(g, w->client, uuids, done);
        res = reply_err(c, rc, err);
        goto out;
    }
    /* A hand-over that found an object unused before the restore may have
     * marked it since; fsdb names it now, so later hand-overs skip it
     * (release_objects), and this undoes an earlier one. */
    (void)undelete_objects(g, uuids, nu, &rc, err);
    if (rc < 0)
        cf_log(CF_LOG_WARN, "client %" PRIu64 ": emptied file %" PRIu64 " restored, but %s",
               w->client, id, err);
    cf_log(CF_LOG_INFO, "client %" PRIu64 ": emptied file %" PRIu64 " restored by user %" PRIu64,
           w->client, id, w->user);
    res = reply_empty(c, MHD_HTTP_NO_CONTENT);
out:
    free(uuids);
    return res;
}

/* /api/v1/trash/emptied[/<id>/restore]; rest is what follows "emptied". */
static enum MHD_Result emptied_api(struct cf_gateway *g, struct MHD_Connection *c,
                                   const char *method, const struct who *w, const char *rest)
{
    char idtext[24];
    const char *slash;
    uint64_t id = 0;
    size_t len;

    if (rest[0] == '\0') {
        if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
            return emptied_page(g, c, w);
        return cf_http_reply_error(c, CF_EMETHOD, "use GET");
    }
    slash = strchr(rest + 1, '/');
    len = slash != NULL ? (size_t)(slash - rest - 1) : 0;
    if (rest[0] != '/' || slash == NULL || strcmp(slash, "/restore") != 0 || len == 0 ||
        len >= sizeof(idtext))
        return cf_http_reply_error(c, CF_ENOTFOUND, "no such endpoint");
    memcpy(idtext, rest + 1, len);
    idtext[len] = '\0';
    if (parse_id(idtext, &id) < 0)
        return cf_http_reply_error(c, CF_ENOTFOUND, "no such emptied file");
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return cf_http_reply_error(c, CF_EMETHOD, "use POST");
    return emptied_restore(g, c, w, id);
}

static enum MHD_Result trash(struct cf_gateway *g, struct MHD_Connection *c, const char *method,
                             const struct who *w, const char *rest)
{
    struct cf_fsdb_trash one, *entry = NULL;
    struct cf_fsdb_uuid *gone = NULL;
    char err[CF_ERR_LEN] = "";
    enum MHD_Result res;
    uint64_t id = 0, folder = 0;
    size_t ngone = 0, total = 0;
    json_t *arr = NULL;
    int rc;

    if (strncmp(rest, "/emptied", 8) == 0 && (rest[8] == '\0' || rest[8] == '/'))
        return emptied_api(g, c, method, w, rest + 8);
    if (rest[0] == '/' && rest[1] != '\0' && parse_id(rest + 1, &id) < 0)
        return cf_http_reply_error(c, CF_ENOTFOUND, "no such trash entry");
    if (rest[0] != '\0' && rest[0] != '/')
        return cf_http_reply_error(c, CF_ENOTFOUND, "no such endpoint");
    if (id == 0 &&
        (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0))
        return trash_page(g, c, w);
    /* One entry by id, however big the trash. */
    if (id != 0) {
        rc = cf_fsdb_trash_get(g->fs, w->client, id, &one, err);
        if (rc == CF_ENOTFOUND)
            return cf_http_reply_error(c, CF_ENOTFOUND, "no such trash entry");
        if (rc < 0)
            return reply_err(c, rc, err);
        entry = &one;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) {
        arr = json_array();
        if (need_trash(g, w, entry, CF_FSDB_READ, NULL) == 0)
            (void)json_array_append_new(arr, trash_json(entry));
        res = cf_http_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "entries", arr));
        goto out;
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
        const char *op = cf_http_query(c, "op"), *to = cf_http_query(c, "to");
        struct target dt;
        if (entry == NULL || op == NULL || strcmp(op, "restore") != 0) {
            res =
                cf_http_reply_error(c, CF_EINVAL, "use POST " TRASH "/<id>?op=restore[&to=<path>]");
            goto out;
        }
        /* Taking an item out of the trash, to its place or elsewhere, is a
         * write where it was (README: restores need read-write). */
        rc = need_trash(g, w, entry, CF_FSDB_READ_WRITE, err);
        if (rc == 0 && to != NULL) {
            rc = dest(g, w, to, &dt, &folder, err);
            if (rc == 0)
                rc = cf_fsdb_trash_restore(g->fs, w->client, id, folder, dt.name, err);
        } else if (rc == 0) {
            rc = cf_fsdb_trash_restore(g->fs, w->client, id, 0, NULL, err);
        }
        res = rc < 0 ? reply_err(c, rc, err) : reply_empty(c, MHD_HTTP_NO_CONTENT);
        goto out;
    }
    if (strcmp(method, MHD_HTTP_METHOD_DELETE) != 0) {
        res = cf_http_reply_error(c, CF_EMETHOD, "use GET, POST or DELETE");
        goto out;
    }
    /* Emptying the whole trash destroys every user's deleted items: it needs
     * read-write on the root folder (admins have it). */
    rc = entry != NULL ? need_trash(g, w, entry, CF_FSDB_READ_WRITE, err)
                       : need(g, w, w->root, CF_FSDB_READ_WRITE, err);
    /* fsdb empties a bounded batch per transaction (the oldest
     * CF_FSDB_LIST_MAX entries): the whole trash takes batches until none
     * is left, or TRASH_BATCHES_MAX of them while others keep adding. */
    for (unsigned batch = 0; rc == 0 && batch < TRASH_BATCHES_MAX; batch++) {
        struct cf_fsdb_trash *peek = NULL;
        size_t np = 0;
        bool more = false;

        rc = cf_fsdb_trash_empty(g->fs, w->client, id, 0, w->user, &gone, &ngone, err);
        if (rc < 0)
            break;
        release_objects(g, w->client, gone, ngone);
        total += ngone;
        free(gone);
        gone = NULL;
        if (id != 0)
            break;
        rc = cf_fsdb_trash_page(g->fs, w->client, 0, 0, 1, &peek, &np, &more, err);
        free(peek);
        if (np == 0)
            break;
    }
    if (rc < 0) {
        res = reply_err(c, rc, err);
        goto out;
    }
    res = cf_http_reply_json(c, MHD_HTTP_OK, json_pack("{s:I}", "unreferenced", (json_int_t)total));
out:
    free(gone);
    return res;
}

/* ---- /api/v1/admin ---- */

/* Is the caller an admin user of the operator client? 0, CF_EPERM, or an
 * fsdb error. */
static int need_operator(struct cf_gateway *g, const struct who *w)
{
    struct cf_fsdb_client cl;
    struct cf_fsdb_user *u = NULL;
    size_t n = 0;
    bool ok = false;
    int rc;

    if (g->operator_client == NULL)
        return CF_EPERM;
    rc = cf_fsdb_client_get(g->fs, w->client, &cl, NULL);
    if (rc < 0)
        return rc == CF_ENOTFOUND ? CF_EPERM : rc;
    if (strcmp(cl.name, g->operator_client) != 0)
        return CF_EPERM;
    rc = cf_fsdb_user_list(g->fs, w->client, &u, &n, NULL);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (u[i].id == w->user)
            ok = u[i].admin && !u[i].disabled;
    free(u);
    if (rc < 0)
        return rc;
    return ok ? 0 : CF_EPERM;
}

static enum MHD_Result admin(struct cf_gateway *g, struct MHD_Connection *c, const char *method,
                             const struct who *w, const char *rest)
{
    int rc;

    if (cf__admin_is_accounts(rest))
        return cf__admin_accounts(c, g->fs, w->client, w->user, method, rest, NULL, 0);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return cf_http_reply_error(c, CF_EMETHOD, "the operator's view is read-only: use GET");
    rc = need_operator(g, w);
    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s",
                                   rc == CF_EPERM ? "only the operator's admins see this" : "");
    return cf__admin_serve(c, rest, g->monitors, g->app);
}

/* ---- /api/v1/changes: the change journal ---- */

/* A decimal number of 0..INT64_MAX, nothing else (untrusted). */
static int parse_num(const char *s, uint64_t *out)
{
    const char *end = NULL;

    if (cursor_num(s, INT64_MAX, out, &end) < 0 || *end != '\0')
        return CF_EINVAL;
    return 0;
}

/* path equals prefix or is below it ("/" is above everything). */
static bool path_under(const char *path, const char *prefix, size_t plen)
{
    if (plen <= 1)
        return true;
    return strncmp(path, prefix, plen) == 0 && (path[plen] == '\0' || path[plen] == '/');
}

static json_t *change_json(const struct cf_fsdb_change *ch)
{
    char hex[CF_SHA512_HEX_LEN + 1];
    json_t *j;

    j = json_pack("{s:I,s:s,s:s,s:s,s:I,s:I}", "seq", (json_int_t)ch->seq, "kind",
                  cf_fsdb_change_kind_name(ch->kind), "type",
                  ch->type == CF_FSDB_FOLDER ? "folder" : "file", "path", ch->path, "id",
                  (json_int_t)ch->item, "time_ms", (json_int_t)ch->time_ms);
    if (ch->old_path[0] != '\0')
        (void)json_object_set_new(j, "old_path", json_string(ch->old_path));
    if (ch->type == CF_FSDB_FILE && ch->version != 0) {
        cf_sha512_hex(ch->sha512, hex);
        (void)json_object_set_new(j, "version", json_integer((json_int_t)ch->version));
        (void)json_object_set_new(j, "size", json_integer((json_int_t)ch->size));
        (void)json_object_set_new(j, "sha512", json_string(hex));
    }
    return j;
}

/* May the caller read what change ch names? Judged on the folder holding
 * it; a folder gone since (deleted or moved into the trash) is judged as a
 * trash entry is (need_trash): only read-write on the root sees it. The
 * last folder judged and its answer are kept in *last_folder, *last_ok. */
static bool change_readable(struct cf_gateway *g, const struct who *w,
                            const struct cf_fsdb_change *ch, uint64_t *last_folder, bool *last_ok)
{
    struct cf_fsdb_trash t;

    if (*last_folder != ch->folder) {
        memset(&t, 0, sizeof(t));
        t.orig_parent = ch->folder;
        t.by_user = 0;
        *last_folder = ch->folder;
        *last_ok = need_trash(g, w, &t, CF_FSDB_READ, NULL) == 0;
    }
    return *last_ok;
}

/* GET /api/v1/changes?cursor=N|latest[&path=/P][&wait_s=S][&limit=L]: the
 * changes after cursor N under P that the caller may read, and the cursor
 * to ask with next. With wait_s, a poll that finds nothing waits up to S
 * seconds for a change (woken by this gateway's commits, and reading the
 * journal again every CHANGES_POLL_MS for other gateways'), holding no
 * database connection while it waits. 410: the journal no longer holds the
 * changes after N (pruned): rescan, then poll from the "cursor" given. */
static enum MHD_Result changes_api(struct cf_gateway *g, struct MHD_Connection *c,
                                   const char *method, const struct who *w)
{
    const char *qc = cf_http_query(c, "cursor"), *qp = cf_http_query(c, "path");
    const char *qw = cf_http_query(c, "wait_s"), *ql = cf_http_query(c, "limit");
    struct cf_fsdb_change *v = NULL;
    char err[CF_ERR_LEN] = "";
    uint64_t cursor = 0, wait_s = 0, limit = CHANGES_LIMIT_DEF, latest = 0, deadline, gen;
    uint64_t last_folder = 0;
    bool last_ok = false, more = false, gone = false;
    size_t plen = 0, n = 0;
    json_t *arr;
    int rc;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return cf_http_reply_error(c, CF_EMETHOD, "use GET");
    if (qc == NULL || (strcmp(qc, "latest") != 0 && parse_num(qc, &cursor) < 0) ||
        (qw != NULL && (parse_num(qw, &wait_s) < 0 || wait_s > CHANGES_WAIT_MAX_S)) ||
        (ql != NULL && (parse_num(ql, &limit) < 0 || limit < 1 || limit > CF_FSDB_CHANGES_MAX)))
        return cf_http_reply_error(c, CF_EINVAL,
                                   "cursor is a number or \"latest\", wait_s 0..%d, limit 1..%d",
                                   CHANGES_WAIT_MAX_S, CF_FSDB_CHANGES_MAX);
    if (qp != NULL) {
        plen = strlen(qp);
        if (qp[0] != '/' || plen > CF_FSDB_PATH_MAX)
            return cf_http_reply_error(c, CF_EINVAL, "path is a full path (\"/...\")");
        while (plen > 1 && qp[plen - 1] == '/')
            plen--;
    }
    if (strcmp(qc, "latest") == 0) {
        rc = cf_fsdb_changes_page(g->fs, w->client, UINT64_MAX >> 1, 1, &v, &n, &more, &gone,
                                  &latest, err);
        free(v);
        if (rc < 0)
            return reply_err(c, rc, err);
        return cf_http_reply_json(c, MHD_HTTP_OK,
                                  json_pack("{s:[],s:I}", "changes", "cursor", (json_int_t)latest));
    }
    deadline = (cf_now_ns() / 1000000u) + wait_s * 1000u;
    arr = json_array();
    for (;;) {
        gen = cf_fsdb_changes_gen(g->fs);
        rc = cf_fsdb_changes_page(g->fs, w->client, cursor, (size_t)limit, &v, &n, &more, &gone,
                                  &latest, err);
        if (rc < 0 || gone) {
            json_decref(arr);
            if (rc < 0)
                return reply_err(c, rc, err);
            return cf_http_reply_json(
                c, MHD_HTTP_GONE,
                json_pack(
                    "{s:s,s:s,s:I}", "error", "gone", "message",
                    "the journal no longer holds these changes: rescan, then poll from cursor",
                    "cursor", (json_int_t)latest));
        }
        for (size_t i = 0; i < n; i++) {
            const struct cf_fsdb_change *ch = &v[i];

            cursor = ch->seq;
            if (qp != NULL && !path_under(ch->path, qp, plen) &&
                !(ch->old_path[0] != '\0' && path_under(ch->old_path, qp, plen)))
                continue;
            if (change_readable(g, w, ch, &last_folder, &last_ok))
                (void)json_array_append_new(arr, change_json(ch));
        }
        free(v);
        v = NULL;
        if (json_array_size(arr) > 0 || more || atomic_load(&g->draining))
            break;
        {
            uint64_t now = (cf_now_ns() / 1000000u);
            if (now >= deadline)
                break;
            (void)cf_fsdb_changes_wait(
                g->fs, gen, deadline - now < CHANGES_POLL_MS ? deadline - now : CHANGES_POLL_MS);
        }
    }
    return cf_http_reply_json(
        c, MHD_HTTP_OK,
        json_pack("{s:o,s:I,s:b}", "changes", arr, "cursor", (json_int_t)cursor, "more", more));
}

/* ---- /api/v1/link: download links ---- */

/* Append path (borrowed) to b percent-encoded but for its slashes and
 * RFC 3986's unreserved bytes. Returns 0 or CF_ETOOLARGE. */
static int append_path(struct cf_buf *b, const char *path)
{
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        int rc = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                         strchr("-._~/", *p) != NULL
                     ? cf_buf_append(b, p, 1)
                     : cf_buf_printf(b, "%%%02X", *p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* GET /api/v1/link/PATH[?version=ID][&ttl_s=N]: a link that downloads the
 * file (or that version of it) by plain navigation for ttl_s seconds
 * (default LINK_TTL_DEFAULT_S, at most CF_AUTH_LINK_TTL_MAX), as the
 * caller, whose read permission is checked now and again when it is used. */
static enum MHD_Result link_api(struct cf_gateway *g, struct MHD_Connection *c, const char *method,
                                const struct who *w, const char *rest)
{
    const char *ver = cf_http_query(c, "version"), *ttl = cf_http_query(c, "ttl_s");
    enum cf_fsdb_level have = CF_FSDB_NONE;
    char err[CF_ERR_LEN] = "", what[CF_FSDB_PATH_MAX + 96], link[CF_AUTH_LINK_SIZE];
    uint64_t version = 0, ttl_s = LINK_TTL_DEFAULT_S, now = cf_wall_ms() / 1000;
    struct cf_fsdb_entry e;
    struct target t;
    struct cf_buf url;
    enum MHD_Result r;
    int rc;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return cf_http_reply_error(c, CF_EMETHOD, "use GET");
    if ((ver != NULL && parse_id(ver, &version) < 0) ||
        (ttl != NULL && (parse_id(ttl, &ttl_s) < 0 || ttl_s > CF_AUTH_LINK_TTL_MAX)))
        return cf_http_reply_error(c, CF_EINVAL, "version is a version id, ttl_s 1..%u",
                                   CF_AUTH_LINK_TTL_MAX);
    rc = split_path(rest, &t, err);
    if (rc == 0)
        rc = cf_fsdb_lookup_access(g->fs, w->client, w->user, t.path, false, &e, &have, err);
    if (rc == 0)
        rc = allowed(have, CF_FSDB_READ, err);
    if (rc == 0 && e.kind != CF_FSDB_FILE) {
        cf_err_set(err, "links are for files");
        rc = CF_EINVAL;
    }
    if (rc == 0)
        rc = link_what(version != 0 ? VERSIONS : FS, t.path, version, what, sizeof(what));
    if (rc == 0)
        rc = cf_auth_link_issue(&g->key, w->client, w->user, now, ttl_s, what, link);
    if (rc < 0)
        return reply_err(c, rc, err);
    cf_buf_init(&url, 4 * CF_FSDB_PATH_MAX + 256);
    rc = cf_buf_printf(&url, "%s", version != 0 ? VERSIONS : FS);
    if (rc == 0)
        rc = append_path(&url, t.path);
    if (rc == 0 && version != 0)
        rc = cf_buf_printf(&url, "?download=%" PRIu64 "&dl=%s", version, link);
    else if (rc == 0)
        rc = cf_buf_printf(&url, "?dl=%s", link);
    r = rc < 0 ? cf_http_reply_error(c, CF_EINTERNAL, "the link does not fit")
               : cf_http_reply_json(c, MHD_HTTP_OK,
                                    json_pack("{s:s,s:I}", "url", url.base, "expires_ms",
                                              (json_int_t)((now + ttl_s) * 1000)));
    cf_buf_fini(&url);
    return r;
}

/* ---- /api/v1/keys: the caller's S3 access keys ---- */

/* POST makes one (its secret is in this reply only), GET lists them (ids,
 * never secrets) with where the S3 API listens (its port, 0: none, and
 * region; for the web page), DELETE /api/v1/keys/<id> revokes one of the
 * caller's. */
static enum MHD_Result keys_api(struct cf_gateway *g, struct MHD_Connection *c, const char *method,
                                const struct who *w, const char *rest)
{
    char err[CF_ERR_LEN] = "";
    json_t *arr, *j;
    int rc;

    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 && rest[0] == '\0') {
        struct cf_fsdb_s3key k;
        memset(&k, 0, sizeof(k));
        k.client = w->client;
        k.user = w->user;
        rc = cf_sigv4_key_new(k.id, k.secret);
        if (rc == 0)
            rc = cf_fsdb_s3key_add(g->fs, &k, err);
        if (rc < 0) {
            explicit_bzero(&k, sizeof(k));
            return reply_err(c, rc, err);
        }
        j = json_pack("{s:s,s:s,s:I}", "access_key_id", k.id, "secret_access_key", k.secret,
                      "created_ms", (json_int_t)cf_wall_ms());
        explicit_bzero(&k, sizeof(k));
        return cf_http_reply_json(c, MHD_HTTP_CREATED, j);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 && rest[0] == '\0') {
        struct cf_fsdb_s3key *v = NULL;
        size_t n = 0;
        rc = cf_fsdb_s3key_list(g->fs, w->client, w->user, &v, &n, err);
        if (rc < 0)
            return reply_err(c, rc, err);
        arr = json_array();
        for (size_t i = 0; i < n; i++)
            (void)json_array_append_new(arr, json_pack("{s:s,s:I}", "access_key_id", v[i].id,
                                                       "created_ms", (json_int_t)v[i].created_ms));
        if (v != NULL)
            explicit_bzero(v, n * sizeof(*v));
        free(v);
        return cf_http_reply_json(c, MHD_HTTP_OK,
                                  json_pack("{s:o,s:{s:I,s:s}}", "keys", arr, "s3", "port",
                                            (json_int_t)atomic_load(&g->s3_port_seen), "region",
                                            g->s3_region));
    }
    if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0 && rest[0] == '/' && rest[1] != '\0') {
        rc = cf_fsdb_s3key_remove(g->fs, w->client, w->user, rest + 1, err);
        if (rc < 0)
            return reply_err(c, rc, err);
        return reply_empty(c, MHD_HTTP_NO_CONTENT);
    }
    return cf_http_reply_error(c, CF_EMETHOD, "POST or GET " KEYS ", DELETE " KEYS "/<id>");
}

/* ---- routing ---- */

/* `url` starts with prefix and then ends or goes on with '/'. */
static const char *under(const char *url, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strncmp(url, prefix, n) != 0 || (url[n] != '\0' && url[n] != '/'))
        return NULL;
    return url + n;
}

static enum MHD_Result route(struct cf_gateway *g, struct MHD_Connection *c, const char *url,
                             const char *method, void **req_cls)
{
    const char *rest;
    struct target t;
    char err[CF_ERR_LEN] = "";
    struct who w;
    int rc;

    if (strcmp(url, LOGIN) == 0) {
        struct req *r;
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return cf_http_refuse(c, req_cls, CF_EMETHOD, "use POST");
        r = cf_xcalloc(1, sizeof(*r));
        r->kind = REQ_LOGIN;
        cf_buf_init(&r->body, LOGIN_BODY_MAX);
        *req_cls = r;
        return MHD_YES;
    }
    if (strcmp(url, "/status") == 0) {
        json_t *j = json_pack("{s:s,s:I,s:I}", "role", "gateway", "requests",
                              (json_int_t)cf_http_server_requests(g->http), "in_flight",
                              (json_int_t)cf_http_server_in_flight(g->http));
        return cf_http_reply_json(c, MHD_HTTP_OK, j);
    }
    if (cf__web_owns(url))
        return cf__web_serve(c, method, url, req_cls);
    rest = under(url, FS);
    if (rest != NULL && strcmp(method, MHD_HTTP_METHOD_PUT) == 0)
        return put_begin(g, c, rest, req_cls);
    if (rest == NULL && under(url, VERSIONS) == NULL && under(url, TRASH) == NULL &&
        under(url, ADMIN) == NULL && under(url, KEYS) == NULL && under(url, LINK) == NULL &&
        strcmp(url, CHANGES) != 0)
        return cf_http_refuse(c, req_cls, CF_ENOTFOUND, "no such endpoint");
    if (cf_http_query(c, "dl") != NULL)
        rc = link_auth(g, c, url, method, cf_http_query(c, "dl"), &w);
    else
        rc = authenticate(g, c, &w);
    if (rc < 0)
        return cf_http_refuse(c, req_cls, rc, "%s",
                              rc == CF_EAUTH ? "log in first (POST " LOGIN ")" : "");
    rest = under(url, ADMIN);
    if (rest != NULL && cf__admin_is_accounts(rest) && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct req *r;
        if (strlen(method) >= sizeof(r->method))
            return cf_http_refuse(c, req_cls, CF_EMETHOD, "no such method");
        r = cf_xcalloc(1, sizeof(*r));
        r->kind = REQ_ADMIN;
        r->who = w;
        r->admin_rest = cf_xstrdup(rest);
        (void)snprintf(r->method, sizeof(r->method), "%s", method);
        cf_buf_init(&r->body, ADMIN_BODY_MAX);
        *req_cls = r;
        return MHD_YES;
    }
    if (rest != NULL)
        return admin(g, c, method, &w, rest);
    rest = under(url, FS);
    if (rest == NULL && under(url, KEYS) != NULL)
        return keys_api(g, c, method, &w, under(url, KEYS));
    if (rest == NULL && under(url, LINK) != NULL)
        return link_api(g, c, method, &w, under(url, LINK));
    if (rest == NULL && strcmp(url, CHANGES) == 0)
        return changes_api(g, c, method, &w);
    if (rest == NULL) {
        rest = under(url, TRASH);
        if (rest != NULL)
            return trash(g, c, method, &w, rest);
        rest = under(url, VERSIONS);
    }
    rc = split_path(rest, &t, err);
    if (rc < 0)
        return reply_err(c, rc, err);
    if (under(url, VERSIONS) != NULL)
        return versions(g, c, method, &w, &t);
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
        return fs_get(g, c, &w, &t);
    if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0)
        return fs_delete(g, c, &w, &t);
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
        return fs_post(g, c, &w, &t);
    return cf_http_reply_error(c, CF_EMETHOD, "use GET, HEAD, PUT, DELETE or POST");
}

static void req_free(struct req *r)
{
    if (r == NULL)
        return;
    cf_pump_free(r->pump);
    /* An upload in process not finished (its client went away mid-body)
     * records nothing. */
    if (r->up != NULL)
        r->svc->free(r->up);
    cf_buf_fini(&r->reply);
    /* Login and admin bodies may hold a password. */
    if (r->body.base != NULL)
        explicit_bzero(r->body.base, r->body.len);
    cf_buf_fini(&r->body);
    free(r->admin_rest);
    free(r);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
    struct cf_gateway *g = cls;
    struct req *r = *req_cls;

    (void)version;
    if (r == NULL)
        return route(g, c, url, method, req_cls);
    if (*upload_data_size > 0) {
        if (r->kind == REQ_PUT)
            put_body(r, upload_data, *upload_data_size);
        else if (cf_buf_append(&r->body, upload_data, *upload_data_size) < 0)
            r->body_too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->kind == REQ_PUT) {
        if (r->err < 0)
            return cf_http_reply_error(c, r->err, "the upload service failed");
        return put_finish(g, c, r);
    }
    if (r->kind == REQ_ADMIN) {
        if (r->body_too_big)
            return cf_http_reply_error(c, CF_ETOOLARGE, "an admin body is at most %d bytes",
                                       ADMIN_BODY_MAX);
        return cf__admin_accounts(c, g->fs, r->who.client, r->who.user, r->method, r->admin_rest,
                                  r->body.base, r->body.len);
    }
    return login_finish(g, c, r);
}

static void done(void *cls, struct MHD_Connection *c, void *state,
                 enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    req_free(state);
}

/* ---- life cycle ---- */

/* Load the token key, or make and save one if there is none. */
static int key_init(struct cf_auth_key *k, const char *path, char *err)
{
    int rc = cf_auth_key_load(k, path, err);

    if (rc != CF_ENOTFOUND)
        return rc;
    rc = cf_auth_key_generate(k);
    if (rc == 0)
        rc = cf_auth_key_save(k, path, err);
    if (rc == CF_EEXIST) /* another process made it first */
        rc = cf_auth_key_load(k, path, err);
    if (rc == 0)
        cf_log(CF_LOG_INFO, "made a new token key in \"%s\"; give every gateway the same one",
               path);
    return rc;
}

/* What a request needs (http.h): the gateway is the public door, its
 * callers carry tokens (auth.h), not cluster signatures; only /metrics
 * (decided by http.c) may need one. Its own calls to the app and objsrv
 * are signed with the cluster key. */
static int access_of(void *cls, const char *method, const char *url)
{
    (void)cls;
    (void)method;
    (void)url;
    return CF_ACCESS_PUBLIC;
}

int cf_gateway_start(const struct cf_gateway_conf *conf, struct cf_gateway **out,
                     uint16_t *port_out, char *err)
{
    struct cf_gateway *g = cf_xcalloc(1, sizeof(*g));
    struct cf_http_server_opts ho = {.listen_fd = -1,
                                     .handler = handler,
                                     .done = done,
                                     .cls = g,
                                     .role = "gateway",
                                     .conn_memory = CF_HTTP_GATEWAY_CONN_MEMORY,
                                     .tls_cert = conf->tls_cert,
                                     .tls_key = conf->tls_key,
                                     .limits = conf->http};
    struct cf_auth_limiter_conf lc = {.free_failures = LOGIN_PAIR_FREE,
                                      .base_delay_ms = LOGIN_DELAY_MS,
                                      .max_delay_ms = LOGIN_PAIR_MAX_MS,
                                      .forget_ms = LOGIN_FORGET_MS,
                                      .entries = LOGIN_ENTRIES};
    pthread_condattr_t ca;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct cf_auth_key rnd;
    char dummy[CF_AUTH_KEY_DEFAULT * 2 + 1] = "";
    int rc;

    rc = cf_upstream_parse(conf->app, &g->app, err);
    if (rc == 0)
        rc = cf_upstream_parse(conf->objsrv, &g->objsrv, err);
    if (rc < 0)
        goto out;
    g->ttl_s = conf->token_ttl_s;
    g->stall_s = (unsigned)conf->stall_s;
    g->read_cb = conf->read_cb;
    g->read_ctx = conf->read_ctx;
    g->m_reads_http = cf_metric_counter(READS_METRIC, READS_HELP, "via=\"http\"");
    g->m_reads_local = cf_metric_counter(READS_METRIC, READS_HELP, "via=\"in_process\"");
    g->upload = conf->upload;
    g->m_uploads_http = cf_metric_counter(UPLOADS_METRIC, UPLOADS_HELP, "via=\"http\"");
    g->m_uploads_local = cf_metric_counter(UPLOADS_METRIC, UPLOADS_HELP, "via=\"in_process\"");
    g->redirect_min = conf->redirect_min;
    g->redirect_ttl_s = conf->redirect_ttl_s;
    g->trash_retention_ms = conf->trash_retention_s * 1000u;
    g->trash_interval_ms = conf->trash_interval_ms;
    g->emptied_retention_ms = conf->emptied_retention_s * 1000u;
    g->changes_retention_ms = conf->changes_retention_s * 1000u;
    g->s3_upload_expiry_ms = conf->s3_upload_expiry_s * 1000u;
    if (conf->trash_retention_s > TRASH_RETENTION_MAX) {
        rc = CF_EINVAL;
        cf_err_set(err, "trash-retention-s is at most %llu", TRASH_RETENTION_MAX);
        goto out;
    }
    if (conf->emptied_retention_s > TRASH_RETENTION_MAX) {
        rc = CF_EINVAL;
        cf_err_set(err, "emptied-retention-s is at most %llu", TRASH_RETENTION_MAX);
        goto out;
    }
    pthread_mutex_init(&g->stop_mu, NULL);
    pthread_cond_init(&g->stop_cv, NULL);
    g->sync_init = true;
    g->hash_slots = (unsigned)conf->login_hash_slots;
    if (g->hash_slots == 0)
        g->hash_slots = ncpu > 0 && ncpu <= LOGIN_SLOTS_MAX ? (unsigned)ncpu : 1;
    g->hash_queue = (unsigned)conf->login_queue;
    g->hash_wait_ms = conf->login_queue_ms;
    if (conf->trusted_proxies != NULL && conf->trusted_proxies[0] != '\0') {
        size_t len = strlen(conf->trusted_proxies);
        g->proxies = cf_xcalloc(1, len + 3);
        g->proxies[0] = ',';
        for (size_t i = 0, k = 1; i < len; i++)
            if (conf->trusted_proxies[i] != ' ')
                g->proxies[k++] = conf->trusted_proxies[i];
        g->proxies[strlen(g->proxies)] = ',';
    }
    if (conf->beat.monitor != NULL && conf->beat.monitor[0] != '\0')
        g->monitors = cf_xstrdup(conf->beat.monitor);
    if (conf->operator_client != NULL && conf->operator_client[0] != '\0')
        g->operator_client = cf_xstrdup(conf->operator_client);
    g->s3_region = cf_xstrdup(conf->s3_region != NULL ? conf->s3_region : "us-east-1");
    pthread_mutex_init(&g->hash_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->hash_cv, &ca);
    pthread_condattr_destroy(&ca);
    g->hash_init = true;
    rc = cf_httpc_global_init();
    if (rc < 0) {
        cf_err_set(err, "cannot initialise libcurl");
        goto out;
    }
    rc = key_init(&g->key, conf->key_file, err);
    if (rc < 0)
        goto out;
    rc = cf_auth_limiter_new(&lc, &g->lim_pair);
    lc.free_failures = LOGIN_ADDR_FREE;
    if (rc == 0)
        rc = cf_auth_limiter_new(&lc, &g->lim_addr);
    lc.free_failures = LOGIN_ACCT_FREE;
    lc.max_delay_ms = LOGIN_ACCT_MAX_MS;
    if (rc == 0)
        rc = cf_auth_limiter_new(&lc, &g->lim_acct);
    if (rc < 0) {
        cf_err_set(err, "cannot create the login limiter");
        goto out;
    }
    /* A random password nobody knows, hashed at the cost new users get. */
    rc = cf_auth_key_generate(&rnd);
    if (rc == 0)
        cf_hex_encode(rnd.bytes, rnd.len, dummy);
    cf_auth_key_fini(&rnd);
    if (rc == 0)
        rc =
            cf_auth_password_hash(dummy, strlen(dummy), CF_AUTH_PBKDF2_ITER_DEFAULT, g->dummy_hash);
    if (rc < 0) {
        cf_err_set(err, "cannot hash the dummy password");
        goto out;
    }
    rc = cf_role_auth_serve("gateway", &conf->auth, access_of, &ho, &g->cred, err);
    if (rc < 0)
        goto out;
    cf_db_pool_set_default_wait((unsigned)conf->db_wait_ms);
    rc = cf_fsdb_open(conf->db, (unsigned)conf->db_pool, &g->fs, err);
    if (rc < 0)
        goto out;
    rc = cf_clockguard_open(conf->db, "gateway", conf->test_clock_offset_file, &g->clock, err);
    if (rc < 0)
        goto out;
    rc = cf_net_listen(conf->listen, 1024, &ho.listen_fd, port_out, err);
    if (rc < 0)
        goto out;
    rc = cf_http_server_start(&ho, &g->http, err);
    if (rc < 0)
        goto out;
    if (conf->s3_listen != NULL && conf->s3_listen[0] != '\0') {
        rc = cf__s3_start(g, conf, &g->s3, &g->s3_port, err);
        if (rc < 0)
            goto out;
        atomic_store(&g->s3_port_seen, g->s3_port);
    }
    if (g->trash_interval_ms > 0) {
        rc = cf_lease_open(conf->db, "gateway.trash", conf->listen, 0, &g->trash_lease, err);
        if (rc == 0 && cf_lease_start(g->trash_lease) < 0) {
            rc = CF_EINTERNAL;
            cf_err_set(err, "cannot start the lease thread");
        }
        if (rc < 0)
            goto out;
        if (pthread_create(&g->trasher, NULL, trasher_main, g) != 0) {
            rc = CF_EINTERNAL;
            cf_err_set(err, "cannot start the trash retention thread");
            goto out;
        }
        g->trasher_started = true;
    }
    *out = g;
    g = NULL;
out:
    cf_gateway_free(g);
    return rc;
}

void cf_gateway_drain(struct cf_gateway *g, unsigned timeout_s)
{
    atomic_store(&g->draining, true);
    trasher_stop(g);
    if (g->s3 != NULL)
        cf__s3_drain(g->s3, timeout_s);
    cf_http_server_drain(g->http, timeout_s);
}

uint16_t cf_gateway_s3_port(const struct cf_gateway *g)
{
    return g->s3 != NULL ? g->s3_port : 0;
}

void cf_gateway_free(struct cf_gateway *g)
{
    if (g == NULL)
        return;
    /* Before fsdb closes: the thread uses it. */
    trasher_stop(g);
    cf_lease_close(g->trash_lease);
    cf__s3_free(g->s3);
    cf_http_server_free(g->http);
    cf_role_auth_close(g->cred);
    cf_fsdb_close(g->fs);
    cf_clockguard_close(g->clock);
    cf_auth_limiter_free(g->lim_pair);
    cf_auth_limiter_free(g->lim_addr);
    cf_auth_limiter_free(g->lim_acct);
    if (g->hash_init) {
        pthread_mutex_destroy(&g->hash_mu);
        pthread_cond_destroy(&g->hash_cv);
    }
    cf_auth_key_fini(&g->key);
    cf_upstream_free(g->app);
    cf_upstream_free(g->objsrv);
    free(g->proxies);
    free(g->monitors);
    free(g->s3_region);
    free(g->operator_client);
    if (g->sync_init) {
        pthread_mutex_destroy(&g->stop_mu);
        pthread_cond_destroy(&g->stop_cv);
    }
    free(g);
}

static const char usage[] =
    "usage: coffer gateway [--listen HOST:PORT] [--db sqlite:FS-CATALOG] [--app URL]\n"
    "                      [--objsrv URL] [--key-file PATH] [--token-ttl-s N]\n"
    "                      [--trash-retention-s N] [--trash-interval-ms MS]\n"
    "                      [--emptied-retention-s N]\n"
    "\n"
    "Runs the client API (/api/v1/login, /api/v1/fs/PATH, /api/v1/versions/PATH,\n"
    "/api/v1/trash): users, folders, files, versions and the trash, over the\n"
    "upload service (app) and the download service (objsrv). Every\n"
    "--trash-interval-ms it deletes for good the trash entries older than\n"
    "--trash-retention-s, and the file versions each client's policy expires\n"
    "(`coffer admin client set --keep-versions N --keep-days D`), and hands their\n"
    "unreferenced objects to the app; a file emptied from the trash can come back\n"
    "(/api/v1/trash/emptied) for --emptied-retention-s, while the app keeps its objects.\n";

static int role_start(const void *conf, void **svc, uint16_t *port, char *err)
{
    struct cf_gateway *x = NULL;
    int rc = cf_gateway_start(conf, &x, port, err);

    *svc = x;
    return rc;
}

static void role_drain(void *svc, unsigned timeout_s)
{
    cf_gateway_drain(svc, timeout_s);
}

static void role_free(void *svc)
{
    cf_gateway_free(svc);
}

int cf_gateway_main(int argc, char **argv)
{
    static const struct cf_role role = {
        .name = "gateway",
        .opts = cf_gateway_conf_opts,
        .nopts = CF_ARRAY_LEN(cf_gateway_conf_opts),
        .usage = usage,
        .log_level_off = offsetof(struct cf_gateway_conf, log_level),
        .listen_off = offsetof(struct cf_gateway_conf, listen),
        .id_off = SIZE_MAX,
        .tls_off = offsetof(struct cf_gateway_conf, tls_cert),
        .tls_ca_off = offsetof(struct cf_gateway_conf, tls_ca),
        .beat_off = offsetof(struct cf_gateway_conf, beat),
        .start = role_start,
        .drain = role_drain,
        .free = role_free,
    };
    struct cf_gateway_conf conf = {0};

    return cf_role_run(&role, &conf, argc, argv);
}
