/*
 * it_dedupe.c -- dedupe (maint.h, dedupe.c) against real filers,
 * `coffer app` and `coffer objsrv`:
 *   inline_holder_first  the same 10 MiB uploaded twice: two UUIDs, one set
 *                      of r files on disk (the second upload's own are
 *                      deleted), both download; the first name deleted and
 *                      purged: its bytes stay (the purge reports it held)
 *                      and the other name still downloads; the second
 *                      deleted and purged by one pass: no files, no records.
 *   inline_alias_first the same, deleting the second name (the alias) first.
 *   inline_off         --dedupe=false: two uploads, two sets of files.
 *   job                --dedupe=false uploads, then the dedupe job (with
 *                      --stale-delay-ms 0): one set of files left, both
 *                      names download, the job's counters say so; a second
 *                      run finds nothing.
 *   holder_missing     a holder with a replica file removed behind the
 *                      store's back: the same content uploaded again keeps
 *                      its own replicas; the dedupe job skips the pair
 *                      until an audit restored the holder, then shares.
 *   scheduled          --dedupe-interval-s 1: the app's own periodic dedupe
 *                      aliases a duplicate with nobody asking.
 *   holder_rotten      a byte flipped in every replica of a holder behind
 *                      the store's back (its HEAD still shows the digest it
 *                      was written with): the same content uploaded again
 *                      keeps its own replicas and downloads with the right
 *                      bytes; the dedupe job does not fold it into the
 *                      holder either.
 *   shards_inline      two shards, the holder's made read-only: the same
 *                      content uploaded again becomes an alias in the other
 *                      shard (one set of files); the holder deleted and
 *                      purged keeps its bytes for the alias, which reads;
 *                      the alias deleted too, one pass purges them.
 *   shards_job         --dedupe=false, the same content uploaded into each
 *                      of two shards: the dedupe job makes the one in shard
 *                      2 an alias of the one in shard 1, dropping its files;
 *                      the orphans job and the audit leave the holder's be.
 *                      Then a ref left in shard 1 without its alias (as a
 *                      crash between the two steps leaves it) holds the
 *                      holder after both names are purged, and the next
 *                      dedupe run drops it; then the bytes go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/scribe.h"
#include "coffer/uuid.h"

#define TEN_MIB (10u * IT_MIB)

/* Filers, their registration and a shard, the app (with extra arguments,
 * NULL-terminated list in app_args) and objsrv. */
static void start(struct it_cluster *c, size_t n, const char *const *app_args)
{
    const char *a[12] = {NULL};
    size_t k = 0;

    it_cluster_start_filers(c, n);
    while (app_args != NULL && app_args[k] != NULL && k < CF_ARRAY_LEN(a) - 1) {
        a[k] = app_args[k];
        k++;
    }
    it_app_start_ok(&c->app, c->db, "--stall-s", "3", "--purge-retention-s", "0",
                    "--purge-interval-ms", "0", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                    a[8], a[9], a[10], NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, "--stall-s", "3", NULL);
}

/* Object files on every filer of c (temporaries included: there must be none). */
static unsigned files(const struct it_cluster *c)
{
    unsigned n = 0;

    for (size_t i = 0; i < c->n; i++)
        n += it_count_files(c->f[i].dir);
    return n;
}

/* Records in the object map and the deleted map, read from the catalog. */
static bool record_exists(const struct it_cluster *c, const char *uuid)
{
    struct cf_objdb *odb = NULL;
    struct cf_objdb_record rec;
    struct cf_objdb_deleted d;
    struct cf_uuid u;
    char err[CF_ERR_LEN] = "";
    int a, b;

    cf_log_init("it", CF_LOG_WARN); /* no INFO lines from objdb in the test's output */
    IT_CHECKF(cf_objdb_open(c->db, 1, &odb, err) == 0, "open %s: %s", c->db, err);
    IT_EQ(cf_uuid_parse(uuid, strlen(uuid), &u, err), 0);
    a = cf_objdb_get(odb, &u, CF_OBJDB_GET_DELETED, &rec, err);
    IT_CHECKF(a == 0 || a == CF_ENOTFOUND, "get %s: %s", uuid, err);
    b = cf_objdb_get_deleted(odb, &u, &d, err);
    IT_CHECKF(b == 0 || b == CF_ENOTFOUND, "get_deleted %s: %s", uuid, err);
    cf_objdb_close(odb);
    return a == 0 || b == 0;
}

