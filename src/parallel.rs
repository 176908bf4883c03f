//! Frames on every core: sealing and opening batches of frames in parallel, with the signature
//! hash as its own sequential stage beside them.
//!
//! # What runs where
//!
//! A regular frame's IV and AAD depend only on the message ID and its sequence number, so the
//! state machines in [`crate::proto`] hand out *runs* of consecutive frames (one shared key
//! schedule, a first sequence number, a count; see `proto::frames`) and take them back when
//! done. They never start a thread. This module runs those jobs on **rayon**'s work-stealing
//! pool (rayon's global pool: as many threads as CPUs, or `RAYON_NUM_THREADS`):
//!
//! * **One-shot** [`Client::encrypt`](crate::Client::encrypt) /
//!   [`decrypt`](crate::Client::decrypt) work on the caller's borrowed input, which cannot move
//!   to another thread without a copy. They hand one batch at a time to rayon as a scoped job
//!   (the calling task waits for it, for about `4 × batch_bytes ÷ (cores × AES speed)`, i.e.
//!   less than the same bytes take without parallelism) and yield to the executor between
//!   batches.
//!   Without parallelism a one-shot call keeps the executor thread for the whole message; with
//!   it, for one batch at most.
//! * **Streaming adapters** gather whatever plaintext or ciphertext their writes, reads or
//!   items bring into batches of whole frames (`proto::frames::FrameSlots` on the encrypting
//!   side; the frames as received on the decrypting side), so `tokio::io::copy`'s 8 KiB writes
//!   batch as well as one large write, for any frame length: a batch is
//!   [`Parallelism::batch_bytes`] rounded up to whole frames. [`EncryptingReader`](crate::io::EncryptingReader),
//!   [`EncryptingWriter`](crate::io::EncryptingWriter), [`encrypt_stream`](crate::io::encrypt_stream),
//!   [`DecryptingReader`](crate::io::DecryptingReader),
//!   [`DecryptingWriter`](crate::io::DecryptingWriter) and [`decrypt_stream`](crate::io::decrypt_stream)
//!   own their buffers, so they move a batch to the pool with `rayon::spawn` and await its
//!   result (a tokio oneshot channel) while they gather the next one: the executor thread is
//!   never blocked. Readers and streams take input ahead only while their source has it ready
//!   and only for a batch that will go to the pool; a flush (or a source that is not ready)
//!   seals or opens what is there. The tokio-util codec cannot wait for a batch: its encoder
//!   seals the frames an item brings (a batch or more on the pool, as a scoped job like the
//!   one-shot calls), and its decoder gathers a batch from `FramedRead`'s buffer while the
//!   message cannot end yet and opens it as a scoped job.
//!
//! Do not block a rayon worker thread on a streaming adapter's future (for example
//! `futures::executor::block_on` inside a parallel iterator): the batch it waits for needs a
//! free worker.
//!
//! rayon rather than tokio's blocking pool because the work is CPU-bound and fine-grained
//! (tens of microseconds per frame): rayon keeps one thread per core and splits a batch across
//! them by work stealing, where `spawn_blocking` would start up to 512 threads and needs a
//! tokio runtime (the one-shot calls work under any executor).
//!
//! # The signature hash
//!
//! For signed suites every byte of the message after the header goes through SHA-384 in order,
//! so the hash cannot be split. It runs as its own stage beside the AES work: a batch is cut
//! into sub-batches; while one thread hashes sub-batch *k* (sealed already, on encryption) or
//! *k + 1* (not yet opened, on decryption), the other threads seal or open the next one. A
//! signed message then goes at about the speed of SHA-384 on one core.
//!
//! # Memory and order
//!
//! A streaming batch is [`Parallelism::batch_bytes`] of plaintext rounded up to whole frames
//! (default 1 MiB; a one-shot call's batches are sixteen times that); the streaming adapters
//! hold up to about three batches at a time (one being gathered or read ahead, one on the pool,
//! one being written or handed out; when decrypting an unsigned message, two on the pool), within the bound of 2 frames + 8 MiB
//! (`benches/memory.rs` measures it). Output is written at each
//! frame's own place, so order is kept, and decrypted plaintext of a batch is released only
//! after every tag in it verified (and the decryptor took the batch back). The final frame is
//! never part of a batch: it, the footer and the signed-message release rules stay on the
//! ordinary sequential path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use rayon::prelude::*;

