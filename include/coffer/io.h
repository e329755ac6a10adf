/*
 * io.h -- the thin I/O seam under the filer's store (STYLE 2.8), the one
 * durable way to write a small file whole, and private modes for what
 * coffer keeps on disk.
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

/* Read the small key or secret file path (borrowed) whole into buf (cap
 * bytes; it is NUL-terminated, and *len gets the bytes read) after checking,
 * on the open descriptor, that it is a regular file (opened non-blocking, so
 * a FIFO cannot hang the caller), of the effective user (secret) or of the
 * effective user or root (not secret), and not open to group or others
 * (secret: mode 0600 or stricter) or not writable by them (not secret).
 * Returns 0; CF_EINVAL (not a regular file, or over cap - 1 bytes); CF_EPERM
 * (owner or mode); or cf_err_from_errno's code; err (may be NULL) names the
 * path. buf may hold part of the file after a failure: a caller reading a
 * secret clears it in every case. Logs nothing. Threads: safe. */
CF_MUST_CHECK int cf_io_read_key_file(const char *path, bool secret, char *buf, size_t cap,
                                      size_t *len, char *err);

/* ---- private modes ----
 * Object files, databases, keys and tokens are readable by their owner only:
 * directories 0700, files 0600. New ones are made so; what an older version
 * (or a wide umask) left wider is tightened, with one WARN line each. */

/* Clear the group and other bits of name (borrowed) under dirfd (AT_FDCWD
 * for a path) when it is a file or directory we own that has any; `shown`
 * (borrowed) names it in the log line. Symbolic links and entries of other
 * users are left alone (a WARN line for the latter). Returns 1 if the mode
 * was changed, 0 if it was already private, is absent or is not ours, or
 * cf_err_from_errno's code of a failed fstatat or fchmodat, logged here.
 * Threads: safe. */
CF_MUST_CHECK int cf_io_tighten_at(int dirfd, const char *name, const char *shown);

/* Make dir (borrowed) a private directory: created with mode 0700 when
 * missing (with its parents, 0700 too), refused when it is not a directory
 * or belongs to another user than the effective one, its mode tightened to
 * owner-only otherwise, and, with entries, each entry directly in it (not
 * deeper) tightened as cf_io_tighten_at does. Returns 0; CF_EPERM (another
 * user's, err says whose) or cf_err_from_errno's code, with err (may be
 * NULL) naming the call and the path. Threads: safe. */
CF_MUST_CHECK int cf_io_private_dir(const char *dir, bool entries, char *err);

/* Tighten the file path (borrowed) and its siblings named path + each
 * suffix in suffixes (NULL-terminated, may be NULL; "-wal", "-shm") as
 * cf_io_tighten_at does, by path (no descriptor is opened, so SQLite's
 * POSIX locks on an open database survive); absent ones are skipped. A
 * new file gets its mode from the umask (077 in coffer, main.c). Returns 0,
 * or cf_err_from_errno's code with err (may be NULL) naming the path.
 * Threads: safe. */
CF_MUST_CHECK int cf_io_private_file(const char *path, const char *const *suffixes, char *err);

#endif
