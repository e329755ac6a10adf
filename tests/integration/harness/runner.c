/*
 * runner.c -- the case runner: forked cases with deadlines, temp
 * directories, failing checks and bounded polling (runner.h).
 */
#include "harness/runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "harness/harness_int.h"

#define IT_PROCS_MAX 64          /* processes one case may have running */
#define IT_LOG_TAIL  (16 * 1024) /* of each log printed when a case fails */
#define IT_PG_DBS    32          /* PostgreSQL databases one case may make */
#define IT_SKIP_RC   77          /* a case's exit status: skipped */

/* Set once by it_run before any case is forked; read-only afterwards, except
 * for the registry of the case's processes, which only the case's main
 * thread writes. */
static struct {
    const char *coffer;
    const char *tmp_parent;
    unsigned mult;
    char case_dir[IT_PATH_MAX];
    volatile pid_t running; /* the case child, for the runner's signal handler */
    pid_t procs[IT_PROCS_MAX];
    const char *pg; /* COFFER_TEST_PG when the backend is PostgreSQL, else NULL */
    /* The case's PostgreSQL databases (its main thread only). */
    char pg_dbs[IT_PG_DBS][64];
    size_t npg_dbs;
} g_it = {.mult = 1};

/* ---- small utilities ------------------------------------------------------ */

uint64_t it__now_ms(void)
{
    return cf_now_ns() / 1000000u;
}

void it__nap_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void it_fmt(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    IT_CHECKF(n >= 0 && (size_t)n < cap, "%zu bytes are too few for \"%s\"", cap, fmt);
}

const char *it__coffer(void)
{
    return g_it.coffer;
}

unsigned it_multiplier(void)
{
    return g_it.mult;
}

const char *it_case_dir(void)
{
    return g_it.case_dir;
}

void it_case_path(char out[IT_PATH_MAX], const char *name)
{
    it_fmt(out, IT_PATH_MAX, "%s/%s", g_it.case_dir, name);
}

/* ---- failing -------------------------------------------------------------- */

static void kill_registered(void)
{
    for (size_t i = 0; i < IT_PROCS_MAX; i++) {
        if (g_it.procs[i] > 0)
            kill(g_it.procs[i], SIGKILL);
    }
}

void it_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    fflush(stdout);
    /* May run on any thread of the case: no exit handlers, no stdio locks. */
    kill_registered();
    _exit(1);
}

void it_check_i64(const char *file, int line, const char *what, int64_t got, int64_t want)
{
    if (got != want)
        it_fail(file, line, "%s is %lld, expected %lld", what, (long long)got, (long long)want);
}

void it_check_str(const char *file, int line, const char *what, const char *got, const char *want)
{
    if (got == NULL || strcmp(got, want) != 0)
        it_fail(file, line, "%s is \"%s\", expected \"%s\"", what, got ? got : "(null)", want);
}

uint64_t it_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void it_sleep_until_ms(uint64_t t)
{
    for (uint64_t n = it_now_ms(); n < t; n = it_now_ms())
        usleep((useconds_t)((t - n) * 1000u));
}

bool it_wait_for(it_cond_cb cond, void *arg, unsigned tries, unsigned delay_ms)
{
    unsigned n = tries * g_it.mult;
    bool ok = cond(arg);

    for (unsigned i = 0; i < n && !ok; i++) {
        it__nap_ms(delay_ms);
        ok = cond(arg);
    }
    return ok;
}

/* ---- the metadata backend -------------------------------------------------- */

bool it_backend_pg(void)
{
    return g_it.pg != NULL;
}

/* A connection to database name of the test server; fails the case. */
static struct cf_db *pg_open(const char *name)
{
    char uri[IT_PATH_MAX], err[CF_ERR_LEN] = "";
    struct cf_db *db = NULL;

    it_fmt(uri, sizeof(uri), "postgres:%s dbname=%s", g_it.pg, name);
    IT_CHECKF(cf_db_open(uri, &db, err) == 0, "open %s: %s", uri, err);
    return db;
}

