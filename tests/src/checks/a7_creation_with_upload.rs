//! A7. Creation-with-upload and creation-defer-length.

use super::{Upload, create_deferred, data, discover, download, eventually, extensions, head, offset, patch};
use crate::client::RawConnection;
use crate::deploy::{EventKind, Launcher};
use crate::target::{HookProfile, Profile, Refusal};
use std::time::Duration;
use tus_core::Extension;

async fn raw_post_head(conn: &mut RawConnection, path: &str, extra: &[(&str, String)]) {
    let mut headers = vec![("tus-resumable", "1.0.0".to_owned())];
    headers.extend(extra.iter().cloned());
    conn.send_head("POST", path, &headers).await;
}

/// A7.1: `creation-with-upload` is listed only together with `creation`.
pub async fn a7_1_creation_with_upload_needs_creation(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let listed = extensions(&discover(d.target()).await);
    assert!(listed.contains("creation") && listed.contains("creation-with-upload"), "{listed:?}");
    let d = launcher.launch(Profile::default().extension(Extension::Creation, false)).await;
    let listed = extensions(&discover(d.target()).await);
    assert!(!listed.contains("creation"), "creation is off: {listed:?}");
    assert!(!listed.contains("creation-with-upload"), "creation-with-upload without creation: {listed:?}");
    d.target()
        .post()
        .header("upload-length", "5")
        .offset_octet_stream()
        .body("hello")
        .send()
        .await
        .expect_one_of(&[403, 404, 405, 501], "POST with creation off");
}

/// A7.2: a POST with `hello` as body is 201 with `Location` and `Upload-Offset: 5`.
pub async fn a7_2_post_with_body_stores_it(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let response = t.post().header("upload-length", "100").offset_octet_stream().body("hello").send().await;
    response.expect(201, "POST with a body");
    assert_eq!(response.offset(), Some(5), "{response:?}");
    let upload = Upload::from_location(t, &response);
    let response = head(t, &upload.path).await;
    assert_eq!((response.offset(), response.length()), (Some(5), Some(100)), "{response:?}");
    let rest = data(95, 1);
    patch(t, &upload.path, 5, rest.clone()).await.expect(204, "PATCH the rest");
    let content = download(t, &upload.path).await;
    assert_eq!(&content[..5], b"hello");
    assert_eq!(&content[5..], &rest[..]);
}

/// A7.3: a POST carrying the whole upload completes it, and the finish event fires once.
pub async fn a7_3_post_with_whole_body_completes(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let body = data(100, 2);
    let response = t.post().header("upload-length", "100").offset_octet_stream().body(body.clone()).send().await;
    response.expect(201, "POST with the whole upload");
    assert_eq!(response.offset(), Some(100), "{response:?}");
    let upload = Upload::from_location(t, &response);
    let response = head(t, &upload.path).await;
    assert_eq!((response.offset(), response.length()), (Some(100), Some(100)), "{response:?}");
    assert_eq!(&download(t, &upload.path).await[..], &body[..]);
    patch(t, &upload.path, 100, "").await.expect(204, "empty PATCH after completion");
    assert_eq!(d.events().count(EventKind::Finished, &upload.id), 1, "{:?}", d.events().all());
}

/// A7.4: a POST body with another `Content-Type` is ignored.
pub async fn a7_4_post_body_with_other_content_type_is_ignored(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let response =
        t.post().header("upload-length", "100").header("content-type", "text/plain").body("hello").send().await;
    response.expect(201, "POST with a text/plain body");
    assert!(response.offset().is_none_or(|o| o == 0), "the body must be ignored: {response:?}");
    let upload = Upload::from_location(t, &response);
    assert_eq!(offset(t, &upload.path).await, 0, "the body must be ignored");
}

