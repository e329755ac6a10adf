/*
 * cluster.h -- the data path of the integration tests: a cluster of filers
 * with the app and objsrv as separate processes, their catalog, object
 * records, uploads and downloads, delete and purge, maintenance jobs and
 * the scribe.
 *
 * Role: a case's catalog is the object database it_case_db_uri(.., "catalog")
 * (runner.h: a SQLite file in the case's directory, or a fresh PostgreSQL
 * database), set up the way an operator would: `coffer admin filer add` for
 * each filer, `coffer admin shard add`. Requests go to
 * the roles over HTTP (http.h); where a test must look behind the roles'
 * backs (the per-filer index, the summary table, the scribe) it opens the
 * catalog itself, read-only in intent.
 *
 * Failing: each it_*_ok, it_check_* and it_wait_* fails the case when what
 * it names does not hold; the rest return the status of the reply.
 * Waiting: it_wait_filer_status and it_wait_filer_table poll 100 times 100
 * ms apart; it_job_run polls the job 1200 times 100 ms apart; each times
 * the multiplier.
 * Threads: it_upload*, it_info, it_download_ok and it_check_* may be called
 * from several threads at once (each with its own client and records); the
 * rest from the case's main thread.
 */
#ifndef COFFER_IT_CLUSTER_H
#define COFFER_IT_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "harness/http.h"
#include "harness/proc.h"

#define IT_REPLICAS_MAX 16
#define IT_CLUSTER_MAX  8

/* ---- the catalog ------------------------------------------------------------ */

/* The case's object database catalog: it_case_db_uri(out, "catalog"), so
 * "sqlite:<case dir>/catalog.db" or a new PostgreSQL database. */
void it_case_db(char out[IT_PATH_MAX]);
/* `coffer admin filer add --db DB --id ID --url BASE --weight W --read-weight W`;
 * must exit 0. The read weight is the write weight, so a case that weights
 * its filers differently reads replicas in that order too (distrib.h,
 * "reads"), and filers of equal weight share the reads. */
void it_admin_filer_add(const char *db, const struct it_filer *f, unsigned weight);
/* `coffer admin shard add --db DB`; must exit 0 and say so. On PostgreSQL
 * with --location a new database (it_shard_location), on SQLite without
 * (the file next to the catalog). */
void it_admin_shard_add(const char *db);

/* `coffer admin filer set --db DB --id I --read-weight want[I - 1]` for
 * the filers 1..n (must exit 0). */
void it_set_read_weights(const char *db, const int64_t *want, size_t n);

/* The read weight the app's record of uuid (GET app/v1/objects/UUID/info)
 * gives filer id, or -1 when the record does not list it or there is no
 * record. */
int64_t it_info_read_weight(const char *app, const char *uuid, unsigned id);

/* Wait (bounded: 100 polls 100 ms apart, times the multiplier) until the
 * app's record of uuid gives each of its filers numbered 1..n the read
 * weight want[id - 1], before objsrv first reads the record (it keeps
 * what it read); fails the case if it never does. */
void it_wait_read_weights(const char *app, const char *uuid, const int64_t *want, size_t n);
/* Distinct objects the object database at db lists for filers 1..max_id
 * (through its per-filer index, every shard). */
unsigned it_objdb_count(const char *db, unsigned max_id);

/* ---- object records, uploads, downloads -------------------------------------- */

/* An object record as the app reports it (POST /v1/objects, .../info). */
struct it_record {
    char uuid[40];
    char path[256];
    uint64_t size;
    uint8_t sha[CF_SHA512_LEN];
    unsigned replicas;
    size_t nfilers;
    unsigned filers[IT_REPLICAS_MAX]; /* ids, in the order listed */
    char urls[IT_REPLICAS_MAX][IT_URL_MAX];
    char status[IT_REPLICAS_MAX][32]; /* each filer's status as the app sees it */
};

/* Parse a record, failing the case if it is malformed: uuid canonical,
 * "path" its own filer path or (an alias, dedupe) the filer path of another
 * object (of any shard), distinct filer ids, deleted false. */
void it_record_from_json(const json_t *j, struct it_record *rec);
/* Whether filer id is one of rec's. */
bool it_record_has(const struct it_record *rec, unsigned id);

