//! `AsyncWrite` adapters: [`EncryptingWriter`] (plaintext in, ciphertext to the sink) and
//! [`DecryptingWriter`] (ciphertext in, plaintext to the sink).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use pin_project_lite::pin_project;
use tokio::io::AsyncWrite;

use super::{DecryptEngine, DecryptOptions, Step};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::{Error, Result};
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::materials::DecryptionMaterials;
use crate::parallel::{self, Parallelism};
use crate::proto::Encryptor;
use crate::proto::frames::SealRun;

/// A batch of frames being sealed on rayon's pool: the run, the sealed frames, the outcome.
pub(crate) type SealJob = parallel::Pending<(SealRun, BytesMut, Result<()>)>;

/// Starts sealing, on rayon's pool, the frames laid out in `frames` (each slot holds its
/// plaintext after a 16-byte gap for the head, then 16 bytes for the tag).
pub(crate) fn spawn_seal(mut run: SealRun, mut frames: BytesMut, par: Parallelism) -> SealJob {
    parallel::spawn(move || {
        let outcome = parallel::seal(&mut run, None, &mut frames, &par);
        (run, frames, outcome)
    })
}

/// Waits for the sealing batch, if any; then its frames follow whatever `out` holds.
pub(crate) fn poll_seal_job(
    job: &mut Option<SealJob>,
    encryptor: &mut Encryptor,
    out: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<Result<()>> {
    let Some(pending) = job.as_mut() else {
        return Poll::Ready(Ok(()));
    };
    let done = ready!(Pin::new(pending).poll(cx));
    *job = None;
    let (run, frames, outcome) = done?;
    outcome?;
    encryptor.end_run(run);
    if out.is_empty() {
        *out = frames;
    } else {
        out.extend_from_slice(&frames);
    }
    Poll::Ready(Ok(()))
}

/// Writes all of `buf` to `inner`, advancing it; `Ready(Ok)` once it is empty.
fn poll_drain<W: AsyncWrite>(
    mut inner: Pin<&mut W>,
    cx: &mut Context<'_>,
    buf: &mut impl Buf,
) -> Poll<io::Result<()>> {
    while buf.has_remaining() {
        let n = ready!(inner.as_mut().poll_write(cx, buf.chunk()))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        buf.advance(n);
    }
    Poll::Ready(Ok(()))
}

pin_project! {
    /// Encrypts what is written to it and writes the message to an inner [`AsyncWrite`].
    ///
    /// Made by [`EncryptingWriter::new`], which obtains the materials. Each `poll_write` takes
    /// at most one frame of plaintext (a batch of frames, sealed on every core, when the write
    /// brings at least [`Parallelism::get_min_bytes`](crate::parallel::Parallelism) and
    /// parallelism is on) and never returns `Ok(0)` for a non-empty buffer (so
    /// `tokio::io::copy` and `write_all` work); the header and frames go to the inner writer
    /// as they complete.
    ///
    /// **You MUST call [`shutdown`](tokio::io::AsyncWriteExt::shutdown)** when done: it
    /// writes the final frame and, for signing suites, the footer, then shuts the inner writer
    /// down. Without it the output is not a message, and decryption fails as truncated.
    /// `flush` only pushes out complete frames; a frame is never cut short.
    ///
    /// ```no_run
    /// # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource) -> std::io::Result<()> {
    /// use esdk::{EncryptOptions, io::EncryptingWriter};
    /// use tokio::io::AsyncWriteExt;
    /// let file = tokio::fs::File::create("notes.esdk").await?;
    /// let mut w = EncryptingWriter::new(&client, &keys, file, &EncryptOptions::default()).await?;
    /// w.write_all(b"dear diary").await?;
    /// w.shutdown().await?; // writes the final frame and the footer
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// `poll_write`, `poll_flush` and `poll_shutdown` are cancel safe: a `write` whose future
    /// is dropped before completing has taken none of the buffer, and ciphertext not yet
    /// written is kept for the next call. Dropping a `shutdown` future before it completes
    /// leaves a message that may lack its end: call `shutdown` again. [`new`](Self::new) is not
    /// cancel safe: dropping its future drops the inner writer (nothing was written to it).
    pub struct EncryptingWriter<W> {
        #[pin]
        inner: W,
        encryptor: Encryptor,
        out: BytesMut,
        parallelism: Parallelism,
        job: Option<SealJob>,
    }
}

impl<W: std::fmt::Debug> std::fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingWriter")
            .field("inner", &self.inner)
            .field("encryptor", &self.encryptor)
            .field("batch_running", &self.job.is_some())
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWrite> EncryptingWriter<W> {
    /// Obtains encryption materials from `source` and returns a writer that encrypts into
    /// `inner`.
    ///
    /// # Errors
    /// A policy refusal or a keyring failure.
    pub async fn new(
        client: &Client,
        source: impl Into<MaterialsSource>,
        inner: W,
        options: &EncryptOptions,
    ) -> Result<Self> {
        let encryptor = client.encryptor(&source.into(), options).await?;
        Ok(Self::from_encryptor(encryptor, inner).parallelism(*client.parallelism()))
    }

    /// A writer over an [`Encryptor`] made by [`Client::encryptor`], frame by frame on the
    /// calling thread (see [`parallelism`](Self::parallelism)).
    pub fn from_encryptor(mut encryptor: Encryptor, inner: W) -> Self {
        let mut out = BytesMut::new();
        encryptor.write_header(&mut out);
        Self {
            inner,
            encryptor,
            out,
            parallelism: Parallelism::off(),
            job: None,
        }
    }

    /// Seals batches of frames on every core (see [`crate::parallel`]) when a single write
    /// brings at least [`Parallelism::get_min_bytes`] of plaintext. [`new`](Self::new) takes
    /// the client's setting.
    pub fn parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }
}

