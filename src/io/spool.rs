//! Holds plaintext back until a message has verified ([`Release::Verified`](super::Release)).
//!
//! The first `memory_limit` bytes stay in memory. The rest goes to an anonymous temporary file,
//! sealed record by record with AES-256-GCM under a key drawn for this spool alone, so that no
//! plaintext reaches the disk and a local change to the file is detected:
//!
//! ```text
//! record = u64 len ‖ ciphertext(len) ‖ tag(16)     IV = 0000_0000 ‖ u64 record number
//!                                                  AAD = u64 record number ‖ u64 len
//! ```

use std::collections::VecDeque;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncSeek, AsyncWrite};
use zeroize::Zeroizing;

use crate::crypto::{AeadKey, CryptoProvider};
use crate::error::{Error, LimitError, Result};
use crate::suite::{IV_LEN, TAG_LEN};

const LEN_LEN: usize = 8;
/// Sealed records are written once this much has gathered (or when draining starts), so that
/// small frames do not cost one file operation each.
const WRITE_BATCH: usize = 64 * 1024;

pub(crate) struct Spool {
    memory_limit: usize,
    spill_allowed: bool,
    provider: &'static CryptoProvider,
    memory: VecDeque<Bytes>,
    memory_len: usize,
    file: Option<SpillFile>,
    draining: bool,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("memory_limit", &self.memory_limit)
            .field("memory_len", &self.memory_len)
            .field("spilled", &self.file.as_ref().map(|s| s.records))
            .finish_non_exhaustive()
    }
}

struct SpillFile {
    file: tokio::fs::File,
    key: Box<dyn AeadKey>,
    /// Records written.
    records: u64,
    /// The longest record body, to bound reads.
    max_len: u64,
    /// A sealed record not yet (fully) written.
    out: BytesMut,
    read: ReadState,
    /// Records read back.
    read_records: u64,
    input: BytesMut,
}

enum ReadState {
    Writing,
    Flush,
    Seek,
    SeekWait,
    Records,
}

impl Spool {
    pub(crate) fn new(
        memory_limit: usize,
        spill_allowed: bool,
        provider: &'static CryptoProvider,
    ) -> Self {
        Self {
            memory_limit,
            spill_allowed,
            provider,
            memory: VecDeque::new(),
            memory_len: 0,
            file: None,
            draining: false,
        }
    }

    /// Takes a chunk of plaintext. A chunk bound for the spill file is sealed now and written
    /// by [`poll_store`](Self::poll_store).
    pub(crate) fn push(&mut self, chunk: Bytes) -> Result<()> {
        if self.file.is_none() && self.memory_len.saturating_add(chunk.len()) <= self.memory_limit {
            self.memory_len += chunk.len();
            self.memory.push_back(chunk);
            return Ok(());
        }
        if !self.spill_allowed {
            return Err(LimitError::PlaintextTooLarge(self.memory_limit as u64).into());
        }
        if self.file.is_none() {
            self.file = Some(SpillFile::create(self.provider)?);
        }
        let file = self.file.as_mut().expect("created above");
        file.seal(&chunk)
    }

