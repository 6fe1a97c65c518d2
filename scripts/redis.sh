#!/usr/bin/env bash
# Redis for crawler scale-out (docs/SCALEOUT.md): install it, or run a throwaway server.
#
#   scripts/redis.sh install            install redis-server + redis-cli if missing (apt, as root)
#   scripts/redis.sh start PORT DIR     start a loopback-only, no-persistence server; wait for PING
#   scripts/redis.sh stop DIR           stop the server started with that DIR
#
# The throwaway server binds 127.0.0.1 only. For workers on several machines, run a real
# Redis (see docs/SCALEOUT.md): this script is for tests and single-machine trials.
set -euo pipefail

die() {
    echo "redis.sh: $*" >&2
    exit 1
}

install_redis() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "redis-server is not installed and apt-get is not available; install Redis by hand"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "installing redis-server needs root (or sudo)"
        sudo="sudo"
    fi
    echo "redis.sh: installing redis-server with apt-get" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # policy-rc.d-less containers: the package's service start may fail harmlessly; we never use it.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    command -v redis-server >/dev/null 2>&1 || die "apt-get finished but redis-server is still not on PATH"
}

start_redis() {
    local port="${1:?usage: redis.sh start PORT DIR}"
    local dir="${2:?usage: redis.sh start PORT DIR}"
    install_redis
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    local i
    for i in $(seq 1 100); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null || true)" = "PONG" ]; then
            echo "redis.sh: redis-server up on 127.0.0.1:$port (pid $(cat "$dir/redis.pid" 2>/dev/null || echo '?'))" >&2
            return 0
        fi
        sleep 0.1
    done
    cat "$dir/redis.log" >&2 2>/dev/null || true
    die "redis-server on port $port did not answer PING within 10 s"
}

stop_redis() {
    local dir="${1:?usage: redis.sh stop DIR}"
    local pidfile="$dir/redis.pid"
    [ -f "$pidfile" ] || {
        echo "redis.sh: no $pidfile; nothing to stop" >&2
        return 0
    }
    local pid
    pid="$(cat "$pidfile")"
    if kill "$pid" 2>/dev/null; then
        local i
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

case "${1:-}" in
    install) install_redis ;;
    start) start_redis "${2:-}" "${3:-}" ;;
    stop) stop_redis "${2:-}" ;;
    *) die "usage: redis.sh install | start PORT DIR | stop DIR" ;;
esac
