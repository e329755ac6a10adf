/*
 * sync.c -- `coffer sync`: a local folder and a folder of the gateway, or
 * folders of two coffer systems, kept in step in both directions (README
 * "Sync").
 *
 * The engine sees two sides, each a local directory or a remote folder
 * reached through a gateway session. The state (a SQLite file in the state
 * directory, LOCAL_DIR/.coffer-sync/ by default) holds, per side, its last
 * known view (path -> SHA-512, size, and a token: a local file's size and
 * mtime, a remote file's version id), the base (path -> the SHA-512 both
 * sides last agreed on), and each remote side's journal cursor.
 *
 * A pass: refresh each side's view (local: a scan that hashes only files
 * whose size or mtime moved; remote: the changes after the cursor from GET
 * /api/v1/changes, or a full listing the first time or after a 410), then
 * merge three ways per path (side 0, side 1, base): changed on one side
 * only -> copied over (or deleted: to the remote trash, or to
 * STATE/trash/), changed on both -> both kept, side 0's under a conflict
 * name. A delete and a copy of the same content to one side become a move.
 * Every action updates the state as soon as it is done, so a pass killed at
 * any moment is finished by the next one: the merge is idempotent.
 *
 * Downloads go to STATE/partial/ and are resumed with Range after a kill,
 * checked against the SHA-512, then renamed into place. Uploads stream the
 * file; one killed is sent whole again.
 *
 * Threads: the pass runs on the main thread. --watch adds one thread per
 * remote side that long-polls the journal and wakes the main loop through a
 * pipe; it reads only the published cursor (atomic) and its own session copy.
 */
#include "coffer/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coffer/buf.h"
#include "coffer/common.h"
#include "coffer/conf.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/sha512.h"
#include "cli_int.h"

#define CMD            "sync"
#define FS_PREFIX      "/api/v1/fs"
#define CHANGES_PREFIX "/api/v1/changes"
#define STATE_NAME     ".coffer-sync"
#define PAGE           "1000"
#define WATCH_WAIT_S   "25"
#define RETRY_MAX_MS   30000
#define RESCAN_MS      60000
#define PATHBUF        (CF__CLI_PATH_MAX + 256)
#define SHA_HEX        (CF_SHA512_HEX_LEN + 1)

struct sync_conf {
    char *gateway;
    char *token_file;
    char *token;
    char *ca;
    char *peer_gateway;
    char *peer_token_file;
    char *peer_ca;
    char *state;
    bool watch;
    bool once;
    uint64_t max_rate;
    uint64_t debounce_ms;
};

#define OFF(f) offsetof(struct sync_conf, f)
static const struct cf_conf_opt sync_opts[] = {
    CF__CLI_SESS_OPTS(OFF),
    {"ca", CF_CONF_STR, NULL, 0, 0, OFF(ca), "CA certificate (PEM) of an https:// gateway", false},
    {"peer-token-file", CF_CONF_STR, NULL, 0, 0, OFF(peer_token_file),
     "two systems: the token file of a login to the second system (then both paths are remote)",
     false},
    {"peer-gateway", CF_CONF_STR, NULL, 0, 0, OFF(peer_gateway),
     "two systems: the second system's gateway URL (default: its login's)", false},
    {"peer-ca", CF_CONF_STR, NULL, 0, 0, OFF(peer_ca), "two systems: the second system's CA",
     false},
    {"state", CF_CONF_STR, NULL, 0, 0, OFF(state),
     "state directory (default LOCAL_DIR/.coffer-sync; required for two systems)", false},
    {"watch", CF_CONF_BOOL, "false", 0, 0, OFF(watch),
     "keep running: sync again on local changes (inotify) and remote ones (long-poll)", false},
    {"once", CF_CONF_BOOL, "false", 0, 0, OFF(once), "one pass, then exit (the default)", false},
    {"max-rate", CF_CONF_U64, "0", 0, UINT64_MAX, OFF(max_rate),
     "bytes per second each transfer may move at most; 0: no cap", false},
    {"debounce-ms", CF_CONF_U64, "500", 0, 60000, OFF(debounce_ms),
     "--watch: quiet time after a local change before a pass", false},
};

enum side_kind { SIDE_LOCAL, SIDE_REMOTE };

struct side {
    enum side_kind kind;
    int id;            /* 0 or 1: its rows in the state */
    const char *label; /* in messages */
    /* local: the directory, absolute, no trailing '/'; remote: the folder
     * path, no trailing '/' ("" for the root) */
    char root[CF__CLI_PATH_MAX];
    struct cf__cli_sess sess;
    /* Where the session came from (borrowed options), to read it again
     * before each --watch pass: a new coffer login is picked up. */
    const char *token_file, *token, *gateway, *ca;
    pthread_mutex_t sess_mu;     /* guards sess: written by the main thread, copied by the poller */
    bool rescan;                 /* the next refresh lists everything */
    bool root_gone;              /* the remote folder was deleted or moved away */
    _Atomic uint64_t cursor_pub; /* --watch: 1 + the cursor of the last refresh; 0: none yet */
    int wake_fd;                 /* --watch: the poller writes here */
    uint64_t max_rate;
};

enum act_kind { A_BASE, A_COPY, A_DEL, A_MOVE, A_CONFLICT };

struct act {
    enum act_kind kind;
    char *path;
    char *path2;       /* A_MOVE: the destination */
    int from, to;      /* A_COPY: sides; A_DEL, A_MOVE: `to` is the side acted on */
    char sha[SHA_HEX]; /* A_COPY, A_MOVE: the content; A_BASE: the agreed one ("" none) */
    uint64_t size;
    bool dest_empty; /* A_COPY: nothing at path on `to` */
    bool dropped;    /* merged into a move */
};

