//! A8. Expiration.

use super::{create, create_complete, discover, download, eventually, extensions, head, is_gone, patch};
use crate::client::Response;
use crate::deploy::Launcher;
use crate::target::Profile;
use std::time::{Duration, SystemTime};
use tus_core::Expiration;

const HOUR: Duration = Duration::from_secs(3600);
/// The short expiry of the lines that wait for it: long enough to set uploads up
/// on a loaded machine, short enough to keep the suite fast.
pub(crate) const SHORT: Duration = Duration::from_secs(1);

/// Sleeps until `SHORT` plus a margin has passed since `since`.
pub(crate) async fn sleep_past_expiry(since: tokio::time::Instant) {
    tokio::time::sleep_until(since + SHORT + Duration::from_millis(250)).await;
}

#[track_caller]
fn expires(response: &Response, what: &str) -> SystemTime {
    let value = response.header("upload-expires").unwrap_or_else(|| panic!("{what}: no Upload-Expires: {response:?}"));
    httpdate::parse_http_date(value).unwrap_or_else(|_| panic!("{what}: Upload-Expires {value:?} is not an HTTP date"))
}

/// Whether `value` is an RFC 9110 IMF-fixdate, e.g. `Wed, 25 Jun 2014 16:00:00 GMT`.
fn is_imf_fixdate(value: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = value.split(' ').collect();
    let [day, date, month, year, time, zone] = parts[..] else { return false };
    let time: Vec<&str> = time.split(':').collect();
    day.strip_suffix(',').is_some_and(|d| DAYS.contains(&d))
        && digits(date, 2)
        && MONTHS.contains(&month)
        && digits(year, 4)
        && time.len() == 3
        && time.iter().all(|t| digits(t, 2))
        && zone == "GMT"
}

/// A8.1: with expiration on, `Tus-Extension` contains `expiration` (and not without).
pub async fn a8_1_expiration_is_advertised(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().expiration(Expiration::absolute(HOUR))).await;
    assert!(extensions(&discover(d.target()).await).contains("expiration"));
    let d = launcher.launch_default().await;
    assert!(!extensions(&discover(d.target()).await).contains("expiration"), "expiration is not configured");
}

/// A8.2: the 201 of an upload that will expire has `Upload-Expires`.
pub async fn a8_2_creation_response_has_upload_expires(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().expiration(Expiration::absolute(HOUR))).await;
    let t = d.target();
    let before = SystemTime::now();
    let response = t.post().header("upload-length", "10").send().await;
    response.expect(201, "POST");
    let at = expires(&response, "201");
    let expected = before + HOUR;
    let skew = if at > expected { at.duration_since(expected) } else { expected.duration_since(at) };
    assert!(skew.unwrap_or_default() <= Duration::from_secs(5), "Upload-Expires is not creation + 1 h: {response:?}");
    let response = t.post().header("upload-length", "10").offset_octet_stream().body("abc").send().await;
    response.expect(201, "POST with a body");
    expires(&response, "201 with a body");
    let response = t.post().header("upload-defer-length", "1").send().await;
    expires(&response, "201 of a deferred upload");
}

/// A8.3: every PATCH response of an expiring upload has `Upload-Expires` (HEAD too).
pub async fn a8_3_every_patch_response_has_upload_expires(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().expiration(Expiration::absolute(HOUR))).await;
    let t = d.target();
    let upload = create(t, 20).await;
    for (at, body) in [(0, "01234"), (5, ""), (5, "56789")] {
        let response = patch(t, &upload.path, at, body).await;
        response.expect(204, "PATCH");
        expires(&response, &format!("204 PATCH at {at}"));
    }
    let response = patch(t, &upload.path, 3, "x").await;
    response.expect(409, "PATCH at a wrong offset");
    expires(&response, "409 PATCH of an expiring upload");
    expires(&head(t, &upload.path).await, "HEAD");
}

/// A8.4: `Upload-Expires` is an RFC 9110 IMF-fixdate.
pub async fn a8_4_upload_expires_is_an_imf_fixdate(launcher: &dyn Launcher) {
    assert!(is_imf_fixdate("Wed, 25 Jun 2014 16:00:00 GMT"));
    assert!(!is_imf_fixdate("Wednesday, 25-Jun-14 16:00:00 GMT"));
    let d = launcher.launch(Profile::default().expiration(Expiration::sliding(HOUR))).await;
    let t = d.target();
    let created = t.post().header("upload-length", "10").send().await;
    let upload = super::Upload::from_location(t, &created);
    let patched = patch(t, &upload.path, 0, "abc").await;
    let headed = head(t, &upload.path).await;
    for (what, response) in [("201", created), ("204", patched), ("HEAD", headed)] {
        let value =
            response.header("upload-expires").unwrap_or_else(|| panic!("{what}: no Upload-Expires: {response:?}"));
        assert!(is_imf_fixdate(value), "{what}: Upload-Expires {value:?} is not an IMF-fixdate");
    }
}

