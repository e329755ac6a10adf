/*
 * proc.h -- the coffer processes of an integration test: filers, the app,
 * objsrv, the monitor, the gateway, `coffer server` and one-shot commands.
 *
 * Role: every process is started from the coffer binary given to it_run,
 * listens on 127.0.0.1 with a port from the kernel (--listen 127.0.0.1:0,
 * --port 0) and is ready when it has printed its ready line on stdout
 * ("coffer ROLE listening on http://127.0.0.1:PORT", https:// for a role
 * given --tls-cert), which gives the port and the scheme.
 * Its stderr is appended to <case dir>/<name>.log, which the runner prints
 * when the case fails. It runs with our environment minus every COFFER_*
 * variable, with default signal dispositions, and dies (SIGKILL) if the
 * case's process does.
 *
 * Ownership: the harness stops only the PIDs it started. Each one is
 * registered with the runner, killed if the case fails, and must be stopped
 * (or reaped) by a case that passes, or the case fails.
 *
 * Waiting: a ready line comes within 15 s, an exit after SIGTERM within 40 s
 * (the drain timeout plus a margin), a command ends within 60 s; each bound
 * times the multiplier. A process that misses its bound fails the case (with
 * its log) and is killed.
 *
 * Threads: the case's main thread only, except it_*_signal.
 */
#ifndef COFFER_IT_PROC_H
#define COFFER_IT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness/runner.h"

#define IT_URL_MAX       64 /* "http://127.0.0.1:PORT" and a margin */
#define IT_SERVER_FILERS 16

/* ---- filers ----------------------------------------------------------------- */

struct it_filer {
    pid_t pid;  /* -1 when not running */
    int out_fd; /* read end of its stdout; -1 when not running */
    unsigned id;
    char name[32];         /* "filer ID", in messages */
    unsigned port;         /* from the ready line */
    char dir[IT_PATH_MAX]; /* --dir */
    char log[IT_PATH_MAX]; /* its stderr, appended across restarts */
    char base[IT_URL_MAX]; /* "http://127.0.0.1:PORT" */
    char ready_line[256];  /* the line it printed, without '\n' */
};

/* Name a filer: --id id, --dir <case dir>/name (created if absent), stderr
 * to <case dir>/name.log. Starts nothing. */
void it_filer_init(struct it_filer *f, unsigned id, const char *name);

/* Start `coffer filer --id --dir --listen 127.0.0.1:0` plus the extra
 * arguments (strings, NULL-terminated; a later --listen overrides) and wait
 * for its ready line. Returns 0 when ready. Returns -1 if it exited first
 * (its wait status in *status, which may be NULL) and fails the case if it
 * neither got ready nor exited in time. */
int it_filer_start(struct it_filer *f, int *status, ...) __attribute__((sentinel));
/* The same, failing the case (with the filer's log) unless it gets ready. */
void it_filer_start_ok(struct it_filer *f, ...) __attribute__((sentinel));

/* SIGTERM, wait (bounded) for the exit, SIGKILL if it does not come.
 * Returns the wait status, or -1 if SIGKILL was needed. */
int it_filer_stop(struct it_filer *f);
/* it_filer_stop, failing the case unless the filer exited with status 0. */
void it_filer_stop_ok(struct it_filer *f);
/* SIGKILL and reap. */
void it_filer_kill9(struct it_filer *f);
/* Send a signal to the filer (it must be running). */
void it_filer_signal(const struct it_filer *f, int sig);
/* Wait up to timeout_ms (times the multiplier) for the filer to exit.
 * Returns true with its wait status in *status (may be NULL), or false. */
bool it_filer_wait_exit(struct it_filer *f, unsigned timeout_ms, int *status);

/* The text of the filer's log, up to cap - 1 bytes of its end, NUL-terminated. */
void it_filer_read_log(const struct it_filer *f, char *out, size_t cap);

/* ---- the other roles ------------------------------------------------------- */

/* A `coffer app`, `objsrv`, `monitor`, `gateway` or `server` process. */
struct it_proc {
    pid_t pid;             /* -1 when not running */
    int out_fd;            /* read end of its stdout; -1 when not running */
    unsigned port;         /* from its ready line */
    char name[32];         /* in messages; its stderr is <case dir>/<name>.log */
    char log[IT_PATH_MAX]; /* appended across restarts */
    char base[IT_URL_MAX]; /* "http[s]://127.0.0.1:PORT" of its ready line */
    char ready_line[256];  /* without '\n' */
};

/* Start `coffer app --listen 127.0.0.1:0 --db DB --replicas 2 --poll-ms 200
 * --stall-s 3 ARGS...` (later arguments override) as "app". */
void it_app_start_ok(struct it_proc *p, const char *db, ...) __attribute__((sentinel));
/* Start `coffer objsrv --listen 127.0.0.1:0 --app APP --cache-ms 0
 * --stall-s 3 ARGS...` as "objsrv". */