use crate::crypto::{Signer, Verifier};
use crate::error::{Error, Result};
use crate::proto::frames::{FrameJobs, OpenRun, SealRun};

/// The default [`Parallelism::batch_bytes`]: plaintext per streaming batch when not configured: enough frames for every core (16 tasks of
/// 64 KiB), small enough that a streaming adapter (which holds about two batches) stays within
/// the streaming bound of 2 frames + 8 MiB, so a service with many concurrent streams does not
/// pay megabytes per stream for parallelism it may not get (its cores are busy with the other
/// streams). Larger batches amortize the pool's wake-ups better; raise it for a few large
/// streams.
pub const DEFAULT_BATCH_BYTES: usize = 1 << 20;
/// The default [`Parallelism::min_bytes`]: below this much plaintext a message (or a streaming batch) is processed on one thread: the
/// hand-off to the pool (waking workers, their spinning, laying a batch out) costs about what
/// it saves. Measured with `benches/compare` (`esdk-compare threshold`, 0x0478 and 0x0578 in
/// 4 KiB frames, aws-lc): from 1 MiB on, both suites' busiest thread needs 0.5–0.8× the
/// one-thread time; below, unsigned messages gain nothing and burn up to twice the CPU.
pub const DEFAULT_MIN_BYTES: usize = 1 << 20;
/// A one-shot call's batch is this many streaming batches (16 MiB by default): its memory is
/// the whole message anyway, and each batch costs a wake-up of the pool's threads, which
/// `esdk-compare` measured as the difference between 1.2× and 1.9× the one-thread speed for
/// 64 MiB of 0x0478 (4 MiB against 16 MiB batches, aws-lc). The calling task keeps its thread
/// for one batch, about 4 ms at most.
const ONE_SHOT_BATCHES: usize = 16;
/// Smallest piece of work handed to one thread.
const MIN_TASK_BYTES: usize = 64 << 10;

/// How large messages use several cores. See the [module docs](self).
///
/// The default uses every thread of rayon's global pool for messages (and streaming batches)
/// of at least 1 MiB, in batches of 1 MiB (streaming) or 16 MiB (one-shot). [`Parallelism::off`] processes every frame on the
/// calling thread.
///
/// ```
/// use esdk::{Client, parallel::Parallelism};
/// let client = Client::builder()
///     .parallelism(Parallelism::default().threads(2).batch_bytes(1 << 20))
///     .build();
/// # let _ = client;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    threads: usize,
    min_bytes: usize,
    batch_bytes: usize,
}

impl Default for Parallelism {
    fn default() -> Self {
        Self {
            threads: 0,
            min_bytes: DEFAULT_MIN_BYTES,
            batch_bytes: DEFAULT_BATCH_BYTES,
        }
    }
}

impl Parallelism {
    /// Everything on the calling thread, frame by frame.
    pub const fn off() -> Self {
        Self {
            threads: 1,
            min_bytes: DEFAULT_MIN_BYTES,
            batch_bytes: DEFAULT_BATCH_BYTES,
        }
    }

    /// At most `n` threads seal or open a message's frames at once, besides the signature hash
    /// stage (`0`, the default: every thread of rayon's global pool; `1`: off). The work runs on
    /// rayon's global pool, whose size `RAYON_NUM_THREADS` sets.
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Messages, and streaming batches, with less plaintext than this stay on one thread.
    #[must_use]
    pub fn min_bytes(mut self, n: usize) -> Self {
        self.min_bytes = n;
        self
    }

    /// Plaintext per batch, rounded up to whole frames (at least one frame is always taken).
    #[must_use]
    pub fn batch_bytes(mut self, n: usize) -> Self {
        self.batch_bytes = n.max(1);
        self
    }

