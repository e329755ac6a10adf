/*
 * harness.h -- integration-test harness: real `coffer` processes (filers,
 * app, objsrv, server, one-shot commands) on 127.0.0.1, a case runner with
 * hard deadlines, HTTP over libcurl (one request or a batch at once) and raw
 * sockets, deterministic payloads, on-disk and object-database checks.
 *
 * Role: the shared code of every tests/integration/it_*.c (STYLE 2.8). Each
 * executable is run as `it_x COFFER TMPDIR [ARG] [CASE...]` and hands its
 * table of cases to it_run(). it_run forks one child per case, in its own
 * process group, with its own temp directory (mkdtemp under TMPDIR). The
 * parent waits with a deadline; on timeout it kills the whole group (the case
 * and every filer the case started). The temp directory is removed when the
 * case passes; when it fails, the *.log files in it (the filers' stderr) are
 * printed and the directory is kept.
 *
 * Failing: the IT_* check macros print file, line and the expression and exit
 * the case's process with status 1; nothing else is needed to clean up.
 *
 * Waiting: never sleep() for synchronization. it_wait_for() polls a condition
 * a bounded number of times (Redis `wait_for_condition 50 100`); every bound
 * is multiplied by COFFER_TEST_TIMEOUT_MULTIPLIER (environment, default 1).
 *
 * Processes: every process a case starts (filers, it_proc, commands) is
 * registered, killed if the case fails, and must be stopped by a case that
 * passes.
 *
 * Threads: it_http, it_raw_* and the it_gen/it_prng functions may be called
 * from several threads of a case at once (each with its own structs);
 * everything else is for the case's main thread only.
 */
#ifndef COFFER_IT_HARNESS_H
#define COFFER_IT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "coffer/common.h"
#include "coffer/sha512.h"

#define IT_PATH_MAX  1024
#define IT_HDRS_MAX  (16 * 1024)       /* response headers kept by it_http */
#define IT_BODY_KEEP (4 * 1024 * 1024) /* response body bytes kept by it_http */
#define IT_MIB       (1024u * 1024u)

/* ---- the case runner ---------------------------------------------------- */

typedef void (*it_case_cb)(void *arg);

struct it_case {
    const char *name;
    it_case_cb fn;
    void *arg;          /* passed to fn; borrowed, must outlive it_run */
    unsigned timeout_s; /* the case's hard deadline, before the multiplier */
};

/* Run the cases named on the command line (argv[3 + skip_args]...), or all of
 * them. argv[1] is the coffer binary and argv[2] the parent of the temp
 * directories; the skip_args arguments after them belong to the caller.
 * Returns the process exit status: 0 if every case passed. */
int it_run(int argc, char **argv, unsigned skip_args, const struct it_case *cases, size_t n);

/* The COFFER_TEST_TIMEOUT_MULTIPLIER in force (>= 1). */
unsigned it_multiplier(void);

/* snprintf that fails the case on truncation. */
void it_fmt(char *out, size_t cap, const char *fmt, ...) CF_PRINTF(3, 4);

/* The case's temp directory. */
const char *it_case_dir(void);
/* Write "<case temp dir>/<name>" into out (IT_PATH_MAX bytes). */
void it_case_path(char out[IT_PATH_MAX], const char *name);

/* ---- failing a case ------------------------------------------------------ */

CF_NORETURN void it_fail(const char *file, int line, const char *fmt, ...) CF_PRINTF(3, 4);
void it_check_i64(const char *file, int line, const char *what, int64_t got, int64_t want);
void it_check_str(const char *file, int line, const char *what, const char *got, const char *want);

#define IT_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            it_fail(__FILE__, __LINE__, "check failed: %s", #cond);                                \
    } while (0)
#define IT_CHECKF(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            it_fail(__FILE__, __LINE__, __VA_ARGS__);                                              \
    } while (0)
/* Each argument is evaluated once. */
#define IT_EQ(got, want)    it_check_i64(__FILE__, __LINE__, #got, (int64_t)(got), (int64_t)(want))
#define IT_STREQ(got, want) it_check_str(__FILE__, __LINE__, #got, (got), (want))

