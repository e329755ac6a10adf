/*
 * proc.c -- coffer processes started, read and stopped by PID (proc.h).
 */
#include "harness/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness/harness_int.h"
#include "harness/keys.h"

extern char **environ;

#define IT_ARGS_MAX  32
#define IT_ENV_MAX   512
#define IT_READY_MS  15000 /* a process prints its ready line within this */
#define IT_STOP_MS   40000 /* CF_DRAIN_TIMEOUT_S plus a margin */
#define IT_CMD_MS    60000 /* a one-shot command ends within this */
#define IT_FILE_SCAN (16 * 1024 * 1024)

/* ---- starting and reading a process ------------------------------------------ */

/* The environment for a coffer process: ours without COFFER_* (it reads its
 * settings from COFFER_<KEY>; a test sets them explicitly). */
static void child_env(char **envp, size_t cap)
{
    size_t n = 0;

    static char key_env[IT_PATH_MAX + 32];

    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "COFFER_", 7) == 0)
            continue;
        IT_CHECK(n + 2 < cap);
        envp[n++] = *e;
    }
    /* Every coffer command is the operator's (keys.h). */
    it_fmt(key_env, sizeof(key_env), "COFFER_OPERATOR_KEY_FILE=%s", it_keys_operator());
    envp[n++] = key_env;
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
    execve(args[0], args, envp);
    _exit(127);
}

/* The command line `coffer [ROLE] FIXED... EXTRA...` into args
 * (IT_ARGS_MAX + 1 entries, NULL-terminated): role may be NULL, fixed[0..n)
 * are borrowed, then the caller's arguments up to a NULL. */
static void build_args(char **args, const char *role, const char *const *fixed, size_t nfixed,
                       va_list ap)
{
    size_t n = 0;

    IT_CHECK(nfixed + 6 <= IT_ARGS_MAX);
    args[n++] = (char *)it__coffer();
    if (role != NULL)
        args[n++] = (char *)role;
    for (size_t i = 0; i < nfixed; i++)
        args[n++] = (char *)fixed[i];
    /* Every role but the server (which finds them in its data directory)
     * gets the case's keys (keys.h). */
    if (role != NULL && strcmp(role, "server") != 0) {
        args[n++] = "--cluster-key-file";
        args[n++] = (char *)it_keys_cluster();
        args[n++] = "--operator-pub-file";
        args[n++] = (char *)it_keys_operator_pub();
    }
    for (;;) {
        const char *a = va_arg(ap, const char *);
        if (a == NULL)
            break;
        IT_CHECKF(n < IT_ARGS_MAX, "more than %d arguments", IT_ARGS_MAX);
        args[n++] = (char *)a;
    }
    args[n] = NULL;
}

/* Fork and exec args, stdin from in_fd (-1: /dev/null), stdout into a pipe
 * (*out_fd: its read end) and stderr appended to log. The child is
 * registered so a failing case kills it. */
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
    /* Our copy of the write end must go, or EOF would never come. */
    close(pipefd[1]);
    close(log_fd);
    it__registry_set(0, pid);
    *out_fd = pipefd[0];
    return pid;
}

/* Read one line from fd into buf (cap bytes, without the '\n') before the
 * deadline (it__now_ms). Returns 1 when read, 0 on EOF (the process
 * exited), -1 on timeout. Fails the case if the line does not fit. */
static int read_line(int fd, char *buf, size_t cap, uint64_t deadline, const char *what)
{
    size_t len = 0;
    int rc = -1;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = it__now_ms();
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
        IT_CHECKF(len + 1 < cap, "%s: line too long", what);
    }
    return rc;
}

/* "<prefix>http[s]://127.0.0.1:PORT": the base URL into base (IT_URL_MAX)
 * and the port into *port (may be NULL). */
static void parse_url_line(const char *line, const char *prefix, char *base, unsigned *port)
{
    static const char host[] = "://127.0.0.1:";
    size_t plen = strlen(prefix), slen;
    const char *p;
    char *end = NULL;
    unsigned long v;

    IT_CHECKF(strncmp(line, prefix, plen) == 0, "ready line \"%s\" is not \"%s...\"", line, prefix);
    slen = strncmp(line + plen, "https", 5) == 0 ? 5 : 4;
    IT_CHECKF(strncmp(line + plen, "https", slen) == 0 &&
                  strncmp(line + plen + slen, host, sizeof(host) - 1) == 0,
              "ready line \"%s\" is not \"%shttp[s]%s...\"", line, prefix, host);
    p = line + plen + slen + sizeof(host) - 1;
    errno = 0;
    v = strtoul(p, &end, 10);
    IT_CHECKF(errno == 0 && end != p && *end == '\0' && v > 0 && v < 65536,
              "bad port in ready line \"%s\"", line);
    it_fmt(base, IT_URL_MAX, "%s://127.0.0.1:%lu", slen == 5 ? "https" : "http", v);
    if (port != NULL)
        *port = (unsigned)v;
}

