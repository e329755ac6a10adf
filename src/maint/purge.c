/*
 * purge.c -- the delete service and the purge service (purge.h).
 */
#include "coffer/purge.h"
#include "coffer/replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/uuid.h"

/* Holders retried at the end of a walk, at most (a pass meeting more only
 * counts the rest as held; the next pass moves them). */
#define HELD_RETRY_MAX 1024

/* Move one marked record. Returns 1 when it is a holder with live aliases. */
static int move_one(struct cf_objdb *odb, const struct cf_uuid *u, bool last_try,
                    struct cf_purge_stats *st)
{
    char text[CF_UUID_SIZE], why[CF_ERR_LEN] = "";
    int r = cf_objdb_move_deleted(odb, u, why);

    cf_uuid_format(u, text);
    if (r == 0) {
        st->moved++;
        cf_log(CF_LOG_INFO, "delete: object %s moved to the deleted-object map", text);
    } else if (r == CF_EINVAL || r == CF_ENOTFOUND) {
        /* Undeleted (or moved by another pass) since it was listed. */
        st->restored++;
        cf_log(CF_LOG_DEBUG, "delete: object %s left alone: %s", text, why);
    } else if (r == CF_EBUSY) {
        if (!last_try)
            return 1;
        /* objdb.h: a holder with live aliases (or, as for any db.h call, a
         * busy database): either way a later pass tries again. */
        st->held++;
        cf_log(CF_LOG_INFO, "delete: object %s stays for now: %s", text, why);
    } else {
        cf_log(CF_LOG_WARN, "delete: cannot move object %s: %s", text, why);
    }
    return 0;
}

/* The delete service: move marked records past the retention to the map.
 * A holder often comes before its aliases in the walk (a lower object id),
 * so one held back by aliases deleted in the same pass is tried again once
 * the walk has moved them. */
static int move_marked(struct cf_objdb *odb, uint64_t before_ms, struct cf_purge_stats *st,
                       char *err)
{
    struct cf_objdb_cursor cur = {0};
    struct cf_uuid batch[CF_PURGE_BATCH], *held = NULL;
    size_t nheld = 0;
    int rc = 0;

    while (!cur.done) {
        rc = cf_objdb_list_marked(odb, before_ms, &cur, batch, CF_ARRAY_LEN(batch), err);
        if (rc < 0)
            goto out;
        for (int i = 0; i < rc; i++) {
            if (move_one(odb, &batch[i], nheld == HELD_RETRY_MAX, st) == 0)
                continue;
            if (held == NULL)
                held = cf_xcalloc(HELD_RETRY_MAX, sizeof(*held));
            held[nheld++] = batch[i];
        }
    }
    for (size_t i = 0; i < nheld; i++)
        (void)move_one(odb, &held[i], true, st);
    rc = 0;
out:
    free(held);
    return rc;
}

/* Where a pass reports the DELETEs filers failed. */
struct events {
    struct cf_scribe *scribe; /* may be NULL */
    uint64_t failed;          /* DELETEs failed in this pass */
};

/* Remove one replica. Returns true when the filer's replica is known gone. */
static bool purge_replica(struct cf_objdb *odb, const struct cf_objdb_deleted *d,
                          const struct cf_objdb_filer *f, long timeout_ms, const char *text,
                          struct cf_purge_stats *st, struct events *ev, bool *restored)
{
    char url[CF_REPLICA_URL_MAX], why[CF_ERR_LEN] = "";
    int rc, gone;

    /* DESIGN §4: SENT is durable before the DELETE goes out, so an undelete
     * can never bring back a record whose bytes are being removed. */
    rc = cf_objdb_set_purge_state(odb, &d->uuid, f->id, CF_OBJDB_PURGE_SENT, why);
    if (rc == CF_ENOTFOUND) {
        *restored = true;
        return false;
    }
    if (rc < 0) {
        st->failed++;
        cf_log(CF_LOG_WARN, "purge: object %s on filer %" PRIu32 " not purged: %s", text, f->id,
               why);
        return false;
    }
    if (cf_replica_url(f->url, d->path, url) < 0) {
        st->failed++;
        cf_log(CF_LOG_ERROR, "purge: object %s on filer %" PRIu32 " not purged: URL too long", text,
               f->id);
        return false;
    }
    gone = cf_replica_delete(url, timeout_ms, why);
    if (gone < 0) {
        st->failed++;
        cf_log(CF_LOG_WARN, "purge: object %s on filer %" PRIu32 " not purged: %s", text, f->id,
               why);
        if (ev->failed++ < CF_PURGE_EVENTS_MAX)
            (void)cf_scribe_event(ev->scribe, CF_SCRIBE_FILER_ERROR, f->id, text,
                                  "purge: DELETE failed (retried by the next pass): %s", why);
        return false;
    }
    rc = cf_objdb_set_purge_state(odb, &d->uuid, f->id, CF_OBJDB_PURGE_DONE, why);
    if (rc < 0) {
        /* The bytes are gone but SENT stays: the next pass sends the
         * DELETE again, gets 404, and records DONE. */
        st->failed++;
        cf_log(CF_LOG_WARN, "purge: object %s on filer %" PRIu32 " purged, not recorded: %s", text,
               f->id, why);
        return false;
    }
    st->purged++;
    cf_log(CF_LOG_INFO, "purge: object %s purged from filer %" PRIu32 " (%s)", text, f->id,
           gone == 1 ? "already absent" : "deleted");
    return true;
}

