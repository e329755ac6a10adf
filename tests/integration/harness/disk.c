/*
 * disk.c -- a filer's directory: object files checked, damaged, counted
 * (disk.h).
 */
#include "harness/disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "coffer/objpath.h"

static void count_walk(const char *dir, bool tmp_only, unsigned *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[IT_PATH_MAX];
    struct stat st;

    while (d != NULL) {
        e = readdir(d);
        if (e == NULL)
            break;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        it_fmt(path, IT_PATH_MAX, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            continue; /* removed meanwhile */
        if (S_ISDIR(st.st_mode))
            count_walk(path, tmp_only, count);
        else if (S_ISREG(st.st_mode) && (!tmp_only || strncmp(e->d_name, ".tmp.", 5) == 0))
            (*count)++;
    }
    if (d != NULL)
        closedir(d);
}

unsigned it_count_tmp(const char *dir)
{
    unsigned n = 0;

    count_walk(dir, true, &n);
    return n;
}

unsigned it_count_files(const char *dir)
{
    unsigned n = 0;

    count_walk(dir, false, &n);
    return n;
}

static void object_file(char out[IT_PATH_MAX], const struct it_filer *f, const char *path)
{
    char rel[CF_OBJPATH_REL_MAX];
    int n = cf_objpath_relpath(path, strlen(path), rel, sizeof(rel));

    IT_CHECKF(n > 0, "cf_objpath_relpath(\"%s\") = %d", path, n);
    it_fmt(out, IT_PATH_MAX, "%s/%s", f->dir, rel);
}

int64_t it_object_file_size(const struct it_filer *f, const char *path)
{
    char file[IT_PATH_MAX];
    struct stat st;
    int64_t size = -1;

    object_file(file, f, path);
    if (stat(file, &st) == 0) {
        IT_CHECKF(S_ISREG(st.st_mode), "\"%s\" is not a regular file", file);
        size = (int64_t)st.st_size;
    } else {
        IT_CHECKF(errno == ENOENT, "stat \"%s\": %s", file, strerror(errno));
    }
    return size;
}

void it_object_file_remove(const struct it_filer *f, const char *path)
{
    char file[IT_PATH_MAX];

    object_file(file, f, path);
    IT_CHECKF(unlink(file) == 0, "unlink \"%s\": %s", file, strerror(errno));
}

void it_check_object_file(const struct it_filer *f, const char *path, uint64_t size,
                          const uint8_t sha[CF_SHA512_LEN])
{
    char file[IT_PATH_MAX];
    uint8_t d[CF_SHA512_LEN];
    uint64_t total = 0;

    object_file(file, f, path);
    it_file_sha512(file, &total, d);
    IT_EQ(total, size);
    IT_CHECKF(memcmp(d, sha, CF_SHA512_LEN) == 0, "file \"%s\" differs from what was put", file);
}

void it_flip_object_byte(const struct it_filer *f, const char *path, uint64_t off)
{
    char file[IT_PATH_MAX];
    unsigned char b;
    int fd;

    object_file(file, f, path);
    fd = open(file, O_RDWR | O_CLOEXEC);
    IT_CHECKF(fd >= 0, "open \"%s\": %s", file, strerror(errno));
    IT_CHECKF(pread(fd, &b, 1, (off_t)off) == 1, "pread \"%s\": %s", file, strerror(errno));
    b ^= 0xff;
    IT_CHECKF(pwrite(fd, &b, 1, (off_t)off) == 1, "pwrite \"%s\": %s", file, strerror(errno));
    IT_CHECKF(fsync(fd) == 0, "fsync \"%s\": %s", file, strerror(errno));
    close(fd);
}

void it_truncate_object(const struct it_filer *f, const char *path, uint64_t size)
{
    char file[IT_PATH_MAX];

    object_file(file, f, path);
    IT_CHECKF(truncate(file, (off_t)size) == 0, "truncate \"%s\": %s", file, strerror(errno));
}

struct snap {
    char **lines;
    size_t n, cap;
};

static void snap_walk(const char *root, const char *rel, struct snap *s)
{
    char path[IT_PATH_MAX], sub[IT_PATH_MAX], line[IT_PATH_MAX + 96];
    struct dirent *e;
    struct stat st;
    DIR *d;

    it_fmt(path, IT_PATH_MAX, "%s%s", root, rel);
    d = opendir(path);
    while (d != NULL) {
        size_t len;
        int n;
        e = readdir(d);
        if (e == NULL)
            break;
        len = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0))
            continue;
        it_fmt(sub, IT_PATH_MAX, "%s/%s", rel, e->d_name);
        it_fmt(path, IT_PATH_MAX, "%s%s", root, sub);
        if (lstat(path, &st) != 0)
            continue;
        n = snprintf(line, sizeof(line), "%s %o %lld %lld.%09ld", sub, (unsigned)st.st_mode,
                     (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        IT_CHECK(n > 0 && (size_t)n < sizeof(line));
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->lines = cf_xrealloc(s->lines, s->cap * sizeof(*s->lines));
        }
        s->lines[s->n++] = cf_xstrdup(line);
        if (S_ISDIR(st.st_mode))
            snap_walk(root, sub, s);
    }
    if (d != NULL)
        closedir(d);
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *it_tree_snapshot(const char *dir)
{
    struct snap s = {NULL, 0, 0};
    size_t total = 1, off = 0;
    char *out;

    snap_walk(dir, "", &s);
    if (s.n > 0)
        qsort(s.lines, s.n, sizeof(*s.lines), cmp_lines);
    for (size_t i = 0; i < s.n; i++)
        total += strlen(s.lines[i]) + 1;
    out = cf_xmalloc(total);
    for (size_t i = 0; i < s.n; i++) {
        size_t len = strlen(s.lines[i]);
        memcpy(out + off, s.lines[i], len);
        out[off + len] = '\n';
        off += len + 1;
        free(s.lines[i]);
    }
    out[off] = '\0';
    free(s.lines);
    return out;
}

static bool no_tmp(void *arg)
{
    const struct it_filer *f = arg;

    return it_count_tmp(f->dir) == 0;
}

struct tmp_wait {
    const struct it_filer *f;
    unsigned n;
};

static bool enough_tmp(void *arg)
{
    const struct tmp_wait *w = arg;

    return it_count_tmp(w->f->dir) >= w->n;
}

void it_wait_tmp(const struct it_filer *f, unsigned n)
{
    struct tmp_wait w = {f, n};

    IT_CHECKF(it_wait_for(enough_tmp, &w, 50, 100),
              "%u temporary files (.tmp.*) under %s, expected %u uploads in progress",
              it_count_tmp(f->dir), f->dir, n);
}

void it_wait_no_tmp(const struct it_filer *f)
{
    IT_CHECKF(it_wait_for(no_tmp, (void *)f, 50, 100), "temporary files remain under %s (%u)",
              f->dir, it_count_tmp(f->dir));
}

void it_roundtrip(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
                  uint64_t size, bool chunked)
{
    uint8_t sha[CF_SHA512_LEN];

    it_put_ok(c, f, path, seed, size, chunked, sha);
    it_get_ok(c, f, path, size, sha);
    it_check_object_file(f, path, size, sha);
}
