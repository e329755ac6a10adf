# bench/lib.sh -- shell helpers shared by bench/run.sh, bench/maint.sh and bench/tls.sh.
# Sourced, not run. The sourcing script sets RESULTS (a file the figures are
# appended to) and NAME (its name, for messages) first.

say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
fail() {
    say "$NAME: $*"
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
            echo "$NAME: pid $pid ignored SIGTERM for 35 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# finish_tmp RC LOG...: the end of a script's exit trap. After a failure
# (RC not 0) show the last lines of each LOG that is not empty; then remove
# $TMP, unless KEEP_TMP is 1.
finish_tmp() {
    local rc=$1 log
    shift
    if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
        for log in "$@"; do
            if [ -s "$log" ]; then
                echo "---- last lines of $log" >&2
                tail -n 15 "$log" >&2
            fi
        done
    fi
    if [ "$KEEP_TMP" = 1 ]; then
        echo "$NAME: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

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