    /// Writes the sealed records once a batch has gathered.
    pub(crate) fn poll_store(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.file.as_mut() {
            Some(f) if f.out.len() >= WRITE_BATCH => f.poll_write_out(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// No more pushes: from now on [`poll_pop`](Self::poll_pop) hands the plaintext back.
    pub(crate) fn start_drain(&mut self) {
        self.draining = true;
        if let Some(f) = self.file.as_mut() {
            f.read = ReadState::Flush;
        }
    }

    /// The next chunk, in order; `None` at the end.
    pub(crate) fn poll_pop(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>> {
        if !self.draining {
            return Poll::Ready(Err(Error::misuse("spool read before the message verified")));
        }
        if let Some(b) = self.memory.pop_front() {
            self.memory_len -= b.len();
            return Poll::Ready(Ok(Some(b)));
        }
        match self.file.as_mut() {
            Some(f) => f.poll_next_record(cx),
            None => Poll::Ready(Ok(None)),
        }
    }
}

impl SpillFile {
    fn create(provider: &'static CryptoProvider) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        provider.random.fill(&mut key[..])?;
        let key = provider.aead.key(&key[..])?;
        let file = spill_file()?;
        Ok(Self {
            file: tokio::fs::File::from_std(file),
            key,
            records: 0,
            max_len: 0,
            out: BytesMut::new(),
            read: ReadState::Writing,
            read_records: 0,
            input: BytesMut::new(),
        })
    }

    fn iv_aad(n: u64, len: u64) -> ([u8; IV_LEN], [u8; 16]) {
        let mut iv = [0u8; IV_LEN];
        iv[4..].copy_from_slice(&n.to_be_bytes());
        let mut aad = [0u8; 16];
        aad[..8].copy_from_slice(&n.to_be_bytes());
        aad[8..].copy_from_slice(&len.to_be_bytes());
        (iv, aad)
    }

    fn seal(&mut self, chunk: &[u8]) -> Result<()> {
        if self.out.len() >= WRITE_BATCH {
            return Err(Error::misuse(
                "spool record pushed before the previous batch was stored",
            ));
        }
        let len = chunk.len() as u64;
        let (iv, aad) = Self::iv_aad(self.records, len);
        self.out.reserve(LEN_LEN + chunk.len() + TAG_LEN);
        self.out.put_u64(len);
        let at = self.out.len();
        self.out.extend_from_slice(chunk);
        let tag = self.key.seal_in_place(&iv, &aad, &mut self.out[at..])?;
        self.out.extend_from_slice(&tag);
        self.records += 1;
        self.max_len = self.max_len.max(len);
        Ok(())
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while !self.out.is_empty() {
            // At most a batch per call: tokio's `File` copies what it is given into a buffer
            // of its own, and a whole large frame there would double its footprint.
            let take = self.out.len().min(WRITE_BATCH);
            let n = ready!(Pin::new(&mut self.file).poll_write(cx, &self.out[..take]))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
            }
            self.out.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_next_record(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>> {
        loop {
            match self.read {
                ReadState::Writing => return Poll::Ready(Err(Error::misuse("spool not drained"))),
                ReadState::Flush => {
                    ready!(self.poll_write_out(cx))?;
                    ready!(Pin::new(&mut self.file).poll_flush(cx))?;
                    self.read = ReadState::Seek;
                }
                ReadState::Seek => {
                    Pin::new(&mut self.file).start_seek(SeekFrom::Start(0))?;
                    self.read = ReadState::SeekWait;
                }
                ReadState::SeekWait => {
                    ready!(Pin::new(&mut self.file).poll_complete(cx))?;
                    self.read = ReadState::Records;
                }
                ReadState::Records => {
                    if self.read_records == self.records {
                        return Poll::Ready(Ok(None));
                    }
                    if self.input.len() >= LEN_LEN {
                        let len =
                            u64::from_be_bytes(self.input[..LEN_LEN].try_into().expect("8 bytes"));
                        if len > self.max_len {
                            return Poll::Ready(Err(altered()));
                        }
                        let total = LEN_LEN + len as usize + TAG_LEN;
                        if self.input.len() >= total {
                            let mut record = self.input.split_to(total);
                            let (iv, aad) = Self::iv_aad(self.read_records, len);
                            let tag: [u8; TAG_LEN] =
                                record[total - TAG_LEN..].try_into().expect("16 bytes");
                            self.key
                                .open_in_place(
                                    &iv,
                                    &aad,
                                    &mut record[LEN_LEN..total - TAG_LEN],
                                    &tag,
                                )
                                .map_err(|_| altered())?;
                            self.read_records += 1;
                            record.advance(LEN_LEN);
                            record.truncate(len as usize);
                            return Poll::Ready(Ok(Some(record.freeze())));
                        }
                        self.input
                            .reserve((total - self.input.len()).max(WRITE_BATCH));
                    } else {
                        self.input.reserve(WRITE_BATCH);
                    }
                    let n = ready!(tokio_util::io::poll_read_buf(
                        Pin::new(&mut self.file),
                        cx,
                        &mut (&mut self.input).limit(WRITE_BATCH)
                    ))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "spill file truncated",
                        )
                        .into()));
                    }
                }
            }
        }
    }
}

/// A temporary file readable and writable by its owner alone (mode 0600 from its creation; an
/// anonymous `O_TMPFILE` would take the umask's 0644), unlinked at once.
#[cfg(unix)]
fn spill_file() -> io::Result<std::fs::File> {
    use std::os::unix::fs::PermissionsExt;
    Ok(tempfile::Builder::new()
        .prefix(".esdk-spill-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile()?
        .into_file())
}

#[cfg(not(unix))]
fn spill_file() -> io::Result<std::fs::File> {
    tempfile::tempfile()
}

fn altered() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        "the spill file was altered",
    ))
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncSeekExt, AsyncWriteExt};

    use super::*;

    fn chunks() -> Vec<Bytes> {
        (0..5u8)
            .map(|i| Bytes::from(vec![i; 70 * 1024 + usize::from(i)]))
            .collect()
    }

    async fn fill(spool: &mut Spool) {
        for c in chunks() {
            spool.push(c).unwrap();
            poll_fn(|cx| spool.poll_store(cx)).await.unwrap();
        }
    }

    async fn drain(spool: &mut Spool) -> Result<Vec<Bytes>> {
        spool.start_drain();
        let mut out = Vec::new();
        while let Some(b) = poll_fn(|cx| spool.poll_pop(cx)).await? {
            out.push(b);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn memory_then_file_in_order() {
        // The first chunk fits in memory, the rest spills.
        let mut spool = Spool::new(80 * 1024, true, crate::crypto::default_provider());
        fill(&mut spool).await;
        assert_eq!(spool.memory.len(), 1);
        assert_eq!(spool.file.as_ref().map(|f| f.records), Some(4));
        assert_eq!(drain(&mut spool).await.unwrap(), chunks());
    }

    #[tokio::test]
    async fn spill_file_holds_no_plaintext_and_detects_changes() {
        let mut spool = Spool::new(0, true, crate::crypto::default_provider());
        fill(&mut spool).await;
        // `poll_store` leaves less than a batch unwritten when a write had to wait (as drain
        // would write it first): write everything out before looking at the file.
        let spill = spool.file.as_mut().unwrap();
        poll_fn(|cx| spill.poll_write_out(cx)).await.unwrap();
        let file = &mut spill.file;
        file.flush().await.unwrap();
        file.sync_all().await.unwrap();
        // Read the file through a duplicate handle at explicit offsets, leaving the spool's own
        // handle (and its position) alone.
        let std_file = file.try_clone().await.unwrap().into_std().await;
        let len = std_file.metadata().unwrap().len() as usize;
        let mut raw = vec![0u8; len];
        std::os::unix::fs::FileExt::read_exact_at(&std_file, &mut raw, 0).unwrap();
        // Each chunk is one repeated byte: a long run of it would be plaintext on disk.
        assert!(raw.len() > 5 * 70 * 1024);
        assert!(!raw.windows(64).any(|w| w.iter().all(|&b| b == w[0])));
        // Flip one bit in the second record's ciphertext.
        file.seek(SeekFrom::Start((8 + 70 * 1024 + 16 + 8 + 100) as u64))
            .await
            .unwrap();
        file.write_all(&[raw[8 + 70 * 1024 + 16 + 8 + 100] ^ 1])
            .await
            .unwrap();
        file.flush().await.unwrap();
        let err = drain(&mut spool).await.unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::InvalidData),
            "{err}"
        );
    }

    #[test]
    fn without_spilling_the_limit_is_an_error() {
        let mut spool = Spool::new(100, false, crate::crypto::default_provider());
        spool.push(Bytes::from_static(&[1; 60])).unwrap();
        assert!(matches!(
            spool.push(Bytes::from_static(&[2; 60])),
            Err(Error::Limit(_))
        ));
    }
}
