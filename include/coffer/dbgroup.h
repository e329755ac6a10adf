/*
 * dbgroup.h -- group commit: the writes that threads of one process make
 * on one database at the same time share one transaction.
 *
 * Role: a small write (a record, a file version, a move to the trash) costs
 * one commit, and on SQLite one fsync, each; under load most of that time is
 * the commit. With a group, each writer queues its write and waits; the first
 * writer that finds no batch running leads: it takes the waiting writes (up
 * to CF_DB_GROUP_MAX), runs them in one write transaction, commits, wakes
 * their callers, and goes on until its own write is done; then it wakes the
 * first writer still waiting, which leads next. Only the caller a change
 * concerns is woken (one condition variable per waiting write), so under
 * load a commit costs one wake-up per write it holds. Each caller is
 * answered only after the commit that holds its write, so durability is
 * that of a commit of its own.
 *
 * Failure: if one write of a batch fails, the batch is rolled back and each
 * of its writes then runs in a transaction of its own, so each answers as it
 * would alone (its own error; nothing of it written) and fails no other.
 *
 * Threads: cf_db_group_write is thread-safe; the group's mutex is never held
 * across a database call nor with another lock. A write function runs on the
 * leader's thread, and may run twice (a batch rolled back): whatever it
 * returns through arg must be set again when it runs again.
 */
#ifndef COFFER_DBGROUP_H
#define COFFER_DBGROUP_H

#include <pthread.h>
#include <stdbool.h>

#include "coffer/common.h"
#include "coffer/db.h"

/* Writes at most in one transaction: bounds the time a batch holds the
 * database's write lock. */
#define CF_DB_GROUP_MAX 64

/* The part of a change that runs inside the write transaction: reads and
 * writes on db only (no other connection). Returns 0 or an error (err says
 * why); on an error nothing of it is kept. */
typedef int (*cf_db_group_fn)(struct cf_db *db, void *arg, char *err);

struct cf_db_group_item; /* a waiting write, on its caller's stack */

/* One per database. Fields are private. */
struct cf_db_group {
    pthread_mutex_t mu;
    bool busy; /* a leader is running a batch */
    struct cf_db_group_item *head, **tail;
};

void cf_db_group_init(struct cf_db_group *g);
/* No write may be waiting. */
void cf_db_group_fini(struct cf_db_group *g);

/* Run write(db, arg, err) in a write transaction on a connection of pool
 * (borrowed; the same pool for every call on g) and commit it, sharing the
 * transaction with the writes other threads queue on g meanwhile. Returns 0
 * (committed), write's error, or the begin's or commit's error (db.h; with
 * CF_EINDOUBT the caller reads again to know); err (CF_ERR_LEN bytes) says
 * why. Must be called with no connection of pool held by the caller. */
CF_MUST_CHECK int cf_db_group_write(struct cf_db_group *g, struct cf_db_pool *pool,
                                    cf_db_group_fn write, void *arg, char *err);

#endif
