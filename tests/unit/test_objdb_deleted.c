/*
 * test_objdb_deleted.c -- the purge side of the object database (objdb.h,
 * "the deleted-object map") on real SQLite files in a temporary directory
 * (no mocks, STYLE 2.8).
 *
 * Covers: listing marked records by time across shards and pages, moving
 * them, listing the deleted map with filers and purge states, the state
 * rules (SENT never overwrites DONE, unknown rows refused), removal only when
 * every replica is DONE, and undelete: from the object map always, from the
 * deleted map only while every replica is NONE, and on PostgreSQL the race
 * of an undelete with the purge's SENT mark, forced by a third session.
 * Walks are checked against a reference model (an array of what was marked
 * and moved).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/common.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/uuid.h"

#include "dbtest.h"
#include "objdbtest.h"

/* ---- marked records ------------------------------------------------------- */

static void mark(struct fixture *fx, const struct cf_uuid *u)
{
    char err[CF_ERR_LEN] = "";

    if (cf_objdb_set_deleted(fx->odb, u, true, err) != 0)
        fail_msg("set_deleted: %s", err);
}

static void move(struct fixture *fx, const struct cf_uuid *u)
{
    char err[CF_ERR_LEN] = "";

    if (cf_objdb_move_deleted(fx->odb, u, err) != 0)
        fail_msg("move_deleted: %s", err);
}

static void test_list_marked(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {1, 2};
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_uuid a, b, c, out[4];
    char err[CF_ERR_LEN] = "";
    int n;

    add_shard(fx, 1, NULL);
    add_shard(fx, 2, NULL);
    a = put(fx, 1, f, 2);
    b = put(fx, 1, f, 2);
    c = put(fx, 2, f, 2);
    (void)b;
    mark(fx, &a);
    mark(fx, &c);

    /* Nothing was marked at time 0. */
    assert_int_equal(cf_objdb_list_marked(fx->odb, 0, &cur, out, 4, err), 0);
    assert_true(cur.done);

    /* One at a time: a (shard 1), then c (shard 2), then the end. */
    memset(&cur, 0, sizeof(cur));
    n = cf_objdb_list_marked(fx->odb, cf_wall_ms(), &cur, out, 1, err);
    assert_int_equal(n, 1);
    assert_same_uuid(&out[0], &a);
    n = cf_objdb_list_marked(fx->odb, cf_wall_ms(), &cur, out, 1, err);
    assert_int_equal(n, 1);
    assert_same_uuid(&out[0], &c);
    n = cf_objdb_list_marked(fx->odb, cf_wall_ms(), &cur, out, 1, err);
    assert_int_equal(n, 0);
    assert_true(cur.done);

    /* Moved and unmarked records are no longer listed. */
    move(fx, &a);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &c, false, err), 0);
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(cf_objdb_list_marked(fx->odb, cf_wall_ms(), &cur, out, 4, err), 0);
}

/* ---- the deleted map ------------------------------------------------------ */

static void test_list_and_get_deleted(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[3] = {7, 3, 5};
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_objdb_deleted out[4], d;
    struct cf_objdb_record rec;
    struct cf_uuid u, other;
    char err[CF_ERR_LEN] = "";
    uint64_t t0;

    add_shard(fx, 1, NULL);
    u = put(fx, 1, f, 3);
    other = put(fx, 1, f, 2);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &rec, err), 0);
    t0 = cf_wall_ms();
    mark(fx, &u);
    move(fx, &u);

    assert_int_equal(cf_objdb_list_deleted(fx->odb, cf_wall_ms(), &cur, out, 4, err), 1);
    assert_same_uuid(&out[0].uuid, &u);
    assert_string_equal(out[0].path, rec.path);
    assert_true(out[0].size == rec.size);
    assert_true(out[0].deleted_ms >= t0 && out[0].deleted_ms <= cf_wall_ms());
    assert_int_equal(out[0].nfilers, 3);
    assert_int_equal(out[0].filers[0], 3);
    assert_int_equal(out[0].filers[1], 5);
    assert_int_equal(out[0].filers[2], 7);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(out[0].state[i], CF_OBJDB_PURGE_NONE);

    /* Not yet past a retention that ends before the mark. */
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(cf_objdb_list_deleted(fx->odb, t0 - 1, &cur, out, 4, err), 0);

    assert_int_equal(cf_objdb_get_deleted(fx->odb, &u, &d, err), 0);
    assert_same_uuid(&d.uuid, &u);
    assert_int_equal(d.nfilers, 3);
    /* A live record, a wrong random part, an unknown shard: not in the map. */
    assert_int_equal(cf_objdb_get_deleted(fx->odb, &other, &d, err), CF_ENOTFOUND);
    u.rnd ^= 1;
    assert_int_equal(cf_objdb_get_deleted(fx->odb, &u, &d, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 3, CF_OBJDB_PURGE_DONE, err),
                     CF_ENOTFOUND);
    u.rnd ^= 1;
    u.shard = 9;
    assert_int_equal(cf_objdb_get_deleted(fx->odb, &u, &d, err), CF_ENOTFOUND);
}

