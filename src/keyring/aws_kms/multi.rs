//! KMS multi-keyrings (`aws-kms-multi-keyrings.md`, `aws-kms-mrk-multi-keyrings.md`): builders
//! that make one KMS keyring per key (or per Region, for discovery) and compose them with the
//! crate's [`MultiKeyring`]: after the generator has produced the data key, the other keys wrap
//! it **concurrently**, so encrypting under N keys costs about one KMS round trip more than one
//! key, not N; their EDKs are appended in the configured order whatever order the calls finish
//! in. On decrypt, the generator and then the children are tried one at a time, in order, and
//! the first success wins.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::arn::{check_mrks_unique, validate_identifier};
use super::{
    AwsKmsDiscoveryKeyring, AwsKmsKeyring, AwsKmsMrkDiscoveryKeyring, AwsKmsMrkKeyring,
    ClientSupplier, DefaultClientSupplier, DiscoveryFilter,
};
use crate::error::{KeyringError, Result};
use crate::keyring::{Keyring, MultiKeyring};
use crate::materials::{DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};

/// A [`MultiKeyring`] of KMS keyrings, built by [`AwsKmsMultiKeyring::strict`],
/// [`mrk`](AwsKmsMultiKeyring::mrk), [`discovery`](AwsKmsMultiKeyring::discovery) or
/// [`mrk_discovery`](AwsKmsMultiKeyring::mrk_discovery).
#[derive(Debug, Clone)]
pub struct AwsKmsMultiKeyring(MultiKeyring);

impl AwsKmsMultiKeyring {
    /// A builder for a multi-keyring of [`AwsKmsKeyring`]s: an optional generator key and
    /// other keys, each identifier with the client of its ARN's Region.
    pub fn strict() -> StrictMultiKeyringBuilder {
        StrictMultiKeyringBuilder::new(false)
    }

    /// As [`strict`](Self::strict), with [`AwsKmsMrkKeyring`]s; two multi-Region keys with the
    /// same key id are refused as ambiguous.
    pub fn mrk() -> StrictMultiKeyringBuilder {
        StrictMultiKeyringBuilder::new(true)
    }

    /// A builder for one [`AwsKmsDiscoveryKeyring`] per Region, tried in the given order.
    pub fn discovery<S: Into<String>>(
        regions: impl IntoIterator<Item = S>,
    ) -> DiscoveryMultiKeyringBuilder {
        DiscoveryMultiKeyringBuilder::new(false, regions)
    }

    /// A builder for one [`AwsKmsMrkDiscoveryKeyring`] per Region, tried in the given order.
    pub fn mrk_discovery<S: Into<String>>(
        regions: impl IntoIterator<Item = S>,
    ) -> DiscoveryMultiKeyringBuilder {
        DiscoveryMultiKeyringBuilder::new(true, regions)
    }

    fn new(generator: Option<Arc<dyn Keyring>>, children: Vec<Arc<dyn Keyring>>) -> Result<Self> {
        MultiKeyring::new(generator, children).map(Self)
    }

    /// The generator keyring, if any.
    pub fn generator(&self) -> Option<&Arc<dyn Keyring>> {
        self.0.generator()
    }

    /// The child keyrings, in order.
    pub fn children(&self) -> &[Arc<dyn Keyring>] {
        self.0.children()
    }

    /// The underlying multi-keyring.
    pub fn into_multi_keyring(self) -> MultiKeyring {
        self.0
    }
}

impl Keyring for AwsKmsMultiKeyring {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        self.0.on_encrypt(materials)
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        self.0.on_decrypt(materials, encrypted_data_keys)
    }
}

impl From<AwsKmsMultiKeyring> for MultiKeyring {
    fn from(k: AwsKmsMultiKeyring) -> Self {
        k.0
    }
}

fn supplier_or_default(supplier: Option<Arc<dyn ClientSupplier>>) -> Arc<dyn ClientSupplier> {
    supplier.unwrap_or_else(|| Arc::new(DefaultClientSupplier::new()))
}

/// The options both multi-keyring builders take: a client supplier and grant tokens.
macro_rules! builder_options {
    () => {
        /// Where clients come from (default: a new [`DefaultClientSupplier`]).
        pub fn client_supplier(mut self, supplier: Arc<dyn ClientSupplier>) -> Self {
            self.supplier = Some(supplier);
            self
        }

        /// Grant tokens for every KMS call.
        pub fn grant_tokens<S: Into<String>>(
            mut self,
            tokens: impl IntoIterator<Item = S>,
        ) -> Self {
            self.grant_tokens = tokens.into_iter().map(Into::into).collect();
            self
        }
    };
}

/// Builds a strict or MRK multi-keyring; see [`AwsKmsMultiKeyring::strict`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct StrictMultiKeyringBuilder {
    mrk: bool,
    generator: Option<String>,
    key_ids: Vec<String>,
    supplier: Option<Arc<dyn ClientSupplier>>,
    grant_tokens: Vec<String>,
}

