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

/// A specialised `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure this crate reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed ESDK message.
    #[error("malformed message: {0}")]
    Format(#[from] FormatError),
    /// An authentication check failed: the message was altered, or the wrong key was used.
    #[error("authentication failed: {0}")]
    Authentication(#[from] AuthError),
    /// A configured policy refused the operation.
    #[error("refused by policy: {0}")]
    Policy(#[from] PolicyError),
    /// A keyring or materials manager could not provide materials.
    #[error("keyring failure: {0}")]
    Keyring(#[from] KeyringError),
    /// A configured limit was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(#[from] LimitError),
    /// Reading or writing the underlying stream failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The API was used in a way it does not allow (a bug in the calling code).
    #[error("API misuse: {0}")]
    ApiMisuse(String),
    /// The cryptographic backend failed for a reason other than authentication.
    #[error("cryptographic backend failure: {0}")]
    Crypto(String),
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
        policy: crate::CommitmentPolicy,
        /// The suite refused.
        suite: u16,
    },
    /// The message has more encrypted data keys than allowed.
    #[error("{got} encrypted data keys, more than the maximum of {limit}")]
    TooManyEncryptedDataKeys {
        /// Configured maximum.
        limit: u16,
        /// Count found (or produced).
        got: usize,
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
    /// A remote key service failed; the service's own error is the source.
    #[error("key service error for {key_id}: {message}")]
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
pub struct KeyringAttempt {
    /// Who tried: a keyring description such as `raw-aes(namespace/name)`.
    pub keyring: String,
    /// Why it failed.
    pub reason: String,
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
    /// ([`EncryptOptions::plaintext_length`](crate::EncryptOptions::plaintext_length)), which the
    /// materials were obtained for.
    #[error(
        "more plaintext than the {0} bytes declared for this message (EncryptOptions::plaintext_length)"
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
