/*
 * it_data_faults.c -- the data path under faults (DESIGN §2, §4):
 * a filer down before an upload, killed (-9) or stopped (SIGSTOP) in the
 * middle of one, a full filer, an upload that cannot be completed, a client
 * that vanishes mid-body, filers that stored different bytes for one body
 * (a bit flipped on the way to one), a replica down, stalled or killed in
 * the middle of a download, corrupt or truncated replicas on disk, and
 * SIGTERM with transfers in flight.
 *
 * Filer weights make the choices deterministic where a case needs them:
 * the distributor takes the heaviest writable online filers, and objsrv
 * reads the heaviest online replica first.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "coffer/scribe.h"
#include "coffer/sha512.h"
#include "harness.h"

#define BIG (64ull * 1024 * 1024)

/* A filer's own count of requests, by method and status class (metrics.h). */
#define FILER_REQS(method, code)                                                                   \
    "coffer_http_requests_total{role=\"filer\",method=\"" method "\",code=\"" code "\"}"

/* The failed filer was replaced by a copy of a finished replica (DESIGN §2):
 * filer `from` sent the object once (its bytes_out, which counts object
 * bytes sent, moved by exactly size since out_before) and filer `to` took
 * exactly one PUT, of size bytes. Call it before anything downloads. */
static void check_replaced(const struct it_cluster *c, unsigned from, unsigned to, uint64_t size,
                           int64_t out_before)
{
    IT_EQ(it_status_int(&c->f[from - 1], "bytes_out") - out_before, (int64_t)size);
    IT_EQ(it_status_int(&c->f[to - 1], "bytes_in"), (int64_t)size);
    it_wait_metric(c->f[to - 1].base, FILER_REQS("PUT", "2xx"), 1);
}

/* A whole-object GET through objsrv, for a case that expects it to fail. */
static void get_whole(const struct it_cluster *c, const struct it_record *rec, struct it_resp *r)
{
    char target[128];

    it_fmt(target, sizeof(target), "/v1/objects/%s", rec->uuid);
    (void)it_http_to(NULL, c->objsrv.base, "GET", target, NULL, r, NULL);
}

/* ---- uploads --------------------------------------------------------------- */

/* Filer 1, the heaviest, is killed; uploads still get 2 replicas, never on
 * filer 1: at once (usually before the app's next poll: the failed
 * transfer is replaced) and after the app marked it offline. */
static void t_filer_down_before_upload(void *arg)
{
    static const unsigned weights[] = {100, 50, 50};
    struct it_record all, rec;
    struct it_cluster c;
    struct it_client cl;

    (void)arg;
    it_cluster_start(&c, 3, weights, 0, 3);
    it_client_init(&cl);
    it_upload_ok(&cl, c.app.base, 1, 300000, 3, false, &all);
    it_filer_kill9(&c.f[0]);
    it_upload_ok(&cl, c.app.base, 2, 2 * IT_MIB, 0, false, &rec);
    IT_CHECK(!it_record_has(&rec, 1));
    it_check_placement(c.f, c.n, &rec);
    it_download_ok(&cl, c.objsrv.base, &rec);

    it_wait_filer_status(&c, all.uuid, 1, "offline");
    for (unsigned i = 0; i < 10; i++) {
        it_upload_ok(&cl, c.app.base, 10 + i, 1000 * i, 0, i % 2 == 1, &rec);
        IT_CHECKF(!it_record_has(&rec, 1), "upload %u chose the dead filer 1", i);
        it_check_placement(c.f, c.n, &rec);
        it_download_ok(&cl, c.objsrv.base, &rec);
    }
    IT_EQ(it_upload(&cl, c.app.base, 30, 100, 3, false, NULL), 503);
    /* The object that has a replica on filer 1 is still served. */
    it_download_ok(&cl, c.objsrv.base, &all);
    it_client_fini(&cl);
    it_cluster_stop(&c);
}

/* The upload is paused: once filer arg has started writing it, kill it. */
static void kill_mid_upload(struct it_xfer *x, void *arg)
{
    struct it_filer *f = arg;

    (void)x;
    it_wait_tmp(f, 1);
    it_filer_kill9(f);
}

