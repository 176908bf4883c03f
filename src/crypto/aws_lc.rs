//! The aws-lc-rs backend (cargo feature `aws-lc`): AES-GCM, SHA-2, HMAC, HKDF, ECDSA, RSA, ECDH
//! and the random source from AWS-LC, through the same [`CryptoProvider`] seam as the
//! RustCrypto backend.
//!
//! With the feature on, [`super::default_provider`] returns [`PROVIDER`]; pass
//! [`super::rustcrypto::PROVIDER`] explicitly to use RustCrypto. Behaviour, error kinds and
//! accepted key formats match the RustCrypto backend (the test suite and every vector run
//! against both).
//!
//! Notes on how the seam maps onto aws-lc-rs:
//! - AES-GCM: one `LessSafeKey` (an AWS-LC `EVP_AEAD_CTX`, so one key schedule) per key object,
//!   sealing and opening in place with the caller's IV and a detached tag. AWS-LC frees the
//!   context with `OPENSSL_free`, which zeroizes it.
//! - ECDSA: the message is hashed incrementally with an aws-lc-rs `digest::Context`, then the
//!   digest is signed or verified with `EcdsaKeyPair::sign_digest` /
//!   `ParsedPublicKey::verify_digest_sig` (aws-lc-rs's prehash API), so a streamed message is
//!   never buffered. Signing keys cross the seam as raw scalars ([`SigningKey`]); a scalar is
//!   loaded into AWS-LC as an RFC 5915 `ECPrivateKey`, which computes its public key.
//! - HKDF: extract is one HMAC, then every output block is an HMAC under one keyed
//!   `hmac::Key` of the PRK (its inner and outer hash states computed once; aws-lc-rs's `Salt` /
//!   `Prk` would redo the extract, and AWS-LC's `HKDF_expand` the keying, for every output).
//! - PEM is read and written with `pem-rfc7468` (the crate the RustCrypto backend uses), and
//!   PKCS#1 RSA keys are wrapped into PKCS#8 / SubjectPublicKeyInfo before AWS-LC parses them.
//! - AWS-LC accepts RSA keys of 2048 to 8192 bits (RustCrypto also takes 1024-bit keys) and
//!   generates keys of 2048, 3072, 4096 or 8192 bits.

mod der;
mod ecdh_backend;
mod rsa_backend;
#[cfg(test)]
mod tests;

use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin, EcPublicKeyCompressedBin};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, ParsedPublicKey};
use aws_lc_rs::{digest, hmac};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::{
    Aead, AeadKey, CryptoProvider, Ecdsa, HashAlgorithm, Hashing, SecureRandom, Signer, Verifier,
};
use crate::crypto::SigningKey;
use crate::error::{AuthError, CryptoAlgorithm, CryptoError, Error, KeyringError, Result};
use crate::suite::{IV_LEN, SignatureAlgorithm, TAG_LEN};

/// The aws-lc-rs provider.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    aead: &AwsLcAead,
    hash: &AwsLcHashing,
    ecdsa: &AwsLcEcdsa,
    random: &AwsLcRandom,
    rsa: &rsa_backend::AwsLcRsa,
    ecdh: &ecdh_backend::AwsLcEcdh,
};

struct AwsLcAead;

struct GcmKey(LessSafeKey);

impl Aead for AwsLcAead {
    fn name(&self) -> &'static str {
        "aws-lc-aes-gcm"
    }

    fn key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>> {
        let algorithm = match key.len() {
            16 => &AES_128_GCM,
            24 => &AES_192_GCM,
            32 => &AES_256_GCM,
            _ => {
                return Err(Error::from(CryptoError::InvalidKey(
                    CryptoAlgorithm::AesGcm,
                )));
            }
        };
        let key = UnboundKey::new(algorithm, key)
            .map_err(|_| Error::from(CryptoError::InvalidKey(CryptoAlgorithm::AesGcm)))?;
        Ok(Box::new(GcmKey(LessSafeKey::new(key))))
    }
}

