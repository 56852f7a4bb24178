#!/usr/bin/env bash
# Report benchmark: the no-op prost server (the baseline) and a real server, side by side.
#
# Each server runs pinned to CPU 0 (taskset), report-load pinned to CPU 1. For each server:
# report-load at max rate for $DURATION finds the max bags/s; then at half that rate it measures
# the latency. The server's CPU time (/proc/PID/stat) over each run gives CPU-seconds per million
# bags, and from it bags/s per server core, which holds up better than raw bags/s on a busy
# machine. Prints a Markdown table and appends it, with the machine, date and commit, to
# load-tests/RESULTS.md. Loopback only.
#
# Usage: load-tests/bench-report.sh
# Environment (all optional):
#   SERVER_CMD   the real server (default: target/release/mixer telemetry --grpc-addr
#                127.0.0.1:19091 --metrics-addr 127.0.0.1:19422 --monitoring-addr 127.0.0.1:19014);
#                its gRPC address is read from --grpc-addr, or set SERVER_ADDR.
#                SERVER_CMD=none skips it.
#   SKIP_NOOP=1  skip the no-op baseline
#   NOOP_MODES   no-op modes to run (default "prost"; "prost scan" adds the byte walk)
#   DURATION=10s WARMUP=2s CONCURRENCY=32 CONNECTIONS=4 BATCH=100 POOL=64 WORKLOADS=20
#   LOAD_ARGS    extra report-load arguments
#   NO_BUILD=1   use the binaries in target/release as they are
#   RESULTS      where to append (default load-tests/RESULTS.md; /dev/null to not record)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-32}
CONNECTIONS=${CONNECTIONS:-4}
BATCH=${BATCH:-100}
POOL=${POOL:-64}
WORKLOADS=${WORKLOADS:-20}
LOAD_ARGS=${LOAD_ARGS:-}
NOOP_MODES=${NOOP_MODES:-prost}
RESULTS=${RESULTS:-$ROOT/load-tests/RESULTS.md}
SERVER_CMD=${SERVER_CMD:-target/release/mixer telemetry --grpc-addr 127.0.0.1:19091 --metrics-addr 127.0.0.1:19422 --monitoring-addr 127.0.0.1:19014}
NOOP_ADDR=127.0.0.1:19191

BENCH=bench-report
# shellcheck source=load-tests/bench-lib.sh
. load-tests/bench-lib.sh
LOAD=$BIN/report-load
NOOP=$BIN/report-noop

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -j2 -p mixer-load-tests >&2
fi

load() { # addr extra-args...
    local addr=$1
    shift
    # shellcheck disable=SC2086
    taskset -c "$LOAD_CPU" "$LOAD" --target "$addr" --duration "$DURATION" --warmup "$WARMUP" \
        --concurrency "$CONCURRENCY" --connections "$CONNECTIONS" --batch "$BATCH" \
        --pool "$POOL" --workloads "$WORKLOADS" $LOAD_ARGS "$@"
}

ROWS=()
NOTES=()

