#!/usr/bin/env bash
# bench/scale.sh BUILD_DIR -- the scale benchmark: does coffer stay as fast
# with millions of records as with a few thousand?
#
# Two `coffer server --replicas 3` data directories on the disk of the build
# (BUILD_DIR/scale-tmp): SMALL holds SMALL_N records, BIG is loaded to MID_N,
# measured, then loaded on to BIG_N and measured again. Records are put in
# by `coffer-scale load` (bench/coffer-scale.c: straight into the object
# database and the file system database through coffer's own schema code,
# in transactions of 100,000; the load rate is printed), with the server
# stopped. Each stage then runs both servers and alternates ROUNDS rounds
# between them (SMALL then BIG, the order swapped every round), each of, at
# concurrency CONC for PHASE_SECONDS:
#   upload  4 KiB PUT /api/v1/fs/up/... through the gateway (bearer token),
#           every body distinct: a new file, the app's reservation and record,
#           three filers, the file system database's file and version rows;
#   uuid    GET /v1/objects/UUID/info on the app (signed with the cluster
#           key): the object database's record look-up by UUID;
#   path    GET /api/v1/versions/PATH through the gateway (bearer token):
#           the path resolved folder by folder, the permission check, and the
#           file's versions; metadata only (a loaded record has no bytes on
#           the filers, so nothing here downloads).
# UUIDs and paths looked up are a random sample (SAMPLE_N) of the loaded
# records, the same share for each size. The ratio BIG / SMALL of each phase
# is taken within a round; the table shows the median of the rounds against
# the targets (upload at MID_N >= 0.8x; look-ups at BIG_N >= 0.9x).
# Then EXPLAIN QUERY PLAN of the hot statements on the BIG databases.
# Figures, not pass/fail: exit 0 unless something broke. Results also go to
# BUILD_DIR/scale-results.txt.
#
# Environment overrides (defaults in brackets):
#   SMALL_N [10000]  MID_N [1000000]  BIG_N [10000000]  ROUNDS [3]
#   PHASE_SECONDS [10]  CONC [16]  PER_FOLDER [1000]  SAMPLE_N [20000]
#   LOAD_FAST [1]   load with synchronous=OFF (the loader only; the servers
#                   run with coffer's durability)
#   KEEP_TMP [0]    keep BUILD_DIR/scale-tmp after the run
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
NAME=scale.sh
# shellcheck source=bench/lib.sh
. "$SRC_DIR/bench/lib.sh"
build_dir_arg "$@"

SMALL_N=${SMALL_N:-10000}
MID_N=${MID_N:-1000000}
BIG_N=${BIG_N:-10000000}
ROUNDS=${ROUNDS:-3}
SECONDS_PER=${PHASE_SECONDS:-10}
CONC=${CONC:-16}
PER_FOLDER=${PER_FOLDER:-1000}
SAMPLE_N=${SAMPLE_N:-20000}
LOAD_FAST=${LOAD_FAST:-1}
KEEP_TMP=${KEEP_TMP:-0}

COFFER=$BUILD_DIR/coffer
SCALE=$BUILD_DIR/bench/coffer-scale
TMP=$BUILD_DIR/scale-tmp
RESULTS=$BUILD_DIR/scale-results.txt

need_built "make bench-scale builds it" "$COFFER" "$SCALE"
command -v curl >/dev/null || {
    echo "$NAME: curl is needed" >&2
    exit 2
}

declare -A PID GW APP TOKEN COUNT
cleanup() {
    local rc=$? w
    for w in small big; do
        stop_pid "${PID[$w]:-}"
    done
    finish_tmp "$rc" "$TMP/small.log" "$TMP/big.log"
}
trap cleanup EXIT
rm -rf "$TMP"
mkdir -p "$TMP"
: >"$RESULTS"
say "scale.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; SMALL_N=$SMALL_N MID_N=$MID_N" \
    "BIG_N=$BIG_N ROUNDS=$ROUNDS PHASE_SECONDS=$SECONDS_PER CONC=$CONC"

