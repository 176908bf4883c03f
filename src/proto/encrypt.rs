//! The encrypt state machine.
//!
//! ```text
//!  Client::encryptor() / Encryptor::new(materials): keys derived, header written and
//!  authenticated (not sent yet)
//!
//!   HeaderOut::Pending ──write_header() (update() and finish() do it first)──► Written
//!
//!                 update()*: whole frames sealed as their plaintext completes
//!                 ┌────┐
//!                 ▼    │          claim_frames()
//!   ┌──────────────────┴─┐ ─────────────────────────► ┌──────────┐
//!   │ Encryptor (frames) │                            │ SealOut  │ a run of regular frames
//!   │  next_seq, pending │ ◄───────────────────────── │          │ sealed elsewhere; it owns
//!   └────────────────────┘    SealOut::finish()       └──────────┘ the encryptor meanwhile
//!            │
//!            │ finish(self): final frame (the pending plaintext) ‖ footer (signed suites)
//!            ▼
//!    the message is complete; the encryptor is gone
//! ```
//!
//! Runs of frames (see [`crate::proto::frames`]) seal exactly the frames
//! [`update`](Encryptor::update) would, so the output is the same byte for byte.

use bytes::{BufMut, BytesMut};

use crate::crypto::{CryptoProvider, Signer};
use crate::error::{FormatError, KeyringError, LimitError, Result};
use crate::format::body::{self, BodyKind};
use crate::format::{ContentType, FrameLength, MessageHeader};
use crate::materials::EncryptionMaterials;
use crate::proto::frames::{FrameCipher, FrameJobs, SealRun};
use crate::proto::keys;
use crate::suite::{IV_LEN, MessageFormatVersion, TAG_LEN};

/// Encrypts one message: plaintext in, message bytes out, no I/O.
///
/// Frames are written whole, each as soon as its plaintext is complete. A plaintext whose
/// length is a non-zero multiple of the frame length therefore ends with an **empty final
/// frame** after its last regular frame, the form every ESDK has always written. The
/// specification also allows a *full* final frame there, but deployed readers reject it: the
/// Python ESDK 2.x and 3.x lines (3.3.1 is what the official `aws-encryption-sdk-cli` installs)
/// accept only a final frame shorter than the frame length. Decryption accepts both forms.
///
/// The caller **must** call [`Encryptor::finish`], which consumes the encryptor; without the
/// final frame (and, for signing suites, the footer) the output is not a message.
pub struct Encryptor {
    header: MessageHeader,
    header_out: HeaderOut,
    frames: Frames,
    /// The declared plaintext length, when there is one.
    max_plaintext: Option<u64>,
}

/// Whether the header went out.
enum HeaderOut {
    /// Its bytes (body and authentication), not written yet.
    Pending(Vec<u8>),
    Written,
}

/// Where the body stands: the key, the signature hash, the next frame.
struct Frames {
    cipher: FrameCipher,
    /// The signature hash of a signing suite. While a run is out it is the run's, and the
    /// encryptor is the run's too ([`SealOut`]).
    signer: Option<Box<dyn Signer>>,
    next_seq: u32,
    /// Plaintext of the incomplete next frame.
    pending: Vec<u8>,
    /// Plaintext taken so far (counted against the declared length).
    taken: u64,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("suite", &self.header.suite)
            .field("frame_length", &self.header.frame_length)
            .field("next_seq", &self.frames.next_seq)
            .finish_non_exhaustive()
    }
}

/// The declared plaintext length and the plaintext taken so far: what an engine checks new
/// plaintext against while the encryptor is away with a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    max: Option<u64>,
    taken: u64,
}

impl Budget {
    /// Fails as [`Encryptor::update`] would if `n` more plaintext bytes, beyond `held` bytes
    /// a driver holds for later, came in: the declared plaintext length is checked when the
    /// plaintext arrives, not when it is sealed.
    pub(crate) fn check_room(&self, held: usize, n: usize) -> Result<()> {
        if let Some(max) = self.max
            && self
                .taken
                .saturating_add(held as u64)
                .saturating_add(n as u64)
                > max
        {
            return Err(LimitError::PlaintextLengthExceeded(max).into());
        }
        Ok(())
    }
}

