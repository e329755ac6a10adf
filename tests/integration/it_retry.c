/*
 * it_retry.c -- several instances of each role, and the CLI's retries:
 * two apps and two objsrvs on one catalog, two gateways each given both
 * (--app A1,A2 --objsrv O1,O2), the CLI logged in with --gateway G1,G2.
 *
 * load: a bounded loop of CLI commands (put, ls, get byte for byte) while
 * another process kills gateway 1, then app 1, then objsrv 1 (SIGKILL, in
 * the middle of whatever runs): every command succeeds, and at the end
 * every file uploaded reads back whole.
 * resume: a download through gateway 1 that loses objsrv 1 mid-way goes on
 * from objsrv 2 (the gateway fails over); one that loses gateway 1 mid-way
 * is resumed by the CLI on gateway 2 with a Range from the byte reached;
 * both end with the file's SHA-512 checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/sha512.h"
#include "harness.h"

#define LINE_MS  20000
#define OUT_MAX  8192
#define TEST_PW  "correct horse"
#define LOAD_MAX 40

struct sys {
    struct it_cluster c; /* the filers, app 1 (c.app) and objsrv 1 (c.objsrv) */
    struct it_proc app2, objsrv2, gw1, gw2;
    char fsdb[IT_PATH_MAX + 32];
    char apps[2 * IT_URL_MAX + 2], objsrvs[2 * IT_URL_MAX + 2], gws[2 * IT_URL_MAX + 2];
    char tok[IT_PATH_MAX];
};

static void admin_ok(const struct sys *s, const char *what, const char *verb, const char *a1,
                     const char *a2, const char *a3, const char *a4, const char *a5, const char *a6)
{
    char out[512];
    int st = it_coffer_cmd(out, sizeof(out), NULL, "admin", what, verb, "--fs-db", s->fsdb, a1, a2,
                           a3, a4, a5, a6, NULL);

    IT_CHECKF(it_exit_code(st) == 0, "coffer admin %s %s: exit %d (see cmd.log)", what, verb,
              it_exit_code(st));
}

/* `coffer CMD --token-file TOK A1 A2 A3` (trailing NULLs end the list),
 * which must exit 0; stdout into out (OUT_MAX bytes, may be NULL). */
static void run_ok(const struct sys *s, char *out, const char *cmd, const char *a1, const char *a2,
                   const char *a3)
{
    int rc = it_exit_code(it_coffer_cmd(out, out != NULL ? OUT_MAX : 0, NULL, cmd, "--token-file",
                                        s->tok, a1, a2, a3, NULL));

    IT_CHECKF(rc == 0, "coffer %s %s: exit %d (see cmd.log)", cmd, a1 ? a1 : "", rc);
}

/* Filers f1, f2 and one shard; apps 1 and 2; objsrvs 1 and 2, each asking
 * both apps; the file system catalog with client "acme" and its admin
 * "boss"; gateways 1 and 2 (one token key), each given both apps and both
 * objsrvs; boss logged in through both gateways. */
static void start(struct sys *s)
{
    char loc[IT_PATH_MAX], out[OUT_MAX];
    const char *l;
    int rc;

    memset(s, 0, sizeof(*s));
    s->app2.pid = s->objsrv2.pid = s->gw1.pid = s->gw2.pid = -1;
    it_cluster_start_filers(&s->c, 2);
    /* No purge or maintenance thread races the test's load. */
    it_app_start_ok(&s->c.app, s->c.db, "--purge-interval-ms", "0", NULL);
    it_app_start_ok(&s->app2, s->c.db, "--purge-interval-ms", "0", NULL);
    it_fmt(s->apps, sizeof(s->apps), "%s,%s", s->c.app.base, s->app2.base);
    it_objsrv_start_ok(&s->c.objsrv, s->apps, NULL);
    it_objsrv_start_ok(&s->objsrv2, s->apps, NULL);
    it_fmt(s->objsrvs, sizeof(s->objsrvs), "%s,%s", s->c.objsrv.base, s->objsrv2.base);
    it_case_db_uri(s->fsdb, "fs-catalog");
    l = it_shard_location(loc, "fsshard");
    admin_ok(s, "client", "add", "acme", l != NULL ? "--shard-location" : NULL, l, NULL, NULL,
             NULL);
    admin_ok(s, "user", "add", "--client", "acme", "boss", "--admin", "--password", TEST_PW);
    it_gateway_start_ok(&s->gw1, s->fsdb, s->apps, s->objsrvs, "--trash-interval-ms", "0", NULL);
    it_gateway_start_ok(&s->gw2, s->fsdb, s->apps, s->objsrvs, "--trash-interval-ms", "0", NULL);
    it_fmt(s->gws, sizeof(s->gws), "%s,%s", s->gw1.base, s->gw2.base);
    it_case_path(s->tok, "token");
    rc = it_exit_code(it_coffer_cmd(out, sizeof(out), NULL, "login", "--gateway", s->gws,
                                    "--token-file", s->tok, "--client", "acme", "--user", "boss",
                                    "--password", TEST_PW, NULL));
    IT_EQ(rc, 0);
}

