/*
 * it_login.c -- one client cannot lock others out of logging in, nor take
 * every core with password hashes (gateway.h, login limits).
 *
 * The gateway runs alone (logins need no app): the case makes the file
 * system catalog itself (client "acme", admin "boss"). Clients log in over
 * raw sockets bound to chosen loopback addresses (127.0.0.0/8 is all
 * local), so each has its own source address.
 *   guessing  an attacker at 127.0.0.2 guesses boss's password: after a few
 *             tries it gets 429 with Retry-After; attackers at other
 *             addresses are slowed too once past their own free tries; the
 *             owner at 127.0.0.3 logs in at once all the same, typo or not.
 *   proxy     behind a trusted proxy, X-Forwarded-For names the client.
 *   flood     logins with fresh names from 32 addresses at once, with one
 *             hashing slot: the excess gets 503 with Retry-After at once,
 *             the rest 401, and the gateway answers /status meanwhile.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "coffer/auth.h"
#include "coffer/fsdb.h"
#include "harness.h"

#define TEST_PW "correct horse battery"
#define NFLOOD  32

/* POST /api/v1/login from src; returns the status and, when the reply
 * carries one, its Retry-After in *retry (else 0; retry may be NULL). */
static long login_hdr(unsigned port, const char *src, const char *hdr, const char *user,
                      const char *pw, unsigned *retry);

static long login_from(unsigned port, const char *src, const char *user, const char *pw,
                       unsigned *retry)
{
    return login_hdr(port, src, NULL, user, pw, retry);
}

/* login_from with one more header line hdr ("Name: value"; NULL: none). */
static long login_hdr(unsigned port, const char *src, const char *hdr, const char *user,
                      const char *pw, unsigned *retry)
{
    char body[256], req[512], reply[4096];
    const char *ra;
    int fd = it_raw_connect_from(src, port, 20u);
    long st;

    it_fmt(body, sizeof(body), "{\"client\":\"acme\",\"user\":\"%s\",\"password\":\"%s\"}", user,
           pw);
    it_fmt(req, sizeof(req),
           "POST /api/v1/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           "%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
           hdr != NULL ? hdr : "", hdr != NULL ? "\r\n" : "", strlen(body), body);
    IT_CHECK(it_raw_send(fd, req, strlen(req)));
    st = it_raw_read_reply(fd, reply, sizeof(reply));
    close(fd);
    ra = strstr(reply, "Retry-After: ");
    if (retry != NULL)
        *retry = ra != NULL ? (unsigned)strtoul(ra + 13, NULL, 10) : 0;
    if (st == 429 || st == 503)
        IT_CHECKF(ra != NULL, "a %ld without Retry-After: %s", st, reply);
    return st;
}

/* The catalog with acme/boss, then the gateway with the extra arguments. */
static void start(struct it_proc *gw, const char *a1, const char *a2, const char *a3,
                  const char *a4)
{
    struct cf_fsdb *fs = NULL;
    struct cf_fsdb_client acme;
    char fsdb[IT_PATH_MAX + 32], path[IT_PATH_MAX], hash[CF_AUTH_PWHASH_SIZE];

    it_case_path(path, "fs-catalog.db");
    it_fmt(fsdb, sizeof(fsdb), "sqlite:%s", path);
    IT_EQ(cf_fsdb_open(fsdb, 1, &fs, NULL), 0);
    IT_EQ(cf_fsdb_shard_add(fs, NULL, NULL, NULL), 0);
    IT_EQ(cf_fsdb_client_add(fs, "acme", NULL, 2, &acme, NULL), 0);
    /* The minimum cost keeps the owner's logins fast; unknown names still
     * cost a full hash (the gateway's dummy). */
    IT_EQ(cf_auth_password_hash(TEST_PW, strlen(TEST_PW), CF_AUTH_PBKDF2_ITER_MIN, hash), 0);
    IT_EQ(cf_fsdb_user_add(fs, acme.id, "boss", hash, true, NULL, NULL), 0);
    cf_fsdb_close(fs);
    /* No app nor objsrv: a login needs neither. */
    it_gateway_start_ok(gw, fsdb, "http://127.0.0.1:9", "http://127.0.0.1:9", a1, a2, a3, a4, NULL);
}

