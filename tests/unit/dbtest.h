/*
 * dbtest.h -- databases for the unit suites that use db.h, on SQLite or,
 * when COFFER_TEST_PG holds a libpq conninfo without a dbname (set by
 * scripts/pg-test.sh), on PostgreSQL (DESIGN §3: the same suite runs on both).
 *
 * On PostgreSQL each call of cf_test_db_new creates a fresh database through
 * the "postgres" maintenance database; cf_test_db_drop_all drops every one
 * this process created. Threads: call from the test's main thread only.
 */
#ifndef COFFER_DBTEST_H
#define COFFER_DBTEST_H

#include <stdbool.h>
#include <stddef.h>

/* True when the suite runs on PostgreSQL. */
bool cf_test_db_pg(void);

/* Put in uri (cap bytes) the URI of a new, empty database: on SQLite
 * "sqlite:DIR/TAG.db", on PostgreSQL a new database. Returns 0 or -1
 * (printed). */
int cf_test_db_new(const char *dir, const char *tag, char *uri, size_t cap);

/* Drop the PostgreSQL databases made so far (a no-op on SQLite). */
void cf_test_db_drop_all(void);

/* Remove dir and everything under it (best effort; for test directories). */
void cf_test_rm_tree(const char *dir);

#endif
