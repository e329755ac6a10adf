/*
 * it_audit.c -- the audit job (maint.h, audit.c) against real
 * filers, `coffer app` and `coffer objsrv`:
 *   repair         100 objects of mixed sizes (some 1-4 MiB), r 2 or 3 on 4
 *                  filers; bytes flipped in some replicas, some truncated,
 *                  some files deleted behind the store's back. The audit
 *                  reports exactly that many corrupt and missing replicas
 *                  and repairs them all; then every replica of every object
 *                  reads back with the record's bytes from its own filer,
 *                  counts are r, and a second audit finds nothing.
 *   filer_only     "filer": F checks and repairs F's replicas only; damage
 *                  on another filer stays until a full audit.
 *   lost           an object corrupt on every filer is reported lost and
 *                  nothing is deleted or rewritten; the others are fine.
 *   restore_count  records short of replicas (a filer dropped from them, a
 *                  filer unregistered) get new replicas on other filers,
 *                  and the unregistered filer leaves the records.
 *   sample         "sample": 30 checks about 30% of the objects, the same
 *                  ones on a rerun.
 *   scheduled      --audit-interval-s 1: the app's own periodic audit finds
 *                  and repairs a flipped byte with nobody asking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/objpath.h"
#include "coffer/scribe.h"
#include "coffer/uuid.h"

#define NOBJ 100

/* Filers 1..n and the app with our arguments, and objsrv. With plain, the
 * filers keep every object in its own file (--small-max 0): a case that
 * removes a replica behind a running filer needs that, since a filer keeps
 * indexing a volume record until it restarts. */
static void start_as(struct it_cluster *c, size_t n, bool plain)
{
    it_cluster_init(c);
    IT_CHECK(n >= 1 && n <= IT_CLUSTER_MAX);
    for (size_t i = 0; i < n; i++) {
        if (plain)
            it_cluster_add_filer(c, 100, "--small-max", "0", NULL);
        else
            it_cluster_add_filer(c, 100, NULL);
    }
    it_admin_shard_add(c->db);
    it_app_start_ok(&c->app, c->db, "--stall-s", "3", "--purge-interval-ms", "0",
                    "--stale-delay-ms", "0", NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, "--stall-s", "3", NULL);
}

static void start(struct it_cluster *c, size_t n)
{
    start_as(c, n, false);
}

static const struct it_filer *filer(const struct it_cluster *c, unsigned id)
{
    IT_CHECK(id >= 1 && id <= c->n);
    return &c->f[id - 1];
}

/* Object i's size: mostly small, every 20th 1-4 MiB, one empty. */
static uint64_t size_of(unsigned i)
{
    if (i == 0)
        return 0;
    if (i % 20 == 10)
        return (uint64_t)(1 + i % 4) * IT_MIB + i;
    return 1 + (uint64_t)i * 997;
}

static void upload_all(const struct it_cluster *c, struct it_record *recs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        it_upload_ok(NULL, c->app.base, 1000 + i, size_of(i), i % 3 == 0 ? 3 : 2, false, &recs[i]);
}

/* Every object has its wanted number of replicas, each of which reads back
 * from its own filer with the record's size and SHA-512, and no other
 * filer holds it. */
static void check_all(const struct it_cluster *c, const struct it_record *recs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct it_record now;
        IT_EQ(it_info(c->app.base, recs[i].uuid, &now), 200);
        IT_EQ(now.nfilers, now.replicas);
        for (size_t k = 0; k < now.nfilers; k++)
            it_get_ok(NULL, filer(c, now.filers[k]), now.path, now.size, now.sha);
        it_check_placement(c->f, c->n, &now);
    }
}

/* POST /v1/admin/jobs {"kind":"audit","args":args} and wait for the end,
 * which must be "done". Returns the report (caller owns). */
static json_t *audit(const struct it_cluster *c, const char *args)
{
    return it_job_run(c->app.base, "audit", args);
}

/* What an audit should have reported. */
struct want {
    int64_t objects, checked, ok, missing, corrupt, repaired, added, dropped, lost, unreachable;
};

