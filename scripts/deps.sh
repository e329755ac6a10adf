#!/usr/bin/env bash
# Install the Debian packages coffer needs, calling apt-get only when one is
# missing. Usage: scripts/deps.sh [build|bench|cluster|scale]   (default: build)
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
      libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjansson-dev libzstd-dev
      libcmocka-dev libsqlite3-dev libpq-dev postgresql
      awscli s3cmd rclone python3-boto3 curl  # the S3 clients of it_s3
      chromium nodejs)   # the web page's browser test (tests/web)
# npm from Debian, unless the nodejs installed brings its own (NodeSource's
# does, and conflicts with Debian's npm).
command -v npm >/dev/null || pkgs+=(npm)
if [ "${1:-build}" = bench ]; then
    # The peers of bench/gateway.sh: nginx WebDAV and a Swift all-in-one.
    pkgs+=(nginx-light haproxy swift swift-proxy swift-object swift-container swift-account)
fi
# make bench-scale: curl to log in, sqlite3 for the query plans.
if [ "${1:-build}" = scale ]; then
    pkgs+=(curl sqlite3)
fi
# make cluster and its test: load balancers, floating address, the checks.
if [ "${1:-build}" = cluster ]; then
    pkgs+=(haproxy keepalived curl iproute2)
fi

missing=()
for p in "${pkgs[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
    *" installed") ;;
    *) missing+=("$p") ;;
    esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing missing Debian packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
