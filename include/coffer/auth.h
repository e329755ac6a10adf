/*
 * auth.h -- the gateway's authentication primitives: password hashes,
 * bearer tokens, the Authorization header, and the failed-login limiter.
 *
 * Role: the gateway's `POST /api/v1/login` checks a password against the stored
 * hash (after asking the limiter), then hands out a bearer token; every other
 * gateway call parses the Authorization header and verifies the token. No
 * HTTP and no database here: the gateway supplies the bytes.
 *
 * Password hashes are PBKDF2-HMAC-SHA512 (OpenSSL) with a random 16-byte salt,
 * stored as the text
 *     pbkdf2-sha512$<iterations>$<salt: 32 lowercase hex>$<hash: 128 lowercase hex>
 * which names its own cost, so the count can be raised later
 * (cf_auth_password_needs_rehash) without invalidating old hashes.
 *
 * Bearer tokens are stateless: base64url(payload) "." base64url(HMAC-SHA512(key,
 * payload)), unpadded, where the 49-byte payload is a version byte (1), then
 * big-endian u64 client id, user id, issued-at and expires-at (seconds since
 * the epoch), then a 16-byte random nonce. Only the holder of the server key can
 * make one; a token is valid until expires-at, and there is no revocation
 * short of changing the key. Every token is exactly CF_AUTH_TOKEN_LEN bytes.
 *
 * Secrets: passwords, tokens and keys are never logged, by this module or
 * (by contract) its callers. Every failure of a token or a header is the same
 * CF_EAUTH, so a client learns nothing about why.
 *
 * Threads: every function is thread-safe on distinct arguments; a
 * struct cf_auth_key is read-only after it is loaded or generated and may be
 * shared by any number of threads; a struct cf_auth_limiter is internally
 * locked and may be shared too. Each thread that makes or checks a token
 * or a link keeps one HMAC context keyed with the last key it used (so
 * checking every request's token with the same key does not set a key up
 * each time); it is freed, its key wiped, when the thread ends.
 */
#ifndef COFFER_AUTH_H
#define COFFER_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "coffer/common.h"

/* ---- Password hashes ---------------------------------------------------- */

/* Longest password accepted, in bytes; checked before any hashing, like
 * every size that comes from input (STYLE 2.3). */
#define CF_AUTH_PASSWORD_MAX 1024
/* Shortest password a new user may be given, in bytes (`coffer admin user
 * add` refuses shorter ones). NIST SP 800-63B asks for at least 8; 12 keeps
 * offline guessing of a stolen hash far longer out of reach. Logins are not
 * checked against it, so an older short password still works. */
#define CF_AUTH_PASSWORD_MIN 12

/* Default PBKDF2 iteration count for new hashes. 210,000 is OWASP's 2023
 * figure for PBKDF2-HMAC-SHA512, and it lands inside the 50-100 ms per hash
 * that keeps a login interactive on the development machine (measured in auth.c). */
#define CF_AUTH_PBKDF2_ITER_DEFAULT 210000u
/* Bounds on any count, new or parsed. The minimum lets tests run fast; the
 * maximum (about 3.7 s of CPU here) stops a corrupt or hostile stored string
 * from turning one login into a denial of service. */
#define CF_AUTH_PBKDF2_ITER_MIN 1u
#define CF_AUTH_PBKDF2_ITER_MAX 10000000u

#define CF_AUTH_SALT_LEN 16
#define CF_AUTH_HASH_LEN 64 /* SHA-512 output */

/* Longest stored string: "pbkdf2-sha512$" + 8 digits + "$" + 32 + "$" + 128. */
#define CF_AUTH_PWHASH_MAX  (14 + 8 + 1 + 2 * CF_AUTH_SALT_LEN + 1 + 2 * CF_AUTH_HASH_LEN)
#define CF_AUTH_PWHASH_SIZE (CF_AUTH_PWHASH_MAX + 1) /* with the NUL */

/* A stored password hash, parsed. */
struct cf_auth_pwhash {
    uint32_t iterations;
    uint8_t salt[CF_AUTH_SALT_LEN];
    uint8_t hash[CF_AUTH_HASH_LEN];
};

