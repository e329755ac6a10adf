/*
 * it_filer_faults.c -- a real `coffer filer` under faults: capacity, kill -9
 * in the middle of an upload, clients that vanish mid-body, SIGTERM while a
 * request is in flight, restarts, a second filer on the same directory and
 * read-only mode (README "The filer", DESIGN §4).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "coffer/objpath.h"
#include "harness.h"

static void expect_absent(const struct it_filer *f, const char *path)
{
    char target[IT_PATH_MAX];

    it_fmt(target, sizeof(target), "/o/%s", path);
    IT_EQ(it_status_of(NULL, f, "GET", target), 404);
    IT_EQ(it_object_file_size(f, path), -1);
}

/* --capacity 1M is 1,048,576 bytes (conf.h: the suffixes are powers of
 * 1024): a body that fits is stored, one that does not gets 507 and changes
 * nothing, with Content-Length, with Expect: 100-continue and chunked; the
 * boundary is exact and DELETE gives the space back. */
static void t_capacity(void *arg)
{
    const uint64_t part = 600 * 1024;
    struct it_body b = {.expect = true};
    struct it_filer f;
    struct it_resp r;
    int64_t cap, used;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, "--capacity", "1M", NULL);
    cap = it_status_int(&f, "total_bytes");
    IT_EQ(cap, 1024 * 1024);
    IT_EQ(it_status_int(&f, "free_bytes"), cap);

    it_put_ok(NULL, &f, "cap/fits", 1, part, false, NULL);
    it_check_usage(&f, 1, (int64_t)part);
    IT_EQ(it_status_int(&f, "free_bytes"), cap - (int64_t)part);

    IT_EQ(it_put_status(NULL, &f, "cap/too-big", 2, part, false), 507);
    it_gen_init(&b.gen, 3, part);
    IT_EQ(it_http(NULL, &f, "PUT", "/o/cap/too-big", &b, &r, NULL), 507);
    it_gen_fini(&b.gen);
    it_check_error_body(&r, "ENOSPC");
    it_resp_fini(&r);
    IT_EQ(it_put_status(NULL, &f, "cap/too-big", 4, 2 * IT_MIB, true), 507);
    it_wait_no_tmp(&f);
    expect_absent(&f, "cap/too-big");
    it_check_usage(&f, 1, (int64_t)part);

    /* Exactly full fits; one more byte does not; an empty object always fits. */
    used = cap - (int64_t)part;
    it_put_ok(NULL, &f, "cap/rest", 5, (uint64_t)used, false, NULL);
    it_check_usage(&f, 2, cap);
    IT_EQ(it_status_int(&f, "free_bytes"), 0);
    IT_EQ(it_put_status(NULL, &f, "cap/one-more", 6, 1, false), 507);
    IT_EQ(it_put_status(NULL, &f, "cap/one-more", 6, 1, true), 507);
    it_put_ok(NULL, &f, "cap/empty", 7, 0, false, NULL);
    it_check_usage(&f, 3, cap);

    IT_EQ(it_status_of(NULL, &f, "DELETE", "/o/cap/fits"), 204);
    it_check_usage(&f, 2, used);
    it_roundtrip(NULL, &f, "cap/again", 8, part, true);
    it_wait_no_tmp(&f);
    IT_EQ(it_status_int(&f, "io_errors"), 0);
    it_filer_stop_ok(&f);
}

/* DESIGN §4: an upload in progress is invisible (GET, HEAD, /list, /status)
 * until it commits. */