static void test_purge_states_and_remove(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[3] = {1, 2, 3};
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_objdb_deleted d, out[2];
    struct cf_uuid u;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    u = put(fx, 1, f, 3);
    mark(fx, &u);
    move(fx, &u);

    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 1, CF_OBJDB_PURGE_SENT, err), 0);
    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 2, CF_OBJDB_PURGE_DONE, err), 0);
    /* SENT never overwrites DONE; NONE cannot be set; filer 4 has no row. */
    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 2, CF_OBJDB_PURGE_SENT, err), 0);
    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 1, CF_OBJDB_PURGE_NONE, err), CF_EINVAL);
    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 4, CF_OBJDB_PURGE_DONE, err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_objdb_get_deleted(fx->odb, &u, &d, err), 0);
    assert_int_equal(d.state[0], CF_OBJDB_PURGE_SENT);
    assert_int_equal(d.state[1], CF_OBJDB_PURGE_DONE);
    assert_int_equal(d.state[2], CF_OBJDB_PURGE_NONE);

    /* Not every replica is gone: the record stays, unchanged. */
    assert_int_equal(cf_objdb_remove_deleted(fx->odb, &u, err), CF_EBUSY);
    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 1, CF_OBJDB_PURGE_DONE, err), 0);
    assert_int_equal(cf_objdb_remove_deleted(fx->odb, &u, err), CF_EBUSY);
    assert_int_equal(cf_objdb_get_deleted(fx->odb, &u, &d, err), 0);
    assert_int_equal(d.nfilers, 3);

    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 3, CF_OBJDB_PURGE_DONE, err), 0);
    assert_int_equal(cf_objdb_remove_deleted(fx->odb, &u, err), 0);
    assert_int_equal(cf_objdb_get_deleted(fx->odb, &u, &d, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_remove_deleted(fx->odb, &u, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_list_deleted(fx->odb, cf_wall_ms(), &cur, out, 2, err), 0);
    assert_int_equal(cf_objdb_undelete(fx->odb, &u, err), CF_ENOTFOUND);
}

static void test_undelete_rules(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {4, 9};
    struct cf_objdb_record rec;
    struct cf_objdb_deleted d;
    struct cf_uuid u, never;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    u = put(fx, 1, f, 2);

    /* Marked, still in the object map: a plain unmark. */
    mark(fx, &u);
    assert_int_equal(cf_objdb_undelete(fx->odb, &u, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &rec, err), 0);
    assert_false(rec.deleted);

    /* Moved, nothing purged: moved back with its filers. */
    mark(fx, &u);
    move(fx, &u);
    assert_int_equal(cf_objdb_get(fx->odb, &u, CF_OBJDB_GET_DELETED, &rec, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_undelete(fx->odb, &u, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &u, 0, &rec, err), 0);
    assert_false(rec.deleted);
    assert_true(rec.deleted_ms == 0);
    assert_int_equal(rec.nfilers, 2);
    assert_int_equal(rec.filers[0], 4);
    assert_int_equal(rec.filers[1], 9);
    assert_int_equal(cf_objdb_get_deleted(fx->odb, &u, &d, err), CF_ENOTFOUND);
    /* A purge that listed it before the undelete must not touch it now. */
    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 4, CF_OBJDB_PURGE_SENT, err),
                     CF_ENOTFOUND);

    /* Once a DELETE may have gone out, the record cannot come back. */
    mark(fx, &u);
    move(fx, &u);
    assert_int_equal(cf_objdb_set_purge_state(fx->odb, &u, 9, CF_OBJDB_PURGE_SENT, err), 0);
    assert_int_equal(cf_objdb_undelete(fx->odb, &u, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_get(fx->odb, &u, CF_OBJDB_GET_DELETED, &rec, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_get_deleted(fx->odb, &u, &d, err), 0);
    assert_int_equal(d.nfilers, 2);

    /* Never committed: not found. */
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &never, err), 0);
    assert_int_equal(cf_objdb_undelete(fx->odb, &never, err), CF_ENOTFOUND);
}