/* ---- bounded polling ----------------------------------------------------- */

typedef bool (*it_cond_cb)(void *arg);

/* Evaluate cond(arg) up to tries * multiplier times, delay_ms apart.
 * Returns true as soon as it holds, false if it never did. */
bool it_wait_for(it_cond_cb cond, void *arg, unsigned tries, unsigned delay_ms);

/* ---- deterministic payloads ---------------------------------------------- */

/* The payload (seed, size) is the byte stream whose byte at offset p is
 * byte p % 8 (little-endian) of splitmix64(seed + (p / 8) * golden gamma):
 * any range of it can be recomputed without the rest. */
void it_prng_fill(uint64_t seed, uint64_t off, void *buf, size_t n);
void it_prng_sha512(uint64_t seed, uint64_t size, uint8_t out[CF_SHA512_LEN]);

/* A payload read front to back, hashing what it hands out. */
struct it_gen {
    uint64_t seed;
    uint64_t size;
    uint64_t pos; /* bytes handed out so far */
    struct cf_sha512 sha;
};

void it_gen_init(struct it_gen *g, uint64_t seed, uint64_t size);
/* Hand out the next min(cap, size - pos) bytes. Returns how many. */
size_t it_gen_read(struct it_gen *g, void *buf, size_t cap);
/* The SHA-512 of all bytes; requires pos == size. Releases the context. */
void it_gen_final(struct it_gen *g, uint8_t out[CF_SHA512_LEN]);
void it_gen_fini(struct it_gen *g);

/* Convenience: the hex digest of a payload. */
void it_hex(const uint8_t d[CF_SHA512_LEN], char hex[CF_SHA512_HEX_LEN + 1]);

/* ---- filer processes ------------------------------------------------------ */

struct it_filer {
    pid_t pid;  /* -1 when not running */
    int out_fd; /* read end of its stdout; -1 when not running */
    unsigned id;
    unsigned port;         /* from the ready line */
    char dir[IT_PATH_MAX]; /* --dir */
    char log[IT_PATH_MAX]; /* its stderr, appended across restarts */
    char base[64];         /* "http://127.0.0.1:PORT" */
    char ready_line[256];  /* the line it printed, without '\n' */
};

/* Name a filer: --id id, --dir <case dir>/name, stderr to <case dir>/name.log.
 * Starts nothing. */
void it_filer_init(struct it_filer *f, unsigned id, const char *name);

/* Start `coffer filer --id --dir --listen 127.0.0.1:0` plus the extra
 * arguments (strings, NULL-terminated) and wait for its ready line.
 * Returns 0 when ready. Returns -1 if it exited first (its wait status in
 * *status) and fails the case if it neither got ready nor exited in time. */
int it_filer_start(struct it_filer *f, int *status, ...) __attribute__((sentinel));
/* The same, failing the case unless the filer gets ready. */
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
 * Returns true with its wait status in *status, or false. */
bool it_filer_wait_exit(struct it_filer *f, unsigned timeout_ms, int *status);

/* The text of the filer's log, up to cap - 1 bytes of its end, NUL-terminated. */
void it_filer_read_log(const struct it_filer *f, char *out, size_t cap);

/* ---- HTTP over libcurl ---------------------------------------------------- */

/* A request body: a payload, sent with Content-Length or chunked. */
struct it_body {
    struct it_gen gen;
    bool chunked; /* no Content-Length; Transfer-Encoding: chunked */
    bool expect;  /* let curl send Expect: 100-continue (off by default) */
};

struct it_resp {
    long status; /* 0 when no response came */
    int curl_code;
    char hdrs[IT_HDRS_MAX]; /* headers of the final response */
    size_t hdrs_len;
    char *body; /* first IT_BODY_KEEP bytes, NUL-terminated; owned */
    size_t body_len;
    size_t body_cap;            /* bytes allocated at body */
    uint64_t total;             /* all body bytes received */
    uint8_t sha[CF_SHA512_LEN]; /* of all body bytes */
    struct cf_sha512 ctx;
};

