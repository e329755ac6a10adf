/*
 * it_tls.c -- HTTPS, against real processes.
 *
 * server: `coffer server --tls` makes its CA and certificate and serves every
 * role over HTTPS. The CLI logs in with --ca, keeps the CA with the token,
 * and puts and gets a file byte for byte; without --ca, or with another CA,
 * login and the path commands fail with exit 1 and a message naming --ca;
 * an http:// URL to the TLS port gets no reply (no fall back to plain HTTP);
 * an upload to the app and a download from objsrv (which ask each other and
 * the filers over HTTPS) give the same bytes.
 * roles: filers, the app and objsrv as separate processes with --tls-cert,
 * --tls-key and --tls-ca from `coffer admin tls init`: the data path works
 * end to end; an objsrv without --tls-ca cannot reach the app (the
 * certificate is not trusted) and says which option gives the CA.
 * gateway_only: `coffer server --tls --tls-internal=false` serves HTTPS on
 * the gateway only; the CLI's put and get through it are byte for byte.
 * refuse: a role does not start (exit 1, the file and reason in its log) on
 * a key that is not its certificate's, a certificate without a key, a
 * missing file, or a CA file without a certificate; a role serves TLS 1.2
 * and 1.3 and refuses 1.0 and 1.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"

#define LINE_MS 20000
#define OUT_MAX 4096

/* The bytes the commands wrote to cmd.log since *mark (then moved to the
 * end): whether they contain needle. */
static bool log_has(size_t *mark, const char *needle)
{
    char log[IT_PATH_MAX], *text;
    size_t n;
    bool found;

    it_case_path(log, "cmd.log");
    text = it_read_file(log, &n);
    found = *mark <= n && strstr(text + *mark, needle) != NULL;
    *mark = n;
    free(text);
    return found;
}

/* The lines `coffer server --tls` prints after its roles': the gateway's
 * URL (https), the CA path for --ca and the admin password. */
static void gateway_lines(struct it_server *s, char gw[IT_URL_MAX], char ca[IT_PATH_MAX],
                          char pw[64])
{
    it_proc_expect_line(&s->p, "coffer gateway listening on ", gw, IT_URL_MAX, LINE_MS);
    IT_CHECKF(strncmp(gw, "https://", 8) == 0, "gateway at %s", gw);
    it_proc_expect_line(&s->p, "coffer server tls: clients verify with --ca ", ca, IT_PATH_MAX,
                        LINE_MS);
    it_proc_expect_line(&s->p, "coffer gateway login: client demo user admin password ", pw, 64,
                        LINE_MS);
}

/* Exit code of `coffer ARGS...`. */
#define CMD(...) it_exit_code(it_coffer_cmd(NULL, 0, NULL, __VA_ARGS__, NULL))

/* Whether the files at a and b hold the same bytes. */
static void check_same(const char *a, const char *b)
{
    uint8_t sa[CF_SHA512_LEN], sb[CF_SHA512_LEN];
    uint64_t na = 0, nb = 0;

    it_file_sha512(a, &na, sa);
    it_file_sha512(b, &nb, sb);
    IT_EQ(nb, na);
    IT_CHECKF(memcmp(sa, sb, sizeof(sa)) == 0, "\"%s\" and \"%s\" differ", a, b);
}

/* A plain-HTTP request to a TLS port gets no HTTP reply. */
static void check_no_plain_http(unsigned port)
{
    static const char req[] = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char buf[512];
    int fd = it_raw_try_connect(port);
    long st;

    IT_CHECKF(fd >= 0, "connect to port %u: %s", port, strerror(-fd));
    (void)it_raw_send(fd, req, sizeof(req) - 1);
    st = it_raw_read_reply(fd, buf, sizeof(buf));
    close(fd);
    IT_CHECKF(st <= 0, "plain HTTP to the TLS port %u got status %ld", port, st);
}

/* The line coffer server --tls prints for the CLI, "export NAME=VALUE...":
 * it names the gateway gw, the CA ca (absolute) and the app, objsrv and
 * monitor of s; pasted into a shell, the commands that talk to them work
 * with no option: a bare put, admin filers. */
