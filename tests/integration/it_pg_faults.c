/*
 * it_pg_faults.c -- the data path on PostgreSQL when the database fails:
 * filers, `coffer app` and `coffer objsrv` as separate processes on a
 * throw-away PostgreSQL cluster (scripts/pg-test.sh --run starts it and
 * sets COFFER_TEST_PG and COFFER_TEST_PG_RESTART; without them the test
 * exits 77, SKIP).
 *   restart_under_load  two threads upload while PostgreSQL restarts
 *                       (pg_ctl restart -m fast ends every session): uploads
 *                       during the restart fail with a 5xx, never hang; after
 *                       it they succeed again without restarting coffer;
 *                       every acknowledged upload downloads with its bytes.
 *   pool_wait           an app with one connection per pool: while an upload
 *                       holds the shard's connection (waiting for the write
 *                       lock, which the test holds from a session of its
 *                       own), a look-up gets 503 with Retry-After within the
 *                       pool's wait instead of hanging; once the lock is
 *                       free, both work.
 *   app_commit_in_doubt the shard database is reached through a proxy in the
 *                       test that cuts the connection right after the server
 *                       committed (it drops the "COMMIT" completion): the app
 *                       settles the upload by reading the record back and
 *                       answers 201, with every replica kept.
 *   gateway_commit_in_doubt  the same for the gateway's file record: 201, the
 *                       file downloads, and its object is not handed to the
 *                       delete service.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include "coffer/auth.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/httpc.h"
#include "coffer/log.h"

/* Key of the advisory lock of the PostgreSQL backend's write transactions
 * (src/db/postgres.c). */
#define PG_WRITE_LOCK_KEY "109330110506354"

/* Uploads of the load, at most, and their size. */
#define LOAD_MAX  400
#define LOAD_SIZE (32 * 1024)

