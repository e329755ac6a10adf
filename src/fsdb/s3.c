/*
 * s3.c -- the S3 API's access keys (catalog) and the attributes S3 keeps
 * beside a file version (shard) (fsdb.h).
 */
#include "fsdb_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/sha512.h"

static int check_token(const char *s, size_t max, const char *what, char *err)
{
    size_t n = strlen(s);

    if (n == 0 || n > max) {
        cf_err_set(err, "the %s is 1 to %zu bytes", what, max);
        return CF_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~') {
            cf_err_set(err, "the %s is printable ASCII without spaces", what);
            return CF_EINVAL;
        }
    return 0;
}

int cf_fsdb_s3key_add(struct cf_fsdb *fs, const struct cf_fsdb_s3key *k, char *err)
{
    static const char count[] = "SELECT count(*) FROM access_keys WHERE client_id = ?1"
                                " AND user_id = ?2";
    static const char ins[] = "INSERT INTO access_keys (key_id, client_id, user_id, secret,"
                              " created) VALUES (?1, ?2, ?3, ?4, ?5)";
    static const char has_client[] = "SELECT id FROM clients WHERE id = ?1";
    struct cf_db *db = NULL;
    int64_t n = 0;
    int rc;

    rc = check_token(k->id, CF_FSDB_S3KEY_ID_MAX, "key id", err);
    if (rc == 0)
        rc = check_token(k->secret, CF_FSDB_S3KEY_SECRET_MAX, "secret", err);
    if (rc < 0)
        return rc;
    db = cf_db_pool_acquire(fs->catalog);
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, has_client, "i", (int64_t)k->client);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such client");
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, &n, 1, err, count, "ii", (int64_t)k->client, (int64_t)k->user);
    if (rc < 0)
        goto out;
    if (n >= CF_FSDB_S3KEYS_PER_USER) {
        cf_err_set(err, "the user has %d access keys already: revoke one first",
                   CF_FSDB_S3KEYS_PER_USER);
        rc = CF_ETOOLARGE;
        goto out;
    }
    rc = cf_db_run(db, NULL, 0, err, ins, "tiiti", k->id, (int64_t)k->client, (int64_t)k->user,
                   k->secret, (int64_t)cf_wall_ms());
    if (rc == CF_EEXIST)
        cf_err_set(err, "the access key id is taken");
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    cf_db_rollback(db);
    cf_db_pool_release(fs->catalog, db);
    return rc < 0 ? rc : 0;
}

static int key_row(struct cf_db_stmt *s, struct cf_fsdb_s3key *k)
{
    int rc;

    memset(k, 0, sizeof(*k));
    rc = cf_db_column_copy_text(s, 0, k->id, sizeof(k->id));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 3, k->secret, sizeof(k->secret));
    k->client = (uint64_t)cf_db_column_int64(s, 1);
    k->user = (uint64_t)cf_db_column_int64(s, 2);
    k->created_ms = (uint64_t)cf_db_column_int64(s, 4);
    return rc;
}

int cf_fsdb_s3key_get(struct cf_fsdb *fs, const char *id, struct cf_fsdb_s3key *out, char *err)
{
    static const char sql[] = "SELECT key_id, client_id, user_id, secret, created"
                              " FROM access_keys WHERE key_id = ?1";
    struct cf_db *db = NULL;
    struct cf_db_stmt *s = NULL;
    int rc;

    if (check_token(id, CF_FSDB_S3KEY_ID_MAX, "key id", err) < 0)
        return CF_ENOTFOUND;
    db = cf_db_pool_acquire(fs->catalog);
    rc = cf_db_query(db, &s, err, sql, "t", id);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such access key");
        rc = CF_ENOTFOUND;
    }
    if (rc == CF_DB_ROW)
        rc = key_row(s, out);
    cf_db_finalize(s);
    cf_db_pool_release(fs->catalog, db);
    return rc;
}

