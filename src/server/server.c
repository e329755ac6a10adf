/*
 * server.c -- the embedded single-machine system (server.h).
 */
#include "coffer/server.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coffer/app.h"
#include "coffer/beat.h"
#include "coffer/auth.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/filer.h"
#include "coffer/fsdb.h"
#include "coffer/gateway.h"
#include "coffer/httpc.h"
#include "coffer/io.h"
#include "coffer/keyring.h"
#include "coffer/limits.h"
#include "coffer/log.h"
#include "coffer/monitor.h"
#include "coffer/objdb.h"
#include "coffer/objsrv.h"
#include "coffer/role.h"
#include "coffer/tls.h"

#define FILERS_MAX 16

struct server_conf {
    char *data;
    char *db;
    char *db_prefix;
    uint64_t filers;
    char *host;
    uint64_t port;
    uint64_t replicas;
    uint64_t filer_capacity;
    uint64_t filer_small_max;
    char *log_level;
    bool tls;
    bool tls_internal;
    uint64_t rebuild_after_s;

    struct cf_http_limits http; /* every role's (http.h) */
    bool insecure_no_auth;
    bool metrics_public;
    char *s3_region;
    char *s3_domain;
    uint64_t s3_complete_keepalive_ms;
};

#define OFF(f) offsetof(struct server_conf, f)
static const struct cf_conf_opt opts[] = {
    {"data", CF_CONF_STR, "./data", 0, 0, OFF(data), "directory for the databases and filers",
     false},
    {"db", CF_CONF_STR, "", 0, 0, OFF(db),
     "PostgreSQL server for the metadata, as \"postgres:CONNINFO\" (libpq key=value, no dbname; "
     "several hosts allowed); empty: SQLite files under --data",
     false},
    {"db-prefix", CF_CONF_STR, "coffer", 0, 0, OFF(db_prefix),
     "with --db, the databases are PREFIX_catalog, PREFIX_shard_1, PREFIX_fs and PREFIX_fs_1 "
     "(made if missing)",
     false},
    {"filers", CF_CONF_U64, "3", 1, FILERS_MAX, OFF(filers), "filers to run", false},
    {"host", CF_CONF_STR, "127.0.0.1", 0, 0, OFF(host), "address every role listens on", false},
    {"port", CF_CONF_U64, "8200", 0, 65000, OFF(port),
     "app on PORT, objsrv on PORT+1, gateway on PORT+2, monitor on PORT+3, the gateway's S3 API "
     "on PORT+4, filer i on PORT+100+i; 0: any free ports",
     false},
    {"replicas", CF_CONF_U64, "2", CF_REPLICAS_MIN, FILERS_MAX, OFF(replicas),
     "replicas of each object (at least 2, at most --filers)", true},
    {"filer-capacity", CF_CONF_SIZE, "0", 0, UINT64_MAX, OFF(filer_capacity),
     "bytes each filer may hold; 0: the filesystem's size", false},
    {"filer-small-max", CF_CONF_SIZE, "128K", 0, 16u << 20, OFF(filer_small_max),
     "each filer's --small-max: objects up to this size go to volume files; 0: none", false},
    {"log-level", CF_CONF_STR, "info", 0, 0, OFF(log_level), "error, warn, info or debug", true},
    {"tls", CF_CONF_BOOL, "false", 0, 0, OFF(tls),
     "serve HTTPS with the CA and certificate in DIR/tls (made on first start)", false},
    {"tls-internal", CF_CONF_BOOL, "true", 0, 0, OFF(tls_internal),
     "with --tls, the app, objsrv, monitor and filers serve HTTPS too (false: only the gateway)",
     false},

    {"rebuild-after-s", CF_CONF_U64, "300", 0, 30u * 86400, OFF(rebuild_after_s),
     "a filer offline this long gets its replicas rebuilt on the others; 0: never", false},
    CF_HTTP_LIMITS_CONF_OPTS(struct server_conf),
    {"insecure-no-auth", CF_CONF_BOOL, "false", 0, 0, OFF(insecure_no_auth),
     "no keys: requests between roles neither signed nor checked (benchmarks only)", false},
    {"metrics-public", CF_CONF_BOOL, "false", 0, 0, OFF(metrics_public),
     "serve GET /metrics without a signature", false},
    {"s3-region", CF_CONF_STR, "us-east-1", 0, 0, OFF(s3_region),
     "the S3 API's region (signatures' scope, GetBucketLocation)", false},
    {"s3-domain", CF_CONF_STR, NULL, 0, 0, OFF(s3_domain),
     "DOMAIN of virtual-hosted S3 requests (Host: BUCKET.DOMAIN); unset: path style only", false},
    {"s3-complete-keepalive-ms", CF_CONF_U64, "5000", 10, 60000, OFF(s3_complete_keepalive_ms),
     "milliseconds between the spaces an S3 CompleteMultipartUpload reply sends while the "
     "object is assembled",
     false},
};

