//! Cryptographic materials (`framework/structures.md`): what a CMM hands the encrypt and decrypt
//! state machines.
//!
//! Secrets live in [`DataKey`] and [`SigningKey`], which zeroize on drop and print as
//! `<redacted>`. The materials' fields are private: keyrings change them only through methods
//! that keep the spec's invariants (a data key of the suite's length, set once).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use zeroize::Zeroizing;

use crate::error::{KeyringError, Result};
use crate::format::context::EncryptionContext;
use crate::suite::AlgorithmSuite;

pub use crate::crypto::SigningKey;
pub use crate::format::EncryptedDataKey;

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
    pub(crate) checks: DecryptChecks,
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

    /// Whether `key` is the data key of the message these materials are for: `Some(true)` or
    /// `Some(false)`, with the same work either way; `None` when the materials carry no check
    /// (see [`with_request_checks`](Self::with_request_checks), defined with the
    /// request in [`cmm`](crate::cmm)).
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
    pub(crate) fn attempt_budget(&self) -> Option<&AttemptBudget> {
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

/// Checks a *candidate* data key against the message it is meant for (its key commitment, or
/// for v1 messages its header tag): the core (`proto::keys`) makes one from a header, and
/// keyrings that cannot tell a wrong key from the right one ask it (through
/// [`DecryptionMaterials::check_candidate`]).
pub(crate) trait CandidateCheck: fmt::Debug + Send + Sync {
    /// Whether `key` is the message's data key, given the serialized required encryption
    /// context; the same work either way.
    fn accepts(&self, key: &DataKey, required: &[u8]) -> bool;
}

/// Per-message checks a decrypt request carries to the keyrings, through the materials (see
/// [`DecryptionMaterials::with_request_checks`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct DecryptChecks {
    /// Checks candidate data keys against the message.
    pub(crate) candidate: Option<Arc<dyn CandidateCheck>>,
    /// The attempts left for the message, shared by every keyring that works on it.
    pub(crate) attempts: Option<Arc<AttemptBudget>>,
}

/// How many keyring attempts (unwrappings, key-service calls) one message may still cost. The
/// client makes one per message when
/// [`Limits::max_encrypted_data_keys`](crate::Limits::max_encrypted_data_keys) is set; every
/// keyring working on the message (the children of a multi-keyring too) draws on it.
#[derive(Debug)]
pub(crate) struct AttemptBudget {
    left: AtomicUsize,
    limit: usize,
}

impl AttemptBudget {
    pub(crate) fn new(limit: u16) -> Arc<Self> {
        Arc::new(Self {
            left: AtomicUsize::new(usize::from(limit)),
            limit: usize::from(limit),
        })
    }

    pub(crate) fn spent(&self) -> bool {
        self.left.load(Ordering::Relaxed) == 0
    }

    pub(crate) fn take(&self) {
        let _ = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Why a keyring stopped early.
    pub(crate) fn reason(&self) -> String {
        format!(
            "stopped: this message already cost {} keyring attempts, its limit \
             (Limits::max_encrypted_data_keys)",
            self.limit
        )
    }
}

/// The length of a branch key version: a UUID's 16 bytes.
const VERSION_LEN: usize = 16;
/// The length of a branch key.
const BRANCH_KEY_LEN: usize = 32;

/// One version of a branch key: its ID, its version (a UUID) and the 32-byte key. The key is
/// zeroized on drop and never printed.
#[derive(Clone)]
pub struct BranchKeyMaterials {
    branch_key_id: String,
    version: [u8; VERSION_LEN],
    key: Zeroizing<Vec<u8>>,
    encryption_context: EncryptionContext,
}

impl fmt::Debug for BranchKeyMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BranchKeyMaterials")
            .field("branch_key_id", &self.branch_key_id)
            .field("version", &format_uuid(&self.version))
            .field("encryption_context", &self.encryption_context)
            .finish_non_exhaustive()
    }
}

impl BranchKeyMaterials {
    /// Branch key materials from a key ID, a version in UUID text form
    /// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`) and the 32-byte branch key.
    ///
    /// # Errors
    /// [`KeyringError::InvalidKey`] for a malformed version or a key that is not 32 bytes.
    pub fn new(branch_key_id: impl Into<String>, version: &str, key: &[u8]) -> Result<Self> {
        let version = parse_uuid(version).ok_or_else(|| {
            KeyringError::InvalidKey(format!("branch key version {version:?} is not a UUID"))
        })?;
        if key.len() != BRANCH_KEY_LEN {
            return Err(KeyringError::InvalidKey(format!(
                "a branch key is 32 bytes, not {}",
                key.len()
            ))
            .into());
        }
        Ok(Self {
            branch_key_id: branch_key_id.into(),
            version,
            key: Zeroizing::new(key.to_vec()),
            encryption_context: EncryptionContext::new(),
        })
    }

    /// The same materials carrying the branch key's custom encryption context (the pairs a key
    /// store bound to the branch key when it was created, without their `aws-crypto-ec:`
    /// prefix).
    #[must_use]
    pub fn with_encryption_context(mut self, encryption_context: EncryptionContext) -> Self {
        self.encryption_context = encryption_context;
        self
    }

    /// The branch key's custom encryption context (empty when none was bound).
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.encryption_context
    }

    /// The branch key ID.
    pub fn branch_key_id(&self) -> &str {
        &self.branch_key_id
    }

    /// The version, as UUID text.
    pub fn version(&self) -> String {
        format_uuid(&self.version)
    }

    /// The 32-byte branch key.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// The version, as the 16 bytes stored in encrypted data keys.
    pub fn version_bytes(&self) -> &[u8; VERSION_LEN] {
        &self.version
    }
}

pub(crate) fn parse_uuid(text: &str) -> Option<[u8; VERSION_LEN]> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
        return None;
    }
    let hex: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; VERSION_LEN];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

pub(crate) fn format_uuid(b: &[u8; VERSION_LEN]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::SignatureAlgorithm;

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
