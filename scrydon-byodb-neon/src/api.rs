//! The Neon API v2 client: the core's `provider::api` client with the API key as a bearer token.
//!
//! One request at a time, `Connection: close`: the provider makes a handful of calls per check,
//! so a pool would buy nothing and cost a dependency.

use std::fmt;
use std::time::Duration;

use scrydon_byodb::provider::api::{ApiClient, HeaderMap, Method};
use scrydon_byodb::SecretString;
use serde::Deserialize;

pub use scrydon_byodb::provider::api::{ApiError, ApiErrorKind};

/// The base URL and the API key.
#[derive(Clone)]
pub(crate) struct Client {
    api: ApiClient,
    key: SecretString,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api", &self.api)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

impl Client {
    /// `base_url`: `https://host[:port]/prefix`, or `http://` for a loopback test server only
    /// (the key would cross the network in clear).
    pub(crate) fn new(
        base_url: &str,
        key: SecretString,
        timeout: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            api: ApiClient::new(base_url, timeout)?,
            key,
        })
    }

    /// Sends one request; `Ok` only for 2xx, with the body parsed as `T`.
    pub(crate) async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ApiError> {
        let mut auth = HeaderMap::new();
        let mut value = format!("Bearer {}", self.key.expose_secret())
            .parse::<scrydon_byodb::provider::api::HeaderValue>()
            .map_err(|_| {
                ApiError::local(
                    ApiErrorKind::Credentials,
                    "the API key is not a valid HTTP header value",
                )
            })?;
        value.set_sensitive(true);
        auth.insert("authorization", value);
        self.api.call(method, path, &auth, body.as_ref()).await
    }
}
