#!/usr/bin/env bash
# bench/cluster.sh BUILD_DIR -- the cluster path against one instance direct.
#
# All on loopback, in BUILD_DIR/bench-cluster (the build's disk). Two systems,
# each with two `coffer filer`s (r = 2) and its own SQLite catalog:
#   direct:  one `coffer app` and one `coffer objsrv`, reached at their own
#            addresses;
#   cluster: two apps and two objsrvs on one catalog behind HAProxy (Debian's
#            haproxy; its configuration written here), which listens on
#            127.0.0.2 and checks each instance's GET /status every 500 ms;
#            the objsrvs ask the apps through HAProxy too, and the roles
#            accept requests signed for HAProxy's address (--authority).
# Then REPEAT rounds, the two systems alternated and their order swapped every
# round: 4 KiB upload (POST to the app) and download (GET from objsrv by the
# returned UUID) at SMALL_CONC, LARGE_SIZE upload and download at LARGE_CONC,
# all with coffer-bench, signed with the cluster key (the 4 KiB download
# passes over the uploaded objects again until SMALL_SECONDS are spent). The
# table shows the median of each (4 KiB: ops/s, as coffer-bench's MB/s has
# one decimal, too coarse for a ratio; LARGE_SIZE: MB/s) and the median of
# the per-round ratios cluster/direct (the issue's target: >= 0.9; on this
# machine two instances cannot add cores, they share the same two).
# Last, the fail-over: uploads of 4 KiB, one after the other, through HAProxy
# for FAILOVER_SECONDS; one app is killed (SIGKILL) a second in. The figure is
# the longest time without a successful upload from the kill on, and how many
# uploads failed (each is one the CLI's retries would hide).
# Figures, not pass/fail: exit 0 unless something broke (a process failed to
# start, or coffer-bench counted an error outside the fail-over window). The
# results also go to BUILD_DIR/bench-cluster-results.txt.
#
# Environment overrides (defaults in brackets):
#   REPEAT [3]  SMALL_COUNT [20000]  SMALL_CONC [16]  SMALL_SECONDS [5]
#   LARGE_COUNT [8]  LARGE_SIZE [64M]  LARGE_CONC [2]  LARGE_SECONDS [30]
#   FAILOVER_SECONDS [6]  KEEP_TMP [0]
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
NAME=cluster.sh # lib.sh's messages
export NAME
# shellcheck source=bench/lib.sh
. "$SRC_DIR/bench/lib.sh"
build_dir_arg "$@"

REPEAT=${REPEAT:-3}
SMALL_COUNT=${SMALL_COUNT:-20000}
SMALL_CONC=${SMALL_CONC:-16}
SMALL_SECONDS=${SMALL_SECONDS:-5}
LARGE_COUNT=${LARGE_COUNT:-8}
LARGE_SIZE=${LARGE_SIZE:-64M}
LARGE_CONC=${LARGE_CONC:-2}
LARGE_SECONDS=${LARGE_SECONDS:-30}
FAILOVER_SECONDS=${FAILOVER_SECONDS:-6}
KEEP_TMP=${KEEP_TMP:-0}
need_ints 1 REPEAT SMALL_COUNT SMALL_CONC SMALL_SECONDS LARGE_COUNT LARGE_CONC LARGE_SECONDS \
    FAILOVER_SECONDS

COFFER=$BUILD_DIR/coffer
CBENCH=$BUILD_DIR/bench/coffer-bench
TMP=$BUILD_DIR/bench-cluster
RESULTS=$BUILD_DIR/bench-cluster-results.txt

