/*
 * admin.c -- the operator's view: the monitor's filer table, instances and
 * event log, and the app's jobs and counts, passed through to operators;
 * and the client's admins' users, groups, groups trash and folder
 * permissions, read and changed in the file system database (admin.h).
 */
#include "admin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "coffer/auth.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/http.h"
#include "coffer/httpc.h"
#include "coffer/upstream.h"

#define ADMIN_TIMEOUT_MS 5000
#define URL_MAX          2048

/* The event log's arguments passed on, each checked. */
static const char *const num_args[] = {"since", "until", "filer", "after", "limit"};

static bool digits(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool kind_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 31)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

/* Only the arguments above, each well formed; err says which is not. */
static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    char *err = cls;

    (void)kind;
    for (size_t i = 0; i < sizeof(num_args) / sizeof(num_args[0]); i++)
        if (strcmp(key, num_args[i]) == 0) {
            if (value == NULL || !digits(value, 19))
                cf_err_set(err, "%s is a decimal number", key);
            return err[0] == '\0' ? MHD_YES : MHD_NO;
        }
    if (strcmp(key, "kind") == 0) {
        if (value == NULL || !kind_ok(value))
            cf_err_set(err, "kind is 1 to 31 of a-z 0-9 _ . -");
    } else {
        cf_err_set(err, "the event log takes since, until, kind, filer, after and limit");
    }
    return err[0] == '\0' ? MHD_YES : MHD_NO;
}

/* The monitor's path and query for rest into out; 0, or CF_ENOTFOUND /
 * CF_EINVAL with err. */
static int target(struct MHD_Connection *c, const char *rest, char *out, size_t cap, char *err)
{
    const char *keys[] = {"since", "until", "kind", "filer", "after", "limit"};
    size_t len;

    if (strcmp(rest, "/filers") == 0 || strcmp(rest, "/instances") == 0) {
        (void)snprintf(out, cap, "/v1%s", rest);
        return 0;
    }
    if (strcmp(rest, "/events") != 0) {
        cf_err_set(err, "the admin API has filers, instances, events, jobs and stats");
        return CF_ENOTFOUND;
    }
    (void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, err);
    if (err[0] != '\0')
        return CF_EINVAL;
    len = (size_t)snprintf(out, cap, "/v1/log");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = cf_http_query(c, keys[i]);
        if (v != NULL)
            len +=
                (size_t)snprintf(out + len, cap - len, "%c%s=%s", len == 7 ? '?' : '&', keys[i], v);
    }
    return 0;
}

/* The app's path for rest (/jobs, /jobs/N, /stats) into out, or NULL. */
static const char *app_target(const char *rest, char *out, size_t cap)
{
    if (strcmp(rest, "/stats") == 0 || strcmp(rest, "/jobs") == 0 ||
        (strncmp(rest, "/jobs/", 6) == 0 && rest[6] != '\0' && digits(rest + 6, 19))) {
        (void)snprintf(out, cap, "/v1%s", rest);
        return out;
    }
    return NULL;
}

enum MHD_Result cf__admin_serve(struct MHD_Connection *c, const char *rest, const char *monitors,
                                struct cf_upstream *app)
{
    char err[CF_ERR_LEN] = "", path[256], url[URL_MAX];
    const char *p = monitors;
    long status = 0;
    json_t *j = NULL;
    int rc;

    if (app_target(rest, path, sizeof(path)) != NULL) {
        rc = cf_upstream_json(app, "GET", path, NULL, ADMIN_TIMEOUT_MS, true, &status, &j, err);
        if (rc == 0 && j != NULL && status > 0 && status < 600)
            return cf_http_reply_json(c, (unsigned)status, j);
        json_decref(j);
        return cf_http_reply_error(c, CF_EUNAVAIL, "no app answered%s%s", err[0] ? ": " : "", err);
    }
    rc = target(c, rest, path, sizeof(path), err);
    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s", err);
    if (monitors == NULL || monitors[0] == '\0')
        return cf_http_reply_error(c, CF_EUNAVAIL, "the gateway has no --monitor to ask");
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

