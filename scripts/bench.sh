#!/usr/bin/env bash
# Runs the throughput benchmark (tus server vs a bare hyper ceiling) and prints its
# markdown table on stdout; progress goes to stderr. Sizes can be shrunk for a quick run
# with TUS_BENCH_* variables, e.g. TUS_BENCH_BIG_MIB=64 TUS_BENCH_SMALL_COUNT=200
# (see bench/src/config.rs). Exits non-zero only if an upload was incorrect.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same build directory as scripts/test.sh, outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tus-rs/target}"
mkdir -p "$CARGO_TARGET_DIR"

exec cargo bench -p tus-bench "$@"