static void check_exports(const char *line, const char *gw, const char *ca,
                          const struct it_server *s, const char *file)
{
    static const char *const names[] = {"COFFER_GATEWAY", "COFFER_CA",
                                        "COFFER_APP",     "COFFER_OBJSRV",
                                        "COFFER_MONITOR", "COFFER_OPERATOR_KEY_FILE"};
    const char *want[] = {gw, ca, s->p.base, s->objsrv, s->monitor, NULL};
    char abs_ca[PATH_MAX], words[2048], log[IT_PATH_MAX], cmd[8192], *save = NULL, *w;
    size_t found = 0;
    pid_t pid;
    int st = 0;

    IT_CHECKF(strncmp(line, "export ", 7) == 0, "line \"%s\"", line);
    IT_CHECK(realpath(ca, abs_ca) != NULL);
    want[1] = abs_ca;
    it_fmt(words, sizeof(words), "%s", line + 7);
    for (w = strtok_r(words, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(w, '=');
        IT_CHECKF(eq != NULL, "\"%s\" in the export line", w);
        *eq = '\0';
        for (size_t i = 0; i < CF_ARRAY_LEN(names); i++) {
            if (strcmp(w, names[i]) != 0)
                continue;
            IT_CHECKF(want[i] == NULL || strcmp(eq + 1, want[i]) == 0, "%s=%s, expected %s", w,
                      eq + 1, want[i]);
            found++;
        }
    }
    IT_EQ(found, CF_ARRAY_LEN(names));
    it_case_path(log, "cmd.log");
    it_fmt(cmd, sizeof(cmd),
           "%s && timeout 60 '%s' put '%s' >/dev/null 2>>'%s' && "
           "timeout 60 '%s' admin filers >/dev/null 2>>'%s'",
           line, it_coffer_bin(), file, log, it_coffer_bin(), log);
    pid = fork();
    IT_CHECK(pid >= 0);
    if (pid == 0) {
        char *argv[] = {"sh", "-c", cmd, NULL};
        execve("/bin/sh", argv, environ);
        _exit(127);
    }
    IT_CHECK(waitpid(pid, &st, 0) == pid);
    IT_CHECKF(it_exit_code(st) == 0, "the export line's shell: status %d", st);
}

static void t_server(void *arg)
{
    char gw[IT_URL_MAX], pw[64], ca[IT_PATH_MAX], tok[IT_PATH_MAX], tok2[IT_PATH_MAX];
    char file[IT_PATH_MAX], got[IT_PATH_MAX], other[IT_PATH_MAX], other_ca[IT_PATH_MAX];
    char plain[IT_URL_MAX], exports[2048], *text;
    struct it_server s;
    struct it_record rec;
    size_t mark = 0, n;
    unsigned port;
    int rc;

    (void)arg;
    it_server_start_ok(&s, "data", 2, "--tls", NULL);
    IT_CHECKF(strncmp(s.p.base, "https://", 8) == 0, "app at %s", s.p.base);
    IT_CHECKF(strncmp(s.objsrv, "https://", 8) == 0, "objsrv at %s", s.objsrv);
    IT_CHECKF(strncmp(s.monitor, "https://", 8) == 0, "monitor at %s", s.monitor);
    IT_CHECKF(strncmp(s.filers[0], "https://", 8) == 0, "filer at %s", s.filers[0]);
    gateway_lines(&s, gw, ca, pw);
    port = (unsigned)strtoul(strrchr(gw, ':') + 1, NULL, 10);
    /* The lines after the login (S3, keys), then the export line. */
    for (int i = 0; i < 4; i++) {
        it_proc_read_line(&s.p, exports, sizeof(exports), LINE_MS);
        if (strncmp(exports, "export ", 7) == 0)
            break;
    }
    it_case_path(tok, "admin.token");
    it_case_path(tok2, "nope.token");
    it_case_path(got, "got");
    it_write_payload(file, "file", 7, (3u << 20) + 5, NULL);

    /* Without the CA: refused, with a message naming --ca; no token. */
    IT_EQ(CMD("login", "--gateway", gw, "--client", "demo", "--user", "admin", "--password", pw,
              "--token-file", tok2),
          1);
    IT_CHECKF(log_has(&mark, "not trusted; give its CA with --ca"), "no --ca hint in cmd.log");
    IT_CHECKF(access(tok2, F_OK) != 0, "a token file after a refused login");
    /* Another CA: refused too. */
    it_case_path(other, "other");
    IT_EQ(CMD("admin", "tls", "init", "--data", other), 0);
    it_fmt(other_ca, sizeof(other_ca), "%s/tls/ca.pem", other);
    IT_EQ(CMD("login", "--gateway", gw, "--ca", other_ca, "--client", "demo", "--user", "admin",
              "--password", pw, "--token-file", tok2),
          1);
    IT_CHECKF(log_has(&mark, "not trusted by the CA in"), "no CA named in cmd.log");
    /* Plain HTTP to the TLS port: no reply, and the CLI does not fall back. */
    check_no_plain_http(port);
    it_fmt(plain, sizeof(plain), "http://127.0.0.1:%u", port);
    IT_EQ(CMD("login", "--gateway", plain, "--ca", ca, "--client", "demo", "--user", "admin",
              "--password", pw, "--token-file", tok2),
          1);
    IT_CHECKF(log_has(&mark, "--ca is for an https:// URL"), "no refusal of http:// in cmd.log");
    IT_EQ(CMD("login", "--gateway", plain, "--client", "demo", "--user", "admin", "--password", pw,
              "--token-file", tok2),
          1);
    IT_CHECKF(access(tok2, F_OK) != 0, "a token file after a refused login");

    /* With the CA: login keeps it with the token; put and get use it. */
    IT_EQ(CMD("login", "--gateway", gw, "--ca", ca, "--client", "demo", "--user", "admin",
              "--password", pw, "--token-file", tok),
          0);
    text = it_read_file(tok, &n);
    IT_CHECKF(strstr(text, "\"ca\"") != NULL, "no CA in the token file");
    free(text);
    IT_EQ(CMD("put", file, "/f.bin", "--token-file", tok), 0);
    IT_EQ(CMD("get", "/f.bin", "-o", got, "--token-file", tok), 0);
    check_same(file, got);
    /* --ca overrides the token file's: another CA fails. */
    IT_EQ(CMD("ls", "/", "--token-file", tok, "--ca", other_ca), 1);
    IT_CHECKF(log_has(&mark, "not trusted by the CA in"), "no CA named in cmd.log");
    /* The same port as http:// with the CA: refused before any request. */
    IT_EQ(CMD("ls", "/", "--token-file", tok, "--gateway", plain, "--ca", ca), 1);
    IT_CHECKF(log_has(&mark, "--ca is for an https:// URL"), "no refusal of http:// in cmd.log");

    /* The data path inside: app -> filers, objsrv -> app and filers, all HTTPS. */
    it_http_ca(ca);
    it_upload_ok(NULL, s.p.base, 11, (1u << 20) + 3, 2, false, &rec);
    it_download_ok(NULL, s.objsrv, &rec);
    IT_CHECKF(strncmp(rec.urls[0], "https://", 8) == 0, "filer URL %s", rec.urls[0]);

    check_exports(exports, gw, ca, &s, file);

    it_proc_signal(&s.p, SIGINT);
    IT_CHECKF(it_proc_wait_exit(&s.p, 30000, &rc), "coffer server ignored SIGINT");
    IT_EQ(it_exit_code(rc), 0);
}

static void t_roles(void *arg)
{
    char pki[IT_PATH_MAX], cert[IT_PATH_MAX], key[IT_PATH_MAX], ca[IT_PATH_MAX], target[128];
    struct it_cluster c;
    struct it_record rec;
    struct it_resp r;
    struct it_proc bad;

    (void)arg;
    it_case_path(pki, "pki");
    IT_EQ(CMD("admin", "tls", "init", "--data", pki), 0);
    it_fmt(cert, sizeof(cert), "%s/tls/server.pem", pki);
    it_fmt(key, sizeof(key), "%s/tls/server.key", pki);
    it_fmt(ca, sizeof(ca), "%s/tls/ca.pem", pki);
    it_http_ca(ca);
    it_cluster_init(&c);
    for (int i = 0; i < 3; i++)
        it_cluster_add_filer(&c, 100, "--tls-cert", cert, "--tls-key", key, NULL);
    it_admin_shard_add(c.db);
    IT_CHECKF(strncmp(c.f[0].base, "https://", 8) == 0, "filer at %s", c.f[0].base);
    it_app_start_ok(&c.app, c.db, "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca, NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca,
                       NULL);
    /* The app tracks the filers over HTTPS: they come online, and take an upload. */
    it_wait_filer_table(c.db, 1, "online");
    it_wait_filer_table(c.db, 2, "online");
    it_wait_filer_table(c.db, 3, "online");
    it_upload_ok(NULL, c.app.base, 5, (2u << 20) + 1, 2, true, &rec);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_download_range_ok(NULL, c.objsrv.base, &rec, 5, 1000, 70000);
    it_check_placement(c.f, c.n, &rec);

    /* Verification is on: an objsrv that is not given the CA cannot look
     * the object up, and says which option gives the CA. */
    it_objsrv_start_ok(&bad, c.app.base, NULL);
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec.uuid);
    IT_EQ(it_http_to(NULL, bad.base, "GET", target, NULL, &r, NULL), 503);
    IT_CHECKF(r.body != NULL && strstr(r.body, "give its CA with --tls-ca") != NULL,
              "objsrv's reply \"%s\" does not name --tls-ca", r.body ? r.body : "");
    it_resp_fini(&r);
    it_proc_stop_ok(&bad);
    it_cluster_stop(&c);
}

