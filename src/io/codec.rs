//! tokio-util codec: [`MessageEncoder`] and [`MessageDecoder`], for
//! [`FramedWrite`] and [`FramedRead`], carrying one message or
//! any number of them on one connection.
//!
//! Two things differ from an ordinary codec, both on purpose:
//!
//! * `FramedWrite` never tells its encoder that the stream is closing, so the message's end
//!   is an explicit item: send [`EncryptItem::Finish`] before closing the sink.
//! * tokio-util's default `decode_eof` ends the stream cleanly when the buffer is empty, which
//!   would turn a message cut at a frame boundary into a clean end. [`MessageDecoder`]
//!   overrides it: the stream ends cleanly only after the whole message has verified (in
//!   [many-message](MessageDecoder::many) mode: only between two messages).
//!
//! The simplest way to read is [`decrypt_message`] (one message, plaintext only) or
//! [`decrypt_messages`] (a sequence: [`DecryptItem::Header`], plaintext, [`DecryptItem::End`],
//! next header…), which do the materials step themselves:
//!
//! ```no_run
//! # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource, socket: tokio::net::TcpStream) -> esdk::Result<()> {
//! use esdk::io::{DecryptItem, codec};
//! use futures::TryStreamExt;
//!
//! let mut messages = codec::decrypt_messages(&client, &keys, socket);
//! while let Some(item) = messages.try_next().await? {
//!     match item {
//!         DecryptItem::Header(header) => { /* authenticated: a message starts */ }
//!         DecryptItem::Plaintext(bytes) => { /* provisional until its End */ }
//!         DecryptItem::End(header) => { /* the message verified completely */ }
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Latency: a partial frame cannot be flushed
//!
//! A frame is sealed only once it is full (or the message finishes), because its length is
//! fixed by the header. `FramedWrite::flush` therefore sends whole frames only; plaintext short
//! of a frame waits in the encoder. For records that must go out at once (requests, chat
//! lines, events), make **each record a message**: [`send_message`] writes one, the decoder in
//! [many-message](MessageDecoder::many) mode yields its [`DecryptItem::End`] as soon as it has
//! verified, and the record boundary is the message boundary. A message costs a header and a
//! materials call; put a [`CachingCmm`](crate::CachingCmm) in front of a remote keyring so that
//! the data key is reused for many records. Choosing a frame length equal to a fixed record size
//! also works, but only for fixed-size records.

use std::task::{Context, Poll, Waker};

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::{SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};

use super::engine::{DecryptEngine, Step};
use super::seal::SealEngine;
use super::{DecryptOptions, Release};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::{Error, FormatError, Result};
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::materials::DecryptionMaterials;
use crate::parallel::Parallelism;
use crate::proto::Encryptor;

/// What [`MessageEncoder`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptItem {
    /// Plaintext to encrypt. Items of at most a frame keep the write buffer small.
    Data(Bytes),
    /// The end of the plaintext: writes the final frame and the footer.
    Finish,
}

impl From<Bytes> for EncryptItem {
    fn from(b: Bytes) -> Self {
        Self::Data(b)
    }
}

/// Encrypts [`EncryptItem`]s into one message, for [`FramedWrite`].
///
/// The header goes out with the first item. Send [`EncryptItem::Finish`] before closing the
/// sink: without it the message has no final frame and will not decrypt. After `Finish`, start
/// the next message on the same connection with [`start_message`](Self::start_message) (or
/// [`send_message`] does both); other items after `Finish` are an error.
///
/// Frames go out whole: a flush sends no partial frame (see the
/// [module docs](self#latency-a-partial-frame-cannot-be-flushed)).
///
/// # Cancel safety
///
/// `encode` is synchronous; `FramedWrite`'s `send` and `feed` are cancel safe in the way
/// tokio-util documents for any encoder (an item handed to the encoder is in the write buffer).
/// [`MessageEncoder::new`] is cancel safe: dropping its future only drops the materials request.
#[derive(Debug)]
pub struct MessageEncoder {
    engine: SealEngine,
    parallelism: Parallelism,
    /// Something of the current message has been encoded.
    used: bool,
}

