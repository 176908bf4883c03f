//! KMS clients and the regional client supplier.
//!
//! [`KmsClient`] is a cheap-to-clone handle on an `aws_sdk_kms::Client` and the Region it talks
//! to. [`ClientSupplier`] hands out one client per Region; [`DefaultClientSupplier`] creates each
//! one once, from aws-config's standard chain, and shares it afterwards.
//!
//! # Timeouts and retries
//!
//! Clients made by [`DefaultClientSupplier`] use, unless its builder says otherwise:
//!
//! | setting | default | note |
//! |---|---|---|
//! | connect timeout | 3.1 s ([`DEFAULT_CONNECT_TIMEOUT`]) | the SDK's own default |
//! | per-attempt timeout | 10 s ([`DEFAULT_ATTEMPT_TIMEOUT`]) | the SDK sets none: a stalled server would hang the call |
//! | whole-operation timeout | 30 s ([`DEFAULT_OPERATION_TIMEOUT`]) | the SDK sets none; bounds attempts plus backoff |
//! | retries | the SDK's *standard* mode: 3 attempts, exponential backoff with jitter (base 1 s, cap 20 s), throttling and transient errors retried | `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` and the profile apply unless [`DefaultClientSupplierBuilder::max_attempts`] is set |
//!
//! A client passed in with [`KmsClient::from_sdk_client`] keeps its own configuration.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use crate::error::{KeyringError, Result};

/// The connect timeout of clients made by [`DefaultClientSupplier`] (the SDK's default).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// The per-attempt timeout of clients made by [`DefaultClientSupplier`].
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole-operation timeout (all attempts and backoff) of clients made by
/// [`DefaultClientSupplier`].
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A handle on AWS KMS in one Region. Cheap to clone: clones share connections and
/// credentials.
#[derive(Clone)]
pub struct KmsClient {
    inner: aws_sdk_kms::Client,
    region: Option<String>,
}

impl fmt::Debug for KmsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsClient")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl KmsClient {
    /// Wraps a client configured by the caller (credentials, Region, endpoint, timeouts,
    /// retries, HTTP client: all as the caller set them).
    pub fn from_sdk_client(client: aws_sdk_kms::Client) -> Self {
        let region = client.config().region().map(|r| r.as_ref().to_owned());
        Self {
            inner: client,
            region,
        }
    }

    /// A client from aws-config's standard chain (environment, profile, web identity,
    /// container and instance credentials; Region from `AWS_REGION` or the profile), with the
    /// [`DefaultClientSupplier`]'s default timeouts.
    ///
    /// # Errors
    /// When no Region can be determined.
    pub async fn from_env() -> Result<Self> {
        DefaultClientSupplier::new().client(None).await
    }

    /// The Region this client sends requests to, when known.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    pub(crate) fn sdk(&self) -> &aws_sdk_kms::Client {
        &self.inner
    }
}

/// Supplies a KMS client for a Region (`None`: the SDK's default Region).
///
/// Multi-keyring builders ask for one client per Region named in their key ARNs (or per Region
/// given to a discovery multi-keyring). Implement this to control how clients are made, or use
/// [`DefaultClientSupplier`].
pub trait ClientSupplier: Send + Sync + fmt::Debug {
    /// The client for `region`.
    fn client<'a>(&'a self, region: Option<&'a str>) -> BoxFuture<'a, Result<KmsClient>>;
}

/// Makes one client per Region from aws-config's standard chain, once, and shares it.
///
/// See the [module documentation](self) for the timeouts and retries it applies.
#[derive(Default)]
pub struct DefaultClientSupplier {
    settings: DefaultClientSupplierBuilder,
    clients: Mutex<HashMap<Option<String>, Arc<OnceCell<KmsClient>>>>,
}

impl fmt::Debug for DefaultClientSupplier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regions: Vec<Option<String>> = self
            .clients
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("DefaultClientSupplier")
            .field("settings", &self.settings)
            .field("regions", &regions)
            .finish()
    }
}

/// Settings for a [`DefaultClientSupplier`].
#[derive(Clone, Default)]
#[must_use = "a builder does nothing until built"]
pub struct DefaultClientSupplierBuilder {
    endpoint_url: Option<String>,
    credentials: Option<(
        String,
        zeroize::Zeroizing<String>,
        Option<zeroize::Zeroizing<String>>,
    )>,
    connect_timeout: Option<Duration>,
    attempt_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    max_attempts: Option<u32>,
}

