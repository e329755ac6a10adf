/*
 * log.c -- one-line events on stderr (log.h).
 */
#include "coffer/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/err.h"

int cf_log_level_cur = CF_LOG_INFO;
static const char *log_role = "coffer";

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void cf_log_init(const char *role, enum cf_log_level level)
{
    log_role = role;
    cf_log_level_cur = (int)level;
}

int cf_log_level_parse(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    for (size_t i = 0; i < CF_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return CF_EINVAL;
}

/* errno names for the values a storage node meets; strerror covers the rest. */
static const char *errno_name(int e)
{
    static const struct {
        int e;
        const char *name;
    } names[] = {
        {ENOENT, "ENOENT"},
        {EIO, "EIO"},
        {ENOSPC, "ENOSPC"},
        {EDQUOT, "EDQUOT"},
        {EEXIST, "EEXIST"},
        {EACCES, "EACCES"},
        {EPERM, "EPERM"},
        {EROFS, "EROFS"},
        {ENOMEM, "ENOMEM"},
        {EINVAL, "EINVAL"},
        {EBADF, "EBADF"},
        {EAGAIN, "EAGAIN"},
        {EINTR, "EINTR"},
        {EPIPE, "EPIPE"},
        {ECONNRESET, "ECONNRESET"},
        {ECONNREFUSED, "ECONNREFUSED"},
        {ETIMEDOUT, "ETIMEDOUT"},
        {EADDRINUSE, "EADDRINUSE"},
        {ENAMETOOLONG, "ENAMETOOLONG"},
        {ENOTDIR, "ENOTDIR"},
        {EISDIR, "EISDIR"},
        {EMFILE, "EMFILE"},
        {ENFILE, "ENFILE"},
        {EFBIG, "EFBIG"},
        {ENOTEMPTY, "ENOTEMPTY"},
        {EXDEV, "EXDEV"},
        {ENOTSUP, "ENOTSUP"},
    };

    for (size_t i = 0; i < CF_ARRAY_LEN(names); i++)
        if (names[i].e == e)
            return names[i].name;
    return "E?";
}

void cf_log_write(enum cf_log_level level, int err, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    r = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%ld] ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, level_names[level & 3], log_role, (long)getpid());
    n = r > 0 ? (size_t)r : 0;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (r > 0)
        n += (size_t)r;
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2; /* the message was cut; keep the newline */
    if (err != 0) {
        r = snprintf(line + n, sizeof(line) - n, ": %s (%s)", strerror(err), errno_name(err));
        if (r > 0)
            n += (size_t)r;
        if (n >= sizeof(line) - 1)
            n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    /* One write keeps lines from concurrent threads whole. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

/* Log lines escape quotes, backslashes and non-ASCII too (a line stays one
 * parseable ASCII record); terminal text only the control bytes. */
static bool needs_escape(unsigned char c, bool term)
{
    if (term)
        return c < 0x20 || c == 0x7f;
    return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

static char *escape(char *out, size_t cap, const char *s, bool term)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, full = 0, room;

    if (cap == 0)
        return out;
    /* Keep room for "..." only when the escaped string cannot fit whole;
     * stop measuring as soon as that is known. */
    for (const char *t = s; *t != '\0' && full < cap; t++)
        full += needs_escape((unsigned char)*t, term) ? 4 : 1;
    if (full < cap)
        room = cap - 1;
    else
        room = cap >= 4 ? cap - 4 : 0;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        size_t need = needs_escape(c, term) ? 4 : 1;
        if (o + need > room)
            break;
        if (need == 4) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    if (full >= cap && cap >= 4) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

char *cf_log_escape(char *out, size_t cap, const char *s)
{
    return escape(out, cap, s, false);
}

char *cf_term_escape(char *out, size_t cap, const char *s)
{
    return escape(out, cap, s, true);
}