/// A7.5: `Expect: 100-continue` on POST: the checks run before `100 Continue`.
pub async fn a7_5_post_expect_100_continue_validates_first(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().max_size(100)).await;
    let t = d.target();
    let with_body = |length: &str| {
        vec![
            ("upload-length", length.to_owned()),
            ("content-type", "application/offset+octet-stream".to_owned()),
            ("content-length", "5".to_owned()),
            ("expect", "100-continue".to_owned()),
        ]
    };
    let mut conn = t.raw().await;
    raw_post_head(&mut conn, t.base_path(), &with_body("10")).await;
    let first = conn.read_head(Duration::from_secs(5)).await.expect("an answer to a valid POST");
    assert_eq!(first.status.as_u16(), 100, "a valid POST with Expect gets 100 first: {first:?}");
    conn.write(b"hello").await;
    let last = conn.read_head(Duration::from_secs(5)).await.expect("the final answer");
    assert_eq!(last.status.as_u16(), 201, "{last:?}");
    assert_eq!(last.header("upload-offset"), Some("5"), "{last:?}");

    let refused: [(&str, super::RawHeaders<'_>, u16); 2] = [
        ("Upload-Length above the maximum", with_body("101"), 413),
        ("no Upload-Length", with_body("").into_iter().skip(1).collect(), 400),
    ];
    for (what, headers, status) in refused {
        let mut conn = t.raw().await;
        raw_post_head(&mut conn, t.base_path(), &headers).await;
        let head = conn.read_head(Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(head.status.as_u16(), status, "{what}: the final status, with no 100 before it: {head:?}");
    }
    assert_eq!(d.events().count_kind(EventKind::Created), 1, "only the valid POST creates: {:?}", d.events().all());

    let hooks = HookProfile { refuse_create: Some(Refusal::new(403, "no")), ..HookProfile::default() };
    let d = launcher.launch(Profile::default().hooks(hooks)).await;
    let t = d.target();
    let mut conn = t.raw().await;
    raw_post_head(&mut conn, t.base_path(), &with_body("10")).await;
    let head = conn.read_head(Duration::from_secs(5)).await.expect("an answer");
    assert_eq!(head.status.as_u16(), 403, "pre_create refusal: the final status, with no 100 before it: {head:?}");
    assert_eq!(d.events().count_kind(EventKind::Created), 0);
}

/// A7.6: a connection dropped during creation-with-upload leaves the upload with the received prefix.
pub async fn a7_6_dropped_creation_with_upload_keeps_the_upload(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().sequential_ids("c")).await;
    let t = d.target();
    let body = data(1000, 3);
    let mut conn = t.raw().await;
    raw_post_head(
        &mut conn,
        t.base_path(),
        &[
            ("upload-length", "1000".to_owned()),
            ("content-type", "application/offset+octet-stream".to_owned()),
            ("content-length", "1000".to_owned()),
        ],
    )
    .await;
    conn.write(&body[..400]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    conn.shutdown_write().await;
    drop(conn);
    let path = t.upload_path("c-1");
    let stored = eventually(Duration::from_secs(5), || async {
        let response = head(t, &path).await;
        response.offset().filter(|o| *o == 400)
    })
    .await;
    let response = head(t, &path).await;
    assert_eq!(stored, Some(400), "HEAD on the upload after the drop must show the 400 bytes received: {response:?}");
    patch(t, &path, 400, body[400..].to_vec()).await.expect(204, "resume");
    assert_eq!(&download(t, &path).await[..], &body[..]);
}

/// A7.7: `Upload-Defer-Length: 1` is 201; HEAD has `Upload-Defer-Length: 1` and no length.
pub async fn a7_7_deferred_length_creation(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    assert!(extensions(&discover(t).await).contains("creation-defer-length"));
    let upload = create_deferred(t).await;
    let response = head(t, &upload.path).await;
    assert_eq!(response.header("upload-defer-length"), Some("1"), "{response:?}");
    assert!(!response.has("upload-length"), "{response:?}");
    assert_eq!(response.offset(), Some(0), "{response:?}");
}

/// A7.8: a later PATCH with `Upload-Length` sets the length.
pub async fn a7_8_patch_declares_the_length(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create_deferred(t).await;
    patch(t, &upload.path, 0, "0123456789").await.expect(204, "PATCH without a length");
    let response = t
        .patch(&upload.path)
        .offset_octet_stream()
        .upload_offset(10)
        .header("upload-length", "100")
        .body("abcde")
        .send()
        .await;
    response.expect(204, "PATCH declaring Upload-Length: 100");
    assert_eq!(response.offset(), Some(15), "{response:?}");
    let response = head(t, &upload.path).await;
    assert_eq!(response.length(), Some(100), "{response:?}");
    assert!(!response.has("upload-defer-length"), "{response:?}");
    patch(t, &upload.path, 15, data(85, 1)).await.expect(204, "PATCH the rest");
    assert_eq!(d.events().count(EventKind::Finished, &upload.id), 1);
}

/// A7.9: once set, the length cannot change (400); the same value again is accepted.
pub async fn a7_9_length_cannot_change_once_set(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create_deferred(t).await;
    let declare = |length: &str, offset: u64, body: &'static str| {
        t.patch(&upload.path).offset_octet_stream().upload_offset(offset).header("upload-length", length).body(body)
    };
    declare("100", 0, "").send().await.expect(204, "declare 100");
    declare("50", 0, "abc").send().await.expect(400, "declare 50 after 100");
    declare("200", 0, "").send().await.expect(400, "declare 200 after 100");
    let response = head(t, &upload.path).await;
    assert_eq!((response.offset(), response.length()), (Some(0), Some(100)), "{response:?}");
    declare("100", 0, "abc").send().await.expect(204, "declare 100 again");
    // A created upload with a length cannot be changed either.
    let fixed = super::create(t, 10).await;
    t.patch(&fixed.path)
        .offset_octet_stream()
        .upload_offset(0)
        .header("upload-length", "20")
        .send()
        .await
        .expect(400, "change the length given at creation");
    assert_eq!(head(t, &fixed.path).await.length(), Some(10));
}

