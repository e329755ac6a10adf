/*
 * it_hygiene.c -- what coffer keeps on disk and shows on a terminal:
 * `coffer server`'s data directory (objects, databases, keys) is readable
 * by its owner only, wider modes left by an older version are tightened
 * and another user's directory is refused; the CLI shows names with control
 * bytes and bidirectional overrides escaped; passwords come from a file,
 * and a new user's short password is refused; the monitor keeps the event
 * log (scribe) within its age and row bounds; a wall clock jumped a year
 * ahead does not make the purge delete what was marked a moment ago.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/scribe.h"
#include "harness.h"

#define STOP_MS 40000
#define LINE_MS 20000
#define OUT_MAX 8192

/* Entries of the walked tree with a group or other bit, and how many. */
static char wide_first[IT_PATH_MAX];
static unsigned wide_count, walked_count;

static int note_mode(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    walked_count++;
    if (!S_ISLNK(st->st_mode) && (st->st_mode & 077) != 0) {
        if (wide_count++ == 0)
            it_fmt(wide_first, sizeof(wide_first), "%s (mode %04o)", path,
                   (unsigned)(st->st_mode & 07777));
    }
    return 0;
}

/* Every file and directory under dir, dir included, is private. */
static void check_private_tree(const char *dir)
{
    wide_count = walked_count = 0;
    wide_first[0] = '\0';
    IT_CHECKF(nftw(dir, note_mode, 16, FTW_PHYS) == 0, "nftw \"%s\": %s", dir, strerror(errno));
    IT_CHECKF(wide_count == 0, "%u of %u entries under \"%s\" are readable by others, e.g. %s",
              wide_count, walked_count, dir, wide_first);
}

/* nftw callback: add group and other read (and search, on directories). */
static int widen(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if (S_ISDIR(st->st_mode) || S_ISREG(st->st_mode))
        IT_CHECK(chmod(path, (st->st_mode & 07777) | (S_ISDIR(st->st_mode) ? 0055 : 0044)) == 0);
    return 0;
}

/* A small file at path with mode. */
static void make_file(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    IT_CHECKF(fd >= 0, "open \"%s\": %s", path, strerror(errno));
    IT_CHECK(write(fd, "x\n", 2) == 2);
    close(fd);
    IT_CHECK(chmod(path, mode) == 0);
}

/* `coffer put FILE --app URL` succeeds. */
static void put_ok(const struct it_server *s, const char *file)
{
    int st = it_coffer_cmd(NULL, 0, NULL, "put", file, "--app", s->p.base, NULL);

    IT_CHECKF(it_exit_code(st) == 0, "coffer put %s: status 0x%x (see cmd.log)", file,
              (unsigned)st);
}

/* Under a wide umask, `coffer server` and its filers keep everything they
 * write private: directories 0700, files 0600 (databases with their -wal
 * and -shm, the gateway's key, object files and their directories). */
static void t_modes_new(void *arg)
{
    char data[IT_PATH_MAX], file[IT_PATH_MAX];
    struct it_server s;

    (void)arg;
    umask(022);
    it_case_path(data, "data");
    it_server_start_ok(&s, "data", 3, NULL);
    for (unsigned i = 0; i < 4; i++) {
        char name[16];
        it_fmt(name, sizeof(name), "in%u", i);
        it_write_payload(file, name, 40 + i, 1000 + 70000 * i, NULL);
        put_ok(&s, file);
    }
    check_private_tree(data); /* while it runs: -wal and -shm exist */
    IT_CHECK(walked_count > 20);
    it_proc_stop_ok(&s.p);
    check_private_tree(data);
}

/* A data directory an older version left readable by all is tightened at
 * start, with a log line, objects included; its objects still serve. */
