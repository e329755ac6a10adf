/*
 * test_volume.c -- small objects in volume files (store.h with small_max):
 * append and read back, names shared with plain files, group commit from
 * many threads, the index rebuilt at open, torn tails, bad records, failed
 * writes and fsyncs through the cf_io_ops seam, a process dying between
 * append and acknowledgement, deletes and compaction. Real files in a
 * temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coffer/err.h"
#include "coffer/io.h"
#include "coffer/objpath.h"
#include "coffer/store.h"

#include "storetest.h"

#define SMALL_MAX 4096

/* ---- the seam: count fsyncs, fail or die on demand ---- */

enum fault { F_NONE, F_FSYNC_EIO, F_WRITE_ENOSPC, F_DIE_IN_FSYNC, F_DIE_MID_WRITE };

static enum fault fault;
static int fault_after; /* matching calls let through first */
static unsigned slow_fsync_us;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;
static int fsyncs;

static bool is_volume(int fd)
{
    char link[64], target[512];
    ssize_t n;

    (void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return strstr(target, ".vol") != NULL;
}

static bool take(enum fault f, int fd)
{
    if (fault != f || !is_volume(fd))
        return false;
    if (fault_after-- > 0)
        return false;
    fault = F_NONE;
    return true;
}

static ssize_t f_write(int fd, const void *buf, size_t n)
{
    if (take(F_WRITE_ENOSPC, fd)) {
        /* Part of the record reaches the file, then the disk is full. */
        (void)cf_io_default.write(fd, buf, n / 2);
        errno = ENOSPC;
        return -1;
    }
    if (take(F_DIE_MID_WRITE, fd)) {
        (void)cf_io_default.write(fd, buf, n / 2);
        _exit(0);
    }
    return cf_io_default.write(fd, buf, n);
}

static int f_fsync(int fd)
{
    if (take(F_FSYNC_EIO, fd)) {
        errno = EIO;
        return -1;
    }
    if (take(F_DIE_IN_FSYNC, fd))
        _exit(0);
    if (is_volume(fd)) {
        pthread_mutex_lock(&count_mu);
        fsyncs++;
        pthread_mutex_unlock(&count_mu);
        if (slow_fsync_us > 0)
            usleep(slow_fsync_us);
    }
    return cf_io_default.fsync(fd);
}

static struct cf_io_ops seam;

/* ---- fixture ---- */

struct fx {
    char dir[64];
    char vol1[128];
    struct cf_store *s;
};

static int open_store(struct fx *fx)
{
    struct cf_store_opts o = {
        .dir = fx->dir, .id = 7, .capacity = 64 << 20, .io = &seam, .small_max = SMALL_MAX};
    char err[CF_ERR_LEN];

    return cf_store_open(&o, &fx->s, err);
}

static void reopen(struct fx *fx)
{
    cf_store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(open_store(fx), 0);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    seam = cf_io_default;
    seam.write = f_write;
    seam.fsync = f_fsync;
    fault = F_NONE;
    fault_after = 0;
    slow_fsync_us = 0;
    fsyncs = 0;
    if (cf_test_store_tmpdir(fx->dir, sizeof(fx->dir), "volume") < 0)
        return -1;
    snprintf(fx->vol1, sizeof(fx->vol1), "%s/volumes/000001.vol", fx->dir);
    if (open_store(fx) < 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    cf_test_store_close_rm(fx->s, fx->dir);
    free(fx);
    return 0;
}

/* ---- helpers ---- */

static void fill(char *data, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(seed * 31u + i * 7u + (i >> 8));
}

/* Store n bytes of pattern `seed` at path, size declared or (chunked) not,
 * in pieces of at most 1000 bytes. */
static int put_as(struct cf_store *s, const char *path, size_t n, unsigned seed, bool chunked)
{
    struct cf_store_put *p = NULL;
    char *data = malloc(n + 1);
    int rc;

    fill(data, n, seed);
    rc = cf_store_put_begin(s, path, strlen(path), chunked ? -1 : (int64_t)n, NULL, &p, NULL);
    if (rc == 0) {
        for (size_t off = 0; off < n && rc == 0; off += 1000)
            rc = cf_store_put_write(p, data + off, n - off < 1000 ? n - off : 1000);
        if (rc == 0)
            rc = cf_store_put_commit(p, NULL, NULL, NULL);
        else
            cf_store_put_abort(p);
    }
    free(data);
    return rc;
}

static int put(struct cf_store *s, const char *path, size_t n, unsigned seed)
{
    return put_as(s, path, n, seed, false);
}

/* 0 when path holds n bytes of pattern seed; CF_ENOTFOUND; -1 on wrong bytes. */
static int check(struct cf_store *s, const char *path, size_t n, unsigned seed)
{
    struct cf_store_obj o;
    char *want = malloc(n + 1), *got = malloc(n + 1);
    int rc = cf_store_get(s, path, strlen(path), &o);

    if (rc == 0) {
        fill(want, n, seed);
        if (o.size != n || pread(o.fd, got, n, (off_t)o.offset) != (ssize_t)n ||
            memcmp(got, want, n) != 0 || !o.has_sha)
            rc = -1;
        close(o.fd);
    }
    free(want);
    free(got);
    return rc;
}

static struct cf_store_stats stats(struct fx *fx)
{
    return cf_test_store_stats(fx->s);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static int count_volumes(struct fx *fx)
{
    char p[128];
    DIR *d;
    struct dirent *de;
    int n = 0;

    snprintf(p, sizeof(p), "%s/volumes", fx->dir);
    d = opendir(p);
    if (d == NULL)
        return 0;
    for (;;) {
        de = readdir(d);
        if (de == NULL)
            break;
        if (strstr(de->d_name, ".vol") != NULL)
            n++;
    }
    closedir(d);
    return n;
}

struct listing {
    char paths[64][64];
    uint64_t sizes[64];
    int n;
};

static int collect(void *ctx, const char *path, uint64_t size, uint64_t mtime_ms)
{
    struct listing *l = ctx;
    (void)mtime_ms;
    if (l->n < 64) {
        snprintf(l->paths[l->n], sizeof(l->paths[0]), "%s", path);
        l->sizes[l->n] = size;
        l->n++;
    }
    return 0;
}

/* ---- tests ---- */

static void test_put_get_list_delete(void **state)
{
    struct fx *fx = *state;
    struct listing all = {0}, page = {0};
    char after[64] = "";

    assert_int_equal(put(fx->s, "s/one", 100, 1), 0);
    assert_int_equal(put(fx->s, "s/empty", 0, 2), 0);
    assert_int_equal(put(fx->s, "big", SMALL_MAX + 1, 3), 0); /* a plain file */
    assert_int_equal(put(fx->s, "s/two", SMALL_MAX, 4), 0);
    assert_true(file_size(fx->vol1) > 0);
    assert_int_equal(stats(fx).objects, 4);
    assert_int_equal(stats(fx).used_bytes, 100 + SMALL_MAX + 1 + SMALL_MAX);
    assert_int_equal(stats(fx).reserved_bytes, 0);
    assert_int_equal(check(fx->s, "s/one", 100, 1), 0);
    assert_int_equal(check(fx->s, "s/empty", 0, 2), 0);
    assert_int_equal(check(fx->s, "big", SMALL_MAX + 1, 3), 0);
    assert_int_equal(check(fx->s, "s/two", SMALL_MAX, 4), 0);

    /* Immutable, whichever place holds the name. */
    assert_int_equal(put(fx->s, "s/one", 10, 9), CF_EEXIST);
    assert_int_equal(put(fx->s, "s/one", SMALL_MAX + 10, 9), CF_EEXIST);
    assert_int_equal(put(fx->s, "big", 10, 9), CF_EEXIST);

    /* One listing, in storage order, plain and volume objects together. */
    assert_int_equal(cf_store_list(fx->s, NULL, 100, collect, &all), 4);
    for (;;) {
        int n = cf_store_list(fx->s, after, 1, collect, &page);
        assert_true(n >= 0);
        if (n == 0)
            break;
        snprintf(after, sizeof(after), "%s", page.paths[page.n - 1]);
    }
    assert_int_equal(page.n, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(page.paths[i], all.paths[i]);

    assert_int_equal(cf_store_delete(fx->s, "s/one", 5), 0);
    assert_int_equal(cf_store_delete(fx->s, "s/one", 5), CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "s/one", 100, 1), CF_ENOTFOUND);
    assert_int_equal(stats(fx).objects, 3);

    /* The index is in memory only: a new open rebuilds it from the volume. */
    reopen(fx);
    assert_int_equal(stats(fx).objects, 3);
    assert_int_equal(stats(fx).used_bytes, SMALL_MAX + 1 + SMALL_MAX);
    assert_int_equal(check(fx->s, "s/one", 100, 1), CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "s/two", SMALL_MAX, 4), 0);
    assert_int_equal(check(fx->s, "s/empty", 0, 2), 0);
    /* A deleted name can be written again. */
    assert_int_equal(put(fx->s, "s/one", 50, 5), 0);
    reopen(fx);
    assert_int_equal(check(fx->s, "s/one", 50, 5), 0);
}

/* Without a declared size an upload is gathered in memory and goes to a
 * volume if it ends within small_max, else becomes a plain file. */
static void test_unknown_size(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(put_as(fx->s, "u/small", 3000, 1, true), 0);
    assert_int_equal(put_as(fx->s, "u/edge", SMALL_MAX, 2, true), 0);
    assert_int_equal(put_as(fx->s, "u/big", 3 * SMALL_MAX + 5, 3, true), 0);
    assert_int_equal(put_as(fx->s, "u/small", 10, 4, true), CF_EEXIST);
    assert_int_equal(stats(fx).objects, 3);
    assert_int_equal(stats(fx).reserved_bytes, 0);
    assert_int_equal(stats(fx).used_bytes, 3000 + SMALL_MAX + 3 * SMALL_MAX + 5);
    reopen(fx);
    assert_int_equal(check(fx->s, "u/small", 3000, 1), 0);
    assert_int_equal(check(fx->s, "u/edge", SMALL_MAX, 2), 0);
    assert_int_equal(check(fx->s, "u/big", 3 * SMALL_MAX + 5, 3), 0);
    {
        /* Only the big one is a file of its own. */
        struct cf_store_obj o;
        assert_int_equal(cf_store_get(fx->s, "u/big", 5, &o), 0);
        assert_int_equal(o.offset, 0);
        close(o.fd);
        assert_int_equal(cf_store_get(fx->s, "u/edge", 6, &o), 0);
        assert_true(o.offset > 0);
        close(o.fd);
    }
    assert_int_equal(stats(fx).objects, 3);
}

struct worker {
    struct cf_store *s;
    int id, n, failed;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "t%d/o%d", w->id, i);
        if (put(w->s, path, 200 + (size_t)i, (unsigned)(w->id * 1000 + i)) != 0)
            w->failed++;
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fx *fx = *state;
    enum { THREADS = 16, EACH = 25 };
    pthread_t t[THREADS];
    struct worker w[THREADS];

    slow_fsync_us = 2000; /* each sync takes a while: others queue behind it */
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.s = fx->s, .id = i, .n = EACH};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failed, 0);
    }
    slow_fsync_us = 0;
    /* Each commit waited for a sync, and syncs were shared. */
    assert_true(fsyncs >= 1);
    assert_true(fsyncs <= THREADS * EACH / 2);
    assert_int_equal(stats(fx).objects, THREADS * EACH);
    reopen(fx);
    assert_int_equal(stats(fx).objects, THREADS * EACH);
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < EACH; j++) {
            char path[64];
            snprintf(path, sizeof(path), "t%d/o%d", i, j);
            assert_int_equal(check(fx->s, path, 200 + (size_t)j, (unsigned)(i * 1000 + j)), 0);
        }
}

