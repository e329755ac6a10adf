/*
 * httpc.h -- small blocking HTTP client calls with JSON bodies (libcurl).
 *
 * Role: the control-plane requests roles and the CLI make of each other
 * (a filer's /status, an object's info); bulk bytes go through fanout.h and
 * fetch.h instead. Reply bodies are capped at CF_HTTPC_BODY_MAX.
 * TLS: every handle a role or the CLI makes gets cf_httpc_tls, so https://
 * URLs are verified (peer certificate and host name, never turned off)
 * against the CA file given to cf_httpc_tls_init, or the system's CAs when
 * none was. A request never falls back to plain HTTP.
 * Every request is signed with the process's credential, if any (cred.h).
 * Threads: reentrant; call cf_httpc_global_init and cf_httpc_tls_init once
 * before threads start.
 */
#ifndef COFFER_HTTPC_H
#define COFFER_HTTPC_H

#include <jansson.h>

#include "coffer/buf.h"
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

/* Lend the calling thread's reusable easy handle (a CURL *), reset and
 * with the thread's connection cache (cf_httpc_share), or a new one when it
 * is lent already. Give it back with cf_httpc_easy_give on the same thread
 * (which resets it) once its transfer is over and it is out of any multi
 * handle. Returns NULL only when libcurl cannot make a handle. */
void *cf_httpc_easy_take(void);

/* Return h (from cf_httpc_easy_take on this thread; NULL: nothing): kept
 * for the thread's next take, or cleaned up if one is kept already. */
void cf_httpc_easy_give(void *h);

/* Trust the PEM CA certificates in ca_file (borrowed; copied; NULL: the
 * system's CAs) for the https:// requests of this process, and name option
 * (a static string such as "--tls-ca"; NULL: "--tls-ca") in the message of
 * a request whose server certificate is not trusted. Call before threads
 * start. Returns 0, or what cf_tls_check_ca returns (the file is
 * unreadable or holds no certificate) with err (may be NULL); the previous
 * setting then stays. */
CF_MUST_CHECK int cf_httpc_tls_init(const char *ca_file, const char *option, char *err);

/* Set easy handle h (a CURL *) to verify https:// peers as cf_httpc_tls_init
 * says. Call on every handle before its transfer. */
void cf_httpc_tls(void *h);

/* Whether curl code cc (a CURLcode) means the server's certificate was not
 * trusted, or the CA file could not be used. */
bool cf_httpc_cert_error(int cc);

/* "URL: REASON" for a transfer of url (borrowed) that failed with curl code
 * cc, into err (CF_ERR_LEN; may be NULL); for a certificate that is not
 * trusted, REASON also says which CA was used, or which option gives one
 * (cf_httpc_tls_init). */
void cf_httpc_failure(int cc, char *err, const char *url);
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

/* cf_httpc_json, and *unsent (may be NULL) set true when it returns
 * CF_EUNAVAIL because no connection was made (cf_httpc_unsent), so the
 * request cannot have reached the server; false otherwise. */
CF_MUST_CHECK int cf_httpc_json_ex(const char *method, const char *url, const json_t *body,
                                   long timeout_ms, long *status, json_t **out, bool *unsent,
                                   char *err);

/* The request method url (both borrowed) with body (len bytes, borrowed;
 * NULL: no body) and the extra header lines headers (a NULL-terminated
 * array of "Name: value", borrowed; may be NULL), signed as every request
 * (cf_httpc_sign), waiting up to timeout_ms. The reply's body is appended
 * to reply (caller's, initialised; its limit caps the body) and its status
 * goes to *status. Returns and sets *unsent (may be NULL) as
 * cf_httpc_json_ex does; CF_ETOOLARGE when the body passed reply's limit. */
CF_MUST_CHECK int cf_httpc_bytes(const char *method, const char *url, const void *body, size_t len,
                                 const char *const *headers, long timeout_ms, long *status,
                                 struct cf_buf *reply, bool *unsent, char *err);

/* Whether curl code cc (a CURLcode) means no connection was made (the
 * name did not resolve, the connection was refused or timed out), so no
 * byte of the request reached a server: any request may then be sent
 * again elsewhere. */
bool cf_httpc_unsent(int cc);

/* The X-Coffer-SHA512 (CF_SHA512_HEADER) of the last reply of transfer h
 * (a CURL *, borrowed), read with libcurl's header API: from a write
 * callback once the reply's headers arrived, or after the transfer. The
 * value must be exactly 128 hex digits, in either case. Returns 0 with out
 * filled, CF_ENOTFOUND if the reply has none, or CF_EINVAL if it is
 * malformed. */
CF_MUST_CHECK int cf_httpc_reply_sha512(void *h, uint8_t out[CF_SHA512_LEN]);

#endif
