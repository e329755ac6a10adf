/*
 * cluster_int.h -- private to src/cluster: the libcurl multi handle that
 * drives the streaming transfers of the upload pump (pump.c) and of the
 * download pump (fetch.c) from the calling thread.
 *
 * Each thread keeps one multi handle for its pumps: making one costs a
 * wake-up socket pair and its teardown, on every transfer otherwise. A
 * thread running two pumps at once (a replica copy reads with a fetch while
 * it writes with a pump; an upload copies to a filer that replaces a failed
 * one while its own pump is open) gives the second its own handle, since
 * one pump's turn must not reap another's transfers.
 *
 * Threads: a struct cf__cluster_multi is opened, used and closed on one
 * thread; the easy handles added to it run on that thread only.
 */
#ifndef COFFER_CLUSTER_INT_H
#define COFFER_CLUSTER_INT_H

#include <stdbool.h>

#include <curl/curl.h>

#include "coffer/common.h"

struct cf__cluster_multi {
    CURLM *m;    /* NULL until cf__cluster_multi_open succeeds */
    bool cached; /* m is the calling thread's cached handle, lent until close */
};

/* Called by cf__cluster_multi_run for each transfer e (borrowed) that
 * ended, with its result. */
typedef void (*cf__cluster_done_cb)(void *ctx, CURL *e, CURLcode rc);

/* Borrow the calling thread's multi handle, or make one if it is lent out
 * already. mh is caller-owned storage, zeroed or closed. Returns 0, or
 * CF_EINTERNAL if libcurl cannot make a handle (mh->m stays NULL). */
CF_MUST_CHECK int cf__cluster_multi_open(struct cf__cluster_multi *mh);

/* Give the handle back (or clean it up if it was made for mh). Every easy
 * handle must have been removed from it first. Idempotent; safe on a
 * zeroed mh. */
void cf__cluster_multi_close(struct cf__cluster_multi *mh);

/* One turn: run every transfer as far as it goes without waiting, then hand
 * each one that ended to done(ctx, ...). done may remove and clean up the
 * easy handle it is given. */
void cf__cluster_multi_run(struct cf__cluster_multi *mh, cf__cluster_done_cb done, void *ctx);

/* Wait until a transfer has something to do, or 100 ms: long enough not to
 * spin, short enough that the caller checks its stall clocks ten times a
 * second. */
void cf__cluster_multi_wait(struct cf__cluster_multi *mh);

#endif
