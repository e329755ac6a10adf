/*
 * jobs.c -- `coffer admin rebuild|rebalance|audit|dedupe|jobs|job`:
 * start a maintenance job on the app (job.h HTTP API), follow it with a
 * progress bar, print its counters.
 *
 * One sub-command per job kind (maint.h cf_maint_kinds), whose options,
 * usage line, --help and JSON arguments all come from the kind's argument
 * table (job.h struct cf_job_arg): the values are checked here by the same
 * code the app checks them with, so both accept the same arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "coffer/conf.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/job.h"
#include "coffer/maint.h"
#include "cli_int.h"

#define TIMEOUT_MS 30000L
/* How often a followed job is polled, and how often a line is printed when
 * stderr is not a terminal. */
#define POLL_MS 250
#define LINE_MS 2000
/* The usage text of the job commands, built from the kinds' tables. */
#define USAGE_MAX 2048

/* The options of every job command. A kind's arguments are kept by their
 * index in its table: filer ids as numbers (0: not given), the others as
 * text (NULL: not given). */
struct jobs_conf {
    char *app;
    bool detach;
    uint64_t id[CF_JOB_ARGS_MAX];
    char *text[CF_JOB_ARGS_MAX];
    bool flag[CF_JOB_ARGS_MAX];
};

#define OFF(f) offsetof(struct jobs_conf, f)
#define APP_OPT                                                                                    \
    {                                                                                              \
        "app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app), "URL of the app role", false  \
    }
#define DETACH_OPT                                                                                 \
    {                                                                                              \
        "detach", CF_CONF_BOOL, "false", 0, 0, OFF(detach),                                        \
            "print the job's id and return instead of following it", false                         \
    }
static const struct cf_conf_opt list_opts[] = {APP_OPT};

/* The options of `admin KIND`: --app, one per argument, --detach; with
 * the help lines they point to. */
struct kind_opts {
    struct cf_conf_opt o[CF_JOB_ARGS_MAX + 2];
    size_t n;
    char help[CF_JOB_ARGS_MAX][256];
};

static const char *option_of(const struct cf_job_arg *a)
{
    return a->option != NULL ? a->option : a->name;
}

/* The value of a in a usage line: its metavar, else "index|scan" for an
 * enum, else "ID" or "N". */
static const char *metavar_of(const struct cf_job_arg *a, char *buf, size_t cap)
{
    size_t off;

    if (a->metavar != NULL)
        return a->metavar;
    if (a->type == CF_JOB_ARG_FILER)
        return "ID";
    if (a->type == CF_JOB_ARG_BOOL)
        return "true|false";
    if (a->type != CF_JOB_ARG_ENUM)
        return "N";
    buf[0] = '\0';
    for (size_t i = 0; a->choices[i] != NULL; i++) {
        off = strlen(buf);
        (void)snprintf(buf + off, cap - off, "%s%s", i ? "|" : "", a->choices[i]);
    }
    return buf;
}

static void kind_opts_init(const struct cf_job_kind *k, struct kind_opts *ko)
{
    static const struct cf_conf_opt app = APP_OPT, detach = DETACH_OPT;

    ko->n = 0;
    ko->o[ko->n++] = app;
    for (size_t i = 0; i < k->nargs && i < CF_JOB_ARGS_MAX; i++) {
        const struct cf_job_arg *a = &k->args[i];
        struct cf_conf_opt *o = &ko->o[ko->n++];
        char what[160];

        /* Numbers say what they accept; filer ids and enums say it in
         * their help already. */
        cf_job_arg_describe(a, what, sizeof(what));
        (void)snprintf(ko->help[i], sizeof(ko->help[i]), "%s%s%s%s", a->help,
                       a->type == CF_JOB_ARG_INT || a->type == CF_JOB_ARG_REAL ? ", " : "",
                       a->type == CF_JOB_ARG_INT || a->type == CF_JOB_ARG_REAL ? what : "",
                       a->def == NULL && a->type != CF_JOB_ARG_FILER ? " (default: none)" : "");
        *o = (struct cf_conf_opt){.name = option_of(a), .help = ko->help[i]};
        if (a->type == CF_JOB_ARG_FILER) {
            /* A filer id is a number on the command line too; 0 is none. */
            o->type = CF_CONF_U64;
            o->def = "0";
            o->max = UINT32_MAX;
            o->off = OFF(id) + i * sizeof(uint64_t);
        } else if (a->type == CF_JOB_ARG_BOOL) {
            /* A flag: --dry-run alone is true. */
            o->type = CF_CONF_BOOL;
            o->def = a->def != NULL ? a->def : "false";
            o->off = OFF(flag) + i * sizeof(bool);
        } else {
            o->type = CF_CONF_STR;
            o->def = a->def;
            o->off = OFF(text) + i * sizeof(char *);
        }
    }
    ko->o[ko->n++] = detach;
}

/* The usage text of every job command, into buf. */
static void usage_init(char *buf, size_t cap)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < CF_MAINT_NKINDS; i++) {
        const struct cf_job_kind *k = cf_maint_kinds[i];
        off = strlen(buf);
        (void)snprintf(buf + off, cap - off, "%scoffer admin %s",
                       i ? "       " : "usage: ", k->name);
        for (size_t j = 0; j < k->nargs; j++) {
            const struct cf_job_arg *a = &k->args[j];
            char mv[128];
            off = strlen(buf);
            if (a->type == CF_JOB_ARG_BOOL)
                (void)snprintf(buf + off, cap - off, " [--%s]", option_of(a));
            else
                (void)snprintf(buf + off, cap - off, a->required ? " --%s %s" : " [--%s %s]",
                               option_of(a), metavar_of(a, mv, sizeof(mv)));
        }
        off = strlen(buf);
        (void)snprintf(buf + off, cap - off, " [--detach]\n");
    }
    off = strlen(buf);
    (void)snprintf(
        buf + off, cap - off, "%s",
        "       coffer admin jobs [ID]\n"
        "       coffer admin job stop ID\n"
        "Every command takes --app URL (default http://127.0.0.1:8200). A job runs on the app;\n"
        "the command follows it with a progress bar and exits 0 once it is done, 1 if it failed\n"
        "or stopped. Running the same job again resumes it where it stopped.\n");
}

