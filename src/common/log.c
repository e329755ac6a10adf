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

/* One unit of escaped text: `in` bytes of the input, written as themselves
 * (form 0), as \xHH of the first byte (form 'x'), or as \uHHHH of the
 * code point val (form 'u'); `out` bytes of output. */
struct esc_unit {
    size_t in, out;
    unsigned val;
    char form;
};

/* The length of the valid UTF-8 sequence at s and its code point in *cp,
 * or 0 when s does not start one (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, unsigned *cp)
{
    unsigned c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (s[1] < lo || s[1] > hi)
        return 0;
    *cp = c & (n == 2 ? 0x1fu : n == 3 ? 0x0fu : 0x07u);
    for (size_t i = 1; i < n; i++) {
        if (i > 1 && (s[i] < 0x80 || s[i] > 0xbf))
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3fu);
    }
    return n;
}

/* Code points a terminal acts on rather than shows: the C1 controls
 * (U+0080..U+009F; U+009B is CSI) and the bidirectional overrides and
 * isolates (U+202A..U+202E, U+2066..U+2069), which reorder what follows. */
static bool cp_is_control(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

static struct esc_unit next_unit(const char *s, bool term)
{
    const unsigned char *u = (const unsigned char *)s;
    struct esc_unit e = {1, 1, u[0], 0};
    unsigned cp = 0;
    size_t n;

    if (needs_escape(u[0], term)) {
        e.form = 'x';
        e.out = 4;
    } else if (term && u[0] >= 0x80) {
        n = utf8_seq(u, &cp);
        if (n == 0) {
            /* Not UTF-8: a lone byte 0x80..0x9f is a C1 control to an
             * 8-bit terminal. */
            e.form = 'x';
            e.out = 4;
        } else if (cp_is_control(cp)) {
            e = (struct esc_unit){n, 6, cp, 'u'};
        } else {
            e.in = e.out = n;
        }
    }
    return e;
}

static char *escape(char *out, size_t cap, const char *s, bool term)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, full = 0, room;
    struct esc_unit e;

    if (cap == 0)
        return out;
    /* Keep room for "..." only when the escaped string cannot fit whole;
     * stop measuring as soon as that is known. */
    for (const char *t = s; *t != '\0' && full < cap; t += e.in) {
        e = next_unit(t, term);
        full += e.out;
    }
    if (full < cap)
        room = cap - 1;
    else
        room = cap >= 4 ? cap - 4 : 0;
    for (; *s != '\0'; s += e.in) {
        e = next_unit(s, term);
        if (o + e.out > room)
            break;
        if (e.form == 0) {
            memcpy(out + o, s, e.in);
            o += e.in;
            continue;
        }
        out[o++] = '\\';
        out[o++] = e.form;
        if (e.form == 'u') {
            out[o++] = hex[(e.val >> 12) & 15];
            out[o++] = hex[(e.val >> 8) & 15];
        }
        out[o++] = hex[(e.val >> 4) & 15];
        out[o++] = hex[e.val & 15];
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
