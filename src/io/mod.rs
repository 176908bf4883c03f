//! Async streaming: `AsyncRead`/`AsyncWrite` adapters, `Stream` transforms and a tokio-util codec.
//!
//! Every adapter here is a thin driver around the sans-IO [`crate::proto::Encryptor`]
//! and [`crate::proto::Decryptor`]; the message format and the release rules exist
//! only in [`crate::proto`].
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
//! 2. **Body phase** (`poll_*`): synchronous crypto only, one frame at a time, so a task
//!    yields between frames and memory stays bounded by the frame length.
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
//! With frames on every core ([`Parallelism`], on by default
//! for at least 1 MiB of data at hand) [`EncryptingReader`], [`EncryptingWriter`] and the
//! decrypting adapters except the codec (and except in [`Release::Verified`] mode, whose memory
//! limit counts the plaintext it holds) work in batches of frames (1 MiB of plaintext by
//! default): they then hold up to about two batches (one being read ahead or handed out, one
//! being sealed or opened on rayon's pool) instead of two frames. The bound is
//! [`Parallelism::batch_bytes`](crate::parallel::Parallelism::batch_bytes);
//! `Parallelism::off()` restores the frame-by-frame bound. A batch never holds the final frame,
//! so the release rules above are the same in both modes.
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

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};

use crate::client::{Client, MaterialsSource};
use crate::error::{Error, FormatError, Result};
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::parallel::{self, Parallelism};
use crate::proto::frames::OpenRun;
use crate::proto::{DecryptEvent, Decryptor};

pub mod codec;
mod range;
mod read;
mod shortcuts;
mod spool;
mod stream;
mod write;

pub use codec::{DecryptItem, EncryptItem, MessageDecoder, MessageEncoder};
pub use range::RangeReader;
pub use read::{DecryptingReader, EncryptingReader};
pub use stream::{DecryptStream, EncryptStream, decrypt_stream, encrypt_stream};
pub use write::{DecryptingWriter, EncryptingWriter};

use spool::Spool;

/// How much ciphertext the adapters read or accept at a time, beyond what a frame needs.
pub(crate) const CHUNK: usize = 16 * 1024;

/// When a decrypting adapter lets plaintext out. See the [module docs](self#when-plaintext-is-released).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Release {
    /// Each frame once its tag verifies; for signed suites the final frame (and a non-framed
    /// body) only after the signature verifies.
    #[default]
    Streaming,
    /// As [`Release::Streaming`], but refuse signed messages right after the header.
    UnsignedOnly,
    /// Release nothing until the whole message has verified and the input has ended.
    ///
    /// Up to `memory_limit` bytes of plaintext are held in memory; beyond that the plaintext
    /// is spilled to an anonymous temporary file (the `tempfile` crate: unlinked at once where
    /// the OS allows, removed on drop otherwise), **encrypted** with AES-256-GCM under a random
    /// key that lives only in memory, so plaintext never reaches the disk. Spilling uses
    /// `tokio::fs` and so needs a tokio runtime. The codec cannot do file I/O from a
    /// `Decoder`, so [`MessageDecoder`] fails with a limit error instead of spilling.
    Verified {
        /// Plaintext bytes held in memory before spilling to disk.
        memory_limit: usize,
    },
}

impl Release {
    /// [`Release::Verified`] with `memory_limit` bytes held in memory before spilling.
    pub fn verified(memory_limit: usize) -> Self {
        Self::Verified { memory_limit }
    }
}

/// Options for the decrypting adapters.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DecryptOptions {
    /// The encryption context the caller expects (the "reproduced" context): every pair must
    /// match the message, and pairs a required-context CMM kept out of the header come from
    /// here.
    pub encryption_context: Option<EncryptionContext>,
    /// When plaintext is released.
    pub release: Release,
}

