/*
 * harness_int.h -- what the parts of the integration-test harness share and
 * the tests do not see.
 *
 * Role: the runner (runner.c) owns the state set once by it_run: the coffer
 * binary and the registry of the processes a case started, which it_fail
 * kills. The process helpers (proc.c) add to and remove from that registry.
 * Threads: the registry is written by the case's main thread only; it_fail
 * may read it from any thread.
 */
#ifndef COFFER_IT_HARNESS_INT_H
#define COFFER_IT_HARNESS_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

struct it_filer;

/* Milliseconds of a monotonic clock. */
uint64_t it__now_ms(void);
/* Sleep ms milliseconds (resumed after a signal). Only between polls of a
 * bounded wait, never for synchronization. */
void it__nap_ms(unsigned ms);
/* The coffer binary (argv[1] of it_run); valid for the whole run. */
const char *it__coffer(void);
/* Replace pid old (0: a free slot) by pid (0: free the slot) in the
 * registry of the case's processes. Fails the case when it is full. */
void it__registry_set(pid_t old, pid_t pid);

/* it_filer_start_ok with a va_list of extra arguments. */
void it__filer_start_okv(struct it_filer *f, va_list ap);

#endif
