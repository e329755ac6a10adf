/*
 * objpath.h -- object path validation and the filer's hashed on-disk layout.
 *
 * Role: the only gate between a client-supplied path and the filesystem
 * (DESIGN §4: no path sent to a filer can escape its directory).
 *
 * The safe alphabet. A path is 1..CF_PATH_MAX bytes made of segments joined
 * by single '/'. Each segment is 1..CF_PATH_SEGMENT_MAX bytes of
 * [A-Za-z0-9._-] and does not begin with '.' (so ".", "..", hidden names and
 * the filer's own temporary names are all impossible). No leading or trailing
 * '/', no empty segment, at most CF_PATH_DEPTH_MAX segments. Anything else,
 * including NUL, '%', '\\', spaces and non-ASCII bytes, is refused.
 *
 * The layout. A path p is stored at  objects/HH/HH/<name>  where HH/HH is
 * the 16-bit bucket of p (h = FNV-1a 64 of p; h ^= h >> 32; h ^= h >> 16;
 * bucket = h & 0xffff; printed as two hex bytes, 65,536
 * buckets, so a filer holding 100 million objects has ~1,500 per directory)
 * and <name> is p with every '/' replaced by '+' ('+' is outside the
 * alphabet, so the mapping is reversible). The bucket function is part of the
 * on-disk format and must never change.
 *
 * Threads: all functions are pure and thread-safe.
 */
#ifndef COFFER_OBJPATH_H
#define COFFER_OBJPATH_H

#include <stddef.h>
#include <stdint.h>
#include "coffer/common.h"
#include "coffer/limits.h"

#define CF_OBJPATH_BUCKETS 65536u
/* "objects/HH/HH/" + name + NUL */
#define CF_OBJPATH_REL_MAX (sizeof("objects/00/00/") + CF_PATH_MAX)

/* Check p (len bytes, borrowed; may contain NUL, which is refused).
 * Returns 0, or CF_EBADPATH with a reason in err (may be NULL). */
CF_MUST_CHECK int cf_objpath_validate(const char *p, size_t len, char *err);

/* Bucket 0..65535 of a path (any bytes). */
uint32_t cf_objpath_bucket(const char *p, size_t len);

/* Write "objects/HH/HH/<name>" for a valid path p into out (cap bytes).
 * Returns the length written, or CF_EBADPATH if p is not valid or
 * CF_ETOOLARGE if out is too small. */
CF_MUST_CHECK int cf_objpath_relpath(const char *p, size_t len, char *out, size_t cap);

/* The file name (without directories) for a valid path: '/' -> '+'.
 * Same returns as cf_objpath_relpath. */
CF_MUST_CHECK int cf_objpath_to_name(const char *p, size_t len, char *out, size_t cap);

/* Reverse of cf_objpath_to_name: '+' -> '/'. Returns the length, or
 * CF_EBADPATH if the result is not a valid path (a stray file on disk),
 * or CF_ETOOLARGE if out is too small. */
CF_MUST_CHECK int cf_objpath_from_name(const char *name, size_t len, char *out, size_t cap);

#endif
