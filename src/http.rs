//! HTTP bodies (feature `http`): [`EncryptBody`] and [`DecryptBody`] wrap any
//! [`http_body::Body`] (hyper's `Incoming`, axum's `Body`, reqwest's, a `Full`), and
//! [`status_code`] turns an [`Error`] into a response status. Only the `http` and `http-body`
//! 1.x crates are used: no server framework.
//!
//! Both bodies are made in the header phase, an `async fn` that fails **before the response
//! status is chosen**: a key the service lacks, a policy refusal, a malformed header become an
//! error status, not a `200` with a broken body.
//!
//! # What a client sees, by release mode
//!
//! | [`Release`] | bad header, wrong key, policy | a frame altered, the body cut short |
//! |---|---|---|
//! | [`Release::Streaming`], [`Release::UnsignedOnly`] | error status | `200`, the frames before the damage, then the connection is cut. With an exact [`size_hint`](http_body::Body::size_hint) (unsigned message of known length, so `Content-Length` is sent) the client sees a short body: curl exits with code 18, hyper and reqwest report an incomplete body. |
//! | [`Release::Verified`] | error status | error status: [`decrypt_body`] reads and verifies the whole message (spilling to an encrypted temporary file past its memory limit) before it returns |
//!
//! So streaming is cheap and fast but **a client must treat a body as valid only if it arrived
//! complete**; verified costs a pass over the whole message before the first byte goes out.
//!
//! ```no_run
//! # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource, body: http_body_util::Full<bytes::Bytes>) {
//! use esdk::http::{decrypt_body, status_code};
//! use esdk::io::{DecryptOptions, Release};
//! let options = DecryptOptions::new().release(Release::verified(8 << 20));
//! let response = match decrypt_body(&client, &keys, body, &options).await {
//!     Ok(plaintext) => http::Response::new(plaintext.boxed()),
//!     Err(e) => {
//!         let mut r = http::Response::new(esdk::http::text_body(e.to_string()));
//!         *r.status_mut() = status_code(&e);
//!         r
//!     }
//! };
//! # }
//! ```

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
mod layer;
#[cfg(feature = "tower")]
pub use layer::{EncryptionLayer, EncryptionService, ResponseFuture};

use std::collections::VecDeque;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures::Stream;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncSeek};

use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{ContentType, MessageHeader};
use crate::io::{
    DecryptOptions, DecryptStream, RangeReader, Release, decrypt_stream, stream_error,
};
use crate::proto::Encryptor;
use crate::proto::range::FrameLayout;
use crate::suite::TAG_LEN;

/// The HTTP status for `error`, by its [`Error::kind`]:
///
/// | [`ErrorKind`] | status |
/// |---|---|
/// | `Input` (malformed or truncated message, client went away) | `400 Bad Request` |
/// | `Authentication` (altered message, no key can decrypt it) | `422 Unprocessable Content` |
/// | `Limit` | `413 Content Too Large` |
/// | `Policy` | `403 Forbidden` |
/// | `Unavailable` (key service or key store down) | `503 Service Unavailable` |
/// | `Internal` | `500 Internal Server Error` |
///
/// This fits errors about a message the *client* sent. When the service decrypts its own
/// stored object and that fails to authenticate, the fault is the server's storage, not the
/// request: use [`stored_object_status`] there.
pub fn status_code(error: &Error) -> StatusCode {
    match error.kind() {
        ErrorKind::Input => StatusCode::BAD_REQUEST,
        ErrorKind::Authentication => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Limit => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Policy => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The HTTP status for `error` when the service was decrypting **its own stored data** (an
/// object it wrote earlier), not a message the client sent: a message that is malformed, cut
/// short or fails to authenticate is then the store's fault (`500 Internal Server Error`); every
/// other kind maps as in [`status_code`].
pub fn stored_object_status(error: &Error) -> StatusCode {
    match error.kind() {
        ErrorKind::Input | ErrorKind::Authentication => StatusCode::INTERNAL_SERVER_ERROR,
        _ => status_code(error),
    }
}

/// A small body holding `text`, with the crate's error type: for error responses next to
/// [`EncryptBody`] and [`DecryptBody`] (they share [`BoxBody`]).
pub fn text_body(text: impl Into<Bytes>) -> BoxBody {
    BoxBody::new(Whole {
        data: Some(text.into()),
    })
}

/// A boxed body of this module's error type, `Send`, for responses that are sometimes
/// [`EncryptBody`], sometimes [`DecryptBody`], sometimes a [`text_body`].
pub struct BoxBody {
    inner: Pin<Box<dyn Body<Data = Bytes, Error = Error> + Send + 'static>>,
}

impl BoxBody {
    /// Boxes `body`.
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes, Error = Error> + Send + 'static,
    {
        Self {
            inner: Box::pin(body),
        }
    }
}

impl std::fmt::Debug for BoxBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxBody").finish_non_exhaustive()
    }
}

impl Body for BoxBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        self.inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One chunk, then the end.
struct Whole {
    data: Option<Bytes>,
}

impl Body for Whole {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

pin_project! {
    /// The data frames of a [`Body`] as a `Stream` of `Bytes` (trailers are dropped).
    #[derive(Debug)]
    pub struct BodyStream<B> {
        #[pin]
        body: B,
    }
}

impl<B> BodyStream<B> {
    /// Streams the data of `body`.
    pub fn new(body: B) -> Self {
        Self { body }
    }
}

impl<B> Stream for BodyStream<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = std::result::Result<Bytes, B::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            return match ready!(this.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => Poll::Ready(Some(Ok(data.copy_to_bytes(data.remaining())))),
                    Err(_trailers) => continue,
                },
                Some(Err(e)) => Poll::Ready(Some(Err(e))),
                None => Poll::Ready(None),
            };
        }
    }
}

