#!/usr/bin/env bash
set -euo pipefail
MIXER=$1; N=${2:-20000}
. "$(dirname "$0")/proxy-lib.sh"
ok_backend 38080
CG=$(mktemp --suffix=.tel.callgrind)
valgrind --tool=callgrind --callgrind-out-file="$CG" "$MIXER" telemetry --grpc-addr 127.0.0.1:39091 --metrics-addr 127.0.0.1:39422 \
        --monitoring-addr 127.0.0.1:39014 --query-addr off --worker-threads 1 >"$W/telemetry.log" 2>&1 &
TEL=$!
PIDS+=($TEL)
sleep 8
"$MIXER" proxy --app 127.0.0.1:38080 --app-protocol http --namespace default --label app=bench-app --label version=v1 --worker-threads 1 --workload bench-app --telemetry http://127.0.0.1:39091 --inbound 127.0.0.1:38086 --outbound 127.0.0.1:38186 --admin 127.0.0.1:38286 >"$W/proxy.log" 2>&1 &
PIDS+=($!)
proxy_ready 120
h2load --h1 -n "$N" -c 8 -m 1 http://127.0.0.1:38086/ | grep -E "^requests:"
sleep 4
curl -s 127.0.0.1:39422/metrics | grep -E "^istio_requests_total" | head -3
kill -INT "$TEL"; wait "$TEL" 2>/dev/null || true
total=$(awk '/^(summary|totals):/ {print $2; exit}' "$CG")
echo "telemetry: $total instructions, $((total / N)) per request"
echo "callgrind file: $CG"
