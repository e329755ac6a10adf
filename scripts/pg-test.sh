#!/usr/bin/env bash
# pg-test.sh -- run database test suites against a throw-away PostgreSQL
# cluster (DESIGN §3: the same test suite runs against both backends).
#
# Usage: scripts/pg-test.sh BUILD_DIR [--servers 2] [--standby] TEST_EXE...
#        scripts/pg-test.sh BUILD_DIR [--servers 2] [--standby] --run COMMAND [ARG...]
#
# Makes a cluster under BUILD_DIR/pg-test/<pid>/pg1/, starts it listening only
# on a unix socket in that directory, runs every TEST_EXE with
#   COFFER_TEST_PG="host=<dir> port=<port> user=coffer"
# (each suite creates and drops its own databases through the "postgres"
# maintenance database), and stops the servers and removes everything on
# exit, whatever happens. With --run, runs the one COMMAND with its
# arguments instead, and exits with its status (77 passes through as SKIP).
# Either way COFFER_TEST_PG_RESTART names a script that restarts the server
# (pg_ctl restart -m fast: every session is ended) and returns once it
# accepts connections again, for fault tests.
#
# --servers 2 starts a second, separate cluster (its own directory, socket
# and port: another "host") and exports COFFER_TEST_PG2 and
# COFFER_TEST_PG2_RESTART for it, as above.
#
# --standby gives server 1 a streaming-replication standby (pg_basebackup -R,
# synchronous_standby_names='*' on the primary, so a commit returns only
# once the standby has it); then COFFER_TEST_PG names both hosts, so every
# connection goes to whichever one is the primary:
#   COFFER_TEST_PG           "host=<dir1>,<dir2> port=<p1>,<p2> user=coffer
#                            target_session_attrs=read-write"
#   COFFER_TEST_PG_PRIMARY   the first server alone, COFFER_TEST_PG_STANDBY
#                            the standby alone ("host=... port=... user=coffer")
#   COFFER_TEST_PG_FAILOVER  a script: "stop" stops the primary at once
#                            (pg_ctl stop -m immediate, as a crash), "promote"
#                            promotes the standby (pg_ctl promote -w)
#
# initdb refuses to run as root, so as root the clusters belong to the
# "postgres" system user (runuser).
# Exits 77 (ctest SKIP_RETURN_CODE) when no PostgreSQL server binaries are
# installed (Debian package "postgresql"; scripts/deps.sh installs it).
set -euo pipefail

usage="usage: $0 BUILD_DIR [--servers 1|2] [--standby] (TEST_EXE... | --run COMMAND [ARG...])"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
run_one=0
servers=1
standby=0
while [ $# -ge 1 ]; do
    case "$1" in
    --servers)
        [ $# -ge 2 ] && { [ "$2" = 1 ] || [ "$2" = 2 ]; } || { echo "$usage" >&2; exit 2; }
        servers=$2
        shift 2
        ;;
    --standby)
        standby=1
        shift
        ;;
    --run)
        run_one=1
        shift
        break
        ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }

bindir=""
for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && bindir=$d
done
if [ -z "$bindir" ]; then
    echo "pg-test: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin); skipped"
    exit 77
fi

runas=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "pg-test: root and no postgres user" >&2; exit 1; }
    runas=(runuser -u postgres --)
fi

