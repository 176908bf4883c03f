//! The decrypting side shared by every decrypting adapter: the sans-IO decryption
//! ([`HeaderDecoder`], [`ParsedHeader`], [`BodyDecryptor`]) plus the release mode and the
//! batches of frames. It holds no I/O; adapters feed it ciphertext and take
//! [`Step`]s out.
//!
//! Batches of frames (see [`crate::parallel`]): a signed message's one at a time, the run
//! holding the decryptor (its hash takes the frames in order); an unsigned message's two at a
//! time, claimed detached (the decryptor stays and claims the next while the pool opens the
//! previous), their plaintext released in claim order, each batch only once it has opened. A
//! batch that fails fails the message; the batches after it are never released.

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
use crate::proto::decrypt::{FrameCursor, FramesOut};
use crate::proto::frames::{self, FrameJobs};
use crate::proto::{BodyDecryptor, DecryptEvent, HeaderDecoder, ParsedHeader};

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

/// A batch of frames of a signed message being opened on rayon's pool: the run (which holds
/// the decryptor), its buffer, the outcome.
type OpenJob = parallel::Pending<(FramesOut, BytesMut, Result<()>)>;

/// A batch of frames of an unsigned message being opened on rayon's pool, claimed with
/// `BodyDecryptor::claim_detached` (the decryptor stayed): its frames, buffer and outcome.
type FreeJob = parallel::Pending<(FrameJobs, BytesMut, Result<()>)>;

/// Batches of an unsigned message on the pool at once. With one, the pool idles from the end
/// of each batch until the adapter's task has woken up, handed out its plaintext and claimed
/// the next; with two, the next batch is already being opened meanwhile. A signed message's
/// batches stay one at a time, their hash pipelined beside the AES work inside the batch: two
/// at a time (the hash taken on the adapter's task as each batch is claimed) was tried and
/// measured: no two-core gain beyond the noise (SHA-384 is ~90% of the work), and the extra
/// batch took the signed adapters past their memory budget (`benches/memory.rs`).
const MAX_FREE_JOBS: usize = 2;

/// Buffers of opened batches kept for reuse (see `DecryptEngine::spent`): as many as can be
/// out at once (the batches on the pool, one being handed out).
const MAX_SPENT: usize = MAX_FREE_JOBS + 1;

/// Where the message stands: the sans-IO step that holds it.
enum Phase {
    /// Reading the header.
    Header(HeaderDecoder),
    /// The header is parsed; waiting for decryption materials.
    Materials(ParsedHeader),
    /// Decoding the body.
    Body(BodyDecryptor),
    /// A batch of frames is on the pool: the run holds the decryptor. `after`: where the
    /// frames stand once it is back (for reading ahead meanwhile).
    Opening { job: OpenJob, after: FrameCursor },
    /// A step failed (and reported it), or materials are being applied.
    Failed,
}

/// See the [module docs](self).
pub(crate) struct DecryptEngine {
    phase: Phase,
    /// Batches of frames on every core.
    parallelism: Parallelism,
    /// Batches go to the pool and are awaited (adapters that can wait for them); otherwise
    /// (the codec) a batch is opened in a scoped job while the caller waits.
    spawn: bool,
    /// Batches opened on the pool (tests count them).
    pool_batches: u64,
    /// The most batches that were on the pool at once (tests read it).
    most_in_flight: usize,
    /// Batches of an unsigned message on the pool, oldest first (at most [`MAX_FREE_JOBS`]),
    /// claimed from the decryptor, which stays in `Phase::Body` and refuses to decode further
    /// until every one has come back. Their plaintext is released in this order, each batch
    /// only once it has opened.
    free_jobs: VecDeque<FreeJob>,
    /// Verified plaintext of the last batch, one frame per piece, not yet handed out.
    opened: VecDeque<Bytes>,
    /// The whole buffers of the last batches opened, oldest first (at most [`MAX_SPENT`]): once
    /// nothing else holds one (its plaintext handed out and dropped), it becomes the next
    /// input buffer instead of a fresh allocation (see [`Self::take_batch`]).
    spent: VecDeque<Bytes>,
    /// `Some` in [`Release::Verified`] mode.
    hold: Option<Spool>,
    /// The decryptor reported [`DecryptEvent::Done`].
    verified: bool,
    /// The input ended cleanly after a verified message.
    ended: bool,
    /// The header, once parsed (kept here too while a batch holds the decryptor).
    header: Option<MessageHeader>,
    header_len: usize,
    context: EncryptionContext,
    /// More messages may follow this one in the same input (the codec's many-message mode):
    /// the message ends when it has verified, not when the input ends.
    concatenated: bool,
}

