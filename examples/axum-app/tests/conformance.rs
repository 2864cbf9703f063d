//! The black-box conformance suite (`tus-conformance`) against the example app's binary:
//! every check that runs on tus-core's default configuration without in-process handles.
//! See `tus_example_harness::conformance`.

tus_example_harness::conformance_checks!(env!("CARGO_BIN_EXE_axum-app"));
