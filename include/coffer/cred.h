/*
 * cred.h -- credentials between roles: the cluster key, the operator key,
 * and the signature every internal HTTP request carries.
 *
 * Role: a filer, the app, objsrv and the monitor serve only requests signed
 * with a key they know (http.h checks, before the role's handler), so
 * reaching a port or knowing a UUID is not enough to read, list or delete.
 *   Cluster key: 32 random bytes, shared by every role of a system; roles
 *     sign their requests to each other with HMAC-SHA256 under it. File:
 *     one key per line, 64 hex digits; the first line signs, every line is
 *     accepted (two lines while a key is being rotated).
 *   Operator key: an Ed25519 key pair. The private key (file: 64 hex digits,
 *     the seed) is the CLI's, for admin operations; roles hold only the
 *     public key (file: one key per line, 64 hex digits, every line
 *     accepted) and never sign with it.
 * Key files holding a secret must be regular files of the effective user
 * with mode 0600 or stricter; public key files must not be writable by
 * group or others. A file that breaks this is refused with the reason.
 *
 * The header, on one line:
 *   Authorization: Coffer-HMAC-SHA256 kid=K,ts=T,nonce=N,sig=S
 *   Authorization: Coffer-Ed25519 kid=K,ts=T,nonce=N,sig=S
 * K: 8 hex digits, the first 4 bytes of SHA-256 of the key (the public key
 * for Ed25519), naming the key among those accepted. T: the signer's wall
 * clock in ms since the epoch (at most 15 digits). N: 16 to 64 hex digits,
 * random per request. S: lowercase hex of the HMAC (64 digits) or of the
 * Ed25519 signature (128 digits) over the string
 *   "coffer-v1\n" METHOD "\n" TARGET "\n" T "\n" N "\n" HOST
 * TARGET being the request target as sent (path and query, not decoded)
 * and HOST the Host header's value, so a signature holds for one request
 * line to one server. The fields come in this order and nothing else is
 * accepted.
 *
 * Verification: the signature is compared in constant time; T must be
 * within CF_CRED_WINDOW_MS of the verifier's clock; a nonce accepted once
 * is refused again (the replay cache of the cf_cred: CF_CRED_REPLAY_MAX
 * nonces; when it is full the oldest is dropped and signatures not newer
 * than it are refused as stale, so memory stays bounded and no replay is
 * ever accepted).
 *
 * Threads: load and install before threads start; cf_cred_sign* and
 * cf_cred_verify may then be called from any thread at once.
 */
#ifndef COFFER_CRED_H
#define COFFER_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

#define CF_CRED_KEY_LEN       32     /* bytes of a cluster key, of an Ed25519 seed or public key */
#define CF_CRED_KEYS_MAX      4      /* keys accepted per kind (lines of a key file) */
#define CF_CRED_WINDOW_MS     60000  /* accepted clock difference, each way */
#define CF_CRED_REPLAY_MAX    262144 /* nonces remembered (about 6 MiB) */
#define CF_CRED_HEADER_MAX    320    /* an "Authorization: ..." line, with its NUL */
#define CF_CRED_CLUSTER_FILE  "cluster.key"
#define CF_CRED_OPERATOR_FILE "operator.key"
#define CF_CRED_OPERATOR_PUB  "operator.pub"

/* What a request needs (http.h asks the role's classifier). */
enum cf_access {
    CF_ACCESS_PUBLIC,   /* no signature */
    CF_ACCESS_INTERNAL, /* the cluster key or the operator key */
    CF_ACCESS_ADMIN,    /* the operator key only */
};

/* Keys to sign with and to verify against, and a replay cache. Opaque. */
struct cf_cred;

/* An empty credential (signs nothing, accepts nothing). Caller owns;
 * release with cf_cred_free. Cannot fail (aborts on OOM). */
struct cf_cred *cf_cred_new(void);

/* Release c and wipe its keys. NULL is a no-op. */
void cf_cred_free(struct cf_cred *c);

/* Load the cluster key file at path (borrowed): c then signs with its first
 * key (unless it holds an operator private key) and accepts all of them.
 * Returns 0, or CF_EPERM (mode or owner), CF_EINVAL (content), or the errno
 * of open/read, with the reason and path in err (may be NULL); c is then
 * unchanged. */
CF_MUST_CHECK int cf_cred_load_cluster(struct cf_cred *c, const char *path, char *err);

/* Load the operator public key file: c accepts its keys. Returns as above. */
CF_MUST_CHECK int cf_cred_load_operator_pub(struct cf_cred *c, const char *path, char *err);

/* Load the operator private key file: c signs with it (Ed25519), in
 * preference to a cluster key. Returns as above. */
