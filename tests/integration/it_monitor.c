/*
 * it_monitor.c -- the monitor role with real processes: filers,
 * a catalog, `coffer monitor` and `coffer app --track-filers=false`, which
 * only re-reads the summary table the monitor keeps.
 *
 * Cases:
 *   table        every filer online in GET /v1/filers with used/total/objects
 *                equal to the filer's own /status and the weight the rule
 *                gives them; `coffer admin filers` prints them; a read
 *                weight set with `coffer admin filer set --read-weight`
 *                shows there (write weight unchanged); the per-filer
 *                gauges are on /metrics
 *   offline      a SIGSTOPped filer turns offline within a bounded wait and
 *                uploads avoid it (r=2 lands on the other two, r=3 is 503);
 *                after SIGCONT it is online and an r=3 upload uses it; a
 *                kill -9'd filer turns offline too
 *   readonly     a filer filled past the high-water mark turns read-only
 *                (r=3 uploads refused), stays read-only between the marks,
 *                and is writable again below the low-water mark; its weight
 *                follows its fill exactly
 *   scribe       the status changes are in GET /v1/log by filer and kind,
 *                still there after the monitor restarts, printed by `coffer
 *                admin log`; POST /v1/log appends and refuses what is bad
 *   maintenance  `coffer admin filer maintenance --id N on|off`: kept by the
 *                tracker while on (uploads avoid it), tracked again after off
 *   probe        the synthetic probe (--probe-objsrv): timed good rounds;
 *                an upload failing with two filers stopped is one event,
 *                their return another; probe objects are deleted
 *   history      the filer history (--history-period-s 1): bytes a filer
 *                took, failed polls of a stopped one; `coffer admin history`
 *   server       `coffer server` runs a monitor and prints its URL; a filer
 *                added to it and killed is rebuilt by itself past
 *                `coffer server --rebuild-after-s`
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/httpc.h"
#include "coffer/scribe.h"
#include "coffer/tracker.h"
#include "harness.h"

#define NFILERS 3
#define OUT_MAX (64 * 1024)
/* The monitor's --busy-ms: over any latency a poll can have (--timeout-ms
 * 1000), so a filer is never busy and the weight rule's latency factor is 1
 * whatever the load of the machine: the weight then follows the fill alone
 * and a case can know it exactly (the latency steps are the unit table
 * test's, tests/unit/test_tracker.c). */
#define BUSY_MS      600000u
#define BUSY_MS_TEXT "600000"
/* The small filer of the read-only case (bytes, no suffix), and what is put
 * on it. */
#define SMALL_CAP "1000000"
#define SMALL_BIG 460000u
#define SMALL_TIP 40000u
#define SMALL_R3  1000u

struct mon {
    struct it_filer f[NFILERS];
    char db[IT_PATH_MAX];
    struct it_proc monitor, app;
};

/* Filers (the last with extra arguments, may be NULL), their registration,
 * a shard, the monitor and an app that does not track. */
static void mon_start(struct mon *m, const char *last_arg, const char *last_val)
{
    char name[16];

    memset(m, 0, sizeof(*m));
    IT_EQ(cf_httpc_global_init(), 0);
    it_case_db(m->db);
    for (unsigned i = 0; i < NFILERS; i++) {
        it_fmt(name, sizeof(name), "f%u", i + 1);
        it_filer_init(&m->f[i], i + 1, name);
        if (i == NFILERS - 1 && last_arg != NULL)
            it_filer_start_ok(&m->f[i], last_arg, last_val, NULL);
        else
            it_filer_start_ok(&m->f[i], NULL);
        it_admin_filer_add(m->db, &m->f[i], 100);
    }
    it_admin_shard_add(m->db);
    it_monitor_start_ok(&m->monitor, m->db, "--busy-ms", BUSY_MS_TEXT, NULL);
    it_app_start_ok(&m->app, m->db, "--track-filers=false", NULL);
}

static void mon_stop(struct mon *m)
{
    it_proc_stop_ok(&m->app);
    it_proc_stop_ok(&m->monitor);
    for (unsigned i = 0; i < NFILERS; i++)
        if (m->f[i].pid > 0)
            it_filer_stop_ok(&m->f[i]);
}

