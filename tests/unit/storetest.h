/*
 * storetest.h -- helpers shared by the store suites (test_store, test_volume):
 * a store in a temporary directory, removed when the test ends, and its
 * counters.
 *
 * Threads: call from the test's main thread only.
 */
#ifndef COFFER_STORETEST_H
#define COFFER_STORETEST_H

#include <stddef.h>

#include "coffer/store.h"

/* Make a new directory /tmp/coffer-TAG-XXXXXX and put its path in dir (cap
 * bytes). Returns 0 or -1 (errno set). */
int cf_test_store_tmpdir(char *dir, size_t cap, const char *tag);

/* Close s (NULL: nothing to close), then remove dir and everything under it
 * (best effort). */
void cf_test_store_close_rm(struct cf_store *s, const char *dir);

/* The store's counters at this moment. */
struct cf_store_stats cf_test_store_stats(struct cf_store *s);

#endif
