//! A1. Version negotiation and common headers.

use super::{assert_no_upload, create, create_complete, create_deferred, data, download, head, offset, patch};
use crate::client::Response;
use crate::deploy::{EventKind, Launcher};
use crate::target::Profile;
use http::Method;

#[track_caller]
fn assert_tus_resumable(response: &Response, what: &str) {
    assert_eq!(
        response.header_all("tus-resumable"),
        vec!["1.0.0".to_owned()],
        "{what}: every non-OPTIONS response needs exactly one `Tus-Resumable: 1.0.0`: {response:?}"
    );
}

#[track_caller]
fn assert_412(response: &Response, what: &str) {
    response.expect(412, what);
    let versions =
        response.header("tus-version").unwrap_or_else(|| panic!("{what}: 412 without Tus-Version: {response:?}"));
    assert!(versions.split(',').any(|v| v.trim() == "1.0.0"), "{what}: Tus-Version must list 1.0.0: {response:?}");
}

/// A1.1: every non-OPTIONS response, success or error, has `Tus-Resumable: 1.0.0`.
pub async fn a1_1_every_response_has_tus_resumable(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().max_size(1000)).await;
    let t = d.target();
    let created = t.post().header("upload-length", "10").send().await;
    created.expect(201, "POST");
    assert_tus_resumable(&created, "201 POST");
    let upload = super::Upload::from_location(t, &created);
    let mut responses = vec![("200 HEAD", head(t, &upload.path).await)];
    responses.push(("204 PATCH", patch(t, &upload.path, 0, "01234").await));
    responses.push(("409 PATCH", patch(t, &upload.path, 0, "01234").await));
    responses.push(("415 PATCH", t.patch(&upload.path).upload_offset(5).body("x").send().await));
    responses.push(("400 PATCH", t.patch(&upload.path).offset_octet_stream().body("x").send().await));
    responses.push(("413 PATCH", patch(t, &upload.path, 5, "0123456789").await));
    responses.push(("404 GET incomplete", t.get(&upload.path).send().await));
    responses.push(("204 PATCH completing", patch(t, &upload.path, 5, "56789").await));
    responses.push(("200 GET", t.get(&upload.path).send().await));
    responses.push(("412 POST", t.post().tus_version("0.2.2").header("upload-length", "1").send().await));
    responses.push(("413 POST", t.post().header("upload-length", "1001").send().await));
    responses.push(("400 POST", t.post().send().await));
    responses.push(("404 HEAD", head(t, &t.upload_path("does-not-exist")).await));
    responses.push(("404 PATCH", patch(t, &t.upload_path("does-not-exist"), 0, "x").await));
    responses.push(("405 PUT", t.request(Method::PUT, t.base_path()).send().await));
    responses.push(("204 DELETE", t.delete(&upload.path).send().await));
    responses.push(("410 HEAD", head(t, &upload.path).await));
    responses.push(("410 DELETE", t.delete(&upload.path).send().await));
    for (what, response) in &responses {
        let expected: u16 = what[..3].parse().expect("status prefix");
        assert_eq!(response.status.as_u16(), expected, "{what}: setup went wrong: {response:?}");
        assert_tus_resumable(response, what);
    }
}

/// A1.2: POST with an unsupported `Tus-Resumable` is 412 with `Tus-Version`, and creates nothing.
pub async fn a1_2_unsupported_version_post_is_412_and_creates_nothing(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().sequential_ids("v")).await;
    let t = d.target();
    let response = t.post().tus_version("0.2.2").header("upload-length", "100").send().await;
    assert_412(&response, "POST with Tus-Resumable: 0.2.2");
    assert!(!response.has("location"), "a refused POST has no Location: {response:?}");
    // The would-be ID is the first one of the sequence.
    assert_no_upload(t, &t.upload_path("v-1"), "after the refused POST").await;
    assert_eq!(d.events().count_kind(EventKind::Created), 0, "no upload may be created: {:?}", d.events().all());
    // Creation still works, and it is the first upload.
    let upload = create(t, 100).await;
    assert_eq!(upload.id, "v-1", "the refused POST must not have created an upload");
    assert_eq!(d.events().count_kind(EventKind::Created), 1);
}

/// A1.3: PATCH with an unsupported `Tus-Resumable` is 412 with `Tus-Version`; the offset does not move.
pub async fn a1_3_unsupported_version_patch_is_412_and_offset_unchanged(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 20).await;
    patch(t, &upload.path, 0, "0123456789").await.expect(204, "first PATCH");
    let before = head(t, &upload.path).await;
    let response = t
        .patch(&upload.path)
        .tus_version("0.2.2")
        .offset_octet_stream()
        .upload_offset(10)
        .body("abcdefghij")
        .send()
        .await;
    assert_412(&response, "PATCH with Tus-Resumable: 0.2.2");
    let after = head(t, &upload.path).await;
    assert_eq!(before.offset(), Some(10));
    assert_eq!(after.offset(), before.offset(), "the offset changed after a refused PATCH");
    assert_eq!(after.length(), before.length());
    patch(t, &upload.path, 10, "abcdefghij").await.expect(204, "the right PATCH");
    assert_eq!(&download(t, &upload.path).await[..], b"0123456789abcdefghij");
}

