#!/usr/bin/env bash
# Span-write benchmark: how many spans/s the telemetry service writes into a local Cassandra
# node, against a raw `scylla` insert loop writing the same rows, in one run on one node.
#
#   1. span-write-raw, sequential: each span's rows one after another, CONCURRENCY spans in
#      flight (the round trips the writer made before it issued index rows concurrently).
#   2. span-write-raw, concurrent: all of a span's rows at once, CONCURRENCY spans in flight.
#      This is the baseline: plain prepared inserts, nothing else.
#   3. mixer telemetry --cassandra, fed by report-load with every trace sampled at
#      RATE_FACTOR x the baseline's spans/s (more than Cassandra takes: the queue fills and
#      drops newest); spans written/s from mixer's own counter over DURATION after WARMUP.
#   4. The same telemetry at LOW_FACTOR x what it wrote in 3 (nothing dropped): its CPU
#      seconds per span (/proc/PID/stat), which include handling the Report of the bag that
#      made the span.
#
# The raw loop's spans are the ones the service makes from report-load's bags (same pool,
# batch, seed), written with the telemetry crate's row builders and CQL. Nothing is pinned:
# Cassandra needs both cores. Prints a Markdown table and appends it, with the machine, date
# and commit, to load-tests/RESULTS.md.
#
# Usage: load-tests/bench-spans.sh
# Environment (all optional):
#   MIXER_CASSANDRA  host:port of a running node to use; otherwise one is started with
#                    scripts/start-cassandra in a temporary dir on MIXER_CASSANDRA_PORT
#                    (default 19142) / MIXER_CASSANDRA_STORAGE_PORT (default 17142) and
#                    stopped (by its PID) at the end
#   KEYSPACE=mixer_bench CONCURRENCY=64 DURATION=20s WARMUP=5s RATE_FACTOR=1.5 LOW_FACTOR=0.7
#   POOL=64 BATCH=100
#   NO_BUILD=1   use the binaries in target/release as they are
#   RESULTS      where to append (default load-tests/RESULTS.md; /dev/null to not record)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
KEYSPACE=${KEYSPACE:-mixer_bench}
CONCURRENCY=${CONCURRENCY:-64}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
RATE_FACTOR=${RATE_FACTOR:-1.5}
LOW_FACTOR=${LOW_FACTOR:-0.7}
POOL=${POOL:-64}
BATCH=${BATCH:-100}
RESULTS=${RESULTS:-$ROOT/load-tests/RESULTS.md}
GRPC=127.0.0.1:19291
MONITORING=127.0.0.1:19293

BENCH=bench-spans
BENCH_TOOLS=curl
# shellcheck source=load-tests/bench-lib.sh
. load-tests/bench-lib.sh

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -j2 -p mixer -p mixer-load-tests >&2
fi

CASS_DIR=
stop_cassandra() {
    if [ -n "$CASS_DIR" ]; then
        scripts/stop-cassandra "$CASS_DIR" || true
        rm -rf "$CASS_DIR"
        CASS_DIR=
    fi
}
trap 'stop_cassandra; cleanup' EXIT
if [ -z "${MIXER_CASSANDRA:-}" ]; then
    export MIXER_CASSANDRA_PORT=${MIXER_CASSANDRA_PORT:-19142}
    export MIXER_CASSANDRA_STORAGE_PORT=${MIXER_CASSANDRA_STORAGE_PORT:-17142}
    CASS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-spans-cassandra.XXXXXX")
    scripts/start-cassandra "$CASS_DIR" >/dev/null
    MIXER_CASSANDRA=127.0.0.1:$MIXER_CASSANDRA_PORT
fi
CASS_PID=$(cat "$CASS_DIR/cassandra.pid" 2>/dev/null || echo)

WARMUP_S=$(seconds_of "$WARMUP")
DURATION_S=$(seconds_of "$DURATION")

raw() { # mode [extra args]
    local mode=$1
    shift
    echo "bench-spans: raw $mode" >&2
    run_child "$WORK/raw-$mode.json" "$BIN/span-write-raw" --cassandra "$MIXER_CASSANDRA" \
        --keyspace "$KEYSPACE" --concurrency "$CONCURRENCY" --mode "$mode" \
        --duration "$DURATION" --warmup "$WARMUP" --pool "$POOL" --batch "$BATCH" "$@"
    cat "$WORK/raw-$mode.json" >&2
}

# the value of an unlabelled or first matching sample on the monitoring port
metric() { # name [needle]
    curl -fsS "http://$MONITORING/metrics" | grep -E "^$1(\{| )" | grep -F -- "${2:-}" |
        head -1 | awk '{ print $NF }'
}

# telemetry RATE_BAGS_PER_S: loads it for WARMUP + DURATION; prints "spans/s cpu_s spans
# received dropped" measured over DURATION after WARMUP
telemetry_run() {
    local bags_per_s=$1 req_rate
    req_rate=$(awk -v b="$bags_per_s" -v n="$BATCH" 'BEGIN { printf "%.1f", b / n }')
    # shellcheck disable=SC2086
    "$BIN/report-load" --target "$GRPC" --rate "$req_rate" --sampled-percent 100 \
        --pool "$POOL" --batch "$BATCH" --concurrency 16 --connections 2 \
        --warmup 0s --duration "$((${WARMUP_S%.*} + ${DURATION_S%.*} + 2))s" \
        >"$WORK/load-$bags_per_s.json" 2>"$WORK/load-$bags_per_s.err" &
    local load=$!
    PIDS+=("$load")
    sleep "$WARMUP_S"
    local w0 r0 d0 c0 t0 w1 r1 d1 c1 t1
    w0=$(metric mixer_traces_spans_written_total)
    r0=$(metric mixer_traces_spans_received_total)
    d0=$(metric mixer_traces_spans_dropped_total 'reason="queue_full"')
    c0=$(cpu_seconds "$TPID")
    t0=$(date +%s.%N)
    sleep "$DURATION_S"
    w1=$(metric mixer_traces_spans_written_total)
    r1=$(metric mixer_traces_spans_received_total)
    d1=$(metric mixer_traces_spans_dropped_total 'reason="queue_full"')
    c1=$(cpu_seconds "$TPID")
    t1=$(date +%s.%N)
    wait "$load" || true
    awk -v w0="$w0" -v w1="$w1" -v r0="$r0" -v r1="$r1" -v d0="$d0" -v d1="$d1" \
        -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%.1f %.3f %d %d %d\n", (w1 - w0) / (t1 - t0), c1 - c0, w1 - w0, r1 - r0, d1 - d0 }'
}

