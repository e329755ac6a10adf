/*
 * it_auth.c -- authentication between roles (cred.h, http.h): what a
 * filer, the app, objsrv and the monitor refuse, and what they accept.
 *
 * The harness signs every request as the operator (keys.h); these cases
 * send requests unsigned, wrongly signed, stale, replayed, signed for
 * another server, or signed with the cluster key where the operator key
 * is needed, and check each reply (401 or 403 JSON) and that nothing was
 * done: the object is still listed, stored and readable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "coffer/err.h"
#include "coffer/io.h"
#include "harness.h"

#define OUT_MAX (64 * 1024)

/* What one request is: method, base, target. */
struct target {
    const char *method;
    const char *base;
    char path[256];
    const char *body; /* unused: every refusal comes before a body is read */
};

/* Send t with the header line auth ("Authorization:" alone: none at all)
 * and return the status; a 401 or 403 must be JSON with error EAUTH or EPERM. */
static long send_as(const struct target *t, const char *auth)
{
    struct it_resp r;
    long st;

    st = it_http_to(NULL, t->base, t->method, t->path, NULL, &r, auth, NULL);
    if (st == 401)
        it_check_error_body(&r, "EAUTH");
    else if (st == 403)
        it_check_error_body(&r, "EPERM");
    it_resp_fini(&r);
    return st;
}

/* The Authorization line for t signed by c, at ts_ms (0: now), for host
 * (NULL: t's own). */
static void sign_for(char line[CF_CRED_HEADER_MAX], const struct cf_cred *c, const struct target *t,
                     uint64_t ts_ms, const char *host, const char *nonce)
{
    const char *own = t->base + strlen("http://");

    IT_CHECK(cf_cred_sign_parts(c, t->method, host != NULL ? host : own, t->path,
                                ts_ms != 0 ? ts_ms : cf_wall_ms(), nonce, line,
                                CF_CRED_HEADER_MAX) == 0);
}

/* A credential with a cluster key of its own (not the case's). */
static struct cf_cred *stranger(void)
{
    static const char key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    char path[IT_PATH_MAX], err[CF_ERR_LEN] = "";
    struct cf_cred *c = cf_cred_new();

    it_case_path(path, "stranger.key");
    IT_CHECK(cf_io_write_file(path, key, strlen(key), 0600, true, err) == 0);
    IT_CHECKF(cf_cred_load_cluster(c, path, err) == 0, "%s", err);
    return c;
}

