/*
 * fs.c -- the path commands against the gateway (login, ls, put FILE /path,
 * get /path, rm, mv, cp, mkdir, trash, restore, versions) and `admin
 * client|user|group|perm` on the file system database (cli.h).
 *
 * Paths go into URLs percent-encoded byte by byte (names may hold spaces and
 * UTF-8); every reply that is not 2xx is reported with the server's JSON
 * message, exit status 1.
 */
#include "coffer/cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "coffer/auth.h"
#include "coffer/buf.h"
#include "coffer/conf.h"
#include "coffer/err.h"
#include "coffer/hex.h"
#include "coffer/fsdb.h"
#include "coffer/httpc.h"
#include "coffer/io.h"
#include "coffer/log.h"
#include "coffer/sha512.h"
#include "cli_int.h"

/* `coffer server` puts the gateway on its port + 2 (8200 + 2). */
#define GATEWAY_DEFAULT "http://127.0.0.1:8202"
/* A path is at most CF_FSDB_PATH_MAX bytes, 3 times that encoded, twice in
 * a move or copy, plus the gateway URL. */
#define URL_MAX      (8 * CF_FSDB_PATH_MAX)
#define PATH_MAX_CLI 4096
#define AUTH_MAX     (CF_AUTH_TOKEN_LEN + 64)
#define TOKEN_MAX    512 /* a stored token longer than this is not one of ours */
/* Listings are JSON in memory: CF_FSDB_LIST_MAX entries of a few hundred bytes. */
#define JSON_MAX  (64u << 20)
#define PW_MAX    1024
#define FS_PREFIX "/api/v1/fs"

struct fs_conf {
    char *gateway;
    char *token_file;
    char *token;
    char *out;
    char *to;
    char *restore;
    bool empty;
    char *client;
    char *user;
    char *password;
    char *fs_db;
    uint64_t replicas;
    bool admin;
    char *path;
    char *group;
    char *level;
};

#define OFF(f) offsetof(struct fs_conf, f)
static const struct cf_conf_opt path_opts[] = {
    {"gateway", CF_CONF_STR, NULL, 0, 0, OFF(gateway),
     "gateway URL (default: the one coffer login used)", false},
    {"token-file", CF_CONF_STR, NULL, 0, 0, OFF(token_file),
     "token file of coffer login (default ~/.config/coffer/token)", false},
    {"token", CF_CONF_STR, NULL, 0, 0, OFF(token), "use this token instead of the token file",
     false},
    {"o", CF_CONF_STR, NULL, 0, 0, OFF(out), "get: write to this file instead of stdout", false},
    {"to", CF_CONF_STR, NULL, 0, 0, OFF(to), "restore: put the entry at this path", false},
    {"restore", CF_CONF_STR, NULL, 0, 0, OFF(restore), "versions: restore this version id", false},
    {"empty", CF_CONF_BOOL, "false", 0, 0, OFF(empty), "trash: delete everything in it for good",
     false},
};
static const struct cf_conf_opt login_opts[] = {
    {"gateway", CF_CONF_STR, GATEWAY_DEFAULT, 0, 0, OFF(gateway), "gateway URL", false},
    {"token-file", CF_CONF_STR, NULL, 0, 0, OFF(token_file),
     "where to keep the token (default ~/.config/coffer/token)", false},
    {"client", CF_CONF_STR, NULL, 0, 0, OFF(client), "client (organisation) name", false},
    {"user", CF_CONF_STR, NULL, 0, 0, OFF(user), "user name", false},
    {"password", CF_CONF_STR, NULL, 0, 0, OFF(password),
     "password (default: asked on the terminal)", false},
};
static const struct cf_conf_opt admin_opts[] = {
    {"fs-db", CF_CONF_STR, "sqlite:./data/fs-catalog.db", 0, 0, OFF(fs_db),
     "file system database catalog URI", false},
    {"client", CF_CONF_STR, NULL, 0, 0, OFF(client), "client name", false},
    {"replicas", CF_CONF_U64, "0", 0, CF_FSDB_REPLICAS_MAX, OFF(replicas),
     "client add: copies of each object (0: the default)", false},
    {"admin", CF_CONF_BOOL, "false", 0, 0, OFF(admin), "user add: read-write everywhere", false},
    {"password", CF_CONF_STR, NULL, 0, 0, OFF(password),
     "user add: password (default: a generated one, printed)", false},
    {"path", CF_CONF_STR, NULL, 0, 0, OFF(path), "perm set: the folder", false},
    {"user", CF_CONF_STR, NULL, 0, 0, OFF(user), "perm set: the user", false},
    {"group", CF_CONF_STR, NULL, 0, 0, OFF(group), "perm set: the group name", false},
    {"level", CF_CONF_STR, NULL, 0, 0, OFF(level), "perm set: none, read or read-write", false},
};

/* ---- arguments ---- */

/* How a path command reads its arguments. */
static struct cf__cli_args path_args(const char *cmd, const char *usage, int min, int max)
{
    struct cf__cli_args a = {.cmd = cmd,
                             .usage = usage,
                             .opts = path_opts,
                             .nopts = CF_ARRAY_LEN(path_opts),
                             .min = min,
                             .max = max,
                             .strict = true};

    return a;
}

/* A remote path: absolute. Prints why not and returns false. */
static bool remote_ok(const char *cmd, const char *path)
{
    if (path[0] == '/')
        return true;
    fprintf(stderr, "coffer %s: \"%s\" is not a remote path (they start with /)\n", cmd, path);
    return false;
}