impl StrictMultiKeyringBuilder {
    fn new(mrk: bool) -> Self {
        Self {
            mrk,
            generator: None,
            key_ids: Vec::new(),
            supplier: None,
            grant_tokens: Vec::new(),
        }
    }

    /// The key that generates the data key (`GenerateDataKey`).
    pub fn generator(mut self, key_id: impl Into<String>) -> Self {
        self.generator = Some(key_id.into());
        self
    }

    /// Further keys that each wrap the data key (`Encrypt`), concurrently.
    pub fn key_ids<S: Into<String>>(mut self, key_ids: impl IntoIterator<Item = S>) -> Self {
        self.key_ids.extend(key_ids.into_iter().map(Into::into));
        self
    }

    builder_options!();

    /// Validates the identifiers, gets one client per Region and builds the keyring.
    ///
    /// Each identifier's client is the supplier's client for the Region of its ARN; an alias
    /// or bare key id gets the client for the SDK's default Region.
    ///
    /// # Errors
    /// No generator and no key; an invalid identifier; for MRK keyrings, two multi-Region keys
    /// with the same key id; or a client that cannot be made.
    pub async fn build(self) -> Result<AwsKmsMultiKeyring> {
        if self.generator.is_none() && self.key_ids.is_empty() {
            return Err(KeyringError::InvalidConfiguration(
                "a KMS multi-keyring needs a generator or a key id".into(),
            )
            .into());
        }
        let all: Vec<&str> = self
            .generator
            .iter()
            .chain(self.key_ids.iter())
            .map(String::as_str)
            .collect();
        let mut regions = Vec::with_capacity(all.len());
        for id in &all {
            regions.push(validate_identifier(id)?.map(|arn| arn.region().to_owned()));
        }
        if self.mrk {
            check_mrks_unique(all.iter().copied())?;
        }
        let supplier = supplier_or_default(self.supplier);
        let mut keyrings: Vec<Arc<dyn Keyring>> = Vec::with_capacity(all.len());
        for (id, region) in all.iter().zip(&regions) {
            let client = supplier.client(region.as_deref()).await?;
            keyrings.push(if self.mrk {
                Arc::new(
                    AwsKmsMrkKeyring::new(*id, client)?
                        .grant_tokens(self.grant_tokens.iter().cloned()),
                )
            } else {
                Arc::new(
                    AwsKmsKeyring::new(*id, client)?
                        .grant_tokens(self.grant_tokens.iter().cloned()),
                )
            });
        }
        let generator = if self.generator.is_some() {
            Some(keyrings.remove(0))
        } else {
            None
        };
        AwsKmsMultiKeyring::new(generator, keyrings)
    }
}

/// Builds a discovery or MRK discovery multi-keyring; see [`AwsKmsMultiKeyring::discovery`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct DiscoveryMultiKeyringBuilder {
    mrk: bool,
    regions: Vec<String>,
    filter: Option<DiscoveryFilter>,
    supplier: Option<Arc<dyn ClientSupplier>>,
    grant_tokens: Vec<String>,
}

impl DiscoveryMultiKeyringBuilder {
    fn new<S: Into<String>>(mrk: bool, regions: impl IntoIterator<Item = S>) -> Self {
        Self {
            mrk,
            regions: regions.into_iter().map(Into::into).collect(),
            filter: None,
            supplier: None,
            grant_tokens: Vec::new(),
        }
    }

    /// Limits every discovery keyring to the keys `filter` allows.
    pub fn filter(mut self, filter: DiscoveryFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    builder_options!();

    /// Gets one client per Region and builds the keyring.
    ///
    /// # Errors
    /// No Region, an empty Region, or a client that cannot be made.
    pub async fn build(self) -> Result<AwsKmsMultiKeyring> {
        if self.regions.is_empty() || self.regions.iter().any(String::is_empty) {
            return Err(KeyringError::InvalidConfiguration(
                "a discovery multi-keyring needs one or more non-empty Regions".into(),
            )
            .into());
        }
        let supplier = supplier_or_default(self.supplier);
        let mut children: Vec<Arc<dyn Keyring>> = Vec::with_capacity(self.regions.len());
        for region in &self.regions {
            let client = supplier.client(Some(region)).await?;
            let tokens = self.grant_tokens.iter().cloned();
            children.push(if self.mrk {
                let mut k = AwsKmsMrkDiscoveryKeyring::new(client)?.grant_tokens(tokens);
                if let Some(f) = &self.filter {
                    k = k.filter(f.clone());
                }
                Arc::new(k)
            } else {
                let mut k = AwsKmsDiscoveryKeyring::new(client).grant_tokens(tokens);
                if let Some(f) = &self.filter {
                    k = k.filter(f.clone());
                }
                Arc::new(k)
            });
        }
        AwsKmsMultiKeyring::new(None, children)
    }
}