/* Hash the password pw (len bytes, borrowed; any bytes but NUL, since HMAC
 * would make "pw" and "pw\0" equal; may be NULL only if len == 0) with a
 * fresh random salt and `iterations` rounds (pass CF_AUTH_PBKDF2_ITER_DEFAULT
 * outside tests), and write the stored form into out (NUL-terminated).
 * Returns 0; CF_ETOOLARGE if len > CF_AUTH_PASSWORD_MAX; CF_EINVAL if pw
 * holds a NUL byte or iterations is outside
 * [CF_AUTH_PBKDF2_ITER_MIN, CF_AUTH_PBKDF2_ITER_MAX]; CF_EINTERNAL if
 * libcrypto fails. On error out holds an empty string. */
CF_MUST_CHECK int cf_auth_password_hash(const char *pw, size_t len, uint32_t iterations,
                                        char out[CF_AUTH_PWHASH_SIZE]);

/* Check the password pw (len bytes, borrowed) against the stored string
 * (stored_len bytes, borrowed; need not be NUL-terminated). The final compare
 * is constant-time (CRYPTO_memcmp). Returns 0 on a match; CF_EAUTH for a wrong
 * password, or one longer than CF_AUTH_PASSWORD_MAX or holding a NUL byte
 * (which no stored hash can match; no hashing is done then); CF_ECORRUPT if stored is not a
 * well-formed hash (cf_auth_pwhash_parse); CF_EINTERNAL if libcrypto fails. Costs one full hash
 * whenever stored is well formed and pw is within the cap. For an unknown user, callers should
 * still verify against some fixed hash of the default cost so that timing does not reveal which
 * users exist. */
CF_MUST_CHECK int cf_auth_password_verify(const char *stored, size_t stored_len, const char *pw,
                                          size_t len);

/* Bounds on the randomness of a generated password, in bits. */
#define CF_AUTH_GENPW_BITS_MIN 64
#define CF_AUTH_GENPW_BITS_MAX 256

/* Make a random password to show a person once: `bits` random bits (a
 * multiple of 8 within [CF_AUTH_GENPW_BITS_MIN, CF_AUTH_GENPW_BITS_MAX]) as
 * bits / 4 lowercase hex digits and a NUL in out, which must hold
 * bits / 4 + 1 bytes. Returns 0; CF_EINVAL for any other `bits`;
 * CF_EINTERNAL if the random generator fails. On error out holds an empty
 * string. The caller wipes out once the password has been used. */
CF_MUST_CHECK int cf_auth_password_generate(unsigned bits, char *out);

/* Parse a stored string (len bytes, borrowed) into *out. Only the canonical
 * form is accepted: the exact prefix, a decimal count without sign or leading
 * zero within [CF_AUTH_PBKDF2_ITER_MIN, CF_AUTH_PBKDF2_ITER_MAX], exactly 32
 * and 128 lowercase hex digits, nothing before or after (no NUL, no newline).
 * Returns 0, or CF_ECORRUPT for anything else; *out is written only on success. */
CF_MUST_CHECK int cf_auth_pwhash_parse(const char *s, size_t len, struct cf_auth_pwhash *out);

/* Write the canonical stored form of h (iterations within the bounds) into
 * out, NUL-terminated. Returns its length (<= CF_AUTH_PWHASH_MAX). */
size_t cf_auth_pwhash_format(const struct cf_auth_pwhash *h, char out[CF_AUTH_PWHASH_SIZE]);

/* True if stored (len bytes, borrowed) is well formed and uses fewer than
 * `iterations` rounds, so the gateway should re-hash the password it has just
 * verified. False for a malformed string (verify reports that). */
bool cf_auth_password_needs_rehash(const char *stored, size_t len, uint32_t iterations);

/* ---- Server key --------------------------------------------------------- */

