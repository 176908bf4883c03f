//! The required-encryption-context CMM (`framework/required-encryption-context-cmm.md`).
//!
//! It names encryption context keys that every message must have and that are **not stored** in
//! the message:
//!
//! ```text
//! encrypt:  caller's context must hold every required key
//!           → materials list them as required keys
//!           → the encryptor leaves their pairs out of the header and appends them to the
//!             header tag's AAD; keyrings still see (and bind) the full context
//! decrypt:  the caller must supply the pairs again (the reproduced context)
//!           → the default CMM adds them to the materials' context and required keys
//!           → the header tag and the keyrings authenticate them
//! ```
//!
//! A message encrypted this way cannot be decrypted without the required pairs, and decrypting
//! with different values fails authentication.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::cmm::{
    CryptographicMaterialsManager, DecryptMaterialsRequest, DefaultCmm, EncryptionMaterialsRequest,
};
use crate::error::{PolicyError, Result};
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

/// A CMM that requires, and keeps out of the message, a set of encryption context keys.
#[derive(Debug, Clone)]
pub struct RequiredEncryptionContextCmm {
    underlying: Arc<dyn CryptographicMaterialsManager>,
    required_keys: Vec<String>,
}

impl RequiredEncryptionContextCmm {
    /// Requires `required_keys` around another CMM.
    pub fn new(
        underlying: Arc<dyn CryptographicMaterialsManager>,
        required_keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let mut required_keys: Vec<String> = required_keys.into_iter().map(Into::into).collect();
        required_keys.sort();
        required_keys.dedup();
        Self {
            underlying,
            required_keys,
        }
    }

    /// Requires `required_keys` around a [`DefaultCmm`] over `keyring`.
    pub fn with_keyring(
        keyring: Arc<dyn Keyring>,
        required_keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self::new(Arc::new(DefaultCmm::new(keyring)), required_keys)
    }

    /// The required keys, sorted.
    pub fn required_keys(&self) -> &[String] {
        &self.required_keys
    }
}

