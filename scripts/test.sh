#!/usr/bin/env bash
# Runs every check and test of the workspace: the one test command (README, .ci/run).
# Installs what the tests need first (idempotent), so a fresh machine works.
set -euo pipefail
cd "$(dirname "$0")/.."

# A build directory outside the clone, so reruns (and CI on the same machine) reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tus-rs/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
# --all-targets leaves out bench targets marked `bench = false` (the emulator benches).
cargo clippy -p tus-bench --benches --all-features -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet

step "cargo test"
cargo test --workspace --all-features --no-fail-fast

# The binary users build (`cargo install tus-cli`) has only its default features: check that
# those work too (feature-gated setup, such as a TLS crypto provider, can differ).
step "cargo test: the tus binary with its default features"
cargo test -p tus-cli --test cli --test client_cli
