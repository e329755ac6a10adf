/*
 * disk.h -- a filer's directory seen from the test: object files checked
 * byte for byte, damaged behind the filer's back (a flipped byte, a cut
 * file, a removed file), temporaries counted, whole trees compared.
 *
 * Role: the filer's on-disk layout is the one cf_objpath_relpath gives
 * (<dir>/<relative path of the object path>), or for a small object a record
 * in a volume file (<dir>/volumes/NNNNNN.vol, found by scanning the records'
 * headers); temporaries are regular files named ".tmp.*". "The object's
 * file" below means whichever holds its bytes. Nothing here goes through the filer: a fault made
 * here is what a failing disk or an operator would do. Failing: an unexpected I/O error fails the
 * case, naming the call and the path. Waiting: it_wait_tmp and it_wait_no_tmp poll 50 times 100 ms
 * apart (times the multiplier). Threads: the case's main thread.
 */
#ifndef COFFER_IT_DISK_H
#define COFFER_IT_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "harness/http.h"
#include "harness/payload.h"
#include "harness/proc.h"

/* Regular files under dir whose name starts with ".tmp." (recursive); 0 if
 * dir is absent. */
unsigned it_count_tmp(const char *dir);
/* Regular files under dir (recursive); 0 if dir is absent. */
unsigned it_count_files(const char *dir);
/* Wait (bounded) until f's directory holds at least n temporary files: the
 * filer has started writing that many uploads. */
void it_wait_tmp(const struct it_filer *f, unsigned n);
/* Wait (bounded) until f's directory holds no temporary file. */
void it_wait_no_tmp(const struct it_filer *f);

/* Size of the file (or volume record) of object path in f's store, or -1 if
 * absent. */
int64_t it_object_file_size(const struct it_filer *f, const char *path);
/* Whether object path is a record in one of f's volumes. */
bool it_object_in_volume(const struct it_filer *f, const char *path);
/* The object's file holds exactly (size, sha). */
void it_check_object_file(const struct it_filer *f, const char *path, uint64_t size,
                          const uint8_t sha[CF_SHA512_LEN]);
/* Remove the file of object path from f's store (it must be there, as a
 * plain file: a running filer keeps indexing a volume record). */
void it_object_file_remove(const struct it_filer *f, const char *path);
/* Invert the byte at off of the object's file in f's store, in place, and
 * fsync it. */
void it_flip_object_byte(const struct it_filer *f, const char *path, uint64_t off);
/* Cut the object's file in f's store to size bytes. A volume record cannot
 * be cut in place: its bytes from size on are inverted instead (the filer
 * serves the record's full length with wrong bytes). */
void it_truncate_object(const struct it_filer *f, const char *path, uint64_t size);

/* Every entry under dir except *.log files, one "path mode size mtime" line
 * each, sorted: compare two snapshots to see that nothing changed. Caller
 * owns; free(). */
char *it_tree_snapshot(const char *dir);

/* PUT then GET a payload through f (it_put_ok, it_get_ok), and check the
 * object's file on disk. */
void it_roundtrip(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
                  uint64_t size, bool chunked);

#endif
