/*
 * sigv4.h -- AWS Signature Version 4 for the gateway's S3 API: parsing the
 * Authorization header and presigned query, the canonical request, the
 * string to sign, the signing key, and aws-chunked chunk signatures.
 *
 * Role: pure functions over bytes the caller supplies (no HTTP, no
 * database, no clock): s3.c gathers the request's method, path, query and
 * headers, looks up the secret of the access key, and compares what
 * cf_sigv4_sign gives with what the client sent (cf_sigv4_equal, constant
 * time). The rules are AWS's ("Authenticating Requests: AWS Signature
 * Version 4", S3 flavour): the path is URI-encoded once, '/' kept; query
 * names and values are encoded strictly (only A-Za-z0-9-._~ kept) and
 * sorted; header values are trimmed with inner runs of spaces collapsed.
 *
 * Invariant: every function bounds what it builds (CF_SIGV4_TEXT_MAX) and
 * fails with CF_ETOOLARGE past it, never allocating more.
 * Threads: every function is thread-safe; nothing is shared.
 */
#ifndef COFFER_SIGV4_H
#define COFFER_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/buf.h"
#include "coffer/common.h"

#define CF_SIGV4_ALGO "AWS4-HMAC-SHA256"
/* A canonical request or string to sign longer than this is refused. */
#define CF_SIGV4_TEXT_MAX (64 * 1024)
/* Signed headers per request at most. */
#define CF_SIGV4_HEADERS_MAX 32
#define CF_SIGV4_KEY_ID_MAX  128
/* Lowercase hex of a SHA-256 or HMAC-SHA256, with its NUL. */
#define CF_SIGV4_HEX_SIZE 65
/* The payload hashes that are not a hex SHA-256. */
#define CF_SIGV4_UNSIGNED  "UNSIGNED-PAYLOAD"
#define CF_SIGV4_STREAMING "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

/* What the client says it signed: from "Authorization: AWS4-HMAC-SHA256
 * Credential=AK/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b,
 * Signature=HEX" or from the presigned query's X-Amz-* arguments. Every
 * string is a NUL-terminated copy (owned by the struct; nothing to free). */
struct cf_sigv4_auth {
    char key_id[CF_SIGV4_KEY_ID_MAX + 1];
    char date[9];    /* YYYYMMDD of the scope */
    char region[64]; /* of the scope */
    char service[16];
    char signed_headers[1024]; /* "host;x-amz-date", as sent */
    char signature[CF_SIGV4_HEX_SIZE];
    char amz_date[17];  /* YYYYMMDDTHHMMSSZ: presigned only (X-Amz-Date) */
    uint64_t expires_s; /* presigned only (X-Amz-Expires, 1..604800) */
};

/* Parse an Authorization header value (borrowed). Returns 0 and fills *out,
 * or CF_EINVAL (not SigV4, or malformed) with the reason in err (may be
 * NULL). */
CF_MUST_CHECK int cf_sigv4_parse_header(const char *value, struct cf_sigv4_auth *out, char *err);

/* Parse a presigned query's X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
 * X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature (decoded values,
 * borrowed; any may be NULL, which is an error). Returns 0 or CF_EINVAL with
 * err. */
CF_MUST_CHECK int cf_sigv4_parse_query(const char *algorithm, const char *credential,
                                       const char *date, const char *expires,
                                       const char *signed_headers, const char *signature,
                                       struct cf_sigv4_auth *out, char *err);

/* Seconds since the epoch of an X-Amz-Date (YYYYMMDDTHHMMSSZ). Returns 0 or
 * CF_EINVAL. */
CF_MUST_CHECK int cf_sigv4_parse_date(const char *amz_date, int64_t *secs_out);

/* Append s[0..n) URI-encoded to b: bytes other than A-Za-z0-9-._~ as %XX
 * (uppercase), '/' kept if keep_slash. Returns 0 or CF_ETOOLARGE. */
CF_MUST_CHECK int cf_sigv4_uri_encode(struct cf_buf *b, const char *s, size_t n, bool keep_slash);

