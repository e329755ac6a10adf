/*
 * test_objdb_maint.c -- the maintenance calls of the object database
 * (objdb.h, "maintenance") on real databases (SQLite files, or PostgreSQL
 * under test_db_pg).
 *
 * Covers: adding and replacing filers with every refusal, the stale-replica
 * protocol (a replica wanted again is kept; a SENT one cannot be listed
 * again until it is done; holds of unlisted copies; an upload's holds and
 * the orphan claim),
 * the two walks per filer (scan and index) giving the same objects, aliases
 * (look-up through the holder, no purge of a holder with a live alias, no
 * alias of a deleted holder), transformed records and their keys' rewrap,
 * the dedupe listing and conversion, counts,
 * and the upgrade of a version 1 or 2 shard.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/common.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/uuid.h"

#include "dbtest.h"
#include "objdbtest.h"

static void get_ok(struct fixture *fx, const struct cf_uuid *u, struct cf_objdb_record *r)
{
    char err[CF_ERR_LEN] = "";

    if (cf_objdb_get(fx->odb, u, CF_OBJDB_GET_DELETED, r, err) != 0)
        fail_msg("get: %s", err);
}

static void assert_filers(struct fixture *fx, const struct cf_uuid *u, const uint32_t *want,
                          unsigned n)
{
    struct cf_objdb_record r;

    get_ok(fx, u, &r);
    assert_int_equal(r.nfilers, n);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(r.filers[i], want[i]);
}

/* Every stale replica now (before_ms = now). */
static int stale_all(struct fixture *fx, struct cf_objdb_stale *out, size_t cap)
{
    struct cf_objdb_cursor cur = {0, 0, false};
    char err[CF_ERR_LEN] = "";
    int n = cf_objdb_stale_list(fx->odb, cf_wall_ms(), &cur, out, cap, err);

    if (n < 0)
        fail_msg("stale_list: %s", err);
    return n;
}

static void test_add_and_replace(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {1, 2};
    struct cf_uuid u, ghost;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    u = put(fx, 1, f, 2);
    ghost = u;
    ghost.rnd ^= 1;

    assert_int_equal(cf_objdb_replica_add(fx->odb, &u, 3, err), 0);
    assert_filers(fx, &u, (const uint32_t[]){1, 2, 3}, 3);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &u, 3, err), CF_EEXIST);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &u, 0, err), CF_EINVAL);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &ghost, 4, err), CF_ENOTFOUND);

    /* 3 -> 4 forgetting 3 (a dead filer): no stale row. */
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 3, 4, false, err), 0);
    assert_filers(fx, &u, (const uint32_t[]){1, 2, 4}, 3);
    struct cf_objdb_stale st[8];
    assert_int_equal(stale_all(fx, st, 8), 0);

    /* Refusals: not listed, already listed, the last replica. */
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 9, 5, true, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 1, 2, true, err), CF_EEXIST);
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 1, 0, true, err), 0);
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 2, 0, false, err), 0);
    assert_filers(fx, &u, (const uint32_t[]){4}, 1);
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 4, 0, false, err), CF_EINVAL);
    assert_filers(fx, &u, (const uint32_t[]){4}, 1);
    /* Only the replica dropped with stale = true is on the list. */
    assert_int_equal(stale_all(fx, st, 8), 1);
    assert_int_equal(st[0].filer, 1);
    assert_true(st[0].uuid.oid == u.oid);
    assert_false(st[0].sent);
}

static void test_stale_protocol(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {1, 2};
    struct cf_objdb_stale st[8];
    struct cf_objdb_record r;
    char err[CF_ERR_LEN] = "";
    struct cf_uuid u;

    add_shard(fx, 1, NULL);
    u = put(fx, 1, f, 2);
    get_ok(fx, &u, &r);

    /* Rebalance 1 -> 3: filer 1's bytes are stale, under the record's path. */
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 1, 3, true, err), 0);
    assert_int_equal(stale_all(fx, st, 8), 1);
    assert_string_equal(st[0].path, r.path);
    /* Not yet old enough at time 0. */
    {
        struct cf_objdb_cursor cur = {0, 0, false};
        assert_int_equal(cf_objdb_stale_list(fx->odb, 0, &cur, st, 8, err), 0);
        assert_true(cur.done);
    }

    /* Moved back before the drain: the row goes, the bytes stay wanted. */
    assert_int_equal(cf_objdb_replica_add(fx->odb, &u, 1, err), 0);
    assert_int_equal(stale_all(fx, st, 8), 0);

    /* Dropped again, then listed again behind the list's back (commit does
     * not look at it): claim sees the record and keeps the bytes. */
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 1, 0, true, err), 0);
    assert_int_equal(stale_all(fx, st, 8), 1);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &u, 1, err), 0);
    assert_int_equal(stale_all(fx, st, 8), 0);

    /* Claimed: SENT, and the filer cannot be listed until it is done. */
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 1, 0, true, err), 0);
    assert_int_equal(stale_all(fx, st, 8), 1);
    assert_int_equal(cf_objdb_stale_claim(fx->odb, &st[0], err), 0);
    assert_int_equal(stale_all(fx, st, 8), 1);
    assert_true(st[0].sent);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &u, 1, err), CF_EBUSY);
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 2, 1, true, err), CF_EBUSY);
    assert_filers(fx, &u, (const uint32_t[]){2, 3}, 2);
    assert_int_equal(cf_objdb_stale_done(fx->odb, &st[0], err), 0);
    assert_int_equal(cf_objdb_stale_done(fx->odb, &st[0], err), 0);
    assert_int_equal(cf_objdb_stale_claim(fx->odb, &st[0], err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &u, 1, err), 0);
    assert_filers(fx, &u, (const uint32_t[]){1, 2, 3}, 3);
}

