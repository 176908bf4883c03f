//! One-shot calls: [`Client::encrypt`], [`Client::decrypt`] and their owned forms, the calls
//! they return ([`EncryptCall`], [`DecryptCall`]), and the drivers that run them over the
//! sans-IO [`Encryptor`](crate::proto::Encryptor) and [`BodyDecryptor`](crate::proto::BodyDecryptor), in
//! batches of frames on every core for large messages (see [`crate::parallel`]). Policy,
//! configuration and the header phase live in [`crate::client`] (this module depends on it,
//! not the other way round); the frame slot layout and the runs of frames in `proto::frames`.

use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};

use crate::client::{Client, DecryptOutput, EncryptOptions, EncryptOutput, MaterialsSource};
use crate::context::EncryptionContext;
use crate::error::{Error, FormatError, Result};
use crate::format::FrameLength;
use crate::io::{DecryptOptions, Release};
use crate::parallel::{self, Parallelism};
use crate::proto::frames;
use crate::proto::{DecryptEvent, Encryptor};
use crate::suite::AlgorithmSuite;

impl Client {
    /// One-shot encryption of `plaintext`. Set options on the returned call, then `.await` it.
    ///
    /// ```
    /// # async fn demo() -> esdk::Result<()> {
    /// let keyring = esdk::RawAesKeyring::new("my-namespace", "my-key", &[7u8; 32])?;
    /// let client = esdk::Client::new();
    /// let out = client.encrypt(keyring, b"hello").encryption_context([("purpose", "demo")]).await?;
    /// # Ok(()) }
    /// ```
    pub fn encrypt<'a>(
        &self,
        source: impl Into<MaterialsSource>,
        plaintext: &'a [u8],
    ) -> EncryptCall<'a> {
        EncryptCall::new(EncryptJob {
            client: *self,
            source: source.into(),
            plaintext: Input::Borrowed(plaintext),
            options: EncryptOptions::new(),
        })
    }

    /// One-shot encryption of an owned `plaintext` (a `Vec<u8>`, `Bytes`, `String`…): the call
    /// borrows nothing, so it can be handed to `tokio::spawn` as it is.
    ///
    /// ```
    /// # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource) -> esdk::Result<()> {
    /// let task = tokio::spawn(client.encrypt_owned(keys, vec![1u8; 1000]).encryption_context([("k", "v")]));
    /// let message = task.await.expect("not cancelled")?;
    /// # Ok(()) }
    /// ```
    pub fn encrypt_owned(
        &self,
        source: impl Into<MaterialsSource>,
        plaintext: impl Into<Bytes>,
    ) -> EncryptCall<'static> {
        EncryptCall::new(EncryptJob {
            client: *self,
            source: source.into(),
            plaintext: Input::Owned(plaintext.into()),
            options: EncryptOptions::new(),
        })
    }

    /// One-shot decryption of an owned message: the call borrows nothing, so it can be handed
    /// to `tokio::spawn` as it is.
    pub fn decrypt_owned(
        &self,
        source: impl Into<MaterialsSource>,
        ciphertext: impl Into<Bytes>,
    ) -> DecryptCall<'static> {
        DecryptCall::new(DecryptJob {
            client: *self,
            source: source.into(),
            ciphertext: Input::Owned(ciphertext.into()),
            options: DecryptOptions::new(),
        })
    }

    /// One-shot decryption of a whole message. Set options on the returned call, then `.await`
    /// it. Nothing is returned unless every check passed.
    pub fn decrypt<'a>(
        &self,
        source: impl Into<MaterialsSource>,
        ciphertext: &'a [u8],
    ) -> DecryptCall<'a> {
        DecryptCall::new(DecryptJob {
            client: *self,
            source: source.into(),
            ciphertext: Input::Borrowed(ciphertext),
            options: DecryptOptions::new(),
        })
    }
}

/// Plaintext or ciphertext handed to a one-shot call: borrowed, or owned by the call.
enum Input<'a> {
    Borrowed(&'a [u8]),
    Owned(Bytes),
}

impl Input<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Borrowed(b) => b,
            Self::Owned(b) => b,
        }
    }
}

/// A one-shot call's future: set up until first polled, then running.
enum Call<'a, J, T> {
    Setup(J),
    Running(Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>),
    Done,
}

impl<'a, J, T> Call<'a, J, T> {
    fn job(&mut self) -> Option<&mut J> {
        match self {
            Self::Setup(j) => Some(j),
            _ => None,
        }
    }

    fn poll_with(
        &mut self,
        cx: &mut std::task::Context<'_>,
        start: impl FnOnce(J) -> Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>,
    ) -> std::task::Poll<Result<T>> {
        if let Self::Setup(_) = self {
            let Self::Setup(job) = std::mem::replace(self, Self::Done) else {
                unreachable!("checked above")
            };
            *self = Self::Running(start(job));
        }
        let Self::Running(fut) = self else {
            return std::task::Poll::Ready(Err(Error::misuse(
                "a one-shot call polled after it completed",
            )));
        };
        let out = std::task::ready!(fut.as_mut().poll(cx));
        *self = Self::Done;
        std::task::Poll::Ready(out)
    }
}

