/*
 * harness.c -- integration-test harness (harness.h).
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/objpath.h"
#include "coffer/scribe.h"
#include "coffer/uuid.h"

extern char **environ;

#define IT_FILERS_MAX   64
#define IT_ARGS_MAX     32
#define IT_ENV_MAX      512
#define IT_READY_MS     15000 /* a filer prints its ready line within this */
#define IT_STOP_MS      40000 /* CF_DRAIN_TIMEOUT_S plus a margin */
#define IT_IO_MS        30000 /* one raw read or write */
#define IT_LOG_TAIL     (16 * 1024)
#define IT_GOLDEN_GAMMA 0x9e3779b97f4a7c15ull
#define IT_CURL_BUFSIZE (256 * 1024)

/* Set once by it_run before any case is forked; read-only afterwards, except
 * for the filer registry, which only the case's main thread writes. */
static struct {
    const char *coffer;
    const char *tmp_parent;
    unsigned mult;
    char case_dir[IT_PATH_MAX];
    volatile pid_t running; /* the case child, for the runner's signal handler */
    pid_t filers[IT_FILERS_MAX];
} g_it = {.mult = 1};

/* ---- small utilities ------------------------------------------------------ */

static uint64_t now_ms(void)
{
    return cf_now_ns() / 1000000u;
}

static void nap_ms(unsigned ms)
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

static void kill_registered_filers(void)
{
    for (size_t i = 0; i < IT_FILERS_MAX; i++) {
        if (g_it.filers[i] > 0)
            kill(g_it.filers[i], SIGKILL);
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
    kill_registered_filers();
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

bool it_wait_for(it_cond_cb cond, void *arg, unsigned tries, unsigned delay_ms)
{
    unsigned n = tries * g_it.mult;
    bool ok = cond(arg);

    for (unsigned i = 0; i < n && !ok; i++) {
        nap_ms(delay_ms);
        ok = cond(arg);
    }
    return ok;
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

static void rm_rf(const char *dir)
{
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "nftw \"%s\" failed: %s\n", dir, strerror(errno));
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
    /* The case dies with the runner; its filers die with the case. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != runner)
        _exit(1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    c->fn(c->arg);
    for (size_t i = 0; i < IT_FILERS_MAX; i++)
        IT_CHECKF(g_it.filers[i] <= 0, "case %s left filer pid %d running", c->name,
                  (int)g_it.filers[i]);
    fflush(stdout);
    fflush(stderr);
    _exit(0);
}

static bool run_case(const struct it_case *c)
{
    uint64_t t0 = now_ms();
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
        if (now_ms() > deadline) {
            timed_out = true;
            fprintf(stderr, "TIMEOUT case %s after %u s: killing its process group\n", c->name,
                    c->timeout_s * g_it.mult);
            kill(-pid, SIGKILL);
            while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR)
                ;
            break;
        }
        nap_ms(5);
    }
    /* Filers a failed case left behind are in its group. */
    kill(-pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    g_it.running = 0;
    ok = !timed_out && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("%s %-28s %6.2f s\n", ok ? "ok  " : "FAIL", c->name, (double)(now_ms() - t0) / 1000.0);
    fflush(stdout);
    if (ok) {
        rm_rf(g_it.case_dir);
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
    unsigned failed = 0, ran = 0;

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
        ran++;
        if (!run_case(&cases[i]))
            failed++;
    }
    curl_global_cleanup();
    printf("%u of %u cases passed\n", ran - failed, ran);
    rc = failed == 0 && ran > 0 ? 0 : 1;
out:
    return rc;
}

/* ---- payloads ------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void it_prng_fill(uint64_t seed, uint64_t off, void *buf, size_t n)
{
    unsigned char *p = buf;
    uint64_t word = off / 8;
    unsigned skip = (unsigned)(off % 8);

    while (n > 0) {
        uint64_t w = splitmix64(seed + word * IT_GOLDEN_GAMMA);
        for (unsigned i = skip; i < 8 && n > 0; i++, n--)
            *p++ = (unsigned char)(w >> (8 * i));
        skip = 0;
        word++;
    }
}

void it_gen_init(struct it_gen *g, uint64_t seed, uint64_t size)
{
    memset(g, 0, sizeof(*g));
    g->seed = seed;
    g->size = size;
    IT_CHECK(cf_sha512_init(&g->sha) == 0);
}

size_t it_gen_read(struct it_gen *g, void *buf, size_t cap)
{
    uint64_t left = g->size - g->pos;
    size_t n = left < cap ? (size_t)left : cap;

    it_prng_fill(g->seed, g->pos, buf, n);
    IT_CHECK(cf_sha512_update(&g->sha, buf, n) == 0);
    g->pos += n;
    return n;
}

void it_gen_final(struct it_gen *g, uint8_t out[CF_SHA512_LEN])
{
    IT_CHECKF(g->pos == g->size, "payload read %llu of %llu bytes", (unsigned long long)g->pos,
              (unsigned long long)g->size);
    IT_CHECK(cf_sha512_final(&g->sha, out) == 0);
    cf_sha512_fini(&g->sha);
}

void it_gen_fini(struct it_gen *g)
{
    cf_sha512_fini(&g->sha);
}

void it_prng_sha512(uint64_t seed, uint64_t size, uint8_t out[CF_SHA512_LEN])
{
    struct it_gen g;
    size_t cap = 1024 * 1024;
    char *buf = cf_xmalloc(cap);

    it_gen_init(&g, seed, size);
    while (it_gen_read(&g, buf, cap) > 0)
        ;
    it_gen_final(&g, out);
    free(buf);
}

void it_hex(const uint8_t d[CF_SHA512_LEN], char hex[CF_SHA512_HEX_LEN + 1])
{
    cf_sha512_hex(d, hex);
}

/* ---- filer processes ------------------------------------------------------ */

static void registry_set(pid_t old, pid_t pid)
{
    size_t i = 0;

    while (i < IT_FILERS_MAX && g_it.filers[i] != old)
        i++;
    IT_CHECKF(i < IT_FILERS_MAX, "more than %d filers in one case", IT_FILERS_MAX);
    g_it.filers[i] = pid;
}

void it_filer_init(struct it_filer *f, unsigned id, const char *name)
{
    memset(f, 0, sizeof(*f));
    f->pid = -1;
    f->out_fd = -1;
    f->id = id;
    it_case_path(f->dir, name);
    it_fmt(f->log, IT_PATH_MAX, "%s.log", f->dir);
    IT_CHECKF(mkdir(f->dir, 0700) == 0 || errno == EEXIST, "mkdir \"%s\": %s", f->dir,
              strerror(errno));
}

/* The environment for a coffer process: ours without COFFER_* (it reads its
 * settings from COFFER_<KEY>; a test sets them explicitly). */
static void child_env(char **envp, size_t cap)
{
    size_t n = 0;

    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "COFFER_", 7) == 0)
            continue;
        IT_CHECK(n + 1 < cap);
        envp[n++] = *e;
    }
    envp[n] = NULL;
}

/* in_fd: the child's stdin, or -1 for /dev/null. */
static void child_exec(char **args, char **envp, int in_fd, int out_w, int log_fd, pid_t parent)
{
    struct sigaction dfl;
    sigset_t none;
    int stdin_fd = in_fd;

    /* Between fork and exec: async-signal-safe calls only. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126);
    /* The case ignores SIGPIPE; the child starts as a shell would start it. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        (void)sigaction(s, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (stdin_fd < 0)
        stdin_fd = open("/dev/null", O_RDONLY);
    if (stdin_fd < 0 || dup2(stdin_fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(log_fd, 2) < 0)
        _exit(126);
    /* No inherited socket may keep a test's connection open. */
    close_range(3, ~0u, 0);
    execve(g_it.coffer, args, envp);
    _exit(127);
}

/* Read one line from fd into buf (cap bytes, without the '\n') before the
 * deadline (ms since boot). Returns 1 when read, 0 on EOF (the process
 * exited), -1 on timeout. */
static int read_line(int fd, char *buf, size_t cap, uint64_t deadline, const char *what)
{
    size_t len = 0;
    int rc = -1;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = now_ms();
        ssize_t n;
        int r;

        if (now >= deadline)
            break;
        r = poll(&pfd, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        IT_CHECKF(r >= 0, "poll: %s", strerror(errno));
        if (r == 0)
            break;
        /* One byte at a time: nothing after the line is consumed. */
        n = read(fd, buf + len, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = 0;
            break;
        }
        if (buf[len] == '\n') {
            buf[len] = '\0';
            rc = 1;
            break;
        }
        len++;
        IT_CHECKF(len + 1 < cap, "%s: ready line too long", what);
    }
    return rc;
}

/* Read the ready line into f->ready_line. Returns 1 when read, 0 on EOF
 * (the filer exited), -1 on timeout. */
static int read_ready_line(struct it_filer *f)
{
    char what[32];

    it_fmt(what, sizeof(what), "filer %u", f->id);
    return read_line(f->out_fd, f->ready_line, sizeof(f->ready_line),
                     now_ms() + (uint64_t)IT_READY_MS * g_it.mult, what);
}

static void parse_ready_line(struct it_filer *f)
{
    char want[96];
    size_t wlen;
    const char *p;
    char *end = NULL;
    unsigned long port;
    int n;

    n = snprintf(want, sizeof(want), "coffer filer %u listening on http://127.0.0.1:", f->id);
    IT_CHECK(n > 0 && (size_t)n < sizeof(want));
    wlen = (size_t)n;
    IT_CHECKF(strncmp(f->ready_line, want, wlen) == 0,
              "filer %u: ready line \"%s\" is not \"%s...\"", f->id, f->ready_line, want);
    p = f->ready_line + wlen;
    errno = 0;
    port = strtoul(p, &end, 10);
    IT_CHECKF(errno == 0 && end != p && *end == '\0' && port > 0 && port < 65536,
              "filer %u: bad port in ready line \"%s\"", f->id, f->ready_line);
    f->port = (unsigned)port;
    n = snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", f->port);
    IT_CHECK(n > 0 && (size_t)n < sizeof(f->base));
}

