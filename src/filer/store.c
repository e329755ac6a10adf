/*
 * store.c -- the filer's on-disk object store (store.h).
 */
#include "coffer/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "coffer/err.h"
#include "coffer/limits.h"
#include "coffer/log.h"
#include "coffer/objpath.h"
#include "volume_int.h"

#define SHA_XATTR  "user.coffer.sha512"
#define TMP_PREFIX ".tmp."
/* Start writeback of an upload every this many bytes, so that the final
 * fsync of a large object waits for the tail only. */
#define WRITEBACK_STEP (8u << 20)
/* Renames and unlinks of one bucket are serialised by one of these locks,
 * so the accounting of a delete racing a put of the same path cannot drift. */
#define STRIPES 256

struct cf_store {
    const struct cf_io_ops *io;
    char *dir;
    int dirfd;  /* DIR */
    int objfd;  /* DIR/objects */
    int lockfd; /* DIR/LOCK, flock'ed */
    uint32_t id;
    uint64_t capacity;
    bool read_only;
    uint64_t small_max; /* 0: no volumes for new objects */
    struct cf_vol *vol; /* the small objects (volume_int.h) */

    pthread_mutex_t mu; /* guards used, reserved, objects */
    uint64_t used, reserved, objects;
    atomic_uint_fast64_t bytes_in, bytes_out, io_errors;
    uint64_t temps_removed;
    uint64_t tightened; /* entries whose group/other bits the sweep cleared */
    pthread_mutex_t stripe[STRIPES];
};

struct cf_store_put {
    struct cf_store *s;
    int bdirfd; /* the bucket directory */
    int fd;     /* the temporary */
    uint32_t bucket;
    char tmp[32];
    char name[CF_PATH_MAX + 1];
    int64_t size;      /* declared, or -1 */
    uint64_t written;  /* bytes accepted so far */
    uint64_t reserved; /* bytes of capacity held */
    uint64_t synced;   /* bytes handed to writeback */
    bool has_expect;
    uint8_t expect[CF_SHA512_LEN];
    struct cf_sha512 sha;
    char *buf;
    size_t buf_len, buf_cap;
    bool small;   /* goes to a volume: the bytes are gathered in rec */
    uint8_t *rec; /* CF__VOL_HEAD + name, then the bytes */
    size_t head;  /* CF__VOL_HEAD + strlen(name) */
    int err;      /* sticky: after an error only abort is possible */
};

static void count_io_error(struct cf_store *s)
{
    atomic_fetch_add(&s->io_errors, 1);
}

/* Create dir `name` under dirfd if missing, and make the new entry durable. */
static int ensure_dir(struct cf_store *s, int dirfd, const char *name, const char *what)
{
    int e;

    if (s->io->mkdirat(dirfd, name, 0700) == 0) {
        if (s->io->fsync(dirfd) < 0) {
            e = errno;
            cf_log_errno(CF_LOG_ERROR, e, "fsync of the directory holding \"%s\" failed", what);
            count_io_error(s);
            return cf_err_from_errno(e);
        }
        return 0;
    }
    e = errno;
    if (e == EEXIST)
        return 0;
    cf_log_errno(CF_LOG_ERROR, e, "mkdir \"%s\" failed", what);
    count_io_error(s);
    return cf_err_from_errno(e);
}

/* Open the bucket directory, creating it (durably) when create is set. */
static int open_bucket(struct cf_store *s, uint32_t b, bool create, int *fd_out)
{
    char l1[16], rel[16];
    int fd, e, rc;

    (void)snprintf(l1, sizeof(l1), "%02x", (unsigned)(b >> 8));
    (void)snprintf(rel, sizeof(rel), "%02x/%02x", (unsigned)(b >> 8), (unsigned)(b & 0xff));
    fd = s->io->openat(s->objfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd >= 0) {
        *fd_out = fd;
        return 0;
    }
    e = errno;
    if (e != ENOENT || !create) {
        if (e != ENOENT) {
            cf_log_errno(CF_LOG_ERROR, e, "open \"%s/objects/%s\" failed", s->dir, rel);
            count_io_error(s);
        }
        return cf_err_from_errno(e);
    }
    rc = ensure_dir(s, s->objfd, l1, l1);
    if (rc < 0)
        return rc;
    rc = ensure_dir(s, s->objfd, rel, rel);
    if (rc < 0)
        return rc;
    fd = s->io->openat(s->objfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "open \"%s/objects/%s\" failed", s->dir, rel);
        count_io_error(s);
        return cf_err_from_errno(e);
    }
    *fd_out = fd;
    return 0;
}

/* Split a valid path into its bucket and on-disk name. */
static int locate(const char *path, size_t len, uint32_t *bucket, char name[CF_PATH_MAX + 1])
{
    int n = cf_objpath_to_name(path, len, name, CF_PATH_MAX + 1);

    if (n < 0)
        return CF_EBADPATH;
    *bucket = cf_objpath_bucket(path, len);
    return 0;
}

/* ---- opening: lock, id, sweep and recount ---- */

static int lock_dir(struct cf_store *s, char *err)
{
    s->lockfd = openat(s->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0) {
        cf_err_set(err, "open \"%s/LOCK\": %s", s->dir, strerror(errno));
        return CF_EIO;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            cf_err_set(err, "\"%s\" is in use by another filer process", s->dir);
            return CF_EBUSY;
        }
        cf_err_set(err, "flock \"%s/LOCK\": %s", s->dir, strerror(e));
        return CF_EIO;
    }
    return 0;
}

