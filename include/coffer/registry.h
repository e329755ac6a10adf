/*
 * registry.h -- the instance registry and the change feed, two small tables
 * of the object database's catalog (objdb.h) that keep several instances of
 * every role in step.
 *
 *   instances  one row per running role instance (patent 950, "discovery"):
 *              id, role, url (as other hosts reach it), dc, version,
 *              started, last_heartbeat, status ("up" or "down"). A row is
 *              keyed by (role, url): an instance restarted at the same URL
 *              takes over its row. The monitor writes it: every instance
 *              heart-beats to a monitor (beat.h), which upserts its row with
 *              the monitor's own clock, and a monitor marks "down" the rows
 *              whose last heartbeat is too old. Rows are never deleted here;
 *              a down row stays visible until its instance beats again.
 *   changes    a sequence of objects marked deleted (seq, uuid, at): the app
 *              appends one when it marks an object deleted, and the objsrvs
 *              read the rows after the last seq they saw (GET /v1/changes on
 *              the app) to drop those objects from their record caches.
 *              seq increases; a reader should re-read a short overlap, since
 *              on PostgreSQL two concurrent inserts may commit out of seq
 *              order. Pruned by age; the newest row is always kept, so seq
 *              never goes back.
 *
 * Errors: as db.h, plus those named, with a detail in err (char[CF_ERR_LEN],
 * may be NULL). Threads: every function is thread-safe (objdb.h).
 */
#ifndef COFFER_REGISTRY_H
#define COFFER_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/objdb.h"
#include "coffer/uuid.h"

#define CF_REGISTRY_ROLE_MAX    15
#define CF_REGISTRY_DC_MAX      63
#define CF_REGISTRY_VERSION_MAX 31
#define CF_REGISTRY_STATUS_MAX  7
/* A row down this long is deleted by the monitors (cf_registry_forget). */
#define CF_REGISTRY_FORGET_MS (7ull * 24 * 3600 * 1000)

/* One row of the instances table. Fixed size, caller-owned. */
struct cf_instance {
    uint64_t id; /* assigned by the table; ignored by cf_registry_beat */
    char role[CF_REGISTRY_ROLE_MAX + 1];
    char url[CF_OBJDB_URL_MAX + 1];
    char dc[CF_REGISTRY_DC_MAX + 1]; /* "" when the instance named none */
    char version[CF_REGISTRY_VERSION_MAX + 1];
    uint64_t started_ms;        /* when the instance started (its clock) */
    uint64_t last_heartbeat_ms; /* when a monitor last heard of it (the monitor's clock) */
    char status[CF_REGISTRY_STATUS_MAX + 1]; /* "up" or "down" */
};

/* Record a heartbeat of instance in (borrowed: role, url, dc, version,
 * started_ms, status) at now_ms: insert its row, or update the row of
 * (role, url), and set it "down" if in->status says so (an instance that
 * stops), else "up". Returns 1 when an existing row's status changed
 * ("up" -> "down" or back), 0 otherwise (a new row, or the same status),
 * CF_EINVAL for an empty role or url, a field too long or one with a byte
 * outside printable ASCII (0x20..0x7e), or a db.h error. */
CF_MUST_CHECK int cf_registry_beat(struct cf_objdb *odb, const struct cf_instance *in,
                                   uint64_t now_ms, char *err);

/* Mark "down" every "up" row whose last heartbeat is before before_ms.
 * Idempotent, so any number of monitors may run it: each changed row is
 * reported to one caller. Returns the number of rows it changed (>= 0),
 * with those rows in *down (caller owns; free(); NULL when none) unless
 * down is NULL, or a db.h error (*down NULL). */
CF_MUST_CHECK int cf_registry_mark_down(struct cf_objdb *odb, uint64_t before_ms,
                                        struct cf_instance **down, char *err);

/* Delete every "down" row whose last heartbeat is before before_ms (an
 * instance gone for good, or one that moved to another URL), so the table
 * does not grow with every restart on a new port. Returns the number of
 * rows deleted (>= 0) or a db.h error. */
CF_MUST_CHECK int cf_registry_forget(struct cf_objdb *odb, uint64_t before_ms, char *err);

/* Every row, by role then url. On success *out is an array of *n entries
 * (caller owns; free() it; NULL when *n is 0). Returns 0, CF_ECORRUPT for a
 * row that does not fit, or a db.h error. */
CF_MUST_CHECK int cf_registry_list(struct cf_objdb *odb, struct cf_instance **out, size_t *n,
                                   char *err);

/* One row of the changes table. */
struct cf_change {
    uint64_t seq;
    char uuid[CF_UUID_SIZE];
    uint64_t at_ms;
};

/* Append "uuid was marked deleted" at at_ms. Returns 0 or a db.h error. */
CF_MUST_CHECK int cf_changes_add(struct cf_objdb *odb, const struct cf_uuid *uuid, uint64_t at_ms,
                                 char *err);

/* Up to cap rows with seq > after, by seq, into out (cap entries,
 * caller-owned); *n is how many. *newest is the largest seq in the table
 * and *oldest the smallest (both 0 when it is empty): a reader whose
 * `after` is below *oldest - 1 missed rows that were pruned. Returns 0 or
 * a db.h error. */
CF_MUST_CHECK int cf_changes_list(struct cf_objdb *odb, uint64_t after, struct cf_change *out,
                                  size_t cap, size_t *n, uint64_t *oldest, uint64_t *newest,
                                  char *err);

/* Delete the rows older than before_ms, except the newest row. Returns the
 * number deleted, or a db.h error. */
CF_MUST_CHECK int cf_changes_prune(struct cf_objdb *odb, uint64_t before_ms, char *err);

#endif
