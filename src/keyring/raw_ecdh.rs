//! The raw ECDH keyring (`framework/raw-ecdh-keyring.md`, `framework/key-agreement-schemas.md`):
//! wraps data keys with a key agreed by elliptic-curve Diffie-Hellman between a sender and a
//! recipient key pair, on P-256, P-384 or P-521.
//!
//! The wire format and the wrapping, which the AWS KMS ECDH keyring shares, are in
//! `keyring::ecdh_wrap` (crate-private).

use std::fmt;

use futures::future::BoxFuture;

use crate::crypto::{CryptoProvider, EcdhCurve, EcdhPrivateKey, default_provider};
use crate::error::{KeyringError, Result};
use crate::keyring::ecdh_wrap::{Agreement, Info, check_ciphertext_len, edk_info};

pub use crate::keyring::ecdh_wrap::{KMS_ECDH_PROVIDER_ID, RAW_ECDH_PROVIDER_ID};
use crate::keyring::{Keyring, unwrap_first};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};

/// How a raw ECDH keyring gets its key pairs (the specification's key agreement schemas).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum RawEcdhScheme<'a> {
    /// `RawPrivateKeyToStaticPublicKey`: the sender's static private key (PEM PKCS#8) and the
    /// recipient's public key (DER SubjectPublicKeyInfo). Encrypts and decrypts; either party
    /// can decrypt, the recipient configuring itself with its own private key and the sender's
    /// public key.
    RawPrivateKeyToStaticPublicKey {
        /// The sender's private key, PEM PKCS#8.
        sender_private_key_pem: &'a str,
        /// The recipient's public key, DER SubjectPublicKeyInfo.
        recipient_public_key_der: &'a [u8],
    },
    /// `EphemeralPrivateKeyToStaticPublicKey`: a fresh key pair per message to the recipient's
    /// public key (DER SubjectPublicKeyInfo). Encrypts only.
    EphemeralPrivateKeyToStaticPublicKey {
        /// The recipient's public key, DER SubjectPublicKeyInfo.
        recipient_public_key_der: &'a [u8],
    },
    /// `PublicKeyDiscovery`: the recipient's private key (PEM PKCS#8); decrypts any message sent
    /// to it, whoever the sender. Decrypts only.
    PublicKeyDiscovery {
        /// The recipient's private key, PEM PKCS#8.
        recipient_private_key_pem: &'a str,
    },
}

impl fmt::Debug for RawEcdhScheme<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RawPrivateKeyToStaticPublicKey { .. } => "RawPrivateKeyToStaticPublicKey",
            Self::EphemeralPrivateKeyToStaticPublicKey { .. } => {
                "EphemeralPrivateKeyToStaticPublicKey"
            }
            Self::PublicKeyDiscovery { .. } => "PublicKeyDiscovery",
        })
    }
}

enum Scheme {
    Static {
        sender: Box<dyn EcdhPrivateKey>,
        sender_public: Vec<u8>,
        recipient_public: Vec<u8>,
    },
    Ephemeral {
        recipient_public: Vec<u8>,
    },
    Discovery {
        recipient: Box<dyn EcdhPrivateKey>,
        recipient_public: Vec<u8>,
    },
}

/// A keyring that wraps data keys under ECDH-agreed keys.
///
/// Private keys are held only inside the crypto backend, which zeroizes them on drop; they never
/// appear in `Debug` output.
pub struct RawEcdhKeyring {
    curve: EcdhCurve,
    scheme: Scheme,
    provider: CryptoProvider,
}

impl fmt::Debug for RawEcdhKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match &self.scheme {
            Scheme::Static { .. } => "RawPrivateKeyToStaticPublicKey",
            Scheme::Ephemeral { .. } => "EphemeralPrivateKeyToStaticPublicKey",
            Scheme::Discovery { .. } => "PublicKeyDiscovery",
        };
        f.debug_struct("RawEcdhKeyring")
            .field("curve", &self.curve)
            .field("scheme", &scheme)
            .finish_non_exhaustive()
    }
}

impl RawEcdhKeyring {
    /// A raw ECDH keyring on `curve` with the default crypto provider.
    ///
    /// # Errors
    /// [`KeyringError::InvalidKey`] when a key does not parse, is on another curve, or is the
    /// point at infinity.
    pub fn new(curve: EcdhCurve, scheme: RawEcdhScheme<'_>) -> Result<Self> {
        Self::with_crypto_provider(curve, scheme, default_provider())
    }

