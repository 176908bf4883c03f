//! `AsyncRead` adapters: [`DecryptingReader`] (ciphertext in, plaintext out) and
//! [`EncryptingReader`] (plaintext in, ciphertext out).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::engine::{DecryptEngine, Step};
use super::seal::SealEngine;
use super::{CHUNK, DecryptOptions};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::Result;
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::parallel::Parallelism;
use crate::proto::Encryptor;

pin_project! {
    /// Decrypts a message read from an inner [`AsyncRead`]: reading from it yields plaintext.
    ///
    /// Made by [`DecryptingReader::new`], which reads the header and obtains the materials;
    /// reads then decrypt one frame at a time. The reader reports end of file (`Ok(())` with
    /// nothing read) only when the whole message has verified **and** the inner reader has
    /// ended right after it; a truncated, altered or over-long message is an error, never a
    /// clean end. Which plaintext is released before the end depends on
    /// [`DecryptOptions::release`](super::DecryptOptions::release).
    ///
    /// ```no_run
    /// # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource) -> std::io::Result<()> {
    /// use esdk::io::{DecryptOptions, DecryptingReader};
    /// let file = tokio::fs::File::open("message.esdk").await?;
    /// let mut plain = DecryptingReader::new(&client, &keys, file, &DecryptOptions::new()).await?;
    /// let mut out = tokio::fs::File::create("message.txt").await?;
    /// tokio::io::copy(&mut plain, &mut out).await?; // Ok only once the whole message verified
    /// // On an error, `out` holds only authenticated frames, but perhaps not all of them.
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// `poll_read` is cancel safe: if a `read` future is dropped before it completes, no
    /// plaintext is lost; the next read continues where the last one stopped. [`new`](Self::new)
    /// is not: if its future is dropped, the inner reader (moved into it) and any header bytes
    /// already read are gone.
    #[derive(Debug)]
    pub struct DecryptingReader<R> {
        #[pin]
        inner: R,
        engine: DecryptEngine,
        header: MessageHeader,
        input: BytesMut,
        current: Bytes,
        eof: bool,
        done: bool,
    }
}

impl<R: AsyncRead + Unpin> DecryptingReader<R> {
    /// Reads the header from `inner`, obtains decryption materials from `source` and checks
    /// them, and returns a reader of the plaintext.
    ///
    /// `inner` must be `Unpin` here; pin a `!Unpin` reader first (`Box::pin(reader)`).
    ///
    /// # Errors
    /// A malformed or truncated header, a policy refusal (including a signed message under
    /// [`Release::UnsignedOnly`](super::Release::UnsignedOnly)), a context mismatch, a keyring
    /// failure, a header tag that does not verify, or an error of `inner`.
    pub async fn new(
        client: &Client,
        source: impl Into<MaterialsSource>,
        mut inner: R,
        options: &DecryptOptions,
    ) -> Result<Self> {
        let source = source.into();
        let mut engine = DecryptEngine::new(client, options.release, true);
        let mut input = BytesMut::with_capacity(CHUNK);
        let header = loop {
            if let Some(header) = engine.decode_header(&mut input)? {
                break header;
            }
            input.reserve(CHUNK);
            if inner.read_buf(&mut input).await? == 0 {
                return Err(engine.header_truncated());
            }
        };
        engine
            .obtain_materials(client, &source, options.encryption_context.as_ref())
            .await?;
        Ok(Self {
            inner,
            engine,
            header,
            input,
            current: Bytes::new(),
            eof: false,
            done: false,
        })
    }
}

