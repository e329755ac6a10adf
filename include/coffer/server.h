/*
 * server.h -- `coffer server`: the embedded single-machine system.
 *
 * Role: DESIGN §1. One process runs N filers (each its own directory under
 * the data directory), the app (with a SQLite object database under the data
 * directory: catalog.db and shard-0001.db, created on first start), objsrv,
 * the monitor (filer tracking and the scribe; the app only re-reads its
 * summary table) and the gateway (file system database fs-catalog.db, a client "demo" with
 * an admin whose password is printed once, on first start), registers the
 * filers, prints the URLs, and on SIGINT/SIGTERM drains and stops everything. Every role keeps its
 * own HTTP server and talks to the others over HTTP on loopback, exactly as separate processes
 * would.
 *
 * With --db postgres:CONNINFO the metadata is on that PostgreSQL server
 * instead: databases PREFIX_catalog, PREFIX_shard_1, PREFIX_fs and
 * PREFIX_fs_1 (--db-prefix, default "coffer"), made through its "postgres"
 * database if missing; the filers, keys and TLS files stay under the data
 * directory.
 */
#ifndef COFFER_SERVER_H
#define COFFER_SERVER_H

/* `coffer server [options]`. Returns the exit status. */
int cf_server_main(int argc, char **argv);

#endif