CF_MUST_CHECK int cf_cred_load_operator_key(struct cf_cred *c, const char *path, char *err);

/* Whether c has a key to sign with. */
bool cf_cred_can_sign(const struct cf_cred *c);

/* Create the key files DIR/cluster.key, DIR/operator.key (both 0600) and
 * DIR/operator.pub (0644) with fresh random keys, each written whole to a
 * temporary name and renamed (never half a key). With excl false an
 * existing key file is kept and the missing ones are made (operator.pub
 * from operator.key); with excl true nothing is made if any of the three
 * exists (CF_EEXIST). Sets *made (may be NULL) to the number of files
 * created. Returns 0, CF_EEXIST, or an I/O error, with err. */
CF_MUST_CHECK int cf_cred_make_files(const char *dir, bool excl, unsigned *made, char *err);

/* Write into out (cap bytes) the line "Authorization: <scheme> kid=..." for
 * method and target to host (all borrowed, NUL-terminated) at ts_ms with
 * nonce (16 to 64 hex digits). Returns 0, CF_EINVAL (no signing key, bad
 * nonce) or CF_ETOOLARGE (cap too small). */
CF_MUST_CHECK int cf_cred_sign_parts(const struct cf_cred *c, const char *method, const char *host,
                                     const char *target, uint64_t ts_ms, const char *nonce,
                                     char *out, size_t cap);

/* The same for a request to url ("http[s]://HOST[:PORT]/TARGET"), now, with
 * a random nonce: the Host is what libcurl sends for url (the port left out
 * when it is the scheme's default). Returns 0 or CF_EINVAL (no key, a URL
 * of another shape) / CF_ETOOLARGE. */
CF_MUST_CHECK int cf_cred_sign_url(const struct cf_cred *c, const char *method, const char *url,
                                   char out[CF_CRED_HEADER_MAX]);

/* Check the Authorization value auth (may be NULL: missing) of a request
 * (method, target as sent, host header; host may be NULL) that needs
 * `need`, at now_ms. Returns 0 when allowed (the nonce is then used up),
 * CF_EAUTH (missing, malformed, unknown key, stale, bad signature, replay;
 * 401) or CF_EPERM (an admin request signed with the cluster key; 403),
 * with the reason in err (may be NULL). CF_ACCESS_PUBLIC always returns 0. */
CF_MUST_CHECK int cf_cred_verify(struct cf_cred *c, enum cf_access need, const char *method,
                                 const char *target, const char *host, const char *auth,
                                 uint64_t now_ms, char *err);

/* Signed URLs: a read of one object that a filer serves to a caller
 * holding no key (a client the gateway redirected), for a short while.
 * The query, appended to "<filer>/s/<path>":
 *   exp=T&kid=K&sig=S
 * T: the expiry, wall clock ms since the epoch; K as above (a cluster
 * key); S: 64 hex digits, HMAC-SHA256 under that key of
 *   "coffer-url-v1\n" PATH "\n" T
 * PATH being the object's path on the filer (objpath.h), so a URL holds
 * for that one object, for GET and HEAD, until T; it may be used again
 * within that time (a client resuming a download). A verifier refuses a
 * T more than CF_CRED_URL_TTL_MAX_MS ahead of its clock. */
#define CF_CRED_URL_TTL_MAX_MS 3600000u
#define CF_CRED_URL_QUERY_MAX  128 /* "exp=...&kid=...&sig=..." with its NUL */

/* Write the query above for path (borrowed) and exp_ms into out. Returns 0
 * or CF_EINVAL (c holds no cluster key, path empty or over 1 KiB). */
CF_MUST_CHECK int cf_cred_url_sign(const struct cf_cred *c, const char *path, uint64_t exp_ms,
                                   char out[CF_CRED_URL_QUERY_MAX]);

/* Check a signed URL's fields (each borrowed, may be NULL: missing) for
 * path at now_ms against c's cluster keys. Returns 0 when the URL is
 * good; CF_EAUTH (missing or malformed field, unknown key, bad signature:
 * 401) or CF_EPERM (expired, or an expiry too far ahead: 403), with the
 * reason in err (may be NULL). Thread-safe. */
CF_MUST_CHECK int cf_cred_url_verify(const struct cf_cred *c, const char *path, const char *exp,
                                     const char *kid, const char *sig, uint64_t now_ms, char *err);

/* The credential this process signs its outgoing requests with (httpc.h
 * and the cluster transfers call cf_cred_signer): a copy of c's signing
 * keys (c is borrowed), kept until the process exits; NULL: sign nothing.
 * At most 16 installs per process. */
void cf_cred_install(const struct cf_cred *c);
const struct cf_cred *cf_cred_signer(void);

#endif