/* Check a reply to POST /v1/objects: 201, a record of (size, sha), with
 * nfilers == replicas, and replicas == r unless r is 0. Fills rec (may be
 * NULL). */
void it_check_upload_reply(const struct it_resp *r, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                           unsigned replicas, struct it_record *rec);
/* POST app/v1/objects[?replicas=r] (r 0: the app's default) with the
 * payload (seed, size), Content-Length or chunked. Returns the status; on
 * 201 the reply is checked as above and rec (may be NULL) filled. */
long it_upload(struct it_client *c, const char *app, uint64_t seed, uint64_t size, unsigned r,
               bool chunked, struct it_record *rec);
/* it_upload that must give 201. */
void it_upload_ok(struct it_client *c, const char *app, uint64_t seed, uint64_t size, unsigned r,
                  bool chunked, struct it_record *rec);
/* GET app/v1/objects/UUID/info. Returns the status; on 200 fills rec, whose
 * uuid must be uuid. */
long it_info(const char *app, const char *uuid, struct it_record *rec);
/* Check a reply to GET objsrv/v1/objects/UUID: 200 with no transport
 * error, Content-Length, X-Coffer-SHA512 and Accept-Ranges, and a body of
 * exactly rec's size and SHA-512. */
void it_check_download(const struct it_resp *r, const struct it_record *rec);
/* GET objsrv/v1/objects/UUID and check it as above. */
void it_download_ok(struct it_client *c, const char *objsrv, const struct it_record *rec);
/* GET objsrv/v1/objects/UUID with a Range of bytes first..last of the
 * object, which is the payload seed: it_range_ok. */
void it_download_range_ok(struct it_client *c, const char *objsrv, const struct it_record *rec,
                          uint64_t seed, uint64_t first, uint64_t last);
/* The bytes of rec are on disk, with its size and SHA-512, on exactly the
 * filers of fl[0..n) that rec lists, and on none of the others; every filer
 * rec lists is in fl. */
void it_check_placement(const struct it_filer *fl, size_t n, const struct it_record *rec);

/* ---- a cluster of separate processes ----------------------------------------- */

/* Filers 1..n (dirs f1..fn), their registration and one shard in the
 * case's catalog (it_case_db), the app and objsrv. */
struct it_cluster {
    struct it_filer f[IT_CLUSTER_MAX]; /* f[i] has id i + 1 */
    size_t n;
    char db[IT_PATH_MAX];
    struct it_proc app, objsrv;
};

/* Start n filers, filer i + 1 with weight weights[i] (weights may be NULL:
 * all 100) and --read-only when bit i of ro_mask is set; register them and
 * a shard; start the app (with --stall-s stall_s) and objsrv (the same). */
void it_cluster_start(struct it_cluster *c, size_t n, const unsigned *weights, unsigned ro_mask,
                      unsigned stall_s);
/* The pieces of it_cluster_start, for a case that starts the app or objsrv
 * with arguments of its own, or filers one by one.
 * it_cluster_init: c zeroed, no filer, neither the app nor objsrv running
 * (pid -1), c->db the case's catalog (it_case_db). Starts nothing. */
void it_cluster_init(struct it_cluster *c);
/* Start filer c->n + 1 ("f<id>", no other --id/--dir/--listen) with the
 * extra arguments (strings, NULL-terminated), failing the case unless it
 * gets ready; register it in c->db with weight; count it in c->n. */
void it_cluster_add_filer(struct it_cluster *c, unsigned weight, ...) __attribute__((sentinel));
/* it_cluster_init, n filers (weight 100, no extra arguments) and one shard
 * in c->db. Starts neither the app nor objsrv: the caller does, e.g.
 * it_app_start_ok(&c->app, c->db, ...) and it_objsrv_start_ok(&c->objsrv,
 * c->app.base, ...). */
void it_cluster_start_filers(struct it_cluster *c, size_t n);
/* Stop objsrv, the app and every filer still running; each must exit 0. */
void it_cluster_stop(struct it_cluster *c);

/* Wait (bounded) until the app reports filer id with the given status
 * ("online", "offline") in the record of uuid. */
void it_wait_filer_status(const struct it_cluster *c, const char *uuid, unsigned id,
                          const char *status);
