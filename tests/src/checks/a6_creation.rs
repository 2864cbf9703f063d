//! A6. Creation (POST).

use super::a3_head::parse_metadata;
use super::{Upload, assert_no_upload, create, discover, extensions, head, patch};
use crate::client::Response;
use crate::deploy::{EventKind, Launcher};
use crate::digest::base64;
use crate::target::{HookProfile, Profile, Refusal};
use std::collections::BTreeSet;
use std::time::Duration;

#[track_caller]
fn assert_nothing_created(d: &crate::Deployment, what: &str) {
    assert_eq!(d.events().count_kind(EventKind::Created), 0, "{what}: an upload was created: {:?}", d.events().all());
}

/// A6.1: `POST` with `Upload-Length: 100` is 201 with a `Location` whose HEAD shows offset 0, length 100.
pub async fn a6_1_post_creates_an_upload(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let response = t.post().header("upload-length", "100").send().await;
    response.expect(201, "POST Upload-Length: 100");
    assert_eq!(response.header_all("location").len(), 1, "one Location: {response:?}");
    let upload = Upload::from_location(t, &response);
    let response = head(t, &upload.path).await;
    super::expect_head_ok(&response, "HEAD on the Location");
    assert_eq!((response.offset(), response.length()), (Some(0), Some(100)), "{response:?}");
    assert_eq!(d.events().count(EventKind::Created, &upload.id), 1, "post_create fires once");
}

/// A6.2: `Tus-Extension` contains `creation`.
pub async fn a6_2_creation_is_advertised(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let response = discover(d.target()).await;
    assert!(extensions(&response).contains("creation"), "{response:?}");
}

/// A6.3: neither `Upload-Length` nor `Upload-Defer-Length` is 400.
pub async fn a6_3_post_without_length_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    t.post().send().await.expect(400, "POST without Upload-Length or Upload-Defer-Length");
    t.post()
        .header("upload-metadata", format!("filename {}", base64(b"x")))
        .send()
        .await
        .expect(400, "POST with only metadata");
    assert_nothing_created(&d, "POST without a length");
}

/// A6.4: `Upload-Defer-Length` with any value but `1` is 400.
pub async fn a6_4_defer_length_other_than_1_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    for value in ["2", "0", "true", "", "01", "1 "] {
        let response = t.post().header("upload-defer-length", value).send().await;
        // A value with trailing whitespace is trimmed by HTTP parsing, so "1 " is `1`.
        if value.trim() == "1" {
            response.expect(201, "Upload-Defer-Length: 1 with whitespace");
            continue;
        }
        response.expect(400, &format!("Upload-Defer-Length: {value:?}"));
    }
    assert_eq!(d.events().count_kind(EventKind::Created), 1, "only the valid POST created an upload");
}

/// A6.5: both `Upload-Length` and `Upload-Defer-Length: 1` is 400.
pub async fn a6_5_length_and_defer_length_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    t.post()
        .header("upload-length", "10")
        .header("upload-defer-length", "1")
        .send()
        .await
        .expect(400, "POST with Upload-Length and Upload-Defer-Length");
    assert_nothing_created(&d, "POST with both lengths");
}

/// A6.6: `Upload-Length` above the maximum is 413, and nothing is created.
pub async fn a6_6_length_above_max_size_is_413(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile::default().max_size(1000)).await;
    let t = d.target();
    for length in ["1001", "18446744073709551615"] {
        let response = t.post().header("upload-length", length).send().await;
        response.expect(413, &format!("POST Upload-Length: {length} with a maximum of 1000"));
        assert!(!response.has("location"), "{response:?}");
    }
    assert_nothing_created(&d, "POST above the maximum");
    create(t, 1000).await;
}