static void test_torn_tail(void **state)
{
    struct fx *fx = *state;
    off_t good;
    int fd;

    assert_int_equal(put(fx->s, "a", 300, 1), 0);
    assert_int_equal(put(fx->s, "b", 300, 2), 0);
    good = file_size(fx->vol1);
    assert_int_equal(put(fx->s, "c", 300, 3), 0);
    cf_store_close(fx->s);
    fx->s = NULL;
    /* The last record loses its end: a crash while it was being written. */
    assert_int_equal(truncate(fx->vol1, file_size(fx->vol1) - 10), 0);
    assert_int_equal(open_store(fx), 0);
    assert_int_equal(file_size(fx->vol1), good);
    assert_int_equal(check(fx->s, "a", 300, 1), 0);
    assert_int_equal(check(fx->s, "b", 300, 2), 0);
    assert_int_equal(check(fx->s, "c", 300, 3), CF_ENOTFOUND);
    assert_int_equal(stats(fx).objects, 2);
    cf_store_close(fx->s);
    fx->s = NULL;
    /* A header cut short, and garbage after a good record. */
    fd = open(fx->vol1, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "CFV1 not a header", 17), 17);
    close(fd);
    assert_int_equal(open_store(fx), 0);
    assert_int_equal(file_size(fx->vol1), good);
    assert_int_equal(stats(fx).objects, 2);
    /* New records go after the cut. */
    assert_int_equal(put(fx->s, "d", 10, 4), 0);
    reopen(fx);
    assert_int_equal(check(fx->s, "d", 10, 4), 0);
    assert_int_equal(stats(fx).objects, 3);
}

