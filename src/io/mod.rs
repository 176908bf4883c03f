//! Async streaming: `AsyncRead`/`AsyncWrite` adapters, `Stream` transforms and a tokio-util codec.
//!
//! Every adapter here is I/O plumbing around two engines shared by all of them (`seal.rs`:
//! the [`crate::proto::Encryptor`] with its batches; `engine.rs`: the sans-IO decryption,
//! [`crate::proto::HeaderDecoder`] then [`crate::proto::BodyDecryptor`], with the release
//! modes and its batches); the message format, the frame slot layout and the release rules
//! exist only in [`crate::proto`].
//!
//! | direction | `AsyncRead` | `AsyncWrite` | `Stream<Item = Result<Bytes, E>>` | tokio-util codec |
//! |---|---|---|---|---|
//! | encrypt | [`EncryptingReader`] (plaintext source) | [`EncryptingWriter`] (ciphertext sink) | [`encrypt_stream`] | [`MessageEncoder`] |
//! | decrypt | [`DecryptingReader`] (ciphertext source) | [`DecryptingWriter`] (plaintext sink) | [`decrypt_stream`] | [`MessageDecoder`] |
//!
//! # Two phases
//!
//! Keyrings and CMMs are async and run once per message, at header time. So each adapter is
//! made in two phases:
//!
//! 1. **Header phase** (an `async fn` constructor): get the encryption materials and prepare the
//!    header, or read the header and await the decryption materials. Failures here (a keyring
//!    that refuses, a policy violation, a malformed header) are reported before any body byte
//!    moves, which lets an HTTP handler answer with an error status instead of a broken body.
//! 2. **Body phase** (`poll_*`): synchronous crypto only, a few frames (or one batch on the
//!    pool) at a time, so a task yields between them and memory stays bounded.
//!
//! The [`DecryptingWriter`] is the one exception: its header arrives through `poll_write`, so it
//! awaits the materials inside `poll_write` during its header phase (see its docs). The codec
//! hands the header to the caller as [`DecryptItem::Header`]; [`codec::decrypt_header`] does
//! the materials step.
//!
//! # When plaintext is released
//!
//! [`Release`] chooses, for every decrypting adapter:
//!
//! * [`Release::Streaming`] (the default): nothing before the header's tag verifies; each
//!   frame's plaintext once its own tag verifies; for **signed** suites the final frame (and a
//!   non-framed body) only after the footer signature verifies. A reader that stops at an error
//!   has therefore seen only authentic frames, but *possibly not all of them*: a consumer must
//!   treat everything it received as provisional until the adapter reports a clean end.
//! * [`Release::UnsignedOnly`]: as streaming, but a message with a signing suite fails right
//!   after its header, before any body byte is read (the spec's "unsigned-only" decryption).
//! * [`Release::Verified`]: nothing at all is released until the whole message (every tag and
//!   the signature) has verified and the input has ended with nothing after the message.
//!   Plaintext is held in memory up to `memory_limit` bytes, then spilled to an anonymous
//!   temporary file encrypted under a one-time key (see [`Release::Verified`]).
//!
//! # Memory
//!
//! Each adapter buffers at most about two frames (plus a small read chunk), whatever the
//! message size: the frame being assembled and the plaintext being handed out. A non-framed
//! message is one block and is buffered whole. Both are bounded by [`Limits`](crate::Limits)
//! (4 MiB frames and bodies by default), checked before the frame or body is read, so a sender
//! who declares 1 GiB frames gets an error rather than 1 GiB of your memory. The
//! `benches/memory.rs` benchmark measures peak RSS for 1 GiB through each adapter.
//!
//! With frames on every core ([`Parallelism`](crate::parallel::Parallelism), on by default
//! for batches of at least 1 MiB) every adapter except in [`Release::Verified`] mode (whose
//! memory limit counts the plaintext it holds) gathers its input into batches of whole frames
//! (1 MiB of plaintext by default, rounded up to whole frames), whatever the size of the
//! writes, reads or items that bring it: it then holds up to about three batches (one being
//! gathered or read ahead, one being sealed or opened on rayon's pool, two when decrypting an
//! unsigned message, one being written or handed out) instead of two frames, within 2 frames +
//! 8 MiB. The bound is
//! [`Parallelism::batch_bytes`](crate::parallel::Parallelism::batch_bytes);
//! `Parallelism::off()` restores the frame-by-frame bound. A batch never holds the final frame,
//! so the release rules above are the same in both modes: gathering only ever delays plaintext.
//! Where the adapter cannot tell whether more input is coming (the [`DecryptingWriter`] and the
//! codec's decoder), it gathers only while the message cannot end yet (no final frame in
//! sight); `flush` on a writer seals or opens what it holds.
//!
//! # Errors
//!
//! `AsyncRead`/`AsyncWrite` adapters report [`io::Error`]s that wrap the typed [`Error`]
//! (truncation is `UnexpectedEof`, authentication and format failures `InvalidData`); get it
//! back with [`error_of`]. Errors of the inner reader or writer are passed through unchanged.
//! After a cryptographic or format error an adapter is spent: later calls fail too.
//!
//! # Cancel safety
//!
//! Every adapter documents its own. In short: the `poll_*` methods never lose data when the
//! future that drives them is dropped (the usual tokio guarantee for `read`, `write`,
//! `next`); the async constructors are **not** cancel safe, because the inner reader or
//! stream has been moved into them and header bytes may already have been consumed.

