//! Discovery keyrings: decrypt with whatever KMS key an EDK names, limited by a filter.

use std::collections::BTreeSet;
use std::fmt;

use futures::future::BoxFuture;

use super::{KmsArn, KmsClient, decrypt_kms_edks};
use crate::error::{KeyringError, Result};
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};

/// Limits discovery to keys of one partition and a set of accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFilter {
    partition: String,
    account_ids: BTreeSet<String>,
}

impl DiscoveryFilter {
    /// A filter allowing keys in `partition` (`aws`, `aws-cn`, …) owned by one of `account_ids`.
    ///
    /// # Errors
    /// When the partition is empty, no account is given, or an account id is empty.
    pub fn new<S: Into<String>>(
        partition: impl Into<String>,
        account_ids: impl IntoIterator<Item = S>,
    ) -> Result<Self> {
        let partition = partition.into();
        let account_ids: BTreeSet<String> = account_ids.into_iter().map(Into::into).collect();
        if partition.is_empty() {
            return Err(KeyringError::InvalidConfiguration(
                "discovery filter with an empty partition".into(),
            )
            .into());
        }
        if account_ids.is_empty() || account_ids.iter().any(String::is_empty) {
            return Err(KeyringError::InvalidConfiguration(
                "a discovery filter needs one or more non-empty account ids".into(),
            )
            .into());
        }
        Ok(Self {
            partition,
            account_ids,
        })
    }

    /// The partition.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The account ids.
    pub fn account_ids(&self) -> impl Iterator<Item = &str> {
        self.account_ids.iter().map(String::as_str)
    }

    /// True when the filter allows this key.
    pub fn allows(&self, arn: &KmsArn) -> bool {
        arn.partition() == self.partition && self.account_ids.contains(arn.account())
    }
}

fn allowed(filter: &Option<DiscoveryFilter>, arn: &KmsArn) -> bool {
    filter.as_ref().is_none_or(|f| f.allows(arn))
}

fn encrypt_refused<'a>(what: &'static str) -> BoxFuture<'a, Result<EncryptionMaterials>> {
    Box::pin(
        async move { Err(KeyringError::Unsupported(format!("a {what} cannot encrypt")).into()) },
    )
}

/// The AWS KMS discovery keyring (`aws-kms-discovery-keyring.md`): decrypt-only; calls
/// `Decrypt` with the key ARN each EDK names, when the [`DiscoveryFilter`] (if any) allows it.
///
/// It sends every call through its one client; KMS refuses keys of other Regions, so use one
/// per Region (see [`AwsKmsMultiKeyring::discovery`](super::AwsKmsMultiKeyring::discovery)).
#[derive(Clone)]
pub struct AwsKmsDiscoveryKeyring {
    client: KmsClient,
    filter: Option<DiscoveryFilter>,
    grant_tokens: Vec<String>,
}

/// The AWS KMS MRK discovery keyring (`aws-kms-mrk-discovery-keyring.md`): decrypt-only; tries
/// EDKs of multi-Region keys (any Region, called as the replica in the client's Region) and of
/// single-Region keys in the client's Region, when the filter (if any) allows them.
#[derive(Clone)]
pub struct AwsKmsMrkDiscoveryKeyring {
    client: KmsClient,
    region: String,
    filter: Option<DiscoveryFilter>,
    grant_tokens: Vec<String>,
}

impl fmt::Debug for AwsKmsDiscoveryKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsDiscoveryKeyring")
            .field("client", &self.client)
            .field("filter", &self.filter)
            .field("grant_tokens", &self.grant_tokens.len())
            .finish()
    }
}

impl fmt::Debug for AwsKmsMrkDiscoveryKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsMrkDiscoveryKeyring")
            .field("region", &self.region)
            .field("filter", &self.filter)
            .field("grant_tokens", &self.grant_tokens.len())
            .finish()
    }
}

impl AwsKmsDiscoveryKeyring {
    /// A discovery keyring using `client`, with no filter.
    pub fn new(client: KmsClient) -> Self {
        Self {
            client,
            filter: None,
            grant_tokens: Vec::new(),
        }
    }

    /// Limits decryption to the keys `filter` allows.
    #[must_use]
    pub fn filter(mut self, filter: DiscoveryFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    grant_tokens_option!();

    fn describe(&self) -> String {
        format!(
            "aws-kms-discovery({})",
            self.client.region().unwrap_or("default Region")
        )
    }
}

impl AwsKmsMrkDiscoveryKeyring {
    /// An MRK discovery keyring using `client`, with no filter. Its Region is the client's.
    ///
    /// # Errors
    /// When the client has no Region configured.
    pub fn new(client: KmsClient) -> Result<Self> {
        let region = client
            .region()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                KeyringError::InvalidConfiguration(
                    "the MRK discovery keyring needs a client with a Region".into(),
                )
            })?
            .to_owned();
        Ok(Self {
            client,
            region,
            filter: None,
            grant_tokens: Vec::new(),
        })
    }

    /// Limits decryption to the keys `filter` allows.
    #[must_use]
    pub fn filter(mut self, filter: DiscoveryFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    grant_tokens_option!();

    /// The client's Region.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn describe(&self) -> String {
        format!("aws-kms-mrk-discovery({})", self.region)
    }
}

impl Keyring for AwsKmsDiscoveryKeyring {
    fn on_encrypt<'a>(
        &'a self,
        _materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        encrypt_refused("discovery keyring")
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            decrypt_kms_edks(
                &self.describe(),
                &self.client,
                &self.grant_tokens,
                materials,
                encrypted_data_keys,
                |info, arn| allowed(&self.filter, arn).then(|| info.to_owned()),
            )
            .await
        })
    }
}

impl Keyring for AwsKmsMrkDiscoveryKeyring {
    fn on_encrypt<'a>(
        &'a self,
        _materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        encrypt_refused("MRK discovery keyring")
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            // Multi-Region keys are called as their replica in this Region; single-Region keys
            // only when they are in it.
            decrypt_kms_edks(
                &self.describe(),
                &self.client,
                &self.grant_tokens,
                materials,
                encrypted_data_keys,
                |info, arn| {
                    if !allowed(&self.filter, arn) {
                        None
                    } else if arn.is_multi_region_key() {
                        Some(arn.with_region(&self.region).to_string())
                    } else {
                        (arn.region() == self.region).then(|| info.to_owned())
                    }
                },
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_checks_partition_and_account() {
        let f = DiscoveryFilter::new("aws", ["111122223333", "444455556666"]).unwrap();
        let ok: KmsArn = "arn:aws:kms:us-east-1:111122223333:key/k".parse().unwrap();
        let other_account: KmsArn = "arn:aws:kms:us-east-1:999999999999:key/k".parse().unwrap();
        let other_partition: KmsArn = "arn:aws-cn:kms:cn-north-1:111122223333:key/k"
            .parse()
            .unwrap();
        assert!(f.allows(&ok));
        assert!(!f.allows(&other_account));
        assert!(!f.allows(&other_partition));
        assert!(DiscoveryFilter::new("", ["1"]).is_err());
        assert!(DiscoveryFilter::new("aws", Vec::<String>::new()).is_err());
        assert!(DiscoveryFilter::new("aws", [""]).is_err());
        assert_eq!(f.account_ids().count(), 2);
    }
}
