//! Setting up: an S3 client from the standard environment variables, and setup errors.

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use std::fmt;
use std::time::Duration;

/// How long connecting to the endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may stay silent (a part upload's answer comes after its body).
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the S3 storage cannot be set up. Its `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum S3SetupError {
    /// A required environment variable is missing or empty.
    MissingEnv(&'static str),
    /// An option is out of range.
    InvalidOption(String),
    /// The bucket is missing, or the credentials may not use it, or S3 cannot be reached.
    Bucket(String),
}

impl fmt::Display for S3SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingEnv(name) => write!(f, "the environment variable {name} is not set"),
            Self::InvalidOption(what) => f.write_str(what),
            Self::Bucket(what) => f.write_str(&what.replace(['\r', '\n'], " ")),
        }
    }
}

impl std::error::Error for S3SetupError {}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where and as whom to connect to S3.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Connection {
    /// An endpoint URL for S3-compatible stores and emulators (then addressed path-style:
    /// `ENDPOINT/BUCKET/KEY`); `None` for AWS.
    pub endpoint: Option<String>,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// The access key ID.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl S3Connection {
    /// Static credentials, region `us-east-1`, AWS's endpoints.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".to_owned(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// Sets the endpoint URL (path-style addressing).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Sets the region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Reads the standard environment variables:
    ///
    /// - `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (required) and `AWS_SESSION_TOKEN`;
    /// - `AWS_REGION` (or `AWS_DEFAULT_REGION`; `us-east-1` when neither is set);
    /// - `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`.
    pub fn from_env() -> Result<Self, S3SetupError> {
        let key_id = env("AWS_ACCESS_KEY_ID").ok_or(S3SetupError::MissingEnv("AWS_ACCESS_KEY_ID"))?;
        let secret = env("AWS_SECRET_ACCESS_KEY").ok_or(S3SetupError::MissingEnv("AWS_SECRET_ACCESS_KEY"))?;
        let mut connection = Self::new(key_id, secret);
        if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
            connection.region = region;
        }
        connection.endpoint = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL"));
        connection.session_token = env("AWS_SESSION_TOKEN");
        Ok(connection)
    }

    /// A client for this connection. TLS is rustls (with ring). Checksums are sent only
    /// where S3 requires them; connecting times out after 10 s and a silent response
    /// after 120 s.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let credentials = Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.clone(),
            self.session_token.clone(),
            None,
            "static",
        );
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .timeout_config(
                TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).read_timeout(READ_TIMEOUT).build(),
            )
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }
}

/// An S3 client configured from the standard environment variables (see
/// [`S3Connection::from_env`]).
pub fn client_from_env() -> Result<aws_sdk_s3::Client, S3SetupError> {
    Ok(S3Connection::from_env()?.client())
}