/* Write DIR/FILER_ID durably if missing, or check that it names our id. */
static int check_id(struct cf_store *s, char *err)
{
    char text[32], path[4096];
    int fd = -1, rc = 0, n, w;
    ssize_t r;

    fd = openat(s->dirfd, "FILER_ID", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char *end = NULL;
        unsigned long long v;
        r = read(fd, text, sizeof(text) - 1);
        text[r > 0 ? r : 0] = '\0';
        errno = 0;
        v = strtoull(text, &end, 10);
        if (r <= 0 || errno != 0 || (*end != '\n' && *end != '\0') || end == text) {
            cf_err_set(err, "\"%s/FILER_ID\" is unreadable; refusing to guess the owner", s->dir);
            rc = CF_EINVAL;
        } else if (v != s->id) {
            cf_err_set(err, "\"%s\" belongs to filer %llu, not %" PRIu32, s->dir, v, s->id);
            rc = CF_EINVAL;
        }
        goto out;
    }
    if (errno != ENOENT) {
        cf_err_set(err, "open \"%s/FILER_ID\": %s", s->dir, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    n = snprintf(text, sizeof(text), "%" PRIu32 "\n", s->id);
    w = snprintf(path, sizeof(path), "%s/FILER_ID", s->dir);
    if (w < 0 || (size_t)w >= sizeof(path)) {
        cf_err_set(err, "the path \"%s/FILER_ID\" is too long", s->dir);
        rc = CF_EINVAL;
        goto out;
    }
    /* Never replaced: two filers starting on one directory agree or fail. */
    rc = cf_io_write_file(path, text, (size_t)n, 0600, false, err);
    if (rc == CF_EEXIST)
        rc = check_id(s, err);
    else if (rc < 0)
        rc = CF_EIO;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* opendir of name under dirfd. Returns the stream, or NULL with errno set. */
static DIR *dir_open_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e;
    DIR *d;

    if (fd < 0)
        return NULL;
    d = fdopendir(fd);
    if (d == NULL) {
        e = errno;
        close(fd);
        errno = e;
    }
    return d;
}

static bool is_hex2(const char *n)
{
    static const char hex[] = "0123456789abcdef";
    return n[0] && strchr(hex, n[0]) && n[1] && strchr(hex, n[1]) && n[2] == '\0';
}

/* Clear the group and other bits of entry n under dirfd (st: its stat),
 * counting it; another user's entry is left as it is (not ours to change,
 * and a chmod would fail). Returns 0, or -1 with errno set. */
static int tighten_fd(struct cf_store *s, int dirfd, const char *n, const struct stat *st)
{
    if ((st->st_mode & 077) == 0 || st->st_uid != geteuid())
        return 0;
    if (fchmodat(dirfd, n, st->st_mode & 07700, 0) != 0)
        return -1;
    s->tightened++;
    return 0;
}

/* The same for the open directory fd itself. */
static int tighten_dir(struct cf_store *s, int fd)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return -1;
    if ((st.st_mode & 077) == 0 || st.st_uid != geteuid())
        return 0;
    if (fchmod(fd, st.st_mode & 07700) != 0)
        return -1;
    s->tightened++;
    return 0;
}

/* Remove temporaries, count objects and make entries private (an older
 * version made them readable by all) in one bucket directory. */
static int sweep_bucket(struct cf_store *s, int l1fd, const char *l1, const char *l2)
{
    DIR *d = NULL;
    struct dirent *de;
    struct stat st;
    uint64_t removed = 0;
    int rc = 0;

    d = dir_open_at(l1fd, l2);
    if (d == NULL) {
        cf_log_errno(CF_LOG_ERROR, errno, "open \"%s/objects/%s/%s\" failed", s->dir, l1, l2);
        return CF_EIO;
    }
    if (tighten_dir(s, dirfd(d)) < 0) {
        cf_log_errno(CF_LOG_ERROR, errno, "chmod \"%s/objects/%s/%s\" failed", s->dir, l1, l2);
        rc = CF_EIO;
        goto out;
    }
    for (;;) {
        const char *n;
        char path[CF_PATH_MAX + 1];

        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        n = de->d_name;
        if (n[0] == '.') {
            if (strncmp(n, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) == 0) {
                if (unlinkat(dirfd(d), n, 0) < 0) {
                    cf_log_errno(CF_LOG_ERROR, errno, "unlink \"%s/objects/%s/%s/%s\" failed",
                                 s->dir, l1, l2, n);
                    rc = CF_EIO;
                    goto out;
                }
                removed++;
            }
            continue;
        }
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            cf_objpath_from_name(n, strlen(n), path, sizeof(path)) < 0) {
            cf_log(CF_LOG_WARN, "ignoring stray entry \"%s/objects/%s/%s/%s\"", s->dir, l1, l2, n);
            continue;
        }
        if (tighten_fd(s, dirfd(d), n, &st) < 0) {
            cf_log_errno(CF_LOG_ERROR, errno, "chmod \"%s/objects/%s/%s/%s\" failed", s->dir, l1,
                         l2, n);
            rc = CF_EIO;
            goto out;
        }
        s->used += (uint64_t)st.st_size;
        s->objects++;
    }
    if (errno != 0) {
        cf_log_errno(CF_LOG_ERROR, errno, "readdir \"%s/objects/%s/%s\" failed", s->dir, l1, l2);
        rc = CF_EIO;
        goto out;
    }
    s->temps_removed += removed;
    if (removed > 0 && fsync(dirfd(d)) < 0) {
        cf_log_errno(CF_LOG_ERROR, errno, "fsync \"%s/objects/%s/%s\" failed", s->dir, l1, l2);
        rc = CF_EIO;
    }
out:
    closedir(d);
    return rc;
}