struct sync {
    struct side s[2];
    char state[CF__CLI_PATH_MAX]; /* the state directory */
    struct cf_db *db;
    char host[64];
    int inotify_fd; /* --watch, else -1 */
    /* progress of the pass */
    size_t files_done, files_total;
    uint64_t bytes_done, bytes_total;
    unsigned n_up, n_down, n_del, n_move, n_conflict, n_fail;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---- the state ---- */

static const char state_schema[] =
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS view (side INTEGER NOT NULL, path TEXT NOT NULL,"
    " sha TEXT NOT NULL, size INTEGER NOT NULL, token TEXT NOT NULL,"
    " seen INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (side, path));"
    "CREATE TABLE IF NOT EXISTS base (path TEXT PRIMARY KEY, sha TEXT NOT NULL);";

static int db_fail(const char *what, const char *err)
{
    fprintf(stderr, "coffer sync: state: %s: %s\n", what, err);
    return 1;
}

static int meta_get(struct sync *sy, const char *k, char *out, size_t cap)
{
    struct cf_db_stmt *s = NULL;
    char err[CF_ERR_LEN] = "";
    int rc;

    out[0] = '\0';
    rc = cf_db_query(sy->db, &s, err, "SELECT v FROM meta WHERE k = ?1", "t", k);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_ROW)
        rc = cf_db_column_copy_text(s, 0, out, cap);
    cf_db_finalize(s);
    if (rc < 0)
        return db_fail("read", err);
    return 0;
}

static int meta_set(struct sync *sy, const char *k, const char *v)
{
    char err[CF_ERR_LEN] = "";

    if (cf_db_run(sy->db, NULL, 0, err,
                  "INSERT INTO meta (k, v) VALUES (?1, ?2)"
                  " ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                  "tt", k, v) < 0)
        return db_fail("write", err);
    return 0;
}

static int view_put(struct sync *sy, int side, const char *path, const char *sha, uint64_t size,
                    const char *token)
{
    char err[CF_ERR_LEN] = "";

    if (cf_db_run(sy->db, NULL, 0, err,
                  "INSERT INTO view (side, path, sha, size, token, seen)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, 1) ON CONFLICT (side, path) DO UPDATE SET"
                  " sha = excluded.sha, size = excluded.size, token = excluded.token, seen = 1",
                  "ittit", (int64_t)side, path, sha, (int64_t)size, token) < 0)
        return db_fail("write", err);
    return 0;
}

/* The view row of path on side: 1 found (sha, size, token filled; each may
 * be NULL), 0 none, or 1 + message on failure (as -1). */
static int view_get(struct sync *sy, int side, const char *path, char *sha, uint64_t *size,
                    char *token, size_t token_cap)
{
    struct cf_db_stmt *s = NULL;
    char err[CF_ERR_LEN] = "";
    int rc;

    rc = cf_db_query(sy->db, &s, err,
                     "SELECT sha, size, token FROM view WHERE side = ?1 AND path = ?2", "it",
                     (int64_t)side, path);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_ROW) {
        if (sha != NULL)
            rc = cf_db_column_copy_text(s, 0, sha, SHA_HEX);
        if (rc >= 0 && size != NULL)
            *size = (uint64_t)cf_db_column_int64(s, 1);
        if (rc >= 0 && token != NULL)
            rc = cf_db_column_copy_text(s, 2, token, token_cap);
        if (rc >= 0)
            rc = 1;
    } else if (rc == CF_DB_DONE) {
        rc = 0;
    }
    cf_db_finalize(s);
    if (rc < 0) {
        (void)db_fail("read", err);
        return -1;
    }
    return rc;
}

/* Delete path's row on side, or (tree) path and everything below it; path
 * "" with tree: the whole side. */
static int view_del(struct sync *sy, int side, const char *path, bool tree)
{
    char err[CF_ERR_LEN] = "";
    int rc;

    if (tree)
        rc = cf_db_run(sy->db, NULL, 0, err,
                       "DELETE FROM view WHERE side = ?1 AND (path = ?2 OR"
                       " substr(path, 1, length(?2) + 1) = ?2 || '/')",
                       "it", (int64_t)side, path);
    else
        rc = cf_db_run(sy->db, NULL, 0, err, "DELETE FROM view WHERE side = ?1 AND path = ?2", "it",
                       (int64_t)side, path);
    if (rc < 0)
        return db_fail("write", err);
    return 0;
}

/* Rename every row of side below folder from to below folder to. */
static int view_move_tree(struct sync *sy, int side, const char *from, const char *to)
{
    char err[CF_ERR_LEN] = "";

    if (view_del(sy, side, to, true) != 0)
        return 1;
    if (cf_db_run(sy->db, NULL, 0, err,
                  "UPDATE view SET path = ?3 || substr(path, length(?2) + 1)"
                  " WHERE side = ?1 AND substr(path, 1, length(?2) + 1) = ?2 || '/'",
                  "itt", (int64_t)side, from, to) < 0)
        return db_fail("write", err);
    return 0;
}

static int base_set(struct sync *sy, const char *path, const char *sha)
{
    char err[CF_ERR_LEN] = "";
    int rc;

    if (sha == NULL || sha[0] == '\0')
        rc = cf_db_run(sy->db, NULL, 0, err, "DELETE FROM base WHERE path = ?1", "t", path);
    else
        rc = cf_db_run(sy->db, NULL, 0, err,
                       "INSERT INTO base (path, sha) VALUES (?1, ?2)"
                       " ON CONFLICT (path) DO UPDATE SET sha = excluded.sha",
                       "tt", path, sha);
    if (rc < 0)
        return db_fail("write", err);
    return 0;
}

static int begin(struct sync *sy)
{
    char err[CF_ERR_LEN] = "";

    if (cf_db_begin(sy->db, err) < 0)
        return db_fail("begin", err);
    return 0;
}

/* End the transaction begin() opened: commit when rc is 0, else roll back.
 * Returns rc, or the commit's failure. */
static int finish(struct sync *sy, int rc)
{
    char err[CF_ERR_LEN] = "";

    if (rc != 0) {
        cf_db_rollback(sy->db);
        return rc;
    }
    if (cf_db_commit(sy->db, err) < 0)
        return db_fail("commit", err);
    return 0;
}

/* ---- small helpers ---- */

/* mkdir -p of the directories above file path p (absolute). */
static int mkdirs_for(const char *p)
{
    char buf[PATHBUF];
    size_t n = strlen(p);

    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, p, n + 1);
    for (char *q = buf + 1; *q != '\0'; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *q = '/';
    }
    return 0;
}

/* A local file's token: "SIZE:MTIME_NS". */
static void local_token(const struct stat *st, char out[64])
{
    (void)snprintf(out, 64, "%" PRId64 ":%" PRId64, (int64_t)st->st_size,
                   (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
}

/* The SHA-512 (hex) of file p. Returns 0 or -1 (errno). */
static int hash_file(const char *p, char hex[SHA_HEX])
{
    struct cf_sha512 ctx;
    uint8_t d[CF_SHA512_LEN];
    char buf[65536];
    FILE *f = fopen(p, "rb");
    size_t n;
    int rc = -1;

    if (f == NULL)
        return -1;
    if (cf_sha512_init(&ctx) < 0)
        goto out;
    for (;;) {
        n = fread(buf, 1, sizeof(buf), f);
        if (n == 0)
            break;
        if (cf_sha512_update(&ctx, buf, n) < 0)
            goto out;
    }
    if (ferror(f) || cf_sha512_final(&ctx, d) < 0)
        goto out;
    cf_sha512_hex(d, hex);
    rc = 0;
out:
    cf_sha512_fini(&ctx);
    (void)fclose(f);
    return rc;
}

static void join(char *out, size_t cap, const char *a, const char *b)
{
    (void)snprintf(out, cap, "%s%s", a, b);
}

/* "NAME (conflict HOST YYYY-MM-DD HHMMSS).EXT" for path (rel, "/.../NAME.EXT"). */
static char *conflict_name(const struct sync *sy, const char *path)
{
    const char *slash = strrchr(path, '/'), *dot;
    char when[32];
    struct tm tm;
    time_t t = time(NULL);
    char out[2 * PATHBUF];
    int n;

    if (localtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%d %H%M%S", &tm) == 0)
        (void)snprintf(when, sizeof(when), "%lld", (long long)t);
    dot = strrchr(slash + 1, '.');
    if (dot == slash + 1)
        dot = NULL; /* ".profile": no extension */
    if (dot == NULL)
        n = snprintf(out, sizeof(out), "%s (conflict %s %s)", path, sy->host, when);
    else
        n = snprintf(out, sizeof(out), "%.*s (conflict %s %s)%s", (int)(dot - path), path, sy->host,
                     when, dot);
    return cf_xstrdup(n > 0 && (size_t)n < sizeof(out) ? out : path);
}

static void progress(struct sync *sy, const char *what, const char *path)
{
    fprintf(stderr, "coffer sync: [%zu/%zu files, %.1f/%.1f MiB] %s %s\n", sy->files_done,
            sy->files_total, (double)sy->bytes_done / 1048576.0,
            (double)sy->bytes_total / 1048576.0, what, path);
}

/* Rename src to dst; across file systems (a --state elsewhere), copy to a
 * temporary beside dst, then rename it. Returns 0 or -1 (errno). */
static int move_into_place(const char *src, const char *dst)
{
    char tmp[PATHBUF + 32], buf[65536];
    FILE *in, *out;
    size_t n;
    int rc = 0;

    if (rename(src, dst) == 0)
        return 0;
    if (errno != EXDEV)
        return -1;
    (void)snprintf(tmp, sizeof(tmp), "%s.coffer-sync-tmp", dst);
    in = fopen(src, "rb");
    out = in != NULL ? fopen(tmp, "wb") : NULL;
    if (in == NULL || out == NULL)
        rc = -1;
    while (rc == 0) {
        n = fread(buf, 1, sizeof(buf), in);
        if (n == 0)
            break;
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    }
    if (in != NULL && ferror(in))
        rc = -1;
    if (out != NULL && (fflush(out) != 0 || fsync(fileno(out)) != 0))
        rc = -1;
    if (out != NULL && fclose(out) != 0)
        rc = -1;
    if (in != NULL)
        (void)fclose(in);
    if (rc == 0)
        rc = rename(tmp, dst);
    if (rc != 0)
        (void)unlink(tmp);
    else
        (void)unlink(src);
    return rc;
}

/* ---- remote requests ---- */

/* One request of side to prefix + (side root + rel) with query q; quiet
 * (the caller reads x->status). Returns as cf__cli_gwreq_run. */
static int remote_req(struct side *sd, struct cf__cli_gwreq *x, const char *method,
                      const char *prefix, const char *rel, const char *const *q, int64_t in_size)
{
    char full[PATHBUF];
    struct cf_buf u;
    int rc;

    cf_buf_init(&u, CF__CLI_GW_URL_MAX);
    x->quiet = true;
    x->max_rate = sd->max_rate;
    if (rel != NULL)
        join(full, sizeof(full), sd->root, rel[0] == '\0' && sd->root[0] == '\0' ? "/" : rel);
    if (cf__cli_gw_url(&u, &sd->sess, prefix, rel != NULL ? full : NULL, q) < 0) {
        fprintf(stderr, "coffer sync: %s: path too long\n", sd->label);
        cf_buf_fini(&u);
        return 1;
    }
    rc = cf__cli_gwreq_run(x, &sd->sess, method, u.base, in_size);
    cf_buf_fini(&u);
    return rc;
}

static void remote_fail(const struct side *sd, const char *what, const char *rel,
                        const struct cf__cli_gwreq *x)
{
    const char *msg = json_string_value(json_object_get(x->json, "error"));

    if (rel[0] == '\0')
        rel = "/";
    if (x->status == 0)
        fprintf(stderr, "coffer sync: %s: %s %s: no answer (unreachable?)\n", sd->label, what, rel);
    else
        fprintf(stderr, "coffer sync: %s: %s %s: HTTP %ld%s%s\n", sd->label, what, rel, x->status,
                msg != NULL ? ": " : "", msg != NULL ? msg : "");
}

/* mkdir -p of the remote folders above rel (and rel itself when self). */
static int remote_mkdirs(struct side *sd, const char *rel, bool self)
{
    char buf[PATHBUF];
    size_t n;
    static const char *const q[] = {"op", "mkdir", NULL};

    join(buf, sizeof(buf), sd->root, rel);
    n = strlen(buf);
    for (size_t i = 1; i <= n; i++) {
        struct cf__cli_gwreq x;
        char save;
        int rc;

        if (buf[i] != '/' && !(self && i == n))
            continue;
        save = buf[i];
        buf[i] = '\0';
        cf__cli_gwreq_init(&x, CMD);
        x.quiet = true;
        {
            struct cf_buf u;
            cf_buf_init(&u, CF__CLI_GW_URL_MAX);
            rc = cf__cli_gw_url(&u, &sd->sess, FS_PREFIX, buf, q) < 0
                     ? 1
                     : cf__cli_gwreq_run(&x, &sd->sess, "POST", u.base, -1);
            cf_buf_fini(&u);
        }
        buf[i] = save;
        if (rc != 0 && x.status != 409) {
            remote_fail(sd, "mkdir", buf, &x);
            cf__cli_gwreq_fini(&x);
            return 1;
        }
        cf__cli_gwreq_fini(&x);
    }
    return 0;
}

/* ---- refreshing a side's view ---- */

/* Local: walk dir (abs) whose relative path is rel, marking rows seen and
 * hashing files whose token moved. */
static int local_walk(struct sync *sy, struct side *sd, const char *dir, const char *rel)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "coffer sync: cannot read %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (sy->inotify_fd >= 0)
        (void)inotify_add_watch(sy->inotify_fd, dir,
                                IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                    IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MODIFY);
    while (rc == 0) {
        char abs[PATHBUF], r[PATHBUF], token[64], old[64], sha[SHA_HEX];
        struct stat st;
        int got;

        de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (rel[0] == '\0' && strcmp(de->d_name, STATE_NAME) == 0)
            continue;
        (void)snprintf(abs, sizeof(abs), "%s/%s", dir, de->d_name);
        (void)snprintf(r, sizeof(r), "%s/%s", rel, de->d_name);
        if (lstat(abs, &st) != 0)
            continue; /* gone meanwhile */
        if (S_ISDIR(st.st_mode)) {
            rc = local_walk(sy, sd, abs, r);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue; /* links, devices: not synced */
        local_token(&st, token);
        got = view_get(sy, sd->id, r, sha, NULL, old, sizeof(old));
        if (got < 0)
            rc = 1;
        else if (got == 1 && strcmp(old, token) == 0)
            rc = view_put(sy, sd->id, r, sha, (uint64_t)st.st_size, token);
        else if (hash_file(abs, sha) != 0)
            fprintf(stderr, "coffer sync: cannot read %s: %s (skipped)\n", abs, strerror(errno));
        else
            rc = view_put(sy, sd->id, r, sha, (uint64_t)st.st_size, token);
    }
    (void)closedir(d);
    return rc;
}

static int mark_unseen(struct sync *sy, int side)
{
    char err[CF_ERR_LEN] = "";

    if (cf_db_run(sy->db, NULL, 0, err, "UPDATE view SET seen = 0 WHERE side = ?1", "i",
                  (int64_t)side) < 0)
        return db_fail("write", err);
    return 0;
}

static int sweep_unseen(struct sync *sy, int side)
{
    char err[CF_ERR_LEN] = "";

    if (cf_db_run(sy->db, NULL, 0, err, "DELETE FROM view WHERE side = ?1 AND seen = 0", "i",
                  (int64_t)side) < 0)
        return db_fail("write", err);
    return 0;
}

static int local_refresh(struct sync *sy, struct side *sd)
{
    int rc = begin(sy);

    if (rc == 0)
        rc = mark_unseen(sy, sd->id);
    if (rc == 0)
        rc = local_walk(sy, sd, sd->root, "");
    if (rc == 0)
        rc = sweep_unseen(sy, sd->id);
    rc = finish(sy, rc);
    return rc;
}

/* Put a remote file's JSON (a listing entry or a change: sha512, size,
 * version) into side's view at rel. */
static int remote_view_put(struct sync *sy, struct side *sd, const char *rel, const json_t *j)
{
    const char *sha = json_string_value(json_object_get(j, "sha512"));
    char token[32];

    if (sha == NULL || strlen(sha) != CF_SHA512_HEX_LEN)
        return 0; /* not a file's */
    (void)snprintf(token, sizeof(token), "%" PRId64,
                   (int64_t)json_integer_value(json_object_get(j, "version")));
    return view_put(sy, sd->id, rel, sha, (uint64_t)json_integer_value(json_object_get(j, "size")),
                    token);
}

/* List the remote folder at rel and everything below it into the view.
 * *missing: the folder does not exist (only read when not NULL). */
static int remote_list(struct sync *sy, struct side *sd, const char *rel, bool *missing)
{
    char after[1024] = "";
    int rc = 0;

    for (;;) {
        struct cf__cli_gwreq x;
        const char *q[] = {"after", after[0] != '\0' ? after : NULL, NULL};
        const json_t *entries;
        const char *next;

        cf__cli_gwreq_init(&x, CMD);
        if (remote_req(sd, &x, "GET", FS_PREFIX, rel, q, -1) != 0) {
            if (x.status == 404 && missing != NULL) {
                *missing = true;
                cf__cli_gwreq_fini(&x);
                return 0;
            }
            if (x.status != 404) {
                remote_fail(sd, "list", rel[0] != '\0' ? rel : "/", &x);
                rc = 1;
            }
            cf__cli_gwreq_fini(&x);
            return rc;
        }
        entries = json_object_get(x.json, "entries");
        for (size_t i = 0; rc == 0 && i < json_array_size(entries); i++) {
            const json_t *e = json_array_get(entries, i);
            const char *name = json_string_value(json_object_get(e, "name"));
            const char *type = json_string_value(json_object_get(e, "type"));
            char r[PATHBUF];

            if (name == NULL || type == NULL)
                continue;
            (void)snprintf(r, sizeof(r), "%s/%s", rel, name);
            if (strcmp(type, "folder") == 0)
                rc = remote_list(sy, sd, r, NULL);
            else
                rc = remote_view_put(sy, sd, r, e);
        }
        next = json_string_value(json_object_get(x.json, "next"));
        if (next != NULL)
            (void)snprintf(after, sizeof(after), "%s", next);
        cf__cli_gwreq_fini(&x);
        if (rc != 0 || next == NULL)
            return rc;
    }
}

/* The end of side's journal. */
static int remote_latest(struct side *sd, uint64_t *cursor)
{
    static const char *const q[] = {"cursor", "latest", NULL};
    struct cf__cli_gwreq x;
    int rc;

    cf__cli_gwreq_init(&x, CMD);
    rc = remote_req(sd, &x, "GET", CHANGES_PREFIX, NULL, q, -1);
    if (rc != 0)
        remote_fail(sd, "changes", "", &x);
    else
        *cursor = (uint64_t)json_integer_value(json_object_get(x.json, "cursor"));
    cf__cli_gwreq_fini(&x);
    return rc;
}

static int save_cursor(struct sync *sy, struct side *sd, uint64_t cursor)
{
    char k[16], v[32];

    (void)snprintf(k, sizeof(k), "cursor%d", sd->id);
    (void)snprintf(v, sizeof(v), "%" PRIu64, cursor);
    atomic_store(&sd->cursor_pub, cursor + 1);
    return meta_set(sy, k, v);
}

/* A full listing of the remote side, from the journal's end. */
static int remote_full(struct sync *sy, struct side *sd)
{
    uint64_t cursor = 0;
    bool missing = false;
    int rc;

    rc = remote_latest(sd, &cursor);
    if (rc != 0)
        return rc;
    rc = begin(sy);
    if (rc == 0)
        rc = mark_unseen(sy, sd->id);
    if (rc == 0)
        rc = remote_list(sy, sd, "", &missing);
    if (rc == 0)
        rc = sweep_unseen(sy, sd->id);
    if (rc == 0)
        rc = save_cursor(sy, sd, cursor);
    rc = finish(sy, rc);
    if (rc == 0) {
        sd->rescan = false;
        sd->root_gone = missing;
    }
    return rc;
}

/* Where full path p is relative to side's root: rel (a pointer into p, ""
 * for the root itself), or NULL when p is not at or below it. */
static const char *rel_of(const struct side *sd, const char *p)
{
    size_t n = strlen(sd->root);

    if (n == 0)
        return strcmp(p, "/") == 0 ? "" : p;
    if (strncmp(p, sd->root, n) != 0 || (p[n] != '\0' && p[n] != '/'))
        return NULL;
    return p + n;
}

/* p is the root or above it (deleting or moving p takes the root along). */
static bool holds_root(const struct side *sd, const char *p)
{
    size_t n = strlen(p);

    if (strcmp(p, "/") == 0)
        return true;
    return strncmp(sd->root, p, n) == 0 && (sd->root[n] == '\0' || sd->root[n] == '/');
}

/* Apply one change of the journal to side's view. */
static int apply_change(struct sync *sy, struct side *sd, const json_t *ch)
{
    const char *kind = json_string_value(json_object_get(ch, "kind"));
    const char *type = json_string_value(json_object_get(ch, "type"));
    const char *path = json_string_value(json_object_get(ch, "path"));
    const char *old = json_string_value(json_object_get(ch, "old_path"));
    bool folder = type != NULL && strcmp(type, "folder") == 0;
    const char *rel, *orel;

    if (kind == NULL || path == NULL)
        return 0;
    rel = rel_of(sd, path);
    if (strcmp(kind, "mkdir") == 0)
        return 0; /* folders are not synced on their own */
    if (strcmp(kind, "put") == 0 || (strcmp(kind, "restore") == 0 && !folder)) {
        return rel != NULL && rel[0] != '\0' ? remote_view_put(sy, sd, rel, ch) : 0;
    }
    if (strcmp(kind, "restore") == 0) {
        if (rel == NULL)
            return 0;
        if (rel[0] == '\0') {
            sd->rescan = true;
            return 0;
        }
        return remote_list(sy, sd, rel, NULL);
    }
    if (strcmp(kind, "delete") == 0) {
        if (folder && holds_root(sd, path)) {
            sd->root_gone = true;
            return view_del(sy, sd->id, "", true);
        }
        return rel != NULL ? view_del(sy, sd->id, rel, folder) : 0;
    }
    if (strcmp(kind, "move") == 0 && old != NULL) {
        orel = rel_of(sd, old);
        if (folder && holds_root(sd, old)) {
            sd->root_gone = true;
            return view_del(sy, sd->id, "", true);
        }
        if (!folder) {
            int rc = orel != NULL ? view_del(sy, sd->id, orel, false) : 0;
            if (rc == 0 && rel != NULL)
                rc = remote_view_put(sy, sd, rel, ch);
            return rc;
        }
        if (orel != NULL && rel != NULL)
            return view_move_tree(sy, sd->id, orel, rel);
        if (orel != NULL)
            return view_del(sy, sd->id, orel, true);
        if (rel != NULL)
            return remote_list(sy, sd, rel, NULL);
    }
    return 0;
}

static int remote_refresh(struct sync *sy, struct side *sd)
{
    char k[16], v[32];
    uint64_t cursor;

    (void)snprintf(k, sizeof(k), "cursor%d", sd->id);
    if (meta_get(sy, k, v, sizeof(v)) != 0)
        return 1;
    if (v[0] == '\0' || sd->rescan)
        return remote_full(sy, sd);
    cursor = strtoull(v, NULL, 10);
    for (;;) {
        struct cf__cli_gwreq x;
        char cur[32];
        const char *q[] = {"cursor", cur, "limit", PAGE, "path", sd->root[0] ? sd->root : NULL,
                           NULL};
        const json_t *changes;
        bool more;
        int rc;

        (void)snprintf(cur, sizeof(cur), "%" PRIu64, cursor);
        cf__cli_gwreq_init(&x, CMD);
        rc = remote_req(sd, &x, "GET", CHANGES_PREFIX, NULL, q, -1);
        if (rc != 0 && x.status == 410) {
            cf__cli_gwreq_fini(&x);
            fprintf(stderr, "coffer sync: %s: the journal was pruned past our cursor; rescanning\n",
                    sd->label);
            return remote_full(sy, sd);
        }
        if (rc != 0) {
            remote_fail(sd, "changes", "", &x);
            cf__cli_gwreq_fini(&x);
            return 1;
        }
        changes = json_object_get(x.json, "changes");
        more = json_is_true(json_object_get(x.json, "more"));
        rc = begin(sy);
        for (size_t i = 0; rc == 0 && i < json_array_size(changes); i++)
            rc = apply_change(sy, sd, json_array_get(changes, i));
        cursor = (uint64_t)json_integer_value(json_object_get(x.json, "cursor"));
        if (rc == 0)
            rc = save_cursor(sy, sd, cursor);
        rc = finish(sy, rc);
        cf__cli_gwreq_fini(&x);
        if (rc != 0)
            return rc;
        if (sd->rescan)
            return remote_full(sy, sd);
        if (!more)
            return 0;
    }
}

static int refresh(struct sync *sy, struct side *sd)
{
    return sd->kind == SIDE_LOCAL ? local_refresh(sy, sd) : remote_refresh(sy, sd);
}

/* ---- the merge ---- */

struct acts {
    struct act *v;
    size_t n, cap;
};

static struct act *act_add(struct acts *a, enum act_kind kind, const char *path)
{
    struct act *x;

    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = cf_xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    x = &a->v[a->n++];
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->path = cf_xstrdup(path);
    return x;
}

static void acts_free(struct acts *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].path);
        free(a->v[i].path2);
    }
    free(a->v);
}

static bool same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Only side `from` changed path since the base: it now holds sha (size), or
 * nothing when sha is NULL; the other side still holds other_sha (the base).
 * Carry the change over: delete path there, or copy it there. */
static void one_side_changed(struct acts *out, const char *path, int from, const char *sha,
                             uint64_t size, const char *other_sha)
{
    struct act *x;

    if (sha == NULL) {
        x = act_add(out, A_DEL, path);
        x->to = 1 - from;
        (void)snprintf(x->sha, sizeof(x->sha), "%s", other_sha);
        return;
    }
    x = act_add(out, A_COPY, path);
    x->from = from;
    x->to = 1 - from;
    x->size = size;
    x->dest_empty = other_sha == NULL;
    (void)snprintf(x->sha, sizeof(x->sha), "%s", sha);
}

static int plan(struct sync *sy, struct acts *out)
{
    static const char sql[] = "SELECT p.path, v0.sha, v0.size, v1.sha, v1.size, b.sha FROM"
                              " (SELECT path FROM view UNION SELECT path FROM base) p"
                              " LEFT JOIN view v0 ON v0.side = 0 AND v0.path = p.path"
                              " LEFT JOIN view v1 ON v1.side = 1 AND v1.path = p.path"
                              " LEFT JOIN base b ON b.path = p.path ORDER BY p.path";
    struct cf_db_stmt *s = NULL;
    char err[CF_ERR_LEN] = "";
    int rc;

    rc = cf_db_query(sy->db, &s, err, sql, "");
    while (rc == 0) {
        const char *path, *a, *b, *base;
        uint64_t sa, sb;
        struct act *x;

        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        rc = 0;
        path = cf_db_column_text(s, 0, NULL);
        a = cf_db_column_text(s, 1, NULL);
        sa = (uint64_t)cf_db_column_int64(s, 2);
        b = cf_db_column_text(s, 3, NULL);
        sb = (uint64_t)cf_db_column_int64(s, 4);
        base = cf_db_column_text(s, 5, NULL);
        if (path == NULL)
            continue;
        if (same(a, b)) {
            if (!same(a, base)) {
                x = act_add(out, A_BASE, path);
                (void)snprintf(x->sha, sizeof(x->sha), "%s", a != NULL ? a : "");
            }
        } else if (same(a, base)) {
            one_side_changed(out, path, 1, b, sb, a);
        } else if (same(b, base)) {
            one_side_changed(out, path, 0, a, sa, b);
        } else if (a == NULL || b == NULL) {
            /* deleted on one side, changed on the other: the change wins */
            x = act_add(out, A_COPY, path);
            x->from = a == NULL ? 1 : 0;
            x->to = 1 - x->from;
            x->size = a == NULL ? sb : sa;
            x->dest_empty = true;
            (void)snprintf(x->sha, sizeof(x->sha), "%s", a == NULL ? b : a);
        } else {
            x = act_add(out, A_CONFLICT, path);
            x->size = sa + sb;
        }
    }
    cf_db_finalize(s);
    if (rc < 0)
        return db_fail("read", err);
    /* A delete on one side and a copy of the same content to a free name on
     * that side: a move (a rename found by its SHA-512). */
    for (size_t i = 0; i < out->n; i++) {
        struct act *d = &out->v[i];

        if (d->kind != A_DEL)
            continue;
        for (size_t j = 0; j < out->n; j++) {
            struct act *c = &out->v[j];

            if (c->kind != A_COPY || c->dropped || c->to != d->to || !c->dest_empty ||
                strcmp(c->sha, d->sha) != 0)
                continue;
            d->kind = A_MOVE;
            d->path2 = cf_xstrdup(c->path);
            d->size = c->size;
            c->dropped = true;
            break;
        }
    }
    for (size_t i = 0; i < out->n; i++) {
        const struct act *x = &out->v[i];
        if (x->dropped)
            continue;
        if (x->kind == A_COPY || x->kind == A_CONFLICT) {
            sy->files_total += x->kind == A_CONFLICT ? 2 : 1;
            sy->bytes_total += x->size;
        }
    }
    return 0;
}

/* ---- carrying actions out ---- */

/* Side sd's local file at rel still is what its view says (token), or is
 * absent when the view has none: safe to replace or remove. */
static bool local_unchanged(struct sync *sy, struct side *sd, const char *rel)
{
    char abs[PATHBUF], token[64], old[64];
    struct stat st;
    int got = view_get(sy, sd->id, rel, NULL, NULL, old, sizeof(old));

    join(abs, sizeof(abs), sd->root, rel);
    if (got < 0)
        return false;
    if (lstat(abs, &st) != 0)
        return got == 0 && errno == ENOENT;
    if (got == 0 || !S_ISREG(st.st_mode))
        return false;
    local_token(&st, token);
    return strcmp(token, old) == 0;
}

/* Download rel of remote side sd (content sha, size) into the partial file
 * `part` (STATE/partial/...), resuming what an earlier run left there.
 * Returns 0 when part holds exactly those bytes. */
static int download(struct sync *sy, struct side *sd, const char *rel, const char *sha,
                    uint64_t size, char *part, size_t cap)
{
    struct cf__cli_gwreq x;
    struct stat st;
    char got[SHA_HEX];
    uint64_t from = 0;
    FILE *f;
    int rc;

    (void)snprintf(part, cap, "%s/partial/%.32s-%" PRIu64, sy->state, sha, size);
    if (stat(part, &st) == 0 && S_ISREG(st.st_mode)) {
        from = (uint64_t)st.st_size;
        if (from > size) {
            (void)unlink(part);
            from = 0;
        }
    }
    if (from == size && from > 0 && hash_file(part, got) == 0 && strcmp(got, sha) == 0)
        return 0;
    if (from == size)
        from = 0;
    if (from > 0)
        fprintf(stderr, "coffer sync: resuming %s from byte %" PRIu64 "\n", rel, from);
    f = fopen(part, from > 0 ? "ab" : "wb");
    if (f == NULL) {
        fprintf(stderr, "coffer sync: cannot write %s: %s\n", part, strerror(errno));
        return 1;
    }
    cf__cli_gwreq_init(&x, CMD);
    x.out = f;
    rc = cf_sha512_init(&x.out_sha) < 0 ? 1 : 0;
    if (from > 0) {
        x.from = from;
        x.got = from;
        x.is_file = true;
        if (cf_sha512_parse_hex(sha, CF_SHA512_HEX_LEN, x.sha) < 0)
            rc = 1;
    }
    if (rc == 0)
        rc = remote_req(sd, &x, "GET", FS_PREFIX, rel, NULL, -1);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = 1;
    (void)fclose(f);
    cf_sha512_fini(&x.out_sha);
    if (rc != 0) {
        if (x.changed)
            (void)unlink(part);
        remote_fail(sd, "download", rel, &x);
        cf__cli_gwreq_fini(&x);
        return 1;
    }
    cf__cli_gwreq_fini(&x);
    if (hash_file(part, got) != 0 || strcmp(got, sha) != 0) {
        (void)unlink(part);
        fprintf(stderr, "coffer sync: %s: %s changed meanwhile; the next pass takes it\n",
                sd->label, rel);
        return 1;
    }
    return 0;
}

/* Upload the local file src to rel of remote side sd; *j (caller frees)
 * gets the gateway's reply (sha512, size, version). */
static int upload(struct side *sd, const char *rel, const char *src, json_t **j)
{
    *j = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct cf__cli_gwreq x;
        int64_t size = -1;
        int rc;

        cf__cli_gwreq_init(&x, CMD);
        if (cf__cli_src_open(&x.in, CMD, src, &size) != 0) {
            cf__cli_gwreq_fini(&x);
            return 1;
        }
        rc = remote_req(sd, &x, "PUT", FS_PREFIX, rel, NULL, size);
        cf__cli_src_close(&x.in);
        if (rc == 0) {
            *j = json_incref(x.json);
            cf__cli_gwreq_fini(&x);
            return *j != NULL ? 0 : 1;
        }
        if (x.status == 404 && attempt == 0) {
            cf__cli_gwreq_fini(&x);
            if (remote_mkdirs(sd, rel, false) != 0)
                return 1;
            continue;
        }
        remote_fail(sd, "upload", rel, &x);
        cf__cli_gwreq_fini(&x);
        return 1;
    }
    return 1;
}