        status = 0;
        j = NULL;
        while (n > 0 && p[n - 1] == '/')
            n--;
        if (n > 0 && n + strlen(path) < sizeof(url)) {
            (void)snprintf(url, sizeof(url), "%.*s%s", (int)n, p, path);
            rc = cf_httpc_json("GET", url, NULL, ADMIN_TIMEOUT_MS, &status, &j, err);
            if (rc == 0 && j != NULL && status > 0 && status < 600)
                return cf_http_reply_json(c, (unsigned)status, j);
            json_decref(j);
        }
        p = end != NULL ? end + 1 : p + strlen(p);
    }
    return cf_http_reply_error(c, CF_EUNAVAIL, "no monitor answered%s%s", err[0] ? ": " : "", err);
}

/* Wipe the password hashes of a user listing and free it. */
static void scrub_users(struct cf_fsdb_user *u, size_t n)
{
    if (u != NULL)
        explicit_bzero(u, n * sizeof(*u));
    free(u);
}

/* The client's users (*u, *n; caller frees *u) if user is one of its admins:
 * 0, CF_EPERM, or an fsdb error, with err. */
static int client_admin(struct cf_fsdb *fs, uint64_t client, uint64_t user, struct cf_fsdb_user **u,
                        size_t *n, char *err)
{
    bool admin = false;
    int rc = cf_fsdb_user_list(fs, client, u, n, err);

    for (size_t i = 0; rc == 0 && i < *n; i++)
        if ((*u)[i].id == user)
            admin = (*u)[i].admin && !(*u)[i].disabled;
    if (rc == 0 && !admin) {
        cf_err_set(err, "only the client's admins see this");
        rc = CF_EPERM;
    }
    return rc;
}

enum MHD_Result cf__admin_perms(struct MHD_Connection *c, struct cf_fsdb *fs, uint64_t client,
                                uint64_t user, const char *path)
{
    static const char *const levels[] = {"none", "read", "read-write"};
    struct cf_fsdb_user *u = NULL;
    struct cf_fsdb_group *g = NULL;
    struct cf_fsdb_perm *p = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0, np = 0, ng = 0;
    uint64_t folder = 0;
    json_t *arr;
    int rc = client_admin(fs, client, user, &u, &n, err);

    if (rc == 0)
        rc = cf_fsdb_resolve(fs, client, path[0] != '\0' ? path : "/", &folder, err);
    if (rc == 0)
        rc = cf_fsdb_perm_list(fs, client, folder, &p, &np, err);
    if (rc == 0)
        rc = cf_fsdb_group_list(fs, client, &g, &ng, err);
    if (rc < 0) {
        free(p);
        scrub_users(u, n);
        free(g);
        return cf_http_reply_error(c, rc, "%s", err);
    }
    arr = json_array();
    for (size_t i = 0; i < np; i++) {
        const char *name = "";
        for (size_t k = 0; p[i].kind == CF_FSDB_USER && k < n; k++)
            if (u[k].id == p[i].principal)
                name = u[k].name;
        for (size_t k = 0; p[i].kind == CF_FSDB_GROUP && k < ng; k++)
            if (g[k].id == p[i].principal)
                name = g[k].name;
        (void)json_array_append_new(
            arr,
            json_pack("{s:s,s:I,s:s,s:s}", "kind", p[i].kind == CF_FSDB_GROUP ? "group" : "user",
                      "id", (json_int_t)p[i].principal, "name", name, "level",
                      (unsigned)p[i].level <= CF_FSDB_READ_WRITE ? levels[p[i].level] : "unknown"));
    }
    scrub_users(u, n);
    free(p);
    free(g);
    return cf_http_reply_json(c, MHD_HTTP_OK,
                              json_pack("{s:s,s:I,s:o}", "path", path[0] != '\0' ? path : "/",
                                        "folder", (json_int_t)folder, "entries", arr));
}

enum MHD_Result cf__admin_users(struct MHD_Connection *c, struct cf_fsdb *fs, uint64_t client,
                                uint64_t user)
{
    struct cf_fsdb_user *u = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;
    json_t *arr = NULL;
    int rc = client_admin(fs, client, user, &u, &n, err);

    if (rc == 0)
        arr = json_array();
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct cf_fsdb_group *gr = NULL;
        size_t ng = 0;
        json_t *groups = json_array();

        rc = cf_fsdb_user_groups(fs, client, u[i].id, &gr, &ng, err);
        for (size_t k = 0; rc == 0 && k < ng; k++)
            (void)json_array_append_new(
                groups, json_pack("{s:I,s:s}", "id", (json_int_t)gr[k].id, "name", gr[k].name));
        free(gr);
        (void)json_array_append_new(
            arr, json_pack("{s:I,s:s,s:b,s:b,s:I,s:o}", "id", (json_int_t)u[i].id, "name",
                           u[i].name, "admin", u[i].admin, "disabled", u[i].disabled, "created_ms",
                           (json_int_t)u[i].created_ms, "groups", groups));
    }
    scrub_users(u, n);
    if (rc < 0) {
        json_decref(arr);
        return cf_http_reply_error(c, rc, "%s", err);
    }
    return cf_http_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "users", arr));
}

