/*
 * fsdb.h -- the file system database, sharded by client (DESIGN §3, patent
 * FIG. 4A-4G).
 *
 * Role: what clients see. The gateway keeps here, per client, the users,
 * groups, folders with their permissions, virtual objects ("files") with
 * their version history, and the trash; each version names a stored object
 * by its UUID text (objdb.h), which this module treats as opaque. Layout:
 *
 *   catalog (one database, its URI given to cf_fsdb_open; not the objdb one)
 *     shards   id, location (a db.h URI), read_only, created
 *     clients  id, name UNIQUE, shard_id, info, replicas, created,
 *              keep_versions, keep_days (the version expiry policy)
 *   shard N (one database per shard): all of one client's rows live in its
 *   shard, and every row carries its client id
 *     users, usergroups, group_members
 *     group_trash   (group, deleted time, by user): the groups trash
 *     folders       (id, client, parent NULL for the root, name, created,
 *                   modified); a name is unique among the live folders and
 *                   files of one parent
 *     folder_perms  (folder, user|group, principal, none|read|read-write)
 *     objects       virtual objects: (id, client, folder, name, current version)
 *     versions      (id, object, number, uuid, size, sha512, created, by user)
 *     trash         one row per deleted folder or file: kind, item, original
 *                   parent and name, deleted time, by user
 *     emptied, emptied_versions   files emptied from the trash, with their
 *                   versions, while they can come back ("Emptied files")
 *     changes, changes_floor      the change journal and each client's
 *                   pruned-up-to mark ("change journal" below)
 *
 * A shard's location is a db.h URI; a relative "sqlite:" path is resolved
 * against the catalog's directory. The shards table is read at open and
 * cached; a client in a shard not cached yet (added by another process)
 * makes the catalog be re-read at once, so it is found. A re-read that
 * fails, or does not find the shard (only a damaged catalog names a missing
 * shard: CF_ECORRUPT), holds such re-reads off for a second (shardset.h,
 * "Misses"), during which those look-ups give CF_ECORRUPT.
 *
 * A new client goes to the writable shard with the fewest clients (lowest
 * id on a tie). Ids of users, groups, folders, files, versions and trash
 * entries come from one counter per shard, so an id names at most one row
 * of one kind; they are meaningful only together with their client id.
 *
 * Isolation: every function takes a client id, finds the client's shard in
 * the catalog, and matches every row on that client id, so an id guessed
 * from another client finds nothing (CF_ENOTFOUND, never CF_EPERM).
 *
 * Trash: deleting a folder or file detaches it from the tree (its parent
 * becomes NULL in the database) and adds a trash row; a folder's contents
 * stay inside it. Trashed items are invisible to path look-ups and listings
 * but keep their versions, so they can be restored. Emptying the trash
 * deletes their rows for good, keeping a record of each file trashed on its
 * own for as long as the delete service may still undelete its objects.
 *
 * Reference count: the number of versions (of live and of trashed files)
 * naming a UUID is derived by query (cf_fsdb_uuid_refs, and inside
 * cf_fsdb_trash_empty), never stored, so it cannot drift. Copies and
 * restored versions share a UUID. Copies stay inside one client, so the
 * count of the client's shard is the whole count.
 *
 * Permissions (cf_fsdb_perm_effective): for a user on a folder, the nearest
 * folder on the way up to the root that has an entry for the user or one of
 * the user's groups decides; at that folder the user's own entry wins over
 * group entries, and among group entries the highest level wins. No entry
 * anywhere: none. A user flagged admin (cf_fsdb_user_add) has read-write
 * everywhere in the client, whatever the entries say; a disabled user has
 * none. Enforcing the result is the caller's job.
 *
 * Names (folders, files, users, groups, clients): 1..CF_FSDB_NAME_MAX bytes
 * of valid UTF-8 without '/' or NUL, not "." or ".."; case-sensitive. Paths
 * are "/" or "/" followed by names joined by '/', one trailing '/' allowed.
 *
 * Errors: as db.h (CF_EBUSY, CF_EIO, ...; logged there) plus those named per
 * function, with a detail in err (char[CF_ERR_LEN], may be NULL). An unknown
 * client id, or an id that is not the client's, gives CF_ENOTFOUND. A
 * function that fails changes nothing.
 * Memory: each client's shard and root folder id are kept once read (both
 * are fixed for the client's life: clients are never removed, the root
 * neither moves nor goes to the trash), so most calls skip the catalog.
 * Threads: every function is thread-safe, including concurrently with
 * cf_fsdb_shard_add; only cf_fsdb_close must run alone. Writes to one shard
 * serialise in one transaction each (db.h cf_db_begin).
 */
#ifndef COFFER_FSDB_H
#define COFFER_FSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/db.h"

/* Bytes of a name, without the NUL (NAME_MAX of most file systems). */
#define CF_FSDB_NAME_MAX 255
/* Bytes of a path, without the NUL; longer gives CF_ETOOLARGE. */
#define CF_FSDB_PATH_MAX 4095
/* Bytes of a stored password hash (opaque text; another module computes it). */
#define CF_FSDB_HASH_MAX 255
/* Bytes of a client's info text. */
#define CF_FSDB_INFO_MAX 1023
/* A stored object's UUID text: exactly this many bytes of [0-9a-f-]. */
#define CF_FSDB_UUID_LEN 36
/* Replicas a client may ask for, and the default (0 at cf_fsdb_client_add). */
#define CF_FSDB_REPLICAS_MAX     16
#define CF_FSDB_REPLICAS_DEFAULT 2
/* Bounds of a client's version expiry policy (cf_fsdb_client_set_keep). */
#define CF_FSDB_KEEP_VERSIONS_MAX 1000000
#define CF_FSDB_KEEP_DAYS_MAX     36500
/* Versions one call of cf_fsdb_versions_expire removes at most. */
#define CF_FSDB_EXPIRE_BATCH 256
/* Rows one listing may return; a folder, version history, trash or member
 * list longer than this gives CF_ETOOLARGE rather than unbounded memory. */
#define CF_FSDB_LIST_MAX 100000
struct cf_fsdb;

enum cf_fsdb_kind {
    CF_FSDB_FOLDER = 0,
    CF_FSDB_FILE = 1,
};

enum cf_fsdb_principal {
    CF_FSDB_USER = 0,
    CF_FSDB_GROUP = 1,
};

/* Ordered: a higher level allows everything a lower one does. */
enum cf_fsdb_level {
    CF_FSDB_NONE = 0,
    CF_FSDB_READ = 1,
    CF_FSDB_READ_WRITE = 2,
};

/* Fixed-size, caller-owned, no pointers. */
struct cf_fsdb_shard {
    uint32_t id;
    char location[CF_DB_URI_MAX + 1]; /* as stored in the catalog */
    bool read_only;                   /* takes no new clients */
    uint64_t created_ms;
};