/* Holds: an unrecorded upload's replica, and a copy a job is about to
 * list. A held row is not listed before its time; a hold is never
 * shortened; a claim refuses a row held again since it was listed; a SENT
 * row cannot be held; a renewal fails once the hold was drained or taken
 * over; an alias cannot be held. */
static void test_stale_hold(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {1, 2};
    struct cf_objdb_stale st[8];
    char err[CF_ERR_LEN] = "", path[CF_UUID_PATH_SIZE];
    struct cf_uuid u, v, ghost;
    uint64_t now = cf_wall_ms(), h = 0, h2 = 0;

    add_shard(fx, 1, NULL);
    if (cf_objdb_reserve(fx->odb, 1, &u, err) != 0)
        fail_msg("reserve: %s", err);
    cf_uuid_filer_path(&u, path);
    /* Never recorded: held until now, claimed (no record lists it), done. */
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &u, 2, path, now, 0, &h, err), 0);
    assert_true(h == now);
    assert_int_equal(stale_all(fx, st, 8), 1);
    assert_true(st[0].uuid.oid == u.oid);
    assert_int_equal(st[0].filer, 2);
    assert_string_equal(st[0].path, path);
    assert_int_equal(cf_objdb_stale_claim(fx->odb, &st[0], err), 0);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &u, 2, path, now, 0, NULL, err), CF_EBUSY);
    assert_int_equal(cf_objdb_stale_done(fx->odb, &st[0], err), 0);
    assert_int_equal(stale_all(fx, st, 8), 0);

    /* A job's copy of v to filer 3, held for a minute: not listed now, and
     * a shorter hold (a release) does not shorten it. */
    v = put(fx, 1, f, 2);
    cf_uuid_filer_path(&v, path);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 3, path, now + 60000, 0, &h, err), 0);
    assert_true(h == now + 60000);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 3, path, now - 10, 0, &h2, err), 0);
    assert_true(h2 == now + 60000);
    assert_int_equal(stale_all(fx, st, 8), 0);
    /* A longer hold extends it. */
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 3, path, now + 90000, 0, &h, err), 0);
    assert_true(h == now + 90000);
    /* Renewed by its holder (the expected time), then listed: the row goes. */
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 3, path, now + 120000, h, &h, err), 0);
    assert_true(h == now + 120000);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 3, path, now + 1000, 12345, NULL, err),
                     CF_EBUSY);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &v, 3, err), 0);
    assert_filers(fx, &v, (const uint32_t[]){1, 2, 3}, 3);
    /* Renewing a hold that is gone fails: the bytes may have been deleted. */
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 3, path, now + 1000, h, NULL, err), CF_EBUSY);
    assert_int_equal(stale_all(fx, st, 8), 0);

    /* A hold that ran out is listed by the drain; renewed before the claim,
     * the claim leaves it; claimed first, the renewal fails. */
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 4, path, now - 10, 0, &h, err), 0);
    assert_int_equal(stale_all(fx, st, 8), 1);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 4, path, now + 60000, h, &h, err), 0);
    assert_int_equal(cf_objdb_stale_claim(fx->odb, &st[0], err), CF_EBUSY);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 5, path, now - 10, 0, &h, err), 0);
    assert_int_equal(stale_all(fx, st, 8), 1);
    assert_int_equal(st[0].filer, 5);
    assert_int_equal(cf_objdb_stale_claim(fx->odb, &st[0], err), 0);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 5, path, now + 60000, h, NULL, err),
                     CF_EBUSY);
    assert_int_equal(cf_objdb_stale_done(fx->odb, &st[0], err), 0);
    /* Drained and held anew by another job: not this job's hold any more. */
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 5, path, now + 5000, 0, &h2, err), 0);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &v, 5, path, now + 60000, h, NULL, err),
                     CF_EBUSY);

    /* A shard nobody has. */
    ghost = u;
    ghost.shard = 77;
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &ghost, 2, path, now, 0, NULL, err),
                     CF_ENOTFOUND);
}

/* The stale list pages by object id without losing rows of one object. */
/* Rows of the stale list for object oid due now, and the filer of the last. */
static int stale_of(struct fixture *fx, uint64_t oid, uint32_t *filer)
{
    struct cf_objdb_stale st[64];
    int n = stale_all(fx, st, 64), k = 0;

    for (int i = 0; i < n; i++)
        if (st[i].uuid.oid == oid) {
            k++;
            if (filer != NULL)
                *filer = st[i].filer;
        }
    return k;
}

/* An upload's holds (cf_objdb_upload_hold) end with its commit, the failed
 * targets' become due; a hold that ran out and was claimed refuses the
 * commit; a release makes them due; the orphan claim keeps what a record
 * lists or a hold covers. */
