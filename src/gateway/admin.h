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
 * The requests are signed with the gateway's cluster key (httpc.h); each
 * monitor of the comma list is tried in turn until one answers; none: 503.
 *
 * Threads: any; nothing is shared.
 */
#ifndef COFFER_GATEWAY_ADMIN_H
#define COFFER_GATEWAY_ADMIN_H

#include <microhttpd.h>

/* Answer GET /api/v1/admin<rest> from monitors (the --monitor list; NULL or
 * "": none). Returns what the handler should return. */
enum MHD_Result cf__admin_serve(struct MHD_Connection *c, const char *rest, const char *monitors);

#endif
