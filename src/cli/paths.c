/*
 * paths.c -- login and the path commands against the gateway: ls, put FILE
 * /PATH, get /PATH, rm, mv, cp, mkdir, trash, restore, versions (cli.h).
 *
 * Each command but login reads the session that login keeps (session.c),
 * sends one request (ls of a file, two), and prints the result; a reply
 * that is not 2xx is reported with the server's JSON message, exit status 1.
 */
#include "coffer/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "coffer/buf.h"
#include "coffer/common.h"
#include "coffer/conf.h"
#include "coffer/httpc.h"
#include "coffer/sha512.h"
#include "coffer/log.h"
#include "cli_int.h"

#define PW_MAX    1024
#define FS_PREFIX "/api/v1/fs"

struct path_conf {
    char *gateway;
    char *token_file;
    char *token;
    char *out;
    char *to;
    char *restore;
    bool empty;
    bool emptied;
    char *client;
    char *user;
    char *password;
    char *password_file;
    char *ca;
};

#define OFF(f) offsetof(struct path_conf, f)
static const struct cf_conf_opt path_opts[] = {
    CF__CLI_SESS_OPTS(OFF),
    {"o", CF_CONF_STR, NULL, 0, 0, OFF(out), "get: write to this file instead of stdout", false},
    {"to", CF_CONF_STR, NULL, 0, 0, OFF(to), "restore: put the entry at this path", false},
    {"restore", CF_CONF_STR, NULL, 0, 0, OFF(restore), "versions: restore this version id", false},
    {"empty", CF_CONF_BOOL, "false", 0, 0, OFF(empty), "trash: delete everything in it for good",
     false},
    {"emptied", CF_CONF_BOOL, "false", 0, 0, OFF(emptied),
     "trash: list the files emptied from it that can still come back; restore: ID is one of them",
     false},
    {"ca", CF_CONF_STR, NULL, 0, 0, OFF(ca),
     "CA certificate (PEM) of an https:// gateway (default: the one coffer login used)", false},
};
static const struct cf_conf_opt login_opts[] = {
    {"gateway", CF_CONF_STR, CF__CLI_GATEWAY_DEFAULT, 0, 0, OFF(gateway), "gateway URL", false},
    {"token-file", CF_CONF_STR, NULL, 0, 0, OFF(token_file),
     "where to keep the token (default ~/.config/coffer/token)", false},
    {"client", CF_CONF_STR, NULL, 0, 0, OFF(client), "client (organisation) name", false},
    {"user", CF_CONF_STR, NULL, 0, 0, OFF(user), "user name", false},
    {"password", CF_CONF_STR, NULL, 0, 0, OFF(password),
     "password (default: --password-file, else asked on the terminal)", false},
    {"password-file", CF_CONF_STR, NULL, 0, 0, OFF(password_file),
     "read the password from the first line of this file", false},
    {"ca", CF_CONF_STR, NULL, 0, 0, OFF(ca),
     "CA certificate (PEM) to verify an https:// gateway with; kept with the token", false},
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
                             .strict = true,
                             .attempts = true};

    return a;
}

/* A remote path: absolute. Prints why not and returns false. */
static bool remote_ok(const char *cmd, const char *path)
{
    bool ok = path[0] == '/';
    char shown[CF__CLI_SHOWN_MAX];

    if (!ok)
        fprintf(stderr, "coffer %s: \"%s\" is not a remote path (they start with /)\n", cmd,
                cf__cli_shown(shown, path));
    return ok;
}

/* The common shape of a path command: read the arguments, the first min of
 * them remote paths, and load the session. Returns -1 to go on, else the
 * exit status. */
static int begin(const char *cmd, struct path_conf *c, struct cf__cli_sess *s, int argc,
                 char **argv, const char *usage, char **pos, int min, int max, int *npos)
{
    const struct cf__cli_args a = path_args(cmd, usage, min, max);
    int rc = cf__cli_load(&a, c, argc, argv, pos, npos);

    for (int i = 0; rc < 0 && i < min; i++)
        if (!remote_ok(cmd, pos[i]))
            rc = 2;
    if (rc < 0 && cf__cli_sess_load(cmd, c->token_file, c->token, c->gateway, c->ca, s) != 0)
        rc = 1;
    return rc;
}

