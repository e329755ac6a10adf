#!/usr/bin/env bash
# pg-test.sh -- run database test suites against a throw-away PostgreSQL
# cluster (DESIGN §3: the same test suite runs against both backends).
#
# Usage: scripts/pg-test.sh BUILD_DIR TEST_EXE...
#        scripts/pg-test.sh BUILD_DIR --run COMMAND [ARG...]
#
# Makes a cluster under BUILD_DIR/pg-test/<pid>/, starts it listening only on
# a unix socket in that directory, runs every TEST_EXE with
#   COFFER_TEST_PG="host=<dir> port=<port> user=coffer"
# (each suite creates and drops its own databases through the "postgres"
# maintenance database), and stops the server and removes the cluster on
# exit, whatever happens. With --run, runs the one COMMAND with its
# arguments instead, and exits with its status (77 passes through as SKIP).
# Either way COFFER_TEST_PG_RESTART names a script that restarts the server
# (pg_ctl restart -m fast: every session is ended) and returns once it
# accepts connections again, for fault tests. initdb refuses to run as root, so as root the
# cluster belongs to the "postgres" system user (runuser).
# Exits 77 (ctest SKIP_RETURN_CODE) when no PostgreSQL server binaries are
# installed (Debian package "postgresql"; scripts/deps.sh installs it).
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR (TEST_EXE... | --run COMMAND [ARG...])" >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
run_one=0
if [ "$1" = "--run" ]; then
    run_one=1
    shift
    [ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR --run COMMAND [ARG...]" >&2; exit 2; }
fi

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

dir="$build/pg-test/$$"
data="$dir/data"
rm -rf "$dir"
mkdir -p "$dir"
[ ${#runas[@]} -eq 0 ] || chown postgres: "$dir"
# The socket lives in $dir, so the port only names it: no clash with any
# other server, and no TCP listener at all.
port=$((20000 + $$ % 20000))
started=0

cleanup() {
    if [ "$started" -eq 1 ]; then
        "${runas[@]}" "$bindir/pg_ctl" -D "$data" stop -m fast >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# fsync off: a test cluster is thrown away; durability is not measured here.
"${runas[@]}" "$bindir/initdb" -D "$data" -U coffer -A trust -E UTF8 --no-locale \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
"${runas[@]}" "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port -c fsync=off \
        -c full_page_writes=off -c max_connections=200" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
started=1

export COFFER_TEST_PG="host=$dir port=$port user=coffer"
restart="$dir/restart.sh"
{
    echo '#!/bin/sh'
    printf 'exec %s %q -D %q -l %q -w -t 30 restart -m fast >/dev/null\n' "${runas[*]}" \
        "$bindir/pg_ctl" "$data" "$dir/server.log"
} >"$restart"
chmod 755 "$restart"
export COFFER_TEST_PG_RESTART="$restart"
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
