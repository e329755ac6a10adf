/*
 * it_volume.c -- a real `coffer filer --small-max` killed (SIGKILL) while
 * many small uploads are in flight, so in the middle of group commits:
 * after a restart every acknowledged object is there with its bytes, every
 * refused one is absent, one whose reply never came is absent or whole,
 * and the listing and the counters agree; ranges of a volume object are
 * its own bytes (README "The filer").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

#define WORKERS 12
#define PER_MAX 400 /* uploads a worker may start */
#define OBJ     4096

enum outcome { O_NONE, O_ACKED, O_REFUSED, O_DOUBT };

struct worker {
    const struct it_filer *f;
    unsigned id;
    atomic_bool *stop;
    atomic_int *acked;
    int n;                     /* uploads started */
    enum outcome out[PER_MAX]; /* of each */
};

static void obj_path(char *out, size_t cap, unsigned w, int i)
{
    it_fmt(out, cap, "vk/w%u-%d", w, i);
}

static uint64_t obj_seed(unsigned w, int i)
{
    return 1000000u + (uint64_t)w * PER_MAX + (uint64_t)i;
}

/* One PUT on its own connection, with no assertion: the filer may die at
 * any point. Returns the status, 0 when no status line came, or -1 when
 * no connection was made (nothing was sent). */
static long put_raw(const struct it_filer *f, const char *path, uint64_t seed)
{
    char req[1024 + CF_CRED_HEADER_MAX], target[128], host[64], auth[CF_CRED_HEADER_MAX];
    char body[OBJ], reply[512];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    struct timeval tv = {.tv_sec = 20};
    struct it_gen g;
    size_t len, got = 0;
    long status = 0;
    int fd;

    it_gen_init(&g, seed, OBJ);
    len = it_gen_read(&g, body, sizeof(body));
    it_gen_fini(&g);
    if (len != OBJ)
        return 0;
    it_fmt(target, sizeof(target), "/o/%s", path);
    it_fmt(host, sizeof(host), "127.0.0.1:%u", f->port);
    it_sign_line(auth, "PUT", target, host);
    it_fmt(req, sizeof(req),
           "PUT %s HTTP/1.1\r\nHost: %s\r\n%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
           target, host, auth, OBJ);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req) ||
        send(fd, body, OBJ, MSG_NOSIGNAL) != OBJ)
        goto out;
    while (got < sizeof(reply) - 1) {
        ssize_t r = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    reply[got] = '\0';
    if (got >= 12 && strncmp(reply, "HTTP/1.", 7) == 0)
        status = strtol(reply + 9, NULL, 10);
out:
    close(fd);
    return status;
}

static void *upload_loop(void *arg)
{
    struct worker *w = arg;

    for (w->n = 0; w->n < PER_MAX && !atomic_load(w->stop); w->n++) {
        char path[64];
        long st;
        obj_path(path, sizeof(path), w->id, w->n);
        st = put_raw(w->f, path, obj_seed(w->id, w->n));
        if (st < 0)
            break; /* the filer is gone */
        w->out[w->n] = st == 201 ? O_ACKED : st == 0 ? O_DOUBT : O_REFUSED;
        if (st == 201)
            atomic_fetch_add(w->acked, 1);
    }
    return NULL;
}

static void expect_object(const struct it_filer *f, const char *path, uint64_t seed)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_gen g;

    it_gen_init(&g, seed, OBJ);
    {
        char sink[OBJ];
        IT_EQ(it_gen_read(&g, sink, sizeof(sink)), OBJ);
    }
    it_gen_final(&g, sha);
    it_gen_fini(&g);
    it_get_ok(NULL, f, path, OBJ, sha);
}

static int64_t count_listed(const struct it_filer *f)
{
    char target[IT_PATH_MAX * 2] = "/list?limit=1000";
    int64_t n = 0;

    for (;;) {
        struct it_resp r;
        json_t *j, *next;
        IT_EQ(it_http(NULL, f, "GET", target, NULL, &r, NULL), 200);
        j = json_loads(r.body, 0, NULL);
        IT_CHECK(j != NULL);
        n += (int64_t)json_array_size(json_object_get(j, "objects"));
        next = json_object_get(j, "next");
        if (!json_is_string(next)) {
            json_decref(j);
            it_resp_fini(&r);
            break;
        }
        it_fmt(target, sizeof(target), "/list?limit=1000&after=%s", json_string_value(next));
        json_decref(j);
        it_resp_fini(&r);
    }
    return n;
}

static void t_kill9_group_commit(void *arg)
{
    static struct worker w[WORKERS];
    pthread_t t[WORKERS];
    atomic_bool stop = false;
    atomic_int acked = 0;
    struct it_filer f;
    int acks = 0, refused = 0, doubt = 0, doubt_present = 0;
    char auth[CF_CRED_HEADER_MAX];

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, "--small-max", "64K", NULL);
    it_put_ok(NULL, &f, "vk/before", 7, 1000, false, NULL);
    it_sign_line(auth, "GET", "/", "x"); /* load the key before the threads */
    for (unsigned i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.f = &f, .id = i, .stop = &stop, .acked = &acked};
        IT_CHECK(pthread_create(&t[i], NULL, upload_loop, &w[i]) == 0);
    }
    /* Kill once uploads are flowing: many are then between append and reply. */
    for (int i = 0; i < 3000 && atomic_load(&acked) < 300; i++)
        usleep(2000);
    it_filer_kill9(&f);
    atomic_store(&stop, true);
    for (unsigned i = 0; i < WORKERS; i++)
        IT_CHECK(pthread_join(t[i], NULL) == 0);

    it_filer_start_ok(&f, "--small-max", "64K", NULL);
    /* A volume object is served as a slice of its volume, ranges too. */
    it_range_ok(NULL, f.base, "/o/vk/before", 7, 10, 99, 1000);
    it_range_ok(NULL, f.base, "/o/vk/before", 7, 999, 999, 1000);
    for (unsigned i = 0; i < WORKERS; i++)
        for (int j = 0; j < w[i].n; j++) {
            char path[64], target[96];
            long st;
            obj_path(path, sizeof(path), i, j);
            it_fmt(target, sizeof(target), "/o/%s", path);
            switch (w[i].out[j]) {
            case O_ACKED:
                acks++;
                expect_object(&f, path, obj_seed(i, j));
                break;
            case O_REFUSED:
                refused++;
                IT_EQ(it_status_of(NULL, &f, "GET", target), 404);
                break;
            default:
                doubt++;
                st = it_status_of(NULL, &f, "GET", target);
                IT_CHECKF(st == 404 || st == 200, "GET %s after the restart: %ld", path, st);
                if (st == 200) {
                    doubt_present++;
                    expect_object(&f, path, obj_seed(i, j));
                }
                break;
            }
        }
    IT_CHECKF(acks >= 300, "only %d uploads were acknowledged before the kill", acks);
    it_check_usage(&f, 1 + acks + doubt_present, 1000 + (int64_t)OBJ * (acks + doubt_present));
    IT_EQ(count_listed(&f), 1 + acks + doubt_present);
    fprintf(stderr,
            "acknowledged %d, refused %d, unanswered %d (%d of them whole after the restart)\n",
            acks, refused, doubt, doubt_present);
    it_filer_stop_ok(&f);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"kill9_group_commit", t_kill9_group_commit, NULL, 120},
    };
    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
