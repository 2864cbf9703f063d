//! What the example apps (`axum-app`, `actix-app`, `warp-app`) share, so that each app is only
//! its framework's routing:
//!
//! - [`Settings`]: `LISTEN_ADDR`, `DATA_DIR` and `API_TOKEN` from the environment.
//! - [`Auth`]: the `Authorization: Bearer <API_TOKEN>` check (401 without a token, 403 with a
//!   wrong one), for tus requests (through [`AppHooks::authorize`]) and the app's own routes.
//! - [`FinishedUploads`]: the app's own record of finished uploads, filled by
//!   [`AppHooks::post_finish`].
//! - [`AppState::open`]: all of it, plus the [`TusLayer`] over SQLite storage in `DATA_DIR`.
//!
//! ```
//! use tus_example_common::{AppState, Settings};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile_dir();
//! let settings = Settings { data_dir: dir.clone(), ..Settings::default() };
//! let app = AppState::open(&settings)?;
//! assert!(app.auth.check(None).is_ok(), "no API_TOKEN: every request is accepted");
//! assert!(app.uploads.list().is_empty());
//! let layer = app.layer.clone().base_path("/files");
//! # let _ = layer;
//! # std::fs::remove_dir_all(dir)?;
//! # Ok(())
//! # }
//! # fn tempfile_dir() -> std::path::PathBuf {
//! #     std::env::temp_dir().join(format!("tus-example-common-doc-{}", std::process::id()))
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use async_trait::async_trait;
use http::request::Parts;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use tus_core::{HookRejection, Hooks, Intent, StorageError, TusLayer, UploadInfo};
use tus_sqlite::SqliteStorage;

/// The app's configuration, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `LISTEN_ADDR` (default `127.0.0.1:3000`; port 0 picks a free port).
    pub listen_addr: String,
    /// `DATA_DIR` (default `./data`): the SQLite database and the uploaded bytes.
    pub data_dir: PathBuf,
    /// `API_TOKEN`: the bearer token every request must carry; unset or empty accepts all.
    pub api_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { listen_addr: "127.0.0.1:3000".into(), data_dir: PathBuf::from("./data"), api_token: None }
    }
}

impl Settings {
    /// Reads `LISTEN_ADDR`, `DATA_DIR` and `API_TOKEN`; unset variables take the defaults.
    ///
    /// ```
    /// let settings = tus_example_common::Settings::from_env();
    /// assert!(!settings.listen_addr.is_empty());
    /// ```
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let defaults = Self::default();
        Self {
            listen_addr: var("LISTEN_ADDR").unwrap_or(defaults.listen_addr),
            data_dir: var("DATA_DIR").map_or(defaults.data_dir, PathBuf::from),
            api_token: var("API_TOKEN"),
        }
    }

    /// Prints the bound address on stdout (`listening on http://ADDR`, the line tests wait
    /// for) and, on stderr, whether requests need a token.
    pub fn announce(&self, framework: &str, addr: SocketAddr) {
        use std::io::Write as _;
        match &self.api_token {
            Some(_) => {
                eprintln!("{framework} example: tus requests and /api/uploads need `Authorization: Bearer $API_TOKEN`")
            }
            None => eprintln!("{framework} example: API_TOKEN is not set, so every request is accepted"),
        }
        eprintln!("{framework} example: uploads are stored in {}", self.data_dir.display());
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on http://{addr}");
        let _ = stdout.flush();
    }
}

/// Why [`Auth::check`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No bearer token (401).
    Missing,
    /// A token that is not the app's (403).
    Wrong,
}

impl Denied {
    /// The HTTP status: 401 or 403.
    pub fn status(self) -> u16 {
        match self {
            Self::Missing => 401,
            Self::Wrong => 403,
        }
    }

    /// A short message for the response body.
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "missing bearer token",
            Self::Wrong => "invalid bearer token",
        }
    }

    /// The JSON body the app's routes answer with: `{"error": "..."}`.
    pub fn json(self) -> serde_json::Value {
        error_json(self.message())
    }
}

/// The JSON body of an error: `{"error": message}`.
pub fn error_json(message: &str) -> serde_json::Value {
    serde_json::json!({ "error": message })
}

/// The bearer-token check.
///
/// ```
/// use tus_example_common::{Auth, Denied};
///
/// let auth = Auth::new(Some("s3cret".into()));
/// assert_eq!(auth.check(None), Err(Denied::Missing));
/// assert_eq!(auth.check(Some(b"Bearer nope")), Err(Denied::Wrong));
/// assert_eq!(auth.check(Some(b"bearer s3cret")), Ok(()));
/// assert_eq!(Auth::new(None).check(None), Ok(()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Auth {
    token: Option<Arc<str>>,
}

impl Auth {
    /// Checks for `token`; `None` accepts every request.
    pub fn new(token: Option<String>) -> Self {
        Self { token: token.map(Into::into) }
    }