/* ---- cases ---- */

/* Two names for the same 10 MiB; delete them in the given order. */
static void inline_case(bool holder_first)
{
    static const char *const none[] = {NULL};
    struct it_cluster c;
    struct it_record a, b, info;
    struct it_purge_counts k;
    const struct it_record *first, *second;
    unsigned base;

    start(&c, 3, none);
    base = files(&c);
    it_upload_ok(NULL, c.app.base, 77, TEN_MIB, 0, false, &a);
    IT_EQ(files(&c), base + 2);
    it_upload_ok(NULL, c.app.base, 77, TEN_MIB, 0, false, &b);
    IT_CHECK(strcmp(a.uuid, b.uuid) != 0);
    /* One set of replicas: b names a's bytes, and b's own are gone. */
    IT_STREQ(b.path, a.path);
    IT_EQ(b.nfilers, a.nfilers);
    for (size_t i = 0; i < a.nfilers; i++)
        IT_CHECK(it_record_has(&b, a.filers[i]));
    IT_EQ(files(&c), base + 2);
    IT_EQ(it_cluster_copies(&c, a.path), 2);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_DEDUPE), 1);
    it_download_ok(NULL, c.objsrv.base, &a);
    it_download_ok(NULL, c.objsrv.base, &b);
    IT_EQ(it_info(c.app.base, b.uuid, &info), 200);
    IT_STREQ(info.path, a.path);

    /* Other content is not shared. */
    {
        struct it_record o;
        it_upload_ok(NULL, c.app.base, 78, TEN_MIB, 0, false, &o);
        IT_CHECK(strcmp(o.path, a.path) != 0);
        IT_EQ(files(&c), base + 4);
    }

    first = holder_first ? &a : &b;
    second = holder_first ? &b : &a;
    IT_EQ(it_object_delete(c.app.base, first->uuid), 204);
    k = it_purge_now(c.app.base);
    if (holder_first) {
        IT_EQ(k.moved, 0);
        IT_EQ(k.held, 1);
    } else {
        IT_EQ(k.moved, 1); /* an alias: its row goes, no bytes */
        IT_EQ(k.held, 0);
    }
    IT_EQ(k.purged, 0);
    IT_EQ(it_cluster_copies(&c, a.path), 2);
    IT_EQ(it_info(c.app.base, first->uuid, &info), 404);
    it_download_ok(NULL, c.objsrv.base, second);
    IT_EQ(record_exists(&c, first->uuid), holder_first); /* a held holder stays, marked */

    /* The last name: one pass moves both and purges the bytes. */
    IT_EQ(it_object_delete(c.app.base, second->uuid), 204);
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved, holder_first ? 2 : 1);
    IT_EQ(k.held, 0);
    IT_EQ(k.purged, 2);
    IT_EQ(k.removed, 1);
    IT_EQ(k.pending, 0);
    IT_EQ(it_cluster_copies(&c, a.path), 0);
    IT_EQ(files(&c), base + 2); /* the other content's */
    IT_CHECK(!record_exists(&c, a.uuid));
    IT_CHECK(!record_exists(&c, b.uuid));
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved + k.purged + k.removed + k.pending + k.held, 0);
    it_cluster_stop(&c);
}

static void t_inline_holder_first(void *arg)
{
    (void)arg;
    inline_case(true);
}

static void t_inline_alias_first(void *arg)
{
    (void)arg;
    inline_case(false);
}