struct cf_fsdb_client {
    uint64_t id;
    char name[CF_FSDB_NAME_MAX + 1];
    uint32_t shard;
    char info[CF_FSDB_INFO_MAX + 1];
    unsigned replicas;      /* wanted copies of each stored object */
    unsigned keep_versions; /* version expiry: the newest N kept; 0: all */
    unsigned keep_days;     /* version expiry: kept D days; 0: forever */
    bool compress;          /* storage policy: new objects stored compressed (zstd) */
    bool encrypt;           /* storage policy: new objects stored encrypted (AES-256-GCM) */
    uint64_t created_ms;
};

struct cf_fsdb_user {
    uint64_t id;
    char name[CF_FSDB_NAME_MAX + 1];
    char pw_hash[CF_FSDB_HASH_MAX + 1];
    bool admin;
    bool disabled;
    uint64_t created_ms;
};

struct cf_fsdb_group {
    uint64_t id;
    char name[CF_FSDB_NAME_MAX + 1];
};

/* A group in the groups trash (cf_fsdb_group_delete). */
struct cf_fsdb_group_trash {
    uint64_t id;
    char name[CF_FSDB_NAME_MAX + 1];
    uint64_t deleted_ms;
    uint64_t by_user; /* 0: not recorded */
};

struct cf_fsdb_perm {
    enum cf_fsdb_principal kind;
    uint64_t principal; /* a user or group id of the same client */
    enum cf_fsdb_level level;
};

/* A folder or a file. For a file, the fields after `modified_ms` describe
 * its current version; for a folder they are zero. */
struct cf_fsdb_entry {
    enum cf_fsdb_kind kind;
    uint64_t id;
    uint64_t parent; /* 0 for the root */
    char name[CF_FSDB_NAME_MAX + 1];
    uint64_t created_ms;
    uint64_t modified_ms;
    uint64_t version;    /* current version's id */
    uint32_t version_no; /* its number, 1 for the first upload */
    char uuid[CF_FSDB_UUID_LEN + 1];
    uint64_t size;
    uint8_t sha512[64];
};

struct cf_fsdb_version {
    uint64_t id;
    uint64_t file;
    uint32_t number; /* 1, 2, ... in upload order */
    char uuid[CF_FSDB_UUID_LEN + 1];
    uint64_t size;
    uint8_t sha512[64];
    uint64_t created_ms;
    uint64_t by_user; /* 0: not recorded */
    bool current;
};

/* What a new version stores (cf_fsdb_file_put). */
struct cf_fsdb_put {
    char uuid[CF_FSDB_UUID_LEN + 1];
    uint64_t size;
    uint8_t sha512[64];
    uint64_t by_user; /* 0: not recorded */
};

struct cf_fsdb_trash {
    uint64_t id;
    enum cf_fsdb_kind kind;
    uint64_t item; /* the folder or file id */
    uint64_t orig_parent;
    char orig_name[CF_FSDB_NAME_MAX + 1];
    uint64_t deleted_ms;
    uint64_t by_user;
};

/* A file emptied from the trash (cf_fsdb_trash_empty), as the emptied list
 * shows it. */
struct cf_fsdb_emptied {
    uint64_t id;          /* the file's id when it was live, kept by a restore */
    uint64_t orig_parent; /* the folder it was deleted from */
    char orig_name[CF_FSDB_NAME_MAX + 1];
    uint64_t size;       /* of its current version */
    uint32_t versions;   /* how many it had */
    uint64_t deleted_ms; /* when it went to the trash */
    uint64_t deleted_by; /* who put it there */
    uint64_t emptied_ms; /* when it left the trash */
    uint64_t emptied_by; /* 0: the retention pass */
};

/* A UUID whose last reference is gone (cf_fsdb_trash_empty). */
struct cf_fsdb_uuid {
    char text[CF_FSDB_UUID_LEN + 1];
};

/* ---- names --------------------------------------------------------------- */

/* Check name (len bytes, borrowed; need not be NUL-terminated) against the
 * rules above. Returns 0 or CF_EINVAL with the reason. */
CF_MUST_CHECK int cf_fsdb_name_validate(const char *name, size_t len, char *err);

/* ---- open / close, shards ------------------------------------------------ */

/* Open the catalog at catalog_uri (borrowed), creating its tables if
 * missing, and every shard it lists, with pool_size connections each (0:
 * cf_db_pool_default(catalog_uri)). On success *out is the database (caller owns;
 * release with cf_fsdb_close). Returns 0, CF_EINVAL (bad URI, or a database
 * that is not a coffer fsdb catalog/shard of this version), or a db.h error;
 * nothing is left open on failure. */
CF_MUST_CHECK int cf_fsdb_open(const char *catalog_uri, unsigned pool_size, struct cf_fsdb **out,
                               char *err);

/* Close every pool. No call may be in progress. NULL is a no-op. */
void cf_fsdb_close(struct cf_fsdb *fs);

/* Create a shard and register it (the shard's database is created first, the
 * catalog row last). location (borrowed) is a db.h URI, or NULL for
 * "sqlite:fsshard-NNNN.db" next to a SQLite catalog. *id_out (may be NULL)
 * gets the new id. Returns 0, CF_EEXIST (location registered), CF_EINVAL
 * (NULL location with a non-SQLite catalog, or a database that holds another
 * shard), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_shard_add(struct cf_fsdb *fs, const char *location, uint32_t *id_out,
                                    char *err);

/* A read-only shard gets no new clients; its clients keep working. Returns
 * 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_shard_set_read_only(struct cf_fsdb *fs, uint32_t id, bool read_only,
                                              char *err);

/* The shards table, in id order. *out: array of *n (caller owns; free();
 * NULL when *n is 0). Returns 0 or a db.h error. */
CF_MUST_CHECK int cf_fsdb_shard_list(struct cf_fsdb *fs, struct cf_fsdb_shard **out, size_t *n,
                                     char *err);

/* ---- clients ------------------------------------------------------------- */