/* Every way of getting the signature wrong gets 401 from every role. */
static void t_refused(void *arg)
{
    struct it_cluster c;
    struct it_proc mon;
    struct it_record rec, again;
    struct target t[10];
    struct cf_cred *bad = stranger(), *cluster = it_keys_cluster_cred();
    char line[CF_CRED_HEADER_MAX];
    unsigned holder;
    size_t n = 0;

    (void)arg;
    it_cluster_start(&c, 2, NULL, 0, 3);
    it_monitor_start_ok(&mon, c.db, NULL);
    it_upload_ok(NULL, c.app.base, 7, 5000, 2, false, &rec);
    holder = rec.filers[0];
    t[n++] = (struct target){"GET", c.f[holder - 1].base, "/list", NULL};
    t[n] = (struct target){"GET", c.f[holder - 1].base, "", NULL};
    it_fmt(t[n++].path, sizeof(t[0].path), "/o/%s", rec.path);
    t[n] = (struct target){"DELETE", c.f[holder - 1].base, "", NULL};
    it_fmt(t[n++].path, sizeof(t[0].path), "/o/%s", rec.path);
    t[n] = (struct target){"DELETE", c.app.base, "", NULL};
    it_fmt(t[n++].path, sizeof(t[0].path), "/v1/objects/%s", rec.uuid);
    t[n] = (struct target){"GET", c.app.base, "", NULL};
    it_fmt(t[n++].path, sizeof(t[0].path), "/v1/objects/%s/info", rec.uuid);
    t[n++] = (struct target){"POST", c.app.base, "/v1/admin/purge", NULL};
    t[n++] = (struct target){"POST", c.app.base, "/v1/admin/jobs", "{\"kind\":\"dedupe\"}"};
    t[n] = (struct target){"GET", c.objsrv.base, "", NULL};
    it_fmt(t[n++].path, sizeof(t[0].path), "/v1/objects/%s", rec.uuid);
    t[n++] = (struct target){"POST", mon.base, "/v1/log",
                             "{\"kind\":\"repair\",\"filer\":1,\"message\":\"forged\"}"};
    t[n++] = (struct target){"POST", mon.base, "/v1/filers/1/maintenance", "{\"on\":true}"};

    for (size_t i = 0; i < n; i++) {
        const char *what = t[i].path;
        IT_CHECKF(send_as(&t[i], "Authorization:") == 401, "%s %s unsigned", t[i].method, what);
        sign_for(line, bad, &t[i], 0, NULL, "00000000000000000001");
        IT_CHECKF(send_as(&t[i], line) == 401, "%s %s with an unknown key", t[i].method, what);
        /* The case's key, one signature digit off. */
        sign_for(line, cluster, &t[i], 0, NULL, "00000000000000000002");
        line[strlen(line) - 1] = line[strlen(line) - 1] == '0' ? '1' : '0';
        IT_CHECKF(send_as(&t[i], line) == 401, "%s %s badly signed", t[i].method, what);
        sign_for(line, it_keys_operator_cred(), &t[i], cf_wall_ms() - 2 * CF_CRED_WINDOW_MS, NULL,
                 "00000000000000000003");
        IT_CHECKF(send_as(&t[i], line) == 401, "%s %s stale", t[i].method, what);
        sign_for(line, it_keys_operator_cred(), &t[i], 0, "127.0.0.1:1", "00000000000000000004");
        IT_CHECKF(send_as(&t[i], line) == 401, "%s %s signed for another host", t[i].method, what);
        IT_CHECKF(send_as(&t[i], "Authorization: Bearer x") == 401, "%s %s malformed", t[i].method,
                  what);
    }
    /* The admin routes need the operator key: the cluster key gets 403. */
    for (size_t i = 5; i < n; i++) {
        if (i == 7 || i == 8)
            continue; /* objsrv GET and the log are internal */
        sign_for(line, cluster, &t[i], 0, NULL, "00000000000000000005");
        IT_CHECKF(send_as(&t[i], line) == 403, "%s %s with the cluster key", t[i].method,
                  t[i].path);
    }
    /* The cluster key may read the app's jobs and counts (the gateway's
     * Admin view), not the admin routes that start or stop jobs. */
    {
        struct target r[] = {{"GET", c.app.base, "/v1/jobs", NULL},
                             {"GET", c.app.base, "/v1/stats", NULL},
                             {"GET", c.app.base, "/v1/admin/jobs", NULL},
                             {"POST", c.app.base, "/v1/jobs", NULL}};
        const long want[] = {200, 200, 403, 405};
        for (size_t i = 0; i < CF_ARRAY_LEN(r); i++) {
            char nonce[24];
            it_fmt(nonce, sizeof(nonce), "000000000000000001%02zu", i);
            IT_EQ(send_as(&r[i], "Authorization:"), 401);
            sign_for(line, cluster, &r[i], 0, NULL, nonce);
            IT_CHECKF(send_as(&r[i], line) == want[i], "%s %s with the cluster key", r[i].method,
                      r[i].path);
        }
    }
    /* Replay: once accepted, a signature is never accepted again. */
    sign_for(line, cluster, &t[0], 0, NULL, "00000000000000000006");
    IT_EQ(send_as(&t[0], line), 200);
    IT_EQ(send_as(&t[0], line), 401);
    sign_for(line, it_keys_operator_cred(), &t[5], 0, NULL, "00000000000000000007");
    IT_EQ(send_as(&t[5], line), 200); /* the operator purges */
    IT_EQ(send_as(&t[5], line), 401);

    /* Nothing was done: the record, every replica and the bytes are there. */
    IT_EQ(it_info(c.app.base, rec.uuid, &again), 200);
    it_check_placement(c.f, c.n, &rec);
    it_download_ok(NULL, c.objsrv.base, &rec);

    /* Liveness is public; /metrics is not. */
    {
        const char *bases[] = {c.f[0].base, c.app.base, c.objsrv.base, mon.base};
        for (size_t i = 0; i < CF_ARRAY_LEN(bases); i++) {
            struct target s = {"GET", bases[i], "/status", NULL};
            struct target m = {"GET", bases[i], "/metrics", NULL};
            IT_EQ(send_as(&s, "Authorization:"), 200);
            IT_EQ(send_as(&m, "Authorization:"), 401);
            sign_for(line, cluster, &m, 0, NULL, "00000000000000000008");
            IT_EQ(send_as(&m, line), 200);
        }
    }
    /* A filer's figures are for the cluster; anyone gets liveness only. */
    {
        struct it_resp r;
        json_t *j;
        IT_EQ(it_http_to(NULL, c.f[0].base, "GET", "/status", NULL, &r, "Authorization:", NULL),
              200);
        j = it_resp_json(&r);
        IT_CHECK(json_object_get(j, "used_bytes") == NULL && json_object_get(j, "objects") == NULL);
        IT_CHECK(it_json_bool(j, "ok"));
        json_decref(j);
        it_resp_fini(&r);
        IT_CHECK(it_status_int(&c.f[holder - 1], "objects") >= 1);
    }
    cf_cred_free(bad);
    it_proc_stop_ok(&mon);
    it_cluster_stop(&c);
}

