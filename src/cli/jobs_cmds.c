/*
 * jobs_cmds.c -- `coffer admin rebuild|rebalance|audit|dedupe|jobs|job`:
 * start a maintenance job on the app (job.h HTTP API), follow it with a
 * progress bar, print its counters.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "coffer/conf.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "cli_int.h"

#define TIMEOUT_MS 30000L
#define URL_MAX    2048
/* How often a followed job is polled, and how often a line is printed when
 * stderr is not a terminal. */
#define POLL_MS 250
#define LINE_MS 2000

struct jobs_conf {
    char *app;
    uint64_t filer;
    uint64_t to;
    char *method;
    char *bw;
    char *tolerance;
    uint64_t sample;
    bool detach;
};

#define OFF(f) offsetof(struct jobs_conf, f)
#define APP_OPT                                                                                    \
    {                                                                                              \
        "app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app), "URL of the app role", false  \
    }
#define BW_OPT                                                                                     \
    {                                                                                              \
        "bw", CF_CONF_STR, NULL, 0, 0, OFF(bw), "bandwidth limit in MB/s (default: none)", false   \
    }
#define DETACH_OPT                                                                                 \
    {                                                                                              \
        "detach", CF_CONF_BOOL, "false", 0, 0, OFF(detach),                                        \
            "print the job's id and return instead of following it", false                         \
    }
static const struct cf_conf_opt rebuild_opts[] = {
    APP_OPT,
    {"filer", CF_CONF_U64, "0", 0, UINT32_MAX, OFF(filer), "the filer to rebuild", false},
    {"to", CF_CONF_U64, "0", 0, UINT32_MAX, OFF(to),
     "copy its objects to this filer instead (0: back to the filer, or elsewhere if it is down)",
     false},
    {"method", CF_CONF_STR, "index", 0, 0, OFF(method),
     "index (the per-filer index) or scan (the object records)", false},
    BW_OPT,
    DETACH_OPT,
};
static const struct cf_conf_opt rebalance_opts[] = {
    APP_OPT,
    {"tolerance", CF_CONF_STR, "0.1", 0, 0, OFF(tolerance),
     "each filer ends within this fraction of the mean fill", false},
    BW_OPT,
    DETACH_OPT,
};
static const struct cf_conf_opt audit_opts[] = {
    APP_OPT,
    {"filer", CF_CONF_U64, "0", 0, UINT32_MAX, OFF(filer), "only this filer's replicas (0: all)",
     false},
    {"sample", CF_CONF_U64, "100", 1, 100, OFF(sample), "percent of the objects to read", false},
    BW_OPT,
    DETACH_OPT,
};
static const struct cf_conf_opt dedupe_opts[] = {APP_OPT, DETACH_OPT};
static const struct cf_conf_opt list_opts[] = {APP_OPT};

static const char usage_text[] =
    "usage: coffer admin rebuild --filer F [--to G] [--method index|scan] [--bw MB/s] [--detach]\n"
    "       coffer admin rebalance [--tolerance 0.1] [--bw MB/s] [--detach]\n"
    "       coffer admin audit [--filer F] [--sample PERCENT] [--bw MB/s] [--detach]\n"
    "       coffer admin dedupe [--detach]\n"
    "       coffer admin jobs [ID]\n"
    "       coffer admin job stop ID\n"
    "Every command takes --app URL (default http://127.0.0.1:8200). A job runs on the app;\n"
    "the command follows it with a progress bar and exits 0 once it is done, 1 if it failed\n"
    "or stopped. Running the same job again resumes it where it stopped.\n";

/* Parse a decimal number into *out. Returns false if s is not one. */
static bool parse_number(const char *s, double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static int request(const char *cmd, const char *method, const char *app, const char *path,
                   const json_t *body, long *status, json_t **out)
{
    char url[URL_MAX], err[CF_ERR_LEN] = "";

    if (snprintf(url, sizeof(url), "%s%s", app, path) >= (int)sizeof(url)) {
        fprintf(stderr, "coffer %s: --app URL too long\n", cmd);
        return CF_EINVAL;
    }
    if (cf_httpc_global_init() < 0 ||
        cf_httpc_json(method, url, body, TIMEOUT_MS, status, out, err) < 0) {
        fprintf(stderr, "coffer %s: %s: %s\n", cmd, url, err);
        return CF_EUNAVAIL;
    }
    return 0;
}

static void print_reply_error(const char *cmd, long status, const json_t *j)
{
    const char *m = json_string_value(json_object_get(j, "message"));

    fprintf(stderr, "coffer %s: HTTP %ld: %s\n", cmd, status, m ? m : "(no detail)");
}

static uint64_t u64_of(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));

    return v > 0 ? (uint64_t)v : 0;
}