/* Add a client named name (borrowed) with info (borrowed, may be NULL) and
 * replicas (0: CF_FSDB_REPLICAS_DEFAULT; else CF_REPLICAS_MIN..
 * CF_FSDB_REPLICAS_MAX) in the least-loaded writable shard,
 * and create its root folder. *out (may be NULL) gets the row. Returns 0,
 * CF_EEXIST (name taken), CF_EINVAL (bad name, info or replicas),
 * CF_EUNAVAIL (no writable shard), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_client_add(struct cf_fsdb *fs, const char *name, const char *info,
                                     unsigned replicas, struct cf_fsdb_client *out, char *err);

/* Fill *out with client id's row. Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_client_get(struct cf_fsdb *fs, uint64_t id, struct cf_fsdb_client *out,
                                     char *err);

/* The client named name (borrowed). Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_client_find(struct cf_fsdb *fs, const char *name,
                                      struct cf_fsdb_client *out, char *err);

/* Every client in id order. *out: array of *n (caller owns; free(); NULL
 * when *n is 0). Returns 0, CF_ETOOLARGE, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_client_list(struct cf_fsdb *fs, struct cf_fsdb_client **out, size_t *n,
                                      char *err);

/*
 * Version expiry. A client's policy (both 0 at cf_fsdb_client_add: every
 * version is kept) says which non-current versions of its live files
 * expire; the current version never does. A non-current version expires
 * when keep_versions is N >= 1 and the file has N newer versions (the N
 * newest are kept), or when keep_days is D >= 1 and it stopped being
 * current (the creation time of the next version of the file) more than
 * D days ago: so any version that was current at some moment of the last
 * D days is kept. Both set: either rule expires a version. Files in the
 * trash, also inside a trashed folder, keep every version: the trash's own
 * retention decides their fate (cf_fsdb_trash_empty).
 */

/* Set client's version expiry policy (0: that rule is off). Returns 0,
 * CF_EINVAL (keep_versions over CF_FSDB_KEEP_VERSIONS_MAX, keep_days over
 * CF_FSDB_KEEP_DAYS_MAX), CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_client_set_keep(struct cf_fsdb *fs, uint64_t client,
                                          unsigned keep_versions, unsigned keep_days, char *err);

/* Set client's storage policy: whether the objects of its later uploads
 * are stored compressed and/or encrypted (objdb.h CF_OBJDB_XFORM_*; the
 * gateway asks the app for it on each upload). Objects already stored stay
 * as they are. Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_client_set_xform(struct cf_fsdb *fs, uint64_t client, bool compress,
                                           bool encrypt, char *err);

/* Delete for good up to CF_FSDB_EXPIRE_BATCH versions of client that its
 * policy (read from the catalog) expires at now_ms, in one transaction,
 * with their S3 attributes and part sizes; call again while *removed is
 * CF_FSDB_EXPIRE_BATCH. *removed gets the count. The UUIDs that no version
 * of the shard names any more are recorded as pending release in the same
 * transaction and listed, once each and sorted, in *out (array of *n;
 * caller owns; free(); NULL when *n is 0) for the caller to hand to the
 * delete service. Returns 0 (also when the policy keeps everything),
 * CF_ENOTFOUND (client), or a db.h error (nothing changed). */
CF_MUST_CHECK int cf_fsdb_versions_expire(struct cf_fsdb *fs, uint64_t client, uint64_t now_ms,
                                          size_t *removed, struct cf_fsdb_uuid **out, size_t *n,
                                          char *err);

/* ---- users and groups ------------------------------------------------------ */

/* Add a user. pw_hash (borrowed) is stored as is: 1..CF_FSDB_HASH_MAX bytes of
 * printable ASCII. admin: read-write everywhere (see "Permissions"). *id_out
 * (may be NULL) gets the id. Returns 0, CF_EEXIST (name taken in this
 * client), CF_EINVAL, CF_ENOTFOUND (client), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_user_add(struct cf_fsdb *fs, uint64_t client, const char *name,
                                   const char *pw_hash, bool admin, uint64_t *id_out, char *err);

/* The user named name (borrowed) in client, with its stored hash, for login.
 * Returns 0, CF_ENOTFOUND, CF_EINVAL (bad name), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_user_get(struct cf_fsdb *fs, uint64_t client, const char *name,
                                   struct cf_fsdb_user *out, char *err);

/* The client's users in id order. *out: array of *n (caller owns; free()).
 * Returns 0, CF_ENOTFOUND, CF_ETOOLARGE, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_user_list(struct cf_fsdb *fs, uint64_t client, struct cf_fsdb_user **out,
                                    size_t *n, char *err);

/* Disable (or enable again) a user. Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_user_set_disabled(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                                            bool disabled, char *err);

/* Replace a user's password hash (pw_hash borrowed, as cf_fsdb_user_add).
 * Returns 0, CF_EINVAL, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_user_set_password(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                                            const char *pw_hash, char *err);

/* Add a group. Returns 0 (*id_out, may be NULL, gets the id), CF_EEXIST,
 * CF_EINVAL, CF_ENOTFOUND (client), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_group_add(struct cf_fsdb *fs, uint64_t client, const char *name,
                                    uint64_t *id_out, char *err);

/* The id of client's group called name (borrowed). Returns 0 (*id_out set),
 * CF_ENOTFOUND (also for a group in the groups trash), CF_EINVAL (bad
 * name), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_group_find(struct cf_fsdb *fs, uint64_t client, const char *name,
                                     uint64_t *id_out, char *err);

/* Make user a member of group (both of client), or stop it. Returns 0 (also
 * when already in that state), CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_group_member_add(struct cf_fsdb *fs, uint64_t client, uint64_t group,
                                           uint64_t user, char *err);
CF_MUST_CHECK int cf_fsdb_group_member_remove(struct cf_fsdb *fs, uint64_t client, uint64_t group,
                                              uint64_t user, char *err);

/* The client's groups (not those in the groups trash) in id order. *out:
 * array of *n (caller owns; free(); NULL when *n is 0). Returns 0,
 * CF_ENOTFOUND (client), CF_ETOOLARGE, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_group_list(struct cf_fsdb *fs, uint64_t client,
                                     struct cf_fsdb_group **out, size_t *n, char *err);

/* Groups trash. Deleting a group moves it to the groups trash: its members
 * and its permission entries are kept with it, but while it is there the
 * group grants nothing (cf_fsdb_perm_effective skips it), is not listed
 * (cf_fsdb_group_list, cf_fsdb_user_groups, cf_fsdb_perm_list), takes no
 * members or entries, and still holds its name (cf_fsdb_group_add of that
 * name is CF_EEXIST). Restoring brings it back with its members and
 * entries; purging removes it, its memberships and its entries for good.
 *
 * cf_fsdb_group_delete: by_user (0: not recorded) is who deleted it.
 * Returns 0, CF_ENOTFOUND (no such live group), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_group_delete(struct cf_fsdb *fs, uint64_t client, uint64_t group,
                                       uint64_t by_user, char *err);

/* The groups in client's groups trash, in id order. *out: array of *n
 * (caller owns; free(); NULL when *n is 0). Returns 0, CF_ENOTFOUND
 * (client), CF_ETOOLARGE, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_group_trash_list(struct cf_fsdb *fs, uint64_t client,
                                           struct cf_fsdb_group_trash **out, size_t *n, char *err);

/* Take group out of the groups trash (cf_fsdb_group_restore) or remove it
 * for good (cf_fsdb_group_purge). Returns 0, CF_ENOTFOUND (not in client's
 * groups trash), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_group_restore(struct cf_fsdb *fs, uint64_t client, uint64_t group,
                                        char *err);
CF_MUST_CHECK int cf_fsdb_group_purge(struct cf_fsdb *fs, uint64_t client, uint64_t group,
                                      char *err);

/* The groups user belongs to, in id order. *out: array of *n (caller owns;
 * free(); NULL when *n is 0). Returns 0, CF_ENOTFOUND (user), CF_ETOOLARGE,
 * or a db.h error. */
