//! A12. GET download (tusd-style, opt-in).

use super::{Upload, create, data, head, patch};
use crate::client::Response;
use crate::deploy::Launcher;
use crate::digest::base64;
use crate::target::{DENY_HEADER, HookProfile, Profile, Target};
use std::time::{Duration, Instant};
use tus_core::Expiration;

/// A complete upload holding `body`, created with `metadata` pairs.
async fn upload_with(t: &Target, body: &[u8], metadata: &[(&str, &str)]) -> Upload {
    let header: Vec<String> = metadata.iter().map(|(k, v)| format!("{k} {}", base64(v.as_bytes()))).collect();
    let mut request = t.post().header("upload-length", body.len().to_string());
    if !header.is_empty() {
        request = request.header("upload-metadata", header.join(","));
    }
    if !body.is_empty() {
        request = request.offset_octet_stream().body(body.to_vec());
    }
    let response = request.send().await;
    response.expect(201, "POST with the whole body");
    Upload::from_location(t, &response)
}

async fn get(t: &Target, path: &str) -> Response {
    let response = t.get(path).send().await;
    response.expect(200, &format!("GET {path}"));
    response
}

/// A12.1: GET on a complete upload: 200, the bytes, `Content-Length`, and a
/// `Content-Type` from `filetype` only when it is a well-formed MIME type.
pub async fn a12_1_get_returns_the_bytes_and_a_safe_content_type(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let body = data(1000, 3);
    let cases = [
        (vec![("filetype", "image/png")], "image/png"),
        (vec![("filetype", "text/html")], "text/html"),
        (vec![("filetype", "not a type")], "application/octet-stream"),
        (vec![("filetype", "text/plain\r\nX-Evil: 1")], "application/octet-stream"),
        (vec![("filetype", "image/")], "application/octet-stream"),
        (vec![("filename", "a.png")], "application/octet-stream"),
        (vec![], "application/octet-stream"),
    ];
    for (metadata, expected) in cases {
        let upload = upload_with(t, &body, &metadata).await;
        let response = get(t, &upload.path).await;
        assert!(response.body[..] == body[..], "GET returned other bytes for {metadata:?}");
        assert_eq!(response.header("content-length"), Some("1000"), "{response:?}");
        let content_type = response.header("content-type").unwrap_or_default();
        assert_eq!(content_type.split(';').next().map(str::trim), Some(expected), "for {metadata:?}: {response:?}");
    }
}

/// A12.2: `inline` only for safe types, a sanitized filename with `filename*`, and `nosniff`.
pub async fn a12_2_content_disposition_is_safe(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let inline =
        ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "text/plain", "audio/mpeg", "video/mp4"];
    let attachment = [
        "text/html",
        "image/svg+xml",
        "application/pdf",
        "application/javascript",
        "text/xml",
        "application/octet-stream",
    ];
    for (types, kind) in [(&inline[..], "inline"), (&attachment[..], "attachment")] {
        for filetype in types {
            let upload = upload_with(t, b"x", &[("filetype", filetype), ("filename", "f")]).await;
            let response = get(t, &upload.path).await;
            let cd = response
                .header("content-disposition")
                .unwrap_or_else(|| panic!("no Content-Disposition: {response:?}"));
            assert_eq!(cd.split(';').next().map(str::trim), Some(kind), "{filetype}: {cd:?}");
            assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{response:?}");
        }
    }
    let upload = upload_with(t, b"x", &[("filename", "../../etc/passwd")]).await;
    let response = get(t, &upload.path).await;
    let cd = response.header("content-disposition").unwrap_or_default();
    assert!(cd.starts_with("attachment"), "{cd:?}");
    assert!(!cd.contains('/') && !cd.contains(".."), "the filename must lose its path: {cd:?}");
    assert!(cd.contains("passwd"), "{cd:?}");

    let upload = upload_with(t, b"x", &[("filename", "résumé \"final\".pdf")]).await;
    let response = get(t, &upload.path).await;
    let cd = response
        .header("content-disposition")
        .unwrap_or_else(|| panic!("Content-Disposition must be ASCII: {response:?}"));
    assert!(cd.contains("filename*=UTF-8''r%C3%A9sum%C3%A9"), "an RFC 5987 filename*: {cd:?}");
    let plain =
        cd.split(';').map(str::trim).find_map(|p| p.strip_prefix("filename=")).unwrap_or_else(|| panic!("{cd:?}"));
    let inner =
        plain.strip_prefix('"').and_then(|p| p.strip_suffix('"')).unwrap_or_else(|| panic!("quoted filename: {cd:?}"));
    assert!(!inner.contains('"') && inner.is_ascii(), "the ASCII filename must be sanitized: {cd:?}");
}

