//! A10. Termination.

use super::{
    assert_no_upload, create, create_complete, discover, download, extensions, files_under, is_gone, offset, patch,
};
use crate::deploy::{EventKind, Launcher};
use crate::target::{HookProfile, Profile, Refusal};
use std::time::{Duration, Instant};
use tus_core::Extension;

/// A10.1: `Tus-Extension` contains `termination`.
pub async fn a10_1_termination_is_advertised(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    assert!(extensions(&discover(d.target()).await).contains("termination"));
}

/// A10.2: DELETE on an unfinished or a finished upload is 204.
pub async fn a10_2_delete_is_204(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let unfinished = create(t, 10).await;
    patch(t, &unfinished.path, 0, "abc").await.expect(204, "PATCH");
    let finished = create_complete(t, b"done").await;
    let fresh = create(t, 10).await;
    for upload in [&unfinished, &finished, &fresh] {
        let response = t.delete(&upload.path).send().await;
        response.expect(204, "DELETE");
        assert!(response.body.is_empty(), "{response:?}");
        assert_eq!(d.events().count(EventKind::Terminated, &upload.id), 1, "post_terminate fires once");
    }
}

/// A10.3: every later HEAD/PATCH/GET/DELETE on a terminated upload is 404 or 410.
pub async fn a10_3_requests_after_delete_are_404_or_410(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    for upload in [create(t, 10).await, create_complete(t, b"done").await] {
        t.delete(&upload.path).send().await.expect(204, "DELETE");
        let responses = [
            ("HEAD", t.head(&upload.path).send().await),
            ("PATCH", patch(t, &upload.path, 0, "abc").await),
            ("PATCH empty", patch(t, &upload.path, 4, "").await),
            ("GET", t.get(&upload.path).send().await),
            ("DELETE", t.delete(&upload.path).send().await),
        ];
        for (what, response) in responses {
            assert!(is_gone(response.status.as_u16()), "{what} after DELETE: {response:?}");
            assert!(!response.has("upload-offset"), "{what} after DELETE: {response:?}");
        }
    }
}

/// A10.4: termination frees the stored bytes.
pub async fn a10_4_delete_frees_storage(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 100_000).await;
    patch(t, &upload.path, 0, super::data(60_000, 1)).await.expect(204, "PATCH");
    let complete = create_complete(t, &super::data(1000, 2)).await;
    t.delete(&upload.path).send().await.expect(204, "DELETE");
    t.delete(&complete.path).send().await.expect(204, "DELETE");
    for path in [&upload.path, &complete.path] {
        assert_no_upload(t, path, "after DELETE").await;
        let response = t.get(path).send().await;
        assert!(is_gone(response.status.as_u16()) && response.body.len() < 1000, "GET after DELETE: {response:?}");
    }
    if let Some(dir) = d.storage_dir() {
        let leftovers: Vec<String> =
            files_under(dir).into_iter().filter(|p| p.contains(&upload.id) || p.contains(&complete.id)).collect();
        assert!(leftovers.is_empty(), "files of terminated uploads remain: {leftovers:?}");
        let big: Vec<(String, u64)> = files_under(dir)
            .into_iter()
            .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m.len())))
            .filter(|(p, len)| *len >= 60_000 && !p.ends_with("-wal") && !p.ends_with(".db") && !p.ends_with(".sqlite"))
            .collect();
        assert!(big.is_empty(), "a data file of the size of the terminated upload remains: {big:?}");
    }
}

/// A10.5: DELETE during a PATCH interrupts it and succeeds within the lock timeout; nothing comes back.
pub async fn a10_5_delete_interrupts_a_patch_in_flight(launcher: &dyn Launcher) {
    let lock_timeout = Duration::from_secs(2);
    let d = launcher.launch(Profile::default().lock_timeout(lock_timeout)).await;
    let t = d.target();
    let upload = create(t, 100).await;
    let (mut sender, pending) =
        t.patch(&upload.path).offset_octet_stream().upload_offset(0).header("content-length", "100").stream().await;
    sender.send(super::data(30, 1)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    let response = t.delete(&upload.path).send().await;
    let took = started.elapsed();
    response.expect(204, "DELETE during a PATCH");
    assert!(took < lock_timeout, "DELETE waited {took:?}: the PATCH was not interrupted");
    // Whatever the PATCH still sends must not bring the upload back.
    let _ = sender.send(super::data(70, 2)).await;
    sender.finish();
    match pending.try_response(Duration::from_secs(5)).await {
        Ok(patched) => assert!(!patched.status.is_success(), "the interrupted PATCH must get an error: {patched:?}"),
        Err(e) => assert!(!e.contains("no response within"), "the interrupted PATCH hung: {e}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_no_upload(t, &upload.path, "after DELETE during a PATCH").await;
    assert!(is_gone(t.get(&upload.path).send().await.status.as_u16()));
    assert!(is_gone(patch(t, &upload.path, 30, "x").await.status.as_u16()));
    assert_eq!(d.events().count(EventKind::Terminated, &upload.id), 1);
}

/// A10.6: with termination off, DELETE is refused, and `termination` is not advertised.
pub async fn a10_6_termination_disabled(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().extension(Extension::Termination, false)).await;
    let t = d.target();
    assert!(!extensions(&discover(t).await).contains("termination"));
    let upload = create_complete(t, b"keep").await;
    t.delete(&upload.path).send().await.expect_one_of(&[405, 404, 501], "DELETE with termination off");
    assert_eq!(&download(t, &upload.path).await[..], b"keep", "the upload must still exist");
}

/// A10.7: a pre-terminate veto is answered with the hook's status; the upload stays.
pub async fn a10_7_pre_terminate_veto(launcher: &dyn Launcher) {
    let hooks = HookProfile {
        refuse_terminate: Some(Refusal::new(403, "uploads are kept for audit")),
        ..HookProfile::default()
    };
    let d = launcher.launch(Profile::default().hooks(hooks)).await;
    let t = d.target();
    let upload = create(t, 10).await;
    patch(t, &upload.path, 0, "abc").await.expect(204, "PATCH");
    let response = t.delete(&upload.path).send().await;
    response.expect(403, "DELETE vetoed by pre_terminate");
    assert!(response.text().contains("uploads are kept for audit"), "the hook's message: {response:?}");
    assert_eq!(offset(t, &upload.path).await, 3, "the upload must still exist");
    assert_eq!(d.events().count_kind(EventKind::Terminated), 0);
}
