/*
 * it_orphans.c -- nothing left behind: bytes on a filer that no record
 * lists are deleted, against real filers and `coffer app`:
 *   failed_target   a target filer commits the bytes but answers an error
 *                   (the directory fsync fails and so does the unlink that
 *                   undoes the rename: --fault-injection); the app copies to
 *                   another filer and records that one, and the failed
 *                   target's bytes are deleted by the stale pass.
 *   failed_upload   the same with 2 filers and r = 2: the upload fails
 *                   (503), and no byte is left on either filer.
 *   job             the orphans job: an object file put on a filer by hand
 *                   (no record) is deleted once older than --grace-s, after
 *                   a dry run that only counts it; a recorded replica, a
 *                   path held on the stale list and a file that is not an
 *                   object path are never touched; counted in the scribe
 *                   and /metrics.
 *   killed_upload   the app killed (-9) after its filers committed an
 *                   upload's bytes and before its record: once the
 *                   upload's hold is over, the orphans job deletes them.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/scribe.h"
#include "coffer/uuid.h"

/* POST f/debug/faults with one fault (JSON text): 201. */
static void arm(const struct it_filer *f, const char *fault)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body = json_loads(fault, 0, NULL), *out = NULL;
    long status = 0;

    IT_CHECKF(body != NULL, "fault is not JSON: %s", fault);
    IT_CHECK(cf_httpc_global_init() == 0);
    it_fmt(url, sizeof(url), "%s/debug/faults", f->base);
    IT_CHECKF(cf_httpc_json("POST", url, body, 10000, &status, &out, err) == 0, "POST %s: %s", url,
              err);
    IT_CHECKF(status == 201, "POST %s %s: status %ld", url, fault, status);
    json_decref(body);
    json_decref(out);
}

/* How many calls the armed faults of f have failed, in all. */
static int64_t faults_fired(const struct it_filer *f)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *out = NULL, *arr, *x;
    long status = 0;
    int64_t n = 0;
    size_t i;

    it_fmt(url, sizeof(url), "%s/debug/faults", f->base);
    IT_CHECKF(cf_httpc_json("GET", url, NULL, 10000, &status, &out, err) == 0, "GET %s: %s", url,
              err);
    IT_CHECKF(status == 200, "GET %s: status %ld", url, status);
    arr = json_object_get(out, "faults");
    IT_CHECK(json_is_array(arr));
    json_array_foreach(arr, i, x)
    {
        n += it_json_int(x, "fired");
    }
    json_decref(out);
    return n;
}

/* The first PUT on f, a fresh filer, commits its bytes and then fails: its
 * directory fsync fails (EIO), and so does the unlink that would undo the
 * rename. That PUT makes four fsyncs: the two new bucket directories'
 * parents (objects/XX, objects/XX/YY), the file, then its directory. */
static void arm_commit_then_fail(const struct it_filer *f)
{
    arm(f, "{\"call\":\"fsync\",\"errno\":\"EIO\",\"after\":3,\"times\":1}");
    arm(f, "{\"call\":\"unlinkat\",\"errno\":\"EIO\",\"times\":1}");
}

/* Filer f's store holds no object file any more. */
static bool store_empty(void *arg)
{
    const struct it_filer *f = arg;
    char d[IT_PATH_MAX + 16];

    it_fmt(d, sizeof(d), "%s/objects", f->dir);
    return it_count_files(d) == 0;
}

/* A cluster of n filers with the given weights, filer 1 with fault
 * injection, and an app whose stale pass runs every 200 ms with no delay.
 * Filer 1 keeps every object in its own file (--small-max 0): the faults
 * armed on it meet a plain file's commit (its directory's fsync, the unlink
 * that undoes its rename). */
static void start(struct it_cluster *c, size_t n, const unsigned *weights)
{
    it_cluster_init(c);
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            it_cluster_add_filer(c, weights[i], "--fault-injection", "--small-max", "0", NULL);
        else
            it_cluster_add_filer(c, weights[i], NULL);
    }
    it_admin_shard_add(c->db);
    it_app_start_ok(&c->app, c->db, "--stale-delay-ms", "0", "--purge-interval-ms", "200", NULL);
}

