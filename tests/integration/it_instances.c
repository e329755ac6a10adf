/*
 * it_instances.c -- several instances of every role on one catalog: the
 * instance registry (each role heart-beats to the monitor; `coffer admin
 * cluster` lists them; a stopped or killed one is marked down), a deleted
 * object refused by every objsrv within the stated bound (the app's change
 * feed), a filer added or put in maintenance with the command line used or
 * avoided by both apps, and a client added with the command line usable
 * through both gateways.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/auth.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "harness.h"

#define OUT_MAX 8192
#define HDR_MAX (CF_AUTH_TOKEN_LEN + 64)
#define TEST_PW "correct horse"
/* objsrv's stated bound (objsrv.h): --changes-ms (1 s) + 1 s. */
#define DELETE_BOUND_MS 2000u
/* The apps' stated bound on the filer table: their --poll-ms (1 s), plus
 * the tracker's poll of the filers in the same pass. */
#define FILER_BOUND_MS 2500u

/* GET objsrv/v1/objects/UUID; the status. */
static long download_status(const char *objsrv, const char *uuid)
{
    char target[96];
    struct it_resp r;
    long st;

    it_fmt(target, sizeof(target), "/v1/objects/%s", uuid);
    st = it_http_to(NULL, objsrv, "GET", target, NULL, &r, NULL);
    it_resp_fini(&r);
    return st;
}

/* ---- the registry ---- */

struct cluster_out {
    const char *monitor;
    char out[OUT_MAX];
};

/* `coffer admin cluster --monitor M`, which must exit 0, into a->out. */
static void admin_cluster(struct cluster_out *a)
{
    int st = it_coffer_cmd(a->out, sizeof(a->out), NULL, "admin", "cluster", "--monitor",
                           a->monitor, NULL);

    IT_CHECKF(it_exit_code(st) == 0, "coffer admin cluster: exit %d", it_exit_code(st));
}

/* The line of the instance at url in a->out, into line; false if none. */
static bool line_of(const struct cluster_out *a, const char *url, char *line, size_t cap)
{
    const char *p = strstr(a->out, url);
    const char *b, *e;

    if (p == NULL)
        return false;
    for (b = p; b > a->out && b[-1] != '\n'; b--)
        ;
    e = strchr(p, '\n');
    if (e == NULL)
        e = p + strlen(p);
    it_fmt(line, cap, "%.*s", (int)(e - b), b);
    return true;
}

struct status_wait {
    struct cluster_out *a;
    const char *url, *status;
};

static bool has_status(void *arg)
{
    struct status_wait *w = arg;
    char line[512], want[16];

    admin_cluster(w->a);
    it_fmt(want, sizeof(want), " %s ", w->status);
    return line_of(w->a, w->url, line, sizeof(line)) && strstr(line, want) != NULL;
}

static void wait_status(struct cluster_out *a, const char *url, const char *status)
{
    struct status_wait w = {a, url, status};

    IT_CHECKF(it_wait_for(has_status, &w, 100, 100), "%s never showed as %s:\n%s", url, status,
              a->out);
}

/* A monitor; two filers, two apps, two objsrvs and two gateways that
 * heart-beat to it with a dc each: `coffer admin cluster` lists every one
 * up, with its role and dc. objsrv 2 stopped says so (down at once); app 2
 * killed with SIGKILL is marked down by the monitor once silent for 6 s,
 * and is up again when restarted at its URL; each change is an event of
 * kind "instance" in `coffer admin log`. */
