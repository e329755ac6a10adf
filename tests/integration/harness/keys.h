/*
 * keys.h -- the keys of a case (cred.h): every role the harness starts
 * gets the case's cluster key and operator public key, every `coffer`
 * command the operator key (COFFER_OPERATOR_KEY_FILE), and the harness's
 * own requests to roles are signed with the operator key, so tests speak
 * to the roles as the operator would.
 *
 * Role: the key files are made on first use, in the case directory
 * (cluster.key, operator.key, operator.pub); `coffer server` started by
 * the harness gets the same ones in its data directory. Requests to a base
 * marked public (a gateway: its callers carry tokens) are not signed, nor
 * those whose caller gives its own Authorization header.
 * Threads: it_keys_* from the case's main thread, before other threads
 * start; it_sign_* from any thread.
 */
#ifndef COFFER_IT_KEYS_H
#define COFFER_IT_KEYS_H
#include <stdbool.h>
#include <stddef.h>

#include "coffer/cred.h"
#include "harness/runner.h"

/* The case's key files (made on first call). */
const char *it_keys_cluster(void);
const char *it_keys_operator(void);
const char *it_keys_operator_pub(void);

/* Link the case's three key files into dir (made if missing), so that a
 * `coffer server --data dir` uses them. */
void it_keys_link_into(const char *dir);

/* Requests to base ("http://127.0.0.1:PORT") go unsigned from now on. */
void it_keys_public_base(const char *base);
bool it_keys_is_public(const char *base);

/* The credentials of the case, loaded on first use: the operator's (signs
 * with the operator key) and a role's (signs with the cluster key).
 * Valid until the case ends. */
struct cf_cred *it_keys_operator_cred(void);
struct cf_cred *it_keys_cluster_cred(void);

/* The Authorization line (without CR LF) signing method target (as sent)
 * with the operator key, for a request whose Host header is host. For the
 * raw requests of raw.h. */
void it_sign_line(char out[CF_CRED_HEADER_MAX], const char *method, const char *target,
                  const char *host);
#endif
