/*
 * tls.c -- certificates and keys for HTTPS (tls.h).
 */
#include "coffer/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "coffer/buf.h"
#include "coffer/err.h"
#include "coffer/io.h"

/* ---- reading and checking ---- */

/* The whole file at path into *out (caller owns; free), NUL-terminated. */
static int read_pem(const char *path, char **out, size_t *len, char *err)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n = 0;
    int rc = 0;

    *out = NULL;
    if (f == NULL) {
        cf_err_set(err, "cannot read \"%s\": %s", path, strerror(errno));
        return CF_EIO;
    }
    text = cf_xmalloc(CF_TLS_PEM_MAX + 1);
    n = fread(text, 1, CF_TLS_PEM_MAX + 1, f);
    if (ferror(f)) {
        cf_err_set(err, "cannot read \"%s\": %s", path, strerror(errno));
        rc = CF_EIO;
    } else if (n > CF_TLS_PEM_MAX) {
        cf_err_set(err, "\"%s\" is over %d bytes: not a PEM certificate or key", path,
                   CF_TLS_PEM_MAX);
        rc = CF_ETOOLARGE;
    }
    fclose(f);
    if (rc < 0) {
        explicit_bzero(text, CF_TLS_PEM_MAX + 1);
        free(text);
        return rc;
    }
    text[n] = '\0';
    *out = text;
    *len = n;
    return 0;
}

/* The first certificate of PEM text, or NULL. */
static X509 *parse_cert(const char *text, size_t len)
{
    BIO *b = BIO_new_mem_buf(text, (int)len);
    X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return x;
}

/* Never ask for a pass phrase (OpenSSL's default would prompt on a terminal). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static EVP_PKEY *parse_key(const char *text, size_t len)
{
    BIO *b = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;

    BIO_free(b);
    return k;
}

/* "Jan  2 03:04:05 2026 GMT" into out. */
static void fmt_time(const ASN1_TIME *t, char out[64])
{
    BIO *b = BIO_new(BIO_s_mem());
    int n = 0;

    out[0] = '\0';
    if (b != NULL && ASN1_TIME_print(b, t) == 1)
        n = BIO_read(b, out, 63);
    out[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

/* Whether x is valid now; if not, why into err. */
static int check_dates(const X509 *x, const char *path, char *err)
{
    char when[64];

    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        fmt_time(X509_get0_notAfter(x), when);
        cf_err_set(err, "the certificate in \"%s\" expired on %s", path, when);
        return CF_EINVAL;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
        fmt_time(X509_get0_notBefore(x), when);
        cf_err_set(err, "the certificate in \"%s\" is not valid before %s", path, when);
        return CF_EINVAL;
    }
    return 0;
}

int cf_tls_load_pair(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
                     char *err)
{
    char *cert = NULL, *key = NULL;
    size_t clen = 0, klen = 0;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    int rc;

    *cert_pem = NULL;
    *key_pem = NULL;
    rc = read_pem(cert_path, &cert, &clen, err);
    if (rc == 0)
        rc = read_pem(key_path, &key, &klen, err);
    if (rc < 0)
        goto out;
    rc = CF_EINVAL;
    x = parse_cert(cert, clen);
    if (x == NULL) {
        cf_err_set(err, "\"%s\" holds no PEM certificate", cert_path);
        goto out;
    }
    k = parse_key(key, klen);
    if (k == NULL) {
        cf_err_set(err, "\"%s\" holds no unencrypted PEM private key", key_path);
        goto out;
    }
    if (X509_check_private_key(x, k) != 1) {
        cf_err_set(err, "the key in \"%s\" is not the one of the certificate in \"%s\"", key_path,
                   cert_path);
        goto out;
    }
    rc = check_dates(x, cert_path, err);
    if (rc < 0)
        goto out;
    *cert_pem = cert;
    *key_pem = key;
    cert = NULL;
    key = NULL;
out:
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    free(cert);
    cf_tls_free_key(key);
    return rc;
}

void cf_tls_free_key(char *key_pem)
{
    if (key_pem == NULL)
        return;
    explicit_bzero(key_pem, strlen(key_pem));
    free(key_pem);
}

int cf_tls_check_ca(const char *path, char *err)
{
    char *text = NULL;
    size_t len = 0;
    X509 *x = NULL;
    int rc = read_pem(path, &text, &len, err);

    if (rc < 0)
        goto out;
    x = parse_cert(text, len);
    if (x == NULL) {
        cf_err_set(err, "\"%s\" holds no PEM certificate", path);
        rc = CF_EINVAL;
    }
out:
    ERR_clear_error();
    X509_free(x);
    free(text);
    return rc;
}

/* ---- making ---- */

/* A host name for a certificate: an IP address, or a DNS name of letters,
 * digits, '-' and '.'. */
static bool host_ok(const char *h)
{
    size_t n = strlen(h);
    ASN1_OCTET_STRING *ip;

    if (n == 0 || n > CF_TLS_HOST_LEN)
        return false;
    ip = a2i_IPADDRESS(h);
    if (ip != NULL) {
        ASN1_OCTET_STRING_free(ip);
        return true;
    }
    ERR_clear_error();
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return h[0] != '.' && h[0] != '-';
}

static bool is_ip(const char *h)
{
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(h);

    ERR_clear_error();
    ASN1_OCTET_STRING_free(ip);
    return ip != NULL;
}

/* Whether certificate x names host h. */
static bool cert_names(X509 *x, const char *h)
{
    int r = is_ip(h) ? X509_check_ip_asc(x, h, 0) : X509_check_host(x, h, 0, 0, NULL);

    ERR_clear_error();
    return r == 1;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;

    X509_EXTENSION_free(e);
    return ok ? 0 : CF_EIO;
}

/* A certificate for pub named cn, signed by ikey as issuer (NULL: self-signed
 * by ikey), valid from an hour ago (clocks differ) for days. A CA when san is
 * NULL, else a server (and client) certificate for the names in san. */
static X509 *make_cert(EVP_PKEY *pub, const char *cn, X509 *issuer, EVP_PKEY *ikey, long days,
                       const char *san)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    X509V3_CTX ctx;
    X509_NAME *name;
    int ok;

    ok = x != NULL && serial != NULL && X509_set_version(x, X509_VERSION_3) == 1 &&
         BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != NULL &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
         X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) != NULL &&
         X509_set_pubkey(x, pub) == 1;
    name = ok ? X509_get_subject_name(x) : NULL;
    ok = ok &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"coffer", -1,
                                    -1, 0) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) == 1 &&
         X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1;
    if (ok) {
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_subject_key_identifier, "hash") == 0;
    }
    if (ok && san == NULL)
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") == 0 &&
             add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") == 0;
    if (ok && san != NULL)
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") == 0 &&
             add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") == 0 &&
             add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") == 0 &&
             add_ext(x, &ctx, NID_subject_alt_name, san) == 0;
    ok = ok && X509_sign(x, ikey, EVP_sha256()) > 0;
    BN_free(serial);
    if (!ok) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

