#!/usr/bin/env bash
# Redis for the tests of the Redis lock backend (storage/redis) and of `tus serve --lock redis`
# (cli/tests/multi_instance.rs).
#
#   scripts/redis.sh install        installs redis-server with apt-get when it is missing
#   scripts/redis.sh start PORT     runs a throwaway redis-server on 127.0.0.1:PORT in the
#                                   foreground (exec: the PID stays the caller's child), with
#                                   no persistence; installs it first when missing
#   scripts/redis.sh path           prints the redis-server to run (installing it if needed)
#
# Idempotent: `install` does nothing when redis-server is already there, and runs
# `apt-get update` only when it has to install. Concurrent callers wait on a lock file.
set -euo pipefail

say() { printf 'redis.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

find_server() {
    command -v redis-server 2>/dev/null && return 0
    # Debian installs it in /usr/bin, which a trimmed PATH may lack.
    for candidate in /usr/bin/redis-server /usr/local/bin/redis-server; do
        [ -x "$candidate" ] && { printf '%s\n' "$candidate"; return 0; }
    done
    return 1
}

install() {
    find_server >/dev/null && return 0
    command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and there is no apt-get: install Redis 6+ by hand"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "redis-server is missing and installing it needs root"
        sudo=(sudo)
    fi
    # One installer at a time (tests may ask from several threads or processes).
    local lock="${TMPDIR:-/tmp}/tus-redis-install.lock"
    exec 9>"$lock"
    if command -v flock >/dev/null 2>&1; then
        flock 9
    fi
    if ! find_server >/dev/null; then
        say "installing redis-server with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends redis-server >/dev/null
        # The package starts a system-wide instance on 6379; the tests never use it.
        find_server >/dev/null || die "apt-get ran but redis-server is still missing"
        say "installed $("$(find_server)" --version | head -n1)"
    fi
    exec 9>&-
}

start() {
    local port="${1:-}"
    [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] || die "usage: redis.sh start PORT"
    install
    local server
    server="$(find_server)"
    # No RDB snapshots, no AOF: nothing is written, and a restart starts empty.
    local dir="${TMPDIR:-/tmp}"
    cd "$dir"
    exec "$server" --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no \
        --protected-mode yes --dir "$dir" --loglevel warning --logfile ''
}

case "${1:-}" in
    install) install ;;
    start) shift; start "$@" ;;
    path) install; find_server ;;
    *) die "usage: redis.sh install | start PORT | path" ;;
esac
