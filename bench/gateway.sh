#!/usr/bin/env bash
# bench/gateway.sh BUILD_DIR -- the user's path against its peers.
#
# All on 127.0.0.1, data in BUILD_DIR/bench-tmp (the same disk as the build).
# Three servers under the same load generator (coffer-bench):
#   - coffer: `coffer server --replicas 3` (3 filers, app, objsrv, gateway in
#     one process); PUT/GET/DELETE /api/v1/fs/bench/NAME with the bearer token
#     of the admin the server makes (POST /api/v1/login). DELETE puts a file
#     in the trash; the trash is emptied (DELETE /api/v1/trash) after each
#     round, off the clock, so the disk does not fill.
#   - OpenStack Swift (Debian's swift-proxy, -object, -container, -account) as
#     an all-in-one: 3 object, 3 container and 3 account servers on distinct
#     ports and devices, rings with 3 replicas (swift-ring-builder), a proxy
#     without auth (pipeline catch_errors proxy-server, accounts made on
#     first use); PUT/GET/DELETE /v1/AUTH_bench/c/NAME. Its servers read
#     /etc/swift/swift.conf (the hash path suffix) whatever their config says:
#     when that file is missing they run in a mount namespace of their own
#     (unshare -m) where the run's swift.conf is bound over /etc/swift.
#   - nginx WebDAV, one copy, no fsync (bench/nginx.conf.in).
# and bench/disklimit: the disk's durable ceilings (4 KiB creates/s with fsync;
# fsync'ed sequential MB/s).
#
# REPEAT rounds, each: the disk limits, then every phase on each server, the
# servers' order rotated from round to round:
#   4 KiB PUT, GET, DELETE at SMALL_CONC (ops/s);
#   LARGE_SIZE PUT at LARGE_CONC, timed up to the end of a `sync` after the
#   last reply (nginx does not fsync; coffer and Swift already have), then
#   GET (warm cache), then a DELETE that only cleans up (MB/s).
# Every object's bytes are distinct (coffer-bench --seed), so coffer's dedupe
# never fires; every byte a GET returns is checked, and coffer's digests
# (X-Coffer-SHA512 on GET, "sha512" of a PUT's reply) too (--sha-check).
# coffer's GETs ask for a redirect as the CLI does (X-Coffer-Redirect: 1):
# a file of at least the gateway's --redirect-min (1 MiB) comes from a filer
# by a short-lived signed URL, its bytes checked against the X-Coffer-SHA512
# the filer sends; redirects are followed (--follow).
# The ratios of the issue's targets are taken within each round; the table
# shows medians and ranges (min-max) of the rounds.
#
# Then, once: peak RSS (VmHWM) of every role while one BIG_SIZE object is
# PUT through the gateway and read back: `coffer server` (one process), and
# the roles as separate processes (3 filers, app, objsrv, gateway). Target:
# under 64 MiB each.
#
# Figures, not pass/fail: exit 0 unless something broke (a server did not
# start, coffer-bench counted an error). The results go to
# BUILD_DIR/bench-gateway-results.txt and are appended to
# BUILD_DIR/bench-results.txt (which bench/run.sh starts afresh).
#
# Environment overrides (defaults in brackets):
#   REPEAT [3]  SMALL_COUNT [50000]  SMALL_CONC [16]  SMALL_SECONDS [10]
#   LARGE_COUNT [16]  LARGE_SIZE [64M]  LARGE_CONC [16]  LARGE_SECONDS [60]
#   DISK_THREADS [16]  DISK_SECONDS [5]  DISK_COUNT [20000]  DISK_WRITE_SIZE [256M]
#   BIG_SIZE [2G] (0: no memory phase)  SEPARATE_ROLES [1]  SWIFT [1]
#   PERF [1 where perf works]  1: after the rounds, one more pass of coffer's
#                 phases under `perf record -g` (not counted in the table);
#                 its profiles are printed after the table (where the time
#                 goes: by library and by symbol)
#   KEEP_TMP [0]   keep BUILD_DIR/bench-tmp-gateway (logs, configs)
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
NAME=gateway.sh
# shellcheck source=bench/lib.sh
. "$SRC_DIR/bench/lib.sh"
build_dir_arg "$@"

REPEAT=${REPEAT:-3}
SMALL_COUNT=${SMALL_COUNT:-50000}
SMALL_CONC=${SMALL_CONC:-16}
SMALL_SECONDS=${SMALL_SECONDS:-10}
LARGE_COUNT=${LARGE_COUNT:-16}
LARGE_SIZE=${LARGE_SIZE:-64M}
LARGE_CONC=${LARGE_CONC:-16}
LARGE_SECONDS=${LARGE_SECONDS:-60}
disk_defaults
BIG_SIZE=${BIG_SIZE:-2G}
SEPARATE_ROLES=${SEPARATE_ROLES:-1}
SWIFT=${SWIFT:-1}
if [ -z "${PERF:-}" ]; then
    PERF=0
    ! perf record -o /dev/null -q true >/dev/null 2>&1 || PERF=1
