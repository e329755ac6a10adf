/*
 * objdb.h -- the sharded object database (DESIGN §3, patent FIG. 5A-7).
 *
 * Role: where every object is. The `app` role records an object here once
 * its replicas are durable, and looks it up by UUID; maintenance jobs walk
 * it per filer. Layout:
 *
 *   catalog (one database, its URI given to cf_objdb_open)
 *     shards  (500C)  id, location (a db.h URI), read_only, obsolete, created,
 *                     dc, max_objects (0: no limit but the 48-bit id space)
 *     filers  (700)   id, url, weight, read_weight, total/used bytes, objects,
 *                     read_only, status, last_seen: the filer summary table
 *   shard N (one database per shard, at its location)
 *     objects          (500A)  the object-filer map: id, rnd, replicas, key,
 *                              deleted flag and time, path, size, sha512, created
 *     object_filers    (500A/500D) (object id, filer id); indexed by
 *                              (filer id, object id), which is the per-filer
 *                              rebuild index: one range scan per shard lists F
 *     deleted_objects, deleted_object_filers  (500B) the deleted-object map,
 *                              with a per-filer "purged" flag so a purge can resume
 *
 * A shard's location is a db.h URI. A relative "sqlite:" path is resolved
 * against the catalog's directory (when the catalog is itself SQLite), so a
 * data directory can move as a whole.
 *
 * Record life cycle (DESIGN §2: "an upload that fails leaves no visible
 * record"):
 *   cf_objdb_reserve  picks a writable shard and hands out an object id and
 *                     64 random bits: the UUID and the filer path are known
 *                     before any byte is sent. Nothing is written per object:
 *                     ids come from a block reserved durably in the shard
 *                     (CF_OBJDB_ID_BLOCK at a time), so an id is never handed
 *                     out twice, even across a crash, and never reused.
 *   cf_objdb_commit   writes the record and its filers in one transaction,
 *                     after every replica is durable (DESIGN §4). Only now
 *                     can a look-up find it. The same transaction ends the
 *                     upload's holds (cf_objdb_upload_hold) of the filers
 *                     it lists, refusing (CF_EBUSY) if one ran out and was
 *                     claimed by the stale drain, and makes the holds of the
 *                     other targets due for the drain. An upload that fails or crashes
 *                     before this leaves no row at all; bytes it left on a
 *                     filer are recognisable by their path
 *                     (cf_uuid_parse_filer_path) and have no record.
 *   cf_objdb_set_deleted  marks (or unmarks) the record deleted.
 *   cf_objdb_move_deleted moves a marked record to the deleted-object map;
 *                     from then on look-ups do not find it.
 *
 * Full shards: a shard takes object ids up to its max_objects (0: up to
 * CF_UUID_OID_MAX). The limit counts ids handed out, not records: ids of
 * failed uploads and the rest of a process's block at exit (at most
 * CF_OBJDB_ID_BLOCK per process start) count too, so set it well above
 * CF_OBJDB_ID_BLOCK outside tests. A full shard takes no new objects, like
 * a read-only one, until its max is raised.
 *
 * Look-up: cf_objdb_get finds a record with one indexed query on one shard
 * (objects by primary key joined with its object_filers rows), and the UUID's
 * random part must match, so a guessed object id finds nothing.
 *
 * The shards table is read at open and cached; a UUID naming a shard not in
 * the cache triggers a re-read of the catalog, so a shard added by another
 * process is found at its first miss. A re-read that does not find the
 * shard it was for holds further ones off for CF_OBJDB_RELOAD_MIN_MS
 * (shardset.h, "Misses"); until then such misses answer CF_ENOTFOUND.
 * Each shard has its own pool of connections.
 *
 * Errors: as db.h (CF_EBUSY, CF_EIO, ...; logged there) plus those named per
 * function, with a detail in err (char[CF_ERR_LEN], may be NULL).
 * Threads: every function is thread-safe, including concurrently with
 * cf_objdb_shard_add; only cf_objdb_close must run alone.
 */
#ifndef COFFER_OBJDB_H
#define COFFER_OBJDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/db.h"
#include "coffer/limits.h"
#include "coffer/uuid.h"

/* Replicas (filers) one record may list. */
#define CF_OBJDB_REPLICAS_MAX 16
/* Bytes of a record's encryption key (a wrapped AES-256-GCM key fits). */
#define CF_OBJDB_KEY_MAX 64
/* A filer's URL and status text, in bytes without the NUL. */
#define CF_OBJDB_URL_MAX    255
#define CF_OBJDB_STATUS_MAX 31
/* A data-center label, in bytes without the NUL: [A-Za-z0-9._-], "" for a
 * filer or shard given none (all unlabelled ones count as one data center). */
#define CF_OBJDB_DC_MAX 32
/* A filer's read weight when the operator gives none (cf_objdb_filer.read_weight). */
#define CF_OBJDB_READ_WEIGHT_DEFAULT 100
/* The largest weight or read weight the operator may give. */
#define CF_OBJDB_WEIGHT_MAX 1000000
/* Object ids a shard reserves durably at a time (see "Record life cycle"):
 * one commit per 1024 uploads; a crash loses at most this many ids of 2^48. */
#define CF_OBJDB_ID_BLOCK 1024
/* Minimum spacing of catalog re-reads caused by UUIDs of shards that do not
 * exist, so a client sending made-up UUIDs cannot turn each request into a
 * catalog read. */
#define CF_OBJDB_RELOAD_MIN_MS 1000
struct cf_objdb;

/* A record's transform (its xform field): the filers hold the client's bytes
 * compressed (zstd) and/or encrypted (AES-256-GCM under the record's key,
 * unwrapped with the operator's master key), in the filer's framing. size
 * and sha512 are always those of the client's bytes; stored_size and
 * stored_sha512 those of what the filers hold, which rebuild, rebalance and
 * audit copy and check. */