static void t_modes_tighten(void *arg)
{
    char data[IT_PATH_MAX], file[IT_PATH_MAX], path[IT_PATH_MAX], log[IT_PATH_MAX];
    struct it_server s;

    (void)arg;
    umask(022);
    it_case_path(data, "data");
    it_server_start_ok(&s, "data", 3, NULL);
    it_write_payload(file, "in", 7, 3000, NULL);
    put_ok(&s, file);
    it_proc_stop_ok(&s.p);

    /* Widen everything, as a umask of 022 left it before, and add a file. */
    IT_CHECK(nftw(data, widen, 16, FTW_PHYS) == 0);
    it_fmt(path, sizeof(path), "%s/stray.txt", data);
    make_file(path, 0644);

    it_server_start_ok(&s, "data", 3, NULL);
    check_private_tree(data);
    it_case_path(log, "server.log");
    IT_CHECK(it_file_contains(log, "data\" had mode 0755; now 0700"));
    IT_CHECK(it_file_contains(log, "catalog.db\" had mode 0644; now 0600"));
    IT_CHECK(it_file_contains(log, "stray.txt\" had mode 0644; now 0600"));
    IT_CHECK(it_file_contains(log, "were readable by other users; now by their owner only"));
    put_ok(&s, file);
    it_proc_stop_ok(&s.p);
}

/* A data directory that belongs to another user is refused: exit 1, and
 * nothing is written in it. */
static void t_modes_other_user(void *arg)
{
    char data[IT_PATH_MAX], log[IT_PATH_MAX];
    int st;

    (void)arg;
    if (geteuid() != 0) {
        printf("  (skipped: only root can give a directory to another user)\n");
        return;
    }
    it_case_path(data, "theirs");
    IT_CHECK(mkdir(data, 0700) == 0);
    IT_CHECK(chown(data, 65534, 65534) == 0);
    st = it_coffer_cmd(NULL, 0, NULL, "server", "--data", data, "--port", "0", NULL);
    IT_EQ(it_exit_code(st), 1);
    it_case_path(log, "cmd.log");
    IT_CHECK(it_file_contains(log, "belongs to uid 65534"));
    IT_EQ(it_count_files(data), 0);
}

/* The gateway's URL and the admin password from `coffer server`'s lines. */
static void server_gateway(struct it_server *s, char gw[IT_URL_MAX], char pw[64])
{
    it_proc_expect_line(&s->p, "coffer gateway listening on ", gw, IT_URL_MAX, LINE_MS);
    it_proc_expect_line(&s->p, "coffer gateway login: client demo user admin password ", pw, 64,
                        LINE_MS);
}

