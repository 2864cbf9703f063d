# Shared by the cloud-emulator scripts (scripts/moto.sh, scripts/fake-gcs.sh, ...): source it
# after setting what differs, then call `emulator_main "$@"`. Every such script answers:
#
#   install        installs the pinned emulator into tests/emulators/NAME (gitignored) when it
#                  is missing or another version; concurrent installers wait on a lock file
#   run PORT       runs it on 127.0.0.1:PORT in the foreground (exec: the PID stays the
#                  caller's child); installs it first. With TUS_EMULATOR_PARENT_PID set, a
#                  watchdog stops it once that process is gone (tests that die leave nothing)
#   start PORT     starts it in the background unless something already answers HTTP on
#                  PORT, and prints the endpoint URL
#   endpoint PORT  prints the endpoint URL (http://127.0.0.1:PORT)
#   stop PORT      stops a server that `start` started
#
# The sourcing script sets:
#   EMULATOR_NAME        short name: messages, lock, pid and log files (e.g. moto)
#   EMULATOR_WANT        the pinned package, written into the install stamp (e.g. moto[server]==5.2.5)
#   EMULATOR_PROBE_PATH  an HTTP path the server answers once it is up (any status counts)
# and defines:
#   emulator_install DIR    installs into DIR (empty); `emulator_pip_install DIR` does it for
#                           a PyPI package, an npm-installed emulator brings its own
#   emulator_present DIR    whether DIR holds a usable install (the stamp is checked apart)
#   emulator_command PORT   prints the server's command line, one argument a line
# and may define emulator_extra_command (NAME ARGS...: returns 0 when it handled NAME) and
# EMULATOR_EXTRA_USAGE for commands of its own.

emulator_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
emulator_dir="$emulator_root/tests/emulators/$EMULATOR_NAME"
emulator_stamp="$emulator_dir/.tus-install-stamp"
emulator_state="${TMPDIR:-/tmp}"

say() { printf '%s.sh: %s\n' "$EMULATOR_NAME" "$*" >&2; }
die() { say "error: $*"; exit 1; }

emulator_installed() {
    [ -f "$emulator_stamp" ] && [ "$(head -n1 "$emulator_stamp")" = "$EMULATOR_WANT" ] \
        && emulator_present "$emulator_dir"
}

# The pinned PyPI package into DIR/.venv.
emulator_pip_install() { # DIR
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 || die "$python is not installed (Python 3.9+ is needed)"
    "$python" -m venv "$1/.venv" || die "cannot create a venv (on Debian: apt-get install python3-venv)"
    "$1/.venv/bin/python" -m pip install --quiet --disable-pip-version-check "$EMULATOR_WANT"
}

install() {
    emulator_installed && return 0
    mkdir -p "$(dirname "$emulator_dir")"
    exec 9>"$emulator_state/tus-$EMULATOR_NAME-install.lock"
    command -v flock >/dev/null 2>&1 && flock 9
    if ! emulator_installed; then
        say "installing $EMULATOR_WANT into ${emulator_dir#"$emulator_root/"}"
        rm -rf "$emulator_dir"
        mkdir -p "$emulator_dir"
        emulator_install "$emulator_dir"
        emulator_present "$emulator_dir" || die "the install of $EMULATOR_WANT ran but left no usable emulator"
        printf '%s\n' "$EMULATOR_WANT" > "$emulator_stamp"
        say "installed $EMULATOR_WANT"
    fi
    exec 9>&-
}

check_port() { # PORT COMMAND
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ "$1" -lt 65536 ] \
        || die "usage: $EMULATOR_NAME.sh $2 PORT"
}

answers() { # PORT: whether something speaks HTTP there (any status)
    local line
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' \
        "$EMULATOR_PROBE_PATH" "$1" >&3
    IFS= read -r -t 2 line <&3 || line=""
    exec 3<&- 3>&-
    [[ "$line" == HTTP/1.* ]]
} 2>/dev/null

run() {
    check_port "${1:-}" run
    install
    local command
    mapfile -t command < <(emulator_command "$1")
    [ "${#command[@]}" -gt 0 ] || die "no server command"
    if [ -n "${TUS_EMULATOR_PARENT_PID:-}" ]; then
        local self=$$
        (
            while kill -0 "$TUS_EMULATOR_PARENT_PID" 2>/dev/null && kill -0 "$self" 2>/dev/null; do sleep 1; done
            kill "$self" 2>/dev/null
        ) </dev/null >/dev/null 2>&1 &
    fi
    exec "${command[@]}"
}

start() {
    check_port "${1:-}" start
    install
    local port="$1" command
    local pidfile="$emulator_state/tus-$EMULATOR_NAME-$port.pid" log="$emulator_state/tus-$EMULATOR_NAME-$port.log"
    if ! answers "$port"; then
        mapfile -t command < <(emulator_command "$port")
        [ "${#command[@]}" -gt 0 ] || die "no server command"
        nohup "${command[@]}" >"$log" 2>&1 &
        echo $! > "$pidfile"
        local tries=0
        until answers "$port"; do
            tries=$((tries + 1))
            [ "$tries" -lt 300 ] || die "$EMULATOR_NAME did not answer on port $port (see $log)"
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
    local pidfile="$emulator_state/tus-$EMULATOR_NAME-$1.pid"
    [ -f "$pidfile" ] || return 0
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
}

emulator_main() {
    if declare -F emulator_extra_command >/dev/null && emulator_extra_command "$@"; then
        return 0
    fi
    case "${1:-}" in
        install) install ;;
        run) shift; run "$@" ;;
        start) shift; start "$@" ;;
        endpoint) shift; endpoint "$@" ;;
        stop) shift; stop "$@" ;;
        *) die "usage: $EMULATOR_NAME.sh install | run PORT | start PORT | endpoint PORT | stop PORT${EMULATOR_EXTRA_USAGE:+ | $EMULATOR_EXTRA_USAGE}" ;;
    esac
}