CF_MUST_CHECK int cf_fsdb_user_groups(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                                      struct cf_fsdb_group **out, size_t *n, char *err);

/* ---- folders ----------------------------------------------------------------- */

/* The folder at path (borrowed, NUL-terminated), component by component.
 * Returns 0 with *folder_out set, CF_EINVAL (bad path or name),
 * CF_ETOOLARGE (path too long), CF_ENOTFOUND (a component is missing or is a
 * file), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_resolve(struct cf_fsdb *fs, uint64_t client, const char *path,
                                  uint64_t *folder_out, char *err);

/* The folder or file at path (as cf_fsdb_resolve; "/" is the root folder).
 * Returns 0 with *out filled, or the errors of cf_fsdb_resolve. */
CF_MUST_CHECK int cf_fsdb_lookup(struct cf_fsdb *fs, uint64_t client, const char *path,
                                 struct cf_fsdb_entry *out, char *err);

/* cf_fsdb_lookup and cf_fsdb_perm_effective at once, on one connection and
 * in one read transaction (db.h cf_db_begin_read): the entry at path into
 * *out, and into *level the user's effective level on the folder that
 * governs it: with of_parent, the folder holding the entry (CF_FSDB_NONE
 * for the root, which has none); without, the entry itself when it is a
 * folder, else the folder holding it. Returns 0, or the errors of both. */
CF_MUST_CHECK int cf_fsdb_lookup_access(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                                        const char *path, bool of_parent, struct cf_fsdb_entry *out,
                                        enum cf_fsdb_level *level, char *err);

/* GET /api/v1/versions/PATH in one read: cf_fsdb_lookup_access (without
 * of_parent) and, when the entry is a file the user may read (*level at
 * least CF_FSDB_READ on its folder), the page of its versions that
 * cf_fsdb_versions_page gives for after_number and limit, all on one
 * connection and in one read transaction. For a folder, or a file the user
 * may not read, nothing more is read: *v is NULL, *n 0 and *more false, and
 * refusing is the caller's job. *v: array of *n (caller owns; free(); NULL
 * when *n is 0). Returns 0, CF_EINVAL (limit, checked first; bad path or
 * name), or the errors of cf_fsdb_lookup_access and cf_fsdb_versions_page;
 * on failure *v is NULL, *n 0 and *more false. */
CF_MUST_CHECK int cf_fsdb_lookup_versions(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                                          const char *path, uint32_t after_number, size_t limit,
                                          struct cf_fsdb_entry *out, enum cf_fsdb_level *level,
                                          struct cf_fsdb_version **v, size_t *n, bool *more,
                                          char *err);

/* Create folder name (borrowed) in parent. *id_out (may be NULL) gets its id.
 * Returns 0, CF_EEXIST (a folder or file of that name is there), CF_EINVAL,
 * CF_ENOTFOUND (parent), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_mkdir(struct cf_fsdb *fs, uint64_t client, uint64_t parent,
                                const char *name, uint64_t *id_out, char *err);

/* Folders (by name) then files (by name) in folder. *out: array of *n
 * (caller owns; free(); NULL when *n is 0). Returns 0, CF_ENOTFOUND,
 * CF_ETOOLARGE, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_list(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                               struct cf_fsdb_entry **out, size_t *n, char *err);

/* Where a page of a folder listing ends: after the entry of that kind and
 * name (folders come before files). */
struct cf_fsdb_list_pos {
    enum cf_fsdb_kind kind;
    char name[CF_FSDB_NAME_MAX + 1];
};

/* One page of cf_fsdb_list's order: up to limit (1..CF_FSDB_LIST_MAX)
 * entries after `after` (borrowed; NULL: from the start), by keyset (each
 * page costs one index range scan, however deep, and memory for limit
 * entries). *more is whether entries follow; pass the last entry's kind and
 * name as `after` for them. *out: array of *n (caller owns; free(); NULL
 * when *n is 0). Returns 0, CF_EINVAL (limit), CF_ENOTFOUND (folder), or a
 * db.h error. Entries added or removed between pages appear or not, but no
 * entry present throughout is listed twice or skipped. */
CF_MUST_CHECK int cf_fsdb_list_page(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                    const struct cf_fsdb_list_pos *after, size_t limit,
                                    struct cf_fsdb_entry **out, size_t *n, bool *more, char *err);

/* Move and/or rename the folder or file `id` of kind into new_parent as
 * new_name (borrowed; NULL keeps the name). Returns 0, CF_EEXIST (name taken
 * there), CF_EINVAL (bad name; moving the root; a folder into itself or its
 * own subtree), CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_move(struct cf_fsdb *fs, uint64_t client, enum cf_fsdb_kind kind,
                               uint64_t id, uint64_t new_parent, const char *new_name, char *err);

/* ---- permissions ------------------------------------------------------------- */

/* Set (insert or replace) the entry of principal on folder. An explicit
 * CF_FSDB_NONE entry stops inheritance from above. Returns 0, CF_EINVAL (bad
 * kind or level), CF_ENOTFOUND (folder or principal), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_perm_set(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                   enum cf_fsdb_principal kind, uint64_t principal,
                                   enum cf_fsdb_level level, char *err);

/* Remove that entry. Returns 0 (also if there was none), CF_ENOTFOUND
 * (folder), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_perm_remove(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                      enum cf_fsdb_principal kind, uint64_t principal, char *err);

/* The entries set on folder itself (users first, then groups, by id).
 * *out: array of *n (caller owns; free(); NULL when *n is 0). Returns 0,
 * CF_ENOTFOUND, CF_ETOOLARGE, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_perm_list(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                    struct cf_fsdb_perm **out, size_t *n, char *err);

/* The effective level of user on folder (see "Permissions"). Returns 0 with
 * *out set, CF_ENOTFOUND (user or folder), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_perm_effective(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                                         uint64_t folder, enum cf_fsdb_level *out, char *err);

/* ---- files and versions ------------------------------------------------------ */