/* Write text and a newline to the case file name; its path into path. */
static void write_text(char path[IT_PATH_MAX], const char *name, const char *text)
{
    int fd;

    it_case_path(path, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    IT_CHECKF(fd >= 0, "open \"%s\": %s", path, strerror(errno));
    IT_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    IT_CHECK(write(fd, "\n", 1) == 1);
    close(fd);
}

/* A name holding ESC (a colour sequence) and U+202E (right-to-left
 * override, which would show "exe.txt" as "txt.exe") is shown by ls and
 * trash with visible escapes, never as the raw bytes. */
#define EVIL_NAME                                                                                  \
    "/a\x1b[31mred\xe2\x80\xae"                                                                    \
    "txt.exe"
#define EVIL_SHOWN "a\\x1b[31mred\\u202etxt.exe"

static void t_cli_names(void *arg)
{
    char gw[IT_URL_MAX], pw[64], tok[IT_PATH_MAX], file[IT_PATH_MAX], out[OUT_MAX];
    struct it_server s;
    int rc;

    (void)arg;
    it_server_start_ok(&s, "data", 2, NULL);
    server_gateway(&s, gw, pw);
    it_case_path(tok, "token");
    rc = it_coffer_cmd(NULL, 0, NULL, "login", "--token-file", tok, "--gateway", gw, "--client",
                       "demo", "--user", "admin", "--password", pw, NULL);
    IT_EQ(it_exit_code(rc), 0);
    it_write_payload(file, "in", 5, 100, NULL);
    rc = it_coffer_cmd(out, OUT_MAX, NULL, "put", file, EVIL_NAME, "--token-file", tok, NULL);
    IT_EQ(it_exit_code(rc), 0);
    IT_CHECKF(strstr(out, EVIL_SHOWN) != NULL && strchr(out, 0x1b) == NULL, "put: \"%s\"", out);

    rc = it_coffer_cmd(out, OUT_MAX, NULL, "ls", "/", "--token-file", tok, NULL);
    IT_EQ(it_exit_code(rc), 0);
    IT_CHECKF(strstr(out, "  " EVIL_SHOWN "\n") != NULL, "ls: \"%s\"", out);
    IT_CHECKF(strchr(out, 0x1b) == NULL && strstr(out, "\xe2\x80\xae") == NULL,
              "ls printed a raw control: \"%s\"", out);

    rc = it_coffer_cmd(NULL, 0, NULL, "rm", EVIL_NAME, "--token-file", tok, NULL);
    IT_EQ(it_exit_code(rc), 0);
    rc = it_coffer_cmd(out, OUT_MAX, NULL, "trash", "--token-file", tok, NULL);
    IT_EQ(it_exit_code(rc), 0);
    IT_CHECKF(strstr(out, "  " EVIL_SHOWN "\n") != NULL && strchr(out, 0x1b) == NULL,
              "trash: \"%s\"", out);
    it_proc_stop_ok(&s.p);
}

/* --password-file logs in; a missing file or one with an empty first line
 * is refused; `admin user add` refuses a password under 12 bytes (and
 * makes no user), takes one from a file, and that user logs in with it. */
static void t_passwords(void *arg)
{
    char gw[IT_URL_MAX], pw[64], tok[IT_PATH_MAX], pwf[IT_PATH_MAX], empty[IT_PATH_MAX];
    char fsdb[IT_PATH_MAX + 16], log[IT_PATH_MAX], newf[IT_PATH_MAX];
    struct it_server s;
    int rc;

    (void)arg;
    it_server_start_ok(&s, "data", 2, NULL);
    server_gateway(&s, gw, pw);
    it_case_path(tok, "token");
    it_case_path(log, "cmd.log");
    it_fmt(fsdb, sizeof(fsdb), "sqlite:%s/data/fs-catalog.db", it_case_dir());

    write_text(pwf, "admin.pw", pw);
    rc = it_coffer_cmd(NULL, 0, NULL, "login", "--token-file", tok, "--gateway", gw, "--client",
                       "demo", "--user", "admin", "--password-file", pwf, NULL);
    IT_EQ(it_exit_code(rc), 0);
    IT_CHECK(access(tok, F_OK) == 0);
    IT_CHECK(unlink(tok) == 0);
    write_text(empty, "empty.pw", "");
    rc = it_coffer_cmd(NULL, 0, NULL, "login", "--token-file", tok, "--gateway", gw, "--client",
                       "demo", "--user", "admin", "--password-file", empty, NULL);
    IT_EQ(it_exit_code(rc), 1);
    IT_CHECK(it_file_contains(log, "holds no password"));
    rc = it_coffer_cmd(NULL, 0, NULL, "login", "--token-file", tok, "--gateway", gw, "--client",
                       "demo", "--user", "admin", "--password-file", "/nonexistent/pw", NULL);
    IT_EQ(it_exit_code(rc), 1);
    IT_CHECK(it_file_contains(log, "cannot open the password file"));
    IT_CHECK(access(tok, F_OK) != 0);

    /* 11 bytes: refused as a bad argument (exit 2), and no user is made. */
    rc = it_coffer_cmd(NULL, 0, NULL, "admin", "user", "add", "--fs-db", fsdb, "--client", "demo",
                       "carol", "--password", "eleven byte", NULL);
    IT_EQ(it_exit_code(rc), 2);
    IT_CHECK(it_file_contains(log, "the password is 11 bytes; a new user's needs at least 12"));
    write_text(newf, "carol.pw", "twelve bytes");
    rc = it_coffer_cmd(NULL, 0, NULL, "admin", "user", "add", "--fs-db", fsdb, "--client", "demo",
                       "carol", "--password-file", newf, NULL);
    IT_EQ(it_exit_code(rc), 0);
    rc = it_coffer_cmd(NULL, 0, NULL, "login", "--token-file", tok, "--gateway", gw, "--client",
                       "demo", "--user", "carol", "--password", "twelve bytes", NULL);
    IT_EQ(it_exit_code(rc), 0);
    it_proc_stop_ok(&s.p);
}

/* ---- scribe retention ---- */

#define DAY_MS 86400000ull

/* Append n events of kind at at_ms to the catalog db, as a writer whose
 * clock said at_ms would (ids max + 1, as the scribe allocates them). */
static void insert_events_at(const char *db_uri, const char *kind, uint64_t at_ms, unsigned n)
{
    static const char sql[] = "INSERT INTO events (id, at, kind, filer, object, message)"
                              " SELECT coalesce(max(id), 0) + 1, ?1, ?2, 0, '', 'old' FROM events";
    char err[CF_ERR_LEN] = "";
    struct cf_db *db = NULL;

    IT_CHECKF(cf_db_open(db_uri, &db, err) == 0, "open %s: %s", db_uri, err);
    for (unsigned i = 0; i < n; i++)
        IT_CHECKF(cf_db_run(db, NULL, 0, err, sql, "it", (int64_t)at_ms, kind) >= 0, "insert: %s",
                  err);
    cf_db_close(db);
}

struct count_wait {
    const char *db;
    const char *kind; /* NULL: every kind */
    int64_t at_most;
};

static bool count_at_most(void *arg)
{
    const struct count_wait *w = arg;

    return it_scribe_count(w->db, w->kind) <= w->at_most;
}

static bool count_above(void *arg)
{
    const struct count_wait *w = arg;

    return it_scribe_count(w->db, w->kind) > w->at_most;
}

/* The monitor deletes the events older than --log-retention-days (default
 * 30) and keeps at most --log-max-rows, the newest, pruning in the
 * background; recent events within both bounds stay, also when the wall
 * clock jumps a year ahead. */
static void t_log_retention(void *arg)
{
    char db[IT_PATH_MAX], err[CF_ERR_LEN] = "", off[IT_PATH_MAX];
    uint64_t now = cf_wall_ms();
    struct cf_scribe *s = NULL;
    struct count_wait w;
    struct it_proc mon;

    (void)arg;
    it_case_db(db);
    it_admin_shard_add(db);
    cf_log_init("it", CF_LOG_WARN);
    IT_CHECKF(cf_scribe_open(db, 1, &s, err) == 0, "scribe open: %s", err);
    insert_events_at(db, "test.old", now - 40 * DAY_MS, 20);
    insert_events_at(db, "test.recent", now - 10 * DAY_MS, 5);
    for (unsigned i = 0; i < 100; i++)
        IT_EQ(cf_scribe_event(s, "test.new", 0, NULL, "new %u", i), 0);
    IT_EQ(it_scribe_count(db, "test.old"), 20);

    /* By age: the 40-day-old events go, the rest stay. */
    it_monitor_start_ok(&mon, db, "--log-prune-ms", "100", NULL);
    w = (struct count_wait){db, "test.old", 0};
    IT_CHECKF(it_wait_for(count_at_most, &w, 100, 100), "old events still there: %" PRId64,
              it_scribe_count(db, "test.old"));
    IT_EQ(it_scribe_count(db, "test.recent"), 5);
    IT_EQ(it_scribe_count(db, "test.new"), 100);
    it_proc_stop_ok(&mon);

    /* By count: 60 stay, the newest. */
    it_monitor_start_ok(&mon, db, "--log-prune-ms", "100", "--log-max-rows", "60", NULL);
    w = (struct count_wait){db, NULL, 60};
    IT_CHECKF(it_wait_for(count_at_most, &w, 100, 100), "%" PRId64 " events, want 60 at most",
              it_scribe_count(db, NULL));
    IT_EQ(it_scribe_count(db, "test.recent"), 0);
    IT_EQ(it_scribe_count_msg(db, "test.new", "new 99"), 1);
    IT_EQ(it_scribe_count_msg(db, "test.new", "new 50"), 1);
    IT_EQ(it_scribe_count_msg(db, "test.new", "new 30"), 0);
    /* New writes are pruned too. */
    for (unsigned i = 0; i < 30; i++)
        IT_EQ(cf_scribe_event(s, "test.new", 0, NULL, "later %u", i), 0);
    IT_CHECKF(it_wait_for(count_at_most, &w, 100, 100), "%" PRId64 " events, want 60 at most",
              it_scribe_count(db, NULL));
    IT_EQ(it_scribe_count_msg(db, "test.new", "later 29"), 1);
    it_proc_stop_ok(&mon);

    /* The monitor restarted with its clock a year ahead: the guard (its
     * state kept in the catalog) finds the jump, and recent events stay. */
    it_case_path(off, "clock-offset");
    write_text(off, "clock-offset", "31536000000");
    it_monitor_start_ok(&mon, db, "--log-prune-ms", "100", "--log-max-rows", "60",
                        "--test-clock-offset-file", off, NULL);
    w = (struct count_wait){db, CF_SCRIBE_CLOCK, 0};
    IT_CHECKF(it_wait_for(count_above, &w, 100, 100), "no clock event");
    it_proc_stop_ok(&mon); /* the pass that found it has ended */
    IT_CHECKF(it_scribe_count(db, NULL) >= 60, "%" PRId64 " events left",
              it_scribe_count(db, NULL));
    cf_scribe_close(s);
}

/* ---- the retention clock ---- */

#define YEAR_MS "31536000000"

struct purge_wait {
    struct it_cluster *c;
    const struct it_record *rec;
};

/* One purge pass, then: are the record's replicas gone? */
static bool purged(void *arg)
{
    struct purge_wait *w = arg;

    (void)it_purge_now(w->c->app.base);
    return it_cluster_copies(w->c, w->rec->path) == 0;
}

/* Objects marked deleted a moment ago, then the app's wall clock a year
 * ahead: the purge pass does not purge them (the jump is in the scribe),
 * another object is untouched; once the retention has really passed (the
 * guarded time goes on with the boot clock), they are purged. */
static void t_clock_jump(void *arg)
{
    char off[IT_PATH_MAX];
    struct it_record rec[2], keep;
    struct it_purge_counts k;
    struct purge_wait w;
    struct it_cluster c;

    (void)arg;
    it_case_path(off, "clock-offset");
    it_cluster_start_filers(&c, 2);
    it_app_start_ok(&c.app, c.db, "--purge-retention-s", "2", "--purge-interval-ms", "0",
                    "--test-clock-offset-file", off, NULL);
    for (unsigned i = 0; i < 2; i++)
        it_upload_ok(NULL, c.app.base, 60 + i, 20000, 2, false, &rec[i]);
    it_upload_ok(NULL, c.app.base, 70, 30000, 2, false, &keep);
    k = it_purge_now(c.app.base); /* the guard sees the clock in line */
    IT_EQ(k.moved, 0);
    for (unsigned i = 0; i < 2; i++)
        IT_EQ(it_object_delete(c.app.base, rec[i].uuid), 204);

    write_text(off, "clock-offset", YEAR_MS);
    k = it_purge_now(c.app.base);
    IT_EQ(k.moved + k.purged + k.removed, 0);
    IT_EQ(it_cluster_copies(&c, rec[0].path), 2);
    IT_EQ(it_cluster_copies(&c, rec[1].path), 2);
    IT_EQ(it_object_undelete(c.app.base, rec[1].uuid), 204); /* still within its window */
    IT_EQ(it_object_delete(c.app.base, rec[1].uuid), 204);
    IT_EQ(it_scribe_count(c.db, CF_SCRIBE_CLOCK), 1);

    /* The retention really passes: both go, the other object stays. */
    for (unsigned i = 0; i < 2; i++) {
        w = (struct purge_wait){&c, &rec[i]};
        IT_CHECKF(it_wait_for(purged, &w, 50, 200), "%s not purged", rec[i].uuid);
    }
    IT_EQ(it_cluster_copies(&c, keep.path), 2);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"modes_new", t_modes_new, NULL, 60},
        {"modes_tighten", t_modes_tighten, NULL, 90},
        {"modes_other_user", t_modes_other_user, NULL, 30},
        {"cli_names", t_cli_names, NULL, 60},
        {"passwords", t_passwords, NULL, 60},
        {"log_retention", t_log_retention, NULL, 60},
        {"clock_jump", t_clock_jump, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