/* ---- user, group and permission administration ---- */

/* The id of client's user called name, or CF_ENOTFOUND with err. */
static int user_id(struct cf_fsdb *fs, uint64_t client, const char *name, uint64_t *id, char *err)
{
    struct cf_fsdb_user u;
    int rc = cf_fsdb_user_get(fs, client, name, &u, err);

    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no user \"%.64s\"", name);
    if (rc == 0)
        *id = u.id;
    explicit_bzero(&u, sizeof(u));
    return rc;
}

static int group_id(struct cf_fsdb *fs, uint64_t client, const char *name, uint64_t *id, char *err)
{
    int rc = cf_fsdb_group_find(fs, client, name, id, err);

    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no group \"%.64s\"", name);
    return rc;
}

/* The body as a JSON object (caller owns), or NULL with err. */
static json_t *body_object(const char *body, size_t len, char *err)
{
    json_error_t je;
    json_t *j = len > 0 ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;

    if (!json_is_object(j)) {
        json_decref(j);
        cf_err_set(err, "send a JSON object");
        return NULL;
    }
    return j;
}

/* The member key of j if present: a string (*s), or CF_EINVAL. */
static int opt_string(json_t *j, const char *key, const char **s, char *err)
{
    json_t *v = json_object_get(j, key);

    *s = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        cf_err_set(err, "%s is a string without NUL", key);
        return CF_EINVAL;
    }
    *s = json_string_value(v);
    return 0;
}

/* Only the keys listed (NULL-terminated) are in j. */
static int only_keys(json_t *j, const char *const *keys, char *err)
{
    const char *k;
    json_t *v;

    json_object_foreach(j, k, v)
    {
        bool known = false;
        for (size_t i = 0; !known && keys[i] != NULL; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known) {
            cf_err_set(err, "unknown member \"%.32s\"", k);
            return CF_EINVAL;
        }
    }
    return 0;
}

/* Hash a new password pw (bounded as a new user's) into hash. */
static int new_hash(const char *pw, char hash[CF_AUTH_PWHASH_SIZE], char *err)
{
    size_t len = strlen(pw);

    if (len < CF_AUTH_PASSWORD_MIN || len > CF_AUTH_PASSWORD_MAX) {
        cf_err_set(err, "a password has %d to %d bytes", CF_AUTH_PASSWORD_MIN,
                   CF_AUTH_PASSWORD_MAX);
        return CF_EINVAL;
    }
    return cf_auth_password_hash(pw, len, CF_AUTH_PBKDF2_ITER_DEFAULT, hash);
}

/* POST /users {"name", "password", "admin"}. */
static int users_post(struct cf_fsdb *fs, uint64_t client, json_t *j, json_t **out, char *err)
{
    static const char *const keys[] = {"name", "password", "admin", NULL};
    char hash[CF_AUTH_PWHASH_SIZE] = "";
    const char *name = NULL, *pw = NULL;
    json_t *admin = json_object_get(j, "admin");
    uint64_t id = 0;
    int rc = only_keys(j, keys, err);

    if (rc == 0)
        rc = opt_string(j, "name", &name, err);
    if (rc == 0)
        rc = opt_string(j, "password", &pw, err);
    if (rc == 0 && (name == NULL || pw == NULL || (admin != NULL && !json_is_boolean(admin)))) {
        cf_err_set(err, "send {\"name\": ..., \"password\": ..., \"admin\": true|false}");
        rc = CF_EINVAL;
    }
    if (rc == 0)
        rc = cf_fsdb_name_validate(name, strlen(name), err);
    if (rc == 0)
        rc = new_hash(pw, hash, err);
    if (rc == 0)
        rc = cf_fsdb_user_add(fs, client, name, hash, json_is_true(admin), &id, err);
    explicit_bzero(hash, sizeof(hash));
    if (rc == 0)
        *out = json_pack("{s:I,s:s,s:b}", "id", (json_int_t)id, "name", name, "admin",
                         json_is_true(admin));
    return rc;
}

