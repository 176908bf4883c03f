//! The sans-IO core: encryption and decryption as state machines over byte buffers.
//!
//! Neither machine does I/O, awaits, or reads a clock. [`Encryptor`] turns plaintext slices into
//! message bytes. Decryption goes through one type per step: [`HeaderDecoder`] turns message
//! bytes into a [`ParsedHeader`], which given decryption materials becomes a [`BodyDecryptor`]
//! that turns the rest into [`DecryptEvent`]s. The one-shot [`crate::Client`] and every
//! streaming adapter are thin drivers around these types, so the format and release rules exist
//! exactly once.

pub(crate) mod decrypt;
pub(crate) mod encrypt;
pub(crate) mod frames;
pub(crate) mod keys;
pub mod range;

pub use decrypt::{BodyDecryptor, DecryptEvent, HeaderDecoder, ParsedHeader, Release};
pub use encrypt::Encryptor;
pub use range::{FrameLayout, FrameSpan, RangeDecryptor};