static const char *pg_base(void)
{
    const char *v = getenv("COFFER_TEST_PG");

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The URI of database name on the test cluster. */
static void pg_uri(char out[IT_PATH_MAX], const char *name)
{
    const char *base = pg_base();

    it_fmt(out, IT_PATH_MAX, "postgres:%s dbname=%s", base != NULL ? base : "", name);
}

static struct cf_db *pg_open(const char *name)
{
    char uri[IT_PATH_MAX], err[CF_ERR_LEN] = "";
    struct cf_db *db = NULL;

    pg_uri(uri, name);
    IT_CHECKF(cf_db_open(uri, &db, err) == 0, "open %s: %s", uri, err);
    return db;
}

static void pg_exec(struct cf_db *db, const char *sql)
{
    char err[CF_ERR_LEN] = "";

    IT_CHECKF(cf_db_exec(db, sql, err) == 0, "%s: %s", sql, err);
}

/* A new database for this case: "<tag>_<pid>". */
static void pg_new_db(char name[64], const char *tag)
{
    struct cf_db *admin = pg_open("postgres");
    char sql[128];

    it_fmt(name, 64, "%s_%ld", tag, (long)getpid());
    it_fmt(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    pg_exec(admin, sql);
    cf_db_close(admin);
}

/* Restart the server (COFFER_TEST_PG_RESTART) and wait for its end. */
static void pg_restart(void)
{
    const char *script = getenv("COFFER_TEST_PG_RESTART");
    int status = 0;
    pid_t pid;

    IT_CHECK(script != NULL);
    pid = fork();
    IT_CHECK(pid >= 0);
    if (pid == 0) {
        execl(script, script, (char *)NULL);
        _exit(127);
    }
    IT_CHECK(waitpid(pid, &status, 0) == pid);
    IT_CHECKF(it_exit_code(status) == 0, "%s: exit %d", script, it_exit_code(status));
}

/* ---- a proxy that loses the reply to a COMMIT ------------------------------- */

/* CommandComplete "COMMIT" as the server sends it: 'C', length 11, the tag
 * and its NUL. */
static const char commit_done[] = "C\0\0\0\x0b"
                                  "COMMIT";
#define COMMIT_DONE_LEN 12

/* TCP on 127.0.0.1 to the cluster's unix socket (harness/proxy.h). Armed,
 * it closes the first connection whose server sends a COMMIT completion,
 * before the client gets it: the transaction is committed, the client
 * cannot know. */
struct proxy {
    struct it_proxy relay;
    unsigned port;
    pthread_mutex_t mu;
    bool armed;
    unsigned skip; /* COMMIT completions let through before the cut */
    unsigned fired;
};

/* Should the connection be cut at these bytes from the server? */
static bool proxy_pass(void *arg, bool to_server, char *buf, size_t n)
{
    struct proxy *px = arg;
    bool cut = false;

    if (to_server || memmem(buf, n, commit_done, COMMIT_DONE_LEN) == NULL)
        return true;
    pthread_mutex_lock(&px->mu);
    cut = px->armed && px->skip == 0;
    if (px->armed && px->skip > 0)
        px->skip--;
    if (cut) {
        px->armed = false;
        px->fired++;
    }
    pthread_mutex_unlock(&px->mu);
    return !cut;
}

/* Start the proxy to the cluster of COFFER_TEST_PG ("host=DIR port=PORT
 * ..."). It runs until the case's process ends. */
static void proxy_start(struct proxy *px)
{
    const char *base = pg_base(), *h, *p;
    struct sockaddr_un server;
    char dir[IT_PATH_MAX];
    unsigned long port;

    memset(px, 0, sizeof(*px));
    pthread_mutex_init(&px->mu, NULL);
    IT_CHECK(base != NULL);
    h = strstr(base, "host=");
    p = strstr(base, "port=");
    IT_CHECK(h != NULL && p != NULL);
    it_fmt(dir, sizeof(dir), "%.*s", (int)strcspn(h + 5, " "), h + 5);
    port = strtoul(p + 5, NULL, 10);
    memset(&server, 0, sizeof(server));
    server.sun_family = AF_UNIX;
    it_fmt(server.sun_path, sizeof(server.sun_path), "%s/.s.PGSQL.%lu", dir, port);
    it_proxy_start(&px->relay, (const struct sockaddr *)&server, sizeof(server), proxy_pass, px);
    px->port = px->relay.port;
}

/* The URI of database name through the proxy. */
static void proxy_uri(const struct proxy *px, char out[IT_PATH_MAX], const char *name)
{
    it_fmt(out, IT_PATH_MAX, "postgres:host=127.0.0.1 port=%u user=coffer dbname=%s", px->port,
           name);
}

/* Arms the proxy to cut at the COMMIT completion after the next skip. */
static void proxy_arm(struct proxy *px, unsigned skip)
{
    pthread_mutex_lock(&px->mu);
    px->armed = true;
    px->skip = skip;
    pthread_mutex_unlock(&px->mu);
}

/* How often the proxy cut a connection; disarms it. */
static unsigned proxy_fired(struct proxy *px)
{
    unsigned n;

    pthread_mutex_lock(&px->mu);
    n = px->fired;
    px->armed = false;
    pthread_mutex_unlock(&px->mu);
    return n;
}

/* A cluster of n filers whose catalog and shard are PostgreSQL databases;
 * the app gets the extra arguments (NULL-terminated, at most 6). */
static void start_pg_via(struct it_cluster *c, size_t n, const struct proxy *px, const char *a1,
                         const char *a2, const char *a3, const char *a4)
{
    char catalog[64], shard[64], loc[IT_PATH_MAX], out[256];
    int st;

    it_cluster_init(c);
    pg_new_db(catalog, "catalog");
    pg_new_db(shard, "shard");
    pg_uri(c->db, catalog);
    if (px != NULL)
        proxy_uri(px, loc, shard);
    else
        pg_uri(loc, shard);
    for (size_t i = 0; i < n; i++)
        it_cluster_add_filer(c, 100, NULL);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "add", "--db", c->db, "--location",
                       loc, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer admin shard add: status 0x%x (see cmd.log)",
              (unsigned)st);
    it_app_start_ok(&c->app, c->db, "--purge-interval-ms", "0", a1, a2, a3, a4, NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, NULL);
}

/* start_pg_via without a proxy: the shard reached directly. */
static void start_pg(struct it_cluster *c, size_t n, const char *a1, const char *a2, const char *a3,
                     const char *a4)
{
    start_pg_via(c, n, NULL, a1, a2, a3, a4);
}

/* ---- the gateway on PostgreSQL ------------------------------------------------ */

#define TEST_PW  "correct horse"
#define AUTH_MAX (CF_AUTH_TOKEN_LEN + 64)

/* POST /api/v1/login as acme's boss; the token as a header line into auth
 * (may be NULL) on 200. Returns the status. */
static long gw_login(const struct it_proc *gw, char *auth)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *login, *out = NULL;
    long status = 0;

    login = json_pack("{s:s,s:s,s:s}", "client", "acme", "user", "boss", "password", TEST_PW);
    it_fmt(url, sizeof(url), "%s/api/v1/login", gw->base);
    IT_CHECKF(cf_httpc_json("POST", url, login, 20000, &status, &out, err) == 0, "login: %s", err);
    if (status == 200 && auth != NULL)
        it_fmt(auth, AUTH_MAX, "Authorization: Bearer %s", it_json_str(out, "token"));
    json_decref(login);
    json_decref(out);
    return status;
}