/* Write a PEM key (mode 0600) or certificate (0644) to dir/name, whole. */
static int write_pem(const char *dir, const char *name, EVP_PKEY *k, X509 *x, char *err)
{
    char path[4096];
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len = 0;
    int rc = CF_EIO, n;

    n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        cf_err_set(err, "the path \"%s/%s\" is too long", dir, name);
        rc = CF_ETOOLARGE;
        goto out;
    }
    if (b == NULL ||
        (k != NULL && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1) ||
        (x != NULL && PEM_write_bio_X509(b, x) != 1)) {
        cf_err_set(err, "cannot encode \"%s\" (OpenSSL)", path);
        goto out;
    }
    len = BIO_get_mem_data(b, &data);
    rc = cf_io_write_file(path, data, (size_t)len, k != NULL ? 0600 : 0644, true, err);
out:
    if (data != NULL && len > 0)
        explicit_bzero(data, (size_t)len);
    BIO_free(b);
    return rc;
}

static bool exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

    return n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0;
}

/* The CA certificate of dir, checked for its dates. */
static int load_ca_cert(const char *dir, X509 **x, char *err)
{
    char path[4096], *text = NULL;
    size_t len = 0;
    int rc;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, CF_TLS_CA_CERT);
    rc = read_pem(path, &text, &len, err);
    if (rc < 0)
        return rc;
    *x = parse_cert(text, len);
    free(text);
    if (*x == NULL) {
        cf_err_set(err, "\"%s\" holds no PEM certificate", path);
        return CF_EINVAL;
    }
    return check_dates(*x, path, err);
}

/* The CA's key of dir, which must be ca's. */
static int load_ca_key(const char *dir, X509 *ca, EVP_PKEY **k, char *err)
{
    char path[4096], why[CF_ERR_LEN] = "", *text = NULL;
    size_t len = 0;
    int rc;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, CF_TLS_CA_KEY);
    rc = read_pem(path, &text, &len, why);
    if (rc < 0) {
        cf_err_set(err, "a new server certificate needs the CA's key: %s", why);
        return rc;
    }
    *k = parse_key(text, len);
    cf_tls_free_key(text);
    if (*k == NULL) {
        cf_err_set(err, "\"%s\" holds no unencrypted PEM private key", path);
        return CF_EINVAL;
    }
    if (X509_check_private_key(ca, *k) != 1) {
        cf_err_set(err, "the key in \"%s\" is not the one of the CA certificate", path);
        return CF_EINVAL;
    }
    return 0;
}

