#!/usr/bin/env bash
# Sidecar benchmark: an API that answers `ok`, measured directly and through one hop of each
# proxy, in one run (the seed measured 59k req/s direct vs 7k through Istio 1.0's sidecar).
#
# The backend is nginx (`return 200 "ok"`, one worker). The hops, each given one thread so
# they compare per core: haproxy (nbthread 1), nginx (worker_processes 1, upstream
# keepalive), `mixer-proxy --worker-threads 1` (the sidecar binary, `mixer proxy` alone)
# with reports off, with reports on (to a `mixer telemetry` running beside it), and, when
# CHECKS=1, with reports and policy checks on (a `mixer policy` with a listchecker rule; the
# check cache is warm after the warm-up).
# Placement: every hop on CPU 0; the backend, the load generator and the telemetry/policy
# services on CPU 1 (they stand for the rest of the mesh).
#
# Loads: wrk (HTTP/1.1, fixed connections; rate and p50/p90/p99), h2load (HTTP/2 cleartext,
# prior knowledge; rate and mean), and fortio (Istio's own load tool; rate and p50/p90/p99)
# for the direct and mixer-reports-on cases. Each measurement follows a warm-up. The wrk and
# h2load targets take turns for ROUNDS rounds, and each figure is the median of its rounds
# (the req/s range is shown beside it): this machine's speed drifts by ±10 % over minutes,
# which one pass in a fixed order would charge to whichever targets came late. After the
# runs, the peak RSS (VmHWM) of each mixer proxy, and the telemetry's istio_requests_total
# against the requests the proxy served.
#
# Prints a Markdown table and appends it, with command, machine, date and commit, to
# load-tests/RESULTS.md; writes the numbers as JSON (load-tests/results/proxy-latest.json)
# and a plot (load-tests/results/proxy.svg). Loopback only; stops what it started.
#
# Usage: load-tests/bench-proxy.sh
# Environment (all optional): DURATION=10 WARMUP=3 CONNECTIONS=32 STREAMS=10 CHECKS=0 ROUNDS=3
#   NO_BUILD=1 (use target/release/mixer as it is), RESULTS (default load-tests/RESULTS.md;
#   /dev/null to not record)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-32}
STREAMS=${STREAMS:-10}
CHECKS=${CHECKS:-0}
ROUNDS=${ROUNDS:-3}
RESULTS=${RESULTS:-$ROOT/load-tests/RESULTS.md}
MIXER=$ROOT/target/release/mixer
# the sidecar binary (the same proxy as `mixer proxy`, mapping only its own code)
MIXER_PROXY=$ROOT/target/release/mixer-proxy
FORTIO=$HOME/.cache/mixer/bin/fortio
HOP_CPU=0
REST_CPU=1

if [ "$(nproc)" -lt 2 ]; then
    echo "bench-proxy: needs 2 CPUs (hops on CPU $HOP_CPU, the rest on CPU $REST_CPU)" >&2
    exit 2
fi
scripts/apt-install haproxy=haproxy nginx=nginx wrk=wrk h2load=nghttp2-client jq=jq
if [ ! -x "$FORTIO" ]; then
    # fortio's newer releases need grol.io modules the Go proxy here does not serve
    GOBIN=$(dirname "$FORTIO") go install fortio.org/fortio@v1.63.3
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -j2 -p mixer
fi

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start CPU NAME CMD...: runs CMD in the background pinned to CPU, logs to $WORK/NAME.log
start() {
    local cpu=$1 name=$2
    shift 2
    taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    eval "PID_${name//-/_}=$!"
}