/* Filers 1 and 2 (weight 100) get the upload; filer 1 is killed in the
 * middle of the body. The client still gets 201 with 2 replicas: 2 and 3
 * (weight 1), copied from 2 before the reply. A restarted filer 1 drops its
 * temporary and holds nothing. */
static void t_filer_killed_mid_upload(void *arg)
{
    static const unsigned weights[] = {100, 100, 1};
    struct it_body b = {.chunked = false};
    struct it_record rec;
    struct it_cluster c;
    struct it_xfer x;
    uint8_t sha[CF_SHA512_LEN];

    (void)arg;
    it_cluster_start(&c, 3, weights, 0, 3);
    it_gen_init(&b.gen, 40, BIG);
    it_xfer_init(&x, c.app.base, "POST", "/v1/objects", &b, NULL);
    x.pause_at = BIG / 4;
    it_xfer_run(&x, 1, kill_mid_upload, &c.f[0]);
    it_gen_final(&b.gen, sha);
    it_check_upload_reply(&x.resp, BIG, sha, 2, &rec);
    it_xfer_fini(&x);
    IT_CHECKF(it_record_has(&rec, 2) && it_record_has(&rec, 3), "record lists filers %u and %u",
              rec.filers[0], rec.filers[1]);
    check_replaced(&c, 2, 3, BIG, 0);
    it_check_placement(c.f, c.n, &rec);
    /* The failure is in the scribe, not only in the app's log. */
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_FILER_ERROR, "upload: "), 1);
    it_download_ok(NULL, c.objsrv.base, &rec);

    /* The killed filer left a temporary; on restart it is swept. */
    it_filer_start_ok(&c.f[0], NULL);
    it_wait_no_tmp(&c.f[0]);
    IT_EQ(it_object_file_size(&c.f[0], rec.path), -1);
    IT_EQ(it_status_int(&c.f[0], "objects"), 0);
    it_cluster_stop(&c);
}

/* The same, but stop it (SIGSTOP): it keeps its connections and reads nothing. */
static void stop_mid_upload(struct it_xfer *x, void *arg)
{
    struct it_filer *f = arg;

    (void)x;
    it_wait_tmp(f, 1);
    it_filer_signal(f, SIGSTOP);
}

/* Filer 1 stops answering (SIGSTOP) in the middle of the body: after
 * --stall-s the app gives up on it and the client still gets 2 replicas,
 * on filers 2 and 3. Resumed, filer 1 drops its temporary. */
static void t_filer_stalls_mid_upload(void *arg)
{
    static const unsigned weights[] = {100, 100, 1};
    struct it_body b = {.chunked = true};
    struct it_record rec;
    struct it_cluster c;
    struct it_xfer x;
    uint8_t sha[CF_SHA512_LEN];

    (void)arg;
    it_cluster_start(&c, 3, weights, 0, 3);
    it_gen_init(&b.gen, 45, BIG);
    it_xfer_init(&x, c.app.base, "POST", "/v1/objects", &b, NULL);
    x.pause_at = BIG / 4;
    it_xfer_run(&x, 1, stop_mid_upload, &c.f[0]);
    it_filer_signal(&c.f[0], SIGCONT);
    it_gen_final(&b.gen, sha);
    it_check_upload_reply(&x.resp, BIG, sha, 2, &rec);
    it_xfer_fini(&x);
    IT_CHECKF(it_record_has(&rec, 2) && it_record_has(&rec, 3), "record lists filers %u and %u",
              rec.filers[0], rec.filers[1]);
    check_replaced(&c, 2, 3, BIG, 0);
    /* Resumed, filer 1 finds its client gone: a PUT that got no reply. */
    it_wait_metric(c.f[0].base, FILER_REQS("PUT", "none"), 1);
    IT_EQ(it_metric(c.f[0].base, FILER_REQS("PUT", "2xx")), 0);
    it_wait_no_tmp(&c.f[0]);
    it_check_placement(c.f, c.n, &rec);
    IT_EQ(it_status_int(&c.f[0], "objects"), 0);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_cluster_stop(&c);
}

