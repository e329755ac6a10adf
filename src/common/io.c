/*
 * io.c -- the default I/O table (the real system calls) and durable
 * small-file writes (io.h).
 */
#include "coffer/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include "coffer/err.h"
#include "coffer/log.h"
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int io_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return openat(dirfd, path, flags, mode);
}

static int io_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                        unsigned int flags)
{
    return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

const struct cf_io_ops cf_io_default = {
    .openat = io_openat,
    .write = write,
    .fsync = fsync,
    .renameat2 = io_renameat2,
    .unlinkat = unlinkat,
    .mkdirat = mkdirat,
    .fsetxattr = fsetxattr,
    .close = close,
};

/* The directory part of path into out ("." for a bare name). Returns 0 or
 * -1 if it does not fit. */
static int dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    int n;

    if (slash == NULL)
        n = snprintf(out, cap, ".");
    else if (slash == path)
        n = snprintf(out, cap, "/");
    else
        n = snprintf(out, cap, "%.*s", (int)(slash - path), path);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;

    if (fd < 0)
        return errno;
    if (fsync(fd) != 0)
        e = errno;
    close(fd);
    return e;
}

int cf_io_rename_durable(const char *from, const char *to)
{
    char dir[4096];

    if (dir_of(to, dir, sizeof(dir)) < 0)
        return ENAMETOOLONG;
    if (rename(from, to) != 0)
        return errno;
    return fsync_dir(dir);
}

int cf_io_write_file(const char *path, const void *data, size_t len, mode_t mode, bool replace,
                     char *err)
{
    char tmp[4096], dir[4096];
    const char *what = "mkstemp", *p = data;
    size_t off = 0;
    int fd = -1, e = 0, n;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp) || dir_of(path, dir, sizeof(dir)) < 0) {
        cf_err_set(err, "the path \"%s\" is too long", path);
        return CF_EINVAL;
    }
    fd = mkstemp(tmp); /* O_EXCL, mode 0600 */
    if (fd < 0) {
        e = errno;
        tmp[0] = '\0';
        goto out;
    }
    what = "fchmod";
    if (fchmod(fd, mode) != 0) {
        e = errno;
        goto out;
    }
    what = "write";
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            e = errno;
            goto out;
        }
        off += (size_t)w;
    }
    what = "fsync";
    if (fsync(fd) != 0) {
        e = errno;
        goto out;
    }
    /* link, unlike rename, fails if path exists. */
    what = replace ? "rename" : "link";
    n = replace ? rename(tmp, path) : link(tmp, path);
    if (n != 0) {
        e = errno;
        goto out;
    }
    if (replace)
        tmp[0] = '\0';
    what = "fsync of the directory of";
    e = fsync_dir(dir);
out:
    if (e != 0)
        cf_err_set(err, "%s \"%s\" failed: %s", what, path, strerror(e));
    if (fd >= 0)
        close(fd);
    if (tmp[0] != '\0')
        (void)unlink(tmp);
    return e == 0 ? 0 : cf_err_from_errno(e);
}

int cf_io_tighten_at(int dirfd, const char *name, const char *shown)
{
    struct stat st;
    mode_t mode;
    int e;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        e = errno;
        if (e == ENOENT)
            return 0;
        cf_log_errno(CF_LOG_ERROR, e, "stat \"%s\" failed", shown);
        return cf_err_from_errno(e);
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return 0;
    if ((st.st_mode & 077) == 0)
        return 0;
    if (st.st_uid != geteuid()) {
        cf_log(CF_LOG_WARN, "\"%s\" belongs to uid %u and has mode %04o; left as it is", shown,
               (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        return 0;
    }
    mode = st.st_mode & 07700;
    if (fchmodat(dirfd, name, mode, 0) != 0) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "chmod \"%s\" failed", shown);
        return cf_err_from_errno(e);
    }
    cf_log(CF_LOG_WARN, "\"%s\" had mode %04o; now %04o (readable by its owner only)", shown,
           (unsigned)(st.st_mode & 07777), (unsigned)mode);
    return 1;
}

/* mkdir -p with mode 0700 for what is missing. Returns 0 or an errno value. */
static int mkdir_parents(const char *dir)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s", dir);

    if (n < 0 || (size_t)n >= sizeof(path))
        return ENAMETOOLONG;
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return errno;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

