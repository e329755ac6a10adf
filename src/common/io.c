/*
 * io.c -- the default I/O table: the real system calls (io.h).
 */
#include "coffer/io.h"

#include <fcntl.h>
#include <stdio.h>
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
