//! A2. OPTIONS (discovery) and CORS.

use super::{create, create_complete, discover, extensions, patch};
use crate::client::Response;
use crate::deploy::Launcher;
use crate::digest::wrong_checksum;
use crate::target::{CorsProfile, Profile};
use std::collections::BTreeSet;
use tus_core::{ChecksumAlgorithm, Expiration, Extension};

const ORIGIN: &str = "https://app.example";

fn names(list: &str) -> BTreeSet<String> {
    list.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect()
}

#[track_caller]
fn assert_lists(response: &Response, header: &str, wanted: &[&str], what: &str) {
    let value = response.header(header).unwrap_or_else(|| panic!("{what}: no {header}: {response:?}"));
    let listed = names(value);
    for name in wanted {
        assert!(listed.contains(&name.to_ascii_lowercase()), "{what}: {header} must list {name}: {value:?}");
    }
}

/// A2.1: OPTIONS is 200 or 204 with `Tus-Version`.
pub async fn a2_1_options_has_tus_version(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let response = discover(d.target()).await;
    let version = response.header("tus-version").unwrap_or_else(|| panic!("OPTIONS without Tus-Version: {response:?}"));
    assert!(version.split(',').any(|v| v.trim() == "1.0.0"), "Tus-Version must list 1.0.0: {response:?}");
}

/// A2.2: `Tus-Extension` lists exactly the enabled (and supported) extensions, and
/// is absent when none is enabled.
pub async fn a2_2_tus_extension_lists_exactly_the_enabled_extensions(launcher: &dyn Launcher) {
    let profiles = [
        Profile::default(),
        Profile::default().expiration(Expiration::absolute(std::time::Duration::from_secs(3600))),
        Profile::default()
            .extension(Extension::Termination, false)
            .extension(Extension::Checksum, false)
            .extension(Extension::ConcatenationUnfinished, false),
        Profile::default().extension(Extension::Creation, false),
        Profile { checksum_algorithms: Vec::new(), ..Profile::default() },
    ];
    for profile in profiles {
        let d = launcher.launch(profile).await;
        let expected: BTreeSet<String> =
            d.target().profile.advertised_extensions().iter().map(|e| (*e).to_owned()).collect();
        let response = discover(d.target()).await;
        assert_eq!(
            extensions(&response),
            expected,
            "Tus-Extension for {:?}: {response:?}",
            d.target().profile.extensions
        );
        assert_eq!(response.header_all("tus-extension").len(), 1, "one Tus-Extension header: {response:?}");
    }
    let mut none = Profile::default();
    none.extensions.clear();
    let d = launcher.launch(none).await;
    let response = discover(d.target()).await;
    assert!(!response.has("tus-extension"), "no extension enabled: Tus-Extension must be absent: {response:?}");
}

/// A2.3: `Tus-Max-Size: N` with a configured maximum, absent without one.
pub async fn a2_3_tus_max_size_matches_the_configuration(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().max_size(123_456)).await;
    let response = discover(d.target()).await;
    assert_eq!(response.header("tus-max-size"), Some("123456"), "{response:?}");
    let d = launcher.launch_default().await;
    let response = discover(d.target()).await;
    assert!(!response.has("tus-max-size"), "no maximum configured: {response:?}");
}

/// A2.4: `Tus-Checksum-Algorithm` lists lowercase ASCII names including `sha1`.
pub async fn a2_4_checksum_algorithms_are_lowercase_and_include_sha1(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let response = discover(d.target()).await;
    let value =
        response.header("tus-checksum-algorithm").unwrap_or_else(|| panic!("no Tus-Checksum-Algorithm: {response:?}"));
    let list: Vec<&str> = value.split(',').map(str::trim).collect();
    assert!(list.contains(&"sha1"), "sha1 must be listed: {value:?}");
    for name in &list {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "algorithm names are lowercase ASCII: {name:?} in {value:?}"
        );
    }
    // Only the configured algorithms are advertised.
    let d = launcher.launch(Profile { checksum_algorithms: vec![ChecksumAlgorithm::Sha1], ..Profile::default() }).await;
    let response = discover(d.target()).await;
    assert_eq!(response.header("tus-checksum-algorithm"), Some("sha1"), "{response:?}");
}

/// A2.5: a CORS preflight is 200 with the allowed methods, headers and max-age.
pub async fn a2_5_cors_preflight_is_200_with_allow_headers(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let response = t
        .options()
        .no_tus()
        .header("origin", ORIGIN)
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "tus-resumable, upload-offset, content-type")
        .send()
        .await;
    response.expect(200, "CORS preflight (never 204)");
    assert_eq!(response.header_all("access-control-allow-origin"), vec![ORIGIN.to_owned()], "{response:?}");
    assert_lists(
        &response,
        "access-control-allow-methods",
        &["POST", "HEAD", "PATCH", "OPTIONS", "GET", "DELETE"],
        "preflight",
    );
    assert_lists(
        &response,
        "access-control-allow-headers",
        &[
            "Tus-Resumable",
            "Upload-Length",
            "Upload-Offset",
            "Upload-Metadata",
            "Upload-Defer-Length",
            "Upload-Concat",
            "Content-Type",
            "Upload-Checksum",
            "Upload-Complete",
            "Upload-Draft-Interop-Version",
            "X-HTTP-Method-Override",
            "Authorization",
        ],
        "preflight",
    );
    let max_age = response.header("access-control-max-age").unwrap_or_else(|| panic!("no Max-Age: {response:?}"));
    assert!(max_age.parse::<u64>().is_ok(), "Access-Control-Max-Age is a number: {max_age:?}");
}

