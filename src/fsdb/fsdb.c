/*
 * fsdb.c -- the file system database's schema, its catalog (shards on the
 * shardset skeleton, clients), name rules, and the helpers of fsdb_int.h
 * (fsdb.h).
 */
#include "fsdb_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/limits.h"
#include "coffer/log.h"

/* SQL follows the subset in db.h. coffer_meta holds one row that says what a
 * database is, so an fsdb shard is never opened as the catalog, as another
 * shard, or as an objdb database (whose kinds are "catalog" and "shard"),
 * and, in a shard, the id counter of every table (cf__fsdb_new_id). */
static const char meta_schema[] = "CREATE TABLE IF NOT EXISTS coffer_meta ("
                                  " id INTEGER PRIMARY KEY CHECK (id = 1),"
                                  " kind TEXT NOT NULL,"
                                  " version INTEGER NOT NULL,"
                                  " shard_id INTEGER NOT NULL DEFAULT 0,"
                                  " last_id BIGINT NOT NULL DEFAULT 0);";

static const char catalog_schema[] = "CREATE TABLE IF NOT EXISTS shards ("
                                     " id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 65535),"
                                     " location TEXT NOT NULL UNIQUE,"
                                     " read_only INTEGER NOT NULL DEFAULT 0,"
                                     " created BIGINT NOT NULL);"
                                     "CREATE TABLE IF NOT EXISTS clients ("
                                     " id INTEGER PRIMARY KEY,"
                                     " name TEXT NOT NULL UNIQUE,"
                                     " shard_id BIGINT NOT NULL REFERENCES shards (id),"
                                     " info TEXT NOT NULL,"
                                     " replicas INTEGER NOT NULL,"
                                     " created BIGINT NOT NULL);"
                                     "CREATE INDEX IF NOT EXISTS clients_by_shard"
                                     " ON clients (shard_id);"
                                     "CREATE TABLE IF NOT EXISTS access_keys ("
                                     " key_id TEXT PRIMARY KEY,"
                                     " client_id BIGINT NOT NULL REFERENCES clients (id),"
                                     " user_id BIGINT NOT NULL,"
                                     " secret TEXT NOT NULL,"
                                     " created BIGINT NOT NULL);"
                                     "CREATE INDEX IF NOT EXISTS access_keys_by_user"
                                     " ON access_keys (client_id, user_id);";

/* Every row carries client_id and every query matches it (fsdb.h
 * "Isolation"). A trashed folder or file has a NULL parent, so the UNIQUE
 * constraints (NULLs are distinct in both engines) hold among live rows
 * only; is_root tells the root apart from a trashed folder. versions_by_uuid
 * makes the reference count one index range. */
static const char shard_schema[] =
    "CREATE TABLE IF NOT EXISTS users ("
    " id INTEGER PRIMARY KEY,"
    " client_id BIGINT NOT NULL,"
    " name TEXT NOT NULL,"
    " pw_hash TEXT NOT NULL,"
    " admin INTEGER NOT NULL CHECK (admin IN (0, 1)),"
    " disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),"
    " created BIGINT NOT NULL,"
    " UNIQUE (client_id, name));"
    "CREATE TABLE IF NOT EXISTS usergroups ("
    " id INTEGER PRIMARY KEY,"
    " client_id BIGINT NOT NULL,"
    " name TEXT NOT NULL,"
    " created BIGINT NOT NULL,"
    " UNIQUE (client_id, name));"
    "CREATE TABLE IF NOT EXISTS group_members ("
    " group_id BIGINT NOT NULL REFERENCES usergroups (id),"
    " user_id BIGINT NOT NULL REFERENCES users (id),"
    " PRIMARY KEY (group_id, user_id));"
    "CREATE INDEX IF NOT EXISTS group_members_by_user ON group_members (user_id, group_id);"
    "CREATE TABLE IF NOT EXISTS folders ("
    " id INTEGER PRIMARY KEY,"
    " client_id BIGINT NOT NULL,"
    " parent_id BIGINT REFERENCES folders (id),"
    " name TEXT NOT NULL,"
    " is_root INTEGER NOT NULL DEFAULT 0 CHECK (is_root IN (0, 1)),"
    " created BIGINT NOT NULL,"
    " modified BIGINT NOT NULL,"
    " UNIQUE (client_id, parent_id, name));"
    "CREATE UNIQUE INDEX IF NOT EXISTS folders_root ON folders (client_id) WHERE is_root = 1;"
    "CREATE INDEX IF NOT EXISTS folders_by_parent ON folders (parent_id);"
    "CREATE TABLE IF NOT EXISTS folder_perms ("
    " folder_id BIGINT NOT NULL REFERENCES folders (id),"
    " kind INTEGER NOT NULL CHECK (kind IN (0, 1)),"
    " principal_id BIGINT NOT NULL,"
    " level INTEGER NOT NULL CHECK (level IN (0, 1, 2)),"
    " PRIMARY KEY (folder_id, kind, principal_id));"
    "CREATE TABLE IF NOT EXISTS objects ("
    " id INTEGER PRIMARY KEY,"
    " client_id BIGINT NOT NULL,"
    " folder_id BIGINT REFERENCES folders (id),"
    " name TEXT NOT NULL,"
    " current_version BIGINT NOT NULL,"
    " created BIGINT NOT NULL,"
    " modified BIGINT NOT NULL,"
    " UNIQUE (client_id, folder_id, name));"
    "CREATE INDEX IF NOT EXISTS objects_by_folder ON objects (folder_id);"
    "CREATE TABLE IF NOT EXISTS versions ("
    " id INTEGER PRIMARY KEY,"
    " object_id BIGINT NOT NULL REFERENCES objects (id),"
    " number INTEGER NOT NULL,"
    " uuid TEXT NOT NULL,"
    " size BIGINT NOT NULL,"
    " sha512 BLOB NOT NULL CHECK (length(sha512) = 64),"
    " created BIGINT NOT NULL,"
    " by_user BIGINT NOT NULL,"
    " UNIQUE (object_id, number));"
    "CREATE INDEX IF NOT EXISTS versions_by_uuid ON versions (uuid);"
    "CREATE TABLE IF NOT EXISTS trash ("
    " id INTEGER PRIMARY KEY,"
    " client_id BIGINT NOT NULL,"
    " kind INTEGER NOT NULL CHECK (kind IN (0, 1)),"
    " item_id BIGINT NOT NULL,"
    " orig_parent BIGINT NOT NULL,"
    " orig_name TEXT NOT NULL,"
    " deleted_at BIGINT NOT NULL,"
    " by_user BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS trash_by_client ON trash (client_id, deleted_at);"
    "CREATE TABLE IF NOT EXISTS pending_release ("
    " client_id BIGINT NOT NULL,"
    " uuid TEXT NOT NULL,"
    " since BIGINT NOT NULL,"
    " PRIMARY KEY (client_id, uuid));";

