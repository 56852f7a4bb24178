# Shared by the benchmark scripts (bench-report.sh, bench-policy.sh); source it after `cd` to
# the repository root and setting BENCH (the script's name, for messages) and, optionally,
# BENCH_TOOLS (commands it needs besides jq and taskset).
#
# Gives: BIN (the release binaries), WORK (a temporary directory), PIDS (servers started; every one is stopped on exit,
# even on failure), and the functions below.

SERVER_CPU=0
LOAD_CPU=1
# where cargo puts release binaries
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release

for tool in jq taskset ${BENCH_TOOLS:-}; do
    command -v "$tool" >/dev/null || { echo "$BENCH: needs $tool (apt-get install $tool)" >&2; exit 2; }
done
if [ "$(nproc)" -lt 2 ]; then
    echo "$BENCH: needs 2 CPUs (server on CPU $SERVER_CPU, generator on CPU $LOAD_CPU)" >&2
    exit 2
fi

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# user + system CPU seconds of a process
cpu_seconds() {
    local stat fields
    stat=$(cat "/proc/$1/stat")
    read -ra fields <<<"${stat##*) }"
    # after "comm)": state is field 3, utime/stime are fields 14/15
    awk -v u="${fields[11]}" -v s="${fields[12]}" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.3f", (u + s) / hz }'
}

wait_for_port() { # addr pid
    local host=${1%:*} port=${1##*:} i
    for i in $(seq 1 300); do
        kill -0 "$2" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# run_child OUT CMD...: runs CMD with its stdout in OUT and waits for it; its status. It runs
# in the background and is waited for with `wait`, which a signal interrupts, so INT or TERM
# stops the script (and, through cleanup, CMD) at once rather than when CMD is done.
run_child() {
    local out=$1
    shift
    "$@" >"$out" &
    local pid=$!
    PIDS+=("$pid")
    wait "$pid"
}

# stop a server by PID: SIGTERM, then SIGKILL after 15 s
stop_server() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# seconds in a Go-style duration (10s, 500ms, 2m)
seconds_of() {
    awk -v w="$1" 'BEGIN {
        n = w + 0
        if (w ~ /ms$/) n /= 1000; else if (w ~ /m$/) n *= 60
        print n }'
}

# the machine and commit lines of a RESULTS.md entry
machine_line() {
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average before the run: $LOADAVG"
}
commit_line() {
    echo "- commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (work tree modified)')"
}
