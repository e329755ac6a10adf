#!/usr/bin/env bash
# bench/xform.sh BUILD_DIR -- what compression and encryption cost in a filer.
#
# All on 127.0.0.1, in BUILD_DIR/bench-xform (the build's disk). One `coffer
# filer`; for each content (random bytes, then letters that compress about
# 5:1: coffer-bench --compressible) and each transform (plain, then
# X-Coffer-Transform z, e and ze with a fixed test key): 4 KiB PUT and GET
# at SMALL_CONC, then LARGE_SIZE PUT and GET at LARGE_CONC, every reply's
# bytes and SHA-512 checked by coffer-bench (a transformed GET is decoded by
# the filer). After the large PUTs, the bytes the filer holds for them
# (du of its objects) against their plain size. Each figure is printed with
# its ratio to plain of the same content in the same run. Figures, not
# pass/fail: exit 0 unless something broke. Results also go to
# BUILD_DIR/bench-xform-results.txt.
#
# Environment overrides (defaults in brackets):
#   SMALL_COUNT [20000]  SMALL_CONC [16]  SMALL_SECONDS [5]
#   LARGE_COUNT [4]  LARGE_SIZE [64M]  LARGE_CONC [2]  LARGE_SECONDS [60]
#   FILER_ARGS []  KEEP_TMP [0]
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
NAME=xform.sh # lib.sh's messages
export NAME
# shellcheck source=bench/lib.sh
. "$SRC_DIR/bench/lib.sh"
build_dir_arg "$@"

SMALL_COUNT=${SMALL_COUNT:-20000}
SMALL_CONC=${SMALL_CONC:-16}
SMALL_SECONDS=${SMALL_SECONDS:-5}
LARGE_COUNT=${LARGE_COUNT:-4}
LARGE_SIZE=${LARGE_SIZE:-64M}
LARGE_CONC=${LARGE_CONC:-2}
LARGE_SECONDS=${LARGE_SECONDS:-60}
FILER_ARGS=${FILER_ARGS:-}
KEEP_TMP=${KEEP_TMP:-0}
need_ints 1 SMALL_COUNT SMALL_CONC LARGE_COUNT LARGE_CONC

COFFER=$BUILD_DIR/coffer
CBENCH=$BUILD_DIR/bench/coffer-bench
need_built "cmake --build BUILD_DIR --target coffer coffer-bench" "$COFFER" "$CBENCH"

TMP=$BUILD_DIR/bench-xform
RESULTS=$BUILD_DIR/bench-xform-results.txt
FILER_PID=
broken=0
# A test key: every object of the run shares it, which is fine for a
# benchmark and never for real objects (each must have its own).
OBJ_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

# shellcheck disable=SC2317 # reached through the trap below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$FILER_PID"
    finish_tmp "$rc" "$TMP/filer.log" "$TMP/bench.log"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$TMP"
mkdir -p "$TMP"
: >"$RESULTS"

"$COFFER" admin keys init --data "$TMP/keys" >/dev/null || fail "coffer admin keys init failed"
KEY=$TMP/keys/cluster.key

