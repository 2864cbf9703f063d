//! The real tus clients (tus-js-client and tuspy, installed by
//! `scripts/install-test-deps.sh`) against the example app's binary over HTTP, with the
//! app's bearer token: every scenario the `tus` binary gets, each upload downloaded again
//! and compared with its source by SHA-256. See `tus_example_harness::interop`.

tus_example_harness::interop_tests!(app: env!("CARGO_BIN_EXE_actix-app"));