int cf_fsdb_s3key_list(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                       struct cf_fsdb_s3key **out, size_t *n, char *err)
{
    static const char sql[] = "SELECT key_id, client_id, user_id, secret, created"
                              " FROM access_keys WHERE client_id = ?1 AND (?2 = 0 OR user_id = ?2)"
                              " ORDER BY created, key_id";
    struct cf_db *db = cf_db_pool_acquire(fs->catalog);
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_s3key *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    rc = cf_db_query(db, &s, err, sql, "ii", (int64_t)client, (int64_t)user);
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        rc = cf__fsdb_grow((void **)&v, &cap, cnt, sizeof(*v), err);
        if (rc == 0)
            rc = key_row(s, &v[cnt]);
        if (rc == 0)
            cnt++;
    }
    cf_db_finalize(s);
    cf_db_pool_release(fs->catalog, db);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int cf_fsdb_s3key_remove(struct cf_fsdb *fs, uint64_t client, uint64_t user, const char *id,
                         char *err)
{
    static const char sql[] = "DELETE FROM access_keys WHERE key_id = ?1 AND client_id = ?2"
                              " AND (?3 = 0 OR user_id = ?3) RETURNING key_id";
    struct cf_db *db = NULL;
    struct cf_db_stmt *s = NULL;
    int rc;

    if (check_token(id, CF_FSDB_S3KEY_ID_MAX, "key id", err) < 0)
        return CF_ENOTFOUND;
    db = cf_db_pool_acquire(fs->catalog);
    rc = cf_db_query(db, &s, err, sql, "tii", id, (int64_t)client, (int64_t)user);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such access key");
        rc = CF_ENOTFOUND;
    }
    cf_db_finalize(s);
    cf_db_pool_release(fs->catalog, db);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_s3attrs_set(struct cf_fsdb *fs, uint64_t client, uint64_t file, uint32_t version,
                        const struct cf_fsdb_s3attrs *a, char *err)
{
    static const char sql[] = "INSERT INTO s3_attrs (file_id, version, client_id, etag,"
                              " content_type, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                              " ON CONFLICT (file_id, version) DO UPDATE SET etag = excluded.etag,"
                              " content_type = excluded.content_type, meta = excluded.meta";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    if (strlen(a->content_type) > CF_FSDB_S3_CTYPE_MAX || strlen(a->meta) > CF_FSDB_S3_META_MAX) {
        cf_err_set(err, "the Content-Type or the metadata is too long");
        return CF_ETOOLARGE;
    }
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf_db_run(c.db, NULL, 0, err, sql, "iiittt", (int64_t)file, (int64_t)version,
                       (int64_t)client, a->etag, a->content_type, a->meta);
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_s3attrs_get(struct cf_fsdb *fs, uint64_t client, uint64_t file, uint32_t version,
                        struct cf_fsdb_s3attrs *out, char *err)
{
    static const char sql[] = "SELECT etag, content_type, meta FROM s3_attrs"
                              " WHERE file_id = ?1 AND version = ?2 AND client_id = ?3";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf_db_query(c.db, &s, err, sql, "iii", (int64_t)file, (int64_t)version,
                         (int64_t)client);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no S3 attributes");
        rc = CF_ENOTFOUND;
    }
    if (rc == CF_DB_ROW) {
        rc = cf_db_column_copy_text(s, 0, out->etag, sizeof(out->etag));
        if (rc == 0)
            rc = cf_db_column_copy_text(s, 1, out->content_type, sizeof(out->content_type));
        if (rc == 0)
            rc = cf_db_column_copy_text(s, 2, out->meta, sizeof(out->meta));
    }
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_s3_page(struct cf_fsdb *fs, uint64_t client, uint64_t folder, const char *after,
                    size_t limit, struct cf_fsdb_s3_item **out, size_t *n, bool *more, char *err)
{
    static const char sql[] =
        "SELECT k, kind, id FROM ("
        " SELECT name || '/' AS k, 0 AS kind, id FROM folders"
        "  WHERE client_id = ?1 AND parent_id = ?2"
        " UNION ALL"
        " SELECT name AS k, 1 AS kind, id FROM objects WHERE client_id = ?1 AND folder_id = ?2"
        ") AS t WHERE k > ?3 ORDER BY k LIMIT ?4";
    static const char folder_sql[] = "SELECT created, modified FROM folders WHERE id = ?1";
    static const char etag_sql[] = "SELECT etag FROM s3_attrs WHERE file_id = ?1 AND version = ?2"
                                   " AND client_id = ?3";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_s3_item *v = NULL;
    size_t cnt = 0;
    int rc;

    *out = NULL;
    *n = 0;
    *more = false;
    if (limit < 1 || limit > CF_FSDB_LIST_MAX) {
        cf_err_set(err, "limit is 1 to %d", CF_FSDB_LIST_MAX);
        return CF_EINVAL;
    }
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf__fsdb_folder_live(c.db, client, folder, err);
    if (rc < 0)
        goto out;
    v = cf_xcalloc(limit, sizeof(*v));
    /* One more than asked, to tell whether more follow. */
    rc = cf_db_query(c.db, &s, err, sql, "iiti", (int64_t)client, (int64_t)folder,
                     after != NULL ? after : "", (int64_t)limit + 1);
    while (rc == 0) {
        size_t klen = 0;
        const char *k;

        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        rc = 0;
        if (cnt == limit) {
            *more = true;
            break;
        }
        k = cf_db_column_text(s, 0, &klen);
        v[cnt].e.kind = cf_db_column_int64(s, 1) == 0 ? CF_FSDB_FOLDER : CF_FSDB_FILE;
        v[cnt].e.id = (uint64_t)cf_db_column_int64(s, 2);
        if (k == NULL || klen == 0 || klen > CF_FSDB_NAME_MAX + 1) {
            rc = CF_ECORRUPT;
            break;
        }
        if (v[cnt].e.kind == CF_FSDB_FOLDER)
            klen--;
        memcpy(v[cnt].e.name, k, klen);
        v[cnt].e.name[klen] = '\0';
        v[cnt].e.parent = folder;
        cnt++;
    }
    cf_db_finalize(s);
    s = NULL;
    if (rc < 0)
        goto out;
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        struct cf_fsdb_s3_item *it = &v[i];
        if (it->e.kind == CF_FSDB_FILE) {
            rc = cf__fsdb_file_entry(c.db, client, it->e.id, &it->e, err);
            if (rc == 0)
                rc = cf_db_query(c.db, &s, err, etag_sql, "iii", (int64_t)it->e.id,
                                 (int64_t)it->e.version_no, (int64_t)client);
            if (rc == 0)
                rc = cf_db_step(s, err);
            if (rc == CF_DB_ROW)
                rc = cf_db_column_copy_text(s, 0, it->etag, sizeof(it->etag));
        } else {
            int64_t t[2] = {0, 0};
            rc = cf_db_run(c.db, t, 2, err, folder_sql, "i", (int64_t)it->e.id);
            it->e.created_ms = (uint64_t)t[0];
            it->e.modified_ms = (uint64_t)t[1];
        }
        cf_db_finalize(s);
        s = NULL;
        if (rc > 0)
            rc = 0;
    }
out:
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    if (rc < 0) {
        free(v);
        *more = false;
        return rc;
    }
    if (cnt == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- multipart uploads ---- */

static bool upload_id_ok(const char *id)
{
    if (strlen(id) != CF_FSDB_S3_UPLOAD_ID_LEN)
        return false;
    for (size_t i = 0; i < CF_FSDB_S3_UPLOAD_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

int cf_fsdb_s3upload_add(struct cf_fsdb *fs, uint64_t client, const struct cf_fsdb_s3upload *u,
                         char *err)
{
    static const char sql[] = "INSERT INTO s3_uploads (upload_id, client_id, user_id, bucket,"
                              " obj_key, content_type, meta, created)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    if (!upload_id_ok(u->id)) {
        cf_err_set(err, "an upload id is %d lowercase hex digits", CF_FSDB_S3_UPLOAD_ID_LEN);
        return CF_EINVAL;
    }
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf_db_run(c.db, NULL, 0, err, sql, "tiitttti", u->id, (int64_t)client,
                       (int64_t)u->user, u->bucket, u->key, u->attrs.content_type, u->attrs.meta,
                       (int64_t)cf_wall_ms());
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

#define UPLOAD_COLS "upload_id, user_id, bucket, obj_key, content_type, meta, created"

static int upload_row(struct cf_db_stmt *s, struct cf_fsdb_s3upload *u)
{
    int rc;

    memset(u, 0, sizeof(*u));
    rc = cf_db_column_copy_text(s, 0, u->id, sizeof(u->id));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 2, u->bucket, sizeof(u->bucket));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 3, u->key, sizeof(u->key));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 4, u->attrs.content_type, sizeof(u->attrs.content_type));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 5, u->attrs.meta, sizeof(u->attrs.meta));
    u->user = (uint64_t)cf_db_column_int64(s, 1);
    u->created_ms = (uint64_t)cf_db_column_int64(s, 6);
    return rc;
}

