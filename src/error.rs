//! The one error type of the crate, with its categories.
//!
//! [`Error`] is a small enum of *categories* (format, authentication, policy, keyring, limit,
//! I/O, API misuse); each category holds its own `#[non_exhaustive]` enum of precise cases, in
//! the manner of rustls. Authentication failures are deliberately coarse: they say *what* failed
//! to verify (the header, a frame, the signature, the key commitment) and never why, so that an
//! error message cannot be used as an oracle.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// A specialised `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure this crate reports.
///
/// Its `Display` says what failed, with the category's detail (the inner enum, which is part of
/// this error rather than a cause of it); [`source`](std::error::Error::source) returns only
/// causes that `Display` does not already show: a key service's own error (under
/// [`KeyringError::Service`]) or the cause of an I/O error. So printing a chain (`{:#}` in
/// `anyhow`, `-v` in the CLI) shows each text once.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed ESDK message.
    Format(FormatError),
    /// An authentication check failed: the message was altered, or the wrong key was used.
    Authentication(AuthError),
    /// A configured policy refused the operation.
    Policy(PolicyError),
    /// A keyring or materials manager could not provide materials.
    Keyring(KeyringError),
    /// A configured limit was exceeded.
    Limit(LimitError),
    /// Reading or writing the underlying stream failed.
    Io(io::Error),
    /// The API was used in a way it does not allow (a bug in the calling code).
    ApiMisuse(String),
    /// The cryptographic backend failed for a reason other than authentication.
    Crypto(CryptoError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Format(e) => write!(f, "malformed message: {e}"),
            Error::Authentication(e) => write!(f, "authentication failed: {e}"),
            Error::Policy(e) => write!(f, "refused by policy: {e}"),
            Error::Keyring(e) => write!(f, "keyring failure: {e}"),
            Error::Limit(e) => write!(f, "limit exceeded: {e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::ApiMisuse(e) => write!(f, "API misuse: {e}"),
            Error::Crypto(e) => write!(f, "cryptographic backend failure: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // The detail is shown by `Display`; its own cause (a key service's error) is not.
            Error::Keyring(e) => e.source(),
            // `Display` shows the I/O error's text, which includes its inner error's.
            Error::Io(e) => e.source(),
            _ => None,
        }
    }
}

macro_rules! from_detail {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}
from_detail!(
    Format(FormatError),
    Authentication(AuthError),
    Policy(PolicyError),
    Keyring(KeyringError),
    Limit(LimitError),
    Io(io::Error),
    Crypto(CryptoError),
);

/// The algorithm family a [`CryptoError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CryptoAlgorithm {
    /// AES-GCM.
    AesGcm,
    /// HKDF (the message key derivation).
    Hkdf,
    /// The counter-mode HMAC KDF of the keyrings (NIST SP 800-108).
    KdfCtr,
    /// RSA (the raw and KMS RSA keyrings).
    Rsa,
    /// ECDSA (message signatures).
    Ecdsa,
    /// ECDH (the ECDH keyrings).
    Ecdh,
}

impl fmt::Display for CryptoAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AesGcm => "AES-GCM",
            Self::Hkdf => "HKDF",
            Self::KdfCtr => "KDF-CTR",
            Self::Rsa => "RSA",
            Self::Ecdsa => "ECDSA",
            Self::Ecdh => "ECDH",
        })
    }
}

/// Failures of the cryptographic backend other than authentication (which is
/// [`AuthError`]): bad keys, lengths beyond an algorithm's bounds, a failed random source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key of the wrong length or form for its algorithm.
    #[error("invalid {0} key")]
    InvalidKey(CryptoAlgorithm),
    /// A key size the backend does not support.
    #[error("{algorithm} keys of {bits} bits are not supported by this backend")]
    UnsupportedKeySize {
        /// The algorithm.
        algorithm: CryptoAlgorithm,
        /// The size asked for.
        bits: usize,
    },
    /// An input or output longer than the algorithm allows.
    #[error("{0} input or output too long")]
    TooLong(CryptoAlgorithm),
    /// Key generation failed.
    #[error("{0} key generation failed")]
    KeyGeneration(CryptoAlgorithm),
    /// A key could not be encoded (DER, PEM, SEC1).
    #[error("{0} key encoding failed")]
    KeyEncoding(CryptoAlgorithm),
    /// The operation itself failed (encrypting, decrypting, signing, agreeing on a key).
    #[error("{0} operation failed")]
    OperationFailed(CryptoAlgorithm),
    /// The random source failed.
    #[error("the random source failed")]
    Random,
}

