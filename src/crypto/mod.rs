//! The cryptographic seam.
//!
//! Everything the format and the state machines need from cryptography goes through a
//! [`CryptoProvider`]: a struct of `&'static dyn` algorithm objects, as rustls does it. The
//! first backend, [`rustcrypto`], is built from the RustCrypto crates (aes-gcm, hkdf, hmac,
//! sha2, p256, p384). A second backend (aws-lc-rs, say) is a new module that fills the same
//! struct; no format or state-machine code changes.
//!
//! Algorithm objects hand out *keyed* objects ([`AeadKey`], [`Signer`], [`Verifier`]) so that
//! key schedules are computed once per message, not once per frame.

use std::fmt;

use crate::error::Result;
use crate::materials::SigningKey;
use crate::suite::{IV_LEN, SignatureAlgorithm, TAG_LEN};

pub mod rustcrypto;

/// The algorithms an ESDK needs, as one value to pass around.
#[derive(Clone, Copy)]
pub struct CryptoProvider {
    /// AES-GCM.
    pub aead: &'static dyn Aead,
    /// HKDF, HMAC and plain digests over the SHA-2 family.
    pub hash: &'static dyn Hashing,
    /// ECDSA over P-256 and P-384.
    pub ecdsa: &'static dyn Ecdsa,
    /// The secure random source.
    pub random: &'static dyn SecureRandom,
}

impl fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoProvider")
            .field("aead", &self.aead.name())
            .finish_non_exhaustive()
    }
}

/// The default provider: the RustCrypto backend.
pub fn default_provider() -> &'static CryptoProvider {
    &rustcrypto::PROVIDER
}

/// A SHA-2 hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// AES-GCM with a 12-byte IV and a 16-byte tag.
pub trait Aead: Send + Sync {
    /// A short name for diagnostics.
    fn name(&self) -> &'static str;
    /// A keyed AES-GCM for a 16, 24 or 32-byte key.
    fn key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>>;
}

/// A keyed AES-GCM. Implementations zeroize their key schedule on drop.
pub trait AeadKey: Send + Sync {
    /// Encrypts `in_out` in place and returns the tag.
    fn seal_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN]>;
    /// Decrypts `in_out` in place after checking `tag`.
    ///
    /// On failure the contents of `in_out` are unspecified and must not be used.
    ///
    /// # Errors
    /// [`crate::error::Error::Crypto`] with nothing else said: callers map it to the
    /// authentication error of their context.
    fn open_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()>;
}

/// HKDF, HMAC and digests.
pub trait Hashing: Send + Sync {
    /// HKDF (RFC 5869): one extract, then one expand per `(info, output)` pair.
    /// `salt = None` means HashLen zero bytes.
    fn hkdf(
        &self,
        hash: HashAlgorithm,
        salt: Option<&[u8]>,
        ikm: &[u8],
        outputs: &mut [(&[u8], &mut [u8])],
    ) -> Result<()>;
    /// HMAC over the concatenation of `parts`.
    fn hmac(&self, hash: HashAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8>;
    /// A digest of the concatenation of `parts`.
    fn digest(&self, hash: HashAlgorithm, parts: &[&[u8]]) -> Vec<u8>;
}

/// ECDSA for message signatures.
pub trait Ecdsa: Send + Sync {
    /// A fresh key pair: the signing key and the compressed SEC1 public key.
    fn generate(&self, algorithm: SignatureAlgorithm) -> Result<(SigningKey, Vec<u8>)>;
    /// The compressed public key of a signing key.
    fn public_key(&self, key: &SigningKey) -> Result<Vec<u8>>;
    /// An incremental signer.
    fn signer(&self, key: &SigningKey) -> Result<Box<dyn Signer>>;
    /// An incremental verifier for a SEC1 (compressed or not) public key.
    fn verifier(
        &self,
        algorithm: SignatureAlgorithm,
        public_key: &[u8],
    ) -> Result<Box<dyn Verifier>>;
}

/// Hashes a message as it passes and signs it at the end.
pub trait Signer: Send + Sync {
    /// Feeds message bytes.
    fn update(&mut self, data: &[u8]);
    /// The DER signature of everything fed.
    fn sign(self: Box<Self>) -> Result<Vec<u8>>;
}

/// Hashes a message as it passes and verifies its signature at the end.
pub trait Verifier: Send + Sync {
    /// Feeds message bytes.
    fn update(&mut self, data: &[u8]);
    /// Checks a DER signature (any valid length; high-S accepted) over everything fed.
    fn verify(self: Box<Self>, signature: &[u8]) -> Result<()>;
}

/// A cryptographically secure random source.
pub trait SecureRandom: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<()>;
}
