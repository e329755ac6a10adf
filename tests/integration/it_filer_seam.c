/*
 * it_filer_seam.c -- the I/O seam reached in a running filer: `coffer
 * filer --fault-injection` arms faults in front of its disk calls over
 * HTTP (/debug/faults, src/filer/faults_int.h), so a test makes a real
 * filer meet what the OS will not produce on demand (STYLE 2.8).
 *
 * Cases:
 *   put_faults  EIO on fsync, rename, setxattr and write, ENOSPC and EDQUOT
 *               on write (at the first write or after some): the PUT gets
 *               the documented status (500, or 507 for a full disk) with its
 *               error body; nothing is visible (GET 404, /list empty, usage
 *               0); no temporary is left; io_errors counts the EIO failures
 *               and not the full disk; a fault armed for N calls fails
 *               exactly N; once cleared, the next PUT succeeds
 *   endpoint    without the option /debug/faults is 404 like any unknown
 *               URL; with it, a bad body is 400, an oversized one 413, the
 *               17th fault 429, another method 405
 *   via_app     an upload whose filer fails its fsync with EIO is replaced:
 *               the app copies the finished replica to another filer, and
 *               the record lists the good filers only; the app's tracker
 *               writes the new I/O error to the scribe
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/scribe.h"
#include "harness.h"

#define PUT_PATH "seam/obj"

/* Send method /debug/faults with a body (may be NULL) over a raw connection,
 * so any bytes can be sent. Returns the status; *out (may be NULL) gets the
 * reply's JSON body (caller owns; NULL if none). */
static long faults_req(const struct it_filer *f, const char *method, const char *body, json_t **out)
{
    char req[4096 + CF_CRED_HEADER_MAX], reply[8192];
    const char *json;
    json_error_t je;
    size_t n;
    long st;

    it_fmt(req, sizeof(req),
           "%s /debug/faults HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: %zu\r\n"
           "Connection: close\r\n\r\n%s",
           method, f->port, body != NULL ? strlen(body) : 0, body != NULL ? body : "");
    n = strlen(req);
    it_raw_sign(req, &n, sizeof(req));
    st = it_raw_exchange(f, req, n, reply, sizeof(reply));
    json = strstr(reply, "\r\n\r\n");
    if (out != NULL)
        *out = json != NULL && json[4] != '\0' ? json_loads(json + 4, 0, &je) : NULL;
    return st;
}

/* Arm one fault (JSON text); it must be taken (201). */
static void arm(const struct it_filer *f, const char *fault)
{
    json_t *j = NULL;
    long st = faults_req(f, "POST", fault, &j);

    IT_CHECKF(st == 201, "POST /debug/faults %s: status %ld", fault, st);
    IT_CHECK(json_is_array(json_object_get(j, "faults")));
    json_decref(j);
}

/* The armed faults (GET /debug/faults): the array (a new reference). */
static json_t *faults_list(const struct it_filer *f)
{
    json_t *j = NULL, *arr;

    IT_EQ(faults_req(f, "GET", NULL, &j), 200);
    arr = json_incref(json_object_get(j, "faults"));
    json_decref(j);
    IT_CHECK(json_is_array(arr));
    return arr;
}

static void clear(const struct it_filer *f)
{
    json_t *arr;

    IT_EQ(faults_req(f, "DELETE", NULL, NULL), 204);
    arr = faults_list(f);
    IT_EQ(json_array_size(arr), 0);
    json_decref(arr);
}

/* PUT the payload (seed, size), which must fail with status and error. */
static void put_fails(const struct it_filer *f, uint64_t seed, uint64_t size, bool chunked,
                      long status, const char *error)
{
    struct it_body b = {.chunked = chunked};
    struct it_resp r;

    it_gen_init(&b.gen, seed, size);
    IT_EQ(it_http(NULL, f, "PUT", "/o/" PUT_PATH, &b, &r, NULL), status);
    it_gen_fini(&b.gen);
    it_check_error_body(&r, error);
    it_resp_fini(&r);
}