/* "2026-01-02 03:04" in local time, or the milliseconds if that fails. */
static void fmt_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M", &tm) == 0)
        (void)snprintf(out, 32, "%" PRId64, ms);
}

/* ---- login ---- */

int cf_cli_login(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer login [--gateway URL] [--ca FILE] --client C --user U\n"
        "                    [--password P | --password-file FILE]\n"
        "Logs in to the gateway and keeps the token in $COFFER_TOKEN_FILE or\n"
        "~/.config/coffer/token (mode 0600). The password comes from --password\n"
        "(COFFER_PASSWORD), the first line of --password-file FILE\n"
        "(COFFER_PASSWORD_FILE), or the terminal (not echoed). An https:// gateway\n"
        "is verified against the CA in --ca (COFFER_CA), else the system's; the CA\n"
        "is kept with the token.\n";
    static const struct cf__cli_args args = {.cmd = "login",
                                             .usage = usage,
                                             .opts = login_opts,
                                             .nopts = CF_ARRAY_LEN(login_opts),
                                             .strict = true,
                                             .attempts = true};
    struct path_conf c = {0};
    struct cf__cli_req r = {.cmd = "login",
                            .method = "POST",
                            .base_name = "gateway URL",
                            .path = "/api/v1/login",
                            .timeout_ms = 60000};
    char pw[PW_MAX] = "", path[CF__CLI_PATH_MAX], *text = NULL, *ca = NULL;
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
    if (cf__cli_token_path(c.token_file, path) < 0) {
        fprintf(stderr, "coffer login: no place for the token (set HOME or --token-file)\n");
        goto out;
    }
    /* Kept absolute, so later commands find it from any directory. */
    if (c.ca != NULL) {
        ca = realpath(c.ca, NULL);
        if (ca == NULL) {
            fprintf(stderr, "coffer login: --ca: cannot read \"%s\": %s\n", c.ca, strerror(errno));
            goto out;
        }
    }
    if (cf__cli_password("login", c.password, c.password_file, true, false, pw, sizeof(pw)) != 0)
        goto out;
    body = json_pack("{s:s,s:s,s:s}", "client", c.client, "user", c.user, "password", pw);
    if (body == NULL) {
        fprintf(stderr, "coffer login: client, user and password must be UTF-8\n");
        goto out;
    }
    r.base = c.gateway;
    r.body = body;
    r.ca = ca;
    r.public = true;
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
    if (saved != NULL && ca != NULL && json_object_set_new(saved, "ca", json_string(ca)) != 0) {
        fprintf(stderr, "coffer login: the CA path must be UTF-8\n");
        goto out;
    }
    text = saved != NULL ? json_dumps(saved, JSON_COMPACT) : NULL;
    if (text == NULL || cf__cli_token_save("login", path, text) < 0)
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
    free(ca);
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
    char when[32], size[24] = "-", shown[CF__CLI_SHOWN_MAX], tshown[32];

    fmt_time((int64_t)json_integer_value(json_object_get(e, "modified_ms")), when);
    if (type != NULL && strcmp(type, "file") == 0)
        (void)snprintf(size, sizeof(size), "%" PRId64,
                       (int64_t)json_integer_value(json_object_get(e, "size")));
    printf("%-6s %14s  %s  %s\n", cf_term_escape(tshown, sizeof(tshown), type ? type : "?"), size,
           when, cf__cli_shown(shown, name));
}

/* A listing comes in pages (the gateway's "next" cursor): once x holds one,
 * fetch the next of prefix + path into x. Returns 1 when x holds the next
 * page, 0 when there is none, -1 on failure (reported). */
static int next_page(struct cf__cli_gwreq *x, struct cf__cli_sess *s, struct cf_buf *u,
                     const char *cmd, const char *prefix, const char *path)
{
    const char *next = json_string_value(json_object_get(x->json, "next"));
    const char *q[] = {"after", NULL, NULL};
    char *after;
    int rc = 1;

    if (next == NULL)
        return 0;
    after = cf_xstrdup(next);
    q[1] = after;
    cf__cli_gwreq_fini(x);
    cf__cli_gwreq_init(x, cmd);
    cf_buf_fini(u);
    if (cf__cli_gw_url(u, s, prefix, path, q) < 0) {
        fprintf(stderr, "coffer %s: the listing's cursor is too long\n", cmd);
        rc = -1;
    } else if (cf__cli_gwreq_run(x, s, "GET", u->base, -1) != 0) {
        rc = -1;
    }
    free(after);
    return rc;
}

