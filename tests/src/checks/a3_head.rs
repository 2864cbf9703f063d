//! A3. HEAD (offset retrieval).

use super::{create, create_complete, create_deferred, create_partial, expect_head_ok, head, patch};
use crate::client::RawConnection;
use crate::deploy::Launcher;
use crate::digest::{base64, unbase64};
use crate::target::Profile;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Parses an `Upload-Metadata` value into key → decoded value.
pub(crate) fn parse_metadata(value: &str) -> BTreeMap<String, Vec<u8>> {
    let mut map = BTreeMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(2, ' ');
        let key = parts.next().unwrap_or_default().to_owned();
        let decoded = match parts.next().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(v) => unbase64(v).unwrap_or_else(|| panic!("metadata value of {key:?} is not base64: {value:?}")),
        };
        assert!(map.insert(key.clone(), decoded).is_none(), "metadata key {key:?} echoed twice: {value:?}");
    }
    map
}

/// Sends a raw HEAD and checks that no body byte follows the head; returns the head.
pub(crate) async fn raw_head(conn: &mut RawConnection, path: &str, extra: &[(&str, String)]) -> crate::client::RawHead {
    let mut headers = vec![("tus-resumable", "1.0.0".to_owned())];
    headers.extend(extra.iter().cloned());
    conn.send_head("HEAD", path, &headers).await;
    let head = conn.read_head(Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("HEAD {path}: {e:?}"));
    let (trailing, _) = conn.read_for(Duration::from_millis(150)).await;
    assert!(
        trailing.is_empty(),
        "HEAD {path} ({}) must have no body, got {:?}",
        head.status,
        String::from_utf8_lossy(&trailing)
    );
    head
}

/// A3.1: HEAD on a fresh upload of length 100: `Upload-Offset: 0`, `Upload-Length: 100`.
pub async fn a3_1_head_on_fresh_upload(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 100).await;
    let response = head(t, &upload.path).await;
    expect_head_ok(&response, "HEAD on a fresh upload");
    assert_eq!(response.offset(), Some(0), "{response:?}");
    assert_eq!(response.length(), Some(100), "{response:?}");
}

/// A3.2: HEAD on a complete upload still has `Upload-Offset`, equal to `Upload-Length`.
pub async fn a3_2_head_on_complete_upload(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create_complete(t, &super::data(37, 3)).await;
    let response = head(t, &upload.path).await;
    expect_head_ok(&response, "HEAD on a complete upload");
    assert_eq!(response.offset(), Some(37), "{response:?}");
    assert_eq!(response.length(), Some(37), "{response:?}");
}

/// A3.3: every HEAD response has `Cache-Control: no-store`.
pub async fn a3_3_head_has_cache_control_no_store(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let fresh = create(t, 10).await;
    let partial = create(t, 10).await;
    patch(t, &partial.path, 0, "abc").await.expect(204, "PATCH");
    let complete = create_complete(t, b"xyz").await;
    let deferred = create_deferred(t).await;
    let a = create_partial(t, b"a").await;
    let final_ = t.post().header("upload-concat", format!("final;{}", a.path)).send().await;
    final_.expect(201, "final POST");
    let final_ = super::Upload::from_location(t, &final_);
    let gone = create(t, 10).await;
    t.delete(&gone.path).send().await.expect(204, "DELETE");
    let paths = [
        (fresh.path, true),
        (partial.path, true),
        (complete.path, true),
        (deferred.path, true),
        (a.path, true),
        (final_.path, true),
        (t.upload_path("unknown"), false),
        (gone.path, false),
    ];
    for (path, exists) in &paths {
        let response = head(t, path).await;
        if *exists {
            expect_head_ok(&response, "HEAD");
        }
        assert_eq!(
            response.header("cache-control"),
            Some("no-store"),
            "HEAD {path} ({}) needs Cache-Control: no-store: {response:?}",
            response.status
        );
    }
}

/// A3.4: HEAD on an unknown ID is 404 (or 410/403), without `Upload-Offset` and without a body.
pub async fn a3_4_head_on_unknown_id_is_404_without_offset(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let mut conn = t.raw().await;
    for id in ["0123456789abcdef0123456789abcdef", "unknown"] {
        let head = raw_head(&mut conn, &t.upload_path(id), &[]).await;
        assert!([404, 410, 403].contains(&head.status.as_u16()), "HEAD on unknown {id}: {head:?}");
        assert!(head.header("upload-offset").is_none(), "no Upload-Offset for an unknown upload: {head:?}");
    }
}