impl DecryptOptions {
    /// The defaults: no reproduced context, [`Release::Streaming`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The encryption context the message must carry.
    pub fn encryption_context<K: Into<String>, V: Into<String>>(
        mut self,
        context: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.encryption_context = Some(context.into_iter().collect());
        self
    }

    /// The release mode.
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

/// What the body phase of decryption produced.
#[derive(Debug)]
pub(crate) enum Step {
    /// Plaintext that may be released now.
    Data(Bytes),
    /// More ciphertext is needed.
    NeedInput,
    /// The message is complete, verified, and the input ended right after it.
    End,
}

/// A batch of frames being opened on rayon's pool: the run, its buffer, the outcome.
type OpenJob = parallel::Pending<(OpenRun, BytesMut, Result<()>)>;

/// The decrypt side shared by every decrypting adapter: the [`Decryptor`] plus the release
/// mode. It holds no I/O; adapters feed it ciphertext and take [`Step`]s out.
pub(crate) struct DecryptEngine {
    decryptor: Decryptor,
    /// Batches of frames on every core (adapters that can wait for them); `None` otherwise.
    parallelism: Option<Parallelism>,
    /// The batch being opened.
    job: Option<OpenJob>,
    /// Verified plaintext of the last batch, one frame per piece, not yet handed out.
    opened: VecDeque<Bytes>,
    /// `Some` in [`Release::Verified`] mode.
    hold: Option<Spool>,
    /// The decryptor reported [`DecryptEvent::Done`].
    verified: bool,
    /// The input ended cleanly after a verified message.
    ended: bool,
    header: Option<MessageHeader>,
    context: EncryptionContext,
    /// More messages may follow this one in the same input (the codec's many-message mode):
    /// the message ends when it has verified, not when the input ends.
    concatenated: bool,
}

impl std::fmt::Debug for DecryptEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptEngine")
            .field("decryptor", &self.decryptor)
            .field("parallelism", &self.parallelism)
            .field("batch_running", &self.job.is_some())
            .field("hold", &self.hold)
            .field("verified", &self.verified)
            .finish_non_exhaustive()
    }
}

impl DecryptEngine {
    /// An engine for `client`'s policy and limits. `asynchronous` engines may return `Pending`
    /// from [`poll_step`](Self::poll_step): they may spill in verified mode and open batches of
    /// frames on rayon's pool (see [`crate::parallel`]).
    pub(crate) fn new(client: &Client, release: Release, asynchronous: bool) -> Self {
        let spill = asynchronous;
        let hold = match release {
            Release::Verified { memory_limit } => {
                Some(Spool::new(memory_limit, spill, client.crypto_provider()))
            }
            _ => None,
        };
        Self {
            decryptor: client.decryptor(release == Release::UnsignedOnly),
            parallelism: asynchronous.then_some(*client.parallelism()),
            job: None,
            opened: VecDeque::new(),
            hold,
            verified: false,
            ended: false,
            header: None,
            context: EncryptionContext::new(),
            concatenated: false,
        }
    }

    /// This engine's message may be followed by others in the same input: it ends once the
    /// message has verified, leaving the bytes after it in the input.
    pub(crate) fn concatenated(mut self) -> Self {
        self.decryptor.set_concatenated();
        self.concatenated = true;
        self
    }

    /// Header phase: parses the header from the front of `input`; `None` when more is needed.
    pub(crate) fn decode_header(&mut self, input: &mut BytesMut) -> Result<Option<MessageHeader>> {
        match self.decryptor.decode(input)? {
            Some(DecryptEvent::Header(h)) => {
                self.header = Some(h.clone());
                Ok(Some(h))
            }
            None => Ok(None),
            Some(_) => Err(Error::misuse("body event before the header")),
        }
    }

    /// Header phase at end of input: the header never completed.
    pub(crate) fn header_truncated(&self) -> Error {
        FormatError::Truncated.into()
    }

