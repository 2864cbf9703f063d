//! The example app over real HTTP: its binary, started on a free port with SQLite data in a
//! temporary directory, against the shared scenarios of `tus-example-harness`.

tus_example_harness::scenario_tests!(env!("CARGO_BIN_EXE_axum-app"));
