//! https:// endpoints (the `rustls` feature): @tus/server behind TLS with a self-signed
//! certificate made by openssl(1) for the test. It is refused by default and accepted with
//! `danger_accept_invalid_certs` (`tus upload --insecure`).
#![cfg(feature = "rustls")]

mod common;
mod support;

use common::{MIB, sha256, test_data};
use std::process::Command;
use support::{External, write_file};
use tus_rs_client::{Client, Error, RetryPolicy};

/// A self-signed certificate for 127.0.0.1: (dir, cert, key).
fn self_signed() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem").display().to_string();
    let key = dir.path().join("key.pem").display().to_string();
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", &key, "-out", &cert])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl(1) is needed for the TLS tests");
    assert!(status.success(), "openssl could not make a certificate");
    (dir, cert, key)
}

fn stored(server: &External, url: &str) -> Vec<u8> {
    let id = url.rsplit('/').next().unwrap();
    std::fs::read(server.dir.path().join(id)).unwrap()
}

#[tokio::test]
async fn self_signed_certificates_are_refused_unless_accepted() {
    let (_certs, cert, key) = self_signed();
    let server = External::node_with(&["--tls-cert", &cert, "--tls-key", &key]);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let data = test_data(MIB + 5, 71);

    let strict = Client::builder(&server.url).retry_policy(RetryPolicy::none()).build().unwrap();
    let err = strict.upload(data.clone()).await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");

    let trusting =
        Client::builder(&server.url).danger_accept_invalid_certs(true).chunk_size(256 * 1024).build().unwrap();
    let uploaded = trusting.upload(data.clone()).await.unwrap();
    assert_eq!(uploaded.url.scheme(), "https");
    assert_eq!(sha256(&stored(&server, uploaded.url.as_str())), sha256(&data));

    // The same through `tus upload --insecure`.
    let work = tempfile::tempdir().unwrap();
    let file = write_file(work.path(), "tls.bin", &data);
    let output = Command::new(common::tus_bin())
        .args(["upload", file.to_str().unwrap(), "--endpoint", &server.url, "--insecure", "--quiet"])
        .env("TUS_CACHE_DIR", work.path().join("cache"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let url = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(sha256(&stored(&server, &url)), sha256(&data));
    let refused = Command::new(common::tus_bin())
        .args(["upload", file.to_str().unwrap(), "--endpoint", &server.url, "--retries", "0"])
        .env("TUS_CACHE_DIR", work.path().join("cache"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
}
