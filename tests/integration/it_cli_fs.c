/*
 * it_cli_fs.c -- the path commands of the CLI ("CLI and embedded
 * default") against `coffer server`: the README's five-minute tour. login
 * (wrong password, the default token file), mkdir, put (1 MiB; a name with
 * spaces and non-ASCII), ls, get byte for byte, mv, cp, rm, trash, restore,
 * versions and a restore of one, `coffer admin user add` + `perm set`
 * giving a user read (that user can get, and a put fails with 403),
 * emptying the trash, and bringing an emptied file back (trash --emptied,
 * restore --emptied).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define LINE_MS 20000
#define OUT_MAX 8192
#define UTF8                                                                                       \
    "/docs/Gr\xc3\xbc\xc3\x9f"                                                                     \
    "e an dich.txt"

/* `coffer CMD --token-file TOK A1 A2 A3 A4` (trailing NULLs end the list);
 * returns the exit code, stdout in out (OUT_MAX bytes, may be NULL). */
static int run(char *out, const char *tok, const char *cmd, const char *a1, const char *a2,
               const char *a3, const char *a4)
{
    return it_exit_code(it_coffer_cmd(out, out != NULL ? OUT_MAX : 0, NULL, cmd, "--token-file",
                                      tok, a1, a2, a3, a4, NULL));
}

static void run_ok(char *out, const char *tok, const char *cmd, const char *a1, const char *a2,
                   const char *a3, const char *a4)
{
    int rc = run(out, tok, cmd, a1, a2, a3, a4);

    IT_CHECKF(rc == 0, "coffer %s %s: exit %d (see cmd.log)", cmd, a1 ? a1 : "", rc);
}

/* `coffer get REMOTE -o <case>/got` holds exactly the bytes of local. */
static void get_same(const char *tok, const char *remote, const char *local)
{
    char got[IT_PATH_MAX];
    size_t n1, n2;
    char *a, *b;

    it_case_path(got, "got");
    (void)unlink(got);
    run_ok(NULL, tok, "get", remote, "-o", got, NULL);
    a = it_read_file(local, &n1);
    b = it_read_file(got, &n2);
    IT_EQ(n2, n1);
    IT_CHECKF(memcmp(a, b, n1) == 0, "coffer get %s: other bytes", remote);
    free(a);
    free(b);
}

/* `coffer get REMOTE -o FIFO` writes into the FIFO (a reader child copies it
 * to <case>/fifo.out) and leaves it a FIFO: a target that is not a regular
 * file (as /dev/null) is written in place, never replaced by a rename. */
