//! Where the bucket is and how to reach it.

use crate::auth::GcsAuth;
use std::time::Duration;

/// The public JSON API endpoint.
pub const GCS_ENDPOINT: &str = "https://storage.googleapis.com";

/// How a [`GcsStorage`](crate::GcsStorage) reaches its bucket.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GcsConfig {
    /// The bucket (it must exist).
    pub bucket: String,
    /// Prepended to every object name, e.g. `"tus/"`.
    pub prefix: String,
    /// The JSON API endpoint: [`GCS_ENDPOINT`] or an emulator's URL.
    pub endpoint: String,
    /// How requests are authorised.
    pub auth: GcsAuth,
    /// A non-atomic PATCH is committed every this many bytes (one part object each),
    /// so that a crash or a dropped connection loses at most this much.
    pub checkpoint_bytes: u64,
    /// An upload whose first PATCH (or creation-with-upload) announces all of its bytes
    /// is written straight into its data object, with no part and no compose, when it
    /// has at most this many bytes (unlimited by default). Such a body is not
    /// checkpointed: a server crash during it loses what it had sent (a broken body
    /// still keeps what arrived). Larger uploads go through checkpointed parts.
    pub whole_object_max_bytes: u64,
    /// The timeout of each metadata request (info reads and writes, compose, delete, list)
    /// and of each silent wait while streaming.
    pub request_timeout: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

impl GcsConfig {
    /// Real GCS with the metadata server's credentials, no prefix, 64 MiB checkpoints.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: GCS_ENDPOINT.to_owned(),
            auth: GcsAuth::MetadataServer,
            checkpoint_bytes: 64 << 20,
            whole_object_max_bytes: u64::MAX,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Like [`GcsConfig::new`], with the standard environment: `STORAGE_EMULATOR_HOST`
    /// (`host:port` or a URL) selects an emulator without credentials; otherwise
    /// `GOOGLE_OAUTH_ACCESS_TOKEN` gives a fixed token, else the metadata server is used.
    pub fn from_env(bucket: impl Into<String>) -> Self {
        let mut config = Self::new(bucket);
        if let Some(host) = std::env::var("STORAGE_EMULATOR_HOST").ok().filter(|h| !h.trim().is_empty()) {
            let host = host.trim();
            config.endpoint = if host.contains("://") { host.to_owned() } else { format!("http://{host}") };
            config.auth = GcsAuth::Anonymous;
        } else if let Some(token) = std::env::var("GOOGLE_OAUTH_ACCESS_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
            config.auth = GcsAuth::Token(token.trim().to_owned());
        }
        config
    }

    /// Sets [`GcsConfig::prefix`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`GcsConfig::endpoint`].
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Sets [`GcsConfig::auth`].
    pub fn auth(mut self, auth: GcsAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets [`GcsConfig::checkpoint_bytes`] (at least 1).
    pub fn checkpoint_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_bytes = bytes.max(1);
        self
    }

    /// Sets [`GcsConfig::whole_object_max_bytes`] (0: every body goes through parts).
    pub fn whole_object_max_bytes(mut self, bytes: u64) -> Self {
        self.whole_object_max_bytes = bytes;
        self
    }

    /// Sets [`GcsConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}
