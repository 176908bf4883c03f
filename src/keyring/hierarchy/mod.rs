//! The hierarchical keyring's wrapping (`framework/aws-kms/aws-kms-hierarchical-keyring.md`):
//! data keys wrapped under keys derived from a *branch key*.
//!
//! ```text
//! derivedKey = KDF-CTR-HMAC-SHA256(branch key (32), label = "aws-kms-hierarchy", context = salt (16))
//!              (one block: HMAC(key, 00000001 ‖ "aws-kms-hierarchy" ‖ 00 ‖ salt ‖ 00000100))
//! AAD        = "aws-kms-hierarchy" ‖ branch key id (UTF-8) ‖ version (16 raw UUID bytes)
//!              ‖ canonical(encryption context)
//! EDK        = provider id   "aws-kms-hierarchy"
//!              provider info branch key id (UTF-8)
//!              ciphertext    salt (16) ‖ IV (12) ‖ version (16) ‖ AES-256-GCM(derivedKey, IV,
//!                            data key, AAD) ‖ tag (16)
//! ```
//!
//! Branch keys ([`BranchKeyMaterials`]) come from a [`BranchKeySource`]:
//!
//! * [`source`]: the trait, and [`StaticBranchKeySource`], one branch key version held in
//!   memory (what the test vectors use, and what a caller with its own key distribution can use);
//! * [`cache`]: the branch key cache, itself a source wrapping another
//!   ([`CachingBranchKeySource`]), which [`HierarchicalKeyring::builder`] sets up from a TTL;
//! * `dynamodb` (feature `hierarchy`): the DynamoDB/KMS key store (`DynamoDbKeyStore`).
//!
//! This module is the keyring itself: it uses the three, none of which uses it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::cache::{CacheType, Clock, DefaultCache};
use crate::crypto::{CryptoProvider, HashAlgorithm, default_provider};
use crate::error::{KeyringError, Result};
use crate::format::context::EncryptionContext;
use crate::keyring::{Keyring, data_key_or_generate, kdf_ctr, unwrap_first};
use crate::materials::{
    BranchKeyMaterials, DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials,
    format_uuid,
};
use crate::suite::{IV_LEN, TAG_LEN};

pub mod cache;
#[cfg(feature = "hierarchy")]
#[cfg_attr(docsrs, doc(cfg(feature = "hierarchy")))]
pub mod dynamodb;
pub mod source;

pub use cache::{CachingBranchKeySource, CachingBranchKeySourceBuilder};
#[cfg(feature = "hierarchy")]
pub use dynamodb::{DynamoDbKeyStore, KmsConfiguration};
pub use source::{BranchKeySource, StaticBranchKeySource};

/// The provider ID of hierarchical keyring encrypted data keys.
pub const HIERARCHY_PROVIDER_ID: &str = "aws-kms-hierarchy";

const SALT_LEN: usize = 16;
const VERSION_LEN: usize = 16;
const HEADER_LEN: usize = SALT_LEN + IV_LEN + VERSION_LEN;

/// Chooses the branch key for a message from its encryption context (the spec's
/// `BranchKeyIdSupplier`), for a [`HierarchicalKeyring`] serving several branch keys (for
/// example one per tenant).
///
/// On decrypt the keyring asks again with the message's encryption context, and tries only the
/// encrypted data keys that name the branch key returned.
pub trait BranchKeyIdSupplier: Send + Sync + fmt::Debug {
    /// The branch key ID for `encryption_context`.
    fn branch_key_id<'a>(
        &'a self,
        encryption_context: &'a EncryptionContext,
    ) -> BoxFuture<'a, Result<String>>;
}

/// A [`BranchKeyIdSupplier`] that reads the branch key ID from one encryption context key.
///
/// # Errors
/// Its `branch_key_id` fails with [`KeyringError::InvalidConfiguration`] when the encryption
/// context lacks the key (or maps it to an empty value).
#[derive(Debug, Clone)]
pub struct ContextKeyBranchKeyIdSupplier {
    key: String,
}

