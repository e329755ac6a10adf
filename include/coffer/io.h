/*
 * io.h -- the thin I/O seam under the filer's store (STYLE 2.8).
 *
 * Role: the store makes every syscall that touches object bytes or names
 * through a struct cf_io_ops, so a test can wrap the real calls and inject
 * the failures the OS will not produce on demand (EIO on fsync, ENOSPC on
 * write, a short write). Each member behaves exactly like the syscall it
 * names: it returns -1 with errno set on failure.
 * Threads: the default table is immutable and the calls are thread-safe.
 */
#ifndef COFFER_IO_H
#define COFFER_IO_H

#include <sys/types.h>

struct cf_io_ops {
    int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
    ssize_t (*write)(int fd, const void *buf, size_t n);
    int (*fsync)(int fd);
    int (*renameat2)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                     unsigned int flags);
    int (*unlinkat)(int dirfd, const char *path, int flags);
    int (*mkdirat)(int dirfd, const char *path, mode_t mode);
    int (*fsetxattr)(int fd, const char *name, const void *value, size_t size, int flags);
    int (*close)(int fd);
};

/* The real system calls. */
extern const struct cf_io_ops cf_io_default;

#endif
