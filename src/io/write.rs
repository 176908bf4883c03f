//! `AsyncWrite` adapters: [`EncryptingWriter`] (plaintext in, ciphertext to the sink) and
//! [`DecryptingWriter`] (ciphertext in, plaintext to the sink).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use pin_project_lite::pin_project;
use tokio::io::AsyncWrite;

use super::DecryptOptions;
use super::engine::{DecryptEngine, Step};
use super::seal::SealEngine;
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::{Error, Result};
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::materials::DecryptionMaterials;
use crate::parallel::Parallelism;
use crate::proto::Encryptor;

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
    /// Made by [`EncryptingWriter::new`], which obtains the materials. Writes of any size are
    /// gathered into whole frames: a batch of frames (sealed on every core while the next batch
    /// is gathered) when [`Parallelism`] applies to a batch, else a few frames at a time (up to
    /// 16 KiB). `poll_write` never returns `Ok(0)` for a non-empty buffer (so
    /// `tokio::io::copy` and `write_all` work); the header and the sealed frames go to the inner
    /// writer as they are sealed.
    ///
    /// **You MUST call [`shutdown`](tokio::io::AsyncWriteExt::shutdown)** when done: it
    /// writes the final frame and, for signing suites, the footer, then shuts the inner writer
    /// down. Without it the output is not a message, and decryption fails as truncated.
    /// `flush` seals and pushes out every complete frame gathered so far (a frame is never cut
    /// short), so flushing often (as `tokio::io::copy` does whenever its source is not ready)
    /// makes batches smaller: give a slow source a large buffer (`BufReader::with_capacity`).
    ///
    /// ```no_run
    /// # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource) -> std::io::Result<()> {
    /// use esdk::{EncryptOptions, io::EncryptingWriter};
    /// use tokio::io::AsyncWriteExt;
    /// let file = tokio::fs::File::create("notes.esdk").await?;
    /// let mut w = EncryptingWriter::new(&client, &keys, file, &EncryptOptions::new()).await?;
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
        engine: SealEngine,
    }
}

impl<W: std::fmt::Debug> std::fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingWriter")
            .field("inner", &self.inner)
            .field("engine", &self.engine)
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
    pub fn from_encryptor(encryptor: Encryptor, inner: W) -> Self {
        Self {
            inner,
            engine: SealEngine::new(encryptor, Parallelism::off(), true),
        }
    }

    /// Seals batches of frames on every core (see [`crate::parallel`]) when a batch
    /// ([`Parallelism::batch_bytes`], rounded up to whole frames) is at least
    /// [`Parallelism::min_bytes`]: writes of any size are gathered into batches.
    /// [`new`](Self::new) takes the client's setting. Set it before the first write.
    #[must_use]
    pub fn parallelism(mut self, parallelism: Parallelism) -> Self {
        self.engine.set_parallelism(parallelism);
        self
    }
}

impl<W> EncryptingWriter<W> {
    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        self.engine.header()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Batches of frames sealed on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.engine.pool_batches()
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
        if this.engine.is_finished() {
            return Poll::Ready(Err(Error::misuse("write after shutdown").into()));
        }
        ready!(poll_drain(this.inner.as_mut(), cx, this.engine.out()))?;
        let n = ready!(this.engine.poll_write(cx, buf))?;
        // Sealed frames go out at once (a failed write is reported by the next call).
        if !this.engine.out().is_empty()
            && let Poll::Ready(Err(e)) = poll_drain(this.inner.as_mut(), cx, this.engine.out())
        {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        ready!(poll_drain(this.inner.as_mut(), cx, this.engine.out()))?;
        ready!(this.engine.poll_flush(cx))?;
        ready!(poll_drain(this.inner.as_mut(), cx, this.engine.out()))?;
        this.inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        ready!(poll_drain(this.inner.as_mut(), cx, this.engine.out()))?;
        ready!(this.engine.poll_finish(cx))?;
        ready!(poll_drain(this.inner.as_mut(), cx, this.engine.out()))?;
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
    /// ([`DecryptOptions::release`](super::DecryptOptions::release)).
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
    /// Batches of frames run on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.engine.pool_batches()
    }
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
    /// `gather` (in `poll_write`): while the input is gathering a batch of frames for the pool
    /// (see `DecryptEngine::wants_more`), leave it be; `flush` and `shutdown` decrypt
    /// everything they can.
    fn poll_drive(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        eof: bool,
        gather: bool,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        loop {
            ready!(poll_drain(this.inner.as_mut(), cx, this.current))?;
            if *this.done {
                return Poll::Ready(Ok(()));
            }
            if gather && matches!(this.phase, Phase::Body) && this.engine.wants_more(this.input) {
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
                    // Asked for more while batches are still on the pool: `flush` and
                    // `shutdown` wait for them (the engine registered this task with them).
                    Step::NeedInput if !gather && this.engine.batch_running() => {
                        return Poll::Pending;
                    }
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
        match self.as_mut().poll_drive(cx, false, true) {
            Poll::Ready(r) => r?,
            // While a batch is on the pool, the next one is gathered.
            Poll::Pending if self.engine.batch_running() && self.current.is_empty() => {
                if self.input.len() >= self.engine.accept_len() {
                    return Poll::Pending;
                }
            }
            Poll::Pending => return Poll::Pending,
        }
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
        let n = buf.len().min(
            this.engine
                .accept_len()
                .saturating_sub(this.input.len())
                .max(super::CHUNK),
        );
        this.engine.reserve_input(this.input);
        this.input.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_drive(cx, false, false))?;
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_drive(cx, true, false))?;
        self.project().inner.poll_shutdown(cx)
    }
}