impl ContextKeyBranchKeyIdSupplier {
    /// A supplier that returns the value of `key` in the encryption context.
    pub fn new(key: impl Into<String>) -> Self {
        Self { key: key.into() }
    }
}

impl BranchKeyIdSupplier for ContextKeyBranchKeyIdSupplier {
    fn branch_key_id<'a>(
        &'a self,
        encryption_context: &'a EncryptionContext,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            match encryption_context.get(&self.key) {
                Some(v) if !v.is_empty() => Ok(v.to_owned()),
                _ => Err(KeyringError::InvalidConfiguration(format!(
                    "the encryption context has no branch key ID under {:?}",
                    self.key
                ))
                .into()),
            }
        })
    }
}

/// How a [`HierarchicalKeyring`] picks its branch key.
#[derive(Debug, Clone)]
enum BranchKeyId {
    Fixed(String),
    Supplied(Arc<dyn BranchKeyIdSupplier>),
}

/// The hierarchical keyring: data keys wrapped under a branch key from a [`BranchKeySource`],
/// the branch key named by a fixed ID or by a [`BranchKeyIdSupplier`].
///
/// [`HierarchicalKeyring::new`] asks its source on every call; [`HierarchicalKeyring::builder`]
/// puts the spec's branch key cache (a [`CachingBranchKeySource`] with a TTL and a cache type)
/// in front of the source.
#[derive(Debug, Clone)]
pub struct HierarchicalKeyring {
    source: Arc<dyn BranchKeySource>,
    branch_key_id: BranchKeyId,
    provider: CryptoProvider,
}

impl HierarchicalKeyring {
    /// A hierarchical keyring for `branch_key_id`, with the default crypto provider and no
    /// cache of its own (see [`HierarchicalKeyring::builder`] for a cache, a branch key ID
    /// supplier or another crypto provider).
    pub fn new(source: Arc<dyn BranchKeySource>, branch_key_id: impl Into<String>) -> Self {
        Self {
            source,
            branch_key_id: BranchKeyId::Fixed(branch_key_id.into()),
            provider: *default_provider(),
        }
    }

    /// A builder: branch key ID or supplier, the branch key cache's TTL, cache type, partition
    /// ID and clock.
    pub fn builder(source: Arc<dyn BranchKeySource>) -> HierarchicalKeyringBuilder {
        HierarchicalKeyringBuilder {
            source,
            branch_key_id: None,
            ttl: None,
            cache: None,
            partition_id: None,
            clock: None,
            provider: *default_provider(),
        }
    }

    /// The fixed branch key ID (`None` when a supplier chooses it per message).
    pub fn branch_key_id(&self) -> Option<&str> {
        match &self.branch_key_id {
            BranchKeyId::Fixed(id) => Some(id),
            BranchKeyId::Supplied(_) => None,
        }
    }

    async fn resolve_id(&self, context: &EncryptionContext) -> Result<String> {
        match &self.branch_key_id {
            BranchKeyId::Fixed(id) => Ok(id.clone()),
            BranchKeyId::Supplied(s) => s.branch_key_id(context).await,
        }
    }

    fn describe(id: &str) -> String {
        format!("aws-kms-hierarchy({id})")
    }

    fn derive(&self, branch: &BranchKeyMaterials, salt: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        kdf_ctr(
            &self.provider,
            HashAlgorithm::Sha256,
            branch.key(),
            HIERARCHY_PROVIDER_ID.as_bytes(),
            salt,
            32,
        )
    }

