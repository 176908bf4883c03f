//! [`RangeReader`]: plaintext bytes `[a, b)` of an unsigned framed message, read from a seekable
//! source without decrypting from the start. The arithmetic and the frame checks are the core's
//! ([`crate::proto::range`]); this is the I/O around them.

use std::io;
use std::ops::{Bound, Range, RangeBounds};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeek, AsyncSeekExt, ReadBuf, SeekFrom};

use super::{CHUNK, DecryptOptions, Release};
use crate::client::{Client, MaterialsSource};
use crate::error::{Error, FormatError, Result};
use crate::format::MessageHeader;
use crate::format::context::EncryptionContext;
use crate::proto::range::{FrameSpan, RangeDecryptor, check_rangeable};

/// How much ciphertext a [`RangeReader`] reads ahead at most, beyond the frame it needs.
const READ_AHEAD: u64 = 256 * 1024;

/// Reads a plaintext range of an **unsigned framed** message from a source that can seek (a
/// file, or an object store behind a seekable adapter).
///
/// [`open`](Self::open) reads the header, obtains the materials, then reads and verifies the
/// **final frame**, whose authenticated sequence number and length fix the plaintext length
/// ([`plaintext_len`](Self::plaintext_len)): a message that was cut short or extended fails
/// here. [`set_range`](Self::set_range) picks the bytes to read; reading then seeks to the
/// frames that hold them and releases each frame's plaintext only once its tag verifies (its
/// tag binds its sequence number and kind, so frames cannot be moved, dropped or swapped).
/// Frames outside the range are not read, so damage there goes unnoticed: a range is as
/// authentic as a streaming decryption stopped at its end, never more.
///
/// Signed messages are refused ([`PolicyError::RangeNotSupported`](crate::error::PolicyError)):
/// their signature covers the whole message, and the release rules hold the final frame back
/// until it verifies. So are non-framed messages.
///
/// Ranges behave like HTTP byte ranges: the end is clamped to the plaintext length, and a range
/// that starts at or past the end is not satisfiable (`None`, HTTP's `416`).
///
/// ```no_run
/// # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource) -> esdk::Result<()> {
/// use tokio::io::AsyncReadExt;
/// let file = tokio::fs::File::open("video.esdk").await?;
/// let mut reader = esdk::io::RangeReader::open(&client, &keys, file).await?;
/// let len = reader.plaintext_len();
/// if let Some(range) = reader.set_range(1_000_000..2_000_000) {
///     let mut bytes = Vec::new();
///     reader.read_to_end(&mut bytes).await?; // `range.end - range.start` bytes, each verified
/// }
/// # Ok(()) }
/// ```
///
/// # Cancel safety
///
/// `poll_read` is cancel safe: ciphertext read and plaintext opened are kept for the next
/// call. [`open`](Self::open) is not (the inner reader moved into it is dropped with it).
pub struct RangeReader<R> {
    inner: R,
    /// Offset of the message's first byte in `inner`.
    base: u64,
    decryptor: RangeDecryptor,
    context: EncryptionContext,
    /// Plaintext still to be read.
    range: Range<u64>,
    /// Ciphertext read from `inner`, starting at message offset `input_at`; `inner` stands
    /// right after it unless `seeking`.
    input: BytesMut,
    input_at: u64,
    seeking: bool,
    /// The last frame opened: its index and plaintext.
    cached: Option<(u64, Bytes)>,
    failed: bool,
}

