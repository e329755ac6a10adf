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
# (du of its directory) against their plain size. REPEAT rounds, the order
# of the four transforms rotated each round; the table shows the median of
# each figure and the median of its per-round ratio to plain of the same
# content. Figures, not pass/fail: exit 0 unless something broke. Results
# also go to BUILD_DIR/bench-xform-results.txt.
#
# Environment overrides (defaults in brackets):
#   REPEAT [3]  SMALL_COUNT [20000]  SMALL_CONC [16]  SMALL_SECONDS [3]
#   LARGE_COUNT [3]  LARGE_SIZE [64M]  LARGE_CONC [2]  LARGE_SECONDS [60]
#   FILER_ARGS []  KEEP_TMP [0]
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
NAME=xform.sh # lib.sh's messages
export NAME
# shellcheck source=bench/lib.sh
. "$SRC_DIR/bench/lib.sh"
build_dir_arg "$@"

REPEAT=${REPEAT:-3}
SMALL_COUNT=${SMALL_COUNT:-20000}
SMALL_CONC=${SMALL_CONC:-16}
SMALL_SECONDS=${SMALL_SECONDS:-3}
LARGE_COUNT=${LARGE_COUNT:-3}
LARGE_SIZE=${LARGE_SIZE:-64M}
LARGE_CONC=${LARGE_CONC:-2}
LARGE_SECONDS=${LARGE_SECONDS:-60}
FILER_ARGS=${FILER_ARGS:-}
KEEP_TMP=${KEEP_TMP:-0}
need_ints 1 REPEAT SMALL_COUNT SMALL_CONC LARGE_COUNT LARGE_CONC

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

# shellcheck disable=SC2317 # reached through the trap begin_run sets
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$FILER_PID"
    finish_tmp "$rc" "$TMP/filer.log" "$TMP/bench.log"
    exit "$rc"
}
begin_run

"$COFFER" admin keys init --data "$TMP/keys" >/dev/null || fail "coffer admin keys init failed"
KEY=$TMP/keys/cluster.key

start_filer() {
    local line
    mkdir -p "$TMP/filer"
    # shellcheck disable=SC2086 # FILER_ARGS is a list of words on purpose
    "$COFFER" filer --id 1 --dir "$TMP/filer" --listen 127.0.0.1:0 --cluster-key-file "$KEY" \
        $FILER_ARGS >"$TMP/filer.out" 2>"$TMP/filer.log" &
    FILER_PID=$!
    line=$(wait_line "$TMP/filer.out" 'listening on http://127\.0\.0\.1:[0-9]*' "$FILER_PID" \
        "coffer filer")
    FILER_PORT=${line##*:}
}

declare -A fig
# phase ROUND CONTENT MODE: the four measurements of one transform; keeps
# fig[CONTENT.MODE.{sput,sget,lput,lget,stored}.ROUND].
phase() {
    local r=$1 content=$2 mode=$3 base hdr=() gen=() n before after
    base="http://127.0.0.1:$FILER_PORT/o/x$r/$content/$mode"
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
    fig[$content.$mode.sput.$r]=$(jget "$JSON" ops_per_s)
    n=$(jget "$JSON" ok)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        bench "$content $mode 4KiB GET" --method GET --size 4096 --count "$n" \
            --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --url "$base/s/{i}" \
            --sha-header --key-file "$KEY" "${gen[@]}" "${hdr[@]}"
        fig[$content.$mode.sget.$r]=$(jget "$JSON" ops_per_s)
    fi
    sync
    before=$(du -sb "$TMP/filer" | cut -f1)
    bench "$content $mode $LARGE_SIZE PUT" --method PUT --size "$LARGE_SIZE" \
        --count "$LARGE_COUNT" --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" \
        --url "$base/l/{i}" --sha-header --key-file "$KEY" "${gen[@]}" "${hdr[@]}"
    fig[$content.$mode.lput.$r]=$(jget "$JSON" mb_per_s)
    n=$(jget "$JSON" ok)
    after=$(du -sb "$TMP/filer" | cut -f1)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        fig[$content.$mode.stored.$r]=$(awk -v a="$after" -v b="$before" -v n="$n" \
            -v s="$(numfmt --from=iec "$LARGE_SIZE")" 'BEGIN { printf "%.3f", (a - b) / (n * s) }')
        sync
        bench "$content $mode $LARGE_SIZE GET" --method GET --size "$LARGE_SIZE" --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --url "$base/l/{i}" \
            --sha-header --key-file "$KEY" "${gen[@]}" "${hdr[@]}"
        fig[$content.$mode.lget.$r]=$(jget "$JSON" mb_per_s)
    fi
}

start_filer
say "xform.sh: one filer; $REPEAT rounds of 4 KiB x $SMALL_COUNT (<= ${SMALL_SECONDS}s," \
    "conc $SMALL_CONC), $LARGE_SIZE x $LARGE_COUNT (conc $LARGE_CONC)"
modes=(plain z e ze)
for ((r = 0; r < REPEAT; r++)); do
    for content in random text; do
        for ((m = 0; m < 4; m++)); do
            phase "$r" "$content" "${modes[(m + r) % 4]}"
        done
    done
done

# cell CONTENT MODE K: "median (xmedian ratio)" over the rounds.
cell() {
    local content=$1 mode=$2 k=$3 r vs=() rs=() v p q
    for ((r = 0; r < REPEAT; r++)); do
        v=${fig[$content.$mode.$k.$r]:-}
        p=${fig[$content.plain.$k.$r]:-}
        [ -z "$v" ] || vs+=("$v")
        q=$(ratio_of "$v" "$p")
        [ -z "$q" ] || rs+=("$q")
    done
    v=$(median '%.1f' "${vs[@]}")
    q=$(median '%.2f' "${rs[@]}")
    printf ' %11s (x%5s)' "${v:--}" "${q:--}"
}

say ""
say "Median of $REPEAT rounds, with the median of each round's ratio to plain of the"
say "same content (higher is faster); stored: bytes held for the $LARGE_SIZE objects /"
say "their plain size."
for content in random text; do
    say ""
    say "$(printf '%-7s %-5s %20s %20s %20s %20s %8s' "$content" mode "4KiB PUT ops/s" \
        "4KiB GET ops/s" "$LARGE_SIZE PUT MB/s" "$LARGE_SIZE GET MB/s" stored)"
    for mode in "${modes[@]}"; do
        line=$(printf '%-7s %-5s' "" "$mode")
        for k in sput sget lput lget; do
            line+=$(cell "$content" "$mode" "$k")
        done
        st=()
        for ((r = 0; r < REPEAT; r++)); do
            [ -z "${fig[$content.$mode.stored.$r]:-}" ] || st+=("${fig[$content.$mode.stored.$r]}")
        done
        line+=$(printf ' %8s' "$(median '%.3f' "${st[@]}")")
        say "$line"
    done
done
exit "$broken"
