//! The decrypting side shared by every decrypting adapter: the [`Decryptor`] plus the release
//! mode and the batches of frames. It holds no I/O; adapters feed it ciphertext and take
//! [`Step`]s out.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};

use super::spool::Spool;
use super::{CHUNK, Release};
use crate::client::{Client, MaterialsSource};
use crate::context::EncryptionContext;
use crate::error::{Error, FormatError, Result};
use crate::format::MessageHeader;
use crate::parallel::{self, Parallelism};
use crate::proto::frames::{self, OpenRun};
use crate::proto::{DecryptEvent, Decryptor};

/// What the body phase of decryption produced.
#[derive(Debug)]
pub(crate) enum Step {
    /// Plaintext that may be released now.
    Data(Bytes),
    /// More ciphertext is needed.
    NeedInput,
    /// The message is complete, verified, and the input ended right after it.
    End,
}

/// A batch of frames being opened on rayon's pool: the run, its buffer, the outcome.
type OpenJob = parallel::Pending<(OpenRun, BytesMut, Result<()>)>;

/// See the [module docs](self).
pub(crate) struct DecryptEngine {
    decryptor: Decryptor,
    /// Batches of frames on every core.
    parallelism: Parallelism,
    /// Batches go to the pool and are awaited (adapters that can wait for them); otherwise
    /// (the codec) a batch is opened in a scoped job while the caller waits.
    spawn: bool,
    /// Batches opened on the pool (tests count them).
    pool_batches: u64,
    /// The batch being opened.
    job: Option<OpenJob>,
    /// Verified plaintext of the last batch, one frame per piece, not yet handed out.
    opened: VecDeque<Bytes>,
    /// `Some` in [`Release::Verified`] mode.
    hold: Option<Spool>,
    /// The decryptor reported [`DecryptEvent::Done`].
    verified: bool,
    /// The input ended cleanly after a verified message.
    ended: bool,
    header: Option<MessageHeader>,
    context: EncryptionContext,
    /// More messages may follow this one in the same input (the codec's many-message mode):
    /// the message ends when it has verified, not when the input ends.
    concatenated: bool,
}

impl std::fmt::Debug for DecryptEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptEngine")
            .field("decryptor", &self.decryptor)
            .field("parallelism", &self.parallelism)
            .field("batch_running", &self.job.is_some())
            .field("hold", &self.hold)
            .field("verified", &self.verified)
            .finish_non_exhaustive()
    }
}

impl DecryptEngine {
    /// An engine for `client`'s policy and limits. `asynchronous` engines may return `Pending`
    /// from [`poll_step`](Self::poll_step): they may spill in verified mode and open batches of
    /// frames on rayon's pool while the caller goes on (see [`crate::parallel`]); the others
    /// open a batch that their input already holds in a scoped job.
    pub(crate) fn new(client: &Client, release: Release, asynchronous: bool) -> Self {
        let spill = asynchronous;
        let hold = match release {
            Release::Verified { memory_limit } => {
                Some(Spool::new(memory_limit, spill, client.crypto_provider()))
            }
            _ => None,
        };
        Self {
            decryptor: client.decryptor(release == Release::UnsignedOnly),
            parallelism: *client.parallelism(),
            spawn: asynchronous,
            pool_batches: 0,
            job: None,
            opened: VecDeque::new(),
            hold,
            verified: false,
            ended: false,
            header: None,
            context: EncryptionContext::new(),
            concatenated: false,
        }
    }

    /// This engine's message may be followed by others in the same input: it ends once the
    /// message has verified, leaving the bytes after it in the input.
    pub(crate) fn concatenated(mut self) -> Self {
        self.decryptor.set_concatenated();
        self.concatenated = true;
        self
    }

    /// Header phase: parses the header from the front of `input`; `None` when more is needed.
    pub(crate) fn decode_header(&mut self, input: &mut BytesMut) -> Result<Option<MessageHeader>> {
        match self.decryptor.decode(input)? {
            Some(DecryptEvent::Header(h)) => {
                self.header = Some(h.clone());
                Ok(Some(h))
            }
            None => Ok(None),
            Some(_) => Err(Error::misuse("body event before the header")),
        }
    }

    /// Header phase at end of input: the header never completed.
    pub(crate) fn header_truncated(&self) -> Error {
        FormatError::Truncated.into()
    }

