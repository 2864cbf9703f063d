//! Configuration types used by [`TusLayer`](crate::TusLayer)'s builder methods.

use crate::checksum::ChecksumAlgorithm;
use crate::id::{IdGenerator, RandomIds};
use http::{HeaderName, HeaderValue};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A tus protocol extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Extension {
    /// `creation`: POST creates uploads.
    Creation,
    /// `creation-with-upload`: the creating POST may carry data.
    CreationWithUpload,
    /// `creation-defer-length`: the length may be declared later.
    CreationDeferLength,
    /// `expiration`: unfinished uploads expire (needs [`Expiration`] to be set).
    Expiration,
    /// `checksum`: `Upload-Checksum` on PATCH.
    Checksum,
    /// `checksum-trailer`: `Upload-Checksum` as an HTTP trailer.
    ChecksumTrailer,
    /// `termination`: DELETE removes uploads.
    Termination,
    /// `concatenation`: partial uploads merged into a final one.
    Concatenation,
    /// `concatenation-unfinished`: finals may name partials that are still uploading.
    ConcatenationUnfinished,
}

impl Extension {
    /// Every extension, in the order they are advertised.
    pub const ALL: [Self; 9] = [
        Self::Creation,
        Self::CreationWithUpload,
        Self::CreationDeferLength,
        Self::Expiration,
        Self::Checksum,
        Self::ChecksumTrailer,
        Self::Termination,
        Self::Concatenation,
        Self::ConcatenationUnfinished,
    ];

    /// The name used in `Tus-Extension`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Creation => "creation",
            Self::CreationWithUpload => "creation-with-upload",
            Self::CreationDeferLength => "creation-defer-length",
            Self::Expiration => "expiration",
            Self::Checksum => "checksum",
            Self::ChecksumTrailer => "checksum-trailer",
            Self::Termination => "termination",
            Self::Concatenation => "concatenation",
            Self::ConcatenationUnfinished => "concatenation-unfinished",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Extension {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|e| e.name() == s).ok_or_else(|| format!("unknown tus extension {s:?}"))
    }
}

/// A set of extensions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExtensionSet(u16);

impl ExtensionSet {
    pub(crate) fn all() -> Self {
        Self(Extension::ALL.iter().fold(0, |bits, e| bits | e.bit()))
    }
    pub(crate) fn contains(self, e: Extension) -> bool {
        self.0 & e.bit() != 0
    }
    pub(crate) fn set(&mut self, e: Extension, on: bool) {
        if on {
            self.0 |= e.bit();
        } else {
            self.0 &= !e.bit();
        }
    }
    pub(crate) fn iter(self) -> impl Iterator<Item = Extension> {
        Extension::ALL.into_iter().filter(move |e| self.contains(*e))
    }
}

impl fmt::Debug for ExtensionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// When unfinished uploads expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiration {
    /// How long after creation (absolute) or after the last PATCH (sliding).
    pub after: Duration,
    /// Whether each PATCH moves the expiry forward.
    pub sliding: bool,
}

impl Expiration {
    /// Expire `after` the upload was created, however active it is.
    pub fn absolute(after: Duration) -> Self {
        Self { after, sliding: false }
    }

    /// Expire `after` the last PATCH.
    pub fn sliding(after: Duration) -> Self {
        Self { after, sliding: true }
    }
}

/// Which origins may make cross-origin requests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedOrigins {
    /// Any origin (the request's `Origin` is echoed, so credentials work too).
    Any,
    /// Exactly these origins, e.g. `https://app.example`.
    List(Vec<HeaderValue>),
}

/// Cross-origin resource sharing for browser clients.
///
/// CORS headers go on every tus response, errors included. Switch it off with
/// [`TusLayer::no_cors`](crate::TusLayer::no_cors) when the host application does CORS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Cors {
    pub(crate) origins: AllowedOrigins,
    pub(crate) credentials: bool,
    pub(crate) extra_allow_headers: Vec<HeaderName>,
    pub(crate) extra_expose_headers: Vec<HeaderName>,
    pub(crate) max_age: Duration,
}

