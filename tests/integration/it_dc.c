/*
 * it_dc.c -- data centers: filers labelled with `coffer admin filer
 * set --dc`, real filers, `coffer app` and `coffer objsrv`:
 *   spread    filers 1, 2 in a (weight 100), 3, 4 in b (weight 50):
 *             every object uploaded with r = 2 has one replica in each data
 *             center (by weight alone both would land in a); with r = 3,
 *             still both; `coffer admin filer list` and `shard list`, the monitor's
 *             GET /v1/filers and `coffer admin filers` show the labels.
 *   a_down    filers 1 and 2 (all of a) killed: every object is still
 *             read from b, and uploads go on, both replicas in b.
 *   rebuild   filers 1, 2, 3 in a, 4 and 5 in b, 5 light (weight 10):
 *             filer 4 killed and rebuilt: every replica it held goes to 5,
 *             the other filer of b, not to the heavier ones of a, so each
 *             object stays in both data centers.
 *   rebalance filers 1, 2 in a and 3, 4 in b hold every object once in
 *             each; an empty filer 5 joins a: the rebalance fills it from
 *             1 and 2 only (a move from b would leave an object in a alone),
 *             and every object stays in both data centers.
 *   audit     the same five filers as rebuild; the record of each object forgets its
 *             replica in b: the audit adds the missing replica in b again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/uuid.h"

#define N_OBJ 60

static const char *dc_of(unsigned id, const char *const *dcs)
{
    return dcs[id - 1];
}

/* `coffer admin filer set --id ID --dc DC`; must exit 0. */
static void set_dc(const struct it_cluster *c, unsigned id, const char *dc)
{
    char idt[16], out[512];
    int st;

    it_fmt(idt, sizeof(idt), "%u", id);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "set", "--db", c->db, "--id", idt,
                       "--dc", dc, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin filer set: status %d: %s", st, out);
}

/* Filers with weights w[0..n) and data centers dcs[0..n), one shard, then
 * the app and objsrv (which read the labels with the filer table). */
static void start(struct it_cluster *c, size_t n, const unsigned *w, const char *const *dcs)
{
    it_cluster_init(c);
    for (size_t i = 0; i < n; i++)
        it_cluster_add_filer(c, w[i], "--capacity", "1G", NULL);
    it_admin_shard_add(c->db);
    for (size_t i = 0; i < n; i++)
        set_dc(c, (unsigned)i + 1, dcs[i]);
    it_app_start_ok(&c->app, c->db, "--purge-interval-ms", "0", "--stale-delay-ms", "0",
                    "--audit-interval-s", "0", "--dedupe-interval-s", "0", NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, NULL);
    for (size_t i = 0; i < n; i++)
        it_wait_filer_table(c->db, (unsigned)i + 1, "online");
}

/* Distinct data centers of rec's filers. */
static unsigned spread(const struct it_record *rec, const char *const *dcs)
{
    unsigned k = 0;

    for (size_t i = 0; i < rec->nfilers; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(dc_of(rec->filers[i], dcs), dc_of(rec->filers[j], dcs)) == 0;
        k += !seen;
    }
    return k;
}