static void t_failed_target(void *arg)
{
    static const unsigned weights[] = {100, 50, 10};
    struct it_record rec;
    struct it_cluster c;

    (void)arg;
    start(&c, 3, weights);
    arm_commit_then_fail(&c.f[0]);
    /* The two heaviest, 1 and 2, are the targets; 1 fails, 3 replaces it. */
    it_upload_ok(NULL, c.app.base, 71, 50000, 2, false, &rec);
    IT_CHECKF(it_record_has(&rec, 2) && it_record_has(&rec, 3), "record lists filers %u and %u",
              rec.filers[0], rec.filers[1]);
    IT_EQ(faults_fired(&c.f[0]), 2); /* the bytes stayed on filer 1 */
    IT_CHECKF(it_wait_for(store_empty, &c.f[0], 100, 100),
              "the failed target's bytes are still on filer 1");
    it_check_placement(c.f, c.n, &rec);
    it_cluster_stop(&c);
}

static void t_failed_upload(void *arg)
{
    static const unsigned weights[] = {100, 100};
    struct it_cluster c;

    (void)arg;
    start(&c, 2, weights);
    arm_commit_then_fail(&c.f[0]);
    IT_EQ(it_upload(NULL, c.app.base, 72, 50000, 2, false, NULL), 503);
    IT_EQ(faults_fired(&c.f[0]), 2);
    IT_CHECKF(it_wait_for(store_empty, &c.f[0], 100, 100), "bytes are still on filer 1");
    /* Filer 2 keeps small objects in volumes: its own count says none. */
    IT_CHECK(store_empty(&c.f[1]));
    IT_EQ(it_status_int(&c.f[1], "objects"), 0);
    IT_EQ(it_objdb_count(c.db, 2), 0);
    it_cluster_stop(&c);
}

/* The filer path of a made-up object of shard 1 that no record names. */
static void made_up_path(uint64_t oid, char path[CF_UUID_PATH_SIZE])
{
    struct cf_uuid u = {.shard = 1, .oid = oid, .rnd = 0x5eed0000u + oid};

    cf_uuid_filer_path(&u, path);
}

/* Orphan events in the scribe of the catalog at db. */
static size_t orphan_events(const char *db)
{
    struct cf_scribe *s = NULL;
    struct cf_scribe_event *ev = NULL;
    struct cf_scribe_query q = {.kind = CF_SCRIBE_ORPHAN, .limit = 100};
    char err[CF_ERR_LEN] = "";
    size_t n = 0;

    IT_CHECKF(cf_scribe_open(db, 1, &s, err) == 0, "scribe %s: %s", db, err);
    IT_CHECKF(cf_scribe_query(s, &q, &ev, &n, err) == 0, "scribe query: %s", err);
    free(ev);
    cf_scribe_close(s);
    return n;
}

static json_t *run_job(const struct it_cluster *c, const char *args, int64_t reclaimed)
{
    json_t *rep = it_job_run(c->app.base, "orphans", args);

    IT_EQ(it_job_counter(rep, "reclaimed"), reclaimed);
    return rep;
}

