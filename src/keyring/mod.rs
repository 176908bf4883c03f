//! Keyrings (`framework/keyring-interface.md`): they generate, wrap and unwrap data keys.
//!
//! The [`Keyring`] trait is async (a keyring may call a key service) and object-safe (a
//! multi-keyring holds `Arc<dyn Keyring>`s). Its futures are boxed: one allocation per call is
//! nothing next to a network round trip, and it keeps the trait usable as `dyn`.

use std::future::Future;

use futures::future::BoxFuture;

use crate::error::{CryptoAlgorithm, CryptoError, Error, Result};
use crate::materials::{
    AttemptBudget, DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials,
};

#[cfg(feature = "kms")]
#[cfg_attr(docsrs, doc(cfg(feature = "kms")))]
pub mod aws_kms;
mod ecdh_wrap;
pub mod hierarchy;
pub mod multi;
pub mod raw_aes;
pub mod raw_ecdh;
pub mod raw_rsa;

pub use crate::materials::BranchKeyMaterials;
#[cfg(feature = "kms")]
pub use aws_kms::{
    AwsKmsDiscoveryKeyring, AwsKmsKeyring, AwsKmsMrkDiscoveryKeyring, AwsKmsMrkKeyring,
    AwsKmsMultiKeyring,
};
pub use hierarchy::{
    BranchKeyIdSupplier, BranchKeySource, CachingBranchKeySource, ContextKeyBranchKeyIdSupplier,
    HierarchicalKeyring, HierarchicalKeyringBuilder, StaticBranchKeySource,
};
#[cfg(feature = "hierarchy")]
pub use hierarchy::{DynamoDbKeyStore, KmsConfiguration};
pub use multi::MultiKeyring;
pub use raw_aes::RawAesKeyring;
pub use raw_ecdh::{RawEcdhKeyring, RawEcdhScheme};
pub use raw_rsa::RawRsaKeyring;

/// Wraps and unwraps data keys.
///
/// * `on_encrypt`: when the materials hold no data key, generate one (of the suite's length)
///   and wrap it; otherwise wrap the one present. Append the encrypted data key(s).
/// * `on_decrypt`: fail if the materials already hold a data key; otherwise try the encrypted
///   data keys in order and set the first one that unwraps.
///
/// On failure, return an error; the caller keeps its own copy of the materials it passed.
pub trait Keyring: Send + Sync + std::fmt::Debug {
    /// Adds a wrapped data key (generating the data key if there is none).
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>>;

    /// Sets the data key from the first encrypted data key this keyring can unwrap.
    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>>;
}

/// Rejects provider IDs reserved for AWS KMS keyrings (`aws-kms…`).
pub(crate) fn check_raw_provider_id(provider_id: &str) -> Result<()> {
    if provider_id.starts_with("aws-kms") {
        return Err(crate::error::KeyringError::InvalidConfiguration(format!(
            "key namespace {provider_id:?} is reserved for AWS KMS keyrings"
        ))
        .into());
    }
    Ok(())
}

/// The NIST SP 800-108 counter-mode KDF with HMAC, as the ECDH and hierarchical keyrings use it:
/// block `i` (from 1) is `HMAC(key, u32be(i) ‖ label ‖ 0x00 ‖ context ‖ u32be(8 · out_len))`,
/// and the output is the first `out_len` bytes of the blocks' concatenation.
pub(crate) fn kdf_ctr(
    provider: &crate::crypto::CryptoProvider,
    hash: crate::crypto::HashAlgorithm,
    key: &[u8],
    label: &[u8],
    context: &[u8],
    out_len: usize,
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let bits = u32::try_from(out_len * 8)
        .map_err(|_| Error::from(CryptoError::TooLong(CryptoAlgorithm::KdfCtr)))?
        .to_be_bytes();
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(out_len + hash.output_len()));
    let mut counter = 1u32;
    while out.len() < out_len {
        let block = zeroize::Zeroizing::new(provider.hash.hmac(
            hash,
            key,
            &[&counter.to_be_bytes(), label, &[0u8], context, &bits],
        ));
        out.extend_from_slice(&block);
        counter += 1;
    }
    out.truncate(out_len);
    Ok(out)
}

/// The keyring rule for `on_decrypt`: fail when the materials already hold a data key.
pub(crate) fn ensure_no_data_key(materials: &DecryptionMaterials) -> Result<()> {
    if materials.data_key().is_some() {
        return Err(crate::error::KeyringError::InvalidMaterials(
            "a plaintext data key is already present",
        )
        .into());
    }
    Ok(())
}

