/*
 * common.c -- what several CLI commands share (cli_int.h): reading the
 * arguments, the progress bar, error replies, JSON requests to the
 * services, uploads hashed on the way, and downloads that appear only when
 * complete.
 */
#include <curl/curl.h>
#include <errno.h>
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

#include "coffer/buf.h"
#include "coffer/common.h"
#include "coffer/conf.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/io.h"
#include "coffer/sha512.h"
#include "coffer/log.h"
#include "coffer/upstream.h"
#include "cli_int.h"

/* ---- arguments ---- */

/* Whether option arg ("--name" without '=') is followed by its value, as
 * cf_conf_load reads it: all but a BOOL, --help and --print-config. */
static bool takes_value(const struct cf__cli_args *a, const char *arg)
{
    bool value = strcmp(arg, "--help") != 0 && strcmp(arg, "--print-config") != 0;

    for (size_t i = 0; value && i < a->nopts; i++) {
        if (strcmp(arg + 2, a->opts[i].name) == 0) {
            value = a->opts[i].type != CF_CONF_BOOL;
            break;
        }
    }
    return value;
}

/* Whether w may be a positional argument: not an option ("-" alone, the
 * standard input, is a word), and one of a's words if it has a list. */
static bool is_word(const struct cf__cli_args *a, const char *w)
{
    bool ok = w[0] != '-' || w[1] == '\0';

    if (ok && a->words != NULL) {
        ok = false;
        for (size_t i = 0; !ok && a->words[i] != NULL; i++)
            ok = strcmp(w, a->words[i]) == 0;
    }
    return ok;
}

/* Walk argv the way cf_conf_load reads it: options, and the values they
 * take, go into rest[0..*nrest) (rest may be NULL to drop them); words into
 * pos, up to max. A word past max ends the walk in *extra when a is strict,
 * else it goes into rest. Returns how many went into pos. */
static int split(const struct cf__cli_args *a, int max, int argc, char **argv, char **pos,
                 char **rest, int *nrest, const char **extra)
{
    bool value = false;
    int p = 0, k = 0;

    *extra = NULL;
    for (int i = 0; i < argc && *extra == NULL; i++) {
        char *w = argv[i];
        bool option = true;
        if (value) {
            value = false;
        } else if (strcmp(w, "-o") == 0) {
            w = "--o"; /* the short form: -o FILE */
            value = true;
        } else if (strncmp(w, "--", 2) == 0) {
            value = strchr(w, '=') == NULL && takes_value(a, w);
        } else if (is_word(a, w) && p < max) {
            pos[p++] = w;
            option = false;
        } else if (is_word(a, w) && a->strict) {
            *extra = w;
            option = false;
        }
        if (option && rest != NULL)
            rest[k++] = w;
    }
    if (nrest != NULL)
        *nrest = k;
    return p;
}

/* --key-file, which every command takes (cf__cli_operator). */
static const char *key_file_opt;

/* Take --key-file PATH (or --key-file=PATH) out of rest[0..*k). */
static void take_key_file(char **rest, int *k)
{
    int w = 0;

    for (int i = 0; i < *k; i++) {
        if (strcmp(rest[i], "--key-file") == 0 && i + 1 < *k) {
            key_file_opt = rest[++i];
        } else if (strncmp(rest[i], "--key-file=", 11) == 0) {
            key_file_opt = rest[i] + 11;
        } else {
            rest[w++] = rest[i];
        }
    }
    *k = w;
}

int cf__cli_operator(const char *cmd)
{
    static bool loaded;
    const char *path = key_file_opt, *how = "--key-file";
    char err[CF_ERR_LEN] = "";
    struct cf_cred *c = NULL;
    int rc = 1;

    if (loaded)
        return 0;
    if (path == NULL) {
        path = getenv("COFFER_OPERATOR_KEY_FILE");
        how = "COFFER_OPERATOR_KEY_FILE";
    }
    if (path == NULL || path[0] == '\0') {
        path = "./data/" CF_CRED_OPERATOR_FILE;
        how = "the default";
    }
    c = cf_cred_new();
    if (cf_cred_load_operator_key(c, path, err) < 0) {
        fprintf(stderr,
                "coffer %s: no operator key (%s, %s): %s; give --key-file PATH or "
                "COFFER_OPERATOR_KEY_FILE (coffer server --data DIR makes DIR/%s)\n",
                cmd, how, path, err, CF_CRED_OPERATOR_FILE);
        goto out;
    }
    cf_cred_install(c);
    loaded = true;
    rc = 0;
out:
    cf_cred_free(c);
    return rc;
}