/* PATCH /users/NAME {"disabled", "password"}: either or both. */
static int users_patch(struct cf_fsdb *fs, uint64_t client, uint64_t self, const char *name,
                       json_t *j, char *err)
{
    static const char *const keys[] = {"disabled", "password", NULL};
    char hash[CF_AUTH_PWHASH_SIZE] = "";
    json_t *dis = json_object_get(j, "disabled");
    const char *pw = NULL;
    uint64_t id = 0;
    int rc = only_keys(j, keys, err);

    if (rc == 0)
        rc = opt_string(j, "password", &pw, err);
    if (rc == 0 && ((dis == NULL && pw == NULL) || (dis != NULL && !json_is_boolean(dis)))) {
        cf_err_set(err, "send {\"disabled\": true|false} and/or {\"password\": ...}");
        rc = CF_EINVAL;
    }
    if (rc == 0)
        rc = user_id(fs, client, name, &id, err);
    if (rc == 0 && id == self && json_is_true(dis)) {
        cf_err_set(err, "an admin cannot disable itself");
        rc = CF_EINVAL;
    }
    if (rc == 0 && pw != NULL)
        rc = new_hash(pw, hash, err);
    if (rc == 0 && pw != NULL)
        rc = cf_fsdb_user_set_password(fs, client, id, hash, err);
    explicit_bzero(hash, sizeof(hash));
    if (rc == 0 && dis != NULL)
        rc = cf_fsdb_user_set_disabled(fs, client, id, json_is_true(dis), err);
    return rc;
}

/* The level named s, or -1. */
static int level_of(const char *s)
{
    static const char *const levels[] = {"none", "read", "read-write"};

    for (int i = 0; s != NULL && i < 3; i++)
        if (strcmp(s, levels[i]) == 0)
            return i;
    return -1;
}

/* The principal named by user= or group= (from a body or the query): one
 * of them, not both. */
static int principal_of(struct cf_fsdb *fs, uint64_t client, const char *user, const char *group,
                        enum cf_fsdb_principal *kind, uint64_t *id, char *err)
{
    if ((user == NULL) == (group == NULL)) {
        cf_err_set(err, "name either a user or a group");
        return CF_EINVAL;
    }
    *kind = user != NULL ? CF_FSDB_USER : CF_FSDB_GROUP;
    return user != NULL ? user_id(fs, client, user, id, err) : group_id(fs, client, group, id, err);
}

/* PUT /perms/PATH {"user"|"group", "level"}; DELETE /perms/PATH?user=|group=. */
static int perms_write(struct MHD_Connection *c, struct cf_fsdb *fs, uint64_t client,
                       const char *method, const char *path, json_t *j, char *err)
{
    static const char *const keys[] = {"user", "group", "level", NULL};
    enum cf_fsdb_principal kind = CF_FSDB_USER;
    const char *user = NULL, *group = NULL, *lv = NULL;
    uint64_t folder = 0, id = 0;
    int rc = 0, level = -1;

    if (strcmp(method, "PUT") == 0) {
        rc = only_keys(j, keys, err);
        if (rc == 0)
            rc = opt_string(j, "user", &user, err);
        if (rc == 0)
            rc = opt_string(j, "group", &group, err);
        if (rc == 0)
            rc = opt_string(j, "level", &lv, err);
        level = level_of(lv);
        if (rc == 0 && level < 0) {
            cf_err_set(err, "level is none, read or read-write");
            rc = CF_EINVAL;
        }
    } else {
        user = cf_http_query(c, "user");
        group = cf_http_query(c, "group");
    }
    if (rc == 0)
        rc = principal_of(fs, client, user, group, &kind, &id, err);
    if (rc == 0)
        rc = cf_fsdb_resolve(fs, client, path[0] != '\0' ? path : "/", &folder, err);
    if (rc == 0 && level >= 0)
        rc = cf_fsdb_perm_set(fs, client, folder, kind, id, (enum cf_fsdb_level)level, err);
    else if (rc == 0)
        rc = cf_fsdb_perm_remove(fs, client, folder, kind, id, err);
    return rc;
}