impl<R> DecryptingReader<R> {
    /// Batches of frames run on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.engine.pool_batches()
    }

    /// The most batches that were on the pool at once.
    #[cfg(test)]
    pub(crate) fn most_in_flight(&self) -> usize {
        self.engine.most_in_flight()
    }

    /// The message header (its tag has verified).
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// The message's full encryption context: the header's pairs plus the reproduced pairs a
    /// required-context CMM kept out of the header.
    pub fn encryption_context(&self) -> &EncryptionContext {
        self.engine.encryption_context()
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader, mutably. Reading from it directly corrupts the decryption.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The inner reader. Ciphertext already read from it but not yet decrypted is lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead> AsyncRead for DecryptingReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        loop {
            if !this.current.is_empty() {
                let n = this.current.len().min(buf.remaining());
                buf.put_slice(&this.current[..n]);
                this.current.advance(n);
                return Poll::Ready(Ok(()));
            }
            if *this.done || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            // With batches on, read ahead while the inner reader has data ready (also while a
            // batch is being opened), up to a batch; then go on with what is buffered.
            if !*this.eof && this.engine.wants_more(this.input) {
                this.engine.reserve_input(this.input);
                match tokio_util::io::poll_read_buf(this.inner.as_mut(), cx, this.input) {
                    Poll::Ready(Ok(0)) => *this.eof = true,
                    Poll::Ready(Ok(_)) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            match ready!(this.engine.poll_step(cx, this.input, *this.eof))? {
                Step::Data(b) => *this.current = b,
                Step::End => *this.done = true,
                Step::NeedInput => {
                    this.engine.reserve_input(this.input);
                    if ready!(tokio_util::io::poll_read_buf(
                        this.inner.as_mut(),
                        cx,
                        this.input
                    ))? == 0
                    {
                        *this.eof = true;
                    }
                }
            }
        }
    }
}

/// The most plaintext an [`EncryptingReader`] reads from its inner reader at once: few reads
/// per batch (a file's reads each go through tokio's blocking pool), a quarter of the staging
/// memory of reading a whole batch at once.
const PLAIN_READ: usize = 256 << 10;
const _: () = assert!(CHUNK <= PLAIN_READ);

pin_project! {
    /// Encrypts what an inner [`AsyncRead`] yields: reading from it yields the message.
    ///
    /// For upload bodies: wrap a file or request body and hand the reader to whatever sends
    /// it. Made by [`EncryptingReader::new`], which obtains the materials; reads then encrypt
    /// one frame at a time. The message ends (end of file) after the inner reader ends and the
    /// final frame and footer have been read out.
    ///
    /// ```no_run
    /// # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource) -> std::io::Result<()> {
    /// use esdk::{EncryptOptions, io::EncryptingReader};
    /// let file = tokio::fs::File::open("report.pdf").await?;
    /// let mut cipher = EncryptingReader::new(&client, &keys, file, &EncryptOptions::new()).await?;
    /// let mut out = tokio::fs::File::create("report.pdf.esdk").await?;
    /// tokio::io::copy(&mut cipher, &mut out).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// `poll_read` is cancel safe: plaintext read from the inner reader is encrypted at once
    /// and kept until read out, so dropping a `read` future loses nothing. [`new`](Self::new)
    /// is not: if its future is dropped, the inner reader moved into it is dropped too (it
    /// reads nothing from it).
    pub struct EncryptingReader<R> {
        #[pin]
        inner: R,
        engine: SealEngine,
        // Plaintext read from `inner`, not yet taken by the engine.
        plain: BytesMut,
        eof: bool,
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for EncryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingReader")
            .field("inner", &self.inner)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead> EncryptingReader<R> {
    /// Obtains encryption materials from `source` and returns a reader of the message that
    /// encrypts what `inner` yields.
    ///
    /// # Errors
    /// A policy refusal or a keyring failure.
    pub async fn new(
        client: &Client,
        source: impl Into<MaterialsSource>,
        inner: R,
        options: &EncryptOptions,
    ) -> Result<Self> {
        let encryptor = client.encryptor(&source.into(), options).await?;
        Ok(Self::from_encryptor(encryptor, inner).parallelism(*client.parallelism()))
    }

    /// Seals batches of frames on every core (see [`crate::parallel`]): the reader then reads
    /// ahead up to a batch of plaintext while the inner reader has it ready, and seals what it
    /// holds in one batch when that is at least [`Parallelism::min_bytes`].
    /// [`new`](Self::new) takes the client's setting. Set it before the first read.
    #[must_use]
    pub fn parallelism(mut self, parallelism: Parallelism) -> Self {
        self.engine.set_parallelism(parallelism);
        self
    }

    /// A reader over an [`Encryptor`] made by [`Client::encryptor`], frame by frame on the
    /// calling thread (see [`parallelism`](Self::parallelism)).
    pub fn from_encryptor(encryptor: Encryptor, inner: R) -> Self {
        Self {
            inner,
            engine: SealEngine::new(encryptor, Parallelism::off(), true),
            plain: BytesMut::new(),
            eof: false,
        }
    }
}

impl<R> EncryptingReader<R> {
    /// Batches of frames run on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.engine.pool_batches()
    }
    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        self.engine.header()
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader. Plaintext already read from it is lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead> AsyncRead for EncryptingReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        loop {
            let out = this.engine.out();
            if !out.is_empty() {
                let n = out.len().min(buf.remaining());
                buf.put_slice(&out[..n]);
                out.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.engine.is_finished() || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if !this.plain.is_empty() {
                // `Pending` only while full slots wait for the batch on the pool.
                let n = ready!(this.engine.poll_write(cx, this.plain))?;
                this.plain.advance(n);
                continue;
            }
            if *this.eof {
                ready!(this.engine.poll_finish(cx))?;
                continue;
            }
            // Read what the slots can still take (a batch, or a few frames), in pieces of at
            // most PLAIN_READ: the slots hold the batch, so this staging buffer need not (a
            // whole batch here cost its size in peak memory, `benches/memory.rs`).
            this.plain.clear();
            this.plain
                .reserve(this.engine.room().clamp(CHUNK, PLAIN_READ));
            match tokio_util::io::poll_read_buf(this.inner.as_mut(), cx, this.plain) {
                Poll::Ready(Ok(0)) => *this.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // Nothing ready: while a batch is on the pool, wait for it or for the inner
                // reader; otherwise seal what is gathered so that the reader makes progress.
                Poll::Pending if this.engine.batch_running() => return Poll::Pending,
                Poll::Pending => {
                    ready!(this.engine.poll_flush(cx))?;
                    if this.engine.out().is_empty() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}