/// A2.6: actual cross-origin responses expose the tus headers, errors included.
pub async fn a2_6_cors_expose_headers_on_success_and_errors(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().max_size(100)).await;
    let t = d.target();
    let upload = create(t, 10).await;
    let complete = create_complete(t, b"abc").await;
    let cases = vec![
        ("201", t.post().header("origin", ORIGIN).header("upload-length", "5").send().await),
        ("200", t.head(&upload.path).header("origin", ORIGIN).send().await),
        ("204", t.options().header("origin", ORIGIN).send().await),
        ("412", t.post().header("origin", ORIGIN).tus_version("0.2.2").header("upload-length", "5").send().await),
        ("400", t.post().header("origin", ORIGIN).header("upload-length", "x").send().await),
        ("404", t.head(&t.upload_path("nope")).header("origin", ORIGIN).send().await),
        (
            "409",
            t.patch(&upload.path)
                .header("origin", ORIGIN)
                .offset_octet_stream()
                .upload_offset(3)
                .body("x")
                .send()
                .await,
        ),
        ("413", t.post().header("origin", ORIGIN).header("upload-length", "101").send().await),
        (
            "460",
            t.patch(&upload.path)
                .header("origin", ORIGIN)
                .offset_octet_stream()
                .upload_offset(0)
                .header("upload-checksum", wrong_checksum("sha1", b"abc"))
                .body("abc")
                .send()
                .await,
        ),
        ("200", t.get(&complete.path).header("origin", ORIGIN).send().await),
    ];
    for (status, response) in &cases {
        let what = format!("{status} response to a cross-origin request");
        response.expect(status.parse().expect("status"), &what);
        assert_eq!(response.header_all("access-control-allow-origin"), vec![ORIGIN.to_owned()], "{what}: {response:?}");
        assert_lists(
            response,
            "access-control-expose-headers",
            &[
                "Location",
                "Upload-Offset",
                "Upload-Length",
                "Upload-Metadata",
                "Upload-Defer-Length",
                "Upload-Concat",
                "Upload-Expires",
                "Tus-Resumable",
                "Tus-Version",
                "Tus-Extension",
                "Tus-Max-Size",
                "Tus-Checksum-Algorithm",
                "Upload-Limit",
                "Upload-Complete",
            ],
            &what,
        );
    }
}

/// A2.7: an origin that is not allowed gets no `Access-Control-Allow-Origin`
/// (a preflight gets 403); no response carries the header twice.
pub async fn a2_7_disallowed_origin_gets_no_allow_origin(launcher: &dyn Launcher) {
    let profile = Profile { cors: CorsProfile::Origins(vec![ORIGIN.to_owned()]), ..Profile::default() };
    let d = launcher.launch(profile).await;
    let t = d.target();
    let evil = "https://evil.example";
    let preflight =
        t.options().no_tus().header("origin", evil).header("access-control-request-method", "PATCH").send().await;
    preflight.expect(403, "preflight from an origin that is not allowed");
    assert!(!preflight.has("access-control-allow-origin"), "{preflight:?}");
    let actual = t.post().header("origin", evil).header("upload-length", "5").send().await;
    assert!(!actual.has("access-control-allow-origin"), "no echo for an origin that is not allowed: {actual:?}");

    let preflight =
        t.options().no_tus().header("origin", ORIGIN).header("access-control-request-method", "PATCH").send().await;
    preflight.expect(200, "preflight from the allowed origin");
    let created = t.post().header("origin", ORIGIN).header("upload-length", "5").send().await;
    created.expect(201, "POST from the allowed origin");
    let upload = super::Upload::from_location(t, &created);
    let patched = patch(t, &upload.path, 0, "x").await;
    patched.expect(204, "PATCH without Origin");
    assert!(!patched.has("access-control-allow-origin"), "no CORS headers without Origin: {patched:?}");
    let responses = [
        preflight,
        created,
        t.head(&upload.path).header("origin", ORIGIN).send().await,
        t.patch(&upload.path).header("origin", ORIGIN).offset_octet_stream().upload_offset(0).body("y").send().await,
    ];
    for response in &responses {
        assert_eq!(
            response.header_all("access-control-allow-origin"),
            vec![ORIGIN.to_owned()],
            "exactly one Access-Control-Allow-Origin: {response:?}"
        );
    }
}
