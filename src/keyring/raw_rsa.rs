//! The raw RSA keyring (`framework/raw-rsa-keyring.md`): wraps data keys with a local RSA key.
//!
//! Wire-compatible with the Python `RawMasterKey` and Java `JceMasterKey` (RSA) and every raw
//! RSA keyring:
//!
//! ```text
//! provider id   = key namespace (UTF-8)
//! provider info = key name (UTF-8), exactly
//! ciphertext    = RSA-encrypt(public key, padding, data key)
//! ```
//!
//! Unlike the other keyrings, the encryption context is **not** bound to the wrapped key (RSA
//! encryption takes no associated data); the message's header tag still authenticates it.
//!
//! Encryption needs the public key and decryption the private key. The keyring never derives the
//! public key from the private one (the specification forbids it): give both to do both.

use std::fmt;

use futures::future::BoxFuture;

use crate::crypto::{CryptoProvider, RsaPadding, RsaPrivateKey, RsaPublicKey, default_provider};
use crate::error::{KeyringError, Result};
use crate::keyring::{Keyring, check_raw_provider_id, data_key_or_generate, unwrap_first};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};

/// A keyring holding a local RSA public key (to encrypt), private key (to decrypt), or both.
///
/// The private key is held only inside the crypto backend, which zeroizes it on drop; it never
/// appears in `Debug` output.
///
/// # Performance
/// RSA operations, decryption above all, are CPU-bound and run on the task that awaits the
/// keyring; they happen once per message, at header time.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public_key: Option<Box<dyn RsaPublicKey>>,
    private_key: Option<Box<dyn RsaPrivateKey>>,
    provider: CryptoProvider,
}

impl fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRsaKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("padding", &self.padding)
            .field(
                "public_key_bits",
                &self.public_key.as_ref().map(|k| k.bits()),
            )
            .field("has_private_key", &self.private_key.is_some())
            .finish()
    }
}

impl RawRsaKeyring {
    /// A raw RSA keyring with the default crypto provider.
    ///
    /// `public_key_pem` is a PEM X.509 SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`; PKCS#1
    /// `BEGIN RSA PUBLIC KEY` is accepted too) and is needed to encrypt. `private_key_pem` is a
    /// PEM PKCS#8 private key (`BEGIN PRIVATE KEY`; PKCS#1 `BEGIN RSA PRIVATE KEY` is accepted
    /// too) and is needed to decrypt.
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] when neither key is given or the namespace starts
    /// with `aws-kms`; [`KeyringError::InvalidKey`] when a key does not parse.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        padding: RsaPadding,
        public_key_pem: Option<&str>,
        private_key_pem: Option<&str>,
    ) -> Result<Self> {
        Self::with_crypto_provider(
            namespace,
            name,
            padding,
            public_key_pem,
            private_key_pem,
            default_provider(),
        )
    }

    /// A raw RSA keyring using `provider` for its cryptography.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_crypto_provider(
        namespace: impl Into<String>,
        name: impl Into<String>,
        padding: RsaPadding,
        public_key_pem: Option<&str>,
        private_key_pem: Option<&str>,
        provider: &CryptoProvider,
    ) -> Result<Self> {
        let namespace = namespace.into();
        check_raw_provider_id(&namespace)?;
        if public_key_pem.is_none() && private_key_pem.is_none() {
            return Err(KeyringError::InvalidConfiguration(
                "a raw RSA keyring needs a public or a private key".into(),
            )
            .into());
        }
        let public_key = public_key_pem
            .map(|pem| provider.rsa.public_key_from_pem(pem))
            .transpose()?;
        let private_key = private_key_pem
            .map(|pem| provider.rsa.private_key_from_pem(pem))
            .transpose()?;
        Ok(Self {
            namespace,
            name: name.into(),
            padding,
            public_key,
            private_key,
            provider: *provider,
        })
    }

    /// The key namespace (the provider ID of its encrypted data keys).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key name (the provider info of its encrypted data keys).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The padding scheme.
    pub fn padding(&self) -> RsaPadding {
        self.padding
    }

    fn describe(&self) -> String {
        format!("raw-rsa({}/{})", self.namespace, self.name)
    }

    /// A PKCS#1 v1.5 unwrapping is only a *candidate* data key: with implicit rejection (the
    /// RustCrypto backend) an encrypted data key for another RSA key with the same namespace
    /// and name unwraps to random bytes, of the data key's length about once in 250 tries.
    /// The candidate is checked against the message (key commitment or header tag) before it
    /// is taken; a wrong one is a failed attempt like any other, and the search goes on.
    ///
    /// Whatever the backend, a failed unwrapping (an explicit padding error from aws-lc, or a
    /// result of the wrong length) becomes a random candidate of the right length, checked the
    /// same way: bad padding and a wrong key then give the same error after the same work, so
    /// neither the error nor the work is a padding oracle.
    ///
    /// Without a check in the materials (a custom CMM that does not call
    /// [`DecryptionMaterials::with_request_checks`]) a candidate of the right length is taken
    /// as is, and a wrong one fails later, on the message's key commitment or header tag.
    fn pkcs1_candidate(
        &self,
        unwrapped: Result<zeroize::Zeroizing<Vec<u8>>>,
        materials: &DecryptionMaterials,
    ) -> std::result::Result<DataKey, String> {
        let key_len = materials.algorithm_suite().key_len();
        let (candidate, unwrapped_ok) = match unwrapped {
            Ok(key) if key.len() == key_len => (DataKey::from_slice(&key), true),
            Ok(_) | Err(_) => {
                let mut random = vec![0u8; key_len];
                if self.provider.random.fill(&mut random).is_err() {
                    return Err(UNWRAP_FAILED.into());
                }
                (DataKey::new(random), false)
            }
        };
        match materials.check_candidate(&candidate) {
            Some(true) => Ok(candidate),
            Some(false) => Err(UNWRAP_FAILED.into()),
            None if unwrapped_ok => Ok(candidate),
            None => Err(UNWRAP_FAILED.into()),
        }
    }
}

