/*
 * it_slow_clients.c -- clients that send slowly or hold connections idle
 * cannot stop a server from serving others (http.h, slow clients).
 *
 * Each case starts its roles with short limits (a head deadline of 1.5 s, a
 * body rate of 4 KiB/s over 1.5 s) so that it ends in seconds:
 *   heads    idle connections and request heads sent a byte at a time, to
 *            the gateway and to a filer: a normal client is still served,
 *            and every slow connection is closed by the deadline and counted.
 *   per_ip   connections from 127.0.0.2 past the per-address limit are
 *            closed unanswered; those within it, and a client from
 *            127.0.0.1, are served.
 *   per_ip_signed  connections from 127.0.0.2 whose requests are signed
 *            do not count: past the limit they are served, and unsigned
 *            ones are limited as before.
 *   per_ip_exempt  with --http-per-ip-exempt naming 127.0.0.2 (as a load
 *            balancer's address would be), its connections past the limit
 *            are served too, while 127.0.0.3's are still limited; a
 *            malformed list stops the role at start.
 *   upload   an upload to the app whose body trickles: the app closes it,
 *            records nothing, and its streams to the filers end (no filer
 *            request in flight, no temporary file left).
 *   filer_body      the same straight to a filer: closed, nothing kept.
 *   gateway_upload  the same through the gateway (only it has the short
 *            limits): its stream to the app, and the app's to the filers,
 *            end with the client's connection.
 *   server   `coffer server` passes the limits (an exempt list too) on to
 *            every role.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "coffer/auth.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/httpc.h"
#include "harness.h"

#define HEAD_MS   "1500"
#define WINDOW_MS "1500"
#define MIN_RATE  "4K"
#define NSLOW     24 /* idle and trickling connections, each, per server */

/* Whether the server has closed fd: a read that would not block gives EOF
 * or a reset. A server that sent bytes first (it should not) fails the case. */
