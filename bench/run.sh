#!/usr/bin/env bash
# bench/run.sh BUILD_DIR -- one benchmark run of the coffer filer (issue 2).
#
# All on 127.0.0.1, in BUILD_DIR/bench-tmp (the same disk as the build, not
# /tmp, which may be tmpfs). One `coffer filer` and one nginx (WebDAV PUT and
# DELETE, sendfile) on free loopback ports, then REPEAT rounds, each of:
#   1. disklimit: the disk's durable ceilings (4 KiB creates/s with fsync of the
#      file and the directory; fsync'ed sequential MB/s), measured every round
#      because on a shared machine they move with everyone else's I/O;
#   2. the filer, then 3. nginx: 4 KiB PUT, GET, DELETE at concurrency
#      SMALL_CONC; 64 MiB PUT, GET (and a DELETE that only cleans up) at
#      concurrency LARGE_CONC.
# The table shows the median of the rounds against the targets of issue 2.
# Figures, not pass/fail: the exit status is 0 unless something broke (a tool
# failed to start or run, or coffer-bench counted an error). Each target is
# printed as met or missed. The results also go to BUILD_DIR/bench-results.txt.
#
# Environment overrides (defaults in brackets):
#   REPEAT [3]  SMALL_COUNT [50000]  SMALL_CONC [16]  SMALL_SECONDS [10]
#   LARGE_COUNT [16]  LARGE_SIZE [64M]  LARGE_CONC [4]  LARGE_SECONDS [60]
#   DISK_THREADS [16]  DISK_SECONDS [5]  DISK_COUNT [20000]  DISK_WRITE_SIZE [256M]
#   SHA_HEADER [1]  send X-Coffer-SHA512 on filer PUTs and check it on replies
#   FILER_ARGS []   extra arguments for `coffer filer`
#   KEEP_TMP [0]    keep BUILD_DIR/bench-tmp (logs) after the run
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: bench/run.sh BUILD_DIR   (e.g. build/release)" >&2
    exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)

REPEAT=${REPEAT:-3}
SMALL_COUNT=${SMALL_COUNT:-50000}
SMALL_CONC=${SMALL_CONC:-16}
SMALL_SECONDS=${SMALL_SECONDS:-10}
LARGE_COUNT=${LARGE_COUNT:-16}
LARGE_SIZE=${LARGE_SIZE:-64M}
LARGE_CONC=${LARGE_CONC:-4}
LARGE_SECONDS=${LARGE_SECONDS:-60}
DISK_THREADS=${DISK_THREADS:-16}
DISK_SECONDS=${DISK_SECONDS:-5}
DISK_COUNT=${DISK_COUNT:-20000}
DISK_WRITE_SIZE=${DISK_WRITE_SIZE:-256M}
SHA_HEADER=${SHA_HEADER:-1}
FILER_ARGS=${FILER_ARGS:-}
KEEP_TMP=${KEEP_TMP:-0}

for v in REPEAT SMALL_COUNT SMALL_CONC LARGE_COUNT LARGE_CONC DISK_THREADS DISK_COUNT; do
    case ${!v} in
    '' | *[!0-9]*) echo "run.sh: $v must be a positive integer (got '${!v}')" >&2; exit 2 ;;
    esac
    if [ "${!v}" -lt 1 ]; then
        echo "run.sh: $v must be a positive integer (got '${!v}')" >&2
        exit 2
    fi
done

COFFER=$BUILD_DIR/coffer
CBENCH=$BUILD_DIR/bench/coffer-bench
DISKLIMIT=$BUILD_DIR/bench/disklimit
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for f in "$COFFER" "$CBENCH" "$DISKLIMIT" "$NGINX"; do
    if [ ! -x "$f" ]; then
        echo "run.sh: $f is missing; build first (make bench does)" >&2
        exit 2
    fi
done

TMP=$BUILD_DIR/bench-tmp
RESULTS=$BUILD_DIR/bench-results.txt
RAW=$TMP/raw.jsonl
FILER_PID=
NGINX_PID=
broken=0