static void test_bad_bytes_not_indexed(void **state)
{
    struct fx *fx = *state;
    char name[CF_PATH_MAX + 1], c;
    int fd, nlen = cf_objpath_to_name("a", 1, name, sizeof(name));

    assert_true(nlen > 0);
    assert_int_equal(put(fx->s, "a", 300, 1), 0);
    assert_int_equal(put(fx->s, "b", 300, 2), 0);
    cf_store_close(fx->s);
    fx->s = NULL;
    /* Flip a byte inside the first record's bytes (after its header and name). */
    fd = open(fx->vol1, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, 112 + nlen + 150), 1);
    c = (char)~c;
    assert_int_equal(pwrite(fd, &c, 1, 112 + nlen + 150), 1);
    close(fd);
    assert_int_equal(open_store(fx), 0);
    assert_int_equal(check(fx->s, "a", 300, 1), CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "b", 300, 2), 0);
    assert_int_equal(stats(fx).objects, 1);
}

static void test_failed_fsync_and_write(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(put(fx->s, "a", 300, 1), 0);
    fault = F_FSYNC_EIO;
    assert_int_equal(put(fx->s, "b", 300, 2), CF_EIO);
    assert_int_equal(check(fx->s, "b", 300, 2), CF_ENOTFOUND);
    fault = F_WRITE_ENOSPC;
    assert_int_equal(put(fx->s, "c", 300, 3), CF_ENOSPC);
    assert_int_equal(check(fx->s, "c", 300, 3), CF_ENOTFOUND);
    assert_int_equal(stats(fx).objects, 1);
    assert_int_equal(stats(fx).reserved_bytes, 0);
    assert_true(stats(fx).io_errors >= 1);
    /* The names are free again, and nothing failed comes back at open. */
    assert_int_equal(put(fx->s, "d", 30, 4), 0);
    reopen(fx);
    assert_int_equal(check(fx->s, "a", 300, 1), 0);
    assert_int_equal(check(fx->s, "b", 300, 2), CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "c", 300, 3), CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "d", 30, 4), 0);
    assert_int_equal(stats(fx).objects, 2);
    /* A failed tombstone leaves the object. */
    fault = F_FSYNC_EIO;
    assert_int_equal(cf_store_delete(fx->s, "a", 1), CF_EIO);
    assert_int_equal(check(fx->s, "a", 300, 1), 0);
    reopen(fx);
    assert_int_equal(check(fx->s, "a", 300, 1), 0);
}