impl<R> std::fmt::Debug for RangeReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeReader")
            .field("decryptor", &self.decryptor)
            .field("range", &self.range)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + AsyncSeek + Unpin> RangeReader<R> {
    /// [`open_with_options`](Self::open_with_options) with the default options.
    ///
    /// # Errors
    /// As [`open_with_options`](Self::open_with_options).
    pub async fn open(
        client: &Client,
        source: impl Into<MaterialsSource>,
        inner: R,
    ) -> Result<Self> {
        Self::open_with_options(client, source, inner, &DecryptOptions::new()).await
    }

    /// Reads the header of the message that starts at `inner`'s current position, obtains
    /// materials from `source` (with the reproduced encryption context of `options`), checks
    /// them and the header tag, then reads and verifies the final frame. The range is then the
    /// whole plaintext.
    ///
    /// The [`release`](DecryptOptions::release) mode must not be [`Release::Verified`]: a
    /// range never verifies the frames outside it. The other modes are the same here (signed
    /// messages are refused anyway).
    ///
    /// # Errors
    /// [`PolicyError::RangeNotSupported`](crate::error::PolicyError) for a signed or
    /// non-framed message (before any keyring call); a malformed, truncated or extended message;
    /// a policy refusal, a context mismatch, a keyring failure; a header or final-frame tag that
    /// does not verify; an error of `inner`.
    pub async fn open_with_options(
        client: &Client,
        source: impl Into<MaterialsSource>,
        mut inner: R,
        options: &DecryptOptions,
    ) -> Result<Self> {
        if matches!(options.release, Release::Verified { .. }) {
            return Err(Error::misuse(
                "a range cannot be released under Release::Verified",
            ));
        }
        let base = inner.stream_position().await?;
        let mut decoder = client.header_decoder(Release::Streaming);
        let mut input = BytesMut::with_capacity(CHUNK);
        let parsed = loop {
            if let Some(parsed) = decoder.decode(&mut input)? {
                break parsed;
            }
            input.reserve(CHUNK);
            if inner.read_buf(&mut input).await? == 0 {
                return Err(FormatError::Truncated.into());
            }
        };
        check_rangeable(parsed.header())?;
        let materials = client
            .decrypt_materials(
                &source.into(),
                parsed.header(),
                options.encryption_context.as_ref(),
            )
            .await?;
        let end = inner.seek(SeekFrom::End(0)).await?;
        let message_len = end.checked_sub(base).ok_or(FormatError::Truncated)?;
        let decryptor = RangeDecryptor::new(parsed, &materials, message_len)?;
        let last = decryptor.layout().final_frame();
        let mut reader = Self {
            inner,
            base,
            context: materials.encryption_context().clone(),
            range: 0..decryptor.layout().plaintext_len(),
            decryptor,
            input: BytesMut::new(),
            input_at: 0,
            seeking: false,
            cached: None,
            failed: false,
        };
        // The final frame authenticates the plaintext length: open it before anything else.
        reader
            .inner
            .seek(SeekFrom::Start(base + last.offset))
            .await?;
        let mut wire = BytesMut::new();
        wire.resize(last.wire_len as usize, 0);
        reader
            .inner
            .read_exact(&mut wire)
            .await
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => Error::from(FormatError::Truncated),
                _ => Error::Io(e),
            })?;
        let plain = reader.decryptor.open(&last, wire)?;
        reader.cached = Some((last.index, plain));
        reader.input_at = last.offset + last.wire_len;
        Ok(reader)
    }
}

impl<R> RangeReader<R> {
    /// The plaintext length (authenticated: the final frame has verified).
    pub fn plaintext_len(&self) -> u64 {
        self.decryptor.layout().plaintext_len()
    }

    /// The message header (its tag has verified).
    pub fn header(&self) -> &MessageHeader {
        self.decryptor.header()
    }

    /// The message's full encryption context.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }

    /// The plaintext range still to be read.
    pub fn remaining(&self) -> Range<u64> {
        self.range.clone()
    }

    /// Chooses the plaintext bytes that reads return next (then end of file), as an HTTP byte
    /// range would: the end is clamped to [`plaintext_len`](Self::plaintext_len). Returns the
    /// range that will be read, or `None` when it cannot be satisfied (it starts at or past the
    /// end, or ends before it starts): HTTP's `416 Range Not Satisfiable`. An unbounded start
    /// is 0, so `..n` is the first `n` bytes (HTTP's suffix form `-n` is
    /// `len - n..`, see [`suffix`](Self::suffix)).
    pub fn set_range(&mut self, range: impl RangeBounds<u64>) -> Option<Range<u64>> {
        let len = self.plaintext_len();
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => len,
        }
        .min(len);
        if start >= len || start > end {
            return None;
        }
        self.range = start..end;
        Some(self.range.clone())
    }

    /// The last `n` plaintext bytes (all of them if there are fewer), as HTTP's `bytes=-n`;
    /// `None` for `n == 0` or an empty plaintext.
    pub fn suffix(&mut self, n: u64) -> Option<Range<u64>> {
        let len = self.plaintext_len();
        if n == 0 {
            return None;
        }
        self.set_range(len.saturating_sub(n)..len)
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader, with the message's starting offset in it.
    pub fn into_inner(self) -> (R, u64) {
        (self.inner, self.base)
    }
}

