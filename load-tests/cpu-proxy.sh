#!/usr/bin/env bash
# CPU time per request of each process in the sidecar bench's placement: where a hop's
# cores go. The hop (`mixer proxy`, one thread) on CPU 0; the nginx `ok` backend, wrk and
# `mixer telemetry` on CPU 1. After a 2 s warm-up, wrk -t1 -c32 runs for SECS seconds and
# each process's user and system time (/proc/PID/stat) over that run is divided by the
# requests served. wrk's own time is read from 0.5 s in to 0.5 s before the end (it starts
# and stops with the run), so its figure is approximate.
#
# Usage: load-tests/cpu-proxy.sh MIXER_BINARY on|off   (on|off: reports)
# Environment: SECS=6
# Loopback only (ports 38080–39422); stops what it started.
set -euo pipefail
MIXER=${1:?usage: cpu-proxy.sh MIXER_BINARY on|off}
REPORTS=${2:?usage: cpu-proxy.sh MIXER_BINARY on|off}
SECS=${SECS:-6}
for tool in nginx wrk taskset bc curl; do
    command -v "$tool" >/dev/null || { echo "cpu-proxy: $tool is needed" >&2; exit 1; }
done
# shellcheck source=load-tests/proxy-lib.sh
. "$(dirname "$0")/proxy-lib.sh"

ok_backend 38080 1
mixer_services "$MIXER" "$REPORTS" 0 1
taskset -c 0 "$MIXER" proxy "${PROXY_ARGS[@]}" >"$W/proxy.log" 2>&1 &
PROXY=$!
PIDS+=("$PROXY")
proxy_ready
taskset -c 1 wrk -t1 -c32 -d2s "http://127.0.0.1:38086/" >/dev/null
NGINX=$(pgrep -f "nginx: worker" | head -1)

# user and system clock ticks of PID
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
declare -A BEFORE
names=(proxy nginx)
pids=("$PROXY" "$NGINX")
if [ "$REPORTS" = on ]; then
    names+=(telemetry)
    pids+=("$TELEMETRY_PID")
fi
for i in "${!names[@]}"; do BEFORE[${names[$i]}]=$(ticks "${pids[$i]}"); done
taskset -c 1 wrk -t1 -c32 -d"${SECS}s" "http://127.0.0.1:38086/" >"$W/wrk.txt" &
WRK=$!
sleep 0.5
WRK_BEFORE=$(ticks "$WRK")
sleep "$(echo "$SECS - 1" | bc)"
WRK_AFTER=$(ticks "$WRK")
wait "$WRK"
REQ=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
grep Requests/sec "$W/wrk.txt"
hz=$(getconf CLK_TCK)
# per_request NAME "U0 S0" "U1 S1" SHARE: µs per request (SHARE of the run measured)
per_request() {
    read -r u0 s0 <<<"$2"
    read -r u1 s1 <<<"$3"
    awk -v n="$1" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v r="$REQ" -v hz="$hz" -v f="$4" 'BEGIN {
        k = 1e6 / hz / (r * f)
        printf "%-10s %6.2f µs/req (user %.2f, sys %.2f)\n", n, (u + s) * k, u * k, s * k }'
}
for i in "${!names[@]}"; do
    per_request "${names[$i]}" "${BEFORE[${names[$i]}]}" "$(ticks "${pids[$i]}")" 1
done
per_request "wrk~" "$WRK_BEFORE" "$WRK_AFTER" "$(echo "($SECS - 1) / $SECS" | bc -l)"