/* GET monitor/v1/filers; the entry of filer id (a new reference). */
static json_t *filer_entry(const struct mon *m, unsigned id)
{
    struct it_resp r;
    json_t *j, *arr, *out = NULL;

    IT_EQ(it_http_to(NULL, m->monitor.base, "GET", "/v1/filers", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    it_resp_fini(&r);
    arr = json_object_get(j, "filers");
    IT_CHECK(json_is_array(arr));
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (it_json_int(json_array_get(arr, i), "id") == (int64_t)id)
            out = json_incref(json_array_get(arr, i));
    json_decref(j);
    IT_CHECKF(out != NULL, "filer %u not in /v1/filers", id);
    return out;
}

struct status_wait {
    const struct mon *m;
    unsigned id;
    const char *status;
};

static bool has_status(void *arg)
{
    struct status_wait *w = arg;
    json_t *f = filer_entry(w->m, w->id);
    bool ok = strcmp(it_json_str(f, "status"), w->status) == 0;

    json_decref(f);
    return ok;
}

/* Wait (bounded: 15 s times the multiplier) until the monitor says filer id is status. */
static void wait_status(const struct mon *m, unsigned id, const char *status)
{
    struct status_wait w = {m, id, status};
    json_t *f;

    if (it_wait_for(has_status, &w, 150, 100))
        return;
    f = filer_entry(m, id);
    it_fail(__FILE__, __LINE__, "filer %u is still \"%s\", not \"%s\"", id,
            it_json_str(f, "status"), status);
}

struct app_wait {
    const struct mon *m;
    const char *uuid;
    unsigned id;
    const char *status;
};

static bool app_has_status(void *arg)
{
    struct app_wait *w = arg;
    struct it_record rec;

    IT_EQ(it_info(w->m->app.base, w->uuid, &rec), 200);
    for (size_t i = 0; i < rec.nfilers; i++)
        if (rec.filers[i] == w->id)
            return strcmp(rec.status[i], w->status) == 0;
    return false;
}

/* Wait (bounded) until the app's view, as its record of uuid (which lists
 * filer id) shows it, has filer id in status. */
static void wait_app_status(const struct mon *m, const char *uuid, unsigned id, const char *status)
{
    struct app_wait w = {m, uuid, id, status};

    IT_CHECKF(it_wait_for(app_has_status, &w, 150, 100), "the app never saw filer %u %s", id,
              status);
}

static void wait_all_online(const struct mon *m)
{
    for (unsigned i = 1; i <= NFILERS; i++)
        wait_status(m, i, "online");
}

/* The monitor's numbers of filer f equal the filer's own /status. */
struct numbers_wait {
    const struct mon *m;
    const struct it_filer *f;
};

static bool numbers_match(void *arg)
{
    struct numbers_wait *w = arg;
    json_t *e = filer_entry(w->m, w->f->id), *st = it_status(w->f);
    bool ok = it_json_int(e, "used_bytes") == it_json_int(st, "used_bytes") &&
              it_json_int(e, "total_bytes") == it_json_int(st, "total_bytes") &&
              it_json_int(e, "objects") == it_json_int(st, "objects");

    json_decref(e);
    json_decref(st);
    return ok;
}

static void wait_numbers(const struct mon *m, const struct it_filer *f)
{
    struct numbers_wait w = {m, f};

    IT_CHECKF(it_wait_for(numbers_match, &w, 150, 100),
              "the monitor's numbers of filer %u never matched its /status", f->id);
}

/* The entry's weight is what the rule (cf_tracker_weight) gives its own
 * numbers (one row: the poll that wrote used and total wrote the weight),
 * and that is want, worked out by hand from the fill. */
static void check_weight(const json_t *e, int64_t want)
{
    double u = (double)it_json_int(e, "used_bytes") / (double)it_json_int(e, "total_bytes");
    json_t *lat = json_object_get(e, "latency_ms");

    IT_CHECK(json_is_number(lat));
    IT_EQ(it_json_int(e, "weight"),
          cf_tracker_weight((uint32_t)it_json_int(e, "base_weight"), u, json_number_value(lat),
                            BUSY_MS, strcmp(it_json_str(e, "status"), "busy") == 0));
    IT_EQ(it_json_int(e, "weight"), want);
}

/* The monitor's /v1/filers gives filer 2 read weight 7, and its write
 * weight is unchanged. */
static bool read_weight_is_7(void *arg)
{
    json_t *e = filer_entry(arg, 2);
    bool ok = it_json_int(e, "read_weight") == 7 && it_json_int(e, "base_weight") == 100;

    json_decref(e);
    return ok;
}

/* ---- cases ---- */

static void t_table(void *arg)
{
    struct mon m;
    struct it_resp r;
    char *out = malloc(OUT_MAX);
    uint64_t seed = 100;

    (void)arg;
    IT_CHECK(out != NULL);
    mon_start(&m, NULL, NULL);
    wait_all_online(&m);
    for (int i = 0; i < 4; i++)
        it_upload_ok(NULL, m.app.base, seed++, 1000 + 5000 * (uint64_t)i, 2, false, NULL);
    for (unsigned i = 0; i < NFILERS; i++) {
        json_t *e;
        wait_numbers(&m, &m.f[i]);
        e = filer_entry(&m, m.f[i].id);
        IT_STREQ(it_json_str(e, "url"), m.f[i].base);
        IT_STREQ(it_json_str(e, "status"), "online");
        IT_CHECK(!it_json_bool(e, "read_only"));
        IT_EQ(it_json_int(e, "base_weight"), 100);
        IT_EQ(it_json_int(e, "read_weight"), 100);
        /* A few KB on a whole filesystem: every tenth free, the full weight. */
        IT_CHECK(it_json_int(e, "used_bytes") * 10 < it_json_int(e, "total_bytes"));
        check_weight(e, 100);
        IT_CHECK(it_json_int(e, "last_seen_ms") > 0);
        json_decref(e);
    }
    /* Every object is on two filers: the objects add up. */
    {
        int64_t sum = 0;
        for (unsigned i = 0; i < NFILERS; i++) {
            json_t *e = filer_entry(&m, i + 1);
            sum += it_json_int(e, "objects");
            json_decref(e);
        }
        IT_EQ(sum, 8);
    }
    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "filers", "--monitor",
                                     m.monitor.base, NULL)),
          0);
    for (unsigned i = 0; i < NFILERS; i++)
        IT_CHECKF(strstr(out, m.f[i].base) != NULL, "%s not in:\n%s", m.f[i].base, out);
    IT_CHECKF(strstr(out, "online") != NULL, "no online filer in:\n%s", out);
    IT_CHECKF(strstr(out, " read ") != NULL, "no read weight column in:\n%s", out);
    /* The operator's read weight, as stored; the tracker's polls keep it. */
    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "filer", "set", "--db", m.db,
                                     "--id", "2", "--read-weight", "7", NULL)),
          0);
    IT_CHECKF(it_wait_for(read_weight_is_7, &m, 100, 100),
              "the monitor never showed filer 2's read weight 7");
    /* The per-filer gauges. */
    IT_EQ(it_http_to(NULL, m.monitor.base, "GET", "/metrics", NULL, &r, NULL), 200);
    IT_CHECKF(strstr(r.body, "coffer_filer_up{filer=\"1\"} 1") != NULL, "metrics:\n%s", r.body);
    IT_CHECK(strstr(r.body, "coffer_filer_total_bytes{filer=\"3\"}") != NULL);
    IT_CHECK(strstr(r.body, "coffer_filer_latency_seconds_count{filer=\"2\"}") != NULL);
    it_resp_fini(&r);
    mon_stop(&m);
    free(out);
}

