/*
 * limits.h -- every cap on input-driven sizes, in one place.
 *
 * Role: any size that comes from the network or a file is checked against
 * one of these before memory is allocated for it (STYLE 2.3).
 */
#ifndef COFFER_LIMITS_H
#define COFFER_LIMITS_H

/* Object paths (objpath.h). A path is at most this many bytes (a filer
 * stores it as one file name, and NAME_MAX is 255)... */
#define CF_PATH_MAX 255
/* ...and each '/'-separated segment at most this many. */
#define CF_PATH_SEGMENT_MAX 200
/* Segments per path. */
#define CF_PATH_DEPTH_MAX 16

/* A request's header block (request line + headers), in bytes. Larger gets 431. */
#define CF_HTTP_HEADER_MAX (16 * 1024)
/* Per-connection memory of the HTTP server (headers + receive buffer). The
 * receive buffer sets the size of the pieces an upload body is handed on in
 * (gateway -> app -> filers): at 64 KiB they were about 22 KiB, with a poll
 * and a recv for each. libmicrohttpd zeroes the whole block between two
 * requests of a connection, so small requests pay for a larger one. */
#define CF_HTTP_CONN_MEMORY (128 * 1024)
/* The gateway's connections: clients send small requests and small
 * objects, and the zeroing of CF_HTTP_CONN_MEMORY was ~5% of a 4 KiB GET's
 * CPU. A full CF_HTTP_HEADER_MAX header block still fits, with room for
 * libmicrohttpd's record of each header line and the reply's headers. */
#define CF_HTTP_GATEWAY_CONN_MEMORY (64 * 1024)
/* Simultaneous client connections to one server; each has a thread. */
#define CF_HTTP_CONN_MAX 1024

/* A request refused before its body arrives: a body up to this size is read
 * and dropped so the client gets the reply; a larger one closes the
 * connection (clients sending big bodies should use Expect: 100-continue). */
#define CF_HTTP_DISCARD_MAX (4 * 1024 * 1024)

/* Bytes a filer buffers per upload before writing to disk. */
#define CF_FILER_WRITE_BUF (256 * 1024)
/* /list page size: default and maximum. */
#define CF_LIST_DEFAULT 1000
#define CF_LIST_MAX     10000

/* Fewest replicas an object may be stored with (DESIGN §1: every object on
 * at least two filers): the app, its ?replicas=, per-client settings,
 * `coffer server --replicas` and `coffer put --replicas` refuse fewer. */
#define CF_REPLICAS_MIN 2

/* Seconds SIGTERM waits for requests in flight before closing them. */
#define CF_DRAIN_TIMEOUT_S 30

#endif