/* Copy rel (content sha) from side `from` to side `to`. */
static int do_copy(struct sync *sy, int from, int to, const char *rel, const char *sha,
                   uint64_t size)
{
    struct side *s = &sy->s[from], *t = &sy->s[to];
    char src[PATHBUF], part[PATHBUF] = "", dst[PATHBUF], token[64];
    json_t *j = NULL;
    struct stat st;
    int rc = 1;

    progress(sy, s->kind == SIDE_LOCAL ? "up" : t->kind == SIDE_LOCAL ? "down" : "copy", rel);
    if (s->kind == SIDE_LOCAL) {
        if (!local_unchanged(sy, s, rel)) {
            fprintf(stderr, "coffer sync: %s changed while syncing; the next pass takes it\n", rel);
            return 1;
        }
        join(src, sizeof(src), s->root, rel);
    } else {
        if (download(sy, s, rel, sha, size, part, sizeof(part)) != 0)
            return 1;
        (void)snprintf(src, sizeof(src), "%s", part);
    }
    if (t->kind == SIDE_LOCAL) {
        join(dst, sizeof(dst), t->root, rel);
        if (!local_unchanged(sy, t, rel)) {
            fprintf(stderr, "coffer sync: %s changed while syncing; the next pass takes it\n", dst);
            return 1;
        }
        if (mkdirs_for(dst) != 0 || move_into_place(src, dst) != 0 || lstat(dst, &st) != 0) {
            fprintf(stderr, "coffer sync: cannot write %s: %s\n", dst, strerror(errno));
            return 1;
        }
        local_token(&st, token);
        rc = begin(sy);
        if (rc == 0)
            rc = view_put(sy, to, rel, sha, size, token);
        sy->n_down++;
    } else {
        const char *got;

        if (upload(t, rel, src, &j) != 0)
            return 1;
        if (part[0] != '\0')
            (void)unlink(part);
        got = json_string_value(json_object_get(j, "sha512"));
        rc = begin(sy);
        if (rc == 0)
            rc = remote_view_put(sy, t, rel, j);
        if (got == NULL || strcmp(got, sha) != 0)
            sha = NULL; /* the source changed meanwhile: the next pass sorts it out */
        sy->n_up++;
    }
    if (rc == 0 && sha != NULL)
        rc = base_set(sy, rel, sha);
    rc = finish(sy, rc);
    json_decref(j);
    sy->files_done++;
    sy->bytes_done += size;
    return rc;
}

