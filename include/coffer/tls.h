/*
 * tls.h -- certificates and keys for HTTPS (OpenSSL libcrypto).
 *
 * Role: a server's certificate and key are read and checked here before
 * libmicrohttpd (GnuTLS) serves with them, so a bad file is a clear error
 * at start instead of a failed handshake later; a CA file the HTTP client
 * trusts is checked the same way; and `coffer server --tls` / `coffer admin
 * tls init` make a private CA and a server certificate signed by it.
 *
 * The files cf_tls_make writes in its directory:
 *   ca.pem      the CA certificate (0644): what clients trust (--ca, --tls-ca)
 *   ca.key      the CA's private key (0600): signs server certificates
 *   server.pem  the server certificate (0644), for localhost, 127.0.0.1, ::1
 *               and the names given; what roles serve with (--tls-cert)
 *   server.key  its private key (0600; --tls-key)
 * Keys are ECDSA P-256; certificates are signed with SHA-256. The CA is
 * valid for CF_TLS_CA_DAYS, a server certificate for CF_TLS_CERT_DAYS.
 *
 * Threads: every function is thread-safe (no shared state).
 */
#ifndef COFFER_TLS_H
#define COFFER_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "coffer/common.h"

#define CF_TLS_CA_CERT "ca.pem"
#define CF_TLS_CA_KEY  "ca.key"
#define CF_TLS_CERT    "server.pem"
#define CF_TLS_KEY     "server.key"

/* The largest PEM file read (a chain of a few certificates is ~5 KiB). */
#define CF_TLS_PEM_MAX (256 * 1024)
/* Most host names a server certificate carries besides the defaults. */
#define CF_TLS_HOSTS_MAX 32
/* Longest host name (RFC 1035). */
#define CF_TLS_HOST_LEN  253
#define CF_TLS_CA_DAYS   3650
#define CF_TLS_CERT_DAYS 825

/* Read the certificate (chain) at cert_path and the private key at
 * key_path (both borrowed) and check them: both PEM, the key unencrypted
 * and the one of the first certificate, that certificate valid now (not
 * expired, not before its start). On success *cert_pem and *key_pem hold
 * the files' text, NUL-terminated (caller owns both; free() them, the key
 * after clearing it with cf_tls_free_key). Returns 0, CF_EIO (unreadable),
 * CF_ETOOLARGE (over CF_TLS_PEM_MAX) or CF_EINVAL (not PEM, mismatched,
 * expired, not yet valid), with err naming the file and the reason; the
 * outputs are then NULL. */
CF_MUST_CHECK int cf_tls_load_pair(const char *cert_path, const char *key_path, char **cert_pem,
                                   char **key_pem, char *err);

/* Clear and free a key's text from cf_tls_load_pair. NULL is a no-op. */
void cf_tls_free_key(char *key_pem);

/* Check that path (borrowed) is a readable file of at least one PEM
 * certificate, to trust as a CA. Returns 0, or CF_EIO / CF_ETOOLARGE /
 * CF_EINVAL with err naming the file. */
CF_MUST_CHECK int cf_tls_check_ca(const char *path, char *err);

/* Make sure dir (borrowed; created with mode 0755 if missing) holds the
 * four files above. A missing CA certificate is made, with its key (and
 * then a new server certificate); an existing one is never replaced. A
 * server certificate is made when it is missing, does not load
 * (cf_tls_load_pair: expired, mismatched), is not signed by the CA, lacks
 * one of hosts[0..nhosts) (borrowed: DNS names or IP addresses), or renew
 * is true; only then is ca.key read, so it may be kept elsewhere
 * meanwhile. Existing files that are fine are left alone, so a restart
 * keeps the certificates clients already trust. *made (may be NULL) is set
 * when anything was written. Files are written whole (io.h), keys 0600,
 * certificates 0644. Returns 0; CF_EINVAL (a bad or too many hosts; a CA
 * certificate that does not load or has expired; a CA key that is not
 * its); CF_EIO (a file cannot be read or written, e.g. ca.key absent when
 * it is needed, or OpenSSL failed); with err. */
CF_MUST_CHECK int cf_tls_make(const char *dir, const char *const *hosts, size_t nhosts, bool renew,
                              bool *made, char *err);

#endif
