//! The black-box conformance suite (`tus-conformance`) against the example app's binary:
//! the 57 of its 120 checks that run on tus-core's default configuration without in-process
//! handles. The other 63 need a server configured otherwise (46) or the suite's hook event
//! log (17), which an external app process cannot offer; they run in-process in
//! `tests/tests/conformance.rs`. The precise list and reasons are in
//! `tus_example_harness::conformance`.

tus_example_harness::conformance_checks!(env!("CARGO_BIN_EXE_actix-app"));