impl AeadKey for GcmKey {
    fn seal_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), in_out)
            .map_err(|_| Error::from(CryptoError::TooLong(CryptoAlgorithm::AesGcm)))?;
        tag.as_ref()
            .try_into()
            .map_err(|_| Error::from(CryptoError::OperationFailed(CryptoAlgorithm::AesGcm)))
    }

    fn open_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*iv),
                Aad::from(aad),
                tag,
                in_out,
            )
            .map(|_| ())
            .map_err(|_| Error::from(CryptoError::OperationFailed(CryptoAlgorithm::AesGcm)))
    }
}

struct AwsLcHashing;

fn hmac_algorithm(hash: HashAlgorithm) -> hmac::Algorithm {
    match hash {
        HashAlgorithm::Sha256 => hmac::HMAC_SHA256,
        HashAlgorithm::Sha384 => hmac::HMAC_SHA384,
        HashAlgorithm::Sha512 => hmac::HMAC_SHA512,
    }
}

fn digest_algorithm(hash: HashAlgorithm) -> &'static digest::Algorithm {
    match hash {
        HashAlgorithm::Sha256 => &digest::SHA256,
        HashAlgorithm::Sha384 => &digest::SHA384,
        HashAlgorithm::Sha512 => &digest::SHA512,
    }
}

impl Hashing for AwsLcHashing {
    fn hkdf(
        &self,
        hash: HashAlgorithm,
        salt: Option<&[u8]>,
        ikm: &[u8],
        outputs: &mut [(&[u8], &mut [u8])],
    ) -> Result<()> {
        let algorithm = hmac_algorithm(hash);
        let len = hash.output_len();
        let zeros = [0u8; 64];
        let salt = salt.unwrap_or(&zeros[..len]);
        // HKDF-Extract (RFC 5869 2.2) is HMAC(salt, IKM).
        let prk = Zeroizing::new(self.hmac(hash, salt, &[ikm]));
        // HKDF-Expand (2.3) with one keyed HMAC for every output: the key's inner and outer
        // hash states are computed once (aws-lc's own HKDF_expand keys HMAC again per output,
        // two more SHA-512 blocks per message key on the ESDK's hot path).
        let key = hmac::Key::new(algorithm, &prk);
        for (info, out) in outputs.iter_mut() {
            if out.len() > 255 * len {
                return Err(Error::from(CryptoError::TooLong(CryptoAlgorithm::Hkdf)));
            }
            let mut previous = Zeroizing::new(Vec::new());
            for (i, chunk) in out.chunks_mut(len).enumerate() {
                let mut ctx = hmac::Context::with_key(&key);
                ctx.update(&previous);
                ctx.update(info);
                ctx.update(&[(i + 1) as u8]);
                let block = ctx.sign();
                chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
                *previous = block.as_ref().to_vec();
            }
        }
        Ok(())
    }

    fn hmac(&self, hash: HashAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let key = hmac::Key::new(hmac_algorithm(hash), key);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign().as_ref().to_vec()
    }

    fn digest(&self, hash: HashAlgorithm, parts: &[&[u8]]) -> Vec<u8> {
        let mut ctx = digest::Context::new(digest_algorithm(hash));
        for p in parts {
            ctx.update(p);
        }
        ctx.finish().as_ref().to_vec()
    }
}

struct AwsLcRandom;

impl SecureRandom for AwsLcRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<()> {
        aws_lc_rs::rand::fill(buf).map_err(|_| Error::from(CryptoError::Random))
    }
}

struct AwsLcEcdsa;

struct EcdsaParams {
    signing: &'static sig::EcdsaSigningAlgorithm,
    verification: &'static sig::EcdsaVerificationAlgorithm,
    digest: &'static digest::Algorithm,
    field_len: usize,
}

fn ecdsa_params(algorithm: SignatureAlgorithm) -> EcdsaParams {
    match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => EcdsaParams {
            signing: &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            verification: &sig::ECDSA_P256_SHA256_ASN1,
            digest: &digest::SHA256,
            field_len: 32,
        },
        SignatureAlgorithm::EcdsaP384Sha384 => EcdsaParams {
            signing: &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
            verification: &sig::ECDSA_P384_SHA384_ASN1,
            digest: &digest::SHA384,
            field_len: 48,
        },
    }
}

