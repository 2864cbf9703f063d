//! A11. Concatenation.
//!
//! A storage without concatenation must not advertise it (A11.1); the other lines
//! are then skipped with a note on stderr.

use super::a3_head::parse_metadata;
use super::{Upload, create_partial, discover, download, extensions, head, offset, patch};
use crate::client::Response;
use crate::deploy::{Deployment, EventKind, Launcher};
use crate::digest::base64;
use crate::target::{Profile, Target};
use std::collections::BTreeSet;
use tus_core::Extension;

/// Whether the deployment's storage can concatenate; prints a note when it cannot.
fn supported(d: &Deployment, line: &str) -> bool {
    let profile = &d.target().profile;
    let on = profile.advertises(Extension::Concatenation);
    if !on {
        eprintln!("{line}: skipped, the storage does not support concatenation ({:?})", profile.storage);
    }
    on
}

async fn post_final(t: &Target, parts: &[&str]) -> Response {
    t.post().header("upload-concat", format!("final;{}", parts.join(" "))).send().await
}

/// The partial URLs of an `Upload-Concat: final;…` echo, as paths.
fn echoed_parts(t: &Target, response: &Response) -> Vec<String> {
    let value = response.header("upload-concat").unwrap_or_else(|| panic!("no Upload-Concat echo: {response:?}"));
    let list = value.strip_prefix("final;").unwrap_or_else(|| panic!("Upload-Concat {value:?} is not a final"));
    list.split(' ').filter(|u| !u.is_empty()).map(|u| t.resolve(u)).collect()
}

/// A11.1: `concatenation` is advertised exactly when the storage supports it.
pub async fn a11_1_concatenation_is_advertised(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let listed = extensions(&discover(d.target()).await);
    let profile = &d.target().profile;
    assert_eq!(
        listed.contains("concatenation"),
        profile.storage.concatenation,
        "{listed:?} with {:?}",
        profile.storage
    );
    let d = launcher.launch(Profile::default().extension(Extension::Concatenation, false)).await;
    let listed = extensions(&discover(d.target()).await);
    assert!(!listed.contains("concatenation") && !listed.contains("concatenation-unfinished"), "{listed:?}");
    d.target()
        .post()
        .header("upload-concat", "partial")
        .header("upload-length", "5")
        .send()
        .await
        .expect_one_of(&[400, 403, 405, 501], "Upload-Concat with concatenation off");
}

/// A11.2: `Upload-Concat: partial` creates a partial upload, echoed on HEAD.
pub async fn a11_2_partial_upload(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.2") {
        return;
    }
    let t = d.target();
    let response = t.post().header("upload-concat", "partial").header("upload-length", "5").send().await;
    response.expect(201, "POST Upload-Concat: partial");
    let upload = Upload::from_location(t, &response);
    let response = head(t, &upload.path).await;
    assert_eq!(response.header("upload-concat"), Some("partial"), "{response:?}");
    assert_eq!(response.offset(), Some(0), "{response:?}");
    patch(t, &upload.path, 0, "hello").await.expect(204, "PATCH the partial");
    let response = head(t, &upload.path).await;
    assert_eq!((response.offset(), response.header("upload-concat")), (Some(5), Some("partial")), "{response:?}");
}

/// A11.3: a final of `hello` and ` world` is `hello world`, complete, with the echo.
pub async fn a11_3_final_concatenates_partials(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.3") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let b = create_partial(t, b" world").await;
    let response = post_final(t, &[&a.path, &b.path]).await;
    response.expect(201, "POST final");
    let final_ = Upload::from_location(t, &response);
    let response = head(t, &final_.path).await;
    assert_eq!((response.offset(), response.length()), (Some(11), Some(11)), "{response:?}");
    assert_eq!(echoed_parts(t, &response), vec![a.path.clone(), b.path.clone()], "{response:?}");
    assert_eq!(&download(t, &final_.path).await[..], b"hello world");
}

/// A11.4: absolute partial URLs are accepted the same way.
pub async fn a11_4_absolute_partial_urls(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.4") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let b = create_partial(t, b" world").await;
    let own = [format!("{}{}", t.origin(), a.path), format!("{}{}", t.origin(), b.path)];
    let proxied = [format!("https://host{}", a.path), format!("https://host{}", b.path)];
    for urls in [own, proxied] {
        let response = post_final(t, &[&urls[0], &urls[1]]).await;
        response.expect(201, &format!("POST final with {urls:?}"));
        let final_ = Upload::from_location(t, &response);
        assert_eq!(&download(t, &final_.path).await[..], b"hello world");
    }
}

