/*
 * beat.h -- the heartbeat every role instance sends to a monitor, which
 * keeps the instance registry (registry.h, patent 950 "discovery").
 *
 * A role with --monitor URL[,URL...] starts a thread that POSTs, every
 * CF_BEAT_PERIOD_MS, a signed (cluster key, httpc.h) JSON body
 *   {"role", "url", "dc", "version", "started_ms", "status": "up"}
 * to POST /v1/instances of the first monitor in the list that answers
 * (the next one is tried when one fails), and a last one with "status":
 * "down" when it stops. url is --advertise, or made from the listening
 * address (the host name when it listens on every address). Without
 * --monitor nothing is sent. A monitor that hears nothing from an
 * instance for CF_BEAT_DOWN_MS marks it down.
 *
 * Threads: cf_beat_start and cf_beat_stop from one controlling thread; the
 * beat runs on its own thread.
 */
#ifndef COFFER_BEAT_H
#define COFFER_BEAT_H

#include <stdbool.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/conf.h"

#define CF_BEAT_PERIOD_MS 2000u
/* Three periods without a heartbeat: down. */
#define CF_BEAT_DOWN_MS (3u * CF_BEAT_PERIOD_MS)
/* A request to a monitor slower than this is no answer. */
#define CF_BEAT_TIMEOUT_MS 1000L

/* The settings, a member `beat` of a role's configuration struct;
 * CF_ROLE_PLACE_OPTS(OFF) lists advertise and dc (every role, the monitor
 * too), CF_ROLE_BEAT_OPTS(OFF) those and monitor (the other roles). */
struct cf_role_beat {
    char *monitor;   /* comma-separated monitor URLs; NULL or "": no heartbeat */
    char *advertise; /* the URL others reach this instance at; NULL: from --listen */
    char *dc;        /* data-center label; NULL: none */
};

/* clang-format off */
#define CF_ROLE_PLACE_OPTS(OFF)                                                                    \
    {"advertise", CF_CONF_STR, NULL, 0, 0, OFF(beat.advertise),                                   \
     "the URL other hosts reach this instance at, for the registry (default: from --listen)",     \
     false},                                                                                       \
    {"dc", CF_CONF_STR, NULL, 0, 0, OFF(beat.dc),                                                 \
     "the data center this instance runs in, a label for the registry", false}
#define CF_ROLE_BEAT_OPTS(OFF)                                                                     \
    {"monitor", CF_CONF_LIST, NULL, 0, 0, OFF(beat.monitor),                                      \
     "monitor URL(s) this instance heart-beats to every 2 s (none: it is not registered)",        \
     false},                                                                                       \
    CF_ROLE_PLACE_OPTS(OFF)
/* clang-format on */

/* The URL of an instance: b->advertise if set, else "http[s]://HOST:port"
 * with HOST from listen ("HOST:PORT"; empty, 0.0.0.0 or [::]: this
 * machine's host name). out has cap bytes. */
void cf_beat_url(const struct cf_role_beat *b, const char *listen, uint16_t port, bool tls,
                 char *out, size_t cap);

struct cf_beat;

/* Start heart-beating as role (a static string) at url (borrowed; copied),
 * with b's monitors and dc (copied). No monitor: *out is NULL and 0 is
 * returned. Returns 0, CF_EINVAL for a URL too long, or CF_EINTERNAL when
 * the thread cannot start, with err. */
CF_MUST_CHECK int cf_beat_start(const char *role, const struct cf_role_beat *b, const char *url,
                                struct cf_beat **out, char *err);

/* Stop the thread, after a last heartbeat that says "down". NULL is a
 * no-op. */
void cf_beat_stop(struct cf_beat *bt);

#endif
