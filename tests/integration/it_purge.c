/*
 * it_purge.c -- the delete service and the purge service (purge.h)
 * against real filers, `coffer app` and `coffer objsrv`:
 *   purge_now         DELETE /v1/objects/UUID, `coffer admin purge --now`:
 *                     no bytes on any filer, no record; other objects intact;
 *                     a second pass does nothing.
 *   purge_filer_down  a replica's filer is stopped (SIGSTOP): the other
 *                     replicas go, the record stays (and cannot be
 *                     undeleted); once the filer is back, the next pass
 *                     finishes.
 *   purge_filer_killed  a filer killed (-9) before the app noticed: its
 *                     DELETE fails and is retried once it is back.
 *   purge_one         `coffer admin purge --uuid`: one object purged at once
 *                     inside the retention, the others left; a live or
 *                     unknown object refused.
 *   undelete          an object marked deleted but not purged comes back and
 *                     downloads with its bytes; within the retention a pass
 *                     leaves it alone.
 *   periodic          the app's own pass (--purge-interval-ms) purges.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#include "coffer/err.h"
#include "coffer/objdb.h"
#include "coffer/scribe.h"
#include "coffer/uuid.h"

/* The DELETEs a filer answered 2xx (its own /metrics, metrics.h). */
#define DELETE_OK "coffer_http_requests_total{role=\"filer\",method=\"DELETE\",code=\"2xx\"}"

/* it_cluster_start with app options of our own (retention, interval, and
 * the filer polling period: a long one keeps a dead filer "online" in the
 * app's eyes, so its DELETE is sent and fails). */
static void start_poll(struct it_cluster *c, size_t n, const char *retention_s,
                       const char *interval_ms, const char *poll_ms)
{
    it_cluster_start_filers(c, n);
    it_app_start_ok(&c->app, c->db, "--stall-s", "3", "--purge-retention-s", retention_s,
                    "--purge-interval-ms", interval_ms, "--poll-ms", poll_ms, NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, "--stall-s", "3", NULL);
}

static void start(struct it_cluster *c, size_t n, const char *retention_s, const char *interval_ms)
{
    start_poll(c, n, retention_s, interval_ms, "200");
}

/* The deleted-map record of uuid, read from the catalog the app uses.
 * Returns 0 (filled *d) or CF_ENOTFOUND. */
static int deleted_row(const struct it_cluster *c, const char *uuid, struct cf_objdb_deleted *d)
{
    struct cf_objdb *odb = NULL;
    struct cf_uuid u;
    char err[CF_ERR_LEN] = "";
    int rc;

    IT_CHECKF(cf_objdb_open(c->db, 1, &odb, err) == 0, "open %s: %s", c->db, err);
    IT_EQ(cf_uuid_parse(uuid, strlen(uuid), &u, err), 0);
    rc = cf_objdb_get_deleted(odb, &u, d, err);
    IT_CHECKF(rc == 0 || rc == CF_ENOTFOUND, "get_deleted %s: %s", uuid, err);
    cf_objdb_close(odb);
    return rc;
}