/* --tls-internal=false: only the gateway serves HTTPS; a file goes through
 * it byte for byte, the other roles answer plain HTTP. */
static void t_gateway_only(void *arg)
{
    char gw[IT_URL_MAX], pw[64], ca[IT_PATH_MAX], tok[IT_PATH_MAX];
    char file[IT_PATH_MAX], got[IT_PATH_MAX];
    struct it_server s;
    struct it_resp r;
    int rc;

    (void)arg;
    it_server_start_ok(&s, "data", 2, "--tls", "--tls-internal=false", NULL);
    IT_CHECKF(strncmp(s.p.base, "http://", 7) == 0, "app at %s", s.p.base);
    IT_CHECKF(strncmp(s.filers[0], "http://", 7) == 0, "filer at %s", s.filers[0]);
    IT_EQ(it_http_to(NULL, s.objsrv, "GET", "/status", NULL, &r, NULL), 200);
    it_resp_fini(&r);
    gateway_lines(&s, gw, ca, pw);
    it_case_path(tok, "admin.token");
    it_case_path(got, "got");
    it_write_payload(file, "file", 9, (1u << 20) + 77, NULL);
    IT_EQ(CMD("login", "--gateway", gw, "--ca", ca, "--client", "demo", "--user", "admin",
              "--password", pw, "--token-file", tok),
          0);
    IT_EQ(CMD("put", file, "/g.bin", "--token-file", tok), 0);
    IT_EQ(CMD("get", "/g.bin", "-o", got, "--token-file", tok), 0);
    check_same(file, got);
    it_proc_signal(&s.p, SIGINT);
    IT_CHECKF(it_proc_wait_exit(&s.p, 30000, &rc), "coffer server ignored SIGINT");
    IT_EQ(it_exit_code(rc), 0);
}