static void get_into_fifo(const char *tok, const char *remote, const char *local)
{
    char fifo[IT_PATH_MAX], copy[IT_PATH_MAX];
    struct stat st;
    size_t n1, n2;
    char *a, *b;
    pid_t pid;
    int status;

    it_case_path(fifo, "got.fifo");
    it_case_path(copy, "fifo.out");
    (void)unlink(fifo);
    IT_CHECKF(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    pid = fork();
    IT_CHECK(pid >= 0);
    if (pid == 0) {
        char buf[65536];
        int in = open(fifo, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ssize_t n;

        if (in < 0 || out < 0)
            _exit(1);
        for (;;) {
            n = read(in, buf, sizeof(buf));
            if (n <= 0)
                break;
            if (write(out, buf, (size_t)n) != n)
                _exit(1);
        }
        _exit(n == 0 ? 0 : 1);
    }
    status = run(NULL, tok, "get", remote, "-o", fifo, NULL);
    if (lstat(fifo, &st) != 0 || !S_ISFIFO(st.st_mode) || status != 0) {
        kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        IT_CHECKF(false, "coffer get -o FIFO: exit %d, and the FIFO %s", status,
                  lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode) ? "is still there"
                                                                : "was replaced");
    }
    IT_EQ(waitpid(pid, &status, 0), pid);
    IT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    a = it_read_file(local, &n1);
    b = it_read_file(copy, &n2);
    IT_EQ(n2, n1);
    IT_CHECKF(memcmp(a, b, n1) == 0, "coffer get %s into a FIFO: other bytes", remote);
    free(a);
    free(b);
}

/* The id at the start of the line of out that contains needle. */
static uint64_t id_of_line(const char *out, const char *needle)
{
    const char *p = strstr(out, needle), *line;

    IT_CHECKF(p != NULL, "\"%s\" not in \"%s\"", needle, out);
    line = p;
    while (line > out && line[-1] != '\n')
        line--;
    return strtoull(line, NULL, 10);
}

static void t_tour(void *arg)
{
    char gw[IT_URL_MAX], pw[64], tok[IT_PATH_MAX], tok2[IT_PATH_MAX];
    char big[IT_PATH_MAX], small[IT_PATH_MAX], v2[IT_PATH_MAX], log[IT_PATH_MAX];
    char fsdb[IT_PATH_MAX + 16], out[OUT_MAX], id[32], home[IT_PATH_MAX];
    struct it_server s;
    struct stat st;
    char *text;
    size_t n;
    int rc;

    (void)arg;
    it_server_start_ok(&s, "data", 3, NULL);
    it_proc_expect_line(&s.p, "coffer gateway listening on ", gw, sizeof(gw), LINE_MS);
    it_proc_expect_line(&s.p, "coffer gateway login: client demo user admin password ", pw,
                        sizeof(pw), LINE_MS);
    it_case_path(log, "cmd.log");
    it_case_path(home, "home");
    it_fmt(tok, sizeof(tok), "%s/.config/coffer/token", home);
    it_case_path(tok2, "reader.token");
    it_server_db_uri(fsdb, "data", "fs");

    /* Not logged in: a clear message. A wrong password: exit 1, no token. */
    rc = run(NULL, tok, "ls", "/", NULL, NULL, NULL);
    IT_EQ(rc, 1);
    IT_CHECK(it_file_contains(log, "run coffer login"));
    IT_EQ(setenv("HOME", home, 1), 0); /* the default token file */
    rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, "login", "--gateway", gw, "--client", "demo",
                                    "--user", "admin", "--password", "not it", NULL));
    IT_EQ(rc, 1);
    IT_CHECK(it_file_contains(log, "HTTP 401"));
    IT_CHECK(access(tok, F_OK) != 0);
    rc = it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "login", "--gateway", gw, "--client",
                                    "demo", "--user", "admin", "--password", pw, NULL));
    IT_EQ(rc, 0);
    IT_CHECKF(stat(tok, &st) == 0, "no token file \"%s\"", tok);
    IT_EQ(st.st_mode & 0777, 0600);
    IT_CHECK(!it_file_contains(tok, pw));

    /* mkdir, put, ls, get. */
    it_write_payload(big, "big.bin", 1, IT_MIB, NULL);
    it_write_payload(small, "small.txt", 2, 1000, NULL);
    run_ok(NULL, tok, "mkdir", "/docs", NULL, NULL, NULL);
    run_ok(NULL, tok, "put", big, "/docs/big.bin", NULL, NULL);
    run_ok(NULL, tok, "put", small, UTF8, NULL, NULL);
    run_ok(NULL, tok, "put", small, "/docs/", NULL, NULL); /* keeps the name small.txt */
    run_ok(out, tok, "ls", NULL, NULL, NULL, NULL);
    IT_CHECKF(strncmp(out, "folder              -  ", 23) == 0 && strstr(out, "  docs\n"),
              "ls /: \"%s\"", out);
    run_ok(out, tok, "ls", "/docs", NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "file          1048576  ") != NULL && strstr(out, "  big.bin\n") &&
                  strstr(out, "  small.txt\n") &&
                  strstr(out, "  Gr\xc3\xbc\xc3\x9f"
                              "e an dich.txt\n"),
              "ls /docs: \"%s\"", out);
    get_same(tok, "/docs/big.bin", big);
    get_same(tok, UTF8, small);
    get_into_fifo(tok, "/docs/big.bin", big);
    IT_EQ(run(NULL, tok, "get", "/docs/absent", "-o", big, NULL), 1);
    IT_CHECK(it_file_contains(log, "HTTP 404"));

    /* mv, cp, rm, trash, restore. */
    run_ok(NULL, tok, "mv", "/docs/big.bin", "/docs/moved.bin", NULL, NULL);
    run_ok(out, tok, "ls", "/docs", NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "big.bin") == NULL && strstr(out, "  moved.bin\n"), "ls: \"%s\"", out);
    get_same(tok, "/docs/moved.bin", big);
    run_ok(NULL, tok, "cp", UTF8, "/copy.txt", NULL, NULL);
    get_same(tok, "/copy.txt", small);
    run_ok(NULL, tok, "rm", "/copy.txt", NULL, NULL, NULL);
    run_ok(out, tok, "ls", "/", NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "copy.txt") == NULL, "ls /: \"%s\"", out);
    run_ok(out, tok, "trash", NULL, NULL, NULL, NULL);
    it_fmt(id, sizeof(id), "%" PRIu64, id_of_line(out, "  copy.txt\n"));
    run_ok(NULL, tok, "restore", id, NULL, NULL, NULL);
    run_ok(out, tok, "trash", NULL, NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "copy.txt") == NULL, "trash: \"%s\"", out);
    get_same(tok, "/copy.txt", small);

    /* versions: a second put, then back to version 1. */
    it_write_payload(v2, "v2.bin", 3, 5000, NULL);
    run_ok(NULL, tok, "put", v2, "/docs/moved.bin", NULL, NULL);
    get_same(tok, "/docs/moved.bin", v2);
    run_ok(out, tok, "versions", "/docs/moved.bin", NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "* 2 ") != NULL, "versions: \"%s\"", out);
    it_fmt(id, sizeof(id), "%" PRIu64, id_of_line(out, "  1 "));
    run_ok(out, tok, "versions", "/docs/moved.bin", "--restore", id, NULL);
    IT_CHECKF(strstr(out, "restored as version 3") != NULL, "versions --restore: \"%s\"", out);
    get_same(tok, "/docs/moved.bin", big);

    /* A user who may only read: get works, put is refused with 403. */
    rc = it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "user", "add", "--fs-db", fsdb,
                                    "--client", "demo", "reader", "--password", "reader pw 2026",
                                    NULL));
    IT_EQ(rc, 0);
    rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "perm", "set", "--fs-db", fsdb,
                                    "--client", "demo", "--path", "/", "--user", "reader",
                                    "--level", "read", NULL));
    IT_EQ(rc, 0);
    rc = it_exit_code(it_coffer_cmd(NULL, 0, NULL, "login", "--token-file", tok2, "--gateway", gw,
                                    "--client", "demo", "--user", "reader", "--password",
                                    "reader pw 2026", NULL));
    IT_EQ(rc, 0);
    get_same(tok2, "/docs/moved.bin", big);
    IT_CHECK(!it_file_contains(log, "HTTP 403"));
    IT_EQ(run(NULL, tok2, "put", small, "/docs/new.txt", NULL, NULL), 1);
    IT_CHECK(it_file_contains(log, "coffer put: HTTP 403: permission denied"));
    run_ok(out, tok, "ls", "/docs", NULL, NULL, NULL);
    IT_CHECKF(strstr(out, "new.txt") == NULL, "ls: \"%s\"", out);

    /* Delete for good: the trash (holding nothing now) stays empty. */
    run_ok(NULL, tok, "rm", "/docs/small.txt", NULL, NULL, NULL);
    run_ok(out, tok, "trash", "--empty", NULL, NULL, NULL);
    IT_CHECKF(strncmp(out, "trash emptied", 13) == 0, "trash --empty: \"%s\"", out);
    run_ok(out, tok, "trash", NULL, NULL, NULL, NULL);
    IT_STREQ(out, "");
    IT_EQ(run(NULL, tok, "get", "/docs/small.txt", "-o", big, NULL), 1);

    /* While the app keeps its object, the emptied file comes back. */
    run_ok(out, tok, "trash", "--emptied", NULL, NULL, NULL);
    it_fmt(id, sizeof(id), "%" PRIu64, id_of_line(out, "  small.txt\n"));
    run_ok(NULL, tok, "restore", "--emptied", id, "--to", "/docs/back.txt");
    get_same(tok, "/docs/back.txt", small);
    run_ok(out, tok, "trash", "--emptied", NULL, NULL, NULL);
    IT_STREQ(out, "");
    IT_EQ(run(NULL, tok, "restore", "--emptied", id, NULL, NULL), 1);
    IT_CHECK(it_file_contains(log, "no such emptied file"));

    /* A bad usage is exit 2. */
    IT_EQ(run(NULL, tok, "mv", "/docs/moved.bin", NULL, NULL, NULL), 2);

    text = it_read_file(log, &n);
    IT_CHECKF(memmem(text, n, pw, strlen(pw)) == NULL, "a password reached the log");
    free(text);
    it_proc_signal(&s.p, SIGINT);
    IT_CHECKF(it_proc_wait_exit(&s.p, 30000, &rc), "coffer server ignored SIGINT");
    IT_EQ(it_exit_code(rc), 0);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"tour", t_tour, NULL, 120},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
