/*
 * it_pgmulti.c -- the metadata on two PostgreSQL servers, and on a primary
 * with a streaming-replication standby that takes over. Run through
 * `scripts/pg-test.sh BUILD --servers 2 --standby --run`, which starts
 * server 1 (COFFER_TEST_PG, naming the primary and its standby), server 2
 * (COFFER_TEST_PG2, COFFER_TEST_PG2_RESTART) and the fail-over script
 * (COFFER_TEST_PG_FAILOVER); without COFFER_TEST_PG2 the test exits 77
 * (SKIP), and the failover case is skipped without a standby.
 *
 * Every case runs filers, `coffer app`, `coffer objsrv` and `coffer
 * gateway` as separate processes. The object catalog and the file system
 * catalog are on server 1.
 *   spread          object shard 1 on server 1 and 2 on server 2, file
 *                   system shards likewise (client acme on 1, beta on 2):
 *                   uploads land on both object shards, every object and
 *                   file reads back byte-exact.
 *   add_shard_live  under a load of uploads, object shard 2 is added on
 *                   server 2 (`coffer admin shard add`) and a file system
 *                   shard (`coffer admin fs-shard add`) with a new client
 *                   there: the running app puts new
 *                   objects on shard 2 within its shard-table re-read
 *                   (--poll-ms, 200 ms here) and the running gateway serves
 *                   the new client, without a restart; no upload fails.
 *   restart_shard_server  under a load of uploads (app, and the gateway for
 *                   beta, whose shard is on server 2), server 2 restarts:
 *                   requests that need it fail with 503, none hangs; after
 *                   it they succeed again; every acknowledged upload reads
 *                   back byte-exact.
 *   failover        under a load of uploads, the primary of server 1 stops
 *                   at once (immediate: a crash) and the standby is
 *                   promoted: coffer reconnects to it by itself (libpq
 *                   multi-host, target_session_attrs=read-write); the
 *                   failures meanwhile are 503; every acknowledged upload
 *                   is there after; the time from the stop to the first
 *                   request acknowledged again is printed.
 *                   Runs last: server 1 has no standby after it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "coffer/uuid.h"

#define TEST_PW   "correct horse"
#define AUTH_MAX  (CF_AUTH_TOKEN_LEN + 64)
#define LOAD_MAX  600 /* uploads the load keeps, at most */
#define LOAD_SIZE (16 * 1024)
#define GW_USERS  2 /* acme (file system shard 1), beta (shard 2) */

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* ---- databases on the two servers ---------------------------------------------- */

/* The URI of database name on server 1 or 2. */
static void pg_uri(char out[IT_PATH_MAX], int server, const char *name)
{
    it_fmt(out, IT_PATH_MAX, "postgres:%s dbname=%s",
           env(server == 1 ? "COFFER_TEST_PG" : "COFFER_TEST_PG2"), name);
}

/* A new database "<tag>_<pid>" on server 1 or 2, its URI into out. The
 * servers are thrown away with their databases after the run. */
static void pg_new_db(char out[IT_PATH_MAX], int server, const char *tag)
{
    char uri[IT_PATH_MAX], name[64], sql[128], err[CF_ERR_LEN] = "";
    struct cf_db *admin = NULL;

    pg_uri(uri, server, "postgres");
    IT_CHECKF(cf_db_open(uri, &admin, err) == 0, "open %s: %s", uri, err);
    it_fmt(name, sizeof(name), "%s_%ld", tag, (long)getpid());
    it_fmt(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    IT_CHECKF(cf_db_exec(admin, sql, err) == 0, "%s: %s", sql, err);
    cf_db_close(admin);
    pg_uri(out, server, name);
}

/* Run script (borrowed) with one argument (may be NULL) and wait for it. */
static void run_script(const char *script, const char *arg)
{
    int status = 0;
    pid_t pid;

    IT_CHECK(script != NULL);
    pid = fork();
    IT_CHECK(pid >= 0);
    if (pid == 0) {
        execl(script, script, arg, (char *)NULL);
        _exit(127);
    }
    IT_CHECK(waitpid(pid, &status, 0) == pid);
    IT_CHECKF(it_exit_code(status) == 0, "%s %s: exit %d", script, arg != NULL ? arg : "",
              it_exit_code(status));
}

static unsigned shard_of(const char *uuid)
{
    struct cf_uuid u;

    IT_CHECKF(cf_uuid_parse(uuid, strlen(uuid), &u, NULL) == 0, "uuid %s", uuid);
    return u.shard;
}

/* ---- the system ------------------------------------------------------------------ */

struct sys {
    struct it_cluster c;
    struct it_proc gw;
    char fscat[IT_PATH_MAX];
    struct cf_fsdb *fs; /* the file system catalog, for shards and clients added live */
    char auth[GW_USERS][AUTH_MAX];
};

/* `coffer admin shard add --db CATALOG --location LOC`; the new id. */
static unsigned admin_shard_add(const char *db, const char *loc)
{
    char out[256];
    unsigned id = 0;
    int st;

    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "add", "--db", db, "--location",
                       loc, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer admin shard add: status 0x%x (see cmd.log)",
              (unsigned)st);
    IT_CHECKF(sscanf(out, "shard %u added", &id) == 1, "admin shard add said \"%s\"", out);
    return id;
}