/* --attempts, which every command takes (cf__cli_attempts); 0: not given. */
static int attempts_opt;

/* Take --attempts N (or --attempts=N) out of rest[0..*k). Returns 0, or
 * -1 with the reason printed when N is not 1 to CF__CLI_ATTEMPTS_MAX. */
static int take_attempts(const char *cmd, char **rest, int *k)
{
    const char *v = NULL;
    int w = 0;

    for (int i = 0; i < *k; i++) {
        if (strcmp(rest[i], "--attempts") == 0 && i + 1 < *k)
            v = rest[++i];
        else if (strncmp(rest[i], "--attempts=", 11) == 0)
            v = rest[i] + 11;
        else
            rest[w++] = rest[i];
    }
    *k = w;
    if (v == NULL)
        return 0;
    attempts_opt = cf__cli_attempts_parse(v);
    if (attempts_opt == 0) {
        fprintf(stderr, "coffer %s: --attempts is a number from 1 to %d\n", cmd,
                CF__CLI_ATTEMPTS_MAX);
        return -1;
    }
    return 0;
}

int cf__cli_attempts_parse(const char *v)
{
    char *end = NULL;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || errno != 0 || *end != '\0' || n < 1 || n > CF__CLI_ATTEMPTS_MAX)
        return 0;
    return (int)n;
}

int cf__cli_attempts(void)
{
    const char *env = getenv("COFFER_ATTEMPTS");
    int n;

    if (attempts_opt > 0)
        return attempts_opt;
    if (env != NULL && env[0] != '\0') {
        n = cf__cli_attempts_parse(env);
        if (n > 0)
            return n;
    }
    return CF__CLI_ATTEMPTS_DEFAULT;
}

