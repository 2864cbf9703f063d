//! `cargo bench -p tus-bench --bench adapters`: tus-core through the axum, actix-web and
//! warp adapters beside the bare tower service (see `tus_bench::adapters`). The same
//! executable is also each server under test: run with `TUS_BENCH_ROLE` set, it becomes
//! that server.

use std::process::ExitCode;

fn main() -> ExitCode {
    tus_bench::roles::run_from_env().unwrap_or_else(tus_bench::adapters::run)
}