/* Client name with its admin "boss" (password TEST_PW) on the least-loaded
 * file system shard; that shard's id. */
static uint32_t add_client(struct sys *s, const char *name)
{
    struct cf_fsdb_client cl;
    char hash[CF_AUTH_PWHASH_SIZE];

    IT_EQ(cf_fsdb_client_add(s->fs, name, NULL, 2, &cl, NULL), 0);
    IT_EQ(cf_auth_password_hash(TEST_PW, strlen(TEST_PW), CF_AUTH_PBKDF2_ITER_MIN, hash), 0);
    IT_EQ(cf_fsdb_user_add(s->fs, cl.id, "boss", hash, true, NULL, NULL), 0);
    return cl.shard;
}

/* POST /api/v1/login as boss of client; the token as a header line into
 * auth on 200. Returns the status. */
static long gw_login(const struct sys *s, const char *client, char auth[AUTH_MAX])
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *login, *out = NULL;
    long status = 0;

    login = json_pack("{s:s,s:s,s:s}", "client", client, "user", "boss", "password", TEST_PW);
    it_fmt(url, sizeof(url), "%s/api/v1/login", s->gw.base);
    IT_CHECKF(cf_httpc_json("POST", url, login, 20000, &status, &out, err) == 0, "login: %s", err);
    if (status == 200)
        it_fmt(auth, AUTH_MAX, "Authorization: Bearer %s", it_json_str(out, "token"));
    json_decref(login);
    json_decref(out);
    return status;
}

/* PUT payload (seed, LOAD_SIZE) at /path through the gateway. */
static long gw_put(const struct sys *s, const char *auth, uint64_t seed)
{
    struct it_body body;
    struct it_resp r;
    char target[128];
    long st;

    it_fmt(target, sizeof(target), "/api/v1/fs/f%" PRIu64 ".bin", seed);
    memset(&body, 0, sizeof(body));
    it_gen_init(&body.gen, seed, LOAD_SIZE);
    st = it_http_to(NULL, s->gw.base, "PUT", target, &body, &r, auth, NULL);
    it_gen_fini(&body.gen);
    it_resp_fini(&r);
    return st;
}

/* GET /f<seed>.bin: 200 with the payload (seed, LOAD_SIZE). */
static void gw_get_ok(const struct sys *s, const char *auth, uint64_t seed)
{
    struct it_resp r;
    uint8_t want[CF_SHA512_LEN];
    char target[128];

    it_fmt(target, sizeof(target), "/api/v1/fs/f%" PRIu64 ".bin", seed);
    IT_EQ(it_http_to(NULL, s->gw.base, "GET", target, NULL, &r, auth, NULL), 200);
    IT_EQ(r.total, LOAD_SIZE);
    it_prng_sha512(seed, LOAD_SIZE, want);
    IT_CHECKF(memcmp(r.sha, want, sizeof(want)) == 0, "%s: wrong bytes", target);
    it_resp_fini(&r);
}

/* Three filers; the object catalog on server 1 (catalog_server 1) with
 * shard 1 there and, with two_shards, shard 2 on server 2; app and objsrv.
 * The file system catalog on server 1 with shard 1 there (client acme)
 * and, with two_shards, shard 2 on server 2 (client beta); the gateway;
 * every client logged in. */
