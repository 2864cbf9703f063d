//! tuspy (tests/interop/py/run.py, in the venv made by scripts/install-test-deps.sh)
//! against the real `tus` binary: the scenarios of `tus_example_harness::interop::py`,
//! shared with the example apps. Every upload is downloaded again and compared with its
//! source by SHA-256. tuspy 1.1.0 has no termination and no deferred length.

mod common;

tus_example_harness::interop_tests!(py, common::interop::serve());
