/*
 * it_s3.c -- the gateway's S3 API against `coffer server`, driven by the
 * real clients (Debian's awscli, s3cmd, rclone and python3-boto3, which
 * scripts/deps.sh installs): tests/integration/s3/clients.sh runs aws-cli,
 * s3cmd and rclone unchanged (put, get byte for byte, ls, sync, rm,
 * presign + curl, multipart uploads over each client's threshold);
 * tests/integration/s3/conformance.py runs boto3 and
 * hand-signed requests through every feature and error code;
 * tests/integration/s3/versions.py runs boto3 through versioning;
 * tests/integration/s3/complete.py reads CompleteMultipartUpload's kept-alive
 * reply raw and makes assembly fail after the 200. Access keys
 * come from `coffer admin s3-key add`, as an operator makes them.
 *
 * usage: it_s3 COFFER TMPDIR SCRIPTS_DIR [CASE...]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define LINE_MS   20000
#define SCRIPT_MS 120000
#define OUT_MAX   4096
#define DOMAIN    "s3.test"

static const char *scripts; /* the directory of clients.sh and conformance.py */

struct s3env {
    struct it_server s;
    char endpoint[IT_URL_MAX];
    char fsdb[IT_PATH_MAX];
    char ak[64], sk[128];
    char gateway[IT_URL_MAX];
    char pw[64];
};

/* The value after `label` on its line of out, into v (cap bytes). */
static void field(const char *out, const char *label, char *v, size_t cap)
{
    const char *p = strstr(out, label);
    size_t n;

    IT_CHECKF(p != NULL, "no \"%s\" in \"%s\"", label, out);
    p += strlen(label);
    while (*p == ' ')
        p++;
    n = strcspn(p, "\n");
    IT_CHECK(n > 0 && n < cap);
    memcpy(v, p, n);
    v[n] = '\0';
}

/* `coffer admin s3-key add` for user of client demo. */
static void key_add(struct s3env *e, const char *user, char *ak, char *sk)
{
    char out[OUT_MAX];
    int rc = it_coffer_cmd(out, sizeof(out), NULL, "admin", "s3-key", "add", "--fs-db", e->fsdb,
                           "--client", "demo", "--user", user, NULL);

    IT_CHECKF(it_exit_code(rc) == 0, "coffer admin s3-key add: exit %d", it_exit_code(rc));
    field(out, "access key id:", ak, 64);
    field(out, "secret key:", sk, 128);
}

/* Start `coffer server` with the S3 API on DOMAIN; keepalive_ms (NULL:
 * the default) is its --s3-complete-keepalive-ms. */
static void start_with(struct s3env *e, const char *keepalive_ms)
{
    char line[256];

    if (keepalive_ms != NULL)
        it_server_start_ok(&e->s, "data", 3, "--s3-domain", DOMAIN, "--s3-complete-keepalive-ms",
                           keepalive_ms, NULL);
    else
        it_server_start_ok(&e->s, "data", 3, "--s3-domain", DOMAIN, NULL);
    it_proc_expect_line(&e->s.p, "coffer gateway listening on ", e->gateway, sizeof(e->gateway),
                        LINE_MS);
    it_proc_expect_line(&e->s.p, "coffer gateway login: client demo user admin password ", e->pw,
                        sizeof(e->pw), LINE_MS);
    it_proc_expect_line(&e->s.p, "coffer s3 listening on ", line, sizeof(line), LINE_MS);
    line[strcspn(line, " ")] = '\0';
    it_fmt(e->endpoint, sizeof(e->endpoint), "%s", line);
    IT_CHECKF(strncmp(e->endpoint, "http://127.0.0.1:", 17) == 0, "S3 endpoint \"%s\"",
              e->endpoint);
    it_server_db_uri(e->fsdb, "data", "fs");
    key_add(e, "admin", e->ak, e->sk);
}

static void start(struct s3env *e)
{
    start_with(e, NULL);
}

/* Run argv (NULL-terminated) with stdout and stderr into <case>/log_name,
 * to its end within SCRIPT_MS; fail the case unless it exits 0. */
static void run_script(char *const argv[], const char *log_name)
{
    char log[IT_PATH_MAX];
    uint64_t waited = 0;
    int status = 0, fd;
    pid_t pid, w;

    it_case_path(log, log_name);
    pid = fork();
    IT_CHECK(pid >= 0);
    if (pid == 0) {
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        /* The machine's CA bundle settings would make rclone refuse to start. */
        (void)unsetenv("AWS_CA_BUNDLE");
        execv(argv[0], argv);
        _exit(127);
    }
    for (;;) {
        w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        IT_CHECK(w == 0);
        if (waited >= (uint64_t)SCRIPT_MS * it_multiplier()) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, &status, 0);
            IT_CHECKF(false, "%s ran longer than %u ms (see %s)", argv[1], SCRIPT_MS, log_name);
        }
        (void)usleep(50 * 1000); /* polling a child's end, not synchronising */
        waited += 50;
    }
    IT_CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed: exit %d (see %s)", argv[1],
              it_exit_code(status), log_name);
}