/* Upload r=2 objects until one lists filer id; its uuid into out. */
static void upload_listing(const struct mon *m, unsigned id, uint64_t *seed, char out[40])
{
    for (int i = 0; i < 50; i++) {
        struct it_record rec;
        it_upload_ok(NULL, m->app.base, (*seed)++, 2000, 2, false, &rec);
        if (it_record_has(&rec, id)) {
            it_fmt(out, 40, "%s", rec.uuid);
            return;
        }
    }
    it_fail(__FILE__, __LINE__, "50 uploads and none on filer %u", id);
}

static void t_offline(void *arg)
{
    struct mon m;
    struct it_record rec;
    char uuid2[40], uuid3[40];
    uint64_t seed = 200;

    (void)arg;
    mon_start(&m, NULL, NULL);
    wait_all_online(&m);
    upload_listing(&m, 2, &seed, uuid2);
    upload_listing(&m, 3, &seed, uuid3);

    /* Stopped: the connection is accepted but nothing answers. */
    it_filer_signal(&m.f[1], SIGSTOP);
    wait_status(&m, 2, "offline");
    {
        json_t *e = filer_entry(&m, 2);
        IT_CHECK(it_json_bool(e, "read_only"));
        IT_CHECK(it_json_int(e, "failures") >= 2);
        json_decref(e);
    }
    wait_app_status(&m, uuid2, 2, "offline");
    for (int i = 0; i < 8; i++) {
        it_upload_ok(NULL, m.app.base, seed++, 3000, 2, false, &rec);
        IT_CHECK(!it_record_has(&rec, 2));
        it_check_placement(m.f, NFILERS, &rec);
    }
    IT_EQ(it_upload(NULL, m.app.base, seed++, 3000, 3, false, NULL), 503);

    it_filer_signal(&m.f[1], SIGCONT);
    wait_status(&m, 2, "online");
    wait_app_status(&m, uuid2, 2, "online");
    it_upload_ok(NULL, m.app.base, seed++, 3000, 3, false, &rec);
    IT_CHECK(it_record_has(&rec, 2));
    it_check_placement(m.f, NFILERS, &rec);

    /* Killed: the connection is refused. */
    it_filer_kill9(&m.f[2]);
    wait_status(&m, 3, "offline");
    wait_app_status(&m, uuid3, 3, "offline");
    for (int i = 0; i < 4; i++) {
        it_upload_ok(NULL, m.app.base, seed++, 3000, 2, false, &rec);
        IT_CHECK(!it_record_has(&rec, 3));
    }
    mon_stop(&m);
}