static void t_job(void *arg)
{
    char lone[CF_UUID_PATH_SIZE], held[CF_UUID_PATH_SIZE], err[CF_ERR_LEN] = "";
    struct cf_objdb *odb = NULL;
    struct it_record rec;
    struct it_cluster c;
    struct cf_uuid hu = {.shard = 1, .oid = 900002, .rnd = 0x5eed0000u + 900002};
    char out[4096];
    json_t *rep;
    int st;

    (void)arg;
    it_cluster_start_filers(&c, 3);
    it_app_start_ok(&c.app, c.db, "--stale-delay-ms", "0", "--purge-interval-ms", "0", NULL);
    it_upload_ok(NULL, c.app.base, 81, 20000, 2, false, &rec);
    made_up_path(900001, lone);
    made_up_path(900002, held);
    it_put_ok(NULL, &c.f[0], lone, 82, 30000, false, NULL);
    it_put_ok(NULL, &c.f[1], held, 83, 40000, false, NULL);
    it_put_ok(NULL, &c.f[2], "notes/readme.txt", 84, 500, false, NULL);
    /* A job about to list the held path (its hold lasts an hour). */
    cf_log_init("it", CF_LOG_WARN);
    IT_CHECKF(cf_objdb_open(c.db, 1, &odb, err) == 0, "open %s: %s", c.db, err);
    IT_CHECKF(
        cf_objdb_stale_hold(odb, &hu, c.f[1].id, held, cf_wall_ms() + 3600000, 0, NULL, err) == 0,
        "hold: %s", err);
    cf_objdb_close(odb);

    /* A dry run counts the one orphan and deletes nothing. */
    rep = run_job(&c, "{\"grace_s\":0,\"dry_run\":true}", 1);
    IT_EQ(it_job_counter(rep, "reclaimed_bytes"), 30000);
    IT_EQ(it_job_counter(rep, "listed"), 2);
    IT_EQ(it_job_counter(rep, "held"), 1);
    IT_EQ(it_job_counter(rep, "foreign"), 1);
    json_decref(rep);
    IT_EQ(it_object_file_size(&c.f[0], lone), 30000);
    /* Younger than the grace period: left alone. */
    rep = run_job(&c, "{\"grace_s\":3600}", 0);
    IT_EQ(it_job_counter(rep, "young"), 4);
    json_decref(rep);
    IT_EQ(it_object_file_size(&c.f[0], lone), 30000);

    rep = run_job(&c, "{\"grace_s\":0}", 1);
    IT_EQ(it_job_counter(rep, "reclaimed_bytes"), 30000);
    IT_EQ(it_job_counter(rep, "failed"), 0);
    json_decref(rep);
    IT_EQ(it_object_file_size(&c.f[0], lone), -1);
    IT_EQ(it_object_file_size(&c.f[1], held), 40000);
    IT_EQ(it_object_file_size(&c.f[2], "notes/readme.txt"), 500);
    it_check_placement(c.f, c.n, &rec);
    IT_EQ(it_metric(c.app.base, "coffer_orphans_reclaimed_total"), 1);
    IT_EQ(it_metric(c.app.base, "coffer_orphans_reclaimed_bytes_total"), 30000);
    IT_EQ(orphan_events(c.db), 2); /* the dry run's and the deletion's */
    /* The command line: nothing left to find. */
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "orphans", "--grace-s", "0", "--dry-run",
                       "--app", c.app.base, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer admin orphans: status 0x%x (see cmd.log)",
              (unsigned)st);
    IT_CHECKF(strstr(out, "reclaimed") != NULL, "coffer admin orphans printed %.300s", out);
    it_cluster_stop(&c);
}

/* ---- an app killed between its filers' commit and its record ---- */

struct killer {
    const struct it_cluster *c;
    pid_t app;
    struct cf_db *lock; /* the shard, in a write transaction: the record waits */
    pthread_t th;
    bool started, killed;
};

/* Object files (not temporaries) in filer f's store. */
static unsigned committed(const struct it_filer *f)
{
    char d[IT_PATH_MAX + 16];

    it_fmt(d, sizeof(d), "%s/objects", f->dir);
    return it_count_files(d) - it_count_tmp(d);
}

/* Both filers of the killer's cluster have an upload in progress (it_wait_for). */
static bool writing(void *arg)
{
    const struct killer *k = arg;
    char d[IT_PATH_MAX + 16];

    for (size_t i = 0; i < 2; i++) {
        it_fmt(d, sizeof(d), "%s/objects", k->c->f[i].dir);
        if (it_count_tmp(d) < 1)
            return false;
    }
    return true;
}

/* Kill the app once both filers hold the upload's bytes; the app is then
 * waiting for the shard's write lock to commit the record. */