/* Record an upload of name (borrowed) in folder: a new name creates the file
 * with version 1; an existing file gets the next version, which becomes
 * current. One transaction: concurrent puts of one name serialise and each
 * ends up as a version. put (borrowed): uuid of CF_FSDB_UUID_LEN bytes of
 * [0-9a-f-]. *out (may be NULL) gets the file with its new current version.
 * Returns 0, CF_EEXIST (a folder has that name), CF_EINVAL, CF_ENOTFOUND
 * (folder), or a db.h error. For CF_EINDOUBT (the commit's outcome is
 * unknown, db.h) *out gets the file as it is if the commit took: the caller
 * finds out with cf_fsdb_uuid_refs. */
CF_MUST_CHECK int cf_fsdb_file_put(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                   const char *name, const struct cf_fsdb_put *put,
                                   struct cf_fsdb_entry *out, char *err);

/* The id of the folder name (borrowed) directly in parent, in one
 * statement: a trashed folder has no parent, so only a live one is found.
 * Whether parent itself is live is not checked (a caller that has just
 * reached it, e.g. through cf_fsdb_lookup_access, asks only about the
 * name). Returns 0 with *id_out set, CF_ENOTFOUND (no folder of that name
 * there; a file may have it), CF_EINVAL (bad name), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_folder_find(struct cf_fsdb *fs, uint64_t client, uint64_t parent,
                                      const char *name, uint64_t *id_out, char *err);

/* The live file name (borrowed) in folder, with its current version.
 * Returns 0, CF_ENOTFOUND, CF_EINVAL (bad name), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_file_get(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                   const char *name, struct cf_fsdb_entry *out, char *err);

/* Every version of file (live or trashed), oldest first. *out: array of *n
 * (caller owns; free()). Returns 0, CF_ENOTFOUND, CF_ETOOLARGE, or a db.h
 * error. */
CF_MUST_CHECK int cf_fsdb_versions(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                   struct cf_fsdb_version **out, size_t *n, char *err);

/* One page of cf_fsdb_versions: up to limit (1..CF_FSDB_LIST_MAX) versions
 * numbered above after_number (0: from the first), oldest first; *more as
 * for cf_fsdb_list_page. Returns 0, CF_EINVAL (limit), CF_ENOTFOUND (no
 * such file), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_versions_page(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                        uint32_t after_number, size_t limit,
                                        struct cf_fsdb_version **out, size_t *n, bool *more,
                                        char *err);

/* cf_fsdb_versions_page newest first: up to limit versions numbered below
 * before_number (0: from the newest). */
CF_MUST_CHECK int cf_fsdb_versions_page_desc(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                             uint32_t before_number, size_t limit,
                                             struct cf_fsdb_version **out, size_t *n, bool *more,
                                             char *err);

/* Version `version` (an id) of the file named name (borrowed) in folder:
 * the live file there, or a trashed file deleted from there (*trashed, may
 * be NULL, tells which). *out->file is the file's id. Returns 0,
 * CF_ENOTFOUND (no such version of a file at that place), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_version_at(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                     const char *name, uint64_t version,
                                     struct cf_fsdb_version *out, bool *trashed, char *err);

/* Delete version `version` (an id) of a live or trashed file for good,
 * with its S3 attributes. If it was current, the newest remaining version
 * becomes current; if it was the only one, the file goes too, with its
 * trash entry if it is trashed (*file_gone). When no version of the shard
 * names its UUID any more, the UUID is recorded as pending release in the
 * same transaction and copied to gone->text for the caller to hand to the
 * delete service (else gone->text is ""). Returns 0, CF_ENOTFOUND, or a
 * db.h error (nothing changed). */
CF_MUST_CHECK int cf_fsdb_version_remove(struct cf_fsdb *fs, uint64_t client, uint64_t version,
                                         struct cf_fsdb_uuid *gone, bool *file_gone, char *err);

/* Make a new current version of the live file `file` that names the UUID,
 * size and checksum of its version `version`. *out (may be NULL) gets the
 * file. Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_version_restore(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                          uint64_t version, uint64_t by_user,
                                          struct cf_fsdb_entry *out, char *err);

/* Copy the live file `file` to dst_folder as dst_name (borrowed): a new file
 * whose version 1 shares the current version's UUID. *out (may be NULL) gets
 * it. Returns 0, CF_EEXIST, CF_EINVAL, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_file_copy(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                    uint64_t dst_folder, const char *dst_name, uint64_t by_user,
                                    struct cf_fsdb_entry *out, char *err);

/* The number of versions (of live or trashed files) of client that name uuid
 * (borrowed text), in *count. Returns 0, CF_EINVAL (bad uuid), CF_ENOTFOUND
 * (client), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_uuid_refs(struct cf_fsdb *fs, uint64_t client, const char *uuid,
                                    uint64_t *count, char *err);

/* ---- trash -------------------------------------------------------------------- */

/* Move the live folder (with its contents) or file `id` of kind to the
 * trash. *trash_id (may be NULL) gets the trash entry. Returns 0, CF_EINVAL
 * (the root), CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_trash_put(struct cf_fsdb *fs, uint64_t client, enum cf_fsdb_kind kind,
                                    uint64_t id, uint64_t by_user, uint64_t *trash_id, char *err);

/* The client's trash entries deleted before before_ms (0: all), oldest
 * first, at most CF_FSDB_LIST_MAX of them: the retention walk and the user's
 * listing. *out: array of *n (caller owns; free(); NULL when *n is 0).
 * Returns 0, CF_ENOTFOUND, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_trash_list(struct cf_fsdb *fs, uint64_t client, uint64_t before_ms,
                                     struct cf_fsdb_trash **out, size_t *n, char *err);

/* Trash entry trash_id of client into *out. Returns 0, CF_ENOTFOUND, or a
 * db.h error. */
CF_MUST_CHECK int cf_fsdb_trash_get(struct cf_fsdb *fs, uint64_t client, uint64_t trash_id,
                                    struct cf_fsdb_trash *out, char *err);

/* One page of the client's trash, oldest first (by deletion time, then
 * id): up to limit (1..CF_FSDB_LIST_MAX) entries after the one deleted at
 * after_ms with id after_id (both 0: from the start); *more as for
 * cf_fsdb_list_page. Returns 0, CF_EINVAL (limit), CF_ENOTFOUND (client),
 * or a db.h error. */
CF_MUST_CHECK int cf_fsdb_trash_page(struct cf_fsdb *fs, uint64_t client, uint64_t after_ms,
                                     uint64_t after_id, size_t limit, struct cf_fsdb_trash **out,
                                     size_t *n, bool *more, char *err);

