//! Black-box tests for the example apps and the framework adapters, over real HTTP on
//! `127.0.0.1`.
//!
//! - [`Server`] starts an example app's binary on a free port with its SQLite data in a
//!   temporary directory, and reads its peak memory from `/proc`.
//! - [`Client`] speaks HTTP/1.1 (one connection per request, on hyper), streams request
//!   bodies in and response bodies out, and has a raw mode to drop a connection mid-body.
//! - [`Pattern`] generates large bodies on the fly and hashes them as they go.
//! - [`RecordingHooks`] keep the request heads that reach tus-core, for adapters' tests.
//! - [`scenarios`] are the checks every example app must pass; each app's tests call them
//!   with its own binary.
//! - [`conformance`] runs the black-box conformance suite (`tus-conformance`) against an
//!   app's binary: [`conformance_checks!`] makes one test per check.
//! - [`interop`] runs the real tus clients (tus-js-client, tuspy) against a server and
//!   compares what they uploaded by SHA-256: [`interop_tests!`] makes one test per
//!   scenario, for the example apps and for the `tus` binary.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod client;
pub mod conformance;
mod data;
mod hooks;
pub mod interop;
pub mod scenarios;
mod server;

pub use client::{Client, Download, Reply, RequestBody, Upload, empty, full};
pub use data::{Pattern, sha256_hex};
pub use hooks::RecordingHooks;
pub use server::{Server, peak_rss};

/// The token the scenarios start servers with.
pub const TOKEN: &str = "harness-token";

/// `n` MiB.
pub const fn mib(n: u64) -> u64 {
    n << 20
}
