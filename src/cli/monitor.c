/*
 * monitor.c -- `coffer admin filers`, `coffer admin log`, `coffer admin
 * cluster`, `coffer admin history` and `coffer admin filer maintenance`,
 * against the monitor's HTTP API (monitor.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/buf.h"
#include "coffer/conf.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/scribe.h"
#include "cli_int.h"

#define TIMEOUT_MS 30000L
/* Events one `admin log` prints at most. */
#define LOG_LIMIT_MAX 1000000

struct mon_conf {
    char *monitor;
    char *since;
    char *until;
    char *kind;
    uint64_t filer;
    uint64_t limit;
    uint64_t id;
};

#define OFF(f) offsetof(struct mon_conf, f)
#define MONITOR_OPT                                                                                \
    {                                                                                              \
        "monitor", CF_CONF_STR, "http://127.0.0.1:8203", 0, 0, OFF(monitor),                       \
            "URL of the monitor role", false                                                       \
    }
static const struct cf_conf_opt filers_opts[] = {MONITOR_OPT};
static const struct cf_conf_opt log_opts[] = {
    MONITOR_OPT,
    {"since", CF_CONF_STR, NULL, 0, 0, OFF(since),
     "from: 90s, 15m, 1h, 2d ago, an ISO time (2026-01-02T03:04:05Z) or ms since the epoch", false},
    {"until", CF_CONF_STR, NULL, 0, 0, OFF(until), "to (same forms as --since)", false},
    {"kind", CF_CONF_STR, NULL, 0, 0, OFF(kind), "only this kind (filer.status, job, ...)", false},
    {"filer", CF_CONF_U64, "0", 0, UINT32_MAX, OFF(filer), "only this filer (0: any)", false},
    {"limit", CF_CONF_U64, "100", 1, LOG_LIMIT_MAX, OFF(limit), "events to print at most", false},
};
static const struct cf_conf_opt history_opts[] = {
    MONITOR_OPT,
    {"since", CF_CONF_STR, "24h", 0, 0, OFF(since), "from (same forms as admin log's --since)",
     false},
    {"until", CF_CONF_STR, NULL, 0, 0, OFF(until), "to (same forms)", false},
    {"filer", CF_CONF_U64, "0", 0, UINT32_MAX, OFF(filer), "only this filer (0: every filer)",
     false},
    {"limit", CF_CONF_U64, "1000", 1, 10000, OFF(limit), "rows to print at most", false},
};
static const struct cf_conf_opt maint_opts[] = {
    MONITOR_OPT,
    {"id", CF_CONF_U64, "0", 0, UINT32_MAX, OFF(id), "filer id", false},
};

/* method base + path with body (may be NULL): 0 and *out (caller owns) on
 * a JSON object with status 200, else 1 with the reason printed. */
static int call(const char *cmd, const char *method, const char *base, const char *path,
                const json_t *body, json_t **out)
{
    const struct cf__cli_req r = {.cmd = cmd,
                                  .method = method,
                                  .base = base,
                                  .base_name = "--monitor URL",
                                  .path = path,
                                  .body = body,
                                  .timeout_ms = TIMEOUT_MS,
                                  .hint = " (is `coffer monitor` running there?)"};
    long status = 0;
    int rc = cf__cli_request(&r, &status, out);

    if (rc == 0 && (status != 200 || !json_is_object(*out))) {
        const char *m = json_string_value(json_object_get(*out, "message"));
        fprintf(stderr, "coffer %s: HTTP %ld%s%s\n", cmd, status, m ? ": " : "", m ? m : "");
        json_decref(*out);
        *out = NULL;
        rc = 1;
    }
    return rc;
}

static uint64_t jint(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));

    return v < 0 ? 0 : (uint64_t)v;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* "1.5 GiB" style. */
static void human(uint64_t v, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double d = (double)v;
    size_t u = 0;

    while (d >= 1024 && u + 1 < CF_ARRAY_LEN(units)) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        (void)snprintf(out, cap, "%" PRIu64 " B", v);
    else
        (void)snprintf(out, cap, "%.1f %s", d, units[u]);
}

