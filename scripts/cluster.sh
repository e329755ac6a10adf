#!/usr/bin/env bash
# cluster.sh -- a multi-host coffer cluster on this machine, one network
# namespace per host of deploy/cluster.conf, joined by a Linux bridge.
#
# Usage: scripts/cluster.sh up COFFER_BIN [STATE_DIR]     (make cluster)
#        scripts/cluster.sh down [STATE_DIR]              (make cluster-down)
#        scripts/cluster.sh pid STATE_DIR HOST ROLE       (a process's PID)
#
# up: as root, makes the bridge (the host side gets NET.1), one namespace
# per host with a veth pair into the bridge (eth0 inside, the host's
# address), keys (coffer admin keys init), a PostgreSQL cluster on the
# postgres host (catalog, one object shard, the file system catalog and its
# shard), registers the filers, and starts each role as a real process
# (`ip netns exec HOST coffer ROLE --config FILE`, the files made from
# deploy/conf/), then HAProxy and keepalived on each lb host (from
# deploy/haproxy.cfg and deploy/keepalived.conf); waits until every role
# answers its /status and the floating address answers; prints how to use
# it and writes STATE_DIR/env (shell variables for the CLI).
# Everything it makes is recorded in STATE_DIR/made as it is made (a
# namespace, a link, a process with its start time, a PostgreSQL data
# directory); down undoes exactly those, newest first, and removes
# STATE_DIR. A failed up leaves its record, so down cleans it too.
#
# Environment: COFFER_CLUSTER_NET (the /24's first three numbers; default
# 10.77.0: deploy/cluster.conf's addresses are rewritten to it),
# COFFER_CLUSTER_TAG (prefix of every namespace and link name; default cf),
# COFFER_CLUSTER_CONF (default deploy/cluster.conf),
# COFFER_CLUSTER_REBUILD_AFTER_S (the monitors' --rebuild-after-s; default
# 300: a filer offline that long gets its replicas rebuilt elsewhere).
# Needs: ip (iproute2), haproxy, keepalived, curl, PostgreSQL server
# binaries (scripts/deps.sh cluster installs them).
set -Eeuo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
net=${COFFER_CLUSTER_NET:-10.77.0}
tag=${COFFER_CLUSTER_TAG:-cf}
conf=${COFFER_CLUSTER_CONF:-$here/deploy/cluster.conf}
deploy=$here/deploy
vrid=$((${net##*.} % 200 + 51))
rebuild=${COFFER_CLUSTER_REBUILD_AFTER_S:-300}

die() {
    echo "cluster: $*" >&2
    if [ "${cmd:-}" = up ] && [ -s "${state:-}/made" ]; then
        echo "cluster: $0 down $state removes what was made" >&2
    fi
    exit 1
}
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

# The start time of PID (field 22 of /proc/PID/stat), to tell it from a
# later process given the same number.
starttime() { awk '{ print $22 }' "/proc/$1/stat" 2>/dev/null || true; }

record() { echo "$*" >>"$state/made"; }

# ---- down ----------------------------------------------------------------

# Whether the recorded process is still the one we started.
ours() { [ -n "$1" ] && [ -d "/proc/$1" ] && [ "$(starttime "$1")" = "$2" ]; }

down() {
    local made=$state/made kind a b live i
    [ -f "$made" ] || { echo "cluster: nothing recorded in $state"; return 0; }
    # Processes first (newest first), TERM then, after up to 10 s, KILL.
    live=()
    while read -r kind a b _; do
        if [ "$kind" = pid ] && ours "$a" "$b"; then
            kill -TERM "$a" 2>/dev/null || true
            live+=("$a $b")
        fi
    done < <(tac "$made")
    for ((i = 0; i < 100; i++)); do
        local left=()
        for p in "${live[@]}"; do
            # shellcheck disable=SC2086
            ours $p && left+=("$p")
        done
        live=("${left[@]}")
        [ ${#live[@]} -eq 0 ] && break
        sleep 0.1
    done
    for p in "${live[@]}"; do
        # shellcheck disable=SC2086
        set -- $p
        if ours "$1" "$2"; then kill -KILL "$1" 2>/dev/null || true; fi
    done
    while read -r kind a b _; do
        case "$kind" in
        pg)
            if [ -f "$a/postmaster.pid" ]; then
                runuser -u postgres -- "$b/pg_ctl" -D "$a" stop -m fast -w -t 20 >/dev/null 2>&1 || true
            fi
            ;;
        link) ip link del "$a" 2>/dev/null || true ;;
        ns)
            # Anything still inside was started by this cluster (the
            # namespace is ours): a child a recorded process left.
            for p in $(ip netns pids "$a" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
            ip netns del "$a" 2>/dev/null || true
            ;;
        esac
    done < <(tac "$made")
    rm -rf "$state"
    echo "cluster: down; removed what $made listed"
}

# ---- up ------------------------------------------------------------------

hosts=() # "name addr role dc"
load_conf() {
    local name addr role dc
    while read -r name addr role dc; do
        case "$name" in '' | '#'*) continue ;; esac
        addr=$net.${addr##*.}
        hosts+=("$name $addr $role $dc")
    done <"$conf"
}

# Addresses of every host with role $1, comma-separated.
addrs_of() {
    local h out="" n a r d
    for h in "${hosts[@]}"; do
        read -r n a r d <<<"$h"
        if [ "$r" = "$1" ]; then out+="${out:+,}$a"; fi
    done
    echo "$out"
}
addr_of() { # the address of host $1
    local h n a r d
    for h in "${hosts[@]}"; do
        read -r n a r d <<<"$h"
        if [ "$n" = "$1" ]; then
            echo "$a"
            return 0
        fi
    done
    die "no host $1 in $conf"
}

name_of() { # the name of the first host with role $1
    local h n a r d
    for h in "${hosts[@]}"; do
        read -r n a r d <<<"$h"
        if [ "$r" = "$1" ]; then
            echo "$n"
            return 0
        fi
    done
    die "no $1 host in $conf"
}

# fill TEMPLATE OUT VAR=VALUE...: the template with each @VAR@ replaced.
fill() {
    local in=$1 out=$2 kv args=()
    shift 2
    for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${args[@]}" "$in" >"$out"
    if grep -v '^ *#' "$out" | grep -q '@[A-Z0-9]*@'; then
        die "$out: unfilled $(grep -v '^ *#' "$out" | grep -o '@[A-Z0-9]*@' | head -1)"
    fi
}

# die with the last lines of a role's log $3: role $1 on host $2 is silent.
silent() {
    echo "cluster: the end of $3:" >&2
    tail -n 15 "$3" >&2 || true
    die "$1 on $2 does not answer: $3"
}

# Wait up to $2 s (default 20) for URL $1 to answer 200.
wait_http() {
    local i
    for ((i = 0; i < ${2:-20} * 10; i++)); do
        curl -sf -m 1 -o /dev/null "$1" && return 0
        sleep 0.1
    done
    return 1
}

# start HOST NAME LOG CMD...: run CMD in HOST's namespace, recorded.
start() {
    local host=$1 name=$2 log=$3 pid
    shift 3
    ip netns exec "$tag-$host" "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    sleep 0.05
    record pid "$pid" "$(starttime "$pid")" "$host" "$name"
}

up() {
    local bin=$1 h name addr role dc ns hv pgaddr="" bindir="" d pw
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
    [ -x "$bin" ] || die "no coffer binary at $bin"
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    for c in ip haproxy keepalived curl runuser; do
        command -v "$c" >/dev/null || die "$c is missing (scripts/deps.sh cluster)"
    done
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ]; then bindir=$d; fi
    done
    [ -n "$bindir" ] || die "no PostgreSQL server binaries (scripts/deps.sh cluster)"
    [ ! -e "$state/made" ] || die "$state/made exists: already up (make cluster-down first)"
    ip link show "${tag}br0" >/dev/null 2>&1 && die "a link ${tag}br0 exists already (not ours)"
    load_conf
    mkdir -p "$state"
    chmod 755 "$state"
    : >"$state/made"

    # The network: a bridge with NET.1 for this machine, a namespace per host.
    ip link add "${tag}br0" type bridge
    record link "${tag}br0"
    ip addr add "$net.1/24" dev "${tag}br0"
    ip link set "${tag}br0" up
    for h in "${hosts[@]}"; do
        read -r name addr role dc <<<"$h"
        if [ "$role" = vip ]; then continue; fi
        ns=$tag-$name
        hv=${tag}v-$name
        ip netns add "$ns"
        record ns "$ns"
        ip link add "$hv" type veth peer name eth0 netns "$ns"
        record link "$hv"
        ip link set "$hv" master "${tag}br0" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        mkdir -p "$state/$name"
    done
    local vip lbs keys=$state/keys
    vip=$(addr_of vip)
    lbs=$(addrs_of lb)
    "$bin" admin keys init --data "$keys" >/dev/null

    # PostgreSQL on the postgres host (trust within the cluster's /24 only:
    # a test cluster; real hosts use scram-sha-256, README).
    pgaddr=$(addrs_of postgres)
    d=$state/$(name_of postgres)
    chown postgres: "$d"
    runuser -u postgres -- "$bindir/initdb" -D "$d/data" -U coffer -A trust -E UTF8 --no-locale \
        >"$d/initdb.log" 2>&1 || die "initdb failed: $d/initdb.log"
    echo "host all all $net.0/24 trust" >>"$d/data/pg_hba.conf"
    record pg "$d/data" "$bindir"
    ip netns exec "$tag-$(basename "$d")" runuser -u postgres -- "$bindir/pg_ctl" -D "$d/data" \
        -l "$d/server.log" -w -t 30 -o "-c listen_addresses='$pgaddr' -c unix_socket_directories='$d' \
        -p 5432 -c max_connections=400 -c fsync=off -c full_page_writes=off" start >/dev/null ||
        die "PostgreSQL did not start: $d/server.log"
    for db in coffer_catalog coffer_shard1 coffer_fs coffer_fs1; do
        runuser -u postgres -- createdb -h "$d" -p 5432 -U coffer "$db"
    done
    local pgu="postgres://coffer@$pgaddr:5432"
    local catalog=$pgu/coffer_catalog fsdb=$pgu/coffer_fs
    "$bin" admin shard add --db "$catalog" --location "$pgu/coffer_shard1" >/dev/null
    pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    "$bin" admin client add demo --fs-db "$fsdb" --shard-location "$pgu/coffer_fs1" >/dev/null
    "$bin" admin user add --client demo admin --admin --password "$pw" --fs-db "$fsdb" >/dev/null
    local id=0
    for h in "${hosts[@]}"; do
        read -r name addr role dc <<<"$h"
        [ "$role" = filer ] || continue
        id=$((id + 1))
        "$bin" admin filer add --db "$catalog" --id "$id" --url "http://$addr:8300" --weight 100 \
            --dc "$dc" >/dev/null
    done

    # The roles, in the order they need each other; each from its deploy/conf template.
    local order="filer monitor app objsrv gateway" r port gwkey="" monitors
    monitors=$(addrs_of monitor | sed -e 's|\([^,]*\)|http://\1:8203|g')
    id=0
    for r in $order; do
        for h in "${hosts[@]}"; do
            read -r name addr role dc <<<"$h"
            [ "$role" = "$r" ] || continue
            if [ "$r" = filer ]; then id=$((id + 1)); fi
            fill "$deploy/conf/$r.conf" "$state/$name/$r.conf" ADDR="$addr" KEYS="$keys" \
                DATA="$state/$name" ID="$id" CATALOG="$catalog" FSDB="$fsdb" VIP="$vip" LBS="$lbs" \
                DC="$dc" MONITORS="$monitors" APPS="http://$vip:8200" REBUILD="$rebuild"
            if [ "$r" = gateway ] && [ -n "$gwkey" ]; then cp -p "$gwkey" "$state/$name/gateway.key"; fi
            start "$name" "$r" "$state/$name/$r.log" "$bin" "$r" --config "$state/$name/$r.conf"
            case $r in filer) port=8300 ;; app) port=8200 ;; objsrv) port=8201 ;;
                gateway) port=8202 ;; monitor) port=8203 ;; esac
            # Gateways one at a time: the first makes the token key the others share.
            if [ "$r" = gateway ] || [ "$r" = monitor ]; then
                wait_http "http://$addr:$port/status" || silent "$r" "$name" "$state/$name/$r.log"
                if [ "$r" = gateway ]; then gwkey=$state/$name/gateway.key; fi
            fi
        done
    done
    for h in "${hosts[@]}"; do
        read -r name addr role dc <<<"$h"
        case $role in filer) port=8300 ;; app) port=8200 ;; objsrv) port=8201 ;;
            gateway) port=8202 ;; monitor) port=8203 ;; *) continue ;; esac
        wait_http "http://$addr:$port/status" || silent "$role" "$name" "$state/$name/$role.log"
    done

    # The HAProxy pair and keepalived: the first lb host is MASTER.
    local lbn=0 apps objsrvs gws peer
    IFS=, read -r -a apps <<<"$(addrs_of app)"
    IFS=, read -r -a objsrvs <<<"$(addrs_of objsrv)"
    IFS=, read -r -a gws <<<"$(addrs_of gateway)"
    for h in "${hosts[@]}"; do
        read -r name addr role dc <<<"$h"
        [ "$role" = lb ] || continue
        lbn=$((lbn + 1))
        peer=$(echo "$lbs" | tr , '\n' | grep -vx "$addr" | head -1)
        fill "$deploy/haproxy.cfg" "$state/$name/haproxy.cfg" RUN="$state/$name" \
            APP1="${apps[0]}" APP2="${apps[1]:-${apps[0]}}" OBJSRV1="${objsrvs[0]}" \
            OBJSRV2="${objsrvs[1]:-${objsrvs[0]}}" GATEWAY1="${gws[0]}" GATEWAY2="${gws[1]:-${gws[0]}}"
        haproxy -c -q -f "$state/$name/haproxy.cfg" || die "haproxy refuses $state/$name/haproxy.cfg"
        start "$name" haproxy "$state/$name/haproxy.log" haproxy -db -f "$state/$name/haproxy.cfg"
        fill "$deploy/keepalived.conf" "$state/$name/keepalived.conf" NAME="$tag-$name" \
            STATE="$([ $lbn -eq 1 ] && echo MASTER || echo BACKUP)" \
            PRIORITY="$((120 - 10 * lbn))" IFACE=eth0 SRC="$addr" PEER="$peer" VIP="$vip" \
            PREFIX=24 VRID="$vrid"
        wait_http "http://$addr:8200/status" 10 || die "haproxy on $name does not answer"
        start "$name" keepalived "$state/$name/keepalived.log" keepalived -n -l -D --vrrp \
            -f "$state/$name/keepalived.conf" -p "$state/$name/keepalived.pid" \
            -r "$state/$name/vrrp.pid" -c "$state/$name/checkers.pid"
    done
    wait_http "http://$vip:8200/status" 30 || die "the floating address $vip does not answer"

    cat >"$state/env" <<EOF
