/*
 * it_http_cases.c -- the driver of tests/cases/http: malformed and unusual
 * requests, sent byte for byte to a fresh `coffer filer` (curl tests/data).
 *
 * A case is two files. <name>.req holds the exact bytes to send (CRLF line
 * ends are in the file). The first line of <name>.resp is what the reply's
 * status line must start with (e.g. "HTTP/1.1 400"), or "(no reply)" when
 * the filer must close the connection without answering; its other lines are
 * comments. Its Host header is "127.0.0.1". The driver signs the request
 * as the operator (it_raw_sign),
 * sends it, shuts down its write side (so a
 * truncated body ends there), reads the reply to EOF, then checks that the
 * filer still serves /status, stored nothing and left no temporary file,
 * and that it exits 0 on SIGTERM.
 *
 * Usage: it_http_cases COFFER TMPDIR CASESDIR [CASE...]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define CASES_MAX 16 /* 16 cases x 20 s stay under the ctest TIMEOUT */
#define REQ_MAX   (1024 * 1024)
#define NO_REPLY  "(no reply)"

struct http_case {
    char name[128];
    char req[IT_PATH_MAX];
    char resp[IT_PATH_MAX];
};

/* Read a whole file (at most cap - 1 bytes) into buf, NUL-terminated. */
static size_t read_file(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    IT_CHECKF(fd >= 0, "open \"%s\": %s", path, strerror(errno));
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        IT_CHECKF(n >= 0, "read \"%s\": %s", path, strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
        IT_CHECKF(len < cap - 1, "\"%s\" is larger than %zu bytes", path, cap - 1);
    }
    close(fd);
    buf[len] = '\0';
    return len;
}

static void run_http_case(void *arg)
{
    const struct http_case *hc = arg;
    char *req = cf_xmalloc(REQ_MAX);
    char want[256], reply[16 * 1024];
    struct it_filer f;
    size_t n, wlen;
    long st;

    n = read_file(hc->req, req, REQ_MAX - CF_CRED_HEADER_MAX - 2);
    /* The filer checks the signature first: sign, so the case reaches the
     * parser it is about. */
    it_raw_sign(req, &n, REQ_MAX);
    read_file(hc->resp, want, sizeof(want));
    wlen = strcspn(want, "\r\n");
    want[wlen] = '\0';
    IT_CHECKF(wlen > 0, "%s: empty first line", hc->resp);

    it_filer_init(&f, 1, "f1");
    /* The cases' bytes are fixed, their Host too ("127.0.0.1", no port):
     * the filer answers to it as to a load balancer's name. */
    it_filer_start_ok(&f, "--authority", "127.0.0.1", NULL);
    st = it_raw_exchange(&f, req, n, reply, sizeof(reply));
    IT_CHECKF(st >= 0, "%s: no reply and the connection stayed open", hc->name);
    if (strcmp(want, NO_REPLY) == 0) {
        IT_CHECKF(st == 0, "%s: expected no reply, got:\n%.300s", hc->name, reply);
    } else {
        IT_CHECKF(strncmp(reply, want, wlen) == 0, "%s: expected \"%s...\", got:\n%.300s", hc->name,
                  want, st == 0 ? "(no reply)" : reply);
    }
    if (st == 0)
        printf("%s: %s\n", hc->name, NO_REPLY);
    else
        printf("%s: %.*s\n", hc->name, (int)strcspn(reply, "\r\n"), reply);

    it_wait_no_tmp(&f);
    IT_EQ(it_status_int(&f, "objects"), 0);
    IT_EQ(it_status_int(&f, "used_bytes"), 0);
    it_filer_stop_ok(&f);
    free(req);
}

static int cmp_cases(const void *a, const void *b)
{
    return strcmp(((const struct http_case *)a)->name, ((const struct http_case *)b)->name);
}

/* Every <name>.req in dir that has a <name>.resp. */
static size_t find_cases(const char *dir, struct http_case *hc, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    if (d == NULL) {
        fprintf(stderr, "opendir \"%s\" failed: %s\n", dir, strerror(errno));
        goto out;
    }
    for (;;) {
        size_t len;
        e = readdir(d);
        if (e == NULL)
            break;
        len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".req") != 0)
            continue;
        if (n == cap || len - 4 >= sizeof(hc[n].name)) {
            fprintf(stderr, "too many cases or too long a name: %s\n", e->d_name);
            n = 0;
            break;
        }
        memcpy(hc[n].name, e->d_name, len - 4);
        hc[n].name[len - 4] = '\0';
        it_fmt(hc[n].req, sizeof(hc[n].req), "%s/%s", dir, e->d_name);
        it_fmt(hc[n].resp, sizeof(hc[n].resp), "%s/%s.resp", dir, hc[n].name);
        if (access(hc[n].resp, R_OK) != 0) {
            fprintf(stderr, "%s has no .resp\n", hc[n].req);
            n = 0;
            break;
        }
        n++;
    }
    if (n > 0)
        qsort(hc, n, sizeof(*hc), cmp_cases);
out:
    if (d != NULL)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    static struct http_case hc[CASES_MAX];
    static struct it_case cases[CASES_MAX];
    size_t n = 0;
    int rc = 2;

    if (argc < 4) {
        fprintf(stderr, "usage: %s COFFER TMPDIR CASESDIR [CASE...]\n", argv[0]);
        goto out;
    }
    n = find_cases(argv[3], hc, CASES_MAX);
    rc = 1;
    if (n == 0) {
        fprintf(stderr, "no usable cases in %s\n", argv[3]);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        cases[i].name = hc[i].name;
        cases[i].fn = run_http_case;
        cases[i].arg = &hc[i];
        cases[i].timeout_s = 20;
    }
    rc = it_run(argc, argv, 1, cases, n);
out:
    return rc;
}