void cf__cli_backoff(int a)
{
    /* 0.5 s, 1.5 s, then 4 s: three attempts take 2 s of pauses, and a
     * floating address or a restarted instance has time to come back. */
    uint64_t ms = a <= 1 ? 500 : a == 2 ? 1500 : 4000;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void cf__cli_turn_init(struct cf__cli_turn *t, size_t n)
{
    memset(t, 0, sizeof(*t));
    t->n = n > 0 && n <= CF_UPSTREAM_MAX ? n : 1;
}

size_t cf__cli_turn_next(struct cf__cli_turn *t)
{
    size_t pick = t->n;
    bool all_down = false;

    for (size_t i = 0; i < t->n && pick == t->n; i++)
        if (!t->down[i])
            pick = i;
    if (pick == t->n) {
        all_down = true;
        memset(t->down, 0, sizeof(t->down));
        pick = (t->cur + 1) % t->n;
    }
    if (t->a > 0 && (pick == t->cur || all_down))
        cf__cli_backoff(++t->pauses);
    t->cur = pick;
    t->a++;
    return pick;
}

void cf__cli_turn_down(struct cf__cli_turn *t)
{
    t->down[t->cur] = true;
}

/* Whether --help (or -h) is among rest[0..k). */
static bool wants_help(char **rest, int k)
{
    for (int i = 0; i < k; i++) {
        if (strcmp(rest[i], "--help") == 0 || strcmp(rest[i], "-h") == 0)
            return true;
    }
    return false;
}

/* The --help of a command that signs as the operator or retries: its
 * options, and --key-file and --attempts (taken by take_key_file and
 * take_attempts, so in no command's table). */
static void usage_with_extras(const struct cf__cli_args *a)
{
    struct cf_conf_opt *o = cf_xcalloc(a->nopts + 1, sizeof(*o));

    if (a->nopts > 0)
        memcpy(o, a->opts, a->nopts * sizeof(*o));
    if (!a->key_file) {
        cf_conf_usage(stdout, a->usage, o, a->nopts);
        goto attempts;
    }
    o[a->nopts] = (struct cf_conf_opt){
        "key-file",
        CF_CONF_STR,
        NULL,
        0,
        0,
        0,
        "the operator key (mode 0600) that signs the requests (else COFFER_OPERATOR_KEY_FILE, "
        "else ./data/" CF_CRED_OPERATOR_FILE ")",
        false};
    cf_conf_usage(stdout, a->usage, o, a->nopts + 1);
attempts:
    printf("  --attempts N: tries of a request on the given URLs (a comma list) before it "
           "fails (default %d; COFFER_ATTEMPTS)\n",
           CF__CLI_ATTEMPTS_DEFAULT);
    free(o);
}

int cf__cli_load(const struct cf__cli_args *a, void *conf, int argc, char **argv, char **pos,
                 int *npos)
{
    char err[CF_ERR_LEN] = "", *rest[CF__CLI_ARGS_MAX];
    const char *extra = NULL;
    int k = 0, p, rc = 2;

    if (argc > (int)CF_ARRAY_LEN(rest)) {
        fprintf(stderr, "coffer %s: too many arguments\n", a->cmd);
        goto out;
    }
    p = split(a, a->max, argc, argv, pos, rest, &k, &extra);
    if (extra != NULL) {
        fprintf(stderr, "coffer %s: unexpected argument \"%s\"\n%s", a->cmd, extra, a->usage);
        goto out;
    }
    take_key_file(rest, &k);
    if (take_attempts(a->cmd, rest, &k) != 0)
        goto out;
    if ((a->key_file || a->attempts) && wants_help(rest, k)) {
        usage_with_extras(a);
        rc = 0;
        goto out;
    }
    rc = cf_conf_load(a->opts, a->nopts, conf, k, rest, a->usage, err);
    if (rc == CF_CONF_EXIT_HELP || rc == CF_CONF_EXIT_PRINT) {
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "coffer %s: %s\n", a->cmd, err);
        rc = 2;
        goto out;
    }
    rc = 2;
    if (p < a->min) {
        fprintf(stderr, "%s", a->usage);
        goto out;
    }
    if (npos != NULL)
        *npos = p;
    rc = -1;
out:
    return rc;
}

int cf__cli_positionals(const struct cf__cli_args *a, int argc, char **argv, char **pos, int max)
{
    const char *extra;

    return split(a, max, argc, argv, pos, NULL, NULL, &extra);
}

/* ---- progress ---- */

static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct cf__cli_progress *p = ud;
    curl_off_t total = ultotal > 0 ? ultotal : dltotal, now = ultotal > 0 ? ulnow : dlnow;
    double s = (double)(cf_now_ns() - p->t0) / 1e9;
    char tail[64];

    if (!p->on || total <= 0)
        return 0;
    (void)snprintf(tail, sizeof(tail), "%8.1f MiB %7.1f MiB/s", (double)now / 1048576.0,
                   s > 0 ? (double)now / 1048576.0 / s : 0.0);
    cf__cli_bar(p->what, (double)now / (double)total, tail, now == total);
    return 0;
}

void cf__cli_bar(const char *what, double frac, const char *tail, bool end)
{
    char bar[31];
    int fill = frac <= 0 ? 0 : frac >= 1 ? 30 : (int)(30 * frac);

    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(30 - fill));
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %s", what, bar, (int)(100 * (frac > 1 ? 1 : frac)), tail);
    if (end)
        fputc('\n', stderr);
}

void cf__cli_progress_setup(CURL *h, struct cf__cli_progress *p, const char *what, uint64_t size)
{
    p->on = size >= CF__CLI_PROGRESS_MIN && isatty(STDERR_FILENO);
    p->t0 = cf_now_ns();
    p->what = what;
    if (!p->on)
        return;
    (void)curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    (void)curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    (void)curl_easy_setopt(h, CURLOPT_XFERINFODATA, p);
}

/* ---- passwords ---- */