/// Ways in which bytes fail to be an ESDK message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The message ended before it was complete.
    #[error("message truncated")]
    Truncated,
    /// Bytes follow a complete message.
    #[error("{0} unexpected bytes after the end of the message")]
    TrailingData(usize),
    /// The input looks like base64 of an ESDK message rather than the message itself.
    #[error("input appears to be base64-encoded; decode it before decrypting")]
    Base64Encoded,
    /// The version byte is not 1 or 2.
    #[error("unknown message format version {0:#04x}")]
    UnknownVersion(u8),
    /// The v1 type byte is not 0x80.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// The suite identifier is not one of the eleven ESDK suites.
    #[error("unsupported algorithm suite {0:#06x}")]
    UnsupportedSuite(u16),
    /// The suite does not belong to the message format version that names it.
    #[error("algorithm suite {suite:#06x} is not valid in message format version {version}")]
    SuiteVersionMismatch {
        /// Suite identifier.
        suite: u16,
        /// Message format version.
        version: u8,
    },
    /// The content type is not framed (2) or non-framed (1).
    #[error("unknown content type {0:#04x}")]
    UnknownContentType(u8),
    /// The v1 reserved field is not zero.
    #[error("reserved header field is not zero")]
    ReservedNotZero,
    /// The header's IV length does not match the suite.
    #[error("IV length {0} does not match the algorithm suite")]
    BadIvLength(u8),
    /// The frame length is invalid for the content type.
    #[error("invalid frame length {0} for this content type")]
    BadFrameLength(u32),
    /// The header holds no encrypted data key.
    #[error("the header holds no encrypted data key")]
    NoEncryptedDataKeys,
    /// The encryption context could not be parsed.
    #[error("malformed encryption context: {0}")]
    EncryptionContext(&'static str),
    /// An encrypted data key entry could not be parsed.
    #[error("malformed encrypted data key")]
    EncryptedDataKey,
    /// A frame carries the wrong sequence number.
    #[error("frame sequence number {got}, expected {expected}")]
    BadSequence {
        /// The sequence number that was due.
        expected: u32,
        /// The sequence number found.
        got: u32,
    },
    /// The final frame says it holds more than one frame of content.
    #[error("final frame content length {len} exceeds the frame length {frame_length}")]
    FinalFrameTooLong {
        /// Content length in the final frame.
        len: u32,
        /// The message's frame length.
        frame_length: u32,
    },
    /// The non-framed content length is beyond what the format allows.
    #[error("non-framed content length {0} exceeds the format's maximum")]
    NonFramedTooLong(u64),
    /// The footer is malformed.
    #[error("malformed footer")]
    Footer,
    /// The message holds too many frames.
    #[error("too many frames")]
    TooManyFrames,
}

/// Authentication failures. Deliberately coarse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The header authentication tag did not verify.
    #[error("header authentication tag did not verify")]
    HeaderAuth,
    /// A frame's (or the non-framed body's) tag did not verify.
    #[error("body authentication tag did not verify (frame {seq})")]
    FrameTag {
        /// The sequence number of the frame.
        seq: u32,
    },
    /// The footer signature did not verify.
    #[error("message signature did not verify")]
    Signature,
    /// The key commitment in the header does not match the data key.
    #[error("key commitment does not match the data key")]
    KeyCommitment,
    /// A signature verification key could not be decoded.
    #[error("signature verification key is malformed")]
    BadVerificationKey,
}