fi
KEEP_TMP=${KEEP_TMP:-0}

need_ints 1 REPEAT SMALL_COUNT SMALL_CONC LARGE_COUNT LARGE_CONC DISK_THREADS DISK_COUNT

COFFER=$BUILD_DIR/coffer
CBENCH=$BUILD_DIR/bench/coffer-bench
DISKLIMIT=$BUILD_DIR/bench/disklimit
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
need_built "make bench does" "$COFFER" "$CBENCH" "$DISKLIMIT" "$NGINX"
if [ "$SWIFT" = 1 ]; then
    for f in swift-ring-builder swift-proxy-server swift-object-server swift-container-server \
        swift-account-server; do
        command -v "$f" >/dev/null || {
            echo "gateway.sh: $f is missing (scripts/deps.sh bench installs Swift)" >&2
            exit 2
        }
    done
fi

TMP=$BUILD_DIR/bench-tmp-gateway
RESULTS=$BUILD_DIR/bench-gateway-results.txt
RAW=$TMP/raw.jsonl
BENCH_LABEL_WIDTH=30 # lib.sh's bench
PIDS=() # every process this script started, stopped in reverse order
broken=0

# shellcheck disable=SC2317 # reached through the trap below
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[i]}"
    done
    finish_tmp "$rc" "$TMP/server.log" "$TMP/nginx/error.log" "$TMP/swift/proxy.log" \
        "$TMP/roles/gateway.log" "$TMP/bench.log"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$TMP"
mkdir -p "$TMP"
: >"$RESULTS"
: >"$RAW"

# forget_pid PID: stopped by the caller; not to be stopped again at exit.
forget_pid() {
    local i
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[i]}" != "$1" ] || unset 'PIDS[i]'
    done
    PIDS=("${PIDS[@]}")
}

# wait_line PID FILE REGEX WHAT: wait (30 s) until FILE has a line matching
# REGEX; sets LINE to the match. Fails if PID exits first.
LINE=
wait_line() {
    local pid=$1 file=$2 re=$3 what=$4 i
    for ((i = 0; i < 300; i++)); do
        LINE=$(grep -m1 -o -E "$re" "$file" 2>/dev/null || true)
        [ -z "$LINE" ] || return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            fail "$what exited before it was ready (see $file and its log)"
        fi
        sleep 0.1
    done
    fail "$what was not ready within 30 s"
}