static bool closed_by_peer(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    ssize_t n;

    if (poll(&p, 1, 0) <= 0)
        return false;
    n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
        return true;
    IT_CHECKF(n < 0, "a slow client was sent bytes");
    return false;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The servers of a case: ports and base URLs of those under attack. */
struct target {
    unsigned port;
    const char *base;
    const char *role;
};

/* Open NSLOW idle and NSLOW trickling connections to each target, serve a
 * normal client meanwhile, and wait until the server has closed each. The
 * tricklers send a request head one byte every 100 ms, so each would take
 * 10 s to finish it. */
static void slow_heads(const struct target *t, size_t nt)
{
    char head[512];
    int idle[4][NSLOW], slow[4][NSLOW];
    bool gone_idle[4][NSLOW] = {{false}}, gone_slow[4][NSLOW] = {{false}};
    size_t sent = 0, left = nt * NSLOW * 2;
    unsigned ticks = 0, max_ticks = 80 * it_multiplier(); /* 8 s, > 1.5 s + a tick */
    struct it_client cl;

    IT_CHECK(nt <= 4);
    /* A head of 500 bytes: 50 s to send, far past the deadline. */
    memset(head, 'a', sizeof(head));
    memcpy(head, "GET /status HTTP/1.1\r\nHost: slow\r\nX-Slow: ", 42);
    memcpy(head + sizeof(head) - 4, "\r\n\r\n", 4);
    it_client_init(&cl);
    for (size_t i = 0; i < nt; i++) {
        for (size_t k = 0; k < NSLOW; k++) {
            idle[i][k] = it_raw_connect_from("127.0.0.2", t[i].port, 10u);
            slow[i][k] = it_raw_connect_from("127.0.0.2", t[i].port, 10u);
        }
    }
    while (left > 0 && ticks < max_ticks) {
        for (size_t i = 0; i < nt; i++) {
            for (size_t k = 0; k < NSLOW; k++) {
                if (!gone_idle[i][k] && closed_by_peer(idle[i][k])) {
                    gone_idle[i][k] = true;
                    left--;
                }
                if (gone_slow[i][k])
                    continue;
                if (closed_by_peer(slow[i][k]) || !it_raw_send(slow[i][k], head + sent, 1)) {
                    gone_slow[i][k] = true;
                    left--;
                }
            }
            /* A normal client is served while the slow ones hold on. */
            if (ticks % 5 == 0) {
                struct it_resp r;
                IT_EQ(it_http_to(&cl, t[i].base, "GET", "/status", NULL, &r, NULL), 200);
                it_resp_fini(&r);
            }
        }
        IT_CHECKF(sent + 4 < sizeof(head), "a trickled head was all but finished");
        sent++;
        ticks++;
        sleep_ms(100);
    }
    IT_CHECKF(left == 0, "%zu slow connections were still open after %u ms", left, ticks * 100);
    for (size_t i = 0; i < nt; i++) {
        char series[128];
        it_fmt(series, sizeof(series), "coffer_http_slow_closed_total{role=\"%s\",phase=\"head\"}",
               t[i].role);
        IT_CHECK(it_metric(t[i].base, series) >= 2 * NSLOW);
        for (size_t k = 0; k < NSLOW; k++) {
            close(idle[i][k]);
            close(slow[i][k]);
        }
    }
    it_client_fini(&cl);
}

/* The case's file system catalog (its URI into fsdb, cap bytes): one shard,
 * client "acme" and, with boss, its admin "boss" (password "pw"). */
static void make_catalog(char *fsdb, size_t cap, bool boss)
{
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_client acme;
    char path[IT_PATH_MAX], hash[CF_AUTH_PWHASH_SIZE];

    it_case_path(path, "fs-catalog.db");
    it_fmt(fsdb, cap, "sqlite:%s", path);
    IT_EQ(cf_fsdb_open(fsdb, 1, &fs, NULL), 0);
    IT_EQ(cf_fsdb_shard_add(fs, NULL, NULL, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "acme", NULL, 2, &acme, NULL), 0);
    if (boss) {
        IT_EQ(cf_auth_password_hash("pw", 2, CF_AUTH_PBKDF2_ITER_MIN, hash), 0);
        IT_EQ(cf_fsdb_user_add(fs, acme.id, "boss", hash, true, NULL, NULL), 0);
    }
    cf_fsdb_close(fs);
}

static void case_heads(void *arg)
{
    struct it_cluster c;
    struct it_proc gw;
    char fsdb[IT_PATH_MAX + 32];
    struct target t[2];

    (void)arg;
    it_cluster_init(&c);
    it_cluster_add_filer(&c, 100, "--http-head-timeout-ms", HEAD_MS, NULL);
    it_cluster_add_filer(&c, 100, NULL);
    it_admin_shard_add(c.db);
    it_app_start_ok(&c.app, c.db, NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    make_catalog(fsdb, sizeof(fsdb), false);
    it_gateway_start_ok(&gw, fsdb, c.app.base, c.objsrv.base, "--http-head-timeout-ms", HEAD_MS,
                        NULL);
    t[0] = (struct target){gw.port, gw.base, "gateway"};
    t[1] = (struct target){c.f[0].port, c.f[0].base, "filer"};
    slow_heads(t, 2);
    it_proc_stop_ok(&gw);
    it_cluster_stop(&c);
}

/* Send a whole GET /status on fd and read the reply: its status, or 0 if
 * the server closed the connection without one. */
static long status_on(int fd)
{
    static const char req[] = "GET /status HTTP/1.1\r\nHost: t\r\n\r\n";
    char buf[2048];

    if (!it_raw_send(fd, req, sizeof(req) - 1))
        return 0;
    return it_raw_read_reply(fd, buf, sizeof(buf));
}

static void case_per_ip(void *arg)
{
    struct it_filer f;
    struct it_client cl;
    struct it_resp r;
    int fds[20];
    unsigned served = 0, refused = 0;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, "--http-per-ip-limit", "8", NULL);
    /* Each connection is accepted (and held) before the next is made. */
    for (size_t i = 0; i < CF_ARRAY_LEN(fds); i++) {
        long st;
        fds[i] = it_raw_connect_from("127.0.0.2", f.port, 10u);
        st = status_on(fds[i]);
        IT_CHECKF(st == 200 || st == 0, "connection %zu: status %ld", i, st);
        if (st == 200)
            served++;
        else
            refused++;
        IT_CHECKF(i < 8 ? st == 200 : st == 0, "connection %zu: status %ld", i, st);
    }
    IT_EQ(served, 8);
    IT_EQ(refused, 12);
    it_client_init(&cl);
    IT_EQ(it_http(&cl, &f, "GET", "/status", NULL, &r, NULL), 200);
    it_resp_fini(&r);
    it_client_fini(&cl);
    for (size_t i = 0; i < CF_ARRAY_LEN(fds); i++)
        close(fds[i]);
    it_filer_stop_ok(&f);
}

/* Send a signed GET /status on fd (for the server on port) and read the
 * reply: its status, or 0 if the server closed the connection without one. */
static long signed_status_on(int fd, unsigned port)
{
    char req[1024], buf[2048];
    size_t n;

    n = (size_t)snprintf(req, sizeof(req), "GET /status HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
                         port);
    it_raw_sign(req, &n, sizeof(req));
    if (!it_raw_send(fd, req, n))
        return 0;
    return it_raw_read_reply(fd, buf, sizeof(buf));
}

static void case_per_ip_signed(void *arg)
{
    struct it_filer f;
    int sig[8], plain[6];

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, "--http-per-ip-limit", "4", NULL);
    for (size_t i = 0; i < CF_ARRAY_LEN(sig); i++) {
        long code;
        sig[i] = it_raw_connect_from("127.0.0.2", f.port, 10u);
        code = signed_status_on(sig[i], f.port);
        IT_CHECKF(code == 200, "signed connection %zu: status %ld", i, code);
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(plain); i++) {
        long code;
        plain[i] = it_raw_connect_from("127.0.0.2", f.port, 10u);
        code = status_on(plain[i]);
        IT_CHECKF(i < 4 ? code == 200 : code == 0, "unsigned connection %zu: status %ld", i, code);
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(sig); i++)
        close(sig[i]);
    for (size_t i = 0; i < CF_ARRAY_LEN(plain); i++)
        close(plain[i]);
    it_filer_stop_ok(&f);
}

