#!/usr/bin/env bash
# Azurite (Microsoft's Azure Storage emulator; only its Blob service is used) for the tests
# of the Azure storage (storage/azure).
#
#   scripts/azurite.sh install        installs azurite@3.37.0 from npm into
#                                     tests/emulators/azurite/node_modules (gitignored) when
#                                     missing (3.35 lacks Put Block From URL)
#   scripts/azurite.sh run PORT       runs azurite-blob on 127.0.0.1:PORT in the foreground
#                                     (exec: the PID stays the caller's child); installs first
#   scripts/azurite.sh start PORT     starts it in the background unless something already
#                                     answers on PORT, and prints the connection string
#   scripts/azurite.sh endpoint PORT  prints the connection string for PORT (the well-known
#                                     devstoreaccount1 account), for AZURE_STORAGE_CONNECTION_STRING
#   scripts/azurite.sh stop PORT      stops a server that `start` started
#
# Blobs live in memory (--inMemoryPersistence): keep test uploads small.
# Idempotent; concurrent installers wait on a lock file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/emulators/azurite"
want="azurite@3.37.0"
stamp="$dir/node_modules/.tus-install-stamp"
binary="$dir/node_modules/.bin/azurite-blob"
state="${TMPDIR:-/tmp}"
# Azurite's documented development account; not a secret.
account="devstoreaccount1"
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

say() { printf 'azurite.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

installed() {
    [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" = "$want" ] && [ -x "$binary" ]
}

install() {
    installed && return 0
    command -v npm >/dev/null 2>&1 || die "npm is not installed (on Debian: apt-get install npm)"
    mkdir -p "$dir"
    exec 9>"$state/tus-azurite-install.lock"
    command -v flock >/dev/null 2>&1 && flock 9
    if ! installed; then
        say "installing $want into tests/emulators/azurite"
        rm -rf "$dir/node_modules"
        [ -f "$dir/package.json" ] || printf '{ "private": true }\n' > "$dir/package.json"
        (cd "$dir" && npm install --no-save --no-audit --no-fund --silent "$want") \
            || die "npm install $want failed"
        [ -x "$binary" ] || die "npm ran but $binary is missing"
        printf '%s\n' "$want" > "$stamp"
        say "installed $want"
    fi
    exec 9>&-
}

check_port() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ "$1" -lt 65536 ] || die "usage: azurite.sh $2 PORT"
}

answers() { # PORT: whether something accepts connections there
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

args() { # PORT
    printf '%s\n' --blobHost 127.0.0.1 --blobPort "$1" --inMemoryPersistence \
        --skipApiVersionCheck --disableTelemetry --silent
}

run() {
    check_port "${1:-}" run
    install
    # With TUS_AZURITE_PARENT_PID, a watchdog stops the server once that process is gone,
    # so a test process that dies never leaves it running.
    if [ -n "${TUS_AZURITE_PARENT_PID:-}" ]; then
        local self=$$
        (
            while kill -0 "$TUS_AZURITE_PARENT_PID" 2>/dev/null && kill -0 "$self" 2>/dev/null; do sleep 1; done
            kill "$self" 2>/dev/null
        ) </dev/null >/dev/null 2>&1 &
    fi
    mapfile -t flags < <(args "$1")
    # Azurite writes its (empty, in-memory mode) workspace files to the working directory.
    cd "$state"
    exec "$binary" "${flags[@]}"
}

start() {
    check_port "${1:-}" start
    install
    local port="$1" pidfile="$state/tus-azurite-$1.pid"
    if ! answers "$port"; then
        mapfile -t flags < <(args "$port")
        (cd "$state" && nohup "$binary" "${flags[@]}" >"$state/tus-azurite-$port.log" 2>&1 & echo $! > "$pidfile")
        local tries=0
        until answers "$port"; do
            tries=$((tries + 1))
            [ "$tries" -lt 300 ] || die "azurite did not answer on port $port (see $state/tus-azurite-$port.log)"
            sleep 0.1
        done
    fi
    endpoint "$port"
}

endpoint() {
    check_port "${1:-}" endpoint
    printf 'DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%s/%s;\n' \
        "$account" "$key" "$1" "$account"
}

stop() {
    check_port "${1:-}" stop
    local pidfile="$state/tus-azurite-$1.pid"
    [ -f "$pidfile" ] || return 0
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
}

case "${1:-}" in
    install) install ;;
    run) shift; run "$@" ;;
    start) shift; start "$@" ;;
    endpoint) shift; endpoint "$@" ;;
    stop) shift; stop "$@" ;;
    *) die "usage: azurite.sh install | run PORT | start PORT | endpoint PORT | stop PORT" ;;
esac
