//! `cargo bench -p tus-bench`: the throughput benchmark of the tus server against a bare
//! hyper ceiling (see the `tus_bench` crate docs). The same executable is also each server
//! under test: run with `TUS_BENCH_ROLE` set, it becomes that server.

use std::process::ExitCode;

fn main() -> ExitCode {
    tus_bench::roles::run_from_env().unwrap_or_else(tus_bench::run)
}