/// Refusals by a configured policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The commitment policy does not allow this algorithm suite here.
    #[error("commitment policy {policy:?} does not allow algorithm suite {suite:#06x}")]
    Commitment {
        /// The policy in force.
        policy: CommitmentPolicy,
        /// The suite refused.
        suite: u16,
    },
    /// An encryption context key uses the reserved `aws-crypto-` prefix.
    #[error("encryption context key {0:?} uses the reserved prefix \"aws-crypto-\"")]
    ReservedEncryptionContextKey(String),
    /// The reproduced encryption context does not match the message.
    #[error("encryption context mismatch for key {0:?}")]
    EncryptionContextMismatch(String),
    /// A required encryption context key is missing.
    #[error("required encryption context key {0:?} is missing")]
    MissingRequiredEncryptionContextKey(String),
    /// The message is signed, and only unsigned messages were allowed.
    #[error("message is signed (algorithm suite {0:#06x}) and only unsigned messages are allowed")]
    SignedMessageNotAllowed(u16),
    /// Range decryption was asked of a message that does not allow it (a signed message,
    /// whose signature covers all of it, or a non-framed one).
    #[error("range decryption needs an unsigned framed message: {0}")]
    RangeNotSupported(&'static str),
    /// The materials returned do not match what was requested.
    #[error("materials do not match the request: {0}")]
    MaterialsMismatch(&'static str),
}

/// Keyring and materials failures.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// No keyring could decrypt any of the message's encrypted data keys.
    #[error("no encrypted data key could be decrypted{}", fmt_attempts(.attempts))]
    NoDecryptableKey {
        /// Why each attempt failed, in the order tried.
        attempts: Vec<KeyringAttempt>,
    },
    /// The keyring's configuration is invalid.
    #[error("invalid keyring configuration: {0}")]
    InvalidConfiguration(String),
    /// The keyring cannot perform this operation (for example, encrypt with a private key only).
    #[error("keyring cannot do this: {0}")]
    Unsupported(String),
    /// The materials already hold a plaintext data key where none was expected, or lack one.
    #[error("invalid materials: {0}")]
    InvalidMaterials(&'static str),
    /// Key material could not be parsed.
    #[error("invalid key material: {0}")]
    InvalidKey(String),
    /// A remote key service failed; the service's own error is the source. The message names
    /// the call and, for an error the service answered, its error code and message (as the
    /// SDK's error metadata gives them; the SDK error's own text is left to the source).
    #[error("{message} (key {key_id})")]
    Service {
        /// The key the call was for.
        key_id: String,
        /// A description of the failure.
        message: String,
        /// The service error.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The branch key store has no item for this branch key (ID and item type, such as
    /// `branch:ACTIVE` or `branch:version:<uuid>`).
    #[error("branch key store has no {item_type} item for branch key {branch_key_id:?}")]
    BranchKeyNotFound {
        /// The branch key ID asked for.
        branch_key_id: String,
        /// The item type (the table's sort key) asked for.
        item_type: String,
    },
    /// A branch key store item or table is not what the key store schema requires (a missing
    /// or mistyped attribute, another KMS key, an unexpected key schema, a lost write race).
    #[error("branch key store: {0}")]
    KeyStore(String),
}

/// One failed attempt to decrypt a data key, as collected by keyrings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeyringAttempt {
    /// Who tried: a keyring description such as `raw-aes(namespace/name)`.
    pub keyring: String,
    /// Why it failed, in words.
    pub reason: String,
    /// The error the attempt failed with, when there was one (a key service's, a key store's,
    /// a backend's): typed, so that a caller can tell a throttled or unreachable key service
    /// ([`ErrorKind::Unavailable`]) from a key that did not match. `None` when the reason is
    /// all there is (another key, a tag that did not verify).
    pub error: Option<Arc<Error>>,
}

impl KeyringAttempt {
    /// An attempt that failed for `reason`, with no error behind it.
    pub fn new(keyring: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            keyring: keyring.into(),
            reason: reason.into(),
            error: None,
        }
    }

    /// An attempt that failed with `error` (its text is the reason).
    pub fn failed(keyring: impl Into<String>, error: Error) -> Self {
        Self {
            keyring: keyring.into(),
            reason: error.to_string(),
            error: Some(Arc::new(error)),
        }
    }

    /// The kind of the attempt's error, when it failed with one.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.error.as_deref().map(Error::kind)
    }
}

