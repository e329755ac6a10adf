/*
 * test_store.c -- the filer's store: accounting, durability rules and
 * failure paths, on real files in a temporary directory, with faults
 * injected through the cf_io_ops seam (STYLE 2.8).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "coffer/err.h"
#include "coffer/io.h"
#include "coffer/log.h"
#include "coffer/objpath.h"
#include "coffer/sha512.h"
#include "coffer/store.h"

#include "storetest.h"

/* ---- fault injection: fail the n-th call of one operation ---- */

enum fault_op { F_NONE, F_WRITE, F_WRITE_SHORT, F_FSYNC, F_FSYNC_DIR, F_RENAME };

static enum fault_op fault_op;
static int fault_errno;
static int fault_countdown; /* calls to let through before failing */

static bool fire(enum fault_op op)
{
    if (fault_op != op)
        return false;
    if (fault_countdown-- > 0)
        return false;
    fault_op = F_NONE;
    return true;
}

static ssize_t f_write(int fd, const void *buf, size_t n)
{
    if (fire(F_WRITE)) {
        errno = fault_errno;
        return -1;
    }
    if (n > 1 && fire(F_WRITE_SHORT))
        return write(fd, buf, n / 2);
    return write(fd, buf, n);
}

static int f_fsync(int fd)
{
    struct stat st;

    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (fire(F_FSYNC_DIR)) {
            errno = fault_errno;
            return -1;
        }
    } else if (fire(F_FSYNC)) {
        errno = fault_errno;
        return -1;
    }
    return fsync(fd);
}

static int f_renameat2(int od, const char *op, int nd, const char *np, unsigned int flags)
{
    if (fire(F_RENAME)) {
        errno = fault_errno;
        return -1;
    }
    return cf_io_default.renameat2(od, op, nd, np, flags);
}

static struct cf_io_ops faulty;

static void arm(enum fault_op op, int err, int countdown)
{
    fault_op = op;
    fault_errno = err;
    fault_countdown = countdown;
}

/* ---- fixture ---- */

struct fx {
    char dir[64];
    struct cf_store *s;
};