static void case_per_ip_exempt(void *arg)
{
    struct it_filer f, bad;
    int lb[12], other[6];
    char out[512];
    int st;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, "--http-per-ip-limit", "4", "--http-per-ip-exempt",
                      "10.77.0.0/24, 127.0.0.2/32", "--http-per-ip-exempt", "fd00::/8", NULL);
    for (size_t i = 0; i < CF_ARRAY_LEN(lb); i++) {
        long code;
        lb[i] = it_raw_connect_from("127.0.0.2", f.port, 10u);
        code = status_on(lb[i]);
        IT_CHECKF(code == 200, "exempt connection %zu: status %ld", i, code);
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(other); i++) {
        long code;
        other[i] = it_raw_connect_from("127.0.0.3", f.port, 10u);
        code = status_on(other[i]);
        IT_CHECKF(i < 4 ? code == 200 : code == 0, "connection %zu from 127.0.0.3: status %ld", i,
                  code);
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(lb); i++)
        close(lb[i]);
    for (size_t i = 0; i < CF_ARRAY_LEN(other); i++)
        close(other[i]);
    it_filer_stop_ok(&f);

    it_filer_init(&bad, 2, "f2");
    st = it_coffer_cmd(out, sizeof(out), NULL, "filer", "--id", "2", "--dir", bad.dir, "--listen",
                       "127.0.0.1:0", "--insecure-no-auth", "--http-per-ip-exempt", "10.0.0.0/33",
                       NULL);
    IT_CHECKF(it_exit_code(st) != 0, "a filer with a bad exempt list started (status 0x%x)",
              (unsigned)st);
}

/* A filer's requests in flight, not counting the /status asking. */
static bool filers_idle(void *arg)
{
    const struct it_cluster *c = arg;

    for (size_t i = 0; i < c->n; i++)
        if (it_status_int(&c->f[i], "in_flight") > 1 || it_count_tmp(c->f[i].dir) > 0)
            return false;
    return true;
}

static bool filers_busy(void *arg)
{
    const struct it_cluster *c = arg;

    for (size_t i = 0; i < c->n; i++)
        if (it_status_int(&c->f[i], "in_flight") < 2)
            return false;
    return true;
}