impl fmt::Display for KeyringAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.keyring, self.reason)
    }
}

/// How many keyring attempts an error message lists; the rest are counted ("and N more"), so
/// that a message with thousands of encrypted data keys cannot make an error message (a log
/// line) megabytes long. All of them stay in the error's `attempts`.
pub const MAX_LISTED_ATTEMPTS: usize = 10;

fn fmt_attempts(attempts: &[KeyringAttempt]) -> String {
    if attempts.is_empty() {
        return String::from(" (no key matched)");
    }
    let mut parts: Vec<String> = attempts
        .iter()
        .take(MAX_LISTED_ATTEMPTS)
        .map(|a| a.to_string())
        .collect();
    if attempts.len() > MAX_LISTED_ATTEMPTS {
        parts.push(format!("and {} more", attempts.len() - MAX_LISTED_ATTEMPTS));
    }
    format!(" ({})", parts.join("; "))
}

/// A configured limit was exceeded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The message has more encrypted data keys than allowed.
    #[error("{got} encrypted data keys, more than the maximum of {limit}")]
    TooManyEncryptedDataKeys {
        /// Configured maximum.
        limit: u16,
        /// Count found (or produced).
        got: usize,
    },
    /// The header is longer than allowed.
    #[error("header longer than {0} bytes")]
    HeaderTooLarge(usize),
    /// The frame length is above the configured maximum.
    #[error(
        "frame length {got} above the maximum of {limit} (a frame is held whole until its tag \
         verifies; raise the limit with Limits::max_frame_length)"
    )]
    FrameTooLarge {
        /// Configured maximum.
        limit: u32,
        /// Frame length in the message.
        got: u32,
    },
    /// The non-framed body is longer than allowed.
    #[error(
        "non-framed body of {got} bytes above the maximum of {limit} (the body is held whole \
         until its tag verifies; raise the limit with Limits::max_body_len)"
    )]
    BodyTooLarge {
        /// Configured maximum.
        limit: u64,
        /// Length in the message.
        got: u64,
    },
    /// The plaintext is larger than the declared or possible maximum.
    #[error("plaintext longer than {0} bytes")]
    PlaintextTooLarge(u64),
    /// More plaintext than the length declared for the message
    /// ([`EncryptOptions::max_plaintext_length`](crate::EncryptOptions::max_plaintext_length)), which the
    /// materials were obtained for.
    #[error(
        "more plaintext than the {0} bytes declared for this message (EncryptOptions::max_plaintext_length)"
    )]
    PlaintextLengthExceeded(u64),
    /// A frame or body too long to address on this platform (a 32-bit target).
    #[error("{0} too large for this platform's address space")]
    TooLargeForPlatform(&'static str),
    /// The encryption context is too large to serialize.
    #[error("encryption context too large to serialize")]
    EncryptionContextTooLarge,
    /// A field is too long for its length prefix.
    #[error("{0} too long for the message format")]
    FieldTooLong(&'static str),
    /// A storm-tracking cache made the caller wait longer than its in-flight TTL (given) for
    /// another caller's fetch of the same entry, or for a free fan-out slot.
    #[error("waited longer than the storm-tracking cache's in-flight TTL of {0:?} for materials")]
    InFlightTtlExceeded(std::time::Duration),
}

/// What kind of failure an [`Error`] is, for callers that must answer someone (an HTTP
/// status, a retry decision, a log level): see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not a well-formed message, ended early, or its sender went away (format
    /// errors, truncation, a reset or aborted connection). HTTP `400`.
    Input,
    /// The message did not authenticate: altered, or not decryptable with the keys at hand
    /// (header, frame or signature tags, key commitment, no decryptable data key). HTTP `422`.
    Authentication,
    /// A configured limit was exceeded. HTTP `413`.
    Limit,
    /// A configured policy refused the operation (commitment policy, encryption context
    /// mismatch, a signed message where only unsigned ones are allowed). HTTP `403`.
    Policy,
    /// A remote key service or key store failed; retrying later may succeed. HTTP `503`.
    Unavailable,
    /// A fault on this side: configuration, a backend failure, API misuse, local I/O. HTTP `500`.
    Internal,
}

