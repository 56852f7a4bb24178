# Shared by the sidecar's quick measurements (ab-proxy.sh, callgrind-proxy.sh, rss-proxy.sh);
# source it first. Gives W (a scratch directory, removed on exit), PIDS (processes started;
# every one is stopped on exit, failure included) and ok_backend.

W=$(mktemp -d)
PIDS=()
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