/* A child process puts "x" and dies inside the write or the fsync of its
 * record (as a crash between append and acknowledgement would). */
static void die_putting(struct fx *fx, enum fault how)
{
    pid_t pid;
    int st;

    cf_store_close(fx->s);
    fx->s = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct cf_store *s = NULL;
        struct cf_store_opts o = {
            .dir = fx->dir, .id = 7, .capacity = 64 << 20, .io = &seam, .small_max = SMALL_MAX};
        if (cf_store_open(&o, &s, NULL) < 0)
            _exit(2);
        fault = how;
        (void)put(s, "x", 1000, 9);
        _exit(3); /* not reached: the seam ends the process */
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(open_store(fx), 0);
}

static void test_crash_between_append_and_ack(void **state)
{
    struct fx *fx = *state;
    int rc;

    assert_int_equal(put(fx->s, "a", 300, 1), 0);
    /* Died mid-append: the torn record is cut, the rest intact. */
    die_putting(fx, F_DIE_MID_WRITE);
    assert_int_equal(check(fx->s, "x", 1000, 9), CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "a", 300, 1), 0);
    assert_int_equal(stats(fx).objects, 1);
    /* Died after the append, before the sync returned: never acknowledged;
     * the whole record may be indexed (its bytes are right) or not. */
    die_putting(fx, F_DIE_IN_FSYNC);
    rc = check(fx->s, "x", 1000, 9);
    assert_true(rc == 0 || rc == CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "a", 300, 1), 0);
    assert_int_equal(put(fx->s, "after", 10, 5), 0);
    reopen(fx);
    assert_int_equal(check(fx->s, "after", 10, 5), 0);
}

