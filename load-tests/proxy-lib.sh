# Shared by the sidecar's quick measurements (ab-proxy.sh, callgrind-proxy.sh, rss-proxy.sh);
# source it first. Gives W (a scratch directory, removed on exit), PIDS (processes started;
# every one is stopped on exit, failure included), ok_backend, mixer_services and
# proxy_ready.

W=$(mktemp -d)
PIDS=()
TELEMETRY_WRAP=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

# ok_backend PORT [taskset CPU]: starts nginx (one worker, keep-alive without limits) answering
# `ok` on 127.0.0.1:PORT, in the background; its PID goes into PIDS.
ok_backend() {
    local port=$1 cpu=${2:-}
    cat >"$W/backend.conf" <<EOC
daemon off; worker_processes 1; pid $W/backend.pid; error_log $W/backend.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
 client_body_temp_path $W/b-body; proxy_temp_path $W/b-proxy; fastcgi_temp_path $W/b-fcgi;
 uwsgi_temp_path $W/b-uwsgi; scgi_temp_path $W/b-scgi;
 server { listen 127.0.0.1:$port; location / { default_type text/plain; return 200 "ok\n"; } } }
EOC
    if [ -n "$cpu" ]; then
        taskset -c "$cpu" nginx -c "$W/backend.conf" -e "$W/backend.err" &
    else
        nginx -c "$W/backend.conf" -e "$W/backend.err" &
    fi
    PIDS+=($!)
}

# mixer_services MIXER REPORTS CHECKS [taskset CPU]: starts `mixer telemetry` (gRPC 39091; its
# PID in TELEMETRY_PID, run under the command in the array TELEMETRY_WRAP if set) and,
# when CHECKS is 1, `mixer policy` (gRPC 39092) with the demo's listchecker rule for workload
# bench-app-checked, in the background. Sets PROXY_ARGS, the flags a proxy in front of
# ok_backend 38080 needs (inbound 38086, admin 38286, reports when REPORTS is on, checks
# when CHECKS is 1).
mixer_services() {
    local mixer=$1 reports=$2 checks=$3 cpu=${4:-}
    local on=()
    [ -n "$cpu" ] && on=(taskset -c "$cpu")
    "${on[@]}" "${TELEMETRY_WRAP[@]}" "$mixer" telemetry --grpc-addr 127.0.0.1:39091 \
        --metrics-addr 127.0.0.1:39422 --monitoring-addr 127.0.0.1:39014 --query-addr off \
        --worker-threads 1 >"$W/telemetry.log" 2>&1 &
    TELEMETRY_PID=$!
    PIDS+=("$TELEMETRY_PID")
    local telemetry=off workload=bench-app
    [ "$reports" = on ] && telemetry=http://127.0.0.1:39091
    PROXY_ARGS=()
    if [ "$checks" = 1 ]; then
        mkdir -p "$W/policy"
        sed 's/demo-app/bench-app-checked/' "$(dirname "${BASH_SOURCE[0]}")/../src/up/policy.yaml" \
            >"$W/policy/policy.yaml"
        "${on[@]}" "$mixer" policy --config "$W/policy" --grpc-addr 127.0.0.1:39092 \
            --monitoring-addr 127.0.0.1:39015 --worker-threads 1 >"$W/policy.log" 2>&1 &
        PIDS+=($!)
        workload=bench-app-checked
        PROXY_ARGS=(--policy http://127.0.0.1:39092)
    fi
    PROXY_ARGS+=(--app 127.0.0.1:38080 --app-protocol http --namespace default
        --label app=bench-app --label version=v1 --worker-threads 1 --workload "$workload"
        --telemetry "$telemetry" --inbound 127.0.0.1:38086 --outbound 127.0.0.1:38186
        --admin 127.0.0.1:38286)
    sleep 1
}

# proxy_ready [TRIES]: waits (0.5 s a try, 60 tries) for the proxy's /readyz on 38286.
proxy_ready() {
    for _ in $(seq 1 "${1:-60}"); do
        curl -sf -o /dev/null 127.0.0.1:38286/readyz && return 0
        sleep 0.5
    done
}