/* The monitor's used_bytes of filer id is want. */
struct used_wait {
    const struct mon *m;
    unsigned id;
    int64_t want;
};

static bool used_is(void *arg)
{
    struct used_wait *w = arg;
    json_t *e = filer_entry(w->m, w->id);
    bool ok = it_json_int(e, "used_bytes") == w->want;

    json_decref(e);
    return ok;
}

static void t_readonly(void *arg)
{
    struct mon m;
    struct it_record rec;
    struct used_wait uw;
    json_t *e;
    uint64_t seed = 300;

    (void)arg;
    mon_start(&m, "--capacity", SMALL_CAP);
    wait_all_online(&m);
    /* An object on every filer, to see the app's view of filer 3. */
    it_upload_ok(NULL, m.app.base, seed++, SMALL_R3, 3, false, &rec);
    /* 92.1% used: between the marks, still writable. */
    it_put_ok(NULL, &m.f[2], "fill/a", 1, SMALL_BIG, false, NULL);
    it_put_ok(NULL, &m.f[2], "fill/b", 2, SMALL_BIG, false, NULL);
    uw = (struct used_wait){&m, 3, SMALL_R3 + 2 * SMALL_BIG};
    IT_CHECK(it_wait_for(used_is, &uw, 150, 100));
    e = filer_entry(&m, 3);
    IT_STREQ(it_json_str(e, "status"), "online");
    IT_EQ(it_json_int(e, "total_bytes"), 1000000);
    check_weight(e, 10); /* 92.1%: one free tenth */
    json_decref(e);
    /* 96.1%: past the high-water mark (0.95). */
    it_put_ok(NULL, &m.f[2], "fill/c", 3, SMALL_TIP, false, NULL);
    wait_status(&m, 3, "read-only");
    e = filer_entry(&m, 3);
    IT_CHECK(it_json_bool(e, "read_only"));
    IT_EQ(it_json_int(e, "used_bytes"), SMALL_R3 + 2 * SMALL_BIG + SMALL_TIP);
    check_weight(e, 10); /* 96.1%: free tenths rounded up to at least one */
    json_decref(e);
    wait_app_status(&m, rec.uuid, 3, "read-only");
    IT_EQ(it_upload(NULL, m.app.base, seed++, 1000, 3, false, NULL), 503);
    for (int i = 0; i < 4; i++) {
        struct it_record r2;
        it_upload_ok(NULL, m.app.base, seed++, 1000, 2, false, &r2);
        IT_CHECK(!it_record_has(&r2, 3));
    }
    /* Back to 92.1%: the poll that sees it keeps the filer read-only. */
    IT_EQ(it_status_of(NULL, &m.f[2], "DELETE", "/o/fill/c"), 204);
    uw.want = SMALL_R3 + 2 * SMALL_BIG;
    IT_CHECK(it_wait_for(used_is, &uw, 150, 100));
    e = filer_entry(&m, 3);
    IT_STREQ(it_json_str(e, "status"), "read-only");
    check_weight(e, 10);
    json_decref(e);
    /* 46.1%: below the low-water mark (0.90), writable again. */
    IT_EQ(it_status_of(NULL, &m.f[2], "DELETE", "/o/fill/b"), 204);
    wait_status(&m, 3, "online");
    e = filer_entry(&m, 3);
    IT_EQ(it_json_int(e, "used_bytes"), SMALL_R3 + SMALL_BIG);
    check_weight(e, 60); /* 46.1%: six free tenths */
    json_decref(e);
    wait_app_status(&m, rec.uuid, 3, "online");
    it_upload_ok(NULL, m.app.base, seed++, 1000, 3, false, &rec);
    IT_CHECK(it_record_has(&rec, 3));
    mon_stop(&m);
}