# wait_port PORT: until something listens (10 s)
wait_port() {
    local i
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench-proxy: nothing listens on $1; logs:" >&2
    tail -n 20 "$WORK"/*.log >&2
    exit 1
}

# --- the backend and the peers ---------------------------------------------------------
cat >"$WORK/backend.conf" <<EOF
daemon off; worker_processes 1; pid $WORK/backend.pid; error_log $WORK/backend.err;
events { worker_connections 4096; }
http {
    access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
    client_body_temp_path $WORK/b-body; proxy_temp_path $WORK/b-proxy;
    fastcgi_temp_path $WORK/b-fcgi; uwsgi_temp_path $WORK/b-uwsgi; scgi_temp_path $WORK/b-scgi;
    server { listen 127.0.0.1:18080; location / { default_type text/plain; return 200 "ok\n"; } }
    server { listen 127.0.0.1:18079 http2; location / { default_type text/plain; return 200 "ok\n"; } }
}
EOF
start $REST_CPU backend nginx -c "$WORK/backend.conf" -e "$WORK/backend.err"

cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend h1
    bind 127.0.0.1:18081
    default_backend ok
frontend h2
    bind 127.0.0.1:18082 proto h2
    default_backend ok
backend ok
    server b1 127.0.0.1:18080
EOF
start $HOP_CPU haproxy haproxy -f "$WORK/haproxy.cfg" -db

cat >"$WORK/nginx-hop.conf" <<EOF
daemon off; worker_processes 1; pid $WORK/hop.pid; error_log $WORK/hop.err;
events { worker_connections 4096; }
http {
    access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
    client_body_temp_path $WORK/h-body; proxy_temp_path $WORK/h-proxy;
    fastcgi_temp_path $WORK/h-fcgi; uwsgi_temp_path $WORK/h-uwsgi; scgi_temp_path $WORK/h-scgi;
    upstream ok { server 127.0.0.1:18080; keepalive 64; }
    server {
        listen 127.0.0.1:18083;
        location / { proxy_pass http://ok; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:18084 http2;
        location / { proxy_pass http://ok; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
start $HOP_CPU nginx-hop nginx -c "$WORK/nginx-hop.conf" -e "$WORK/hop.err"

# --- mixer ----------------------------------------------------------------------------
start $REST_CPU telemetry "$MIXER" telemetry --grpc-addr 127.0.0.1:19091 \
    --metrics-addr 127.0.0.1:19422 --monitoring-addr 127.0.0.1:19014 --query-addr off \
    --worker-threads 1
# HTTP/1.1 to the backend whatever the client speaks, as haproxy and nginx do
proxy_flags=(--app 127.0.0.1:18080 --app-protocol http --namespace default
    --label app=bench-app --label version=v1 --worker-threads 1)
start $HOP_CPU mixer-off "$MIXER_PROXY" "${proxy_flags[@]}" --workload bench-app --telemetry off \
    --inbound 127.0.0.1:18085 --outbound 127.0.0.1:18185 --admin 127.0.0.1:18285
start $HOP_CPU mixer-on "$MIXER_PROXY" "${proxy_flags[@]}" --workload bench-app \
    --telemetry http://127.0.0.1:19091 \
    --inbound 127.0.0.1:18086 --outbound 127.0.0.1:18186 --admin 127.0.0.1:18286
if [ "$CHECKS" = 1 ]; then
    mkdir -p "$WORK/policy"
    cp src/up/policy.yaml "$WORK/policy/"
    sed -i 's/demo-app/bench-app-checked/' "$WORK/policy/policy.yaml"
    start $REST_CPU policy "$MIXER" policy --config "$WORK/policy" \
        --grpc-addr 127.0.0.1:19092 --monitoring-addr 127.0.0.1:19015 --worker-threads 1
    wait_port 19092
    start $HOP_CPU mixer-check "$MIXER_PROXY" "${proxy_flags[@]}" --workload bench-app-checked \
        --telemetry http://127.0.0.1:19091 --policy http://127.0.0.1:19092 \
        --inbound 127.0.0.1:18087 --outbound 127.0.0.1:18187 --admin 127.0.0.1:18287
fi
for port in 18080 18079 18081 18082 18083 18084 19091 18085 18086; do wait_port $port; done
[ "$CHECKS" = 1 ] && wait_port 18087

# --- the runs -------------------------------------------------------------------------
: >"$WORK/rows.jsonl"
# record TOOL TARGET RPS P50 P90 P99 MEAN (ms; "" when the tool does not tell)
record() {
    jq -cn --arg tool "$1" --arg target "$2" --arg rps "$3" --arg p50 "$4" --arg p90 "$5" \
        --arg p99 "$6" --arg mean "$7" \
        '{tool:$tool,target:$target,rps:($rps|tonumber),p50:$p50,p90:$p90,p99:$p99,mean:$mean}' \
        >>"$WORK/rows.jsonl"
}

# wrk's latency "1.23ms" / "456.00us" / "1.20s" in ms
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "%s", v }'
}

run_wrk() {
    local name=$1 port=$2 out
    taskset -c $REST_CPU wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "http://127.0.0.1:$port/" >/dev/null
    out=$(taskset -c $REST_CPU wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/")
    echo "$out" >"$WORK/wrk-$name.txt"
    if echo "$out" | grep -q "Non-2xx"; then
        echo "bench-proxy: $name answered non-2xx:" >&2
        echo "$out" >&2
        exit 1
    fi
    record wrk "$name" "$(echo "$out" | awk '/^Requests\/sec/ {print $2}')" \
        "$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")" \
        "$(to_ms "$(echo "$out" | awk '$1 == "90%" {print $2}')")" \
        "$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")" \
        "$(to_ms "$(echo "$out" | awk '$1 == "Latency" && $2 != "Distribution" {print $2}')")"
}

run_h2load() {
    local name=$1 port=$2 out
    taskset -c $REST_CPU h2load -c"$CONNECTIONS" -m"$STREAMS" -D"$WARMUP" "http://127.0.0.1:$port/" >/dev/null
    out=$(taskset -c $REST_CPU h2load -c"$CONNECTIONS" -m"$STREAMS" -D"$DURATION" "http://127.0.0.1:$port/")
    echo "$out" >"$WORK/h2load-$name.txt"
    if ! echo "$out" | grep -q "status codes: [0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx"; then
        echo "bench-proxy: $name: h2load saw failures:" >&2
        echo "$out" >&2
        exit 1
    fi
    record h2load "$name" "$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')" \
        "" "" "" "$(to_ms "$(echo "$out" | awk '$1 == "time" && $3 == "request:" {print $6}')")"
}

run_fortio() {
    local name=$1 port=$2
    taskset -c $REST_CPU "$FORTIO" load -quiet -qps 0 -c "$CONNECTIONS" -t "${WARMUP}s" \
        "http://127.0.0.1:$port/" >/dev/null 2>&1
    taskset -c $REST_CPU "$FORTIO" load -quiet -qps 0 -c "$CONNECTIONS" -t "${DURATION}s" \
        -p "50,90,99" -json "$WORK/fortio-$name.json" "http://127.0.0.1:$port/" >/dev/null 2>&1
    local j=$WORK/fortio-$name.json
    # fortio reports seconds; ms with 3 decimals like the other tools
    ms() { jq -r "$1 * 1000 * 1000 | round / 1000" "$j"; }
    record fortio "$name" "$(jq '.ActualQPS' "$j")" \
        "$(ms '(.DurationHistogram.Percentiles[] | select(.Percentile == 50) | .Value)')" \
        "$(ms '(.DurationHistogram.Percentiles[] | select(.Percentile == 90) | .Value)')" \
        "$(ms '(.DurationHistogram.Percentiles[] | select(.Percentile == 99) | .Value)')" \
        "$(ms '.DurationHistogram.Avg')"
}

h1_targets=(direct:18080 haproxy:18081 nginx:18083 mixer-reports-off:18085 mixer-reports-on:18086)
h2_targets=(direct:18079 haproxy:18082 nginx:18084 mixer-reports-off:18085 mixer-reports-on:18086)
if [ "$CHECKS" = 1 ]; then
    h1_targets+=(mixer-reports-checks:18087)
    h2_targets+=(mixer-reports-checks:18087)
fi
for round in $(seq 1 "$ROUNDS"); do
    for t in "${h1_targets[@]}"; do
        echo "round $round: wrk ${t%%:*}" >&2
        run_wrk "${t%%:*}" "${t#*:}"
    done
    for t in "${h2_targets[@]}"; do
        echo "round $round: h2load ${t%%:*}" >&2
        run_h2load "${t%%:*}" "${t#*:}"
    done
done
for t in direct:18080 mixer-reports-on:18086; do
    echo "fortio ${t%%:*}" >&2
    run_fortio "${t%%:*}" "${t#*:}"
done

# --- memory and the report count -------------------------------------------------------
hwm() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
RSS_OFF=$(hwm "$PID_mixer_off")
RSS_ON=$(hwm "$PID_mixer_on")
RSS_CHECK=""
[ "$CHECKS" = 1 ] && RSS_CHECK=$(hwm "$PID_mixer_check")
sleep 2 # the last batch (reports wait up to 1 s)
served=$(curl -s http://127.0.0.1:18286/metrics |
    awk '/^mixer_proxy_requests_total/ {s += $NF} END {printf "%d", s}')
dropped=$(curl -s http://127.0.0.1:18286/metrics |
    awk '/^mixer_proxy_reports_dropped_total/ {s += $NF} END {printf "%d", s}')
counted=$(curl -s http://127.0.0.1:19422/metrics |
    awk '/^istio_requests_total\{/ && /destination_workload="bench-app"/ {s += $NF} END {printf "%d", s}')

# --- record -------------------------------------------------------------------------
# one row per tool and target, in the order they ran: the median of each figure over the
# rounds (empty when the tool does not tell), the req/s range and the number of rounds
jq -s -c '
    def med: map(select(. != "") | tonumber) | sort
        | if length == 0 then "" else .[(length - 1) / 2 | floor] end;
    reduce .[] as $r ([]; if any(.[]; .[0].tool == $r.tool and .[0].target == $r.target)
        then map(if .[0].tool == $r.tool and .[0].target == $r.target then . + [$r] else . end)
        else . + [[$r]] end)
    | .[] | {tool: .[0].tool, target: .[0].target, rps: (map(.rps) | med),
        rps_min: (map(.rps) | min), rps_max: (map(.rps) | max), rounds: length,
        p50: (map(.p50) | med | tostring), p90: (map(.p90) | med | tostring),
        p99: (map(.p99) | med | tostring), mean: (map(.mean) | med | tostring)}
' "$WORK/rows.jsonl" >"$WORK/medians.jsonl"

COMMIT=$(git rev-parse --short HEAD)
DIRTY=$(git diff --quiet HEAD -- . ':!load-tests/RESULTS.md' ':!load-tests/results' || echo "+changes")
mkdir -p load-tests/results
jq -s --arg commit "$COMMIT$DIRTY" --arg date "$(date -u +%FT%TZ)" --arg rss_off "$RSS_OFF" \
    --arg rss_on "$RSS_ON" --arg rss_check "$RSS_CHECK" --arg served "$served" \
    --arg counted "$counted" --arg dropped "$dropped" \
    '{commit:$commit,date:$date,rows:.,rss_mb:{reports_off:$rss_off,reports_on:$rss_on,checks:$rss_check},requests_served:$served,reports_dropped:$dropped,istio_requests_total:$counted}' \
    "$WORK/medians.jsonl" >load-tests/results/proxy-latest.json
python3 load-tests/plot_proxy.py load-tests/results/proxy-latest.json load-tests/results/proxy.svg

{
    echo
    echo "## Sidecar: an \`ok\` API direct and through one hop ($(date -u +%F), commit $COMMIT$DIRTY)"
    echo
    echo "Command: \`load-tests/bench-proxy.sh\` (DURATION=${DURATION}s WARMUP=${WARMUP}s" \
        "CONNECTIONS=$CONNECTIONS STREAMS=$STREAMS CHECKS=$CHECKS ROUNDS=$ROUNDS; medians of the" \
        "rounds, wrk and h2load targets taking turns). Machine: $(nproc) CPUs," \
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load average before" \
        "the run $LOADAVG. Every hop one thread on CPU $HOP_CPU; backend (nginx), load generators" \
        "and the telemetry/policy services on CPU $REST_CPU."
    echo
    echo "| tool | target | req/s | req/s range | p50 ms | p90 ms | p99 ms | mean ms |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    jq -r '"| \(.tool) | \(.target) | \(.rps | floor) | \(.rps_min | floor)–\(.rps_max | floor) | \(.p50) | \(.p90) | \(.p99) | \(.mean) |"' \
        "$WORK/medians.jsonl"
    echo
    echo "Peak RSS of mixer proxy: reports off $RSS_OFF MB, reports on $RSS_ON MB${RSS_CHECK:+, reports and checks $RSS_CHECK MB}." \
        "Requests the reporting proxy served: $served; reports it dropped (counted, by design, when" \
        "the telemetry service cannot keep up): $dropped; istio_requests_total at the telemetry" \
        "service: $counted."
} | tee -a "$RESULTS"