int cf_cli_ls(int argc, char **argv)
{
    static const char usage[] = "usage: coffer ls [/PATH]\n"
                                "Lists a folder (default /): type, size, modified, name.\n";
    struct path_conf c = {0};
    struct cf__cli_sess s;
    struct cf__cli_gwreq x;
    struct cf_buf u;
    char *pos[1] = {"/"}, *parent = NULL;
    const char *name = NULL;
    json_t *entries;
    int rc, np = 0, pg = 0;

    cf__cli_gwreq_init(&x, "ls");
    cf_buf_init(&u, CF__CLI_GW_URL_MAX);
    rc = begin("ls", &c, &s, argc, argv, usage, pos, 0, 1, &np);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (!remote_ok("ls", pos[0]))
        goto out;
    rc = 1;
    if (cf__cli_gw_url(&u, &s, FS_PREFIX, pos[0], NULL) < 0) {
        fprintf(stderr, "coffer ls: path too long\n");
        goto out;
    }
    x.stop_on_file = true;
    if (cf__cli_gwreq_run(&x, &s, "GET", u.base, -1) != 0)
        goto out;
    if (x.is_file) {
        /* A file: list its folder and show only it. */
        char *slash;
        parent = cf_xstrdup(pos[0]);
        slash = strrchr(parent, '/');
        name = pos[0] + (slash - parent) + 1;
        slash[slash == parent ? 1 : 0] = '\0';
        cf__cli_gwreq_fini(&x);
        cf__cli_gwreq_init(&x, "ls");
        cf_buf_fini(&u);
        if (cf__cli_gw_url(&u, &s, FS_PREFIX, parent, NULL) < 0 ||
            cf__cli_gwreq_run(&x, &s, "GET", u.base, -1))
            goto out;
    }
    /* Page by page, printed as they come. */
    do {
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
        pg = next_page(&x, &s, &u, "ls", FS_PREFIX, parent != NULL ? parent : pos[0]);
    } while (pg > 0);
    if (pg < 0)
        goto out;
    rc = 0;
out:
    free(parent);
    cf_buf_fini(&u);
    cf__cli_gwreq_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* ---- put FILE /path ---- */

int cf__cli_path_put(int argc, char **argv)
{
    static const char usage[] = "usage: coffer put FILE /PATH\n"
                                "Uploads FILE (- for stdin) to /PATH (a folder path ending in /\n"
                                "keeps FILE's name); an existing file gets a new version.\n";
    const struct cf__cli_args args = path_args("put", usage, 2, 2);
    struct path_conf c = {0};
    struct cf__cli_sess s;
    struct cf__cli_gwreq x;
    struct cf_buf u, dst;
    char *pos[2], hex[CF_SHA512_HEX_LEN + 1], shown[CF__CLI_SHOWN_MAX];
    const char *got;
    uint8_t d[CF_SHA512_LEN];
    int64_t size = -1;
    int rc;

    cf__cli_gwreq_init(&x, "put");
    cf_buf_init(&u, CF__CLI_GW_URL_MAX);
    cf_buf_init(&dst, CF__CLI_GW_URL_MAX);
    rc = cf__cli_load(&args, &c, argc, argv, pos, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (!remote_ok("put", pos[1]))
        goto out;
    rc = 1;
    if (cf__cli_sess_load("put", c.token_file, c.token, c.gateway, c.ca, &s) != 0)
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
    if (cf__cli_src_open(&x.in, "put", pos[0], &size) != 0)
        goto out;
    if (cf__cli_gw_url(&u, &s, FS_PREFIX, dst.base, NULL) < 0) {
        fprintf(stderr, "coffer put: path too long\n");
        goto out;
    }
    if (cf__cli_gwreq_run(&x, &s, "PUT", u.base, size) != 0)
        goto out;
    if (cf_sha512_final(&x.in.sha, d) < 0)
        goto out;
    cf_sha512_hex(d, hex);
    got = json_string_value(json_object_get(x.json, "sha512"));
    if (got == NULL || strcmp(got, hex) != 0) {
        fprintf(stderr, "coffer put: the gateway recorded a different SHA-512 than was sent\n");
        goto out;
    }
    printf("%s: %" PRId64 " bytes, version %" PRId64 "\n", cf__cli_shown(shown, dst.base),
           (int64_t)json_integer_value(json_object_get(x.json, "size")),
           (int64_t)json_integer_value(json_object_get(x.json, "version_no")));
    rc = 0;
out:
    cf__cli_src_close(&x.in);
    cf_buf_fini(&dst);
    cf_buf_fini(&u);
    cf__cli_gwreq_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* ---- get /path ---- */

/* One read from a filer's signed URL (a redirect's). */
struct filer_read {
    CURL *h;
    FILE *out;
    struct cf_sha512 *sha;
};

static size_t filer_write(char *p, size_t size, size_t nitems, void *ud)
{
    struct filer_read *r = ud;
    size_t n = size * nitems;
    long status = 0;

    (void)curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || cf_sha512_update(r->sha, p, n) < 0 || fwrite(p, 1, n, r->out) != n)
        return 0; /* ends the transfer: an error reply, or the file cannot be written */
    return n;
}

/* Empty o's temporary and start sha again. Returns 0 or -1 (printed). */
static int out_restart(struct cf__cli_out *o, struct cf_sha512 *sha)
{
    cf_sha512_fini(sha);
    if (fflush(o->f) != 0 || ftruncate(fileno(o->f), 0) != 0 || fseeko(o->f, 0, SEEK_SET) != 0 ||
        cf_sha512_init(sha) < 0) {
        fprintf(stderr, "coffer get: cannot write \"%s\": %s\n", o->target, strerror(errno));
        return -1;
    }
    return 0;
}

/* The scheme, host and port of url into out: a signed URL is a credential
 * for a while, so messages name only the filer. */
static void filer_of(const char *url, char out[128])
{
    const char *p = strstr(url, "://"), *end = p != NULL ? strchr(p + 3, '/') : NULL;

    (void)snprintf(out, 128, "%.*s", end != NULL ? (int)(end - url) : 0, url);
}

/* Read the file from the filers a redirect named (x->json "urls", best
 * first) into o, each in turn until one gives bytes matching x->sha (the
 * SHA-512 the gateway sent). Returns 0 when o holds them; 1 when none did
 * (o emptied, x->out_sha started again); -1 on a local failure (printed). */
static int get_from_filers(struct cf__cli_gwreq *x, struct cf__cli_out *o)
{
    json_t *urls = json_object_get(x->json, "urls");
    uint8_t dg[CF_SHA512_LEN];
    char filer[128];

    for (size_t i = 0; i < json_array_size(urls); i++) {
        const char *url = json_string_value(json_array_get(urls, i));
        struct filer_read r = {.out = o->f, .sha = &x->out_sha};
        long status = 0;
        CURLcode cc;

        if (url == NULL)
            continue;
        if (out_restart(o, &x->out_sha) < 0)
            return -1;
        filer_of(url, filer);
        r.h = curl_easy_init();
        if (r.h == NULL)
            return -1;
        cf_httpc_tls(r.h);
        (void)curl_easy_setopt(r.h, CURLOPT_URL, url);
        (void)curl_easy_setopt(r.h, CURLOPT_WRITEFUNCTION, filer_write);
        (void)curl_easy_setopt(r.h, CURLOPT_WRITEDATA, &r);
        (void)curl_easy_setopt(r.h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        /* A filer that sends nothing for 30 s is given up for the next. */
        (void)curl_easy_setopt(r.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        (void)curl_easy_setopt(r.h, CURLOPT_LOW_SPEED_TIME, 30L);
        cc = curl_easy_perform(r.h);
        (void)curl_easy_getinfo(r.h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(r.h);
        if (cc != CURLE_OK || status != 200) {
            fprintf(stderr, "coffer get: %s: %s; trying the next replica\n", filer,
                    cc != CURLE_OK ? curl_easy_strerror(cc) : "not HTTP 200");
            continue;
        }
        if (fflush(o->f) != 0 || cf_sha512_final(&x->out_sha, dg) < 0)
            return -1;
        if (memcmp(dg, x->sha, CF_SHA512_LEN) == 0)
            return 0;
        fprintf(stderr,
                "coffer get: the bytes from %s do not match the file's SHA-512; trying the next "
                "replica\n",
                filer);
    }
    return out_restart(o, &x->out_sha) < 0 ? -1 : 1;
}

int cf__cli_path_get(int argc, char **argv)
{
    static const char usage[] = "usage: coffer get /PATH [-o FILE]\n"
                                "Downloads a file to FILE (or stdout), verified against its\n"
                                "SHA-512; FILE appears only when complete.\n";
    struct path_conf c = {0};
    struct cf__cli_sess s;
    struct cf__cli_gwreq x;
    struct cf_buf u;
    struct cf__cli_out o = {0};
    char *pos[1], shown[CF__CLI_SHOWN_MAX];
    uint8_t dg[CF_SHA512_LEN];
    bool again = true;
    int rc;

    cf__cli_gwreq_init(&x, "get");
    cf_buf_init(&u, CF__CLI_GW_URL_MAX);
    rc = begin("get", &c, &s, argc, argv, usage, pos, 1, 1, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (cf__cli_gw_url(&u, &s, FS_PREFIX, pos[0], NULL) < 0) {
        fprintf(stderr, "coffer get: path too long\n");
        goto out;
    }
    if (cf__cli_out_open(&o, "get", c.out) != 0)
        goto out;
    x.out = o.f;
    /* Into a temporary, bytes read straight from a filer can be checked
     * before they count, and dropped for another replica's. */
    x.redirect = o.tmp[0] != '\0';
    if (cf_sha512_init(&x.out_sha) < 0)
        goto out;
    if (cf__cli_gwreq_run(&x, &s, "GET", u.base, -1) != 0)
        goto out;
    if (x.status == 307) {
        int fr = get_from_filers(&x, &o);
        if (fr < 0)
            goto out;
        if (fr == 0)
            goto done;
        fprintf(stderr, "coffer get: no replica gave the right bytes; reading through the "
                        "gateway\n");
        cf_sha512_fini(&x.out_sha);
        cf__cli_gwreq_fini(&x);
        cf__cli_gwreq_init(&x, "get");
        x.out = o.f;
        if (cf_sha512_init(&x.out_sha) < 0 || cf__cli_gwreq_run(&x, &s, "GET", u.base, -1) != 0)
            goto out;
    }
    if (!x.is_file) {
        fprintf(stderr, "coffer get: \"%s\" is a folder (coffer ls lists it)\n",
                cf__cli_shown(shown, pos[0]));
        goto out;
    }
    if (cf_sha512_final(&x.out_sha, dg) < 0)
        goto out;
    if (memcmp(dg, x.sha, CF_SHA512_LEN) != 0 && again && o.tmp[0] != '\0') {
        /* A stream broken off by a replica whose bytes were wrong, then
         * resumed from the byte reached: the bytes before it may be the
         * wrong ones. objsrv now reads that replica last, so the whole
         * file is read once more, from its start. */
        fprintf(stderr, "coffer get: the bytes received do not match the file's SHA-512; reading "
                        "the whole file again\n");
        again = false;
        cf_sha512_fini(&x.out_sha);
        cf__cli_gwreq_fini(&x);
        cf__cli_gwreq_init(&x, "get"); /* zeroes out_sha: out_restart starts it */
        x.out = o.f;
        if (out_restart(&o, &x.out_sha) < 0 || cf__cli_gwreq_run(&x, &s, "GET", u.base, -1) != 0)
            goto out;
        if (cf_sha512_final(&x.out_sha, dg) < 0)
            goto out;
    }
    if (memcmp(dg, x.sha, CF_SHA512_LEN) != 0) {
        fprintf(stderr, "coffer get: the bytes received do not match the file's SHA-512\n");
        goto out;
    }
done:
    if (cf__cli_out_commit(&o, "get") != 0)
        goto out;
    rc = 0;
out:
    cf_sha512_fini(&x.out_sha);
    cf__cli_out_abort(&o);
    cf_buf_fini(&u);
    cf__cli_gwreq_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* ---- rm, mkdir, mv, cp ---- */

/* method PREFIX/pos[0]?op=OP[&to=pos[1]]; nargs is 1 or 2. */
static int simple(const char *cmd, const char *usage, const char *method, const char *op, int nargs,
                  int argc, char **argv)
{
    struct path_conf c = {0};
    struct cf__cli_sess s;
    struct cf__cli_gwreq x;
    struct cf_buf u;
    char *pos[2] = {NULL, NULL};
    const char *q[] = {"op", op, "to", pos[1], NULL};
    int rc;

    cf__cli_gwreq_init(&x, cmd);
    cf_buf_init(&u, CF__CLI_GW_URL_MAX);
    rc = begin(cmd, &c, &s, argc, argv, usage, pos, nargs, nargs, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    q[3] = pos[1];
    if (cf__cli_gw_url(&u, &s, FS_PREFIX, pos[0], q) < 0) {
        fprintf(stderr, "coffer %s: path too long\n", cmd);
        goto out;
    }
    if (cf__cli_gwreq_run(&x, &s, method, u.base, -1) != 0)
        goto out;
    rc = 0;
out:
    cf_buf_fini(&u);
    cf__cli_gwreq_fini(&x);
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
    static const char usage[] =
        "usage: coffer trash [--empty | --emptied]\n"
        "Lists the trash: id, type, deleted, name (coffer restore ID\n"
        "puts one back); --empty deletes everything in it for good.\n"
        "--emptied lists the files emptied from it whose objects the app still\n"
        "keeps: id, size, versions, emptied, name (coffer restore --emptied ID\n"
        "brings one back with its versions).\n";
    const char *prefix;
    struct path_conf c = {0};
    struct cf__cli_sess s;
    struct cf__cli_gwreq x;
    struct cf_buf u;
    json_t *entries;
    int rc, np = 0;

    cf__cli_gwreq_init(&x, "trash");
    cf_buf_init(&u, CF__CLI_GW_URL_MAX);
    rc = begin("trash", &c, &s, argc, argv, usage, NULL, 0, 0, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (c.empty && c.emptied) {
        fprintf(stderr, "coffer trash: --empty and --emptied do not go together\n");
        goto out;
    }
    rc = 1;
    prefix = c.emptied ? "/api/v1/trash/emptied" : "/api/v1/trash";
    if (cf__cli_gw_url(&u, &s, prefix, NULL, NULL) < 0 ||
        cf__cli_gwreq_run(&x, &s, c.empty ? "DELETE" : "GET", u.base, -1) != 0)
        goto out;
    if (c.empty) {
        printf("trash emptied; %" PRId64 " stored objects are no longer used\n",
               (int64_t)json_integer_value(json_object_get(x.json, "unreferenced")));
        rc = 0;
        goto out;
    }
    do {
        entries = json_object_get(x.json, "entries");
        if (!json_is_array(entries)) {
            fprintf(stderr, "coffer trash: the gateway sent no listing\n");
            goto out;
        }
        for (size_t i = 0; i < json_array_size(entries); i++) {
            const json_t *e = json_array_get(entries, i);
            const char *type = json_string_value(json_object_get(e, "type"));
            const char *name = json_string_value(json_object_get(e, "name"));
            char when[32], shown[CF__CLI_SHOWN_MAX], tshown[32];
            if (c.emptied) {
                fmt_time((int64_t)json_integer_value(json_object_get(e, "emptied_ms")), when);
                printf("%-10" PRId64 " %12" PRId64 " %3" PRId64 "v %s  %s\n",
                       (int64_t)json_integer_value(json_object_get(e, "id")),
                       (int64_t)json_integer_value(json_object_get(e, "size")),
                       (int64_t)json_integer_value(json_object_get(e, "versions")), when,
                       cf__cli_shown(shown, name));
                continue;
            }
            fmt_time((int64_t)json_integer_value(json_object_get(e, "deleted_ms")), when);
            printf("%-10" PRId64 " %-6s %s  %s\n",
                   (int64_t)json_integer_value(json_object_get(e, "id")),
                   cf_term_escape(tshown, sizeof(tshown), type ? type : "?"), when,
                   cf__cli_shown(shown, name));
        }
        np = next_page(&x, &s, &u, "trash", prefix, NULL);
    } while (np > 0);
    if (np < 0)
        goto out;
    rc = 0;
out:
    cf_buf_fini(&u);
    cf__cli_gwreq_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}

/* A decimal id (for the URL: digits only). */
static bool id_ok(const char *cmd, const char *s)
{
    size_t n = strspn(s, "0123456789");
    bool ok = n > 0 && n <= 20 && s[n] == '\0';

    if (!ok)
        fprintf(stderr, "coffer %s: \"%s\" is not an id\n", cmd, s);
    return ok;
}

int cf_cli_restore(int argc, char **argv)
{
    static const char usage[] = "usage: coffer restore [--emptied] ID [--to /PATH]\n"
                                "Puts trash entry ID (see coffer trash) back where it was, or\n"
                                "at /PATH. With --emptied, ID is a file emptied from the trash\n"
                                "(see coffer trash --emptied): the app undeletes its objects\n"
                                "and the file comes back with all its versions.\n";
    const struct cf__cli_args args = path_args("restore", usage, 1, 1);
    struct path_conf c = {0};
    struct cf__cli_sess s;
    struct cf__cli_gwreq x;
    struct cf_buf u;
    char *pos[1];
    int rc;

    cf__cli_gwreq_init(&x, "restore");
    cf_buf_init(&u, CF__CLI_GW_URL_MAX);
    rc = cf__cli_load(&args, &c, argc, argv, pos, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (!id_ok("restore", pos[0]) || (c.to != NULL && !remote_ok("restore", c.to)))
        goto out;
    rc = 1;
    if (cf__cli_sess_load("restore", c.token_file, c.token, c.gateway, c.ca, &s) != 0)
        goto out;
    if (c.emptied) {
        const char *q[] = {"to", c.to, NULL};
        char path[48];

        (void)snprintf(path, sizeof(path), "%s/restore", pos[0]);
        if (cf__cli_gw_url(&u, &s, "/api/v1/trash/emptied/", path, q) < 0 ||
            cf__cli_gwreq_run(&x, &s, "POST", u.base, -1) != 0)
            goto out;
    } else {
        const char *q[] = {"op", "restore", "to", c.to, NULL};
        if (cf__cli_gw_url(&u, &s, "/api/v1/trash/", pos[0], q) < 0 ||
            cf__cli_gwreq_run(&x, &s, "POST", u.base, -1) != 0)
            goto out;
    }
    rc = 0;
out:
    cf_buf_fini(&u);
    cf__cli_gwreq_fini(&x);
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
    struct path_conf c = {0};
    struct cf__cli_sess s;
    struct cf__cli_gwreq x;
    struct cf_buf u;
    char *pos[1], shown[CF__CLI_SHOWN_MAX];
    json_t *vs;
    int rc, np = 0;

    cf__cli_gwreq_init(&x, "versions");
    cf_buf_init(&u, CF__CLI_GW_URL_MAX);
    rc = begin("versions", &c, &s, argc, argv, usage, pos, 1, 1, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (c.restore != NULL && !id_ok("versions", c.restore))
        goto out;
    rc = 1;
    {
        const char *q[] = {"restore", c.restore, NULL};
        if (cf__cli_gw_url(&u, &s, "/api/v1/versions", pos[0], q) < 0 ||
            cf__cli_gwreq_run(&x, &s, c.restore ? "POST" : "GET", u.base, -1) != 0)
            goto out;
    }
    if (c.restore != NULL) {
        printf("%s: version %s restored as version %" PRId64 "\n", cf__cli_shown(shown, pos[0]),
               c.restore, (int64_t)json_integer_value(json_object_get(x.json, "version_no")));
        rc = 0;
        goto out;
    }
    do {
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
        np = next_page(&x, &s, &u, "versions", "/api/v1/versions", pos[0]);
    } while (np > 0);
    if (np < 0)
        goto out;
    rc = 0;
out:
    cf_buf_fini(&u);
    cf__cli_gwreq_fini(&x);
    cf_conf_fini(path_opts, CF_ARRAY_LEN(path_opts), &c);
    return rc;
}