# wait_port PID PORT WHAT: wait (30 s) until 127.0.0.1:PORT accepts.
wait_port() {
    local i
    for ((i = 0; i < 300; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
            return 0
        fi
        kill -0 "$1" 2>/dev/null || fail "$3 exited before it listened on port $2"
        sleep 0.1
    done
    fail "$3 did not listen on port $2 within 30 s"
}

# free_port: a loopback port nothing listens on (sets PORT), below the
# kernel's ephemeral range, so no outgoing connection takes it before the
# server that is given it binds it (Swift's are given before the rings are
# built, which takes a while).
PORT=
free_port() {
    local i lo=32768 span
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range || true
    span=$((lo - 10000))
    [ "$span" -gt 1000 ] || fail "the ephemeral port range starts at $lo: no room below it"
    for ((i = 0; i < 50; i++)); do
        PORT=$((10000 + (RANDOM * 32768 + RANDOM) % span))
        port_in_use "$PORT" || return 0
    done
    fail "no free port found"
}

# ---- coffer --------------------------------------------------------------

# login GATEWAY_URL PASSWORD: a bearer token for demo/admin (sets TOKEN), and
# the folder /bench.
TOKEN=
login() {
    local gw=$1 pw=$2 reply st
    reply=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
        -d "{\"client\":\"demo\",\"user\":\"admin\",\"password\":\"$pw\"}" "$gw/api/v1/login") ||
        fail "login to $gw failed"
    TOKEN=$(sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p' <<<"$reply")
    [ -n "$TOKEN" ] || fail "login to $gw: no token in the reply: $reply"
    st=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $TOKEN" "$gw/api/v1/fs/bench?op=mkdir") ||
        fail "mkdir /bench on $gw failed"
    [ "$st" = 201 ] || fail "mkdir /bench on $gw: HTTP $st"
}

start_coffer() {
    local pid pw
    mkdir -p "$TMP/server"
    "$COFFER" server --data "$TMP/server" --port 0 --replicas 3 \
        >"$TMP/server.out" 2>"$TMP/server.log" &
    pid=$!
    PIDS+=("$pid")
    SERVER_PID=$pid
    wait_line "$pid" "$TMP/server.out" 'gateway listening on http://[^ ]*' "coffer server"
    GW_URL=${LINE##* }
    wait_line "$pid" "$TMP/server.out" 'client demo user admin password [^ ]*' "coffer server"
    pw=${LINE##* }
    login "$GW_URL" "$pw"
    GW_TOKEN=$TOKEN
}

empty_trash() {
    local st
    st=$(curl -sS --max-time 600 -o /dev/null -w '%{http_code}' -X DELETE \
        -H "Authorization: Bearer $GW_TOKEN" "$GW_URL/api/v1/trash") || st=none
    case $st in
    2??) ;;
    *) say "gateway.sh: emptying the trash: HTTP $st"; broken=1 ;;
    esac
}

# ---- Swift ---------------------------------------------------------------

# The Swift all-in-one: rings and configs under $TMP/swift, 9 storage servers
# and a proxy, each started here and stopped by PID.
start_swift() {
    local d=$TMP/swift etc ring kind i dev devs conf pid runner=() st
    etc=$d/etc
    mkdir -p "$etc"
    # Swift keeps object metadata in extended attributes.
    touch "$d/xattr-probe"
    if ! python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.swift", b"1")' \
        "$d/xattr-probe" 2>/dev/null; then
        fail "the filesystem of $d has no user xattrs, which Swift needs"
    fi
    cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = coffer-bench
swift_hash_path_prefix = coffer-bench

[storage-policy:0]
name = Policy-0
default = yes
EOF
    # Bound over /etc/swift in a mount namespace of Swift's own: the host's
    # /etc/swift (Debian's package makes the directory) is left as it is.
    [ -d /etc/swift ] || fail "/etc/swift is missing: is Swift installed (scripts/deps.sh bench)?"
    command -v unshare >/dev/null || fail "unshare (util-linux) is needed to run Swift here"
    # shellcheck disable=SC2016 # expanded by that sh
    runner=(unshare -m sh -c 'mount --bind "$0" /etc/swift && exec "$@"' "$etc")
    declare -A ports spid
    for kind in object container account; do
        ring=$etc/$kind.builder
        devs=()
        for i in 1 2 3; do
            free_port
            ports[$kind$i]=$PORT
            dev=$d/$kind$i
            mkdir -p "$dev/d$i"
            devs+=("r1z$i-127.0.0.1:$PORT/d$i" 100)
            conf=$etc/$kind$i.conf
            cat >"$conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PORT
workers = 1
user = $(id -un)
swift_dir = $etc
devices = $dev
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
log_name = $kind$i
log_facility = LOG_LOCAL$i
log_level = WARNING

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind
EOF
            # A port taken between free_port and the bind shows as an exit.
            "${runner[@]}" "swift-$kind-server" "$conf" </dev/null >"$d/$kind$i.log" 2>&1 &
            spid[$kind$i]=$!
            PIDS+=("$!")
        done
        # One call per step: each is a Python start-up, seconds on a busy machine.
        if ! { swift-ring-builder "$ring" create 8 3 0 &&
            swift-ring-builder "$ring" add "${devs[@]}" &&
            swift-ring-builder "$ring" rebalance; } >>"$d/rings.log" 2>&1; then
            fail "swift-ring-builder $kind failed (see $d/rings.log)"
        fi
    done
    free_port
    SWIFT_PORT=$PORT
    cat >"$etc/proxy.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $SWIFT_PORT
workers = auto
user = $(id -un)
swift_dir = $etc
log_name = proxy
log_level = WARNING

[pipeline:main]
pipeline = catch_errors proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:catch_errors]
use = egg:swift#catch_errors
EOF
    "${runner[@]}" swift-proxy-server "$etc/proxy.conf" </dev/null >"$d/proxy.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for kind in object container account; do
        for i in 1 2 3; do
            wait_port "${spid[$kind$i]}" "${ports[$kind$i]}" "swift-$kind-server $i"
        done
    done
    wait_port "$pid" "$SWIFT_PORT" "swift-proxy-server"
    SWIFT_URL=http://127.0.0.1:$SWIFT_PORT/v1/AUTH_bench/c
    # The container (and with it the account) before the first object.
    for i in $(seq 1 50); do
        st=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -X PUT "$SWIFT_URL" 2>/dev/null) ||
            st=none
        case $st in 201 | 202) return 0 ;; esac
        sleep 0.2
    done
    fail "Swift: PUT of the container answered $st (logs in $d)"
}

