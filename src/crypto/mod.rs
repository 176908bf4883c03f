//! The cryptographic seam.
//!
//! Everything the format and the state machines need from cryptography goes through a
//! [`CryptoProvider`]: a struct of `&'static dyn` algorithm objects, as rustls does it. The
//! first backend, [`rustcrypto`], is built from the RustCrypto crates (aes-gcm, hkdf, hmac,
//! sha2, p256, p384, p521, rsa). The second, `aws_lc` (cargo feature `aws-lc`), is built on
//! aws-lc-rs and fills the same struct; no format or state-machine code knows which one runs.
//!
//! # Choosing a backend
//!
//! Without features, [`default_provider`] is RustCrypto. With the `aws-lc` feature it is
//! aws-lc-rs (as rustls picks its provider from its features), so `cargo test --features
//! aws-lc` runs every test on aws-lc. Either backend can always be chosen explicitly:
//! `Client::builder().crypto_provider(&esdk::crypto::rustcrypto::PROVIDER)`, the CMMs' and
//! keyring builders' `crypto_provider` methods, and the raw keyrings' `with_crypto_provider`
//! constructors (their keys are parsed by the provider).
//!
//! Algorithm objects hand out *keyed* objects ([`AeadKey`], [`Signer`], [`Verifier`]) so that
//! key schedules are computed once per message, not once per frame.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::Result;
use crate::suite::{IV_LEN, SignatureAlgorithm, TAG_LEN};

#[cfg(feature = "aws-lc")]
pub mod aws_lc;
pub mod rustcrypto;
mod signing_key;

pub use signing_key::SigningKey;

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
    /// RSA encryption (PKCS#1 v1.5 and OAEP), for the raw RSA keyring.
    pub rsa: &'static dyn Rsa,
    /// Elliptic-curve Diffie-Hellman over P-256, P-384 and P-521, for the raw ECDH keyring.
    pub ecdh: &'static dyn Ecdh,
}

impl fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoProvider")
            .field("aead", &self.aead.name())
            .finish_non_exhaustive()
    }
}

/// The default provider: the aws-lc-rs backend when the `aws-lc` feature is enabled, the
/// RustCrypto backend otherwise.
pub fn default_provider() -> &'static CryptoProvider {
    #[cfg(feature = "aws-lc")]
    {
        &aws_lc::PROVIDER
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        &rustcrypto::PROVIDER
    }
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

/// An RSA encryption padding: PKCS#1 v1.5, or OAEP with MGF1 over the same hash and an empty
/// label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RsaPadding {
    /// PKCS#1 v1.5 (legacy; kept for compatibility).
    Pkcs1V15,
    /// OAEP with SHA-1 and MGF1-SHA-1.
    OaepSha1,
    /// OAEP with SHA-256 and MGF1-SHA-256.
    OaepSha256,
    /// OAEP with SHA-384 and MGF1-SHA-384.
    OaepSha384,
    /// OAEP with SHA-512 and MGF1-SHA-512.
    OaepSha512,
}

/// RSA key parsing and key generation.
pub trait Rsa: Send + Sync {
    /// Parses a PEM public key: X.509 SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`) or PKCS#1
    /// (`BEGIN RSA PUBLIC KEY`).
    fn public_key_from_pem(&self, pem: &str) -> Result<Box<dyn RsaPublicKey>>;
    /// Parses a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    fn private_key_from_pem(&self, pem: &str) -> Result<Box<dyn RsaPrivateKey>>;
    /// A fresh key pair with public exponent 65537: the private key as PKCS#8 PEM and the public
    /// key as SubjectPublicKeyInfo PEM.
    fn generate_pem(&self, bits: usize) -> Result<(Zeroizing<String>, String)>;
}

/// An RSA public key.
pub trait RsaPublicKey: Send + Sync {
    /// Modulus size in bits.
    fn bits(&self) -> usize;
    /// Encrypts `plaintext` with `padding` and fresh randomness.
    fn encrypt(&self, padding: RsaPadding, plaintext: &[u8]) -> Result<Vec<u8>>;
}

/// An RSA private key. Implementations zeroize it on drop.
pub trait RsaPrivateKey: Send + Sync {
    /// Modulus size in bits.
    fn bits(&self) -> usize;
    /// Decrypts `ciphertext` with `padding`.
    ///
    /// PKCS#1 v1.5 decryption may use *implicit rejection* (a wrong key or corrupt ciphertext
    /// yields a pseudo-random message rather than an error, as with the RustCrypto backend) or
    /// report bad padding (the aws-lc backend); callers must authenticate the result and must
    /// not let the two outcomes differ. The raw RSA keyring treats every PKCS#1 v1.5 outcome,
    /// an error included, as a *candidate* checked against the message (see the `manual`).
    ///
    /// # Errors
    /// [`crate::error::Error::Crypto`] with nothing else said.
    fn decrypt(&self, padding: RsaPadding, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// A NIST curve for ECDH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcdhCurve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl EcdhCurve {
    /// Length of a compressed SEC1 public key on this curve (33, 49 or 67 bytes).
    pub fn compressed_len(self) -> usize {
        match self {
            Self::P256 => 33,
            Self::P384 => 49,
            Self::P521 => 67,
        }
    }

    /// The name the ECDH key derivation puts in its fixed info (`p256`, `p384`, `p521`).
    pub fn kdf_name(self) -> &'static str {
        match self {
            Self::P256 => "p256",
            Self::P384 => "p384",
            Self::P521 => "p521",
        }
    }
}

/// Elliptic-curve Diffie-Hellman: key parsing, validation and generation.
///
/// Public keys cross this seam as compressed SEC1 points, which is how the raw ECDH keyring
/// stores them in encrypted data keys.
pub trait Ecdh: Send + Sync {
    /// Parses a PEM PKCS#8 private key on `curve`.
    fn private_key_from_pem(&self, curve: EcdhCurve, pem: &str) -> Result<Box<dyn EcdhPrivateKey>>;
    /// Parses a DER SubjectPublicKeyInfo public key on `curve` and returns its compressed SEC1
    /// point. Fails for another curve or the point at infinity.
    fn public_key_from_der(&self, curve: EcdhCurve, der: &[u8]) -> Result<Vec<u8>>;
    /// Checks a SEC1 point (compressed or not) on `curve` and returns it compressed.
    fn validate_public_key(&self, curve: EcdhCurve, sec1: &[u8]) -> Result<Vec<u8>>;
    /// The DER SubjectPublicKeyInfo form of a SEC1 point on `curve`.
    fn public_key_to_der(&self, curve: EcdhCurve, sec1: &[u8]) -> Result<Vec<u8>>;
    /// A fresh private key on `curve`.
    fn generate(&self, curve: EcdhCurve) -> Result<Box<dyn EcdhPrivateKey>>;
}

/// An ECDH private key. Implementations zeroize it on drop.
pub trait EcdhPrivateKey: Send + Sync {
    /// The curve.
    fn curve(&self) -> EcdhCurve;
    /// The compressed SEC1 public key.
    fn public_key(&self) -> Vec<u8>;
    /// The shared secret Z (the x-coordinate of the shared point) with a peer's SEC1 public key.
    fn agree(&self, peer_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// The key as PEM PKCS#8.
    fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>>;
}