    fn aad(branch: &BranchKeyMaterials, context: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            HIERARCHY_PROVIDER_ID.len()
                + branch.branch_key_id().len()
                + VERSION_LEN
                + context.len(),
        );
        aad.extend_from_slice(HIERARCHY_PROVIDER_ID.as_bytes());
        aad.extend_from_slice(branch.branch_key_id().as_bytes());
        aad.extend_from_slice(branch.version_bytes());
        aad.extend_from_slice(context);
        aad
    }

    /// Checks that a source answered for the key it was asked for.
    fn check_materials(
        branch: &BranchKeyMaterials,
        branch_key_id: &str,
        version: Option<&[u8; VERSION_LEN]>,
    ) -> Result<()> {
        let version_ok = version.is_none_or(|v| bool::from(v.ct_eq(branch.version_bytes())));
        if branch.branch_key_id() != branch_key_id || !version_ok {
            return Err(KeyringError::InvalidMaterials(
                "the branch key source returned another branch key",
            )
            .into());
        }
        Ok(())
    }

    async fn unwrap_one(
        &self,
        branch_key_id: &str,
        edk: &EncryptedDataKey,
        context: &[u8],
        key_len: usize,
    ) -> Result<DataKey> {
        let ct = edk.ciphertext();
        if ct.len() != HEADER_LEN + key_len + TAG_LEN {
            return Err(KeyringError::InvalidMaterials(
                "hierarchy ciphertext has the wrong length",
            )
            .into());
        }
        let salt = &ct[..SALT_LEN];
        let iv: [u8; IV_LEN] = ct[SALT_LEN..SALT_LEN + IV_LEN]
            .try_into()
            .expect("length checked");
        let version: [u8; VERSION_LEN] = ct[SALT_LEN + IV_LEN..HEADER_LEN]
            .try_into()
            .expect("length checked");
        let (wrapped, tag) = ct[HEADER_LEN..].split_at(key_len);
        let branch = self
            .source
            .branch_key_version(branch_key_id, &format_uuid(&version))
            .await?;
        Self::check_materials(&branch, branch_key_id, Some(&version))?;
        let derived = self.derive(&branch, salt)?;
        let mut key = Zeroizing::new(wrapped.to_vec());
        let tag: [u8; TAG_LEN] = tag.try_into().expect("length checked");
        self.provider
            .aead
            .key(&derived)?
            .open_in_place(&iv, &Self::aad(&branch, context), &mut key, &tag)
            .map_err(|_| {
                KeyringError::InvalidMaterials(
                    "unwrapping failed (wrong branch key or encryption context)",
                )
            })?;
        Ok(DataKey::from_slice(&key))
    }

    /// `None` when the EDK is not for `branch_key_id`, else its data key or why it does not
    /// unwrap.
    async fn try_edk(
        &self,
        branch_key_id: &str,
        edk: &EncryptedDataKey,
        context: &[u8],
        key_len: usize,
    ) -> Option<Result<DataKey, String>> {
        if edk.provider_id() != HIERARCHY_PROVIDER_ID {
            return None;
        }
        match std::str::from_utf8(edk.provider_info()) {
            Ok(id) if id == branch_key_id => {}
            Ok(_) => return None,
            Err(_) => return Some(Err("provider info is not UTF-8".into())),
        }
        Some(
            self.unwrap_one(branch_key_id, edk, context, key_len)
                .await
                .map_err(|e| e.to_string()),
        )
    }
}