/// Ciphertext length of an unsigned message of `plaintext` bytes, written as [`EncryptBody`]
/// writes it: whole regular frames, then a final frame of the rest (empty after a multiple of
/// the frame length).
fn unsigned_message_len(header_len: u64, frame_length: u64, plaintext: u64) -> u64 {
    let regular = plaintext / frame_length;
    header_len + regular * (frame_length + 32) + (plaintext % frame_length) + 40
}

pin_project! {
    /// Encrypts a [`Body`] of plaintext into a body of the ESDK message: made by
    /// [`EncryptBody::new`].
    ///
    /// Its [`size_hint`](Body::size_hint) is exact when the suite is unsigned and the inner
    /// body's hint is exact (so hyper sends `Content-Length`); the inner body must then deliver
    /// exactly that many bytes, or the body fails. Otherwise it gives bounds. A plaintext whose
    /// length is a multiple of the frame length ends with an empty final frame.
    ///
    /// # Cancel safety
    /// `poll_frame` is cancel safe: plaintext taken from the inner body is encrypted at once and
    /// kept until yielded.
    pub struct EncryptBody<B> {
        #[pin]
        inner: B,
        // Until the final frame is written (`finish` consumes it).
        encryptor: Option<Encryptor>,
        header: MessageHeader,
        out: BytesMut,
        frame_length: usize,
        // Plaintext length promised by the inner body, and bytes seen so far.
        expected: Option<u64>,
        seen: u64,
        // Exact message length, when known; bytes yielded so far.
        total: Option<u64>,
        sent: u64,
        header_len: u64,
        inner_done: bool,
        done: bool,
    }
}

impl<B> std::fmt::Debug for EncryptBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptBody")
            .field("header", &self.header)
            .field("finished", &self.encryptor.is_none())
            .field("total", &self.total)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl<B> EncryptBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Obtains encryption materials from `source` and returns the body of the message that
    /// encrypts `inner`, with the client's suite and frame length and no encryption context
    /// (see [`with_options`](Self::with_options)).
    ///
    /// # Errors
    /// A policy refusal or a keyring failure, before any byte.
    pub async fn new(
        client: &Client,
        source: impl Into<MaterialsSource>,
        inner: B,
    ) -> Result<Self> {
        Self::with_options(client, source, inner, &EncryptOptions::new()).await
    }

    /// As [`new`](Self::new), with `options` (encryption context, suite, frame length).
    ///
    /// # Errors
    /// A policy refusal or a keyring failure, before any byte.
    pub async fn with_options(
        client: &Client,
        source: impl Into<MaterialsSource>,
        inner: B,
        options: &EncryptOptions,
    ) -> Result<Self> {
        let expected = inner.size_hint().exact();
        let mut options = options.clone();
        if options.max_plaintext_length.is_none() {
            options.max_plaintext_length = expected;
        }
        let mut encryptor = client.encryptor(&source.into(), &options).await?;
        let mut out = BytesMut::new();
        encryptor.write_header(&mut out);
        let header_len = out.len() as u64;
        let frame_length = encryptor.header().frame_length() as usize;
        let total = match expected {
            Some(p) if !encryptor.header().algorithm_suite().is_signing() => {
                Some(unsigned_message_len(header_len, frame_length as u64, p))
            }
            _ => None,
        };
        Ok(Self {
            inner,
            header: encryptor.header().clone(),
            encryptor: Some(encryptor),
            out,
            frame_length,
            expected,
            seen: 0,
            total,
            sent: 0,
            header_len,
            inner_done: false,
            done: false,
        })
    }
}

