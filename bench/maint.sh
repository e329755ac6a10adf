#!/usr/bin/env bash
# bench/maint.sh BUILD_DIR -- rebuild and audit throughput.
#
# All on 127.0.0.1, in BUILD_DIR/bench-maint (the build's disk). FILERS
# `coffer filer` processes (ids 1..FILERS), one `coffer app` with r = 2 on a
# SQLite catalog. Loaded once with SMALL_COUNT objects of SMALL_SIZE and
# LARGE_COUNT objects of LARGE_SIZE (POST to the app, distinct contents).
# Then REPEAT rounds, each of, in this order:
#   1. rebuild: filer 1 is stopped, its directory wiped, and it is started
#      again empty; `coffer admin rebuild --filer 1` copies back every object
#      it held (from the other replica) and the wall time is taken. The
#      figures are the files and bytes that are back in its directory.
#   2. the copy baseline: the rebuilt directory copied with `cp -a` to a
#      scratch directory, then `sync` (no per-file fsync: cheaper than what
#      the rebuild must do);
#   3. the disk limit: disklimit's durable 4 KiB creates/s and fsync'ed MB/s
#      this round, from which the least time the rebuilt files could take:
#      files / creates_per_s + bytes / MBps;
#   4. audit: `coffer admin audit` reads every replica of every object and
#      verifies its SHA-512 (wall time; bytes = every filer's object bytes);
#   5. the hash baseline: sha512sum over every object file (one core).
# Ratios are taken within each round; the medians of the rounds are shown.
# Figures, not pass/fail: exit 0 unless something broke.
#
# Environment overrides (defaults in brackets):
#   REPEAT [3]  FILERS [3]  SMALL_COUNT [10000]  SMALL_SIZE [4K]  LARGE_COUNT [20]
#   LARGE_SIZE [32M]  CONC [16]  DISK_THREADS [16]  DISK_SECONDS [5]  DISK_COUNT [20000]
#   DISK_WRITE_SIZE [256M]  KEEP_TMP [0]
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
NAME=maint.sh
# shellcheck source=bench/lib.sh
. "$SRC_DIR/bench/lib.sh"
build_dir_arg "$@"

REPEAT=${REPEAT:-3}
FILERS=${FILERS:-3}
SMALL_COUNT=${SMALL_COUNT:-10000}
SMALL_SIZE=${SMALL_SIZE:-4K}
LARGE_COUNT=${LARGE_COUNT:-20}
LARGE_SIZE=${LARGE_SIZE:-32M}
CONC=${CONC:-16}
disk_defaults
KEEP_TMP=${KEEP_TMP:-0}

need_ints 0 REPEAT FILERS SMALL_COUNT LARGE_COUNT CONC
if [ "$FILERS" -lt 2 ]; then
    echo "maint.sh: FILERS must be at least 2 (r = 2)" >&2
    exit 2
fi

COFFER=$BUILD_DIR/coffer
CBENCH=$BUILD_DIR/bench/coffer-bench
DISKLIMIT=$BUILD_DIR/bench/disklimit
need_built "make bench does" "$COFFER" "$CBENCH" "$DISKLIMIT"

TMP=$BUILD_DIR/bench-maint
RESULTS=$BUILD_DIR/bench-maint-results.txt
DB=sqlite:$TMP/catalog.db
declare -a FILER_PID FILER_PORT
APP_PID=
APP_URL=