static const char usage[] =
    "usage: coffer server [--data DIR] [--filers N] [--port P] [--replicas R] [--tls]\n"
    "                     [--db postgres:CONNINFO [--db-prefix NAME]]\n"
    "\n"
    "Runs the whole system on this machine: N filers, the app (upload service),\n"
    "objsrv (download service), the gateway (client API) and the monitor (filer\n"
    "tracking and the event log), with SQLite under DIR, or with --db on the\n"
    "PostgreSQL server CONNINFO names: databases NAME_catalog and NAME_shard_1\n"
    "(objects), NAME_fs and NAME_fs_1 (file system), made there if missing.\n"
    "On first start it makes client \"demo\" with admin user \"admin\" and\n"
    "prints the password once. With --tls every role serves HTTPS with a\n"
    "certificate signed by the CA in DIR/tls/ca.pem (both made on first start):\n"
    "give that file to clients (coffer login --ca DIR/tls/ca.pem); it prints a\n"
    "line \"export COFFER_GATEWAY=... COFFER_CA=...\" to paste into the shell\n"
    "that runs the CLI. Ctrl-C stops it.\n";

/* The URIs the roles use: the two catalogs, and the location of the first
 * shard of each (NULL on SQLite: a file next to its catalog). */
struct db_uris {
    char catalog[CF_DB_URI_MAX + 1], shard[CF_DB_URI_MAX + 1];
    char fs[CF_DB_URI_MAX + 1], fs_shard[CF_DB_URI_MAX + 1];
    bool pg;
};

struct server {
    /* Each role's settings, kept for its life. */
    struct cf_filer_conf fc[FILERS_MAX];
    struct cf_app_conf ac;
    struct cf_objsrv_conf oc;
    struct cf_gateway_conf gc;
    struct cf_monitor_conf mc;
    struct cf_filer *filers[FILERS_MAX];
    uint16_t filer_ports[FILERS_MAX];
    /* "BASE/o/": how each filer's replicas begin in a record (objsrv.h
     * replica_cb). */
    char filer_objs[FILERS_MAX][CF_OBJDB_URL_MAX + 8];
    size_t nfilers;
    struct cf_app *app;
    struct cf_objsrv *objsrv;
    struct cf_gateway *gateway;
    struct cf_monitor *monitor;
    /* The heartbeats of the roles to the monitor (beat.h). */
    struct cf_beat *beats[FILERS_MAX + 3];
    size_t nbeats;
    /* DATA/tls/: the files cf_tls_make keeps there (tls.h) */
    char tls_cert[4200], tls_key[4200], tls_ca[4200];
    struct db_uris uris; /* the databases of every role */
};

static int addr(char *out, size_t cap, const char *host, uint64_t port)
{
    int n = snprintf(out, cap, "%s:%" PRIu64, host, port);
    return n < 0 || (size_t)n >= cap ? CF_ETOOLARGE : 0;
}

/* ---- metadata on PostgreSQL (--db) ---- */

/* Database names: PREFIX (--db-prefix) and a suffix, under PostgreSQL's
 * 63-byte identifier limit, in characters that need no quoting anywhere. */
#define PG_PREFIX_MAX 40

static bool pg_prefix_ok(const char *p)
{
    size_t n = strlen(p);

    return n >= 1 && n <= PG_PREFIX_MAX &&
           strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_") == n && !(p[0] >= '0' && p[0] <= '9');
}

/* The db.h URI of database `name` on the server --db names: the conninfo
 * with dbname appended (libpq takes the last value of a repeated key). */
static int pg_uri(const struct server_conf *conf, const char *name, char *out, size_t cap,
                  char *err)
{
    int n = snprintf(out, cap, "%s dbname=%s", conf->db, name);

    if (n < 0 || (size_t)n >= cap) {
        cf_err_set(err, "--db is too long");
        return CF_EINVAL;
    }
    return 0;
}

/* Whether database `name` exists, asked through `admin`. 1 yes, 0 no, or an error. */
static int pg_db_exists(struct cf_db *admin, const char *name, char *err)
{
    int rc =
        cf_db_run(admin, NULL, 0, err, "SELECT 1 FROM pg_database WHERE datname = ?1", "t", name);

    return rc < 0 ? rc : rc == CF_DB_ROW;
}

/* Make the databases of --db that do not exist yet, through the server's
 * "postgres" maintenance database (the role needs CREATEDB for that; an
 * operator who made them beforehand needs no such right). */
static int pg_prepare(const struct server_conf *conf, const char *const *names, size_t n, char *err)
{
    char uri[CF_DB_URI_MAX + 1], sql[128];
    struct cf_db *admin = NULL;
    int rc = 0;

    for (size_t i = 0; i < n && rc >= 0; i++) {
        if (admin == NULL) {
            rc = pg_uri(conf, "postgres", uri, sizeof(uri), err);
            if (rc == 0)
                rc = cf_db_open(uri, &admin, err);
            if (rc < 0)
                break;
        }
        rc = pg_db_exists(admin, names[i], err);
        if (rc != 0)
            continue;
        (void)snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", names[i]);
        rc = cf_db_exec(admin, sql, err);
        /* Another server made it at the same moment: as good. */
        if (rc < 0 && pg_db_exists(admin, names[i], NULL) == 1)
            rc = 0;
        if (rc == 0)
            cf_log(CF_LOG_INFO, "made PostgreSQL database %s", names[i]);
    }
    cf_db_close(admin);
    return rc < 0 ? rc : 0;
}