impl<R: AsyncRead + AsyncSeek + Unpin> RangeReader<R> {
    /// Reads and verifies every frame of the current range without releasing anything, then
    /// stands ready to read the range from its start. An HTTP handler calls it before choosing
    /// the status, so that damage anywhere in the range becomes an error status rather than a
    /// cut body; reading then verifies each frame again (two passes over the range).
    ///
    /// # Errors
    /// As reading: a frame that does not verify, a message cut short, an error of the inner
    /// reader. The reader is then spent.
    pub async fn verify_range(&mut self) -> Result<()> {
        let layout = *self.decryptor.layout();
        for index in layout.frames_for(self.range.clone()) {
            let span = layout.frame(index).expect("index within the layout");
            if let Err(e) = std::future::poll_fn(|cx| self.poll_frame(cx, &span)).await {
                if !matches!(e, Error::Io(_)) {
                    self.failed = true;
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

impl<R: AsyncRead + AsyncSeek + Unpin> RangeReader<R> {
    /// The plaintext of `span`, reading and opening it if it is not the cached frame.
    fn poll_frame(&mut self, cx: &mut Context<'_>, span: &FrameSpan) -> Poll<Result<Bytes>> {
        if let Some((_, b)) = self.cached.as_ref().filter(|(i, _)| *i == span.index) {
            return Poll::Ready(Ok(b.clone()));
        }
        loop {
            if self.seeking {
                ready!(Pin::new(&mut self.inner).poll_complete(cx))?;
                self.seeking = false;
            }
            let have = self.input_at..self.input_at + self.input.len() as u64;
            let want = span.wire_range();
            if have.start <= want.start && want.end <= have.end {
                let _ = self.input.split_to((want.start - have.start) as usize);
                let wire = self.input.split_to(span.wire_len as usize);
                self.input_at = want.end;
                let plain = self.decryptor.open(span, wire)?;
                self.cached = Some((span.index, plain.clone()));
                return Poll::Ready(Ok(plain));
            }
            if !(have.start <= want.start && want.start <= have.end) {
                // Not next to what was read: seek.
                Pin::new(&mut self.inner).start_seek(SeekFrom::Start(self.base + want.start))?;
                self.seeking = true;
                self.input.clear();
                self.input_at = want.start;
                continue;
            }
            // Read on: the rest of this frame, and ahead up to the end of the range's frames.
            let layout = self.decryptor.layout();
            let last = layout
                .frames_for(self.range.clone())
                .end
                .checked_sub(1)
                .and_then(|i| layout.frame(i))
                .map_or(want.end, |f| f.wire_range().end.max(want.end));
            let need = (want.end - have.end).max(READ_AHEAD.min(last - have.end));
            let need = usize::try_from(need).unwrap_or(usize::MAX);
            self.input.reserve(need.min(READ_AHEAD as usize));
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.inner),
                cx,
                &mut (&mut self.input).limit(need)
            ))?;
            if n == 0 {
                return Poll::Ready(Err(FormatError::Truncated.into()));
            }
        }
    }
}

impl<R: AsyncRead + AsyncSeek + Unpin> AsyncRead for RangeReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(Error::misuse("range decryption already failed").into()));
        }
        if this.range.start >= this.range.end || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let span = this.decryptor.layout().frame_at(this.range.start);
        let plain = match ready!(this.poll_frame(cx, &span)) {
            Ok(p) => p,
            Err(e) => {
                if !matches!(e, Error::Io(_)) {
                    this.failed = true;
                }
                return Poll::Ready(Err(e.into()));
            }
        };
        let from = (this.range.start - span.plaintext_start) as usize;
        let to = ((this.range.end - span.plaintext_start) as usize).min(plain.len());
        let n = (to - from).min(buf.remaining());
        buf.put_slice(&plain[from..from + n]);
        this.range.start += n as u64;
        Poll::Ready(Ok(()))
    }
}