    /// How many threads would work: the cap, or rayon's pool size.
    fn effective_threads(&self) -> usize {
        match self.threads {
            0 => rayon::current_num_threads(),
            n => n,
        }
    }

    /// True when `len` plaintext bytes are worth spreading over threads.
    pub(crate) fn applies(&self, len: usize) -> bool {
        self.effective_threads() > 1 && len >= self.min_bytes
    }

    /// Frames per batch for frames of `frame_length` bytes.
    pub(crate) fn batch_frames(&self, frame_length: usize) -> usize {
        // Rounded up: a batch of any frame length holds at least `batch_bytes`, so that it is
        // worth the pool whenever a batch of `batch_bytes` is.
        self.batch_bytes.div_ceil(frame_length.max(1)).max(1)
    }

    /// Frames per batch of a one-shot call: [`ONE_SHOT_BATCHES`] streaming batches.
    pub(crate) fn one_shot_batch_frames(&self, frame_length: usize) -> usize {
        self.batch_frames(frame_length)
            .saturating_mul(ONE_SHOT_BATCHES)
    }

    /// Frames per rayon task: at least [`MIN_TASK_BYTES`]; with an explicit cap, few enough
    /// tasks that no more than the cap run at once.
    fn frames_per_task(&self, jobs: &FrameJobs) -> usize {
        let min = MIN_TASK_BYTES.div_ceil(jobs.cipher.frame_length().max(1));
        // A cap below the pool's size bounds the tasks; otherwise several per thread, so that
        // a thread that shares its core (with the adapter's task, or anything else) takes
        // fewer of them instead of holding the whole batch back.
        let pool = rayon::current_num_threads();
        let tasks = match self.threads {
            n if n == 0 || n >= pool => pool * 4,
            n => n,
        };
        min.max(jobs.count.div_ceil(tasks.max(1))).max(1)
    }
}

/// One-shot outputs at least this large are allocated zeroed and written by the worker
/// threads. Allocations this large come straight from the OS as untouched zero pages (glibc
/// maps anything above 32 MiB, its largest dynamic mmap threshold), so zeroing costs nothing and
/// the page faults of the fresh buffer, the largest cost of a large message on one core, are
/// spread over the threads. Smaller outputs may come from reused heap memory, where zeroing
/// would be a full extra pass on the calling thread; they are laid out by the calling thread
/// (the one copy the API needs, into uninitialized capacity) and sealed or opened in place by
/// the workers.
pub(crate) const FRESH_PAGES_BYTES: usize = 32 << 20;

/// Sub-batches per batch for the hash pipeline.
const HASH_STAGES: usize = 8;

/// The first error of a run by sequence number, whatever thread found it.
fn first_error(results: Vec<(u32, Result<()>)>) -> Result<()> {
    results
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .min_by_key(|(seq, _)| *seq)
        .map_or(Ok(()), |(_, r)| r)
}

fn seal_range(jobs: &FrameJobs, src: Option<&[u8]>, dst: &mut [u8], per_task: usize) -> Result<()> {
    let (w, f) = (jobs.cipher.wire_len(), jobs.cipher.frame_length());
    let results = dst
        .par_chunks_mut(w)
        .with_min_len(per_task)
        .enumerate()
        .map(|(i, frame)| {
            let seq = jobs.seq(i);
            let plain = src.map(|s| &s[i * f..(i + 1) * f]);
            (seq, jobs.cipher.seal_frame(seq, plain, frame))
        })
        .collect();
    first_error(results)
}

fn open_range(jobs: &FrameJobs, buf: &mut [u8], per_task: usize) -> Result<()> {
    let w = jobs.cipher.wire_len();
    let results = buf
        .par_chunks_mut(w)
        .with_min_len(per_task)
        .enumerate()
        .map(|(i, frame)| {
            let seq = jobs.seq(i);
            (seq, jobs.cipher.open_frame(seq, frame))
        })
        .collect();
    first_error(results)
}

