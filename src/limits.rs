//! Limits on what a decryptor accepts, each checked before any memory is committed to it.

/// The default [`Limits::max_frame_length`]: 4 MiB.
pub const DEFAULT_MAX_FRAME_LENGTH: u32 = 4 << 20;
/// The default [`Limits::max_body_len`]: 4 MiB.
pub const DEFAULT_MAX_BODY_LEN: u64 = 4 << 20;
/// The default [`Limits::max_header_len`]: 4 MiB.
pub const DEFAULT_MAX_HEADER_LEN: usize = 4 << 20;

/// Decryption limits, set with chained setters in the manner of tokio-util's
/// `LengthDelimitedCodec::builder()`.
///
/// Every decryption (one-shot, sans-IO, every streaming adapter) checks them as soon as the
/// field arrives, before reading what it announces. The defaults let every message the other
/// ESDKs write by default through (they write frames of 4 KiB to 1 MiB) and keep what a hostile
/// sender can make a decryptor hold to a few MiB; see the `manual` for what each one defends
/// against.
///
/// | limit | default | why |
/// |---|---|---|
/// | `max_encrypted_data_keys` | none (the format's 65535); **set one** | each data key may cost an RSA decryption (milliseconds) or a key-service call; the spec leaves the number to the caller. A keyring gives up after that many attempts too. Set it to the most recipients your writers use: 10 covers most services |
/// | `max_encryption_context_len` | 65535 (the format's maximum) | the serialized context is parsed into a map; lower it to bound that work |
/// | `max_header_len` | 4 MiB | a header that large means thousands of data keys; it is buffered whole before its tag can be checked |
/// | `max_frame_length` | 4 MiB | a frame is buffered whole before its tag is checked: a header that declares 1 GiB frames would otherwise make a decryptor hold 1 GiB of whatever follows |
/// | `max_body_len` | 4 MiB | a non-framed body (legacy writers only) is buffered whole before its tag is checked; the format allows 64 GiB |
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
            max_header_len: DEFAULT_MAX_HEADER_LEN,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            max_body_len: DEFAULT_MAX_BODY_LEN,
        }
    }
}

impl Limits {
    /// The default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuse messages with more than `n` encrypted data keys, before any key is parsed.
    #[must_use]
    pub fn max_encrypted_data_keys(mut self, n: u16) -> Self {
        self.max_encrypted_data_keys = Some(n);
        self
    }

    /// Refuse messages whose serialized encryption context is longer than `n` bytes.
    #[must_use]
    pub fn max_encryption_context_len(mut self, n: u16) -> Self {
        self.max_encryption_context_len = n;
        self
    }

    /// Refuse headers longer than `n` bytes.
    #[must_use]
    pub fn max_header_len(mut self, n: usize) -> Self {
        self.max_header_len = n;
        self
    }

    /// Refuse framed messages whose frame length is above `n` (default 4 MiB; at most
    /// `u32::MAX`, the format's own bound). A streaming decryption holds up to about two frames.
    #[must_use]
    pub fn max_frame_length(mut self, n: u32) -> Self {
        self.max_frame_length = n;
        self
    }

    /// Refuse non-framed bodies longer than `n` bytes (default 4 MiB; the format allows up to
    /// 2^36 − 32). A non-framed body is held whole until its tag verifies.
    #[must_use]
    pub fn max_body_len(mut self, n: u64) -> Self {
        self.max_body_len = n;
        self
    }
}