/* DROP DATABASE IF EXISTS name, whoever is still connected to it. */
static int pg_drop(struct cf_db *admin, const char *name, char *err)
{
    char sql[128];

    it_fmt(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    return cf_db_exec(admin, sql, err);
}

void it_case_db_uri(char out[IT_PATH_MAX], const char *tag)
{
    char name[64], sql[128], err[CF_ERR_LEN] = "";
    struct cf_db *admin;
    size_t len = strlen(tag);

    IT_CHECKF(len >= 1 && len <= 24 && strspn(tag, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len,
              "database tag \"%s\"", tag);
    if (g_it.pg == NULL) {
        it_fmt(out, IT_PATH_MAX, "sqlite:%s/%s.db", g_it.case_dir, tag);
        return;
    }
    IT_CHECKF(g_it.npg_dbs < IT_PG_DBS, "more than %d databases in one case", IT_PG_DBS);
    it_fmt(name, sizeof(name), "it_%ld_%zu_%s", (long)getpid(), g_it.npg_dbs, tag);
    for (char *p = name; *p != '\0'; p++)
        *p = *p == '-' ? '_' : *p;
    admin = pg_open("postgres");
    /* A case that failed earlier in this run may have left one of the name. */
    IT_CHECKF(pg_drop(admin, name, err) == 0, "drop %s: %s", name, err);
    it_fmt(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    IT_CHECKF(cf_db_exec(admin, sql, err) == 0, "%s: %s", sql, err);
    cf_db_close(admin);
    memcpy(g_it.pg_dbs[g_it.npg_dbs++], name, sizeof(name));
    it_fmt(out, IT_PATH_MAX, "postgres:%s dbname=%s", g_it.pg, name);
}

const char *it_shard_location(char out[IT_PATH_MAX], const char *tag)
{
    if (g_it.pg == NULL)
        return NULL;
    it_case_db_uri(out, tag);
    return out;
}

/* The database prefix of a `coffer server` on data directory `data`:
 * stable within the case, so a restarted server finds its databases. */
static void server_prefix(char out[64], const char *data)
{
    size_t o = 0;

    it_fmt(out, 64, "it_%ld_srv_", (long)getpid());
    o = strlen(out);
    for (const char *p = data; *p != '\0' && o < 40; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        out[o++] = strchr("abcdefghijklmnopqrstuvwxyz0123456789", c) != NULL ? c : '_';
    }
    out[o] = '\0';
}

bool it_server_pg_args(char db[IT_PATH_MAX], char prefix[64], const char *data)
{
    static const char *const suffix[] = {"catalog", "shard_1", "fs", "fs_1"};
    char name[64], err[CF_ERR_LEN] = "";
    struct cf_db *admin = NULL;

    if (g_it.pg == NULL)
        return false;
    server_prefix(prefix, data);
    it_fmt(db, IT_PATH_MAX, "postgres:%s", g_it.pg);
    for (size_t i = 0; i < CF_ARRAY_LEN(suffix); i++) {
        bool known = false;

        it_fmt(name, sizeof(name), "%s_%s", prefix, suffix[i]);
        for (size_t j = 0; j < g_it.npg_dbs && !known; j++)
            known = strcmp(g_it.pg_dbs[j], name) == 0;
        if (known)
            continue;
        /* First start in this case: no leftover of an earlier run. */
        if (admin == NULL)
            admin = pg_open("postgres");
        IT_CHECKF(pg_drop(admin, name, err) == 0, "drop %s: %s", name, err);
        IT_CHECKF(g_it.npg_dbs < IT_PG_DBS, "more than %d databases in one case", IT_PG_DBS);
        memcpy(g_it.pg_dbs[g_it.npg_dbs++], name, sizeof(name));
    }
    cf_db_close(admin);
    return true;
}

void it_server_db_uri(char out[IT_PATH_MAX], const char *data, const char *which)
{
    char prefix[64];
    bool fs = strcmp(which, "fs") == 0;

    IT_CHECKF(fs || strcmp(which, "catalog") == 0, "server database \"%s\"", which);
    if (g_it.pg == NULL) {
        it_fmt(out, IT_PATH_MAX, "sqlite:%s/%s/%s", g_it.case_dir, data,
               fs ? "fs-catalog.db" : "catalog.db");
        return;
    }
    server_prefix(prefix, data);
    it_fmt(out, IT_PATH_MAX, "postgres:%s dbname=%s_%s", g_it.pg, prefix, which);
}

/* Drop the databases the passing case made (its processes have ended). */
static void pg_drop_case_dbs(void)
{
    char err[CF_ERR_LEN] = "";
    struct cf_db *admin;

    if (g_it.npg_dbs == 0)
        return;
    admin = pg_open("postgres");
    for (size_t i = 0; i < g_it.npg_dbs; i++)
        IT_CHECKF(pg_drop(admin, g_it.pg_dbs[i], err) == 0, "drop %s: %s", g_it.pg_dbs[i], err);
    cf_db_close(admin);
    g_it.npg_dbs = 0;
}

void it_skip_on_pg(const char *why)
{
    char line[256];

    if (g_it.pg == NULL)
        return;
    it_fmt(line, sizeof(line), "on postgres: %s", why);
    it_skip(line);
}

void it_skip(const char *why)
{
    printf("skipped %s\n", why);
    kill_registered();
    pg_drop_case_dbs();
    fflush(stdout);
    fflush(stderr);
    _exit(IT_SKIP_RC);
}

/* ---- the runner ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "remove \"%s\" failed: %s\n", path, strerror(errno));
    return 0;
}

int it_rm_rf(const char *dir)
{
    struct stat st;
    int rc = -1;

    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "nftw \"%s\" failed: %s\n", dir, strerror(errno));
    /* An entry that could not be removed keeps every directory above it. */
    if (lstat(dir, &st) != 0 && errno == ENOENT)
        rc = 0;
    return rc;
}

static void print_tail(const char *path)
{
    char buf[IT_LOG_TAIL + 1];
    int fd = -1;
    off_t end;
    ssize_t n;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto out;
    end = lseek(fd, 0, SEEK_END);
    if (end < 0)
        goto out;
    if (lseek(fd, end > IT_LOG_TAIL ? end - IT_LOG_TAIL : 0, SEEK_SET) < 0)
        goto out;
    n = read(fd, buf, IT_LOG_TAIL);
    if (n < 0)
        goto out;
    buf[n] = '\0';
    fprintf(stderr, "----- %s (%s%lld bytes) -----\n%s", path, end > IT_LOG_TAIL ? "last of " : "",
            (long long)end, buf);
    if (n > 0 && buf[n - 1] != '\n')
        fputc('\n', stderr);
    fprintf(stderr, "----- end of %s -----\n", path);
out:
    if (fd >= 0)
        close(fd);
}

static void print_logs(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[IT_PATH_MAX];

    while (d != NULL) {
        size_t len;
        e = readdir(d);
        if (e == NULL)
            break;
        len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0) {
            it_fmt(path, IT_PATH_MAX, "%s/%s", dir, e->d_name);
            print_tail(path);
        }
    }
    if (d != NULL)
        closedir(d);
}

static void on_runner_signal(int sig)
{
    pid_t pid = g_it.running;

    if (pid > 0)
        kill(-pid, SIGKILL);
    _exit(128 + sig);
}

static void case_child(const struct it_case *c, pid_t runner)
{
    if (setpgid(0, 0) != 0)
        it_fail(__FILE__, __LINE__, "setpgid: %s", strerror(errno));
    /* The case dies with the runner; its processes die with the case. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != runner)
        _exit(1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    c->fn(c->arg);
    for (size_t i = 0; i < IT_PROCS_MAX; i++)
        IT_CHECKF(g_it.procs[i] <= 0, "case %s left pid %d running", c->name, (int)g_it.procs[i]);
    pg_drop_case_dbs();
    fflush(stdout);
    fflush(stderr);
    _exit(0);
}

/* Whether the case passed; *skipped when it ended by it_skip_on_pg. */
static bool run_case(const struct it_case *c, bool *skipped)
{
    uint64_t t0 = it__now_ms();
    uint64_t deadline = t0 + (uint64_t)c->timeout_s * g_it.mult * 1000u;
    bool timed_out = false, ok = false;
    pid_t runner = getpid(), pid;
    siginfo_t si;
    int st = 0;

    it_fmt(g_it.case_dir, IT_PATH_MAX, "%s/%s.XXXXXX", g_it.tmp_parent, c->name);
    if (mkdtemp(g_it.case_dir) == NULL) {
        fprintf(stderr, "mkdtemp \"%s\" failed: %s\n", g_it.case_dir, strerror(errno));
        goto out;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fork failed: %s\n", strerror(errno));
        goto out;
    }
    if (pid == 0)
        case_child(c, runner);
    /* Also here, so a kill(-pid) cannot miss a child that has not run yet. */
    (void)setpgid(pid, pid);
    g_it.running = pid;
    for (;;) {
        memset(&si, 0, sizeof(si));
        /* WNOWAIT: while the child is a zombie its pid, hence the group id,
         * cannot be reused, so the kill(-pid) below reaches only ours. */
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 && errno != EINTR) {
            fprintf(stderr, "waitid failed: %s\n", strerror(errno));
            break;
        }
        if (si.si_pid == pid)
            break;
        if (it__now_ms() > deadline) {
            timed_out = true;
            fprintf(stderr, "TIMEOUT case %s after %u s: killing its process group\n", c->name,
                    c->timeout_s * g_it.mult);
            kill(-pid, SIGKILL);
            while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR)
                ;
            break;
        }
        it__nap_ms(5);
    }
    /* Processes a failed case left behind are in its group. */
    kill(-pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    g_it.running = 0;
    *skipped = !timed_out && WIFEXITED(st) && WEXITSTATUS(st) == IT_SKIP_RC;
    ok = *skipped || (!timed_out && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    printf("%s %-28s %6.2f s\n",
           *skipped ? "skip"
           : ok     ? "ok  "
                    : "FAIL",
           c->name, (double)(it__now_ms() - t0) / 1000.0);
    fflush(stdout);
    if (ok) {
        (void)it_rm_rf(g_it.case_dir);
    } else {
        if (WIFSIGNALED(st))
            fprintf(stderr, "case %s killed by signal %d\n", c->name, WTERMSIG(st));
        print_logs(g_it.case_dir);
        fprintf(stderr, "kept %s\n", g_it.case_dir);
    }
out:
    return ok;
}

static bool selected(const struct it_case *c, int argc, char **argv, int first)
{
    bool yes = argc <= first;

    for (int i = first; i < argc && !yes; i++)
        yes = strcmp(argv[i], c->name) == 0;
    return yes;
}

int it_run(int argc, char **argv, unsigned skip_args, const struct it_case *cases, size_t n)
{
    const char *m = getenv("COFFER_TEST_TIMEOUT_MULTIPLIER");
    int first = 3 + (int)skip_args, rc = 1;
    const char *backend = getenv("COFFER_IT_BACKEND"), *pg = getenv("COFFER_TEST_PG");
    unsigned failed = 0, ran = 0, skipped = 0;

    if (argc < first) {
        fprintf(stderr, "usage: %s COFFER TMPDIR%s [CASE...]\n", argv[0],
                skip_args ? " ARG..." : "");
        rc = 2;
        goto out;
    }
    g_it.coffer = argv[1];
    g_it.tmp_parent = argv[2];
    if (m != NULL) {
        char *end = NULL;
        unsigned long v;
        errno = 0;
        v = strtoul(m, &end, 10);
        if (errno == 0 && end != m && *end == '\0' && v >= 1 && v <= 100)
            g_it.mult = (unsigned)v;
    }
    if (backend != NULL && strcmp(backend, "pg") == 0) {
        if (pg == NULL || pg[0] == '\0') {
            printf("%s: COFFER_IT_BACKEND=pg without COFFER_TEST_PG (run it through "
                   "scripts/pg-test.sh --run); skipped\n",
                   argv[0]);
            rc = IT_SKIP_RC;
            goto out;
        }
        g_it.pg = pg;
        printf("%s: metadata on PostgreSQL (%s)\n", argv[0], pg);
    } else if (backend != NULL && backend[0] != '\0' && strcmp(backend, "sqlite") != 0) {
        fprintf(stderr, "COFFER_IT_BACKEND is \"%s\": \"sqlite\" or \"pg\"\n", backend);
        rc = 2;
        goto out;
    }
    if (mkdir(g_it.tmp_parent, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir \"%s\" failed: %s\n", g_it.tmp_parent, strerror(errno));
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        goto out;
    }
    signal(SIGTERM, on_runner_signal);
    signal(SIGINT, on_runner_signal);
    for (size_t i = 0; i < n; i++) {
        if (!selected(&cases[i], argc, argv, first))
            continue;
        bool skip = false;
        ran++;
        if (!run_case(&cases[i], &skip))
            failed++;
        skipped += skip;
    }
    curl_global_cleanup();
    printf("%u of %u cases passed (%u of them skipped)\n", ran - failed, ran, skipped);
    rc = failed == 0 && ran > 0 ? 0 : 1;
out:
    return rc;
}

void it__registry_set(pid_t old, pid_t pid)
{
    size_t i = 0;

    while (i < IT_PROCS_MAX && g_it.procs[i] != old)
        i++;
    IT_CHECKF(i < IT_PROCS_MAX, "more than %d processes in one case", IT_PROCS_MAX);
    g_it.procs[i] = pid;
}