static void t_registry(void *arg)
{
    struct it_proc mon, app2, obj2, gw1, gw2;
    struct it_cluster c;
    struct cluster_out a;
    char fsdb[IT_PATH_MAX], line[512], path[IT_PATH_MAX], listen[32], url2[IT_URL_MAX];
    char want[256];
    const char *loc;
    const struct it_proc *all[] = {&c.app, &app2, &c.objsrv, &obj2, &gw1, &gw2};
    const char *roles[] = {"app", "app", "objsrv", "objsrv", "gateway", "gateway"};

    (void)arg;
    IT_EQ(cf_httpc_global_init(), 0);
    it_cluster_init(&c);
    it_monitor_start_ok(&mon, c.db, "--dc", "east", NULL);
    it_cluster_add_filer(&c, 100, "--monitor", mon.base, "--dc", "east", NULL);
    it_cluster_add_filer(&c, 100, "--monitor", mon.base, "--dc", "west", NULL);
    it_admin_shard_add(c.db);
    it_app_start_ok(&c.app, c.db, "--monitor", mon.base, "--dc", "east", NULL);
    it_app_start_ok(&app2, c.db, "--monitor", mon.base, "--dc", "west", NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, "--monitor", mon.base, "--dc", "east", NULL);
    it_objsrv_start_ok(&obj2, app2.base, "--monitor", mon.base, "--dc", "west", NULL);
    it_case_db_uri(fsdb, "fs-catalog");
    loc = it_shard_location(path, "fsshard");
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "client", "add", "acme", "--fs-db",
                                     fsdb, loc ? "--shard-location" : NULL, loc, NULL)),
          0);
    it_gateway_start_ok(&gw1, fsdb, c.app.base, c.objsrv.base, "--monitor", mon.base, "--dc",
                        "east", NULL);
    it_gateway_start_ok(&gw2, fsdb, app2.base, obj2.base, "--monitor", mon.base, "--dc", "west",
                        NULL);

    a.monitor = mon.base;
    for (size_t i = 0; i < CF_ARRAY_LEN(all); i++) {
        wait_status(&a, all[i]->base, "up");
        IT_CHECK(line_of(&a, all[i]->base, line, sizeof(line)));
        IT_CHECKF(strncmp(line, roles[i], strlen(roles[i])) == 0 &&
                      strstr(line, i % 2 == 0 ? " east " : " west ") != NULL &&
                      strstr(line, CF_VERSION) != NULL,
                  "admin cluster: %s", line);
    }
    for (size_t i = 0; i < c.n; i++)
        wait_status(&a, c.f[i].base, "up");
    IT_CHECKF(line_of(&a, mon.base, line, sizeof(line)) && strncmp(line, "monitor ", 8) == 0 &&
                  strstr(line, " up ") != NULL,
              "the monitor does not list itself:\n%s", a.out);

    /* Stopped: its last heartbeat says down. */
    it_proc_stop_ok(&obj2);
    admin_cluster(&a);
    IT_CHECKF(line_of(&a, all[3]->base, line, sizeof(line)) && strstr(line, " down ") != NULL,
              "a stopped objsrv is not down: %s", a.out);
    /* Killed: silent, then down. */
    it_proc_kill9(&app2);
    wait_status(&a, all[1]->base, "down");
    admin_cluster(&a);
    IT_CHECKF(line_of(&a, c.app.base, line, sizeof(line)) && strstr(line, " up ") != NULL,
              "app 1 went down with app 2: %s", a.out);
    /* Back at the same URL: up again. */
    it_fmt(listen, sizeof(listen), "127.0.0.1:%u", app2.port);
    it_fmt(url2, sizeof(url2), "%s", app2.base);
    it_app_start_ok(&app2, c.db, "--monitor", mon.base, "--dc", "west", "--listen", listen, NULL);
    IT_STREQ(app2.base, url2);
    wait_status(&a, app2.base, "up");
    /* Each change in the event log, once. */
    IT_EQ(it_exit_code(it_coffer_cmd(a.out, sizeof(a.out), NULL, "admin", "log", "--kind",
                                     "instance", "--monitor", mon.base, NULL)),
          0);
    it_fmt(want, sizeof(want), "objsrv %s dc west: up -> down: stopped", all[3]->base);
    IT_CHECKF(strstr(a.out, want) != NULL, "no \"%s\" in:\n%s", want, a.out);
    it_fmt(want, sizeof(want), "app %s dc west: up -> down: no heartbeat for", url2);
    IT_CHECKF(strstr(a.out, want) != NULL, "no \"%s\" in:\n%s", want, a.out);
    IT_CHECKF(strstr(strstr(a.out, want) + 1, want) == NULL, "twice \"%s\" in:\n%s", want, a.out);
    it_fmt(want, sizeof(want), "app %s dc west: down -> up: heart-beating again", url2);
    IT_CHECKF(strstr(a.out, want) != NULL, "no \"%s\" in:\n%s", want, a.out);
    it_fmt(want, sizeof(want), "app %s ", c.app.base);
    IT_CHECKF(strstr(a.out, want) == NULL, "app 1 has events:\n%s", a.out);
    it_proc_stop_ok(&app2);
    /* The help says so; a path command's lists --attempts. */
    IT_EQ(
        it_exit_code(it_coffer_cmd(a.out, sizeof(a.out), NULL, "admin", "cluster", "--help", NULL)),
        0);
    IT_CHECKF(strstr(a.out, "--kind instance") != NULL && strstr(a.out, "--attempts") != NULL,
              "admin cluster --help:\n%s", a.out);
    IT_EQ(it_exit_code(it_coffer_cmd(a.out, sizeof(a.out), NULL, "ls", "--help", NULL)), 0);
    IT_CHECKF(strstr(a.out, "--attempts N") != NULL, "ls --help:\n%s", a.out);

    it_proc_stop_ok(&gw1);
    it_proc_stop_ok(&gw2);
    it_cluster_stop(&c);
    it_proc_stop_ok(&mon);
}