#define CF_OBJDB_XFORM_Z   1u /* compressed */
#define CF_OBJDB_XFORM_E   2u /* encrypted: key_len > 0 */
#define CF_OBJDB_XFORM_ALL 3u

/* An object record. Fixed size, caller-owned, no pointers: filled by
 * cf_objdb_get, read by cf_objdb_commit. */
struct cf_objdb_record {
    struct cf_uuid uuid;
    char path[CF_PATH_MAX + 1]; /* where the filers keep the bytes (objpath.h) */
    uint64_t size;
    uint8_t sha512[64];
    unsigned replicas;                      /* wanted copies, 1..CF_OBJDB_REPLICAS_MAX */
    unsigned nfilers;                       /* filers holding a copy, 1..CF_OBJDB_REPLICAS_MAX */
    uint32_t filers[CF_OBJDB_REPLICAS_MAX]; /* ascending in a record from cf_objdb_get */
    size_t key_len;                         /* 0: no encryption key */
    uint8_t key[CF_OBJDB_KEY_MAX];          /* the object key wrapped (keyring.h) */
    unsigned xform;                         /* CF_OBJDB_XFORM_* bits; 0: stored as sent */
    uint64_t stored_size;      /* bytes each filer holds; equals size when xform is 0 */
    uint8_t stored_sha512[64]; /* their SHA-512; equals sha512 when xform is 0 */
    bool deleted;
    uint64_t deleted_ms; /* when marked deleted (ms since the epoch); 0 if not deleted */
    uint64_t created_ms; /* ms since the epoch; cf_objdb_commit uses now when 0 */
};

struct cf_objdb_shard {
    uint16_t id;
    char location[CF_DB_URI_MAX + 1]; /* as stored in the catalog */
    bool read_only;
    bool obsolete;
    uint64_t created_ms;
    char dc[CF_OBJDB_DC_MAX + 1]; /* the data center the database lives in */
    uint64_t max_objects;         /* object ids it may hand out; 0: no limit */
};

struct cf_objdb_filer {
    uint32_t id; /* >= 1; the filer's own --id */
    char url[CF_OBJDB_URL_MAX + 1];
    uint32_t weight;      /* the distributor's: base_weight scaled by fullness and latency */
    uint32_t base_weight; /* the operator's (filer add/update); read only, set from weight */
    /* The operator's weight for reads (filer add/set): among the replicas of an
     * object, readers try filers of higher read weight first (distrib.h,
     * cf_distrib_read_order); 0: only when no other replica answers. */
    uint32_t read_weight;
    uint64_t total_bytes;
    uint64_t used_bytes;
    uint64_t objects;
    bool read_only;
    char status[CF_OBJDB_STATUS_MAX + 1]; /* "online", "offline", ... (free text) */
    uint64_t last_seen_ms;
    char dc[CF_OBJDB_DC_MAX + 1]; /* its data center (see CF_OBJDB_DC_MAX) */
};

/* A position in a walk over every shard (cf_objdb_list_by_filer). Zero it to
 * start; the walk is over when `done` is true. */
struct cf_objdb_cursor {
    uint16_t shard;
    uint64_t after_oid;
    bool done;
};

/* ---- open / close ------------------------------------------------------ */

/* Open the catalog at catalog_uri (borrowed), creating its tables if they do
 * not exist, and every shard it lists, with pool_size connections each (0:
 * cf_db_pool_default(catalog_uri)). On success *out is the object database (caller
 * owns; release with cf_objdb_close). Returns 0, CF_EINVAL (bad URI, or a
 * database that is not a coffer catalog/shard of this version), or a db.h
 * error; nothing is left open on failure. */
CF_MUST_CHECK int cf_objdb_open(const char *catalog_uri, unsigned pool_size, struct cf_objdb **out,
                                char *err);

/* Close every pool. No call may be in progress. NULL is a no-op. */
void cf_objdb_close(struct cf_objdb *odb);

/* Re-read the shards table now (picks up shards and flags changed by
 * another process). Returns 0 or an error; the cache is unchanged on error. */
CF_MUST_CHECK int cf_objdb_refresh(struct cf_objdb *odb, char *err);

/* ---- shards ------------------------------------------------------------ */

/* Create a shard and register it. id 0 picks the next free id. location
 * (borrowed) is a db.h URI, or NULL for "sqlite:shard-XXXX.db" next to a
 * SQLite catalog. The shard's database is created and stamped with its id
 * before the catalog row is written, so a listed shard always exists.
 * On success *id_out (may be NULL) is the id. Returns 0; CF_EEXIST if the id
 * or the location is already registered; CF_EINVAL for an id out of range,
 * a NULL location with a non-SQLite catalog, or a location that holds
 * another shard; or a db.h error. */
CF_MUST_CHECK int cf_objdb_shard_add(struct cf_objdb *odb, uint16_t id, const char *location,
                                     uint16_t *id_out, char *err);

/* Set a shard's flags. A read-only or obsolete shard gets no new objects;
 * its records stay readable. Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_objdb_shard_set(struct cf_objdb *odb, uint16_t id, bool read_only,
                                     bool obsolete, char *err);

/* Set the most object ids shard id hands out (0: no limit but the id
 * space; see "Full shards"). Takes effect in this process at once and in
 * others at their next cf_objdb_refresh. Returns 0, CF_ENOTFOUND, CF_EINVAL
 * (max above CF_UUID_OID_MAX), or a db.h error. */
CF_MUST_CHECK int cf_objdb_shard_set_max(struct cf_objdb *odb, uint16_t id, uint64_t max,
                                         char *err);

/* The object ids of shard id used so far: the highest of the ids this
 * process handed out and those recorded in the shard (live or deleted), so
 * one indexed read of the shard. Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_objdb_shard_used(struct cf_objdb *odb, uint16_t id, uint64_t *used, char *err);

/* A snapshot of the cached shards table, in id order. On success *out is an
 * array of *n entries (caller owns; free() it; NULL when *n is 0). Cannot
 * fail. The entries' dc is left empty (cf_objdb_shard_dc reads it). */