/* One line of a job: "job 3 rebuild done: 150 of 150 objects, 4.8 MB; copied 150, ...". */
static void print_job(FILE *f, const json_t *j)
{
    const json_t *counters = json_object_get(j, "counters");
    const char *msg = json_string_value(json_object_get(j, "message")), *key;
    const json_t *v;
    bool first = true;

    fprintf(f, "job %" PRIu64 " %s %s: %" PRIu64 " of %" PRIu64 " objects, %.1f MB",
            u64_of(j, "id"), json_string_value(json_object_get(j, "kind")),
            json_string_value(json_object_get(j, "state")), u64_of(j, "done_objects"),
            u64_of(j, "total_objects"), (double)u64_of(j, "done_bytes") / 1e6);
    json_object_foreach((json_t *)counters, key, v)
    {
        fprintf(f, "%s%s %" PRId64, first ? "; " : ", ", key, (int64_t)json_integer_value(v));
        first = false;
    }
    if (msg != NULL && msg[0] != '\0')
        fprintf(f, "; %s", msg);
    fputc('\n', f);
}

/* The progress of a running job on stderr: a bar on a terminal, else a line
 * every LINE_MS. */
static void draw(const json_t *j, uint64_t t0_ns, uint64_t done0_bytes, bool tty,
                 uint64_t *last_line_ns)
{
    uint64_t done = u64_of(j, "done_objects"), total = u64_of(j, "total_objects");
    uint64_t bytes = u64_of(j, "done_bytes"), tbytes = u64_of(j, "total_bytes");
    double s = (double)(cf_now_ns() - t0_ns) / 1e9;
    double rate = s > 0 && bytes > done0_bytes ? (double)(bytes - done0_bytes) / 1e6 / s : 0;
    double frac = total    ? (double)done / (double)total
                  : tbytes ? (double)bytes / (double)tbytes
                           : 0;
    char tail[128], eta[32] = "--";

    if (frac > 1)
        frac = 1;
    if (frac > 0 && frac < 1 && s > 1)
        (void)snprintf(eta, sizeof(eta), "%.0fs", s / frac * (1 - frac));
    (void)snprintf(tail, sizeof(tail),
                   "%" PRIu64 "/%" PRIu64 " objects %8.1f MB %6.1f MB/s ETA %s   ", done, total,
                   (double)bytes / 1e6, rate, eta);
    if (tty) {
        cf__cli_bar(json_string_value(json_object_get(j, "kind")), frac, tail, false);
    } else if (cf_now_ns() >= *last_line_ns + (uint64_t)LINE_MS * 1000000) {
        *last_line_ns = cf_now_ns();
        fprintf(stderr, "%s %3d%% %s\n", json_string_value(json_object_get(j, "kind")),
                (int)(frac * 100), tail);
    }
}

/* Poll job id until it is no longer running; print its end. Returns the
 * exit status. */
static int follow(const char *cmd, const char *app, uint64_t id)
{
    struct timespec ts = {0, POLL_MS * 1000000L};
    bool tty = isatty(STDERR_FILENO), drawn = false;
    uint64_t t0 = cf_now_ns(), last = 0, bytes0 = 0;
    char path[64];
    json_t *j = NULL;
    long status = 0;
    int rc = 1;

    (void)snprintf(path, sizeof(path), "/v1/admin/jobs/%" PRIu64, id);
    for (int polls = 0;; polls++) {
        const char *state;
        json_decref(j);
        j = NULL;
        if (request(cmd, "GET", app, path, NULL, &status, &j) < 0)
            goto out;
        if (status != 200 || !json_is_object(j)) {
            print_reply_error(cmd, status, j);
            goto out;
        }
        state = json_string_value(json_object_get(j, "state"));
        if (state == NULL || strcmp(state, "running") != 0)
            break;
        if (polls == 0)
            bytes0 = u64_of(j, "done_bytes");
        draw(j, t0, bytes0, tty, &last);
        drawn = true;
        (void)nanosleep(&ts, NULL);
    }
    if (drawn && tty)
        fputc('\n', stderr);
    print_job(stdout, j);
    rc = strcmp(json_string_value(json_object_get(j, "state")), "done") == 0 ? 0 : 1;
out:
    json_decref(j);
    return rc;
}

