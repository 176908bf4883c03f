//! Cryptographic materials managers (`framework/cmm-interface.md`): they turn a request into
//! materials, usually by asking a keyring.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::format::context::EncryptionContext;
use crate::materials::{
    CandidateCheck, DecryptChecks, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials,
};
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
    pub(crate) checks: DecryptChecks,
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
            checks: DecryptChecks {
                candidate: crate::proto::keys::CandidateCheck::for_header(
                    header,
                    crate::crypto::default_provider(),
                )
                .map(|check| Arc::new(check) as Arc<dyn CandidateCheck>),
                attempts: None,
            },
        }
    }
}

// Defined here, with the request it reads, so that `materials` does not depend on `cmm`.
impl DecryptionMaterials {
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
    /// bytes, of the right length about once in 250 tries. [`DefaultCmm`]
    /// calls this; a custom CMM that builds its own materials should too, or such a keyring
    /// takes the first candidate of the right length (and decryption then fails on the key
    /// commitment or header tag instead of trying the next encrypted data key).
    #[must_use]
    pub fn with_request_checks(mut self, request: &DecryptMaterialsRequest) -> Self {
        self.checks = request.checks.clone();
        self
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