static void t_inline_off(void *arg)
{
    static const char *const off[] = {"--dedupe=false", NULL};
    struct it_cluster c;
    struct it_record a, b;
    unsigned base;

    (void)arg;
    start(&c, 3, off);
    base = files(&c);
    it_upload_ok(NULL, c.app.base, 5, 300000, 2, false, &a);
    it_upload_ok(NULL, c.app.base, 5, 300000, 2, false, &b);
    IT_CHECK(strcmp(a.path, b.path) != 0);
    IT_EQ(files(&c), base + 4);
    it_check_placement(c.f, c.n, &a);
    it_check_placement(c.f, c.n, &b);
    it_cluster_stop(&c);
}

static void t_job(void *arg)
{
    static const char *const args[] = {"--dedupe=false", "--stale-delay-ms", "0", NULL};
    struct it_cluster c;
    struct it_record a, b, o, info;
    json_t *job;
    unsigned base;

    (void)arg;
    start(&c, 4, args);
    base = files(&c);
    it_upload_ok(NULL, c.app.base, 9, TEN_MIB, 2, false, &a);
    it_upload_ok(NULL, c.app.base, 9, TEN_MIB, 2, false, &b);
    it_upload_ok(NULL, c.app.base, 10, 1000, 2, false, &o);
    IT_CHECK(strcmp(a.path, b.path) != 0);
    IT_EQ(files(&c), base + 6);

    /* b (the higher id) becomes an alias of a; its replicas are dropped. */
    job = it_job_run(c.app.base, "dedupe", "{}");
    IT_EQ(it_job_counter(job, "pairs"), 1);
    IT_EQ(it_job_counter(job, "aliased"), 1);
    IT_EQ(it_job_counter(job, "bytes_saved"), 2 * (int64_t)TEN_MIB);
    IT_EQ(it_job_counter(job, "stale_deleted"), 2);
    json_decref(job);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_DEDUPE), 1);
    IT_EQ(files(&c), base + 4);
    IT_EQ(it_cluster_copies(&c, b.path), 0);
    IT_EQ(it_cluster_copies(&c, a.path), 2);
    IT_EQ(it_info(c.app.base, b.uuid, &info), 200);
    IT_STREQ(info.path, a.path);
    it_download_ok(NULL, c.objsrv.base, &a);
    it_download_ok(NULL, c.objsrv.base, &b);
    it_check_placement(c.f, c.n, &a);
    it_check_placement(c.f, c.n, &o);

    /* Nothing left to do. */
    job = it_job_run(c.app.base, "dedupe", "{}");
    IT_EQ(it_job_counter(job, "pairs"), 0);
    IT_EQ(it_job_counter(job, "aliased"), 0);
    IT_EQ(it_job_counter(job, "stale_deleted"), 0);
    json_decref(job);
    IT_EQ(files(&c), base + 4);

    /* The holder deleted: b keeps the bytes; then b too, and all goes. */
    IT_EQ(it_object_delete(c.app.base, a.uuid), 204);
    IT_EQ(it_purge_now(c.app.base).held, 1);
    it_download_ok(NULL, c.objsrv.base, &b);
    IT_EQ(it_object_delete(c.app.base, b.uuid), 204);
    IT_EQ(it_purge_now(c.app.base).purged, 2);
    IT_EQ(it_cluster_copies(&c, a.path), 0);
    IT_EQ(files(&c), base + 2);
    it_cluster_stop(&c);
}

/* The holder's record says 2 replicas, but one of its files is gone (a
 * wiped filer, not rebuilt yet): the same content uploaded again keeps its
 * own replicas, and the dedupe job leaves the pair alone until an audit has
 * restored the holder; then it shares. */