/// A one-shot encryption waiting for its options; `.await` it (it is a `Future`; the one from
/// [`Client::encrypt_owned`] is `'static` and can be spawned as it is).
#[must_use = "an encryption does nothing until awaited"]
pub struct EncryptCall<'a> {
    call: Call<'a, EncryptJob<'a>, EncryptOutput>,
}

struct EncryptJob<'a> {
    client: Client,
    source: MaterialsSource,
    plaintext: Input<'a>,
    options: EncryptOptions,
}

impl<'a> EncryptCall<'a> {
    fn new(job: EncryptJob<'a>) -> Self {
        Self {
            call: Call::Setup(job),
        }
    }

    /// Applies one of the options' own builder methods (so the call and the adapters cannot
    /// drift apart); a call already running ignores it.
    fn set(mut self, f: impl FnOnce(EncryptOptions) -> EncryptOptions) -> Self {
        if let Some(job) = self.call.job() {
            job.options = f(std::mem::take(&mut job.options));
        }
        self
    }

    /// The encryption context.
    pub fn encryption_context<K: Into<String>, V: Into<String>>(
        self,
        context: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.set(|o| o.encryption_context(context))
    }

    /// The algorithm suite (default: the client's, see [`ClientBuilder::algorithm_suite`](crate::ClientBuilder::algorithm_suite)).
    pub fn algorithm_suite(self, suite: AlgorithmSuite) -> Self {
        self.set(|o| o.algorithm_suite(suite))
    }

    /// The frame length (default: the client's, 4096 unless
    /// [`ClientBuilder::frame_length`](crate::ClientBuilder::frame_length) says otherwise).
    pub fn frame_length(self, frame_length: FrameLength) -> Self {
        self.set(|o| o.frame_length(frame_length))
    }

    /// All the options at once, as the streaming adapters take them (replacing any set
    /// before). The plaintext length is known here: a
    /// [`max_plaintext_length`](EncryptOptions::max_plaintext_length) below it fails the call.
    pub fn options(self, options: EncryptOptions) -> Self {
        self.set(|_| options)
    }
}

impl EncryptJob<'_> {
    async fn run(self) -> Result<EncryptOutput> {
        crate::oneshot::encrypt(
            &self.client,
            &self.source,
            self.plaintext.as_slice(),
            self.options,
        )
        .await
    }
}

impl<'a> Future for EncryptCall<'a> {
    type Output = Result<EncryptOutput>;
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.get_mut().call.poll_with(cx, |job| Box::pin(job.run()))
    }
}

/// A one-shot decryption waiting for its options; `.await` it (it is a `Future`; the one from
/// [`Client::decrypt_owned`] is `'static` and can be spawned as it is).
#[must_use = "a decryption does nothing until awaited"]
pub struct DecryptCall<'a> {
    call: Call<'a, DecryptJob<'a>, DecryptOutput>,
}

struct DecryptJob<'a> {
    client: Client,
    source: MaterialsSource,
    ciphertext: Input<'a>,
    options: DecryptOptions,
}

impl<'a> DecryptCall<'a> {
    fn new(job: DecryptJob<'a>) -> Self {
        Self {
            call: Call::Setup(job),
        }
    }

    /// Applies one of the options' own builder methods (so the call and the adapters cannot
    /// drift apart); a call already running ignores it.
    fn set(mut self, f: impl FnOnce(DecryptOptions) -> DecryptOptions) -> Self {
        if let Some(job) = self.call.job() {
            job.options = f(std::mem::take(&mut job.options));
        }
        self
    }

    /// The encryption context expected in the message: every pair must match the header's, and
    /// pairs the header does not store (required-context CMM) are supplied from here.
    pub fn encryption_context<K: Into<String>, V: Into<String>>(
        self,
        context: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.set(|o| o.encryption_context(context))
    }

    /// The release mode. A one-shot call releases nothing before the whole message has
    /// verified whatever the mode, so only [`Release::UnsignedOnly`] changes anything: it
    /// refuses signed messages right after the header.
    pub fn release(self, release: Release) -> Self {
        self.set(|o| o.release(release))
    }

    /// All the options at once, as the streaming adapters take them (replacing any set
    /// before).
    pub fn options(self, options: DecryptOptions) -> Self {
        self.set(|_| options)
    }
}

impl<'a> Future for DecryptCall<'a> {
    type Output = Result<DecryptOutput>;
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.get_mut().call.poll_with(cx, |job| Box::pin(job.run()))
    }
}