/* ---- the token file ---- */

static int token_path(const struct fs_conf *c, char out[PATH_MAX_CLI])
{
    const char *home = getenv("HOME");
    int n;

    if (c->token_file != NULL)
        n = snprintf(out, PATH_MAX_CLI, "%s", c->token_file);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, PATH_MAX_CLI, "%s/.config/coffer/token", home);
    else
        return CF_EINVAL;
    return n < 0 || n >= PATH_MAX_CLI ? CF_ETOOLARGE : 0;
}

/* Make the directories above path (mode 0700) that are missing. */
static int make_parents(const char *path)
{
    char dir[PATH_MAX_CLI];
    int n = snprintf(dir, sizeof(dir), "%s", path);

    if (n < 0 || n >= (int)sizeof(dir))
        return CF_ETOOLARGE;
    for (char *s = dir + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int err = errno;
            fprintf(stderr, "coffer login: mkdir \"%s\": %s\n", dir, strerror(err));
            return cf_err_from_errno(err);
        }
        *s = '/';
    }
    return 0;
}

/* Write text to path whole or not at all, mode 0600 (io.h). */
static int write_private(const char *path, const char *text)
{
    char err[CF_ERR_LEN] = "";
    int rc = cf_io_write_file(path, text, strlen(text), 0600, true, err);

    if (rc < 0)
        fprintf(stderr, "coffer login: cannot write the token: %s\n", err);
    return rc;
}

/* Where and how to reach the gateway. */
struct sess {
    char gateway[1024];
    char auth[AUTH_MAX]; /* "Authorization: Bearer TOKEN" */
};

/* The token (from --token / COFFER_TOKEN or the token file) and the gateway
 * URL (from --gateway / COFFER_GATEWAY, the token file, or the default).
 * Returns 0, or 1 with the reason printed. */
