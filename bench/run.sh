#!/usr/bin/env bash
# bench/run.sh BUILD_DIR -- one benchmark run of coffer (issues 2 and 3).
#
# All on 127.0.0.1, in BUILD_DIR/bench-tmp (the same disk as the build, not
# /tmp, which may be tmpfs). One `coffer filer`, one nginx (WebDAV PUT and
# DELETE, sendfile) and one `coffer server` (app, objsrv and SERVER_FILERS
# filers in one process) on free loopback ports. First, once: the uploader's
# peak RSS (the server process's VmHWM) while one BIG_SIZE object is uploaded,
# streamed from coffer-bench's generator. Then REPEAT rounds, each of:
#   1. disklimit: the disk's durable ceilings (4 KiB creates/s with fsync of the
#      file and the directory; fsync'ed sequential MB/s), measured every round
#      because on a shared machine they move with everyone else's I/O;
#   2. the filer, then 3. nginx: 4 KiB PUT, GET, DELETE at concurrency
#      SMALL_CONC; 64 MiB PUT, GET (and a DELETE that only cleans up) at
#      concurrency LARGE_CONC;
#   4. the data path, end to end through `coffer server`, for r = 2 and r = 3:
#      4 KiB upload (POST to the app) and download (GET from objsrv by the
#      returned UUID) at SMALL_CONC, 64 MiB upload and download at LARGE_CONC,
#      with the server process's CPU time per 4 KiB request;
#   5. the cost of authentication: 4 KiB upload and download (r = 2) through
#      this server (every request signed and checked) and through a second
#      `coffer server --insecure-no-auth`, the two alternated and their order
#      swapped every round; the ratio is taken within each round.
# The tables show the median of the rounds against the targets of issues 2
# and 3; a data-path ratio is taken within each round (against that round's
# disk and filer figures) and the median of those ratios is shown.
# Figures, not pass/fail: the exit status is 0 unless something broke (a tool
# failed to start or run, or coffer-bench counted an error). Each target is
# printed as met or missed. The results also go to BUILD_DIR/bench-results.txt.
#
# Environment overrides (defaults in brackets):
#   REPEAT [3]  SMALL_COUNT [50000]  SMALL_CONC [16]  SMALL_SECONDS [10]
#   LARGE_COUNT [16]  LARGE_SIZE [64M]  LARGE_CONC [4]  LARGE_SECONDS [60]
#   DISK_THREADS [16]  DISK_SECONDS [5]  DISK_COUNT [20000]  DISK_WRITE_SIZE [256M]
#   SHA_HEADER [1]  send X-Coffer-SHA512 on PUTs and uploads and check it on replies
#   FILER_ARGS []   extra arguments for `coffer filer`
#   SERVER_FILERS [3]  filers in `coffer server`
#   SERVER_ARGS []  extra arguments for `coffer server`
#   BIG_SIZE [2G]   the object uploaded once for the peak-RSS figure
#   KEEP_TMP [0]    keep BUILD_DIR/bench-tmp (logs) after the run
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
NAME=run.sh
# shellcheck source=bench/lib.sh
. "$SRC_DIR/bench/lib.sh"
build_dir_arg "$@"

REPEAT=${REPEAT:-3}
SMALL_COUNT=${SMALL_COUNT:-50000}
SMALL_CONC=${SMALL_CONC:-16}
SMALL_SECONDS=${SMALL_SECONDS:-10}
LARGE_COUNT=${LARGE_COUNT:-16}
LARGE_SIZE=${LARGE_SIZE:-64M}
LARGE_CONC=${LARGE_CONC:-4}
LARGE_SECONDS=${LARGE_SECONDS:-60}
disk_defaults
SHA_HEADER=${SHA_HEADER:-1}
FILER_ARGS=${FILER_ARGS:-}
SERVER_FILERS=${SERVER_FILERS:-3}
SERVER_ARGS=${SERVER_ARGS:-}
BIG_SIZE=${BIG_SIZE:-2G}
KEEP_TMP=${KEEP_TMP:-0}

need_ints 1 REPEAT SMALL_COUNT SMALL_CONC LARGE_COUNT LARGE_CONC DISK_THREADS DISK_COUNT \
    SERVER_FILERS

COFFER=$BUILD_DIR/coffer
CBENCH=$BUILD_DIR/bench/coffer-bench
DISKLIMIT=$BUILD_DIR/bench/disklimit
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
need_built "make bench does" "$COFFER" "$CBENCH" "$DISKLIMIT" "$NGINX"

