#!/usr/bin/env bash
# moto (an S3 emulator) for the tests of the S3 storage (storage/s3) and of
# `tus serve --storage s3` (cli/tests/s3.rs, the `s3` feature of tests/).
#
#   scripts/moto.sh install        installs moto[server]==5.2.5 into tests/emulators/moto/.venv
#                                  (gitignored) when it is missing or stale
#   scripts/moto.sh run PORT       runs moto_server on 127.0.0.1:PORT in the foreground (exec:
#                                  the PID stays the caller's child); installs it first when missing
#   scripts/moto.sh start PORT     starts it in the background unless it already answers on
#                                  PORT, and prints the endpoint URL
#   scripts/moto.sh endpoint PORT  prints the endpoint URL (http://127.0.0.1:PORT)
#   scripts/moto.sh stop PORT      stops a server that `start` started
#
# Clients use the credentials test/test, region us-east-1 and path-style addressing.
# S3_UPLOAD_PART_MIN_SIZE (bytes) in the environment of `run`/`start` lowers moto's 5 MiB
# minimum part size. Idempotent; concurrent installers wait on a lock file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/tests/emulators/moto/.venv"
want="moto[server]==5.2.5"
stamp="$venv/.tus-install-stamp"
state="${TMPDIR:-/tmp}"

say() { printf 'moto.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

installed() {
    [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]
}

install() {
    installed && return 0
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 || die "$python is not installed (Python 3.9+ is needed)"
    mkdir -p "$(dirname "$venv")"
    exec 9>"$state/tus-moto-install.lock"
    command -v flock >/dev/null 2>&1 && flock 9
    if ! installed; then
        say "installing $want into tests/emulators/moto/.venv"
        rm -rf "$venv"
        "$python" -m venv "$venv" || die "cannot create a venv (on Debian: apt-get install python3-venv)"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$want"
        [ -x "$venv/bin/moto_server" ] || die "pip ran but moto_server is missing"
        printf '%s\n' "$want" > "$stamp"
        say "installed $want"
    fi
    exec 9>&-
}

check_port() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ "$1" -lt 65536 ] || die "usage: moto.sh $2 PORT"
}

answers() { # PORT: whether something speaks HTTP there
    "$venv/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
PY
}

run() {
    check_port "${1:-}" run
    install
    # With TUS_MOTO_PARENT_PID, a watchdog stops moto once that process is gone, so a test
    # process that dies (or keeps moto in a static) never leaves it running.
    if [ -n "${TUS_MOTO_PARENT_PID:-}" ]; then
        local self=$$
        (
            while kill -0 "$TUS_MOTO_PARENT_PID" 2>/dev/null && kill -0 "$self" 2>/dev/null; do sleep 1; done
            kill "$self" 2>/dev/null
        ) </dev/null >/dev/null 2>&1 &
    fi
    exec "$venv/bin/moto_server" -H 127.0.0.1 -p "$1"
}

start() {
    check_port "${1:-}" start
    install
    local port="$1" pidfile="$state/tus-moto-$1.pid"
    if ! answers "$port"; then
        nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/tus-moto-$port.log" 2>&1 &
        echo $! > "$pidfile"
        local tries=0
        until answers "$port"; do
            tries=$((tries + 1))
            [ "$tries" -lt 100 ] || die "moto_server did not answer on port $port (see $state/tus-moto-$port.log)"
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
    local pidfile="$state/tus-moto-$1.pid"
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
    *) die "usage: moto.sh install | run PORT | start PORT | endpoint PORT | stop PORT" ;;
esac
