/*
 * session.c -- the login session with the gateway (cli_int.h): the token
 * file that `coffer login` writes and the path commands read, the URLs of
 * the gateway's API, and one request with the token, its body streamed in
 * or out.
 *
 * Paths go into URLs percent-encoded byte by byte (names may hold spaces and
 * UTF-8); every reply that is not 2xx is reported with the server's JSON
 * message.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coffer/buf.h"
#include "coffer/common.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/io.h"
#include "coffer/sha512.h"
#include "coffer/upstream.h"
#include "cli_int.h"

/* Listings are JSON in memory: CF_FSDB_LIST_MAX entries of a few hundred bytes. */
#define JSON_MAX (64u << 20)

/* ---- the token file ---- */

int cf__cli_token_path(const char *token_file, char out[CF__CLI_PATH_MAX])
{
    const char *home = getenv("HOME");
    int n = 0, rc = 0;

    if (token_file != NULL)
        n = snprintf(out, CF__CLI_PATH_MAX, "%s", token_file);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, CF__CLI_PATH_MAX, "%s/.config/coffer/token", home);
    else
        rc = CF_EINVAL;
    if (rc == 0 && (n < 0 || n >= CF__CLI_PATH_MAX))
        rc = CF_ETOOLARGE;
    return rc;
}

/* Make the directories above path (mode 0700) that are missing. */
static int make_parents(const char *cmd, const char *path)
{
    char dir[CF__CLI_PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s", path), rc = 0;

    if (n < 0 || n >= (int)sizeof(dir))
        rc = CF_ETOOLARGE;
    for (char *s = dir + 1; rc == 0 && *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int err = errno;
            fprintf(stderr, "coffer %s: mkdir \"%s\": %s\n", cmd, dir, strerror(err));
            rc = cf_err_from_errno(err);
        }
        *s = '/';
    }
    return rc;
}

int cf__cli_token_save(const char *cmd, const char *path, const char *text)
{
    char err[CF_ERR_LEN] = "";
    int rc = make_parents(cmd, path);

    if (rc < 0)
        goto out;
    /* Whole or not at all (io.h): a crash leaves the old login or the new. */
    rc = cf_io_write_file(path, text, strlen(text), 0600, true, err);
    if (rc < 0)
        fprintf(stderr, "coffer %s: cannot write the token: %s\n", cmd, err);
out:
    return rc;
}