/* Make DIR/volumes and the files in it private, as sweep does for the
 * object files (an older version or a wide umask made them wider). */
static int tighten_volumes(struct cf_store *s)
{
    DIR *d = dir_open_at(s->dirfd, "volumes");
    struct dirent *de;
    struct stat st;
    int rc = 0;

    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        cf_log_errno(CF_LOG_ERROR, errno, "open \"%s/volumes\" failed", s->dir);
        return CF_EIO;
    }
    if (tighten_dir(s, dirfd(d)) < 0) {
        cf_log_errno(CF_LOG_ERROR, errno, "chmod \"%s/volumes\" failed", s->dir);
        rc = CF_EIO;
    }
    while (rc == 0) {
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0) {
                cf_log_errno(CF_LOG_ERROR, errno, "read \"%s/volumes\" failed", s->dir);
                rc = CF_EIO;
            }
            break;
        }
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (tighten_fd(s, dirfd(d), de->d_name, &st) < 0) {
            cf_log_errno(CF_LOG_ERROR, errno, "chmod \"%s/volumes/%s\" failed", s->dir, de->d_name);
            rc = CF_EIO;
        }
    }
    closedir(d);
    return rc;
}

static int sweep(struct cf_store *s)
{
    DIR *top = NULL;
    struct dirent *de;
    int rc = 0;

    top = dir_open_at(s->objfd, ".");
    if (top == NULL) {
        cf_log_errno(CF_LOG_ERROR, errno, "open \"%s/objects\" failed", s->dir);
        return CF_EIO;
    }
    while (rc == 0) {
        DIR *mid = NULL;
        struct dirent *de2;

        de = readdir(top);
        if (de == NULL)
            break;
        if (!is_hex2(de->d_name))
            continue;
        mid = dir_open_at(s->objfd, de->d_name);
        if (mid == NULL) {
            cf_log_errno(CF_LOG_ERROR, errno, "open \"%s/objects/%s\" failed", s->dir, de->d_name);
            rc = CF_EIO;
            break;
        }
        if (tighten_dir(s, dirfd(mid)) < 0) {
            cf_log_errno(CF_LOG_ERROR, errno, "chmod \"%s/objects/%s\" failed", s->dir, de->d_name);
            rc = CF_EIO;
            closedir(mid);
            break;
        }
        while (rc == 0) {
            de2 = readdir(mid);
            if (de2 == NULL)
                break;
            if (is_hex2(de2->d_name))
                rc = sweep_bucket(s, dirfd(mid), de->d_name, de2->d_name);
        }
        closedir(mid);
    }
    closedir(top);
    return rc;
}