#define CF_AUTH_KEY_MIN     32  /* bytes of random key */
#define CF_AUTH_KEY_MAX     128 /* HMAC-SHA512's block size: longer keys gain nothing */
#define CF_AUTH_KEY_DEFAULT 64  /* what cf_auth_key_generate makes */

/* The token key. Read-only once loaded or generated; wipe it with
 * cf_auth_key_fini when done. */
struct cf_auth_key {
    uint8_t bytes[CF_AUTH_KEY_MAX];
    size_t len; /* CF_AUTH_KEY_MIN..CF_AUTH_KEY_MAX once valid; 0 after fini */
};

/* Fill k with CF_AUTH_KEY_DEFAULT random bytes. Returns 0, or CF_EINTERNAL if
 * the random generator fails (then k->len == 0). */
CF_MUST_CHECK int cf_auth_key_generate(struct cf_auth_key *k);

/* Load the key from the file at path (borrowed): 64 to 256 hex digits (either
 * case), optionally followed by one "\n" (or "\r\n"), nothing else. The file
 * must be a regular file of the effective user, not readable or writable by
 * group or others (mode & 077 == 0): read with cf_io_read_key_file.
 * Returns 0; CF_ENOTFOUND if the file does not exist; CF_EPERM if its owner
 * or mode is wrong; CF_EINVAL if the content is malformed (or bigger than 1 KiB);
 * another errno-mapped code if it cannot be read. On error k->len == 0 and
 * err (may be NULL) says why, quoting the path but never the content. */
CF_MUST_CHECK int cf_auth_key_load(struct cf_auth_key *k, const char *path, char *err);

/* Save k as lowercase hex plus "\n" to a new file at path (borrowed), mode
 * 0600, durably (temp file, fsync, link, fsync of the directory), never
 * replacing an existing file. Returns 0; CF_EEXIST if path exists; CF_EINVAL
 * if k->len is out of bounds; an errno-mapped code otherwise (logged once,
 * and in err if not NULL). Leaves no temp file behind. */
CF_MUST_CHECK int cf_auth_key_save(const struct cf_auth_key *k, const char *path, char *err);

/* Wipe the key bytes (OPENSSL_cleanse) and set len to 0. Idempotent. */
void cf_auth_key_fini(struct cf_auth_key *k);

/* ---- Bearer tokens ------------------------------------------------------ */

#define CF_AUTH_TOKEN_PAYLOAD_LEN 49
#define CF_AUTH_TOKEN_LEN         153 /* 66 + "." + 86 */
#define CF_AUTH_TOKEN_SIZE        (CF_AUTH_TOKEN_LEN + 1)
/* Longest lifetime a token may have (30 days), checked on issue and verify. */
#define CF_AUTH_TOKEN_TTL_MAX (30u * 24 * 3600)
/* Seconds a token's issued-at may lie ahead of the verifier's clock, for
 * gateways whose clocks differ slightly. */
#define CF_AUTH_TOKEN_SKEW_S 300u

/* What a valid token says. */
struct cf_auth_token_info {
    uint64_t client_id;
    uint64_t user_id;
    uint64_t issued_at;  /* seconds since the epoch */
    uint64_t expires_at; /* seconds since the epoch; invalid from this second on */
};

/* Make a token for (client_id, user_id), issued at now_s (seconds since the
 * epoch, e.g. cf_wall_ms() / 1000) and valid for ttl_s seconds, into out
 * (NUL-terminated, exactly CF_AUTH_TOKEN_LEN bytes before the NUL). k is
 * borrowed. Returns 0; CF_EINVAL if ttl_s is 0 or over CF_AUTH_TOKEN_TTL_MAX,
 * if now_s + ttl_s overflows, or if k->len is out of bounds; CF_EINTERNAL if
 * libcrypto fails. On error out holds an empty string. */
CF_MUST_CHECK int cf_auth_token_issue(const struct cf_auth_key *k, uint64_t client_id,
                                      uint64_t user_id, uint64_t now_s, uint64_t ttl_s,
                                      char out[CF_AUTH_TOKEN_SIZE]);