static void start(struct sys *s, bool two_shards)
{
    char loc[IT_PATH_MAX];

    memset(s, 0, sizeof(*s));
    IT_EQ(cf_httpc_global_init(), 0);
    it_cluster_init(&s->c);
    pg_new_db(s->c.db, 1, "catalog");
    for (size_t i = 0; i < 3; i++)
        it_cluster_add_filer(&s->c, 100, NULL);
    pg_new_db(loc, 1, "shard1");
    IT_EQ(admin_shard_add(s->c.db, loc), 1);
    if (two_shards) {
        pg_new_db(loc, 2, "shard2");
        IT_EQ(admin_shard_add(s->c.db, loc), 2);
    }
    it_app_start_ok(&s->c.app, s->c.db, "--purge-interval-ms", "0", NULL);
    it_objsrv_start_ok(&s->c.objsrv, s->c.app.base, NULL);

    pg_new_db(s->fscat, 1, "fscat");
    /* Two connections: a client added on a shard this handle has not seen
     * yet re-reads the shards table while it holds one (shardset.h). */
    IT_EQ(cf_fsdb_open(s->fscat, 2, &s->fs, NULL), 0);
    pg_new_db(loc, 1, "fs1");
    IT_EQ(cf_fsdb_shard_add(s->fs, loc, NULL, NULL), 0);
    IT_EQ(add_client(s, "acme"), 1);
    if (two_shards) {
        pg_new_db(loc, 2, "fs2");
        IT_EQ(cf_fsdb_shard_add(s->fs, loc, NULL, NULL), 0);
        IT_EQ(add_client(s, "beta"), 2);
    }
    it_gateway_start_ok(&s->gw, s->fscat, s->c.app.base, s->c.objsrv.base, "--trash-interval-ms",
                        "0", NULL);
    IT_EQ(gw_login(s, "acme", s->auth[0]), 200);
    if (two_shards)
        IT_EQ(gw_login(s, "beta", s->auth[1]), 200);
}

static void stop(struct sys *s)
{
    it_proc_stop_ok(&s->gw);
    it_cluster_stop(&s->c);
    cf_fsdb_close(s->fs);
}

/* ---- a load of uploads ------------------------------------------------------------ */

struct load {
    const struct sys *s;
    pthread_mutex_t mu;
    struct it_record recs[LOAD_MAX];
    size_t nacked;               /* recs[0..nacked) were acknowledged (201) */
    size_t per_shard[3];         /* of them, on object shard 1, 2 (0: another) */
    uint64_t gw_seeds[LOAD_MAX]; /* files the gateway acknowledged */
    unsigned gw_user[LOAD_MAX];  /* as which client (index into s->auth) */
    size_t ngw;
    size_t gw_per_user[GW_USERS];
    int gw_users;         /* clients the gateway thread uploads for, 1..GW_USERS */
    size_t nfailed, n503; /* 5xx answers, and of them 503 */
    long other5xx;        /* the last 5xx other than 503, or 0 */
    long bad;             /* any other status (-1: no answer at all), or 0 */
    uint64_t mark_ms;     /* 0, or a moment (now_ms) set by the case */
    uint64_t back_ms;     /* 0, or how long after mark_ms the first request
                           * sent after it was acknowledged */
    volatile int stop;
};

/* After a 5xx a client waits a little before it tries again (the 503s
 * carry Retry-After: 1; the load waits less, to see the recovery soon). */
static void back_off(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    (void)nanosleep(&ts, NULL);
}

/* Under ld->mu: the answer st to a request sent at sent_ms. */
static void count(struct load *ld, long st, uint64_t sent_ms)
{
    if (st == 201 && ld->mark_ms != 0 && sent_ms > ld->mark_ms && ld->back_ms == 0)
        ld->back_ms = it_now_ms() - ld->mark_ms;
    if (st >= 500 && st <= 599)
        ld->nfailed++;
    if (st == 503)
        ld->n503++;
    else if (st >= 500 && st <= 599)
        ld->other5xx = st;
    if (st != 201 && (st < 500 || st > 599) && ld->bad == 0)
        ld->bad = st == 0 ? -1 : st;
    if (ld->nacked == LOAD_MAX || ld->ngw == LOAD_MAX || ld->bad != 0)
        ld->stop = 1;
}

struct loader {
    struct load *ld;
    unsigned id;
};