# shellcheck disable=SC2317 # reached through the trap begin_run sets
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    stop_pid "$APP_PID"
    for ((i = 1; i <= FILERS; i++)); do
        stop_pid "${FILER_PID[$i]:-}"
    done
    finish_tmp "$rc" "$TMP"/*.log
    exit "$rc"
}
begin_run

# start_filer I [PORT]: filer I on PORT (0: any free port).
start_filer() {
    local i=$1 port=${2:-0} line
    mkdir -p "$TMP/f$i"
    : >"$TMP/f$i.out"
    "$COFFER" filer --id "$i" --dir "$TMP/f$i" --listen "127.0.0.1:$port" \
        --cluster-key-file "$KEYS/cluster.key" >"$TMP/f$i.out" 2>>"$TMP/f$i.log" &
    FILER_PID[i]=$!
    line=$(wait_line "$TMP/f$i.out" 'listening on http://127\.0\.0\.1:[0-9]*' "${FILER_PID[$i]}" \
        "filer $i")
    FILER_PORT[i]=${line##*:}
}

start_app() {
    local line
    "$COFFER" app --db "$DB" --listen 127.0.0.1:0 --replicas 2 --poll-ms 200 \
        --purge-interval-ms 0 --stale-delay-ms 0 --audit-interval-s 0 --dedupe-interval-s 0 \
        --cluster-key-file "$KEYS/cluster.key" --operator-pub-file "$KEYS/operator.pub" \
        >"$TMP/app.out" 2>>"$TMP/app.log" &
    APP_PID=$!
    line=$(wait_line "$TMP/app.out" 'listening on http://127\.0\.0\.1:[0-9]*' "$APP_PID" app)
    APP_URL=${line##* }
}

# Seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# div A B [FORMAT]: A / B (nothing if B is 0 or either is missing).
div() {
    awk -v a="${1:-}" -v b="${2:-}" -v f="${3:-%.2f}" \
        'BEGIN { if (a != "" && b != "" && b + 0 != 0) printf f, a / b }'
}
# Object files and their bytes under a filer directory (temp files excluded).
files_of() { find "$1" -type f ! -name '*.tmp*' ! -name LOCK ! -name FILER_ID | wc -l; }
bytes_of() {
    find "$1" -type f ! -name '*.tmp*' ! -name LOCK ! -name FILER_ID -printf '%s\n' |
        awk '{ s += $1 } END { printf "%.0f", s }'
}

# Wait (up to 20 s) until the app reports filer $1 online.
wait_online() {
    local i out
    for ((i = 0; i < 200; i++)); do
        out=$("$COFFER" admin filer list --db "$DB" 2>/dev/null || true)
        if grep -Eq "^ *$1[[:space:]].*online" <<<"$out"; then
            return 0
        fi
        sleep 0.1
    done
    fail "filer $1 did not come back online within 20 s"
}

t_start=$(date +%s)
# The keys of the run: roles sign with the cluster key, the admin commands
# and coffer-bench speak as the operator and as a role.
KEYS=$TMP/keys
"$COFFER" admin keys init --data "$KEYS" >/dev/null || fail "coffer admin keys init failed"
export COFFER_OPERATOR_KEY_FILE=$KEYS/operator.key
"$COFFER" admin shard add --db "$DB" >/dev/null
for ((i = 1; i <= FILERS; i++)); do
    start_filer "$i"
    "$COFFER" admin filer add --db "$DB" --id "$i" --url "http://127.0.0.1:${FILER_PORT[$i]}" \
        >/dev/null
done
start_app
for ((i = 1; i <= FILERS; i++)); do
    wait_online "$i"
done

say "maint.sh: loading $SMALL_COUNT x $SMALL_SIZE and $LARGE_COUNT x $LARGE_SIZE objects (r = 2," \
    "$FILERS filers)"
"$CBENCH" --method POST --size "$SMALL_SIZE" --count "$SMALL_COUNT" --concurrency "$CONC" \
    --time-limit 600 --url "$APP_URL/v1/objects" --label "load small" \
    --key-file "$KEYS/cluster.key" 2>>"$TMP/bench.log" |
    tee -a "$RESULTS" || fail "loading the small objects failed (see $TMP/bench.log)"
"$CBENCH" --method POST --size "$LARGE_SIZE" --count "$LARGE_COUNT" --concurrency 4 \
    --time-limit 600 --url "$APP_URL/v1/objects" --label "load large" --seed 1000000 \
    --key-file "$KEYS/cluster.key" \
    2>>"$TMP/bench.log" | tee -a "$RESULTS" ||
    fail "loading the large objects failed (see $TMP/bench.log)"

declare -A V # V[name] = "value value ..." over the rounds
keep() { V[$1]="${V[$1]:-} $2"; }
# shellcheck disable=SC2086 # V holds a list of figures: split on purpose
med() { median "${2:-%.1f}" ${V[$1]:-}; }

for ((r = 1; r <= REPEAT; r++)); do
    say "round $r of $REPEAT"
    # 1. rebuild filer 1 from empty.
    port=${FILER_PORT[1]}
    stop_pid "${FILER_PID[1]}"
    rm -rf "$TMP/f1"
    start_filer 1 "$port"
    wait_online 1
    sync
    t0=$(now)
    "$COFFER" admin rebuild --filer 1 --app "$APP_URL" >>"$TMP/rebuild.out" 2>&1 ||
        fail "coffer admin rebuild failed (see $TMP/rebuild.out)"
    t1=$(now)
    files=$(files_of "$TMP/f1")
    bytes=$(bytes_of "$TMP/f1")
    secs=$(elapsed "$t0" "$t1")
    keep rb.secs "$secs"
    keep rb.ops "$(div "$files" "$secs" %.1f)"
    keep rb.mbs "$(div "$bytes" "$(awk -v s="$secs" 'BEGIN { print s * 1e6 }')" %.1f)"
    say "  rebuild: $files files, $bytes bytes in $secs s"

    # 2. the copy baseline.
    rm -rf "$TMP/copy"
    t0=$(now)
    cp -a "$TMP/f1" "$TMP/copy"
    sync
    t1=$(now)
    cps=$(elapsed "$t0" "$t1")
    rm -rf "$TMP/copy"
    keep cp.secs "$cps"
    keep ratio.cp "$(div "$cps" "$secs")"
    say "  cp -a + sync of the same files: $cps s"

    # 3. the disk limit.
    mkdir -p "$TMP/disk"
    out=$("$DISKLIMIT" --dir "$TMP/disk" --threads "$DISK_THREADS" --seconds "$DISK_SECONDS" \
        --count "$DISK_COUNT" --size "$DISK_WRITE_SIZE" 2>>"$TMP/disk.log") ||
        fail "disklimit failed (see $TMP/disk.log)"
    rm -rf "$TMP/disk"
    creates=$(jget "$(grep '"test":"creates"' <<<"$out" || true)" per_s)
    dmbs=$(jget "$(grep '"test":"write"' <<<"$out" || true)" mb_per_s)
    lim=$(awk -v f="$files" -v b="$bytes" -v c="$creates" -v m="$dmbs" \
        'BEGIN { if (c > 0 && m > 0) printf "%.3f", f / c + b / (m * 1e6) }')
    keep disk.creates "$creates"
    keep disk.mbs "$dmbs"
    keep ratio.limit "$(div "$lim" "$secs")"
    say "  disk: $creates creates/s, $dmbs MB/s: the rebuilt files need at least $lim s"

    # 4. audit every replica.
    total=0
    for ((i = 1; i <= FILERS; i++)); do
        total=$((total + $(bytes_of "$TMP/f$i")))
    done
    sync
    t0=$(now)
    "$COFFER" admin audit --app "$APP_URL" >>"$TMP/audit.out" 2>&1 ||
        fail "coffer admin audit failed (see $TMP/audit.out)"
    t1=$(now)
    asecs=$(elapsed "$t0" "$t1")
    keep au.mbs "$(div "$total" "$(awk -v s="$asecs" 'BEGIN { print s * 1e6 }')" %.1f)"
    keep au.ops "$(div "$((2 * (SMALL_COUNT + LARGE_COUNT)))" "$asecs" %.1f)"
    say "  audit: $total bytes of replicas in $asecs s"

    # 5. the hash baseline.
    t0=$(now)
    for ((i = 1; i <= FILERS; i++)); do
        find "$TMP/f$i" -type f ! -name '*.tmp*' ! -name LOCK ! -name FILER_ID -print0 |
            xargs -0 -r sha512sum >/dev/null
    done
    t1=$(now)
    hsecs=$(elapsed "$t0" "$t1")
    keep sha.mbs "$(div "$total" "$(awk -v s="$hsecs" 'BEGIN { print s * 1e6 }')" %.1f)"
    keep ratio.sha "$(div "$hsecs" "$asecs")"
    say "  sha512sum of the same files: $hsecs s"
done

{
    echo ""
    echo "maintenance: $FILERS filers on this disk, r = 2, $SMALL_COUNT x $SMALL_SIZE +" \
        "$LARGE_COUNT x $LARGE_SIZE objects; median of $REPEAT rounds"
    printf '%-28s %12s %12s %30s\n' figure coffer baseline "ratio (within rounds)"
    printf '%-28s %12s %12s %30s\n' "rebuild objects/s" "$(med rb.ops)" "" ""
    printf '%-28s %12s %12s %30s\n' "rebuild MB/s" "$(med rb.mbs)" "" ""
    printf '%-28s %12s %12s %30s\n' "rebuild wall s" "$(med rb.secs %.2f)" \
        "$(med cp.secs %.2f)" "cp -a+sync / rebuild $(med ratio.cp %.2f)"
    printf '%-28s %12s %12s %30s\n' "  vs the disk limit" "" "" \
        "limit / rebuild $(med ratio.limit %.2f)"
    printf '%-28s %12s %12s %30s\n' "audit MB/s (every replica)" "$(med au.mbs)" \
        "$(med sha.mbs)" "sha512sum / audit $(med ratio.sha %.2f)"
    printf '%-28s %12s %12s %30s\n' "audit replicas/s" "$(med au.ops)" "" ""
    echo "disk this run: $(med disk.creates %.0f) durable 4 KiB creates/s, $(med disk.mbs)" \
        "fsync'ed MB/s (medians)"
    echo "A ratio near 1 means coffer is as fast as the baseline or limit; below 1, slower."
    echo "Figures, not pass/fail. Took $(($(date +%s) - t_start)) s."
} | tee -a "$RESULTS"
echo "results saved in $RESULTS"
