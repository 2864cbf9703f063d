//! The black-box conformance suite (`tus-conformance`) against an example app's binary.
//!
//! The suite's checks start their servers through a [`Launcher`]; [`ExampleApp`] answers
//! with the running app as an external deployment. The app has one fixed configuration
//! (tus-core's defaults), so only the checks that ask for the default profile and need no
//! in-process handle (hook event log, lock backend, janitor, restarts) can run against it:
//! [`conformance_checks!`](crate::conformance_checks) lists them. A check that asks for
//! anything else fails with a message saying so.
//!
//! The suite cannot send a bearer token yet, so the app runs without `API_TOKEN`.
//!
//! # Why 57 of the suite's 120 checks
//!
//! The in-process runs of the suite (`tests/tests/conformance.rs`) execute all 120 checks
//! (A14.3, `kill -9`, is the CLI's `cli/tests/crash.rs`) on servers the suite builds
//! itself, so a check can configure its server and look behind the HTTP interface. An
//! example app is a separate process with one fixed configuration that the suite reaches
//! only over HTTP ([`Deployment::external`]); a check that asks for more fails loudly
//! rather than skipping. The 63 checks not listed in
//! [`conformance_checks!`](crate::conformance_checks):
//!
//! - **46 need a configuration other than tus-core's defaults**: a maximum size,
//!   expiration, an extension switched off, hooks scripted by the suite, short lock or
//!   body-idle timeouts, CORS origins, trusted proxy headers, a public URL, sequential IDs,
//!   a metadata limit, a checksum algorithm list, downloads off. Many of them also need an
//!   in-process handle: the lock backend (A4.14, A5.5, A14.1, A14.4), a second instance on
//!   the same storage (A4.12), a shutdown and restart (A14.2), the janitor (A8.6–A8.8).
//!   They are A1.1, A1.2, A2.2, A2.3, A2.4, A2.6, A2.7, A3.8, A4.11, A4.12, A4.13, A4.14,
//!   A5.5, A6.6, A6.11, A6.13, A7.1, A7.5, A7.6, A7.10, A7.11, A8.1–A8.8, A9.4, A9.8,
//!   A10.5, A10.6, A10.7, A11.1, A11.10, A11.13, A12.4, A12.5, A12.6, A13.2, A13.3, A13.4,
//!   A14.1, A14.2, A14.4. The apps take no such settings: they show how to mount tus in a
//!   framework, they are not configurable servers.
//! - **17 run on the defaults but read the hook event log**, to prove that a refused
//!   request created nothing or that an event fired exactly once: A1.4, A1.7, A6.1, A6.3,
//!   A6.4, A6.5, A6.7, A6.9, A7.3, A7.8, A10.2, A11.9, A11.11, A11.12, A11.14, A11.15,
//!   A13.5 (which also lists the storage directory). The app's only record of events is
//!   its `post_finish` list, which cannot show that nothing was created, and the suite
//!   has no way to skip just that assertion.
//!
//! All 63 run in-process against the tus-core that the adapters wrap; what the adapters
//! add (request and response conversion, streaming, disconnects) is covered by the 57 here,
//! the scenarios of [`crate::scenarios`] and the real clients of [`crate::interop`].

use crate::server::Server;
use async_trait::async_trait;
use std::sync::Arc;
pub use tus_conformance;
use tus_conformance::{Deployment, Launcher, Profile, Target};

/// An example app, started once per check, as the suite's servers.
#[derive(Debug, Clone)]
pub struct ExampleApp {
    binary: &'static str,
    server: Arc<Server>,
}

impl ExampleApp {
    /// Starts `binary` (without a token: the suite sends none).
    pub async fn start(binary: &'static str) -> Self {
        Self { binary, server: Arc::new(Server::start(binary, None).await) }
    }
}

#[async_trait]
impl Launcher for ExampleApp {
    fn name(&self) -> String {
        self.binary.rsplit('/').next().unwrap_or(self.binary).to_owned()
    }

    async fn launch(&self, profile: Profile) -> Deployment {
        defaults_deployment(&format!("http://{}/files", self.server.addr()), profile)
    }
}

/// A server the test started itself and reaches over HTTP, running tus-core's defaults
/// (e.g. `tus serve` on a cloud emulator), as the suite's servers.
pub struct RunningServer {
    name: String,
    endpoint: String,
    /// What must live as long as the server: its process handle, its directory.
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

impl RunningServer {
    /// The server at `endpoint` (e.g. `http://127.0.0.1:PORT/files`), named `name` in
    /// messages; `keep` is dropped with it.
    pub fn new(name: &str, endpoint: &str, keep: impl std::any::Any + Send + Sync) -> Self {
        Self { name: name.to_owned(), endpoint: endpoint.to_owned(), _keep: Box::new(keep) }
    }
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer").field("name", &self.name).field("endpoint", &self.endpoint).finish()
    }
}

#[async_trait]
impl Launcher for RunningServer {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn launch(&self, profile: Profile) -> Deployment {
        defaults_deployment(&self.endpoint, profile)
    }
}

