/*
 * range.h -- the HTTP Range request header (RFC 9110 §14), single ranges only.
 *
 * Threads: pure and thread-safe.
 */
#ifndef COFFER_RANGE_H
#define COFFER_RANGE_H

#include <stddef.h>
#include <stdint.h>
#include "coffer/common.h"

enum cf_range_result {
    CF_RANGE_NONE = 0,         /* no usable Range: serve the whole object (200) */
    CF_RANGE_OK = 1,           /* serve [first, last] (206) */
    CF_RANGE_UNSATISFIABLE = 2 /* 416 with "Content-Range: bytes * / size" */
};

struct cf_range {
    uint64_t first; /* inclusive */
    uint64_t last;  /* inclusive; last < size */
};

/* Interpret header value h (NULL when absent, borrowed) against an object of
 * `size` bytes. Accepts "bytes=a-b", "bytes=a-" and "bytes=-n", with optional
 * blanks around the range. A syntactically invalid header or a list of several
 * ranges gives CF_RANGE_NONE (RFC 9110 lets a server ignore them). A valid
 * range that starts at or past the end, or a suffix of 0 bytes, gives
 * CF_RANGE_UNSATISFIABLE. `last` is clamped to size - 1. */
enum cf_range_result cf_range_parse(const char *h, uint64_t size, struct cf_range *out);

#endif