static void need(const char *path)
{
    IT_CHECKF(access(path, X_OK) == 0, "%s is missing: run scripts/deps.sh", path);
}

static void stop(struct s3env *e)
{
    int rc = 0;

    it_proc_signal(&e->s.p, SIGINT);
    IT_CHECKF(it_proc_wait_exit(&e->s.p, 30000, &rc), "coffer server ignored SIGINT");
    IT_EQ(it_exit_code(rc), 0);
}

/* aws-cli, s3cmd and rclone. */
static void t_clients(void *arg)
{
    struct s3env *e = calloc(1, sizeof(*e));
    char script[IT_PATH_MAX], work[IT_PATH_MAX];

    (void)arg;
    need("/usr/bin/aws");
    need("/usr/bin/s3cmd");
    need("/usr/bin/rclone");
    need("/usr/bin/curl");
    start(e);
    it_fmt(script, sizeof(script), "%s/clients.sh", scripts);
    it_case_path(work, "clients");
    IT_EQ(mkdir(work, 0700), 0);
    {
        char *const argv[] = {"/bin/sh", script, e->endpoint, e->ak, e->sk, work, NULL};
        run_script(argv, "clients.log");
    }
    stop(e);
    free(e);
}

/* boto3 and hand-signed requests: every feature and error code. */
static void t_conformance(void *arg)
{
    struct s3env *e = calloc(1, sizeof(*e));
    char script[IT_PATH_MAX], ak2[64], sk2[128], out[OUT_MAX];
    int rc;

    (void)arg;
    need("/usr/bin/python3");
    start(e);
    /* A user with no permission anywhere, and a key of its own. */
    rc = it_coffer_cmd(out, sizeof(out), NULL, "admin", "user", "add", "--fs-db", e->fsdb,
                       "--client", "demo", "nobody", NULL);
    IT_EQ(it_exit_code(rc), 0);
    key_add(e, "nobody", ak2, sk2);
    it_fmt(script, sizeof(script), "%s/conformance.py", scripts);
    {
        char *const argv[] = {
            "/usr/bin/python3", script, e->endpoint, e->ak, e->sk, ak2, sk2, DOMAIN,
            e->gateway,         e->pw,  NULL};
        run_script(argv, "conformance.log");
    }
    stop(e);
    free(e);
}

/* S3 versioning on coffer's file versions, with boto3 (s3/versions.py). */
static void t_versions(void *arg)
{
    struct s3env *e = calloc(1, sizeof(*e));
    char script[IT_PATH_MAX], ak2[64], sk2[128], out[OUT_MAX];
    int rc;

    (void)arg;
    need("/usr/bin/python3");
    start(e);
    rc = it_coffer_cmd(out, sizeof(out), NULL, "admin", "user", "add", "--fs-db", e->fsdb,
                       "--client", "demo", "nobody", NULL);
    IT_EQ(it_exit_code(rc), 0);
    key_add(e, "nobody", ak2, sk2);
    it_fmt(script, sizeof(script), "%s/versions.py", scripts);
    {
        char *const argv[] = {
            "/usr/bin/python3", script, e->endpoint, e->ak, e->sk, ak2, sk2, NULL};
        run_script(argv, "versions.log");
    }
    stop(e);
    free(e);
}

/* CompleteMultipartUpload's reply kept alive with spaces every 10 ms while
 * the object is assembled, and a failure after the 200 (s3/complete.py). */
static void t_complete(void *arg)
{
    struct s3env *e = calloc(1, sizeof(*e));
    char script[IT_PATH_MAX], data[IT_PATH_MAX];

    (void)arg;
    need("/usr/bin/python3");
    start_with(e, "10");
    it_fmt(script, sizeof(script), "%s/complete.py", scripts);
    it_case_path(data, "data");
    {
        char *const argv[] = {"/usr/bin/python3", script, e->endpoint, e->ak, e->sk, data, NULL};
        run_script(argv, "complete.log");
    }
    stop(e);
    free(e);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"clients", t_clients, NULL, 150},
        {"conformance", t_conformance, NULL, 90},
        {"versions", t_versions, NULL, 60},
        {"complete", t_complete, NULL, 90},
    };

    if (argc < 4) {
        fprintf(stderr, "usage: it_s3 COFFER TMPDIR SCRIPTS_DIR [CASE...]\n");
        return 2;
    }
    scripts = argv[3];
    return it_run(argc, argv, 1, cases, CF_ARRAY_LEN(cases));
}