/* Check the token (len bytes, borrowed; untrusted) at time now_s. A token of
 * any length other than CF_AUTH_TOKEN_LEN is refused before any other work;
 * then the MAC is compared in constant time before any field is read. Returns
 * 0 and fills *info (may be NULL); or CF_EAUTH if the token is malformed (any
 * non-canonical base64url too), forged, made with another key, of an unknown
 * version, expired (now_s >= expires_at), issued more than
 * CF_AUTH_TOKEN_SKEW_S in the future, or has a lifetime over
 * CF_AUTH_TOKEN_TTL_MAX; CF_EINTERNAL if libcrypto fails. *info is written
 * only on success. */
CF_MUST_CHECK int cf_auth_token_verify(const struct cf_auth_key *k, const char *token, size_t len,
                                       uint64_t now_s, struct cf_auth_token_info *info);

/* ---- Download links ------------------------------------------------------ */

/* A download link lets a browser fetch one file by plain navigation (no
 * Authorization header, so the bytes stream to disk instead of memory): a
 * short-lived signature, "CLIENT.USER.EXPIRES.MAC" (decimal numbers, MAC
 * 32 bytes in hex), over the user and what the request fetches (the
 * caller's canonical text, e.g. "GET /docs/a.bin"). The permission is
 * checked again when it is used. */
#define CF_AUTH_LINK_MAC_LEN 32
#define CF_AUTH_LINK_SIZE    (3 * 21 + 2 * CF_AUTH_LINK_MAC_LEN + 1)
/* Longest lifetime of a link. */
#define CF_AUTH_LINK_TTL_MAX 600u

/* Make a link for (client_id, user_id) to what (borrowed, NUL-terminated),
 * valid from now_s for ttl_s seconds (1..CF_AUTH_LINK_TTL_MAX), into out.
 * Returns 0, CF_EINVAL (bad ttl or key), or CF_EINTERNAL; out is "" on
 * error. */
CF_MUST_CHECK int cf_auth_link_issue(const struct cf_auth_key *k, uint64_t client_id,
                                     uint64_t user_id, uint64_t now_s, uint64_t ttl_s,
                                     const char *what, char out[CF_AUTH_LINK_SIZE]);

/* Check link (borrowed, NUL-terminated; untrusted) for what at now_s: the
 * MAC compared in constant time, then the expiry (and a lifetime left over
 * CF_AUTH_LINK_TTL_MAX is refused). Returns 0 with *info (may be NULL;
 * client_id, user_id, expires_at) filled, CF_EAUTH (malformed, forged,
 * for something else, or expired), or CF_EINTERNAL. */
CF_MUST_CHECK int cf_auth_link_verify(const struct cf_auth_key *k, const char *link, uint64_t now_s,
                                      const char *what, struct cf_auth_token_info *info);

/* ---- The Authorization header ------------------------------------------- */

/* Longest Authorization value looked at; longer is refused before parsing. */
#define CF_AUTH_HEADER_MAX 1024

/* Parse an Authorization header value (len bytes, borrowed; untrusted):
 * optional leading and trailing spaces or tabs, the scheme "Bearer" in any
 * case, one or more spaces, then a non-empty token68 (RFC 7235: letters,
 * digits, "-._~+/", then any "=" padding). Returns 0 and sets *token to the
 * token's bytes inside value (valid as long as value is); or CF_EAUTH for a
 * missing, empty, over-long (> CF_AUTH_HEADER_MAX), differently-schemed or
 * malformed value. *token is written only on success. */
CF_MUST_CHECK int cf_auth_bearer_parse(const char *value, size_t len, struct cf_span *token);

/* ---- Failed-login limiter ----------------------------------------------- */

