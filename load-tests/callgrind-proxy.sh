#!/usr/bin/env bash
# Instructions per request through one `mixer proxy` thread, counted by callgrind: the number
# that compares across runs on a machine whose speed drifts (load-tests/RESULTS.md quotes it).
#
# An nginx `ok` backend and `mixer telemetry` run beside the proxy, which runs under
# valgrind --tool=callgrind with one worker thread; h2load --h1 sends N requests over 8
# connections. Prints the instructions per request and the callgrind file's path (kept for
# callgrind_annotate). CHECKS=1 adds `mixer policy` with the demo's listchecker rule and has
# the proxy check every request (the cache is warm after the first few). PROFILE=telemetry
# runs the telemetry service under callgrind instead (the proxy runs as it is, reports on):
# what each reported request costs the service that receives it.
#
# Usage: load-tests/callgrind-proxy.sh MIXER_BINARY on|off [N]   (on|off: reports)
# Environment: CHECKS=0 PROFILE=proxy|telemetry
# Loopback only (ports 38080–39422); stops what it started.
set -euo pipefail
MIXER=${1:?usage: callgrind-proxy.sh MIXER_BINARY on|off [N]}
REPORTS=${2:?usage: callgrind-proxy.sh MIXER_BINARY on|off [N]}
N=${3:-20000}
CHECKS=${CHECKS:-0}
for tool in nginx h2load valgrind curl; do
    command -v "$tool" >/dev/null || { echo "callgrind-proxy: $tool is needed" >&2; exit 1; }
done
# shellcheck source=load-tests/proxy-lib.sh
. "$(dirname "$0")/proxy-lib.sh"

ok_backend 38080
# kept after the run (the scratch directory is not), for callgrind_annotate
CG=$(mktemp --suffix=.callgrind)
CALLGRIND=(valgrind --tool=callgrind --callgrind-out-file="$CG")
PROFILE=${PROFILE:-proxy}
case $PROFILE in
proxy) ;;
telemetry)
    [ "$REPORTS" = on ] || { echo "callgrind-proxy: PROFILE=telemetry needs reports on" >&2; exit 2; }
    TELEMETRY_WRAP=("${CALLGRIND[@]}")
    ;;
*) echo "callgrind-proxy: PROFILE is proxy or telemetry, not $PROFILE" >&2; exit 2 ;;
esac
mixer_services "$MIXER" "$REPORTS" "$CHECKS"
PROXY_CMD=("$MIXER" proxy "${PROXY_ARGS[@]}")
[ "$PROFILE" = proxy ] && PROXY_CMD=("${CALLGRIND[@]}" "${PROXY_CMD[@]}")
"${PROXY_CMD[@]}" >"$W/proxy.log" 2>&1 &
PROXY=$!
PIDS+=("$PROXY")
proxy_ready 120
h2load --h1 -n "$N" -c 8 -m 1 http://127.0.0.1:38086/ | grep -E "^requests:"
sleep 2
# SIGINT: the proxy drains (flushing its reports) and exits; the profiled process then
# exits on SIGINT too, and callgrind writes its totals
kill -INT "$PROXY"
wait "$PROXY" 2>/dev/null || true
if [ "$PROFILE" = telemetry ]; then
    kill -INT "$TELEMETRY_PID"
    wait "$TELEMETRY_PID" 2>/dev/null || true
fi
total=$(awk '/^(summary|totals):/ {print $2; exit}' "$CG")
echo "$PROFILE, reports $REPORTS, checks $CHECKS: $total instructions, $((total / N)) per request"
echo "callgrind file: $CG"