# start WHICH: run `coffer server` on $TMP/WHICH; sets PID, GW, APP, and on
# the first start the admin's password in $TMP/WHICH.pw.
start() {
    local w=$1 i out=$TMP/$1.out gw app pw
    "$COFFER" server --data "$TMP/$w" --port 0 --replicas 3 >"$out" 2>>"$TMP/$w.log" &
    PID[$w]=$!
    for ((i = 0; i < 600; i++)); do
        gw=$(grep -m1 -o 'gateway listening on http://[^ ]*' "$out" || true)
        app=$(grep -m1 -o 'app listening on http://[^ ]*' "$out" || true)
        if [ -n "$gw" ] && [ -n "$app" ]; then
            GW[$w]=${gw##* }
            APP[$w]=${app##* }
            pw=$(sed -n 's/.*client demo user admin password \([^ ]*\).*/\1/p' "$out")
            [ -z "$pw" ] || printf '%s\n' "$pw" >"$TMP/$w.pw"
            return 0
        fi
        kill -0 "${PID[$w]}" 2>/dev/null || fail "coffer server ($w) exited (log: $TMP/$w.log)"
        sleep 0.1
    done
    fail "coffer server ($w) did not print its URLs within 60 s"
}
stop() {
    stop_pid "${PID[$1]:-}"
    PID[$1]=
}
login() {
    local w=$1 reply
    reply=$(curl -sS -X POST "${GW[$w]}/api/v1/login" \
        -d "{\"client\":\"demo\",\"user\":\"admin\",\"password\":\"$(cat "$TMP/$w.pw")\"}")
    TOKEN[$w]=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$reply")
    [ -n "${TOKEN[$w]}" ] || fail "login to $w failed: $reply"
}
# load WHICH N: add records up to N in all (the server stopped).
load() {
    local w=$1 n=$2 add fast=() line
    add=$((n - ${COUNT[$w]:-0}))
    [ "$add" -gt 0 ] || return 0
    [ "$LOAD_FAST" = 1 ] && fast=(--fast)
    # The same share of every size is sampled: SAMPLE_N over the whole size.
    line=$("$SCALE" load --objdb "sqlite:$TMP/$w/catalog.db" --fsdb "sqlite:$TMP/$w/fs-catalog.db" \
        --count "$add" --start "${COUNT[$w]:-0}" --per-folder "$PER_FOLDER" \
        --sample "$TMP/$w.sample.new" --sample-n $((SAMPLE_N * add / n + 1)) "${fast[@]}") ||
        fail "loading $w failed"
    # Keep the sample uniform over all n records: the earlier records' share
    # shrinks to what they are of n.
    if [ -s "$TMP/$w.sample" ]; then
        shuf -n $((SAMPLE_N * ${COUNT[$w]:-0} / n)) "$TMP/$w.sample" >"$TMP/$w.sample.old"
        cat "$TMP/$w.sample.old" >>"$TMP/$w.sample.new"
    fi
    shuf "$TMP/$w.sample.new" >"$TMP/$w.sample"
    rm -f "$TMP/$w.sample.new" "$TMP/$w.sample.old"
    COUNT[$w]=$n
    say "load $w: +$add records to $n: $(jget "$line" seconds) s, $(jget "$line" records_s) records/s;" \
        "databases $(du -sh --apparent-size "$TMP/$w" | cut -f1)"
}
# phase WHICH KIND ROUND: one measurement; prints ops/s.
phase() {
    local w=$1 kind=$2 r=$3 line
    case $kind in
    upload)
        line=$("$SCALE" run --method PUT --size 4096 --seed $((RANDOM * 65536 + r)) \
            --url "${GW[$w]}/api/v1/fs/up/$w-$r-$RANDOM-{i}" \
            --header "Authorization: Bearer ${TOKEN[$w]}" \
            --concurrency "$CONC" --count 10000000 --time-limit "$SECONDS_PER") ;;
    uuid)
        line=$("$SCALE" run --url "${APP[$w]}/v1/objects/{uuid}/info" --sample "$TMP/$w.sample" \
            --key-file "$TMP/$w/cluster.key" \
            --concurrency "$CONC" --count 10000000 --time-limit "$SECONDS_PER") ;;
    path)
        line=$("$SCALE" run --url "${GW[$w]}/api/v1/versions/{path}" --sample "$TMP/$w.sample" \
            --header "Authorization: Bearer ${TOKEN[$w]}" \
            --concurrency "$CONC" --count 10000000 --time-limit "$SECONDS_PER") ;;
    esac || fail "$kind on $w: coffer-scale reported errors"
    jget "$line" ops_s
}

