//! Reader adapters for `--decode` (base64 in), `--encode` (base64 out) and `--max-length`
//! (a plaintext length bound), so every path keeps streaming in constant memory; and
//! [`FileReader`], a regular file read in large pieces on the runtime's own thread.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncRead, ReadBuf};

const CHUNK: usize = 48 * 1024;

/// Malformed base64 under `--decode`: the input, not the system, is at fault.
#[derive(Debug)]
pub struct Base64Error(pub String);

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--decode: the input is not valid base64: {}", self.0)
    }
}

impl std::error::Error for Base64Error {}

fn b64_error(why: impl Into<String>) -> io::Error {
    io::Error::other(Base64Error(why.into()))
}

/// Hands out `out[pos..]` into `buf`; true when something was handed out.
fn drain(out: &mut Vec<u8>, pos: &mut usize, buf: &mut ReadBuf<'_>) -> bool {
    if *pos >= out.len() {
        return false;
    }
    let n = (out.len() - *pos).min(buf.remaining());
    buf.put_slice(&out[*pos..*pos + n]);
    *pos += n;
    if *pos == out.len() {
        out.clear();
        *pos = 0;
    }
    n > 0
}

/// Reads `inner` and yields its bytes base64-encoded (standard alphabet, padded, one line
/// without a newline, as the official CLI's `--encode` writes).
pub struct EncodeReader<R> {
    inner: R,
    pending: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R> EncodeReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            pending: Vec::with_capacity(CHUNK + 2),
            out: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for EncodeReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if drain(&mut this.out, &mut this.pos, buf) || this.done || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let start = this.pending.len();
            this.pending.resize(start + CHUNK, 0);
            let mut rb = ReadBuf::new(&mut this.pending[start..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.pending.truncate(start + n);
            ready!(polled)?;
            let whole = if n == 0 {
                this.done = true;
                this.pending.len()
            } else {
                this.pending.len() / 3 * 3
            };
            let at = this.out.len();
            let len = base64::encoded_len(whole, true)
                .ok_or_else(|| io::Error::other("base64 length overflow"))?;
            this.out.resize(at + len, 0);
            STANDARD
                .encode_slice(&this.pending[..whole], &mut this.out[at..])
                .map_err(io::Error::other)?;
            this.pending.drain(..whole);
        }
    }
}

/// Reads base64 text from `inner` (whitespace and line breaks ignored) and yields the decoded
/// bytes.
pub struct DecodeReader<R> {
    inner: R,
    raw: Vec<u8>,
    quads: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    padded: bool,
    done: bool,
}

impl<R> DecodeReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            raw: vec![0; CHUNK],
            quads: Vec::with_capacity(CHUNK + 4),
            out: Vec::new(),
            pos: 0,
            padded: false,
            done: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for DecodeReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if drain(&mut this.out, &mut this.pos, buf) || this.done || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut this.raw);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                this.done = true;
                if !this.quads.is_empty() {
                    return Poll::Ready(Err(b64_error(format!(
                        "it ends with {} stray characters (truncated?)",
                        this.quads.len()
                    ))));
                }
                continue;
            }
            for &c in &this.raw[..n] {
                if !c.is_ascii_whitespace() {
                    if this.padded {
                        return Poll::Ready(Err(b64_error("data after the final padding")));
                    }
                    this.quads.push(c);
                }
            }
            let whole = this.quads.len() / 4 * 4;
            if whole == 0 {
                continue;
            }
            this.padded = this.quads[whole - 1] == b'=';
            STANDARD
                .decode_vec(&this.quads[..whole], &mut this.out)
                .map_err(|e| b64_error(e.to_string()))?;
            this.quads.drain(..whole);
        }
    }
}

/// Fails a read once more than `max` bytes have come through (`--max-length` on encrypt): the
/// error is esdk's `PlaintextTooLarge` limit error, so it exits as a refusal.
pub struct Limited<R> {
    inner: R,
    max: u64,
    seen: u64,
}