/* GET monitor/v1/log?QUERY: the events array (a new reference). */
static json_t *log_events(const struct mon *m, const char *query)
{
    char target[256];
    struct it_resp r;
    json_t *j, *ev;

    it_fmt(target, sizeof(target), "/v1/log?%s", query);
    IT_EQ(it_http_to(NULL, m->monitor.base, "GET", target, NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    it_resp_fini(&r);
    ev = json_incref(json_object_get(j, "events"));
    json_decref(j);
    IT_CHECK(json_is_array(ev));
    return ev;
}

/* Index of the first event at or after `from` whose message contains needle, or -1. */
static int find_event(const json_t *ev, size_t from, const char *needle)
{
    for (size_t i = from; i < json_array_size(ev); i++)
        if (strstr(it_json_str(json_array_get(ev, i), "message"), needle) != NULL)
            return (int)i;
    return -1;
}

static long post_log(const struct mon *m, json_t *body)
{
    char url[IT_URL_MAX + 16], err[256] = "";
    long status = 0;

    it_fmt(url, sizeof(url), "%s/v1/log", m->monitor.base);
    IT_CHECKF(cf_httpc_json("POST", url, body, 10000, &status, NULL, err) == 0, "%s", err);
    json_decref(body);
    return status;
}

/* Filer 2's events say it went offline, then came back online. */
static bool back_online_logged(void *arg)
{
    json_t *ev = log_events(arg, "filer=2&kind=filer.status");
    int off = find_event(ev, 0, "-> offline");
    bool ok = off >= 0 && find_event(ev, (size_t)off, "offline -> online") > off;

    json_decref(ev);
    return ok;
}

static void t_scribe(void *arg)
{
    struct mon m;
    char *out = malloc(OUT_MAX), big[2048], raw[512], reply[1024];
    json_t *ev, *again;
    int off, on;
    size_t rawn;
    int fd;

    (void)arg;
    IT_CHECK(out != NULL);
    mon_start(&m, NULL, NULL);
    wait_all_online(&m);
    it_filer_signal(&m.f[1], SIGSTOP);
    wait_status(&m, 2, "offline");
    it_filer_signal(&m.f[1], SIGCONT);
    wait_status(&m, 2, "online");

    /* The table is written before the event (two commits): wait for it. */
    IT_CHECKF(it_wait_for(back_online_logged, &m, 150, 100),
              "no \"-> offline\" then \"offline -> online\" event of filer 2");
    ev = log_events(&m, "filer=2&kind=filer.status");
    off = find_event(ev, 0, "-> offline");
    on = find_event(ev, (size_t)off, "offline -> online");
    IT_CHECK(off >= 0 && on > off);
    for (size_t i = 0; i < json_array_size(ev); i++) {
        IT_EQ(it_json_int(json_array_get(ev, i), "filer"), 2);
        IT_STREQ(it_json_str(json_array_get(ev, i), "kind"), "filer.status");
    }
    /* Another filer's events are not in filer 2's. */
    again = log_events(&m, "filer=1&kind=filer.status");
    IT_EQ(find_event(again, 0, "-> offline"), -1);
    json_decref(again);

    /* The log survives a restart of the monitor. */
    it_proc_stop_ok(&m.monitor);
    it_monitor_start_ok(&m.monitor, m.db, "--busy-ms", BUSY_MS_TEXT, NULL);
    again = log_events(&m, "filer=2&kind=filer.status");
    IT_CHECK(json_array_size(again) >= json_array_size(ev));
    for (size_t i = 0; i < json_array_size(ev); i++)
        IT_EQ(it_json_int(json_array_get(again, i), "id"),
              it_json_int(json_array_get(ev, i), "id"));
    json_decref(again);
    json_decref(ev);

    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "log", "--monitor",
                                     m.monitor.base, "--filer", "2", "--kind", "filer.status",
                                     "--since", "1h", NULL)),
          0);
    IT_CHECKF(strstr(out, "-> offline") != NULL && strstr(out, "offline -> online") != NULL,
              "coffer admin log printed:\n%s", out);
    IT_CHECK(strstr(out, "filer=2") != NULL);
    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "filers", "--monitor",
                                     m.monitor.base, NULL)),
          0);
    IT_CHECKF(strstr(out, m.f[1].base) != NULL, "coffer admin filers printed:\n%s", out);

    /* Other processes append; what is bad is refused and not written. */
    IT_EQ(post_log(&m, json_pack("{s:s,s:i,s:s,s:s}", "kind", "repair", "filer", 3, "object",
                                 "0001-0000000000000001-00000000000000aa", "message",
                                 "copied to filer 3")),
          201);
    IT_EQ(post_log(&m, json_pack("{s:s,s:s}", "kind", "Bad Kind", "message", "x")), 400);
    IT_EQ(post_log(&m, json_pack("{s:s}", "kind", "repair")), 400);
    IT_EQ(post_log(&m, json_pack("{s:s,s:i,s:s}", "kind", "repair", "filer", -1, "message", "x")),
          400);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    IT_EQ(post_log(&m, json_pack("{s:s,s:s}", "kind", "repair", "message", big)), 400);
    ev = log_events(&m, "kind=repair");
    IT_EQ(json_array_size(ev), 1);
    IT_STREQ(it_json_str(json_array_get(ev, 0), "message"), "copied to filer 3");
    IT_STREQ(it_json_str(json_array_get(ev, 0), "object"),
             "0001-0000000000000001-00000000000000aa");
    IT_EQ(it_json_int(json_array_get(ev, 0), "filer"), 3);
    json_decref(ev);
    /* `admin log` shows quotes and UTF-8 as they are; no control byte
     * reaches the operator's terminal (the scribe stores none). */
    IT_EQ(post_log(&m, json_pack("{s:s,s:s}", "kind", "repair", "message",
                                 "file \"Gr\xc3\xbc\xc3\x9f"
                                 "e\"\x1b[2J")),
          201);
    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "log", "--monitor",
                                     m.monitor.base, "--kind", "repair", "--since", "1h", NULL)),
          0);
    IT_CHECKF(strstr(out, "file \"Gr\xc3\xbc\xc3\x9f"
                          "e\"") != NULL &&
                  strchr(out, 0x1b) == NULL,
              "coffer admin log printed:\n%s", out);
    /* Not JSON at all, and bad query arguments. */
    fd = it_raw_try_connect(m.monitor.port);
    IT_CHECK(fd >= 0);
    it_fmt(raw, sizeof(raw),
           "POST /v1/log HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: 9\r\nConnection: "
           "close\r\n\r\nnot json!",
           m.monitor.port);
    rawn = strlen(raw);
    it_raw_sign(raw, &rawn, sizeof(raw));
    IT_CHECK(it_raw_send(fd, raw, rawn));
    IT_EQ(it_raw_read_reply(fd, reply, sizeof(reply)), 400);
    close(fd);
    {
        static const char *const bad[] = {"/v1/log?limit=abc", "/v1/log?limit=10001",
                                          "/v1/log?kind=Bad%20Kind", "/v1/log?filer=-1",
                                          "/v1/log?since=99999999999999999999"};
        for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
            struct it_resp r;
            IT_EQ(it_http_to(NULL, m.monitor.base, "GET", bad[i], NULL, &r, NULL), 400);
            it_check_error_body(&r, NULL);
            it_resp_fini(&r);
        }
    }
    mon_stop(&m);
    free(out);
}