# stage LABEL: both servers up, ROUNDS alternated rounds, figures in R_*.
declare -A R
stage() {
    local st=$1 r w kind v order
    for w in small big; do
        start "$w"
        login "$w"
        curl -sS -o /dev/null -X POST -H "Authorization: Bearer ${TOKEN[$w]}" \
            "${GW[$w]}/api/v1/fs/up?op=mkdir" || true
    done
    for ((r = 1; r <= ROUNDS; r++)); do
        order="small big"
        [ $((r % 2)) -eq 0 ] && order="big small"
        for kind in upload uuid path; do
            for w in $order; do
                v=$(phase "$w" "$kind" "$r")
                R[$st,$kind,$w,$r]=$v
                say "  $st round $r: $kind on $w (${COUNT[$w]} records): $v ops/s"
            done
        done
    done
    for w in small big; do stop "$w"; done
}

# ratios STAGE KIND: the median of the within-round ratios big/small, then
# the median figures of each side.
ratio() {
    local st=$1 kind=$2 r rs=() ss=() bs=()
    for ((r = 1; r <= ROUNDS; r++)); do
        rs+=("$(awk -v b="${R[$st,$kind,big,$r]}" -v s="${R[$st,$kind,small,$r]}" \
            'BEGIN { printf "%.3f", (s > 0) ? b / s : 0 }')")
        ss+=("${R[$st,$kind,small,$r]}")
        bs+=("${R[$st,$kind,big,$r]}")
    done
    printf '%s %s %s %s\n' "$(median '%.0f' "${ss[@]}")" "$(median '%.0f' "${bs[@]}")" \
        "$(median '%.2f' "${rs[@]}")" "$(printf '%s ' "${rs[@]}")"
}

# Both data directories made by a first start (client demo, admin, filers).
for w in small big; do
    start "$w"
    stop "$w"
    COUNT[$w]=0
done
load small "$SMALL_N"
load big "$MID_N"
stage mid
load big "$BIG_N"
stage big