impl Keyring for HierarchicalKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let context = materials.encryption_context().serialize()?;
            let branch_key_id = self.resolve_id(materials.encryption_context()).await?;
            let branch = self.source.active_branch_key(&branch_key_id).await?;
            Self::check_materials(&branch, &branch_key_id, None)?;
            let data_key = data_key_or_generate(&mut materials, &self.provider)?;
            let mut salt_iv = [0u8; SALT_LEN + IV_LEN];
            self.provider.random.fill(&mut salt_iv)?;
            let (salt, iv) = salt_iv.split_at(SALT_LEN);
            let iv: [u8; IV_LEN] = iv.try_into().expect("12 bytes");
            let derived = self.derive(&branch, salt)?;
            let mut wrapped = data_key.expose().to_vec();
            let tag = self.provider.aead.key(&derived)?.seal_in_place(
                &iv,
                &Self::aad(&branch, &context),
                &mut wrapped,
            )?;
            let mut ciphertext = Vec::with_capacity(HEADER_LEN + wrapped.len() + TAG_LEN);
            ciphertext.extend_from_slice(&salt_iv);
            ciphertext.extend_from_slice(branch.version_bytes());
            ciphertext.extend_from_slice(&wrapped);
            ciphertext.extend_from_slice(&tag);
            materials.add_encrypted_data_key(EncryptedDataKey::new(
                HIERARCHY_PROVIDER_ID,
                branch.branch_key_id().as_bytes().to_vec(),
                ciphertext,
            ));
            Ok(materials)
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            crate::keyring::ensure_no_data_key(&materials)?;
            let context = materials.encryption_context().serialize()?;
            let key_len = materials.algorithm_suite().key_len();
            let branch_key_id = self.resolve_id(materials.encryption_context()).await?;
            let key = unwrap_first(
                &Self::describe(&branch_key_id),
                "no encrypted data key names this branch key",
                materials.attempt_budget(),
                encrypted_data_keys,
                |edk| self.try_edk(&branch_key_id, edk, &context, key_len),
            )
            .await?;
            materials.set_data_key(key)?;
            Ok(materials)
        })
    }
}

/// Settings for a [`HierarchicalKeyring`] (from [`HierarchicalKeyring::builder`]).
#[must_use = "a builder does nothing until built"]
pub struct HierarchicalKeyringBuilder {
    source: Arc<dyn BranchKeySource>,
    branch_key_id: Option<BranchKeyId>,
    ttl: Option<Duration>,
    cache: Option<CacheType>,
    partition_id: Option<Vec<u8>>,
    clock: Option<Arc<dyn Clock>>,
    provider: CryptoProvider,
}