    /// Header phase: asks `source` for materials and supplies them.
    pub(crate) async fn obtain_materials(
        &mut self,
        client: &Client,
        source: &MaterialsSource,
        reproduced: Option<&EncryptionContext>,
    ) -> Result<()> {
        let header = self
            .header
            .clone()
            .ok_or_else(|| Error::misuse("no header parsed"))?;
        let materials = client
            .decrypt_materials(source, &header, reproduced)
            .await?;
        self.supply_materials(&materials)
    }

    /// Supplies materials obtained elsewhere.
    pub(crate) fn supply_materials(
        &mut self,
        materials: &crate::DecryptionMaterials,
    ) -> Result<()> {
        self.decryptor.supply_materials(materials)?;
        self.context = materials.encryption_context().clone();
        Ok(())
    }

    /// Makes room in `input` for the rest of a frame in one allocation rather than by
    /// doubling (which would briefly hold two copies). The hint is capped: a frame length is
    /// authenticated but still the sender's choice, so larger frames grow as they arrive.
    pub(crate) fn reserve_input(&self, input: &mut BytesMut) {
        const MAX_HINT: usize = 4 << 20;
        if let Some(want) = self.batch_wire() {
            if input.len() < want && input.capacity() - input.len() < CHUNK / 2 {
                input.reserve(CHUNK.max((want - input.len()).min(MAX_HINT)));
            }
            return;
        }
        if input.capacity() - input.len() >= CHUNK / 2 {
            return;
        }
        let frame = self
            .header
            .as_ref()
            .map_or(0, |h| h.frame_length() as usize);
        let whole = frame.saturating_add(64).min(MAX_HINT);
        input.reserve(CHUNK.max(whole.saturating_sub(input.len())));
    }

    /// Wire bytes of a full batch, when this engine opens batches and is in the body of a
    /// framed message.
    fn batch_wire(&self) -> Option<usize> {
        let par = self.parallelism.as_ref()?;
        let frame = self.header.as_ref()?.frame_length() as usize;
        // A non-framed body (frame length 0) is one block: nothing to batch, nothing to read
        // ahead (it would read 32 MiB of whatever follows the header before the body head).
        if frame == 0 {
            return None;
        }
        // A frame is opened whole: frames of a batch's size or more gain nothing. The verified
        // release mode works frame by frame: its memory limit counts the plaintext it holds,
        // and a frame opened in a batch would keep the whole batch buffer alive in the spool.
        let frames = par.batch_frames(frame);
        if self.verified || self.hold.is_some() || frames < 2 || !par.applies(par.get_batch_bytes())
        {
            return None;
        }
        frames.checked_mul(frame.checked_add(32)?)
    }

    /// True when more ciphertext would fill the next batch: adapters that can read ahead do so
    /// (while it is immediately available) before stepping.
    pub(crate) fn wants_more(&self, input: &BytesMut) -> bool {
        // Not while the last batch's plaintext is still being handed out: that keeps the
        // adapter at two batches (one read ahead, one being opened or handed out).
        self.opened.is_empty() && self.batch_wire().is_some_and(|want| input.len() < want)
    }

    /// How much ciphertext a writer accepts per write: a batch when batches are on.
    pub(crate) fn accept_len(&self) -> usize {
        self.batch_wire().map_or(CHUNK, |w| w.max(CHUNK))
    }

    /// Starts opening a batch of the frames at the front of `input` on the pool, when there are
    /// enough of them.
    fn start_batch(&mut self, input: &mut BytesMut) -> bool {
        let Some(par) = self.parallelism else {
            return false;
        };
        if self.hold.is_some() {
            return false;
        }
        let Some(header) = self.header.as_ref() else {
            return false;
        };
        let max = par.batch_frames(header.frame_length() as usize);
        let Some((count, frame)) = self.decryptor.claimable(input, max) else {
            return false;
        };
        if count == 0 || !par.applies(count * frame) {
            return false;
        }
        let Some(mut run) = self.decryptor.claim_frames(input, max) else {
            return false;
        };
        let mut buf = input.split_to(run.jobs.wire_total());
        // The batch keeps its allocation; the rest (less than a frame) moves to a fresh buffer
        // of one batch, so that reading ahead does not grow the shared one by doubling.
        let mut fresh = BytesMut::with_capacity(run.jobs.wire_total().max(CHUNK) + CHUNK);
        fresh.extend_from_slice(input);
        *input = fresh;
        self.job = Some(parallel::spawn(move || {
            let outcome = parallel::open_in_place(&mut run, &mut buf, &par);
            (run, buf, outcome)
        }));
        true
    }

