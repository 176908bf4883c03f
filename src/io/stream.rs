//! `Stream` transforms: [`encrypt_stream`] and [`decrypt_stream`], from
//! `Stream<Item = Result<Bytes, E>>` to `Stream<Item = Result<Bytes, esdk::Error>>`.
//!
//! These fit HTTP bodies: hyper's `BodyExt::into_data_stream`, axum's `Body::into_data_stream`,
//! reqwest's `bytes_stream` on the way in, `StreamBody`/`Body::from_stream` on the way out.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use pin_project_lite::pin_project;

use super::{CHUNK, DecryptEngine, DecryptOptions, Step, stream_error};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::{Error, Result};
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::proto::Encryptor;

/// Obtains encryption materials from `source` and returns a stream of the message that
/// encrypts the chunks of `input`.
///
/// The first item is the header; then each item is one frame (large input chunks are cut into
/// frames, small ones gathered), and the last holds the final frame and the footer. An error
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
    Ok(EncryptStream::from_encryptor(encryptor, input))
}

pin_project! {
    /// The stream returned by [`encrypt_stream`]: message bytes, about one frame per item.
    ///
    /// # Cancel safety
    /// `poll_next` is cancel safe: input taken from the inner stream is encrypted at once and
    /// kept until yielded.
    #[derive(Debug)]
    pub struct EncryptStream<S> {
        #[pin]
        inner: S,
        encryptor: Encryptor,
        out: BytesMut,
        chunk: Bytes,
        inner_done: bool,
        done: bool,
    }
}

impl<S> EncryptStream<S> {
    /// A stream over an [`Encryptor`] made by [`Client::encryptor`].
    pub fn from_encryptor(mut encryptor: Encryptor, inner: S) -> Self {
        let mut out = BytesMut::new();
        encryptor.write_header(&mut out);
        Self {
            inner,
            encryptor,
            out,
            chunk: Bytes::new(),
            inner_done: false,
            done: false,
        }
    }

    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        self.encryptor.header()
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
            if !this.out.is_empty() {
                return Poll::Ready(Some(Ok(this.out.split().freeze())));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            if !this.chunk.is_empty() {
                let take = this
                    .chunk
                    .len()
                    .min(this.encryptor.header().frame_length() as usize);
                let part = this.chunk.split_to(take);
                if let Err(e) = this.encryptor.update(&part, this.out) {
                    *this.done = true;
                    this.out.clear();
                    return Poll::Ready(Some(Err(e)));
                }
                continue;
            }
            if *this.inner_done {
                *this.done = true;
                if let Err(e) = this.encryptor.finish(this.out) {
                    this.out.clear();
                    return Poll::Ready(Some(Err(e)));
                }
                continue;
            }
            match ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(b)) => *this.chunk = b,
                Some(Err(e)) => {
                    *this.done = true;
                    return Poll::Ready(Some(Err(stream_error(e))));
                }
                None => *this.inner_done = true,
            }
        }
    }
}

/// Reads the header from `input`, obtains decryption materials from `source`, and returns a
/// stream of the plaintext, one frame per item.
///
/// The stream ends (`None`) only after the whole message has verified and `input` has ended
/// right after it; otherwise its last item is an error. Which plaintext comes before the end
/// depends on [`DecryptOptions::release`](super::DecryptOptions). An error of `input` is passed
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
    while engine.decode_header(&mut buf)?.is_none() {
        if chunk.is_empty() {
            chunk = match input.next().await {
                Some(Ok(b)) => b,
                Some(Err(e)) => return Err(stream_error(e)),
                None => return Err(engine.header_truncated()),
            };
        }
        let take = chunk.len().min(CHUNK);
        buf.extend_from_slice(&chunk.split_to(take));
    }
    engine
        .obtain_materials(client, &source, options.encryption_context.as_ref())
        .await?;
    Ok(DecryptStream {
        inner: input,
        engine,
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
        input: BytesMut,
        chunk: Bytes,
        inner_done: bool,
        done: bool,
    }
}

impl<S> DecryptStream<S> {
    /// The message header (its tag has verified).
    pub fn header(&self) -> &MessageHeader {
        self.engine.header().expect("set by the header phase")
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