static void test_upload_hold_and_orphans(void **state)
{
    struct fixture *fx = *state;
    const uint32_t targets[3] = {1, 2, 3};
    struct cf_objdb_stale st[8], row;
    struct cf_objdb_record r;
    char err[CF_ERR_LEN] = "", path[CF_UUID_PATH_SIZE];
    struct cf_uuid u, w, x, y;
    uint64_t now = cf_wall_ms();
    uint32_t filer = 0;
    int n;

    add_shard(fx, 1, NULL);
    if (cf_objdb_reserve(fx->odb, 1, &u, err) != 0)
        fail_msg("reserve: %s", err);
    cf_uuid_filer_path(&u, path);
    assert_int_equal(cf_objdb_upload_hold(fx->odb, &u, path, targets, 3, now + 60000, err), 0);
    assert_int_equal(stale_of(fx, u.oid, NULL), 0); /* held: not due */
    assert_int_equal(cf_objdb_orphan_claim(fx->odb, &u, 1, path, now, false, &row, err), CF_EBUSY);
    /* Filers 1 and 2 answered, 3 failed: its hold is due now. */
    make_record(&r, &u, targets, 2);
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), 0);
    assert_int_equal(stale_of(fx, u.oid, &filer), 1);
    assert_int_equal(filer, 3);
    assert_int_equal(cf_objdb_upload_hold(fx->odb, &u, path, targets, 1, now, err), CF_EINVAL);
    assert_int_equal(cf_objdb_orphan_claim(fx->odb, &u, 1, path, now, false, &row, err), 1);
    /* The failed target's row, due: the orphan claim takes it (SENT). */
    assert_int_equal(cf_objdb_orphan_claim(fx->odb, &u, 3, path, cf_wall_ms(), false, &row, err),
                     0);
    assert_true(row.sent && row.filer == 3);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &u, 3, path, now + 60000, 0, NULL, err),
                     CF_EBUSY);
    assert_int_equal(cf_objdb_stale_done(fx->odb, &row, err), 0);
    assert_int_equal(stale_of(fx, u.oid, NULL), 0);

    /* A hold that ran out and was claimed by the drain: no record. */
    if (cf_objdb_reserve(fx->odb, 1, &w, err) != 0)
        fail_msg("reserve: %s", err);
    cf_uuid_filer_path(&w, path);
    assert_int_equal(cf_objdb_upload_hold(fx->odb, &w, path, targets, 1, now - 10, err), 0);
    n = stale_all(fx, st, 8);
    for (int i = 0; i < n; i++)
        if (st[i].uuid.oid == w.oid)
            assert_int_equal(cf_objdb_stale_claim(fx->odb, &st[i], err), 0);
    make_record(&r, &w, targets, 1);
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EBUSY);
    assert_int_equal(cf_objdb_get(fx->odb, &w, 0, &r, err), CF_ENOTFOUND);

    /* An upload that fails: its holds are due at once. */
    if (cf_objdb_reserve(fx->odb, 1, &x, err) != 0)
        fail_msg("reserve: %s", err);
    cf_uuid_filer_path(&x, path);
    assert_int_equal(cf_objdb_upload_hold(fx->odb, &x, path, targets, 2, now + 60000, err), 0);
    assert_int_equal(stale_of(fx, x.oid, NULL), 0);
    assert_int_equal(cf_objdb_upload_release(fx->odb, &x, err), 0);
    assert_int_equal(stale_of(fx, x.oid, NULL), 2);

    /* Bytes with no row at all: a dry run writes nothing; a claim writes
     * SENT, which a job's hold then respects. */
    if (cf_objdb_reserve(fx->odb, 1, &y, err) != 0)
        fail_msg("reserve: %s", err);
    cf_uuid_filer_path(&y, path);
    assert_int_equal(cf_objdb_orphan_claim(fx->odb, &y, 4, path, now, true, &row, err), 0);
    assert_int_equal(stale_of(fx, y.oid, NULL), 0);
    assert_int_equal(cf_objdb_orphan_claim(fx->odb, &y, 4, path, now, false, &row, err), 0);
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &y, 4, path, now + 60000, 0, NULL, err),
                     CF_EBUSY);
    st[0] = row;
    assert_int_equal(cf_objdb_orphan_claim(fx->odb, &y, 4, path, now, false, &row, err), CF_EBUSY);
    assert_int_equal(cf_objdb_stale_done(fx->odb, &st[0], err), 0);
}

static void test_stale_pages(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[4] = {1, 2, 3, 4};
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_objdb_stale st[3];
    char err[CF_ERR_LEN] = "";
    unsigned seen = 0;
    int n;

    add_shard(fx, 1, NULL);
    add_shard(fx, 2, NULL);
    for (int i = 0; i < 5; i++) {
        struct cf_uuid u = put(fx, (uint16_t)(1 + i % 2), f, 4);
        assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 1, 0, true, err), 0);
        assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 2, 0, true, err), 0);
    }
    for (;;) {
        n = cf_objdb_stale_list(fx->odb, cf_wall_ms(), &cur, st, 3, err);
        if (n <= 0)
            break;
        /* Never one object's rows split over two pages. */
        assert_true(n % 2 == 0);
        seen += (unsigned)n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(seen, 10);
}

/* Scan (list_records with a filer) and index (list_filer) agree. */
static void test_walks_agree(void **state)
{
    struct fixture *fx = *state;
    char err[CF_ERR_LEN] = "";
    unsigned want[6] = {0};

    add_shard(fx, 1, NULL);
    add_shard(fx, 3, NULL);
    for (unsigned i = 0; i < 40; i++) {
        uint32_t f[2] = {1 + i % 5, 1 + (i / 5 + i % 5 + 1) % 5};
        if (f[0] == f[1])
            f[1] = 1 + f[0] % 5;
        (void)put(fx, (uint16_t)(i % 3 ? 1 : 3), f, 2);
        want[f[0]]++;
        want[f[1]]++;
    }
    for (uint32_t filer = 1; filer <= 5; filer++) {
        struct cf_objdb_cursor c1 = {0, 0, false}, c2 = {0, 0, false};
        struct cf_objdb_record recs[7];
        struct cf_uuid ids[7];
        unsigned total = 0;
        int n1, n2;

        for (;;) {
            n1 = cf_objdb_list_records(fx->odb, filer, &c1, recs, 7, err);
            n2 = cf_objdb_list_by_filer(fx->odb, filer, &c2, ids, 7, err);
            assert_int_equal(n1, n2);
            if (n1 <= 0)
                break;
            for (int k = 0; k < n1; k++) {
                bool has = false;
                assert_same_uuid(&recs[k].uuid, &ids[k]);
                assert_int_equal(recs[k].nfilers, 2);
                for (unsigned j = 0; j < recs[k].nfilers; j++)
                    has = has || recs[k].filers[j] == filer;
                assert_true(has);
            }
            total += (unsigned)n1;
        }
        assert_int_equal(n1, 0);
        assert_int_equal(total, want[filer]);
    }
    /* Every record, unfiltered, with its filers. */
    {
        struct cf_objdb_cursor c = {0, 0, false};
        struct cf_objdb_record recs[16];
        unsigned total = 0;
        int n;
        for (;;) {
            n = cf_objdb_list_records(fx->odb, 0, &c, recs, 16, err);
            if (n <= 0)
                break;
            for (int k = 0; k < n; k++) {
                struct cf_objdb_record r;
                get_ok(fx, &recs[k].uuid, &r);
                assert_int_equal(r.nfilers, recs[k].nfilers);
                assert_memory_equal(r.filers, recs[k].filers, r.nfilers * sizeof(r.filers[0]));
                assert_string_equal(r.path, recs[k].path);
                assert_memory_equal(r.sha512, recs[k].sha512, 64);
            }
            total += (unsigned)n;
        }
        assert_int_equal(total, 40);
    }
}

