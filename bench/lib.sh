# shellcheck shell=bash
# bench/lib.sh -- shell helpers shared by the bench scripts (run.sh, gateway.sh,
# cluster.sh, maint.sh, scale.sh, tls.sh, xform.sh).
# Sourced, not run. The sourcing script sets NAME (its name, for messages)
# first, and RESULTS (a file the figures are appended to) before it calls
# say, fail or anything that reports. The set-up checks (build_dir_arg,
# need_ints, need_built) print to stderr and exit 2.

say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
fail() {
    say "$NAME: $*"
    exit 1
}

# Stop one process this script started: TERM, a bounded wait, then KILL.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 350; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$NAME: pid $pid ignored SIGTERM for 35 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# finish_tmp RC LOG...: the end of a script's exit trap. After a failure
# (RC not 0) show the last lines of each LOG that is not empty; then remove
# $TMP, unless KEEP_TMP is 1.
finish_tmp() {
    local rc=$1 log
    shift
    if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
        for log in "$@"; do
            if [ -s "$log" ]; then
                echo "---- last lines of $log" >&2
                tail -n 15 "$log" >&2
            fi
        done
    fi
    if [ "$KEEP_TMP" = 1 ]; then
        echo "$NAME: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

# Value of a numeric field of a flat JSON line.
jget() { sed -n "s/.*\"$2\":\(-\{0,1\}[0-9][0-9.e+-]*\).*/\1/p" <<<"$1"; }

# median FORMAT NUMBERS...: the median, printed with FORMAT (nothing if no numbers).
median() {
    local fmt=$1
    shift
    [ $# -gt 0 ] || return 0
    printf '%s\n' "$@" | sort -g | awk -v f="$fmt" '{ v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf f "\n", m }'
}

port_in_use() {
    if command -v ss >/dev/null; then
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}


# wait_line FILE REGEX PID WHAT: the first match of REGEX in FILE, waiting up
# to 30 s while PID lives.
wait_line() {
    local i line
    for ((i = 0; i < 300; i++)); do
        line=$(grep -m1 -o "$2" "$1" || true)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        kill -0 "$3" 2>/dev/null || fail "$4 exited before it was ready (log: ${1%.out}.log)"
        sleep 0.1
    done
    fail "$4 did not get ready within 30 s"
}

# begin_run: the script's exit trap (its function cleanup; INT and TERM exit
# 130 and 143 through it), then $TMP made afresh and $RESULTS emptied.
begin_run() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    rm -rf "$TMP"
    mkdir -p "$TMP"
    : >"$RESULTS"
}

# build_dir_arg ARGS...: the script's one argument, an existing directory,
# made absolute in BUILD_DIR; a usage message and exit 2 otherwise.
build_dir_arg() {
    if [ $# -ne 1 ] || [ ! -d "$1" ]; then
        echo "usage: bench/$NAME BUILD_DIR   (e.g. build/release)" >&2
        exit 2
    fi
    # shellcheck disable=SC2034 # the caller's
    BUILD_DIR=$(cd "$1" && pwd)
}

# need_ints MIN VAR...: each named variable holds a decimal integer of at
# least MIN; otherwise a message and exit 2.
need_ints() {
    local min=$1 v
    shift
    for v in "$@"; do
        case ${!v} in
        '' | *[!0-9]*) ;;
        *) [ "${!v}" -lt "$min" ] || continue ;;
        esac
        echo "$NAME: $v must be a positive integer (got '${!v}')" >&2
        exit 2
    done
}

# need_built HINT FILE...: each FILE is an executable; otherwise a message
# naming HINT (how to build it) and exit 2.
need_built() {
    local hint=$1 f
    shift
    for f in "$@"; do
        if [ ! -x "$f" ]; then
            echo "$NAME: $f is missing; build first ($hint)" >&2
            exit 2
        fi
    done
}

# A field (kB) of /proc/PID/status (nothing once PID is gone).
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

# ratio_of A B [DIV]: A / (B / DIV), 2 decimals; nothing if either is missing.
ratio_of() {
    [ -n "$1" ] && [ -n "$2" ] || return 0
    awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { if (b > 0) printf "%.2f\n", a * d / b }'
}

# bench LABEL ARGS...: one coffer-bench run ($CBENCH --label LABEL --json
# ARGS...); sets JSON to its figures, prints them (labels padded to
# BENCH_LABEL_WIDTH, 34 if unset) and appends them to $RAW when RAW is set.
# A failure or a counted error sets broken=1 and shows coffer-bench's
# messages. Its stderr is kept in $TMP/bench.log.
bench() {
    local label=$1 err=$TMP/bench.err
    shift
    if ! JSON=$("$CBENCH" --label "$label" --json "$@" 2>"$err"); then
        broken=1
        say "$NAME: $label: coffer-bench reported errors or failed; its messages:"
        grep -v "^$label: " "$err" | head -n 5 | sed 's/^/    /' | tee -a "$RESULTS"
    fi
    cat "$err" >>"$TMP/bench.log"
    if [ -n "$JSON" ]; then
        [ -z "${RAW:-}" ] || printf '%s\n' "$JSON" >>"$RAW"
        printf '  %-*s %10s ops/s %8s MB/s  p50 %8s ms  p99 %8s ms  errors %s\n' \
            "${BENCH_LABEL_WIDTH:-34}" "$label" "$(jget "$JSON" ops_per_s)" \
            "$(jget "$JSON" mb_per_s)" "$(jget "$JSON" p50_ms)" "$(jget "$JSON" p99_ms)" \
            "$(jget "$JSON" errors)" | tee -a "$RESULTS"
    fi
}

# disk_defaults: disklimit's settings (disk_round) unless the environment
# sets them: DISK_THREADS [16] DISK_SECONDS [5] DISK_COUNT [20000]
# DISK_WRITE_SIZE [256M].
disk_defaults() {
    DISK_THREADS=${DISK_THREADS:-16}
    DISK_SECONDS=${DISK_SECONDS:-5}
    DISK_COUNT=${DISK_COUNT:-20000}
    DISK_WRITE_SIZE=${DISK_WRITE_SIZE:-256M}
}

# disk_round ROUND: the disk's durable ceilings this round ($DISKLIMIT in
# $TMP/disk with DISK_THREADS, DISK_SECONDS, DISK_COUNT, DISK_WRITE_SIZE),
# kept (the script's keep) as disk.creates and disk.mbs, raw lines to $RAW.
disk_round() {
    local r=$1 out err=$TMP/disklimit.err
    sync
    if ! out=$("$DISKLIMIT" --dir "$TMP/disk" --threads "$DISK_THREADS" --seconds "$DISK_SECONDS" \
        --count "$DISK_COUNT" --size "$DISK_WRITE_SIZE" 2>"$err"); then
        # shellcheck disable=SC2034 # the caller's
        broken=1
        say "$NAME: disklimit failed:"
        sed 's/^/    /' "$err" | tee -a "$RESULTS"
    fi
    grep '^{' <<<"$out" | sed "s/^{/{\"label\":\"disk r$r\",/" >>"$RAW" || true
    keep disk.creates "$(jget "$(grep '"test":"creates"' <<<"$out" || true)" per_s)"
    keep disk.mbs "$(jget "$(grep '"test":"write"' <<<"$out" || true)" mb_per_s)"
    grep -v '^{' <<<"$out" | sed 's/^disklimit: /  disk: /' | tee -a "$RESULTS" || true
}
