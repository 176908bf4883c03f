//! The ESDK message format: pure encoding and decoding, no I/O and no cryptography.
//!
//! ```text
//! message = header body ‖ header auth ‖ body ‖ [footer]
//!
//! header body v1: 01 80 ‖ suite(2) ‖ message id(16) ‖ u16 ecLen ‖ ec ‖ u16 edkCount ‖ edks
//!                 ‖ content type(1) ‖ 00000000 ‖ iv len(1)=12 ‖ frame length(4)
//! header body v2: 02 ‖ suite(2) ‖ message id(32) ‖ u16 ecLen ‖ ec ‖ u16 edkCount ‖ edks
//!                 ‖ content type(1) ‖ frame length(4) ‖ commit key(32)
//! header auth:    v1: iv(12) ‖ tag(16)    v2: tag(16)
//! regular frame:  u32 seq ‖ iv(12) ‖ ciphertext(frame length) ‖ tag(16)
//! final frame:    FFFFFFFF ‖ u32 seq ‖ iv(12) ‖ u32 len ‖ ciphertext(len) ‖ tag(16)
//! non-framed:     iv(12) ‖ u64 len ‖ ciphertext(len) ‖ tag(16)
//! footer:         u16 len ‖ DER ECDSA signature
//! ```

pub(crate) mod body;
pub(crate) mod codec;
pub mod context;
mod edk;
pub(crate) mod header;

pub use edk::EncryptedDataKey;
pub use header::{ContentType, MessageHeader, header_parse_work};

use std::num::NonZeroU32;

/// The plaintext length of each frame: 1 to 2^32 − 1 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameLength(NonZeroU32);

impl FrameLength {
    /// The default frame length, 4096 bytes.
    pub const DEFAULT: FrameLength = FrameLength(NonZeroU32::new(4096).unwrap());

    /// A frame length; `None` for zero (non-framed messages cannot be written).
    pub const fn new(len: u32) -> Option<Self> {
        match NonZeroU32::new(len) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The length in bytes.
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

impl Default for FrameLength {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u32> for FrameLength {
    type Error = crate::Error;
    fn try_from(len: u32) -> crate::Result<Self> {
        Self::new(len).ok_or_else(|| crate::Error::misuse("frame length must be at least 1"))
    }
}
