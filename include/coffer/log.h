/*
 * log.h -- one-line events on stderr.
 *
 * Format: `2026-01-02T03:04:05.678Z INFO filer[4121] message`.
 * cf_log() checks the level before evaluating its arguments.
 * Client-supplied strings must pass through cf_log_escape() first.
 * State: one process-wide role name and level, set by cf_log_init. Every
 * process (a role, coffer server, the CLI) has one log: coffer server's
 * roles share it.
 * Threads: cf_log_init runs on the main thread before other threads start;
 * everything else is thread-safe, and each event is written with one
 * write(2), so lines from different threads never interleave.
 */
#ifndef COFFER_LOG_H
#define COFFER_LOG_H

#include <stddef.h>
#include "coffer/common.h"

enum cf_log_level {
    CF_LOG_ERROR = 0, /* an operator must act */
    CF_LOG_WARN = 1,
    CF_LOG_INFO = 2,
    CF_LOG_DEBUG = 3,
};

/* The current level: events above it are dropped. Written only by
 * cf_log_init; read without a lock by the cf_log macros (and by code that
 * would prepare something only for a log line). Never assign it. */
extern int cf_log_level_cur;

/* Set the role name printed in every line (kept: pass a static string) and
 * the level. Call once, before threads start (cf_role_config does). */
void cf_log_init(const char *role, enum cf_log_level level);

/* Parse "error", "warn", "info" or "debug". Returns the level or CF_EINVAL. */
CF_MUST_CHECK int cf_log_level_parse(const char *s);

/* Write one event at level (not checked here: use the macros), with
 * ": <strerror(err)> (<ENAME>)" appended when err != 0. A line longer than
 * the internal buffer (2 KiB) is cut. Never fails; a failed write is
 * ignored. */
void cf_log_write(enum cf_log_level level, int err, const char *fmt, ...) CF_PRINTF(3, 4);

#define cf_log(level, ...)                                                                         \
    do {                                                                                           \
        if ((int)(level) <= cf_log_level_cur)                                                      \
            cf_log_write((level), 0, __VA_ARGS__);                                                 \
    } while (0)

/* Like cf_log, and appends ": <strerror> (<ENAME>)" for the errno value err. */
#define cf_log_errno(level, err, ...)                                                              \
    do {                                                                                           \
        if ((int)(level) <= cf_log_level_cur)                                                      \
            cf_log_write((level), (err), __VA_ARGS__);                                             \
    } while (0)

/* Copy s into out (cap bytes, always NUL-terminated) with control bytes,
 * quotes, backslashes and non-ASCII bytes written as \xHH; cut with "..."
 * if it does not fit. Returns out. */
char *cf_log_escape(char *out, size_t cap, const char *s);
/* The same for text shown on a terminal (names and messages the CLI
 * prints): control bytes (C0, DEL) and bytes that are not UTF-8 are written
 * as \xHH, the C1 controls (U+0080..U+009F) and the bidirectional overrides
 * (U+202A..U+202E, U+2066..U+2069) as \uHHHH; quotes, backslashes and the
 * rest of UTF-8 stay readable, no character is cut in two, and no text can
 * drive the terminal or reorder what it shows. */
char *cf_term_escape(char *out, size_t cap, const char *s);

#endif