/// A6.7: `Upload-Length: 0` is created complete, and the finish event fires once.
pub async fn a6_7_zero_length_upload_is_complete_at_once(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 0).await;
    let response = head(t, &upload.path).await;
    assert_eq!((response.offset(), response.length()), (Some(0), Some(0)), "{response:?}");
    assert_eq!(
        d.events().count(EventKind::Finished, &upload.id),
        1,
        "finish fires on creation: {:?}",
        d.events().all()
    );
    patch(t, &upload.path, 0, "").await.expect(204, "empty PATCH on the empty upload");
    let response = t.get(&upload.path).send().await;
    response.expect(200, "GET the empty upload");
    assert!(response.body.is_empty(), "{response:?}");
    assert_eq!(
        d.events().count(EventKind::Finished, &upload.id),
        1,
        "finish fires exactly once: {:?}",
        d.events().all()
    );
}

/// A6.8: a key without a value is accepted and echoed with an empty value.
pub async fn a6_8_metadata_key_without_value(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let response = t
        .post()
        .header("upload-length", "5")
        .header("upload-metadata", "filename d29ybGQ=,is_confidential")
        .send()
        .await;
    response.expect(201, "POST with a key without a value");
    let upload = Upload::from_location(t, &response);
    let response = head(t, &upload.path).await;
    let echoed =
        parse_metadata(response.header("upload-metadata").unwrap_or_else(|| panic!("no metadata: {response:?}")));
    let keys: BTreeSet<&str> = echoed.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["filename", "is_confidential"]), "{response:?}");
    assert_eq!(echoed["filename"], b"world");
    assert_eq!(echoed["is_confidential"], b"");
}

/// A6.9: duplicate keys, empty keys, keys with a space and values that are not base64 are 400.
pub async fn a6_9_invalid_metadata_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    // A key cannot contain a comma: the comma separates pairs, so `a,b x` is two valid pairs.
    let bad = [
        ("duplicate key", "name d29ybGQ=,name aGk="),
        ("duplicate key without values", "flag,flag"),
        ("empty key", ",name d29ybGQ="),
        ("empty pair in the middle", "a d29ybGQ=,,b aGk="),
        ("key with a space", "my key d29ybGQ="),
        ("value not base64", "name !!!"),
        ("value with a character outside base64", "name d29y*GQ="),
    ];
    for (what, value) in bad {
        t.post()
            .header("upload-length", "5")
            .header("upload-metadata", value)
            .send()
            .await
            .expect(400, &format!("Upload-Metadata with a {what}: {value:?}"));
    }
    assert_nothing_created(&d, "POST with invalid metadata");
}

