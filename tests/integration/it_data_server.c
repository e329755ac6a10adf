/*
 * it_data_server.c -- `coffer server` (every role in one process) driven by
 * the command line: `coffer put`, `coffer get`, `coffer stat`; a restart on
 * the same data directory; SIGINT and SIGTERM stop it with exit 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "coffer/uuid.h"
#include "harness.h"

#define STOP_MS 40000

/* Files `coffer get` writes before it renames them, left in dir. */
static unsigned get_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned n = 0;

    IT_CHECKF(d != NULL, "opendir \"%s\": %s", dir, strerror(errno));
    for (;;) {
        e = readdir(d);
        if (e == NULL)
            break;
        n += strncmp(e->d_name, ".coffer-get-", 12) == 0;
    }
    closedir(d);
    return n;
}

/* `coffer put FILE --app URL [--replicas R]`: prints one UUID line. */
static void cli_put(const struct it_server *s, const char *file, const char *in_file,
                    const char *replicas, char uuid[40])
{
    char out[256];
    size_t len;
    int st;

    if (replicas != NULL)
        st = it_coffer_cmd(out, sizeof(out), in_file, "put", file, "--app", s->p.base, "--replicas",
                           replicas, NULL);
    else
        st = it_coffer_cmd(out, sizeof(out), in_file, "put", file, "--app", s->p.base, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer put %s: status 0x%x (see cmd.log)", file,
              (unsigned)st);
    len = strlen(out);
    IT_CHECKF(len == CF_UUID_LEN + 1 && out[CF_UUID_LEN] == '\n', "coffer put printed \"%s\"", out);
    out[CF_UUID_LEN] = '\0';
    IT_CHECKF(cf_uuid_is_valid(out, CF_UUID_LEN), "coffer put printed \"%s\"", out);
    memcpy(uuid, out, CF_UUID_SIZE);
}

/* `coffer get UUID -o FILE --objsrv URL` writes exactly (size, sha). */
static void cli_get_ok(const struct it_server *s, const char *uuid, const char *name, uint64_t size,
                       const uint8_t sha[CF_SHA512_LEN])
{
    char path[IT_PATH_MAX];
    uint8_t got[CF_SHA512_LEN];
    uint64_t got_size;
    int st;

    it_case_path(path, name);
    st = it_coffer_cmd(NULL, 0, NULL, "get", uuid, "-o", path, "--objsrv", s->objsrv, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer get %s: status 0x%x (see cmd.log)", uuid,
              (unsigned)st);
    it_file_sha512(path, &got_size, got);
    IT_EQ(got_size, size);
    IT_CHECKF(memcmp(got, sha, CF_SHA512_LEN) == 0, "coffer get %s wrote other bytes", uuid);
}

/* `coffer stat UUID --app URL` prints the record as JSON. */
static void cli_stat(const struct it_server *s, const char *uuid, struct it_record *rec)
{
    char out[8192];
    json_error_t jerr;
    json_t *j;
    int st;

    st = it_coffer_cmd(out, sizeof(out), NULL, "stat", uuid, "--app", s->p.base, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer stat %s: status 0x%x (see cmd.log)", uuid,
              (unsigned)st);
    j = json_loads(out, 0, &jerr);
    IT_CHECKF(j != NULL, "coffer stat printed no JSON (%s): %.300s", jerr.text, out);
    it_record_from_json(j, rec);
    json_decref(j);
    IT_STREQ(rec->uuid, uuid);
}

/* The server's filers, for on-disk checks: <data>/filerN, not running. */
static void server_filers(struct it_filer *f, size_t n, const char *data)
{
    char name[IT_PATH_MAX];

    for (size_t i = 0; i < n; i++) {
        it_fmt(name, sizeof(name), "%s/filer%zu", data, i + 1);
        it_filer_init(&f[i], (unsigned)(i + 1), name);
    }
}

/* put, get and stat through `coffer server`, from a file and from stdin,
 * with r = 2 and r = 3; a get that fails (unknown, malformed, corrupt)
 * leaves no file; SIGINT stops it. */
