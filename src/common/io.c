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

#include "coffer/err.h"
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
