//! The event a transport delivers: what happened, to which upload, under a stable ID.

use bytes::Bytes;
use http::request::Parts;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;
use tus_core::{Concat, CreatePlan, Intent, Metadata, UploadInfo};

/// The version of the event and reply JSON; bumped only for incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// The kinds of hook events, named in JSON and on the command line in kebab case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EventKind {
    /// Any tus request is about to run (blocking; carries the intent).
    Authorize,
    /// An upload is about to be created (blocking; may change its ID and metadata).
    PreCreate,
    /// An upload was created.
    PostCreate,
    /// A request stored data (one event per request, not per chunk).
    PostReceive,
    /// An upload is complete (once per upload, never for partial uploads).
    PostFinish,
    /// An upload is about to be terminated (blocking).
    PreTerminate,
    /// An upload was terminated.
    PostTerminate,
}

impl EventKind {
    /// Every kind, in the order of an upload's life.
    pub const ALL: [EventKind; 7] = [
        Self::Authorize,
        Self::PreCreate,
        Self::PostCreate,
        Self::PostReceive,
        Self::PostFinish,
        Self::PreTerminate,
        Self::PostTerminate,
    ];

    /// The kebab-case name, e.g. `post-finish`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::PreCreate => "pre-create",
            Self::PostCreate => "post-create",
            Self::PostReceive => "post-receive",
            Self::PostFinish => "post-finish",
            Self::PreTerminate => "pre-terminate",
            Self::PostTerminate => "post-terminate",
        }
    }

    /// Whether the request waits for the receiver's decision.
    pub fn is_blocking(self) -> bool {
        matches!(self, Self::Authorize | Self::PreCreate | Self::PreTerminate)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an [`EventKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent(String);

impl fmt::Display for UnknownEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
        write!(f, "unknown hook event {:?} (known: {}, or all)", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownEvent {}

impl FromStr for EventKind {
    type Err = UnknownEvent;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Self::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(name)).ok_or_else(|| UnknownEvent(name.into()))
    }
}

/// The set of event kinds a transport receives (`--hooks-enabled-events`).
///
/// The default leaves out `authorize` (it fires on every request, HEAD and PATCH included)
/// and `post-receive` (one per PATCH): enable them when the receiver needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnabledEvents(u8);

impl EnabledEvents {
    /// No events.
    pub const fn none() -> Self {
        Self(0)
    }

    /// Every event.
    pub fn all() -> Self {
        EventKind::ALL.into_iter().collect()
    }

    /// Adds `kind`.
    pub fn with(self, kind: EventKind) -> Self {
        Self(self.0 | kind.bit())
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

impl Default for EnabledEvents {
    fn default() -> Self {
        [
            EventKind::PreCreate,
            EventKind::PostCreate,
            EventKind::PostFinish,
            EventKind::PreTerminate,
            EventKind::PostTerminate,
        ]
        .into_iter()
        .collect()
    }
}

impl FromIterator<EventKind> for EnabledEvents {
    fn from_iter<I: IntoIterator<Item = EventKind>>(iter: I) -> Self {
        iter.into_iter().fold(Self::none(), Self::with)
    }
}

impl FromStr for EnabledEvents {
    type Err = UnknownEvent;
    /// A comma-separated list of event names, `all`, or an empty string for none.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = Self::none();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            set = if name.eq_ignore_ascii_case("all") { Self::all() } else { set.with(name.parse()?) };
        }
        Ok(set)
    }
}

impl fmt::Display for EnabledEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = EventKind::ALL.into_iter().filter(|k| self.contains(*k)).map(EventKind::name).collect();
        f.write_str(&names.join(","))
    }
}

/// One hook event, as serialized to JSON for a receiver. See the crate's README for the schema.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct HookEvent {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// A random 128-bit ID in UUID v4 form; every retry of this event carries the same one.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// When the event was made, RFC 3339 in UTC.
    pub timestamp: String,
    /// The upload; `null` for `authorize` on requests without one (OPTIONS, POST).
    pub upload: Option<UploadState>,
    /// The request, on blocking events only (notifications run after it is answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestInfo>,
    /// On `authorize`: what the request intends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<&'static str>,
}

impl HookEvent {
    /// A new event with a fresh ID and the current time.
    pub fn new(kind: EventKind, upload: Option<UploadState>) -> Self {
        Self {
            version: SCHEMA_VERSION,
            id: new_event_id(),
            kind,
            timestamp: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            upload,
            request: None,
            intent: None,
        }
    }

    /// Attaches the request.
    pub fn with_request(mut self, request: &Parts) -> Self {
        self.request = Some(RequestInfo::from_parts(request));
        self
    }

    /// Attaches an `authorize` intent.
    pub fn with_intent(mut self, intent: Intent) -> Self {
        self.intent = Some(intent_name(intent));
        self
    }

    /// Serializes the event once, so that every retry sends the same bytes.
    pub fn encode(&self) -> EncodedEvent {
        // Serializing plain strings, numbers and maps cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        EncodedEvent { id: self.id.clone(), kind: self.kind, json: Bytes::from(json) }
    }
}

/// An event ready for delivery: its ID, kind and JSON body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EncodedEvent {
    /// The event's ID.
    pub id: String,
    /// The event's kind.
    pub kind: EventKind,
    /// The event as JSON.
    pub json: Bytes,
}

/// An upload's state as an event shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UploadState {
    /// The upload's ID; `null` on `pre-create` unless another hook chose one.
    pub id: Option<String>,
    /// The bytes stored.
    pub offset: u64,
    /// The total length; `null` while deferred.
    pub length: Option<u64>,
    /// The metadata, values as UTF-8 text (bytes that are not UTF-8 become U+FFFD).
    pub metadata: BTreeMap<String, String>,
    /// Whether this is a partial upload of a concatenation.
    pub partial: bool,
    /// Whether this is the final upload of a concatenation.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// For a final upload, the IDs of its partial uploads in order; empty otherwise.
    pub parts: Vec<String>,
    /// When the upload was created (RFC 3339); `null` on `pre-create`.
    pub created_at: Option<String>,
    /// When an unfinished upload expires (RFC 3339), if it does.
    pub expires_at: Option<String>,
}

impl UploadState {
    /// The committed state of an upload.
    pub fn from_info(info: &UploadInfo) -> Self {
        let (partial, is_final, parts) = concat_fields(info.concat.as_ref());
        Self {
            id: Some(info.id.to_string()),
            offset: info.offset,
            length: info.length,
            metadata: metadata_map(&info.metadata),
            partial,
            is_final,
            parts,
            created_at: Some(rfc3339(info.created_at)),
            expires_at: info.expires_at.map(rfc3339),
        }
    }

    /// The upload a POST is about to create.
    pub fn from_plan(plan: &CreatePlan) -> Self {
        let (partial, is_final, parts) = concat_fields(plan.concat.as_ref());
        Self {
            id: plan.id.as_ref().map(ToString::to_string),
            offset: 0,
            length: plan.length,
            metadata: metadata_map(&plan.metadata),
            partial,
            is_final,
            parts,
            created_at: None,
            expires_at: None,
        }
    }
}

/// The request behind a blocking event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target as received, e.g. `/files/abc?x=1`.
    pub uri: String,
    /// Every request header (lower-case names, values in order). Credentials included:
    /// an `authorize` receiver needs them, so the receiver must be trusted.
    pub headers: BTreeMap<String, Vec<String>>,
}

impl RequestInfo {
    /// Copies what a receiver needs out of `parts`.
    pub fn from_parts(parts: &Parts) -> Self {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers.entry(name.as_str().to_owned()).or_default().push(value);
        }
        Self { method: parts.method.to_string(), uri: parts.uri.to_string(), headers }
    }
}

fn concat_fields(concat: Option<&Concat>) -> (bool, bool, Vec<String>) {
    match concat {
        Some(Concat::Partial) => (true, false, Vec::new()),
        Some(Concat::Final(ids)) => (false, true, ids.iter().map(ToString::to_string).collect()),
        _ => (false, false, Vec::new()),
    }
}

fn metadata_map(metadata: &Metadata) -> BTreeMap<String, String> {
    metadata.iter().map(|(k, v)| (k.to_owned(), String::from_utf8_lossy(v).into_owned())).collect()
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

fn intent_name(intent: Intent) -> &'static str {
    match intent {
        Intent::Discover => "discover",
        Intent::Create => "create",
        Intent::ReadOffset => "read-offset",
        Intent::Append => "append",
        Intent::Download => "download",
        Intent::Terminate => "terminate",
        _ => "other",
    }
}

/// 128 random bits as a UUID v4 string.
fn new_event_id() -> String {
    let mut bytes = random_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

pub(crate) fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    // The OS RNG failing means the machine is unusable; there is no safe fallback.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists_parse() {
        let set: EnabledEvents = "post-finish, pre-create".parse().unwrap();
        assert!(set.contains(EventKind::PostFinish) && set.contains(EventKind::PreCreate));
        assert!(!set.contains(EventKind::PostReceive));
        assert_eq!(set.to_string(), "pre-create,post-finish");
        assert_eq!("all".parse::<EnabledEvents>().unwrap(), EnabledEvents::all());
        assert_eq!("".parse::<EnabledEvents>().unwrap(), EnabledEvents::none());
        assert!("post-finnish".parse::<EnabledEvents>().is_err());
        let default = EnabledEvents::default();
        assert!(!default.contains(EventKind::Authorize) && !default.contains(EventKind::PostReceive));
        assert_eq!(default.to_string().parse::<EnabledEvents>().unwrap(), default);
    }

    #[test]
    fn event_ids_are_uuid_v4_and_unique() {
        let a = new_event_id();
        let b = new_event_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn events_serialize_to_the_documented_shape() {
        let mut info = UploadInfo::new("abc".parse().unwrap());
        info.length = Some(5);
        info.offset = 5;
        info.metadata.insert("filename", "a.txt");
        let event = HookEvent::new(EventKind::PostFinish, Some(UploadState::from_info(&info)));
        let json: serde_json::Value = serde_json::from_slice(&event.encode().json).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["type"], "post-finish");
        assert_eq!(json["id"], event.id);
        assert_eq!(json["upload"]["id"], "abc");
        assert_eq!(json["upload"]["offset"], 5);
        assert_eq!(json["upload"]["metadata"]["filename"], "a.txt");
        assert_eq!(json["upload"]["final"], false);
        assert!(json.get("request").is_none() && json.get("intent").is_none());
    }
}