static int open_store(struct fx *fx, uint64_t capacity)
{
    struct cf_store_opts o = {.dir = fx->dir, .id = 7, .capacity = capacity, .io = &faulty};
    char err[CF_ERR_LEN];

    return cf_store_open(&o, &fx->s, err);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    faulty = cf_io_default;
    faulty.write = f_write;
    faulty.fsync = f_fsync;
    faulty.renameat2 = f_renameat2;
    fault_op = F_NONE;
    if (cf_test_store_tmpdir(fx->dir, sizeof(fx->dir), "store") < 0)
        return -1;
    if (open_store(fx, 1 << 20) < 0)
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

/* Count files under dir whose name starts with prefix (NULL: any regular file). */
static int count_files(const char *path, const char *prefix)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return 0;
    for (;;) {
        de = readdir(d);
        if (de == NULL)
            break;
        char sub[1024];
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        if (stat(sub, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += count_files(sub, prefix);
        else if (prefix == NULL ? de->d_name[0] != '.'
                                : strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int temps(struct fx *fx)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/objects", fx->dir);
    return count_files(p, ".tmp.");
}

static int objects_on_disk(struct fx *fx)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/objects", fx->dir);
    return count_files(p, NULL);
}

/* Store `n` bytes of a pattern at path; returns the commit result. */
static int put(struct fx *fx, const char *path, size_t n, bool declare, const uint8_t *expect)
{
    struct cf_store_put *p = NULL;
    char *data = malloc(n + 1);
    int rc;

    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    rc = cf_store_put_begin(fx->s, path, strlen(path), declare ? (int64_t)n : -1, expect, &p, NULL);
    if (rc == 0) {
        rc = cf_store_put_write(p, data, n);
        if (rc == 0)
            rc = cf_store_put_commit(p, NULL, NULL, NULL);
        else
            cf_store_put_abort(p);
    }
    free(data);
    return rc;
}

static struct cf_store_stats stats(struct fx *fx)
{
    return cf_test_store_stats(fx->s);
}

/* ---- tests ---- */

static void test_accounting(void **state)
{
    struct fx *fx = *state;
    struct cf_store_obj o;

    assert_int_equal(put(fx, "a/one", 1000, true, NULL), 0);
    assert_int_equal(put(fx, "a/two", 24, false, NULL), 0);
    assert_int_equal(put(fx, "empty", 0, true, NULL), 0);
    assert_int_equal(stats(fx).objects, 3);
    assert_int_equal(stats(fx).used_bytes, 1024);
    assert_int_equal(stats(fx).reserved_bytes, 0);
    assert_int_equal(stats(fx).bytes_in, 1024);
    assert_int_equal(objects_on_disk(fx), 3);

    assert_int_equal(cf_store_get(fx->s, "a/one", 5, &o), 0);
    assert_int_equal(o.size, 1000);
    assert_true(o.has_sha);
    close(o.fd);

    assert_int_equal(cf_store_delete(fx->s, "a/one", 5), 0);
    assert_int_equal(cf_store_delete(fx->s, "a/one", 5), CF_ENOTFOUND);
    assert_int_equal(cf_store_get(fx->s, "a/one", 5, &o), CF_ENOTFOUND);
    assert_int_equal(stats(fx).objects, 2);
    assert_int_equal(stats(fx).used_bytes, 24);
}

static void test_reservation(void **state)
{
    struct fx *fx = *state;
    struct cf_store_put *p = NULL, *q = NULL;

    assert_int_equal(cf_store_put_begin(fx->s, "r1", 2, 600000, NULL, &p, NULL), 0);
    assert_int_equal(stats(fx).reserved_bytes, 600000);
    /* The reservation counts against the capacity of a second upload. */
    assert_int_equal(cf_store_put_begin(fx->s, "r2", 2, 600000, NULL, &q, NULL), CF_ENOSPC);
    cf_store_put_abort(p);
    assert_int_equal(stats(fx).reserved_bytes, 0);
    assert_int_equal(temps(fx), 0);
    assert_int_equal(cf_store_put_begin(fx->s, "r2", 2, 600000, NULL, &q, NULL), 0);
    cf_store_put_abort(q);
    /* Unknown size: it grows with the bytes and fails past the capacity. */
    assert_int_equal(put(fx, "chunked", (1 << 20) + 1, false, NULL), CF_ENOSPC);
    assert_int_equal(stats(fx).reserved_bytes, 0);
    assert_int_equal(stats(fx).used_bytes, 0);
    assert_int_equal(temps(fx), 0);
    assert_int_equal(put(fx, "fits", 1 << 20, false, NULL), 0);
    assert_int_equal(stats(fx).used_bytes, 1 << 20);
    assert_int_equal(put(fx, "one-more", 1, true, NULL), CF_ENOSPC);
}

static void test_checksum_and_length(void **state)
{
    struct fx *fx = *state;
    struct cf_store_put *p = NULL;
    uint8_t want[CF_SHA512_LEN], got[CF_SHA512_LEN];
    struct cf_sha512 h;

    memset(want, 0x5a, sizeof(want));
    assert_int_equal(put(fx, "bad-sum", 100, true, want), CF_ECHECKSUM);
    assert_int_equal(objects_on_disk(fx), 0);
    assert_int_equal(temps(fx), 0);

    /* The right checksum is accepted and returned. */
    assert_int_equal(cf_sha512_init(&h), 0);
    assert_int_equal(cf_sha512_update(&h, "abc", 3), 0);
    assert_int_equal(cf_sha512_final(&h, want), 0);
    cf_sha512_fini(&h);
    assert_int_equal(cf_store_put_begin(fx->s, "abc", 3, 3, want, &p, NULL), 0);
    assert_int_equal(cf_store_put_write(p, "abc", 3), 0);
    assert_int_equal(cf_store_put_commit(p, got, NULL, NULL), 0);
    assert_memory_equal(want, got, sizeof(got));

    /* Fewer bytes than declared: a truncated body. More: refused at once. */
    assert_int_equal(cf_store_put_begin(fx->s, "short", 5, 10, NULL, &p, NULL), 0);
    assert_int_equal(cf_store_put_write(p, "12345", 5), 0);
    assert_int_equal(cf_store_put_commit(p, NULL, NULL, NULL), CF_EBADREQ);
    assert_int_equal(cf_store_put_begin(fx->s, "long", 4, 2, NULL, &p, NULL), 0);
    assert_int_equal(cf_store_put_write(p, "123", 3), CF_EBADREQ);
    cf_store_put_abort(p);
    assert_int_equal(objects_on_disk(fx), 1);
    assert_int_equal(temps(fx), 0);
    assert_int_equal(stats(fx).reserved_bytes, 0);
}

static void test_immutable(void **state)
{
    struct fx *fx = *state;
    struct cf_store_put *p = NULL, *q = NULL;
    struct cf_store_obj o;

    assert_int_equal(put(fx, "x", 10, true, NULL), 0);
    assert_int_equal(put(fx, "x", 20, true, NULL), CF_EEXIST);
    /* Two uploads of one path at once: the first commit wins, the second
     * fails without touching it. */
    assert_int_equal(cf_store_put_begin(fx->s, "y", 1, 2, NULL, &p, NULL), 0);
    assert_int_equal(cf_store_put_begin(fx->s, "y", 1, 3, NULL, &q, NULL), 0);
    assert_int_equal(cf_store_put_write(p, "pp", 2), 0);
    assert_int_equal(cf_store_put_write(q, "qqq", 3), 0);
    assert_int_equal(cf_store_put_commit(p, NULL, NULL, NULL), 0);
    assert_int_equal(cf_store_put_commit(q, NULL, NULL, NULL), CF_EEXIST);
    assert_int_equal(cf_store_get(fx->s, "y", 1, &o), 0);
    assert_int_equal(o.size, 2);
    close(o.fd);
    assert_int_equal(stats(fx).objects, 2);
    assert_int_equal(stats(fx).used_bytes, 12);
    assert_int_equal(temps(fx), 0);
}

static void test_bad_paths(void **state)
{
    struct fx *fx = *state;
    struct cf_store_put *p = NULL;
    struct cf_store_obj o;

    assert_int_equal(cf_store_put_begin(fx->s, "../x", 4, 1, NULL, &p, NULL), CF_EBADPATH);
    assert_int_equal(cf_store_get(fx->s, "a/../../b", 9, &o), CF_EBADPATH);
    assert_int_equal(cf_store_delete(fx->s, "/etc/passwd", 11), CF_EBADPATH);
    assert_int_equal(cf_store_list(fx->s, "..", 10, NULL, NULL), CF_EBADPATH);
}

static void test_fault_fsync(void **state)
{
    struct fx *fx = *state;

    arm(F_FSYNC, EIO, 0);
    assert_int_equal(put(fx, "f", 100, true, NULL), CF_EIO);
    assert_int_equal(stats(fx).io_errors, 1);
    assert_int_equal(stats(fx).objects, 0);
    assert_int_equal(stats(fx).reserved_bytes, 0);
    assert_int_equal(objects_on_disk(fx), 0);
    assert_int_equal(temps(fx), 0);
    /* The next upload works. */
    assert_int_equal(put(fx, "f", 100, true, NULL), 0);
}

static void test_fault_dir_fsync(void **state)
{
    struct fx *fx = *state;
    struct cf_store_obj o;

    /* Create the bucket directories first, so that the only directory fsync
     * left is the one after the rename: the object must not stay visible. */
    assert_int_equal(put(fx, "d", 1, true, NULL), 0);
    assert_int_equal(cf_store_delete(fx->s, "d", 1), 0);
    arm(F_FSYNC_DIR, EIO, 0);
    assert_int_equal(put(fx, "d", 10, true, NULL), CF_EIO);
    assert_int_equal(stats(fx).io_errors, 1);
    assert_int_equal(cf_store_get(fx->s, "d", 1, &o), CF_ENOTFOUND);
    assert_int_equal(stats(fx).objects, 0);
    assert_int_equal(objects_on_disk(fx), 0);
    assert_int_equal(temps(fx), 0);
}

static void test_fault_write(void **state)
{
    struct fx *fx = *state;

    arm(F_WRITE, ENOSPC, 0);
    assert_int_equal(put(fx, "w", 100, true, NULL), CF_ENOSPC);
    assert_int_equal(stats(fx).io_errors, 0); /* a full disk is not an I/O error */
    arm(F_WRITE, EIO, 0);
    assert_int_equal(put(fx, "w", 100, true, NULL), CF_EIO);
    assert_int_equal(stats(fx).io_errors, 1);
    assert_int_equal(temps(fx), 0);
    assert_int_equal(objects_on_disk(fx), 0);
    /* A short write is not an error: the rest is written. */
    arm(F_WRITE_SHORT, 0, 0);
    assert_int_equal(put(fx, "w", 100, true, NULL), 0);
    assert_int_equal(stats(fx).used_bytes, 100);
    arm(F_RENAME, EIO, 0);
    assert_int_equal(put(fx, "r", 5, true, NULL), CF_EIO);
    assert_int_equal(temps(fx), 0);
}

static void test_reopen_sweeps_and_recounts(void **state)
{
    struct fx *fx = *state;
    struct cf_store_opts o = {.dir = fx->dir, .id = 7, .io = &faulty};
    struct cf_store *other = NULL;
    char err[CF_ERR_LEN], rel[CF_OBJPATH_REL_MAX], tmp[CF_OBJPATH_REL_MAX + 128];
    int fd;

    assert_int_equal(put(fx, "k1", 10, true, NULL), 0);
    assert_int_equal(put(fx, "k/2", 20, true, NULL), 0);
    /* What an upload in flight leaves when the process dies: a temporary
     * beside the object names. */
    assert_true(cf_objpath_relpath("k1", 2, rel, sizeof(rel)) > 0);
    *strrchr(rel, '/') = '\0';
    snprintf(tmp, sizeof(tmp), "%s/%s/.tmp.0123456789abcdef", fx->dir, rel);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "12345678", 8), 8);
    close(fd);
    assert_int_equal(temps(fx), 1);

    /* One store per directory. */
    assert_int_equal(cf_store_open(&o, &other, err), CF_EBUSY);
    o.id = 8;

    cf_store_close(fx->s); /* the lock goes with it; the temporary stays */
    fx->s = NULL;
    assert_int_equal(cf_store_open(&o, &other, err), CF_EINVAL);
    assert_non_null(strstr(err, "belongs to filer 7"));
    assert_int_equal(open_store(fx, 1 << 20), 0);
    assert_int_equal(temps(fx), 0);
    assert_int_equal(stats(fx).temps_removed, 1);
    assert_int_equal(stats(fx).objects, 2);
    assert_int_equal(stats(fx).used_bytes, 30);
}

struct listing {
    char paths[64][32];
    int n;
};

static int collect(void *ctx, const char *path, uint64_t size, uint64_t mtime_ms)
{
    struct listing *l = ctx;
    uint64_t now = cf_wall_ms();

    /* Written by this test a moment ago. */
    assert_true(mtime_ms <= now + 1000 && mtime_ms + 600000 > now);
    assert_int_equal(size, strlen(path));
    snprintf(l->paths[l->n++], sizeof(l->paths[0]), "%s", path);
    return 0;
}

static void test_list_pages(void **state)
{
    struct fx *fx = *state;
    struct listing all = {0}, paged = {0};
    char after[32] = "";
    int n;

    for (int i = 0; i < 40; i++) {
        char path[32];
        snprintf(path, sizeof(path), "dir/obj-%02d", i);
        assert_int_equal(put(fx, path, strlen(path), true, NULL), 0);
    }
    assert_int_equal(cf_store_list(fx->s, NULL, 100, collect, &all), 40);
    /* Storage order: non-decreasing bucket. */
    for (int i = 1; i < all.n; i++)
        assert_true(cf_objpath_bucket(all.paths[i - 1], strlen(all.paths[i - 1])) <=
                    cf_objpath_bucket(all.paths[i], strlen(all.paths[i])));
    /* Pages of 7 give the same sequence, each path once. */
    do {
        struct listing page = {0};
        n = cf_store_list(fx->s, after, 7, collect, &page);
        assert_true(n >= 0 && n <= 7);
        for (int i = 0; i < n; i++)
            snprintf(paged.paths[paged.n++], sizeof(paged.paths[0]), "%s", page.paths[i]);
        if (n > 0)
            snprintf(after, sizeof(after), "%s", page.paths[n - 1]);
    } while (n == 7);
    assert_int_equal(paged.n, 40);
    for (int i = 0; i < 40; i++)
        assert_string_equal(all.paths[i], paged.paths[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accounting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reservation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_and_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_immutable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_dir_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_sweeps_and_recounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
    };

    cf_log_init("test_store", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