/* Wait (bounded) until the filer summary table of the catalog at db lists
 * filer id with the given status ("online", "offline"). The app's tracker
 * writes that table and takes it as its own view in the same poll, so the
 * app sees the filer so too. */
void it_wait_filer_table(const char *db, unsigned id, const char *status);
/* Filers of c whose store holds a file for object path (it_object_file_size
 * >= 0), running or not. */
unsigned it_cluster_copies(const struct it_cluster *c, const char *path);
/* Every object of recs[0..n): the app's record of it now (it_info: 200)
 * lists exactly replicas filers, all of them filers of c and none of them
 * filer gone (0: any may be listed), with the SHA-512 of recs[i]; each filer
 * it lists serves the bytes (it_get_ok). */
void it_cluster_verify(const struct it_cluster *c, const struct it_record *recs, size_t n,
                       unsigned replicas, unsigned gone);

/* ---- deleting and purging objects (the app) --------------------------------- */

/* DELETE app/v1/objects/UUID (mark the object deleted). Returns the status;
 * checks nothing else. uuid is sent as is (a malformed one gets 400). */
long it_object_delete(const char *app_base, const char *uuid);
/* POST app/v1/objects/UUID/undelete. Returns the status; checks nothing
 * else. */
long it_object_undelete(const char *app_base, const char *uuid);

/* What one purge pass reported (POST /v1/admin/purge). */
struct it_purge_counts {
    int64_t moved, purged, failed, skipped, removed, pending, restored, held;
};

/* POST app/v1/admin/purge: run one purge pass now. Fails the case unless the
 * reply is 200 with every count of struct it_purge_counts as an integer. */
struct it_purge_counts it_purge_now(const char *app_base);

/* ---- maintenance jobs (the app's /v1/admin/jobs) ----------------------------- */

/* POST app/v1/admin/jobs {"kind":kind,"args":<args_json>} (args_json is
 * JSON text, e.g. "{}"). Fails the case unless args_json parses and the app
 * answers 202 with the job's "id". Returns that id; does not wait. */
int64_t it_job_start(const char *app_base, const char *kind, const char *args_json);
/* GET app/v1/admin/jobs/ID. Fails the case unless the app answers 200 with
 * JSON. Returns the job (caller owns; json_decref). */
json_t *it_job_get(const char *app_base, int64_t id);
/* GET app/v1/admin/jobs: the "jobs" array, the 50 most recent, newest
 * first (caller owns; json_decref). Fails the case unless the app answers
 * 200 with one. */
json_t *it_jobs_list(const char *app_base);
/* Poll the job (it_job_get) up to tries times, delay_ms apart (times the
 * multiplier), until its "state" is no longer "running"; fails the case if
 * it never ends. Returns the ended job, whatever its state (caller owns;
 * json_decref). */
json_t *it_job_wait_end(const char *app_base, int64_t id, unsigned tries, unsigned delay_ms);
/* Poll the job up to tries times, delay_ms apart (times the multiplier),
 * until its "done_objects" is at least at_least. Fails the case if it never
 * is, or if the job is seen in any state but "running" meanwhile. */
void it_job_wait_progress(const char *app_base, int64_t id, int64_t at_least, unsigned tries,
                          unsigned delay_ms);
/* it_job_start, then it_job_wait_end (up to 1200 polls 100 ms apart), then
 * fail the case (with the job's "message") unless it ended "done". Returns
 * the job's report (caller owns; json_decref). */
json_t *it_job_run(const char *app_base, const char *kind, const char *args_json);
/* The integer counter name of a job report's "counters" object. Fails the
 * case if there is no "counters" object or no such integer in it. */
int64_t it_job_counter(const json_t *job, const char *name);

/* ---- the scribe ------------------------------------------------------------ */

/* Events of kind (e.g. CF_SCRIBE_REPAIR) in the scribe of the catalog at
 * db_uri (its events table, read directly; up to CF_SCRIBE_QUERY_MAX). Fails
 * the case if the scribe cannot be opened or queried. Sets the log level of
 * the case's process to WARN (no INFO lines from the database layer). */
int64_t it_scribe_count(const char *db_uri, const char *kind);
/* The same, counting only the events whose message contains needle
 * (NULL: every one). A job's events read "job ID (KIND): ..." (job.h). */
int64_t it_scribe_count_msg(const char *db_uri, const char *kind, const char *needle);

#endif