/* Remove local dir's empty parents up to (not including) the root. */
static void prune_dirs(const struct side *sd, const char *abs)
{
    char buf[PATHBUF];
    size_t rootlen = strlen(sd->root);
    char *slash;

    (void)snprintf(buf, sizeof(buf), "%s", abs);
    for (;;) {
        slash = strrchr(buf, '/');
        if (slash == NULL || (size_t)(slash - buf) <= rootlen)
            return;
        *slash = '\0';
        if (rmdir(buf) != 0)
            return;
    }
}

static int do_delete(struct sync *sy, int to, const char *rel)
{
    struct side *t = &sy->s[to];
    int rc;

    fprintf(stderr, "coffer sync: %s: delete %s%s\n", t->label, rel,
            t->kind == SIDE_REMOTE ? " (to the trash)" : "");
    if (t->kind == SIDE_LOCAL) {
        char abs[PATHBUF], dst[PATHBUF];

        if (!local_unchanged(sy, t, rel)) {
            fprintf(stderr, "coffer sync: %s changed while syncing; the next pass takes it\n", rel);
            return 1;
        }
        join(abs, sizeof(abs), t->root, rel);
        /* Deleted on the other side: kept in STATE/trash rather than lost. */
        (void)snprintf(dst, sizeof(dst), "%s/trash%s", sy->state, rel);
        for (int i = 1; access(dst, F_OK) == 0 && i < 1000; i++)
            (void)snprintf(dst, sizeof(dst), "%s/trash%s.%d", sy->state, rel, i);
        if (mkdirs_for(dst) != 0 || (move_into_place(abs, dst) != 0 && errno != ENOENT)) {
            fprintf(stderr, "coffer sync: cannot move %s to %s: %s\n", abs, dst, strerror(errno));
            return 1;
        }
        prune_dirs(t, abs);
    } else {
        struct cf__cli_gwreq x;

        cf__cli_gwreq_init(&x, CMD);
        if (remote_req(t, &x, "DELETE", FS_PREFIX, rel, NULL, -1) != 0 && x.status != 404) {
            remote_fail(t, "delete", rel, &x);
            cf__cli_gwreq_fini(&x);
            return 1;
        }
        cf__cli_gwreq_fini(&x);
    }
    sy->n_del++;
    rc = begin(sy);
    if (rc == 0)
        rc = view_del(sy, to, rel, false);
    if (rc == 0)
        rc = base_set(sy, rel, NULL);
    rc = finish(sy, rc);
    return rc;
}