static void t_purge_now(void *arg)
{
    struct it_cluster c;
    struct it_record gone, keep, info;
    struct cf_objdb_deleted d;
    struct it_purge_counts k;
    char out[512];
    int status;

    (void)arg;
    start(&c, 3, "0", "0");
    it_upload_ok(NULL, c.app.base, 11, 300000, 2, false, &gone);
    it_upload_ok(NULL, c.app.base, 12, 5000, 2, false, &keep);
    IT_EQ(it_cluster_copies(&c, gone.path), 2);

    IT_EQ(it_object_delete(c.app.base, gone.uuid), 204);
    IT_EQ(it_object_delete(c.app.base, gone.uuid), 204); /* marking again is harmless */
    IT_EQ(it_info(c.app.base, gone.uuid, &info), 404);
    IT_EQ(it_object_delete(c.app.base, "not-a-uuid"), 400);

    /* The command line runs the pass. */
    status =
        it_coffer_cmd(out, sizeof(out), NULL, "admin", "purge", "--now", "--app", c.app.base, NULL);
    IT_CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "admin purge: status %d", status);
    IT_CHECKF(strstr(out, "moved 1, purged 2, failed 0, skipped 0, removed 1, pending 0") != NULL,
              "admin purge printed \"%s\"", out);

    IT_EQ(it_cluster_copies(&c, gone.path), 0);
    IT_EQ(deleted_row(&c, gone.uuid, &d), CF_ENOTFOUND);
    IT_EQ(it_info(c.app.base, gone.uuid, &info), 404);
    IT_EQ(it_object_delete(c.app.base, gone.uuid), 404);
    IT_EQ(it_object_undelete(c.app.base, gone.uuid), 404);

    /* The other object is untouched; a second pass does nothing. */
    it_check_placement(c.f, c.n, &keep);
    it_download_ok(NULL, c.objsrv.base, &keep);
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved + k.purged + k.failed + k.skipped + k.removed + k.pending, 0);
    /* Each filer of the object got exactly one DELETE, the other none. */
    for (size_t i = 0; i < c.n; i++)
        it_wait_metric(c.f[i].base, DELETE_OK, it_record_has(&gone, (unsigned)i + 1) ? 1 : 0);
    it_cluster_stop(&c);
}

static void t_purge_filer_down(void *arg)
{
    struct it_cluster c;
    struct it_record gone, keep;
    struct cf_objdb_deleted d;
    struct it_purge_counts k;

    (void)arg;
    start(&c, 3, "0", "0");
    it_upload_ok(NULL, c.app.base, 21, 200000, 3, false, &gone);
    it_upload_ok(NULL, c.app.base, 22, 1000, 3, false, &keep);
    IT_EQ(it_cluster_copies(&c, gone.path), 3);
    IT_EQ(it_object_delete(c.app.base, gone.uuid), 204);

    it_filer_signal(&c.f[1], SIGSTOP);
    it_wait_filer_status(&c, keep.uuid, 2, "offline");
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved, 1);
    IT_EQ(k.purged, 2);
    IT_EQ(k.skipped, 1);
    IT_EQ(k.removed, 0);
    IT_EQ(k.pending, 1);
    IT_EQ(it_object_file_size(&c.f[0], gone.path), -1);
    IT_EQ(it_object_file_size(&c.f[1], gone.path), (int64_t)gone.size);
    IT_EQ(it_object_file_size(&c.f[2], gone.path), -1);
    IT_EQ(deleted_row(&c, gone.uuid, &d), 0);
    IT_EQ(d.nfilers, 3);
    IT_EQ(d.state[0], CF_OBJDB_PURGE_DONE);
    IT_EQ(d.state[1], CF_OBJDB_PURGE_NONE);
    IT_EQ(d.state[2], CF_OBJDB_PURGE_DONE);
    /* Half purged: it cannot come back. */
    IT_EQ(it_object_undelete(c.app.base, gone.uuid), 404);

    /* Filer 2 was skipped, not sent a DELETE; the next pass sends it. */
    it_filer_signal(&c.f[1], SIGCONT);
    IT_EQ(it_metric(c.f[1].base, DELETE_OK), 0);
    it_wait_filer_status(&c, keep.uuid, 2, "online");
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved, 0);
    IT_EQ(k.purged, 1);
    IT_EQ(k.skipped, 0);
    IT_EQ(k.removed, 1);
    IT_EQ(k.pending, 0);
    IT_EQ(it_cluster_copies(&c, gone.path), 0);
    IT_EQ(deleted_row(&c, gone.uuid, &d), CF_ENOTFOUND);
    it_wait_metric(c.f[1].base, DELETE_OK, 1);
    it_check_placement(c.f, c.n, &keep);
    it_cluster_stop(&c);
}

/* Filer 3 is killed (-9) while the app still believes it online: its
 * DELETE fails (connection refused) and stays to be retried (SENT); the
 * record cannot be undeleted; once filer 3 is back on its port, the next
 * pass removes the replica left on its disk and the record. */