static void t_maintenance(void *arg)
{
    struct mon m;
    struct it_record rec;
    char *out = malloc(OUT_MAX);
    json_t *e, *ev;
    uint64_t seed = 500;
    struct used_wait uw;

    (void)arg;
    IT_CHECK(out != NULL);
    mon_start(&m, NULL, NULL);
    wait_all_online(&m);
    it_upload_ok(NULL, m.app.base, seed++, 1000, 3, false, &rec);
    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "filer", "maintenance", "--id",
                                     "2", "on", "--monitor", m.monitor.base, NULL)),
          0);
    IT_CHECKF(strstr(out, "filer 2 is maintenance") != NULL, "printed:\n%s", out);
    e = filer_entry(&m, 2);
    IT_STREQ(it_json_str(e, "status"), "maintenance");
    IT_CHECK(it_json_bool(e, "read_only"));
    json_decref(e);
    /* Polls go on refreshing its numbers, not its status: a put to it shows
     * up in used_bytes while it stays in maintenance. */
    it_put_ok(NULL, &m.f[1], "maint/x", 9, 12345, false, NULL);
    uw = (struct used_wait){&m, 2, it_status_int(&m.f[1], "used_bytes")};
    IT_CHECK(it_wait_for(used_is, &uw, 150, 100));
    e = filer_entry(&m, 2);
    IT_STREQ(it_json_str(e, "status"), "maintenance");
    json_decref(e);
    wait_app_status(&m, rec.uuid, 2, "maintenance");
    IT_EQ(it_upload(NULL, m.app.base, seed++, 1000, 3, false, NULL), 503);
    for (int i = 0; i < 4; i++) {
        struct it_record r2;
        it_upload_ok(NULL, m.app.base, seed++, 1000, 2, false, &r2);
        IT_CHECK(!it_record_has(&r2, 2));
    }
    /* Bad uses: no on/off, unknown filer. */
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "filer", "maintenance", "--id", "2",
                                     "--monitor", m.monitor.base, NULL)),
          2);
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "filer", "maintenance", "--id", "99",
                                     "on", "--monitor", m.monitor.base, NULL)),
          1);

    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "filer", "maintenance", "--id",
                                     "2", "off", "--monitor", m.monitor.base, NULL)),
          0);
    wait_status(&m, 2, "online");
    wait_app_status(&m, rec.uuid, 2, "online");
    it_upload_ok(NULL, m.app.base, seed++, 1000, 3, false, &rec);
    IT_CHECK(it_record_has(&rec, 2));
    ev = log_events(&m, "filer=2&kind=filer.status");
    IT_CHECK(find_event(ev, 0, "-> maintenance: set by the operator") >= 0);
    IT_CHECK(find_event(ev, 0, "maintenance -> unknown: set by the operator") >= 0);
    json_decref(ev);
    mon_stop(&m);
    free(out);
}

struct server_wait {
    const struct it_server *s;
};

