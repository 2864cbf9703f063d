//! The receiver's answer to a blocking event: accept, reject, or change the new upload.

use crate::event::EventKind;
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use tus_core::{HookRejection, UploadId};

/// The largest reply read from a receiver; a bigger one is refused, so memory stays bounded.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A receiver's decision on a blocking event. An empty reply accepts.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Reply {
    /// Refuse the request with this status, message and headers.
    pub reject: Option<HookRejection>,
    /// On `pre-create`: the ID the upload gets.
    pub id: Option<UploadId>,
    /// On `pre-create`: metadata changes; `None` removes the key.
    pub metadata: BTreeMap<String, Option<String>>,
}

/// Why a reply was refused (the request then fails with 502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidReply(String);

impl fmt::Display for InvalidReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid hook reply: {}", self.0)
    }
}

impl std::error::Error for InvalidReply {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireReply {
    #[serde(default)]
    reject: Option<WireRejection>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, Option<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRejection {
    status: u16,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl Reply {
    /// Accepts.
    pub fn accept() -> Self {
        Self::default()
    }

    /// Parses a reply body: empty or whitespace accepts; otherwise the JSON of the README.
    /// Fields a strict parser would miss (a typo in `reject`) are errors, not silent accepts.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidReply> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::accept());
        }
        let wire: WireReply = serde_json::from_slice(body).map_err(|e| InvalidReply(e.to_string()))?;
        let reject = wire.reject.map(WireRejection::into_rejection).transpose()?;
        let id = wire.id.map(|id| UploadId::new(&id).map_err(|e| InvalidReply(e.to_string()))).transpose()?;
        for key in wire.metadata.keys() {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                return Err(InvalidReply(format!(
                    "metadata key {key:?} is empty or has a space, comma or control character"
                )));
            }
        }
        Ok(Self { reject, id, metadata: wire.metadata })
    }

    /// Parses the reply to `kind`: only blocking events have a decision, so the body of a
    /// notification's reply is ignored.
    pub fn for_event(kind: EventKind, body: &[u8]) -> Result<Self, InvalidReply> {
        if kind.is_blocking() { Self::parse(body) } else { Ok(Self::accept()) }
    }
}

impl WireRejection {
    fn into_rejection(self) -> Result<HookRejection, InvalidReply> {
        let status = StatusCode::from_u16(self.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .ok_or_else(|| InvalidReply(format!("reject status {} is not 4xx or 5xx", self.status)))?;
        let message = self.message.unwrap_or_else(|| "refused by a hook".to_owned());
        let mut rejection = HookRejection::new(status, message);
        for (name, value) in self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| InvalidReply(format!("{name:?} is not a header name")))?;
            let value =
                HeaderValue::from_str(&value).map_err(|_| InvalidReply(format!("the value of {name} is not valid")))?;
            rejection = rejection.with_header(name, value);
        }
        Ok(rejection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_replies_accept() {
        for body in [&b""[..], b"  \n", b"{}"] {
            let reply = Reply::parse(body).unwrap();
            assert!(reply.reject.is_none() && reply.id.is_none() && reply.metadata.is_empty());
        }
    }

    #[test]
    fn rejections_carry_status_message_and_headers() {
        let reply =
            Reply::parse(br#"{"reject":{"status":403,"message":"quota","headers":{"Retry-After":"60"}}}"#).unwrap();
        let rejection = reply.reject.unwrap();
        assert_eq!(rejection.status, StatusCode::FORBIDDEN);
        assert_eq!(rejection.message, "quota");
        assert_eq!(rejection.headers["retry-after"], "60");
    }

    #[test]
    fn changes_are_validated() {
        let reply = Reply::parse(br#"{"id":"my-id","metadata":{"owner":"alice","tmp":null}}"#).unwrap();
        assert_eq!(reply.id.unwrap().as_str(), "my-id");
        assert_eq!(reply.metadata["owner"].as_deref(), Some("alice"));
        assert_eq!(reply.metadata["tmp"], None);
        assert!(Reply::parse(br#"{"id":"a/b"}"#).is_err());
        assert!(Reply::parse(br#"{"metadata":{"a b":"x"}}"#).is_err());
        assert!(Reply::parse(br#"{"reject":{"status":200}}"#).is_err());
        assert!(Reply::parse(br#"{"rejcet":{"status":403}}"#).is_err());
        assert!(Reply::parse(b"not json").is_err());
        assert!(Reply::for_event(EventKind::PostFinish, b"not json").is_ok());
    }
}