/* Move rel to rel2 on side `to` (content sha, size). set_base: both sides
 * then hold rel2 with sha (a rename); else only `to` does (a conflict's
 * first step). */
static int do_move(struct sync *sy, int to, const char *rel, const char *rel2, const char *sha,
                   uint64_t size, bool set_base)
{
    struct side *t = &sy->s[to];
    char token[64];
    json_t *j = NULL;
    int rc;

    fprintf(stderr, "coffer sync: %s: move %s -> %s\n", t->label, rel, rel2);
    if (t->kind == SIDE_LOCAL) {
        char abs[PATHBUF], abs2[PATHBUF];
        struct stat st;

        if (!local_unchanged(sy, t, rel) || !local_unchanged(sy, t, rel2)) {
            fprintf(stderr, "coffer sync: %s changed while syncing; the next pass takes it\n", rel);
            return 1;
        }
        join(abs, sizeof(abs), t->root, rel);
        join(abs2, sizeof(abs2), t->root, rel2);
        if (mkdirs_for(abs2) != 0 || rename(abs, abs2) != 0 || lstat(abs2, &st) != 0) {
            fprintf(stderr, "coffer sync: cannot move %s to %s: %s\n", abs, abs2, strerror(errno));
            return 1;
        }
        prune_dirs(t, abs);
        local_token(&st, token);
    } else {
        char dest[PATHBUF];
        const char *q[] = {"op", "move", "to", dest, NULL};

        join(dest, sizeof(dest), t->root, rel2);
        for (int attempt = 0;; attempt++) {
            struct cf__cli_gwreq x;

            cf__cli_gwreq_init(&x, CMD);
            if (remote_req(t, &x, "POST", FS_PREFIX, rel, q, -1) == 0) {
                j = json_incref(x.json);
                cf__cli_gwreq_fini(&x);
                break;
            }
            if (x.status == 404 && attempt == 0) {
                cf__cli_gwreq_fini(&x);
                if (remote_mkdirs(t, rel2, false) != 0)
                    return 1;
                continue;
            }
            remote_fail(t, "move", rel, &x);
            cf__cli_gwreq_fini(&x);
            return 1;
        }
        (void)snprintf(token, sizeof(token), "%" PRId64,
                       (int64_t)json_integer_value(json_object_get(j, "version")));
    }
    sy->n_move++;
    rc = begin(sy);
    if (rc == 0)
        rc = view_del(sy, to, rel, false);
    if (rc == 0)
        rc = view_put(sy, to, rel2, sha, size, token);
    if (rc == 0)
        rc = base_set(sy, rel, NULL);
    if (rc == 0 && set_base)
        rc = base_set(sy, rel2, sha);
    rc = finish(sy, rc);
    json_decref(j);
    return rc;
}