/// A8.5: a sliding expiry moves forward with each PATCH; an absolute one stays.
pub async fn a8_5_sliding_expiry_moves_absolute_stays(launcher: &dyn Launcher) {
    let sliding = launcher.launch(Profile::default().expiration(Expiration::sliding(HOUR))).await;
    let absolute = launcher.launch(Profile::default().expiration(Expiration::absolute(HOUR))).await;
    let mut firsts = Vec::new();
    for d in [&sliding, &absolute] {
        let t = d.target();
        let upload = create(t, 10).await;
        let first = expires(&patch(t, &upload.path, 0, "abc").await, "first PATCH");
        firsts.push((upload, first));
    }
    // HTTP dates have a resolution of one second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (upload, first) = &firsts[0];
    let second = expires(&patch(sliding.target(), &upload.path, 3, "def").await, "second PATCH (sliding)");
    assert!(second > *first, "a sliding expiry must move forward: {first:?} then {second:?}");
    let (upload, first) = &firsts[1];
    let second = expires(&patch(absolute.target(), &upload.path, 3, "def").await, "second PATCH (absolute)");
    assert_eq!(second, *first, "an absolute expiry must not move");
}

/// A8.6: HEAD/PATCH on an expired upload is 410 (or 404), without `Upload-Offset`.
pub async fn a8_6_expired_upload_is_410(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().expiration(Expiration::absolute(SHORT))).await;
    let t = d.target();
    let created = tokio::time::Instant::now();
    let upload = create(t, 10).await;
    let complete = create_complete(t, b"done").await;
    patch(t, &upload.path, 0, "abc").await.expect(204, "PATCH before the expiry");
    sleep_past_expiry(created).await;
    // Expired, whether or not the janitor has run yet.
    let upload = &upload;
    let check = |stage: &'static str| async move {
        let response = head(t, &upload.path).await;
        assert!(is_gone(response.status.as_u16()), "{stage}: HEAD on an expired upload: {response:?}");
        assert!(!response.has("upload-offset"), "{stage}: {response:?}");
        let response = patch(t, &upload.path, 3, "def").await;
        assert!(is_gone(response.status.as_u16()), "{stage}: PATCH on an expired upload: {response:?}");
        assert!(!response.has("upload-offset"), "{stage}: {response:?}");
        t.get(&upload.path).send().await.status.as_u16()
    };
    let status = check("before the janitor").await;
    assert!(is_gone(status), "GET on an expired upload: {status}");
    let removed = d.remove_expired(false).await;
    assert!(removed.contains(&upload.id), "the janitor must remove the expired upload: {removed:?}");
    check("after the janitor").await;
    // A complete upload does not expire.
    assert_eq!(head(t, &complete.path).await.offset(), Some(4), "a complete upload must not expire");
    assert_eq!(&download(t, &complete.path).await[..], b"done");
}

/// A8.7: the janitor removes expired unfinished uploads with their bytes; complete ones stay.
pub async fn a8_7_janitor_removes_expired_uploads(launcher: &dyn Launcher) {
    let profile = Profile {
        janitor_interval: Duration::from_millis(100),
        ..Profile::default().expiration(Expiration::absolute(SHORT))
    };
    let d = launcher.launch(profile).await;
    let t = d.target();
    let unfinished = create(t, 1000).await;
    patch(t, &unfinished.path, 0, super::data(600, 1)).await.expect(204, "PATCH");
    let complete = create_complete(t, b"keep me").await;
    let leftovers = || match d.storage_dir() {
        Some(dir) => super::files_under(dir).into_iter().filter(|p| p.contains(&unfinished.id)).collect(),
        None => Vec::new(),
    };
    // The removal is done once the upload is gone, nothing is left to sweep and its
    // files (for file-backed storages) are deleted.
    let removed = eventually(SHORT + Duration::from_secs(5), || async {
        let dry = d.remove_expired(true).await;
        let status = head(t, &unfinished.path).await.status.as_u16();
        (dry.is_empty() && is_gone(status) && leftovers().is_empty()).then_some(())
    })
    .await;
    let status = head(t, &unfinished.path).await.status;
    assert!(
        removed.is_some(),
        "the background janitor did not remove the expired upload within 5 s of the expiry: HEAD {status}, files left {:?}",
        leftovers()
    );
    assert_eq!(&download(t, &complete.path).await[..], b"keep me", "the janitor touched a complete upload");
}

/// A8.8: an upload with a PATCH in flight is not reaped mid-write.
pub async fn a8_8_upload_being_written_is_not_reaped(launcher: &dyn Launcher) {
    let profile = Profile {
        janitor_interval: Duration::from_millis(100),
        ..Profile::default().expiration(Expiration::absolute(SHORT))
    };
    let d = launcher.launch(profile).await;
    let t = d.target();
    let created = tokio::time::Instant::now();
    let upload = create(t, 10).await;
    let (mut sender, pending) =
        t.patch(&upload.path).offset_octet_stream().upload_offset(0).header("content-length", "10").stream().await;
    sender.send(&b"01234"[..]).await;
    // The expiry passes while the body is open; the janitor runs several times.
    sleep_past_expiry(created).await;
    let swept = d.remove_expired(false).await;
    assert!(!swept.contains(&upload.id), "the janitor reaped an upload mid-write");
    assert!(!pending.is_finished(), "the PATCH was cut off while its body was still coming");
    sender.send(&b"56789"[..]).await;
    sender.finish();
    let response = pending.response().await;
    response.expect(204, "the PATCH that outlived the expiry");
    assert_eq!(response.offset(), Some(10));
    assert_eq!(&download(t, &upload.path).await[..], b"0123456789");
}