/* Nothing of PUT_PATH is visible or left behind. */
static void check_nothing(const struct it_filer *f)
{
    struct it_resp r;
    json_t *j;

    IT_EQ(it_status_of(NULL, f, "GET", "/o/" PUT_PATH), 404);
    IT_EQ(it_status_of(NULL, f, "HEAD", "/o/" PUT_PATH), 404);
    IT_EQ(it_object_file_size(f, PUT_PATH), -1);
    IT_EQ(it_http(NULL, f, "GET", "/list", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    IT_EQ(json_array_size(json_object_get(j, "objects")), 0);
    json_decref(j);
    it_resp_fini(&r);
    IT_EQ(it_count_tmp(f->dir), 0);
    it_check_usage(f, 0, 0);
    IT_EQ(it_status_int(f, "reserved_bytes"), 0);
}

/* One fault and what the client sees. */
struct put_fault {
    const char *fault; /* JSON */
    uint64_t size;
    bool chunked;
    long status;
    const char *error;
    int64_t io_errors; /* added by this failure */
    int64_t passed;    /* calls the fault let through first */
};

/* Sizes: the filer buffers CF_FILER_WRITE_BUF (256 KiB) before it writes,
 * so 100000 bytes reach the disk in one write at commit and 1 MiB in four
 * writes while the body arrives. */
static const struct put_fault put_faults[] = {
    {"{\"call\":\"fsync\",\"errno\":\"EIO\"}", 100000, false, 500, "EIO", 1, 0},
    {"{\"call\":\"fsync\",\"errno\":\"EIO\"}", IT_MIB, true, 500, "EIO", 1, 0},
    {"{\"call\":\"renameat2\",\"errno\":\"EIO\"}", 100000, false, 500, "EIO", 1, 0},
    {"{\"call\":\"fsetxattr\",\"errno\":\"EIO\"}", 100000, true, 500, "EIO", 1, 0},
    {"{\"call\":\"write\",\"errno\":\"EIO\"}", 100000, false, 500, "EIO", 1, 0},
    {"{\"call\":\"write\",\"errno\":\"ENOSPC\"}", 100000, false, 507, "ENOSPC", 0, 0},
    {"{\"call\":\"write\",\"errno\":\"ENOSPC\",\"after\":2}", IT_MIB, false, 507, "ENOSPC", 0, 2},
    {"{\"call\":\"write\",\"errno\":\"EDQUOT\",\"after\":1}", IT_MIB, true, 507, "ENOSPC", 0, 1},
};

static void t_put_faults(void *arg)
{
    uint8_t sha[CF_SHA512_LEN];
    struct it_filer f;
    int64_t io = 0;
    json_t *arr, *e;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    /* These faults meet a plain file's calls (write, fsync, fsetxattr,
     * renameat2), so small objects stay plain files here; the volume's
     * faults are test_volume's and it_volume's. */
    it_filer_start_ok(&f, "--fault-injection", "--small-max", "0", NULL);
    /* The object's directory is made once, so each fault meets the upload's
     * own calls (a new directory is fsync'ed before the temporary exists). */
    it_put_ok(NULL, &f, PUT_PATH, 1, 10, false, NULL);
    IT_EQ(it_status_of(NULL, &f, "DELETE", "/o/" PUT_PATH), 204);

    for (size_t i = 0; i < CF_ARRAY_LEN(put_faults); i++) {
        const struct put_fault *pf = &put_faults[i];
        arm(&f, pf->fault);
        put_fails(&f, 10 + i, pf->size, pf->chunked, pf->status, pf->error);
        io += pf->io_errors;
        check_nothing(&f);
        IT_EQ(it_status_int(&f, "io_errors"), io);
        arr = faults_list(&f);
        IT_EQ(json_array_size(arr), 1);
        e = json_array_get(arr, 0);
        IT_EQ(it_json_int(e, "fired"), 1);
        IT_EQ(it_json_int(e, "passed"), pf->passed);
        json_decref(arr);
        clear(&f);
    }

    /* "times": exactly that many calls fail; the used-up fault stays listed. */
    arm(&f, "{\"call\":\"fsync\",\"errno\":\"EIO\",\"times\":2}");
    put_fails(&f, 30, 5000, false, 500, "EIO");
    put_fails(&f, 31, 5000, true, 500, "EIO");
    io += 2;
    check_nothing(&f);
    it_put_ok(NULL, &f, PUT_PATH, 32, 5000, false, sha);
    it_get_ok(NULL, &f, PUT_PATH, 5000, sha);
    arr = faults_list(&f);
    IT_EQ(json_array_size(arr), 1);
    IT_EQ(it_json_int(json_array_get(arr, 0), "fired"), 2);
    json_decref(arr);
    clear(&f);
    IT_EQ(it_status_of(NULL, &f, "DELETE", "/o/" PUT_PATH), 204);

    /* Cleared: the next PUT is stored as usual. */
    it_put_ok(NULL, &f, PUT_PATH, 33, IT_MIB, true, sha);
    it_get_ok(NULL, &f, PUT_PATH, IT_MIB, sha);
    it_check_object_file(&f, PUT_PATH, IT_MIB, sha);
    it_check_usage(&f, 1, IT_MIB);
    IT_EQ(it_status_int(&f, "io_errors"), io);
    IT_EQ(it_count_tmp(f.dir), 0);
    it_filer_stop_ok(&f);
}

static void t_endpoint(void *arg)
{
    static const char *const bad[] = {
        "not json",
        "{}",
        "[]",
        "{\"call\":\"read\",\"errno\":\"EIO\"}",
        "{\"call\":\"fsync\",\"errno\":\"EAGAIN\"}",
        "{\"call\":\"fsync\"}",
        "{\"errno\":\"EIO\"}",
        "{\"call\":\"fsync\",\"errno\":\"EIO\",\"times\":0}",
        "{\"call\":\"fsync\",\"errno\":\"EIO\",\"times\":1000001}",
        "{\"call\":\"fsync\",\"errno\":\"EIO\",\"times\":\"1\"}",
        "{\"call\":\"fsync\",\"errno\":\"EIO\",\"after\":-1}",
        "{\"call\":\"fsync\",\"errno\":\"EIO\",\"path\":\"x\"}",
    };
    static const char *const methods[] = {"GET", "POST", "DELETE"};
    char big[2048];
    struct it_filer f;
    struct it_resp r;
    json_t *arr;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    for (size_t i = 0; i < CF_ARRAY_LEN(methods); i++) {
        IT_EQ(it_http(NULL, &f, methods[i], "/debug/faults", NULL, &r, NULL), 404);
        it_check_error_body(&r, "ENOTFOUND");
        it_resp_fini(&r);
    }
    it_filer_stop_ok(&f);

    it_filer_start_ok(&f, "--fault-injection", NULL);
    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
        long st = faults_req(&f, "POST", bad[i], NULL);
        IT_CHECKF(st == 400, "POST /debug/faults %s: status %ld, expected 400", bad[i], st);
    }
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "{\"call\":\"fsync\",\"errno\":\"EIO\"}", 30);
    IT_EQ(faults_req(&f, "POST", big, NULL), 413);
    IT_EQ(it_http(NULL, &f, "PATCH", "/debug/faults", NULL, &r, NULL), 405);
    it_check_error_body(&r, "EMETHOD");
    it_resp_fini(&r);
    arr = faults_list(&f);
    IT_EQ(json_array_size(arr), 0);
    json_decref(arr);

    for (unsigned i = 0; i < 16; i++)
        arm(&f, "{\"call\":\"unlinkat\",\"errno\":\"EROFS\",\"after\":1000000}");
    IT_EQ(faults_req(&f, "POST", "{\"call\":\"fsync\",\"errno\":\"EIO\"}", NULL), 429);
    arr = faults_list(&f);
    IT_EQ(json_array_size(arr), 16);
    json_decref(arr);
    clear(&f);
    it_roundtrip(NULL, &f, PUT_PATH, 40, 1000, false);
    IT_EQ(it_status_int(&f, "io_errors"), 0);
    it_filer_stop_ok(&f);
}