say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
fail() {
    say "run.sh: $*"
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
            echo "run.sh: pid $pid ignored SIGTERM for 35 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # reached through the trap below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$FILER_PID"
    stop_pid "$NGINX_PID"
    if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
        for log in "$TMP/filer.log" "$TMP/nginx/error.log" "$TMP/nginx/nginx.out" \
            "$TMP/bench.log"; do
            if [ -s "$log" ]; then
                echo "---- last lines of $log" >&2
                tail -n 15 "$log" >&2
            fi
        done
    fi
    if [ "$KEEP_TMP" = 1 ]; then
        echo "run.sh: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$TMP"
mkdir -p "$TMP"
: >"$RESULTS"
: >"$RAW"

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

start_filer() {
    local i line
    mkdir -p "$TMP/filer"
    # shellcheck disable=SC2086 # FILER_ARGS is a list of words on purpose
    "$COFFER" filer --id 1 --dir "$TMP/filer" --listen 127.0.0.1:0 $FILER_ARGS \
        >"$TMP/filer.out" 2>"$TMP/filer.log" &
    FILER_PID=$!
    for ((i = 0; i < 150; i++)); do
        line=$(grep -m1 -o 'listening on http://127\.0\.0\.1:[0-9]*' "$TMP/filer.out" || true)
        if [ -n "$line" ]; then
            FILER_PORT=${line##*:}
            return 0
        fi
        if ! kill -0 "$FILER_PID" 2>/dev/null; then
            wait "$FILER_PID" || true
            FILER_PID=
            fail "coffer filer exited before it was ready (log: $TMP/filer.log)"
        fi
        sleep 0.1
    done
    fail "coffer filer did not print its port within 15 s"
}

start_nginx() {
    local attempt i port user_line=
    mkdir -p "$TMP/nginx/www" "$TMP/nginx/body" "$TMP/nginx/tmp"
    # As root, nginx's workers would switch to nobody, who cannot write here.
    if [ "$(id -u)" -eq 0 ]; then
        user_line="user $(id -un) $(id -gn);"
    fi
    for ((attempt = 0; attempt < 10; attempt++)); do
        port=$((20000 + RANDOM % 30000))
        if port_in_use "$port"; then
            continue
        fi
        sed -e "s|@PREFIX@|$TMP/nginx|g" -e "s|@PORT@|$port|g" -e "s|@USER_LINE@|$user_line|g" \
            "$SRC_DIR/bench/nginx.conf.in" >"$TMP/nginx/nginx.conf"
        "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
            -g 'daemon off;' </dev/null >>"$TMP/nginx/nginx.out" 2>&1 &
        NGINX_PID=$!
        for ((i = 0; i < 100; i++)); do
            if ! kill -0 "$NGINX_PID" 2>/dev/null; then
                break
            fi
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                NGINX_PORT=$port
                return 0
            fi
            sleep 0.1
        done
        stop_pid "$NGINX_PID"
        NGINX_PID=
    done
    fail "nginx did not start (log: $TMP/nginx/error.log)"
}

# bench LABEL ARGS...: one coffer-bench run; sets JSON (empty on failure).
JSON=
bench() {
    local label=$1 err=$TMP/bench.err
    shift
    if ! JSON=$("$CBENCH" --label "$label" --json "$@" 2>"$err"); then
        broken=1
        say "run.sh: $label: coffer-bench reported errors or failed; its messages:"
        grep -v "^$label: " "$err" | head -n 5 | sed 's/^/    /' | tee -a "$RESULTS"
    fi
    cat "$err" >>"$TMP/bench.log"
    if [ -n "$JSON" ]; then
        printf '%s\n' "$JSON" >>"$RAW"
        printf '  %-24s %10s ops/s %8s MB/s  p50 %8s ms  p99 %8s ms  errors %s\n' "$label" \
            "$(jget "$JSON" ops_per_s)" "$(jget "$JSON" mb_per_s)" "$(jget "$JSON" p50_ms)" \
            "$(jget "$JSON" p99_ms)" "$(jget "$JSON" errors)" | tee -a "$RESULTS"
    fi
}

declare -A V # V[target.phase.field] = "value value ..." over the rounds
keep() { V[$1]="${V[$1]:-} $2"; }

# The disk's ceilings, measured in every round next to the servers' figures:
# on a shared machine they move with everyone else's I/O.
disk_round() {
    local r=$1 out err=$TMP/disklimit.err
    sync
    if ! out=$("$DISKLIMIT" --dir "$TMP/disk" --threads "$DISK_THREADS" --seconds "$DISK_SECONDS" \
        --count "$DISK_COUNT" --size "$DISK_WRITE_SIZE" 2>"$err"); then
        broken=1
        say "run.sh: disklimit failed:"
        sed 's/^/    /' "$err" | tee -a "$RESULTS"
    fi
    grep '^{' <<<"$out" | sed "s/^{/{\"label\":\"disk r$r\",/" >>"$RAW" || true
    keep disk.creates "$(jget "$(grep '"test":"creates"' <<<"$out" || true)" per_s)"
    keep disk.mbs "$(jget "$(grep '"test":"write"' <<<"$out" || true)" mb_per_s)"
    grep -v '^{' <<<"$out" | sed 's/^disklimit: /  disk: /' | tee -a "$RESULTS" || true
}

# One round of every phase against one target (filer or nginx).
round() {
    local t=$1 r=$2 base put_expect extra=() n
    if [ "$t" = filer ] && ! kill -0 "$FILER_PID" 2>/dev/null; then
        fail "coffer filer (pid $FILER_PID) exited during the run (log: $TMP/filer.log)"
    fi
    if [ "$t" = nginx ] && ! kill -0 "$NGINX_PID" 2>/dev/null; then
        fail "nginx (pid $NGINX_PID) exited during the run (log: $TMP/nginx/error.log)"
    fi
    if [ "$t" = filer ]; then
        base="http://127.0.0.1:$FILER_PORT/o/bench/r$r"
        put_expect=201
        if [ "$SHA_HEADER" = 1 ]; then
            extra=(--sha-header)
        fi
    else
        base="http://127.0.0.1:$NGINX_PORT/o/bench/r$r"
        put_expect=201,204
    fi
    # Flush the previous phase's dirty pages (nginx's PUTs are not fsync'ed)
    # so that its writeback does not land in this phase's figures.
    sync

    bench "$t 4KiB PUT r$r" --method PUT --size 4096 --count "$SMALL_COUNT" \
        --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --expect-status "$put_expect" \
        --url "$base/s/{i}" "${extra[@]}"
    n=$(jget "$JSON" issued)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        keep "$t.sput.ops" "$(jget "$JSON" ops_per_s)"
        keep "$t.sput.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.sput.p99" "$(jget "$JSON" p99_ms)"
        sync
        bench "$t 4KiB GET r$r" --method GET --size 4096 --count "$n" \
            --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --url "$base/s/{i}" \
            "${extra[@]}"
        keep "$t.sget.ops" "$(jget "$JSON" ops_per_s)"
        keep "$t.sget.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.sget.p99" "$(jget "$JSON" p99_ms)"
        bench "$t 4KiB DELETE r$r" --method DELETE --count "$n" --concurrency "$SMALL_CONC" \
            --time-limit "$SMALL_SECONDS" --url "$base/s/{i}"
        keep "$t.sdel.ops" "$(jget "$JSON" ops_per_s)"
        keep "$t.sdel.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.sdel.p99" "$(jget "$JSON" p99_ms)"
    fi

    sync
    bench "$t $LARGE_SIZE PUT r$r" --method PUT --size "$LARGE_SIZE" --count "$LARGE_COUNT" \
        --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --expect-status "$put_expect" \
        --url "$base/l/{i}" "${extra[@]}"
    n=$(jget "$JSON" issued)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        keep "$t.lput.mbs" "$(jget "$JSON" mb_per_s)"
        keep "$t.lput.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.lput.p99" "$(jget "$JSON" p99_ms)"
        sync
        bench "$t $LARGE_SIZE GET r$r" --method GET --size "$LARGE_SIZE" --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --url "$base/l/{i}" \
            "${extra[@]}"
        keep "$t.lget.mbs" "$(jget "$JSON" mb_per_s)"
        keep "$t.lget.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.lget.p99" "$(jget "$JSON" p99_ms)"
        bench "$t $LARGE_SIZE DELETE r$r" --method DELETE --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --url "$base/l/{i}"
    fi
}

# med KEY [FORMAT]: median over the rounds of V[KEY].
med() {
    # shellcheck disable=SC2086 # the list is space-separated numbers
    median "${2:-%.1f}" ${V[$1]:-}
}

# ---- the run ----
t_start=$(date +%s)
say "coffer benchmark -- $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "  host: $(nproc) cores, $(uname -sr); git $(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo none)"
say "  disk: $(df -PT "$TMP" | awk 'NR == 2 { print $1 " (" $2 "), mounted on " $7 }')"
say "  $("$NGINX" -v 2>&1); $(curl-config --version 2>/dev/null || echo libcurl)"
say "  rounds: $REPEAT; small: 4 KiB x $SMALL_COUNT (c=$SMALL_CONC, <= ${SMALL_SECONDS} s);" \
    "large: $LARGE_SIZE x $LARGE_COUNT (c=$LARGE_CONC, <= ${LARGE_SECONDS} s)"
say "  load generator, servers and disk share this machine: figures are relative."
say ""

mkdir -p "$TMP/disk"
start_filer
start_nginx
say "coffer filer on 127.0.0.1:$FILER_PORT (pid $FILER_PID), nginx on 127.0.0.1:$NGINX_PORT (pid $NGINX_PID)"

for ((r = 1; r <= REPEAT; r++)); do
    say ""
    say "round $r of $REPEAT:"
    disk_round "$r"
    round filer "$r"
    round nginx "$r"
done

# ---- the table ----
# row LABEL FILER NGINX DISK REF FACTOR TARGET_TEXT: ratio = FILER / REF.
row() {
    local label=$1 f=$2 n=$3 d=$4 ref=$5 factor=$6 text=$7 ratio=- verdict=-
    if [ -n "$factor" ]; then
        if [ -n "$f" ] && [ -n "$ref" ]; then
            ratio=$(awk -v a="$f" -v b="$ref" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
            verdict=$(awk -v x="$ratio" -v k="$factor" 'BEGIN { print (x != "-" && x + 0 >= k) ? "met" : "MISSED" }')
        else
            verdict="n/a"
        fi
    fi
    printf '%-22s %12s %12s %12s  %-22s %6s  %s\n' "$label" "${f:--}" "${n:--}" "${d:--}" \
        "$text" "$ratio" "$verdict"
}

DISK_CREATES=$(med disk.creates)
DISK_MBS=$(med disk.mbs)
f_sput=$(med filer.sput.ops)
n_sput=$(med nginx.sput.ops)
f_sget=$(med filer.sget.ops)
n_sget=$(med nginx.sget.ops)
f_lput=$(med filer.lput.mbs)
n_lput=$(med nginx.lput.mbs)
f_lget=$(med filer.lget.mbs)
n_lget=$(med nginx.lget.mbs)
{
    echo ""
    echo "results: median of $REPEAT rounds"
    printf '%-22s %12s %12s %12s  %-22s %6s  %s\n' figure "coffer filer" "nginx (*)" "disk limit" \
        "target" ratio ""
    row "4 KiB PUT ops/s" "$f_sput" "$n_sput" "$DISK_CREATES" "$DISK_CREATES" 0.8 \
        ">= 0.8 x disk limit"
    row "4 KiB GET ops/s" "$f_sget" "$n_sget" "" "$n_sget" 1.0 ">= 1.0 x nginx"
    row "4 KiB DELETE ops/s" "$(med filer.sdel.ops)" "$(med nginx.sdel.ops)" "" "" "" "(none)"
    row "$LARGE_SIZE PUT MB/s" "$f_lput" "$n_lput" "$DISK_MBS" "$DISK_MBS" 0.8 \
        ">= 0.8 x disk limit"
    row "$LARGE_SIZE GET MB/s" "$f_lget" "$n_lget" "" "$n_lget" 0.9 ">= 0.9 x nginx"
    echo ""
    echo "latency, median of rounds (ms): p50 / p99"
    printf '%-22s %22s %22s\n' figure "coffer filer" "nginx (*)"
    for ph in "sput:4 KiB PUT" "sget:4 KiB GET" "sdel:4 KiB DELETE" "lput:$LARGE_SIZE PUT" \
        "lget:$LARGE_SIZE GET"; do
        k=${ph%%:*}
        printf '%-22s %22s %22s\n' "${ph#*:}" \
            "$(med "filer.$k.p50" %.2f) / $(med "filer.$k.p99" %.2f)" \
            "$(med "nginx.$k.p50" %.2f) / $(med "nginx.$k.p99" %.2f)"
    done
    echo ""
    echo "(*) nginx does NOT fsync its PUTs: it replies 201 with the body possibly only in the"
    echo "    page cache, so its PUT figures are not durable and are not a target. The filer"
    echo "    replies only after fsync of the file and of its directory (DESIGN §4); its PUT"
    echo "    targets are against the disk limit (the same fsync'ed work with no HTTP)."
    echo "disk limit: durable 4 KiB creates/s with $DISK_THREADS threads (open O_EXCL, write,"
    echo "    fsync, rename, fsync dir); fsync'ed sequential write MB/s ($DISK_WRITE_SIZE in 1 MiB"
    echo "    writes, fsync included). MB = 10^6 bytes."
    echo "Figures, not pass/fail. Took $(($(date +%s) - t_start)) s."
} | tee -a "$RESULTS"

{
    echo ""
    echo "raw results (one JSON line per run):"
    cat "$RAW"
} >>"$RESULTS"
echo "results and raw JSON lines saved in $RESULTS"
if [ "$broken" -ne 0 ]; then
    say "run.sh: something broke (see above): exit 1"
    exit 1
fi
exit 0
