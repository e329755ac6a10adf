/*
 * objdbtest.h -- the fixture of the object database suites (test_objdb_deleted,
 * test_objdb_maint): a catalog in a temporary directory (or a PostgreSQL
 * database, dbtest.h), shards, and records with made-up content.
 *
 * Failing calls end the test with cmocka's fail_msg. Threads: main thread only.
 */
#ifndef COFFER_OBJDBTEST_H
#define COFFER_OBJDBTEST_H

#include <stdint.h>

#include "coffer/db.h"
#include "coffer/objdb.h"
#include "coffer/uuid.h"

struct fixture {
    char dir[64];
    char catalog[CF_DB_URI_MAX + 1];
    struct cf_objdb *odb;
};

/* cmocka setup/teardown: a fresh catalog, opened, in *state. */
int objdbtest_setup(void **state);
int objdbtest_teardown(void **state);
/* (Re)open fx->odb on fx->catalog. */
void open_odb(struct fixture *fx);
/* Add shard id (0: next) at location (NULL: a new database). Returns its id. */
uint16_t add_shard(struct fixture *fx, uint16_t id, const char *location);
/* A record for u on the given filers, with a size and digest derived from the UUID. */
void make_record(struct cf_objdb_record *r, const struct cf_uuid *u, const uint32_t *filers,
                 unsigned n);
/* Reserve in shard (0: any writable) and commit make_record's record. */
struct cf_uuid put(struct fixture *fx, uint16_t shard, const uint32_t *filers, unsigned n);
void assert_same_uuid(const struct cf_uuid *a, const struct cf_uuid *b);

#endif