/* Tables added after version 1 of a shard, made when missing each time a
 * shard is opened (CREATE ... IF NOT EXISTS), so older shards gain them:
 * the index of trashed items by where they were (S3's version listing),
 * the S3 attributes of file versions, the multipart uploads in progress
 * with their parts, the part sizes of completed ones, the groups trash, and
 * the records of emptied files with their versions, and the change journal
 * with each client's floor (fsdb.h). The catalog's are in catalog_schema,
 * which runs at every open. */
static const char shard_added[] = "CREATE INDEX IF NOT EXISTS trash_by_parent"
                                  " ON trash (client_id, orig_parent, orig_name);"
                                  "CREATE TABLE IF NOT EXISTS s3_attrs ("
                                  " file_id BIGINT NOT NULL,"
                                  " version INTEGER NOT NULL,"
                                  " client_id BIGINT NOT NULL,"
                                  " etag TEXT NOT NULL,"
                                  " content_type TEXT NOT NULL,"
                                  " meta TEXT NOT NULL,"
                                  " PRIMARY KEY (file_id, version));"
                                  "CREATE TABLE IF NOT EXISTS s3_uploads ("
                                  " upload_id TEXT PRIMARY KEY,"
                                  " client_id BIGINT NOT NULL,"
                                  " user_id BIGINT NOT NULL,"
                                  " bucket TEXT NOT NULL,"
                                  " obj_key TEXT NOT NULL,"
                                  " content_type TEXT NOT NULL,"
                                  " meta TEXT NOT NULL,"
                                  " created BIGINT NOT NULL);"
                                  "CREATE INDEX IF NOT EXISTS s3_uploads_by_key"
                                  " ON s3_uploads (client_id, bucket, obj_key, upload_id);"
                                  "CREATE INDEX IF NOT EXISTS s3_uploads_by_age"
                                  " ON s3_uploads (client_id, created);"
                                  "CREATE TABLE IF NOT EXISTS s3_parts ("
                                  " upload_id TEXT NOT NULL,"
                                  " part_no INTEGER NOT NULL,"
                                  " client_id BIGINT NOT NULL,"
                                  " uuid TEXT NOT NULL,"
                                  " size BIGINT NOT NULL,"
                                  " md5 TEXT NOT NULL,"
                                  " sha512 TEXT NOT NULL,"
                                  " created BIGINT NOT NULL,"
                                  " PRIMARY KEY (upload_id, part_no));"
                                  "CREATE TABLE IF NOT EXISTS s3_part_sizes ("
                                  " file_id BIGINT NOT NULL,"
                                  " version INTEGER NOT NULL,"
                                  " client_id BIGINT NOT NULL,"
                                  " sizes TEXT NOT NULL,"
                                  " PRIMARY KEY (file_id, version));"
                                  "CREATE TABLE IF NOT EXISTS group_trash ("
                                  " group_id BIGINT PRIMARY KEY REFERENCES usergroups (id),"
                                  " client_id BIGINT NOT NULL,"
                                  " deleted BIGINT NOT NULL,"
                                  " by_user BIGINT NOT NULL);"
                                  "CREATE INDEX IF NOT EXISTS group_trash_by_client"
                                  " ON group_trash (client_id, group_id);"
                                  "CREATE TABLE IF NOT EXISTS emptied ("
                                  " id INTEGER PRIMARY KEY,"
                                  " client_id BIGINT NOT NULL,"
                                  " orig_parent BIGINT NOT NULL,"
                                  " orig_name TEXT NOT NULL,"
                                  " current_version BIGINT NOT NULL,"
                                  " created BIGINT NOT NULL,"
                                  " deleted_at BIGINT NOT NULL,"
                                  " deleted_by BIGINT NOT NULL,"
                                  " emptied_at BIGINT NOT NULL,"
                                  " emptied_by BIGINT NOT NULL);"
                                  "CREATE INDEX IF NOT EXISTS emptied_by_client"
                                  " ON emptied (client_id, emptied_at);"
                                  "CREATE TABLE IF NOT EXISTS emptied_versions ("
                                  " id INTEGER PRIMARY KEY,"
                                  " emptied_id BIGINT NOT NULL,"
                                  " number INTEGER NOT NULL,"
                                  " uuid TEXT NOT NULL,"
                                  " size BIGINT NOT NULL,"
                                  " sha512 BLOB NOT NULL,"
                                  " created BIGINT NOT NULL,"
                                  " by_user BIGINT NOT NULL);"
                                  "CREATE INDEX IF NOT EXISTS emptied_versions_by_file"
                                  " ON emptied_versions (emptied_id);"
                                  "CREATE TABLE IF NOT EXISTS changes ("
                                  " seq BIGINT PRIMARY KEY,"
                                  " client_id BIGINT NOT NULL,"
                                  " kind INTEGER NOT NULL,"
                                  " type INTEGER NOT NULL,"
                                  " path TEXT NOT NULL,"
                                  " old_path TEXT NOT NULL,"
                                  " folder_id BIGINT NOT NULL,"
                                  " item_id BIGINT NOT NULL,"
                                  " version_id BIGINT NOT NULL,"
                                  " size BIGINT NOT NULL,"
                                  " sha512 BLOB NOT NULL,"
                                  " created BIGINT NOT NULL);"
                                  "CREATE INDEX IF NOT EXISTS changes_by_client"
                                  " ON changes (client_id, seq);"
                                  "CREATE TABLE IF NOT EXISTS changes_floor ("
                                  " client_id BIGINT PRIMARY KEY,"
                                  " seq BIGINT NOT NULL);";