/* One page of the files trashed from folder (whatever became of the folder
 * since), in S3 key order: by original name (bytewise), then newest
 * deletion first (by id, descending); up to limit (1..CF_FSDB_LIST_MAX)
 * entries after (after_name, after_id): names above after_name (borrowed;
 * NULL: ""), or that name with an id below after_id (0: none of that
 * name). *more as for cf_fsdb_list_page. Returns 0, CF_EINVAL (limit),
 * CF_ENOTFOUND (client), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_trash_page_from(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                          const char *after_name, uint64_t after_id, size_t limit,
                                          struct cf_fsdb_trash **out, size_t *n, bool *more,
                                          char *err);

/* Put trash entry trash_id back into folder parent (0: its original parent)
 * as name (borrowed; NULL: its original name). Returns 0, CF_EEXIST (the
 * name is taken there: give another place or name), CF_ENOTFOUND (no such
 * entry, or the destination folder is gone or in the trash), CF_EINVAL (bad
 * name; a folder into its own subtree), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_trash_restore(struct cf_fsdb *fs, uint64_t client, uint64_t trash_id,
                                        uint64_t parent, const char *name, char *err);

/* Delete for good trash entry trash_id (0: the oldest CF_FSDB_LIST_MAX
 * entries deleted before before_ms, or of all when before_ms is 0: call
 * again while entries remain), with all their folders, files and
 * versions, in one transaction of a few statements whatever the number of
 * entries. Every file trashed on its own (not the files of a trashed
 * folder) is recorded as emptied by by_user (0: the retention pass) in
 * the same transaction (see "Emptied files" below). On success *out lists,
 * once each and sorted, the UUIDs that no version of the client names any
 * more, for the delete service (caller owns; free(); NULL when *n is 0).
 * Returns 0, CF_ENOTFOUND (client, or a nonzero trash_id that is not in
 * its trash), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_trash_empty(struct cf_fsdb *fs, uint64_t client, uint64_t trash_id,
                                      uint64_t before_ms, uint64_t by_user,
                                      struct cf_fsdb_uuid **out, size_t *n, char *err);

/* ---- emptied files ------------------------------------------------------------ */

/* Emptied files. The delete service keeps an object's bytes for its
 * retention after the gateway hands it over (undelete works until the purge
 * begins), so cf_fsdb_trash_empty keeps, for each file trashed on its own,
 * a record of its place, name and versions (ids, numbers, UUIDs, sizes,
 * checksums). The files of an emptied folder are not recorded and cannot
 * come back. A restore recreates the file under its old file and version
 * ids (the shard's counter never gives them out again); the caller must
 * have brought every UUID back from the delete service first (DESIGN §2:
 * nothing may name an object the purge may take). Records are dropped by a
 * restore, by cf_fsdb_emptied_drop, and after a retention by
 * cf_fsdb_emptied_expire. S3 attributes (content type, metadata) are not
 * kept. */

/* One page of client's emptied files, oldest emptied first (by emptied
 * time, then id), after the record (after_ms, after_id) ((0, 0): from the
 * first); limit and *more as for cf_fsdb_list_page. *out: array of *n
 * (caller owns; free(); NULL when *n is 0). Returns 0, CF_EINVAL (limit),
 * CF_ENOTFOUND (client), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_emptied_page(struct cf_fsdb *fs, uint64_t client, uint64_t after_ms,
                                       uint64_t after_id, size_t limit,
                                       struct cf_fsdb_emptied **out, size_t *n, bool *more,
                                       char *err);

/* Emptied file id of client into *out, and the distinct UUIDs its versions
 * name into *uuids (array of *nuuids, caller owns; free()). Returns 0,
 * CF_ENOTFOUND (no such record), or a db.h error; *uuids is NULL on
 * failure. */
CF_MUST_CHECK int cf_fsdb_emptied_get(struct cf_fsdb *fs, uint64_t client, uint64_t id,
                                      struct cf_fsdb_emptied *out, struct cf_fsdb_uuid **uuids,
                                      size_t *nuuids, char *err);

/* Recreate emptied file id of client with all its versions in folder
 * parent (0: its original folder) as name (borrowed; NULL: its original
 * name), drop the record, and forget its UUIDs as pending release (a file
 * names them again), in one transaction. With check_only, make every check
 * and change nothing. Returns 0, CF_ENOTFOUND (no such record, or the
 * destination folder is gone or in the trash), CF_EEXIST (the name is
 * taken), CF_EINVAL (bad name), or a db.h error (nothing changed). */
CF_MUST_CHECK int cf_fsdb_emptied_restore(struct cf_fsdb *fs, uint64_t client, uint64_t id,
                                          uint64_t parent, const char *name, bool check_only,
                                          char *err);

/* Drop the record of emptied file id of client (its objects are gone for
 * good). Returns 0 (also when there was none) or a db.h error. */
CF_MUST_CHECK int cf_fsdb_emptied_drop(struct cf_fsdb *fs, uint64_t client, uint64_t id, char *err);

/* Whether any version in client's shard (of any client there, live or
 * trashed) names uuid (borrowed), into *named (true on failure). Returns 0,
 * CF_EINVAL (not a UUID), CF_ENOTFOUND (client), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_uuid_named(struct cf_fsdb *fs, uint64_t client, const char *uuid,
                                     bool *named, char *err);

/* Drop client's records of files emptied before before_ms (> 0). Returns 0
 * or a db.h error. */
CF_MUST_CHECK int cf_fsdb_emptied_expire(struct cf_fsdb *fs, uint64_t client, uint64_t before_ms,
                                         char *err);

/* Objects to hand to the delete service. cf_fsdb_trash_empty records the
 * UUIDs it returns here in the same transaction as the deletion, so a caller
 * killed before the delete service took them finds them again; the caller
 * forgets each with cf_fsdb_release_done once the delete service has it.
 * cf_fsdb_release_add records one more (an object stored but named by
 * nothing). */

/* The client's pending UUIDs, oldest first, at most CF_FSDB_LIST_MAX. *out:
 * array of *n (caller owns; free(); NULL when *n is 0). Returns 0 or a db.h
 * error. */
CF_MUST_CHECK int cf_fsdb_release_pending(struct cf_fsdb *fs, uint64_t client,
                                          struct cf_fsdb_uuid **out, size_t *n, char *err);

/* Record uuid (borrowed, CF_FSDB_UUID_LEN bytes) as pending for client.
 * Returns 0 (also when it already was), CF_EINVAL, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_release_add(struct cf_fsdb *fs, uint64_t client, const char *uuid,
                                      char *err);

/* Forget a pending uuid (borrowed). Returns 0 (also when it was not
 * pending) or a db.h error. */
CF_MUST_CHECK int cf_fsdb_release_done(struct cf_fsdb *fs, uint64_t client, const char *uuid,
                                       char *err);

/* ---- S3 access keys and object attributes (s3.c) ------------------------- */

/* An access key of the gateway's S3 API (catalog table access_keys): its id
 * names (client, user), whose permissions apply to every request it signs.
 * The secret is stored as is, not hashed: AWS Signature Version 4 is an
 * HMAC keyed by the secret, so the server must hold it. The catalog is the
 * same trust boundary as the gateway's token key file (either one lets
 * its holder act as any user), so it is protected like that file: SQLite
 * files mode 0600 under --data, PostgreSQL by its roles. Revoking deletes
 * the row; the next request signed with it gets InvalidAccessKeyId. */