int cf_store_open(const struct cf_store_opts *opts, struct cf_store **out, char *err)
{
    struct cf_store *s = cf_xcalloc(1, sizeof(*s));
    struct statvfs vfs;
    uint64_t t0 = cf_now_ns();
    int rc = 0;

    s->io = opts->io ? opts->io : &cf_io_default;
    s->dir = cf_xstrdup(opts->dir);
    s->dirfd = s->objfd = s->lockfd = -1;
    s->id = opts->id;
    s->read_only = opts->read_only;
    s->small_max = opts->small_max;
    pthread_mutex_init(&s->mu, NULL);
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&s->stripe[i], NULL);
    atomic_init(&s->bytes_in, 0);
    atomic_init(&s->bytes_out, 0);
    atomic_init(&s->io_errors, 0);

    /* Private (owner only), and tightened if an older version made it wider. */
    rc = cf_io_private_dir(s->dir, true, err);
    if (rc < 0) {
        rc = rc == CF_EPERM ? rc : CF_EIO;
        goto out;
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        cf_err_set(err, "open \"%s\": %s", s->dir, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    rc = lock_dir(s, err);
    if (rc < 0)
        goto out;
    rc = check_id(s, err);
    if (rc < 0)
        goto out;
    if (mkdirat(s->dirfd, "objects", 0700) == 0) {
        if (fsync(s->dirfd) < 0) {
            cf_err_set(err, "fsync \"%s\": %s", s->dir, strerror(errno));
            rc = CF_EIO;
            goto out;
        }
    } else if (errno != EEXIST) {
        cf_err_set(err, "mkdir \"%s/objects\": %s", s->dir, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    s->objfd = openat(s->dirfd, "objects", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->objfd < 0) {
        cf_err_set(err, "open \"%s/objects\": %s", s->dir, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    if (fstatvfs(s->objfd, &vfs) < 0) {
        cf_err_set(err, "statvfs \"%s\": %s", s->dir, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    s->capacity = opts->capacity ? opts->capacity : (uint64_t)vfs.f_blocks * vfs.f_frsize;
    rc = sweep(s);
    if (rc < 0) {
        cf_err_set(err, "scanning \"%s/objects\" failed (see the log above)", s->dir);
        goto out;
    }
    {
        /* Opened even with small_max 0: objects already in volumes stay readable. */
        uint64_t vobjects = 0, vbytes = 0;
        rc = tighten_volumes(s);
        if (rc < 0) {
            cf_err_set(err, "making \"%s/volumes\" private failed (see the log above)", s->dir);
            goto out;
        }
        rc = cf__vol_open(s->dirfd, s->dir, s->io, &s->vol, &vobjects, &vbytes, err);
        if (rc < 0)
            goto out;
        s->objects += vobjects;
        s->used += vbytes;
    }
    if (s->tightened > 0)
        cf_log(CF_LOG_WARN,
               "store \"%s\": %" PRIu64 " object files and directories were readable by other "
               "users; now by their owner only",
               s->dir, s->tightened);
    cf_log(CF_LOG_INFO,
           "store \"%s\": %" PRIu64 " objects, %" PRIu64 " bytes, %" PRIu64
           " temporaries removed, capacity %" PRIu64 " (%.0f ms)",
           s->dir, s->objects, s->used, s->temps_removed, s->capacity,
           (double)(cf_now_ns() - t0) / 1e6);
    *out = s;
    s = NULL;
out:
    cf_store_close(s);
    return rc;
}

void cf_store_close(struct cf_store *s)
{
    if (s == NULL)
        return;
    cf__vol_close(s->vol);
    if (s->objfd >= 0)
        close(s->objfd);
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->mu);
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&s->stripe[i]);
    free(s->dir);
    free(s);
}

/* ---- capacity ---- */

/* Reserve n more bytes for an upload. */
static int reserve(struct cf_store *s, uint64_t n)
{
    int rc = 0;

    pthread_mutex_lock(&s->mu);
    if (s->used + s->reserved > s->capacity || n > s->capacity - s->used - s->reserved)
        rc = CF_ENOSPC;
    else
        s->reserved += n;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void unreserve(struct cf_store *s, uint64_t n)
{
    pthread_mutex_lock(&s->mu);
    cf_assert(s->reserved >= n);
    s->reserved -= n;
    pthread_mutex_unlock(&s->mu);
}

/* ---- uploads ---- */

/* Whether a plain file holds the name (ENOENT of the bucket: no). Returns
 * 1, 0, or CF_EIO. */
static int plain_exists(struct cf_store *s, uint32_t bucket, const char *name)
{
    struct stat st;
    int bfd, rc = open_bucket(s, bucket, false, &bfd);

    if (rc == CF_ENOTFOUND)
        return 0;
    if (rc < 0)
        return CF_EIO;
    rc = fstatat(bfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 1 : 0;
    if (rc == 0 && errno != ENOENT) {
        cf_log_errno(CF_LOG_ERROR, errno, "stat of \"%s\" failed", name);
        count_io_error(s);
        rc = CF_EIO;
    }
    close(bfd);
    return rc;
}

/* A put's bytes become the store's: its reservation turns into use. */
static void count_committed(struct cf_store *s, struct cf_store_put *p)
{
    pthread_mutex_lock(&s->mu);
    cf_assert(s->reserved >= p->reserved);
    s->reserved -= p->reserved;
    p->reserved = 0;
    s->used += p->written;
    s->objects++;
    pthread_mutex_unlock(&s->mu);
}

/* Reserve a declared size against the capacity (a quota) and check that the
 * filesystem under fd, which may be fuller still, has room for it and
 * overhead bytes more. A size not declared (< 1) reserves nothing. The
 * caller aborts p on failure, which gives the reservation back. */
static int claim_space(struct cf_store_put *p, int fd, uint64_t overhead, char *err)
{
    struct statvfs vfs;
    int rc;

    if (p->size <= 0)
        return 0;
    rc = reserve(p->s, (uint64_t)p->size);
    if (rc < 0) {
        cf_err_set(err, "%" PRId64 " bytes do not fit in the capacity", p->size);
        return rc;
    }
    p->reserved = (uint64_t)p->size;
    if (fstatvfs(fd, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)p->size + overhead) {
        cf_err_set(err, "the filesystem has too little free space");
        return CF_ENOSPC;
    }
    return 0;
}

/* The rest of cf_store_put_begin for an object bound for a volume. */
static int small_begin(struct cf_store_put *p, char *err)
{
    struct cf_store *s = p->s;
    int rc;

    rc = cf__vol_taken(s->vol, p->bucket, p->name) ? 1 : plain_exists(s, p->bucket, p->name);
    if (rc == 1) {
        cf_err_set(err, "the path is taken; objects are immutable");
        return CF_EEXIST;
    }
    if (rc < 0) {
        cf_err_set(err, "cannot look for the object's file");
        return rc;
    }
    rc = claim_space(p, s->objfd, CF__VOL_HEAD, err);
    if (rc < 0)
        return rc;
    p->small = true;
    p->head = CF__VOL_HEAD + strlen(p->name);
    p->rec = cf_xmalloc(p->head + (p->size >= 0 ? (size_t)p->size : (size_t)s->small_max));
    return 0;
}

/* cf_store_put_commit for an object bound for a volume, from the point
 * where its bytes and checksum are checked. */
static int small_commit(struct cf_store_put *p, const uint8_t sha[CF_SHA512_LEN], char *err)
{
    struct cf_store *s = p->s;
    pthread_mutex_t *stripe = &s->stripe[p->bucket % STRIPES];
    int rc;

    /* The name is checked against plain files and claimed in the volume
     * index under the bucket's lock, as a plain commit renames under it. */
    pthread_mutex_lock(stripe);
    rc = plain_exists(s, p->bucket, p->name);
    if (rc == 0)
        rc = cf__vol_claim(s->vol, p->bucket, p->name);
    pthread_mutex_unlock(stripe);
    if (rc == 1 || rc == CF_EEXIST) {
        cf_err_set(err, "the path was taken while uploading");
        return CF_EEXIST;
    }
    if (rc < 0)
        return rc;
    rc = cf__vol_put(s->vol, p->bucket, p->name, p->rec, p->written, sha, cf_wall_ms());
    if (rc < 0) {
        if (rc == CF_EIO)
            count_io_error(s);
        cf_err_set(err, "the volume write failed");
        return rc;
    }
    count_committed(s, p);
    return 0;
}

/* The rest of cf_store_put_begin for an object that becomes a plain file:
 * its directory, the name check, the reservation of a declared size and
 * the temporary. Also used when an upload of unknown size outgrows
 * small_max. On failure the caller aborts p. */
static int plain_open(struct cf_store_put *p, char *err)
{
    struct cf_store *s = p->s;
    struct stat st;
    uint8_t rnd[8];
    int rc;

    if (cf__vol_taken(s->vol, p->bucket, p->name)) {
        cf_err_set(err, "the path is taken; objects are immutable");
        rc = CF_EEXIST;
        return rc;
    }
    rc = open_bucket(s, p->bucket, true, &p->bdirfd);
    if (rc < 0) {
        cf_err_set(err, "cannot open the object's directory");
        return rc;
    }
    if (fstatat(p->bdirfd, p->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        cf_err_set(err, "the path is taken; objects are immutable");
        rc = CF_EEXIST;
        return rc;
    }
    rc = claim_space(p, p->bdirfd, 0, err);
    if (rc < 0)
        return rc;
    for (int tries = 0;; tries++) {
        int e;
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
            cf_log_errno(CF_LOG_ERROR, errno, "getrandom failed");
            rc = CF_EINTERNAL;
            return rc;
        }
        (void)snprintf(p->tmp, sizeof(p->tmp), TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x",
                       rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        p->fd = s->io->openat(p->bdirfd, p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (p->fd >= 0)
            break;
        e = errno;
        if (e == EEXIST && tries < 8)
            continue;
        p->tmp[0] = '\0';
        cf_log_errno(CF_LOG_ERROR, e, "create a temporary in \"%s\" failed", s->dir);
        if (e != ENOSPC)
            count_io_error(s);
        rc = cf_err_from_errno(e);
        return rc;
    }
    p->buf_cap = CF_FILER_WRITE_BUF;
    if (p->size >= 0 && (uint64_t)p->size < p->buf_cap)
        p->buf_cap = p->size > 0 ? (size_t)p->size : 1;
    p->buf = cf_xmalloc(p->buf_cap);
    return 0;
}

int cf_store_put_begin(struct cf_store *s, const char *path, size_t len, int64_t size,
                       const uint8_t *expect, struct cf_store_put **out, char *err)
{
    struct cf_store_put *p = NULL;
    int rc;

    rc = cf_objpath_validate(path, len, err);
    if (rc < 0)
        goto out;
    if (s->read_only) {
        cf_err_set(err, "filer %" PRIu32 " is read-only", s->id);
        rc = CF_EREADONLY;
        goto out;
    }
    p = cf_xcalloc(1, sizeof(*p));
    p->s = s;
    p->bdirfd = p->fd = -1;
    p->size = size;
    rc = locate(path, len, &p->bucket, p->name);
    if (rc < 0)
        goto out;
    if (expect != NULL) {
        p->has_expect = true;
        memcpy(p->expect, expect, CF_SHA512_LEN);
    }
    rc = cf_sha512_init(&p->sha);
    if (rc < 0)
        goto out;
    /* Of an unknown size, an upload starts in memory and becomes a plain
     * file if it outgrows small_max. */
    if (s->small_max > 0 && (size < 0 || (uint64_t)size <= s->small_max)) {
        rc = small_begin(p, err);
        if (rc < 0)
            goto out;
        *out = p;
        p = NULL;
        goto out;
    }
    rc = plain_open(p, err);
    if (rc < 0)
        goto out;
    *out = p;
    p = NULL;
out:
    cf_store_put_abort(p);
    return rc;
}

/* Write all N bytes at D to the upload's temporary, retrying on EINTR.
 * A full disk (ENOSPC, EDQUOT) is not logged nor counted as an I/O error:
 * it is the caller's to report. */
static int write_tmp(struct cf_store_put *p, const void *data, size_t n)
{
    const uint8_t *d = data;
    size_t off = 0;

    while (off < n) {
        ssize_t w = p->s->io->write(p->fd, d + off, n - off);
        if (w < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e != ENOSPC && e != EDQUOT) {
                cf_log_errno(CF_LOG_ERROR, e, "write to a temporary in \"%s\" failed", p->s->dir);
                count_io_error(p->s);
            }
            return cf_err_from_errno(e);
        }
        off += (size_t)w;
    }
    return 0;
}

/* Write the buffered bytes to the temporary. */
static int flush(struct cf_store_put *p)
{
    int rc = write_tmp(p, p->buf, p->buf_len);

    if (rc < 0)
        return rc;
    p->buf_len = 0;
    return 0;
}

/* An upload of unknown size outgrew small_max: it becomes a plain file,
 * and what it gathered so far goes to its temporary. */
static int spill(struct cf_store_put *p)
{
    int rc = plain_open(p, NULL);

    if (rc < 0)
        return rc;
    rc = write_tmp(p, p->rec + p->head, (size_t)p->written);
    if (rc < 0)
        return rc;
    free(p->rec);
    p->rec = NULL;
    p->small = false;
    return 0;
}

int cf_store_put_write(struct cf_store_put *p, const void *data, size_t n)
{
    const char *d = data;
    uint64_t written_then;
    int rc;

    if (p->err < 0)
        return p->err;
    if (p->size >= 0 && n > (uint64_t)p->size - p->written) {
        rc = CF_EBADREQ;
        goto fail;
    }
    if (p->size < 0) {
        rc = reserve(p->s, n);
        if (rc < 0)
            goto fail;
        p->reserved += n;
    }
    rc = cf_sha512_update(&p->sha, data, n);
    if (rc < 0)
        goto fail;
    if (p->small) {
        if (p->size >= 0 || n <= p->s->small_max - p->written) {
            memcpy(p->rec + p->head + p->written, data, n);
            p->written += n;
            atomic_fetch_add(&p->s->bytes_in, n);
            return 0;
        }
        rc = spill(p);
        if (rc < 0)
            goto fail;
    }
    written_then = p->written;
    while (n > 0) {
        size_t take = p->buf_cap - p->buf_len;
        if (take > n)
            take = n;
        memcpy(p->buf + p->buf_len, d, take);
        p->buf_len += take;
        d += take;
        n -= take;
        p->written += take;
        if (p->buf_len == p->buf_cap) {
            rc = flush(p);
            if (rc < 0)
                goto fail;
        }
    }
    atomic_fetch_add(&p->s->bytes_in, p->written - written_then);
    if (p->written - p->synced >= WRITEBACK_STEP) {
        /* A hint only: the fsync at commit reports any failure. */
        (void)sync_file_range(p->fd, (off64_t)p->synced, (off64_t)(p->written - p->synced),
                              SYNC_FILE_RANGE_WRITE);
        p->synced = p->written;
    }
    return 0;
fail:
    p->err = rc;
    return rc;
}

int cf_store_put_expect(struct cf_store_put *p, const uint8_t sha[CF_SHA512_LEN])
{
    if (p->has_expect && memcmp(p->expect, sha, CF_SHA512_LEN) != 0)
        return CF_ECHECKSUM;
    p->has_expect = true;
    memcpy(p->expect, sha, CF_SHA512_LEN);
    return 0;
}

/* Undo a commit whose directory fsync failed: the name must not survive. */
static void unpublish(struct cf_store_put *p)
{
    if (p->s->io->unlinkat(p->bdirfd, p->name, 0) < 0)
        cf_log_errno(CF_LOG_ERROR, errno, "unlink of unacknowledged object \"%s\" failed", p->name);
}

int cf_store_put_commit(struct cf_store_put *p, uint8_t sha[CF_SHA512_LEN], uint64_t *size_out,
                        char *err)
{
    struct cf_store *s = p->s;
    const struct cf_io_ops *io = s->io;
    uint8_t got[CF_SHA512_LEN];
    pthread_mutex_t *stripe = &s->stripe[p->bucket % STRIPES];
    int rc = p->err, e;

    if (rc < 0)
        goto out;
    if (!p->small) {
        rc = flush(p);
        if (rc < 0)
            goto out;
    }
    if (p->size >= 0 && p->written != (uint64_t)p->size) {
        cf_err_set(err, "body ended after %" PRIu64 " of %" PRId64 " bytes", p->written, p->size);
        rc = CF_EBADREQ;
        goto out;
    }
    rc = cf_sha512_final(&p->sha, got);
    if (rc < 0)
        goto out;
    if (p->has_expect && memcmp(got, p->expect, CF_SHA512_LEN) != 0) {
        char hex[CF_SHA512_HEX_LEN + 1];
        cf_sha512_hex(got, hex);
        cf_err_set(err, "the body's SHA-512 is %.32s...", hex);
        rc = CF_ECHECKSUM;
        goto out;
    }
    if (p->small) {
        rc = small_commit(p, got, err);
        if (rc < 0)
            goto out;
        goto done;
    }
    if (io->fsetxattr(p->fd, SHA_XATTR, got, sizeof(got), 0) < 0 && errno != ENOTSUP) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "setxattr on a temporary in \"%s\" failed", s->dir);
        if (e != ENOSPC)
            count_io_error(s);
        rc = cf_err_from_errno(e);
        goto out;
    }
    /* DESIGN §4: the bytes are on stable storage before the name appears. */
    if (io->fsync(p->fd) < 0) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "fsync of a temporary in \"%s\" failed", s->dir);
        count_io_error(s);
        rc = cf_err_from_errno(e) == CF_ENOSPC ? CF_ENOSPC : CF_EIO;
        goto out;
    }
    e = io->close(p->fd);
    p->fd = -1;
    if (e < 0) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "close of a temporary in \"%s\" failed", s->dir);
        count_io_error(s);
        rc = CF_EIO;
        goto out;
    }
    pthread_mutex_lock(stripe);
    if (cf__vol_taken(s->vol, p->bucket, p->name)) {
        pthread_mutex_unlock(stripe);
        cf_err_set(err, "the path was taken while uploading");
        rc = CF_EEXIST;
        goto out;
    }
    /* Never replace: an object that appeared meanwhile wins (immutability). */
    if (io->renameat2(p->bdirfd, p->tmp, p->bdirfd, p->name, RENAME_NOREPLACE) < 0) {
        e = errno;
        pthread_mutex_unlock(stripe);
        if (e == EEXIST) {
            cf_err_set(err, "the path was taken while uploading");
            rc = CF_EEXIST;
        } else {
            cf_log_errno(CF_LOG_ERROR, e, "rename to \"%s\" failed", p->name);
            count_io_error(s);
            rc = CF_EIO;
        }
        goto out;
    }
    p->tmp[0] = '\0';
    /* DESIGN §4: acknowledge only after the directory entry is durable. */
    if (io->fsync(p->bdirfd) < 0) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "fsync of the directory of \"%s\" failed", p->name);
        count_io_error(s);
        unpublish(p);
        pthread_mutex_unlock(stripe);
        rc = CF_EIO;
        goto out;
    }
    count_committed(s, p);
    pthread_mutex_unlock(stripe);
done:
    if (sha != NULL)
        memcpy(sha, got, CF_SHA512_LEN);
    if (size_out != NULL)
        *size_out = p->written;
out:
    cf_store_put_abort(p);
    return rc;
}