/* GET /groups: the live groups with their members. */
static int groups_get(struct cf_fsdb *fs, uint64_t client, const struct cf_fsdb_user *u, size_t n,
                      json_t **out, char *err)
{
    struct cf_fsdb_group *g = NULL;
    size_t ng = 0;
    json_t *arr, **members;
    int rc = cf_fsdb_group_list(fs, client, &g, &ng, err);

    if (rc < 0)
        return rc;
    members = cf_xcalloc(ng + 1, sizeof(*members));
    for (size_t k = 0; k < ng; k++)
        members[k] = json_array();
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct cf_fsdb_group *ug = NULL;
        size_t nug = 0;
        rc = cf_fsdb_user_groups(fs, client, u[i].id, &ug, &nug, err);
        for (size_t a = 0; rc == 0 && a < nug; a++)
            for (size_t k = 0; k < ng; k++)
                if (g[k].id == ug[a].id)
                    (void)json_array_append_new(
                        members[k],
                        json_pack("{s:I,s:s}", "id", (json_int_t)u[i].id, "name", u[i].name));
        free(ug);
    }
    arr = json_array();
    for (size_t k = 0; k < ng; k++)
        (void)json_array_append_new(arr, json_pack("{s:I,s:s,s:o}", "id", (json_int_t)g[k].id,
                                                   "name", g[k].name, "members", members[k]));
    free(members);
    free(g);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out = json_pack("{s:o}", "groups", arr);
    return 0;
}

/* GET /group-trash. */
static int group_trash_get(struct cf_fsdb *fs, uint64_t client, json_t **out, char *err)
{
    struct cf_fsdb_group_trash *t = NULL;
    size_t n = 0;
    json_t *arr;
    int rc = cf_fsdb_group_trash_list(fs, client, &t, &n, err);

    if (rc < 0)
        return rc;
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        (void)json_array_append_new(arr, json_pack("{s:I,s:s,s:I,s:I}", "id", (json_int_t)t[i].id,
                                                   "name", t[i].name, "deleted_ms",
                                                   (json_int_t)t[i].deleted_ms, "by_user",
                                                   (json_int_t)t[i].by_user));
    free(t);
    *out = json_pack("{s:o}", "groups", arr);
    return 0;
}

/* The name after prefix in rest ("/groups/" ...) up to the next '/' or the
 * end, into out; the rest after it into *tail. false if there is none. */
static bool segment(const char *rest, const char *prefix, char *out, size_t cap, const char **tail)
{
    size_t n = strlen(prefix), len;
    const char *end;

    if (strncmp(rest, prefix, n) != 0)
        return false;
    rest += n;
    end = strchr(rest, '/');
    len = end != NULL ? (size_t)(end - rest) : strlen(rest);
    if (len == 0 || len >= cap)
        return false;
    memcpy(out, rest, len);
    out[len] = '\0';
    *tail = rest + len;
    return true;
}

bool cf__admin_is_accounts(const char *rest)
{
    static const char *const roots[] = {"/users", "/groups", "/group-trash", "/perms"};

    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        size_t n = strlen(roots[i]);
        if (strncmp(rest, roots[i], n) == 0 && (rest[n] == '\0' || rest[n] == '/'))
            return true;
    }
    return false;
}

/* Dispatch one accounts request; *status and *out for a reply with a body
 * (201/200), else 204. */
