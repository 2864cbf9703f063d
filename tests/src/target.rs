//! [`Target`]: a tus endpoint under test, and [`Profile`]: how its server is configured.

use crate::client::{Endpoint, RawConnection, RequestBuilder};
use http::Method;
use std::collections::BTreeSet;
use std::time::Duration;
use tus_core::{ChecksumAlgorithm, Expiration, Extension, MethodOverride};

/// Which origins the server's CORS configuration allows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CorsProfile {
    /// Any origin (the server's default).
    #[default]
    Any,
    /// Exactly these origins.
    Origins(Vec<String>),
    /// No CORS handling by tus.
    Off,
}

/// A hook's refusal, as configured: the status and message the client must receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The message in the body.
    pub message: String,
}

impl Refusal {
    /// A refusal with `status` and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

/// The hooks a deployment runs. The in-process harness always records every
/// notification in an [`EventLog`](crate::EventLog); these switches add refusals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookProfile {
    /// `authorize` refuses (403) every request that carries the header [`DENY_HEADER`].
    pub deny_header: bool,
    /// `pre_create` refuses every creation.
    pub refuse_create: Option<Refusal>,
    /// `pre_terminate` refuses every termination.
    pub refuse_terminate: Option<Refusal>,
    /// `pre_create` takes the upload ID from the metadata key `id`; when that is not
    /// a valid ID, it refuses with 500 (a configuration error).
    pub id_from_metadata: bool,
}

/// The request header that [`HookProfile::deny_header`] refuses.
pub const DENY_HEADER: &str = "x-conformance-deny";

/// How the server makes upload IDs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IdScheme {
    /// The server's default generator.
    #[default]
    Default,
    /// `<prefix>-1`, `<prefix>-2`, … so that a check knows the next ID in advance.
    Sequential(String),
}

/// What the storage behind a target can do (filled in by the launcher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSupport {
    /// Concatenation of partial uploads.
    pub concatenation: bool,
    /// Finals naming unfinished partials.
    pub concatenation_unfinished: bool,
    /// GET downloads.
    pub download: bool,
}

impl Default for StorageSupport {
    fn default() -> Self {
        Self { concatenation: true, concatenation_unfinished: true, download: true }
    }
}

/// What a target's server was configured with. The defaults are `tus-core`'s defaults.
///
/// A check that needs a special configuration builds a profile and asks a
/// [`Launcher`](crate::Launcher) for a deployment with it; the checks read the
/// profile to know what the server must advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Profile {
    /// The extensions switched on by configuration (the server may still not
    /// advertise those its storage cannot do, see [`Profile::advertised_extensions`]).
    pub extensions: BTreeSet<&'static str>,
    /// `Tus-Max-Size`.
    pub max_size: Option<u64>,
    /// The largest accepted `Upload-Metadata`.
    pub max_metadata_size: usize,
    /// The accepted checksum algorithms.
    pub checksum_algorithms: Vec<ChecksumAlgorithm>,
    /// Expiration of unfinished uploads.
    pub expiration: Option<Expiration>,
    /// How often the janitor sweeps expired uploads.
    pub janitor_interval: Duration,
    /// Whether GET downloads complete uploads.
    pub download: bool,
    /// How long a request waits for an upload's lock.
    pub lock_timeout: Duration,
    /// How long a body may stay silent.
    pub body_idle_timeout: Duration,
    /// Whether `Forwarded` / `X-Forwarded-*` shape `Location`.
    pub trust_proxy: bool,
    /// The configured public URL prefix.
    pub public_url: Option<String>,
    /// CORS.
    pub cors: CorsProfile,
    /// Where `X-HTTP-Method-Override` is honoured.
    pub method_override: MethodOverride,
    /// Hook behaviour.
    pub hooks: HookProfile,
    /// How IDs are made.
    pub ids: IdScheme,
    /// What the storage supports.
    pub storage: StorageSupport,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            extensions: Extension::ALL.iter().map(|e| e.name()).collect(),
            max_size: None,
            max_metadata_size: 16 * 1024,
            checksum_algorithms: ChecksumAlgorithm::ALL.to_vec(),
            expiration: None,
            janitor_interval: Duration::from_secs(60),
            download: true,
            lock_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(60),
            trust_proxy: false,
            public_url: None,
            cors: CorsProfile::Any,
            method_override: MethodOverride::AnyMethod,
            hooks: HookProfile::default(),
            ids: IdScheme::Default,
            storage: StorageSupport::default(),
        }
    }
}

impl Profile {
    /// Switches an extension on or off.
    pub fn extension(mut self, extension: Extension, enabled: bool) -> Self {
        if enabled {
            self.extensions.insert(extension.name());
        } else {
            self.extensions.remove(extension.name());
        }
        self
    }

    /// Sets `Tus-Max-Size`.
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Sets the expiration.
    pub fn expiration(mut self, expiration: Expiration) -> Self {
        self.expiration = Some(expiration);
        self
    }