/* Read one line into pw (cap bytes) from f, without its line end. Returns
 * 0, or 1 when nothing was read, -1 when the line does not fit. */
static int read_line(FILE *f, char *pw, size_t cap)
{
    size_t n;

    if (fgets(pw, (int)cap, f) == NULL)
        return 1;
    n = strcspn(pw, "\r\n");
    if (pw[n] == '\0' && n == cap - 1 && !feof(f))
        return -1;
    pw[n] = '\0';
    return 0;
}

/* Read a password from the terminal without echo, after prompt. */
static int ask_tty(const char *cmd, const char *prompt, char *pw, size_t cap)
{
    struct termios old, quiet;
    bool restore = false;
    int rc;

    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    rc = read_line(stdin, pw, cap);
    if (restore)
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    if (rc > 0)
        fprintf(stderr, "coffer %s: no password read\n", cmd);
    else if (rc < 0)
        fprintf(stderr, "coffer %s: password too long\n", cmd);
    return rc != 0;
}

int cf__cli_password(const char *cmd, const char *given, const char *file, bool ask, bool confirm,
                     char *pw, size_t cap)
{
    char again[1024];
    FILE *f = NULL;
    int rc = 1, r;

    pw[0] = '\0';
    if (given != NULL && file != NULL) {
        fprintf(stderr, "coffer %s: give --password or --password-file, not both\n", cmd);
        goto out;
    }
    if (given != NULL) {
        if (snprintf(pw, cap, "%s", given) >= (int)cap) {
            fprintf(stderr, "coffer %s: password too long\n", cmd);
            goto out;
        }
    } else if (file != NULL) {
        f = fopen(file, "r");
        if (f == NULL) {
            fprintf(stderr, "coffer %s: cannot open the password file \"%s\": %s\n", cmd, file,
                    strerror(errno));
            goto out;
        }
        r = read_line(f, pw, cap);
        if (r != 0 || pw[0] == '\0') {
            fprintf(stderr, "coffer %s: the first line of \"%s\" %s\n", cmd, file,
                    r < 0 ? "is too long for a password" : "holds no password");
            goto out;
        }
    } else if (ask) {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr,
                    "coffer %s: give --password or --password-file (stdin is not a terminal)\n",
                    cmd);
            goto out;
        }
        if (ask_tty(cmd, "Password: ", pw, cap) != 0)
            goto out;
        if (confirm) {
            if (ask_tty(cmd, "Again: ", again, cap < sizeof(again) ? cap : sizeof(again)) != 0)
                goto out;
            if (strcmp(pw, again) != 0) {
                fprintf(stderr, "coffer %s: the two passwords differ\n", cmd);
                goto out;
            }
        }
    }
    rc = 0;
out:
    explicit_bzero(again, sizeof(again));
    if (rc != 0)
        explicit_bzero(pw, cap);
    if (f != NULL)
        fclose(f);
    return rc;
}

/* ---- replies ---- */

char *cf__cli_shown(char out[CF__CLI_SHOWN_MAX], const char *s)
{
    return cf_term_escape(out, CF__CLI_SHOWN_MAX, s != NULL ? s : "?");
}

void cf__cli_print_reply(const char *cmd, long status, const json_t *j)
{
    const char *msg = json_string_value(json_object_get(j, "message"));
    char shown[CF__CLI_SHOWN_MAX];

    fprintf(stderr, "coffer %s: HTTP %ld: %s\n", cmd, status,
            msg ? cf__cli_shown(shown, msg) : "(no detail)");
}

void cf__cli_print_error(const char *cmd, long status, const struct cf_buf *body)
{
    json_t *j = body->len ? json_loadb(body->base, body->len, 0, NULL) : NULL;

    cf__cli_print_reply(cmd, status, j);
    json_decref(j);
}

size_t cf__cli_to_buf(char *p, size_t size, size_t nitems, void *ud)
{
    return cf_buf_append(ud, p, size * nitems) < 0 ? 0 : size * nitems;
}

/* ---- URLs and JSON requests ---- */

