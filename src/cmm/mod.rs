//! Cryptographic materials managers (`framework/cmm-interface.md`): they turn a request into
//! materials, usually by asking a keyring.

use futures::future::BoxFuture;

use crate::context::EncryptionContext;
use crate::error::Result;
use crate::materials::{DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

pub mod caching;
pub mod default;
pub mod required_ec;

pub use caching::{CachingCmm, CachingCmmBuilder};
pub use default::DefaultCmm;
pub use required_ec::RequiredEncryptionContextCmm;

/// What encryption asks a CMM for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EncryptionMaterialsRequest {
    /// The caller's encryption context.
    pub encryption_context: EncryptionContext,
    /// The client's commitment policy.
    pub commitment_policy: CommitmentPolicy,
    /// The suite the caller asked for, if any.
    pub algorithm_suite: Option<AlgorithmSuite>,
    /// The plaintext length, when known.
    pub max_plaintext_length: Option<u64>,
    /// Keys whose pairs must be authenticated but not stored.
    pub required_encryption_context_keys: Vec<String>,
}

impl EncryptionMaterialsRequest {
    /// A request for `encryption_context` under `commitment_policy`.
    pub fn new(encryption_context: EncryptionContext, commitment_policy: CommitmentPolicy) -> Self {
        Self {
            encryption_context,
            commitment_policy,
            algorithm_suite: None,
            max_plaintext_length: None,
            required_encryption_context_keys: Vec::new(),
        }
    }
}

/// What decryption asks a CMM for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecryptMaterialsRequest {
    /// The message's suite.
    pub algorithm_suite: AlgorithmSuite,
    /// The client's commitment policy.
    pub commitment_policy: CommitmentPolicy,
    /// The message's encrypted data keys.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// The encryption context stored in the message header.
    pub encryption_context: EncryptionContext,
    /// The context the caller supplied at decrypt time, if any.
    pub reproduced_encryption_context: Option<EncryptionContext>,
    /// Per-message checks for the keyrings (see [`DecryptionMaterials::with_request_checks`]).
    pub(crate) checks: crate::keyring::DecryptChecks,
}

impl DecryptMaterialsRequest {
    /// A request built from a parsed header. When the header was received by a decryptor, the
    /// request also carries what a keyring needs to check *candidate* data keys against the
    /// message (see [`DecryptionMaterials::with_request_checks`]).
    pub fn new(
        header: &crate::MessageHeader,
        commitment_policy: CommitmentPolicy,
        reproduced_encryption_context: Option<EncryptionContext>,
    ) -> Self {
        Self {
            algorithm_suite: header.algorithm_suite(),
            commitment_policy,
            encrypted_data_keys: header.encrypted_data_keys().to_vec(),
            encryption_context: header.encryption_context().clone(),
            reproduced_encryption_context,
            checks: crate::keyring::DecryptChecks {
                candidate: crate::proto::keys::CandidateCheck::for_header(
                    header,
                    crate::crypto::default_provider(),
                ),
                attempts: None,
            },
        }
    }
}

/// Provides materials for encryption and decryption.
pub trait CryptographicMaterialsManager: Send + Sync + std::fmt::Debug {
    /// Materials to encrypt one message.
    fn get_encryption_materials<'a>(
        &'a self,
        request: EncryptionMaterialsRequest,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>>;

    /// Materials to decrypt one message.
    fn decrypt_materials<'a>(
        &'a self,
        request: DecryptMaterialsRequest,
    ) -> BoxFuture<'a, Result<DecryptionMaterials>>;
}