/// A11.5: the order of the partials is the order of the bytes.
pub async fn a11_5_partial_order_is_byte_order(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.5") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let b = create_partial(t, b" world").await;
    let response = post_final(t, &[&b.path, &a.path]).await;
    response.expect(201, "POST final b a");
    let final_ = Upload::from_location(t, &response);
    assert_eq!(&download(t, &final_.path).await[..], b" worldhello");
    assert_eq!(echoed_parts(t, &head(t, &final_.path).await), vec![b.path, a.path]);
}

/// A11.6: a partial may be listed twice, and used by two finals.
pub async fn a11_6_partials_can_be_reused(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.6") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let response = post_final(t, &[&a.path, &a.path]).await;
    response.expect(201, "POST final a a");
    let twice = Upload::from_location(t, &response);
    assert_eq!(&download(t, &twice.path).await[..], b"hellohello");
    let response = post_final(t, &[&a.path]).await;
    response.expect(201, "a second final using a");
    let again = Upload::from_location(t, &response);
    assert_eq!(&download(t, &again.path).await[..], b"hello");
    assert_eq!(&download(t, &twice.path).await[..], b"hellohello", "the first final changed");
}

/// A11.7: the final's metadata comes only from the final POST.
pub async fn a11_7_final_metadata_is_not_inherited(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.7") {
        return;
    }
    let t = d.target();
    let mut parts = Vec::new();
    for (name, body) in [("a.txt", "hello"), ("b.txt", " world")] {
        let response = t
            .post()
            .header("upload-concat", "partial")
            .header("upload-length", body.len().to_string())
            .header("upload-metadata", format!("filename {},partonly {}", base64(name.as_bytes()), base64(b"1")))
            .send()
            .await;
        response.expect(201, "POST partial with metadata");
        let upload = Upload::from_location(t, &response);
        patch(t, &upload.path, 0, body).await.expect(204, "PATCH partial");
        parts.push(upload.path);
    }
    let response = t
        .post()
        .header("upload-concat", format!("final;{} {}", parts[0], parts[1]))
        .header("upload-metadata", format!("filename {}", base64(b"final.txt")))
        .send()
        .await;
    response.expect(201, "POST final with metadata");
    let final_ = Upload::from_location(t, &response);
    let response = head(t, &final_.path).await;
    let echoed =
        parse_metadata(response.header("upload-metadata").unwrap_or_else(|| panic!("no metadata: {response:?}")));
    let keys: BTreeSet<&str> = echoed.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["filename"]), "only the final's own metadata: {response:?}");
    assert_eq!(echoed["filename"], b"final.txt");
    let response = post_final(t, &[&parts[0], &parts[1]]).await;
    let bare = Upload::from_location(t, &response);
    let response = head(t, &bare.path).await;
    assert!(!response.has("upload-metadata"), "a final without metadata inherits none: {response:?}");
}

/// A11.8: PATCH on a final is 403; the final and its partials are unchanged.
pub async fn a11_8_patch_on_final_is_403(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.8") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let response = post_final(t, &[&a.path]).await;
    let final_ = Upload::from_location(t, &response);
    patch(t, &final_.path, 5, "more").await.expect(403, "PATCH on a final");
    patch(t, &final_.path, 5, "").await.expect(403, "empty PATCH on a final");
    patch(t, &final_.path, 0, "HELLO").await.expect(403, "PATCH on a final at 0");
    assert_eq!(&download(t, &final_.path).await[..], b"hello");
    assert_eq!(&download(t, &a.path).await[..], b"hello");
    assert_eq!(offset(t, &a.path).await, 5);
}

/// A11.9: a final POST with `Upload-Length` is 400.
pub async fn a11_9_final_with_upload_length_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.9") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let before = d.events().count_kind(EventKind::Created);
    t.post()
        .header("upload-concat", format!("final;{}", a.path))
        .header("upload-length", "5")
        .send()
        .await
        .expect(400, "final with Upload-Length");
    assert_eq!(d.events().count_kind(EventKind::Created), before, "nothing may be created");
}