impl Default for Cors {
    fn default() -> Self {
        Self::any()
    }
}

impl Cors {
    /// Allow any origin.
    pub fn any() -> Self {
        Self {
            origins: AllowedOrigins::Any,
            credentials: false,
            extra_allow_headers: Vec::new(),
            extra_expose_headers: Vec::new(),
            max_age: Duration::from_secs(86_400),
        }
    }

    /// Allow exactly these origins. Values that are not valid header values are skipped.
    pub fn origins<I, T>(origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let list =
            origins.into_iter().filter_map(|o| HeaderValue::from_str(o.as_ref().trim_end_matches('/')).ok()).collect();
        Self { origins: AllowedOrigins::List(list), ..Self::any() }
    }

    /// Allow cookies and HTTP authentication on cross-origin requests.
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// Allow one more request header in preflights.
    pub fn allow_header(mut self, name: HeaderName) -> Self {
        self.extra_allow_headers.push(name);
        self
    }

    /// Expose one more response header to scripts.
    pub fn expose_header(mut self, name: HeaderName) -> Self {
        self.extra_expose_headers.push(name);
        self
    }

    /// How long browsers may cache a preflight answer.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    pub(crate) fn allows(&self, origin: &HeaderValue) -> bool {
        match &self.origins {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) => list.iter().any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())),
        }
    }
}

/// Where `X-HTTP-Method-Override` is honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MethodOverride {
    /// On any method, as the spec says ("the actual method MUST be ignored").
    #[default]
    AnyMethod,
    /// Only on POST (tusd's behaviour).
    PostOnly,
    /// Never.
    Off,
}

/// Everything the service needs to know, built by the layer's builder methods.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) base_path: String,
    pub(crate) max_size: Option<u64>,
    pub(crate) max_metadata_size: usize,
    pub(crate) extensions: ExtensionSet,
    pub(crate) checksum_algorithms: Vec<ChecksumAlgorithm>,
    pub(crate) expiration: Option<Expiration>,
    pub(crate) janitor_interval: Duration,
    pub(crate) cors: Option<Cors>,
    pub(crate) public_url: Option<String>,
    pub(crate) trust_proxy: bool,
    pub(crate) id_generator: Arc<dyn IdGenerator>,
    pub(crate) download: bool,
    pub(crate) lock_timeout: Duration,
    pub(crate) body_idle_timeout: Duration,
    pub(crate) method_override: MethodOverride,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_path: "/files".into(),
            max_size: None,
            max_metadata_size: 16 * 1024,
            extensions: ExtensionSet::all(),
            checksum_algorithms: ChecksumAlgorithm::ALL.to_vec(),
            expiration: None,
            janitor_interval: Duration::from_secs(60),
            cors: Some(Cors::any()),
            public_url: None,
            trust_proxy: false,
            id_generator: Arc::new(RandomIds),
            download: true,
            lock_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(60),
            method_override: MethodOverride::AnyMethod,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_path", &self.base_path)
            .field("max_size", &self.max_size)
            .field("max_metadata_size", &self.max_metadata_size)
            .field("extensions", &self.extensions)
            .field("checksum_algorithms", &self.checksum_algorithms)
            .field("expiration", &self.expiration)
            .field("cors", &self.cors)
            .field("public_url", &self.public_url)
            .field("trust_proxy", &self.trust_proxy)
            .field("download", &self.download)
            .field("lock_timeout", &self.lock_timeout)
            .field("body_idle_timeout", &self.body_idle_timeout)
            .field("method_override", &self.method_override)
            .finish_non_exhaustive()
    }
}

/// Normalises a base path: one leading `/`, no trailing `/`.
pub(crate) fn normalize_base_path(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") }
}