static void t_spread(void *arg)
{
    static const unsigned w[] = {100, 100, 50, 50};
    static const char *const dcs[] = {"a", "a", "b", "b"};
    struct it_cluster c;
    struct it_record rec;
    char out[2048];
    int st;

    (void)arg;
    start(&c, 4, w, dcs);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "list", "--db", c.db, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, " dc ") != NULL &&
                  strstr(out, " a ") != NULL && strstr(out, " b ") != NULL,
              "admin filer list: %d: %s", st, out);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "set", "--db", c.db, "--id", "1",
                       "--dc", "b", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin shard set: %d: %s", st, out);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "list", "--db", c.db, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, " dc ") != NULL &&
                  strstr(out, " b ") != NULL,
              "admin shard list: %d: %s", st, out);
    /* A bad label is refused (usage error). */
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "set", "--db", c.db, "--id", "1",
                       "--dc", "no spaces", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "admin filer set bad dc: %d: %s", st, out);

    for (size_t i = 0; i < N_OBJ; i++) {
        it_upload_ok(NULL, c.app.base, 500 + i, 1000 + i * 37, 2, false, &rec);
        IT_EQ(spread(&rec, dcs), 2);
        IT_EQ(it_info(c.app.base, rec.uuid, &rec), 200);
        IT_EQ(spread(&rec, dcs), 2);
        it_check_placement(c.f, c.n, &rec);
    }
    for (size_t i = 0; i < 10; i++) {
        it_upload_ok(NULL, c.app.base, 900 + i, 5000, 3, false, &rec);
        IT_EQ(spread(&rec, dcs), 2);
    }

    /* The monitor shows them too. */
    {
        struct it_proc mon;
        struct it_resp r;
        json_t *j = NULL, *arr;
        it_monitor_start_ok(&mon, c.db, NULL);
        IT_EQ(it_http_to(NULL, mon.base, "GET", "/v1/filers", NULL, &r, NULL), 200);
        j = json_loads(r.body, 0, NULL);
        arr = json_object_get(j, "filers");
        IT_EQ(json_array_size(arr), 4);
        for (size_t i = 0; i < 4; i++) {
            const json_t *e = json_array_get(arr, i);
            IT_STREQ(it_json_str(e, "dc"), dc_of((unsigned)it_json_int(e, "id"), dcs));
        }
        json_decref(j);
        it_resp_fini(&r);
        st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filers", "--monitor", mon.base, NULL);
        IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, " dc ") != NULL &&
                      strstr(out, " a ") != NULL && strstr(out, " b ") != NULL,
                  "admin filers: %d: %s", st, out);
        it_proc_stop_ok(&mon);
    }
    it_cluster_stop(&c);
}

static void t_a_down(void *arg)
{
    static const unsigned w[] = {100, 100, 100, 100};
    static const char *const dcs[] = {"a", "a", "b", "b"};
    struct it_cluster c;
    struct it_record *recs = calloc(N_OBJ, sizeof(*recs)), rec;

    (void)arg;
    IT_CHECK(recs != NULL);
    start(&c, 4, w, dcs);
    for (size_t i = 0; i < N_OBJ; i++) {
        it_upload_ok(NULL, c.app.base, 2000 + i, 3000 + i * 101, 2, false, &recs[i]);
        IT_EQ(spread(&recs[i], dcs), 2);
    }
    it_filer_kill9(&c.f[0]);
    it_filer_kill9(&c.f[1]);
    it_wait_filer_table(c.db, 1, "offline");
    it_wait_filer_table(c.db, 2, "offline");
    /* Every object is still there, from b. */
    for (size_t i = 0; i < N_OBJ; i++)
        it_download_ok(NULL, c.objsrv.base, &recs[i]);
    /* New objects: two replicas, both in b. */
    for (size_t i = 0; i < 20; i++) {
        it_upload_ok(NULL, c.app.base, 3000 + i, 4000 + i, 2, false, &rec);
        IT_CHECK(it_record_has(&rec, 3) && it_record_has(&rec, 4));
        it_download_ok(NULL, c.objsrv.base, &rec);
    }
    free(recs);
    it_cluster_stop(&c);
}

static void t_rebuild(void *arg)
{
    static const unsigned w[] = {100, 100, 100, 100, 10};
    static const char *const dcs[] = {"a", "a", "a", "b", "b"};
    struct it_cluster c;
    struct it_record *recs = calloc(N_OBJ, sizeof(*recs));
    unsigned held = 0;
    char out[2048], moved[32];
    int st;

    (void)arg;
    IT_CHECK(recs != NULL);
    start(&c, 5, w, dcs);
    for (size_t i = 0; i < N_OBJ; i++) {
        it_upload_ok(NULL, c.app.base, 4000 + i, 2000 + i * 53, 2, false, &recs[i]);
        IT_EQ(spread(&recs[i], dcs), 2);
        held += it_record_has(&recs[i], 4);
    }
    /* Filer 4 outweighs 5 in b: it holds most of b's replicas. */
    IT_CHECK(held > N_OBJ / 2);
    it_filer_kill9(&c.f[3]);
    it_wait_filer_table(c.db, 4, "offline");
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebuild", "--filer", "4", "--app",
                       c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "rebuild done") != NULL,
              "admin rebuild: status %d: %s", st, out);
    it_fmt(moved, sizeof(moved), "moved %u", held);
    IT_CHECKF(strstr(out, moved) != NULL, "expected %s: \"%s\"", moved, out);
    for (size_t i = 0; i < N_OBJ; i++) {
        struct it_record now;
        IT_EQ(it_info(c.app.base, recs[i].uuid, &now), 200);
        IT_EQ(now.nfilers, 2);
        IT_CHECK(!it_record_has(&now, 4));
        IT_CHECK(it_record_has(&now, 5));
        IT_EQ(spread(&now, dcs), 2);
        it_download_ok(NULL, c.objsrv.base, &now);
    }
    free(recs);
    it_cluster_stop(&c);
}