/// A12.3: `Range`, `416`, `ETag` and `If-None-Match`.
pub async fn a12_3_range_and_etag(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let body = data(50, 4);
    let upload = upload_with(t, &body, &[]).await;
    let response = t.get(&upload.path).header("range", "bytes=0-9").send().await;
    response.expect(206, "Range: bytes=0-9");
    assert_eq!(response.header("content-range"), Some("bytes 0-9/50"), "{response:?}");
    assert_eq!(&response.body[..], &body[..10]);
    let response = t.get(&upload.path).header("range", "bytes=45-").send().await;
    response.expect(206, "Range: bytes=45-");
    assert_eq!(response.header("content-range"), Some("bytes 45-49/50"), "{response:?}");
    assert_eq!(&response.body[..], &body[45..]);
    let response = t.get(&upload.path).header("range", "bytes=-5").send().await;
    response.expect(206, "Range: bytes=-5");
    assert_eq!(&response.body[..], &body[45..]);
    let response = t.get(&upload.path).header("range", "bytes=50-60").send().await;
    response.expect(416, "an unsatisfiable range");
    assert_eq!(response.header("content-range"), Some("bytes */50"), "{response:?}");

    let response = get(t, &upload.path).await;
    let etag = response.header("etag").unwrap_or_else(|| panic!("no ETag: {response:?}")).to_owned();
    let response = t.get(&upload.path).header("if-none-match", &etag).send().await;
    response.expect(304, "If-None-Match with the current ETag");
    assert!(response.body.is_empty());
    let response = t.get(&upload.path).header("if-none-match", "\"something-else\"").send().await;
    response.expect(200, "If-None-Match with another ETag");
    let other = upload_with(t, &body, &[]).await;
    let other_etag = get(t, &other.path).await.header("etag").map(str::to_owned);
    assert_ne!(other_etag.as_deref(), Some(etag.as_str()), "two uploads share an ETag");
}

/// A12.4: GET on an incomplete upload is refused; on an expired one 410.
pub async fn a12_4_get_incomplete_or_expired(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().expiration(Expiration::absolute(super::a8_expiration::SHORT))).await;
    let t = d.target();
    let created = tokio::time::Instant::now();
    let upload = create(t, 10).await;
    patch(t, &upload.path, 0, "abc").await.expect(204, "PATCH");
    let response = t.get(&upload.path).send().await;
    response.expect_one_of(&[404, 204, 409], "GET on an incomplete upload");
    assert!(
        response.body.is_empty() || response.header("content-type").is_some_and(|c| c.starts_with("text/plain")),
        "no upload bytes: {response:?}"
    );
    assert!(!response.body.starts_with(b"abc"), "the partial bytes must not be served: {response:?}");
    super::a8_expiration::sleep_past_expiry(created).await;
    t.get(&upload.path).send().await.expect(410, "GET on an expired upload");
}

/// A12.5: a stalled download does not hold the upload's write lock.
pub async fn a12_5_download_does_not_hold_the_lock(launcher: &dyn Launcher) {
    let lock_timeout = Duration::from_secs(2);
    let d = launcher.launch(Profile::default().lock_timeout(lock_timeout)).await;
    let t = d.target();
    let body = data(8 << 20, 5);
    let upload = upload_with(t, &body, &[]).await;
    let mut conn = t.raw().await;
    conn.send_head("GET", &upload.path, &[("tus-resumable", "1.0.0".to_owned())]).await;
    let head = conn.read_head(Duration::from_secs(5)).await.expect("GET head");
    assert_eq!(head.status.as_u16(), 200, "{head:?}");
    // The body is not read: the server is stuck writing it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let response = patch(t, &upload.path, body.len() as u64, "").await;
    response.expect(204, "empty PATCH during a stalled download");
    let response = t.delete(&upload.path).send().await;
    response.expect(204, "DELETE during a stalled download");
    assert!(started.elapsed() < lock_timeout, "requests waited {:?} behind a download", started.elapsed());
    drop(conn);
}

/// A12.6: downloads can be switched off, and the authorize hook sees them.
pub async fn a12_6_download_can_be_disabled_and_authorized(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile { download: false, ..Profile::default() }).await;
    let t = d.target();
    let upload = upload_with(t, b"secret", &[]).await;
    let response = t.get(&upload.path).send().await;
    response.expect_one_of(&[404, 405, 403, 501], "GET with downloads off");
    assert!(!response.body.starts_with(b"secret"), "{response:?}");
    assert_eq!(head(t, &upload.path).await.offset(), Some(6), "HEAD still works");

    let d =
        launcher.launch(Profile::default().hooks(HookProfile { deny_header: true, ..HookProfile::default() })).await;
    let t = d.target();
    let upload = upload_with(t, b"secret", &[]).await;
    let response = t.get(&upload.path).header(DENY_HEADER, "1").send().await;
    response.expect(403, "GET refused by the authorize hook");
    assert!(!response.body.starts_with(b"secret"), "{response:?}");
    assert_eq!(&get(t, &upload.path).await.body[..], b"secret");
}