void cf_objdb_shard_list(struct cf_objdb *odb, struct cf_objdb_shard **out, size_t *n);

/* Label shard id with data center dc (borrowed; cf_objdb_dc_valid). Returns
 * 0, CF_ENOTFOUND, CF_EINVAL, or a db.h error. */
CF_MUST_CHECK int cf_objdb_shard_set_dc(struct cf_objdb *odb, uint16_t id, const char *dc,
                                        char *err);

/* Read shard id's data-center label from the catalog into out. Returns 0,
 * CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_objdb_shard_dc(struct cf_objdb *odb, uint16_t id,
                                    char out[CF_OBJDB_DC_MAX + 1], char *err);

/* dc (borrowed) is a data-center label: 0..CF_OBJDB_DC_MAX bytes of
 * [A-Za-z0-9._-]. Pure. */
bool cf_objdb_dc_valid(const char *dc);

/* ---- records ------------------------------------------------------------- */

/* Reserve a UUID for a new object in a writable shard (round robin among
 * shards neither read-only nor obsolete; a full one is passed over for the
 * next), or in shard `shard` when it is not 0. Writes nothing per object
 * (see "Record life cycle"). Returns 0; CF_EUNAVAIL if no shard is writable
 * or every writable one is full (err names one); CF_ENOTFOUND for an
 * unknown shard; CF_EREADONLY for a named shard that takes no new objects;
 * CF_ENOSPC if the named shard is full (its max_objects or every object
 * id); or a db.h error. */
CF_MUST_CHECK int cf_objdb_reserve(struct cf_objdb *odb, uint16_t shard, struct cf_uuid *out,
                                   char *err);

/* Commit rec (borrowed) as a new, visible record: rec->uuid from
 * cf_objdb_reserve; path valid for a filer (objpath.h); replicas and nfilers
 * in 1..CF_OBJDB_REPLICAS_MAX; filers distinct, nonzero; key_len <=
 * CF_OBJDB_KEY_MAX. deleted is ignored; created_ms 0 means now. On success the record
 * is durable. Returns 0; CF_EINVAL for a bad field or a UUID that was never
 * reserved; CF_EEXIST if the UUID was already committed; CF_EBUSY if the
 * upload's hold on a listed filer ran out and the stale drain claimed it
 * (cf_objdb_upload_hold); CF_ENOTFOUND for an unknown shard; or a db.h
 * error. On failure nothing was written. */
CF_MUST_CHECK int cf_objdb_commit(struct cf_objdb *odb, const struct cf_objdb_record *rec,
                                  char *err);

/* Look-up flags. */
#define CF_OBJDB_GET_DELETED 1u /* also return a record marked deleted */

/* Find the committed record for uuid (borrowed) and fill *out. Returns 0,
 * or CF_ENOTFOUND if the shard is unknown, there is no such object id, the
 * random part differs, the record was moved to the deleted map, or it is
 * marked deleted and flags lack CF_OBJDB_GET_DELETED; CF_ECORRUPT for a row
 * that breaks the record's bounds; or a db.h error. *out is undefined on
 * failure. */
CF_MUST_CHECK int cf_objdb_get(struct cf_objdb *odb, const struct cf_uuid *uuid, unsigned flags,
                               struct cf_objdb_record *out, char *err);

/* Mark (deleted = true) or unmark a committed record; marking records the
 * time, and appends the object to the change feed (registry.h) so objsrv
 * caches drop it. Returns 0 (also when it already was in that state),
 * CF_ENOTFOUND as cf_objdb_get, or a db.h error (a failed append leaves the
 * record marked; marking again appends again). */
CF_MUST_CHECK int cf_objdb_set_deleted(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                       bool deleted, char *err);

/* Move a record marked deleted, with its filers, to the deleted-object map,
 * in one transaction. An alias (see "maintenance" below) has no bytes: its
 * row is simply removed (then, for a holder in another shard, its ref
 * there is dropped; a failure is logged and left to cf_objdb_ref_sweep).
 * Returns 0, CF_ENOTFOUND as cf_objdb_get, CF_EINVAL if the record is not
 * marked deleted, CF_EBUSY for a holder that still has an alias in the
 * object map or a ref of one in another shard (it stays, marked), or a
 * db.h error. */
CF_MUST_CHECK int cf_objdb_move_deleted(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                        char *err);

/* List the objects (committed, including those marked deleted) that filer
 * filer_id holds, walking the shards in id order and each one by object id
 * through the per-filer index. Writes up to cap UUIDs to out and advances
 * *cur. Returns the number written (0 only when the walk is over, and then
 * cur->done is true), or a db.h error (*cur unchanged; retry). A shard added
 * during the walk is visited if its id is above the cursor's. */
CF_MUST_CHECK int cf_objdb_list_by_filer(struct cf_objdb *odb, uint32_t filer_id,
                                         struct cf_objdb_cursor *cur, struct cf_uuid *out,
                                         size_t cap, char *err);

/* ---- filer summary table ------------------------------------------------- */

/* Register filer f (borrowed): id >= 1, url 1..CF_OBJDB_URL_MAX bytes,
 * status at most CF_OBJDB_STATUS_MAX, dc a label (cf_objdb_dc_valid); f->weight becomes both its
 * weight and its base_weight (f->base_weight is ignored), f->read_weight its read weight (at
 * most CF_OBJDB_WEIGHT_MAX). Returns 0, CF_EEXIST (id or url taken), CF_EINVAL, or a db.h error. */
CF_MUST_CHECK int cf_objdb_filer_register(struct cf_objdb *odb, const struct cf_objdb_filer *f,
                                          char *err);