/// A3.5: HEAD echoes `Upload-Metadata` with the same pairs.
pub async fn a3_5_head_echoes_metadata(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let pairs: [(&str, &[u8]); 4] = [
        ("filename", "résumé.pdf".as_bytes()),
        ("filetype", b"application/pdf"),
        ("binary", &[0, 1, 2, 255, 254]),
        ("empty", b""),
    ];
    let header: Vec<String> =
        pairs.iter().map(|(k, v)| if v.is_empty() { (*k).to_owned() } else { format!("{k} {}", base64(v)) }).collect();
    let response = t.post().header("upload-length", "10").header("upload-metadata", header.join(",")).send().await;
    response.expect(201, "POST with metadata");
    let upload = super::Upload::from_location(t, &response);
    let response = head(t, &upload.path).await;
    expect_head_ok(&response, "HEAD");
    let echoed =
        parse_metadata(response.header("upload-metadata").unwrap_or_else(|| panic!("no metadata: {response:?}")));
    let sent: BTreeMap<String, Vec<u8>> = pairs.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect();
    assert_eq!(echoed, sent, "HEAD must echo the metadata: {response:?}");
}

/// A3.6: a deferred-length upload: `Upload-Defer-Length: 1` and no `Upload-Length`.
pub async fn a3_6_deferred_length_head(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create_deferred(t).await;
    patch(t, &upload.path, 0, "abc").await.expect(204, "PATCH without a length");
    let response = head(t, &upload.path).await;
    expect_head_ok(&response, "HEAD on a deferred upload");
    assert_eq!(response.header("upload-defer-length"), Some("1"), "{response:?}");
    assert!(!response.has("upload-length"), "{response:?}");
    assert_eq!(response.offset(), Some(3), "{response:?}");
}

/// A3.7: a HEAD response never has a body, errors included.
pub async fn a3_7_head_never_has_a_body(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    let gone = create(t, 10).await;
    t.delete(&gone.path).send().await.expect(204, "DELETE");
    let mut conn = t.raw().await;
    let cases: Vec<(String, super::RawHeaders<'_>, u16)> = vec![
        (upload.path.clone(), vec![], 200),
        (t.upload_path("unknown"), vec![], 404),
        (gone.path.clone(), vec![], 410),
        (format!("{}/a%2Fb", t.base_path()), vec![], 404),
        (upload.path.clone(), vec![("tus-resumable", "0.0.1".to_owned())], 412),
        (t.base_path().to_owned(), vec![], 405),
    ];
    for (path, extra, expected) in cases {
        // A second Tus-Resumable would be ambiguous: send the override alone.
        let head = if extra.is_empty() {
            raw_head(&mut conn, &path, &[]).await
        } else {
            let mut fresh = t.raw().await;
            fresh.send_head("HEAD", &path, &extra).await;
            let head = fresh.read_head(Duration::from_secs(5)).await.expect("HEAD response");
            let (trailing, _) = fresh.read_for(Duration::from_millis(150)).await;
            assert!(trailing.is_empty(), "HEAD {path} ({}) has a body: {trailing:?}", head.status);
            head
        };
        assert_eq!(head.status.as_u16(), expected, "HEAD {path}: {head:?}");
    }
}

/// A3.8: HEAD while a PATCH is in flight answers within the lock timeout, never a lasting 423.
pub async fn a3_8_head_during_patch_answers_within_lock_timeout(launcher: &dyn Launcher) {
    let lock_timeout = Duration::from_secs(2);
    let d = launcher.launch(Profile::default().lock_timeout(lock_timeout)).await;
    let t = d.target();
    let upload = create(t, 100).await;
    let body = super::data(100, 9);
    let (mut sender, pending) =
        t.patch(&upload.path).offset_octet_stream().upload_offset(0).header("content-length", "100").stream().await;
    assert!(sender.send(body[..40].to_vec()).await, "the PATCH body was refused early");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for round in 0..3 {
        let started = Instant::now();
        let response = head(t, &upload.path).await;
        let took = started.elapsed();
        expect_head_ok(&response, &format!("HEAD #{round} during a PATCH"));
        assert!(took < lock_timeout, "HEAD #{round} took {took:?}");
        let offset = response.offset().expect("Upload-Offset");
        assert!(offset == 0 || offset == 40, "HEAD during the PATCH: committed offset 0 or 40, got {offset}");
    }
    // The PATCH either goes on (HEAD read a snapshot) or was told to stop and persisted.
    let more = sender.send(body[40..].to_vec()).await;
    sender.finish();
    let patched = pending.response().await;
    let final_offset = super::offset(t, &upload.path).await;
    match patched.status.as_u16() {
        204 => assert_eq!(patched.offset(), Some(100), "{patched:?}"),
        423 => assert!(final_offset >= 40, "an interrupted PATCH persists what it received: {final_offset}"),
        other => panic!("PATCH after concurrent HEADs: unexpected {other} (body sent: {more}): {patched:?}"),
    }
    if let Some(reported) = patched.offset() {
        assert_eq!(reported, final_offset, "the PATCH's Upload-Offset must be the committed offset");
    }
}