# ---- nginx ---------------------------------------------------------------

start_nginx() {
    local user_line='' pid
    mkdir -p "$TMP/nginx/www" "$TMP/nginx/body" "$TMP/nginx/tmp"
    # As root, nginx's workers would switch to nobody, who cannot write here.
    if [ "$(id -u)" -eq 0 ]; then
        user_line="user $(id -un) $(id -gn);"
    fi
    free_port
    sed -e "s|@PREFIX@|$TMP/nginx|g" -e "s|@PORT@|$PORT|g" -e "s|@USER_LINE@|$user_line|g" \
        "$SRC_DIR/bench/nginx.conf.in" >"$TMP/nginx/nginx.conf"
    "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
        -g 'daemon off;' </dev/null >>"$TMP/nginx/nginx.out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$pid" "$PORT" nginx
    NGINX_URL=http://127.0.0.1:$PORT/o/bench
}

# ---- measuring -----------------------------------------------------------

# The last coffer-bench run's figures (lib.sh's bench; empty on failure).
JSON=
declare -A V   # V[key] = "value value ..." over the rounds
declare -A CUR # CUR[key] = this round's value
keep() {
    [ -n "$2" ] && [ "$PROFILING" = 0 ] || return 0
    V[$1]="${V[$1]:-} $2"
    CUR[$1]=$2
}

now_s() { date +%s.%N; }

# round_of T R TI: every phase against server T (coffer, swift, nginx).
round_of() {
    local t=$1 r=$2 ti=$3 base opts=() put_expect=201 n t0 t1 secs seed
    case $t in
    coffer)
        kill -0 "$SERVER_PID" 2>/dev/null ||
            fail "coffer server (pid $SERVER_PID) exited (log: $TMP/server.log)"
        base="$GW_URL/api/v1/fs/bench"
        opts=(--header "Authorization: Bearer $GW_TOKEN" --header "X-Coffer-Redirect: 1"
            --sha-check --follow)
        ;;
    swift) base=$SWIFT_URL ;;
    nginx)
        base=$NGINX_URL
        put_expect=201,204
        ;;
    esac
    seed=$((r * 10000000 + ti * 1000000))
    sync
    [ "$t" != coffer ] || phase_start 4KiB-PUT
    bench "$t 4KiB PUT r$r" --method PUT --size 4096 --count "$SMALL_COUNT" \
        --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --expect-status "$put_expect" \
        --url "$base/r$r-s-{i}" --seed "$seed" "${opts[@]}"
    phase_stop 4KiB-PUT
    n=$(jget "$JSON" issued)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        keep "$t.sput" "$(jget "$JSON" ops_per_s)"
        sync
        [ "$t" != coffer ] || phase_start 4KiB-GET
        bench "$t 4KiB GET r$r" --method GET --size 4096 --count "$n" \
            --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --url "$base/r$r-s-{i}" \
            --seed "$seed" "${opts[@]}"
        phase_stop 4KiB-GET
        keep "$t.sget" "$(jget "$JSON" ops_per_s)"
        [ "$t" != coffer ] || phase_start 4KiB-DELETE
        bench "$t 4KiB DELETE r$r" --method DELETE --count "$n" --concurrency "$SMALL_CONC" \
            --time-limit "$SMALL_SECONDS" --url "$base/r$r-s-{i}" "${opts[@]}"
        phase_stop 4KiB-DELETE
        keep "$t.sdel" "$(jget "$JSON" ops_per_s)"
    fi

    seed=$((seed + 500000))
    sync
    [ "$t" != coffer ] || phase_start "$LARGE_SIZE-PUT"
    bench "$t $LARGE_SIZE PUT r$r" --method PUT --size "$LARGE_SIZE" --count "$LARGE_COUNT" \
        --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --expect-status "$put_expect" \
        --url "$base/r$r-l-{i}" --seed "$seed" "${opts[@]}"
    phase_stop "$LARGE_SIZE-PUT"
    t0=$(now_s)
    sync
    t1=$(now_s)
    n=$(jget "$JSON" issued)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        secs=$(jget "$JSON" seconds)
        # Bytes acknowledged over the PUTs' time plus the sync's.
        keep "$t.lput" "$(awk -v ok="$(jget "$JSON" ok)" -v sz="$(jget "$JSON" size)" \
            -v s="$secs" -v a="$t0" -v b="$t1" \
            'BEGIN { if (s + b - a > 0) printf "%.1f\n", ok * sz / 1e6 / (s + b - a) }')"
        say "    (+ sync $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s):" \
            "${CUR[$t.lput]:-} MB/s"
        [ "$t" != coffer ] || phase_start "$LARGE_SIZE-GET"
        bench "$t $LARGE_SIZE GET r$r" --method GET --size "$LARGE_SIZE" --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --url "$base/r$r-l-{i}" \
            --seed "$seed" "${opts[@]}"
        phase_stop "$LARGE_SIZE-GET"
        keep "$t.lget" "$(jget "$JSON" mb_per_s)"
        bench "$t $LARGE_SIZE DELETE r$r" --method DELETE --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --url "$base/r$r-l-{i}" \
            "${opts[@]}"
    fi
    if [ "$t" = coffer ]; then
        empty_trash
    fi
}

