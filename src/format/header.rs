//! Header body and header authentication (`data-format/message-header.md`).

use crate::error::{Error, FormatError, LimitError, Result};
use crate::format::EncryptedDataKey;
use crate::format::codec::{Incomplete, Reader, put_u16_prefixed};
use crate::format::context::EncryptionContext;
use crate::limits::Limits;
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
#[derive(Debug, Clone)]
pub struct MessageHeader {
    pub(crate) suite: AlgorithmSuite,
    pub(crate) message_id: Vec<u8>,
    pub(crate) encryption_context: EncryptionContext,
    pub(crate) encrypted_data_keys: Vec<EncryptedDataKey>,
    pub(crate) content_type: ContentType,
    pub(crate) frame_length: u32,
    pub(crate) commitment: Option<[u8; 32]>,
    /// A received v1 header as it came (body and authentication), so that candidate data
    /// keys can be checked against its tag (`proto::keys::CandidateCheck`); `None` otherwise.
    pub(crate) raw: Option<bytes::Bytes>,
}

/// Headers are equal when their fields are: how a header was received does not matter.
impl PartialEq for MessageHeader {
    fn eq(&self, other: &Self) -> bool {
        self.suite == other.suite
            && self.message_id == other.message_id
            && self.encryption_context == other.encryption_context
            && self.encrypted_data_keys == other.encrypted_data_keys
            && self.content_type == other.content_type
            && self.frame_length == other.frame_length
            && self.commitment == other.commitment
    }
}

impl Eq for MessageHeader {}

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

/// The next field a [`HeaderParser`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Version,
    Type,
    Suite,
    MessageId,
    ContextLen,
    Context(u16),
    KeyCount,
    /// Encrypted data keys still to read (this one included); the length prefix of `part`
    /// (provider ID, provider info, ciphertext) of the current one.
    KeyLen {
        left: u16,
        part: u8,
    },
    /// The `len` bytes of `part` of the current encrypted data key.
    KeyPart {
        left: u16,
        part: u8,
        len: u16,
    },
    ContentType,
    Reserved,
    IvLen,
    FrameLength,
    Commitment,
}

/// Parses a header body incrementally: each call to [`resume`](Self::resume) continues from the
/// first field the previous call could not complete, so a header that arrives a byte at a
/// time costs the same work as one that arrives whole (plus a constant per call).
///
/// Checks are made as soon as the bytes they need are present: the version, type and suite
/// first; the encrypted-data-key count against the limits before any key is read; the header
/// length against the limits whatever has arrived.
#[derive(Debug)]
pub(crate) struct HeaderParser {
    /// Bytes of the header body taken by completed fields.
    pos: usize,
    next: Field,
    version: MessageFormatVersion,
    suite: Option<AlgorithmSuite>,
    message_id: Vec<u8>,
    encryption_context: EncryptionContext,
    encrypted_data_keys: Vec<EncryptedDataKey>,
    /// Provider ID and provider info of the encrypted data key being read.
    key_parts: (String, Vec<u8>),
    content_type: ContentType,
    frame_length: u32,
    commitment: Option<[u8; 32]>,
}

impl HeaderParser {
    pub(crate) fn new() -> Self {
        Self {
            pos: 0,
            next: Field::Version,
            version: MessageFormatVersion::V2,
            suite: None,
            message_id: Vec::new(),
            encryption_context: EncryptionContext::new(),
            encrypted_data_keys: Vec::new(),
            key_parts: (String::new(), Vec::new()),
            content_type: ContentType::Framed,
            frame_length: 0,
            commitment: None,
        }
    }