static void t_in_flight_invisible(void *arg)
{
    const uint64_t size = IT_MIB;
    char reply[4096];
    uint8_t sha[CF_SHA512_LEN];
    struct it_gen g;
    struct it_filer f;
    struct it_resp r;
    json_t *j;
    int fd;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    fd = it_raw_put_begin(&f, "vis/obj", (int64_t)size);
    it_gen_init(&g, 80, size);
    IT_CHECK(it_raw_send_gen(fd, &g, size / 2));
    it_wait_tmp(&f, 1);
    IT_EQ(it_status_of(NULL, &f, "GET", "/o/vis/obj"), 404);
    IT_EQ(it_status_of(NULL, &f, "HEAD", "/o/vis/obj"), 404);
    IT_EQ(it_object_file_size(&f, "vis/obj"), -1);
    IT_EQ(it_http(NULL, &f, "GET", "/list", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    IT_EQ(json_array_size(json_object_get(j, "objects")), 0);
    json_decref(j);
    it_resp_fini(&r);
    it_check_usage(&f, 0, 0);

    IT_CHECK(it_raw_send_gen(fd, &g, size - size / 2));
    it_gen_final(&g, sha);
    IT_EQ(it_raw_read_reply(fd, reply, sizeof(reply)), 201);
    close(fd);
    it_get_ok(NULL, &f, "vis/obj", size, sha);
    it_check_usage(&f, 1, (int64_t)size);
    it_filer_stop_ok(&f);
}

#define RACE_N 6

/* Uploads of one path that are all in flight at once: exactly one commits
 * (201), the others get 409, and the object holds the winner's bytes. */
static void t_same_path_race(void *arg)
{
    const uint64_t size = IT_MIB;
    struct it_gen g[RACE_N];
    uint8_t sha[RACE_N][CF_SHA512_LEN];
    char reply[4096];
    unsigned winners = 0, winner = 0;
    struct it_filer f;
    int fd[RACE_N];

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    for (unsigned i = 0; i < RACE_N; i++) {
        fd[i] = it_raw_put_begin(&f, "race/x", (int64_t)size);
        it_gen_init(&g[i], 90 + i, size);
        IT_CHECK(it_raw_send_gen(fd[i], &g[i], size / 2));
    }
    it_wait_tmp(&f, RACE_N);
    for (unsigned i = 0; i < RACE_N; i++) {
        long st;
        IT_CHECK(it_raw_send_gen(fd[i], &g[i], size - size / 2));
        it_gen_final(&g[i], sha[i]);
        st = it_raw_read_reply(fd[i], reply, sizeof(reply));
        close(fd[i]);
        IT_CHECKF(st == 201 || st == 409, "racer %u: status %ld", i, st);
        if (st == 201) {
            winners++;
            winner = i;
        }
    }
    IT_EQ(winners, 1);
    it_get_ok(NULL, &f, "race/x", size, sha[winner]);
    it_check_object_file(&f, "race/x", size, sha[winner]);
    it_wait_no_tmp(&f);
    it_check_usage(&f, 1, (int64_t)size);
    it_filer_stop_ok(&f);
}

/* kill -9 in the middle of a PUT: after a restart the object does not exist,
 * no temporary file is left and the count is right. */
static void t_kill9_mid_put(void *arg)
{
    uint8_t sha[3][CF_SHA512_LEN];
    struct it_gen g;
    struct it_filer f;
    char path[32];
    int fd;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    for (unsigned i = 0; i < 3; i++) {
        it_fmt(path, sizeof(path), "k9/keep-%u", i);
        it_put_ok(NULL, &f, path, 10 + i, 1000 * (i + 1), false, sha[i]);
    }
    fd = it_raw_put_begin(&f, "k9/big", 8 * IT_MIB);
    it_gen_init(&g, 20, 8 * IT_MIB);
    IT_CHECK(it_raw_send_gen(fd, &g, 4 * IT_MIB));
    it_wait_tmp(&f, 1);
    it_filer_kill9(&f);
    close(fd);
    it_gen_fini(&g);

    it_filer_start_ok(&f, NULL);
    IT_EQ(it_count_tmp(f.dir), 0);
    expect_absent(&f, "k9/big");
    it_check_usage(&f, 3, 6000);
    for (unsigned i = 0; i < 3; i++) {
        it_fmt(path, sizeof(path), "k9/keep-%u", i);
        it_get_ok(NULL, &f, path, 1000 * (i + 1), sha[i]);
    }
    it_filer_stop_ok(&f);
}

/* A client that disconnects mid-body leaves nothing visible and no
 * temporary file, with Content-Length and chunked. */
static void t_client_disconnect(void *arg)
{
    static const char chunk_hdr[] = "10000\r\n"; /* 64 KiB chunks */
    struct it_gen g;
    struct it_filer f;
    int fd;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);

    fd = it_raw_put_begin(&f, "dc/sized", IT_MIB);
    it_gen_init(&g, 30, IT_MIB);
    IT_CHECK(it_raw_send_gen(fd, &g, IT_MIB / 2));
    it_wait_tmp(&f, 1);
    close(fd);
    it_gen_fini(&g);
    it_wait_no_tmp(&f);
    expect_absent(&f, "dc/sized");

    fd = it_raw_put_begin(&f, "dc/chunked", -1);
    it_gen_init(&g, 31, 8 * 65536);
    for (unsigned i = 0; i < 8; i++) {
        IT_CHECK(it_raw_send(fd, chunk_hdr, strlen(chunk_hdr)));
        IT_CHECK(it_raw_send_gen(fd, &g, 65536));
        IT_CHECK(it_raw_send(fd, "\r\n", 2));
    }
    it_wait_tmp(&f, 1);
    close(fd);
    it_gen_fini(&g);
    it_wait_no_tmp(&f);
    expect_absent(&f, "dc/chunked");

    it_check_usage(&f, 0, 0);
    IT_EQ(it_status_int(&f, "io_errors"), 0);
    it_roundtrip(NULL, &f, "dc/sized", 32, 1000, false);
    it_filer_stop_ok(&f);
}

struct refused_arg {
    unsigned port;
};

static bool connect_refused(void *arg)
{
    const struct refused_arg *a = arg;
    int fd = it_raw_try_connect(a->port);

    if (fd >= 0)
        close(fd);
    return fd == -ECONNREFUSED;
}

/* SIGTERM drains: new connections are refused, the PUT in flight completes
 * with 201, the filer exits 0, and the object is there after a restart. */
static void t_sigterm_drain(void *arg)
{
    const uint64_t size = 2 * IT_MIB;
    char reply[4096], hex[CF_SHA512_HEX_LEN + 1];
    uint8_t sha[CF_SHA512_LEN];
    struct refused_arg ra;
    struct it_gen g;
    struct it_filer f;
    int fd, st = -1;
    long status;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    fd = it_raw_put_begin(&f, "drain/obj", (int64_t)size);
    it_gen_init(&g, 40, size);
    IT_CHECK(it_raw_send_gen(fd, &g, size / 2));
    it_wait_tmp(&f, 1);

    it_filer_signal(&f, SIGTERM);
    ra.port = f.port;
    IT_CHECKF(it_wait_for(connect_refused, &ra, 50, 100),
              "the filer still accepts connections after SIGTERM");
    IT_CHECK(it_raw_send_gen(fd, &g, size - size / 2));
    it_gen_final(&g, sha);
    status = it_raw_read_reply(fd, reply, sizeof(reply));
    close(fd);
    IT_CHECKF(status == 201, "PUT in flight at SIGTERM: status %ld, reply:\n%s", status, reply);
    it_hex(sha, hex);
    IT_CHECKF(strstr(reply, hex) != NULL, "the 201 reply does not carry the SHA-512:\n%s", reply);
    IT_CHECKF(it_filer_wait_exit(&f, 40000, &st), "the filer did not exit after draining");
    IT_CHECKF(st == 0, "exit status 0x%x after SIGTERM, expected exit 0", (unsigned)st);

    it_filer_start_ok(&f, NULL);
    it_get_ok(NULL, &f, "drain/obj", size, sha);
    it_check_object_file(&f, "drain/obj", size, sha);
    it_check_usage(&f, 1, (int64_t)size);
    it_filer_stop_ok(&f);
}

#define RECOUNT_N 40

static uint64_t recount_size(unsigned i)
{
    return (uint64_t)i * 997 % 20011;
}

/* After a clean stop (SIGINT this time) and a restart, /status counts every
 * object and byte again, and a stale temporary is swept. */
static void t_restart_recount(void *arg)
{
    uint8_t sha[RECOUNT_N][CF_SHA512_LEN];
    char path[64], stale[IT_PATH_MAX], rel[CF_OBJPATH_REL_MAX];
    struct it_client c;
    struct it_filer f;
    int64_t sum = 0;
    FILE *fp;
    int st = -1;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    it_client_init(&c);
    for (unsigned i = 0; i < RECOUNT_N; i++) {
        it_fmt(path, sizeof(path), "rc/%02u/obj", i);
        it_put_ok(&c, &f, path, 50 + i, recount_size(i), i % 3 == 0, sha[i]);
        sum += (int64_t)recount_size(i);
    }
    IT_EQ(it_status_of(&c, &f, "DELETE", "/o/rc/00/obj"), 204);
    it_client_fini(&c);
    it_filer_signal(&f, SIGINT);
    IT_CHECK(it_filer_wait_exit(&f, 40000, &st));
    IT_CHECKF(st == 0, "exit status 0x%x after SIGINT, expected exit 0", (unsigned)st);

    /* Every object but the deleted one is on disk (files or volume records). */
    for (unsigned i = 0; i < RECOUNT_N; i++) {
        it_fmt(path, sizeof(path), "rc/%02u/obj", i);
        IT_EQ(it_object_file_size(&f, path), i == 0 ? -1 : (int64_t)recount_size(i));
    }
    /* A crash's leftover, in the bucket directory of an existing object
     * (made here if its object is a volume record). */
    IT_CHECK(cf_objpath_relpath("rc/01/obj", 9, rel, sizeof(rel)) > 0);
    *strrchr(rel, '/') = '\0';
    for (char *sl = rel; (sl = strchr(sl, '/')) != NULL; sl++) {
        *sl = '\0';
        it_fmt(stale, sizeof(stale), "%s/%s", f.dir, rel);
        IT_CHECKF(mkdir(stale, 0755) == 0 || errno == EEXIST, "mkdir \"%s\": %s", stale,
                  strerror(errno));
        *sl = '/';
    }
    it_fmt(stale, sizeof(stale), "%s/%s", f.dir, rel);
    IT_CHECKF(mkdir(stale, 0755) == 0 || errno == EEXIST, "mkdir \"%s\": %s", stale,
              strerror(errno));
    it_fmt(stale, sizeof(stale), "%s/%s/.tmp.stale-by-test", f.dir, rel);
    fp = fopen(stale, "w");
    IT_CHECK(fp != NULL);
    IT_CHECK(fputs("partial", fp) >= 0);
    IT_CHECK(fclose(fp) == 0);

    it_filer_start_ok(&f, NULL);
    it_check_usage(&f, RECOUNT_N - 1, sum - (int64_t)recount_size(0));
    IT_EQ(it_count_tmp(f.dir), 0);
    for (unsigned i = 1; i < RECOUNT_N; i++) {
        it_fmt(path, sizeof(path), "rc/%02u/obj", i);
        it_get_ok(NULL, &f, path, recount_size(i), sha[i]);
    }
    expect_absent(&f, "rc/00/obj");
    it_filer_stop_ok(&f);
}

/* The filer must refuse to start: exit 1, and its log (what the operator
 * reads) says why in the words `why`. */
static void check_refused(struct it_filer *f, const char *what, const char *why)
{
    char log[4096];
    int st = 0;

    IT_CHECKF(it_filer_start(f, &st, NULL) != 0, "%s: the filer started", what);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s: wait status 0x%x, expected exit 1", what,
              (unsigned)st);
    it_filer_read_log(f, log, sizeof(log));
    IT_CHECKF(strstr(log, why) != NULL, "%s: the log does not say \"%s\":\n%s", what, why, log);
}