/// A1.4: POST or PATCH without `Tus-Resumable` is 412 with `Tus-Version`.
pub async fn a1_4_missing_tus_resumable_is_412(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let response = t.post().no_tus().header("upload-length", "10").send().await;
    assert_412(&response, "POST without Tus-Resumable");
    assert_eq!(d.events().count_kind(EventKind::Created), 0, "nothing may be created");
    let upload = create(t, 10).await;
    let response = t.patch(&upload.path).no_tus().offset_octet_stream().upload_offset(0).body("01234").send().await;
    assert_412(&response, "PATCH without Tus-Resumable");
    assert_eq!(offset(t, &upload.path).await, 0, "the refused PATCH wrote data");
}

/// A1.5: OPTIONS ignores `Tus-Resumable`, even an unknown version.
pub async fn a1_5_options_ignores_tus_resumable(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    for request in [t.options().tus_version("9.9.9"), t.options().no_tus()] {
        let response = request.send().await;
        response.expect_one_of(&[200, 204], "OPTIONS with Tus-Resumable 9.9.9 or none");
        assert!(response.has("tus-version"), "OPTIONS needs Tus-Version: {response:?}");
    }
}

/// A1.6: `Tus-Version` is a comma-separated list with `1.0.0` first.
pub async fn a1_6_tus_version_lists_1_0_0_first(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let options = t.options().send().await;
    let refused = t.post().tus_version("0.1.0").header("upload-length", "1").send().await;
    assert_412(&refused, "POST with Tus-Resumable: 0.1.0");
    for (what, response) in [("OPTIONS", options), ("412", refused)] {
        let values = response.header_all("tus-version");
        assert_eq!(values.len(), 1, "{what}: one Tus-Version header: {response:?}");
        let list: Vec<&str> = values[0].split(',').map(str::trim).collect();
        assert_eq!(list.first().copied(), Some("1.0.0"), "{what}: 1.0.0 must come first: {response:?}");
        assert!(
            list.iter().all(|v| !v.is_empty() && v.split('.').count() == 3),
            "{what}: every entry is a version: {response:?}"
        );
    }
}

/// A1.7: `Upload-Offset` / `Upload-Length` that are not non-negative integers are 400, with no side effect.
pub async fn a1_7_non_integer_offset_or_length_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let bad = ["-1", "abc", "1.5", "", "+5", " 5x", "0x10", "18446744073709551616"];
    for value in bad {
        let response = t.post().header("upload-length", value).send().await;
        response.expect(400, &format!("POST Upload-Length: {value:?}"));
        assert!(!response.has("location"), "no Location on a refused POST: {response:?}");
    }
    assert_eq!(d.events().count_kind(EventKind::Created), 0, "a refused POST created an upload");

    let upload = create(t, 20).await;
    patch(t, &upload.path, 0, "01234").await.expect(204, "PATCH");
    for value in bad {
        let response =
            t.patch(&upload.path).offset_octet_stream().header("upload-offset", value).body("56789").send().await;
        response.expect(400, &format!("PATCH Upload-Offset: {value:?}"));
    }
    assert_eq!(offset(t, &upload.path).await, 5, "a refused PATCH moved the offset");

    let deferred = create_deferred(t).await;
    for value in bad {
        let response = t
            .patch(&deferred.path)
            .offset_octet_stream()
            .upload_offset(0)
            .header("upload-length", value)
            .body("abc")
            .send()
            .await;
        response.expect(400, &format!("PATCH Upload-Length: {value:?}"));
    }
    let after = head(t, &deferred.path).await;
    assert_eq!(after.offset(), Some(0), "a refused PATCH wrote data: {after:?}");
    assert!(!after.has("upload-length"), "a refused PATCH set the length: {after:?}");
    assert_eq!(after.header("upload-defer-length"), Some("1"));
}

/// A1.8: HEAD and GET without `Tus-Resumable` are answered (browsers send none).
pub async fn a1_8_head_and_get_without_tus_resumable_are_allowed(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let body = data(16, 1);
    let upload = create_complete(t, &body).await;
    let response = t.head(&upload.path).no_tus().send().await;
    response.expect(200, "HEAD without Tus-Resumable");
    assert_eq!(response.offset(), Some(16));
    let response = t.get(&upload.path).no_tus().send().await;
    response.expect(200, "GET without Tus-Resumable");
    assert_eq!(&response.body[..], &body[..]);
}
