//! Access tokens for the JSON API.

use crate::error::GcsError;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How requests are authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcsAuth {
    /// No `Authorization` header: for emulators (`STORAGE_EMULATOR_HOST`).
    Anonymous,
    /// A fixed OAuth 2 access token, e.g. from `gcloud auth print-access-token`
    /// (they last an hour; for long-running servers prefer [`GcsAuth::MetadataServer`]).
    Token(String),
    /// Tokens of the attached service account from the metadata server of Compute Engine,
    /// GKE, Cloud Run and Cloud Functions, renewed before they expire.
    MetadataServer,
}

/// The metadata server's token endpoint (fixed by Google, link-local).
const METADATA_TOKEN_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";

/// Renew a token this long before it expires.
const RENEW_MARGIN: Duration = Duration::from_secs(120);

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// Hands out the `Authorization` header value for each request.
#[derive(Debug, Clone)]
pub(crate) struct Authorizer {
    auth: GcsAuth,
    cached: Arc<Mutex<Option<(String, Instant)>>>,
}

impl Authorizer {
    pub(crate) fn new(auth: GcsAuth) -> Self {
        Self { auth, cached: Arc::default() }
    }

    /// The header value, or `None` for anonymous requests.
    pub(crate) async fn header(&self, http: &reqwest::Client) -> Result<Option<String>, GcsError> {
        match &self.auth {
            GcsAuth::Anonymous => Ok(None),
            GcsAuth::Token(token) => Ok(Some(format!("Bearer {token}"))),
            GcsAuth::MetadataServer => {
                let mut cached = self.cached.lock().await;
                if let Some((token, valid_until)) = cached.as_ref()
                    && Instant::now() < *valid_until
                {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let answer = http
                    .get(METADATA_TOKEN_URL)
                    .header("Metadata-Flavor", "Google")
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .map_err(|e| GcsError::Auth(format!("the metadata server does not answer: {e}")))?;
                if !answer.status().is_success() {
                    return Err(GcsError::Auth(format!("the metadata server answered {}", answer.status())));
                }
                let body = answer.bytes().await.map_err(|e| GcsError::Auth(e.to_string()))?;
                let token: TokenAnswer = serde_json::from_slice(&body)
                    .map_err(|e| GcsError::Auth(format!("unexpected token answer: {e}")))?;
                let lifetime = Duration::from_secs(token.expires_in).saturating_sub(RENEW_MARGIN);
                let header = format!("Bearer {}", token.access_token);
                *cached = Some((token.access_token, Instant::now() + lifetime));
                Ok(Some(header))
            }
        }
    }
}