/* Change a filer's url and weight (admin): both weight and base_weight
 * become `weight` (the tracker scales weight again at its next poll).
 * Returns 0, CF_ENOTFOUND, CF_EEXIST (url taken), CF_EINVAL, or a db.h error. */
CF_MUST_CHECK int cf_objdb_filer_update(struct cf_objdb *odb, uint32_t id, const char *url,
                                        uint32_t weight, char *err);

/* Set filer id's read weight (admin; 0..CF_OBJDB_WEIGHT_MAX). Readers follow
 * at their next read of the table (the app's filer poll, then objsrv's
 * record cache). Returns 0, CF_ENOTFOUND, CF_EINVAL, or a db.h error. */
CF_MUST_CHECK int cf_objdb_filer_set_read_weight(struct cf_objdb *odb, uint32_t id,
                                                 uint32_t read_weight, char *err);

/* Move filer id to data center dc (borrowed; cf_objdb_dc_valid). Placement
 * follows at the next read of the table; replicas already placed stay where
 * they are until rebuild, rebalance or audit moves them. Returns 0,
 * CF_ENOTFOUND, CF_EINVAL, or a db.h error. */
CF_MUST_CHECK int cf_objdb_filer_set_dc(struct cf_objdb *odb, uint32_t id, const char *dc,
                                        char *err);

/* Refresh what a filer reported (its /status): total_bytes, used_bytes,
 * objects, read_only, status and last_seen_ms of f (borrowed) for f->id; url
 * and weight are left alone. Returns 0, CF_ENOTFOUND, CF_EINVAL, or a db.h
 * error. */
CF_MUST_CHECK int cf_objdb_filer_set_status(struct cf_objdb *odb, const struct cf_objdb_filer *f,
                                            char *err);

/* Statuses of the summary table (the tracker decides them, tracker.h; the
 * text is the state and survives restarts):
 *   online       answers and takes new objects
 *   busy         answers and takes new objects, but slowly (chosen less often)
 *   read-only    answers, takes no new objects (full, or says so)
 *   maintenance  put aside by the operator: answers, takes no new objects
 *   offline      does not answer
 *   unknown      registered, not decided yet */
#define CF_OBJDB_ONLINE      "online"
#define CF_OBJDB_BUSY        "busy"
#define CF_OBJDB_READ_ONLY   "read-only"
#define CF_OBJDB_MAINTENANCE "maintenance"
#define CF_OBJDB_OFFLINE     "offline"
#define CF_OBJDB_UNKNOWN     "unknown"

/* A status in which a filer answers and may take new objects. */
bool cf_objdb_status_writable(const char *status);

/* A status in which a filer answers requests (reads, deletes). */
bool cf_objdb_status_up(const char *status);

/* The entry of filer id in v[0..n) (borrowed), or NULL. Pure. */
const struct cf_objdb_filer *cf_objdb_filer_find(const struct cf_objdb_filer *v, size_t n,
                                                 uint32_t id);

/* f answers requests (its status is up); false for NULL. */
bool cf_objdb_filer_up(const struct cf_objdb_filer *f);

/* f takes new objects: its status is writable and it is not read_only;
 * false for NULL. */
bool cf_objdb_filer_writable(const struct cf_objdb_filer *f);

/* The tracker's write of what it decided for f->id: total_bytes,
 * used_bytes, objects, read_only, status, weight and last_seen_ms of f
 * (borrowed), in one statement, except that the tracker never changes
 * maintenance either way: a filer whose stored status is
 * CF_OBJDB_MAINTENANCE keeps that status and read_only (only its numbers
 * change), and a decision of CF_OBJDB_MAINTENANCE (made from a row read
 * before the operator ended it) leaves the stored status and read_only as
 * they are, so a poll in flight never undoes the operator. On success *out
 * (may be NULL) is the row as stored. Returns 0, CF_ENOTFOUND, CF_EINVAL, or
 * a db.h error. */
CF_MUST_CHECK int cf_objdb_filer_track(struct cf_objdb *odb, const struct cf_objdb_filer *f,
                                       struct cf_objdb_filer *out, char *err);

/* The operator puts filer id in maintenance (on: status
 * CF_OBJDB_MAINTENANCE, read_only) or takes it out (off: a filer in
 * maintenance becomes "unknown" and stays read_only until the tracker's next
 * poll decides; any other status is left alone). Returns 0, CF_ENOTFOUND, or
 * a db.h error. */
CF_MUST_CHECK int cf_objdb_filer_set_maintenance(struct cf_objdb *odb, uint32_t id, bool on,
                                                 char *err);

/* Fill *out with filer id's row. Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_objdb_filer_get(struct cf_objdb *odb, uint32_t id, struct cf_objdb_filer *out,
                                     char *err);

/* Every filer in id order. On success *out is an array of *n entries (caller
 * owns; free() it; NULL when *n is 0). Returns 0 or a db.h error. */
CF_MUST_CHECK int cf_objdb_filer_list(struct cf_objdb *odb, struct cf_objdb_filer **out, size_t *n,
                                      char *err);

/* Unregister a filer. Returns 0, CF_ENOTFOUND, or a db.h error. Records that
 * list it are not touched (rebuild moves them first). */
CF_MUST_CHECK int cf_objdb_filer_unregister(struct cf_objdb *odb, uint32_t id, char *err);

/* ---- the deleted-object map: delete and purge services --------------
 *
 * Functions used by the delete and purge services (purge.h), in deleted.c.
 * A record goes: objects (marked deleted) -> deleted_objects (moved by
 * cf_objdb_move_deleted) -> gone (cf_objdb_remove_deleted, once every replica
 * is purged). Each (object, filer) row of deleted_object_filers carries a
 * purge state, so a purge resumes where it stopped:
 *   NONE  the replica is (believed) on the filer;
 *   SENT  a DELETE may have reached the filer: the outcome is unknown, so the
 *         purge sends it again, and the record can no longer be undeleted;
 *   DONE  the filer answered 204 or 404: the replica is gone.
 * SENT is written (and durable) before a DELETE goes out: that is what makes
 * cf_objdb_undelete safe against a purge running at the same time in any
 * process, since both decide in one transaction of the shard.
 */