#define CF_FSDB_S3KEY_ID_MAX     32
#define CF_FSDB_S3KEY_SECRET_MAX 64
/* Keys per user at most (cf_fsdb_s3key_add). */
#define CF_FSDB_S3KEYS_PER_USER 16

struct cf_fsdb_s3key {
    char id[CF_FSDB_S3KEY_ID_MAX + 1];
    char secret[CF_FSDB_S3KEY_SECRET_MAX + 1];
    uint64_t client;
    uint64_t user;
    uint64_t created_ms;
};

/* Store k (borrowed; created_ms is set here). Returns 0, CF_EINVAL (an id
 * or secret empty, too long, or not printable ASCII), CF_ENOTFOUND (no such
 * client), CF_EEXIST (the id is taken), CF_ETOOLARGE (the user has
 * CF_FSDB_S3KEYS_PER_USER keys), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3key_add(struct cf_fsdb *fs, const struct cf_fsdb_s3key *k, char *err);

/* The key named id (borrowed). Returns 0, CF_ENOTFOUND or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3key_get(struct cf_fsdb *fs, const char *id, struct cf_fsdb_s3key *out,
                                    char *err);

/* The keys of client's user (0: of every user), oldest first. *out: array
 * of *n (caller owns; free(); NULL when *n is 0). Returns 0 or a db.h
 * error. */
CF_MUST_CHECK int cf_fsdb_s3key_list(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                                     struct cf_fsdb_s3key **out, size_t *n, char *err);

/* Delete the key id of client's user (0: of any user of client). Returns
 * 0, CF_ENOTFOUND (no such key there) or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3key_remove(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                                       const char *id, char *err);

/* What S3 keeps beside a file version (shard table s3_attrs): the ETag
 * (MD5 of the bytes, 32 hex; of a multipart upload, the MD5 of its parts'
 * MD5s, '-' and the number of parts), the Content-Type and the x-amz-meta-*
 * headers as a JSON object. Deleted with the file when its trash entry is
 * emptied (cf_fsdb_trash_empty). */
#define CF_FSDB_S3_CTYPE_MAX 255
#define CF_FSDB_S3_META_MAX  4096
#define CF_FSDB_S3_ETAG_MAX  47

struct cf_fsdb_s3attrs {
    char etag[CF_FSDB_S3_ETAG_MAX + 1];
    char content_type[CF_FSDB_S3_CTYPE_MAX + 1];
    char meta[CF_FSDB_S3_META_MAX + 1]; /* JSON object text, "{}" when none */
};

/* Record a's attributes (borrowed) for version number `version` of client's
 * file (replacing any). Returns 0, CF_ETOOLARGE, or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3attrs_set(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                      uint32_t version, const struct cf_fsdb_s3attrs *a, char *err);

/* The attributes of a version. Returns 0, CF_ENOTFOUND (none recorded: a
 * file written through /api/v1/fs) or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3attrs_get(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                      uint32_t version, struct cf_fsdb_s3attrs *out, char *err);

/* One child of a folder in S3 key order (cf_fsdb_s3_page). */
struct cf_fsdb_s3_item {
    struct cf_fsdb_entry e;             /* a folder's or a file's (current version) */
    char etag[CF_FSDB_S3_ETAG_MAX + 1]; /* a file's recorded ETag; "" if none */
};

/* Up to limit (1..CF_FSDB_LIST_MAX) children of client's folder in S3 key
 * order: a folder's key is its name and '/', a file's its name, compared
 * bytewise; only those whose key is greater than after (borrowed; NULL:
 * from the first). Each page is one query that reads and sorts the
 * folder's children in the database (no index gives this order), then one
 * look-up per file; memory is limit items. *out: array of *n (caller owns;
 * free(); NULL when *n is 0); *more: whether children follow. Returns 0,
 * CF_EINVAL (limit), CF_ENOTFOUND (folder), or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3_page(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                                  const char *after, size_t limit, struct cf_fsdb_s3_item **out,
                                  size_t *n, bool *more, char *err);

/* Multipart uploads in progress (shard tables s3_uploads and s3_parts).
 * An upload names its bucket and key (checked when it completes), the
 * Content-Type and metadata its object will get, and who started it. A
 * part is a stored object of its own that no file names: its uuid, size,
 * MD5 (the part's ETag) and SHA-512 (to read it back verified). Removing
 * an upload, or replacing a part, records the objects let go as pending
 * release (cf_fsdb_release_pending) in the same transaction, so none is
 * lost if the caller dies before handing them to the delete service. */
#define CF_FSDB_S3_UPLOAD_ID_LEN 32
#define CF_FSDB_S3_PARTS_MAX     10000

struct cf_fsdb_s3upload {
    char id[CF_FSDB_S3_UPLOAD_ID_LEN + 1];
    uint64_t user;
    char bucket[CF_FSDB_NAME_MAX + 1];
    char key[CF_FSDB_PATH_MAX + 1];
    struct cf_fsdb_s3attrs attrs; /* etag unused */
    uint64_t created_ms;
};

struct cf_fsdb_s3part {
    uint32_t number; /* 1..CF_FSDB_S3_PARTS_MAX */
    char uuid[CF_FSDB_UUID_LEN + 1];
    uint64_t size;
    char md5[33];
    uint8_t sha512[64];
    uint64_t created_ms;
};

/* Record upload u (borrowed; created_ms is set here) of client. Returns 0,
 * CF_EINVAL (id not 32 hex digits), CF_EEXIST or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3upload_add(struct cf_fsdb *fs, uint64_t client,
                                       const struct cf_fsdb_s3upload *u, char *err);

/* Client's upload id (borrowed). Returns 0, CF_ENOTFOUND or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3upload_get(struct cf_fsdb *fs, uint64_t client, const char *id,
                                       struct cf_fsdb_s3upload *out, char *err);

/* Up to limit (1..CF_FSDB_LIST_MAX) uploads of client's bucket whose key
 * starts with prefix, in (key, id) order after (after_key, after_id)
 * (after_id "" : after every upload of after_key; after_key "": from the
 * first); created_before_ms > 0 instead lists the uploads of every bucket
 * started before it (bucket and prefix ignored), oldest first. *out: array
 * of *n (caller owns; free(); NULL when *n is 0); *more: whether more
 * follow. Returns 0, CF_EINVAL (limit) or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3upload_list(struct cf_fsdb *fs, uint64_t client, const char *bucket,
                                        const char *prefix, const char *after_key,
                                        const char *after_id, uint64_t created_before_ms,
                                        size_t limit, struct cf_fsdb_s3upload **out, size_t *n,
                                        bool *more, char *err);

/* Delete client's upload id and its parts; the parts' objects are recorded
 * as pending release and returned in *gone (array of *ngone; caller owns;
 * free(); NULL when none) for the caller to hand to the delete service.
 * Returns 0, CF_ENOTFOUND or a db.h error (nothing changed). */