static void t_holder_missing(void *arg)
{
    static const char *const args[] = {"--stale-delay-ms", "0", NULL};
    struct it_cluster c;
    struct it_record a, b, info;
    json_t *job;
    unsigned base;

    (void)arg;
    start(&c, 3, args);
    base = files(&c);
    it_upload_ok(NULL, c.app.base, 12, 300000, 2, false, &a);
    it_object_file_remove(&c.f[a.filers[0] - 1], a.path);
    it_upload_ok(NULL, c.app.base, 12, 300000, 0, false, &b);
    IT_CHECKF(strcmp(a.path, b.path) != 0, "upload became an alias of a holder missing a file");
    IT_EQ(it_cluster_copies(&c, b.path), 2);
    IT_EQ(files(&c), base + 3);
    it_download_ok(NULL, c.objsrv.base, &b);

    job = it_job_run(c.app.base, "dedupe", "{}");
    IT_EQ(it_job_counter(job, "pairs"), 1);
    IT_EQ(it_job_counter(job, "aliased"), 0);
    IT_EQ(it_job_counter(job, "skipped"), 1);
    json_decref(job);
    IT_EQ(it_cluster_copies(&c, b.path), 2);

    job = it_job_run(c.app.base, "audit", "{}");
    IT_EQ(it_job_counter(job, "missing"), 1);
    IT_EQ(it_job_counter(job, "repaired"), 1);
    json_decref(job);
    job = it_job_run(c.app.base, "dedupe", "{}");
    IT_EQ(it_job_counter(job, "aliased"), 1);
    IT_EQ(it_job_counter(job, "stale_deleted"), 2);
    json_decref(job);
    IT_EQ(it_cluster_copies(&c, b.path), 0);
    IT_EQ(it_cluster_copies(&c, a.path), 2);
    IT_EQ(it_info(c.app.base, b.uuid, &info), 200);
    IT_STREQ(info.path, a.path);
    it_download_ok(NULL, c.objsrv.base, &b);
    it_download_ok(NULL, c.objsrv.base, &a);
    it_cluster_stop(&c);
}

struct alias_wait {
    const struct it_cluster *c;
    const struct it_record *holder, *dup;
};

/* dup's record now names holder's replicas, and dup's own files are gone. */
static bool aliased(void *arg)
{
    struct alias_wait *w = arg;
    struct it_record info;

    IT_EQ(it_info(w->c->app.base, w->dup->uuid, &info), 200);
    return strcmp(info.path, w->holder->path) == 0 && it_cluster_copies(w->c, w->dup->path) == 0;
}

/* The app schedules the dedupe job itself (--dedupe-interval-s 1): with
 * nobody asking, the second copy of some content becomes an alias of the
 * first and its replicas go. The jobs list shows the scheduled job that
 * did it. */
static void t_scheduled(void *arg)
{
    static const char *const args[] = {
        "--dedupe=false", "--stale-delay-ms", "0", "--dedupe-interval-s", "1", NULL};
    struct it_cluster c;
    struct it_record a, b, info;
    struct alias_wait aw;
    json_t *jobs, *e;
    size_t i, found = 0;
    unsigned base;

    (void)arg;
    start(&c, 3, args);
    base = files(&c);
    it_upload_ok(NULL, c.app.base, 21, 2 * IT_MIB, 2, false, &a);
    it_upload_ok(NULL, c.app.base, 21, 2 * IT_MIB, 2, false, &b);
    IT_CHECK(strcmp(a.path, b.path) != 0);

    aw = (struct alias_wait){&c, &a, &b};
    IT_CHECKF(it_wait_for(aliased, &aw, 300, 100), "no scheduled dedupe made %s an alias", b.uuid);
    IT_EQ(it_cluster_copies(&c, a.path), 2);
    IT_EQ(files(&c), base + 2);
    IT_EQ(it_info(c.app.base, a.uuid, &info), 200);
    IT_STREQ(info.path, a.path);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_DEDUPE), 1);
    jobs = it_jobs_list(c.app.base);
    json_array_foreach(jobs, i, e)
    {
        const json_t *counters = json_object_get(e, "counters");
        IT_STREQ(it_json_str(e, "kind"), "dedupe");
        if (json_integer_value(json_object_get(counters, "aliased")) == 1) {
            found++;
            IT_EQ(it_job_counter(e, "pairs"), 1);
            IT_EQ(it_job_counter(e, "bytes_saved"), 2 * 2 * (int64_t)IT_MIB);
        }
    }
    json_decref(jobs);
    IT_EQ(found, 1);
    it_download_ok(NULL, c.objsrv.base, &a);
    it_download_ok(NULL, c.objsrv.base, &b);
    it_check_placement(c.f, c.n, &a);
    it_cluster_stop(&c);
}

