//! The conformance suite: every check of `tus_conformance::checks` for each
//! storage backend and each way of mounting the service, as separate tests named
//! `<backend>_<mode>::<line>` (e.g. `memory_wrapped::a4_4_offset_mismatch_is_409_and_changes_nothing`).
//!
//! The SQLite runs come with the default `sqlite` feature; `--no-default-features` runs
//! the in-memory ones alone. `--features s3` adds `s3_standalone` (S3Storage on moto),
//! `--features gcs` adds `gcs_standalone` (GcsStorage on fake-gcs-server), `--features azure`
//! adds `azure_standalone` (AzureStorage on Azurite).

use tus_conformance::{Backend, InProcess, Mode};

/// One `#[tokio::test]` per check, run against the `launcher()` of the calling module.
macro_rules! checks {
    ($($section:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $section::$check(&launcher()).await;
            }
        )*
    };
}

/// One test per check for `$backend` served as `$mode`.
macro_rules! conformance {
    ($name:ident, $backend:expr, $mode:expr) => {
        mod $name {
            use super::*;
            use tus_conformance::checks::*;

            fn launcher() -> InProcess {
                InProcess::new($backend, $mode)
            }

            checks! {
            a1_version::a1_1_every_response_has_tus_resumable,
            a1_version::a1_2_unsupported_version_post_is_412_and_creates_nothing,
            a1_version::a1_3_unsupported_version_patch_is_412_and_offset_unchanged,
            a1_version::a1_4_missing_tus_resumable_is_412,
            a1_version::a1_5_options_ignores_tus_resumable,
            a1_version::a1_6_tus_version_lists_1_0_0_first,
            a1_version::a1_7_non_integer_offset_or_length_is_400,
            a1_version::a1_8_head_and_get_without_tus_resumable_are_allowed,
            a2_options::a2_1_options_has_tus_version,
            a2_options::a2_2_tus_extension_lists_exactly_the_enabled_extensions,
            a2_options::a2_3_tus_max_size_matches_the_configuration,
            a2_options::a2_4_checksum_algorithms_are_lowercase_and_include_sha1,
            a2_options::a2_5_cors_preflight_is_200_with_allow_headers,
            a2_options::a2_6_cors_expose_headers_on_success_and_errors,
            a2_options::a2_7_disallowed_origin_gets_no_allow_origin,
            a3_head::a3_1_head_on_fresh_upload,
            a3_head::a3_2_head_on_complete_upload,
            a3_head::a3_3_head_has_cache_control_no_store,
            a3_head::a3_4_head_on_unknown_id_is_404_without_offset,
            a3_head::a3_5_head_echoes_metadata,
            a3_head::a3_6_deferred_length_head,
            a3_head::a3_7_head_never_has_a_body,
            a3_head::a3_8_head_during_patch_answers_within_lock_timeout,
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
            a4_patch::a4_11_idle_body_times_out_and_persists,
            a4_patch::a4_12_concurrent_patches_apply_at_most_one,
            a4_patch::a4_13_patch_on_expiring_upload_has_upload_expires,
            a4_patch::a4_14_expect_100_continue_only_after_validation,
            a5_method_override::a5_1_override_patch,
            a5_method_override::a5_2_override_delete,
            a5_method_override::a5_3_override_head,
            a5_method_override::a5_4_override_on_any_method,
            a5_method_override::a5_5_override_takes_the_same_checks,
            a6_creation::a6_1_post_creates_an_upload,
            a6_creation::a6_2_creation_is_advertised,
            a6_creation::a6_3_post_without_length_is_400,
            a6_creation::a6_4_defer_length_other_than_1_is_400,
            a6_creation::a6_5_length_and_defer_length_is_400,
            a6_creation::a6_6_length_above_max_size_is_413,
            a6_creation::a6_7_zero_length_upload_is_complete_at_once,
            a6_creation::a6_8_metadata_key_without_value,
            a6_creation::a6_9_invalid_metadata_is_400,
            a6_creation::a6_10_metadata_cannot_smuggle_headers,
            a6_creation::a6_11_oversized_metadata_is_refused,
            a6_creation::a6_12_ids_are_unique_and_unguessable,
            a6_creation::a6_13_pre_create_refusal_is_sent_and_creates_nothing,
            a7_creation_with_upload::a7_1_creation_with_upload_needs_creation,
            a7_creation_with_upload::a7_2_post_with_body_stores_it,
            a7_creation_with_upload::a7_3_post_with_whole_body_completes,
            a7_creation_with_upload::a7_4_post_body_with_other_content_type_is_ignored,
            a7_creation_with_upload::a7_5_post_expect_100_continue_validates_first,
            a7_creation_with_upload::a7_6_dropped_creation_with_upload_keeps_the_upload,
            a7_creation_with_upload::a7_7_deferred_length_creation,
            a7_creation_with_upload::a7_8_patch_declares_the_length,
            a7_creation_with_upload::a7_9_length_cannot_change_once_set,
            a7_creation_with_upload::a7_10_declared_length_below_offset_or_above_max_is_refused,
            a7_creation_with_upload::a7_11_deferred_upload_cannot_pass_max_size,
            a8_expiration::a8_1_expiration_is_advertised,
            a8_expiration::a8_2_creation_response_has_upload_expires,
            a8_expiration::a8_3_every_patch_response_has_upload_expires,
            a8_expiration::a8_4_upload_expires_is_an_imf_fixdate,
            a8_expiration::a8_5_sliding_expiry_moves_absolute_stays,
            a8_expiration::a8_6_expired_upload_is_410,
            a8_expiration::a8_7_janitor_removes_expired_uploads,
            a8_expiration::a8_8_upload_being_written_is_not_reaped,
            a9_checksum::a9_1_checksum_is_advertised_with_sha1,
            a9_checksum::a9_2_correct_sha1_is_accepted,
            a9_checksum::a9_3_wrong_digest_is_460_and_rolled_back,
            a9_checksum::a9_4_unsupported_algorithm_is_400,
            a9_checksum::a9_5_malformed_checksum_is_400,
            a9_checksum::a9_6_uppercase_algorithm_is_refused_or_normalised,
            a9_checksum::a9_7_dropped_checksummed_chunk_commits_nothing,
            a9_checksum::a9_8_checksum_trailer,
            a9_checksum::a9_9_supported_algorithms,
            a10_termination::a10_1_termination_is_advertised,
            a10_termination::a10_2_delete_is_204,
            a10_termination::a10_3_requests_after_delete_are_404_or_410,
            a10_termination::a10_4_delete_frees_storage,
            a10_termination::a10_5_delete_interrupts_a_patch_in_flight,
            a10_termination::a10_6_termination_disabled,
            a10_termination::a10_7_pre_terminate_veto,
            a11_concatenation::a11_1_concatenation_is_advertised,
            a11_concatenation::a11_2_partial_upload,
            a11_concatenation::a11_3_final_concatenates_partials,
            a11_concatenation::a11_4_absolute_partial_urls,
            a11_concatenation::a11_5_partial_order_is_byte_order,
            a11_concatenation::a11_6_partials_can_be_reused,
            a11_concatenation::a11_7_final_metadata_is_not_inherited,
            a11_concatenation::a11_8_patch_on_final_is_403,
            a11_concatenation::a11_9_final_with_upload_length_is_400,
            a11_concatenation::a11_10_unfinished_partial_without_extension_is_400,
            a11_concatenation::a11_11_final_with_invalid_parts_is_400,
            a11_concatenation::a11_12_final_with_body_is_refused,
            a11_concatenation::a11_13_final_above_max_size_is_413,
            a11_concatenation::a11_14_concatenation_unfinished,
            a11_concatenation::a11_15_partials_fire_no_finish_event,
            a11_concatenation::a11_16_partial_urls_have_no_spaces,
            a12_download::a12_1_get_returns_the_bytes_and_a_safe_content_type,
            a12_download::a12_2_content_disposition_is_safe,
            a12_download::a12_3_range_and_etag,
            a12_download::a12_4_get_incomplete_or_expired,
            a12_download::a12_5_download_does_not_hold_the_lock,
            a12_download::a12_6_download_can_be_disabled_and_authorized,
            a13_location::a13_1_location_is_relative_and_resolves,
            a13_location::a13_2_forwarded_headers_only_when_trusted,
            a13_location::a13_3_public_url_overrides,
            a13_location::a13_4_unsafe_ids_from_hooks_fail_with_500,
            a13_location::a13_5_path_traversal_is_refused,
            a14_robustness::a14_1_lock_timeout_is_423_with_retry_after,
            a14_robustness::a14_2_graceful_shutdown_persists_and_releases,
            // A14.3 (kill -9 mid-PATCH) needs a separate process: see a14_3 below.
            a14_robustness::a14_4_errors_are_text_with_stable_codes,
            }

            #[test]
            #[ignore = "A14.3 kills a server process with SIGKILL mid-PATCH: tested by the tus CLI in cli/tests/crash.rs"]
            fn a14_3_crash_mid_patch_is_resumable() {}

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn passthrough_reaches_the_inner_service() {
                passthrough::passthrough_reaches_the_inner_service(&launcher(), $mode).await;
            }
        }
    };
}

conformance!(memory_standalone, Backend::Memory, Mode::Standalone);
conformance!(memory_wrapped, Backend::Memory, Mode::Wrapped);
#[cfg(feature = "sqlite")]
conformance!(sqlite_standalone, Backend::Sqlite, Mode::Standalone);
#[cfg(feature = "sqlite")]
conformance!(sqlite_wrapped, Backend::Sqlite, Mode::Wrapped);
#[cfg(feature = "s3")]
conformance!(s3_standalone, Backend::S3, Mode::Standalone);
#[cfg(feature = "gcs")]
conformance!(gcs_standalone, Backend::Gcs, Mode::Standalone);
#[cfg(feature = "azure")]
conformance!(azure_standalone, Backend::Azure, Mode::Standalone);