enum cf_objdb_purge {
    CF_OBJDB_PURGE_NONE = 0,
    CF_OBJDB_PURGE_DONE = 1,
    CF_OBJDB_PURGE_SENT = 2,
};

/* A record of the deleted-object map. Fixed size, caller-owned. */
struct cf_objdb_deleted {
    struct cf_uuid uuid;
    char path[CF_PATH_MAX + 1]; /* where the filers keep (kept) the bytes */
    uint64_t size;
    uint64_t deleted_ms;                              /* when the record was marked deleted */
    unsigned nfilers;                                 /* 0..CF_OBJDB_REPLICAS_MAX */
    uint32_t filers[CF_OBJDB_REPLICAS_MAX];           /* ascending */
    enum cf_objdb_purge state[CF_OBJDB_REPLICAS_MAX]; /* of filers[i] */
};

/* List records still in the object map, marked deleted at or before
 * before_ms, walking the shards in id order and each by object id (a scan
 * of the objects table: there is no index on the mark). Writes up to cap
 * UUIDs to out and advances *cur (zeroed to start). Returns the number
 * written (0 only when the walk is over, and then cur->done is true), or a
 * db.h error (*cur unchanged; retry). */
CF_MUST_CHECK int cf_objdb_list_marked(struct cf_objdb *odb, uint64_t before_ms,
                                       struct cf_objdb_cursor *cur, struct cf_uuid *out, size_t cap,
                                       char *err);

/* List deleted-map records marked deleted at or before before_ms, with
 * their filers and purge states, in the same order and with the same
 * cursor and returns as cf_objdb_list_marked; CF_ECORRUPT for a row out of
 * bounds. */
CF_MUST_CHECK int cf_objdb_list_deleted(struct cf_objdb *odb, uint64_t before_ms,
                                        struct cf_objdb_cursor *cur, struct cf_objdb_deleted *out,
                                        size_t cap, char *err);

/* Key rotation's walk of the deleted map (a record there may still be
 * undeleted): its records that keep a key, in the order and with the
 * cursor and returns of cf_objdb_list_deleted. Fills the uuid, xform,
 * key_len and key of each out[i], the rest zero; CF_ECORRUPT for a key
 * over CF_OBJDB_KEY_MAX. */
CF_MUST_CHECK int cf_objdb_list_deleted_keys(struct cf_objdb *odb, struct cf_objdb_cursor *cur,
                                             struct cf_objdb_record *out, size_t cap, char *err);

/* Fill *out with the deleted-map record of uuid (borrowed). Returns 0,
 * CF_ENOTFOUND (unknown shard, no such row, or the random part differs),
 * CF_ECORRUPT, or a db.h error. */
CF_MUST_CHECK int cf_objdb_get_deleted(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                       struct cf_objdb_deleted *out, char *err);

/* Set the purge state of (uuid, filer_id) to state. Moving to SENT only
 * happens from NONE (a DONE replica stays DONE); DONE is final. Returns 0
 * when the row is now in `state` (or DONE), CF_ENOTFOUND if the record or
 * that filer's row is not in the deleted map (e.g. it was undeleted: the
 * caller must not send the DELETE), CF_EINVAL for state NONE, or a db.h
 * error. It runs under the shard's write lock, so it is ordered with
 * cf_objdb_undelete: an undelete either sees the new state or has
 * committed first (and then this returns CF_ENOTFOUND). */
CF_MUST_CHECK int cf_objdb_set_purge_state(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                           uint32_t filer_id, enum cf_objdb_purge state, char *err);

/* Remove the deleted-map record of uuid and its filer rows, in one
 * transaction, if every replica is DONE. Returns 0; CF_EBUSY if some
 * replica is not DONE (nothing changed); CF_ENOTFOUND as
 * cf_objdb_get_deleted; or a db.h error. */
CF_MUST_CHECK int cf_objdb_remove_deleted(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                          char *err);

/* Undelete uuid, in one transaction: a record still in the object map is
 * unmarked (as cf_objdb_set_deleted false); a deleted-map record whose
 * replicas are all NONE is moved back to the object map, unmarked, with its
 * filers. Returns 0; CF_ENOTFOUND if there is no such record, or its purge
 * has begun on some filer (some replica SENT or DONE: its bytes may be
 * gone); or a db.h error. */
CF_MUST_CHECK int cf_objdb_undelete(struct cf_objdb *odb, const struct cf_uuid *uuid, char *err);

/* ---- filer history ---------------------------------------------------------
 *
 * The filer logs of the patent (956): one row per filer and period of the
 * active monitor's tracker (tracker.h), in the catalog's table
 * filer_history, kept as long as the scribe's events. Functions in
 * history.c. */

/* What one filer did and suffered in [start_ms, end_ms). */
struct cf_objdb_history {
    uint32_t filer;
    uint64_t start_ms, end_ms;
    uint64_t bytes_in, bytes_out;     /* request and reply bytes it served */
    uint64_t io_errors;               /* I/O errors it reported newly */
    uint32_t polls, failures;         /* polls, and those it did not answer well */
    uint64_t used_bytes, total_bytes; /* at its last answer in the period */
    uint64_t latency_us;              /* mean answer time of the answered polls */
};

/* Write h (borrowed), replacing the row of the same filer and start_ms.
 * Returns 0, CF_EINVAL (filer 0, end before start, a number past
 * INT64_MAX), or a db.h error. */
CF_MUST_CHECK int cf_objdb_history_add(struct cf_objdb *odb, const struct cf_objdb_history *h,
                                       char *err);

