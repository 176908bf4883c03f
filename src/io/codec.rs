//! tokio-util codec: [`MessageEncoder`] and [`MessageDecoder`], for
//! [`FramedWrite`](tokio_util::codec::FramedWrite) and [`FramedRead`].
//!
//! Two things differ from an ordinary codec, both on purpose:
//!
//! * `FramedWrite` never tells its encoder that the stream is closing, so the message's end
//!   is an explicit item: send [`EncryptItem::Finish`] before closing the sink.
//! * tokio-util's default `decode_eof` ends the stream cleanly when the buffer is empty, which
//!   would turn a message cut at a frame boundary into a clean end. [`MessageDecoder`]
//!   overrides it: the stream ends cleanly only after the whole message has verified.
//!
//! ```no_run
//! # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource, socket: tokio::net::TcpStream) -> esdk::Result<()> {
//! use esdk::io::{DecryptOptions, MessageDecoder, codec};
//! use futures::TryStreamExt;
//! use tokio_util::codec::FramedRead;
//!
//! let mut framed = FramedRead::new(socket, MessageDecoder::new(&client, &DecryptOptions::new()));
//! let header = codec::decrypt_header(&mut framed, &keys).await?; // header phase
//! while let Some(chunk) = framed.try_next().await? {                // body phase
//!     let plaintext = chunk.into_plaintext()?;
//!     // use `plaintext`; it is final only once the stream has ended without an error
//! }
//! # Ok(()) }
//! ```

use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio_util::codec::{Decoder, Encoder, FramedRead};

use super::{DecryptEngine, DecryptOptions, Step};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::context::EncryptionContext;
use crate::error::{Error, FormatError, Result};
use crate::format::MessageHeader;
use crate::materials::DecryptionMaterials;
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

/// Encrypts [`EncryptItem`]s into one message, for [`FramedWrite`](tokio_util::codec::FramedWrite).
///
/// The header goes out with the first item. Send [`EncryptItem::Finish`] before closing the
/// sink: without it the message has no final frame and will not decrypt. Items after `Finish`
/// are an error.
///
/// # Cancel safety
///
/// `encode` is synchronous; `FramedWrite`'s `send` and `feed` are cancel safe in the way
/// tokio-util documents for any encoder (an item handed to the encoder is in the write buffer).
/// [`MessageEncoder::new`] is cancel safe: dropping its future only drops the materials request.
#[derive(Debug)]
pub struct MessageEncoder {
    encryptor: Encryptor,
}

impl MessageEncoder {
    /// Obtains encryption materials from `source` and returns an encoder for one message.
    ///
    /// # Errors
    /// A policy refusal or a keyring failure.
    pub async fn new(
        client: &Client,
        source: impl Into<MaterialsSource>,
        options: &EncryptOptions,
    ) -> Result<Self> {
        Ok(Self::from_encryptor(
            client.encryptor(&source.into(), options).await?,
        ))
    }

    /// An encoder over an [`Encryptor`] made by [`Client::encryptor`].
    pub fn from_encryptor(encryptor: Encryptor) -> Self {
        Self { encryptor }
    }

    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        self.encryptor.header()
    }

    /// True once [`EncryptItem::Finish`] has been encoded.
    pub fn is_finished(&self) -> bool {
        self.encryptor.is_finished()
    }
}

impl Encoder<EncryptItem> for MessageEncoder {
    type Error = Error;

    fn encode(&mut self, item: EncryptItem, dst: &mut BytesMut) -> Result<()> {
        match item {
            EncryptItem::Data(b) => self.encryptor.update(&b, dst),
            EncryptItem::Finish => self.encryptor.finish(dst),
        }
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
}

impl DecryptItem {
    /// The plaintext of a [`DecryptItem::Plaintext`].
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] for a header.
    pub fn into_plaintext(self) -> Result<Bytes> {
        match self {
            Self::Plaintext(b) => Ok(b),
            Self::Header(_) => Err(Error::misuse("a header where plaintext was expected")),
        }
    }
}

/// Decrypts one message for [`FramedRead`]: first a [`DecryptItem::Header`], then
/// [`DecryptItem::Plaintext`] items, under the release rules of [`DecryptOptions::release`].
///
/// The stream ends cleanly only when the message has verified and the input ended right after
/// it; a truncated message is an error from `decode_eof`, never a clean end.
/// [`Release::Verified`](super::Release::Verified) holds everything in memory (up to its
/// `memory_limit`, beyond which decoding fails: a `Decoder` cannot spill to a file).
///
/// While the header's materials are outstanding, decoding fails rather than letting
/// `FramedRead` buffer the body without bound.
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
    header_seen: bool,
}

impl MessageDecoder {
    /// A decoder with `client`'s policy and limits.
    pub fn new(client: &Client, options: &DecryptOptions) -> Self {
        Self {
            engine: DecryptEngine::new(client, options.release, false),
            client: *client,
            reproduced: options.encryption_context.clone(),
            header_seen: false,
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
                None if eof => Err(FormatError::Truncated.into()),
                None => Ok(None),
            };
        }
        if self.engine.needs_materials() {
            return Err(Error::misuse(
                "MessageDecoder polled before materials were supplied for the header",
            ));
        }
        // Only a spill file can return `Pending`, and this engine never spills.
        let mut cx = Context::from_waker(Waker::noop());
        match self.engine.poll_step(&mut cx, src, eof) {
            Poll::Ready(Ok(Step::Data(b))) => Ok(Some(DecryptItem::Plaintext(b))),
            Poll::Ready(Ok(Step::NeedInput | Step::End)) => Ok(None),
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
        Some(Ok(DecryptItem::Plaintext(_))) => return Err(Error::misuse("header already read")),
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