impl<R> Limited<R> {
    pub fn new(inner: R, max: u64) -> Self {
        Self {
            inner,
            max,
            seen: 0,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Limited<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.seen += (buf.filled().len() - before) as u64;
        if this.seen > this.max {
            return Poll::Ready(Err(io::Error::other(esdk::Error::Limit(
                esdk::error::LimitError::PlaintextTooLarge(this.max),
            ))));
        }
        Poll::Ready(Ok(()))
    }
}

/// The size of one read from a regular input file.
pub const IO_CHUNK: usize = 1 << 20;

/// A regular file read with plain `read()` calls of up to [`IO_CHUNK`] bytes on the calling
/// thread: a regular file's reads do not block for long, so they need no hop to tokio's
/// blocking pool (which `tokio::fs::File` makes for every read, with a futex wake-up each).
/// Only regular files: a FIFO or a device can block without end, and those go through tokio.
///
/// A caller asking for at least 64 KiB gets it read straight into its buffer; smaller requests
/// are served from a buffer of up to one chunk, zeroed once when it grows (not before every
/// read: a 1 KiB file used to cost two 64 KiB `memset`s). Each `read()` call spends a unit of tokio's
/// cooperative budget, so that the single-threaded runtime gets control back (and notices a
/// signal) after a bounded amount of work even when the file never makes it wait.
pub struct FileReader {
    file: std::fs::File,
    /// Holds `buf[pos..end]` for the caller; its length only grows.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The bytes the file still holds by its length when opened: reads of a small file ask
    /// for (and zero) no more than that, at least 64 KiB (a file that grows is still read
    /// to its end, in pieces of 64 KiB or more).
    left: u64,
}

impl FileReader {
    pub fn new(file: std::fs::File, len: u64) -> Self {
        Self {
            file,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            left: len,
        }
    }

    /// The size of the next read.
    fn piece(&self) -> usize {
        usize::try_from(self.left.saturating_add(1))
            .unwrap_or(usize::MAX)
            .clamp(64 * 1024, IO_CHUNK)
    }

    fn read_into(file: &mut std::fs::File, out: &mut [u8]) -> io::Result<usize> {
        use std::io::Read as _;
        loop {
            match file.read(out) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}

impl AsyncRead for FileReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.pos < this.end {
            let n = (this.end - this.pos).min(buf.remaining());
            buf.put_slice(&this.buf[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        let piece = this.piece();
        let n = if buf.remaining() >= 64 * 1024 {
            let want = buf.remaining().min(piece);
            let n = Self::read_into(&mut this.file, buf.initialize_unfilled_to(want))?;
            buf.advance(n);
            n
        } else {
            if this.buf.len() < piece {
                this.buf.resize(piece, 0);
            }
            let n = Self::read_into(&mut this.file, &mut this.buf[..piece])?;
            let give = n.min(buf.remaining());
            buf.put_slice(&this.buf[..give]);
            this.pos = give;
            this.end = n;
            n
        };
        this.left = this.left.saturating_sub(n as u64);
        coop.made_progress();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn read_all(mut r: impl AsyncRead + Unpin) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).await?;
        Ok(v)
    }

    #[tokio::test]
    async fn base64_round_trips_at_every_length() {
        for len in [
            0usize,
            1,
            2,
            3,
            4,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK + 2,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let enc = read_all(EncodeReader::new(&data[..])).await.unwrap();
            assert_eq!(enc, STANDARD.encode(&data).into_bytes(), "{len}");
            let mut wrapped = Vec::new();
            for line in enc.chunks(76) {
                wrapped.extend_from_slice(line);
                wrapped.extend_from_slice(b"\r\n");
            }
            let dec = read_all(DecodeReader::new(&wrapped[..])).await.unwrap();
            assert_eq!(dec, data, "{len}");
        }
        for bad in [&b"QUJD#"[..], b"QUI=QUJD", b"QUJDR"] {
            let e = read_all(DecodeReader::new(bad)).await.unwrap_err();
            assert!(e.get_ref().unwrap().is::<Base64Error>(), "{e}");
        }
    }

    /// Small and large reads, across chunk boundaries and the periodic yield, return the file.
    #[tokio::test]
    async fn file_reader_returns_the_file_whatever_the_read_sizes() {
        use tokio::io::AsyncReadExt as _;
        let len = 2 * IO_CHUNK + 12_345;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4099) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        for piece in [1000usize, 65_536, 3 * IO_CHUNK] {
            std::io::Seek::rewind(&mut f).unwrap();
            // A length below the real one too: the reader still reads to the end.
            let hint = if piece == 1000 { 100 } else { len as u64 };
            let mut r = FileReader::new(f.try_clone().unwrap(), hint);
            let mut got = Vec::new();
            let mut buf = vec![0u8; piece];
            loop {
                let n = r.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got == data, "piece {piece}");
        }
    }
}