/* ---- the undelete / purge race on PostgreSQL ------------------------------ */

struct racer {
    struct fixture *fx;
    struct cf_uuid u;
    volatile int done;
    int rc;
};

static void *undelete_thread(void *arg)
{
    struct racer *r = arg;
    char err[CF_ERR_LEN] = "";

    r->rc = cf_objdb_undelete(r->fx->odb, &r->u, err);
    r->done = 1;
    return NULL;
}

static void *sent_thread(void *arg)
{
    struct racer *r = arg;
    char err[CF_ERR_LEN] = "";

    r->rc = cf_objdb_set_purge_state(r->fx->odb, &r->u, 4, CF_OBJDB_PURGE_SENT, err);
    r->done = 1;
    return NULL;
}

/* Sessions of the server waiting for a lock of `kind` (pg_stat_activity's
 * wait_event: "transactionid", "advisory"). */
static int64_t waiting(struct cf_db *db, const char *kind)
{
    int64_t n = -1;

    assert_int_equal(cf_db_run(db, &n, 1, NULL,
                               "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                               " 'Lock' AND wait_event = ?1",
                               "t", kind),
                     CF_DB_ROW);
    return n;
}

/* The purge's SENT mark must not land between an undelete's check of the
 * purge states and its commit: a record would come back while its replica
 * is deleted. The interleaving is forced with a third session that inserts
 * the undelete's row first and keeps its transaction open, so the undelete
 * waits (on that row) after its check. Either the undelete fails or the
 * mark does; never both succeed. PostgreSQL only: SQLite's autocommit write
 * takes the database lock the undelete holds. */
static void test_undelete_purge_race(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {4, 9};
    char loc[CF_DB_URI_MAX + 1], sql[512], err[CF_ERR_LEN] = "";
    struct cf_db *blocker = NULL, *watch = NULL;
    struct racer und = {.fx = fx}, sent = {.fx = fx};
    struct cf_objdb_record rec;
    pthread_t tu, ts;
    int ok;

    if (!cf_test_db_pg())
        skip();
    assert_int_equal(cf_test_db_new(fx->dir, "race", loc, sizeof(loc)), 0);
    add_shard(fx, 1, loc);
    und.u = put(fx, 1, f, 2);
    sent.u = und.u;
    mark(fx, &und.u);
    move(fx, &und.u);
    assert_int_equal(cf_db_open(loc, &blocker, err), 0);
    assert_int_equal(cf_db_open(loc, &watch, err), 0);
    (void)snprintf(sql, sizeof(sql),
                   "BEGIN; INSERT INTO objects (id, rnd, replicas, enc_key, deleted, deleted_at,"
                   " path, size, sha512, created) SELECT id, rnd, replicas, enc_key, 0, NULL,"
                   " path, size, sha512, created FROM deleted_objects WHERE id = %llu",
                   (unsigned long long)und.u.oid);
    assert_int_equal(cf_db_exec(blocker, sql, err), 0);

    assert_int_equal(pthread_create(&tu, NULL, undelete_thread, &und), 0);
    while (waiting(watch, "transactionid") == 0 && !und.done)
        (void)usleep(5000);
    assert_false(und.done);
    /* The undelete has checked the states and waits to insert. */
    assert_int_equal(pthread_create(&ts, NULL, sent_thread, &sent), 0);
    while (waiting(watch, "advisory") == 0 && !sent.done)
        (void)usleep(5000);
    assert_int_equal(cf_db_exec(blocker, "ROLLBACK", err), 0);
    assert_int_equal(pthread_join(tu, NULL), 0);
    assert_int_equal(pthread_join(ts, NULL), 0);

    ok = (und.rc == 0) + (sent.rc == 0);
    if (ok != 1)
        fail_msg("undelete %d and SENT %d: exactly one may succeed", und.rc, sent.rc);
    /* The undelete went first (the mark waited for its lock): the record is back. */
    assert_int_equal(und.rc, 0);
    assert_int_equal(sent.rc, CF_ENOTFOUND);
    assert_int_equal(cf_objdb_get(fx->odb, &und.u, 0, &rec, err), 0);
    cf_db_close(blocker);
    cf_db_close(watch);
}