/* --metrics-public opens /metrics, and only that. */
static void t_metrics_public(void *arg)
{
    struct it_filer f;
    struct target m, l;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, "--metrics-public", NULL);
    m = (struct target){"GET", f.base, "/metrics", NULL};
    l = (struct target){"GET", f.base, "/list", NULL};
    IT_EQ(send_as(&m, "Authorization:"), 200);
    IT_EQ(send_as(&l, "Authorization:"), 401);
    it_filer_stop_ok(&f);
}

/* Send t with the Authorization line auth and the Host header host; return
 * the status, and check a 401's JSON and that its message contains why. */
static long send_host(const struct target *t, const char *auth, const char *host, const char *why)
{
    char hline[300];
    struct it_resp r;
    long st;

    it_fmt(hline, sizeof(hline), "Host: %s", host);
    st = it_http_to(NULL, t->base, t->method, t->path, NULL, &r, auth, hline, NULL);
    if (st == 401) {
        it_check_error_body(&r, "EAUTH");
        IT_CHECKF(why == NULL || strstr(r.body, why) != NULL, "body: %s", r.body);
    }
    it_resp_fini(&r);
    return st;
}

/* A signature holds for the server it names in Host: one captured on its
 * way to filer A and replayed to filer B is refused by B; --authority adds
 * names (a load balancer's) a server answers to. */
static void t_another_server(void *arg)
{
    struct it_filer a, b;
    struct target del, list;
    struct it_resp r;
    struct cf_cred *cluster = it_keys_cluster_cred();
    char line[CF_CRED_HEADER_MAX];
    const char *a_host;

    (void)arg;
    it_filer_init(&a, 1, "fa");
    it_filer_init(&b, 2, "fb");
    it_filer_start_ok(&a, NULL);
    it_filer_start_ok(&b, "--authority", "store.example:7443", "--authority=b.example,B2.example:1",
                      NULL);
    it_put_ok(NULL, &a, "x", 1, 1000, false, NULL);
    it_put_ok(NULL, &b, "x", 1, 1000, false, NULL);
    a_host = a.base + strlen("http://");

    /* Signed for A, sent to B with A's Host: refused, and B keeps x. */
    del = (struct target){"DELETE", b.base, "/o/x", NULL};
    sign_for(line, cluster, &del, 0, a_host, "00000000000000000011");
    IT_EQ(send_host(&del, line, a_host, "signed for another server"), 401);
    IT_EQ(it_http(NULL, &b, "GET", "/o/x", NULL, &r, NULL), 200);
    it_resp_fini(&r);
    /* The same signature at A, where it was meant to go, is accepted. */
    del.base = a.base;
    IT_EQ(send_host(&del, line, a_host, NULL), 204);

    /* B answers to its --authority names (case-insensitive), not others. */
    list = (struct target){"GET", b.base, "/list", NULL};
    sign_for(line, cluster, &list, 0, "store.example:7443", "00000000000000000012");
    IT_EQ(send_host(&list, line, "store.example:7443", NULL), 200);
    sign_for(line, cluster, &list, 0, "b.example", "00000000000000000013");
    IT_EQ(send_host(&list, line, "b.example", NULL), 200);
    sign_for(line, cluster, &list, 0, "b2.example:1", "00000000000000000014");
    IT_EQ(send_host(&list, line, "b2.example:1", NULL), 200);
    sign_for(line, cluster, &list, 0, "store.example:7444", "00000000000000000015");
    IT_EQ(send_host(&list, line, "store.example:7444", "signed for another server"), 401);
    /* Any name with B's own port passes: B listens on loopback. */
    {
        char own[64];
        it_fmt(own, sizeof(own), "localhost:%s", strrchr(b.base, ':') + 1);
        sign_for(line, cluster, &list, 0, own, "00000000000000000016");
        IT_EQ(send_host(&list, line, own, NULL), 200);
    }
    /* Public routes are not checked. */
    {
        struct target st = {"GET", b.base, "/status", NULL};
        IT_EQ(send_host(&st, "Authorization:", "elsewhere.example:9", NULL), 200);
    }
    it_filer_stop_ok(&a);
    it_filer_stop_ok(&b);
}

