/*
 * monitor.h -- the monitor role: filer tracking, the filer summary table
 * and the scribe over HTTP (DESIGN §1, patent FIG. 7 and 9).
 *
 * Role: `coffer monitor` opens the object database catalog, runs a tracker
 * (tracker.h) that keeps the filer summary table true, opens the scribe
 * (scribe.h) on the same database, and serves:
 *   GET  /v1/filers   {"filers":[{id, url, status, weight, base_weight,
 *                     used_bytes, total_bytes, objects, read_only,
 *                     last_seen_ms, latency_ms (null until measured),
 *                     failures}], "now_ms"}: the summary table as stored,
 *                     with the tracker's measurements
 *   POST /v1/filers/ID/maintenance  {"on":true|false}: the operator puts
 *                     the filer in maintenance or takes it out (objdb.h
 *                     cf_objdb_filer_set_maintenance); 200 with its row, 404
 *                     for an unknown filer; a scribe event records it
 *   GET  /v1/log?since=MS&until=MS&kind=K&filer=ID&after=ID&limit=N
 *                     {"events":[{id, at_ms, kind, filer, object, message}],
 *                     "next_after"}: scribe events in id order; every
 *                     argument optional (cf_scribe_query); page with
 *                     after=next_after until "events" is empty
 *   POST /v1/log      {"kind", "filer" (optional, 0), "object" (optional),
 *                     "message"}: append an event (201 {"ok":true}); a bad
 *                     kind, a message over CF_SCRIBE_MSG_MAX bytes, a body
 *                     over CF_MONITOR_BODY_MAX, or anything else malformed
 *                     is refused with 400/413 and nothing is written
 *   POST /v1/instances  a heartbeat (beat.h) {"role", "url", "dc",
 *                     "version", "started_ms", "status"}: the instance's
 *                     registry row upserted (registry.h), 200 {"ok":true};
 *                     400 if malformed
 *   GET  /v1/instances  {"instances":[{id, role, url, dc, version,
 *                     started_ms, last_heartbeat_ms, status}], "now_ms"}
 *   GET  /status      {"role":"monitor", requests, in_flight, "active"}
 * These are control-plane endpoints with no authentication: listen on an
 * internal address only (as the app and the filers).
 *
 * Retention: every --log-prune-ms a thread deletes the scribe events older
 * than --log-retention-days and the oldest beyond --log-max-rows, in
 * transactions of CF_SCRIBE_PRUNE_BATCH rows (cf_scribe_prune), so the
 * event log stays bounded and writers never wait long for it.
 *
 * Several monitors on one catalog: they race for the lease "monitor"
 * (lease.h, --lease-ms, default 5 s, renewed every fifth of it). The holder
 * is active: it runs the tracker (writes the statuses of the summary
 * table), prunes the scribe and starts the automatic repairs below. The
 * others are passive: they serve the table and the log as stored (no
 * measurements in /v1/filers) and write nothing of their own. When the
 * active one dies, a passive one takes over once the lease has expired:
 * within lease + lease/5 + a 250 ms tick, 6.25 s with the defaults. An
 * active monitor that cannot renew stops its tracker, retention and
 * repairs while its lease time (lease.h) still exceeds --timeout-ms plus a
 * 250 ms tick, so its last poll has ended before another monitor can take
 * the lease (keep --timeout-ms well under --lease-ms). /status says "active"; the gauge
 * coffer_monitor_active is 1 while active.
 *
 * Automatic repairs (active monitor, with --app URL[,URL...]): a filer
 * that stays offline --rebuild-after-s past its last answer gets a rebuild
 * job (its replicas copied onto the other filers), started through the
 * first app that answers POST /v1/repair (job.h cf_jobs_serve_repair,
 * signed with the cluster key); a filer that comes back online after a shorter outage gets an
 * audit job limited to it. Both are scribe events (CF_SCRIBE_REPAIR). A
 * job refused because one of its kind runs (409) is asked for again 10 s
 * later; a filer gets at most one rebuild per outage as this monitor saw
 * it (a new active monitor may start a second, which finds the work done).
 *
 * Registry: a thread writes this monitor's own row every CF_BEAT_PERIOD_MS
 * (its URL from --advertise or --listen, its --dc) and marks down the
 * instances silent for CF_BEAT_DOWN_MS; its row is marked down at stop.
 *
 * Threads: each connection is served on its own thread, the tracker,
 * retention, lease renewal, the duty loop (activation, repairs) and the
 * registry on others; the functions below are called from one controlling
 * thread.
 */