    /// Header phase: asks `source` for materials and supplies them.
    pub(crate) async fn obtain_materials(
        &mut self,
        client: &Client,
        source: &MaterialsSource,
        reproduced: Option<&EncryptionContext>,
    ) -> Result<()> {
        let header = self
            .header
            .clone()
            .ok_or_else(|| Error::misuse("no header parsed"))?;
        let materials = client
            .decrypt_materials(source, &header, reproduced)
            .await?;
        self.supply_materials(&materials)
    }

    /// Supplies materials obtained elsewhere.
    pub(crate) fn supply_materials(
        &mut self,
        materials: &crate::DecryptionMaterials,
    ) -> Result<()> {
        self.decryptor.supply_materials(materials)?;
        self.context = materials.encryption_context().clone();
        Ok(())
    }

    /// Makes room in `input` for the rest of a frame in one allocation rather than by
    /// doubling (which would briefly hold two copies). The hint is capped: a frame length is
    /// authenticated but still the sender's choice, so larger frames grow as they arrive.
    pub(crate) fn reserve_input(&self, input: &mut BytesMut) {
        const MAX_HINT: usize = 4 << 20;
        if let Some(want) = self.batch_wire() {
            if input.len() < want && input.capacity() - input.len() < CHUNK / 2 {
                input.reserve(CHUNK.max((want - input.len()).min(MAX_HINT)));
            }
            return;
        }
        if input.capacity() - input.len() >= CHUNK / 2 {
            return;
        }
        let frame = self
            .header
            .as_ref()
            .map_or(0, |h| h.frame_length() as usize);
        let whole = frame.saturating_add(64).min(MAX_HINT);
        input.reserve(CHUNK.max(whole.saturating_sub(input.len())));
    }

    /// Wire bytes of a full batch, when this engine opens batches and is in the body of a
    /// framed message.
    fn batch_wire(&self) -> Option<usize> {
        let par = &self.parallelism;
        let frame = self.header.as_ref()?.frame_length() as usize;
        // A non-framed body (frame length 0) is one block: nothing to batch, nothing to read
        // ahead (it would read 32 MiB of whatever follows the header before the body head).
        if frame == 0 {
            return None;
        }
        // A frame is opened whole: frames of a batch's size or more gain nothing. The verified
        // release mode works frame by frame: its memory limit counts the plaintext it holds,
        // and a frame opened in a batch would keep the whole batch buffer alive in the spool.
        // Read ahead only for a batch that will go to the pool: the same test as `start_batch`.
        let frames = par.batch_frames(frame);
        if self.verified
            || self.hold.is_some()
            || frames < 2
            || !par.applies(frames.saturating_mul(frame))
        {
            return None;
        }
        frames.checked_mul(frame.checked_add(32)?)
    }

    /// True when more ciphertext would fill the next batch: adapters that can read ahead do so
    /// (while it is immediately available) before stepping.
    pub(crate) fn wants_more(&self, input: &BytesMut) -> bool {
        // Not while the last batch's plaintext is still being handed out: that keeps the
        // adapter at two batches (one read ahead, one being opened or handed out).
        if !self.opened.is_empty() {
            return false;
        }
        let Some(want) = self.batch_wire() else {
            return false;
        };
        if input.len() >= want {
            return false;
        }
        // Only while `input` is nothing but regular frames (the last perhaps incomplete): once
        // the final frame (or anything else that ends a run) is in sight, more input would not
        // make the batch any larger, and might never come.
        self.decryptor.run_may_grow(input)
    }