    /// A raw ECDH keyring using `provider` for its cryptography.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_crypto_provider(
        curve: EcdhCurve,
        scheme: RawEcdhScheme<'_>,
        provider: &CryptoProvider,
    ) -> Result<Self> {
        let ecdh = provider.ecdh;
        let scheme = match scheme {
            RawEcdhScheme::RawPrivateKeyToStaticPublicKey {
                sender_private_key_pem,
                recipient_public_key_der,
            } => {
                let sender = ecdh.private_key_from_pem(curve, sender_private_key_pem)?;
                Scheme::Static {
                    sender_public: sender.public_key(),
                    sender,
                    recipient_public: ecdh.public_key_from_der(curve, recipient_public_key_der)?,
                }
            }
            RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey {
                recipient_public_key_der,
            } => Scheme::Ephemeral {
                recipient_public: ecdh.public_key_from_der(curve, recipient_public_key_der)?,
            },
            RawEcdhScheme::PublicKeyDiscovery {
                recipient_private_key_pem,
            } => {
                let recipient = ecdh.private_key_from_pem(curve, recipient_private_key_pem)?;
                Scheme::Discovery {
                    recipient_public: recipient.public_key(),
                    recipient,
                }
            }
        };
        Ok(Self {
            curve,
            scheme,
            provider: *provider,
        })
    }

    /// The curve.
    pub fn curve(&self) -> EcdhCurve {
        self.curve
    }

    fn describe(&self) -> String {
        format!("raw-ecdh({})", self.curve.kdf_name())
    }

    /// The private key and the peer public key to agree with, when the EDK is for this keyring.
    fn match_edk(&self, info: &Info<'_>) -> Option<(&dyn EcdhPrivateKey, Vec<u8>)> {
        match &self.scheme {
            Scheme::Discovery {
                recipient,
                recipient_public,
            } => (info.recipient == recipient_public.as_slice())
                .then(|| (recipient.as_ref(), info.sender.to_vec())),
            Scheme::Static {
                sender,
                sender_public,
                recipient_public,
            } => {
                // Either way the agreement is between our private key and the other party's
                // public key, which is the configured "recipient" key.
                info.is_between(sender_public, recipient_public)
                    .then(|| (sender.as_ref(), recipient_public.clone()))
            }
            Scheme::Ephemeral { .. } => None,
        }
    }

    /// `None` when the EDK is not for this keyring, else its data key or why it does not
    /// unwrap.
    fn try_edk(
        &self,
        edk: &EncryptedDataKey,
        context: &[u8],
        key_len: usize,
    ) -> Option<Result<DataKey, String>> {
        let info = match edk_info(self.curve, edk)? {
            Ok(info) => info,
            Err(reason) => return Some(Err(reason)),
        };
        let (private, peer) = self.match_edk(&info)?;
        Some(self.unwrap_one(edk, &info, private, &peer, context, key_len))
    }

    fn unwrap_one(
        &self,
        edk: &EncryptedDataKey,
        info: &Info<'_>,
        private: &dyn EcdhPrivateKey,
        peer: &[u8],
        context: &[u8],
        key_len: usize,
    ) -> Result<DataKey, String> {
        check_ciphertext_len(edk, key_len)?;
        let shared = private
            .agree(peer)
            .map_err(|_| "key agreement failed (invalid public key)".to_owned())?;
        Agreement {
            provider: &self.provider,
            curve: self.curve,
            shared: &shared,
            sender: info.sender,
            recipient: info.recipient,
        }
        .unwrap(edk, context, key_len)
    }
}

