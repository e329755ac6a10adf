/*
 * stale.c -- delete replicas that records no longer list (maint.h).
 *
 * Rebalance, rebuild (to another filer) and dedupe drop a replica from a
 * record in one shard transaction; its bytes go to the stale-replica list
 * (objdb.h) instead of being deleted at once, because a reader (objsrv)
 * may hold the older record in its cache and still GET that copy. Once the
 * row is older than the readers' cache (the caller's delay), this pass
 * deletes it: claim (SENT, durable) -> DELETE -> done, as the purge does,
 * so a record that lists the filer again in between keeps its bytes.
 */
#include "coffer/maint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/replica.h"
#include "coffer/uuid.h"

#define BATCH 64

static void drain_one(struct cf_objdb *odb, const struct cf_objdb_stale *st,
                      const struct cf_objdb_filer *fl, size_t nfl, long timeout_ms,
                      struct cf_stale_stats *out)
{
    const struct cf_objdb_filer *f = cf_objdb_filer_find(fl, nfl, st->filer);
    char url[CF_REPLICA_URL_MAX], why[CF_ERR_LEN] = "";
    int rc;

    if (f == NULL || !cf_objdb_filer_up(f)) {
        out->skipped++;
        return;
    }
    rc = cf_objdb_stale_claim(odb, st, why);
    if (rc == 1) {
        out->kept++;
        return;
    }
    if (rc == CF_ENOTFOUND)
        return; /* drained by another pass */
    if (rc == CF_EBUSY) {
        out->skipped++; /* held again by a job since it was listed */
        return;
    }
    if (rc < 0) {
        out->failed++;
        cf_log(CF_LOG_WARN, "stale: %s on filer %" PRIu32 " not claimed: %s", st->path, st->filer,
               why);
        return;
    }
    if (cf_replica_url(f->url, st->path, url) < 0) {
        out->failed++;
        return;
    }
    rc = cf_replica_delete(url, timeout_ms, why);
    if (rc < 0) {
        out->failed++;
        cf_log(CF_LOG_WARN, "stale: %s on filer %" PRIu32 " not deleted: %s", st->path, st->filer,
               why);
        return;
    }
    rc = cf_objdb_stale_done(odb, st, why);
    if (rc < 0) {
        /* Deleted but still SENT: the next pass sends it again (404). */
        out->failed++;
        cf_log(CF_LOG_WARN, "stale: %s on filer %" PRIu32 " deleted, not recorded: %s", st->path,
               st->filer, why);
        return;
    }
    out->deleted++;
    cf_log(CF_LOG_DEBUG, "stale: %s deleted from filer %" PRIu32, st->path, st->filer);
}

int cf_stale_drain(struct cf_objdb *odb, uint64_t now_ms, uint64_t delay_ms, long timeout_ms,
                   struct cf_stale_stats *st, char *err)
{
    struct cf_objdb_cursor cur = {0};
    struct cf_objdb_stale *batch = NULL;
    struct cf_objdb_filer *fl = NULL;
    uint64_t now = now_ms ? now_ms : cf_wall_ms(), before = now > delay_ms ? now - delay_ms : 0;
    size_t nfl = 0;
    int rc;

    memset(st, 0, sizeof(*st));
    rc = cf_objdb_filer_list(odb, &fl, &nfl, err);
    if (rc < 0)
        goto out;
    batch = cf_xcalloc(BATCH, sizeof(*batch));
    while (!cur.done) {
        rc = cf_objdb_stale_list(odb, before, &cur, batch, BATCH, err);
        if (rc < 0)
            goto out;
        for (int i = 0; i < rc; i++)
            drain_one(odb, &batch[i], fl, nfl, timeout_ms, st);
    }
    rc = 0;
out:
    free(batch);
    free(fl);
    return rc;
}