/* Filer 1, the heaviest, is full (--capacity 1M): it refuses each body it
 * is sent (507) and is replaced, so the client still gets 2 replicas. */
static void t_filer_full(void *arg)
{
    static const unsigned weights[] = {100, 50, 50};
    struct it_record rec;
    struct it_cluster c;
    int64_t refused;

    (void)arg;
    it_cluster_init(&c);
    for (size_t i = 0; i < 3; i++) {
        if (i == 0)
            it_cluster_add_filer(&c, weights[i], "--capacity", "1M", NULL);
        else
            it_cluster_add_filer(&c, weights[i], NULL);
    }
    it_admin_shard_add(c.db);
    it_app_start_ok(&c.app, c.db, NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    for (unsigned i = 0; i < 3; i++) {
        it_upload_ok(NULL, c.app.base, 48 + i, 2 * IT_MIB + i, 0, i == 1, &rec);
        IT_CHECKF(it_record_has(&rec, 2) && it_record_has(&rec, 3), "record lists filers %u and %u",
                  rec.filers[0], rec.filers[1]);
        it_check_placement(c.f, c.n, &rec);
        it_download_ok(NULL, c.objsrv.base, &rec);
    }
    /* Filer 1 refused every body it was sent and stored none. It gets the
     * first upload; after a failure the app leaves it out until its next
     * poll, so whether it gets the others depends on timing. */
    refused = it_metric(c.f[0].base, FILER_REQS("PUT", "5xx"));
    IT_CHECKF(refused >= 1 && refused <= 3, "filer 1 refused %lld PUTs", (long long)refused);
    IT_EQ(it_metric(c.f[0].base, FILER_REQS("PUT", "2xx")), 0);
    it_wait_no_tmp(&c.f[0]);
    IT_EQ(it_status_int(&c.f[0], "objects"), 0);
    it_cluster_stop(&c);
}

/* With 2 filers and r = 2, a filer killed mid-upload cannot be replaced:
 * 503, no record, and the survivor's copy is removed. */
static void t_upload_fails_cleanly(void *arg)
{
    struct it_body b = {.chunked = true};
    struct it_cluster c;
    struct it_xfer x;

    (void)arg;
    it_cluster_start(&c, 2, NULL, 0, 3);
    it_gen_init(&b.gen, 50, BIG / 2);
    it_xfer_init(&x, c.app.base, "POST", "/v1/objects", &b, NULL);
    x.pause_at = BIG / 8;
    it_xfer_run(&x, 1, kill_mid_upload, &c.f[1]);
    it_gen_fini(&b.gen);
    IT_CHECKF(x.resp.status == 503, "status %ld, body %.200s", x.resp.status,
              x.resp.body ? x.resp.body : "");
    it_check_error_body(&x.resp, "EUNAVAIL");
    it_xfer_fini(&x);
    it_wait_no_tmp(&c.f[0]);
    IT_EQ(it_status_int(&c.f[0], "objects"), 0);
    IT_EQ(it_objdb_count(c.db, 2), 0);
    it_cluster_stop(&c);
}

static bool two_writing(void *arg)
{
    const struct it_cluster *c = arg;
    size_t n = 0;

    for (size_t i = 0; i < c->n; i++)
        n += it_count_tmp(c->f[i].dir) > 0;
    return n >= 2;
}

/* A client that goes away in the middle of its body leaves no record, no
 * bytes and no temporary file on any filer. */
static void t_client_vanishes(void *arg)
{
    struct it_cluster c;
    struct it_gen g;
    char req[256 + CF_CRED_HEADER_MAX];
    size_t n;
    int fd;

    (void)arg;
    it_cluster_start(&c, 3, NULL, 0, 3);
    for (int chunked = 0; chunked < 2; chunked++) {
        fd = it_raw_try_connect(c.app.port);
        IT_CHECK(fd >= 0);
        if (chunked)
            it_fmt(req, sizeof(req),
                   "POST /v1/objects HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n%x\r\n",
                   c.app.port, (unsigned)(8 * IT_MIB));
        else
            it_fmt(req, sizeof(req),
                   "POST /v1/objects HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                   "Content-Length: %u\r\n\r\n",
                   c.app.port, (unsigned)(8 * IT_MIB));
        n = strlen(req);
        it_raw_sign(req, &n, sizeof(req));
        IT_CHECK(it_raw_send(fd, req, n));
        it_gen_init(&g, 60, 8 * IT_MIB);
        IT_CHECK(it_raw_send_gen(fd, &g, 2 * IT_MIB));
        it_gen_fini(&g);
        /* Both chosen filers are writing before the client leaves. */
        IT_CHECKF(it_wait_for(two_writing, &c, 50, 100), "the filers never started writing");
        close(fd);
        for (size_t i = 0; i < c.n; i++)
            it_wait_no_tmp(&c.f[i]);
    }
    for (size_t i = 0; i < c.n; i++)
        IT_EQ(it_status_int(&c.f[i], "objects"), 0);
    IT_EQ(it_objdb_count(c.db, 3), 0);
    /* The app saw both requests end without a reply. */
    it_wait_metric(c.app.base,
                   "coffer_http_requests_total{role=\"app\",method=\"POST\",code=\"none\"}", 2);
    IT_EQ(it_metric(c.app.base, "coffer_http_incomplete_total{role=\"app\"}"), 2);
    it_cluster_stop(&c);
}

/* ---- filers that disagree --------------------------------------------------- */

/* Armed, it flips one zero byte in the middle of the next large read from
 * the app to the filer behind the proxy: inside a chunk's data, since the
 * body is all zeros and the chunk framing has no zero byte. */
struct flip {
    pthread_mutex_t mu;
    bool armed;
    unsigned fired;
};

static bool flip_hook(void *arg, bool to_server, char *buf, size_t n)
{
    struct flip *fl = arg;
    size_t m = n / 2;

    if (!to_server || n < 4096 || buf[m - 1] != 0 || buf[m] != 0 || buf[m + 1] != 0)
        return true;
    pthread_mutex_lock(&fl->mu);
    if (fl->armed) {
        buf[m] = 1;
        fl->armed = false;
        fl->fired++;
    }
    pthread_mutex_unlock(&fl->mu);
    return true;
}

/* POST size zero bytes to the app; the reply's status, its text in reply. */
static long post_zeros(const struct it_cluster *c, size_t size, char *reply, size_t cap)
{
    static const char zeros[65536];
    char req[256 + CF_CRED_HEADER_MAX];
    size_t n;
    long status;
    int fd = it_raw_try_connect(c->app.port);

    IT_CHECK(fd >= 0);
    it_fmt(req, sizeof(req),
           "POST /v1/objects HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: %zu\r\n\r\n",
           c->app.port, size);
    n = strlen(req);
    it_raw_sign(req, &n, sizeof(req));
    IT_CHECK(it_raw_send(fd, req, n));
    for (size_t off = 0; off < size; off += sizeof(zeros))
        IT_CHECK(it_raw_send(fd, zeros, size - off < sizeof(zeros) ? size - off : sizeof(zeros)));
    status = it_raw_read_reply(fd, reply, cap);
    close(fd);
    return status;
}

/* The app does not hash a body itself: it takes the SHA-512 its filers
 * computed, which must agree. A bit flipped on the way to one filer makes
 * them differ: no record, both copies deleted, 503 naming the cause, and
 * neither filer marked offline. With the path healed, the same body goes
 * in whole, with the SHA-512 of its bytes. */
static void t_filers_disagree(void *arg)
{
    static struct flip fl = {PTHREAD_MUTEX_INITIALIZER, true, 0};
    static struct it_proxy px;
    static const char zero_mib[IT_MIB];
    struct it_cluster c;
    struct it_filer via;
    struct cf_sha512 h;
    uint8_t sha[CF_SHA512_LEN];
    char reply[4096], hex[CF_SHA512_HEX_LEN + 1], authority[32];
    const size_t size = 4 * IT_MIB;

    (void)arg;
    it_cluster_init(&c);
    it_cluster_add_filer(&c, 100, NULL);
    /* Filer 2 is registered at the proxy, so it takes requests signed for
     * the proxy's address. */
    it_proxy_listen(&px, flip_hook, &fl);
    it_fmt(authority, sizeof(authority), "127.0.0.1:%u", px.port);
    it_filer_init(&c.f[1], 2, "f2");
    it_filer_start_ok(&c.f[1], "--authority", authority, NULL);
    it_proxy_relay_tcp(&px, c.f[1].port);
    via = c.f[1];
    it_fmt(via.base, sizeof(via.base), "http://127.0.0.1:%u", px.port);
    it_admin_filer_add(c.db, &via, 100);
    c.n = 2;
    it_admin_shard_add(c.db);
    it_app_start_ok(&c.app, c.db, "--stall-s", "3", NULL);

    IT_EQ(post_zeros(&c, size, reply, sizeof(reply)), 503);
    IT_CHECKF(strstr(reply, "different SHA-512s") != NULL, "reply: %.300s", reply);
    IT_EQ(fl.fired, 1);
    for (size_t i = 0; i < c.n; i++) {
        it_wait_no_tmp(&c.f[i]);
        IT_EQ(it_status_int(&c.f[i], "objects"), 0);
    }
    IT_EQ(it_objdb_count(c.db, 2), 0);

    IT_EQ(post_zeros(&c, size, reply, sizeof(reply)), 201);
    IT_CHECK(cf_sha512_init(&h) == 0);
    for (size_t off = 0; off < size; off += IT_MIB)
        IT_CHECK(cf_sha512_update(&h, zero_mib, IT_MIB) == 0);
    IT_CHECK(cf_sha512_final(&h, sha) == 0);
    cf_sha512_hex(sha, hex);
    IT_CHECKF(strstr(reply, hex) != NULL, "reply: %.300s", reply);
    IT_CHECKF(strstr(reply, "\"replicas\":2") != NULL, "reply: %.300s", reply);
    for (size_t i = 0; i < c.n; i++)
        IT_EQ(it_status_int(&c.f[i], "objects"), 1);
    IT_EQ(it_objdb_count(c.db, 2), 1);
    it_cluster_stop(&c);
}

/* ---- downloads ------------------------------------------------------------- */

/* Weights 100, 50, 10: objects go to filers 1 and 2, and objsrv reads
 * filer 1 first. */
static const unsigned dl_weights[] = {100, 50, 10};

/* Restart the app with --poll-ms poll_ms, and objsrv, which must follow it
 * to its new port. */
static void restart_roles(struct it_cluster *c, const char *poll_ms)
{
    it_proc_stop_ok(&c->objsrv);
    it_proc_stop_ok(&c->app);
    it_app_start_ok(&c->app, c->db, "--poll-ms", poll_ms, NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, NULL);
}

/* Restart the app so that a replica a download finds bad is not checked
 * (--finding-checks=false), and objsrv with it: the cases that count which
 * filer sent a download's bytes (bytes_out) would count the check's reads
 * too. The check a finding queues is it_read_heal's. */
static void no_finding_checks(struct it_cluster *c)
{
    it_proc_stop_ok(&c->objsrv);
    it_proc_stop_ok(&c->app);
    it_app_start_ok(&c->app, c->db, "--finding-checks=false", NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, NULL);
}

/* objsrv reported a download's failed replica: the app logged it as a
 * filer.error event (the report travels on objsrv's reporter thread). */
static bool download_error_logged(void *arg)
{
    const struct it_cluster *c = arg;

    return it_scribe_count_msg(c->db, CF_SCRIBE_FILER_ERROR, "download: ") >= 1;
}

/* The first replica's filer is down while the app still reports it online
 * (it polls once, at start): objsrv fails over to the next replica. Once
 * the app reports it offline, objsrv reads the other replica directly. */
static void t_download_first_down(void *arg)
{
    struct it_record rec, small;
    struct it_cluster c;

    (void)arg;
    it_cluster_start(&c, 3, dl_weights, 0, 3);
    it_upload_ok(NULL, c.app.base, 70, BIG, 0, false, &rec);
    it_upload_ok(NULL, c.app.base, 71, 1, 0, false, &small);
    IT_CHECK(it_record_has(&rec, 1) && it_record_has(&rec, 2));
    restart_roles(&c, "600000");
    it_filer_kill9(&c.f[0]);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_download_ok(NULL, c.objsrv.base, &small);
    /* Filer 2 sent both objects whole, once each (bytes_out counts object
     * bytes sent); filer 3 holds neither. */
    IT_EQ(it_status_int(&c.f[1], "bytes_out"), (int64_t)(rec.size + small.size));
    IT_EQ(it_status_int(&c.f[2], "bytes_out"), 0);
    /* The refused connections reached the scribe, not only objsrv's log. */
    IT_CHECKF(it_wait_for(download_error_logged, &c, 100, 100),
              "no filer.error event for the replica that failed");

    restart_roles(&c, "200");
    it_wait_filer_status(&c, rec.uuid, 1, "offline");
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_download_range_ok(NULL, c.objsrv.base, &rec, 70, BIG / 2, BIG / 2 + 100);
    it_cluster_stop(&c);
}

/* The first replica's filer accepts connections but answers nothing
 * (SIGSTOP): after --stall-s objsrv reads the next replica. */
static void t_download_first_stalled(void *arg)
{
    struct it_record rec;
    struct it_cluster c;

    (void)arg;
    it_cluster_start(&c, 3, dl_weights, 0, 3);
    it_upload_ok(NULL, c.app.base, 75, 8 * IT_MIB, 0, false, &rec);
    IT_CHECK(it_record_has(&rec, 1) && it_record_has(&rec, 2));
    it_filer_signal(&c.f[0], SIGSTOP);
    it_download_ok(NULL, c.objsrv.base, &rec);
    /* Filer 2 sent the whole object once. */
    IT_EQ(it_status_int(&c.f[1], "bytes_out"), (int64_t)rec.size);
    it_filer_signal(&c.f[0], SIGCONT);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_cluster_stop(&c);
}

static void kill_mid_download(struct it_xfer *x, void *arg)
{
    struct it_filer *f = arg;

    (void)x;
    it_filer_kill9(f);
}

/* Filer 1 is killed while objsrv streams from it to a client that has
 * paused: the client still gets one correct response, the rest coming from
 * filer 2 (Range from the byte reached: filer 2 sends part of the object,
 * not all of it). */
static void t_download_killed_mid_stream(void *arg)
{
    struct it_record rec;
    struct it_cluster c;
    struct it_xfer x;
    char target[128];
    int64_t sent;

    (void)arg;
    it_cluster_start(&c, 3, dl_weights, 0, 3);
    it_upload_ok(NULL, c.app.base, 80, BIG, 0, false, &rec);
    IT_CHECK(it_record_has(&rec, 1) && it_record_has(&rec, 2));
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec.uuid);
    it_xfer_init(&x, c.objsrv.base, "GET", target, NULL, NULL);
    x.pause_at = 4 * IT_MIB;
    it_xfer_run(&x, 1, kill_mid_download, &c.f[0]);
    it_check_download(&x.resp, &rec);
    it_xfer_fini(&x);
    sent = it_status_int(&c.f[1], "bytes_out");
    IT_CHECKF(sent > 0 && sent < (int64_t)rec.size, "filer 2 sent %lld of %llu bytes",
              (long long)sent, (unsigned long long)rec.size);
    IT_EQ(it_status_int(&c.f[2], "bytes_out"), 0);
    it_cluster_stop(&c);
}