static void t_holder_rotten(void *arg)
{
    static const char *const args[] = {"--stale-delay-ms", "0", NULL};
    struct it_cluster c;
    struct it_record a, b, info;
    json_t *rep;

    (void)arg;
    start(&c, 3, args);
    it_upload_ok(NULL, c.app.base, 91, 300000, 0, false, &a);
    for (size_t i = 0; i < c.n; i++)
        if (it_record_has(&a, c.f[i].id))
            it_flip_object_byte(&c.f[i], a.path, 123456);
    it_upload_ok(NULL, c.app.base, 91, 300000, 0, false, &b);
    IT_CHECKF(strcmp(b.path, a.path) != 0, "the upload was folded into the rotten holder %s",
              a.uuid);
    it_check_placement(c.f, c.n, &b);
    it_download_ok(NULL, c.objsrv.base, &b);
    /* The job reads the holder back too: the pair stays apart. */
    rep = it_job_run(c.app.base, "dedupe", "{}");
    json_decref(rep);
    IT_EQ(it_info(c.app.base, b.uuid, &info), 200);
    IT_STREQ(info.path, b.path);
    it_check_placement(c.f, c.n, &b);
    it_download_ok(NULL, c.objsrv.base, &b);
    it_cluster_stop(&c);
}

/* ---- across shards ---- */

/* The shard of a UUID in text. */
static unsigned shard_of(const char *uuid)
{
    struct cf_uuid u;
    char err[CF_ERR_LEN] = "";

    IT_EQ(cf_uuid_parse(uuid, strlen(uuid), &u, err), 0);
    return u.shard;
}

/* The path a UUID's own bytes would have on a filer. */
static void own_path(const char *uuid, char out[CF_UUID_PATH_SIZE])
{
    struct cf_uuid u;
    char err[CF_ERR_LEN] = "";

    IT_EQ(cf_uuid_parse(uuid, strlen(uuid), &u, err), 0);
    cf_uuid_filer_path(&u, out);
}

/* `coffer admin shard set --id id --read-only yes|no`. */
static void shard_read_only(const struct it_cluster *c, unsigned id, bool ro)
{
    char out[256], ids[16];
    int st;

    (void)snprintf(ids, sizeof(ids), "%u", id);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "set", "--db", c->db, "--id", ids,
                       "--read-only", ro ? "yes" : "no", NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer admin shard set: status 0x%x (see cmd.log)",
              (unsigned)st);
}

struct probe {
    const struct it_cluster *c;
    unsigned shard;
    uint64_t seed;
};

/* Two uploads of small new content in a row land in shard p->shard: the
 * app has re-read the shards table since both changes (one read between
 * them, with two writable shards, would take turns between them). */
static bool lands_in(void *arg)
{
    struct probe *p = arg;
    struct it_record r;

    for (int i = 0; i < 2; i++) {
        long st = it_upload(NULL, p->c->app.base, p->seed++, 1000, 2, false, &r);
        /* Until the app sees the new shard it may have no writable one:
         * then it refuses uploads with 503, for the client to retry. */
        if (st == 503)
            return false;
        IT_EQ(st, 201);
        if (shard_of(r.uuid) != p->shard)
            return false;
    }
    return true;
}