static int db_uris(const struct server_conf *conf, struct db_uris *u, char *err)
{
    static const char *const suffix[4] = {"catalog", "shard_1", "fs", "fs_1"};
    char names[4][PG_PREFIX_MAX + 16];
    const char *list[4];
    char *out[4] = {u->catalog, u->shard, u->fs, u->fs_shard};
    int rc = 0;

    u->pg = conf->db[0] != '\0';
    if (!u->pg) {
        (void)snprintf(u->catalog, sizeof(u->catalog), "sqlite:%s/catalog.db", conf->data);
        (void)snprintf(u->fs, sizeof(u->fs), "sqlite:%s/fs-catalog.db", conf->data);
        return 0;
    }
    if (strncmp(conf->db, "postgres:", 9) != 0 || strncmp(conf->db, "postgres://", 11) == 0) {
        cf_err_set(err, "--db: give \"postgres:CONNINFO\" (libpq key=value), e.g. "
                        "\"postgres:host=db1 user=coffer\"");
        return CF_EINVAL;
    }
    if (!pg_prefix_ok(conf->db_prefix)) {
        cf_err_set(err, "--db-prefix: 1 to %d of a-z, 0-9 and _, not starting with a digit",
                   PG_PREFIX_MAX);
        return CF_EINVAL;
    }
    for (size_t i = 0; i < 4 && rc == 0; i++) {
        (void)snprintf(names[i], sizeof(names[i]), "%s_%s", conf->db_prefix, suffix[i]);
        list[i] = names[i];
        rc = pg_uri(conf, names[i], out[i], CF_DB_URI_MAX + 1, err);
    }
    if (rc == 0)
        rc = pg_prepare(conf, list, 4, err);
    return rc;
}

/* The file system database of the embedded system: one shard, and client
 * "demo" with admin user "admin". When the user is made, its password (random,
 * stored only hashed) goes into pw for the caller to print once; otherwise pw
 * is "". */
static int prepare_fsdb(const char *uri, const char *shard, unsigned replicas,
                        char pw[CF_AUTH_KEY_DEFAULT + 1], char *err)
{
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_shard *shards = NULL;
    struct cf_fsdb_client cl;
    struct cf_fsdb_user u;
    char hash[CF_AUTH_PWHASH_SIZE];
    size_t nshards = 0;
    int rc;

    pw[0] = '\0';
    rc = cf_fsdb_open(uri, 1, &fs, err);
    if (rc < 0)
        goto out;
    rc = cf_fsdb_shard_list(fs, &shards, &nshards, err);
    if (rc == 0 && nshards == 0)
        rc = cf_fsdb_shard_add(fs, shard, NULL, err);
    if (rc < 0)
        goto out;
    rc = cf_fsdb_client_find(fs, "demo", &cl, err);
    if (rc == CF_ENOTFOUND)
        rc = cf_fsdb_client_add(fs, "demo", "made by coffer server", replicas, &cl, err);
    if (rc < 0)
        goto out;
    rc = cf_fsdb_user_get(fs, cl.id, "admin", &u, err);
    if (rc != CF_ENOTFOUND)
        goto out;
    /* 96 random bits as 24 hex digits: typed once, then kept by the CLI. */
    rc = cf_auth_password_generate(96, pw);
    if (rc == 0)
        rc = cf_auth_password_hash(pw, strlen(pw), CF_AUTH_PBKDF2_ITER_DEFAULT, hash);
    if (rc == 0)
        rc = cf_fsdb_user_add(fs, cl.id, "admin", hash, true, NULL, err);
    if (rc < 0) {
        cf_err_set(err, "cannot make the demo user: %s", cf_strerror(rc));
        pw[0] = '\0';
    }
out:
    free(shards);
    cf_fsdb_close(fs);
    return rc;
}

/* Create the first shard if there is none, and register (or re-point) the filers. */
static int prepare_db(const char *uri, const char *shard, const struct server_conf *conf,
                      const struct server *s, const char *scheme, char *err)
{
    struct cf_objdb *odb = NULL;
    struct cf_objdb_shard *shards = NULL;
    size_t nshards = 0;
    int rc;

    rc = cf_objdb_open(uri, 1, &odb, err);
    if (rc < 0)
        goto out;
    cf_objdb_shard_list(odb, &shards, &nshards);
    if (nshards == 0) {
        rc = cf_objdb_shard_add(odb, 0, shard, NULL, err);
        if (rc < 0)
            goto out;
    }
    for (size_t i = 0; i < s->nfilers; i++) {
        struct cf_objdb_filer f;
        uint32_t id = (uint32_t)(i + 1);
        char url[CF_OBJDB_URL_MAX + 1];

        (void)snprintf(url, sizeof(url), "%s://%s:%u", scheme, conf->host,
                       (unsigned)s->filer_ports[i]);
        rc = cf_objdb_filer_get(odb, id, &f, err);
        if (rc == CF_ENOTFOUND) {
            memset(&f, 0, sizeof(f));
            f.id = id;
            (void)snprintf(f.url, sizeof(f.url), "%s", url);
            f.weight = 100;
            f.read_weight = CF_OBJDB_READ_WEIGHT_DEFAULT;
            (void)snprintf(f.status, sizeof(f.status), "unknown");
            rc = cf_objdb_filer_register(odb, &f, err);
        } else if (rc == 0 && strcmp(f.url, url) != 0) {
            rc = cf_objdb_filer_update(odb, id, url, f.weight, err);
        }
        if (rc < 0)
            goto out;
    }
out:
    free(shards);
    cf_objdb_close(odb);
    return rc;
}

