/*
 * harness.h -- the integration-test harness: real `coffer` processes on
 * 127.0.0.1, each case in a child with a hard deadline, bytes checked by
 * SHA-512 (STYLE 2.8).
 *
 * Role: the one header every tests/integration/it_*.c includes. The harness
 * is split by concern; each part's header states its contract:
 *   harness/runner.h   the case runner (forked cases, deadlines scaled by
 *                      COFFER_TEST_TIMEOUT_MULTIPLIER, temp directories,
 *                      logs on failure), failing checks, bounded polling
 *   harness/payload.h  deterministic payloads and their SHA-512s
 *   harness/proc.h     filers, the other roles, `coffer server` and
 *                      one-shot commands, started and stopped by PID
 *   harness/http.h     HTTP over libcurl: one request, a batch, JSON, the
 *                      filer's object requests, /metrics samples
 *   harness/raw.h      raw TCP requests to a filer
 *   harness/disk.h     a filer's directory: object files checked and
 *                      damaged, temporaries counted
 *   harness/cluster.h  filers + app + objsrv with their catalog, records,
 *                      uploads and downloads, purge, jobs, the scribe
 *   harness/proxy.h    a TCP proxy that sees, changes or cuts the bytes
 *                      between two processes
 * Each part includes only parts listed before it.
 */
#ifndef COFFER_IT_HARNESS_H
#define COFFER_IT_HARNESS_H

#include "harness/runner.h"
#include "harness/payload.h"
#include "harness/keys.h"
#include "harness/proc.h"
#include "harness/http.h"
#include "harness/raw.h"
#include "harness/disk.h"
#include "harness/cluster.h"
#include "harness/proxy.h"

#endif