/* POST the job and follow it (or print its id with --detach). */
static int start(const char *cmd, const char *kind, json_t *args, const struct jobs_conf *c)
{
    json_t *body = json_pack("{s:s,s:O}", "kind", kind, "args", args), *reply = NULL;
    long status = 0;
    uint64_t id;
    int rc = 1;

    if (request(cmd, "POST", c->app, "/v1/admin/jobs", body, &status, &reply) < 0)
        goto out;
    if (status == 409 && json_integer_value(json_object_get(reply, "id")) > 0) {
        id = u64_of(reply, "id");
        fprintf(stderr, "coffer %s: job %" PRIu64 " is already running; following it\n", cmd, id);
    } else if (status != 202) {
        print_reply_error(cmd, status, reply);
        rc = status == 400 ? 2 : 1;
        goto out;
    } else {
        id = u64_of(reply, "id");
    }
    if (c->detach) {
        printf("job %" PRIu64 " %s %s\n", id, kind,
               json_string_value(json_object_get(reply, "state"))
                   ? json_string_value(json_object_get(reply, "state"))
                   : "running");
        rc = 0;
        goto out;
    }
    rc = follow(cmd, c->app, id);
out:
    json_decref(body);
    json_decref(reply);
    return rc;
}

/* Load options; returns -1 to go on, or the exit status. */
static int load(const char *cmd, const struct cf_conf_opt *o, size_t n, struct jobs_conf *c,
                int argc, char **argv)
{
    char err[CF_ERR_LEN] = "";
    int rc = cf_conf_load(o, n, c, argc, argv, usage_text, err);

    if (rc == CF_CONF_EXIT_HELP || rc == CF_CONF_EXIT_PRINT)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "coffer %s: %s\n", cmd, err);
        return 2;
    }
    return -1;
}

/* Add "bw_mbps" from --bw. Returns false (and says why) if it is not a number. */
static bool add_bw(const char *cmd, json_t *args, const char *bw)
{
    double v;

    if (bw == NULL)
        return true;
    if (!parse_number(bw, &v) || v < 0) {
        fprintf(stderr, "coffer %s: --bw must be MB/s, a number >= 0\n", cmd);
        return false;
    }
    (void)json_object_set_new(args, "bw_mbps", json_real(v));
    return true;
}

static int cmd_start(const char *kind, const struct cf_conf_opt *o, size_t n, int argc, char **argv)
{
    struct jobs_conf c = {0};
    json_t *args = json_object();
    char cmd[32];
    double tol;
    int rc;

    (void)snprintf(cmd, sizeof(cmd), "admin %s", kind);
    rc = load(cmd, o, n, &c, argc, argv);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (!add_bw(cmd, args, c.bw))
        goto out;
    if (strcmp(kind, "rebuild") == 0) {
        if (c.filer == 0) {
            fprintf(stderr, "coffer %s: --filer F is required\n%s", cmd, usage_text);
            goto out;
        }
        (void)json_object_set_new(args, "filer", json_integer((json_int_t)c.filer));
        if (c.to != 0)
            (void)json_object_set_new(args, "to", json_integer((json_int_t)c.to));
        (void)json_object_set_new(args, "method", json_string(c.method));
    } else if (strcmp(kind, "rebalance") == 0) {
        if (!parse_number(c.tolerance, &tol) || tol <= 0 || tol >= 1) {
            fprintf(stderr, "coffer %s: --tolerance must be a number in (0, 1)\n", cmd);
            goto out;
        }
        (void)json_object_set_new(args, "tolerance", json_real(tol));
    } else if (strcmp(kind, "audit") == 0) {
        if (c.filer != 0)
            (void)json_object_set_new(args, "filer", json_integer((json_int_t)c.filer));
        (void)json_object_set_new(args, "sample", json_integer((json_int_t)c.sample));
    }
    rc = start(cmd, kind, args, &c);
out:
    json_decref(args);
    cf_conf_fini(o, n, &c);
    return rc;
}

