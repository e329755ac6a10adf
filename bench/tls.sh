#!/usr/bin/env bash
# bench/tls.sh BUILD_DIR -- what HTTPS costs on the data path.
#
# All on 127.0.0.1, in BUILD_DIR/bench-tls (the build's disk). Two `coffer
# server` processes with FILERS filers each (r = 2): one plain, one with
# --tls (every role over HTTPS, its own CA). One SIZE object (random bytes)
# is uploaded to each app with curl; then REPEAT rounds, each of: download
# it from the plain objsrv, then from the TLS one (curl --cacert, output
# discarded), and upload it again to each. A TLS download crosses two TLS
# hops (filer -> objsrv -> client) and the filer loses sendfile. The table
# shows the median MB/s of each and the median of the per-round ratios
# TLS / plain. Figures, not pass/fail: exit 0 unless something broke.
# Both servers run with --insecure-no-auth so that curl can be the client
# and the two differ in the transport only; what signing costs is
# bench/run.sh's auth/noauth column.
#
# Environment overrides (defaults in brackets):
#   REPEAT [3]  SIZE [200M]  FILERS [2]  KEEP_TMP [0]
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
NAME=tls.sh # lib.sh's messages
export NAME
# shellcheck source=bench/lib.sh
. "$SRC_DIR/bench/lib.sh"
build_dir_arg "$@"

REPEAT=${REPEAT:-3}
SIZE=${SIZE:-200M}
FILERS=${FILERS:-2}
KEEP_TMP=${KEEP_TMP:-0}
COFFER=$BUILD_DIR/coffer

TMP=$BUILD_DIR/bench-tls
RESULTS=$BUILD_DIR/bench-tls-results.txt
PLAIN_PID=
TLS_PID=

# shellcheck disable=SC2317 # reached through the trap below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$PLAIN_PID"
    stop_pid "$TLS_PID"
    finish_tmp "$rc" "$TMP"/*.log
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -x "$COFFER" ] || fail "no $COFFER: build first"
command -v curl >/dev/null || fail "curl is needed"
rm -rf "$TMP"
mkdir -p "$TMP"
: >"$RESULTS"

# start NAME ARGS...: a coffer server under TMP/NAME; sets PID and the URLs.
PID=
APP=
OBJ=
start() {
    local name=$1 i line
    shift
    : >"$TMP/$name.out" # exists before the loop below reads it
    "$COFFER" server --data "$TMP/$name" --port 0 --filers "$FILERS" --replicas 2 --insecure-no-auth "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.log" &
    PID=$!
    for ((i = 0; i < 300; i++)); do
        line=$(grep -m1 -o 'objsrv listening on [^ ]*' "$TMP/$name.out" || true)
        if [ -n "$line" ]; then
            OBJ=${line##* }
            line=$(grep -m1 -o 'app listening on [^ ]*' "$TMP/$name.out")
            APP=${line##* }
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || fail "coffer server $name exited (log: $TMP/$name.log)"
        sleep 0.1
    done
    fail "coffer server $name did not get ready within 30 s"
}

start plain
PLAIN_PID=$PID PLAIN_APP=$APP PLAIN_OBJ=$OBJ
start tls --tls
TLS_PID=$PID TLS_APP=$APP TLS_OBJ=$OBJ
CA=$TMP/tls/tls/ca.pem

head -c "$(numfmt --from=iec "$SIZE")" /dev/urandom >"$TMP/obj"
BYTES=$(stat -c %s "$TMP/obj")

# upload APP [CURL ARGS...]: POST TMP/obj; prints "UUID SECONDS".
upload() {
    local app=$1 out
    shift
    out=$(curl -sS --fail "$@" -H 'Expect:' --data-binary @"$TMP/obj" \
        -w '\n%{time_total}' "$app/v1/objects") || fail "upload to $app failed"
    printf '%s %s\n' "$(sed -n 's/.*"uuid":"\([0-9a-f-]*\)".*/\1/p' <<<"$out" | head -n 1)" \
        "$(tail -n 1 <<<"$out")"
}

# download URL [CURL ARGS...]: GET to /dev/null; prints the seconds.
download() {
    local url=$1 got
    shift
    got=$(curl -sS --fail "$@" -o /dev/null -w '%{size_download} %{time_total}' "$url") ||
        fail "download of $url failed"
    [ "${got% *}" = "$BYTES" ] || fail "download of $url: ${got% *} bytes, not $BYTES"
    echo "${got#* }"
}

mbs() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.1f\n", b / 1e6 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b / a }'; }

read -r PU _ < <(upload "$PLAIN_APP")
read -r TU _ < <(upload "$TLS_APP" --cacert "$CA")
if [ -z "$PU" ] || [ -z "$TU" ]; then
    fail "no UUID from an upload"
fi
declare -a pd td pu tu rd ru
for ((r = 0; r < REPEAT; r++)); do
    # One step per assignment: set -e stops the run when a download fails
    # (a substitution nested in another would hide the failure).
    s=$(download "$PLAIN_OBJ/v1/objects/$PU")
    pd+=("$(mbs "$s")")
    s=$(download "$TLS_OBJ/v1/objects/$TU" --cacert "$CA")
    td+=("$(mbs "$s")")
    rd+=("$(ratio "${pd[-1]}" "${td[-1]}")")
    s=
    read -r _ s < <(upload "$PLAIN_APP")
    [ -n "$s" ] || fail "an upload to $PLAIN_APP failed"
    pu+=("$(mbs "$s")")
    s=
    read -r _ s < <(upload "$TLS_APP" --cacert "$CA")
    [ -n "$s" ] || fail "an upload to $TLS_APP failed"
    tu+=("$(mbs "$s")")
    ru+=("$(ratio "${pu[-1]}" "${tu[-1]}")")
done

say "HTTPS on the data path: coffer server ($FILERS filers, r=2), plain vs --tls, one $SIZE" \
    "object, curl as the client; median of $REPEAT rounds"
say "                         plain MB/s   TLS MB/s   TLS/plain"
say "$(printf '%-24s %10s %10s %11s' "$SIZE download (objsrv)" "$(median %.1f "${pd[@]}")" \
    "$(median %.1f "${td[@]}")" "$(median %.2f "${rd[@]}")")"
say "$(printf '%-24s %10s %10s %11s' "$SIZE upload (app)" "$(median %.1f "${pu[@]}")" \
    "$(median %.1f "${tu[@]}")" "$(median %.2f "${ru[@]}")")"
