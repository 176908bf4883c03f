//! Where branch keys come from: the [`BranchKeySource`] trait and [`StaticBranchKeySource`]
//! (one branch key version held in memory). The DynamoDB/KMS key store (feature `hierarchy`)
//! and the branch key cache are sources too.

use std::fmt;

use futures::future::BoxFuture;

use crate::error::{KeyringError, Result};
use crate::materials::{BranchKeyMaterials, parse_uuid};

/// Where a [`HierarchicalKeyring`](super::HierarchicalKeyring) gets branch keys (the key store's `GetActiveBranchKey` and
/// `GetBranchKeyVersion`).
pub trait BranchKeySource: Send + Sync + fmt::Debug {
    /// The active version of a branch key, for encryption.
    fn active_branch_key<'a>(
        &'a self,
        branch_key_id: &'a str,
    ) -> BoxFuture<'a, Result<BranchKeyMaterials>>;

    /// A given version (UUID text) of a branch key, for decryption.
    fn branch_key_version<'a>(
        &'a self,
        branch_key_id: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<BranchKeyMaterials>>;

    /// The logical key store name this source serves, which goes into branch key cache entry
    /// identifiers (empty by default).
    fn logical_key_store_name(&self) -> &str {
        ""
    }
}

/// A branch key source holding one branch key version in memory; it is also the active one.
#[derive(Debug, Clone)]
pub struct StaticBranchKeySource(BranchKeyMaterials);

impl StaticBranchKeySource {
    /// A source that serves `materials`.
    pub fn new(materials: BranchKeyMaterials) -> Self {
        Self(materials)
    }

    fn check_id(&self, branch_key_id: &str) -> Result<()> {
        if branch_key_id != self.0.branch_key_id() {
            return Err(KeyringError::InvalidConfiguration(format!(
                "this static branch key source holds {:?}, not {branch_key_id:?}",
                self.0.branch_key_id()
            ))
            .into());
        }
        Ok(())
    }
}

impl BranchKeySource for StaticBranchKeySource {
    fn active_branch_key<'a>(
        &'a self,
        branch_key_id: &'a str,
    ) -> BoxFuture<'a, Result<BranchKeyMaterials>> {
        Box::pin(async move {
            self.check_id(branch_key_id)?;
            Ok(self.0.clone())
        })
    }

    fn branch_key_version<'a>(
        &'a self,
        branch_key_id: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<BranchKeyMaterials>> {
        Box::pin(async move {
            self.check_id(branch_key_id)?;
            if parse_uuid(version) != Some(*self.0.version_bytes()) {
                return Err(KeyringError::InvalidConfiguration(format!(
                    "this static branch key source holds version {}, not {version}",
                    self.0.version()
                ))
                .into());
            }
            Ok(self.0.clone())
        })
    }
}
