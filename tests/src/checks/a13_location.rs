//! A13. Location, proxies and IDs.

use super::{create, create_complete, download, head, offset};
use crate::client::Response;
use crate::deploy::{EventKind, Launcher};
use crate::digest::base64;
use crate::target::{HookProfile, Profile, Target};
use http::Method;

/// The ID part of a `Location` that must be `<prefix>/files/<id>`.
#[track_caller]
fn id_after(response: &Response, prefix: &str) -> String {
    response.expect(201, "POST");
    let location = response.header("location").unwrap_or_else(|| panic!("no Location: {response:?}"));
    let id = location
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix("/files/"))
        .unwrap_or_else(|| panic!("Location {location:?} must start with {prefix}/files/"));
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
        "the ID in {location:?} is not path-safe"
    );
    id.to_owned()
}

fn forwarded_post(t: &Target) -> [crate::client::RequestBuilder; 2] {
    [
        t.post()
            .header("upload-length", "1")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "up.example"),
        t.post().header("upload-length", "1").header("forwarded", "for=192.0.2.1;host=up.example;proto=https"),
    ]
}

/// A13.1: by default `Location` is the relative path `/files/{id}`, and it resolves.
pub async fn a13_1_location_is_relative_and_resolves(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let response = t.post().header("upload-length", "7").send().await;
    let id = id_after(&response, "");
    let response = head(t, &format!("/files/{id}")).await;
    assert_eq!((response.offset(), response.length()), (Some(0), Some(7)), "{response:?}");
}

/// A13.2: trusted proxy headers shape an absolute `Location`; untrusted ones are ignored.
pub async fn a13_2_forwarded_headers_only_when_trusted(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile { trust_proxy: true, ..Profile::default() }).await;
    let t = d.target();
    for request in forwarded_post(t) {
        let id = id_after(&request.send().await, "https://up.example");
        assert_eq!(offset(t, &format!("/files/{id}")).await, 0, "the absolute Location must name the upload");
    }
    // Garbage in the forwarded host is not echoed.
    let response = t
        .post()
        .header("upload-length", "1")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example/path?x")
        .send()
        .await;
    response.expect(201, "POST with a malformed X-Forwarded-Host");
    let location = response.header("location").unwrap_or_default();
    assert!(!location.contains("evil.example"), "a malformed forwarded host was echoed: {location:?}");

    let d = launcher.launch_default().await;
    let t = d.target();
    for request in forwarded_post(t) {
        id_after(&request.send().await, "");
    }
}

/// A13.3: a configured public URL wins over everything.
pub async fn a13_3_public_url_overrides(launcher: &dyn Launcher) {
    let public = "https://uploads.example.com";
    let d = launcher
        .launch(Profile { public_url: Some(format!("{public}/")), trust_proxy: true, ..Profile::default() })
        .await;
    let t = d.target();
    let id = id_after(&t.post().header("upload-length", "1").send().await, public);
    assert_eq!(offset(t, &format!("/files/{id}")).await, 0);
    for request in forwarded_post(t) {
        id_after(&request.send().await, public);
    }
}

/// A13.4: an ID from a hook that is not path-safe fails the creation with 500, never a broken URL.
pub async fn a13_4_unsafe_ids_from_hooks_fail_with_500(launcher: &dyn Launcher) {
    let d = launcher
        .launch(Profile::default().hooks(HookProfile { id_from_metadata: true, ..HookProfile::default() }))
        .await;
    let t = d.target();
    let with_id =
        |id: &[u8]| t.post().header("upload-length", "4").header("upload-metadata", format!("id {}", base64(id)));
    let long = "x".repeat(300);
    let bad: [&[u8]; 12] = [
        b"a b",
        b"/lead",
        b"trail/",
        b"a/b",
        b"a%2Fb",
        "ü".as_bytes(),
        b"..",
        b".",
        b"a?b",
        b"a#b",
        b"a\r\nb",
        long.as_bytes(),
    ];
    for id in bad {
        let response = with_id(id).send().await;
        response.expect(500, &format!("hook ID {:?}", String::from_utf8_lossy(id)));
        assert!(!response.has("location"), "a broken ID produced a Location: {response:?}");
    }
    assert_eq!(d.events().count_kind(EventKind::Created), 0, "no upload with a bad ID may exist");

    let response = with_id(b"custom-ID_1.~").send().await;
    assert_eq!(id_after(&response, ""), "custom-ID_1.~");
    super::patch(t, "/files/custom-ID_1.~", 0, "good").await.expect(204, "PATCH the hook-named upload");
    // The same ID again is a configuration error too, and leaves the first upload alone.
    let response = with_id(b"custom-ID_1.~").send().await;
    response.expect(500, "a hook ID that is taken");
    assert!(!response.has("location"), "{response:?}");
    assert_eq!(&download(t, "/files/custom-ID_1.~").await[..], b"good");
}

/// A13.5: path traversal and encoded separators never reach an upload or a file.
pub async fn a13_5_path_traversal_is_refused(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let victim = create_complete(t, b"victim").await;
    let other = create(t, 5).await;
    let files_before = d.storage_dir().map(super::files_under);
    let paths = [
        "/files/../x".to_owned(),
        "/files/..".to_owned(),
        "/files/.".to_owned(),
        "/files/%2e%2e".to_owned(),
        "/files/%2E%2E/%2E%2E/etc/passwd".to_owned(),
        "/files/..%2f..%2fetc%2fpasswd".to_owned(),
        "/files/a%2Fb".to_owned(),
        "/files/a%00b".to_owned(),
        format!("/files/..%2Ffiles%2F{}", victim.id),
        format!("/files/../files/{}", victim.id),
        format!("/files/x/../{}", victim.id),
        format!("/files/{}%00", victim.id),
        format!("/files/{}/..", victim.id),
    ];
    for path in &paths {
        for method in [Method::HEAD, Method::GET, Method::DELETE, Method::PATCH, Method::POST] {
            let mut request = t.request(method.clone(), path.clone());
            if method == Method::PATCH || method == Method::POST {
                request = request.offset_octet_stream().upload_offset(0).header("upload-length", "5").body("evil!");
            }
            let response = request.send().await;
            response.expect_one_of(&[404, 400], &format!("{method} {path}"));
            assert!(!response.has("location"), "{method} {path} created something: {response:?}");
        }
    }
    assert_eq!(&download(t, &victim.path).await[..], b"victim", "a traversal reached an upload");
    if let (Some(dir), Some(mut before)) = (d.storage_dir(), files_before) {
        let mut after = super::files_under(dir);
        before.sort();
        after.sort();
        assert_eq!(after, before, "a traversal created or deleted files in the storage directory");
    }
    assert_eq!(offset(t, &other.path).await, 0);
    let created = d.events().count_kind(EventKind::Created);
    assert_eq!(created, 2, "a traversal created an upload: {:?}", d.events().all());
}
