//! Cryptographic materials (`framework/structures.md`): what a CMM hands the encrypt and decrypt
//! state machines.
//!
//! Secrets live in [`DataKey`] and [`SigningKey`], which zeroize on drop and print as
//! `<redacted>`. The materials' fields are private: keyrings change them only through methods
//! that keep the spec's invariants (a data key of the suite's length, set once).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::error::{KeyringError, Result};
use crate::format::codec::put_u16_prefixed;
use crate::suite::{AlgorithmSuite, SignatureAlgorithm};

/// An encrypted data key: who wrapped it, how to find the wrapping key, and the wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncryptedDataKey {
    provider_id: String,
    provider_info: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// A new encrypted data key.
    pub fn new(
        provider_id: impl Into<String>,
        provider_info: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Self {
        Self {
            provider_id: provider_id.into(),
            provider_info,
            ciphertext,
        }
    }

    /// The key provider ID (for example `aws-kms`, or a raw keyring's namespace).
    pub fn provider_id(&self) -> &str {
        &self.provider_id
    }

    /// The key provider info (for example a KMS key ARN, or a raw keyring's key name and IV).
    pub fn provider_info(&self) -> &[u8] {
        &self.provider_info
    }

    /// The wrapped data key.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// Appends the wire form: three `u16`-length-prefixed fields.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        put_u16_prefixed(out, self.provider_id.as_bytes(), "key provider ID")?;
        put_u16_prefixed(out, &self.provider_info, "key provider info")?;
        put_u16_prefixed(out, &self.ciphertext, "encrypted data key")
    }
}

/// A plaintext data key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<Vec<u8>>);

impl DataKey {
    /// Wraps key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies key bytes.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty key (never valid).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey(<redacted {} bytes>)", self.0.len())
    }
}

/// A message signing key: the private scalar of an ECDSA key pair. Zeroized on drop; never
/// printed.
///
/// A key made by a crypto backend's `generate` also carries that backend's loaded form of the
/// key (its own zeroizing key object), so that signing the message does not load the scalar
/// again: loading computes the public point, a scalar multiplication as costly as the
/// signature itself.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: SignatureAlgorithm,
    scalar: Zeroizing<Vec<u8>>,
    loaded: Option<Arc<dyn Any + Send + Sync>>,
}

impl SigningKey {
    /// Wraps a private scalar (big-endian, field-sized) for `algorithm`.
    pub fn new(algorithm: SignatureAlgorithm, scalar: Vec<u8>) -> Self {
        Self {
            algorithm,
            scalar: Zeroizing::new(scalar),
            loaded: None,
        }
    }

    /// A key with a backend's loaded form of the same scalar attached.
    pub(crate) fn with_loaded(
        algorithm: SignatureAlgorithm,
        scalar: Vec<u8>,
        loaded: Arc<dyn Any + Send + Sync>,
    ) -> Self {
        Self {
            algorithm,
            scalar: Zeroizing::new(scalar),
            loaded: Some(loaded),
        }
    }

    /// The attached loaded form, if it is a `T` (the asking backend's own type).
    pub(crate) fn loaded<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.loaded.clone()?.downcast::<T>().ok()
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The private scalar bytes.
    pub fn expose(&self) -> &[u8] {
        &self.scalar
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?}, <redacted>)", self.algorithm)
    }
}

fn check_data_key(suite: AlgorithmSuite, existing: &Option<DataKey>, key: &DataKey) -> Result<()> {
    if existing.is_some() {
        return Err(
            KeyringError::InvalidMaterials("a plaintext data key is already present").into(),
        );
    }
    if key.len() != suite.key_len() {
        return Err(KeyringError::InvalidMaterials(
            "data key length does not match the algorithm suite",
        )
        .into());
    }
    Ok(())
}

/// Materials for encrypting one message.
#[derive(Debug, Clone)]
pub struct EncryptionMaterials {
    suite: AlgorithmSuite,
    encryption_context: EncryptionContext,
    required_encryption_context_keys: Vec<String>,
    encrypted_data_keys: Vec<EncryptedDataKey>,
    data_key: Option<DataKey>,
    signing_key: Option<SigningKey>,
}

impl EncryptionMaterials {
    /// Materials with no data key yet, as a CMM gives them to its keyring.
    pub fn new(
        suite: AlgorithmSuite,
        encryption_context: EncryptionContext,
        required_encryption_context_keys: Vec<String>,
        signing_key: Option<SigningKey>,
    ) -> Self {
        Self {
            suite,
            encryption_context,
            required_encryption_context_keys,
            encrypted_data_keys: Vec::new(),
            data_key: None,
            signing_key,
        }
    }

    /// The algorithm suite.
    pub fn algorithm_suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The full encryption context (stored and required pairs).
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.encryption_context
    }

    /// Keys whose pairs are authenticated but not stored in the message.
    pub fn required_encryption_context_keys(&self) -> &[String] {
        &self.required_encryption_context_keys
    }

    /// The encrypted data keys so far.
    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.encrypted_data_keys
    }

    /// The plaintext data key, once a keyring has set it.
    pub fn data_key(&self) -> Option<&DataKey> {
        self.data_key.as_ref()
    }

    /// The signing key, for signing suites.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing_key.as_ref()
    }

    /// Sets the plaintext data key.
    ///
    /// # Errors
    /// When a key is already set or its length is not the suite's.
    pub fn set_data_key(&mut self, key: DataKey) -> Result<()> {
        check_data_key(self.suite, &self.data_key, &key)?;
        self.data_key = Some(key);
        Ok(())
    }

    /// Appends an encrypted data key.
    pub fn add_encrypted_data_key(&mut self, edk: EncryptedDataKey) {
        self.encrypted_data_keys.push(edk);
    }
}

