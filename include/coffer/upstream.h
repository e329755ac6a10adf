/*
 * upstream.h -- several instances of one service, and which to try next.
 *
 * Role: a role or the CLI that talks to a service given as a comma list of
 * base URLs ("http://a:8200,http://b:8200") chooses the instance of each
 * attempt here. The list keeps a short health memory: an instance that
 * failed (no connection, timed out, reset, or a 502/503/504 reply) is tried
 * after the others for CF_UPSTREAM_HOLD_MS, then like any other. Calls
 * spread over the healthy instances in turn.
 * Ownership: a list owns copies of its URLs; the caller frees it with
 * cf_upstream_free. URLs returned are borrowed from the list.
 * Threads: every function but cf_upstream_parse and cf_upstream_free may be
 * called from several threads at once on one list (the health memory is
 * atomic).
 */
#ifndef COFFER_UPSTREAM_H
#define COFFER_UPSTREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "coffer/common.h"

/* Most instances in one list. */
#define CF_UPSTREAM_MAX 16
/* How long a failed instance is tried after the others. */
#define CF_UPSTREAM_HOLD_MS 3000

struct cf_upstream;

/* Parse list (borrowed): base URLs separated by commas, spaces around them
 * and a trailing '/' dropped, each http:// or https://. Returns 0 with *out
 * (caller owns), or CF_EINVAL (empty, an empty or bad entry, more than
 * CF_UPSTREAM_MAX) with err (may be NULL) naming what, *out NULL. */
CF_MUST_CHECK int cf_upstream_parse(const char *list, struct cf_upstream **out, char *err);

/* Release u (NULL is fine). */
void cf_upstream_free(struct cf_upstream *u);

/* How many instances u has (at least 1). */
size_t cf_upstream_count(const struct cf_upstream *u);

/* The base URL of instance i (< count), without a trailing '/'. */
const char *cf_upstream_url(const struct cf_upstream *u, size_t i);

/* Fill idx[0..count) with every instance once, in the order to try them:
 * the healthy ones first, starting from a point that moves on at each call,
 * then those that failed recently, the oldest failure first. Returns count. */
size_t cf_upstream_order(struct cf_upstream *u, size_t idx[CF_UPSTREAM_MAX]);

/* Record that instance i failed now, or answered. */
void cf_upstream_failed(struct cf_upstream *u, size_t i);
void cf_upstream_ok(struct cf_upstream *u, size_t i);

/* Whether an HTTP status means "this instance cannot serve now, another
 * may": 502, 503, 504. */
bool cf_upstream_retry_status(long status);

/* cf_httpc_json (httpc.h) of method base+path on the instances of u in
 * cf_upstream_order, moving to the next when no reply came or, if
 * idempotent, when the reply is 502/503/504; without idempotent, only a
 * failure to connect moves on (the request never reached the instance).
 * Every pointer borrowed. Returns as cf_httpc_json does for the last
 * attempt (0 with *status and *out, or CF_EUNAVAIL/CF_ETOOLARGE with err),
 * or CF_ETOOLARGE when base+path does not fit in a URL. */
CF_MUST_CHECK int cf_upstream_json(struct cf_upstream *u, const char *method, const char *path,
                                   const json_t *body, long timeout_ms, bool idempotent,
                                   long *status, json_t **out, char *err);

#endif