/// A11.10: a final naming an unfinished partial without `concatenation-unfinished` is 400.
pub async fn a11_10_unfinished_partial_without_extension_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().extension(Extension::ConcatenationUnfinished, false)).await;
    if !supported(&d, "A11.10") {
        return;
    }
    let t = d.target();
    assert!(!extensions(&discover(t).await).contains("concatenation-unfinished"));
    let a = create_partial(t, b"hello").await;
    let response = t.post().header("upload-concat", "partial").header("upload-length", "6").send().await;
    let b = Upload::from_location(t, &response);
    patch(t, &b.path, 0, " wo").await.expect(204, "PATCH half of b");
    let before = d.events().count_kind(EventKind::Created);
    post_final(t, &[&a.path, &b.path]).await.expect(400, "final naming an unfinished partial");
    assert_eq!(d.events().count_kind(EventKind::Created), before, "nothing may be created");
}

/// A11.11: a final naming an unknown partial, a non-partial or a foreign URL is 400.
pub async fn a11_11_final_with_invalid_parts_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.11") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let plain = super::create_complete(t, b"plain").await;
    let foreign = format!("/elsewhere/{}", a.id);
    let cases = [
        ("an unknown partial", vec![a.path.clone(), t.upload_path("0123456789abcdef0123456789abcdef")]),
        ("a non-partial upload", vec![a.path.clone(), plain.path.clone()]),
        ("a URL outside the base path", vec![a.path.clone(), foreign]),
        ("no partial at all", vec![]),
        ("a non-URL", vec!["not-a-url".to_owned()]),
    ];
    let before = d.events().count_kind(EventKind::Created);
    for (what, parts) in cases {
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        post_final(t, &parts).await.expect(400, &format!("final with {what}"));
    }
    t.post().header("upload-concat", "final").send().await.expect(400, "Upload-Concat: final without a list");
    t.post()
        .header("upload-concat", "whatever")
        .header("upload-length", "5")
        .send()
        .await
        .expect(400, "bad Upload-Concat");
    assert_eq!(d.events().count_kind(EventKind::Created), before, "nothing may be created");
}

/// A11.12: a final POST with a body is refused (403 or 400).
pub async fn a11_12_final_with_body_is_refused(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.12") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let before = d.events().count_kind(EventKind::Created);
    t.post()
        .header("upload-concat", format!("final;{}", a.path))
        .offset_octet_stream()
        .body("extra")
        .send()
        .await
        .expect_one_of(&[403, 400], "final with a body");
    assert_eq!(d.events().count_kind(EventKind::Created), before, "nothing may be created");
}

/// A11.13: partials whose lengths add up past the maximum are 413; nothing is created.
pub async fn a11_13_final_above_max_size_is_413(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().max_size(10)).await;
    if !supported(&d, "A11.13") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello!").await;
    let b = create_partial(t, b"world!").await;
    let before = d.events().count_kind(EventKind::Created);
    post_final(t, &[&a.path, &b.path]).await.expect(413, "final of 12 bytes with a maximum of 10");
    assert_eq!(d.events().count_kind(EventKind::Created), before, "nothing may be created");
}