impl fmt::Debug for HierarchicalKeyringBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HierarchicalKeyringBuilder")
            .field("source", &self.source)
            .field("branch_key_id", &self.branch_key_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl HierarchicalKeyringBuilder {
    /// Every message uses this branch key.
    pub fn branch_key_id(mut self, id: impl Into<String>) -> Self {
        self.branch_key_id = Some(BranchKeyId::Fixed(id.into()));
        self
    }

    /// A supplier chooses the branch key of each message from its encryption context.
    pub fn branch_key_id_supplier(mut self, supplier: Arc<dyn BranchKeyIdSupplier>) -> Self {
        self.branch_key_id = Some(BranchKeyId::Supplied(supplier));
        self
    }

    /// Caches branch keys for `ttl` (the spec's `ttlSeconds`; required by the spec, so a
    /// keyring built without it asks its source on every call).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The branch key cache's type (the MPL's `cache`; default: [`CacheType::Default`] of
    /// [`DEFAULT_BRANCH_KEY_CACHE_CAPACITY`](crate::keyring::hierarchy::cache::DEFAULT_BRANCH_KEY_CACHE_CAPACITY)
    /// entries). An `Arc` of a cache converts into [`CacheType::Shared`], to share one cache
    /// between keyrings; give each its own [`partition_id`](Self::partition_id) unless they
    /// are meant to share branch keys. See [`crate::cache#which-cache`].
    pub fn cache(mut self, cache: impl Into<CacheType>) -> Self {
        self.cache = Some(cache.into());
        self
    }

    /// Shorthand for `.cache(DefaultCache::new(entries))`.
    pub fn cache_capacity(self, entries: usize) -> Self {
        self.cache(DefaultCache::new(entries))
    }

    /// The partition ID of cache entries, as UTF-8 for a string (see
    /// [`CachingBranchKeySourceBuilder::partition_id`](crate::keyring::hierarchy::cache::CachingBranchKeySourceBuilder::partition_id)).
    pub fn partition_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.partition_id = Some(id.into());
        self
    }

    /// The clock that ages cached branch keys (default: the system's monotonic clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The crypto provider (default [`default_provider`]).
    pub fn crypto_provider(mut self, provider: &CryptoProvider) -> Self {
        self.provider = *provider;
        self
    }

    /// The keyring.
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] without a branch key ID or supplier, with cache
    /// settings but no TTL, with a zero TTL, with cache settings the MPL refuses, or with a
    /// storm-tracking grace period not shorter than the TTL.
    pub fn build(self) -> Result<HierarchicalKeyring> {
        let branch_key_id = self.branch_key_id.ok_or_else(|| {
            KeyringError::InvalidConfiguration(
                "a hierarchical keyring needs a branch key ID or a branch key ID supplier".into(),
            )
        })?;
        let cache_settings = self
            .cache
            .as_ref()
            .is_some_and(|c| !matches!(c, CacheType::No))
            || self.partition_id.is_some()
            || self.clock.is_some();
        let source = match self.ttl {
            None if cache_settings => {
                return Err(KeyringError::InvalidConfiguration(
                    "branch key cache settings without a TTL".into(),
                )
                .into());
            }
            None => self.source,
            // No cache: every call reaches the source.
            Some(_) if matches!(self.cache, Some(CacheType::No)) => self.source,
            Some(ttl) => {
                let mut b = CachingBranchKeySource::builder(self.source, ttl);
                if let Some(c) = self.cache {
                    b = b.cache(c);
                }
                if let Some(p) = self.partition_id {
                    b = b.partition_id(p);
                }
                if let Some(c) = self.clock {
                    b = b.clock(c);
                }
                Arc::new(b.build()?) as Arc<dyn BranchKeySource>
            }
        };
        Ok(HierarchicalKeyring {
            source,
            branch_key_id,
            provider: self.provider,
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::error::{Error, KeyringAttempt};
    use crate::materials::parse_uuid;
    use crate::suite::AlgorithmSuite;

    const VERSION: &str = "e9ce18a3-edb5-4272-9f86-1cacb7997ff6";

    fn keyring(id: &str, key: u8) -> HierarchicalKeyring {
        let m = BranchKeyMaterials::new(id, VERSION, &[key; 32]).unwrap();
        HierarchicalKeyring::new(Arc::new(StaticBranchKeySource::new(m)), id)
    }

    fn context() -> EncryptionContext {
        [("k", "v")].into_iter().collect()
    }

    fn no_key(r: Result<DecryptionMaterials>) -> Vec<KeyringAttempt> {
        match r {
            Err(Error::Keyring(KeyringError::NoDecryptableKey { attempts })) => attempts,
            other => panic!("expected NoDecryptableKey, got {other:?}"),
        }
    }

    #[test]
    fn uuid_round_trip() {
        let b = parse_uuid(VERSION).unwrap();
        assert_eq!(b[0], 0xe9);
        assert_eq!(b[15], 0xf6);
        assert_eq!(format_uuid(&b), VERSION);
        for bad in [
            "",
            "e9ce18a3edb542729f861cacb7997ff6",
            "g9ce18a3-edb5-4272-9f86-1cacb7997ff6",
            "e9ce18a3-edb5-4272-9f86-1cacb7997ff",
        ] {
            assert!(parse_uuid(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn round_trip_for_every_key_length() {
        for suite in [
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA256,
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        ] {
            let k = keyring("branch-1", 5);
            let out =
                block_on(k.on_encrypt(EncryptionMaterials::new(suite, context(), vec![], None)))
                    .unwrap();
            let edk = &out.encrypted_data_keys()[0];
            assert_eq!(edk.provider_id(), "aws-kms-hierarchy");
            assert_eq!(edk.provider_info(), b"branch-1");
            assert_eq!(edk.ciphertext().len(), 44 + suite.key_len() + 16);
            assert_eq!(&edk.ciphertext()[28..44], &parse_uuid(VERSION).unwrap());
            let dm = DecryptionMaterials::new(suite, context(), vec![], None);
            let got = block_on(k.on_decrypt(dm, out.encrypted_data_keys())).unwrap();
            assert_eq!(
                got.data_key().unwrap().expose(),
                out.data_key().unwrap().expose()
            );
        }
    }

    #[test]
    fn failure_paths_have_typed_errors() {
        let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
        let dm = || DecryptionMaterials::new(suite, context(), vec![], None);
        let k = keyring("branch-1", 5);
        let out = block_on(k.on_encrypt(EncryptionMaterials::new(suite, context(), vec![], None)))
            .unwrap();
        let edk = out.encrypted_data_keys()[0].clone();

        // Wrong branch key material under the same ID and version.
        let attempts = no_key(block_on(
            keyring("branch-1", 6).on_decrypt(dm(), std::slice::from_ref(&edk)),
        ));
        assert!(attempts[0].reason.contains("unwrapping failed"));
        // Another branch key ID: the EDK is not for us.
        let attempts = no_key(block_on(
            keyring("branch-2", 5).on_decrypt(dm(), std::slice::from_ref(&edk)),
        ));
        assert!(attempts[0].reason.contains("no encrypted data key"));
        // Wrong provider ID.
        let other = EncryptedDataKey::new(
            "aws-kms-hierarchy2",
            edk.provider_info().to_vec(),
            edk.ciphertext().to_vec(),
        );
        no_key(block_on(k.on_decrypt(dm(), &[other])));
        // Tampered salt, IV, wrapped key and tag; a version the source does not hold.
        for at in [0, 20, 50, 80] {
            let mut ct = edk.ciphertext().to_vec();
            ct[at] ^= 1;
            let bad = EncryptedDataKey::new("aws-kms-hierarchy", b"branch-1".to_vec(), ct);
            assert!(
                no_key(block_on(k.on_decrypt(dm(), &[bad])))[0]
                    .reason
                    .contains("unwrapping failed")
            );
        }
        let mut ct = edk.ciphertext().to_vec();
        ct[30] ^= 1;
        let bad = EncryptedDataKey::new("aws-kms-hierarchy", b"branch-1".to_vec(), ct);
        assert!(
            no_key(block_on(k.on_decrypt(dm(), &[bad])))[0]
                .reason
                .contains("holds version")
        );
        // Truncated; provider info not UTF-8.
        let short = EncryptedDataKey::new(
            "aws-kms-hierarchy",
            b"branch-1".to_vec(),
            edk.ciphertext()[..40].to_vec(),
        );
        assert!(
            no_key(block_on(k.on_decrypt(dm(), &[short])))[0]
                .reason
                .contains("wrong length")
        );
        let not_utf8 =
            EncryptedDataKey::new("aws-kms-hierarchy", vec![0xff], edk.ciphertext().to_vec());
        assert!(
            no_key(block_on(k.on_decrypt(dm(), &[not_utf8])))[0]
                .reason
                .contains("UTF-8")
        );
        // Another encryption context.
        let other_ec = DecryptionMaterials::new(suite, EncryptionContext::new(), vec![], None);
        no_key(block_on(k.on_decrypt(other_ec, &[edk])));
        // A keyring whose source does not have its branch key cannot encrypt.
        let m = BranchKeyMaterials::new("branch-1", VERSION, &[5; 32]).unwrap();
        let mismatched =
            HierarchicalKeyring::new(Arc::new(StaticBranchKeySource::new(m)), "branch-9");
        assert!(matches!(
            block_on(mismatched.on_encrypt(EncryptionMaterials::new(
                suite,
                context(),
                vec![],
                None
            ))),
            Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
        ));
        // Bad branch key materials.
        assert!(BranchKeyMaterials::new("b", "not-a-uuid", &[0; 32]).is_err());
        assert!(BranchKeyMaterials::new("b", VERSION, &[0; 16]).is_err());
        let printed = format!(
            "{:?}",
            BranchKeyMaterials::new("b", VERSION, &[0xAB; 32]).unwrap()
        );
        assert!(printed.contains(VERSION) && !printed.contains("171"));
    }
}