/* One query argument, decoded (as HTTP servers hand them over). */
struct cf_sigv4_pair {
    const char *name;  /* borrowed */
    const char *value; /* borrowed; NULL or "" for an argument without '=' */
};

/* What was signed. headers[i] is the value of the i-th name of
 * auth->signed_headers (in its order), NULL if the request has none. */
struct cf_sigv4_req {
    const char *method;                /* "GET" */
    const char *path;                  /* decoded path, "/bucket/a b" */
    const struct cf_sigv4_pair *query; /* every argument but X-Amz-Signature */
    size_t nquery;                     /* at most CF_SIGV4_HEADERS_MAX * 4 */
    const char *const *headers;        /* nheaders values, borrowed */
    size_t nheaders;                   /* names in auth->signed_headers */
    const char *payload_hash;          /* hex SHA-256, or CF_SIGV4_UNSIGNED, ... */
};

/* Split auth->signed_headers into names (pointers into names_buf, which
 * must hold sizeof(auth->signed_headers) bytes). Returns how many (1..
 * CF_SIGV4_HEADERS_MAX) or CF_EINVAL (empty, unsorted, repeated, not
 * lowercase, too many, or without "host"). */
CF_MUST_CHECK int cf_sigv4_header_names(const struct cf_sigv4_auth *auth, char *names_buf,
                                        const char *names[CF_SIGV4_HEADERS_MAX]);

/* Build the canonical request of req into out (initialised by the caller;
 * cleared first). Returns 0, CF_EINVAL (a signed header missing: its name in
 * err) or CF_ETOOLARGE. */
CF_MUST_CHECK int cf_sigv4_canonical(const struct cf_sigv4_auth *auth,
                                     const struct cf_sigv4_req *req, struct cf_buf *out, char *err);

/* The signing key of (secret, date, region, service): HMAC chain from
 * "AWS4" + secret. */
void cf_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, uint8_t key[32]);

/* The hex signature of the request: the canonical request (cf_sigv4_canonical)
 * hashed into the string to sign "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hash>"
 * and signed with key. sts_out (may be NULL) gets the string to sign.
 * Returns 0 or what cf_sigv4_canonical returns. */
CF_MUST_CHECK int cf_sigv4_sign(const struct cf_sigv4_auth *auth, const char *amz_date,
                                const struct cf_sigv4_req *req, const uint8_t key[32],
                                char sig_out[CF_SIGV4_HEX_SIZE], struct cf_buf *sts_out, char *err);

/* The signature of one aws-chunked chunk whose data hashes to chunk_sha
 * (hex), after the previous signature prev (the seed is the request's). */
void cf_sigv4_chunk_sign(const struct cf_sigv4_auth *auth, const char *amz_date,
                         const uint8_t key[32], const char *prev, const char *chunk_sha,
                         char sig_out[CF_SIGV4_HEX_SIZE]);

/* A new access key: an id of CF_SIGV4_NEW_ID_LEN characters ("CF" then
 * uppercase letters and digits, 90 random bits) and a secret of
 * CF_SIGV4_NEW_SECRET_LEN (letters, digits, '+' and '/', 240 random bits),
 * from OpenSSL's CSPRNG. Returns 0 or CF_EINTERNAL (no randomness). */
#define CF_SIGV4_NEW_ID_LEN     20
#define CF_SIGV4_NEW_SECRET_LEN 40
CF_MUST_CHECK int cf_sigv4_key_new(char id[CF_SIGV4_NEW_ID_LEN + 1],
                                   char secret[CF_SIGV4_NEW_SECRET_LEN + 1]);

/* Lowercase hex SHA-256 of p[0..n). */
void cf_sigv4_sha256_hex(const void *p, size_t n, char out[CF_SIGV4_HEX_SIZE]);

/* Whether two NUL-terminated hex strings are equal, in time that depends on
 * their lengths only. */
bool cf_sigv4_equal(const char *a, const char *b);

#endif
