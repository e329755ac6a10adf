/*
 * clockguard.h -- the time retention decisions may use: the wall clock,
 * unless it jumped forward.
 *
 * Role: the purge (records marked deleted over --purge-retention-s ago),
 * stale-replica expiry, trash expiry and scribe retention compare stored
 * wall-clock times with "now". A wall clock set a year ahead (a bad NTP
 * server, an operator's typo, a VM restored with a wrong RTC) would make
 * each of them act on everything at once. A guard remembers the last wall
 * time it accepted with the boot clock (CLOCK_BOOTTIME: monotonic, counts
 * suspend) at that moment, and accepts a new wall time only if it is not
 * ahead of "last accepted + boot time elapsed" by more than
 * CF_CLOCKGUARD_TOLERANCE_MS. Past that, it returns the guarded time
 * (last accepted + elapsed) until the wall clock falls back in line: a
 * forward jump delays retention by the jump, never brings it forward. A
 * clock set back is accepted at once (retention then acts later, which is
 * safe).
 *
 * Persistence: the last accepted pair is kept in the catalog (table
 * clock_seen, one row per guard name: role@host), with the machine's boot
 * id, so a restart on the same boot (CLOCK_BOOTTIME goes on) still knows
 * where the wall clock should be. After a reboot, or on the first start,
 * the wall clock is accepted as it is.
 *
 * Tests: test_offset_file (the roles' --test-clock-offset-file, for tests
 * only) names a file holding a signed number of milliseconds added to the
 * wall clock (absent or empty: 0), read at every call, so a test can jump
 * the clock of a running process.
 *
 * Errors: db.h codes with a detail in err (may be NULL).
 * Threads: cf_clockguard_now is thread-safe.
 */
#ifndef COFFER_CLOCKGUARD_H
#define COFFER_CLOCKGUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "coffer/common.h"

/* How far the wall clock may run ahead of the boot clock before it is not
 * believed: NTP steps and slews stay far below this; a jump that matters
 * for retentions of hours and days is far above. */
#define CF_CLOCKGUARD_TOLERANCE_MS (10 * 60 * 1000ull)

/* The decision alone (no clock read, no state): the last accepted wall time
 * ref_wall_ms taken at boot-clock time ref_boot_ms; now the wall clock says
 * wall_ms at boot-clock time boot_ms (>= ref_boot_ms). Returns wall_ms when
 * it is at most tolerance_ms ahead of ref_wall_ms + (boot_ms - ref_boot_ms),
 * with *jumped false; else that guarded time, with *jumped true. */
uint64_t cf_clockguard_decide(uint64_t ref_wall_ms, uint64_t ref_boot_ms, uint64_t wall_ms,
                              uint64_t boot_ms, uint64_t tolerance_ms, bool *jumped);

struct cf_clockguard;

/* Open a guard named name (borrowed, e.g. "app"; the host name is added)
 * that keeps its state in the catalog at uri (borrowed; creates the table
 * if missing), with test_offset_file (borrowed, may be NULL; see above).
 * On success *out is the guard (caller owns; cf_clockguard_close). Returns
 * 0 or a db.h error. */
CF_MUST_CHECK int cf_clockguard_open(const char *uri, const char *name,
                                     const char *test_offset_file, struct cf_clockguard **out,
                                     char *err);

/* Close. NULL is a no-op. */
void cf_clockguard_close(struct cf_clockguard *g);

/* The wall clock as this process sees it (the test offset applied). g may
 * be NULL: cf_wall_ms(). */
uint64_t cf_clockguard_wall_ms(const struct cf_clockguard *g);

/* The time retention may use now (see above); g may be NULL: cf_wall_ms().
 * An accepted wall time is saved in the catalog (a failure to save is
 * logged at WARN and otherwise ignored). *jump_found (may be NULL) is set
 * true on the call that first finds a jump (a WARN line is logged; the
 * caller may record it in the scribe), else false. */
uint64_t cf_clockguard_now(struct cf_clockguard *g, bool *jump_found);

#endif