/* The rows of filer (0: every filer) that end after since_ms and start
 * before until_ms (0: no bound), oldest first, at most limit (1..
 * CF_OBJDB_HISTORY_MAX). *out: array of *n (caller frees; NULL when *n is
 * 0). Returns 0, CF_EINVAL (bad limit), CF_ECORRUPT, or a db.h error. */
#define CF_OBJDB_HISTORY_MAX 10000
CF_MUST_CHECK int cf_objdb_history_list(struct cf_objdb *odb, uint32_t filer, uint64_t since_ms,
                                        uint64_t until_ms, size_t limit,
                                        struct cf_objdb_history **out, size_t *n, char *err);

/* Delete the rows that ended before before_ms, in one statement. *deleted
 * (may be NULL) gets how many. Returns 0 or a db.h error. */
CF_MUST_CHECK int cf_objdb_history_prune(struct cf_objdb *odb, uint64_t before_ms,
                                         uint64_t *deleted, char *err);

/* ---- maintenance: rebuild, rebalance, audit, dedupe ---------------
 *
 * Functions in maint.c. Replicas change only by these, each one shard
 * transaction, so a reader never sees a record listing a filer before the
 * copy there is durable (callers copy first, then add), and a replica
 * dropped from a record is not deleted at once: it goes to the shard's
 * stale-replica list (stale_replicas: object id, filer, path, since, state)
 * and is deleted by cf_objdb_stale_* once it has been out of every record
 * longer than the readers' record cache (the caller's delay), so a reader
 * holding an older record still finds its bytes.
 *
 * Stale replica states, as the purge's (NONE -> SENT -> gone):
 *   a row in state NONE is dropped without deleting anything if the record
 *   lists (object, filer) again; cf_objdb_stale_claim moves it to SENT
 *   (durable, before the DELETE goes out) only while the record does not
 *   list that filer; cf_objdb_replica_add refuses (CF_EBUSY) to list a filer
 *   whose stale row for that object is SENT, since its bytes may be going.
 *
 * Dedupe: a record may be an alias of another record (its "holder"): it
 * has its own UUID, name, delete mark and life, but no filers and no bytes
 * of its own; cf_objdb_get of an alias returns the holder's path, size,
 * sha512, filers and key with the alias's own uuid, deleted mark and
 * times. A holder with a live alias (any alias still in the object map,
 * marked deleted or not) is never moved to the deleted map:
 * cf_objdb_move_deleted returns CF_EBUSY. Maintenance walks
 * (cf_objdb_list_records, cf_objdb_list_by_filer) see holders and plain
 * records only: an alias has no replicas to rebuild, audit or move, and the
 * orphans job keeps the holder's files because the holder's record lists
 * them. An alias never names another alias.
 *
 *   In the holder's shard (objects.alias = the holder's id): read in one
 *   statement on one shard; the holder's purge counts these aliases in the
 *   same transaction.
 *
 *   In another shard (objects.alias = 0, alias_shard/alias_oid/alias_rnd
 *   name the holder): when the holder's shard takes no new records (full,
 *   read-only: --auto-shard added the next one), or when the job finds the
 *   same content in two shards (the holder is the one in the lower shard
 *   id). Read with one more access, to the holder's shard. Two shards have
 *   no common transaction, so the holder's shard keeps a ref of each such
 *   alias (table alias_refs: holder id, alias shard, id and random part,
 *   since), and every step is one transaction of one shard, in this order:
 *     make:   1. holder's shard: check the holder (a holder, not marked
 *                deleted, the content) and write the ref, since = now;
 *             2. alias's shard: check the record is not voided (below) and
 *                commit the alias row (or turn the duplicate into one);
 *                if this fails the ref is settled as the sweep does.
 *     purge:  1. alias's shard: remove the alias row (cf_objdb_move_deleted);
 *             2. holder's shard: drop the ref.
 *   The holder's cf_objdb_move_deleted counts its refs like its aliases, so
 *   from before the alias exists until after it is gone, the holder (and
 *   its bytes) stay, whatever step a crash interrupts. A ref left without
 *   its alias (a crash between the steps, a failed drop) is dropped by
 *   cf_objdb_ref_sweep once older than a grace time, after it checked the
 *   alias's shard and, in the same transaction there, recorded the commit
 *   as void (alias_voids: alias id, the ref's since): a step 2 still under
 *   way then fails, so no alias can appear after its ref is gone. A ref
 *   is renewed (new since) by each attempt, so the sweep only ever voids
 *   the attempt it checked.
 *   A record named by such a ref does not become an alias itself, nor does
 *   one that holds aliases of its own shard (the job leaves that pair).
 */

/* Add filer_id to the record of uuid, after its copy there is durable.
 * Drops a NONE stale row of (uuid, filer_id) in the same transaction.
 * Returns 0; CF_EEXIST if the record already lists it; CF_ENOTFOUND if the
 * record is gone (moved to the deleted map: the caller should delete the
 * copy it made); CF_EBUSY if a stale DELETE of that replica may be in
 * flight (retry later); CF_EINVAL for an alias or filer 0 or a record
 * already at CF_OBJDB_REPLICAS_MAX; or a db.h error. */
CF_MUST_CHECK int cf_objdb_replica_add(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                       uint32_t filer_id, char *err);

/* Replace old_filer by new_filer in the record of uuid, in one
 * transaction; when stale is true (old_filer still holds bytes) the old
 * replica goes to the stale-replica list, else it is forgotten (its filer is
 * dead). new_filer 0: only drop old_filer. Returns 0; CF_ENOTFOUND if the
 * record is gone or does not list old_filer; CF_EEXIST if it already lists
 * new_filer; CF_EBUSY as cf_objdb_replica_add; CF_EINVAL if dropping would
 * leave the record without filers; or a db.h error. */
CF_MUST_CHECK int cf_objdb_replica_move(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                        uint32_t old_filer, uint32_t new_filer, bool stale,
                                        char *err);