/* ---- helpers (fsdb_int.h) ---------------------------------------------------- */

int cf__fsdb_new_id(struct cf_db *db, int64_t *out, char *err)
{
    static const char sql[] = "UPDATE coffer_meta SET last_id = last_id + 1"
                              " WHERE id = 1 AND kind = 'fs-shard' RETURNING last_id";
    int rc;

    rc = cf_db_run(db, out, 1, err, sql, "");
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "coffer_meta row missing");
        rc = CF_ECORRUPT;
    }
    return rc < 0 ? rc : 0;
}

int cf__fsdb_grow(void **arr, size_t *cap, size_t n, size_t elem, char *err)
{
    if (n >= CF_FSDB_LIST_MAX) {
        cf_err_set(err, "more than %d rows", CF_FSDB_LIST_MAX);
        return CF_ETOOLARGE;
    }
    if (n >= *cap) {
        *cap = *cap == 0 ? 16 : *cap * 2;
        *arr = cf_xrealloc(*arr, *cap * elem);
    }
    return 0;
}

static int check_limit(size_t limit, const struct cf__fsdb_page *p, char *err)
{
    if (limit < 1 || limit > CF_FSDB_LIST_MAX) {
        cf_err_set(err, "a page holds 1 to %d %s", CF_FSDB_LIST_MAX, p->what);
        return CF_EINVAL;
    }
    return 0;
}

int cf__fsdb_page_on(struct cf_db *db, size_t limit, const struct cf__fsdb_page *p, void **out,
                     size_t *n, bool *more, char *err)
{
    struct cf_db_stmt *s = NULL;
    unsigned char *v = NULL;
    size_t cnt = 0, cap = 0, want = limit + 1;
    int rc, i;

    *more = false;
    rc = check_limit(limit, p, err);
    for (i = 0; rc == 0; i++) {
        rc = p->query(db, p->arg, i, cnt, want, &s, err);
        if (rc < 0 || s == NULL)
            break;
        while (cnt < want) {
            rc = cf_db_step(s, err);
            if (rc != CF_DB_ROW)
                break;
            rc = cf__fsdb_grow((void **)&v, &cap, cnt, p->elem, err);
            if (rc < 0)
                break;
            memset(v + cnt * p->elem, 0, p->elem);
            rc = p->row(s, p->arg, i, v + cnt * p->elem);
            if (rc < 0)
                break;
            cnt++;
        }
        if (rc > 0)
            rc = 0; /* CF_DB_DONE, or the last CF_DB_ROW wanted */
        cf_db_finalize(s);
        s = NULL;
    }
    if (rc == 0 && cnt > limit) {
        *more = true;
        cnt = limit;
    }
    cf_db_finalize(s);
    if (rc < 0) {
        free(v);
        v = NULL;
        cnt = 0;
    }
    *out = v;
    *n = cnt;
    return rc < 0 ? rc : 0;
}

