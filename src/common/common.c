/*
 * common.c -- assertions, allocation wrappers and clocks.
 */
#include "coffer/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/log.h"

void cf_assert_fail(const char *expr, const char *file, int line)
{
    cf_log_write(CF_LOG_ERROR, 0, "assertion \"%s\" failed at %s:%d", expr, file, line);
    abort();
}

static CF_NORETURN void oom(size_t n)
{
    cf_log_write(CF_LOG_ERROR, 0, "out of memory allocating %zu bytes", n);
    abort();
}

void *cf_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

/* Up to this many bytes, cf_xcalloc is malloc and memset: glibc's calloc
 * skips the per-thread cache (tcache) that malloc serves small blocks from,
 * so every small calloc took the arena's lock and its slower path. Larger
 * blocks keep calloc, which can skip zeroing memory fresh from the kernel. */
#define XCALLOC_SMALL 1024

void *cf_xcalloc(size_t count, size_t n)
{
    void *p;

    count = count ? count : 1;
    n = n ? n : 1;
    if (count <= XCALLOC_SMALL / n) {
        p = cf_xmalloc(count * n);
        memset(p, 0, count * n);
        return p;
    }
    p = calloc(count, n);
    if (p == NULL)
        oom(count * n);
    return p;
}

void *cf_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *cf_xstrndup(const char *s, size_t n)
{
    char *p = cf_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cf_xstrdup(const char *s)
{
    return cf_xstrndup(s, strlen(s));
}

uint64_t cf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cf_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timespec deadline_on(clockid_t clock, uint64_t ms)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

struct timespec cf_deadline_in(uint64_t ms)
{
    return deadline_on(CLOCK_REALTIME, ms);
}

struct timespec cf_deadline_mono_in(uint64_t ms)
{
    return deadline_on(CLOCK_MONOTONIC, ms);
}