static void case_guessing(void *arg)
{
    struct it_proc gw;
    unsigned retry = 0, slowed = 0;
    char src[32];
    long st;

    (void)arg;
    start(&gw, NULL, NULL, NULL, NULL);
    /* Three free wrong guesses and a fourth, then a delay of 1 s, 2 s... */
    for (int i = 0; i < 4; i++)
        IT_EQ(login_from(gw.port, "127.0.0.2", "boss", "guess", NULL), 401);
    for (int i = 0; i < 6; i++) {
        IT_EQ(login_from(gw.port, "127.0.0.2", "boss", "guess", &retry), 429);
        IT_CHECK(retry >= 1 && retry <= 60);
    }
    /* Other addresses: three free guesses each are heard (401); a fourth
     * is slowed by the account's delay once enough addresses failed. */
    for (int i = 0; i < 8; i++) {
        it_fmt(src, sizeof(src), "127.0.0.%d", 10 + i);
        for (int k = 0; k < 3; k++)
            IT_EQ(login_from(gw.port, src, "boss", "guess", NULL), 401);
        st = login_from(gw.port, src, "boss", "guess", &retry);
        IT_CHECKF(st == 401 || st == 429, "fourth guess from %s: %ld", src, st);
        slowed += st == 429;
    }
    IT_CHECK(slowed > 0);
    /* The owner, from an address of its own, is not locked out, even after
     * a typo... */
    IT_EQ(login_from(gw.port, "127.0.0.3", "boss", "typo", NULL), 401);
    IT_EQ(login_from(gw.port, "127.0.0.3", "boss", TEST_PW, NULL), 200);
    /* ...while the first attacker still waits. */
    IT_EQ(login_from(gw.port, "127.0.0.2", "boss", TEST_PW, &retry), 429);
    it_proc_stop_ok(&gw);
}

struct flooder {
    unsigned port;
    int i;
    pthread_barrier_t *go;
    long status;
};

static void *flood_main(void *arg)
{
    struct flooder *f = arg;
    char src[32], user[32];

    it_fmt(src, sizeof(src), "127.0.1.%d", 1 + f->i);
    it_fmt(user, sizeof(user), "nobody%d", f->i);
    pthread_barrier_wait(f->go);
    f->status = login_from(f->port, src, user, "pw", NULL);
    return NULL;
}

static void case_flood(void *arg)
{
    struct it_proc gw;
    struct flooder f[NFLOOD];
    pthread_t th[NFLOOD];
    pthread_barrier_t go;
    struct it_client cl;
    struct it_resp r;
    unsigned busy = 0, refused = 0;

    (void)arg;
    start(&gw, "--login-hash-slots", "1", "--login-queue", "1");
    IT_EQ(pthread_barrier_init(&go, NULL, NFLOOD + 1), 0);
    for (int i = 0; i < NFLOOD; i++) {
        f[i] = (struct flooder){gw.port, i, &go, 0};
        IT_EQ(pthread_create(&th[i], NULL, flood_main, &f[i]), 0);
    }
    pthread_barrier_wait(&go);
    /* The gateway answers other requests while the flood is hashed. */
    it_client_init(&cl);
    IT_EQ(it_http_to(&cl, gw.base, "GET", "/status", NULL, &r, NULL), 200);
    it_resp_fini(&r);
    it_client_fini(&cl);
    for (int i = 0; i < NFLOOD; i++) {
        IT_EQ(pthread_join(th[i], NULL), 0);
        IT_CHECKF(f[i].status == 503 || f[i].status == 401, "login %d: %ld", i, f[i].status);
        busy += f[i].status == 503;
        refused += f[i].status == 401;
    }
    pthread_barrier_destroy(&go);
    IT_CHECKF(busy > 0 && refused > 0, "%u answered 503, %u answered 401", busy, refused);
    /* Once the flood has passed, the owner logs in. */
    IT_EQ(login_from(gw.port, "127.0.0.3", "boss", TEST_PW, NULL), 200);
    it_proc_stop_ok(&gw);
}

/* Behind a trusted proxy (127.0.0.5) the client is the last address of
 * X-Forwarded-For: a guesser behind it does not slow the owner behind it.
 * From any other peer the header is ignored. */
static void case_proxy(void *arg)
{
    struct it_proc gw;
    unsigned retry = 0;

    (void)arg;
    start(&gw, "--trusted-proxies", "127.0.0.9, 127.0.0.5", NULL, NULL);
    for (int i = 0; i < 4; i++)
        IT_EQ(login_hdr(gw.port, "127.0.0.5", "X-Forwarded-For: 203.0.113.1, 198.51.100.7", "boss",
                        "guess", NULL),
              401);
    IT_EQ(login_hdr(gw.port, "127.0.0.5", "X-Forwarded-For: 198.51.100.7", "boss", TEST_PW, &retry),
          429);
    /* The forged first entry does not help: the proxy's entry counts. */
    IT_EQ(login_hdr(gw.port, "127.0.0.5", "X-Forwarded-For: 192.0.2.1, 198.51.100.7", "boss",
                    TEST_PW, &retry),
          429);
    IT_EQ(login_hdr(gw.port, "127.0.0.5", "X-Forwarded-For: 198.51.100.8", "boss", TEST_PW, NULL),
          200);
    /* Not a trusted proxy: its own address counts, whatever it claims. */
    for (int i = 0; i < 4; i++)
        IT_EQ(
            login_hdr(gw.port, "127.0.0.6", "X-Forwarded-For: 198.51.100.9", "boss", "guess", NULL),
            401);
    IT_EQ(
        login_hdr(gw.port, "127.0.0.6", "X-Forwarded-For: 198.51.100.10", "boss", TEST_PW, &retry),
        429);
    it_proc_stop_ok(&gw);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"guessing", case_guessing, NULL, 60},
        {"flood", case_flood, NULL, 60},
        {"proxy", case_proxy, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
