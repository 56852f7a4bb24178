# shellcheck shell=bash
# Shared by deploy/local/up, down and test (sourced, not run). Processes are known by PID *and*
# start time (field 22 of /proc/PID/stat), so a recycled PID is never mistaken for ours and
# never signalled.
#
# The state dir holds `components`: one line per process started, in start order:
#   NAME PID START_TIME GRACE_SECONDS LOG
# and `.mixer-local`, the marker that lets down remove the directory.

# shellcheck disable=SC2034 # used by the scripts that source this
MARKER=.mixer-local

# The start time of PID (clock ticks since boot), or failure when there is no such process.
proc_start() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # Fields after "PID (COMM) ": COMM may hold spaces and parentheses.
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo "${20}"
}

# True when PID is the process that started at START and has not exited (a zombie has).
is_running() {
    local pid=$1 start=$2 stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    [ "$1" != Z ] && [ "$1" != X ] && [ "${20}" = "$start" ]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Polls URL until it answers 2xx; fails early if the process PID/START exits, or after
# TIMEOUT seconds. Prints the last lines of LOG on failure.
wait_http() { # NAME URL TIMEOUT PID START LOG
    local name=$1 url=$2 timeout=$3 pid=$4 start=$5 log=$6 t0
    t0=$(date +%s)
    while :; do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        if ! is_running "$pid" "$start"; then
            echo "$name (pid $pid) exited during start-up; last lines of $log:" >&2
            tail -n 25 "$log" >&2 2>/dev/null || true
            return 1
        fi
        if [ $(($(date +%s) - t0)) -ge "$timeout" ]; then
            echo "$name did not answer $url within ${timeout}s; last lines of $log:" >&2
            tail -n 25 "$log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.2
    done
}

# SIGTERM, then up to GRACE seconds for it to exit, then SIGKILL and up to 5 s more.
# Only the recorded process is signalled. Fails if it is still running.
stop_process() { # NAME PID START GRACE
    local name=$1 pid=$2 start=$3 grace=$4 ticks=0 t0
    if ! is_running "$pid" "$start"; then
        printf '  %-12s was not running\n' "$name"
        return 0
    fi
    t0=$(date +%s)
    kill -TERM "$pid" 2>/dev/null || true
    while is_running "$pid" "$start" && [ "$ticks" -lt $((grace * 10)) ]; do
        sleep 0.1
        ticks=$((ticks + 1))
    done
    if is_running "$pid" "$start"; then
        printf '  %-12s still running %ss after SIGTERM: SIGKILL\n' "$name" "$grace"
        kill -KILL "$pid" 2>/dev/null || true
        ticks=0
        while is_running "$pid" "$start" && [ "$ticks" -lt 50 ]; do
            sleep 0.1
            ticks=$((ticks + 1))
        done
    fi
    if is_running "$pid" "$start"; then
        printf '  %-12s pid %s is STILL RUNNING\n' "$name" "$pid"
        return 1
    fi
    printf '  %-12s stopped (pid %s, %ss)\n' "$name" "$pid" $(($(date +%s) - t0))
}
