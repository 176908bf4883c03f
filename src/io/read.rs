//! `AsyncRead` adapters: [`DecryptingReader`] (ciphertext in, plaintext out) and
//! [`EncryptingReader`] (plaintext in, ciphertext out).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::write::{SealJob, poll_seal_job};
use super::{CHUNK, DecryptEngine, DecryptOptions, Step};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::Result;
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::parallel::{self, Parallelism};
use crate::proto::Encryptor;

pin_project! {
    /// Decrypts a message read from an inner [`AsyncRead`]: reading from it yields plaintext.
    ///
    /// Made by [`DecryptingReader::new`], which reads the header and obtains the materials;
    /// reads then decrypt one frame at a time. The reader reports end of file (`Ok(())` with
    /// nothing read) only when the whole message has verified **and** the inner reader has
    /// ended right after it; a truncated, altered or over-long message is an error, never a
    /// clean end. Which plaintext is released before the end depends on
    /// [`DecryptOptions::release`](super::DecryptOptions).
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
        while engine.decode_header(&mut input)?.is_none() {
            input.reserve(CHUNK);
            if inner.read_buf(&mut input).await? == 0 {
                return Err(engine.header_truncated());
            }
        }
        engine
            .obtain_materials(client, &source, options.encryption_context.as_ref())
            .await?;
        Ok(Self {
            inner,
            engine,
            input,
            current: Bytes::new(),
            eof: false,
            done: false,
        })
    }
}

impl<R> DecryptingReader<R> {
    /// The message header (its tag has verified).
    pub fn header(&self) -> &MessageHeader {
        self.engine.header().expect("set by the header phase")
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
    /// let mut cipher = EncryptingReader::new(&client, &keys, file, &EncryptOptions::default()).await?;
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
        encryptor: Encryptor,
        out: BytesMut,
        staging: Box<[u8]>,
        parallelism: Parallelism,
        // Plaintext read ahead for batches.
        plain: BytesMut,
        eof: bool,
        job: Option<SealJob>,
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for EncryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingReader")
            .field("inner", &self.inner)
            .field("encryptor", &self.encryptor)
            .field("batch_running", &self.job.is_some())
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
    /// holds in one batch when that is at least [`Parallelism::get_min_bytes`].
    /// [`new`](Self::new) takes the client's setting.
    pub fn parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// A reader over an [`Encryptor`] made by [`Client::encryptor`], frame by frame on the
    /// calling thread (see [`parallelism`](Self::parallelism)).
    pub fn from_encryptor(mut encryptor: Encryptor, inner: R) -> Self {
        let mut out = BytesMut::new();
        encryptor.write_header(&mut out);
        let frame = encryptor.header().frame_length() as usize;
        Self {
            inner,
            encryptor,
            out,
            staging: vec![0u8; frame.clamp(1, CHUNK)].into_boxed_slice(),
            parallelism: Parallelism::off(),
            plain: BytesMut::new(),
            eof: false,
            job: None,
        }
    }
}

impl<R> EncryptingReader<R> {
    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        self.encryptor.header()
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
            if !this.out.is_empty() {
                let n = this.out.len().min(buf.remaining());
                buf.put_slice(&this.out[..n]);
                this.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            ready!(poll_seal_job(this.job, this.encryptor, this.out, cx))?;
            if !this.out.is_empty() {
                continue;
            }
            if this.encryptor.is_finished() || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let par = *this.parallelism;
            let f = this.encryptor.header().frame_length() as usize;
            let batch = par.batch_frames(f) * f;
            if par.applies(batch) {
                // Read ahead up to a batch while the inner reader has data ready.
                if !*this.eof && this.plain.len() < batch {
                    this.plain.reserve(batch - this.plain.len());
                    match tokio_util::io::poll_read_buf(this.inner.as_mut(), cx, this.plain) {
                        Poll::Ready(Ok(0)) => *this.eof = true,
                        Poll::Ready(Ok(_)) => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending if this.plain.is_empty() => return Poll::Pending,
                        Poll::Pending => {}
                    }
                }
                if this.plain.is_empty() {
                    this.encryptor.finish(this.out)?;
                    continue;
                }
                match this.encryptor.pending_len() {
                    0 => {}
                    p => {
                        let n = this.plain.len().min(f - p);
                        this.encryptor.update(&this.plain[..n], this.out)?;
                        this.plain.advance(n);
                        continue;
                    }
                }
                if par.applies(this.plain.len())
                    && let Some(mut run) = this
                        .encryptor
                        .claim_frames(this.plain.len(), par.batch_frames(f))
                {
                    let src = this.plain.split_to(run.jobs.plain_total()).freeze();
                    // The rest moves to a fresh buffer of one batch (see the decrypting side).
                    let mut fresh = BytesMut::with_capacity(batch);
                    fresh.extend_from_slice(this.plain);
                    *this.plain = fresh;
                    let mut frames = std::mem::take(this.out);
                    frames.clear();
                    frames.resize(run.jobs.wire_total(), 0);
                    *this.job = Some(parallel::spawn(move || {
                        let outcome = parallel::seal(&mut run, Some(&src), &mut frames, &par);
                        (run, frames, outcome)
                    }));
                    continue;
                }
                this.encryptor.update(this.plain, this.out)?;
                this.plain.clear();
                continue;
            }
            let mut staging = ReadBuf::new(this.staging);
            ready!(this.inner.as_mut().poll_read(cx, &mut staging))?;
            let read = staging.filled();
            if read.is_empty() {
                this.encryptor.finish(this.out)?;
            } else {
                this.encryptor.update(read, this.out)?;
            }
        }
    }
}