static int filer_startv(struct it_filer *f, int *status, va_list ap)
{
    char *args[IT_ARGS_MAX + 1];
    char *envp[IT_ENV_MAX];
    char id[16];
    size_t n = 0;
    int pipefd[2] = {-1, -1}, log_fd = -1, st = 0, ready, rc = -1;
    pid_t parent = getpid(), pid;
    const char *a;

    IT_CHECKF(f->pid < 0, "filer %u is already running", f->id);
    IT_CHECK(snprintf(id, sizeof(id), "%u", f->id) > 0);
    args[n++] = (char *)g_it.coffer;
    args[n++] = "filer";
    args[n++] = "--id";
    args[n++] = id;
    args[n++] = "--dir";
    args[n++] = f->dir;
    args[n++] = "--listen";
    args[n++] = "127.0.0.1:0";
    for (;;) {
        a = va_arg(ap, const char *);
        if (a == NULL)
            break;
        IT_CHECK(n < IT_ARGS_MAX);
        args[n++] = (char *)a;
    }
    args[n] = NULL;
    child_env(envp, IT_ENV_MAX);
    log_fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    IT_CHECKF(log_fd >= 0, "open \"%s\": %s", f->log, strerror(errno));
    IT_CHECKF(pipe2(pipefd, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    IT_CHECKF(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(args, envp, -1, pipefd[1], log_fd, parent);
    /* Our copy of the write end must go, or EOF would never come. */
    close(pipefd[1]);
    pipefd[1] = -1;
    registry_set(0, pid);
    f->pid = pid;
    f->out_fd = pipefd[0];
    pipefd[0] = -1;
    ready = read_ready_line(f);
    if (ready > 0) {
        parse_ready_line(f);
        rc = 0;
        goto out;
    }
    if (ready < 0) {
        it_filer_kill9(f);
        it_fail(__FILE__, __LINE__, "filer %u printed no ready line within %u ms", f->id,
                IT_READY_MS * g_it.mult);
    }
    /* EOF on stdout: it is exiting. */
    if (!it_filer_wait_exit(f, IT_READY_MS, &st)) {
        it_filer_kill9(f);
        it_fail(__FILE__, __LINE__, "filer %u closed stdout but did not exit", f->id);
    }
    if (status != NULL)
        *status = st;
out:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    close(log_fd);
    return rc;
}

int it_filer_start(struct it_filer *f, int *status, ...)
{
    va_list ap;
    int rc;

    va_start(ap, status);
    rc = filer_startv(f, status, ap);
    va_end(ap);
    return rc;
}

static void filer_start_okv(struct it_filer *f, va_list ap)
{
    int st = 0;

    if (filer_startv(f, &st, ap) != 0) {
        char log[2048];
        it_filer_read_log(f, log, sizeof(log));
        it_fail(__FILE__, __LINE__, "filer %u exited before it was ready (status 0x%x); log:\n%s",
                f->id, (unsigned)st, log);
    }
}

void it_filer_start_ok(struct it_filer *f, ...)
{
    va_list ap;

    va_start(ap, f);
    filer_start_okv(f, ap);
    va_end(ap);
}

/* A child this harness started, as the filer and process helpers share it:
 * where its pid and stdout live, and its name for messages. */
struct child {
    pid_t *pid;
    int *out_fd;
    const char *what;
};

static void child_reaped(struct child c)
{
    registry_set(*c.pid, 0);
    *c.pid = -1;
    if (*c.out_fd >= 0)
        close(*c.out_fd);
    *c.out_fd = -1;
}

static bool child_wait_exit(struct child c, unsigned timeout_ms, int *status)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms * g_it.mult;
    bool exited = false;

    IT_CHECKF(*c.pid > 0, "%s is not running", c.what);
    for (;;) {
        int st = 0;
        pid_t r = waitpid(*c.pid, &st, WNOHANG);
        if (r == *c.pid) {
            child_reaped(c);
            if (status != NULL)
                *status = st;
            exited = true;
            break;
        }
        IT_CHECKF(r == 0 || errno == EINTR, "waitpid %d: %s", (int)*c.pid, strerror(errno));
        if (now_ms() >= deadline)
            break;
        nap_ms(5);
    }
    return exited;
}

static void child_signal(pid_t pid, const char *what, int sig)
{
    IT_CHECKF(pid > 0, "%s is not running", what);
    IT_CHECKF(kill(pid, sig) == 0, "kill %d: %s", (int)pid, strerror(errno));
}

static void child_kill9(struct child c)
{
    int st;

    child_signal(*c.pid, c.what, SIGKILL);
    while (waitpid(*c.pid, &st, 0) < 0) {
        IT_CHECKF(errno == EINTR, "waitpid %d: %s", (int)*c.pid, strerror(errno));
    }
    child_reaped(c);
}

static int child_stop(struct child c)
{
    int st = 0;

    child_signal(*c.pid, c.what, SIGTERM);
    if (!child_wait_exit(c, IT_STOP_MS, &st)) {
        fprintf(stderr, "%s did not exit within %u ms of SIGTERM: SIGKILL\n", c.what,
                IT_STOP_MS * g_it.mult);
        child_kill9(c);
        st = -1;
    }
    return st;
}

/* A filer as a child, named "filer N" (in buf) for messages. */
static struct child filer_child(struct it_filer *f, char *buf, size_t cap)
{
    (void)snprintf(buf, cap, "filer %u", f->id);
    return (struct child){&f->pid, &f->out_fd, buf};
}

bool it_filer_wait_exit(struct it_filer *f, unsigned timeout_ms, int *status)
{
    char what[32];

    return child_wait_exit(filer_child(f, what, sizeof(what)), timeout_ms, status);
}

void it_filer_signal(const struct it_filer *f, int sig)
{
    char what[32];

    (void)snprintf(what, sizeof(what), "filer %u", f->id);
    child_signal(f->pid, what, sig);
}

void it_filer_kill9(struct it_filer *f)
{
    char what[32];

    child_kill9(filer_child(f, what, sizeof(what)));
}

int it_filer_stop(struct it_filer *f)
{
    char what[32];

    return child_stop(filer_child(f, what, sizeof(what)));
}

void it_filer_stop_ok(struct it_filer *f)
{
    unsigned id = f->id;
    int st = it_filer_stop(f);

    IT_CHECKF(st == 0, "filer %u: exit status 0x%x after SIGTERM, expected exit 0", id,
              (unsigned)st);
}

void it_filer_read_log(const struct it_filer *f, char *out, size_t cap)
{
    int fd = open(f->log, O_RDONLY | O_CLOEXEC);
    off_t end;
    ssize_t n = 0;

    out[0] = '\0';
    if (fd < 0)
        goto out;
    end = lseek(fd, 0, SEEK_END);
    if (end >= 0 && lseek(fd, end > (off_t)(cap - 1) ? end - (off_t)(cap - 1) : 0, SEEK_SET) >= 0)
        n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
out:
    if (fd >= 0)
        close(fd);
}

/* ---- HTTP over libcurl ---------------------------------------------------- */

void it_client_init(struct it_client *c)
{
    c->easy = curl_easy_init();
    IT_CHECK(c->easy != NULL);
}

void it_client_fini(struct it_client *c)
{
    curl_easy_cleanup(c->easy);
    c->easy = NULL;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct it_resp *r = ud;
    size_t n = size * nmemb;

    /* A new status line (after 100 Continue) starts a new header block. */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        r->hdrs_len = 0;
    if (r->hdrs_len + n < sizeof(r->hdrs)) {
        memcpy(r->hdrs + r->hdrs_len, p, n);
        r->hdrs_len += n;
        r->hdrs[r->hdrs_len] = '\0';
    }
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct it_resp *r = ud;
    size_t n = size * nmemb, keep;

    /* A hashing failure fails the case rather than the transfer. */
    IT_CHECK(cf_sha512_update(&r->ctx, p, n) == 0);
    r->total += n;
    keep = IT_BODY_KEEP - r->body_len;
    if (keep > n)
        keep = n;
    if (r->body_len + keep + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + keep + 1)
            cap *= 2;
        r->body_cap = cap < IT_BODY_KEEP + 1 ? cap : IT_BODY_KEEP + 1;
        r->body = cf_xrealloc(r->body, r->body_cap);
    }
    memcpy(r->body + r->body_len, p, keep);
    r->body_len += keep;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct it_body *b = ud;

    return it_gen_read(&b->gen, buf, size * nmemb);
}

/* curl rewinds an upload when it retries on a fresh connection. */
static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct it_body *b = ud;
    int rc = CURL_SEEKFUNC_CANTSEEK;

    if (origin != SEEK_SET || off != 0)
        goto out;
    cf_sha512_fini(&b->gen.sha);
    rc = CURL_SEEKFUNC_FAIL;
    if (cf_sha512_init(&b->gen.sha) != 0)
        goto out;
    b->gen.pos = 0;
    rc = CURL_SEEKFUNC_OK;
out:
    return rc;
}

static void set_method(CURL *e, const char *method, struct it_body *body)
{
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body != NULL || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        if (body == NULL) {
            curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
        } else {
            curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(e, CURLOPT_READDATA, body);
            curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(e, CURLOPT_SEEKDATA, body);
            curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                             body->chunked ? (curl_off_t)-1 : (curl_off_t)body->gen.size);
        }
    }
}

/* Set e up for one request to base + target (curl_easy_reset first); resp is
 * zeroed and its hash started. Returns the header list, which must outlive
 * the transfer (caller frees it after http_collect). */
static struct curl_slist *http_prepare(CURL *e, const char *base, const char *method,
                                       const char *target, struct it_body *body,
                                       struct it_resp *resp, va_list ap)
{
    struct curl_slist *hl = NULL;
    char url[IT_PATH_MAX + 64];
    const char *h;
    int n;

