/*
 * probe.h -- synthetic probes: one small object uploaded through the app,
 * downloaded through objsrv and compared, then deleted, each step timed,
 * as a user's request would meet the system (the patent's probes, 958).
 *
 * Role: cf_probe_round does one round and says how it went; the monitor's
 * prober thread runs rounds every --probe-interval-s and turns them into
 * metrics and events (monitor.h). The object is deleted like any other:
 * marked at once, its replicas purged after the app's retention.
 *
 * Requests are signed with the process's credential (httpc.h): the
 * cluster key is enough.
 *
 * Threads: reentrant; each round blocks for up to three timeouts.
 *
 * Implemented in src/monitor/probe.c.
 */
#ifndef COFFER_PROBE_H
#define COFFER_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "coffer/common.h"
#include "coffer/err.h"
#include "coffer/uuid.h"

/* Bytes of a probe object. */
#define CF_PROBE_SIZE 4096

/* The steps of a round, in order. */
enum cf_probe_op { CF_PROBE_PUT, CF_PROBE_GET, CF_PROBE_DELETE, CF_PROBE_OPS };

/* What one round did. */
struct cf_probe_result {
    bool ok;                      /* every step succeeded */
    enum cf_probe_op failed;      /* the step that failed, when !ok */
    double seconds[CF_PROBE_OPS]; /* each step's time; < 0: not reached */
    char uuid[CF_UUID_SIZE];      /* the object, "" if the upload failed */
    char err[CF_ERR_LEN];         /* why it failed, when !ok */
};

/* "put", "get" or "delete". */
const char *cf_probe_op_name(enum cf_probe_op op);

/* One round against app and objsrv (base URLs, borrowed): POST
 * /v1/objects with CF_PROBE_SIZE random bytes and their X-Coffer-SHA512
 * (201), GET /v1/objects/UUID from objsrv (200, the same bytes), DELETE
 * /v1/objects/UUID at the app (204); each step may take timeout_ms. A
 * failed step ends the round, but an object uploaded is still deleted
 * (that delete is not timed). Fills *r (caller's). Returns 0 when the
 * round ran, whatever it found (r->ok says), or CF_EINTERNAL when it
 * could not (no random bytes, no HTTP handle). */
CF_MUST_CHECK int cf_probe_round(const char *app, const char *objsrv, long timeout_ms,
                                 struct cf_probe_result *r);

#endif
