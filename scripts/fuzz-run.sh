#!/usr/bin/env bash
# fuzz-run.sh BUILD_DIR SECONDS -- run every libFuzzer target built in BUILD_DIR
# (by `make fuzz`: cmake -DCOFFER_FUZZ=ON, target `fuzzers`) for SECONDS each.
#
# Each target fuzzes a copy of fuzz/corpus/<target>/ in a temporary directory,
# so the repository's corpus is never modified. One line is printed per target.
# Logs go to BUILD_DIR/fuzz-results/<target>.log. If a target crashes, leaks or
# hangs, its input is copied to BUILD_DIR/fuzz-results/crashes/<target>/, the
# path and a command to reproduce it are printed, and the script exits 1
# (STYLE 2.9: then add the input to fuzz/corpus/<target>/ and make it a unit case).
#
# Environment: FUZZ_JOBS (targets run at once; default: number of CPUs),
# FUZZ_MAX_LEN (largest input in bytes; default 1024, enough for a 512-byte
# path plus room to overflow every limit).
set -euo pipefail

usage() {
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
}

[ $# -eq 2 ] || usage
[ -d "$1" ] || { echo "fuzz-run: no build directory \"$1\" (run make fuzz)" >&2; exit 2; }
case "$2" in
'' | *[!0-9]*) usage ;;
esac
[ "$2" -gt 0 ] || usage

build=$(cd "$1" && pwd)
secs=$2
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${FUZZ_JOBS:-$(nproc)}
max_len=${FUZZ_MAX_LEN:-1024}
results="$build/fuzz-results"

mapfile -t exes < <(find "$build" -maxdepth 2 -type f -name 'fuzz_*' -perm -u+x | sort)
if [ ${#exes[@]} -eq 0 ]; then
    echo "fuzz-run: no fuzz_* executables under $build (run make fuzz)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$results"
mkdir -p "$results"

# run_one EXE: fuzz one target; leaves its one-line result in $work/<target>/result
# and "ok" or "fail" in $work/<target>/status.
run_one() {
    local exe=$1 name target dir log rc runs cov before after line
    local -a artifacts
    name=$(basename "$exe")
    target=${name#fuzz_}
    dir="$work/$target"
    log="$results/$target.log"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    if [ -d "$root/fuzz/corpus/$target" ]; then
        find "$root/fuzz/corpus/$target" -maxdepth 1 -type f ! -name '.*' \
            -exec cp -t "$dir/corpus" {} +
    fi
    before=$(find "$dir/corpus" -type f | wc -l)

    rc=0
    # The outer timeout only catches a fuzzer that ignores -max_total_time.
    timeout -k 10 $((secs + 120)) "$exe" -max_total_time="$secs" -max_len="$max_len" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$log" 2>&1 || rc=$?

    after=$(find "$dir/corpus" -type f | wc -l)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
    # slow-unit-* files are informational; these four are failures.
    mapfile -t artifacts < <(find "$dir/artifacts" -type f \( -name 'crash-*' \
        -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)

    if [ "$rc" -eq 0 ] && [ ${#artifacts[@]} -eq 0 ]; then
        line="$name: ok, ${runs:-?} runs in ${secs}s, coverage ${cov:-?}, corpus $before -> $after"
        echo ok >"$dir/status"
    else
        local kind=FAILED
        case "$(basename "${artifacts[0]:-none}")" in
        crash-*) kind=CRASH ;;
        leak-*) kind=LEAK ;;
        timeout-*) kind=TIMEOUT ;;
        oom-*) kind="OUT OF MEMORY" ;;
        esac
        [ "$rc" -eq 124 ] && kind="HUNG (killed after $((secs + 120))s)"
        line="$name: $kind, exit $rc after ${runs:-?} runs; log: $log"
        if [ ${#artifacts[@]} -gt 0 ]; then
            mkdir -p "$results/crashes/$target"
            cp "${artifacts[@]}" "$results/crashes/$target/"
            local a
            for a in "${artifacts[@]}"; do
                a="$results/crashes/$target/$(basename "$a")"
                line="$line"$'\n'"  input: $a"$'\n'"  reproduce: $exe $a"
            done
            line="$line"$'\n'"  then add it to fuzz/corpus/$target/ and make it a unit test case"
        fi
        echo fail >"$dir/status"
    fi
    printf '%s\n' "$line" >"$dir/result"
}

echo "fuzz-run: ${#exes[@]} targets, ${secs}s each, $jobs at a time, logs in $results"
running=0
for exe in "${exes[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_one "$exe" &
    running=$((running + 1))
done
wait

failed=0
for exe in "${exes[@]}"; do
    target=$(basename "$exe")
    target=${target#fuzz_}
    if [ -f "$work/$target/result" ]; then
        cat "$work/$target/result"
    else
        echo "fuzz_$target: ERROR, the run did not finish (see $results/$target.log)"
    fi
    if [ "$(cat "$work/$target/status" 2>/dev/null)" != ok ]; then
        failed=1
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz-run: FAILED" >&2
    exit 1
fi
echo "fuzz-run: all ${#exes[@]} targets ok"
