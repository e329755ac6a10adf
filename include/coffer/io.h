/*
 * io.h -- the thin I/O seam under the filer's store (STYLE 2.8), and the
 * one durable way to write a small file whole.
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

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "coffer/common.h"

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

/* Make path (borrowed) hold exactly data[0..len) (borrowed), durably
 * (DESIGN §4, STYLE 2.11): a unique temporary beside it (O_EXCL, then
 * `mode`), written whole, fsync'ed, then renamed over path (replace true)
 * or linked to it (replace false: an existing path is never touched), and
 * the directory fsync'ed. For key files, tokens, identity stamps: small
 * files that must be whole or absent after a crash. Returns 0; CF_EEXIST
 * (replace false and path exists); or cf_err_from_errno's code, with err
 * (may be NULL) naming the call and the path. Logs nothing: the caller
 * logs err, or prints it (the CLI). The temporary never remains. Threads:
 * safe. */
CF_MUST_CHECK int cf_io_write_file(const char *path, const void *data, size_t len, mode_t mode,
                                   bool replace, char *err);

/* rename(from, to) (both borrowed) and fsync the directory of `to`, so the
 * new name survives a crash. Returns 0 or the errno value of the call that
 * failed. */
int cf_io_rename_durable(const char *from, const char *to);

#endif
