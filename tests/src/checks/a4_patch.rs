//! A4. PATCH (append).

use super::{create, create_complete, data, download, eventually, head, offset, patch};
use crate::client::{RawConnection, RawHead, Response};
use crate::deploy::Launcher;
use crate::target::{DENY_HEADER, HookProfile, Profile, Target};
use std::time::{Duration, Instant, SystemTime};
use tus_core::Expiration;

/// Writes a raw PATCH head for `path`; `extra` headers come after the tus ones.
pub(crate) async fn raw_patch_head(conn: &mut RawConnection, path: &str, offset: u64, extra: &[(&str, String)]) {
    let mut headers = vec![
        ("tus-resumable", "1.0.0".to_owned()),
        ("content-type", "application/offset+octet-stream".to_owned()),
        ("upload-offset", offset.to_string()),
    ];
    headers.extend(extra.iter().cloned());
    conn.send_head("PATCH", path, &headers).await;
}

/// Reads the next head, skipping nothing: a `100 Continue` is returned as it is.
async fn next_head(conn: &mut RawConnection, what: &str) -> RawHead {
    conn.read_head(Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{what}: no response ({e:?})"))
}

/// A4.1: PATCH of 30 bytes at offset 0 is 204 with `Upload-Offset: 30`.
pub async fn a4_1_patch_appends_and_reports_offset(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 30).await;
    let body = data(30, 1);
    let response = patch(t, &upload.path, 0, body.clone()).await;
    response.expect(204, "PATCH 30 bytes");
    assert_eq!(response.offset(), Some(30), "{response:?}");
    assert!(response.body.is_empty(), "a 204 has no body: {response:?}");
    assert_eq!(offset(t, &upload.path).await, 30);
    assert_eq!(&download(t, &upload.path).await[..], &body[..]);
}

/// A4.2: the new offset is the old one plus the bytes stored; an empty body leaves it.
pub async fn a4_2_offset_grows_by_the_bytes_stored(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 30).await;
    let body = data(30, 2);
    let steps: [(u64, &[u8]); 4] = [(0, &body[..10]), (10, b""), (10, &body[10..25]), (25, &body[25..])];
    for (at, chunk) in steps {
        let response = patch(t, &upload.path, at, chunk.to_vec()).await;
        response.expect(204, &format!("PATCH {} bytes at {at}", chunk.len()));
        assert_eq!(response.offset(), Some(at + chunk.len() as u64), "{response:?}");
        assert_eq!(offset(t, &upload.path).await, at + chunk.len() as u64);
    }
    assert_eq!(&download(t, &upload.path).await[..], &body[..]);
}

/// A4.3: a wrong or missing `Content-Type` is 415, and nothing is written.
pub async fn a4_3_wrong_content_type_is_415(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    let content_types = [Some("application/octet-stream"), Some("text/plain"), Some("application/offset+json"), None];
    for content_type in content_types {
        let mut request = t.patch(&upload.path).upload_offset(0).body("0123456789");
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send().await.expect(415, &format!("PATCH with Content-Type {content_type:?}"));
    }
    assert_eq!(offset(t, &upload.path).await, 0, "a refused PATCH wrote data");
    // A parameter or another case is still the right type.
    let response = t
        .patch(&upload.path)
        .header("content-type", "Application/Offset+Octet-Stream; charset=binary")
        .upload_offset(0)
        .body("01234")
        .send()
        .await;
    response.expect(204, "PATCH with the media type in another case, with a parameter");
}

/// A4.4: an `Upload-Offset` lower or higher than the server's is 409, and nothing changes.
pub async fn a4_4_offset_mismatch_is_409_and_changes_nothing(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 20).await;
    patch(t, &upload.path, 0, "0123456789").await.expect(204, "first PATCH");
    let before = head(t, &upload.path).await;
    for wrong in [0, 5, 9, 11, 15, 20] {
        let response = patch(t, &upload.path, wrong, "XXXXX").await;
        response.expect(409, &format!("PATCH at {wrong} while the offset is 10"));
    }
    let after = head(t, &upload.path).await;
    assert_eq!(after.offset(), before.offset(), "{after:?}");
    assert_eq!(after.length(), before.length(), "{after:?}");
    patch(t, &upload.path, 10, "abcdefghij").await.expect(204, "the right PATCH");
    assert_eq!(&download(t, &upload.path).await[..], b"0123456789abcdefghij", "stored bytes changed");
}

/// A4.5: a PATCH without `Upload-Offset` is 400.
pub async fn a4_5_missing_offset_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    t.patch(&upload.path).offset_octet_stream().body("01234").send().await.expect(400, "PATCH without Upload-Offset");
    assert_eq!(offset(t, &upload.path).await, 0);
}

