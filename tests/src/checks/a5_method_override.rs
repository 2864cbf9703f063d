//! A5. X-HTTP-Method-Override.

use super::{assert_no_upload, create, create_complete, download, offset};
use crate::deploy::Launcher;
use crate::target::{DENY_HEADER, HookProfile, Profile, Refusal};
use http::Method;
use std::time::Duration;
use tus_core::Extension;

const OVERRIDE: &str = "x-http-method-override";

/// A5.1: `POST` + override `PATCH` is a PATCH.
pub async fn a5_1_override_patch(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    let response = t
        .request(Method::POST, upload.path.clone())
        .header(OVERRIDE, "PATCH")
        .offset_octet_stream()
        .upload_offset(0)
        .body("0123456789")
        .send()
        .await;
    response.expect(204, "POST with X-HTTP-Method-Override: PATCH");
    assert_eq!(response.offset(), Some(10), "{response:?}");
    assert_eq!(&download(t, &upload.path).await[..], b"0123456789");
}

/// A5.2: `POST` + override `DELETE` terminates.
pub async fn a5_2_override_delete(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    let response = t.request(Method::POST, upload.path.clone()).header(OVERRIDE, "DELETE").send().await;
    response.expect(204, "POST with X-HTTP-Method-Override: DELETE");
    assert_no_upload(t, &upload.path, "after an overridden DELETE").await;
}

/// A5.3: `POST` + override `HEAD` answers the offset headers and no body.
pub async fn a5_3_override_head(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    super::patch(t, &upload.path, 0, "abc").await.expect(204, "PATCH");
    let response = t.request(Method::POST, upload.path.clone()).header(OVERRIDE, "HEAD").send().await;
    response.expect_one_of(&[200, 204], "POST with X-HTTP-Method-Override: HEAD");
    assert_eq!(response.offset(), Some(3), "{response:?}");
    assert_eq!(response.length(), Some(10), "{response:?}");
    assert_eq!(response.header("cache-control"), Some("no-store"), "{response:?}");
    assert!(response.body.is_empty(), "an overridden HEAD has no body: {response:?}");
    let response = t.request(Method::POST, t.upload_path("unknown")).header(OVERRIDE, "HEAD").send().await;
    response.expect(404, "overridden HEAD on an unknown upload");
    assert!(response.body.is_empty(), "an overridden HEAD has no body, errors included: {response:?}");
}

/// A5.4: the override is honoured whatever the real method is.
pub async fn a5_4_override_on_any_method(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 10).await;
    let response = t
        .request(Method::GET, upload.path.clone())
        .header(OVERRIDE, "PATCH")
        .offset_octet_stream()
        .upload_offset(0)
        .body("01234")
        .send()
        .await;
    response.expect(204, "GET with X-HTTP-Method-Override: PATCH");
    assert_eq!(response.offset(), Some(5), "{response:?}");
    let response = t
        .request(Method::PUT, upload.path.clone())
        .header(OVERRIDE, "patch")
        .offset_octet_stream()
        .upload_offset(5)
        .body("56789")
        .send()
        .await;
    response.expect(204, "PUT with X-HTTP-Method-Override: patch");
    assert_eq!(&download(t, &upload.path).await[..], b"0123456789");
    let response = t.request(Method::PATCH, upload.path.clone()).header(OVERRIDE, "DELETE").send().await;
    response.expect(204, "PATCH with X-HTTP-Method-Override: DELETE");
    assert_no_upload(t, &upload.path, "after PATCH overridden to DELETE").await;
}

/// A5.5: overridden requests go through the same authorization, lock and validation.
pub async fn a5_5_override_takes_the_same_checks(launcher: &dyn Launcher) {
    let hooks = HookProfile {
        deny_header: true,
        refuse_terminate: Some(Refusal::new(403, "termination refused by hook")),
        ..HookProfile::default()
    };
    let profile = Profile::default().lock_timeout(Duration::from_millis(300)).hooks(hooks);
    let d = launcher.launch(profile).await;
    let t = d.target();
    let upload = create(t, 10).await;
    let overridden = |method: &str| t.request(Method::POST, upload.path.clone()).header(OVERRIDE, method);

    overridden("PATCH")
        .header(DENY_HEADER, "1")
        .offset_octet_stream()
        .upload_offset(0)
        .body("x")
        .send()
        .await
        .expect(403, "overridden PATCH refused by authorize");
    overridden("HEAD").header(DENY_HEADER, "1").send().await.expect(403, "overridden HEAD refused by authorize");
    overridden("PATCH")
        .offset_octet_stream()
        .upload_offset(4)
        .body("x")
        .send()
        .await
        .expect(409, "overridden PATCH at a wrong offset");
    overridden("PATCH").upload_offset(0).body("x").send().await.expect(415, "overridden PATCH without Content-Type");
    overridden("PATCH").offset_octet_stream().body("x").send().await.expect(400, "overridden PATCH without offset");
    overridden("PATCH")
        .tus_version("0.2.2")
        .offset_octet_stream()
        .upload_offset(0)
        .body("x")
        .send()
        .await
        .expect(412, "overridden PATCH with a wrong version");
    overridden("DELETE").send().await.expect(403, "overridden DELETE vetoed by pre_terminate");
    let lock = d.hold_lock(&upload.id).await;
    overridden("PATCH")
        .offset_octet_stream()
        .upload_offset(0)
        .body("x")
        .send()
        .await
        .expect(423, "overridden PATCH on a locked upload");
    lock.release().await;
    assert_eq!(offset(t, &upload.path).await, 0, "a refused overridden request wrote data");

    // With termination switched off, an overridden DELETE is refused like a real one.
    let d = launcher.launch(Profile::default().extension(Extension::Termination, false)).await;
    let t = d.target();
    let upload = create_complete(t, b"abc").await;
    let native = t.delete(&upload.path).send().await;
    let overridden = t.request(Method::POST, upload.path.clone()).header(OVERRIDE, "DELETE").send().await;
    assert!(!native.status.is_success(), "DELETE with termination off: {native:?}");
    assert_eq!(overridden.status, native.status, "overridden DELETE vs DELETE: {overridden:?} vs {native:?}");
    assert_eq!(&download(t, &upload.path).await[..], b"abc");
}