/// Materials for decrypting one message.
#[derive(Debug, Clone)]
pub struct DecryptionMaterials {
    suite: AlgorithmSuite,
    encryption_context: EncryptionContext,
    required_encryption_context_keys: Vec<String>,
    data_key: Option<DataKey>,
    verification_key: Option<Vec<u8>>,
    checks: crate::keyring::DecryptChecks,
}

impl DecryptionMaterials {
    /// Materials with no data key yet, as a CMM gives them to its keyring.
    ///
    /// `verification_key` is the compressed SEC1 public key, for signing suites.
    pub fn new(
        suite: AlgorithmSuite,
        encryption_context: EncryptionContext,
        required_encryption_context_keys: Vec<String>,
        verification_key: Option<Vec<u8>>,
    ) -> Self {
        Self {
            suite,
            encryption_context,
            required_encryption_context_keys,
            data_key: None,
            verification_key,
            checks: Default::default(),
        }
    }

    /// Carries the per-message checks of `request` to the keyrings:
    ///
    /// * *candidate* data keys can be checked against the message (its key commitment, or for
    ///   v1 messages its header tag) with [`check_candidate`](Self::check_candidate);
    /// * the keyrings share a budget of attempts (unwrappings, key-service calls) for the
    ///   message: [`Limits::max_encrypted_data_keys`](crate::Limits::max_encrypted_data_keys)
    ///   when set. Once it is spent, keyrings stop trying.
    ///
    /// Some unwrapping cannot tell a wrong key from the right one: RSA PKCS#1 v1.5 decryption
    /// with implicit rejection turns a data key wrapped for *another* RSA key into random
    /// bytes, of the right length about once in 250 tries. [`DefaultCmm`](crate::DefaultCmm)
    /// calls this; a custom CMM that builds its own materials should too, or such a keyring
    /// takes the first candidate of the right length (and decryption then fails on the key
    /// commitment or header tag instead of trying the next encrypted data key).
    pub fn with_request_checks(mut self, request: &crate::cmm::DecryptMaterialsRequest) -> Self {
        self.checks = request.checks.clone();
        self
    }

    /// Whether `key` is the data key of the message these materials are for: `Some(true)` or
    /// `Some(false)`, with the same work either way; `None` when the materials carry no check
    /// (see [`with_request_checks`](Self::with_request_checks)).
    pub fn check_candidate(&self, key: &DataKey) -> Option<bool> {
        let check = self.checks.candidate.as_ref()?;
        let required = self
            .encryption_context
            .subset(&self.required_encryption_context_keys)
            .serialize()
            .unwrap_or_default();
        Some(check.accepts(key, &required))
    }

    /// Drops the per-message checks (the candidate check may hold a v1 header) once the keyring
    /// is done.
    pub(crate) fn clear_request_checks(&mut self) {
        self.checks = Default::default();
    }

    /// The keyring attempts this message may still cost, when limited.
    pub(crate) fn attempt_budget(&self) -> Option<&crate::keyring::AttemptBudget> {
        self.checks.attempts.as_deref()
    }

    /// The algorithm suite.
    pub fn algorithm_suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The encryption context: the header's plus reproduced required pairs.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.encryption_context
    }

    /// Keys whose pairs were authenticated without being stored in the message.
    pub fn required_encryption_context_keys(&self) -> &[String] {
        &self.required_encryption_context_keys
    }

    /// The plaintext data key, once a keyring has set it.
    pub fn data_key(&self) -> Option<&DataKey> {
        self.data_key.as_ref()
    }

    /// The compressed public key that verifies the message signature.
    pub fn verification_key(&self) -> Option<&[u8]> {
        self.verification_key.as_deref()
    }

    /// Sets the plaintext data key.
    ///
    /// # Errors
    /// When a key is already set or its length is not the suite's.
    pub fn set_data_key(&mut self, key: DataKey) -> Result<()> {
        check_data_key(self.suite, &self.data_key, &key)?;
        self.data_key = Some(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let key = DataKey::new(vec![0xAB; 32]);
        let printed = format!("{key:?}");
        assert!(!printed.contains("171") && !printed.to_lowercase().contains("ab, "));
        let mut m = DecryptionMaterials::new(
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            EncryptionContext::new(),
            vec![],
            None,
        );
        m.set_data_key(key).unwrap();
        assert!(!format!("{m:?}").contains("171"));
        assert!(m.set_data_key(DataKey::new(vec![1; 32])).is_err());
        let sk = SigningKey::new(SignatureAlgorithm::EcdsaP384Sha384, vec![0xCD; 48]);
        assert!(!format!("{sk:?}").contains("205"));
    }

    #[test]
    fn data_key_length_must_match_suite() {
        let mut m = EncryptionMaterials::new(
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
            EncryptionContext::new(),
            vec![],
            None,
        );
        assert!(m.set_data_key(DataKey::new(vec![0; 32])).is_err());
        assert!(m.set_data_key(DataKey::new(vec![0; 16])).is_ok());
    }
}