void cf_store_put_abort(struct cf_store_put *p)
{
    if (p == NULL)
        return;
    if (p->fd >= 0)
        (void)p->s->io->close(p->fd);
    if (p->tmp[0] != '\0' && p->s->io->unlinkat(p->bdirfd, p->tmp, 0) < 0)
        cf_log_errno(CF_LOG_ERROR, errno, "unlink of temporary \"%s\" failed", p->tmp);
    if (p->reserved > 0)
        unreserve(p->s, p->reserved);
    if (p->bdirfd >= 0)
        close(p->bdirfd);
    cf_sha512_fini(&p->sha);
    free(p->buf);
    free(p->rec);
    free(p);
}

/* ---- reads, deletes, listings ---- */

/* cf_store_get, or with shared cf_store_get_shared. */
static int store_get(struct cf_store *s, const char *path, size_t len, bool shared,
                     struct cf_store_obj *out)
{
    char rel[CF_OBJPATH_REL_MAX], name[CF_PATH_MAX + 1];
    struct cf_vol_obj vo;
    struct stat st;
    uint32_t b;
    ssize_t n;
    int fd, e;

    if (cf_objpath_relpath(path, len, rel, sizeof(rel)) < 0)
        return CF_EBADPATH;
    out->shared = false;
    if (locate(path, len, &b, name) == 0 && cf__vol_lookup(s->vol, b, name, &vo) == 0) {
        bool owned = true;
        fd = shared ? cf__vol_read_fd(s->vol, vo.vol, &owned) : cf__vol_open_read(s->vol, vo.vol);
        if (fd < 0) {
            count_io_error(s);
            return CF_EIO;
        }
        out->fd = fd;
        out->shared = !owned;
        out->offset = vo.off;
        out->size = vo.size;
        out->has_sha = true;
        memcpy(out->sha, vo.sha, CF_SHA512_LEN);
        return 0;
    }
    fd = s->io->openat(s->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0) {
        e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return CF_ENOTFOUND;
        cf_log_errno(CF_LOG_ERROR, e, "open \"%s/%s\" failed", s->dir, rel);
        count_io_error(s);
        return CF_EIO;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "fstat \"%s/%s\" failed or not a file", s->dir, rel);
        count_io_error(s);
        close(fd);
        return CF_EIO;
    }
    out->fd = fd;
    out->offset = 0;
    out->size = (uint64_t)st.st_size;
    n = fgetxattr(fd, SHA_XATTR, out->sha, sizeof(out->sha));
    out->has_sha = n == (ssize_t)sizeof(out->sha);
    return 0;
}