static void test_alias(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {4, 6};
    struct cf_objdb_record holder, found, ar;
    struct cf_uuid h, a, other;
    struct cf_objdb_counts counts;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    add_shard(fx, 2, NULL);
    h = put(fx, 2, f, 2);
    get_ok(fx, &h, &holder);

    /* Found by content, with enough replicas; not with more wanted. */
    assert_int_equal(cf_objdb_find_content(fx->odb, holder.sha512, holder.size, 0, 2, &found, err),
                     1);
    assert_same_uuid(&found.uuid, &h);
    assert_int_equal(cf_objdb_find_content(fx->odb, holder.sha512, holder.size, 0, 3, &found, err),
                     0);
    assert_int_equal(
        cf_objdb_find_content(fx->odb, holder.sha512, holder.size + 1, 0, 1, &found, err), 0);

    /* A record is not its own alias. */
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &h, &h, 0, err), CF_EINVAL);
    assert_int_equal(cf_objdb_reserve(fx->odb, 2, &a, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &a, &h, 0, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &a, &h, 0, err), CF_EEXIST);

    /* The alias reads as the holder's content under its own UUID. */
    get_ok(fx, &a, &ar);
    assert_same_uuid(&ar.uuid, &a);
    assert_string_equal(ar.path, holder.path);
    /* It has no bytes of its own to hold for a copy (a job that read it
     * just before it became an alias must not queue the holder's path). */
    assert_int_equal(cf_objdb_stale_hold(fx->odb, &a, 9, ar.path, cf_wall_ms(), 0, NULL, err),
                     CF_EINVAL);
    assert_int_equal(ar.nfilers, 2);
    assert_int_equal(ar.filers[0], 4);
    assert_memory_equal(ar.sha512, holder.sha512, 64);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &a, 9, err), CF_EINVAL);
    /* Walks see only the holder. */
    {
        struct cf_objdb_cursor c = {0, 0, false};
        struct cf_objdb_record recs[4];
        assert_int_equal(cf_objdb_list_records(fx->odb, 0, &c, recs, 4, err), 1);
        assert_same_uuid(&recs[0].uuid, &h);
    }
    assert_int_equal(cf_objdb_count(fx->odb, &counts, err), 0);
    assert_true(counts.records == 2 && counts.aliases == 1 && counts.deficit == 0);

    /* The holder deleted by its own name keeps its bytes for the alias. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &h, true, err), 0);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &h, err), CF_EBUSY);
    get_ok(fx, &a, &ar);
    assert_false(ar.deleted);
    assert_int_equal(ar.nfilers, 2);
    /* No new alias of a deleted holder, and it is not found by content. */
    assert_int_equal(cf_objdb_find_content(fx->odb, holder.sha512, holder.size, 0, 1, &found, err),
                     0);
    assert_int_equal(cf_objdb_reserve(fx->odb, 2, &other, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &other, &h, 0, err), CF_ENOTFOUND);

    /* The alias goes (no bytes to purge), then the holder can. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &a, true, err), 0);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &a, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &a, CF_OBJDB_GET_DELETED, &ar, err), CF_ENOTFOUND);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &h, err), 0);
    assert_int_equal(cf_objdb_count(fx->odb, &counts, err), 0);
    assert_true(counts.records == 0 && counts.aliases == 0);
}

/* A transformed record keeps its transform, stored size and SHA and key
 * through the look-up, the walk, an alias, the deleted map and back; its
 * key is replaced only while it still holds the old one. */