static void iso_time(uint64_t ms, char *out, size_t cap)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&s, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm) == 0 ||
        strlen(out) + 6 > cap) {
        (void)snprintf(out, cap, "%" PRIu64, ms);
        return;
    }
    (void)snprintf(out + strlen(out), cap - strlen(out), ".%03uZ", (unsigned)(ms % 1000));
}

/* ---- monitor tables: admin filers, admin cluster ---- */

/* A table printed from one GET of the monitor: a heading, then a line per
 * element of the reply's array `key`; now is the monitor's clock (the
 * reply's now_ms), for ages. */
struct mon_table {
    const char *path;
    const char *key;
    void (*head)(void);
    void (*row)(const json_t *e, uint64_t now);
};

/* Loads args's options (only --monitor), GETs t->path and prints t.
 * Returns the command's exit status. */
static int mon_table_print(const struct cf__cli_args *args, const struct mon_table *t, int argc,
                           char **argv)
{
    struct mon_conf c = {0};
    json_t *j = NULL, *arr;
    uint64_t now;
    int rc;

    rc = cf__cli_load(args, &c, argc, argv, NULL, NULL);
    if (rc >= 0)
        goto out;
    rc = call(args->cmd, "GET", c.monitor, t->path, NULL, &j);
    if (rc != 0)
        goto out;
    arr = json_object_get(j, t->key);
    now = jint(j, "now_ms");
    t->head();
    for (size_t i = 0; i < json_array_size(arr); i++)
        t->row(json_array_get(arr, i), now);
    rc = 0;
out:
    json_decref(j);
    cf_conf_fini(filers_opts, CF_ARRAY_LEN(filers_opts), &c);
    return rc;
}

static void filers_head(void)
{
    printf("%-4s %-28s %-10s %-11s %6s %6s %23s %5s %9s %9s %s\n", "id", "url", "dc", "status",
           "weight", "read", "used / total", "used", "objects", "latency", "last seen");
}

static void filers_row(const json_t *f, uint64_t now)
{
    const json_t *lat = json_object_get(f, "latency_ms");
    uint64_t used = jint(f, "used_bytes"), total = jint(f, "total_bytes");
    uint64_t seen = jint(f, "last_seen_ms");
    char u[16], t[16], pct[8] = "-", l[16] = "-", s[32] = "never", ut[40];
    const char *dc = jstr(f, "dc");

    human(used, u, sizeof(u));
    human(total, t, sizeof(t));
    (void)snprintf(ut, sizeof(ut), "%s / %s", u, t);
    if (total > 0)
        (void)snprintf(pct, sizeof(pct), "%.0f%%", 100.0 * (double)used / (double)total);
    if (json_is_number(lat))
        (void)snprintf(l, sizeof(l), "%.1fms", json_number_value(lat));
    if (seen > 0)
        (void)snprintf(s, sizeof(s), "%.1fs ago", now > seen ? (double)(now - seen) / 1000.0 : 0.0);
    printf("%-4" PRIu64 " %-28s %-10s %-11s %6" PRIu64 " %6" PRIu64 " %23s %5s %9" PRIu64
           " %9s %s\n",
           jint(f, "id"), jstr(f, "url"), dc[0] ? dc : "-", jstr(f, "status"), jint(f, "weight"),
           jint(f, "read_weight"), ut, pct, jint(f, "objects"), l, s);
}

static int admin_filers(int argc, char **argv)
{
    static const char usage[] = "usage: coffer admin filers [--monitor URL]\n"
                                "Prints the filer summary table as the monitor keeps it.\n";
    static const struct cf__cli_args args = {.cmd = "admin filers",
                                             .usage = usage,
                                             .opts = filers_opts,
                                             .nopts = CF_ARRAY_LEN(filers_opts),
                                             .key_file = true};
    static const struct mon_table t = {"/v1/filers", "filers", filers_head, filers_row};

    return mon_table_print(&args, &t, argc, argv);
}

