//! Connection strings (`AZURE_STORAGE_CONNECTION_STRING`): the few keys this crate needs.
//! The official crate does not parse them.

use crate::AzureError;

/// Where the Blob service is and the account key that signs requests, from a connection
/// string such as `DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=core.windows.net`
/// or Azurite's `…;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionString {
    /// The storage account.
    pub account: String,
    /// The account key, base64 (as given).
    pub account_key: String,
    /// The Blob service endpoint, without a trailing slash.
    pub blob_endpoint: String,
}

impl std::fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionString")
            .field("account", &self.account)
            .field("blob_endpoint", &self.blob_endpoint)
            .finish_non_exhaustive()
    }
}

impl ConnectionString {
    /// Parses a connection string. `AccountName` and `AccountKey` are required;
    /// `BlobEndpoint` wins over `DefaultEndpointsProtocol` + `EndpointSuffix`.
    pub fn parse(text: &str) -> Result<Self, AzureError> {
        let mut account = None;
        let mut key = None;
        let mut endpoint = None;
        let mut protocol = "https".to_owned();
        let mut suffix = "core.windows.net".to_owned();
        for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(AzureError::Config(format!("connection string entry {pair:?} is not NAME=VALUE")));
            };
            let value = value.trim().to_owned();
            match name.trim() {
                "AccountName" => account = Some(value),
                "AccountKey" => key = Some(value),
                "BlobEndpoint" => endpoint = Some(value),
                "DefaultEndpointsProtocol" => protocol = value,
                "EndpointSuffix" => suffix = value,
                "SharedAccessSignature" => {
                    return Err(AzureError::Config(
                        "SAS connection strings are not supported; give AccountName and AccountKey".into(),
                    ));
                }
                _ => {}
            }
        }
        let account = account.ok_or_else(|| AzureError::Config("the connection string has no AccountName".into()))?;
        let account_key = key.ok_or_else(|| AzureError::Config("the connection string has no AccountKey".into()))?;
        let blob_endpoint = endpoint.unwrap_or_else(|| format!("{protocol}://{account}.blob.{suffix}"));
        let blob_endpoint = blob_endpoint.trim_end_matches('/').to_owned();
        if !blob_endpoint.starts_with("http://") && !blob_endpoint.starts_with("https://") {
            return Err(AzureError::Config(format!("the blob endpoint {blob_endpoint:?} is not an http(s) URL")));
        }
        Ok(Self { account, account_key, blob_endpoint })
    }

    /// Reads `AZURE_STORAGE_CONNECTION_STRING`.
    pub fn from_env() -> Result<Self, AzureError> {
        let text = std::env::var("AZURE_STORAGE_CONNECTION_STRING")
            .map_err(|_| AzureError::Config("AZURE_STORAGE_CONNECTION_STRING is not set".into()))?;
        Self::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_azurite_and_cloud_forms() {
        let azurite = ConnectionString::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(azurite.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(azurite.account, "devstoreaccount1");
        let cloud =
            ConnectionString::parse("AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net").unwrap();
        assert_eq!(cloud.blob_endpoint, "https://acct.blob.core.windows.net");
        assert!(ConnectionString::parse("AccountName=acct").is_err());
        assert!(ConnectionString::parse("garbage").is_err());
    }
}
