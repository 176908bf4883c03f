//! The encrypting side shared by every encrypting adapter: the [`Encryptor`] plus the batches
//! of frames. It holds no I/O; adapters hand it plaintext and write out what it sealed.
//!
//! Plaintext is gathered into frame slots (`proto::frames::FrameSlots`), whatever the sizes of
//! the writes, items or reads that bring it: a batch of frames (at least
//! [`Parallelism::batch_bytes`] of plaintext, whole frames of any length) when parallelism
//! applies to a batch, else a few frames (up to [`CHUNK`] on the wire, at least one). Full
//! slots are sealed as one run, on rayon's pool or on the calling thread (see
//! [`crate::parallel`]); while a batch is on the pool the next one is gathered. An unsigned
//! message's batch is claimed detached (the frames depend only on the key and their sequence
//! numbers, so the encryptor stays and claims the next batch, up to [`MAX_FREE_JOBS`] on the
//! pool); a signing suite's batch takes the encryptor with it (its hash takes the frames in
//! order). What was sealed
//! goes to [`out`](SealEngine::out), in order. At the end the incomplete last frame becomes the
//! final frame, through the [`Encryptor`]'s ordinary path, so the output is byte for byte the
//! one the [`Encryptor`] writes from the same plaintext, with or without batches.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;

use super::CHUNK;
use crate::error::{Error, FormatError, Result};
use crate::format::MessageHeader;
use crate::parallel::{self, Parallelism};
use crate::proto::Encryptor;
use crate::proto::encrypt::{Budget, SealOut};
use crate::proto::frames::{FrameSlots, SealRun};

/// A batch of frames being sealed on rayon's pool: the run (which holds the encryptor), the
/// sealed frames, the outcome.
type SealJob = parallel::Pending<(SealOut, BytesMut, Result<()>)>;

/// A batch of frames of an unsigned message being sealed on rayon's pool: the sealed frames,
/// the outcome. Its frames were claimed from the encryptor, which stayed with the engine.
type FreeJob = parallel::Pending<(BytesMut, Result<()>)>;

/// Batches of an unsigned message on the pool at once. Two kept the pool busier while the
/// adapter's task woke up to collect a batch (two cores ÷ one, 0x0478 in 64 KiB frames: 1.1-1.8
/// against 0.9-1.5, the machine's noise as wide as the gain), but the second batch, with the
/// allocator's churn around it, took `EncryptingReader` and `EncryptingWriter` past their memory
/// budget of 2 frames + 8 MiB in 4 KiB frames (8.0-8.4 MiB above baseline; one batch: 5.0-6.3,
/// `ESDK_MEMORY_BENCH_SUITE=0478 cargo bench --bench memory`). One it is: the encryptor still
/// stays with the engine, so the next batch is gathered while this one is sealed.
const MAX_FREE_JOBS: usize = 1;

/// Where the encryptor is.
// One per engine, mostly `Open`: boxing the encryptor would only add an indirection.
#[allow(clippy::large_enum_variant)]
enum Sealer {
    /// Here, ready for plaintext.
    Open(Encryptor),
    /// Away with a batch on the pool (signing suites, whose hash takes the frames in order).
    /// `budget`: the declared plaintext length and the plaintext taken, the batch's included.
    Sealing { job: SealJob, budget: Budget },
    /// Gone: the final frame (and footer) is in `out`.
    Finished,
    /// Lost with a batch that did not come back.
    Failed,
}

/// See the [module docs](self).
pub(crate) struct SealEngine {
    sealer: Sealer,
    header: MessageHeader,
    frame_length: usize,
    parallelism: Parallelism,
    /// Batches may go to the pool and be awaited (`false`: the codec, which cannot wait, seals
    /// them in a scoped job instead).
    spawn: bool,
    slots: FrameSlots,
    /// Batches of an unsigned message on the pool, oldest first (at most [`MAX_FREE_JOBS`]);
    /// their frames go to `out` in this order. The encryptor stays `Open` meanwhile (it
    /// claims the next batches; it is finished only once this is empty).
    free_jobs: VecDeque<FreeJob>,
    out: BytesMut,
    /// Batches sealed on the pool (tests count them).
    pool_batches: u64,
}

impl std::fmt::Debug for SealEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealEngine")
            .field("header", &self.header)
            .field("parallelism", &self.parallelism)
            .field("batch_running", &self.batch_running())
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// Frames the slots gather before sealing: a batch when parallelism applies to one, else as
/// many as fit in [`CHUNK`] (at least one).
fn slot_frames(parallelism: &Parallelism, frame_length: usize) -> usize {
    let batch = parallelism.batch_frames(frame_length);
    if batch > 1 && parallelism.applies(batch.saturating_mul(frame_length)) {
        batch
    } else {
        (CHUNK / frame_length.saturating_add(32)).max(1)
    }
}