/* Changed differently on both sides: side 0's copy goes to a conflict
 * name (on both sides), side 1's stays under the name. */
static int do_conflict(struct sync *sy, const char *rel)
{
    char sha0[SHA_HEX], sha1[SHA_HEX];
    uint64_t size0 = 0, size1 = 0;
    char *cname;
    int rc;

    if (view_get(sy, 0, rel, sha0, &size0, NULL, 0) != 1 ||
        view_get(sy, 1, rel, sha1, &size1, NULL, 0) != 1)
        return 1;
    cname = conflict_name(sy, rel);
    fprintf(stderr, "coffer sync: conflict: %s changed on both sides; %s's copy is now %s\n", rel,
            sy->s[0].label, cname);
    sy->n_conflict++;
    rc = do_move(sy, 0, rel, cname, sha0, size0, false);
    if (rc == 0)
        rc = do_copy(sy, 1, 0, rel, sha1, size1);
    if (rc == 0)
        rc = do_copy(sy, 0, 1, cname, sha0, size0);
    free(cname);
    return rc;
}

/* ---- a pass ---- */

static void clear_partial(const struct sync *sy)
{
    char dir[PATHBUF], p[PATHBUF + 256];
    struct dirent *de;
    DIR *d;

    (void)snprintf(dir, sizeof(dir), "%s/partial", sy->state);
    d = opendir(dir);
    if (d == NULL)
        return;
    for (;;) {
        de = readdir(d);
        if (de == NULL)
            break;
        if (de->d_name[0] == '.')
            continue;
        (void)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        (void)unlink(p);
    }
    (void)closedir(d);
}