    /// Polls the running batch; once done, queues its verified plaintext.
    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(job) = self.job.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let done = ready!(Pin::new(job).poll(cx));
        self.job = None;
        let (run, buf, outcome) = done?;
        let (count, w, f) = (
            run.jobs.count,
            run.jobs.cipher.wire_len(),
            run.jobs.cipher.frame_length(),
        );
        self.decryptor.end_run(run, outcome)?;
        let buf = buf.freeze();
        let head = crate::format::body::REGULAR_HEAD_LEN;
        self.opened
            .extend((0..count).map(|i| buf.slice(i * w + head..i * w + head + f)));
        Poll::Ready(Ok(()))
    }

    /// Length of the message header in bytes, once parsed.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn header_len(&self) -> usize {
        self.decryptor.header_len()
    }

    pub(crate) fn needs_materials(&self) -> bool {
        self.decryptor.needs_materials()
    }

    pub(crate) fn header(&self) -> Option<&MessageHeader> {
        self.header.as_ref()
    }

    pub(crate) fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }

    /// Body phase: decodes what `input` holds and says what to do next. `eof` means no more
    /// input will come. Only a spill file can make this return `Pending`.
    pub(crate) fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        input: &mut BytesMut,
        eof: bool,
    ) -> Poll<Result<Step>> {
        loop {
            if self.ended {
                return match self.hold.as_mut() {
                    Some(spool) => Poll::Ready(
                        ready!(spool.poll_pop(cx)).map(|o| o.map_or(Step::End, Step::Data)),
                    ),
                    None => Poll::Ready(Ok(Step::End)),
                };
            }
            if let Some(spool) = self.hold.as_mut() {
                ready!(spool.poll_store(cx))?;
            }
            if self.verified {
                // Bytes after the message are an error, even in the same read.
                if self.decryptor.decode(input)?.is_some() {
                    return Poll::Ready(Err(Error::misuse("event after the end of the message")));
                }
                if !self.concatenated {
                    if !eof {
                        return Poll::Ready(Ok(Step::NeedInput));
                    }
                    self.decryptor.finish(input)?;
                }
                self.ended = true;
                if let Some(spool) = self.hold.as_mut() {
                    spool.start_drain();
                }
                continue;
            }
            ready!(self.poll_batch(cx))?;
            let event = match self.opened.pop_front() {
                Some(b) => Some(DecryptEvent::Plaintext(b)),
                None if self.start_batch(input) => continue,
                None => self.decryptor.decode(input)?,
            };
            match event {
                Some(DecryptEvent::Plaintext(b)) if b.is_empty() => {}
                Some(DecryptEvent::Plaintext(b)) => match self.hold.as_mut() {
                    Some(spool) => spool.push(b)?,
                    None => return Poll::Ready(Ok(Step::Data(b))),
                },
                Some(DecryptEvent::Done) => self.verified = true,
                Some(DecryptEvent::Header(_)) => {
                    return Poll::Ready(Err(Error::misuse("a second header")));
                }
                None if eof => {
                    // Incomplete: `finish` names the failure (truncated, or already failed).
                    self.decryptor.finish(input)?;
                    return Poll::Ready(Err(FormatError::Truncated.into()));
                }
                None => return Poll::Ready(Ok(Step::NeedInput)),
            }
        }
    }
}