# perf_start NAME: in the profiling pass (PROFILING=1), sample coffer server
# (call graphs) until perf_stop.
PERF_PID=
PROFILES=()
perf_start() {
    [ "$PROFILING" = 1 ] || return 0
    perf record -F 999 -g -p "$SERVER_PID" -o "$TMP/perf-$1.data" >"$TMP/perf-$1.log" 2>&1 &
    PERF_PID=$!
    PIDS+=("$PERF_PID")
    sleep 1 # perf attaches before the load starts
}
perf_stop() {
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    forget_pid "$PERF_PID"
    PERF_PID=
    PROFILES+=("$1")
}

# phase_start NAME / phase_stop NAME: around each of coffer's phases, the
# CPU time coffer server used (utime + stime, every thread) over the load's
# seconds: cores busy, and CPU microseconds per completed request. A phase
# near $(nproc) cores busy is bound by CPU (cut the work per request); one
# well below waits (on fsync, locks or the other hops).
HZ=$(getconf CLK_TCK)
PHASE_CPU0=
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SERVER_PID/stat"; }
phase_start() {
    PHASE_CPU0=$(cpu_ticks)
    perf_start "$1"
}
phase_stop() {
    local c1 secs n
    perf_stop "$1"
    [ -n "$PHASE_CPU0" ] || return 0
    c1=$(cpu_ticks)
    secs=$(jget "$JSON" seconds)
    n=$(jget "$JSON" ok)
    keep "busy.$1" "$(awk -v a="$PHASE_CPU0" -v b="$c1" -v hz="$HZ" -v s="$secs" \
        'BEGIN { if (s > 0) printf "%.2f\n", (b - a) / hz / s }')"
    keep "cpuop.$1" "$(awk -v a="$PHASE_CPU0" -v b="$c1" -v hz="$HZ" -v n="$n" \
        'BEGIN { if (n > 0) printf "%.0f\n", (b - a) / hz * 1e6 / n }')"
    PHASE_CPU0=
}

# The top of each profile: self time by symbol.
print_profiles() {
    local p
    for p in "${PROFILES[@]}"; do
        echo ""
        echo "profile of coffer server, $p (profiling pass; perf report --no-children, >= 1%):"
        echo "  by library:"
        perf report -i "$TMP/perf-$p.data" --stdio --no-children --sort dso -g none \
            --percent-limit 1 2>/dev/null | grep -v -e '^#' -e '^$' | head -n 12 || true
        echo "  by symbol:"
        perf report -i "$TMP/perf-$p.data" --stdio --no-children --sort dso,sym -g none \
            --percent-limit 1 2>/dev/null | grep -v -e '^#' -e '^$' | head -n 25 || true

    done
}

# ---- memory --------------------------------------------------------------

