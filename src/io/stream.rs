//! `Stream` transforms: [`encrypt_stream`] and [`decrypt_stream`], from
//! `Stream<Item = Result<Bytes, E>>` to `Stream<Item = Result<Bytes, esdk::Error>>`.
//!
//! These fit HTTP bodies: hyper's `BodyExt::into_data_stream`, axum's `Body::into_data_stream`,
//! reqwest's `bytes_stream` on the way in, `StreamBody`/`Body::from_stream` on the way out.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use pin_project_lite::pin_project;

use super::engine::{DecryptEngine, Step};
use super::seal::SealEngine;
use super::{CHUNK, DecryptOptions, stream_error};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::{Error, Result};
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::parallel::Parallelism;
use crate::proto::Encryptor;

/// Obtains encryption materials from `source` and returns a stream of the message that
/// encrypts the chunks of `input`.
///
/// The first item is the header; then each item holds whole frames (input chunks are gathered
/// into frames: a batch of frames, sealed on every core, while the input has more ready and
/// the client's [`Parallelism`] applies to a batch; otherwise a few frames), and the last holds
/// the final frame and the footer. An error
/// of `input` is passed on as [`Error::Io`] (an `io::Error` stays as it is) and ends the stream.
///
/// ```no_run
/// # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource) -> esdk::Result<()> {
/// use bytes::Bytes;
/// use futures::{StreamExt, TryStreamExt};
/// let chunks = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"hello "))]);
/// let message = esdk::io::encrypt_stream(&client, &keys, chunks, &Default::default()).await?;
/// let bytes: Vec<Bytes> = message.try_collect().await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// A policy refusal or a keyring failure, before any item.
///
/// # Cancel safety
/// The returned stream's `poll_next` is cancel safe (a `next()` future dropped before it
/// completes loses nothing). This function is not: dropping its future drops `input`.
pub async fn encrypt_stream<S, E>(
    client: &Client,
    source: impl Into<MaterialsSource>,
    input: S,
    options: &EncryptOptions,
) -> Result<EncryptStream<S>>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let encryptor = client.encryptor(&source.into(), options).await?;
    let mut stream = EncryptStream::from_encryptor(encryptor, input);
    stream.engine.set_parallelism(*client.parallelism());
    Ok(stream)
}

pin_project! {
    /// The stream returned by [`encrypt_stream`]: message bytes, whole frames per item.
    ///
    /// # Cancel safety
    /// `poll_next` is cancel safe: input taken from the inner stream is encrypted at once and
    /// kept until yielded.
    #[derive(Debug)]
    pub struct EncryptStream<S> {
        #[pin]
        inner: S,
        engine: SealEngine,
        chunk: Bytes,
        inner_done: bool,
        done: bool,
    }
}

impl<S> EncryptStream<S> {
    /// Batches of frames run on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.engine.pool_batches()
    }
    /// A stream over an [`Encryptor`] made by [`Client::encryptor`], frame by frame on the
    /// calling thread.
    pub fn from_encryptor(encryptor: Encryptor, inner: S) -> Self {
        Self {
            inner,
            engine: SealEngine::new(encryptor, Parallelism::off(), true),
            chunk: Bytes::new(),
            inner_done: false,
            done: false,
        }
    }

    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        self.engine.header()
    }
}