static bool server_all_online(void *arg)
{
    struct server_wait *w = arg;
    struct it_resp r;
    json_t *j, *arr;
    bool ok = true;

    IT_EQ(it_http_to(NULL, w->s->monitor, "GET", "/v1/filers", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    it_resp_fini(&r);
    arr = json_object_get(j, "filers");
    ok = json_array_size(arr) == 3;
    for (size_t i = 0; ok && i < json_array_size(arr); i++)
        ok = strcmp(it_json_str(json_array_get(arr, i), "status"), "online") == 0;
    json_decref(j);
    return ok;
}

struct probe_wait {
    const struct mon *m;
    const char *needle; /* an event of kind probe saying this */
    char uuid[64];      /* its object */
};

static bool probe_event(void *arg)
{
    struct probe_wait *w = arg;
    json_t *ev = log_events(w->m, "kind=probe&limit=1000");
    int i = find_event(ev, 0, w->needle);

    if (i >= 0) {
        const char *o = json_string_value(json_object_get(json_array_get(ev, (size_t)i), "object"));
        it_fmt(w->uuid, sizeof(w->uuid), "%s", o != NULL ? o : "");
    }
    json_decref(ev);
    return i >= 0;
}

static bool probe_ok_rounds(void *arg)
{
    const struct mon *m = arg;

    return it_metric(m->monitor.base, "coffer_probe_rounds_total{result=\"ok\"}") >= 2;
}

/* Synthetic probes: rounds succeed and are timed; with two of three
 * filers stopped the upload fails (one event, with the reason); when they
 * are back the probe says so; each probe's object is deleted. */
static void t_probe(void *arg)
{
    struct mon m;
    struct it_proc objsrv;
    struct it_record rec;
    struct probe_wait w = {0};

    (void)arg;
    mon_start(&m, NULL, NULL);
    it_objsrv_start_ok(&objsrv, m.app.base, NULL);
    it_proc_stop_ok(&m.monitor);
    it_monitor_start_ok(&m.monitor, m.db, "--busy-ms", BUSY_MS_TEXT, "--app", m.app.base,
                        "--probe-objsrv", objsrv.base, "--probe-interval-s", "1", NULL);
    wait_all_online(&m);
    IT_CHECKF(it_wait_for(probe_ok_rounds, &m, 150, 100), "no two good probe rounds");
    IT_EQ(it_metric(m.monitor.base, "coffer_probe_up"), 1);
    IT_CHECK(it_metric(m.monitor.base, "coffer_probe_seconds_count{op=\"get\"}") >= 2);

    it_filer_signal(&m.f[1], SIGSTOP);
    it_filer_signal(&m.f[2], SIGSTOP);
    wait_status(&m, 2, "offline");
    wait_status(&m, 3, "offline");
    w.m = &m;
    w.needle = "probe put failed: ";
    IT_CHECKF(it_wait_for(probe_event, &w, 300, 100), "no \"probe put failed\" event");
    it_wait_metric(m.monitor.base, "coffer_probe_up", 0);

    it_filer_signal(&m.f[1], SIGCONT);
    it_filer_signal(&m.f[2], SIGCONT);
    w.needle = "probe ok again after ";
    IT_CHECKF(it_wait_for(probe_event, &w, 300, 100), "no \"probe ok again\" event");
    it_wait_metric(m.monitor.base, "coffer_probe_up", 1);
    /* The round that said so deleted its object. */
    IT_CHECKF(strlen(w.uuid) == 36, "the event names no object: \"%s\"", w.uuid);
    IT_EQ(it_info(m.app.base, w.uuid, &rec), 404);
    it_proc_stop_ok(&objsrv);
    mon_stop(&m);
}

struct history_wait {
    const struct mon *m;
    unsigned filer;
    bool failures; /* wait for a row with failed polls, else one with bytes in */
};

/* A history row of w->filer shows what w asks for. */
static bool history_shows(void *arg)
{
    struct history_wait *w = arg;
    char target[96];
    struct it_resp r;
    json_t *j, *arr;
    bool found = false;

    it_fmt(target, sizeof(target), "/v1/history?filer=%u&limit=1000", w->filer);
    IT_EQ(it_http_to(NULL, w->m->monitor.base, "GET", target, NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    it_resp_fini(&r);
    arr = json_object_get(j, "history");
    for (size_t i = 0; i < json_array_size(arr) && !found; i++) {
        const json_t *h = json_array_get(arr, i);
        IT_EQ(it_json_int(h, "filer"), w->filer);
        IT_EQ(it_json_int(h, "end_ms") - it_json_int(h, "start_ms"), 1000);
        found = w->failures
                    ? it_json_int(h, "failures") > 0
                    : it_json_int(h, "bytes_in") >= 300000 && it_json_int(h, "total_bytes") > 0 &&
                          it_json_int(h, "polls") > it_json_int(h, "failures");
    }
    json_decref(j);
    return found;
}

/* The filer history (--history-period-s 1): a filer that took 300 kB has
 * a row saying so; a stopped one has rows with failed polls; `coffer
 * admin history` prints them; bad parameters are 400. */
static void t_history(void *arg)
{
    struct mon m;
    struct it_record rec;
    struct it_resp r;
    struct history_wait w;
    char *out = malloc(OUT_MAX);

    (void)arg;
    IT_CHECK(out != NULL);
    mon_start(&m, NULL, NULL);
    it_proc_stop_ok(&m.monitor);
    it_monitor_start_ok(&m.monitor, m.db, "--busy-ms", BUSY_MS_TEXT, "--history-period-s", "1",
                        NULL);
    wait_all_online(&m);
    it_upload_ok(NULL, m.app.base, 7, 400000, 3, false, &rec);
    w = (struct history_wait){&m, 1, false};
    IT_CHECKF(it_wait_for(history_shows, &w, 100, 100), "no history row of filer 1 with its bytes");

    it_filer_signal(&m.f[2], SIGSTOP);
    w = (struct history_wait){&m, 3, true};
    IT_CHECKF(it_wait_for(history_shows, &w, 100, 100), "no history row of filer 3 with failures");
    it_filer_signal(&m.f[2], SIGCONT);

    IT_EQ(it_exit_code(it_coffer_cmd(out, OUT_MAX, NULL, "admin", "history", "--monitor",
                                     m.monitor.base, "--filer", "1", "--since", "1h", NULL)),
          0);
    IT_CHECKF(strstr(out, "period start") != NULL && strstr(out, " 1 ") != NULL &&
                  strstr(out, "KiB") != NULL,
              "coffer admin history printed:\n%s", out);
    IT_EQ(it_http_to(NULL, m.monitor.base, "GET", "/v1/history?limit=0", NULL, &r, NULL), 400);
    it_resp_fini(&r);
    IT_EQ(it_http_to(NULL, m.monitor.base, "GET", "/v1/history?filer=x", NULL, &r, NULL), 400);
    it_resp_fini(&r);
    free(out);
    mon_stop(&m);
}

static void t_server(void *arg)
{
    struct it_server s;
    struct server_wait w = {&s};

    struct it_filer f4;
    struct it_record rec;
    char db[IT_PATH_MAX];
    json_t *jobs, *job = NULL, *end;
    unsigned on4 = 0;

    (void)arg;
    IT_EQ(cf_httpc_global_init(), 0);
    it_server_start_ok(&s, "data", 3, "--rebuild-after-s", "2", NULL);
    IT_CHECKF(it_wait_for(server_all_online, &w, 150, 100), "the server's filers never online");
    it_upload_ok(NULL, s.p.base, 1, 1000, 2, false, NULL);

    /* A filer of its own process, added to the server's table, killed:
     * the server's monitor starts a rebuild through the server's app. */
    it_server_db_uri(db, "data", "catalog");
    it_filer_init(&f4, 4, "filer4");
    it_filer_start_ok(&f4, NULL);
    IT_EQ(it_exit_code(it_coffer_cmd(NULL, 0, NULL, "admin", "filer", "add", "--id", "4", "--url",
                                     f4.base, "--db", db, NULL)),
          0);
    it_wait_filer_table(db, 4, "online");
    /* The app re-reads the table every --poll-ms (a second): uploads
     * 50 ms apart until one lands there, 10 s at most. */
    for (unsigned i = 0; i < 12 || on4 == 0; i++) {
        IT_CHECKF(i < 200, "no upload landed on filer 4");
        it_upload_ok(NULL, s.p.base, 10 + i, 2000 + i, 2, false, &rec);
        on4 += it_record_has(&rec, 4);
        if (on4 == 0)
            usleep(50 * 1000);
    }
    it_filer_kill9(&f4);
    it_wait_filer_table(db, 4, "offline");
    for (unsigned i = 0; i < 300 && job == NULL; i++) {
        jobs = it_jobs_list(s.p.base);
        for (size_t k = 0; k < json_array_size(jobs) && job == NULL; k++)
            if (strcmp(it_json_str(json_array_get(jobs, k), "kind"), "rebuild") == 0)
                job = json_incref(json_array_get(jobs, k));
        json_decref(jobs);
        if (job == NULL)
            usleep(100 * 1000);
    }
    IT_CHECKF(job != NULL, "the server started no rebuild");
    IT_EQ(it_json_int(json_object_get(job, "args"), "filer"), 4);
    end = it_job_wait_end(s.p.base, it_json_int(job, "id"), 600, 100);
    IT_STREQ(it_json_str(end, "state"), "done");
    IT_CHECK(it_scribe_count_msg(db, CF_SCRIBE_REPAIR, "rebuild job") >= 1);
    json_decref(job);
    json_decref(end);
    it_proc_stop_ok(&s.p);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"table", t_table, NULL, 60},
        {"offline", t_offline, NULL, 90},
        {"readonly", t_readonly, NULL, 60},
        {"scribe", t_scribe, NULL, 90},
        {"maintenance", t_maintenance, NULL, 60},
        {"probe", t_probe, NULL, 90},
        {"history", t_history, NULL, 60},
        {"server", t_server, NULL, 120},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