static void test_compaction(void **state)
{
    struct fx *fx = *state;
    char path[32];

    for (int i = 0; i < 20; i++) {
        snprintf(path, sizeof(path), "c/%d", i);
        assert_int_equal(put(fx->s, path, 1000, (unsigned)i), 0);
    }
    for (int i = 0; i < 15; i++) {
        snprintf(path, sizeof(path), "c/%d", i);
        assert_int_equal(cf_store_delete(fx->s, path, strlen(path)), 0);
    }
    reopen(fx); /* three quarters dead: compacted into a new volume */
    assert_int_equal(file_size(fx->vol1), -1);
    assert_int_equal(count_volumes(fx), 1);
    assert_int_equal(stats(fx).objects, 5);
    for (int i = 0; i < 20; i++) {
        snprintf(path, sizeof(path), "c/%d", i);
        assert_int_equal(check(fx->s, path, 1000, (unsigned)i), i < 15 ? CF_ENOTFOUND : 0);
    }
    /* Deletes after the move hit the moved records. */
    assert_int_equal(cf_store_delete(fx->s, "c/19", 4), 0);
    assert_int_equal(put(fx->s, "c/new", 100, 77), 0);
    reopen(fx);
    assert_int_equal(check(fx->s, "c/19", 1000, 19), CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "c/18", 1000, 18), 0);
    assert_int_equal(check(fx->s, "c/new", 100, 77), 0);
    assert_int_equal(stats(fx).objects, 5);
}