/* Walk every record that holds bytes (not aliases), committed, including
 * those marked deleted, shards in id order and each by object id; with
 * filer_id != 0 only records listing that filer, by scanning the records
 * (the patent's first rebuild method; cf_objdb_list_by_filer is the second).
 * Writes up to cap records to out and advances *cur. Returns the number
 * written (0 only when the walk is over, cur->done true), CF_ECORRUPT, or a
 * db.h error (*cur unchanged). */
CF_MUST_CHECK int cf_objdb_list_records(struct cf_objdb *odb, uint32_t filer_id,
                                        struct cf_objdb_cursor *cur, struct cf_objdb_record *out,
                                        size_t cap, char *err);

/* A replica waiting to be deleted (see above). */
struct cf_objdb_stale {
    struct cf_uuid uuid; /* rnd is 0: only the shard and object id are known */
    uint32_t filer;
    char path[CF_PATH_MAX + 1];
    uint64_t since_ms;
    bool sent; /* SENT: a DELETE may have gone out */
};

/* List stale replicas dropped at or before before_ms, as cf_objdb_list_marked
 * (cursor, returns). One object's rows are never split over two pages, so
 * a page may hold fewer than cap before the end; cap must exceed the rows
 * of any one object (64 is ample), else CF_EINVAL. */
CF_MUST_CHECK int cf_objdb_stale_list(struct cf_objdb *odb, uint64_t before_ms,
                                      struct cf_objdb_cursor *cur, struct cf_objdb_stale *out,
                                      size_t cap, char *err);

/* Hold a replica that no record lists (yet) on the stale-replica list
 * until until_ms: a copy a job is about to make and list, or the bytes of
 * an upload that will not be recorded. A row is listed for the drain only
 * once its since is older than the drain's delay, and cf_objdb_stale_claim
 * refuses a row whose since changed after it was listed, so until a hold
 * is over the bytes stay. In one transaction:
 *   - CF_EINVAL if uuid's record is an alias (it has no bytes of its own);
 *   - expect_since == 0 (take a hold): CF_EBUSY if the row is SENT (a
 *     DELETE of that path may be under way: copy again later); else the
 *     row is written NONE with path (copied) and since = until_ms, or the
 *     later of the two if it was there (a hold is never shortened: another
 *     job may hold the same bytes for longer);
 *   - expect_since != 0 (renew one's own hold, just before listing the
 *     filer): CF_EBUSY unless the row is there, NONE, with since ==
 *     expect_since (else it was drained, or taken over, since: the bytes
 *     may be gone); then since = the later of until_ms and expect_since.
 * *since_out (may be NULL) gets the row's since as written. The job
 * protocol (maint_int.h): hold (until = now + the copy's longest time),
 * copy, renew (until = now + a margin), list the filer at once (add/replace
 * drop the row). Whatever is never listed is deleted by the drain once its
 * hold is over (the claim checks that no record lists it). Returns 0,
 * CF_EBUSY, CF_EINVAL, or a db.h error (CF_ENOTFOUND: unknown shard).
 * Object ids are never reused, so a row never outlives into another
 * object. */
CF_MUST_CHECK int cf_objdb_stale_hold(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                      uint32_t filer_id, const char *path, uint64_t until_ms,
                                      uint64_t expect_since, uint64_t *since_out, char *err);

/* The upload's hold (DESIGN §2: an upload leaves no bytes that nothing
 * will clean up): before the body is streamed, each target filer's path
 * (borrowed) of uuid (reserved, not committed) is held on the stale-replica
 * list until until_ms, in one transaction, as cf_objdb_stale_hold with
 * expect_since 0 (a hold is never shortened; calling it again extends it).
 * Like a record commit, that transaction is shared with the holds and
 * records other threads write at the same time (dbgroup.h); the call
 * returns only after the commit that holds its rows.
 * cf_objdb_commit ends the holds of the filers it lists and makes the
 * others (targets that failed) due for the stale drain; an upload that
 * will not be recorded calls cf_objdb_upload_release. If the app dies
 * first, the drain deletes the bytes once the hold is over. Returns 0;
 * CF_EBUSY if a row is SENT (its hold ran out and a DELETE may be under
 * way: the upload must fail); CF_EINVAL if uuid is committed already; or
 * a db.h error (nothing held). */
CF_MUST_CHECK int cf_objdb_upload_hold(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                       const char *path, const uint32_t *filers, size_t n,
                                       uint64_t until_ms, char *err);

/* The upload of uuid will not be recorded (it failed, or it became an
 * alias): its holds are due for the stale drain now, which deletes what
 * bytes are left (404 counts as deleted). Does nothing once a record of
 * uuid exists. Returns 0 or a db.h error (the holds then end at their
 * until_ms). */
CF_MUST_CHECK int cf_objdb_upload_release(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                          char *err);

/* Claim a stale replica for deletion: in one transaction, if the record of
 * its object lists the filer again, remove the row and return 1 (do not
 * delete anything); if the row was held again since st was listed (its
 * since differs from st->since_ms), leave it and return CF_EBUSY; else set
 * SENT and return 0 (send the DELETE, then call cf_objdb_stale_done).
 * CF_ENOTFOUND if the row is gone; or a db.h error. */
CF_MUST_CHECK int cf_objdb_stale_claim(struct cf_objdb *odb, const struct cf_objdb_stale *st,
                                       char *err);

/* The DELETE of a claimed stale replica succeeded (204 or 404): remove its
 * row. Returns 0 (also if already gone) or a db.h error. */
CF_MUST_CHECK int cf_objdb_stale_done(struct cf_objdb *odb, const struct cf_objdb_stale *st,
                                      char *err);