impl MessageEncoder {
    /// Batches of frames run on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.engine.pool_batches()
    }
    /// Obtains encryption materials from `source` and returns an encoder for one message.
    ///
    /// # Errors
    /// A policy refusal or a keyring failure.
    pub async fn new(
        client: &Client,
        source: impl Into<MaterialsSource>,
        options: &EncryptOptions,
    ) -> Result<Self> {
        let mut encoder = Self::from_encryptor(client.encryptor(&source.into(), options).await?);
        encoder.parallelism = *client.parallelism();
        encoder.engine.set_parallelism(encoder.parallelism);
        Ok(encoder)
    }

    /// An encoder over an [`Encryptor`] made by [`Client::encryptor`], frame by frame on the
    /// calling thread.
    pub fn from_encryptor(encryptor: Encryptor) -> Self {
        Self {
            engine: SealEngine::new(encryptor, Parallelism::off(), false),
            parallelism: Parallelism::off(),
            used: false,
        }
    }

    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        self.engine.header()
    }

    /// True once [`EncryptItem::Finish`] has been encoded.
    pub fn is_finished(&self) -> bool {
        self.engine.is_finished()
    }

    /// Begins the next message on the same connection, with an [`Encryptor`] made by
    /// [`Client::encryptor`]. Its header goes out with its first item. A message of which
    /// nothing has been encoded yet (the one [`new`](Self::new) prepared) is simply replaced.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] when the current message has begun and is not finished.
    pub fn start(&mut self, encryptor: Encryptor) -> Result<()> {
        self.check_between()?;
        self.engine = SealEngine::new(encryptor, self.parallelism, false);
        self.used = false;
        Ok(())
    }

    fn check_between(&self) -> Result<()> {
        if self.used && !self.engine.is_finished() {
            return Err(Error::misuse(
                "a new message was started before the current one was finished",
            ));
        }
        Ok(())
    }

    /// Obtains encryption materials from `source` and begins the next message with them.
    ///
    /// # Errors
    /// As [`start`](Self::start), or a policy refusal or keyring failure.
    pub async fn start_message(
        &mut self,
        client: &Client,
        source: impl Into<MaterialsSource>,
        options: &EncryptOptions,
    ) -> Result<()> {
        self.check_between()?;
        let encryptor = client.encryptor(&source.into(), options).await?;
        self.start(encryptor)
    }
}

/// Sends `plaintext` as one whole message on `framed`: the materials step
/// ([`MessageEncoder::start_message`]), the data, the final frame and footer, and a flush. The
/// encoder must be between messages (or not have encoded anything yet).
///
/// The receiving end reads it with a decoder in [many-message](MessageDecoder::many) mode.
///
/// The plaintext's length is given to the materials step (unless `options` set one), so a
/// caching CMM can serve many records with one data key: without a length, the caching CMM
/// must not use its cache.
///
/// # Errors
/// A policy refusal, a keyring failure, an error of the sink, or [`Error::ApiMisuse`] when a
/// message is still open.
pub async fn send_message<W: AsyncWrite + Unpin>(
    framed: &mut FramedWrite<W, MessageEncoder>,
    client: &Client,
    source: impl Into<MaterialsSource>,
    plaintext: Bytes,
    options: &EncryptOptions,
) -> Result<()> {
    let sized;
    let options = if options.max_plaintext_length.is_none() {
        sized = EncryptOptions {
            max_plaintext_length: Some(plaintext.len() as u64),
            ..options.clone()
        };
        &sized
    } else {
        options
    };
    framed
        .encoder_mut()
        .start_message(client, source, options)
        .await?;
    framed.feed(EncryptItem::Data(plaintext)).await?;
    framed.feed(EncryptItem::Finish).await?;
    <FramedWrite<W, MessageEncoder> as SinkExt<EncryptItem>>::flush(framed).await
}

impl Encoder<EncryptItem> for MessageEncoder {
    type Error = Error;