raw sequential --create-schema
raw concurrent
raw_seq=$(jq -r .spans_per_s "$WORK/raw-sequential.json")
raw_con=$(jq -r .spans_per_s "$WORK/raw-concurrent.json")
rows=$(jq -r .rows_per_span "$WORK/raw-concurrent.json")

echo "bench-spans: telemetry" >&2
"$BIN/mixer" telemetry --grpc-addr "$GRPC" --metrics-addr 127.0.0.1:19292 \
    --monitoring-addr "$MONITORING" --query-addr off --cassandra "$MIXER_CASSANDRA" \
    --cassandra-keyspace "$KEYSPACE" --traces-max-in-flight "$CONCURRENCY" \
    >"$WORK/telemetry.log" 2>&1 &
TPID=$!
PIDS+=("$TPID")
wait_for_port "$MONITORING" "$TPID" || { cat "$WORK/telemetry.log" >&2; exit 1; }
for _ in $(seq 1 600); do
    [ "$(metric mixer_traces_cassandra_connected)" = 1 ] && break
    sleep 0.1
done
[ "$(metric mixer_traces_cassandra_connected)" = 1 ] || {
    echo "bench-spans: telemetry did not connect to $MIXER_CASSANDRA" >&2
    cat "$WORK/telemetry.log" >&2
    exit 1
}

high=$(awk -v r="$raw_con" -v f="$RATE_FACTOR" 'BEGIN { printf "%d", r * f }')
read -r sat_rate sat_cpu sat_written sat_received sat_dropped <<<"$(telemetry_run "$high")"
# let the saturated run's backlog drain, so the next run measures only its own spans
for _ in $(seq 1 1200); do
    [ "$(metric mixer_traces_queue_depth)" = 0 ] && [ "$(metric mixer_traces_in_flight)" = 0 ] && break
    sleep 0.5
done
low=$(awk -v r="$sat_rate" -v f="$LOW_FACTOR" 'BEGIN { printf "%d", r * f }')
read -r low_rate low_cpu low_written low_received low_dropped <<<"$(telemetry_run "$low")"
retries=$(metric mixer_traces_span_write_retries_total)
write_failed=$(metric mixer_traces_spans_dropped_total 'reason="write_failed"')
stop_server "$TPID"
cass_cpu=
[ -n "$CASS_PID" ] && cass_cpu=$(cpu_seconds "$CASS_PID")

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", a / b * 100; else print "-" }'; }
us_per() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", c / n * 1e6; else print "-" }'; }
TABLE=$(
    echo "| writer | spans/s written | of raw (concurrent) | CPU µs per span (the writer's process) | notes |"
    echo "| --- | --- | --- | --- | --- |"
    for m in sequential concurrent; do
        f=$WORK/raw-$m.json
        echo "| raw scylla loop, $m rows | $(jq -r '.spans_per_s | round' "$f") | $(pct "$(jq -r .spans_per_s "$f")" "$raw_con") | $(jq -r .cpu_us_per_span "$f") | $(jq -r '"\(.rows_per_span) rows/span, \(.errors) errors, \(.distinct_spans) distinct spans replayed"' "$f") |"
    done
    echo "| mixer telemetry, saturated (offered $high spans/s) | ${sat_rate%.*} | $(pct "$sat_rate" "$raw_con") | $(us_per "$sat_cpu" "$sat_written") | received $sat_received, dropped queue_full $sat_dropped in the window; CPU counts every bag's Report |"
    echo "| mixer telemetry, below capacity (offered $low spans/s) | ${low_rate%.*} | - | $(us_per "$low_cpu" "$low_written") | received $low_received, dropped $low_dropped in the window |"
)
{
    echo "$TABLE"
    echo
    echo "$CONCURRENCY spans in flight everywhere; $rows rows per span; $DURATION measured after $WARMUP; Cassandra 5.0 on $MIXER_CASSANDRA (one node, on the same 2 CPUs); pool $POOL x batch $BATCH bags, every trace sampled. Write retries during the telemetry runs: $retries; dropped write_failed: $write_failed.${cass_cpu:+ Cassandra CPU-s over the whole run: $cass_cpu.}"
} | tee "$WORK/table.md"

if [ "$RESULTS" != /dev/null ]; then
    {
        echo
        echo "## $(date -u +%Y-%m-%dT%H:%MZ) — bench-spans.sh"
        echo
        echo "- command: \`$(printf '%q ' "$0" "$@")\` with CONCURRENCY=$CONCURRENCY DURATION=$DURATION WARMUP=$WARMUP RATE_FACTOR=$RATE_FACTOR LOW_FACTOR=$LOW_FACTOR POOL=$POOL BATCH=$BATCH"
        machine_line
        commit_line
        echo
        cat "$WORK/table.md"
    } >>"$RESULTS"
    echo "bench-spans: appended to $RESULTS" >&2
fi
