//! RSA through the RustCrypto `rsa` crate (0.10: constant-time big integers, blinding, and
//! implicit rejection for PKCS#1 v1.5 decryption).

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::rand_core::{TryCryptoRng, TryRng};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::OsRandom;
use crate::crypto::{Rsa, RsaPadding, RsaPrivateKey, RsaPublicKey, SecureRandom};
use crate::error::{CryptoAlgorithm, CryptoError, Error, KeyringError, Result};

pub(super) struct RustCryptoRsa;

/// The operating system's random source, in the shape the `rsa` crate asks for.
struct SysRandom;

#[derive(Debug)]
struct RandomFailure;

impl std::fmt::Display for RandomFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("system random source failed")
    }
}

impl std::error::Error for RandomFailure {}

impl TryRng for SysRandom {
    type Error = RandomFailure;

    fn try_next_u32(&mut self) -> Result<u32, RandomFailure> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RandomFailure> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RandomFailure> {
        OsRandom.fill(dst).map_err(|_| RandomFailure)
    }
}

impl TryCryptoRng for SysRandom {}

fn bad_key(what: &str) -> Error {
    KeyringError::InvalidKey(format!("cannot parse RSA {what}")).into()
}

impl Rsa for RustCryptoRsa {
    fn public_key_from_pem(&self, pem: &str) -> Result<Box<dyn RsaPublicKey>> {
        let key = PublicKey::from_public_key_pem(pem)
            .or_else(|_| PublicKey::from_pkcs1_pem(pem))
            .map_err(|_| bad_key("public key (expected PEM SubjectPublicKeyInfo or PKCS#1)"))?;
        Ok(Box::new(RsaPublic(key)))
    }

    fn private_key_from_pem(&self, pem: &str) -> Result<Box<dyn RsaPrivateKey>> {
        let key = PrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| PrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| bad_key("private key (expected PEM PKCS#8 or PKCS#1)"))?;
        Ok(Box::new(RsaPrivate(key)))
    }

    fn generate_pem(&self, bits: usize) -> Result<(Zeroizing<String>, String)> {
        let key = PrivateKey::new(&mut SysRandom, bits)
            .map_err(|_| Error::from(CryptoError::KeyGeneration(CryptoAlgorithm::Rsa)))?;
        let private = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Rsa)))?;
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Rsa)))?;
        Ok((private, public))
    }
}

struct RsaPublic(PublicKey);

impl RsaPublicKey for RsaPublic {
    fn bits(&self) -> usize {
        self.0.size() * 8
    }

    fn encrypt(&self, padding: RsaPadding, plaintext: &[u8]) -> Result<Vec<u8>> {
        let rng = &mut SysRandom;
        let key = &self.0;
        match padding {
            RsaPadding::Pkcs1V15 => key.pkcs1v15_encrypt_with_rng(rng, plaintext),
            RsaPadding::OaepSha1 => key.oaep_encrypt_with_rng::<Sha1, _>(rng, plaintext),
            RsaPadding::OaepSha256 => key.oaep_encrypt_with_rng::<Sha256, _>(rng, plaintext),
            RsaPadding::OaepSha384 => key.oaep_encrypt_with_rng::<Sha384, _>(rng, plaintext),
            RsaPadding::OaepSha512 => key.oaep_encrypt_with_rng::<Sha512, _>(rng, plaintext),
        }
        .map_err(|_| Error::from(CryptoError::OperationFailed(CryptoAlgorithm::Rsa)))
    }
}

struct RsaPrivate(PrivateKey);

impl RsaPrivateKey for RsaPrivate {
    fn bits(&self) -> usize {
        self.0.size() * 8
    }

    fn decrypt(&self, padding: RsaPadding, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let rng = &mut SysRandom;
        let key = &self.0;
        match padding {
            RsaPadding::Pkcs1V15 => key.pkcs1v15_decrypt_with_rng(rng, ciphertext),
            RsaPadding::OaepSha1 => key.oaep_decrypt_with_rng::<Sha1, _>(rng, ciphertext),
            RsaPadding::OaepSha256 => key.oaep_decrypt_with_rng::<Sha256, _>(rng, ciphertext),
            RsaPadding::OaepSha384 => key.oaep_decrypt_with_rng::<Sha384, _>(rng, ciphertext),
            RsaPadding::OaepSha512 => key.oaep_decrypt_with_rng::<Sha512, _>(rng, ciphertext),
        }
        .map(Zeroizing::new)
        .map_err(|_| Error::from(CryptoError::OperationFailed(CryptoAlgorithm::Rsa)))
    }
}