/* Not a complete, matching 200: objsrv streams the object and holds back
 * only its last bytes until the whole SHA-512 is checked (fetch.h), so the
 * client has the 200 and most of the body when the mismatch shows; then
 * the connection is closed short of the end, which the client sees as a
 * transport error. */
static void check_not_served(const struct it_resp *r, const struct it_record *rec)
{
    IT_EQ(r->status, 200);
    IT_CHECKF(r->curl_code != 0, "a short body ended without a transport error");
    IT_CHECKF(r->total < rec->size, "%llu of %llu bytes of a corrupt object were served",
              (unsigned long long)r->total, (unsigned long long)rec->size);
    IT_CHECK(memcmp(r->sha, rec->sha, CF_SHA512_LEN) != 0);
}

/* A byte flipped on disk in the replica read first: the whole-object read
 * fails before its last byte; objsrv then reads that replica last, so the
 * next whole read comes from the intact one (the filers' bytes_out, which
 * count object bytes sent, say which served). With both replicas corrupt,
 * the same. Range reads of intact regions still work. */
static void t_corrupt_replica(void *arg)
{
    const uint64_t size = 4 * IT_MIB, at = 3 * IT_MIB + 12345;
    struct it_record rec;
    struct it_cluster c;
    struct it_resp r;
    int64_t out1, out2;

    (void)arg;
    it_cluster_start(&c, 3, dl_weights, 0, 3);
    no_finding_checks(&c);
    it_upload_ok(NULL, c.app.base, 90, size, 0, false, &rec);
    IT_CHECK(it_record_has(&rec, 1) && it_record_has(&rec, 2));
    it_download_ok(NULL, c.objsrv.base, &rec);

    it_flip_object_byte(&c.f[0], rec.path, at);
    out1 = it_status_int(&c.f[0], "bytes_out");
    out2 = it_status_int(&c.f[1], "bytes_out");
    get_whole(&c, &rec, &r);
    check_not_served(&r, &rec);
    it_resp_fini(&r);
    /* Filer 1 sent it all; the mismatch shows only at the end. */
    IT_EQ(it_status_int(&c.f[0], "bytes_out") - out1, (int64_t)size);
    IT_EQ(it_status_int(&c.f[1], "bytes_out") - out2, 0);
    it_download_range_ok(NULL, c.objsrv.base, &rec, 90, 0, 65535);
    it_download_range_ok(NULL, c.objsrv.base, &rec, 90, at + 1, size - 1);
    /* objsrv now reads the replica that failed its check last: the intact
     * one serves the whole object. */
    out1 = it_status_int(&c.f[0], "bytes_out");
    out2 = it_status_int(&c.f[1], "bytes_out");
    it_download_ok(NULL, c.objsrv.base, &rec);
    IT_EQ(it_status_int(&c.f[1], "bytes_out") - out2, (int64_t)size);
    IT_EQ(it_status_int(&c.f[0], "bytes_out") - out1, 0);

    it_flip_object_byte(&c.f[1], rec.path, at);
    get_whole(&c, &rec, &r);
    check_not_served(&r, &rec);
    it_resp_fini(&r);
    it_download_range_ok(NULL, c.objsrv.base, &rec, 90, at - 1000, at - 1);
    it_cluster_stop(&c);
}