# rss_big LABEL GATEWAY TOKEN PID...: VmHWM of each PID over one BIG_SIZE PUT
# through the gateway, then over its GET; the high-water marks are reset
# (clear_refs 5) before each where the kernel allows. Appends to RSS_LINES.
# The target is per role: RSS_WORST counts processes that run one role;
# `coffer server`, six roles in one process, is shown beside them.
RSS_LINES=()
RSS_WORST=0
rss_big() {
    local label=$1 gw=$2 tok=$3 pid dir reset kb put_mbs=- get_mbs=-
    shift 3
    declare -A up down
    for dir in up down; do
        reset=yes
        for pid in "$@"; do
            { echo 5 >"/proc/$pid/clear_refs"; } 2>/dev/null || reset=no
        done
        sync
        if [ "$dir" = up ]; then
            bench "$label $BIG_SIZE PUT (RSS)" --method PUT --size "$BIG_SIZE" --count 1 \
                --concurrency 1 --time-limit 900 --timeout 1800 --url "$gw/api/v1/fs/bench/big" \
                --header "Authorization: Bearer $tok" --sha-check --seed 999000000
            put_mbs=$(jget "$JSON" mb_per_s)
        else
            bench "$label $BIG_SIZE GET (RSS)" --method GET --size "$BIG_SIZE" --count 1 \
                --concurrency 1 --time-limit 900 --timeout 1800 --url "$gw/api/v1/fs/bench/big" \
                --header "Authorization: Bearer $tok" --header "X-Coffer-Redirect: 1" \
                --sha-check --follow --seed 999000000
            get_mbs=$(jget "$JSON" mb_per_s)
        fi
        for pid in "$@"; do
            kb=$(proc_kb "$pid" VmHWM)
            if [ "$dir" = up ]; then up[$pid]=$kb; else down[$pid]=$kb; fi
            [ -z "$kb" ] || [ "$pid" = "$SERVER_PID" ] || [ "$kb" -le "$RSS_WORST" ] ||
                RSS_WORST=$kb
        done
    done
    RSS_LINES+=("$(printf '%-34s PUT %s MB/s, GET %s MB/s (high-water mark reset: %s)' \
        "$label" "${put_mbs:--}" "${get_mbs:--}" "$reset")")
    for pid in "$@"; do
        RSS_LINES+=("$(printf '    %-30s VmHWM PUT %8s MiB   GET %8s MiB' "${ROLE_OF[$pid]}" \
            "$(awk -v k="${up[$pid]:-}" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" \
            "$(awk -v k="${down[$pid]:-}" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')")")
    done
}
declare -A ROLE_OF

# start_role NAME OUTFILE ARGS...: one coffer role with --listen
# 127.0.0.1:0; sets ROLE_PID and ROLE_URL (from "listening on URL").
ROLE_PID=
ROLE_URL=
start_role() {
    local name=$1 out=$2
    shift 2
    "$COFFER" "$@" >"$out" 2>"${out%.out}.log" &
    ROLE_PID=$!
    PIDS+=("$ROLE_PID")
    ROLE_OF[$ROLE_PID]=$name
    wait_line "$ROLE_PID" "$out" 'listening on http://[^ ]*' "coffer $name"
    ROLE_URL=${LINE##* }
}

# The roles as separate processes, as a multi-host system runs them.
rss_separate() {
    local d=$TMP/roles keys k=() i app obj gw pids=() pw='bench admin password 2026'
    mkdir -p "$d"
    "$COFFER" admin keys init --data "$d/keys" >/dev/null || fail "coffer admin keys init failed"
    keys=$d/keys
    k=(--cluster-key-file "$keys/cluster.key" --operator-pub-file "$keys/operator.pub")
    for i in 1 2 3; do
        mkdir -p "$d/f$i"
        start_role "filer $i" "$d/filer$i.out" filer --id "$i" --dir "$d/f$i" \
            --listen 127.0.0.1:0 "${k[@]}"
        pids+=("$ROLE_PID")
        COFFER_OPERATOR_KEY_FILE=$keys/operator.key "$COFFER" admin filer add \
            --db "sqlite:$d/catalog.db" --id "$i" --url "$ROLE_URL" --weight 100 \
            >>"$d/admin.log" 2>&1 || fail "coffer admin filer add failed (see $d/admin.log)"
    done
    COFFER_OPERATOR_KEY_FILE=$keys/operator.key "$COFFER" admin shard add \
        --db "sqlite:$d/catalog.db" >>"$d/admin.log" 2>&1 ||
        fail "coffer admin shard add failed (see $d/admin.log)"
    start_role app "$d/app.out" app --listen 127.0.0.1:0 --db "sqlite:$d/catalog.db" \
        --replicas 3 "${k[@]}"
    app=$ROLE_URL
    pids+=("$ROLE_PID")
    start_role objsrv "$d/objsrv.out" objsrv --listen 127.0.0.1:0 --app "$app" "${k[@]}"
    obj=$ROLE_URL
    pids+=("$ROLE_PID")
    "$COFFER" admin client add demo --replicas 3 --fs-db "sqlite:$d/fs-catalog.db" \
        >>"$d/admin.log" 2>&1 || fail "coffer admin client add failed (see $d/admin.log)"
    "$COFFER" admin user add --client demo admin --admin --password "$pw" \
        --fs-db "sqlite:$d/fs-catalog.db" >>"$d/admin.log" 2>&1 ||
        fail "coffer admin user add failed (see $d/admin.log)"
    start_role gateway "$d/gateway.out" gateway --listen 127.0.0.1:0 \
        --db "sqlite:$d/fs-catalog.db" --app "$app" --objsrv "$obj" --key-file "$d/gateway.key" \
        "${k[@]}"
    gw=$ROLE_URL
    pids+=("$ROLE_PID")
    login "$gw" "$pw"
    rss_big "separate roles" "$gw" "$TOKEN" "${pids[@]}"
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        stop_pid "${pids[i]}"
        forget_pid "${pids[i]}"
    done
}

# ---- the run -------------------------------------------------------------

t_start=$(date +%s)
say "coffer benchmark, the user's path -- $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "  host: $(nproc) cores, $(uname -sr); git $(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo none)"
say "  disk: $(df -PT "$TMP" | awk 'NR == 2 { print $1 " (" $2 "), mounted on " $7 }')"
say "  $("$NGINX" -v 2>&1); swift $(dpkg-query -W -f='${Version}' swift-proxy 2>/dev/null || echo '?')"
say "  rounds: $REPEAT; small: 4 KiB x $SMALL_COUNT (c=$SMALL_CONC, <= ${SMALL_SECONDS} s);" \
    "large: $LARGE_SIZE x $LARGE_COUNT (c=$LARGE_CONC, <= ${LARGE_SECONDS} s)"
say "  load generator, servers and disk share this machine: trust the ratios within a round."
say ""

mkdir -p "$TMP/disk"
start_coffer
ROLE_OF[$SERVER_PID]="coffer server (every role)"
say "coffer server (pid $SERVER_PID, 3 filers, --replicas 3): gateway $GW_URL"
if [ "$SWIFT" = 1 ]; then
    start_swift
    say "Swift all-in-one (3 replicas): $SWIFT_URL"
fi
start_nginx
say "nginx WebDAV (1 copy, no fsync): $NGINX_URL"

PROFILING=0
TARGETS=(coffer nginx)
[ "$SWIFT" != 1 ] || TARGETS=(coffer swift nginx)
for ((r = 1; r <= REPEAT; r++)); do
    say ""
    say "round $r of $REPEAT:"
    CUR=()
    disk_round "$r"
    for ((j = 0; j < ${#TARGETS[@]}; j++)); do
        ti=$(((r - 1 + j) % ${#TARGETS[@]}))
        round_of "${TARGETS[ti]}" "$r" "$ti"
    done
    keep ratio.sput "$(ratio_of "${CUR[coffer.sput]:-}" "${CUR[swift.sput]:-}")"
    keep ratio.sget "$(ratio_of "${CUR[coffer.sget]:-}" "${CUR[nginx.sget]:-}")"
    keep ratio.lput "$(ratio_of "${CUR[coffer.lput]:-}" "${CUR[disk.mbs]:-}" 3)"
    keep ratio.lget "$(ratio_of "${CUR[coffer.lget]:-}" "${CUR[nginx.lget]:-}")"
    keep ratio.sdel "$(ratio_of "${CUR[coffer.sdel]:-}" "${CUR[nginx.sdel]:-}")"
    for ph in sput sget lput lget sdel; do
        keep "cs.$ph" "$(ratio_of "${CUR[coffer.$ph]:-}" "${CUR[swift.$ph]:-}")"
        keep "cn.$ph" "$(ratio_of "${CUR[coffer.$ph]:-}" "${CUR[nginx.$ph]:-}")"
    done
    say "  this round's target ratios: 4 KiB PUT / Swift ${CUR[ratio.sput]:--}; 4 KiB GET / nginx" \
        "${CUR[ratio.sget]:--}; $LARGE_SIZE PUT / (disk MB/s / 3) ${CUR[ratio.lput]:--};" \
        "$LARGE_SIZE GET / nginx ${CUR[ratio.lget]:--}; 4 KiB DELETE / nginx ${CUR[ratio.sdel]:--}"
done
if [ "$PERF" = 1 ]; then
    say ""
    say "profiling pass (coffer only, under perf record; not counted):"
    PROFILING=1
    round_of coffer 0 0
    PROFILING=0
fi

if [ "$BIG_SIZE" != 0 ]; then
    say ""
    say "memory: one $BIG_SIZE object PUT through the gateway, then read back:"
    rss_big "coffer server (one process)" "$GW_URL" "$GW_TOKEN" "$SERVER_PID"
    if [ "$SEPARATE_ROLES" = 1 ]; then
        rss_separate
    fi
fi

# ---- the table -----------------------------------------------------------

# cell KEY [FORMAT]: "median (min-max)" over the rounds, or "-".
cell() {
    local vals=${V[$1]:-} med lo hi
    if [ -z "$vals" ]; then
        echo -
        return 0
    fi
    # shellcheck disable=SC2086 # a space-separated list of numbers
    med=$(median "${2:-%.0f}" $vals)
    # shellcheck disable=SC2086
    lo=$(printf '%s\n' $vals | sort -g | head -n1)
    # shellcheck disable=SC2086
    hi=$(printf '%s\n' $vals | sort -g | tail -n1)
    if [ "$REPEAT" -gt 1 ]; then
        # shellcheck disable=SC2059 # the format is the caller's
        printf '%s (%s-%s)\n' "$med" "$(printf "${2:-%.0f}" "$lo")" "$(printf "${2:-%.0f}" "$hi")"
    else
        echo "$med"
    fi
}

# row LABEL PHASE DISK_KEY TARGET_TEXT FACTOR
row() {
    local ph=$2 m verdict
    # shellcheck disable=SC2086
    m=$(median %.2f ${V[ratio.$ph]:-})
    if [ -z "$m" ]; then
        verdict=n/a
    else
        verdict=$(awk -v x="$m" -v k="$5" 'BEGIN { print (x + 0 >= k) ? "met" : "MISSED" }')
    fi
    printf '%-22s | %-20s | %-20s | %-20s | %-20s | %-20s | %-20s | %-24s | %-20s | %s\n' "$1" \
        "$(cell "coffer.$ph")" "$(cell "swift.$ph")" "$(cell "nginx.$ph")" \
        "$([ -n "$3" ] && cell "$3" || echo -)" "$(cell "cs.$ph" %.2f)" "$(cell "cn.$ph" %.2f)" \
        "$4" "$(cell "ratio.$ph" %.2f)" "$verdict"
}

{
    echo ""
    if [ "$REPEAT" -gt 1 ]; then
        echo "results: median (min-max) of $REPEAT rounds; ratios taken within each round"
    else
        echo "results: 1 round"
    fi
    printf '%-22s | %-20s | %-20s | %-20s | %-20s | %-20s | %-20s | %-24s | %-20s | %s\n' \
        phase "coffer gateway r=3" "Swift r=3" "nginx (1 copy)" "disk limit" "coffer/Swift" \
        "coffer/nginx" target ratio verdict
    row "4 KiB PUT, ops/s" sput disk.creates ">= 20 x Swift" 20
    row "4 KiB GET, ops/s" sget "" ">= 0.5 x nginx" 0.5
    row "$LARGE_SIZE PUT (+sync), MB/s" lput disk.mbs ">= 0.9 x disk MB/s / 3" 0.9
    row "$LARGE_SIZE GET, MB/s" lget "" ">= 0.8 x nginx" 0.8
    row "4 KiB DELETE, ops/s" sdel "" ">= 0.5 x nginx" 0.5
    echo ""
    echo "coffer server's CPU in each phase (all its threads; median (min-max) of the rounds):"
    printf '    %-14s %-20s %s\n' phase "cores busy of $(nproc)" "CPU us per request"
    for ph in 4KiB-PUT 4KiB-GET 4KiB-DELETE "$LARGE_SIZE-PUT" "$LARGE_SIZE-GET"; do
        printf '    %-14s %-20s %s\n' "$ph" "$(cell "busy.$ph" %.2f)" "$(cell "cpuop.$ph")"
    done
    if [ "${#RSS_LINES[@]}" -gt 0 ]; then
        echo ""
        echo "peak RSS (VmHWM) of every role over one $BIG_SIZE object through the gateway:"
        printf '%s\n' "${RSS_LINES[@]}"
        echo "    target: every role (a process of its own) < 64 MiB: $(awk -v k="$RSS_WORST" \
            'BEGIN { print (k > 0 && k < 64 * 1024) ? "met" : "MISSED" }')" \
            "(largest $(awk -v k="$RSS_WORST" 'BEGIN { printf "%.1f", k / 1024 }') MiB)"
    fi
    echo ""
    echo "coffer: \`coffer server --replicas 3\` (3 filers on this disk), through the gateway with a"
    echo "    bearer token; a reply only after 3 filers hold the bytes on stable storage."
    echo "Swift: 3 replicas, object servers fsync before replying; no auth, no memcache."
    echo "nginx: 1 copy, NOT fsync'ed (its PUT MB/s include a sync after the last reply)."
    echo "disk limit: durable 4 KiB creates/s ($DISK_THREADS threads, fsync of file and"
    echo "    directory) and fsync'ed sequential write MB/s ($DISK_WRITE_SIZE). MB = 10^6 bytes."
    echo "Figures, not pass/fail. Took $(($(date +%s) - t_start)) s."
    print_profiles
} | tee -a "$RESULTS"

{
    echo ""
    echo "raw results (one JSON line per run):"
    cat "$RAW"
} >>"$RESULTS"
cat "$RESULTS" >>"$BUILD_DIR/bench-results.txt"
echo "results and raw JSON lines saved in $RESULTS (and appended to $BUILD_DIR/bench-results.txt)"
if [ "$broken" -ne 0 ]; then
    say "gateway.sh: something broke (see above): exit 1"
    exit 1
fi
exit 0