/* One filer per directory: a second one on the same --dir is refused while
 * the first runs, and a directory belonging to another id is refused. */
static void t_second_filer(void *arg)
{
    uint8_t sha[CF_SHA512_LEN];
    char why[IT_PATH_MAX + 64];
    struct it_filer f, g;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    it_put_ok(NULL, &f, "two/x", 60, 1234, false, sha);

    it_filer_init(&g, 1, "f1");
    it_case_path(g.log, "second.log");
    it_fmt(why, sizeof(why), "\"%s\" is in use by another filer process", f.dir);
    check_refused(&g, "second filer on the same --dir", why);
    it_get_ok(NULL, &f, "two/x", 1234, sha);
    it_check_usage(&f, 1, 1234);
    it_filer_stop_ok(&f);

    it_filer_init(&g, 2, "f1");
    it_case_path(g.log, "other-id.log");
    it_fmt(why, sizeof(why), "\"%s\" belongs to filer 1, not 2", f.dir);
    check_refused(&g, "filer id 2 on the directory of filer 1", why);

    it_filer_start_ok(&f, NULL);
    it_get_ok(NULL, &f, "two/x", 1234, sha);
    it_filer_stop_ok(&f);
}

/* --read-only: PUT gets 503 (even of a path that exists: read-only is
 * checked first), GET and HEAD work, /status says so. */
