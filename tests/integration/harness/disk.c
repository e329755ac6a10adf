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
#include "coffer/sha512.h"

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

/* The filer's volume record format (src/filer/volume.c), read here on its
 * own so that a fault made by the test hits the bytes the filer serves: a
 * record is a header of VOL_HEAD bytes (little-endian fields at the offsets
 * below), the object's on-disk name, then (for a put) its bytes. */
#define VOL_HEAD    112
#define VOL_MAGIC   0x31564643u
#define VOL_PUT     1
#define VOL_TOMB    2
#define VOL_H_TYPE  4
#define VOL_H_NLEN  6
#define VOL_H_SIZE  8
#define VOL_H_TVOL  28
#define VOL_H_TOFF  32
#define VOL_NAME_AT VOL_HEAD

/* Where the bytes of an object are: its own file (off 0), or its record in
 * a volume file. */
struct loc {
    char file[IT_PATH_MAX];
    uint64_t off;  /* of the first byte */
    uint64_t size; /* bytes */
    bool vol;      /* in a volume */
};

static uint64_t get_le(const unsigned char *p, unsigned n)
{
    uint64_t x = 0;

    while (n-- > 0)
        x = x << 8 | p[n];
    return x;
}

struct vol_put {
    uint32_t vol;
    uint64_t rec; /* offset of the record */
    uint64_t size;
};

/* The live put of name in volume records under dir/volumes, if any: the
 * last put of that name whose record no tombstone names. */
static bool vol_find(const char *dir, const char *name, struct loc *l)
{
    char vdir[IT_PATH_MAX], file[IT_PATH_MAX];
    struct vol_put *puts = NULL, *kills = NULL;
    size_t nputs = 0, nkills = 0, nlen = strlen(name);
    bool found = false, best_set = false;
    struct vol_put best = {0, 0, 0};
    struct dirent *e;
    DIR *d;

    it_fmt(vdir, IT_PATH_MAX, "%s/volumes", dir);
    d = opendir(vdir);
    if (d == NULL) {
        IT_CHECKF(errno == ENOENT, "opendir \"%s\": %s", vdir, strerror(errno));
        return false;
    }
    for (;;) {
        unsigned char head[VOL_HEAD];
        char rname[CF_PATH_MAX + 1];
        uint64_t off = 0;
        size_t len;
        uint32_t id;
        int fd;

        e = readdir(d);
        if (e == NULL)
            break;
        len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".vol") != 0)
            continue;
        id = (uint32_t)strtoul(e->d_name, NULL, 10);
        it_fmt(file, IT_PATH_MAX, "%s/%s", vdir, e->d_name);
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            continue; /* compacted meanwhile */
        IT_CHECKF(fd >= 0, "open \"%s\": %s", file, strerror(errno));
        /* Up to the first header that is not one (a torn tail). */
        while (pread(fd, head, VOL_HEAD, (off_t)off) == VOL_HEAD) {
            uint64_t rnlen = get_le(head + VOL_H_NLEN, 2), size = get_le(head + VOL_H_SIZE, 8);
            int type = head[VOL_H_TYPE];

            if (get_le(head, 4) != VOL_MAGIC || rnlen == 0 || rnlen >= sizeof(rname) ||
                (type != VOL_PUT && type != VOL_TOMB))
                break;
            if (pread(fd, rname, rnlen, (off_t)(off + VOL_NAME_AT)) != (ssize_t)rnlen)
                break;
            if (rnlen == nlen && memcmp(rname, name, nlen) == 0) {
                struct vol_put **arr = type == VOL_PUT ? &puts : &kills;
                size_t *n = type == VOL_PUT ? &nputs : &nkills;
                *arr = cf_xrealloc(*arr, (*n + 1) * sizeof(**arr));
                if (type == VOL_PUT)
                    (*arr)[*n] = (struct vol_put){id, off, size};
                else
                    (*arr)[*n] = (struct vol_put){(uint32_t)get_le(head + VOL_H_TVOL, 4),
                                                  get_le(head + VOL_H_TOFF, 8), 0};
                (*n)++;
            }
            off += VOL_HEAD + rnlen + (type == VOL_PUT ? size : 0);
        }
        close(fd);
    }
    closedir(d);
    for (size_t i = 0; i < nputs; i++) {
        bool dead = false;
        for (size_t k = 0; k < nkills && !dead; k++)
            dead = kills[k].vol == puts[i].vol && kills[k].rec == puts[i].rec;
        if (!dead && (!best_set || puts[i].vol > best.vol ||
                      (puts[i].vol == best.vol && puts[i].rec > best.rec))) {
            best = puts[i];
            best_set = true;
        }
    }
    if (best_set) {
        it_fmt(l->file, IT_PATH_MAX, "%s/%06u.vol", vdir, (unsigned)best.vol);
        l->off = best.rec + VOL_HEAD + nlen;
        l->size = best.size;
        l->vol = true;
        found = true;
    }
    free(puts);
    free(kills);
    return found;
}

/* Locate object path in f's store: its own file first, then a volume
 * record. False if neither holds it. */