static void t_shards_inline(void *arg)
{
    static const char *const args[] = {"--poll-ms", "100", NULL};
    struct it_cluster c;
    struct it_record a, b, info;
    struct it_purge_counts k;
    struct probe pr;
    char bown[CF_UUID_PATH_SIZE];

    (void)arg;
    start(&c, 3, args);
    it_upload_ok(NULL, c.app.base, 31, 300000, 2, false, &a);
    IT_EQ(shard_of(a.uuid), 1);
    /* Shard 1 takes no new records: the next ones go to shard 2. */
    it_admin_shard_add(c.db);
    shard_read_only(&c, 1, true);
    pr = (struct probe){&c, 2, 5000};
    IT_CHECKF(it_wait_for(lands_in, &pr, 100, 100), "the app does not use shard 2");

    it_upload_ok(NULL, c.app.base, 31, 300000, 2, false, &b);
    IT_EQ(shard_of(b.uuid), 2);
    IT_STREQ(b.path, a.path);
    own_path(b.uuid, bown);
    IT_EQ(it_cluster_copies(&c, bown), 0);
    IT_EQ(it_cluster_copies(&c, a.path), 2);
    it_download_ok(NULL, c.objsrv.base, &a);
    it_download_ok(NULL, c.objsrv.base, &b);

    /* The holder deleted and purged: held for the alias in shard 2. */
    IT_EQ(it_object_delete(c.app.base, a.uuid), 204);
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved, 0);
    IT_EQ(k.held, 1);
    IT_EQ(k.purged, 0);
    IT_EQ(it_cluster_copies(&c, a.path), 2);
    IT_EQ(it_info(c.app.base, b.uuid, &info), 200);
    IT_STREQ(info.path, a.path);
    it_download_ok(NULL, c.objsrv.base, &b);

    /* The alias deleted too: one pass moves both and purges the bytes. */
    IT_EQ(it_object_delete(c.app.base, b.uuid), 204);
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved, 2);
    IT_EQ(k.held, 0);
    IT_EQ(k.purged, 2);
    IT_EQ(it_cluster_copies(&c, a.path), 0);
    IT_CHECK(!record_exists(&c, a.uuid));
    IT_CHECK(!record_exists(&c, b.uuid));
    it_cluster_stop(&c);
}

/* Leave in holder's shard a ref of a new alias UUID of shard alias_shard
 * that never commits: what a crash between the two steps of an alias
 * commit leaves (objdb.h "Dedupe"). Written with the database's own SQL. */
static void leave_ref(const struct it_cluster *c, const char *holder, unsigned alias_shard)
{
    struct cf_objdb *odb = NULL;
    struct cf_objdb_shard *sl = NULL;
    struct cf_db *db = NULL;
    struct cf_uuid h, x;
    char err[CF_ERR_LEN] = "", uri[CF_DB_URI_MAX + 1] = "";
    size_t n = 0;

    cf_log_init("it", CF_LOG_WARN);
    IT_EQ(cf_uuid_parse(holder, strlen(holder), &h, err), 0);
    IT_CHECKF(cf_objdb_open(c->db, 1, &odb, err) == 0, "open %s: %s", c->db, err);
    IT_CHECKF(cf_objdb_reserve(odb, (uint16_t)alias_shard, &x, err) == 0, "reserve: %s", err);
    cf_objdb_shard_list(odb, &sl, &n);
    for (size_t i = 0; i < n; i++) {
        const char *loc = sl[i].location, *slash = strrchr(c->db, '/');
        if (sl[i].id != h.shard)
            continue;
        if (strncmp(loc, "sqlite:", 7) == 0 && loc[7] != '/' && slash != NULL)
            (void)snprintf(uri, sizeof(uri), "%.*s/%s", (int)(slash - c->db), c->db, loc + 7);
        else
            (void)snprintf(uri, sizeof(uri), "%s", loc);
    }
    free(sl);
    cf_objdb_close(odb);
    IT_CHECKF(cf_db_open(uri, &db, err) == 0, "open %s: %s", uri, err);
    IT_CHECKF(cf_db_run(db, NULL, 0, err,
                        "INSERT INTO alias_refs (object_id, alias_shard, alias_oid, alias_rnd,"
                        " since) VALUES (?1, ?2, ?3, 7, ?4)",
                        "iiii", (int64_t)h.oid, (int64_t)alias_shard, (int64_t)x.oid,
                        (int64_t)cf_wall_ms()) == CF_DB_DONE,
              "insert a ref: %s", err);
    cf_db_close(db);
}

