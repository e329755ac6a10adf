# bench/lib.sh -- shell helpers shared by bench/run.sh and bench/maint.sh.
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