struct scribe_wait {
    const char *db;
    int64_t want, last;
};

static bool filer_errors_are(void *arg)
{
    struct scribe_wait *w = arg;

    w->last = it_scribe_count_msg(w->db, CF_SCRIBE_FILER_ERROR, "new I/O errors");
    return w->last == w->want;
}

/* Filers 1 and 2 (weight 100) take the uploads; filer 1 fails its fsync
 * with EIO once. The app replaces it: filer 3 (weight 1) gets a copy of
 * filer 2's finished replica before the client hears 201. */
static void t_via_app(void *arg)
{
    const uint64_t size = 4 * IT_MIB;
    struct scribe_wait sw;
    struct it_record first, rec, again;
    struct it_cluster c;
    int64_t out2;
    json_t *arr;

    (void)arg;
    it_cluster_init(&c);
    it_cluster_add_filer(&c, 100, "--fault-injection", NULL);
    it_cluster_add_filer(&c, 100, NULL);
    it_cluster_add_filer(&c, 1, NULL);
    it_admin_shard_add(c.db);
    it_app_start_ok(&c.app, c.db, NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    it_upload_ok(NULL, c.app.base, 50, 1000, 0, false, &first);
    IT_CHECK(it_record_has(&first, 1) && it_record_has(&first, 2));

    arm(&c.f[0], "{\"call\":\"fsync\",\"errno\":\"EIO\"}");
    out2 = it_status_int(&c.f[1], "bytes_out");
    it_upload_ok(NULL, c.app.base, 51, size, 0, false, &rec);
    IT_CHECKF(it_record_has(&rec, 2) && it_record_has(&rec, 3) && !it_record_has(&rec, 1),
              "record lists filers %u and %u", rec.filers[0], rec.filers[1]);
    it_check_placement(c.f, c.n, &rec);
    /* Filer 1 holds only the first object and left nothing behind. */
    arr = faults_list(&c.f[0]);
    IT_EQ(it_json_int(json_array_get(arr, 0), "fired"), 1);
    json_decref(arr);
    it_wait_no_tmp(&c.f[0]);
    it_check_usage(&c.f[0], 1, 1000);
    IT_EQ(it_status_int(&c.f[0], "io_errors"), 1);
    /* The replacement is a copy of filer 2's replica: filer 2 sent the
     * object once, filer 3 took exactly one PUT. */
    IT_EQ(it_status_int(&c.f[1], "bytes_out") - out2, (int64_t)size);
    it_wait_metric(c.f[2].base,
                   "coffer_http_requests_total{role=\"filer\",method=\"PUT\",code=\"2xx\"}", 1);
    it_download_ok(NULL, c.objsrv.base, &rec);
    /* The app's tracker saw the new I/O error, and the upload's failure on
     * filer 1 is an event of its own. */
    sw = (struct scribe_wait){c.db, 1, 0};
    IT_CHECKF(it_wait_for(filer_errors_are, &sw, 100, 100),
              "%lld I/O error events in the scribe, not 1", (long long)sw.last);
    IT_EQ(it_scribe_count_msg(c.db, CF_SCRIBE_FILER_ERROR, "upload: "), 1);

    /* Cleared: filer 1 takes uploads again once the app sees it online. */
    clear(&c.f[0]);
    it_wait_filer_status(&c, first.uuid, 1, "online");
    it_upload_ok(NULL, c.app.base, 52, size, 0, false, &again);
    IT_CHECK(it_record_has(&again, 1) && it_record_has(&again, 2));
    it_check_placement(c.f, c.n, &again);
    it_download_ok(NULL, c.objsrv.base, &again);
    IT_EQ(it_status_int(&c.f[0], "io_errors"), 1);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"put_faults", t_put_faults, NULL, 60},
        {"endpoint", t_endpoint, NULL, 60},
        {"via_app", t_via_app, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