top="$build/pg-test/$$"
rm -rf "$top"
mkdir -p "$top"
[ ${#runas[@]} -eq 0 ] || chown postgres: "$top"
started=() # data directories of the running servers

cleanup() {
    for d in "${started[@]}"; do
        "${runas[@]}" "$bindir/pg_ctl" -D "$d" stop -m immediate >/dev/null 2>&1 || true
    done
    rm -rf "$top"
}
trap cleanup EXIT INT TERM

# The socket lives in its own directory, so the port only names it: no clash
# with any other server, and no TCP listener at all.
port_of() { echo $((20000 + ($$ * 4 + $1) % 20000)); }

# start_server DIR PORT [EXTRA_OPTION...]: start the cluster in DIR/data.
# fsync off: a test cluster is thrown away; durability is not measured here.
start_server() {
    local dir=$1 port=$2
    shift 2
    "${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port -c fsync=off \
            -c full_page_writes=off -c max_connections=200 $*" start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    started+=("$dir/data")
}

# make_server N [EXTRA_OPTION...]: initdb and start server N under $top/pgN;
# sets dir and port.
make_server() {
    local n=$1
    shift
    dir="$top/pg$n"
    port=$(port_of "$n")
    mkdir -p "$dir"
    [ ${#runas[@]} -eq 0 ] || chown postgres: "$dir"
    "${runas[@]}" "$bindir/initdb" -D "$dir/data" -U coffer -A trust -E UTF8 --no-locale -N \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    start_server "$dir" "$port" "$@"
}

# restart_script DIR: a script that restarts the server of DIR.
restart_script() {
    local dir=$1
    {
        echo '#!/bin/sh'
        printf 'exec %s %q -D %q -l %q -w -t 30 restart -m fast >/dev/null\n' "${runas[*]}" \
            "$bindir/pg_ctl" "$dir/data" "$dir/server.log"
    } >"$dir/restart.sh"
    chmod 755 "$dir/restart.sh"
}

extra=()
[ "$standby" -eq 0 ] || extra=(-c "synchronous_standby_names='*'")
make_server 1 "${extra[@]}"
dir1=$dir
port1=$port
restart_script "$dir1"
export COFFER_TEST_PG="host=$dir1 port=$port1 user=coffer"
export COFFER_TEST_PG_RESTART="$dir1/restart.sh"

if [ "$servers" -eq 2 ]; then
    make_server 2
    restart_script "$dir"
    export COFFER_TEST_PG2="host=$dir port=$port user=coffer"
    export COFFER_TEST_PG2_RESTART="$dir/restart.sh"
fi

if [ "$standby" -eq 1 ]; then
    sdir="$top/standby"
    sport=$(port_of 3)
    mkdir -p "$sdir"
    [ ${#runas[@]} -eq 0 ] || chown postgres: "$sdir"
    # -R writes primary_conninfo and standby.signal: it starts as a standby.
    "${runas[@]}" "$bindir/pg_basebackup" -D "$sdir/data" -h "$dir1" -p "$port1" -U coffer \
        -R -X stream -N >"$sdir/basebackup.log" 2>&1 || { cat "$sdir/basebackup.log" >&2; exit 1; }
    start_server "$sdir" "$sport"
    export COFFER_TEST_PG_PRIMARY="$COFFER_TEST_PG"
    export COFFER_TEST_PG_STANDBY="host=$sdir port=$sport user=coffer"
    export COFFER_TEST_PG="host=$dir1,$sdir port=$port1,$sport user=coffer \
target_session_attrs=read-write"
    {
        echo '#!/bin/sh'
        echo 'case "$1" in'
        printf 'stop) exec %s %q -D %q stop -m immediate >/dev/null ;;\n' "${runas[*]}" \
            "$bindir/pg_ctl" "$dir1/data"
        printf 'promote) exec %s %q -D %q promote -w -t 30 >/dev/null ;;\n' "${runas[*]}" \
            "$bindir/pg_ctl" "$sdir/data"
        echo '*) echo "usage: $0 stop|promote" >&2; exit 2 ;;'
        echo 'esac'
    } >"$top/failover.sh"
    chmod 755 "$top/failover.sh"
    export COFFER_TEST_PG_FAILOVER="$top/failover.sh"
fi

if [ "$run_one" -eq 1 ]; then
    rc=0
    "$@" || rc=$?
    exit $rc
fi
rc=0
for t in "$@"; do
    echo "pg-test: $(basename "$t") on PostgreSQL ($("$bindir/postgres" --version))"
    "$t" || rc=1
done
exit $rc