/* Whether dir's server certificate loads, is signed by the CA whose public
 * key is ca_pub, and names every host. */
static bool server_fine(const char *dir, EVP_PKEY *ca_pub, const char *const *hosts, size_t nhosts)
{
    char cpath[4096], kpath[4096], *cert = NULL, *key = NULL, why[CF_ERR_LEN];
    X509 *x = NULL;
    bool ok;

    (void)snprintf(cpath, sizeof(cpath), "%s/%s", dir, CF_TLS_CERT);
    (void)snprintf(kpath, sizeof(kpath), "%s/%s", dir, CF_TLS_KEY);
    ok = cf_tls_load_pair(cpath, kpath, &cert, &key, why) == 0;
    if (ok)
        x = parse_cert(cert, strlen(cert));
    ok = ok && x != NULL && X509_verify(x, ca_pub) == 1;
    for (size_t i = 0; ok && i < nhosts; i++)
        ok = cert_names(x, hosts[i]);
    ERR_clear_error();
    X509_free(x);
    free(cert);
    cf_tls_free_key(key);
    return ok;
}

int cf_tls_make(const char *dir, const char *const *hosts, size_t nhosts, bool renew, bool *made,
                char *err)
{
    static const char *const defaults[] = {"localhost", "127.0.0.1", "::1"};
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    struct cf_buf san;
    int rc = CF_EINVAL;

    cf_buf_init(&san, 64 * 1024);
    if (made != NULL)
        *made = false;
    if (nhosts > CF_TLS_HOSTS_MAX) {
        cf_err_set(err, "more than %d host names", CF_TLS_HOSTS_MAX);
        goto out;
    }
    for (size_t i = 0; i < nhosts; i++) {
        if (!host_ok(hosts[i])) {
            cf_err_set(err, "\"%s\" is not a host name or IP address", hosts[i]);
            goto out;
        }
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        cf_err_set(err, "mkdir \"%s\": %s", dir, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    /* ca.pem is written last: a CA key alone is a CA that was never made,
     * and is replaced. A CA certificate is never replaced here: clients
     * may trust it. Its key is needed only to issue a server certificate,
     * so it may live elsewhere while the server certificate is fine. */
    rc = CF_EIO;
    if (!exists(dir, CF_TLS_CA_CERT)) {
        ca_key = EVP_EC_gen("P-256");
        ca = ca_key != NULL ? make_cert(ca_key, "coffer CA", NULL, ca_key, CF_TLS_CA_DAYS, NULL)
                            : NULL;
        if (ca == NULL) {
            cf_err_set(err, "cannot make a CA certificate (OpenSSL)");
            goto out;
        }
        rc = write_pem(dir, CF_TLS_CA_KEY, ca_key, NULL, err);
        if (rc == 0)
            rc = write_pem(dir, CF_TLS_CA_CERT, NULL, ca, err);
        if (rc < 0)
            goto out;
        renew = true;
        if (made != NULL)
            *made = true;
    } else {
        rc = load_ca_cert(dir, &ca, err);
        if (rc < 0)
            goto out;
    }
    rc = 0;
    if (!renew && server_fine(dir, X509_get0_pubkey(ca), hosts, nhosts))
        goto out;
    if (ca_key == NULL) {
        rc = load_ca_key(dir, ca, &ca_key, err);
        if (rc < 0)
            goto out;
    }
    rc = CF_EIO;
    for (size_t i = 0; i < CF_ARRAY_LEN(defaults) + nhosts; i++) {
        const char *h =
            i < CF_ARRAY_LEN(defaults) ? defaults[i] : hosts[i - CF_ARRAY_LEN(defaults)];
        if (cf_buf_printf(&san, "%s%s:%s", i ? "," : "", is_ip(h) ? "IP" : "DNS", h) < 0)
            goto out;
    }
    key = EVP_EC_gen("P-256");
    cert = key != NULL ? make_cert(key, "coffer", ca, ca_key, CF_TLS_CERT_DAYS, san.base) : NULL;
    if (cert == NULL) {
        cf_err_set(err, "cannot make a server certificate (OpenSSL)");
        goto out;
    }
    rc = write_pem(dir, CF_TLS_KEY, key, NULL, err);
    if (rc == 0)
        rc = write_pem(dir, CF_TLS_CERT, NULL, cert, err);
    if (rc == 0 && made != NULL)
        *made = true;
out:
    ERR_clear_error();
    cf_buf_fini(&san);
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return rc;
}