    fn encode(&mut self, item: EncryptItem, dst: &mut BytesMut) -> Result<()> {
        self.used = true;
        // Every complete frame goes out with its item (a sink's flush must send it): an item
        // that brings a batch of frames or more is sealed on every core, while this call waits.
        match item {
            EncryptItem::Data(b) => {
                self.engine.write_now(&b)?;
                self.engine.flush_now()?;
            }
            EncryptItem::Finish => self.engine.finish_now()?,
        }
        let out = self.engine.out();
        if dst.is_empty() {
            std::mem::swap(dst, out);
        } else {
            dst.extend_from_slice(out);
            out.clear();
        }
        Ok(())
    }
}

/// What [`MessageDecoder`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptItem {
    /// The header, parsed but not yet authenticated. Obtain materials for it (see
    /// [`decrypt_header`]) and give them to [`MessageDecoder::supply_materials`] before
    /// reading further. Always the first item, and only once.
    Header(MessageHeader),
    /// Plaintext that the release rules allow out, in order.
    Plaintext(Bytes),
    /// The end of a message, with its header: every frame and the signature have verified.
    /// Only in [many-message](MessageDecoder::many) mode; the next item, if any, is the next
    /// message's [`DecryptItem::Header`].
    End(MessageHeader),
}

impl DecryptItem {
    /// The plaintext of a [`DecryptItem::Plaintext`].
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] for a header.
    pub fn into_plaintext(self) -> Result<Bytes> {
        match self {
            Self::Plaintext(b) => Ok(b),
            Self::Header(_) | Self::End(_) => Err(Error::misuse(
                "a message boundary where plaintext was expected",
            )),
        }
    }
}

/// Decrypts one message for [`FramedRead`]: first a [`DecryptItem::Header`], then
/// [`DecryptItem::Plaintext`] items, under the release rules of [`DecryptOptions::release`].
///
/// The stream ends cleanly only when the message has verified and the input ended right after
/// it; a truncated message is an error from `decode_eof`, never a clean end.
/// [`Release::Verified`] holds everything in memory (up to its
/// `memory_limit`, beyond which decoding fails: a `Decoder` cannot spill to a file).
///
/// While the header's materials are outstanding, decoding fails rather than letting
/// `FramedRead` buffer the body without bound.
///
/// [`MessageDecoder::many`] reads any number of messages, one after the other, from the same
/// input: each ends with [`DecryptItem::End`], and the next starts with its header (which needs
/// its own materials step). The input may then end cleanly only between messages.
///
/// # Cancel safety
///
/// `decode` and `decode_eof` are synchronous. `FramedRead`'s `next` is cancel safe (bytes
/// read stay in its buffer). [`decrypt_header`] is cancel safe until it has returned the
/// header item from the stream; if it is dropped while awaiting the materials, call
/// [`MessageDecoder::supply_materials`] yourself or give up the stream.
#[derive(Debug)]
pub struct MessageDecoder {
    engine: DecryptEngine,
    client: Client,
    reproduced: Option<EncryptionContext>,
    release: Release,
    header_seen: bool,
    many: bool,
}

impl MessageDecoder {
    /// A decoder with `client`'s policy and limits.
    pub fn new(client: &Client, options: &DecryptOptions) -> Self {
        Self {
            engine: DecryptEngine::new(client, options.release, false),
            client: *client,
            reproduced: options.encryption_context.clone(),
            release: options.release,
            header_seen: false,
            many: false,
        }
    }

    /// A decoder for any number of messages in a row on the same input (see the type docs).
    /// `options` apply to each message.
    pub fn many(client: &Client, options: &DecryptOptions) -> Self {
        Self {
            engine: DecryptEngine::new(client, options.release, false).concatenated(),
            many: true,
            ..Self::new(client, options)
        }
    }

    /// Gives the decoder the materials for the header it yielded; checks the key commitment
    /// and the header tag.
    ///
    /// # Errors
    /// When the materials do not fit, or a check fails. The decoder is then spent.
    pub fn supply_materials(&mut self, materials: &DecryptionMaterials) -> Result<()> {
        self.engine.supply_materials(materials)
    }

    /// The header, once yielded.
    pub fn header(&self) -> Option<&MessageHeader> {
        self.engine.header()
    }

    /// The message's full encryption context (empty until materials were supplied).
    pub fn encryption_context(&self) -> &EncryptionContext {
        self.engine.encryption_context()
    }