fn compressed_public_key(key: &EcdsaKeyPair) -> Result<Vec<u8>> {
    let public: EcPublicKeyCompressedBin<'static> = key
        .public_key()
        .as_be_bytes()
        .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Ecdsa)))?;
    Ok(public.as_ref().to_vec())
}

/// Loads a raw scalar into AWS-LC.
fn key_pair(key: &SigningKey) -> Result<EcdsaKeyPair> {
    let params = ecdsa_params(key.algorithm());
    let invalid = || KeyringError::InvalidKey("invalid ECDSA signing key".into());
    if key.expose().len() != params.field_len {
        return Err(invalid().into());
    }
    EcdsaKeyPair::from_private_key_der(params.signing, &der::ec_private_key(key.expose()))
        .map_err(|_| invalid().into())
}

struct EcSigner {
    key: Arc<EcdsaKeyPair>,
    hash: digest::Context,
}

impl Signer for EcSigner {
    fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
    }

    fn sign(self: Box<Self>) -> Result<Vec<u8>> {
        let digest = self.hash.finish();
        let signature = self
            .key
            .sign_digest(&digest)
            .map_err(|_| Error::from(CryptoError::OperationFailed(CryptoAlgorithm::Ecdsa)))?;
        Ok(signature.as_ref().to_vec())
    }
}

struct EcVerifier {
    key: ParsedPublicKey,
    hash: digest::Context,
}

impl Verifier for EcVerifier {
    fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
    }

    fn verify(self: Box<Self>, signature: &[u8]) -> Result<()> {
        let digest = self.hash.finish();
        self.key
            .verify_digest_sig(&digest, signature)
            .map_err(|_| AuthError::Signature.into())
    }
}

impl Ecdsa for AwsLcEcdsa {
    fn generate(&self, algorithm: SignatureAlgorithm) -> Result<(SigningKey, Vec<u8>)> {
        let params = ecdsa_params(algorithm);
        let key = EcdsaKeyPair::generate(params.signing)
            .map_err(|_| Error::from(CryptoError::KeyGeneration(CryptoAlgorithm::Ecdsa)))?;
        let scalar: EcPrivateKeyBin<'static> = key
            .private_key()
            .as_be_bytes()
            .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Ecdsa)))?;
        let public = compressed_public_key(&key)?;
        Ok((
            SigningKey::with_loaded(algorithm, scalar.as_ref().to_vec(), Arc::new(key)),
            public,
        ))
    }

    fn public_key(&self, key: &SigningKey) -> Result<Vec<u8>> {
        match key.loaded::<EcdsaKeyPair>() {
            Some(k) => compressed_public_key(&k),
            None => compressed_public_key(&key_pair(key)?),
        }
    }

    fn signer(&self, key: &SigningKey) -> Result<Box<dyn Signer>> {
        let loaded = match key.loaded::<EcdsaKeyPair>() {
            Some(k) => k,
            None => Arc::new(key_pair(key)?),
        };
        Ok(Box::new(EcSigner {
            key: loaded,
            hash: digest::Context::new(ecdsa_params(key.algorithm()).digest),
        }))
    }

    fn verifier(
        &self,
        algorithm: SignatureAlgorithm,
        public_key: &[u8],
    ) -> Result<Box<dyn Verifier>> {
        let params = ecdsa_params(algorithm);
        // AWS-LC would also take a DER SubjectPublicKeyInfo or a hybrid point here; the message
        // format (and the RustCrypto backend) allows only a SEC1 compressed or uncompressed point.
        if der::compress_sec1(params.field_len, public_key).is_none() {
            return Err(AuthError::BadVerificationKey.into());
        }
        let key = ParsedPublicKey::new(params.verification, public_key)
            .map_err(|_| AuthError::BadVerificationKey)?;
        Ok(Box::new(EcVerifier {
            key,
            hash: digest::Context::new(params.digest),
        }))
    }
}