/* A file system database (its catalog direct, its shard through px, or
 * direct when px is NULL) with client "acme" and its admin "boss", a
 * gateway on it in front of c, and boss's token as a header line in auth. */
static void start_gateway(struct it_proc *gw, const struct it_cluster *c, const struct proxy *px,
                          char auth[AUTH_MAX])
{
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_client acme;
    char fscat[64], fsshard[64], caturi[IT_PATH_MAX], shuri[IT_PATH_MAX];
    char hash[CF_AUTH_PWHASH_SIZE];

    IT_EQ(cf_httpc_global_init(), 0);
    pg_new_db(fscat, "fscat");
    pg_new_db(fsshard, "fsshard");
    pg_uri(caturi, fscat);
    if (px != NULL)
        proxy_uri(px, shuri, fsshard);
    else
        pg_uri(shuri, fsshard);
    IT_EQ(cf_fsdb_open(caturi, 1, &fs, NULL), 0);
    IT_EQ(cf_fsdb_shard_add(fs, shuri, NULL, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "acme", NULL, 2, &acme, NULL), 0);
    IT_EQ(cf_auth_password_hash(TEST_PW, strlen(TEST_PW), CF_AUTH_PBKDF2_ITER_MIN, hash), 0);
    IT_EQ(cf_fsdb_user_add(fs, acme.id, "boss", hash, true, NULL, NULL), 0);
    cf_fsdb_close(fs);
    it_gateway_start_ok(gw, caturi, c->app.base, c->objsrv.base, "--trash-interval-ms", "0", NULL);
    IT_EQ(gw_login(gw, auth), 200);
}

/* PUT the payload (seed, LOAD_SIZE) to the gateway at path (under the
 * root). Returns the status. */
static long gw_put(const struct it_proc *gw, const char *auth, const char *path, uint64_t seed)
{
    struct it_body body;
    struct it_resp r;
    char target[256];
    long st;

    it_fmt(target, sizeof(target), "/api/v1/fs/%s", path);
    memset(&body, 0, sizeof(body));
    it_gen_init(&body.gen, seed, LOAD_SIZE);
    st = it_http_to(NULL, gw->base, "PUT", target, &body, &r, auth, NULL);
    it_resp_fini(&r);
    return st;
}

/* GET path from the gateway: 200 with the payload (seed, LOAD_SIZE). */
static void gw_get_ok(const struct it_proc *gw, const char *auth, const char *path, uint64_t seed)
{
    struct it_resp r;
    uint8_t want[CF_SHA512_LEN];
    char target[256];

    it_fmt(target, sizeof(target), "/api/v1/fs/%s", path);
    IT_EQ(it_http_to(NULL, gw->base, "GET", target, NULL, &r, auth, NULL), 200);
    IT_EQ(r.total, LOAD_SIZE);
    it_prng_sha512(seed, LOAD_SIZE, want);
    IT_CHECKF(memcmp(r.sha, want, sizeof(want)) == 0, "%s: wrong bytes", path);
    it_resp_fini(&r);
}

/* ---- restart under load ----------------------------------------------------- */

struct load {
    const char *app;
    const struct it_proc *gw; /* the gateway of gw_load_thread */
    const char *auth;
    pthread_mutex_t mu;
    struct it_record recs[LOAD_MAX];
    size_t nacked;               /* recs[0..nacked) were acknowledged (201) */
    size_t nfailed;              /* 5xx answers */
    size_t n503;                 /* of which 503 */
    uint64_t gw_seeds[LOAD_MAX]; /* files gw<seed>.bin the gateway acknowledged */
    size_t ngw;
    long bad; /* any other status (0: no answer at all), or 0 */
    volatile int stop;
};

