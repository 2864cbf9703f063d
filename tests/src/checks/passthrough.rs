//! Not a checklist line: requests outside the base path go to the inner service untouched.

use crate::deploy::Launcher;
use crate::server::{INNER_MARKER, Mode};
use http::Method;

/// Outside `/files`, a wrapped service answers with the inner application (with its
/// marker, without any tus header); a standalone one answers 404. `/files` itself is tus.
pub async fn passthrough_reaches_the_inner_service(launcher: &dyn Launcher, mode: Mode) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let cases = [
        (Method::GET, "/hello", "", "hello"),
        (Method::GET, "/", "", "GET / 0"),
        (Method::GET, "/filesystem", "", "GET /filesystem 0"),
        (Method::POST, "/", "abc", "POST / 3"),
        (Method::PATCH, "/filesystem/x", "abcd", "PATCH /filesystem/x 4"),
        (Method::OPTIONS, "/hello", "", "hello"),
        (Method::HEAD, "/fil", "", ""),
    ];
    for (method, path, body, echo) in cases {
        // tus headers and an Origin on a foreign path must not wake tus up.
        let response = t
            .request(method.clone(), path)
            .header("upload-length", "10")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", "0")
            .header("origin", "https://app.example")
            .body(body)
            .send()
            .await;
        let what = format!("{method} {path} ({mode:?})");
        for header in ["tus-resumable", "location", "upload-offset", "access-control-allow-origin", "tus-version"] {
            assert!(!response.has(header), "{what}: tus answered a foreign path ({header}): {response:?}");
        }
        match mode {
            Mode::Wrapped => {
                response.expect(200, &what);
                assert_eq!(
                    response.header(INNER_MARKER),
                    Some("1"),
                    "{what}: the inner service must answer: {response:?}"
                );
                assert_eq!(response.text(), echo, "{what}: the inner service must see the request untouched");
            }
            Mode::Standalone => {
                response.expect(404, &what);
                assert!(!response.has(INNER_MARKER), "{what}: {response:?}");
            }
        }
    }
    // The base path itself belongs to tus in both modes.
    let response = t.request(Method::GET, "/files").send().await;
    assert_eq!(response.header("tus-resumable"), Some("1.0.0"), "GET /files is tus's: {response:?}");
    assert!(!response.has(INNER_MARKER), "{response:?}");
    let response = t.post().header("upload-length", "1").send().await;
    response.expect(201, "POST /files");
    assert!(!response.has(INNER_MARKER), "{response:?}");
}