static int pass(struct sync *sy)
{
    struct acts a = {NULL, 0, 0};
    int rc = 0;

    sy->files_done = sy->files_total = 0;
    sy->bytes_done = sy->bytes_total = 0;
    sy->n_up = sy->n_down = sy->n_del = sy->n_move = sy->n_conflict = sy->n_fail = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = refresh(sy, &sy->s[i]);
    if (rc != 0)
        return rc;
    for (int i = 0; i < 2; i++) {
        struct side *sd = &sy->s[i];
        char n[32] = "";

        if (sd->kind != SIDE_REMOTE || !sd->root_gone)
            continue;
        if (meta_get(sy, "synced", n, sizeof(n)) != 0)
            return 1;
        if (n[0] == '\0') {
            /* First run: make the folder. */
            if (remote_mkdirs(sd, "", true) != 0)
                return 1;
            sd->root_gone = false;
            continue;
        }
        fprintf(stderr,
                "coffer sync: %s: the folder %s was deleted or moved away; nothing done (restore "
                "it, or start afresh with another state directory)\n",
                sd->label, sd->root[0] ? sd->root : "/");
        return 1;
    }
    rc = plan(sy, &a);
    for (size_t i = 0; rc == 0 && i < a.n && !g_stop; i++) {
        const struct act *x = &a.v[i];
        int r = 0;

        if (x->dropped)
            continue;
        switch (x->kind) {
        case A_BASE:
            r = begin(sy);
            if (r == 0)
                r = base_set(sy, x->path, x->sha);
            r = finish(sy, r);
            break;
        case A_COPY:
            r = do_copy(sy, x->from, x->to, x->path, x->sha, x->size);
            break;
        case A_DEL:
            r = do_delete(sy, x->to, x->path);
            break;
        case A_MOVE:
            r = do_move(sy, x->to, x->path, x->path2, x->sha, x->size, true);
            break;
        case A_CONFLICT:
            r = do_conflict(sy, x->path);
            break;
        }
        if (r != 0)
            sy->n_fail++;
    }
    acts_free(&a);
    if (rc == 0 && meta_set(sy, "synced", "1") != 0)
        rc = 1;
    /* Every file went through: what partial/ still holds is of contents no
     * longer wanted (changed meanwhile). */
    if (rc == 0 && sy->n_fail == 0 && !g_stop)
        clear_partial(sy);
    if (rc == 0 && (sy->n_up || sy->n_down || sy->n_del || sy->n_move || sy->n_fail))
        fprintf(stderr,
                "coffer sync: pass done: %u up, %u down, %u deleted, %u moved, %u conflicts, %u "
                "failed\n",
                sy->n_up, sy->n_down, sy->n_del, sy->n_move, sy->n_conflict, sy->n_fail);
    if (rc == 0 && sy->n_fail > 0)
        rc = 1;
    return rc;
}

/* ---- --watch ---- */

/* Read side's session again (a new token after coffer login); keeps the
 * old one if that fails. */
static void sess_reload(struct side *sd)
{
    struct cf__cli_sess fresh;

    if (cf__cli_sess_load(CMD, sd->token_file, sd->token, sd->gateway, sd->ca, &fresh) != 0)
        return;
    pthread_mutex_lock(&sd->sess_mu);
    sd->sess = fresh;
    pthread_mutex_unlock(&sd->sess_mu);
}

/* Long-polls a remote side's journal from the published cursor and wakes
 * the main loop when something came (or the journal says rescan). */
static void *poller_main(void *arg)
{
    struct side *sd = arg;

    while (!g_stop) {
        uint64_t c = atomic_load(&sd->cursor_pub);
        struct cf__cli_sess sess;
        struct cf__cli_gwreq x;
        char cur[32];
        const char *q[] = {"cursor", cur,          "limit", "1",
                           "wait_s", WATCH_WAIT_S, "path",  sd->root[0] ? sd->root : NULL,
                           NULL};
        bool wake;
        int rc;

        if (c == 0) {
            (void)usleep(500000);
            continue;
        }
        (void)snprintf(cur, sizeof(cur), "%" PRIu64, c - 1);
        cf__cli_gwreq_init(&x, CMD);
        x.quiet = true;
        {
            struct cf_buf u;
            cf_buf_init(&u, CF__CLI_GW_URL_MAX);
            pthread_mutex_lock(&sd->sess_mu);
            sess = sd->sess;
            pthread_mutex_unlock(&sd->sess_mu);
            rc = cf__cli_gw_url(&u, &sess, CHANGES_PREFIX, NULL, q) < 0
                     ? 1
                     : cf__cli_gwreq_run(&x, &sess, "GET", u.base, -1);
            cf_buf_fini(&u);
        }
        wake = (rc == 0 && (json_array_size(json_object_get(x.json, "changes")) > 0 ||
                            json_is_true(json_object_get(x.json, "more")))) ||
               x.status == 410;
        cf__cli_gwreq_fini(&x);
        if (wake) {
            char one = 1;
            (void)!write(sd->wake_fd, &one, 1);
            /* Until the main loop has read the changes. */
            for (int i = 0; i < 100 && !g_stop && atomic_load(&sd->cursor_pub) == c; i++)
                (void)usleep(100000);
        } else if (rc != 0) {
            (void)sleep(2); /* unreachable: the main loop reports it */
        }
    }
    return NULL;
}

/* Read what inotify has, then until it stays quiet for quiet_ms. */
static void debounce(int fd, uint64_t quiet_ms)
{
    char buf[8192];
    struct pollfd p = {fd, POLLIN, 0};

    for (;;) {
        while (read(fd, buf, sizeof(buf)) > 0) {
        }
        if (poll(&p, 1, (int)quiet_ms) <= 0 || g_stop)
            return;
    }
}

static int watch_loop(struct sync *sy, uint64_t debounce_ms)
{
    int pipefd[2];
    uint64_t retry_ms = 1000;
    pthread_t th;
    int rc;

    if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "coffer sync: pipe: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        if (sy->s[i].kind != SIDE_REMOTE)
            continue;
        sy->s[i].wake_fd = pipefd[1];
        if (pthread_create(&th, NULL, poller_main, &sy->s[i]) == 0)
            (void)pthread_detach(th);
    }
    fprintf(stderr, "coffer sync: watching (Ctrl-C stops)\n");
    for (bool first = true; !g_stop; first = false) {
        struct pollfd p[2] = {{pipefd[0], POLLIN, 0}, {sy->inotify_fd, POLLIN, 0}};
        char buf[256];
        int n;

        for (int i = 0; i < 2 && !first; i++)
            if (sy->s[i].kind == SIDE_REMOTE)
                sess_reload(&sy->s[i]);
        rc = pass(sy);
        if (rc != 0) {
            fprintf(stderr, "coffer sync: pass incomplete; trying again in %" PRIu64 " ms\n",
                    retry_ms);
        }
        n = poll(p, sy->inotify_fd >= 0 ? 2 : 1, rc != 0 ? (int)retry_ms : RESCAN_MS);
        retry_ms = rc != 0 ? (retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2) : 1000;
        if (n > 0 && (p[0].revents & POLLIN))
            while (read(pipefd[0], buf, sizeof(buf)) > 0) {
            }
        if (n > 0 && sy->inotify_fd >= 0 && (p[1].revents & POLLIN))
            debounce(sy->inotify_fd, debounce_ms);
    }
    (void)close(pipefd[0]);
    /* pipefd[1] stays open: a poller may still write until the process ends. */
    return 0;
}