#ifndef COFFER_MONITOR_H
#define COFFER_MONITOR_H

#include <stdint.h>

#include "coffer/beat.h"
#include "coffer/common.h"
#include "coffer/role.h"
#include "coffer/conf.h"
#include "coffer/http.h"

/* A POST body the monitor reads at most. */
#define CF_MONITOR_BODY_MAX (16 * 1024)

struct cf_monitor_conf {
    char *listen;
    char *db; /* object database catalog URI */
    uint64_t poll_ms;
    uint64_t timeout_ms;
    uint64_t offline_after;
    uint64_t busy_ms;
    char *high_water; /* a fraction, "0.95"; NULL: the tracker's default */
    char *low_water;  /* a fraction below high_water, "0.90"; NULL: default */
    char *log_level;
    uint64_t log_retention_days; /* scribe events older than this go; 0: kept */
    uint64_t log_max_rows;       /* at most this many events stay; 0: no bound */
    uint64_t log_prune_ms;       /* how often retention runs; 0: never */

    /* HTTPS (http.h): PEM certificate and key to serve with; NULL: HTTP. */
    char *tls_cert;
    char *tls_key;
    /* The CA file to verify the https:// services it calls (httpc.h). */
    char *tls_ca;

    struct cf_http_limits http; /* slow clients (http.h) */
    /* Tests only: a file whose number of ms is added to the wall clock of
     * retention (clockguard.h); NULL: none. */
    char *test_clock_offset_file;
    struct cf_role_beat beat;  /* beat.h: --advertise, --dc (a monitor registers itself) */
    struct cf_role_auth auth;  /* role.h: keys, --insecure-no-auth */
    uint64_t lease_ms;         /* the lease "monitor" (lease.h); 0: its default */
    char *apps;                /* "URL[,URL...]" of apps for automatic repairs; NULL: none */
    uint64_t rebuild_after_s;  /* offline this long: rebuild; 0: never */
    uint64_t history_period_s; /* of the filer history rows (objdb.h); 0: none */
    char *probe_objsrv;        /* objsrv URL the probes download from; NULL: none yet */
    uint64_t probe_interval_s; /* between synthetic probes (probe.h); 0: none */
};

extern const struct cf_conf_opt cf_monitor_conf_opts[];
extern const size_t cf_monitor_conf_nopts;

struct cf_monitor;

/* Open the catalog and the scribe, poll every filer once, start the tracker
 * thread and serve. conf is borrowed; zero numbers take the tracker's
 * defaults. On success *out is the monitor (caller owns; cf_monitor_free)
 * and *port_out the bound port. Returns 0, CF_EINVAL (a bad setting, named
 * in err), or another CF_E* code with the reason in err (may be NULL). */
CF_MUST_CHECK int cf_monitor_start(const struct cf_monitor_conf *conf, struct cf_monitor **out,
                                   uint16_t *port_out, char *err);

/* Replace the apps of automatic repairs (--app) with "URL[,URL...]"
 * (borrowed; NULL or "": none), for a monitor started before its apps.
 * Thread-safe; the next repair uses the new list. Returns 0 or CF_EINVAL
 * (a bad URL, named in err; the list is unchanged). */
CF_MUST_CHECK int cf_monitor_set_apps(struct cf_monitor *m, const char *apps, char *err);

/* Replace the objsrv the synthetic probes download from (--probe-objsrv)
 * with objsrv (borrowed; NULL or "": none, no probes), for a monitor
 * started before its objsrv. Thread-safe. Returns 0 or CF_EINVAL (a bad
 * URL, or more than one; unchanged). */
CF_MUST_CHECK int cf_monitor_set_objsrv(struct cf_monitor *m, const char *objsrv, char *err);

/* Stop accepting, let requests in flight finish (up to timeout_s). */
void cf_monitor_drain(struct cf_monitor *m, unsigned timeout_s);

/* Drain with no wait if still serving, stop the tracker, release. NULL is a no-op. */
void cf_monitor_free(struct cf_monitor *m);

/* `coffer monitor [options]`. Returns the exit status. */
int cf_monitor_main(int argc, char **argv);

#endif