static void t_purge_filer_killed(void *arg)
{
    struct it_cluster c;
    struct it_record gone, keep;
    struct cf_objdb_deleted d;
    struct it_purge_counts k;
    char listen[32];

    (void)arg;
    start_poll(&c, 3, "0", "0", "600000");
    it_upload_ok(NULL, c.app.base, 51, 70000, 3, false, &gone);
    it_upload_ok(NULL, c.app.base, 52, 70000, 3, false, &keep);
    IT_EQ(it_object_delete(c.app.base, gone.uuid), 204);
    it_filer_kill9(&c.f[2]);

    k = it_purge_now(c.app.base);
    IT_EQ(k.moved, 1);
    IT_EQ(k.purged, 2);
    IT_EQ(k.failed, 1);
    IT_EQ(k.pending, 1);
    IT_EQ(it_object_file_size(&c.f[2], gone.path), (int64_t)gone.size);
    IT_EQ(deleted_row(&c, gone.uuid, &d), 0);
    IT_EQ(d.state[2], CF_OBJDB_PURGE_SENT);
    IT_EQ(it_object_undelete(c.app.base, gone.uuid), 404);
    /* The failed DELETE is in the scribe, not only in the app's log. */
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_FILER_ERROR, "purge: DELETE failed"), 1);

    it_fmt(listen, sizeof(listen), "127.0.0.1:%u", c.f[2].port);
    it_filer_start_ok(&c.f[2], "--listen", listen, NULL);
    k = it_purge_now(c.app.base);
    IT_EQ(k.purged, 1);
    IT_EQ(k.failed, 0);
    IT_EQ(k.removed, 1);
    IT_EQ(k.pending, 0);
    IT_EQ(it_cluster_copies(&c, gone.path), 0);
    IT_EQ(deleted_row(&c, gone.uuid, &d), CF_ENOTFOUND);
    /* The restarted filer 3 took the retried DELETE. */
    it_wait_metric(c.f[2].base, DELETE_OK, 1);
    it_check_placement(c.f, c.n, &keep);
    it_cluster_stop(&c);
}

/* `coffer admin purge --uuid UUID ...` (NULL-terminated extra arguments):
 * its exit code, stdout in out. */
static int purge_uuid(const struct it_cluster *c, const char *uuid, char *out, size_t cap)
{
    return it_exit_code(it_coffer_cmd(out, cap, NULL, "admin", "purge", "--uuid", uuid, "--app",
                                      c->app.base, NULL));
}

/* One object purged now by name, inside a retention of a day: its bytes
 * and record go, and it can no longer be undeleted; another deleted object
 * stays undeletable; a live object, an unknown one and bad arguments are
 * refused with a reason. */