CF_MUST_CHECK int cf_fsdb_s3upload_remove(struct cf_fsdb *fs, uint64_t client, const char *id,
                                          struct cf_fsdb_uuid **gone, size_t *ngone, char *err);

/* Record part p (borrowed; created_ms is set here) of client's upload id,
 * replacing the part of that number: *old is then the replaced part's
 * object, recorded as pending release (old->text "" when none). Returns 0,
 * CF_ENOTFOUND (no such upload: the caller still owns p's object),
 * CF_EINVAL (number) or a db.h error. */
CF_MUST_CHECK int cf_fsdb_s3part_put(struct cf_fsdb *fs, uint64_t client, const char *id,
                                     const struct cf_fsdb_s3part *p, struct cf_fsdb_uuid *old,
                                     char *err);

/* Up to limit (1..CF_FSDB_S3_PARTS_MAX) parts of client's upload id with
 * numbers above after, in order. *out: array of *n (caller owns; free();
 * NULL when *n is 0); *more: whether more follow. Returns 0, CF_EINVAL
 * (limit) or a db.h error (an unknown upload has no parts). */
CF_MUST_CHECK int cf_fsdb_s3part_list(struct cf_fsdb *fs, uint64_t client, const char *id,
                                      uint32_t after, size_t limit, struct cf_fsdb_s3part **out,
                                      size_t *n, bool *more, char *err);

/* The sizes of the parts a file version was completed from (shard table
 * s3_part_sizes), in part order, so that GetObject ?partNumber=N finds
 * part N's bytes. Versions written otherwise, or completed before the
 * table existed, have none. Deleted with the file when its trash entry is
 * emptied (cf_fsdb_trash_empty). */

/* Record the n (1..CF_FSDB_S3_PARTS_MAX) sizes (borrowed) of version number
 * `version` of client's file, replacing any. Returns 0, CF_EINVAL (n) or a
 * db.h error. */
CF_MUST_CHECK int cf_fsdb_s3partsizes_set(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                          uint32_t version, const uint64_t *sizes, size_t n,
                                          char *err);

/* The part sizes of a version: *sizes an array of *n (caller owns; free()).
 * Returns 0, CF_ENOTFOUND (none recorded), CF_ECORRUPT (the row is
 * malformed) or a db.h error; *sizes is NULL and *n 0 on failure. */
CF_MUST_CHECK int cf_fsdb_s3partsizes_get(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                                          uint32_t version, uint64_t **sizes, size_t *n, char *err);

/* ---- change journal ---------------------------------------------------------- */

/*
 * Every change to a client's tree appends one row to the shard's journal
 * (table changes) in the same transaction as the change, so the journal
 * never misses one nor records one that did not happen: a new version of a
 * file (a PUT, a copy, a version restore), an item sent to the trash, an
 * item restored from the trash (or an emptied file brought back), a move or
 * rename, a new folder. Each row has a sequence number taken from the
 * shard's id counter (so it grows in commit order: every writer of a shard
 * takes that counter's row lock first-come, and holds it to its commit),
 * the path the item has after the change (for a move also the one before),
 * the folder holding it (to check read permission on), and for a file its
 * current version, size and SHA-512. Sequence numbers of one client have
 * gaps (the counter is shared with every id of the shard).
 *
 * Rows older than a retention are pruned (cf_fsdb_changes_prune); the
 * highest pruned number is kept as the client's floor, and a reader whose
 * cursor is below it is told so (it must rescan: changes were lost to it).
 */
#define CF_FSDB_CHANGES_MAX 1000

enum cf_fsdb_change_kind {
    CF_FSDB_CH_PUT = 0,     /* a file got a new current version (or was created) */
    CF_FSDB_CH_DELETE = 1,  /* a file or folder went to the trash */
    CF_FSDB_CH_RESTORE = 2, /* a file or folder came back from the trash */
    CF_FSDB_CH_MOVE = 3,    /* a file or folder moved from old_path to path */
    CF_FSDB_CH_MKDIR = 4,   /* a new folder */
};

struct cf_fsdb_change {
    uint64_t seq;
    enum cf_fsdb_change_kind kind;
    enum cf_fsdb_kind type;              /* file or folder */
    char path[CF_FSDB_PATH_MAX + 1];     /* after the change */
    char old_path[CF_FSDB_PATH_MAX + 1]; /* a move's source; "" otherwise */
    uint64_t folder;                     /* the folder holding path */
    uint64_t item;                       /* the file or folder id */
    uint64_t version;                    /* a file's current version id; 0 for a folder */
    uint64_t size;
    uint8_t sha512[64]; /* zero for a folder */
    uint64_t time_ms;
};

/* The name of a change kind ("put", "delete", "restore", "move", "mkdir"). */
const char *cf_fsdb_change_kind_name(enum cf_fsdb_change_kind k);

/* Up to limit (1..CF_FSDB_CHANGES_MAX) changes of client with seq above
 * after, in seq order. *out: array of *n (caller owns; free(); NULL when
 * *n is 0); *more: whether more follow; *gone: after is below the client's
 * floor (rows it would have needed were pruned; *n is then 0). *latest (may
 * be NULL) gets the client's latest seq (the floor when it has no rows),
 * the cursor to poll from when nothing came. Returns 0, CF_EINVAL (limit)
 * or a db.h error. */
CF_MUST_CHECK int cf_fsdb_changes_page(struct cf_fsdb *fs, uint64_t client, uint64_t after,
                                       size_t limit, struct cf_fsdb_change **out, size_t *n,
                                       bool *more, bool *gone, uint64_t *latest, char *err);

/* Delete client's changes made before before_ms, raising its floor to the
 * highest seq deleted; *removed (may be NULL) gets how many. One
 * transaction. Returns 0 or a db.h error. */
CF_MUST_CHECK int cf_fsdb_changes_prune(struct cf_fsdb *fs, uint64_t client, uint64_t before_ms,
                                        size_t *removed, char *err);

/* A counter that grows after each journaled change this process commits
 * (any client): a long-poll reads it, reads the journal, and if nothing
 * came waits with cf_fsdb_changes_wait. Changes committed by other
 * processes do not move it: a waiter should also re-read every second or so. */
uint64_t cf_fsdb_changes_gen(struct cf_fsdb *fs);

/* Wait until the counter differs from gen or timeout_ms passes, without
 * holding any connection. Returns true if it moved. */
bool cf_fsdb_changes_wait(struct cf_fsdb *fs, uint64_t gen, uint64_t timeout_ms);

#endif