    memset(resp, 0, sizeof(*resp));
    IT_CHECK(cf_sha512_init(&resp->ctx) == 0);
    curl_easy_reset(e);
    n = snprintf(url, sizeof(url), "%s%s", base, target);
    IT_CHECK(n > 0 && (size_t)n < sizeof(url));
    for (;;) {
        h = va_arg(ap, const char *);
        if (h == NULL)
            break;
        hl = curl_slist_append(hl, h);
        IT_CHECK(hl != NULL);
    }
    if (body == NULL || !body->expect) {
        hl = curl_slist_append(hl, "Expect:");
        IT_CHECK(hl != NULL);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L * (long)g_it.mult);
    /* A stalled transfer fails with a message before the case deadline. */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L * (long)g_it.mult);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)IT_CURL_BUFSIZE);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)IT_CURL_BUFSIZE);
    set_method(e, method, body);
    return hl;
}

/* The transfer on e ended with cc: fill in resp. */
static void http_collect(CURL *e, struct it_resp *resp, CURLcode cc)
{
    resp->curl_code = (int)cc;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
    IT_CHECK(cf_sha512_final(&resp->ctx, resp->sha) == 0);
    cf_sha512_fini(&resp->ctx);
}

static long http_v(struct it_client *c, const char *base, const char *method, const char *target,
                   struct it_body *body, struct it_resp *resp, va_list ap)
{
    struct it_client own = {NULL};
    struct curl_slist *hl;
    CURL *e;

    if (c == NULL) {
        it_client_init(&own);
        c = &own;
    }
    e = c->easy;
    hl = http_prepare(e, base, method, target, body, resp, ap);
    http_collect(e, resp, curl_easy_perform(e));
    /* Drop the header list before curl_easy_reset could reuse it. */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (own.easy != NULL)
        it_client_fini(&own);
    IT_CHECKF(resp->status != 0, "%s %s: no response (curl: %s)", method, target,
              curl_easy_strerror((CURLcode)resp->curl_code));
    return resp->status;
}

long it_http(struct it_client *c, const struct it_filer *f, const char *method, const char *target,
             struct it_body *body, struct it_resp *resp, ...)
{
    va_list ap;
    long st;

    va_start(ap, resp);
    st = http_v(c, f->base, method, target, body, resp, ap);
    va_end(ap);
    return st;
}

long it_http_to(struct it_client *c, const char *base, const char *method, const char *target,
                struct it_body *body, struct it_resp *resp, ...)
{
    va_list ap;
    long st;

    va_start(ap, resp);
    st = http_v(c, base, method, target, body, resp, ap);
    va_end(ap);
    return st;
}

void it_resp_fini(struct it_resp *r)
{
    free(r->body);
    r->body = NULL;
    cf_sha512_fini(&r->ctx);
}

bool it_resp_header(const struct it_resp *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = r->hdrs;
    bool found = false;

    while (*p != '\0' && !found) {
        const char *eol = strstr(p, "\r\n");
        const char *next = eol ? eol + 2 : p + strlen(p);
        if (eol == NULL)
            eol = next;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            size_t len;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            len = (size_t)(eol - v);
            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            IT_CHECKF(len < cap, "header %s too long", name);
            memcpy(out, v, len);
            out[len] = '\0';
            found = true;
        }
        p = next;
    }
    return found;
}

json_t *it_resp_json(const struct it_resp *r)
{
    json_error_t err;
    json_t *j;

    IT_CHECKF(r->body != NULL && r->total == r->body_len, "reply %ld has no (whole) body",
              r->status);
    j = json_loadb(r->body, r->body_len, 0, &err);
    IT_CHECKF(j != NULL, "reply %ld is not JSON (%s): %.200s", r->status, err.text, r->body);
    return j;
}

void it_check_error_body(const struct it_resp *r, const char *name)
{
    json_t *j = it_resp_json(r);
    const char *nl = memchr(r->body, '\n', r->body_len);

    IT_CHECKF(nl == NULL || nl == r->body + r->body_len - 1, "error body is not one line: %s",
              r->body);
    IT_CHECKF(json_is_object(j), "error body is not an object: %s", r->body);
    if (name != NULL)
        IT_STREQ(it_json_str(j, "error"), name);
    else
        (void)it_json_str(j, "error");
    (void)it_json_str(j, "message");
    json_decref(j);
}

int64_t it_json_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    IT_CHECKF(json_is_integer(v), "JSON member \"%s\" is missing or not an integer", key);
    return (int64_t)json_integer_value(v);
}

const char *it_json_str(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    IT_CHECKF(json_is_string(v), "JSON member \"%s\" is missing or not a string", key);
    return json_string_value(v);
}

bool it_json_bool(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    IT_CHECKF(json_is_boolean(v), "JSON member \"%s\" is missing or not a boolean", key);
    return json_is_true(v);
}

json_t *it_status(const struct it_filer *f)
{
    struct it_resp r;
    json_t *j;

    IT_EQ(it_http(NULL, f, "GET", "/status", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    it_resp_fini(&r);
    IT_CHECK(json_is_object(j));
    return j;
}

int64_t it_status_int(const struct it_filer *f, const char *key)
{
    json_t *j = it_status(f);
    int64_t v = it_json_int(j, key);

    json_decref(j);
    return v;
}

static void object_target(char out[IT_PATH_MAX], const char *path)
{
    it_fmt(out, IT_PATH_MAX, "/o/%s", path);
}

void it_check_put_reply(const struct it_resp *r, const char *path, uint64_t size,
                        const uint8_t sha[CF_SHA512_LEN])
{
    char hex[CF_SHA512_HEX_LEN + 1], hdr[CF_SHA512_HEX_LEN + 8];
    json_t *j;

    it_hex(sha, hex);
    IT_CHECKF(r->status == 201, "PUT %s: status %ld, body %.300s", path, r->status,
              r->body ? r->body : "");
    IT_CHECKF(it_resp_header(r, "X-Coffer-SHA512", hdr, sizeof(hdr)), "PUT %s: no X-Coffer-SHA512",
              path);
    IT_STREQ(hdr, hex);
    j = it_resp_json(r);
    IT_STREQ(it_json_str(j, "path"), path);
    IT_EQ(it_json_int(j, "size"), size);
    IT_STREQ(it_json_str(j, "sha512"), hex);
    json_decref(j);
}

void it_put_ok(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
               uint64_t size, bool chunked, uint8_t sha[CF_SHA512_LEN])
{
    char target[IT_PATH_MAX];
    uint8_t d[CF_SHA512_LEN];
    struct it_body b = {.chunked = chunked};
    struct it_resp r;

    object_target(target, path);
    it_gen_init(&b.gen, seed, size);
    it_http(c, f, "PUT", target, &b, &r, NULL);
    it_gen_final(&b.gen, d);
    it_check_put_reply(&r, path, size, d);
    it_resp_fini(&r);
    if (sha != NULL)
        memcpy(sha, d, CF_SHA512_LEN);
}

long it_put_status(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
                   uint64_t size, bool chunked)
{
    char target[IT_PATH_MAX];
    struct it_body b = {.chunked = chunked};
    struct it_resp r;
    long st;

    object_target(target, path);
    it_gen_init(&b.gen, seed, size);
    st = it_http(c, f, "PUT", target, &b, &r, NULL);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
    return st;
}

void it_get_ok(struct it_client *c, const struct it_filer *f, const char *path, uint64_t size,
               const uint8_t sha[CF_SHA512_LEN])
{
    char target[IT_PATH_MAX], hex[CF_SHA512_HEX_LEN + 1], hdr[CF_SHA512_HEX_LEN + 8];
    struct it_resp r;

    object_target(target, path);
    it_hex(sha, hex);
    IT_CHECKF(it_http(c, f, "GET", target, NULL, &r, NULL) == 200, "GET %s: status %ld", path,
              r.status);
    IT_CHECKF(r.curl_code == CURLE_OK, "GET %s: curl: %s", path,
              curl_easy_strerror((CURLcode)r.curl_code));
    IT_EQ(r.total, size);
    IT_CHECKF(memcmp(r.sha, sha, CF_SHA512_LEN) == 0, "GET %s: body differs from what was put",
              path);
    IT_CHECK(it_resp_header(&r, "Content-Length", hdr, sizeof(hdr)));
    IT_EQ(strtoull(hdr, NULL, 10), size);
    IT_CHECK(it_resp_header(&r, "X-Coffer-SHA512", hdr, sizeof(hdr)));
    IT_STREQ(hdr, hex);
    IT_CHECK(it_resp_header(&r, "Accept-Ranges", hdr, sizeof(hdr)));
    IT_STREQ(hdr, "bytes");
    it_resp_fini(&r);
}

void it_roundtrip(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
                  uint64_t size, bool chunked)
{
    uint8_t sha[CF_SHA512_LEN];

    it_put_ok(c, f, path, seed, size, chunked, sha);
    it_get_ok(c, f, path, size, sha);
    it_check_object_file(f, path, size, sha);
}

long it_status_of(struct it_client *c, const struct it_filer *f, const char *method,
                  const char *target)
{
    struct it_resp r;
    long st = it_http(c, f, method, target, NULL, &r, NULL);

    it_resp_fini(&r);
    return st;
}

/* ---- raw sockets ---------------------------------------------------------- */

int it_raw_try_connect(unsigned port)
{
    struct sockaddr_in sa;
    struct timeval tv = {(time_t)(IT_IO_MS / 1000u * g_it.mult), 0};
    int fd, rc;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        rc = -errno;
        close(fd);
        goto out;
    }
    rc = fd;
out:
    return rc;
}

int it_raw_connect(const struct it_filer *f)
{
    int fd = it_raw_try_connect(f->port);

    IT_CHECKF(fd >= 0, "connect to %s: %s", f->base, strerror(-fd));
    return fd;
}

bool it_raw_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    bool ok = true;

    while (n > 0 && ok) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        ok = !(w < 0 && (errno == EPIPE || errno == ECONNRESET));
        IT_CHECKF(!ok || w > 0, "send: %s", strerror(errno));
        if (ok) {
            c += w;
            n -= (size_t)w;
        }
    }
    return ok;
}