/* With --tls: the CA and server certificate in DATA/tls (made if missing,
 * kept otherwise), trusted by every role of this process for its calls. */
static int prepare_tls(struct server *s, const struct server_conf *conf, char *err)
{
    const char *hosts[1];
    size_t nhosts = 0;
    char dir[4096];
    bool made = false;
    int rc;

    if (snprintf(dir, sizeof(dir), "%s/tls", conf->data) >= (int)sizeof(dir) ||
        snprintf(s->tls_cert, sizeof(s->tls_cert), "%s/%s", dir, CF_TLS_CERT) >=
            (int)sizeof(s->tls_cert) ||
        snprintf(s->tls_key, sizeof(s->tls_key), "%s/%s", dir, CF_TLS_KEY) >=
            (int)sizeof(s->tls_key) ||
        snprintf(s->tls_ca, sizeof(s->tls_ca), "%s/%s", dir, CF_TLS_CA_CERT) >=
            (int)sizeof(s->tls_ca)) {
        cf_err_set(err, "data directory path too long");
        return CF_EINVAL;
    }
    /* The address every role listens on, unless it is a wildcard. */
    if (strcmp(conf->host, "0.0.0.0") != 0 && strcmp(conf->host, "::") != 0 &&
        conf->host[0] != '\0')
        hosts[nhosts++] = conf->host;
    rc = cf_tls_make(dir, hosts, nhosts, false, &made, err);
    if (rc == 0 && made)
        cf_log(CF_LOG_INFO, "made TLS certificates in %s (clients trust %s)", dir, s->tls_ca);
    if (rc == 0)
        rc = cf_httpc_tls_init(s->tls_ca, "--tls-ca", err);
    return rc;
}