static void *app_load(void *arg)
{
    struct loader *lt = arg;
    struct load *ld = lt->ld;
    struct it_client cl;
    struct it_record rec;

    it_client_init(&cl);
    for (uint64_t i = 0; !ld->stop; i++) {
        uint64_t seed = (uint64_t)lt->id * 1000000u + i, sent = it_now_ms();
        long st = it_upload(&cl, ld->s->c.app.base, seed, LOAD_SIZE, 0, false, &rec);

        pthread_mutex_lock(&ld->mu);
        if (st == 201 && ld->nacked < LOAD_MAX) {
            unsigned sh = shard_of(rec.uuid);
            ld->recs[ld->nacked++] = rec;
            ld->per_shard[sh <= 2 ? sh : 0]++;
        }
        count(ld, st, sent);
        pthread_mutex_unlock(&ld->mu);
        if (st >= 500)
            back_off();
    }
    it_client_fini(&cl);
    return NULL;
}

/* Files through the gateway, in turn for each of the first gw_users
 * clients (gw_users may grow while it runs). */
static void *gw_load(void *arg)
{
    struct load *ld = arg;

    for (uint64_t seed = 5000000; !ld->stop; seed++) {
        uint64_t sent = it_now_ms();
        unsigned u;
        long st;

        pthread_mutex_lock(&ld->mu);
        u = (unsigned)(seed % (uint64_t)ld->gw_users);
        pthread_mutex_unlock(&ld->mu);
        st = gw_put(ld->s, ld->s->auth[u], seed);
        pthread_mutex_lock(&ld->mu);
        if (st == 201 && ld->ngw < LOAD_MAX) {
            ld->gw_user[ld->ngw] = u;
            ld->gw_seeds[ld->ngw++] = seed;
            ld->gw_per_user[u]++;
        }
        count(ld, st, sent);
        pthread_mutex_unlock(&ld->mu);
        if (st >= 500)
            back_off();
    }
    return NULL;
}

struct runner {
    struct load *ld;
    struct loader lt[2];
    pthread_t th[3];
};

static struct load *load_start(struct runner *r, const struct sys *s, int gw_users)
{
    struct load *ld = calloc(1, sizeof(*ld));

    IT_CHECK(ld != NULL);
    ld->s = s;
    ld->gw_users = gw_users;
    pthread_mutex_init(&ld->mu, NULL);
    r->ld = ld;
    for (unsigned i = 0; i < 2; i++) {
        r->lt[i].ld = ld;
        r->lt[i].id = i + 1;
        IT_EQ(pthread_create(&r->th[i], NULL, app_load, &r->lt[i]), 0);
    }
    IT_EQ(pthread_create(&r->th[2], NULL, gw_load, ld), 0);
    return ld;
}

static void load_stop(struct runner *r)
{
    r->ld->stop = 1;
    for (unsigned i = 0; i < 3; i++)
        IT_EQ(pthread_join(r->th[i], NULL), 0);
    IT_CHECKF(r->ld->bad == 0, "an upload got status %ld (-1: no answer)", r->ld->bad);
}

/* Every acknowledged upload: its record at the app and its bytes through
 * objsrv; every acknowledged file through the gateway. */
static void load_verify(struct runner *r)
{
    struct load *ld = r->ld;

    for (size_t i = 0; i < ld->nacked; i++) {
        struct it_record rec;

        IT_EQ(it_info(ld->s->c.app.base, ld->recs[i].uuid, &rec), 200);
        it_download_ok(NULL, ld->s->c.objsrv.base, &ld->recs[i]);
    }
    for (size_t i = 0; i < ld->ngw; i++)
        gw_get_ok(ld->s, ld->s->auth[ld->gw_user[i]], ld->gw_seeds[i]);
    pthread_mutex_destroy(&ld->mu);
    free(ld);
    r->ld = NULL;
}

/* Wait conditions on the load; each is also true once the load stopped
 * (a failure), which the caller then reports. */
struct want {
    struct load *ld;
    size_t acked, shard2, gw, gw_beta; /* at least so many */
};

static bool reached(void *arg)
{
    struct want *w = arg;
    struct load *ld = w->ld;
    bool yes;

    pthread_mutex_lock(&ld->mu);
    yes = (ld->nacked >= w->acked && ld->per_shard[2] >= w->shard2 && ld->ngw >= w->gw &&
           ld->gw_per_user[1] >= w->gw_beta) ||
          ld->stop;
    pthread_mutex_unlock(&ld->mu);
    return yes;
}

static void snapshot(struct load *ld, struct want *w)
{
    pthread_mutex_lock(&ld->mu);
    w->ld = ld;
    w->acked = ld->nacked;
    w->shard2 = ld->per_shard[2];
    w->gw = ld->ngw;
    w->gw_beta = ld->gw_per_user[1];
    pthread_mutex_unlock(&ld->mu);
}