static void t_purge_one(void *arg)
{
    struct it_cluster c;
    struct it_record gone, kept, live, info;
    struct cf_objdb_deleted d;
    struct it_purge_counts k;
    char out[512], log[IT_PATH_MAX], unknown[40];

    (void)arg;
    start(&c, 3, "86400", "0");
    it_case_path(log, "cmd.log");
    it_upload_ok(NULL, c.app.base, 41, 200000, 2, false, &gone);
    it_upload_ok(NULL, c.app.base, 42, 3000, 2, false, &kept);
    it_upload_ok(NULL, c.app.base, 43, 3000, 2, false, &live);
    IT_EQ(it_object_delete(c.app.base, gone.uuid), 204);
    IT_EQ(it_object_delete(c.app.base, kept.uuid), 204);

    IT_EQ(purge_uuid(&c, gone.uuid, out, sizeof(out)), 0);
    IT_CHECKF(strstr(out, "moved 1, purged 2, failed 0, skipped 0, removed 1, pending 0") != NULL,
              "admin purge --uuid printed \"%s\"", out);
    IT_EQ(it_cluster_copies(&c, gone.path), 0);
    IT_EQ(deleted_row(&c, gone.uuid, &d), CF_ENOTFOUND);
    IT_EQ(it_object_undelete(c.app.base, gone.uuid), 404);
    IT_EQ(purge_uuid(&c, gone.uuid, out, sizeof(out)), 1);
    IT_CHECK(it_file_contains(log, "purged already"));

    /* A live object is not purged: delete it first. */
    IT_EQ(purge_uuid(&c, live.uuid, out, sizeof(out)), 1);
    IT_CHECK(it_file_contains(log, "is not deleted: DELETE it first"));
    it_download_ok(NULL, c.objsrv.base, &live);
    it_fmt(unknown, sizeof(unknown), "%.35s%c", live.uuid, live.uuid[35] == '0' ? '1' : '0');
    IT_EQ(purge_uuid(&c, unknown, out, sizeof(out)), 1);
    IT_EQ(purge_uuid(&c, "not-a-uuid", out, sizeof(out)), 2);
    IT_EQ(it_exit_code(it_coffer_cmd(out, sizeof(out), NULL, "admin", "purge", "--now", "--uuid",
                                     live.uuid, "--app", c.app.base, NULL)),
          2);

    /* The other deleted object is still within its retention. */
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved + k.purged + k.removed + k.pending, 0);
    IT_EQ(it_cluster_copies(&c, kept.path), 2);
    IT_EQ(it_object_undelete(c.app.base, kept.uuid), 204);
    IT_EQ(it_info(c.app.base, kept.uuid, &info), 200);
    it_download_ok(NULL, c.objsrv.base, &kept);
    it_cluster_stop(&c);
}

static void t_undelete(void *arg)
{
    struct it_cluster c;
    struct it_record rec, info;
    struct it_resp r;
    struct it_purge_counts k;
    char target[128];

    (void)arg;
    start(&c, 3, "3600", "0");
    it_upload_ok(NULL, c.app.base, 31, 100000, 2, false, &rec);
    IT_EQ(it_object_delete(c.app.base, rec.uuid), 204);
    IT_EQ(it_info(c.app.base, rec.uuid, &info), 404);
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec.uuid);
    IT_EQ(it_http_to(NULL, c.objsrv.base, "GET", target, NULL, &r, NULL), 404);
    it_resp_fini(&r);

    /* Within the retention a pass leaves it alone. */
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved + k.purged + k.removed + k.pending, 0);
    IT_EQ(it_cluster_copies(&c, rec.path), 2);

    IT_EQ(it_object_undelete(c.app.base, rec.uuid), 204);
    IT_EQ(it_info(c.app.base, rec.uuid, &info), 200);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_check_placement(c.f, c.n, &rec);
    IT_EQ(it_object_undelete(c.app.base, "0000"), 400);
    it_cluster_stop(&c);
}

struct gone_wait {
    const struct it_cluster *c;
    const struct it_record *rec;
};

static bool all_gone(void *arg)
{
    const struct gone_wait *w = arg;
    struct cf_objdb_deleted d;

    return it_cluster_copies(w->c, w->rec->path) == 0 &&
           deleted_row(w->c, w->rec->uuid, &d) == CF_ENOTFOUND;
}

static void t_periodic(void *arg)
{
    struct it_cluster c;
    struct it_record rec, keep;
    struct gone_wait w = {&c, &rec};

    (void)arg;
    start(&c, 3, "0", "100");
    it_upload_ok(NULL, c.app.base, 41, 50000, 2, false, &rec);
    it_upload_ok(NULL, c.app.base, 42, 50000, 2, false, &keep);
    IT_EQ(it_object_delete(c.app.base, rec.uuid), 204);
    IT_CHECKF(it_wait_for(all_gone, &w, 100, 100), "the periodic pass never purged %s", rec.uuid);
    it_check_placement(c.f, c.n, &keep);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"purge_now", t_purge_now, NULL, 40},
        {"purge_filer_down", t_purge_filer_down, NULL, 60},
        {"purge_filer_killed", t_purge_filer_killed, NULL, 40},
        {"purge_one", t_purge_one, NULL, 40},
        {"undelete", t_undelete, NULL, 40},
        {"periodic", t_periodic, NULL, 40},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