impl fmt::Debug for DefaultClientSupplierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultClientSupplierBuilder")
            .field("endpoint_url", &self.endpoint_url)
            .field(
                "static_credentials",
                &self.credentials.as_ref().map(|c| &c.0),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

impl DefaultClientSupplierBuilder {
    /// Sends every request to this URL instead of the Region's public endpoint: a VPC
    /// endpoint, a FIPS endpoint, or a local test server such as moto. The Region is still
    /// used to sign requests.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Uses these static credentials instead of the standard credential chain (for local
    /// test servers; prefer the chain elsewhere). The secret never appears in `Debug`.
    pub fn static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.credentials = Some((
            access_key_id.into(),
            zeroize::Zeroizing::new(secret_access_key.into()),
            session_token.map(zeroize::Zeroizing::new),
        ));
        self
    }

    /// The TCP/TLS connect timeout (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The timeout of one attempt of a call (default [`DEFAULT_ATTEMPT_TIMEOUT`]).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The timeout of a whole call, retries included (default [`DEFAULT_OPERATION_TIMEOUT`]).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// The most attempts per call, the first included (standard retry mode; `1` disables
    /// retries). Default: the SDK's (3, or `AWS_MAX_ATTEMPTS`).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// The supplier.
    pub fn build(self) -> DefaultClientSupplier {
        DefaultClientSupplier {
            settings: self,
            clients: Mutex::default(),
        }
    }
}

impl DefaultClientSupplier {
    /// A supplier using the standard chain and the default timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for a supplier with an endpoint override, static credentials, or other
    /// timeouts and retries.
    pub fn builder() -> DefaultClientSupplierBuilder {
        DefaultClientSupplierBuilder::default()
    }

    async fn make(&self, region: Option<&str>) -> Result<KmsClient> {
        use aws_config::BehaviorVersion;
        use aws_sdk_kms::config::{Credentials, Region};

        let s = &self.settings;
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(s.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
            .operation_attempt_timeout(s.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT))
            .operation_timeout(s.operation_timeout.unwrap_or(DEFAULT_OPERATION_TIMEOUT))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_owned()));
        }
        if let Some(url) = &s.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some((id, secret, token)) = &s.credentials {
            let token = token.as_ref().map(|t| t.to_string());
            loader = loader.credentials_provider(Credentials::new(
                id,
                secret.as_str(),
                token,
                None,
                "esdk-static",
            ));
        }
        if let Some(n) = s.max_attempts {
            loader = loader
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(n));
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            return Err(KeyringError::InvalidConfiguration(
                "no AWS Region: name one, or set AWS_REGION or a profile Region".into(),
            )
            .into());
        }
        Ok(KmsClient::from_sdk_client(aws_sdk_kms::Client::new(
            &shared,
        )))
    }
}

impl ClientSupplier for DefaultClientSupplier {
    fn client<'a>(&'a self, region: Option<&'a str>) -> BoxFuture<'a, Result<KmsClient>> {
        Box::pin(async move {
            if region == Some("") {
                return Err(KeyringError::InvalidConfiguration("empty AWS Region".into()).into());
            }
            let cell = {
                let mut map = self.clients.lock().map_err(|_| {
                    KeyringError::InvalidConfiguration("client supplier lock poisoned".into())
                })?;
                map.entry(region.map(str::to_owned)).or_default().clone()
            };
            cell.get_or_try_init(|| self.make(region)).await.cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let b = DefaultClientSupplier::builder().static_credentials(
            "AKID",
            "very-secret-value",
            Some("tok-secret".into()),
        );
        let printed = format!("{:?}", b.clone().build());
        assert!(printed.contains("AKID"));
        assert!(!printed.contains("very-secret-value") && !printed.contains("tok-secret"));
    }

    #[tokio::test]
    async fn one_client_per_region_made_once() {
        let supplier = DefaultClientSupplier::builder()
            .endpoint_url("http://127.0.0.1:9")
            .static_credentials("a", "b", None)
            .build();
        let a = supplier.client(Some("us-west-2")).await.unwrap();
        let b = supplier.client(Some("us-west-2")).await.unwrap();
        let c = supplier.client(Some("eu-west-1")).await.unwrap();
        assert_eq!(a.region(), Some("us-west-2"));
        assert_eq!(c.region(), Some("eu-west-1"));
        // The same SDK client (shared config and connection pool) is handed out again.
        assert!(std::ptr::eq(a.sdk().config(), b.sdk().config()));
        assert_eq!(supplier.clients.lock().unwrap().len(), 2);
        assert!(supplier.client(Some("")).await.is_err());
    }
}
