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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#include "coffer/err.h"
#include "coffer/httpc.h"

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
 * injection, and an app whose stale pass runs every 200 ms with no delay. */
static void start(struct it_cluster *c, size_t n, const unsigned *weights)
{
    it_cluster_init(c);
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            it_cluster_add_filer(c, weights[i], "--fault-injection", NULL);
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
    IT_CHECK(store_empty(&c.f[1]));
    IT_EQ(it_objdb_count(c.db, 2), 0);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"failed_target", t_failed_target, NULL, 40},
        {"failed_upload", t_failed_upload, NULL, 40},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