impl Encryptor {
    /// Starts a message: picks a message ID, derives the keys, writes and authenticates the
    /// header (stored pairs only; required pairs enter the header tag's AAD).
    ///
    /// # Errors
    /// When the materials lack a data key or an encrypted data key, or the signing key does not
    /// match the suite.
    pub fn new(
        materials: &EncryptionMaterials,
        frame_length: FrameLength,
        provider: &CryptoProvider,
    ) -> Result<Self> {
        let suite = materials.algorithm_suite();
        let data_key = materials
            .data_key()
            .ok_or(KeyringError::InvalidMaterials("no plaintext data key"))?;
        if materials.encrypted_data_keys().is_empty() {
            return Err(KeyringError::InvalidMaterials("no encrypted data key").into());
        }
        if suite.is_signing() != materials.signing_key().is_some() {
            return Err(KeyringError::InvalidMaterials(
                "signing key does not match the algorithm suite",
            )
            .into());
        }
        let version = suite.message_format_version();
        let mut message_id = vec![0u8; version.message_id_len()];
        provider.random.fill(&mut message_id)?;
        let keys = keys::derive(provider, suite, data_key, &message_id)?;
        let required = materials.required_encryption_context_keys();
        let header = MessageHeader {
            suite,
            message_id,
            encryption_context: materials.encryption_context().without(required),
            encrypted_data_keys: materials.encrypted_data_keys().to_vec(),
            content_type: ContentType::Framed,
            frame_length: frame_length.get(),
            commitment: keys.commitment,
            raw: None,
        };
        let mut bytes = header.encode()?;
        let mut aad = bytes.clone();
        aad.extend_from_slice(
            &materials
                .encryption_context()
                .subset(required)
                .serialize()?,
        );
        let iv = [0u8; IV_LEN];
        let tag = keys.content.seal_in_place(&iv, &aad, &mut [])?;
        if version == MessageFormatVersion::V1 {
            bytes.extend_from_slice(&iv);
        }
        bytes.extend_from_slice(&tag);
        let mut signer = match materials.signing_key() {
            Some(k) => Some(provider.ecdsa.signer(k)?),
            None => None,
        };
        if let Some(s) = signer.as_mut() {
            s.update(&bytes);
        }
        let cipher = FrameCipher::new(
            std::sync::Arc::from(keys.content),
            &header.message_id,
            frame_length.get(),
        );
        Ok(Self {
            header,
            header_out: HeaderOut::Pending(bytes),
            frames: Frames {
                cipher,
                signer,
                next_seq: 1,
                pending: Vec::new(),
                taken: 0,
            },
            max_plaintext: None,
        })
    }

    /// Fails every call that would take the plaintext past `n` bytes in all, with
    /// [`LimitError::PlaintextLengthExceeded`] (the spec's "max plaintext length": a CMM, a
    /// caching one above all, handed out the materials for that much).
    /// [`Client::encryptor`](crate::Client::encryptor) sets it from
    /// [`EncryptOptions::max_plaintext_length`](crate::EncryptOptions::max_plaintext_length).
    pub fn with_max_plaintext_length(mut self, n: u64) -> Self {
        self.max_plaintext = Some(n);
        self
    }

    /// The declared length and the plaintext taken so far.
    pub(crate) fn budget(&self) -> Budget {
        Budget {
            max: self.max_plaintext,
            taken: self.frames.taken,
        }
    }

    /// Counts `n` more bytes of plaintext against the declared length.
    fn take_plaintext(&mut self, n: usize) -> Result<()> {
        self.budget().check_room(0, n)?;
        self.frames.taken = self.frames.taken.saturating_add(n as u64);
        Ok(())
    }

    /// Plaintext bytes the declared length still allows.
    fn plaintext_room(&self) -> u64 {
        self.max_plaintext
            .map_or(u64::MAX, |m| m.saturating_sub(self.frames.taken))
    }

    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// Writes the header (header body and authentication) if it has not been written yet.
    /// [`update`](Self::update) and [`finish`](Self::finish) do this themselves.
    pub fn write_header(&mut self, out: &mut BytesMut) {
        if let HeaderOut::Pending(bytes) =
            std::mem::replace(&mut self.header_out, HeaderOut::Written)
        {
            out.extend_from_slice(&bytes);
        }
    }