/// A4.6: a PATCH on an unknown ID is 404.
pub async fn a4_6_patch_on_unknown_id_is_404(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    patch(t, &t.upload_path("0123456789abcdef0123456789abcdef"), 0, "x").await.expect(404, "PATCH on an unknown ID");
    patch(t, &t.upload_path("unknown"), 0, "").await.expect(404, "empty PATCH on an unknown ID");
}

/// A4.7: a `Content-Length` past `Upload-Length` is 413 before the body is read.
pub async fn a4_7_content_length_past_length_is_413_before_reading(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    patch(t, &upload.path, 0, "012").await.expect(204, "first PATCH");
    let mut conn = t.raw().await;
    raw_patch_head(&mut conn, &upload.path, 3, &[("content-length", "8".to_owned())]).await;
    // No body byte is sent: the answer must come from the headers alone.
    let head = next_head(&mut conn, "PATCH with Content-Length past the length").await;
    assert_eq!(head.status.as_u16(), 413, "{head:?}");
    assert_eq!(head.header("connection"), Some("close"), "the unread body ends the connection: {head:?}");
    assert_eq!(offset(t, &upload.path).await, 3, "the offset changed");
    patch(t, &upload.path, 3, "3456789").await.expect(204, "the fitting PATCH");
    assert_eq!(&download(t, &upload.path).await[..], b"0123456789");
}

/// A4.8: a chunked body past `Upload-Length` is cut at the length and answered 413.
pub async fn a4_8_chunked_body_past_length_is_cut_and_413(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    let mut conn = t.raw().await;
    raw_patch_head(&mut conn, &upload.path, 0, &[("transfer-encoding", "chunked".to_owned())]).await;
    conn.write(b"a\r\n0123456789\r\n").await;
    conn.write(b"5\r\nabcde\r\n").await;
    // The body is not ended: the server must stop at the limit without waiting for more.
    let head = next_head(&mut conn, "chunked PATCH past the length").await;
    assert_eq!(head.status.as_u16(), 413, "{head:?}");
    let response = super::head(t, &upload.path).await;
    let stored = response.offset().expect("Upload-Offset");
    assert!(stored <= 10, "the offset went past the length: {response:?}");
    if stored == 10 {
        assert_eq!(&download(t, &upload.path).await[..], b"0123456789", "bytes past the length were stored");
    } else {
        patch(t, &upload.path, stored, b"0123456789"[stored as usize..].to_vec()).await.expect(204, "resume");
        assert_eq!(&download(t, &upload.path).await[..], b"0123456789");
    }
}

/// A4.9: an empty PATCH on a complete upload is 204 (idempotent); a non-empty one is refused.
pub async fn a4_9_patch_on_complete_upload(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create_complete(t, b"complete!!").await;
    let response = patch(t, &upload.path, 10, "").await;
    response.expect(204, "empty PATCH on a complete upload");
    assert_eq!(response.offset(), Some(10), "{response:?}");
    let response = patch(t, &upload.path, 10, "more").await;
    response.expect_one_of(&[413, 400], "non-empty PATCH on a complete upload");
    let response = head(t, &upload.path).await;
    assert_eq!((response.offset(), response.length()), (Some(10), Some(10)), "{response:?}");
    assert_eq!(&download(t, &upload.path).await[..], b"complete!!");
}

/// A4.10: a connection dropped after ~6 of 10 MiB keeps the received prefix, and
/// the offset never points past stored bytes.
pub async fn a4_10_dropped_connection_keeps_the_received_prefix(launcher: &dyn Launcher) {
    const TOTAL: usize = 10 << 20;
    const SENT: usize = 6 << 20;
    let d = launcher.launch_default().await;
    let t = d.target();
    let body = data(TOTAL, 4);
    let upload = create(t, TOTAL as u64).await;
    let mut conn = t.raw().await;
    raw_patch_head(&mut conn, &upload.path, 0, &[("content-length", TOTAL.to_string())]).await;
    for piece in body[..SENT].chunks(256 << 10) {
        conn.write(piece).await;
    }
    conn.shutdown_write().await;
    drop(conn);
    let persisted = eventually(Duration::from_secs(10), || async {
        let response = head(t, &upload.path).await;
        response.offset().filter(|o| *o > 0)
    })
    .await
    .unwrap_or_else(|| panic!("after the drop, HEAD never reported more than offset 0"));
    assert!(persisted as usize <= SENT, "the offset {persisted} is past the {SENT} bytes sent");
    // The committed prefix must be the bytes sent: resume and compare the whole upload.
    let response = patch(t, &upload.path, persisted, body[persisted as usize..].to_vec()).await;
    response.expect(204, "resume after the drop");
    let stored = download(t, &upload.path).await;
    assert!(stored.len() == TOTAL && stored[..] == body[..], "the resumed upload differs from what was sent");
}