/* After a 5xx a client waits before it tries again (the 503s carry
 * Retry-After: 1; the load waits less, to see the recovery soon). */
static void back_off(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
}

struct loader {
    struct load *ld;
    unsigned id;
};

static void *load_thread(void *arg)
{
    struct loader *lt = arg;
    struct load *ld = lt->ld;
    struct it_client cl;
    struct it_record rec;

    it_client_init(&cl);
    for (uint64_t i = 0; !ld->stop; i++) {
        uint64_t seed = (uint64_t)lt->id * 1000000u + i;
        long st = it_upload(&cl, ld->app, seed, LOAD_SIZE, 0, false, &rec);

        pthread_mutex_lock(&ld->mu);
        if (st == 201 && ld->nacked < LOAD_MAX)
            ld->recs[ld->nacked++] = rec;
        else if (st >= 500 && st <= 599)
            ld->nfailed++;
        if (st == 503)
            ld->n503++;
        else if (st != 201 && ld->bad == 0)
            ld->bad = st == 0 ? -1 : st;
        if (ld->nacked == LOAD_MAX || ld->bad != 0)
            ld->stop = 1;
        pthread_mutex_unlock(&ld->mu);
        if (st >= 500)
            back_off();
    }
    it_client_fini(&cl);
    return NULL;
}

/* Logins and uploads through the gateway: file gw<seed>.bin holds payload
 * seed. */
static void *gw_load_thread(void *arg)
{
    struct load *ld = arg;

    for (uint64_t seed = 5000000; !ld->stop; seed++) {
        char path[64];
        long st;

        it_fmt(path, sizeof(path), "gw%" PRIu64 ".bin", seed);
        /* A login too: the database away is no wrong password. */
        st = gw_login(ld->gw, NULL);
        if (st == 200)
            st = gw_put(ld->gw, ld->auth, path, seed);
        pthread_mutex_lock(&ld->mu);
        if (st == 201 && ld->ngw < LOAD_MAX)
            ld->gw_seeds[ld->ngw++] = seed;
        else if (st >= 500 && st <= 599)
            ld->nfailed++;
        if (st == 503)
            ld->n503++;
        if (st != 201 && (st < 500 || st > 599) && ld->bad == 0)
            ld->bad = st == 0 ? -1 : st;
        if (ld->ngw == LOAD_MAX || ld->bad != 0)
            ld->stop = 1;
        pthread_mutex_unlock(&ld->mu);
        if (st >= 500)
            back_off();
    }
    return NULL;
}

struct acked_wait {
    struct load *ld;
    size_t at_least, gw_at_least;
};

static bool acked(void *arg)
{
    struct acked_wait *w = arg;
    bool yes;

    pthread_mutex_lock(&w->ld->mu);
    yes = (w->ld->nacked >= w->at_least && w->ld->ngw >= w->gw_at_least) || w->ld->stop;
    pthread_mutex_unlock(&w->ld->mu);
    return yes;
}

