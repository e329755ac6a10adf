/*
 * it_rebalance.c -- the rebalance job (maint.h) against real
 * filers, `coffer app` (--stale-delay-ms 0, so a moved replica's old copy
 * is deleted when the job ends) and `coffer objsrv`:
 *   balance   three filers hold data, an empty fourth joins; `coffer admin
 *             rebalance` leaves every filer's used bytes (its /status)
 *             within 10% of the mean, no record lists a filer twice, every
 *             listed filer serves the record's bytes and no other filer
 *             keeps a copy; a reader thread downloads every object through
 *             objsrv in a loop during the whole run, and every download
 *             succeeds, as they do after.
 *   killed    the app killed -9 in the middle of a slowed rebalance; run
 *             again: balanced and consistent (at most the one copy the
 *             killed run had made but not recorded is left unlisted).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#include "coffer/scribe.h"

#define N_OBJ 180

static void app_start(struct it_cluster *c)
{
    it_app_start_ok(&c->app, c->db, "--purge-interval-ms", "0", "--stale-delay-ms", "0",
                    "--audit-interval-s", "0", "--dedupe-interval-s", "0", NULL);
}

/* Three filers with N_OBJ objects (r = 2), then an empty fourth, online. */
static struct it_record *start(struct it_cluster *c)
{
    struct it_record *recs = calloc(N_OBJ, sizeof(*recs));

    IT_CHECK(recs != NULL);
    it_cluster_init(c);
    for (unsigned i = 1; i <= 3; i++)
        it_cluster_add_filer(c, 100, "--capacity", "1G", NULL);
    it_admin_shard_add(c->db);
    app_start(c);
    for (size_t i = 0; i < N_OBJ; i++)
        it_upload_ok(NULL, c->app.base, 500 + i, 24 * 1024 + (i * 7919) % (48 * 1024), 2, false,
                     &recs[i]);
    it_cluster_add_filer(c, 100, "--capacity", "1G", NULL); /* filer 4 */
    it_wait_filer_table(c->db, 4, "online");
    IT_EQ(it_status_int(&c->f[3], "used_bytes"), 0);
    return recs;
}

/* Every filer's used bytes within 10% of the mean. */
static void check_balanced(const struct it_cluster *c)
{
    int64_t used[IT_CLUSTER_MAX], sum = 0;
    double mean;

    for (size_t i = 0; i < c->n; i++) {
        used[i] = it_status_int(&c->f[i], "used_bytes");
        sum += used[i];
    }
    mean = (double)sum / (double)c->n;
    for (size_t i = 0; i < c->n; i++)
        IT_CHECKF(used[i] >= mean * 0.9 && used[i] <= mean * 1.1,
                  "filer %zu uses %lld bytes, the mean is %.0f", i + 1, (long long)used[i], mean);
}

struct reader {
    const struct it_cluster *c;
    const struct it_record *recs;
    atomic_bool stop;
    unsigned done;
};

/* Download every object through objsrv, round and round, until told to stop
 * (or 4000 downloads, a bound for a hung rebalance). */
static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct it_client cl;

    it_client_init(&cl);
    for (size_t i = 0; !atomic_load(&r->stop) && r->done < 4000; i = (i + 1) % N_OBJ) {
        it_download_ok(&cl, r->c->objsrv.base, &r->recs[i]);
        r->done++;
    }
    it_client_fini(&cl);
    return NULL;
}

static void t_balance(void *arg)
{
    struct it_cluster c;
    struct it_record *recs;
    struct reader rd;
    pthread_t t;
    char out[2048];
    int st;

    (void)arg;
    recs = start(&c);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    rd = (struct reader){.c = &c, .recs = recs};
    atomic_init(&rd.stop, false);
    IT_EQ(pthread_create(&t, NULL, reader_main, &rd), 0);

    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebalance", "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebalance: status %d: %s", st, out);
    IT_CHECKF(strstr(out, "rebalance done") != NULL, "admin rebalance printed \"%s\"", out);
    atomic_store(&rd.stop, true);
    IT_EQ(pthread_join(t, NULL), 0);
    IT_CHECK(rd.done > 0);

    check_balanced(&c);
    it_cluster_verify(&c, recs, N_OBJ, 2, 0);
    for (size_t i = 0; i < N_OBJ; i++) {
        struct it_record now;
        IT_EQ(it_info(c.app.base, recs[i].uuid, &now), 200);
        it_check_placement(c.f, c.n, &now);
        it_download_ok(NULL, c.objsrv.base, &now);
    }
    /* Balanced already: a second run moves nothing. */
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebalance", "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebalance: status %d", st);
    IT_CHECKF(strstr(out, "rebalance done: 0 of") != NULL && strstr(out, "moved") == NULL,
              "second rebalance printed \"%s\"", out);
    free(recs);
    it_cluster_stop(&c);
}

static void t_killed(void *arg)
{
    struct it_cluster c;
    struct it_record *recs;
    char out[2048], needle[64];
    unsigned id = 0, listed;
    int64_t stored = 0;
    int st;

    (void)arg;
    recs = start(&c);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebalance", "--bw", "1", "--detach",
                       "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebalance: status %d: %s", st, out);
    IT_EQ(sscanf(out, "job %u", &id), 1);
    it_job_wait_progress(c.app.base, id, 30, 400, 50);
    it_proc_kill9(&c.app);

    app_start(&c);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebalance", "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebalance: status %d: %s", st, out);
    /* The same job went on from its checkpoint: the scribe says so once. */
    it_fmt(needle, sizeof(needle), "job %u (rebalance): resumed at", id);
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_JOB, needle), 1);
    check_balanced(&c);
    it_cluster_verify(&c, recs, N_OBJ, 2, 0);
    listed = 2 * N_OBJ; /* every record lists two filers */
    for (size_t i = 0; i < c.n; i++)
        stored += it_status_int(&c.f[i], "objects");
    IT_CHECKF(stored >= listed && stored <= listed + 1, "%lld copies stored, %u listed",
              (long long)stored, listed);
    free(recs);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"balance", t_balance, NULL, 120},
        {"killed", t_killed, NULL, 120},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
