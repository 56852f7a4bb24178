#!/usr/bin/env bash
# A/B of two `mixer` binaries as sidecars, beside haproxy, in one run: the way to tell whether
# a change to the proxy helps on a machine whose speed drifts (compare within a run only).
#
# Every hop one thread on CPU 0; the backend (nginx `return 200 "ok"`), wrk and one
# `mixer telemetry` (from NEW) on CPU 1. Runs wrk -t1 -c32 for SECS seconds (after a 2 s
# warm-up) against haproxy, OLD with reports on, NEW with reports on and NEW with reports off,
# ROUNDS times, and prints per target: req/s, p99, the hop's user and system CPU per request
# (from /proc/PID/stat), the telemetry service's CPU per request, and the hop's peak RSS.
# NEW_ARGS are extra flags for NEW's reporting proxy. OLD_TELEMETRY=1 gives OLD's proxy a
# telemetry service from OLD (else both report to NEW's): for changes on the service's side.
#
# Usage: load-tests/ab-proxy.sh OLD_MIXER NEW_MIXER
# Environment: SECS=8 ROUNDS=2 NEW_ARGS= OLD_TELEMETRY=0
# Loopback only (ports 28080–28288, 29014–29422); stops what it started.
set -euo pipefail
OLD=${1:?usage: ab-proxy.sh OLD_MIXER NEW_MIXER}
NEW=${2:?usage: ab-proxy.sh OLD_MIXER NEW_MIXER}
SECS=${SECS:-8}
ROUNDS=${ROUNDS:-2}
for tool in nginx haproxy wrk taskset bc curl; do
    command -v "$tool" >/dev/null || {
        echo "ab-proxy: $tool is needed (bench-proxy.sh installs the load tools)" >&2
        exit 1
    }
done
# shellcheck source=load-tests/proxy-lib.sh
. "$(dirname "$0")/proxy-lib.sh"

cat >"$W/haproxy.cfg" <<EOC
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend h1
    bind 127.0.0.1:28081
    default_backend ok
backend ok
    server b1 127.0.0.1:28080
EOC
ok_backend 28080 1
taskset -c 0 haproxy -f "$W/haproxy.cfg" -db >/dev/null 2>&1 &
PIDS+=($!)
HAP=$!
# telemetry BIN OFFSET: one telemetry service on CPU 1, gRPC on 29091 + OFFSET
telemetry() {
    taskset -c 1 "$1" telemetry --grpc-addr "127.0.0.1:$((29091 + $2))" \
        --metrics-addr "127.0.0.1:$((29422 + $2))" --monitoring-addr "127.0.0.1:$((29014 + $2))" \
        --query-addr off --worker-threads 1 >"$W/tel-$2.log" 2>&1 &
    PIDS+=($!)
}
telemetry "$NEW" 0
TEL=$!
TEL_OLD=$TEL
OLD_TELEMETRY_URL=http://127.0.0.1:29091
if [ "${OLD_TELEMETRY:-0}" = 1 ]; then
    telemetry "$OLD" 100
    TEL_OLD=$!
    OLD_TELEMETRY_URL=http://127.0.0.1:29191
fi

# proxy BIN TELEMETRY PORT [FLAGS]: one sidecar on CPU 0, inbound PORT, admin PORT+200
proxy() {
    local flags=${4:-}
    # shellcheck disable=SC2086 # FLAGS is a list of flags
    taskset -c 0 "$1" proxy --app 127.0.0.1:28080 --app-protocol http --namespace default \
        --label app=bench-app --label version=v1 --worker-threads 1 --workload bench-app \
        --telemetry "$2" --inbound "127.0.0.1:$3" --outbound "127.0.0.1:$(($3 + 100))" \
        --admin "127.0.0.1:$(($3 + 200))" $flags >"$W/proxy-$3.log" 2>&1 &
    PIDS+=($!)
}
proxy "$OLD" "$OLD_TELEMETRY_URL" 28086
P_OLD=$!
proxy "$NEW" http://127.0.0.1:29091 28087 "${NEW_ARGS:-}"
P_NEW=$!
proxy "$NEW" off 28088
P_OFF=$!
# the backend and haproxy answer `ok`, each sidecar's admin port says ready
for url in 28080/ 28081/ 28286/readyz 28287/readyz 28288/readyz; do
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "127.0.0.1:$url" && break
        sleep 0.2
    done
done

# run NAME PORT PID [TELEMETRY_PID]
run() {
    local tel=${4:-$TEL}
    taskset -c 1 wrk -t1 -c32 -d2s "http://127.0.0.1:$2/" >/dev/null
    local u0 s0 u1 s1 t0 t1 req
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$3/stat")
    t0=$(awk '{print $14 + $15}' "/proc/$tel/stat")
    taskset -c 1 wrk -t1 -c32 -d"${SECS}s" --latency "http://127.0.0.1:$2/" >"$W/wrk.txt"
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$3/stat")
    t1=$(awk '{print $14 + $15}' "/proc/$tel/stat")
    req=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
    # clock ticks of 1/100 s: ticks × 10,000 / requests = µs per request; the telemetry
    # service's CPU (on CPU 1, beside wrk and the backend) is what the reports cost there
    printf "%-8s %9s req/s  p99 %8s  user/req %5.1f µs  sys/req %5.1f µs  telemetry/req %4.1f µs  peak RSS %s\n" "$1" \
        "$(awk '/Requests\/sec/ {print $2}' "$W/wrk.txt")" \
        "$(awk '/ 99%/ {print $2}' "$W/wrk.txt")" \
        "$(echo "($u1 - $u0) * 10000 / $req" | bc -l)" \
        "$(echo "($s1 - $s0) * 10000 / $req" | bc -l)" \
        "$(echo "($t1 - $t0) * 10000 / $req" | bc -l)" \
        "$(awk '/VmHWM/ {print $2 $3}' "/proc/$3/status")"
}
for _ in $(seq 1 "$ROUNDS"); do
    run haproxy 28081 "$HAP"
    run old-on 28086 "$P_OLD" "$TEL_OLD"
    run new-on 28087 "$P_NEW"
    run new-off 28088 "$P_OFF"
done
for port in 28286 28287; do
    curl -s "127.0.0.1:$port/metrics" |
        awk -v p="$port" '/^mixer_proxy_reports_dropped_total/ && $NF > 0 {print "admin " p ": " $0}'
done