impl std::fmt::Debug for DecryptEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptEngine")
            .field("header", &self.header)
            .field("parallelism", &self.parallelism)
            .field("batch_running", &self.batch_running())
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
            phase: Phase::Header(client.header_decoder(release)),
            parallelism: *client.parallelism(),
            spawn: asynchronous,
            pool_batches: 0,
            most_in_flight: 0,
            free_jobs: VecDeque::new(),
            opened: VecDeque::new(),
            spent: VecDeque::new(),
            hold,
            verified: false,
            ended: false,
            header: None,
            header_len: 0,
            context: EncryptionContext::new(),
            concatenated: false,
        }
    }

    /// This engine's message may be followed by others in the same input: it ends once the
    /// message has verified, leaving the bytes after it in the input.
    pub(crate) fn concatenated(mut self) -> Self {
        if let Phase::Header(decoder) = &mut self.phase {
            decoder.set_concatenated();
        }
        self.concatenated = true;
        self
    }

    /// Header phase: parses the header from the front of `input`; `None` when more is needed.
    pub(crate) fn decode_header(&mut self, input: &mut BytesMut) -> Result<Option<MessageHeader>> {
        let decoded = match &mut self.phase {
            Phase::Header(decoder) => decoder.decode(input),
            Phase::Failed => return Err(Error::misuse("decryption already failed")),
            _ => return Err(Error::misuse("the header was already decoded")),
        };
        let parsed = match decoded {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            Err(e) => {
                // Spent, as after any other failure.
                self.phase = Phase::Failed;
                return Err(e);
            }
        };
        let header = parsed.header().clone();
        self.header = Some(header.clone());
        self.header_len = parsed.header_len();
        self.phase = Phase::Materials(parsed);
        Ok(Some(header))
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
        let parsed = match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::Materials(parsed) => parsed,
            other => {
                self.phase = other;
                return Err(Error::misuse("materials supplied when none were expected"));
            }
        };
        self.phase = Phase::Body(parsed.with_materials(materials)?);
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
        // adapter within a batch read ahead, the batches on the pool (two at most) and one
        // being handed out.
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
        match &self.phase {
            Phase::Body(body) => body.cursor().is_some_and(|c| c.run_may_grow(input)),
            Phase::Opening { after, .. } => after.run_may_grow(input),
            _ => false,
        }
    }

    /// Batches opened on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.pool_batches
    }

    /// The most batches that were on the pool at once.
    #[cfg(test)]
    pub(crate) fn most_in_flight(&self) -> usize {
        self.most_in_flight
    }

    /// True while a batch is on the pool.
    pub(crate) fn batch_running(&self) -> bool {
        matches!(self.phase, Phase::Opening { .. }) || !self.free_jobs.is_empty()
    }

    /// How much ciphertext a writer accepts per write: a batch when batches are on.
    pub(crate) fn accept_len(&self) -> usize {
        self.batch_wire().map_or(CHUNK, |w| w.max(CHUNK))
    }

    /// The regular frames at the front of `input` that a batch would take, and the most a
    /// batch takes, when they are worth the pool: in the body of a framed message, outside
    /// the verified mode (whose memory limit counts plaintext frame by frame).
    fn batch_at_front(&self, input: &[u8]) -> Option<(usize, usize)> {
        let par = &self.parallelism;
        if self.hold.is_some() {
            return None;
        }
        let Phase::Body(body) = &self.phase else {
            return None;
        };
        let cursor = body.cursor()?;
        let frame = cursor.frame_length();
        let max = par.batch_frames(frame);
        let count = cursor.claimable(input, max);
        (count > 0 && par.applies(count * frame)).then_some((count, max))
    }

    /// Starts opening a batch of an unsigned message's frames at the front of `input` on the
    /// pool while the decryptor stays here, when there are enough of them and fewer than
    /// [`MAX_FREE_JOBS`] batches are out.
    fn start_free_batch(&mut self, input: &mut BytesMut, eof: bool) -> bool {
        let par = self.parallelism;
        if !self.spawn || self.free_jobs.len() >= MAX_FREE_JOBS {
            return false;
        }
        let Some((count, max)) = self.batch_at_front(input) else {
            return false;
        };
        let Phase::Body(body) = &mut self.phase else {
            return false;
        };
        // A short batch only once the run cannot grow (the input ended, or the final frame is
        // in sight): this is tried before the last batch's plaintext is handed out, while the
        // adapter is not reading ahead, and would otherwise cut batches short.
        if count < max && !eof && body.cursor().is_some_and(|c| c.run_may_grow(input)) {
            return false;
        }
        let Some(mut run) = body.claim_detached(input, max) else {
            return false;
        };
        let buf = self.take_batch(input, run.jobs.wire_total());
        self.pool_batches += 1;
        let job = parallel::spawn(move || {
            let mut buf = buf;
            let outcome = parallel::open_in_place(&mut run, &mut buf, &par);
            (run.jobs, buf, outcome)
        });
        self.free_jobs.push_back(job);
        self.most_in_flight = self.most_in_flight.max(self.free_jobs.len());
        true
    }

    /// Waits for the oldest batch of [`free_jobs`](Self::free_jobs); once it has opened, queues
    /// its plaintext. A batch that failed fails the message: the later batches are dropped
    /// unopened.
    fn poll_free_job(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(job) = self.free_jobs.front_mut() else {
            return Poll::Ready(Ok(()));
        };
        let done = ready!(Pin::new(job).poll(cx));
        self.free_jobs.pop_front();
        let result = match (done, &mut self.phase) {
            (Ok((jobs, buf, outcome)), Phase::Body(body)) => {
                body.detached_opened(outcome).map(|()| (jobs, buf))
            }
            (Ok(_), _) => Err(Error::misuse("a batch came back to no decryptor")),
            (Err(e), _) => Err(e),
        };
        match result {
            Ok((jobs, buf)) => {
                self.queue_opened(&jobs, buf);
                Poll::Ready(Ok(()))
            }
            Err(e) => {
                self.free_jobs.clear();
                self.phase = Phase::Failed;
                Poll::Ready(Err(e))
            }
        }
    }

    /// Starts opening a batch of the frames at the front of `input` on the pool, when there are
    /// enough of them.
    fn start_batch(&mut self, input: &mut BytesMut) -> Result<bool> {
        let par = self.parallelism;
        let Some((_, max)) = self.batch_at_front(input) else {
            return Ok(false);
        };
        let claimed = match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::Body(body) => body.claim_frames(input, max),
            other => {
                self.phase = other;
                return Ok(false);
            }
        };
        let mut out = match claimed {
            Ok(out) => out,
            Err(body) => {
                self.phase = Phase::Body(body);
                return Ok(false);
            }
        };
        let mut buf = self.take_batch(input, out.run.jobs.wire_total());
        self.pool_batches += 1;
        if self.spawn {
            let after = out.cursor();
            let job = parallel::spawn(move || {
                let outcome = parallel::open_in_place(&mut out.run, &mut buf, &par);
                (out, buf, outcome)
            });
            self.phase = Phase::Opening { job, after };
            self.most_in_flight = self.most_in_flight.max(1);
        } else {
            let outcome = parallel::open_in_place(&mut out.run, &mut buf, &par);
            self.opened_run(out, buf, outcome)?;
        }
        Ok(true)
    }

    /// Polls the running batch; once done, queues its verified plaintext.
    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Phase::Opening { job, .. } = &mut self.phase else {
            return Poll::Ready(Ok(()));
        };
        let done = ready!(Pin::new(job).poll(cx));
        self.phase = Phase::Failed;
        let (out, buf, outcome) = done?;
        Poll::Ready(self.opened_run(out, buf, outcome))
    }

    /// Hands an opened run back to the decryptor; once it took it, queues its plaintext.
    fn opened_run(&mut self, out: FramesOut, buf: BytesMut, outcome: Result<()>) -> Result<()> {
        let jobs = out.run.jobs.clone();
        self.phase = Phase::Body(out.finish(outcome)?);
        self.queue_opened(&jobs, buf);
        Ok(())
    }

    /// Queues the plaintext of an opened batch, frame by frame, and keeps its buffer for reuse.
    fn queue_opened(&mut self, jobs: &FrameJobs, buf: BytesMut) {
        let whole = buf.freeze();
        self.opened
            .extend(frames::opened_plaintext(jobs, whole.clone()));
        if self.spent.len() == MAX_SPENT {
            self.spent.pop_front();
        }
        self.spent.push_back(whole);
    }

    /// Splits a batch of `wire` bytes off the front of `input`. The batch keeps the
    /// allocation; the rest (less than a frame, or what was read ahead) moves to another buffer
    /// of a batch and more, so that reading ahead does not grow the shared one by doubling:
    /// the buffer of an earlier batch once nothing holds it any more, else a fresh one.
    /// Reusing them keeps the adapters' memory at what they hold: with a fresh batch-sized
    /// allocation per batch, glibc's allocator held 2-4 MiB more at peak (`benches/memory.rs`,
    /// 256 MiB in 4 KiB frames, peak above baseline: `DecryptingReader` 6.5 → 4.6 MiB,
    /// `MessageDecoder` 7.5 → 3.4 MiB).
    fn take_batch(&mut self, input: &mut BytesMut, wire: usize) -> BytesMut {
        let buf = input.split_to(wire);
        let want = wire.max(CHUNK) + CHUNK;
        let mut fresh = None;
        for _ in 0..self.spent.len() {
            let Some(old) = self.spent.pop_front() else {
                break;
            };
            match old.try_into_mut() {
                Ok(mut reused) if reused.capacity() >= want.max(input.len()) => {
                    reused.clear();
                    fresh = Some(reused);
                    break;
                }
                // Too small (another frame length's): let it go.
                Ok(_) => {}
                // Still held (plaintext not yet dropped): keep it for later.
                Err(old) => self.spent.push_back(old),
            }
        }
        let mut fresh = fresh.unwrap_or_else(|| BytesMut::with_capacity(want));
        fresh.extend_from_slice(input);
        *input = fresh;
        buf
    }

    /// Length of the message header in bytes, once parsed.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn header_len(&self) -> usize {
        self.header_len
    }

    pub(crate) fn needs_materials(&self) -> bool {
        matches!(self.phase, Phase::Materials(_))
    }

    /// The body decryptor, in the body phase when no batch is out.
    fn body(&mut self) -> Result<&mut BodyDecryptor> {
        match &mut self.phase {
            Phase::Body(body) => Ok(body),
            Phase::Failed => Err(Error::misuse("decryption already failed")),
            _ => Err(Error::misuse("the body is not being decoded")),
        }
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
                let concatenated = self.concatenated;
                let body = self.body()?;
                if body.decode(input)?.is_some() {
                    return Poll::Ready(Err(Error::misuse("event after the end of the message")));
                }
                if !concatenated {
                    if !eof {
                        return Poll::Ready(Ok(Step::NeedInput));
                    }
                    body.finish(input)?;
                }
                self.ended = true;
                if let Some(spool) = self.hold.as_mut() {
                    spool.start_drain();
                }
                continue;
            }
            ready!(self.poll_batch(cx))?;
            // An unsigned message's next batch goes to the pool first, so that the pool opens
            // it while the previous batch's plaintext is handed out.
            if self.start_free_batch(input, eof) {
                continue;
            }
            let event = match self.opened.pop_front() {
                Some(b) => Some(DecryptEvent::Plaintext(b)),
                // The decryptor decodes nothing until the batches claimed from it are back.
                None if !self.free_jobs.is_empty() => match self.poll_free_job(cx) {
                    Poll::Ready(r) => {
                        r?;
                        continue;
                    }
                    // While the pool has room for another batch, ask for the input to fill
                    // it rather than wait (the job wakes this task when it is done).
                    Poll::Pending
                        if !eof
                            && self.free_jobs.len() < MAX_FREE_JOBS
                            && self.wants_more(input) =>
                    {
                        return Poll::Ready(Ok(Step::NeedInput));
                    }
                    Poll::Pending => return Poll::Pending,
                },
                None if self.start_batch(input)? => continue,
                None => self.body()?.decode(input)?,
            };
            match event {
                Some(DecryptEvent::Plaintext(b)) if b.is_empty() => {}
                Some(DecryptEvent::Plaintext(b)) => match self.hold.as_mut() {
                    Some(spool) => spool.push(b)?,
                    None => return Poll::Ready(Ok(Step::Data(b))),
                },
                Some(DecryptEvent::Done) => self.verified = true,
                None if eof => {
                    // Incomplete: `finish` names the failure (truncated, or already failed).
                    self.body()?.finish(input)?;
                    return Poll::Ready(Err(FormatError::Truncated.into()));
                }
                None => return Poll::Ready(Ok(Step::NeedInput)),
            }
        }
    }
}