/* A reusable connection (keep-alive). it_http accepts NULL for a one-off. */
struct it_client {
    void *easy; /* CURL * */
};

void it_client_init(struct it_client *c);
void it_client_fini(struct it_client *c);

/* Send method target (e.g. "/o/a/b", sent as is) to f with the body (may be
 * NULL) and the extra header lines (NULL-terminated). Fills resp, which the
 * caller releases with it_resp_fini. Returns resp->status. A transport error
 * after a status line arrived is kept in curl_code and is not a failure. */
long it_http(struct it_client *c, const struct it_filer *f, const char *method, const char *target,
             struct it_body *body, struct it_resp *resp, ...) __attribute__((sentinel));
/* The same, to any role: base is "http://127.0.0.1:PORT". */
long it_http_to(struct it_client *c, const char *base, const char *method, const char *target,
                struct it_body *body, struct it_resp *resp, ...) __attribute__((sentinel));
void it_resp_fini(struct it_resp *r);

/* The value of response header name (case-insensitive) copied into out,
 * or false if absent. */
bool it_resp_header(const struct it_resp *r, const char *name, char *out, size_t cap);
/* The body as JSON; fails the case if it is not. Caller owns; json_decref. */
json_t *it_resp_json(const struct it_resp *r);
/* An error reply: one line of JSON with string "error" equal to name (when
 * not NULL) and a string "message". Fails the case otherwise. */
void it_check_error_body(const struct it_resp *r, const char *name);

/* Members of a JSON object, failing the case when absent or mistyped. */
int64_t it_json_int(const json_t *o, const char *key);
const char *it_json_str(const json_t *o, const char *key);
bool it_json_bool(const json_t *o, const char *key);

/* GET /status as JSON (caller owns), and one integer of it. */
json_t *it_status(const struct it_filer *f);
int64_t it_status_int(const struct it_filer *f, const char *key);

/* PUT /o/path with the payload (seed, size); checks the 201 reply (JSON
 * path, size, sha512 and the X-Coffer-SHA512 header) and returns the digest
 * in sha (may be NULL). */
void it_put_ok(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
               uint64_t size, bool chunked, uint8_t sha[CF_SHA512_LEN]);
/* PUT of a payload, returning the status; resp is released. */
long it_put_status(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
                   uint64_t size, bool chunked);
/* Check a 201 reply for (path, size, sha). */
void it_check_put_reply(const struct it_resp *r, const char *path, uint64_t size,
                        const uint8_t sha[CF_SHA512_LEN]);
/* GET /o/path: 200, Content-Length, X-Coffer-SHA512 and the body's SHA-512
 * all match (size, sha). The body is hashed as it streams. */
void it_get_ok(struct it_client *c, const struct it_filer *f, const char *path, uint64_t size,
               const uint8_t sha[CF_SHA512_LEN]);
/* PUT then GET a payload, and check the object's file on disk. */
void it_roundtrip(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
                  uint64_t size, bool chunked);
/* The status of a request without a body; resp released. */
long it_status_of(struct it_client *c, const struct it_filer *f, const char *method,
                  const char *target);

/* ---- raw sockets ---------------------------------------------------------- */

/* Connect to the filer (fails the case on error). The socket is close-on-exec
 * and its reads and writes time out. */
int it_raw_connect(const struct it_filer *f);
/* Connect to 127.0.0.1:port; returns the fd or -errno. */
int it_raw_try_connect(unsigned port);
/* Send all n bytes; returns false if the peer went away. */
bool it_raw_send(int fd, const void *p, size_t n);
/* Send the next n bytes of a payload. Returns false if the peer went away. */
bool it_raw_send_gen(int fd, struct it_gen *g, uint64_t n);
/* Connect and send the header block of a raw PUT of /o/path: Content-Length
 * when size >= 0, else chunked; the body is the caller's to send. */
