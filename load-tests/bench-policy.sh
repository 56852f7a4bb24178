#!/usr/bin/env bash
# Policy (Check) benchmark, issue 5: `mixer policy` with three rules (listchecker whitelist,
# rbac, memquota; load-tests/policy-bench) against the no-op Check server, the ceiling of the
# gRPC stack itself (decode with prost, answer OK).
#
# Both servers run pinned to CPU 0 (taskset) with one runtime worker; check-load runs pinned to
# CPU 1. In one go, each run $DURATION after a $WARMUP warm-up:
#   1. no-op, max rate                     4. no-op at $RATE checks/s
#   2. mixer policy cached, max rate       5. mixer policy cached at $RATE checks/s
#   3. mixer policy uncached, max rate     6. mixer policy uncached at $RATE checks/s
# "cached": a pool of $POOL requests replayed, every Check a decision-cache hit after warm-up;
# "uncached": every Check has a unique request path (read by the rbac rule) and dedup id and
# asks for the `requestcount` quota, so all three rules run on every call.
# Reports checks/s and its ratio to the no-op's (targets: cached >= 80 %, uncached >= 50 %),
# server CPU-seconds per million checks and checks/s per server core (the ratio that holds up
# on a shared machine), decision-cache hits and misses read from the monitoring endpoint, and
# latency at $RATE checks/s (target: p99 <= 1 ms). Prints a Markdown table and appends it, with
# the command, machine, date and commit, to load-tests/RESULTS.md. Loopback only; every server
# it started is stopped by PID on exit, failure included. Exits 1 if a run failed (check-load
# fails on any error or denial).
#
# Usage: load-tests/bench-policy.sh
# Environment (all optional):
#   DURATION=10s WARMUP=2s RATE=5000 CONCURRENCY=64 CONNECTIONS=4 POOL=64 WORKLOADS=20
#   CACHE_ENTRIES=10000  the policy server's --check-cache-entries
#   LOAD_ARGS    extra check-load arguments
#   NO_BUILD=1   use the binaries in target/release as they are
#   RESULTS      where to append (default load-tests/RESULTS.md; /dev/null to not record)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
RATE=${RATE:-5000}
CONCURRENCY=${CONCURRENCY:-64}
CONNECTIONS=${CONNECTIONS:-4}
POOL=${POOL:-64}
WORKLOADS=${WORKLOADS:-20}
CACHE_ENTRIES=${CACHE_ENTRIES:-10000}
LOAD_ARGS=${LOAD_ARGS:-}
RESULTS=${RESULTS:-$ROOT/load-tests/RESULTS.md}
NOOP_ADDR=127.0.0.1:19291
POLICY_ADDR=127.0.0.1:19391
POLICY_MONITORING=127.0.0.1:19314
CONFIG=load-tests/policy-bench

BENCH=bench-policy
BENCH_TOOLS=curl
# shellcheck source=load-tests/bench-lib.sh
. load-tests/bench-lib.sh

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -j2 -p mixer -p mixer-load-tests >&2
fi
for b in mixer check-load check-noop; do
    [ -x "$BIN/$b" ] || { echo "$BENCH: $BIN/$b does not exist (build it, or unset NO_BUILD)" >&2; exit 2; }
done
WARMUP_S=$(seconds_of "$WARMUP")
export WARMUP_S

# start NAME ADDR CMD...: a server pinned to the server CPU; sets STARTED to its PID
start() {
    local name=$1 addr=$2
    shift 2
    local log=$WORK/server-$name.log
    echo "$BENCH: $name: $*" >&2
    taskset -c "$SERVER_CPU" "$@" >"$log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
    if ! wait_for_port "$addr" "$STARTED"; then
        echo "$BENCH: $name did not start listening on $addr; its output:" >&2
        cat "$log" >&2
        exit 1
    fi
}

# the decision cache's hits and misses so far, "HITS MISSES"
cache_counts() {
    curl -sf "http://$POLICY_MONITORING/metrics" | awk '
        /^mixer_policy_check_cache_hits_total / { h = $2 }
        /^mixer_policy_check_cache_misses_total / { m = $2 }
        END { printf "%d %d", h, m }'
}

FAILED=0
NOTES=()

# run NAME PID ADDR RATE check-load-args...: one load run against the server PID at ADDR;
# writes $WORK/NAME.json with the generator's JSON plus the server's CPU and cache counts
run() {
    local name=$1 pid=$2 addr=$3 rate=$4
    shift 4
    local c0 c1 h0=(0 0) h1=(0 0) out
    echo "$BENCH: run $name" >&2
    if [ "$pid" = "$POLICY_PID" ]; then read -ra h0 <<<"$(cache_counts)"; fi
    c0=$(cpu_seconds "$pid")
    # shellcheck disable=SC2086
    if ! run_child "$WORK/$name.out" taskset -c "$LOAD_CPU" "$BIN/check-load" --target "$addr" \
        --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" --concurrency "$CONCURRENCY" \
        --connections "$CONNECTIONS" --pool "$POOL" --workloads "$WORKLOADS" $LOAD_ARGS "$@"; then
        FAILED=1
        NOTES+=("- **$name failed** (check-load: errors or denials; its summary is on stderr)")
    fi
    out=$(cat "$WORK/$name.out")
    c1=$(cpu_seconds "$pid")
    if [ "$pid" = "$POLICY_PID" ]; then read -ra h1 <<<"$(cache_counts)"; fi
    [ -n "$out" ] || out='{}'
    jq -c --arg cpu "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
        --arg hits "$((h1[0] - h0[0]))" --arg misses "$((h1[1] - h0[1]))" \
        --arg cached "$([ "$pid" = "$POLICY_PID" ] && echo 1 || echo 0)" \
        '. + {server_cpu_s: ($cpu | tonumber), hits: ($hits | tonumber),
              misses: ($misses | tonumber), policy: ($cached == "1")}' \
        <<<"$out" >"$WORK/$name.json"
}