static void purge_record(struct cf_objdb *odb, const struct cf_objdb_deleted *d,
                         const struct cf_objdb_filer *fl, size_t nfl, long timeout_ms,
                         struct cf_purge_stats *st, struct events *ev)
{
    char text[CF_UUID_SIZE], why[CF_ERR_LEN] = "";
    bool restored = false;
    unsigned left = 0;
    int rc;

    cf_uuid_format(&d->uuid, text);
    for (unsigned i = 0; i < d->nfilers && !restored; i++) {
        const struct cf_objdb_filer *f = cf_objdb_filer_find(fl, nfl, d->filers[i]);

        if (d->state[i] == CF_OBJDB_PURGE_DONE)
            continue;
        if (f == NULL || !cf_objdb_filer_up(f)) {
            st->skipped++;
            left++;
            cf_log(CF_LOG_INFO, "purge: object %s on filer %" PRIu32 " not purged: filer %s", text,
                   d->filers[i], f == NULL ? "not registered" : f->status);
            continue;
        }
        if (!purge_replica(odb, d, f, timeout_ms, text, st, ev, &restored))
            left++;
    }
    if (restored) {
        st->restored++;
        cf_log(CF_LOG_INFO, "purge: object %s was undeleted; left alone", text);
        return;
    }
    if (left > 0) {
        st->pending++;
        return;
    }
    rc = cf_objdb_remove_deleted(odb, &d->uuid, why);
    if (rc == 0) {
        st->removed++;
        cf_log(CF_LOG_INFO, "purge: object %s removed: no replica left", text);
    } else {
        st->pending++;
        cf_log(CF_LOG_WARN, "purge: cannot remove object %s: %s", text, why);
    }
}

int cf_purge_run(struct cf_objdb *odb, struct cf_scribe *scribe, uint64_t now_ms,
                 uint64_t retention_ms, long timeout_ms, struct cf_purge_stats *st, char *err)
{
    struct events ev = {.scribe = scribe};
    struct cf_objdb_cursor cur = {0};
    struct cf_objdb_deleted *batch = NULL;
    struct cf_objdb_filer *fl = NULL;
    uint64_t now = now_ms ? now_ms : cf_wall_ms(),
             before = now > retention_ms ? now - retention_ms : 0;
    size_t nfl = 0;
    int rc;

    memset(st, 0, sizeof(*st));
    rc = move_marked(odb, before, st, err);
    if (rc < 0)
        goto out;
    /* The summary table as the tracker last saw it: filers that are down are
     * skipped rather than waited for. */
    rc = cf_objdb_filer_list(odb, &fl, &nfl, err);
    if (rc < 0)
        goto out;
    batch = cf_xcalloc(CF_PURGE_BATCH, sizeof(*batch));
    while (!cur.done) {
        rc = cf_objdb_list_deleted(odb, before, &cur, batch, CF_PURGE_BATCH, err);
        if (rc < 0)
            goto out;
        for (int i = 0; i < rc; i++)
            purge_record(odb, &batch[i], fl, nfl, timeout_ms, st, &ev);
    }
    rc = 0;
out:
    if (ev.failed > CF_PURGE_EVENTS_MAX)
        (void)cf_scribe_event(scribe, CF_SCRIBE_FILER_ERROR, 0, NULL,
                              "purge: %" PRIu64 " more DELETEs failed in this pass (see the log)",
                              ev.failed - CF_PURGE_EVENTS_MAX);
    free(batch);
    free(fl);
    return rc;
}

int cf_purge_one(struct cf_objdb *odb, struct cf_scribe *scribe, const struct cf_uuid *uuid,
                 long timeout_ms, struct cf_purge_stats *st, char *err)
{
    struct events ev = {.scribe = scribe};
    struct cf_objdb_record rec;
    struct cf_objdb_deleted d;
    struct cf_objdb_filer *fl = NULL;
    char text[CF_UUID_SIZE];
    size_t nfl = 0;
    int rc;

    memset(st, 0, sizeof(*st));
    cf_uuid_format(uuid, text);
    rc = cf_objdb_get(odb, uuid, CF_OBJDB_GET_DELETED, &rec, err);
    if (rc < 0 && rc != CF_ENOTFOUND)
        return rc;
    if (rc == 0) {
        rc = rec.deleted ? cf_objdb_move_deleted(odb, uuid, err) : CF_EINVAL;
        if (rc == CF_EINVAL) {
            cf_err_set(err, "object %s is not deleted: DELETE it first", text);
            return CF_EEXIST;
        }
        if (rc == CF_EBUSY) {
            cf_err_set(err,
                       "object %s holds bytes that live aliases (dedupe) still use: they are "
                       "purged with the last alias",
                       text);
            return CF_EEXIST;
        }
        if (rc < 0 && rc != CF_ENOTFOUND)
            return rc;
        if (rc == 0) {
            st->moved++;
            cf_log(CF_LOG_INFO, "delete: object %s moved to the deleted-object map (purge now)",
                   text);
        }
    }
    rc = cf_objdb_get_deleted(odb, uuid, &d, err);
    if (rc == CF_ENOTFOUND) {
        /* An alias is removed by its move: nothing else to do. */
        if (st->moved > 0)
            return 0;
        cf_err_set(err, "no object %s (unknown, or purged already)", text);
        return CF_ENOTFOUND;
    }
    if (rc < 0)
        return rc;
    rc = cf_objdb_filer_list(odb, &fl, &nfl, err);
    if (rc < 0)
        return rc;
    purge_record(odb, &d, fl, nfl, timeout_ms, st, &ev);
    free(fl);
    return 0;
}