bool it_raw_send_gen(int fd, struct it_gen *g, uint64_t n)
{
    char buf[64 * 1024];
    bool ok = true;

    while (n > 0 && ok) {
        size_t k = it_gen_read(g, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf));
        IT_CHECK(k > 0);
        ok = it_raw_send(fd, buf, k);
        n -= k;
    }
    return ok;
}

int it_raw_put_begin(const struct it_filer *f, const char *path, int64_t size)
{
    char req[1024], len[64];
    int fd = it_raw_connect(f);

    if (size >= 0)
        it_fmt(len, sizeof(len), "Content-Length: %lld", (long long)size);
    else
        it_fmt(len, sizeof(len), "Transfer-Encoding: chunked");
    it_fmt(req, sizeof(req),
           "PUT /o/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nConnection: close\r\n\r\n", path, len);
    IT_CHECK(it_raw_send(fd, req, strlen(req)));
    return fd;
}

/* The status of the reply in buf[0..len), or 0 if there is no status line
 * yet; *done when the whole reply (headers plus Content-Length body) is in. */
static long parse_reply(char *buf, size_t *len, bool *done)
{
    char *end = NULL, *cl;
    long status = 0;
    size_t hlen;

    *done = false;
    for (;;) {
        if (*len < 12 || strncmp(buf, "HTTP/1.", 7) != 0) {
            status = 0;
            break;
        }
        status = strtol(buf + 9, NULL, 10);
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL || status >= 200 || status < 100)
            break;
        /* Drop an interim reply and look at what follows it. */
        hlen = (size_t)(end - buf) + 4;
        memmove(buf, buf + hlen, *len - hlen + 1);
        *len -= hlen;
    }
    if (status != 0 && end != NULL) {
        hlen = (size_t)(end - buf) + 4;
        cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl != NULL && cl < end)
            *done = *len >= hlen + strtoull(cl + 17, NULL, 10);
    }
    return status;
}

long it_raw_read_reply(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    bool done = false;
    long status = 0;

    buf[0] = '\0';
    while (!done) {
        char tmp[16 * 1024];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        size_t keep;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            status = -1;
            break;
        }
        if (n <= 0)
            break; /* EOF, or a reset after the reply */
        keep = cap - 1 - len < (size_t)n ? cap - 1 - len : (size_t)n;
        memcpy(buf + len, tmp, keep);
        len += keep;
        buf[len] = '\0';
        status = parse_reply(buf, &len, &done);
        if (len == cap - 1)
            break;
    }
    return status;
}

long it_raw_exchange(const struct it_filer *f, const void *req, size_t n, char *buf, size_t cap)
{
    int fd = it_raw_connect(f);
    long st;

    /* A server may answer and close before it has read everything. */
    (void)it_raw_send(fd, req, n);
    shutdown(fd, SHUT_WR);
    st = it_raw_read_reply(fd, buf, cap);
    close(fd);
    return st;
}

/* ---- the filer's directory ------------------------------------------------- */

static void count_walk(const char *dir, bool tmp_only, unsigned *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[IT_PATH_MAX];
    struct stat st;

    while (d != NULL) {
        e = readdir(d);
        if (e == NULL)
            break;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        it_fmt(path, IT_PATH_MAX, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            continue; /* removed meanwhile */
        if (S_ISDIR(st.st_mode))
            count_walk(path, tmp_only, count);
        else if (S_ISREG(st.st_mode) && (!tmp_only || strncmp(e->d_name, ".tmp.", 5) == 0))
            (*count)++;
    }
    if (d != NULL)
        closedir(d);
}

unsigned it_count_tmp(const char *dir)
{
    unsigned n = 0;

    count_walk(dir, true, &n);
    return n;
}

unsigned it_count_files(const char *dir)
{
    unsigned n = 0;

    count_walk(dir, false, &n);
    return n;
}

static void object_file(char out[IT_PATH_MAX], const struct it_filer *f, const char *path)
{
    char rel[CF_OBJPATH_REL_MAX];
    int n = cf_objpath_relpath(path, strlen(path), rel, sizeof(rel));

    IT_CHECKF(n > 0, "cf_objpath_relpath(\"%s\") = %d", path, n);
    it_fmt(out, IT_PATH_MAX, "%s/%s", f->dir, rel);
}

int64_t it_object_file_size(const struct it_filer *f, const char *path)
{
    char file[IT_PATH_MAX];
    struct stat st;
    int64_t size = -1;

    object_file(file, f, path);
    if (stat(file, &st) == 0) {
        IT_CHECKF(S_ISREG(st.st_mode), "\"%s\" is not a regular file", file);
        size = (int64_t)st.st_size;
    } else {
        IT_CHECKF(errno == ENOENT, "stat \"%s\": %s", file, strerror(errno));
    }
    return size;
}

void it_object_file_remove(const struct it_filer *f, const char *path)
{
    char file[IT_PATH_MAX];

    object_file(file, f, path);
    IT_CHECKF(unlink(file) == 0, "unlink \"%s\": %s", file, strerror(errno));
}

void it_check_object_file(const struct it_filer *f, const char *path, uint64_t size,
                          const uint8_t sha[CF_SHA512_LEN])
{
    char file[IT_PATH_MAX];
    size_t cap = 1024 * 1024;
    char *buf = cf_xmalloc(cap);
    struct cf_sha512 ctx;
    uint8_t d[CF_SHA512_LEN];
    uint64_t total = 0;
    ssize_t n;
    int fd;

    object_file(file, f, path);
    fd = open(file, O_RDONLY | O_CLOEXEC);
    IT_CHECKF(fd >= 0, "object %s: open \"%s\": %s", path, file, strerror(errno));
    IT_CHECK(cf_sha512_init(&ctx) == 0);
    for (;;) {
        n = read(fd, buf, cap);
        if (n <= 0)
            break;
        IT_CHECK(cf_sha512_update(&ctx, buf, (size_t)n) == 0);
        total += (uint64_t)n;
    }
    IT_CHECKF(n == 0, "read \"%s\": %s", file, strerror(errno));
    IT_CHECK(cf_sha512_final(&ctx, d) == 0);
    cf_sha512_fini(&ctx);
    close(fd);
    free(buf);
    IT_EQ(total, size);
    IT_CHECKF(memcmp(d, sha, CF_SHA512_LEN) == 0, "file \"%s\" differs from what was put", file);
}

void it_flip_object_byte(const struct it_filer *f, const char *path, uint64_t off)
{
    char file[IT_PATH_MAX];
    unsigned char b;
    int fd;

    object_file(file, f, path);
    fd = open(file, O_RDWR | O_CLOEXEC);
    IT_CHECKF(fd >= 0, "open \"%s\": %s", file, strerror(errno));
    IT_CHECKF(pread(fd, &b, 1, (off_t)off) == 1, "pread \"%s\": %s", file, strerror(errno));
    b ^= 0xff;
    IT_CHECKF(pwrite(fd, &b, 1, (off_t)off) == 1, "pwrite \"%s\": %s", file, strerror(errno));
    IT_CHECKF(fsync(fd) == 0, "fsync \"%s\": %s", file, strerror(errno));
    close(fd);
}

void it_truncate_object(const struct it_filer *f, const char *path, uint64_t size)
{
    char file[IT_PATH_MAX];

    object_file(file, f, path);
    IT_CHECKF(truncate(file, (off_t)size) == 0, "truncate \"%s\": %s", file, strerror(errno));
}

struct snap {
    char **lines;
    size_t n, cap;
};

static void snap_walk(const char *root, const char *rel, struct snap *s)
{
    char path[IT_PATH_MAX], sub[IT_PATH_MAX], line[IT_PATH_MAX + 96];
    struct dirent *e;
    struct stat st;
    DIR *d;

    it_fmt(path, IT_PATH_MAX, "%s%s", root, rel);
    d = opendir(path);
    while (d != NULL) {
        size_t len;
        int n;
        e = readdir(d);
        if (e == NULL)
            break;
        len = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0))
            continue;
        it_fmt(sub, IT_PATH_MAX, "%s/%s", rel, e->d_name);
        it_fmt(path, IT_PATH_MAX, "%s%s", root, sub);
        if (lstat(path, &st) != 0)
            continue;
        n = snprintf(line, sizeof(line), "%s %o %lld %lld.%09ld", sub, (unsigned)st.st_mode,
                     (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        IT_CHECK(n > 0 && (size_t)n < sizeof(line));
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->lines = cf_xrealloc(s->lines, s->cap * sizeof(*s->lines));
        }
        s->lines[s->n++] = cf_xstrdup(line);
        if (S_ISDIR(st.st_mode))
            snap_walk(root, sub, s);
    }
    if (d != NULL)
        closedir(d);
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *it_tree_snapshot(const char *dir)
{
    struct snap s = {NULL, 0, 0};
    size_t total = 1, off = 0;
    char *out;

    snap_walk(dir, "", &s);
    if (s.n > 0)
        qsort(s.lines, s.n, sizeof(*s.lines), cmp_lines);
    for (size_t i = 0; i < s.n; i++)
        total += strlen(s.lines[i]) + 1;
    out = cf_xmalloc(total);
    for (size_t i = 0; i < s.n; i++) {
        size_t len = strlen(s.lines[i]);
        memcpy(out + off, s.lines[i], len);
        out[off + len] = '\n';
        off += len + 1;
        free(s.lines[i]);
    }
    out[off] = '\0';
    free(s.lines);
    return out;
}

static bool no_tmp(void *arg)
{
    const struct it_filer *f = arg;

    return it_count_tmp(f->dir) == 0;
}

struct tmp_wait {
    const struct it_filer *f;
    unsigned n;
};

static bool enough_tmp(void *arg)
{
    const struct tmp_wait *w = arg;

    return it_count_tmp(w->f->dir) >= w->n;
}

void it_wait_tmp(const struct it_filer *f, unsigned n)
{
    struct tmp_wait w = {f, n};

    IT_CHECKF(it_wait_for(enough_tmp, &w, 50, 100),
              "%u temporary files (.tmp.*) under %s, expected %u uploads in progress",
              it_count_tmp(f->dir), f->dir, n);
}

void it_wait_no_tmp(const struct it_filer *f)
{
    IT_CHECKF(it_wait_for(no_tmp, (void *)f, 50, 100), "temporary files remain under %s (%u)",
              f->dir, it_count_tmp(f->dir));
}

/* ---- many transfers at once ------------------------------------------------ */

#define IT_XFER_MS 240000 /* one it_xfer_run batch */

static size_t xfer_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct it_xfer *x = ud;

    if (x->pause_at > 0 && x->pause_state == 0 && x->body->gen.pos >= x->pause_at) {
        x->pause_state = 1;
        return CURL_READFUNC_PAUSE;
    }
    return on_read(buf, size, nmemb, x->body);
}