int cf__cli_escape(struct cf_buf *b, const char *s, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    int rc = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && rc == 0; p++) {
        unsigned char ch = *p;
        bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
                     (keep_slash && ch == '/');
        if (plain) {
            rc = cf_buf_append(b, p, 1);
        } else {
            char e[3] = {'%', digits[ch >> 4], digits[ch & 15]};
            rc = cf_buf_append(b, e, 3);
        }
    }
    return rc;
}

int cf__cli_tls(const char *cmd, const char *ca)
{
    char err[CF_ERR_LEN] = "";

    if (ca == NULL || ca[0] == '\0')
        ca = getenv("COFFER_CA");
    if (ca != NULL && ca[0] == '\0')
        ca = NULL;
    if (cf_httpc_tls_init(ca, "--ca", err) < 0) {
        fprintf(stderr, "coffer %s: --ca: %s\n", cmd, err);
        return 1;
    }
    return 0;
}

int cf__cli_ca_url(const char *cmd, const char *ca, const char *url)
{
    if (ca == NULL || ca[0] == '\0' || strncasecmp(url, "http://", 7) != 0)
        return 0;
    fprintf(stderr, "coffer %s: --ca is for an https:// URL, and %s is plain HTTP\n", cmd, url);
    return 1;
}

int cf__cli_request(const struct cf__cli_req *r, long *status, json_t **reply)
{
    char url[CF__CLI_URL_MAX], err[CF_ERR_LEN] = "";
    struct cf_upstream *u = NULL;
    struct cf__cli_turn t;
    size_t n = 0;
    bool idem = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    int w, rc = 1, e = 0, tries = cf__cli_attempts();

    *reply = NULL;
    if (cf_upstream_parse(r->base, &u, err) < 0) {
        fprintf(stderr, "coffer %s: %s: %s\n", r->cmd, r->base_name, err);
        goto out;
    }
    n = cf_upstream_count(u);
    for (size_t i = 0; i < n; i++) {
        w = snprintf(url, sizeof(url), "%s%s", cf_upstream_url(u, i), r->path);
        if (w < 0 || (size_t)w >= sizeof(url)) {
            fprintf(stderr, "coffer %s: %s too long\n", r->cmd, r->base_name);
            goto out;
        }
        if (cf__cli_ca_url(r->cmd, r->ca, cf_upstream_url(u, i)) != 0)
            goto out;
    }
    if (cf__cli_tls(r->cmd, r->ca) != 0 || (!r->public && cf__cli_operator(r->cmd) != 0) ||
        cf_httpc_global_init() < 0)
        goto out;
    /* The given order first (the first URL is the one to prefer), then
     * round the list again while attempts remain. */
    cf__cli_turn_init(&t, n);
    for (int a = 0; a < tries; a++) {
        const char *base = cf_upstream_url(u, cf__cli_turn_next(&t));
        bool unsent = false, again;

        json_decref(*reply);
        *reply = NULL;
        (void)snprintf(url, sizeof(url), "%s%s", base, r->path);
        e = cf_httpc_json_ex(r->method, url, r->body, r->timeout_ms, status, reply, &unsent, err);
        if (e == CF_EUNAVAIL)
            cf__cli_turn_down(&t);
        /* Another instance may answer: no connection, or a 503 without
         * coffer's JSON (a balancer that did not pass it on) for any
         * request; an idempotent one that broke or was answered "not now". */
        again = (e == CF_EUNAVAIL && (unsent || idem)) ||
                (e == 0 && idem && cf_upstream_retry_status(*status)) ||
                (e == 0 && *status == 503 && !json_is_string(json_object_get(*reply, "error")));
        if (!again || a + 1 == tries)
            break;
        if (e < 0)
            fprintf(stderr, "coffer %s: %s; trying again\n", r->cmd, err);
        else
            fprintf(stderr, "coffer %s: %s answered HTTP %ld; trying again\n", r->cmd, base,
                    *status);
    }
    if (e < 0) {
        /* err names the URL already. */
        fprintf(stderr, "coffer %s: %s%s\n", r->cmd, err, r->hint != NULL ? r->hint : "");
        json_decref(*reply);
        *reply = NULL;
        goto out;
    }
    rc = 0;
out:
    cf_upstream_free(u);
    return rc;
}