impl<S, E> Stream for EncryptStream<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            if !this.engine.out().is_empty() {
                return Poll::Ready(Some(Ok(this.engine.out().split().freeze())));
            }
            if this.engine.is_finished() {
                *this.done = true;
                continue;
            }
            if !this.chunk.is_empty() {
                // `Pending` only while full slots wait for the batch on the pool.
                match ready!(this.engine.poll_write(cx, this.chunk)) {
                    Ok(n) => this.chunk.advance(n),
                    Err(e) => return fail(this.done, e),
                }
                continue;
            }
            if *this.inner_done {
                if let Err(e) = ready!(this.engine.poll_finish(cx)) {
                    return fail(this.done, e);
                }
                continue;
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => *this.chunk = b,
                Poll::Ready(Some(Err(e))) => return fail(this.done, stream_error(e)),
                Poll::Ready(None) => *this.inner_done = true,
                // Nothing ready: while a batch is on the pool, wait for it or for the input;
                // otherwise seal what is gathered and hand it out.
                Poll::Pending if this.engine.batch_running() => return Poll::Pending,
                Poll::Pending => {
                    if let Err(e) = ready!(this.engine.poll_flush(cx)) {
                        return fail(this.done, e);
                    }
                    if this.engine.out().is_empty() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// Reads the header from `input`, obtains decryption materials from `source`, and returns a
/// stream of the plaintext, one frame per item.
///
/// The stream ends (`None`) only after the whole message has verified and `input` has ended
/// right after it; otherwise its last item is an error. Which plaintext comes before the end
/// depends on [`DecryptOptions::release`](super::DecryptOptions::release). An error of `input` is passed
/// on as [`Error::Io`] and ends the stream.
///
/// `input` must be `Unpin` here (pin it with `Box::pin` if it is not).
///
/// # Errors
/// A malformed or truncated header, a policy refusal, a context mismatch, a keyring failure or
/// a header tag that does not verify, before any item.
///
/// # Cancel safety
/// The returned stream's `poll_next` is cancel safe. This function is not: dropping its
/// future drops `input` and the header bytes taken from it.
pub async fn decrypt_stream<S, E>(
    client: &Client,
    source: impl Into<MaterialsSource>,
    mut input: S,
    options: &DecryptOptions,
) -> Result<DecryptStream<S>>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let source = source.into();
    let mut engine = DecryptEngine::new(client, options.release, true);
    let mut buf = BytesMut::new();
    let mut chunk = Bytes::new();
    let header = loop {
        if let Some(header) = engine.decode_header(&mut buf)? {
            break header;
        }
        if chunk.is_empty() {
            chunk = match input.next().await {
                Some(Ok(b)) => b,
                Some(Err(e)) => return Err(stream_error(e)),
                None => return Err(engine.header_truncated()),
            };
        }
        let take = chunk.len().min(CHUNK);
        buf.extend_from_slice(&chunk.split_to(take));
    };
    engine
        .obtain_materials(client, &source, options.encryption_context.as_ref())
        .await?;
    Ok(DecryptStream {
        inner: input,
        engine,
        header,
        input: buf,
        chunk,
        inner_done: false,
        done: false,
    })
}

pin_project! {
    /// The stream returned by [`decrypt_stream`]: plaintext, one frame per item.
    ///
    /// # Cancel safety
    /// `poll_next` is cancel safe: ciphertext taken from the inner stream is kept until it is
    /// decrypted, and plaintext until it is yielded.
    #[derive(Debug)]
    pub struct DecryptStream<S> {
        #[pin]
        inner: S,
        engine: DecryptEngine,
        header: MessageHeader,
        input: BytesMut,
        chunk: Bytes,
        inner_done: bool,
        done: bool,
    }
}

impl<S> DecryptStream<S> {
    /// Batches of frames run on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.engine.pool_batches()
    }
    /// The message header (its tag has verified).
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// The message's full encryption context.
    pub fn encryption_context(&self) -> &EncryptionContext {
        self.engine.encryption_context()
    }

    /// Length of the message header (body and authentication) in bytes.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn header_len(&self) -> usize {
        self.engine.header_len()
    }
}

impl<S, E> Stream for DecryptStream<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            // With batches on, take input ahead while the inner stream has it ready, up to a
            // batch; then go on with what is buffered.
            if !*this.inner_done && this.engine.wants_more(this.input) {
                if !this.chunk.is_empty() {
                    let take = this.chunk.len().min(CHUNK.max(this.engine.accept_len()));
                    this.engine.reserve_input(this.input);
                    this.input.extend_from_slice(&this.chunk.split_to(take));
                    continue;
                }
                match this.inner.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(b))) => {
                        *this.chunk = b;
                        continue;
                    }
                    Poll::Ready(Some(Err(e))) => return fail(this.done, stream_error(e)),
                    Poll::Ready(None) => *this.inner_done = true,
                    Poll::Pending => {}
                }
            }
            let step = match ready!(this.engine.poll_step(cx, this.input, *this.inner_done)) {
                Ok(s) => s,
                Err(e) => return fail(this.done, e),
            };
            match step {
                Step::Data(b) => return Poll::Ready(Some(Ok(b))),
                Step::End => {
                    *this.done = true;
                    return Poll::Ready(None);
                }
                Step::NeedInput if !this.chunk.is_empty() => {
                    let take = this.chunk.len().min(CHUNK);
                    this.engine.reserve_input(this.input);
                    this.input.extend_from_slice(&this.chunk.split_to(take));
                }
                Step::NeedInput => match ready!(this.inner.as_mut().poll_next(cx)) {
                    Some(Ok(b)) => *this.chunk = b,
                    Some(Err(e)) => return fail(this.done, stream_error(e)),
                    None => *this.inner_done = true,
                },
            }
        }
    }
}

fn fail(done: &mut bool, e: Error) -> Poll<Option<Result<Bytes>>> {
    *done = true;
    Poll::Ready(Some(Err(e)))
}