/// A7.10: a declared length below the offset or above the maximum is refused.
pub async fn a7_10_declared_length_below_offset_or_above_max_is_refused(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().max_size(1000)).await;
    let t = d.target();
    let upload = create_deferred(t).await;
    patch(t, &upload.path, 0, "0123456789").await.expect(204, "PATCH 10 bytes");
    let declare =
        |length: &str| t.patch(&upload.path).offset_octet_stream().upload_offset(10).header("upload-length", length);
    declare("5").send().await.expect_one_of(&[400, 413], "a length below the offset");
    declare("1001").send().await.expect_one_of(&[400, 413], "a length above the maximum");
    let response = head(t, &upload.path).await;
    assert_eq!(response.header("upload-defer-length"), Some("1"), "the length must stay unknown: {response:?}");
    assert_eq!(response.offset(), Some(10));
    declare("10").send().await.expect(204, "a length equal to the offset completes the upload");
    assert_eq!(&download(t, &upload.path).await[..], b"0123456789");
}

/// A7.11: data past the maximum before the length is declared is 413, and not stored.
pub async fn a7_11_deferred_upload_cannot_pass_max_size(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().max_size(100)).await;
    let t = d.target();
    let upload = create_deferred(t).await;
    patch(t, &upload.path, 0, data(60, 1)).await.expect(204, "PATCH 60 bytes");
    patch(t, &upload.path, 60, data(50, 2)).await.expect(413, "PATCH with Content-Length past the maximum");
    assert_eq!(offset(t, &upload.path).await, 60);
    let mut conn = t.raw().await;
    conn.send_head(
        "PATCH",
        &upload.path,
        &[
            ("tus-resumable", "1.0.0".to_owned()),
            ("content-type", "application/offset+octet-stream".to_owned()),
            ("upload-offset", "60".to_owned()),
            ("transfer-encoding", "chunked".to_owned()),
        ],
    )
    .await;
    conn.write(b"28\r\n").await;
    conn.write(&data(40, 3)).await;
    conn.write(b"\r\n14\r\n").await;
    conn.write(&data(20, 4)).await;
    conn.write(b"\r\n").await;
    let head_ = conn.read_head(Duration::from_secs(5)).await.expect("an answer to the chunked PATCH");
    assert_eq!(head_.status.as_u16(), 413, "{head_:?}");
    let response = head(t, &upload.path).await;
    let stored = response.offset().expect("Upload-Offset");
    assert!(stored <= 100, "data past the maximum was stored: {response:?}");
}
