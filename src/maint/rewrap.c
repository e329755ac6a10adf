/*
 * rewrap.c -- the rewrap job (maint.h): key rotation of encrypted objects.
 *
 * Every record of the object map, then of the deleted map (whose records
 * may still be undeleted), whose key is wrapped under a master key other
 * than the newest of the app's --master-key-file (keyring.h) gets its
 * key unwrapped and wrapped again under the newest, written as a compare
 * and swap (objdb.h cf_objdb_set_key): a record changed meanwhile is left
 * for the next run. The object's bytes do not change: only the record.
 * Safe to stop and start again: the walk resumes from its checkpoint, and
 * a record already under the newest key is counted "current" and skipped.
 *
 * The cursor is keyed (maint_int.h): 0 the object map, 1 the deleted map.
 *
 * Job report (counters): records (seen in the object map), deleted_map
 * (records of the deleted map that keep a key), encrypted, rewrapped, current
 * (already under the newest key), failed (the key could not be unwrapped:
 * its master key is not in the file, or it does not match; logged).
 */
#include "coffer/maint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffer/err.h"
#include "coffer/keyring.h"
#include "coffer/log.h"
#include "coffer/scribe.h"
#include "coffer/uuid.h"
#include "maint_int.h"

/* The walk's keys: which map it is in. */
#define PHASE_OBJECTS 0u
#define PHASE_DELETED 1u

struct rewrap {
    struct cf_job *j;
    uint32_t phase;
    const struct cf_keyring *kr;
    struct cf_objdb_record *page; /* CF__MAINT_BATCH */
};

/* Rewrap one record's key. Returns 0, or a db.h error that stops the job. */
static int rewrap_one(struct rewrap *rw, const struct cf_objdb_record *rec, char *err)
{
    struct cf_objdb *odb = cf_job_env(rw->j)->odb;
    uint8_t key[CF_KEYRING_KEY_LEN], wrapped[CF_KEYRING_WRAPPED_LEN];
    char text[CF_UUID_SIZE], why[CF_ERR_LEN] = "";
    int rc;

    if (rw->phase == PHASE_OBJECTS) {
        cf_job_count(rw->j, "records", 1);
        cf_job_done(rw->j, 1, 0);
    } else {
        cf_job_count(rw->j, "deleted_map", 1);
    }
    if ((rec->xform & CF_OBJDB_XFORM_E) == 0 || rec->key_len == 0)
        return 0;
    cf_job_count(rw->j, "encrypted", 1);
    if (cf_keyring_kid_of(rec->key, rec->key_len) == cf_keyring_newest(rw->kr)) {
        cf_job_count(rw->j, "current", 1);
        return 0;
    }
    cf_uuid_format(&rec->uuid, text);
    rc = cf_keyring_unwrap(rw->kr, rec->key, rec->key_len, key, why);
    if (rc == 0)
        rc = cf_keyring_wrap(rw->kr, key, wrapped, why);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc < 0) {
        cf_job_count(rw->j, "failed", 1);
        cf_log(CF_LOG_ERROR, "rewrap: object %s: %s", text, why);
        cf_job_log(rw->j, CF_SCRIBE_CHECKSUM, 0, text, "rewrap job: cannot unwrap the key: %s",
                   why);
        return 0;
    }
    rc = cf_objdb_set_key(odb, &rec->uuid, rec->key, rec->key_len, wrapped, sizeof(wrapped), why);
    if (rc == CF_ENOTFOUND) {
        cf_log(CF_LOG_DEBUG, "rewrap: %s left alone (changed since listed): %s", text, why);
        return 0;
    }
    if (rc < 0) {
        cf_err_set(err, "rewrap: %s: %s", text, why);
        return rc;
    }
    cf_job_count(rw->j, "rewrapped", 1);
    return 0;
}

static int list_page(void *ctx, struct cf_objdb_cursor *c, struct cf_uuid *at, size_t max,
                     char *err)
{
    struct rewrap *rw = ctx;
    struct cf_objdb *odb = cf_job_env(rw->j)->odb;
    int n = rw->phase == PHASE_OBJECTS ? cf_objdb_list_records(odb, 0, c, rw->page, max, err)
                                       : cf_objdb_list_deleted_keys(odb, c, rw->page, max, err);

    for (int i = 0; i < n; i++)
        at[i] = rw->page[i].uuid;
    return n;
}

/* A stop or an error part way redoes the page on resume: records already
 * rewrapped are then "current". */
static int handle_page(void *ctx, struct cf__maint_page *pg, char *err)
{
    struct rewrap *rw = ctx;

    for (size_t i = 0; i < pg->n; i++) {
        int rc = cf_job_should_stop(rw->j) ? CF_ECANCELED : rewrap_one(rw, &rw->page[i], err);
        if (rc < 0) {
            pg->done = i;
            return rc;
        }
    }
    return 0;
}

static int rewrap_check(const struct cf_job_env *env, json_t *args, char *err)
{
    (void)args;
    if (env->keyring == NULL) {
        cf_err_set(err, "this app has no --master-key-file: nothing to rewrap with");
        return CF_EINVAL;
    }
    return 0;
}

static int rewrap_run(struct cf_job *j, char *err)
{
    static const char *const names[] = {"records",   "deleted_map", "encrypted",
                                        "rewrapped", "current",     "failed"};
    const struct cf_job_env *env = cf_job_env(j);
    struct rewrap rw = {.j = j, .kr = env->keyring};
    struct cf__maint_walk w = {.j = j,
                               .batch = CF__MAINT_BATCH,
                               .keyed = true,
                               .list = list_page,
                               .handle = handle_page,
                               .ctx = &rw};
    struct cf_objdb_counts k;
    char cerr[CF_ERR_LEN];
    int rc;

    rc = rewrap_check(env, NULL, err);
    if (rc == 0)
        rc = cf__maint_walk_resume(&w, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < CF_ARRAY_LEN(names); i++)
        cf_job_count(j, names[i], 0);
    if (cf_objdb_count(env->odb, &k, cerr) == 0)
        cf_job_set_total(j, k.records > k.aliases ? k.records - k.aliases : 0, 0);
    if (w.key > PHASE_DELETED) {
        cf_err_set(err, "bad saved cursor: map %" PRIu32, w.key);
        return CF_EINVAL;
    }
    rw.page = cf_xcalloc(CF__MAINT_BATCH, sizeof(*rw.page));
    rw.phase = w.key;
    rc = cf__maint_walk_run(&w, err);
    if (rc == 0 && rw.phase == PHASE_OBJECTS && w.cur.done) {
        rw.phase = w.key = PHASE_DELETED;
        memset(&w.cur, 0, sizeof(w.cur));
        rc = cf__maint_walk_run(&w, err);
    }
    free(rw.page);
    if (rc < 0)
        return rc;
    cf_log(CF_LOG_INFO,
           "rewrap done under master key %" PRIu32 ": encrypted=%" PRIu64 " rewrapped=%" PRIu64
           " failed=%" PRIu64,
           cf_keyring_newest(rw.kr), cf_job_counter(j, "encrypted"), cf_job_counter(j, "rewrapped"),
           cf_job_counter(j, "failed"));
    if (cf_job_counter(j, "failed") > 0) {
        cf_err_set(err,
                   "%" PRIu64 " key(s) could not be unwrapped (see the log): keep the old master "
                   "keys until they are",
                   cf_job_counter(j, "failed"));
        return CF_EINTERNAL;
    }
    return 0;
}

/* No arguments: it moves no bytes. */
const struct cf_job_kind cf_job_rewrap = {
    .name = "rewrap",
    .check = rewrap_check,
    .run = rewrap_run,
};