/* ---- the cases ------------------------------------------------------------------- */

static void t_spread(void *arg)
{
    struct it_record rec[16];
    unsigned on[3] = {0, 0, 0};
    struct sys s;

    (void)arg;
    start(&s, true);
    for (size_t i = 0; i < CF_ARRAY_LEN(rec); i++) {
        it_upload_ok(NULL, s.c.app.base, 100 + i, 1000 + i * 997, 0, i % 2 == 1, &rec[i]);
        on[shard_of(rec[i].uuid) <= 2 ? shard_of(rec[i].uuid) : 0]++;
    }
    IT_CHECKF(on[1] > 0 && on[2] > 0 && on[0] == 0, "objects on shards 1, 2, other: %u %u %u",
              on[1], on[2], on[0]);
    for (size_t i = 0; i < CF_ARRAY_LEN(rec); i++)
        it_download_ok(NULL, s.c.objsrv.base, &rec[i]);
    for (unsigned u = 0; u < 2; u++)
        for (uint64_t seed = 10; seed < 14; seed++)
            IT_EQ(gw_put(&s, s.auth[u], seed + u * 100), 201);
    for (unsigned u = 0; u < 2; u++)
        for (uint64_t seed = 10; seed < 14; seed++)
            gw_get_ok(&s, s.auth[u], seed + u * 100);
    /* Each client sees only its own files: beta's are on server 2. */
    IT_EQ(gw_put(&s, s.auth[1], 777), 201);
    {
        struct it_resp r;
        IT_EQ(it_http_to(NULL, s.gw.base, "GET", "/api/v1/fs/f777.bin", NULL, &r, s.auth[0], NULL),
              404);
        it_resp_fini(&r);
    }
    printf("spread: %u objects on shard 1 (server 1), %u on shard 2 (server 2)\n", on[1], on[2]);
    stop(&s);
}

static void t_add_shard_live(void *arg)
{
    char loc[IT_PATH_MAX], out[256];
    int st;
    struct runner r;
    struct want w;
    struct sys s;
    uint64_t t0, t_obj = 0;
    uint32_t fs2 = 0;
    unsigned id;

    (void)arg;
    start(&s, false);
    load_start(&r, &s, 1);
    snapshot(r.ld, &w);
    w.acked += 10;
    w.gw += 3;
    IT_CHECKF(it_wait_for(reached, &w, 300, 100), "no upload acknowledged");
    IT_EQ(r.ld->per_shard[2], 0);

    /* Object shard 2 on server 2, while the app runs. */
    pg_new_db(loc, 2, "shard2");
    t0 = it_now_ms();
    id = admin_shard_add(s.c.db, loc);
    IT_EQ(id, 2);
    snapshot(r.ld, &w);
    w.shard2 = 1;
    /* The app re-reads the shards table every --poll-ms (200); the bound
     * leaves room for a loaded machine. */
    IT_CHECKF(it_wait_for(reached, &w, 200, 50), "no object on the new shard within 10 s");
    t_obj = it_now_ms() - t0;

    /* A file system shard on server 2 and a client there, while the
     * gateway runs: the gateway finds the shard on its first miss. */
    pg_new_db(loc, 2, "fs2");
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "fs-shard", "add", "--fs-db", s.fscat,
                       "--shard-location", loc, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer admin fs-shard add: status 0x%x (see cmd.log)",
              (unsigned)st);
    IT_CHECKF(sscanf(out, "fs shard %" SCNu32 " added", &fs2) == 1, "fs-shard add said \"%s\"",
              out);
    IT_EQ(fs2, 2);
    IT_EQ(add_client(&s, "beta"), fs2);
    IT_EQ(gw_login(&s, "beta", s.auth[1]), 200);
    pthread_mutex_lock(&r.ld->mu);
    r.ld->gw_users = 2;
    pthread_mutex_unlock(&r.ld->mu);
    snapshot(r.ld, &w);
    w.shard2 += 10;
    w.gw_beta += 3;
    IT_CHECKF(it_wait_for(reached, &w, 300, 100), "uploads stalled after the shards were added");
    load_stop(&r);
    IT_CHECKF(r.ld->nfailed == 0, "%zu uploads failed while shards were added", r.ld->nfailed);
    printf("add_shard_live: %zu uploads (%zu on the new shard), %zu files; first object on the"
           " new shard %" PRIu64 " ms after `admin shard add` returned\n",
           r.ld->nacked, r.ld->per_shard[2], r.ld->ngw, t_obj);
    load_verify(&r);
    stop(&s);
}