/* Up to cap - 1 bytes of the end of the file at path into out,
 * NUL-terminated; "" if it cannot be read. */
static void read_tail(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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

/* ---- waiting for and stopping a process ------------------------------------- */

/* A child this harness started, as the filer and process helpers share it:
 * where its pid and stdout live, and its name for messages. */
struct child {
    pid_t *pid;
    int *out_fd;
    const char *what;
};

static void child_reaped(struct child c)
{
    it__registry_set(*c.pid, 0);
    *c.pid = -1;
    if (*c.out_fd >= 0)
        close(*c.out_fd);
    *c.out_fd = -1;
}

static bool child_wait_exit(struct child c, unsigned timeout_ms, int *status)
{
    uint64_t deadline = it__now_ms() + (uint64_t)timeout_ms * it_multiplier();
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
        if (it__now_ms() >= deadline)
            break;
        it__nap_ms(5);
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
                IT_STOP_MS * it_multiplier());
        child_kill9(c);
        st = -1;
    }
    return st;
}

/* child_stop, failing the case unless the exit status is 0. */
static void child_stop_ok(struct child c)
{
    int st = child_stop(c);

    IT_CHECKF(st == 0, "%s: exit status 0x%x after SIGTERM, expected exit 0", c.what, (unsigned)st);
}

/* ---- filers ----------------------------------------------------------------- */

static struct child filer_child(struct it_filer *f)
{
    return (struct child){&f->pid, &f->out_fd, f->name};
}

void it_filer_init(struct it_filer *f, unsigned id, const char *name)
{
    memset(f, 0, sizeof(*f));
    f->pid = -1;
    f->out_fd = -1;
    f->id = id;
    it_fmt(f->name, sizeof(f->name), "filer %u", id);
    it_case_path(f->dir, name);
    it_fmt(f->log, IT_PATH_MAX, "%s.log", f->dir);
    IT_CHECKF(mkdir(f->dir, 0700) == 0 || errno == EEXIST, "mkdir \"%s\": %s", f->dir,
              strerror(errno));
}