static void t_server_cli(void *arg)
{
    char file[IT_PATH_MAX], out[IT_PATH_MAX], uuid[3][40], bogus[40];
    uint8_t sha[3][CF_SHA512_LEN];
    static const uint64_t sizes[] = {3 * IT_MIB + 5, 0, 200000};
    struct it_filer f[3];
    struct it_record rec;
    struct it_server s;
    int st;

    (void)arg;
    it_server_start_ok(&s, "data", 3, NULL);
    IT_EQ(s.nfilers, 3);
    server_filers(f, 3, "data");

    it_write_payload(file, "in0", 1, sizes[0], sha[0]);
    cli_put(&s, file, NULL, NULL, uuid[0]);
    it_write_payload(file, "in1", 2, sizes[1], sha[1]);
    cli_put(&s, file, NULL, "3", uuid[1]);
    it_write_payload(file, "in2", 3, sizes[2], sha[2]);
    cli_put(&s, "-", file, NULL, uuid[2]); /* from stdin: chunked */
    for (size_t i = 0; i < 3; i++) {
        char name[16];
        it_fmt(name, sizeof(name), "out%zu", i);
        cli_get_ok(&s, uuid[i], name, sizes[i], sha[i]);
        cli_stat(&s, uuid[i], &rec);
        IT_EQ(rec.size, sizes[i]);
        IT_CHECK(memcmp(rec.sha, sha[i], CF_SHA512_LEN) == 0);
        IT_EQ(rec.replicas, i == 1 ? 3 : 2);
        IT_EQ(rec.nfilers, rec.replicas);
        it_check_placement(f, 3, &rec);
        it_download_ok(NULL, s.objsrv, &rec);
    }

    /* Every object is on at least two filers: fewer is refused at each door. */
    for (unsigned r = 0; r < 2; r++) {
        struct it_resp resp;
        char target[64];
        it_fmt(target, sizeof(target), "/v1/objects?replicas=%u", r);
        IT_EQ(it_http_to(NULL, s.p.base, "POST", target, NULL, &resp, NULL), 400);
        it_check_error_body(&resp, "EBADREQ");
        IT_CHECKF(strstr(resp.body, "at least 2") != NULL, "reply: %s", resp.body);
        it_resp_fini(&resp);
    }
    st = it_coffer_cmd(NULL, 0, NULL, "put", file, "--app", s.p.base, "--replicas", "1", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "coffer put --replicas 1: 0x%x", (unsigned)st);
    it_case_path(out, "cmd.log");
    IT_CHECK(it_file_contains(out, "at least 2"));

    /* An unknown object: exit 1 and no file, not even a temporary. */
    it_fmt(bogus, sizeof(bogus), "%.35s%c", uuid[0], uuid[0][35] == '0' ? '1' : '0');
    it_case_path(out, "absent");
    st = it_coffer_cmd(NULL, 0, NULL, "get", bogus, "-o", out, "--objsrv", s.objsrv, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 1, "coffer get of an unknown UUID: 0x%x",
              (unsigned)st);
    IT_CHECK(access(out, F_OK) != 0 && errno == ENOENT);
    st = it_coffer_cmd(NULL, 0, NULL, "stat", bogus, "--app", s.p.base, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 1, "coffer stat of an unknown UUID: 0x%x",
              (unsigned)st);
    st = it_coffer_cmd(NULL, 0, NULL, "get", "not-a-uuid", "-o", out, "--objsrv", s.objsrv, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "coffer get of a malformed UUID: 0x%x",
              (unsigned)st);
    IT_EQ(get_temps(it_case_dir()), 0);

    /* Both replicas corrupt: the download fails and nothing is written. */
    cli_stat(&s, uuid[0], &rec);
    for (size_t i = 0; i < 3; i++)
        if (it_record_has(&rec, f[i].id))
            it_flip_object_byte(&f[i], rec.path, sizes[0] / 3);
    st = it_coffer_cmd(NULL, 0, NULL, "get", uuid[0], "-o", out, "--objsrv", s.objsrv, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 1, "coffer get of a corrupt object: 0x%x",
              (unsigned)st);
    IT_CHECK(access(out, F_OK) != 0 && errno == ENOENT);
    IT_EQ(get_temps(it_case_dir()), 0);

    it_proc_signal(&s.p, SIGINT);
    IT_CHECKF(it_proc_wait_exit(&s.p, STOP_MS, &st), "coffer server ignored SIGINT");
    IT_CHECKF(it_exit_code(st) == 0, "coffer server: status 0x%x after SIGINT", (unsigned)st);
}