fn open_range_to(
    jobs: &FrameJobs,
    src: &[u8],
    dst: &mut [u8],
    copied: bool,
    per_task: usize,
) -> Result<()> {
    let (w, f) = (jobs.cipher.wire_len(), jobs.cipher.frame_length());
    let results = dst
        .par_chunks_mut(f)
        .with_min_len(per_task)
        .enumerate()
        .map(|(i, out)| {
            let seq = jobs.seq(i);
            (
                seq,
                jobs.cipher
                    .open_frame_to(seq, &src[i * w..(i + 1) * w], out, copied),
            )
        })
        .collect();
    first_error(results)
}

/// Seals a run on the calling thread (no pool).
fn seal_here(jobs: &FrameJobs, src: Option<&[u8]>, dst: &mut [u8]) -> Result<()> {
    let (w, f) = (jobs.cipher.wire_len(), jobs.cipher.frame_length());
    for (i, frame) in dst.chunks_mut(w).enumerate() {
        let plain = src.map(|s| &s[i * f..(i + 1) * f]);
        jobs.cipher.seal_frame(jobs.seq(i), plain, frame)?;
    }
    Ok(())
}

/// Opens a run in place on the calling thread (no pool).
fn open_here(jobs: &FrameJobs, buf: &mut [u8]) -> Result<()> {
    for (i, frame) in buf.chunks_mut(jobs.cipher.wire_len()).enumerate() {
        jobs.cipher.open_frame(jobs.seq(i), frame)?;
    }
    Ok(())
}

/// Frames per hash-pipeline stage.
fn stage_frames(jobs: &FrameJobs) -> usize {
    jobs.count.div_ceil(HASH_STAGES).max(1)
}

/// Seals a run into `dst` (`wire_total()` bytes), the plaintext copied from `src`
/// (`plain_total()` bytes) or, when `None`, already in place in each frame slot. Feeds the
/// sealed bytes to the run's signer as the next stage.
pub(crate) fn seal(
    run: &mut SealRun,
    src: Option<&[u8]>,
    dst: &mut [u8],
    par: &Parallelism,
) -> Result<()> {
    let jobs = &run.jobs;
    if dst.len() != jobs.wire_total() || src.is_some_and(|s| s.len() != jobs.plain_total()) {
        return Err(Error::misuse("batch buffers of the wrong size"));
    }
    if !par.applies(jobs.plain_total()) {
        // Too little for the pool: on this thread, frame by frame, then the hash.
        seal_here(jobs, src, dst)?;
        if let Some(signer) = run.signer.as_deref_mut() {
            signer.update(dst);
        }
        return Ok(());
    }
    let per_task = par.frames_per_task(jobs);
    let Some(signer) = run.signer.as_deref_mut() else {
        return seal_range(jobs, src, dst, per_task);
    };
    // The whole pipeline runs on one worker (`scope` moves it into the pool), so that the hash
    // stage stays on that worker while the others seal.
    rayon::scope(|_| seal_pipelined(jobs, signer, src, dst, per_task))
}

fn seal_pipelined(
    jobs: &FrameJobs,
    signer: &mut dyn Signer,
    src: Option<&[u8]>,
    dst: &mut [u8],
    per_task: usize,
) -> Result<()> {
    let (w, f) = (jobs.cipher.wire_len(), jobs.cipher.frame_length());
    let stage = stage_frames(jobs);
    let mut sealed: Option<&[u8]> = None;
    for (k, out) in dst.chunks_mut(stage * w).enumerate() {
        let n = out.len() / w;
        let part = jobs.slice(k * stage, n);
        let plain = src.map(|s| &s[k * stage * f..(k * stage + n) * f]);
        let hashed = sealed.take();
        let ((), r) = rayon::join(
            || hash_signer(signer, hashed),
            || seal_range(&part, plain, out, per_task),
        );
        r?;
        sealed = Some(out);
    }
    hash_signer(signer, sealed);
    Ok(())
}

