//! The sans-IO core: encryption and decryption as state machines over byte buffers.
//!
//! Neither machine does I/O, awaits, or reads a clock. [`Encryptor`] turns plaintext slices into
//! message bytes; [`Decryptor`] turns message bytes into [`DecryptEvent`]s. The one-shot
//! [`crate::Client`] and every streaming adapter are thin drivers around these two types, so the
//! format and release rules exist exactly once.

mod decrypt;
mod encrypt;
pub(crate) mod frames;
pub(crate) mod keys;
pub mod range;

pub use decrypt::{DecryptEvent, Decryptor, DecryptorConfig};
pub use encrypt::Encryptor;
pub use range::{FrameLayout, FrameSpan, RangeDecryptor};