static void check_report(const json_t *job, const struct want *w)
{
    IT_EQ(it_job_counter(job, "objects"), w->objects);
    IT_EQ(it_job_counter(job, "replicas_checked"), w->checked);
    IT_EQ(it_job_counter(job, "ok"), w->ok);
    IT_EQ(it_job_counter(job, "missing"), w->missing);
    IT_EQ(it_job_counter(job, "corrupt"), w->corrupt);
    IT_EQ(it_job_counter(job, "repaired"), w->repaired);
    IT_EQ(it_job_counter(job, "added"), w->added);
    IT_EQ(it_job_counter(job, "dropped"), w->dropped);
    IT_EQ(it_job_counter(job, "lost"), w->lost);
    IT_EQ(it_job_counter(job, "unreachable"), w->unreachable);
    IT_EQ(it_job_counter(job, "failed"), 0);
}

static int64_t replicas_of(const struct it_record *recs, unsigned n)
{
    int64_t sum = 0;

    for (unsigned i = 0; i < n; i++)
        sum += recs[i].nfilers;
    return sum;
}

/* ---- cases ---- */

static void t_repair(void *arg)
{
    static struct it_record recs[NOBJ];
    struct it_cluster c;
    struct want w = {0};
    int64_t total;
    json_t *job;

    (void)arg;
    start_as(&c, 4, true); /* it removes replicas */
    upload_all(&c, recs, NOBJ);
    total = replicas_of(recs, NOBJ);

    /* One replica damaged per chosen object; for r = 3 objects with i % 10
     * == 9, two (one flipped, one deleted): one good copy is enough. */
    for (unsigned i = 1; i < NOBJ; i++) {
        const struct it_record *r = &recs[i];
        const struct it_filer *f0 = filer(&c, r->filers[0]), *f1 = filer(&c, r->filers[1]);
        switch (i % 10) {
        case 0: /* the 1-4 MiB ones among them */
            it_flip_object_byte(f1, r->path, r->size - 1);
            w.corrupt++;
            break;
        case 1:
            it_flip_object_byte(f0, r->path, r->size / 2);
            w.corrupt++;
            break;
        case 3:
            it_truncate_object(f1, r->path, r->size / 2);
            w.corrupt++;
            break;
        case 5:
            it_object_file_remove(f1, r->path);
            w.missing++;
            break;
        case 9:
            if (r->nfilers == 3) {
                it_flip_object_byte(f0, r->path, 0);
                it_object_file_remove(f1, r->path);
                w.corrupt++;
                w.missing++;
            }
            break;
        default:
            break;
        }
    }
    IT_CHECK(w.corrupt >= 30 && w.missing >= 10);

    job = audit(&c, "{}");
    w.objects = NOBJ;
    w.checked = total;
    w.ok = total - w.corrupt - w.missing;
    w.repaired = w.corrupt + w.missing;
    check_report(job, &w);
    json_decref(job);
    /* Every finding and every fix is in the scribe. */
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_CHECKSUM), w.corrupt);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_MISSING), w.missing);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_REPAIR), w.repaired);
    check_all(&c, recs, NOBJ);
    for (unsigned i = 0; i < NOBJ; i += 7)
        it_download_ok(NULL, c.objsrv.base, &recs[i]);
    /* The job itself: started and ended, once. */
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_JOB, "(audit): started with"), 1);
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_JOB, "(audit): done after"), 1);

    /* A second audit finds nothing. */
    memset(&w, 0, sizeof(w));
    w.objects = NOBJ;
    w.checked = total;
    w.ok = total;
    job = audit(&c, "{\"sample\":100}");
    check_report(job, &w);
    json_decref(job);
    it_cluster_stop(&c);
}

