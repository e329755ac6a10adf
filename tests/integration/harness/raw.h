/*
 * raw.h -- raw TCP connections to a filer, for the requests libcurl would
 * not send: malformed or partial requests, a client that vanishes
 * mid-body, a body sent at the test's own pace.
 *
 * Role: the test writes the bytes of the request itself and reads the reply
 * as the server sent it (status line, headers, body), with no
 * interpretation beyond the status and the end of the reply.
 * Waiting: each read and write on a raw socket times out after 30 s (times
 * the multiplier).
 * Ownership: a returned fd is the caller's to close().
 * Threads: any thread, each with its own sockets.
 */
#ifndef COFFER_IT_RAW_H
#define COFFER_IT_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/payload.h"
#include "harness/proc.h"

/* Connect to the filer (fails the case on error). The socket is close-on-exec
 * and its reads and writes time out. */
int it_raw_connect(const struct it_filer *f);
/* Connect to 127.0.0.1:port; returns the fd or -errno. */
int it_raw_try_connect(unsigned port);
/* Connect to 127.0.0.1:port from the source address src ("127.0.0.2":
 * loopback is a /8, so each address is a distinct client to the server).
 * Reads time out after read_s seconds (times the multiplier), not the usual
 * 30 s. Returns the fd; fails the case on error. */
int it_raw_connect_from(const char *src, unsigned port, unsigned read_s);
/* Send all n bytes; returns false if the peer went away (EPIPE,
 * ECONNRESET). Any other error fails the case. */
bool it_raw_send(int fd, const void *p, size_t n);
/* Send the next n bytes of a payload. Returns false if the peer went away. */
bool it_raw_send_gen(int fd, struct it_gen *g, uint64_t n);
/* Connect and send the header block of a raw PUT of /o/path: Content-Length
 * when size >= 0, else chunked; the body is the caller's to send. */
int it_raw_put_begin(const struct it_filer *f, const char *path, int64_t size);
/* Sign a raw request as the operator (keys.h): insert after the request
 * line of req[0..*n) (cap bytes in all) an Authorization line for its
 * method and target (as libmicrohttpd sees it: up to a space, CR, LF or
 * NUL) and its Host header's value. A request line that does not parse
 * (no CR LF, no space) is left as it is. */
void it_raw_sign(char *req, size_t *n, size_t cap);

/* Read a reply until EOF or until its headers and Content-Length body are in
 * (interim 1xx replies are skipped). Keeps up to cap - 1 bytes in buf
 * (NUL-terminated). Returns the status, 0 if the connection closed with no
 * status line, or -1 on timeout. */
long it_raw_read_reply(int fd, char *buf, size_t cap);
/* Connect, send n bytes, shut down the write side, read the reply, close.
 * Same returns as it_raw_read_reply. */
long it_raw_exchange(const struct it_filer *f, const void *req, size_t n, char *buf, size_t cap);

#endif