/* "3.2s", "5m", "2h", "4d": a short age. */
static void age(uint64_t ms, char *out, size_t cap)
{
    if (ms < 60000)
        (void)snprintf(out, cap, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        (void)snprintf(out, cap, "%" PRIu64 "m", ms / 60000);
    else if (ms < 86400000)
        (void)snprintf(out, cap, "%" PRIu64 "h", ms / 3600000);
    else
        (void)snprintf(out, cap, "%" PRIu64 "d", ms / 86400000);
}

static void cluster_head(void)
{
    printf("%-8s %-32s %-10s %-8s %-6s %s\n", "role", "url", "dc", "version", "status",
           "last heartbeat");
}

static void cluster_row(const json_t *in, uint64_t now)
{
    uint64_t seen = jint(in, "last_heartbeat_ms");
    char a[32];

    age(now > seen ? now - seen : 0, a, sizeof(a));
    printf("%-8s %-32s %-10s %-8s %-6s %s ago\n", jstr(in, "role"), jstr(in, "url"),
           jstr(in, "dc")[0] != '\0' ? jstr(in, "dc") : "-", jstr(in, "version"),
           jstr(in, "status"), a);
}

static int admin_cluster(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin cluster [--monitor URL[,URL...]]\n"
        "Prints the instance registry of the monitor's catalog: every monitor, and\n"
        "every role instance that heart-beats to one (--monitor URL on the role),\n"
        "with its data center (--dc), version, status and the age of its last\n"
        "heartbeat. An instance is down when it said so as it stopped, or after 6 s\n"
        "without a heartbeat; each change is logged (coffer admin log --kind instance).\n";
    static const struct cf__cli_args args = {.cmd = "admin cluster",
                                             .usage = usage,
                                             .opts = filers_opts,
                                             .nopts = CF_ARRAY_LEN(filers_opts),
                                             .key_file = true};
    static const struct mon_table t = {"/v1/instances", "instances", cluster_head, cluster_row};

    return mon_table_print(&args, &t, argc, argv);
}

/* ---- admin log ---- */

/* "90s", "15m", "1h", "2d" ago; an ISO time (UTC); or ms since the epoch. */
static int parse_when(const char *s, uint64_t now_ms, uint64_t *out)
{
    static const char *const iso[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
                                      "%Y-%m-%d %H:%M:%S",  "%Y-%m-%dT%H:%MZ",
                                      "%Y-%m-%dT%H:%M",     "%Y-%m-%d"};
    char *end = NULL;
    unsigned long long v;
    size_t len = strlen(s);

    if (len > 0 && s[0] >= '0' && s[0] <= '9') {
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == 0 && end != s) {
            uint64_t unit = 0;
            if (*end == '\0')
                unit = 1; /* plain milliseconds since the epoch */
            else if (!strcmp(end, "s"))
                unit = 1000;
            else if (!strcmp(end, "m"))
                unit = 60000;
            else if (!strcmp(end, "h"))
                unit = 3600000;
            else if (!strcmp(end, "d"))
                unit = 86400000;
            if (unit == 1 && v <= INT64_MAX) {
                *out = v;
                return 0;
            }
            if (unit > 1 && v <= now_ms / unit) {
                *out = now_ms - v * unit;
                return 0;
            }
        }
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(iso); i++) {
        struct tm tm;
        time_t t;
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, iso[i], &tm);
        if (end == NULL || *end != '\0')
            continue;
        t = timegm(&tm);
        if (t < 0)
            return CF_EINVAL;
        *out = (uint64_t)t * 1000u;
        return 0;
    }
    return CF_EINVAL;
}

/* --since and --until of c (either may be unset: 0) into *since and
 * *until. Returns 0, or CF_EINVAL with the reason printed for cmd. */
static int parse_span(const char *cmd, const struct mon_conf *c, uint64_t *since, uint64_t *until)
{
    uint64_t now = cf_wall_ms();

    *since = 0;
    *until = 0;
    if ((c->since != NULL && parse_when(c->since, now, since) < 0) ||
        (c->until != NULL && parse_when(c->until, now, until) < 0)) {
        fprintf(stderr,
                "coffer %s: --since/--until must be like 90s, 15m, 1h, 2d, "
                "2026-01-02T03:04:05Z or milliseconds since the epoch\n",
                cmd);
        return CF_EINVAL;
    }
    return 0;
}