    /// Sets the lock timeout.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Sets the body idle timeout.
    pub fn body_idle_timeout(mut self, timeout: Duration) -> Self {
        self.body_idle_timeout = timeout;
        self
    }

    /// Uses sequential IDs `<prefix>-1`, `<prefix>-2`, …
    pub fn sequential_ids(mut self, prefix: &str) -> Self {
        self.ids = IdScheme::Sequential(prefix.to_owned());
        self
    }

    /// Changes the hook behaviour.
    pub fn hooks(mut self, hooks: HookProfile) -> Self {
        self.hooks = hooks;
        self
    }

    fn enabled(&self, extension: Extension) -> bool {
        self.extensions.contains(extension.name())
    }

    /// The extensions the server must list in `Tus-Extension`, in no particular order:
    /// those enabled, supported by the storage, and whose prerequisites are listed
    /// (creation for its sub-extensions and concatenation, checksum for the trailer,
    /// an expiry duration for expiration).
    pub fn advertised_extensions(&self) -> BTreeSet<&'static str> {
        let creation = self.enabled(Extension::Creation);
        let checksum = self.enabled(Extension::Checksum) && !self.checksum_algorithms.is_empty();
        let concatenation = creation && self.enabled(Extension::Concatenation) && self.storage.concatenation;
        let listed = [
            (Extension::Creation, creation),
            (Extension::CreationWithUpload, creation && self.enabled(Extension::CreationWithUpload)),
            (Extension::CreationDeferLength, creation && self.enabled(Extension::CreationDeferLength)),
            (Extension::Expiration, self.expiration.is_some() && self.enabled(Extension::Expiration)),
            (Extension::Checksum, checksum),
            // hyper reads HTTP/1.1 trailers, so the transport can carry them.
            (Extension::ChecksumTrailer, checksum && self.enabled(Extension::ChecksumTrailer)),
            (Extension::Termination, self.enabled(Extension::Termination)),
            (Extension::Concatenation, concatenation),
            (
                Extension::ConcatenationUnfinished,
                concatenation
                    && self.storage.concatenation_unfinished
                    && self.enabled(Extension::ConcatenationUnfinished),
            ),
        ];
        listed.into_iter().filter(|(_, on)| *on).map(|(e, _)| e.name()).collect()
    }

    /// Whether `extension` is advertised.
    pub fn advertises(&self, extension: Extension) -> bool {
        self.advertised_extensions().contains(extension.name())
    }
}

/// A tus endpoint: where it is, and what its server was configured with.
#[derive(Debug, Clone)]
pub struct Target {
    endpoint: Endpoint,
    base_path: String,
    /// The configuration of the server behind the endpoint.
    pub profile: Profile,
}

impl Target {
    /// A target at `url`, e.g. `http://127.0.0.1:8080/files`, with the default profile.
    ///
    /// # Panics
    /// When `url` is not an `http://host:port/path` URL.
    pub fn new(url: &str) -> Self {
        let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("{url:?}: only http:// targets are supported"));
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        assert!(!authority.is_empty(), "{url:?} has no host");
        Self {
            endpoint: Endpoint { authority: authority.to_owned() },
            base_path: path.trim_end_matches('/').to_owned(),
            profile: Profile::default(),
        }
    }

    /// The same target described by `profile`.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.endpoint.authority
    }

    /// `http://host:port`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.endpoint.authority)
    }

    /// The base path, e.g. `/files`.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The absolute URL of the endpoint.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.origin(), self.base_path)
    }

    /// The path of the upload with this ID.
    pub fn upload_path(&self, id: &str) -> String {
        format!("{}/{id}", self.base_path)
    }

    /// The request path a `Location` refers to: a path stays as it is; an absolute URL
    /// on this target's origin becomes its path.
    ///
    /// # Panics
    /// When the location points to another origin.
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with('/') {
            return location.to_owned();
        }
        let origin = self.origin();
        location
            .strip_prefix(&origin)
            .filter(|p| p.starts_with('/'))
            .unwrap_or_else(|| panic!("Location {location:?} does not point to {origin}"))
            .to_owned()
    }

    /// A request with any method to `path` (a path on this target's origin).
    pub fn request(&self, method: Method, path: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(self.endpoint.clone(), method, path.into())
    }

    /// `OPTIONS` on the endpoint.
    pub fn options(&self) -> RequestBuilder {
        self.request(Method::OPTIONS, self.base_path.clone())
    }

    /// `POST` on the endpoint.
    pub fn post(&self) -> RequestBuilder {
        self.request(Method::POST, self.base_path.clone())
    }

    /// `HEAD` on `path`.
    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    /// `PATCH` on `path`.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// `GET` on `path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// `DELETE` on `path`.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// A bare TCP connection to the target.
    pub async fn raw(&self) -> RawConnection {
        RawConnection::open(&self.endpoint).await
    }
}