static void t_filer_only(void *arg)
{
    static struct it_record recs[30];
    struct it_cluster c;
    struct want w = {0};
    int64_t on2 = 0, bad3 = 0;
    json_t *job;

    (void)arg;
    start_as(&c, 3, true); /* it removes replicas */
    upload_all(&c, recs, 30);
    for (unsigned i = 0; i < 30; i++) {
        const struct it_record *r = &recs[i];
        if (it_record_has(r, 2)) {
            on2++;
            if (i % 4 == 1 && r->size > 0) {
                it_flip_object_byte(filer(&c, 2), r->path, r->size - 1);
                w.corrupt++;
            } else if (i % 4 == 2) {
                it_object_file_remove(filer(&c, 2), r->path);
                w.missing++;
            }
        }
        if (it_record_has(r, 3) && i % 4 == 3 && r->size > 0) {
            it_truncate_object(filer(&c, 3), r->path, 0);
            bad3++;
        }
    }
    IT_CHECK(w.corrupt > 0 && w.missing > 0 && bad3 > 0);

    job = audit(&c, "{\"filer\":2}");
    w.objects = on2;
    w.checked = on2;
    w.ok = on2 - w.corrupt - w.missing;
    w.repaired = w.corrupt + w.missing;
    check_report(job, &w);
    json_decref(job);
    /* Filer 2's replicas are good; filer 3's damage is still there. */
    for (unsigned i = 0; i < 30; i++) {
        const struct it_record *r = &recs[i];
        if (it_record_has(r, 2))
            it_get_ok(NULL, filer(&c, 2), r->path, r->size, r->sha);
        if (it_record_has(r, 3) && i % 4 == 3 && r->size > 0)
            IT_EQ(it_object_file_size(filer(&c, 3), r->path), 0);
    }

    /* A full audit repairs the rest. */
    job = audit(&c, "{}");
    IT_EQ(it_job_counter(job, "corrupt"), bad3);
    IT_EQ(it_job_counter(job, "missing"), 0);
    IT_EQ(it_job_counter(job, "repaired"), bad3);
    json_decref(job);
    check_all(&c, recs, 30);
    it_cluster_stop(&c);
}

/* Every file of every filer of c, as it_tree_snapshot lines. Caller frees. */
static char *snapshot(const struct it_cluster *c)
{
    char *all = cf_xstrdup("");

    for (size_t i = 0; i < c->n; i++) {
        char *one = it_tree_snapshot(c->f[i].dir);
        size_t n = strlen(all), m = strlen(one);
        all = cf_xrealloc(all, n + m + 1);
        memcpy(all + n, one, m + 1);
        free(one);
    }
    return all;
}

static void t_lost(void *arg)
{
    struct it_cluster c;
    struct it_record gone, fine;
    struct want w = {0};
    json_t *job;
    char *before, *after;

    (void)arg;
    start(&c, 3);
    it_upload_ok(NULL, c.app.base, 61, 200000, 2, false, &gone);
    it_upload_ok(NULL, c.app.base, 62, 200000, 2, false, &fine);
    it_flip_object_byte(filer(&c, gone.filers[0]), gone.path, 10);
    it_truncate_object(filer(&c, gone.filers[1]), gone.path, 1000);
    before = snapshot(&c);

    job = audit(&c, "{}");
    w.objects = 2;
    w.checked = 4;
    w.ok = 2;
    w.corrupt = 2;
    w.lost = 1;
    check_report(job, &w);
    json_decref(job);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_CHECKSUM), 3); /* two replicas, then "no good replica" */
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_REPAIR), 0);
    /* Nothing deleted, nothing rewritten. */
    IT_EQ(it_object_file_size(filer(&c, gone.filers[0]), gone.path), (int64_t)gone.size);
    IT_EQ(it_object_file_size(filer(&c, gone.filers[1]), gone.path), 1000);
    after = snapshot(&c);
    IT_STREQ(after, before);
    free(before);
    free(after);
    {
        struct it_record now;
        IT_EQ(it_info(c.app.base, gone.uuid, &now), 200);
        IT_EQ(now.nfilers, 2);
    }
    it_check_placement(c.f, c.n, &fine);
    it_cluster_stop(&c);
}