static void t_restart_under_load(void *arg)
{
    struct it_cluster c;
    struct load *ld = calloc(1, sizeof(*ld));
    struct loader lt[2];
    struct it_proc gw;
    pthread_t th[3];
    struct acked_wait w;
    char auth[AUTH_MAX];
    size_t before, gw_before, failed_before;

    (void)arg;
    IT_CHECK(ld != NULL);
    start_pg(&c, 3, NULL, NULL, NULL, NULL);
    start_gateway(&gw, &c, NULL, auth);
    ld->app = c.app.base;
    ld->gw = &gw;
    ld->auth = auth;
    pthread_mutex_init(&ld->mu, NULL);
    for (unsigned i = 0; i < 2; i++) {
        lt[i].ld = ld;
        lt[i].id = i + 1;
        IT_EQ(pthread_create(&th[i], NULL, load_thread, &lt[i]), 0);
    }
    IT_EQ(pthread_create(&th[2], NULL, gw_load_thread, ld), 0);
    w.ld = ld;
    w.at_least = 10;
    w.gw_at_least = 5;
    IT_CHECKF(it_wait_for(acked, &w, 300, 100), "no upload acknowledged before the restart");
    pthread_mutex_lock(&ld->mu);
    before = ld->nacked;
    gw_before = ld->ngw;
    failed_before = ld->nfailed;
    pthread_mutex_unlock(&ld->mu);

    pg_restart();

    /* Reconnected by themselves: uploads succeed again, on both roles. */
    w.at_least = before + 20;
    w.gw_at_least = gw_before + 10;
    IT_CHECKF(it_wait_for(acked, &w, 300, 100), "uploads did not succeed again after the restart");
    ld->stop = 1;
    for (unsigned i = 0; i < 3; i++)
        IT_EQ(pthread_join(th[i], NULL), 0);
    IT_CHECKF(ld->bad == 0, "an upload or login got status %ld (-1: no answer)", ld->bad);
    IT_CHECKF(ld->nacked >= before + 20 && ld->ngw >= gw_before + 10,
              "only %zu uploads and %zu files acknowledged", ld->nacked, ld->ngw);
    /* A database that is away is a passing state: 503, to be retried. */
    IT_CHECKF(ld->n503 == ld->nfailed, "%zu of %zu failed uploads got a 5xx other than 503",
              ld->nfailed - ld->n503, ld->nfailed);
    printf("restart_under_load: %zu uploads and %zu files acknowledged (%zu and %zu before the"
           " restart), %zu failed with a 5xx (%zu before; %zu of them 503)\n",
           ld->nacked, ld->ngw, before, gw_before, ld->nfailed, failed_before, ld->n503);

    /* Nothing acknowledged was lost: the record and the bytes are there. */
    for (size_t i = 0; i < ld->nacked; i++) {
        struct it_record rec;

        IT_EQ(it_info(c.app.base, ld->recs[i].uuid, &rec), 200);
        it_download_ok(NULL, c.objsrv.base, &ld->recs[i]);
    }
    for (size_t i = 0; i < ld->ngw; i++) {
        char path[64];

        it_fmt(path, sizeof(path), "gw%" PRIu64 ".bin", ld->gw_seeds[i]);
        gw_get_ok(&gw, auth, path, ld->gw_seeds[i]);
    }
    it_proc_stop_ok(&gw);
    it_cluster_stop(&c);
    pthread_mutex_destroy(&ld->mu);
    free(ld);
}

/* ---- the pool's wait ----------------------------------------------------------- */

struct one_upload {
    const char *app;
    long status;
    struct it_record rec;
};

static void *upload_thread(void *arg)
{
    struct one_upload *u = arg;

    u->status = it_upload(NULL, u->app, 77, LOAD_SIZE, 0, false, &u->rec);
    return NULL;
}

struct lock_wait {
    struct cf_db *watch;
};

/* A session of the server waits for an advisory lock. */
static bool lock_waiter(void *arg)
{
    struct lock_wait *w = arg;
    int64_t n = 0;

    IT_EQ(cf_db_run(w->watch, &n, 1, NULL,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND wait_event = 'advisory'",
                    ""),
          CF_DB_ROW);
    return n > 0;
}