    /// Batches opened on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.pool_batches
    }

    /// True while a batch is on the pool.
    pub(crate) fn batch_running(&self) -> bool {
        self.job.is_some()
    }

    /// How much ciphertext a writer accepts per write: a batch when batches are on.
    pub(crate) fn accept_len(&self) -> usize {
        self.batch_wire().map_or(CHUNK, |w| w.max(CHUNK))
    }

    /// Starts opening a batch of the frames at the front of `input` on the pool, when there are
    /// enough of them.
    fn start_batch(&mut self, input: &mut BytesMut) -> Result<bool> {
        let par = self.parallelism;
        if self.hold.is_some() {
            return Ok(false);
        }
        let Some(header) = self.header.as_ref() else {
            return Ok(false);
        };
        let max = par.batch_frames(header.frame_length() as usize);
        let Some((count, frame)) = self.decryptor.claimable(input, max) else {
            return Ok(false);
        };
        if count == 0 || !par.applies(count * frame) {
            return Ok(false);
        }
        let Some(mut run) = self.decryptor.claim_frames(input, max) else {
            return Ok(false);
        };
        let mut buf = input.split_to(run.jobs.wire_total());
        // The batch keeps its allocation; the rest (less than a frame) moves to a fresh buffer
        // of one batch, so that reading ahead does not grow the shared one by doubling.
        let mut fresh = BytesMut::with_capacity(run.jobs.wire_total().max(CHUNK) + CHUNK);
        fresh.extend_from_slice(input);
        *input = fresh;
        self.pool_batches += 1;
        if self.spawn {
            self.job = Some(parallel::spawn(move || {
                let outcome = parallel::open_in_place(&mut run, &mut buf, &par);
                (run, buf, outcome)
            }));
        } else {
            let outcome = parallel::open_in_place(&mut run, &mut buf, &par);
            self.opened_run(run, buf, outcome)?;
        }
        Ok(true)
    }

    /// Polls the running batch; once done, queues its verified plaintext.
    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(job) = self.job.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let done = ready!(Pin::new(job).poll(cx));
        self.job = None;
        let (run, buf, outcome) = done?;
        Poll::Ready(self.opened_run(run, buf, outcome))
    }

    /// Hands an opened run back to the decryptor; once it took it, queues its plaintext.
    fn opened_run(&mut self, run: OpenRun, buf: BytesMut, outcome: Result<()>) -> Result<()> {
        let jobs = run.jobs.clone();
        self.decryptor.end_run(run, outcome)?;
        self.opened
            .extend(frames::opened_plaintext(&jobs, buf.freeze()));
        Ok(())
    }

    /// Length of the message header in bytes, once parsed.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn header_len(&self) -> usize {
        self.decryptor.header_len()
    }

    pub(crate) fn needs_materials(&self) -> bool {
        self.decryptor.needs_materials()
    }

    pub(crate) fn header(&self) -> Option<&MessageHeader> {
        self.header.as_ref()
    }

    pub(crate) fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }

    /// Body phase: decodes what `input` holds and says what to do next. `eof` means no more
    /// input will come. Only a spill file can make this return `Pending`.
    pub(crate) fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        input: &mut BytesMut,
        eof: bool,
    ) -> Poll<Result<Step>> {
        loop {
            if self.ended {
                return match self.hold.as_mut() {
                    Some(spool) => Poll::Ready(
                        ready!(spool.poll_pop(cx)).map(|o| o.map_or(Step::End, Step::Data)),
                    ),
                    None => Poll::Ready(Ok(Step::End)),
                };
            }
            if let Some(spool) = self.hold.as_mut() {
                ready!(spool.poll_store(cx))?;
            }
            if self.verified {
                // Bytes after the message are an error, even in the same read.
                if self.decryptor.decode(input)?.is_some() {
                    return Poll::Ready(Err(Error::misuse("event after the end of the message")));
                }
                if !self.concatenated {
                    if !eof {
                        return Poll::Ready(Ok(Step::NeedInput));
                    }
                    self.decryptor.finish(input)?;
                }
                self.ended = true;
                if let Some(spool) = self.hold.as_mut() {
                    spool.start_drain();
                }
                continue;
            }
            ready!(self.poll_batch(cx))?;
            let event = match self.opened.pop_front() {
                Some(b) => Some(DecryptEvent::Plaintext(b)),
                None if self.start_batch(input)? => continue,
                None => self.decryptor.decode(input)?,
            };
            match event {
                Some(DecryptEvent::Plaintext(b)) if b.is_empty() => {}
                Some(DecryptEvent::Plaintext(b)) => match self.hold.as_mut() {
                    Some(spool) => spool.push(b)?,
                    None => return Poll::Ready(Ok(Step::Data(b))),
                },
                Some(DecryptEvent::Done) => self.verified = true,
                Some(DecryptEvent::Header(_)) => {
                    return Poll::Ready(Err(Error::misuse("a second header")));
                }
                None if eof => {
                    // Incomplete: `finish` names the failure (truncated, or already failed).
                    self.decryptor.finish(input)?;
                    return Poll::Ready(Err(FormatError::Truncated.into()));
                }
                None => return Poll::Ready(Ok(Step::NeedInput)),
            }
        }
    }
}
