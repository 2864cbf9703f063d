#!/usr/bin/env bash
# Runs the benchmarks of tus-bench and prints their markdown tables on stdout; progress
# goes to stderr. `--bench throughput`: the tus server vs a bare hyper ceiling; `--bench
# client`: the tus client vs curl (needs curl; scripts/install-test-deps.sh installs it);
# no argument: both. `--bench adapters` (run only when named): tus-core through the axum,
# actix-web and warp adapters vs the bare tower service (see adapters/README.md). Sizes can be shrunk for a quick run with TUS_BENCH_* variables, e.g.
# TUS_BENCH_BIG_MIB=64 TUS_BENCH_SMALL_COUNT=200 (see bench/src/config.rs), and
# TUS_CLIENT_BENCH_* (see bench/src/client_bench.rs). Exits non-zero only if an upload was
# incorrect.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same build directory as scripts/test.sh, outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tus-rs/target}"
mkdir -p "$CARGO_TARGET_DIR"

exec cargo bench -p tus-bench "$@"
