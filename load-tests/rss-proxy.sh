#!/usr/bin/env bash
# Peak memory of one sidecar under h2load's concurrent streams: the number behind issue 6's
# "RSS ≤ 15 MB under load" when a change to the proxy's memory needs a quick A/B (the full
# comparison with haproxy and nginx is bench-proxy.sh).
#
# An nginx `ok` backend and `mixer telemetry` (CPU 1) and the proxy (one worker thread, CPU 0);
# `h2load -c CONNECTIONS -m STREAMS` for SECS seconds against the inbound listener. Prints the
# rate, the proxy's peak RSS (VmHWM), its RSS split at the end (anonymous / file-backed), and
# the most bags its report queue held. CHECKS=1 adds `mixer policy` (CPU 1) with the demo's
# listchecker rule, and the proxy checks every request (the cache is warm after the first).
#
# Usage: load-tests/rss-proxy.sh MIXER PROXY on|off [proxy flags …]
#   MIXER: the `mixer` binary (runs telemetry); PROXY: `mixer-proxy`, or `"$MIXER proxy"`
#   on|off: reports; e.g. load-tests/rss-proxy.sh target/release/mixer \
#       target/release/mixer-proxy on --app-pool-connections 16
# Environment: CONNECTIONS=32 STREAMS=10 SECS=8 CHECKS=0
# Loopback only (ports 38080–39422); stops what it started.
set -euo pipefail
MIXER=${1:?usage: rss-proxy.sh MIXER PROXY on|off [proxy flags]}
PROXY=${2:?usage: rss-proxy.sh MIXER PROXY on|off [proxy flags]}
REPORTS=${3:?usage: rss-proxy.sh MIXER PROXY on|off [proxy flags]}
shift 3
CONNECTIONS=${CONNECTIONS:-32}
STREAMS=${STREAMS:-10}
SECS=${SECS:-8}
CHECKS=${CHECKS:-0}
for tool in nginx h2load curl taskset; do
    command -v "$tool" >/dev/null || { echo "rss-proxy: $tool is needed" >&2; exit 1; }
done
# shellcheck source=load-tests/proxy-lib.sh
. "$(dirname "$0")/proxy-lib.sh"

ok_backend 38080 1
mixer_services "$MIXER" "$REPORTS" "$CHECKS" 1
# shellcheck disable=SC2086 # PROXY may be "mixer proxy"
taskset -c 0 $PROXY "${PROXY_ARGS[@]}" "$@" >"$W/proxy.log" 2>&1 &
P=$!
PIDS+=("$P")
proxy_ready
taskset -c 1 h2load -c"$CONNECTIONS" -m"$STREAMS" -D"$SECS" http://127.0.0.1:38086/ >"$W/h2load.txt" &
H=$!
queue=0
while kill -0 "$H" 2>/dev/null; do
    q=$(curl -s 127.0.0.1:38286/metrics | awk '/^mixer_proxy_report_queue_depth/ {print $2}')
    [ -n "$q" ] && [ "$q" -gt "$queue" ] && queue=$q
    sleep 0.3
done
wait "$H" || { echo "rss-proxy: h2load failed" >&2; cat "$W/h2load.txt" >&2; exit 1; }
rate=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$W/h2load.txt")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$P/status")
rss=$(awk '/^Rss:/ {print $2}' "/proc/$P/smaps_rollup")
anon=$(awk '/^Anonymous:/ {print $2}' "/proc/$P/smaps_rollup")
dropped=$(curl -s 127.0.0.1:38286/metrics | awk '/^mixer_proxy_reports_dropped_total/ {s += $2} END {print s + 0}')
echo "reports $REPORTS, checks $CHECKS $*: $rate req/s; peak RSS $((hwm / 1024)).$((hwm % 1024 * 10 / 1024)) MB;" \
    "at the end $((rss / 1024)) MB ($((anon / 1024)) MB anonymous, $(((rss - anon) / 1024)) MB file);" \
    "report queue at most $queue bags; reports dropped $dropped"