impl Error {
    pub(crate) fn misuse(msg: impl Into<String>) -> Self {
        Error::ApiMisuse(msg.into())
    }

    /// What kind of failure this is (see [`ErrorKind`]; `esdk::http::status_code` maps it to
    /// an HTTP status).
    ///
    /// An [`Error::Io`] counts as [`ErrorKind::Input`] when it says the peer went away or the
    /// data ended early (`UnexpectedEof`, `ConnectionReset`, `ConnectionAborted`, `BrokenPipe`,
    /// `InvalidData`), as [`ErrorKind::Internal`] otherwise; one that wraps an [`Error`] (as
    /// the adapters' do) counts as that error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Format(_) => ErrorKind::Input,
            Error::Authentication(_) => ErrorKind::Authentication,
            Error::Policy(_) => ErrorKind::Policy,
            Error::Limit(_) => ErrorKind::Limit,
            Error::Keyring(k) => match k {
                // A key service that could not be asked (throttled, unreachable) may decrypt
                // on a retry: not the same as no key matching.
                KeyringError::NoDecryptableKey { attempts }
                    if attempts
                        .iter()
                        .any(|a| a.kind() == Some(ErrorKind::Unavailable)) =>
                {
                    ErrorKind::Unavailable
                }
                KeyringError::NoDecryptableKey { .. } => ErrorKind::Authentication,
                KeyringError::Service { .. } | KeyringError::KeyStore(_) => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            Error::Io(e) => match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                Some(inner) => inner.kind(),
                None => match e.kind() {
                    io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::InvalidData => ErrorKind::Input,
                    _ => ErrorKind::Internal,
                },
            },
            Error::ApiMisuse(_) | Error::Crypto(_) => ErrorKind::Internal,
        }
    }

    /// True when the error means the input ended early.
    pub fn is_truncation(&self) -> bool {
        matches!(self, Error::Format(FormatError::Truncated))
    }
}

impl From<Error> for io::Error {
    /// Maps an [`Error`] into an [`io::Error`] that keeps the typed error as its inner error:
    /// truncation becomes `UnexpectedEof`, format and authentication errors `InvalidData`.
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Io(inner) => return io::Error::new(inner.kind(), e),
            Error::Format(FormatError::Truncated) => io::ErrorKind::UnexpectedEof,
            Error::Format(_) | Error::Authentication(_) => io::ErrorKind::InvalidData,
            Error::Policy(_) | Error::Limit(_) => io::ErrorKind::InvalidData,
            Error::ApiMisuse(_) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

// The suite checks that answer with an `Error` are defined here rather than in `suite`, so that
// `suite` depends on nothing and `error` only on it.
impl AlgorithmSuite {
    /// The suite with this identifier, or a format error naming it.
    pub fn from_id(id: u16) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.id() == id)
            .ok_or_else(|| FormatError::UnsupportedSuite(id).into())
    }
}

impl CommitmentPolicy {
    /// Checks that this policy allows encrypting with `suite`
    /// ([`allows_encrypt`](Self::allows_encrypt)), or a [`PolicyError::Commitment`].
    pub fn check_encrypt(self, suite: AlgorithmSuite) -> Result<()> {
        self.verdict(self.allows_encrypt(suite), suite)
    }