/* A curl write callback that keeps nothing. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Whether a TLS handshake of versions lo..hi (CURL_SSLVERSION_*) with the
 * server at base succeeds and a GET /status (public) gets 200, trusting ca.
 * OpenSSL's security level 0 lets this client offer versions older than
 * TLS 1.2. */
static bool handshake(const char *base, const char *ca, long lo, long hi)
{
    char url[IT_URL_MAX + 16];
    CURL *e = curl_easy_init();
    CURLcode cc;
    long status = 0;

    IT_CHECK(e != NULL);
    it_fmt(url, sizeof(url), "%s/status", base);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, lo | hi);
    curl_easy_setopt(e, CURLOPT_SSL_CIPHER_LIST, "DEFAULT@SECLEVEL=0");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L * (long)it_multiplier());
    cc = curl_easy_perform(e);
    (void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return cc == CURLE_OK && status == 200;
}

/* A role refuses to start, exit 1, on TLS files it cannot serve with or
 * trust, naming the file and the reason. */
static void t_refuse(void *arg)
{
    char pki[IT_PATH_MAX], cert[IT_PATH_MAX], key[IT_PATH_MAX], ca_key[IT_PATH_MAX];
    char absent[IT_PATH_MAX], db[IT_PATH_MAX], ca[IT_PATH_MAX], log[4096];
    struct it_filer f;
    struct it_resp r;
    size_t mark = 0;
    int st = 0;

    (void)arg;
    it_case_path(pki, "pki");
    IT_EQ(CMD("admin", "tls", "init", "--data", pki), 0);
    it_fmt(cert, sizeof(cert), "%s/tls/server.pem", pki);
    it_fmt(key, sizeof(key), "%s/tls/server.key", pki);
    it_fmt(ca_key, sizeof(ca_key), "%s/tls/ca.key", pki);
    it_case_path(absent, "absent.pem");
    it_filer_init(&f, 1, "f1");
    /* The CA's key is not the certificate's. */
    IT_EQ(it_filer_start(&f, &st, "--tls-cert", cert, "--tls-key", ca_key, NULL), -1);
    IT_EQ(it_exit_code(st), 1);
    it_filer_read_log(&f, log, sizeof(log));
    IT_CHECKF(strstr(log, "is not the one of the certificate") != NULL, "log: %s", log);
    /* A certificate without a key. */
    IT_EQ(it_filer_start(&f, &st, "--tls-cert", cert, NULL), -1);
    IT_EQ(it_exit_code(st), 1);
    it_filer_read_log(&f, log, sizeof(log));
    IT_CHECKF(strstr(log, "--tls-key") != NULL, "log: %s", log);
    /* A file that is not there. */
    IT_EQ(it_filer_start(&f, &st, "--tls-cert", absent, "--tls-key", key, NULL), -1);
    IT_EQ(it_exit_code(st), 1);
    it_filer_read_log(&f, log, sizeof(log));
    IT_CHECKF(strstr(log, "absent.pem") != NULL, "log: %s", log);
    /* A CA file that holds no certificate. */
    it_case_db(db);
    IT_EQ(CMD("app", "--listen", "127.0.0.1:0", "--db", db, "--tls-ca", key), 1);
    IT_CHECKF(log_has(&mark, "holds no PEM certificate"), "no reason in cmd.log");
    /* The right pair serves. */
    it_filer_start_ok(&f, "--tls-cert", cert, "--tls-key", key, NULL);
    IT_CHECKF(strncmp(f.base, "https://", 8) == 0, "filer at %s", f.base);
    it_fmt(ca, sizeof(ca), "%s/tls/ca.pem", pki);
    it_http_ca(ca);
    IT_EQ(it_http_to(NULL, f.base, "GET", "/status", NULL, &r, NULL), 200);
    it_resp_fini(&r);
    /* TLS 1.2 and 1.3 only: 1.0 and 1.1 are refused. */
    IT_CHECK(handshake(f.base, ca, CURL_SSLVERSION_TLSv1_3, CURL_SSLVERSION_MAX_TLSv1_3));
    IT_CHECK(handshake(f.base, ca, CURL_SSLVERSION_TLSv1_2, CURL_SSLVERSION_MAX_TLSv1_2));
    IT_CHECK(!handshake(f.base, ca, CURL_SSLVERSION_TLSv1_1, CURL_SSLVERSION_MAX_TLSv1_1));
    IT_CHECK(!handshake(f.base, ca, CURL_SSLVERSION_TLSv1_0, CURL_SSLVERSION_MAX_TLSv1_0));
    it_filer_stop_ok(&f);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"server", t_server, NULL, 90},
        {"roles", t_roles, NULL, 90},
        {"refuse", t_refuse, NULL, 60},
        {"gateway_only", t_gateway_only, NULL, 90},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