int cf__fsdb_page(struct cf_fsdb *fs, uint64_t client, size_t limit, const struct cf__fsdb_page *p,
                  void **out, size_t *n, bool *more, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    *out = NULL;
    *n = 0;
    *more = false;
    rc = check_limit(limit, p, err);
    if (rc == 0)
        rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf__fsdb_page_on(c.db, limit, p, out, n, more, err);
    cf__fsdb_release(&c);
    return rc;
}

/* The keyset and statement of a cf__fsdb_time_page. */
struct time_page {
    uint64_t client, after_ms, after_id;
    const char *sql;
    int (*row)(struct cf_db_stmt *s, void *elem);
};

static int time_page_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                           struct cf_db_stmt **s, char *err)
{
    const struct time_page *t = arg;

    (void)got;
    *s = NULL;
    if (i > 0)
        return 0;
    return cf_db_query(db, s, err, t->sql, "iiii", (int64_t)t->client, (int64_t)t->after_ms,
                       (int64_t)t->after_id, (int64_t)want);
}

static int time_page_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    const struct time_page *t = arg;

    (void)i;
    return t->row(s, elem);
}

int cf__fsdb_time_page(struct cf_fsdb *fs, uint64_t client, const char *sql, uint64_t after_ms,
                       uint64_t after_id, size_t limit, size_t elem,
                       int (*row)(struct cf_db_stmt *s, void *elem), void **out, size_t *n,
                       bool *more, char *err)
{
    struct time_page t = {client, after_ms, after_id, sql, row};
    const struct cf__fsdb_page p = {elem, "entries", time_page_query, time_page_row, &t};

    return cf__fsdb_page(fs, client, limit, &p, out, n, more, err);
}

/* ---- names ------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0: no overlong
 * forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    uint32_t c;
    size_t len, i;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        c = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        c = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        c = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0u) != 0x80u)
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return len;
}

int cf_fsdb_name_validate(const char *name, size_t len, char *err)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t i = 0;

    if (len == 0 || len > CF_FSDB_NAME_MAX) {
        cf_err_set(err, "a name has 1 to %d bytes, not %zu", CF_FSDB_NAME_MAX, len);
        return CF_EINVAL;
    }
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
        cf_err_set(err, "\".\" and \"..\" are not names");
        return CF_EINVAL;
    }
    while (i < len) {
        size_t k;

        if (p[i] == '/' || p[i] == '\0') {
            cf_err_set(err, "a name may not contain '/' or NUL (byte %zu)", i);
            return CF_EINVAL;
        }
        k = utf8_seq(p + i, len - i);
        if (k == 0) {
            cf_err_set(err, "a name must be UTF-8 (bad byte %zu)", i);
            return CF_EINVAL;
        }
        i += k;
    }
    return 0;
}

int cf__fsdb_check_name(const char *name, char *err)
{
    if (name == NULL) {
        cf_err_set(err, "no name");
        return CF_EINVAL;
    }
    /* strnlen: a name longer than the cap is refused without reading it all. */
    return cf_fsdb_name_validate(name, strnlen(name, CF_FSDB_NAME_MAX + 1), err);
}

/* Inside the caller's transaction, give a catalog made by an older coffer
 * the columns added since: the clients' version expiry policy (fsdb.h),
 * starting with every version kept, and their storage policy, starting
 * with objects stored as sent. */
static int catalog_migrate(struct cf_db *db, char *err)
{
    static const struct cf_db_column cols[] = {
        {"clients", "keep_versions",
         "ALTER TABLE clients ADD COLUMN keep_versions INTEGER NOT NULL DEFAULT 0;"},
        {"clients", "keep_days",
         "ALTER TABLE clients ADD COLUMN keep_days INTEGER NOT NULL DEFAULT 0;"},
        {"clients", "compress",
         "ALTER TABLE clients ADD COLUMN compress INTEGER NOT NULL DEFAULT 0;"},
        {"clients", "encrypt",
         "ALTER TABLE clients ADD COLUMN encrypt INTEGER NOT NULL DEFAULT 0;"},
    };

    return cf_db_add_columns(db, cols, CF_ARRAY_LEN(cols), err);
}

/* Create the tables of the catalog (shard_id 0) or a shard if missing and
 * stamp coffer_meta, in one transaction, checking the stamp before the rest
 * so a wrong file gets no extra tables. */