int cf_store_get(struct cf_store *s, const char *path, size_t len, struct cf_store_obj *out)
{
    return store_get(s, path, len, false, out);
}

int cf_store_get_shared(struct cf_store *s, const char *path, size_t len, struct cf_store_obj *out)
{
    return store_get(s, path, len, true, out);
}

int cf_store_delete(struct cf_store *s, const char *path, size_t len)
{
    char name[CF_PATH_MAX + 1];
    pthread_mutex_t *stripe;
    struct stat st;
    uint32_t b;
    int bfd = -1, rc, e;

    rc = locate(path, len, &b, name);
    if (rc < 0)
        return rc;
    {
        uint64_t size = 0;
        rc = cf__vol_delete(s->vol, b, name, &size);
        if (rc == 0) {
            pthread_mutex_lock(&s->mu);
            s->used -= size;
            s->objects--;
            pthread_mutex_unlock(&s->mu);
            return 0;
        }
        if (rc != CF_ENOTFOUND) {
            if (rc == CF_EIO)
                count_io_error(s);
            return rc;
        }
    }
    rc = open_bucket(s, b, false, &bfd);
    if (rc < 0)
        return rc;
    stripe = &s->stripe[b % STRIPES];
    pthread_mutex_lock(stripe);
    if (fstatat(bfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        e = errno;
        rc = e == ENOENT ? CF_ENOTFOUND : CF_EIO;
        if (rc == CF_EIO) {
            cf_log_errno(CF_LOG_ERROR, e, "stat of \"%s\" failed", name);
            count_io_error(s);
        }
        goto unlock;
    }
    if (s->io->unlinkat(bfd, name, 0) < 0) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "unlink of \"%s\" failed", name);
        count_io_error(s);
        rc = cf_err_from_errno(e);
        goto unlock;
    }
    pthread_mutex_lock(&s->mu);
    s->used -= (uint64_t)st.st_size;
    s->objects--;
    pthread_mutex_unlock(&s->mu);
    /* A purged replica must not come back after a crash. */
    if (s->io->fsync(bfd) < 0) {
        cf_log_errno(CF_LOG_ERROR, errno, "fsync of the directory of \"%s\" failed", name);
        count_io_error(s);
        rc = CF_EIO;
    }