impl<B> EncryptBody<B> {
    /// The header of the message.
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }
}

impl<B> Body for EncryptBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        let mut this = self.project();
        loop {
            if !this.out.is_empty() {
                let chunk = this.out.split().freeze();
                *this.sent += chunk.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            if *this.inner_done {
                *this.done = true;
                if this.expected.is_some_and(|e| e != *this.seen) {
                    return Poll::Ready(Some(Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the body's length differs from its size hint",
                    )))));
                }
                // After a multiple of the frame length the final frame is empty (the encryptor
                // seals every full frame at once): the length `size_hint` promised.
                let finished = match this.encryptor.take() {
                    Some(encryptor) => encryptor.finish(this.out),
                    None => Err(Error::misuse("the message is already finished")),
                };
                if let Err(e) = finished {
                    this.out.clear();
                    return Poll::Ready(Some(Err(e)));
                }
                continue;
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        let n = chunk.len().min(*this.frame_length);
                        *this.seen += n as u64;
                        let updated = match this.encryptor.as_mut() {
                            Some(encryptor) => encryptor.update(&chunk[..n], this.out),
                            None => Err(Error::misuse("plaintext after the end of the message")),
                        };
                        if let Err(e) = updated {
                            *this.done = true;
                            this.out.clear();
                            return Poll::Ready(Some(Err(e)));
                        }
                        data.advance(n);
                    }
                }
                Some(Err(e)) => {
                    *this.done = true;
                    this.out.clear();
                    return Poll::Ready(Some(Err(stream_error(e))));
                }
                None => *this.inner_done = true,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.out.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        if let Some(total) = self.total {
            return SizeHint::with_exact(total.saturating_sub(self.sent));
        }
        let mut hint = SizeHint::new();
        hint.set_lower((self.header_len + 40).saturating_sub(self.sent));
        hint
    }
}

pin_project! {
    /// Decrypts a [`Body`] holding an ESDK message into a body of its plaintext: made by
    /// [`decrypt_body`].
    ///
    /// Its [`size_hint`](Body::size_hint) is exact for an unsigned framed message whose body had
    /// an exact hint (its `Content-Length`), so hyper sends `Content-Length` and a client can
    /// tell a cut body from a whole one. Otherwise it gives an upper bound.
    pub struct DecryptBody<B> {
        #[pin]
        stream: DecryptStream<BodyStream<B>>,
        first: VecDeque<Bytes>,
        total: Option<u64>,
        upper: Option<u64>,
        sent: u64,
        done: bool,
    }
}

impl<B> std::fmt::Debug for DecryptBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptBody")
            .field("total", &self.total)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// Reads the header of the message in `body`, obtains and checks the materials, and returns a
/// body of its plaintext; under [`Release::Verified`] it first reads and verifies the **whole**
/// message, so that a tampered or truncated body becomes an error here, before a status is
/// chosen (see the [module docs](self#what-a-client-sees-by-release-mode)).
///
/// `body` must be `Unpin` (`Box::pin` it if it is not; hyper's and axum's bodies are).
///
/// # Errors
/// Everything [`decrypt_stream`] reports before its first item; under [`Release::Verified`],
/// any failure of the message.
pub async fn decrypt_body<B>(
    client: &Client,
    source: impl Into<MaterialsSource>,
    body: B,
    options: &DecryptOptions,
) -> Result<DecryptBody<B>>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use futures::StreamExt;
    let message_len = body.size_hint().exact();
    let upper_in = body.size_hint().upper();
    let mut stream = decrypt_stream(client, source, BodyStream::new(body), options).await?;
    let header = stream.header();
    let header_len = stream.header_len() as u64;
    let total = match (message_len, header.content_type()) {
        (Some(len), ContentType::Framed) if !header.algorithm_suite().is_signing() => {
            Some(FrameLayout::new(header_len, header.frame_length(), len)?.plaintext_len())
        }
        _ => None,
    };
    let upper = upper_in.map(|u| u.saturating_sub(header_len + TAG_LEN as u64));
    let mut first = VecDeque::new();
    let mut done = false;
    if matches!(options.release, Release::Verified { .. }) {
        // Nothing comes out of a verified stream before the whole message has verified.
        match stream.next().await {
            Some(Ok(b)) => first.push_back(b),
            Some(Err(e)) => return Err(e),
            None => done = true,
        }
    }
    Ok(DecryptBody {
        stream,
        first,
        total,
        upper,
        sent: 0,
        done,
    })
}

impl<B> DecryptBody<B> {
    /// The message header (its tag has verified).
    pub fn header(&self) -> &MessageHeader {
        self.stream.header()
    }

