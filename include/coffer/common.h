/*
 * common.h -- attributes, spans, assertions and allocation wrappers used by
 * every coffer module.
 *
 * Role: the bottom of the dependency graph; includes nothing of coffer's.
 * Threads: everything here is thread-safe.
 */
#ifndef COFFER_COMMON_H
#define COFFER_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CF_MUST_CHECK        __attribute__((warn_unused_result))
#define CF_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CF_NORETURN          __attribute__((noreturn))
#define CF_ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))

#define CF_VERSION "0.1.0"

/* A pointer to bytes with its length. The bytes are borrowed unless a
 * function's contract says otherwise; they need not be NUL-terminated. */
struct cf_span {
    const char *ptr;
    size_t len;
};

static inline struct cf_span cf_span_of(const char *p, size_t n)
{
    struct cf_span s = {p, n};
    return s;
}

/* Abort with a message naming the failed invariant. Stays on in release
 * builds: it guards invariants whose breach would risk data, never input. */
#define cf_assert(x)                                                                               \
    do {                                                                                           \
        if (!(x))                                                                                  \
            cf_assert_fail(#x, __FILE__, __LINE__);                                                \
    } while (0)

CF_NORETURN void cf_assert_fail(const char *expr, const char *file, int line);

/* Allocation wrappers: they log the size and abort on OOM, so callers must
 * cap every size that comes from input before allocating (limits.h).
 * The caller owns the result; release it with free(). */
void *cf_xmalloc(size_t n);
void *cf_xcalloc(size_t count, size_t n);
void *cf_xrealloc(void *p, size_t n);
char *cf_xstrdup(const char *s);
char *cf_xstrndup(const char *s, size_t n);

/* Monotonic clock in nanoseconds, and wall clock in milliseconds since the epoch. */
uint64_t cf_now_ns(void);
uint64_t cf_wall_ms(void);

/* The CLOCK_REALTIME time ms milliseconds from now, for
 * pthread_cond_timedwait. */
struct timespec cf_deadline_in(uint64_t ms);
/* The same on CLOCK_MONOTONIC, for a condition variable whose attributes
 * chose that clock (pthread_condattr_setclock). */
struct timespec cf_deadline_mono_in(uint64_t ms);

#endif
