/*
 * rebalance_int.h -- the rebalance planner: pure functions over the filers'
 * fill (used / total bytes), shared by the rebalance job (rebalance.c) and
 * its unit test against a brute-force model (tests/unit/test_rebalance.c).
 *
 * Fill of a filer = used / total; the mean fill = sum(used) / sum(total);
 * the set is balanced when every filer's fill is within tol * mean of the
 * mean. A move takes one replica of size s from a donor d to a receiver r
 * that does not hold the object, and only when it cannot cross over:
 * fill_r + s/T_r <= fill_d - s/T_d. Each such move lowers
 * sum(used_i^2 / T_i) by at least s^2 (1/T_d + 1/T_r), so any sequence of
 * moves of non-empty objects ends.
 *
 * Data centers: a move never lowers the number of distinct data centers
 * the object's replicas are in (the receiver is in the donor's data
 * center, or in one no other replica is in, or the donor's data center
 * keeps another replica).
 *
 * Threads: pure; reentrant.
 */
#ifndef COFFER_REBALANCE_INT_H
#define COFFER_REBALANCE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/objdb.h"

struct cf__rb_filer {
    uint32_t id;
    uint64_t used, total; /* bytes; total 0: takes no part */
    bool exhausted;       /* walked without a move: no longer a donor */
    const char *dc;       /* data-center label (borrowed); NULL counts as "" */
};

/* sum(used) / sum(total) over filers with total > 0 (0 if none). */
double cf__rb_mean(const struct cf__rb_filer *f, size_t n);

/* Every filer with total > 0 within tol * mean of the mean fill. */
bool cf__rb_balanced(const struct cf__rb_filer *f, size_t n, double tol);

/* The donor to take replicas from: when the set is not balanced, the
 * fullest filer above the mean fill that is not exhausted. Returns its
 * index, or -1. */
int cf__rb_donor(const struct cf__rb_filer *f, size_t n, double tol);

/* Whether the replica of holder k of an object whose holders are in data
 * centers hdc[0..nh) (NULL entries count as "") may move to data center
 * to_dc without the object's replicas covering fewer data centers. */
bool cf__rb_keeps_spread(const char *const *hdc, size_t nh, size_t k, const char *to_dc);

/* The receiver of one replica of size bytes taken from donor d, for an
 * object held by holders[0..nh) in data centers hdc[0..nh) (borrowed; NULL
 * entries, or hdc NULL, count as ""): the emptiest filer below the mean
 * fill, not d, not a holder, for which the move cannot cross over (see top)
 * and keeps the object's spread over data centers. Returns its index, or
 * -1. */
int cf__rb_receiver(const struct cf__rb_filer *f, size_t n, size_t d, const uint32_t *holders,
                    const char *const *hdc, size_t nh, uint64_t size);

/* Account a move of size bytes from d to r. */
void cf__rb_apply(struct cf__rb_filer *f, size_t d, size_t r, uint64_t size);

/* An object of the in-memory model (cf__rb_plan). */
struct cf__rb_object {
    uint64_t size;
    unsigned n;
    uint32_t filers[CF_OBJDB_REPLICAS_MAX];
};

struct cf__rb_move {
    size_t obj;
    uint32_t from, to;
};

/* The job's loop over an in-memory model: objects o[0..no) in walk order,
 * each donor's objects walked from the first, updated in place, as are f's
 * used bytes. Writes the moves, in order, to moves[0..cap) and returns how
 * many were made (all of them are made even past cap). */
size_t cf__rb_plan(struct cf__rb_filer *f, size_t n, struct cf__rb_object *o, size_t no, double tol,
                   struct cf__rb_move *moves, size_t cap);

#endif