unlock:
    pthread_mutex_unlock(stripe);
    close(bfd);
    return rc;
}

struct litem {
    char *name;
    bool vol; /* a volume object: size and mtime known */
    uint64_t size, mtime_ms;
};

static int cmp_litem(const void *a, const void *b)
{
    return strcmp(((const struct litem *)a)->name, ((const struct litem *)b)->name);
}

/* List one bucket's objects (plain files under l1fd/l2, where l1fd may be
 * -1 when the level is missing, and volume objects) whose name sorts after
 * `bound` (may be NULL). */
static int list_bucket(struct cf_store *s, int l1fd, uint32_t b, const char *bound, size_t *left,
                       cf_store_list_cb cb, void *ctx)
{
    DIR *d = NULL;
    struct dirent *de;
    struct litem *items = NULL;
    struct cf_vol_item *vi = NULL;
    size_t n = 0, cap = 0, nv;
    char l2[16];
    int rc = 0;

    (void)snprintf(l2, sizeof(l2), "%02x", (unsigned)(b & 0xff));
    if (l1fd >= 0) {
        d = dir_open_at(l1fd, l2);
        if (d == NULL && errno != ENOENT) {
            cf_log_errno(CF_LOG_ERROR, errno, "open bucket \"%s\" failed", l2);
            count_io_error(s);
            return CF_EIO;
        }
    }
    for (; d != NULL;) {
        de = readdir(d);
        if (de == NULL)
            break;
        if (de->d_name[0] == '.')
            continue;
        if (bound != NULL && strcmp(de->d_name, bound) <= 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            items = cf_xrealloc(items, cap * sizeof(*items));
        }
        items[n++] = (struct litem){.name = cf_xstrdup(de->d_name)};
    }
    nv = cf__vol_bucket_items(s->vol, b, bound, &vi);
    for (size_t i = 0; i < nv; i++) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            items = cf_xrealloc(items, cap * sizeof(*items));
        }
        items[n++] = (struct litem){
            .name = vi[i].name, .vol = true, .size = vi[i].size, .mtime_ms = vi[i].mtime_ms};
        vi[i].name = NULL;
    }
    cf__vol_items_free(vi, nv);
    if (n > 1)
        qsort(items, n, sizeof(*items), cmp_litem);
    for (size_t i = 0; i<n && * left> 0 && rc == 0; i++) {
        char path[CF_PATH_MAX + 1];
        struct stat st;
        if (cf_objpath_from_name(items[i].name, strlen(items[i].name), path, sizeof(path)) < 0)
            continue;
        if (!items[i].vol) {
            if (fstatat(dirfd(d), items[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                !S_ISREG(st.st_mode))
                continue; /* deleted meanwhile */
            items[i].size = (uint64_t)st.st_size;
            items[i].mtime_ms =
                (uint64_t)st.st_mtim.tv_sec * 1000u + (uint64_t)st.st_mtim.tv_nsec / 1000000u;
        }
        rc = cb(ctx, path, items[i].size, items[i].mtime_ms);
        (*left)--;
    }
    for (size_t i = 0; i < n; i++)
        free(items[i].name);
    free(items);
    if (d != NULL)
        closedir(d);
    return rc;
}

int cf_store_list(struct cf_store *s, const char *after, size_t limit, cf_store_list_cb cb,
                  void *ctx)
{
    char bound[CF_PATH_MAX + 1];
    uint32_t start = 0;
    size_t left = limit;
    int rc = 0;

    if (after != NULL && after[0] != '\0') {
        size_t len = strlen(after);
        rc = locate(after, len, &start, bound);
        if (rc < 0)
            return rc;
    }
    for (uint32_t hi = start >> 8; hi < 256 && left > 0 && rc == 0; hi++) {
        char l1[16];
        bool present[256] = {false};
        DIR *d = NULL;
        struct dirent *de;

        (void)snprintf(l1, sizeof(l1), "%02x", (unsigned)hi);
        d = dir_open_at(s->objfd, l1);
        if (d == NULL && errno != ENOENT) {
            cf_log_errno(CF_LOG_ERROR, errno, "open \"%s/objects/%s\" failed", s->dir, l1);
            count_io_error(s);
            return CF_EIO;
        }
        for (; d != NULL;) {
            de = readdir(d);
            if (de == NULL)
                break;
            if (is_hex2(de->d_name))
                present[strtoul(de->d_name, NULL, 16)] = true;
        }
        for (uint32_t lo = 0; lo < 256 && left > 0 && rc == 0; lo++) {
            uint32_t b = hi << 8 | lo;
            if (b < start || !(present[lo] || cf__vol_bucket_used(s->vol, b)))
                continue;
            rc = list_bucket(s, d != NULL ? dirfd(d) : -1, b,
                             b == start && after && after[0] ? bound : NULL, &left, cb, ctx);
        }
        if (d != NULL)
            closedir(d);
    }
    if (rc != 0)
        return rc;
    return (int)(limit - left);
}

void cf_store_get_stats(struct cf_store *s, struct cf_store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    out->used_bytes = s->used;
    out->reserved_bytes = s->reserved;
    out->objects = s->objects;
    pthread_mutex_unlock(&s->mu);
    out->total_bytes = s->capacity;
    out->bytes_in = atomic_load(&s->bytes_in);
    out->bytes_out = atomic_load(&s->bytes_out);
    out->io_errors = atomic_load(&s->io_errors);
    out->temps_removed = s->temps_removed;
    out->read_only = s->read_only;
}

void cf_store_count_out(struct cf_store *s, uint64_t n)
{
    atomic_fetch_add(&s->bytes_out, n);
}