/// A4.11: a body silent past the idle timeout: the connection is closed, the data
/// persisted and the lock released.
pub async fn a4_11_idle_body_times_out_and_persists(launcher: &dyn Launcher) {
    let idle = Duration::from_secs(1);
    let d = launcher.launch(Profile::default().body_idle_timeout(idle)).await;
    let t = d.target();
    let upload = create(t, 100).await;
    let body = data(100, 5);
    let mut conn = t.raw().await;
    raw_patch_head(&mut conn, &upload.path, 0, &[("content-length", "100".to_owned())]).await;
    conn.write(&body[..10]).await;
    let started = Instant::now();
    match conn.read_head(idle * 5).await {
        Ok(head) => {
            assert_eq!(head.status.as_u16(), 408, "a timed-out body: {head:?}");
            let body_len: usize = head.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let (rest, closed) = conn.read_for(Duration::from_secs(2)).await;
            assert!(rest.len() >= body_len, "truncated error body");
            assert!(closed, "the server must close the connection after a body timeout");
        }
        Err(crate::client::RawError::Closed) => {}
        Err(crate::client::RawError::Timeout) => {
            panic!("the server did not time out a silent body within {:?}", idle * 5)
        }
    }
    let waited = started.elapsed();
    assert!(waited >= idle - Duration::from_millis(100), "timed out too early: {waited:?}");
    let response = head(t, &upload.path).await;
    assert_eq!(response.offset(), Some(10), "the received bytes must be persisted: {response:?}");
    let started = Instant::now();
    let response = patch(t, &upload.path, 10, body[10..].to_vec()).await;
    response.expect(204, "PATCH after the timeout (the lock must be free)");
    assert!(started.elapsed() < Duration::from_secs(5), "the lock was not released: {:?}", started.elapsed());
    assert_eq!(&download(t, &upload.path).await[..], &body[..]);
}

/// Checks the outcome of a race of PATCHes at offset 0 of a 20-byte upload whose
/// candidates are `bodies`: at most one success, the others 409/423, and the stored
/// prefix taken from one body only.
async fn check_race(t: &Target, path: &str, bodies: &[Vec<u8>], responses: &[Response]) {
    for response in responses {
        response.expect_one_of(&[204, 409, 423], "a racing PATCH");
    }
    let winners: Vec<usize> = (0..responses.len()).filter(|i| responses[*i].status.as_u16() == 204).collect();
    assert!(winners.len() <= 1, "two PATCHes at the same offset both succeeded: {responses:?}");
    let stored = offset(t, path).await;
    assert!(stored <= 10, "more than one body was applied: offset {stored}");
    // Fill the rest so that the bytes can be downloaded and compared.
    let filler = vec![b'Z'; 20 - stored as usize];
    patch(t, path, stored, filler).await.expect(204, "complete the raced upload");
    let content = download(t, path).await;
    let prefix = &content[..stored as usize];
    assert!(content[stored as usize..].iter().all(|b| *b == b'Z'), "bytes after the offset were touched");
    let sources: Vec<usize> = (0..bodies.len()).filter(|i| bodies[*i].starts_with(prefix)).collect();
    assert!(!sources.is_empty(), "the stored prefix {prefix:?} mixes bodies (interleaving or corruption)");
    if let Some(winner) = winners.first() {
        assert_eq!(responses[*winner].offset(), Some(10), "{:?}", responses[*winner]);
        assert_eq!(prefix, &bodies[*winner][..], "the successful PATCH's bytes were not the ones stored");
    }
}

/// A4.12: concurrent PATCHes at the same offset, on one or two instances: at most one applies.
pub async fn a4_12_concurrent_patches_apply_at_most_one(launcher: &dyn Launcher) {
    let mut d = launcher.launch(Profile::default().lock_timeout(Duration::from_secs(2))).await;
    let second = d.second_instance().await;
    let t = d.target().clone();
    let instances = [t.clone(), second];

    // Eight whole bodies at once, alternating instances.
    let upload = create(&t, 20).await;
    let bodies: Vec<Vec<u8>> = (0..8).map(|i| vec![b'A' + i as u8; 10]).collect();
    let requests = bodies.iter().enumerate().map(|(i, body)| {
        let target = instances[i % 2].clone();
        let path = upload.path.clone();
        let body = body.clone();
        tokio::spawn(async move { patch(&target, &path, 0, body).await })
    });
    let mut responses = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        responses.push(request.await.expect("PATCH task"));
    }
    check_race(&t, &upload.path, &bodies, &responses).await;

    // A slow body on one instance, a fast one on the other.
    let upload = create(&t, 20).await;
    let bodies = vec![b"aaaaaaaaaa".to_vec(), b"bbbbbbbbbb".to_vec()];
    let (mut slow, slow_response) = instances[0]
        .patch(&upload.path)
        .offset_octet_stream()
        .upload_offset(0)
        .header("content-length", "10")
        .stream()
        .await;
    slow.send(bodies[0][..5].to_vec()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fast = patch(&instances[1], &upload.path, 0, bodies[1].clone()).await;
    slow.send(bodies[0][5..].to_vec()).await;
    slow.finish();
    let slow = slow_response.response().await;
    check_race(&t, &upload.path, &bodies, &[slow, fast]).await;
}