/* Claim a file found on filer filer_id at path (borrowed) of object uuid
 * (its shard and object id from cf_uuid_parse_filer_path) for deletion as
 * an orphan, in one transaction: returns 1 (keep it: a record, live or in
 * the deleted map, lists (object, filer)); CF_EBUSY (keep it for now: a
 * stale row holds it until after before_ms, or a DELETE of it is under
 * way); else writes the stale row SENT (a new one, or the row whose hold
 * ended at or before before_ms) and returns 0 with *out (caller's storage)
 * the row to pass to cf_objdb_stale_done once the DELETE succeeded. A
 * DELETE that fails leaves the row SENT, for the stale drain to send
 * again. With dry_run nothing is written and 0 means "would claim" (*out
 * filled the same). CF_ENOTFOUND for an unknown shard; or a db.h error. */
CF_MUST_CHECK int cf_objdb_orphan_claim(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                        uint32_t filer_id, const char *path, uint64_t before_ms,
                                        bool dry_run, struct cf_objdb_stale *out, char *err);

/* Find a holder record, not marked deleted, with this content stored this
 * way: sha512, size and xform equal, wanting and listing at least min_replicas replicas (an alias
 * takes its holder's wanted count, which must not fall), in a shard that is
 * not obsolete (a read-only or full one counts: the alias then goes to
 * another shard). Shards are searched in id order through an index on
 * sha512, one query each. On success fills *out and returns 1; returns 0
 * if there is none, or a db.h error. */
CF_MUST_CHECK int cf_objdb_find_content(struct cf_objdb *odb, const uint8_t sha512[64],
                                        uint64_t size, unsigned xform, unsigned min_replicas,
                                        struct cf_objdb_record *out, char *err);

/* Commit a new alias record: alias (reserved with cf_objdb_reserve) of
 * holder, checking the holder is still a holder, in the object map and not
 * marked deleted. In the holder's shard: one transaction. In another shard:
 * the two steps of "Dedupe" (ref, then alias row; if the row is not
 * committed, the ref is settled at once as cf_objdb_ref_sweep would). created_ms 0: now. Returns 0;
 * CF_ENOTFOUND if the holder is gone or marked deleted, or the sweep voided this commit (the caller
 * commits its own record instead); CF_EINVAL if alias is holder or the UUID was never reserved;
 * CF_EEXIST; or a db.h error. */
CF_MUST_CHECK int cf_objdb_commit_alias(struct cf_objdb *odb, const struct cf_uuid *alias,
                                        const struct cf_uuid *holder, uint64_t created_ms,
                                        char *err);

/* A pair of records with the same content (dedupe job). */
struct cf_objdb_dup {
    struct cf_uuid holder; /* the record that keeps its replicas (lowest shard, then id) */
    struct cf_uuid dup;    /* a record that becomes its alias */
};

/* Walk the shards for holder records (not marked deleted) with the same
 * sha512, size and xform as a holder wanting at least as many replicas and
 * listing at least as many filers: a lower-numbered one in the same shard,
 * or else (records of at least min_size bytes that nothing names as
 * holder) one in a lower-numbered shard, found by one look-up per lower
 * shard through its content index. Writes up to cap pairs, advances *cur
 * (whose after_oid is the last duplicate read). Returns as
 * cf_objdb_list_marked. */
CF_MUST_CHECK int cf_objdb_list_dups(struct cf_objdb *odb, uint64_t min_size,
                                     struct cf_objdb_cursor *cur, struct cf_objdb_dup *out,
                                     size_t cap, char *err);

/* Turn record d->dup into an alias of d->holder, checking both are still
 * holders with equal content and xform, neither marked deleted, the holder wanting
 * and listing at least as many replicas as d->dup: dup's filers go to the
 * stale-replica list (its bytes are deleted later). Same shard: one
 * transaction, and dup's own aliases follow it to the holder (dup must not
 * be named by refs). Different shards: the two steps of "Dedupe"; dup must
 * not hold aliases or refs. Returns 0; CF_ENOTFOUND if something changed
 * or does not qualify (skip it); or a db.h error. */
CF_MUST_CHECK int cf_objdb_make_alias(struct cf_objdb *odb, const struct cf_objdb_dup *d,
                                      char *err);

/* The ref sweep (see "Dedupe"): check every ref written at or before
 * before_ms (a grace time ago) against its alias's shard; keep it if the
 * alias row is there and names the holder; else void that commit there
 * and drop the ref. *kept and *dropped get the counts (a ref whose alias
 * shard fails to answer is kept and logged). Work: one indexed read per
 * old ref, pages of a fixed size per shard. Returns 0 or a db.h error
 * reading a shard's refs. */
CF_MUST_CHECK int cf_objdb_ref_sweep(struct cf_objdb *odb, uint64_t before_ms, uint64_t *kept,
                                     uint64_t *dropped, char *err);

/* Key rotation: replace the wrapped key of the record of uuid (a holder or
 * a plain record in the object map, or a record of the deleted map) by
 * new_key, and the copies its aliases keep, only while it still holds old_key (a compare and swap:
 * of two rewraps racing, the second finds the key changed and leaves it). Both keys
 * are 1..CF_OBJDB_KEY_MAX bytes. Returns 0; CF_ENOTFOUND if the record is gone, an alias, or no
 * longer holds old_key; CF_EINVAL for a length out of range; or a db.h error. */
CF_MUST_CHECK int cf_objdb_set_key(struct cf_objdb *odb, const struct cf_uuid *uuid,
                                   const uint8_t *old_key, size_t old_len, const uint8_t *new_key,
                                   size_t new_len, char *err);

/* Count records per state for metrics and reports, over every shard:
 * holders with fewer filers than wanted replicas ("deficit"), all records,
 * aliases. Returns 0 or a db.h error. */
struct cf_objdb_counts {
    uint64_t records, aliases, deficit, stale;
};
CF_MUST_CHECK int cf_objdb_count(struct cf_objdb *odb, struct cf_objdb_counts *out, char *err);

#endif