static int print_events(const json_t *arr, uint64_t *printed, uint64_t limit)
{
    for (size_t i = 0; i < json_array_size(arr) && *printed < limit; i++) {
        const json_t *e = json_array_get(arr, i);
        char when[40], filer[32] = "-", esc[CF_SCRIBE_MSG_MAX * 4 + 8], obj[96], kind[64];
        iso_time(jint(e, "at_ms"), when, sizeof(when));
        if (jint(e, "filer") != 0)
            (void)snprintf(filer, sizeof(filer), "filer=%" PRIu64, jint(e, "filer"));
        cf_term_escape(obj, sizeof(obj), jstr(e, "object"));
        printf("%-24s %6" PRIu64 " %-14s %-12s %s%s%s\n", when, jint(e, "id"),
               cf_term_escape(kind, sizeof(kind), jstr(e, "kind")), filer, obj, obj[0] ? " " : "",
               cf_term_escape(esc, sizeof(esc), jstr(e, "message")));
        (*printed)++;
    }
    return 0;
}

static int admin_log(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin log [--monitor URL] [--since 1h|ISO|MS] [--until ...]\n"
        "                        [--kind K] [--filer ID] [--limit N]\n"
        "Prints the scribe's events (filer status changes and errors, checksum\n"
        "mismatches, repairs, jobs, role instances down or back up), oldest first.\n"
        "Kinds: filer.status, filer.error, checksum, missing, repair, job, dedupe,\n"
        "orphan, clock, instance.\n";
    static const struct cf__cli_args args = {.cmd = "admin log",
                                             .usage = usage,
                                             .opts = log_opts,
                                             .nopts = CF_ARRAY_LEN(log_opts),
                                             .key_file = true};
    struct mon_conf c = {0};
    uint64_t since = 0, until = 0, after = 0, printed = 0;
    json_t *j = NULL;
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, NULL, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (parse_span("admin log", &c, &since, &until) < 0)
        goto out;
    for (;;) {
        struct cf_buf path;
        size_t got;
        uint64_t page = c.limit - printed;
        bool ok;
        if (page > CF_SCRIBE_QUERY_MAX)
            page = CF_SCRIBE_QUERY_MAX;
        rc = 1;
        cf_buf_init(&path, CF__CLI_URL_MAX);
        ok = cf_buf_printf(&path, "/v1/log?since=%" PRIu64 "&after=%" PRIu64 "&limit=%" PRIu64,
                           since, after, page) == 0;
        if (ok && until != 0)
            ok = cf_buf_printf(&path, "&until=%" PRIu64, until) == 0;
        if (ok && c.filer != 0)
            ok = cf_buf_printf(&path, "&filer=%" PRIu64, c.filer) == 0;
        if (ok && c.kind != NULL)
            ok = cf_buf_printf(&path, "&kind=") == 0 && cf__cli_escape(&path, c.kind, false) == 0;
        if (!ok) {
            cf_buf_fini(&path);
            fprintf(stderr, "coffer admin log: --kind too long\n");
            goto out;
        }
        json_decref(j);
        j = NULL;
        rc = call("admin log", "GET", c.monitor, path.base, NULL, &j);
        cf_buf_fini(&path);
        if (rc != 0)
            goto out;
        got = json_array_size(json_object_get(j, "events"));
        (void)print_events(json_object_get(j, "events"), &printed, c.limit);
        after = jint(j, "next_after");
        if (got == 0 || got < page || printed >= c.limit)
            break;
    }
    rc = 0;
out:
    json_decref(j);
    cf_conf_fini(log_opts, CF_ARRAY_LEN(log_opts), &c);
    return rc;
}

/* ---- admin history ---- */