TMP=$BUILD_DIR/bench-tmp
RESULTS=$BUILD_DIR/bench-results.txt
RAW=$TMP/raw.jsonl
FILER_PID=
NGINX_PID=
SERVER_PID=
NOAUTH_PID=
broken=0

# shellcheck disable=SC2317 # reached through the trap begin_run sets
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$FILER_PID"
    stop_pid "$NGINX_PID"
    stop_pid "$SERVER_PID"
    stop_pid "$NOAUTH_PID"
    finish_tmp "$rc" "$TMP/filer.log" "$TMP/nginx/error.log" "$TMP/nginx/nginx.out" \
        "$TMP/server.log" "$TMP/bench.log"
    exit "$rc"
}
begin_run
: >"$RAW"

# The cluster key every coffer role of the run uses; coffer-bench signs its
# requests with it as a role would (--key-file).
make_keys() {
    "$COFFER" admin keys init --data "$TMP/keys" >/dev/null ||
        fail "coffer admin keys init failed"
    KEY=$TMP/keys/cluster.key
    SIGN=(--key-file "$KEY")
}

start_filer() {
    local i line
    mkdir -p "$TMP/filer"
    # shellcheck disable=SC2086 # FILER_ARGS is a list of words on purpose
    "$COFFER" filer --id 1 --dir "$TMP/filer" --listen 127.0.0.1:0 --cluster-key-file "$KEY" \
        $FILER_ARGS \
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

start_server() {
    local i app obj
    mkdir -p "$TMP/server"
    cp -p "$TMP/keys/cluster.key" "$TMP/keys/operator.key" "$TMP/keys/operator.pub" "$TMP/server/"
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of words on purpose
    "$COFFER" server --data "$TMP/server" --port 0 --filers "$SERVER_FILERS" --replicas 2 \
        $SERVER_ARGS >"$TMP/server.out" 2>"$TMP/server.log" &
    SERVER_PID=$!
    for ((i = 0; i < 300; i++)); do
        app=$(grep -m1 -o 'app listening on http://[^ ]*' "$TMP/server.out" || true)
        obj=$(grep -m1 -o 'objsrv listening on http://[^ ]*' "$TMP/server.out" || true)
        if [ -n "$app" ] && [ -n "$obj" ]; then
            APP_URL=${app##* }
            OBJSRV_URL=${obj##* }
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" || true
            SERVER_PID=
            fail "coffer server exited before it was ready (log: $TMP/server.log)"
        fi
        sleep 0.1
    done
    fail "coffer server did not print its URLs within 30 s"
}

# The same server without keys: nothing signed or checked (--insecure-no-auth).
start_noauth_server() {
    local i app obj
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of words on purpose
    "$COFFER" server --data "$TMP/server-noauth" --port 0 --filers "$SERVER_FILERS" \
        --replicas 2 --insecure-no-auth $SERVER_ARGS >"$TMP/noauth.out" 2>"$TMP/noauth.log" &
    NOAUTH_PID=$!
    for ((i = 0; i < 300; i++)); do
        app=$(grep -m1 -o 'app listening on http://[^ ]*' "$TMP/noauth.out" || true)
        obj=$(grep -m1 -o 'objsrv listening on http://[^ ]*' "$TMP/noauth.out" || true)
        if [ -n "$app" ] && [ -n "$obj" ]; then
            NOAUTH_APP=${app##* }
            NOAUTH_OBJSRV=${obj##* }
            return 0
        fi
        if ! kill -0 "$NOAUTH_PID" 2>/dev/null; then
            wait "$NOAUTH_PID" || true
            NOAUTH_PID=
            fail "coffer server --insecure-no-auth exited before it was ready (log: $TMP/noauth.log)"
        fi
        sleep 0.1
    done
    fail "coffer server --insecure-no-auth did not print its URLs within 30 s"
}

# CPU time (utime + stime, clock ticks) a process has used so far.
cpu_ticks() {
    local stat fld
    stat=$(<"/proc/$1/stat")
    # Fields after the ")" that closes the command name: utime is the 12th.
    read -r -a fld <<<"${stat##*) }"
    echo $((fld[11] + fld[12]))
}
CLK_TCK=$(getconf CLK_TCK)

# ms_per_op TICKS0 TICKS1 OPS: CPU ms per operation (nothing if OPS is 0).
ms_per_op() {
    awk -v a="$1" -v b="$2" -v n="${3:-0}" -v hz="$CLK_TCK" \
        'BEGIN { if (n > 0) printf "%.3f\n", (b - a) * 1000 / hz / n }'
}

# The last coffer-bench run's figures (lib.sh's bench; empty on failure).
JSON=
declare -A V   # V[target.phase.field] = "value value ..." over the rounds
declare -A CUR # CUR[target.phase.field] = this round's value
keep() {
    V[$1]="${V[$1]:-} $2"
    CUR[$1]=$2
}

# One round of every phase against one target (filer or nginx).
round() {
    local t=$1 r=$2 base put_expect extra=() auth=() n c0 c1 pid
    if [ "$t" = filer ] && ! kill -0 "$FILER_PID" 2>/dev/null; then
        fail "coffer filer (pid $FILER_PID) exited during the run (log: $TMP/filer.log)"
    fi
    if [ "$t" = nginx ] && ! kill -0 "$NGINX_PID" 2>/dev/null; then
        fail "nginx (pid $NGINX_PID) exited during the run (log: $TMP/nginx/error.log)"
    fi
    if [ "$t" = filer ]; then
        pid=$FILER_PID
        base="http://127.0.0.1:$FILER_PORT/o/bench/r$r"
        put_expect=201
        auth=("${SIGN[@]}")
        if [ "$SHA_HEADER" = 1 ]; then
            extra=(--sha-header)
        fi
    else
        pid=
        base="http://127.0.0.1:$NGINX_PORT/o/bench/r$r"
        put_expect=201,204
    fi
    # Flush the previous phase's dirty pages (nginx's PUTs are not fsync'ed)
    # so that its writeback does not land in this phase's figures.
    sync

    # nginx runs as several worker processes: its CPU time is not measured.
    [ -z "$pid" ] || c0=$(cpu_ticks "$pid")
    bench "$t 4KiB PUT r$r" --method PUT --size 4096 --count "$SMALL_COUNT" \
        --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --expect-status "$put_expect" \
        --url "$base/s/{i}" "${extra[@]}" "${auth[@]}"
    n=$(jget "$JSON" issued)
    if [ -n "$pid" ]; then
        c1=$(cpu_ticks "$pid")
        keep "$t.sput.cpu" "$(ms_per_op "$c0" "$c1" "$(jget "$JSON" ok)")"
    fi
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        keep "$t.sput.ops" "$(jget "$JSON" ops_per_s)"
        keep "$t.sput.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.sput.p99" "$(jget "$JSON" p99_ms)"
        sync
        [ -z "$pid" ] || c0=$(cpu_ticks "$pid")
        bench "$t 4KiB GET r$r" --method GET --size 4096 --count "$n" \
            --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --url "$base/s/{i}" \
            "${extra[@]}" "${auth[@]}"
        if [ -n "$pid" ]; then
            c1=$(cpu_ticks "$pid")
            keep "$t.sget.cpu" "$(ms_per_op "$c0" "$c1" "$(jget "$JSON" ok)")"
        fi
        keep "$t.sget.ops" "$(jget "$JSON" ops_per_s)"
        keep "$t.sget.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.sget.p99" "$(jget "$JSON" p99_ms)"
        bench "$t 4KiB DELETE r$r" --method DELETE --count "$n" --concurrency "$SMALL_CONC" \
            --time-limit "$SMALL_SECONDS" --url "$base/s/{i}" "${auth[@]}"
        keep "$t.sdel.ops" "$(jget "$JSON" ops_per_s)"
        keep "$t.sdel.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.sdel.p99" "$(jget "$JSON" p99_ms)"
    fi

    sync
    bench "$t $LARGE_SIZE PUT r$r" --method PUT --size "$LARGE_SIZE" --count "$LARGE_COUNT" \
        --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --expect-status "$put_expect" \
        --url "$base/l/{i}" "${extra[@]}" "${auth[@]}"
    n=$(jget "$JSON" issued)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        keep "$t.lput.mbs" "$(jget "$JSON" mb_per_s)"
        keep "$t.lput.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.lput.p99" "$(jget "$JSON" p99_ms)"
        sync
        bench "$t $LARGE_SIZE GET r$r" --method GET --size "$LARGE_SIZE" --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --url "$base/l/{i}" \
            "${extra[@]}" "${auth[@]}"
        keep "$t.lget.mbs" "$(jget "$JSON" mb_per_s)"
        keep "$t.lget.p50" "$(jget "$JSON" p50_ms)"
        keep "$t.lget.p99" "$(jget "$JSON" p99_ms)"
        bench "$t $LARGE_SIZE DELETE r$r" --method DELETE --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" --url "$base/l/{i}" \
            "${auth[@]}"
    fi
}

# The data path through `coffer server` for r = 2 and 3: each upload records
# its UUIDs, line i for object i, and the download of the same objects reads
# them back and checks every byte against the same generator.
round_server() {
    local r=$1 rep base extra=() ex=() n c0 c1
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        fail "coffer server (pid $SERVER_PID) exited during the run (log: $TMP/server.log)"
    fi
    if [ "$SHA_HEADER" = 1 ]; then
        extra=(--sha-header)
    fi
    for rep in 2 3; do
        base="$APP_URL/v1/objects?replicas=$rep"
        # Contents new to the server in every round and for each r, so inline
        # dedupe never turns an upload of this benchmark into an alias.
        ex=("${extra[@]}" "${SIGN[@]}" --seed "$((r * 10000000 + rep * 1000000))")
        sync
        c0=$(cpu_ticks "$SERVER_PID")
        bench "server 4KiB upload r=$rep r$r" --method POST --size 4096 --count "$SMALL_COUNT" \
            --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" --url "$base" \
            --uuids-out "$TMP/uuids.s$rep" "${ex[@]}"
        c1=$(cpu_ticks "$SERVER_PID")
        n=$(jget "$JSON" issued)
        if [ -n "$n" ] && [ "$n" -gt 0 ]; then
            keep "server.sup$rep.ops" "$(jget "$JSON" ops_per_s)"
            keep "server.sup$rep.p50" "$(jget "$JSON" p50_ms)"
            keep "server.sup$rep.p99" "$(jget "$JSON" p99_ms)"
            keep "server.sup$rep.cpu" "$(ms_per_op "$c0" "$c1" "$(jget "$JSON" ok)")"
            sync
            c0=$(cpu_ticks "$SERVER_PID")
            bench "server 4KiB download r=$rep r$r" --method GET --size 4096 --count "$n" \
                --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" \
                --url "$OBJSRV_URL/v1/objects/{uuid}" --uuids-in "$TMP/uuids.s$rep" "${ex[@]}"
            c1=$(cpu_ticks "$SERVER_PID")
            keep "server.sdown$rep.ops" "$(jget "$JSON" ops_per_s)"
            keep "server.sdown$rep.p50" "$(jget "$JSON" p50_ms)"
            keep "server.sdown$rep.p99" "$(jget "$JSON" p99_ms)"
            keep "server.sdown$rep.cpu" "$(ms_per_op "$c0" "$c1" "$(jget "$JSON" ok)")"
        fi

        sync
        bench "server $LARGE_SIZE upload r=$rep r$r" --method POST --size "$LARGE_SIZE" \
            --count "$LARGE_COUNT" --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" \
            --url "$base" --uuids-out "$TMP/uuids.l$rep" "${ex[@]}"
        n=$(jget "$JSON" issued)
        if [ -n "$n" ] && [ "$n" -gt 0 ]; then
            keep "server.lup$rep.mbs" "$(jget "$JSON" mb_per_s)"
            keep "server.lup$rep.p50" "$(jget "$JSON" p50_ms)"
            keep "server.lup$rep.p99" "$(jget "$JSON" p99_ms)"
            sync
            bench "server $LARGE_SIZE download r=$rep r$r" --method GET --size "$LARGE_SIZE" \
                --count "$n" --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" \
                --url "$OBJSRV_URL/v1/objects/{uuid}" --uuids-in "$TMP/uuids.l$rep" "${ex[@]}"
            keep "server.ldown$rep.mbs" "$(jget "$JSON" mb_per_s)"
            keep "server.ldown$rep.p50" "$(jget "$JSON" p50_ms)"
            keep "server.ldown$rep.p99" "$(jget "$JSON" p99_ms)"
        fi
    done
    # The issue's targets, within this round.
    keep ratio.sup3 "$(ratio_of "${CUR[server.sup3.ops]:-}" "${CUR[disk.creates]:-}" 3)"
    keep ratio.lup3 "$(ratio_of "${CUR[server.lup3.mbs]:-}" "${CUR[disk.mbs]:-}" 3)"
    for rep in 2 3; do
        keep "ratio.sdown$rep" "$(ratio_of "${CUR[server.sdown$rep.ops]:-}" \
            "${CUR[filer.sget.ops]:-}")"
        keep "ratio.ldown$rep" "$(ratio_of "${CUR[server.ldown$rep.mbs]:-}" \
            "${CUR[filer.lget.mbs]:-}")"
    done
    say "  this round's ratios: 4 KiB upload r=3 / (disk creates / 3) ${CUR[ratio.sup3]:--};" \
        "$LARGE_SIZE upload r=3 / (disk MB/s / 3) ${CUR[ratio.lup3]:--}"
    say "    4 KiB download / filer GET: r=2 ${CUR[ratio.sdown2]:--}, r=3" \
        "${CUR[ratio.sdown3]:--}; $LARGE_SIZE download / filer GET: r=2" \
        "${CUR[ratio.ldown2]:--}, r=3 ${CUR[ratio.ldown3]:--}"
}

# auth_mode R MODE: 4 KiB upload and download (r = 2) through the server
# with keys (MODE auth, requests signed) or without (noauth).
auth_mode() {
    local r=$1 m=$2 app obj pid sign=() n c0 c1
    if [ "$m" = auth ]; then
        app=$APP_URL obj=$OBJSRV_URL pid=$SERVER_PID sign=("${SIGN[@]}")
    else
        app=$NOAUTH_APP obj=$NOAUTH_OBJSRV pid=$NOAUTH_PID
    fi
    sync
    c0=$(cpu_ticks "$pid")
    bench "$m 4KiB upload r=2 r$r" --method POST --size 4096 --count "$SMALL_COUNT" \
        --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" \
        --url "$app/v1/objects?replicas=2" --uuids-out "$TMP/uuids.$m" \
        --seed "$((r * 10000000 + 7000000))" "${sign[@]}"
    c1=$(cpu_ticks "$pid")
    n=$(jget "$JSON" issued)
    [ -n "$n" ] && [ "$n" -gt 0 ] || return 0
    keep "$m.up.ops" "$(jget "$JSON" ops_per_s)"
    keep "$m.up.cpu" "$(ms_per_op "$c0" "$c1" "$(jget "$JSON" ok)")"
    sync
    c0=$(cpu_ticks "$pid")
    bench "$m 4KiB download r=2 r$r" --method GET --size 4096 --count "$n" \
        --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" \
        --url "$obj/v1/objects/{uuid}" --uuids-in "$TMP/uuids.$m" \
        --seed "$((r * 10000000 + 7000000))" "${sign[@]}"
    c1=$(cpu_ticks "$pid")
    keep "$m.down.ops" "$(jget "$JSON" ops_per_s)"
    keep "$m.down.cpu" "$(ms_per_op "$c0" "$c1" "$(jget "$JSON" ok)")"
}

# The cost of authentication, within one round: both modes, in an order
# that alternates from round to round.
round_auth() {
    local r=$1
    if ! kill -0 "$NOAUTH_PID" 2>/dev/null; then
        fail "coffer server --insecure-no-auth exited during the run (log: $TMP/noauth.log)"
    fi
    if ((r % 2)); then
        auth_mode "$r" auth
        auth_mode "$r" noauth
    else
        auth_mode "$r" noauth
        auth_mode "$r" auth
    fi
    keep ratio.aup "$(ratio_of "${CUR[auth.up.ops]:-}" "${CUR[noauth.up.ops]:-}")"
    keep ratio.adown "$(ratio_of "${CUR[auth.down.ops]:-}" "${CUR[noauth.down.ops]:-}")"
    say "  this round's authentication ratios (signed / unsigned ops/s): 4 KiB upload" \
        "${CUR[ratio.aup]:--}, download ${CUR[ratio.adown]:--}"
}

# The uploader's peak memory: the app streams each upload to its filers with
# bounded buffers, so one BIG_SIZE object must not raise the server process's
# resident set. The kernel's high-water mark is reset first (clear_refs 5,
# Linux 4.0) where allowed, so the peak is that of this upload alone.
rss_phase() {
    local hwm0 rss0 hwm1 reset=no
    hwm0=$(proc_kb "$SERVER_PID" VmHWM)
    if { echo 5 >"/proc/$SERVER_PID/clear_refs"; } 2>/dev/null; then
        reset=yes
    fi
    rss0=$(proc_kb "$SERVER_PID" VmRSS)
    sync
    bench "server $BIG_SIZE upload r=2 (RSS)" --method POST --size "$BIG_SIZE" --count 1 \
        --concurrency 1 --time-limit 600 --timeout 900 --url "$APP_URL/v1/objects?replicas=2" \
        "${SIGN[@]}"
    hwm1=$(proc_kb "$SERVER_PID" VmHWM)
    RSS_BIG_MBS=$(jget "$JSON" mb_per_s)
    RSS_BEFORE=$hwm0
    RSS_PEAK=$hwm1
    RSS_BASE=$rss0
    RSS_RESET=$reset
    say "  server VmHWM before: $hwm0 kB; VmRSS at the start of the upload: $rss0 kB" \
        "(high-water mark reset: $reset); VmHWM after: $hwm1 kB"
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
    "large: $LARGE_SIZE x $LARGE_COUNT (c=$LARGE_CONC, <= ${LARGE_SECONDS} s);" \
    "RSS: one $BIG_SIZE upload"
say "  load generator, servers and disk share this machine: figures are relative."
say ""

mkdir -p "$TMP/disk"
make_keys
start_filer
start_nginx
start_server
start_noauth_server
say "coffer filer on 127.0.0.1:$FILER_PORT (pid $FILER_PID), nginx on 127.0.0.1:$NGINX_PORT (pid $NGINX_PID)"
say "coffer server (pid $SERVER_PID, $SERVER_FILERS filers): app $APP_URL, objsrv $OBJSRV_URL"

say ""
say "peak RSS of the uploader (the coffer server process) over one $BIG_SIZE upload:"
rss_phase

for ((r = 1; r <= REPEAT; r++)); do
    say ""
    say "round $r of $REPEAT:"
    CUR=()
    disk_round "$r"
    round filer "$r"
    round nginx "$r"
    round_server "$r"
    round_auth "$r"
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

# verdict_of RATIO FACTOR: met, MISSED, or n/a without a ratio.
verdict_of() {
    if [ -z "$1" ]; then
        echo n/a
    else
        awk -v x="$1" -v k="$2" 'BEGIN { print (x + 0 >= k) ? "met" : "MISSED" }'
    fi
}

# srow LABEL R2 R3 REFERENCE TARGET_TEXT RATIO VERDICT: one data-path row.
srow() {
    printf '%-26s %10s %10s  %-22s %-30s %11s  %s\n' "$1" "${2:--}" "${3:--}" "$4" "$5" \
        "${6:--}" "${7:-}"
}

# Both r = 2 and r = 3 against one target: "a / b" ratios and verdicts.
pair_ratio() {
    local a b
    a=$(med "ratio.${1}2" %.2f)
    b=$(med "ratio.${1}3" %.2f)
    echo "${a:--} / ${b:--}"
}
pair_verdict() {
    local a b
    a=$(verdict_of "$(med "ratio.${1}2" %.2f)" "$2")
    b=$(verdict_of "$(med "ratio.${1}3" %.2f)" "$2")
    echo "$a / $b"
}

kib_to_mib() { awk -v k="${1:-}" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }'; }

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
    printf '%-22s %22s %22s\n' "coffer server" "r=2" "r=3"
    for ph in "sup:4 KiB upload" "sdown:4 KiB download" "lup:$LARGE_SIZE upload" \
        "ldown:$LARGE_SIZE download"; do
        k=${ph%%:*}
        printf '%-22s %22s %22s\n' "${ph#*:}" \
            "$(med "server.${k}2.p50" %.2f) / $(med "server.${k}2.p99" %.2f)" \
            "$(med "server.${k}3.p50" %.2f) / $(med "server.${k}3.p99" %.2f)"
    done

    echo ""
    echo "data path: coffer server ($SERVER_FILERS filers on this disk), end to end; median of" \
        "$REPEAT rounds,"
    echo "ratios taken within each round (against that round's disk and filer figures)"
    srow figure r=2 r=3 "reference" "target" ratio ""
    sup3=$(med ratio.sup3 %.2f)
    srow "4 KiB upload ops/s" "$(med server.sup2.ops)" "$(med server.sup3.ops)" \
        "disk creates/3 $(awk -v d="${DISK_CREATES:-0}" 'BEGIN { printf "%.0f", d / 3 }')" \
        "r=3 >= 0.8 x (disk limit / 3)" "$sup3" "$(verdict_of "$sup3" 0.8)"
    srow "4 KiB download ops/s" "$(med server.sdown2.ops)" "$(med server.sdown3.ops)" \
        "filer GET ${f_sget:--}" ">= 0.5 x filer 4 KiB GET" "$(pair_ratio sdown)" \
        "$(pair_verdict sdown 0.5)"
    lup3=$(med ratio.lup3 %.2f)
    srow "$LARGE_SIZE upload MB/s" "$(med server.lup2.mbs)" "$(med server.lup3.mbs)" \
        "disk MB/s/3 $(awk -v d="${DISK_MBS:-0}" 'BEGIN { printf "%.1f", d / 3 }')" \
        "r=3 >= 0.8 x (disk MB/s / 3)" "$lup3" "$(verdict_of "$lup3" 0.8)"
    srow "$LARGE_SIZE download MB/s" "$(med server.ldown2.mbs)" "$(med server.ldown3.mbs)" \
        "filer GET ${f_lget:--}" ">= 0.8 x filer GET" "$(pair_ratio ldown)" \
        "$(pair_verdict ldown 0.8)"
    srow "server CPU ms/4 KiB upload" "$(med server.sup2.cpu %.3f)" "$(med server.sup3.cpu %.3f)" \
        "filer $(med filer.sput.cpu %.3f)/PUT" "(Swift r=3: ~16 ms per PUT)" "" ""
    srow "server CPU ms/4 KiB downl." "$(med server.sdown2.cpu %.3f)" \
        "$(med server.sdown3.cpu %.3f)" "filer $(med filer.sget.cpu %.3f)/GET" "" "" ""
    echo ""
    echo "authentication: 4 KiB r=2 through coffer server with keys (every request signed with"
    echo "HMAC-SHA256 and checked) and with --insecure-no-auth, alternated; median of $REPEAT rounds"
    printf '%-26s %12s %12s %12s  %s\n' figure signed unsigned ratio "CPU ms/op signed / unsigned"
    printf '%-26s %12s %12s %12s  %s\n' "4 KiB upload ops/s" "$(med auth.up.ops)" \
        "$(med noauth.up.ops)" "$(med ratio.aup %.2f)" \
        "$(med auth.up.cpu %.3f) / $(med noauth.up.cpu %.3f)"
    printf '%-26s %12s %12s %12s  %s\n' "4 KiB download ops/s" "$(med auth.down.ops)" \
        "$(med noauth.down.ops)" "$(med ratio.adown %.2f)" \
        "$(med auth.down.cpu %.3f) / $(med noauth.down.cpu %.3f)"
    rss_ok=$(awk -v k="${RSS_PEAK:-}" 'BEGIN { if (k == "") print "n/a";
        else print (k < 64 * 1024) ? "met" : "MISSED" }')
    echo ""
    echo "uploader peak RSS (the whole coffer server process: app, objsrv, filers), one" \
        "$BIG_SIZE upload at ${RSS_BIG_MBS:--} MB/s:"
    echo "    VmHWM before $(kib_to_mib "${RSS_BEFORE:-}") MiB; VmRSS at the start" \
        "$(kib_to_mib "${RSS_BASE:-}") MiB (high-water mark reset: ${RSS_RESET:-no});" \
        "VmHWM after $(kib_to_mib "${RSS_PEAK:-}") MiB"
    echo "    growth during the upload: $(kib_to_mib "$(awk -v a="${RSS_PEAK:-0}" \
        -v b="${RSS_BASE:-0}" 'BEGIN { print a - b }')") MiB;" \
        "target: peak < 64 MiB: $rss_ok"
    echo ""
    echo "(*) nginx does NOT fsync its PUTs: it replies 201 with the body possibly only in the"
    echo "    page cache, so its PUT figures are not durable and are not a target. The filer"
    echo "    replies only after fsync of the file and of its directory (DESIGN §4); its PUT"
    echo "    targets are against the disk limit (the same fsync'ed work with no HTTP)."
    echo "disk limit: durable 4 KiB creates/s with $DISK_THREADS threads (open O_EXCL, write,"
    echo "    fsync, rename, fsync dir); fsync'ed sequential write MB/s ($DISK_WRITE_SIZE in 1 MiB"
    echo "    writes, fsync included). MB = 10^6 bytes."
    echo "server CPU: utime + stime of the coffer server process (app, objsrv and every filer"
    echo "    in one process) over the phase, divided by the requests that succeeded."
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
