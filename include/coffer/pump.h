/*
 * pump.h -- stream one request body to several HTTP servers at once.
 *
 * Role: the one upload pump of coffer (DESIGN §2: the body is streamed
 * without being staged on disk or held whole in memory). The app's fan-out
 * to r filers (fanout.h, and through it replica copies) and the gateway's
 * upload to the app both run on it. The body arrives in pieces. The first
 * is handed out at once (the targets see the request begin); later pieces
 * smaller than CF_PUMP_PIECE are gathered (copied) in a stage of that size,
 * which is handed to every running target once full (or at cf_pump_finish);
 * a larger piece arriving with nothing staged is handed out as it is, each
 * target's transfer reading straight from the caller's bytes. Either way
 * cf_pump_write returns only once every running target has taken what was
 * handed out, so memory is bounded by one stage and one piece whatever the
 * body's size, and a slow target slows the writer (back-pressure) instead
 * of growing a buffer.
 *
 * On the wire, each target gets `<method> <url>` with a chunked body and no
 * "Expect: 100-continue" round trip. With opts.sha_trailer, the request
 * announces "Trailer: X-Coffer-SHA512" and the body ends with that trailer,
 * the digest given to cf_pump_finish (known only at the end), so a filer
 * verifies the bytes before it commits them.
 *
 * Stalls. While the body is being written, a target that has bytes of the
 * current piece to take and takes none for stall_s seconds fails
 * (CF_PUMP_STALLED); a target that took its share and waits for the next
 * piece, or for another target, is not stalled. Once the body has ended, a
 * target that has not replied within reply_s seconds of cf_pump_finish fails
 * the same way. stall_s is also the connect timeout.
 *
 * Targets are independent: one that stops running (refused, reset,
 * stalled, or it replied before the body ended) takes no more bytes and
 * the others go on. The pump judges nothing by HTTP status or reply body:
 * the caller reads them (cf_pump_state, opts.on_reply, cf_pump_reply_sha512)
 * and decides.
 *
 * Errors and logging: only cf_pump_new can fail as a call; the outcome of
 * each target is its state. The pump logs nothing: the caller, which knows
 * what the target is, logs.
 *
 * Threads: a cf_pump is made, driven and freed on one thread (its transfers
 * use that thread's connection cache, httpc.h, and multi handle); distinct
 * pumps run concurrently, and one thread may run two at once. Callbacks run
 * on that thread, inside cf_pump_write and cf_pump_finish.
 */
#ifndef COFFER_PUMP_H
#define COFFER_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/sha512.h"

/* Most targets of one pump. */
#define CF_PUMP_MAX 16

/* Bytes of the stage small pieces are gathered in; also each target's
 * libcurl upload buffer (about that much more per target). */
#define CF_PUMP_PIECE (64 * 1024)

struct cf_pump;

/* Bytes p[0..n) (borrowed for the call) of target's reply body, in order,
 * as they arrive. */
typedef void (*cf_pump_reply_cb)(void *ctx, size_t target, const char *p, size_t n);

struct cf_pump_opts {
    const char *method;         /* "PUT", "POST", ...; borrowed during cf_pump_new */
    const char *const *urls;    /* n URLs; borrowed during cf_pump_new */
    size_t n;                   /* 1..CF_PUMP_MAX targets */
    unsigned stall_s;           /* see Stalls above; > 0 */
    unsigned reply_s;           /* see Stalls above; > 0 */
    bool sha_trailer;           /* end the body with the X-Coffer-SHA512 trailer */
    const char *const *headers; /* more "Name: value" lines, NULL-ended; may be NULL;
                                   borrowed during cf_pump_new */
    cf_pump_reply_cb on_reply;  /* may be NULL: reply bodies are dropped */
    void *ctx;                  /* passed to on_reply; kept until cf_pump_free */
};

enum cf_pump_state {
    CF_PUMP_RUNNING = 0, /* sending, or waiting for the reply */
    CF_PUMP_REPLIED,     /* a whole reply arrived, whatever its status */
    CF_PUMP_BROKEN,      /* the transfer failed without a whole reply */
    CF_PUMP_STALLED,     /* it took no bytes, or did not reply, in time */
};

/* Connect to the n targets of o (borrowed during the call; o->ctx is kept)
 * and start their requests. On success *out is the pump (caller owns;
 * release with cf_pump_free). Returns 0, CF_EINVAL (n out of range), or
 * CF_EINTERNAL (libcurl could not make a transfer); *out is untouched on
 * failure. */
CF_MUST_CHECK int cf_pump_new(const struct cf_pump_opts *o, struct cf_pump **out);

/* Give the n bytes at buf (borrowed; not kept after return) to every
 * running target: stage them, or hand them out, and wait until each target
 * has taken what was handed out or stopped running. Staged bytes go out
 * when the stage fills or at cf_pump_finish.
 * Returns how many targets are still CF_PUMP_RUNNING: 0 means none will
 * take more (each state says why). Not after cf_pump_finish. */
CF_MUST_CHECK int cf_pump_write(struct cf_pump *p, const void *buf, size_t n);

/* End the body and wait until every target has replied or failed, so that
 * no target is CF_PUMP_RUNNING after it. sha (borrowed) is the trailer's
 * digest when the pump was made with sha_trailer; NULL sends the trailer
 * section empty (the receiver then checks nothing against it). It is
 * ignored without sha_trailer. Call once. */
void cf_pump_finish(struct cf_pump *p, const uint8_t *sha);

/* The state of target i (< n). For CF_PUMP_REPLIED, *status (may be NULL)
 * is the reply's HTTP status; for CF_PUMP_BROKEN and CF_PUMP_STALLED, *why
 * (may be NULL) is libcurl's one-line reason (a static string). Outputs
 * for other states are left untouched. */
enum cf_pump_state cf_pump_state(const struct cf_pump *p, size_t i, long *status, const char **why);

/* The X-Coffer-SHA512 of target i's reply (i < n; CF_PUMP_REPLIED), as
 * cf_httpc_reply_sha512: 0 with out filled, CF_ENOTFOUND or CF_EINVAL. */
CF_MUST_CHECK int cf_pump_reply_sha512(const struct cf_pump *p, size_t i,
                                       uint8_t out[CF_SHA512_LEN]);

/* The value of header name (borrowed) in target i's reply (i < n;
 * CF_PUMP_REPLIED), copied into buf (cap bytes, NUL-terminated). Returns 0,
 * CF_ENOTFOUND (no such header) or CF_ETOOLARGE (over cap - 1 bytes). */
CF_MUST_CHECK int cf_pump_reply_header(const struct cf_pump *p, size_t i, const char *name,
                                       char *buf, size_t cap);

/* Abort the transfers still running and release. NULL is a no-op. */
void cf_pump_free(struct cf_pump *p);

#endif