static void t_restore_count(void *arg)
{
    static struct it_record recs[12];
    struct it_cluster c;
    struct cf_objdb *odb = NULL;
    char err[CF_ERR_LEN] = "";
    int64_t short_by = 0, on4 = 0, total;
    json_t *job;

    (void)arg;
    start(&c, 4);
    for (unsigned i = 0; i < 12; i++)
        it_upload_ok(NULL, c.app.base, 300 + i, 5000 + i, 3, false, &recs[i]);
    total = replicas_of(recs, 12);
    cf_log_init("it", CF_LOG_WARN);
    IT_CHECKF(cf_objdb_open(c.db, 1, &odb, err) == 0, "open %s: %s", c.db, err);
    /* Forget one replica of the even objects (not filer 4's). */
    for (unsigned i = 0; i < 12; i += 2) {
        struct cf_uuid u;
        unsigned drop = recs[i].filers[0] != 4 ? recs[i].filers[0] : recs[i].filers[1];
        IT_EQ(cf_uuid_parse(recs[i].uuid, strlen(recs[i].uuid), &u, err), 0);
        IT_CHECKF(cf_objdb_replica_move(odb, &u, drop, 0, false, err) == 0, "replace_filer: %s",
                  err);
        short_by++;
    }
    /* Filer 4 leaves the registry (it keeps running, and its bytes). */
    for (unsigned i = 0; i < 12; i++)
        if (it_record_has(&recs[i], 4))
            on4++;
    IT_CHECK(on4 > 0);
    IT_CHECKF(cf_objdb_filer_unregister(odb, 4, err) == 0, "filer_remove: %s", err);
    cf_objdb_close(odb);
    for (unsigned i = 0; i < 12; i++)
        if (it_record_has(&recs[i], 4)) {
            it_wait_filer_status(&c, recs[i].uuid, 4, "unknown");
            break;
        }

    job = audit(&c, "{}");
    IT_EQ(it_job_counter(job, "objects"), 12);
    IT_EQ(it_job_counter(job, "replicas_checked"), total - short_by - on4);
    IT_EQ(it_job_counter(job, "ok"), total - short_by - on4);
    IT_EQ(it_job_counter(job, "dropped"), on4);
    IT_EQ(it_job_counter(job, "added"), short_by + on4);
    IT_EQ(it_job_counter(job, "corrupt") + it_job_counter(job, "missing") +
              it_job_counter(job, "lost"),
          0);
    IT_EQ(it_job_counter(job, "failed"), 0);
    json_decref(job);
    for (unsigned i = 0; i < 12; i++) {
        struct it_record now;
        IT_EQ(it_info(c.app.base, recs[i].uuid, &now), 200);
        IT_EQ(now.nfilers, 3);
        IT_CHECK(!it_record_has(&now, 4));
        for (size_t k = 0; k < now.nfilers; k++)
            it_get_ok(NULL, filer(&c, now.filers[k]), now.path, now.size, now.sha);
        it_download_ok(NULL, c.objsrv.base, &now);
    }
    job = audit(&c, "{}");
    IT_EQ(it_job_counter(job, "added") + it_job_counter(job, "dropped") +
              it_job_counter(job, "repaired"),
          0);
    json_decref(job);
    it_cluster_stop(&c);
}

static void t_sample(void *arg)
{
    static struct it_record recs[60];
    struct it_cluster c;
    int64_t a, b;
    json_t *job;

    (void)arg;
    start(&c, 3);
    for (unsigned i = 0; i < 60; i++)
        it_upload_ok(NULL, c.app.base, 500 + i, 100 + i, 2, false, &recs[i]);
    job = audit(&c, "{\"sample\":30}");
    a = it_job_counter(job, "objects");
    json_decref(job);
    job = audit(&c, "{\"sample\":30}");
    b = it_job_counter(job, "objects");
    json_decref(job);
    IT_EQ(a, b);
    IT_CHECKF(a >= 6 && a <= 30, "sampled %lld of 60 objects at 30%%", (long long)a);
    it_cluster_stop(&c);
}

/* A slow audit (bw_mbps 1) is stopped part way (DELETE) and resumed: the
 * report is exactly a whole run's. Then one is killed (-9 with the app)
 * part way and resumed by the restarted app: every replica is repaired. */