/* A small object (up to CF_FETCH_WHOLE_MAX) is read whole before objsrv
 * answers: with one replica corrupt the other serves it all; with both
 * corrupt the answer is a 500 without the bytes, not a 200 cut short. */
static void t_small_corrupt(void *arg)
{
    const uint64_t size = 4096 + 7;
    struct it_record rec;
    struct it_cluster c;
    struct it_resp r;

    (void)arg;
    it_cluster_start(&c, 3, dl_weights, 0, 3);
    no_finding_checks(&c);
    it_upload_ok(NULL, c.app.base, 97, size, 0, false, &rec);
    IT_CHECK(it_record_has(&rec, 1) && it_record_has(&rec, 2));
    it_flip_object_byte(&c.f[0], rec.path, size / 2);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_flip_object_byte(&c.f[1], rec.path, size / 2);
    get_whole(&c, &rec, &r);
    IT_EQ(r.status, 500);
    IT_EQ(r.curl_code, 0);
    IT_CHECKF(r.total < size, "%llu bytes of a corrupt object were served",
              (unsigned long long)r.total);
    it_resp_fini(&r);
    it_cluster_stop(&c);
}

/* A replica cut short on disk ends early: objsrv goes on from the next
 * replica at the byte reached, and the client gets the whole object: filer
 * 1 sent what it had, filer 2 exactly the rest. */