/* A role's setting decided here, as text, through the role's own table. */
#define SET(role, conf, name, value)                                                               \
    cf_conf_set(cf_##role##_conf_opts, cf_##role##_conf_nopts, (conf), (name), (value), err)

/* With TLS on (on), a role's certificate and key. */
static int set_tls(const struct cf_conf_opt *ropts, size_t n, void *rconf, const struct server *s,
                   bool on, char *err)
{
    int rc = 0;

    if (on)
        rc = cf_conf_set(ropts, n, rconf, "tls-cert", s->tls_cert, err);
    if (on && rc == 0)
        rc = cf_conf_set(ropts, n, rconf, "tls-key", s->tls_key, err);
    return rc;
}
#define SET_TLS(role, conf, on)                                                                    \
    set_tls(cf_##role##_conf_opts, cf_##role##_conf_nopts, (conf), s, (on), err)
/* The keys every role of the server uses (cred.h): made in the data
 * directory on the first start. */
struct keys {
    char cluster[4200];
    char pub[4200];
    bool insecure, metrics_public;
};

#define SET_AUTH(role, conf, k)                                                                    \
    set_auth(cf_##role##_conf_opts, cf_##role##_conf_nopts, (conf), &(conf)->auth, (k), err)

static int set_auth(const struct cf_conf_opt *table, size_t n, void *conf, struct cf_role_auth *a,
                    const struct keys *k, char *err)
{
    int rc = 0;

    if (!k->insecure) {
        rc = cf_conf_set(table, n, conf, "cluster-key-file", k->cluster, err);
        if (rc == 0)
            rc = cf_conf_set(table, n, conf, "operator-pub-file", k->pub, err);
    }
    a->insecure_no_auth = k->insecure;
    a->metrics_public = k->metrics_public;
    return rc;
}

/* Print " NAME=VALUE" for a shell: VALUE as is when it holds only
 * characters no shell treats specially, else in single quotes. */
static void print_env(const char *name, const char *value)
{
    bool plain = value[0] != '\0';

    for (const char *p = value; plain && *p != '\0'; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._:,+@%=-",
                       *p) != NULL;
    printf(" %s=", name);
    if (plain) {
        fputs(value, stdout);
        return;
    }
    putchar('\'');
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*p);
    }
    putchar('\'');
}

/* The absolute form of path, or path itself if it cannot be resolved. */
static const char *abs_path(const char *path, char out[PATH_MAX])
{
    return realpath(path, out) != NULL ? out : path;
}

/* Every role starts from its own option table's defaults (cf_conf_defaults),
 * exactly as `coffer ROLE` with no options would, and the server sets only
 * what it decides: addresses, databases, and how the roles find each
 * other. */
/* Register role, serving on port, with the server's own monitor. */
static int start_beat(struct server *s, const char *role, const char *scheme, const char *host,
                      uint16_t port, const char *monitor_url, char *err)
{
    struct cf_role_beat b = {.monitor = (char *)(uintptr_t)monitor_url};
    char url[256];

    (void)snprintf(url, sizeof(url), "%s://%s:%u", scheme, host, (unsigned)port);
    if (s->nbeats == CF_ARRAY_LEN(s->beats))
        return 0;
    return cf_beat_start(role, &b, url, &s->beats[s->nbeats++], err);
}

static void stop_beats(struct server *s)
{
    while (s->nbeats > 0)
        cf_beat_stop(s->beats[--s->nbeats]);
}

/* The gateway's small reads (gateway.h read_cb): the objsrv of this process. */
static int objsrv_read(void *ctx, const char *uuid, uint64_t first, uint64_t len, void *buf,
                       uint8_t *sha_out, char *err)
{
    return cf_objsrv_read(ctx, uuid, first, len, buf, sha_out, err);
}

/* objsrv's filers in process (objsrv.h replica_cb): the replicas whose URL
 * is one of this process's filers' (as registered: BASE/o/PATH). */
static int filer_read(void *ctx, const char *url, unsigned xform, const uint8_t *key,
                      uint64_t first, uint64_t len, void *buf, bool *mine, char *err)
{
    const struct server *s = ctx;

    *mine = false;
    for (size_t i = 0; i < s->nfilers; i++) {
        size_t n = strlen(s->filer_objs[i]);
        if (strncmp(url, s->filer_objs[i], n) == 0) {
            *mine = true;
            return cf_filer_read(s->filers[i], url + n, xform, key, first, len, buf, err);
        }
    }
    return 0;
}

/* The gateway's upload service (gateway.h upload): the app of this process. */
static int app_upload_open(void *ctx, unsigned replicas, const char *xform, void **up, char *err)
{
    struct cf_app_upload *u = NULL;
    int rc = cf_app_upload_open(ctx, replicas, xform, &u, err);

    *up = u;
    return rc;
}

static int app_upload_write(void *up, const void *p, size_t n)
{
    return cf_app_upload_write(up, p, n);
}

static int app_upload_finish(void *up, json_t **record, char *err)
{
    return cf_app_upload_finish(up, record, err);
}

static void app_upload_free(void *up)
{
    cf_app_upload_free(up);
}

/* objsrv's record source (objsrv.h record_cb): the app of this process. */
static int app_record(void *ctx, const char *uuid, struct cf_objdb_record *rec,
                      struct cf_objdb_filer filers[CF_OBJDB_REPLICAS_MAX], char *err)
{
    return cf_app_record(ctx, uuid, strlen(uuid), rec, filers, err);
}

static int start(struct server *s, const struct server_conf *conf, char *err)
{
    char listen[128], s3_listen[128], dir[4096], app_url[160], objsrv_url[160], key[4200];
    char monitor_url[160], pw[CF_AUTH_KEY_DEFAULT + 1] = "", mkey[4200];
    uint16_t app_port = 0, objsrv_port = 0, gateway_port = 0, monitor_port = 0;
    bool itls = conf->tls && conf->tls_internal; /* the internal roles serve HTTPS */
    const char *scheme = itls ? "https" : "http";
    struct keys k = {.insecure = conf->insecure_no_auth, .metrics_public = conf->metrics_public};
    struct db_uris *u = &s->uris;
    unsigned made = 0;
    int rc;

    if (conf->replicas > conf->filers) {
        cf_err_set(err,
                   "--replicas %" PRIu64 " needs at least as many filers (--filers %" PRIu64 ")",
                   conf->replicas, conf->filers);
        return CF_EINVAL;
    }
    /* Objects, databases (password hashes) and keys: the owner's only. */
    rc = cf_io_private_dir(conf->data, true, err);
    if (rc < 0)
        return rc;

    if (conf->tls) {
        rc = prepare_tls(s, conf, err);
        if (rc < 0)
            return rc;
    }
    if (!k.insecure) {
        rc = cf_cred_make_files(conf->data, false, &made, err);
        if (rc < 0)
            return rc;
        if (made > 0)
            cf_log(CF_LOG_INFO, "made %u key file(s) in %s", made, conf->data);
    }
    /* The master keys of encrypted objects (keyring.h), for the app and
     * objsrv; made once, rotated by the operator (README "Encryption keys"). */
    (void)snprintf(mkey, sizeof(mkey), "%s/%s", conf->data, CF_KEYRING_FILE);
    rc = cf_keyring_make_file(mkey, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        cf_log(CF_LOG_INFO, "made the master key file %s", mkey);
    (void)snprintf(k.cluster, sizeof(k.cluster), "%s/%s", conf->data, CF_CRED_CLUSTER_FILE);
    (void)snprintf(k.pub, sizeof(k.pub), "%s/%s", conf->data, CF_CRED_OPERATOR_PUB);
    for (size_t i = 0; i < conf->filers; i++) {
        struct cf_filer_conf *fc = &s->fc[i];
        if (snprintf(dir, sizeof(dir), "%s/filer%zu", conf->data, i + 1) >= (int)sizeof(dir) ||
            addr(listen, sizeof(listen), conf->host, conf->port ? conf->port + 101 + i : 0) < 0) {
            cf_err_set(err, "data directory path too long");
            return CF_EINVAL;
        }
        rc = cf_conf_defaults(cf_filer_conf_opts, cf_filer_conf_nopts, fc, err);
        if (rc == 0)
            rc = SET(filer, fc, "dir", dir);
        if (rc == 0)
            rc = SET(filer, fc, "listen", listen);
        if (rc == 0)
            rc = SET_TLS(filer, fc, itls);
        if (rc == 0)
            rc = SET_AUTH(filer, fc, &k);
        if (rc < 0)
            return rc;
        fc->id = i + 1;
        fc->capacity = conf->filer_capacity;
        fc->small_max = conf->filer_small_max;
        cf_http_limits_copy(&fc->http, &conf->http);
        rc = cf_filer_start(fc, NULL, &s->filers[i], &s->filer_ports[i], err);
        if (rc < 0)
            return rc;
        (void)snprintf(s->filer_objs[i], sizeof(s->filer_objs[i]), "%s://%s:%u/o/", scheme,
                       conf->host, (unsigned)s->filer_ports[i]);
        s->nfilers++;
    }
    rc = db_uris(conf, u, err);
    if (rc == 0)
        rc = prepare_db(u->catalog, u->pg ? u->shard : NULL, conf, s, scheme, err);
    if (rc < 0)
        return rc;
    /* The monitor first, so the summary table is true when the app,
     * which only re-reads it, starts. */
    if (addr(listen, sizeof(listen), conf->host, conf->port ? conf->port + 3 : 0) < 0)
        return CF_EINVAL;
    rc = cf_conf_defaults(cf_monitor_conf_opts, cf_monitor_conf_nopts, &s->mc, err);
    if (rc == 0)
        rc = SET(monitor, &s->mc, "listen", listen);
    if (rc == 0)
        rc = SET(monitor, &s->mc, "db", u->catalog);
    cf_http_limits_copy(&s->mc.http, &conf->http);
    if (rc == 0)
        rc = SET_TLS(monitor, &s->mc, itls);
    if (rc == 0)
        rc = SET_AUTH(monitor, &s->mc, &k);
    s->mc.rebuild_after_s = conf->rebuild_after_s;
    if (rc == 0)
        rc = cf_monitor_start(&s->mc, &s->monitor, &monitor_port, err);
    if (rc < 0)
        return rc;
    (void)snprintf(monitor_url, sizeof(monitor_url), "%s://%s:%u", scheme, conf->host,
                   (unsigned)monitor_port);
    for (size_t i = 0; i < s->nfilers; i++) {
        rc = start_beat(s, "filer", scheme, conf->host, s->filer_ports[i], monitor_url, err);
        if (rc < 0)
            return rc;
    }
    if (addr(listen, sizeof(listen), conf->host, conf->port) < 0)
        return CF_EINVAL;
    rc = cf_conf_defaults(cf_app_conf_opts, cf_app_conf_nopts, &s->ac, err);
    if (rc == 0)
        rc = SET(app, &s->ac, "listen", listen);
    if (rc == 0)
        rc = SET(app, &s->ac, "db", u->catalog);
    if (rc == 0)
        rc = SET_TLS(app, &s->ac, itls);
    if (rc == 0)
        rc = SET_AUTH(app, &s->ac, &k);
    if (rc == 0)
        rc = SET(app, &s->ac, "master-key-file", mkey);
    if (rc < 0)
        return rc;
    s->ac.replicas = conf->replicas;
    s->ac.track_filers = false; /* the monitor tracks, the app re-reads its table */
    /* One machine, one catalog file: shards grow next to it as they fill. */
    s->ac.auto_shard = strncmp(u->catalog, "sqlite:", 7) == 0;
    cf_http_limits_copy(&s->ac.http, &conf->http);
    rc = cf_app_start(&s->ac, &s->app, &app_port, err);
    if (rc == 0)
        rc = start_beat(s, "app", scheme, conf->host, app_port, monitor_url, err);
    if (rc < 0)
        return rc;
    (void)snprintf(app_url, sizeof(app_url), "%s://%s:%u", scheme, conf->host, (unsigned)app_port);
    /* The app's port is known only now: its automatic repairs go through it. */
    rc = cf_monitor_set_apps(s->monitor, app_url, err);
    if (rc < 0)
        return rc;
    if (addr(listen, sizeof(listen), conf->host, conf->port ? conf->port + 1 : 0) < 0)
        return CF_EINVAL;
    rc = cf_conf_defaults(cf_objsrv_conf_opts, cf_objsrv_conf_nopts, &s->oc, err);
    if (rc == 0)
        rc = SET(objsrv, &s->oc, "listen", listen);
    if (rc == 0)
        rc = SET(objsrv, &s->oc, "app", app_url);
    cf_http_limits_copy(&s->oc.http, &conf->http);
    if (rc == 0)
        rc = SET_TLS(objsrv, &s->oc, itls);
    if (rc == 0)
        rc = SET_AUTH(objsrv, &s->oc, &k);
    if (rc == 0)
        rc = SET(objsrv, &s->oc, "master-key-file", mkey);
    /* Records straight from the app: an HTTP hop to ourselves per record
     * was 16% of a 4 KiB download's samples. server_free frees objsrv
     * before the app. */
    s->oc.record_cb = app_record;
    s->oc.record_ctx = s->app;
    /* And its small reads from the filers of this process without HTTP:
     * the last loopback hop of a 4 KiB download (gateway.h read_cb). The
     * filers are freed last. */
    s->oc.replica_cb = filer_read;
    s->oc.replica_ctx = s;
    if (rc == 0)
        rc = cf_objsrv_start(&s->oc, &s->objsrv, &objsrv_port, err);
    if (rc == 0)
        rc = start_beat(s, "objsrv", scheme, conf->host, objsrv_port, monitor_url, err);
    if (rc < 0)
        return rc;
    (void)snprintf(objsrv_url, sizeof(objsrv_url), "%s://%s:%u", scheme, conf->host,
                   (unsigned)objsrv_port);
    /* And the monitor's synthetic probes download through it. */
    rc = cf_monitor_set_objsrv(s->monitor, objsrv_url, err);
    if (rc < 0)
        return rc;
    (void)snprintf(key, sizeof(key), "%s/gateway.key", conf->data);
    rc = prepare_fsdb(u->fs, u->pg ? u->fs_shard : NULL, (unsigned)conf->replicas, pw, err);
    if (rc < 0)
        return rc;
    if (addr(listen, sizeof(listen), conf->host, conf->port ? conf->port + 2 : 0) < 0)
        return CF_EINVAL;
    rc = cf_conf_defaults(cf_gateway_conf_opts, cf_gateway_conf_nopts, &s->gc, err);
    if (rc == 0)
        rc = SET(gateway, &s->gc, "listen", listen);
    if (rc == 0)
        rc = SET(gateway, &s->gc, "db", u->fs);
    if (rc == 0)
        rc = SET(gateway, &s->gc, "app", app_url);
    if (rc == 0)
        rc = SET(gateway, &s->gc, "objsrv", objsrv_url);
    if (rc == 0)
        rc = SET(gateway, &s->gc, "key-file", key);
    if (rc == 0 &&
        addr(s3_listen, sizeof(s3_listen), conf->host, conf->port ? conf->port + 4 : 0) < 0)
        rc = CF_EINVAL;
    if (rc == 0)
        rc = SET(gateway, &s->gc, "s3-listen", s3_listen);
    if (rc == 0)
        rc = SET(gateway, &s->gc, "s3-region", conf->s3_region);
    if (rc == 0 && conf->s3_domain != NULL)
        rc = SET(gateway, &s->gc, "s3-domain", conf->s3_domain);
    /* The web page's Admin view: the first client's admins are operators. */
    if (rc == 0)
        rc = SET(gateway, &s->gc, "operator-client", "demo");
    if (rc == 0)
        rc = SET(gateway, &s->gc, "monitor", monitor_url);
    cf_http_limits_copy(&s->gc.http, &conf->http);
    s->gc.s3_complete_keepalive_ms = conf->s3_complete_keepalive_ms;
    /* Small reads straight from objsrv: the HTTP hop to ourselves is one of
     * the four a 4 KiB download made. Large ones still stream over HTTP
     * (or are redirected to a filer). server_free frees the gateway before
     * objsrv. */
    s->gc.read_cb = objsrv_read;
    s->gc.read_ctx = s->objsrv;
    /* Every upload's body straight to the app: the HTTP hop to ourselves
     * was one of the five exchanges of a 4 KiB PUT, and a whole extra
     * loopback copy of a large one. server_free frees the gateway before
     * the app. */
    s->gc.upload = (struct cf_gateway_upload_svc){.open = app_upload_open,
                                                  .write = app_upload_write,
                                                  .finish = app_upload_finish,
                                                  .free = app_upload_free,
                                                  .ctx = s->app};
    if (rc == 0)
        rc = SET_TLS(gateway, &s->gc, conf->tls);
    if (rc == 0)
        rc = SET_AUTH(gateway, &s->gc, &k);
    if (rc == 0)
        rc = cf_gateway_start(&s->gc, &s->gateway, &gateway_port, err);
    if (rc == 0)
        rc = start_beat(s, "gateway", conf->tls ? "https" : "http", conf->host, gateway_port,
                        monitor_url, err);
    if (rc < 0)
        return rc;
    printf("coffer server ready: %zu filers, %" PRIu64 " replicas, data in %s%s%s%s\n", s->nfilers,
           conf->replicas, conf->data, u->pg ? ", metadata in PostgreSQL databases " : "",
           u->pg ? conf->db_prefix : "", u->pg ? "_*" : "");
    printf("coffer app listening on %s\n", app_url);
    printf("coffer objsrv listening on %s\n", objsrv_url);
    printf("coffer monitor listening on %s\n", monitor_url);
    for (size_t i = 0; i < s->nfilers; i++)
        printf("coffer filer %zu listening on %s://%s:%u\n", i + 1, scheme, conf->host,
               (unsigned)s->filer_ports[i]);
    printf("coffer gateway listening on %s://%s:%u\n", conf->tls ? "https" : "http", conf->host,
           (unsigned)gateway_port);
    if (conf->tls)
        printf("coffer server tls: clients verify with --ca %s\n", s->tls_ca);
    /* Printed once, on the start that made the user; only its hash is kept. */
    if (pw[0] != '\0')
        printf("coffer gateway login: client demo user admin password %s\n", pw);
    memset(pw, 0, sizeof(pw));
    /* After the lines above, which tests read in this order. */
    printf("coffer s3 listening on %s://%s:%u (region %s)\n", conf->tls ? "https" : "http",
           conf->host, (unsigned)cf_gateway_s3_port(s->gateway), conf->s3_region);
    if (!k.insecure)
        printf("coffer server keys: cluster %s, operator %s/%s (the CLI's --key-file)\n", k.cluster,
               conf->data, CF_CRED_OPERATOR_FILE);
    /* With --tls the CLI cannot guess the URLs nor the CA: one line to paste
     * into a shell before `coffer login` and the other commands. */
    if (conf->tls) {
        char url[160], path[PATH_MAX], op[4200];
        (void)snprintf(url, sizeof(url), "https://%s:%u", conf->host, (unsigned)gateway_port);
        printf("export");
        print_env("COFFER_GATEWAY", url);
        print_env("COFFER_CA", abs_path(s->tls_ca, path));
        print_env("COFFER_APP", app_url);
        print_env("COFFER_OBJSRV", objsrv_url);
        print_env("COFFER_MONITOR", monitor_url);
        if (!k.insecure) {
            (void)snprintf(op, sizeof(op), "%s/%s", conf->data, CF_CRED_OPERATOR_FILE);
            print_env("COFFER_OPERATOR_KEY_FILE", abs_path(op, path));
        }
        putchar('\n');
    }
    fflush(stdout);
    return 0;
}

static void server_drain(void *svc, unsigned timeout_s)
{
    struct server *s = svc;

    /* Front to back: no new client calls, no new downloads, then no new
     * uploads, then the filers. The registry hears first that they stop. */
    stop_beats(s);
    if (s->gateway != NULL)
        cf_gateway_drain(s->gateway, timeout_s);
    if (s->objsrv != NULL)
        cf_objsrv_drain(s->objsrv, timeout_s);
    if (s->app != NULL)
        cf_app_drain(s->app, timeout_s);
    if (s->monitor != NULL)
        cf_monitor_drain(s->monitor, timeout_s);
    for (size_t i = 0; i < s->nfilers; i++)
        cf_filer_drain(s->filers[i], timeout_s);
}

static void server_free(void *svc)
{
    struct server *s = svc;

    if (s == NULL)
        return;
    stop_beats(s);
    cf_gateway_free(s->gateway);
    cf_objsrv_free(s->objsrv);
    cf_app_free(s->app);
    cf_monitor_free(s->monitor);
    for (size_t i = 0; i < s->nfilers; i++)
        cf_filer_free(s->filers[i]);
    for (size_t i = 0; i < FILERS_MAX; i++)
        cf_conf_fini(cf_filer_conf_opts, cf_filer_conf_nopts, &s->fc[i]);
    cf_conf_fini(cf_app_conf_opts, cf_app_conf_nopts, &s->ac);
    cf_conf_fini(cf_objsrv_conf_opts, cf_objsrv_conf_nopts, &s->oc);
    cf_conf_fini(cf_gateway_conf_opts, cf_gateway_conf_nopts, &s->gc);
    cf_conf_fini(cf_monitor_conf_opts, cf_monitor_conf_nopts, &s->mc);
    free(s);
}

static int server_start(const void *conf, void **svc, uint16_t *port, char *err)
{
    struct server *s = cf_xcalloc(1, sizeof(*s));
    int rc = start(s, conf, err);

    (void)port;
    if (rc < 0) {
        server_drain(s, 0);
        server_free(s);
        s = NULL;
    }
    *svc = s;
    return rc;
}

int cf_server_main(int argc, char **argv)
{
    static const struct cf_role role = {
        .name = "server",
        .opts = opts,
        .nopts = CF_ARRAY_LEN(opts),
        .usage = usage,
        .log_level_off = offsetof(struct server_conf, log_level),
        .listen_off = SIZE_MAX, /* it prints a ready line per role */
        .id_off = SIZE_MAX,
        .start = server_start,
        .drain = server_drain,
        .free = server_free,
    };
    struct server_conf conf = {0};

    return cf_role_run(&role, &conf, argc, argv);
}