static void test_xform(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {3, 5};
    struct cf_objdb_record r, got;
    struct cf_uuid u, a;
    uint8_t k2[CF_OBJDB_KEY_MAX];
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &u, err), 0);
    make_record(&r, &u, f, 2);
    r.xform = CF_OBJDB_XFORM_Z | CF_OBJDB_XFORM_E;
    r.stored_size = r.size / 2 + 40;
    memset(r.stored_sha512, 0x5a, sizeof(r.stored_sha512));
    r.key_len = CF_OBJDB_KEY_MAX;
    memset(r.key, 0x11, sizeof(r.key));
    /* Encrypted without a key, or an unknown bit: refused. */
    r.key_len = 0;
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EINVAL);
    r.key_len = CF_OBJDB_KEY_MAX;
    r.xform = 4;
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), CF_EINVAL);
    r.xform = CF_OBJDB_XFORM_Z | CF_OBJDB_XFORM_E;
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), 0);
    get_ok(fx, &u, &got);
    assert_int_equal(got.xform, r.xform);
    assert_int_equal(got.stored_size, r.stored_size);
    assert_int_equal(got.size, r.size);
    assert_memory_equal(got.stored_sha512, r.stored_sha512, 64);
    assert_memory_equal(got.sha512, r.sha512, 64);
    assert_memory_equal(got.key, r.key, CF_OBJDB_KEY_MAX);
    {
        struct cf_objdb_cursor c = {0, 0, false};
        struct cf_objdb_record recs[2];
        assert_int_equal(cf_objdb_list_records(fx->odb, 0, &c, recs, 2, err), 1);
        assert_int_equal(recs[0].xform, r.xform);
        assert_int_equal(recs[0].stored_size, r.stored_size);
        assert_memory_equal(recs[0].stored_sha512, r.stored_sha512, 64);
    }

    /* A plain record reads its own size and SHA as the stored ones. */
    {
        struct cf_uuid p = put(fx, 1, f, 2);
        get_ok(fx, &p, &got);
        assert_int_equal(got.xform, 0);
        assert_int_equal(got.stored_size, got.size);
        assert_memory_equal(got.stored_sha512, got.sha512, 64);
    }

    /* An alias reads the holder's transform and key. */
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &a, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &a, &u, 0, err), 0);
    get_ok(fx, &a, &got);
    assert_int_equal(got.xform, r.xform);
    assert_int_equal(got.stored_size, r.stored_size);

    /* Rewrap: a compare and swap on the key, aliases follow. */
    memset(k2, 0x22, sizeof(k2));
    assert_int_equal(cf_objdb_set_key(fx->odb, &u, k2, sizeof(k2), k2, sizeof(k2), err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_objdb_set_key(fx->odb, &a, r.key, r.key_len, k2, sizeof(k2), err),
                     CF_ENOTFOUND);
    assert_int_equal(cf_objdb_set_key(fx->odb, &u, r.key, r.key_len, k2, 0, err), CF_EINVAL);
    assert_int_equal(cf_objdb_set_key(fx->odb, &u, r.key, r.key_len, k2, sizeof(k2), err), 0);
    get_ok(fx, &u, &got);
    assert_memory_equal(got.key, k2, sizeof(k2));
    get_ok(fx, &a, &got);
    assert_memory_equal(got.key, k2, sizeof(k2));

    /* Through the deleted map and back. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &a, true, err), 0);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &a, err), 0);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u, true, err), 0);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &u, err), 0);
    /* In the deleted map: listed with its key, and rewrapped there too. */
    {
        struct cf_objdb_cursor c = {0, 0, false};
        struct cf_objdb_record recs[4];
        uint8_t k3[CF_OBJDB_KEY_MAX];
        assert_int_equal(cf_objdb_list_deleted_keys(fx->odb, &c, recs, 4, err), 1);
        assert_same_uuid(&recs[0].uuid, &u);
        assert_int_equal(recs[0].xform, r.xform);
        assert_int_equal(recs[0].key_len, sizeof(k2));
        assert_memory_equal(recs[0].key, k2, sizeof(k2));
        assert_int_equal(cf_objdb_list_deleted_keys(fx->odb, &c, recs, 4, err), 0);
        assert_true(c.done);
        memset(k3, 0x33, sizeof(k3));
        assert_int_equal(cf_objdb_set_key(fx->odb, &u, r.key, r.key_len, k3, sizeof(k3), err),
                         CF_ENOTFOUND);
        assert_int_equal(cf_objdb_set_key(fx->odb, &u, k2, sizeof(k2), k3, sizeof(k3), err), 0);
        memcpy(k2, k3, sizeof(k2));
    }
    assert_int_equal(cf_objdb_undelete(fx->odb, &u, err), 0);
    get_ok(fx, &u, &got);
    assert_int_equal(got.xform, r.xform);
    assert_int_equal(got.stored_size, r.stored_size);
    assert_memory_equal(got.stored_sha512, r.stored_sha512, 64);
    assert_memory_equal(got.key, k2, sizeof(k2));
}

/* Commit a record with the content of `like` on the given filers. */
static struct cf_uuid put_same(struct fixture *fx, uint16_t shard,
                               const struct cf_objdb_record *like, const uint32_t *filers,
                               unsigned n)
{
    struct cf_objdb_record r;
    struct cf_uuid u;
    char err[CF_ERR_LEN] = "";

    if (cf_objdb_reserve(fx->odb, shard, &u, err) != 0)
        fail_msg("reserve: %s", err);
    make_record(&r, &u, filers, n);
    r.size = like->size;
    memcpy(r.sha512, like->sha512, sizeof(r.sha512));
    if (cf_objdb_commit(fx->odb, &r, err) != 0)
        fail_msg("commit: %s", err);
    return u;
}

/* The dedupe listing pairs records stored the same way only: a plain copy
 * of encrypted content is not folded into it (nor the reverse), another
 * encrypted one is. */
static void test_dups_xform(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f12[2] = {1, 2}, f34[2] = {3, 4};
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_objdb_record r;
    struct cf_objdb_dup dups[4];
    struct cf_uuid e1, e2;
    char err[CF_ERR_LEN] = "";

    add_shard(fx, 1, NULL);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &e1, err), 0);
    make_record(&r, &e1, f12, 2);
    r.xform = CF_OBJDB_XFORM_E;
    r.stored_size = r.size + 100;
    r.key_len = 8;
    memset(r.key, 1, 8);
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), 0);
    (void)put_same(fx, 1, &r, f34, 2); /* plain */
    assert_int_equal(cf_objdb_list_dups(fx->odb, 0, &cur, dups, 4, err), 0);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &e2, err), 0);
    r.uuid = e2;
    cf_uuid_filer_path(&e2, r.path);
    memcpy(r.filers, f34, sizeof(f34));
    memset(r.key, 2, 8);
    assert_int_equal(cf_objdb_commit(fx->odb, &r, err), 0);
    cur = (struct cf_objdb_cursor){0, 0, false};
    assert_int_equal(cf_objdb_list_dups(fx->odb, 0, &cur, dups, 4, err), 1);
    assert_same_uuid(&dups[0].dup, &e2);
    assert_same_uuid(&dups[0].holder, &e1);

    /* Across shards the same rule: a compressed copy in shard 2 pairs with
     * nothing, an encrypted one with e1. */
    add_shard(fx, 2, NULL);
    {
        struct cf_objdb_record z = r;
        struct cf_uuid zu, e3;

        assert_int_equal(cf_objdb_reserve(fx->odb, 2, &zu, err), 0);
        z.uuid = zu;
        cf_uuid_filer_path(&zu, z.path);
        z.xform = CF_OBJDB_XFORM_Z;
        z.key_len = 0;
        assert_int_equal(cf_objdb_commit(fx->odb, &z, err), 0);
        cur = (struct cf_objdb_cursor){0, 0, false};
        assert_int_equal(cf_objdb_list_dups(fx->odb, 0, &cur, dups, 4, err), 1);
        assert_same_uuid(&dups[0].dup, &e2);

        assert_int_equal(cf_objdb_reserve(fx->odb, 2, &e3, err), 0);
        r.uuid = e3;
        cf_uuid_filer_path(&e3, r.path);
        memset(r.key, 3, 8);
        assert_int_equal(cf_objdb_commit(fx->odb, &r, err), 0);
        cur = (struct cf_objdb_cursor){0, 0, false};
        assert_int_equal(cf_objdb_list_dups(fx->odb, 0, &cur, dups, 4, err), 2);
        assert_same_uuid(&dups[1].dup, &e3);
        assert_same_uuid(&dups[1].holder, &e1);
    }
}