# EXPLAIN QUERY PLAN of the statements on the measured paths (and the purge
# pass, which runs every minute), on the big databases: each should SEARCH
# by a key or an index; a SCAN of a table would grow with the records.
plans() {
    local db=$1 sql
    while IFS= read -r sql; do
        [ -n "$sql" ] || continue
        printf '  %s\n' "$sql"
        sqlite3 "$db" "EXPLAIN QUERY PLAN $sql" | sed 's/^/      /'
    done
}
if command -v sqlite3 >/dev/null; then
    {
        echo "query plans (object shard: reservation, record, holds, dedupe, the purge pass):"
        plans "$TMP/big/shard-0001.db" <<'EOF'
UPDATE coffer_meta SET next_oid = next_oid + ?1 WHERE id = 1 AND kind = 'shard' RETURNING next_oid
SELECT h.replicas, h.enc_key, o.deleted, o.deleted_at, h.path, h.size, h.sha512, o.created, f.filer_id FROM objects o JOIN objects h ON h.id = coalesce(o.alias, o.id) LEFT JOIN object_filers f ON f.object_id = h.id WHERE o.id = ?1 AND o.rnd = ?2 ORDER BY f.filer_id
INSERT INTO object_filers (object_id, filer_id) VALUES (?1, ?2)
SELECT 1 FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2 AND sent <> 0
UPDATE stale_replicas SET since = ?2 WHERE object_id = ?1 AND sent = 0 AND since > ?2
SELECT o.id, o.rnd FROM objects o WHERE o.sha512 = ?1 AND o.size = ?2 AND o.alias IS NULL AND o.deleted = 0
SELECT id, rnd FROM objects WHERE id > ?1 AND deleted = 1 AND deleted_at <= ?2 ORDER BY id LIMIT ?3
EOF
        echo "query plans (file system shard: path walk, permissions, file put, versions):"
        plans "$TMP/big/fsshard-0001.db" <<'EOF'
SELECT id FROM folders WHERE client_id = ?1 AND parent_id = ?2 AND name = ?3
SELECT id, parent_id, name, created, modified, NULL, NULL, NULL, NULL, NULL, 0 FROM folders WHERE client_id = ?1 AND parent_id = ?2 AND name = ?3 UNION ALL SELECT o.id, o.folder_id, o.name, o.created, o.modified, v.id, v.number, v.uuid, v.size, v.sha512, 1 FROM objects o JOIN versions v ON v.id = o.current_version WHERE o.client_id = ?1 AND o.folder_id = ?2 AND o.name = ?3 ORDER BY 11 LIMIT 1
WITH RECURSIVE up (id, parent_id, is_root, depth) AS (SELECT id, parent_id, is_root, 0 FROM folders WHERE id = ?2 AND client_id = ?1 UNION ALL SELECT f.id, f.parent_id, f.is_root, up.depth + 1 FROM folders f JOIN up ON f.id = up.parent_id WHERE up.depth < 100000) SELECT p.level FROM up JOIN folder_perms p ON p.folder_id = up.id WHERE (p.kind = 0 AND p.principal_id = ?3) OR (p.kind = 1 AND p.principal_id IN (SELECT group_id FROM group_members WHERE user_id = ?3)) ORDER BY up.depth, p.kind, p.level DESC LIMIT 1
SELECT (SELECT count(*) FROM folders WHERE client_id = ?1 AND parent_id = ?2 AND name = ?3) + (SELECT count(*) FROM objects WHERE client_id = ?1 AND folder_id = ?2 AND name = ?3)
SELECT coalesce(max(number), 0) + 1 FROM versions WHERE object_id = ?1
UPDATE coffer_meta SET last_id = last_id + 1 WHERE id = 1 AND kind = 'fs-shard' RETURNING last_id
SELECT v.id, v.number, v.uuid, v.size, v.sha512, v.created, v.by_user, o.current_version FROM versions v JOIN objects o ON o.id = v.object_id WHERE o.client_id = ?1 AND o.id = ?2 AND v.number > ?3 ORDER BY v.number LIMIT ?4
SELECT count(*) FROM versions v JOIN objects o ON o.id = v.object_id WHERE o.client_id = ?1 AND v.uuid = ?2
EOF
    } | tee -a "$RESULTS"
fi

{
    echo
    echo "scale: the same system with few and many records (SQLite, coffer server --replicas 3,"
    echo "concurrency $CONC, $SECONDS_PER s a phase, $ROUNDS rounds alternated; ratio = big / small"
    echo "within a round, median; the rounds' ratios after it)"
    printf '%-34s %10s %10s %7s  %-8s %s\n' phase small big ratio target rounds
    row() {
        local label=$1 st=$2 kind=$3 target=$4 s b q rest met
        read -r s b q rest <<<"$(ratio "$st" "$kind")"
        met=$(awk -v q="$q" -v t="$target" 'BEGIN { print (q >= t) ? "met" : "MISSED" }')
        printf '%-34s %10s %10s %7s  >=%-5s %s (%s)\n' "$label" "$s" "$b" "$q" "$target" "$met" "$rest"
    }
    row "4 KiB upload/s, ${SMALL_N} vs ${MID_N}" mid upload 0.8
    row "UUID look-up/s, ${SMALL_N} vs ${MID_N}" mid uuid 0.9
    row "path look-up/s, ${SMALL_N} vs ${MID_N}" mid path 0.9
    row "4 KiB upload/s, ${SMALL_N} vs ${BIG_N}" big upload 0.8
    row "UUID look-up/s, ${SMALL_N} vs ${BIG_N}" big uuid 0.9
    row "path look-up/s, ${SMALL_N} vs ${BIG_N}" big path 0.9
} | tee -a "$RESULTS"