static bool locate(const struct it_filer *f, const char *path, struct loc *l)
{
    char rel[CF_OBJPATH_REL_MAX], name[CF_OBJPATH_REL_MAX];
    int n = cf_objpath_relpath(path, strlen(path), rel, sizeof(rel));
    struct stat st;

    IT_CHECKF(n > 0, "cf_objpath_relpath(\"%s\") = %d", path, n);
    it_fmt(l->file, IT_PATH_MAX, "%s/%s", f->dir, rel);
    l->off = 0;
    l->vol = false;
    if (stat(l->file, &st) == 0) {
        IT_CHECKF(S_ISREG(st.st_mode), "\"%s\" is not a regular file", l->file);
        l->size = (uint64_t)st.st_size;
        return true;
    }
    IT_CHECKF(errno == ENOENT, "stat \"%s\": %s", l->file, strerror(errno));
    n = cf_objpath_to_name(path, strlen(path), name, sizeof(name));
    IT_CHECKF(n > 0, "cf_objpath_to_name(\"%s\") = %d", path, n);
    return vol_find(f->dir, name, l);
}

static void must_locate(const struct it_filer *f, const char *path, struct loc *l)
{
    IT_CHECKF(locate(f, path, l), "no file or volume record of \"%s\" under %s", path, f->dir);
}

int64_t it_object_file_size(const struct it_filer *f, const char *path)
{
    struct loc l;

    return locate(f, path, &l) ? (int64_t)l.size : -1;
}

bool it_object_in_volume(const struct it_filer *f, const char *path)
{
    struct loc l;

    return locate(f, path, &l) && l.vol;
}

void it_object_file_remove(const struct it_filer *f, const char *path)
{
    struct loc l;

    must_locate(f, path, &l);
    /* A record cannot leave a volume while the filer indexes it. */
    IT_CHECKF(!l.vol, "\"%s\" is a record in %s: only a plain file can be removed", path, l.file);
    IT_CHECKF(unlink(l.file) == 0, "unlink \"%s\": %s", l.file, strerror(errno));
}

void it_check_object_file(const struct it_filer *f, const char *path, uint64_t size,
                          const uint8_t sha[CF_SHA512_LEN])
{
    uint8_t d[CF_SHA512_LEN], buf[65536];
    struct cf_sha512 ctx;
    uint64_t done = 0;
    struct loc l;
    int fd;

    must_locate(f, path, &l);
    IT_EQ(l.size, size);
    fd = open(l.file, O_RDONLY | O_CLOEXEC);
    IT_CHECKF(fd >= 0, "open \"%s\": %s", l.file, strerror(errno));
    IT_CHECK(cf_sha512_init(&ctx) == 0);
    while (done < l.size) {
        size_t want = l.size - done < sizeof(buf) ? (size_t)(l.size - done) : sizeof(buf);
        ssize_t got = pread(fd, buf, want, (off_t)(l.off + done));
        IT_CHECKF(got > 0, "pread \"%s\": %s", l.file, got < 0 ? strerror(errno) : "short");
        IT_CHECK(cf_sha512_update(&ctx, buf, (size_t)got) == 0);
        done += (uint64_t)got;
    }
    close(fd);
    IT_CHECK(cf_sha512_final(&ctx, d) == 0);
    cf_sha512_fini(&ctx);
    IT_CHECKF(memcmp(d, sha, CF_SHA512_LEN) == 0,
              "object \"%s\" in \"%s\" differs from what was put", path, l.file);
}

/* Invert n bytes at off of the object's bytes, in place, and fsync. */
static void invert(const struct loc *l, uint64_t off, uint64_t n)
{
    unsigned char b[4096];
    int fd = open(l->file, O_RDWR | O_CLOEXEC);

    IT_CHECKF(fd >= 0, "open \"%s\": %s", l->file, strerror(errno));
    while (n > 0) {
        size_t k = n < sizeof(b) ? (size_t)n : sizeof(b);
        off_t at = (off_t)(l->off + off);
        IT_CHECKF(pread(fd, b, k, at) == (ssize_t)k, "pread \"%s\": %s", l->file, strerror(errno));
        for (size_t i = 0; i < k; i++)
            b[i] ^= 0xff;
        IT_CHECKF(pwrite(fd, b, k, at) == (ssize_t)k, "pwrite \"%s\": %s", l->file,
                  strerror(errno));
        off += k;
        n -= k;
    }
    IT_CHECKF(fsync(fd) == 0, "fsync \"%s\": %s", l->file, strerror(errno));
    close(fd);
}

void it_flip_object_byte(const struct it_filer *f, const char *path, uint64_t off)
{
    struct loc l;

    must_locate(f, path, &l);
    IT_CHECKF(off < l.size, "flip at %llu of \"%s\", %llu bytes", (unsigned long long)off, path,
              (unsigned long long)l.size);
    invert(&l, off, 1);
}

void it_truncate_object(const struct it_filer *f, const char *path, uint64_t size)
{
    struct loc l;

    must_locate(f, path, &l);
    if (!l.vol) {
        IT_CHECKF(truncate(l.file, (off_t)size) == 0, "truncate \"%s\": %s", l.file,
                  strerror(errno));
    } else if (size < l.size) {
        /* A record cannot be cut in the middle of a volume: its bytes from
         * size on are lost instead (inverted, so every one differs). */
        invert(&l, size, l.size - size);
    }
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
