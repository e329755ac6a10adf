/*
 * admin.h -- private to src/gateway: the operator's view of the system on
 * the gateway, for the web page's Admin view.
 *
 * Role: read-only JSON from the monitor (monitor.h), passed through as the
 * monitor answered it, for callers gateway.c has already found to be
 * operators (admin users of the --operator-client):
 *   GET /api/v1/admin/filers     the monitor's GET /v1/filers
 *   GET /api/v1/admin/instances  the monitor's GET /v1/instances
 *   GET /api/v1/admin/events     the monitor's GET /v1/log, with only its
 *        arguments since, until, filer, after, limit (decimal numbers) and
 *        kind (a scribe kind) passed on; anything else is 400
 * and from the app (app.h), its read-only views:
 *   GET /api/v1/admin/jobs       the app's GET /v1/jobs: the 50 most recent
 *        maintenance jobs with their progress (job.h); read-only, starting
 *        and stopping jobs stays with the operator key (coffer jobs)
 *   GET /api/v1/admin/jobs/N     the app's GET /v1/jobs/N
 *   GET /api/v1/admin/stats      the app's GET /v1/stats: records, aliases,
 *        replica_deficit, stale_replicas, replicas, counted_ms
 * The requests are signed with the gateway's cluster key (httpc.h); each
 * monitor of the comma list is tried in turn until one answers, the app's
 * instances as upstream.h does; none: 503.
 * And, from the file system database, for the admin users of any client
 * (cf__admin_users checks):
 *   GET /api/v1/admin/users      {"users":[{id, name, admin, disabled,
 *        created_ms, groups:[{id, name}]}]}: the caller's client's users
 *        and the groups each belongs to
 *   GET /api/v1/admin/perms/PATH {"path", "folder", "entries":[{kind
 *        ("user" or "group"), id, name, level ("none", "read",
 *        "read-write")}]}: the permission entries set on the folder PATH
 *        itself (fsdb.h cf_fsdb_perm_list); 404 no such folder
 *   GET /api/v1/admin/groups     {"groups":[{id, name, members:[{id,
 *        name}]}]}: the groups not in the groups trash
 *   GET /api/v1/admin/group-trash {"groups":[{id, name, deleted_ms,
 *        by_user}]}: the groups trash (fsdb.h cf_fsdb_group_delete)
 * and the writes, each 204 with no body unless said:
 *   POST /users {"name", "password", "admin": bool (optional)}: 201 {id,
 *        name, admin}; the password has CF_AUTH_PASSWORD_MIN..MAX bytes and
 *        is stored hashed as the CLI does (auth.h)
 *   PATCH /users/NAME {"disabled": bool, "password"}: either or both; an
 *        admin cannot disable itself (400)
 *   POST /groups {"name"}: 201 {id, name}
 *   DELETE /groups/NAME: to the groups trash
 *   PUT|DELETE /groups/NAME/members/USER: add or remove a member
 *   POST /group-trash/ID: restore; DELETE /group-trash/ID: purge for good
 *   PUT /perms/PATH {"user"|"group": NAME, "level"}: set an entry
 *   DELETE /perms/PATH?user=NAME|group=NAME: remove one
 * Bodies are JSON objects with only the members named (else 400); unknown
 * user or group 404, a name taken 409, a bad name or level 400, a caller
 * that is not an admin of its client 403.
 *
 * Threads: any; nothing is shared.
 */
#ifndef COFFER_GATEWAY_ADMIN_H
#define COFFER_GATEWAY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

struct cf_fsdb;
struct cf_upstream;

/* Answer GET /api/v1/admin<rest> from monitors (the --monitor list; NULL or
 * "": none) or app (the --app instances, borrowed). Returns what the
 * handler should return. */
enum MHD_Result cf__admin_serve(struct MHD_Connection *c, const char *rest, const char *monitors,
                                struct cf_upstream *app);

/* Whether rest (after /api/v1/admin) is one of the user, group and
 * permission endpoints above, answered by cf__admin_accounts. */
bool cf__admin_is_accounts(const char *rest);

/* Answer method (any; GET and HEAD need no body) on /api/v1/admin<rest>
 * (cf__admin_is_accounts, decoded) for user of client (from a verified
 * token), with the request body (borrowed, len bytes; the caller bounds
 * it). fs is borrowed. Returns what the handler should return. */
enum MHD_Result cf__admin_accounts(struct MHD_Connection *c, struct cf_fsdb *fs, uint64_t client,
                                   uint64_t user, const char *method, const char *rest,
                                   const char *body, size_t len);

/* Answer GET /api/v1/admin/users for user of client (from a verified
 * token): 403 unless that user is an admin of client, else the listing
 * above, or the database's error. fs is borrowed. */
enum MHD_Result cf__admin_users(struct MHD_Connection *c, struct cf_fsdb *fs, uint64_t client,
                                uint64_t user);

/* Answer GET /api/v1/admin/perms<path> (path "" or "/...", decoded) for
 * user of client likewise. */
enum MHD_Result cf__admin_perms(struct MHD_Connection *c, struct cf_fsdb *fs, uint64_t client,
                                uint64_t user, const char *path);

#endif
