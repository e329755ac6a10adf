/*
 * it_rebuild.c -- the rebuild job (maint.h) against real filers and
 * `coffer app`, driven by `coffer admin rebuild`:
 *   index, scan   filer 2 stopped, its directory wiped, restarted empty with
 *                 the same id: the rebuild (per-filer index, or a scan of
 *                 the records) copies back every object it held; then every
 *                 record lists r filers and each of them serves bytes with
 *                 the record's SHA-512, and no filer holds a copy no record
 *                 lists.
 *   to            filer 1 killed, an empty filer 5 registered: --to 5 moves
 *                 filer 1's replicas to 5; no record lists 1 any more.
 *   dead          filer 3 killed: its objects get a new replica elsewhere;
 *                 the job is stopped once (`admin job stop`) and resumed.
 *   resume        the app killed -9 half way through a slowed rebuild; the
 *                 job shows "interrupted"; run again, it resumes (same job,
 *                 done count kept) and completes, every object verified.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#include "coffer/err.h"
#include "coffer/scribe.h"

#define N_SMALL 300
#define N_BIG   3

static const char *const app_args[] = {"--purge-interval-ms",
                                       "0",
                                       "--stale-delay-ms",
                                       "0",
                                       "--audit-interval-s",
                                       "0",
                                       "--dedupe-interval-s",
                                       "0",
                                       NULL};

static void app_start(struct it_cluster *c)
{
    it_app_start_ok(&c->app, c->db, app_args[0], app_args[1], app_args[2], app_args[3], app_args[4],
                    app_args[5], app_args[6], app_args[7], NULL);
}

/* Filers 1..n registered with one shard, and the app; no objsrv. */
static void start(struct it_cluster *c, size_t n)
{
    it_cluster_start_filers(c, n);
    app_start(c);
}

/* Upload n objects of sizes size(i) with r = 2. */
static struct it_record *upload(struct it_cluster *c, size_t n, uint64_t (*size)(size_t))
{
    struct it_record *recs = calloc(n, sizeof(*recs));

    IT_CHECK(recs != NULL);
    for (size_t i = 0; i < n; i++)
        it_upload_ok(NULL, c->app.base, 1000 + i, size(i), 2, false, &recs[i]);
    return recs;
}

static uint64_t mixed_size(size_t i)
{
    if (i >= N_SMALL)
        return (uint64_t)(i - N_SMALL + 1) * IT_MIB + 12345u * (i - N_SMALL);
    return 1000 + (uint64_t)(i * 7919 % 20000);
}

static uint64_t even_size(size_t i)
{
    return 48 * 1024 + i;
}

static unsigned held_by(const struct it_record *recs, size_t n, unsigned id)
{
    unsigned k = 0;

    for (size_t i = 0; i < n; i++)
        k += it_record_has(&recs[i], id);
    return k;
}

/* Stop filer f, wipe its directory, start it again empty on its port. */
static void wipe_filer(struct it_filer *f)
{
    char listen[32];

    it_filer_stop_ok(f);
    IT_EQ(it_rm_rf(f->dir), 0);
    it_fmt(listen, sizeof(listen), "127.0.0.1:%u", f->port);
    it_filer_start_ok(f, "--listen", listen, NULL);
    IT_EQ(it_status_int(f, "objects"), 0);
}

/* Whether out says `name N` for the job's counter. */
static bool has_count(const char *out, const char *name, unsigned n)
{
    char want[64];
    const char *p;

    it_fmt(want, sizeof(want), " %s %u", name, n);
    p = strstr(out, want);
    return p != NULL && (p[strlen(want)] == ',' || p[strlen(want)] == ';' ||
                         p[strlen(want)] == '\n' || p[strlen(want)] == '\0');
}

static int rebuild_cmd(const struct it_cluster *c, char *out, size_t cap, const char *filer,
                       const char *a1, const char *a2)
{
    return it_coffer_cmd(out, cap, NULL, "admin", "rebuild", "--filer", filer, "--app", c->app.base,
                         a1, a2, NULL);
}

static void t_in_place(void *arg)
{
    const char *method = arg;
    struct it_cluster c;
    struct it_record *recs;
    char out[2048];
    unsigned held;
    int st;

    start(&c, 4);
    recs = upload(&c, N_SMALL + N_BIG, mixed_size);
    held = held_by(recs, N_SMALL + N_BIG, 2);
    IT_CHECK(held > N_SMALL / 4);
    wipe_filer(&c.f[1]);
    it_wait_filer_table(c.db, 2, "online");

    st = rebuild_cmd(&c, out, sizeof(out), "2", "--method", method);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebuild: status %d: %s", st, out);
    IT_CHECKF(strstr(out, "rebuild done") != NULL, "admin rebuild printed \"%s\"", out);
    IT_CHECKF(has_count(out, "copied", held), "expected %u copied: \"%s\"", held, out);
    IT_EQ(it_status_int(&c.f[1], "objects"), held);
    it_cluster_verify(&c, recs, N_SMALL + N_BIG, 2, 0);
    for (size_t i = 0; i < N_SMALL + N_BIG; i++)
        it_check_placement(c.f, c.n, &recs[i]);

    /* Again: everything is there; nothing is copied. */
    st = rebuild_cmd(&c, out, sizeof(out), "2", "--method", method);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebuild: status %d", st);
    IT_CHECKF(has_count(out, "present", held), "expected %u present: \"%s\"", held, out);
    /* Two jobs, each started and ended in the scribe. */
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_JOB, "(rebuild): started with"), 2);
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_JOB, "(rebuild): done after"), 2);
    free(recs);
    it_cluster_stop(&c);
}

