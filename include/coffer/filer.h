/*
 * filer.h -- the filer role: the storage node's HTTP service over a store.
 *
 * Role: exposes a cf_store (store.h) as the HTTP API documented in
 * README.md ("The filer"): PUT/GET/HEAD/DELETE /o/<path>, GET /status,
 * GET /list. `coffer filer` runs one; `coffer server` embeds several.
 * Tests only: with fault_injection set, the filer also serves
 * GET/POST/DELETE /debug/faults, which arm faults in front of its disk calls
 * (src/filer/faults_int.h has the contract); one filer per process may
 * have it, and it must never be set on a production filer.
 * Threads: a filer serves each connection on its own thread; the functions
 * below are called from one controlling thread.
 */
#ifndef COFFER_FILER_H
#define COFFER_FILER_H

#include <stdbool.h>
#include <stdint.h>

#include "coffer/beat.h"
#include "coffer/common.h"
#include "coffer/role.h"
#include "coffer/conf.h"
#include "coffer/http.h"
#include "coffer/io.h"

struct cf_filer_conf {
    uint64_t id;
    char *dir;
    char *listen;
    uint64_t capacity;
    uint64_t small_max; /* objects up to this size go to volume files; 0: none */
    bool read_only;
    char *log_level;
    /* HTTPS (http.h): PEM certificate and key to serve with; NULL: HTTP. */
    char *tls_cert;
    char *tls_key;
    bool fault_injection;       /* tests only: serve /debug/faults (above) */
    struct cf_http_limits http; /* slow clients (http.h) */
    struct cf_role_beat beat;   /* beat.h: --monitor, --advertise, --dc */
    struct cf_role_auth auth;   /* role.h: keys, --insecure-no-auth */
};

extern const struct cf_conf_opt cf_filer_conf_opts[];
extern const size_t cf_filer_conf_nopts;

struct cf_filer;

/* Open the store and start serving. conf is borrowed; io (NULL for the real
 * system calls) is kept until cf_filer_free; with conf->fault_injection the
 * fault injector wraps it. On success *out is the filer (caller owns;
 * release with cf_filer_free) and *port_out the bound port. Returns 0, or
 * a CF_E* code with the reason in err (may be NULL): CF_EBUSY if
 * fault_injection is set and another filer of this process has it. */
CF_MUST_CHECK int cf_filer_start(const struct cf_filer_conf *conf, const struct cf_io_ops *io,
                                 struct cf_filer **out, uint16_t *port_out, char *err);

/* Read bytes [first, first + len) of the object at path (borrowed,
 * NUL-terminated, an object path as in /o/<path>) into buf (len bytes, the
 * caller's), as GET /o/<path> with that Range does, without HTTP, for a
 * caller in the same process (`coffer server`'s objsrv). xform 0 reads the
 * stored bytes; CF_XFORM_Z/E flags with key (CF_XFORM_KEY_LEN bytes,
 * borrowed; NULL without E) read the plain bytes of a transformed object,
 * as a GET with X-Coffer-Transform does. Nothing is checked against a
 * SHA-512 here (the caller does, as for an HTTP read); a transformed
 * object's frames are authenticated as they decode. The bytes count in
 * the filer's bytes_out. Returns 0, CF_EBADPATH, CF_ENOTFOUND, CF_EINVAL
 * (the range goes past the object's end), CF_EIO, or CF_ECHECKSUM (a
 * transformed object that does not decode), with a detail in err
 * (char[CF_ERR_LEN]). Thread-safe while f serves. */
CF_MUST_CHECK int cf_filer_read(struct cf_filer *f, const char *path, unsigned xform,
                                const uint8_t *key, uint64_t first, uint64_t len, void *buf,
                                char *err);

/* Stop accepting, let requests in flight finish (up to timeout_s), close. */
void cf_filer_drain(struct cf_filer *f, unsigned timeout_s);

/* Drain with no wait if still serving, then release. NULL is a no-op. */
void cf_filer_free(struct cf_filer *f);

/* `coffer filer [options]`: argv holds the options only. Returns the exit status. */
int cf_filer_main(int argc, char **argv);

#endif