impl<W> EncryptingWriter<W> {
    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        self.encryptor.header()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer. Ciphertext not yet written to it is lost.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite> AsyncWrite for EncryptingWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        if this.encryptor.is_finished() {
            return Poll::Ready(Err(Error::misuse("write after shutdown").into()));
        }
        ready!(poll_seal_job(this.job, this.encryptor, this.out, cx))?;
        ready!(poll_drain(this.inner.as_mut(), cx, this.out))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let f = this.encryptor.header().frame_length() as usize;
        let par = *this.parallelism;
        if par.applies(buf.len()) {
            // Batches: first line the held-back plaintext up with a frame boundary.
            match this.encryptor.pending_len() {
                0 => {}
                p => {
                    let n = buf.len().min(f - p);
                    this.encryptor.update(&buf[..n], this.out)?;
                    return Poll::Ready(Ok(n));
                }
            }
            if let Some(run) = this.encryptor.claim_frames(buf.len(), par.batch_frames(f)) {
                // The one copy the API needs: plaintext into its frame slots.
                let mut frames = BytesMut::with_capacity(run.jobs.wire_total());
                let taken = run.jobs.plain_total();
                for plain in buf[..taken].chunks(f) {
                    frames.put_bytes(0, crate::format::body::REGULAR_HEAD_LEN);
                    frames.extend_from_slice(plain);
                    frames.put_bytes(0, crate::suite::TAG_LEN);
                }
                *this.job = Some(spawn_seal(run, frames, par));
                return Poll::Ready(Ok(taken));
            }
        }
        let n = buf.len().min(f);
        this.encryptor.update(&buf[..n], this.out)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        ready!(poll_seal_job(this.job, this.encryptor, this.out, cx))?;
        ready!(poll_drain(this.inner.as_mut(), cx, this.out))?;
        this.inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        ready!(poll_seal_job(this.job, this.encryptor, this.out, cx))?;
        ready!(poll_drain(this.inner.as_mut(), cx, this.out))?;
        if !this.encryptor.is_finished() {
            this.encryptor.finish(this.out)?;
            ready!(poll_drain(this.inner.as_mut(), cx, this.out))?;
        }
        this.inner.poll_shutdown(cx)
    }
}

enum Phase {
    /// Collecting the header.
    Header,
    /// Waiting for the materials.
    Materials(BoxFuture<'static, Result<DecryptionMaterials>>),
    /// Decrypting frames.
    Body,
}

impl std::fmt::Debug for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Header => "Header",
            Phase::Materials(_) => "Materials",
            Phase::Body => "Body",
        })
    }
}