static int filer_startv(struct it_filer *f, int *status, va_list ap)
{
    char *args[IT_ARGS_MAX + 1], id[16], prefix[64];
    const char *fixed[] = {"--id", id, "--dir", f->dir, "--listen", "127.0.0.1:0"};
    int st = 0, ready, rc = -1;

    IT_CHECKF(f->pid < 0, "%s is already running", f->name);
    it_fmt(id, sizeof(id), "%u", f->id);
    build_args(args, "filer", fixed, CF_ARRAY_LEN(fixed), ap);
    f->pid = spawn(args, f->log, -1, &f->out_fd);
    ready = read_line(f->out_fd, f->ready_line, sizeof(f->ready_line),
                      it__now_ms() + (uint64_t)IT_READY_MS * it_multiplier(), f->name);
    if (ready > 0) {
        it_fmt(prefix, sizeof(prefix), "coffer filer %u listening on ", f->id);
        parse_url_line(f->ready_line, prefix, f->base, &f->port);
        rc = 0;
        goto out;
    }
    if (ready < 0) {
        it_filer_kill9(f);
        it_fail(__FILE__, __LINE__, "%s printed no ready line within %u ms", f->name,
                IT_READY_MS * it_multiplier());
    }
    /* EOF on stdout: it is exiting. */
    if (!it_filer_wait_exit(f, IT_READY_MS, &st)) {
        it_filer_kill9(f);
        it_fail(__FILE__, __LINE__, "%s closed stdout but did not exit", f->name);
    }
    if (status != NULL)
        *status = st;
out:
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

void it__filer_start_okv(struct it_filer *f, va_list ap)
{
    int st = 0;

    if (filer_startv(f, &st, ap) != 0) {
        char log[2048];
        it_filer_read_log(f, log, sizeof(log));
        it_fail(__FILE__, __LINE__, "%s exited before it was ready (status 0x%x); log:\n%s",
                f->name, (unsigned)st, log);
    }
}

void it_filer_start_ok(struct it_filer *f, ...)
{
    va_list ap;

    va_start(ap, f);
    it__filer_start_okv(f, ap);
    va_end(ap);
}

bool it_filer_wait_exit(struct it_filer *f, unsigned timeout_ms, int *status)
{
    return child_wait_exit(filer_child(f), timeout_ms, status);
}

void it_filer_signal(const struct it_filer *f, int sig)
{
    child_signal(f->pid, f->name, sig);
}

void it_filer_kill9(struct it_filer *f)
{
    child_kill9(filer_child(f));
}

int it_filer_stop(struct it_filer *f)
{
    return child_stop(filer_child(f));
}

void it_filer_stop_ok(struct it_filer *f)
{
    child_stop_ok(filer_child(f));
}

void it_filer_read_log(const struct it_filer *f, char *out, size_t cap)
{
    read_tail(f->log, out, cap);
}

/* ---- the other roles --------------------------------------------------------- */

static struct child proc_child(struct it_proc *p)
{
    return (struct child){&p->pid, &p->out_fd, p->name};
}

bool it_proc_wait_exit(struct it_proc *p, unsigned timeout_ms, int *status)
{
    return child_wait_exit(proc_child(p), timeout_ms, status);
}

void it_proc_signal(const struct it_proc *p, int sig)
{
    child_signal(p->pid, p->name, sig);
}

void it_proc_kill9(struct it_proc *p)
{
    child_kill9(proc_child(p));
}

int it_proc_stop(struct it_proc *p)
{
    return child_stop(proc_child(p));
}

void it_proc_stop_ok(struct it_proc *p)
{
    child_stop_ok(proc_child(p));
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

void it_proc_read_line(struct it_proc *p, char *out, size_t cap, unsigned timeout_ms)
{
    uint64_t deadline = it__now_ms() + (uint64_t)timeout_ms * it_multiplier();
    int r = read_line(p->out_fd, out, cap, deadline, p->name);
    char log[4096];

    if (r <= 0) {
        if (r < 0)
            it_proc_kill9(p);
        else
            (void)it_proc_wait_exit(p, IT_READY_MS, NULL);
        read_tail(p->log, log, sizeof(log));
        it_fail(__FILE__, __LINE__, "%s %s before a whole line; log:\n%s", p->name,
                r < 0 ? "printed nothing in time" : "exited", log);
    }
}

void it_proc_expect_line(struct it_proc *p, const char *prefix, char *out, size_t cap,
                         unsigned timeout_ms)
{
    char line[1024];
    size_t n = strlen(prefix);

    it_proc_read_line(p, line, sizeof(line), timeout_ms);
    IT_CHECKF(strncmp(line, prefix, n) == 0, "%s: line \"%s\", not \"%s...\"", p->name, line,
              prefix);
    IT_CHECKF(strlen(line + n) < cap, "%s: line \"%s\" is too long", p->name, line);
    memcpy(out, line + n, strlen(line + n) + 1);
}

/* Start args as p, named name (its stderr to <case dir>/<name>.log). */
static void proc_start(struct it_proc *p, const char *name, char **args)
{
    memset(p, 0, sizeof(*p));
    p->pid = -1;
    p->out_fd = -1;
    it_fmt(p->name, sizeof(p->name), "%s", name);
    it_fmt(p->log, IT_PATH_MAX, "%s/%s.log", it_case_dir(), name);
    p->pid = spawn(args, p->log, -1, &p->out_fd);
}

/* Start `coffer ROLE FIXED... EXTRA...` as p, named role, and read its
 * ready line "coffer ROLE listening on http://127.0.0.1:PORT". */
static void role_startv(struct it_proc *p, const char *role, const char *const *fixed,
                        size_t nfixed, va_list ap)
{
    char *args[IT_ARGS_MAX + 1], prefix[64];

    build_args(args, role, fixed, nfixed, ap);
    proc_start(p, role, args);
    it_proc_read_line(p, p->ready_line, sizeof(p->ready_line), IT_READY_MS);
    it_fmt(prefix, sizeof(prefix), "coffer %s listening on ", role);
    parse_url_line(p->ready_line, prefix, p->base, &p->port);
}

void it_app_start_ok(struct it_proc *p, const char *db, ...)
{
    const char *fixed[] = {"--listen", "127.0.0.1:0", "--db", db,          "--replicas",
                           "2",        "--poll-ms",   "200",  "--stall-s", "3"};
    va_list ap;

    va_start(ap, db);
    role_startv(p, "app", fixed, CF_ARRAY_LEN(fixed), ap);
    va_end(ap);
}

void it_objsrv_start_ok(struct it_proc *p, const char *app, ...)
{
    const char *fixed[] = {"--listen",   "127.0.0.1:0", "--app",     app,
                           "--cache-ms", "0",           "--stall-s", "3"};
    va_list ap;

    va_start(ap, app);
    role_startv(p, "objsrv", fixed, CF_ARRAY_LEN(fixed), ap);
    va_end(ap);
}

void it_monitor_start_ok(struct it_proc *p, const char *db, ...)
{
    const char *fixed[] = {"--listen", "127.0.0.1:0",     "--db", db, "--poll-ms",
                           "200",      "--offline-after", "2"};
    va_list ap;

    va_start(ap, db);
    role_startv(p, "monitor", fixed, CF_ARRAY_LEN(fixed), ap);
    va_end(ap);
}

void it_gateway_start_ok(struct it_proc *p, const char *fsdb, const char *app, const char *objsrv,
                         ...)
{
    char key[IT_PATH_MAX];
    const char *fixed[] = {"--listen", "127.0.0.1:0", "--db",       fsdb, "--app",     app,
                           "--objsrv", objsrv,        "--key-file", key,  "--stall-s", "3"};
    va_list ap;

    it_case_path(key, "gateway.key");
    va_start(ap, objsrv);
    role_startv(p, "gateway", fixed, CF_ARRAY_LEN(fixed), ap);
    va_end(ap);
    it_keys_public_base(p->base);
}

/* ---- coffer server ------------------------------------------------------------ */

void it_server_start_ok(struct it_server *s, const char *data, unsigned nfilers, ...)
{
    char *args[IT_ARGS_MAX + 1], dir[IT_PATH_MAX], n[16], line[256], prefix[64];
    char db[IT_PATH_MAX], dbp[64];
    const char *fixed[] = {"--data", dir,    "--port", "0",           "--filers",
                           n,        "--db", db,       "--db-prefix", dbp};
    size_t nfixed = CF_ARRAY_LEN(fixed);
    va_list ap;

    /* On SQLite the catalogs are files under --data (no --db). */
    if (!it_server_pg_args(db, dbp, data))
        nfixed -= 4;
    memset(s, 0, sizeof(*s));
    IT_CHECK(nfilers <= IT_SERVER_FILERS);
    it_case_path(dir, data);
    it_keys_link_into(dir);
    it_fmt(n, sizeof(n), "%u", nfilers);
    va_start(ap, nfilers);
    build_args(args, "server", fixed, nfixed, ap);
    va_end(ap);
    proc_start(&s->p, "server", args);
    it_proc_read_line(&s->p, s->p.ready_line, sizeof(s->p.ready_line), IT_READY_MS);
    IT_CHECKF(strncmp(s->p.ready_line, "coffer server ready: ", 21) == 0,
              "first line \"%s\" is not \"coffer server ready: ...\"", s->p.ready_line);
    it_proc_read_line(&s->p, line, sizeof(line), IT_READY_MS);
    parse_url_line(line, "coffer app listening on ", s->p.base, &s->p.port);
    it_proc_read_line(&s->p, line, sizeof(line), IT_READY_MS);
    parse_url_line(line, "coffer objsrv listening on ", s->objsrv, NULL);
    it_proc_read_line(&s->p, line, sizeof(line), IT_READY_MS);
    parse_url_line(line, "coffer monitor listening on ", s->monitor, NULL);
    for (unsigned i = 0; i < nfilers; i++) {
        it_proc_read_line(&s->p, line, sizeof(line), IT_READY_MS);
        it_fmt(prefix, sizeof(prefix), "coffer filer %u listening on ", i + 1);
        parse_url_line(line, prefix, s->filers[i], NULL);
    }
    s->nfilers = nfilers;
}

/* ---- one-shot commands ----------------------------------------------------- */

int it_coffer_cmd(char *out, size_t cap, const char *in_file, ...)
{
    uint64_t deadline = it__now_ms() + (uint64_t)IT_CMD_MS * it_multiplier();
    char *args[IT_ARGS_MAX + 1], log[IT_PATH_MAX], junk[4096];
    struct it_proc p;
    size_t len = 0;
    int in_fd = -1, st = 0;
    va_list ap;

    va_start(ap, in_file);
    build_args(args, NULL, NULL, 0, ap);
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
        uint64_t now = it__now_ms();
        bool keep = out != NULL && len + 1 < cap;
        ssize_t k;
        int r;

        if (now >= deadline) {
            it_proc_kill9(&p);
            it_fail(__FILE__, __LINE__, "%s ran longer than %u ms", p.name,
                    IT_CMD_MS * it_multiplier());
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
        it_fail(__FILE__, __LINE__, "%s closed stdout but did not exit", p.name);
    }
    return st;
}

int it_exit_code(int status)
{
    int code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);

    if (WIFEXITED(status))
        code = WEXITSTATUS(status);
    return code;
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

char *it_read_file(const char *path, size_t *len)
{
    struct stat st;
    char *buf;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    IT_CHECKF(fd >= 0, "open \"%s\": %s", path, strerror(errno));
    IT_CHECKF(fstat(fd, &st) == 0, "fstat \"%s\": %s", path, strerror(errno));
    buf = cf_xmalloc((size_t)st.st_size + 1);
    while (n < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
        if (k < 0 && errno == EINTR)
            continue;
        IT_CHECKF(k >= 0, "read \"%s\": %s", path, strerror(errno));
        IT_CHECKF(k > 0, "\"%s\" shrank while read", path);
        n += (size_t)k;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

const char *it_coffer_bin(void)
{
    return it__coffer();
}