static void t_stop_resume(void *arg)
{
    static struct it_record recs[40];
    struct it_cluster c;
    struct want w = {0};
    char url[256], err[CF_ERR_LEN] = "";
    long status = 0;
    int64_t id;
    json_t *job;

    (void)arg;
    start_as(&c, 3, true); /* it removes replicas */
    for (unsigned i = 0; i < 40; i++) {
        it_upload_ok(NULL, c.app.base, 700 + i, 60000, 2, false, &recs[i]);
        if (i % 5 == 2) {
            it_flip_object_byte(filer(&c, recs[i].filers[1]), recs[i].path, i);
            w.corrupt++;
        }
    }
    id = it_job_start(c.app.base, "audit", "{\"bw_mbps\":1}");
    it_job_wait_progress(c.app.base, id, 5, 300, 50);
    it_fmt(url, sizeof(url), "%s/v1/admin/jobs/%lld", c.app.base, (long long)id);
    IT_CHECK(cf_httpc_global_init() == 0);
    IT_CHECK(cf_httpc_json("DELETE", url, NULL, 10000, &status, NULL, err) == 0);
    IT_EQ(status, 202);
    job = it_job_wait_end(c.app.base, id, 300, 50);
    IT_STREQ(it_json_str(job, "state"), "stopped");
    IT_CHECK(it_json_int(job, "done_objects") < 40);
    json_decref(job);

    job = audit(&c, "{}"); /* the same job: bw_mbps is not part of its name */
    IT_STREQ(it_json_str(job, "state"), "done");
    w.objects = 40;
    w.checked = 80;
    w.ok = 80 - w.corrupt;
    w.repaired = w.corrupt;
    check_report(job, &w);
    json_decref(job);
    check_all(&c, recs, 40);

    /* Killed part way, with the app. */
    for (unsigned i = 0; i < 40; i += 3)
        it_object_file_remove(filer(&c, recs[i].filers[0]), recs[i].path);
    id = it_job_start(c.app.base, "audit", "{\"bw_mbps\":1,\"sample\":100,\"filer\":0}");
    it_job_wait_progress(c.app.base, id, 5, 300, 50);
    it_proc_kill9(&c.app);
    it_app_start_ok(&c.app, c.db, "--stall-s", "3", "--purge-interval-ms", "0", "--stale-delay-ms",
                    "0", NULL);
    job = audit(&c, "{}");
    IT_CHECK(it_job_counter(job, "missing") >= 1);
    IT_EQ(it_job_counter(job, "repaired"), it_job_counter(job, "missing"));
    json_decref(job);
    check_all(&c, recs, 40);
    it_cluster_stop(&c);
}

struct scribe_wait {
    const char *db, *kind;
    int64_t want, last;
};

static bool scribe_has(void *arg)
{
    struct scribe_wait *w = arg;

    w->last = it_scribe_count(w->db, w->kind);
    return w->last >= w->want;
}

/* The app schedules the audit itself (--audit-interval-s 1): with nobody
 * asking, a flipped byte is found and the replica rewritten. The jobs list
 * shows the scheduled job (the scheduler's args) that did it, and the
 * scribe holds one finding and one repair: later passes find nothing. */
static void t_scheduled(void *arg)
{
    struct it_record recs[6];
    struct scribe_wait sw;
    struct it_cluster c;
    json_t *jobs, *e;
    size_t i, found = 0;

    (void)arg;
    it_cluster_start_filers(&c, 3);
    it_app_start_ok(&c.app, c.db, "--audit-interval-s", "1", "--stale-delay-ms", "0", NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    for (unsigned k = 0; k < CF_ARRAY_LEN(recs); k++)
        it_upload_ok(NULL, c.app.base, 3000 + k, 20000 + k, 2, false, &recs[k]);
    /* A small object: the flipped byte is in a volume record. */
    IT_CHECK(it_object_in_volume(filer(&c, recs[2].filers[1]), recs[2].path));
    it_flip_object_byte(filer(&c, recs[2].filers[1]), recs[2].path, 777);

    sw = (struct scribe_wait){c.db, CF_SCRIBE_REPAIR, 1, 0};
    IT_CHECKF(it_wait_for(scribe_has, &sw, 300, 100), "no scheduled audit repaired the replica");
    IT_EQ(sw.last, 1);
    it_check_object_file(filer(&c, recs[2].filers[1]), recs[2].path, recs[2].size, recs[2].sha);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_CHECKSUM), 1);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_MISSING), 0);
    jobs = it_jobs_list(c.app.base);
    json_array_foreach(jobs, i, e)
    {
        const json_t *counters = json_object_get(e, "counters");
        IT_STREQ(it_json_str(e, "kind"), "audit");
        if (json_integer_value(json_object_get(counters, "repaired")) == 1) {
            found++;
            IT_EQ(it_job_counter(e, "corrupt"), 1);
            IT_EQ(it_job_counter(e, "objects"), (int64_t)CF_ARRAY_LEN(recs));
            IT_EQ(it_json_int(json_object_get(e, "args"), "bw_mbps"), 20);
        }
    }
    json_decref(jobs);
    IT_EQ(found, 1);
    check_all(&c, recs, CF_ARRAY_LEN(recs));
    it_download_ok(NULL, c.objsrv.base, &recs[2]);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"repair", t_repair, NULL, 120},      {"filer_only", t_filer_only, NULL, 60},
        {"lost", t_lost, NULL, 40},           {"restore_count", t_restore_count, NULL, 60},
        {"sample", t_sample, NULL, 60},       {"stop_resume", t_stop_resume, NULL, 90},
        {"scheduled", t_scheduled, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