/* Stop what still runs; each must exit 0. */
static void stop(struct sys *s)
{
    struct it_proc *p[] = {&s->gw1, &s->gw2, &s->objsrv2, &s->app2};

    for (size_t i = 0; i < CF_ARRAY_LEN(p); i++)
        if (p[i]->pid > 0)
            it_proc_stop_ok(p[i]);
    it_cluster_stop(&s->c);
}

/* After SIGKILL from elsewhere: reap p, and let the cluster forget it. */
static void reap(struct it_proc *p)
{
    it_proc_kill9(p);
}

/* `coffer get` of remote into <case dir>/got holds the payload (seed, size). */
static void get_same(const struct sys *s, const char *remote, uint64_t seed, uint64_t size)
{
    uint8_t want[CF_SHA512_LEN], got[CF_SHA512_LEN];
    char path[IT_PATH_MAX];
    uint64_t n = 0;

    it_case_path(path, "got");
    (void)unlink(path);
    run_ok(s, NULL, "get", remote, "-o", path);
    it_file_sha512(path, &n, got);
    it_prng_sha512(seed, size, want);
    IT_EQ(n, size);
    IT_CHECKF(memcmp(got, want, sizeof(got)) == 0, "coffer get %s: other bytes", remote);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The size of the i-th file of the load: 4 KiB to 1 MiB. */
static uint64_t load_size(unsigned i)
{
    return i % 3 == 0 ? 1024 * 1024 + i : 4096 + 97 * i;
}

static void t_load(void *arg)
{
    char local[IT_PATH_MAX], remote[64], out[OUT_MAX], log[IT_PATH_MAX];
    pid_t victims[3], killer;
    struct sys s;
    unsigned n = 0;
    int st = 0;

    (void)arg;
    start(&s);
    victims[0] = s.gw1.pid;
    victims[1] = s.c.app.pid;
    victims[2] = s.c.objsrv.pid;
    /* The killer: one instance of each role, a second or so apart, while
     * the commands below run. It only sends signals; this process reaps. */
    killer = fork();
    IT_CHECK(killer >= 0);
    if (killer == 0) {
        for (size_t i = 0; i < CF_ARRAY_LEN(victims); i++) {
            sleep_ms(1200);
            (void)kill(victims[i], SIGKILL);
        }
        _exit(0);
    }
    run_ok(&s, NULL, "mkdir", "/load", NULL, NULL);
    /* Until the killer is done and a few commands more, at most LOAD_MAX. */
    for (int extra = 0; n < LOAD_MAX && extra < 4; n++) {
        it_write_payload(local, "load.bin", 100 + n, load_size(n), NULL);
        it_fmt(remote, sizeof(remote), "/load/f%u.bin", n);
        run_ok(&s, NULL, "put", local, remote, NULL);
        run_ok(&s, out, "ls", "/load", NULL, NULL);
        IT_CHECKF(strstr(out, remote + 6) != NULL, "ls /load lacks %s", remote + 6);
        get_same(&s, remote, 100 + n, load_size(n));
        if (killer > 0 && waitpid(killer, &st, WNOHANG) == killer)
            killer = 0;
        if (killer == 0)
            extra++;
        else
            sleep_ms(100); /* a fast machine must not finish the rounds before the kills */
    }
    IT_CHECKF(killer == 0, "the load ended (%u rounds) before the killer", n);
    IT_EQ(it_exit_code(st), 0);
    reap(&s.gw1);
    reap(&s.c.app);
    reap(&s.c.objsrv);
    /* Nothing lost: every file reads back whole through what is left. */
    for (unsigned i = 0; i < n; i++) {
        it_fmt(remote, sizeof(remote), "/load/f%u.bin", i);
        get_same(&s, remote, 100 + i, load_size(i));
    }
    /* The retries did happen. */
    it_case_path(log, "cmd.log");
    IT_CHECK(it_file_contains(log, "trying again"));
    stop(&s);
}

/* `coffer get --token-file TOK remote` with its stdout into a pipe (*fd,
 * the read end) and its stderr appended to cmd.log. Returns its pid. */
static pid_t spawn_get(const struct sys *s, const char *remote, int *fd)
{
    char log[IT_PATH_MAX];
    int p[2];
    pid_t pid;

    it_case_path(log, "cmd.log");
    IT_EQ(pipe(p), 0);
    pid = fork();
    IT_CHECK(pid >= 0);
    if (pid == 0) {
        int e = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (e < 0 || dup2(p[1], STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
            _exit(127);
        close(p[0]);
        close(p[1]);
        execl(it_coffer_bin(), "coffer", "get", "--token-file", s->tok, remote, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *fd = p[0];
    return pid;
}

/* Read fd to its end into a hash; kill victim (SIGKILL) once first bytes
 * have been read. Returns the bytes read; the digest into out. */
static uint64_t read_killing(int fd, pid_t victim, uint64_t after, uint8_t out[CF_SHA512_LEN])
{
    static char buf[65536];
    struct cf_sha512 sha;
    uint64_t total = 0;
    bool killed = false;
    ssize_t n;

    IT_EQ(cf_sha512_init(&sha), 0);
    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        IT_CHECK(n >= 0);
        if (n == 0)
            break;
        IT_EQ(cf_sha512_update(&sha, buf, (size_t)n), 0);
        total += (uint64_t)n;
        if (!killed && total >= after) {
            IT_EQ(kill(victim, SIGKILL), 0);
            killed = true;
        }
    }
    IT_CHECK(killed);
    IT_EQ(cf_sha512_final(&sha, out), 0);
    cf_sha512_fini(&sha);
    return total;
}

static void t_resume(void *arg)
{
    const uint64_t size = 48 * IT_MIB;
    uint8_t want[CF_SHA512_LEN], got[CF_SHA512_LEN];
    char local[IT_PATH_MAX], log[IT_PATH_MAX];
    struct sys s;
    int fd, st = 0;
    pid_t pid;

    (void)arg;
    start(&s);
    it_write_payload(local, "big.bin", 7, size, want);
    run_ok(&s, NULL, "put", local, "/big.bin", NULL);
    (void)unlink(local);

    /* Objsrv 1 dies mid-way: gateway 1 (whose first download goes to the
     * first objsrv) goes on from objsrv 2, the CLI sees one stream. */
    pid = spawn_get(&s, "/big.bin", &fd);
    IT_EQ(read_killing(fd, s.c.objsrv.pid, 2 * IT_MIB, got), size);
    close(fd);
    IT_EQ(waitpid(pid, &st, 0), pid);
    IT_EQ(it_exit_code(st), 0);
    IT_CHECK(memcmp(got, want, sizeof(got)) == 0);
    reap(&s.c.objsrv);

    /* Gateway 1 dies mid-way: the CLI resumes on gateway 2 from the byte
     * it reached, and the whole file's SHA-512 matches. */
    pid = spawn_get(&s, "/big.bin", &fd);
    IT_EQ(read_killing(fd, s.gw1.pid, 2 * IT_MIB, got), size);
    close(fd);
    IT_EQ(waitpid(pid, &st, 0), pid);
    IT_EQ(it_exit_code(st), 0);
    IT_CHECK(memcmp(got, want, sizeof(got)) == 0);
    reap(&s.gw1);
    it_case_path(log, "cmd.log");
    IT_CHECK(it_file_contains(log, "trying again from the byte reached"));
    stop(&s);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"load", t_load, NULL, 120},
        {"resume", t_resume, NULL, 120},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