static void test_dups(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f12[2] = {1, 2}, f34[2] = {3, 4}, f5[1] = {5};
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_objdb_record h, r;
    struct cf_objdb_dup dups[8];
    struct cf_objdb_stale st[8];
    struct cf_objdb_counts counts;
    struct cf_uuid hu, d1, d2, lone, inline_alias;
    char err[CF_ERR_LEN] = "";
    int n;

    add_shard(fx, 1, NULL);
    hu = put(fx, 1, f12, 2);
    get_ok(fx, &hu, &h);
    d1 = put_same(fx, 1, &h, f34, 2);
    d2 = put_same(fx, 1, &h, f5, 1);
    lone = put(fx, 1, f12, 2);
    (void)lone;
    /* d1 already backs an inline alias: it must follow d1 to the holder. */
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &inline_alias, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &inline_alias, &d1, 0, err), 0);

    n = cf_objdb_list_dups(fx->odb, 0, &cur, dups, 8, err);
    assert_int_equal(n, 2);
    assert_same_uuid(&dups[0].holder, &hu);
    assert_same_uuid(&dups[0].dup, &d1);
    assert_same_uuid(&dups[1].dup, &d2);
    assert_int_equal(cf_objdb_list_dups(fx->odb, 0, &cur, dups, 8, err), 0);

    for (int i = 0; i < 2; i++)
        assert_int_equal(cf_objdb_make_alias(fx->odb, &dups[i], err), 0);
    assert_int_equal(cf_objdb_make_alias(fx->odb, &dups[0], err), CF_ENOTFOUND);

    /* All three names read the holder's replicas; the duplicates' own
     * replicas wait on the stale list under their own paths. */
    get_ok(fx, &d1, &r);
    assert_string_equal(r.path, h.path);
    assert_int_equal(r.filers[0], 1);
    get_ok(fx, &inline_alias, &r);
    assert_string_equal(r.path, h.path);
    assert_int_equal(stale_all(fx, st, 8), 3);
    for (int i = 0; i < 3; i++)
        assert_string_not_equal(st[i].path, h.path);
    assert_int_equal(cf_objdb_count(fx->odb, &counts, err), 0);
    assert_true(counts.records == 5 && counts.aliases == 3 && counts.stale == 3);
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(cf_objdb_list_dups(fx->odb, 0, &cur, dups, 8, err), 0);
}

/* A version 1 shard (no alias column, no stale list) is upgraded on open. */
static void test_upgrade_v1(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {1, 2};
    struct cf_objdb_shard *shards = NULL;
    struct cf_objdb_record r;
    struct cf_uuid u, a;
    char err[CF_ERR_LEN] = "", uri[CF_DB_URI_MAX + 1];
    struct cf_db *db = NULL;
    size_t n = 0;

    add_shard(fx, 1, NULL);
    u = put(fx, 1, f, 2);
    cf_objdb_shard_list(fx->odb, &shards, &n);
    assert_int_equal(n, 1);
    if (strncmp(shards[0].location, "sqlite:", 7) == 0 && shards[0].location[7] != '/')
        (void)snprintf(uri, sizeof(uri), "sqlite:%s/%s", fx->dir, shards[0].location + 7);
    else
        (void)snprintf(uri, sizeof(uri), "%s", shards[0].location);
    free(shards);
    cf_objdb_close(fx->odb);
    fx->odb = NULL;

    assert_int_equal(cf_db_open(uri, &db, err), 0);
    assert_int_equal(cf_db_exec(db,
                                "DROP INDEX objects_by_alias; DROP INDEX objects_by_content;"
                                " DROP TABLE stale_replicas; ALTER TABLE objects DROP COLUMN alias;"
                                " UPDATE coffer_meta SET version = 1",
                                err),
                     0);
    cf_db_close(db);

    open_odb(fx);
    get_ok(fx, &u, &r);
    assert_int_equal(r.nfilers, 2);
    assert_int_equal(cf_objdb_reserve(fx->odb, 1, &a, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &a, &u, 0, err), 0);
    assert_int_equal(cf_objdb_replica_move(fx->odb, &u, 1, 3, true, err), 0);
    {
        struct cf_objdb_stale st[2];
        assert_int_equal(stale_all(fx, st, 2), 1);
    }
    /* And it says version 3 now: a second open does not upgrade again. */
    cf_objdb_close(fx->odb);
    fx->odb = NULL;
    open_odb(fx);
    {
        struct cf_objdb_record hr;
        get_ok(fx, &a, &r);
        get_ok(fx, &u, &hr);
        assert_string_equal(r.path, hr.path);
        assert_int_equal(r.nfilers, 2);
    }
}