/* The same data directory serves its objects after a restart on new
 * ports; SIGTERM stops it with exit 0 too. */
static void t_server_restart(void *arg)
{
    char file[IT_PATH_MAX], uuid[2][40];
    uint8_t sha[2][CF_SHA512_LEN];
    struct it_filer f[3];
    struct it_record rec;
    struct it_server s;
    int st;

    (void)arg;
    it_server_start_ok(&s, "data", 3, NULL);
    server_filers(f, 3, "data");
    it_write_payload(file, "in0", 10, 5 * IT_MIB, sha[0]);
    cli_put(&s, file, NULL, NULL, uuid[0]);
    it_proc_signal(&s.p, SIGINT);
    IT_CHECKF(it_proc_wait_exit(&s.p, STOP_MS, &st), "coffer server ignored SIGINT");
    IT_CHECKF(it_exit_code(st) == 0, "coffer server: status 0x%x after SIGINT", (unsigned)st);

    it_server_start_ok(&s, "data", 3, NULL);
    cli_get_ok(&s, uuid[0], "out0", 5 * IT_MIB, sha[0]);
    cli_stat(&s, uuid[0], &rec);
    it_check_placement(f, 3, &rec);
    it_write_payload(file, "in1", 11, 12345, sha[1]);
    cli_put(&s, file, NULL, NULL, uuid[1]);
    IT_CHECK(strcmp(uuid[0], uuid[1]) != 0);
    cli_get_ok(&s, uuid[1], "out1", 12345, sha[1]);
    it_proc_stop_ok(&s.p);
}

/* The commands that set a replica count refuse fewer than two, with exit 2
 * and a message, before they start anything. */
static void t_replicas_min(void *arg)
{
    char data[IT_PATH_MAX], db[IT_PATH_MAX + 16], log[IT_PATH_MAX];
    int st;

    (void)arg;
    it_case_path(data, "data");
    it_case_path(log, "cmd.log");
    st = it_coffer_cmd(NULL, 0, NULL, "server", "--data", data, "--port", "0", "--replicas", "1",
                       NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "coffer server --replicas 1: 0x%x",
              (unsigned)st);
    IT_CHECK(it_file_contains(log, "replicas"));
    st = it_coffer_cmd(NULL, 0, NULL, "server", "--data", data, "--port", "0", "--filers", "2",
                       "--replicas", "3", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) != 0, "coffer server --filers 2 --replicas 3: 0x%x",
              (unsigned)st);
    IT_CHECK(it_file_contains(log, "needs at least as many filers"));
    it_fmt(db, sizeof(db), "sqlite:%s/catalog.db", data);
    st = it_coffer_cmd(NULL, 0, NULL, "app", "--listen", "127.0.0.1:0", "--db", db, "--replicas",
                       "1", NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "coffer app --replicas 1: 0x%x", (unsigned)st);
    IT_CHECKF(mkdir(data, 0700) == 0, "mkdir \"%s\": %s", data, strerror(errno));
    it_fmt(db, sizeof(db), "sqlite:%s/fs-catalog.db", data);
    st = it_coffer_cmd(NULL, 0, NULL, "admin", "client", "add", "solo", "--replicas", "1",
                       "--fs-db", db, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "admin client add --replicas 1: 0x%x",
              (unsigned)st);
    IT_CHECK(it_file_contains(log, "replicas not in 2..16"));
    st = it_coffer_cmd(NULL, 0, NULL, "admin", "client", "add", "duo", "--replicas", "2", "--fs-db",
                       db, NULL);
    IT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "admin client add --replicas 2: 0x%x",
              (unsigned)st);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"server_cli", t_server_cli, NULL, 60},
        {"server_restart", t_server_restart, NULL, 60},
        {"replicas_min", t_replicas_min, NULL, 30},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
