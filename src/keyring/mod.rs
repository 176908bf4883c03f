//! Keyrings (`framework/keyring-interface.md`): they generate, wrap and unwrap data keys.
//!
//! The [`Keyring`] trait is async (a keyring may call a key service) and object-safe (a
//! multi-keyring holds `Arc<dyn Keyring>`s). Its futures are boxed: one allocation per call is
//! nothing next to a network round trip, and it keeps the trait usable as `dyn`.

use futures::future::BoxFuture;

use crate::error::Result;
use crate::materials::{DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};

pub mod multi;
pub mod raw_aes;
pub mod raw_rsa;

pub use multi::MultiKeyring;
pub use raw_aes::RawAesKeyring;
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
    fn on_encrypt<'a>(&'a self, materials: EncryptionMaterials) -> BoxFuture<'a, Result<EncryptionMaterials>>;

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
