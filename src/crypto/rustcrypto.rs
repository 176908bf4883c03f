//! The RustCrypto backend: aes-gcm, hkdf, hmac, sha2, p256, p384, p521, rsa and getrandom.

mod ecdh_backend;
mod rsa_backend;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::{
    Aead, AeadKey, CryptoProvider, Ecdsa, HashAlgorithm, Hashing, SecureRandom, Signer, Verifier,
};
use crate::crypto::SigningKey;
use crate::error::{AuthError, CryptoAlgorithm, CryptoError, Error, KeyringError, Result};
use crate::suite::{IV_LEN, SignatureAlgorithm, TAG_LEN};

type Aes192Gcm = AesGcm<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>;

/// The RustCrypto provider.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    aead: &RustCryptoAead,
    hash: &RustCryptoHashing,
    ecdsa: &RustCryptoEcdsa,
    random: &OsRandom,
    rsa: &rsa_backend::RustCryptoRsa,
    ecdh: &ecdh_backend::RustCryptoEcdh,
};

struct RustCryptoAead;

enum GcmKey {
    A128(Aes128Gcm),
    A192(Aes192Gcm),
    A256(Aes256Gcm),
}

impl Aead for RustCryptoAead {
    fn name(&self) -> &'static str {
        "rustcrypto-aes-gcm"
    }

    fn key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>> {
        let bad = |_| Error::from(CryptoError::InvalidKey(CryptoAlgorithm::AesGcm));
        Ok(Box::new(match key.len() {
            16 => GcmKey::A128(Aes128Gcm::new_from_slice(key).map_err(bad)?),
            24 => GcmKey::A192(Aes192Gcm::new_from_slice(key).map_err(bad)?),
            32 => GcmKey::A256(Aes256Gcm::new_from_slice(key).map_err(bad)?),
            _ => {
                return Err(Error::from(CryptoError::InvalidKey(
                    CryptoAlgorithm::AesGcm,
                )));
            }
        }))
    }
}

impl AeadKey for GcmKey {
    fn seal_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let nonce = Nonce::from(*iv);
        let tag = match self {
            Self::A128(k) => k.encrypt_inout_detached(&nonce, aad, in_out.into()),
            Self::A192(k) => k.encrypt_inout_detached(&nonce, aad, in_out.into()),
            Self::A256(k) => k.encrypt_inout_detached(&nonce, aad, in_out.into()),
        }
        .map_err(|_| Error::from(CryptoError::TooLong(CryptoAlgorithm::AesGcm)))?;
        Ok(tag.into())
    }

    fn open_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        let nonce = Nonce::from(*iv);
        let tag = Tag::from(*tag);
        match self {
            Self::A128(k) => k.decrypt_inout_detached(&nonce, aad, in_out.into(), &tag),
            Self::A192(k) => k.decrypt_inout_detached(&nonce, aad, in_out.into(), &tag),
            Self::A256(k) => k.decrypt_inout_detached(&nonce, aad, in_out.into(), &tag),
        }
        .map_err(|_| Error::from(CryptoError::OperationFailed(CryptoAlgorithm::AesGcm)))
    }
}

struct RustCryptoHashing;

fn hkdf_with<H>(salt: Option<&[u8]>, ikm: &[u8], outputs: &mut [(&[u8], &mut [u8])]) -> Result<()>
where
    Hkdf<H>: Sized,
    H: hmac::EagerHash + Clone,
    Hmac<H>: Clone,
    H::Core: Clone,
{
    let hk = Hkdf::<H>::new(salt, ikm);
    for (info, out) in outputs.iter_mut() {
        hk.expand(info, out)
            .map_err(|_| Error::from(CryptoError::TooLong(CryptoAlgorithm::Hkdf)))?;
    }
    Ok(())
}

fn hmac_with<M: Mac + hmac::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn digest_with<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().to_vec()
}

impl Hashing for RustCryptoHashing {
    fn hkdf(
        &self,
        hash: HashAlgorithm,
        salt: Option<&[u8]>,
        ikm: &[u8],
        outputs: &mut [(&[u8], &mut [u8])],
    ) -> Result<()> {
        match hash {
            HashAlgorithm::Sha256 => hkdf_with::<Sha256>(salt, ikm, outputs),
            HashAlgorithm::Sha384 => hkdf_with::<Sha384>(salt, ikm, outputs),
            HashAlgorithm::Sha512 => hkdf_with::<Sha512>(salt, ikm, outputs),
        }
    }

    fn hmac(&self, hash: HashAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match hash {
            HashAlgorithm::Sha256 => hmac_with::<Hmac<Sha256>>(key, parts),
            HashAlgorithm::Sha384 => hmac_with::<Hmac<Sha384>>(key, parts),
            HashAlgorithm::Sha512 => hmac_with::<Hmac<Sha512>>(key, parts),
        }
    }

    fn digest(&self, hash: HashAlgorithm, parts: &[&[u8]]) -> Vec<u8> {
        match hash {
            HashAlgorithm::Sha256 => digest_with::<Sha256>(parts),
            HashAlgorithm::Sha384 => digest_with::<Sha384>(parts),
            HashAlgorithm::Sha512 => digest_with::<Sha512>(parts),
        }
    }
}

struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<()> {
        getrandom::fill(buf).map_err(|_| Error::from(CryptoError::Random))
    }
}

struct RustCryptoEcdsa;

macro_rules! ecdsa_curve {
    ($modname:ident, $curve:ident, $hash:ty) => {
        mod $modname {
            use super::*;
            use $curve::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
            use $curve::ecdsa::{DerSignature, Signature, SigningKey as Sk, VerifyingKey as Vk};

            pub(super) fn generate(alg: SignatureAlgorithm) -> Result<(SigningKey, Vec<u8>)> {
                loop {
                    let mut scalar = Zeroizing::new(vec![0u8; alg.public_key_len() - 1]);
                    OsRandom.fill(&mut scalar)?;
                    // A random value is a valid scalar with overwhelming probability; retry if not.
                    if let Ok(sk) = Sk::from_slice(&scalar) {
                        let public = sk.verifying_key().to_sec1_point(true).as_bytes().to_vec();
                        let key = SigningKey::with_loaded(alg, scalar.to_vec(), Arc::new(sk));
                        return Ok((key, public));
                    }
                }
            }

            /// The key as loaded by `generate`, or loaded now.
            fn load(key: &SigningKey) -> Result<Sk> {
                if let Some(sk) = key.loaded::<Sk>() {
                    return Ok((*sk).clone());
                }
                Sk::from_slice(key.expose()).map_err(|_| {
                    KeyringError::InvalidKey("invalid ECDSA signing key".into()).into()
                })
            }

            pub(super) fn public_key(key: &SigningKey) -> Result<Vec<u8>> {
                let sk = load(key)?;
                Ok(sk.verifying_key().to_sec1_point(true).as_bytes().to_vec())
            }

            pub(super) struct EcSigner {
                pub(super) key: Sk,
                pub(super) hash: $hash,
            }

            impl Signer for EcSigner {
                fn update(&mut self, data: &[u8]) {
                    Digest::update(&mut self.hash, data);
                }

                fn sign(self: Box<Self>) -> Result<Vec<u8>> {
                    let digest = self.hash.finalize();
                    let sig: Signature = self.key.sign_prehash(&digest).map_err(|_| {
                        Error::from(CryptoError::OperationFailed(CryptoAlgorithm::Ecdsa))
                    })?;
                    let der: DerSignature = sig.to_der();
                    Ok(der.as_bytes().to_vec())
                }
            }

            pub(super) fn signer(key: &SigningKey) -> Result<Box<dyn Signer>> {
                let key = load(key)?;
                Ok(Box::new(EcSigner {
                    key,
                    hash: <$hash>::new(),
                }))
            }

            pub(super) struct EcVerifier {
                pub(super) key: Vk,
                pub(super) hash: $hash,
            }

            impl Verifier for EcVerifier {
                fn update(&mut self, data: &[u8]) {
                    Digest::update(&mut self.hash, data);
                }

                fn verify(self: Box<Self>, signature: &[u8]) -> Result<()> {
                    let sig = Signature::from_der(signature).map_err(|_| AuthError::Signature)?;
                    let digest = self.hash.finalize();
                    self.key
                        .verify_prehash(&digest, &sig)
                        .map_err(|_| AuthError::Signature.into())
                }
            }

            pub(super) fn verifier(public_key: &[u8]) -> Result<Box<dyn Verifier>> {
                let key =
                    Vk::from_sec1_bytes(public_key).map_err(|_| AuthError::BadVerificationKey)?;
                Ok(Box::new(EcVerifier {
                    key,
                    hash: <$hash>::new(),
                }))
            }
        }
    };
}

ecdsa_curve!(ec_p256, p256, Sha256);
ecdsa_curve!(ec_p384, p384, Sha384);

impl Ecdsa for RustCryptoEcdsa {
    fn generate(&self, algorithm: SignatureAlgorithm) -> Result<(SigningKey, Vec<u8>)> {
        match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => ec_p256::generate(algorithm),
            SignatureAlgorithm::EcdsaP384Sha384 => ec_p384::generate(algorithm),
        }
    }

    fn public_key(&self, key: &SigningKey) -> Result<Vec<u8>> {
        match key.algorithm() {
            SignatureAlgorithm::EcdsaP256Sha256 => ec_p256::public_key(key),
            SignatureAlgorithm::EcdsaP384Sha384 => ec_p384::public_key(key),
        }
    }

    fn signer(&self, key: &SigningKey) -> Result<Box<dyn Signer>> {
        match key.algorithm() {
            SignatureAlgorithm::EcdsaP256Sha256 => ec_p256::signer(key),
            SignatureAlgorithm::EcdsaP384Sha384 => ec_p384::signer(key),
        }
    }

    fn verifier(
        &self,
        algorithm: SignatureAlgorithm,
        public_key: &[u8],
    ) -> Result<Box<dyn Verifier>> {
        match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => ec_p256::verifier(public_key),
            SignatureAlgorithm::EcdsaP384Sha384 => ec_p384::verifier(public_key),
        }
    }
}