/* Parse a job id. */
static bool parse_id(const char *s, uint64_t *id)
{
    char *end = NULL;

    errno = 0;
    *id = strtoull(s, &end, 10);
    return s[0] >= '0' && s[0] <= '9' && errno == 0 && *end == '\0' && *id > 0;
}

/* `admin jobs [ID]`. */
static int cmd_jobs(int argc, char **argv)
{
    struct jobs_conf c = {0};
    json_t *j = NULL;
    char path[64];
    uint64_t id = 0;
    long status = 0;
    int rc;

    if (argc >= 1 && argv[0][0] != '-') {
        if (!parse_id(argv[0], &id)) {
            fprintf(stderr, "coffer admin jobs: \"%s\" is not a job id\n", argv[0]);
            return 2;
        }
        argc--;
        argv++;
    }
    rc = load("admin jobs", list_opts, CF_ARRAY_LEN(list_opts), &c, argc, argv);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (id)
        (void)snprintf(path, sizeof(path), "/v1/admin/jobs/%" PRIu64, id);
    else
        (void)snprintf(path, sizeof(path), "/v1/admin/jobs");
    if (request("admin jobs", "GET", c.app, path, NULL, &status, &j) < 0)
        goto out;
    if (status != 200) {
        print_reply_error("admin jobs", status, j);
        goto out;
    }
    if (id) {
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text ? text : "{}");
        free(text);
    } else {
        json_t *list = json_object_get(j, "jobs"), *row;
        size_t i;
        json_array_foreach(list, i, row)
        {
            print_job(stdout, row);
        }
    }
    rc = 0;
out:
    json_decref(j);
    cf_conf_fini(list_opts, CF_ARRAY_LEN(list_opts), &c);
    return rc;
}

/* `admin job stop ID`. */
static int cmd_job(int argc, char **argv)
{
    struct jobs_conf c = {0};
    json_t *j = NULL;
    char path[64];
    uint64_t id = 0;
    long status = 0;
    int rc;

    if (argc < 2 || strcmp(argv[0], "stop") != 0 || !parse_id(argv[1], &id)) {
        fprintf(stderr, "%s", usage_text);
        return 2;
    }
    rc = load("admin job stop", list_opts, CF_ARRAY_LEN(list_opts), &c, argc - 2, argv + 2);
    if (rc >= 0)
        goto out;
    rc = 1;
    (void)snprintf(path, sizeof(path), "/v1/admin/jobs/%" PRIu64, id);
    if (request("admin job stop", "DELETE", c.app, path, NULL, &status, &j) < 0)
        goto out;
    if (status != 202) {
        print_reply_error("admin job stop", status, j);
        goto out;
    }
    printf("job %" PRIu64 ": stop asked\n", id);
    rc = 0;
out:
    json_decref(j);
    cf_conf_fini(list_opts, CF_ARRAY_LEN(list_opts), &c);
    return rc;
}

int cf__cli_jobs(int argc, char **argv)
{
    const char *what = argc >= 1 ? argv[0] : "";

    if (strcmp(what, "rebuild") == 0)
        return cmd_start("rebuild", rebuild_opts, CF_ARRAY_LEN(rebuild_opts), argc - 1, argv + 1);
    if (strcmp(what, "rebalance") == 0)
        return cmd_start("rebalance", rebalance_opts, CF_ARRAY_LEN(rebalance_opts), argc - 1,
                         argv + 1);
    if (strcmp(what, "audit") == 0)
        return cmd_start("audit", audit_opts, CF_ARRAY_LEN(audit_opts), argc - 1, argv + 1);
    if (strcmp(what, "dedupe") == 0)
        return cmd_start("dedupe", dedupe_opts, CF_ARRAY_LEN(dedupe_opts), argc - 1, argv + 1);
    if (strcmp(what, "jobs") == 0)
        return cmd_jobs(argc - 1, argv + 1);
    if (strcmp(what, "job") == 0)
        return cmd_job(argc - 1, argv + 1);
    fprintf(stderr, "%s", usage_text);
    return 2;
}