impl SealEngine {
    /// An engine over `encryptor`, whose header goes out first. `spawn`: batches run on the
    /// pool while the caller goes on (adapters that can wait for them).
    pub(crate) fn new(mut encryptor: Encryptor, parallelism: Parallelism, spawn: bool) -> Self {
        let mut out = BytesMut::new();
        encryptor.write_header(&mut out);
        let header = encryptor.header().clone();
        let f = header.frame_length() as usize;
        Self {
            slots: FrameSlots::new(f, slot_frames(&parallelism, f)),
            sealer: Sealer::Open(encryptor),
            header,
            frame_length: f,
            parallelism,
            spawn,
            free_jobs: VecDeque::new(),
            out,
            pool_batches: 0,
        }
    }

    /// Changes the parallelism; only before any plaintext came in (the adapters' builders).
    pub(crate) fn set_parallelism(&mut self, parallelism: Parallelism) {
        if self.slots.is_empty() && !self.batch_running() {
            let f = self.frame_length;
            self.slots = FrameSlots::new(f, slot_frames(&parallelism, f));
            self.parallelism = parallelism;
        }
    }

    pub(crate) fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// True once the final frame (and footer) is in [`out`](Self::out).
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.sealer, Sealer::Finished)
    }

    /// True while a batch is on the pool.
    pub(crate) fn batch_running(&self) -> bool {
        matches!(self.sealer, Sealer::Sealing { .. }) || !self.free_jobs.is_empty()
    }

    /// True when full slots may be sealed now: no batch of a signing suite is on the pool, and
    /// fewer than [`MAX_FREE_JOBS`] of an unsigned one.
    fn can_seal(&self) -> bool {
        !matches!(self.sealer, Sealer::Sealing { .. }) && self.free_jobs.len() < MAX_FREE_JOBS
    }

    /// Batches sealed on the pool so far.
    #[cfg(test)]
    pub(crate) fn pool_batches(&self) -> u64 {
        self.pool_batches
    }

    /// Sealed message bytes, in order, for the adapter to write out (and advance).
    pub(crate) fn out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Room for more plaintext before the slots must be sealed.
    pub(crate) fn room(&self) -> usize {
        (self.slots.capacity() - self.slots.whole()) * self.frame_length
    }

    /// Fails when `n` more bytes of plaintext, beyond what the slots hold, would exceed the
    /// declared plaintext length, or when no more may come.
    fn check_room(&self, n: usize) -> Result<()> {
        let budget = match &self.sealer {
            Sealer::Open(encryptor) => encryptor.budget(),
            Sealer::Sealing { budget, .. } => *budget,
            Sealer::Finished => return Err(Error::misuse("write after the end of the message")),
            Sealer::Failed => return Err(Error::misuse("encryption already failed")),
        };
        budget.check_room(self.slots.plain_len(), n)
    }

    /// Takes plaintext from `data`: as much as the slots hold (never 0 for non-empty `data`
    /// when `Ready`). `Pending` only while full slots wait for a batch on the pool.
    pub(crate) fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<Result<usize>> {
        if self.is_finished() {
            return Poll::Ready(Err(Error::misuse("write after the end of the message")));
        }
        if self.batch_running() {
            match self.poll_job(cx) {
                Poll::Ready(r) => r?,
                Poll::Pending if self.slots.is_full() && !self.can_seal() => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.slots.is_full() {
            self.seal_gathered()?;
        }
        self.check_room(data.len())?;
        let n = self.slots.gather(data);
        if self.slots.is_full() && self.can_seal() {
            self.seal_gathered()?;
        }
        Poll::Ready(Ok(n))
    }

    /// Seals every complete frame gathered so far and waits for the pool, so that
    /// [`out`](Self::out) holds every complete frame of the plaintext taken. The incomplete
    /// last frame stays.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            ready!(self.poll_job(cx))?;
            if self.slots.whole() == 0 {
                return Poll::Ready(Ok(()));
            }
            self.seal_gathered()?;
        }
    }

    /// Seals the rest, then writes the final frame and, for signing suites, the footer to
    /// [`out`](Self::out). Idempotent.
    pub(crate) fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.poll_flush(cx))?;
        if !self.is_finished() {
            self.finish_message()?;
        }
        Poll::Ready(Ok(()))
    }

    /// The synchronous form of the above, for the codec (whose batches never go to the pool
    /// unattended): takes all of `data`.
    pub(crate) fn write_now(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.slots.is_full() {
                self.seal_gathered()?;
            }
            self.check_room(data.len())?;
            let n = self.slots.gather(data);
            data = &data[n..];
        }
        if self.slots.is_full() {
            self.seal_gathered()?;
        }
        Ok(())
    }

    /// The synchronous form of [`poll_flush`](Self::poll_flush), for the codec.
    pub(crate) fn flush_now(&mut self) -> Result<()> {
        if self.batch_running() {
            return Err(Error::misuse("a batch is still on the pool"));
        }
        while self.slots.whole() > 0 {
            self.seal_gathered()?;
        }
        Ok(())
    }

    /// The synchronous form of [`poll_finish`](Self::poll_finish), for the codec.
    pub(crate) fn finish_now(&mut self) -> Result<()> {
        self.flush_now()?;
        self.finish_message()
    }

    /// The incomplete last frame becomes the final frame; the footer follows.
    fn finish_message(&mut self) -> Result<()> {
        if !self.free_jobs.is_empty() {
            return Err(Error::misuse("batches are still on the pool"));
        }
        let mut encryptor = match std::mem::replace(&mut self.sealer, Sealer::Failed) {
            Sealer::Open(encryptor) => encryptor,
            other => {
                self.sealer = other;
                return Err(Error::misuse("the message is already finished"));
            }
        };
        let last = self.slots.take_partial();
        encryptor.update(&last, &mut self.out)?;
        encryptor.finish(&mut self.out)?;
        self.sealer = Sealer::Finished;
        Ok(())
    }

    /// Waits for the batches on the pool, if any; their frames then follow what `out` holds,
    /// in order. `Pending` while one is still there (the frames of those before it are out).
    fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while let Some(job) = self.free_jobs.front_mut() {
            let done = ready!(Pin::new(job).poll(cx));
            self.free_jobs.pop_front();
            match done.and_then(|(frames, outcome)| outcome.map(|()| frames)) {
                Ok(frames) => self.emit(frames),
                Err(e) => {
                    // The frames after these cannot follow them: the message is lost.
                    self.free_jobs.clear();
                    self.sealer = Sealer::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        let Sealer::Sealing { job, .. } = &mut self.sealer else {
            return Poll::Ready(Ok(()));
        };
        let done = ready!(Pin::new(job).poll(cx));
        self.sealer = Sealer::Failed;
        let (sealed, frames, outcome) = done?;
        self.sealer = Sealer::Open(sealed.finish());
        outcome?;
        self.emit(frames);
        Poll::Ready(Ok(()))
    }

    /// Appends sealed frames to `out`, recycling whichever buffer is left over.
    fn emit(&mut self, frames: BytesMut) {
        if self.out.is_empty() {
            let spare = std::mem::replace(&mut self.out, frames);
            self.slots.recycle(spare);
        } else {
            self.out.extend_from_slice(&frames);
            self.slots.recycle(frames);
        }
    }

    /// Seals the complete frames gathered (only when [`can_seal`](Self::can_seal)): on the
    /// pool when that applies and this engine may wait for it, else here.
    fn seal_gathered(&mut self) -> Result<()> {
        let count = self.slots.whole();
        if count == 0 {
            return Ok(());
        }
        let encryptor = match std::mem::replace(&mut self.sealer, Sealer::Failed) {
            Sealer::Open(encryptor) => encryptor,
            other => {
                self.sealer = other;
                return Err(Error::misuse("no encryptor to seal frames with"));
            }
        };
        let f = self.frame_length;
        // Fewer than `count` only at the limit of 2^32 − 1 frames (the declared plaintext
        // length was checked as the plaintext came in).
        let mut sealing = match encryptor.claim_frames(count * f, count) {
            Ok(sealing) if sealing.run.jobs.count == count => sealing,
            Ok(sealing) => {
                self.sealer = Sealer::Open(sealing.finish());
                return Err(FormatError::TooManyFrames.into());
            }
            Err(encryptor) => {
                self.sealer = Sealer::Open(encryptor);
                return Err(FormatError::TooManyFrames.into());
            }
        };
        let mut frames = self.slots.take_whole(count);
        let par = self.parallelism;
        let pooled = par.applies(sealing.run.jobs.plain_total());
        if pooled {
            self.pool_batches += 1;
        }
        if pooled && self.spawn && sealing.run.signer.is_none() {
            // No hash to feed in order: once claimed, the frames need only the key schedule
            // and their sequence numbers, so the encryptor stays to claim the next batch.
            let mut run = SealRun {
                jobs: sealing.run.jobs.slice(0, count),
                signer: None,
            };
            self.sealer = Sealer::Open(sealing.finish());
            let job = parallel::spawn(move || {
                let outcome = parallel::seal(&mut run, None, &mut frames, &par);
                (frames, outcome)
            });
            self.free_jobs.push_back(job);
            return Ok(());
        }
        if pooled && self.spawn {
            let budget = sealing.budget();
            let job = parallel::spawn(move || {
                let outcome = parallel::seal(&mut sealing.run, None, &mut frames, &par);
                (sealing, frames, outcome)
            });
            self.sealer = Sealer::Sealing { job, budget };
            return Ok(());
        }
        let outcome = parallel::seal(&mut sealing.run, None, &mut frames, &par);
        self.sealer = Sealer::Open(sealing.finish());
        outcome?;
        self.emit(frames);
        Ok(())
    }
}