static size_t xfer_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct it_xfer *x = ud;

    if (x->body == NULL && x->pause_at > 0 && x->pause_state == 0 &&
        x->resp.total + size * nmemb >= x->pause_at) {
        x->pause_state = 1;
        return CURL_WRITEFUNC_PAUSE; /* libcurl delivers the same bytes again */
    }
    return on_body(p, size, nmemb, &x->resp);
}

void it_xfer_init(struct it_xfer *x, const char *base, const char *method, const char *target,
                  struct it_body *body, ...)
{
    va_list ap;
    CURL *e;

    memset(x, 0, sizeof(*x));
    e = curl_easy_init();
    IT_CHECK(e != NULL);
    x->easy = e;
    x->body = body;
    va_start(ap, body);
    x->hdrs = http_prepare(e, base, method, target, body, &x->resp, ap);
    va_end(ap);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_READFUNCTION, xfer_read);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
}

void it_xfer_run(struct it_xfer *x, size_t n, it_pause_cb on_pause, void *arg)
{
    uint64_t deadline = now_ms() + (uint64_t)IT_XFER_MS * g_it.mult;
    CURLM *m = curl_multi_init();
    size_t left = n;

    IT_CHECK(m != NULL);
    /* Every transfer its own connection, kept until the end. */
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)n + 4);
    for (size_t i = 0; i < n; i++)
        IT_CHECK(curl_multi_add_handle(m, x[i].easy) == CURLM_OK);
    while (left > 0) {
        CURLMsg *msg;
        int running = 0, q;

        IT_CHECK(curl_multi_perform(m, &running) == CURLM_OK);
        for (;;) {
            msg = curl_multi_info_read(m, &q);
            if (msg == NULL)
                break;
            struct it_xfer *t = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            http_collect(t->easy, &t->resp, msg->data.result);
            t->done = true;
            curl_multi_remove_handle(m, t->easy);
            left--;
        }
        for (size_t i = 0; i < n; i++) {
            if (x[i].pause_state != 1)
                continue;
            x[i].pause_state = 2;
            IT_CHECKF(on_pause != NULL, "transfer %zu paused with no on_pause", i);
            on_pause(&x[i], arg);
            curl_easy_pause(x[i].easy, CURLPAUSE_CONT);
        }
        IT_CHECKF(now_ms() < deadline, "%zu of %zu transfers still running after %u ms", left, n,
                  IT_XFER_MS * g_it.mult);
        if (left > 0)
            IT_CHECK(curl_multi_poll(m, NULL, 0, 100, NULL) == CURLM_OK);
    }
    curl_multi_cleanup(m);
}

void it_xfer_fini(struct it_xfer *x)
{
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    it_resp_fini(&x->resp);
    x->easy = NULL;
    x->hdrs = NULL;
}

/* ---- other coffer processes ------------------------------------------------ */

#define IT_CMD_MS    60000
#define IT_CMD_KEEP  (64 * 1024)
#define IT_FILE_SCAN (16 * 1024 * 1024)

/* Fork and exec coffer with args, stdin from in_fd (-1: /dev/null), stdout
 * into a pipe (*out_fd: its read end) and stderr appended to log. The child
 * is registered so a failing case kills it. */