static int request(const char *cmd, const char *method, const char *app, const char *path,
                   const json_t *body, long *status, json_t **out)
{
    struct cf__cli_req r = {.cmd = cmd,
                            .method = method,
                            .base = app,
                            .base_name = "--app URL",
                            .path = path,
                            .body = body,
                            .timeout_ms = TIMEOUT_MS};

    return cf__cli_request(&r, status, out) == 0 ? 0 : CF_EUNAVAIL;
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
            cf__cli_print_reply(cmd, status, j);
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
        cf__cli_print_reply(cmd, status, reply);
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
                int argc, char **argv, const char *usage)
{
    const struct cf__cli_args a = {
        .cmd = cmd, .usage = usage, .opts = o, .nopts = n, .key_file = true};

    return cf__cli_load(&a, c, argc, argv, NULL, NULL);
}

/* `admin KIND [options]`: the options become the job's arguments. */
static int cmd_start(const struct cf_job_kind *k, const char *usage, int argc, char **argv)
{
    struct jobs_conf c = {0};
    struct kind_opts ko;
    json_t *args = json_object(), *v = NULL;
    char cmd[32], err[CF_ERR_LEN] = "", mv[128];
    int rc;

    kind_opts_init(k, &ko);
    (void)snprintf(cmd, sizeof(cmd), "admin %s", k->name);
    rc = load(cmd, ko.o, ko.n, &c, argc, argv, usage);
    if (rc >= 0)
        goto out;
    rc = 2;
    for (size_t i = 0; i < k->nargs && i < CF_JOB_ARGS_MAX; i++) {
        const struct cf_job_arg *a = &k->args[i];
        if (a->type == CF_JOB_ARG_FILER && c.id[i] != 0) {
            (void)json_object_set_new(args, a->name, json_integer((json_int_t)c.id[i]));
        } else if (a->type == CF_JOB_ARG_BOOL) {
            (void)json_object_set_new(args, a->name, json_boolean(c.flag[i]));
        } else if (a->type != CF_JOB_ARG_FILER && c.text[i] != NULL) {
            if (cf_job_arg_parse(a, c.text[i], &v, err) < 0) {
                fprintf(stderr, "coffer %s: --%s: %s\n", cmd, option_of(a), err);
                goto out;
            }
            (void)json_object_set_new(args, a->name, v);
        }
        if (a->required && json_object_get(args, a->name) == NULL) {
            fprintf(stderr, "coffer %s: --%s %s is required\n%s", cmd, option_of(a),
                    metavar_of(a, mv, sizeof(mv)), usage);
            goto out;
        }
    }
    /* What the app checks first: defaults, canonical values. */
    if (cf_job_args_check(k->args, k->nargs, args, err) < 0) {
        fprintf(stderr, "coffer %s: %s\n", cmd, err);
        goto out;
    }
    rc = start(cmd, k->name, args, &c);
out:
    json_decref(args);
    cf_conf_fini(ko.o, ko.n, &c);
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
static int cmd_jobs(const char *usage, int argc, char **argv)
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
    rc = load("admin jobs", list_opts, CF_ARRAY_LEN(list_opts), &c, argc, argv, usage);
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
        cf__cli_print_reply("admin jobs", status, j);
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
static int cmd_job(const char *usage, int argc, char **argv)
{
    struct jobs_conf c = {0};
    json_t *j = NULL;
    char path[64];
    uint64_t id = 0;
    long status = 0;
    int rc;

    if (argc < 2 || strcmp(argv[0], "stop") != 0 || !parse_id(argv[1], &id)) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    rc = load("admin job stop", list_opts, CF_ARRAY_LEN(list_opts), &c, argc - 2, argv + 2, usage);
    if (rc >= 0)
        goto out;
    rc = 1;
    (void)snprintf(path, sizeof(path), "/v1/admin/jobs/%" PRIu64, id);
    if (request("admin job stop", "DELETE", c.app, path, NULL, &status, &j) < 0)
        goto out;
    if (status != 202) {
        cf__cli_print_reply("admin job stop", status, j);
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
    char usage[USAGE_MAX];

    usage_init(usage, sizeof(usage));
    for (size_t i = 0; i < CF_MAINT_NKINDS; i++)
        if (strcmp(what, cf_maint_kinds[i]->name) == 0)
            return cmd_start(cf_maint_kinds[i], usage, argc - 1, argv + 1);
    if (strcmp(what, "jobs") == 0)
        return cmd_jobs(usage, argc - 1, argv + 1);
    if (strcmp(what, "job") == 0)
        return cmd_job(usage, argc - 1, argv + 1);
    fprintf(stderr, "%s", usage);
    return 2;
}
