/*
 * it_read_weight.c -- filers' read weights and the read order of replicas
 * (distrib.h, "reads") through real filers, `coffer app` and `coffer objsrv`:
 *   spread       two replicas on filers of equal read weight: 40 downloads
 *                through objsrv are served by both filers (counted by the
 *                object bytes each filer sent, its /status "bytes_out");
 *                once `coffer admin filer set --read-weight 0` puts one of
 *                them last and the app has seen the table, the next 20
 *                downloads all come from the other; `filer list` shows the
 *                read weights, a bad one is refused.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#include "coffer/common.h"

#define SIZE 10000

/* Bytes of objects filer f has sent so far (its store's counter). */
static int64_t sent(const struct it_filer *f)
{
    return it_status_int(f, "bytes_out");
}

/* Download rec n times through objsrv; into d[0..2) the bytes each of
 * the two filers sent meanwhile. */
static void downloads(const struct it_cluster *c, const struct it_record *rec, unsigned n,
                      int64_t d[2])
{
    int64_t before[2] = {sent(&c->f[0]), sent(&c->f[1])};

    for (unsigned i = 0; i < n; i++)
        it_download_ok(NULL, c->objsrv.base, rec);
    for (size_t i = 0; i < 2; i++)
        d[i] = sent(&c->f[i]) - before[i];
}

static void t_spread(void *arg)
{
    struct it_cluster c;
    struct it_record rec;
    int64_t d[2];
    char out[2048];
    int st;

    (void)arg;
    it_cluster_start_filers(&c, 2);
    it_app_start_ok(&c.app, c.db, "--stall-s", "3", NULL);
    /* No record cache: each download asks the app, which re-reads the
     * filer table every poll (200 ms in the harness). */
    it_objsrv_start_ok(&c.objsrv, c.app.base, "--stall-s", "3", "--cache-ms", "0", NULL);
    it_upload_ok(NULL, c.app.base, 71, SIZE, 2, false, &rec);
    it_wait_filer_status(&c, rec.uuid, 1, "online");
    it_wait_filer_status(&c, rec.uuid, 2, "online");
    IT_EQ(it_info_read_weight(c.app.base, rec.uuid, 1), 100);
    IT_EQ(it_info_read_weight(c.app.base, rec.uuid, 2), 100);

    /* Equal read weights: both filers serve reads. With a fair choice,
     * fewer than 5 of 40 on one filer has a chance of about 1e-7. */
    downloads(&c, &rec, 40, d);
    IT_EQ(d[0] + d[1], 40 * (int64_t)SIZE);
    IT_CHECKF(d[0] >= 5 * SIZE && d[1] >= 5 * SIZE,
              "40 reads of equal rank: filer 1 sent %lld bytes, filer 2 %lld (%d each)",
              (long long)d[0], (long long)d[1], SIZE);

    /* A bad read weight is a usage error; the table is unchanged. */
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "set", "--db", c.db, "--id", "1",
                       "--read-weight", "lots", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "filer set --read-weight lots: %d: %s", st,
              out);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "set", "--db", c.db, "--id", "1",
                       "--read-weight", "1000001", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "filer set --read-weight 1000001: %d: %s", st,
              out);

    /* Filer 1 to read weight 0: read only when filer 2 does not answer. */
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "set", "--db", c.db, "--id", "1",
                       "--read-weight", "0", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "filer set --read-weight 0: %d: %s", st, out);
    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "list", "--db", c.db, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, " read ") != NULL,
              "admin filer list: %d: %s", st, out);
    /* Bounded wait (10 s) for the app's next read of the table. */
    it_wait_read_weights(c.app.base, rec.uuid, (const int64_t[]){0}, 1);
    IT_EQ(it_info_read_weight(c.app.base, rec.uuid, 2), 100);
    downloads(&c, &rec, 20, d);
    IT_EQ(d[0], 0);
    IT_EQ(d[1], 20 * (int64_t)SIZE);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"spread", t_spread, NULL, 90},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