/* The location of the fixture's only shard as a URI to open. */
static void shard_uri(struct fixture *fx, char *uri, size_t cap)
{
    struct cf_objdb_shard *shards = NULL;
    size_t n = 0;

    cf_objdb_shard_list(fx->odb, &shards, &n);
    assert_int_equal(n, 1);
    if (strncmp(shards[0].location, "sqlite:", 7) == 0 && shards[0].location[7] != '/')
        (void)snprintf(uri, cap, "sqlite:%s/%s", fx->dir, shards[0].location + 7);
    else
        (void)snprintf(uri, cap, "%s", shards[0].location);
    free(shards);
}

/* Whether the shard at uri has index objects_marked, and its version. */
static void shard_state(const char *uri, bool *has_index, int64_t *version)
{
    static const char sql_sqlite[] =
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'objects_marked'";
    static const char sql_pg[] = "SELECT count(*) FROM pg_indexes WHERE schemaname ="
                                 " current_schema() AND indexname = 'objects_marked'";
    char err[CF_ERR_LEN] = "";
    struct cf_db *db = NULL;
    int64_t n = 0;

    assert_int_equal(cf_db_open(uri, &db, err), 0);
    assert_int_equal(cf_db_run(db, &n, 1, err,
                               strcmp(cf_db_backend(db), "postgres") == 0 ? sql_pg : sql_sqlite,
                               ""),
                     CF_DB_ROW);
    *has_index = n > 0;
    assert_int_equal(
        cf_db_run(db, version, 1, err, "SELECT version FROM coffer_meta WHERE id = 1", ""),
        CF_DB_ROW);
    cf_db_close(db);
}

/* A version 2 shard gets the index of marked records on open, and the purge
 * pass's listing finds the same records through it. */
static void test_upgrade_v2(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {1, 2};
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_uuid u[3], out[4];
    char err[CF_ERR_LEN] = "", uri[CF_DB_URI_MAX + 1];
    struct cf_db *db = NULL;
    bool has = false;
    int64_t version = 0;

    add_shard(fx, 1, NULL);
    for (int i = 0; i < 3; i++)
        u[i] = put(fx, 1, f, 2);
    shard_uri(fx, uri, sizeof(uri));
    shard_state(uri, &has, &version);
    assert_true(has);
    assert_int_equal(version, 4);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u[1], true, err), 0);
    cf_objdb_close(fx->odb);
    fx->odb = NULL;

    assert_int_equal(cf_db_open(uri, &db, err), 0);
    assert_int_equal(
        cf_db_exec(db, "DROP INDEX objects_marked; UPDATE coffer_meta SET version = 2", err), 0);
    cf_db_close(db);

    open_odb(fx);
    shard_state(uri, &has, &version);
    assert_true(has);
    assert_int_equal(version, 4);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &u[2], true, err), 0);
    assert_int_equal(cf_objdb_list_marked(fx->odb, cf_wall_ms(), &cur, out, 4, err), 2);
    assert_same_uuid(&out[0], &u[1]);
    assert_same_uuid(&out[1], &u[2]);
}

/* The URI of shard id of the fixture, to open it beside objdb. */
static void shard_uri_of(struct fixture *fx, uint16_t id, char *uri, size_t cap)
{
    struct cf_objdb_shard *shards = NULL;
    size_t n = 0;

    cf_objdb_shard_list(fx->odb, &shards, &n);
    for (size_t i = 0; i < n; i++) {
        if (shards[i].id != id)
            continue;
        if (strncmp(shards[i].location, "sqlite:", 7) == 0 && shards[i].location[7] != '/')
            (void)snprintf(uri, cap, "sqlite:%s/%s", fx->dir, shards[i].location + 7);
        else
            (void)snprintf(uri, cap, "%s", shards[i].location);
    }
    free(shards);
}

/* Count rows of `sql` (a count query) in shard id. */
static int64_t shard_count(struct fixture *fx, uint16_t id, const char *sql)
{
    char err[CF_ERR_LEN] = "", uri[CF_DB_URI_MAX + 1] = "";
    struct cf_db *db = NULL;
    int64_t n = -1;

    shard_uri_of(fx, id, uri, sizeof(uri));
    assert_int_equal(cf_db_open(uri, &db, err), 0);
    assert_int_equal(cf_db_run(db, &n, 1, err, sql, ""), CF_DB_ROW);
    cf_db_close(db);
    return n;
}

/* An alias in another shard than its holder (objdb.h "Dedupe"): reads
 * through to the holder, keeps it from the purge through the ref in the
 * holder's shard, and drops the ref when it goes; a ref left without its
 * alias (a crash between the two steps) holds the holder until the sweep
 * drops it; the job's listing pairs content across shards. */