impl CryptographicMaterialsManager for RequiredEncryptionContextCmm {
    fn get_encryption_materials<'a>(
        &'a self,
        mut request: EncryptionMaterialsRequest,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            for key in &self.required_keys {
                if !request.encryption_context.contains_key(key) {
                    return Err(
                        PolicyError::MissingRequiredEncryptionContextKey(key.clone()).into(),
                    );
                }
                if !request.required_encryption_context_keys.contains(key) {
                    request.required_encryption_context_keys.push(key.clone());
                }
            }
            let materials = self.underlying.get_encryption_materials(request).await?;
            for key in &self.required_keys {
                if !materials.required_encryption_context_keys().contains(key) {
                    return Err(PolicyError::MaterialsMismatch(
                        "the underlying CMM dropped a required encryption context key",
                    )
                    .into());
                }
            }
            Ok(materials)
        })
    }

    fn decrypt_materials<'a>(
        &'a self,
        request: DecryptMaterialsRequest,
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            for key in &self.required_keys {
                let supplied = request
                    .reproduced_encryption_context
                    .as_ref()
                    .is_some_and(|ec| ec.contains_key(key));
                if !supplied {
                    return Err(
                        PolicyError::MissingRequiredEncryptionContextKey(key.clone()).into(),
                    );
                }
            }
            let materials = self.underlying.decrypt_materials(request).await?;
            for key in &self.required_keys {
                if !materials.encryption_context().contains_key(key) {
                    return Err(PolicyError::MaterialsMismatch(
                        "the underlying CMM dropped a required encryption context key",
                    )
                    .into());
                }
            }
            Ok(materials)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::IntoFuture;

    use futures::executor::block_on;

    use super::*;
    use crate::client::{Client, MaterialsSource};
    use crate::error::{AuthError, Error, KeyringError};
    use crate::keyring::RawAesKeyring;

    fn cmm(keys: &[&str]) -> MaterialsSource {
        let keyring = Arc::new(RawAesKeyring::new("ns", "k", &[7; 32]).unwrap());
        MaterialsSource::cmm(RequiredEncryptionContextCmm::with_keyring(
            keyring,
            keys.iter().copied(),
        ))
    }

    fn plain() -> MaterialsSource {
        MaterialsSource::keyring(RawAesKeyring::new("ns", "k", &[7; 32]).unwrap())
    }

    const EC: [(&str, &str); 3] = [("a", "1"), ("b", "2"), ("c", "3")];

    #[test]
    fn required_pairs_stay_out_of_the_header_and_must_be_reproduced() {
        let client = Client::new();
        let source = cmm(&["a", "b"]);
        let msg = block_on(
            client
                .encrypt(&source, b"pt")
                .encryption_context(EC)
                .into_future(),
        )
        .unwrap();
        let stored = msg.header.encryption_context();
        assert_eq!(stored.get("c"), Some("3"));
        assert!(!stored.contains_key("a") && !stored.contains_key("b"));
        for needle in [&b"\x00\x01a\x00\x011"[..], b"\x00\x01b\x00\x012"] {
            assert!(!msg.ciphertext.windows(needle.len()).any(|w| w == needle));
        }
        assert_eq!(msg.encryption_context.get("a"), Some("1"));

        // Decrypt with the pairs supplied again, through the same CMM or a plain keyring.
        for src in [&source, &plain()] {
            let out = block_on(
                client
                    .decrypt(src, &msg.ciphertext)
                    .encryption_context([("a", "1"), ("b", "2")])
                    .into_future(),
            )
            .unwrap();
            assert_eq!(out.plaintext, b"pt");
            assert_eq!(out.encryption_context.get("a"), Some("1"));
            assert_eq!(out.encryption_context.get("c"), Some("3"));
        }

        // Required-EC CMM without the reproduced pair: refused before any keyring runs.
        match block_on(
            client
                .decrypt(&source, &msg.ciphertext)
                .encryption_context([("a", "1")])
                .into_future(),
        ) {
            Err(Error::Policy(PolicyError::MissingRequiredEncryptionContextKey(k))) => {
                assert_eq!(k, "b")
            }
            other => panic!("expected a missing-key refusal, got {other:?}"),
        }
        // A plain keyring without the pairs: the keyring's AAD no longer matches.
        assert!(matches!(
            block_on(client.decrypt(plain(), &msg.ciphertext).into_future()),
            Err(Error::Keyring(KeyringError::NoDecryptableKey { .. }))
        ));
        // A wrong value: the keyring fails too.
        assert!(matches!(
            block_on(
                client
                    .decrypt(&source, &msg.ciphertext)
                    .encryption_context([("a", "1"), ("b", "X")])
                    .into_future()
            ),
            Err(Error::Keyring(KeyringError::NoDecryptableKey { .. }))
        ));
        // A reproduced pair that contradicts the header is refused.
        assert!(matches!(
            block_on(
                client
                    .decrypt(&source, &msg.ciphertext)
                    .encryption_context([("a", "1"), ("b", "2"), ("c", "other")])
                    .into_future()
            ),
            Err(Error::Policy(PolicyError::EncryptionContextMismatch(_)))
        ));
    }

    /// A keyring that returns a fixed data key whatever the context: only the header tag can
    /// then catch a wrong required pair.
    #[derive(Debug)]
    struct Fixed(RawAesKeyring);

    impl Keyring for Fixed {
        fn on_encrypt<'a>(
            &'a self,
            m: EncryptionMaterials,
        ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
            self.0.on_encrypt(m)
        }

        fn on_decrypt<'a>(
            &'a self,
            mut m: DecryptionMaterials,
            _edks: &'a [crate::EncryptedDataKey],
        ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
            Box::pin(async move {
                m.set_data_key(crate::DataKey::new(FIXED.to_vec()))?;
                Ok(m)
            })
        }
    }

    const FIXED: [u8; 32] = [0x33; 32];

    #[test]
    fn header_tag_authenticates_required_pairs() {
        // Encrypt with the fixed data key and a dummy EDK.
        #[derive(Debug)]
        struct Gen;
        impl Keyring for Gen {
            fn on_encrypt<'a>(
                &'a self,
                mut m: EncryptionMaterials,
            ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
                Box::pin(async move {
                    m.set_data_key(crate::DataKey::new(FIXED.to_vec()))?;
                    m.add_encrypted_data_key(crate::EncryptedDataKey::new(
                        "fixed",
                        vec![],
                        vec![0],
                    ));
                    Ok(m)
                })
            }
            fn on_decrypt<'a>(
                &'a self,
                _m: DecryptionMaterials,
                _e: &'a [crate::EncryptedDataKey],
            ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
                Box::pin(async { Err(KeyringError::Unsupported("encrypt only".into()).into()) })
            }
        }
        let client = Client::new();
        let enc = MaterialsSource::cmm(RequiredEncryptionContextCmm::with_keyring(
            Arc::new(Gen),
            ["a"],
        ));
        let msg = block_on(
            client
                .encrypt(&enc, b"pt")
                .encryption_context(EC)
                .into_future(),
        )
        .unwrap();
        let dec = MaterialsSource::keyring(Fixed(RawAesKeyring::new("ns", "k", &[7; 32]).unwrap()));
        let ok = block_on(
            client
                .decrypt(&dec, &msg.ciphertext)
                .encryption_context([("a", "1")])
                .into_future(),
        );
        assert_eq!(ok.unwrap().plaintext, b"pt");
        let bad = block_on(
            client
                .decrypt(&dec, &msg.ciphertext)
                .encryption_context([("a", "2")])
                .into_future(),
        );
        assert!(matches!(
            bad,
            Err(Error::Authentication(AuthError::HeaderAuth))
        ));
        let missing = block_on(client.decrypt(&dec, &msg.ciphertext).into_future());
        assert!(matches!(
            missing,
            Err(Error::Authentication(AuthError::HeaderAuth))
        ));
    }

    #[test]
    fn encrypt_needs_every_required_key() {
        let client = Client::new();
        let r = block_on(
            client
                .encrypt(cmm(&["a", "z"]), b"pt")
                .encryption_context(EC)
                .into_future(),
        );
        match r {
            Err(Error::Policy(PolicyError::MissingRequiredEncryptionContextKey(k))) => {
                assert_eq!(k, "z")
            }
            other => panic!("expected a missing-key refusal, got {other:?}"),
        }
    }
}