int it_raw_put_begin(const struct it_filer *f, const char *path, int64_t size);
/* Read a reply until EOF or until its headers and Content-Length body are in.
 * Keeps up to cap - 1 bytes in buf (NUL-terminated). Returns the status,
 * 0 if the connection closed with no status line, or -1 on timeout. */
long it_raw_read_reply(int fd, char *buf, size_t cap);
/* Connect, send n bytes, shut down the write side, read the reply, close.
 * Same returns as it_raw_read_reply. */
long it_raw_exchange(const struct it_filer *f, const void *req, size_t n, char *buf, size_t cap);

/* ---- the filer's directory ------------------------------------------------- */

/* Regular files under dir whose name starts with ".tmp." (recursive). */
unsigned it_count_tmp(const char *dir);
/* Regular files under dir (recursive); 0 if dir is absent. */
unsigned it_count_files(const char *dir);
/* Size of the file of object path in f's store, or -1 if absent. */
int64_t it_object_file_size(const struct it_filer *f, const char *path);
/* Remove the file of object path from f's store behind the filer's back
 * (it must be there). */
void it_object_file_remove(const struct it_filer *f, const char *path);
/* The object's file holds exactly (size, sha). */
void it_check_object_file(const struct it_filer *f, const char *path, uint64_t size,
                          const uint8_t sha[CF_SHA512_LEN]);
/* Invert the byte at off of the object's file in f's store, in place. */
void it_flip_object_byte(const struct it_filer *f, const char *path, uint64_t off);
/* Cut the object's file in f's store to size bytes. */
void it_truncate_object(const struct it_filer *f, const char *path, uint64_t size);
/* Every entry under dir except *.log files, one "path type size mtime" line
 * each, sorted: compare two snapshots to see that nothing changed. Caller
 * owns; free(). */
char *it_tree_snapshot(const char *dir);
/* Wait (bounded) until f's directory holds at least n temporary files: the
 * filer has started writing that many uploads. */
void it_wait_tmp(const struct it_filer *f, unsigned n);
/* Wait (bounded) until f's directory holds no temporary file. */
void it_wait_no_tmp(const struct it_filer *f);

/* ---- many transfers at once (libcurl multi) -------------------------------- */

/* One request of a batch run by it_xfer_run. */
struct it_xfer {
    void *easy;           /* CURL *; owned */
    void *hdrs;           /* struct curl_slist *; owned */
    struct it_body *body; /* kept until it_xfer_fini; may be NULL */
    struct it_resp resp;  /* filled in when the transfer ends (status 0: no response) */
    bool done;
    /* When pause_at > 0 the transfer pauses once, when pause_at bytes of
     * its request body (or, without one, of its response body) have passed,
     * and it_xfer_run calls on_pause before it resumes. */
    uint64_t pause_at;
    int pause_state; /* 0 not yet, 1 paused, 2 resumed */
};

typedef void (*it_pause_cb)(struct it_xfer *x, void *arg);

/* Prepare x like it_http_to (same options and callbacks) without starting it.
 * body (may be NULL) is kept. Release with it_xfer_fini. */
void it_xfer_init(struct it_xfer *x, const char *base, const char *method, const char *target,
                  struct it_body *body, ...) __attribute__((sentinel));
/* Run x[0..n) at once until every one has ended; fails the case if that
 * takes longer than IT_XFER_MS (times the multiplier). on_pause (may be NULL
 * if no transfer pauses) runs on the calling thread while its transfer is
 * paused; the others keep going. */
void it_xfer_run(struct it_xfer *x, size_t n, it_pause_cb on_pause, void *arg);
void it_xfer_fini(struct it_xfer *x);

/* ---- other coffer processes: app, objsrv, server, commands ----------------- */

#define IT_SERVER_FILERS 16
#define IT_URL_MAX       64

/* A `coffer app`, `coffer objsrv` or `coffer server` process, started by
 * it_app_start_ok, it_objsrv_start_ok or it_server_start_ok. */