use std::io;

use crate::error::Error;
use crate::format::context::EncryptionContext;

pub mod codec;
mod engine;
mod range;
mod read;
mod seal;
mod shortcuts;
mod spool;
mod stream;
#[cfg(test)]
mod tests;
mod write;

pub use codec::{DecryptItem, EncryptItem, MessageDecoder, MessageEncoder};
pub use range::RangeReader;
pub use read::{DecryptingReader, EncryptingReader};
pub use stream::{DecryptStream, EncryptStream, decrypt_stream, encrypt_stream};
pub use write::{DecryptingWriter, EncryptingWriter};

pub use crate::proto::Release;

/// How much ciphertext the adapters read or accept at a time, beyond what a frame needs.
pub(crate) const CHUNK: usize = 16 * 1024;

/// Options for decrypting one message, for every decrypting adapter (and, through
/// [`DecryptCall::options`](crate::DecryptCall::options), the one-shot call): a builder
/// starting from the defaults, with the same method names as [`DecryptCall`](crate::DecryptCall).
///
/// ```
/// use esdk::io::{DecryptOptions, Release};
/// let options = DecryptOptions::new()
///     .encryption_context([("purpose", "demo")])
///     .release(Release::UnsignedOnly);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
#[must_use = "options do nothing until passed to a decryption"]
pub struct DecryptOptions {
    /// The reproduced encryption context, if any.
    pub(crate) encryption_context: Option<EncryptionContext>,
    pub(crate) release: Release,
}

impl DecryptOptions {
    /// The defaults: no reproduced context, [`Release::Streaming`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The encryption context the caller expects (the "reproduced" context): every pair must
    /// match the message, and pairs a required-context CMM kept out of the header come from
    /// here.
    pub fn encryption_context<K: Into<String>, V: Into<String>>(
        mut self,
        context: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.encryption_context = Some(context.into_iter().collect());
        self
    }

    /// When plaintext is released (default [`Release::Streaming`]);
    /// [`Release::UnsignedOnly`] refuses signed messages right after the header.
    pub fn release(mut self, release: Release) -> Self {
        self.release = release;
        self
    }
}

/// The typed [`Error`] inside an [`io::Error`] returned by an adapter, if there is one.
pub fn error_of(e: &io::Error) -> Option<&Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
}

/// Turns an error of a caller's stream into an [`Error::Io`], keeping an `io::Error` as is.
pub(crate) fn stream_error<E>(e: E) -> Error
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match e.into().downcast::<io::Error>() {
        Ok(io) => Error::Io(*io),
        Err(other) => Error::Io(io::Error::other(other)),
    }
}