static int sess_load(const char *cmd, const struct fs_conf *c, struct sess *s)
{
    char path[PATH_MAX_CLI];
    const char *token = c->token, *gw = c->gateway;
    json_t *j = NULL;
    json_error_t jerr;
    int rc = 1, n;

    if (token == NULL || gw == NULL) {
        if (token_path(c, path) < 0) {
            fprintf(stderr, "coffer %s: no token file (set HOME or --token-file); %s\n", cmd,
                    "run coffer login");
            goto out;
        }
        j = json_load_file(path, 0, &jerr);
        if (j == NULL && token == NULL) {
            fprintf(stderr, "coffer %s: not logged in (no token in \"%s\"); run coffer login\n",
                    cmd, path);
            goto out;
        }
    }
    if (token == NULL) {
        json_int_t exp = json_integer_value(json_object_get(j, "expires_ms"));
        token = json_string_value(json_object_get(j, "token"));
        if (token == NULL) {
            fprintf(stderr, "coffer %s: \"%s\" holds no token; run coffer login\n", cmd, path);
            goto out;
        }
        if (exp > 0 && (uint64_t)exp <= cf_wall_ms()) {
            fprintf(stderr, "coffer %s: the login has expired; run coffer login\n", cmd);
            goto out;
        }
    }
    if (gw == NULL)
        gw = json_string_value(json_object_get(j, "gateway"));
    if (gw == NULL)
        gw = GATEWAY_DEFAULT;
    /* The token goes into a header line: nothing but printable ASCII. */
    for (const char *t = token; *t != '\0'; t++) {
        if (*t <= ' ' || *t > '~' || t - token > TOKEN_MAX) {
            fprintf(stderr, "coffer %s: the token is malformed; run coffer login\n", cmd);
            goto out;
        }
    }
    n = snprintf(s->gateway, sizeof(s->gateway), "%s", gw);
    if (n < 0 || n >= (int)sizeof(s->gateway)) {
        fprintf(stderr, "coffer %s: gateway URL too long\n", cmd);
        goto out;
    }
    /* Tolerate "http://host:port/" as well as "http://host:port". */
    if (n > 0 && s->gateway[n - 1] == '/')
        s->gateway[n - 1] = '\0';
    (void)snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", token);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ---- URLs ---- */

/* gateway + prefix + path (encoded) + query: "?key=value" pairs from q (NULL
 * terminated key, value list; a NULL value skips its pair). */
static int url_of(struct cf_buf *u, const struct sess *s, const char *prefix, const char *path,
                  const char *const *q)
{
    int rc;
    char sep = '?';

    cf_buf_init(u, URL_MAX);
    rc = cf_buf_printf(u, "%s%s", s->gateway, prefix);
    if (rc == 0 && path != NULL)
        rc = cf__cli_escape(u, path, true);
    for (size_t i = 0; rc == 0 && q != NULL && q[i] != NULL; i += 2) {
        if (q[i + 1] == NULL)
            continue;
        rc = cf_buf_printf(u, "%c%s=", sep, q[i]);
        if (rc == 0)
            rc = cf__cli_escape(u, q[i + 1], true);
        sep = '&';
    }
    return rc;
}

/* ---- one request ---- */

struct call {
    const char *cmd;
    CURL *h;
    /* upload (in != NULL) */
    FILE *in;
    int in_err;
    struct cf_sha512 in_sha;
    /* download into out (out != NULL) on 200 */
    FILE *out;
    struct cf_sha512 out_sha;
    uint8_t sha[CF_SHA512_LEN]; /* X-Coffer-SHA512 of the reply, when is_file */
    bool stop_on_file;          /* ls: end the transfer when a file is sent */
    bool headers_seen;
    bool is_file;
    struct cf_buf body; /* a JSON reply, or the body of an error reply */
    long status;
    json_t *json; /* the parsed 2xx reply; caller owns */
};

/* Once the reply's headers are in: a file's bytes carry X-Coffer-SHA512, a
 * folder's listing does not. */
static void call_headers(struct call *x)
{
    if (x->headers_seen)
        return;
    x->headers_seen = true;
    x->is_file = cf_httpc_reply_sha512(x->h, x->sha) == 0;
}

static size_t call_write(char *p, size_t size, size_t nitems, void *ud)
{
    struct call *x = ud;
    size_t n = size * nitems;
    long status = 0;

    (void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    call_headers(x);
    if (x->stop_on_file && x->is_file && status == 200)
        return 0;
    /* A folder's listing is not a file's bytes: it never reaches out. */
    if (x->out == NULL || status != 200 || !x->is_file)
        return cf__cli_to_buf(p, size, nitems, &x->body);
    if (cf_sha512_update(&x->out_sha, p, n) < 0 || fwrite(p, 1, n, x->out) != n)
        return 0;
    return n;
}

static size_t call_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct call *x = ud;
    size_t n = fread(buf, 1, size * nitems, x->in);

    if (n == 0 && ferror(x->in)) {
        x->in_err = errno;
        return CURL_READFUNC_ABORT;
    }
    if (cf_sha512_update(&x->in_sha, buf, n) < 0)
        return CURL_READFUNC_ABORT;
    return n;
}

static void call_init(struct call *x, const char *cmd)
{
    memset(x, 0, sizeof(*x));
    x->cmd = cmd;
    cf_buf_init(&x->body, JSON_MAX);
}

static void call_fini(struct call *x)
{
    curl_easy_cleanup(x->h);
    x->h = NULL;
    cf_buf_fini(&x->body);
    json_decref(x->json);
    x->json = NULL;
}

/* Send method url (borrowed) with s's token. in_size: the upload's size,
 * or -1 for chunked (only with x->in). Returns 0 on a 2xx reply (x->json
 * parsed when it is JSON), else 1 with the reason printed. */
static int call_run(struct call *x, const struct sess *s, const char *method, const char *url,
                    int64_t in_size)
{
    struct curl_slist *hdrs = NULL;
    struct cf__cli_progress prog;
    CURLcode cc;
    int rc = 1;

    if (cf_httpc_global_init() == 0)
        x->h = curl_easy_init();
    if (x->h == NULL) {
        fprintf(stderr, "coffer %s: cannot start libcurl\n", x->cmd);
        goto out;
    }
    hdrs = curl_slist_append(hdrs, s->auth);
    (void)curl_easy_setopt(x->h, CURLOPT_URL, url);
    (void)curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, call_write);
    (void)curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    (void)curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    prog.on = false;
    if (x->in != NULL) {
        (void)curl_easy_setopt(x->h, CURLOPT_UPLOAD, 1L);
        (void)curl_easy_setopt(x->h, CURLOPT_READFUNCTION, call_read);
        (void)curl_easy_setopt(x->h, CURLOPT_READDATA, x);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
        if (in_size >= 0)
            (void)curl_easy_setopt(x->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)in_size);
        else
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        /* No "Expect: 100-continue" round trip before the body. */
        hdrs = curl_slist_append(hdrs, "Expect:");
        cf__cli_progress_setup(x->h, &prog, x->cmd, in_size > 0 ? (uint64_t)in_size : 0);
    } else if (strcmp(method, "POST") == 0) {
        (void)curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, "");
        (void)curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (x->out != NULL && x->out != stdout) {
        cf__cli_progress_setup(x->h, &prog, x->cmd, CF__CLI_PROGRESS_MIN);
    }
    (void)curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(x->h);
    (void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    call_headers(x);
    if (x->stop_on_file && x->is_file && x->status == 200) {
        rc = 0;
        goto out;
    }
    if (x->status == 401) {
        cf__cli_print_error(x->cmd, x->status, &x->body);
        fprintf(stderr, "coffer %s: the gateway refused the token; run coffer login\n", x->cmd);
        goto out;
    }
    if (x->status != 0 && (x->status < 200 || x->status > 299)) {
        cf__cli_print_error(x->cmd, x->status, &x->body);
        goto out;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "coffer %s: %s: %s (the transfer was not completed)\n", x->cmd, s->gateway,
                x->in_err ? strerror(x->in_err) : curl_easy_strerror(cc));
        goto out;
    }
    if (x->body.len > 0)
        x->json = json_loadb(x->body.base, x->body.len, 0, NULL);
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    return rc;
}

/* The common shape of a path command: parse, load the session. */
static int begin(const char *cmd, struct fs_conf *c, struct sess *s, int argc, char **argv,
                 const char *usage, char **pos, int min, int max, int *npos)
{
    const struct cf__cli_args a = path_args(cmd, usage, min, max);
    int rc = cf__cli_load(&a, c, argc, argv, pos, npos);

    if (rc >= 0)
        return rc;
    for (int i = 0; i < min; i++)
        if (!remote_ok(cmd, pos[i]))
            return 2;
    if (sess_load(cmd, c, s) != 0)
        return 1;
    return -1;
}