fn hash_signer(signer: &mut dyn Signer, bytes: Option<&[u8]>) {
    if let Some(b) = bytes {
        signer.update(b);
    }
}

fn hash_verifier(verifier: &mut dyn Verifier, bytes: Option<&[u8]>) {
    if let Some(b) = bytes {
        verifier.update(b);
    }
}

/// Opens a run held in `buf` (`wire_total()` bytes, the frames as received) in place, feeding
/// each piece to the run's verifier before it is opened. Afterwards frame `i`'s plaintext is at
/// `i × wire_len + 16`, `frame_length` bytes long.
pub(crate) fn open_in_place(run: &mut OpenRun, buf: &mut [u8], par: &Parallelism) -> Result<()> {
    let jobs = &run.jobs;
    if buf.len() != jobs.wire_total() {
        return Err(Error::misuse("batch buffer of the wrong size"));
    }
    if !par.applies(jobs.plain_total()) {
        // Too little for the pool: the hash of the frames as received, then each frame.
        if let Some(verifier) = run.verifier.as_deref_mut() {
            verifier.update(buf);
        }
        return open_here(jobs, buf);
    }
    let per_task = par.frames_per_task(jobs);
    let Some(verifier) = run.verifier.as_deref_mut() else {
        return open_range(jobs, buf, per_task);
    };
    rayon::scope(|_| open_pipelined(jobs, verifier, buf, per_task))
}

fn open_pipelined(
    jobs: &FrameJobs,
    verifier: &mut dyn Verifier,
    buf: &mut [u8],
    per_task: usize,
) -> Result<()> {
    let w = jobs.cipher.wire_len();
    let stage = stage_frames(jobs);
    let mut stages: Vec<&mut [u8]> = buf.chunks_mut(stage * w).collect();
    hash_verifier(verifier, stages.first().map(|s| &**s));
    for k in 0..stages.len() {
        let (done, rest) = stages.split_at_mut(k + 1);
        let current = &mut *done[k];
        let next = rest.first().map(|s| &**s);
        let part = jobs.slice(k * stage, current.len() / w);
        let ((), r) = rayon::join(
            || hash_verifier(verifier, next),
            || open_range(&part, current, per_task),
        );
        r?;
    }
    Ok(())
}

/// Opens a run read from `src` (`wire_total()` bytes) into `dst` (`plain_total()` bytes; the
/// frames' content already copied there when `copied`), hashing `src` for the run's verifier
/// at the same time (the input is not changed, so the hash needs no ordering against the
/// opening).
pub(crate) fn open_to(
    run: &mut OpenRun,
    src: &[u8],
    dst: &mut [u8],
    copied: bool,
    par: &Parallelism,
) -> Result<()> {
    let jobs = &run.jobs;
    if src.len() != jobs.wire_total() || dst.len() != jobs.plain_total() {
        return Err(Error::misuse("batch buffers of the wrong size"));
    }
    let per_task = par.frames_per_task(jobs);
    match run.verifier.as_deref_mut() {
        None => open_range_to(jobs, src, dst, copied, per_task),
        Some(verifier) => {
            let ((), r) = rayon::join(
                || verifier.update(src),
                || open_range_to(jobs, src, dst, copied, per_task),
            );
            r
        }
    }
}

/// Runs `job` on rayon's pool; the returned future resolves to its result without blocking
/// the executor.
pub(crate) fn spawn<T, F>(job: F) -> Pending<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // The receiver may be gone (the adapter was dropped): the result is then dropped too.
        let _ = tx.send(job());
    });
    Pending(rx)
}

/// A batch running on rayon's pool (see [`spawn`]).
#[derive(Debug)]
pub(crate) struct Pending<T>(tokio::sync::oneshot::Receiver<T>);

impl<T> Future for Pending<T> {
    type Output = Result<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.map_err(|_| Error::misuse("a batch job was lost (it panicked)")))
    }
}

/// Yields once to the executor (between the one-shot calls' batches).
pub(crate) async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false).await
}