# coffer cluster $tag ($net.0/24): source this file to use it.
export COFFER_APP=http://$vip:8200
export COFFER_OBJSRV=http://$vip:8201
export COFFER_GATEWAY=http://$vip:8202
export COFFER_MONITOR=$monitors
export COFFER_OPERATOR_KEY_FILE=$keys/operator.key
export COFFER_CLUSTER_VIP=$vip
export COFFER_CLUSTER_PASSWORD=$pw
export COFFER_CLUSTER_CATALOG=$catalog
EOF
    cat <<EOF
coffer cluster up: ${#hosts[@]} hosts in namespaces $tag-* on bridge ${tag}br0 ($net.0/24;
this machine is $net.1). HAProxy on the lb hosts behind the floating address
$vip (keepalived), PostgreSQL on $pgaddr, state and logs in $state.

  . $state/env                        # COFFER_APP, _OBJSRV, _GATEWAY point at $vip
  uuid=\$($bin put README.md)          # upload through HAProxy to an app
  $bin get \$uuid -o /tmp/readme.copy
  $bin admin filers                    # the filer table (from the monitors)
  $bin admin cluster                   # every role instance: url, dc, status
  curl http://$vip:8200/status
  ip netns exec $tag-lb1 ip addr show eth0   # which lb holds $vip now
  tok=\$(curl -s -d '{"client":"demo","user":"admin","password":"$pw"}' \\
        http://$vip:8202/api/v1/login | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')
  curl -H "Authorization: Bearer \$tok" -T README.md http://$vip:8202/api/v1/fs/readme.md
  kill \$(scripts/cluster.sh pid $state app1 app)   # fail an instance; HAProxy routes around it
Stop it all with: make cluster-down   (or scripts/cluster.sh down $state)

EOF
    # The registry: every instance has heart-beaten once within 2 s of its start.
    sleep 2
    echo "coffer admin cluster:"
    COFFER_OPERATOR_KEY_FILE=$keys/operator.key "$bin" admin cluster --monitor "$monitors" ||
        echo "(coffer admin cluster failed: is a monitor up?)"
}

pid_of() { # pid STATE HOST ROLE: the recorded PID, if it still runs
    local kind a b host name
    while read -r kind a b host name; do
        if [ "$kind" = pid ] && [ "$host" = "$1" ] && [ "$name" = "$2" ] && ours "$a" "$b"; then
            echo "$a"
        fi
    done <"$state/made"
}

cmd=${1:-}
case "$cmd" in
up)
    [ $# -ge 2 ] || die "usage: $0 up COFFER_BIN [STATE_DIR]"
    state=$(realpath -m "${3:-$here/build/cluster}")
    up "$2"
    ;;
down)
    state=$(realpath -m "${2:-$here/build/cluster}")
    down
    ;;
pid)
    [ $# -eq 4 ] || die "usage: $0 pid STATE_DIR HOST ROLE"
    state=$2
    pid_of "$3" "$4"
    ;;
*) die "usage: $0 up COFFER_BIN [STATE_DIR] | down [STATE_DIR] | pid STATE_DIR HOST ROLE" ;;
esac