static void t_to(void *arg)
{
    struct it_cluster c;
    struct it_record *recs;
    char out[2048];
    unsigned held;
    int st;

    (void)arg;
    start(&c, 4);
    recs = upload(&c, 120, mixed_size);
    held = held_by(recs, 120, 1);
    it_cluster_add_filer(&c, 100, NULL); /* filer 5 */
    it_wait_filer_table(c.db, 5, "online");
    it_filer_kill9(&c.f[0]);
    it_wait_filer_table(c.db, 1, "offline");

    st = rebuild_cmd(&c, out, sizeof(out), "1", "--to", "5");
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebuild: status %d: %s", st, out);
    IT_CHECKF(has_count(out, "moved", held), "expected %u moved: \"%s\"", held, out);
    IT_EQ(it_status_int(&c.f[4], "objects"), held);
    it_cluster_verify(&c, recs, 120, 2, 1);
    for (size_t i = 0; i < 120; i++) {
        struct it_record now;
        IT_EQ(it_info(c.app.base, recs[i].uuid, &now), 200);
        IT_EQ(it_record_has(&now, 5), it_record_has(&recs[i], 1));
    }
    /* A bad request: --to the filer itself. */
    st = rebuild_cmd(&c, out, sizeof(out), "1", "--to", "1");
    IT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    free(recs);
    it_cluster_stop(&c);
}

struct state_wait {
    const struct it_cluster *c;
    unsigned id;
    const char *state;
};

static bool job_in_state(void *arg)
{
    const struct state_wait *w = arg;
    json_t *j = it_job_get(w->c->app.base, w->id);
    bool ok = strcmp(it_json_str(j, "state"), w->state) == 0;

    json_decref(j);
    return ok;
}

static void t_dead(void *arg)
{
    struct it_cluster c;
    struct it_record *recs;
    struct state_wait w;
    char out[2048], idtext[16];
    unsigned id = 0;
    int st;

    (void)arg;
    start(&c, 4);
    recs = upload(&c, 120, mixed_size);
    it_filer_kill9(&c.f[2]);
    it_wait_filer_table(c.db, 3, "offline");

    /* Started slowly, stopped (`admin job stop`), then run again to its end. */
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebuild", "--filer", "3", "--method",
                       "scan", "--bw", "0.05", "--detach", "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebuild --detach: %d: %s", st, out);
    IT_EQ(sscanf(out, "job %u", &id), 1);
    it_fmt(idtext, sizeof(idtext), "%u", id);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "job", "stop", idtext, "--app", c.app.base,
                       NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin job stop: %d: %s", st, out);
    w = (struct state_wait){&c, id, "stopped"};
    IT_CHECK(it_wait_for(job_in_state, &w, 100, 100));
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "job", "stop", idtext, "--app", c.app.base,
                       NULL);
    IT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1); /* not running any more */

    st = rebuild_cmd(&c, out, sizeof(out), "3", "--method", "scan");
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebuild: status %d: %s", st, out);
    IT_CHECKF(strstr(out, idtext) != NULL, "not resumed as job %u: \"%s\"", id, out);
    /* The batch the stop cut short is not counted: its moves are done, so
     * the rest is what this run moves. */
    IT_CHECKF(strstr(out, "rebuild done") != NULL && has_count(out, "failed", 0), "\"%s\"", out);
    it_cluster_verify(&c, recs, 120, 2, 3);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "jobs", "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "rebuild done") != NULL,
              "admin jobs: %d: %s", st, out);
    free(recs);
    it_cluster_stop(&c);
}

#define N_RESUME 240

static void t_resume(void *arg)
{
    struct it_cluster c;
    struct it_record *recs;
    char out[2048], needle[64];
    unsigned held, id = 0;
    int64_t saved;
    json_t *j;
    int st;

    (void)arg;
    start(&c, 4);
    recs = upload(&c, N_RESUME, even_size);
    held = held_by(recs, N_RESUME, 2);
    IT_CHECK(held > 100);
    wipe_filer(&c.f[1]);
    it_wait_filer_table(c.db, 2, "online");

    /* About 50 KB an object at 1 MB/s: ~20 objects a second. */
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "rebuild", "--filer", "2", "--bw", "1",
                       "--detach", "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebuild --detach: %d: %s", st, out);
    IT_EQ(sscanf(out, "job %u", &id), 1);
    /* Past the first checkpoint (a batch is 64 objects), well before the end. */
    it_job_wait_progress(c.app.base, id, 70, 400, 50);
    it_proc_kill9(&c.app);

    app_start(&c);
    j = it_job_get(c.app.base, id);
    IT_STREQ(it_json_str(j, "state"), "interrupted");
    saved = it_json_int(j, "done_objects");
    IT_CHECKF(saved >= 64 && saved < (int64_t)held, "checkpointed %" PRId64 " of %u", saved, held);
    IT_CHECK(strlen(it_json_str(j, "cursor")) > 0);
    json_decref(j);

    /* Run again (without the limit: bw is not part of the job's identity). */
    st = rebuild_cmd(&c, out, sizeof(out), "2", NULL, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin rebuild: status %d: %s", st, out);
    j = it_job_get(c.app.base, id);
    IT_STREQ(it_json_str(j, "state"), "done");
    IT_EQ(it_json_int(j, "done_objects"), held);
    json_decref(j);
    /* The same job went on from its checkpoint: the scribe says so once. */
    it_fmt(needle, sizeof(needle), "job %u (rebuild): resumed at", id);
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_JOB, needle), 1);
    it_cluster_verify(&c, recs, N_RESUME, 2, 0);
    IT_EQ(it_status_int(&c.f[1], "objects"), held);
    free(recs);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"index", t_in_place, "index", 120},
        {"scan", t_in_place, "scan", 120},
        {"to", t_to, NULL, 90},
        {"dead", t_dead, NULL, 90},
        {"resume", t_resume, NULL, 120},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