static void t_restart_shard_server(void *arg)
{
    struct runner r;
    struct want w;
    struct sys s;
    size_t failed_before;

    (void)arg;
    start(&s, true);
    load_start(&r, &s, 2);
    snapshot(r.ld, &w);
    w.acked += 10;
    w.shard2 += 3;
    w.gw_beta += 2;
    IT_CHECKF(it_wait_for(reached, &w, 300, 100), "no upload acknowledged before the restart");
    pthread_mutex_lock(&r.ld->mu);
    failed_before = r.ld->nfailed;
    pthread_mutex_unlock(&r.ld->mu);

    run_script(env("COFFER_TEST_PG2_RESTART"), NULL);

    /* Reconnected by themselves: shard 2 and beta's files work again. */
    snapshot(r.ld, &w);
    w.acked += 10;
    w.shard2 += 5;
    w.gw_beta += 3;
    IT_CHECKF(it_wait_for(reached, &w, 300, 100),
              "uploads did not succeed again after the restart");
    load_stop(&r);
    /* A database that is away is a passing state: 503, to be retried. */
    IT_CHECKF(r.ld->n503 == r.ld->nfailed, "%zu of %zu failed uploads got a 5xx other than 503",
              r.ld->nfailed - r.ld->n503, r.ld->nfailed);
    printf("restart_shard_server: %zu uploads (%zu on shard 2), %zu files acknowledged; %zu failed"
           " with 503 (%zu before the restart)\n",
           r.ld->nacked, r.ld->per_shard[2], r.ld->ngw, r.ld->nfailed, failed_before);
    load_verify(&r);
    stop(&s);
}

static void t_failover(void *arg)
{
    const char *failover = env("COFFER_TEST_PG_FAILOVER");
    struct runner r;
    struct want w;
    struct sys s;
    size_t acked_before;

    (void)arg;
    if (failover == NULL)
        it_skip("without a standby (scripts/pg-test.sh --standby)");
    start(&s, false);
    load_start(&r, &s, 1);
    snapshot(r.ld, &w);
    w.acked += 10;
    w.gw += 4;
    IT_CHECKF(it_wait_for(reached, &w, 300, 100), "no upload acknowledged before the fail-over");

    run_script(failover, "stop");
    pthread_mutex_lock(&r.ld->mu);
    r.ld->mark_ms = it_now_ms();
    pthread_mutex_unlock(&r.ld->mu);
    snapshot(r.ld, &w);
    acked_before = w.acked;
    run_script(failover, "promote");
    w.acked += 10;
    w.gw += 4;
    IT_CHECKF(it_wait_for(reached, &w, 300, 100),
              "uploads did not succeed again after the promotion");
    load_stop(&r);
    /* A connection cut by the crash is lost, not an I/O error: 503. */
    IT_CHECKF(r.ld->n503 == r.ld->nfailed, "%zu of %zu failed uploads got a 5xx other than 503",
              r.ld->nfailed - r.ld->n503, r.ld->nfailed);
    printf("failover: %zu uploads, %zu files acknowledged (%zu uploads before the stop); %zu"
           " failed with a 5xx (%zu of them 503, the others %ld); the first request sent after"
           " the primary stopped was acknowledged %" PRIu64 " ms after the stop\n",
           r.ld->nacked, r.ld->ngw, acked_before, r.ld->nfailed, r.ld->n503, r.ld->other5xx,
           r.ld->back_ms);
    load_verify(&r);
    stop(&s);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"spread", t_spread, NULL, 60},
        {"add_shard_live", t_add_shard_live, NULL, 90},
        {"restart_shard_server", t_restart_shard_server, NULL, 90},
        {"failover", t_failover, NULL, 90},
    };

    if (env("COFFER_TEST_PG") == NULL || env("COFFER_TEST_PG2") == NULL) {
        printf("it_pgmulti: COFFER_TEST_PG and COFFER_TEST_PG2 are not set (run it through"
               " scripts/pg-test.sh --servers 2 --run); skipped\n");
        return 77;
    }
    cf_log_init("it_pgmulti", CF_LOG_ERROR);
    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
