//! Limits on what a decryptor accepts, each checked before any memory is committed to it.

/// Decryption limits, set with chained setters in the manner of tokio-util's
/// `LengthDelimitedCodec::builder()`.
///
/// | limit | default | why |
/// |---|---|---|
/// | `max_encrypted_data_keys` | none (the format's 65535) | the spec leaves it to the caller; set it when you know how many keys your writers use |
/// | `max_encryption_context_len` | 65535 (the format's maximum) | the serialized context is parsed into a map; lower it to bound that work |
/// | `max_header_len` | 4 MiB | a header that large means thousands of data keys; it is buffered whole before its tag can be checked |
/// | `max_frame_length` | 2^32 − 1 (the format's maximum) | a frame is buffered whole before its tag is checked, so memory per stream is bounded by this |
/// | `max_body_len` | 2^36 − 32 (the format's maximum) | a non-framed body is buffered whole before its tag is checked |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub(crate) max_encrypted_data_keys: Option<u16>,
    pub(crate) max_encryption_context_len: u16,
    pub(crate) max_header_len: usize,
    pub(crate) max_frame_length: u32,
    pub(crate) max_body_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_encrypted_data_keys: None,
            max_encryption_context_len: u16::MAX,
            max_header_len: 4 << 20,
            max_frame_length: u32::MAX,
            max_body_len: crate::format::body::MAX_NON_FRAMED_LEN,
        }
    }
}

impl Limits {
    /// The default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuse messages with more than `n` encrypted data keys, before any key is parsed.
    pub fn max_encrypted_data_keys(mut self, n: u16) -> Self {
        self.max_encrypted_data_keys = Some(n);
        self
    }

    /// Refuse messages whose serialized encryption context is longer than `n` bytes.
    pub fn max_encryption_context_len(mut self, n: u16) -> Self {
        self.max_encryption_context_len = n;
        self
    }

    /// Refuse headers longer than `n` bytes.
    pub fn max_header_len(mut self, n: usize) -> Self {
        self.max_header_len = n;
        self
    }

    /// Refuse framed messages whose frame length is above `n`.
    pub fn max_frame_length(mut self, n: u32) -> Self {
        self.max_frame_length = n;
        self
    }

    /// Refuse non-framed bodies longer than `n` bytes.
    pub fn max_body_len(mut self, n: u64) -> Self {
        self.max_body_len = n;
        self
    }

    /// The configured maximum number of encrypted data keys.
    pub fn get_max_encrypted_data_keys(&self) -> Option<u16> {
        self.max_encrypted_data_keys
    }
}