static void t_pool_wait(void *arg)
{
    struct it_cluster c;
    struct it_record a, got;
    struct one_upload up;
    struct it_resp resp;
    struct cf_db *holder, *watch;
    struct lock_wait lw;
    char target[128], retry[16], shard[64];
    pthread_t th;
    long st;

    (void)arg;
    start_pg(&c, 2, "--db-pool", "1", "--db-wait-ms", "300");
    it_upload_ok(NULL, c.app.base, 1, LOAD_SIZE, 0, false, &a);

    /* The test holds the shard's write lock: the next upload's transaction
     * waits for it (up to the busy timeout) on the shard's only connection. */
    it_fmt(shard, sizeof(shard), "shard_%ld", (long)getpid());
    holder = pg_open(shard);
    watch = pg_open(shard);
    pg_exec(holder, "SELECT pg_advisory_lock(" PG_WRITE_LOCK_KEY ")");
    up.app = c.app.base;
    up.status = 0;
    IT_EQ(pthread_create(&th, NULL, upload_thread, &up), 0);
    lw.watch = watch;
    IT_CHECKF(it_wait_for(lock_waiter, &lw, 100, 20), "the upload never waited for the lock");

    /* A look-up needs that connection too: 503 past the wait, not a hang. */
    it_fmt(target, sizeof(target), "/v1/objects/%s/info", a.uuid);
    memset(&resp, 0, sizeof(resp));
    st = it_http_to(NULL, c.app.base, "GET", target, NULL, &resp, NULL);
    IT_EQ(st, 503);
    it_check_error_body(&resp, "EBUSY");
    IT_CHECK(it_resp_header(&resp, "Retry-After", retry, sizeof(retry)));
    it_resp_fini(&resp);

    pg_exec(holder, "SELECT pg_advisory_unlock(" PG_WRITE_LOCK_KEY ")");
    IT_EQ(pthread_join(th, NULL), 0);
    /* The lock was held for less than the busy timeout (5 s), unless this
     * machine is very slow: then the upload fails cleanly. */
    IT_CHECKF(up.status == 201 || up.status == 503, "the held-up upload got %ld", up.status);
    IT_EQ(it_info(c.app.base, a.uuid, &got), 200);
    if (up.status == 201)
        it_download_ok(NULL, c.objsrv.base, &up.rec);
    cf_db_close(holder);
    cf_db_close(watch);
    it_cluster_stop(&c);
}

/* ---- a commit in doubt ------------------------------------------------------------ */

static void t_app_commit_in_doubt(void *arg)
{
    struct it_cluster c;
    struct it_record warm, rec, got;
    struct proxy px;

    (void)arg;
    proxy_start(&px);
    start_pg_via(&c, 2, &px, NULL, NULL, NULL, NULL);
    /* The first upload reserves a block of ids (an autocommit UPDATE). */
    it_upload_ok(NULL, c.app.base, 1, LOAD_SIZE, 0, false, &warm);
    /* The upload holds its targets first (a transaction of its own on the
     * shard); the record's COMMIT is the second. */
    proxy_arm(&px, 1);
    it_upload_ok(NULL, c.app.base, 2, LOAD_SIZE, 0, false, &rec);
    IT_EQ(proxy_fired(&px), 1);
    /* Committed, and every replica it lists is still there. */
    IT_EQ(it_info(c.app.base, rec.uuid, &got), 200);
    IT_EQ(got.nfilers, 2);
    IT_EQ(it_cluster_copies(&c, rec.path), 2);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_cluster_stop(&c);
}

static void t_gateway_commit_in_doubt(void *arg)
{
    struct it_cluster c;
    struct it_proc gw;
    struct proxy px;
    struct it_resp r;
    struct it_record rec;
    char auth[AUTH_MAX], uuid[64];
    json_t *j;

    (void)arg;
    proxy_start(&px);
    start_pg(&c, 2, NULL, NULL, NULL, NULL);
    start_gateway(&gw, &c, &px, auth);
    proxy_arm(&px, 0);
    IT_EQ(gw_put(&gw, auth, "kept.bin", 9), 201);
    IT_EQ(proxy_fired(&px), 1);

    /* The file is there, and its object was not handed to the delete
     * service (it_info fails on a record marked deleted). */
    gw_get_ok(&gw, auth, "kept.bin", 9);
    IT_EQ(it_http_to(NULL, gw.base, "GET", "/api/v1/versions/kept.bin", NULL, &r, auth, NULL), 200);
    j = it_resp_json(&r);
    it_fmt(uuid, sizeof(uuid), "%s",
           it_json_str(json_array_get(json_object_get(j, "versions"), 0), "uuid"));
    json_decref(j);
    it_resp_fini(&r);
    IT_EQ(it_info(c.app.base, uuid, &rec), 200);
    it_proc_stop_ok(&gw);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"restart_under_load", t_restart_under_load, NULL, 120},
        {"pool_wait", t_pool_wait, NULL, 60},
        {"app_commit_in_doubt", t_app_commit_in_doubt, NULL, 60},
        {"gateway_commit_in_doubt", t_gateway_commit_in_doubt, NULL, 60},
    };

    if (pg_base() == NULL) {
        printf("it_pg_faults: COFFER_TEST_PG is not set (run it through scripts/pg-test.sh"
               " --run); skipped\n");
        return 77;
    }
    cf_log_init("it_pg_faults", CF_LOG_ERROR);
    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
