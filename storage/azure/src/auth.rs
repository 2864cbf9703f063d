//! Shared Key authorisation: the official `azure_storage_blob` crate authenticates only with
//! Entra ID tokens, while connection strings (and Azurite) carry an account key. This
//! per-try pipeline policy signs each request (and each retry, with a fresh date) the way
//! the Blob service's Shared Key scheme specifies, and [`sas_for_blob`] makes the read-only
//! service SAS that Put Block From URL presents for its source.

use async_trait::async_trait;
use azure_core::http::headers::{HeaderName, HeaderValue};
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The storage service version the SAS tokens are signed for.
const SAS_VERSION: &str = "2020-12-06";

/// An account name and its decoded key.
#[derive(Clone)]
pub(crate) struct SharedKey {
    account: String,
    key: Vec<u8>,
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKey").field("account", &self.account).finish_non_exhaustive()
    }
}

impl SharedKey {
    /// `key` is the base64 account key of a connection string.
    pub(crate) fn new(account: &str, key: &str) -> Result<Self, String> {
        let key = BASE64.decode(key.trim()).map_err(|e| format!("the AccountKey is not base64: {e}"))?;
        Ok(Self { account: account.to_owned(), key })
    }

    fn sign(&self, text: &str) -> String {
        // HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(text.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }
}

/// The pipeline policy that adds `x-ms-date` and `Authorization: SharedKey …`.
#[derive(Debug, Clone)]
pub(crate) struct SharedKeyPolicy {
    key: Arc<SharedKey>,
}

impl SharedKeyPolicy {
    pub(crate) fn new(key: Arc<SharedKey>) -> Self {
        Self { key }
    }
}

#[async_trait]
impl Policy for SharedKeyPolicy {
    // The trait's own signature elides the context's lifetime.
    #[allow(elided_lifetimes_in_paths)]
    async fn send(&self, ctx: &Context, request: &mut Request, next: &[Arc<dyn Policy>]) -> PolicyResult {
        request.insert_header("x-ms-date", httpdate::fmt_http_date(SystemTime::now()));
        let text = string_to_sign(&self.key.account, request);
        let signature = self.key.sign(&text);
        request.insert_header("authorization", format!("SharedKey {}:{signature}", self.key.account));
        next[0].send(ctx, request, &next[1..]).await
    }
}

fn header<'a>(request: &'a Request, name: &'static str) -> &'a str {
    request.headers().get_optional_str(&HeaderName::from_static(name)).unwrap_or("")
}

/// The Shared Key string-to-sign of the Blob service (versions since 2015-02-21).
fn string_to_sign(account: &str, request: &Request) -> String {
    let length = match header(request, "content-length") {
        "" => request.body().len().unwrap_or(0).to_string(),
        given => given.to_owned(),
    };
    // An empty body signs as an empty length, not "0".
    let length = if length == "0" { String::new() } else { length };
    let mut text = format!("{}\n", request.method().as_ref().to_ascii_uppercase());
    for name in ["content-encoding", "content-language"] {
        text.push_str(header(request, name));
        text.push('\n');
    }
    text.push_str(&length);
    text.push('\n');
    for name in [
        "content-md5",
        "content-type",
        "date",
        "if-modified-since",
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "range",
    ] {
        text.push_str(header(request, name));
        text.push('\n');
    }
    let mut ms_headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ms-"))
        .map(|(name, value): (&HeaderName, &HeaderValue)| (name.as_str().to_owned(), value.as_str().trim().to_owned()))
        .collect();
    ms_headers.sort();
    for (name, value) in ms_headers {
        text.push_str(&format!("{name}:{value}\n"));
    }
    text.push_str(&format!("/{account}{}", request.url().path()));
    let mut query: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in request.url().query_pairs() {
        let name = name.to_lowercase();
        match query.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value.into_owned()),
            None => query.push((name, vec![value.into_owned()])),
        }
    }
    query.sort();
    for (name, mut values) in query {
        values.sort();
        text.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    text
}

/// A read-only service SAS (query string, no leading `?`) for the blob `blob` of
/// `container`, valid for `ttl` (and from 5 minutes ago, for clock skew).
pub(crate) fn sas_for_blob(key: &SharedKey, container: &str, blob: &str, ttl: Duration) -> String {
    let now = SystemTime::now();
    let start = iso8601(now - Duration::from_secs(300));
    let expiry = iso8601(now + ttl);
    let resource = format!("/blob/{}/{container}/{blob}", key.account);
    // sp, st, se, canonicalizedResource, si, sip, spr, sv, sr, snapshot time,
    // encryption scope, rscc, rscd, rsce, rscl, rsct.
    let text = format!("r\n{start}\n{expiry}\n{resource}\n\n\n\n{SAS_VERSION}\nb\n\n\n\n\n\n\n");
    let signature = key.sign(&text);
    let encode = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!("sv={SAS_VERSION}&st={}&se={}&sr=b&sp=r&sig={}", encode(&start), encode(&expiry), encode(&signature))
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC.
fn iso8601(time: SystemTime) -> String {
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(iso8601(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_210_096)), "2024-02-29T12:34:56Z");
    }
}