static int schema_init(struct cf_db *db, const char *uri, uint32_t shard_id, char *err)
{
    static const char stamp[] = "INSERT INTO coffer_meta (id, kind, version, shard_id, last_id)"
                                " VALUES (1, ?1, ?2, ?3, 0) ON CONFLICT (id) DO NOTHING";
    const char *kind = shard_id == 0 ? "fs-catalog" : "fs-shard";
    int rc;

    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_exec_missing(db, meta_schema, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, stamp, "tii", kind, (int64_t)CF__FSDB_SCHEMA_VERSION,
                   (int64_t)shard_id);
    if (rc < 0)
        goto out;
    rc = cf_db_meta_check(db, uri, kind, CF__FSDB_SCHEMA_VERSION, shard_id, "fs shard", err);
    if (rc < 0)
        goto out;
    rc = cf_db_exec_missing(db, shard_id == 0 ? catalog_schema : shard_schema, err);
    if (rc == 0 && shard_id == 0)
        rc = catalog_migrate(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    cf_db_rollback(db);
    return rc;
}

/* ---- the shard set ------------------------------------------------------------ */

static int open_db(struct cf_db *db, const char *uri, uint32_t id, bool create, char *err)
{
    int rc;

    if (create)
        rc = schema_init(db, uri, id, err);
    else
        rc = cf_db_meta_check(db, uri, "fs-shard", CF__FSDB_SCHEMA_VERSION, id, "fs shard", err);
    if (rc == 0 && id != 0)
        rc = cf_db_exec_missing(db, shard_added, err);
    return rc;
}

/* A file system database shard: the set's entry and its group of
 * changes (cf__fsdb_group_write). */
struct fsdb_shard {
    struct cf_shardset_shard base; /* first: shardset.h "Entries" */
    struct cf_db_group group;
};

static void shard_init(struct cf_shardset_shard *s)
{
    cf_db_group_init(&((struct fsdb_shard *)s)->group);
}

static void shard_fini(struct cf_shardset_shard *s)
{
    cf_db_group_fini(&((struct fsdb_shard *)s)->group);
}

static const struct cf_shardset_ops shard_ops = {
    .name = "fsdb",
    .shard_word = "fs shard",
    .shard_size = sizeof(struct fsdb_shard),
    /* The flag column: CF__FSDB_READ_ONLY. */
    .select_sql = "SELECT id, location, created, read_only FROM shards ORDER BY id",
    .nflags = 1,
    .reload_min_ms = CF__FSDB_RELOAD_MIN_MS,
    .open_db = open_db,
    .shard_init = shard_init,
    .shard_fini = shard_fini,
};

/* The cached shard id, re-reading the catalog on a miss. The id comes from
 * the catalog itself (clients.shard_id references shards), so a miss is a
 * shard another process added, found by that re-read; one that is still
 * missing means a damaged catalog. */
static int shard_find(struct cf_fsdb *fs, uint32_t id, struct cf_shardset_shard **out, char *err)
{
    int rc = cf_shardset_find(fs->set, id, out, err);

    if (rc == CF_ENOTFOUND) {
        cf_err_set(err, "fs shard %u is not in the catalog", (unsigned)id);
        rc = CF_ECORRUPT;
    }
    return rc;
}

/* ---- open / close ------------------------------------------------------------- */

int cf_fsdb_open(const char *catalog_uri, unsigned pool_size, struct cf_fsdb **out, char *err)
{
    struct cf_fsdb *fs = NULL;
    int rc;

    *out = NULL;
    fs = cf_xcalloc(1, sizeof(*fs));
    pthread_mutex_init(&fs->shard_mu, NULL);
    cf__fsdb_changes_init(fs);
    rc = cf_shardset_open(catalog_uri, pool_size == 0 ? cf_db_pool_default(catalog_uri) : pool_size,
                          &shard_ops, &fs->set, err);
    if (rc < 0)
        goto out;
    fs->catalog = cf_shardset_catalog(fs->set);
    *out = fs;
    fs = NULL;
out:
    cf_fsdb_close(fs);
    return rc;
}

void cf_fsdb_close(struct cf_fsdb *fs)
{
    if (fs == NULL)
        return;
    cf_shardset_close(fs->set);
    pthread_mutex_destroy(&fs->shard_mu);
    cf__fsdb_changes_fini(fs);
    free(fs);
}

/* ---- shards ------------------------------------------------------------------- */

/* cf_shardset_add's choice: the next id after the largest, and for a NULL
 * location a file next to a SQLite catalog, its name kept in arg (char[32]). */
static int add_choose(struct cf_shardset *set, struct cf_db *catalog, void *arg, uint32_t *id,
                      const char **location, char *err)
{
    static const char sql_max[] = "SELECT coalesce(max(id), 0) FROM shards";
    char *auto_loc = arg;
    int64_t max = 0;
    int rc;

    rc = cf_db_run(catalog, &max, 1, err, sql_max, "");
    if (rc < 0)
        goto out;
    if (max >= 65535) {
        cf_err_set(err, "no fs shard id is free");
        rc = CF_EINVAL;
        goto out;
    }
    *id = (uint32_t)max + 1;
    if (*location == NULL) {
        if (cf_shardset_catalog_dir(set) == NULL) {
            cf_err_set(err, "a shard needs a location unless the catalog is SQLite");
            rc = CF_EINVAL;
            goto out;
        }
        /* Relative: resolved against the catalog's directory. */
        (void)snprintf(auto_loc, 32, "sqlite:fsshard-%04u.db", (unsigned)*id);
        *location = auto_loc;
    }
    rc = 0;
out:
    return rc;
}

/* The catalog row of a new shard: the commit point of cf_fsdb_shard_add. */
static int add_row(struct cf_db *catalog, const struct cf_shardset_shard *sh, void *arg, char *err)
{
    static const char sql[] = "INSERT INTO shards (id, location, read_only, created)"
                              " VALUES (?1, ?2, 0, ?3)";
    int rc;

    (void)arg;
    rc = cf_db_run(catalog, NULL, 0, err, sql, "iti", (int64_t)sh->id, sh->location,
                   (int64_t)sh->created_ms);
    if (rc == CF_EEXIST)
        cf_err_set(err, "fs shard location \"%s\" is already registered", sh->location);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_shard_add(struct cf_fsdb *fs, const char *location, uint32_t *id_out, char *err)
{
    struct cf_shardset_shard *sh = NULL;
    char auto_loc[32];
    int rc;

    rc = cf_shardset_add(fs->set, 0, location, add_choose, add_row, auto_loc, &sh, err);
    if (rc == 0 && id_out != NULL)
        *id_out = sh->id;
    return rc;
}

int cf_fsdb_shard_set_read_only(struct cf_fsdb *fs, uint32_t id, bool read_only, char *err)
{
    static const char sql[] = "UPDATE shards SET read_only = ?2 WHERE id = ?1 RETURNING id";
    struct cf_db *db = cf_db_pool_acquire(fs->catalog);
    int rc;

    rc = cf_db_run(db, NULL, 0, err, sql, "ii", (int64_t)id, (int64_t)read_only);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no fs shard %u", (unsigned)id);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = 0;
    /* Not cached yet (added by another process): the next re-read brings it. */
    cf_shardset_set_flags(fs->set, id, read_only ? CF__FSDB_READ_ONLY : 0u);
out:
    cf_db_pool_release(fs->catalog, db);
    return rc;
}

int cf_fsdb_shard_list(struct cf_fsdb *fs, struct cf_fsdb_shard **out, size_t *n, char *err)
{
    static const char sql[] = "SELECT id, location, read_only, created FROM shards ORDER BY id";
    struct cf_db *db = cf_db_pool_acquire(fs->catalog);
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_shard *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        rc = cf__fsdb_grow((void **)&v, &cap, cnt, sizeof(*v), err);
        if (rc < 0)
            goto out;
        memset(&v[cnt], 0, sizeof(v[cnt]));
        v[cnt].id = (uint32_t)cf_db_column_int64(s, 0);
        rc = cf_db_column_copy_text(s, 1, v[cnt].location, sizeof(v[cnt].location));
        if (rc < 0)
            goto out;
        v[cnt].read_only = cf_db_column_int64(s, 2) != 0;
        v[cnt].created_ms = (uint64_t)cf_db_column_int64(s, 3);
        cnt++;
    }
out:
    cf_db_finalize(s);
    cf_db_pool_release(fs->catalog, db);
    if (rc < 0) {
        free(v);
        v = NULL;
        cnt = 0;
    }
    *out = v;
    *n = cnt;
    return rc < 0 ? rc : 0;
}

/* ---- clients -------------------------------------------------------------------- */

#define CLIENT_COLS                                                                                \
    "SELECT id, name, shard_id, info, replicas, created, keep_versions, keep_days, compress,"      \
    " encrypt FROM clients"

static int client_row(struct cf_db_stmt *s, struct cf_fsdb_client *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    c->id = (uint64_t)cf_db_column_int64(s, 0);
    rc = cf_db_column_copy_text(s, 1, c->name, sizeof(c->name));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 3, c->info, sizeof(c->info));
    c->shard = (uint32_t)cf_db_column_int64(s, 2);
    c->replicas = (unsigned)cf_db_column_int64(s, 4);
    c->created_ms = (uint64_t)cf_db_column_int64(s, 5);
    c->keep_versions = (unsigned)cf_db_column_int64(s, 6);
    c->keep_days = (unsigned)cf_db_column_int64(s, 7);
    c->compress = cf_db_column_int64(s, 8) != 0;
    c->encrypt = cf_db_column_int64(s, 9) != 0;
    return rc;
}

