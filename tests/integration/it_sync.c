/*
 * it_sync.c -- `coffer sync` (README "Sync") against real `coffer server`s.
 *
 * local: a local folder and a remote one: the first pass joins both; then
 * changes both ways, a conflict (both copies kept, the local one under its
 * conflict name on both sides), a delete each way (the remote one in the
 * gateway's trash, the local one in .coffer-sync/trash), a rename each way
 * (carried as a move: nothing goes to the trash), and the journal pruned
 * past the sync's cursor (410: the sync lists everything again).
 * kill: `coffer sync` SIGKILLed in the middle of a 32 MiB download (slowed
 * by --max-rate) resumes from the partial file and ends with the right bytes.
 * two: two systems' folders kept in step; the second system is stopped (the
 * link cut), the sync fails and says so, both sides change (one file on
 * both), the second comes back at another address and one pass catches up,
 * the file changed on both kept twice.
 * watch: `coffer sync --watch` carries a remote and a local change without
 * being run again, and ends on SIGTERM.
 * cut: `coffer sync --watch` between two systems: the second stops, the
 * sync reports it and tries again, and when it is back (at another address,
 * logged in again) catches up both ways without being restarted.
 * journal: GET /api/v1/changes: its arguments, the path filter, a long-poll
 * that waits its wait_s when nothing comes and one woken by a change, and a
 * user who may read one folder seeing only its changes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "harness.h"

#define LINE_MS 20000
#define OUT_MAX 16384

/* Start a server on data and log in to it; its gateway URL into gw. */
static void start_login(struct it_server *s, const char *data, const char *tok, char *gw,
                        size_t cap)
{
    char pw[64];
    int rc;

    it_server_start_ok(s, data, 3, NULL);
    it_proc_expect_line(&s->p, "coffer gateway listening on ", gw, cap, LINE_MS);
    it_proc_expect_line(&s->p, "coffer gateway login: client demo user admin password ", pw,
                        sizeof(pw), LINE_MS);
    rc =
        it_exit_code(it_coffer_cmd(NULL, 0, NULL, "login", "--gateway", gw, "--client", "demo",
                                   "--user", "admin", "--password", pw, "--token-file", tok, NULL));
    IT_EQ(rc, 0);
}

static void stop_server(struct it_server *s)
{
    int st = 0;

    it_proc_signal(&s->p, SIGINT);
    IT_CHECKF(it_proc_wait_exit(&s->p, 30000, &st), "coffer server ignored SIGINT");
    IT_EQ(it_exit_code(st), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    IT_CHECKF(f != NULL, "open %s: %s", path, strerror(errno));
    IT_CHECK(fputs(text, f) >= 0);
    IT_EQ(fclose(f), 0);
}

/* The file at path holds exactly text. */
static bool has_text(const char *path, const char *text)
{
    size_t n = 0;
    char *got;
    bool same;

    if (access(path, F_OK) != 0)
        return false;
    got = it_read_file(path, &n);
    same = n == strlen(text) && memcmp(got, text, n) == 0;
    free(got);
    return same;
}

static void check_text(const char *path, const char *text)
{
    IT_CHECKF(has_text(path, text), "%s does not hold \"%s\"", path, text);
}

static void gone(const char *path)
{
    IT_CHECKF(access(path, F_OK) != 0, "%s is still there", path);
}

/* `coffer CMD --token-file TOK ARGS` must exit 0; stdout into out (may be NULL). */
static void cmd_ok(char *out, const char *tok, const char *cmd, const char *a1, const char *a2)
{
    int rc = it_exit_code(it_coffer_cmd(out, out != NULL ? OUT_MAX : 0, NULL, cmd, "--token-file",
                                        tok, a1, a2, NULL));

    IT_CHECKF(rc == 0, "coffer %s %s: exit %d (see cmd.log)", cmd, a1 ? a1 : "", rc);
}

/* Upload text to remote path. */
static void rput(const char *tok, const char *remote, const char *text)
{
    char f[IT_PATH_MAX];

    it_case_path(f, "upload.tmp");
    write_text(f, text);
    cmd_ok(NULL, tok, "put", f, remote);
}

/* it_coffer_cmd's argument list ends at the first NULL, so get needs its
 * own call to give -o FILE. */
static void rget_to(const char *tok, const char *remote, const char *file)
{
    int rc = it_exit_code(
        it_coffer_cmd(NULL, 0, NULL, "get", "--token-file", tok, remote, "-o", file, NULL));

    IT_CHECKF(rc == 0, "coffer get %s: exit %d", remote, rc);
}

static void rcheck_text(const char *tok, const char *remote, const char *text)
{
    char f[IT_PATH_MAX];

    it_case_path(f, "download.tmp");
    (void)unlink(f);
    rget_to(tok, remote, f);
    check_text(f, text);
}

/* rput and rcheck_text through gateway gw instead of the token file's. */
static void rput_via(const char *tok, const char *gw, const char *remote, const char *text)
{
    char f[IT_PATH_MAX];

    it_case_path(f, "upload.tmp");
    write_text(f, text);
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "put", "--token-file", tok, "--gateway", gw, f,
                                     remote, NULL)),
          0);
}