struct it_proc {
    pid_t pid;             /* -1 when not running */
    int out_fd;            /* read end of its stdout; -1 when not running */
    unsigned port;         /* from its ready line */
    char name[32];         /* in messages; its stderr is <case dir>/<name>.log */
    char log[IT_PATH_MAX]; /* appended across restarts */
    char base[IT_URL_MAX]; /* "http://127.0.0.1:PORT" of its ready line */
    char ready_line[256];  /* without '\n' */
};

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
 * ready: ...", then the app's, objsrv's, the monitor's and each filer's. */
void it_server_start_ok(struct it_server *s, const char *data, unsigned nfilers, ...)
    __attribute__((sentinel));

/* Run `coffer ARGS...` (NULL-terminated) to its end, from a clean
 * environment (no COFFER_*): stdin from in_file (NULL: /dev/null), stdout
 * into out (up to cap - 1 bytes kept, NUL-terminated; out may be NULL if
 * cap is 0), stderr appended to <case dir>/cmd.log. Fails the case if it
 * runs longer than IT_CMD_MS. Returns its wait status. */
int it_coffer_cmd(char *out, size_t cap, const char *in_file, ...) __attribute__((sentinel));

/* Whether the text file at path (its first 16 MiB) contains needle. */
bool it_file_contains(const char *path, const char *needle);

/* ---- the data path: object database, app, objsrv ---------------------------- */

#define IT_REPLICAS_MAX 16

/* An object record as the app reports it (POST /v1/objects, .../info). */
struct it_record {
    char uuid[40];
    char path[256];
    uint64_t size;
    uint8_t sha[CF_SHA512_LEN];
    unsigned replicas;
    size_t nfilers;
    unsigned filers[IT_REPLICAS_MAX]; /* ids, in the order listed */
    char urls[IT_REPLICAS_MAX][IT_URL_MAX];
    char status[IT_REPLICAS_MAX][32]; /* each filer's status as the app sees it */
};

/* The case's object database catalog: "sqlite:<case dir>/catalog.db". */
void it_case_db(char out[IT_PATH_MAX]);
/* `coffer admin filer add --db DB --id ID --url BASE --weight W`; must exit 0. */
void it_admin_filer_add(const char *db, const struct it_filer *f, unsigned weight);
/* `coffer admin shard add --db DB`; must exit 0. */
void it_admin_shard_add(const char *db);
/* Start `coffer app --listen 127.0.0.1:0 --db DB --replicas 2 --poll-ms 200
 * --stall-s 3 ARGS...` (later arguments override) as "app". */
void it_app_start_ok(struct it_proc *p, const char *db, ...) __attribute__((sentinel));
/* Start `coffer monitor --listen 127.0.0.1:0 --db DB --poll-ms 200
 * --offline-after 2 ARGS...` (later arguments override) as "monitor"
 *. */
void it_monitor_start_ok(struct it_proc *p, const char *db, ...) __attribute__((sentinel));
/* Start `coffer objsrv --listen 127.0.0.1:0 --app APP --cache-ms 0
 * --stall-s 3 ARGS...` as "objsrv". */
void it_objsrv_start_ok(struct it_proc *p, const char *app, ...) __attribute__((sentinel));

/* Start `coffer gateway --listen 127.0.0.1:0 --db FSDB --app APP --objsrv
 * OBJSRV --key-file <case dir>/gateway.key --stall-s 3 ARGS...` (later
 * arguments override) as "gateway". */
void it_gateway_start_ok(struct it_proc *p, const char *fsdb, const char *app, const char *objsrv,
                         ...) __attribute__((sentinel));

/* Parse a record, failing the case if it is malformed: uuid canonical,
 * "path" its own filer path or (an alias, dedupe) the filer path of another
 * object of its shard, distinct filer ids, deleted false. */
void it_record_from_json(const json_t *j, struct it_record *rec);
/* Whether filer id is one of rec's. */
bool it_record_has(const struct it_record *rec, unsigned id);