void it_objsrv_start_ok(struct it_proc *p, const char *app, ...) __attribute__((sentinel));
/* Start `coffer monitor --listen 127.0.0.1:0 --db DB --poll-ms 200
 * --offline-after 2 ARGS...` (later arguments override) as "monitor". */
void it_monitor_start_ok(struct it_proc *p, const char *db, ...) __attribute__((sentinel));
/* Start `coffer gateway --listen 127.0.0.1:0 --db FSDB --app APP --objsrv
 * OBJSRV --key-file <case dir>/gateway.key --stall-s 3 ARGS...` (later
 * arguments override) as "gateway". */
void it_gateway_start_ok(struct it_proc *p, const char *fsdb, const char *app, const char *objsrv,
                         ...) __attribute__((sentinel));
/* Each of these fails the case, with the process's log, if it exits or
 * stays silent before its ready line. db, app, fsdb and objsrv are
 * borrowed. */

/* SIGTERM, wait (bounded) for the exit, SIGKILL if it does not come.
 * Returns the wait status, or -1 if SIGKILL was needed. */
int it_proc_stop(struct it_proc *p);
/* it_proc_stop, failing the case unless it exited with status 0. */
void it_proc_stop_ok(struct it_proc *p);
/* SIGKILL and reap. */
void it_proc_kill9(struct it_proc *p);
/* Send a signal (it must be running). */
void it_proc_signal(const struct it_proc *p, int sig);
/* Wait up to timeout_ms (times the multiplier) for the exit. Returns true
 * with its wait status in *status (may be NULL), or false. */
bool it_proc_wait_exit(struct it_proc *p, unsigned timeout_ms, int *status);
/* Peak resident set size (VmHWM) of a running process, in bytes. */
uint64_t it_proc_peak_rss(const struct it_proc *p);
/* Read the next line of p's stdout into out (cap bytes, without the '\n'),
 * waiting up to timeout_ms (times the multiplier). Fails the case, with the
 * end of p's log, if p exits or prints no whole line in time (then p is
 * killed), or if the line does not fit. */
void it_proc_read_line(struct it_proc *p, char *out, size_t cap, unsigned timeout_ms);
/* Read p's next line as it_proc_read_line does and check that it begins
 * with prefix (borrowed); the rest of the line goes into out (cap bytes).
 * Fails the case, quoting the line, if it does not begin so or the rest
 * does not fit. */
void it_proc_expect_line(struct it_proc *p, const char *prefix, char *out, size_t cap,
                         unsigned timeout_ms);

/* ---- coffer server ------------------------------------------------------------ */

/* `coffer server`: every role in one process. */
struct it_server {
    struct it_proc p;                          /* p.base is the app's URL */
    char objsrv[IT_URL_MAX];                   /* objsrv's base URL */
    char monitor[IT_URL_MAX];                  /* the monitor's base URL */
    unsigned nfilers;                          /* from its filer lines */
    char filers[IT_SERVER_FILERS][IT_URL_MAX]; /* filer i + 1's base URL */
};

/* Start `coffer server --data <case dir>/<data> --port 0 --filers N ARGS...`
 * (stderr to <case dir>/server.log) and read its ready lines: "coffer server
 * ready: ...", then the app's, objsrv's, the monitor's and each filer's.
 * Lines after those (the gateway's) are left unread in s->p.out_fd.
 * On PostgreSQL (runner.h) the server keeps its metadata there: --db and
 * --db-prefix from it_server_pg_args(.., data). */
void it_server_start_ok(struct it_server *s, const char *data, unsigned nfilers, ...)
    __attribute__((sentinel));

/* ---- one-shot commands ----------------------------------------------------- */

/* Run `coffer ARGS...` (NULL-terminated) to its end, from a clean
 * environment (no COFFER_*): stdin from in_file (NULL: /dev/null), stdout
 * into out (up to cap - 1 bytes kept, NUL-terminated; out may be NULL if
 * cap is 0), stderr appended to <case dir>/cmd.log. Fails the case if it
 * runs longer than 60 s (times the multiplier). Returns its wait status. */
int it_coffer_cmd(char *out, size_t cap, const char *in_file, ...) __attribute__((sentinel));

/* The coffer binary the cases run, as given to the case runner, for a
 * case that runs it through a shell. */
const char *it_coffer_bin(void);

/* The exit status in a wait status, or 128 + the signal that ended the
 * process (as a shell reports it). */
int it_exit_code(int status);

/* Whether the text file at path (its first 16 MiB) contains needle. Fails
 * the case if the file cannot be read. */
bool it_file_contains(const char *path, const char *needle);

/* The whole file at path (borrowed), NUL-terminated (caller owns; free()),
 * its size in *len. Fails the case if it cannot be read. */
char *it_read_file(const char *path, size_t *len);

#endif