/// A6.10: metadata decoding to CR/LF/NUL is never reflected raw in a response header.
pub async fn a6_10_metadata_cannot_smuggle_headers(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let evil = b"x\r\nSet-Cookie: stolen=1\r\n\0X-Injected: 1";
    let name = b"a.txt\r\nX-Injected: 1\r\n\r\n<script>";
    let header =
        format!("evil {},filename {},filetype {}", base64(evil), base64(name), base64(b"text/plain\r\nX-Injected: 1"));
    let response = t.post().header("upload-length", "0").header("upload-metadata", header).send().await;
    response.expect(201, "POST with control characters in metadata values");
    let upload = Upload::from_location(t, &response);

    let response = head(t, &upload.path).await;
    let raw = response.header("upload-metadata").unwrap_or_else(|| panic!("no metadata echo: {response:?}"));
    let echoed = parse_metadata(raw);
    assert_eq!(echoed["evil"], evil, "the value must survive base64 re-encoding");
    assert_eq!(echoed["filename"], name);

    for (method, path) in [("HEAD", upload.path.as_str()), ("GET", upload.path.as_str())] {
        let mut conn = t.raw().await;
        conn.send_head(method, path, &[("tus-resumable", "1.0.0".to_owned())]).await;
        let head = conn.read_head(Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{method}: {e:?}"));
        for name in ["set-cookie", "x-injected"] {
            assert!(!head.headers.contains_key(name), "{method}: a metadata value became a {name} header: {head:?}");
        }
    }
    let response = t.get(&upload.path).send().await;
    response.expect(200, "GET");
    if let Some(cd) = response.headers.get("content-disposition") {
        assert!(
            cd.as_bytes().iter().all(|b| (0x20..0x7f).contains(b)),
            "Content-Disposition must be sanitized: {cd:?}"
        );
    }
    assert_eq!(response.header("content-type"), Some("application/octet-stream"), "{response:?}");
}

/// A6.11: an `Upload-Metadata` larger than the configured limit is 400/431.
pub async fn a6_11_oversized_metadata_is_refused(launcher: &dyn Launcher) {
    let d = launcher.launch(Profile { max_metadata_size: 4096, ..Profile::default() }).await;
    let t = d.target();
    let big = format!("blob {}", base64(&vec![b'x'; 3200]));
    assert!(big.len() > 4096);
    let response = t.post().header("upload-length", "5").header("upload-metadata", &big).send().await;
    response.expect_one_of(&[400, 431], "Upload-Metadata above the limit");
    assert_nothing_created(&d, "oversized metadata");
    let fits = format!("blob {}", base64(&vec![b'x'; 2000]));
    assert!(fits.len() < 4096);
    t.post()
        .header("upload-length", "5")
        .header("upload-metadata", fits)
        .send()
        .await
        .expect(201, "metadata under the limit");
}

/// A6.12: upload URLs are unique and the IDs carry at least 128 random bits.
pub async fn a6_12_ids_are_unique_and_unguessable(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target().clone();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { t.post().header("upload-length", "1").send().await })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for task in tasks {
        let response: Response = task.await.expect("POST task");
        response.expect(201, "POST");
        let upload = Upload::from_location(&t, &response);
        assert!(ids.insert(upload.id.clone()), "ID {} was handed out twice", upload.id);
    }
    let alphabet: BTreeSet<u8> = ids.iter().flat_map(|id| id.bytes()).collect();
    // The smallest alphabet the IDs could come from, judged from the characters seen.
    let symbols = if alphabet.iter().all(u8::is_ascii_hexdigit) {
        if alphabet.iter().all(|b| !b.is_ascii_uppercase()) || alphabet.iter().all(|b| !b.is_ascii_lowercase()) {
            16
        } else {
            22
        }
    } else if alphabet.iter().all(u8::is_ascii_alphanumeric) {
        62
    } else {
        64
    };
    for id in &ids {
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
            "ID {id:?} has characters outside the unreserved set"
        );
        let bits = id.len() as f64 * f64::log2(f64::from(symbols));
        assert!(bits >= 128.0, "ID {id:?} carries at most {bits:.0} bits (alphabet of {symbols})");
    }
    // Random IDs share no long prefix.
    let list: Vec<&String> = ids.iter().collect();
    for pair in list.windows(2) {
        let common = pair[0].bytes().zip(pair[1].bytes()).take_while(|(a, b)| a == b).count();
        assert!(common < 8, "IDs {:?} and {:?} share a {common}-character prefix: not random", pair[0], pair[1]);
    }
}

/// A6.13: a pre-create hook that refuses: its status and message, nothing created, no event.
pub async fn a6_13_pre_create_refusal_is_sent_and_creates_nothing(launcher: &dyn Launcher) {
    let hooks = HookProfile {
        refuse_create: Some(Refusal::new(403, "quota exceeded for this user")),
        ..HookProfile::default()
    };
    let d = launcher.launch(Profile::default().sequential_ids("h").hooks(hooks)).await;
    let t = d.target();
    let response = t.post().header("upload-length", "10").send().await;
    response.expect(403, "POST refused by pre_create");
    assert!(response.text().contains("quota exceeded for this user"), "the hook's message: {response:?}");
    assert!(!response.has("location"), "{response:?}");
    let response = t.post().header("upload-length", "10").offset_octet_stream().body("0123456789").send().await;
    response.expect(403, "creation-with-upload refused by pre_create");
    assert_nothing_created(&d, "refused by pre_create");
    assert_no_upload(t, &t.upload_path("h-1"), "after refused creations").await;
}