/* Check a reply to POST /v1/objects: 201, a record of (size, sha), with
 * nfilers == replicas, and replicas == r unless r is 0. Fills rec (may be
 * NULL). */
void it_check_upload_reply(const struct it_resp *r, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                           unsigned replicas, struct it_record *rec);
/* POST app/v1/objects[?replicas=r] (r 0: the app's default) with the
 * payload (seed, size), Content-Length or chunked. Returns the status; on
 * 201 the reply is checked as above and rec (may be NULL) filled. */
long it_upload(struct it_client *c, const char *app, uint64_t seed, uint64_t size, unsigned r,
               bool chunked, struct it_record *rec);
/* it_upload that must give 201. */
void it_upload_ok(struct it_client *c, const char *app, uint64_t seed, uint64_t size, unsigned r,
                  bool chunked, struct it_record *rec);
/* GET app/v1/objects/UUID/info. Returns the status; on 200 fills rec. */
long it_info(const char *app, const char *uuid, struct it_record *rec);
/* Check a reply to GET objsrv/v1/objects/UUID: 200 with no transport
 * error, Content-Length, X-Coffer-SHA512 and Accept-Ranges, and a body of
 * exactly rec's size and SHA-512. */
void it_check_download(const struct it_resp *r, const struct it_record *rec);
/* GET objsrv/v1/objects/UUID and check it as above. */
void it_download_ok(struct it_client *c, const char *objsrv, const struct it_record *rec);
/* The bytes of rec are on disk, with its size and SHA-512, on exactly the
 * filers of fl[0..n) that rec lists, and on none of the others; every filer
 * rec lists is in fl. */
void it_check_placement(const struct it_filer *fl, size_t n, const struct it_record *rec);
/* Distinct objects the object database at db lists for filers 1..max_id
 * (through its per-filer index, every shard). */
unsigned it_objdb_count(const char *db, unsigned max_id);

/* A data-path system of separate processes: filers 1..n (dirs f1..fn),
 * their registration and one shard in <case dir>/catalog.db, the app and
 * objsrv. */
#define IT_CLUSTER_MAX 8
struct it_cluster {
    struct it_filer f[IT_CLUSTER_MAX]; /* f[i] has id i + 1 */
    size_t n;
    char db[IT_PATH_MAX];
    struct it_proc app, objsrv;
};

/* Start n filers, filer i + 1 with weight weights[i] (weights may be NULL:
 * all 100) and --read-only when bit i of ro_mask is set; register them and
 * a shard; start the app (with --stall-s stall_s) and objsrv (the same). */
void it_cluster_start(struct it_cluster *c, size_t n, const unsigned *weights, unsigned ro_mask,
                      unsigned stall_s);
/* The pieces of it_cluster_start, for a case that starts the app or objsrv
 * with arguments of its own, or filers one by one.
 * it_cluster_init: c zeroed, no filer, neither the app nor objsrv running
 * (pid -1), c->db the case's catalog (it_case_db). Starts nothing. */
void it_cluster_init(struct it_cluster *c);
/* Start filer c->n + 1 ("f<id>", no other --id/--dir/--listen) with the
 * extra arguments (strings, NULL-terminated), failing the case unless it
 * gets ready; register it in c->db with weight; count it in c->n. */
void it_cluster_add_filer(struct it_cluster *c, unsigned weight, ...) __attribute__((sentinel));
/* it_cluster_init, n filers (weight 100, no extra arguments) and one shard
 * in c->db. Starts neither the app nor objsrv: the caller does, e.g.
 * it_app_start_ok(&c->app, c->db, ...) and it_objsrv_start_ok(&c->objsrv,
 * c->app.base, ...). */
void it_cluster_start_filers(struct it_cluster *c, size_t n);
/* Stop objsrv, the app and every filer still running; each must exit 0. */
void it_cluster_stop(struct it_cluster *c);
/* Wait (bounded) until the app reports filer id with the given status
 * ("online", "offline") in the record of uuid. */