/// A11.14: concatenation-unfinished: the final exists early and completes with its
/// last partial, firing the finish event exactly once.
pub async fn a11_14_concatenation_unfinished(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.14") {
        return;
    }
    let t = d.target();
    if !t.profile.advertises(Extension::ConcatenationUnfinished) {
        let listed = extensions(&discover(t).await);
        assert!(!listed.contains("concatenation-unfinished"), "advertised but unsupported: {listed:?}");
        eprintln!("A11.14: skipped, the storage does not support concatenation-unfinished");
        return;
    }
    assert!(extensions(&discover(t).await).contains("concatenation-unfinished"));
    let partial = |length: usize| async move {
        let response =
            t.post().header("upload-concat", "partial").header("upload-length", length.to_string()).send().await;
        response.expect(201, "POST partial");
        Upload::from_location(t, &response)
    };

    // One partial still uploading.
    let a = partial(5).await;
    let b = create_partial(t, b" world").await;
    patch(t, &a.path, 0, "he").await.expect(204, "PATCH half of a");
    let response = post_final(t, &[&a.path, &b.path]).await;
    response.expect(201, "final naming an unfinished partial");
    let final_ = Upload::from_location(t, &response);
    let response = head(t, &final_.path).await;
    super::expect_head_ok(&response, "HEAD on an unfinished final");
    assert_eq!(echoed_parts(t, &response), vec![a.path.clone(), b.path.clone()], "{response:?}");
    assert!(!response.has("upload-offset"), "an unfinished final has no offset: {response:?}");
    assert_eq!(response.length(), Some(11), "all partial lengths are known: {response:?}");
    patch(t, &a.path, 2, "llo").await.expect(204, "complete a");
    let response = head(t, &final_.path).await;
    assert_eq!((response.offset(), response.length()), (Some(11), Some(11)), "{response:?}");
    assert_eq!(&download(t, &final_.path).await[..], b"hello world");
    assert_eq!(d.events().count(EventKind::Finished, &final_.id), 1, "{:?}", d.events().all());

    // Two partials completing at the same moment.
    for round in 0..3 {
        let a = partial(5).await;
        let b = partial(6).await;
        let response = post_final(t, &[&a.path, &b.path]).await;
        response.expect(201, "final naming two unfinished partials");
        let final_ = Upload::from_location(t, &response);
        let (ra, rb) = tokio::join!(patch(t, &a.path, 0, "hello"), patch(t, &b.path, 0, " world"));
        ra.expect(204, "complete a");
        rb.expect(204, "complete b");
        let response = head(t, &final_.path).await;
        assert_eq!((response.offset(), response.length()), (Some(11), Some(11)), "round {round}: {response:?}");
        assert_eq!(&download(t, &final_.path).await[..], b"hello world");
        assert_eq!(d.events().count(EventKind::Finished, &final_.id), 1, "round {round}: {:?}", d.events().all());
    }

    // A partial whose length is still unknown: the final has no length yet.
    let deferred = t.post().header("upload-concat", "partial").header("upload-defer-length", "1").send().await;
    deferred.expect(201, "deferred partial");
    let deferred = Upload::from_location(t, &deferred);
    let b = create_partial(t, b"!").await;
    let response = post_final(t, &[&deferred.path, &b.path]).await;
    response.expect(201, "final naming a deferred partial");
    let final_ = Upload::from_location(t, &response);
    let response = head(t, &final_.path).await;
    assert!(!response.has("upload-length") && !response.has("upload-offset"), "{response:?}");
    t.patch(&deferred.path)
        .offset_octet_stream()
        .upload_offset(0)
        .header("upload-length", "2")
        .body("hi")
        .send()
        .await
        .expect(204, "complete the deferred partial");
    let response = head(t, &final_.path).await;
    assert_eq!((response.offset(), response.length()), (Some(3), Some(3)), "{response:?}");
    assert_eq!(&download(t, &final_.path).await[..], b"hi!");
}

/// A11.15: a partial completing fires no finish event; the final fires exactly one.
pub async fn a11_15_partials_fire_no_finish_event(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.15") {
        return;
    }
    let t = d.target();
    let a = create_partial(t, b"hello").await;
    let b = create_partial(t, b" world").await;
    assert_eq!(d.events().count(EventKind::Finished, &a.id), 0, "{:?}", d.events().all());
    assert_eq!(d.events().count(EventKind::Finished, &b.id), 0, "{:?}", d.events().all());
    let response = post_final(t, &[&a.path, &b.path]).await;
    let final_ = Upload::from_location(t, &response);
    assert_eq!(d.events().count(EventKind::Finished, &final_.id), 1, "{:?}", d.events().all());
    assert_eq!(d.events().count_kind(EventKind::Finished), 1, "only the final finishes: {:?}", d.events().all());
}

/// A11.16: partial URLs contain no spaces, so a space-separated list is unambiguous.
pub async fn a11_16_partial_urls_have_no_spaces(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    if !supported(&d, "A11.16") {
        return;
    }
    let t = d.target();
    let mut parts = Vec::new();
    for i in 0..20u8 {
        let upload = create_partial(t, &[b'a' + i]).await;
        assert!(
            upload.path.bytes().all(|b| b.is_ascii_graphic()) && !upload.path.contains("%20"),
            "an upload URL must be usable in a space-separated list: {:?}",
            upload.path
        );
        parts.push(upload.path);
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let response = post_final(t, &refs).await;
    response.expect(201, "final of 20 partials");
    let final_ = Upload::from_location(t, &response);
    assert_eq!(echoed_parts(t, &head(t, &final_.path).await), parts);
    assert_eq!(&download(t, &final_.path).await[..], b"abcdefghijklmnopqrst");
}