# bench NAME ADDR CMD...: one server, max rate then half rate
bench() {
    local name=$1 addr=$2
    shift 2
    local log=$WORK/server-${name//[^a-z0-9]/_}.log
    echo "bench-report: $name: $*" >&2
    taskset -c "$SERVER_CPU" "$@" >"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    if ! wait_for_port "$addr" "$pid"; then
        echo "bench-report: $name did not start listening on $addr; its output:" >&2
        cat "$log" >&2
        stop_server "$pid"
        NOTES+=("- $name: did not start (see the script's stderr)")
        return 0
    fi

    local c0 c1 c2 max half rps
    c0=$(cpu_seconds "$pid")
    if ! max=$(load "$addr"); then
        stop_server "$pid"
        NOTES+=("- $name: report-load failed at max rate: $(tail -c 300 "$log" | tr '\n' ' ')")
        return 0
    fi
    c1=$(cpu_seconds "$pid")
    rps=$(jq -r '.requests_per_s / 2 | floor' <<<"$max")
    if ! half=$(load "$addr" --rate "$rps"); then
        stop_server "$pid"
        NOTES+=("- $name: report-load failed at half rate")
        return 0
    fi
    c2=$(cpu_seconds "$pid")
    stop_server "$pid"
    echo "$max" >"$WORK/$name.max.json"
    echo "$half" >"$WORK/$name.half.json"

    ROWS+=("$(jq -rn --argjson m "$max" --argjson h "$half" \
        --arg name "$name" --arg c0 "$c0" --arg c1 "$c1" --arg c2 "$c2" '
        def r(n): (n * 10 | round) / 10;
        def ms(us): (us / 100 | round) / 10;
        (($c1 | tonumber) - ($c0 | tonumber)) as $cpu
        | (if $m.bags_total > 0 then $cpu / $m.bags_total * 1e6 else 0 end) as $per_m
        | "| \($name) | \($m.bags_per_s | round) | \($m.requests_per_s | round) "
          + "| \(r($cpu / ($m.elapsed_s + (env.WARMUP_S | tonumber)) * 100))% "
          + "| \(r($per_m)) | \(if $per_m > 0 then (1e6 / $per_m | round) else "-" end) "
          + "| \(ms($m.latency_us.p50)) / \(ms($m.latency_us.p99)) "
          + "| \($h.bags_per_s | round) | \(ms($h.latency_us.p50)) / \(ms($h.latency_us.p99)) / \(ms($h.latency_us.p999)) "
          + "| \($m.error_count + $h.error_count) | \($m.cpu_s) |"')")
}

WARMUP_S=$(seconds_of "$WARMUP")
export WARMUP_S

if [ "${SKIP_NOOP:-0}" != 1 ]; then
    for mode in $NOOP_MODES; do
        bench "no-op ($mode)" "$NOOP_ADDR" "$NOOP" --grpc-addr "$NOOP_ADDR" --mode "$mode"
    done
fi

if [ "$SERVER_CMD" != none ]; then
    read -ra cmd <<<"$SERVER_CMD"
    addr=${SERVER_ADDR:-$(sed -nE 's/.*--grpc-addr[ =]([^ ]+).*/\1/p' <<<"$SERVER_CMD")}
    if [ ! -x "${cmd[0]}" ] && ! command -v "${cmd[0]}" >/dev/null; then
        msg="skipped $SERVER_CMD: ${cmd[0]} does not exist (build it first)"
        echo "bench-report: $msg" >&2
        NOTES+=("- $msg")
    elif [ "${#cmd[@]}" -gt 1 ] && ! "${cmd[0]}" "${cmd[1]}" --help >/dev/null 2>&1; then
        msg="skipped $SERVER_CMD: ${cmd[0]} has no '${cmd[1]}' subcommand"
        echo "bench-report: $msg" >&2
        NOTES+=("- $msg")
    elif [ -z "$addr" ]; then
        echo "bench-report: cannot tell the gRPC address of '$SERVER_CMD'; set SERVER_ADDR" >&2
        exit 2
    else
        bench "$(basename "${cmd[0]}") ${cmd[1]:-}" "$addr" "${cmd[@]}"
    fi
fi

bags_per=$(jq -r '.bytes_per_bag' "$WORK"/*.max.json 2>/dev/null | head -1 || true)
attrs=$(jq -r '.attributes_per_bag' "$WORK"/*.max.json 2>/dev/null | head -1 || true)
TABLE=$(
    echo "| server | max bags/s | req/s | server CPU | server CPU-s / M bags | bags/s per server core | p50 / p99 ms at max | half-rate bags/s | p50 / p99 / p99.9 ms at half rate | errors | generator CPU-s |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for row in "${ROWS[@]}"; do echo "$row"; done
)
{
    echo "$TABLE"
    echo
    echo "Requests of $BATCH bags (${bags_per:-?} bytes, ${attrs:-?} attributes per bag; pool $POOL, $WORKLOADS workload pairs), $CONCURRENCY calls in flight over $CONNECTIONS connections, $DURATION after a $WARMUP warm-up; server on CPU $SERVER_CPU, generator on CPU $LOAD_CPU."
    for n in "${NOTES[@]}"; do echo "$n"; done
} | tee "$WORK/table.md"

if [ "$RESULTS" != /dev/null ]; then
    {
        echo
        echo "## $(date -u +%Y-%m-%dT%H:%MZ) — bench-report.sh"
        echo
        echo "- command: \`$(printf '%q ' "$0" "$@")\` with DURATION=$DURATION WARMUP=$WARMUP CONCURRENCY=$CONCURRENCY CONNECTIONS=$CONNECTIONS BATCH=$BATCH POOL=$POOL NOOP_MODES=\"$NOOP_MODES\" LOAD_ARGS=\"$LOAD_ARGS\" SERVER_CMD=\"$SERVER_CMD\""
        machine_line
        commit_line
        echo
        cat "$WORK/table.md"
    } >>"$RESULTS"
    echo "bench-report: appended to $RESULTS" >&2
fi
