/*
 * distrib.h -- the distributor: which filers get the replicas of a new object.
 *
 * Role: DESIGN §2. Candidates are the filers that are online and writable
 * and not excluded (e.g. already holding a replica, or failed during this
 * upload). They are ordered by weight, heaviest first, and filers of equal
 * weight are shuffled (Fisher-Yates) so that no one filer is a thundering
 * herd. Never two replicas on one filer.
 *
 * Data centers: the r filers are taken one at a time, each the first in
 * that order whose data center no replica covers yet (neither one chosen
 * before nor one of the caller's "covered" data centers), or the first left
 * when every data center with a candidate is covered. So the first pick of
 * a new object is the heaviest filer, and the replicas cover
 * min(r, data centers with a candidate) distinct data centers (with
 * covered ones: as many not yet covered as there are, up to r). With one
 * data center (every label the same, e.g. all "") this is plain weight
 * order.
 *
 * Threads: pure; thread-safe given a thread-safe rng.
 */
#ifndef COFFER_DISTRIB_H
#define COFFER_DISTRIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/objdb.h"

struct cf_distrib_filer {
    uint32_t id;
    uint32_t weight; /* higher is preferred; 0 is never chosen */
    bool online;
    bool read_only;
    const char *dc; /* data-center label (borrowed); NULL counts as "" */
};

/* A source of uniform 64-bit random numbers. */
typedef uint64_t (*cf_distrib_rng_cb)(void *ctx);

/* Choose r filers from f[0..n) (borrowed), skipping the ids in
 * exclude[0..nex) (borrowed, may be NULL when nex == 0). Writes the chosen
 * indexes into f into out[0..r). Returns r, CF_EINVAL if r == 0, or
 * CF_EUNAVAIL if fewer than r candidates exist (out is then unspecified). */
CF_MUST_CHECK int cf_distrib_choose(const struct cf_distrib_filer *f, size_t n, size_t r,
                                    const uint32_t *exclude, size_t nex, cf_distrib_rng_cb rng,
                                    void *rng_ctx, size_t *out);

/* As cf_distrib_choose, with the data centers covered[0..ncov) (borrowed
 * strings, may be NULL when ncov == 0) counted as holding a replica already:
 * a filer in another one is preferred. */
CF_MUST_CHECK int cf_distrib_choose_dc(const struct cf_distrib_filer *f, size_t n, size_t r,
                                       const uint32_t *exclude, size_t nex,
                                       const char *const *covered, size_t ncov,
                                       cf_distrib_rng_cb rng, void *rng_ctx, size_t *out);

/* cf_distrib_choose_dc over the filer summary table's rows v[0..n)
 * (borrowed), each in its data center (dc), none covered yet, with the
 * kernel's random numbers: a row is a candidate when it takes new objects
 * (cf_objdb_filer_writable) and weighs more than 0. Writes the chosen
 * indexes into v to out[0..r). Returns as cf_distrib_choose. */
CF_MUST_CHECK int cf_distrib_choose_filers(const struct cf_objdb_filer *v, size_t n, size_t r,
                                           const uint32_t *exclude, size_t nex, size_t *out);

/* cf_distrib_choose_filers where the data centers of the filers
 * holders[0..nh) (borrowed; ids looked up in v, unknown ones ignored) count
 * as covered: how rebuild and audit choose a target for a lost replica, so
 * that it lands in a data center the object's other replicas do not cover
 * when one has a candidate. */
CF_MUST_CHECK int cf_distrib_choose_spread(const struct cf_objdb_filer *v, size_t n, size_t r,
                                           const uint32_t *exclude, size_t nex,
                                           const uint32_t *holders, size_t nh, size_t *out);

/* Number of filers that are candidates (online, writable, weight > 0). */
size_t cf_distrib_writable(const struct cf_distrib_filer *f, size_t n);

/* ---- reads ----
 *
 * Which replica of an object a reader (objsrv's download, its signed-URL
 * list) tries first. Ranks, best first:
 *   1. filers that answer (cf_objdb_status_up) with a read weight > 0,
 *      heavier first; the read weight is the operator's, scaled by the
 *      tracker's status the way writes are: a busy filer (slow, or
 *      draining) counts a quarter of it (at least 1);
 *   2. filers that answer with read weight 0 (read only when no replica
 *      above does);
 *   3. filers that do not answer (offline, unknown, not in the table);
 *   4. replicas found bad (a reader saw wrong bytes from them), whatever
 *      their filer.
 * Replicas of equal rank (same class and same scaled read weight) are
 * shuffled per call (Fisher-Yates), so their reads spread evenly. */
struct cf_distrib_replica {
    uint32_t read_weight; /* the operator's (objdb.h) */
    bool up;              /* its filer answers requests */
    bool busy;            /* its filer's status is CF_OBJDB_BUSY */
    bool bad;             /* found bad by this reader: read last */
};

/* The rank key of r: higher is read first. Pure. */
uint64_t cf_distrib_read_rank(const struct cf_distrib_replica *r);

/* Order r[0..n) (borrowed) for a read: writes the indexes into r, best
 * first, to out[0..n). Ties are broken by rng (cf_distrib_rng_os when
 * NULL). Cannot fail; n may be 0. Thread-safe given a thread-safe rng. */
void cf_distrib_read_order(const struct cf_distrib_replica *r, size_t n, cf_distrib_rng_cb rng,
                           void *rng_ctx, size_t *out);

/* A thread-safe rng for cf_distrib_choose, from getrandom(2). ctx is unused. */
uint64_t cf_distrib_rng_os(void *ctx);

#endif
