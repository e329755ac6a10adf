/*
 * gateway_int.h -- private to src/gateway: the upload pipe to the app.
 *
 * A pipe streams one request body to `POST <app>/v1/objects` with chunked
 * encoding while it arrives from the client, over libcurl's multi interface
 * driven from the calling thread (as fanout.h does for filers), so memory is
 * bounded by one piece whatever the size, and a slow app slows the client
 * (back-pressure) instead of growing a buffer.
 *
 * Threads: a pipe belongs to one thread.
 */
#ifndef COFFER_GATEWAY_INT_H
#define COFFER_GATEWAY_INT_H

#include <stddef.h>

#include <jansson.h>

#include "coffer/common.h"

/* The app's reply bodies are one small JSON record. */
#define CF__GATEWAY_REPLY_MAX (64 * 1024)

struct cf__gateway_pipe;

/* Start `POST url` (borrowed). stall_s: the app taking no bytes for this long
 * fails the pipe. On success *out is the pipe (caller owns; release with
 * cf__gateway_pipe_free). Returns 0 or CF_EINTERNAL. */
CF_MUST_CHECK int cf__gateway_pipe_open(const char *url, unsigned stall_s,
                                        struct cf__gateway_pipe **out);

/* Hand n bytes (borrowed; not kept) to the app and wait until it took them.
 * Returns 0, or CF_EUNAVAIL if the transfer ended or stalled (every later
 * call then fails the same way at once). */
CF_MUST_CHECK int cf__gateway_pipe_write(struct cf__gateway_pipe *p, const void *buf, size_t n);

/* End the body and wait for the reply. Returns 0 with *status the HTTP status
 * and *reply its JSON body (caller owns; json_decref; NULL if not JSON), or
 * CF_EUNAVAIL with a reason in err (may be NULL). */
CF_MUST_CHECK int cf__gateway_pipe_finish(struct cf__gateway_pipe *p, long *status, json_t **reply,
                                          char *err);

/* Abort what is still running and release. NULL is a no-op. */
void cf__gateway_pipe_free(struct cf__gateway_pipe *p);

#endif
