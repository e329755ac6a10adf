/*
 * httpc.h -- small blocking HTTP client calls with JSON bodies (libcurl).
 *
 * Role: the control-plane requests roles and the CLI make of each other
 * (a filer's /status, an object's info); bulk bytes go through fanout.h and
 * fetch.h instead. Reply bodies are capped at CF_HTTPC_BODY_MAX.
 * Every request is signed with the process's credential, if any (cred.h).
 * Threads: reentrant; call cf_httpc_global_init once before threads start.
 */
#ifndef COFFER_HTTPC_H
#define COFFER_HTTPC_H

#include <jansson.h>

#include "coffer/common.h"
#include "coffer/sha512.h"

#define CF_HTTPC_BODY_MAX (1024 * 1024)

/* curl_global_init and the per-thread shares of connections and DNS
 * results. Idempotent and thread-safe. Returns 0 or CF_EINTERNAL. */
CF_MUST_CHECK int cf_httpc_global_init(void);

/* Make easy handle h (a CURL *) reuse the calling thread's connection
 * cache, so that requests between roles travel on kept-alive connections
 * instead of a new connection (and, on a libmicrohttpd server, a new
 * thread) each time. h must then be used and cleaned up on this thread
 * only, before the thread exits (libcurl does not support one connection
 * cache for threads running transfers at once). A no-op before
 * cf_httpc_global_init. */
void cf_httpc_share(void *h);

/* Sign the request method url (both borrowed) that transfer h (a CURL *)
 * is about to make with this process's credential (cred.h
 * cf_cred_signer): append the Authorization line to *list (a struct
 * curl_slist **; *list may be NULL, and holds the transfer's other
 * headers) and set *list as h's CURLOPT_HTTPHEADER. Without a credential,
 * *list is set as is. The caller owns *list (curl_slist_free_all) and
 * keeps it until h's transfer is over. Returns 0, or CF_EINTERNAL /
 * CF_EINVAL (url not http[s]://HOST/...) with *list unchanged. Every
 * request of a role to another role goes through this. */
CF_MUST_CHECK int cf_httpc_sign(void *h, const char *method, const char *url, void **list);

/* method url (both borrowed) with an optional JSON body (borrowed, may be
 * NULL), within timeout_ms. On a reply, *status is its HTTP status and
 * *out (may be NULL to ignore) its parsed JSON body (caller owns;
 * json_decref; NULL if the body was empty or not JSON). Returns 0 whenever a
 * reply arrived (whatever its status), or CF_EUNAVAIL (no connection, timed
 * out, reset) / CF_ETOOLARGE (reply body over the cap) with err (may be NULL). */
CF_MUST_CHECK int cf_httpc_json(const char *method, const char *url, const json_t *body,
                                long timeout_ms, long *status, json_t **out, char *err);

/* The X-Coffer-SHA512 (CF_SHA512_HEADER) of the last reply of transfer h
 * (a CURL *, borrowed), read with libcurl's header API: from a write
 * callback once the reply's headers arrived, or after the transfer. The
 * value must be exactly 128 hex digits, in either case. Returns 0 with out
 * filled, CF_ENOTFOUND if the reply has none, or CF_EINVAL if it is
 * malformed. */
CF_MUST_CHECK int cf_httpc_reply_sha512(void *h, uint8_t out[CF_SHA512_LEN]);

#endif
