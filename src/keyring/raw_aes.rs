//! The raw AES keyring (`framework/raw-aes-keyring.md`): wraps data keys with a local AES key.
//!
//! Wire-compatible with the Python `RawMasterKey` and Java `JceMasterKey` (AES) and every raw
//! AES keyring:
//!
//! ```text
//! provider id   = key namespace (UTF-8)
//! provider info = key name ‖ u32 128 (tag bits) ‖ u32 12 (IV length) ‖ IV (12)
//! ciphertext    = AES-GCM(wrapping key, IV, data key, AAD = canonical encryption context) ‖ tag
//! ```

use std::fmt;

use futures::future::BoxFuture;

use crate::crypto::{AeadKey, CryptoProvider, default_provider};
use crate::error::{KeyringError, Result};
use crate::keyring::{Keyring, check_raw_provider_id, data_key_or_generate, unwrap_first};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::suite::{IV_LEN, TAG_LEN};

/// A keyring holding one local AES-128/192/256 wrapping key.
///
/// The key is kept only as the backend's keyed AES-GCM object, which zeroizes on drop; it never
/// appears in `Debug` output.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: Box<dyn AeadKey>,
    key_bits: usize,
    provider: CryptoProvider,
}

impl fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("key_bits", &self.key_bits)
            .finish_non_exhaustive()
    }
}

impl RawAesKeyring {
    /// A raw AES keyring with the default crypto provider.
    ///
    /// # Errors
    /// When the key is not 16, 24 or 32 bytes, or the namespace starts with `aws-kms`.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        wrapping_key: &[u8],
    ) -> Result<Self> {
        Self::with_crypto_provider(namespace, name, wrapping_key, default_provider())
    }

    /// A raw AES keyring using `provider` for its cryptography.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_crypto_provider(
        namespace: impl Into<String>,
        name: impl Into<String>,
        wrapping_key: &[u8],
        provider: &CryptoProvider,
    ) -> Result<Self> {
        let namespace = namespace.into();
        check_raw_provider_id(&namespace)?;
        if !matches!(wrapping_key.len(), 16 | 24 | 32) {
            return Err(KeyringError::InvalidKey(format!(
                "raw AES wrapping key must be 16, 24 or 32 bytes, not {}",
                wrapping_key.len()
            ))
            .into());
        }
        Ok(Self {
            namespace,
            name: name.into(),
            key: provider.aead.key(wrapping_key)?,
            key_bits: wrapping_key.len() * 8,
            provider: *provider,
        })
    }

    /// The key namespace (the provider ID of its encrypted data keys).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!("raw-aes({}/{})", self.namespace, self.name)
    }

    /// The IV of one of our encrypted data keys, or why it is not ours.
    fn match_edk(
        &self,
        edk: &EncryptedDataKey,
        key_len: usize,
    ) -> Result<[u8; IV_LEN], &'static str> {
        if edk.provider_id() != self.namespace {
            return Err("provider ID differs");
        }
        let info = edk.provider_info();
        let name = self.name.as_bytes();
        if info.len() != name.len() + 8 + IV_LEN || !info.starts_with(name) {
            return Err("key name differs");
        }
        let rest = &info[name.len()..];
        if rest[..4] != 128u32.to_be_bytes() || rest[4..8] != (IV_LEN as u32).to_be_bytes() {
            return Err("tag or IV length is not AES-GCM 128/12");
        }
        if edk.ciphertext().len() != key_len + TAG_LEN {
            return Err("wrapped key has the wrong length");
        }
        Ok(rest[8..].try_into().expect("length checked"))
    }

    /// `None` when the EDK is not ours, else its data key or why it does not unwrap.
    fn try_edk(
        &self,
        edk: &EncryptedDataKey,
        aad: &[u8],
        key_len: usize,
    ) -> Option<Result<DataKey, String>> {
        let iv = self.match_edk(edk, key_len).ok()?;
        let (wrapped, tag) = edk.ciphertext().split_at(key_len);
        let mut key = zeroize::Zeroizing::new(wrapped.to_vec());
        let tag: [u8; TAG_LEN] = tag.try_into().expect("length checked");
        Some(match self.key.open_in_place(&iv, aad, &mut key, &tag) {
            Ok(()) => Ok(DataKey::from_slice(&key)),
            Err(_) => Err("unwrapping failed (wrong key or encryption context)".into()),
        })
    }
}

impl Keyring for RawAesKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let aad = materials.encryption_context().serialize()?;
            let data_key = data_key_or_generate(&mut materials, &self.provider)?;
            let mut iv = [0u8; IV_LEN];
            self.provider.random.fill(&mut iv)?;
            let mut ciphertext = data_key.expose().to_vec();
            let tag = self.key.seal_in_place(&iv, &aad, &mut ciphertext)?;
            ciphertext.extend_from_slice(&tag);
            let mut info = Vec::with_capacity(self.name.len() + 8 + IV_LEN);
            info.extend_from_slice(self.name.as_bytes());
            info.extend_from_slice(&128u32.to_be_bytes());
            info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
            info.extend_from_slice(&iv);
            materials.add_encrypted_data_key(EncryptedDataKey::new(
                self.namespace.clone(),
                info,
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
            let aad = materials.encryption_context().serialize()?;
            let key_len = materials.algorithm_suite().key_len();
            let key = unwrap_first(
                &self.describe(),
                "no encrypted data key names this key",
                materials.attempt_budget(),
                encrypted_data_keys,
                |edk| std::future::ready(self.try_edk(edk, &aad, key_len)),
            )
            .await?;
            materials.set_data_key(key)?;
            Ok(materials)
        })
    }
}