static void fmt_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M", &tm) == 0)
        (void)snprintf(out, 32, "%" PRId64, ms);
}

/* ---- login ---- */

/* Read a password from the terminal without echo. Returns 0 or 1 (printed). */
static int ask_password(char *pw, size_t cap)
{
    struct termios old, quiet;
    bool restore = false;
    int rc = 1;
    size_t n;

    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "coffer login: give --password or COFFER_PASSWORD (stdin is not a "
                        "terminal)\n");
        return 1;
    }
    fprintf(stderr, "Password: ");
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    if (fgets(pw, (int)cap, stdin) != NULL) {
        n = strcspn(pw, "\r\n");
        pw[n] = '\0';
        rc = 0;
    }
    if (restore)
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    if (rc != 0)
        fprintf(stderr, "coffer login: no password read\n");
    return rc;
}

int cf_cli_login(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer login [--gateway URL] --client C --user U [--password P]\n"
        "Logs in to the gateway and keeps the token in $COFFER_TOKEN_FILE or\n"
        "~/.config/coffer/token (mode 0600). The password comes from --password,\n"
        "COFFER_PASSWORD, or the terminal.\n";
    static const struct cf__cli_args args = {.cmd = "login",
                                             .usage = usage,
                                             .opts = login_opts,
                                             .nopts = CF_ARRAY_LEN(login_opts),
                                             .strict = true};
    struct fs_conf c = {0};
    struct cf__cli_req r = {.cmd = "login",
                            .method = "POST",
                            .base_name = "gateway URL",
                            .path = "/api/v1/login",
                            .timeout_ms = 60000,
                            .url_prefix = true};
    char pw[PW_MAX] = "", path[PATH_MAX_CLI], *text = NULL;
    const char *token;
    json_t *body = NULL, *reply = NULL, *saved = NULL;
    json_int_t ttl;
    long status = 0;
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, NULL, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (c.client == NULL || c.user == NULL) {
        fprintf(stderr, "%s", usage);
        goto out;
    }
    rc = 1;
    if (token_path(&c, path) < 0) {
        fprintf(stderr, "coffer login: no place for the token (set HOME or --token-file)\n");
        goto out;
    }
    if (c.password != NULL) {
        if (snprintf(pw, sizeof(pw), "%s", c.password) >= (int)sizeof(pw)) {
            fprintf(stderr, "coffer login: password too long\n");
            goto out;
        }
    } else if (ask_password(pw, sizeof(pw)) != 0) {
        goto out;
    }
    body = json_pack("{s:s,s:s,s:s}", "client", c.client, "user", c.user, "password", pw);
    if (body == NULL) {
        fprintf(stderr, "coffer login: client, user and password must be UTF-8\n");
        goto out;
    }
    r.base = c.gateway;
    r.body = body;
    if (cf__cli_request(&r, &status, &reply) != 0)
        goto out;
    token = json_string_value(json_object_get(reply, "token"));
    if (status != 200 || token == NULL) {
        cf__cli_print_reply("login", status, reply);
        goto out;
    }
    ttl = json_integer_value(json_object_get(reply, "expires_s"));
    saved =
        json_pack("{s:s,s:s,s:s,s:s,s:I}", "gateway", c.gateway, "client", c.client, "user", c.user,
                  "token", token, "expires_ms", (json_int_t)cf_wall_ms() + ttl * (json_int_t)1000);
    text = saved != NULL ? json_dumps(saved, JSON_COMPACT) : NULL;
    if (text == NULL || make_parents(path) < 0 || write_private(path, text) < 0)
        goto out;
    printf("logged in to %s as %s of %s; token in %s (valid %" PRId64 " s)\n", c.gateway, c.user,
           c.client, path, (int64_t)ttl);
    rc = 0;
out:
    explicit_bzero(pw, sizeof(pw));
    if (body != NULL) {
        /* The JSON copy of the password goes too. */
        json_t *p = json_object_get(body, "password");
        const char *v = json_string_value(p);
        if (v != NULL)
            explicit_bzero((char *)v, strlen(v));
    }
    if (text != NULL)
        explicit_bzero(text, strlen(text));
    free(text);
    json_decref(saved);
    json_decref(body);
    json_decref(reply);
    cf_conf_fini(login_opts, CF_ARRAY_LEN(login_opts), &c);
    return rc;
}

/* ---- ls ---- */

static void print_entry(const json_t *e)
{
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *name = json_string_value(json_object_get(e, "name"));
    char when[32], size[24] = "-";

    fmt_time((int64_t)json_integer_value(json_object_get(e, "modified_ms")), when);
    if (type != NULL && strcmp(type, "file") == 0)
        (void)snprintf(size, sizeof(size), "%" PRId64,
                       (int64_t)json_integer_value(json_object_get(e, "size")));
    printf("%-6s %14s  %s  %s\n", type ? type : "?", size, when, name ? name : "?");
}

