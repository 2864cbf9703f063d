#!/usr/bin/env bash
# moto (an S3 emulator) for the tests of the S3 storage (storage/s3) and of
# `tus serve --storage s3` (cli/tests/s3.rs, the `s3` feature of tests/): moto[server]==5.2.5
# from PyPI in tests/emulators/moto/.venv. Commands (install, run, start, endpoint, stop):
# see scripts/lib/emulator.sh.
#
# Clients use the credentials test/test, region us-east-1 and path-style addressing.
# S3_UPLOAD_PART_MIN_SIZE (bytes) in the environment of `run`/`start` lowers moto's 5 MiB
# minimum part size.
set -euo pipefail

EMULATOR_NAME=moto
EMULATOR_WANT="moto[server]==5.2.5"
EMULATOR_PROBE_PATH=/moto-api/

emulator_install() { emulator_pip_install "$1"; }
emulator_present() { [ -x "$1/.venv/bin/moto_server" ]; }
emulator_command() { printf '%s\n' "$emulator_dir/.venv/bin/moto_server" -H 127.0.0.1 -p "$1"; }

source "$(dirname "${BASH_SOURCE[0]}")/lib/emulator.sh"
emulator_main "$@"