    fn step(&mut self, src: &mut BytesMut, eof: bool) -> Result<Option<DecryptItem>> {
        if !self.header_seen {
            return match self.engine.decode_header(src)? {
                Some(h) => {
                    self.header_seen = true;
                    Ok(Some(DecryptItem::Header(h)))
                }
                // Between two messages, the input may end.
                None if eof && self.many && src.is_empty() => Ok(None),
                None if eof => Err(FormatError::Truncated.into()),
                None => Ok(None),
            };
        }
        if self.engine.needs_materials() {
            return Err(Error::misuse(
                "MessageDecoder polled before materials were supplied for the header",
            ));
        }
        // Gather a batch of frames while the message cannot end yet (see
        // `DecryptEngine::wants_more`): `FramedRead` reads into the room reserved here.
        if !eof && self.engine.wants_more(src) {
            self.engine.reserve_input(src);
            return Ok(None);
        }
        // Only a spill file can return `Pending`, and this engine never spills.
        let mut cx = Context::from_waker(Waker::noop());
        match self.engine.poll_step(&mut cx, src, eof) {
            Poll::Ready(Ok(Step::Data(b))) => Ok(Some(DecryptItem::Plaintext(b))),
            Poll::Ready(Ok(Step::End)) if self.many => {
                let next = DecryptEngine::new(&self.client, self.release, false).concatenated();
                let done = std::mem::replace(&mut self.engine, next);
                self.header_seen = false;
                let header = done
                    .header()
                    .cloned()
                    .ok_or_else(|| Error::misuse("a message ended without a header"))?;
                Ok(Some(DecryptItem::End(header)))
            }
            Poll::Ready(Ok(Step::NeedInput)) => {
                self.engine.reserve_input(src);
                Ok(None)
            }
            Poll::Ready(Ok(Step::End)) => Ok(None),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(Error::misuse("decoder engine would block")),
        }
    }
}