int cf_fsdb_s3upload_get(struct cf_fsdb *fs, uint64_t client, const char *id,
                         struct cf_fsdb_s3upload *out, char *err)
{
    static const char sql[] = "SELECT " UPLOAD_COLS " FROM s3_uploads"
                              " WHERE upload_id = ?1 AND client_id = ?2";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    int rc;

    if (!upload_id_ok(id)) {
        cf_err_set(err, "no such upload");
        return CF_ENOTFOUND;
    }
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf_db_query(c.db, &s, err, sql, "ti", id, (int64_t)client);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such upload");
        rc = CF_ENOTFOUND;
    }
    if (rc == CF_DB_ROW)
        rc = upload_row(s, out);
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    return rc;
}

/* The statement of a cf_fsdb_s3upload_list page (cf__fsdb_page's query). */
struct upload_q {
    uint64_t client;
    const char *by_key, *by_age;
    const char *bucket, *prefix, *after_key, *after_id;
    uint64_t created_before_ms;
};

static int upload_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                        struct cf_db_stmt **s, char *err)
{
    const struct upload_q *q = arg;

    (void)got;
    *s = NULL;
    if (i > 0)
        return 0;
    if (q->created_before_ms > 0)
        return cf_db_query(db, s, err, q->by_age, "iii", (int64_t)q->client,
                           (int64_t)q->created_before_ms, (int64_t)want);
    return cf_db_query(db, s, err, q->by_key, "itttti", (int64_t)q->client, q->bucket, q->prefix,
                       q->after_key, q->after_id, (int64_t)want);
}