/* ---- the command ---- */

static int side_remote(struct side *sd, int id, const char *label, const char *path,
                       const char *token_file, const char *token, const char *gateway,
                       const char *ca, uint64_t max_rate)
{
    size_t n;

    memset(sd, 0, sizeof(*sd));
    sd->kind = SIDE_REMOTE;
    sd->id = id;
    sd->label = label;
    sd->max_rate = max_rate;
    sd->wake_fd = -1;
    if (path[0] != '/') {
        fprintf(stderr, "coffer sync: \"%s\" is not a remote path (they start with /)\n", path);
        return 2;
    }
    n = strlen(path);
    if (n >= sizeof(sd->root))
        return 2;
    memcpy(sd->root, path, n + 1);
    while (n > 0 && sd->root[n - 1] == '/')
        sd->root[--n] = '\0';
    sd->token_file = token_file;
    sd->token = token;
    sd->gateway = gateway;
    sd->ca = ca;
    pthread_mutex_init(&sd->sess_mu, NULL);
    if (cf__cli_sess_load(CMD, token_file, token, gateway, ca, &sd->sess) != 0)
        return 1;
    return 0;
}

static int side_local(struct side *sd, int id, const char *dir)
{
    char *abs = realpath(dir, NULL);
    size_t n;

    /* A first sync may start from nothing here: the folder is made. */
    if (abs == NULL && errno == ENOENT && mkdir(dir, 0700) == 0)
        abs = realpath(dir, NULL);

    memset(sd, 0, sizeof(*sd));
    sd->kind = SIDE_LOCAL;
    sd->id = id;
    sd->label = "local";
    sd->wake_fd = -1;
    if (abs == NULL) {
        fprintf(stderr, "coffer sync: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    n = strlen(abs);
    if (n >= sizeof(sd->root) - 1) {
        free(abs);
        return 1;
    }
    memcpy(sd->root, abs, n + 1);
    if (n == 1)
        sd->root[0] = '\0'; /* "/": paths are "/..." already */
    free(abs);
    return 0;
}

/* Open (making it) the state directory and its database, lock it, and
 * check it belongs to this pair of sides. */
static int state_open(struct sync *sy, int *lock_fd)
{
    char p[PATHBUF], uri[PATHBUF + 16], err[CF_ERR_LEN] = "", pair[2 * PATHBUF + 2048],
                                        had[sizeof(pair)];
    int fd, n;

    if (mkdir(sy->state, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "coffer sync: cannot make %s: %s\n", sy->state, strerror(errno));
        return 1;
    }
    (void)snprintf(p, sizeof(p), "%s/partial", sy->state);
    (void)mkdir(p, 0700);
    (void)snprintf(p, sizeof(p), "%s/lock", sy->state);
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "coffer sync: %s is in use by another coffer sync\n", sy->state);
        if (fd >= 0)
            (void)close(fd);
        return 1;
    }
    *lock_fd = fd;
    (void)snprintf(uri, sizeof(uri), "sqlite:%s/state.db", sy->state);
    if (cf_db_open(uri, &sy->db, err) < 0 || cf_db_exec(sy->db, state_schema, err) < 0)
        return db_fail("open", err);
    /* Not the gateway URLs: a system may move to another address. */
    n = snprintf(pair, sizeof(pair), "%s %s | %s %s", sy->s[0].label, sy->s[0].root, sy->s[1].label,
                 sy->s[1].root);
    if (n < 0 || (size_t)n >= sizeof(pair))
        return 1;
    if (meta_get(sy, "pair", had, sizeof(had)) != 0)
        return 1;
    if (had[0] == '\0')
        return meta_set(sy, "pair", pair);
    if (strcmp(had, pair) != 0) {
        fprintf(stderr, "coffer sync: %s keeps the state of another pair (%s), not this one (%s)\n",
                sy->state, had, pair);
        return 1;
    }
    return 0;
}

int cf_cli_sync(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer sync LOCAL_DIR /REMOTE/PATH [--watch] [--once]\n"
        "       coffer sync --peer-token-file FILE --state DIR /PATH /PEER/PATH [--watch]\n"
        "Keeps a local folder and a remote one (or folders of two coffer systems)\n"
        "in step both ways: new and changed files are copied over, deletes\n"
        "follow (remote ones to the trash, local ones to STATE/trash), a file\n"
        "changed on both sides keeps both copies (the local or first one renamed\n"
        "\"NAME (conflict HOST DATE TIME).EXT\"). Safe to stop at any moment and\n"
        "run again. State: LOCAL_DIR/.coffer-sync (or --state DIR).\n";
    const struct cf__cli_args args = {.cmd = CMD,
                                      .usage = usage,
                                      .opts = sync_opts,
                                      .nopts = CF_ARRAY_LEN(sync_opts),
                                      .min = 2,
                                      .max = 2,
                                      .strict = true,
                                      .attempts = true};
    struct sync_conf c = {0};
    struct sync *sy = cf_xcalloc(1, sizeof(*sy));
    struct sigaction sa;
    char *pos[2];
    int rc, lock_fd = -1;

    sy->inotify_fd = -1;
    rc = cf__cli_load(&args, &c, argc, argv, pos, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (c.watch && c.once) {
        fprintf(stderr, "coffer sync: --watch or --once, not both\n");
        goto out;
    }
    if (c.peer_token_file != NULL || c.peer_gateway != NULL) {
        if (c.state == NULL) {
            fprintf(stderr, "coffer sync: two systems need --state DIR\n");
            goto out;
        }
        rc = side_remote(&sy->s[0], 0, "first", pos[0], c.token_file, c.token, c.gateway, c.ca,
                         c.max_rate);
        if (rc == 0)
            rc = side_remote(&sy->s[1], 1, "peer", pos[1], c.peer_token_file, NULL, c.peer_gateway,
                             c.peer_ca, c.max_rate);
    } else {
        /* The login first: a local folder is made only for a usable one. */
        rc = side_remote(&sy->s[1], 1, "remote", pos[1], c.token_file, c.token, c.gateway, c.ca,
                         c.max_rate);
        if (rc == 0)
            rc = side_local(&sy->s[0], 0, pos[0]);
    }
    if (rc != 0)
        goto out;
    rc = 1;
    if (c.state != NULL) {
        char *abs;
        if (mkdir(c.state, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "coffer sync: cannot make %s: %s\n", c.state, strerror(errno));
            goto out;
        }
        abs = realpath(c.state, NULL);
        if (abs == NULL)
            goto out;
        (void)snprintf(sy->state, sizeof(sy->state), "%s", abs);
        free(abs);
    } else {
        int n = snprintf(sy->state, sizeof(sy->state), "%s/%s", sy->s[0].root, STATE_NAME);
        if (n < 0 || (size_t)n >= sizeof(sy->state)) {
            fprintf(stderr, "coffer sync: path too long\n");
            goto out;
        }
    }
    if (gethostname(sy->host, sizeof(sy->host)) != 0 || sy->host[0] == '\0')
        (void)snprintf(sy->host, sizeof(sy->host), "host");
    sy->host[sizeof(sy->host) - 1] = '\0';
    for (char *p = sy->host; *p != '\0'; p++)
        if (*p == '/')
            *p = '-';
    if (state_open(sy, &lock_fd) != 0)
        goto out;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    if (!c.watch) {
        rc = pass(sy);
        goto out;
    }
    if (sy->s[0].kind == SIDE_LOCAL) {
        sy->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (sy->inotify_fd < 0)
            fprintf(stderr, "coffer sync: inotify: %s; local changes are found every %d s\n",
                    strerror(errno), RESCAN_MS / 1000);
    }
    rc = watch_loop(sy, c.debounce_ms);
out:
    if (sy->inotify_fd >= 0)
        (void)close(sy->inotify_fd);
    cf_db_close(sy->db);
    if (lock_fd >= 0)
        (void)close(lock_fd);
    free(sy);
    cf_conf_fini(sync_opts, CF_ARRAY_LEN(sync_opts), &c);
    return rc;
}