    /// The message's full encryption context.
    pub fn encryption_context(&self) -> &crate::EncryptionContext {
        self.stream.encryption_context()
    }

    /// Boxes this body (see [`BoxBody`]).
    pub fn boxed(self) -> BoxBody
    where
        B: Body + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        BoxBody::new(self)
    }
}

impl<B> Body for DecryptBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        let this = self.project();
        if let Some(b) = this.first.pop_front() {
            *this.sent += b.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        match ready!(this.stream.poll_next(cx)) {
            Some(Ok(b)) => {
                *this.sent += b.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Some(Err(e)) => {
                *this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            None => {
                *this.done = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.first.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        if let Some(total) = self.total {
            return SizeHint::with_exact(total.saturating_sub(self.sent));
        }
        let mut hint = SizeHint::new();
        if let Some(u) = self.upper {
            hint.set_upper(u.saturating_sub(self.sent));
        }
        hint
    }
}

impl<B> EncryptBody<B> {
    /// Boxes this body (see [`BoxBody`]).
    pub fn boxed(self) -> BoxBody
    where
        B: Body + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        BoxBody::new(self)
    }
}

/// How a `Range` request header applies to a plaintext of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeRequest {
    /// No usable single byte range (absent, another unit, several ranges, malformed): serve the
    /// whole object with `200` (HTTP lets a server ignore a `Range` it does not support).
    Whole,
    /// One satisfiable range: serve it with `206` and [`content_range`].
    Partial(Range<u64>),
    /// A range that starts past the end: answer `416` with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Interprets a `Range` header value (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against a plaintext
/// of `len` bytes, as RFC 9110 §14 says: the end is clamped to the length, a start at or past
/// it is unsatisfiable, and only a single range is honoured.
pub fn parse_range(value: Option<&http::HeaderValue>, len: u64) -> RangeRequest {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let range = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => match num(b) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(n) => len.saturating_sub(n)..len,
            None => return RangeRequest::Whole,
        },
        (false, true) => match num(a) {
            Some(s) => s..len,
            None => return RangeRequest::Whole,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(s), Some(e)) if s <= e => s..e.saturating_add(1).min(len),
            _ => return RangeRequest::Whole,
        },
        (true, true) => return RangeRequest::Whole,
    };
    if range.start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial(range)
}

/// The `Content-Range` value of a `206` for `range` of `len` bytes (`bytes a-b/len`), or of a
/// `416` when `range` is `None` (`bytes */len`).
pub fn content_range(range: Option<&Range<u64>>, len: u64) -> http::HeaderValue {
    let text = match range {
        Some(r) => format!("bytes {}-{}/{len}", r.start, r.end.saturating_sub(1)),
        None => format!("bytes */{len}"),
    };
    http::HeaderValue::try_from(text).expect("digits, spaces, '-', '/' and '*' are valid")
}

pin_project! {
    /// The plaintext a [`RangeReader`] reads, as a body with an exact size hint: made by
    /// [`range_body`].
    pub struct RangeBody<R> {
        reader: RangeReader<R>,
        buf: BytesMut,
        left: u64,
    }
}

impl<R> std::fmt::Debug for RangeBody<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeBody")
            .field("reader", &self.reader)
            .field("left", &self.left)
            .finish()
    }
}

/// A body of the plaintext range `reader` is set to (see [`RangeReader::set_range`]), with an
/// exact size hint; each frame is verified before its bytes are yielded.
pub fn range_body<R>(reader: RangeReader<R>) -> RangeBody<R> {
    let r = reader.remaining();
    RangeBody {
        left: r.end - r.start,
        reader,
        buf: BytesMut::new(),
    }
}

impl<R: AsyncRead + AsyncSeek + Unpin> Body for RangeBody<R> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        let this = self.project();
        if *this.left == 0 {
            return Poll::Ready(None);
        }
        this.buf.reserve(64 * 1024);
        match ready!(tokio_util::io::poll_read_buf(
            Pin::new(this.reader),
            cx,
            this.buf
        )) {
            Ok(0) => {
                *this.left = 0;
                Poll::Ready(Some(Err(crate::error::FormatError::Truncated.into())))
            }
            Ok(n) => {
                *this.left = this.left.saturating_sub(n as u64);
                Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze()))))
            }
            Err(e) => {
                *this.left = 0;
                Poll::Ready(Some(Err(Error::Io(e))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

impl<R> RangeBody<R> {
    /// Boxes this body (see [`BoxBody`]).
    pub fn boxed(self) -> BoxBody
    where
        R: AsyncRead + AsyncSeek + Unpin + Send + 'static,
    {
        BoxBody::new(self)
    }
}