static int upload_page_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    (void)arg;
    (void)i;
    return upload_row(s, elem);
}

int cf_fsdb_s3upload_list(struct cf_fsdb *fs, uint64_t client, const char *bucket,
                          const char *prefix, const char *after_key, const char *after_id,
                          uint64_t created_before_ms, size_t limit, struct cf_fsdb_s3upload **out,
                          size_t *n, bool *more, char *err)
{
    static const char by_key[] =
        "SELECT " UPLOAD_COLS " FROM s3_uploads WHERE client_id = ?1 AND bucket = ?2"
        " AND substr(obj_key, 1, length(?3)) = ?3"
        " AND (obj_key > ?4 OR (obj_key = ?4 AND ?5 <> '' AND upload_id > ?5))"
        " ORDER BY obj_key, upload_id LIMIT ?6";
    static const char by_age[] = "SELECT " UPLOAD_COLS " FROM s3_uploads WHERE client_id = ?1"
                                 " AND created < ?2 ORDER BY created, upload_id LIMIT ?3";
    struct upload_q q = {client, by_key,    by_age,   bucket,
                         prefix, after_key, after_id, created_before_ms};
    const struct cf__fsdb_page p = {sizeof(struct cf_fsdb_s3upload), "uploads", upload_query,
                                    upload_page_row, &q};

    *out = NULL;
    return cf__fsdb_page(fs, client, limit, &p, (void **)out, n, more, err);
}

int cf_fsdb_s3upload_remove(struct cf_fsdb *fs, uint64_t client, const char *id,
                            struct cf_fsdb_uuid **gone, size_t *ngone, char *err)
{
    static const char sel[] = "SELECT uuid FROM s3_parts WHERE upload_id = ?1 AND client_id = ?2"
                              " ORDER BY part_no";
    static const char pend[] =
        "INSERT INTO pending_release (client_id, uuid, since)"
        " SELECT client_id, uuid, ?3 FROM s3_parts WHERE upload_id = ?1 AND client_id = ?2"
        " ON CONFLICT DO NOTHING";
    static const char del_parts[] = "DELETE FROM s3_parts WHERE upload_id = ?1 AND client_id = ?2";
    static const char del_up[] = "DELETE FROM s3_uploads WHERE upload_id = ?1 AND client_id = ?2"
                                 " RETURNING upload_id";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_uuid *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *gone = NULL;
    *ngone = 0;
    if (!upload_id_ok(id)) {
        cf_err_set(err, "no such upload");
        return CF_ENOTFOUND;
    }
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        return rc;
    rc = cf_db_begin(c.db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, del_up, "ti", id, (int64_t)client);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such upload");
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, sel, "ti", id, (int64_t)client);
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        if (cnt == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            v = cf_xrealloc(v, cap * sizeof(*v));
        }
        rc = cf_db_column_copy_text(s, 0, v[cnt].text, sizeof(v[cnt].text));
        if (rc == 0)
            cnt++;
    }
    cf_db_finalize(s);
    s = NULL;
    if (rc == CF_DB_DONE)
        rc = 0;
    if (rc == 0)
        rc = cf_db_run(c.db, NULL, 0, err, pend, "tii", id, (int64_t)client, (int64_t)cf_wall_ms());
    if (rc >= 0)
        rc = cf_db_run(c.db, NULL, 0, err, del_parts, "ti", id, (int64_t)client);
    if (rc >= 0)
        rc = cf_db_commit(c.db, err);
    if (rc == 0) {
        *gone = v;
        *ngone = cnt;
        v = NULL;
    }