start_filer() {
    local i line
    mkdir -p "$TMP/filer"
    # shellcheck disable=SC2086 # FILER_ARGS is a list of words on purpose
    "$COFFER" filer --id 1 --dir "$TMP/filer" --listen 127.0.0.1:0 --cluster-key-file "$KEY" \
        $FILER_ARGS >"$TMP/filer.out" 2>"$TMP/filer.log" &
    FILER_PID=$!
    for ((i = 0; i < 150; i++)); do
        line=$(grep -m1 -o 'listening on http://127\.0\.0\.1:[0-9]*' "$TMP/filer.out" || true)
        if [ -n "$line" ]; then
            FILER_PORT=${line##*:}
            return 0
        fi
        kill -0 "$FILER_PID" 2>/dev/null || fail "coffer filer exited (log: $TMP/filer.log)"
        sleep 0.1
    done
    fail "coffer filer did not print its port within 15 s"
}

declare -A fig
# phase CONTENT MODE: the four measurements of one transform; keeps
# fig[CONTENT.MODE.{sput,sget,lput,lget,stored}].
phase() {
    local content=$1 mode=$2 base hdr=() gen=() n before after
    base="http://127.0.0.1:$FILER_PORT/o/x/$content/$mode"
    case $mode in
    plain) ;;
    z) hdr=(--header "X-Coffer-Transform: z") ;;
    *) hdr=(--header "X-Coffer-Transform: $mode" --header "X-Coffer-Key: $OBJ_KEY") ;;
    esac
    [ "$content" = random ] || gen=(--compressible)
    kill -0 "$FILER_PID" 2>/dev/null || fail "coffer filer exited during the run"
    sync
    bench "$content $mode 4KiB PUT" --method PUT --size 4096 --count "$SMALL_COUNT" \
        --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --url "$base/s/{i}" \
        --sha-header --key-file "$KEY" "${gen[@]}" "${hdr[@]}"
    fig[$content.$mode.sput]=$(jget "$JSON" ops_per_s)
    n=$(jget "$JSON" ok)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        bench "$content $mode 4KiB GET" --method GET --size 4096 --count "$n" \
            --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --url "$base/s/{i}" \
            --sha-header --key-file "$KEY" "${gen[@]}" "${hdr[@]}"
        fig[$content.$mode.sget]=$(jget "$JSON" ops_per_s)
    fi
    sync
    before=$(du -sb "$TMP/filer" | cut -f1)
    bench "$content $mode $LARGE_SIZE PUT" --method PUT --size "$LARGE_SIZE" \
        --count "$LARGE_COUNT" --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" \
        --url "$base/l/{i}" --sha-header --key-file "$KEY" "${gen[@]}" "${hdr[@]}"
    fig[$content.$mode.lput]=$(jget "$JSON" mb_per_s)
    n=$(jget "$JSON" ok)
    after=$(du -sb "$TMP/filer" | cut -f1)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        fig[$content.$mode.stored]=$(awk -v a="$after" -v b="$before" -v n="$n" \
            -v s="$(numfmt --from=iec "$LARGE_SIZE")" 'BEGIN { printf "%.3f", (a - b) / (n * s) }')
        sync
        bench "$content $mode $LARGE_SIZE GET" --method GET --size "$LARGE_SIZE" --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --url "$base/l/{i}" \
            --sha-header --key-file "$KEY" "${gen[@]}" "${hdr[@]}"
        fig[$content.$mode.lget]=$(jget "$JSON" mb_per_s)
    fi
}

start_filer
say "xform.sh: one filer; 4 KiB x $SMALL_COUNT (<= ${SMALL_SECONDS}s, conc $SMALL_CONC)," \
    "$LARGE_SIZE x $LARGE_COUNT (conc $LARGE_CONC)"
for content in random text; do
    for mode in plain z e ze; do
        phase "$content" "$mode"
    done
done

say ""
say "Each figure with its ratio to plain of the same content (higher is faster);"
say "stored: bytes held for the $LARGE_SIZE objects / their plain size."
for content in random text; do
    say ""
    say "$(printf '%-7s %-5s %20s %20s %20s %20s %8s' "$content" mode "4KiB PUT ops/s" \
        "4KiB GET ops/s" "$LARGE_SIZE PUT MB/s" "$LARGE_SIZE GET MB/s" stored)"
    for mode in plain z e ze; do
        line=$(printf '%-7s %-5s' "" "$mode")
        for k in sput sget lput lget; do
            v=${fig[$content.$mode.$k]:-}
            r=$(ratio_of "$v" "${fig[$content.plain.$k]:-}")
            line+=$(printf ' %11s (x%5s)' "${v:--}" "${r:--}")
        done
        line+=$(printf ' %8s' "${fig[$content.$mode.stored]:--}")
        say "$line"
    done
done
exit "$broken"