static pid_t spawn(char **args, const char *log, int in_fd, int *out_fd)
{
    char *envp[IT_ENV_MAX];
    int pipefd[2] = {-1, -1}, log_fd;
    pid_t parent = getpid(), pid;

    child_env(envp, IT_ENV_MAX);
    log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    IT_CHECKF(log_fd >= 0, "open \"%s\": %s", log, strerror(errno));
    IT_CHECKF(pipe2(pipefd, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    IT_CHECKF(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(args, envp, in_fd, pipefd[1], log_fd, parent);
    close(pipefd[1]);
    close(log_fd);
    registry_set(0, pid);
    *out_fd = pipefd[0];
    return pid;
}

/* args[0..] from argv0, the fixed arguments and then the caller's (NULL-terminated). */
static size_t collect_args(char **args, size_t n, va_list ap)
{
    for (;;) {
        const char *a = va_arg(ap, const char *);
        if (a == NULL)
            break;
        IT_CHECKF(n < IT_ARGS_MAX, "more than %d arguments", IT_ARGS_MAX);
        args[n++] = (char *)a;
    }
    args[n] = NULL;
    return n;
}

bool it_proc_wait_exit(struct it_proc *p, unsigned timeout_ms, int *status)
{
    return child_wait_exit((struct child){&p->pid, &p->out_fd, p->name}, timeout_ms, status);
}

void it_proc_signal(const struct it_proc *p, int sig)
{
    child_signal(p->pid, p->name, sig);
}

void it_proc_kill9(struct it_proc *p)
{
    child_kill9((struct child){&p->pid, &p->out_fd, p->name});
}

int it_proc_stop(struct it_proc *p)
{
    return child_stop((struct child){&p->pid, &p->out_fd, p->name});
}

void it_proc_stop_ok(struct it_proc *p)
{
    char name[sizeof(p->name)];
    int st;

    memcpy(name, p->name, sizeof(name));
    st = it_proc_stop(p);
    IT_CHECKF(st == 0, "%s: exit status 0x%x after SIGTERM, expected exit 0", name, (unsigned)st);
}

uint64_t it_proc_peak_rss(const struct it_proc *p)
{
    char path[64], line[256];
    unsigned long long kb = 0;
    bool found = false;
    FILE *f;

    it_fmt(path, sizeof(path), "/proc/%d/status", (int)p->pid);
    f = fopen(path, "r");
    IT_CHECKF(f != NULL, "open \"%s\": %s", path, strerror(errno));
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = sscanf(line, "VmHWM: %llu kB", &kb) == 1;
    fclose(f);
    IT_CHECKF(found, "no VmHWM in %s", path);
    return (uint64_t)kb * 1024u;
}

/* "<prefix>http://127.0.0.1:PORT": the base URL into base (IT_URL_MAX) and
 * the port into *port (may be NULL). */
static void parse_url_line(const char *line, const char *prefix, char *base, unsigned *port)
{
    static const char host[] = "http://127.0.0.1:";
    size_t plen = strlen(prefix);
    const char *p;
    char *end = NULL;
    unsigned long v;

    IT_CHECKF(strncmp(line, prefix, plen) == 0 && strncmp(line + plen, host, sizeof(host) - 1) == 0,
              "ready line \"%s\" is not \"%s%s...\"", line, prefix, host);
    p = line + plen + sizeof(host) - 1;
    errno = 0;
    v = strtoul(p, &end, 10);
    IT_CHECKF(errno == 0 && end != p && *end == '\0' && v > 0 && v < 65536,
              "bad port in ready line \"%s\"", line);
    it_fmt(base, IT_URL_MAX, "http://127.0.0.1:%lu", v);
    if (port != NULL)
        *port = (unsigned)v;
}

/* Read the next ready line of p into buf, failing the case (with its log)
 * if it exits or stays silent. */
static void proc_read_line(struct it_proc *p, char *buf, size_t cap)
{
    int r = read_line(p->out_fd, buf, cap, now_ms() + (uint64_t)IT_READY_MS * g_it.mult, p->name);
    char log[4096];
    int fd;
    ssize_t n = 0;

    if (r > 0)
        return;
    if (r < 0)
        it_proc_kill9(p);
    else
        (void)it_proc_wait_exit(p, IT_READY_MS, NULL);
    fd = open(p->log, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, log, sizeof(log) - 1);
        close(fd);
    }
    log[n > 0 ? n : 0] = '\0';
    it_fail(__FILE__, __LINE__, "%s %s before its ready line; log:\n%s", p->name,
            r < 0 ? "printed nothing in time" : "exited", log);
}

static void proc_startv(struct it_proc *p, const char *name, char **args)
{
    memset(p, 0, sizeof(*p));
    p->pid = -1;
    p->out_fd = -1;
    it_fmt(p->name, sizeof(p->name), "%s", name);
    it_fmt(p->log, IT_PATH_MAX, "%s/%s.log", g_it.case_dir, name);
    p->pid = spawn(args, p->log, -1, &p->out_fd);
}

void it_server_start_ok(struct it_server *s, const char *data, unsigned nfilers, ...)
{
    char *args[IT_ARGS_MAX + 1], dir[IT_PATH_MAX], n[16], line[256], prefix[64];
    va_list ap;

    memset(s, 0, sizeof(*s));
    IT_CHECK(nfilers <= IT_SERVER_FILERS);
    it_case_path(dir, data);
    it_fmt(n, sizeof(n), "%u", nfilers);
    args[0] = (char *)g_it.coffer;
    args[1] = "server";
    args[2] = "--data";
    args[3] = dir;
    args[4] = "--port";
    args[5] = "0";
    args[6] = "--filers";
    args[7] = n;
    va_start(ap, nfilers);
    (void)collect_args(args, 8, ap);
    va_end(ap);
    proc_startv(&s->p, "server", args);
    proc_read_line(&s->p, s->p.ready_line, sizeof(s->p.ready_line));
    IT_CHECKF(strncmp(s->p.ready_line, "coffer server ready: ", 21) == 0,
              "first line \"%s\" is not \"coffer server ready: ...\"", s->p.ready_line);
    proc_read_line(&s->p, line, sizeof(line));
    parse_url_line(line, "coffer app listening on ", s->p.base, &s->p.port);
    proc_read_line(&s->p, line, sizeof(line));
    parse_url_line(line, "coffer objsrv listening on ", s->objsrv, NULL);
    proc_read_line(&s->p, line, sizeof(line));
    parse_url_line(line, "coffer monitor listening on ", s->monitor, NULL);
    for (unsigned i = 0; i < nfilers; i++) {
        proc_read_line(&s->p, line, sizeof(line));
        it_fmt(prefix, sizeof(prefix), "coffer filer %u listening on ", i + 1);
        parse_url_line(line, prefix, s->filers[i], NULL);
    }
    s->nfilers = nfilers;
}

int it_coffer_cmd(char *out, size_t cap, const char *in_file, ...)
{
    uint64_t deadline = now_ms() + (uint64_t)IT_CMD_MS * g_it.mult;
    char *args[IT_ARGS_MAX + 1], log[IT_PATH_MAX], junk[4096];
    struct it_proc p;
    size_t len = 0;
    int in_fd = -1, st = 0;
    va_list ap;

    args[0] = (char *)g_it.coffer;
    va_start(ap, in_file);
    (void)collect_args(args, 1, ap);
    va_end(ap);
    if (in_file != NULL) {
        in_fd = open(in_file, O_RDONLY | O_CLOEXEC);
        IT_CHECKF(in_fd >= 0, "open \"%s\": %s", in_file, strerror(errno));
    }
    memset(&p, 0, sizeof(p));
    it_fmt(p.name, sizeof(p.name), "coffer %s", args[1] != NULL ? args[1] : "");
    it_case_path(log, "cmd.log");
    p.pid = spawn(args, log, in_fd, &p.out_fd);
    if (in_fd >= 0)
        close(in_fd);
    if (out != NULL && cap > 0)
        out[0] = '\0';
    /* Read stdout to EOF: the command has exited or closed it. */
    for (;;) {
        struct pollfd pfd = {p.out_fd, POLLIN, 0};
        uint64_t now = now_ms();
        bool keep = out != NULL && len + 1 < cap;
        ssize_t k;
        int r;

        if (now >= deadline) {
            it_proc_kill9(&p);
            it_fail(__FILE__, __LINE__, "%s ran longer than %u ms", p.name, IT_CMD_MS * g_it.mult);
        }
        r = poll(&pfd, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        IT_CHECKF(r >= 0, "poll: %s", strerror(errno));
        if (r == 0)
            continue;
        k = keep ? read(p.out_fd, out + len, cap - 1 - len) : read(p.out_fd, junk, sizeof(junk));
        if (k < 0 && errno == EINTR)
            continue;
        IT_CHECKF(k >= 0, "read: %s", strerror(errno));
        if (k == 0)
            break;
        if (keep) {
            len += (size_t)k;
            out[len] = '\0';
        }
    }
    if (!it_proc_wait_exit(&p, IT_READY_MS, &st)) {
        it_proc_kill9(&p);
        it_fail(__FILE__, __LINE__, "%s closed stdout but did not exit", args[1]);
    }
    return st;
}

bool it_file_contains(const char *path, const char *needle)
{
    char *buf = cf_xmalloc(IT_FILE_SCAN + 1);
    size_t len = 0;
    bool found;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    IT_CHECKF(fd >= 0, "open \"%s\": %s", path, strerror(errno));
    while (len < IT_FILE_SCAN) {
        ssize_t k = read(fd, buf + len, IT_FILE_SCAN - len);
        if (k < 0 && errno == EINTR)
            continue;
        IT_CHECKF(k >= 0, "read \"%s\": %s", path, strerror(errno));
        if (k == 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    found = strstr(buf, needle) != NULL;
    free(buf);
    return found;
}

/* ---- the data path ----------------------------------------------------------- */

void it_case_db(char out[IT_PATH_MAX])
{
    it_fmt(out, IT_PATH_MAX, "sqlite:%s/catalog.db", g_it.case_dir);
}

void it_admin_filer_add(const char *db, const struct it_filer *f, unsigned weight)
{
    char id[16], w[16];
    int st;

    it_fmt(id, sizeof(id), "%u", f->id);
    it_fmt(w, sizeof(w), "%u", weight);
    st = it_coffer_cmd(NULL, 0, NULL, "admin", "filer", "add", "--db", db, "--id", id, "--url",
                       f->base, "--weight", w, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "coffer admin filer add --id %s: status 0x%x (see cmd.log)", id, (unsigned)st);
}

void it_admin_shard_add(const char *db)
{
    char out[256];
    int st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "add", "--db", db, NULL);

    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "coffer admin shard add: status 0x%x (see cmd.log)", (unsigned)st);
    IT_CHECKF(strstr(out, "shard ") != NULL && strstr(out, " added") != NULL,
              "coffer admin shard add printed \"%s\"", out);
}

void it_app_start_ok(struct it_proc *p, const char *db, ...)
{
    char *args[IT_ARGS_MAX + 1];
    va_list ap;
    size_t n = 0;

    args[n++] = (char *)g_it.coffer;
    args[n++] = "app";
    args[n++] = "--listen";
    args[n++] = "127.0.0.1:0";
    args[n++] = "--db";
    args[n++] = (char *)db;
    args[n++] = "--replicas";
    args[n++] = "2";
    args[n++] = "--poll-ms";
    args[n++] = "200";
    args[n++] = "--stall-s";
    args[n++] = "3";
    va_start(ap, db);
    (void)collect_args(args, n, ap);
    va_end(ap);
    proc_startv(p, "app", args);
    proc_read_line(p, p->ready_line, sizeof(p->ready_line));
    parse_url_line(p->ready_line, "coffer app listening on ", p->base, &p->port);
}

void it_gateway_start_ok(struct it_proc *p, const char *fsdb, const char *app, const char *objsrv,
                         ...)
{
    char *args[IT_ARGS_MAX + 1];
    char key[IT_PATH_MAX];
    va_list ap;
    size_t n = 0;

    it_case_path(key, "gateway.key");
    args[n++] = (char *)g_it.coffer;
    args[n++] = "gateway";
    args[n++] = "--listen";
    args[n++] = "127.0.0.1:0";
    args[n++] = "--db";
    args[n++] = (char *)fsdb;
    args[n++] = "--app";
    args[n++] = (char *)app;
    args[n++] = "--objsrv";
    args[n++] = (char *)objsrv;
    args[n++] = "--key-file";
    args[n++] = key;
    args[n++] = "--stall-s";
    args[n++] = "3";
    va_start(ap, objsrv);
    (void)collect_args(args, n, ap);
    va_end(ap);
    proc_startv(p, "gateway", args);
    proc_read_line(p, p->ready_line, sizeof(p->ready_line));
    parse_url_line(p->ready_line, "coffer gateway listening on ", p->base, &p->port);
}

void it_monitor_start_ok(struct it_proc *p, const char *db, ...)
{
    char *args[IT_ARGS_MAX + 1];
    va_list ap;
    size_t n = 0;

    args[n++] = (char *)g_it.coffer;
    args[n++] = "monitor";
    args[n++] = "--listen";
    args[n++] = "127.0.0.1:0";
    args[n++] = "--db";
    args[n++] = (char *)db;
    args[n++] = "--poll-ms";
    args[n++] = "200";
    args[n++] = "--offline-after";
    args[n++] = "2";
    va_start(ap, db);
    (void)collect_args(args, n, ap);
    va_end(ap);
    proc_startv(p, "monitor", args);
    proc_read_line(p, p->ready_line, sizeof(p->ready_line));
    parse_url_line(p->ready_line, "coffer monitor listening on ", p->base, &p->port);
}

void it_objsrv_start_ok(struct it_proc *p, const char *app, ...)
{
    char *args[IT_ARGS_MAX + 1];
    va_list ap;
    size_t n = 0;

    args[n++] = (char *)g_it.coffer;
    args[n++] = "objsrv";
    args[n++] = "--listen";
    args[n++] = "127.0.0.1:0";
    args[n++] = "--app";
    args[n++] = (char *)app;
    args[n++] = "--cache-ms";
    args[n++] = "0";
    args[n++] = "--stall-s";
    args[n++] = "3";
    va_start(ap, app);
    (void)collect_args(args, n, ap);
    va_end(ap);
    proc_startv(p, "objsrv", args);
    proc_read_line(p, p->ready_line, sizeof(p->ready_line));
    parse_url_line(p->ready_line, "coffer objsrv listening on ", p->base, &p->port);
}

static void copy_str(char *out, size_t cap, const char *s, const char *what)
{
    size_t len = strlen(s);

    IT_CHECKF(len < cap, "%s is %zu bytes long", what, len);
    memcpy(out, s, len + 1);
}

void it_record_from_json(const json_t *j, struct it_record *rec)
{
    char path[CF_UUID_PATH_SIZE], err[CF_ERR_LEN] = "";
    const char *sha, *uuid;
    struct cf_uuid u;
    json_t *fl, *f;
    size_t i;

    memset(rec, 0, sizeof(*rec));
    IT_CHECKF(json_is_object(j), "a record is not a JSON object");
    uuid = it_json_str(j, "uuid");
    IT_CHECKF(cf_uuid_parse(uuid, strlen(uuid), &u, err) == 0, "record uuid \"%s\": %s", uuid, err);
    copy_str(rec->uuid, sizeof(rec->uuid), uuid, "uuid");
    copy_str(rec->path, sizeof(rec->path), it_json_str(j, "path"), "path");
    cf_uuid_filer_path(&u, path);
    if (strcmp(rec->path, path) != 0) {
        /* An alias (dedupe) has its holder's path: a record of its shard. */
        struct cf_uuid h;
        IT_CHECKF(cf_uuid_parse_filer_path(rec->path, strlen(rec->path), &h, err) == 0,
                  "record %s: path \"%s\": %s", uuid, rec->path, err);
        IT_CHECKF(h.shard == u.shard && h.oid != u.oid,
                  "record %s: path \"%s\" is neither its own nor another of its shard", uuid,
                  rec->path);
    }
    IT_CHECK(it_json_int(j, "size") >= 0);
    rec->size = (uint64_t)it_json_int(j, "size");
    sha = it_json_str(j, "sha512");
    IT_CHECKF(cf_sha512_parse_hex(sha, strlen(sha), rec->sha) == 0, "record sha512 \"%s\"", sha);
    rec->replicas = (unsigned)it_json_int(j, "replicas");
    IT_CHECK(!it_json_bool(j, "deleted"));
    (void)it_json_int(j, "created_ms");
    fl = json_object_get(j, "filers");
    IT_CHECKF(json_is_array(fl), "record has no \"filers\" array");
    IT_CHECK(json_array_size(fl) <= IT_REPLICAS_MAX);
    json_array_foreach(fl, i, f)
    {
        unsigned id = (unsigned)it_json_int(f, "id");
        IT_CHECKF(!it_record_has(rec, id), "record %s lists filer %u twice", rec->uuid, id);
        rec->filers[i] = id;
        copy_str(rec->urls[i], IT_URL_MAX, it_json_str(f, "url"), "filer url");
        copy_str(rec->status[i], sizeof(rec->status[i]), it_json_str(f, "status"), "status");
        (void)it_json_int(f, "weight");
        (void)it_json_bool(f, "read_only");
        rec->nfilers = i + 1;
    }
}

bool it_record_has(const struct it_record *rec, unsigned id)
{
    bool has = false;

    for (size_t i = 0; i < rec->nfilers && !has; i++)
        has = rec->filers[i] == id;
    return has;
}

void it_check_upload_reply(const struct it_resp *r, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                           unsigned replicas, struct it_record *rec)
{
    struct it_record own;
    json_t *j;

    if (rec == NULL)
        rec = &own;
    IT_CHECKF(r->status == 201, "upload: status %ld (curl: %s), body %.300s", r->status,
              curl_easy_strerror((CURLcode)r->curl_code), r->body ? r->body : "");
    j = it_resp_json(r);
    it_record_from_json(j, rec);
    json_decref(j);
    IT_EQ(rec->size, size);
    IT_CHECKF(memcmp(rec->sha, sha, CF_SHA512_LEN) == 0,
              "upload %s: sha512 differs from the body's", rec->uuid);
    IT_EQ(rec->nfilers, rec->replicas);
    if (replicas > 0)
        IT_EQ(rec->replicas, replicas);
}

long it_upload(struct it_client *c, const char *app, uint64_t seed, uint64_t size, unsigned r,
               bool chunked, struct it_record *rec)
{
    struct it_body b = {.chunked = chunked};
    char target[64];
    uint8_t sha[CF_SHA512_LEN];
    struct it_resp resp;
    long st;

    if (r > 0)
        it_fmt(target, sizeof(target), "/v1/objects?replicas=%u", r);
    else
        it_fmt(target, sizeof(target), "/v1/objects");
    it_gen_init(&b.gen, seed, size);
    st = it_http_to(c, app, "POST", target, &b, &resp, NULL);
    if (st == 201) {
        it_gen_final(&b.gen, sha);
        it_check_upload_reply(&resp, size, sha, r, rec);
    } else {
        it_gen_fini(&b.gen);
    }
    it_resp_fini(&resp);
    return st;
}

void it_upload_ok(struct it_client *c, const char *app, uint64_t seed, uint64_t size, unsigned r,
                  bool chunked, struct it_record *rec)
{
    long st = it_upload(c, app, seed, size, r, chunked, rec);

    IT_CHECKF(st == 201, "upload of %llu bytes (seed %llu, r %u): status %ld",
              (unsigned long long)size, (unsigned long long)seed, r, st);
}

long it_info(const char *app, const char *uuid, struct it_record *rec)
{
    char target[128];
    struct it_resp r;
    long st;

    it_fmt(target, sizeof(target), "/v1/objects/%s/info", uuid);
    st = it_http_to(NULL, app, "GET", target, NULL, &r, NULL);
    if (st == 200) {
        json_t *j = it_resp_json(&r);
        it_record_from_json(j, rec);
        json_decref(j);
        IT_STREQ(rec->uuid, uuid);
    }
    it_resp_fini(&r);
    return st;
}

void it_check_download(const struct it_resp *r, const struct it_record *rec)
{
    char hex[CF_SHA512_HEX_LEN + 1], hdr[CF_SHA512_HEX_LEN + 8];

    it_hex(rec->sha, hex);
    IT_CHECKF(r->status == 200, "GET %s: status %ld, body %.300s", rec->uuid, r->status,
              r->body ? r->body : "");
    IT_CHECKF(r->curl_code == CURLE_OK, "GET %s: curl: %s after %llu bytes", rec->uuid,
              curl_easy_strerror((CURLcode)r->curl_code), (unsigned long long)r->total);
    IT_EQ(r->total, rec->size);
    IT_CHECKF(memcmp(r->sha, rec->sha, CF_SHA512_LEN) == 0, "GET %s: body differs from the record",
              rec->uuid);
    IT_CHECK(it_resp_header(r, "Content-Length", hdr, sizeof(hdr)));
    IT_EQ(strtoull(hdr, NULL, 10), rec->size);
    IT_CHECK(it_resp_header(r, "X-Coffer-SHA512", hdr, sizeof(hdr)));
    IT_STREQ(hdr, hex);
    IT_CHECK(it_resp_header(r, "Accept-Ranges", hdr, sizeof(hdr)));
    IT_STREQ(hdr, "bytes");
}

void it_download_ok(struct it_client *c, const char *objsrv, const struct it_record *rec)
{
    char target[128];
    struct it_resp r;

    it_fmt(target, sizeof(target), "/v1/objects/%s", rec->uuid);
    it_http_to(c, objsrv, "GET", target, NULL, &r, NULL);
    it_check_download(&r, rec);
    it_resp_fini(&r);
}

void it_check_placement(const struct it_filer *fl, size_t n, const struct it_record *rec)
{
    size_t found = 0;

    for (size_t i = 0; i < n; i++) {
        if (it_record_has(rec, fl[i].id)) {
            it_check_object_file(&fl[i], rec->path, rec->size, rec->sha);
            found++;
        } else {
            IT_CHECKF(it_object_file_size(&fl[i], rec->path) == -1,
                      "object %s is on filer %u, which its record does not list", rec->uuid,
                      fl[i].id);
        }
    }
    IT_CHECKF(found == rec->nfilers, "object %s: %zu of the %zu filers it lists are known",
              rec->uuid, found, rec->nfilers);
}

static int cmp_uuid(const void *a, const void *b)
{
    const struct cf_uuid *x = a, *y = b;

    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    if (x->oid != y->oid)
        return x->oid < y->oid ? -1 : 1;
    return 0;
}

unsigned it_objdb_count(const char *db, unsigned max_id)
{
    char uri[IT_PATH_MAX], err[CF_ERR_LEN] = "";
    struct cf_objdb *odb = NULL;
    struct cf_uuid *all = NULL, page[256];
    size_t n = 0, cap = 0;
    unsigned distinct = 0;

    it_fmt(uri, sizeof(uri), "%s", db);
    cf_log_init("it", CF_LOG_WARN); /* no INFO lines from objdb in the test's output */
    IT_CHECKF(cf_objdb_open(uri, 1, &odb, err) == 0, "open %s: %s", db, err);
    for (unsigned id = 1; id <= max_id; id++) {
        struct cf_objdb_cursor cur;
        memset(&cur, 0, sizeof(cur));
        while (!cur.done) {
            int k = cf_objdb_list_by_filer(odb, id, &cur, page, CF_ARRAY_LEN(page), err);
            IT_CHECKF(k >= 0, "list filer %u: %s", id, err);
            if (k == 0)
                continue;
            if (n + (size_t)k > cap) {
                cap = 2 * (n + (size_t)k);
                all = cf_xrealloc(all, cap * sizeof(*all));
            }
            memcpy(all + n, page, (size_t)k * sizeof(*page));
            n += (size_t)k;
        }
    }
    cf_objdb_close(odb);
    if (n > 0)
        qsort(all, n, sizeof(*all), cmp_uuid);
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || cmp_uuid(&all[i - 1], &all[i]) != 0;
    free(all);
    return distinct;
}

void it_cluster_init(struct it_cluster *c)
{
    memset(c, 0, sizeof(*c));
    c->app.pid = -1;
    c->app.out_fd = -1;
    c->objsrv.pid = -1;
    c->objsrv.out_fd = -1;
    it_case_db(c->db);
}

void it_cluster_add_filer(struct it_cluster *c, unsigned weight, ...)
{
    struct it_filer *f;
    char name[16];
    va_list ap;

    IT_CHECKF(c->n < IT_CLUSTER_MAX, "more than %d filers in a cluster", IT_CLUSTER_MAX);
    f = &c->f[c->n];
    it_fmt(name, sizeof(name), "f%zu", c->n + 1);
    it_filer_init(f, (unsigned)(c->n + 1), name);
    va_start(ap, weight);
    filer_start_okv(f, ap);
    va_end(ap);
    c->n++;
    it_admin_filer_add(c->db, f, weight);
}

void it_cluster_start_filers(struct it_cluster *c, size_t n)
{
    it_cluster_init(c);
    IT_CHECK(n >= 1 && n <= IT_CLUSTER_MAX);
    for (size_t i = 0; i < n; i++)
        it_cluster_add_filer(c, 100, NULL);
    it_admin_shard_add(c->db);
}

void it_cluster_start(struct it_cluster *c, size_t n, const unsigned *weights, unsigned ro_mask,
                      unsigned stall_s)
{
    char stall[16];

    it_cluster_init(c);
    IT_CHECK(n >= 1 && n <= IT_CLUSTER_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned weight = weights != NULL ? weights[i] : 100;
        if (ro_mask & (1u << i))
            it_cluster_add_filer(c, weight, "--read-only", NULL);
        else
            it_cluster_add_filer(c, weight, NULL);
    }
    it_admin_shard_add(c->db);
    it_fmt(stall, sizeof(stall), "%u", stall_s);
    it_app_start_ok(&c->app, c->db, "--stall-s", stall, NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, "--stall-s", stall, NULL);
}

void it_cluster_stop(struct it_cluster *c)
{
    if (c->objsrv.pid > 0)
        it_proc_stop_ok(&c->objsrv);
    if (c->app.pid > 0)
        it_proc_stop_ok(&c->app);
    for (size_t i = 0; i < c->n; i++)
        if (c->f[i].pid > 0)
            it_filer_stop_ok(&c->f[i]);
}

struct status_wait {
    const struct it_cluster *c;
    const char *uuid, *status;
    unsigned id;
};

static bool filer_has_status(void *arg)
{
    const struct status_wait *w = arg;
    struct it_record rec;
    bool yes = false;

    IT_EQ(it_info(w->c->app.base, w->uuid, &rec), 200);
    for (size_t i = 0; i < rec.nfilers; i++)
        yes = yes || (rec.filers[i] == w->id && strcmp(rec.status[i], w->status) == 0);
    return yes;
}

void it_wait_filer_status(const struct it_cluster *c, const char *uuid, unsigned id,
                          const char *status)
{
    struct status_wait w = {c, uuid, status, id};

    IT_CHECKF(it_wait_for(filer_has_status, &w, 100, 100),
              "the app never reported filer %u %s (record %s)", id, status, uuid);
}

struct table_wait {
    const char *db;
    unsigned id;
    const char *status;
};

static bool filer_table_has(void *arg)
{
    const struct table_wait *w = arg;
    struct cf_objdb *odb = NULL;
    struct cf_objdb_filer f;
    bool ok = false;

    if (cf_objdb_open(w->db, 1, &odb, NULL) < 0)
        return false;
    if (cf_objdb_filer_get(odb, w->id, &f, NULL) == 0)
        ok = strcmp(f.status, w->status) == 0;
    cf_objdb_close(odb);
    return ok;
}

void it_wait_filer_table(const char *db, unsigned id, const char *status)
{
    struct table_wait w = {db, id, status};

    IT_CHECKF(it_wait_for(filer_table_has, &w, 100, 100), "filer %u never became %s", id, status);
}

unsigned it_cluster_copies(const struct it_cluster *c, const char *path)
{
    unsigned n = 0;

    for (size_t i = 0; i < c->n; i++)
        if (it_object_file_size(&c->f[i], path) >= 0)
            n++;
    return n;
}

void it_cluster_verify(const struct it_cluster *c, const struct it_record *recs, size_t n,
                       unsigned replicas, unsigned gone)
{
    for (size_t i = 0; i < n; i++) {
        struct it_record now;
        IT_EQ(it_info(c->app.base, recs[i].uuid, &now), 200);
        IT_EQ(now.nfilers, replicas);
        IT_CHECK(memcmp(now.sha, recs[i].sha, CF_SHA512_LEN) == 0);
        for (size_t k = 0; k < now.nfilers; k++) {
            unsigned id = now.filers[k];
            IT_CHECKF(id != gone, "object %s still lists filer %u", now.uuid, gone);
            IT_CHECK(id >= 1 && id <= c->n);
            it_get_ok(NULL, &c->f[id - 1], now.path, now.size, now.sha);
        }
    }
}

/* ---- deleting and purging objects ------------------------------------------ */

/* method app/v1/objects/UUID<suffix> without a body; the status. */
static long object_request(const char *app_base, const char *method, const char *uuid,
                           const char *suffix)
{
    char target[128];
    struct it_resp r;
    long st;

    it_fmt(target, sizeof(target), "/v1/objects/%s%s", uuid, suffix);
    st = it_http_to(NULL, app_base, method, target, NULL, &r, NULL);
    it_resp_fini(&r);
    return st;
}

long it_object_delete(const char *app_base, const char *uuid)
{
    return object_request(app_base, "DELETE", uuid, "");
}

long it_object_undelete(const char *app_base, const char *uuid)
{
    return object_request(app_base, "POST", uuid, "/undelete");
}

struct it_purge_counts it_purge_now(const char *app_base)
{
    struct it_purge_counts k;
    struct it_resp r;
    json_t *j;

    IT_EQ(it_http_to(NULL, app_base, "POST", "/v1/admin/purge", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    k.moved = it_json_int(j, "moved");
    k.purged = it_json_int(j, "purged");
    k.failed = it_json_int(j, "failed");
    k.skipped = it_json_int(j, "skipped");
    k.removed = it_json_int(j, "removed");
    k.pending = it_json_int(j, "pending");
    k.restored = it_json_int(j, "restored");
    k.held = it_json_int(j, "held");
    json_decref(j);
    it_resp_fini(&r);
    return k;
}

/* ---- maintenance jobs ---------------------------------------------------------- */

#define IT_JOB_TRIES    1200 /* it_job_run's bound: 1200 polls ... */
#define IT_JOB_DELAY_MS 100  /* ... 100 ms apart, times the multiplier */
#define IT_JOB_HTTP_MS  10000

int64_t it_job_start(const char *app_base, const char *kind, const char *args_json)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body, *out = NULL;
    long status = 0;
    int64_t id;

    IT_CHECK(cf_httpc_global_init() == 0);
    body = json_pack("{s:s,s:o}", "kind", kind, "args", json_loads(args_json, 0, NULL));
    IT_CHECKF(body != NULL, "job args are not JSON: %s", args_json);
    it_fmt(url, sizeof(url), "%s/v1/admin/jobs", app_base);
    IT_CHECKF(cf_httpc_json("POST", url, body, IT_JOB_HTTP_MS, &status, &out, err) == 0,
              "POST %s: %s", url, err);
    json_decref(body);
    IT_CHECKF(status == 202 && out != NULL, "POST %s: status %ld", url, status);
    id = it_json_int(out, "id");
    json_decref(out);
    return id;
}

json_t *it_job_get(const char *app_base, int64_t id)
{
    char url[IT_URL_MAX + 48], err[CF_ERR_LEN] = "";
    long status = 0;
    json_t *j = NULL;

    IT_CHECK(cf_httpc_global_init() == 0);
    it_fmt(url, sizeof(url), "%s/v1/admin/jobs/%lld", app_base, (long long)id);
    IT_CHECKF(cf_httpc_json("GET", url, NULL, IT_JOB_HTTP_MS, &status, &j, err) == 0, "GET %s: %s",
              url, err);
    IT_CHECKF(status == 200 && j != NULL, "GET %s: status %ld", url, status);
    return j;
}

struct job_wait {
    const char *app_base;
    int64_t id;
    int64_t at_least; /* it_job_wait_progress */
    json_t *last;     /* it_job_wait_end: the ended job */
};

static bool job_ended(void *arg)
{
    struct job_wait *w = arg;
    json_t *j = it_job_get(w->app_base, w->id);

    if (strcmp(it_json_str(j, "state"), "running") == 0) {
        json_decref(j);
        return false;
    }
    json_decref(w->last);
    w->last = j;
    return true;
}

json_t *it_job_wait_end(const char *app_base, int64_t id, unsigned tries, unsigned delay_ms)
{
    struct job_wait w = {.app_base = app_base, .id = id, .last = NULL};

    IT_CHECKF(it_wait_for(job_ended, &w, tries, delay_ms), "job %lld never ended", (long long)id);
    return w.last;
}

static bool job_progressed(void *arg)
{
    const struct job_wait *w = arg;
    json_t *j = it_job_get(w->app_base, w->id);
    bool ok;

    IT_STREQ(it_json_str(j, "state"), "running");
    ok = it_json_int(j, "done_objects") >= w->at_least;
    json_decref(j);
    return ok;
}

void it_job_wait_progress(const char *app_base, int64_t id, int64_t at_least, unsigned tries,
                          unsigned delay_ms)
{
    struct job_wait w = {.app_base = app_base, .id = id, .at_least = at_least};

    IT_CHECKF(it_wait_for(job_progressed, &w, tries, delay_ms),
              "job %lld never had %lld objects done", (long long)id, (long long)at_least);
}

json_t *it_job_run(const char *app_base, const char *kind, const char *args_json)
{
    json_t *job = it_job_wait_end(app_base, it_job_start(app_base, kind, args_json), IT_JOB_TRIES,
                                  IT_JOB_DELAY_MS);
    const char *msg = json_string_value(json_object_get(job, "message"));

    IT_CHECKF(strcmp(it_json_str(job, "state"), "done") == 0, "the %s job ended %s: %s", kind,
              it_json_str(job, "state"), msg ? msg : "");
    return job;
}

int64_t it_job_counter(const json_t *job, const char *name)
{
    const json_t *k = json_object_get(job, "counters");

    IT_CHECKF(json_is_object(k), "the job report has no counters");
    return it_json_int(k, name);
}

/* ---- the scribe ---- */

int64_t it_scribe_count(const char *db_uri, const char *kind)
{
    struct cf_scribe_query q = {.kind = kind, .limit = CF_SCRIBE_QUERY_MAX};
    struct cf_scribe_event *ev = NULL;
    struct cf_scribe *s = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;

    cf_log_init("it", CF_LOG_WARN);
    IT_CHECKF(cf_scribe_open(db_uri, 1, &s, err) == 0, "scribe open: %s", err);
    IT_CHECKF(cf_scribe_query(s, &q, &ev, &n, err) == 0, "scribe query: %s", err);
    free(ev);
    cf_scribe_close(s);
    return (int64_t)n;
}
