/*
 * err.h -- the one error space of coffer.
 *
 * Role: every fallible function returns 0 (or a non-negative count) on
 * success and a negative CF_E* code on failure. The code's HTTP status and
 * its message live here and nowhere else.
 * Threads: all functions are thread-safe and never allocate.
 */
#ifndef COFFER_ERR_H
#define COFFER_ERR_H

#include "coffer/common.h"

/* XX(name, http status, message) */
#define CF_ERR_MAP(XX)                                                                             \
    XX(EINVAL, 400, "invalid argument")                                                            \
    XX(EBADREQ, 400, "bad request")                                                                \
    XX(EBADPATH, 400, "invalid object path")                                                       \
    XX(EAUTH, 401, "authentication required")                                                      \
    XX(EPERM, 403, "permission denied")                                                            \
    XX(ENOTFOUND, 404, "not found")                                                                \
    XX(EMETHOD, 405, "method not allowed")                                                         \
    XX(EEXIST, 409, "object already exists")                                                       \
    XX(ELENGTH, 411, "length required")                                                            \
    XX(ETOOLARGE, 413, "too large")                                                                \
    XX(ERANGE, 416, "range not satisfiable")                                                       \
    XX(ECHECKSUM, 422, "checksum mismatch")                                                        \
    XX(EHDRTOOLARGE, 431, "request header fields too large")                                       \
    XX(EINTERNAL, 500, "internal error")                                                           \
    XX(EIO, 500, "input/output error")                                                             \
    XX(EUNAVAIL, 503, "service unavailable")                                                       \
    XX(EREADONLY, 503, "read-only")                                                                \
    XX(ETIMEDOUT, 504, "timed out")                                                                \
    XX(ENOSPC, 507, "insufficient storage")                                                        \
    XX(ENOMEM, 507, "out of memory")                                                               \
    XX(ECORRUPT, 500, "stored data is corrupt")                                                    \
    XX(EBUSY, 503, "resource busy")                                                                \
    XX(ETOOMANY, 429, "too many requests")                                                         \
    XX(ECANCELED, 503, "canceled")                                                                 \
    XX(EINDOUBT, 503, "outcome unknown: the connection broke during commit")

enum cf_err {
    CF_OK = 0,
    CF_ERR_FIRST_ = -1000,
#define XX(name, status, msg) CF_##name,
    CF_ERR_MAP(XX)
#undef XX
        CF_ERR_LAST_
};

/* Length of the optional human-readable error detail buffers
 * (`char err[CF_ERR_LEN]` out-parameters, which may be NULL). */
#define CF_ERR_LEN 256

/* "ENOTFOUND" for CF_ENOTFOUND; "EUNKNOWN" for anything else. Static string. */
const char *cf_err_name(int err);

/* "not found" for CF_ENOTFOUND. Static string. */
const char *cf_strerror(int err);

/* The HTTP status for a code: 200 for CF_OK and non-negative values,
 * 500 for an unknown negative value. */
int cf_err_http_status(int err);

/* Map an errno value to a coffer code (ENOENT -> CF_ENOTFOUND,
 * ENOSPC/EDQUOT -> CF_ENOSPC, EEXIST -> CF_EEXIST, EROFS -> CF_EREADONLY,
 * ENAMETOOLONG -> CF_EBADPATH, the rest -> CF_EIO). */
int cf_err_from_errno(int e);

/* Write a formatted detail into err (may be NULL; truncated to CF_ERR_LEN). */
void cf_err_set(char *err, const char *fmt, ...) CF_PRINTF(2, 3);

#endif