/// The deployment at `endpoint`, which runs tus-core's defaults: a check that asks for
/// another profile fails saying so.
fn defaults_deployment(endpoint: &str, profile: Profile) -> Deployment {
    assert!(
        profile == Profile::default(),
        "this check needs a server configured as {profile:?}; this server runs tus-core's defaults"
    );
    Deployment::external(Target::new(endpoint).with_profile(profile))
}

/// One `#[tokio::test]` per conformance check that runs against an example app: those of
/// the default profile that need no in-process handle. The calling crate needs `tokio` with
/// the `macros` and `rt-multi-thread` features.
///
/// ```ignore
/// tus_example_harness::conformance_checks!(env!("CARGO_BIN_EXE_axum-app"));
/// ```
///
/// `conformance_checks!(launcher: EXPR)` runs them on the [`Launcher`] that the future
/// `EXPR` gives, made anew for each check (e.g. `tus serve` on a cloud emulator).
#[macro_export]
macro_rules! conformance_checks {
    (launcher: $launcher:expr) => {
        $crate::conformance_checks!(@checks $launcher);
    };
    ($binary:expr) => {
        $crate::conformance_checks!(@checks $crate::conformance::ExampleApp::start($binary));
    };
    (@checks $launcher:expr) => {
        $crate::conformance_checks!(@tests $launcher;
            a1_version::a1_3_unsupported_version_patch_is_412_and_offset_unchanged,
            a1_version::a1_5_options_ignores_tus_resumable,
            a1_version::a1_6_tus_version_lists_1_0_0_first,
            a1_version::a1_8_head_and_get_without_tus_resumable_are_allowed,
            a2_options::a2_1_options_has_tus_version,
            a2_options::a2_5_cors_preflight_is_200_with_allow_headers,
            a3_head::a3_1_head_on_fresh_upload,
            a3_head::a3_2_head_on_complete_upload,
            a3_head::a3_3_head_has_cache_control_no_store,
            a3_head::a3_4_head_on_unknown_id_is_404_without_offset,
            a3_head::a3_5_head_echoes_metadata,
            a3_head::a3_6_deferred_length_head,
            a3_head::a3_7_head_never_has_a_body,
            a4_patch::a4_1_patch_appends_and_reports_offset,
            a4_patch::a4_2_offset_grows_by_the_bytes_stored,
            a4_patch::a4_3_wrong_content_type_is_415,
            a4_patch::a4_4_offset_mismatch_is_409_and_changes_nothing,
            a4_patch::a4_5_missing_offset_is_400,
            a4_patch::a4_6_patch_on_unknown_id_is_404,
            a4_patch::a4_7_content_length_past_length_is_413_before_reading,
            a4_patch::a4_8_chunked_body_past_length_is_cut_and_413,
            a4_patch::a4_9_patch_on_complete_upload,
            a4_patch::a4_10_dropped_connection_keeps_the_received_prefix,
            a5_method_override::a5_1_override_patch,
            a5_method_override::a5_2_override_delete,
            a5_method_override::a5_3_override_head,
            a5_method_override::a5_4_override_on_any_method,
            a6_creation::a6_2_creation_is_advertised,
            a6_creation::a6_8_metadata_key_without_value,
            a6_creation::a6_10_metadata_cannot_smuggle_headers,
            a6_creation::a6_12_ids_are_unique_and_unguessable,
            a7_creation_with_upload::a7_2_post_with_body_stores_it,
            a7_creation_with_upload::a7_4_post_body_with_other_content_type_is_ignored,
            a7_creation_with_upload::a7_7_deferred_length_creation,
            a7_creation_with_upload::a7_9_length_cannot_change_once_set,
            a9_checksum::a9_1_checksum_is_advertised_with_sha1,
            a9_checksum::a9_2_correct_sha1_is_accepted,
            a9_checksum::a9_3_wrong_digest_is_460_and_rolled_back,
            a9_checksum::a9_5_malformed_checksum_is_400,
            a9_checksum::a9_6_uppercase_algorithm_is_refused_or_normalised,
            a9_checksum::a9_7_dropped_checksummed_chunk_commits_nothing,
            a9_checksum::a9_9_supported_algorithms,
            a10_termination::a10_1_termination_is_advertised,
            a10_termination::a10_3_requests_after_delete_are_404_or_410,
            a10_termination::a10_4_delete_frees_storage,
            a11_concatenation::a11_2_partial_upload,
            a11_concatenation::a11_3_final_concatenates_partials,
            a11_concatenation::a11_4_absolute_partial_urls,
            a11_concatenation::a11_5_partial_order_is_byte_order,
            a11_concatenation::a11_6_partials_can_be_reused,
            a11_concatenation::a11_7_final_metadata_is_not_inherited,
            a11_concatenation::a11_8_patch_on_final_is_403,
            a11_concatenation::a11_16_partial_urls_have_no_spaces,
            a12_download::a12_1_get_returns_the_bytes_and_a_safe_content_type,
            a12_download::a12_2_content_disposition_is_safe,
            a12_download::a12_3_range_and_etag,
            a13_location::a13_1_location_is_relative_and_resolves,
        );
    };
    (@tests $launcher:expr; $($section:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let launcher = $launcher.await;
                $crate::conformance::tus_conformance::checks::$section::$check(&launcher).await;
            }
        )*
    };
}