int cf__cli_sess_load(const char *cmd, const char *token_file, const char *token,
                      const char *gateway, const char *ca, struct cf__cli_sess *s)
{
    char path[CF__CLI_PATH_MAX];
    const char *gw = gateway;
    struct cf_upstream *u = NULL;
    char err[CF_ERR_LEN] = "";
    json_t *j = NULL;
    json_error_t jerr;
    int rc = 1, n;

    if (token == NULL || gw == NULL) {
        if (cf__cli_token_path(token_file, path) < 0) {
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
        gw = CF__CLI_GATEWAY_DEFAULT;
    /* The CA login used goes with the gateway login used, not another one. */
    if (ca == NULL && gateway == NULL)
        ca = json_string_value(json_object_get(j, "ca"));
    n = snprintf(s->ca, sizeof(s->ca), "%s", ca != NULL ? ca : "");
    if (n < 0 || n >= (int)sizeof(s->ca)) {
        fprintf(stderr, "coffer %s: CA path too long\n", cmd);
        goto out;
    }
    if (cf__cli_ca_url(cmd, s->ca, gw) != 0 || cf__cli_tls(cmd, s->ca) != 0)
        goto out;
    /* The token goes into a header line: nothing but printable ASCII. */
    for (const char *t = token; *t != '\0'; t++) {
        if (*t <= ' ' || *t > '~' || t - token > CF__CLI_TOKEN_MAX) {
            fprintf(stderr, "coffer %s: the token is malformed; run coffer login\n", cmd);
            goto out;
        }
    }
    /* One URL or a comma list; "http://host:port/" as well as
     * "http://host:port". */
    if (cf_upstream_parse(gw, &u, err) < 0) {
        fprintf(stderr, "coffer %s: the gateway: %s\n", cmd, err);
        goto out;
    }
    n = snprintf(s->gateway, sizeof(s->gateway), "%s", cf_upstream_url(u, 0));
    if (n < 0 || n >= (int)sizeof(s->gateway)) {
        fprintf(stderr, "coffer %s: gateway URL too long\n", cmd);
        goto out;
    }
    s->list[0] = '\0';
    for (size_t i = 0; i < cf_upstream_count(u); i++) {
        size_t len = strlen(s->list);
        n = snprintf(s->list + len, sizeof(s->list) - len, "%s%s", i > 0 ? "," : "",
                     cf_upstream_url(u, i));
        if (n < 0 || (size_t)n >= sizeof(s->list) - len) {
            fprintf(stderr, "coffer %s: gateway URLs too long\n", cmd);
            goto out;
        }
    }
    /* The token was checked to fit. */
    (void)snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", token);
    rc = 0;
out:
    cf_upstream_free(u);
    json_decref(j);
    return rc;
}

/* ---- URLs ---- */

int cf__cli_gw_url(struct cf_buf *u, const struct cf__cli_sess *s, const char *prefix,
                   const char *path, const char *const *q)
{
    int rc;
    char sep = '?';

    cf_buf_init(u, CF__CLI_GW_URL_MAX);
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

/* Once the reply's headers are in: a file's bytes carry X-Coffer-SHA512, a
 * folder's listing does not. A resumed download must be the same file
 * from the byte it reached: a 206 from there with the same SHA-512. */
static void gwreq_headers(struct cf__cli_gwreq *x)
{
    uint8_t sha[CF_SHA512_LEN];
    struct curl_header *cr = NULL;
    char want[64];
    long status = 0;

    if (x->headers_seen)
        return;
    x->headers_seen = true;
    if (x->from == 0) {
        x->is_file = cf_httpc_reply_sha512(x->h, x->sha) == 0;
        return;
    }
    (void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (status / 100 != 2)
        return; /* an error reply, reported as such */
    (void)snprintf(want, sizeof(want), "bytes %" PRIu64 "-", x->from);
    if (cf_httpc_reply_sha512(x->h, sha) != 0 || memcmp(sha, x->sha, sizeof(sha)) != 0 ||
        curl_easy_header(x->h, "Content-Range", 0, CURLH_HEADER, -1, &cr) != CURLHE_OK ||
        strncmp(cr->value, want, strlen(want)) != 0)
        x->changed = true;
}

static size_t gwreq_write(char *p, size_t size, size_t nitems, void *ud)
{
    struct cf__cli_gwreq *x = ud;
    size_t n = size * nitems;
    long status = 0;

    (void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    gwreq_headers(x);
    if (x->changed)
        n = 0; /* ends the transfer: not the file the first attempt began */
    else if (x->stop_on_file && x->is_file && status == 200)
        n = 0; /* ends the transfer: ls needs only to know it is a file */
    else if (x->out == NULL || status != (x->from > 0 ? 206 : 200) || !x->is_file)
        n = cf__cli_to_buf(p, size, nitems, &x->body); /* a listing never reaches out */
    else if (cf_sha512_update(&x->out_sha, p, n) < 0 || fwrite(p, 1, n, x->out) != n)
        n = 0;
    else
        x->got += n;
    return n;
}

void cf__cli_gwreq_init(struct cf__cli_gwreq *x, const char *cmd)
{
    memset(x, 0, sizeof(*x));
    x->cmd = cmd;
    cf_buf_init(&x->body, JSON_MAX);
}

void cf__cli_gwreq_fini(struct cf__cli_gwreq *x)
{
    curl_easy_cleanup(x->h);
    x->h = NULL;
    cf_buf_fini(&x->body);
    json_decref(x->json);
    x->json = NULL;
}

/* One attempt of x on url (borrowed). Returns the curl code; x->status is
 * the reply's status, 0 if none came. */
static CURLcode gwreq_once(struct cf__cli_gwreq *x, const struct cf__cli_sess *s,
                           const char *method, const char *url, int64_t in_size)
{
    struct curl_slist *hdrs = NULL;
    struct cf__cli_progress prog;
    char range[64];
    CURLcode cc;

    x->h = curl_easy_init();
    if (x->h == NULL)
        return CURLE_FAILED_INIT;
    cf_httpc_tls(x->h);
    hdrs = curl_slist_append(hdrs, s->auth);
    (void)curl_easy_setopt(x->h, CURLOPT_URL, url);
    (void)curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, gwreq_write);
    (void)curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    (void)curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    prog.on = false;
    if (x->in.f != NULL) {
        (void)curl_easy_setopt(x->h, CURLOPT_UPLOAD, 1L);
        (void)curl_easy_setopt(x->h, CURLOPT_READFUNCTION, cf__cli_src_read);
        (void)curl_easy_setopt(x->h, CURLOPT_READDATA, &x->in);
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
    if (x->redirect)
        hdrs = curl_slist_append(hdrs, "X-Coffer-Redirect: 1");
    if (x->max_rate > 0) {
        (void)curl_easy_setopt(x->h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)x->max_rate);
        (void)curl_easy_setopt(x->h, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)x->max_rate);
    }
    if (x->from > 0) {
        (void)snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", x->from);
        hdrs = curl_slist_append(hdrs, range);
    }
    (void)curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(x->h);
    (void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    gwreq_headers(x);
    curl_slist_free_all(hdrs);
    return cc;
}

/* Whether a 503 reply (body in x->body) says the gateway does not know
 * whether it made the change: such a request is never sent again. A 503
 * without coffer's JSON came from a balancer that did not pass it on. */
static bool reply_in_doubt(const struct cf__cli_gwreq *x)
{
    json_t *j = x->body.len ? json_loadb(x->body.base, x->body.len, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(j, "error"));
    bool doubt = e != NULL && strcmp(e, cf_err_name(CF_EINDOUBT)) == 0;

    json_decref(j);
    return doubt;
}

/* Whether a 503 reply came from coffer (its JSON "error"), not from a
 * balancer in front of it. */
static bool reply_from_coffer(const struct cf__cli_gwreq *x)
{
    json_t *j = x->body.len ? json_loadb(x->body.base, x->body.len, 0, NULL) : NULL;
    bool ours = json_is_string(json_object_get(j, "error"));

    json_decref(j);
    return ours;
}

/* Whether x's attempt that ended with cc may be sent again, to another
 * gateway or the same one:
 * - any request that made no connection, or that a balancer answered 503
 *   without passing it on;
 * - GET (lists, downloads: resumed from the byte reached) that broke or
 *   was answered 502/503/504;
 * - an upload (PUT from a file that can be read again) that broke before
 *   its whole body was sent, or was answered 503 by the gateway other than
 *   "in doubt": the gateway records a version only after the whole body
 *   was stored, and every 503 of its upload but that one means it did not;
 *   one that sent its whole body and got no reply, or a balancer's 502/504
 *   without coffer's JSON, is marked x->doubt, and put_settle asks the
 *   gateway whether it took before sending it again.
 * Nothing else: a reply after a mkdir, mv, cp, rm or restore broke may
 * have come after the change was made. */
static bool gwreq_again(struct cf__cli_gwreq *x, const char *method, CURLcode cc, int64_t in_size)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool put = x->in.f != NULL && in_size >= 0 && x->in.err == 0;
    curl_off_t sent = 0;
    bool lost;

    /* A local failure (the file written, a reply over its cap) or a
     * transfer ended on purpose is not the gateway's. */
    if (x->changed || cf_httpc_cert_error((int)cc) || cc == CURLE_WRITE_ERROR ||
        cc == CURLE_ABORTED_BY_CALLBACK || cc == CURLE_READ_ERROR)
        return false;
    if (cc != CURLE_OK && cf_httpc_unsent((int)cc))
        return true;
    if (x->status == 503 && !reply_from_coffer(x))
        return true;
    if (get)
        return (cc != CURLE_OK && x->status / 100 != 4) || cf_upstream_retry_status(x->status);
    if (!put)
        return false;
    (void)curl_easy_getinfo(x->h, CURLINFO_SIZE_UPLOAD_T, &sent);
    /* No reply, or a balancer's own 502/504 (the gateway's reply was lost
     * on its way: the connection closed or timed out behind the balancer). */
    lost = (cc != CURLE_OK && x->status == 0) ||
           ((x->status == 502 || x->status == 504) && !reply_from_coffer(x));
    if (lost && sent < (curl_off_t)in_size)
        return true;
    if (lost) {
        /* The whole body went and the reply was lost: the gateway may
         * have recorded it. put_settle asks before it is sent again. */
        x->doubt = true;
        return true;
    }
    return x->status == 503 && !reply_in_doubt(x);
}

/* The SHA-512 of the whole file f (read again from its start). */
static int file_sha(FILE *f, uint8_t out[CF_SHA512_LEN])
{
    struct cf_sha512 sha;
    char buf[65536];
    size_t n;
    int rc = -1;

    if (cf_sha512_init(&sha) < 0)
        return -1;
    if (fseeko(f, 0, SEEK_SET) != 0)
        goto out;
    for (;;) {
        n = fread(buf, 1, sizeof(buf), f);
        if (n == 0)
            break;
        if (cf_sha512_update(&sha, buf, n) < 0)
            goto out;
    }
    if (!ferror(f) && cf_sha512_final(&sha, out) == 0)
        rc = 0;
out:
    cf_sha512_fini(&sha);
    return rc;
}

/* An upload to url (borrowed: the file's URL on the gateway this attempt
 * goes to) sent its whole body and got no reply. Ask that gateway for the
 * file: when its current version holds exactly the bytes sent, the upload
 * took (or the file held them already), and x->json is made as the
 * gateway's reply would have been. Returns 1 then, 0 when the file holds
 * other bytes or none (the upload is sent again), -1 when no answer came. */
static int put_settle(struct cf__cli_gwreq *x, const struct cf__cli_sess *s, const char *url,
                      int64_t in_size)
{
    struct cf__cli_gwreq q;
    uint8_t mine[CF_SHA512_LEN];
    char hex[CF_SHA512_HEX_LEN + 1];
    struct curl_header *v = NULL;
    CURLcode cc;
    int rc = -1;

    cf__cli_gwreq_init(&q, x->cmd);
    q.stop_on_file = true;
    cc = gwreq_once(&q, s, "GET", url, -1);
    if (q.status == 404 || (q.status == 200 && !q.is_file)) {
        rc = 0;
    } else if (q.status == 200) {
        if (file_sha(x->in.f, mine) != 0)
            goto out;
        rc = memcmp(mine, q.sha, sizeof(mine)) == 0;
        if (rc == 1) {
            cf_sha512_hex(mine, hex);
            (void)curl_easy_header(q.h, "X-Coffer-Version", 0, CURLH_HEADER, -1, &v);
            x->json =
                json_pack("{s:s,s:I,s:I}", "sha512", hex, "size", (json_int_t)in_size, "version_no",
                          (json_int_t)(v != NULL ? strtoll(v->value, NULL, 10) : 0));
            x->status = 201;
        }
    }
    (void)cc;
out:
    cf__cli_gwreq_fini(&q);
    return rc;
}

/* Make x ready for another attempt: an upload read again from its start,
 * a download resumed from the bytes written (the SHA-512 kept going). */
static int gwreq_rewind(struct cf__cli_gwreq *x)
{
    curl_easy_cleanup(x->h);
    x->h = NULL;
    cf_buf_fini(&x->body);
    cf_buf_init(&x->body, JSON_MAX);
    x->headers_seen = false;
    x->status = 0;
    /* An upload in doubt keeps the hash of what it sent until put_settle
     * has told whether it took. */
    if (x->in.f != NULL && !x->doubt) {
        cf_sha512_fini(&x->in.sha);
        if (fseeko(x->in.f, 0, SEEK_SET) != 0 || cf_sha512_init(&x->in.sha) < 0)
            return -1;
        clearerr(x->in.f);
    }
    if (x->out != NULL && x->is_file)
        x->from = x->got;
    return 0;
}

int cf__cli_gwreq_run(struct cf__cli_gwreq *x, const struct cf__cli_sess *s, const char *method,
                      const char *url, int64_t in_size)
{
    struct cf_upstream *u = NULL;
    struct cf__cli_turn t;
    struct cf_buf full;
    size_t glen = strlen(s->gateway), n = 1;
    const char *rest = NULL, *last = s->gateway;
    CURLcode cc = CURLE_FAILED_INIT;
    int rc = 1, tries = cf__cli_attempts();

    cf_buf_init(&full, 1);
    if (cf_httpc_global_init() != 0) {
        fprintf(stderr, "coffer %s: cannot start libcurl\n", x->cmd);
        goto out;
    }
    /* The URL is the first gateway's + the rest; the others get the rest. */
    if (strncmp(url, s->gateway, glen) == 0 && cf_upstream_parse(s->list, &u, NULL) == 0) {
        rest = url + glen;
        n = cf_upstream_count(u);
    }
    cf__cli_turn_init(&t, n);
    for (int a = 0; a < tries; a++) {
        const char *prev = rest != NULL ? cf_upstream_url(u, t.cur) : url;
        size_t i = cf__cli_turn_next(&t);
        const char *base = rest != NULL ? cf_upstream_url(u, i) : url;

        last = rest != NULL ? base : s->gateway;
        if (a > 0) {
            if (cc == CURLE_OK)
                fprintf(stderr, "coffer %s: %s answered HTTP %ld; trying again\n", x->cmd, prev,
                        x->status);
            else
                fprintf(stderr, "coffer %s: %s: %s; trying again%s\n", x->cmd, prev,
                        curl_easy_strerror(cc), x->got > 0 ? " from the byte reached" : "");
            if (gwreq_rewind(x) != 0) {
                fprintf(stderr, "coffer %s: cannot read the file again\n", x->cmd);
                goto out;
            }
        }
        cf_buf_fini(&full);
        cf_buf_init(&full, CF__CLI_GW_URL_MAX + sizeof(s->list));
        if (cf_buf_printf(&full, "%s%s", base, rest != NULL ? rest : "") < 0) {
            fprintf(stderr, "coffer %s: the gateway URL is too long\n", x->cmd);
            goto out;
        }
        if (x->doubt) {
            int settled = put_settle(x, s, full.base, in_size);
            if (settled == 1) {
                x->doubt = false;
                rc = 0;
                goto out;
            }
            if (settled < 0) {
                cf__cli_turn_down(&t);
                cc = CURLE_COULDNT_CONNECT;
                continue;
            }
            x->doubt = false;
            if (gwreq_rewind(x) != 0) {
                fprintf(stderr, "coffer %s: cannot read the file again\n", x->cmd);
                goto out;
            }
        }
        cc = gwreq_once(x, s, method, full.base, in_size);
        if (cc != CURLE_OK && x->status == 0)
            cf__cli_turn_down(&t);
        if (cc == CURLE_FAILED_INIT && x->h == NULL) {
            fprintf(stderr, "coffer %s: cannot start libcurl\n", x->cmd);
            goto out;
        }
        if (x->stop_on_file && x->is_file && x->status == 200)
            break;
        if (cc == CURLE_OK && !cf_upstream_retry_status(x->status) &&
            !(x->status == 503 && !reply_from_coffer(x)))
            break;
        if (!gwreq_again(x, method, cc, in_size))
            break;
    }
    if (x->changed) {
        fprintf(stderr, "coffer %s: the file changed while it was downloaded; run it again\n",
                x->cmd);
        goto out;
    }
    if (x->doubt) {
        fprintf(stderr,
                "coffer %s: %s: the whole file was sent but no reply came, and no gateway could "
                "tell whether it was recorded; see coffer versions\n",
                x->cmd, last);
        goto out;
    }
    if (x->stop_on_file && x->is_file && x->status == 200) {
        rc = 0;
        goto out;
    }
    if (x->status == 401) {
        cf__cli_print_error(x->cmd, x->status, &x->body);
        fprintf(stderr, "coffer %s: the gateway refused the token; run coffer login\n", x->cmd);
        goto out;
    }
    if (x->status != 0 && (x->status < 200 || x->status > 299) &&
        !(x->redirect && x->status == 307)) {
        if (!x->quiet)
            cf__cli_print_error(x->cmd, x->status, &x->body);
        else if (x->body.len > 0)
            x->json = json_loadb(x->body.base, x->body.len, 0, NULL);
        goto out;
    }
    if (cc != CURLE_OK && cf_httpc_cert_error((int)cc)) {
        char err[CF_ERR_LEN];
        cf_httpc_failure((int)cc, err, last);
        fprintf(stderr, "coffer %s: %s\n", x->cmd, err);
        goto out;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "coffer %s: %s: %s (the transfer was not completed)\n", x->cmd, last,
                x->in.err ? strerror(x->in.err) : curl_easy_strerror(cc));
        goto out;
    }
    if (x->body.len > 0)
        x->json = json_loadb(x->body.base, x->body.len, 0, NULL);
    rc = 0;
out:
    cf_buf_fini(&full);
    cf_upstream_free(u);
    return rc;
}