static void case_upload(void *arg)
{
    char head[1024];
    size_t n;
    struct it_cluster c;
    struct it_gen g;
    unsigned ticks = 0, max_ticks = 80 * it_multiplier();
    bool closed = false;
    int fd;

    (void)arg;
    it_cluster_start_filers(&c, 2);
    it_app_start_ok(&c.app, c.db, "--http-min-rate", MIN_RATE, "--http-rate-window-ms", WINDOW_MS,
                    NULL);
    it_fmt(head, sizeof(head),
           "POST /v1/objects HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: 1048576\r\n\r\n",
           c.app.port);
    n = strlen(head);
    it_raw_sign(head, &n, sizeof(head));
    fd = it_raw_try_connect(c.app.port);
    IT_CHECK(fd >= 0);
    it_gen_init(&g, 7, 1048576);
    IT_CHECK(it_raw_send(fd, head, n));
    IT_CHECK(it_raw_send_gen(fd, &g, 64 * 1024));
    IT_CHECKF(it_wait_for(filers_busy, &c, 50, 100), "the upload never reached both filers");
    /* Then a byte every 100 ms: 10 bytes/s, far under the minimum rate. */
    while (!closed && ticks < max_ticks) {
        closed = closed_by_peer(fd) || !it_raw_send_gen(fd, &g, 1);
        ticks++;
        sleep_ms(100);
    }
    IT_CHECKF(closed, "the app still read a trickling upload after %u ms", ticks * 100);
    IT_CHECKF(it_wait_for(filers_idle, &c, 50, 100),
              "the filers still stream or hold the abandoned upload");
    IT_EQ(it_objdb_count(c.db, 2), 0);
    IT_CHECK(it_metric(c.app.base, "coffer_http_slow_closed_total{role=\"app\",phase=\"body\"}") ==
             1);
    close(fd);
    it_cluster_stop(&c);
}

/* Send 64 KiB of the body, then a byte every 100 ms (10 bytes/s) until the
 * server closes fd; fails the case if it has not within 8 s. */
static void trickle_until_closed(int fd, struct it_gen *g, const char *who)
{
    unsigned ticks = 0, max_ticks = 80 * it_multiplier();
    bool closed = false;

    while (!closed && ticks < max_ticks) {
        closed = closed_by_peer(fd) || !it_raw_send_gen(fd, g, 1);
        ticks++;
        sleep_ms(100);
    }
    IT_CHECKF(closed, "%s still read a trickling body after %u ms", who, ticks * 100);
}

static void case_filer_body(void *arg)
{
    struct it_filer f;
    struct it_gen g;
    int fd;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, "--http-min-rate", MIN_RATE, "--http-rate-window-ms", WINDOW_MS, NULL);
    fd = it_raw_put_begin(&f, "slow/obj", 1048576);
    it_gen_init(&g, 3, 1048576);
    IT_CHECK(it_raw_send_gen(fd, &g, 64 * 1024));
    trickle_until_closed(fd, &g, "the filer");
    close(fd);
    it_wait_no_tmp(&f);
    IT_EQ(it_object_file_size(&f, "slow/obj"), -1);
    IT_CHECK(it_metric(f.base, "coffer_http_slow_closed_total{role=\"filer\",phase=\"body\"}") ==
             1);
    it_filer_stop_ok(&f);
}