static int accounts(struct MHD_Connection *c, struct cf_fsdb *fs, uint64_t client, uint64_t user,
                    const char *method, const char *rest, const char *body, size_t len,
                    unsigned *status, json_t **out, char *err)
{
    char a[CF_FSDB_NAME_MAX + 1], b[CF_FSDB_NAME_MAX + 1];
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
    bool put = strcmp(method, "PUT") == 0, patch = strcmp(method, "PATCH") == 0;
    const char *tail = "";
    uint64_t gid = 0, uid = 0;
    json_t *j = NULL;
    char *endp = NULL;
    int rc;

    *status = MHD_HTTP_OK;
    if (strcmp(rest, "/group-trash") == 0 && get)
        return group_trash_get(fs, client, out, err);
    if ((strcmp(rest, "/users") == 0 && post) || (strcmp(rest, "/groups") == 0 && post) ||
        (strncmp(rest, "/users/", 7) == 0 && patch) || (strncmp(rest, "/perms", 6) == 0 && put)) {
        j = body_object(body, len, err);
        if (j == NULL)
            return CF_EBADREQ;
    }
    for (const char *p = rest + 1; *p != '\0';) {
        const char *end = strchr(p, '/');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n > CF_FSDB_NAME_MAX) {
            json_decref(j);
            cf_err_set(err, "a name has at most %d bytes", CF_FSDB_NAME_MAX);
            return CF_EINVAL;
        }
        p += n + (end != NULL);
    }
    rc = CF_EMETHOD;
    cf_err_set(err, "no such method on this admin endpoint");
    if (strcmp(rest, "/users") == 0 && post) {
        *status = MHD_HTTP_CREATED;
        rc = users_post(fs, client, j, out, err);
    } else if (patch && segment(rest, "/users/", a, sizeof(a), &tail) && tail[0] == '\0') {
        rc = users_patch(fs, client, user, a, j, err);
    } else if (strcmp(rest, "/groups") == 0 && post) {
        static const char *const keys[] = {"name", NULL};
        const char *name = NULL;
        rc = only_keys(j, keys, err);
        if (rc == 0)
            rc = opt_string(j, "name", &name, err);
        if (rc == 0 && name == NULL) {
            cf_err_set(err, "send {\"name\": ...}");
            rc = CF_EINVAL;
        }
        if (rc == 0)
            rc = cf_fsdb_group_add(fs, client, name, &gid, err);
        if (rc == 0) {
            *status = MHD_HTTP_CREATED;
            *out = json_pack("{s:I,s:s}", "id", (json_int_t)gid, "name", name);
        }
    } else if (segment(rest, "/groups/", a, sizeof(a), &tail)) {
        if (tail[0] == '\0' && del) {
            rc = group_id(fs, client, a, &gid, err);
            if (rc == 0)
                rc = cf_fsdb_group_delete(fs, client, gid, user, err);
        } else if ((put || del) && segment(tail, "/members/", b, sizeof(b), &tail) &&
                   tail[0] == '\0') {
            rc = group_id(fs, client, a, &gid, err);
            if (rc == 0)
                rc = user_id(fs, client, b, &uid, err);
            if (rc == 0 && put)
                rc = cf_fsdb_group_member_add(fs, client, gid, uid, err);
            else if (rc == 0)
                rc = cf_fsdb_group_member_remove(fs, client, gid, uid, err);
        }
    } else if ((post || del) && segment(rest, "/group-trash/", a, sizeof(a), &tail) &&
               tail[0] == '\0') {
        gid = strtoull(a, &endp, 10);
        if (a[0] < '0' || a[0] > '9' || *endp != '\0' || gid == 0) {
            cf_err_set(err, "a deleted group is named by its id");
            rc = CF_EINVAL;
        } else {
            rc = post ? cf_fsdb_group_restore(fs, client, gid, err)
                      : cf_fsdb_group_purge(fs, client, gid, err);
        }
    } else if ((put || del) && strncmp(rest, "/perms", 6) == 0) {
        rc = perms_write(c, fs, client, method, rest + 6, j, err);
    }
    json_decref(j);
    return rc;
}

enum MHD_Result cf__admin_accounts(struct MHD_Connection *c, struct cf_fsdb *fs, uint64_t client,
                                   uint64_t user, const char *method, const char *rest,
                                   const char *body, size_t len)
{
    struct cf_fsdb_user *u = NULL;
    char err[CF_ERR_LEN] = "";
    unsigned status = MHD_HTTP_OK;
    size_t n = 0;
    json_t *out = NULL;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int rc;

    if (get && strcmp(rest, "/users") == 0)
        return cf__admin_users(c, fs, client, user);
    if (get && strncmp(rest, "/perms", 6) == 0)
        return cf__admin_perms(c, fs, client, user, rest + 6);
    rc = client_admin(fs, client, user, &u, &n, err);
    if (rc == 0 && get && strcmp(rest, "/groups") == 0)
        rc = groups_get(fs, client, u, n, &out, err);
    else if (rc == 0)
        rc = accounts(c, fs, client, user, method, rest, body, len, &status, &out, err);
    scrub_users(u, n);
    if (rc < 0) {
        json_decref(out);
        return cf_http_reply_error(c, rc, "%s", err);
    }
    if (out == NULL)
        return cf_http_reply(c, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, NULL);
    return cf_http_reply_json(c, status, out);
}