/* One client row by id (text NULL) or by name. */
static int client_get(struct cf_fsdb *fs, uint64_t id, const char *name, struct cf_fsdb_client *out,
                      char *err)
{
    static const char by_id[] = CLIENT_COLS " WHERE id = ?1";
    static const char by_name[] = CLIENT_COLS " WHERE name = ?1";
    struct cf_db *db = cf_db_pool_acquire(fs->catalog);
    struct cf_db_stmt *s = NULL;
    int rc;

    if (name == NULL)
        rc = cf_db_query(db, &s, err, by_id, "i", (int64_t)id);
    else
        rc = cf_db_query(db, &s, err, by_name, "t", name);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such client");
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = client_row(s, out);
out:
    cf_db_finalize(s);
    cf_db_pool_release(fs->catalog, db);
    return rc;
}

int cf_fsdb_client_get(struct cf_fsdb *fs, uint64_t id, struct cf_fsdb_client *out, char *err)
{
    return client_get(fs, id, NULL, out, err);
}

int cf_fsdb_client_find(struct cf_fsdb *fs, const char *name, struct cf_fsdb_client *out, char *err)
{
    int rc = cf__fsdb_check_name(name, err);

    if (rc < 0)
        return rc;
    return client_get(fs, 0, name, out, err);
}