    /// Encrypts `plaintext`, appending every frame that is now complete to `out`.
    ///
    /// # Errors
    /// When the plaintext would exceed the declared length, or the message 2^32 − 1 frames.
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut BytesMut) -> Result<()> {
        self.take_plaintext(plaintext.len())?;
        self.write_header(out);
        let frames = &mut self.frames;
        let f = frames.cipher.frame_length();
        while !plaintext.is_empty() {
            if frames.pending.is_empty() {
                // Whole frames straight from the input.
                while plaintext.len() >= f {
                    let (frame, rest) = plaintext.split_at(f);
                    frames.seal_regular(frame, out)?;
                    plaintext = rest;
                }
            }
            let take = (f - frames.pending.len()).min(plaintext.len());
            frames.pending.extend_from_slice(&plaintext[..take]);
            plaintext = &plaintext[take..];
            if frames.pending.len() == f {
                let frame = std::mem::take(&mut frames.pending);
                frames.seal_regular(&frame, out)?;
                frames.pending = frame;
                frames.pending.clear();
            }
        }
        Ok(())
    }

    /// Test support: like [`update`](Self::update), but a plaintext that ends on a frame
    /// boundary keeps its last frame back, so that [`finish`](Self::finish) writes it as a
    /// *full* final frame: the other form the specification allows, which other writers may
    /// send and every decrypt path must accept.
    #[cfg(test)]
    pub(crate) fn update_full_final(&mut self, plaintext: &[u8], out: &mut BytesMut) -> Result<()> {
        let f = self.frames.cipher.frame_length();
        if plaintext.is_empty()
            || !self.frames.pending.is_empty()
            || !plaintext.len().is_multiple_of(f)
        {
            return self.update(plaintext, out);
        }
        let (head, last) = plaintext.split_at(plaintext.len() - f);
        self.update(head, out)?;
        self.take_plaintext(f)?;
        self.frames.pending.extend_from_slice(last);
        Ok(())
    }

    /// Writes the final frame and, for signing suites, the footer. The message is then
    /// complete, and the encryptor gone.
    ///
    /// # Errors
    /// When signing fails.
    pub fn finish(mut self, out: &mut BytesMut) -> Result<()> {
        self.write_header(out);
        let Frames {
            cipher,
            signer,
            next_seq: seq,
            pending,
            ..
        } = self.frames;
        let start = out.len();
        out.reserve(body::FINAL_HEAD_LEN + pending.len() + TAG_LEN);
        body::put_final_head(out, seq, pending.len() as u32);
        cipher.seal_block(BodyKind::FinalFrame, seq, &pending, out)?;
        if let Some(mut s) = signer {
            s.update(&out[start..]);
            let sig = s.sign()?;
            out.put_u16(sig.len() as u16);
            out.extend_from_slice(&sig);
        }
        Ok(())
    }

    /// How many whole regular frames [`claim_frames`](Self::claim_frames) would take from
    /// `available` plaintext bytes (at most `max`): every whole frame, as
    /// [`update`](Self::update) would seal them, so the output is the same. None before the
    /// header is written or while plaintext of an incomplete frame is pending.
    pub(crate) fn claimable(&self, available: usize, max: usize) -> usize {
        if matches!(self.header_out, HeaderOut::Pending(_)) || !self.frames.pending.is_empty() {
            return 0;
        }
        let f = self.frames.cipher.frame_length();
        // The final frame's sequence number must fit too, so regular frames stop at 2^32 − 2.
        let room = (u32::MAX - self.frames.next_seq) as usize;
        // Never more than the declared plaintext length allows: `update` reports the excess.
        let declared = usize::try_from(self.plaintext_room() / f as u64).unwrap_or(usize::MAX);
        (available / f).min(max).min(room).min(declared)
    }

    /// Claims the next regular frames for sealing elsewhere (see [`crate::proto::frames`]):
    /// as many as [`claimable`](Self::claimable) says; `Err(self)` when that is zero. The
    /// caller seals the first `count × frame_length` bytes of the plaintext it holds. The run
    /// takes the encryptor with it; [`SealOut::finish`] gives it back.
    // `Err` gives the encryptor back whole, as `Result::Err` conventionally does; boxing it
    // would cost an allocation per attempt.
    #[allow(clippy::result_large_err)]
    pub(crate) fn claim_frames(mut self, available: usize, max: usize) -> Result<SealOut, Self> {
        let count = self.claimable(available, max);
        if count == 0 {
            return Err(self);
        }
        let frames = &mut self.frames;
        let jobs = FrameJobs {
            cipher: frames.cipher.clone(),
            first_seq: frames.next_seq,
            count,
        };
        frames.next_seq += count as u32;
        frames.taken += (count * frames.cipher.frame_length()) as u64;
        Ok(SealOut {
            run: SealRun {
                jobs,
                signer: frames.signer.take(),
            },
            encryptor: self,
        })
    }
}

/// A run of regular frames claimed with [`Encryptor::claim_frames`], holding the encryptor
/// until it comes back through [`finish`](Self::finish).
///
/// The driver must seal every frame (`run.jobs.cipher.seal_frame(run.jobs.seq(i), ..)`) into
/// consecutive wire slots, feed the sealed bytes of the whole run, in order, to `run.signer`
/// (when there is one) and emit them (the crate's drivers use `crate::parallel`).
pub(crate) struct SealOut {
    pub(crate) run: SealRun,
    /// Its signer is the run's meanwhile.
    encryptor: Encryptor,
}

impl SealOut {
    /// The declared length and the plaintext taken, the run's included.
    pub(crate) fn budget(&self) -> Budget {
        self.encryptor.budget()
    }

    /// The encryptor back, once the run's frames are sealed, emitted and hashed.
    pub(crate) fn finish(self) -> Encryptor {
        let mut encryptor = self.encryptor;
        encryptor.frames.signer = self.run.signer;
        encryptor
    }
}

impl Frames {
    fn seal_regular(&mut self, frame: &[u8], out: &mut BytesMut) -> Result<()> {
        let seq = self.next_seq;
        // The final frame's sequence number must fit too, so regular frames stop at 2^32 − 2.
        if seq == u32::MAX {
            return Err(FormatError::TooManyFrames.into());
        }
        let start = out.len();
        out.reserve(body::REGULAR_HEAD_LEN + frame.len() + TAG_LEN);
        body::put_regular_head(out, seq);
        self.cipher.seal_block(BodyKind::Frame, seq, frame, out)?;
        if let Some(s) = self.signer.as_mut() {
            s.update(&out[start..]);
        }
        self.next_seq = seq + 1;
        Ok(())
    }
}