impl Keyring for RawEcdhKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let ephemeral;
            let (private, sender_public, recipient_public): (&dyn EcdhPrivateKey, Vec<u8>, &[u8]) =
                match &self.scheme {
                    Scheme::Discovery { .. } => {
                        return Err(KeyringError::Unsupported(format!(
                            "{} is configured for public key discovery, which cannot encrypt",
                            self.describe()
                        ))
                        .into());
                    }
                    Scheme::Static {
                        sender,
                        sender_public,
                        recipient_public,
                    } => (sender.as_ref(), sender_public.clone(), recipient_public),
                    Scheme::Ephemeral { recipient_public } => {
                        ephemeral = self.provider.ecdh.generate(self.curve)?;
                        (ephemeral.as_ref(), ephemeral.public_key(), recipient_public)
                    }
                };
            let context = materials.encryption_context().serialize()?;
            let shared = private.agree(recipient_public)?;
            Agreement {
                provider: &self.provider,
                curve: self.curve,
                shared: &shared,
                sender: &sender_public,
                recipient: recipient_public,
            }
            .wrap(&context, &mut materials, RAW_ECDH_PROVIDER_ID)?;
            Ok(materials)
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            if let Scheme::Ephemeral { .. } = self.scheme {
                return Err(KeyringError::Unsupported(format!(
                    "{} is configured with an ephemeral sender key, which cannot decrypt",
                    self.describe()
                ))
                .into());
            }
            crate::keyring::ensure_no_data_key(&materials)?;
            let context = materials.encryption_context().serialize()?;
            let key_len = materials.algorithm_suite().key_len();
            let key = unwrap_first(
                &self.describe(),
                "no encrypted data key is for these public keys",
                materials.attempt_budget(),
                encrypted_data_keys,
                |edk| std::future::ready(self.try_edk(edk, &context, key_len)),
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

    use zeroize::Zeroizing;

    use super::*;
    use crate::crypto::HashAlgorithm;
    use crate::error::{Error, KeyringAttempt};
    use crate::format::context::EncryptionContext;
    use crate::keyring::kdf_ctr;
    use crate::suite::AlgorithmSuite;

    const SUITE: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    const CURVES: [EcdhCurve; 3] = [EcdhCurve::P256, EcdhCurve::P384, EcdhCurve::P521];

    struct Party {
        pem: Zeroizing<String>,
        der: Vec<u8>,
    }

    fn party(curve: EcdhCurve) -> Party {
        let ecdh = default_provider().ecdh;
        let key = ecdh.generate(curve).unwrap();
        Party {
            pem: key.to_pkcs8_pem().unwrap(),
            der: ecdh.public_key_to_der(curve, &key.public_key()).unwrap(),
        }
    }

    fn context() -> EncryptionContext {
        [("tenant", "a"), ("purpose", "ecdh")].into_iter().collect()
    }

    fn enc() -> EncryptionMaterials {
        EncryptionMaterials::new(SUITE, context(), vec![], None)
    }

    fn dec() -> DecryptionMaterials {
        DecryptionMaterials::new(SUITE, context(), vec![], None)
    }

    fn fixed(sender: &Party, recipient: &Party, curve: EcdhCurve) -> RawEcdhKeyring {
        RawEcdhKeyring::new(
            curve,
            RawEcdhScheme::RawPrivateKeyToStaticPublicKey {
                sender_private_key_pem: &sender.pem,
                recipient_public_key_der: &recipient.der,
            },
        )
        .unwrap()
    }

    fn discovery(recipient: &Party, curve: EcdhCurve) -> RawEcdhKeyring {
        RawEcdhKeyring::new(
            curve,
            RawEcdhScheme::PublicKeyDiscovery {
                recipient_private_key_pem: &recipient.pem,
            },
        )
        .unwrap()
    }

    fn no_key(r: Result<DecryptionMaterials>) -> Vec<KeyringAttempt> {
        match r {
            Err(Error::Keyring(KeyringError::NoDecryptableKey { attempts })) => attempts,
            other => panic!("expected NoDecryptableKey, got {other:?}"),
        }
    }

    #[test]
    fn every_scheme_round_trips_on_every_curve() {
        for curve in CURVES {
            let (alice, bob) = (party(curve), party(curve));
            // Static: alice → bob. Alice, bob (configured the other way round) and bob's
            // discovery keyring all decrypt.
            let out = block_on(fixed(&alice, &bob, curve).on_encrypt(enc())).unwrap();
            let edk = &out.encrypted_data_keys()[0];
            assert_eq!(edk.provider_id(), "raw-ecdh");
            assert_eq!(edk.provider_info().len(), 9 + 2 * curve.compressed_len());
            assert_eq!(edk.ciphertext().len(), 32 + 32 + 32 + 16);
            for k in [
                fixed(&alice, &bob, curve),
                fixed(&bob, &alice, curve),
                discovery(&bob, curve),
            ] {
                let got = block_on(k.on_decrypt(dec(), out.encrypted_data_keys())).unwrap();
                assert_eq!(
                    got.data_key().unwrap().expose(),
                    out.data_key().unwrap().expose()
                );
            }
            // Ephemeral: to bob; only bob's discovery keyring decrypts.
            let eph = RawEcdhKeyring::new(
                curve,
                RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey {
                    recipient_public_key_der: &bob.der,
                },
            )
            .unwrap();
            let out = block_on(eph.on_encrypt(enc())).unwrap();
            let got = block_on(discovery(&bob, curve).on_decrypt(dec(), out.encrypted_data_keys()))
                .unwrap();
            assert_eq!(
                got.data_key().unwrap().expose(),
                out.data_key().unwrap().expose()
            );
            no_key(block_on(
                discovery(&alice, curve).on_decrypt(dec(), out.encrypted_data_keys()),
            ));
            // Wrong operation for the scheme.
            assert!(matches!(
                block_on(eph.on_decrypt(dec(), out.encrypted_data_keys())),
                Err(Error::Keyring(KeyringError::Unsupported(_)))
            ));
            assert!(matches!(
                block_on(discovery(&bob, curve).on_encrypt(enc())),
                Err(Error::Keyring(KeyringError::Unsupported(_)))
            ));
        }
    }

    #[test]
    fn failure_paths_have_typed_errors() {
        let curve = EcdhCurve::P256;
        let (alice, bob, carol) = (party(curve), party(curve), party(curve));
        let out = block_on(fixed(&alice, &bob, curve).on_encrypt(enc())).unwrap();
        let edk = out.encrypted_data_keys()[0].clone();
        let bob_dec = discovery(&bob, curve);

        // Wrong key: carol's keyring is not a party to the EDK.
        let attempts = no_key(block_on(
            discovery(&carol, curve).on_decrypt(dec(), std::slice::from_ref(&edk)),
        ));
        assert!(attempts[0].reason.contains("no encrypted data key"));
        no_key(block_on(
            fixed(&alice, &carol, curve).on_decrypt(dec(), std::slice::from_ref(&edk)),
        ));

        // Wrong provider ID: ignored.
        let other = EncryptedDataKey::new(
            "raw-ecdh-x",
            edk.provider_info().to_vec(),
            edk.ciphertext().to_vec(),
        );
        no_key(block_on(bob_dec.on_decrypt(dec(), &[other])));

        // Tampered commit key, salt, wrapped key or tag.
        for at in [0, 40, 70, 100] {
            let mut ct = edk.ciphertext().to_vec();
            ct[at] ^= 1;
            let bad = EncryptedDataKey::new("raw-ecdh", edk.provider_info().to_vec(), ct);
            let attempts = no_key(block_on(bob_dec.on_decrypt(dec(), &[bad])));
            assert_eq!(attempts.len(), 1, "byte {at}");
        }
        // Truncated ciphertext and malformed provider info.
        let short = EncryptedDataKey::new(
            "raw-ecdh",
            edk.provider_info().to_vec(),
            edk.ciphertext()[..50].to_vec(),
        );
        assert!(
            no_key(block_on(bob_dec.on_decrypt(dec(), &[short])))[0]
                .reason
                .contains("wrong length")
        );
        let mut info = edk.provider_info().to_vec();
        info[0] = 2;
        let bad_info = EncryptedDataKey::new("raw-ecdh", info, edk.ciphertext().to_vec());
        assert!(
            no_key(block_on(bob_dec.on_decrypt(dec(), &[bad_info])))[0]
                .reason
                .contains("malformed")
        );

        // Another encryption context: the commit key no longer matches.
        let other_ec =
            DecryptionMaterials::new(SUITE, [("tenant", "b")].into_iter().collect(), vec![], None);
        let attempts = no_key(block_on(
            bob_dec.on_decrypt(other_ec, std::slice::from_ref(&edk)),
        ));
        assert!(attempts[0].reason.contains("commitment key"));

        // A data key already present.
        let mut m = dec();
        m.set_data_key(DataKey::new(vec![0; 32])).unwrap();
        assert!(matches!(
            block_on(bob_dec.on_decrypt(m, &[edk])),
            Err(Error::Keyring(KeyringError::InvalidMaterials(_)))
        ));
    }

    #[test]
    fn keys_must_match_the_curve() {
        let p256 = party(EcdhCurve::P256);
        for curve in [EcdhCurve::P384, EcdhCurve::P521] {
            assert!(matches!(
                RawEcdhKeyring::new(
                    curve,
                    RawEcdhScheme::PublicKeyDiscovery {
                        recipient_private_key_pem: &p256.pem
                    }
                ),
                Err(Error::Keyring(KeyringError::InvalidKey(_)))
            ));
            assert!(matches!(
                RawEcdhKeyring::new(
                    curve,
                    RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey {
                        recipient_public_key_der: &p256.der
                    }
                ),
                Err(Error::Keyring(KeyringError::InvalidKey(_)))
            ));
        }
        let k = discovery(&p256, EcdhCurve::P256);
        assert!(!format!("{k:?}").contains("BEGIN"));
    }

    #[test]
    fn kdf_matches_the_sp800_108_layout() {
        // One HMAC-SHA384 block per 48 bytes: two blocks, counters 1 and 2, truncated to 64.
        let p = default_provider();
        let z = [7u8; 32];
        let okm = kdf_ctr(p, HashAlgorithm::Sha384, &z, b"label", b"salt", 64).unwrap();
        let block = |i: u32| {
            p.hash.hmac(
                HashAlgorithm::Sha384,
                &z,
                &[&i.to_be_bytes(), b"label\0salt", &512u32.to_be_bytes()],
            )
        };
        let mut expected = block(1);
        expected.extend(block(2));
        assert_eq!(&okm[..], &expected[..64]);
    }
}