impl Decoder for MessageDecoder {
    type Item = DecryptItem;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<DecryptItem>> {
        self.step(src, false)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<DecryptItem>> {
        self.step(src, true)
    }
}

/// The header phase for a [`FramedRead`] over a [`MessageDecoder`]: reads the header item,
/// obtains materials from `source` (with the decoder's reproduced context) and supplies them.
/// Afterwards the stream yields only [`DecryptItem::Plaintext`].
///
/// # Errors
/// A malformed or truncated header, a policy refusal, a keyring failure, a header tag that
/// does not verify, or a read error.
pub async fn decrypt_header<R: AsyncRead + Unpin>(
    framed: &mut FramedRead<R, MessageDecoder>,
    source: impl Into<MaterialsSource>,
) -> Result<MessageHeader> {
    let header = match framed.next().await {
        Some(Ok(DecryptItem::Header(h))) => h,
        Some(Ok(DecryptItem::Plaintext(_) | DecryptItem::End(_))) => {
            return Err(Error::misuse("header already read"));
        }
        Some(Err(e)) => return Err(e),
        None => return Err(FormatError::Truncated.into()),
    };
    let decoder = framed.decoder();
    let (client, reproduced) = (decoder.client, decoder.reproduced.clone());
    let materials = client
        .decrypt_materials(&source.into(), &header, reproduced.as_ref())
        .await?;
    framed.decoder_mut().supply_materials(&materials)?;
    Ok(header)
}

type MaterialsFuture = BoxFuture<'static, Result<DecryptionMaterials>>;

/// Messages read from an [`AsyncRead`] through a [`MessageDecoder`], with the materials step
/// done between header and body: made by [`decrypt_messages`] (or [`MessageStream::new`] over a
/// decoder of your own).
///
/// Yields [`DecryptItem::Header`] once a message's header has been **authenticated** (materials
/// obtained, commitment and header tag checked), then its plaintext, then — in many-message
/// mode — [`DecryptItem::End`], and so on. An error ends the stream.
///
/// # Cancel safety
/// `poll_next` is cancel safe: a materials request in flight is kept across calls.
pub struct MessageStream<R> {
    framed: FramedRead<R, MessageDecoder>,
    source: MaterialsSource,
    pending: Option<(MessageHeader, MaterialsFuture)>,
    done: bool,
}

impl<R> std::fmt::Debug for MessageStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("decoder", self.framed.decoder())
            .field("awaiting_materials", &self.pending.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead> MessageStream<R> {
    /// A stream over `framed`, asking `source` for the materials of each message.
    pub fn new(framed: FramedRead<R, MessageDecoder>, source: impl Into<MaterialsSource>) -> Self {
        Self {
            framed,
            source: source.into(),
            pending: None,
            done: false,
        }
    }

    /// The decoder (its current header and encryption context).
    pub fn decoder(&self) -> &MessageDecoder {
        self.framed.decoder()
    }

    /// Only the plaintext: headers and ends are left out. Suits a stream of one message
    /// (see [`decrypt_message`]), where the stream's clean end is the message's.
    pub fn plaintext(self) -> PlaintextStream<R> {
        PlaintextStream { inner: self }
    }
}

impl<R: AsyncRead + Unpin> Stream for MessageStream<R> {
    type Item = Result<DecryptItem>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            if let Some((_, fut)) = this.pending.as_mut() {
                let got = std::task::ready!(fut.as_mut().poll_unpin(cx));
                let (header, _) = this.pending.take().expect("pending checked");
                let out = got.and_then(|m| this.framed.decoder_mut().supply_materials(&m));
                return Poll::Ready(Some(match out {
                    Ok(()) => Ok(DecryptItem::Header(header)),
                    Err(e) => {
                        this.done = true;
                        Err(e)
                    }
                }));
            }
            match std::task::ready!(this.framed.poll_next_unpin(cx)) {
                Some(Ok(DecryptItem::Header(header))) => {
                    let decoder = this.framed.decoder();
                    let (client, reproduced) = (decoder.client, decoder.reproduced.clone());
                    let (source, h) = (this.source.clone(), header.clone());
                    let fut: MaterialsFuture = Box::pin(async move {
                        client
                            .decrypt_materials(&source, &h, reproduced.as_ref())
                            .await
                    });
                    this.pending = Some((header, fut));
                }
                Some(Ok(item)) => return Poll::Ready(Some(Ok(item))),
                Some(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    this.done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

/// The plaintext of a [`MessageStream`]: made by [`decrypt_message`] or
/// [`MessageStream::plaintext`].
#[derive(Debug)]
pub struct PlaintextStream<R> {
    inner: MessageStream<R>,
}

impl<R> PlaintextStream<R> {
    /// The decoder (the header and encryption context of the message being read).
    pub fn decoder(&self) -> &MessageDecoder {
        self.inner.framed.decoder()
    }
}

impl<R: AsyncRead + Unpin> Stream for PlaintextStream<R> {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            return match std::task::ready!(this.inner.poll_next_unpin(cx)) {
                Some(Ok(DecryptItem::Plaintext(b))) => Poll::Ready(Some(Ok(b))),
                Some(Ok(_)) => continue,
                Some(Err(e)) => Poll::Ready(Some(Err(e))),
                None => Poll::Ready(None),
            };
        }
    }
}

/// Decrypts any number of messages sent one after the other on `reader` (a socket), with the
/// default [`DecryptOptions`]; see [`MessageStream`]. For other options, build the decoder with
/// [`MessageDecoder::many`] and use [`MessageStream::new`].
pub fn decrypt_messages<R: AsyncRead>(
    client: &Client,
    source: impl Into<MaterialsSource>,
    reader: R,
) -> MessageStream<R> {
    let decoder = MessageDecoder::many(client, &DecryptOptions::new());
    MessageStream::new(FramedRead::new(reader, decoder), source)
}

/// Decrypts the one message on `reader` and yields its plaintext: the header step happens
/// inside the stream. It ends cleanly only when the message has verified and `reader` ended
/// right after it. For other options use [`MessageDecoder::new`], [`MessageStream::new`] and
/// [`MessageStream::plaintext`].
pub fn decrypt_message<R: AsyncRead>(
    client: &Client,
    source: impl Into<MaterialsSource>,
    reader: R,
) -> PlaintextStream<R> {
    let decoder = MessageDecoder::new(client, &DecryptOptions::new());
    MessageStream::new(FramedRead::new(reader, decoder), source).plaintext()
}