static void test_compaction_cut_short(void **state)
{
    struct fx *fx = *state;
    char copy[160], buf[4096];
    ssize_t n;
    int in, out;

    assert_int_equal(put(fx->s, "a", 300, 1), 0);
    assert_int_equal(put(fx->s, "b", 300, 2), 0);
    cf_store_close(fx->s);
    fx->s = NULL;
    /* A compaction that synced its copy but died before removing the
     * original leaves the same records twice. */
    snprintf(copy, sizeof(copy), "%s/volumes/000002.vol", fx->dir);
    in = open(fx->vol1, O_RDONLY);
    out = open(copy, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(in >= 0 && out >= 0);
    n = read(in, buf, sizeof(buf));
    assert_true(n > 0 && n < (ssize_t)sizeof(buf));
    assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    assert_int_equal(open_store(fx), 0);
    assert_int_equal(stats(fx).objects, 2);
    assert_int_equal(stats(fx).used_bytes, 600);
    assert_int_equal(file_size(fx->vol1), -1); /* the older copy, all dead, went */
    assert_int_equal(check(fx->s, "a", 300, 1), 0);
    assert_int_equal(cf_store_delete(fx->s, "a", 1), 0);
    reopen(fx);
    assert_int_equal(check(fx->s, "a", 300, 1), CF_ENOTFOUND);
    assert_int_equal(check(fx->s, "b", 300, 2), 0);
}

/* Open fds of this process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

struct shared_reader {
    struct cf_store *s;
    int bad;
};

static void *shared_reader_main(void *arg)
{
    struct shared_reader *r = arg;
    char want[300], got[300], path[16];

    for (int i = 0; i < 400; i++) {
        struct cf_store_obj o;
        unsigned k = (unsigned)i % 8;
        snprintf(path, sizeof(path), "r/%u", k);
        fill(want, sizeof(want), 20 + k);
        if (cf_store_get_shared(r->s, path, strlen(path), &o) != 0) {
            r->bad++;
            continue;
        }
        if (!o.shared || o.size != sizeof(want) ||
            pread(o.fd, got, sizeof(got), (off_t)o.offset) != (ssize_t)sizeof(got) ||
            memcmp(got, want, sizeof(want)) != 0)
            r->bad++;
        if (!o.shared)
            close(o.fd);
    }
    return NULL;
}

/* cf_store_get_shared: a volume's object comes with the fd the store keeps
 * for that volume, the same for every read, from any thread at once (one
 * fd kept, however many raced to open it); what changes in the file in
 * place shows through it; a plain file and cf_store_get still give the
 * caller its own fd; closing the store closes the kept one. */
static void test_shared_read_fd(void **state)
{
    struct fx *fx = *state;
    struct shared_reader r[8];
    pthread_t th[8];
    struct cf_store_obj a, b, own;
    char got[300], want[300];
    int before, kept, fd;

    for (unsigned k = 0; k < 8; k++) {
        char path[16];
        snprintf(path, sizeof(path), "r/%u", k);
        assert_int_equal(put(fx->s, path, 300, 20 + k), 0);
    }
    assert_int_equal(put(fx->s, "big", SMALL_MAX + 1, 3), 0);
    before = count_fds();
    for (int t = 0; t < 8; t++) {
        r[t] = (struct shared_reader){fx->s, 0};
        assert_int_equal(pthread_create(&th[t], NULL, shared_reader_main, &r[t]), 0);
    }
    for (int t = 0; t < 8; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(r[t].bad, 0);
    }
    assert_int_equal(count_fds(), before + 1);

    assert_int_equal(cf_store_get_shared(fx->s, "r/0", 3, &a), 0);
    assert_int_equal(cf_store_get_shared(fx->s, "r/5", 3, &b), 0);
    assert_true(a.shared && b.shared);
    assert_int_equal(a.fd, b.fd);
    kept = a.fd;
    assert_int_equal(cf_store_get(fx->s, "r/0", 3, &own), 0);
    assert_false(own.shared);
    assert_int_not_equal(own.fd, kept);
    assert_int_equal(close(own.fd), 0);
    assert_int_equal(cf_store_get_shared(fx->s, "big", 3, &own), 0);
    assert_false(own.shared);
    assert_int_equal(close(own.fd), 0);
    assert_int_equal(count_fds(), before + 1);

    /* A byte flipped in the volume file, through another fd. */
    fd = open(fx->vol1, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, got, 1, (off_t)a.offset), 1);
    got[0] = (char)~got[0];
    assert_int_equal(pwrite(fd, got, 1, (off_t)a.offset), 1);
    close(fd);
    fill(want, sizeof(want), 20);
    assert_int_equal(pread(kept, got, sizeof(got), (off_t)a.offset), (ssize_t)sizeof(got));
    assert_int_equal((unsigned char)got[0], (unsigned char)~want[0]);

    cf_store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(fcntl(kept, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(open_store(fx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bytes_not_indexed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_fsync_and_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_append_and_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_cut_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_read_fd, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