/* ---- deletes and objsrv caches ---- */

struct gone {
    const char *objsrv;
    const char *uuid;
};

static bool refused(void *arg)
{
    const struct gone *g = arg;

    return download_status(g->objsrv, g->uuid) == 404;
}

/* Two apps and three objsrvs with a 30 s record cache: objsrv 1 asks app 1,
 * objsrv 2 app 2, objsrv 3 app 2 with the change feed off. An object
 * uploaded through app 1 and read through every objsrv (so each has its
 * record cached) is deleted through app 1: from DELETE_BOUND_MS after the
 * delete was acknowledged, objsrv 1 and 2 answer 404; objsrv 3, which does
 * not read the feed, still serves it from its cache (the case's control:
 * the caches were warm). Another object, not deleted, stays readable. */
static void t_delete_bound(void *arg)
{
    struct it_proc app2, obj2, obj3;
    struct it_cluster c;
    struct it_record rec, keep;
    struct gone g;
    uint64_t t0, seen = 0;

    (void)arg;
    IT_EQ(cf_httpc_global_init(), 0);
    it_cluster_start_filers(&c, 2);
    it_app_start_ok(&c.app, c.db, NULL);
    it_app_start_ok(&app2, c.db, NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, "--cache-ms", "30000", NULL);
    it_objsrv_start_ok(&obj2, app2.base, "--cache-ms", "30000", NULL);
    it_objsrv_start_ok(&obj3, app2.base, "--cache-ms", "30000", "--changes-ms", "0", NULL);

    it_upload_ok(NULL, c.app.base, 11, 70000, 0, false, &rec);
    it_upload_ok(NULL, app2.base, 12, 5000, 0, false, &keep);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_download_ok(NULL, obj2.base, &rec);
    it_download_ok(NULL, obj3.base, &rec);
    it_download_ok(NULL, obj2.base, &keep);

    IT_EQ(it_object_delete(c.app.base, rec.uuid), 204);
    t0 = it_now_ms();
    /* How soon, for the log; the bound is checked below. */
    g = (struct gone){obj2.base, rec.uuid};
    if (it_wait_for(refused, &g, 40, 50))
        seen = it_now_ms() - t0;
    fprintf(stderr, "objsrv 2 refused the deleted object %" PRIu64 " ms after the delete\n", seen);
    it_sleep_until_ms(t0 + DELETE_BOUND_MS);
    IT_EQ(download_status(c.objsrv.base, rec.uuid), 404);
    IT_EQ(download_status(obj2.base, rec.uuid), 404);
    it_download_ok(NULL, obj3.base, &rec);
    it_download_ok(NULL, obj2.base, &keep);
    it_download_ok(NULL, c.objsrv.base, &keep);
    /* app 2 is where the feed's rows are read; both apps see the delete. */
    IT_EQ(it_info(app2.base, rec.uuid, NULL), 404);

    it_proc_stop_ok(&obj3);
    it_proc_stop_ok(&obj2);
    it_proc_stop_ok(&app2);
    it_cluster_stop(&c);
}

/* ---- filers and clients changed with the command line ---- */

/* Whether an upload through app lists filer id. */
static bool upload_uses(const char *app, uint64_t seed, unsigned id)
{
    struct it_record rec;

    it_upload_ok(NULL, app, seed, 1000, 0, false, &rec);
    return it_record_has(&rec, id);
}

struct uses {
    const char *app;
    uint64_t seed;
};

static bool uses_f4(void *arg)
{
    struct uses *u = arg;

    return upload_uses(u->app, u->seed++, 4);
}

/* POST /api/v1/login to the gateway at base, which must give 200; the
 * token into hdr. */
static void login(const char *base, const char *client, const char *user, char hdr[HDR_MAX])
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body = json_pack("{s:s,s:s,s:s}", "client", client, "user", user, "password", TEST_PW);
    json_t *out = NULL;
    long status = 0;

    it_fmt(url, sizeof(url), "%s/api/v1/login", base);
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &out, err) == 0, "login: %s", err);
    IT_EQ(status, 200);
    it_fmt(hdr, HDR_MAX, "Authorization: Bearer %s", it_json_str(out, "token"));
    json_decref(body);
    json_decref(out);
}