static void test_cross_alias(void **state)
{
    struct fixture *fx = *state;
    const uint32_t f[2] = {4, 6}, f7[1] = {7};
    struct cf_objdb_record holder, ar;
    struct cf_objdb_cursor cur = {0, 0, false};
    struct cf_objdb_counts counts;
    struct cf_objdb_dup dups[4];
    struct cf_uuid h, a, h2, d;
    uint64_t kept = 0, dropped = 0;
    char err[CF_ERR_LEN] = "", sql[256];
    struct cf_db *db = NULL;

    add_shard(fx, 1, NULL);
    add_shard(fx, 2, NULL);
    h = put(fx, 1, f, 2);
    get_ok(fx, &h, &holder);
    assert_int_equal(cf_objdb_reserve(fx->odb, 2, &a, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &a, &h, 0, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &a, &h, 0, err), CF_EEXIST);
    assert_int_equal(shard_count(fx, 1, "SELECT count(*) FROM alias_refs"), 1);

    get_ok(fx, &a, &ar);
    assert_same_uuid(&ar.uuid, &a);
    assert_string_equal(ar.path, holder.path);
    assert_int_equal(ar.nfilers, 2);
    assert_int_equal(ar.filers[1], 6);
    assert_memory_equal(ar.sha512, holder.sha512, 64);
    assert_int_equal(cf_objdb_replica_add(fx->odb, &a, 9, err), CF_EINVAL);
    {
        struct cf_objdb_record recs[4];
        assert_int_equal(cf_objdb_list_records(fx->odb, 0, &cur, recs, 4, err), 1);
        assert_same_uuid(&recs[0].uuid, &h);
    }
    assert_int_equal(cf_objdb_count(fx->odb, &counts, err), 0);
    assert_true(counts.records == 2 && counts.aliases == 1 && counts.deficit == 0);

    /* The holder deleted keeps its bytes for the alias in the other shard,
     * and the sweep keeps a ref whose alias is there. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &h, true, err), 0);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &h, err), CF_EBUSY);
    assert_int_equal(cf_objdb_ref_sweep(fx->odb, cf_wall_ms(), &kept, &dropped, err), 0);
    assert_true(kept == 1 && dropped == 0);
    get_ok(fx, &a, &ar);
    assert_false(ar.deleted);
    assert_string_equal(ar.path, holder.path);
    /* No new alias of a deleted holder, in any shard. */
    assert_int_equal(cf_objdb_reserve(fx->odb, 2, &d, err), 0);
    assert_int_equal(cf_objdb_commit_alias(fx->odb, &d, &h, 0, err), CF_ENOTFOUND);
    assert_int_equal(shard_count(fx, 1, "SELECT count(*) FROM alias_refs"), 1);

    /* The alias goes, and its ref with it; then the holder can. */
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &a, true, err), 0);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &a, err), 0);
    assert_int_equal(cf_objdb_get(fx->odb, &a, CF_OBJDB_GET_DELETED, &ar, err), CF_ENOTFOUND);
    assert_int_equal(shard_count(fx, 1, "SELECT count(*) FROM alias_refs"), 0);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &h, err), 0);

    /* A crash after step 1: a ref, no alias. The holder is held until the
     * sweep (past the grace time) voids that commit and drops the ref. */
    h2 = put(fx, 1, f, 2);
    assert_int_equal(cf_objdb_reserve(fx->odb, 2, &d, err), 0);
    shard_uri_of(fx, 1, sql, sizeof(sql));
    assert_int_equal(cf_db_open(sql, &db, err), 0);
    assert_int_equal(cf_db_run(db, NULL, 0, err,
                               "INSERT INTO alias_refs (object_id, alias_shard, alias_oid,"
                               " alias_rnd, since) VALUES (?1, 2, ?2, ?3, ?4)",
                               "iiii", (int64_t)h2.oid, (int64_t)d.oid, (int64_t)1,
                               (int64_t)(cf_wall_ms() - 5000)),
                     CF_DB_DONE);
    cf_db_close(db);
    assert_int_equal(cf_objdb_set_deleted(fx->odb, &h2, true, err), 0);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &h2, err), CF_EBUSY);
    assert_int_equal(cf_objdb_ref_sweep(fx->odb, cf_wall_ms() - 60000, &kept, &dropped, err), 0);
    assert_true(kept == 0 && dropped == 0); /* within the grace time */
    assert_int_equal(cf_objdb_ref_sweep(fx->odb, cf_wall_ms(), &kept, &dropped, err), 0);
    assert_true(kept == 0 && dropped == 1);
    assert_int_equal(shard_count(fx, 2, "SELECT count(*) FROM alias_voids"), 1);
    assert_int_equal(cf_objdb_move_deleted(fx->odb, &h2, err), 0);

    /* The job's listing: the same content in shard 1 and shard 2 pairs the
     * higher shard's record with the lower's; turning it into an alias
     * sends its own replica to the stale list. */
    h = put(fx, 1, f, 2);
    get_ok(fx, &h, &holder);
    d = put_same(fx, 2, &holder, f7, 1);
    (void)put(fx, 2, f7, 1); /* other content: no pair */
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(cf_objdb_list_dups(fx->odb, holder.size + 1, &cur, dups, 4, err), 0);
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(cf_objdb_list_dups(fx->odb, 0, &cur, dups, 4, err), 1);
    assert_same_uuid(&dups[0].holder, &h);
    assert_same_uuid(&dups[0].dup, &d);
    assert_int_equal(cf_objdb_make_alias(fx->odb, &dups[0], err), 0);
    assert_int_equal(cf_objdb_make_alias(fx->odb, &dups[0], err), CF_ENOTFOUND);
    get_ok(fx, &d, &ar);
    assert_string_equal(ar.path, holder.path);
    assert_int_equal(ar.nfilers, 2);
    {
        struct cf_objdb_stale st[4];
        assert_int_equal(stale_all(fx, st, 4), 1);
        assert_int_equal(st[0].filer, 7);
        assert_int_equal(st[0].uuid.shard, 2);
    }
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(cf_objdb_list_dups(fx->odb, 0, &cur, dups, 4, err), 0);
    assert_int_equal(shard_count(fx, 1, "SELECT count(*) FROM alias_refs"), 1);
    /* The holder cannot become an alias of its own shard while a ref names it. */
    {
        struct cf_objdb_dup same = {.holder = put_same(fx, 1, &holder, f, 2), .dup = h};
        assert_int_equal(cf_objdb_make_alias(fx->odb, &same, err), CF_ENOTFOUND);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_and_replace, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_stale_protocol, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_stale_hold, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_upload_hold_and_orphans, objdbtest_setup,
                                        objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_stale_pages, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_walks_agree, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_alias, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_xform, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_dups_xform, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_dups, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_cross_alias, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_v1, objdbtest_setup, objdbtest_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_v2, objdbtest_setup, objdbtest_teardown),
    };

    cf_log_init("test_objdb_maint", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
