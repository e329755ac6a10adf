/*
 * gateway_int.h -- private to src/gateway: the limits its files share, and
 * what gateway.c lends s3.c (the S3 API, a second listener of the gateway
 * over the same files): uploads streamed to the app and recorded in fsdb,
 * verified downloads from objsrv.
 *
 * Threads: the functions are called on connection threads and on s3.c's
 * assembly workers, concurrently; a struct cf__gateway_put belongs to one
 * request and is used by one thread at a time (handed over by thread
 * creation and join).
 */
#ifndef COFFER_GATEWAY_INT_H
#define COFFER_GATEWAY_INT_H

/* The app's reply to an upload is one small JSON record; a longer reply
 * fails the upload. */
#define CF__GATEWAY_REPLY_MAX (64 * 1024)

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

#include "coffer/fsdb.h"
#include "coffer/gateway.h"

struct cf__gateway_put;

/* The gateway's file system database (valid until cf_gateway_free). */
struct cf_fsdb *cf__gateway_fs(struct cf_gateway *g);

/* The gateway's request-signature checker (http.h opts.auth), so that a
 * second listener guards /metrics as the first does; NULL with
 * --insecure-no-auth. Valid until cf_gateway_free. */
struct cf_cred *cf__gateway_cred(struct cf_gateway *g);

/* An upload of a new version of `name` (borrowed; checked by fsdb at the
 * end) in client's folder by user, streamed to the app as it is written.
 * The caller checked the user's permission. On success *out is the upload
 * (caller owns; cf__gateway_put_free). Returns 0, CF_EINVAL (name), an fsdb
 * error, or CF_EINTERNAL, with err. */
int cf__gateway_put_new(struct cf_gateway *g, uint64_t client, uint64_t user, uint64_t folder,
                        const char *name, struct cf__gateway_put **out, char *err);

/* Pass n bytes of the body on (blocking while the app is slow: back-
 * pressure). A failure is kept and reported by cf__gateway_put_end. */
void cf__gateway_put_write(struct cf__gateway_put *p, const char *buf, size_t n);

/* End the body and wait for the app. keep: record the file version
 * (0 with *e the file's entry); !keep: the bytes failed the caller's check,
 * so the stored object is handed back to the delete service and nothing is
 * recorded (0, *e untouched). Returns 0 or an error with err (CF_EUNAVAIL:
 * the app failed; CF_EINDOUBT: the record may or may not be committed). */
int cf__gateway_put_end(struct cf_gateway *g, struct cf__gateway_put *p, bool keep,
                        struct cf_fsdb_entry *e, char *err);

/* End the body and keep the stored object without naming it by any file
 * (an S3 part): *out its uuid, size and SHA-512 (by_user set). The caller
 * records it and releases it when done (cf__gateway_release). Returns 0
 * or an error with err (CF_EUNAVAIL: the app failed). */
int cf__gateway_put_object(struct cf_gateway *g, struct cf__gateway_put *p, struct cf_fsdb_put *out,
                           char *err);

/* Pass the bytes of the stored object uuid (size, sha512; borrowed) on to
 * p, read from objsrv as downloads are (the next objsrv on a failure; the
 * whole object verified against sha512), one block in memory. Blocks while
 * the app is slow. Returns 0, CF_ECORRUPT, CF_EUNAVAIL or CF_EINTERNAL with
 * err; p must then be ended with keep false. */
int cf__gateway_put_copy(struct cf_gateway *g, struct cf__gateway_put *p, const char *uuid,
                         uint64_t size, const uint8_t *sha512, char *err);

/* As cf__gateway_put_copy, but only the bytes [first, first + len) of the
 * object are passed on to p, and to seen(ctx, ...) (may be NULL) as they
 * go; the whole object is still read, to verify it against sha512, so a
 * corrupt source fails the copy. Returns as cf__gateway_put_copy, or
 * CF_EINVAL when the range is not inside the object (nothing read). */
int cf__gateway_put_copy_range(struct cf_gateway *g, struct cf__gateway_put *p, const char *uuid,
                               uint64_t size, const uint8_t *sha512, uint64_t first, uint64_t len,
                               void (*seen)(void *ctx, const char *buf, size_t n), void *ctx,
                               char *err);

/* Hand client's objects gone (borrowed; already recorded as pending
 * release in fsdb) to the app's delete service now; those it does not
 * take stay pending for the trash retention pass. */
void cf__gateway_release(struct cf_gateway *g, uint64_t client, const struct cf_fsdb_uuid *gone,
                         size_t n);

/* Release. NULL is a no-op. */
void cf__gateway_put_free(struct cf__gateway_put *p);

/* Reply with the bytes of file e's current version (borrowed), verified,
 * honouring Range (the caller answers an unsatisfiable one itself), with
 * the extra headers (NULL-terminated name, value pairs, borrowed; a
 * Content-Type among them replaces the default). */
enum MHD_Result cf__gateway_serve(struct cf_gateway *g, struct MHD_Connection *c,
                                  const struct cf_fsdb_entry *e, const char *const *headers);

/* As cf__gateway_serve, but only the bytes first..last (inclusive;
 * last < e->size) of the version, as 206 Partial Content with its
 * Content-Range, whatever the request's Range says; the whole object's
 * window is read verified. */
enum MHD_Result cf__gateway_serve_window(struct cf_gateway *g, struct MHD_Connection *c,
                                         const struct cf_fsdb_entry *e, uint64_t first,
                                         uint64_t last, const char *const *headers);

/* ---- s3.c: the S3 listener ---- */

struct cf__s3;

/* Start the S3 API on conf->s3_listen for g (kept until cf__s3_free). On
 * success *out (caller owns; cf__s3_free) and *port. Returns 0 or a CF_E*
 * code with err; nothing is left running on failure. */
int cf__s3_start(struct cf_gateway *g, const struct cf_gateway_conf *conf, struct cf__s3 **out,
                 uint16_t *port, char *err);

/* Stop accepting, let requests finish (up to timeout_s). */
void cf__s3_drain(struct cf__s3 *s, unsigned timeout_s);

/* Drain with no wait if still serving, then release. NULL is a no-op. */
void cf__s3_free(struct cf__s3 *s);

#endif