static int admin_history(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin history [--filer ID] [--since 24h|ISO|MS] [--until ...]\n"
        "                            [--limit N] [--monitor URL]\n"
        "Prints the filer history the active monitor keeps, one row per filer and\n"
        "period (--history-period-s of the monitor): bytes the filer took in and\n"
        "sent out, new I/O errors, polls and failed polls, fill and mean latency.\n";
    static const struct cf__cli_args args = {.cmd = "admin history",
                                             .usage = usage,
                                             .opts = history_opts,
                                             .nopts = CF_ARRAY_LEN(history_opts),
                                             .key_file = true};
    struct mon_conf c = {0};
    uint64_t since = 0, until = 0;
    json_t *j = NULL, *arr;
    char path[160];
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, NULL, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (parse_span("admin history", &c, &since, &until) < 0)
        goto out;
    (void)snprintf(path, sizeof(path),
                   "/v1/history?filer=%" PRIu64 "&since=%" PRIu64 "&until=%" PRIu64
                   "&limit=%" PRIu64,
                   c.filer, since, until, c.limit);
    rc = call("admin history", "GET", c.monitor, path, NULL, &j);
    if (rc != 0)
        goto out;
    arr = json_object_get(j, "history");
    printf("%-24s %-5s %10s %10s %6s %5s %5s %23s %9s\n", "period start", "filer", "in", "out",
           "io-err", "polls", "fail", "used / total", "latency");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *h = json_array_get(arr, i);
        const json_t *lat = json_object_get(h, "latency_ms");
        char when[40], in[16], out_b[16], u[16], t[16], ut[40];
        iso_time(jint(h, "start_ms"), when, sizeof(when));
        human(jint(h, "bytes_in"), in, sizeof(in));
        human(jint(h, "bytes_out"), out_b, sizeof(out_b));
        human(jint(h, "used_bytes"), u, sizeof(u));
        human(jint(h, "total_bytes"), t, sizeof(t));
        (void)snprintf(ut, sizeof(ut), "%s / %s", u, t);
        printf("%-24s %-5" PRIu64 " %10s %10s %6" PRIu64 " %5" PRIu64 " %5" PRIu64
               " %23s %7.1fms\n",
               when, jint(h, "filer"), in, out_b, jint(h, "io_errors"), jint(h, "polls"),
               jint(h, "failures"), ut, json_is_number(lat) ? json_number_value(lat) : 0.0);
    }
    rc = 0;
out:
    json_decref(j);
    cf_conf_fini(history_opts, CF_ARRAY_LEN(history_opts), &c);
    return rc;
}

/* ---- admin filer maintenance ---- */

static int admin_maintenance(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin filer maintenance --id N on|off [--monitor URL]\n"
        "Puts a filer in maintenance (it takes no new objects; the monitor keeps\n"
        "the status) or takes it out (the monitor decides again at its next poll).\n";
    static const char *const on_off[] = {"on", "off", NULL};
    static const struct cf__cli_args args = {.cmd = "admin filer maintenance",
                                             .usage = usage,
                                             .opts = maint_opts,
                                             .nopts = CF_ARRAY_LEN(maint_opts),
                                             .max = CF__CLI_ARGS_MAX,
                                             .words = on_off,
                                             .key_file = true};
    struct mon_conf c = {0};
    char *pos[CF__CLI_ARGS_MAX], path[64];
    const char *on = NULL;
    int np = 0;
    json_t *j = NULL, *body = NULL;
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, pos, &np);
    if (rc >= 0)
        goto out;
    rc = 2;
    /* Given more than once, the last one counts. */
    if (np > 0)
        on = pos[np - 1];
    if (on == NULL || c.id == 0) {
        fprintf(stderr, "%s", usage);
        goto out;
    }
    (void)snprintf(path, sizeof(path), "/v1/filers/%" PRIu64 "/maintenance", c.id);
    body = json_pack("{s:b}", "on", strcmp(on, "on") == 0);
    rc = call("admin filer maintenance", "POST", c.monitor, path, body, &j);
    if (rc != 0)
        goto out;
    printf("filer %" PRIu64 " is %s\n", c.id, jstr(j, "status"));
out:
    json_decref(body);
    json_decref(j);
    cf_conf_fini(maint_opts, CF_ARRAY_LEN(maint_opts), &c);
    return rc;
}

int cf__cli_admin_monitor(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "filers") == 0)
        return admin_filers(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "log") == 0)
        return admin_log(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "cluster") == 0)
        return admin_cluster(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "history") == 0)
        return admin_history(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[0], "filer") == 0 && strcmp(argv[1], "maintenance") == 0)
        return admin_maintenance(argc - 2, argv + 2);
    fprintf(stderr, "coffer admin: not a monitor command\n");
    return 2;
}