impl DecryptJob<'_> {
    async fn run(self) -> Result<DecryptOutput> {
        crate::oneshot::decrypt(
            &self.client,
            &self.source,
            self.ciphertext.as_slice(),
            self.options.encryption_context.as_ref(),
            self.options.release,
        )
        .await
    }
}

/// One-shot encryption of `plaintext`: the header phase, then every frame, in batches on
/// every core when the client's [`Parallelism`] applies to the message.
pub(crate) async fn encrypt(
    client: &Client,
    source: &MaterialsSource,
    plaintext: &[u8],
    options: EncryptOptions,
) -> Result<EncryptOutput> {
    let mut options = options;
    let len = plaintext.len() as u64;
    options.max_plaintext_length = Some(options.max_plaintext_length.map_or(len, |n| n.min(len)));
    let mut encryptor = client.encryptor(source, &options).await?;
    let header = encryptor.header().clone();
    let par = *client.parallelism();
    let ciphertext = if par.applies(plaintext.len()) {
        encrypt_parallel(encryptor, plaintext, &par).await?
    } else {
        // One allocation for the whole message: the header, then room for every frame (a
        // frame adds at most 40 bytes: sequence number, final-frame marker and length, IV,
        // tag) and the footer (at most 2 + 104 bytes); it becomes the returned Vec without
        // a copy.
        let mut out = BytesMut::new();
        encryptor.write_header(&mut out);
        let frame_length = FrameLength::new(encryptor.header().frame_length())
            .ok_or_else(|| Error::misuse("zero frame length"))?;
        out.reserve(max_body_len(plaintext.len(), frame_length));
        encryptor.update(plaintext, &mut out)?;
        encryptor.finish(&mut out)?;
        Vec::from(out)
    };
    let mut encryption_context = header.encryption_context().clone();
    for (k, v) in options.encryption_context.iter() {
        encryption_context.insert(k, v);
    }
    Ok(EncryptOutput {
        ciphertext,
        header,
        encryption_context,
    })
}

/// Room for the body and footer of a message with `len` plaintext bytes: a frame adds at most
/// 40 bytes (sequence number, final-frame marker and length, IV, tag), the footer at most
/// 2 + 104.
fn max_body_len(len: usize, frame_length: FrameLength) -> usize {
    let frames = len / frame_length.get() as usize + 1;
    len + frames * 40 + 106
}

/// One-shot encryption in batches of frames on every core (see [`crate::parallel`]).
///
/// Large outputs are allocated zeroed (fresh pages from the OS, not yet touched) and each frame
/// is written at its place by the thread that seals it, so the page faults of the new buffer
/// are spread over the cores too; smaller ones are laid out by this thread and sealed in place
/// (see [`parallel::FRESH_PAGES_BYTES`]).
async fn encrypt_parallel(
    mut encryptor: Encryptor,
    plaintext: &[u8],
    par: &Parallelism,
) -> Result<Vec<u8>> {
    let mut head = BytesMut::new();
    encryptor.write_header(&mut head);
    let frame_length = FrameLength::new(encryptor.header().frame_length())
        .ok_or_else(|| Error::misuse("zero frame length"))?;
    let f = frame_length.get() as usize;
    let capacity = head.len() + max_body_len(plaintext.len(), frame_length);
    let fresh = capacity >= parallel::FRESH_PAGES_BYTES;
    let mut out = if fresh {
        vec![0u8; capacity]
    } else {
        Vec::with_capacity(capacity)
    };
    let mut len = head.len();
    if fresh {
        out[..len].copy_from_slice(&head);
    } else {
        out.extend_from_slice(&head);
    }
    let mut rest = plaintext;
    let batch = par.one_shot_batch_frames(f);
    loop {
        let mut sealing = match encryptor.claim_frames(rest.len(), batch) {
            Ok(sealing) => sealing,
            Err(unclaimed) => {
                encryptor = unclaimed;
                break;
            }
        };
        let (src, more) = rest.split_at(sealing.run.jobs.plain_total());
        let wire = sealing.run.jobs.wire_total();
        if fresh {
            parallel::seal(&mut sealing.run, Some(src), &mut out[len..len + wire], par)?;
        } else {
            frames::lay_out(src, f, &mut out);
            parallel::seal(&mut sealing.run, None, &mut out[len..len + wire], par)?;
        }
        encryptor = sealing.finish();
        len += wire;
        rest = more;
        parallel::yield_now().await;
    }
    let mut tail = BytesMut::new();
    encryptor.update(rest, &mut tail)?;
    encryptor.finish(&mut tail)?;
    if fresh {
        out[len..len + tail.len()].copy_from_slice(&tail);
        out.truncate(len + tail.len());
    } else {
        out.extend_from_slice(&tail);
    }
    Ok(out)
}

/// How much ciphertext one-shot decryption hands the decryptor at a time.
const DECRYPT_PIECE: usize = 256 * 1024;

