/*
 * admin.c -- the operator's view: the monitor's filer table, instances and
 * event log, and the app's jobs and counts, passed through to operators
 * (admin.h).
 */
#include "admin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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
    struct cf_fsdb_perm *p = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0, np = 0;
    uint64_t folder = 0;
    json_t *arr;
    int rc = client_admin(fs, client, user, &u, &n, err);

    free(u);
    if (rc == 0)
        rc = cf_fsdb_resolve(fs, client, path[0] != '\0' ? path : "/", &folder, err);
    if (rc == 0)
        rc = cf_fsdb_perm_list(fs, client, folder, &p, &np, err);
    if (rc < 0)
        return cf_http_reply_error(c, rc, "%s", err);
    arr = json_array();
    for (size_t i = 0; i < np; i++)
        (void)json_array_append_new(
            arr,
            json_pack("{s:s,s:I,s:s}", "kind", p[i].kind == CF_FSDB_GROUP ? "group" : "user", "id",
                      (json_int_t)p[i].principal, "level",
                      (unsigned)p[i].level <= CF_FSDB_READ_WRITE ? levels[p[i].level] : "unknown"));
    free(p);
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
    free(u);
    if (rc < 0) {
        json_decref(arr);
        return cf_http_reply_error(c, rc, "%s", err);
    }
    return cf_http_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "users", arr));
}