/* ---- uploads ---- */

int cf__cli_src_open(struct cf__cli_src *s, const char *cmd, const char *file, int64_t *size)
{
    struct stat st;
    int rc = 1;

    s->f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (s->f == NULL || fstat(fileno(s->f), &st) < 0) {
        fprintf(stderr, "coffer %s: cannot open \"%s\": %s\n", cmd, file, strerror(errno));
        goto out;
    }
    *size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    if (cf_sha512_init(&s->sha) < 0)
        goto out;
    rc = 0;
out:
    return rc;
}

size_t cf__cli_src_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct cf__cli_src *s = ud;
    size_t n = fread(buf, 1, size * nitems, s->f);

    if (n == 0 && ferror(s->f)) {
        s->err = errno;
        n = CURL_READFUNC_ABORT;
    } else if (cf_sha512_update(&s->sha, buf, n) < 0) {
        n = CURL_READFUNC_ABORT;
    }
    return n;
}

void cf__cli_src_close(struct cf__cli_src *s)
{
    if (s->f != NULL && s->f != stdin)
        fclose(s->f);
    s->f = NULL;
    cf_sha512_fini(&s->sha);
}

/* ---- downloads: written beside the target, renamed when complete ---- */

int cf__cli_out_open(struct cf__cli_out *o, const char *cmd, const char *target)
{
    struct stat st;
    char *copy;
    int n, fd;

    memset(o, 0, sizeof(*o));
    o->target = target;
    if (target == NULL) {
        o->f = stdout;
        return 0;
    }
    if (stat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "coffer %s: \"%s\" is a folder; name a file\n", cmd, target);
            return 1;
        }
        o->f = fopen(target, "wb");
        if (o->f == NULL) {
            fprintf(stderr, "coffer %s: cannot write \"%s\": %s\n", cmd, target, strerror(errno));
            return 1;
        }
        o->direct = true;
        return 0;
    }
    copy = cf_xstrdup(target);
    n = snprintf(o->tmp, sizeof(o->tmp), "%s/.coffer-get-XXXXXX", dirname(copy));
    free(copy);
    if (n < 0 || (size_t)n >= sizeof(o->tmp)) {
        fprintf(stderr, "coffer %s: the path \"%s\" is too long\n", cmd, target);
        o->tmp[0] = '\0';
        return 1;
    }
    fd = mkstemp(o->tmp);
    if (fd < 0) {
        fprintf(stderr, "coffer %s: cannot write beside \"%s\": %s\n", cmd, target,
                strerror(errno));
        o->tmp[0] = '\0';
        return 1;
    }
    o->f = fdopen(fd, "wb");
    if (o->f == NULL) {
        fprintf(stderr, "coffer %s: cannot write beside \"%s\": %s\n", cmd, target,
                strerror(errno));
        close(fd);
        cf__cli_out_abort(o);
        return 1;
    }
    return 0;
}

int cf__cli_out_commit(struct cf__cli_out *o, const char *cmd)
{
    int e = 0;

    if (o->target == NULL) {
        if (fflush(stdout) != 0) {
            fprintf(stderr, "coffer %s: write to stdout: %s\n", cmd, strerror(errno));
            return 1;
        }
        return 0;
    }
    /* A device or FIFO has nothing to make durable (fsync may refuse it). */
    if (fflush(o->f) != 0 || (!o->direct && fsync(fileno(o->f)) != 0))
        e = errno;
    if (fclose(o->f) != 0 && e == 0)
        e = errno;
    o->f = NULL;
    if (e == 0 && !o->direct)
        e = cf_io_rename_durable(o->tmp, o->target);
    if (e != 0) {
        fprintf(stderr, "coffer %s: cannot write \"%s\": %s\n", cmd, o->target, strerror(e));
        cf__cli_out_abort(o);
        return 1;
    }
    o->tmp[0] = '\0';
    return 0;
}

void cf__cli_out_abort(struct cf__cli_out *o)
{
    if (o->f != NULL && o->f != stdout)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp[0] != '\0')
        unlink(o->tmp);
    o->tmp[0] = '\0';
}
