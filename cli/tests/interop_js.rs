//! tus-js-client (Node build, tests/interop/js/run.mjs) against the real `tus` binary:
//! the scenarios of `tus_example_harness::interop::js`, shared with the example apps.
//! Every upload is downloaded again and compared with its source by SHA-256.

mod common;

tus_example_harness::interop_tests!(js, common::interop::serve());