void it_wait_filer_status(const struct it_cluster *c, const char *uuid, unsigned id,
                          const char *status);
/* Wait (bounded) until the filer summary table of the catalog at db lists
 * filer id with the given status ("online", "offline"). The app's tracker
 * writes that table and takes it as its own view in the same poll, so the
 * app sees the filer so too. */
void it_wait_filer_table(const char *db, unsigned id, const char *status);
/* Filers of c whose store holds a file for object path (it_object_file_size
 * >= 0), running or not. */
unsigned it_cluster_copies(const struct it_cluster *c, const char *path);
/* Every object of recs[0..n): the app's record of it now (it_info: 200)
 * lists exactly replicas filers, all of them filers of c and none of them
 * filer gone (0: any may be listed), with the SHA-512 of recs[i]; each filer
 * it lists serves the bytes (it_get_ok). */
void it_cluster_verify(const struct it_cluster *c, const struct it_record *recs, size_t n,
                       unsigned replicas, unsigned gone);

/* ---- deleting and purging objects (the app) --------------------------------- */

/* DELETE app/v1/objects/UUID (mark the object deleted). Returns the status;
 * checks nothing else. uuid is sent as is (a malformed one gets 400). */
long it_object_delete(const char *app_base, const char *uuid);
/* POST app/v1/objects/UUID/undelete. Returns the status; checks nothing
 * else. */
long it_object_undelete(const char *app_base, const char *uuid);

/* What one purge pass reported (POST /v1/admin/purge). */
struct it_purge_counts {
    int64_t moved, purged, failed, skipped, removed, pending, restored, held;
};

/* POST app/v1/admin/purge: run one purge pass now. Fails the case unless the
 * reply is 200 with every count of struct it_purge_counts as an integer. */
struct it_purge_counts it_purge_now(const char *app_base);

/* ---- maintenance jobs (the app's /v1/admin/jobs) ----------------------------- */

/* POST app/v1/admin/jobs {"kind":kind,"args":<args_json>} (args_json is
 * JSON text, e.g. "{}"). Fails the case unless args_json parses and the app
 * answers 202 with the job's "id". Returns that id; does not wait. */
int64_t it_job_start(const char *app_base, const char *kind, const char *args_json);
/* GET app/v1/admin/jobs/ID. Fails the case unless the app answers 200 with
 * JSON. Returns the job (caller owns; json_decref). */
json_t *it_job_get(const char *app_base, int64_t id);
/* Poll the job (it_job_get) up to tries times, delay_ms apart (times the
 * multiplier), until its "state" is no longer "running"; fails the case if
 * it never ends. Returns the ended job, whatever its state (caller owns;
 * json_decref). */
json_t *it_job_wait_end(const char *app_base, int64_t id, unsigned tries, unsigned delay_ms);
/* Poll the job up to tries times, delay_ms apart (times the multiplier),
 * until its "done_objects" is at least at_least. Fails the case if it never
 * is, or if the job is seen in any state but "running" meanwhile. */
void it_job_wait_progress(const char *app_base, int64_t id, int64_t at_least, unsigned tries,
                          unsigned delay_ms);
/* it_job_start, then it_job_wait_end (up to 1200 polls 100 ms apart), then
 * fail the case (with the job's "message") unless it ended "done". Returns
 * the job's report (caller owns; json_decref). */
json_t *it_job_run(const char *app_base, const char *kind, const char *args_json);
/* The integer counter name of a job report's "counters" object. Fails the
 * case if there is no "counters" object or no such integer in it. */
int64_t it_job_counter(const json_t *job, const char *name);

/* ---- the scribe ------------------------------------------------------------ */

/* Events of kind (e.g. CF_SCRIBE_REPAIR) in the scribe of the catalog at
 * db_uri (its events table, read directly; up to CF_SCRIBE_QUERY_MAX). Fails
 * the case if the scribe cannot be opened or queried. Sets the log level of
 * the case's process to WARN (no INFO lines from the database layer). */
int64_t it_scribe_count(const char *db_uri, const char *kind);

#endif