static void *killer_main(void *arg)
{
    struct killer *k = arg;

    for (unsigned i = 0; i < 400 && !k->killed; i++) {
        if (committed(&k->c->f[0]) >= 1 && committed(&k->c->f[1]) >= 1) {
            k->killed = kill(k->app, SIGKILL) == 0;
            break;
        }
        (void)nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    return NULL;
}

/* With the body part sent (the targets held already), take the shard's
 * write lock and start the killer; the rest of the body then flows. */
static void lock_and_arm(struct it_xfer *x, void *arg)
{
    struct killer *k = arg;
    struct cf_objdb *odb = NULL;
    struct cf_objdb_shard *sh = NULL;
    char err[CF_ERR_LEN] = "", uri[IT_PATH_MAX + 16];
    size_t n = 0;

    (void)x;
    /* The client's bytes may still sit in socket buffers: the targets are
     * held once both filers are writing (a temporary each). */
    IT_CHECKF(it_wait_for(writing, k, 100, 100), "the filers never began the upload");
    cf_log_init("it", CF_LOG_WARN);
    IT_CHECKF(cf_objdb_open(k->c->db, 1, &odb, err) == 0, "open %s: %s", k->c->db, err);
    cf_objdb_shard_list(odb, &sh, &n);
    IT_EQ(n, 1);
    /* A relative SQLite location is beside the catalog, in the case dir.
     * On PostgreSQL an open write transaction holds the backend's write
     * lock (an advisory lock) just as well. */
    IT_CHECKF(strncmp(sh[0].location, "sqlite:", 7) == 0 ||
                  strncmp(sh[0].location, "postgres:", 9) == 0,
              "shard at %s", sh[0].location);
    if (sh[0].location[0] == 'p' || sh[0].location[7] == '/')
        it_fmt(uri, sizeof(uri), "%s", sh[0].location);
    else
        it_fmt(uri, sizeof(uri), "sqlite:%s/%s", it_case_dir(), sh[0].location + 7);
    IT_CHECKF(cf_db_open(uri, &k->lock, err) == 0, "open %s: %s", uri, err);
    free(sh);
    cf_objdb_close(odb);
    IT_CHECKF(cf_db_begin(k->lock, err) == 0, "begin: %s", err);
    IT_CHECK(pthread_create(&k->th, NULL, killer_main, k) == 0);
    k->started = true;
}

static bool past(void *arg)
{
    return cf_wall_ms() > *(const uint64_t *)arg;
}

static void t_killed_upload(void *arg)
{
    static const unsigned weights[] = {100, 100};
    struct it_body b = {.chunked = true};
    struct killer k = {0};
    struct it_cluster c;
    struct it_xfer x;
    uint64_t held_until;
    json_t *rep;

    (void)arg;
    it_cluster_init(&c);
    for (size_t i = 0; i < 2; i++)
        it_cluster_add_filer(&c, weights[i], NULL);
    it_admin_shard_add(c.db);
    /* The hold is renewed every 1.5 s of body; the last bytes flow after
     * the shard is locked, well within that, so no renewal waits on it. */
    it_app_start_ok(&c.app, c.db, "--upload-hold-s", "6", "--purge-interval-ms", "0", NULL);
    k.c = &c;
    k.app = c.app.pid;
    it_gen_init(&b.gen, 85, 2 * IT_MIB);
    it_xfer_init(&x, c.app.base, "POST", "/v1/objects", &b, NULL);
    x.pause_at = 2 * IT_MIB - 64 * 1024;
    it_xfer_run(&x, 1, lock_and_arm, &k);
    it_gen_fini(&b.gen);
    IT_CHECK(k.started);
    pthread_join(k.th, NULL);
    IT_CHECKF(k.killed, "the filers never both committed (reply status %ld)", x.resp.status);
    /* The hold was last taken or renewed before the kill: 6 s on at most. */
    held_until = cf_wall_ms() + 6100;
    IT_EQ(x.resp.status, 0);
    it_xfer_fini(&x);
    it_proc_kill9(&c.app);
    cf_db_rollback(k.lock);
    cf_db_close(k.lock);
    IT_EQ(committed(&c.f[0]), 1);
    IT_EQ(committed(&c.f[1]), 1);
    IT_EQ(it_objdb_count(c.db, 2), 0);

    /* A new app; the stale pass does not run, so the job does the work. */
    it_app_start_ok(&c.app, c.db, "--stale-delay-ms", "0", "--purge-interval-ms", "0", NULL);
    IT_CHECK(it_wait_for(past, &held_until, 100, 100));
    rep = run_job(&c, "{\"grace_s\":0}", 2);
    IT_EQ(it_job_counter(rep, "reclaimed_bytes"), 4 * IT_MIB);
    json_decref(rep);
    IT_CHECK(store_empty(&c.f[0]));
    IT_CHECK(store_empty(&c.f[1]));
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"failed_target", t_failed_target, NULL, 40},
        {"failed_upload", t_failed_upload, NULL, 40},
        {"job", t_job, NULL, 60},
        {"killed_upload", t_killed_upload, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