static void t_shards_job(void *arg)
{
    static const char *const args[] = {"--dedupe=false", "--stale-delay-ms", "0", NULL};
    const char *const *a = args;
    struct it_cluster c;
    struct it_record x, y, info;
    const struct it_record *h, *d;
    struct it_purge_counts k;
    json_t *job;

    (void)arg;
    it_cluster_start_filers(&c, 3);
    it_admin_shard_add(c.db);
    it_app_start_ok(&c.app, c.db, "--stall-s", "3", "--purge-retention-s", "0",
                    "--purge-interval-ms", "0", a[0], a[1], a[2], NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, "--stall-s", "3", NULL);
    /* Two writable shards take new records in turn: one copy in each. */
    it_upload_ok(NULL, c.app.base, 41, 300000, 2, false, &x);
    it_upload_ok(NULL, c.app.base, 41, 300000, 2, false, &y);
    IT_CHECKF(shard_of(x.uuid) != shard_of(y.uuid), "both copies in shard %u", shard_of(x.uuid));
    h = shard_of(x.uuid) == 1 ? &x : &y;
    d = h == &x ? &y : &x;
    IT_EQ(it_cluster_copies(&c, d->path), 2);

    job = it_job_run(c.app.base, "dedupe", "{}");
    IT_EQ(it_job_counter(job, "pairs"), 1);
    IT_EQ(it_job_counter(job, "aliased"), 1);
    IT_EQ(it_job_counter(job, "stale_deleted"), 2);
    IT_EQ(it_job_counter(job, "refs_kept"), 1);
    IT_EQ(it_job_counter(job, "refs_dropped"), 0);
    json_decref(job);
    IT_EQ(it_cluster_copies(&c, d->path), 0);
    IT_EQ(it_cluster_copies(&c, h->path), 2);
    IT_EQ(it_info(c.app.base, d->uuid, &info), 200);
    IT_STREQ(info.path, h->path);
    it_download_ok(NULL, c.objsrv.base, h);
    it_download_ok(NULL, c.objsrv.base, d);
    job = it_job_run(c.app.base, "dedupe", "{}");
    IT_EQ(it_job_counter(job, "pairs"), 0);
    json_decref(job);
    /* The holder's files are its record's: the orphans job keeps them, and
     * the audit finds them whole. */
    job = it_job_run(c.app.base, "orphans", "{\"grace_s\":0}");
    IT_EQ(it_job_counter(job, "reclaimed"), 0);
    json_decref(job);
    job = it_job_run(c.app.base, "audit", "{}");
    IT_EQ(it_job_counter(job, "missing"), 0);
    IT_EQ(it_job_counter(job, "repaired"), 0);
    json_decref(job);
    IT_EQ(it_cluster_copies(&c, h->path), 2);
    it_download_ok(NULL, c.objsrv.base, d);

    /* A ref whose alias never committed holds the holder past both names. */
    leave_ref(&c, h->uuid, 2);
    IT_EQ(it_object_delete(c.app.base, h->uuid), 204);
    IT_EQ(it_object_delete(c.app.base, d->uuid), 204);
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved, 1); /* the alias */
    IT_EQ(k.held, 1);
    IT_EQ(k.purged, 0);
    IT_EQ(it_cluster_copies(&c, h->path), 2);
    /* The next dedupe run finds the alias missing and drops the ref. */
    job = it_job_run(c.app.base, "dedupe", "{}");
    IT_EQ(it_job_counter(job, "refs_dropped"), 1);
    IT_EQ(it_job_counter(job, "refs_kept"), 0);
    json_decref(job);
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved, 1);
    IT_EQ(k.held, 0);
    IT_EQ(k.purged, 2);
    IT_EQ(it_cluster_copies(&c, h->path), 0);
    IT_CHECK(!record_exists(&c, h->uuid));
    IT_CHECK(!record_exists(&c, d->uuid));
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"inline_holder_first", t_inline_holder_first, NULL, 60},
        {"inline_alias_first", t_inline_alias_first, NULL, 60},
        {"inline_off", t_inline_off, NULL, 40},
        {"job", t_job, NULL, 90},
        {"holder_missing", t_holder_missing, NULL, 60},
        {"scheduled", t_scheduled, NULL, 60},
        {"holder_rotten", t_holder_rotten, NULL, 60},
        {"shards_inline", t_shards_inline, NULL, 60},
        {"shards_job", t_shards_job, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