int cf_cli_ls(int argc, char **argv)
{
    static const char usage[] = "usage: coffer ls [/PATH]\n"
                                "Lists a folder (default /): type, size, modified, name.\n";
    struct fs_conf c = {0};
    struct sess s;
    struct call x;
    struct cf_buf u;
    char *pos[1] = {"/"}, *parent = NULL;
    const char *name = NULL;
    json_t *entries;
    int rc, np = 0;

    call_init(&x, "ls");
    cf_buf_init(&u, URL_MAX);
    rc = begin("ls", &c, &s, argc, argv, usage, pos, 0, 1, &np);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (!remote_ok("ls", pos[0]))
        goto out;
    rc = 1;
    if (url_of(&u, &s, FS_PREFIX, pos[0], NULL) < 0) {
        fprintf(stderr, "coffer ls: path too long\n");
        goto out;
    }
    x.stop_on_file = true;
    if (call_run(&x, &s, "GET", u.base, -1) != 0)
        goto out;
    if (x.is_file) {
        /* A file: list its folder and show only it. */
        char *slash;
        parent = cf_xstrdup(pos[0]);
        slash = strrchr(parent, '/');
        name = pos[0] + (slash - parent) + 1;
        slash[slash == parent ? 1 : 0] = '\0';
        call_fini(&x);
        call_init(&x, "ls");
        cf_buf_fini(&u);
        if (url_of(&u, &s, FS_PREFIX, parent, NULL) < 0 || call_run(&x, &s, "GET", u.base, -1))
            goto out;
    }
    entries = json_object_get(x.json, "entries");
    if (!json_is_array(entries)) {
        fprintf(stderr, "coffer ls: the gateway sent no listing\n");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(entries); i++) {
        const json_t *e = json_array_get(entries, i);
        const char *en = json_string_value(json_object_get(e, "name"));
        if (name == NULL || (en != NULL && strcmp(en, name) == 0))
            print_entry(e);
    }
    rc = 0;
out:
    free(parent);
    cf_buf_fini(&u);
    call_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* ---- put FILE /path ---- */

int cf__cli_fs_put(int argc, char **argv)
{
    static const char usage[] = "usage: coffer put FILE /PATH\n"
                                "Uploads FILE (- for stdin) to /PATH (a folder path ending in /\n"
                                "keeps FILE's name); an existing file gets a new version.\n";
    const struct cf__cli_args args = path_args("put", usage, 2, 2);
    struct fs_conf c = {0};
    struct sess s;
    struct call x;
    struct cf_buf u, dst;
    struct stat st;
    char *pos[2], hex[CF_SHA512_HEX_LEN + 1];
    const char *got;
    uint8_t d[CF_SHA512_LEN];
    int rc;

    call_init(&x, "put");
    cf_buf_init(&u, URL_MAX);
    cf_buf_init(&dst, URL_MAX);
    rc = cf__cli_load(&args, &c, argc, argv, pos, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (!remote_ok("put", pos[1]))
        goto out;
    rc = 1;
    if (sess_load("put", &c, &s) != 0)
        goto out;
    if (cf_buf_printf(&dst, "%s", pos[1]) < 0)
        goto out;
    if (pos[1][strlen(pos[1]) - 1] == '/' && strcmp(pos[0], "-") != 0) {
        char *copy = cf_xstrdup(pos[0]);
        int e = cf_buf_printf(&dst, "%s", basename(copy));
        free(copy);
        if (e < 0)
            goto out;
    }
    x.in = strcmp(pos[0], "-") == 0 ? stdin : fopen(pos[0], "rb");
    if (x.in == NULL || fstat(fileno(x.in), &st) < 0) {
        fprintf(stderr, "coffer put: cannot open \"%s\": %s\n", pos[0], strerror(errno));
        goto out;
    }
    if (cf_sha512_init(&x.in_sha) < 0)
        goto out;
    if (url_of(&u, &s, FS_PREFIX, dst.base, NULL) < 0) {
        fprintf(stderr, "coffer put: path too long\n");
        goto out;
    }
    if (call_run(&x, &s, "PUT", u.base, S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1) != 0)
        goto out;
    if (cf_sha512_final(&x.in_sha, d) < 0)
        goto out;
    cf_sha512_hex(d, hex);
    got = json_string_value(json_object_get(x.json, "sha512"));
    if (got == NULL || strcmp(got, hex) != 0) {
        fprintf(stderr, "coffer put: the gateway recorded a different SHA-512 than was sent\n");
        goto out;
    }
    printf("%s: %" PRId64 " bytes, version %" PRId64 "\n", dst.base,
           (int64_t)json_integer_value(json_object_get(x.json, "size")),
           (int64_t)json_integer_value(json_object_get(x.json, "version_no")));
    rc = 0;
out:
    cf_sha512_fini(&x.in_sha);
    if (x.in != NULL && x.in != stdin)
        fclose(x.in);
    cf_buf_fini(&dst);
    cf_buf_fini(&u);
    call_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* ---- get /path ---- */

int cf__cli_fs_get(int argc, char **argv)
{
    static const char usage[] = "usage: coffer get /PATH [-o FILE]\n"
                                "Downloads a file to FILE (or stdout), verified against its\n"
                                "SHA-512; FILE appears only when complete.\n";
    struct fs_conf c = {0};
    struct sess s;
    struct call x;
    struct cf_buf u;
    struct cf__cli_out o = {0};
    char *pos[1];
    uint8_t dg[CF_SHA512_LEN];
    int rc;

    call_init(&x, "get");
    cf_buf_init(&u, URL_MAX);
    rc = begin("get", &c, &s, argc, argv, usage, pos, 1, 1, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (url_of(&u, &s, FS_PREFIX, pos[0], NULL) < 0) {
        fprintf(stderr, "coffer get: path too long\n");
        goto out;
    }
    if (cf__cli_out_open(&o, "get", c.out) != 0)
        goto out;
    x.out = o.f;
    if (cf_sha512_init(&x.out_sha) < 0)
        goto out;
    if (call_run(&x, &s, "GET", u.base, -1) != 0)
        goto out;
    if (!x.is_file) {
        fprintf(stderr, "coffer get: \"%s\" is a folder (coffer ls lists it)\n", pos[0]);
        goto out;
    }
    if (cf_sha512_final(&x.out_sha, dg) < 0)
        goto out;
    if (memcmp(dg, x.sha, CF_SHA512_LEN) != 0) {
        fprintf(stderr, "coffer get: the bytes received do not match the file's SHA-512\n");
        goto out;
    }
    if (cf__cli_out_commit(&o, "get") != 0)
        goto out;
    rc = 0;
out:
    cf_sha512_fini(&x.out_sha);
    cf__cli_out_abort(&o);
    cf_buf_fini(&u);
    call_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* ---- rm, mkdir, mv, cp ---- */

/* method PREFIX/pos[0]?op=OP[&to=pos[1]]; nargs is 1 or 2. */
static int simple(const char *cmd, const char *usage, const char *method, const char *op, int nargs,
                  int argc, char **argv)
{
    struct fs_conf c = {0};
    struct sess s;
    struct call x;
    struct cf_buf u;
    char *pos[2] = {NULL, NULL};
    const char *q[] = {"op", op, "to", pos[1], NULL};
    int rc;

    call_init(&x, cmd);
    cf_buf_init(&u, URL_MAX);
    rc = begin(cmd, &c, &s, argc, argv, usage, pos, nargs, nargs, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    q[3] = pos[1];
    if (url_of(&u, &s, FS_PREFIX, pos[0], q) < 0) {
        fprintf(stderr, "coffer %s: path too long\n", cmd);
        goto out;
    }
    if (call_run(&x, &s, method, u.base, -1) != 0)
        goto out;
    rc = 0;
out:
    cf_buf_fini(&u);
    call_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

int cf_cli_rm(int argc, char **argv)
{
    return simple("rm", "usage: coffer rm /PATH\nMoves a file or folder to the trash.\n", "DELETE",
                  NULL, 1, argc, argv);
}

int cf_cli_mkdir(int argc, char **argv)
{
    return simple("mkdir", "usage: coffer mkdir /PATH\nMakes a folder.\n", "POST", "mkdir", 1, argc,
                  argv);
}

int cf_cli_mv(int argc, char **argv)
{
    return simple("mv", "usage: coffer mv /FROM /TO\nMoves or renames a file or folder.\n", "POST",
                  "move", 2, argc, argv);
}

int cf_cli_cp(int argc, char **argv)
{
    return simple("cp", "usage: coffer cp /FROM /TO\nCopies a file (no bytes are copied).\n",
                  "POST", "copy", 2, argc, argv);
}

/* ---- trash, restore ---- */

int cf_cli_trash(int argc, char **argv)
{
    static const char usage[] = "usage: coffer trash [--empty]\n"
                                "Lists the trash: id, type, deleted, name (coffer restore ID\n"
                                "puts one back); --empty deletes everything in it for good.\n";
    struct fs_conf c = {0};
    struct sess s;
    struct call x;
    struct cf_buf u;
    json_t *entries;
    int rc;

    call_init(&x, "trash");
    cf_buf_init(&u, URL_MAX);
    rc = begin("trash", &c, &s, argc, argv, usage, NULL, 0, 0, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (url_of(&u, &s, "/api/v1/trash", NULL, NULL) < 0 ||
        call_run(&x, &s, c.empty ? "DELETE" : "GET", u.base, -1) != 0)
        goto out;
    if (c.empty) {
        printf("trash emptied; %" PRId64 " stored objects are no longer used\n",
               (int64_t)json_integer_value(json_object_get(x.json, "unreferenced")));
        rc = 0;
        goto out;
    }
    entries = json_object_get(x.json, "entries");
    if (!json_is_array(entries)) {
        fprintf(stderr, "coffer trash: the gateway sent no listing\n");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(entries); i++) {
        const json_t *e = json_array_get(entries, i);
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *name = json_string_value(json_object_get(e, "name"));
        char when[32];
        fmt_time((int64_t)json_integer_value(json_object_get(e, "deleted_ms")), when);
        printf("%-10" PRId64 " %-6s %s  %s\n",
               (int64_t)json_integer_value(json_object_get(e, "id")), type ? type : "?", when,
               name ? name : "?");
    }
    rc = 0;
out:
    cf_buf_fini(&u);
    call_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* A decimal id (for the URL: digits only). */
static bool id_ok(const char *cmd, const char *s)
{
    size_t n = strspn(s, "0123456789");

    if (n > 0 && n <= 20 && s[n] == '\0')
        return true;
    fprintf(stderr, "coffer %s: \"%s\" is not an id\n", cmd, s);
    return false;
}

int cf_cli_restore(int argc, char **argv)
{
    static const char usage[] = "usage: coffer restore ID [--to /PATH]\n"
                                "Puts trash entry ID (see coffer trash) back where it was, or\n"
                                "at /PATH.\n";
    const struct cf__cli_args args = path_args("restore", usage, 1, 1);
    struct fs_conf c = {0};
    struct sess s;
    struct call x;
    struct cf_buf u;
    char *pos[1];
    int rc;

    call_init(&x, "restore");
    cf_buf_init(&u, URL_MAX);
    rc = cf__cli_load(&args, &c, argc, argv, pos, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (!id_ok("restore", pos[0]) || (c.to != NULL && !remote_ok("restore", c.to)))
        goto out;
    rc = 1;
    if (sess_load("restore", &c, &s) != 0)
        goto out;
    {
        const char *q[] = {"op", "restore", "to", c.to, NULL};
        if (url_of(&u, &s, "/api/v1/trash/", pos[0], q) < 0 ||
            call_run(&x, &s, "POST", u.base, -1) != 0)
            goto out;
    }
    rc = 0;
out:
    cf_buf_fini(&u);
    call_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* ---- versions ---- */

int cf_cli_versions(int argc, char **argv)
{
    static const char usage[] = "usage: coffer versions /PATH [--restore ID]\n"
                                "Lists a file's versions (id, number, size, created; * marks\n"
                                "the current one); --restore ID makes version ID's content the\n"
                                "new current version.\n";
    struct fs_conf c = {0};
    struct sess s;
    struct call x;
    struct cf_buf u;
    char *pos[1];
    json_t *vs;
    int rc;

    call_init(&x, "versions");
    cf_buf_init(&u, URL_MAX);
    rc = begin("versions", &c, &s, argc, argv, usage, pos, 1, 1, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (c.restore != NULL && !id_ok("versions", c.restore))
        goto out;
    rc = 1;
    {
        const char *q[] = {"restore", c.restore, NULL};
        if (url_of(&u, &s, "/api/v1/versions", pos[0], q) < 0 ||
            call_run(&x, &s, c.restore ? "POST" : "GET", u.base, -1) != 0)
            goto out;
    }
    if (c.restore != NULL) {
        printf("%s: version %s restored as version %" PRId64 "\n", pos[0], c.restore,
               (int64_t)json_integer_value(json_object_get(x.json, "version_no")));
        rc = 0;
        goto out;
    }
    vs = json_object_get(x.json, "versions");
    if (!json_is_array(vs)) {
        fprintf(stderr, "coffer versions: the gateway sent no versions\n");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(vs); i++) {
        const json_t *v = json_array_get(vs, i);
        char when[32];
        fmt_time((int64_t)json_integer_value(json_object_get(v, "created_ms")), when);
        printf("%-10" PRId64 " %c %-5" PRId64 " %14" PRId64 "  %s\n",
               (int64_t)json_integer_value(json_object_get(v, "id")),
               json_is_true(json_object_get(v, "current")) ? '*' : ' ',
               (int64_t)json_integer_value(json_object_get(v, "number")),
               (int64_t)json_integer_value(json_object_get(v, "size")), when);
    }
    rc = 0;
out:
    cf_buf_fini(&u);
    call_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* ---- admin client|user|group|perm ---- */

static int find_client(struct cf_fsdb *fs, const struct fs_conf *c, uint64_t *id, char *err)
{
    struct cf_fsdb_client cl;
    int rc;

    if (c->client == NULL) {
        cf_err_set(err, "give --client NAME");
        return CF_EINVAL;
    }
    rc = cf_fsdb_client_find(fs, c->client, &cl, err);
    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no client \"%.64s\"", c->client);
    if (rc == 0)
        *id = cl.id;
    return rc;
}

static int find_user(struct cf_fsdb *fs, uint64_t client, const char *name, uint64_t *id, char *err)
{
    struct cf_fsdb_user u;
    int rc = cf_fsdb_user_get(fs, client, name, &u, err);

    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no user \"%.64s\"", name);
    if (rc == 0)
        *id = u.id;
    explicit_bzero(u.pw_hash, sizeof(u.pw_hash));
    return rc;
}

static int admin_user_add(struct cf_fsdb *fs, const struct fs_conf *c, const char *name, char *err)
{
    char pw[2 * 16 + 1] = "", hash[CF_AUTH_PWHASH_SIZE] = "";
    const char *use = c->password;
    uint64_t client = 0, id = 0;
    int rc = find_client(fs, c, &client, err);

    if (rc < 0)
        goto out;
    if (use == NULL) {
        /* 128 random bits as 32 hex digits, shown once. */
        rc = cf_auth_password_generate(128, pw);
        use = pw;
    }
    if (rc == 0)
        rc = cf_auth_password_hash(use, strlen(use), CF_AUTH_PBKDF2_ITER_DEFAULT, hash);
    if (rc == 0)
        rc = cf_fsdb_user_add(fs, client, name, hash, c->admin, &id, err);
    if (rc < 0)
        goto out;
    printf("user %s (id %" PRIu64 "%s) added to client %s\n", name, id, c->admin ? ", admin" : "",
           c->client);
    if (pw[0] != '\0')
        printf("password: %s\n", pw);
out:
    explicit_bzero(pw, sizeof(pw));
    return rc;
}

static int admin_perm_set(struct cf_fsdb *fs, const struct fs_conf *c, char *err)
{
    enum cf_fsdb_level level;
    enum cf_fsdb_principal kind = CF_FSDB_USER;
    uint64_t client = 0, folder = 0, who = 0;
    int rc;

    if (c->path == NULL || c->level == NULL || (c->user == NULL) == (c->group == NULL)) {
        cf_err_set(err, "give --path /FOLDER, --user U or --group ID, and --level");
        return CF_EINVAL;
    }
    if (strcmp(c->level, "none") == 0)
        level = CF_FSDB_NONE;
    else if (strcmp(c->level, "read") == 0)
        level = CF_FSDB_READ;
    else if (strcmp(c->level, "read-write") == 0)
        level = CF_FSDB_READ_WRITE;
    else {
        cf_err_set(err, "--level is none, read or read-write, not \"%.32s\"", c->level);
        return CF_EINVAL;
    }
    rc = find_client(fs, c, &client, err);
    if (rc == 0)
        rc = cf_fsdb_resolve(fs, client, c->path, &folder, err);
    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no folder \"%.200s\"", c->path);
    if (rc == 0 && c->user != NULL)
        rc = find_user(fs, client, c->user, &who, err);
    if (rc == 0 && c->group != NULL) {
        kind = CF_FSDB_GROUP;
        rc = cf_fsdb_group_find(fs, client, c->group, &who, err);
    }
    if (rc == 0)
        rc = cf_fsdb_perm_set(fs, client, folder, kind, who, level, err);
    if (rc == 0)
        printf("%s on %s: %s %s\n", c->level, c->path, kind == CF_FSDB_USER ? "user" : "group",
               kind == CF_FSDB_USER ? c->user : c->group);
    return rc;
}

int cf__cli_fs_admin(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin client add NAME [--replicas R]\n"
        "       coffer admin user add --client C NAME [--admin] [--password P]\n"
        "       coffer admin group add --client C NAME\n"
        "       coffer admin group member --client C GROUP USER\n"
        "       coffer admin perm set --client C --path /FOLDER (--user U | --group ID)\n"
        "                             --level none|read|read-write\n"
        "They work on the file system database: --fs-db URI (COFFER_FS_DB, default\n"
        "sqlite:./data/fs-catalog.db).\n";
    static const struct cf__cli_args args = {.cmd = "admin",
                                             .usage = usage,
                                             .opts = admin_opts,
                                             .nopts = CF_ARRAY_LEN(admin_opts),
                                             .min = 2,
                                             .max = 4,
                                             .strict = true};
    struct fs_conf c = {0};
    struct cf_fsdb *fs = NULL;
    char *pos[4] = {NULL, NULL, NULL, NULL}, err[CF_ERR_LEN] = "";
    const char *what, *verb;
    int rc, np = 0;

    rc = cf__cli_load(&args, &c, argc, argv, pos, &np);
    if (rc >= 0)
        goto out;
    what = pos[0];
    verb = pos[1];
    rc = 2;
    if (!((strcmp(what, "client") == 0 && strcmp(verb, "add") == 0 && np == 3) ||
          (strcmp(what, "user") == 0 && strcmp(verb, "add") == 0 && np == 3) ||
          (strcmp(what, "group") == 0 && strcmp(verb, "add") == 0 && np == 3) ||
          (strcmp(what, "group") == 0 && strcmp(verb, "member") == 0 && np == 4) ||
          (strcmp(what, "perm") == 0 && strcmp(verb, "set") == 0 && np == 2))) {
        fprintf(stderr, "%s", usage);
        goto out;
    }
    /* A one-shot command: the database's start-up notes are noise here. */
    cf_log_init("coffer", CF_LOG_WARN);
    rc = cf_fsdb_open(c.fs_db, 1, &fs, err);
    if (rc < 0)
        goto report;
    if (strcmp(what, "client") == 0) {
        struct cf_fsdb_client cl;
        struct cf_fsdb_shard *shards = NULL;
        size_t nshards = 0;
        /* A new file system database gets its first shard beside the catalog. */
        rc = cf_fsdb_shard_list(fs, &shards, &nshards, err);
        free(shards);
        if (rc == 0 && nshards == 0)
            rc = cf_fsdb_shard_add(fs, NULL, NULL, err);
        if (rc == 0)
            rc = cf_fsdb_client_add(fs, pos[2], NULL, (unsigned)c.replicas, &cl, err);
        if (rc == 0)
            printf("client %s (id %" PRIu64 ", shard %" PRIu32 ", %u replicas) added\n", cl.name,
                   cl.id, cl.shard, cl.replicas);
    } else if (strcmp(what, "user") == 0) {
        rc = admin_user_add(fs, &c, pos[2], err);
    } else if (strcmp(verb, "add") == 0) {
        uint64_t client = 0, id = 0;
        rc = find_client(fs, &c, &client, err);
        if (rc == 0)
            rc = cf_fsdb_group_add(fs, client, pos[2], &id, err);
        if (rc == 0)
            printf("group %s (id %" PRIu64 ") added to client %s\n", pos[2], id, c.client);
    } else if (strcmp(what, "group") == 0) {
        uint64_t client = 0, group = 0, user = 0;
        rc = find_client(fs, &c, &client, err);
        if (rc == 0)
            rc = cf_fsdb_group_find(fs, client, pos[2], &group, err);
        if (rc == 0)
            rc = find_user(fs, client, pos[3], &user, err);
        if (rc == 0)
            rc = cf_fsdb_group_member_add(fs, client, group, user, err);
        if (rc == 0)
            printf("user %s is in group %s\n", pos[3], pos[2]);
    } else {
        rc = admin_perm_set(fs, &c, err);
    }
report:
    if (rc < 0) {
        fprintf(stderr, "coffer admin %s %s: %s%s%s\n", what, verb, cf_strerror(rc),
                err[0] ? ": " : "", err);
        rc = rc == CF_EINVAL ? 2 : 1;
    }
out:
    cf_fsdb_close(fs);
    cf_conf_fini(admin_opts, CF_ARRAY_LEN(admin_opts), &c);
    return rc;
}