static void t_read_only(void *arg)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_filer f;
    struct it_resp r;
    struct it_body b = {.chunked = false};
    json_t *j;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    it_put_ok(NULL, &f, "ro/x", 70, 4321, false, sha);
    it_put_ok(NULL, &f, "ro/y", 71, 10, false, NULL);
    it_filer_stop_ok(&f);

    it_filer_start_ok(&f, "--read-only", NULL);
    j = it_status(&f);
    IT_CHECK(it_json_bool(j, "read_only"));
    json_decref(j);
    it_gen_init(&b.gen, 72, 100);
    IT_EQ(it_http(NULL, &f, "PUT", "/o/ro/new", &b, &r, NULL), 503);
    it_gen_fini(&b.gen);
    it_check_error_body(&r, NULL);
    it_resp_fini(&r);
    IT_EQ(it_put_status(NULL, &f, "ro/new", 72, 100, true), 503);
    IT_EQ(it_put_status(NULL, &f, "ro/x", 72, 100, false), 503);
    it_wait_no_tmp(&f);
    expect_absent(&f, "ro/new");
    it_get_ok(NULL, &f, "ro/x", 4321, sha);
    IT_EQ(it_status_of(NULL, &f, "HEAD", "/o/ro/x"), 200);
    /* filer --help: "refuse new objects; reads and deletes still work". */
    IT_EQ(it_status_of(NULL, &f, "DELETE", "/o/ro/y"), 204);
    it_check_usage(&f, 1, 4321);
    it_filer_stop_ok(&f);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"capacity", t_capacity, NULL, 60},
        {"in_flight_invisible", t_in_flight_invisible, NULL, 60},
        {"same_path_race", t_same_path_race, NULL, 60},
        {"kill9_mid_put", t_kill9_mid_put, NULL, 60},
        {"client_disconnect", t_client_disconnect, NULL, 60},
        {"sigterm_drain", t_sigterm_drain, NULL, 90},
        {"restart_recount", t_restart_recount, NULL, 60},
        {"second_filer", t_second_filer, NULL, 60},
        {"read_only", t_read_only, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
