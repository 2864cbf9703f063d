//! `cargo bench -p tus-bench --bench client`: the tus client (tus-rs-client) against curl,
//! uploading to the real `tus serve` (see `tus_bench::client_bench`). The same executable
//! is also the server under test: run with `TUS_BENCH_ROLE` set, it becomes that server.

use std::process::ExitCode;

fn main() -> ExitCode {
    tus_bench::roles::run_from_env().unwrap_or_else(tus_bench::client_bench::run)
}