PIDS=()
# shellcheck disable=SC2317 # reached through the trap below
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do
        stop_pid "$p"
    done
    finish_tmp "$rc" "$TMP"/*.log
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -x "$COFFER" ] || fail "no $COFFER: build first"
[ -x "$CBENCH" ] || fail "no $CBENCH: build the coffer-bench target first"
command -v haproxy >/dev/null || fail "haproxy is needed (scripts/deps.sh bench installs it)"
rm -rf "$TMP"
mkdir -p "$TMP"
: >"$RESULTS"

"$COFFER" admin keys init --data "$TMP/keys" >/dev/null || fail "coffer admin keys init failed"
KEY=$TMP/keys/cluster.key
export COFFER_OPERATOR_KEY_FILE=$TMP/keys/operator.key
ROLE_KEYS=(--cluster-key-file "$KEY" --operator-pub-file "$TMP/keys/operator.pub")
SIGN=(--key-file "$KEY")

# launch NAME ARGS...: `coffer ARGS...` in the background (stdout TMP/NAME.out,
# stderr TMP/NAME.log); waits for its "listening on URL" line. Sets URL and
# LAST_PID.
URL=
LAST_PID=
launch() {
    local name=$1 i line
    shift
    "$COFFER" "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    for ((i = 0; i < 300; i++)); do
        line=$(grep -m1 -o 'listening on [^ ]*' "$TMP/$name.out" 2>/dev/null || true)
        if [ -n "$line" ]; then
            URL=${line##* }
            return 0
        fi
        kill -0 "$LAST_PID" 2>/dev/null || fail "coffer $1 ($name) exited (log: $TMP/$name.log)"
        sleep 0.1
    done
    fail "coffer $1 ($name) did not get ready within 30 s"
}

# catalog SYS: two filers of system SYS registered in its catalog, one shard.
catalog() {
    local sys=$1 i db=sqlite:$TMP/$1/catalog.db
    mkdir -p "$TMP/$sys"
    for i in 1 2; do
        launch "$sys-f$i" filer --id "$i" --dir "$TMP/$sys/f$i" --listen 127.0.0.1:0 \
            "${ROLE_KEYS[@]}"
        "$COFFER" admin filer add --db "$db" --id "$i" --url "$URL" --weight 100 \
            >>"$TMP/admin.log" 2>&1 || fail "coffer admin filer add failed (log: $TMP/admin.log)"
    done
    "$COFFER" admin shard add --db "$db" >>"$TMP/admin.log" 2>&1 ||
        fail "coffer admin shard add failed (log: $TMP/admin.log)"
}

# A free port on 127.0.0.2, from 18400 up.
free_port() {
    local p
    for ((p = 18400; p < 18600; p++)); do
        if ! port_in_use "$p" && [ "${USED_PORT:-}" != "$p" ]; then
            echo "$p"
            return 0
        fi
    done
    fail "no free port in 18400-18599"
}

# The direct system.
catalog direct
launch direct-app app --listen 127.0.0.1:0 --db "sqlite:$TMP/direct/catalog.db" --replicas 2 \
    --purge-interval-ms 0 "${ROLE_KEYS[@]}"
D_APP=$URL
launch direct-objsrv objsrv --listen 127.0.0.1:0 --app "$D_APP" "${ROLE_KEYS[@]}"
D_OBJ=$URL

# The cluster: HAProxy's two fronts first (the roles must know its address).
PA=$(free_port)
USED_PORT=$PA
PO=$(free_port)
H_APP=http://127.0.0.2:$PA
H_OBJ=http://127.0.0.2:$PO
catalog cluster
C_APPS=()
C_APP_PIDS=()
for i in 1 2; do
    launch "cluster-app$i" app --listen 127.0.0.1:0 --db "sqlite:$TMP/cluster/catalog.db" \
        --replicas 2 --purge-interval-ms 0 --authority "127.0.0.2:$PA" "${ROLE_KEYS[@]}"
    C_APPS+=("${URL#http://}")
    C_APP_PIDS+=("$LAST_PID")
done
C_OBJS=()
for i in 1 2; do
    launch "cluster-objsrv$i" objsrv --listen 127.0.0.1:0 --app "$H_APP" \
        --authority "127.0.0.2:$PO" "${ROLE_KEYS[@]}"
    C_OBJS+=("${URL#http://}")
done
cat >"$TMP/haproxy.cfg" <<EOF
# The settings that bear on speed are deploy/haproxy.cfg's (the reasons are
# there), with nbthread 1 (this host's two cores run everything) and larger
# buffers (fewer reads and writes per 64 MiB body); logging, the stats socket
# and the gateway front are left out.
global
    maxconn 4096
    nbthread 1
    tune.bufsize 65536

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 10s
    retries 2
    option redispatch
    http-reuse always
    option splice-auto

frontend apps_in
    bind 127.0.0.2:$PA
    default_backend apps

frontend objsrvs_in
    bind 127.0.0.2:$PO
    default_backend objsrvs

backend apps
    balance roundrobin
    option httpchk GET /status
    default-server inter 500ms fall 2 rise 2
    server app1 ${C_APPS[0]} check
    server app2 ${C_APPS[1]} check

backend objsrvs
    balance roundrobin
    option httpchk GET /status
    default-server inter 500ms fall 2 rise 2
    server objsrv1 ${C_OBJS[0]} check
    server objsrv2 ${C_OBJS[1]} check
EOF
haproxy -c -q -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 ||
    fail "haproxy refused its configuration (log: $TMP/haproxy.log)"
haproxy -db -f "$TMP/haproxy.cfg" >>"$TMP/haproxy.log" 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 100; i++)); do
    curl -sf -o /dev/null "$H_APP/status" && curl -sf -o /dev/null "$H_OBJ/status" && break
    sleep 0.1
done
curl -sf -o /dev/null "$H_APP/status" || fail "HAProxy does not answer (log: $TMP/haproxy.log)"

# The last coffer-bench run's figures (lib.sh's bench; empty on failure).
JSON=
broken=0
declare -A V   # V[system.phase] = "value value ..." over the rounds
declare -A CUR # CUR[system.phase] = this round's value
keep() {
    V[$1]="${V[$1]:-} $2"
    CUR[$1]=$2
}

# one SYS APP OBJ ROUND: the four measures of one system in one round.
one() {
    local sys=$1 app=$2 obj=$3 r=$4 ex n
    ex=("${SIGN[@]}" --seed "$((r * 10000000 + ${#sys} * 1000000))")
    bench "$sys 4KiB upload r$r" --method POST --size 4096 --count "$SMALL_COUNT" \
        --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" \
        --url "$app/v1/objects?replicas=2" --uuids-out "$TMP/uuids.s.$sys" "${ex[@]}"
    n=$(jget "$JSON" issued)
    keep "$sys.sup" "$(jget "$JSON" ops_per_s)"
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        # The upload leaves a few hundred objects, which one GET pass reads in
        # well under a second: too short to measure. Passes over the same
        # objects until SMALL_SECONDS are spent; the rate is all the passes'
        # successful GETs over their summed time.
        local pass ok=0 secs=0
        for ((pass = 1; pass <= 50; pass++)); do
            bench "$sys 4KiB download r$r pass $pass" --method GET --size 4096 --count "$n" \
                --concurrency "$SMALL_CONC" --time-limit "$SMALL_SECONDS" \
                --url "$obj/v1/objects/{uuid}" --uuids-in "$TMP/uuids.s.$sys" "${ex[@]}"
            [ -n "$JSON" ] || break
            ok=$((ok + $(jget "$JSON" ok)))
            secs=$(awk -v a="$secs" -v b="$(jget "$JSON" seconds)" 'BEGIN { print a + b }')
            awk -v s="$secs" -v l="$SMALL_SECONDS" 'BEGIN { exit !(s >= l) }' && break
        done
        keep "$sys.sdown" "$(awk -v o="$ok" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f\n", o / s }')"
    fi
    bench "$sys $LARGE_SIZE upload r$r" --method POST --size "$LARGE_SIZE" \
        --count "$LARGE_COUNT" --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" \
        --url "$app/v1/objects?replicas=2" --uuids-out "$TMP/uuids.l.$sys" "${ex[@]}"
    n=$(jget "$JSON" issued)
    keep "$sys.lup" "$(jget "$JSON" mb_per_s)"
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        bench "$sys $LARGE_SIZE download r$r" --method GET --size "$LARGE_SIZE" --count "$n" \
            --concurrency "$LARGE_CONC" --time-limit "$LARGE_SECONDS" \
            --url "$obj/v1/objects/{uuid}" --uuids-in "$TMP/uuids.l.$sys" "${ex[@]}"
        keep "$sys.ldown" "$(jget "$JSON" mb_per_s)"
    fi
}

say "cluster.sh: direct app $D_APP, objsrv $D_OBJ; cluster through HAProxy $H_APP, $H_OBJ"
for ((r = 1; r <= REPEAT; r++)); do
    say "round $r"
    if ((r % 2)); then
        one direct "$D_APP" "$D_OBJ" "$r"
        one cluster "$H_APP" "$H_OBJ" "$r"
    else
        one cluster "$H_APP" "$H_OBJ" "$r"
        one direct "$D_APP" "$D_OBJ" "$r"
    fi
    for ph in sup sdown lup ldown; do
        keep "ratio.$ph" "$(ratio_of "${CUR[cluster.$ph]:-}" "${CUR[direct.$ph]:-}")"
        CUR[cluster.$ph]=
        CUR[direct.$ph]=
    done
done

# The fail-over: 4 KiB uploads one after the other through HAProxy; app 1
# killed a second in. Each line of the probe log: "SECONDS OK" (1 or 0).
probe() {
    local end i=0 t0 ok
    end=$(($(date +%s) + FAILOVER_SECONDS))
    while [ "$(date +%s)" -lt "$end" ]; do
        t0=$(date +%s.%N)
        ok=0
        "$CBENCH" --method POST --size 4096 --count 1 --concurrency 1 --time-limit 10 \
            --url "$H_APP/v1/objects?replicas=2" --seed "$((900000000 + i))" "${SIGN[@]}" \
            >/dev/null 2>>"$TMP/failover.err" && ok=1
        echo "$t0 $ok"
        i=$((i + 1))
    done
}
probe >"$TMP/failover.txt" &
PROBE=$!
sleep 1
KILLED_AT=$(date +%s.%N)
kill -KILL "${C_APP_PIDS[0]}"
{ wait "${C_APP_PIDS[0]}"; } 2>/dev/null || true
wait "$PROBE" || true
# The longest time from the kill without a successful upload: from the kill
# (or the last success) to the next success.
read -r GAP FAILED OKS < <(awk -v k="$KILLED_AT" '
    BEGIN { last = k; gap = 0; failed = 0; oks = 0 }
    $2 == 0 && $1 >= k - 0.5 { failed++ }
    $2 == 1 && $1 >= k { if ($1 - last > gap) gap = $1 - last; last = $1; oks++ }
    END { printf "%.0f %d %d\n", gap * 1000, failed, oks }' "$TMP/failover.txt")

say ""
say "The cluster path (HAProxy, 2 apps + 2 objsrvs on one SQLite catalog) against one app" \
    "and objsrv direct; 2 filers each, r=2; median of $REPEAT rounds"
say "                                direct      cluster  cluster/direct (target >= 0.9)"
for ph in sup sdown lup ldown; do
    case $ph in
    sup) label="4 KiB upload, ops/s" ;;
    sdown) label="4 KiB download, ops/s" ;;
    lup) label="$LARGE_SIZE upload, MB/s" ;;
    ldown) label="$LARGE_SIZE download, MB/s" ;;
    esac
    # shellcheck disable=SC2086 # the kept values are a list of words
    say "$(printf '%-28s %8s %12s %10s' "$label" "$(median %.1f ${V[direct.$ph]:-})" \
        "$(median %.1f ${V[cluster.$ph]:-})" "$(median %.2f ${V[ratio.$ph]:-})")"
done
say "fail-over (app 1 killed under sequential 4 KiB uploads through HAProxy): longest time" \
    "without a successful upload ${GAP} ms; ${FAILED} uploads failed, ${OKS} succeeded after" \
    "the kill"
[ "$OKS" -gt 0 ] || fail "no upload succeeded after the kill"
[ "$broken" = 0 ] || exit 1