    /// Checks the raw value of an `Authorization` header (`None` when absent).
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), Denied> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let given = authorization.and_then(bearer).ok_or(Denied::Missing)?;
        if constant_time_eq(given, expected.as_bytes()) { Ok(()) } else { Err(Denied::Wrong) }
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let (scheme, token) = header.split_at_checked(6)?;
    let token = token.strip_prefix(b" ")?.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

/// Compares without stopping at the first difference, so timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One finished upload, as the app's JSON routes show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadSummary {
    /// The upload ID (the last segment of its URL).
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
    /// The `filename` metadata, if the client sent it.
    pub filename: Option<String>,
}

impl From<&UploadInfo> for UploadSummary {
    fn from(info: &UploadInfo) -> Self {
        Self {
            id: info.id.to_string(),
            size: info.offset,
            filename: info.metadata.get("filename").map(|name| String::from_utf8_lossy(name).into_owned()),
        }
    }
}

/// The finished uploads, in the order they finished (the app's own state, in memory).
#[derive(Debug, Clone, Default)]
pub struct FinishedUploads(Arc<Mutex<Vec<UploadSummary>>>);

impl FinishedUploads {
    /// Records `upload`.
    pub fn record(&self, upload: &UploadInfo) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(upload.into());
    }

    /// Every finished upload so far.
    pub fn list(&self) -> Vec<UploadSummary> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The finished upload `id`, if there is one.
    pub fn get(&self, id: &str) -> Option<UploadSummary> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().find(|u| u.id == id).cloned()
    }
}

/// The tus hooks of the example apps: the bearer check on every tus request, and the record
/// of every finished upload.
#[derive(Debug, Clone)]
pub struct AppHooks {
    /// The bearer check.
    pub auth: Auth,
    /// Where finished uploads are recorded.
    pub uploads: FinishedUploads,
}

#[async_trait]
impl Hooks for AppHooks {
    async fn authorize(
        &self,
        request: &Parts,
        _intent: Intent,
        _upload: Option<&UploadInfo>,
    ) -> Result<(), HookRejection> {
        let header = request.headers.get(http::header::AUTHORIZATION).map(http::HeaderValue::as_bytes);
        self.auth.check(header).map_err(|denied| match denied {
            Denied::Missing => HookRejection::unauthorized(denied.message()),
            Denied::Wrong => HookRejection::forbidden(denied.message()),
        })
    }

    async fn post_finish(&self, upload: &UploadInfo) {
        self.uploads.record(upload);
    }
}

/// Everything an example app serves from: its state and its tus layer.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The bearer check, for the app's own routes.
    pub auth: Auth,
    /// The finished uploads.
    pub uploads: FinishedUploads,
    /// The tus layer (SQLite storage in `DATA_DIR`, [`AppHooks`], base path `/files`).
    pub layer: TusLayer,
}

impl AppState {
    /// Opens the storage in `settings.data_dir` (creating it) and builds the layer.
    pub fn open(settings: &Settings) -> Result<Self, StorageError> {
        let auth = Auth::new(settings.api_token.clone());
        let uploads = FinishedUploads::default();
        let storage = SqliteStorage::open(&settings.data_dir)?;
        let hooks = AppHooks { auth: auth.clone(), uploads: uploads.clone() };
        let layer = TusLayer::new(storage).base_path("/files").hooks(hooks);
        Ok(Self { auth, uploads, layer })
    }

    /// The JSON of `GET /api/health`.
    pub fn health() -> serde_json::Value {
        serde_json::json!({ "status": "ok" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"  BEARER   abc  "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bearerabc"), None);
        assert_eq!(bearer(b"Basic abc"), None);
    }

    #[test]
    fn tokens_compare_by_content_and_length() {
        let auth = Auth::new(Some("token".into()));
        assert_eq!(auth.check(Some(b"Bearer token")), Ok(()));
        assert_eq!(auth.check(Some(b"Bearer token2")), Err(Denied::Wrong));
        assert_eq!(auth.check(Some(b"Bearer tokeN")), Err(Denied::Wrong));
        assert_eq!(auth.check(Some(b"Basic dG9rZW4=")), Err(Denied::Missing));
    }

    #[tokio::test]
    async fn the_hook_answers_401_then_403() {
        let hooks = AppHooks { auth: Auth::new(Some("t".into())), uploads: FinishedUploads::default() };
        let parts = |auth: Option<&str>| {
            let mut request = http::Request::builder().uri("/files");
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            request.body(()).unwrap().into_parts().0
        };
        let status = |r: Result<(), HookRejection>| r.err().map(|r| r.status.as_u16());
        assert_eq!(status(hooks.authorize(&parts(None), Intent::Create, None).await), Some(401));
        assert_eq!(status(hooks.authorize(&parts(Some("Bearer x")), Intent::Create, None).await), Some(403));
        assert_eq!(status(hooks.authorize(&parts(Some("Bearer t")), Intent::Create, None).await), None);
    }
}
