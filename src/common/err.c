/*
 * err.c -- names, messages and HTTP statuses of the error space (err.h).
 */
#include "coffer/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

const char *cf_err_name(int err)
{
    switch (err) {
    case CF_OK:
        return "OK";
#define XX(name, status, msg)                                                                      \
    case CF_##name:                                                                                \
        return #name;
        CF_ERR_MAP(XX)
#undef XX
    default:
        return "EUNKNOWN";
    }
}

const char *cf_strerror(int err)
{
    switch (err) {
    case CF_OK:
        return "success";
#define XX(name, status, msg)                                                                      \
    case CF_##name:                                                                                \
        return msg;
        CF_ERR_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

int cf_err_http_status(int err)
{
    if (err >= 0)
        return 200;
    switch (err) {
#define XX(name, status, msg)                                                                      \
    case CF_##name:                                                                                \
        return status;
        CF_ERR_MAP(XX)
#undef XX
    default:
        return 500;
    }
}

int cf_err_from_errno(int e)
{
    switch (e) {
    case ENOENT:
        return CF_ENOTFOUND;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return CF_ENOSPC;
    case EEXIST:
        return CF_EEXIST;
    case EROFS:
        return CF_EREADONLY;
    case ENAMETOOLONG:
        return CF_EBADPATH;
    case ENOMEM:
        return CF_ENOMEM;
    case EACCES:
    case EPERM:
        return CF_EPERM;
    case ETIMEDOUT:
        return CF_ETIMEDOUT;
    default:
        return CF_EIO;
    }
}

void cf_err_set(char *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    /* Truncation of a human-readable detail is acceptable. */
    (void)vsnprintf(err, CF_ERR_LEN, fmt, ap);
    va_end(ap);
}