/* A role refuses to start without a key, or with a key file others can read. */
static void t_key_files(void *arg)
{
    char path[IT_PATH_MAX], log[4096], *out = malloc(OUT_MAX);
    const char *key = "1111111111111111111111111111111111111111111111111111111111111111\n";
    struct it_filer f;
    int st = 0;

    (void)arg;
    it_case_path(path, "open.key");
    IT_CHECK(cf_io_write_file(path, key, strlen(key), 0644, true, NULL) == 0);
    IT_CHECK(chmod(path, 0644) == 0);
    it_filer_init(&f, 1, "f1");
    IT_EQ(it_filer_start(&f, &st, "--cluster-key-file", path, NULL), -1);
    IT_EQ(it_exit_code(st), 1);
    it_filer_read_log(&f, log, sizeof(log));
    IT_CHECKF(strstr(log, "mode 644") != NULL, "log:\n%s", log);
    IT_EQ(it_filer_start(&f, &st, "--cluster-key-file", "", NULL), -1);
    IT_EQ(it_exit_code(st), 1);
    it_filer_read_log(&f, log, sizeof(log));
    IT_CHECKF(strstr(log, "--cluster-key-file is required") != NULL, "log:\n%s", log);

    /* The CLI names the key file it could not use. */
    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "purge", "--now", "--app",
                                     "http://127.0.0.1:1", "--key-file", path, NULL)),
          1);
    /* The commands that sign as the operator list --key-file in --help. */
    {
        static const char *const cmds[][3] = {
            {"put", "--help", NULL},        {"get", "--help", NULL},
            {"stat", "--help", NULL},       {"admin", "purge", "--help"},
            {"admin", "log", "--help"},     {"admin", "filers", "--help"},
            {"admin", "rebuild", "--help"},
        };
        for (size_t i = 0; i < CF_ARRAY_LEN(cmds); i++) {
            IT_EQ(it_exit_code(
                      it_coffer_cmd(out, OUT_MAX, NULL, cmds[i][0], cmds[i][1], cmds[i][2], NULL)),
                  0);
            IT_CHECKF(strstr(out, "--key-file=") != NULL, "coffer %s %s:\n%s", cmds[i][0],
                      cmds[i][1], out);
        }
    }
    /* keys init makes the three files, and never over existing ones. */
    it_case_path(path, "newkeys");
    IT_EQ(it_exit_code(
              it_coffer_cmd(out, OUT_MAX, NULL, "admin", "keys", "init", "--data", path, NULL)),
          0);
    IT_EQ(it_exit_code(
              it_coffer_cmd(out, OUT_MAX, NULL, "admin", "keys", "init", "--data", path, NULL)),
          1);
    free(out);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"refused", t_refused, NULL, 90},
        {"metrics_public", t_metrics_public, NULL, 30},
        {"key_files", t_key_files, NULL, 30},
        {"another_server", t_another_server, NULL, 30},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