pin_project! {
    /// Decrypts the message written to it and writes the plaintext to an inner [`AsyncWrite`].
    ///
    /// Useful where ciphertext is *pushed* at you (a `tokio::io::copy` destination, a
    /// callback). Each `poll_write` accepts a bounded chunk of ciphertext (never `Ok(0)` for a
    /// non-empty buffer) and first writes out the plaintext of every frame that has verified.
    /// Plaintext goes to the inner writer under the same rules as the other adapters
    /// ([`DecryptOptions::release`](super::DecryptOptions)).
    ///
    /// **You MUST call [`shutdown`](tokio::io::AsyncWriteExt::shutdown)** when the whole
    /// message has been written: it checks that the message is complete (a truncated message
    /// fails *there*), releases what was held back, and shuts the inner writer down. Until
    /// `shutdown` succeeds, whatever reached the inner writer is provisional.
    ///
    /// # Header phase
    ///
    /// The header arrives through `poll_write`, so there is no async constructor to await the
    /// materials in. Once the header is complete, the writer asks the materials source from
    /// inside `poll_write` (a boxed `'static` future, held only during the header phase; the
    /// materials source's futures must be `Send`). After that, writes do synchronous crypto
    /// only. [`header`](Self::header) is `None` until then.
    ///
    /// # Cancel safety
    ///
    /// `poll_write`, `poll_flush` and `poll_shutdown` are cancel safe: a `write` whose future is
    /// dropped before it completes took none of the buffer; accepted ciphertext and plaintext
    /// not yet written are kept for the next call. Dropping the writer discards them.
    #[derive(Debug)]
    pub struct DecryptingWriter<W> {
        #[pin]
        inner: W,
        engine: DecryptEngine,
        client: Client,
        source: MaterialsSource,
        reproduced: Option<EncryptionContext>,
        phase: Phase,
        input: BytesMut,
        current: Bytes,
        done: bool,
    }
}

impl<W: AsyncWrite> DecryptingWriter<W> {
    /// A writer that decrypts into `inner`, getting materials from `source` once the header
    /// has been written to it.
    pub fn new(
        client: &Client,
        source: impl Into<MaterialsSource>,
        inner: W,
        options: &DecryptOptions,
    ) -> Self {
        Self {
            inner,
            engine: DecryptEngine::new(client, options.release, true),
            client: *client,
            source: source.into(),
            reproduced: options.encryption_context.clone(),
            phase: Phase::Header,
            input: BytesMut::new(),
            current: Bytes::new(),
            done: false,
        }
    }
}

impl<W> DecryptingWriter<W> {
    /// The message header, once its materials have been obtained.
    pub fn header(&self) -> Option<&MessageHeader> {
        match self.phase {
            Phase::Body => self.engine.header(),
            _ => None,
        }
    }

    /// The message's full encryption context (empty until the header phase is over).
    pub fn encryption_context(&self) -> &EncryptionContext {
        self.engine.encryption_context()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer. Plaintext not yet written to it is lost.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite> DecryptingWriter<W> {
    /// Moves everything that can move with the ciphertext accepted so far: the header phase,
    /// then every frame that is complete, written to the inner writer. `eof` at shutdown.
    fn poll_drive(self: Pin<&mut Self>, cx: &mut Context<'_>, eof: bool) -> Poll<io::Result<()>> {
        let mut this = self.project();
        loop {
            ready!(poll_drain(this.inner.as_mut(), cx, this.current))?;
            if *this.done {
                return Poll::Ready(Ok(()));
            }
            match this.phase {
                Phase::Header => match this.engine.decode_header(this.input)? {
                    Some(header) => {
                        let client = *this.client;
                        let source = this.source.clone();
                        let reproduced = this.reproduced.clone();
                        *this.phase = Phase::Materials(Box::pin(async move {
                            client
                                .decrypt_materials(&source, &header, reproduced.as_ref())
                                .await
                        }));
                    }
                    None if eof => return Poll::Ready(Err(this.engine.header_truncated().into())),
                    None => return Poll::Ready(Ok(())),
                },
                Phase::Materials(fut) => {
                    let materials = ready!(fut.as_mut().poll(cx))?;
                    this.engine.supply_materials(&materials)?;
                    *this.phase = Phase::Body;
                }
                Phase::Body => match ready!(this.engine.poll_step(cx, this.input, eof))? {
                    Step::Data(b) => *this.current = b,
                    Step::End => *this.done = true,
                    Step::NeedInput => return Poll::Ready(Ok(())),
                },
            }
        }
    }
}

impl<W: AsyncWrite> AsyncWrite for DecryptingWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.as_mut().poll_drive(cx, false))?;
        let this = self.project();
        if *this.done {
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            return Poll::Ready(Err(Error::from(crate::error::FormatError::TrailingData(
                buf.len(),
            ))
            .into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = buf.len().min(this.engine.accept_len());
        this.engine.reserve_input(this.input);
        this.input.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_drive(cx, false))?;
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_drive(cx, true))?;
        self.project().inner.poll_shutdown(cx)
    }
}