start no-op "$NOOP_ADDR" "$BIN/check-noop" --grpc-addr "$NOOP_ADDR" --worker-threads 1
NOOP_PID=$STARTED
start policy "$POLICY_ADDR" "$BIN/mixer" policy --config "$CONFIG" --grpc-addr "$POLICY_ADDR" \
    --monitoring-addr "$POLICY_MONITORING" --worker-threads 1 --check-cache-entries "$CACHE_ENTRIES"
POLICY_PID=$STARTED
POLICY_CMD="mixer policy --config $CONFIG --grpc-addr $POLICY_ADDR --monitoring-addr $POLICY_MONITORING --worker-threads 1 --check-cache-entries $CACHE_ENTRIES"

run noop-max "$NOOP_PID" "$NOOP_ADDR" 0 --mode cached
run cached-max "$POLICY_PID" "$POLICY_ADDR" 0 --mode cached
run uncached-max "$POLICY_PID" "$POLICY_ADDR" 0 --mode uncached
run noop-rate "$NOOP_PID" "$NOOP_ADDR" "$RATE" --mode cached
run cached-rate "$POLICY_PID" "$POLICY_ADDR" "$RATE" --mode cached
run uncached-rate "$POLICY_PID" "$POLICY_ADDR" "$RATE" --mode uncached
stop_server "$POLICY_PID"
stop_server "$NOOP_PID"

# one table row per run; ratios against the no-op run at the same rate setting
row() { # name label noop-name
    [ -n "$(jq -r '.requests // empty' "$WORK/$1.json")" ] || { echo "| $2 | failed | | | | | | | | | |"; return; }
    jq -rn --slurpfile r "$WORK/$1.json" --slurpfile n "$WORK/$3.json" --arg name "$2" '
        def r(x): (x * 10 | round) / 10;
        def ms(us): (us / 10 | round) / 100;
        def pct(a; b): if b > 0 then "\(r(a / b * 100))%" else "-" end;
        $r[0] as $m | $n[0] as $z
        | def per_m(x): if (x.bags_total // 0) > 0 then x.server_cpu_s / x.bags_total * 1e6 else 0 end;
          def per_core(x): if per_m(x) > 0 then 1e6 / per_m(x) else 0 end;
          ($m.requests_per_s // 0) as $rate
        | "| \($name) | \($rate | round) | \(pct($rate; $z.requests_per_s // 0)) "
          + "| \(pct($m.server_cpu_s; ($m.elapsed_s // 0) + (env.WARMUP_S | tonumber))) "
          + "| \(r(per_m($m))) | \(per_core($m) | round) | \(pct(per_core($m); per_core($z))) "
          + "| \(ms($m.latency_us.p50 // 0)) / \(ms($m.latency_us.p99 // 0)) / \(ms($m.latency_us.p999 // 0)) "
          + "| \(if ($m.rate // 0) > 0 then ms($m.schedule_lag_us.p99 // 0) else "-" end) "
          + "| \(if $m.policy then "\($m.hits) / \($m.misses)" else "-" end) "
          + "| \($m.denied // "-") / \($m.error_count // "-") |"'
}

TABLE=$(
    echo "| run | checks/s | of no-op | server CPU | server CPU-s / M checks | checks/s per server core | of no-op per core | p50 / p99 / p99.9 ms | sent late p99 ms | cache hits / misses | denied / errors |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    row noop-max "no-op, max rate" noop-max
    row cached-max "policy cached, max rate" noop-max
    row uncached-max "policy uncached, max rate" noop-max
    row noop-rate "no-op at $RATE/s" noop-rate
    row cached-rate "policy cached at $RATE/s" noop-rate
    row uncached-rate "policy uncached at $RATE/s" noop-rate
)
bytes=$(jq -r '.bytes_per_bag // empty' "$WORK/cached-max.json")
attrs=$(jq -r '.attributes_per_bag // empty' "$WORK/cached-max.json")
{
    echo "$TABLE"
    echo
    echo "Checks of one inbound bag (${attrs:-?} attributes, ${bytes:-?} bytes cached / a quota and dedup id more uncached; pool $POOL, $WORKLOADS workload pairs), $CONCURRENCY calls in flight over $CONNECTIONS connections, $DURATION after a $WARMUP warm-up; servers on CPU $SERVER_CPU with one worker thread, check-load on CPU $LOAD_CPU. Targets (issue 5): cached >= 80 % and uncached >= 50 % of the no-op; p99 <= 1 ms at $RATE/s. \"Sent late\": how far behind schedule check-load sent (it sleeps until 1 ms before each call is due and yields for the rest; late mostly when every call in flight waits on the server, then charged from its due time); server CPU and cache counts include the warm-up."
    for n in "${NOTES[@]}"; do echo "$n"; done
} | tee "$WORK/table.md"

if [ "$RESULTS" != /dev/null ]; then
    {
        echo
        echo "## $(date -u +%Y-%m-%dT%H:%MZ) — bench-policy.sh"
        echo
        echo "- command: \`$(printf '%q ' "$0" "$@")\` with DURATION=$DURATION WARMUP=$WARMUP RATE=$RATE CONCURRENCY=$CONCURRENCY CONNECTIONS=$CONNECTIONS POOL=$POOL WORKLOADS=$WORKLOADS LOAD_ARGS=\"$LOAD_ARGS\"; server: \`$POLICY_CMD\`"
        machine_line
        commit_line
        echo
        cat "$WORK/table.md"
    } >>"$RESULTS"
    echo "$BENCH: appended to $RESULTS" >&2
fi
exit "$FAILED"