static void put_ok(const char *gw, const char *auth, const char *target, uint64_t seed,
                   uint64_t size)
{
    struct it_body b = {.chunked = true};
    struct it_resp r;

    it_gen_init(&b.gen, seed, size);
    IT_EQ(it_http_to(NULL, gw, "PUT", target, &b, &r, auth, NULL), 201);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
}

static void get_ok(const char *gw, const char *auth, const char *target, uint64_t seed,
                   uint64_t size)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_resp r;

    IT_EQ(it_http_to(NULL, gw, "GET", target, NULL, &r, auth, NULL), 200);
    IT_EQ(r.total, size);
    it_prng_sha512(seed, size, sha);
    IT_CHECKF(memcmp(r.sha, sha, sizeof(sha)) == 0, "GET %s: wrong bytes", target);
    it_resp_fini(&r);
}

/* A monitor and two apps (--poll-ms 1000, the default) over three filers.
 * Filer 4, started and added with `coffer admin filer add` (weight 100000,
 * so the distributor all but always picks it), gets replicas of uploads
 * through both apps soon; put in maintenance with `coffer admin filer
 * maintenance`, both avoid it from FILER_BOUND_MS on. Two gateways (one on
 * each app) on one file system catalog: a client and user added with
 * `coffer admin` after both started can log in and upload through one and
 * read through the other. */
static void t_filers_clients(void *arg)
{
    struct it_proc mon, app2, obj2, gw1, gw2;
    struct it_cluster c;
    struct uses u1, u2;
    char fsdb[IT_PATH_MAX], path[IT_PATH_MAX], out[OUT_MAX], h1[HDR_MAX], h2[HDR_MAX];
    const char *loc;
    uint64_t t0, seed = 1000;
    int st;

    (void)arg;
    IT_EQ(cf_httpc_global_init(), 0);
    it_cluster_start_filers(&c, 3);
    it_monitor_start_ok(&mon, c.db, NULL);
    it_app_start_ok(&c.app, c.db, "--poll-ms", "1000", NULL);
    it_app_start_ok(&app2, c.db, "--poll-ms", "1000", NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    it_objsrv_start_ok(&obj2, app2.base, NULL);

    it_cluster_add_filer(&c, 100000, NULL);
    u1 = (struct uses){c.app.base, 100};
    u2 = (struct uses){app2.base, 200};
    IT_CHECKF(it_wait_for(uses_f4, &u1, 50, 100), "app 1 never used the filer added");
    IT_CHECKF(it_wait_for(uses_f4, &u2, 50, 100), "app 2 never used the filer added");

    st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "filer", "maintenance", "--id", "4", "on",
                       "--monitor", mon.base, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "filer maintenance: exit %d: %s", it_exit_code(st), out);
    t0 = it_now_ms();
    it_sleep_until_ms(t0 + FILER_BOUND_MS);
    for (int i = 0; i < 4; i++) {
        IT_CHECKF(!upload_uses(c.app.base, seed++, 4), "app 1 still uses filer 4");
        IT_CHECKF(!upload_uses(app2.base, seed++, 4), "app 2 still uses filer 4");
    }

    it_case_db_uri(fsdb, "fs-catalog");
    loc = it_shard_location(path, "fsshard");
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "client", "add", "first", "--fs-db",
                                     fsdb, loc ? "--shard-location" : NULL, loc, NULL)),
          0);
    it_gateway_start_ok(&gw1, fsdb, c.app.base, c.objsrv.base, NULL);
    it_gateway_start_ok(&gw2, fsdb, app2.base, obj2.base, NULL);
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "client", "add", "late", "--fs-db",
                                     fsdb, NULL)),
          0);
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "user", "add", "--fs-db", fsdb,
                                     "--client", "late", "lu", "--admin", "--password", TEST_PW,
                                     NULL)),
          0);
    login(gw1.base, "late", "lu", h1);
    login(gw2.base, "late", "lu", h2);
    put_ok(gw1.base, h1, "/api/v1/fs/a.bin", 31, 40000);
    get_ok(gw2.base, h2, "/api/v1/fs/a.bin", 31, 40000);
    put_ok(gw2.base, h2, "/api/v1/fs/b.bin", 32, 3000);
    get_ok(gw1.base, h1, "/api/v1/fs/b.bin", 32, 3000);

    it_proc_stop_ok(&gw1);
    it_proc_stop_ok(&gw2);
    it_proc_stop_ok(&obj2);
    it_proc_stop_ok(&app2);
    it_cluster_stop(&c);
    it_proc_stop_ok(&mon);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"registry", t_registry, NULL, 90},
        {"delete_bound", t_delete_bound, NULL, 60},
        {"filers_clients", t_filers_clients, NULL, 90},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