static void rcheck_via(const char *tok, const char *gw, const char *remote, const char *text)
{
    char f[IT_PATH_MAX];

    it_case_path(f, "download.tmp");
    (void)unlink(f);
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "get", "--token-file", tok, "--gateway", gw,
                                     remote, "-o", f, NULL)),
          0);
    check_text(f, text);
    (void)unlink(f);
}

/* `coffer sync --token-file TOK LOCAL REMOTE`; its exit code. */
static int sync_run(const char *tok, const char *local, const char *remote)
{
    return it_exit_code(it_coffer_cmd(NULL, 0, NULL, "sync", "--token-file", tok, "--attempts", "1",
                                      local, remote, NULL));
}

static void sync_ok(const char *tok, const char *local, const char *remote)
{
    int rc = sync_run(tok, local, remote);

    IT_CHECKF(rc == 0, "coffer sync %s %s: exit %d (see cmd.log)", local, remote, rc);
}

/* Start `coffer sync ARGS...` in the background (stderr appended to
 * <case>/sync.log); it dies with the case. */
static pid_t sync_spawn(const char *const *args)
{
    char log[IT_PATH_MAX];
    const char *argv[24];
    size_t n = 0;
    pid_t pid;

    it_case_path(log, "sync.log");
    argv[n++] = it_coffer_bin();
    argv[n++] = "sync";
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = fork();
    IT_CHECK(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open("/dev/null", O_RDWR);

        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* ---- local: a local folder and a remote one ---- */

static void t_local(void *arg)
{
    char gw[IT_URL_MAX], tok[IT_PATH_MAX], L[IT_PATH_MAX], p[IT_PATH_MAX], q[IT_PATH_MAX];
    char out[OUT_MAX], log[IT_PATH_MAX];
    struct it_server s;

    (void)arg;
    it_case_path(tok, "tok");
    it_case_path(L, "local");
    it_case_path(log, "cmd.log");
    start_login(&s, "data", tok, gw, sizeof(gw));
    IT_EQ(mkdir(L, 0700), 0);

    /* First pass: both sides joined (the remote folder is made). */
    it_fmt(p, sizeof(p), "%s/a.txt", L);
    write_text(p, "a1");
    it_fmt(p, sizeof(p), "%s/sub", L);
    IT_EQ(mkdir(p, 0700), 0);
    it_fmt(p, sizeof(p), "%s/sub/b.txt", L);
    write_text(p, "b1");
    cmd_ok(NULL, tok, "mkdir", "/other", NULL);
    rput(tok, "/other/r.txt", "r1"); /* not under /docs: never synced */
    sync_ok(tok, L, "/docs");
    rput(tok, "/docs/r.txt", "r1");
    sync_ok(tok, L, "/docs");
    rcheck_text(tok, "/docs/a.txt", "a1");
    rcheck_text(tok, "/docs/sub/b.txt", "b1");
    it_fmt(p, sizeof(p), "%s/r.txt", L);
    check_text(p, "r1");

    /* Changes both ways in one pass. */
    rput(tok, "/docs/a.txt", "a2-remote");
    it_fmt(p, sizeof(p), "%s/c.txt", L);
    write_text(p, "c1");
    sync_ok(tok, L, "/docs");
    it_fmt(p, sizeof(p), "%s/a.txt", L);
    check_text(p, "a2-remote");
    rcheck_text(tok, "/docs/c.txt", "c1");

    /* A conflict: both copies kept, the local one under its conflict name. */
    write_text(p, "a3-local");
    rput(tok, "/docs/a.txt", "a3-remote");
    sync_ok(tok, L, "/docs");
    check_text(p, "a3-remote");
    rcheck_text(tok, "/docs/a.txt", "a3-remote");
    cmd_ok(out, tok, "ls", "/docs", NULL);
    {
        const char *c = strstr(out, "a (conflict ");
        char name[256], remote[300], local[IT_PATH_MAX];
        size_t n;

        IT_CHECKF(c != NULL, "no conflict copy remotely: \"%s\"", out);
        n = strcspn(c, "\n");
        IT_CHECK(n < sizeof(name));
        memcpy(name, c, n);
        name[n] = '\0';
        IT_CHECKF(n > 4 && strcmp(name + n - 5, ").txt") == 0, "conflict name \"%s\"", name);
        it_fmt(remote, sizeof(remote), "/docs/%s", name);
        rcheck_text(tok, remote, "a3-local");
        it_fmt(local, sizeof(local), "%s/%s", L, name);
        check_text(local, "a3-local");
    }
    IT_CHECK(it_file_contains(log, "changed on both sides"));

    /* A delete each way: remote -> local (kept in .coffer-sync/trash),
     * local -> remote (in the gateway's trash). */
    cmd_ok(NULL, tok, "rm", "/docs/r.txt", NULL);
    it_fmt(p, sizeof(p), "%s/c.txt", L);
    IT_EQ(unlink(p), 0);
    sync_ok(tok, L, "/docs");
    it_fmt(p, sizeof(p), "%s/r.txt", L);
    gone(p);
    it_fmt(p, sizeof(p), "%s/.coffer-sync/trash/r.txt", L);
    check_text(p, "r1");
    cmd_ok(out, tok, "ls", "/docs", NULL);
    IT_CHECKF(strstr(out, " c.txt\n") == NULL && strstr(out, " r.txt\n") == NULL, "ls: \"%s\"",
              out);
    cmd_ok(out, tok, "trash", NULL, NULL);
    IT_CHECKF(strstr(out, "  c.txt\n") != NULL, "c.txt not in the trash: \"%s\"", out);

    /* A rename each way, carried as a move (the trash does not grow). */
    it_fmt(p, sizeof(p), "%s/sub/b.txt", L);
    it_fmt(q, sizeof(q), "%s/sub/b2.txt", L);
    IT_EQ(rename(p, q), 0);
    cmd_ok(NULL, tok, "mv", "/docs/a.txt", "/docs/sub/moved.txt");
    sync_ok(tok, L, "/docs");
    rcheck_text(tok, "/docs/sub/b2.txt", "b1");
    it_fmt(p, sizeof(p), "%s/a.txt", L);
    gone(p);
    it_fmt(p, sizeof(p), "%s/sub/moved.txt", L);
    check_text(p, "a3-remote");
    cmd_ok(out, tok, "ls", "/docs/sub", NULL);
    IT_CHECKF(strstr(out, " b.txt\n") == NULL && strstr(out, " moved.txt\n") != NULL,
              "ls /docs/sub: \"%s\"", out);
    cmd_ok(out, tok, "trash", NULL, NULL);
    IT_CHECKF(strstr(out, "b.txt") == NULL, "a rename went through the trash: \"%s\"", out);
    IT_CHECK(it_file_contains(log, "move /sub/b.txt -> /sub/b2.txt"));
    it_fmt(p, sizeof(p), "%s/.coffer-sync/trash/a.txt", L);
    gone(p);

    /* The journal pruned past the sync's cursor (as the retention pass
     * does, done here on the shard's file): the gateway answers 410 and
     * the sync lists everything again. */
    if (!it_backend_pg()) {
        char uri[IT_PATH_MAX + 16], err[CF_ERR_LEN] = "";
        struct cf_db *db = NULL;

        rput(tok, "/docs/late.txt", "late1");
        it_fmt(uri, sizeof(uri), "sqlite:%s/data/fsshard-0001.db", it_case_dir());
        IT_CHECKF(cf_db_open(uri, &db, err) == 0, "open %s: %s", uri, err);
        IT_CHECKF(cf_db_exec(db,
                             "INSERT INTO changes_floor (client_id, seq)"
                             " SELECT client_id, max(seq) FROM changes GROUP BY client_id;"
                             "DELETE FROM changes;",
                             err) == 0,
                  "prune: %s", err);
        cf_db_close(db);
        sync_ok(tok, L, "/docs");
        IT_CHECK(it_file_contains(log, "the journal was pruned past our cursor; rescanning"));
        it_fmt(p, sizeof(p), "%s/late.txt", L);
        check_text(p, "late1");
        it_fmt(p, sizeof(p), "%s/sub/moved.txt", L);
        check_text(p, "a3-remote");
        /* And from the new cursor on, the journal again. */
        rput(tok, "/docs/later.txt", "later1");
        sync_ok(tok, L, "/docs");
        it_fmt(p, sizeof(p), "%s/later.txt", L);
        check_text(p, "later1");
    }
    stop_server(&s);
}

/* ---- kill: a download killed midway resumes ---- */

struct part_wait {
    char dir[IT_PATH_MAX];
    uint64_t min;
};

/* Some file in dir has at least min bytes. */
static bool part_grown(void *arg)
{
    struct part_wait *w = arg;
    char cmd[IT_PATH_MAX + 64], line[64] = "";
    FILE *f;

    it_fmt(cmd, sizeof(cmd), "du -b %s 2>/dev/null | tail -1", w->dir);
    f = popen(cmd, "r");
    if (f == NULL)
        return false;
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    (void)pclose(f);
    return strtoull(line, NULL, 10) >= w->min + 4096;
}

static void t_kill(void *arg)
{
    char gw[IT_URL_MAX], tok[IT_PATH_MAX], L[IT_PATH_MAX], big[IT_PATH_MAX], got[IT_PATH_MAX];
    char log[IT_PATH_MAX];
    uint8_t want[CF_SHA512_LEN], have[CF_SHA512_LEN];
    struct part_wait w;
    struct it_server s;
    uint64_t size = 0;
    int st = 0;
    pid_t pid;

    (void)arg;
    it_case_path(tok, "tok");
    it_case_path(L, "local");
    it_case_path(log, "cmd.log");
    start_login(&s, "data", tok, gw, sizeof(gw));
    IT_EQ(mkdir(L, 0700), 0);
    it_write_payload(big, "big.bin", 7, 32 * IT_MIB, want);
    cmd_ok(NULL, tok, "mkdir", "/docs", NULL);
    cmd_ok(NULL, tok, "put", big, "/docs/big.bin");
    {
        const char *args[] = {"--token-file", tok, "--max-rate", "8388608", L, "/docs", NULL};
        pid = sync_spawn(args);
    }
    it_fmt(w.dir, sizeof(w.dir), "%s/.coffer-sync/partial", L);
    w.min = 4 * IT_MIB;
    IT_CHECKF(it_wait_for(part_grown, &w, 100, 100), "the download did not start");
    IT_EQ(kill(pid, SIGKILL), 0);
    IT_EQ(waitpid(pid, &st, 0), pid);
    IT_CHECK(WIFSIGNALED(st));
    it_fmt(got, sizeof(got), "%s/big.bin", L);
    gone(got);
    /* Run again: it resumes from the partial file and checks the whole. */
    sync_ok(tok, L, "/docs");
    IT_CHECK(it_file_contains(log, "resuming /big.bin from byte "));
    it_file_sha512(got, &size, have);
    IT_EQ(size, 32 * IT_MIB);
    IT_CHECK(memcmp(want, have, sizeof(want)) == 0);
    {
        DIR *d = opendir(w.dir);
        struct dirent *de;
        int left = 0;

        IT_CHECK(d != NULL);
        for (de = readdir(d); de != NULL; de = readdir(d))
            left += de->d_name[0] != '.';
        (void)closedir(d);
        IT_EQ(left, 0); /* partial/ emptied once every file went through */
    }
    sync_ok(tok, L, "/docs");
    stop_server(&s);
}

/* ---- two: two systems, the link cut and restored ---- */

/* Two systems, each logged in as its admin (token files tok1 and tok2 in
 * the case's directory; gw2 gets the second one's gateway URL), with
 * /site made on the first and /cloud on the second. */
static void start_two(struct it_server *s1, struct it_server *s2, char tok1[IT_PATH_MAX],
                      char tok2[IT_PATH_MAX], char gw2[IT_URL_MAX])
{
    char gw1[IT_URL_MAX];

    it_case_path(tok1, "tok1");
    it_case_path(tok2, "tok2");
    start_login(s1, "data1", tok1, gw1, sizeof(gw1));
    start_login(s2, "data2", tok2, gw2, IT_URL_MAX);
    cmd_ok(NULL, tok1, "mkdir", "/site", NULL);
    cmd_ok(NULL, tok2, "mkdir", "/cloud", NULL);
}

static int sync_two(const char *tok1, const char *tok2, const char *gw2, const char *st)
{
    return it_exit_code(it_coffer_cmd(NULL, 0, NULL, "sync", "--token-file", tok1,
                                      "--peer-token-file", tok2, "--peer-gateway", gw2, "--state",
                                      st, "--attempts", "1", "/site", "/cloud", NULL));
}

static void t_two(void *arg)
{
    char gw2[IT_URL_MAX], tok1[IT_PATH_MAX], tok2[IT_PATH_MAX];
    char st[IT_PATH_MAX], log[IT_PATH_MAX];
    struct it_server s1, s2;
    int rc;

    (void)arg;
    it_case_path(st, "state");
    it_case_path(log, "cmd.log");
    start_two(&s1, &s2, tok1, tok2, gw2);
    rput(tok1, "/site/plan.txt", "plan1");
    rput(tok2, "/cloud/report.txt", "report1");
    IT_EQ(sync_two(tok1, tok2, gw2, st), 0);
    rcheck_text(tok2, "/cloud/plan.txt", "plan1");
    rcheck_text(tok1, "/site/report.txt", "report1");

    /* The link is cut: the pass fails and says why; the site keeps working. */
    stop_server(&s2);
    rput(tok1, "/site/plan.txt", "plan2");
    rput(tok1, "/site/new.txt", "new1");
    rc = sync_two(tok1, tok2, gw2, st);
    IT_EQ(rc, 1);
    IT_CHECK(it_file_contains(log, "unreachable"));

    /* Back (at another address): the cloud changed too; one pass catches up. */
    it_server_start_ok(&s2, "data2", 3, NULL);
    it_proc_expect_line(&s2.p, "coffer gateway listening on ", gw2, sizeof(gw2), LINE_MS);
    /* The token file names the old address. */
    rput_via(tok2, gw2, "/cloud/report.txt", "report2");
    rput_via(tok2, gw2, "/cloud/plan.txt", "plan-cloud");
    IT_EQ(sync_two(tok1, tok2, gw2, st), 0);
    rcheck_text(tok1, "/site/report.txt", "report2");
    /* plan.txt changed on both: the cloud's keeps the name, the site's is
     * kept on both under its conflict name. */
    rcheck_text(tok1, "/site/plan.txt", "plan-cloud");
    {
        char out[OUT_MAX], name[300];
        const char *c;
        size_t n;

        cmd_ok(out, tok1, "ls", "/site", NULL);
        c = strstr(out, "plan (conflict ");
        IT_CHECKF(c != NULL, "no conflict copy: \"%s\"", out);
        n = strcspn(c, "\n");
        IT_CHECK(n < 200);
        it_fmt(name, sizeof(name), "/site/%.*s", (int)n, c);
        rcheck_text(tok1, name, "plan2");
    }
    rcheck_via(tok2, gw2, "/cloud/plan.txt", "plan-cloud");
    rcheck_via(tok2, gw2, "/cloud/new.txt", "new1");
    stop_server(&s2);
    stop_server(&s1);
}

/* ---- watch ---- */

struct local_wait {
    const char *path, *text;
};

static bool local_has(void *arg)
{
    const struct local_wait *w = arg;

    return has_text(w->path, w->text);
}

struct remote_wait {
    const char *tok, *remote, *text;
};

static bool remote_has(void *arg)
{
    const struct remote_wait *w = arg;
    char f[IT_PATH_MAX];

    it_case_path(f, "poll.tmp");
    (void)unlink(f);
    if (it_exit_code(it_coffer_cmd(NULL, 0, NULL, "get", "--token-file", w->tok, w->remote, "-o", f,
                                   NULL)) != 0)
        return false;
    return has_text(f, w->text);
}

static void t_watch(void *arg)
{
    char gw[IT_URL_MAX], tok[IT_PATH_MAX], L[IT_PATH_MAX], p[IT_PATH_MAX];
    struct it_server s;
    int st = 0;
    pid_t pid;

    (void)arg;
    it_case_path(tok, "tok");
    it_case_path(L, "local");
    start_login(&s, "data", tok, gw, sizeof(gw));
    IT_EQ(mkdir(L, 0700), 0);
    {
        const char *args[] = {"--token-file", tok, "--watch", "--debounce-ms",
                              "100",          L,   "/docs",   NULL};
        cmd_ok(NULL, tok, "mkdir", "/docs", NULL);
        pid = sync_spawn(args);
    }
    /* A remote change comes down through the long-poll. */
    rput(tok, "/docs/from-remote.txt", "hello down");
    it_fmt(p, sizeof(p), "%s/from-remote.txt", L);
    {
        struct local_wait w = {p, "hello down"};
        IT_CHECKF(it_wait_for(local_has, &w, 100, 100), "the remote change did not come down");
    }
    /* A local change goes up through inotify. */
    it_fmt(p, sizeof(p), "%s/from-local.txt", L);
    write_text(p, "hello up");
    {
        struct remote_wait w = {tok, "/docs/from-local.txt", "hello up"};
        IT_CHECKF(it_wait_for(remote_has, &w, 50, 200), "the local change did not go up");
    }
    IT_EQ(kill(pid, SIGTERM), 0);
    IT_EQ(waitpid(pid, &st, 0), pid);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "coffer sync --watch: status %d", st);
    stop_server(&s);
}

/* ---- cut: --watch between two systems rides out an outage ---- */

/* Point the login kept in tok at gw, as a new coffer login there would. */
static void retarget(const char *tok, const char *gw)
{
    size_t n = 0;
    char *text = it_read_file(tok, &n), *out;
    json_t *j = json_loadb(text, n, 0, NULL);

    free(text);
    IT_CHECK(j != NULL);
    IT_EQ(json_object_set_new(j, "gateway", json_string(gw)), 0);
    out = json_dumps(j, JSON_COMPACT);
    IT_CHECK(out != NULL);
    write_text(tok, out);
    free(out);
    json_decref(j);
}

struct log_wait {
    const char *path, *needle;
};

static bool log_has(void *arg)
{
    const struct log_wait *w = arg;

    return access(w->path, F_OK) == 0 && it_file_contains(w->path, w->needle);
}

static void t_cut(void *arg)
{
    char gw2[IT_URL_MAX], tok1[IT_PATH_MAX], tok2[IT_PATH_MAX];
    char st[IT_PATH_MAX], slog[IT_PATH_MAX];
    struct it_server s1, s2;
    int status = 0;
    pid_t pid;

    (void)arg;
    it_case_path(st, "state");
    it_case_path(slog, "sync.log");
    start_two(&s1, &s2, tok1, tok2, gw2);
    {
        const char *args[] = {"--token-file", tok1, "--peer-token-file", tok2,    "--state", st,
                              "--attempts",   "1",  "--watch",           "/site", "/cloud",  NULL};
        pid = sync_spawn(args);
    }
    rput(tok1, "/site/a.txt", "a1");
    {
        struct remote_wait w = {tok2, "/cloud/a.txt", "a1"};
        IT_CHECKF(it_wait_for(remote_has, &w, 50, 200), "a.txt did not reach the cloud");
    }
    /* The link goes down: the site keeps working, the sync says so and waits. */
    stop_server(&s2);
    rput(tok1, "/site/b.txt", "b1");
    {
        struct log_wait w = {slog, "pass incomplete; trying again"};
        IT_CHECKF(it_wait_for(log_has, &w, 50, 200), "the sync did not report the cut");
    }
    IT_CHECK(it_file_contains(slog, "no answer (unreachable?)"));
    /* Back at another address (a new login there): it catches up both ways. */
    it_server_start_ok(&s2, "data2", 3, NULL);
    it_proc_expect_line(&s2.p, "coffer gateway listening on ", gw2, sizeof(gw2), LINE_MS);
    retarget(tok2, gw2);
    rput(tok2, "/cloud/c.txt", "c1");
    {
        struct remote_wait w = {tok2, "/cloud/b.txt", "b1"};
        IT_CHECKF(it_wait_for(remote_has, &w, 100, 200), "b.txt did not reach the cloud");
    }
    {
        struct remote_wait w = {tok1, "/site/c.txt", "c1"};
        IT_CHECKF(it_wait_for(remote_has, &w, 100, 200), "c.txt did not reach the site");
    }
    IT_EQ(kill(pid, SIGTERM), 0);
    IT_EQ(waitpid(pid, &status, 0), pid);
    IT_CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "coffer sync --watch: status %d",
              status);
    stop_server(&s2);
    stop_server(&s1);
}