/* ---- walks against a reference model -------------------------------------- */

#define WALK_OBJECTS 40

static void test_walk_pages(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {1, 2};
    struct cf_uuid made[WALK_OBJECTS];
    bool moved[WALK_OBJECTS] = {false}, marked[WALK_OBJECTS] = {false};
    char err[CF_ERR_LEN] = "";
    size_t want_moved = 0, want_marked = 0;

    add_shard(fx, 1, NULL);
    add_shard(fx, 3, NULL);
    for (size_t i = 0; i < WALK_OBJECTS; i++) {
        made[i] = put(fx, i % 3 == 0 ? 3 : 1, f, 2);
        if (i % 2 == 0) {
            mark(fx, &made[i]);
            if (i % 4 == 0) {
                move(fx, &made[i]);
                moved[i] = true;
                want_moved++;
            } else {
                marked[i] = true;
                want_marked++;
            }
        }
    }
    for (size_t cap = 1; cap <= 7; cap += 3) {
        struct cf_objdb_cursor cur = {0, 0, false};
        struct cf_objdb_deleted dout[7];
        struct cf_uuid uout[7];
        size_t seen = 0;
        int n;

        for (;;) {
            n = cf_objdb_list_deleted(fx->odb, cf_wall_ms(), &cur, dout, cap, err);
            if (n <= 0)
                break;
            for (int k = 0; k < n; k++) {
                size_t i;
                for (i = 0; i < WALK_OBJECTS; i++)
                    if (made[i].shard == dout[k].uuid.shard && made[i].oid == dout[k].uuid.oid)
                        break;
                assert_true(i < WALK_OBJECTS && moved[i]);
                assert_true(made[i].rnd == dout[k].uuid.rnd);
                assert_int_equal(dout[k].nfilers, 2);
                seen++;
            }
        }
        assert_int_equal(n, 0);
        assert_int_equal(seen, want_moved);

        memset(&cur, 0, sizeof(cur));
        seen = 0;
        for (;;) {
            n = cf_objdb_list_marked(fx->odb, cf_wall_ms(), &cur, uout, cap, err);
            if (n <= 0)
                break;
            for (int k = 0; k < n; k++) {
                size_t i;
                for (i = 0; i < WALK_OBJECTS; i++)
                    if (made[i].shard == uout[k].shard && made[i].oid == uout[k].oid)
                        break;
                assert_true(i < WALK_OBJECTS && marked[i]);
                seen++;
            }
        }
        assert_int_equal(n, 0);
        assert_int_equal(seen, want_marked);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_marked, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_list_and_get_deleted, objdbtest_setup,
                                        objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_purge_states_and_remove, objdbtest_setup,
                                        objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_undelete_rules, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_undelete_purge_race, objdbtest_setup,
                                        objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_walk_pages, objdbtest_setup, objdbtest_teardown),
    };

    cf_log_init("test_objdb_deleted", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