/* The app's requests in flight, not counting the /status asking. */
static bool app_idle(void *arg)
{
    const struct it_cluster *c = arg;
    struct it_client cl;
    struct it_resp r;
    json_t *j;
    int64_t n;

    it_client_init(&cl);
    IT_EQ(it_http_to(&cl, c->app.base, "GET", "/status", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    n = it_json_int(j, "in_flight");
    json_decref(j);
    it_resp_fini(&r);
    it_client_fini(&cl);
    return n <= 1 && filers_idle(arg);
}

/* An upload through the gateway whose body trickles: the gateway closes
 * it, and its stream to the app, and the app's to the filers, end with it;
 * nothing is recorded. Only the gateway has the short limits. */
static void case_gateway_upload(void *arg)
{
    struct it_cluster c;
    struct it_proc gw;
    struct it_gen g;
    char fsdb[IT_PATH_MAX + 32];
    char url[IT_URL_MAX + 32], head[CF_AUTH_TOKEN_LEN + 256], err[CF_ERR_LEN] = "";
    json_t *body = NULL, *out = NULL;
    long status = 0;
    int fd;

    (void)arg;
    it_cluster_start_filers(&c, 2);
    it_app_start_ok(&c.app, c.db, NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    make_catalog(fsdb, sizeof(fsdb), true);
    it_gateway_start_ok(&gw, fsdb, c.app.base, c.objsrv.base, "--http-min-rate", MIN_RATE,
                        "--http-rate-window-ms", WINDOW_MS, NULL);
    IT_EQ(cf_httpc_global_init(), 0);
    it_fmt(url, sizeof(url), "%s/api/v1/login", gw.base);
    body = json_pack("{s:s,s:s,s:s}", "client", "acme", "user", "boss", "password", "pw");
    IT_CHECKF(cf_httpc_json("POST", url, body, 20000, &status, &out, err) == 0, "login: %s", err);
    IT_EQ(status, 200);
    it_fmt(head, sizeof(head),
           "PUT /api/v1/fs/slow.bin HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
           "Content-Length: 1048576\r\n\r\n",
           it_json_str(out, "token"));
    json_decref(body);
    json_decref(out);

    fd = it_raw_try_connect(gw.port);
    IT_CHECK(fd >= 0);
    it_gen_init(&g, 5, 1048576);
    IT_CHECK(it_raw_send(fd, head, strlen(head)));
    IT_CHECK(it_raw_send_gen(fd, &g, 64 * 1024));
    IT_CHECKF(it_wait_for(filers_busy, &c, 50, 100), "the upload never reached both filers");
    trickle_until_closed(fd, &g, "the gateway");
    close(fd);
    IT_CHECKF(it_wait_for(app_idle, &c, 50, 100),
              "the app or the filers still stream or hold the abandoned upload");
    IT_EQ(it_objdb_count(c.db, 2), 0);
    it_proc_stop_ok(&gw);
    it_cluster_stop(&c);
}

/* `coffer server` hands its --http-* options to every role: an idle
 * connection to each of its ports is closed by the head deadline. */
static void case_server(void *arg)
{
    struct it_server s;
    unsigned ports[4];
    int fds[4];
    bool gone[4] = {false};
    size_t left = 4;
    unsigned ticks = 0, max_ticks = 80 * it_multiplier();
    char line[256];

    (void)arg;
    /* An exempt list that does not cover 127.0.0.2 changes nothing here;
     * each role gets its own copy of it. */
    it_server_start_ok(&s, "data", 2, "--http-head-timeout-ms", HEAD_MS, "--http-per-ip-exempt",
                       "10.0.0.0/8", NULL);
    it_proc_read_line(&s.p, line, sizeof(line), 20000); /* the gateway's */
    IT_CHECK(sscanf(line, "coffer gateway listening on http://127.0.0.1:%u", &ports[3]) == 1);
    IT_CHECK(sscanf(s.p.base, "http://127.0.0.1:%u", &ports[0]) == 1);
    IT_CHECK(sscanf(s.objsrv, "http://127.0.0.1:%u", &ports[1]) == 1);
    IT_CHECK(sscanf(s.filers[0], "http://127.0.0.1:%u", &ports[2]) == 1);
    for (size_t i = 0; i < 4; i++)
        fds[i] = it_raw_connect_from("127.0.0.2", ports[i], 10u);
    while (left > 0 && ticks < max_ticks) {
        for (size_t i = 0; i < 4; i++) {
            if (!gone[i] && closed_by_peer(fds[i])) {
                gone[i] = true;
                left--;
            }
        }
        ticks++;
        sleep_ms(100);
    }
    IT_CHECKF(left == 0, "%zu idle connections to coffer server still open", left);
    for (size_t i = 0; i < 4; i++)
        close(fds[i]);
    it_proc_stop_ok(&s.p);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"heads", case_heads, NULL, 60},
        {"per_ip", case_per_ip, NULL, 30},
        {"per_ip_signed", case_per_ip_signed, NULL, 30},
        {"per_ip_exempt", case_per_ip_exempt, NULL, 30},
        {"upload", case_upload, NULL, 40},
        {"filer_body", case_filer_body, NULL, 30},
        {"gateway_upload", case_gateway_upload, NULL, 60},
        {"server", case_server, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
