/*
 * faults_int.h -- private to src/filer: test-only fault injection into a
 * running filer (`coffer filer --fault-injection`).
 *
 * Role: the store makes every syscall that touches object bytes or names
 * through a struct cf_io_ops (io.h). With fault injection on, the filer
 * gives its store the table cf__filer_faults_open returns, which passes each
 * call to the table it wraps unless an armed fault takes the call: then the
 * call fails with the fault's errno and never reaches the disk. Faults are
 * armed and cleared over HTTP, so an integration test can make a real filer
 * process meet what the OS will not produce on demand, such as EIO on fsync
 * or ENOSPC on write (STYLE 2.8). Anyone who reaches the port can make the
 * filer fail: never for a production filer.
 *
 * A fault: the call it matches (openat, write, fsync, renameat2, unlinkat,
 * mkdirat or fsetxattr; close is never failed), the errno it sets (EIO,
 * ENOSPC, EDQUOT, EROFS, EACCES, EPERM or ENOMEM), how many matching calls
 * it lets through first ("after", 0..CF__FILER_FAULTS_COUNT_MAX, default 0)
 * and how many it then fails ("times", 1..CF__FILER_FAULTS_COUNT_MAX,
 * default 1). A call is offered to the armed faults in the order they were
 * armed; the first of its call whose times are not used up takes it (lets
 * it through while "after" lasts, else fails it). A used-up fault stays
 * listed until the faults are cleared. Each failure is logged (WARN).
 *
 * HTTP (cf__filer_faults_serve, at CF__FILER_FAULTS_URL):
 *   POST   {"call":C,"errno":E,"times":N,"after":N}  arm one more fault:
 *          201 {"faults":[...]}; 400 a bad body (unknown key, call or errno,
 *          a count out of range); 413 a body over CF__FILER_FAULTS_BODY_MAX;
 *          429 CF__FILER_FAULTS_MAX faults are armed already
 *   GET    200 {"faults":[{"call","errno","times","after","passed","fired"}]}
 *          in arming order ("passed": calls let through, "fired": failed)
 *   DELETE 204: every fault cleared; calls go straight through again
 * (the filer answers any other method with 405 before it calls here).
 *
 * One injector per process: a struct cf_io_ops carries no context pointer,
 * so the armed faults are process state. cf__filer_faults_open refuses a
 * second filer of the same process (`coffer filer` runs one; `coffer
 * server` never turns the option on).
 *
 * Threads: the table's calls and cf__filer_faults_serve are thread-safe
 * (one mutex; with nothing armed a call costs one atomic load).
 * cf__filer_faults_open and _close are called by the filer's controlling
 * thread, while no store uses the table.
 */
#ifndef COFFER_FAULTS_INT_H
#define COFFER_FAULTS_INT_H

#include <stddef.h>
#include <microhttpd.h>

#include "coffer/common.h"
#include "coffer/io.h"

#define CF__FILER_FAULTS_URL       "/debug/faults"
#define CF__FILER_FAULTS_MAX       16
#define CF__FILER_FAULTS_BODY_MAX  1024
#define CF__FILER_FAULTS_COUNT_MAX 1000000

/* Take the process's injector, wrapping inner (kept until
 * cf__filer_faults_close; NULL: cf_io_default), with nothing armed. On
 * success *out is the table to give the store (valid until
 * cf__filer_faults_close). Returns 0, or CF_EBUSY (another filer of this
 * process has it) with err (may be NULL). */
CF_MUST_CHECK int cf__filer_faults_open(const struct cf_io_ops *inner, const struct cf_io_ops **out,
                                        char *err);

/* Clear every fault and give the injector back. The store must be closed
 * first. Idempotent. */
void cf__filer_faults_close(void);

/* Answer method (GET, POST or DELETE) on CF__FILER_FAULTS_URL as above;
 * body (borrowed, len bytes, may be NULL when len is 0) is the request's
 * whole body. Returns MHD's result. */
enum MHD_Result cf__filer_faults_serve(struct MHD_Connection *c, const char *method,
                                       const char *body, size_t len);

#endif