/// Hands the decryptor the next piece of `rest`: a piece, or as much again as is buffered when
/// a large frame is still incomplete, so that buffering it costs linear time.
fn next_piece(input: &mut BytesMut, rest: &mut &[u8]) {
    let (piece, more) = rest.split_at(rest.len().min(DECRYPT_PIECE.max(input.len())));
    input.extend_from_slice(piece);
    *rest = more;
}

/// One-shot decryption of a whole message: nothing is returned unless every check passed.
pub(crate) async fn decrypt(
    client: &Client,
    source: &MaterialsSource,
    ciphertext: &[u8],
    reproduced: Option<&EncryptionContext>,
    release: Release,
) -> Result<DecryptOutput> {
    // Only `UnsignedOnly` changes what the header decoder accepts; a one-shot call releases
    // nothing before every check has passed whatever the mode.
    let mut decoder = client.header_decoder(release);
    let par = *client.parallelism();
    // The ciphertext goes to the decryptor a piece at a time through one small buffer, in
    // which frames are decrypted in place (in cache) before their plaintext is copied to
    // the output: one pass over the output, no second copy of the message in memory.
    // Large messages instead go in batches of frames straight from the ciphertext to their
    // place in the output, on every core (see `crate::parallel`). The output is allocated
    // zeroed and untouched (plaintext is never longer than the ciphertext) and cut to
    // length at the end.
    let mut rest = ciphertext;
    let mut input = BytesMut::with_capacity(DECRYPT_PIECE.min(rest.len()));
    let parsed = loop {
        if let Some(parsed) = decoder.decode(&mut input)? {
            break parsed;
        }
        if rest.is_empty() {
            return Err(FormatError::Truncated.into());
        }
        next_piece(&mut input, &mut rest);
    };
    let materials = client
        .decrypt_materials(source, parsed.header(), reproduced)
        .await?;
    // The body starts right after the header: what `input` holds is its first bytes, still
    // in `ciphertext`.
    let body_bytes = &ciphertext[parsed.header_len()..];
    let mut body = parsed.with_materials(&materials)?;
    let context = materials.encryption_context().clone();
    let mut batches = false;
    if par.applies(body_bytes.len()) {
        rest = body_bytes;
        input.clear();
        batches = true;
    }
    // Plaintext is never longer than the body (see `parallel::FRESH_PAGES_BYTES` for the
    // zeroed allocation).
    let mut plaintext = if batches && body_bytes.len() >= parallel::FRESH_PAGES_BYTES {
        vec![0u8; body_bytes.len()]
    } else {
        Vec::with_capacity(body_bytes.len())
    };
    // Bytes of `plaintext` written; `plaintext` is longer only when allocated zeroed.
    let mut filled = 0;
    loop {
        if batches && input.is_empty() {
            let frame_length = body.header().frame_length() as usize;
            match body.claim_frames(rest, par.one_shot_batch_frames(frame_length)) {
                Ok(mut out) => {
                    let jobs = &out.run.jobs;
                    let (src, more) = rest.split_at(jobs.wire_total());
                    let n = jobs.plain_total();
                    let copied = plaintext.len() == filled;
                    if copied {
                        // Laid out here (the one copy), opened in place by the workers.
                        frames::copy_contents(src, jobs.cipher.wire_len(), &mut plaintext);
                    }
                    let dst = &mut plaintext[filled..filled + n];
                    let outcome = parallel::open_to(&mut out.run, src, dst, copied, &par);
                    body = out.finish(outcome)?;
                    filled += n;
                    rest = more;
                    parallel::yield_now().await;
                    continue;
                }
                Err(unclaimed) => {
                    body = unclaimed;
                    batches = false;
                }
            }
        }
        let event = body.decode(&mut input).map_err(|e| match e {
            // Count the trailing bytes not handed over yet too.
            Error::Format(FormatError::TrailingData(n)) => {
                FormatError::TrailingData(n + rest.len()).into()
            }
            e => e,
        })?;
        match event {
            Some(DecryptEvent::Plaintext(chunk)) => {
                if plaintext.len() == filled {
                    plaintext.extend_from_slice(&chunk);
                } else {
                    plaintext[filled..filled + chunk.len()].copy_from_slice(&chunk);
                }
                filled += chunk.len();
            }
            Some(DecryptEvent::Done) => break,
            None if rest.is_empty() => return Err(FormatError::Truncated.into()),
            None => next_piece(&mut input, &mut rest),
        }
    }
    if !rest.is_empty() {
        return Err(FormatError::TrailingData(input.len() + rest.len()).into());
    }
    body.finish(&input)?;
    let header = body.header().clone();
    plaintext.truncate(filled);
    Ok(DecryptOutput {
        plaintext,
        header,
        encryption_context: context,
    })
}
