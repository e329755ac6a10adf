/*
 * lease.h -- a named duty held by one process of the cluster at a time:
 * a lease row in the catalog.
 *
 * Role: several apps, gateways and monitors may run on one catalog; some
 * work must be done by one of them only (the active monitor, the app that
 * purges, the gateway that empties the trash). Each such duty has a name
 * ("monitor", "app.purge", "gateway.trash"); the process that holds the
 * lease of that name does the work, the others wait and take the lease
 * over when it expires.
 *
 * The row (table `leases` in the catalog): name, holder (the text that
 * names the holding process; "" when free), expires_ms (the holder's wall
 * clock at its last take or renewal, plus the lease's ttl), epoch (one more
 * at every change of holder). Every change is one compare-and-set UPDATE,
 * so it is atomic on SQLite and on PostgreSQL alike:
 *   take     holder := me, epoch + 1     where the row is free or expired
 *   renew    expires_ms := now + ttl     where holder = me and epoch = mine
 *   release  holder := "", expires := 0  where holder = me and epoch = mine
 *
 * The holder's contract. A process may do the duty's work only while
 * cf_lease_held() is true: from a successful take or renewal until
 * started + ttl - ttl/5, where started is its monotonic clock just before
 * that statement was sent (so a statement that is slow to answer only
 * shortens the time). A failed or lost renewal leaves the time to run out:
 * the holder must then stop the duty at once, before any further write of
 * it; a unit of work already under way must be bounded so that it ends
 * before the lease expires in the row (the ttl/5 margin). Another process
 * takes the lease only after expires_ms has passed on its own wall clock;
 * the margin also covers a skew of up to ttl/5 between the hosts' wall
 * clocks (run NTP). With the defaults (ttl 5 s, renewed every ttl/5 = 1 s)
 * a holder that dies is replaced within ttl + one renewal period: 6 s.
 *
 * Why a lease row and not pg_advisory_lock: a session-level advisory lock
 * lives as long as the server keeps the session. A holder cut off from the
 * network keeps it until TCP notices the dead peer (keepalives: minutes by
 * default), and during that time no other process can take over, while the
 * cut-off holder cannot know whether it still holds the lock without a
 * round trip. A lease expires by itself after a bounded time that both
 * sides can compute, and the same SQL works on SQLite, where the embedded
 * system and the tests run. The epoch fences: a holder that lost the lease
 * and comes back cannot renew the new holder's lease.
 *
 * Errors: db.h codes with a detail in err (may be NULL); a failed statement
 * counts as "not renewed".
 * Threads: cf_lease_held, cf_lease_epoch and cf_lease_read are thread-safe;
 * cf_lease_try is serialized with the renewal thread of cf_lease_start. A
 * gauge coffer_lease_held{lease="NAME"} is 1 while held.
 */
#ifndef COFFER_LEASE_H
#define COFFER_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

/* The default time to live of a lease, in milliseconds. */
#define CF_LEASE_TTL_MS 5000
/* Longest lease name and holder text, in bytes. */
#define CF_LEASE_NAME_MAX   64
#define CF_LEASE_HOLDER_MAX 256

struct cf_lease;

/* A handle on the lease named name (borrowed; 1..CF_LEASE_NAME_MAX bytes)
 * in the catalog at uri (borrowed; its own connection; the table is created
 * if missing), for this process: the holder text is label (borrowed, e.g.
 * "monitor http://10.0.0.5:8203") followed by " host:pid:random", so two
 * processes never share one. ttl_ms 0 takes CF_LEASE_TTL_MS (at least 500).
 * Takes nothing yet. On success *out is the handle (caller owns;
 * cf_lease_close). Returns 0, CF_EINVAL (bad name or ttl), or a db.h error. */
CF_MUST_CHECK int cf_lease_open(const char *uri, const char *name, const char *label,
                                uint64_t ttl_ms, struct cf_lease **out, char *err);

/* Take the lease if it is free or expired, or renew it if this handle holds
 * it. Returns 1 (held now, until the time stated above), 0 (another holder
 * has it), or a db.h error (then it counts as not renewed: held only until
 * the earlier time runs out). */
CF_MUST_CHECK int cf_lease_try(struct cf_lease *l, char *err);

/* Call cf_lease_try every ttl/5 on a thread of its own until cf_lease_close
 * (failures logged at WARN, changes of state at INFO). Returns 0, or
 * CF_EINTERNAL (no thread); calling it twice is CF_EINVAL. */
CF_MUST_CHECK int cf_lease_start(struct cf_lease *l);

/* Whether this process may do the duty now (see the contract above). */
bool cf_lease_held(const struct cf_lease *l);

/* Milliseconds the duty may still run (0: not held): a holder whose work
 * stops with a delay (a request in flight) stops once this falls below
 * that delay. */
uint64_t cf_lease_left_ms(const struct cf_lease *l);

/* The epoch of the lease as this handle last took it (0: never). */
uint64_t cf_lease_epoch(const struct cf_lease *l);

/* This handle's holder text (valid until cf_lease_close). */
const char *cf_lease_me(const struct cf_lease *l);

/* Read the row: holder (cap bytes, "" if free or absent), its expiry (wall
 * clock ms, 0 if free) and epoch. Any pointer may be NULL. Returns 0 or a
 * db.h error. */
CF_MUST_CHECK int cf_lease_read(struct cf_lease *l, char *holder, size_t cap, uint64_t *expires_ms,
                                uint64_t *epoch, char *err);

/* Give the lease up now if held (so another process takes it at once,
 * without waiting for the expiry). Returns 0 or a db.h error; either way
 * cf_lease_held is false afterwards, until the next successful try. */
CF_MUST_CHECK int cf_lease_release(struct cf_lease *l, char *err);

/* Stop the renewal thread, release the lease if held (errors logged) and
 * close. NULL is a no-op. */
void cf_lease_close(struct cf_lease *l);

#endif