out:
    cf_db_rollback(c.db);
    cf__fsdb_release(&c);
    free(v);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_s3part_put(struct cf_fsdb *fs, uint64_t client, const char *id,
                       const struct cf_fsdb_s3part *p, struct cf_fsdb_uuid *old, char *err)
{
    static const char has[] = "SELECT created FROM s3_uploads WHERE upload_id = ?1"
                              " AND client_id = ?2";
    static const char sel[] = "SELECT uuid FROM s3_parts WHERE upload_id = ?1 AND client_id = ?2"
                              " AND part_no = ?3";
    static const char pend[] = "INSERT INTO pending_release (client_id, uuid, since)"
                               " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
    static const char ins[] =
        "INSERT INTO s3_parts (upload_id, part_no, client_id, uuid, size, md5, sha512, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (upload_id, part_no) DO UPDATE"
        " SET uuid = excluded.uuid, size = excluded.size, md5 = excluded.md5,"
        " sha512 = excluded.sha512, created = excluded.created";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    char sha[CF_SHA512_HEX_LEN + 1];
    int rc;

    old->text[0] = '\0';
    if (p->number < 1 || p->number > CF_FSDB_S3_PARTS_MAX) {
        cf_err_set(err, "a part number is 1 to %d", CF_FSDB_S3_PARTS_MAX);
        return CF_EINVAL;
    }
    if (!upload_id_ok(id)) {
        cf_err_set(err, "no such upload");
        return CF_ENOTFOUND;
    }
    cf_sha512_hex(p->sha512, sha);
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        return rc;
    rc = cf_db_begin(c.db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, has, "ti", id, (int64_t)client);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such upload");
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, sel, "tii", id, (int64_t)client, (int64_t)p->number);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_ROW)
        rc = cf_db_column_copy_text(s, 0, old->text, sizeof(old->text));
    cf_db_finalize(s);
    if (rc < 0)
        goto out;
    if (old->text[0] != '\0' && strcmp(old->text, p->uuid) == 0)
        old->text[0] = '\0'; /* the same object again: nothing let go */
    if (old->text[0] != '\0')
        rc = cf_db_run(c.db, NULL, 0, err, pend, "iti", (int64_t)client, old->text,
                       (int64_t)cf_wall_ms());
    if (rc >= 0)
        rc = cf_db_run(c.db, NULL, 0, err, ins, "tiititti", id, (int64_t)p->number, (int64_t)client,
                       p->uuid, (int64_t)p->size, p->md5, sha, (int64_t)cf_wall_ms());
    if (rc >= 0)
        rc = cf_db_commit(c.db, err);
out:
    if (rc < 0)
        old->text[0] = '\0';
    cf_db_rollback(c.db);
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

/* The statement of a cf_fsdb_s3part_list page (cf__fsdb_page's query). */
struct part_q {
    uint64_t client;
    const char *id;
    uint32_t after;
};

static int part_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                      struct cf_db_stmt **s, char *err)
{
    static const char sql[] = "SELECT part_no, uuid, size, md5, sha512, created FROM s3_parts"
                              " WHERE upload_id = ?1 AND client_id = ?2 AND part_no > ?3"
                              " ORDER BY part_no LIMIT ?4";
    const struct part_q *q = arg;

    (void)got;
    *s = NULL;
    if (i > 0)
        return 0;
    return cf_db_query(db, s, err, sql, "tiii", q->id, (int64_t)q->client, (int64_t)q->after,
                       (int64_t)want);
}

static int part_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    struct cf_fsdb_s3part *v = elem;
    size_t hl = 0;
    const char *h;
    int rc;

    (void)arg;
    (void)i;
    v->number = (uint32_t)cf_db_column_int64(s, 0);
    rc = cf_db_column_copy_text(s, 1, v->uuid, sizeof(v->uuid));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 3, v->md5, sizeof(v->md5));
    h = cf_db_column_text(s, 4, &hl);
    if (rc == 0 && (h == NULL || cf_sha512_parse_hex(h, hl, v->sha512) < 0))
        rc = CF_ECORRUPT;
    v->size = (uint64_t)cf_db_column_int64(s, 2);
    v->created_ms = (uint64_t)cf_db_column_int64(s, 5);
    return rc;
}