    /// Checks that this policy allows decrypting a message in `suite`
    /// ([`allows_decrypt`](Self::allows_decrypt)), or a [`PolicyError::Commitment`].
    pub fn check_decrypt(self, suite: AlgorithmSuite) -> Result<()> {
        self.verdict(self.allows_decrypt(suite), suite)
    }

    fn verdict(self, ok: bool, suite: AlgorithmSuite) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(PolicyError::Commitment {
                policy: self,
                suite: suite.id(),
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks `err`'s chain: no error's text contains its source's.
    fn assert_no_repeats(err: &(dyn std::error::Error + 'static)) -> usize {
        let mut texts = vec![err.to_string()];
        let mut next = err.source();
        while let Some(e) = next {
            let text = e.to_string();
            let parent = texts.last().expect("one text");
            assert!(
                !parent.contains(&text),
                "{parent:?} repeats its source {text:?}"
            );
            texts.push(text);
            next = e.source();
        }
        texts.len()
    }

    fn service() -> Error {
        KeyringError::Service {
            key_id: "arn:aws:kms:us-west-2:111122223333:key/k".into(),
            message: "KMS Decrypt failed: ThrottlingException: Rate exceeded".into(),
            source: Some(Arc::new(io::Error::other("connection reset by peer"))),
        }
        .into()
    }

    #[test]
    fn display_does_not_repeat_the_source() {
        let details: Vec<Error> = vec![
            FormatError::Truncated.into(),
            AuthError::FrameTag { seq: 3 }.into(),
            PolicyError::SignedMessageNotAllowed(0x0578).into(),
            LimitError::TooManyEncryptedDataKeys { limit: 1, got: 2 }.into(),
            CryptoError::InvalidKey(CryptoAlgorithm::AesGcm).into(),
            Error::misuse("no"),
        ];
        for e in &details {
            // The category's detail is in the message, not a second link of the chain.
            assert_eq!(assert_no_repeats(e), 1, "{e}");
        }
        // A key service error: the message names the call, the source is the service's error.
        let e = service();
        assert_eq!(assert_no_repeats(&e), 2, "{e}");
        assert_eq!(
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .as_deref(),
            Some("connection reset by peer")
        );
        // The adapters' io::Error around an Error: printed once, its cause still reachable.
        let wrapped = Error::Io(io::Error::other(service()));
        assert_eq!(assert_no_repeats(&wrapped), 2, "{wrapped}");
        assert_eq!(wrapped.kind(), ErrorKind::Unavailable);
        let wrapped = Error::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            Error::from(AuthError::HeaderAuth),
        ));
        assert_eq!(assert_no_repeats(&wrapped), 1, "{wrapped}");
    }

    #[test]
    fn kinds() {
        let too_many: Error = LimitError::TooManyEncryptedDataKeys { limit: 1, got: 2 }.into();
        assert_eq!(too_many.kind(), ErrorKind::Limit);
        let crypto: Error = CryptoError::Random.into();
        assert_eq!(crypto.kind(), ErrorKind::Internal);
        assert_eq!(service().kind(), ErrorKind::Unavailable);
        // "No decryptable key" is Authentication unless an attempt could not ask its service.
        let unmatched: Error = KeyringError::NoDecryptableKey {
            attempts: vec![KeyringAttempt::new("raw-aes(a/b)", "another key")],
        }
        .into();
        assert_eq!(unmatched.kind(), ErrorKind::Authentication);
        let throttled: Error = KeyringError::NoDecryptableKey {
            attempts: vec![
                KeyringAttempt::new("raw-aes(a/b)", "another key"),
                KeyringAttempt::failed("aws-kms(k)", service()),
            ],
        }
        .into();
        assert_eq!(throttled.kind(), ErrorKind::Unavailable);
        let Error::Keyring(KeyringError::NoDecryptableKey { attempts }) = &throttled else {
            panic!("{throttled}")
        };
        assert_eq!(attempts[1].kind(), Some(ErrorKind::Unavailable));
        assert!(attempts[0].error.is_none());
    }
}
