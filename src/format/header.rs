//! Header body and header authentication (`data-format/message-header.md`).

use crate::context::EncryptionContext;
use crate::error::{Error, FormatError, LimitError, PolicyError, Result};
use crate::format::codec::{Incomplete, Reader, put_u16_prefixed};
use crate::limits::Limits;
use crate::materials::EncryptedDataKey;
use crate::suite::{AlgorithmSuite, IV_LEN, MessageFormatVersion, TAG_LEN};

/// How the message body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentType {
    /// One AES-GCM block for the whole plaintext. Decrypt only.
    NonFramed,
    /// A sequence of frames (the only layout this crate writes).
    Framed,
}

impl ContentType {
    fn byte(self) -> u8 {
        match self {
            Self::NonFramed => 1,
            Self::Framed => 2,
        }
    }
}

/// A parsed message header: what the message says about itself.
///
/// The header's encryption context is the one *stored* in the message; keys that a
/// required-encryption-context CMM kept out of the header are not in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    pub(crate) suite: AlgorithmSuite,
    pub(crate) message_id: Vec<u8>,
    pub(crate) encryption_context: EncryptionContext,
    pub(crate) encrypted_data_keys: Vec<EncryptedDataKey>,
    pub(crate) content_type: ContentType,
    pub(crate) frame_length: u32,
    pub(crate) commitment: Option<[u8; 32]>,
}

impl MessageHeader {
    /// The algorithm suite.
    pub fn algorithm_suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The message format version.
    pub fn version(&self) -> MessageFormatVersion {
        self.suite.message_format_version()
    }

    /// The random message ID (16 bytes in v1, 32 in v2).
    pub fn message_id(&self) -> &[u8] {
        &self.message_id
    }

    /// The encryption context stored in the header.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.encryption_context
    }

    /// The encrypted data keys, in message order.
    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.encrypted_data_keys
    }

    /// Framed or non-framed.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// The frame length (0 for a non-framed message).
    pub fn frame_length(&self) -> u32 {
        self.frame_length
    }

    /// The key commitment value of a message format v2 header (32 bytes); `None` in v1.
    pub fn commitment_key(&self) -> Option<&[u8]> {
        self.commitment.as_ref().map(|c| &c[..])
    }

    /// The length of the header authentication that follows the header body.
    pub(crate) fn auth_len(&self) -> usize {
        match self.version() {
            MessageFormatVersion::V1 => IV_LEN + TAG_LEN,
            MessageFormatVersion::V2 => TAG_LEN,
        }
    }

    /// Serializes the header body.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let version = self.version();
        let ec = self.encryption_context.serialize()?;
        let mut out = Vec::with_capacity(128 + ec.len());
        out.push(version.byte());
        if version == MessageFormatVersion::V1 {
            out.push(0x80);
        }
        out.extend_from_slice(&self.suite.id().to_be_bytes());
        out.extend_from_slice(&self.message_id);
        put_u16_prefixed(&mut out, &ec, "encryption context")?;
        let count = u16::try_from(self.encrypted_data_keys.len())
            .map_err(|_| LimitError::FieldTooLong("encrypted data key list"))?;
        out.extend_from_slice(&count.to_be_bytes());
        for edk in &self.encrypted_data_keys {
            edk.encode(&mut out)?;
        }
        out.push(self.content_type.byte());
        if version == MessageFormatVersion::V1 {
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.push(IV_LEN as u8);
        }
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        if let Some(commit) = &self.commitment {
            out.extend_from_slice(commit);
        }
        Ok(out)
    }
}

/// The outcome of trying to parse a header body from a prefix of the input.
pub(crate) enum Parsed<T> {
    /// Parsed; the value and the number of bytes it took.
    Done(T, usize),
    /// More input is needed: at least this many bytes in all.
    Incomplete(usize),
}

impl From<Incomplete> for Error {
    fn from(_: Incomplete) -> Self {
        FormatError::Truncated.into()
    }
}

/// Parses a header body from the start of `buf`.
///
/// Checks are made as soon as the bytes they need are present: the version, type and suite
/// first; the encrypted-data-key count against `limits` before any key is read; the header
/// length against `limits` whatever has arrived.
pub(crate) fn parse_header_body(buf: &[u8], limits: &Limits) -> Result<Parsed<MessageHeader>> {
    match parse_inner(buf, limits) {
        Ok(v) => Ok(v),
        Err(ParseFail::Incomplete(needed)) => {
            if needed > limits.max_header_len {
                return Err(LimitError::HeaderTooLarge(limits.max_header_len).into());
            }
            Ok(Parsed::Incomplete(needed))
        }
        Err(ParseFail::Invalid(e)) => Err(e),
    }
}