/* ---- journal: GET /api/v1/changes ---- */

/* GET target with the token of tok (a login's file); the JSON reply into
 * *j (caller frees) when 2xx. Returns the status. */
static long changes_get(const char *gw, const char *tok, const char *target, json_t **j)
{
    char auth[700];
    struct it_resp r;
    json_t *t;
    size_t n;
    char *text = it_read_file(tok, &n);
    long st;

    t = json_loadb(text, n, 0, NULL);
    free(text);
    IT_CHECK(t != NULL);
    it_fmt(auth, sizeof(auth), "Authorization: Bearer %s", it_json_str(t, "token"));
    json_decref(t);
    st = it_http_to(NULL, gw, "GET", target, NULL, &r, auth, NULL);
    *j = st / 100 == 2 ? it_resp_json(&r) : NULL;
    it_resp_fini(&r);
    return st;
}

static void t_journal(void *arg)
{
    char gw[IT_URL_MAX], tok[IT_PATH_MAX], target[256];
    struct it_server s;
    const json_t *ch;
    uint64_t t0, cur;
    json_t *j = NULL;
    int st = 0;
    pid_t pid;

    (void)arg;
    it_case_path(tok, "tok");
    start_login(&s, "data", tok, gw, sizeof(gw));
    IT_EQ(changes_get(gw, tok, "/api/v1/changes", &j), 400);
    IT_EQ(changes_get(gw, tok, "/api/v1/changes?cursor=1&wait_s=61", &j), 400);
    IT_EQ(changes_get(gw, tok, "/api/v1/changes?cursor=latest", &j), 200);
    cur = (uint64_t)it_json_int(j, "cursor");
    json_decref(j);
    cmd_ok(NULL, tok, "mkdir", "/j", NULL);
    rput(tok, "/j/x.txt", "x1");
    rput(tok, "/outside.txt", "o1");
    it_fmt(target, sizeof(target), "/api/v1/changes?cursor=%" PRIu64 "&path=/j", cur);
    IT_EQ(changes_get(gw, tok, target, &j), 200);
    ch = json_object_get(j, "changes");
    IT_EQ(json_array_size(ch), 2);
    IT_STREQ(it_json_str(json_array_get(ch, 0), "kind"), "mkdir");
    IT_STREQ(it_json_str(json_array_get(ch, 1), "kind"), "put");
    IT_STREQ(it_json_str(json_array_get(ch, 1), "path"), "/j/x.txt");
    IT_EQ(it_json_int(json_array_get(ch, 1), "size"), 2);
    cur = (uint64_t)it_json_int(j, "cursor"); /* past /outside.txt, not shown */
    json_decref(j);

    /* Nothing new: the long-poll waits its wait_s, then answers empty. */
    it_fmt(target, sizeof(target), "/api/v1/changes?cursor=%" PRIu64 "&path=/j&wait_s=1", cur);
    t0 = cf_now_ns();
    IT_EQ(changes_get(gw, tok, target, &j), 200);
    IT_CHECK(cf_now_ns() - t0 >= 900000000u);
    IT_EQ(json_array_size(json_object_get(j, "changes")), 0);
    json_decref(j);

    /* A change while it waits wakes it at once. */
    pid = fork();
    IT_CHECK(pid >= 0);
    if (pid == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void)usleep(300000);
        execl(it_coffer_bin(), it_coffer_bin(), "cp", "--token-file", tok, "/j/x.txt", "/j/y.txt",
              (char *)NULL);
        _exit(127);
    }
    it_fmt(target, sizeof(target), "/api/v1/changes?cursor=%" PRIu64 "&path=/j&wait_s=30", cur);
    t0 = cf_now_ns();
    IT_EQ(changes_get(gw, tok, target, &j), 200);
    IT_CHECKF(cf_now_ns() - t0 < 20000000000u, "the long-poll was not woken");
    ch = json_object_get(j, "changes");
    IT_EQ(json_array_size(ch), 1);
    IT_STREQ(it_json_str(json_array_get(ch, 0), "path"), "/j/y.txt");
    json_decref(j);
    IT_EQ(waitpid(pid, &st, 0), pid);
    IT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* A user who may read only /j sees only the changes there. */
    {
        char fsdb[IT_PATH_MAX + 16], tok2[IT_PATH_MAX];
        bool x = false;
        int rc;

        it_server_db_uri(fsdb, "data", "fs");
        it_case_path(tok2, "reader.tok");
        rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "user", "add", "--fs-db", fsdb,
                                        "--client", "demo", "reader", "--password",
                                        "reader pw 2026", NULL));
        IT_EQ(rc, 0);
        rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "perm", "set", "--fs-db", fsdb,
                                        "--client", "demo", "--path", "/j", "--user", "reader",
                                        "--level", "read", NULL));
        IT_EQ(rc, 0);
        rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, "login", "--token-file", tok2, "--gateway",
                                        gw, "--client", "demo", "--user", "reader", "--password",
                                        "reader pw 2026", NULL));
        IT_EQ(rc, 0);
        IT_EQ(changes_get(gw, tok2, "/api/v1/changes?cursor=0", &j), 200);
        ch = json_object_get(j, "changes");
        IT_CHECK(json_array_size(ch) >= 2);
        for (size_t i = 0; i < json_array_size(ch); i++) {
            const char *path = it_json_str(json_array_get(ch, i), "path");
            IT_CHECKF(strncmp(path, "/j/", 3) == 0, "the reader sees %s", path);
            x = x || strcmp(path, "/j/x.txt") == 0;
        }
        IT_CHECK(x);
        json_decref(j);
    }
    stop_server(&s);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"local", t_local, NULL, 120}, {"kill", t_kill, NULL, 120},       {"two", t_two, NULL, 120},
        {"watch", t_watch, NULL, 120}, {"journal", t_journal, NULL, 120}, {"cut", t_cut, NULL, 120},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