/// The one reason for every failed unwrapping: wrong key, bad padding, wrong candidate.
const UNWRAP_FAILED: &str =
    "unwrapping failed (wrong key or padding, or a corrupt encrypted data key)";

impl Keyring for RawRsaKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let Some(public_key) = &self.public_key else {
                return Err(KeyringError::Unsupported(format!(
                    "{} has no public key, so it cannot encrypt",
                    self.describe()
                ))
                .into());
            };
            let data_key = data_key_or_generate(&mut materials, &self.provider)?;
            let ciphertext = public_key.encrypt(self.padding, data_key.expose())?;
            materials.add_encrypted_data_key(EncryptedDataKey::new(
                self.namespace.clone(),
                self.name.as_bytes().to_vec(),
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
            let Some(private_key) = &self.private_key else {
                return Err(KeyringError::Unsupported(format!(
                    "{} has no private key, so it cannot decrypt",
                    self.describe()
                ))
                .into());
            };
            let key_len = materials.algorithm_suite().key_len();
            let key = unwrap_first(
                &self.describe(),
                "no encrypted data key names this key",
                materials.attempt_budget(),
                encrypted_data_keys,
                |edk| {
                    let ours = edk.provider_id() == self.namespace
                        && edk.provider_info() == self.name.as_bytes();
                    std::future::ready(ours.then(|| {
                        let unwrapped = private_key.decrypt(self.padding, edk.ciphertext());
                        match self.padding {
                            RsaPadding::Pkcs1V15 => self.pkcs1_candidate(unwrapped, &materials),
                            _ => match unwrapped {
                                Ok(key) if key.len() == key_len => Ok(DataKey::from_slice(&key)),
                                Ok(_) | Err(_) => Err(UNWRAP_FAILED.into()),
                            },
                        }
                    }))
                },
            )
            .await?;
            materials.set_data_key(key)?;
            Ok(materials)
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::error::{Error, KeyringAttempt};
    use crate::format::context::EncryptionContext;
    use crate::suite::AlgorithmSuite;

    // Test-only keys made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.
    const A_PRIVATE: &str = include_str!("testdata/rsa-2048-a.pem");
    const A_PRIVATE_PKCS1: &str = include_str!("testdata/rsa-2048-a.pkcs1.pem");
    const A_PUBLIC: &str = include_str!("testdata/rsa-2048-a.pub.pem");
    const B_PRIVATE: &str = include_str!("testdata/rsa-2048-b.pem");

    const SUITE: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    const PADDINGS: [RsaPadding; 5] = [
        RsaPadding::Pkcs1V15,
        RsaPadding::OaepSha1,
        RsaPadding::OaepSha256,
        RsaPadding::OaepSha384,
        RsaPadding::OaepSha512,
    ];

    fn enc_materials() -> EncryptionMaterials {
        EncryptionMaterials::new(SUITE, EncryptionContext::new(), vec![], None)
    }

    fn dec_materials() -> DecryptionMaterials {
        DecryptionMaterials::new(SUITE, EncryptionContext::new(), vec![], None)
    }

    fn keyring(padding: RsaPadding, public: Option<&str>, private: Option<&str>) -> RawRsaKeyring {
        RawRsaKeyring::new("ns", "rsa-key", padding, public, private).unwrap()
    }

    #[test]
    fn round_trip_every_padding_and_pkcs1_private_keys() {
        for padding in PADDINGS {
            let enc = keyring(padding, Some(A_PUBLIC), None);
            let out = block_on(enc.on_encrypt(enc_materials())).unwrap();
            let edk = &out.encrypted_data_keys()[0];
            assert_eq!(edk.provider_id(), "ns");
            assert_eq!(edk.provider_info(), b"rsa-key");
            assert_eq!(edk.ciphertext().len(), 256);
            for private in [A_PRIVATE, A_PRIVATE_PKCS1] {
                let dec = keyring(padding, None, Some(private));
                let got =
                    block_on(dec.on_decrypt(dec_materials(), out.encrypted_data_keys())).unwrap();
                assert_eq!(
                    got.data_key().unwrap().expose(),
                    out.data_key().unwrap().expose()
                );
            }
        }
    }

    #[test]
    fn wraps_an_existing_data_key() {
        let mut m = enc_materials();
        m.set_data_key(DataKey::new(vec![9; 32])).unwrap();
        let out =
            block_on(keyring(RsaPadding::OaepSha256, Some(A_PUBLIC), None).on_encrypt(m)).unwrap();
        assert_eq!(out.data_key().unwrap().expose(), &[9; 32]);
        let dec = keyring(RsaPadding::OaepSha256, None, Some(A_PRIVATE));
        let got = block_on(dec.on_decrypt(dec_materials(), out.encrypted_data_keys())).unwrap();
        assert_eq!(got.data_key().unwrap().expose(), &[9; 32]);
    }

    fn expect_no_key(result: Result<DecryptionMaterials>) -> Vec<KeyringAttempt> {
        match result {
            Err(Error::Keyring(KeyringError::NoDecryptableKey { attempts })) => attempts,
            other => panic!("expected NoDecryptableKey, got {other:?}"),
        }
    }

    #[test]
    fn failure_paths_have_typed_errors() {
        let enc = keyring(RsaPadding::OaepSha256, Some(A_PUBLIC), None);
        let out = block_on(enc.on_encrypt(enc_materials())).unwrap();
        let edks = out.encrypted_data_keys();

        // Wrong private key (same name and namespace).
        let wrong = keyring(RsaPadding::OaepSha256, None, Some(B_PRIVATE));
        let attempts = expect_no_key(block_on(wrong.on_decrypt(dec_materials(), edks)));
        assert_eq!(attempts.len(), 1);
        assert!(attempts[0].reason.contains("unwrapping failed"));

        // Wrong padding.
        let wrong = keyring(RsaPadding::OaepSha512, None, Some(A_PRIVATE));
        expect_no_key(block_on(wrong.on_decrypt(dec_materials(), edks)));

        // Wrong provider ID or key name: no attempt at all.
        for (ns, name) in [("other", "rsa-key"), ("ns", "other-key")] {
            let k = RawRsaKeyring::new(ns, name, RsaPadding::OaepSha256, None, Some(A_PRIVATE))
                .unwrap();
            let attempts = expect_no_key(block_on(k.on_decrypt(dec_materials(), edks)));
            assert!(
                attempts[0]
                    .reason
                    .contains("no encrypted data key names this key")
            );
        }

        // Tampered ciphertext.
        let mut ct = edks[0].ciphertext().to_vec();
        ct[100] ^= 1;
        let tampered = [EncryptedDataKey::new("ns", b"rsa-key".to_vec(), ct)];
        let right = keyring(RsaPadding::OaepSha256, None, Some(A_PRIVATE));
        expect_no_key(block_on(right.on_decrypt(dec_materials(), &tampered)));
        // Truncated ciphertext.
        let short = [EncryptedDataKey::new(
            "ns",
            b"rsa-key".to_vec(),
            vec![1, 2, 3],
        )];
        expect_no_key(block_on(right.on_decrypt(dec_materials(), &short)));

        // Missing private key.
        match block_on(enc.on_decrypt(dec_materials(), edks)) {
            Err(Error::Keyring(KeyringError::Unsupported(msg))) => {
                assert!(msg.contains("no private key"))
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
        // Missing public key: encrypt does not derive it from the private key.
        match block_on(right.on_encrypt(enc_materials())) {
            Err(Error::Keyring(KeyringError::Unsupported(msg))) => {
                assert!(msg.contains("no public key"))
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }

        // Materials that already hold a data key.
        let mut m = dec_materials();
        m.set_data_key(DataKey::new(vec![0; 32])).unwrap();
        assert!(matches!(
            block_on(right.on_decrypt(m, edks)),
            Err(Error::Keyring(KeyringError::InvalidMaterials(_)))
        ));
    }

    #[test]
    fn a_wrong_pkcs1_key_never_yields_a_data_key_of_another_length() {
        // Implicit rejection returns a pseudo-random message for a wrong key; the keyring must
        // treat a result of the wrong length as a failure.
        let enc = keyring(RsaPadding::Pkcs1V15, Some(A_PUBLIC), None);
        let out = block_on(enc.on_encrypt(enc_materials())).unwrap();
        let wrong = keyring(RsaPadding::Pkcs1V15, None, Some(B_PRIVATE));
        match block_on(wrong.on_decrypt(dec_materials(), out.encrypted_data_keys())) {
            Err(Error::Keyring(KeyringError::NoDecryptableKey { .. })) => {}
            Ok(m) => {
                // Only a same-length synthetic key could get here; it must not be the real one.
                assert_ne!(
                    m.data_key().unwrap().expose(),
                    out.data_key().unwrap().expose()
                );
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert!(matches!(
            RawRsaKeyring::new("ns", "k", RsaPadding::OaepSha256, None, None),
            Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
        ));
        assert!(matches!(
            RawRsaKeyring::new(
                "aws-kms-x",
                "k",
                RsaPadding::OaepSha256,
                Some(A_PUBLIC),
                None
            ),
            Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
        ));
        assert!(matches!(
            RawRsaKeyring::new("ns", "k", RsaPadding::OaepSha256, Some("not a key"), None),
            Err(Error::Keyring(KeyringError::InvalidKey(_)))
        ));
        assert!(matches!(
            RawRsaKeyring::new("ns", "k", RsaPadding::OaepSha256, None, Some(A_PUBLIC)),
            Err(Error::Keyring(KeyringError::InvalidKey(_)))
        ));
        let k = keyring(RsaPadding::OaepSha256, Some(A_PUBLIC), Some(A_PRIVATE));
        let printed = format!("{k:?}");
        assert!(printed.contains("public_key_bits: Some(2048)") && !printed.contains("BEGIN"));
    }
}