/* A fixed-size table of recent failures per key. A key is a list of byte
 * strings (e.g. {client name, user name} or {"addr", remote address}),
 * hashed with a per-limiter random secret into 16 bytes, so parts may hold
 * any bytes, different lists never share an entry by accident, and an
 * attacker cannot aim keys at one bucket. Memory is fixed at creation,
 * whatever the input.
 *
 * Rule: growing delays, never a lock. A key's first free_failures failures
 * cost nothing; after failure number free_failures + n (n >= 1) the key
 * must wait base_delay_ms * 2^(n-1), at most max_delay_ms, from that
 * failure before its next try; cf_auth_limiter_check (and _attempt)
 * refuse it until then. A key with no failure for forget_ms starts afresh,
 * and a success clears it.
 *
 * When a key must be stored and its bucket (8 entries) is full of live
 * entries, the entry with the fewest failures (the oldest among equals) is
 * evicted, so delayed keys are the last to go: flooding the table with fresh
 * keys can only erase a delay if every entry of a bucket is itself delayed.
 *
 * Threads: every call takes one internal mutex; logins already cost a
 * password hash each, so contention is not a concern. */
struct cf_auth_limiter;

/* Milliseconds from some fixed origin (monotonic). */
typedef uint64_t (*cf_auth_clock_cb)(void *arg);

struct cf_auth_limiter_conf {
    unsigned free_failures; /* failures before the first delay; e.g. 3 */
    uint64_t base_delay_ms; /* >= 1; the first delay, doubled by each failure after it */
    uint64_t max_delay_ms;  /* >= base_delay_ms; the longest delay */
    uint64_t forget_ms;     /* >= max_delay_ms; no failure for this long: start afresh */
    size_t entries;         /* table size, 1..CF_AUTH_LIMITER_MAX, rounded up to a multiple of 8 */
    cf_auth_clock_cb clock; /* NULL: the monotonic clock (cf_now_ns() / 1e6) */
    void *clock_arg;        /* kept; passed to clock */
};

/* Entries in one limiter, at most (about 32 bytes each). */
#define CF_AUTH_LIMITER_MAX (1u << 22)

/* Create a limiter from *conf (copied). Returns 0 and sets *out (caller owns;
 * free with cf_auth_limiter_free()); CF_EINVAL if a field is out of range
 * (*out is then NULL); CF_EINTERNAL if the random secret cannot be made. */
CF_MUST_CHECK int cf_auth_limiter_new(const struct cf_auth_limiter_conf *conf,
                                      struct cf_auth_limiter **out);

/* Release it. NULL is a no-op. No other call may be running on it. */
void cf_auth_limiter_free(struct cf_auth_limiter *l);

/* May key (nparts spans, borrowed; nparts >= 1) try to log in now? Returns 0
 * if so; CF_ETOOMANY (429) if it must wait, and then *retry_after_ms (may be NULL)
 * is set to the milliseconds until it is not (>= 1); CF_EINVAL if nparts is 0.
 * If libcrypto cannot hash the key (out of memory) it fails closed: CF_EBUSY
 * with *retry_after_ms untouched. */
CF_MUST_CHECK int cf_auth_limiter_check(struct cf_auth_limiter *l, const struct cf_span *parts,
                                        size_t nparts, uint64_t *retry_after_ms);

/* cf_auth_limiter_check and, if the key may try, a failure recorded for it
 * at once (one step under the mutex, so parallel tries see each other; a
 * success clears it afterwards). Returns as _check; on 0, *prior (may be
 * NULL) is the key's failures before this one. A refused try records
 * nothing. */
CF_MUST_CHECK int cf_auth_limiter_attempt(struct cf_auth_limiter *l, const struct cf_span *parts,
                                          size_t nparts, uint64_t *retry_after_ms, unsigned *prior);

/* Record a failed login for key. Never fails (nparts == 0 is ignored). */
void cf_auth_limiter_fail(struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts);

/* Record a successful login: key is forgotten. Never fails. */
void cf_auth_limiter_success(struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts);

/* Take back one failure recorded for key (by _attempt or _fail) when the
 * try was not a guess after all (the database could not check it). Never
 * fails; a key with no failure recorded is left alone. */
void cf_auth_limiter_unfail(struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts);

/* Entries in use, counting those whose window has passed but that no call
 * has cleared yet (for tests and metrics). */
size_t cf_auth_limiter_count(struct cf_auth_limiter *l);

#endif