/// A4.13: a successful PATCH on an upload that will expire carries `Upload-Expires`.
pub async fn a4_13_patch_on_expiring_upload_has_upload_expires(launcher: &dyn Launcher) {
    for expiration in [Expiration::absolute(Duration::from_secs(3600)), Expiration::sliding(Duration::from_secs(3600))]
    {
        let d = launcher.launch(Profile::default().expiration(expiration)).await;
        let t = d.target();
        let upload = create(t, 10).await;
        let response = patch(t, &upload.path, 0, "01234").await;
        response.expect(204, "PATCH");
        let value = response
            .header("upload-expires")
            .unwrap_or_else(|| panic!("{expiration:?}: no Upload-Expires: {response:?}"));
        let at =
            httpdate::parse_http_date(value).unwrap_or_else(|_| panic!("Upload-Expires {value:?} is not an HTTP date"));
        assert!(at > SystemTime::now(), "Upload-Expires {value:?} is in the past");
    }
}

/// A4.14: with `Expect: 100-continue`, `100 Continue` comes only after the checks pass;
/// otherwise the final error comes without the body being read.
pub async fn a4_14_expect_100_continue_only_after_validation(launcher: &dyn Launcher) {
    let profile = Profile::default()
        .lock_timeout(Duration::from_millis(500))
        .hooks(HookProfile { deny_header: true, ..HookProfile::default() });
    let d = launcher.launch(profile).await;
    let t = d.target();
    let upload = create(t, 20).await;
    patch(t, &upload.path, 0, "01234").await.expect(204, "first PATCH");

    fn expect<'a>(extra: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
        let mut headers = vec![("expect", "100-continue".to_owned()), ("content-length", "5".to_owned())];
        headers.extend(extra.iter().cloned());
        headers
    }
    let mut conn = t.raw().await;
    raw_patch_head(&mut conn, &upload.path, 5, &expect(&[])).await;
    let first = next_head(&mut conn, "valid PATCH with Expect").await;
    assert_eq!(first.status.as_u16(), 100, "a valid PATCH with Expect: 100-continue gets 100 first: {first:?}");
    conn.write(b"56789").await;
    let last = next_head(&mut conn, "valid PATCH with Expect, after the body").await;
    assert_eq!(last.status.as_u16(), 204, "{last:?}");
    assert_eq!(last.header("upload-offset"), Some("10"), "{last:?}");

    let lock = d.hold_lock(&upload.id).await;
    let refusals: Vec<(&str, String, super::RawHeaders<'_>, u16)> = vec![
        ("wrong offset", upload.path.clone(), vec![], 409),
        ("unknown upload", t.upload_path("unknown"), vec![], 404),
        ("refused by the authorize hook", upload.path.clone(), vec![(DENY_HEADER, "1".to_owned())], 403),
    ];
    for (what, path, extra, status) in refusals {
        let mut conn = t.raw().await;
        let offset = if what == "wrong offset" { 3 } else { 10 };
        raw_patch_head(&mut conn, &path, offset, &expect(&extra)).await;
        let head = next_head(&mut conn, what).await;
        assert_eq!(head.status.as_u16(), status, "{what}: the final status, with no 100 before it: {head:?}");
        assert_eq!(head.header("connection"), Some("close"), "{what}: the unread body ends the connection: {head:?}");
    }
    // The upload's lock is held elsewhere: 423 once the lock timeout passes, and still no 100.
    let mut conn = t.raw().await;
    raw_patch_head(&mut conn, &upload.path, 10, &expect(&[])).await;
    let head = next_head(&mut conn, "PATCH on a locked upload").await;
    assert_eq!(head.status.as_u16(), 423, "a locked upload: the final status, with no 100 before it: {head:?}");
    lock.release().await;
    // Wrong media type.
    let mut conn = t.raw().await;
    conn.send_head(
        "PATCH",
        &upload.path,
        &[
            ("tus-resumable", "1.0.0".to_owned()),
            ("content-type", "text/plain".to_owned()),
            ("upload-offset", "10".to_owned()),
            ("expect", "100-continue".to_owned()),
            ("content-length", "5".to_owned()),
        ],
    )
    .await;
    let head = next_head(&mut conn, "PATCH with the wrong Content-Type").await;
    assert_eq!(head.status.as_u16(), 415, "{head:?}");
    assert_eq!(offset(t, &upload.path).await, 10);
}
