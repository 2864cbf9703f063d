#!/usr/bin/env bash
# Azurite (Microsoft's Azure Storage emulator; only its Blob service is used) for the tests
# of the Azure storage (storage/azure) and of `tus serve --storage azure`: azurite@3.37.0
# from npm (3.35 lacks Put Block From URL), pinned, in tests/emulators/azurite/node_modules.
# Commands (install, run, start, endpoint, stop): see scripts/lib/emulator.sh;
# `connection-string PORT` prints the value for AZURE_STORAGE_CONNECTION_STRING (the
# well-known devstoreaccount1 development account).
#
# Blobs live in memory (--inMemoryPersistence): keep test uploads small.
set -euo pipefail

EMULATOR_NAME=azurite
EMULATOR_WANT="azurite@3.37.0"
EMULATOR_PROBE_PATH="/devstoreaccount1?comp=list"
EMULATOR_EXTRA_USAGE="connection-string PORT"
# Azurite's documented development account; not a secret.
account="devstoreaccount1"
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

emulator_install() {
    command -v npm >/dev/null 2>&1 || die "npm is not installed (on Debian: apt-get install npm)"
    printf '{ "private": true }\n' > "$1/package.json"
    (cd "$1" && npm install --no-audit --no-fund --silent "$EMULATOR_WANT") || die "npm install $EMULATOR_WANT failed"
}
emulator_present() { [ -x "$1/node_modules/.bin/azurite-blob" ]; }
emulator_command() {
    printf '%s\n' "$emulator_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$1" \
        --inMemoryPersistence --skipApiVersionCheck --disableTelemetry --silent
}
emulator_extra_command() {
    [ "${1:-}" = connection-string ] || return 1
    check_port "${2:-}" connection-string
    printf 'DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%s/%s;\n' \
        "$account" "$key" "$2" "$account"
}

source "$(dirname "${BASH_SOURCE[0]}")/lib/emulator.sh"
emulator_main "$@"