/// The error a keyring returns when no encrypted data key unwrapped: every attempt, or, when no
/// key was even tried, one entry saying why none matched.
pub(crate) fn no_decryptable_key(
    mut attempts: Vec<crate::error::KeyringAttempt>,
    keyring: impl Into<String>,
    none_matched: &str,
) -> crate::Error {
    if attempts.is_empty() {
        attempts.push(crate::error::KeyringAttempt::new(keyring, none_matched));
    }
    crate::error::KeyringError::NoDecryptableKey { attempts }.into()
}

/// The decrypt loop every keyring shares: `unwrap` each candidate in order and return the first
/// data key one gives. `unwrap` answers `None` for a candidate that is not for this keyring
/// (skipped, not an attempt), else the data key or why not. When nothing unwraps: every
/// failure, in order. With a `budget`, each attempt draws on it, and once it is spent the loop
/// stops with `stopped(budget)` as the last failure.
pub(crate) async fn first_data_key<T, E, Fut>(
    candidates: impl IntoIterator<Item = T>,
    budget: Option<&AttemptBudget>,
    stopped: impl FnOnce(&AttemptBudget) -> E,
    mut unwrap: impl FnMut(T) -> Fut,
) -> std::result::Result<DataKey, Vec<E>>
where
    Fut: Future<Output = Option<std::result::Result<DataKey, E>>>,
{
    let mut failures = Vec::new();
    for candidate in candidates {
        if let Some(b) = budget.filter(|b| b.spent()) {
            failures.push(stopped(b));
            break;
        }
        // `None`: not for this keyring, not an attempt.
        if let Some(result) = unwrap(candidate).await {
            if let Some(b) = budget {
                b.take();
            }
            match result {
                Ok(key) => return Ok(key),
                Err(e) => failures.push(e),
            }
        }
    }
    Err(failures)
}

/// Why one encrypted data key did not unwrap: words only (another key, a tag that did not
/// verify), or a typed error behind them (a key service's), which the attempt list keeps so
/// that a caller can tell an unreachable or throttled service from a key that did not match.
#[derive(Debug)]
pub(crate) enum UnwrapFailure {
    /// The reason, in words.
    Reason(String),
    /// The error the attempt failed with.
    Error(Error),
}

impl From<String> for UnwrapFailure {
    fn from(reason: String) -> Self {
        Self::Reason(reason)
    }
}

impl From<Error> for UnwrapFailure {
    fn from(error: Error) -> Self {
        Self::Error(error)
    }
}

/// [`first_data_key`] over the encrypted data keys (drawing on `budget`, the materials'
/// [`attempt_budget`](DecryptionMaterials::attempt_budget)), for keyrings that report every
/// failed attempt: the data key, or [`KeyringError::NoDecryptableKey`](crate::error::KeyringError::NoDecryptableKey)
/// listing each failure under `keyring` (or `none_matched` when no EDK was for this keyring).
pub(crate) async fn unwrap_first<'e, F, Fut>(
    keyring: &str,
    none_matched: &str,
    budget: Option<&AttemptBudget>,
    encrypted_data_keys: &'e [EncryptedDataKey],
    mut unwrap: impl FnMut(&'e EncryptedDataKey) -> Fut,
) -> Result<DataKey>
where
    F: Into<UnwrapFailure>,
    Fut: Future<Output = Option<std::result::Result<DataKey, F>>>,
{
    let stopped = |b: &AttemptBudget| UnwrapFailure::Reason(b.reason());
    let failures = match first_data_key(encrypted_data_keys, budget, stopped, |edk| {
        let attempt = unwrap(edk);
        async move { attempt.await.map(|r| r.map_err(Into::into)) }
    })
    .await
    {
        Ok(key) => return Ok(key),
        Err(failures) => failures,
    };
    let attempts = failures
        .into_iter()
        .map(|failure| match failure {
            UnwrapFailure::Reason(reason) => crate::error::KeyringAttempt::new(keyring, reason),
            UnwrapFailure::Error(error) => crate::error::KeyringAttempt::failed(keyring, error),
        })
        .collect();
    Err(no_decryptable_key(attempts, keyring, none_matched))
}

/// The materials' data key, after generating one of the suite's length with `provider` when
/// they hold none (what every wrapping keyring does first on encrypt).
pub(crate) fn data_key_or_generate<'m>(
    materials: &'m mut EncryptionMaterials,
    provider: &crate::crypto::CryptoProvider,
) -> Result<&'m DataKey> {
    if materials.data_key().is_none() {
        let mut key = vec![0u8; materials.algorithm_suite().key_len()];
        provider.random.fill(&mut key)?;
        materials.set_data_key(DataKey::new(key))?;
    }
    Ok(materials.data_key().expect("set above"))
}