int cf_fsdb_s3part_list(struct cf_fsdb *fs, uint64_t client, const char *id, uint32_t after,
                        size_t limit, struct cf_fsdb_s3part **out, size_t *n, bool *more, char *err)
{
    struct part_q q = {client, id, after};
    const struct cf__fsdb_page p = {sizeof(struct cf_fsdb_s3part), "parts", part_query, part_row,
                                    &q};

    *out = NULL;
    *n = 0;
    *more = false;
    if (limit < 1 || limit > CF_FSDB_S3_PARTS_MAX) {
        cf_err_set(err, "limit is 1 to %d", CF_FSDB_S3_PARTS_MAX);
        return CF_EINVAL;
    }
    return cf__fsdb_page(fs, client, limit, &p, (void **)out, n, more, err);
}

/* ---- part sizes of completed uploads ---- */

int cf_fsdb_s3partsizes_set(struct cf_fsdb *fs, uint64_t client, uint64_t file, uint32_t version,
                            const uint64_t *sizes, size_t n, char *err)
{
    static const char sql[] = "INSERT INTO s3_part_sizes (file_id, version, client_id, sizes)"
                              " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (file_id, version)"
                              " DO UPDATE SET sizes = excluded.sizes";
    struct cf__fsdb_conn c = {NULL, NULL};
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (n < 1 || n > CF_FSDB_S3_PARTS_MAX) {
        cf_err_set(err, "an upload has 1 to %d parts", CF_FSDB_S3_PARTS_MAX);
        return CF_EINVAL;
    }
    /* Decimal sizes joined by ',': 20 digits and a separator each at most. */
    text = cf_xmalloc(n * 21 + 1);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, 22, "%s%llu", i > 0 ? "," : "",
                                (unsigned long long)sizes[i]);
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf_db_run(c.db, NULL, 0, err, sql, "iiit", (int64_t)file, (int64_t)version,
                       (int64_t)client, text);
    cf__fsdb_release(&c);
    free(text);
    return rc < 0 ? rc : 0;
}

/* Parse the sizes column (len bytes at t) into a new array. */
static int parse_sizes(const char *t, size_t len, uint64_t **out, size_t *n, char *err)
{
    uint64_t *v = NULL;
    size_t cnt = 1, k = 0, i = 0;

    for (size_t j = 0; j < len; j++)
        cnt += t[j] == ',';
    if (len == 0 || cnt > CF_FSDB_S3_PARTS_MAX)
        goto bad;
    v = cf_xcalloc(cnt, sizeof(*v));
    while (i < len) {
        uint64_t x = 0;
        size_t d = 0;
        for (; i < len && t[i] >= '0' && t[i] <= '9'; i++, d++) {
            uint64_t digit = (uint64_t)(t[i] - '0');
            if (x > UINT64_MAX / 10 || (x == UINT64_MAX / 10 && digit > UINT64_MAX % 10))
                goto bad;
            x = x * 10 + digit;
        }
        if (d == 0 || (i < len && (t[i] != ',' || i + 1 == len)))
            goto bad;
        v[k++] = x;
        i++; /* the ',' */
    }
    *out = v;
    *n = k;
    return 0;
bad:
    free(v);
    cf_err_set(err, "the part sizes recorded are malformed");
    return CF_ECORRUPT;
}

int cf_fsdb_s3partsizes_get(struct cf_fsdb *fs, uint64_t client, uint64_t file, uint32_t version,
                            uint64_t **sizes, size_t *n, char *err)
{
    static const char sql[] = "SELECT sizes FROM s3_part_sizes"
                              " WHERE file_id = ?1 AND version = ?2 AND client_id = ?3";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    const char *t;
    size_t len = 0;
    int rc;

    *sizes = NULL;
    *n = 0;
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf_db_query(c.db, &s, err, sql, "iii", (int64_t)file, (int64_t)version,
                         (int64_t)client);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no part sizes recorded");
        rc = CF_ENOTFOUND;
    }
    if (rc == CF_DB_ROW) {
        t = cf_db_column_text(s, 0, &len);
        rc = parse_sizes(t != NULL ? t : "", t != NULL ? len : 0, sizes, n, err);
    }
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}