static void t_rebalance(void *arg)
{
    static const unsigned w[] = {100, 100, 100, 100};
    static const char *const dcs[] = {"a", "a", "b", "b", "a"};
    struct it_cluster c;
    struct it_record *recs = calloc(N_OBJ * 2, sizeof(*recs));
    char out[2048];
    int st;

    (void)arg;
    IT_CHECK(recs != NULL);
    start(&c, 4, w, dcs);
    for (size_t i = 0; i < N_OBJ * 2; i++)
        it_upload_ok(NULL, c.app.base, 8000 + i, 20000 + (i * 7919) % 30000, 2, false, &recs[i]);
    /* Filer 5 registered with its label at once: a view of it without one
     * (a data center of its own) would allow any move to it. */
    it_filer_init(&c.f[4], 5, "f5");
    it_filer_start_ok(&c.f[4], "--capacity", "1G", NULL);
    c.n++;
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "add", "--db", c.db, "--id", "5",
                       "--url", c.f[4].base, "--dc", "a", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin filer add --dc: %d: %s", st, out);
    it_wait_filer_table(c.db, 5, "online");
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebalance", "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && strstr(out, "rebalance done") != NULL,
              "admin rebalance: status %d: %s", st, out);
    IT_CHECK(it_status_int(&c.f[4], "used_bytes") > 0);
    for (size_t i = 0; i < N_OBJ * 2; i++) {
        struct it_record now;
        IT_EQ(it_info(c.app.base, recs[i].uuid, &now), 200);
        IT_EQ(now.nfilers, 2);
        IT_EQ(spread(&now, dcs), 2);
        /* b's replicas stayed where they were. */
        IT_EQ(it_record_has(&now, 3) + it_record_has(&now, 4),
              it_record_has(&recs[i], 3) + it_record_has(&recs[i], 4));
        it_download_ok(NULL, c.objsrv.base, &now);
    }
    free(recs);
    it_cluster_stop(&c);
}

static void t_audit(void *arg)
{
    static const unsigned w[] = {100, 100, 100, 100, 10};
    static const char *const dcs[] = {"a", "a", "a", "b", "b"};
    struct it_cluster c;
    struct it_record *recs = calloc(N_OBJ, sizeof(*recs));
    struct cf_objdb *odb = NULL;
    char err[CF_ERR_LEN] = "";
    json_t *job;

    (void)arg;
    IT_CHECK(recs != NULL);
    start(&c, 5, w, dcs);
    for (size_t i = 0; i < N_OBJ; i++)
        it_upload_ok(NULL, c.app.base, 6000 + i, 1500 + i * 29, 2, false, &recs[i]);
    cf_log_init("it", CF_LOG_WARN);
    IT_CHECKF(cf_objdb_open(c.db, 1, &odb, err) == 0, "open %s: %s", c.db, err);
    for (size_t i = 0; i < N_OBJ; i++) {
        struct cf_uuid u;
        unsigned in_b = it_record_has(&recs[i], 4) ? 4 : 5;
        IT_CHECK(it_record_has(&recs[i], in_b));
        IT_EQ(cf_uuid_parse(recs[i].uuid, strlen(recs[i].uuid), &u, err), 0);
        IT_CHECKF(cf_objdb_replica_move(odb, &u, in_b, 0, false, err) == 0, "forget: %s", err);
    }
    cf_objdb_close(odb);
    job = it_job_run(c.app.base, "audit", "{}");
    IT_EQ(it_job_counter(job, "added"), N_OBJ);
    IT_EQ(it_job_counter(job, "failed"), 0);
    json_decref(job);
    for (size_t i = 0; i < N_OBJ; i++) {
        struct it_record now;
        IT_EQ(it_info(c.app.base, recs[i].uuid, &now), 200);
        IT_EQ(now.nfilers, 2);
        IT_EQ(spread(&now, dcs), 2);
        it_download_ok(NULL, c.objsrv.base, &now);
    }
    free(recs);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"spread", t_spread, NULL, 90},   {"a_down", t_a_down, NULL, 90},
        {"rebuild", t_rebuild, NULL, 90}, {"rebalance", t_rebalance, NULL, 120},
        {"audit", t_audit, NULL, 90},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