int cf_fsdb_client_list(struct cf_fsdb *fs, struct cf_fsdb_client **out, size_t *n, char *err)
{
    struct cf_db *db = cf_db_pool_acquire(fs->catalog);
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_client *v = NULL;
    size_t cnt = 0, cap = 0;
    static const char sql[] = CLIENT_COLS " ORDER BY id";
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        rc = cf__fsdb_grow((void **)&v, &cap, cnt, sizeof(*v), err);
        if (rc < 0)
            goto out;
        rc = client_row(s, &v[cnt]);
        if (rc < 0)
            goto out;
        cnt++;
    }
out:
    cf_db_finalize(s);
    cf_db_pool_release(fs->catalog, db);
    if (rc < 0) {
        free(v);
        v = NULL;
        cnt = 0;
    }
    *out = v;
    *n = cnt;
    return rc < 0 ? rc : 0;
}

/* The client's root folder, in its own shard transaction. A root left by a
 * client_add whose catalog commit failed (same id, reused) is kept. */
static int make_root(struct cf_shardset_shard *sh, uint64_t client, uint64_t now, char *err)
{
    static const char sql[] = "INSERT INTO folders (id, client_id, parent_id, name, is_root,"
                              " created, modified) VALUES (?1, ?2, NULL, '', 1, ?3, ?3)"
                              " ON CONFLICT DO NOTHING";
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    int64_t id = 0;
    int rc;

    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_new_id(db, &id, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql, "iii", id, (int64_t)client, (int64_t)now);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    cf_db_rollback(db);
    cf_db_pool_release(sh->pool, db);
    return rc;
}

int cf_fsdb_client_add(struct cf_fsdb *fs, const char *name, const char *info, unsigned replicas,
                       struct cf_fsdb_client *out, char *err)
{
    /* Least-loaded: fewest clients among writable shards, lowest id on a tie. */
    static const char sql_pick[] = "SELECT s.id FROM shards s LEFT JOIN clients c"
                                   " ON c.shard_id = s.id WHERE s.read_only = 0"
                                   " GROUP BY s.id ORDER BY count(c.id), s.id LIMIT 1";
    static const char sql_ins[] =
        "INSERT INTO clients (id, name, shard_id, info, replicas, created)"
        " SELECT coalesce(max(id), 0) + 1, ?1, ?2, ?3, ?4, ?5 FROM clients RETURNING id";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    struct cf_fsdb_client c;
    int64_t shard = 0, id = 0;
    uint64_t now = cf_wall_ms();
    int rc;

    memset(&c, 0, sizeof(c));
    rc = cf__fsdb_check_name(name, err);
    if (rc < 0)
        goto out;
    if (info == NULL)
        info = "";
    if (strnlen(info, CF_FSDB_INFO_MAX + 1) > CF_FSDB_INFO_MAX || replicas > CF_FSDB_REPLICAS_MAX ||
        (replicas != 0 && replicas < CF_REPLICAS_MIN)) {
        cf_err_set(err, "info over %d bytes, or replicas not in %d..%d", CF_FSDB_INFO_MAX,
                   CF_REPLICAS_MIN, CF_FSDB_REPLICAS_MAX);
        rc = CF_EINVAL;
        goto out;
    }
    if (replicas == 0)
        replicas = CF_FSDB_REPLICAS_DEFAULT;
    db = cf_db_pool_acquire(fs->catalog);
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, &shard, 1, err, sql_pick, "");
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no writable fs shard");
        rc = CF_EUNAVAIL;
        goto out;
    }
    rc = cf_db_run(db, &id, 1, err, sql_ins, "titii", name, shard, info, (int64_t)replicas,
                   (int64_t)now);
    if (rc == CF_EEXIST)
        cf_err_set(err, "client \"%s\" exists", name);
    if (rc < 0)
        goto out;
    rc = shard_find(fs, (uint32_t)shard, &sh, err);
    if (rc < 0)
        goto out;
    /* The root in the shard first, the catalog row (the commit point) last. */
    rc = make_root(sh, (uint64_t)id, now, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
    if (rc < 0)
        goto out;
    c.id = (uint64_t)id;
    (void)snprintf(c.name, sizeof(c.name), "%s", name);
    (void)snprintf(c.info, sizeof(c.info), "%s", info);
    c.shard = (uint32_t)shard;
    c.replicas = replicas;
    c.created_ms = now;
    if (out != NULL)
        *out = c;
    cf_log(CF_LOG_INFO, "fsdb: client %llu in shard %u", (unsigned long long)id, (unsigned)shard);
out:
    if (db != NULL) {
        cf_db_rollback(db);
        cf_db_pool_release(fs->catalog, db);
    }
    return rc;
}