static void t_truncated_replica(void *arg)
{
    const uint64_t size = 6 * IT_MIB;
    struct it_record rec;
    struct it_cluster c;

    (void)arg;
    it_cluster_start(&c, 3, dl_weights, 0, 3);
    no_finding_checks(&c);
    it_upload_ok(NULL, c.app.base, 95, size, 0, false, &rec);
    IT_CHECK(it_record_has(&rec, 1) && it_record_has(&rec, 2));
    it_truncate_object(&c.f[0], rec.path, size / 2 + 3);
    it_download_ok(NULL, c.objsrv.base, &rec);
    IT_EQ(it_status_int(&c.f[0], "bytes_out"), (int64_t)(size / 2 + 3));
    IT_EQ(it_status_int(&c.f[1], "bytes_out"), (int64_t)(size - size / 2 - 3));
    IT_EQ(it_status_int(&c.f[2], "bytes_out"), 0);
    it_cluster_stop(&c);
}

static void term_proc(struct it_xfer *x, void *arg)
{
    (void)x;
    it_proc_signal(arg, SIGTERM);
}

/* SIGTERM stops the app and objsrv only after the requests in flight:
 * an upload and a download that were paused mid-body when it came finish
 * byte-exact, and each role exits 0. */
static void t_sigterm_drains(void *arg)
{
    struct it_body b = {.chunked = false};
    struct it_record rec;
    struct it_cluster c;
    struct it_xfer x;
    uint8_t sha[CF_SHA512_LEN];
    char target[128];
    int st;

    (void)arg;
    it_cluster_start(&c, 3, NULL, 0, 3);
    it_gen_init(&b.gen, 98, BIG / 2);
    it_xfer_init(&x, c.app.base, "POST", "/v1/objects", &b, NULL);
    x.pause_at = BIG / 8;
    it_xfer_run(&x, 1, term_proc, &c.app);
    it_gen_final(&b.gen, sha);
    it_check_upload_reply(&x.resp, BIG / 2, sha, 2, &rec);
    it_xfer_fini(&x);
    IT_CHECKF(it_proc_wait_exit(&c.app, 40000, &st), "the app did not exit after SIGTERM");
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the app: status 0x%x", (unsigned)st);
    it_check_placement(c.f, c.n, &rec);

    it_proc_stop_ok(&c.objsrv);
    it_app_start_ok(&c.app, c.db, NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec.uuid);
    it_xfer_init(&x, c.objsrv.base, "GET", target, NULL, NULL);
    x.pause_at = 4 * IT_MIB;
    it_xfer_run(&x, 1, term_proc, &c.objsrv);
    it_check_download(&x.resp, &rec);
    it_xfer_fini(&x);
    IT_CHECKF(it_proc_wait_exit(&c.objsrv, 40000, &st), "objsrv did not exit after SIGTERM");
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "objsrv: status 0x%x", (unsigned)st);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"filer_down_before_upload", t_filer_down_before_upload, NULL, 40},
        {"filer_killed_mid_upload", t_filer_killed_mid_upload, NULL, 40},
        {"filer_stalls_mid_upload", t_filer_stalls_mid_upload, NULL, 40},
        {"filer_full", t_filer_full, NULL, 40},
        {"small_corrupt", t_small_corrupt, NULL, 40},
        {"upload_fails_cleanly", t_upload_fails_cleanly, NULL, 40},
        {"client_vanishes", t_client_vanishes, NULL, 40},
        {"filers_disagree", t_filers_disagree, NULL, 40},
        {"download_first_down", t_download_first_down, NULL, 40},
        {"download_first_stalled", t_download_first_stalled, NULL, 40},
        {"download_killed_mid_stream", t_download_killed_mid_stream, NULL, 40},
        {"corrupt_replica", t_corrupt_replica, NULL, 40},
        {"truncated_replica", t_truncated_replica, NULL, 40},
        {"sigterm_drains", t_sigterm_drains, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