enum ParseFail {
    Incomplete(usize),
    Invalid(Error),
}

impl From<Incomplete> for ParseFail {
    fn from(i: Incomplete) -> Self {
        ParseFail::Incomplete(i.needed)
    }
}

fn invalid(e: impl Into<Error>) -> ParseFail {
    ParseFail::Invalid(e.into())
}

fn parse_inner(buf: &[u8], limits: &Limits) -> Result<Parsed<MessageHeader>, ParseFail> {
    let mut r = Reader::new(buf);
    let version = r.u8()?;
    let version = match version {
        1 => MessageFormatVersion::V1,
        2 => MessageFormatVersion::V2,
        // "AY" / "Ag" are base64 of 01 80 / 02 ..: the caller forgot to decode.
        b'A' => return Err(invalid(FormatError::Base64Encoded)),
        v => return Err(invalid(FormatError::UnknownVersion(v))),
    };
    if version == MessageFormatVersion::V1 {
        let ty = r.u8()?;
        if ty != 0x80 {
            return Err(invalid(FormatError::UnknownType(ty)));
        }
    }
    let suite_id = r.u16()?;
    let suite = AlgorithmSuite::from_id(suite_id).map_err(ParseFail::Invalid)?;
    if suite.message_format_version() != version {
        return Err(invalid(FormatError::SuiteVersionMismatch {
            suite: suite_id,
            version: version.byte(),
        }));
    }
    let message_id = r.take(version.message_id_len())?.to_vec();
    let ec_len = r.u16()?;
    if ec_len > limits.max_encryption_context_len {
        return Err(invalid(LimitError::EncryptionContextTooLarge));
    }
    let ec_bytes = r.take(usize::from(ec_len))?;
    let encryption_context =
        EncryptionContext::deserialize(ec_bytes).map_err(ParseFail::Invalid)?;
    let count = r.u16()?;
    if count == 0 {
        return Err(invalid(FormatError::NoEncryptedDataKeys));
    }
    if let Some(limit) = limits.max_encrypted_data_keys
        && count > limit
    {
        return Err(invalid(PolicyError::TooManyEncryptedDataKeys {
            limit,
            got: usize::from(count),
        }));
    }
    // Each entry takes at least 6 bytes: never reserve more than the input could hold.
    let mut encrypted_data_keys = Vec::with_capacity(usize::from(count).min(r.remaining() / 6));
    for _ in 0..count {
        let provider_id = r.u16_prefixed()?;
        let provider_info = r.u16_prefixed()?;
        let ciphertext = r.u16_prefixed()?;
        let provider_id =
            std::str::from_utf8(provider_id).map_err(|_| invalid(FormatError::EncryptedDataKey))?;
        encrypted_data_keys.push(EncryptedDataKey::new(
            provider_id,
            provider_info.to_vec(),
            ciphertext.to_vec(),
        ));
    }
    let content_type = match r.u8()? {
        1 => ContentType::NonFramed,
        2 => ContentType::Framed,
        other => return Err(invalid(FormatError::UnknownContentType(other))),
    };
    if version == MessageFormatVersion::V1 {
        if r.array::<4>()? != [0; 4] {
            return Err(invalid(FormatError::ReservedNotZero));
        }
        let iv_len = r.u8()?;
        if usize::from(iv_len) != IV_LEN {
            return Err(invalid(FormatError::BadIvLength(iv_len)));
        }
    }
    let frame_length = r.u32()?;
    match content_type {
        ContentType::NonFramed if frame_length != 0 => {
            return Err(invalid(FormatError::BadFrameLength(frame_length)));
        }
        ContentType::Framed if frame_length == 0 => {
            return Err(invalid(FormatError::BadFrameLength(frame_length)));
        }
        ContentType::Framed if frame_length > limits.max_frame_length => {
            return Err(invalid(LimitError::FrameTooLarge {
                limit: limits.max_frame_length,
                got: frame_length,
            }));
        }
        _ => {}
    }
    let commitment = match version {
        MessageFormatVersion::V2 => Some(r.array::<32>()?),
        MessageFormatVersion::V1 => None,
    };
    if r.position() > limits.max_header_len {
        return Err(invalid(LimitError::HeaderTooLarge(limits.max_header_len)));
    }
    Ok(Parsed::Done(
        MessageHeader {
            suite,
            message_id,
            encryption_context,
            encrypted_data_keys,
            content_type,
            frame_length,
            commitment,
        },
        r.position(),
    ))
}