    /// Continues parsing; `buf` is the header body from its first byte, as in the last call
    /// plus whatever arrived since. Once it returns `Done` the parser must not be used again.
    pub(crate) fn resume(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed<MessageHeader>> {
        let start = self.pos;
        let out = self.fields(buf, limits);
        // Work: one per attempt, plus the bytes of the fields completed. (Each field is a single
        // read, so an incomplete one examines nothing.)
        count_work(1 + self.pos - start);
        match out {
            Ok(header) => Ok(Parsed::Done(header, self.pos)),
            Err(ParseFail::Incomplete(needed)) => {
                if needed > limits.max_header_len {
                    return Err(LimitError::HeaderTooLarge(limits.max_header_len).into());
                }
                Ok(Parsed::Incomplete(needed))
            }
            Err(ParseFail::Invalid(e)) => Err(e),
        }
    }

    /// Reads fields from `self.pos` on, committing each one as it completes.
    fn fields(&mut self, buf: &[u8], limits: &Limits) -> Result<MessageHeader, ParseFail> {
        loop {
            let rest = buf.get(self.pos..).unwrap_or_default();
            let mut r = Reader::new(rest);
            let at = self.pos;
            let step = self.field(&mut r, limits).map_err(|e| match e {
                ParseFail::Incomplete(n) => ParseFail::Incomplete(at.saturating_add(n)),
                other => other,
            })?;
            self.pos += r.position();
            if self.pos > limits.max_header_len {
                return Err(invalid(LimitError::HeaderTooLarge(limits.max_header_len)));
            }
            if step {
                return self.header();
            }
        }
    }

    /// Reads the next field from `r`; true when it was the last.
    fn field(&mut self, r: &mut Reader<'_>, limits: &Limits) -> Result<bool, ParseFail> {
        let version = self.version;
        match self.next {
            Field::Version => {
                self.version = match r.u8()? {
                    1 => MessageFormatVersion::V1,
                    2 => MessageFormatVersion::V2,
                    // "AY" / "Ag" are base64 of 01 80 / 02 ..: the caller forgot to decode.
                    b'A' => return Err(invalid(FormatError::Base64Encoded)),
                    v => return Err(invalid(FormatError::UnknownVersion(v))),
                };
                self.next = match self.version {
                    MessageFormatVersion::V1 => Field::Type,
                    MessageFormatVersion::V2 => Field::Suite,
                };
            }
            Field::Type => {
                let ty = r.u8()?;
                if ty != 0x80 {
                    return Err(invalid(FormatError::UnknownType(ty)));
                }
                self.next = Field::Suite;
            }
            Field::Suite => {
                let suite_id = r.u16()?;
                let suite = AlgorithmSuite::from_id(suite_id).map_err(ParseFail::Invalid)?;
                if suite.message_format_version() != version {
                    return Err(invalid(FormatError::SuiteVersionMismatch {
                        suite: suite_id,
                        version: version.byte(),
                    }));
                }
                self.suite = Some(suite);
                self.next = Field::MessageId;
            }
            Field::MessageId => {
                self.message_id = r.take(version.message_id_len())?.to_vec();
                self.next = Field::ContextLen;
            }
            Field::ContextLen => {
                let ec_len = r.u16()?;
                if ec_len > limits.max_encryption_context_len {
                    return Err(invalid(LimitError::EncryptionContextTooLarge));
                }
                self.next = Field::Context(ec_len);
            }
            Field::Context(len) => {
                let ec_bytes = r.take(usize::from(len))?;
                self.encryption_context =
                    EncryptionContext::deserialize(ec_bytes).map_err(ParseFail::Invalid)?;
                self.next = Field::KeyCount;
            }
            Field::KeyCount => {
                let count = r.u16()?;
                if count == 0 {
                    return Err(invalid(FormatError::NoEncryptedDataKeys));
                }
                if let Some(limit) = limits.max_encrypted_data_keys
                    && count > limit
                {
                    return Err(invalid(LimitError::TooManyEncryptedDataKeys {
                        limit,
                        got: usize::from(count),
                    }));
                }
                // Each entry takes at least 6 bytes: never reserve more than the input could
                // hold.
                self.encrypted_data_keys =
                    Vec::with_capacity(usize::from(count).min(r.remaining() / 6));
                self.next = Field::KeyLen {
                    left: count,
                    part: 0,
                };
            }
            Field::KeyLen { left: 0, .. } => self.next = Field::ContentType,
            Field::KeyLen { left, part } => {
                let len = r.u16()?;
                self.next = Field::KeyPart { left, part, len };
            }
            Field::KeyPart { left, part, len } => {
                let bytes = r.take(usize::from(len))?;
                self.next = match part {
                    0 => {
                        let id = std::str::from_utf8(bytes)
                            .map_err(|_| invalid(FormatError::EncryptedDataKey))?;
                        self.key_parts.0 = id.to_owned();
                        Field::KeyLen { left, part: 1 }
                    }
                    1 => {
                        self.key_parts.1 = bytes.to_vec();
                        Field::KeyLen { left, part: 2 }
                    }
                    _ => {
                        self.encrypted_data_keys.push(EncryptedDataKey::new(
                            std::mem::take(&mut self.key_parts.0),
                            std::mem::take(&mut self.key_parts.1),
                            bytes.to_vec(),
                        ));
                        Field::KeyLen {
                            left: left - 1,
                            part: 0,
                        }
                    }
                };
            }
            Field::ContentType => {
                self.content_type = match r.u8()? {
                    1 => ContentType::NonFramed,
                    2 => ContentType::Framed,
                    other => return Err(invalid(FormatError::UnknownContentType(other))),
                };
                self.next = match version {
                    MessageFormatVersion::V1 => Field::Reserved,
                    MessageFormatVersion::V2 => Field::FrameLength,
                };
            }
            Field::Reserved => {
                if r.array::<4>()? != [0; 4] {
                    return Err(invalid(FormatError::ReservedNotZero));
                }
                self.next = Field::IvLen;
            }
            Field::IvLen => {
                let iv_len = r.u8()?;
                if usize::from(iv_len) != IV_LEN {
                    return Err(invalid(FormatError::BadIvLength(iv_len)));
                }
                self.next = Field::FrameLength;
            }
            Field::FrameLength => {
                let frame_length = r.u32()?;
                match self.content_type {
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
                // Every later `head + frame length + tag` then fits in a usize.
                crate::format::body::check_frame_length(frame_length)
                    .map_err(ParseFail::Invalid)?;
                self.frame_length = frame_length;
                match version {
                    MessageFormatVersion::V1 => return Ok(true),
                    MessageFormatVersion::V2 => self.next = Field::Commitment,
                }
            }
            Field::Commitment => {
                self.commitment = Some(r.array::<32>()?);
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The parsed header, once every field is in.
    fn header(&mut self) -> Result<MessageHeader, ParseFail> {
        let suite = self
            .suite
            .ok_or_else(|| invalid(Error::misuse("header parsed without a suite")))?;
        Ok(MessageHeader {
            suite,
            message_id: std::mem::take(&mut self.message_id),
            encryption_context: std::mem::take(&mut self.encryption_context),
            encrypted_data_keys: std::mem::take(&mut self.encrypted_data_keys),
            content_type: self.content_type,
            frame_length: self.frame_length,
            commitment: self.commitment,
            raw: None,
        })
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

thread_local! {
    static PARSE_WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Adds `n` units to this thread's header-parse work counter.
fn count_work(n: usize) {
    PARSE_WORK.with(|w| w.set(w.get().saturating_add(n as u64)));
}

/// Header-parse work done on this thread so far: bytes examined plus one per parse attempt.
/// For tests that prove parsing costs linear work however the header is fed.
#[doc(hidden)]
pub fn header_parse_work() -> u64 {
    PARSE_WORK.with(|w| w.get())
}
