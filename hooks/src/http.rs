//! Webhooks: each event is POSTed as JSON to one URL.

use crate::event::EncodedEvent;
use crate::reply::{MAX_REPLY_BYTES, Reply};
use crate::transport::{DeliveryError, Transport};
use async_trait::async_trait;
use std::fmt;
use std::time::Duration;

/// The header naming the event kind, so a receiver can route without parsing the body.
pub const EVENT_HEADER: &str = "tus-hook-event";
/// The header carrying the event ID, the same on every retry: the de-duplication key.
pub const EVENT_ID_HEADER: &str = "tus-hook-event-id";

/// How long connecting may take; the whole attempt is limited by the hooks' timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// POSTs events to a URL (`--hooks-http`).
///
/// 2xx is a delivery, and for blocking events its body is the decision (see the README);
/// 5xx, 408, 429 and network errors are retried; other statuses (redirects included) are
/// not. Replies over 64 KiB are refused.
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold credentials; show only where it points.
        f.debug_struct("HttpTransport").field("host", &self.url.host_str()).finish_non_exhaustive()
    }
}

/// A hook setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHookConfig(pub(crate) String);

impl fmt::Display for InvalidHookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidHookConfig {}

impl HttpTransport {
    /// A transport POSTing to `url` (`http://`, or `https://` with the `rustls` feature).
    pub fn new(url: &str) -> Result<Self, InvalidHookConfig> {
        let url = reqwest::Url::parse(url.trim())
            .map_err(|e| InvalidHookConfig(format!("the hook URL {url:?} is not a URL: {e}")))?;
        match url.scheme() {
            "http" => {}
            "https" if cfg!(feature = "rustls") => {}
            "https" => return Err(InvalidHookConfig("https:// hook URLs need the `rustls` feature".into())),
            other => return Err(InvalidHookConfig(format!("the hook URL's scheme {other:?} is not http or https"))),
        }
        let builder = reqwest::Client::builder()
            .user_agent(concat!("tus-hooks/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirected POST would turn into a GET; the operator should fix the URL instead.
            .redirect(reqwest::redirect::Policy::none());
        #[cfg(feature = "rustls")]
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Another thread may win the race; either provider is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = builder.build().map_err(|e| InvalidHookConfig(format!("cannot build the webhook client: {e}")))?;
        Ok(Self { client, url })
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn deliver(&self, event: &EncodedEvent) -> Result<Reply, DeliveryError> {
        let response = self
            .client
            .post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event.kind.name())
            .header(EVENT_ID_HEADER, event.id.as_str())
            .body(event.json.clone())
            .send()
            .await
            // Without the URL: it may carry credentials, and the logs should not.
            .map_err(|e| DeliveryError::Transient(format!("the webhook request failed: {}", e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            let why = format!("the webhook answered {status}");
            let retry = status.is_server_error()
                || status == http::StatusCode::REQUEST_TIMEOUT
                || status == http::StatusCode::TOO_MANY_REQUESTS;
            return Err(if retry { DeliveryError::Transient(why) } else { DeliveryError::Permanent(why) });
        }
        if !event.kind.is_blocking() {
            return Ok(Reply::accept());
        }
        let body = read_capped(response).await?;
        Reply::for_event(event.kind, &body).map_err(|e| DeliveryError::Permanent(e.to_string()))
    }
}

/// Reads a reply body chunk by chunk, refusing it past [`MAX_REPLY_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, DeliveryError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| DeliveryError::Transient(format!("reading the webhook reply failed: {}", e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(DeliveryError::Permanent(format!("the webhook reply is over {MAX_REPLY_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