int cf_fsdb_client_set_keep(struct cf_fsdb *fs, uint64_t client, unsigned keep_versions,
                            unsigned keep_days, char *err)
{
    static const char sql[] =
        "UPDATE clients SET keep_versions = ?2, keep_days = ?3 WHERE id = ?1 RETURNING id";
    struct cf_db *db;
    int64_t id = 0;
    int rc;

    if (keep_versions > CF_FSDB_KEEP_VERSIONS_MAX || keep_days > CF_FSDB_KEEP_DAYS_MAX) {
        cf_err_set(err, "keep versions is at most %d, keep days at most %d",
                   CF_FSDB_KEEP_VERSIONS_MAX, CF_FSDB_KEEP_DAYS_MAX);
        return CF_EINVAL;
    }
    db = cf_db_pool_acquire(fs->catalog);
    rc = cf_db_run(db, &id, 1, err, sql, "iii", (int64_t)client, (int64_t)keep_versions,
                   (int64_t)keep_days);
    cf_db_pool_release(fs->catalog, db);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such client");
        rc = CF_ENOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

int cf_fsdb_client_set_xform(struct cf_fsdb *fs, uint64_t client, bool compress, bool encrypt,
                             char *err)
{
    static const char sql[] =
        "UPDATE clients SET compress = ?2, encrypt = ?3 WHERE id = ?1 RETURNING id";
    struct cf_db *db = cf_db_pool_acquire(fs->catalog);
    int64_t id = 0;
    int rc;

    rc = cf_db_run(db, &id, 1, err, sql, "iii", (int64_t)client, (int64_t)compress,
                   (int64_t)encrypt);
    cf_db_pool_release(fs->catalog, db);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such client");
        rc = CF_ENOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

/* The client's shard: from memory, else from the catalog (and then kept).
 * Returns 0, CF_ENOTFOUND, or a db.h error. */
static int shard_of(struct cf_fsdb *fs, uint64_t client, uint32_t *shard, char *err)
{
    static const char sql[] = "SELECT shard_id FROM clients WHERE id = ?1";
    struct cf__fsdb_shard_of *slot = &fs->shard_of[client % CF__FSDB_SHARD_CACHE];
    struct cf_db *db;
    int64_t v = 0;
    bool hit;
    int rc;

    pthread_mutex_lock(&fs->shard_mu);
    hit = client != 0 && slot->client == client;
    if (hit)
        *shard = slot->shard;
    pthread_mutex_unlock(&fs->shard_mu);
    if (hit)
        return 0;
    db = cf_db_pool_acquire(fs->catalog);
    rc = cf_db_run(db, &v, 1, err, sql, "i", (int64_t)client);
    cf_db_pool_release(fs->catalog, db);
    if (rc < 0)
        return rc;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no client %llu", (unsigned long long)client);
        return CF_ENOTFOUND;
    }
    *shard = (uint32_t)v;
    pthread_mutex_lock(&fs->shard_mu);
    if (slot->client != client) {
        slot->client = client;
        slot->shard = *shard;
        slot->root = 0;
    }
    pthread_mutex_unlock(&fs->shard_mu);
    return 0;
}

uint64_t cf__fsdb_root_cached(struct cf_fsdb *fs, uint64_t client)
{
    const struct cf__fsdb_shard_of *slot = &fs->shard_of[client % CF__FSDB_SHARD_CACHE];
    uint64_t root = 0;

    pthread_mutex_lock(&fs->shard_mu);
    if (client != 0 && slot->client == client)
        root = slot->root;
    pthread_mutex_unlock(&fs->shard_mu);
    return root;
}

void cf__fsdb_root_keep(struct cf_fsdb *fs, uint64_t client, uint64_t root)
{
    struct cf__fsdb_shard_of *slot = &fs->shard_of[client % CF__FSDB_SHARD_CACHE];

    pthread_mutex_lock(&fs->shard_mu);
    if (client != 0 && slot->client == client)
        slot->root = root;
    pthread_mutex_unlock(&fs->shard_mu);
}

int cf__fsdb_acquire(struct cf_fsdb *fs, uint64_t client, struct cf__fsdb_conn *c, char *err)
{
    uint32_t shard = 0;
    int rc;

    c->sh = NULL;
    c->db = NULL;
    rc = shard_of(fs, client, &shard, err);
    if (rc < 0)
        goto out;
    rc = shard_find(fs, shard, &c->sh, err);
    if (rc < 0)
        goto out;
    c->db = cf_db_pool_acquire(c->sh->pool);
out:
    return rc;
}

int cf__fsdb_begin(struct cf_fsdb *fs, uint64_t client, struct cf__fsdb_conn *c, bool write,
                   char *err)
{
    int rc = cf__fsdb_acquire(fs, client, c, err);

    if (rc < 0)
        return rc;
    return write ? cf_db_begin(c->db, err) : cf_db_begin_read(c->db, err);
}

void cf__fsdb_release(struct cf__fsdb_conn *c)
{
    if (c->db == NULL)
        return;
    cf_db_rollback(c->db);
    cf_db_pool_release(c->sh->pool, c->db);
    c->db = NULL;
}

int cf__fsdb_group_write(struct cf_fsdb *fs, uint64_t client, cf_db_group_fn write, void *arg,
                         char *err)
{
    struct cf_shardset_shard *sh = NULL;
    uint32_t shard = 0;
    int rc;

    rc = shard_of(fs, client, &shard, err);
    if (rc == 0)
        rc = shard_find(fs, shard, &sh, err);
    if (rc < 0)
        return rc;
    return cf_db_group_write(&((struct fsdb_shard *)sh)->group, sh->pool, write, arg, err);
}