int cf_io_private_dir(const char *dir, bool entries, char *err)
{
    char shown[4096];
    struct stat st;
    DIR *d = NULL;
    int fd = -1, rc = 0, e;

    e = mkdir_parents(dir);
    if (e != 0) {
        cf_err_set(err, "mkdir \"%s\": %s", dir, strerror(e));
        return cf_err_from_errno(e);
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        e = errno;
        cf_err_set(err, "open \"%s\": %s", dir, strerror(e));
        rc = cf_err_from_errno(e);
        goto out;
    }
    /* Another user's directory is theirs to secure: refuse rather than
     * store objects or keys where that user can read or replace them. */
    if (st.st_uid != geteuid()) {
        cf_err_set(err, "\"%s\" belongs to uid %u, not to this user (uid %u); refusing to use it",
                   dir, (unsigned)st.st_uid, (unsigned)geteuid());
        rc = CF_EPERM;
        goto out;
    }
    rc = cf_io_tighten_at(AT_FDCWD, dir, dir);
    if (rc < 0) {
        cf_err_set(err, "cannot make \"%s\" private (see the log)", dir);
        goto out;
    }
    rc = 0;
    if (!entries)
        goto out;
    d = fdopendir(fd);
    if (d == NULL) {
        e = errno;
        cf_err_set(err, "opendir \"%s\": %s", dir, strerror(e));
        rc = cf_err_from_errno(e);
        goto out;
    }
    fd = -1; /* d owns it now */
    for (;;) {
        struct dirent *de;

        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        (void)snprintf(shown, sizeof(shown), "%s/%s", dir, de->d_name);
        rc = cf_io_tighten_at(dirfd(d), de->d_name, shown);
        if (rc < 0) {
            cf_err_set(err, "cannot make \"%s\" private (see the log)", shown);
            goto out;
        }
        rc = 0;
    }
    if (errno != 0) {
        e = errno;
        cf_err_set(err, "readdir \"%s\": %s", dir, strerror(e));
        rc = cf_err_from_errno(e);
    }
out:
    if (d != NULL)
        closedir(d);
    if (fd >= 0)
        close(fd);
    return rc;
}

int cf_io_private_file(const char *path, const char *const *suffixes, char *err)
{
    char sib[4096];
    int rc;

    /* By path only: opening and closing a database file this process already
     * has open would drop SQLite's POSIX locks on it. */
    rc = cf_io_tighten_at(AT_FDCWD, path, path);
    for (size_t i = 0; rc >= 0 && suffixes != NULL && suffixes[i] != NULL; i++) {
        int n = snprintf(sib, sizeof(sib), "%s%s", path, suffixes[i]);
        if (n < 0 || (size_t)n >= sizeof(sib)) {
            cf_err_set(err, "the path \"%s%s\" is too long", path, suffixes[i]);
            return CF_EINVAL;
        }
        rc = cf_io_tighten_at(AT_FDCWD, sib, sib);
    }
    if (rc < 0) {
        cf_err_set(err, "cannot make \"%s\" private (see the log)", path);
        return rc;
    }
    return 0;
}

int cf_io_read_key_file(const char *path, bool secret, char *buf, size_t cap, size_t *len,
                        char *err)
{
    struct stat st;
    size_t n = 0;
    int fd = -1, rc = 0;

    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) {
        int e = errno;
        rc = cf_err_from_errno(e);
        cf_err_set(err, "open \"%s\" failed: %s", path, strerror(e));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        rc = cf_err_from_errno(e);
        cf_err_set(err, "fstat \"%s\" failed: %s", path, strerror(e));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = CF_EINVAL;
        cf_err_set(err, "key file \"%s\" is not a regular file", path);
        goto out;
    }
    if (secret && st.st_uid != geteuid()) {
        rc = CF_EPERM;
        cf_err_set(err, "key file \"%s\" belongs to uid %u, not to this user (uid %u)", path,
                   (unsigned)st.st_uid, (unsigned)geteuid());
        goto out;
    }
    if (!secret && st.st_uid != geteuid() && st.st_uid != 0) {
        rc = CF_EPERM;
        cf_err_set(err, "key file \"%s\" belongs to uid %u, neither this user nor root", path,
                   (unsigned)st.st_uid);
        goto out;
    }
    if ((st.st_mode & (secret ? 077u : 022u)) != 0) {
        rc = CF_EPERM;
        cf_err_set(err, "key file \"%s\" has mode %03o; it must be %s", path,
                   (unsigned)(st.st_mode & 0777),
                   secret ? "0600 or stricter" : "writable by its owner only");
        goto out;
    }
    /* Read up to cap bytes: the cap-th tells an over-long file. */
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            rc = cf_err_from_errno(e);
            cf_err_set(err, "read \"%s\" failed: %s", path, strerror(e));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            rc = CF_EINVAL;
            cf_err_set(err, "key file \"%s\" is over %zu bytes", path, cap - 1);
            goto out;
        }
    }
    buf[n] = '\0';
    *len = n;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
